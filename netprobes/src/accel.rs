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
//! **Native only.** The daemon's engines `ping`, `nrpe`, `snmp` and `tcp` are no
//! plugin emulations: [`Accelerator::run_native_only`] runs their request with no
//! plugin to fall back to, and words natively what would decline here — the plugin's
//! words where they are reproduced, else the session's (`… UNKNOWN - cannot resolve
//! host x`, the value as it is, the ICMP error named after the loss).
//!
//! Where a session prints differently from its plugin (measured here against the
//! plugins and their peers) the difference is made up in this module, so the sessions
//! stay as they are: check_tcp's behaviour in `tcp`, check_snmp's and check_icmp's
//! wording in `wording`.
//!
//! **Where checks run.** An [`Accelerator`] shares its runners between checks (see
//! `engine` and `pinger`): every TCP and NRPE check goes through one stream runner,
//! every SNMP request through one manager per address family, every ping through one
//! pinger per family on one ICMP socket, so one io_uring instance serves them all and
//! their number at once is bounded ([`AccelLimits`]). [`run_command_line`] uses the
//! process's shared accelerator.
//!
//! Like `exec::run`, this is glue at the driver's level: it reads the clock (for the
//! duration and the overall timeout) and opens sockets through [`crate::driver`].

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::OnceLock;
use std::time::Duration;

use futures_lite::future;
use smol::Timer;

use crate::driver::{Backend, DriverError, IoChoice};
use crate::exec::{ChildExit, Executor, PluginCommand, PluginResult};
use crate::native::{AddressFamily, NativeRequest, PingPlugin, PingThreshold, native_request};
use crate::session::ping::{CheckPing, Threshold};
use crate::session::pinger::PingParams;
use crate::time::{Instant, MonotonicClock};
use crate::wire::icmp::Version as IcmpVersion;
use crate::wire::plugin::{PluginOutput, PluginStatus, split_command_line};

mod engine;
mod nrpe;
mod pinger;
mod snmp;
mod tcp;
mod wording;

use wording::check_icmp_text;

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

/// Whose words a native run uses where the plugin's are not reproduced.
#[derive(Debug, Clone, Copy)]
enum Wording<'a> {
    /// The plugin's, from its command line (check_snmp prints thresholds as written,
    /// check_tcp the host only when given with `-H`); other cases decline.
    Plugin(&'a [String]),
    /// Our own ([`Accelerator::run_native_only`]): nothing declines for wording.
    Native,
}

impl Wording<'_> {
    fn native(self) -> bool {
        matches!(self, Wording::Native)
    }
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

/// Sizes of an [`Accelerator`]'s shared runners, allocated on first use. Pings are
/// bounded by [`PING_CHECKS`] per address family.
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

/// Ping checks at once per address family; more wait in the pinger's queue. 1,200
/// pings a second that each last up to 10 s (check_ping's default timeout, every
/// host down) are 12,000 at once.
pub const PING_CHECKS: usize = 16_384;

/// Runs command lines natively on shared runners — one stream runner for TCP and
/// NRPE, one SNMP manager and one pinger per address family, started on first use on
/// smol's global executor — or as plugins. A runner that cannot start makes its
/// checks fall back to plugins.
#[derive(Debug)]
pub struct Accelerator {
    io: IoChoice,
    limits: AccelLimits,
    clock: MonotonicClock,
    streams: OnceLock<Result<engine::StreamEngine, String>>,
    /// IPv4, IPv6.
    snmp: [OnceLock<Result<engine::SnmpEngine, String>>; 2],
    /// IPv4, IPv6.
    ping: [OnceLock<Result<pinger::PingEngine, String>>; 2],
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
            ping: [OnceLock::new(), OnceLock::new()],
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

    /// The pinger of a family; its socket is opened on this thread, the first time.
    fn pinger(&self, v6: bool) -> Result<&pinger::PingEngine, Declined> {
        let slot = self.ping.get(usize::from(v6)).ok_or_else(|| declined("address family"))?;
        let started = slot.get_or_init(|| {
            pinger::PingEngine::start(self.io, v6, PING_CHECKS, random_u64(), self.clock).map_err(|e| e.to_string())
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
        let max_output = executor.config().max_output;
        let fallback = match (opts.native, native_request(argv)) {
            (false, _) => Fallback::OptedOut,
            (true, None) => Fallback::NotRecognised,
            (true, Some(request)) => match self.run_request(&request, Wording::Plugin(argv), timeout, max_output).await
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

    /// Runs `request` natively with no plugin to fall back to (the daemon's engines
    /// `ping`, `nrpe`, `snmp`, `tcp`): the same result as [`Accelerator::run_argv`]
    /// where that runs natively, and where it would decline a result worded here —
    /// UNKNOWN with the reason when the check cannot run at all (a name that does not
    /// resolve, no ICMP socket), else the session's verdict in its own words (see
    /// the module doc). Always `native`; `timeout` bounds the whole check (TIMEOUT
    /// after it) and `max_output` the output kept, as for a plugin.
    pub async fn run_native_only(&self, request: &NativeRequest, timeout: Duration, max_output: usize) -> AccelResult {
        let clock = MonotonicClock::new();
        match self.run_request(request, Wording::Native, timeout, max_output).await {
            Ok(done) => done,
            Err(Declined(why)) => {
                let label = match request {
                    NativeRequest::Ping { .. } => "PING",
                    NativeRequest::Nrpe { .. } => "NRPE",
                    NativeRequest::Snmp { .. } => "SNMP",
                    NativeRequest::Tcp { .. } => "TCP",
                };
                let out = printed(PluginStatus::Unknown.exit_code(), format!("{label} UNKNOWN - {why}\n"));
                native_result(out, None, clock.now().saturating_since(Instant::ZERO), max_output)
            }
        }
    }

    async fn run_request(
        &self,
        request: &NativeRequest,
        wording: Wording<'_>,
        timeout: Duration,
        max_output: usize,
    ) -> Result<AccelResult, Declined> {
        let clock = MonotonicClock::new();
        let started = clock.now();
        let run = async {
            Some(match request {
                NativeRequest::Ping { .. } => ping(request, self, wording).await,
                NativeRequest::Nrpe { .. } => nrpe::nrpe(request, self, wording).await,
                NativeRequest::Snmp { .. } => snmp::snmp(request, self, wording).await,
                NativeRequest::Tcp { .. } => tcp::tcp(request, self, wording).await,
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
            let what = if wording.native() { "check" } else { "plugin" };
            let mut result = PluginResult::not_started(format!("{what} timed out after {}", seconds(timeout)));
            result.status = PluginStatus::Timeout;
            result.duration = duration;
            return Ok(AccelResult { result, native: true, fallback: None, text: None, backend: None });
        };
        let (out, backend) = outcome?;
        Ok(native_result(out, Some(backend), duration, max_output))
    }
}

/// A native run's result from what the plugin would print.
fn native_result(out: Printed, backend: Option<Backend>, duration: Duration, max_output: usize) -> AccelResult {
    let Printed { code, text } = out;
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
    AccelResult { result, native: true, fallback: None, text: Some(text), backend }
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
    let wanted = if family == AddressFamily::V6 { "IPv6" } else { "IPv4" };
    if let Ok(ip) = host.parse::<IpAddr>() {
        return if fits(&ip) {
            Ok(SocketAddr::new(ip, port))
        } else {
            Err(declined(format!("{host} is not {wanted}")))
        };
    }
    let name = host.to_owned();
    // getaddrinfo blocks: on smol's blocking pool, a few at once.
    let addrs = blocking(move || (name.as_str(), port).to_socket_addrs().map(Vec::from_iter)).await;
    let addrs = addrs.map_err(|_| declined(format!("cannot resolve host {host}")))?;
    addrs.into_iter().find(|a| fits(&a.ip())).ok_or_else(|| declined(format!("host {host} has no {wanted} address")))
}

/// Runs `work` on smol's blocking pool, at most [`BLOCKING`] at once: the pool
/// starts a thread for every job that finds none idle (up to 500), so a burst of
/// checks by name would otherwise start a thread per check.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    static SLOTS: smol::lock::Semaphore = smol::lock::Semaphore::new(BLOCKING);
    let _slot = SLOTS.acquire().await;
    smol::unblock(work).await
}

/// Blocking calls at once (name resolution, SNMPv3 key derivation), so threads of
/// smol's blocking pool at once; an idle one exits after half a second.
pub const BLOCKING: usize = 4;

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

async fn ping(
    request: &NativeRequest,
    accel: &Accelerator,
    wording: Wording<'_>,
) -> Result<(Printed, Backend), Declined> {
    let NativeRequest::Ping { plugin, host, family, warn, crit, packets, interval, timeout } = request else {
        return Err(declined("not a ping request"));
    };
    let addr = resolve(host, 0, *family).await?.ip();
    let engine = accel.pinger(IcmpVersion::of(addr) == IcmpVersion::V6)?;
    let spacing = *interval * packets.saturating_sub(1);
    // How long the plugin waits: check_ping runs `ping -w TIMEOUT`; check_icmp stops
    // after its "max completion time" (packets, their spacing and the critical RTA).
    let limit = match plugin {
        PingPlugin::CheckPing => *timeout,
        PingPlugin::CheckIcmp => (spacing + *interval + crit.rta * (packets + 1)).min(*timeout),
    };
    let params = PingParams {
        count: *packets,
        interval: *interval,
        // Every packet may wait for what is left after the last one is sent.
        timeout: limit.saturating_sub(spacing).max(Duration::from_millis(100)),
        deadline: Some(limit),
    };
    let stats = engine.run(addr, params).await?;
    if stats.errors > 0 && !wording.native() {
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
    // Natively, the error is named after the loss it caused.
    let out = match stats.last_error {
        Some(e) => {
            let note = format!(" ({})", e.describe(IcmpVersion::of(addr)));
            let at = out.text.find('|').unwrap_or(out.text.trim_end().len());
            let mut text = out.text;
            text.insert_str(at, &note);
            printed(out.code, text)
        }
        None => out,
    };
    Ok((out, engine.backend()))
}

fn ping_threshold(t: &PingThreshold) -> Threshold {
    // Nanoseconds to milliseconds: exact for the thresholds people write.
    Threshold { rta_ms: t.rta.as_nanos() as f64 / 1e6, loss_pct: u32::from(t.loss_percent) }
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
