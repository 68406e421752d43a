//! Start-up of `bergamotd`: everything that can fail before monitoring begins fails
//! here, with a message that says what to do and an exit status per cause:
//!
//! | status | cause |
//! |---:|---|
//! | 2 | the configuration has errors (all of them are printed) |
//! | 3 | the data directory cannot be created, written or locked (another daemon?) |
//! | 4 | ICMP checks are configured but this process may not send ICMP |
//! | 5 | the probes' I/O backend cannot start (`--io`) |
//! | 6 | the HTTP address is in use, or not on loopback without `--http-public` |
//! | 7 | the store (`DATA/bergamot.db`) cannot be opened or migrated |

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::sync::Arc;

use bergamot_config::props::Key;
use bergamot_config::raw::Kind;
use bergamot_netprobes::accel::AccelLimits;
use bergamot_netprobes::driver::{DatagramKind, DatagramSocket, IoChoice};
use bergamot_netprobes::exec::ExecConfig;
use jiff::Timestamp;
use tracing::{info, warn};

use super::{Args, Clock, Started};
use crate::api::ReloadView;
use crate::engine::core::{Engine, EngineConfig};
use crate::engine::ops::Downtime;
use crate::exec::Runner;
use crate::plan::Plan;
use crate::store::{Retention, Store, StoreConfig};

#[derive(Debug)]
pub struct StartError {
    pub message: String,
    pub code: u8,
}

fn fail(code: u8, message: impl Into<String>) -> StartError {
    StartError { message: message.into(), code }
}

pub fn start(args: &Args, clock: Clock) -> Result<Started, StartError> {
    let io = parse_io(&args.io)?;
    let data = args.data_dir();
    let lock = data_dir(&data)?;
    let loaded = super::reload::load(&args.config, clock.now());
    let Some(plan) = loaded.plan else {
        eprint!("{}", loaded.diagnostics);
        return Err(fail(2, format!("the configuration has {} error(s); nothing was started", loaded.errors)));
    };
    if !loaded.diagnostics.is_empty() {
        warn!("the configuration has warnings; `bergamot-cli config validate` lists them");
    }
    for p in &plan.problems {
        warn!("{p}");
    }
    if uses_icmp(&plan) {
        icmp_allowed()?;
    }
    let http = match &args.http {
        Some(addr) if addr != "off" => {
            let addr: std::net::SocketAddr =
                addr.parse().map_err(|e| fail(6, format!("--http {addr}: not an address:port ({e})")))?;
            Some(crate::web::bind(addr, args.http_public).map_err(|e| fail(6, e.to_string()))?)
        }
        _ => None,
    };
    let config = StoreConfig {
        path: data.join("bergamot.db"),
        batch_window: std::time::Duration::from_millis(args.batch_ms.clamp(10, 60_000)),
        retention: Retention {
            raw: retention("--keep-raw", &args.keep_raw)?,
            five_minutes: retention("--keep-5m", &args.keep_5m)?,
            hourly: retention("--keep-hourly", &args.keep_hourly)?,
            history: retention("--keep-history", &args.keep_history)?,
        },
    };
    let (store, mut restored) = Store::open(config).map_err(|e| fail(7, format!("store: {e}")))?;
    let paths = plan.clone();
    store.writer().set_path_of(move |ix| paths.path(ix));
    let runner = Arc::new(Runner::new(io, AccelLimits::default(), ExecConfig::default()));
    let now = clock.now();
    let mut engine = Engine::new(plan.clone(), now, EngineConfig::default());
    restored.resolve_covers(|p| engine.find_path(p));
    let kept = engine.restore(now, &restored.states, restored.last_alert_id);
    let mut downtimes = 0;
    for d in &restored.downtimes {
        let (Ok(from), Some(Ok(to))) = (d.from.parse::<Timestamp>(), d.to.as_deref().map(str::parse::<Timestamp>))
        else {
            continue;
        };
        if d.cancelled.is_none()
            && to > now
            && engine.add_downtime(now, Downtime { id: d.id, path: d.path.clone(), from, to }).is_ok()
        {
            downtimes += 1;
        }
    }
    info!(
        "configuration {} loaded from {} in {:.0} ms: {} site(s), {} checks; state of {kept} restored, {downtimes} downtime(s)",
        loaded.version,
        args.config.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
        clock.uptime_ms(),
        plan.model.sites.len(),
        plan.len()
    );
    if let Some(last) = restored.config_version.as_deref().filter(|v| *v != loaded.version) {
        info!("the configuration changed while the daemon was stopped (version {last} before)");
    }
    // The start-up applies a configuration as a reload does: the API answers what
    // runs (its version) from the first moment, and the store records it.
    let applied = ReloadView {
        at: now.to_string(),
        ok: true,
        version: loaded.version.clone(),
        diagnostics: loaded.diagnostics,
        added: plan.len().saturating_sub(kept),
        // Saved checks this configuration no longer has (their rows stay: a start
        // with the wrong --config must not wipe the saved state).
        removed: restored.states.len().saturating_sub(kept),
        kept,
        took_ms: loaded.took_ms,
    };
    Ok(Started { plan, engine, runner, data, _lock: lock, store, http, version: loaded.version, applied })
}

/// A retention period: a number with `m`, `h` or `d` (minutes, hours, days).
fn retention(flag: &str, text: &str) -> Result<std::time::Duration, StartError> {
    let t = text.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = num.parse().map_err(|_| fail(1, format!("{flag} {text}: write a number and m, h or d (30d)")))?;
    let secs = match unit {
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(fail(1, format!("{flag} {text}: the unit is m, h or d (30d)"))),
    };
    Ok(std::time::Duration::from_secs(n.saturating_mul(secs)))
}

fn parse_io(text: &str) -> Result<IoChoice, StartError> {
    let choice = match text {
        "auto" => IoChoice::Auto,
        "io-uring" | "io_uring" | "uring" => IoChoice::IoUring,
        "epoll" => IoChoice::Epoll,
        other => return Err(fail(5, format!("--io {other}: use auto, io-uring or epoll"))),
    };
    choice.resolve_env().map_err(|e| fail(5, format!("probe I/O backend: {e}")))
}

/// Creates the data directory if needed and takes its lock.
fn data_dir(dir: &Path) -> Result<File, StartError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| fail(3, format!("cannot create the data directory {}: {e}", dir.display())))?;
    let path = dir.join("bergamotd.lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| fail(3, format!("cannot write in the data directory {}: {e}", dir.display())))?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).map_err(|_| {
        fail(
            3,
            format!(
                "another bergamotd is using the data directory {} (its lock {} is held)",
                dir.display(),
                path.display()
            ),
        )
    })?;
    let _ = file.set_len(0);
    let _ = std::io::Write::write_all(&mut &file, format!("{}\n", std::process::id()).as_bytes());
    Ok(file)
}

/// Whether a command of any site sends ICMP: the `ping` engine, or a `nagios`
/// command line of check_ping or check_icmp (run natively).
fn uses_icmp(plan: &Plan) -> bool {
    plan.model.sites.iter().any(|site| {
        site.table(Kind::Command).iter().any(|c| match c.props.text(Key::Engine) {
            Some("ping" | "icmp") => true,
            Some("nagios") => c
                .props
                .param("command_line")
                .is_some_and(|p| p.value.contains("check_ping") || p.value.contains("check_icmp")),
            _ => false,
        })
    })
}

/// ICMP needs a datagram ICMP socket (net.ipv4.ping_group_range) or a raw one
/// (root or CAP_NET_RAW).
fn icmp_allowed() -> Result<(), StartError> {
    if DatagramSocket::icmp_of(false, DatagramKind::IcmpDgram).is_ok() || DatagramSocket::icmp(false).is_ok() {
        return Ok(());
    }
    Err(fail(
        4,
        "ping checks are configured but this process may not send ICMP echo requests. Fix one of: \
         run bergamotd as root; give it the capability (`setcap cap_net_raw+ep $(command -v bergamotd)`); \
         or allow unprivileged ICMP for its group (`sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"`)",
    ))
}
