//! The driver against real sockets on loopback and in a network namespace the test
//! makes: UDP echo, TCP connect/talk/refuse/time out, many connections through few
//! slots, smol integration; every case on io_uring and on epoll, forced.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bergamot_netprobes::driver::{
    AsyncDriver, Backend, ConnEnd, DatagramConfig, DatagramKind, DatagramRunner, DatagramSocket, IoChoice, Runner,
    StreamConfig, StreamEvent, StreamRunner,
};
use bergamot_netprobes::session::{DatagramSession, StreamSession, StreamState, Transmit};
use bergamot_netprobes::time::{Instant, MonotonicClock};

const BOTH: [(IoChoice, Backend); 2] = [(IoChoice::IoUring, Backend::IoUring), (IoChoice::Epoll, Backend::Epoll)];

// ----------------------------------------------------------------------------- UDP

/// Sends `n` numbered datagrams (a window of 16 at a time), expects each back.
struct Echo {
    to: SocketAddr,
    next: u32,
    n: u32,
    outstanding: Vec<u32>,
    deadline: Option<Instant>,
    back: VecDeque<u32>,
    lost: usize,
}

impl Echo {
    fn new(to: SocketAddr, n: u32, now: Instant) -> Self {
        Echo {
            to,
            next: 0,
            n,
            outstanding: Vec::new(),
            deadline: Some(now + Duration::from_secs(10)),
            back: VecDeque::new(),
            lost: 0,
        }
    }
}

impl DatagramSession for Echo {
    type Event = u32;
    fn handle_datagram(&mut self, _now: Instant, from: SocketAddr, payload: &[u8]) {
        let Ok(b) = <[u8; 4]>::try_from(payload) else { return };
        let id = u32::from_be_bytes(b);
        if let Some(i) = self.outstanding.iter().position(|&x| x == id).filter(|_| from == self.to) {
            self.outstanding.swap_remove(i);
            self.back.push_back(id);
        }
        if self.outstanding.is_empty() && self.next == self.n {
            self.deadline = None;
        }
    }
    fn handle_timeout(&mut self, _now: Instant) {
        self.lost += self.outstanding.len() + (self.n - self.next) as usize;
        self.outstanding.clear();
        self.next = self.n;
        self.deadline = None;
    }
    fn poll_transmit(&mut self, _now: Instant) -> Option<Transmit> {
        if self.next == self.n || self.outstanding.len() >= 16 {
            return None;
        }
        let id = self.next;
        self.next += 1;
        self.outstanding.push(id);
        Some(Transmit { destination: self.to, payload: id.to_be_bytes().to_vec() })
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }
    fn poll_event(&mut self) -> Option<u32> {
        self.back.pop_front()
    }
}

/// A UDP echo peer on a thread (test scaffolding); answers `n` datagrams.
fn udp_echo_peer(bind: &str, n: usize) -> (SocketAddr, std::thread::JoinHandle<()>) {
    let s = UdpSocket::bind(bind).unwrap();
    let addr = s.local_addr().unwrap();
    let h = std::thread::spawn(move || {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut buf = [0u8; 2048];
        for _ in 0..n {
            let Ok((len, from)) = s.recv_from(&mut buf) else { return };
            let _ = s.send_to(&buf[..len], from);
        }
    });
    (addr, h)
}

#[test]
fn udp_echo_on_both_backends_v4_and_v6() {
    for (io, backend) in BOTH {
        for bind in ["127.0.0.1:0", "[::1]:0"] {
            let (peer, h) = udp_echo_peer(bind, 500);
            let clock = MonotonicClock::new();
            let sock = DatagramSocket::udp(bind.parse().unwrap()).unwrap();
            let cfg = DatagramConfig { io, ..Default::default() };
            let mut r = DatagramRunner::new(sock, Echo::new(peer, 500, clock.now()), &cfg, clock).unwrap();
            assert_eq!(r.backend(), backend);
            assert_eq!(r.socket_kind(), DatagramKind::Udp);
            let mut got = Vec::new();
            assert!(r.run_until_idle(None, |id| got.push(id)).unwrap());
            got.sort();
            assert_eq!(got, (0..500).collect::<Vec<_>>(), "{backend} {bind}");
            assert_eq!(r.session().lost, 0);
            let st = r.stats();
            assert_eq!((st.sent, st.received, st.truncated), (500, 500, 0), "{st:?}");
            h.join().unwrap();
        }
    }
}

#[test]
fn udp_echo_awaited_on_smol() {
    for (io, backend) in BOTH {
        let (peer, h) = udp_echo_peer("127.0.0.1:0", 200);
        let clock = MonotonicClock::new();
        let sock = DatagramSocket::udp("127.0.0.1:0".parse().unwrap()).unwrap();
        let cfg = DatagramConfig { io, ..Default::default() };
        let r = DatagramRunner::new(sock, Echo::new(peer, 200, clock.now()), &cfg, clock).unwrap();
        let mut d = AsyncDriver::new(r).unwrap();
        let got = smol::block_on(async {
            let mut got = Vec::new();
            d.run_until_idle(|id| got.push(id)).await.unwrap();
            got
        });
        assert_eq!(got.len(), 200, "{backend}");
        assert_eq!(d.get_ref().backend(), backend);
        h.join().unwrap();
    }
}

#[test]
fn unanswered_datagrams_end_in_the_sessions_timeout() {
    // A bound socket that never answers: the session's deadline ends the run.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    for (io, _) in BOTH {
        let clock = MonotonicClock::new();
        let sock = DatagramSocket::udp("127.0.0.1:0".parse().unwrap()).unwrap();
        let mut echo = Echo::new(silent.local_addr().unwrap(), 3, clock.now());
        echo.deadline = Some(clock.now() + Duration::from_millis(200));
        let mut r = DatagramRunner::new(sock, echo, &DatagramConfig { io, ..Default::default() }, clock).unwrap();
        assert!(r.run_until_idle(None, |_| panic!("no reply expected")).unwrap());
        assert_eq!(r.session().lost, 3);
    }
}

#[test]
fn a_deadline_stops_the_loop_before_the_session_is_done() {
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let clock = MonotonicClock::new();
    let sock = DatagramSocket::udp("127.0.0.1:0".parse().unwrap()).unwrap();
    let echo = Echo::new(silent.local_addr().unwrap(), 1, clock.now());
    let mut r = DatagramRunner::new(sock, echo, &DatagramConfig::default(), clock).unwrap();
    let idle = r.run_until_idle(Some(clock.now() + Duration::from_millis(50)), |_| {}).unwrap();
    assert!(!idle);
    assert_eq!(r.session().lost, 0, "the session was not timed out, only the loop stopped");
}

#[test]
fn icmp_socket_is_raw_for_root_or_explains_the_fix() {
    match DatagramSocket::icmp(false) {
        Ok(s) => assert!(matches!(s.kind(), DatagramKind::IcmpRaw | DatagramKind::IcmpDgram)),
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains("CAP_NET_RAW") && msg.contains("ping_group_range"), "{msg}");
        }
    }
}

#[test]
fn icmp_without_privileges_names_the_three_fixes() {
    if !rustix::process::geteuid().is_root() {
        // Already unprivileged: the plain call above covers this process's case.
        return;
    }
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range").unwrap_or_default();
    let allowed = {
        let v: Vec<u32> = range.split_whitespace().filter_map(|x| x.parse().ok()).collect();
        v.len() == 2 && v[0] <= 65534 && 65534 <= v[1]
    };
    // A thread of its own becomes nobody:nogroup (credentials are per thread on Linux,
    // so the rest of the test process keeps root); root's capabilities go with it.
    let got = std::thread::spawn(|| {
        use rustix::process::{Gid, Uid};
        rustix::thread::set_thread_res_gid(Gid::from_raw(65534), Gid::from_raw(65534), Gid::from_raw(65534)).unwrap();
        rustix::thread::set_thread_res_uid(Uid::from_raw(65534), Uid::from_raw(65534), Uid::from_raw(65534)).unwrap();
        DatagramSocket::icmp(false).map(|s| s.kind()).map_err(|e| e.to_string())
    })
    .join()
    .unwrap();
    match got {
        Ok(kind) => assert!(allowed && kind == DatagramKind::IcmpDgram, "{kind:?} with range {range:?}"),
        Err(msg) => {
            assert!(!allowed, "{msg}");
            for fix in ["run as root", "setcap cap_net_raw+ep", "sysctl -w net.ipv4.ping_group_range"] {
                assert!(msg.contains(fix), "{msg}");
            }
            assert!(msg.contains(range.split_whitespace().collect::<Vec<_>>().join(" ").as_str()), "{msg}");
        }
    }
}

// ----------------------------------------------------------------------------- TCP

#[derive(Debug, Clone, PartialEq, Eq)]
enum Said {
    Connected,
    Reply(Vec<u8>),
    TimedOut,
}

/// Sends `request` once connected, then waits for `want` bytes (or, with
/// `until_eof`, for the peer to close) and closes.
#[derive(Debug)]
struct Talk {
    request: Vec<u8>,
    want: usize,
    until_eof: bool,
    half_close: bool,
    connected: bool,
    sent: bool,
    got: Vec<u8>,
    state: StreamState,
    deadline: Option<Instant>,
    said: VecDeque<Said>,
}

impl Talk {
    fn new(request: &[u8], want: usize, now: Instant) -> Self {
        Talk {
            request: request.to_vec(),
            want,
            until_eof: false,
            half_close: false,
            connected: false,
            sent: false,
            got: Vec::new(),
            state: StreamState::Open,
            deadline: Some(now + Duration::from_secs(10)),
            said: VecDeque::new(),
        }
    }
}

impl StreamSession for Talk {
    type Event = Said;
    fn handle_connected(&mut self, _now: Instant) {
        self.connected = true;
        self.said.push_back(Said::Connected);
    }
    fn handle_input(&mut self, _now: Instant, data: &[u8]) {
        self.got.extend_from_slice(data);
        let done = if self.until_eof { data.is_empty() } else { self.got.len() >= self.want };
        if done {
            self.said.push_back(Said::Reply(std::mem::take(&mut self.got)));
            self.state = StreamState::Close;
            self.deadline = None;
        }
    }
    fn handle_timeout(&mut self, _now: Instant) {
        self.said.push_back(Said::TimedOut);
        self.state = StreamState::Close;
        self.deadline = None;
    }
    fn poll_transmit(&mut self, out: &mut Vec<u8>) {
        if self.connected && !self.sent {
            out.extend_from_slice(&self.request);
            self.sent = true;
            if self.half_close {
                self.state = StreamState::CloseWrite;
            }
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }
    fn poll_event(&mut self) -> Option<Said> {
        self.said.pop_front()
    }
    fn state(&self) -> StreamState {
        self.state
    }
}

/// A TCP peer on `workers` threads (test scaffolding): per connection, reads until
/// it has `read` bytes (or end of file when `read` is 0), answers with `reply(req)`,
/// closes. Serves `total` connections.
fn tcp_peer(
    bind: &str,
    workers: usize,
    total: u32,
    read: usize,
    reply: fn(&[u8]) -> Vec<u8>,
) -> (SocketAddr, Vec<std::thread::JoinHandle<()>>) {
    let l = TcpListener::bind(bind).unwrap();
    let addr = l.local_addr().unwrap();
    let served = std::sync::Arc::new(AtomicU32::new(0));
    let hs = (0..workers)
        .map(|_| {
            let l = l.try_clone().unwrap();
            let served = served.clone();
            std::thread::spawn(move || {
                while served.fetch_add(1, Ordering::SeqCst) < total {
                    let Ok((mut c, _)) = l.accept() else { return };
                    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                    let mut req = Vec::new();
                    let mut buf = [0u8; 4096];
                    while read == 0 || req.len() < read {
                        match c.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => req.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = c.write_all(&reply(&req));
                }
            })
        })
        .collect();
    (addr, hs)
}

fn stream_runner(io: IoChoice, max: usize, clock: MonotonicClock) -> StreamRunner<Talk> {
    StreamRunner::new(&StreamConfig { io, max_connections: max, ..Default::default() }, clock).unwrap()
}

/// Runs to idle; returns (session events, closes) in arrival order.
fn drain(r: &mut StreamRunner<Talk>) -> (Vec<Said>, Vec<(ConnEnd, Talk)>) {
    let (mut said, mut closed) = (Vec::new(), Vec::new());
    r.run_until_idle(None, |e| match e {
        StreamEvent::Session { event, .. } => said.push(event),
        StreamEvent::Closed { end, session, .. } => closed.push((end, session)),
    })
    .unwrap();
    (said, closed)
}

#[test]
fn tcp_request_and_reply_on_both_backends_v4_and_v6() {
    for (io, backend) in BOTH {
        for bind in ["127.0.0.1:0", "[::1]:0"] {
            let (peer, hs) = tcp_peer(bind, 1, 1, 5, |req| [b"re:", req].concat());
            let clock = MonotonicClock::new();
            let mut r = stream_runner(io, 4, clock);
            assert_eq!(r.backend(), backend);
            r.connect(peer, Some(Duration::from_secs(5)), Talk::new(b"hello", 8, clock.now())).unwrap();
            let (said, closed) = drain(&mut r);
            assert_eq!(said, vec![Said::Connected, Said::Reply(b"re:hello".to_vec())], "{backend} {bind}");
            assert_eq!(closed.len(), 1);
            assert_eq!(closed[0].0, ConnEnd::Done);
            let st = r.stats();
            assert_eq!((st.connected, st.bytes_out, st.bytes_in), (1, 5, 8), "{st:?}");
            hs.into_iter().for_each(|h| h.join().unwrap());
        }
    }
}

#[test]
fn half_close_lets_the_peer_read_to_end_of_file() {
    for (io, backend) in BOTH {
        // The peer reads until end of file: it answers only after our shutdown(WR).
        let (peer, hs) = tcp_peer("127.0.0.1:0", 1, 1, 0, |req| req.to_ascii_uppercase());
        let clock = MonotonicClock::new();
        let mut r = stream_runner(io, 4, clock);
        let mut t = Talk::new(b"quit", 0, clock.now());
        t.half_close = true;
        t.until_eof = true;
        r.connect(peer, None, t).unwrap();
        let (said, closed) = drain(&mut r);
        assert_eq!(said, vec![Said::Connected, Said::Reply(b"QUIT".to_vec())], "{backend}");
        assert_eq!(closed[0].0, ConnEnd::Done);
        hs.into_iter().for_each(|h| h.join().unwrap());
    }
}

#[test]
fn peer_closing_first_ends_with_peer_closed() {
    for (io, backend) in BOTH {
        let (peer, hs) = tcp_peer("127.0.0.1:0", 1, 1, 1, |_| b"bye".to_vec());
        let clock = MonotonicClock::new();
        let mut r = stream_runner(io, 4, clock);
        // Wants 100 bytes, gets 3 and the end of file; does not close by itself.
        r.connect(peer, None, Talk::new(b"x", 100, clock.now())).unwrap();
        let (said, closed) = drain(&mut r);
        assert_eq!(said, vec![Said::Connected], "{backend}");
        assert_eq!(closed[0].0, ConnEnd::PeerClosed, "{backend}");
        assert_eq!(closed[0].1.got, b"bye");
        hs.into_iter().for_each(|h| h.join().unwrap());
    }
}

#[test]
fn connection_refused_is_a_result() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    for (io, backend) in BOTH {
        let clock = MonotonicClock::new();
        let mut r = stream_runner(io, 4, clock);
        r.connect(SocketAddr::from(([127, 0, 0, 1], port)), None, Talk::new(b"x", 1, clock.now())).unwrap();
        let (said, closed) = drain(&mut r);
        assert!(said.is_empty(), "{said:?}");
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].0, ConnEnd::ConnectFailed(rustix::io::Errno::CONNREFUSED), "{backend}");
        assert_eq!(closed[0].0.to_string(), "Connection refused");
        assert_eq!(r.stats().connect_failed, 1);
    }
}

#[test]
fn the_sessions_own_timeout_closes_a_silent_connection() {
    // The peer accepts and never answers.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = l.local_addr().unwrap();
    for (io, backend) in BOTH {
        let clock = MonotonicClock::new();
        let mut r = stream_runner(io, 4, clock);
        let mut t = Talk::new(b"x", 1, clock.now());
        t.deadline = Some(clock.now() + Duration::from_millis(100));
        r.connect(peer, None, t).unwrap();
        let (said, closed) = drain(&mut r);
        assert_eq!(said, vec![Said::Connected, Said::TimedOut], "{backend}");
        assert_eq!(closed[0].0, ConnEnd::Done);
    }
    drop(l);
}

#[test]
fn many_connections_through_few_slots() {
    const N: u32 = 3000;
    for (io, backend) in BOTH {
        let (peer, hs) = tcp_peer("127.0.0.1:0", 4, N, 4, |req| req.to_vec());
        let clock = MonotonicClock::new();
        // Fewer slots than the listener's backlog, so no SYN is dropped.
        let mut r = stream_runner(io, 64, clock);
        let (mut started, mut replies, mut done) = (0u32, 0u32, 0u32);
        loop {
            while started < N && r.room() > 0 {
                let t = Talk::new(&started.to_be_bytes(), 4, clock.now());
                r.connect(peer, Some(Duration::from_secs(10)), t).map_err(|_| ()).unwrap();
                started += 1;
            }
            assert!(r.active() <= 64);
            r.process().unwrap();
            while let Some(e) = r.poll_event() {
                match e {
                    StreamEvent::Session { event: Said::Reply(b), .. } => {
                        assert_eq!(b.len(), 4);
                        replies += 1;
                    }
                    StreamEvent::Session { .. } => {}
                    StreamEvent::Closed { end, .. } => {
                        assert_eq!(end, ConnEnd::Done, "{backend}");
                        done += 1;
                    }
                }
            }
            if done == N {
                break;
            }
            if started < N && r.room() > 0 {
                continue;
            }
            let until = r.poll_timeout();
            r.wait(until).unwrap();
        }
        assert_eq!(replies, N, "{backend}");
        assert!(r.is_idle());
        hs.into_iter().for_each(|h| h.join().unwrap());
    }
}

#[test]
fn tcp_awaited_on_smol() {
    for (io, backend) in BOTH {
        let (peer, hs) = tcp_peer("127.0.0.1:0", 2, 20, 2, |req| req.to_vec());
        let clock = MonotonicClock::new();
        let mut r = stream_runner(io, 32, clock);
        for i in 0..20u16 {
            r.connect(peer, None, Talk::new(&i.to_be_bytes(), 2, clock.now())).map_err(|_| ()).unwrap();
        }
        let mut d = AsyncDriver::new(r).unwrap();
        let replies = smol::block_on(async {
            let mut n = 0;
            while let Some(e) = d.next_event().await.unwrap() {
                if let StreamEvent::Session { event: Said::Reply(_), .. } = e {
                    n += 1;
                }
            }
            n
        });
        assert_eq!(replies, 20, "{backend}");
        hs.into_iter().for_each(|h| h.join().unwrap());
    }
}

// ------------------------------------------------------------- connect timeout

/// A network namespace made for one test, with only its loopback up and an
/// nftables rule dropping TCP SYNs to one port: a connect there never completes.
/// Deleted on drop.
struct BlackholeNs {
    name: String,
}

impl BlackholeNs {
    fn new(port: u16) -> Option<Self> {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!("bgdrv-{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst));
        let ok = |args: &[&str]| Command::new(args[0]).args(&args[1..]).status().is_ok_and(|s| s.success());
        if !ok(&["ip", "netns", "add", &name]) {
            return None;
        }
        let ns = BlackholeNs { name };
        let exec = |cmd: &str| {
            let mut args = vec!["ip", "netns", "exec", ns.name.as_str()];
            args.extend(cmd.split(' '));
            ok(&args)
        };
        let rule = format!("nft add rule inet bh in tcp dport {port} drop");
        let all = exec("ip link set lo up")
            && exec("nft add table inet bh")
            && exec("nft add chain inet bh in { type filter hook input priority 0 ; }")
            && exec(&rule);
        all.then_some(ns)
    }

    /// Moves the calling thread into the namespace (sockets it opens live there).
    fn enter(&self) {
        let f = std::fs::File::open(format!("/var/run/netns/{}", self.name)).unwrap();
        rustix::thread::move_into_link_name_space(
            std::os::fd::AsFd::as_fd(&f),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .unwrap();
    }
}

impl Drop for BlackholeNs {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

/// A listener whose accept queue is full (backlog 0, one connection queued and never
/// accepted): further SYNs are dropped. The fallback when namespaces are not allowed.
fn full_backlog_listener() -> (SocketAddr, Vec<Box<dyn std::any::Any>>) {
    use rustix::net::{AddressFamily, SocketType, bind, listen, socket};
    let l = socket(AddressFamily::INET, SocketType::STREAM, None).unwrap();
    bind(&l, &SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    listen(&l, 0).unwrap();
    let addr = SocketAddr::try_from(rustix::net::getsockname(&l).unwrap()).unwrap();
    let mut keep: Vec<Box<dyn std::any::Any>> = vec![Box::new(l)];
    for _ in 0..2 {
        if let Ok(c) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            keep.push(Box::new(c));
        }
    }
    (addr, keep)
}

#[test]
fn connect_timeout_to_a_blackhole() {
    const PORT: u16 = 9;
    let ns = BlackholeNs::new(PORT);
    let ns = ns.as_ref();
    for (io, backend) in BOTH {
        let end = std::thread::scope(|s| {
            s.spawn(|| {
                let (target, _keep) = match ns {
                    Some(ns) => {
                        ns.enter();
                        (SocketAddr::from(([127, 0, 0, 1], PORT)), Vec::new())
                    }
                    None => full_backlog_listener(),
                };
                let clock = MonotonicClock::new();
                let mut r = stream_runner(io, 4, clock);
                r.connect(target, Some(Duration::from_millis(300)), Talk::new(b"x", 1, clock.now())).unwrap();
                let (said, closed) = drain(&mut r);
                assert!(said.is_empty(), "{said:?}");
                assert_eq!(r.stats().connect_timeouts, 1);
                closed.into_iter().map(|(e, _)| e).collect::<Vec<_>>()
            })
            .join()
            .unwrap()
        });
        assert_eq!(end, vec![ConnEnd::ConnectTimedOut], "{backend}");
    }
}

// ------------------------------------------------ bergamot-probe tcp vs check_tcp

const CHECK_TCP: &str = "/usr/lib/nagios/plugins/check_tcp";
const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/tcp");

/// Installs monitoring-plugins (check_tcp) if missing; openssl comes with the system.
fn ensure_check_tcp() {
    if std::path::Path::new(CHECK_TCP).exists() {
        return;
    }
    let apt = |args: &[&str]| {
        Command::new("apt-get").args(args).env("DEBIAN_FRONTEND", "noninteractive").status().is_ok_and(|s| s.success())
    };
    if !apt(&["install", "-y", "monitoring-plugins-basic"]) {
        assert!(apt(&["update"]), "apt-get update failed");
        assert!(apt(&["install", "-y", "monitoring-plugins-basic"]), "cannot install monitoring-plugins-basic");
    }
}

/// A peer process, killed by PID on drop.
struct Peer(std::process::Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts `cmd` and waits until it accepts connections on `port`.
fn start_peer(cmd: &mut Command, port: u16) -> Peer {
    let peer = Peer(cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap());
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return peer;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("peer {cmd:?} did not start listening on {port}");
}

/// (first line of output with timings masked, exit code)
fn run_check(program: &str, args: &[&str], env: &[(&str, &str)]) -> (String, i32) {
    let mut cmd = Command::new(program);
    if program.ends_with("bergamot-probe") {
        cmd.arg("tcp");
    }
    let out = cmd.args(args).envs(env.iter().copied()).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next().unwrap_or_default().to_owned();
    (mask_times(&line), out.status.code().unwrap_or(-1))
}

/// `0.001 second` → `T second`, `time=0.000489s` → `time=Ts`.
fn mask_times(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find(|c: char| c.is_ascii_digit()) {
        let (head, tail) = rest.split_at(i);
        let end = tail.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(tail.len());
        let num = &tail[..end];
        let after = &tail[end..];
        out.push_str(head);
        let masked = (head.ends_with("- ") && after.starts_with(" second"))
            || (head.ends_with("time=") && after.starts_with('s'));
        out.push_str(if masked { "T" } else { num });
        rest = after;
    }
    out.push_str(rest);
    out
}

fn probe() -> &'static str {
    env!("CARGO_BIN_EXE_bergamot-probe")
}

#[test]
fn bergamot_probe_tcp_matches_check_tcp_on_a_real_http_server() {
    ensure_check_tcp();
    let port = free_port();
    let dir = tempdir();
    std::fs::write(format!("{dir}/index.html"), "hello").unwrap();
    let _http = start_peer(
        Command::new("python3").args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--directory",
            &dir,
        ]),
        port,
    );
    let p = port.to_string();
    let closed = free_port().to_string();
    let cases: Vec<Vec<&str>> = vec![
        vec!["-H", "127.0.0.1", "-p", &p],
        vec!["-H", "localhost", "-p", &p, "-4"],
        vec!["-H", "127.0.0.1", "-p", &p, "-w", "5", "-c", "9"],
        vec!["-H", "127.0.0.1", "-p", &closed],
        vec!["-H", "127.0.0.1", "-p", &closed, "-r", "warn"],
        vec!["-H", "127.0.0.1", "-p", &p, "-E", "-s", "GET / HTTP/1.0\\r\\n\\r\\n", "-e", "XYZ", "-j"],
        vec!["-H", "127.0.0.1", "-p", &p, "-E", "-s", "GET / HTTP/1.0\\r\\n\\r\\n", "-e", "XYZ", "-M", "crit", "-j"],
    ];
    for args in &cases {
        let theirs = run_check(CHECK_TCP, args, &[]);
        for io in ["io-uring", "epoll"] {
            let ours = run_check(probe(), &[&args[..], &["--io", io]].concat(), &[]);
            assert_eq!(ours, theirs, "{args:?} on {io}");
        }
    }
    // check_tcp shows more of the response than its first line; the rest agrees.
    let args = ["-H", "127.0.0.1", "-p", &p, "-E", "-s", "GET / HTTP/1.0\\r\\n\\r\\n", "-e", "HTTP/1.0 200"];
    let (ours, code) = run_check(probe(), &args, &[]);
    let (theirs, their_code) = run_check(CHECK_TCP, &args, &[]);
    assert_eq!(code, their_code);
    assert!(
        ours.starts_with(&format!(
            "TCP OK - T second response time on 127.0.0.1 port {p} [HTTP/1.0 200 OK]|time=Ts;;;"
        )),
        "{ours}"
    );
    assert!(
        theirs.starts_with(&format!("TCP OK - T second response time on 127.0.0.1 port {p} [HTTP/1.0 200 OK")),
        "{theirs}"
    );
}

#[test]
fn bergamot_probe_tcp_times_out_like_check_tcp() {
    ensure_check_tcp();
    // Accepts (in the kernel) and never says anything.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let p = silent.local_addr().unwrap().port().to_string();
    let args = ["-H", "127.0.0.1", "-p", &p, "-e", "220", "-t", "1"];
    let theirs = run_check(CHECK_TCP, &args, &[]);
    assert_eq!(theirs, ("CRITICAL - Socket timeout after 1 seconds".to_owned(), 2));
    assert_eq!(run_check(probe(), &args, &[]), theirs);
    assert_eq!(run_check(probe(), &args, &[("BERGAMOT_IO", "epoll")]), theirs);
}

#[test]
fn bergamot_probe_tcp_connect_timeout_in_a_blackhole_namespace() {
    ensure_check_tcp();
    let Some(ns) = BlackholeNs::new(9) else {
        // No namespaces here: the full-backlog listener stands in.
        let (addr, _keep) = full_backlog_listener();
        let p = addr.port().to_string();
        let (out, code) = run_check(probe(), &["-H", "127.0.0.1", "-p", &p, "-t", "1"], &[]);
        assert_eq!((out.as_str(), code), ("CRITICAL - Socket timeout after 1 seconds", 2));
        return;
    };
    let in_ns = |program: &str| {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &ns.name, program]);
        if program.ends_with("bergamot-probe") {
            cmd.arg("tcp");
        }
        let out = cmd.args(["-H", "127.0.0.1", "-p", "9", "-t", "1"]).output().unwrap();
        (String::from_utf8_lossy(&out.stdout).trim().to_owned(), out.status.code())
    };
    let theirs = in_ns(CHECK_TCP);
    assert_eq!(theirs, ("CRITICAL - Socket timeout after 1 seconds".to_owned(), Some(2)));
    assert_eq!(in_ns(probe()), theirs);
}

#[test]
fn bergamot_probe_tcp_tls_against_openssl_s_server() {
    ensure_check_tcp();
    let port = free_port();
    let _tls = start_peer(
        Command::new("openssl").args([
            "s_server",
            "-accept",
            &format!("127.0.0.1:{port}"),
            "-cert",
            &format!("{TESTDATA}/ec-30days.pem"),
            "-key",
            &format!("{TESTDATA}/ec-30days.key"),
            "-www",
            "-quiet",
        ]),
        port,
    );
    let p = port.to_string();
    let base = ["-H", "127.0.0.1", "-p", &p, "-S"];
    // The test certificate is self-signed: refused by the webpki roots...
    let (out, code) = run_check(probe(), &base, &[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.starts_with("TCP CRITICAL - Cannot make SSL connection: invalid peer certificate"), "{out}");
    // ...and accepted with -k; its expiry is reported in days, in the window the
    // captured certificate was made for (30 days, minus the time since capture).
    let certificate = bergamot_netprobes::session::tcp::parse_certificate(
        &std::fs::read(format!("{TESTDATA}/ec-30days.der")).unwrap(),
    )
    .unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let days = (certificate.not_after - now).div_euclid(86_400);
    for io in ["io-uring", "epoll"] {
        let (out, code) = run_check(probe(), &[&base[..], &["-k", "--io", io]].concat(), &[]);
        if days >= 0 {
            assert_eq!(code, 0, "{out}");
            assert!(out.contains(&format!("certificate 'bergamot.test' expires in {days} day(s)")), "{out}");
        } else {
            assert_eq!(code, 2, "{out}");
            assert!(out.contains("Certificate 'bergamot.test' expired on"), "{out}");
        }
    }
    // Day thresholds: check_tcp and we agree on the state.
    for d in ["400", "400,300", "1", "1,0"] {
        let args = [&base[..], &["-D", d]].concat();
        let (_, theirs) = run_check(CHECK_TCP, &args, &[]);
        let (ours, code) = run_check(probe(), &[&args[..], &["-k"]].concat(), &[]);
        assert_eq!(code, theirs, "-D {d}: {ours}");
    }
    // Send and expect through TLS: s_server -www answers GET with its status page.
    let args = [&base[..], &["-k", "-E", "-s", "GET / HTTP/1.0\\r\\n\\r\\n", "-e", "HTTP/1.0 200 ok"]].concat();
    let (out, code) = run_check(probe(), &args, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("[HTTP/1.0 200 ok]"), "{out}");
}

#[test]
fn bergamot_probe_tcp_reports_its_backend_and_honours_bergamot_io() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let p = l.local_addr().unwrap().port().to_string();
    for (env, flag, want) in [
        (Some("epoll"), None, "I/O backend epoll"),
        (Some("epoll"), Some("io-uring"), "I/O backend io_uring"),
        (None, Some("epoll"), "I/O backend epoll"),
        (None, None, if uring_works() { "I/O backend io_uring" } else { "I/O backend epoll" }),
    ] {
        let mut cmd = Command::new(probe());
        cmd.args(["tcp", "-H", "127.0.0.1", "-p", &p, "-v"]);
        cmd.env_remove("BERGAMOT_IO");
        if let Some(e) = env {
            cmd.env("BERGAMOT_IO", e);
        }
        if let Some(f) = flag {
            cmd.args(["--io", f]);
        }
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{env:?} {flag:?}: {err}");
        assert_eq!(out.status.code(), Some(0));
    }
    let out =
        Command::new(probe()).args(["tcp", "-H", "127.0.0.1", "-p", &p]).env("BERGAMOT_IO", "kqueue").output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stdout).contains("BERGAMOT_IO"));
}

/// Whether this kernel lets us use io_uring (auto must then pick it).
fn uring_works() -> bool {
    StreamRunner::<Talk>::new(&StreamConfig { io: IoChoice::IoUring, ..Default::default() }, MonotonicClock::new())
        .is_ok()
}

fn tempdir() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!("bgdrv-{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst)));
    std::fs::create_dir_all(&d).unwrap();
    d.to_string_lossy().into_owned()
}

#[test]
fn masking_only_touches_timings() {
    assert_eq!(
        mask_times(
            "TCP OK - 0.001 second response time on 127.0.0.1 port 22|time=0.000489s;1.000000;;0.000000;10.000000"
        ),
        "TCP OK - T second response time on 127.0.0.1 port 22|time=Ts;1.000000;;0.000000;10.000000"
    );
}
