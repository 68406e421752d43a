//! The daemon's SQLite store: current state of every check (restored at start-up),
//! transition history, alerts with acknowledgements, comments, downtimes, perfdata
//! readings with rollups and retention, and the configuration version applied.
//!
//! The only module that knows SQL. One writer thread owns the write connection and
//! commits everything that arrived in a batch window (default 1 s) in one transaction
//! ([`writer`], [`batch`]); operator actions are committed at once and answered only
//! after the commit ([`StoreWriter::acknowledge`] …). Readers open their own read-only
//! connections ([`reader`]). Not a decision maker: it records what the engine decided
//! and gives it back after a restart ([`restore`]).
//!
//! Callers are never blocked: check states are coalesced per path while pending, so
//! their memory is bounded by the number of checks; events and readings wait in
//! bounded queues and what does not fit is counted in [`StoreHealth`]. When the disk
//! is full or read-only the writer logs it once, keeps what is pending, retries every
//! window and reports the error in [`StoreHealth`].

mod batch;
mod history;
mod queue;
mod reader;
mod restore;
mod rollup;
pub mod schema;
mod thread;
mod writer;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::engine::CheckIx;
use crate::engine::state::CheckState;

pub use reader::StoreReader;
pub use writer::{Store, StoreWriter};

/// Where the database lives and how it batches and keeps readings.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreConfig {
    /// `DATA/bergamot.db`; its directory must exist.
    pub path: PathBuf,
    /// The longest a non-durable write waits before it is committed: what a kill -9
    /// can lose.
    pub batch_window: Duration,
    pub retention: Retention,
}

impl StoreConfig {
    /// `DATA/bergamot.db`, 1 s batches, default retention.
    pub fn in_dir(data: &std::path::Path) -> StoreConfig {
        StoreConfig {
            path: data.join("bergamot.db"),
            batch_window: Duration::from_secs(1),
            retention: Retention::default(),
        }
    }
}

/// How long readings are kept at each resolution, and the record of what happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Every reading as it came.
    pub raw: Duration,
    /// 5-minute rollups (count, mean, min, max).
    pub five_minutes: Duration,
    /// Hourly rollups.
    pub hourly: Duration,
    /// History lines, closed alerts, comments and downtimes that ended.
    pub history: Duration,
}

impl Default for Retention {
    /// Raw for a day, 5-minute rollups for 30 days, hourly and history for a year.
    fn default() -> Self {
        Retention {
            raw: Duration::from_secs(86_400),
            five_minutes: Duration::from_secs(30 * 86_400),
            hourly: Duration::from_secs(365 * 86_400),
            history: Duration::from_secs(365 * 86_400),
        }
    }
}

/// What a previous run saved, for the engine's owner to start from.
#[derive(Debug, Clone, Default)]
pub struct Restored {
    /// The last saved state of every check still in the database, by check path.
    /// Timestamps have millisecond precision. A state's `covered_by.check` is the
    /// index the covering check had when saved: call [`Restored::resolve_covers`]
    /// with the new plan before using them.
    pub states: HashMap<String, CheckState>,
    /// The highest alert id ever stored (0 when none): `AlertIds::starting_after`.
    pub last_alert_id: u64,
    /// Downtimes not cancelled and not ended before the last saved state.
    pub downtimes: Vec<DowntimeRow>,
    /// The configuration version last applied.
    pub config_version: Option<String>,
    /// Its summary (JSON text, as given to [`StoreWriter::config_applied`]).
    pub last_reload: Option<String>,
    /// Check path → path of the check whose alert covers its open alert.
    pub cover_paths: HashMap<String, String>,
}

impl Restored {
    /// Rewrites each restored cover's check index for the plan now loaded (`ix_of`
    /// maps a path to its index); a cover whose check is gone is dropped, so that
    /// alert counts as uncovered (it is not re-notified for that).
    pub fn resolve_covers(&mut self, ix_of: impl Fn(&str) -> Option<CheckIx>) {
        for (path, state) in &mut self.states {
            if state.covered_by.is_none() {
                continue;
            }
            match self.cover_paths.get(path).and_then(|p| ix_of(p)) {
                Some(ix) => {
                    if let Some(c) = state.covered_by.as_mut() {
                        c.check = ix;
                    }
                }
                None => state.covered_by = None,
            }
        }
    }
}

/// An operator's downtime, as [`StoreWriter::add_downtime`] takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDowntime {
    pub path: String,
    pub from: Timestamp,
    /// `None`: while `period` is active (or until cancelled).
    pub to: Option<Timestamp>,
    /// A time period of the check's site.
    pub period: Option<String>,
    pub comment: String,
    pub by: String,
    pub created: Timestamp,
}

/// One line of a check's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: String,
    /// `state-change`, `alert`, `recovery`, `renotify`, `acknowledged`, `comment`,
    /// `downtime`, `downtime-cancelled`, `flapping-started`, `flapping-stopped`.
    pub kind: String,
    pub status: Option<String>,
    pub hard: Option<bool>,
    pub attempt: Option<u32>,
    /// The check's output (state changes, alerts, recoveries), or the operator's text.
    pub output: String,
    pub alert_id: Option<u64>,
    /// Who did it, for operator actions.
    #[serde(default)]
    pub by: Option<String>,
}

/// Readings of one perfdata label of a check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub label: String,
    pub uom: String,
    /// `raw`, `5m` or `1h`: the table the points come from.
    pub resolution: String,
    pub points: Vec<Point>,
}

/// The mean, minimum and maximum of the readings from `at` to the next point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub at: String,
    pub value: f64,
    pub min: f64,
    pub max: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRow {
    pub id: u64,
    pub path: String,
    pub opened: String,
    pub closed: Option<String>,
    /// The last status reported for it (the recovery's when closed).
    pub status: String,
    pub worst: String,
    /// The path of the check whose alert covered it when it opened.
    pub covered_by: Option<String>,
    #[serde(default)]
    pub covered_by_alert: Option<u64>,
    /// Whether anyone was told of it.
    pub notified: bool,
    pub acknowledged_at: Option<String>,
    pub acknowledged_by: Option<String>,
    pub ack_comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DowntimeRow {
    pub id: u64,
    pub path: String,
    pub from: String,
    pub to: Option<String>,
    pub period: Option<String>,
    pub comment: String,
    pub by: String,
    pub created: String,
    pub cancelled: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommentRow {
    pub id: u64,
    pub path: String,
    pub at: String,
    pub by: String,
    pub text: String,
}

/// The store's own health, for `health.json` and the API.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StoreHealth {
    /// Events, readings and operator actions waiting for the writer.
    pub queue_depth: usize,
    /// Checks whose latest state waits for the writer.
    pub pending_checks: usize,
    /// Batches committed.
    pub batches: u64,
    /// Batches that failed (and were kept to retry).
    pub failed_batches: u64,
    /// Rows inserted, updated or deleted by committed batches.
    pub rows_written: u64,
    /// How long the last batch took to write and commit.
    pub last_batch_ms: u64,
    /// Age of the oldest write not yet committed (0 when nothing waits).
    pub lag_ms: u64,
    /// Events dropped because their queue was full.
    pub dropped_events: u64,
    /// Perfdata results dropped because their queue was full.
    pub dropped_readings: u64,
    /// Whether the last attempt to write failed.
    pub failing: bool,
    /// The last write error (`disk full: …`, `read-only: …`), kept after recovery.
    pub last_error: Option<String>,
    /// When the current (or last) run of failures began.
    pub since: Option<String>,
}

/// What can go wrong in the store. Cloneable: one failed batch answers every
/// operator action it carried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open {path}: {message}")]
    Open { path: PathBuf, message: String },
    #[error("disk full: {0}")]
    DiskFull(String),
    #[error("read-only: {0}")]
    ReadOnly(String),
    #[error("I/O error: {0}")]
    Io(String),
    #[error("database is corrupt: {0}")]
    Corrupt(String),
    #[error("database is busy: {0}")]
    Busy(String),
    #[error("{context}: {message}")]
    Sql { context: &'static str, message: String },
    #[error(
        "the database has schema version {found}, newer than this bergamotd knows ({supported}): \
         run a newer bergamotd or use another data directory"
    )]
    TooNew { found: i64, supported: i64 },
    #[error("cannot start the store's writer thread: {0}")]
    Thread(String),
    #[error("the store is closed")]
    Closed,
}

impl StoreError {
    /// Classifies an SQLite error: the kinds an operator can act on (disk full,
    /// read-only, I/O, corruption) get their own variant.
    pub(crate) fn sql(context: &'static str, e: rusqlite::Error) -> StoreError {
        use rusqlite::ErrorCode as C;
        let message = e.to_string();
        match e.sqlite_error_code() {
            Some(C::DiskFull) => StoreError::DiskFull(message),
            Some(C::ReadOnly) => StoreError::ReadOnly(message),
            Some(C::SystemIoFailure | C::CannotOpen) => StoreError::Io(message),
            Some(C::DatabaseCorrupt | C::NotADatabase) => StoreError::Corrupt(message),
            Some(C::DatabaseBusy | C::DatabaseLocked) => StoreError::Busy(message),
            _ => StoreError::Sql { context, message },
        }
    }

    /// A short name of the kind, so a run of the same failure is logged once.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            StoreError::Open { .. } => "open",
            StoreError::DiskFull(_) => "disk full",
            StoreError::ReadOnly(_) => "read-only",
            StoreError::Io(_) => "I/O",
            StoreError::Corrupt(_) => "corrupt",
            StoreError::Busy(_) => "busy",
            StoreError::Sql { .. } => "sql",
            StoreError::TooNew { .. } => "too new",
            StoreError::Thread(_) => "thread",
            StoreError::Closed => "closed",
        }
    }
}

/// Milliseconds since the epoch, as the database keeps times.
pub(crate) fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

/// The inverse of [`ms`]; out-of-range values (never written by us) clamp.
pub(crate) fn ts(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(if ms < 0 { Timestamp::MIN } else { Timestamp::MAX })
}

/// RFC 3339 text of a database time.
pub(crate) fn text(ms: i64) -> String {
    ts(ms).to_string()
}

/// An id as SQLite's signed integer (ids stay far below 2^63).
pub(crate) fn sql_id(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

/// An id column (never negative: written by [`sql_id`] or as a rowid).
pub(crate) fn get_id(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<u64> {
    Ok(r.get::<_, i64>(i)?.max(0) as u64)
}

pub(crate) fn get_opt_id(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Option<u64>> {
    Ok(r.get::<_, Option<i64>>(i)?.map(|v| v.max(0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The failures an operator must tell apart get their own variant.
    #[test]
    fn sqlite_errors_are_classified() {
        type Want = fn(&StoreError) -> bool;
        let setups: [(&str, Want); 3] = [
            ("PRAGMA query_only = ON", |e| matches!(e, StoreError::ReadOnly(_))),
            ("PRAGMA max_page_count = 2", |e| matches!(e, StoreError::DiskFull(_))),
            ("", |e| matches!(e, StoreError::Sql { context: "test", .. })),
        ];
        for (setup, want) in setups {
            let conn = rusqlite::Connection::open_in_memory().unwrap();
            conn.execute_batch("CREATE TABLE t (x TEXT NOT NULL)").unwrap();
            conn.execute_batch(setup).unwrap();
            let big = "x".repeat(64 * 1024);
            // NULL breaks NOT NULL when nothing else fails first.
            let r = conn.execute("INSERT INTO t VALUES (?1)", [if setup.is_empty() { None } else { Some(&big) }]);
            let e = StoreError::sql("test", r.unwrap_err());
            assert!(want(&e), "{setup}: {e:?}");
        }
        assert_eq!(StoreError::DiskFull("x".into()).to_string(), "disk full: x");
    }

    #[test]
    fn times_keep_milliseconds() {
        let t: Timestamp = "2026-03-02T10:11:12.345Z".parse().unwrap();
        assert_eq!(ts(ms(t)), t);
        assert_eq!(text(ms(t)), "2026-03-02T10:11:12.345Z");
    }
}
