//! `bergamot-probe nrpe`: check_nrpe's flags (`-H -p -c -a -n -t -u -2 -L`), output
//! and exit codes, plus `-A` (verify the server against a CA with rustls) and
//! `--repeat`/`--concurrency` to run many checks from one process (benchmarks). The
//! protocol is the library's `NrpeSession`; this file reads flags, connects, retries
//! with v2 packets when the session asks, and prints.

use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bergamot_netprobes::driver::{ConnEnd, ConnId, IoChoice, Runner, StreamConfig, StreamEvent, StreamRunner};
use bergamot_netprobes::session::StreamSession;
use bergamot_netprobes::session::nrpe::{NrpeAnswer, NrpeError, NrpeEvent, NrpeFailure, NrpeQuery, NrpeSession};
use bergamot_netprobes::session::tls::{self, TlsClient, TlsError};
use bergamot_netprobes::time::MonotonicClock;
use bergamot_netprobes::wire::nrpe::{DEFAULT_MAX_BUFFER_LEN, PORT, Version};
use rustls::pki_types::ServerName;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "bergamot-probe nrpe -H HOST [-p PORT] [-n] [-2] [-t SECONDS[:STATE]] [-u] [-c COMMAND [-a ARG...]]\n\
Without -c the server's version is asked (_NRPE_CHECK). -a must come last."
)]
pub struct Args {
    /// The host running the NRPE daemon.
    #[arg(short = 'H', long = "host", value_name = "HOST")]
    host: String,
    /// The daemon's port.
    #[arg(short = 'p', long = "port", default_value_t = PORT)]
    port: u16,
    /// The command the daemon should run.
    #[arg(short = 'c', long = "command", value_name = "COMMAND")]
    command: Option<String>,
    /// Arguments for the command (sent as command!a1!a2; must be the last option).
    #[arg(short = 'a', long = "args", num_args = 1.., allow_hyphen_values = true, value_name = "ARG")]
    args: Vec<String>,
    /// Plaintext: no TLS (the server must run with -n too).
    #[arg(short = 'n', long = "no-ssl")]
    no_ssl: bool,
    /// Only version 2 packets (no v4 first).
    #[arg(short = '2', long = "v2-packets-only")]
    v2_only: bool,
    /// Seconds for the whole check, and the state to report when they run out
    /// (OK, WARNING, CRITICAL, UNKNOWN or 0-3; default CRITICAL).
    #[arg(short = 't', long = "timeout", value_name = "SECONDS[:STATE]", default_value = "10")]
    timeout: String,
    /// Connection problems are UNKNOWN instead of CRITICAL.
    #[arg(short = 'u', long = "unknown-timeout")]
    unknown_timeout: bool,
    /// OpenSSL cipher list (default check_nrpe's "ALL:!MD5:@STRENGTH:@SECLEVEL=0").
    #[arg(short = 'L', long = "cipher-list", value_name = "LIST")]
    ciphers: Option<String>,
    /// Verify the server's certificate against this PEM file (rustls; the name
    /// checked is -H). Without it TLS is check_nrpe's: anonymous DH allowed, no
    /// verification.
    #[arg(short = 'A', long = "ca-cert-file", value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// Run the check this many times (benchmarks); prints a summary on stderr.
    #[arg(long = "repeat", value_name = "N", default_value_t = 1)]
    repeat: usize,
    /// With --repeat: checks in flight at once.
    #[arg(long = "concurrency", value_name = "K", default_value_t = 1)]
    concurrency: usize,
    /// I/O backend: auto (io_uring, else epoll), io-uring or epoll; default from
    /// BERGAMOT_IO.
    #[arg(long = "io", value_name = "BACKEND", default_value = "auto")]
    io: IoChoice,
}

const STATE_NAMES: [&str; 4] = ["OK", "WARNING", "CRITICAL", "UNKNOWN"];
const UNKNOWN: u8 = 3;

/// How one check ended.
#[derive(Debug)]
enum Outcome {
    Answer(NrpeAnswer),
    Failed(NrpeFailure),
    /// The TCP connection could not be made.
    Connect(std::io::Error),
}

/// Makes a TLS client per connection (OpenSSL contexts and rustls configs are built
/// once and shared).
#[derive(Clone)]
enum TlsMaker {
    Plain,
    Rustls(Arc<rustls::ClientConfig>, ServerName<'static>),
    /// With the session-cache key of the server.
    #[cfg(feature = "nrpe-adh")]
    OpenSsl(tls::AdhConnector, String),
}

impl TlsMaker {
    fn from_args(args: &Args) -> Result<TlsMaker, String> {
        if args.no_ssl {
            return Ok(TlsMaker::Plain);
        }
        let name = || {
            ServerName::try_from(args.host.clone()).map_err(|e| format!("-H {}: not a TLS server name: {e}", args.host))
        };
        if let Some(path) = &args.ca_file {
            let pem = std::fs::read(path).map_err(|e| format!("-A {}: {e}", path.display()))?;
            let config = tls::rustls_config_from_pem(&pem).map_err(|e| format!("-A {}: {e}", path.display()))?;
            return Ok(TlsMaker::Rustls(config, name()?));
        }
        #[cfg(feature = "nrpe-adh")]
        {
            let connector = match &args.ciphers {
                Some(list) => tls::AdhConnector::with_ciphers(list),
                None => tls::AdhConnector::new(),
            };
            let peer = format!("{}:{}", args.host, args.port);
            connector.map(|c| TlsMaker::OpenSsl(c, peer)).map_err(|e| e.to_string())
        }
        #[cfg(not(feature = "nrpe-adh"))]
        {
            // Without OpenSSL there is no anonymous DH: verified rustls is all we have.
            let config = tls::rustls_config_webpki_roots().map_err(|e| e.to_string())?;
            Ok(TlsMaker::Rustls(config, name()?))
        }
    }

    fn make(&self) -> Result<Option<TlsClient>, TlsError> {
        match self {
            TlsMaker::Plain => Ok(None),
            TlsMaker::Rustls(config, name) => TlsClient::rustls(config.clone(), name.clone()).map(Some),
            #[cfg(feature = "nrpe-adh")]
            TlsMaker::OpenSsl(c, peer) => TlsClient::openssl_resuming(c, peer).map(Some),
        }
    }
}

/// `-t SECONDS[:STATE]`.
fn parse_timeout(text: &str) -> Result<(Duration, u8), String> {
    let (secs, state) = match text.split_once(':') {
        Some((s, st)) => (s, Some(st)),
        None => (text, None),
    };
    let secs: f64 = secs.trim().parse().map_err(|_| format!("-t {text}: the interval is not a number"))?;
    if !(secs > 0.0 && secs.is_finite()) {
        return Err(format!("-t {text}: the interval must be positive"));
    }
    let state = match state.map(|s| s.trim().to_ascii_uppercase()) {
        None => 2,
        Some(s) => match STATE_NAMES.iter().position(|n| *n == s) {
            Some(i) => i as u8,
            None => match s.parse::<u8>() {
                Ok(n) if n <= 3 => n,
                _ => return Err(format!("-t {text}: the state must be OK, WARNING, CRITICAL, UNKNOWN or 0-3")),
            },
        },
    };
    Ok((Duration::from_secs_f64(secs), state))
}

pub fn run(args: Args) -> ExitCode {
    match run_inner(&args) {
        Ok(code) => ExitCode::from(code),
        Err(msg) => {
            println!("CHECK_NRPE: {msg}");
            ExitCode::from(UNKNOWN)
        }
    }
}

fn run_inner(args: &Args) -> Result<u8, String> {
    let (timeout, timeout_state) = parse_timeout(&args.timeout)?;
    let timeout_state = if args.unknown_timeout { UNKNOWN } else { timeout_state };
    let addr = (args.host.as_str(), args.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", args.host))?
        .next()
        .ok_or_else(|| format!("{} has no address", args.host))?;
    let query = NrpeQuery {
        command: args.command.clone().unwrap_or_default(),
        args: args.args.clone(),
        version: if args.v2_only { Version::V2 } else { Version::V4 },
        timeout,
        max_buffer: DEFAULT_MAX_BUFFER_LEN,
        fallback_to_v2: !args.v2_only,
    };
    // Refuse a query that cannot be encoded before connecting anywhere.
    query.packet().map_err(|e| e.to_string())?;
    let tls = TlsMaker::from_args(args)?;
    let clock = MonotonicClock::new();
    let repeat = args.repeat.max(1);
    let started = clock.now();
    let outcomes = run_checks(clock, addr, &query, &tls, repeat, args.concurrency.max(1), args.io)?;
    let elapsed = clock.now().saturating_since(started);

    let mut worst = 0u8;
    let mut counts = [0usize; 4];
    let resumed = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Answer(a) if a.tls.as_ref().is_some_and(|t| t.resumed)))
        .count();
    let mut first = None;
    for o in &outcomes {
        let (code, text) = render(o, addr, timeout_state, args.unknown_timeout);
        counts[usize::from(code.min(3))] += 1;
        worst = worst.max(code.min(3));
        first.get_or_insert((code, text));
    }
    let Some((code, (stdout, stderr))) = first else {
        return Err("no check ran".into());
    };
    print!("{stdout}");
    eprint!("{stderr}");
    if repeat == 1 {
        return Ok(code);
    }
    eprintln!(
        "{} checks in {:.3} s ({} at once): {} OK, {} WARNING, {} CRITICAL, {} UNKNOWN; {resumed} TLS sessions resumed",
        outcomes.len(),
        elapsed.as_secs_f64(),
        args.concurrency.max(1),
        counts[0],
        counts[1],
        counts[2],
        counts[3]
    );
    Ok(worst)
}

/// Exit code, stdout and stderr for one outcome, worded as check_nrpe words them.
fn render(o: &Outcome, addr: SocketAddr, timeout_state: u8, unknown: bool) -> (u8, (String, String)) {
    let conn_state = if unknown { UNKNOWN } else { 2 };
    match o {
        Outcome::Answer(a) => {
            let code = u8::try_from(a.result_code).ok().filter(|c| *c <= 3).unwrap_or(UNKNOWN);
            if a.text.is_empty() {
                return (code, ("NRPE: Unable to read output\n".into(), String::new()));
            }
            (code, (format!("{}\n", a.text), String::new()))
        }
        Outcome::Failed(NrpeFailure::Timeout { timeout, .. }) => {
            let name = STATE_NAMES[usize::from(timeout_state)];
            (
                timeout_state,
                (
                    format!("CHECK_NRPE STATE {name}: Socket timeout after {} seconds.\n", timeout.as_secs()),
                    String::new(),
                ),
            )
        }
        Outcome::Failed(f) => (UNKNOWN, (format!("CHECK_NRPE: {f}\n"), String::new())),
        Outcome::Connect(e) => {
            let why = e.to_string();
            let why = why.split(" (os error").next().unwrap_or(&why);
            let (ip, port) = (addr.ip(), addr.port());
            (
                conn_state,
                (
                    String::new(),
                    format!("connect to address {ip} port {port}: {why}\nconnect to host {ip} port {port}: {why}\n"),
                ),
            )
        }
    }
}

/// Runs `repeat` checks, at most `concurrency` at once, on the driver's stream
/// runner; a session that asks for v2 gets a new connection with v2 packets.
fn run_checks(
    clock: MonotonicClock,
    addr: SocketAddr,
    query: &NrpeQuery,
    tls: &TlsMaker,
    repeat: usize,
    concurrency: usize,
    io: IoChoice,
) -> Result<Vec<Outcome>, String> {
    let config = StreamConfig {
        io,
        max_connections: concurrency,
        read_buffers: u16::try_from(concurrency.clamp(4, 4096)).unwrap_or(4096),
        ..StreamConfig::default()
    };
    let mut runner = StreamRunner::<NrpeSession>::new(&config, clock).map_err(|e| e.to_string())?;
    let mut outcomes: Vec<Option<Outcome>> = (0..repeat).map(|_| None).collect();
    // Checks waiting for a connection slot: (index, query); retries go first.
    let mut pending: VecDeque<(usize, NrpeQuery)> = (0..repeat).map(|i| (i, query.clone())).collect();
    let mut conns: HashMap<ConnId, (usize, NrpeQuery)> = HashMap::with_capacity(concurrency);
    let mut left = repeat;
    while left > 0 {
        while runner.room() > 0 {
            let Some((i, q)) = pending.pop_front() else { break };
            let session = tls.make().map_err(NrpeFailure::Tls).and_then(|t| {
                NrpeSession::new(clock.now(), &q, t).map_err(|NrpeError::Query(e)| NrpeFailure::Protocol(e))
            });
            match session {
                Err(f) => {
                    outcomes[i] = Some(Outcome::Failed(f));
                    left -= 1;
                }
                Ok(session) => match runner.connect(addr, None, session) {
                    Ok(conn) => {
                        conns.insert(conn, (i, q));
                    }
                    Err(_) => {
                        pending.push_front((i, q));
                        break;
                    }
                },
            }
        }
        runner.process().map_err(|e| e.to_string())?;
        while let Some(ev) = runner.poll_event() {
            let (conn, event) = match ev {
                StreamEvent::Session { conn, event } => (conn, Some(event)),
                StreamEvent::Closed { conn, end, mut session, at } => {
                    let Some((i, q)) = conns.remove(&conn) else { continue };
                    // Only ends the session did not see itself still need a result.
                    let event = match end {
                        _ if session.is_done() => None,
                        ConnEnd::ConnectFailed(errno) => {
                            outcomes[i] =
                                Some(Outcome::Connect(std::io::Error::from_raw_os_error(errno.raw_os_error())));
                            left -= 1;
                            None
                        }
                        ConnEnd::ConnectTimedOut => {
                            outcomes[i] = Some(Outcome::Connect(std::io::ErrorKind::TimedOut.into()));
                            left -= 1;
                            None
                        }
                        ConnEnd::Failed(_) | ConnEnd::PeerClosed | ConnEnd::Done => {
                            session.handle_reset(at);
                            session.poll_event()
                        }
                    };
                    if let Some(event) = event {
                        settle(&mut outcomes, &mut pending, &mut left, i, &q, event);
                    }
                    continue;
                }
            };
            if let (Some(event), Some((i, q))) = (event, conns.get(&conn).cloned()) {
                settle(&mut outcomes, &mut pending, &mut left, i, &q, event);
            }
        }
        if left == 0 {
            break;
        }
        if runner.room() == 0 || pending.is_empty() {
            let until = runner.poll_timeout();
            runner.wait(until).map_err(|e| e.to_string())?;
        }
    }
    Ok(outcomes.into_iter().flatten().collect())
}

/// Records a session's event for check `i` (or queues its v2 retry).
fn settle(
    outcomes: &mut [Option<Outcome>],
    pending: &mut VecDeque<(usize, NrpeQuery)>,
    left: &mut usize,
    i: usize,
    q: &NrpeQuery,
    event: NrpeEvent,
) {
    let outcome = match event {
        NrpeEvent::RetryWithV2 => return pending.push_front((i, q.for_v2_retry())),
        NrpeEvent::Answer(a) => Outcome::Answer(a),
        NrpeEvent::Failed(f) => Outcome::Failed(f),
    };
    if let Some(slot) = outcomes.get_mut(i) {
        if slot.is_none() {
            *left -= 1;
        }
        *slot = Some(outcome);
    }
}
