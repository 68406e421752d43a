//! The stream runner: many TCP connections, one [`StreamSession`] each, on io_uring
//! or epoll. Connection slots are allocated once; a slot is reused only after the
//! backend has released everything it had in flight for it.

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::os::fd::BorrowedFd;
use std::time::Duration;

use rustix::io::Errno;

use super::timers::DeadlineHeap;
use super::{Backend, DriverError, IoChoice, Runner, wait_timeout};
use crate::session::{StreamSession, StreamState};
use crate::time::{Instant, MonotonicClock};

/// Sizes and socket options of a [`StreamRunner`]; memory is allocated up front.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// Which backend; see [`IoChoice`].
    pub io: IoChoice,
    /// Connections open at once; `connect` hands the session back beyond this.
    pub max_connections: usize,
    /// Read buffers shared by all connections (io_uring picks one per read, so
    /// memory does not grow with the number of idle connections).
    pub read_buffers: u16,
    /// Size of one read buffer (epoll uses a single one).
    pub read_buffer_size: usize,
    /// TCP_NODELAY: a probe's request goes out at once, not behind a delayed ACK.
    pub nodelay: bool,
    /// TCP_QUICKACK, re-armed before every read that follows data (SEMANTICS §11
    /// latency trap).
    pub quickack: bool,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            io: IoChoice::Auto,
            max_connections: 1024,
            read_buffers: 256,
            read_buffer_size: 16 * 1024,
            nodelay: true,
            quickack: true,
        }
    }
}

/// One connection of a [`StreamRunner`]; stale ids (of closed connections) are
/// recognised and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    slot: u32,
    generation: u32,
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}.{}", self.slot, self.generation)
    }
}

/// How a connection ended. Only `Done` means the session finished its work; the
/// others are results for the caller to turn into a check outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnEnd {
    /// The session asked to close ([`StreamState::Close`]).
    Done,
    /// The peer closed and the session did not ask to close (it saw the empty read).
    PeerClosed,
    /// The connection could not be made (refused, unreachable, no socket).
    ConnectFailed(Errno),
    /// The connect timeout of [`StreamRunner::connect`] passed first.
    ConnectTimedOut,
    /// A read or write failed after connecting (reset, broken pipe).
    Failed(Errno),
}

impl fmt::Display for ConnEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnEnd::Done => f.write_str("closed"),
            ConnEnd::PeerClosed => f.write_str("closed by peer"),
            ConnEnd::ConnectFailed(e) => f.write_str(&super::sys::strerror(*e)),
            ConnEnd::ConnectTimedOut => f.write_str("connect timed out"),
            ConnEnd::Failed(e) => f.write_str(&super::sys::strerror(*e)),
        }
    }
}

/// What a [`StreamRunner`] hands out.
pub enum StreamEvent<S: StreamSession> {
    /// An event of the session on `conn`.
    Session { conn: ConnId, event: S::Event },
    /// `conn` is gone; its session comes back with how it ended.
    Closed { conn: ConnId, end: ConnEnd, session: S, at: Instant },
}

impl<S: StreamSession> fmt::Debug for StreamEvent<S>
where
    S::Event: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamEvent::Session { conn, event } => {
                f.debug_struct("Session").field("conn", conn).field("event", event).finish()
            }
            StreamEvent::Closed { conn, end, at, .. } => {
                f.debug_struct("Closed").field("conn", conn).field("end", end).field("at", at).finish_non_exhaustive()
            }
        }
    }
}

/// Counters of a [`StreamRunner`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    pub connects: u64,
    pub connected: u64,
    pub connect_failed: u64,
    pub connect_timeouts: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub reads: u64,
    /// Reads re-armed because every shared read buffer was in use (io_uring).
    pub starved_reads: u64,
}

/// What the backend reports to the runner.
pub(crate) enum IoEvent<'a> {
    Connected {
        slot: u32,
        result: Result<(), Errno>,
    },
    Data {
        slot: u32,
        data: &'a [u8],
    },
    Eof {
        slot: u32,
    },
    /// Everything given to `flush` has been written.
    Sent {
        slot: u32,
    },
    Error {
        slot: u32,
        errno: Errno,
    },
    /// The slot may be reused: nothing of it is in flight any more.
    Released {
        slot: u32,
    },
}

/// What each backend (epoll, io_uring) offers the stream runner. Slots are indices
/// below `max_connections`; the runner never reuses one before `Released`.
pub(crate) trait StreamBackend {
    fn backend(&self) -> Backend;
    /// Starts connecting. An error means nothing was kept for the slot.
    fn open(&mut self, slot: u32, to: SocketAddr) -> Result<(), Errno>;
    /// Asks for the next read, if one is not already pending.
    fn want_read(&mut self, slot: u32);
    /// Where the runner appends bytes to send on `slot`.
    fn out_buf(&mut self, slot: u32) -> Option<&mut Vec<u8>>;
    /// Starts writing what `out_buf` holds.
    fn flush(&mut self, slot: u32);
    /// Bytes given to `out_buf` and not yet written.
    fn pending_out(&self, slot: u32) -> usize;
    fn shutdown_write(&mut self, slot: u32);
    /// Closes now; `Released` follows (maybe at once).
    fn close(&mut self, slot: u32);
    /// Collects readiness without blocking (epoll); nothing to do for io_uring.
    fn poll(&mut self) -> Result<(), DriverError>;
    fn next_event(&mut self) -> Option<IoEvent<'_>>;
    /// Submits what was queued in this turn, as one batch.
    fn submit(&mut self) -> Result<(), DriverError>;
    fn wait(&mut self, timeout: Option<Duration>) -> Result<(), DriverError>;
    fn notify_fd(&mut self) -> Result<BorrowedFd<'_>, DriverError>;
    fn clear_notify(&mut self);
    fn starved_reads(&self) -> u64 {
        0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Free,
    Connecting,
    Open,
    /// Closed for the runner; waiting for the backend's `Released`.
    Closing,
}

struct Conn<S> {
    session: Option<S>,
    generation: u32,
    phase: Phase,
    connect_deadline: Option<Instant>,
    /// The deadline this connection has in the heap (the earlier of the session's
    /// and the connect timeout).
    deadline: Option<Instant>,
    eof: bool,
    write_closed: bool,
}

/// Most backend events handled in one `process` call, so timers are not starved.
const EVENT_BUDGET: usize = 8192;

/// Drives a [`StreamSession`] per TCP connection, many at once.
pub struct StreamRunner<S: StreamSession> {
    conns: Vec<Conn<S>>,
    free: Vec<u32>,
    active: usize,
    io: Box<dyn StreamBackend + Send>,
    timers: DeadlineHeap,
    events: VecDeque<StreamEvent<S>>,
    clock: MonotonicClock,
    stats: StreamStats,
}

impl<S: StreamSession> fmt::Debug for StreamRunner<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamRunner")
            .field("backend", &self.io.backend())
            .field("active", &self.active)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn key(slot: u32, generation: u32) -> u64 {
    (u64::from(generation) << 32) | u64::from(slot)
}

impl<S: StreamSession> StreamRunner<S> {
    /// Allocates every slot and buffer; `clock` must be the one the sessions' instants
    /// come from.
    pub fn new(config: &StreamConfig, clock: MonotonicClock) -> Result<Self, DriverError> {
        let n = config.max_connections.clamp(1, 1 << 24);
        let io = open(config, n)?;
        Ok(StreamRunner {
            conns: (0..n)
                .map(|_| Conn {
                    session: None,
                    generation: 0,
                    phase: Phase::Free,
                    connect_deadline: None,
                    deadline: None,
                    eof: false,
                    write_closed: false,
                })
                .collect(),
            free: (0..n as u32).rev().collect(),
            active: 0,
            io,
            timers: DeadlineHeap::with_capacity(n * 2),
            events: VecDeque::new(),
            clock,
            stats: StreamStats::default(),
        })
    }

    /// Connections that can still be opened now.
    pub fn room(&self) -> usize {
        self.free.len()
    }

    /// Connections open (connecting or connected).
    pub fn active(&self) -> usize {
        self.active
    }

    pub fn stats(&self) -> StreamStats {
        StreamStats { starved_reads: self.io.starved_reads(), ..self.stats }
    }

    /// The session of an open connection.
    pub fn session(&self, conn: ConnId) -> Option<&S> {
        self.live(conn).and_then(|c| c.session.as_ref())
    }

    /// Opens a connection to `to` for `session`; `connect_timeout` bounds the TCP
    /// handshake only (the session's own deadlines bound the rest). When every slot
    /// is taken the session comes straight back. Failures to connect are not errors
    /// here: they arrive as [`StreamEvent::Closed`].
    pub fn connect(&mut self, to: SocketAddr, connect_timeout: Option<Duration>, session: S) -> Result<ConnId, S> {
        let Some(slot) = self.free.pop() else { return Err(session) };
        let now = self.clock.now();
        self.stats.connects += 1;
        let Some(c) = self.conns.get_mut(slot as usize) else { return Err(session) };
        c.generation = c.generation.wrapping_add(1);
        c.session = Some(session);
        c.eof = false;
        c.write_closed = false;
        c.deadline = None;
        c.connect_deadline = connect_timeout.map(|t| now + t);
        c.phase = Phase::Connecting;
        let id = ConnId { slot, generation: c.generation };
        self.active += 1;
        match self.io.open(slot, to) {
            Ok(()) => self.update_timer(slot),
            Err(e) => {
                self.stats.connect_failed += 1;
                // Nothing was kept by the backend: the slot is free again at once.
                self.finish(slot, ConnEnd::ConnectFailed(e), now, false);
                if let Some(c) = self.conns.get_mut(slot as usize) {
                    c.phase = Phase::Free;
                }
                self.free.push(slot);
            }
        }
        Ok(id)
    }

    /// Drops a connection at once (e.g. the caller gave up); its `Closed` event says
    /// `Done`.
    pub fn abort(&mut self, conn: ConnId) {
        if self.live(conn).is_some() {
            let now = self.clock.now();
            self.finish(conn.slot, ConnEnd::Done, now, true);
        }
    }

    fn live(&self, conn: ConnId) -> Option<&Conn<S>> {
        self.conns
            .get(conn.slot as usize)
            .filter(|c| c.generation == conn.generation && matches!(c.phase, Phase::Connecting | Phase::Open))
    }

    /// Hands the session back and closes the slot.
    fn finish(&mut self, slot: u32, end: ConnEnd, now: Instant, close_io: bool) {
        let Some(c) = self.conns.get_mut(slot as usize) else { return };
        if !matches!(c.phase, Phase::Connecting | Phase::Open) {
            return;
        }
        c.phase = Phase::Closing;
        c.deadline = None;
        self.active -= 1;
        let conn = ConnId { slot, generation: c.generation };
        if let Some(session) = c.session.take() {
            self.events.push_back(StreamEvent::Closed { conn, end, session, at: now });
        }
        if close_io {
            self.io.close(slot);
        }
    }

    /// After any call into the session: hand out its events, act on its state, send
    /// what it produced, keep reading, move its deadline.
    fn after_session(&mut self, slot: u32, now: Instant) {
        let Some(c) = self.conns.get_mut(slot as usize) else { return };
        let Some(s) = c.session.as_mut() else { return };
        let conn = ConnId { slot, generation: c.generation };
        while let Some(event) = s.poll_event() {
            self.events.push_back(StreamEvent::Session { conn, event });
        }
        let state = s.state();
        if state == StreamState::Close {
            return self.finish(slot, ConnEnd::Done, now, true);
        }
        if c.phase != Phase::Open {
            return self.update_timer(slot);
        }
        if let Some(out) = self.io.out_buf(slot) {
            let before = out.len();
            s.poll_transmit(out);
            let added = out.len() - before;
            if added > 0 {
                self.stats.bytes_out += added as u64;
                self.io.flush(slot);
            }
        }
        let drained = self.io.pending_out(slot) == 0;
        if state == StreamState::CloseWrite && drained && !c.write_closed {
            c.write_closed = true;
            self.io.shutdown_write(slot);
        }
        if c.eof {
            if drained {
                return self.finish(slot, ConnEnd::PeerClosed, now, true);
            }
        } else {
            self.io.want_read(slot);
        }
        self.update_timer(slot);
    }

    fn update_timer(&mut self, slot: u32) {
        let Some(c) = self.conns.get_mut(slot as usize) else { return };
        let session = c.session.as_ref().and_then(|s| s.poll_timeout());
        let connect = if c.phase == Phase::Connecting { c.connect_deadline } else { None };
        let d = match (session, connect) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if d != c.deadline {
            c.deadline = d;
            if let Some(at) = d {
                self.timers.push(at, key(slot, c.generation));
            }
        }
    }

    fn handle_io(&mut self, now: Instant) -> bool {
        let Some(ev) = self.io.next_event() else { return false };
        match ev {
            IoEvent::Connected { slot, result } => {
                let Some(c) = self.conns.get_mut(slot as usize) else { return true };
                if c.phase != Phase::Connecting {
                    return true;
                }
                match result {
                    Ok(()) => {
                        self.stats.connected += 1;
                        c.phase = Phase::Open;
                        if let Some(s) = c.session.as_mut() {
                            s.handle_connected(now);
                        }
                        self.after_session(slot, now);
                    }
                    Err(e) => {
                        self.stats.connect_failed += 1;
                        self.finish(slot, ConnEnd::ConnectFailed(e), now, true);
                    }
                }
            }
            IoEvent::Data { slot, data } => {
                self.stats.reads += 1;
                self.stats.bytes_in += data.len() as u64;
                let Some(c) = self.conns.get_mut(slot as usize) else { return true };
                if c.phase == Phase::Open {
                    if let Some(s) = c.session.as_mut() {
                        s.handle_input(now, data);
                    }
                    self.after_session(slot, now);
                }
            }
            IoEvent::Eof { slot } => {
                let Some(c) = self.conns.get_mut(slot as usize) else { return true };
                if c.phase == Phase::Open {
                    c.eof = true;
                    if let Some(s) = c.session.as_mut() {
                        s.handle_input(now, &[]);
                    }
                    self.after_session(slot, now);
                }
            }
            IoEvent::Sent { slot } => self.after_session(slot, now),
            IoEvent::Error { slot, errno } => {
                let end = match self.conns.get(slot as usize).map(|c| c.phase) {
                    Some(Phase::Connecting) => ConnEnd::ConnectFailed(errno),
                    _ => ConnEnd::Failed(errno),
                };
                self.finish(slot, end, now, true);
            }
            IoEvent::Released { slot } => match self.conns.get_mut(slot as usize) {
                Some(c) if c.phase == Phase::Closing => {
                    c.phase = Phase::Free;
                    self.free.push(slot);
                }
                _ => {}
            },
        }
        true
    }

    fn fire_timers(&mut self, now: Instant) {
        loop {
            let conns = &self.conns;
            let current = |k: u64, at: Instant| {
                conns
                    .get((k as u32) as usize)
                    .is_some_and(|c| c.generation == (k >> 32) as u32 && c.deadline == Some(at))
            };
            let Some(k) = self.timers.pop_due(now, current) else { break };
            let slot = k as u32;
            let Some(c) = self.conns.get_mut(slot as usize) else { continue };
            c.deadline = None;
            if c.phase == Phase::Connecting && c.connect_deadline.is_some_and(|d| d <= now) {
                self.stats.connect_timeouts += 1;
                self.finish(slot, ConnEnd::ConnectTimedOut, now, true);
                continue;
            }
            if let Some(s) = c.session.as_mut() {
                if s.poll_timeout().is_some_and(|t| t <= now) {
                    s.handle_timeout(now);
                }
            }
            self.after_session(slot, now);
        }
        let conns = &self.conns;
        self.timers.compact(self.active, |k, at| {
            conns.get((k as u32) as usize).is_some_and(|c| c.generation == (k >> 32) as u32 && c.deadline == Some(at))
        });
    }
}

fn open(config: &StreamConfig, n: usize) -> Result<Box<dyn StreamBackend + Send>, DriverError> {
    #[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let cq = u32::try_from(n.saturating_mul(4)).unwrap_or(u32::MAX).clamp(4096, 1 << 16);
        if let Some(ring) = super::select_backend(config.io, || super::uring::Ring::new(1024, cq))? {
            return Ok(Box::new(super::uring::stream::StreamUring::new(ring, config, n)?));
        }
    }
    #[cfg(not(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64"))))]
    super::select_backend(config.io, || Err::<(), _>("not built for this target".to_owned()))?;
    Ok(Box::new(super::epoll::StreamEpoll::new(config, n)?))
}

impl<S: StreamSession> Runner for StreamRunner<S> {
    type Event = StreamEvent<S>;

    fn clock(&self) -> MonotonicClock {
        self.clock
    }

    fn backend(&self) -> Backend {
        self.io.backend()
    }

    fn process(&mut self) -> Result<(), DriverError> {
        let now = self.clock.now();
        self.io.poll()?;
        for _ in 0..EVENT_BUDGET {
            if !self.handle_io(now) {
                break;
            }
        }
        self.fire_timers(now);
        self.io.submit()
    }

    fn wait(&mut self, until: Option<Instant>) -> Result<(), DriverError> {
        if !self.events.is_empty() {
            return Ok(());
        }
        let timeout = wait_timeout(self.clock.now(), until);
        self.io.wait(timeout)
    }

    fn poll_event(&mut self) -> Option<StreamEvent<S>> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        // The heap's top may be stale, which only makes this earlier, never later:
        // the loop then wakes, drops the stale entry and sleeps again.
        self.timers.peek_raw()
    }

    fn is_idle(&self) -> bool {
        self.active == 0 && self.events.is_empty()
    }

    fn notify_fd(&mut self) -> Result<BorrowedFd<'_>, DriverError> {
        self.io.notify_fd()
    }

    fn clear_notify(&mut self) {
        self.io.clear_notify()
    }
}
