//! The datagram runner: one socket, one [`DatagramSession`] (which multiplexes its
//! probes itself), on io_uring or epoll. The session logic here is the same for both
//! backends; only receiving, sending and waiting differ.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::os::fd::BorrowedFd;
use std::time::Duration;

use rustix::io::Errno;

use super::epoll::DgramEpoll;
use super::sys::DatagramSocket;
use super::{Backend, DriverError, IoChoice, Runner, wait_timeout};
use crate::session::{DatagramSession, Transmit};
use crate::time::{Instant, MonotonicClock};

/// Sizes of a [`DatagramRunner`]; all memory is allocated when the runner is built.
#[derive(Debug, Clone)]
pub struct DatagramConfig {
    /// Which backend; see [`IoChoice`].
    pub io: IoChoice,
    /// Receive buffers handed to the kernel (io_uring) for replies that arrive
    /// between two turns of the loop.
    pub recv_buffers: u16,
    /// Largest datagram accepted; longer ones are counted as truncated and dropped.
    pub max_datagram: usize,
    /// Datagrams that may be in flight (io_uring) or queued (epoll) at once; the
    /// session is asked for more transmits only while there is room.
    pub send_slots: u16,
    /// Use multishot receive where the kernel has it (6.0+); off: one receive at a
    /// time, as on older kernels.
    pub multishot: bool,
    /// Socket receive buffer to ask for (SO_RCVBUF), for bursts of replies.
    pub socket_recv_buffer: Option<usize>,
}

impl Default for DatagramConfig {
    fn default() -> Self {
        DatagramConfig {
            io: IoChoice::Auto,
            recv_buffers: 256,
            max_datagram: 2048,
            send_slots: 128,
            multishot: true,
            socket_recv_buffer: Some(4 << 20),
        }
    }
}

/// Counters of a [`DatagramRunner`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DatagramStats {
    pub sent: u64,
    pub send_errors: u64,
    pub received: u64,
    /// Datagrams longer than `max_datagram`, dropped.
    pub truncated: u64,
    pub recv_errors: u64,
    /// Times the kernel ran out of receive buffers (io_uring), or a multishot receive
    /// ended and was re-armed.
    pub rearms: u64,
    /// Submissions to io_uring or `sendto` calls made for sending.
    pub send_batches: u64,
}

/// Most datagrams handled in one `process` call, so timers are not starved by a flood.
const RECV_BUDGET: usize = 4096;
/// Send errors kept for [`DatagramRunner::poll_send_error`]; older ones are dropped.
const SEND_ERRORS_KEPT: usize = 1024;

/// What each backend keeps besides its own state.
#[derive(Debug, Default)]
pub(crate) struct DgramShared {
    pub(crate) stats: DatagramStats,
    pub(crate) send_errors: VecDeque<(SocketAddr, Errno)>,
}

impl DgramShared {
    pub(crate) fn send_failed(&mut self, to: SocketAddr, e: Errno) {
        self.stats.send_errors += 1;
        if self.send_errors.len() >= SEND_ERRORS_KEPT {
            self.send_errors.pop_front();
        }
        self.send_errors.push_back((to, e));
    }
}

/// Drives one [`DatagramSession`] over one [`DatagramSocket`].
pub struct DatagramRunner<S: DatagramSession> {
    session: S,
    io: Box<dyn DgramBackend + Send>,
    clock: MonotonicClock,
    socket_kind: super::DatagramKind,
}

impl<S: DatagramSession> std::fmt::Debug for DatagramRunner<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatagramRunner")
            .field("backend", &self.backend())
            .field("kind", &self.socket_kind)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl<S: DatagramSession> DatagramRunner<S> {
    /// Takes the socket and the session; `clock` must be the one the session's
    /// instants come from.
    pub fn new(
        socket: DatagramSocket,
        session: S,
        config: &DatagramConfig,
        clock: MonotonicClock,
    ) -> Result<Self, DriverError> {
        if let Some(bytes) = config.socket_recv_buffer {
            // Best effort: a smaller buffer only means drops under a burst.
            let _ = socket.set_recv_buffer(bytes);
        }
        let socket_kind = socket.kind();
        let io = open(socket, config)?;
        Ok(DatagramRunner { session, io, clock, socket_kind })
    }

    pub fn session(&self) -> &S {
        &self.session
    }

    /// For adding probes to the session; the next `process` sends what it produces.
    pub fn session_mut(&mut self) -> &mut S {
        &mut self.session
    }

    pub fn into_session(self) -> S {
        self.session
    }

    pub fn socket_kind(&self) -> super::DatagramKind {
        self.socket_kind
    }

    pub fn stats(&self) -> DatagramStats {
        self.io.shared().stats
    }

    /// The oldest send failure not yet taken (destination, errno), e.g. EHOSTUNREACH:
    /// sessions only see the missing reply, callers may want the reason.
    pub fn poll_send_error(&mut self) -> Option<(SocketAddr, Errno)> {
        self.io.shared_mut().send_errors.pop_front()
    }

    /// Whether the kernel accepted multishot receive (io_uring only).
    pub fn multishot(&self) -> bool {
        self.io.multishot()
    }
}

fn open(socket: DatagramSocket, config: &DatagramConfig) -> Result<Box<dyn DgramBackend + Send>, DriverError> {
    #[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
    if let Some(ring) = super::select_backend(config.io, || super::uring::Ring::new(256, 4096))? {
        return Ok(Box::new(super::uring::dgram::DgramUring::new(ring, socket, config)?));
    }
    #[cfg(not(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64"))))]
    super::select_backend(config.io, || Err::<(), _>("not built for this target".to_owned()))?;
    Ok(Box::new(DgramEpoll::new(socket, config)?))
}

impl<S: DatagramSession> Runner for DatagramRunner<S> {
    type Event = S::Event;

    fn clock(&self) -> MonotonicClock {
        self.clock
    }

    fn backend(&self) -> Backend {
        self.io.backend()
    }

    fn process(&mut self) -> Result<(), DriverError> {
        let now = self.clock.now();
        // Replies first: one that is already here must not be declared lost by the
        // timeout handling below.
        for _ in 0..RECV_BUDGET {
            match self.io.next_recv()? {
                Some((from, data)) => self.session.handle_datagram(now, from, data),
                None => break,
            }
        }
        if self.session.poll_timeout().is_some_and(|t| t <= now) {
            self.session.handle_timeout(now);
        }
        while self.io.send_room() > 0 {
            match self.session.poll_transmit(now) {
                Some(t) => self.io.queue(t)?,
                None => break,
            }
        }
        self.io.flush()
    }

    fn wait(&mut self, until: Option<Instant>) -> Result<(), DriverError> {
        let timeout = wait_timeout(self.clock.now(), until);
        self.io.wait(timeout)
    }

    fn poll_event(&mut self) -> Option<S::Event> {
        self.session.poll_event()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.session.poll_timeout()
    }

    fn is_idle(&self) -> bool {
        self.session.poll_timeout().is_none() && self.io.busy() == 0
    }

    fn notify_fd(&mut self) -> Result<BorrowedFd<'_>, DriverError> {
        self.io.notify_fd()
    }

    fn clear_notify(&mut self) {
        self.io.clear_notify()
    }
}

/// What each backend (epoll, io_uring) offers the datagram runner.
pub(crate) trait DgramBackend {
    fn backend(&self) -> Backend;
    fn multishot(&self) -> bool {
        false
    }
    fn shared(&self) -> &DgramShared;
    fn shared_mut(&mut self) -> &mut DgramShared;
    /// The next datagram already received, without blocking.
    fn next_recv(&mut self) -> Result<Option<(SocketAddr, &[u8])>, DriverError>;
    /// How many more transmits `queue` accepts now.
    fn send_room(&self) -> usize;
    fn queue(&mut self, t: Transmit) -> Result<(), DriverError>;
    /// Sends (or submits) everything queued, as one batch where the backend can.
    fn flush(&mut self) -> Result<(), DriverError>;
    /// Sends queued or in flight.
    fn busy(&self) -> usize;
    fn wait(&mut self, timeout: Option<Duration>) -> Result<(), DriverError>;
    fn notify_fd(&mut self) -> Result<BorrowedFd<'_>, DriverError>;
    fn clear_notify(&mut self);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::time::Duration;

    /// Sends `n` numbered datagrams to `to`, expects each back, gives up on the
    /// missing ones at a deadline; events are the numbers that came back.
    pub(crate) struct Echo {
        to: SocketAddr,
        next: u32,
        n: u32,
        size: usize,
        waiting: BTreeMap<u32, ()>,
        deadline: Option<Instant>,
        events: VecDeque<u32>,
        pub(crate) lost: u32,
    }

    impl Echo {
        pub(crate) fn new(to: SocketAddr, n: u32, size: usize, now: Instant) -> Self {
            Echo {
                to,
                next: 0,
                n,
                size: size.max(4),
                waiting: BTreeMap::new(),
                deadline: Some(now + Duration::from_secs(5)),
                events: VecDeque::new(),
                lost: 0,
            }
        }
    }

    impl DatagramSession for Echo {
        type Event = u32;
        fn handle_datagram(&mut self, _now: Instant, from: SocketAddr, payload: &[u8]) {
            let Some(id) = payload.get(..4).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes) else {
                return;
            };
            if from == self.to && self.waiting.remove(&id).is_some() {
                self.events.push_back(id);
            }
            if self.waiting.is_empty() && self.next == self.n {
                self.deadline = None;
            }
        }
        fn handle_timeout(&mut self, _now: Instant) {
            self.lost += self.waiting.len() as u32;
            self.waiting.clear();
            self.next = self.n;
            self.deadline = None;
        }
        fn poll_transmit(&mut self, _now: Instant) -> Option<Transmit> {
            // A window, as real probes pace themselves: the peer is a plain socket
            // whose default receive buffer holds only ~256 small datagrams.
            if self.next >= self.n || self.waiting.len() >= 32 {
                return None;
            }
            let mut payload = vec![0xA5; self.size];
            payload[..4].copy_from_slice(&self.next.to_be_bytes());
            self.waiting.insert(self.next, ());
            self.next += 1;
            Some(Transmit { destination: self.to, payload })
        }
        fn poll_timeout(&self) -> Option<Instant> {
            self.deadline
        }
        fn poll_event(&mut self) -> Option<u32> {
            self.events.pop_front()
        }
    }

    /// A UDP echo peer on its own thread (test scaffolding only); stops after `n`.
    pub(crate) fn echo_peer(n: usize) -> (SocketAddr, std::thread::JoinHandle<()>) {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = s.local_addr().unwrap();
        let h = std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            for _ in 0..n {
                let Ok((len, from)) = s.recv_from(&mut buf) else { return };
                s.send_to(&buf[..len], from).unwrap();
            }
        });
        (addr, h)
    }

    fn echo_through(io: IoChoice, multishot: bool, n: u32) -> (Backend, Vec<u32>, DatagramStats) {
        let (peer, h) = echo_peer(n as usize);
        let clock = MonotonicClock::new();
        let sock = DatagramSocket::udp("127.0.0.1:0".parse().unwrap()).unwrap();
        let cfg = DatagramConfig { io, multishot, send_slots: 16, recv_buffers: 4, ..Default::default() };
        let mut r = DatagramRunner::new(sock, Echo::new(peer, n, 64, clock.now()), &cfg, clock).unwrap();
        let mut got = Vec::new();
        assert!(r.run_until_idle(None, |e| got.push(e)).unwrap());
        h.join().unwrap();
        assert_eq!(r.session().lost, 0, "{:?} multishot={}", r.stats(), r.multishot());
        got.sort();
        (r.backend(), got, r.stats())
    }

    #[test]
    fn udp_echo_on_epoll() {
        let (b, got, st) = echo_through(IoChoice::Epoll, true, 300);
        assert_eq!(b, Backend::Epoll);
        assert_eq!(got, (0..300).collect::<Vec<_>>());
        assert_eq!((st.sent, st.received), (300, 300));
    }

    #[test]
    fn udp_echo_on_io_uring_multishot_and_single_shot() {
        for multishot in [false, true] {
            let (b, got, st) = echo_through(IoChoice::IoUring, multishot, 300);
            assert_eq!(b, Backend::IoUring);
            assert_eq!(got, (0..300).collect::<Vec<_>>(), "multishot={multishot}");
            assert_eq!((st.sent, st.received), (300, 300));
            // 300 datagrams through 16 slots: sends went out in batches.
            assert!(st.send_batches < 300, "{st:?}");
        }
    }
}
