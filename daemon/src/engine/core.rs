//! The engine: the one owner of every check's state. It asks the scheduler what is
//! due, holds checks back at the caps, applies results to the state machine,
//! recomputes virtual checks and reschedules, and collects the events of all that.
//!
//! Pure and single-threaded: the driver passes `now` and the results in, and takes
//! the checks to start and the events out. No locks: nothing else touches the state.

use std::collections::HashMap;
use std::sync::Arc;

use bergamot_config::condition::Member;
use bergamot_config::status::Status;
use jiff::{SignedDuration, Timestamp};

use super::events::{Event, SkipReason, push_applied};
use super::schedule::{Caps, Dispatch, Due, EngineKind, Scheduler, interval_for};
use super::state::{AlertIds, CheckState, DepStatus, FlapConfig, Thresholds};
use super::virtuals::Virtuals;
use super::{CheckIx, CheckResult};
use crate::exec::EngineName;
use crate::plan::Plan;

/// Settings of the engine (not of the checks: those are in the plan).
#[derive(Debug, Clone, Default)]
pub struct EngineConfig {
    pub caps: Caps,
    pub flap: FlapConfig,
}

/// Figures for the daemon's health report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EngineHealth {
    pub due: u64,
    pub started: u64,
    pub completed: u64,
    pub skipped_late: u64,
    pub skipped_period: u64,
    pub skipped_running: u64,
    pub queued: u64,
    pub in_flight: u64,
    pub lateness: LatenessMs,
    /// Results by status name.
    pub results: std::collections::BTreeMap<&'static str, u64>,
}

/// Lateness in milliseconds, as the health report names it.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct LatenessMs {
    pub count: u64,
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
    pub mean: u64,
}

/// One run of a check, from the moment it is due until its result.
#[derive(Debug, Clone, Copy)]
pub(super) struct Run {
    /// When it was due (the next run keeps this phase).
    pub(super) due: Timestamp,
    /// The probe class the caps counted it under.
    pub(super) class: EngineKind,
    /// Handed to the driver by [`Engine::poll`]; false while it waits for a cap (or
    /// has a slot but was not yet returned by `poll`).
    pub(super) started: bool,
}

/// Every check's state and schedule.
#[derive(Debug)]
pub struct Engine {
    pub(super) plan: Arc<Plan>,
    pub(super) config: EngineConfig,
    pub(super) states: Vec<CheckState>,
    pub(super) sched: Scheduler,
    pub(super) dispatch: Dispatch,
    pub(super) virtuals: Virtuals,
    pub(super) alert_ids: AlertIds,
    /// The probe class of each check (for the caps).
    pub(super) class: Vec<EngineKind>,
    /// The run in flight (or waiting for a cap), per check; `None` when idle.
    pub(super) running: Vec<Option<Run>>,
    /// Checks re-checked now (see `ops`) whose run has not finished, with the slot
    /// they were due at before: their next run goes back to it. Few at a time.
    pub(super) rechecked: HashMap<CheckIx, Timestamp>,
    /// Scheduled downtimes (see `ops`), in no order, and when they were last applied.
    pub(super) downtimes: Vec<super::ops::Downtime>,
    pub(super) downtime_clock: Timestamp,
    pub(super) events: Vec<Event>,
    /// Checks whose state changed since the last [`Engine::drain_changed`].
    pub(super) changed: Vec<CheckIx>,
    pub(super) changed_mark: Vec<bool>,
    due_buf: Vec<Due>,
    /// Checks given a slot by `Dispatch` outside `poll`; `poll` hands them out.
    pub(super) started_buf: Vec<Due>,
    pub(super) completed: u64,
    pub(super) skipped_running: u64,
    pub(super) results: [u64; Status::ALL.len()],
}

fn kind_of(class: Option<EngineName>) -> EngineKind {
    match class {
        None => EngineKind::Virtual,
        Some(EngineName::Nagios | EngineName::Http | EngineName::Dummy) => EngineKind::Nagios,
        Some(EngineName::Nrpe) => EngineKind::Nrpe,
        Some(EngineName::Snmp) => EngineKind::Snmp,
        Some(EngineName::Tcp) => EngineKind::Tcp,
        Some(EngineName::Ping) => EngineKind::Ping,
        Some(EngineName::Agent) => EngineKind::Agent,
    }
}

impl Engine {
    /// Initial states from `<initially>`, virtual checks evaluated once, and every
    /// active check scheduled at its spread first run.
    pub fn new(plan: Arc<Plan>, now: Timestamp, config: EngineConfig) -> Engine {
        let n = plan.len();
        let states: Vec<CheckState> = plan
            .checks
            .iter()
            .map(|p| {
                let mut s = CheckState::initial(p.initially.0, &p.initially.1, now);
                s.set_suppressed(p.suppressed);
                s
            })
            .collect();
        let hosts = plan.checks.iter().map(|p| p.target as usize + 1).max().unwrap_or(0);
        let virtuals = Virtuals::new(plan.virtuals().map(|(ix, c)| (ix, c.clone())));
        let class = plan.checks.iter().map(|p| kind_of(p.class)).collect();
        let mut engine = Engine {
            sched: Scheduler::new(now, n),
            dispatch: Dispatch::new(config.caps, n, hosts),
            plan: plan.clone(),
            config,
            states,
            virtuals,
            alert_ids: AlertIds::new(),
            class,
            running: vec![None; n],
            rechecked: HashMap::new(),
            downtimes: Vec::new(),
            downtime_clock: now,
            events: Vec::new(),
            changed: Vec::new(),
            changed_mark: vec![false; n],
            due_buf: Vec::with_capacity(1024),
            started_buf: Vec::with_capacity(1024),
            completed: 0,
            skipped_running: 0,
            results: [0; Status::ALL.len()],
        };
        for (ix, p) in plan.active() {
            let interval = interval_for(&p.schedule, true, p.initially.0.is_ok());
            let site = &plan.model.sites[p.site as usize];
            let period = p.period.map(|i| (&site.calendar, i));
            engine.sched.schedule_first(ix, p.key, now, interval, period);
        }
        // Members are initial states, all hard, so virtual checks start hard.
        engine.settle_virtuals(now, |_| false);
        engine
    }

    /// Evaluates every virtual check in dependency order. One whose state is `kept`
    /// (restored, or carried over a reload) is recomputed, with the events of any
    /// change. Any other takes its first evaluation as its initial state, as
    /// `<initially>` is a real check's: computed from states it did not see change,
    /// it raises no alert (nor, later, a recovery), and no event.
    pub(super) fn settle_virtuals(&mut self, now: Timestamp, kept: impl Fn(CheckIx) -> bool) {
        let order: Vec<CheckIx> = self.virtuals.iter().collect();
        for v in order {
            if kept(v) {
                self.recompute(now, v);
            } else if let Some((status, hard, output)) = self.evaluate(v) {
                let mut s = CheckState::initial(status, &output, now);
                s.hard = hard;
                s.set_suppressed(self.plan.get(v).is_some_and(|p| p.suppressed));
                s.set_in_downtime(self.states[v.index()].in_downtime);
                self.states[v.index()] = s;
            }
        }
    }

    pub fn plan(&self) -> &Arc<Plan> {
        &self.plan
    }

    /// The settings the engine was made with (a reload makes the next one with them).
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Checks on the schedule now.
    pub fn scheduled(&self) -> usize {
        self.sched.len()
    }

    pub fn state(&self, ix: CheckIx) -> Option<&CheckState> {
        self.states.get(ix.index())
    }

    /// When the check next runs (`None`: running now, parked, or not scheduled).
    pub fn next_due(&self, ix: CheckIx) -> Option<Timestamp> {
        self.sched.due_at(ix)
    }

    /// Whether the check is running now.
    pub fn is_running(&self, ix: CheckIx) -> bool {
        self.running.get(ix.index()).is_some_and(Option::is_some)
    }

    /// When [`Engine::poll`] next has something to do (possibly already past): a due
    /// check, a downtime starting or ending, or (already past) checks that got a slot
    /// since the last poll.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        if let Some(d) = self.started_buf.first() {
            return Some(d.due);
        }
        match (self.sched.next_deadline(), self.next_downtime_change()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The probe class of a check, once its parameters are known (a `nagios` line
    /// that runs natively counts against the native engine's cap); from its next run.
    pub fn set_class(&mut self, ix: CheckIx, class: Option<EngineName>) {
        if let Some(c) = self.class.get_mut(ix.index()) {
            *c = kind_of(class);
        }
    }

    /// Appends to `out` the checks to start now: due ones within the caps, and
    /// waiting ones that got a slot since the last call.
    pub fn poll(&mut self, now: Timestamp, out: &mut Vec<CheckIx>) {
        if self.next_downtime_change().is_some_and(|t| t <= now) {
            self.apply_downtimes(now);
        }
        for d in self.started_buf.drain(..) {
            if let Some(Some(run)) = self.running.get_mut(d.ix.index()) {
                run.started = true;
            }
            out.push(d.ix);
        }
        self.due_buf.clear();
        self.sched.poll_due(now, &mut self.due_buf);
        let mut due = std::mem::take(&mut self.due_buf);
        for d in due.drain(..) {
            let Some(p) = self.plan.get(d.ix) else { continue };
            if self.running[d.ix.index()].is_some() {
                // Never twice at once: this slot is skipped, the next one kept.
                self.skipped_running += 1;
                self.events.push(Event::Skipped { ix: d.ix, at: now, reason: SkipReason::StillRunning });
                self.reschedule(d.ix, d.due, now);
                continue;
            }
            let class = self.class[d.ix.index()];
            let started = self.dispatch.offer(d.ix, class, p.target, d.due, now);
            self.running[d.ix.index()] = Some(Run { due: d.due, class, started });
            if started {
                out.push(d.ix);
            }
        }
        self.due_buf = due;
    }

    /// Applies the result of a check started by [`Engine::poll`].
    pub fn handle_result(&mut self, now: Timestamp, ix: CheckIx, result: CheckResult) {
        let Some(p) = self.plan.get(ix) else { return };
        let Some(Run { due, class, .. }) = self.running.get_mut(ix.index()).and_then(Option::take) else { return };
        self.dispatch.finished(ix, class, p.target, now, &mut self.started_buf);
        self.completed += 1;
        self.results[status_index(result.status)] += 1;
        let deps = self.dep_status(ix);
        let th = Thresholds::new(p.failed_after, p.recovers_after);
        let state = &mut self.states[ix.index()];
        let before = state.member();
        let applied = state.apply(now, &result, th, deps, &self.config.flap, &mut self.alert_ids);
        push_applied(&mut self.events, ix, now, state, &applied);
        let member_changed = state.member() != before;
        self.mark_changed(ix);
        // Conditions read a member's exact status (`all` = worst, `count critical`),
        // its hardness and its acknowledgement, not only its ok-ness: PENDING → OK or
        // WARNING → CRITICAL while hard must reach the virtual checks too.
        if member_changed {
            self.member_changed(now, ix);
        }
        // Most results are of no re-check: skip hashing for them.
        let rechecked = if self.rechecked.is_empty() { None } else { self.rechecked.remove(&ix) };
        match rechecked {
            Some(slot) => self.resume_slot(ix, slot, now),
            None => self.reschedule(ix, due, now),
        }
    }

    /// Moves to `out` the checks whose state changed since the last call (for the
    /// store: each is saved once however often it changed).
    pub fn drain_changed(&mut self, out: &mut Vec<CheckIx>) {
        for ix in self.changed.drain(..) {
            if let Some(m) = self.changed_mark.get_mut(ix.index()) {
                *m = false;
            }
            out.push(ix);
        }
    }

    pub(super) fn mark_changed(&mut self, ix: CheckIx) {
        if let Some(m) = self.changed_mark.get_mut(ix.index()) {
            if !*m {
                *m = true;
                self.changed.push(ix);
            }
        }
    }

    /// Moves the events collected since the last call to `out`.
    pub fn drain_events(&mut self, out: &mut Vec<Event>) {
        out.append(&mut self.events);
    }

    pub fn health(&self) -> EngineHealth {
        let h = self.sched.health(&self.dispatch);
        EngineHealth {
            due: h.counters.due,
            started: h.started,
            completed: self.completed,
            skipped_late: h.counters.skipped_late,
            skipped_period: h.counters.skipped_period,
            skipped_running: self.skipped_running,
            queued: h.queued_now,
            in_flight: h.in_flight,
            lateness: LatenessMs {
                count: h.lateness.count,
                p50: h.lateness.p50_ms,
                p99: h.lateness.p99_ms,
                max: h.lateness.max_ms,
                mean: h.lateness.mean_ms,
            },
            results: Status::ALL
                .iter()
                .zip(self.results.iter())
                .filter(|(_, n)| **n > 0)
                .map(|(s, n)| (s.as_str(), *n))
                .collect(),
        }
    }

    /// The next run after one due at `due`, with the interval the state now asks for.
    pub(super) fn reschedule(&mut self, ix: CheckIx, due: Timestamp, now: Timestamp) {
        let Some(p) = self.plan.get(ix) else { return };
        let s = &self.states[ix.index()];
        let interval = interval_for(&p.schedule, s.hard, s.ok);
        let site = &self.plan.model.sites[p.site as usize];
        let period = p.period.map(|i| (&site.calendar, i));
        self.sched.schedule_next(ix, due, now, interval, period);
    }

    /// The next run after a re-check, on the grid of the slot the check was due at
    /// before it (`slot + k·interval`, the first after `now`): the re-check was one
    /// run more, and the check keeps its phase (with an unchanged interval the next
    /// run is that very slot).
    fn resume_slot(&mut self, ix: CheckIx, slot: Timestamp, now: Timestamp) {
        let Some(p) = self.plan.get(ix) else { return };
        let s = &self.states[ix.index()];
        let interval = interval_for(&p.schedule, s.hard, s.ok).max(std::time::Duration::from_millis(1));
        let iv = SignedDuration::try_from(interval).unwrap_or(SignedDuration::MAX);
        let slot_ns = slot.as_nanosecond();
        let iv_ns = iv.as_nanos();
        let k = (now.as_nanosecond() - slot_ns).div_euclid(iv_ns) + 1;
        let Some(next) = slot_ns.checked_add(k.saturating_mul(iv_ns)).and_then(|t| Timestamp::from_nanosecond(t).ok())
        else {
            return self.reschedule(ix, now, now);
        };
        // As the next run of one due an interval before `next`: the time period
        // applies as to any run, and no slot counts as skipped.
        let site = &self.plan.model.sites[p.site as usize];
        let period = p.period.map(|i| (&site.calendar, i));
        let prev = next.checked_sub(iv).unwrap_or(now);
        self.sched.schedule_next(ix, prev, now, interval, period);
    }

    /// What the state machine needs of a check's dependencies: a service's or trap's
    /// host; the members of a host's `<depends>`.
    fn dep_status(&self, ix: CheckIx) -> DepStatus {
        let Some(p) = self.plan.get(ix) else { return DepStatus::NONE };
        let states = &self.states;
        match (&p.host, &p.depends) {
            (Some(h), _) => DepStatus::from_states(states.get(h.index()).map(|s| (*h, s))),
            (None, Some(c)) => {
                DepStatus::from_states(c.members().iter().filter_map(|m| Some((*m, states.get(m.index())?))))
            }
            (None, None) => DepStatus::NONE,
        }
    }

    /// Recomputes the virtual checks that `member` feeds, in dependency order.
    pub(super) fn member_changed(&mut self, now: Timestamp, member: CheckIx) {
        let affected: Vec<CheckIx> = self.virtuals.affected(member).collect();
        for v in affected {
            self.recompute(now, v);
        }
    }

    /// A virtual check's status, hardness and output from its members' state now;
    /// `None` when `v` is not a virtual check.
    pub(super) fn evaluate(&self, v: CheckIx) -> Option<(Status, bool, String)> {
        let states = &self.states;
        let eval = self
            .virtuals
            .recompute(v, |m| states.get(m.index()).map_or(Member::hard(Status::Unknown), CheckState::member))?;
        let members = self.virtuals.members(v);
        let ok = members
            .iter()
            .filter(|m| states.get(m.index()).is_some_and(|s| s.member().effective_status().is_ok()))
            .count();
        let output = format!("{} - {ok} of {} members ok", eval.status.as_str(), members.len());
        Some((eval.status, eval.hard, output))
    }

    pub(super) fn recompute(&mut self, now: Timestamp, v: CheckIx) {
        let Some((status, hard, output)) = self.evaluate(v) else { return };
        let state = &mut self.states[v.index()];
        if state.status == status && state.hard == hard && state.output == output {
            return;
        }
        let applied = state.apply_virtual(now, status, &output, hard, &self.config.flap, &mut self.alert_ids);
        push_applied(&mut self.events, v, now, state, &applied);
        self.mark_changed(v);
    }
}

fn status_index(s: Status) -> usize {
    Status::ALL.iter().position(|x| *x == s).unwrap_or(0)
}
