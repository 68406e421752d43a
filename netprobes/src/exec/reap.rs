//! Noticing that a plugin's leader exited (pidfd, or polling as a last resort), reading
//! its status without reaping it, reaping it, signalling its group, and reaping the
//! group's orphans. Why in this order: see `session.rs` and `mod.rs`.

use std::os::fd::OwnedFd;
use std::time::Duration;

use rustix::io::Errno;
use rustix::process::{
    Pid, PidfdFlags, Signal, WaitId, WaitIdOptions, kill_process_group, pidfd_open, test_kill_process_group, waitid,
};
use smol::{Async, Timer};

use crate::exec::ChildExit;
use crate::exec::session::GroupSignal;

/// First and longest pause of the polling fallbacks.
const POLL_MIN: Duration = Duration::from_millis(1);
const POLL_MAX: Duration = Duration::from_millis(50);

/// Watches one group leader.
#[derive(Debug)]
pub(crate) struct Leader {
    pid: Pid,
    /// Readable once the leader exits; `None` when pidfd_open is unavailable.
    pidfd: Option<Async<OwnedFd>>,
}

impl Leader {
    /// Watches `pid` through a pidfd when `pidfd` is set and the kernel has them.
    pub(crate) fn new(pid: Pid, pidfd: bool) -> Self {
        let pidfd = pidfd.then(|| pidfd_open(pid, PidfdFlags::empty()).ok()).flatten();
        Leader { pid, pidfd: pidfd.and_then(|fd| Async::new(fd).ok()) }
    }

    /// Waits until the leader has exited and returns its status, leaving it a zombie.
    /// `None`: its status is gone (reaped elsewhere, or SIGCHLD ignored).
    pub(crate) async fn exited(&self) -> Option<ChildExit> {
        let mut pause = POLL_MIN;
        loop {
            match self.peek() {
                Ok(Some(exit)) => return Some(exit),
                Ok(None) => {}
                Err(_) => return None,
            }
            match &self.pidfd {
                Some(fd) => {
                    // An error here means the reactor lost the fd; fall back to polling.
                    if fd.readable().await.is_err() {
                        Timer::after(pause).await;
                    }
                }
                None => {
                    Timer::after(pause).await;
                    pause = (pause * 2).min(POLL_MAX);
                }
            }
        }
    }

    /// The leader's status if it has exited, without reaping it.
    fn peek(&self) -> rustix::io::Result<Option<ChildExit>> {
        let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
        Ok(waitid(WaitId::Pid(self.pid), options)?.and_then(|status| {
            status.exit_status().map(ChildExit::Code).or_else(|| status.terminating_signal().map(ChildExit::Signal))
        }))
    }

    /// Sends `signal` to the leader's whole group. Only valid while the leader is not
    /// reaped (its pid, the group id, is then still reserved). A group that is gone
    /// already is fine.
    pub(crate) fn signal_group(&self, signal: GroupSignal) {
        let signal = match signal {
            GroupSignal::Terminate => Signal::TERM,
            GroupSignal::Kill => Signal::KILL,
        };
        // ESRCH: nobody left; EPERM: a member changed its credentials (setuid
        // plugin) — nothing more can be done for it either way.
        let _ = kill_process_group(self.pid, signal);
    }

    /// Reaps the exited leader. Never blocks.
    pub(crate) fn reap(&self) {
        let _ = waitid(WaitId::Pid(self.pid), WaitIdOptions::EXITED | WaitIdOptions::NOHANG);
    }

    /// After the final SIGKILL and [`Leader::reap`]: reaps the group's members that
    /// were re-parented to us (we are a child subreaper) until the group is empty, or
    /// `give_up` has passed. Returns whether the group is gone.
    pub(crate) async fn drain_group(&self, give_up: Duration) -> bool {
        let deadline = std::time::Instant::now() + give_up;
        let mut pause = POLL_MIN;
        loop {
            // Only our own children can be reaped; others' are left alone.
            let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG;
            while let Ok(Some(_)) = waitid(WaitId::Pgid(Some(self.pid)), options) {}
            if test_kill_process_group(self.pid) == Err(Errno::SRCH) {
                return true;
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            Timer::after(pause).await;
            pause = (pause * 2).min(POLL_MAX);
        }
    }
}
