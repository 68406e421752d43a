//! What the engine tells the rest of the daemon (store, notifications, UI), as one
//! stream of plain data.
//!
//! Not the bus itself (the driver owns it) and not a decision maker: every decision
//! is made in [`super::state`]; [`push_applied`] only spells an [`Applied`] out.

use std::fmt;

use bergamot_config::status::Status;
use jiff::Timestamp;
use serde::Serializer;

use super::CheckIx;
use super::state::{Applied, CheckState, Cover, FlapChange, Transition};

/// Why a due execution did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SkipReason {
    /// Outside the schedule's time period (§7).
    OutsideTimePeriod,
    /// The check is disabled (`enabled="no"`).
    Disabled,
    /// The previous execution has not finished; a check never runs twice at once.
    StillRunning,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::OutsideTimePeriod => "outside its time period",
            SkipReason::Disabled => "disabled",
            SkipReason::StillRunning => "still running",
        }
    }
}

/// One thing that happened to one check. Times are the engine's `now` when it
/// happened.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// Every result (and every virtual check evaluation).
    Result {
        #[serde(serialize_with = "ser_ix")]
        ix: CheckIx,
        #[serde(serialize_with = "ser_ts")]
        at: Timestamp,
        status: Status,
        output: String,
        hard: bool,
        attempt: u32,
    },
    /// The ok-ness changed, or the state went hard or soft.
    StateChange {
        #[serde(serialize_with = "ser_ix")]
        ix: CheckIx,
        #[serde(serialize_with = "ser_ts")]
        at: Timestamp,
        from: Status,
        to: Status,
        hard: bool,
        attempt: u32,
    },
    /// A new alert (hard not-ok after hard ok).
    Alert {
        #[serde(serialize_with = "ser_ix")]
        ix: CheckIx,
        #[serde(serialize_with = "ser_ts")]
        at: Timestamp,
        alert_id: u64,
        status: Status,
        output: String,
        covered_by: Option<Cover>,
        notify: bool,
    },
    /// An open alert got worse, or was uncovered (see [`Transition::Renotify`]).
    Renotify {
        #[serde(serialize_with = "ser_ix")]
        ix: CheckIx,
        #[serde(serialize_with = "ser_ts")]
        at: Timestamp,
        alert_id: u64,
        status: Status,
        output: String,
        notify: bool,
    },
    /// An open alert ended (hard ok).
    Recovery {
        #[serde(serialize_with = "ser_ix")]
        ix: CheckIx,
        #[serde(serialize_with = "ser_ts")]
        at: Timestamp,
        alert_id: u64,
        status: Status,
        notify: bool,
    },
    /// Someone acknowledged the check's problem.
    Acknowledged {
        #[serde(serialize_with = "ser_ix")]
        ix: CheckIx,
        #[serde(serialize_with = "ser_ts")]
        at: Timestamp,
        /// `None` when the problem is an initial state, which has no alert.
        alert_id: Option<u64>,
        by: String,
        comment: String,
    },
    FlappingStarted {
        #[serde(serialize_with = "ser_ix")]
        ix: CheckIx,
        #[serde(serialize_with = "ser_ts")]
        at: Timestamp,
    },
    FlappingStopped {
        #[serde(serialize_with = "ser_ix")]
        ix: CheckIx,
        #[serde(serialize_with = "ser_ts")]
        at: Timestamp,
    },
    /// A due execution did not run.
    Skipped {
        #[serde(serialize_with = "ser_ix")]
        ix: CheckIx,
        #[serde(serialize_with = "ser_ts")]
        at: Timestamp,
        reason: SkipReason,
    },
}

impl Event {
    pub fn ix(&self) -> CheckIx {
        match self {
            Event::Result { ix, .. }
            | Event::StateChange { ix, .. }
            | Event::Alert { ix, .. }
            | Event::Renotify { ix, .. }
            | Event::Recovery { ix, .. }
            | Event::Acknowledged { ix, .. }
            | Event::FlappingStarted { ix, .. }
            | Event::FlappingStopped { ix, .. }
            | Event::Skipped { ix, .. } => *ix,
        }
    }

    pub fn at(&self) -> Timestamp {
        match self {
            Event::Result { at, .. }
            | Event::StateChange { at, .. }
            | Event::Alert { at, .. }
            | Event::Renotify { at, .. }
            | Event::Recovery { at, .. }
            | Event::Acknowledged { at, .. }
            | Event::FlappingStarted { at, .. }
            | Event::FlappingStopped { at, .. }
            | Event::Skipped { at, .. } => *at,
        }
    }
}

/// Appends the events of one applied result or virtual evaluation of check `ix`
/// (whose state is now `state`): `Result`; `StateChange` when the ok-ness changed or
/// the state went hard or soft; flapping; then the alert transition. Flapping comes
/// before the alert because it explains an alert nobody is notified of.
pub fn push_applied(out: &mut Vec<Event>, ix: CheckIx, at: Timestamp, state: &CheckState, applied: &Applied) {
    let (status, hard, attempt) = (state.status, state.hard, state.attempt);
    out.push(Event::Result { ix, at, status, output: state.output.clone(), hard, attempt });
    if applied.state_changed || applied.was_hard != hard {
        out.push(Event::StateChange { ix, at, from: applied.from, to: status, hard, attempt });
    }
    match applied.flap {
        Some(FlapChange::Started) => out.push(Event::FlappingStarted { ix, at }),
        Some(FlapChange::Stopped) => out.push(Event::FlappingStopped { ix, at }),
        None => {}
    }
    match applied.transition {
        Some(Transition::Alert { alert_id, status, covered_by, notify }) => {
            out.push(Event::Alert { ix, at, alert_id, status, output: state.output.clone(), covered_by, notify })
        }
        Some(Transition::Renotify { alert_id, status, notify }) => {
            out.push(Event::Renotify { ix, at, alert_id, status, output: state.output.clone(), notify })
        }
        Some(Transition::Recovery { alert_id, status, notify }) => {
            out.push(Event::Recovery { ix, at, alert_id, status, notify })
        }
        None => {}
    }
}

/// One line for logs: `<time> check <ix> <what>`.
impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} check {} ", self.at(), self.ix().0)?;
        let hs = |hard: bool| if hard { "hard" } else { "soft" };
        let held = |notify: bool| if notify { "" } else { " (not notified)" };
        match self {
            Event::Result { status, output, hard, attempt, .. } => {
                write!(f, "result {status} ({} {attempt}): {output}", hs(*hard))
            }
            Event::StateChange { from, to, hard, attempt, .. } => {
                write!(f, "state {from} -> {to} ({} {attempt})", hs(*hard))
            }
            Event::Alert { alert_id, status, output, covered_by, notify, .. } => {
                write!(f, "alert #{alert_id} {status}{}: {output}", held(*notify))?;
                match covered_by {
                    Some(Cover { check, alert_id: Some(a) }) => write!(f, " [covered by check {} alert #{a}]", check.0),
                    Some(Cover { check, alert_id: None }) => write!(f, " [covered by check {}]", check.0),
                    None => Ok(()),
                }
            }
            Event::Renotify { alert_id, status, output, notify, .. } => {
                write!(f, "alert #{alert_id} again {status}{}: {output}", held(*notify))
            }
            Event::Recovery { alert_id, status, notify, .. } => {
                write!(f, "recovery of alert #{alert_id} {status}{}", held(*notify))
            }
            Event::Acknowledged { alert_id, by, comment, .. } => {
                f.write_str("acknowledged")?;
                if let Some(a) = alert_id {
                    write!(f, " alert #{a}")?;
                }
                if !by.is_empty() {
                    write!(f, " by {by}")?;
                }
                if !comment.is_empty() {
                    write!(f, ": {comment}")?;
                }
                Ok(())
            }
            Event::FlappingStarted { .. } => f.write_str("started flapping"),
            Event::FlappingStopped { .. } => f.write_str("stopped flapping"),
            Event::Skipped { reason, .. } => write!(f, "skipped: {}", reason.as_str()),
        }
    }
}

/// A check index as its number (`CheckIx` itself has no serde derive).
pub(crate) fn ser_ix<S: Serializer>(ix: &CheckIx, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u32(ix.0)
}

/// RFC 3339 text (the workspace's jiff has no serde feature).
pub(crate) fn ser_ts<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(t)
}
