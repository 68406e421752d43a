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
use super::sys::DatagramSocket;
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
pub(crate) fn wait_on(
    epfd: BorrowedFd<'_>,
    events: &mut Vec<epoll::Event>,
    timeout: Option<Duration>,
) -> Result<(), DriverError> {
    events.clear();
    let ts = timeout.map(|d| {
        let ms = d.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i64;
        Timespec { tv_sec: ms / 1000, tv_nsec: (ms % 1000) * 1_000_000 }
    });
    match epoll::wait(epfd, spare_capacity(events), ts.as_ref()) {
        Ok(_) | Err(Errno::INTR) => Ok(()),
        Err(e) => Err(DriverError::io("epoll_wait", e)),
    }
}

/// A datagram socket on epoll: `recvfrom` until EAGAIN, `sendto` until EAGAIN.
pub(crate) struct DgramEpoll {
    socket: DatagramSocket,
    epoll: OwnedFd,
    events: Vec<epoll::Event>,
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
            events: Vec::with_capacity(EVENTS),
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
        wait_on(self.epoll.as_fd(), &mut self.events, timeout)
    }

    fn notify_fd(&mut self) -> Result<BorrowedFd<'_>, DriverError> {
        // The epoll descriptor is itself readable while any of its sockets is ready.
        Ok(self.epoll.as_fd())
    }

    fn clear_notify(&mut self) {}
}
