//! Tests of spread, phase keeping, time periods and the scheduler, on virtual time.

use super::*;
use bergamot_config::timeperiod::{PeriodDef, parse_range};
use jiff::SignedDuration;
use jiff::tz::TimeZone;

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A UTC calendar from `(name, ranges separated by ';', excluded names)`.
fn calendar(periods: &[(&str, &str, &[&str])]) -> Calendar {
    let index = |name: &str| periods.iter().position(|p| p.0 == name).unwrap();
    let defs = periods
        .iter()
        .map(|&(name, ranges, excludes)| PeriodDef {
            name: name.to_string(),
            ranges: ranges
                .split(';')
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(|r| parse_range(r).unwrap())
                .collect(),
            excludes: excludes.iter().map(|n| index(n)).collect(),
            time_zone: None,
        })
        .collect();
    Calendar::new(defs, TimeZone::UTC).unwrap()
}

#[test]
fn spread_is_even_and_keeps_the_phase() {
    let interval = secs(60);
    let now = at("2026-05-04T10:00:00.123Z");
    let mut buckets = [0u32; 60];
    for i in 0..100_000 {
        let key = stable_key(&format!("site/host/web{}/service/svc{}", i / 10, i % 10));
        let offset = spread(key, interval);
        assert!(offset < interval);
        let first = first_due(now, offset, interval, None).unwrap();
        let wait = first.at.duration_since(now);
        assert!(wait >= SignedDuration::ZERO && wait < SignedDuration::from_secs(60), "{wait}");
        buckets[wait.as_secs() as usize] += 1;
        // A restart at any other instant lands on the same phase.
        if i % 1000 == 0 {
            let later = first_due(now + SignedDuration::from_millis(12_345_678), offset, interval, None).unwrap();
            assert_eq!(later.at.duration_since(first.at).as_millis() % 60_000, 0);
        }
    }
    let mean = 100_000.0 / 60.0;
    for (s, &n) in buckets.iter().enumerate() {
        assert!((f64::from(n) - mean).abs() <= 0.15 * mean, "second {s}: {n} checks");
    }
    // Sequential keys are mixed, not bunched.
    let mut seq = [0u32; 10];
    for key in 0..10_000u64 {
        seq[(spread(key, secs(10)).as_secs()) as usize] += 1;
    }
    assert!(seq.iter().all(|&n| (850..=1150).contains(&n)), "{seq:?}");
    assert_eq!(spread(7, Duration::ZERO), Duration::ZERO);
    assert_eq!(stable_key("site/host/a"), stable_key("site/host/a"));
}

#[test]
fn interval_by_state() {
    let s = Schedule { every: secs(300), retry_every: secs(60), changing_every: secs(30), time_period: None };
    let table = [((true, true), 300), ((true, false), 60), ((false, true), 30), ((false, false), 30)];
    for ((hard, ok), expected) in table {
        assert_eq!(interval_for(&s, hard, ok), secs(expected), "hard {hard} ok {ok}");
    }
}

#[test]
fn next_due_keeps_the_phase() {
    // (prev due, result came, interval s, next due, skipped late)
    let table = [
        ("10:00:07", "10:00:09", 60, "10:01:07", 0),
        ("10:00:07", "10:01:06.999", 60, "10:01:07", 0),
        // Exactly at the next slot: that slot is not after now.
        ("10:00:07", "10:01:07", 60, "10:02:07", 1),
        // 3.5 intervals late: one run at the next slot, three slots counted.
        ("10:00:07", "10:03:37", 60, "10:04:07", 3),
        // A result before its due time (a forced run) keeps the phase too.
        ("10:00:07", "09:59:00", 60, "10:01:07", 0),
        ("10:00:00.250", "10:00:01", 1, "10:00:01.250", 0),
    ];
    for (prev, now, iv, next, late) in table {
        let day = |t: &str| at(&format!("2026-05-04T{t}Z"));
        let got = next_due(day(prev), day(now), secs(iv), None).unwrap();
        assert_eq!(got, Next { at: day(next), skipped_late: late, skipped_period: 0 }, "{prev} {now}");
    }
    // Over many runs with varying durations the phase never drifts.
    let mut due = at("2026-05-04T10:00:07.5Z");
    for run in 0..1000 {
        let took = SignedDuration::from_millis((run * 7919) % 59_000);
        due = next_due(due, due + took, secs(60), None).unwrap().at;
    }
    assert_eq!(due, at("2026-05-04T10:00:07.5Z") + SignedDuration::from_secs(60_000));
}

#[test]
fn time_periods_move_runs_into_the_period() {
    let cal = calendar(&[
        ("workhours", "09:00-17:00", &[]),
        ("backup", "02:00-02:30", &[]),
        ("gone", "2014-04-20 00:00-24:00", &[]),
        ("all", "", &[]),
        ("never", "", &["all"]),
    ]);
    let p = |name| Some((&cal, cal.find(name).unwrap()));
    // (period, prev due, now, interval, next, skipped period)
    let table = [
        // In the period: unchanged.
        ("workhours", "2026-05-04T10:20:00Z", "2026-05-04T10:20:03Z", 3600, "2026-05-04T11:20:00Z", 0),
        // 20:20 is outside: the first slot from 09:00 on the same phase; 20:20..08:20 skipped.
        ("workhours", "2026-05-04T19:20:00Z", "2026-05-04T19:21:00Z", 3600, "2026-05-05T09:20:00Z", 13),
        ("workhours", "2026-05-04T16:59:00Z", "2026-05-04T16:59:01Z", 300, "2026-05-05T09:04:00Z", 192),
        // A window shorter than the gap to the slot: run when it opens.
        ("backup", "2026-05-04T01:45:00Z", "2026-05-04T01:46:00Z", 3600, "2026-05-05T02:00:00Z", 24),
    ];
    for (name, prev, now, iv, next, skipped) in table {
        let got = next_due(at(prev), at(now), secs(iv), p(name)).unwrap();
        assert_eq!(got, Next { at: at(next), skipped_late: 0, skipped_period: skipped }, "{name} {prev}");
    }
    // Never active again: parked.
    for name in ["gone", "never"] {
        assert_eq!(next_due(at("2026-05-04T10:00:00Z"), at("2026-05-04T10:00:01Z"), secs(60), p(name)), None);
        assert_eq!(first_due(at("2026-05-04T10:00:00Z"), secs(5), secs(60), p(name)), None);
    }
    // The first run too: phase :20 of the hour, start-up at 20:00.
    let first = first_due(at("2026-05-04T20:00:00Z"), secs(20 * 60), secs(3600), p("workhours")).unwrap();
    assert_eq!(first, Next { at: at("2026-05-05T09:20:00Z"), skipped_late: 0, skipped_period: 13 });
}

#[test]
fn scheduler_table_and_rounding() {
    let origin = at("2026-05-04T10:00:00Z");
    let ms = |n: i64| origin + SignedDuration::from_micros(n);
    let mut s = Scheduler::new(origin, 4);
    s.insert(CheckIx(0), ms(1_500));
    s.insert(CheckIx(1), ms(-5_000_000)); // before the origin: due at once
    s.insert(CheckIx(9), ms(10_000)); // beyond the preallocation
    assert_eq!((s.len(), s.due_at(CheckIx(0)), s.is_scheduled(CheckIx(2))), (3, Some(ms(1_500)), false));
    assert!(s.next_deadline().unwrap() <= ms(-5_000_000).max(origin));
    let mut out = Vec::new();
    s.poll_due(ms(1_000), &mut out);
    assert_eq!(out, [Due { ix: CheckIx(1), due: ms(-5_000_000) }]);
    // Rounded up in the wheel: never fires before its exact due time.
    s.poll_due(ms(1_999), &mut out);
    assert_eq!(out.len(), 1);
    s.poll_due(ms(2_000), &mut out);
    assert_eq!(out[1], Due { ix: CheckIx(0), due: ms(1_500) });
    assert!(!s.is_scheduled(CheckIx(0)), "polled checks are unscheduled");
    assert!(!s.reschedule(CheckIx(0), ms(3_000)));
    assert!(s.reschedule(CheckIx(9), ms(2_500)));
    s.insert(CheckIx(9), ms(4_000)); // insert of a scheduled check moves it
    assert_eq!(s.due_at(CheckIx(9)), Some(ms(4_000)));
    assert_eq!(s.remove(CheckIx(9)), Some(ms(4_000)));
    assert_eq!(s.remove(CheckIx(9)), None);
    assert_eq!(s.next_deadline(), None);
    assert_eq!(s.counters().due, 2);
}

/// A simulated load: `checks` checks of one engine spread over `hosts` hosts, each
/// run taking `runtime`.
struct Load {
    checks: u32,
    engine: EngineKind,
    hosts: u32,
    interval: Duration,
    runtime: Duration,
}

/// Runs a load through Scheduler and Dispatch on virtual time until just before
/// `end`; returns how often each check started.
fn simulate(s: &mut Scheduler, d: &mut Dispatch, load: &Load, end: Duration) -> Vec<u32> {
    let Load { checks, engine, hosts, interval, runtime } = *load;
    let origin = at("2026-05-04T10:00:00Z");
    let host = |ix: CheckIx| ix.0 % hosts;
    let mut starts = vec![0u32; checks as usize];
    for i in 0..checks {
        s.schedule_first(CheckIx(i), stable_key(&format!("site/host/h{i}")), origin, interval, None);
    }
    // Completions, in ms since the origin.
    let mut running: TimerWheel<Due> = TimerWheel::with_capacity(checks as usize);
    let run_ms = runtime.as_millis() as u64;
    let (mut due, mut started, mut done) = (Vec::new(), Vec::new(), Vec::new());
    let mut now_ms = 0u64;
    loop {
        let wake = [s.next_deadline().map(|t| s.ms_at_or_after(t)), running.next_deadline()];
        let Some(next) = wake.into_iter().flatten().min() else { break };
        now_ms = now_ms.max(next);
        if now_ms >= end.as_millis() as u64 {
            break;
        }
        let now = origin + SignedDuration::from_millis(now_ms as i64);
        due.clear();
        s.poll_due(now, &mut due);
        started.clear();
        for &c in &due {
            if d.offer(c.ix, engine, host(c.ix), c.due, now) {
                started.push(c);
            }
        }
        done.clear();
        running.advance(now_ms, &mut done);
        for &c in &done {
            d.finished(c.ix, engine, host(c.ix), now, &mut started);
            s.schedule_next(c.ix, c.due, now, interval, None);
        }
        for &c in &started {
            starts[c.ix.index()] += 1;
            running.insert(now_ms + run_ms, c);
        }
        assert!(d.in_flight(engine) <= d.caps().per_engine[engine.index()]);
    }
    starts
}

#[test]
fn hundred_thousand_checks_keep_up() {
    let checks = 100_000;
    let mut s = Scheduler::new(at("2026-05-04T10:00:00Z"), checks as usize);
    let mut d = Dispatch::new(Caps::default(), checks as usize, 5_000);
    let load = Load {
        checks,
        engine: EngineKind::Ping,
        hosts: 5_000,
        interval: secs(60),
        runtime: Duration::from_millis(200),
    };
    let starts = simulate(&mut s, &mut d, &load, secs(180));
    assert!(starts.iter().all(|&n| n == 3), "every check three times in three minutes");
    let h = s.health(&d);
    assert_eq!((h.counters.due, h.started, h.queued_now), (300_000, 300_000, 0));
    assert_eq!((h.lateness.max_ms, h.counters.skipped_late), (0, 0));
}

#[test]
fn overload_is_measured_and_drops_nothing() {
    // 2,000 one-second plugin runs a minute through 10 slots: a third of the demand.
    let checks = 2_000;
    let mut s = Scheduler::new(at("2026-05-04T10:00:00Z"), checks as usize);
    let mut caps = Caps::default();
    caps.per_engine[EngineKind::Nagios.index()] = 10;
    let mut d = Dispatch::new(caps, checks as usize, 50);
    let load = Load { checks, engine: EngineKind::Nagios, hosts: 50, interval: secs(60), runtime: secs(1) };
    let starts = simulate(&mut s, &mut d, &load, secs(600));
    let h = s.health(&d);
    assert!(starts.iter().all(|&n| n >= 1), "every check ran");
    // Every due check started or is still queued; none vanished.
    assert_eq!(h.counters.due, h.started + h.queued_now);
    assert_eq!(h.started, u64::from(starts.iter().sum::<u32>()));
    assert!(h.lateness.p50_ms > 60_000 && h.lateness.max_ms >= h.lateness.p99_ms, "{:?}", h.lateness);
    assert!(h.counters.skipped_late > 0);
    assert!(h.in_flight <= 10);
}
