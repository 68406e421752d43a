//! The io_uring backend's shared parts: ring setup with feature checks (so an
//! unusable kernel means a clean fallback to epoll), batched submission, waiting with
//! a timeout, provided-buffer pools and the eventfd that wakes smol.
//!
//! This is the one place that needs `unsafe`: the kernel reads and writes memory we
//! point it at after `push` returns. Every pointer handed over points into memory
//! owned by the backend that issued the operation, which keeps it (boxed or in a
//! never-resized allocation) until the operation's completion has been reaped; the
//! backends' `Drop` cancels and drains what is still in flight.
#![allow(unsafe_code)]

pub(crate) mod dgram;
pub(crate) mod stream;

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use io_uring::types::{SubmitArgs, Timespec};
use io_uring::{IoUring, Probe, cqueue, opcode, squeue};
use rustix::io::Errno;

use super::DriverError;

/// What a completion belongs to: the operation kind in the top byte, a slot in the
/// next 24 bits, the slot's generation in the low 32 (so a completion for a slot
/// that was reused meanwhile is recognised as stale).
pub(crate) fn user_data(op: u8, slot: u32, generation: u32) -> u64 {
    (u64::from(op) << 56) | ((u64::from(slot) & 0xFF_FFFF) << 32) | u64::from(generation)
}

pub(crate) fn split_user_data(u: u64) -> (u8, u32, u32) {
    ((u >> 56) as u8, ((u >> 32) & 0xFF_FFFF) as u32, u as u32)
}

/// Completions of buffer hand-backs (only seen when the kernel cannot skip them).
pub(crate) const OP_PROVIDE: u8 = 1;
/// Completions of cancellations; the cancelled operation completes on its own.
pub(crate) const OP_CANCEL: u8 = 2;

/// An io_uring instance that is known to have what the runners use.
pub(crate) struct Ring {
    ring: IoUring,
    /// IOSQE_CQE_SKIP_SUCCESS works (5.17+): buffer hand-backs post no completion.
    skip_success: bool,
    eventfd: Option<OwnedFd>,
}

impl Ring {
    /// Sets up a ring with `sq` submission and `cq` completion entries, or says why
    /// this kernel cannot be used (the caller falls back to epoll or reports it).
    pub(crate) fn new(sq: u32, cq: u32) -> Result<Ring, String> {
        let ring = IoUring::builder()
            .setup_cqsize(cq.max(sq.saturating_mul(2)))
            .setup_clamp()
            .build(sq)
            .map_err(|e| format!("io_uring_setup failed: {e}"))?;
        let p = ring.params();
        if !p.is_feature_ext_arg() {
            return Err("kernel too old: no IORING_FEAT_EXT_ARG (needs 5.11)".into());
        }
        if !p.is_feature_nodrop() {
            return Err("kernel too old: no IORING_FEAT_NODROP (needs 5.5)".into());
        }
        let skip_success = p.is_feature_skip_cqe_on_success();
        let mut probe = Probe::new();
        ring.submitter().register_probe(&mut probe).map_err(|e| format!("IORING_REGISTER_PROBE failed: {e}"))?;
        for (code, name) in [
            (opcode::RecvMsg::CODE, "RECVMSG"),
            (opcode::SendMsg::CODE, "SENDMSG"),
            (opcode::Recv::CODE, "RECV"),
            (opcode::Send::CODE, "SEND"),
            (opcode::Connect::CODE, "CONNECT"),
            (opcode::AsyncCancel::CODE, "ASYNC_CANCEL"),
            (opcode::ProvideBuffers::CODE, "PROVIDE_BUFFERS"),
        ] {
            if !probe.is_supported(code) {
                return Err(format!("kernel lacks io_uring opcode {name}"));
            }
        }
        Ok(Ring { ring, skip_success, eventfd: None })
    }

    /// Queues one operation, submitting the queue first when it is full (that is
    /// the batching: everything pushed in one turn goes in one `io_uring_enter`).
    ///
    /// # Safety
    /// Every pointer in `entry` must stay valid, and its memory untouched by us where
    /// the kernel writes, until the operation's completion has been reaped.
    pub(crate) unsafe fn push(&mut self, entry: &squeue::Entry) -> Result<(), DriverError> {
        for _ in 0..3 {
            // SAFETY: forwarded from this function's contract.
            if unsafe { self.ring.submission().push(entry) }.is_ok() {
                return Ok(());
            }
            self.submit()?;
        }
        Err(DriverError::io("io_uring submission queue stays full", Errno::BUSY))
    }

    /// Submits everything queued. EBUSY (completions backed up) and EINTR are not
    /// errors: the queue is submitted again on the next turn.
    pub(crate) fn submit(&mut self) -> Result<(), DriverError> {
        if self.ring.submission().is_empty() {
            return Ok(());
        }
        match self.ring.submit() {
            Ok(_) => Ok(()),
            Err(e) if benign(&e) => Ok(()),
            Err(e) => Err(DriverError::io("io_uring_enter", e)),
        }
    }

    /// Submits and blocks until a completion arrives or `timeout` passes.
    pub(crate) fn wait(&mut self, timeout: Option<Duration>) -> Result<(), DriverError> {
        if !self.ring.completion().is_empty() {
            return self.submit();
        }
        let r = match timeout {
            Some(d) => {
                let ts = Timespec::from(d);
                let args = SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(1, &args)
            }
            None => self.ring.submit_and_wait(1),
        };
        match r {
            Ok(_) => Ok(()),
            Err(e) if benign(&e) || e.raw_os_error() == Some(Errno::TIME.raw_os_error()) => Ok(()),
            Err(e) => Err(DriverError::io("io_uring_enter (wait)", e)),
        }
    }

    /// The next completion, if one is ready.
    pub(crate) fn pop(&mut self) -> Option<cqueue::Entry> {
        self.ring.completion().next()
    }

    /// An eventfd the kernel signals on every completion, created on first use.
    pub(crate) fn notify_fd(&mut self) -> Result<BorrowedFd<'_>, DriverError> {
        if self.eventfd.is_none() {
            use rustix::event::{EventfdFlags, eventfd};
            let fd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)
                .map_err(|e| DriverError::io("eventfd", e))?;
            self.ring
                .submitter()
                .register_eventfd(fd.as_raw_fd())
                .map_err(|e| DriverError::io("IORING_REGISTER_EVENTFD", e))?;
            self.eventfd = Some(fd);
        }
        match &self.eventfd {
            Some(fd) => Ok(fd.as_fd()),
            None => Err(DriverError::io("eventfd", Errno::BADF)),
        }
    }

    /// Resets the eventfd counter; completions that arrive later signal it again.
    pub(crate) fn clear_notify(&mut self) {
        if let Some(fd) = &self.eventfd {
            let mut b = [0u8; 8];
            let _ = rustix::io::read(fd, &mut b);
        }
    }

    /// Cancels the operations `user_datas` and waits (at most about a second) until
    /// `in_flight` says none is left, reaping completions into `on_cqe`. For `Drop`:
    /// the memory those operations point at is freed right after.
    pub(crate) fn drain(
        &mut self,
        user_datas: impl Iterator<Item = u64>,
        mut on_cqe: impl FnMut(&cqueue::Entry),
        mut in_flight: impl FnMut() -> usize,
    ) {
        for ud in user_datas {
            let e = opcode::AsyncCancel::new(ud).build().user_data(user_data(OP_CANCEL, 0, 0));
            // SAFETY: a cancellation carries no pointer.
            let _ = unsafe { self.push(&e) };
        }
        for _ in 0..100 {
            while let Some(c) = self.pop() {
                on_cqe(&c);
            }
            if in_flight() == 0 {
                return;
            }
            let _ = self.wait(Some(Duration::from_millis(10)));
        }
    }
}

fn benign(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(c) if c == Errno::INTR.raw_os_error() || c == Errno::BUSY.raw_os_error()
            || c == Errno::AGAIN.raw_os_error()
    )
}

/// Fixed-size buffers handed to the kernel once (IORING_OP_PROVIDE_BUFFERS) and
/// picked by it per receive, so memory is bounded by the pool, not by the number of
/// sockets waiting for data. The allocation is never resized, so addresses given to
/// the kernel stay valid for the pool's life.
pub(crate) struct BufferPool {
    mem: Box<[u8]>,
    size: usize,
    count: u16,
    group: u16,
}

impl BufferPool {
    pub(crate) fn new(count: u16, size: usize, group: u16) -> Self {
        let count = count.max(1);
        let size = size.clamp(64, i32::MAX as usize / usize::from(count));
        BufferPool { mem: vec![0u8; size * usize::from(count)].into_boxed_slice(), size, count, group }
    }

    pub(crate) fn group(&self) -> u16 {
        self.group
    }

    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// Hands every buffer to the kernel in one operation.
    pub(crate) fn provide_all(&mut self, ring: &mut Ring) -> Result<(), DriverError> {
        let e = opcode::ProvideBuffers::new(self.mem.as_mut_ptr(), self.size as i32, self.count, self.group, 0)
            .build()
            .user_data(user_data(OP_PROVIDE, 0, 0));
        // SAFETY: the pool's memory lives as long as the backend that owns both the
        // pool and the ring, and is only read by us after the kernel picked a buffer.
        unsafe { ring.push(&e) }
    }

    /// Returns buffer `bid` to the kernel once its contents were consumed.
    pub(crate) fn give_back(&mut self, ring: &mut Ring, bid: u16) -> Result<(), DriverError> {
        if bid >= self.count {
            return Ok(());
        }
        let start = usize::from(bid) * self.size;
        // In bounds: bid < count and mem.len() == count * size.
        let ptr = self.mem[start..].as_mut_ptr();
        let mut e = opcode::ProvideBuffers::new(ptr, self.size as i32, 1, self.group, bid)
            .build()
            .user_data(user_data(OP_PROVIDE, 0, 0));
        if ring.skip_success {
            e = e.flags(squeue::Flags::SKIP_SUCCESS);
        }
        // SAFETY: as in `provide_all`; the buffer is no longer borrowed by us.
        unsafe { ring.push(&e) }
    }

    /// The first `len` bytes the kernel wrote into buffer `bid`.
    pub(crate) fn get(&self, bid: u16, len: usize) -> Option<&[u8]> {
        let start = usize::from(bid).checked_mul(self.size)?;
        self.mem.get(start..start.checked_add(len.min(self.size))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_data_round_trips() {
        for (op, slot, g) in [(0u8, 0u32, 0u32), (255, 0xFF_FFFF, u32::MAX), (3, 12345, 7)] {
            assert_eq!(split_user_data(user_data(op, slot, g)), (op, slot, g));
        }
    }

    #[test]
    fn pool_slices_stay_in_bounds() {
        let p = BufferPool::new(4, 100, 1);
        assert_eq!(p.get(3, 100).map(<[u8]>::len), Some(100));
        assert_eq!(p.get(3, 1000).map(<[u8]>::len), Some(100));
        assert!(p.get(4, 1).is_none());
        assert!(p.get(u16::MAX, 1).is_none());
    }
}
