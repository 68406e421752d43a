//! The accelerator's shared pinger: one [`Pinger`] per address family on one ICMP
//! socket, driven by a task on smol's global executor that takes checks from a
//! channel and hands each its own results, like the SNMP manager in `engine`. Every
//! native ping of the process goes through it: one socket and one io_uring (or epoll)
//! instance per family instead of one per check. Not here: what a ping's results
//! mean (`accel`'s wording, `session::ping`'s thresholds).
//!
//! The socket is an unprivileged ICMP datagram socket where the kernel allows it
//! (`net.ipv4.ping_group_range`; it gets only its own replies), else a raw one (root
//! or CAP_NET_RAW; it sees every echo reply on the host, which the pinger sorts out
//! by identifier and cookie). Where neither is allowed the error names both fixes.
//! It is opened by [`PingEngine::start`], so it lives in the network namespace of
//! the thread whose check started the engine.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use smol::channel::{Receiver, Sender, bounded, unbounded};

use super::engine::{Reply, Wake, wake};
use super::{Declined, declined};
use crate::driver::{
    AsyncDriver, Backend, DatagramConfig, DatagramKind, DatagramRunner, DatagramSocket, DriverError, IoChoice, Runner,
};
use crate::session::ping::TargetStats;
use crate::session::pinger::{PingCheckId, PingParams, Pinger, PingerConfig};
use crate::time::MonotonicClock;
use crate::wire::icmp::Version;

/// Echo data bytes: ping's default, so packets look like ping's (64 bytes of ICMP).
const DATA_LEN: usize = 56;

struct PingJob {
    addr: IpAddr,
    params: PingParams,
    done: Reply<TargetStats>,
}

/// One pinger on one ICMP socket, and its task.
#[derive(Debug)]
pub(super) struct PingEngine {
    jobs: Sender<PingJob>,
    backend: Backend,
}

impl PingEngine {
    /// A pinger for the family of `v6`, at most `max_checks` checks at once (more
    /// wait in the engine's queue); `seed` picks its identifier and cookie.
    pub(super) fn start(
        io: IoChoice,
        v6: bool,
        max_checks: usize,
        seed: u64,
        clock: MonotonicClock,
    ) -> Result<Self, DriverError> {
        // Datagram first: it gets only its own replies, where a raw socket would wake
        // the engine for every echo reply on the host.
        let socket = match DatagramSocket::icmp_of(v6, DatagramKind::IcmpDgram) {
            Ok(s) => s,
            Err(_) => DatagramSocket::icmp(v6)?,
        };
        let config = PingerConfig {
            max_checks: max_checks.max(1),
            max_in_flight: 1 << 16,
            data_len: DATA_LEN,
            ident: seed as u16,
            // The kernel rewrites the identifier of unprivileged ICMP sockets.
            check_ident: socket.kind() == DatagramKind::IcmpRaw,
            cookie: (seed >> 32) as u32,
        };
        let version = if v6 { Version::V6 } else { Version::V4 };
        let pinger = Pinger::new(config, version).map_err(|e| DriverError::io("starting the pinger", invalid(e)))?;
        let dconf = DatagramConfig { io, ..DatagramConfig::default() };
        let runner = DatagramRunner::new(socket, pinger, &dconf, clock)?;
        let backend = runner.backend();
        let driver = AsyncDriver::new(runner)?;
        let (jobs, queue) = unbounded();
        smol::spawn(serve_pings(driver, queue)).detach();
        Ok(PingEngine { jobs, backend })
    }

    pub(super) fn backend(&self) -> Backend {
        self.backend
    }

    /// One check of `addr`, to its results.
    pub(super) async fn run(&self, addr: IpAddr, params: PingParams) -> Result<TargetStats, Declined> {
        let (done, outcome) = bounded(1);
        self.jobs.send(PingJob { addr, params, done }).await.map_err(|_| declined("the ping engine has stopped"))?;
        match outcome.recv().await {
            Ok(Ok(stats)) => Ok(stats),
            Ok(Err(e)) => Err(declined(e)),
            Err(_) => Err(declined("the ping engine has stopped")),
        }
    }
}

fn invalid(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string())
}

async fn serve_pings(mut driver: AsyncDriver<DatagramRunner<Pinger>>, jobs: Receiver<PingJob>) {
    let clock = driver.get_ref().clock();
    let slots = driver.get_ref().session().config().max_checks;
    let mut waiting: HashMap<PingCheckId, Reply<TargetStats>> = HashMap::with_capacity(slots);
    let mut queue: VecDeque<PingJob> = VecDeque::new();
    let mut open = true;
    loop {
        while driver.get_ref().session().has_room() {
            let Some(job) = queue.pop_front() else { break };
            // Nobody waits for it any more (the check timed out in the queue).
            if job.done.is_closed() {
                continue;
            }
            match driver.get_mut().session_mut().add(clock.now(), job.addr, job.params) {
                Ok(id) => {
                    waiting.insert(id, job.done);
                }
                Err(e) => {
                    let _ = job.done.try_send(Err(e.to_string()));
                }
            }
        }
        let Some(woke) = wake(&mut driver, &jobs, open, !waiting.is_empty()).await else { return };
        match woke {
            Wake::Job(Some(job)) => queue.push_back(job),
            Wake::Job(None) => open = false,
            Wake::Event(Ok(Some((id, stats)))) => {
                // The caller may have stopped waiting: nothing to do then.
                if let Some(done) = waiting.remove(&id) {
                    let _ = done.try_send(Ok(stats));
                }
            }
            Wake::Event(Ok(None)) => {}
            Wake::Event(Err(e)) => {
                // The runner itself failed: every check in it, and every later one,
                // gets the error.
                for done in waiting.into_values() {
                    let _ = done.try_send(Err(e.to_string()));
                }
                return;
            }
        }
    }
}
