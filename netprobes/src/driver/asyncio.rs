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
                Some(at) => Timer::at(to_std(self.runner.clock().now(), at)),
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

/// The std instant of `at`, given that the runner's clock says `now` right now.
fn to_std(now: Instant, at: Instant) -> std::time::Instant {
    std::time::Instant::now() + at.saturating_since(now)
}
