//! A plaintext NRPE responder for benchmarks: answers every query with
//! `OK - bench|time=0.001s` (result 0) in the query's packet version (v2, v3 or v4),
//! then closes, without forking anything. The real nrpe forks a child per connection
//! and runs the command through a shell, which at thousands of checks a minute would
//! cost the machine more than the monitoring being measured. Not an NRPE server: no
//! TLS, no commands, no allowed-hosts list; bind it to loopback only.
//!
//! ```text
//! cargo run --release -p bergamot-netprobes --example nrpe_responder -- \
//!     --listen 127.0.0.1:5666 [--mode epoll|threads] [--threads 4] [--stats-every 10]
//! ```
//!
//! Two ways to serve, both on std sockets and the crate's own `wire::nrpe`:
//!
//! - `epoll` (default): one thread, nonblocking sockets, level-triggered epoll
//!   (rustix). A connection is read as soon as it is accepted, because the query has
//!   usually arrived by then; only the rest wait for readiness.
//! - `threads`: a few threads each blocking in `accept` on the same listener, then
//!   reading and answering that connection.
//!
//! Measured with `bergamot-probe nrpe -n -c check_bench --repeat 20000 --concurrency 8`
//! on 2 shared cores, 3 runs each, responder CPU from /proc: epoll 28 µs per query
//! every time, 4 blocking threads 28 to 38 µs (and 6 threads instead of 2). epoll is
//! never dearer, so it is the default; either serves ~15,000 connections a second.
//!
//! With `--stats-every SECS` a line `nrpe_responder: served N failed M` goes to
//! stderr every SECS seconds (cumulative counts), so a benchmark can read how many
//! queries were answered.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bergamot_netprobes::wire::nrpe::{self, PacketType, Repr, Version};
use rustix::buffer::spare_capacity;
use rustix::event::epoll;
use rustix::net::SocketFlags;

/// What every query is answered with.
const ANSWER: &[u8] = b"OK - bench|time=0.001s";
/// Listen backlog: short-lived connections arrive in bursts when a scheduler starts
/// many checks at once; std's default of 128 would drop SYNs.
const BACKLOG: i32 = 4096;
/// Largest query accepted (a check_nrpe query is 1,036 bytes; arguments make it
/// longer, but never near this).
const MAX_QUERY: usize = 16 * 1024;
/// Readiness events fetched per `epoll_wait`.
const EVENTS: usize = 256;
/// The listener's epoll token; connections use their descriptor number.
const LISTENER: u64 = u64::MAX;
/// A blocking connection that says nothing for this long is dropped (threads mode).
const IDLE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Epoll,
    Threads,
}

#[derive(Debug)]
struct Options {
    listen: SocketAddr,
    mode: Mode,
    threads: usize,
    stats_every: Option<u64>,
}

fn usage() -> &'static str {
    "usage: nrpe_responder --listen ADDR:PORT [--mode epoll|threads] [--threads N] [--stats-every SECS]"
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut listen = None;
    let mut mode = Mode::Epoll;
    let mut threads = 4;
    let mut stats_every = None;
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => listen = Some(value()?.parse().map_err(|e| format!("--listen: {e}"))?),
            "--mode" => {
                mode = match value()?.as_str() {
                    "epoll" => Mode::Epoll,
                    "threads" => Mode::Threads,
                    other => return Err(format!("--mode: `{other}` is neither epoll nor threads")),
                }
            }
            "--threads" => threads = value()?.parse().map_err(|e| format!("--threads: {e}"))?,
            "--stats-every" => stats_every = Some(value()?.parse().map_err(|e| format!("--stats-every: {e}"))?),
            "-h" | "--help" => return Err(usage().to_owned()),
            other => return Err(format!("unknown argument `{other}`\n{}", usage())),
        }
    }
    let listen = listen.ok_or_else(|| format!("--listen is required\n{}", usage()))?;
    if threads == 0 {
        return Err("--threads must be at least 1".to_owned());
    }
    Ok(Options { listen, mode, threads, stats_every })
}

/// The three possible answers, encoded once: the reply depends only on the version.
#[derive(Debug)]
struct Replies {
    v2: Vec<u8>,
    v3: Vec<u8>,
    v4: Vec<u8>,
}

impl Replies {
    fn new() -> Result<Replies, nrpe::Error> {
        let make = |version| Repr { version, packet_type: PacketType::Response, result_code: 0, text: ANSWER }.to_vec();
        Ok(Replies { v2: make(Version::V2)?, v3: make(Version::V3)?, v4: make(Version::V4)? })
    }

    fn for_version(&self, v: Version) -> &[u8] {
        match v {
            Version::V2 => &self.v2,
            Version::V3 => &self.v3,
            Version::V4 => &self.v4,
        }
    }
}

/// Cumulative counts, read by the stats thread.
#[derive(Debug, Default)]
struct Stats {
    served: AtomicU64,
    failed: AtomicU64,
}

/// What the bytes received so far on a connection amount to.
enum Query<'r> {
    /// Not a whole packet yet.
    Partial,
    /// A valid query: send this reply.
    Complete(&'r [u8]),
    /// Not an NRPE query (junk, a TLS hello, a bad CRC, a response): close.
    Invalid,
}

fn classify<'r>(rx: &[u8], replies: &'r Replies) -> Query<'r> {
    match nrpe::frame_len(rx, MAX_QUERY) {
        Ok(None) => Query::Partial,
        Ok(Some(n)) if rx.len() < n => Query::Partial,
        Err(_) => Query::Invalid,
        Ok(Some(_)) => match Repr::parse_bytes(rx, MAX_QUERY) {
            Ok(r) if r.packet_type == PacketType::Query => Query::Complete(replies.for_version(r.version)),
            _ => Query::Invalid,
        },
    }
}

fn main() -> ExitCode {
    let opts = match parse_args(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("nrpe_responder: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nrpe_responder: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(opts: &Options) -> std::io::Result<()> {
    // Both live as long as the process: leaked once so connections and threads hold
    // plain `&'static` references instead of reference counts.
    let replies: &'static Replies = Box::leak(Box::new(Replies::new().map_err(std::io::Error::other)?));
    let stats: &'static Stats = Box::leak(Box::default());
    let listener = TcpListener::bind(opts.listen)?;
    // Calling listen again on a listening socket only changes its backlog.
    rustix::net::listen(&listener, BACKLOG)?;
    if let Some(secs) = opts.stats_every {
        std::thread::spawn(move || report_stats(stats, secs.max(1)));
    }
    eprintln!("nrpe_responder: listening on {} ({:?})", listener.local_addr()?, opts.mode);
    match opts.mode {
        Mode::Epoll => serve_epoll(&listener, replies, stats),
        Mode::Threads => serve_threads(&listener, replies, stats, opts.threads),
    }
}

fn report_stats(stats: &Stats, secs: u64) {
    loop {
        std::thread::sleep(Duration::from_secs(secs));
        let (s, f) = (stats.served.load(Ordering::Relaxed), stats.failed.load(Ordering::Relaxed));
        eprintln!("nrpe_responder: served {s} failed {f}");
    }
}

// ------------------------------------------------------------------ epoll, one thread

/// One accepted connection: the query received so far, then the reply being sent.
struct Conn {
    stream: TcpStream,
    rx: Vec<u8>,
    /// The reply and how much of it is written; `None` while reading the query.
    tx: Option<(&'static [u8], usize)>,
}

/// What to do with a connection after a turn.
enum Next {
    /// Waiting for more of the query (readable) or for room to write (writable).
    Wait { writable: bool },
    /// Answered or failed: drop it (closing the descriptor also removes it from epoll).
    Close,
}

fn serve_epoll(listener: &TcpListener, replies: &'static Replies, stats: &Stats) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let ep = epoll::create(epoll::CreateFlags::CLOEXEC)?;
    epoll::add(&ep, listener, epoll::EventData::new_u64(LISTENER), epoll::EventFlags::IN)?;
    // Keyed by descriptor number: numbers are reused only after close, when the old
    // entry is already gone. A map rather than a vector indexed by number keeps the
    // memory proportional to the open connections.
    let mut conns: HashMap<i32, Conn> = HashMap::with_capacity(1024);
    let mut spare: Vec<Vec<u8>> = Vec::new();
    let mut events = Vec::with_capacity(EVENTS);
    loop {
        events.clear();
        match epoll::wait(&ep, spare_capacity(&mut events), None) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        for ev in &events {
            let token = ev.data.u64();
            if token == LISTENER {
                accept_all(listener, &ep, &mut conns, &mut spare, replies, stats)?;
                continue;
            }
            let Ok(fd) = i32::try_from(token) else { continue };
            let Some(conn) = conns.get_mut(&fd) else { continue };
            match step(conn, replies, stats) {
                Next::Wait { writable } => {
                    let flags = if writable { epoll::EventFlags::OUT } else { epoll::EventFlags::IN };
                    epoll::modify(&ep, conn.stream.as_fd(), epoll::EventData::new_u64(token), flags)?;
                }
                Next::Close => {
                    if let Some(c) = conns.remove(&fd) {
                        recycle(c.rx, &mut spare);
                    }
                }
            }
        }
    }
}

/// Accepts until the backlog is empty; each new connection gets one optimistic turn
/// before it is registered.
fn accept_all(
    listener: &TcpListener,
    ep: &OwnedFd,
    conns: &mut HashMap<i32, Conn>,
    spare: &mut Vec<Vec<u8>>,
    replies: &'static Replies,
    stats: &Stats,
) -> std::io::Result<()> {
    loop {
        let fd = match rustix::net::accept_with(listener, SocketFlags::NONBLOCK | SocketFlags::CLOEXEC) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::AGAIN) => return Ok(()),
            Err(rustix::io::Errno::INTR | rustix::io::Errno::CONNABORTED) => continue,
            // Out of descriptors or memory: keep serving the ones we have; the
            // listener stays readable and is retried on the next turn.
            Err(e) => {
                eprintln!("nrpe_responder: accept: {e}");
                stats.failed.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
        };
        let stream = TcpStream::from(fd);
        let mut conn = Conn { stream, rx: spare.pop().unwrap_or_default(), tx: None };
        match step(&mut conn, replies, stats) {
            Next::Close => recycle(conn.rx, spare),
            Next::Wait { writable } => {
                let raw = conn.stream.as_raw_fd();
                let flags = if writable { epoll::EventFlags::OUT } else { epoll::EventFlags::IN };
                // A descriptor number is never negative, so it never collides with
                // LISTENER (u64::MAX) once widened.
                let token = u64::from(raw.unsigned_abs());
                epoll::add(ep, conn.stream.as_fd(), epoll::EventData::new_u64(token), flags)?;
                conns.insert(raw, conn);
            }
        }
    }
}

fn recycle(mut rx: Vec<u8>, spare: &mut Vec<Vec<u8>>) {
    // Keep a bounded pool of query buffers so steady state allocates nothing.
    if spare.len() < 1024 && rx.capacity() <= 2 * nrpe::V2_PACKET_LEN {
        rx.clear();
        spare.push(rx);
    }
}

/// Reads what has arrived and writes what can be written, without blocking.
fn step(conn: &mut Conn, replies: &'static Replies, stats: &Stats) -> Next {
    if conn.tx.is_none() {
        let mut buf = [0u8; 2048];
        loop {
            match conn.stream.read(&mut buf) {
                Ok(0) => return fail(stats),
                Ok(n) => {
                    conn.rx.extend_from_slice(&buf[..n]);
                    match classify(&conn.rx, replies) {
                        Query::Partial => continue,
                        Query::Invalid => return fail(stats),
                        Query::Complete(reply) => {
                            conn.tx = Some((reply, 0));
                            break;
                        }
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Next::Wait { writable: false },
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return fail(stats),
            }
        }
    }
    let Some((reply, mut off)) = conn.tx else { return fail(stats) };
    while off < reply.len() {
        match conn.stream.write(&reply[off..]) {
            Ok(0) => return fail(stats),
            Ok(n) => off += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                conn.tx = Some((reply, off));
                return Next::Wait { writable: true };
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return fail(stats),
        }
    }
    stats.served.fetch_add(1, Ordering::Relaxed);
    Next::Close
}

fn fail(stats: &Stats) -> Next {
    stats.failed.fetch_add(1, Ordering::Relaxed);
    Next::Close
}

// ------------------------------------------------------------------ blocking threads

fn serve_threads(
    listener: &TcpListener,
    replies: &'static Replies,
    stats: &'static Stats,
    n: usize,
) -> std::io::Result<()> {
    let mut handles = Vec::with_capacity(n);
    for _ in 0..n {
        // Each thread blocks in accept(2) on its own descriptor of the same socket;
        // the kernel wakes one of them per connection.
        let listener = listener.try_clone()?;
        handles.push(std::thread::spawn(move || accept_loop(&listener, replies, stats)));
    }
    for h in handles {
        // accept_loop never returns; join only keeps the process alive.
        let _ = h.join();
    }
    Ok(())
}

fn accept_loop(listener: &TcpListener, replies: &Replies, stats: &Stats) {
    let mut rx = Vec::with_capacity(nrpe::V2_PACKET_LEN);
    loop {
        let mut stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) if e.kind() == ErrorKind::Interrupted || e.kind() == ErrorKind::ConnectionAborted => continue,
            Err(e) => {
                eprintln!("nrpe_responder: accept: {e}");
                stats.failed.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        rx.clear();
        let ok = answer_blocking(&mut stream, &mut rx, replies);
        let counter = if ok { &stats.served } else { &stats.failed };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

fn answer_blocking(stream: &mut TcpStream, rx: &mut Vec<u8>, replies: &Replies) -> bool {
    if stream.set_read_timeout(Some(IDLE)).is_err() {
        return false;
    }
    let mut buf = [0u8; 2048];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => rx.extend_from_slice(&buf[..n]),
        }
        match classify(rx, replies) {
            Query::Partial => {}
            Query::Invalid => return false,
            Query::Complete(reply) => return stream.write_all(reply).is_ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(version: Version) -> Vec<u8> {
        Repr { version, packet_type: PacketType::Query, result_code: 0, text: b"check_bench" }.to_vec().unwrap()
    }

    #[test]
    fn answers_each_version_in_kind() {
        let replies = Replies::new().unwrap();
        for v in [Version::V2, Version::V3, Version::V4] {
            let q = query(v);
            let Query::Complete(reply) = classify(&q, &replies) else { panic!("{v:?} query not complete") };
            let r = Repr::parse_bytes(reply, MAX_QUERY).unwrap();
            assert_eq!((r.version, r.packet_type, r.result_code, r.text), (v, PacketType::Response, 0, ANSWER));
            assert!(matches!(classify(&q[..q.len() - 1], &replies), Query::Partial));
        }
    }

    #[test]
    fn refuses_what_is_not_a_query() {
        let replies = Replies::new().unwrap();
        let tls_hello = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01];
        assert!(matches!(classify(&tls_hello, &replies), Query::Invalid));
        let mut bad_crc = query(Version::V2);
        bad_crc[20] ^= 1;
        assert!(matches!(classify(&bad_crc, &replies), Query::Invalid));
        assert!(matches!(classify(&replies.v4, &replies), Query::Invalid));
    }

    #[test]
    fn flags() {
        let args = |s: &str| parse_args(s.split_whitespace().map(String::from));
        let o = args("--listen 127.0.0.1:5666 --mode threads --threads 2 --stats-every 5").unwrap();
        assert_eq!((o.listen.port(), o.mode, o.threads, o.stats_every), (5666, Mode::Threads, 2, Some(5)));
        assert!(args("--mode epoll").is_err());
        assert!(args("--listen 127.0.0.1:1 --mode fork").is_err());
    }
}
