//! The store's public face: [`Store`] opens the database and owns the writer
//! thread; [`StoreWriter`] is what the engine's owner and the API write through.
//!
//! Not SQL ([`super::batch`]) and not the thread's loop ([`super::thread`]). Callers
//! never wait for the disk: a push takes a mutex for well under a microsecond; only
//! the durable methods are async, and they resolve once their transaction
//! committed or failed.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Instant;

use jiff::Timestamp;

use super::batch::BatchWriter;
use super::queue::{
    BIG_BATCH, EVENT_CAPACITY, EventKind, EventRow, Failure, Op, Pending, Queue, READING_CAPACITY, ReadingRow, Shared,
};
use super::{NewDowntime, Restored, Retention, StoreConfig, StoreError, StoreHealth, StoreReader, ms, schema};
use crate::engine::CheckIx;
use crate::engine::events::Event;
use crate::engine::state::CheckState;

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
            .spawn(move || super::thread::run(thread_shared, writer, window))
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
