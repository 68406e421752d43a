//! Perfdata readings: each result's perfdata text becomes raw points, and the
//! 5-minute and hourly rollups (count, sum, min, max) are updated as each point
//! arrives; retention deletes what is older than each resolution keeps, series by
//! series, a chunk at a time.
//!
//! Not the queries ([`super::reader`]). Perfdata syntax is netprobes' (SEMANTICS §9):
//! items that do not parse and `U` values are skipped.

use bergamot_netprobes::wire::plugin::PerfDataItems;
use rusqlite::{Connection, OptionalExtension, params};

use super::Retention;
use super::queue::ReadingRow;

/// Width of a 5-minute bucket, in milliseconds.
pub(crate) const FIVE_MINUTES_MS: i64 = 300_000;
/// Width of an hourly bucket.
pub(crate) const HOUR_MS: i64 = 3_600_000;

/// Writes the readings of one result; returns the rows changed. `latest` is moved
/// to the newest time seen.
pub(crate) fn write_readings(conn: &Connection, r: &ReadingRow, latest: &mut i64) -> rusqlite::Result<u64> {
    let mut rows = 0;
    for item in PerfDataItems::new(&r.perfdata) {
        let Ok(pd) = item else { continue };
        let Some(value) = pd.value else { continue };
        let series = series_id(conn, &r.path, &pd.label, pd.uom.as_str())?;
        // A point already stored (the same result twice) must not count twice in
        // the rollups.
        let added = conn
            .prepare_cached("INSERT INTO raw (series, at, value) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING")?
            .execute(params![series, r.at, value])?;
        if added == 0 {
            continue;
        }
        for (sql, width) in [(UPSERT_5M, FIVE_MINUTES_MS), (UPSERT_1H, HOUR_MS)] {
            conn.prepare_cached(sql)?.execute(params![series, r.at.div_euclid(width) * width, value])?;
        }
        rows += 3;
    }
    *latest = (*latest).max(r.at);
    Ok(rows)
}

const UPSERT_5M: &str = "INSERT INTO r5m (series, bucket, n, sum, min, max) VALUES (?1, ?2, 1, ?3, ?3, ?3)
     ON CONFLICT (series, bucket) DO UPDATE SET n = n + 1, sum = sum + excluded.sum,
        min = min(min, excluded.min), max = max(max, excluded.max)";
const UPSERT_1H: &str = "INSERT INTO r1h (series, bucket, n, sum, min, max) VALUES (?1, ?2, 1, ?3, ?3, ?3)
     ON CONFLICT (series, bucket) DO UPDATE SET n = n + 1, sum = sum + excluded.sum,
        min = min(min, excluded.min), max = max(max, excluded.max)";

/// The series of (check, label), made on first sight; its unit follows the latest
/// reading.
fn series_id(conn: &Connection, path: &str, label: &str, uom: &str) -> rusqlite::Result<i64> {
    let found: Option<(i64, String)> = conn
        .prepare_cached("SELECT id, uom FROM series WHERE path = ?1 AND label = ?2")?
        .query_row(params![path, label], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    match found {
        Some((id, old)) => {
            if old != uom {
                conn.prepare_cached("UPDATE series SET uom = ?2 WHERE id = ?1")?.execute(params![id, uom])?;
            }
            Ok(id)
        }
        None => {
            conn.prepare_cached("INSERT INTO series (path, label, uom) VALUES (?1, ?2, ?3)")?
                .execute(params![path, label, uom])?;
            Ok(conn.last_insert_rowid())
        }
    }
}

/// The oldest time each resolution keeps, for a present `now` (milliseconds).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cutoffs {
    raw: i64,
    /// A bucket goes when all of it is older than its resolution's retention.
    five_minutes: i64,
    hourly: i64,
}

impl Cutoffs {
    pub fn new(retention: &Retention, now: i64) -> Cutoffs {
        let back = |d: std::time::Duration| now.saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Cutoffs {
            raw: back(retention.raw),
            // `bucket < cutoff` ⇔ `bucket + width <= back`.
            five_minutes: back(retention.five_minutes).saturating_sub(FIVE_MINUTES_MS - 1),
            hourly: back(retention.hourly).saturating_sub(HOUR_MS - 1),
        }
    }
}

/// Deletes expired points of up to `limit` series after series id `after`, and the
/// series left with no points at all. Returns the last series visited (`None` when
/// the pass is complete) and the rows deleted.
pub(crate) fn sweep_chunk(
    conn: &Connection,
    after: i64,
    limit: usize,
    cuts: &Cutoffs,
) -> rusqlite::Result<(Option<i64>, u64)> {
    let ids: Vec<i64> = conn
        .prepare_cached("SELECT id FROM series WHERE id > ?1 ORDER BY id LIMIT ?2")?
        .query_map(params![after, limit as i64], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut deleted = 0u64;
    for &id in &ids {
        // Each delete is a range at the start of the series (the key is (series, at)).
        deleted += conn
            .prepare_cached("DELETE FROM raw WHERE series = ?1 AND at < ?2")?
            .execute(params![id, cuts.raw])? as u64;
        deleted += conn
            .prepare_cached("DELETE FROM r5m WHERE series = ?1 AND bucket < ?2")?
            .execute(params![id, cuts.five_minutes])? as u64;
        deleted += conn
            .prepare_cached("DELETE FROM r1h WHERE series = ?1 AND bucket < ?2")?
            .execute(params![id, cuts.hourly])? as u64;
        let empty: bool = conn
            .prepare_cached(
                "SELECT NOT (EXISTS (SELECT 1 FROM r1h WHERE series = ?1) OR EXISTS (SELECT 1 FROM r5m WHERE series = ?1)
                    OR EXISTS (SELECT 1 FROM raw WHERE series = ?1))",
            )?
            .query_row([id], |r| r.get(0))?;
        if empty {
            deleted += conn.prepare_cached("DELETE FROM series WHERE id = ?1")?.execute([id])? as u64;
        }
    }
    let next = if ids.len() < limit { None } else { ids.last().copied() };
    Ok((next, deleted))
}
