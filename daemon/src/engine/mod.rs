//! The daemon's engine: scheduling, check state, virtual checks and the event stream,
//! all pure and on injected time (no I/O, no clock: the driver in `run` does both).
//!
//! - [`wheel`]: a hierarchical timer wheel, millisecond resolution.
//! - [`schedule`]: when each check is next due (spread, intervals, time periods),
//!   caps on checks in flight per engine and per target host, lateness.
//! - [`state`]: the check state machine (SEMANTICS §7): soft/hard, alerts, flapping.
//! - [`virtuals`]: clusters and resources recomputed from their members (§6).
//! - [`events`]: what the engine tells the rest of the daemon.
//! - [`ops`]: operator actions, downtimes, restoring saved state, reloading.

pub mod core;
pub mod events;
pub mod ops;
pub mod schedule;
pub mod state;
pub mod virtuals;
pub mod wheel;

use std::time::Duration;

use bergamot_config::status::Status;
use jiff::Timestamp;

/// Index of a check in the engine's table (every real check of every site). Stable
/// for one loaded model; the identity that survives reloads is the check's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CheckIx(pub u32);

impl CheckIx {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// What running a check produced (SEMANTICS §9 for plugins; native probes give the
/// same shape).
#[derive(Debug, Clone, PartialEq)]
pub struct CheckResult {
    pub status: Status,
    /// First line, up to `|`.
    pub output: String,
    pub long_output: String,
    /// Performance data as text (`'label'=value[UOM];warn;crit;min;max …`).
    pub perfdata: String,
    /// How long the check took.
    pub duration: Duration,
    /// When the result was produced.
    pub at: Timestamp,
}

impl CheckResult {
    /// A result with only a status and a one-line output.
    pub fn new(status: Status, output: impl Into<String>, at: Timestamp) -> Self {
        CheckResult {
            status,
            output: output.into(),
            long_output: String::new(),
            perfdata: String::new(),
            duration: Duration::ZERO,
            at,
        }
    }
}
