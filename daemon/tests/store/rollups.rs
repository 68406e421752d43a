//! Rollups computed when their bucket closes: equal to the raw points, late points
//! counted, a pass that spans batches resumed after a restart, a database whose
//! rollups were kept point by point taken over, and series ids the writer remembers
//! forgotten when the series goes.

use super::*;

/// (n, sum, min, max) of `path`'s single series in the `table` bucket at `bucket`.
fn rollup(db: &Path, table: &str, path: &str, bucket: Timestamp) -> Option<(i64, f64, f64, f64)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let sql = format!(
        "SELECT n, sum, min, max FROM {table} WHERE series = (SELECT id FROM series WHERE path = ?1) AND bucket = ?2"
    );
    let ms = bucket.as_millisecond();
    conn.query_row(&sql, rusqlite::params![path, ms], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).ok()
}

fn meta(db: &Path, key: &str) -> Option<i64> {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).ok()
}

#[test]
fn a_pass_over_many_series_spans_batches_counts_late_points_and_resumes_after_a_restart() {
    let dir = Scratch::new("rollup-pass");
    let db = dir.0.join("bergamot.db");
    // More series than one batch rolls up, so the pass takes three batches.
    let paths: Vec<String> = (0..5_000).map(|i| format!("site/host/h{i:04}")).collect();
    let (store, _) = open(&dir.0);
    let w = store.writer();
    // Minutes 0–6: the value is the minute, plus the series' number / 10,000.
    for m in 0..7 {
        for (i, p) in paths.iter().enumerate() {
            w.readings(p, at(m), &format!("v={}", m as f64 + i as f64 / 10_000.0));
        }
        block_on(w.flush()).unwrap();
    }
    // Minute 6 started the pass over bucket 0 (it is rolled up a minute after it
    // ended) and rolled the first chunk of series up.
    assert!(meta(&db, "rollup_pass_cursor").is_some_and(|c| c > 0 && c < 5_000));
    // Late points of bucket 0 for a series already rolled up and one not yet.
    let late = at(2) + Duration::from_secs(30);
    w.readings(&paths[0], late, "v=100");
    w.readings(&paths[4_999], late, "v=100");
    block_on(w.flush()).unwrap();
    // A restart in the middle of the pass.
    store.close().unwrap();
    let (store, _) = open(&dir.0);
    let w = store.writer();
    for _ in 0..3 {
        block_on(w.flush()).unwrap();
    }
    assert_eq!(meta(&db, "rolled_5m"), Some(at(5).as_millisecond()), "the pass completed");
    for (i, p) in paths.iter().enumerate() {
        let base = i as f64 / 10_000.0;
        let (mut n, mut sum, mut max) = (5, 10.0 + 5.0 * base, 4.0 + base);
        if i == 0 || i == 4_999 {
            (n, sum, max) = (6, sum + 100.0, 100.0);
        }
        let got = rollup(&db, "r5m", p, at(0)).unwrap_or_else(|| panic!("{p}: no bucket 0"));
        assert_eq!(got.0, n, "{p}");
        assert!((got.1 - sum).abs() < 1e-9 && got.2 == base && got.3 == max, "{p}: {got:?}");
        assert_eq!(rollup(&db, "r5m", p, at(5)), None, "{p}: bucket 5 is still open");
    }
    // The open bucket is read from the raw points meanwhile.
    let week = store.reader().unwrap().readings(&paths[7], at(0), at(7 * DAY)).unwrap();
    assert_eq!(week[0].resolution, "5m");
    let means: Vec<f64> = week[0].points.iter().map(|p| p.value).collect();
    assert_eq!(means.len(), 1, "25-minute points: bucket 0 and the open one merged");
    assert!((means[0] - (3.0 + 7.0 / 10_000.0)).abs() < 1e-9, "minutes 0–6: {means:?}");
    store.close().unwrap();
}

#[test]
fn hours_roll_up_from_their_five_minute_buckets() {
    let dir = Scratch::new("rollup-hour");
    let db = dir.0.join("bergamot.db");
    let (store, _) = open(&dir.0);
    let w = store.writer();
    for m in 0..(2 * HOUR + 5) {
        w.readings(SVC, at(m), &format!("v={m}"));
        if m % 17 == 0 {
            block_on(w.flush()).unwrap();
        }
    }
    block_on(w.flush()).unwrap();
    assert_eq!(rollup(&db, "r1h", SVC, at(0)), Some((60, (0..60).sum::<i64>() as f64, 0.0, 59.0)));
    assert_eq!(rollup(&db, "r1h", SVC, at(HOUR)), Some((60, (60..120).sum::<i64>() as f64, 60.0, 119.0)));
    assert_eq!(rollup(&db, "r1h", SVC, at(2 * HOUR)), None, "hour 2 is open");
    // A point late by an hour goes straight into both rollups.
    w.readings(SVC, at(30) + Duration::from_secs(1), "v=1000");
    block_on(w.flush()).unwrap();
    assert_eq!(rollup(&db, "r5m", SVC, at(30)), Some((6, 30.0 + 31.0 + 32.0 + 33.0 + 34.0 + 1000.0, 30.0, 1000.0)));
    assert_eq!(rollup(&db, "r1h", SVC, at(0)).map(|r| (r.0, r.3)), Some((61, 1000.0)));
    // The same result stored twice counts once.
    w.readings(SVC, at(30) + Duration::from_secs(1), "v=1000");
    block_on(w.flush()).unwrap();
    assert_eq!(rollup(&db, "r1h", SVC, at(0)).map(|r| r.0), Some(61));
    store.close().unwrap();
}

#[test]
fn a_database_with_rollups_kept_point_by_point_is_taken_over_without_counting_twice() {
    let dir = Scratch::new("rollup-takeover");
    let db = dir.0.join("bergamot.db");
    let (store, _) = open(&dir.0);
    store.close().unwrap();
    // As the writer before deferred rollups left it: points of minutes 0–6, both
    // rollups up to date, no marks.
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute("INSERT INTO series (id, path, label, uom) VALUES (1, ?1, 'v', '')", [SVC]).unwrap();
        for m in 0..7 {
            let t = at(m).as_millisecond();
            conn.execute("INSERT INTO raw VALUES (1, ?1, ?2)", rusqlite::params![t, m as f64]).unwrap();
        }
        let (b0, b5) = (at(0).as_millisecond(), at(5).as_millisecond());
        conn.execute("INSERT INTO r5m VALUES (1, ?1, 5, 10.0, 0.0, 4.0), (1, ?2, 2, 11.0, 5.0, 6.0)", [b0, b5])
            .unwrap();
        conn.execute("INSERT INTO r1h VALUES (1, ?1, 7, 21.0, 0.0, 6.0)", [b0]).unwrap();
        conn.execute("INSERT INTO meta VALUES ('latest_reading', ?1)", [at(6).as_millisecond()]).unwrap();
    }
    let (store, _) = open(&dir.0);
    let w = store.writer();
    for m in 7..20 {
        w.readings(SVC, at(m), &format!("v={m}"));
        block_on(w.flush()).unwrap();
    }
    assert_eq!(rollup(&db, "r5m", SVC, at(0)), Some((5, 10.0, 0.0, 4.0)));
    assert_eq!(rollup(&db, "r5m", SVC, at(5)), Some((5, 35.0, 5.0, 9.0)), "kept, then continued");
    assert_eq!(rollup(&db, "r5m", SVC, at(10)), Some((5, 60.0, 10.0, 14.0)), "rolled up from raw");
    // Hour 0 was open when the writer took over: each later point of it goes
    // straight in.
    assert_eq!(rollup(&db, "r1h", SVC, at(0)).map(|r| r.0), Some(20), "minutes 0–19, each once");
    store.close().unwrap();
}

#[test]
fn a_series_that_expired_or_changed_its_unit_is_written_again_correctly() {
    let dir = Scratch::new("rollup-series");
    let (store, _) = open(&dir.0);
    let w = store.writer();
    let r = store.reader().unwrap();
    w.readings(SVC, at(0), "t=1s");
    block_on(w.flush()).unwrap();
    w.readings(SVC, at(1), "t=2ms");
    block_on(w.flush()).unwrap();
    w.readings(SVC, at(2), "t=3s");
    block_on(w.flush()).unwrap();
    let s = r.readings(SVC, at(0), at(3)).unwrap();
    assert_eq!((s.len(), s[0].uom.as_str(), s[0].points.len()), (1, "s", 3), "the unit follows the latest");
    // Gone for longer than every retention: the series is deleted; when the check
    // reports again, its points are found under a new series.
    block_on(w.prune(at(400 * DAY))).unwrap();
    assert!(r.readings(SVC, at(0), at(3)).unwrap().is_empty());
    w.readings(SVC, at(400 * DAY), "t=4s");
    block_on(w.flush()).unwrap();
    let s = r.readings(SVC, at(400 * DAY - 1), at(400 * DAY)).unwrap();
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(s[0].points[0].value, 4.0);
    store.close().unwrap();
}
