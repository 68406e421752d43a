//! Scenario tests of the whole engine (`engine::core::Engine`) built from site XML,
//! on virtual time: schedule intervals per state (SEMANTICS §7), start-up spread and
//! phase, dependencies and covering, flapping, time periods, virtual checks (§6),
//! caps, initial states and what is never scheduled.
//!
//! Not the state machine's or scheduler's own tables (`engine_state.rs` and the unit
//! tests do those): here every check comes from configuration and every result goes
//! through `poll`/`handle_result` as the driver would send it. Nothing is executed:
//! the harness answers each started check from a script.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;

use bergamot_config::status::Status;
use bergamot_daemon::engine::core::{Engine, EngineConfig};
use bergamot_daemon::engine::events::Event;
use bergamot_daemon::engine::schedule::{Caps, EngineKind};
use bergamot_daemon::engine::state::{CheckState, Cover};
use bergamot_daemon::engine::{CheckIx, CheckResult};
use bergamot_daemon::plan::Plan;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

#[path = "engine/ops.rs"]
mod ops;

// ---------------------------------------------------------------------------------
// Harness

/// Commands and time periods every scenario's site has.
const COMMON: &str = r#"
<command name="dummy" engine="dummy"><parameter name="status">OK</parameter></command>
<command name="plugin" engine="nagios"><parameter name="command_line">/usr/lib/nagios/plugins/check_dummy 0</parameter></command>
<command name="ping" engine="ping"/>
<time-period name="workhours">
  <time-range>monday 09:00-17:00</time-range><time-range>tuesday 09:00-17:00</time-range>
  <time-range>wednesday 09:00-17:00</time-range><time-range>thursday 09:00-17:00</time-range>
  <time-range>friday 09:00-17:00</time-range>
</time-period>
<time-period name="never"><time-range>2020-01-01 00:00-24:00</time-range></time-period>
"#;

/// Monday 2026-01-05 08:00 UTC (the site's zone is UTC).
fn t0() -> Timestamp {
    "2026-01-05T08:00:00Z".parse().unwrap()
}

fn secs(n: i64) -> SignedDuration {
    SignedDuration::from_secs(n)
}

fn st(s: &str) -> Status {
    s.parse().unwrap_or_else(|e| panic!("{e}"))
}

/// The plan of a site made of [`COMMON`] and `body`, which must load without any
/// diagnostic.
fn plan(body: &str) -> Arc<Plan> {
    let text = format!("<bergamot site=\"t\">\n{COMMON}\n{body}\n</bergamot>");
    let loaded = bergamot_config::load::load_documents([("site.xml", text.as_str())]);
    let o = bergamot_config::build(loaded, TimeZone::UTC);
    let diags: Vec<String> = o.diags.items.iter().map(|d| format!("{:?}: {}", d.object, d.message)).collect();
    assert!(diags.is_empty(), "site must load cleanly:\n{}", diags.join("\n"));
    let plan = Plan::new(Arc::new(o.model));
    assert!(plan.problems.is_empty(), "{:?}", plan.problems);
    Arc::new(plan)
}

/// An engine, a virtual clock, a script of results and what happened.
struct World {
    engine: Engine,
    plan: Arc<Plan>,
    now: Timestamp,
    paths: HashMap<String, CheckIx>,
    /// What each check answers next; the last status again when the queue runs out
    /// (unscripted checks answer OK).
    answers: HashMap<CheckIx, (VecDeque<Status>, Status)>,
    /// How long each check's run takes; zero: answered when started.
    probe: Vec<SignedDuration>,
    /// Runs in flight: (when they finish, order, check).
    finishing: BinaryHeap<Reverse<(Timestamp, u64, CheckIx)>>,
    order: u64,
    /// Steps in a row in which the clock did not move and nothing ran or finished: a
    /// deadline that never fires would loop forever.
    idle: u32,
    running: Vec<bool>,
    /// When each check started, by index.
    starts: Vec<Vec<Timestamp>>,
    events: Vec<Event>,
    out: Vec<CheckIx>,
}

impl World {
    fn new(body: &str) -> World {
        World::with(plan(body), t0(), EngineConfig::default())
    }

    fn with(plan: Arc<Plan>, now: Timestamp, config: EngineConfig) -> World {
        let n = plan.len();
        let paths = (0..n as u32).map(|i| (plan.path(CheckIx(i)).split_once('/').unwrap().1.to_string(), CheckIx(i)));
        let mut w = World {
            engine: Engine::new(plan.clone(), now, config),
            paths: paths.collect(),
            plan,
            now,
            answers: HashMap::new(),
            probe: vec![SignedDuration::ZERO; n],
            finishing: BinaryHeap::new(),
            order: 0,
            idle: 0,
            running: vec![false; n],
            starts: vec![Vec::new(); n],
            events: Vec::new(),
            out: Vec::new(),
        };
        w.engine.drain_events(&mut w.events);
        w
    }

    /// A check by its path below the site: `host/web1`, `host/web1/service/http`,
    /// `cluster/c/resource/r`.
    fn ix(&self, path: &str) -> CheckIx {
        *self.paths.get(path).unwrap_or_else(|| panic!("no check {path}"))
    }

    fn name(&self, ix: CheckIx) -> String {
        self.plan.path(ix).split_once('/').unwrap().1.to_string()
    }

    fn state(&self, path: &str) -> &CheckState {
        self.engine.state(self.ix(path)).unwrap()
    }

    /// Answers `path` with these statuses (space-separated), then the last forever.
    fn script(&mut self, path: &str, statuses: &str) {
        let q: VecDeque<Status> = statuses.split_whitespace().map(st).collect();
        let last = *q.back().unwrap();
        self.answers.insert(self.ix(path), (q, last));
    }

    fn runs(&self, path: &str) -> &[Timestamp] {
        &self.starts[self.ix(path).index()]
    }

    /// Moves to the next thing to do, if at or before `limit`, and does it: results of
    /// runs that finish then, then the checks the engine starts. False (and the clock
    /// at `limit`) when there is nothing to do until then.
    fn step(&mut self, limit: Timestamp) -> bool {
        let finish = self.finishing.peek().map(|Reverse((t, _, _))| *t);
        let next = match (self.engine.next_deadline(), finish) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let Some(next) = next.filter(|t| *t <= limit) else {
            self.now = self.now.max(limit);
            return false;
        };
        let (before, acted) = (self.now, self.events.len());
        self.now = self.now.max(next);
        while let Some(Reverse((t, _, ix))) = self.finishing.peek().copied()
            && t <= self.now
        {
            self.finishing.pop();
            self.answer(ix);
        }
        self.poll();
        let idle = self.now == before && self.events.len() == acted;
        self.idle = if idle { self.idle + 1 } else { 0 };
        assert!(self.idle < 1000, "the engine's deadline {next} never fires (now {})", self.now);
        true
    }

    /// Starts what the engine says to start now, answering at once the checks that
    /// take no time (whose freed slots may start more).
    fn poll(&mut self) {
        loop {
            let mut out = std::mem::take(&mut self.out);
            out.clear();
            self.engine.poll(self.now, &mut out);
            if out.is_empty() {
                self.out = out;
                break;
            }
            for &ix in &out {
                assert!(!self.running[ix.index()], "{} started twice at once at {}", self.name(ix), self.now);
                self.running[ix.index()] = true;
                self.starts[ix.index()].push(self.now);
                let took = self.probe[ix.index()];
                if took.is_zero() {
                    self.answer(ix);
                } else {
                    self.order += 1;
                    self.finishing.push(Reverse((self.now + took, self.order, ix)));
                }
            }
            self.out = out;
        }
        self.engine.drain_events(&mut self.events);
    }

    fn answer(&mut self, ix: CheckIx) {
        let status = match self.answers.get_mut(&ix) {
            Some((q, last)) => q.pop_front().unwrap_or(*last),
            None => Status::Ok,
        };
        self.running[ix.index()] = false;
        let result = CheckResult::new(status, format!("{status} by script"), self.now);
        self.engine.handle_result(self.now, ix, result);
        self.engine.drain_events(&mut self.events);
    }

    fn run_until(&mut self, t: Timestamp) {
        while self.step(t) {}
    }

    fn run_for(&mut self, d: SignedDuration) {
        self.run_until(self.now + d);
    }

    /// Runs until `done` holds (checked after every step); panics after `within`.
    fn run_until_true(&mut self, within: SignedDuration, what: &str, done: impl Fn(&World) -> bool) {
        let limit = self.now + within;
        while !done(self) {
            assert!(self.step(limit), "not within {within}: {what}");
        }
    }

    /// Events of `path` from event number `from` on.
    fn events_of<'a>(&'a self, path: &str, from: usize) -> impl Iterator<Item = &'a Event> + 'a {
        let ix = self.ix(path);
        self.events[from..].iter().filter(move |e| e.ix() == ix)
    }

    /// One line per result of `path`: `STATUS hard|soft ATTEMPT [flapping|steady]
    /// [alert|renotify|recovery STATUS [quiet]] +GAP`, where GAP is the time to the
    /// next run (so `path` needs one more run than lines asked for).
    fn result_lines(&self, path: &str, n: usize) -> Vec<String> {
        let mut lines: Vec<String> = Vec::new();
        for e in self.events_of(path, 0) {
            let quiet = |notify: &bool| if *notify { "" } else { " quiet" };
            match e {
                Event::Result { status, hard, attempt, .. } => {
                    lines.push(format!("{status} {} {attempt}", if *hard { "hard" } else { "soft" }))
                }
                Event::Alert { status, notify, .. } => {
                    *lines.last_mut().unwrap() += &format!(" alert {status}{}", quiet(notify))
                }
                Event::Renotify { status, notify, .. } => {
                    *lines.last_mut().unwrap() += &format!(" renotify {status}{}", quiet(notify))
                }
                Event::Recovery { status, notify, .. } => {
                    *lines.last_mut().unwrap() += &format!(" recovery {status}{}", quiet(notify))
                }
                Event::FlappingStarted { .. } => *lines.last_mut().unwrap() += " flapping",
                Event::FlappingStopped { .. } => *lines.last_mut().unwrap() += " steady",
                _ => {}
            }
        }
        let runs = self.runs(path);
        assert!(
            lines.len() > n && runs.len() > n,
            "{path}: {} results, {} runs, want {}",
            lines.len(),
            runs.len(),
            n + 1
        );
        lines.truncate(n);
        for (i, line) in lines.iter_mut().enumerate() {
            *line += &format!(" +{}", gap(runs[i + 1].duration_since(runs[i])));
        }
        lines
    }
}

/// `30s`, `5m`: how the XML writes intervals.
fn gap(d: SignedDuration) -> String {
    let s = d.as_secs();
    assert_eq!(d, secs(s), "gap not whole seconds: {d}");
    if s % 60 == 0 { format!("{}m", s / 60) } else { format!("{s}s") }
}

/// A host with a dummy check command and `attrs` inside.
fn host(name: &str, inner: &str) -> String {
    format!("<host name=\"{name}\"><check-command command=\"dummy\"/>{inner}</host>\n")
}

// ---------------------------------------------------------------------------------
// 1. §7's scenarios and the interval of each state

/// every=5m, retry-every=1m, changing-every=30s; thresholds in the name.
const INTERVALS: &str = r#"<schedule every="5m" retry-every="1m" changing-every="30s"/>"#;

/// (host, its XML inside `<host>`, statuses answered, the result lines wanted).
type IntervalCase = (&'static str, &'static str, &'static str, &'static [&'static str]);

const INTERVAL_CASES: &[IntervalCase] = &[
    // §7, thresholds 2/2: OK hard → CRIT (soft 1) → CRIT (hard, alert);
    // CRIT hard → OK (soft 1) → CRIT (soft 1) → OK (soft 1) → OK (hard, recovery).
    (
        "h22",
        r#"<state failed-after="2" recovers-after="2"/>"#,
        "OK CRITICAL CRITICAL OK CRITICAL OK OK OK",
        &[
            "OK hard 1 +5m",
            "CRITICAL soft 1 +30s",
            "CRITICAL hard 2 alert CRITICAL +1m",
            "OK soft 1 +30s",
            "CRITICAL soft 1 +30s",
            "OK soft 1 +30s",
            "OK hard 2 recovery OK +5m",
            "OK hard 2 +5m",
        ],
    ),
    // §7, thresholds 3/3: OK → WARNING (soft 1) → WARNING (soft 2) → CRITICAL (hard, alert CRITICAL).
    (
        "h33",
        r#"<state failed-after="3" recovers-after="3"/>"#,
        "OK WARNING WARNING CRITICAL CRITICAL",
        &[
            "OK hard 1 +5m",
            "WARNING soft 1 +30s",
            "WARNING soft 2 +30s",
            "CRITICAL hard 3 alert CRITICAL +1m",
            "CRITICAL hard 3 +1m",
        ],
    ),
    // changing-every defaults to retry-every.
    (
        "hdef",
        r#"<schedule every="5m" retry-every="2m"/><state failed-after="2" recovers-after="2"/>"#,
        "OK CRITICAL CRITICAL OK OK",
        &[
            "OK hard 1 +5m",
            "CRITICAL soft 1 +2m",
            "CRITICAL hard 2 alert CRITICAL +2m",
            "OK soft 1 +2m",
            "OK hard 2 recovery OK +5m",
        ],
    ),
    // <initially> CRITICAL: the first run comes at retry-every's spread, and going ok
    // is a hard change without a recovery (no alert was open).
    (
        "assumed",
        r#"<initially status="critical" output="assumed down"/><state failed-after="2" recovers-after="2"/>"#,
        "OK OK CRITICAL CRITICAL OK",
        &["OK soft 1 +30s", "OK hard 2 +5m", "CRITICAL soft 1 +30s", "CRITICAL hard 2 alert CRITICAL +1m"],
    ),
    // <initially> WARNING that stays not-ok: never an alert, nor a worse re-notification.
    (
        "stays",
        r#"<initially status="warning"/><state failed-after="2" recovers-after="2"/>"#,
        "CRITICAL CRITICAL UNKNOWN",
        &["CRITICAL hard 1 +1m", "CRITICAL hard 1 +1m", "UNKNOWN hard 1 +1m"],
    ),
];

#[test]
fn each_state_runs_at_its_interval_through_section_7_scenarios() {
    let mut body = String::new();
    for (name, inner, _, _) in INTERVAL_CASES {
        let inner = if inner.contains("<schedule") { inner.to_string() } else { format!("{INTERVALS}{inner}") };
        body += &host(name, &inner);
    }
    let mut w = World::new(&body);
    for (name, _, script, _) in INTERVAL_CASES {
        w.script(&format!("host/{name}"), script);
    }
    assert!(w.events.iter().all(|e| !matches!(e, Event::Alert { .. })), "no alert at start: {:?}", w.events);
    let s = w.state("host/assumed");
    assert_eq!((s.status, s.hard, s.output.as_str(), s.alert), (Status::Critical, true, "assumed down", None));
    w.run_for(SignedDuration::from_hours(2));
    for (name, _, _, want) in INTERVAL_CASES {
        let path = format!("host/{name}");
        assert_eq!(w.result_lines(&path, want.len()), *want, "{path}");
    }
    // The first run is spread within the interval of the initial state.
    for (name, first_within) in [("h22", 300), ("assumed", 60), ("stays", 60)] {
        let first = w.runs(&format!("host/{name}"))[0];
        assert!(first >= t0() && first < t0() + secs(first_within), "{name} first ran at {first}");
    }
    // Leaving the initial not-ok state is a hard state change, told as such.
    let hard_ok = w
        .events_of("host/assumed", 0)
        .any(|e| matches!(e, Event::StateChange { from: Status::Ok, to: Status::Ok, hard: true, .. }));
    assert!(hard_ok, "a StateChange to hard OK for the initial CRITICAL");
}

// ---------------------------------------------------------------------------------
// 2. Start-up spread and phase

#[test]
fn a_thousand_hosts_start_spread_over_the_interval_and_keep_their_phase() {
    const N: usize = 1000;
    let body: String = (0..N)
        .map(|i| host(&format!("h{i}"), r#"<schedule every="60s" retry-every="60s" changing-every="60s"/>"#))
        .collect();
    let plan = plan(&body);
    let mut w = World::with(plan.clone(), t0(), EngineConfig::default());
    w.run_for(secs(5 * 60));
    let mut per_second = [0usize; 60];
    let mut phase = Vec::with_capacity(N);
    for i in 0..N {
        let runs = w.runs(&format!("host/h{i}"));
        assert_eq!(runs.len(), 5, "h{i}: five runs in five minutes: {runs:?}");
        let first = runs[0].duration_since(t0());
        assert!(first >= SignedDuration::ZERO && first < secs(60), "h{i} first ran {first} after start");
        per_second[first.as_secs() as usize] += 1;
        assert!(runs.windows(2).all(|r| r[1].duration_since(r[0]) == secs(60)), "h{i} keeps 60 s: {runs:?}");
        phase.push(runs[0].as_millisecond().rem_euclid(60_000));
    }
    // No herd: a one-second bucket holds 1/60 (1.7 %) of the checks on average; a
    // hash spread is not perfectly even, but no second gets more than 3 %.
    let worst = per_second.iter().max().copied().unwrap_or(0);
    assert!(worst * 100 <= 3 * N, "at most 3 % of the checks in any second: {per_second:?}");
    assert!(per_second.iter().all(|&n| n > 0), "every second has starts: {per_second:?}");
    // A second engine over the same model, started later (not on a minute boundary),
    // runs every check on the same phase.
    let later = t0() + SignedDuration::new(7 * 3600 + 13 * 60 + 17, 345_000_000);
    let mut w2 = World::with(plan, later, EngineConfig::default());
    w2.run_for(secs(60));
    for (i, p) in phase.iter().enumerate() {
        let runs = w2.runs(&format!("host/h{i}"));
        assert_eq!(runs.len(), 1, "h{i}");
        assert_eq!(runs[0].as_millisecond().rem_euclid(60_000), *p, "h{i}: same phase after a restart");
    }
}

// ---------------------------------------------------------------------------------
// 3. Dependencies: covered alerts, uncovering, services behind their host

const DEPENDS: &str = r#"
<host name="switch"><check-command command="dummy"/>
  <schedule every="1m" retry-every="1m" changing-every="20s"/><state failed-after="2" recovers-after="2"/></host>
<host name="server"><check-command command="dummy"/><depends>host 'switch'</depends>
  <schedule every="1m" retry-every="1m" changing-every="20s"/><state failed-after="6" recovers-after="2"/>
  <service name="http"><check-command command="dummy"/>
    <schedule every="30s" retry-every="1m" changing-every="10s"/><state failed-after="2" recovers-after="2"/></service>
</host>"#;

/// What an alert-type event of a check said: (kind, alert id, covered by, notify).
type Told = (&'static str, u64, Option<Cover>, bool);

impl World {
    /// Alerts, re-notifications and recoveries of `path` from event number `from` on.
    fn told(&self, path: &str, from: usize) -> Vec<Told> {
        self.events_of(path, from)
            .filter_map(|e| match e {
                Event::Alert { alert_id, covered_by, notify, .. } => Some(("alert", *alert_id, *covered_by, *notify)),
                Event::Renotify { alert_id, notify, .. } => Some(("renotify", *alert_id, None, *notify)),
                Event::Recovery { alert_id, notify, .. } => Some(("recovery", *alert_id, None, *notify)),
                _ => None,
            })
            .collect()
    }

    fn hard_not_ok(&self, path: &str) -> bool {
        let s = self.state(path);
        s.hard && !s.ok
    }

    fn hard_ok(&self, path: &str) -> bool {
        let s = self.state(path);
        s.hard && s.ok
    }
}

#[test]
fn a_dead_switch_covers_the_alerts_behind_it_until_it_recovers() {
    let (switch, server, http) = ("host/switch", "host/server", "host/server/service/http");
    let mut w = World::new(DEPENDS);
    w.run_for(secs(5 * 60));
    assert!(w.told(switch, 0).is_empty() && w.told(server, 0).is_empty());

    // The switch dies: one alert, told.
    let mark = w.events.len();
    w.script(switch, "CRITICAL");
    w.run_until_true(secs(180), "switch hard down", |w| w.hard_not_ok(switch));
    let told = w.told(switch, mark);
    let [("alert", switch_alert, None, true)] = told[..] else { panic!("switch: {told:?}") };

    // The server behind it fails too; while it is soft, its service stays soft.
    w.script(server, "CRITICAL");
    w.run_until_true(secs(120), "server soft down", |w| !w.state(server).ok);
    assert!(!w.state(server).hard);
    let mark = w.events.len();
    w.script(http, "CRITICAL");
    w.run_until_true(secs(180), "server hard down", |w| w.state(server).hard);
    let soft_results: Vec<(bool, u32)> = w
        .events_of(http, mark)
        .filter_map(|e| match e {
            Event::Result { status: Status::Critical, hard, attempt, at, .. } if *at < w.now => Some((*hard, *attempt)),
            _ => None,
        })
        .collect();
    assert!(soft_results.len() >= 3, "http failed several times while its host was soft: {soft_results:?}");
    assert!(soft_results.iter().all(|&(hard, attempt)| !hard && attempt <= 2), "{soft_results:?}");

    // The server's alert is covered by the switch's, and nobody is told.
    let cover_switch = Some(Cover { check: w.ix(switch), alert_id: Some(switch_alert) });
    let told = w.told(server, mark);
    let [("alert", server_alert, covered, false)] = told[..] else { panic!("server: {told:?}") };
    assert_eq!(covered, cover_switch);
    // The service goes hard on its next result, covered by its host's alert.
    w.run_until_true(secs(30), "http hard down", |w| w.hard_not_ok(http));
    let cover_server = Some(Cover { check: w.ix(server), alert_id: Some(server_alert) });
    let told = w.told(http, mark);
    assert!(matches!(told[..], [("alert", _, c, false)] if c == cover_server), "http: {told:?}");

    // The switch recovers while the server does not: the server's alert is uncovered
    // on its next result and told for the first time; the service stays covered.
    let mark = w.events.len();
    w.script(switch, "OK");
    w.run_until_true(secs(180), "switch hard up", |w| w.hard_ok(switch));
    assert_eq!(w.told(switch, mark), [("recovery", switch_alert, None, true)]);
    w.run_until_true(secs(90), "server re-notified", |w| !w.told(server, mark).is_empty());
    assert_eq!(w.told(server, mark), [("renotify", server_alert, None, true)]);
    w.run_for(secs(180));
    assert!(w.told(http, mark).is_empty(), "http stays covered: {:?}", w.told(http, mark));
    assert_eq!(w.state(http).covered_by, cover_server);

    // The server recovers (told: its alert was told); then the service is uncovered.
    let mark = w.events.len();
    w.script(server, "OK");
    w.run_until_true(secs(180), "server hard up", |w| w.hard_ok(server));
    assert_eq!(w.told(server, mark), [("recovery", server_alert, None, true)]);
    w.run_until_true(secs(90), "http re-notified", |w| !w.told(http, mark).is_empty());
    let http_alert = w.state(http).alert.unwrap();
    assert_eq!(w.told(http, mark), [("renotify", http_alert, None, true)]);
    w.script(http, "OK");
    w.run_until_true(secs(180), "http hard up", |w| w.hard_ok(http));
    assert_eq!(w.told(http, mark), [("renotify", http_alert, None, true), ("recovery", http_alert, None, true)]);
}

// ---------------------------------------------------------------------------------
// 4. Flapping

#[test]
fn alternating_results_flap_and_hold_notifications_back_until_steady() {
    let mut w = World::new(&host(
        "flappy",
        r#"<schedule every="1m" retry-every="1m" changing-every="1m"/><state failed-after="1" recovers-after="1"/>"#,
    ));
    w.script("host/flappy", &format!("{} OK", "OK CRITICAL ".repeat(10)));
    w.run_until_true(SignedDuration::from_hours(1), "flapping stopped", |w| {
        w.events_of("host/flappy", 0).any(|e| matches!(e, Event::FlappingStopped { .. }))
    });
    // 21 results remembered; flapping starts above 30 % changes of 20 pairs: at the
    // 7th change, the 8th result, whose alert is already held back.
    let mut lines = w.result_lines("host/flappy", 10);
    for l in &mut lines {
        *l = l.replace(" +1m", "");
    }
    let mut want: Vec<String> = Vec::new();
    for i in 0..10 {
        let ok = i % 2 == 0;
        let (flapping, quiet) = (i == 7, if i >= 7 { " quiet" } else { "" });
        want.push(match (i, ok) {
            (0, _) => "OK hard 1".into(),
            (_, true) => format!("OK hard 1 recovery OK{quiet}"),
            (_, false) => format!("CRITICAL hard 1{} alert CRITICAL{quiet}", if flapping { " flapping" } else { "" }),
        });
    }
    assert_eq!(lines, want);
    // Steady OK stops it; the next problem is told again.
    let told = w.told("host/flappy", 0);
    assert_eq!(told.len(), 20, "an alert or recovery for every result but the first: {told:?}");
    assert!(told[6..].iter().all(|t| !t.3), "held back while flapping: {told:?}");
    let mark = w.events.len();
    w.script("host/flappy", "CRITICAL");
    w.run_for(secs(90));
    assert!(matches!(w.told("host/flappy", mark)[..], [("alert", _, None, true)]), "{:?}", w.told("host/flappy", mark));
}

// ---------------------------------------------------------------------------------
// 5. Time periods

#[test]
fn a_check_runs_only_in_its_time_period_on_its_phase() {
    let every15 = |period: &str| format!(r#"<schedule every="15m" retry-every="15m" changing-every="15m"{period}/>"#);
    let body = host("office", &every15(r#" time-period="workhours""#))
        + &host("nowhere", &every15(r#" time-period="never""#))
        + &host("always", &every15(""));
    let mut w = World::new(&body);
    assert_eq!(w.engine.scheduled(), 2, "a period never active again parks its check");
    // From Monday 08:00 to the next Monday 10:00.
    w.run_for(SignedDuration::from_hours(7 * 24 + 2));
    assert!(w.runs("host/nowhere").is_empty());
    assert_eq!(w.runs("host/always").len(), (7 * 24 + 2) * 4);
    assert!(w.engine.next_deadline().is_some());

    let office = w.runs("host/office");
    let key = w.plan.get(w.ix("host/office")).unwrap().key;
    let phase = bergamot_daemon::engine::schedule::spread(key, std::time::Duration::from_secs(900)).as_millis() as i64;
    let mut per_day: std::collections::BTreeMap<i8, usize> = Default::default();
    for t in office {
        let local = t.to_zoned(TimeZone::UTC);
        let weekday = local.weekday().to_monday_one_offset();
        assert!(weekday <= 5 && (9..17).contains(&local.hour()), "office ran outside workhours: {local}");
        assert_eq!(t.as_millisecond().rem_euclid(900_000), phase, "office keeps its phase: {t}");
        *per_day.entry(local.day()).or_default() += 1;
    }
    // Monday 5 to Friday 9 January: 8 hours of 15-minute slots each; nothing at the
    // weekend; Monday 12 until 10:00: four.
    let per_day: Vec<(i8, usize)> = per_day.into_iter().collect();
    assert_eq!(per_day, [(5, 32), (6, 32), (7, 32), (8, 32), (9, 32), (12, 4)]);
    // Every phase slot from the start to the last run either ran or was skipped as
    // outside the period.
    let slots = office.last().unwrap().duration_since(t0()).as_millis() / 900_000 + 1;
    assert_eq!(w.engine.health().skipped_period as i128, slots - office.len() as i128);
}

// ---------------------------------------------------------------------------------
// 6. Clusters and resources

/// Members that go hard at their first result: hosts a, b, c in pool `p` with a
/// service `svc` each; host d suppressed; host e with thresholds 2/2.
const MEMBERS: &str = r#"
<host name="member" template="yes" resource-pool="p"><check-command command="dummy"/>
  <schedule every="1m" retry-every="1m" changing-every="1m"/><state failed-after="1" recovers-after="1"/>
  <service name="svc"><check-command command="dummy"/>
    <schedule every="1m" retry-every="1m" changing-every="1m"/><state failed-after="1" recovers-after="1"/></service>
</host>
<host name="a" extends="member"/><host name="b" extends="member"/><host name="c" extends="member"/>
<host name="d" suppressed="yes"><check-command command="dummy"/>
  <schedule every="1m" retry-every="1m" changing-every="1m"/><state failed-after="1" recovers-after="1"/></host>
<host name="e"><check-command command="dummy"/>
  <schedule every="1m" retry-every="1m" changing-every="20s"/><state failed-after="2" recovers-after="2"/></host>
<cluster name="web"><condition>host 'a' or host 'b'</condition>
  <resource name="http"><condition>all of service 'svc' on hosts in pool 'p'</condition></resource></cluster>
<cluster name="soft"><condition>host 'e' and host 'a'</condition></cluster>
"#;

/// Results of each round: hosts a b c d, then `svc` on a b c.
const ROUNDS: [&str; 5] = [
    "OK OK OK OK | OK OK OK",
    "CRITICAL OK OK CRITICAL | OK WARNING OK",
    "CRITICAL WARNING OK OK | CRITICAL WARNING OK",
    "CRITICAL CRITICAL CRITICAL CRITICAL | CRITICAL CRITICAL CRITICAL",
    "OK CRITICAL WARNING CRITICAL | OK OK OK",
];

/// Clusters (name, condition, or a path for a check of [`MEMBERS`]) and their
/// status after each round.
const VIRTUALS: &[(&str, &str, [&str; 5])] = &[
    ("and", "host 'a' and host 'b'", ["OK", "CRITICAL", "CRITICAL", "CRITICAL", "CRITICAL"]),
    ("or", "host 'a' or host 'b'", ["OK", "OK", "WARNING", "CRITICAL", "OK"]),
    ("xor", "host 'a' xor host 'b'", ["CRITICAL", "OK", "CRITICAL", "CRITICAL", "OK"]),
    ("not", "not host 'a'", ["CRITICAL", "OK", "OK", "OK", "CRITICAL"]),
    ("all", "all of hosts in pool 'p'", ["OK", "CRITICAL", "CRITICAL", "CRITICAL", "CRITICAL"]),
    ("any", "any of [host 'a', host 'b', host 'c']", ["OK", "OK", "OK", "CRITICAL", "OK"]),
    ("two-or-more", "two or more of hosts in pool 'p' as warning", ["OK", "OK", "WARNING", "WARNING", "WARNING"]),
    ("one-or-less", "one or less of hosts in pool 'p' as unknown", ["UNKNOWN", "UNKNOWN", "OK", "OK", "OK"]),
    ("exactly-two", "two of hosts in pool 'p'", ["CRITICAL", "OK", "CRITICAL", "CRITICAL", "CRITICAL"]),
    (
        "majority",
        "majority of hosts in pool 'p' as warning, critical",
        ["OK", "WARNING", "CRITICAL", "CRITICAL", "CRITICAL"],
    ),
    ("quorum", "quorum of service 'svc' on hosts in pool 'p'", ["OK", "WARNING", "CRITICAL", "CRITICAL", "OK"]),
    ("count-crit", "count critical of hosts in pool 'p' is lt 2 as warning", ["OK", "OK", "OK", "WARNING", "OK"]),
    (
        "count-ok",
        "count of service 'svc' on hosts in pool 'p' is == 3",
        ["OK", "CRITICAL", "CRITICAL", "CRITICAL", "OK"],
    ),
    (
        "case",
        "case when host 'a' and host 'b' is ok then ok when any of hosts in pool 'p' is ok then warning else critical end",
        ["OK", "WARNING", "WARNING", "CRITICAL", "WARNING"],
    ),
    (
        "case-no-else",
        "case when host 'a' is critical then warning end",
        ["UNKNOWN", "WARNING", "WARNING", "WARNING", "UNKNOWN"],
    ),
    // d is suppressed: it counts as OK whatever it says.
    ("suppressed", "host 'd' and host 'a'", ["OK", "CRITICAL", "CRITICAL", "CRITICAL", "OK"]),
    ("resource", "cluster/web/resource/http", ["OK", "WARNING", "CRITICAL", "CRITICAL", "OK"]),
    // A cluster of a resource and a cluster: updated transitively.
    ("meta", "resource 'http' on cluster 'web' and cluster 'web'", ["OK", "WARNING", "CRITICAL", "CRITICAL", "OK"]),
];

fn virtuals_site() -> String {
    let mut body = MEMBERS.to_string();
    for (name, condition, _) in VIRTUALS.iter().filter(|v| !v.1.contains('/')) {
        body += &format!("<cluster name=\"{name}\"><condition>{condition}</condition></cluster>\n");
    }
    body
}

fn virtual_path(v: &(&str, &'static str, [&str; 5])) -> String {
    if v.1.contains('/') { v.1.to_string() } else { format!("cluster/{}", v.0) }
}

#[test]
fn clusters_and_resources_follow_their_members_for_every_condition_form() {
    let mut w = World::new(&virtuals_site());
    // (ok, alert open) of each virtual check: after the last round, or at start.
    let mut before: Vec<(bool, bool)> =
        VIRTUALS.iter().map(|v| w.state(&virtual_path(v))).map(|s| (s.ok, s.alert.is_some())).collect();
    let initially_ok: Vec<bool> = before.iter().map(|b| b.0).collect();
    for (round, results) in ROUNDS.iter().enumerate() {
        let (hosts, services) = results.split_once(" | ").unwrap();
        for (h, status) in ["a", "b", "c", "d"].iter().zip(hosts.split(' ')) {
            w.script(&format!("host/{h}"), status);
        }
        for (h, status) in ["a", "b", "c"].iter().zip(services.split(' ')) {
            w.script(&format!("host/{h}/service/svc"), status);
        }
        let mark = w.events.len();
        // Every member runs at least twice in three minutes.
        w.run_for(secs(180));
        for ((v, (was_ok, was_open)), initially_ok) in VIRTUALS.iter().zip(before.iter_mut()).zip(&initially_ok) {
            let path = virtual_path(v);
            let s = w.state(&path);
            let ctx = format!("round {} ({results}): {path} = {}", round + 1, v.1);
            assert_eq!((s.status, s.hard), (st(v.2[round]), true), "{ctx}");
            // Every change here is hard: an alert is open exactly while not ok, unless
            // the check has been not ok since start (computed from initial states).
            let been_ok = *initially_ok
                || w.events_of(&path, 0).any(|e| matches!(e, Event::Result { status, .. } if status.is_ok()));
            assert_eq!(s.alert.is_some(), !s.ok && been_ok, "{ctx}");
            let told = w.told(&path, mark);
            if *was_ok && !s.ok {
                assert!(told.iter().any(|t| t.0 == "alert" && t.3), "{ctx}: alert told: {told:?}");
            }
            if *was_open && s.ok {
                assert!(told.iter().any(|t| t.0 == "recovery"), "{ctx}: recovery: {told:?}");
            }
            *was_ok = s.ok;
            *was_open = s.alert.is_some();
        }
    }
}

#[test]
fn a_cluster_is_hard_only_when_all_its_members_are() {
    let mut w = World::new(&virtuals_site());
    w.run_for(secs(180));
    assert!(w.hard_ok("cluster/soft"));
    let mark = w.events.len();
    w.script("host/e", "CRITICAL");
    w.run_until_true(secs(90), "e soft down", |w| !w.state("host/e").ok);
    let s = w.state("cluster/soft");
    assert_eq!((s.status, s.hard, s.alert), (Status::Critical, false, None), "soft while e is");
    assert!(w.told("cluster/soft", mark).is_empty());
    w.run_until_true(secs(30), "e hard down", |w| w.state("host/e").hard);
    assert!(w.hard_not_ok("cluster/soft"));
    assert!(
        matches!(w.told("cluster/soft", mark)[..], [("alert", _, None, true)]),
        "{:?}",
        w.told("cluster/soft", mark)
    );
}

/// `<initially>` states an assumption, not an event (state module): a cluster first
/// computed from assumed states does not alert either, and going ok is no recovery.
#[test]
fn a_cluster_over_an_initially_critical_member_starts_without_an_alert() {
    let one =
        r#"<schedule every="1m" retry-every="1m" changing-every="1m"/><state failed-after="1" recovers-after="1"/>"#;
    let body = host("x", &format!(r#"<initially status="critical" output="assumed down"/>{one}"#))
        + r#"<cluster name="cx"><condition>all of [host 'x']</condition></cluster>"#;
    let mut w = World::new(&body);
    let s = w.state("cluster/cx");
    assert_eq!((s.status, s.hard, s.alert), (Status::Critical, true, None));
    assert!(w.events.iter().all(|e| !matches!(e, Event::Alert { .. })), "{:?}", w.events);
    w.script("host/x", "OK");
    w.run_for(secs(90));
    assert!(w.hard_ok("cluster/cx"));
    assert!(w.told("cluster/cx", 0).is_empty() && w.told("host/x", 0).is_empty(), "{:?}", w.told("cluster/cx", 0));
    w.script("host/x", "CRITICAL");
    w.run_for(secs(60));
    assert!(matches!(w.told("cluster/cx", 0)[..], [("alert", _, None, true)]), "{:?}", w.told("cluster/cx", 0));
}

// ---------------------------------------------------------------------------------
// 7. Caps on checks in flight

fn capped(nagios: u32, per_host: u32) -> EngineConfig {
    let mut caps = Caps::default();
    caps.per_engine[EngineKind::Nagios.index()] = nagios;
    caps.per_host = per_host;
    EngineConfig { caps, ..EngineConfig::default() }
}

/// A host running `command` every 60 s, with `services` more such checks.
fn plugin_host(name: &str, command: &str, services: usize) -> String {
    let schedule = r#"<schedule every="60s" retry-every="60s" changing-every="60s"/>"#;
    let mut s = format!("<host name=\"{name}\"><check-command command=\"{command}\"/>{schedule}");
    for i in 0..services {
        s += &format!("<service name=\"s{i}\"><check-command command=\"{command}\"/>{schedule}</service>");
    }
    s + "</host>\n"
}

impl World {
    fn set_probe(&mut self, prefix: &str, took: SignedDuration) {
        let ixs: Vec<CheckIx> = self.paths.iter().filter(|(p, _)| p.starts_with(prefix)).map(|(_, ix)| *ix).collect();
        assert!(!ixs.is_empty(), "no check under {prefix}");
        for ix in ixs {
            self.probe[ix.index()] = took;
        }
    }

    /// Runs until `t`, checking after every step that every due execution is
    /// accounted for (started, waiting for a cap, or skipped as still running) and
    /// that `at_most` holds of the checks in flight.
    fn run_accounted(&mut self, t: Timestamp, at_most: impl Fn(&World, &[CheckIx])) {
        while self.step(t) {
            let h = self.engine.health();
            let started: usize = self.starts.iter().map(Vec::len).sum();
            let running: Vec<CheckIx> =
                (0..self.running.len() as u32).map(CheckIx).filter(|i| self.running[i.index()]).collect();
            assert_eq!(h.due, h.started + h.queued + h.skipped_running, "at {}: {h:?}", self.now);
            assert_eq!(
                (h.started, h.in_flight, h.completed),
                (started as u64, running.len() as u64, h.started - h.in_flight)
            );
            at_most(self, &running);
        }
    }
}

#[test]
fn a_full_host_queues_its_checks_without_losing_any_or_holding_up_other_hosts() {
    let body = plugin_host("busy", "plugin", 4) + &plugin_host("free", "plugin", 0);
    let mut w = World::with(plan(&body), t0(), capped(64, 1));
    w.set_probe("host/", secs(25));
    let busy = w.plan.get(w.ix("host/busy")).unwrap().target;
    w.run_accounted(t0() + secs(1800), |w, running| {
        let on_busy = running.iter().filter(|ix| w.plan.get(**ix).unwrap().target == busy).count();
        assert!(on_busy <= 1, "per-host cap 1: {on_busy} in flight on busy at {}", w.now);
    });
    // Five checks of 25 s on one slot cannot all keep 60 s: they queue and run late,
    // skipping the slots they missed, but every one of them keeps running.
    let h = w.engine.health();
    assert!(h.lateness.max > 0 && h.skipped_late > 0, "{h:?}");
    for p in
        ["host/busy", "host/busy/service/s0", "host/busy/service/s1", "host/busy/service/s2", "host/busy/service/s3"]
    {
        assert!(w.runs(p).len() >= 10, "{p} ran {} times in 30 minutes", w.runs(p).len());
    }
    // Another host is not held up by busy's queue.
    let free = w.runs("host/free");
    assert_eq!(free.len(), 30);
    assert!(free.windows(2).all(|r| r[1].duration_since(r[0]) == secs(60)), "{free:?}");
}

#[test]
fn an_engine_cap_queues_plugins_but_not_other_engines() {
    let mut body: String = (0..6).map(|i| plugin_host(&format!("n{i}"), "plugin", 0)).collect();
    body += &plugin_host("pinger", "ping", 0);
    let mut w = World::with(plan(&body), t0(), capped(2, 8));
    w.set_probe("host/n", secs(50));
    w.set_probe("host/pinger", secs(1));
    w.run_accounted(t0() + secs(1800), |w, running| {
        let plugins = running.iter().filter(|ix| w.name(**ix).starts_with("host/n")).count();
        assert!(plugins <= 2, "nagios cap 2: {plugins} in flight at {}", w.now);
    });
    let h = w.engine.health();
    assert!(h.lateness.max > 0 && h.skipped_late > 0, "{h:?}");
    for i in 0..6 {
        let n = w.runs(&format!("host/n{i}")).len();
        assert!(n >= 6, "n{i} ran {n} times in 30 minutes");
    }
    let ping = w.runs("host/pinger");
    assert_eq!(ping.len(), 30);
    assert!(ping.windows(2).all(|r| r[1].duration_since(r[0]) == secs(60)), "ping keeps its phase: {ping:?}");
}

#[test]
fn a_run_longer_than_its_interval_is_never_doubled_and_resumes_on_phase() {
    let mut w = World::new(&plugin_host("slow", "plugin", 0));
    w.set_probe("host/slow", secs(150));
    w.run_accounted(t0() + secs(1800), |_, _| {});
    // Due at d, done at d + 150 s: the slots at d + 60 and d + 120 are skipped (the
    // harness panics if a check starts while in flight), the next run is at d + 180.
    let runs = w.runs("host/slow");
    assert!(runs.len() >= 9, "{runs:?}");
    assert!(runs.windows(2).all(|r| r[1].duration_since(r[0]) == secs(180)), "{runs:?}");
    let h = w.engine.health();
    assert_eq!((h.skipped_late, h.skipped_running, h.lateness.max), (2 * h.completed, 0, 0), "{h:?}");
}

// ---------------------------------------------------------------------------------
// 9. What is never scheduled

#[test]
fn disabled_checks_traps_and_checks_without_a_command_never_run() {
    let body = r#"
<host name="off" enabled="no"><check-command command="dummy"/></host>
<host name="on"><check-command command="dummy"/>
  <service name="quiet" enabled="no"><check-command command="dummy"/></service>
  <service name="svc"><check-command command="dummy"/></service>
  <trap name="tr"/>
</host>
<host name="passive"/>
<cluster name="cl"><condition>host 'on'</condition></cluster>"#;
    let mut w = World::new(body);
    assert_eq!(w.engine.scheduled(), 2);
    w.run_for(SignedDuration::from_hours(1));
    for p in ["host/off", "host/on/service/quiet", "host/on/trap/tr", "host/passive", "cluster/cl"] {
        assert!(w.runs(p).is_empty(), "{p} ran");
        assert!(w.events_of(p, 0).all(|e| !matches!(e, Event::Result { .. }) || p == "cluster/cl"), "{p} has results");
    }
    for p in ["host/on", "host/on/service/svc"] {
        assert_eq!(w.runs(p).len(), 12, "{p}: every 5 minutes by default");
    }
    assert_eq!(w.engine.health().started, 24);
}
