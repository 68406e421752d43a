//! `bergamot-probe tcp`: check_tcp's flags, output and exit codes on the library's
//! `TcpSession` and `StreamRunner`. This file reads flags, resolves the name, builds
//! the TLS configuration and prints; `--repeat` runs the same check many times at
//! once, which is how the benchmark drives it.

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bergamot_netprobes::driver::{ConnEnd, IoChoice, Runner, StreamConfig, StreamEvent, StreamRunner};
use bergamot_netprobes::session::StreamSession;
use bergamot_netprobes::session::tcp::{
    CertVerification, TcpCheck, TcpResult, TcpSession, TlsCheck, tls_client_config,
};
use bergamot_netprobes::time::{Instant, MonotonicClock};
use bergamot_netprobes::wire::plugin::PluginStatus;
use rustls::pki_types::ServerName;

#[derive(Debug, clap::Args)]
#[command(after_help = "check_tcp compatible: bergamot-probe tcp -H HOST -p PORT [-s SEND] [-e EXPECT]... \
[-t SECONDS] [-w SECONDS] [-c SECONDS] [-S [-D DAYS[,DAYS]]]")]
pub struct Args {
    /// Host name or address.
    #[arg(short = 'H', long = "hostname", value_name = "HOST")]
    host: String,
    /// Port.
    #[arg(short = 'p', long = "port", value_name = "PORT")]
    port: u16,
    /// String to send once connected.
    #[arg(short = 's', long = "send", value_name = "STRING")]
    send: Option<String>,
    /// String to expect in the response (may be repeated; any of them by default).
    #[arg(short = 'e', long = "expect", value_name = "STRING")]
    expect: Vec<String>,
    /// All expect strings must occur.
    #[arg(short = 'A', long = "all")]
    all: bool,
    /// Interpret \n, \r, \t and \\ in the send and quit strings.
    #[arg(short = 'E', long = "escape")]
    escape: bool,
    /// String to send before closing (\r\n is added unless -E).
    #[arg(short = 'q', long = "quit", value_name = "STRING")]
    quit: Option<String>,
    /// Read at most this many bytes of the response.
    #[arg(short = 'm', long = "maxbytes", value_name = "BYTES", default_value_t = 4096)]
    maxbytes: usize,
    /// Seconds before the check gives up (connect included).
    #[arg(short = 't', long = "timeout", value_name = "SECONDS", default_value_t = 10.0)]
    timeout: f64,
    /// Response time for WARNING, seconds.
    #[arg(short = 'w', long = "warning", value_name = "SECONDS")]
    warning: Option<f64>,
    /// Response time for CRITICAL, seconds.
    #[arg(short = 'c', long = "critical", value_name = "SECONDS")]
    critical: Option<f64>,
    /// Status when the connection is refused.
    #[arg(short = 'r', long = "refuse", value_name = "ok|warn|crit", default_value = "crit", value_parser = parse_state)]
    refuse: PluginStatus,
    /// Status when the expected string does not come.
    #[arg(short = 'M', long = "mismatch", value_name = "ok|warn|crit", default_value = "warn", value_parser = parse_state)]
    mismatch: PluginStatus,
    /// Do not show the response.
    #[arg(short = 'j', long = "jail")]
    jail: bool,
    /// Use TLS.
    #[arg(short = 'S', long = "ssl")]
    ssl: bool,
    /// Minimum days of certificate validity: WARN[,CRIT] (implies -S).
    #[arg(short = 'D', long = "certificate", value_name = "DAYS[,DAYS]")]
    days: Option<String>,
    /// TLS server name (SNI), default the host.
    #[arg(long = "sni", value_name = "NAME")]
    sni: Option<String>,
    /// Accept any server certificate (self-signed services); expiry is still checked.
    #[arg(short = 'k', long = "accept-any-cert", alias = "insecure")]
    accept_any: bool,
    /// Connect over IPv4 only.
    #[arg(short = '4', conflicts_with = "ipv6")]
    ipv4: bool,
    /// Connect over IPv6 only.
    #[arg(short = '6')]
    ipv6: bool,
    /// Say which I/O backend runs (on standard error).
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    /// Run the check this many times, `--parallel` at once, and print a summary
    /// (benchmarking).
    #[arg(long = "repeat", value_name = "N", default_value_t = 1)]
    repeat: u32,
    /// Connections open at once with --repeat.
    #[arg(long = "parallel", value_name = "N", default_value_t = 256)]
    parallel: usize,
    /// I/O backend: auto (io_uring, else epoll), io-uring or epoll; default from
    /// BERGAMOT_IO.
    #[arg(long = "io", value_name = "BACKEND", default_value = "auto")]
    io: IoChoice,
}

fn parse_state(s: &str) -> Result<PluginStatus, String> {
    match s {
        "ok" => Ok(PluginStatus::Ok),
        "warn" => Ok(PluginStatus::Warning),
        "crit" => Ok(PluginStatus::Critical),
        _ => Err(format!("{s:?} is not one of ok, warn, crit")),
    }
}

/// check_tcp's -E escapes.
fn unescape(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut it = s.bytes();
    while let Some(b) = it.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match it.next() {
            Some(b'n') => out.push(b'\n'),
            Some(b'r') => out.push(b'\r'),
            Some(b't') => out.push(b'\t'),
            Some(b'\\') => out.push(b'\\'),
            Some(o) => out.extend_from_slice(&[b'\\', o]),
            None => out.push(b'\\'),
        }
    }
    out
}

fn unknown(msg: impl std::fmt::Display) -> ExitCode {
    println!("TCP UNKNOWN - {msg}");
    ExitCode::from(3)
}

pub fn run(args: Args) -> ExitCode {
    let check = match build_check(&args) {
        Ok(c) => Arc::new(c),
        Err(msg) => return unknown(msg),
    };
    let addr = match resolve(&args) {
        Ok(a) => a,
        Err(msg) => return unknown(msg),
    };
    let clock = MonotonicClock::new();
    let config = StreamConfig {
        io: args.io,
        max_connections: args.parallel.clamp(1, 1 << 20),
        // A check reads little: small buffers, many of them.
        read_buffer_size: args.maxbytes.clamp(512, 64 * 1024),
        ..Default::default()
    };
    let mut runner: StreamRunner<TcpSession> = match StreamRunner::new(&config, clock) {
        Ok(r) => r,
        Err(e) => return unknown(e),
    };
    if args.verbose {
        eprintln!("bergamot-probe tcp: I/O backend {}, target {addr}", runner.backend());
    }
    let started = std::time::Instant::now();
    let (mut launched, mut results) = (0u32, Vec::with_capacity(args.repeat.min(1 << 20) as usize));
    let repeat = args.repeat.max(1);
    loop {
        while launched < repeat && runner.room() > 0 {
            let session = TcpSession::new(check.clone(), clock.now(), unix_now());
            if runner.connect(addr, None, session).is_err() {
                break;
            }
            launched += 1;
        }
        if let Err(e) = runner.process() {
            return unknown(e);
        }
        while let Some(e) = runner.poll_event() {
            match e {
                StreamEvent::Session { event, .. } => results.push(event),
                StreamEvent::Closed { end, mut session, at, .. } => {
                    if let Some(r) = conclude(&mut session, end, at) {
                        results.push(r);
                    }
                }
            }
        }
        if launched == repeat && runner.is_idle() {
            break;
        }
        if launched < repeat && runner.room() > 0 {
            continue;
        }
        let until = runner.poll_timeout();
        if let Err(e) = runner.wait(until) {
            return unknown(e);
        }
    }
    if args.repeat <= 1 {
        return match results.first() {
            Some(r) => {
                println!("{}", r.output);
                ExitCode::from(r.exit_code())
            }
            None => unknown("the check ended without a result"),
        };
    }
    summary(&results, started.elapsed(), runner.backend())
}

/// A result for a connection that ended before the session had one.
fn conclude(session: &mut TcpSession, end: ConnEnd, at: Instant) -> Option<TcpResult> {
    if session.result().is_some() {
        return None;
    }
    match end {
        ConnEnd::ConnectFailed(e) => {
            session.handle_connect_error(at, &end.to_string(), e == rustix::io::Errno::CONNREFUSED)
        }
        ConnEnd::ConnectTimedOut => session.handle_connect_error(at, "Connection timed out", false),
        ConnEnd::Failed(_) | ConnEnd::PeerClosed | ConnEnd::Done => session.handle_io_error(at, &end.to_string()),
    }
    StreamSession::poll_event(session)
}

fn summary(results: &[TcpResult], wall: Duration, backend: bergamot_netprobes::driver::Backend) -> ExitCode {
    let count = |s: PluginStatus| results.iter().filter(|r| r.status == s).count();
    let worst = results.iter().map(TcpResult::exit_code).max().unwrap_or(3);
    let secs = wall.as_secs_f64();
    println!(
        "TCP checks: {} in {secs:.3} s ({:.0}/s, {backend}): OK {}, WARNING {}, CRITICAL {}, UNKNOWN {}",
        results.len(),
        results.len() as f64 / secs.max(1e-9),
        count(PluginStatus::Ok),
        count(PluginStatus::Warning),
        count(PluginStatus::Critical),
        count(PluginStatus::Unknown),
    );
    if let Some(r) = results.iter().find(|r| r.status != PluginStatus::Ok) {
        println!("first problem: {}", r.output);
    }
    ExitCode::from(worst)
}

fn build_check(args: &Args) -> Result<TcpCheck, String> {
    let text = |s: &str| if args.escape { unescape(s) } else { s.as_bytes().to_vec() };
    let mut c = TcpCheck::new(args.host.clone(), args.port);
    c.send = args.send.as_deref().map(text);
    c.expect = args.expect.iter().map(|e| e.as_bytes().to_vec()).collect();
    c.expect_all = args.all;
    c.quit = args.quit.as_deref().map(|q| {
        let mut q = text(q);
        if !args.escape {
            q.extend_from_slice(b"\r\n");
        }
        q
    });
    c.max_bytes = args.maxbytes.max(1);
    if !(args.timeout > 0.0 && args.timeout.is_finite()) {
        return Err(format!("timeout {} is not a positive number of seconds", args.timeout));
    }
    c.timeout = Duration::from_secs_f64(args.timeout.min(1e9));
    (c.warning, c.critical) = (args.warning, args.critical);
    (c.refuse, c.mismatch) = (args.refuse, args.mismatch);
    c.hide_output = args.jail;
    if args.ssl || args.days.is_some() {
        let (days_warning, days_critical) = match &args.days {
            Some(d) => parse_days(d)?,
            None => (None, None),
        };
        let verify = if args.accept_any { CertVerification::AcceptAny } else { CertVerification::WebPki };
        let config = tls_client_config(verify, Arc::new(rustls::time_provider::DefaultTimeProvider))
            .map_err(|e| format!("TLS configuration: {e}"))?;
        let name = args.sni.clone().unwrap_or_else(|| args.host.clone());
        let server_name =
            ServerName::try_from(name.clone()).map_err(|_| format!("{name:?} is not a TLS server name"))?;
        c.tls = Some(TlsCheck {
            config,
            server_name,
            days_warning,
            days_critical: days_critical.or(days_warning.map(|_| 0)),
        });
    }
    Ok(c)
}

/// `-D WARN[,CRIT]`; CRIT defaults to 0 as in check_tcp.
fn parse_days(s: &str) -> Result<(Option<u32>, Option<u32>), String> {
    let num = |t: &str| t.trim().parse::<u32>().map_err(|_| format!("-D {s:?}: expected DAYS[,DAYS]"));
    match s.split_once(',') {
        Some((w, c)) => Ok((Some(num(w)?), Some(num(c)?))),
        None => Ok((Some(num(s)?), None)),
    }
}

fn resolve(args: &Args) -> Result<SocketAddr, String> {
    let addrs =
        (args.host.as_str(), args.port).to_socket_addrs().map_err(|e| format!("cannot resolve {}: {e}", args.host))?;
    let mut addrs = addrs;
    addrs.find(|a| !(args.ipv4 && a.is_ipv6() || args.ipv6 && a.is_ipv4())).ok_or_else(|| {
        format!(
            "no {}address for {}",
            if args.ipv6 {
                "IPv6 "
            } else if args.ipv4 {
                "IPv4 "
            } else {
                ""
            },
            args.host
        )
    })
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_days() {
        assert_eq!(unescape(r"GET /\r\n\\x\q\"), b"GET /\r\n\\x\\q\\");
        assert_eq!(parse_days("30"), Ok((Some(30), None)));
        assert_eq!(parse_days("30,7"), Ok((Some(30), Some(7))));
        assert!(parse_days("x").is_err());
    }
}
