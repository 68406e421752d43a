//! TCP connections on io_uring: `connect`, `recv` with a buffer picked by the kernel
//! from a shared pool (memory bounded by the pool, not by the number of connections)
//! and `send`, all queued during a turn and submitted together.
#![allow(unsafe_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use io_uring::types::Fd;
use io_uring::{cqueue, opcode, squeue};
use rustix::io::Errno;

use super::{BufferPool, OP_PROVIDE, Ring, split_user_data, user_data};
use crate::driver::stream::{IoEvent, StreamBackend, StreamConfig};
use crate::driver::sys::{self, RawSockAddr};
use crate::driver::{Backend, DriverError};

const OP_CONNECT: u8 = 20;
const OP_RECV: u8 = 21;
const OP_SEND: u8 = 22;
/// Buffer group of the read pool (group 0 is the datagram runner's, on its own ring).
const GROUP: u16 = 1;

#[derive(Default)]
struct Slot {
    fd: Option<OwnedFd>,
    generation: u32,
    /// The kernel reads it while the connect is in flight.
    addr: Option<RawSockAddr>,
    connect_inflight: bool,
    recv_inflight: bool,
    send_inflight: bool,
    /// Being written by the kernel's `send`: never touched until it completes.
    out: Vec<u8>,
    out_pos: usize,
    /// What the runner appends meanwhile; becomes `out` next.
    pending: Vec<u8>,
    closing: bool,
    /// Data came in: TCP_QUICKACK is re-armed when the runner reads again (not before:
    /// after a connection's last read it would only cost an extra bare ACK packet,
    /// which the FIN of our close carries anyway).
    ack_due: bool,
}

impl Slot {
    fn in_flight(&self) -> bool {
        self.connect_inflight || self.recv_inflight || self.send_inflight
    }
}

enum Stashed {
    Connected(u32, Result<(), Errno>),
    Eof(u32),
    Sent(u32),
    Error(u32, Errno),
    Released(u32),
}

pub(crate) struct StreamUring {
    ring: Ring,
    slots: Vec<Slot>,
    pool: BufferPool,
    /// Buffer lent out by the last `Data` event, handed back on the next call.
    lent: Option<u16>,
    /// Slots whose read found the pool empty: re-armed once buffers came back.
    starved: VecDeque<u32>,
    starved_count: u64,
    stash: VecDeque<Stashed>,
    nodelay: bool,
    quickack: bool,
}

impl StreamUring {
    pub(crate) fn new(mut ring: Ring, config: &StreamConfig, n: usize) -> Result<Self, DriverError> {
        let mut pool = BufferPool::new(config.read_buffers.max(2), config.read_buffer_size.max(512), GROUP);
        pool.provide_all(&mut ring)?;
        ring.submit()?;
        Ok(StreamUring {
            ring,
            slots: (0..n).map(|_| Slot::default()).collect(),
            pool,
            lent: None,
            starved: VecDeque::new(),
            starved_count: 0,
            stash: VecDeque::new(),
            nodelay: config.nodelay,
            quickack: config.quickack,
        })
    }

    fn ud(&self, op: u8, slot: u32) -> u64 {
        user_data(op, slot, self.slots.get(slot as usize).map_or(0, |s| s.generation))
    }

    fn push_recv(&mut self, slot: u32) -> Result<(), DriverError> {
        let ud = self.ud(OP_RECV, slot);
        let size = self.pool.size() as u32;
        let Some(s) = self.slots.get_mut(slot as usize) else { return Ok(()) };
        let Some(fd) = &s.fd else { return Ok(()) };
        if s.recv_inflight || s.closing || s.connect_inflight {
            return Ok(());
        }
        if std::mem::take(&mut s.ack_due) {
            sys::quickack(fd.as_fd());
        }
        let e = opcode::Recv::new(Fd(fd.as_raw_fd()), std::ptr::null_mut(), size)
            .buf_group(GROUP)
            .build()
            .flags(squeue::Flags::BUFFER_SELECT)
            .user_data(ud);
        s.recv_inflight = true;
        // SAFETY: no pointer of ours: the kernel writes into a pool buffer, and the
        // pool lives as long as the ring's operations (see Drop).
        unsafe { self.ring.push(&e) }
    }

    /// Starts a `send` of `out` (or of `pending`, once `out` is done).
    fn push_send(&mut self, slot: u32) -> Result<(), DriverError> {
        let ud = self.ud(OP_SEND, slot);
        let Some(s) = self.slots.get_mut(slot as usize) else { return Ok(()) };
        if s.send_inflight || s.closing {
            return Ok(());
        }
        let Some(fd) = &s.fd else { return Ok(()) };
        if s.out_pos >= s.out.len() {
            s.out.clear();
            s.out_pos = 0;
            std::mem::swap(&mut s.out, &mut s.pending);
        }
        let Some(rest) = s.out.get(s.out_pos..).filter(|r| !r.is_empty()) else { return Ok(()) };
        let len = u32::try_from(rest.len()).unwrap_or(u32::MAX);
        // NOSIGNAL: a peer that reset must cost an EPIPE, not the process.
        let e =
            opcode::Send::new(Fd(fd.as_raw_fd()), rest.as_ptr(), len).flags(libc::MSG_NOSIGNAL).build().user_data(ud);
        s.send_inflight = true;
        // SAFETY: `out` is not touched (not even appended to) until this send completes.
        unsafe { self.ring.push(&e) }
    }

    /// Frees the slot's descriptor once nothing is in flight, and says so.
    fn maybe_release(&mut self, slot: u32) {
        if let Some(s) = self.slots.get_mut(slot as usize) {
            if s.closing && !s.in_flight() {
                s.closing = false;
                s.fd = None;
                s.addr = None;
                s.out.clear();
                s.out_pos = 0;
                s.pending.clear();
                self.stash.push_back(Stashed::Released(slot));
            }
        }
    }

    fn settle(&mut self) -> Result<(), DriverError> {
        if let Some(bid) = self.lent.take() {
            self.pool.give_back(&mut self.ring, bid)?;
        }
        while let Some(slot) = self.starved.pop_front() {
            self.push_recv(slot)?;
        }
        Ok(())
    }

    /// One completion. `Some((slot, bid, len))` for data to hand out (read below,
    /// outside the borrow); events that carry no data are stashed.
    fn completion(&mut self, c: &cqueue::Entry) -> Result<Option<(u32, u16, usize)>, DriverError> {
        let (op, slot, generation) = split_user_data(c.user_data());
        let res = c.result();
        let err = (res < 0).then(|| Errno::from_raw_os_error(-res));
        if op == OP_PROVIDE {
            return Ok(None);
        }
        let Some(s) = self.slots.get_mut(slot as usize) else { return Ok(None) };
        let bid = cqueue::buffer_select(c.flags());
        if s.generation != generation {
            // Cannot happen (slots wait for all completions), but a buffer must
            // never be lost.
            if let Some(bid) = bid {
                self.pool.give_back(&mut self.ring, bid)?;
            }
            return Ok(None);
        }
        match op {
            OP_CONNECT => {
                s.connect_inflight = false;
                if s.closing {
                    self.maybe_release(slot);
                    return Ok(None);
                }
                if err.is_none() && self.quickack {
                    if let Some(fd) = &s.fd {
                        sys::quickack(fd.as_fd());
                    }
                }
                self.stash.push_back(Stashed::Connected(slot, err.map_or(Ok(()), Err)));
            }
            OP_RECV => {
                s.recv_inflight = false;
                if s.closing {
                    if let Some(bid) = bid {
                        self.pool.give_back(&mut self.ring, bid)?;
                    }
                    self.maybe_release(slot);
                    return Ok(None);
                }
                match (err, bid) {
                    (Some(Errno::NOBUFS), _) => {
                        self.starved_count += 1;
                        self.starved.push_back(slot);
                    }
                    (Some(Errno::INTR) | Some(Errno::AGAIN), _) => self.starved.push_back(slot),
                    (Some(e), _) => self.stash.push_back(Stashed::Error(slot, e)),
                    (None, Some(bid)) if res > 0 => {
                        s.ack_due = self.quickack;
                        return Ok(Some((slot, bid, res as usize)));
                    }
                    (None, bid) => {
                        if let Some(bid) = bid {
                            self.pool.give_back(&mut self.ring, bid)?;
                        }
                        self.stash.push_back(Stashed::Eof(slot));
                    }
                }
            }
            OP_SEND => {
                s.send_inflight = false;
                if s.closing {
                    self.maybe_release(slot);
                    return Ok(None);
                }
                match err {
                    Some(e) => self.stash.push_back(Stashed::Error(slot, e)),
                    None => {
                        s.out_pos += res as usize;
                        if s.out_pos >= s.out.len() && s.pending.is_empty() {
                            s.out.clear();
                            s.out_pos = 0;
                            self.stash.push_back(Stashed::Sent(slot));
                        } else {
                            self.push_send(slot)?;
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(None)
    }
}

impl StreamBackend for StreamUring {
    fn backend(&self) -> Backend {
        Backend::IoUring
    }

    fn open(&mut self, slot: u32, to: SocketAddr) -> Result<(), Errno> {
        let fd = sys::tcp_socket(&to, self.nodelay, false)?;
        let Some(s) = self.slots.get_mut(slot as usize) else { return Err(Errno::INVAL) };
        s.generation = s.generation.wrapping_add(1);
        s.closing = false;
        s.ack_due = false;
        s.out.clear();
        s.out_pos = 0;
        s.pending.clear();
        let addr = s.addr.insert(RawSockAddr::new(&to));
        let e = opcode::Connect::new(Fd(fd.as_raw_fd()), addr.as_ptr().cast(), addr.len())
            .build()
            .user_data(user_data(OP_CONNECT, slot, s.generation));
        s.fd = Some(fd);
        s.connect_inflight = true;
        // SAFETY: the address lives in the slot, which is not reused before the
        // connect completes (the runner waits for `Released`).
        if unsafe { self.ring.push(&e) }.is_err() {
            s.connect_inflight = false;
            s.fd = None;
            return Err(Errno::BUSY);
        }
        Ok(())
    }

    fn want_read(&mut self, slot: u32) {
        if let Err(e) = self.push_recv(slot) {
            self.stash.push_back(Stashed::Error(slot, errno_of(&e)));
        }
    }

    fn out_buf(&mut self, slot: u32) -> Option<&mut Vec<u8>> {
        self.slots.get_mut(slot as usize).map(|s| &mut s.pending)
    }

    fn flush(&mut self, slot: u32) {
        if let Err(e) = self.push_send(slot) {
            self.stash.push_back(Stashed::Error(slot, errno_of(&e)));
        }
    }

    fn pending_out(&self, slot: u32) -> usize {
        self.slots.get(slot as usize).map_or(0, |s| s.out.len() - s.out_pos.min(s.out.len()) + s.pending.len())
    }

    fn shutdown_write(&mut self, slot: u32) {
        if let Some(fd) = self.slots.get(slot as usize).and_then(|s| s.fd.as_ref()) {
            let _ = rustix::net::shutdown(fd, rustix::net::Shutdown::Write);
        }
    }

    fn close(&mut self, slot: u32) {
        let Some(s) = self.slots.get_mut(slot as usize) else { return };
        if s.fd.is_none() || s.closing {
            return;
        }
        s.closing = true;
        let generation = s.generation;
        let ops = [(s.connect_inflight, OP_CONNECT), (s.recv_inflight, OP_RECV), (s.send_inflight, OP_SEND)];
        for (inflight, op) in ops {
            if inflight {
                let e = opcode::AsyncCancel::new(user_data(op, slot, generation)).build().user_data(user_data(
                    super::OP_CANCEL,
                    slot,
                    generation,
                ));
                // SAFETY: a cancellation carries no pointer.
                let _ = unsafe { self.ring.push(&e) };
            }
        }
        self.maybe_release(slot);
    }

    fn poll(&mut self) -> Result<(), DriverError> {
        self.settle()
    }

    fn next_event(&mut self) -> Option<IoEvent<'_>> {
        if self.lent.is_some() || !self.starved.is_empty() {
            if let Err(e) = self.settle() {
                // Only a ring that refuses submissions gets here; make it visible
                // on some connection rather than lose it.
                let slot = self.starved.front().copied().unwrap_or(0);
                self.stash.push_back(Stashed::Error(slot, errno_of(&e)));
            }
        }
        loop {
            if let Some(st) = self.stash.pop_front() {
                return Some(match st {
                    Stashed::Connected(slot, result) => IoEvent::Connected { slot, result },
                    Stashed::Eof(slot) => IoEvent::Eof { slot },
                    Stashed::Sent(slot) => IoEvent::Sent { slot },
                    Stashed::Error(slot, errno) => IoEvent::Error { slot, errno },
                    Stashed::Released(slot) => IoEvent::Released { slot },
                });
            }
            let c = self.ring.pop()?;
            match self.completion(&c) {
                Ok(Some((slot, bid, len))) => {
                    self.lent = Some(bid);
                    return self.pool.get(bid, len).map(|data| IoEvent::Data { slot, data });
                }
                Ok(None) => {}
                Err(e) => {
                    let (_, slot, _) = split_user_data(c.user_data());
                    self.stash.push_back(Stashed::Error(slot, errno_of(&e)));
                }
            }
        }
    }

    fn submit(&mut self) -> Result<(), DriverError> {
        self.settle()?;
        self.ring.submit()
    }

    fn wait(&mut self, timeout: Option<Duration>) -> Result<(), DriverError> {
        if !self.stash.is_empty() {
            return Ok(());
        }
        self.settle()?;
        self.ring.wait(timeout)
    }

    fn notify_fd(&mut self) -> Result<BorrowedFd<'_>, DriverError> {
        self.ring.notify_fd()
    }

    fn clear_notify(&mut self) {
        self.ring.clear_notify()
    }

    fn starved_reads(&self) -> u64 {
        self.starved_count
    }
}

fn errno_of(e: &DriverError) -> Errno {
    match e {
        DriverError::Io { source, .. } => source.raw_os_error().map_or(Errno::IO, Errno::from_raw_os_error),
        _ => Errno::IO,
    }
}

impl Drop for StreamUring {
    fn drop(&mut self) {
        use std::cell::RefCell;
        let mut cancels = Vec::new();
        for (i, s) in self.slots.iter().enumerate() {
            for (inflight, op) in
                [(s.connect_inflight, OP_CONNECT), (s.recv_inflight, OP_RECV), (s.send_inflight, OP_SEND)]
            {
                if inflight {
                    cancels.push(user_data(op, i as u32, s.generation));
                }
            }
        }
        let left = RefCell::new(cancels.len());
        self.ring.drain(
            cancels.into_iter(),
            |c| {
                let (op, _, _) = split_user_data(c.user_data());
                if matches!(op, OP_CONNECT | OP_RECV | OP_SEND) {
                    let mut l = left.borrow_mut();
                    *l = l.saturating_sub(1);
                }
            },
            || *left.borrow(),
        );
    }
}
