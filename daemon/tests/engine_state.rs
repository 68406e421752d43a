//! The engine's check state machine (SEMANTICS §7), virtual checks (§6) and events,
//! driven through their public API on virtual time.
//!
//! Scenarios are tables: each step is an input (a result, or an operator action) for
//! one check and what the check must look like afterwards.

use std::collections::HashMap;
use std::path::Path;

use bergamot_config::condition::{self, CheckRef, Member, PoolRef, Resolver};
use bergamot_config::status::Status;
use bergamot_daemon::engine::events::{Event, SkipReason, push_applied};
use bergamot_daemon::engine::state::{
    AlertIds, Applied, CheckState, Cover, DepStatus, FlapChange, FlapConfig, IntervalKind, Thresholds, Transition,
};
use bergamot_daemon::engine::virtuals::{IxResolver, Virtuals};
use bergamot_daemon::engine::{CheckIx, CheckResult};
use jiff::{SignedDuration, Timestamp};

fn t0() -> Timestamp {
    Timestamp::from_second(1_700_000_000).unwrap()
}

fn minute(n: i64) -> Timestamp {
    t0() + SignedDuration::from_mins(n)
}

fn st(s: &str) -> Status {
    s.parse().unwrap_or_else(|e| panic!("{e}"))
}

// ---------------------------------------------------------------------------------
// Scenario harness

/// Steps of a scenario: (input, expected), see [`run`].
type Steps = &'static [(&'static str, &'static str)];

/// Checks of a scenario: their names, and which depends on which.
struct World {
    names: Vec<&'static str>,
    states: Vec<CheckState>,
    deps: Vec<Vec<usize>>,
    th: Thresholds,
    flap: FlapConfig,
    ids: AlertIds,
}

impl World {
    /// `checks`: `name` or `name>dep` (name depends on dep, declared earlier).
    fn new(checks: &[&'static str], th: (u32, u32), initial: &str) -> Self {
        let mut w = World {
            names: Vec::new(),
            states: Vec::new(),
            deps: Vec::new(),
            th: Thresholds::from(th),
            flap: FlapConfig::default(),
            ids: AlertIds::new(),
        };
        for c in checks {
            let (name, dep) = match c.split_once('>') {
                Some((n, d)) => (n, Some(d)),
                None => (*c, None),
            };
            let dep = dep.map(|d| w.ix(d));
            w.names.push(name);
            w.states.push(CheckState::initial(st(initial), "", t0()));
            w.deps.push(dep.into_iter().collect());
        }
        w
    }

    fn ix(&self, name: &str) -> usize {
        self.names.iter().position(|n| *n == name).unwrap_or_else(|| panic!("no check {name}"))
    }

    fn dep_status(&self, i: usize) -> DepStatus {
        DepStatus::from_states(self.deps[i].iter().map(|&d| (CheckIx(d as u32), &self.states[d])))
    }

    fn result(&mut self, i: usize, status: Status, at: Timestamp) -> Applied {
        let deps = self.dep_status(i);
        let r = CheckResult::new(status, format!("{status} output"), at);
        let (th, flap) = (self.th, self.flap);
        self.states[i].apply(at, &r, th, deps, &flap, &mut self.ids)
    }
}

/// Runs `steps` of (`[check:]input`, expected). Inputs: a status (a result), `ack`,
/// `suppress`, `unsuppress`, `downtime`, `up` (downtime ends). Expected for a result:
/// `STATUS hard|soft ATTEMPT [alert|renotify|recovery [quiet|covered DEP]] [hard-change]`
/// (`hard-change` marks a hard change that is no alert or recovery); for an action:
/// `true` or `false`, what the method returned. The check defaults to the first.
fn run(name: &str, checks: &[&'static str], th: (u32, u32), initial: &str, steps: &[(&str, &str)]) {
    let mut w = World::new(checks, th, initial);
    let mut last_id = 0;
    for (n, (input, want)) in steps.iter().enumerate() {
        let at = minute(n as i64 + 1);
        let ctx = format!("{name}, step {} `{input}` (want `{want}`)", n + 1);
        let (check, action) = match input.split_once(':') {
            Some((c, a)) => (w.ix(c), a),
            None => (0, *input),
        };
        let s = &mut w.states[check];
        let returned = match action {
            "ack" => Some(s.acknowledge(at)),
            "suppress" => Some(s.set_suppressed(true)),
            "unsuppress" => Some(s.set_suppressed(false)),
            "downtime" => Some(s.set_in_downtime(true)),
            "up" => Some(s.set_in_downtime(false)),
            _ => None,
        };
        if let Some(got) = returned {
            assert_eq!(got.to_string(), *want, "{ctx}");
            continue;
        }
        let open_before = w.states[check].alert;
        let applied = w.result(check, st(action), at);
        let s = &w.states[check];
        let mut words = want.split_whitespace();
        let mut next = || words.next().unwrap_or("");
        let (status, hardness, attempt) = (next(), next(), next());
        assert_eq!(s.status, st(status), "{ctx}: status");
        assert_eq!(if s.hard { "hard" } else { "soft" }, hardness, "{ctx}: hard/soft");
        assert_eq!(s.attempt.to_string(), attempt, "{ctx}: attempt");
        let rest: Vec<&str> = std::iter::from_fn(|| Some(next())).take_while(|w| !w.is_empty()).collect();
        let hard_change = rest.contains(&"hard-change");
        let kind = rest.first().copied().filter(|k| *k != "hard-change");
        let quiet = rest.contains(&"quiet") || rest.contains(&"covered");
        let covered = rest.iter().position(|w| *w == "covered").map(|p| w.ix(rest[p + 1]));
        match (kind, applied.transition) {
            (None, None) => {}
            (Some("alert"), Some(Transition::Alert { alert_id, status: a_status, covered_by, notify })) => {
                assert!(alert_id > last_id, "{ctx}: alert ids increase");
                last_id = alert_id;
                assert_eq!(a_status, s.status, "{ctx}");
                assert_eq!(s.alert, Some(alert_id), "{ctx}: the alert is open");
                assert_eq!(notify, !quiet, "{ctx}: notify");
                let want_cover = covered.map(|d| Cover { check: CheckIx(d as u32), alert_id: w.states[d].alert });
                assert_eq!(covered_by, want_cover, "{ctx}: covered by");
            }
            (Some("renotify"), Some(Transition::Renotify { alert_id, status: r_status, notify })) => {
                assert_eq!(Some(alert_id), open_before, "{ctx}: renotifies the open alert");
                assert_eq!(r_status, s.status, "{ctx}");
                assert_eq!(notify, !quiet, "{ctx}: notify");
            }
            (Some("recovery"), Some(Transition::Recovery { alert_id, notify, .. })) => {
                assert_eq!(Some(alert_id), open_before, "{ctx}: recovers the open alert");
                assert_eq!(s.alert, None, "{ctx}: the alert is closed");
                assert_eq!(notify, !quiet, "{ctx}: notify");
            }
            (want, got) => panic!("{ctx}: transition {want:?}, got {got:?}"),
        }
        let alert_or_recovery = matches!(kind, Some("alert" | "recovery"));
        assert_eq!(applied.hard_changed, alert_or_recovery || hard_change, "{ctx}: hard_changed");
        // The interval follows the new state (§7).
        let interval = match (s.hard, s.ok) {
            (false, _) => IntervalKind::ChangingEvery,
            (true, true) => IntervalKind::Every,
            (true, false) => IntervalKind::RetryEvery,
        };
        assert_eq!(applied.interval, interval, "{ctx}: interval");
    }
}

// ---------------------------------------------------------------------------------
// §7 state machine

#[test]
fn semantics_scenarios() {
    // OK hard → CRIT (soft 1) → CRIT (hard, alert).
    run("2/2 failing", &["c"], (2, 2), "OK", &[("CRITICAL", "CRITICAL soft 1"), ("CRITICAL", "CRITICAL hard 2 alert")]);
    // CRIT hard → OK (soft 1) → CRIT (soft 1) → OK (soft 1) → OK (hard, recovery).
    run(
        "2/2 recovering",
        &["c"],
        (2, 2),
        "OK",
        &[
            ("CRITICAL", "CRITICAL soft 1"),
            ("CRITICAL", "CRITICAL hard 2 alert"),
            ("OK", "OK soft 1"),
            ("CRITICAL", "CRITICAL soft 1"),
            ("OK", "OK soft 1"),
            ("OK", "OK hard 2 recovery"),
        ],
    );
    // 3/3: OK → WARNING (soft 1) → WARNING (soft 2) → CRITICAL (hard, alert, CRITICAL).
    run(
        "3/3 worsening",
        &["c"],
        (3, 3),
        "OK",
        &[("WARNING", "WARNING soft 1"), ("WARNING", "WARNING soft 2"), ("CRITICAL", "CRITICAL hard 3 alert")],
    );
}

#[test]
fn state_machine_table() {
    let cases: &[(&str, (u32, u32), &str, Steps)] = &[
        // Same ok-ness while hard: only status and output change.
        (
            "hard ok keeps its attempt",
            (2, 2),
            "OK",
            &[("OK", "OK hard 1"), ("INFO", "INFO hard 1"), ("PENDING", "PENDING hard 1")],
        ),
        // A failed recovery returns to the problem without a new alert.
        (
            "aborted recovery",
            (2, 2),
            "OK",
            &[
                ("CRITICAL", "CRITICAL soft 1"),
                ("CRITICAL", "CRITICAL hard 2 alert"),
                ("OK", "OK soft 1"),
                ("CRITICAL", "CRITICAL soft 1"),
                ("CRITICAL", "CRITICAL hard 2"),
                ("CRITICAL", "CRITICAL hard 2"),
            ],
        ),
        // A soft blip does not alert.
        ("soft blip", (3, 3), "OK", &[("CRITICAL", "CRITICAL soft 1"), ("OK", "OK soft 1"), ("OK", "OK soft 2")]),
        ("thresholds 1/1", (1, 1), "OK", &[("CRITICAL", "CRITICAL hard 1 alert"), ("OK", "OK hard 1 recovery")]),
        (
            "thresholds 0/0 act as 1",
            (0, 0),
            "OK",
            &[("WARNING", "WARNING hard 1 alert"), ("INFO", "INFO hard 1 recovery")],
        ),
        // Asymmetric thresholds: failing at once, recovering slowly.
        (
            "thresholds 1/3",
            (1, 3),
            "OK",
            &[("ERROR", "ERROR hard 1 alert"), ("OK", "OK soft 1"), ("OK", "OK soft 2"), ("OK", "OK hard 3 recovery")],
        ),
        // Default initial state PENDING counts as ok: a first OK is no change at all.
        (
            "initial PENDING",
            (3, 3),
            "PENDING",
            &[
                ("OK", "OK hard 1"),
                ("CRITICAL", "CRITICAL soft 1"),
                ("CRITICAL", "CRITICAL soft 2"),
                ("CRITICAL", "CRITICAL hard 3 alert"),
            ],
        ),
        ("initial PENDING, first result fails", (1, 1), "PENDING", &[("CRITICAL", "CRITICAL hard 1 alert")]),
        // Decision: an initial not-ok state (<initially>) has no alert, so nothing
        // re-notifies and going ok is a hard change but no recovery.
        (
            "initial CRITICAL",
            (2, 2),
            "CRITICAL",
            &[
                ("CRITICAL", "CRITICAL hard 1"),
                ("ERROR", "ERROR hard 1"),
                ("OK", "OK soft 1"),
                ("OK", "OK hard 2 hard-change"),
                ("CRITICAL", "CRITICAL soft 1"),
                ("CRITICAL", "CRITICAL hard 2 alert"),
            ],
        ),
        // Worse than anything the alert had re-notifies; back and forth does not.
        (
            "worse re-notifies",
            (1, 1),
            "OK",
            &[
                ("WARNING", "WARNING hard 1 alert"),
                ("CRITICAL", "CRITICAL hard 1 renotify"),
                ("WARNING", "WARNING hard 1"),
                ("CRITICAL", "CRITICAL hard 1"),
                ("UNKNOWN", "UNKNOWN hard 1 renotify"),
                ("OK", "OK hard 1 recovery"),
                // A new alert starts from its own status.
                ("WARNING", "WARNING hard 1 alert"),
                ("CRITICAL", "CRITICAL hard 1 renotify"),
            ],
        ),
        // Worse while soft (recovering or failing) is no re-notification.
        (
            "worse while soft",
            (2, 2),
            "OK",
            &[
                ("WARNING", "WARNING soft 1"),
                ("CRITICAL", "CRITICAL hard 2 alert"),
                ("OK", "OK soft 1"),
                ("ERROR", "ERROR soft 1"),
                ("ERROR", "ERROR hard 2 renotify"),
            ],
        ),
    ];
    for (name, th, initial, steps) in cases {
        run(name, &["c"], *th, initial, steps);
    }
}

#[test]
fn acknowledgement_table() {
    let cases: &[(&str, (u32, u32), Steps)] = &[
        (
            "ack silences re-notification until the next hard change",
            (1, 1),
            &[
                ("ack", "false"),
                ("CRITICAL", "CRITICAL hard 1 alert"),
                ("ack", "true"),
                ("ack", "false"),
                ("UNKNOWN", "UNKNOWN hard 1 renotify quiet"),
                // Acknowledgement does not silence the recovery.
                ("OK", "OK hard 1 recovery"),
                ("ack", "false"),
                ("CRITICAL", "CRITICAL hard 1 alert"),
                ("ERROR", "ERROR hard 1 renotify"),
            ],
        ),
        (
            "a soft attempt keeps the acknowledgement",
            (2, 2),
            &[
                ("CRITICAL", "CRITICAL soft 1"),
                ("ack", "false"),
                ("CRITICAL", "CRITICAL hard 2 alert"),
                ("OK", "OK soft 1"),
                // Still the same problem while trying to recover.
                ("ack", "true"),
                ("CRITICAL", "CRITICAL soft 1"),
                ("CRITICAL", "CRITICAL hard 2"),
                ("UNKNOWN", "UNKNOWN hard 2 renotify quiet"),
                ("OK", "OK soft 1"),
                ("OK", "OK hard 2 recovery"),
                ("CRITICAL", "CRITICAL soft 1"),
                ("CRITICAL", "CRITICAL hard 2 alert"),
                ("UNKNOWN", "UNKNOWN hard 2 renotify"),
            ],
        ),
    ];
    for (name, th, steps) in cases {
        run(name, &["c"], *th, "OK", steps);
    }
}

#[test]
fn suppressed_and_downtime_table() {
    let cases: &[(&str, Steps)] = &[
        (
            "suppressed: recorded, nobody notified, nor of its recovery",
            &[
                ("suppress", "true"),
                ("suppress", "false"),
                ("CRITICAL", "CRITICAL hard 1 alert quiet"),
                ("UNKNOWN", "UNKNOWN hard 1 renotify quiet"),
                ("unsuppress", "true"),
                ("OK", "OK hard 1 recovery quiet"),
                ("CRITICAL", "CRITICAL hard 1 alert"),
            ],
        ),
        (
            "downtime: no alert, no recovery",
            &[
                ("CRITICAL", "CRITICAL hard 1 alert"),
                ("downtime", "true"),
                ("UNKNOWN", "UNKNOWN hard 1 renotify quiet"),
                ("OK", "OK hard 1 recovery quiet"),
                ("CRITICAL", "CRITICAL hard 1 alert quiet"),
                ("up", "true"),
                ("up", "false"),
                // Worse after the downtime: now someone is told.
                ("ERROR", "ERROR hard 1 renotify"),
                ("OK", "OK hard 1 recovery"),
            ],
        ),
    ];
    for (name, steps) in cases {
        run(name, &["c"], (1, 1), "OK", steps);
    }
}

#[test]
fn dependency_table() {
    let cases: &[(&str, (u32, u32), Steps)] = &[
        (
            "service waits for its host, then is covered by the host's alert",
            (2, 2),
            &[
                ("h:CRITICAL", "CRITICAL soft 1"),
                ("s:CRITICAL", "CRITICAL soft 1"),
                // At the threshold but the host is soft: the attempt stays there.
                ("s:CRITICAL", "CRITICAL soft 2"),
                ("s:CRITICAL", "CRITICAL soft 2"),
                ("h:CRITICAL", "CRITICAL hard 2 alert"),
                ("s:CRITICAL", "CRITICAL hard 2 alert covered h"),
                // The host recovering but soft: the service stays covered.
                ("h:OK", "OK soft 1"),
                ("s:CRITICAL", "CRITICAL hard 2"),
                ("h:OK", "OK hard 2 recovery"),
                // The host is back and this service is not: tell people now.
                ("s:CRITICAL", "CRITICAL hard 2 renotify"),
                ("s:OK", "OK soft 1"),
                ("s:OK", "OK hard 2 recovery"),
            ],
        ),
        (
            "covered alert and the dependency recover together: no recovery notice",
            (1, 1),
            &[
                ("h:DISCONNECTED", "DISCONNECTED hard 1 alert"),
                ("s:CRITICAL", "CRITICAL hard 1 alert covered h"),
                // Worse while covered: still nobody.
                ("s:UNKNOWN", "UNKNOWN hard 1 renotify covered h"),
                ("h:OK", "OK hard 1 recovery"),
                ("s:OK", "OK hard 1 recovery quiet"),
            ],
        ),
        (
            "threshold 1 with a soft host: soft 1, then hard once the host is",
            (1, 2),
            &[
                ("h:CRITICAL", "CRITICAL hard 1 alert"),
                ("h:OK", "OK soft 1"),
                ("s:CRITICAL", "CRITICAL soft 1"),
                ("s:CRITICAL", "CRITICAL soft 1"),
                ("h:OK", "OK hard 2 recovery"),
                ("s:CRITICAL", "CRITICAL hard 1 alert"),
            ],
        ),
        (
            "a host failing after its service alerted changes nothing for the service",
            (1, 1),
            &[
                ("s:CRITICAL", "CRITICAL hard 1 alert"),
                ("h:CRITICAL", "CRITICAL hard 1 alert"),
                ("s:CRITICAL", "CRITICAL hard 1"),
                ("s:OK", "OK hard 1 recovery"),
            ],
        ),
        (
            "chain: a service covered by a host covered by a switch",
            (1, 1),
            &[
                ("w:CRITICAL", "CRITICAL hard 1 alert"),
                ("h:CRITICAL", "CRITICAL hard 1 alert covered w"),
                ("s:CRITICAL", "CRITICAL hard 1 alert covered h"),
            ],
        ),
    ];
    for (name, th, steps) in cases {
        run(name, &["w", "h>w", "s>h"], *th, "OK", steps);
    }
}

#[test]
fn dep_status_from_states() {
    let ok = CheckState::initial(Status::Ok, "", t0());
    let crit = CheckState::initial(Status::Critical, "", t0());
    let mut soft = CheckState::initial(Status::Ok, "", t0());
    let r = CheckResult::new(Status::Critical, "", minute(1));
    soft.apply(minute(1), &r, Thresholds::new(3, 3), DepStatus::NONE, &FlapConfig::default(), &mut AlertIds::new());
    assert!(!soft.hard);

    assert_eq!(DepStatus::from_states([]), DepStatus::NONE);
    let d = DepStatus::from_states([(CheckIx(1), &ok), (CheckIx(2), &crit), (CheckIx(3), &crit)]);
    assert_eq!(d, DepStatus { all_hard: true, failed_dependency: Some(Cover { check: CheckIx(2), alert_id: None }) });
    let d = DepStatus::from_states([(CheckIx(1), &soft), (CheckIx(2), &ok)]);
    assert_eq!(d, DepStatus { all_hard: false, failed_dependency: None });
}

#[test]
fn flapping_holds_notifications_back() {
    let mut w = World::new(&["c"], (1, 1), "OK");
    let mut flaps = Vec::new();
    let mut notified = Vec::new();
    // Results 1..=10 alternate CRITICAL/OK, then OK from 11 to 27, CRITICAL at 28.
    for n in 1..=28 {
        let status = if (n <= 10 && n % 2 == 1) || n == 28 { Status::Critical } else { Status::Ok };
        let a = w.result(0, status, minute(n));
        if let Some(f) = a.flap {
            flaps.push((n, f));
        }
        match a.transition {
            Some(Transition::Alert { notify, .. } | Transition::Recovery { notify, .. }) => notified.push((n, notify)),
            Some(other) => panic!("result {n}: {other:?}"),
            None => {}
        }
        assert_eq!(w.states[0].flapping, (8..27).contains(&n), "result {n}");
    }
    // 7 changes of 20 (35%) start it; 4 (20%) is not below 20%, 3 (15%) stops it.
    assert_eq!(flaps, [(8, FlapChange::Started), (27, FlapChange::Stopped)]);
    let want: Vec<(i64, bool)> = (1..=10).map(|n| (n, n < 8)).chain([(28, true)]).collect();
    assert_eq!(notified, want);
}

#[test]
fn flapping_threshold_is_configurable() {
    let mut w = World::new(&["c"], (1, 1), "OK");
    w.flap = FlapConfig { high: 1.0, low: 0.5 };
    for n in 1..=40 {
        let status = if n % 2 == 1 { Status::Critical } else { Status::Ok };
        assert_eq!(w.result(0, status, minute(n)).flap, None, "result {n}");
    }
    assert_eq!(w.states[0].flap_share(), 1.0);
}

#[test]
fn state_keeps_output_and_times() {
    let mut s = CheckState::initial(Status::Pending, "waiting", t0());
    assert_eq!((s.output.as_str(), s.last_check), ("waiting", None));
    let mut r = CheckResult::new(Status::Critical, "down", minute(1));
    r.long_output = "line 2".into();
    r.perfdata = "'rta'=1ms".into();
    let (th, flap) = (Thresholds::new(2, 2), FlapConfig::default());
    let mut ids = AlertIds::starting_after(41);
    s.apply(minute(1), &r, th, DepStatus::NONE, &flap, &mut ids);
    assert_eq!((s.long_output.as_str(), s.perfdata.as_str()), ("line 2", "'rta'=1ms"));
    assert_eq!((s.last_check, s.last_change, s.last_hard_change), (Some(minute(1)), minute(1), t0()));
    let a = s.apply(
        minute(2),
        &CheckResult::new(Status::Critical, "still", minute(2)),
        th,
        DepStatus::NONE,
        &flap,
        &mut ids,
    );
    assert!(matches!(a.transition, Some(Transition::Alert { alert_id: 42, .. })), "{a:?}");
    assert_eq!((s.output.as_str(), s.long_output.as_str()), ("still", ""));
    assert_eq!((s.last_check, s.last_change, s.last_hard_change), (Some(minute(2)), minute(1), minute(2)));
    assert_eq!(s.last_hard_status, Status::Critical);
    assert_eq!(ids.next_id(), 43);
}

// ---------------------------------------------------------------------------------
// Events

#[test]
fn events_of_an_alert_and_a_recovery() {
    let mut w = World::new(&["c"], (2, 2), "OK");
    let ix = CheckIx(7);
    let mut events = Vec::new();
    for (n, status) in [(1, Status::Critical), (2, Status::Critical), (3, Status::Critical), (4, Status::Ok)] {
        let a = w.result(0, status, minute(n));
        push_applied(&mut events, ix, minute(n), &w.states[0], &a);
    }
    let lines: Vec<String> = events.iter().map(Event::to_string).collect();
    let t = |n: i64| minute(n).to_string();
    let want = [
        format!("{} check 7 result CRITICAL (soft 1): CRITICAL output", t(1)),
        format!("{} check 7 state OK -> CRITICAL (soft 1)", t(1)),
        format!("{} check 7 result CRITICAL (hard 2): CRITICAL output", t(2)),
        format!("{} check 7 state CRITICAL -> CRITICAL (hard 2)", t(2)),
        format!("{} check 7 alert #1 CRITICAL: CRITICAL output", t(2)),
        format!("{} check 7 result CRITICAL (hard 2): CRITICAL output", t(3)),
        format!("{} check 7 result OK (soft 1): OK output", t(4)),
        format!("{} check 7 state CRITICAL -> OK (soft 1)", t(4)),
    ];
    assert_eq!(lines, want);
    assert!(events.iter().all(|e| e.ix() == ix));
    assert_eq!(events.iter().map(Event::at).collect::<Vec<_>>()[4], minute(2));

    let json = serde_json::to_value(&events[4]).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"event": "alert", "ix": 7, "at": t(2), "alert_id": 1, "status": "CRITICAL",
            "output": "CRITICAL output", "covered_by": null, "notify": true})
    );
}

#[test]
fn other_events_display_and_serialize() {
    let at = minute(5);
    let ix = CheckIx(3);
    let cases: &[(Event, &str, serde_json::Value)] = &[
        (
            Event::Alert {
                ix,
                at,
                alert_id: 9,
                status: Status::Critical,
                output: "x".into(),
                covered_by: Some(Cover { check: CheckIx(1), alert_id: Some(4) }),
                notify: false,
            },
            "alert #9 CRITICAL (not notified): x [covered by check 1 alert #4]",
            serde_json::json!({"event": "alert", "covered_by": {"check": 1, "alert_id": 4}}),
        ),
        (
            Event::Recovery { ix, at, alert_id: 9, status: Status::Ok, notify: true },
            "recovery of alert #9 OK",
            serde_json::json!({"event": "recovery", "alert_id": 9, "status": "OK"}),
        ),
        (
            Event::Acknowledged { ix, at, alert_id: Some(9), by: "ann".into(), comment: "on it".into() },
            "acknowledged alert #9 by ann: on it",
            serde_json::json!({"event": "acknowledged", "by": "ann"}),
        ),
        (
            Event::Skipped { ix, at, reason: SkipReason::OutsideTimePeriod },
            "skipped: outside its time period",
            serde_json::json!({"event": "skipped", "reason": "outside-time-period"}),
        ),
        (Event::FlappingStarted { ix, at }, "started flapping", serde_json::json!({"event": "flapping-started"})),
    ];
    for (event, line, json) in cases {
        assert_eq!(event.to_string(), format!("{at} check 3 {line}"));
        let got = serde_json::to_value(event).unwrap();
        for (k, v) in json.as_object().unwrap() {
            assert_eq!(&got[k], v, "{line}: {k} in {got}");
        }
        assert_eq!(got["at"], at.to_string());
    }
}

// ---------------------------------------------------------------------------------
// Virtual checks

/// Members by name: `a`, `b`… are hosts, `x on a` services; pool `p` holds hosts whose
/// name starts with `p`. Ids are positions (as `CheckIx`).
struct Names(Vec<&'static str>);

impl Resolver for Names {
    type Id = CheckIx;

    fn check(&self, r: &CheckRef) -> Option<CheckIx> {
        let key = match &r.on {
            Some(on) => format!("{} on {on}", r.name),
            None => r.name.clone(),
        };
        self.0.iter().position(|n| *n == key).map(|i| CheckIx(i as u32))
    }

    fn pool(&self, p: &PoolRef) -> Vec<CheckIx> {
        (0..self.0.len()).filter(|&i| self.0[i].starts_with(&p.pool)).map(|i| CheckIx(i as u32)).collect()
    }
}

fn bind(names: &Names, text: &str) -> condition::Resolved<CheckIx> {
    let c = condition::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    condition::resolve(&c, names).unwrap_or_else(|e| panic!("{text}: {e:?}"))
}

/// `"a=CRITICAL b=OK/ack c=WARNING/soft"` into members by name.
fn members(spec: &str) -> HashMap<&str, Member> {
    spec.split_whitespace()
        .map(|m| {
            let (name, rest) = m.split_once('=').unwrap();
            let mut parts = rest.split('/');
            let mut member = Member::hard(st(parts.next().unwrap()));
            for flag in parts {
                match flag {
                    "ack" => member.acknowledged = true,
                    "down" => member.in_downtime = true,
                    "supp" => member.suppressed = true,
                    "soft" => member.hard = false,
                    other => panic!("flag {other}"),
                }
            }
            (name, member)
        })
        .collect()
}

#[test]
fn recompute_each_condition_form() {
    let names = Names(vec!["a", "b", "c", "pa", "pb", "v", "http on a", "http on b"]);
    let v = CheckIx(5);
    let cases: &[(&str, &str, &str, bool)] = &[
        ("host 'a' or host 'b'", "a=CRITICAL b=WARNING", "WARNING", true),
        ("host 'a' and host 'b'", "a=CRITICAL b=WARNING", "CRITICAL", true),
        ("host 'a' xor host 'b'", "a=OK b=WARNING", "OK", true),
        ("not host 'a'", "a=OK", "CRITICAL", true),
        ("all of [host 'a', host 'b', host 'c']", "a=OK b=WARNING c=INFO", "WARNING", true),
        ("any of [host 'a', host 'b', host 'c']", "a=CRITICAL b=WARNING c=INFO", "INFO", true),
        ("two of [host 'a', host 'b', host 'c']", "a=OK b=OK c=CRITICAL", "OK", true),
        ("two or more of [host 'a', host 'b', host 'c'] as WARNING", "a=OK b=ERROR c=CRITICAL", "WARNING", true),
        ("one or less of [host 'a', host 'b']", "a=OK b=OK", "CRITICAL", true),
        ("majority of [host 'a', host 'b', host 'c']", "a=OK b=OK c=CRITICAL", "WARNING", true),
        ("quorum of [host 'a', host 'b', host 'c'] as INFO, ERROR", "a=OK b=ERROR c=CRITICAL", "ERROR", true),
        ("count critical of [host 'a', host 'b', host 'c'] >= 2", "a=CRITICAL b=OK c=CRITICAL", "OK", true),
        ("count of [host 'a', host 'b'] == 2 as UNKNOWN", "a=CRITICAL b=OK", "UNKNOWN", true),
        ("case when host 'a' is CRITICAL then WARNING else OK end", "a=CRITICAL", "WARNING", true),
        ("all of hosts in pool 'p'", "pa=OK pb=TIMEOUT", "TIMEOUT", true),
        // Hard only when every member is: b is soft even though it does not decide.
        ("host 'a' or host 'b'", "a=OK b=CRITICAL/soft", "OK", false),
        // Acknowledged, suppressed or in downtime members count as OK.
        ("host 'a' and host 'b'", "a=CRITICAL/ack b=OK", "OK", true),
        ("all of [host 'a', host 'b', host 'c']", "a=CRITICAL/supp b=UNKNOWN/down c=OK", "OK", true),
    ];
    for (text, spec, want, hard) in cases {
        let vs = Virtuals::new([(v, bind(&names, text))]);
        let m = members(spec);
        let lookup = |ix: CheckIx| m[names.0[ix.index()]];
        let got = vs.recompute(v, lookup).unwrap();
        assert_eq!((got.status, got.hard), (st(want), *hard), "{text} with {spec}");
        for &member in vs.members(v) {
            assert_eq!(vs.affected(member).collect::<Vec<_>>(), [v], "{text}");
        }
    }
    assert_eq!(Virtuals::new([]).recompute(v, |_| Member::hard(Status::Ok)), None);
}

#[test]
fn affected_in_dependency_order_and_cycles_terminate() {
    let names = Names(vec!["a", "b", "big", "c1", "x", "y", "z", "d", "r"]);
    let ix = |n: &str| CheckIx(names.0.iter().position(|x| *x == n).unwrap() as u32);
    let vs = Virtuals::new([
        // `big` has the smaller index but depends on c1 (directly and through r).
        (ix("big"), bind(&names, "host 'c1' and host 'd' and host 'r'")),
        (ix("r"), bind(&names, "host 'c1' or host 'b'")),
        (ix("c1"), bind(&names, "host 'a' or host 'b'")),
        // x ↔ y is a cycle; z depends on it.
        (ix("x"), bind(&names, "host 'y' or host 'a'")),
        (ix("y"), bind(&names, "host 'x'")),
        (ix("z"), bind(&names, "host 'y' and host 'd'")),
    ]);
    let affected = |m: &str| vs.affected(ix(m)).map(|v| names.0[v.index()]).collect::<Vec<_>>();
    let cases: &[(&str, &[&str])] = &[
        ("a", &["c1", "r", "big", "x", "y", "z"]),
        ("b", &["c1", "r", "big"]),
        ("d", &["big", "z"]),
        ("c1", &["r", "big"]),
        ("r", &["big"]),
        ("y", &["x", "y", "z"]),
        ("big", &[]),
        ("z", &[]),
    ];
    for (member, want) in cases {
        assert_eq!(affected(member), *want, "affected by {member}");
    }
    assert_eq!(vs.unordered(), [ix("x"), ix("y"), ix("z")]);
    let order: Vec<&str> = vs.iter().map(|v| names.0[v.index()]).collect();
    assert_eq!(order, ["c1", "r", "big", "x", "y", "z"]);
    assert_eq!(vs.members(ix("big")), [ix("c1"), ix("d"), ix("r")]);
    assert!(vs.members(ix("a")).is_empty());
    assert!(vs.is_virtual(ix("z")) && !vs.is_virtual(ix("a")));
    assert_eq!((vs.len(), vs.is_empty()), (6, false));
}

/// Members and a cluster driven together: members' states feed the cluster's
/// evaluation, which goes through `apply_virtual`.
#[test]
fn virtual_check_alerts_on_its_hard_state() {
    let names = Names(vec!["a", "b", "cl"]);
    let cl = CheckIx(2);
    let vs = Virtuals::new([(cl, bind(&names, "host 'a' or host 'b'"))]);
    let mut states: Vec<CheckState> = (0..3).map(|_| CheckState::initial(Status::Ok, "", t0())).collect();
    let (th, flap) = (Thresholds::new(2, 2), FlapConfig::default());
    let mut ids = AlertIds::new();
    // (input, cluster status, cluster hard, transition)
    let steps: &[(&str, &str, bool, &str)] = &[
        ("a:CRITICAL", "OK", false, "-"),
        ("a:CRITICAL", "OK", true, "-"),
        ("b:CRITICAL", "CRITICAL", false, "-"),
        ("b:CRITICAL", "CRITICAL", true, "alert"),
        ("b:UNKNOWN", "CRITICAL", true, "-"),
        // An acknowledged member counts as OK: the cluster recovers.
        ("a:ack", "OK", true, "recovery"),
        ("a:OK", "OK", false, "-"),
    ];
    for (n, (input, want, want_hard, want_tr)) in steps.iter().enumerate() {
        let at = minute(n as i64 + 1);
        let (name, action) = input.split_once(':').unwrap();
        let m = names.0.iter().position(|x| x == &name).unwrap();
        if action == "ack" {
            assert!(states[m].acknowledge(at));
        } else {
            states[m].apply(at, &CheckResult::new(st(action), "", at), th, DepStatus::NONE, &flap, &mut ids);
        }
        let affected: Vec<CheckIx> = vs.affected(CheckIx(m as u32)).collect();
        assert_eq!(affected, [cl]);
        let e = vs.recompute(cl, |ix| states[ix.index()].member()).unwrap();
        let a = states[2].apply_virtual(at, e.status, "from members", e.hard, &flap, &mut ids);
        let ctx = format!("step {} {input}", n + 1);
        assert_eq!((states[2].status, states[2].hard, states[2].attempt), (st(want), *want_hard, 1), "{ctx}");
        let tr = match a.transition {
            None => "-",
            Some(Transition::Alert { notify: true, covered_by: None, .. }) => "alert",
            Some(Transition::Recovery { notify: true, .. }) => "recovery",
            Some(other) => panic!("{ctx}: {other:?}"),
        };
        assert_eq!(tr, *want_tr, "{ctx}");
    }
}

/// The mapping helper with the real model: conditions of the clusters example bound
/// to engine indices (CheckId n → CheckIx 1000 + n).
#[test]
fn ix_resolver_binds_the_model_to_engine_indices() {
    use bergamot_config::bind::ConditionModel;
    use bergamot_config::props::Key;
    use bergamot_config::raw::Kind;

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/examples/clusters");
    let outcome = bergamot_config::load_model(&dir);
    let site = &outcome.model.sites[0];
    let to_ix = |id: bergamot_config::model::CheckId| CheckIx(1000 + id.0);
    let resolver = IxResolver::new(ConditionModel { site }, to_ix);
    let mut list = Vec::new();
    for (n, loc) in site.checks.iter().enumerate() {
        if !matches!(loc.kind, Kind::Cluster | Kind::Resource) {
            continue;
        }
        let id = bergamot_config::model::CheckId(n as u32);
        let (obj, _) = site.check(id).unwrap();
        let text = obj.props.text(Key::Condition).unwrap();
        let c = condition::parse(text).unwrap();
        list.push((to_ix(id), condition::resolve(&c, &resolver).unwrap()));
    }
    let vs = Virtuals::new(list);
    assert_eq!(vs.len(), 6);
    let find = |kind, name, on| to_ix(site.find_check(kind, name, on).unwrap());
    let cluster = find(Kind::Cluster, "pgsql.cluster", None);
    let pgsql1 = find(Kind::Host, "pgsql1.local", None);
    assert_eq!(vs.members(cluster), [pgsql1, find(Kind::Host, "pgsql2.local", None)]);
    assert_eq!(vs.affected(pgsql1).collect::<Vec<_>>(), [cluster]);
    let listener = find(Kind::Service, "listener-pgsql", Some("pgsql1.local"));
    let resource = find(Kind::Resource, "listener-pgsql", Some("pgsql.cluster"));
    assert_eq!(vs.affected(listener).collect::<Vec<_>>(), [resource]);
    // The pool condition of web.cluster names every web host.
    let web = find(Kind::Cluster, "web.cluster", None);
    assert!(vs.members(web).contains(&find(Kind::Host, "web1.local", None)), "{:?}", vs.members(web));
    assert!(vs.unordered().is_empty());
}
