//! `bergamotd`, the driver: start-up (arguments, logging, configuration, data
//! directory, ICMP permission), then one event loop that asks the engine for due
//! checks, runs them on the probes, feeds results back, publishes events and writes
//! the daemon's health. The only layer that reads the clock and does I/O around the
//! pure engine.

mod bus;
mod clock;
mod events_file;
mod health;
mod startup;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use futures_lite::future;
use smol::channel::{Receiver, Sender};
use tracing::{error, info, warn};

use crate::engine::core::Engine;
use crate::engine::events::Event;
use crate::engine::{CheckIx, CheckResult};
use crate::exec::{ProbeSpec, Run, Runner, probe_spec};
use crate::plan::Plan;

pub use bus::{Bus, Subscription};
pub use clock::Clock;

/// Command line of `bergamotd`.
#[derive(Debug, Parser)]
#[command(name = "bergamotd", version, about = "Bergamot monitoring daemon (runs in the foreground)")]
pub struct Args {
    /// Configuration directory; repeat for several (loaded in the order given).
    #[arg(long = "config", required = true, value_name = "DIR")]
    pub config: Vec<PathBuf>,
    /// Directory for the daemon's state (created if missing).
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
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
}

/// A finished check, back from its task.
struct Done {
    ix: CheckIx,
    result: CheckResult,
}

fn run(started: Started, args: &Args, clock: Clock) -> ExitCode {
    let Started { plan, mut engine, runner, data, _lock } = started;
    let bus = Bus::new();
    let log_events = args.log_events;
    let _events_file = match &args.events {
        Some(path) => match events_file::start(path, &bus, plan.clone()) {
            Ok(handle) => Some(handle),
            Err(e) => {
                eprintln!("bergamotd: cannot open the events file {}: {e}", path.display());
                return ExitCode::from(3);
            }
        },
        None => None,
    };
    let signals = match async_signal::Signals::new([async_signal::Signal::Term, async_signal::Signal::Int]) {
        Ok(s) => s,
        Err(e) => {
            error!("cannot install signal handlers: {e}");
            return ExitCode::from(2);
        }
    };
    let mut health = health::Writer::new(&data, clock);
    let loop_plan = plan.clone();
    // The loop runs as a task on smol's executor thread, next to the probes' tasks:
    // a result reaching the engine is a queue push on the same thread, not a
    // cross-thread wake-up (those context switches were most of the daemon's CPU).
    // This thread only waits for it, without driving the reactor.
    let main_loop = smol::spawn(async move {
        let plan = loop_plan;
        let (tx, rx) = smol::channel::unbounded::<Done>();
        // The task of each check in flight (a check never runs twice at once), so a
        // stop can end them; see below.
        let mut tasks: Vec<Option<smol::Task<()>>> = std::iter::repeat_with(|| None).take(plan.len()).collect();
        let mut due = Vec::with_capacity(4096);
        let mut events = Vec::with_capacity(4096);
        let mut signals = signals;
        let mut next_health = clock.now();
        info!(
            "monitoring {} checks ({} scheduled) in {} site(s)",
            plan.len(),
            engine.scheduled(),
            plan.model.sites.len()
        );
        let code = loop {
            let now = clock.now();
            engine.poll(now, &mut due);
            for ix in due.drain(..) {
                health.started_one();
                // Built afresh for every run, not kept: measured at 100,000 checks a
                // minute, keeping them cost 50 MB and saved 1% of a core. Expressions
                // then also see the model as it is now.
                let spec = build_spec(&plan, ix);
                engine.set_class(ix, spec.class());
                let spec = spec.run;
                tasks[ix.index()] = Some(spawn_check(ix, spec, runner.clone(), tx.clone()));
            }
            engine.drain_events(&mut events);
            for e in events.drain(..) {
                if log_events {
                    info!("{} {}", plan.path(e.ix()), e);
                } else if matches!(e, Event::Alert { .. } | Event::Recovery { .. } | Event::Renotify { .. }) {
                    warn!("{} {}", plan.path(e.ix()), e);
                }
                bus.publish(e);
            }
            if now >= next_health {
                health.write(&engine, &plan);
                next_health = now + Duration::from_secs(10);
            }
            let wait =
                engine.next_deadline().map_or(Duration::from_secs(1), |d| clock.until(d)).min(clock.until(next_health));
            match wait_for(&rx, &mut signals, wait).await {
                Wake::Done(first) => {
                    let now = clock.now();
                    // Everything else that is ready, in one turn. The task has sent
                    // its result: dropping its handle ends nothing.
                    for d in std::iter::once(first).chain(std::iter::from_fn(|| rx.try_recv().ok())) {
                        tasks[d.ix.index()] = None;
                        engine.handle_result(now, d.ix, d.result);
                    }
                }
                Wake::Timer => {}
                Wake::Signal(sig) => {
                    info!("{sig:?}: stopping");
                    break 0u8;
                }
            }
        };
        // Checks in flight are abandoned, and must not outlive the daemon: cancelling
        // a task drops its run, and a dropped plugin run kills its process group
        // (netprobes' executor). Detached, a plugin would keep running after the stop
        // with nothing left to time it out.
        for task in tasks.iter_mut().filter_map(Option::take) {
            task.cancel().await;
        }
        (code, engine, health, bus)
    });
    let (code, engine, mut health, bus) = future::block_on(main_loop);
    health.write(&engine, &plan);
    // The events file gets everything published before the stop.
    drop(bus);
    if let Some(writer) = _events_file {
        let _ = writer.join();
    }
    info!("stopped");
    ExitCode::from(code)
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
fn spawn_check(ix: CheckIx, spec: Run, runner: Arc<Runner>, tx: Sender<Done>) -> smol::Task<()> {
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
        let _ = tx.send(Done { ix, result }).await;
    })
}

enum Wake {
    Done(Done),
    Timer,
    Signal(async_signal::Signal),
}

async fn wait_for(rx: &Receiver<Done>, signals: &mut async_signal::Signals, wait: Duration) -> Wake {
    use futures_lite::StreamExt;
    let done = async {
        match rx.recv().await {
            Ok(d) => Wake::Done(d),
            // Never: the loop holds a sender.
            Err(_) => Wake::Timer,
        }
    };
    let timer = async {
        smol::Timer::after(wait).await;
        Wake::Timer
    };
    let signal = async {
        match signals.next().await {
            Some(Ok(s)) => Wake::Signal(s),
            _ => future::pending().await,
        }
    };
    future::or(signal, future::or(done, timer)).await
}
