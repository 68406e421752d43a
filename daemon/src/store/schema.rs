//! The database schema as versioned migrations (`PRAGMA user_version`), the
//! connection settings, and how statuses are coded in columns.
//!
//! Migration `n` (1-based) takes a database from version `n - 1` to `n`; all pending
//! steps run in one transaction, so a crash leaves the old version or the new one.
//! Never edit a released step: append a new one.

use bergamot_config::status::Status;
use rusqlite::{Connection, OpenFlags};

use super::StoreError;

/// Times are integer milliseconds since the epoch; statuses are [`status_code`]s;
/// booleans are 0/1.
const V1: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL) WITHOUT ROWID;

-- The last saved state of each check: every pub field of CheckState.
CREATE TABLE checks (
    path TEXT PRIMARY KEY NOT NULL,
    saved INTEGER NOT NULL,
    status INTEGER NOT NULL,
    output TEXT NOT NULL,
    long_output TEXT NOT NULL,
    perfdata TEXT NOT NULL,
    ok INTEGER NOT NULL,
    hard INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    last_hard_status INTEGER NOT NULL,
    last_hard_change INTEGER NOT NULL,
    last_change INTEGER NOT NULL,
    last_check INTEGER,
    acknowledged INTEGER,
    suppressed INTEGER NOT NULL,
    in_downtime INTEGER NOT NULL,
    flapping INTEGER NOT NULL,
    history INTEGER NOT NULL,
    history_len INTEGER NOT NULL,
    alert INTEGER,
    alert_worst INTEGER NOT NULL,
    alert_notified INTEGER NOT NULL,
    -- The cover: the covering check's index when saved and its path (identity
    -- across reloads); covered_by_path is NULL when there is no cover.
    covered_by_ix INTEGER,
    covered_by_path TEXT,
    covered_by_alert INTEGER
) WITHOUT ROWID;

CREATE TABLE history (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    status INTEGER,
    hard INTEGER,
    attempt INTEGER,
    output TEXT NOT NULL,
    alert_id INTEGER,
    by TEXT
);
CREATE INDEX history_by_path ON history (path, at);

-- Ids are the engine's alert ids.
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    opened INTEGER NOT NULL,
    closed INTEGER,
    status INTEGER NOT NULL,
    worst INTEGER NOT NULL,
    covered_by TEXT,
    covered_by_alert INTEGER,
    notified INTEGER NOT NULL,
    acknowledged_at INTEGER,
    acknowledged_by TEXT,
    ack_comment TEXT
);
CREATE INDEX alerts_open ON alerts (id) WHERE closed IS NULL;

CREATE TABLE comments (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    at INTEGER NOT NULL,
    by TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX comments_by_path ON comments (path, at);

CREATE TABLE downtimes (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    start INTEGER NOT NULL,
    stop INTEGER,
    period TEXT,
    comment TEXT NOT NULL,
    by TEXT NOT NULL,
    created INTEGER NOT NULL,
    cancelled INTEGER
);

CREATE TABLE config_applied (
    id INTEGER PRIMARY KEY,
    version TEXT NOT NULL,
    at INTEGER NOT NULL,
    summary TEXT NOT NULL
);
";

/// Perfdata readings: one series per (check, label); raw points and rollups are
/// clustered by series so a graph reads one contiguous range.
const V2: &str = "
CREATE TABLE series (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    label TEXT NOT NULL,
    uom TEXT NOT NULL,
    UNIQUE (path, label)
);
CREATE TABLE raw (
    series INTEGER NOT NULL,
    at INTEGER NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (series, at)
) WITHOUT ROWID;
CREATE TABLE r5m (
    series INTEGER NOT NULL,
    bucket INTEGER NOT NULL,
    n INTEGER NOT NULL,
    sum REAL NOT NULL,
    min REAL NOT NULL,
    max REAL NOT NULL,
    PRIMARY KEY (series, bucket)
) WITHOUT ROWID;
CREATE TABLE r1h (
    series INTEGER NOT NULL,
    bucket INTEGER NOT NULL,
    n INTEGER NOT NULL,
    sum REAL NOT NULL,
    min REAL NOT NULL,
    max REAL NOT NULL,
    PRIMARY KEY (series, bucket)
) WITHOUT ROWID;
";

/// Every step, oldest first: `MIGRATIONS[n - 1]` makes version `n`.
pub const MIGRATIONS: &[&str] = &[V1, V2];

/// The version this build writes.
pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// Opens the write connection: creates the file if missing, sets WAL and full
/// synchronisation (a commit is on disk when it returns), migrates.
pub(crate) fn open_writer(path: &std::path::Path) -> Result<Connection, StoreError> {
    let open_err = |e: rusqlite::Error| StoreError::Open { path: path.to_path_buf(), message: e.to_string() };
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
    conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(open_err)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(open_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Open {
            path: path.to_path_buf(),
            message: format!("cannot use WAL (journal mode {mode})"),
        });
    }
    // FULL: in WAL mode, each commit is fsynced, so an acknowledged operator action
    // survives a power cut, not only a crash. One fsync per batch, not per row.
    conn.execute_batch(
        "PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = OFF;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -16384;
         PRAGMA wal_autocheckpoint = 2000;
         PRAGMA journal_size_limit = 67108864;",
    )
    .map_err(open_err)?;
    // The batch statements, kept prepared.
    conn.set_prepared_statement_cache_capacity(48);
    migrate(&mut conn).map_err(|e| match e {
        StoreError::Sql { message, .. } => StoreError::Open { path: path.to_path_buf(), message },
        other => other,
    })?;
    Ok(conn)
}

/// Opens a read-only connection for queries.
pub(crate) fn open_reader(path: &std::path::Path) -> Result<Connection, StoreError> {
    let open_err = |e: rusqlite::Error| StoreError::Open { path: path.to_path_buf(), message: e.to_string() };
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
    conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(open_err)?;
    conn.execute_batch("PRAGMA cache_size = -4096; PRAGMA query_only = ON;").map_err(open_err)?;
    Ok(conn)
}

/// Applies the missing steps in one transaction. Refuses a database newer than
/// this build (it would write rows a newer schema does not expect).
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let found: i64 =
        conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(|e| StoreError::sql("schema", e))?;
    if found > VERSION {
        return Err(StoreError::TooNew { found, supported: VERSION });
    }
    if found == VERSION {
        return Ok(());
    }
    let tx = conn.transaction().map_err(|e| StoreError::sql("migrating", e))?;
    // `found` is in 0..VERSION here, so the slice is in range.
    for (i, step) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
        tx.execute_batch(step).map_err(|e| StoreError::sql(step_context(i), e))?;
    }
    tx.pragma_update(None, "user_version", VERSION).map_err(|e| StoreError::sql("migrating", e))?;
    tx.commit().map_err(|e| StoreError::sql("migrating", e))?;
    tracing::info!("store: schema migrated from version {found} to {VERSION}");
    Ok(())
}

fn step_context(i: usize) -> &'static str {
    match i {
        0 => "migrating to schema version 1",
        1 => "migrating to schema version 2",
        _ => "migrating the schema",
    }
}

/// A status as stored. The codes follow [`Status`]'s order (best to worst), so SQL
/// `max()` gives the worse one; a new status needs a migration that renumbers.
pub(crate) fn status_code(s: Status) -> i64 {
    match s {
        Status::Pending => 0,
        Status::Info => 1,
        Status::Ok => 2,
        Status::Warning => 3,
        Status::Critical => 4,
        Status::Unknown => 5,
        Status::Timeout => 6,
        Status::Error => 7,
        Status::Disconnected => 8,
        Status::Action => 9,
    }
}

/// The inverse of [`status_code`]; an unknown code (never written) reads as ERROR.
pub(crate) fn status_of(code: i64) -> Status {
    match code {
        0 => Status::Pending,
        1 => Status::Info,
        2 => Status::Ok,
        3 => Status::Warning,
        4 => Status::Critical,
        5 => Status::Unknown,
        6 => Status::Timeout,
        8 => Status::Disconnected,
        9 => Status::Action,
        _ => Status::Error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_round_trip_and_keep_the_order() {
        for pair in Status::ALL.windows(2) {
            assert!(status_code(pair[0]) < status_code(pair[1]));
        }
        for s in Status::ALL {
            assert_eq!(status_of(status_code(s)), s);
        }
    }
}
