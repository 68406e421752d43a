//! What callers hand the writer and the state they share with its thread: latest
//! states coalesced per check, bounded queues of events and readings, operator
//! actions with their reply, counters and the last failure for health.
//!
//! Plain data behind one mutex; no SQL, no waiting.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use bergamot_config::status::Status;

use super::{NewDowntime, StoreError};
use crate::engine::CheckIx;
use crate::engine::state::CheckState;

/// Events kept while the writer is behind (or the disk is failing); more are dropped
/// and counted. Each is a few hundred bytes.
pub(crate) const EVENT_CAPACITY: usize = 16_384;
/// Perfdata results kept likewise: about ten seconds at 1,700 results a second.
pub(crate) const READING_CAPACITY: usize = 16_384;
/// A batch this big is written without waiting for the window to end.
pub(crate) const BIG_BATCH: usize = 4_096;
/// How often a retention pass over the readings starts.
pub(crate) const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Maps a check index to its path (set by the engine's owner for the plan loaded),
/// so that a cover is kept by the covering check's path.
pub(crate) type PathOf = Arc<dyn Fn(CheckIx) -> String + Send + Sync>;

/// The latest state of one check, or its removal.
// Unboxed: removals are rare, and a box would cost an allocation per check per batch.
#[allow(clippy::large_enum_variant)]
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
pub(crate) struct Queue {
    pub(crate) states: HashMap<String, Pending>,
    /// Reused: the writer hands back the map it drained.
    pub(crate) spare: HashMap<String, Pending>,
    pub(crate) events: VecDeque<EventRow>,
    pub(crate) readings: VecDeque<ReadingRow>,
    pub(crate) ops: Vec<(Op, Reply)>,
    /// Output of the last `Result` event, for the state change, recovery… after it.
    pub(crate) last_result_path: String,
    pub(crate) last_result_output: String,
    /// When the oldest uncommitted write arrived.
    pub(crate) oldest: Option<Instant>,
    pub(crate) stop: bool,
    pub(crate) stopped: bool,
}

impl Queue {
    pub(crate) fn has_data(&self) -> bool {
        !self.states.is_empty() || !self.events.is_empty() || !self.readings.is_empty()
    }
}

#[derive(Debug, Default)]
pub(crate) struct Failure {
    pub(crate) failing: bool,
    pub(crate) kind: &'static str,
    pub(crate) last_error: Option<String>,
    pub(crate) since: Option<String>,
}

pub(crate) struct Shared {
    pub(crate) queue: Mutex<Queue>,
    pub(crate) wake: Condvar,
    pub(crate) batches: AtomicU64,
    pub(crate) failed_batches: AtomicU64,
    pub(crate) rows_written: AtomicU64,
    pub(crate) last_batch_ms: AtomicU64,
    pub(crate) dropped_events: AtomicU64,
    pub(crate) dropped_readings: AtomicU64,
    pub(crate) failure: Mutex<Failure>,
    pub(crate) path_of: RwLock<Option<PathOf>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("batches", &self.batches).finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding the lock leaves consistent data (pushes are atomic).
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn failure(&self) -> MutexGuard<'_, Failure> {
        self.failure.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn cover_path(&self, ix: CheckIx) -> String {
        let f = self.path_of.read().unwrap_or_else(|p| p.into_inner()).clone();
        match f {
            Some(f) => f(ix),
            None => format!("#{}", ix.0),
        }
    }
}
