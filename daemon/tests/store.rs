//! The store as the daemon relies on it: what is saved comes back after a restart
//! (every field of a check's state), history and alerts, readings and their rollups
//! with retention on a synthetic clock, durable operator actions, migration of an
//! old schema, kill -9 at random moments, and a full disk.
//!
//! The crash and disk tests re-run this binary as a child (`child_*` tests do
//! nothing unless their environment variable is set). The disk test needs root for
//! `unshare -m` and a 2 MiB tmpfs. Nothing sleeps: a durable write or `flush`
//! resolves when its transaction committed.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bergamot_config::status::Status;
use bergamot_daemon::engine::CheckIx;
use bergamot_daemon::engine::events::{Event, SkipReason};
use bergamot_daemon::engine::state::{CheckState, Cover};
use bergamot_daemon::store::{NewDowntime, Retention, Store, StoreConfig, StoreError, StoreWriter, schema};
use jiff::Timestamp;
use smol::future::block_on;

#[path = "store/retention.rs"]
mod retention;
#[path = "store/rollups.rs"]
mod rollups;

/// A directory of its own, removed at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("bergamot-store-{}-{n}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A long window: only `flush` and durable writes commit, so tests decide when.
fn config(dir: &Path) -> StoreConfig {
    StoreConfig { batch_window: Duration::from_secs(3600), ..StoreConfig::in_dir(dir) }
}

const T0: &str = "2026-03-02T00:00:00Z";

/// `T0` plus `min` minutes.
fn at(min: i64) -> Timestamp {
    T0.parse::<Timestamp>().unwrap() + Duration::from_secs(60 * min as u64)
}

const MINUTE: i64 = 1;
const HOUR: i64 = 60;
const DAY: i64 = 24 * HOUR;

fn open(dir: &Path) -> (Store, bergamot_daemon::store::Restored) {
    Store::open(config(dir)).unwrap()
}

#[test]
fn every_field_of_a_check_state_comes_back_after_a_restart() {
    let dir = Scratch::new("restore");
    let full = CheckState {
        status: Status::Critical,
        output: "CRITICAL - down".into(),
        long_output: "line 2\nline 3".into(),
        perfdata: "rta=0.5ms;1;2;0".into(),
        ok: false,
        hard: false,
        attempt: 2,
        last_hard_status: Status::Warning,
        last_hard_change: at(1),
        last_change: at(2),
        last_check: Some(at(3)),
        acknowledged: Some(at(4)),
        suppressed: true,
        in_downtime: true,
        flapping: true,
        history: 0b1_0110,
        history_len: 5,
        alert: Some(7),
        alert_worst: Status::Critical,
        alert_notified: true,
        covered_by: Some(Cover { check: CheckIx(3), alert_id: Some(5) }),
    };
    let initial = CheckState::initial(Status::Pending, "waiting", at(0));
    let mut stale = full.clone();
    stale.output = "older".into();
    let (store, restored) = open(&dir.0);
    assert!(restored.states.is_empty() && restored.last_alert_id == 0);
    let w = store.writer();
    w.set_path_of(|ix| format!("site/host/h{}", ix.0));
    // The latest state of a path wins; a removed check is not restored.
    w.state("site/host/a", at(5), &stale);
    w.state("site/host/a", at(6), &full);
    w.state("site/host/b", at(6), &initial);
    w.state("site/host/gone", at(6), &initial);
    w.removed(&["site/host/gone".to_string()]);
    block_on(w.flush()).unwrap();
    store.close().unwrap();

    let (store, mut restored) = open(&dir.0);
    assert_eq!(restored.states.len(), 2);
    assert_eq!(restored.states["site/host/b"], initial);
    assert_eq!(restored.states["site/host/a"], full, "the cover keeps the index it had until resolved");
    assert_eq!(restored.cover_paths["site/host/a"], "site/host/h3");
    assert_eq!(restored.last_alert_id, 7, "an alert id in a saved state counts");
    // After a reload the covering check has another index.
    restored.resolve_covers(|p| (p == "site/host/h3").then_some(CheckIx(9)));
    let mut moved = full.clone();
    moved.covered_by = Some(Cover { check: CheckIx(9), alert_id: Some(5) });
    assert_eq!(restored.states["site/host/a"], moved);
    restored.resolve_covers(|_| None);
    assert_eq!(restored.states["site/host/a"].covered_by, None, "a cover whose check is gone is dropped");
    store.close().unwrap();
}

const SVC: &str = "site/host/web1/service/http";

/// The events of one result, as the engine publishes them.
fn result(w: &StoreWriter, min: i64, status: Status, output: &str, hard: bool, attempt: u32) {
    let ix = CheckIx(1);
    w.event(SVC, &Event::Result { ix, at: at(min), status, output: output.into(), hard, attempt });
}

#[test]
fn history_alerts_and_operator_actions_newest_first() {
    let dir = Scratch::new("history");
    let (store, _) = open(&dir.0);
    let w = store.writer();
    w.set_path_of(|ix| format!("site/host/h{}", ix.0));
    let ix = CheckIx(1);
    let cover = Some(Cover { check: CheckIx(0), alert_id: Some(40) });
    let (crit, ok) = (Status::Critical, Status::Ok);
    result(&w, 1, crit, "CRIT: refused", false, 1);
    w.event(SVC, &Event::StateChange { ix, at: at(1), from: ok, to: crit, hard: false, attempt: 1 });
    w.event(SVC, &Event::Skipped { ix, at: at(1), reason: SkipReason::StillRunning });
    result(&w, 2, crit, "CRIT: refused again", true, 2);
    w.event(SVC, &Event::StateChange { ix, at: at(2), from: crit, to: crit, hard: true, attempt: 2 });
    let output = "CRIT: refused again".to_string();
    w.event(SVC, &Event::Alert { ix, at: at(2), alert_id: 41, status: crit, output, covered_by: cover, notify: false });
    w.event(SVC, &Event::FlappingStarted { ix, at: at(3) });
    let worse = Status::Timeout;
    w.event(
        SVC,
        &Event::Renotify { ix, at: at(4), alert_id: 41, status: worse, output: "timed out".into(), notify: true },
    );
    block_on(w.acknowledge(SVC, Some(41), at(5), "alice", "on it")).unwrap();
    // The engine's own event of the same acknowledgement adds nothing.
    let by = "alice".to_string();
    w.event(SVC, &Event::Acknowledged { ix, at: at(5), alert_id: Some(41), by, comment: "on it".into() });
    let id = block_on(w.comment(SVC, at(6), "bob", "vendor ticket 12")).unwrap();
    assert!(id > 0);
    let from = at(7);
    let dt = NewDowntime {
        path: SVC.into(),
        from,
        to: Some(at(67)),
        period: None,
        comment: "patching".into(),
        by: "carol".into(),
        created: at(7),
    };
    let dt = block_on(w.add_downtime(dt)).unwrap();
    assert!(block_on(w.cancel_downtime(dt, at(8), "carol")).unwrap());
    assert!(!block_on(w.cancel_downtime(dt, at(8), "carol")).unwrap(), "a second cancel changes nothing");
    w.event(SVC, &Event::FlappingStopped { ix, at: at(9) });
    result(&w, 10, ok, "OK: 200", true, 1);
    w.event(SVC, &Event::StateChange { ix, at: at(10), from: worse, to: ok, hard: true, attempt: 1 });
    w.event(SVC, &Event::Recovery { ix, at: at(10), alert_id: 41, status: ok, notify: true });
    block_on(w.flush()).unwrap();

    let r = store.reader().unwrap();
    let h = r.history(SVC, 100).unwrap();
    let got: Vec<_> = h
        .iter()
        .map(|e| (e.kind.as_str(), e.status.as_deref(), e.hard, e.alert_id, e.output.as_str(), e.by.as_deref()))
        .collect();
    let s = |x: &'static str| Some(x);
    let cancelled = format!("downtime #{dt} cancelled");
    let added = format!("downtime #{dt} from {from} to {}: patching", at(67));
    let want = vec![
        ("recovery", s("OK"), Some(true), Some(41), "OK: 200", None),
        ("state-change", s("OK"), Some(true), None, "OK: 200", None),
        ("flapping-stopped", None, None, None, "", None),
        ("downtime-cancelled", None, None, None, &*cancelled, s("carol")),
        ("downtime", None, None, None, &*added, s("carol")),
        ("comment", None, None, None, "vendor ticket 12", s("bob")),
        ("acknowledged", None, None, Some(41), "on it", s("alice")),
        ("renotify", s("TIMEOUT"), Some(true), Some(41), "timed out", None),
        ("flapping-started", None, None, None, "", None),
        ("alert", s("CRITICAL"), Some(true), Some(41), "CRIT: refused again", None),
        ("state-change", s("CRITICAL"), Some(true), None, "CRIT: refused again", None),
        ("state-change", s("CRITICAL"), Some(false), None, "CRIT: refused", None),
    ];
    assert_eq!(got, want);
    assert_eq!(h[0].at, at(10).to_string());
    assert_eq!(r.history(SVC, 2).unwrap().len(), 2);
    assert!(r.history("site/host/other", 10).unwrap().is_empty());

    let alerts = r.alerts(false, 10).unwrap();
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0];
    assert_eq!((a.id, a.path.as_str(), a.status.as_str(), a.worst.as_str()), (41, SVC, "OK", "TIMEOUT"));
    assert_eq!((a.opened.clone(), a.closed.clone()), (at(2).to_string(), Some(at(10).to_string())));
    assert_eq!((a.covered_by.as_deref(), a.covered_by_alert), (Some("site/host/h0"), Some(40)));
    assert!(a.notified, "the re-notification told someone");
    assert_eq!(a.acknowledged_at, Some(at(5).to_string()));
    assert_eq!((a.acknowledged_by.as_deref(), a.ack_comment.as_deref()), (Some("alice"), Some("on it")));
    assert!(r.alerts(true, 10).unwrap().is_empty(), "recovered: not open");
    let c = r.comments(SVC).unwrap();
    assert_eq!((c.len(), c[0].id, c[0].by.as_str(), c[0].text.as_str()), (1, id, "bob", "vendor ticket 12"));
    store.close().unwrap();
    let (_, restored) = open(&dir.0);
    assert_eq!(restored.last_alert_id, 41);
}

#[test]
fn durable_writes_are_visible_to_a_fresh_reader_when_they_resolve() {
    let dir = Scratch::new("durable");
    let (store, _) = open(&dir.0);
    let w = store.writer();
    let state = CheckState::initial(Status::Ok, "fine", at(0));
    w.state(SVC, at(1), &state);
    assert!(store.reader().unwrap().history(SVC, 1).unwrap().is_empty());
    // The window is an hour: only the durable write commits, with what is pending.
    let dt = NewDowntime {
        path: SVC.into(),
        from: at(10),
        to: None,
        period: Some("weekends".into()),
        comment: String::new(),
        by: "ops".into(),
        created: at(2),
    };
    let id = block_on(w.add_downtime(dt)).unwrap();
    let r = store.reader().unwrap();
    let d = r.downtimes(false, at(3)).unwrap();
    assert_eq!((d.len(), d[0].id, d[0].period.as_deref(), d[0].to.clone()), (1, id, Some("weekends"), None));
    assert_eq!(d[0].from, at(10).to_string());
    let fixed = NewDowntime { to: Some(at(20)), period: None, created: at(3), ..d_new(at(15)) };
    let fixed = block_on(w.add_downtime(fixed)).unwrap();
    assert_eq!(ids(&r.downtimes(false, at(19)).unwrap()), [id, fixed]);
    assert_eq!(ids(&r.downtimes(false, at(20)).unwrap()), [id], "ended at its end");
    assert!(block_on(w.cancel_downtime(id, at(21), "ops")).unwrap());
    assert!(r.downtimes(false, at(21)).unwrap().is_empty());
    let all = r.downtimes(true, at(21)).unwrap();
    assert_eq!((ids(&all), all[0].cancelled.clone()), (vec![id, fixed], Some(at(21).to_string())));
    block_on(w.config_applied("v1", at(22), r#"{"checks":1}"#)).unwrap();
    block_on(w.config_applied("v2", at(23), r#"{"checks":2}"#)).unwrap();
    let open_one = NewDowntime { to: None, period: None, ..d_new(at(30)) };
    let open_one = block_on(w.add_downtime(open_one)).unwrap();
    // Saved states are written with the durable writes.
    w.state(SVC, at(40), &state);
    block_on(w.flush()).unwrap();
    store.close().unwrap();

    let (store, restored) = open(&dir.0);
    assert_eq!(restored.states[SVC], state);
    assert_eq!(restored.config_version.as_deref(), Some("v2"));
    assert_eq!(restored.last_reload.as_deref(), Some(r#"{"checks":2}"#));
    assert_eq!(ids(&restored.downtimes), [open_one], "cancelled and ended ones are not restored");
    let w = store.writer();
    store.close().unwrap();
    assert_eq!(block_on(w.comment(SVC, at(50), "x", "late")), Err(StoreError::Closed));
}

fn d_new(from: Timestamp) -> NewDowntime {
    NewDowntime { path: SVC.into(), from, to: None, period: None, comment: "c".into(), by: "ops".into(), created: from }
}

fn ids(d: &[bergamot_daemon::store::DowntimeRow]) -> Vec<u64> {
    d.iter().map(|d| d.id).collect()
}

/// (at, mean, min, max) of a series' points.
fn points(s: &bergamot_daemon::store::Series) -> Vec<(String, f64, f64, f64)> {
    s.points.iter().map(|p| (p.at.clone(), p.value, p.min, p.max)).collect()
}

#[test]
fn readings_raw_rollups_and_retention_on_a_synthetic_clock() {
    let dir = Scratch::new("readings");
    let retention = Retention {
        raw: Duration::from_secs(86_400),
        five_minutes: Duration::from_secs(10 * 86_400),
        hourly: Duration::from_secs(30 * 86_400),
        ..Retention::default()
    };
    let (store, _) = Store::open(StoreConfig { retention, ..config(&dir.0) }).unwrap();
    let w = store.writer();
    // Three days, a result a minute; load1 is the minute's number, the disk 42 %.
    for m in 0..3 * DAY {
        w.readings(SVC, at(m), &format!("load1={m};5;10;0 'disk /'=42%;80;90 junk rta=U"));
        if m % 1000 == 999 {
            block_on(w.flush()).unwrap();
        }
    }
    block_on(w.flush()).unwrap();
    let r = store.reader().unwrap();
    let labels = |v: &[bergamot_daemon::store::Series]| {
        v.iter().map(|s| (s.label.clone(), s.uom.clone(), s.resolution.clone())).collect::<Vec<_>>()
    };
    let raw = |l: &str| (l.to_string(), if l == "load1" { "" } else { "%" }.to_string(), "raw".to_string());
    let hour = r.readings(SVC, at(0), at(HOUR)).unwrap();
    assert_eq!(labels(&hour), [raw("disk /"), raw("load1")]);
    let want: Vec<_> = (0..=60).map(|m| (at(m).to_string(), m as f64, m as f64, m as f64)).collect();
    assert_eq!(points(&hour[1]), want, "raw points as they came");

    // A week: 5-minute rollups, merged 5 to a point (25 minutes: 1 week / 500 < 25 min).
    let week = r.readings(SVC, at(0), at(7 * DAY)).unwrap();
    assert_eq!(week[1].resolution, "5m");
    let p = points(&week[1]);
    assert_eq!(p[0], (at(0).to_string(), 12.0, 0.0, 24.0));
    assert_eq!(p[1], (at(25).to_string(), 37.0, 25.0, 49.0));
    assert_eq!(p.len(), (3 * DAY / 25) as usize + 1);
    assert!(week[0].points.iter().all(|p| (p.value, p.min, p.max) == (42.0, 42.0, 42.0)));
    // Two months: hourly rollups, 3 hours to a point.
    let months = r.readings(SVC, at(0), at(60 * DAY)).unwrap();
    assert_eq!(months[1].resolution, "1h");
    assert_eq!(points(&months[1])[0], (at(0).to_string(), 89.5, 0.0, 179.0));
    assert!(months.iter().all(|s| s.points.len() <= 500));

    // Retention, as of the end of the third day: raw for the last day only. Older
    // spans fall back to the next resolution kept.
    let deleted = block_on(w.prune(at(3 * DAY))).unwrap();
    assert!(deleted > 0);
    let res = |from: i64| r.readings(SVC, at(from), at(from + HOUR)).unwrap()[1].resolution.clone();
    assert_eq!((res(2 * DAY + 12 * HOUR), res(DAY + 12 * HOUR), res(0)), ("raw".into(), "5m".into(), "5m".into()));
    assert_eq!(block_on(w.prune(at(3 * DAY))).unwrap(), 0, "nothing left to delete");
    // Eleven and a half days on, 5-minute rollups are kept from day 1.5.
    assert!(block_on(w.prune(at(11 * DAY + 12 * HOUR))).unwrap() > 0);
    assert_eq!((res(2 * DAY + 12 * HOUR), res(DAY), res(0)), ("5m".into(), "1h".into(), "1h".into()));
    // The bucket that ended at the cutoff went, the next one stays.
    let cut = 36 * HOUR;
    let edge = r.readings(SVC, at(cut - 5 * MINUTE), at(cut + 4 * MINUTE)).unwrap();
    assert_eq!(edge[1].resolution, "5m");
    assert_eq!(points(&edge[1]), [(at(cut).to_string(), 2162.0, 2160.0, 2164.0)]);
    // A check gone for longer than every retention loses its series.
    block_on(w.prune(at(40 * DAY))).unwrap();
    assert!(r.readings(SVC, at(0), at(3 * DAY)).unwrap().is_empty());
    store.close().unwrap();
}

#[test]
fn a_version_1_database_is_migrated_and_a_newer_one_refused() {
    let dir = Scratch::new("migrate");
    let path = dir.0.join("bergamot.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(schema::MIGRATIONS[0]).unwrap();
        conn.execute_batch(
            "PRAGMA user_version = 1;
             INSERT INTO checks VALUES ('site/host/old', 1, 4, 'CRIT', '', '', 0, 1, 3, 4, 1000, 1000, 2000, NULL,
                0, 0, 0, 0, 3, 12, 4, 1, NULL, NULL, NULL);
             INSERT INTO alerts (id, path, opened, status, worst, notified) VALUES (41, 'site/host/old', 1000, 4, 4, 1);",
        )
        .unwrap();
    }
    let (store, restored) = open(&dir.0);
    let old = &restored.states["site/host/old"];
    let last_check = Timestamp::from_millisecond(2000).ok();
    assert_eq!((old.status, old.attempt, old.alert, old.last_check), (Status::Critical, 3, Some(12), last_check));
    assert_eq!(restored.last_alert_id, 41);
    let w = store.writer();
    w.readings("site/host/old", at(0), "x=1");
    block_on(w.flush()).unwrap();
    assert_eq!(store.reader().unwrap().readings("site/host/old", at(0), at(1)).unwrap().len(), 1);
    store.close().unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(v, schema::VERSION);
    conn.pragma_update(None, "user_version", schema::VERSION + 1).unwrap();
    drop(conn);
    let e = Store::open(config(&dir.0)).unwrap_err();
    assert_eq!(e, StoreError::TooNew { found: schema::VERSION + 1, supported: schema::VERSION });
}

const CHILD_DIR: &str = "BERGAMOT_STORE_CHILD_DIR";
const CHILD_ROUND: &str = "BERGAMOT_STORE_CHILD_ROUND";
const CHECKS: u32 = 200;

/// Runs this binary's test `name` alone, in a child process.
fn child(name: &str) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args(["--exact", name, "--nocapture", "--test-threads=1"]);
    c
}

/// The child of the crash test: writes states, events, readings and durable
/// comments in a loop until killed, printing each comment's id once it resolved.
#[test]
fn child_writer() {
    let Ok(dir) = std::env::var(CHILD_DIR) else { return };
    let round: u32 = std::env::var(CHILD_ROUND).unwrap().parse().unwrap();
    let config = StoreConfig { batch_window: Duration::from_millis(20), ..StoreConfig::in_dir(Path::new(&dir)) };
    let (store, restored) = Store::open(config).unwrap();
    let w = store.writer();
    let mut state = CheckState::initial(Status::Ok, "", at(0));
    let paths: Vec<String> = (0..CHECKS).map(|c| format!("site/host/h{c}")).collect();
    for n in 0u32.. {
        state.output = format!("round {round} n {n}");
        state.attempt = n;
        for (c, p) in paths.iter().enumerate() {
            w.state(p, at(i64::from(n)), &state);
            w.readings(p, at(i64::from(n)), &format!("v={n} w={c}"));
        }
        let alert_id = restored.last_alert_id + u64::from(n) + 1;
        let (ix, status, output) = (CheckIx(0), Status::Critical, state.output.clone());
        w.event(
            &paths[0],
            &Event::Alert { ix, at: at(i64::from(n)), alert_id, status, output, covered_by: None, notify: true },
        );
        let id = block_on(w.comment(&paths[0], at(i64::from(n)), "child", &state.output)).unwrap();
        println!("durable {id} {}", state.output);
    }
}

fn next(seed: &mut u64) -> u64 {
    // xorshift64: a fixed seed gives the same kill points on every run.
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

#[test]
fn kill_9_at_random_moments_loses_no_durable_write_and_never_corrupts() {
    let dir = Scratch::new("crash");
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut reported: Vec<(u64, String)> = Vec::new();
    for round in 0..6u32 {
        let kill_after = 1 + next(&mut seed) % 40;
        let mut c = child("child_writer")
            .env(CHILD_DIR, &dir.0)
            .env(CHILD_ROUND, round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut last_n = None;
        let mut seen = 0;
        for line in BufReader::new(c.stdout.take().unwrap()).lines() {
            let Some(rest) = line.unwrap().strip_prefix("durable ").map(str::to_owned) else { continue };
            let (id, text) = rest.split_once(' ').unwrap();
            reported.push((id.parse().unwrap(), text.to_string()));
            last_n = text.rsplit(' ').next().map(|n| n.parse::<u32>().unwrap());
            seen += 1;
            if seen == kill_after {
                break;
            }
        }
        c.kill().unwrap(); // SIGKILL
        c.wait().unwrap();
        let last_n = last_n.expect("the child reported durable writes");

        let (store, restored) = open(&dir.0);
        let r = store.reader().unwrap();
        assert_eq!(r.integrity_check().unwrap(), "ok", "round {round}");
        let comments: HashMap<u64, String> =
            r.comments("site/host/h0").unwrap().into_iter().map(|c| (c.id, c.text)).collect();
        for (id, text) in &reported {
            assert_eq!(comments.get(id), Some(text), "round {round}: the durable comment {id} is lost");
        }
        // States were committed with each comment: none is older than the last one
        // reported, and each is whole.
        assert_eq!(restored.states.len(), CHECKS as usize);
        for (path, s) in &restored.states {
            let want_prefix = format!("round {round} n ");
            let n: u32 =
                s.output.strip_prefix(&want_prefix).unwrap_or_else(|| panic!("{path}: {}", s.output)).parse().unwrap();
            assert!(n >= last_n && s.attempt == n, "round {round}: {path} went back to n {n} (last durable {last_n})");
        }
        assert!(restored.last_alert_id > u64::from(last_n));
        store.close().unwrap();
    }
}

const FULL_DIR: &str = "BERGAMOT_STORE_FULL_DIR";

/// The child of the disk test, in its own mount namespace: the store on an 8 MiB
/// tmpfs that a filler file makes full.
#[test]
fn child_full_disk() {
    let Ok(dir) = std::env::var(FULL_DIR) else { return };
    let dir = PathBuf::from(dir);
    let mounted = Command::new("mount").args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"]).arg(&dir).status().unwrap();
    assert!(mounted.success(), "mount -t tmpfs");
    // A long window: retries come only with `flush`, so health is read between them.
    let config = StoreConfig { batch_window: Duration::from_secs(3600), ..StoreConfig::in_dir(&dir) };
    let (store, _) = Store::open(config.clone()).unwrap();
    let w = store.writer();
    let before = CheckState::initial(Status::Ok, "before", at(0));
    w.state("site/host/a", at(0), &before);
    block_on(w.flush()).unwrap();

    let filler = dir.join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    while std::io::Write::write_all(&mut f, &chunk).is_ok() {}
    drop(f);

    // While the disk is full, callers return at once and nothing pending is lost
    // beyond the bounded queues.
    let mut full = before.clone();
    full.output = "while full".into();
    for c in 0..100 {
        w.state(&format!("site/host/c{c}"), at(1), &full);
    }
    w.state("site/host/a", at(1), &full);
    let (ix, status) = (CheckIx(0), Status::Critical);
    w.event(
        "site/host/a",
        &Event::Alert { ix, at: at(1), alert_id: 1, status, output: "x".into(), covered_by: None, notify: true },
    );
    for n in 0..20_000 {
        w.readings("site/host/a", at(n), "x=1");
    }
    let e = block_on(w.flush()).unwrap_err();
    assert!(matches!(e, StoreError::DiskFull(_)), "{e:?}");
    let h = store.health();
    assert!(h.failing && h.since.is_some(), "{h:?}");
    assert!(h.last_error.as_deref().is_some_and(|e| e.starts_with("disk full")), "{h:?}");
    assert_eq!(h.pending_checks, 101);
    assert!(h.dropped_readings >= 20_000 - 16_384 && h.queue_depth <= 16_384 + 16_384, "{h:?}");
    let e = block_on(w.comment("site/host/a", at(2), "ops", "no room")).unwrap_err();
    assert!(matches!(e, StoreError::DiskFull(_)), "an operator action is refused, not claimed: {e:?}");

    std::fs::remove_file(&filler).unwrap();
    block_on(w.flush()).unwrap();
    let h = store.health();
    assert!(!h.failing && h.pending_checks == 0 && h.queue_depth == 0, "{h:?}");
    assert!(h.last_error.is_some(), "the last error stays visible");
    let r = store.reader().unwrap();
    assert_eq!(r.alerts(true, 10).unwrap().len(), 1, "the event kept through the failure landed");
    assert!(!r.readings("site/host/a", at(0), at(60)).unwrap().is_empty());
    store.close().unwrap();
    let (store, restored) = Store::open(config).unwrap();
    assert_eq!(restored.states.len(), 101);
    assert!(restored.states.values().all(|s| s.output == "while full"));
    assert_eq!(store.reader().unwrap().integrity_check().unwrap(), "ok");
    store.close().unwrap();
    println!("child-full-disk: ok");
}

#[test]
fn a_full_disk_is_reported_callers_never_block_and_pending_writes_land_after() {
    let dir = Scratch::new("full");
    let mut unshare = Command::new("unshare");
    unshare.args(["-m", "--propagation", "private"]).arg(std::env::current_exe().unwrap()).args([
        "--exact",
        "child_full_disk",
        "--nocapture",
        "--test-threads=1",
    ]);
    let out = unshare.env(FULL_DIR, &dir.0).output().expect("this test needs unshare (util-linux) and root");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && stdout.contains("child-full-disk: ok"), "{stdout}\n{stderr}");
}

/// Not a benchmark: the volume of a minute at 100,000 checks must be written in
/// seconds. Prints the time; asserts only that everything is there.
#[test]
fn a_hundred_thousand_states_and_readings() {
    let dir = Scratch::new("volume");
    let (store, _) = Store::open(StoreConfig::in_dir(&dir.0)).unwrap();
    let w = store.writer();
    let paths: Vec<String> = (0..100_000).map(|i| format!("site/host/h{}/service/s{}", i / 10, i % 10)).collect();
    let state = CheckState::initial(Status::Ok, "PING OK - Packet loss = 0%, RTA = 0.52 ms", at(0));
    let start = Instant::now();
    for (i, p) in paths.iter().enumerate() {
        w.state(p, at(1), &state);
        w.readings(p, at(1), "rta=0.52ms;100;500;0 pl=0%;20;60;0;100");
        // Paced as a running daemon would be (in 5,000-result batches), so no queue overflows.
        if i % 5_000 == 4_999 {
            block_on(w.flush()).unwrap();
        }
    }
    block_on(w.flush()).unwrap();
    let took = start.elapsed();
    let h = store.health();
    println!("100,000 states + 100,000 readings (200,000 points) in {took:?}; {h:?}");
    assert_eq!((h.dropped_readings, h.dropped_events, h.pending_checks), (0, 0, 0));
    let r = store.reader().unwrap();
    assert_eq!(r.readings(&paths[99_999], at(0), at(2)).unwrap().len(), 2);
    store.close().unwrap();
    let (_, restored) = Store::open(StoreConfig::in_dir(&dir.0)).unwrap();
    assert_eq!(restored.states.len(), 100_000);
}
