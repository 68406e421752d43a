//! Queries for the API: history, readings, alerts, downtimes, comments, and the
//! database's own checks. Each [`StoreReader`] has its own read-only connection
//! (WAL lets it read while the writer writes); its methods block, so async callers
//! use `smol::unblock`.

use std::path::PathBuf;

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::rollup::{FIVE_MINUTES_MS, HOUR_MS};
use super::schema::status_of;
use super::{
    AlertRow, CommentRow, DowntimeRow, HistoryEntry, Point, Retention, Series, StoreError, get_id, get_opt_id, ms, text,
};

/// Most points a series of [`StoreReader::readings`] has.
pub const MAX_POINTS: i64 = 500;

/// A read-only connection to the store.
#[derive(Debug)]
pub struct StoreReader {
    conn: Connection,
    retention: Retention,
    path: PathBuf,
}

/// A resolution of readings: its table, name and bucket width (ms; 1 for raw).
#[derive(Debug, Clone, Copy)]
struct Resolution {
    name: &'static str,
    width: i64,
    /// The `meta` key of the time before which the rollup table is complete.
    mark: Option<&'static str>,
    sql: &'static str,
}

const RAW: Resolution = Resolution {
    name: "raw",
    width: 1,
    mark: None,
    sql: "SELECT min(at), avg(value), min(value), max(value) FROM raw
          WHERE series = ?1 AND at >= ?2 AND at <= ?3 GROUP BY (at - ?2) / ?4 ORDER BY 1",
};
/// A rollup table's points, merged by ?4: its buckets before the mark ?5, and from
/// the mark on (not rolled up yet) buckets of width ?6 computed from the raw points.
macro_rules! rollup_sql {
    ($table:literal) => {
        concat!(
            "SELECT min(b), sum(s) / sum(n), min(lo), max(hi) FROM (
                SELECT bucket AS b, n, sum AS s, min AS lo, max AS hi FROM ",
            $table,
            " WHERE series = ?1 AND bucket >= ?2 AND bucket <= ?3 AND bucket < ?5
                UNION ALL
                SELECT at - (at % ?6), count(*), sum(value), min(value), max(value) FROM raw
                WHERE series = ?1 AND at >= max(?2, ?5) AND at <= ?3 GROUP BY 1)
            GROUP BY (b - ?2) / ?4 ORDER BY 1"
        )
    };
}

const FIVE_MINUTES: Resolution =
    Resolution { name: "5m", width: FIVE_MINUTES_MS, mark: Some("rolled_5m"), sql: rollup_sql!("r5m") };
const HOURLY: Resolution = Resolution { name: "1h", width: HOUR_MS, mark: Some("rolled_1h"), sql: rollup_sql!("r1h") };

impl StoreReader {
    pub(crate) fn new(conn: Connection, retention: Retention, path: PathBuf) -> StoreReader {
        StoreReader { conn, retention, path }
    }

    /// The check's history, newest first.
    pub fn history(&self, path: &str, limit: usize) -> Result<Vec<HistoryEntry>, StoreError> {
        let c = |e| StoreError::sql("reading history", e);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT at, kind, status, hard, attempt, output, alert_id, by FROM history
                 WHERE path = ?1 ORDER BY at DESC, id DESC LIMIT ?2",
            )
            .map_err(c)?;
        let rows = stmt
            .query_map(params![path, limit as i64], |r| {
                Ok(HistoryEntry {
                    at: text(r.get(0)?),
                    kind: r.get(1)?,
                    status: r.get::<_, Option<i64>>(2)?.map(|s| status_of(s).as_str().to_owned()),
                    hard: r.get(3)?,
                    attempt: r.get(4)?,
                    output: r.get(5)?,
                    alert_id: get_opt_id(r, 6)?,
                    by: r.get(7)?,
                })
            })
            .map_err(c)?;
        rows.collect::<Result<_, _>>().map_err(c)
    }

    /// The check's readings from `from` to `to` (inclusive), one series per label.
    /// The resolution follows the span (raw up to the raw retention, 5-minute
    /// rollups up to theirs, else hourly), or the next coarser one where the finer
    /// data has expired; points are merged so a series has at most [`MAX_POINTS`].
    pub fn readings(&self, path: &str, from: Timestamp, to: Timestamp) -> Result<Vec<Series>, StoreError> {
        let c = |e| StoreError::sql("reading readings", e);
        let (from, to) = (ms(from), ms(to));
        if to < from {
            return Ok(Vec::new());
        }
        let span = to - from;
        let keeps = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let order: &[Resolution] = if span <= keeps(self.retention.raw) {
            &[RAW, FIVE_MINUTES, HOURLY]
        } else if span <= keeps(self.retention.five_minutes) {
            &[FIVE_MINUTES, HOURLY]
        } else {
            &[HOURLY]
        };
        let series: Vec<(i64, String, String)> = self
            .conn
            .prepare_cached("SELECT id, label, uom FROM series WHERE path = ?1 ORDER BY label")
            .map_err(c)?
            .query_map([path], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(c)?
            .collect::<Result<_, _>>()
            .map_err(c)?;
        // A database whose writer has not set the marks yet has every rollup.
        let mark = |key: &str| -> Result<i64, StoreError> {
            let v: Option<i64> = self
                .conn
                .prepare_cached("SELECT value FROM meta WHERE key = ?1")
                .and_then(|mut s| s.query_row([key], |r| r.get(0)).optional())
                .map_err(c)?;
            Ok(v.unwrap_or(i64::MAX))
        };
        let marks: Vec<i64> = order.iter().map(|r| r.mark.map_or(Ok(0), mark)).collect::<Result<_, _>>()?;
        let mut out = Vec::with_capacity(series.len());
        for (id, label, uom) in series {
            for (res, &mark) in order.iter().zip(&marks) {
                // Buckets start on their boundary, so the one holding `from` counts.
                let start = from.div_euclid(res.width) * res.width;
                // Just over span / MAX_POINTS, a whole number of buckets.
                let step = (span / MAX_POINTS + 1).max(res.width);
                let step = (step + res.width - 1) / res.width * res.width;
                let row =
                    |r: &Row<'_>| Ok(Point { at: text(r.get(0)?), value: r.get(1)?, min: r.get(2)?, max: r.get(3)? });
                let mut stmt = self.conn.prepare_cached(res.sql).map_err(c)?;
                let points: Vec<Point> = match res.mark {
                    None => stmt.query_map(params![id, start, to, step], row),
                    Some(_) => stmt.query_map(params![id, start, to, step, mark, res.width], row),
                }
                .map_err(c)?
                .collect::<Result<_, _>>()
                .map_err(c)?;
                if !points.is_empty() {
                    out.push(Series {
                        label: label.clone(),
                        uom: uom.clone(),
                        resolution: res.name.to_owned(),
                        points,
                    });
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Alerts, newest first.
    pub fn alerts(&self, open_only: bool, limit: usize) -> Result<Vec<AlertRow>, StoreError> {
        let c = |e| StoreError::sql("reading alerts", e);
        let sql = if open_only {
            "SELECT id, path, opened, closed, status, worst, covered_by, covered_by_alert, notified,
                acknowledged_at, acknowledged_by, ack_comment FROM alerts WHERE closed IS NULL ORDER BY id DESC LIMIT ?1"
        } else {
            "SELECT id, path, opened, closed, status, worst, covered_by, covered_by_alert, notified,
                acknowledged_at, acknowledged_by, ack_comment FROM alerts ORDER BY id DESC LIMIT ?1"
        };
        let mut stmt = self.conn.prepare_cached(sql).map_err(c)?;
        let rows = stmt
            .query_map([limit as i64], |r| {
                Ok(AlertRow {
                    id: get_id(r, 0)?,
                    path: r.get(1)?,
                    opened: text(r.get(2)?),
                    closed: r.get::<_, Option<i64>>(3)?.map(text),
                    status: status_of(r.get(4)?).as_str().to_owned(),
                    worst: status_of(r.get(5)?).as_str().to_owned(),
                    covered_by: r.get(6)?,
                    covered_by_alert: get_opt_id(r, 7)?,
                    notified: r.get(8)?,
                    acknowledged_at: r.get::<_, Option<i64>>(9)?.map(text),
                    acknowledged_by: r.get(10)?,
                    ack_comment: r.get(11)?,
                })
            })
            .map_err(c)?;
        rows.collect::<Result<_, _>>().map_err(c)
    }

    /// Downtimes by id; without `include_ended`, only those not cancelled and not
    /// ended at `now`.
    pub fn downtimes(&self, include_ended: bool, now: Timestamp) -> Result<Vec<DowntimeRow>, StoreError> {
        let c = |e| StoreError::sql("reading downtimes", e);
        let sql = if include_ended {
            "SELECT id, path, start, stop, period, comment, by, created, cancelled FROM downtimes
             WHERE ?1 = ?1 ORDER BY id"
        } else {
            "SELECT id, path, start, stop, period, comment, by, created, cancelled FROM downtimes
             WHERE cancelled IS NULL AND (stop IS NULL OR stop > ?1) ORDER BY id"
        };
        let mut stmt = self.conn.prepare_cached(sql).map_err(c)?;
        let rows = stmt.query_map([ms(now)], downtime_row).map_err(c)?;
        rows.collect::<Result<_, _>>().map_err(c)
    }

    /// The check's comments, oldest first.
    pub fn comments(&self, path: &str) -> Result<Vec<CommentRow>, StoreError> {
        let c = |e| StoreError::sql("reading comments", e);
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, path, at, by, text FROM comments WHERE path = ?1 ORDER BY at, id")
            .map_err(c)?;
        let rows = stmt
            .query_map([path], |r| {
                Ok(CommentRow {
                    id: get_id(r, 0)?,
                    path: r.get(1)?,
                    at: text(r.get(2)?),
                    by: r.get(3)?,
                    text: r.get(4)?,
                })
            })
            .map_err(c)?;
        rows.collect::<Result<_, _>>().map_err(c)
    }

    /// `PRAGMA integrity_check`: `ok`, or the problems found, one per line.
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        let c = |e| StoreError::sql("checking the database", e);
        let mut stmt = self.conn.prepare("PRAGMA integrity_check").map_err(c)?;
        let lines: Vec<String> = stmt.query_map([], |r| r.get(0)).map_err(c)?.collect::<Result<_, _>>().map_err(c)?;
        Ok(lines.join("\n"))
    }

    /// The database file plus its write-ahead log, in bytes.
    pub fn size_bytes(&self) -> Result<u64, StoreError> {
        let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len());
        let db = size(&self.path).map_err(|e| StoreError::Io(format!("{}: {e}", self.path.display())))?;
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        Ok(db + size(std::path::Path::new(&wal)).unwrap_or(0))
    }
}

/// A `downtimes` row selected as `id, path, start, stop, period, comment, by,
/// created, cancelled`.
pub(crate) fn downtime_row(r: &Row<'_>) -> rusqlite::Result<DowntimeRow> {
    Ok(DowntimeRow {
        id: get_id(r, 0)?,
        path: r.get(1)?,
        from: text(r.get(2)?),
        to: r.get::<_, Option<i64>>(3)?.map(text),
        period: r.get(4)?,
        comment: r.get(5)?,
        by: r.get(6)?,
        created: text(r.get(7)?),
        cancelled: r.get::<_, Option<i64>>(8)?.map(text),
    })
}
