//! Native acceleration of `nagios` command lines, end to end: a line that
//! [`crate::native`] recognises (check_ping, check_icmp, check_nrpe, a one-OID
//! check_snmp, check_tcp) runs in-process on the sessions and the driver and comes back
//! as the [`PluginResult`] the plugin would have produced, same status and same text;
//! anything else — or a command with the per-command opt-out — runs the real plugin
//! through [`Executor`]. Not here: parsing flags (`native`), protocols (`session`).
//!
//! **Exact or not at all.** Where the plugin's output for a case is not known to be
//! reproduced exactly, the native run *declines* and the plugin runs instead, and the
//! result says why ([`Fallback::Declined`]). Before anything is sent: names that do not
//! resolve, no ICMP socket, check_snmp `-l`/`-u`/`-s`, check_nrpe `-d 0|2`, and the
//! check_tcp cases listed in `tcp`. After the answer (so the plugin then asks again):
//! ICMP errors instead of replies, an SNMP value of a type whose check_snmp rendering
//! is not reproduced (strings and addresses under thresholds, non-printable strings),
//! NRPE failures other than a timeout or a refused connection, SNMP failures other
//! than a timeout or v1 `noSuchName`.
//!
//! Where a session prints differently from its plugin (measured here against the
//! plugins and their peers) the difference is made up in this module, so the sessions
//! stay as they are: check_tcp's behaviour in `tcp`, check_snmp's and check_icmp's
//! wording in `wording`.
//!
//! **Where checks run.** An [`Accelerator`] shares its runners between checks (see
//! `engine`): every TCP and NRPE check goes through one stream runner, every SNMP
//! request through one manager per address family, so one io_uring instance serves
//! them all and their number at once is bounded ([`AccelLimits`]). A ping gets its
//! own ICMP socket. [`run_command_line`] uses the process's shared accelerator.
//!
//! Like `exec::run`, this is glue at the driver's level: it reads the clock (for the
//! duration and the overall timeout) and opens sockets through [`crate::driver`].

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures_lite::future;
use smol::Timer;

use crate::driver::{
    AsyncDriver, Backend, ConnEnd, DatagramConfig, DatagramKind, DatagramRunner, DatagramSocket, DriverError, IoChoice,
    Runner,
};
use crate::exec::{ChildExit, Executor, PluginCommand, PluginResult};
use crate::native::{
    AddressFamily, NativeRequest, NrpeAdh, NrpePackets, PingPlugin, PingThreshold, SnmpAuth, SnmpPriv, SnmpV3Level,
    SnmpVersion, native_request,
};
use crate::session::StreamSession;
use crate::session::nrpe::{NrpeEvent, NrpeFailure, NrpeQuery, NrpeSession};
use crate::session::ping::{CheckPing, PingConfig, PingSession, Threshold};
use crate::session::snmp::check;
use crate::session::snmp::{Request, Security, Target};
use crate::session::tls::TlsClient;
use crate::time::{Instant, MonotonicClock};
use crate::wire::icmp::Version as IcmpVersion;
use crate::wire::nrpe::{DEFAULT_MAX_BUFFER_LEN, Version as NrpeVersion};
use crate::wire::plugin::{PluginOutput, PluginStatus, Range, split_command_line};
use crate::wire::snmp::{AuthProtocol, Oid, PrivProtocol, UserKeys, Version as SnmpWireVersion};

mod engine;
mod tcp;
mod wording;

use engine::{AnyEvent, AnyStream};

use wording::{check_icmp_text, check_snmp_text, written_range};

/// How one command is to be run.
#[derive(Debug, Clone)]
pub struct AccelOptions {
    /// Run natively when the line is recognised; `false` is the per-command opt-out.
    pub native: bool,
    /// The whole check, native or not; `None`: the executor's timeout.
    pub timeout: Option<Duration>,
}

impl Default for AccelOptions {
    fn default() -> Self {
        AccelOptions { native: true, timeout: None }
    }
}

/// A result, and how it was obtained.
#[derive(Debug, Clone, PartialEq)]
pub struct AccelResult {
    /// As the executor would have returned it. Native runs set `exit` to the code the
    /// plugin would have exited with (there is no process).
    pub result: PluginResult,
    /// The check ran in-process.
    pub native: bool,
    /// Why the plugin ran instead (`None` when native).
    pub fallback: Option<Fallback>,
    /// Native runs: the exact text the plugin prints (stdout and stderr, as the
    /// executor's pipe would hold them). `None` for plugin runs, whose raw text the
    /// executor does not keep.
    pub text: Option<String>,
    /// The backend a native run used.
    pub backend: Option<Backend>,
}

/// Why a command ran as a plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fallback {
    /// The per-command opt-out.
    OptedOut,
    /// Not a program or not flags that `native` recognises.
    NotRecognised,
    /// Recognised, but this case is not reproduced exactly (see the module docs).
    Declined(String),
}

impl std::fmt::Display for Fallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fallback::OptedOut => f.write_str("native runs are off for this command"),
            Fallback::NotRecognised => f.write_str("not a command line that runs natively"),
            Fallback::Declined(why) => write!(f, "declined natively: {why}"),
        }
    }
}

/// A native run that gives way to the plugin, with the reason.
#[derive(Debug)]
struct Declined(String);

fn declined(why: impl Into<String>) -> Declined {
    Declined(why.into())
}

impl From<DriverError> for Declined {
    fn from(e: DriverError) -> Self {
        Declined(e.to_string())
    }
}

/// What a plugin would print, and its exit code.
#[derive(Debug)]
struct Printed {
    code: u8,
    text: String,
}

fn printed(code: u8, text: impl Into<String>) -> Printed {
    Printed { code, text: text.into() }
}

/// Splits `line` (SEMANTICS.md §9) and runs it on the process's shared
/// [`Accelerator`]; see [`Accelerator::run_argv`].
pub async fn run_command_line(line: &str, opts: &AccelOptions, executor: &Executor) -> AccelResult {
    Accelerator::shared().run_command_line(line, opts, executor).await
}

/// Runs `argv` on the process's shared [`Accelerator`].
pub async fn run_argv(argv: &[String], opts: &AccelOptions, executor: &Executor) -> AccelResult {
    Accelerator::shared().run_argv(argv, opts, executor).await
}

/// Sizes of an [`Accelerator`]'s shared runners, allocated on first use.
#[derive(Debug, Clone)]
pub struct AccelLimits {
    /// TCP and NRPE checks connected at once; more wait for a slot.
    pub connections: usize,
    /// SNMP requests in flight at once, per address family; more wait.
    pub snmp_in_flight: usize,
    /// Checks at once to one address and port (an NRPE daemon, an SNMP agent, a TCP
    /// service); more wait, so a burst of checks does not overrun a server's listen
    /// backlog or socket buffer.
    pub per_destination: usize,
}

impl Default for AccelLimits {
    fn default() -> Self {
        AccelLimits { connections: 1024, snmp_in_flight: 4096, per_destination: 4 }
    }
}

/// Runs command lines natively on shared runners — one stream runner for TCP and
/// NRPE, one SNMP manager per address family, started on first use on smol's global
/// executor — or as plugins. Pings get a socket per check (the session pings a fixed
/// list of hosts). A runner that cannot start makes its checks fall back to plugins.
#[derive(Debug)]
pub struct Accelerator {
    io: IoChoice,
    limits: AccelLimits,
    clock: MonotonicClock,
    streams: OnceLock<Result<engine::StreamEngine, String>>,
    /// IPv4, IPv6.
    snmp: [OnceLock<Result<engine::SnmpEngine, String>>; 2],
}

impl Accelerator {
    /// An accelerator whose native checks use the I/O backend `io`.
    pub fn new(io: IoChoice, limits: AccelLimits) -> Self {
        Accelerator {
            io,
            limits,
            clock: MonotonicClock::new(),
            streams: OnceLock::new(),
            snmp: [OnceLock::new(), OnceLock::new()],
        }
    }

    /// The process's accelerator: automatic backend (`BERGAMOT_IO` applies), default
    /// limits.
    pub fn shared() -> &'static Accelerator {
        static SHARED: OnceLock<Accelerator> = OnceLock::new();
        SHARED.get_or_init(|| Accelerator::new(IoChoice::Auto, AccelLimits::default()))
    }

    fn streams(&self) -> Result<&engine::StreamEngine, Declined> {
        let started = self.streams.get_or_init(|| {
            engine::StreamEngine::start(self.io, self.limits.connections, self.limits.per_destination, self.clock)
                .map_err(|e| e.to_string())
        });
        started.as_ref().map_err(|e| declined(e.clone()))
    }

    fn snmp(&self, v6: bool) -> Result<&engine::SnmpEngine, Declined> {
        let slot = self.snmp.get(usize::from(v6)).ok_or_else(|| declined("address family"))?;
        let started = slot.get_or_init(|| {
            engine::SnmpEngine::start(
                self.io,
                v6,
                self.limits.snmp_in_flight,
                self.limits.per_destination,
                random_u64(),
                self.clock,
            )
            .map_err(|e| e.to_string())
        });
        started.as_ref().map_err(|e| declined(e.clone()))
    }

    /// Splits `line` (SEMANTICS.md §9) and runs it; see [`Accelerator::run_argv`].
    pub async fn run_command_line(&self, line: &str, opts: &AccelOptions, executor: &Executor) -> AccelResult {
        match split_command_line(line) {
            Ok(argv) => self.run_argv(&argv, opts, executor).await,
            Err(e) => AccelResult {
                result: PluginResult::not_started(format!("cannot split the command line: {e}")),
                native: false,
                fallback: Some(Fallback::NotRecognised),
                text: None,
                backend: None,
            },
        }
    }

    /// Runs `argv` natively when allowed and recognised, else (or when the native run
    /// declines) as a plugin.
    pub async fn run_argv(&self, argv: &[String], opts: &AccelOptions, executor: &Executor) -> AccelResult {
        let timeout = opts.timeout.unwrap_or(executor.config().timeout);
        let clock = MonotonicClock::new();
        let mut plugin_timeout = timeout;
        let fallback = match (opts.native, native_request(argv)) {
            (false, _) => Fallback::OptedOut,
            (true, None) => Fallback::NotRecognised,
            (true, Some(request)) => match self.run_native(argv, &request, timeout, executor.config().max_output).await
            {
                Ok(done) => return done,
                Err(Declined(why)) => {
                    // A run declined after its answer used part of the check's time:
                    // the plugin gets the rest in whole seconds (a decline before
                    // sending costs none), but at least a second to start and answer.
                    let spent = Duration::from_secs(clock.now().saturating_since(Instant::ZERO).as_secs());
                    plugin_timeout = timeout.saturating_sub(spent).max(Duration::from_secs(1)).min(timeout);
                    Fallback::Declined(why)
                }
            },
        };
        let command = PluginCommand { argv: argv.to_vec(), timeout: Some(plugin_timeout) };
        AccelResult {
            result: executor.run(&command).await,
            native: false,
            fallback: Some(fallback),
            text: None,
            backend: None,
        }
    }
}

/// Renders a result's output as plugin text: `summary|perfdata`, then the long
/// output. Perfdata comes out in its canonical form (`PerfData`'s `Display`).
pub fn render_output(output: &PluginOutput) -> String {
    let mut text = output.summary.clone();
    if !output.perfdata.is_empty() {
        text.push('|');
        let items: Vec<String> = output.perfdata.iter().map(ToString::to_string).collect();
        text.push_str(&items.join(" "));
    }
    text.push('\n');
    if !output.long_output.is_empty() {
        text.push_str(&output.long_output);
        text.push('\n');
    }
    text
}

impl Accelerator {
    async fn run_native(
        &self,
        argv: &[String],
        request: &NativeRequest,
        timeout: Duration,
        max_output: usize,
    ) -> Result<AccelResult, Declined> {
        let clock = MonotonicClock::new();
        let started = clock.now();
        let run = async {
            Some(match request {
                NativeRequest::Ping { .. } => ping(request, self.io, clock).await,
                NativeRequest::Nrpe { .. } => nrpe(request, self).await,
                NativeRequest::Snmp { .. } => snmp(argv, request, self).await,
                NativeRequest::Tcp { .. } => tcp::tcp(argv, request, self).await,
            })
        };
        let limit = async {
            Timer::after(timeout).await;
            None
        };
        let outcome = future::or(run, limit).await;
        let duration = clock.now().saturating_since(started);
        let Some(outcome) = outcome else {
            // As the executor reports a plugin it had to kill.
            let mut result = PluginResult::not_started(format!("plugin timed out after {}", seconds(timeout)));
            result.status = PluginStatus::Timeout;
            result.duration = duration;
            return Ok(AccelResult { result, native: true, fallback: None, text: None, backend: None });
        };
        let (Printed { code, text }, backend) = outcome?;
        // The executor keeps at most `max_output` bytes; so does this.
        let mut kept = text.as_str();
        if kept.len() > max_output {
            let mut end = max_output;
            while !kept.is_char_boundary(end) {
                end -= 1;
            }
            kept = kept.get(..end).unwrap_or_default();
        }
        let result = PluginResult {
            status: PluginStatus::from_exit_code(i32::from(code)),
            exit: Some(ChildExit::Code(i32::from(code))),
            output: PluginOutput::parse_str(kept),
            output_bytes: text.len() as u64,
            truncated: kept.len() < text.len(),
            duration,
        };
        Ok(AccelResult { result, native: true, fallback: None, text: Some(text), backend: Some(backend) })
    }
}

/// The executor's wording of a timeout.
fn seconds(d: Duration) -> String {
    if d.subsec_nanos() == 0 { format!("{}s", d.as_secs()) } else { format!("{:.3}s", d.as_secs_f64()) }
}

/// Resolves `host` as the plugins do (an address literal as is, else the first
/// address of the family getaddrinfo gives); a name that does not resolve is left to
/// the plugin, which words it its own way.
async fn resolve(host: &str, port: u16, family: AddressFamily) -> Result<SocketAddr, Declined> {
    let fits = |ip: &IpAddr| match family {
        AddressFamily::Any => true,
        AddressFamily::V4 => ip.is_ipv4(),
        AddressFamily::V6 => ip.is_ipv6(),
    };
    if let Ok(ip) = host.parse::<IpAddr>() {
        return if fits(&ip) { Ok(SocketAddr::new(ip, port)) } else { Err(declined("address of the other family")) };
    }
    let name = host.to_owned();
    // getaddrinfo blocks: on smol's blocking pool.
    let addrs = smol::unblock(move || (name.as_str(), port).to_socket_addrs().map(Vec::from_iter)).await;
    addrs
        .ok()
        .and_then(|a| a.into_iter().find(|a| fits(&a.ip())))
        .ok_or_else(|| declined(format!("{host} does not resolve")))
}

/// A value other probes on the host (and other runs here) are unlikely to share:
/// echo identifiers, SNMP request ids.
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    h.finish()
}

// ------------------------------------------------------------------- ICMP

async fn ping(request: &NativeRequest, io: IoChoice, clock: MonotonicClock) -> Result<(Printed, Backend), Declined> {
    let NativeRequest::Ping { plugin, host, family, warn, crit, packets, interval, timeout } = request else {
        return Err(declined("not a ping request"));
    };
    let addr = resolve(host, 0, *family).await?.ip();
    let version = IcmpVersion::of(addr);
    // A check pings one host: a datagram ICMP socket, where allowed, gets only its own
    // replies, where a raw one gets every echo reply on the host (and every other
    // check's), so it is tried first.
    let v6 = version == IcmpVersion::V6;
    let socket = match DatagramSocket::icmp_of(v6, DatagramKind::IcmpDgram) {
        Ok(s) => s,
        Err(_) => DatagramSocket::icmp(v6)?,
    };
    let spacing = *interval * packets.saturating_sub(1);
    // How long the plugin waits: check_ping runs `ping -w TIMEOUT`; check_icmp stops
    // after its "max completion time" (packets, their spacing and the critical RTA).
    let limit = match plugin {
        PingPlugin::CheckPing => *timeout,
        PingPlugin::CheckIcmp => (spacing + *interval + crit.rta * (packets + 1)).min(*timeout),
    };
    let salt = random_u64();
    let config = PingConfig {
        count: *packets,
        interval: *interval,
        pacing: Duration::ZERO,
        // Every packet may wait for what is left after the last one is sent.
        timeout: limit.saturating_sub(spacing).max(Duration::from_millis(100)),
        data_len: 56,
        ident: salt as u16,
        cookie: (salt >> 32) as u32,
        // The kernel rewrites the identifier of unprivileged ICMP sockets.
        check_ident: socket.kind() == DatagramKind::IcmpRaw,
        first_seq: 0,
    };
    let start = clock.now();
    let session = PingSession::new(config, version, [addr], start).map_err(|e| declined(e.to_string()))?;
    let small = DatagramConfig { io, recv_buffers: 8, send_slots: 8, socket_recv_buffer: None, ..Default::default() };
    let mut driver = AsyncDriver::new(DatagramRunner::new(socket, session, &small, clock)?)?;
    let backend = driver.get_ref().backend();
    let deadline = Timer::after(limit);
    let run = async {
        while driver.next_event().await?.is_some() {}
        Ok::<_, DriverError>(())
    };
    future::or(run, async {
        deadline.await;
        Ok(())
    })
    .await?;
    let stats = driver.get_ref().session().target(0).map(|(_, s)| *s).unwrap_or_default();
    if stats.errors > 0 {
        return Err(declined("ICMP errors came back: the plugin words them"));
    }
    let out = match plugin {
        PingPlugin::CheckPing => {
            let check = CheckPing { warning: ping_threshold(warn), critical: ping_threshold(crit) };
            let r = check.evaluate(&stats);
            printed(r.status as u8, format!("{}\n", r.output))
        }
        PingPlugin::CheckIcmp => check_icmp_text(host, &stats, warn, crit),
    };
    Ok((out, backend))
}

fn ping_threshold(t: &PingThreshold) -> Threshold {
    // Nanoseconds to milliseconds: exact for the thresholds people write.
    Threshold { rta_ms: t.rta.as_nanos() as f64 / 1e6, loss_pct: u32::from(t.loss_percent) }
}

// ------------------------------------------------------------------- NRPE

/// check_nrpe's state names, by exit code.
const STATE_NAMES: [&str; 4] = ["OK", "WARNING", "CRITICAL", "UNKNOWN"];

/// The OpenSSL context of anonymous-DH NRPE checks, built once: it also caches TLS
/// sessions per server, so later checks resume.
#[cfg(feature = "nrpe-adh")]
fn adh_connector() -> Result<&'static crate::session::tls::AdhConnector, Declined> {
    static CONNECTOR: OnceLock<Result<crate::session::tls::AdhConnector, String>> = OnceLock::new();
    CONNECTOR
        .get_or_init(|| crate::session::tls::AdhConnector::new().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| declined(e.clone()))
}

fn nrpe_tls(tls: bool, adh: NrpeAdh, addr: SocketAddr) -> Result<Option<TlsClient>, Declined> {
    if !tls {
        return Ok(None);
    }
    if adh != NrpeAdh::Allow {
        return Err(declined("check_nrpe -d other than 1 is not modelled"));
    }
    #[cfg(feature = "nrpe-adh")]
    {
        let peer = addr.to_string();
        TlsClient::openssl_resuming(adh_connector()?, &peer).map(Some).map_err(|e| declined(e.to_string()))
    }
    #[cfg(not(feature = "nrpe-adh"))]
    {
        let _ = addr;
        Err(declined("built without anonymous-DH TLS (feature nrpe-adh)"))
    }
}

async fn nrpe(request: &NativeRequest, accel: &Accelerator) -> Result<(Printed, Backend), Declined> {
    let NativeRequest::Nrpe { host, port, command, args, tls, adh, packets, family, timeout, timeout_status } = request
    else {
        return Err(declined("not an NRPE request"));
    };
    let addr = resolve(host, *port, *family).await?;
    let engine = accel.streams()?;
    let version = match packets {
        NrpePackets::Auto => NrpeVersion::V4,
        NrpePackets::V2Only => NrpeVersion::V2,
        NrpePackets::V3Only => NrpeVersion::V3,
    };
    let mut query = NrpeQuery {
        command: command.clone(),
        args: args.clone(),
        version,
        timeout: *timeout,
        max_buffer: DEFAULT_MAX_BUFFER_LEN,
        fallback_to_v2: *packets == NrpePackets::Auto,
    };
    let state = timeout_status.exit_code();
    // At most two connections: v4, then v2 when the server hung up on v4.
    for _ in 0..2 {
        let tls = nrpe_tls(*tls, *adh, addr)?;
        // Refused here, before queueing, if the query cannot be encoded.
        query.packet().map_err(|e| declined(e.to_string()))?;
        let q = query.clone();
        let make: engine::MakeSession =
            Box::new(move |now| NrpeSession::new(now, &q, tls).map(AnyStream::Nrpe).map_err(|e| e.to_string()));
        let run = engine.run(addr, make).await?;
        let backend = engine.backend();
        let mut events: Vec<NrpeEvent> =
            run.events.into_iter().filter_map(|e| if let AnyEvent::Nrpe(e) = e { Some(e) } else { None }).collect();
        if let Some((end, AnyStream::Nrpe(mut session), at)) = run.closed {
            match end {
                _ if session.is_done() => {}
                ConnEnd::ConnectFailed(errno) => {
                    // ConnEnd prints the system's wording of the errno.
                    let why = ConnEnd::ConnectFailed(errno).to_string();
                    let (ip, port) = (addr.ip(), addr.port());
                    let text = format!(
                        "connect to address {ip} port {port}: {why}\nconnect to host {host} port {port}: {why}\n"
                    );
                    return Ok((printed(state, text), backend));
                }
                ConnEnd::ConnectTimedOut => return Err(declined("connect timed out")),
                ConnEnd::Failed(_) | ConnEnd::PeerClosed | ConnEnd::Done => {
                    session.handle_reset(at);
                    events.extend(session.poll_event());
                }
            }
        }
        let out = match events.into_iter().next() {
            Some(NrpeEvent::RetryWithV2) => {
                query = query.for_v2_retry();
                continue;
            }
            Some(NrpeEvent::Answer(a)) => {
                let code = u8::try_from(a.result_code).ok().filter(|c| *c <= 3).unwrap_or(3);
                if a.text.is_empty() {
                    printed(code, "NRPE: Unable to read output\n")
                } else {
                    printed(code, format!("{}\n", a.text))
                }
            }
            Some(NrpeEvent::Failed(NrpeFailure::Timeout { timeout, .. })) => {
                let name = STATE_NAMES.get(usize::from(state)).copied().unwrap_or("UNKNOWN");
                let text = format!("CHECK_NRPE STATE {name}: Socket timeout after {} seconds.\n", timeout.as_secs());
                printed(state, text)
            }
            Some(NrpeEvent::Failed(f)) => return Err(declined(format!("NRPE failure worded by check_nrpe: {f}"))),
            None => return Err(declined("the NRPE check ended without a result")),
        };
        return Ok((out, backend));
    }
    Err(declined("the server hung up on v2 packets too"))
}

// ------------------------------------------------------------------- SNMP

/// Localized-key derivation hashes a megabyte per password: derived keys are kept
/// for the credentials last used (a few at most in any configuration).
fn user_keys(user: &str, level: &SnmpV3Level) -> Result<Arc<UserKeys>, Declined> {
    type Cached = (String, String, Arc<UserKeys>);
    static CACHE: Mutex<Vec<Cached>> = Mutex::new(Vec::new());
    const KEPT: usize = 64;
    let id = format!("{level:?}");
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, _, keys)) = cache.iter().find(|(u, l, _)| u == user && *l == id) {
        return Ok(keys.clone());
    }
    let auth_proto = |a: SnmpAuth| if a == SnmpAuth::Md5 { AuthProtocol::Md5 } else { AuthProtocol::Sha1 };
    let priv_proto = |p: SnmpPriv| if p == SnmpPriv::Des { PrivProtocol::Des } else { PrivProtocol::Aes128 };
    let keys = match level {
        SnmpV3Level::NoAuthNoPriv => UserKeys::new(user.as_bytes(), None, None),
        SnmpV3Level::AuthNoPriv { auth, auth_password } => {
            UserKeys::new(user.as_bytes(), Some((auth_proto(*auth), auth_password.as_bytes())), None)
        }
        SnmpV3Level::AuthPriv { auth, auth_password, privacy, priv_password } => UserKeys::new(
            user.as_bytes(),
            Some((auth_proto(*auth), auth_password.as_bytes())),
            Some((priv_proto(*privacy), priv_password.as_bytes())),
        ),
    };
    let keys = Arc::new(keys.map_err(|e| declined(e.to_string()))?);
    if cache.len() >= KEPT {
        cache.clear();
    }
    cache.push((user.to_owned(), id, keys.clone()));
    Ok(keys)
}

async fn snmp(argv: &[String], request: &NativeRequest, accel: &Accelerator) -> Result<(Printed, Backend), Declined> {
    let NativeRequest::Snmp { host, port, version, oid, warn, crit, expect, label, units, family, timeout, retries } =
        request
    else {
        return Err(declined("not an SNMP request"));
    };
    if expect.is_some() || label.is_some() || units.is_some() {
        return Err(declined("check_snmp -s, -l and -u are not modelled"));
    }
    let text = |r: &Option<Range>| match r {
        None => Ok(None),
        Some(r) => written_range(argv, r).map(Some).ok_or_else(|| declined("threshold written ambiguously")),
    };
    let (warn_text, crit_text) = (text(warn)?, text(crit)?);
    let thresholds =
        check::thresholds(warn_text.as_deref(), crit_text.as_deref(), 1).map_err(|e| declined(e.to_string()))?;
    let oid: Oid<'static> = oid.parse().map_err(|_| declined("OID"))?;
    let addr = resolve(host, *port, *family).await?;
    let security = match version {
        SnmpVersion::V1 { community } => {
            Security::Community { version: SnmpWireVersion::V1, community: community.as_bytes().to_vec() }
        }
        SnmpVersion::V2c { community } => {
            Security::Community { version: SnmpWireVersion::V2c, community: community.as_bytes().to_vec() }
        }
        SnmpVersion::V3 { user, level } => {
            let (user, level) = (user.clone(), level.clone());
            let keys = smol::unblock(move || user_keys(&user, &level)).await?;
            Security::Usm { keys, context_name: Vec::new() }
        }
    };
    let target = Target { addr, security, timeout: *timeout, retries: *retries };
    let engine = accel.snmp(addr.is_ipv6())?;
    let event = engine.run(target, Request::Get(vec![oid.clone()])).await?;
    let backend = engine.backend();
    let out = check_snmp_text(&event.outcome, &thresholds, &oid)?;
    Ok((out, backend))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_output_reparses_to_the_same() {
        let out = PluginOutput::parse_str("PING OK - Packet loss = 0%|rta=0.04ms;100;200;0 pl=0%;20;40;0\nmore\n");
        let text = render_output(&out);
        assert_eq!(text, "PING OK - Packet loss = 0%|rta=0.04ms;100;200;0 pl=0%;20;40;0\nmore\n");
        assert_eq!(PluginOutput::parse_str(&text), out);
    }
}
