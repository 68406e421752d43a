//! Scenario tests of what happens to the engine besides results (`engine::ops`), on
//! the virtual time of the `engine.rs` harness: operator actions (acknowledge,
//! suppress, re-check now) and downtimes (SEMANTICS §7–8); in [`reload`], restoring
//! the state saved before a restart and reloading a changed plan.
//!
//! Not the state machine's own tables (`engine_state.rs`) nor the store or the API
//! that call these operations: here an operator's action is a call at the world's
//! `now`.

use bergamot_config::status::Status;
use bergamot_daemon::engine::core::Engine;
use bergamot_daemon::engine::events::Event;
use bergamot_daemon::engine::ops::{ActionError, Downtime};
use jiff::{SignedDuration, Timestamp};

use super::{World, host, secs, t0};

#[path = "reload.rs"]
mod reload;

/// Every minute in every state; hard at the first result either way.
const ONE: &str =
    r#"<schedule every="1m" retry-every="1m" changing-every="1m"/><state failed-after="1" recovers-after="1"/>"#;

fn mins(n: i64) -> SignedDuration {
    secs(60 * n)
}

/// The engine's path of a harness path (`host/a` → `t/host/a`).
fn full(path: &str) -> String {
    format!("t/{path}")
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

impl World {
    /// Calls an engine operation at the world's `now` and collects its events.
    fn act<T>(&mut self, f: impl FnOnce(&mut Engine, Timestamp) -> T) -> T {
        let r = f(&mut self.engine, self.now);
        self.engine.drain_events(&mut self.events);
        r
    }

    /// Runs until `t`, recording each instant the `in_downtime` flag of `path` changed.
    fn watch_downtime(&mut self, path: &str, t: Timestamp, flips: &mut Vec<(Timestamp, bool)>) {
        let mut was = self.state(path).in_downtime;
        while self.step(t) {
            let now = self.state(path).in_downtime;
            if now != was {
                flips.push((self.now, now));
                was = now;
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// 1. Acknowledge

#[test]
fn an_acknowledgement_silences_the_open_alert_until_the_next_hard_change() {
    let body = host("a", ONE)
        + &host("fine", ONE)
        + r#"<cluster name="ca"><condition>all of [host 'a']</condition></cluster>"#;
    let mut w = World::new(&body);
    w.script("host/a", "WARNING");
    w.run_until_true(mins(2), "a hard down", |w| w.hard_not_ok("host/a"));
    let [("alert", alert, None, true)] = w.told("host/a", 0)[..] else { panic!("{:?}", w.told("host/a", 0)) };
    assert!(w.hard_not_ok("cluster/ca"));

    let mark = w.events.len();
    let acked = w.act(|e, now| e.acknowledge(now, &full("host/a"), "ann", "on it"));
    assert_eq!(acked, Ok(Some(alert)));
    let ack: Vec<&Event> = w.events_of("host/a", mark).collect();
    assert!(
        matches!(ack[..], [Event::Acknowledged { alert_id: Some(id), by, comment, at, .. }]
            if *id == alert && by == "ann" && comment == "on it" && *at == w.now),
        "{ack:?}"
    );
    assert_eq!(w.state("host/a").acknowledged, Some(w.now));
    // An acknowledged member counts as OK, at once.
    assert!(w.hard_ok("cluster/ca"), "{:?}", w.state("cluster/ca"));
    let again = w.act(|e, now| e.acknowledge(now, &full("host/a"), "bob", ""));
    assert_eq!(again, Err(ActionError::NothingToAcknowledge(full("host/a"))), "already acknowledged");

    // Worse while acknowledged: reported, nobody told.
    let mark = w.events.len();
    w.script("host/a", "CRITICAL");
    w.run_until_true(mins(2), "a critical", |w| w.state("host/a").status == Status::Critical);
    assert_eq!(w.told("host/a", mark), [("renotify", alert, None, false)]);
    assert!(w.state("host/a").is_acknowledged());

    // The recovery is told (the alert was) and clears the acknowledgement.
    w.script("host/a", "OK");
    w.run_until_true(mins(2), "a up", |w| w.hard_ok("host/a"));
    assert_eq!(w.told("host/a", mark), [("renotify", alert, None, false), ("recovery", alert, None, true)]);
    assert_eq!(w.state("host/a").acknowledged, None);

    // The next problem is a new alert, and worse is told again.
    let mark = w.events.len();
    w.script("host/a", "WARNING CRITICAL");
    w.run_until_true(mins(3), "a critical again", |w| w.state("host/a").status == Status::Critical);
    let told = w.told("host/a", mark);
    assert!(
        matches!(told[..], [("alert", id, None, true), ("renotify", id2, None, true)] if id > alert && id2 == id),
        "{told:?}"
    );

    // Nothing to acknowledge on an OK check; unknown paths.
    for (path, want) in [
        (full("host/fine"), ActionError::NothingToAcknowledge(full("host/fine"))),
        (full("host/nope"), ActionError::NoSuchCheck(full("host/nope"))),
        ("t/host".to_string(), ActionError::NoSuchCheck("t/host".into())),
        ("t/host/a/service".to_string(), ActionError::NoSuchCheck("t/host/a/service".into())),
        ("x/host/a".to_string(), ActionError::NoSuchCheck("x/host/a".into())),
    ] {
        assert_eq!(w.act(|e, now| e.acknowledge(now, &path, "", "")), Err(want), "{path}");
    }
}

// ---------------------------------------------------------------------------------
// 2. Suppress

#[test]
fn a_suppressed_check_alerts_quietly_and_counts_as_ok_in_a_cluster_at_once() {
    let body = host("s", ONE)
        + &host("b", ONE)
        + r#"<cluster name="cs"><condition>host 's' and host 'b'</condition></cluster>"#;
    let mut w = World::new(&body);
    w.run_for(mins(2));
    assert_eq!(w.act(|e, now| e.suppress(now, &full("host/s"), true)), Ok(()));
    assert!(w.state("host/s").suppressed);
    let mark = w.events.len();
    w.script("host/s", "CRITICAL");
    w.run_until_true(mins(2), "s hard down", |w| w.hard_not_ok("host/s"));
    let [("alert", s_alert, None, false)] = w.told("host/s", mark)[..] else { panic!("{:?}", w.told("host/s", mark)) };
    assert!(w.hard_ok("cluster/cs") && w.told("cluster/cs", mark).is_empty(), "a suppressed member counts as OK");

    // Unsuppressed: the cluster is recomputed at once, without waiting for a result.
    let mark = w.events.len();
    w.act(|e, now| e.suppress(now, &full("host/s"), false)).unwrap();
    assert!(w.hard_not_ok("cluster/cs"));
    assert!(matches!(w.told("cluster/cs", mark)[..], [("alert", _, None, true)]), "{:?}", w.told("cluster/cs", mark));
    let mark = w.events.len();
    w.act(|e, now| e.suppress(now, &full("host/s"), true)).unwrap();
    assert!(w.hard_ok("cluster/cs"));
    assert!(
        matches!(w.told("cluster/cs", mark)[..], [("recovery", _, None, true)]),
        "{:?}",
        w.told("cluster/cs", mark)
    );
    assert_eq!(w.act(|e, now| e.suppress(now, &full("host/s"), true)), Ok(()), "suppressing twice is no error");

    // Unsuppressed again: the quiet alert's recovery is quiet too; the next alert is told.
    w.act(|e, now| e.suppress(now, &full("host/s"), false)).unwrap();
    let mark = w.events.len();
    w.script("host/s", "OK CRITICAL");
    w.run_until_true(mins(3), "s down again", |w| w.told("host/s", mark).len() == 2);
    let told = w.told("host/s", mark);
    assert!(
        matches!(told[..], [("recovery", r, None, false), ("alert", a, None, true)] if r == s_alert && a > s_alert),
        "{told:?}"
    );
    assert_eq!(
        w.act(|e, now| e.suppress(now, "t/host/nope", true)),
        Err(ActionError::NoSuchCheck("t/host/nope".into()))
    );
}

// ---------------------------------------------------------------------------------
// 3. Downtimes

const DOWNTIME_SITE: &str = r#"
<host name="web"><check-command command="dummy"/><schedule every="1m" retry-every="1m" changing-every="1m"/>
  <state failed-after="1" recovers-after="1"/>
  <service name="http"><check-command command="dummy"/><schedule every="1m" retry-every="1m" changing-every="1m"/>
    <state failed-after="1" recovers-after="1"/></service></host>
<host name="db"><check-command command="dummy"/><schedule every="1m" retry-every="1m" changing-every="1m"/>
  <state failed-after="1" recovers-after="1"/>
  <service name="sql"><check-command command="dummy"/><schedule every="1m" retry-every="1m" changing-every="1m"/>
    <state failed-after="1" recovers-after="1"/></service></host>
<host name="idle"><trap name="passive"/></host>
<time-period name="always"/>
"#;

#[test]
fn a_downtime_starts_and_ends_exactly_on_time_and_holds_alerts_back_meanwhile() {
    let http = "host/web/service/http";
    let mut w = World::new(DOWNTIME_SITE);
    let (from, to) = (t0() + mins(10), t0() + mins(70));
    w.act(|e, now| e.add_downtime(now, Downtime { id: 7, path: full(http), from, to })).unwrap();
    assert!(w.engine.next_deadline().is_some_and(|d| d <= from));
    assert!(!w.state(http).in_downtime, "not before it starts");
    let mut flips = Vec::new();
    w.watch_downtime(http, t0() + mins(20), &mut flips);
    // Problems during it: alert and worse, nobody told; its recovery is quiet too.
    w.script(http, "WARNING CRITICAL");
    w.watch_downtime(http, t0() + mins(35), &mut flips);
    w.script(http, "OK");
    w.watch_downtime(http, t0() + mins(75), &mut flips);
    assert_eq!(flips, [(from, true), (to, false)], "the loop wakes at the downtime's start and end");
    let told = w.told(http, 0);
    assert!(
        matches!(told[..], [("alert", a, None, false), ("renotify", b, None, false), ("recovery", c, None, false)] if a == b && b == c),
        "{told:?}"
    );
    // After it, told again; the ended downtime is gone.
    assert!(w.engine.downtimes().is_empty());
    let mark = w.events.len();
    w.script(http, "CRITICAL");
    w.run_for(mins(2));
    assert!(matches!(w.told(http, mark)[..], [("alert", _, None, true)]), "{:?}", w.told(http, mark));
}

#[test]
fn the_engine_deadline_is_a_downtimes_start_and_end_when_nothing_else_is_due() {
    let mut w = World::new(DOWNTIME_SITE);
    let passive = "host/idle/trap/passive";
    // Nothing runs on idle: only the downtime wakes the loop.
    let mut only = World::new(r#"<host name="idle"><trap name="passive"/></host>"#);
    assert_eq!(only.engine.next_deadline(), None);
    let (from, to) = (t0() + mins(10), t0() + mins(70));
    only.act(|e, now| e.add_downtime(now, Downtime { id: 1, path: full("host/idle"), from, to })).unwrap();
    assert_eq!(only.engine.next_deadline(), Some(from));
    assert!(only.step(t0() + SignedDuration::from_hours(2)));
    assert_eq!(only.now, from);
    assert!(only.state("host/idle").in_downtime && only.state(passive).in_downtime);
    assert_eq!(only.engine.next_deadline(), Some(to));
    assert!(only.step(t0() + SignedDuration::from_hours(2)));
    assert_eq!(only.now, to);
    assert!(!only.state("host/idle").in_downtime && !only.state(passive).in_downtime);
    assert_eq!(only.engine.next_deadline(), None);

    // Refused downtimes.
    let bad = |id, path: &str, from, to| Downtime { id, path: full(path), from, to };
    let now = w.now;
    assert_eq!(w.engine.add_downtime(now, bad(2, "host/web", now, now)), Err(ActionError::EmptyDowntime));
    assert_eq!(w.engine.add_downtime(now, bad(3, "host/web", now + mins(5), now)), Err(ActionError::EmptyDowntime));
    assert_eq!(
        w.engine.add_downtime(now, bad(4, "host/nope", now, now + mins(5))),
        Err(ActionError::NoSuchCheck(full("host/nope")))
    );
    assert!(w.engine.downtimes().is_empty());
}

#[test]
fn a_hosts_downtime_covers_its_services_only_and_cancelling_ends_it_at_once() {
    let mut w = World::new(DOWNTIME_SITE);
    w.run_for(mins(2));
    let to = w.now + SignedDuration::from_hours(1);
    w.act(|e, now| e.add_downtime(now, Downtime { id: 9, path: full("host/web"), from: now, to })).unwrap();
    let covered = |w: &World| -> Vec<bool> {
        ["host/web", "host/web/service/http", "host/db", "host/db/service/sql", "host/idle"]
            .iter()
            .map(|p| w.state(p).in_downtime)
            .collect()
    };
    assert_eq!(covered(&w), [true, true, false, false, false], "at once, from now");
    let mark = w.events.len();
    w.script("host/web/service/http", "CRITICAL");
    w.script("host/db/service/sql", "CRITICAL");
    w.run_for(mins(2));
    assert!(matches!(w.told("host/web/service/http", mark)[..], [("alert", _, None, false)]));
    assert!(matches!(w.told("host/db/service/sql", mark)[..], [("alert", _, None, true)]));

    // Cancelled: over at once, and its end no longer wakes the loop.
    assert!(w.act(|e, now| e.cancel_downtime(now, 9)));
    assert_eq!(covered(&w), [false; 5]);
    assert!(!w.act(|e, now| e.cancel_downtime(now, 9)), "no second cancel");
    assert!(w.engine.downtimes().is_empty());
    let mark = w.events.len();
    w.script("host/web/service/http", "UNKNOWN");
    w.run_for(mins(2));
    assert!(matches!(w.told("host/web/service/http", mark)[..], [("renotify", _, None, true)]));
}

#[test]
fn a_downtime_for_the_length_of_a_period_spans_its_next_active_stretch() {
    let w = World::new(DOWNTIME_SITE);
    let span = |period: &str, now: &str| w.engine.period_span(&full("host/web"), period, at(now));
    // (period, now, the span wanted); t0 is Monday 2026-01-05 08:00 UTC.
    let cases = [
        ("workhours", "2026-01-05T08:00:00Z", ("2026-01-05T09:00:00Z", "2026-01-05T17:00:00Z")),
        ("workhours", "2026-01-05T10:30:00Z", ("2026-01-05T10:30:00Z", "2026-01-05T17:00:00Z")),
        ("workhours", "2026-01-05T17:00:00Z", ("2026-01-06T09:00:00Z", "2026-01-06T17:00:00Z")),
        ("workhours", "2026-01-09T18:00:00Z", ("2026-01-12T09:00:00Z", "2026-01-12T17:00:00Z")),
    ];
    for (period, now, (from, to)) in cases {
        assert_eq!(span(period, now), Ok((at(from), at(to))), "{period} at {now}");
    }
    assert_eq!(span("never", "2026-01-05T08:00:00Z"), Err(ActionError::PeriodNeverActive("never".into())));
    assert_eq!(span("always", "2026-01-05T08:00:00Z"), Err(ActionError::PeriodNeverEnds("always".into())));
    assert_eq!(
        span("nope", "2026-01-05T08:00:00Z"),
        Err(ActionError::NoSuchPeriod { site: "t".into(), period: "nope".into() })
    );
    assert_eq!(
        w.engine.period_span("t/host/nope", "workhours", t0()),
        Err(ActionError::NoSuchCheck("t/host/nope".into()))
    );
}

// ---------------------------------------------------------------------------------
// 4. Re-check now

#[test]
fn a_recheck_runs_at_once_and_the_check_keeps_its_slots() {
    let hourly = r#"<schedule every="1h" retry-every="1h" changing-every="1h"/>"#;
    let body = host("hourly", hourly)
        + &host("twice", hourly)
        + &host("slow", &format!("{hourly}<trap name=\"tr\"/>"))
        + &host("off", "<schedule every=\"1h\"/>").replace("<host name=\"off\"", "<host name=\"off\" enabled=\"no\"")
        + r#"<cluster name="cl"><condition>host 'hourly'</condition></cluster>"#;
    let mut w = World::new(&body);
    w.set_probe("host/slow", mins(10));
    w.run_for(SignedDuration::from_hours(2));
    let hourly = w.runs("host/hourly").to_vec();
    let slot = w.engine.next_due(w.ix("host/hourly")).unwrap();
    assert_eq!(slot, *hourly.last().unwrap() + SignedDuration::from_hours(1));

    // Not on a slot: one run now, then the slot it had, then every hour after it.
    w.run_until(slot - mins(25));
    w.act(|e, now| e.recheck(now, &full("host/hourly"))).unwrap();
    // Twice before the loop polls: still one run.
    let twice_slot = w.engine.next_due(w.ix("host/twice")).unwrap();
    w.act(|e, now| e.recheck(now, &full("host/twice"))).unwrap();
    w.act(|e, now| e.recheck(now, &full("host/twice"))).unwrap();
    let rechecked_at = w.now;
    w.poll();
    assert_eq!(w.runs("host/hourly").last(), Some(&rechecked_at));
    assert_eq!(w.engine.next_due(w.ix("host/hourly")), Some(slot), "its own slot, not an hour after the re-check");
    w.run_until(slot + SignedDuration::from_hours(2));
    let after: Vec<Timestamp> = w.runs("host/hourly")[hourly.len()..].to_vec();
    let hour = SignedDuration::from_hours(1);
    assert_eq!(after, [rechecked_at, slot, slot + hour, slot + hour * 2]);
    let twice: Vec<Timestamp> = w.runs("host/twice").iter().copied().filter(|t| *t >= rechecked_at).collect();
    let want: Vec<Timestamp> =
        std::iter::once(rechecked_at).chain((0..4).map(|k| twice_slot + hour * k).filter(|t| *t <= w.now)).collect();
    assert_eq!(twice, want);

    // A running check is not started twice (the harness would panic) and keeps its slot.
    w.run_until_true(SignedDuration::from_hours(2), "slow running", |w| w.engine.is_running(w.ix("host/slow")));
    let started = *w.runs("host/slow").last().unwrap();
    w.act(|e, now| e.recheck(now, &full("host/slow"))).unwrap();
    w.run_for(mins(30));
    assert_eq!(w.runs("host/slow").last(), Some(&started));
    assert_eq!(w.engine.next_due(w.ix("host/slow")), Some(started + hour));

    for path in ["host/slow/trap/tr", "cluster/cl", "host/off"] {
        assert_eq!(w.act(|e, now| e.recheck(now, &full(path))), Err(ActionError::NotScheduled(full(path))));
    }
    assert_eq!(w.act(|e, now| e.recheck(now, "t/host/nope")), Err(ActionError::NoSuchCheck("t/host/nope".into())));
}
