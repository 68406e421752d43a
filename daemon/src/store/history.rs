//! Retention of the record: history lines, closed alerts, comments and downtimes
//! that ended, deleted once older than `Retention::history`, oldest first, a chunk
//! per step. Rows are visited in id order, which is the order they were written, so a
//! step reads only the rows it may delete.

use rusqlite::{Connection, params};

/// Rows of each table looked at per step (a step starts each retention pass, at
/// least a minute apart: far more than the record grows by in a minute).
pub(crate) const HISTORY_CHUNK: i64 = 5_000;

/// Deletes up to `chunk` of the oldest rows of each table that ended before
/// `cutoff` (ms). Returns the rows deleted.
pub(crate) fn prune_step(conn: &Connection, cutoff: i64, chunk: i64) -> rusqlite::Result<u64> {
    // Alert ids are never reused: the highest one so far is kept for the restore,
    // in case every alert is deleted.
    conn.prepare_cached(
        "INSERT INTO meta (key, value)
         SELECT 'pruned_alert_id', id FROM (SELECT max(id) AS id FROM alerts) WHERE id IS NOT NULL
         ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
    )?
    .execute([])?;
    let mut deleted = 0;
    for sql in [
        "DELETE FROM history WHERE id IN (SELECT id FROM history ORDER BY id LIMIT ?2) AND at < ?1",
        "DELETE FROM alerts WHERE id IN (SELECT id FROM alerts ORDER BY id LIMIT ?2)
            AND closed IS NOT NULL AND closed < ?1",
        "DELETE FROM comments WHERE id IN (SELECT id FROM comments ORDER BY id LIMIT ?2) AND at < ?1",
        "DELETE FROM downtimes WHERE id IN (SELECT id FROM downtimes ORDER BY id LIMIT ?2)
            AND ((stop IS NOT NULL AND stop < ?1) OR (cancelled IS NOT NULL AND cancelled < ?1))",
    ] {
        deleted += conn.prepare_cached(sql)?.execute(params![cutoff, chunk])? as u64;
    }
    Ok(deleted)
}
