//! What happens to the engine besides results: operator actions (acknowledge,
//! suppress, downtime, re-check now; SEMANTICS §7–8), restoring the state saved
//! before a restart, and swapping in a reloaded plan while keeping every unchanged
//! check's state and schedule phase. Pure, like the rest of the engine.

use std::collections::HashMap;
use std::sync::Arc;

use bergamot_config::raw::Kind;
use jiff::Timestamp;

use super::core::{Engine, EngineConfig};
use super::events::Event;
use super::schedule::interval_for;
use super::state::{AlertIds, CheckState};
use super::CheckIx;
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
    pub fn acknowledge(&mut self, now: Timestamp, path: &str, by: &str, comment: &str) -> Result<Option<u64>, ActionError> {
        let ix = self.ix_of(path)?;
        let state = &mut self.states[ix.index()];
        if !state.acknowledge(now) {
            return Err(ActionError::NothingToAcknowledge(path.to_string()));
        }
        let alert_id = state.alert;
        self.events.push(Event::Acknowledged { ix, at: now, alert_id, by: by.to_string(), comment: comment.to_string() });
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

    /// Runs a check now; it keeps its phase afterwards. Nothing happens to a check
    /// that is running already.
    pub fn recheck(&mut self, now: Timestamp, path: &str) -> Result<(), ActionError> {
        let ix = self.ix_of(path)?;
        if !self.plan.get(ix).is_some_and(|p| p.active) {
            return Err(ActionError::NotScheduled(path.to_string()));
        }
        if self.running[ix.index()].is_none() {
            self.sched.insert(ix, now);
        }
        Ok(())
    }

    /// The span of a downtime "for the length of a time period": from the next time
    /// the check's site's `period` is active (now, if it is) until it next stops.
    pub fn period_span(&self, path: &str, period: &str, now: Timestamp) -> Result<(Timestamp, Timestamp), ActionError> {
        let ix = self.ix_of(path)?;
        let site = self.plan.site(ix).ok_or_else(|| ActionError::NoSuchCheck(path.to_string()))?;
        let p = site.calendar.find(period).ok_or_else(|| ActionError::NoSuchPeriod {
            site: site.name.to_string(),
            period: period.to_string(),
        })?;
        let never = || ActionError::PeriodNeverActive(period.to_string());
        let from = if site.calendar.is_active(p, now) { now } else { site.calendar.next_active(p, now).ok_or_else(never)? };
        let to = site.calendar.next_change(p, from).ok_or_else(never)?;
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
        for (i, c) in covered.into_iter().enumerate() {
            if self.states[i].set_in_downtime(c) {
                let ix = CheckIx(i as u32);
                self.mark_changed(ix);
                self.member_changed(now, ix);
            }
        }
    }

    /// Puts back the state saved before a restart, by path. Checks without a saved
    /// state keep their initial one; saved checks that no longer exist are ignored.
    /// Each restored check is rescheduled with the interval its state asks for, on
    /// its own phase (so checks resume spread out, not all at once).
    pub fn restore(&mut self, now: Timestamp, saved: &HashMap<String, CheckState>, last_alert_id: u64) -> usize {
        self.alert_ids = AlertIds::starting_after(last_alert_id);
        let mut restored = 0;
        for i in 0..self.states.len() {
            let ix = CheckIx(i as u32);
            let Some(state) = saved.get(&self.plan.path(ix)) else { continue };
            let suppressed_by_config = self.plan.get(ix).is_some_and(|p| p.suppressed);
            let mut state = state.clone();
            if suppressed_by_config {
                state.set_suppressed(true);
            }
            self.states[i] = state;
            restored += 1;
            self.schedule_from_state(ix, now);
        }
        restored
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
    /// are scheduled spread over their interval; removed ones are gone. Downtimes and
    /// alert ids carry over.
    pub fn reload(self, plan: Arc<Plan>, now: Timestamp, config: EngineConfig) -> (Engine, Vec<Option<CheckIx>>, ReloadStats) {
        let mut next = Engine::new(plan, now, config);
        let old_paths: HashMap<String, CheckIx> =
            (0..self.states.len()).map(|i| (self.plan.path(CheckIx(i as u32)), CheckIx(i as u32))).collect();
        let mut remap = vec![None; self.states.len()];
        let mut stats = ReloadStats::default();
        for i in 0..next.states.len() {
            let ix = CheckIx(i as u32);
            let Some(&old) = old_paths.get(&next.plan.path(ix)) else {
                stats.added += 1;
                continue;
            };
            stats.kept += 1;
            remap[old.index()] = Some(ix);
            let mut state = self.states[old.index()].clone();
            // Suppression written in the configuration follows the configuration.
            let was_config = self.plan.get(old).is_some_and(|p| p.suppressed);
            let is_config = next.plan.get(ix).is_some_and(|p| p.suppressed);
            if was_config != is_config {
                state.set_suppressed(is_config);
            }
            next.states[i] = state;
            match (self.running[old.index()], self.sched.due_at(old)) {
                (Some(run), _) => {
                    // In flight: the new engine waits for its result (no second run).
                    next.sched.remove(ix);
                    next.running[i] = Some(run);
                }
                (None, Some(due)) if next.plan.get(ix).is_some_and(|p| p.active) => next.sched.insert(ix, due),
                _ => next.schedule_from_state(ix, now),
            }
        }
        stats.removed = self.states.len() - stats.kept;
        next.alert_ids = self.alert_ids;
        next.downtimes = self.downtimes;
        next.apply_downtimes(now);
        let order: Vec<CheckIx> = next.virtuals.iter().collect();
        for v in order {
            next.recompute(now, v);
        }
        (next, remap, stats)
    }
}

/// Settings the engine was made with, for a reload.
impl Engine {
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }
}
