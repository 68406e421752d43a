//! What happens to the engine besides results: operator actions (acknowledge,
//! suppress, downtime, re-check now; SEMANTICS §7–8), restoring the state saved
//! before a restart, and swapping in a reloaded plan while keeping every unchanged
//! check's state and schedule phase. Pure, like the rest of the engine.

use std::collections::HashMap;
use std::sync::Arc;

use bergamot_config::raw::Kind;
use jiff::Timestamp;

use super::CheckIx;
use super::core::{Engine, EngineConfig, Run};
use super::events::Event;
use super::schedule::{Due, EngineKind, interval_for};
use super::state::{AlertIds, CheckState};
use crate::plan::Plan;

/// A scheduled downtime: while it lasts the check (and, for a host or cluster, the
/// checks in it) raises no alert (§7).
#[derive(Debug, Clone, PartialEq)]
pub struct Downtime {
    pub id: u64,
    /// The check it was scheduled on, by path (survives reloads).
    pub path: String,
    pub from: Timestamp,
    pub to: Timestamp,
}

/// Why an action was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    #[error("no such check: {0}")]
    NoSuchCheck(String),
    #[error("{0} has no problem to acknowledge (its last hard state is ok, or it is acknowledged already)")]
    NothingToAcknowledge(String),
    #[error("{0} is not a scheduled check")]
    NotScheduled(String),
    #[error("no time period {period} in site {site}")]
    NoSuchPeriod { site: String, period: String },
    #[error("time period {0} is never active again")]
    PeriodNeverActive(String),
    #[error("time period {0} never ends (always active)")]
    PeriodNeverEnds(String),
    #[error("a downtime must end after it starts")]
    EmptyDowntime,
}

/// What a reload kept, added and dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReloadStats {
    pub kept: usize,
    pub added: usize,
    pub removed: usize,
}

impl Engine {
    /// The check at `path` (`site/host/web1[/service/load]`).
    pub fn find_path(&self, path: &str) -> Option<CheckIx> {
        let mut parts = path.split('/');
        let site = parts.next()?;
        let (k1, n1) = (parts.next()?, parts.next()?);
        let nested = match (parts.next(), parts.next()) {
            (Some(k), Some(n)) => Some((k, n)),
            (None, None) => None,
            _ => return None,
        };
        if parts.next().is_some() {
            return None;
        }
        let kind = |k: &str| Kind::ALL.iter().copied().find(|x| x.element() == k);
        match nested {
            None => self.plan.find(site, kind(k1)?, n1, None),
            Some((k2, n2)) => self.plan.find(site, kind(k2)?, n2, Some(n1)),
        }
    }

    fn ix_of(&self, path: &str) -> Result<CheckIx, ActionError> {
        self.find_path(path).ok_or_else(|| ActionError::NoSuchCheck(path.to_string()))
    }

    /// Acknowledges the check's open problem; its alert id (`None` for an initial
    /// not-ok state, which has no alert).
    pub fn acknowledge(
        &mut self,
        now: Timestamp,
        path: &str,
        by: &str,
        comment: &str,
    ) -> Result<Option<u64>, ActionError> {
        let ix = self.ix_of(path)?;
        let state = &mut self.states[ix.index()];
        if !state.acknowledge(now) {
            return Err(ActionError::NothingToAcknowledge(path.to_string()));
        }
        let alert_id = state.alert;
        self.events.push(Event::Acknowledged {
            ix,
            at: now,
            alert_id,
            by: by.to_string(),
            comment: comment.to_string(),
        });
        self.mark_changed(ix);
        self.member_changed(now, ix);
        Ok(alert_id)
    }

    /// Suppresses (or not) a check: no alerts while suppressed.
    pub fn suppress(&mut self, now: Timestamp, path: &str, suppressed: bool) -> Result<(), ActionError> {
        let ix = self.ix_of(path)?;
        if self.states[ix.index()].set_suppressed(suppressed) {
            self.mark_changed(ix);
            self.member_changed(now, ix);
        }
        Ok(())
    }

    /// Runs a check now; it keeps its phase afterwards (the slot it was due at still
    /// runs: the re-check is one run more). Nothing happens to a check that is
    /// running already.
    pub fn recheck(&mut self, now: Timestamp, path: &str) -> Result<(), ActionError> {
        let ix = self.ix_of(path)?;
        if !self.plan.get(ix).is_some_and(|p| p.active) {
            return Err(ActionError::NotScheduled(path.to_string()));
        }
        if self.running[ix.index()].is_none() {
            // A second re-check before the run keeps the slot of the first.
            if let Some(slot) = self.sched.due_at(ix) {
                self.rechecked.entry(ix).or_insert(slot);
            }
            self.sched.insert(ix, now);
        }
        Ok(())
    }

    /// The span of a downtime "for the length of a time period": from the next time
    /// the check's site's `period` is active (now, if it is) until it next stops.
    pub fn period_span(&self, path: &str, period: &str, now: Timestamp) -> Result<(Timestamp, Timestamp), ActionError> {
        let ix = self.ix_of(path)?;
        let site = self.plan.site(ix).ok_or_else(|| ActionError::NoSuchCheck(path.to_string()))?;
        let p = site
            .calendar
            .find(period)
            .ok_or_else(|| ActionError::NoSuchPeriod { site: site.name.to_string(), period: period.to_string() })?;
        let from =
            site.calendar.next_active(p, now).ok_or_else(|| ActionError::PeriodNeverActive(period.to_string()))?;
        let to = site.calendar.next_change(p, from).ok_or_else(|| ActionError::PeriodNeverEnds(period.to_string()))?;
        Ok((from, to))
    }

    /// Adds a downtime (its id from the store); it takes effect at its start.
    pub fn add_downtime(&mut self, now: Timestamp, d: Downtime) -> Result<(), ActionError> {
        self.ix_of(&d.path)?;
        if d.to <= d.from {
            return Err(ActionError::EmptyDowntime);
        }
        self.downtimes.push(d);
        self.apply_downtimes(now);
        Ok(())
    }

    /// Ends a downtime early; false when there is none with this id.
    pub fn cancel_downtime(&mut self, now: Timestamp, id: u64) -> bool {
        let before = self.downtimes.len();
        self.downtimes.retain(|d| d.id != id);
        let found = self.downtimes.len() != before;
        if found {
            self.apply_downtimes(now);
        }
        found
    }

    pub fn downtimes(&self) -> &[Downtime] {
        &self.downtimes
    }

    /// The next instant a downtime starts or ends, after the last time they were
    /// applied.
    pub(super) fn next_downtime_change(&self) -> Option<Timestamp> {
        let after = self.downtime_clock;
        self.downtimes.iter().flat_map(|d| [d.from, d.to]).filter(|t| *t > after).min()
    }

    /// Sets every check's `in_downtime` from the downtimes active at `now`, drops
    /// ended ones, and recomputes what depends on a check whose flag changed.
    pub(super) fn apply_downtimes(&mut self, now: Timestamp) {
        let covered = self.downtime_cover(now);
        for (i, c) in covered.into_iter().enumerate() {
            if self.states[i].set_in_downtime(c) {
                let ix = CheckIx(i as u32);
                self.mark_changed(ix);
                self.member_changed(now, ix);
            }
        }
    }

    /// Sets every check's `in_downtime` from the downtimes active at `now` (a flag
    /// that changed is a change for the store), and recomputes nothing: for states
    /// just put in place (restored, reloaded) before the virtual checks are settled
    /// over them.
    fn set_downtime_flags(&mut self, now: Timestamp) {
        let covered = self.downtime_cover(now);
        for (i, c) in covered.into_iter().enumerate() {
            if self.states[i].set_in_downtime(c) {
                self.mark_changed(CheckIx(i as u32));
            }
        }
    }

    /// Which checks the downtimes active at `now` cover, by index; drops ended
    /// downtimes and notes `now` as when they were last applied.
    fn downtime_cover(&mut self, now: Timestamp) -> Vec<bool> {
        self.downtime_clock = now;
        self.downtimes.retain(|d| d.to > now);
        let mut covered = vec![false; self.states.len()];
        let active: Vec<String> = self.downtimes.iter().filter(|d| d.from <= now).map(|d| d.path.clone()).collect();
        for path in active {
            let Some(ix) = self.find_path(&path) else { continue };
            covered[ix.index()] = true;
            // A host's or cluster's downtime covers the checks in it.
            if let Some(p) = self.plan.get(ix) {
                if matches!(p.kind, Kind::Host | Kind::Cluster) {
                    for (i, q) in self.plan.checks.iter().enumerate().skip(ix.index() + 1) {
                        if q.site != p.site || q.target != p.target {
                            break;
                        }
                        covered[i] = true;
                    }
                }
            }
        }
        covered
    }

    /// Puts back the state saved before a restart, by path. Checks without a saved
    /// state keep their initial one; saved checks that no longer exist are ignored.
    /// Each restored check is rescheduled with the interval its state asks for, on
    /// its own phase (so checks resume spread out, not all at once). Saved downtime
    /// flags give way to the engine's downtimes (add those first, or after: both
    /// work), and virtual checks are settled over the restored states: a restored
    /// one is recomputed, any other starts from them as from an initial state.
    pub fn restore(&mut self, now: Timestamp, saved: &HashMap<String, CheckState>, last_alert_id: u64) -> usize {
        self.alert_ids = AlertIds::starting_after(last_alert_id);
        let mut restored = vec![false; self.states.len()];
        for (i, was_saved) in restored.iter_mut().enumerate() {
            let ix = CheckIx(i as u32);
            let Some(state) = saved.get(&self.plan.path(ix)) else { continue };
            let suppressed_by_config = self.plan.get(ix).is_some_and(|p| p.suppressed);
            let mut state = state.clone();
            if suppressed_by_config {
                state.set_suppressed(true);
            }
            self.states[i] = state;
            *was_saved = true;
            self.schedule_from_state(ix, now);
        }
        // A downtime that ended during the restart must not hold alerts back forever.
        self.set_downtime_flags(now);
        self.settle_virtuals(now, |v| restored[v.index()]);
        restored.iter().filter(|r| **r).count()
    }

    /// (Re)schedules an idle active check on its phase with its state's interval.
    fn schedule_from_state(&mut self, ix: CheckIx, now: Timestamp) {
        let Some(p) = self.plan.get(ix) else { return };
        if !p.active || self.running[ix.index()].is_some() {
            return;
        }
        let s = &self.states[ix.index()];
        let interval = interval_for(&p.schedule, s.hard, s.ok);
        let site = &self.plan.model.sites[p.site as usize];
        let period = p.period.map(|i| (&site.calendar, i));
        let key = p.key;
        self.sched.schedule_first(ix, key, now, interval, period);
    }

    /// A new engine for a reloaded plan: unchanged checks (same path) keep their
    /// state, their next due time and, when running, their run (its result is
    /// applied when it comes, through the returned old → new index map); new checks
    /// are scheduled spread over their interval; removed ones are gone. Downtimes,
    /// alert ids, re-checks and changes not yet drained carry over; virtual checks
    /// are recomputed over their (possibly new) members, new ones quietly.
    ///
    /// Kept as they were: a due time no further away than the interval the check's
    /// state now asks for (a longer one, from a shortened interval, gives way to the
    /// check's phase in the new interval). Runs in flight count against the new
    /// caps; runs that were waiting for a cap wait again, in due order. Events not
    /// drained are not carried (their indices are the old plan's): drain them first.
    /// The health counters start again from zero.
    pub fn reload(
        self,
        plan: Arc<Plan>,
        now: Timestamp,
        config: EngineConfig,
    ) -> (Engine, Vec<Option<CheckIx>>, ReloadStats) {
        let mut next = Engine::new(plan, now, config);
        let old_paths: HashMap<String, CheckIx> =
            (0..self.states.len()).map(|i| (self.plan.path(CheckIx(i as u32)), CheckIx(i as u32))).collect();
        let mut remap = vec![None; self.states.len()];
        let mut kept = vec![false; next.states.len()];
        let mut waiting: Vec<(Timestamp, CheckIx)> = Vec::new();
        let mut stats = ReloadStats::default();
        for (i, is_kept) in kept.iter_mut().enumerate() {
            let ix = CheckIx(i as u32);
            let Some(&old) = old_paths.get(&next.plan.path(ix)) else {
                stats.added += 1;
                continue;
            };
            stats.kept += 1;
            *is_kept = true;
            remap[old.index()] = Some(ix);
            let mut state = self.states[old.index()].clone();
            // Suppression written in the configuration follows the configuration.
            let was_config = self.plan.get(old).is_some_and(|p| p.suppressed);
            let is_config = next.plan.get(ix).is_some_and(|p| p.suppressed);
            if was_config != is_config {
                state.set_suppressed(is_config);
            }
            next.states[i] = state;
            let Some(p) = next.plan.get(ix) else { continue };
            let interval = interval_for(&p.schedule, next.states[i].hard, next.states[i].ok);
            let within = |due: Timestamp| {
                jiff::SignedDuration::try_from(interval)
                    .ok()
                    .and_then(|iv| now.checked_add(iv).ok())
                    .is_some_and(|end| due <= end)
            };
            match (self.running[old.index()], self.sched.due_at(old)) {
                // Disabled by the reload (or passive): a run's result is dropped.
                _ if !p.active => continue,
                (Some(run), _) => {
                    next.sched.remove(ix);
                    if run.started {
                        next.adopt(ix, run, now);
                    } else {
                        waiting.push((run.due, ix));
                    }
                }
                (None, Some(due)) if within(due) => next.sched.insert(ix, due),
                _ => next.schedule_from_state(ix, now),
            }
            if let Some(&slot) = self.rechecked.get(&old) {
                next.rechecked.insert(ix, slot);
            }
        }
        stats.removed = self.states.len() - stats.kept;
        // Health counts go on across reloads. Set after the adoptions above, which
        // re-start runs that were counted when they really started.
        next.sched.carry_counters(self.sched.counters());
        next.dispatch.carry_counts(&self.dispatch);
        next.completed = self.completed;
        next.skipped_running = self.skipped_running;
        next.results = self.results;
        // Runs that had no slot (or had one but were not handed out yet) are offered
        // again after the adopted runs, oldest first, as the old queues had them.
        waiting.sort_unstable();
        for (due, ix) in waiting {
            next.offer_again(ix, due, now);
        }
        for ix in &self.changed {
            if let Some(new) = remap[ix.index()] {
                next.mark_changed(new);
            }
        }
        next.alert_ids = self.alert_ids;
        next.downtimes = self.downtimes;
        next.set_downtime_flags(now);
        next.settle_virtuals(now, |v| kept[v.index()]);
        (next, remap, stats)
    }

    /// Takes over a run in flight from the engine before a reload: its result is
    /// awaited, and it counts against the caps (unless they shrank below what is in
    /// flight: then it runs uncounted rather than twice).
    fn adopt(&mut self, ix: CheckIx, run: Run, now: Timestamp) {
        let Some(target) = self.plan.get(ix).map(|p| p.target) else { return };
        let caps = *self.dispatch.caps();
        // As `Dispatch::offer` decides (caps of 0 act as 1), so that an offer made
        // here always starts and never queues a run that is already going.
        let engine_room = self.dispatch.in_flight(run.class) < caps.per_engine[run.class.index()].max(1);
        let host_room = run.class == EngineKind::Virtual || self.dispatch.host_in_flight(target) < caps.per_host.max(1);
        if engine_room && host_room {
            // Starts (by the test above): counted in flight. Its lateness was recorded
            // when it started; due "now" adds a zero, not the run's age.
            let _started = self.dispatch.offer(ix, run.class, target, now, now);
        }
        self.running[ix.index()] = Some(Run { started: true, ..run });
    }

    /// Offers again a run that was waiting for a cap before a reload; one that may
    /// start is handed out by the next `poll`.
    fn offer_again(&mut self, ix: CheckIx, due: Timestamp, now: Timestamp) {
        let Some(target) = self.plan.get(ix).map(|p| p.target) else { return };
        let class = self.class[ix.index()];
        let started = self.dispatch.offer(ix, class, target, due, now);
        self.running[ix.index()] = Some(Run { due, class, started: false });
        if started {
            self.started_buf.push(Due { ix, due });
        }
    }
}
