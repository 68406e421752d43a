//! `bergamotd`, the driver: start-up (arguments, logging, configuration, data
//! directory, ICMP permission), then one event loop that asks the engine for due
//! checks, runs them on the probes, feeds results back, publishes events and writes
//! the daemon's health. The only layer that reads the clock and does I/O around the
//! pure engine.

mod bus;
mod clock;
mod daemon;
mod events_file;
mod health;
mod reload;
mod startup;
mod views;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use futures_lite::future;
use smol::channel::Sender;
use tracing::{error, info, warn};

use self::daemon::Done;

use crate::engine::core::Engine;
use crate::engine::{CheckIx, CheckResult};
use crate::exec::{ProbeSpec, Run, Runner, probe_spec};
use crate::plan::Plan;

pub use bus::{Bus, Published, Subscription};
pub use clock::Clock;

/// Command line of `bergamotd`.
#[derive(Debug, Parser)]
#[command(name = "bergamotd", version, about = "Bergamot monitoring daemon (runs in the foreground)")]
pub struct Args {
    /// Configuration directory; repeat for several (loaded in the order given).
    #[arg(long = "config", required = true, value_name = "DIR")]
    pub config: Vec<PathBuf>,
    /// Directory for the daemon's state (created if missing). Default: $BERGAMOT_DATA,
    /// else /var/lib/bergamot as root, else $XDG_STATE_HOME/bergamot
    /// (~/.local/state/bergamot).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// I/O backend of the probes: auto, io-uring or epoll (default: auto, or $BERGAMOT_IO).
    #[arg(long, default_value = "auto")]
    pub io: String,
    /// Log filter: error, warn, info, debug or trace.
    #[arg(long)]
    pub log: Option<String>,
    /// Log every event (results, state changes, alerts) at info level.
    #[arg(long)]
    pub log_events: bool,
    /// Append every event to FILE as one JSON object per line.
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
    /// Address of the status page and JSON API; `off` for none.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    pub http: Option<String>,
    /// Allow --http on an address other than loopback (there is no login yet).
    #[arg(long)]
    pub http_public: bool,
    /// How long results may wait to be written to the store (a kill -9 loses at most
    /// this much), in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub batch_ms: u64,
    /// How long performance readings are kept as they came (`1d`, `12h`, `90m`).
    #[arg(long, value_name = "DURATION", default_value = "1d")]
    pub keep_raw: String,
    /// How long 5-minute rollups of readings are kept.
    #[arg(long = "keep-5m", value_name = "DURATION", default_value = "30d")]
    pub keep_5m: String,
    /// How long hourly rollups of readings are kept.
    #[arg(long, value_name = "DURATION", default_value = "365d")]
    pub keep_hourly: String,
    /// How long history lines, closed alerts, comments and ended downtimes are kept.
    #[arg(long, value_name = "DURATION", default_value = "365d")]
    pub keep_history: String,
}

impl Args {
    /// The data directory: `--data`, else the default for this user.
    pub fn data_dir(&self) -> PathBuf {
        if let Some(d) = &self.data {
            return d.clone();
        }
        if let Some(d) = std::env::var_os("BERGAMOT_DATA").filter(|d| !d.is_empty()) {
            return PathBuf::from(d);
        }
        if rustix::process::geteuid().is_root() {
            return PathBuf::from("/var/lib/bergamot");
        }
        let state = std::env::var_os("XDG_STATE_HOME")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
            .unwrap_or_else(|| PathBuf::from("."));
        state.join("bergamot")
    }
}

/// Entry point of the `bergamotd` binary.
pub fn main() -> ExitCode {
    let clock = Clock::start();
    let args = Args::parse();
    let level = args.log.clone().or_else(|| std::env::var("BERGAMOT_LOG").ok());
    init_logging(level.as_deref().unwrap_or("info"));
    match startup::start(&args, clock) {
        Ok(started) => run(started, &args, clock),
        Err(e) => {
            // Once, without a log prefix: this is what the operator reads first.
            eprintln!("bergamotd: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}

fn init_logging(filter: &str) {
    let level = match filter.to_ascii_lowercase().as_str() {
        "error" => tracing::Level::ERROR,
        "warn" => tracing::Level::WARN,
        "debug" => tracing::Level::DEBUG,
        "trace" => tracing::Level::TRACE,
        _ => tracing::Level::INFO,
    };
    // Colours only for a terminal: journald and log files would keep the escapes.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(ansi)
        .try_init();
}

/// What start-up hands the event loop.
#[derive(Debug)]
pub struct Started {
    pub plan: Arc<Plan>,
    pub engine: Engine,
    pub runner: Arc<Runner>,
    pub data: PathBuf,
    /// Held for the daemon's life: a second daemon on the same data directory fails.
    pub _lock: std::fs::File,
    pub store: crate::store::Store,
    pub http: Option<smol::Async<std::net::TcpListener>>,
    /// The configuration's version (content hash).
    pub version: String,
    /// The start-up's load of it, answered as the last reload until there is one.
    pub applied: crate::api::ReloadView,
}

fn run(started: Started, args: &Args, clock: Clock) -> ExitCode {
    let Started { plan, engine, runner, data, _lock, store, http, version, applied } = started;
    let bus = Arc::new(Bus::new());
    let events_file = match &args.events {
        Some(path) => match events_file::start(path, &bus) {
            Ok(handle) => Some(handle),
            Err(e) => {
                error!("cannot open the events file {}: {e}", path.display());
                return ExitCode::from(3);
            }
        },
        None => None,
    };
    let signals = match async_signal::Signals::new([
        async_signal::Signal::Term,
        async_signal::Signal::Int,
        async_signal::Signal::Hup,
    ]) {
        Ok(s) => s,
        Err(e) => {
            error!("cannot install signal handlers: {e}");
            return ExitCode::from(1);
        }
    };
    let (call_tx, call_rx) = smol::channel::bounded::<crate::api::Call>(1024);
    let api = crate::api::ApiHandle::new(call_tx);
    let (stop_tx, stop_rx) = smol::channel::bounded::<()>(1);
    let web = match http {
        Some(listener) => match crate::web::StoreHistory::open(&store, 2) {
            Ok(history) => {
                let history: Arc<dyn crate::web::HistorySource + Send + Sync> = Arc::new(history);
                let url = listener.get_ref().local_addr().map(|a| format!("http://{a}/")).unwrap_or_default();
                info!("status page and API on {url}");
                let stop = async move {
                    let _ = stop_rx.recv().await;
                };
                Some(smol::spawn(crate::web::serve_with_clock(
                    listener,
                    api.clone(),
                    history,
                    move || clock.now(),
                    stop,
                )))
            }
            Err(e) => {
                error!("store: cannot open a reader for the web pages: {e}");
                return ExitCode::from(7);
            }
        },
        None => None,
    };
    let store = Arc::new(store);
    let health_store = store.clone();
    let daemon = daemon::Daemon {
        clock,
        config_dirs: args.config.clone(),
        plan: plan.clone(),
        engine,
        runner,
        bus: bus.clone(),
        health: health::Writer::new(&data, clock),
        writer: store.writer(),
        log_events: args.log_events,
        version,
        last_reload: Some(applied),
        store_health: Arc::new(move || serde_json::to_value(health_store.health()).unwrap_or_default()),
    };
    info!(
        "monitoring {} checks ({} scheduled) in {} site(s)",
        daemon.plan.len(),
        daemon.engine.scheduled(),
        daemon.plan.model.sites.len()
    );
    // The loop runs as a task on smol's executor thread, next to the probes' tasks:
    // a result reaching the engine is a queue push on the same thread, not a
    // cross-thread wake-up (those context switches were most of the daemon's CPU).
    // This thread only waits for it, without driving the reactor.
    let main_loop = smol::spawn(daemon::run(daemon, call_rx, signals));
    let mut daemon = future::block_on(main_loop);
    let _ = stop_tx.try_send(());
    if let Some(web) = web {
        future::block_on(web.cancel());
    }
    let store_health = (daemon.store_health)();
    daemon.health.write(&daemon.engine, &daemon.plan, store_health);
    drop(daemon);
    match Arc::try_unwrap(store) {
        Ok(store) => {
            if let Err(e) = store.close() {
                error!("store: {e}");
            }
        }
        Err(_) => warn!("store still in use at the stop; its last batch may be lost"),
    }
    // The events file gets everything published before the stop.
    drop(bus);
    if let Some(writer) = events_file {
        let _ = writer.join();
    }
    info!("stopped");
    ExitCode::SUCCESS
}

fn build_spec(plan: &Plan, ix: CheckIx) -> ProbeSpec {
    match plan.object(ix) {
        Some((site, obj, container)) => probe_spec(site, obj, container),
        None => ProbeSpec {
            engine: None,
            command: String::new(),
            params: Vec::new(),
            line: String::new(),
            run: crate::exec::Run::Broken {
                status: bergamot_config::status::Status::Error,
                output: "check not in the model".into(),
            },
        },
    }
}

/// Runs one check on the executor's threads; the result comes back on `tx`. A
/// panicking probe is reported as an ERROR result of that check, not a dead daemon.
/// Dropping the task cancels the run.
fn spawn_check(token: u64, spec: Run, runner: Arc<Runner>, tx: Sender<Done>) -> smol::Task<()> {
    smol::spawn(async move {
        let run = std::panic::AssertUnwindSafe(async { runner.run(&spec).await.0 });
        let result = match futures_lite::FutureExt::catch_unwind(run).await {
            Ok(r) => r,
            Err(_) => CheckResult::new(
                bergamot_config::status::Status::Error,
                "internal error while running this check (see the daemon's log)",
                jiff::Timestamp::now(),
            ),
        };
        let _ = tx.send(Done { token, result }).await;
    })
}
