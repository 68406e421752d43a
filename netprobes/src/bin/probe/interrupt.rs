//! Ctrl-C for the subcommands that print totals at the end (fping's `-l`, `-c`):
//! SIGINT stops the probing and the totals of what was measured are printed, as
//! fping does. A wait in progress ends with EINTR on the thread the signal lands on
//! (epoll_wait and io_uring_enter are never restarted); loops check
//! [`Interrupt::hit`] after every wait, other threads at their next wake-up.

use std::sync::atomic::{AtomicBool, Ordering};

/// Set by the handler; a process has one.
static HIT: AtomicBool = AtomicBool::new(false);

#[derive(Debug)]
pub struct Interrupt {
    caught: bool,
}

impl Interrupt {
    /// Catches SIGINT from now on. If the handler cannot be installed, Ctrl-C keeps
    /// its default (the process ends) and [`Interrupt::hit`] stays false.
    pub fn catch() -> Interrupt {
        let sigint = rustix::process::Signal::INT.as_raw();
        // SAFETY: the action only stores to an atomic, which is async-signal-safe,
        // and it lives as long as the process (a static).
        #[allow(unsafe_code)]
        let registered = unsafe { signal_hook_registry::register(sigint, || HIT.store(true, Ordering::Relaxed)) };
        Interrupt { caught: registered.is_ok() }
    }

    /// SIGINT has arrived.
    pub fn hit(&self) -> bool {
        self.caught && HIT.load(Ordering::Relaxed)
    }
}
