//! The store's one writer: what callers hand it (coalesced states, bounded queues
//! of events and readings, operator actions with a reply), and the thread that
//! commits them a batch at a time.
//!
//! Not SQL: [`super::batch`] turns a batch into statements. Callers never wait for
//! the disk: a push takes a mutex for a few hundred nanoseconds; only the durable
//! methods are async, and they resolve once their transaction committed or failed.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bergamot_config::status::Status;
use jiff::Timestamp;

use super::batch::{Batch, BatchWriter};
use super::{NewDowntime, Restored, Retention, StoreConfig, StoreError, StoreHealth, StoreReader, ms, schema};
use crate::engine::CheckIx;
use crate::engine::events::Event;
use crate::engine::state::CheckState;

/// Events kept while the writer is behind (or the disk is failing); more are dropped
/// and counted. Each is a few hundred bytes.
const EVENT_CAPACITY: usize = 16_384;
/// Perfdata results kept likewise: about ten seconds at 1,700 results a second.
const READING_CAPACITY: usize = 16_384;
/// A batch this big is written without waiting for the window to end.
const BIG_BATCH: usize = 4_096;
/// How often a retention pass over the readings starts.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Maps a check index to its path (set by the engine's owner for the plan loaded),
/// so that a cover is kept by the covering check's path.
type PathOf = Arc<dyn Fn(CheckIx) -> String + Send + Sync>;

/// The latest state of one check, or its removal.
#[derive(Debug)]
pub(crate) enum Pending {
    Save { at: i64, state: CheckState, cover_path: Option<String> },
    Removed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventKind {
    StateChange,
    Alert,
    Renotify,
    Recovery,
    FlappingStarted,
    FlappingStopped,
}

impl EventKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EventKind::StateChange => "state-change",
            EventKind::Alert => "alert",
            EventKind::Renotify => "renotify",
            EventKind::Recovery => "recovery",
            EventKind::FlappingStarted => "flapping-started",
            EventKind::FlappingStopped => "flapping-stopped",
        }
    }
}

/// An engine event as the store keeps it.
#[derive(Debug)]
pub(crate) struct EventRow {
    pub path: String,
    pub at: i64,
    pub kind: EventKind,
    pub status: Option<Status>,
    pub hard: Option<bool>,
    pub attempt: Option<u32>,
    pub output: String,
    pub alert_id: Option<u64>,
    pub notify: bool,
    /// Covering check's path and alert, for alerts.
    pub cover: Option<(String, Option<u64>)>,
}

/// The perfdata text of one result.
#[derive(Debug)]
pub(crate) struct ReadingRow {
    pub path: String,
    pub at: i64,
    pub perfdata: String,
}

/// A durable write.
#[derive(Debug)]
pub(crate) enum Op {
    Acknowledge {
        path: String,
        alert_id: Option<u64>,
        at: i64,
        by: String,
        comment: String,
    },
    Comment {
        path: String,
        at: i64,
        by: String,
        text: String,
    },
    AddDowntime(NewDowntime),
    CancelDowntime {
        id: u64,
        at: i64,
        by: String,
    },
    ConfigApplied {
        version: String,
        at: i64,
        summary: String,
    },
    /// Commit what is pending.
    Flush,
    /// A whole retention pass with `now` as the present.
    Prune {
        now: i64,
    },
}

pub(crate) type Reply = smol::channel::Sender<Result<u64, StoreError>>;

#[derive(Debug, Default)]
struct Queue {
    states: HashMap<String, Pending>,
    /// Reused: the writer hands back the map it drained.
    spare: HashMap<String, Pending>,
    events: VecDeque<EventRow>,
    readings: VecDeque<ReadingRow>,
    ops: Vec<(Op, Reply)>,
    /// Output of the last `Result` event, for the state change, recovery… after it.
    last_result_path: String,
    last_result_output: String,
    /// When the oldest uncommitted write arrived.
    oldest: Option<Instant>,
    stop: bool,
    stopped: bool,
}

impl Queue {
    fn has_data(&self) -> bool {
        !self.states.is_empty() || !self.events.is_empty() || !self.readings.is_empty()
    }
}

#[derive(Debug, Default)]
struct Failure {
    failing: bool,
    kind: &'static str,
    last_error: Option<String>,
    since: Option<String>,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    batches: AtomicU64,
    failed_batches: AtomicU64,
    rows_written: AtomicU64,
    last_batch_ms: AtomicU64,
    dropped_events: AtomicU64,
    dropped_readings: AtomicU64,
    failure: Mutex<Failure>,
    path_of: RwLock<Option<PathOf>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("batches", &self.batches).finish_non_exhaustive()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding the lock leaves consistent data (pushes are atomic).
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn failure(&self) -> MutexGuard<'_, Failure> {
        self.failure.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn cover_path(&self, ix: CheckIx) -> String {
        let f = self.path_of.read().unwrap_or_else(|p| p.into_inner()).clone();
        match f {
            Some(f) => f(ix),
            None => format!("#{}", ix.0),
        }
    }
}

/// The store: owns the writer thread and its connection.
#[derive(Debug)]
pub struct Store {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<Result<(), StoreError>>>,
    path: PathBuf,
    retention: Retention,
}

/// The writing side, for the engine's owner and the API: cheap to clone.
#[derive(Debug, Clone)]
pub struct StoreWriter {
    shared: Arc<Shared>,
}

impl Store {
    /// Opens (creates, migrates) the database, reads back what was saved and starts
    /// the writer thread.
    pub fn open(config: StoreConfig) -> Result<(Store, Restored), StoreError> {
        let conn = schema::open_writer(&config.path)?;
        let restored = super::restore::load(&conn)?;
        let writer = BatchWriter::new(conn, config.retention)?;
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            batches: AtomicU64::new(0),
            failed_batches: AtomicU64::new(0),
            rows_written: AtomicU64::new(0),
            last_batch_ms: AtomicU64::new(0),
            dropped_events: AtomicU64::new(0),
            dropped_readings: AtomicU64::new(0),
            failure: Mutex::new(Failure::default()),
            path_of: RwLock::new(None),
        });
        let thread_shared = shared.clone();
        let window = config.batch_window;
        let thread = std::thread::Builder::new()
            .name("bergamot-store".into())
            .spawn(move || run(thread_shared, writer, window))
            .map_err(|e| StoreError::Thread(e.to_string()))?;
        let store = Store { shared, thread: Some(thread), path: config.path, retention: config.retention };
        Ok((store, restored))
    }

    pub fn writer(&self) -> StoreWriter {
        StoreWriter { shared: self.shared.clone() }
    }

    /// A new read-only connection.
    pub fn reader(&self) -> Result<StoreReader, StoreError> {
        Ok(StoreReader::new(schema::open_reader(&self.path)?, self.retention, self.path.clone()))
    }

    pub fn health(&self) -> StoreHealth {
        let s = &self.shared;
        let (queue_depth, pending_checks, lag_ms) = {
            let q = s.lock();
            let lag = q.oldest.map_or(0, |o| o.elapsed().as_millis() as u64);
            (q.events.len() + q.readings.len() + q.ops.len(), q.states.len(), lag)
        };
        let f = s.failure();
        StoreHealth {
            queue_depth,
            pending_checks,
            batches: s.batches.load(Ordering::Relaxed),
            failed_batches: s.failed_batches.load(Ordering::Relaxed),
            rows_written: s.rows_written.load(Ordering::Relaxed),
            last_batch_ms: s.last_batch_ms.load(Ordering::Relaxed),
            lag_ms,
            dropped_events: s.dropped_events.load(Ordering::Relaxed),
            dropped_readings: s.dropped_readings.load(Ordering::Relaxed),
            failing: f.failing,
            last_error: f.last_error.clone(),
            since: f.since.clone(),
        }
    }

    /// Commits everything pending, then stops the thread. The error is the final
    /// commit's, if it failed (what was pending is then lost, and was logged).
    pub fn close(mut self) -> Result<(), StoreError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), StoreError> {
        let Some(thread) = self.thread.take() else { return Ok(()) };
        self.shared.lock().stop = true;
        self.shared.wake.notify_one();
        thread.join().unwrap_or(Err(StoreError::Thread("the writer thread panicked".into())))
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::error!("store: closing: {e}");
        }
    }
}

impl StoreWriter {
    /// How to name a covering check (its path) from its index, for the plan now
    /// loaded; set it at start-up and after each reload. Without it a cover is kept
    /// as `#<index>`, which does not survive a reload.
    pub fn set_path_of(&self, path_of: impl Fn(CheckIx) -> String + Send + Sync + 'static) {
        *self.shared.path_of.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(path_of));
    }

    /// The latest state of a check; replaces the one still pending for it.
    pub fn state(&self, path: &str, at: Timestamp, state: &CheckState) {
        let cover_path = state.covered_by.map(|c| self.shared.cover_path(c.check));
        let at = ms(at);
        let mut q = self.shared.lock();
        let wake = self.mark_pending(&mut q);
        match q.states.get_mut(path) {
            Some(Pending::Save { at: a, state: s, cover_path: c }) => {
                *a = at;
                s.clone_from(state);
                *c = cover_path;
            }
            Some(p @ Pending::Removed) => *p = Pending::Save { at, state: state.clone(), cover_path },
            None => {
                q.states.insert(path.to_owned(), Pending::Save { at, state: state.clone(), cover_path });
            }
        }
        drop(q);
        if wake {
            self.shared.wake.notify_one();
        }
    }

    /// Checks removed by a reload: their current-state rows go (history stays).
    pub fn removed(&self, paths: &[String]) {
        let mut q = self.shared.lock();
        let wake = self.mark_pending(&mut q);
        for p in paths {
            q.states.insert(p.clone(), Pending::Removed);
        }
        drop(q);
        if wake {
            self.shared.wake.notify_one();
        }
    }

    /// An engine event of a check. `Result` events only lend their output to the
    /// state change or recovery that follows; `Skipped` is not history, and
    /// `Acknowledged` is written by [`StoreWriter::acknowledge`], durably.
    pub fn event(&self, path: &str, event: &Event) {
        let mut q = self.shared.lock();
        let row = match event {
            Event::Result { output, .. } => {
                q.last_result_path.clear();
                q.last_result_path.push_str(path);
                q.last_result_output.clear();
                q.last_result_output.push_str(output);
                return;
            }
            Event::Skipped { .. } | Event::Acknowledged { .. } => return,
            Event::StateChange { at, to, hard, attempt, .. } => EventRow {
                status: Some(*to),
                hard: Some(*hard),
                attempt: Some(*attempt),
                output: last_output(&q, path),
                ..EventRow::new(path, *at, EventKind::StateChange)
            },
            Event::Alert { at, alert_id, status, output, covered_by, notify, .. } => {
                let cover = covered_by.map(|c| (self.shared.cover_path(c.check), c.alert_id));
                EventRow {
                    status: Some(*status),
                    hard: Some(true),
                    output: output.clone(),
                    alert_id: Some(*alert_id),
                    notify: *notify,
                    cover,
                    ..EventRow::new(path, *at, EventKind::Alert)
                }
            }
            Event::Renotify { at, alert_id, status, output, notify, .. } => EventRow {
                status: Some(*status),
                hard: Some(true),
                output: output.clone(),
                alert_id: Some(*alert_id),
                notify: *notify,
                ..EventRow::new(path, *at, EventKind::Renotify)
            },
            Event::Recovery { at, alert_id, status, notify, .. } => EventRow {
                status: Some(*status),
                hard: Some(true),
                output: last_output(&q, path),
                alert_id: Some(*alert_id),
                notify: *notify,
                ..EventRow::new(path, *at, EventKind::Recovery)
            },
            Event::FlappingStarted { at, .. } => EventRow::new(path, *at, EventKind::FlappingStarted),
            Event::FlappingStopped { at, .. } => EventRow::new(path, *at, EventKind::FlappingStopped),
        };
        if q.events.len() >= EVENT_CAPACITY {
            drop(q);
            if self.shared.dropped_events.fetch_add(1, Ordering::Relaxed) == 0 {
                tracing::error!("store: the event queue is full (the disk is slow or failing); dropping events");
            }
            return;
        }
        let wake = self.mark_pending(&mut q) || q.events.len() + q.readings.len() == BIG_BATCH;
        q.events.push_back(row);
        drop(q);
        if wake {
            self.shared.wake.notify_one();
        }
    }

    /// The perfdata text of one result, kept as readings.
    pub fn readings(&self, path: &str, at: Timestamp, perfdata: &str) {
        if perfdata.trim().is_empty() {
            return;
        }
        let mut q = self.shared.lock();
        if q.readings.len() >= READING_CAPACITY {
            drop(q);
            if self.shared.dropped_readings.fetch_add(1, Ordering::Relaxed) == 0 {
                tracing::error!("store: the readings queue is full (the disk is slow or failing); dropping readings");
            }
            return;
        }
        let wake = self.mark_pending(&mut q) || q.events.len() + q.readings.len() == BIG_BATCH;
        q.readings.push_back(ReadingRow { path: path.to_owned(), at: ms(at), perfdata: perfdata.to_owned() });
        drop(q);
        if wake {
            self.shared.wake.notify_one();
        }
    }

    /// Records an acknowledgement the engine accepted: a history line, the alert's
    /// acknowledgement, and the check's saved state. Resolves once committed.
    pub async fn acknowledge(
        &self,
        path: &str,
        alert_id: Option<u64>,
        at: Timestamp,
        by: &str,
        comment: &str,
    ) -> Result<(), StoreError> {
        let op = Op::Acknowledge { path: path.into(), alert_id, at: ms(at), by: by.into(), comment: comment.into() };
        self.durable(op).await.map(|_| ())
    }

    /// Adds a comment to a check; returns its id once committed.
    pub async fn comment(&self, path: &str, at: Timestamp, by: &str, text: &str) -> Result<u64, StoreError> {
        self.durable(Op::Comment { path: path.into(), at: ms(at), by: by.into(), text: text.into() }).await
    }

    /// Adds a downtime; returns its id once committed.
    pub async fn add_downtime(&self, d: NewDowntime) -> Result<u64, StoreError> {
        self.durable(Op::AddDowntime(d)).await
    }

    /// Cancels a downtime; false when there is none by that id or it was cancelled.
    pub async fn cancel_downtime(&self, id: u64, at: Timestamp, by: &str) -> Result<bool, StoreError> {
        self.durable(Op::CancelDowntime { id, at: ms(at), by: by.into() }).await.map(|n| n > 0)
    }

    /// Records the configuration version now applied, with a JSON summary.
    pub async fn config_applied(&self, version: &str, at: Timestamp, summary_json: &str) -> Result<(), StoreError> {
        let op = Op::ConfigApplied { version: version.into(), at: ms(at), summary: summary_json.into() };
        self.durable(op).await.map(|_| ())
    }

    /// Commits everything pending now; resolves after the commit.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.durable(Op::Flush).await.map(|_| ())
    }

    /// Runs a whole retention pass over the readings with `now` as the present
    /// (the writer also runs one every minute by itself, in small steps, with the
    /// newest reading's time as the present). Returns the rows deleted.
    pub async fn prune(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.durable(Op::Prune { now: ms(now) }).await
    }

    async fn durable(&self, op: Op) -> Result<u64, StoreError> {
        let (tx, rx) = smol::channel::bounded(1);
        {
            let mut q = self.shared.lock();
            if q.stop || q.stopped {
                return Err(StoreError::Closed);
            }
            q.ops.push((op, tx));
        }
        self.shared.wake.notify_one();
        rx.recv().await.unwrap_or(Err(StoreError::Closed))
    }

    /// Notes the first pending write; true when the writer must learn of it.
    fn mark_pending(&self, q: &mut Queue) -> bool {
        if q.oldest.is_some() || q.has_data() {
            return false;
        }
        q.oldest = Some(Instant::now());
        true
    }
}

impl EventRow {
    fn new(path: &str, at: Timestamp, kind: EventKind) -> EventRow {
        EventRow {
            path: path.to_owned(),
            at: ms(at),
            kind,
            status: None,
            hard: None,
            attempt: None,
            output: String::new(),
            alert_id: None,
            notify: false,
            cover: None,
        }
    }
}

fn last_output(q: &Queue, path: &str) -> String {
    if q.last_result_path == path { q.last_result_output.clone() } else { String::new() }
}

/// The writer thread: waits for a reason to write, takes everything pending,
/// writes it in one transaction, answers durable writes, and on failure keeps the
/// data for the next try.
fn run(shared: Arc<Shared>, mut writer: BatchWriter, window: Duration) -> Result<(), StoreError> {
    let mut batch = Batch::default();
    let mut next_sweep = Instant::now() + SWEEP_EVERY;
    // A retention pass in progress goes one chunk per batch window.
    let mut sweeping = false;
    let mut next_chunk = Instant::now();
    let mut retry_at: Option<Instant> = None;
    loop {
        let mut q = shared.lock();
        loop {
            if q.stop || !q.ops.is_empty() {
                break;
            }
            let now = Instant::now();
            let may_retry = retry_at.is_none_or(|r| now >= r);
            let due = q.oldest.map(|o| o + window);
            let big = q.events.len() + q.readings.len() >= BIG_BATCH;
            let sweep_due = if sweeping { now >= next_chunk } else { now >= next_sweep };
            if may_retry && (big || due.is_some_and(|d| now >= d) || sweep_due) {
                break;
            }
            let mut until = if sweeping { next_chunk } else { next_sweep };
            if let Some(d) = due {
                until = until.min(d);
            }
            if let Some(r) = retry_at {
                until = until.max(r);
            }
            q = shared.wake.wait_timeout(q, until.saturating_duration_since(now)).map(|(g, _)| g).unwrap_or_else(|p| {
                let (g, _) = p.into_inner();
                g
            });
        }
        let stopping = q.stop;
        let oldest = q.oldest.take();
        let spare = std::mem::take(&mut q.spare);
        batch.states = std::mem::replace(&mut q.states, spare);
        batch.events.extend(q.events.drain(..));
        batch.readings.extend(q.readings.drain(..));
        batch.ops.append(&mut q.ops);
        drop(q);

        let now = Instant::now();
        if !stopping && !sweeping && now >= next_sweep {
            sweeping = true;
            next_sweep = now + SWEEP_EVERY;
        }
        let chunk = sweeping && !stopping && now >= next_chunk;
        if chunk {
            next_chunk = now + window;
        }
        let started = Instant::now();
        let result = writer.write(&mut batch, chunk);
        let took = started.elapsed();
        match result {
            Ok(outcome) => {
                if outcome.sweep_done {
                    sweeping = false;
                }
                shared.batches.fetch_add(1, Ordering::Relaxed);
                shared.rows_written.fetch_add(outcome.rows, Ordering::Relaxed);
                shared.last_batch_ms.store(took.as_millis() as u64, Ordering::Relaxed);
                for ((_, reply), r) in batch.ops.drain(..).zip(outcome.replies) {
                    let _ = reply.try_send(Ok(r));
                }
                batch.events.clear();
                batch.readings.clear();
                batch.states.clear();
                let mut q = shared.lock();
                if q.spare.capacity() < batch.states.capacity() {
                    q.spare = std::mem::take(&mut batch.states);
                }
                drop(q);
                retry_at = None;
                recovered(&shared);
            }
            Err(e) => {
                shared.failed_batches.fetch_add(1, Ordering::Relaxed);
                for (_, reply) in batch.ops.drain(..) {
                    let _ = reply.try_send(Err(e.clone()));
                }
                failed(&shared, &e);
                if stopping {
                    tracing::error!("store: stopping with writes not saved: {e}");
                    finish(&shared);
                    return Err(e);
                }
                requeue(&shared, &mut batch, oldest);
                retry_at = Some(Instant::now() + window);
            }
        }
        if stopping {
            finish(&shared);
            return Ok(());
        }
    }
}

/// Puts a failed batch back in front of what arrived since, within the bounds.
fn requeue(shared: &Shared, batch: &mut Batch, oldest: Option<Instant>) {
    let mut q = shared.lock();
    for (path, p) in batch.states.drain() {
        // A newer state (or removal) that arrived meanwhile wins.
        q.states.entry(path).or_insert(p);
    }
    for e in batch.events.drain(..).rev() {
        q.events.push_front(e);
    }
    for r in batch.readings.drain(..).rev() {
        q.readings.push_front(r);
    }
    let (mut de, mut dr) = (0, 0);
    while q.events.len() > EVENT_CAPACITY {
        q.events.pop_back();
        de += 1;
    }
    while q.readings.len() > READING_CAPACITY {
        q.readings.pop_back();
        dr += 1;
    }
    q.oldest = match (q.oldest, oldest) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    if !q.has_data() {
        q.oldest = None;
    }
    drop(q);
    shared.dropped_events.fetch_add(de, Ordering::Relaxed);
    shared.dropped_readings.fetch_add(dr, Ordering::Relaxed);
}

/// Logged once per run of failures of one kind; always in health.
fn failed(shared: &Shared, e: &StoreError) {
    let mut f = shared.failure();
    if !f.failing || f.kind != e.kind() {
        tracing::error!("store: cannot write the database, keeping pending writes and retrying: {e}");
        // Wall time for the operator, read on the writer thread (a driver), not in
        // any logic.
        f.since = Some(Timestamp::now().to_string());
    }
    f.failing = true;
    f.kind = e.kind();
    f.last_error = Some(e.to_string());
}

fn recovered(shared: &Shared) {
    let mut f = shared.failure();
    if f.failing {
        f.failing = false;
        tracing::warn!("store: writing again after: {}", f.last_error.as_deref().unwrap_or("an error"));
    }
}

/// Marks the thread gone and fails operator actions that raced with the stop.
fn finish(shared: &Shared) {
    let mut q = shared.lock();
    q.stopped = true;
    for (_, reply) in q.ops.drain(..) {
        let _ = reply.try_send(Err(StoreError::Closed));
    }
}
