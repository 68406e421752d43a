//! A datagram socket on io_uring: one multishot `recvmsg` into a provided-buffer pool
//! (kernel 6.0+; else one single-shot `recvmsg` at a time), and `sendmsg` from a
//! fixed set of send slots, all pushed in one turn and submitted together.
#![allow(unsafe_code)]

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

use io_uring::types::Fd;
use io_uring::{cqueue, opcode};
use rustix::io::Errno;

use super::{BufferPool, OP_PROVIDE, Ring, split_user_data, user_data};
use crate::driver::datagram::{DatagramConfig, DgramBackend, DgramShared};
use crate::driver::sys::{DatagramSocket, RawSockAddr, parse_sockaddr};
use crate::driver::{Backend, DriverError};
use crate::session::Transmit;

const OP_RECV: u8 = 10;
const OP_SEND: u8 = 11;
/// Room the multishot layout needs before the payload: `io_uring_recvmsg_out` (16
/// bytes) then the name field (`msg_namelen` bytes).
const HEADER: usize = 16 + RawSockAddr::CAPACITY as usize;

/// One datagram being sent: the kernel reads `hdr`, which points at `iov` and
/// `addr`, which point at `payload`; boxed so none of it moves while in flight.
struct SendSlot {
    hdr: libc::msghdr,
    iov: libc::iovec,
    addr: RawSockAddr,
    to: SocketAddr,
    payload: Vec<u8>,
}

/// The single-shot receive used where multishot is missing: same shape.
struct SingleRecv {
    hdr: libc::msghdr,
    iov: libc::iovec,
    name: RawSockAddr,
    buf: Vec<u8>,
}

pub(crate) struct DgramUring {
    ring: Ring,
    socket: DatagramSocket,
    multishot: bool,
    /// Template for the multishot receive: only name and control lengths matter.
    ms_hdr: Box<libc::msghdr>,
    pool: BufferPool,
    single: Box<SingleRecv>,
    recv_armed: bool,
    /// Buffer lent out by the last `next_recv`, handed back on the next call.
    lent: Option<u16>,
    /// Length of the datagram in the single-shot buffer.
    single_len: usize,
    // Boxed so no slot moves while the kernel points into it, whatever the Vec does.
    #[allow(clippy::vec_box)]
    sends: Vec<Box<SendSlot>>,
    free: Vec<u16>,
    pushed: usize,
    max_datagram: usize,
    shared: DgramShared,
}

// SAFETY: the raw pointers inside the boxed msghdrs point only into memory owned by
// this same value (its boxes and vectors), so moving it to another thread moves
// everything they point at along with it.
unsafe impl Send for DgramUring {}

fn zeroed_msghdr() -> libc::msghdr {
    // SAFETY: msghdr is plain data; all-zero is a valid value (null pointers, zero
    // lengths), and it works for libc's private padding fields on musl.
    unsafe { std::mem::zeroed() }
}

impl DgramUring {
    pub(crate) fn new(ring: Ring, socket: DatagramSocket, config: &DatagramConfig) -> Result<Self, DriverError> {
        // io_uring polls internally; a nonblocking socket would make some kernels
        // hand EAGAIN back instead of waiting for data.
        rustix::io::ioctl_fionbio(socket.fd(), false).map_err(|e| DriverError::io("clearing O_NONBLOCK", e))?;
        let max_datagram = config.max_datagram.max(1);
        let mut ms_hdr = Box::new(zeroed_msghdr());
        ms_hdr.msg_namelen = RawSockAddr::CAPACITY;
        let slots = config.send_slots.max(1);
        let mut single = Box::new(SingleRecv {
            hdr: zeroed_msghdr(),
            iov: libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 },
            name: RawSockAddr::new(&SocketAddr::from(([0, 0, 0, 0], 0))),
            buf: vec![0; max_datagram],
        });
        single.iov.iov_len = single.buf.len();
        let mut me = DgramUring {
            ring,
            socket,
            multishot: config.multishot,
            ms_hdr,
            pool: BufferPool::new(config.recv_buffers.max(2), HEADER + max_datagram, 0),
            single,
            recv_armed: false,
            lent: None,
            single_len: 0,
            sends: (0..slots)
                .map(|_| {
                    Box::new(SendSlot {
                        hdr: zeroed_msghdr(),
                        iov: libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 },
                        addr: RawSockAddr::new(&SocketAddr::from(([0, 0, 0, 0], 0))),
                        to: SocketAddr::from(([0, 0, 0, 0], 0)),
                        payload: Vec::new(),
                    })
                })
                .collect(),
            free: (0..slots).rev().collect(),
            pushed: 0,
            max_datagram,
            shared: DgramShared::default(),
        };
        if me.multishot {
            me.pool.provide_all(&mut me.ring)?;
        }
        me.arm()?;
        me.ring.submit()?;
        Ok(me)
    }

    fn arm(&mut self) -> Result<(), DriverError> {
        let fd = Fd(self.socket.fd().as_raw_fd());
        let e = if self.multishot {
            opcode::RecvMsgMulti::new(fd, &*self.ms_hdr, self.pool.group()).build()
        } else {
            let s = &mut *self.single;
            s.iov.iov_base = s.buf.as_mut_ptr().cast();
            s.iov.iov_len = s.buf.len();
            s.hdr.msg_name = (&raw mut s.name).cast();
            s.hdr.msg_namelen = RawSockAddr::CAPACITY;
            s.hdr.msg_iov = &raw mut s.iov;
            s.hdr.msg_iovlen = 1;
            s.hdr.msg_flags = 0;
            opcode::RecvMsg::new(fd, &raw mut s.hdr).build()
        };
        // SAFETY: the msghdr (and for single-shot, the name, iovec and buffer) are
        // boxed in `self`, and the pool outlives the ring's operations (see Drop).
        unsafe { self.ring.push(&e.user_data(user_data(OP_RECV, 0, 0)))? };
        self.recv_armed = true;
        Ok(())
    }

    /// Hands back what the previous `next_recv` lent out, and re-arms the receive.
    fn settle(&mut self) -> Result<(), DriverError> {
        if let Some(bid) = self.lent.take() {
            self.pool.give_back(&mut self.ring, bid)?;
        }
        if !self.recv_armed {
            self.arm()?;
        }
        Ok(())
    }

    /// Handles a completion that is not a received datagram.
    fn other_completion(&mut self, op: u8, slot: u32, res: i32) {
        match op {
            OP_SEND => {
                let Ok(i) = u16::try_from(slot) else { return };
                let Some(s) = self.sends.get_mut(usize::from(i)) else { return };
                if res < 0 {
                    let to = s.to;
                    self.shared.send_failed(to, Errno::from_raw_os_error(-res));
                } else {
                    self.shared.stats.sent += 1;
                }
                self.free.push(i);
            }
            OP_PROVIDE if res < 0 => self.shared.stats.recv_errors += 1,
            _ => {}
        }
    }
}

impl DgramBackend for DgramUring {
    fn backend(&self) -> Backend {
        Backend::IoUring
    }

    fn multishot(&self) -> bool {
        self.multishot
    }

    fn shared(&self) -> &DgramShared {
        &self.shared
    }

    fn shared_mut(&mut self) -> &mut DgramShared {
        &mut self.shared
    }

    fn next_recv(&mut self) -> Result<Option<(SocketAddr, &[u8])>, DriverError> {
        self.settle()?;
        // Find the next usable datagram; what it is (buffer id or the single-shot
        // buffer) and its length, so the borrow handed out is taken only at the end.
        let found = loop {
            let Some(c) = self.ring.pop() else { break None };
            let (op, slot, _) = split_user_data(c.user_data());
            if op != OP_RECV {
                self.other_completion(op, slot, c.result());
                continue;
            }
            let res = c.result();
            if !cqueue::more(c.flags()) {
                self.recv_armed = false;
                self.shared.stats.rearms += 1;
            }
            if res < 0 {
                let e = Errno::from_raw_os_error(-res);
                if e == Errno::INVAL && self.multishot && self.shared.stats.received == 0 {
                    // Kernel before 6.0: no multishot recvmsg. Go single-shot.
                    self.multishot = false;
                } else if e != Errno::NOBUFS && e != Errno::CANCELED && e != Errno::INTR {
                    self.shared.stats.recv_errors += 1;
                }
                if !self.recv_armed {
                    self.arm()?;
                }
                continue;
            }
            let len = res as usize;
            if self.multishot {
                let Some(bid) = cqueue::buffer_select(c.flags()) else {
                    self.shared.stats.recv_errors += 1;
                    continue;
                };
                match self.pool.get(bid, len).map(parse_multishot) {
                    Some(Ok((from, range))) => break Some(Some((bid, from, range))),
                    Some(Err(Bad::Truncated)) => self.shared.stats.truncated += 1,
                    _ => self.shared.stats.recv_errors += 1,
                }
                self.pool.give_back(&mut self.ring, bid)?;
                if !self.recv_armed {
                    self.arm()?;
                }
            } else {
                // Single-shot completions never carry F_MORE.
                self.recv_armed = false;
                let s = &*self.single;
                if s.hdr.msg_flags & libc::MSG_TRUNC != 0 || len > self.max_datagram {
                    self.shared.stats.truncated += 1;
                    self.arm()?;
                    continue;
                }
                self.single_len = len;
                break Some(None);
            }
        };
        let Some(which) = found else {
            if !self.recv_armed {
                self.arm()?;
            }
            return Ok(None);
        };
        self.shared.stats.received += 1;
        match which {
            Some((bid, from, range)) => {
                self.lent = Some(bid);
                let buf = self.pool.get(bid, self.pool.size()).unwrap_or_default();
                Ok(buf.get(range).map(|d| (from, d)))
            }
            None => {
                let s = &*self.single;
                let name_len = (s.hdr.msg_namelen as usize).min(RawSockAddr::CAPACITY as usize);
                let name = s.name.bytes().get(..name_len).unwrap_or_default();
                Ok(parse_sockaddr(name).zip(s.buf.get(..self.single_len)))
            }
        }
    }

    fn send_room(&self) -> usize {
        self.free.len()
    }

    fn queue(&mut self, t: Transmit) -> Result<(), DriverError> {
        let Some(i) = self.free.pop() else {
            return Err(DriverError::io("queueing a datagram", Errno::NOBUFS));
        };
        let Some(s) = self.sends.get_mut(usize::from(i)) else {
            return Err(DriverError::io("queueing a datagram", Errno::INVAL));
        };
        let s = &mut **s;
        s.to = t.destination;
        s.addr = RawSockAddr::new(&t.destination);
        s.payload = t.payload;
        s.iov.iov_base = s.payload.as_mut_ptr().cast();
        s.iov.iov_len = s.payload.len();
        s.hdr.msg_name = (&raw mut s.addr).cast();
        s.hdr.msg_namelen = s.addr.len();
        s.hdr.msg_iov = &raw mut s.iov;
        s.hdr.msg_iovlen = 1;
        let e = opcode::SendMsg::new(Fd(self.socket.fd().as_raw_fd()), &raw const s.hdr).build().user_data(user_data(
            OP_SEND,
            u32::from(i),
            0,
        ));
        // SAFETY: the slot is boxed and not touched again until its completion puts
        // it back on the free list.
        unsafe { self.ring.push(&e)? };
        self.pushed += 1;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), DriverError> {
        if self.pushed > 0 {
            self.shared.stats.send_batches += 1;
            self.pushed = 0;
        }
        self.ring.submit()
    }

    fn busy(&self) -> usize {
        self.sends.len() - self.free.len()
    }

    fn wait(&mut self, timeout: Option<Duration>) -> Result<(), DriverError> {
        self.settle()?;
        self.ring.wait(timeout)
    }

    fn notify_fd(&mut self) -> Result<BorrowedFd<'_>, DriverError> {
        self.ring.notify_fd()
    }

    fn clear_notify(&mut self) {
        self.ring.clear_notify()
    }
}

/// Why a multishot buffer holds no usable datagram.
#[derive(Debug, PartialEq, Eq)]
enum Bad {
    Truncated,
    Malformed,
}

/// Reads the multishot `recvmsg` layout: `io_uring_recvmsg_out` (name, control and
/// payload lengths, flags; native-endian u32s), the name field (`msg_namelen` bytes),
/// the control field (none here), then the payload. Checked: never panics.
fn parse_multishot(buf: &[u8]) -> Result<(SocketAddr, std::ops::Range<usize>), Bad> {
    let word = |i: usize| -> Result<usize, Bad> {
        let b: [u8; 4] = buf.get(i..i + 4).and_then(|b| b.try_into().ok()).ok_or(Bad::Malformed)?;
        Ok(u32::from_ne_bytes(b) as usize)
    };
    let (namelen, payloadlen, flags) = (word(0)?, word(8)?, word(12)?);
    if flags & (libc::MSG_TRUNC as usize) != 0 {
        return Err(Bad::Truncated);
    }
    let name_field = RawSockAddr::CAPACITY as usize;
    let name = buf.get(16..16 + namelen.min(name_field)).ok_or(Bad::Malformed)?;
    let from = parse_sockaddr(name).ok_or(Bad::Malformed)?;
    let start = 16 + name_field;
    let end = start.checked_add(payloadlen).ok_or(Bad::Malformed)?;
    if end > buf.len() {
        return Err(Bad::Truncated);
    }
    Ok((from, start..end))
}

impl Drop for DgramUring {
    fn drop(&mut self) {
        use std::cell::Cell;
        let armed = Cell::new(self.recv_armed);
        let sending = Cell::new(self.busy());
        let cancel = armed.get().then(|| user_data(OP_RECV, 0, 0));
        self.ring.drain(
            cancel.into_iter(),
            |c| {
                let (op, _, _) = split_user_data(c.user_data());
                if op == OP_RECV && !cqueue::more(c.flags()) {
                    armed.set(false);
                } else if op == OP_SEND {
                    sending.set(sending.get().saturating_sub(1));
                }
            },
            || usize::from(armed.get()) + sending.get(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(namelen: u32, payload: &[u8], flags: u32, name: &SocketAddr) -> Vec<u8> {
        let mut b = Vec::new();
        for w in [namelen, 0, payload.len() as u32, flags] {
            b.extend_from_slice(&w.to_ne_bytes());
        }
        let raw = RawSockAddr::new(name);
        b.extend_from_slice(raw.bytes());
        b.extend_from_slice(payload);
        b
    }

    #[test]
    fn multishot_layout_is_parsed_and_checked() {
        let from: SocketAddr = "127.0.0.1:161".parse().unwrap();
        let b = layout(16, b"hello", 0, &from);
        let (a, r) = parse_multishot(&b).unwrap();
        assert_eq!((a, &b[r]), (from, &b"hello"[..]));
        let v6: SocketAddr = "[::1]:5".parse().unwrap();
        let b = layout(28, b"", 0, &v6);
        assert_eq!(parse_multishot(&b).unwrap().0, v6);
        let b = layout(16, b"x", libc::MSG_TRUNC as u32, &from);
        assert_eq!(parse_multishot(&b), Err(Bad::Truncated));
        let b = layout(16, b"abc", 0, &from);
        assert_eq!(parse_multishot(&b[..b.len() - 1]), Err(Bad::Truncated));
        assert_eq!(parse_multishot(&b[..10]), Err(Bad::Malformed));
        let b = layout(3, b"abc", 0, &from);
        assert_eq!(parse_multishot(&b), Err(Bad::Malformed));
        let mut b = layout(16, b"abc", 0, &from);
        b[8..12].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(parse_multishot(&b), Err(Bad::Truncated));
    }
}
