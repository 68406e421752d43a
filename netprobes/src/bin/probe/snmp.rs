//! `bergamot-probe snmp get|getnext|walk|check`: SNMP with net-snmp's flags and output
//! (`-v -c -l -u -a -A -x -X -n -t -r`, `HOST[:PORT] OID…`, lines as `snmpget -On`
//! prints them), `--repeat N` to send the same request N times from one process (the
//! benchmark), and `check` with check_snmp's flags (`-H -p -P -C -L -U -a -A -x -X -o
//! -w -c -t -e`), output and exit codes. The protocol is the library's SnmpManager
//! on the driver; this file reads flags, resolves names and prints.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bergamot_netprobes::driver::{DatagramConfig, DatagramRunner, DatagramSocket, DriverError, IoChoice, Runner};
use bergamot_netprobes::session::snmp::check::{self, Status};
use bergamot_netprobes::session::snmp::{
    Failure, ManagerConfig, Outcome, Request, Security, SnmpEvent, SnmpManager, Target,
};
use bergamot_netprobes::time::MonotonicClock;
use bergamot_netprobes::wire::snmp::{AuthProtocol, ErrorStatus, Oid, PrivProtocol, UserKeys, Version};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// GET, as snmpget.
    Get(NetSnmp),
    /// GETNEXT, as snmpgetnext.
    Getnext(NetSnmp),
    /// Everything below an OID, as snmpwalk (GETBULK unless -v1 or --max-repetitions 0).
    Walk(NetSnmp),
    /// check_snmp: thresholds on values, plugin output and exit code.
    Check(CheckSnmp),
}

/// net-snmp's common options (snmpcmd(1)).
#[derive(Debug, clap::Args)]
struct NetSnmp {
    /// Protocol version: 1, 2c or 3.
    #[arg(short = 'v', value_name = "1|2c|3", default_value = "3")]
    version: String,
    /// Community (v1, v2c).
    #[arg(short = 'c', value_name = "COMMUNITY", default_value = "public")]
    community: String,
    /// v3 security level: noAuthNoPriv, authNoPriv or authPriv.
    #[arg(short = 'l', value_name = "LEVEL")]
    level: Option<String>,
    /// v3 user.
    #[arg(short = 'u', value_name = "USER")]
    user: Option<String>,
    /// Authentication protocol: MD5, SHA, SHA-224, SHA-256, SHA-384, SHA-512.
    #[arg(short = 'a', value_name = "PROTOCOL", default_value = "SHA")]
    auth: String,
    /// Authentication password.
    #[arg(short = 'A', value_name = "PASSWORD")]
    auth_pass: Option<String>,
    /// Privacy protocol: DES, AES, AES-192, AES-256.
    #[arg(short = 'x', value_name = "PROTOCOL", default_value = "AES")]
    privacy: String,
    /// Privacy password.
    #[arg(short = 'X', value_name = "PASSWORD")]
    priv_pass: Option<String>,
    /// v3 context name.
    #[arg(short = 'n', value_name = "CONTEXT", default_value = "")]
    context: String,
    /// Seconds to wait for each attempt.
    #[arg(short = 't', value_name = "SECONDS", default_value_t = 1.0)]
    timeout: f64,
    /// Retries after the first attempt.
    #[arg(short = 'r', value_name = "N", default_value_t = 5)]
    retries: u32,
    /// walk: repetitions per GETBULK (0: GETNEXT, as snmpwalk does).
    #[arg(long = "max-repetitions", value_name = "N", default_value_t = 10)]
    max_repetitions: u32,
    /// Send the request N times (one process, one socket); prints the first result
    /// and a summary on stderr. For benchmarks.
    #[arg(long = "repeat", value_name = "N", default_value_t = 1)]
    repeat: u32,
    /// With --repeat: requests in flight at once.
    #[arg(long = "concurrency", value_name = "N", default_value_t = 64)]
    concurrency: u32,
    /// I/O backend: auto (io_uring, else epoll), io-uring or epoll; default from
    /// BERGAMOT_IO.
    #[arg(long = "io", value_name = "BACKEND", default_value = "auto")]
    io: IoChoice,
    /// The agent: HOST, HOST:PORT, udp:HOST:PORT, [IPv6]:PORT (port 161 by default).
    agent: String,
    /// Numeric OIDs (`1.3.6.1.2.1.1.1.0` or `.1.3.6…`).
    #[arg(required = true)]
    oids: Vec<String>,
}

/// check_snmp's options (monitoring-plugins).
#[derive(Debug, clap::Args)]
struct CheckSnmp {
    /// Host name or address.
    #[arg(short = 'H', long = "hostname")]
    host: String,
    /// Port.
    #[arg(short = 'p', long = "port", default_value_t = 161)]
    port: u16,
    /// Protocol: 1, 2c or 3.
    #[arg(short = 'P', long = "protocol", default_value = "1")]
    protocol: String,
    /// Community.
    #[arg(short = 'C', long = "community", default_value = "public")]
    community: String,
    /// v3 security level.
    #[arg(short = 'L', long = "seclevel", default_value = "noAuthNoPriv")]
    level: String,
    /// v3 user.
    #[arg(short = 'U', long = "secname")]
    user: Option<String>,
    /// Authentication protocol.
    #[arg(short = 'a', long = "authproto", default_value = "MD5")]
    auth: String,
    /// Authentication password.
    #[arg(short = 'A', long = "authpasswd")]
    auth_pass: Option<String>,
    /// Privacy protocol.
    #[arg(short = 'x', long = "privproto", default_value = "DES")]
    privacy: String,
    /// Privacy password.
    #[arg(short = 'X', long = "privpasswd")]
    priv_pass: Option<String>,
    /// v3 context.
    #[arg(short = 'N', long = "context", default_value = "")]
    context: String,
    /// OIDs (comma-separated or repeated).
    #[arg(short = 'o', long = "oid", required = true)]
    oids: Vec<String>,
    /// Warning ranges, one per OID, comma-separated.
    #[arg(short = 'w', long = "warning")]
    warning: Option<String>,
    /// Critical ranges, one per OID, comma-separated.
    #[arg(short = 'c', long = "critical")]
    critical: Option<String>,
    /// Seconds for the whole check.
    #[arg(short = 't', long = "timeout", default_value_t = 10.0)]
    timeout: f64,
    /// Retries.
    #[arg(short = 'e', long = "retries", default_value_t = 5)]
    retries: u32,
    #[arg(long = "io", value_name = "BACKEND", default_value = "auto")]
    io: IoChoice,
}

pub fn run(args: Args) -> ExitCode {
    match args.command {
        Command::Get(a) => netsnmp(a, Kind::Get),
        Command::Getnext(a) => netsnmp(a, Kind::GetNext),
        Command::Walk(a) => netsnmp(a, Kind::Walk),
        Command::Check(a) => check_mode(a),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Get,
    GetNext,
    Walk,
}

/// Options shared by both flag styles, resolved.
struct Resolved {
    target: Target,
    io: IoChoice,
}

fn resolve_agent(spec: &str, default_port: u16) -> Result<SocketAddr, String> {
    let s = spec.strip_prefix("udp:").unwrap_or(spec);
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(ip) = s.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, default_port));
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, p.parse::<u16>().map_err(|_| format!("{spec}: bad port"))?),
        _ => (s, default_port),
    };
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("{host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host}: no address"))
}

#[allow(clippy::too_many_arguments)]
fn security(
    version: &str,
    community: &str,
    level: Option<&str>,
    user: Option<&str>,
    auth: &str,
    auth_pass: Option<&str>,
    privacy: &str,
    priv_pass: Option<&str>,
    context: &str,
) -> Result<Security, String> {
    let version = match version {
        "1" => Version::V1,
        "2c" | "2" => Version::V2c,
        "3" => Version::V3,
        v => return Err(format!("Invalid version specified after -v flag: {v}")),
    };
    if version != Version::V3 {
        return Ok(Security::Community { version, community: community.as_bytes().to_vec() });
    }
    let user = user.ok_or("No securityName specified (-u USER)")?;
    let level = match level.map(|l| l.to_ascii_lowercase()) {
        None => if priv_pass.is_some() { 2 } else if auth_pass.is_some() { 1 } else { 0 },
        Some(l) if l == "noauthnopriv" || l == "1" || l == "nanp" => 0,
        Some(l) if l == "authnopriv" || l == "2" || l == "anp" => 1,
        Some(l) if l == "authpriv" || l == "3" || l == "ap" => 2,
        Some(l) => return Err(format!("Invalid security level specified: {l}")),
    };
    let auth = if level >= 1 {
        let p = AuthProtocol::from_name(auth).ok_or(format!("Invalid authentication protocol specified after -a flag: {auth}"))?;
        let pw = auth_pass.ok_or("authentication requested but no authentication password (-A)")?;
        Some((p, pw.as_bytes()))
    } else {
        None
    };
    let privacy = if level == 2 {
        let p = PrivProtocol::from_name(privacy).ok_or(format!("Invalid privacy protocol specified after -x flag: {privacy}"))?;
        let pw = priv_pass.ok_or("privacy requested but no privacy password (-X)")?;
        Some((p, pw.as_bytes()))
    } else {
        None
    };
    // Derives Ku once (a megabyte of hashing per password); localized per engine later.
    let keys = UserKeys::new(user.as_bytes(), auth, privacy).map_err(|e| e.to_string())?;
    Ok(Security::Usm { keys: Arc::new(keys), context_name: context.as_bytes().to_vec() })
}

fn parse_oids<'a>(list: impl IntoIterator<Item = &'a str>) -> Result<Vec<Oid<'static>>, String> {
    list.into_iter()
        .flat_map(|s| s.split(','))
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<Oid>().map_err(|e| format!("{s}: {e} (only numeric OIDs: no MIBs are loaded)")))
        .collect()
}

fn seconds(v: f64) -> Duration {
    Duration::from_secs_f64(v.clamp(0.001, 1e6))
}

/// A per-process unpredictable seed for request ids, msgIDs and salts.
fn random_seed() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    h.write_u128(t.as_nanos());
    h.finish()
}

/// Runs `count` copies of `request` with at most `window` in flight; calls `on_event`
/// for each finished one.
fn drive(
    r: &Resolved,
    request: &Request,
    count: u32,
    window: u32,
    mut on_event: impl FnMut(SnmpEvent),
) -> Result<(), DriverError> {
    let clock = MonotonicClock::new();
    let bind = if r.target.addr.is_ipv6() {
        SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0))
    } else {
        SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, 0))
    };
    let socket = DatagramSocket::udp(bind)?;
    let window = window.clamp(1, 4096);
    let config = ManagerConfig { seed: random_seed(), max_in_flight: window as usize, max_message_size: 65_507 };
    let dconfig = DatagramConfig { io: r.io, max_datagram: 65_535, recv_buffers: 32, ..DatagramConfig::default() };
    let mut runner = DatagramRunner::new(socket, SnmpManager::new(config), &dconfig, clock)?;
    let mut started = 0u32;
    let mut done = 0u32;
    while started < count.min(window) {
        let _ = runner.session_mut().start(clock.now(), r.target.clone(), request.clone());
        started += 1;
    }
    loop {
        runner.process()?;
        let mut more = false;
        while let Some(e) = runner.poll_event() {
            done += 1;
            on_event(e);
            if started < count {
                let _ = runner.session_mut().start(clock.now(), r.target.clone(), request.clone());
                started += 1;
                more = true;
            }
        }
        if done >= count || (runner.is_idle() && !more) {
            return Ok(());
        }
        if !more {
            runner.wait(runner.poll_timeout())?;
        }
    }
}

fn netsnmp(a: NetSnmp, kind: Kind) -> ExitCode {
    let fail = |msg: &str| {
        eprintln!("{msg}");
        ExitCode::from(1)
    };
    let sec = match security(
        &a.version,
        &a.community,
        a.level.as_deref(),
        a.user.as_deref(),
        &a.auth,
        a.auth_pass.as_deref(),
        &a.privacy,
        a.priv_pass.as_deref(),
        &a.context,
    ) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    let addr = match resolve_agent(&a.agent, 161) {
        Ok(x) => x,
        Err(e) => return fail(&e),
    };
    let oids = match parse_oids(a.oids.iter().map(String::as_str)) {
        Ok(o) => o,
        Err(e) => return fail(&e),
    };
    let request = match kind {
        Kind::Get => Request::Get(oids),
        Kind::GetNext => Request::GetNext(oids),
        Kind::Walk => match oids.as_slice() {
            [root] => Request::Walk { root: root.clone(), max_repetitions: a.max_repetitions },
            _ => return fail("walk takes one OID"),
        },
    };
    let r = Resolved {
        target: Target { addr, security: sec, timeout: seconds(a.timeout), retries: a.retries },
        io: a.io,
    };
    let t0 = std::time::Instant::now();
    let mut first: Option<SnmpEvent> = None;
    let (mut ok, mut failed) = (0u64, 0u64);
    let repeat = a.repeat.max(1);
    let res = drive(&r, &request, repeat, if repeat == 1 { 1 } else { a.concurrency }, |e| {
        match e.outcome {
            Outcome::Values(_) => ok += 1,
            Outcome::Failed(_) => failed += 1,
        }
        if first.is_none() {
            first = Some(e);
        }
    });
    if let Err(e) = res {
        return fail(&format!("bergamot-probe snmp: {e}"));
    }
    if repeat > 1 {
        eprintln!("{repeat} requests: {ok} answered, {failed} failed, {:.3} s", t0.elapsed().as_secs_f64());
    }
    let Some(event) = first else { return fail("no result") };
    let out = std::io::stdout();
    let mut out = out.lock();
    let code = match &event.outcome {
        Outcome::Values(vbs) => {
            for vb in vbs {
                let _ = writeln!(out, "{vb}");
            }
            0
        }
        Outcome::Failed(Failure::ErrorStatus { status, oid, .. }) => {
            let _ = out.flush();
            eprintln!("Error in packet\nReason: {}", reason(*status));
            if let Some(o) = oid {
                eprintln!("Failed object: {o}");
            }
            2
        }
        Outcome::Failed(Failure::Timeout { addr, hint, .. }) => {
            eprintln!("Timeout: No Response from {addr}. ({hint})");
            1
        }
        Outcome::Failed(f) => {
            eprintln!("snmp{}: {f}", match kind {
                Kind::Get => "get",
                Kind::GetNext => "getnext",
                Kind::Walk => "walk",
            });
            1
        }
    };
    let _ = out.flush();
    if failed > 0 && code == 0 { ExitCode::from(1) } else { ExitCode::from(code) }
}

/// net-snmp's wording of error-status values.
fn reason(s: ErrorStatus) -> String {
    let text = match s.0 {
        1 => "The response to your request was too large.",
        2 => "There is no such variable name in this MIB.",
        3 => "The value given has the wrong type or length.",
        4 => "The two parties used do not have access to use the specified SNMP PDU.",
        5 => "A general failure occured",
        6 => "There is no access available.",
        _ => "",
    };
    format!("({}) {text}", s.name())
}

fn check_mode(a: CheckSnmp) -> ExitCode {
    let unknown = |msg: String| {
        println!("SNMP UNKNOWN - {msg}");
        ExitCode::from(Status::Unknown.exit_code())
    };
    let level = Some(a.level.as_str());
    let sec = match security(
        &a.protocol,
        &a.community,
        level,
        a.user.as_deref(),
        &a.auth,
        a.auth_pass.as_deref(),
        &a.privacy,
        a.priv_pass.as_deref(),
        &a.context,
    ) {
        Ok(s) => s,
        Err(e) => return unknown(e),
    };
    let addr = match resolve_agent(&a.host, a.port) {
        Ok(x) => x,
        Err(e) => return unknown(e),
    };
    let oids = match parse_oids(a.oids.iter().map(String::as_str)) {
        Ok(o) => o,
        Err(e) => return unknown(e),
    };
    let th = match check::thresholds(a.warning.as_deref(), a.critical.as_deref(), oids.len()) {
        Ok(t) => t,
        Err(e) => return unknown(e.to_string()),
    };
    // check_snmp's -t bounds the whole check: spread it over the attempts.
    let attempts = a.retries.saturating_add(1);
    let per_try = seconds(a.timeout / f64::from(attempts));
    let r = Resolved { target: Target { addr, security: sec, timeout: per_try, retries: a.retries }, io: a.io };
    let mut result = None;
    if let Err(e) = drive(&r, &Request::Get(oids), 1, 1, |e| result = Some(e)) {
        return unknown(e.to_string());
    }
    let Some(event) = result else { return unknown("no result".into()) };
    let report = check::evaluate(&event.outcome, &th);
    println!("{}", report.output);
    ExitCode::from(report.status.exit_code())
}
