//! `bergamot-probe ping`: ICMP echo with fping's flags and output (`-c -q -i -p -t -r
//! -B -b -f -a -u -g -C -s -e -A -D -l`; summaries `name : xmt/rcv/%loss = …` on
//! stderr; Ctrl-C prints what was measured; fping's exit codes), or with `--check`,
//! check_ping's flags (`-H -w -c -p -t`), output and plugin exit codes.
//! The probing itself is the library's `PingSession` on the driver; this file only
//! reads flags, resolves names and prints.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, Write};
use std::net::{IpAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use bergamot_netprobes::driver::{
    DatagramConfig, DatagramKind, DatagramRunner, DatagramSocket, DriverError, IoChoice, Runner,
};
use bergamot_netprobes::session::ping::{CheckPing, PingConfig, PingEvent, PingSession, TargetStats};
use bergamot_netprobes::time::{Instant, MonotonicClock};
use bergamot_netprobes::wire::icmp::Version;

use super::interrupt::Interrupt;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "fping mode: bergamot-probe ping [-q] [-a|-u] [-s] [-e] [-A] [-D] [-c N|-C N|-l] [-i MS] [-p MS] [-t MS] [-r N] [-B F] [-f FILE | -g RANGE] TARGET...\n\
check mode: bergamot-probe ping --check -H HOST -w RTA,PL% -c RTA,PL% [-p PACKETS] [-t SECONDS]"
)]
pub struct Args {
    /// Targets (addresses or names).
    targets: Vec<String>,
    /// Read targets from FILE, one per line (`-`: standard input; `#` starts a comment).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<String>,
    /// fping: packets per target (count mode). --check: critical threshold RTA,PL%.
    #[arg(short = 'c', value_name = "N|RTA,PL%")]
    count: Option<String>,
    /// Count mode with each target's round-trip times listed at the end, `-` for a
    /// lost packet (fping -C).
    #[arg(short = 'C', long = "vcount", value_name = "N", conflicts_with = "count")]
    vcount: Option<String>,
    /// Loop: ping every -p ms until Ctrl-C, then print the summaries (fping -l).
    #[arg(short = 'l', long = "loop", conflicts_with_all = ["count", "vcount"])]
    loop_: bool,
    /// Only the final summary (fping -q).
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
    /// Print only the targets that answered, by name (fping -a).
    #[arg(short = 'a', long = "alive")]
    alive: bool,
    /// Print only the targets that did not answer, by name (fping -u).
    #[arg(short = 'u', long = "unreach")]
    unreach: bool,
    /// Print totals at the end: targets, packets, round-trip times, elapsed time
    /// (fping -s).
    #[arg(short = 's', long = "stats")]
    stats: bool,
    /// With "is alive" (or -a), the round-trip time of the reply (fping -e).
    #[arg(short = 'e', long = "elapsed")]
    elapsed: bool,
    /// Show targets by address rather than by the name given (fping -A).
    #[arg(short = 'A', long = "addr")]
    by_addr: bool,
    /// A Unix timestamp before each per-packet line (fping -D).
    #[arg(short = 'D', long = "timestamp")]
    timestamp: bool,
    /// Targets are a range: `START END` (inclusive) or one `ADDRESS/PREFIX`, IPv4
    /// (fping -g).
    #[arg(short = 'g', long = "generate")]
    generate: bool,
    /// fping: milliseconds between any two packets (default 10). --check: between the
    /// packets to the host (default 1000, as ping).
    #[arg(short = 'i', long = "interval", value_name = "MS")]
    interval: Option<f64>,
    /// fping: milliseconds between packets to one target (default 1000). --check:
    /// number of packets (default 5).
    #[arg(short = 'p', value_name = "MS|PACKETS")]
    period: Option<f64>,
    /// fping: per-packet timeout in milliseconds (default 500; with -c the period,
    /// at most 2000). --check: seconds for the whole check (default 10).
    #[arg(short = 't', long = "timeout", value_name = "MS|SECONDS")]
    timeout: Option<f64>,
    /// Default mode: times a target that did not answer is tried again (count mode
    /// never retries).
    #[arg(short = 'r', long = "retry", value_name = "N", default_value_t = 3)]
    retry: u32,
    /// Default mode: each retry waits this factor longer than the try before (1.0 to
    /// 5.0).
    #[arg(short = 'B', long = "backoff", value_name = "F", default_value_t = 1.5)]
    backoff: f64,
    /// Echo data bytes (default 56, at least 16).
    #[arg(short = 'b', long = "size", value_name = "BYTES", default_value_t = 56)]
    size: usize,
    /// Names resolve to IPv4 only.
    #[arg(short = '4', conflicts_with = "ipv6")]
    ipv4: bool,
    /// Names resolve to IPv6 only.
    #[arg(short = '6')]
    ipv6: bool,
    /// check_ping mode: one host, thresholds, plugin output and exit code.
    #[arg(long = "check")]
    check: bool,
    /// --check: the host.
    #[arg(short = 'H', long = "hostname", value_name = "HOST")]
    host: Option<String>,
    /// --check: warning threshold RTA,PL%.
    #[arg(short = 'w', long = "warning", value_name = "RTA,PL%")]
    warning: Option<String>,
    /// I/O backend: auto (io_uring, else epoll), io-uring or epoll; default from
    /// BERGAMOT_IO.
    #[arg(long = "io", value_name = "BACKEND", default_value = "auto")]
    io: IoChoice,
}

/// fping's exit codes.
const FPING_UNREACHABLE: u8 = 1;
const FPING_NAME_ERROR: u8 = 2;
const FPING_USAGE: u8 = 3;
const FPING_SYSCALL: u8 = 4;

pub fn run(args: Args) -> ExitCode {
    if args.check { check_mode(args) } else { fping_mode(args) }
}

/// One target: the name as the user wrote it and its address.
#[derive(Debug, Clone)]
struct Target {
    name: String,
    addr: IpAddr,
    /// Position in the list given, for per-target records.
    pos: usize,
}

/// How a run went for one family; stats are in the input order of that family.
#[derive(Debug)]
struct FamilyRun {
    stats: Vec<TargetStats>,
}

/// Resolves `name` (an address literal is taken as is, without DNS).
fn resolve(name: &str, want: Option<Version>) -> Result<IpAddr, String> {
    if let Ok(a) = name.parse::<IpAddr>() {
        return match want {
            Some(v) if Version::of(a) != v => Err(format!("{name}: address family not allowed")),
            _ => Ok(a),
        };
    }
    let addrs = (name, 0).to_socket_addrs().map_err(|e| {
        // fping prints getaddrinfo's message alone: "x: Name or service not known".
        let e = e.to_string();
        let msg = e.strip_prefix("failed to lookup address information: ").unwrap_or(&e);
        format!("{name}: {msg}")
    })?;
    let mut fallback = None;
    for a in addrs {
        match want {
            Some(v) if Version::of(a.ip()) == v => return Ok(a.ip()),
            Some(_) => {}
            // Like ping: IPv4 first when both exist.
            None if a.is_ipv4() => return Ok(a.ip()),
            None => fallback = fallback.or(Some(a.ip())),
        }
    }
    fallback.ok_or_else(|| format!("{name}: no address of the requested family"))
}

fn read_targets(path: &str) -> std::io::Result<Vec<String>> {
    let reader: Box<dyn BufRead> = if path == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(std::fs::File::open(path)?))
    };
    let mut out = Vec::new();
    for line in reader.lines() {
        let line = line?;
        let t = line.split('#').next().unwrap_or("").trim();
        if !t.is_empty() {
            out.push(t.to_owned());
        }
    }
    Ok(out)
}

/// A per-process random value for the echo identifier and cookie: other pingers
/// on the host (and other sessions in this process) use other values.
fn random_u64(salt: u64) -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(salt);
    h.write_u32(std::process::id());
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    h.write_u128(t.as_nanos());
    h.finish()
}

fn ms(v: f64) -> Duration {
    Duration::from_secs_f64((v / 1000.0).clamp(0.0, 1e9))
}

/// Pings `targets` (one family) and reports events as they come; returns the
/// per-target results in the order given.
fn ping_family(
    version: Version,
    targets: &[Target],
    base: &PingConfig,
    io: IoChoice,
    limit: Option<Duration>,
    stop: Option<&Interrupt>,
    on_event: &(dyn Fn(&Target, &TargetStats, PingEvent, Version) + Sync),
) -> Result<FamilyRun, DriverError> {
    let socket = DatagramSocket::icmp(version == Version::V6)?;
    let salt = random_u64(version as u64);
    let config = PingConfig {
        ident: salt as u16,
        cookie: (salt >> 32) as u32,
        // The kernel rewrites the identifier of unprivileged ICMP sockets.
        check_ident: socket.kind() == DatagramKind::IcmpRaw,
        ..base.clone()
    };
    let clock = MonotonicClock::new();
    let start = clock.now();
    let addrs = targets.iter().map(|t| t.addr);
    let session = match PingSession::new(config, version, addrs, start) {
        Ok(s) => s,
        Err(e) => return Err(DriverError::Io { what: "ping", source: std::io::Error::other(e.to_string()) }),
    };
    let dconf = DatagramConfig { io, ..DatagramConfig::default() };
    let mut runner = DatagramRunner::new(socket, session, &dconf, clock)?;
    let deadline = limit.map(|l| start + l);
    loop {
        runner.process()?;
        while let Some(e) = runner.poll_event() {
            let idx = match e {
                PingEvent::Reply { target, .. }
                | PingEvent::Duplicate { target, .. }
                | PingEvent::Late { target }
                | PingEvent::Lost { target, .. }
                | PingEvent::Error { target, .. }
                | PingEvent::Done { target } => target,
            };
            if let (Some(t), Some((_, st))) = (targets.get(idx), runner.session().target(idx)) {
                on_event(t, st, e, version);
            }
        }
        while let Some((to, errno)) = runner.poll_send_error() {
            let name = targets.iter().find(|t| t.addr == to.ip()).map_or(to.ip().to_string(), |t| t.name.clone());
            eprintln!("{name}: error while sending ping: {}", std::io::Error::from(errno));
        }
        if runner.is_idle() || stop.is_some_and(Interrupt::hit) {
            break;
        }
        let now = runner.clock().now();
        if deadline.is_some_and(|d| now >= d) {
            break;
        }
        let until: Option<Instant> = match (runner.poll_timeout(), deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        runner.wait(until)?;
    }
    let session = runner.into_session();
    // Stopped early (Ctrl-C): packets still in flight are neither sent nor lost yet,
    // as fping counts them.
    let stats = session
        .results()
        .enumerate()
        .map(|(i, (_, s))| {
            let mut s = *s;
            s.sent -= session.in_flight(i).min(s.sent);
            s
        })
        .collect();
    Ok(FamilyRun { stats })
}

/// Runs both families at once (IPv6 on a second thread: a runner stays on the
/// thread that made it) and returns the stats in the order of `targets`.
fn ping_all(
    targets: &[Target],
    config: &PingConfig,
    io: IoChoice,
    limit: Option<Duration>,
    stop: Option<&Interrupt>,
    on_event: &(dyn Fn(&Target, &TargetStats, PingEvent, Version) + Sync),
) -> Result<Vec<TargetStats>, DriverError> {
    let (v4, v6): (Vec<Target>, Vec<Target>) = targets.iter().cloned().partition(|t| t.addr.is_ipv4());
    let (r4, r6) = std::thread::scope(|s| {
        let h6 = (!v6.is_empty()).then(|| s.spawn(|| ping_family(Version::V6, &v6, config, io, limit, stop, on_event)));
        let r4 =
            if v4.is_empty() { None } else { Some(ping_family(Version::V4, &v4, config, io, limit, stop, on_event)) };
        let r6 = h6.map(|h| {
            h.join().unwrap_or_else(|_| {
                Err(DriverError::Io { what: "ping thread", source: std::io::Error::other("panicked") })
            })
        });
        (r4, r6)
    });
    let (s4, s6) = (r4.transpose()?, r6.transpose()?);
    let (mut i4, mut i6) = (s4.iter().flat_map(|r| r.stats.iter()), s6.iter().flat_map(|r| r.stats.iter()));
    Ok(targets
        .iter()
        .map(|t| if t.addr.is_ipv4() { i4.next() } else { i6.next() }.copied().unwrap_or_default())
        .collect())
}

/// fping's time format: three significant decimals below 1 ms, fewer above.
fn fmt_ms(d: Duration) -> String {
    let t = d.as_secs_f64() * 1000.0;
    if t < 1.0 {
        format!("{t:.3}")
    } else if t < 10.0 {
        format!("{t:.2}")
    } else if t < 100.0 {
        format!("{t:.1}")
    } else {
        format!("{t:.0}")
    }
}

fn fping_summary(name: &str, width: usize, st: &TargetStats) -> String {
    let mut s = format!("{name:<width$} : xmt/rcv/%loss = {}/{}/{}%", st.sent, st.received, st.loss_percent());
    if let (Some(min), Some(avg), Some(max)) = (st.min(), st.avg(), st.max()) {
        s.push_str(&format!(", min/avg/max = {}/{}/{}", fmt_ms(min), fmt_ms(avg), fmt_ms(max)));
    }
    s
}

/// Most addresses `-g` makes, as fping.
const MAX_GENERATE: u64 = 131_072;

/// The addresses of `-g`: `START END` inclusive, or `ADDRESS/PREFIX` without its
/// network and broadcast addresses (unless the prefix is 31 or 32). Errors are
/// worded as fping's.
fn generate(args: &[String]) -> Result<Vec<String>, String> {
    let parse =
        |s: &str| s.parse::<std::net::Ipv4Addr>().map(u32::from).map_err(|_| format!("fping: can't parse address {s}"));
    let (first, last) = match args {
        [cidr] => {
            let Some((addr, prefix)) = cidr.split_once('/') else {
                return Err("fping: -g needs START END or ADDRESS/PREFIX".into());
            };
            let prefix: u32 = prefix.parse().map_err(|_| format!("fping: can't parse netmask {prefix}"))?;
            if !(1..=32).contains(&prefix) {
                return Err(format!("fping: netmask must be between 1 and 32 (is: {prefix})"));
            }
            let mask = u32::MAX << (32 - prefix);
            let net = parse(addr)? & mask;
            let broadcast = net | !mask;
            if prefix >= 31 { (net, broadcast) } else { (net + 1, broadcast - 1) }
        }
        [start, end] => (parse(start)?, parse(end)?),
        _ => return Err("fping: -g needs START END or ADDRESS/PREFIX".into()),
    };
    if last >= first && u64::from(last - first) + 1 > MAX_GENERATE {
        return Err("fping: -g parameter generates too many addresses".into());
    }
    Ok((first..=last).map(|a| std::net::Ipv4Addr::from(a).to_string()).collect())
}

fn fping_mode(args: Args) -> ExitCode {
    if args.alive && args.unreach {
        eprintln!("fping: specify only one of a, u");
        return ExitCode::from(FPING_UNREACHABLE);
    }
    let mut names = args.targets.clone();
    if args.generate {
        if args.file.is_some() {
            eprintln!("fping: -g and -f cannot be used together");
            return ExitCode::from(FPING_UNREACHABLE);
        }
        match generate(&names) {
            // No address in the range: nothing to ping, as fping says with its status.
            Ok(v) if v.is_empty() => return ExitCode::from(FPING_UNREACHABLE),
            Ok(v) => names = v,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(FPING_UNREACHABLE);
            }
        }
    }
    if let Some(f) = &args.file {
        match read_targets(f) {
            Ok(mut v) => names.append(&mut v),
            Err(e) => {
                eprintln!("fping: {f}: {e}");
                return ExitCode::from(FPING_SYSCALL);
            }
        }
    }
    if names.is_empty() {
        eprintln!("bergamot-probe ping: no targets (give them as arguments or with -f FILE)");
        return ExitCode::from(FPING_USAGE);
    }
    let verbose = args.vcount.is_some();
    let count_arg = args.count.as_deref().or(args.vcount.as_deref());
    // Loop mode prints as count mode does, for as many packets as it takes.
    let count_mode = count_arg.is_some() || args.loop_;
    let count = match count_arg.map(str::parse::<u32>) {
        None if args.loop_ => u32::MAX,
        None => 1,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("bergamot-probe ping: -c and -C need a positive packet count (thresholds need --check)");
            return ExitCode::from(FPING_USAGE);
        }
    };
    let period = args.period.map_or(Duration::from_millis(1000), ms);
    let timeout = match args.timeout {
        Some(t) => ms(t),
        // fping: 500 ms, but in count and loop mode the period, up to 2 s.
        None if count_mode => period.min(Duration::from_secs(2)),
        None => Duration::from_millis(500),
    };
    // fping reads -B with atof: a factor outside 1.0..=5.0 (or not a number) is refused.
    if !(1.0..=5.0).contains(&args.backoff) {
        eprintln!("fping: backoff factor {:.1} not valid, must be between 1.0 and 5.0", args.backoff);
        return ExitCode::from(FPING_UNREACHABLE);
    }
    let config = PingConfig {
        count,
        interval: period,
        pacing: args.interval.map_or(Duration::from_millis(10), ms),
        timeout,
        // Retries are fping's default mode only.
        retries: if count_mode { 0 } else { args.retry },
        backoff_milli: (args.backoff * 1000.0).round() as u32,
        data_len: args.size,
        ..PingConfig::default()
    };
    if let Err(e) = PingSession::new(config.clone(), Version::V4, [], Instant::ZERO) {
        eprintln!("bergamot-probe ping: {e}");
        return ExitCode::from(FPING_USAGE);
    }
    let want = match (args.ipv4, args.ipv6) {
        (true, _) => Some(Version::V4),
        (_, true) => Some(Version::V6),
        _ => None,
    };
    let mut name_error = false;
    let mut unknown = 0u32;
    let mut targets = Vec::with_capacity(names.len());
    for n in names {
        match resolve(&n, want) {
            Ok(addr) => {
                let name = if args.by_addr { addr.to_string() } else { n };
                targets.push(Target { name, addr, pos: targets.len() });
            }
            Err(e) => {
                // Like fping, -q silences this too; the exit code still says 2.
                if !args.quiet {
                    eprintln!("{e}");
                }
                name_error = true;
                unknown += 1;
            }
        }
    }
    let width = targets.iter().map(|t| t.name.len()).max().unwrap_or(0);
    let quiet = args.quiet;
    let (only_alive, only_unreach) = (args.alive, args.unreach);
    // With -a or -u fping prints no per-packet lines, and -q does not hide the names.
    let per_packet = !quiet && !only_alive && !only_unreach;
    let (elapsed, timestamp) = (args.elapsed, args.timestamp);
    // fping's -D: wall-clock seconds with five decimals.
    let stamp = || {
        if !timestamp {
            return String::new();
        }
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        format!("[{:.5}] ", t.as_secs_f64())
    };
    // -e: the reply's time after the name (a target alive in default mode has one).
    let rtt_of = |st: &TargetStats| match (elapsed, st.min()) {
        (true, Some(rtt)) => format!(" ({} ms)", fmt_ms(rtt)),
        _ => String::new(),
    };
    let bytes = 8 + args.size;
    // -C: every round-trip time, by target and packet.
    let times: std::sync::Mutex<Vec<Vec<Option<Duration>>>> =
        std::sync::Mutex::new(if verbose { vec![vec![None; count as usize]; targets.len()] } else { Vec::new() });
    // -s: timeouts and ICMP errors seen.
    let (timeouts, other_icmp) = (AtomicU32::new(0), AtomicU32::new(0));
    // Targets whose every packet is settled (and, in default mode, reported).
    let settled: Vec<AtomicBool> = targets.iter().map(|_| AtomicBool::new(false)).collect();
    let on_event = |t: &Target, st: &TargetStats, e: PingEvent, v: Version| {
        let name = &t.name;
        if let (PingEvent::Done { .. }, Some(done)) = (&e, settled.get(t.pos)) {
            done.store(true, Ordering::Relaxed);
        }
        match e {
            PingEvent::Lost { .. } => timeouts.fetch_add(1, Ordering::Relaxed),
            PingEvent::Error { .. } => other_icmp.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
        if let (true, PingEvent::Reply { index, rtt, .. }) = (verbose, &e) {
            let mut times = times.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(slot) = times.get_mut(t.pos).and_then(|v| v.get_mut(*index as usize)) {
                *slot = Some(*rtt);
            }
        }
        match e {
            PingEvent::Reply { index, rtt, .. } if per_packet && count_mode => {
                let avg = st.avg().map_or("NaN".into(), fmt_ms);
                let loss = loss_so_far(st, index);
                let at = stamp();
                println!("{at}{name:<width$} : [{index}], {bytes} bytes, {} ms ({avg} avg, {loss}% loss)", fmt_ms(rtt));
            }
            PingEvent::Lost { index, .. } if per_packet && count_mode => {
                let avg = st.avg().map_or("NaN".into(), fmt_ms);
                let loss = loss_so_far(st, index);
                let at = stamp();
                println!("{at}{name:<width$} : [{index}], timed out ({avg} avg, {loss}% loss)");
            }
            // fping reports duplicates where it prints no per-packet lines, -q or not.
            PingEvent::Duplicate { index, rtt, .. } if !(per_packet && count_mode) => {
                eprintln!("{name} : duplicate for [{index}], {bytes} bytes, {} ms", fmt_ms(rtt));
            }
            PingEvent::Error { from, error, .. } if !quiet => {
                eprintln!("{} from {from} for ICMP Echo sent to {}", error.describe(v), t.addr);
            }
            PingEvent::Done { .. }
                if !count_mode && (only_alive || only_unreach) && (st.received > 0) == only_alive =>
            {
                println!("{name}{}", rtt_of(st));
            }
            PingEvent::Done { .. } if only_alive || only_unreach => {}
            PingEvent::Done { .. } if !quiet && !count_mode => {
                if st.received > 0 {
                    println!("{name} is alive{}", rtt_of(st));
                } else {
                    println!("{name} is unreachable");
                }
            }
            _ => {}
        }
    };
    let started = std::time::Instant::now();
    // Ctrl-C ends the run early with everything measured so far printed, as fping.
    let interrupt = Interrupt::catch();
    let stats = match ping_all(&targets, &config, args.io, None, Some(&interrupt), &on_event) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bergamot-probe ping: {e}");
            return ExitCode::from(FPING_SYSCALL);
        }
    };
    // Interrupted in default mode: targets still waiting have not answered.
    for (t, st) in targets.iter().zip(&stats) {
        if count_mode || st.received > 0 || settled.get(t.pos).is_some_and(|d| d.load(Ordering::Relaxed)) {
            continue;
        }
        if only_unreach {
            println!("{}", t.name);
        } else if !quiet && !only_alive {
            println!("{} is unreachable", t.name);
        }
    }
    if count_mode {
        let mut err = std::io::stderr().lock();
        if !quiet {
            let _ = writeln!(err);
        }
        let times = times.into_inner().unwrap_or_else(|p| p.into_inner());
        for (t, st) in targets.iter().zip(&stats) {
            let line = match times.get(t.pos) {
                Some(rtts) => {
                    // Only the packets sent (fewer after Ctrl-C).
                    let sent = rtts.iter().take(st.sent as usize);
                    let list: Vec<String> = sent.map(|r| r.map_or_else(|| "-".to_owned(), fmt_ms)).collect();
                    format!("{:<width$} : {}", t.name, list.join(" "))
                }
                None => fping_summary(&t.name, width, st),
            };
            let _ = writeln!(err, "{line}");
        }
    }
    if args.stats {
        let totals = Totals {
            unknown,
            timeouts: timeouts.load(Ordering::Relaxed),
            other_icmp: other_icmp.load(Ordering::Relaxed),
            elapsed: started.elapsed(),
        };
        eprint!("{}", global_stats(&stats, &totals));
    }
    let all_alive = stats.iter().all(|s| s.received > 0);
    if name_error {
        ExitCode::from(FPING_NAME_ERROR)
    } else if all_alive {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(FPING_UNREACHABLE)
    }
}

/// What `-s` counts besides the targets' own statistics.
struct Totals {
    unknown: u32,
    timeouts: u32,
    other_icmp: u32,
    elapsed: Duration,
}

/// fping's `-s` block: counts, then the round-trip times over every reply (zero when
/// there was none), then the elapsed time.
fn global_stats(stats: &[TargetStats], t: &Totals) -> String {
    let alive = stats.iter().filter(|s| s.received > 0).count();
    let sent: u64 = stats.iter().map(|s| u64::from(s.sent)).sum();
    let received: u64 = stats.iter().map(|s| u64::from(s.received)).sum();
    // fping counts every echo reply that matched a packet of its own, duplicates and
    // late ones included.
    let replies: u64 = stats.iter().map(|s| u64::from(s.received + s.duplicates + s.late)).sum();
    let min = stats.iter().filter_map(TargetStats::min).min().unwrap_or_default();
    let max = stats.iter().filter_map(TargetStats::max).max().unwrap_or_default();
    let sum: Duration = stats.iter().filter_map(|s| Some(s.avg()? * s.received)).sum();
    let avg = if received == 0 { Duration::ZERO } else { sum / u32::try_from(received).unwrap_or(u32::MAX) };
    let mut out = String::from("\n");
    out += &format!(" {:>7} targets\n {alive:>7} alive\n {:>7} unreachable\n", stats.len(), stats.len() - alive);
    out += &format!(" {:>7} unknown addresses\n\n", t.unknown);
    out += &format!(" {:>7} timeouts (waiting for response)\n {sent:>7} ICMP Echos sent\n", t.timeouts);
    out += &format!(" {replies:>7} ICMP Echo Replies received\n {:>7} other ICMP received\n\n", t.other_icmp);
    out += &format!(" {} ms (min round trip time)\n {} ms (avg round trip time)\n", fmt_ms(min), fmt_ms(avg));
    out += &format!(" {} ms (max round trip time)\n", fmt_ms(max));
    out += &format!(" {:>12.3} sec (elapsed real time)\n\n", t.elapsed.as_secs_f64());
    out
}

/// fping's running loss in per-packet lines: of the packets up to this one.
fn loss_so_far(st: &TargetStats, index: u32) -> u32 {
    let sent = u64::from(index) + 1;
    let lost = sent.saturating_sub(u64::from(st.received));
    (lost * 100 / sent).min(100) as u32
}

fn check_mode(args: Args) -> ExitCode {
    const UNKNOWN: u8 = 3;
    let usage = "Usage:\nbergamot-probe ping --check -H <host_address> -w <wrta>,<wpl>% -c <crta>,<cpl>%\n [-p packets] [-t timeout] [-4|-6]";
    let (Some(host), Some(w), Some(c)) = (&args.host, &args.warning, &args.count) else {
        let missing = if args.host.is_none() {
            "-H"
        } else if args.warning.is_none() {
            "-w"
        } else {
            "-c"
        };
        println!("check_ping: {missing} was not set\n{usage}");
        return ExitCode::from(UNKNOWN);
    };
    let check = match CheckPing::parse(w, c) {
        Ok(c) => c,
        Err(e) => {
            println!("{e}\ncheck_ping: Could not parse arguments\n{usage}");
            return ExitCode::from(UNKNOWN);
        }
    };
    let packets = args.period.unwrap_or(5.0);
    if !(packets >= 1.0 && packets.fract() == 0.0 && packets <= 1e6) {
        println!("check_ping: -p needs a positive number of packets\n{usage}");
        return ExitCode::from(UNKNOWN);
    }
    let packets = packets as u32;
    let want = match (args.ipv4, args.ipv6) {
        (true, _) => Some(Version::V4),
        (_, true) => Some(Version::V6),
        _ => None,
    };
    let addr = match resolve(host, want) {
        Ok(a) => a,
        Err(_) => {
            println!("check_ping: Invalid hostname/address - {host}\n{usage}");
            return ExitCode::from(UNKNOWN);
        }
    };
    let limit = Duration::from_secs_f64(args.timeout.unwrap_or(10.0).clamp(0.001, 1e6));
    let spacing = args.interval.map_or(Duration::from_secs(1), ms);
    // Every packet gets what is left of the limit after the last one is sent, so the
    // check ends within the limit; the run's deadline below is the backstop.
    let timeout = limit.saturating_sub(spacing * (packets - 1)).max(Duration::from_millis(100));
    let config = PingConfig {
        count: packets,
        interval: spacing,
        pacing: Duration::ZERO,
        timeout,
        data_len: args.size,
        ..PingConfig::default()
    };
    let target = Target { name: host.clone(), addr, pos: 0 };
    match ping_all(std::slice::from_ref(&target), &config, args.io, Some(limit), None, &|_, _, _, _| {}) {
        Ok(stats) => {
            let r = check.evaluate(stats.first().unwrap_or(&TargetStats::default()));
            println!("{}", r.output);
            ExitCode::from(r.status as u8)
        }
        Err(e) => {
            println!("PING UNKNOWN - {e}");
            ExitCode::from(UNKNOWN)
        }
    }
}
