//! ICMP echo against the real thing: the kernel's echo responder on loopback (every
//! 127/8 address and ::1 answer), a Linux router and a lossy nftables filter in
//! network namespaces made here, and fping/check_ping as the references for output.
//! Needs root (raw sockets, `ip netns`); installs fping, monitoring-plugins-basic and
//! nftables with apt-get when missing. Traffic never leaves loopback and the
//! namespaces; assertions are about counts and text, never about time.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bergamot_netprobes::driver::{
    Backend, DatagramConfig, DatagramKind, DatagramRunner, DatagramSocket, IoChoice, Runner,
};
use bergamot_netprobes::session::ping::{PingConfig, PingEvent, PingSession, TargetStats};
use bergamot_netprobes::time::MonotonicClock;
use bergamot_netprobes::wire::icmp::Version;

mod common;
use common::ensure;

const PROBE: &str = env!("CARGO_BIN_EXE_bergamot-probe");
const CHECK_PING: &str = "/usr/lib/nagios/plugins/check_ping";

fn tools() {
    ensure(
        &["fping", "monitoring-plugins-basic", "nftables", "iproute2"],
        &["/usr/bin/fping", CHECK_PING, "/usr/sbin/nft", "/usr/sbin/ip"],
    );
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

fn sh(cmd: &str) {
    let out = run(Command::new("sh").args(["-c", cmd]));
    assert!(out.status.success(), "{cmd}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Pings `targets` with the library over the driver and returns the results.
fn ping_lib(io: IoChoice, version: Version, targets: &[IpAddr], config: PingConfig) -> (Backend, Vec<TargetStats>) {
    let socket = DatagramSocket::icmp(version == Version::V6).expect("ICMP socket (run as root)");
    assert_eq!(socket.kind(), DatagramKind::IcmpRaw, "root gets a raw socket");
    let clock = MonotonicClock::new();
    let session = PingSession::new(config, version, targets.iter().copied(), clock.now()).unwrap();
    let dconf = DatagramConfig { io, ..DatagramConfig::default() };
    let mut runner = DatagramRunner::new(socket, session, &dconf, clock).unwrap();
    let mut done = 0;
    let mut unexpected = Vec::new();
    let idle = runner
        .run_until_idle(None, |e| match e {
            PingEvent::Done { .. } => done += 1,
            PingEvent::Reply { .. } => {}
            other => unexpected.push(other),
        })
        .unwrap();
    assert!(idle);
    assert_eq!(done, targets.len());
    assert!(unexpected.is_empty(), "{unexpected:?}");
    let backend = runner.backend();
    let stats = runner.into_session().results().map(|(_, s)| *s).collect();
    (backend, stats)
}

/// Distinct echo identifiers and cookies for the sessions of this process (tests run
/// in parallel threads and every raw socket sees every reply).
fn session_config(count: u32) -> PingConfig {
    static N: AtomicU32 = AtomicU32::new(1);
    let n = N.fetch_add(1, Ordering::Relaxed);
    PingConfig {
        count,
        interval: Duration::from_millis(5),
        pacing: Duration::ZERO,
        timeout: Duration::from_secs(2),
        ident: (std::process::id() as u16) ^ (n as u16).rotate_left(8),
        cookie: std::process::id().rotate_left(16) ^ n,
        ..PingConfig::default()
    }
}

#[test]
fn thousands_of_loopback_targets_answer_on_both_backends() {
    let v4: Vec<IpAddr> = (0..2000u32).map(|i| IpAddr::V4(Ipv4Addr::from(0x7f00_0000 + (7 << 16) + i + 1))).collect();
    for io in [IoChoice::IoUring, IoChoice::Epoll] {
        let (backend, stats) = ping_lib(io, Version::V4, &v4, session_config(2));
        assert_eq!(backend, if io == IoChoice::Epoll { Backend::Epoll } else { Backend::IoUring });
        for (addr, st) in v4.iter().zip(&stats) {
            assert_eq!((st.sent, st.received, st.loss_percent(), st.duplicates), (2, 2, 0, 0), "{addr} on {io}");
            assert!(st.min() <= st.avg() && st.avg() <= st.max());
        }
        let lo6 = [IpAddr::V6(Ipv6Addr::LOCALHOST)];
        let (_, stats) = ping_lib(io, Version::V6, &lo6, session_config(5));
        assert_eq!((stats[0].sent, stats[0].received, stats[0].errors), (5, 5, 0), "::1 on {io}");
        assert!(stats[0].jitter().is_some());
    }
}

/// `name : xmt/rcv/%loss = 2/2/0%, min/avg/max = 0.031/0.040/0.049` with the
/// numbers after `min/avg/max` replaced by `N`, so two runs compare.
fn mask_times(line: &str) -> String {
    match line.split_once("min/avg/max = ") {
        Some((head, times)) => {
            let n = times.split('/').count();
            format!("{head}min/avg/max = {}", vec!["N"; n].join("/"))
        }
        None => line.to_owned(),
    }
}

/// `line` with every decimal number (a time, a timestamp) replaced by `N`.
fn mask_decimals(line: &str) -> String {
    line.split(' ')
        .map(|w| {
            let n = w.trim_matches(|c| "[]()".contains(c));
            if n.parse::<f64>().is_ok() && !n.contains(':') && n.matches('.').count() == 1 { "N" } else { w }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn cli_output_matches_fping() {
    tools();
    let targets = ["127.0.0.1", "127.0.9.200", "::1", "127.0.0.2"];
    let fping = run(Command::new("fping").args(["-q", "-c", "3", "-p", "20"]).args(targets));
    let ours = run(Command::new(PROBE).args(["ping", "-q", "-c", "3", "-p", "20"]).args(targets));
    assert_eq!(fping.status.code(), Some(0));
    assert_eq!(ours.status.code(), Some(0), "{}", String::from_utf8_lossy(&ours.stderr));
    assert!(ours.stdout.is_empty() && fping.stdout.is_empty(), "summaries go to stderr in both");
    let lines = |o: &Output| String::from_utf8_lossy(&o.stderr).lines().map(mask_times).collect::<Vec<_>>();
    assert_eq!(lines(&ours), lines(&fping));
    assert_eq!(lines(&ours)[2], "::1         : xmt/rcv/%loss = 3/3/0%, min/avg/max = N/N/N");
    // The times themselves: three decimals below a millisecond, as fping prints.
    let raw = String::from_utf8_lossy(&ours.stderr).to_string();
    let t = raw.lines().next().unwrap().rsplit(" = ").next().unwrap().split('/').next().unwrap().to_owned();
    assert!(t.starts_with("0.") && t.len() == 5, "{raw}");

    // Per-reply lines in count mode (stdout) and the alive/unreachable mode.
    let ours = run(Command::new(PROBE).args(["ping", "-c", "2", "-p", "20", "127.0.0.1"]));
    let out = String::from_utf8_lossy(&ours.stdout);
    let first = out.lines().next().unwrap_or_default();
    assert!(first.starts_with("127.0.0.1 : [0], 64 bytes, ") && first.ends_with(" avg, 0% loss)"), "{out}");
    let ours = run(Command::new(PROBE).args(["ping", "127.0.0.1", "::1"]));
    let fping = run(Command::new("fping").args(["127.0.0.1", "::1"]));
    let sorted = |o: &Output| {
        let mut v: Vec<String> = String::from_utf8_lossy(&o.stdout).lines().map(str::to_owned).collect();
        v.sort();
        v
    };
    assert_eq!(sorted(&ours), sorted(&fping));

    // -a, -u and -g as fping: names only, ranges and prefixes (network and broadcast
    // left out below /31), and the same exit status for each, errors included.
    for args in [
        &["-a", "127.0.0.1", "::1"][..],
        &["-u", "127.0.0.1"],
        &["-a", "-u", "127.0.0.1"],
        &["-g", "127.0.0.0/30"],
        &["-a", "-g", "127.0.0.1", "127.0.0.3"],
        &["-g", "127.0.0.0/31"],
        &["-g", "127.0.0.5/32"],
        &["-g", "127.0.0.0/33"],
        &["-g", "127.0.0.9", "127.0.0.1"],
        &["-a", "-q", "127.0.0.1"],
        &["-a", "-c", "2", "-p", "20", "127.0.0.1"],
    ] {
        let ours = run(Command::new(PROBE).arg("ping").args(args));
        let fping = run(Command::new("fping").args(args));
        assert_eq!(sorted(&ours), sorted(&fping), "{args:?}");
        assert_eq!(ours.status.code(), fping.status.code(), "{args:?}");
    }

    // -C: per-packet lines as -c, then each target's times on stderr, in order.
    let times = |o: &Output| -> Vec<String> {
        let shape = |t: &str| -> Vec<String> {
            t.split(' ').map(|x| if x.parse::<f64>().is_ok() { "N".to_owned() } else { x.to_owned() }).collect()
        };
        String::from_utf8_lossy(&o.stderr)
            .lines()
            .map(|l| l.split_once(" : ").map_or(l.to_owned(), |(n, t)| format!("{n} : {}", shape(t).join(" "))))
            .collect()
    };
    for args in
        [&["-C", "3", "-p", "20", "127.0.0.1", "::1"][..], &["-q", "-C", "2", "-p", "20", "127.0.0.1", "127.0.0.2"]]
    {
        let ours = run(Command::new(PROBE).arg("ping").args(args));
        let fping = run(Command::new("fping").args(args));
        assert_eq!(times(&ours), times(&fping), "{args:?}");
        assert_eq!(ours.stdout.is_empty(), fping.stdout.is_empty(), "{args:?}");
        assert_eq!((ours.status.code(), fping.status.code()), (Some(0), Some(0)), "{args:?}");
    }
    assert_eq!(times(&run(Command::new(PROBE).args(["ping", "-q", "-C", "2", "-p", "20", "::1"]))), ["::1 : N N"]);

    // -e (the reply's time), -A (addresses, not names) and -D (a Unix timestamp
    // before each per-packet line), times masked.
    let shape = |o: &Output| -> Vec<String> {
        let mut v: Vec<String> = String::from_utf8_lossy(&o.stdout).lines().map(mask_decimals).collect();
        v.sort();
        v
    };
    for args in [
        &["-e", "127.0.0.1", "::1"][..],
        &["-a", "-e", "127.0.0.2"],
        &["-A", "localhost"],
        &["-A", "-a", "-e", "localhost"],
        &["-D", "-c", "2", "-p", "20", "127.0.0.1"],
    ] {
        let ours = run(Command::new(PROBE).arg("ping").args(args));
        let fping = run(Command::new("fping").args(args));
        assert_eq!(shape(&ours), shape(&fping), "{args:?}");
        assert_eq!(ours.status.code(), fping.status.code(), "{args:?}");
    }
    let ours = run(Command::new(PROBE).args(["ping", "-D", "-c", "1", "127.0.0.1"]));
    let out = String::from_utf8_lossy(&ours.stdout);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    let stamp: f64 = out.trim_start_matches('[').split(']').next().unwrap().parse().unwrap();
    assert!((now - stamp).abs() < 60.0, "a Unix time: {out}");

    // -s: the totals block, times and elapsed time aside.
    for args in [&["-s", "127.0.0.1", "::1"][..], &["-q", "-s", "-c", "3", "-p", "20", "127.0.0.1"]] {
        let ours = run(Command::new(PROBE).arg("ping").args(args));
        let fping = run(Command::new("fping").args(args));
        assert_eq!(totals(&ours), totals(&fping), "{args:?}");
        assert!(totals(&ours).iter().any(|l| l == "       2 targets" || l == "       1 targets"), "{args:?}");
    }
}

/// stderr with `-s`'s times and the summaries' times replaced by `T`.
fn totals(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stderr)
        .lines()
        .map(|l| match l.trim_start().split_once(' ') {
            Some((n, rest)) if n.contains('.') && (rest.starts_with("ms (") || rest.starts_with("sec (")) => {
                format!("T {rest}")
            }
            _ => mask_times(l),
        })
        .collect()
}

#[test]
fn check_mode_matches_check_ping() {
    tools();
    let mask = |s: &str| {
        // `RTA = 0.05 ms|rta=0.050000ms;…`: the two RTA numbers differ run to run.
        let mut out = String::new();
        for (i, part) in s.split("RTA = ").enumerate() {
            if i == 0 {
                out.push_str(part);
                continue;
            }
            let rest = part.split_once(" ms|rta=").map(|(_, r)| r.split_once("ms;").map_or("", |x| x.1));
            out.push_str(&format!("RTA = N ms|rta=Nms;{}", rest.unwrap_or(part)));
        }
        out
    };
    for host in ["127.0.0.1", "::1"] {
        let theirs = run(Command::new(CHECK_PING).args(["-H", host, "-w", "100.0,20%", "-c", "500.0,60%", "-p", "2"]));
        let ours = run(Command::new(PROBE)
            .args(["ping", "--check", "-H", host, "-w", "100.0,20%", "-c", "500.0,60%"])
            .args(["-p", "2", "-i", "20"]));
        let (t, o) = (String::from_utf8_lossy(&theirs.stdout), String::from_utf8_lossy(&ours.stdout));
        assert_eq!((ours.status.code(), mask(o.trim())), (theirs.status.code(), mask(t.trim())), "{host}");
        assert!(o.starts_with("PING OK - Packet loss = 0%, RTA = "), "{o}");
    }
    // A threshold below any loopback RTA trips, with the same exit code as theirs.
    let theirs = run(Command::new(CHECK_PING).args(["-H", "127.0.0.1", "-w", "0.001,20%", "-c", "500,60%", "-p", "1"]));
    let ours = run(Command::new(PROBE).args([
        "ping",
        "--check",
        "-H",
        "127.0.0.1",
        "-w",
        "0.001,20%",
        "-c",
        "500,60%",
        "-p",
        "1",
    ]));
    assert_eq!((ours.status.code(), theirs.status.code()), (Some(1), Some(1)));
    // Bad thresholds: UNKNOWN, with check_ping's message.
    let ours = run(Command::new(PROBE).args(["ping", "--check", "-H", "127.0.0.1", "-w", "100,20%", "-c", "50,60%"]));
    assert_eq!(ours.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&ours.stdout)
            .starts_with("<wrta> (100.000000) cannot be larger than <crta> (50.000000)")
    );
}

/// Two network namespaces joined by a veth pair: `a` (the pinger: 10.200.0.1,
/// fd00:200::1, default routes via b) and `b` (10.200.0.2 and .3, fd00:200::2), a
/// router for 10.201/16 and fd00:201::/32 (whose packets [`LOSSY`] refuses with ICMP
/// errors), with ICMP rate limits off so every refusal is answered, and the nftables
/// `rules`. (An "unreachable" route would not do: its errors are rate-limited by the
/// host-wide `net.ipv4.route.error_cost`, which a namespace cannot change.)
/// Addresses are private to the pair, so parallel tests reuse them; only the names
/// are unique. Deleted on drop.
struct Netns {
    a: String,
    b: String,
}

impl Netns {
    fn new(rules: &str) -> Netns {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let tag = format!("{}n{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
        let ns = Netns { a: format!("bgping-a{tag}"), b: format!("bgping-b{tag}") };
        let (a, b) = (&ns.a, &ns.b);
        sh(&format!(
            "set -e; ip netns add {a}; ip netns add {b}; \
             ip link add va netns {a} type veth peer name vb netns {b}; \
             ip -n {a} link set lo up; ip -n {b} link set lo up; ip -n {a} link set va up; ip -n {b} link set vb up; \
             ip -n {a} addr add 10.200.0.1/24 dev va; ip -n {b} addr add 10.200.0.2/24 dev vb; \
             ip -n {b} addr add 10.200.0.3/24 dev vb; \
             ip -n {a} -6 addr add fd00:200::1/64 dev va nodad; ip -n {b} -6 addr add fd00:200::2/64 dev vb nodad; \
             ip -n {a} route add default via 10.200.0.2; ip -n {a} -6 route add default via fd00:200::2; \
             ip netns exec {b} sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
               net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0; \
             ip -n {b} route add 10.201.0.0/16 via 10.200.0.1; ip -n {b} -6 route add fd00:201::/32 via fd00:200::1"
        ));
        let mut nft = Command::new("ip")
            .args(["netns", "exec", b, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nft");
        nft.stdin.take().expect("piped").write_all(rules.as_bytes()).expect("nft stdin");
        let out = nft.wait_with_output().expect("nft");
        assert!(out.status.success(), "nft: {}", String::from_utf8_lossy(&out.stderr));
        ns
    }

    /// Runs `cmd args` inside `a`.
    fn exec(&self, cmd: &str, args: &[&str]) -> Output {
        run(Command::new("ip").args(["netns", "exec", &self.a, cmd]).args(args))
    }

    fn probe(&self, args: &[&str]) -> Output {
        run(Command::new("ip").args(["netns", "exec", &self.a, PROBE, "ping"]).args(args))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// b drops 30% of echo requests at random and everything for 10.200.0.3, and
/// refuses to route 10.201/16 and fd00:201::/32 with ICMP errors.
const LOSSY: &str = "table inet t {
  chain in {
    type filter hook input priority 0; policy accept;
    ip daddr 10.200.0.3 drop
    icmp type echo-request numgen random mod 100 < 30 drop
    icmpv6 type echo-request numgen random mod 100 < 30 drop
  }
  chain routed {
    type filter hook forward priority 0; policy accept;
    ip daddr 10.201.0.0/16 reject with icmp type host-unreachable
    ip6 daddr fd00:201::/32 reject with icmpv6 type addr-unreachable
  }
}
";

/// `(sent, received, loss)` from an fping summary line.
fn xmt_rcv_loss(line: &str) -> (u32, u32, u32) {
    let f = line.split("xmt/rcv/%loss = ").nth(1).unwrap_or_else(|| panic!("no summary in {line:?}"));
    let f = f.split(',').next().unwrap().trim_end_matches('%');
    let v: Vec<u32> = f.split('/').map(|x| x.parse().unwrap()).collect();
    (v[0], v[1], v[2])
}

#[test]
fn random_loss_in_a_namespace_is_measured() {
    tools();
    let ns = Netns::new(LOSSY);
    // 400 packets per target at p = 0.3: the standard deviation of the loss is
    // 2.3 points, so 15..45 % fails by chance about once in 10^10 runs.
    let args = ["-q", "-c", "400", "-p", "2", "-i", "0", "-t", "500", "10.200.0.2", "fd00:200::2"];
    for (who, out) in [("ours", ns.probe(&args)), ("fping", ns.exec("fping", &args))] {
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = err.lines().filter(|l| l.contains("xmt/rcv")).collect();
        assert_eq!(lines.len(), 2, "{who}: {err}");
        for l in lines {
            let (sent, received, loss) = xmt_rcv_loss(l);
            assert_eq!(sent, 400, "{who}: {l}");
            assert!((15..=45).contains(&loss), "{who}: loss {loss}% in {l}");
            assert_eq!(loss, (sent - received) * 100 / sent, "{who}: {l}");
        }
        assert_eq!(out.status.code(), Some(0), "{who}: every target answered some");
    }
    // check mode: 100 packets, ~30 % loss between the 10 % warning and 60 % critical.
    let out = ns.probe(&["--check", "-H", "10.200.0.2", "-w", "100,10%", "-c", "500,60%", "-p", "100", "-i", "2"]);
    let line = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{line}");
    let pl: u32 = line.split("Packet loss = ").nth(1).and_then(|r| r.split('%').next()).unwrap().parse().unwrap();
    assert!((10..60).contains(&pl) && line.starts_with("PING WARNING - "), "{line}");
}

#[test]
fn blackholed_target_is_total_loss_and_critical() {
    tools();
    let ns = Netns::new(LOSSY);
    let args = ["-q", "-c", "3", "-p", "10", "-t", "200", "10.200.0.3"];
    let ours = ns.probe(&args);
    let fping = ns.exec("fping", &args);
    assert_eq!(String::from_utf8_lossy(&ours.stderr), String::from_utf8_lossy(&fping.stderr));
    assert_eq!(String::from_utf8_lossy(&ours.stderr), "10.200.0.3 : xmt/rcv/%loss = 3/0/100%\n");
    assert_eq!((ours.status.code(), fping.status.code()), (Some(1), Some(1)));
    // -s with no reply at all: zero times, as fping prints them.
    let args = ["-q", "-s", "-c", "2", "-p", "10", "-t", "200", "10.200.0.3"];
    let (ours, fping) = (ns.probe(&args), ns.exec("fping", &args));
    assert_eq!(totals(&ours), totals(&fping));
    let min = String::from_utf8_lossy(&ours.stderr).lines().find(|l| l.contains("min round trip")).map(str::to_owned);
    let theirs =
        String::from_utf8_lossy(&fping.stderr).lines().find(|l| l.contains("min round trip")).map(str::to_owned);
    assert_eq!(min, theirs, "no reply: the same zero");
    // -C lists a lost packet as `-`.
    let args = ["-q", "-C", "2", "-p", "10", "-t", "200", "10.200.0.3"];
    let (ours, fping) = (ns.probe(&args), ns.exec("fping", &args));
    assert_eq!(String::from_utf8_lossy(&fping.stderr), "10.200.0.3 : - -\n");
    assert_eq!(String::from_utf8_lossy(&ours.stderr), "10.200.0.3 : - -\n");
    assert_eq!((ours.status.code(), fping.status.code()), (Some(1), Some(1)));
    // -u names only the target that did not answer, -a only the one that did.
    for (flag, want) in [("-u", "10.200.0.3\n"), ("-a", "127.0.0.1\n")] {
        let args = [flag, "-t", "200", "10.200.0.3", "127.0.0.1"];
        let (ours, fping) = (ns.probe(&args), ns.exec("fping", &args));
        assert_eq!(String::from_utf8_lossy(&fping.stdout), want);
        assert_eq!(String::from_utf8_lossy(&ours.stdout), want, "{}", String::from_utf8_lossy(&ours.stderr));
        assert_eq!((ours.status.code(), fping.status.code()), (Some(1), Some(1)));
    }

    let check = ["-H", "10.200.0.3", "-w", "100.0,20%", "-c", "500.0,60%", "-p", "2", "-t", "2"];
    let theirs = ns.exec(CHECK_PING, &check);
    let ours = ns.probe(&[&["--check", "-i", "100"][..], &check[..]].concat());
    let want = "PING CRITICAL - Packet loss = 100%| rta=U;100.000000;500.000000;; pl=100%;20;60;0;\n";
    assert_eq!(String::from_utf8_lossy(&theirs.stdout), want);
    assert_eq!(String::from_utf8_lossy(&ours.stdout), want);
    assert_eq!((ours.status.code(), theirs.status.code()), (Some(2), Some(2)));
}

#[test]
fn router_errors_are_reported_like_fping_on_both_backends() {
    tools();
    let ns = Netns::new(LOSSY);
    let line = "ICMP Host Unreachable from 10.200.0.2 for ICMP Echo sent to 10.201.0.5";
    let fping = ns.exec("fping", &["-c", "2", "-p", "10", "-t", "300", "10.201.0.5"]);
    let err = String::from_utf8_lossy(&fping.stderr);
    assert_eq!(err.lines().filter(|l| *l == line).count(), 2, "fping: {err}");
    for io in ["io-uring", "epoll"] {
        let ours = ns.probe(&["--io", io, "-c", "2", "-p", "10", "-t", "300", "10.201.0.5"]);
        let err = String::from_utf8_lossy(&ours.stderr);
        assert_eq!(err.lines().filter(|l| *l == line).count(), 2, "{io}: {err}");
        assert!(err.ends_with("10.201.0.5 : xmt/rcv/%loss = 2/0/100%\n"), "{io}: {err}");
        assert_eq!(ours.status.code(), Some(1));
        // An error settles its packet at once: no "timed out" line follows.
        assert!(!String::from_utf8_lossy(&ours.stdout).contains("timed out"), "{io}");
    }
    // ICMPv6: the same, with a v6 router.
    let line6 = "ICMPv6 Address Unreachable from fd00:200::2 for ICMP Echo sent to fd00:201::5";
    let ours = ns.probe(&["-c", "2", "-p", "10", "-t", "300", "fd00:201::5"]);
    let err = String::from_utf8_lossy(&ours.stderr);
    assert_eq!(err.lines().filter(|l| *l == line6).count(), 2, "{err}");
    // (fping 5.1 prints nothing for ICMPv6 errors; the wording is RFC 4443's.)
}

/// b drops the first two of every three echo requests to 10.200.0.2 (a counter, not
/// chance: each run gets a fresh namespace).
const TWO_OF_THREE: &str = "table inet t {
  chain in {
    type filter hook input priority 0; policy accept;
    ip daddr 10.200.0.2 icmp type echo-request numgen inc mod 3 != 2 drop
  }
}
";

#[test]
fn default_mode_retries_with_backoff_like_fping() {
    tools();
    // (flags, stdout, exit code): three tries find the target alive, two do not.
    let cases: [(&[&str], &str, i32); 3] = [
        (&["-s", "-t", "100"], "10.200.0.2 is alive\n", 0),
        (&["-s", "-t", "100", "-r", "1"], "10.200.0.2 is unreachable\n", 1),
        (&["-s", "-t", "100", "-r", "2", "-B", "1.0"], "10.200.0.2 is alive\n", 0),
    ];
    for (flags, want, code) in cases {
        let args = [flags, &["10.200.0.2"][..]].concat();
        let fping = Netns::new(TWO_OF_THREE).exec("fping", &args);
        let ours = Netns::new(TWO_OF_THREE).probe(&args);
        for (who, o) in [("fping", &fping), ("ours", &ours)] {
            assert_eq!(
                String::from_utf8_lossy(&o.stdout),
                want,
                "{who} {flags:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            assert_eq!(o.status.code(), Some(code), "{who} {flags:?}");
        }
        // The same totals: timeouts, echoes sent (retries included), replies.
        assert_eq!(totals(&ours), totals(&fping), "{flags:?}");
    }
    // Count mode never retries: 3 packets, 2 of them lost, as fping.
    let args = ["-q", "-c", "3", "-p", "20", "-t", "100", "10.200.0.2"];
    let (ours, fping) = (Netns::new(TWO_OF_THREE).probe(&args), Netns::new(TWO_OF_THREE).exec("fping", &args));
    let summary = |o: &Output| mask_times(String::from_utf8_lossy(&o.stderr).trim_end());
    assert_eq!(summary(&fping), "10.200.0.2 : xmt/rcv/%loss = 3/1/66%, min/avg/max = N/N/N");
    assert_eq!(summary(&ours), summary(&fping));
    // fping's wording for a backoff out of range.
    let bad = run(Command::new(PROBE).args(["ping", "-B", "6", "127.0.0.1"]));
    assert_eq!(
        String::from_utf8_lossy(&bad.stderr),
        "fping: backoff factor 6.0 not valid, must be between 1.0 and 5.0\n"
    );
    assert_eq!(bad.status.code(), Some(1));
}

/// Runs `cmd` with stdout piped, sends SIGINT once `lines` lines came out, and
/// returns everything it printed and its status (fping goes through `stdbuf -oL`, or
/// its piped stdout would wait in stdio's buffer).
fn interrupt_after_lines(cmd: &mut Command, lines: usize) -> Output {
    use std::io::{BufRead, BufReader, Read};
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    let mut out = BufReader::new(child.stdout.take().expect("piped"));
    let mut seen = String::new();
    for _ in 0..lines {
        assert!(out.read_line(&mut seen).expect("read") > 0, "ended early: {seen}");
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().expect("kill").success());
    out.read_to_string(&mut seen).expect("read");
    let mut err = String::new();
    child.stderr.take().expect("piped").read_to_string(&mut err).expect("read");
    let status = child.wait().expect("wait");
    Output { status, stdout: seen.into_bytes(), stderr: err.into_bytes() }
}

#[test]
fn ctrl_c_ends_loop_and_default_mode_with_what_was_measured_like_fping() {
    tools();
    // -l: per-packet lines until Ctrl-C, then the summaries of the packets settled.
    let args = ["-l", "-p", "50", "127.0.0.1", "::1"];
    let ours = interrupt_after_lines(Command::new(PROBE).arg("ping").args(args), 6);
    let fping = interrupt_after_lines(Command::new("stdbuf").args(["-oL", "fping"]).args(args), 6);
    // (The two families run apart in ours: compare one target's first line.)
    let first = |o: &Output| {
        let out = String::from_utf8_lossy(&o.stdout).to_string();
        out.lines().find(|l| l.starts_with("127.0.0.1 : [0]")).map(mask_decimals).unwrap_or(out)
    };
    assert_eq!(first(&ours), first(&fping));
    assert_eq!(first(&ours), "127.0.0.1 : [0], 64 bytes, N ms N avg, 0% loss)");
    for (who, o) in [("ours", &ours), ("fping", &fping)] {
        let err = String::from_utf8_lossy(&o.stderr);
        let sums: Vec<&str> = err.lines().filter(|l| l.contains("xmt/rcv")).collect();
        assert_eq!(sums.len(), 2, "{who}: {err}");
        for l in sums {
            let (sent, received, loss) = xmt_rcv_loss(l);
            assert!(sent >= 3 && received == sent && loss == 0, "{who}: {l}");
        }
        assert_eq!(o.status.code(), Some(0), "{who}");
    }

    // Default mode: the target still waiting for its answer is reported unreachable.
    let ns = Netns::new(LOSSY);
    let args = ["-t", "5000", "-r", "0", "127.0.0.1", "10.200.0.3"];
    let ip = |cmd: &[&str]| {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &ns.a]).args(cmd).args(args);
        c
    };
    let ours = interrupt_after_lines(&mut ip(&[PROBE, "ping"]), 1);
    let fping = interrupt_after_lines(&mut ip(&["stdbuf", "-oL", "fping"]), 1);
    for (who, o) in [("ours", &ours), ("fping", &fping)] {
        assert_eq!(String::from_utf8_lossy(&o.stdout), "127.0.0.1 is alive\n10.200.0.3 is unreachable\n", "{who}");
        assert_eq!(o.status.code(), Some(1), "{who}");
    }
}
