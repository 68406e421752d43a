//! Runners on smol: the runner's notification descriptor (io_uring's registered
//! eventfd, or the epoll descriptor itself) is registered with `smol::Async`, so the
//! task sleeps in smol's reactor with everything else and no thread is added.

use std::os::fd::OwnedFd;

use smol::{Async, Timer};

use super::{DriverError, Runner};
use crate::time::Instant;

/// A [`Runner`] that can be awaited.
#[derive(Debug)]
pub struct AsyncDriver<R: Runner> {
    runner: R,
    notify: Async<OwnedFd>,
}

impl<R: Runner> AsyncDriver<R> {
    /// Registers the runner's notification descriptor with smol's reactor.
    pub fn new(mut runner: R) -> Result<Self, DriverError> {
        let fd = runner
            .notify_fd()?
            .try_clone_to_owned()
            .map_err(|e| DriverError::io("duplicating the notification descriptor", e))?;
        // Async sets O_NONBLOCK on the shared file description; both the eventfd
        // (already nonblocking) and an epoll descriptor are fine with that.
        let notify = Async::new(fd).map_err(|e| DriverError::io("registering with smol", e))?;
        Ok(AsyncDriver { runner, notify })
    }

    pub fn get_ref(&self) -> &R {
        &self.runner
    }

    /// For adding work (connections, probes); the next `next_event` picks it up.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.runner
    }

    pub fn into_inner(self) -> R {
        self.runner
    }

    /// The next event, or `None` once the runner is idle. Cancel-safe: dropping the
    /// future loses nothing (events stay queued in the runner), so it can be raced
    /// against other work with `or`/`race`.
    pub async fn next_event(&mut self) -> Result<Option<R::Event>, DriverError> {
        loop {
            // Clear first, then process: a completion that lands in between signals
            // the descriptor again, so no wake-up is lost.
            self.runner.clear_notify();
            self.runner.process()?;
            if let Some(e) = self.runner.poll_event() {
                return Ok(Some(e));
            }
            if self.runner.is_idle() {
                return Ok(None);
            }
            let timer = match self.runner.poll_timeout() {
                Some(at) => Timer::at(coalesced(to_std(self.runner.clock().now(), at))),
                None => Timer::never(),
            };
            let readable = async {
                // An error here (the reactor failing) surfaces on the next process.
                let _ = self.notify.readable().await;
            };
            futures_lite::future::or(readable, async {
                timer.await;
            })
            .await;
        }
    }

    /// Runs until idle, handing every event to `on_event`.
    pub async fn run_until_idle(&mut self, mut on_event: impl FnMut(R::Event)) -> Result<(), DriverError> {
        while let Some(e) = self.next_event().await? {
            on_event(e);
        }
        Ok(())
    }
}

/// Timer wake-ups are rounded up to this grid, shared by every timer of the process
/// that goes through [`coalesced`].
pub const WAKE_GRID: std::time::Duration = std::time::Duration::from_millis(4);

/// `at` rounded up to the next point of a process-wide [`WAKE_GRID`], so that timers
/// due within the same few milliseconds (a probe's next echo, another's timeout, the
/// daemon's next due check) wake the thread once instead of once each. At 100,000
/// checks a minute that is most of the thread's wake-ups; the cost is at most 4 ms
/// more lateness, which no timeout or interval here is that precise about.
pub fn coalesced(at: std::time::Instant) -> std::time::Instant {
    static BASE: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let base = *BASE.get_or_init(std::time::Instant::now);
    let Some(since) = at.checked_duration_since(base) else { return at };
    let grid = WAKE_GRID.as_nanos();
    let rounded = since.as_nanos().div_ceil(grid) * grid;
    base + std::time::Duration::from_nanos(u64::try_from(rounded).unwrap_or(u64::MAX))
}

/// The std instant of `at`, given that the runner's clock says `now` right now.
fn to_std(now: Instant, at: Instant) -> std::time::Instant {
    std::time::Instant::now() + at.saturating_since(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coalesced_rounds_up_onto_one_grid() {
        let now = std::time::Instant::now();
        let a = coalesced(now + std::time::Duration::from_micros(100));
        let b = coalesced(now + std::time::Duration::from_micros(3_000));
        assert!(a >= now + std::time::Duration::from_micros(100) && b >= now + std::time::Duration::from_micros(3_000));
        assert!(a - now <= WAKE_GRID + std::time::Duration::from_micros(100));
        // Two points of the grid are a whole number of steps apart.
        let far = coalesced(now + std::time::Duration::from_millis(25));
        assert_eq!((far - a).as_nanos() % WAKE_GRID.as_nanos(), 0);
        assert_eq!(coalesced(a), a, "a point of the grid stays");
    }
}
