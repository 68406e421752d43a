//! Scenario tests of restoring the state saved before a restart and of reloading a
//! changed plan while checks are in flight (`Engine::restore`, `Engine::reload`), on
//! the virtual time of the `engine.rs` harness.
//!
//! Not the store that saves the states nor the driver that reloads: the saved states
//! are taken from a first engine by path, and a reload is done as the driver does it
//! (results of runs in flight follow the returned index map).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bergamot_config::status::Status;
use bergamot_daemon::engine::core::{Engine, EngineConfig};
use bergamot_daemon::engine::ops::{Downtime, ReloadStats};
use bergamot_daemon::engine::schedule::{first_due, spread};
use bergamot_daemon::engine::state::CheckState;
use bergamot_daemon::engine::{CheckIx, CheckResult};
use bergamot_daemon::plan::Plan;
use jiff::{SignedDuration, Timestamp};

use super::{full, mins};
use crate::{World, capped, host, plan, plugin_host, secs, t0};

impl World {
    /// The phase slot the first run of `path` takes in `interval` from `now`: where a
    /// fresh start puts it.
    fn fresh_slot(&self, path: &str, now: Timestamp, interval: Duration) -> Timestamp {
        let key = self.plan.get(self.ix(path)).unwrap().key;
        first_due(now, spread(key, interval), interval, None).unwrap().at
    }

    /// Swaps in the plan of `body` as the driver does: runs in flight of kept checks
    /// finish under their new index, those of removed checks are dropped. Events
    /// before the reload are forgotten (their indices are the old plan's).
    fn reload(&mut self, body: &str) -> (Vec<Option<CheckIx>>, ReloadStats) {
        let config = self.engine.config().clone();
        self.reload_with(body, config)
    }

    fn reload_with(&mut self, body: &str, config: EngineConfig) -> (Vec<Option<CheckIx>>, ReloadStats) {
        let new_plan = plan(body);
        let placeholder = Engine::new(Arc::new(Plan::empty()), self.now, config.clone());
        let old = std::mem::replace(&mut self.engine, placeholder);
        let (engine, remap, stats) = old.reload(new_plan.clone(), self.now, config);
        self.engine = engine;
        let n = new_plan.len();
        let (mut probe, mut running, mut starts) = (vec![SignedDuration::ZERO; n], vec![false; n], vec![Vec::new(); n]);
        for (old, new) in remap.iter().enumerate() {
            if let Some(new) = new {
                probe[new.index()] = self.probe[old];
                running[new.index()] = self.running[old];
                starts[new.index()] = std::mem::take(&mut self.starts[old]);
            }
        }
        (self.probe, self.running, self.starts) = (probe, running, starts);
        self.answers = self.answers.drain().filter_map(|(ix, a)| Some((remap[ix.index()]?, a))).collect();
        self.finishing = self
            .finishing
            .drain()
            .filter_map(|std::cmp::Reverse((t, o, ix))| Some(std::cmp::Reverse((t, o, remap[ix.index()]?))))
            .collect();
        self.paths = (0..n as u32)
            .map(|i| (new_plan.path(CheckIx(i)).split_once('/').unwrap().1.to_string(), CheckIx(i)))
            .collect();
        self.plan = new_plan;
        self.events.clear();
        self.engine.drain_events(&mut self.events);
        (remap, stats)
    }

    /// Runs until `t`, checking that at most `cap` checks are in flight at once.
    fn run_accounted_cap(&mut self, t: Timestamp, cap: usize) {
        while self.step(t) {
            let running = self.running.iter().filter(|r| **r).count();
            assert!(running <= cap, "{running} in flight at {}", self.now);
        }
    }
}

// ---------------------------------------------------------------------------------
// 1. Restore after a restart

#[test]
fn restored_states_continue_where_they_were_and_resume_spread_out() {
    const N: usize = 40;
    let sched =
        r#"<schedule every="5m" retry-every="1m" changing-every="1m"/><state failed-after="1" recovers-after="1"/>"#;
    let mut body: String = (0..N).map(|i| host(&format!("h{i}"), sched)).collect();
    body += r#"<cluster name="c"><condition>all of [host 'h1', host 'h39']</condition></cluster>"#;
    let plan = plan(&body);
    let mut w = World::with(plan.clone(), t0(), EngineConfig::default());
    // h0..h29 go hard CRITICAL with an alert; the even ones are acknowledged; h30..h39
    // stay OK. h1 was in a downtime when saved.
    for i in 0..30 {
        w.script(&format!("host/h{i}"), "CRITICAL");
    }
    w.run_for(mins(10));
    for i in (0..30).step_by(2) {
        w.act(|e, now| e.acknowledge(now, &full(&format!("host/h{i}")), "ann", "")).unwrap();
    }
    w.act(|e, now| e.add_downtime(now, Downtime { id: 1, path: full("host/h1"), from: now, to: now + mins(30) }))
        .unwrap();
    let last_alert_id = (0..30).map(|i| w.state(&format!("host/h{i}")).alert.unwrap()).max().unwrap();
    // Saved: h0..h19 and h30..h34, the cluster not.
    let saved: HashMap<String, CheckState> = (0..20)
        .chain(30..35)
        .map(|i| w.ix(&format!("host/h{i}")))
        .map(|ix| (plan.path(ix), w.engine.state(ix).unwrap().clone()))
        .collect();

    let later = t0() + SignedDuration::new(3 * 3600 + 17, 250_000_000);
    let mut r = World::with(plan.clone(), later, EngineConfig::default());
    let fresh = Engine::new(plan.clone(), later, EngineConfig::default());
    let restored = r.act(|e, now| e.restore(now, &saved, last_alert_id));
    assert_eq!(restored, 25);
    assert!(r.events.is_empty(), "restoring tells nothing: {:?}", r.events);
    let mut first_runs = Vec::new();
    for i in 0..N {
        let path = format!("host/h{i}");
        let ix = r.ix(&path);
        let s = r.state(&path);
        match saved.get(&plan.path(ix)) {
            Some(was) if i == 1 => {
                assert!(was.in_downtime && !s.in_downtime, "no downtime now");
                assert_eq!(CheckState { in_downtime: true, ..s.clone() }, *was);
            }
            Some(was) => assert_eq!(s, was, "{path}"),
            None => assert_eq!(s, fresh.state(ix).unwrap(), "{path} keeps its initial state"),
        }
        if saved.contains_key(&plan.path(ix)) {
            // On its phase in the interval of its state, as a fresh start would be.
            let interval = Duration::from_secs(if s.ok { 300 } else { 60 });
            let due = r.engine.next_due(ix).unwrap();
            assert_eq!(due, r.fresh_slot(&path, later, interval), "{path}");
            first_runs.push(due);
        }
    }
    first_runs.sort();
    first_runs.dedup();
    assert!(first_runs.len() >= 20, "first runs spread, not all at once: {first_runs:?}");
    assert!(first_runs.iter().all(|t| *t >= later && *t < later + mins(5)));
    // The cluster, not saved, starts from the restored members without an alert.
    let c = r.state("cluster/c");
    assert_eq!((c.status, c.hard, c.alert), (Status::Critical, true, None), "{c:?}");

    // Runs go on from the restored states.
    r.script("host/h0", "UNKNOWN");
    r.script("host/h1", "OK");
    r.script("host/h2", "CRITICAL");
    r.script("host/h30", "CRITICAL");
    r.run_for(mins(6));
    let h0_alert = saved[&plan.path(r.ix("host/h0"))].alert.unwrap();
    let h1_alert = saved[&plan.path(r.ix("host/h1"))].alert.unwrap();
    assert_eq!(r.told("host/h0", 0), [("renotify", h0_alert, None, false)], "acknowledged");
    assert_eq!(r.told("host/h1", 0), [("recovery", h1_alert, None, true)]);
    assert!(r.told("host/h2", 0).is_empty(), "still failing: nothing new");
    let told = r.told("host/h30", 0);
    assert!(matches!(told[..], [("alert", id, None, true)] if id > last_alert_id), "{told:?}");
    // Not saved: h20 starts from PENDING, so its OK is no news.
    assert!(r.told("host/h20", 0).is_empty());
}

// ---------------------------------------------------------------------------------
// 2. Reload

/// Services every 10 minutes, hard at once.
const TEN: &str =
    r#"<schedule every="10m" retry-every="10m" changing-every="10m"/><state failed-after="1" recovers-after="1"/>"#;

fn service(name: &str, command: &str, schedule: &str) -> String {
    format!("<service name=\"{name}\"><check-command command=\"{command}\"/>{schedule}</service>")
}

/// host srv with `services`, and `clusters`.
fn reload_site(services: &[String], clusters: &str) -> String {
    format!("<host name=\"srv\"><check-command command=\"dummy\"/>{TEN}{}</host>\n{clusters}", services.concat())
}

#[test]
fn a_reload_keeps_state_due_times_and_runs_in_flight_of_unchanged_checks() {
    let hourly = r#"<schedule every="1h" retry-every="1h" changing-every="1h"/>"#;
    let old = reload_site(
        &[
            service("a", "dummy", TEN),
            service("b", "dummy", TEN),
            service("c", "dummy", TEN),
            service("e", "dummy", hourly),
            service("f", "dummy", TEN),
            service("g", "dummy", TEN),
        ],
        r#"<cluster name="k"><condition>all of [service 'a' on host 'srv', service 'b' on host 'srv']</condition></cluster>"#,
    );
    let new = reload_site(
        &[
            service("a", "plugin", TEN),
            service("c", "dummy", TEN),
            service("d", "dummy", TEN),
            service("e", "dummy", r#"<schedule every="1m"/>"#),
            service("f", "dummy", TEN),
            service("g", "dummy", TEN).replace("<service name=\"g\"", "<service name=\"g\" enabled=\"no\""),
        ],
        r#"<cluster name="k"><condition>all of [service 'a' on host 'srv', service 'd' on host 'srv']</condition></cluster>
<cluster name="n"><condition>all of [service 'f' on host 'srv']</condition></cluster>"#,
    );
    let g = "host/srv/service/g";
    let (a, b, c, d, e, f) = (
        "host/srv/service/a",
        "host/srv/service/b",
        "host/srv/service/c",
        "host/srv/service/d",
        "host/srv/service/e",
        "host/srv/service/f",
    );
    let mut w = World::new(&old);
    w.script(b, "CRITICAL");
    w.script(f, "CRITICAL");
    w.run_for(mins(30));
    assert!(w.hard_not_ok(b) && w.hard_not_ok(f) && w.hard_not_ok("cluster/k"));
    let k_alert = w.state("cluster/k").alert.unwrap();
    let max_alert = [b, f, "cluster/k"].iter().map(|p| w.state(p).alert.unwrap()).max().unwrap();
    let to = w.now + SignedDuration::from_hours(2);
    w.act(|e, now| e.add_downtime(now, Downtime { id: 5, path: full(c), from: now, to })).unwrap();
    // b, c and g start now and take 5 minutes; the reload comes in the middle.
    for p in [b, c, g] {
        w.set_probe(p, mins(5));
    }
    let c_slot = w.engine.next_due(w.ix(c)).unwrap();
    let started = w.now;
    w.act(|e, now| e.recheck(now, &full(b))).unwrap();
    w.act(|e, now| e.recheck(now, &full(c))).unwrap();
    w.act(|e, now| e.recheck(now, &full(g))).unwrap();
    w.poll();
    w.run_until(started + mins(1));
    assert!(w.engine.is_running(w.ix(b)) && w.engine.is_running(w.ix(c)));
    let kept = ["host/srv", a, c, e, f, "cluster/k"];
    let before: HashMap<&str, (CheckState, Option<Timestamp>)> =
        kept.iter().map(|p| (*p, (w.state(p).clone(), w.engine.next_due(w.ix(p))))).collect();
    let (old_b, old_a) = (w.ix(b), w.ix(a));
    let before_g = w.state(g).clone();
    w.script(g, "CRITICAL");
    let h = w.engine.health();

    let (remap, stats) = w.reload(&new);
    assert_eq!(stats, ReloadStats { kept: 7, added: 2, removed: 1 });
    // The daemon's health counts go on: runs in flight were counted when they started.
    let counts = |h: &bergamot_daemon::engine::core::EngineHealth| {
        (h.due, h.started, h.completed, h.skipped_late, h.results.clone(), h.lateness.count)
    };
    let after = w.engine.health();
    assert_eq!(counts(&after), counts(&h), "health counts go on across the reload");
    assert!(h.completed > 0 && after.in_flight == 1, "c still runs: {after:?}");
    // Changes not yet saved by the store are not lost.
    let mut changed = Vec::new();
    w.engine.drain_changed(&mut changed);
    assert!(changed.contains(&w.ix(f)) && changed.contains(&w.ix(c)), "{changed:?}");
    assert_eq!(remap[old_b.index()], None);
    assert_eq!(remap[old_a.index()], Some(w.ix(a)));
    for p in kept {
        let (state, due) = &before[p];
        if p == "cluster/k" {
            continue;
        }
        assert_eq!(w.state(p), state, "{p} keeps its state");
        if p != e {
            assert_eq!(w.engine.next_due(w.ix(p)), *due, "{p} keeps its next due time");
        }
    }
    // e's every went from 1 h to 1 min: it does not wait for its old hourly slot.
    let e_due = w.engine.next_due(w.ix(e)).unwrap();
    assert!(e_due <= w.now + mins(1), "{e_due}");
    // c is still running: no second run, its result applies when it comes.
    assert!(w.engine.is_running(w.ix(c)) && w.engine.next_due(w.ix(c)).is_none());
    // d is new: spread within its interval.
    assert_eq!(w.engine.next_due(w.ix(d)), Some(w.fresh_slot(d, w.now, Duration::from_secs(600))));
    // Downtimes and alert ids carry over; the cluster is recomputed from its new
    // members (a and d are fine: recovery of its alert); the new cluster over a
    // failing member starts failing, without an alert.
    assert_eq!(w.engine.downtimes().iter().map(|d| (d.id, d.to)).collect::<Vec<_>>(), [(5, to)]);
    assert!(w.state(c).in_downtime);
    assert!(w.hard_ok("cluster/k"));
    assert_eq!(w.told("cluster/k", 0), [("recovery", k_alert, None, true)]);
    let n = w.state("cluster/n");
    assert_eq!((n.status, n.hard, n.alert), (Status::Critical, true, None));
    assert!(w.told("cluster/n", 0).is_empty());

    // c's run finishes under its new index; its next run is back on its slot.
    w.script(c, "WARNING");
    w.run_until(started + mins(5));
    assert_eq!(w.state(c).status, Status::Warning);
    assert!(matches!(w.told(c, 0)[..], [("alert", id, None, false)] if id > max_alert), "{:?}", w.told(c, 0));
    let slot_after = if c_slot > w.now { c_slot } else { c_slot + mins(10) };
    assert_eq!(w.engine.next_due(w.ix(c)), Some(slot_after));
    assert_eq!(w.runs(c).iter().filter(|t| **t > started).count(), 0, "no second run");
    // g, disabled by the reload, finished too: its result is dropped, it never runs again.
    let g_state = before_g.clone();
    assert_eq!((w.state(g), w.engine.is_running(w.ix(g))), (&g_state, false));
    w.run_for(mins(30));
    assert!(w.runs(d).len() >= 3);
    assert!(w.runs(g).iter().all(|t| *t <= started) && w.engine.next_due(w.ix(g)).is_none());
    assert_eq!(w.engine.health().lateness.max, 0, "no check became late: {:?}", w.engine.health());

    // A result for a check that is not running (b's, had the driver mapped it
    // anywhere) changes nothing.
    let mark = w.events.len();
    let (dix, d_state) = (w.ix(d), w.state(d).clone());
    w.engine.handle_result(w.now, dix, CheckResult::new(Status::Critical, "stray", w.now));
    w.engine.drain_events(&mut w.events);
    assert_eq!((w.events.len(), w.state(d)), (mark, &d_state));
}

#[test]
fn a_reload_starts_checks_waiting_for_a_cap_and_keeps_the_cap() {
    let body = plugin_host("p1", "plugin", 0) + &plugin_host("p2", "plugin", 0) + &plugin_host("p3", "plugin", 0);
    let mut w = World::with(plan(&body), t0(), capped(1, 8));
    w.set_probe("host/", secs(10));
    w.run_for(mins(3));
    w.run_until_true(mins(1), "nothing in flight", |w| w.running.iter().all(|r| !r));
    let t = w.now;
    for p in ["host/p1", "host/p2", "host/p3"] {
        w.act(|e, now| e.recheck(now, &full(p))).unwrap();
    }
    w.poll();
    assert_eq!(w.engine.health().queued, 2, "{:?}", w.engine.health());
    w.run_until(t + secs(5));
    w.reload(&body);
    // The one in flight is adopted (cap 1 still holds); the two waiting still run, in turn.
    w.run_accounted_cap(t + mins(5), 1);
    for p in ["host/p1", "host/p2", "host/p3"] {
        let runs: Vec<Timestamp> = w.runs(p).iter().copied().filter(|r| *r >= t).collect();
        assert!(runs.len() >= 4, "{p}: {runs:?}");
    }

    // Raised caps: the waiting runs start at the reload, not at the next due check.
    w.run_until_true(mins(1), "nothing in flight", |w| w.running.iter().all(|r| !r));
    let t = w.now;
    for p in ["host/p1", "host/p2", "host/p3"] {
        w.act(|e, now| e.recheck(now, &full(p))).unwrap();
    }
    w.poll();
    w.run_until(t + secs(5));
    w.reload_with(&body, capped(3, 8));
    w.run_until(t + secs(6));
    let starts: Vec<usize> = ["host/p1", "host/p2", "host/p3"]
        .iter()
        .map(|p| w.runs(p).iter().filter(|r| **r == t || **r == t + secs(5)).count())
        .collect();
    assert_eq!(starts.iter().sum::<usize>(), 3, "one at the re-check, two at the reload: {starts:?}");
    assert!(starts.iter().all(|n| *n == 1), "{starts:?}");
}

#[test]
fn a_reload_of_ten_thousand_checks_keeps_them_all() {
    let body: String = (0..10_000).map(|i| host(&format!("h{i}"), r#"<schedule every="5m"/>"#)).collect();
    let mut w = World::new(&body);
    w.run_for(mins(1));
    let due: Vec<Option<Timestamp>> = (0..10_000).map(|i| w.engine.next_due(CheckIx(i))).collect();
    let (remap, stats) = w.reload(&format!("{body}{}", host("extra", "")));
    assert_eq!(stats, ReloadStats { kept: 10_000, added: 1, removed: 0 });
    assert!(remap.iter().all(Option::is_some));
    for (i, d) in due.iter().enumerate() {
        assert_eq!(w.engine.next_due(remap[i].unwrap()), *d);
    }
    let reloaded = w.now;
    w.run_for(mins(5));
    for i in 0..w.plan.len() {
        assert!(w.starts[i].iter().any(|t| *t > reloaded), "{} ran after the reload", w.name(CheckIx(i as u32)));
    }
}
