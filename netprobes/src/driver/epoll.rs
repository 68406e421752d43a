//! The epoll backend: readiness plus plain syscalls, for kernels or sandboxes
//! without io_uring (qemu-user, seccomp) and when forced with `BERGAMOT_IO=epoll`.
//! Level-triggered: whatever is not consumed in one turn is reported again.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use rustix::buffer::spare_capacity;
use rustix::event::{Timespec, epoll};
use rustix::io::Errno;
use rustix::net::{self, RecvFlags, SendFlags};

use super::datagram::{DatagramConfig, DgramBackend, DgramShared};
use super::stream::{IoEvent, StreamBackend, StreamConfig};
use super::sys::{self, DatagramSocket};
use super::{Backend, DriverError};
use crate::session::Transmit;

/// Readiness events fetched per `epoll_wait`; more are simply reported next time.
const EVENTS: usize = 256;
/// Consecutive receive errors after which a turn stops trying (errors such as a
/// queued ICMP error are one-shot; a permanent one must not spin).
const MAX_RECV_ERRORS: u32 = 64;

pub(crate) fn create_epoll() -> Result<OwnedFd, DriverError> {
    epoll::create(epoll::CreateFlags::CLOEXEC).map_err(|e| DriverError::io("epoll_create", e))
}

/// `epoll_wait` for at most `timeout`, rounded up to whole milliseconds so a wait
/// never ends just before a deadline and spins. EINTR is a normal early return.
/// Readiness goes to `sink` as (event data, flags). The event buffer is allocated per
/// call because rustix's event type is not `Send`, and runners are.
pub(crate) fn wait_on(
    epfd: BorrowedFd<'_>,
    timeout: Option<Duration>,
    mut sink: impl FnMut(u64, epoll::EventFlags),
) -> Result<(), DriverError> {
    let mut events = Vec::with_capacity(EVENTS);
    let ts = timeout.map(|d| {
        let ms = d.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i64;
        Timespec { tv_sec: ms / 1000, tv_nsec: (ms % 1000) * 1_000_000 }
    });
    match epoll::wait(epfd, spare_capacity(&mut events), ts.as_ref()) {
        Ok(_) | Err(Errno::INTR) => {}
        Err(e) => return Err(DriverError::io("epoll_wait", e)),
    }
    for e in events {
        sink(e.data.u64(), e.flags);
    }
    Ok(())
}

/// A datagram socket on epoll: `recvfrom` until EAGAIN, `sendto` until EAGAIN.
pub(crate) struct DgramEpoll {
    socket: DatagramSocket,
    epoll: OwnedFd,
    buf: Vec<u8>,
    queue: VecDeque<Transmit>,
    slots: usize,
    /// EPOLLOUT is in the interest set (only while the kernel pushed back).
    out_armed: bool,
    shared: DgramShared,
}

impl DgramEpoll {
    pub(crate) fn new(socket: DatagramSocket, config: &DatagramConfig) -> Result<Self, DriverError> {
        let epoll = create_epoll()?;
        epoll::add(&epoll, socket.fd(), epoll::EventData::new_u64(0), epoll::EventFlags::IN)
            .map_err(|e| DriverError::io("epoll_ctl(ADD)", e))?;
        let slots = usize::from(config.send_slots.max(1));
        Ok(DgramEpoll {
            socket,
            epoll,
            buf: vec![0; config.max_datagram.max(1)],
            queue: VecDeque::with_capacity(slots),
            slots,
            out_armed: false,
            shared: DgramShared::default(),
        })
    }

    fn arm_out(&mut self, on: bool) -> Result<(), DriverError> {
        if on == self.out_armed {
            return Ok(());
        }
        let mut flags = epoll::EventFlags::IN;
        if on {
            flags |= epoll::EventFlags::OUT;
        }
        epoll::modify(&self.epoll, self.socket.fd(), epoll::EventData::new_u64(0), flags)
            .map_err(|e| DriverError::io("epoll_ctl(MOD)", e))?;
        self.out_armed = on;
        Ok(())
    }
}

impl DgramBackend for DgramEpoll {
    fn backend(&self) -> Backend {
        Backend::Epoll
    }

    fn shared(&self) -> &DgramShared {
        &self.shared
    }

    fn shared_mut(&mut self) -> &mut DgramShared {
        &mut self.shared
    }

    fn next_recv(&mut self) -> Result<Option<(SocketAddr, &[u8])>, DriverError> {
        let mut errors = 0;
        let (n, from) = loop {
            // TRUNC: the kernel reports the real length, so an oversized datagram is
            // recognised and dropped instead of being parsed cut short.
            match net::recvfrom(self.socket.fd(), &mut self.buf[..], RecvFlags::TRUNC) {
                Ok((_, n, addr)) => {
                    if n > self.buf.len() {
                        self.shared.stats.truncated += 1;
                        continue;
                    }
                    match addr.and_then(|a| SocketAddr::try_from(a).ok()) {
                        Some(from) => break (n, from),
                        None => self.shared.stats.recv_errors += 1,
                    }
                }
                Err(Errno::AGAIN) => return Ok(None),
                Err(Errno::INTR) => {}
                Err(_) => {
                    self.shared.stats.recv_errors += 1;
                    errors += 1;
                    if errors >= MAX_RECV_ERRORS {
                        return Ok(None);
                    }
                }
            }
        };
        self.shared.stats.received += 1;
        Ok(self.buf.get(..n).map(|d| (from, d)))
    }

    fn send_room(&self) -> usize {
        self.slots.saturating_sub(self.queue.len())
    }

    fn queue(&mut self, t: Transmit) -> Result<(), DriverError> {
        self.queue.push_back(t);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), DriverError> {
        if !self.queue.is_empty() {
            self.shared.stats.send_batches += 1;
        }
        let mut blocked = false;
        while let Some(t) = self.queue.front() {
            match net::sendto(self.socket.fd(), &t.payload, SendFlags::empty(), &t.destination) {
                Ok(_) => self.shared.stats.sent += 1,
                Err(Errno::AGAIN) => {
                    blocked = true;
                    break;
                }
                Err(Errno::INTR) => continue,
                Err(e) => {
                    let to = t.destination;
                    self.shared.send_failed(to, e);
                }
            }
            self.queue.pop_front();
        }
        self.arm_out(blocked)
    }

    fn busy(&self) -> usize {
        self.queue.len()
    }

    fn wait(&mut self, timeout: Option<Duration>) -> Result<(), DriverError> {
        // Readiness itself is not kept: the next turn simply tries to read and send.
        wait_on(self.epoll.as_fd(), timeout, |_, _| {})
    }

    fn notify_fd(&mut self) -> Result<BorrowedFd<'_>, DriverError> {
        // The epoll descriptor is itself readable while any of its sockets is ready.
        Ok(self.epoll.as_fd())
    }

    fn clear_notify(&mut self) {}
}

/// One connection's socket on epoll.
#[derive(Default)]
struct Slot {
    fd: Option<OwnedFd>,
    generation: u32,
    connecting: bool,
    /// EPOLLIN is wanted (connected, not at end of file).
    reading: bool,
    interest: Option<epoll::EventFlags>,
    out: Vec<u8>,
    out_pos: usize,
    /// Data came in: TCP_QUICKACK is re-armed when the runner reads again (after a
    /// connection's last read it would only cost a bare ACK that our FIN carries).
    ack_due: bool,
}

/// Things that happened outside `next_event` (a connect that completed at once, a
/// write error) and are reported by it.
enum Stashed {
    Connected(u32, Result<(), Errno>),
    Sent(u32),
    Error(u32, Errno),
    Released(u32),
}

/// TCP connections on epoll: nonblocking connect, `recv` into one shared buffer (a
/// read is handed to the session before the next one, so one buffer suffices).
pub(crate) struct StreamEpoll {
    epoll: OwnedFd,
    /// Readiness not yet handled: (slot, generation, flags).
    ready: VecDeque<(u32, u32, epoll::EventFlags)>,
    stash: VecDeque<Stashed>,
    slots: Vec<Slot>,
    buf: Vec<u8>,
    nodelay: bool,
    quickack: bool,
}

impl StreamEpoll {
    pub(crate) fn new(config: &StreamConfig, n: usize) -> Result<Self, DriverError> {
        Ok(StreamEpoll {
            epoll: create_epoll()?,
            ready: VecDeque::with_capacity(EVENTS),
            stash: VecDeque::new(),
            slots: (0..n).map(|_| Slot::default()).collect(),
            buf: vec![0; config.read_buffer_size.max(512)],
            nodelay: config.nodelay,
            quickack: config.quickack,
        })
    }

    /// Keeps the interest set in line with what the slot needs.
    fn sync_interest(&mut self, slot: u32) -> Result<(), Errno> {
        let Some(s) = self.slots.get_mut(slot as usize) else { return Ok(()) };
        let Some(fd) = &s.fd else { return Ok(()) };
        let mut want = epoll::EventFlags::empty();
        if s.connecting || s.out_pos < s.out.len() {
            want |= epoll::EventFlags::OUT;
        }
        if s.reading {
            want |= epoll::EventFlags::IN | epoll::EventFlags::RDHUP;
        }
        if s.interest == Some(want) {
            return Ok(());
        }
        let data = epoll::EventData::new_u64((u64::from(s.generation) << 32) | u64::from(slot));
        match s.interest {
            None => epoll::add(&self.epoll, fd, data, want)?,
            Some(_) => epoll::modify(&self.epoll, fd, data, want)?,
        }
        s.interest = Some(want);
        Ok(())
    }

    /// Writes what is pending; Ok(true) when all of it is out.
    fn write_some(&mut self, slot: u32) -> Result<bool, Errno> {
        let Some(s) = self.slots.get_mut(slot as usize) else { return Ok(true) };
        let Some(fd) = &s.fd else { return Ok(true) };
        while s.out_pos < s.out.len() {
            let pending = s.out.get(s.out_pos..).unwrap_or_default();
            // NOSIGNAL: a peer that reset must cost an EPIPE, not the process.
            match net::send(fd, pending, SendFlags::NOSIGNAL) {
                Ok(n) => s.out_pos += n,
                Err(Errno::AGAIN) => return Ok(false),
                Err(Errno::INTR) => {}
                Err(e) => return Err(e),
            }
        }
        s.out.clear();
        s.out_pos = 0;
        Ok(true)
    }
}

impl StreamBackend for StreamEpoll {
    fn backend(&self) -> Backend {
        Backend::Epoll
    }

    fn open(&mut self, slot: u32, to: SocketAddr) -> Result<(), Errno> {
        let fd = sys::tcp_socket(&to, self.nodelay, true)?;
        let immediate = match net::connect(&fd, &to) {
            Ok(()) => true,
            Err(Errno::INPROGRESS) => false,
            Err(e) => return Err(e),
        };
        let Some(s) = self.slots.get_mut(slot as usize) else { return Err(Errno::INVAL) };
        s.generation = s.generation.wrapping_add(1);
        s.ack_due = false;
        s.fd = Some(fd);
        s.connecting = !immediate;
        s.reading = false;
        s.interest = None;
        s.out.clear();
        s.out_pos = 0;
        if immediate {
            self.stash.push_back(Stashed::Connected(slot, Ok(())));
        }
        if let Err(e) = self.sync_interest(slot) {
            if let Some(s) = self.slots.get_mut(slot as usize) {
                s.fd = None;
            }
            return Err(e);
        }
        Ok(())
    }

    fn want_read(&mut self, slot: u32) {
        if let Some(s) = self.slots.get_mut(slot as usize) {
            if std::mem::take(&mut s.ack_due) {
                if let Some(fd) = &s.fd {
                    sys::quickack(fd.as_fd());
                }
            }
            if !s.reading && s.fd.is_some() && !s.connecting {
                s.reading = true;
                if let Err(e) = self.sync_interest(slot) {
                    self.stash.push_back(Stashed::Error(slot, e));
                }
            }
        }
    }

    fn out_buf(&mut self, slot: u32) -> Option<&mut Vec<u8>> {
        self.slots.get_mut(slot as usize).map(|s| &mut s.out)
    }

    fn flush(&mut self, slot: u32) {
        match self.write_some(slot) {
            Ok(true) => self.stash.push_back(Stashed::Sent(slot)),
            Ok(false) => {}
            Err(e) => self.stash.push_back(Stashed::Error(slot, e)),
        }
        if let Err(e) = self.sync_interest(slot) {
            self.stash.push_back(Stashed::Error(slot, e));
        }
    }

    fn pending_out(&self, slot: u32) -> usize {
        self.slots.get(slot as usize).map_or(0, |s| s.out.len() - s.out_pos)
    }

    fn shutdown_write(&mut self, slot: u32) {
        if let Some(fd) = self.slots.get(slot as usize).and_then(|s| s.fd.as_ref()) {
            let _ = net::shutdown(fd, net::Shutdown::Write);
        }
    }

    fn close(&mut self, slot: u32) {
        if let Some(s) = self.slots.get_mut(slot as usize) {
            // Closing the descriptor also removes it from the epoll set.
            s.fd = None;
            s.generation = s.generation.wrapping_add(1);
            s.connecting = false;
            s.reading = false;
            s.interest = None;
            s.out.clear();
            s.out_pos = 0;
        }
        self.stash.push_back(Stashed::Released(slot));
    }

    fn poll(&mut self) -> Result<(), DriverError> {
        if self.ready.is_empty() {
            let ready = &mut self.ready;
            wait_on(self.epoll.as_fd(), Some(Duration::ZERO), |d, f| ready.push_back((d as u32, (d >> 32) as u32, f)))?;
        }
        Ok(())
    }

    fn next_event(&mut self) -> Option<IoEvent<'_>> {
        if let Some(s) = self.stash.pop_front() {
            return Some(match s {
                Stashed::Connected(slot, result) => IoEvent::Connected { slot, result },
                Stashed::Sent(slot) => IoEvent::Sent { slot },
                Stashed::Error(slot, errno) => IoEvent::Error { slot, errno },
                Stashed::Released(slot) => IoEvent::Released { slot },
            });
        }
        // What to report for the next live readiness; the read buffer is borrowed only
        // once the loop is done.
        let (slot, n) = loop {
            let (slot, generation, flags) = self.ready.pop_front()?;
            let Some(s) = self.slots.get_mut(slot as usize) else { continue };
            if s.generation != generation || s.fd.is_none() {
                continue;
            }
            if s.connecting {
                let Some(fd) = &s.fd else { continue };
                s.connecting = false;
                let result = sys::connect_result(fd.as_fd());
                if result.is_ok() && self.quickack {
                    sys::quickack(fd.as_fd());
                }
                if let Err(e) = self.sync_interest(slot) {
                    return Some(IoEvent::Error { slot, errno: e });
                }
                return Some(IoEvent::Connected { slot, result });
            }
            if flags.contains(epoll::EventFlags::OUT) && s.out_pos < s.out.len() {
                match self.write_some(slot) {
                    Ok(true) => self.stash.push_back(Stashed::Sent(slot)),
                    Ok(false) => {}
                    Err(e) => return Some(IoEvent::Error { slot, errno: e }),
                }
                if let Err(e) = self.sync_interest(slot) {
                    return Some(IoEvent::Error { slot, errno: e });
                }
            }
            let Some(s) = self.slots.get_mut(slot as usize) else { continue };
            let readable =
                epoll::EventFlags::IN | epoll::EventFlags::RDHUP | epoll::EventFlags::HUP | epoll::EventFlags::ERR;
            if !s.reading || !flags.intersects(readable) {
                continue;
            }
            let Some(fd) = &s.fd else { continue };
            match net::recv(fd, &mut self.buf[..], net::RecvFlags::empty()) {
                Ok((_, 0)) => {
                    s.reading = false;
                    if let Err(e) = self.sync_interest(slot) {
                        return Some(IoEvent::Error { slot, errno: e });
                    }
                    return Some(IoEvent::Eof { slot });
                }
                Ok((_, n)) => {
                    s.ack_due = self.quickack;
                    break (slot, n);
                }
                Err(Errno::AGAIN) | Err(Errno::INTR) => continue,
                Err(e) => return Some(IoEvent::Error { slot, errno: e }),
            }
        };
        self.buf.get(..n).map(|data| IoEvent::Data { slot, data })
    }

    fn submit(&mut self) -> Result<(), DriverError> {
        Ok(())
    }

    fn wait(&mut self, timeout: Option<Duration>) -> Result<(), DriverError> {
        if !self.stash.is_empty() || !self.ready.is_empty() {
            return Ok(());
        }
        let ready = &mut self.ready;
        wait_on(self.epoll.as_fd(), timeout, |d, f| ready.push_back((d as u32, (d >> 32) as u32, f)))
    }

    fn notify_fd(&mut self) -> Result<BorrowedFd<'_>, DriverError> {
        Ok(self.epoll.as_fd())
    }

    fn clear_notify(&mut self) {}
}
