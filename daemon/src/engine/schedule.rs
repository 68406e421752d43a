//! When each check is next due: the start-up spread, phase-keeping intervals, time
//! periods (SEMANTICS §7), the table of due times over one [`TimerWheel`], and (in
//! submodules) the caps on checks in flight and the lateness the daemon reports about
//! itself. Not the state machine (which interval applies is the state's business,
//! see [`interval_for`]) and not the executor. Pure: every instant is an argument.
//!
//! - Spread. A check's *phase* is [`spread`]`(key, interval)`: a stable hash of its
//!   path, mixed, modulo the interval. [`first_due`] is the first instant at or after
//!   `now` whose offset from the Unix epoch is the phase modulo the interval, so
//!   100,000 checks of one interval start evenly over the first interval (no herd at
//!   start) and a restart runs each check on the same phase as before.
//! - Phase. [`next_due`] returns the first `prev_due + k·interval` (k ≥ 1) after
//!   `now`: a late run catches up with one run, not a burst, and the slots it missed
//!   are counted, never silently dropped.
//! - Time periods. A slot outside the check's period moves to the first phase slot
//!   from the instant the period next becomes active; if that slot falls outside the
//!   period again (an active window shorter than the interval), the check runs when
//!   the window opens, so it still runs once in every window. A period never active
//!   again parks the check (`None`).
//! - The wheel is driven by one timer: [`Scheduler::next_deadline`] says when to
//!   wake, [`Scheduler::poll_due`] returns what is due. Due times are kept exactly;
//!   the wheel holds them rounded up to the millisecond, so nothing fires early.

mod dispatch;
mod lateness;

use std::time::Duration;

use bergamot_config::timeperiod::Calendar;
use bergamot_config::view::Schedule;
use jiff::Timestamp;

pub use self::dispatch::{Caps, Dispatch, EngineKind};
pub use self::lateness::{Counters, Health, Lateness, LatenessSnapshot};
use super::CheckIx;
use super::wheel::{TimerKey, TimerWheel};

const NS_PER_MS: i128 = 1_000_000;
/// Interval arithmetic is done in i128 nanoseconds; intervals are clamped to this
/// range so that nothing overflows (config intervals are 1 ms to a year).
const MIN_INTERVAL_NS: i128 = NS_PER_MS;
const MAX_INTERVAL_NS: i128 = 100 * 366 * 24 * 3_600 * 1_000_000_000;

/// A check that is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    pub ix: CheckIx,
    /// When it was due (exactly as scheduled); `start - due` is its lateness.
    pub due: Timestamp,
}

/// Where a check goes next, and the phase slots passed over to get there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Next {
    pub at: Timestamp,
    /// Slots already past when the next one was computed (the run was late or long).
    pub skipped_late: u32,
    /// Slots outside the check's time period.
    pub skipped_period: u32,
}

/// The phase of a check in `interval`, from `key`, a stable hash of the check's path
/// (such as [`stable_key`]; not std's randomly seeded hasher, or restarts lose the
/// phase). The key is mixed first, so similar paths or sequential keys still spread
/// evenly. Millisecond resolution; zero for a zero interval.
pub fn spread(key: u64, interval: Duration) -> Duration {
    let ms = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(mix(key).checked_rem(ms).unwrap_or(0))
}

/// A stable 64-bit hash of a check's path (FNV-1a): the same on every start and build.
pub fn stable_key(path: &str) -> u64 {
    let mut h = StableHasher::new();
    std::hash::Hasher::write(&mut h, path.as_bytes());
    std::hash::Hasher::finish(&h)
}

/// FNV-1a as a [`std::hash::Hasher`]: schedule phases and configuration versions
/// must not change between runs, and `std`'s SipHash keys are random per process.
#[derive(Debug, Clone, Copy)]
pub struct StableHasher(u64);

impl StableHasher {
    pub fn new() -> StableHasher {
        StableHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl Default for StableHasher {
    fn default() -> Self {
        StableHasher::new()
    }
}

impl std::hash::Hasher for StableHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// The interval that applies in a state (SEMANTICS §7): soft → `changing-every`,
/// hard ok → `every`, hard not-ok → `retry-every`.
pub fn interval_for(schedule: &Schedule, hard: bool, ok: bool) -> Duration {
    match (hard, ok) {
        (false, _) => schedule.changing_every,
        (true, true) => schedule.every,
        (true, false) => schedule.retry_every,
    }
}

/// A check's first due time: the first instant at or after `now` on its phase
/// (`offset` from [`spread`], counted from the Unix epoch), moved into its time
/// period (`(calendar, period index)`) if it has one. `None`: the period is never
/// active again.
pub fn first_due(
    now: Timestamp,
    offset: Duration,
    interval: Duration,
    period: Option<(&Calendar, usize)>,
) -> Option<Next> {
    let iv = interval_ns(interval);
    let n = now.as_nanosecond();
    let offset = i128::try_from(offset.as_nanos()).unwrap_or(0) % iv;
    let behind = (n - offset).rem_euclid(iv);
    let t = if behind == 0 { n } else { n + (iv - behind) };
    let (at, skipped_period) = into_period(t, iv, period)?;
    Some(Next { at, skipped_late: 0, skipped_period })
}

/// The due time after a run that was due at `prev_due`, given when the result came
/// (`now`): the first `prev_due + k·interval` (k ≥ 1) strictly after `now`, then
/// moved into the time period as [`first_due`] does. `None`: the period is never
/// active again (the check is parked).
pub fn next_due(
    prev_due: Timestamp,
    now: Timestamp,
    interval: Duration,
    period: Option<(&Calendar, usize)>,
) -> Option<Next> {
    let iv = interval_ns(interval);
    let (p, n) = (prev_due.as_nanosecond(), now.as_nanosecond());
    let k = if n < p + iv { 1 } else { (n - p) / iv + 1 };
    let (at, skipped_period) = into_period(p + k * iv, iv, period)?;
    Some(Next { at, skipped_late: saturate(k - 1), skipped_period })
}

/// `t` if the period is active then (or there is none), else the first phase slot
/// from when it next becomes active (see module docs), with the slots skipped.
fn into_period(t: i128, iv: i128, period: Option<(&Calendar, usize)>) -> Option<(Timestamp, u32)> {
    let at = Timestamp::from_nanosecond(t).ok()?;
    let Some((calendar, period)) = period else { return Some((at, 0)) };
    if calendar.is_active(period, at) {
        return Some((at, 0));
    }
    let opens = calendar.next_active(period, at)?;
    // At least one slot: the period was inactive at `t` and opens after it.
    let slots = (opens.as_nanosecond() - t + iv - 1) / iv;
    let slot = Timestamp::from_nanosecond(t + slots * iv).ok()?;
    let at = if calendar.is_active(period, slot) { slot } else { opens };
    Some((at, saturate(slots)))
}

/// Due times of every scheduled check, over one timer wheel. See the module docs.
#[derive(Debug)]
pub struct Scheduler {
    origin: Timestamp,
    wheel: TimerWheel<CheckIx>,
    /// Indexed by `CheckIx`.
    slots: Vec<Slot>,
    /// Reused by `poll_due` so that polling allocates nothing.
    fired: Vec<CheckIx>,
    counters: Counters,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    key: Option<TimerKey>,
    due: Timestamp,
}

const UNSCHEDULED: Slot = Slot { key: None, due: Timestamp::UNIX_EPOCH };

impl Scheduler {
    /// A scheduler whose wheel starts at `origin` (start-up), preallocated for
    /// `checks` checks. Due times before `origin` are due at once.
    pub fn new(origin: Timestamp, checks: usize) -> Self {
        Scheduler {
            origin,
            wheel: TimerWheel::with_capacity(checks),
            slots: vec![UNSCHEDULED; checks],
            fired: Vec::with_capacity(checks.min(4096)),
            counters: Counters::default(),
        }
    }

    /// Schedules `ix` at `due`, replacing any due time it had.
    pub fn insert(&mut self, ix: CheckIx, due: Timestamp) {
        let ms = self.ms_at_or_after(due);
        if self.slots.len() <= ix.index() {
            self.slots.resize(ix.index() + 1, UNSCHEDULED);
        }
        let slot = &mut self.slots[ix.index()];
        slot.due = due;
        match slot.key {
            Some(key) if self.wheel.reschedule(key, ms) => {}
            _ => slot.key = Some(self.wheel.insert(ms, ix)),
        }
    }

    /// Moves a scheduled check to `due`; false (and nothing changes) if it is not scheduled.
    pub fn reschedule(&mut self, ix: CheckIx, due: Timestamp) -> bool {
        let scheduled = self.is_scheduled(ix);
        if scheduled {
            self.insert(ix, due);
        }
        scheduled
    }

    /// Unschedules `ix`; its due time if it was scheduled.
    pub fn remove(&mut self, ix: CheckIx) -> Option<Timestamp> {
        let slot = self.slots.get_mut(ix.index())?;
        let key = slot.key.take()?;
        self.wheel.cancel(key);
        Some(slot.due)
    }

    pub fn is_scheduled(&self, ix: CheckIx) -> bool {
        self.slots.get(ix.index()).is_some_and(|s| s.key.is_some())
    }

    pub fn due_at(&self, ix: CheckIx) -> Option<Timestamp> {
        self.slots.get(ix.index()).filter(|s| s.key.is_some()).map(|s| s.due)
    }

    /// Checks scheduled.
    pub fn len(&self) -> usize {
        self.wheel.len()
    }

    pub fn is_empty(&self) -> bool {
        self.wheel.is_empty()
    }

    /// When to wake next: the earliest due time, or a lower bound of it (never later;
    /// possibly already past, then poll at once). `None` when nothing is scheduled.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.wheel.next_deadline().map(|ms| self.at_ms(ms))
    }

    /// Appends every check due at or before `now` to `out`, in due order, and
    /// unschedules them (the caller schedules each again after its run).
    pub fn poll_due(&mut self, now: Timestamp, out: &mut Vec<Due>) {
        let ms = self.ms_at_or_before(now);
        let mut fired = std::mem::take(&mut self.fired);
        fired.clear();
        self.wheel.advance(ms, &mut fired);
        self.counters.due += fired.len() as u64;
        for &ix in &fired {
            // The wheel only holds checks with a slot (`insert` makes it first).
            if let Some(slot) = self.slots.get_mut(ix.index()) {
                slot.key = None;
                out.push(Due { ix, due: slot.due });
            }
        }
        self.fired = fired;
    }

    /// Schedules a check for the first time ([`spread`] of `key`, then [`first_due`]).
    /// `None`: its period is never active again, and it stays unscheduled.
    pub fn schedule_first(
        &mut self,
        ix: CheckIx,
        key: u64,
        now: Timestamp,
        interval: Duration,
        period: Option<(&Calendar, usize)>,
    ) -> Option<Next> {
        let next = first_due(now, spread(key, interval), interval, period);
        self.apply(ix, next)
    }

    /// Schedules a check after a run due at `prev_due` whose result came at `now`
    /// ([`next_due`]), counting the slots it skipped. `None`: parked, unscheduled.
    pub fn schedule_next(
        &mut self,
        ix: CheckIx,
        prev_due: Timestamp,
        now: Timestamp,
        interval: Duration,
        period: Option<(&Calendar, usize)>,
    ) -> Option<Next> {
        let next = next_due(prev_due, now, interval, period);
        self.apply(ix, next)
    }

    /// Totals since start-up.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Continues the totals of the scheduler this one replaces (a reload).
    pub fn carry_counters(&mut self, counters: Counters) {
        self.counters = counters;
    }

    /// The health report of scheduling and dispatch together.
    pub fn health(&self, dispatch: &Dispatch) -> Health {
        Health {
            counters: self.counters,
            started: dispatch.started(),
            queued_now: dispatch.queued_len() as u64,
            in_flight: dispatch.in_flight_total(),
            lateness: dispatch.lateness().snapshot(),
        }
    }

    fn apply(&mut self, ix: CheckIx, next: Option<Next>) -> Option<Next> {
        match next {
            Some(n) => {
                self.counters.skipped_late += u64::from(n.skipped_late);
                self.counters.skipped_period += u64::from(n.skipped_period);
                self.insert(ix, n.at);
            }
            None => {
                self.remove(ix);
            }
        }
        next
    }

    fn since_origin_ns(&self, t: Timestamp) -> i128 {
        t.as_nanosecond() - self.origin.as_nanosecond()
    }

    /// Wheel time of a due time, rounded up so that a check never fires early.
    fn ms_at_or_after(&self, t: Timestamp) -> u64 {
        let ns = self.since_origin_ns(t).max(0);
        u64::try_from((ns + NS_PER_MS - 1) / NS_PER_MS).unwrap_or(u64::MAX)
    }

    /// Wheel time of the present, rounded down.
    fn ms_at_or_before(&self, t: Timestamp) -> u64 {
        u64::try_from(self.since_origin_ns(t).max(0) / NS_PER_MS).unwrap_or(u64::MAX)
    }

    fn at_ms(&self, ms: u64) -> Timestamp {
        let ns = self.origin.as_nanosecond() + i128::from(ms) * NS_PER_MS;
        Timestamp::from_nanosecond(ns).unwrap_or(Timestamp::MAX)
    }
}

fn interval_ns(interval: Duration) -> i128 {
    i128::try_from(interval.as_nanos()).unwrap_or(MAX_INTERVAL_NS).clamp(MIN_INTERVAL_NS, MAX_INTERVAL_NS)
}

fn saturate(n: i128) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

/// splitmix64's finalizer: every key bit affects every output bit.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests;
