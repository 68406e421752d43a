//! Drivers: sockets, timers and io_uring (with an epoll fallback) running sans-IO
//! sessions. This is the only layer of the crate that touches sockets or reads the
//! clock; it knows nothing about any protocol.
//!
//! # Public API
//!
//! - [`IoChoice`] / [`Backend`]: which I/O engine to use. `Auto` honours the
//!   `BERGAMOT_IO` environment variable (`auto`, `io-uring`, `epoll`), then tries
//!   io_uring and falls back to epoll when the kernel refuses it (ENOSYS under
//!   qemu-user, EPERM under seccomp or `io_uring_disabled`, EINVAL, missing opcodes).
//!   Every runner reports the backend it ended up with (`backend()`).
//! - [`DatagramSocket`]: a UDP socket, or an ICMP socket (raw when root or
//!   CAP_NET_RAW, else the unprivileged ICMP datagram socket; an error naming the fix
//!   when neither is allowed).
//! - [`DatagramRunner`]: owns one [`DatagramSocket`] and drives one
//!   [`DatagramSession`](crate::session::DatagramSession) (which multiplexes all its
//!   probes itself) with batched sends and preallocated receive buffers.
//! - [`StreamRunner`]: connects TCP sockets and drives one
//!   [`StreamSession`](crate::session::StreamSession) per connection, thousands at
//!   once, with a fixed number of connection slots and a shared pool of read buffers.
//!   Connection-level outcomes (refused, timed out, reset) come back as
//!   [`ConnEnd`] together with the session.
//! - [`Runner`]: what both runners share: non-blocking `process`, blocking `wait`,
//!   `poll_event`, and the provided blocking loop [`Runner::run_until_idle`] for the CLI.
//! - [`AsyncDriver`]: the same runners on smol. The completion queue (io_uring) or the
//!   epoll descriptor wakes smol through a descriptor registered with
//!   `smol::Async`; no extra thread is started.
//!
//! Architecture invariant: one thread. Nothing here spawns a thread; a runner is used
//! from the thread (or smol task) that owns it.

mod asyncio;
mod datagram;
mod epoll;
mod stream;
mod sys;
mod timers;
#[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
mod uring;

use std::fmt;
use std::io;
use std::os::fd::BorrowedFd;
use std::str::FromStr;
use std::time::Duration;

use crate::time::{Instant, MonotonicClock};

pub use asyncio::{AsyncDriver, WAKE_GRID, coalesced};
pub use datagram::{DatagramConfig, DatagramRunner, DatagramStats};
pub use stream::{ConnEnd, ConnId, StreamConfig, StreamEvent, StreamRunner, StreamStats};
pub use sys::{DatagramKind, DatagramSocket};

/// The environment variable that forces an I/O backend (`auto`, `io-uring`, `epoll`).
pub const IO_ENV: &str = "BERGAMOT_IO";

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IoChoice {
    /// `BERGAMOT_IO` if set, else io_uring with a fallback to epoll.
    #[default]
    Auto,
    /// io_uring or an error: no fallback.
    IoUring,
    /// epoll, even where io_uring works.
    Epoll,
}

impl IoChoice {
    /// Applies `BERGAMOT_IO` to `Auto`; explicit choices win over the environment.
    pub fn resolve_env(self) -> Result<IoChoice, DriverError> {
        if self != IoChoice::Auto {
            return Ok(self);
        }
        match std::env::var(IO_ENV) {
            Ok(v) if !v.trim().is_empty() => v.parse(),
            _ => Ok(IoChoice::Auto),
        }
    }
}

impl FromStr for IoChoice {
    type Err = DriverError;
    fn from_str(s: &str) -> Result<Self, DriverError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(IoChoice::Auto),
            "io-uring" | "io_uring" | "iouring" | "uring" => Ok(IoChoice::IoUring),
            "epoll" => Ok(IoChoice::Epoll),
            _ => Err(DriverError::BadIoChoice { value: s.to_owned() }),
        }
    }
}

impl fmt::Display for IoChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IoChoice::Auto => "auto",
            IoChoice::IoUring => "io-uring",
            IoChoice::Epoll => "epoll",
        })
    }
}

/// The I/O engine a runner actually uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    IoUring,
    Epoll,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::IoUring => "io_uring",
            Backend::Epoll => "epoll",
        })
    }
}

/// Errors of the driver itself. A peer that refuses, resets or never answers is not
/// an error here: it is a [`ConnEnd`] or a session result.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("I/O backend {value:?} is not one of auto, io-uring, epoll (option --io or {IO_ENV})")]
    BadIoChoice { value: String },
    #[error("io_uring was requested but is not usable here: {reason}; use --io epoll or {IO_ENV}=epoll")]
    UringUnavailable { reason: String },
    #[error(
        "cannot open an ICMP{v} socket: a raw socket needs root or CAP_NET_RAW ({raw}) and \
         unprivileged ICMP sockets are not allowed for this group ({dgram}; \
         net.ipv4.ping_group_range = {range}). Fix: run as root, or \
         `setcap cap_net_raw+ep <binary>`, or `sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"`"
    )]
    IcmpDenied { v: &'static str, raw: io::Error, dgram: io::Error, range: String },
    #[error("{what}: {source}")]
    Io { what: &'static str, source: io::Error },
}

impl DriverError {
    pub(crate) fn io(what: &'static str, source: impl Into<io::Error>) -> Self {
        DriverError::Io { what, source: source.into() }
    }
}

/// What [`DatagramRunner`] and [`StreamRunner`] share, so one loop (blocking or async)
/// can drive either.
pub trait Runner {
    /// What the runner hands out: session events (and, for streams, connection ends).
    type Event;

    /// The clock the runner reads; sessions fed by it must be created with its `now`.
    fn clock(&self) -> MonotonicClock;

    /// The backend in use.
    fn backend(&self) -> Backend;

    /// Does all the work that is ready without blocking: completions or readiness,
    /// due timers, new transmits (submitted as one batch).
    fn process(&mut self) -> Result<(), DriverError>;

    /// Blocks until I/O is ready or `until` passes (`None`: no time limit). Returns
    /// early on a signal. Call [`Runner::process`] afterwards.
    fn wait(&mut self, until: Option<Instant>) -> Result<(), DriverError>;

    /// The next event, if any.
    fn poll_event(&mut self) -> Option<Self::Event>;

    /// The earliest deadline of any session, if any.
    fn poll_timeout(&self) -> Option<Instant>;

    /// Nothing left to do: no session deadline, nothing to send, nothing connected.
    fn is_idle(&self) -> bool;

    /// A descriptor that becomes readable when [`Runner::process`] has work; for
    /// registering with an event loop ([`AsyncDriver`]).
    fn notify_fd(&mut self) -> Result<BorrowedFd<'_>, DriverError>;

    /// Clears the readiness of [`Runner::notify_fd`] before a `process` call.
    fn clear_notify(&mut self);

    /// The blocking loop of the CLI: process, hand out events, wait, until idle or
    /// `deadline`. Returns true when it stopped because it was idle.
    fn run_until_idle(
        &mut self,
        deadline: Option<Instant>,
        mut on_event: impl FnMut(Self::Event),
    ) -> Result<bool, DriverError>
    where
        Self: Sized,
    {
        loop {
            self.process()?;
            while let Some(e) = self.poll_event() {
                on_event(e);
            }
            if self.is_idle() {
                return Ok(true);
            }
            let now = self.clock().now();
            if deadline.is_some_and(|d| now >= d) {
                return Ok(false);
            }
            let until = match (self.poll_timeout(), deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            self.wait(until)?;
        }
    }
}

/// Applies an [`IoChoice`]: `Some(ring)` to run on io_uring, `None` for epoll. Auto
/// falls back on any setup failure (ENOSYS under qemu-user, EPERM under seccomp or
/// `io_uring_disabled`, EINVAL, a kernel without the opcodes); a forced io_uring
/// reports it instead.
pub(crate) fn select_backend<R>(
    choice: IoChoice,
    make_ring: impl FnOnce() -> Result<R, String>,
) -> Result<Option<R>, DriverError> {
    match choice.resolve_env()? {
        IoChoice::Epoll => Ok(None),
        IoChoice::IoUring => make_ring().map(Some).map_err(|reason| DriverError::UringUnavailable { reason }),
        IoChoice::Auto => Ok(make_ring().ok()),
    }
}

/// How long a backend may block: until the deadline, and never negative.
pub(crate) fn wait_timeout(now: Instant, until: Option<Instant>) -> Option<Duration> {
    until.map(|u| u.saturating_since(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_choice_parses_the_documented_spellings() {
        for (s, want) in [
            ("auto", IoChoice::Auto),
            ("io-uring", IoChoice::IoUring),
            ("io_uring", IoChoice::IoUring),
            ("EPOLL", IoChoice::Epoll),
            (" epoll ", IoChoice::Epoll),
        ] {
            assert_eq!(s.parse::<IoChoice>().unwrap(), want, "{s}");
        }
        let err = "kqueue".parse::<IoChoice>().unwrap_err().to_string();
        assert!(err.contains("kqueue") && err.contains(IO_ENV), "{err}");
    }

    #[test]
    fn explicit_choice_wins_over_environment() {
        assert_eq!(IoChoice::Epoll.resolve_env().unwrap(), IoChoice::Epoll);
        assert_eq!(IoChoice::IoUring.resolve_env().unwrap(), IoChoice::IoUring);
    }

    #[test]
    fn backend_selection_falls_back_only_when_allowed() {
        let enosys = || Err::<(), _>("io_uring_setup failed: Function not implemented (os error 38)".to_owned());
        assert!(matches!(select_backend(IoChoice::Auto, enosys), Ok(None)));
        let forced = select_backend(IoChoice::IoUring, enosys).unwrap_err().to_string();
        assert!(forced.contains("Function not implemented") && forced.contains("--io epoll"), "{forced}");
        assert!(matches!(select_backend(IoChoice::Auto, || Ok(7)), Ok(Some(7))));
        let never = || -> Result<(), String> { panic!("epoll must not try io_uring") };
        assert!(matches!(select_backend(IoChoice::Epoll, never), Ok(None)));
    }

    #[test]
    fn backend_names() {
        assert_eq!(Backend::IoUring.to_string(), "io_uring");
        assert_eq!(Backend::Epoll.to_string(), "epoll");
    }
}
