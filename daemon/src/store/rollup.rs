//! Perfdata readings: each result's perfdata text becomes raw points; 5-minute and
//! hourly rollups (count, sum, min, max) are computed from the raw points once their
//! bucket has closed; retention deletes what is older than each resolution keeps,
//! series by series, a chunk at a time.
//!
//! Not the queries ([`super::reader`]). Perfdata syntax is netprobes' (SEMANTICS §9):
//! items that do not parse and `U` values are skipped.
//!
//! Why rollups are not updated as each point arrives: with about 5,000 points a
//! second (the 100,000-check estate) that was two upserts a point on pages scattered
//! over two tables, which cost more than everything else the store writes. A
//! closed bucket is instead rolled up once per series by a pass over the series, a
//! chunk per batch, and the raw points stay the only copy until then, so a kill -9
//! loses nothing more: the pass resumes from its last committed chunk.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

use bergamot_netprobes::wire::plugin::PerfDataItems;
use rusqlite::{Connection, OptionalExtension, params};

use super::Retention;
use super::queue::ReadingRow;

/// Width of a 5-minute bucket, in milliseconds.
pub(crate) const FIVE_MINUTES_MS: i64 = 300_000;
/// Width of an hourly bucket.
pub(crate) const HOUR_MS: i64 = 3_600_000;
/// A bucket is rolled up this long after it ended (by the newest reading's time),
/// so that results finishing a little out of order are in it.
const GRACE_MS: i64 = 60_000;
/// Series rolled up per batch: a pass over 300,000 series takes 150 batch windows,
/// half a bucket.
const ROLL_CHUNK: usize = 2_000;

/// `meta` keys of the rollup marks.
const META_FIVE: &str = "rolled_5m";
const META_HOUR: &str = "rolled_1h";
const META_PASS_TO: &str = "rollup_pass_to";
const META_PASS_CURSOR: &str = "rollup_pass_cursor";

/// Which rollups are final. Kept in `meta`, changed in the batch's transaction and
/// adopted by [`Readings`] only once it committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Marks {
    /// Every 5-minute bucket starting before this is rolled up (`i64::MIN`: no
    /// reading yet).
    pub five: i64,
    /// Every hourly bucket starting before this is rolled up.
    pub hour: i64,
    /// A pass in progress.
    pub pass: Option<Pass>,
}

/// A pass rolling up the 5-minute buckets from `Marks::five` to `to` (and the hours
/// before `to`'s hour) for every series, in id order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pass {
    pub to: i64,
    /// The series up to this id are done.
    pub cursor: i64,
}

impl Marks {
    /// Reads the marks; a database written before rollups were deferred (it kept
    /// them up to date point by point) counts as rolled up to the end of the bucket
    /// of its newest reading: later points of that bucket take the late path.
    pub fn load(conn: &Connection, latest: i64) -> rusqlite::Result<Marks> {
        let get = |key: &str| -> rusqlite::Result<Option<i64>> {
            conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional()
        };
        let (five, hour) = match (get(META_FIVE)?, get(META_HOUR)?) {
            (Some(f), Some(h)) => (f, h),
            _ if latest == i64::MIN => (i64::MIN, i64::MIN),
            _ => (floor(latest, FIVE_MINUTES_MS) + FIVE_MINUTES_MS, floor(latest, HOUR_MS) + HOUR_MS),
        };
        let pass = match (get(META_PASS_TO)?, get(META_PASS_CURSOR)?) {
            (Some(to), Some(cursor)) if to > five => Some(Pass { to, cursor }),
            _ => None,
        };
        Ok(Marks { five, hour, pass })
    }

    pub fn save(&self, conn: &Connection) -> rusqlite::Result<()> {
        let mut set = conn.prepare_cached(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )?;
        set.execute(params![META_FIVE, self.five])?;
        set.execute(params![META_HOUR, self.hour])?;
        let (to, cursor) = self.pass.map_or((i64::MIN, 0), |p| (p.to, p.cursor));
        set.execute(params![META_PASS_TO, to])?;
        set.execute(params![META_PASS_CURSOR, cursor])?;
        Ok(())
    }

    /// Whether the 5-minute bucket at `bucket` of `series` is already rolled up
    /// (then a new point must be added to it directly).
    fn five_final(&self, series: i64, bucket: i64) -> bool {
        bucket < self.five || self.pass.is_some_and(|p| bucket < p.to && series <= p.cursor)
    }

    fn hour_final(&self, series: i64, bucket: i64) -> bool {
        bucket < self.hour || self.pass.is_some_and(|p| bucket < floor(p.to, HOUR_MS) && series <= p.cursor)
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
    /// Raw points are kept until both their rollups are final, whatever the raw
    /// retention says.
    pub fn new(retention: &Retention, now: i64, marks: &Marks) -> Cutoffs {
        let back = |d: std::time::Duration| now.saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Cutoffs {
            raw: back(retention.raw).min(marks.hour).min(marks.five),
            // `bucket < cutoff` ⇔ `bucket + width <= back`.
            five_minutes: back(retention.five_minutes).saturating_sub(FIVE_MINUTES_MS - 1),
            hourly: back(retention.hourly).saturating_sub(HOUR_MS - 1),
        }
    }
}

/// The writer's side of readings: series ids it has seen, and the rollup marks.
#[derive(Debug)]
pub(crate) struct Readings {
    /// Series id by a keyed hash of (check path, label, unit): a result's items
    /// need no lookup once their series exists. About 17 bytes a series.
    ids: HashMap<u64, i64>,
    keys: RandomState,
    /// Keys added in the open transaction: forgotten if it rolls back.
    fresh: Vec<u64>,
    /// As committed.
    pub marks: Marks,
}

impl Readings {
    pub fn new(marks: Marks) -> Readings {
        Readings { ids: HashMap::new(), keys: RandomState::new(), fresh: Vec::new(), marks }
    }

    fn key(&self, path: &str, label: &str, uom: &str) -> u64 {
        self.keys.hash_one((path, label, uom))
    }

    /// The transaction committed: its series ids and `marks` hold.
    pub fn committed(&mut self, marks: Marks) {
        self.fresh.clear();
        self.marks = marks;
    }

    /// The transaction rolled back: series it made do not exist.
    pub fn rolled_back(&mut self) {
        for k in self.fresh.drain(..) {
            self.ids.remove(&k);
        }
    }

    /// Writes the points of one result; returns the rows changed. `latest` is moved
    /// to the newest time seen; `marks` is the transaction's (it starts marking the
    /// first reading's buckets).
    pub fn write(
        &mut self,
        conn: &Connection,
        r: &ReadingRow,
        marks: &mut Marks,
        latest: &mut i64,
    ) -> rusqlite::Result<u64> {
        let mut rows = 0;
        if marks.five == i64::MIN {
            marks.five = floor(r.at, FIVE_MINUTES_MS);
            marks.hour = floor(r.at, HOUR_MS);
        }
        for item in PerfDataItems::new(&r.perfdata) {
            let Ok(pd) = item else { continue };
            let Some(value) = pd.value else { continue };
            let series = self.series_id(conn, &r.path, &pd.label, pd.uom.as_str())?;
            // A point already stored (the same result twice) must not count twice in
            // the rollups.
            let added = conn
                .prepare_cached("INSERT INTO raw (series, at, value) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING")?
                .execute(params![series, r.at, value])?;
            if added == 0 {
                continue;
            }
            rows += 1;
            // Late: its bucket was already rolled up.
            let five = floor(r.at, FIVE_MINUTES_MS);
            if marks.five_final(series, five) {
                conn.prepare_cached(UPSERT_5M)?.execute(params![series, five, value])?;
                rows += 1;
            }
            let hour = floor(r.at, HOUR_MS);
            if marks.hour_final(series, hour) {
                conn.prepare_cached(UPSERT_1H)?.execute(params![series, hour, value])?;
                rows += 1;
            }
        }
        *latest = (*latest).max(r.at);
        Ok(rows)
    }

    /// The series of (check, label), made on first sight; its unit follows the
    /// latest reading.
    fn series_id(&mut self, conn: &Connection, path: &str, label: &str, uom: &str) -> rusqlite::Result<i64> {
        let key = self.key(path, label, uom);
        if let Some(&id) = self.ids.get(&key) {
            return Ok(id);
        }
        let found: Option<(i64, String)> = conn
            .prepare_cached("SELECT id, uom FROM series WHERE path = ?1 AND label = ?2")?
            .query_row(params![path, label], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let id = match found {
            Some((id, old)) => {
                if old != uom {
                    conn.prepare_cached("UPDATE series SET uom = ?2 WHERE id = ?1")?.execute(params![id, uom])?;
                    self.ids.remove(&self.key(path, label, &old));
                }
                id
            }
            None => {
                conn.prepare_cached("INSERT INTO series (path, label, uom) VALUES (?1, ?2, ?3)")?
                    .execute(params![path, label, uom])?;
                conn.last_insert_rowid()
            }
        };
        self.ids.insert(key, id);
        self.fresh.push(key);
        Ok(id)
    }

    /// One step of rolling up closed buckets, as of the newest reading `latest`:
    /// starts a pass when a bucket closed, and rolls up the next chunk of series.
    /// Returns the rows written.
    pub fn roll_step(&self, conn: &Connection, latest: i64, marks: &mut Marks) -> rusqlite::Result<u64> {
        if marks.five == i64::MIN || latest == i64::MIN {
            return Ok(0);
        }
        if marks.pass.is_none() && self.bucket_closed(latest, marks) {
            marks.pass = Some(Pass { to: closed_before(latest), cursor: 0 });
        }
        let mut rows = 0;
        if let Some(mut pass) = marks.pass {
            let hour_to = floor(pass.to, HOUR_MS);
            let ids: Vec<i64> = conn
                .prepare_cached("SELECT id FROM series WHERE id > ?1 ORDER BY id LIMIT ?2")?
                .query_map(params![pass.cursor, ROLL_CHUNK as i64], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            for &id in &ids {
                rows += roll(conn, [ROLL_5M, ROLL_5M_SPAN], FIVE_MINUTES_MS, id, marks.five, pass.to)?;
                rows += roll(conn, [ROLL_1H, ROLL_1H_SPAN], HOUR_MS, id, marks.hour, hour_to)?;
            }
            if ids.len() < ROLL_CHUNK {
                marks.five = pass.to;
                marks.hour = marks.hour.max(hour_to);
                marks.pass = None;
            } else {
                pass.cursor = ids[ids.len() - 1];
                marks.pass = Some(pass);
            }
        }
        Ok(rows)
    }

    /// Whether a bucket not rolled up yet has closed by `latest`.
    pub fn bucket_closed(&self, latest: i64, marks: &Marks) -> bool {
        marks.five != i64::MIN && closed_before(latest) > marks.five
    }

    /// Deletes expired points of up to `limit` series after series id `after`, and the
    /// series left with no points at all. Returns the last series visited (`None` when
    /// the pass is complete) and the rows deleted.
    pub fn sweep_chunk(
        &mut self,
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
                let gone: Option<(String, String, String)> = conn
                    .prepare_cached("DELETE FROM series WHERE id = ?1 RETURNING path, label, uom")?
                    .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .optional()?;
                if let Some((path, label, uom)) = gone {
                    // Forgotten now even if the transaction rolls back: the next
                    // point then looks the series up again.
                    self.ids.remove(&self.key(&path, &label, &uom));
                    deleted += 1;
                }
            }
        }
        let next = if ids.len() < limit { None } else { ids.last().copied() };
        Ok((next, deleted))
    }
}

/// Rolls up the buckets of `width` from `from` to `to` of one series: bucket by
/// bucket (`sql[0]`) when there are one or two, the usual case, as a statement
/// without grouping costs a quarter of one with; else in one statement (`sql[1]`),
/// after the daemon was stopped for a while.
fn roll(conn: &Connection, sql: [&str; 2], width: i64, series: i64, from: i64, to: i64) -> rusqlite::Result<u64> {
    let mut rows = 0;
    if to <= from {
        return Ok(0);
    }
    if to - from <= 2 * width {
        let mut one = conn.prepare_cached(sql[0])?;
        for b in (from..to).step_by(width as usize) {
            rows += one.execute(params![series, b, b + width])? as u64;
        }
    } else {
        rows += conn.prepare_cached(sql[1])?.execute(params![series, from, to])? as u64;
    }
    Ok(rows)
}

/// Every 5-minute bucket starting before this has closed by `latest`.
fn closed_before(latest: i64) -> i64 {
    floor(latest.saturating_sub(GRACE_MS), FIVE_MINUTES_MS)
}

/// The start of the bucket of width `width` holding `at`.
pub(crate) fn floor(at: i64, width: i64) -> i64 {
    at.div_euclid(width) * width
}

/// A late point into a rolled-up bucket.
const UPSERT_5M: &str = "INSERT INTO r5m (series, bucket, n, sum, min, max) VALUES (?1, ?2, 1, ?3, ?3, ?3)
     ON CONFLICT (series, bucket) DO UPDATE SET n = n + 1, sum = sum + excluded.sum,
        min = min(min, excluded.min), max = max(max, excluded.max)";
const UPSERT_1H: &str = "INSERT INTO r1h (series, bucket, n, sum, min, max) VALUES (?1, ?2, 1, ?3, ?3, ?3)
     ON CONFLICT (series, bucket) DO UPDATE SET n = n + 1, sum = sum + excluded.sum,
        min = min(min, excluded.min), max = max(max, excluded.max)";

/// The 5-minute bucket of series ?1 from ?2 to ?3 (exclusive), from its raw points.
/// Without a row when there is no point (an aggregate without grouping has one).
const ROLL_5M: &str = "INSERT OR REPLACE INTO r5m (series, bucket, n, sum, min, max)
     SELECT ?1, ?2, count(*), sum(value), min(value), max(value)
     FROM raw WHERE series = ?1 AND at >= ?2 AND at < ?3 HAVING count(*) > 0";
/// The hour of series ?1 from ?2 to ?3, from its 5-minute buckets.
const ROLL_1H: &str = "INSERT OR REPLACE INTO r1h (series, bucket, n, sum, min, max)
     SELECT ?1, ?2, sum(n), sum(sum), min(min), max(max)
     FROM r5m WHERE series = ?1 AND bucket >= ?2 AND bucket < ?3 HAVING count(*) > 0";
/// Every 5-minute bucket of series ?1 from ?2 to ?3. `at - (at % w)` is the
/// bucket's start for the non-negative times stored here (`floor` in Rust for all).
const ROLL_5M_SPAN: &str = "INSERT OR REPLACE INTO r5m (series, bucket, n, sum, min, max)
     SELECT ?1, at - (at % 300000), count(*), sum(value), min(value), max(value)
     FROM raw WHERE series = ?1 AND at >= ?2 AND at < ?3 GROUP BY 2";
/// Every hour of series ?1 from ?2 to ?3.
const ROLL_1H_SPAN: &str = "INSERT OR REPLACE INTO r1h (series, bucket, n, sum, min, max)
     SELECT ?1, bucket - (bucket % 3600000), sum(n), sum(sum), min(min), max(max)
     FROM r5m WHERE series = ?1 AND bucket >= ?2 AND bucket < ?3 GROUP BY 2";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_is_final_before_the_marks_and_behind_the_pass_cursor() {
        let m = Marks { five: 600_000, hour: 0, pass: Some(Pass { to: 3_900_000, cursor: 10 }) };
        assert!(m.five_final(99, 300_000), "before the mark");
        assert!(m.five_final(10, 600_000) && !m.five_final(11, 600_000), "in the pass: only series done");
        assert!(!m.five_final(1, 3_900_000), "after the pass");
        assert!(m.hour_final(10, 0) && !m.hour_final(11, 0), "the pass closes hour 0");
        assert!(!m.hour_final(1, HOUR_MS), "not hour 1: the pass ends inside it");
    }

    #[test]
    fn floor_rounds_down_for_negative_times_too() {
        assert_eq!(floor(299_999, FIVE_MINUTES_MS), 0);
        assert_eq!(floor(-1, FIVE_MINUTES_MS), -FIVE_MINUTES_MS);
    }
}
