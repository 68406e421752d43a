//! The shared runners of an `Accelerator`: one stream runner for every native TCP
//! and NRPE check, one SNMP manager per address family (and, in `pinger`, one
//! pinger per family for every ping), each driven by a task on smol's global
//! executor that takes jobs from a channel and hands every check its own outcome.
//! One io_uring (or epoll) instance serves thousands of checks, with memory
//! allocated when the engine starts; checks beyond the connection slots, the
//! manager's in-flight limit or a few at once per destination (see `Queue`) wait in
//! the engine's queue, in arrival order.
//!
//! A session is made when its job gets a slot (not when it is queued), so queueing
//! does not eat into the check's own timeout, as waiting for an executor slot does
//! not for a plugin. A check whose caller stopped waiting (its overall timeout) is
//! dropped if it has not started, else left to end on its own deadline. TCP sockets
//! are opened by the engine's task: they live in the network namespace of smol's
//! executor thread. The SNMP and ICMP sockets are opened by `start`: they live in
//! the namespace of the thread whose check started the engine.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

use futures_lite::future;
use smol::channel::{Receiver, Sender, bounded, unbounded};

use super::tcp::QuietTcp;
use super::{Declined, declined};
use crate::driver::{
    AsyncDriver, Backend, ConnEnd, ConnId, DatagramConfig, DatagramRunner, DatagramSocket, DriverError, IoChoice,
    Runner, StreamConfig, StreamEvent, StreamRunner,
};
use crate::session::nrpe::{NrpeEvent, NrpeSession};
use crate::session::snmp::{ManagerConfig, OpId, Request, SnmpEvent, SnmpManager, Target};
use crate::session::tcp::TcpResult;
use crate::session::{StreamSession, StreamState};
use crate::time::{Instant, MonotonicClock};

/// The sessions that share the stream runner.
#[derive(Debug)]
pub(super) enum AnyStream {
    Tcp(QuietTcp),
    Nrpe(NrpeSession),
}

#[derive(Debug)]
pub(super) enum AnyEvent {
    Tcp(TcpResult),
    Nrpe(NrpeEvent),
}

impl StreamSession for AnyStream {
    type Event = AnyEvent;

    fn handle_connected(&mut self, now: Instant) {
        match self {
            AnyStream::Tcp(s) => s.handle_connected(now),
            AnyStream::Nrpe(s) => s.handle_connected(now),
        }
    }

    fn handle_input(&mut self, now: Instant, data: &[u8]) {
        match self {
            AnyStream::Tcp(s) => s.handle_input(now, data),
            AnyStream::Nrpe(s) => s.handle_input(now, data),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        match self {
            AnyStream::Tcp(s) => s.handle_timeout(now),
            AnyStream::Nrpe(s) => s.handle_timeout(now),
        }
    }

    fn poll_transmit(&mut self, out: &mut Vec<u8>) {
        match self {
            AnyStream::Tcp(s) => s.poll_transmit(out),
            AnyStream::Nrpe(s) => s.poll_transmit(out),
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            AnyStream::Tcp(s) => s.poll_timeout(),
            AnyStream::Nrpe(s) => s.poll_timeout(),
        }
    }

    fn poll_event(&mut self) -> Option<AnyEvent> {
        match self {
            AnyStream::Tcp(s) => s.poll_event().map(AnyEvent::Tcp),
            AnyStream::Nrpe(s) => s.poll_event().map(AnyEvent::Nrpe),
        }
    }

    fn state(&self) -> StreamState {
        match self {
            AnyStream::Tcp(s) => s.state(),
            AnyStream::Nrpe(s) => s.state(),
        }
    }
}

/// Everything one connection produced: its session's events, then how it closed
/// with the session handed back.
#[derive(Debug)]
pub(super) struct StreamRun {
    pub(super) events: Vec<AnyEvent>,
    pub(super) closed: Option<(ConnEnd, AnyStream, Instant)>,
}

/// Where a check's outcome goes.
pub(super) type Reply<T> = Sender<Result<T, String>>;

/// Builds a check's session at the moment it gets its connection slot.
pub(super) type MakeSession = Box<dyn FnOnce(Instant) -> Result<AnyStream, String> + Send>;

struct StreamJob {
    to: SocketAddr,
    make: MakeSession,
    done: Reply<StreamRun>,
}

/// The stream runner's task and the way to reach it.
#[derive(Debug)]
pub(super) struct StreamEngine {
    jobs: Sender<StreamJob>,
    backend: Backend,
}

impl StreamEngine {
    /// Allocates a runner of `slots` connections and starts its task.
    pub(super) fn start(
        io: IoChoice,
        slots: usize,
        per_destination: usize,
        clock: MonotonicClock,
    ) -> Result<Self, DriverError> {
        let slots = slots.max(1);
        // Reads take a shared buffer only while data is in flight: a quarter of the
        // slots is plenty for checks that say little.
        let read_buffers = u16::try_from((slots / 4).clamp(4, 4096)).unwrap_or(4096);
        let config = StreamConfig { io, max_connections: slots, read_buffers, ..StreamConfig::default() };
        let runner = StreamRunner::new(&config, clock)?;
        let backend = runner.backend();
        let driver = AsyncDriver::new(runner)?;
        let (jobs, queue) = unbounded();
        smol::spawn(serve_streams(driver, queue, per_destination)).detach();
        Ok(StreamEngine { jobs, backend })
    }

    pub(super) fn backend(&self) -> Backend {
        self.backend
    }

    /// One connection to `to` for the session `make` builds; its whole run.
    pub(super) async fn run(&self, to: SocketAddr, make: MakeSession) -> Result<StreamRun, Declined> {
        let (done, outcome) = bounded(1);
        let job = StreamJob { to, make, done };
        self.jobs.send(job).await.map_err(|_| declined("the stream engine has stopped"))?;
        match outcome.recv().await {
            Ok(Ok(run)) => Ok(run),
            Ok(Err(e)) => Err(declined(e)),
            Err(_) => Err(declined("the stream engine has stopped")),
        }
    }
}

/// What woke an engine's task.
pub(super) enum Wake<J, E> {
    Job(Option<J>),
    Event(Result<Option<E>, DriverError>),
}

/// Waits for a job (while the channel is open) and, while checks are running, for an
/// event of `driver`; `None` when neither can come any more.
pub(super) async fn wake<J, R: Runner>(
    driver: &mut AsyncDriver<R>,
    jobs: &Receiver<J>,
    open: bool,
    busy: bool,
) -> Option<Wake<J, R::Event>> {
    let job = async { Wake::Job(jobs.recv().await.ok()) };
    // `next_event` is cancel-safe: losing the race to a job loses nothing.
    Some(match (open, busy) {
        (true, true) => future::or(job, async { Wake::Event(driver.next_event().await) }).await,
        (true, false) => job.await,
        (false, true) => Wake::Event(driver.next_event().await),
        (false, false) => return None,
    })
}

/// Checks waiting to start, in arrival order, and how many run per destination: a
/// check whose destination already has `per_destination` running waits without
/// holding up checks of other destinations. Servers are not built for bursts
/// (nrpe listens with a backlog of 5 and forks per connection; snmpd drops what its
/// socket buffer cannot hold), and plugins reach them one process start apart.
struct Queue<J> {
    jobs: VecDeque<J>,
    running: HashMap<SocketAddr, usize>,
    per_destination: usize,
}

impl<J> Queue<J> {
    fn new(per_destination: usize) -> Self {
        Queue { jobs: VecDeque::new(), running: HashMap::new(), per_destination: per_destination.max(1) }
    }

    /// Takes the first job whose destination may have one more check, and counts it.
    fn start_next(&mut self, destination: impl Fn(&J) -> SocketAddr) -> Option<J> {
        let running = &self.running;
        let limit = self.per_destination;
        let i = self.jobs.iter().position(|j| running.get(&destination(j)).copied().unwrap_or(0) < limit)?;
        let job = self.jobs.remove(i)?;
        *self.running.entry(destination(&job)).or_default() += 1;
        Some(job)
    }

    fn finished(&mut self, destination: SocketAddr) {
        if let Some(n) = self.running.get_mut(&destination) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.running.remove(&destination);
            }
        }
    }
}

async fn serve_streams(
    mut driver: AsyncDriver<StreamRunner<AnyStream>>,
    jobs: Receiver<StreamJob>,
    per_destination: usize,
) {
    let clock = driver.get_ref().clock();
    let mut waiting: HashMap<ConnId, (SocketAddr, Reply<StreamRun>, Vec<AnyEvent>)> = HashMap::new();
    let mut queue = Queue::new(per_destination);
    let mut open = true;
    loop {
        while driver.get_ref().room() > 0 {
            let Some(job) = queue.start_next(|j: &StreamJob| j.to) else { break };
            // Nobody waits for it any more (the check timed out in the queue).
            if job.done.is_closed() {
                queue.finished(job.to);
                continue;
            }
            let session = match (job.make)(clock.now()) {
                Ok(s) => s,
                Err(e) => {
                    queue.finished(job.to);
                    let _ = job.done.try_send(Err(e));
                    continue;
                }
            };
            // With room there is a slot: `connect` cannot hand the session back.
            if let Ok(conn) = driver.get_mut().connect(job.to, None, session) {
                waiting.insert(conn, (job.to, job.done, Vec::new()));
            }
        }
        let Some(woke) = wake(&mut driver, &jobs, open, !waiting.is_empty()).await else { return };
        match woke {
            Wake::Job(Some(job)) => queue.jobs.push_back(job),
            Wake::Job(None) => open = false,
            Wake::Event(Ok(Some(StreamEvent::Session { conn, event }))) => {
                if let Some((_, _, events)) = waiting.get_mut(&conn) {
                    events.push(event);
                }
            }
            Wake::Event(Ok(Some(StreamEvent::Closed { conn, end, session, at }))) => {
                if let Some((to, done, events)) = waiting.remove(&conn) {
                    queue.finished(to);
                    // The caller may have stopped waiting: nothing to do then.
                    let _ = done.try_send(Ok(StreamRun { events, closed: Some((end, session, at)) }));
                }
            }
            Wake::Event(Ok(None)) => {}
            Wake::Event(Err(e)) => {
                // The runner itself failed: every check in it, and every later one,
                // goes to the plugin.
                for (_, done, _) in waiting.into_values() {
                    let _ = done.try_send(Err(e.to_string()));
                }
                return;
            }
        }
    }
}

struct SnmpJob {
    target: Target,
    request: Request,
    done: Reply<SnmpEvent>,
}

/// One SNMP manager on one UDP socket, and its task.
#[derive(Debug)]
pub(super) struct SnmpEngine {
    jobs: Sender<SnmpJob>,
    backend: Backend,
}

impl SnmpEngine {
    /// A manager on a socket of the family of `v6`, at most `in_flight` requests at
    /// once; `seed` starts its request ids.
    pub(super) fn start(
        io: IoChoice,
        v6: bool,
        in_flight: usize,
        per_destination: usize,
        seed: u64,
        clock: MonotonicClock,
    ) -> Result<Self, DriverError> {
        let in_flight = in_flight.max(1);
        let bind = if v6 {
            SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0))
        } else {
            SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, 0))
        };
        let socket = DatagramSocket::udp(bind)?;
        let manager = SnmpManager::new(ManagerConfig { seed, max_in_flight: in_flight, ..Default::default() });
        let config = DatagramConfig { io, max_datagram: 65_535, recv_buffers: 64, ..DatagramConfig::default() };
        let runner = DatagramRunner::new(socket, manager, &config, clock)?;
        let backend = runner.backend();
        let driver = AsyncDriver::new(runner)?;
        let (jobs, queue) = unbounded();
        smol::spawn(serve_snmp(driver, queue, in_flight, per_destination)).detach();
        Ok(SnmpEngine { jobs, backend })
    }

    pub(super) fn backend(&self) -> Backend {
        self.backend
    }

    /// One request to one agent, to its outcome (a failure to answer is an outcome).
    pub(super) async fn run(&self, target: Target, request: Request) -> Result<SnmpEvent, Declined> {
        let (done, outcome) = bounded(1);
        self.jobs.send(SnmpJob { target, request, done }).await.map_err(|_| declined("the SNMP engine has stopped"))?;
        match outcome.recv().await {
            Ok(Ok(event)) => Ok(event),
            Ok(Err(e)) => Err(declined(e)),
            Err(_) => Err(declined("the SNMP engine has stopped")),
        }
    }
}

async fn serve_snmp(
    mut driver: AsyncDriver<DatagramRunner<SnmpManager>>,
    jobs: Receiver<SnmpJob>,
    in_flight: usize,
    per_destination: usize,
) {
    let clock = driver.get_ref().clock();
    let mut waiting: HashMap<OpId, (SocketAddr, Reply<SnmpEvent>)> = HashMap::new();
    let mut queue = Queue::new(per_destination);
    let mut open = true;
    loop {
        while driver.get_ref().session().in_flight() < in_flight {
            let Some(job) = queue.start_next(|j: &SnmpJob| j.target.addr) else { break };
            let (to, manager) = (job.target.addr, driver.get_mut().session_mut());
            if job.done.is_closed() {
                queue.finished(to);
                continue;
            }
            match manager.start(clock.now(), job.target, job.request) {
                Ok(id) => {
                    waiting.insert(id, (to, job.done));
                }
                Err(e) => {
                    queue.finished(to);
                    let _ = job.done.try_send(Err(e.to_string()));
                }
            }
        }
        let Some(woke) = wake(&mut driver, &jobs, open, !waiting.is_empty()).await else { return };
        match woke {
            Wake::Job(Some(job)) => queue.jobs.push_back(job),
            Wake::Job(None) => open = false,
            Wake::Event(Ok(Some(event))) => {
                if let Some((to, done)) = waiting.remove(&event.id) {
                    queue.finished(to);
                    let _ = done.try_send(Ok(event));
                }
            }
            Wake::Event(Ok(None)) => {}
            Wake::Event(Err(e)) => {
                for (_, done) in waiting.into_values() {
                    let _ = done.try_send(Err(e.to_string()));
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_destination_does_not_hold_up_others() {
        let (a, b): (SocketAddr, SocketAddr) = ("127.0.0.1:1".parse().unwrap(), "127.0.0.1:2".parse().unwrap());
        let mut q = Queue::new(2);
        q.jobs.extend([(1, a), (2, a), (3, a), (4, b), (5, a)]);
        let next = |q: &mut Queue<(u32, SocketAddr)>| q.start_next(|j| j.1).map(|j| j.0);
        assert_eq!([next(&mut q), next(&mut q), next(&mut q), next(&mut q)], [Some(1), Some(2), Some(4), None]);
        q.finished(a);
        assert_eq!(next(&mut q), Some(3), "in arrival order once there is room");
        assert_eq!(next(&mut q), None);
        q.finished(a);
        q.finished(b);
        assert_eq!(next(&mut q), Some(5));
        assert!(q.jobs.is_empty());
    }
}
