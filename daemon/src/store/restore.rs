//! What a previous run saved, read back once at start-up on the write connection
//! before the writer thread starts: check states, the highest alert id, downtimes
//! still in force, the configuration version.

use rusqlite::{Connection, OptionalExtension, Row};

use super::reader::downtime_row;
use super::schema::status_of;
use super::{Restored, StoreError, get_opt_id, ts};
use crate::engine::CheckIx;
use crate::engine::state::{CheckState, Cover};

pub(crate) fn load(conn: &Connection) -> Result<Restored, StoreError> {
    let c = |e| StoreError::sql("restoring the saved state", e);
    let mut restored = Restored::default();
    let mut stmt = conn
        .prepare(
            "SELECT path, status, output, long_output, perfdata, ok, hard, attempt, last_hard_status,
                last_hard_change, last_change, last_check, acknowledged, suppressed, in_downtime, flapping,
                history, history_len, alert, alert_worst, alert_notified, covered_by_ix, covered_by_path,
                covered_by_alert
             FROM checks",
        )
        .map_err(c)?;
    let mut rows = stmt.query([]).map_err(c)?;
    while let Some(row) = rows.next().map_err(c)? {
        let (path, state, cover_path) = state_row(row).map_err(c)?;
        if let Some(p) = cover_path {
            restored.cover_paths.insert(path.clone(), p);
        }
        restored.states.insert(path, state);
    }
    drop(rows);
    drop(stmt);

    let last: Option<i64> = conn
        .query_row(
            "SELECT max(coalesce((SELECT max(id) FROM alerts), 0), coalesce((SELECT max(alert) FROM checks), 0),
                coalesce((SELECT value FROM meta WHERE key = 'pruned_alert_id'), 0))",
            [],
            |r| r.get(0),
        )
        .map_err(c)?;
    restored.last_alert_id = last.unwrap_or(0).max(0) as u64;

    // Downtimes that ended before the last state was saved had ended before the
    // stop; the store reads no clock, so that is its "now".
    let saved: Option<i64> = conn.query_row("SELECT max(saved) FROM checks", [], |r| r.get(0)).map_err(c)?;
    let mut stmt = conn
        .prepare(
            "SELECT id, path, start, stop, period, comment, by, created, cancelled FROM downtimes
             WHERE cancelled IS NULL AND (stop IS NULL OR stop >= ?1) ORDER BY id",
        )
        .map_err(c)?;
    restored.downtimes =
        stmt.query_map([saved.unwrap_or(i64::MIN)], downtime_row).map_err(c)?.collect::<Result<_, _>>().map_err(c)?;

    let config: Option<(String, String)> = conn
        .query_row("SELECT version, summary FROM config_applied ORDER BY id DESC LIMIT 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()
        .map_err(c)?;
    if let Some((version, summary)) = config {
        restored.config_version = Some(version);
        restored.last_reload = Some(summary);
    }
    Ok(restored)
}

type StateRow = (String, CheckState, Option<String>);

fn state_row(r: &Row<'_>) -> rusqlite::Result<StateRow> {
    let cover_path: Option<String> = r.get(22)?;
    let covered_by = match &cover_path {
        Some(_) => Some(Cover { check: CheckIx(r.get(21)?), alert_id: get_opt_id(r, 23)? }),
        None => None,
    };
    let state = CheckState {
        status: status_of(r.get(1)?),
        output: r.get(2)?,
        long_output: r.get(3)?,
        perfdata: r.get(4)?,
        ok: r.get(5)?,
        hard: r.get(6)?,
        attempt: r.get(7)?,
        last_hard_status: status_of(r.get(8)?),
        last_hard_change: ts(r.get(9)?),
        last_change: ts(r.get(10)?),
        last_check: r.get::<_, Option<i64>>(11)?.map(ts),
        acknowledged: r.get::<_, Option<i64>>(12)?.map(ts),
        suppressed: r.get(13)?,
        in_downtime: r.get(14)?,
        flapping: r.get(15)?,
        history: r.get(16)?,
        history_len: r.get(17)?,
        alert: get_opt_id(r, 18)?,
        alert_worst: status_of(r.get(19)?),
        alert_notified: r.get(20)?,
        covered_by,
    };
    Ok((r.get(0)?, state, cover_path))
}
