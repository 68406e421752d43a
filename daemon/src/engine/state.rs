//! The check state machine of SEMANTICS §7: soft/hard, attempts, alerts, recoveries,
//! re-notification, acknowledgement and flap detection, for one check at a time.
//!
//! Pure: every method takes `now` and changes only the [`CheckState`] it is called on
//! (plus the [`AlertIds`] counter). It does not schedule, store, notify or look at
//! other checks: the caller gives the dependencies' state as a [`DepStatus`] and turns
//! the returned [`Applied`] into events ([`super::events`]) and deadlines.
//!
//! Decisions where §7 is silent:
//! - The initial state (`<initially>`, default PENDING) is hard, attempt 1, with no
//!   open alert; it counts as "the previous result" for the first real result. So a
//!   first OK after PENDING changes nothing but status and output, and a first
//!   CRITICAL starts the soft phase as any ok → not-ok change does.
//! - An initial not-ok state has no alert: staying not-ok never alerts or re-notifies,
//!   and going ok is a hard change (`hard_changed`) but no recovery, since nobody was
//!   told of a problem. `<initially>` states an assumption, not an event.
//! - A threshold of 0 acts as 1. While soft the attempt counts up to the threshold and
//!   stays there while a dependency is soft; the next result after every dependency is
//!   hard then goes hard. Nothing re-evaluates a check when only its dependency
//!   changes: §7 acts "on each result", and a soft check is re-run at
//!   `changing-every`.
//! - A hard state keeps the attempt at which it went hard (1 when at once).
//! - An alert always gets an id and a [`Transition::Alert`], also when nobody is
//!   notified (suppressed, in downtime, flapping, covered): "no alert" in §7 means no
//!   notification; the record keeps history and pairs the later recovery.
//! - "Worse" (re-notification) means worse than the worst status of the open alert so
//!   far, so WARNING ↔ CRITICAL oscillation re-notifies once, not on every swing. A
//!   worse status is always reported (the store keeps the alert's worst status);
//!   `notify` says whether anyone is told.
//! - A covered alert whose dependencies are all hard and none of them hard not-ok any
//!   more (the switch came back, this host did not) is uncovered on its next result:
//!   a [`Transition::Renotify`] tells the recipients for the first time.
//! - A recovery notifies only when its alert notified someone, and not while
//!   suppressed, in downtime or flapping. Acknowledgement does not silence recoveries.
//! - Acknowledgement is accepted while the last hard state is not ok (also during a
//!   soft attempt to recover) and cleared at the next hard change.
//! - Flapping: the ok-ness of the last 21 results; a change is a result whose
//!   ok-ness differs from the one before it within that window, so at most 20. The
//!   share is changes / 20 (a full window's pairs, also while the window fills, so a
//!   new check does not flap after three results). Flapping starts when the share
//!   exceeds [`FlapConfig::high`] and stops when it falls below [`FlapConfig::low`].
//!   It is updated before the transition, so the result that starts flapping already
//!   holds its notification back. Held-back alerts are not sent when flapping stops.
//! - Times: everything uses `now` (when the engine applied the result), not
//!   [`CheckResult::at`].
//!
//! Virtual checks (clusters, resources) use [`CheckState::apply_virtual`]: the status
//! comes from the condition, hardness from the members (§6), and alerts and recoveries
//! follow the same rules on the hard state. They have no dependencies and attempt 1.

use bergamot_config::condition::Member;
use bergamot_config::status::Status;
use jiff::Timestamp;

use super::{CheckIx, CheckResult};

/// `<state failed-after recovers-after>`: how many consecutive results on the new side
/// make a state hard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub failed_after: u32,
    pub recovers_after: u32,
}

impl Thresholds {
    pub fn new(failed_after: u32, recovers_after: u32) -> Self {
        Thresholds { failed_after, recovers_after }
    }

    /// The threshold for the side `ok` is on; 0 acts as 1.
    fn for_side(self, ok: bool) -> u32 {
        let n = if ok { self.recovers_after } else { self.failed_after };
        n.max(1)
    }
}

impl Default for Thresholds {
    /// SEMANTICS §1: 3 and 3.
    fn default() -> Self {
        Thresholds { failed_after: 3, recovers_after: 3 }
    }
}

impl From<(u32, u32)> for Thresholds {
    /// As `bergamot_config::view::thresholds` gives them: `(failed_after, recovers_after)`.
    fn from((failed_after, recovers_after): (u32, u32)) -> Self {
        Thresholds { failed_after, recovers_after }
    }
}

/// Flap detection: shares of changes among the last 21 results (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlapConfig {
    /// Flapping starts when the share of changes is above this (1.0 or more: never).
    pub high: f32,
    /// Flapping stops when the share of changes is below this.
    pub low: f32,
}

impl Default for FlapConfig {
    fn default() -> Self {
        FlapConfig { high: 0.3, low: 0.2 }
    }
}

/// Hands out alert ids, increasing, so the store can key alerts by them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertIds {
    next: u64,
}

impl AlertIds {
    /// Ids from 1.
    pub fn new() -> Self {
        AlertIds { next: 1 }
    }

    /// Ids after `last`, the highest id already stored (after a restart).
    pub fn starting_after(last: u64) -> Self {
        AlertIds { next: last.saturating_add(1) }
    }

    pub fn next_id(&mut self) -> u64 {
        let id = self.next;
        self.next = self.next.saturating_add(1);
        id
    }
}

impl Default for AlertIds {
    fn default() -> Self {
        Self::new()
    }
}

/// A dependency's alert that covers an alert of this check: nobody is notified of the
/// latter, since the former explains it (§7, no alert storm when a switch dies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Cover {
    #[serde(serialize_with = "super::events::ser_ix")]
    pub check: CheckIx,
    /// The dependency's open alert; `None` when it has none (its not-ok state is the
    /// initial one).
    pub alert_id: Option<u64>,
}

/// What a result's state machine needs to know of the check's dependencies (a
/// service's or trap's host; a host's `<depends>` members).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepStatus {
    /// Every dependency is hard (true when there are none).
    pub all_hard: bool,
    /// The first dependency that is hard and not ok, with its open alert.
    pub failed_dependency: Option<Cover>,
}

impl DepStatus {
    /// No dependencies.
    pub const NONE: DepStatus = DepStatus { all_hard: true, failed_dependency: None };

    /// From the dependencies' current states, in the order given.
    pub fn from_states<'a>(deps: impl IntoIterator<Item = (CheckIx, &'a CheckState)>) -> Self {
        let mut d = DepStatus::NONE;
        for (ix, s) in deps {
            if !s.hard {
                d.all_hard = false;
            } else if !s.ok && d.failed_dependency.is_none() {
                d.failed_dependency = Some(Cover { check: ix, alert_id: s.alert });
            }
        }
        d
    }
}

/// Which `<schedule>` interval applies next (§7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IntervalKind {
    /// Hard ok: `every`.
    Every,
    /// Hard not ok: `retry-every`.
    RetryEvery,
    /// Soft: `changing-every`.
    ChangingEvery,
}

/// What a hard state change (or a change while hard not-ok) means for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Hard not-ok after hard ok: a new alert.
    Alert { alert_id: u64, status: Status, covered_by: Option<Cover>, notify: bool },
    /// The open alert is worth telling again: its status got worse, or the dependency
    /// that covered it recovered while this check did not (then it is the first time).
    Renotify { alert_id: u64, status: Status, notify: bool },
    /// Hard ok after the hard not-ok state of an open alert.
    Recovery { alert_id: u64, status: Status, notify: bool },
}

/// Flapping started or stopped with this result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlapChange {
    Started,
    Stopped,
}

/// What applying one result (or one virtual evaluation) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// The status before.
    pub from: Status,
    /// Whether the state was hard before.
    pub was_hard: bool,
    /// The ok-ness differs from the previous result's.
    pub state_changed: bool,
    /// The hard state's ok-ness changed (alert, recovery, or leaving an initial state).
    pub hard_changed: bool,
    pub transition: Option<Transition>,
    pub flap: Option<FlapChange>,
    /// The interval until the next run.
    pub interval: IntervalKind,
}

/// Number of results the flap detector remembers.
pub const FLAP_WINDOW: u8 = 21;
const FLAP_MASK: u32 = (1 << FLAP_WINDOW) - 1;

/// The state of one check. Fields are public to read (UI, store) and to restore after
/// a restart; change them through the methods, which keep them consistent.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckState {
    pub status: Status,
    pub output: String,
    pub long_output: String,
    pub perfdata: String,
    /// `status.is_ok()`, kept for the previous-result comparison.
    pub ok: bool,
    pub hard: bool,
    /// 1-based; see the module doc for hard states.
    pub attempt: u32,
    /// The status while last hard: equals `status` while hard.
    pub last_hard_status: Status,
    /// When the hard state's ok-ness last changed.
    pub last_hard_change: Timestamp,
    /// When the ok-ness last changed.
    pub last_change: Timestamp,
    /// When the last result was applied; `None` before the first.
    pub last_check: Option<Timestamp>,
    /// When the open problem was acknowledged.
    pub acknowledged: Option<Timestamp>,
    pub suppressed: bool,
    pub in_downtime: bool,
    pub flapping: bool,
    /// Ok-ness of the last results, newest in bit 0.
    pub history: u32,
    /// How many bits of `history` are results (at most [`FLAP_WINDOW`]).
    pub history_len: u8,
    /// The open alert: set when going hard not-ok from hard ok, cleared at recovery.
    pub alert: Option<u64>,
    /// The worst status of the open alert so far.
    pub alert_worst: Status,
    /// Whether anyone was notified of the open alert.
    pub alert_notified: bool,
    /// The dependency alert that covers the open alert.
    pub covered_by: Option<Cover>,
}

impl CheckState {
    /// The state before any result: hard, with the `<initially>` status and output.
    pub fn initial(status: Status, output: &str, now: Timestamp) -> Self {
        CheckState {
            status,
            output: output.to_string(),
            long_output: String::new(),
            perfdata: String::new(),
            ok: status.is_ok(),
            hard: true,
            attempt: 1,
            last_hard_status: status,
            last_hard_change: now,
            last_change: now,
            last_check: None,
            acknowledged: None,
            suppressed: false,
            in_downtime: false,
            flapping: false,
            history: 0,
            history_len: 0,
            alert: None,
            alert_worst: status,
            alert_notified: false,
            covered_by: None,
        }
    }

    pub fn is_acknowledged(&self) -> bool {
        self.acknowledged.is_some()
    }

    /// Which interval applies now: soft → changing-every, hard ok → every, hard
    /// not-ok → retry-every.
    pub fn interval_kind(&self) -> IntervalKind {
        match (self.hard, self.ok) {
            (false, _) => IntervalKind::ChangingEvery,
            (true, true) => IntervalKind::Every,
            (true, false) => IntervalKind::RetryEvery,
        }
    }

    /// The check as a member of a virtual check's condition.
    pub fn member(&self) -> Member {
        Member {
            status: self.status,
            hard: self.hard,
            acknowledged: self.is_acknowledged(),
            suppressed: self.suppressed,
            in_downtime: self.in_downtime,
        }
    }

    /// Share of ok-ness changes in the window (see the module doc).
    pub fn flap_share(&self) -> f32 {
        let pairs = u32::from(self.history_len.saturating_sub(1));
        let changes = ((self.history ^ (self.history >> 1)) & ((1u32 << pairs) - 1)).count_ones();
        changes as f32 / f32::from(FLAP_WINDOW - 1)
    }

    /// Applies one result of a real check (§7, steps 1–3).
    pub fn apply(
        &mut self,
        now: Timestamp,
        result: &CheckResult,
        th: Thresholds,
        deps: DepStatus,
        flap: &FlapConfig,
        alert_ids: &mut AlertIds,
    ) -> Applied {
        let status = result.status;
        let ok = status.is_ok();
        let from = self.status;
        let was_hard = self.hard;
        let state_changed = ok != self.ok;
        let flap_change = self.record(now, status, state_changed, flap);
        set_text(&mut self.output, &result.output);
        set_text(&mut self.long_output, &result.long_output);
        set_text(&mut self.perfdata, &result.perfdata);

        let threshold = th.for_side(ok);
        let go_hard = if state_changed {
            // Step 1: a state change goes hard at once only with a threshold of 1.
            self.attempt = 1;
            threshold <= 1 && deps.all_hard
        } else if self.hard {
            // Step 2: nothing changes but status and output (and what that means
            // for an open alert, handled by `settle`).
            true
        } else {
            // Step 3: one more attempt on the same side, capped at the threshold
            // while a dependency is still soft.
            self.attempt = self.attempt.saturating_add(1).min(threshold);
            self.attempt >= threshold && deps.all_hard
        };

        let (hard_changed, transition) = if go_hard {
            self.hard = true;
            self.settle(now, &deps, alert_ids)
        } else {
            self.hard = false;
            (false, None)
        };
        Applied {
            from,
            was_hard,
            state_changed,
            hard_changed,
            transition,
            flap: flap_change,
            interval: self.interval_kind(),
        }
    }

    /// Applies a virtual check's new evaluation: `status` from its condition, `hard`
    /// when every member is hard (§6). Attempt stays 1; there are no dependencies.
    pub fn apply_virtual(
        &mut self,
        now: Timestamp,
        status: Status,
        output: &str,
        hard: bool,
        flap: &FlapConfig,
        alert_ids: &mut AlertIds,
    ) -> Applied {
        let from = self.status;
        let was_hard = self.hard;
        let state_changed = status.is_ok() != self.ok;
        let flap_change = self.record(now, status, state_changed, flap);
        set_text(&mut self.output, output);
        self.attempt = 1;
        self.hard = hard;
        let (hard_changed, transition) =
            if hard { self.settle(now, &DepStatus::NONE, alert_ids) } else { (false, None) };
        Applied {
            from,
            was_hard,
            state_changed,
            hard_changed,
            transition,
            flap: flap_change,
            interval: self.interval_kind(),
        }
    }

    /// Acknowledges the open problem. Returns false (and changes nothing) when the
    /// last hard state is ok or the problem is already acknowledged.
    pub fn acknowledge(&mut self, now: Timestamp) -> bool {
        if self.last_hard_status.is_ok() || self.acknowledged.is_some() {
            return false;
        }
        self.acknowledged = Some(now);
        true
    }

    /// Returns whether it changed.
    pub fn set_suppressed(&mut self, suppressed: bool) -> bool {
        std::mem::replace(&mut self.suppressed, suppressed) != suppressed
    }

    /// Returns whether it changed.
    pub fn set_in_downtime(&mut self, in_downtime: bool) -> bool {
        std::mem::replace(&mut self.in_downtime, in_downtime) != in_downtime
    }

    /// Notifications are held back for the check itself (not counting covering).
    fn held_back(&self) -> bool {
        self.suppressed || self.in_downtime || self.flapping
    }

    /// Status, times and flap history of a new result; returns a flapping change.
    fn record(&mut self, now: Timestamp, status: Status, state_changed: bool, flap: &FlapConfig) -> Option<FlapChange> {
        self.status = status;
        self.ok = status.is_ok();
        self.last_check = Some(now);
        if state_changed {
            self.last_change = now;
        }
        self.history = ((self.history << 1) | u32::from(self.ok)) & FLAP_MASK;
        self.history_len = (self.history_len + 1).min(FLAP_WINDOW);
        let share = self.flap_share();
        if !self.flapping && share > flap.high {
            self.flapping = true;
            Some(FlapChange::Started)
        } else if self.flapping && share < flap.low {
            self.flapping = false;
            Some(FlapChange::Stopped)
        } else {
            None
        }
    }

    /// The check is hard after this result (it went hard or stayed hard): alert,
    /// recovery or re-notification by its last hard state. `self.status` is new.
    fn settle(&mut self, now: Timestamp, deps: &DepStatus, ids: &mut AlertIds) -> (bool, Option<Transition>) {
        let status = self.status;
        let was_problem = !self.last_hard_status.is_ok();
        self.last_hard_status = status;
        if was_problem != self.ok {
            return (false, self.still_failing(deps));
        }
        // A hard change.
        self.last_hard_change = now;
        self.acknowledged = None;
        if !self.ok {
            let alert_id = ids.next_id();
            let covered_by = deps.failed_dependency;
            let notify = !self.held_back() && covered_by.is_none();
            self.alert = Some(alert_id);
            self.alert_worst = status;
            self.alert_notified = notify;
            self.covered_by = covered_by;
            return (true, Some(Transition::Alert { alert_id, status, covered_by, notify }));
        }
        self.covered_by = None;
        let notified = std::mem::replace(&mut self.alert_notified, false);
        // No alert is open when the not-ok state was the initial one.
        let transition = self.alert.take().map(|alert_id| Transition::Recovery {
            alert_id,
            status,
            notify: notified && !self.held_back(),
        });
        (true, transition)
    }

    /// Still hard not-ok (or still hard ok: nothing): re-notify when worse or when the
    /// covering dependency has recovered.
    fn still_failing(&mut self, deps: &DepStatus) -> Option<Transition> {
        let alert_id = self.alert?;
        if self.ok {
            return None;
        }
        let worse = self.status > self.alert_worst;
        let uncovered = self.covered_by.is_some() && deps.all_hard && deps.failed_dependency.is_none();
        if !worse && !uncovered {
            return None;
        }
        if worse {
            self.alert_worst = self.status;
        }
        if uncovered {
            self.covered_by = None;
        }
        let notify = !self.is_acknowledged() && !self.held_back() && self.covered_by.is_none();
        self.alert_notified |= notify;
        Some(Transition::Renotify { alert_id, status: self.status, notify })
    }
}

/// Replaces `dst` with `src`, reusing its allocation.
fn set_text(dst: &mut String, src: &str) {
    dst.clear();
    dst.push_str(src);
}
