//! `bergamot-probe exec`: runs one `nagios` command line as the daemon does — natively
//! when the library recognises it (check_ping, check_icmp, check_nrpe, check_snmp with
//! one OID, check_tcp), else as the real plugin — then prints the output and exits
//! with the plugin's status code. With `-v` it says on standard error how it ran;
//! `--repeat`/`--parallel` run it many times from one process (benchmarks).
//! The work is `bergamot_netprobes::accel`; this file reads flags and prints.

use std::process::ExitCode;
use std::time::Duration;

use bergamot_netprobes::accel::{AccelLimits, AccelOptions, AccelResult, Accelerator, render_output};
use bergamot_netprobes::driver::IoChoice;
use bergamot_netprobes::exec::{ChildExit, ExecConfig, Executor};
use bergamot_netprobes::wire::plugin::PluginStatus;

#[derive(Debug, clap::Args)]
#[command(after_help = "bergamot-probe exec [--no-native] [--timeout SECONDS] [-v] -- COMMAND ARG...\n\
bergamot-probe exec 'COMMAND LINE' (one argument: split as Nagios splits command lines)\n\
Exit codes: the plugin's (0-3); a plugin that timed out, could not start or died of a signal: 3.")]
pub struct Args {
    /// Run the real plugin even when the line could run natively (the per-command
    /// opt-out).
    #[arg(long = "no-native")]
    no_native: bool,
    /// Seconds for the whole check, native or not (default 60, Nagios' service check
    /// timeout).
    #[arg(long = "timeout", value_name = "SECONDS")]
    timeout: Option<f64>,
    /// Say on standard error whether the check ran natively, and if not why.
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    /// I/O backend of native runs: auto (io_uring, else epoll), io-uring or epoll;
    /// default from BERGAMOT_IO.
    #[arg(long = "io", value_name = "BACKEND", default_value = "auto")]
    io: IoChoice,
    /// Run the command this many times (benchmarks): the first result is printed,
    /// a summary goes to standard error, the exit code is the highest of all.
    #[arg(long = "repeat", value_name = "N", default_value_t = 1)]
    repeat: usize,
    /// With --repeat: checks at once (the executor runs as many plugins at once).
    #[arg(long = "parallel", value_name = "N", default_value_t = 1)]
    parallel: usize,
    /// Native checks at once to one address and port.
    #[arg(long = "per-destination", value_name = "N", default_value_t = AccelLimits::default().per_destination)]
    per_destination: usize,
    /// The command: one argument holding the whole line, or the program and its
    /// arguments (after `--`).
    #[arg(required = true, num_args = 1.., allow_hyphen_values = true, trailing_var_arg = true)]
    command: Vec<String>,
}

const UNKNOWN: u8 = 3;

pub fn run(args: Args) -> ExitCode {
    let mut config = ExecConfig::default();
    let mut opts = AccelOptions { native: !args.no_native, timeout: None };
    if let Some(t) = args.timeout {
        if !(t > 0.0 && t <= 1e6) {
            println!("bergamot-probe exec: --timeout {t} is not a positive number of seconds");
            return ExitCode::from(UNKNOWN);
        }
        config.timeout = Duration::from_secs_f64(t);
        opts.timeout = Some(config.timeout);
    }
    let (repeat, parallel) = (args.repeat.max(1), args.parallel.clamp(1, 1 << 16));
    config.max_concurrent = parallel;
    let executor = Executor::new(config);
    // Runners sized for the checks at once: no more memory than they need.
    let limits =
        AccelLimits { connections: parallel, snmp_in_flight: parallel, per_destination: args.per_destination.max(1) };
    let accel = Accelerator::new(args.io, limits);
    let started = std::time::Instant::now();
    let results = smol::block_on(run_all(&accel, &args.command, &opts, &executor, repeat, parallel));
    let wall = started.elapsed();
    let Some(done) = results.first() else { return ExitCode::from(UNKNOWN) };
    if args.verbose {
        report(done);
    }
    if repeat > 1 {
        summary(&results, wall);
    }
    // A native run has the plugin's exact text; for a plugin run the executor kept
    // only the parsed output, so it is rendered back (perfdata in canonical form).
    match &done.text {
        Some(text) => print!("{text}"),
        None => print!("{}", render_output(&done.result.output)),
    }
    ExitCode::from(results.iter().map(exit_code).max().unwrap_or(UNKNOWN))
}

/// Runs the command `repeat` times, `parallel` at once; results in start order.
async fn run_all(
    accel: &Accelerator,
    command: &[String],
    opts: &AccelOptions,
    executor: &Executor,
    repeat: usize,
    parallel: usize,
) -> Vec<AccelResult> {
    let slots = smol::lock::Semaphore::new(parallel);
    let one = || async {
        let _slot = slots.acquire().await;
        match command {
            [line] => accel.run_command_line(line, opts, executor).await,
            argv => accel.run_argv(argv, opts, executor).await,
        }
    };
    let local = smol::LocalExecutor::new();
    let tasks: Vec<_> = (0..repeat).map(|_| local.spawn(one())).collect();
    local
        .run(async {
            let mut results = Vec::with_capacity(repeat);
            for task in tasks {
                results.push(task.await);
            }
            results
        })
        .await
}

fn summary(results: &[AccelResult], wall: Duration) {
    let count = |s: PluginStatus| results.iter().filter(|r| r.result.status == s).count();
    let native = results.iter().filter(|r| r.native).count();
    let secs = wall.as_secs_f64();
    eprintln!(
        "bergamot-probe exec: {} checks in {secs:.3} s ({:.0}/s), {native} native: OK {}, WARNING {}, CRITICAL {}, \
         UNKNOWN {}, other {}",
        results.len(),
        results.len() as f64 / secs.max(1e-9),
        count(PluginStatus::Ok),
        count(PluginStatus::Warning),
        count(PluginStatus::Critical),
        count(PluginStatus::Unknown),
        count(PluginStatus::Error) + count(PluginStatus::Timeout),
    );
}

fn report(done: &AccelResult) {
    let took = done.result.duration.as_secs_f64() * 1000.0;
    match (&done.fallback, done.backend) {
        (None, Some(backend)) => eprintln!("bergamot-probe exec: ran natively ({backend}) in {took:.3} ms"),
        (None, None) => eprintln!("bergamot-probe exec: ran natively in {took:.3} ms"),
        (Some(why), _) => eprintln!("bergamot-probe exec: ran the plugin ({why}) in {took:.3} ms"),
    }
}

/// The plugin's exit code; what has none (timeout, not started, signal) is UNKNOWN.
fn exit_code(done: &AccelResult) -> u8 {
    match (done.result.status, done.result.exit) {
        (PluginStatus::Ok, _) => 0,
        (PluginStatus::Warning, _) => 1,
        (PluginStatus::Critical, _) => 2,
        (PluginStatus::Error, Some(ChildExit::Code(code))) => u8::try_from(code & 0xff).unwrap_or(UNKNOWN),
        (PluginStatus::Unknown | PluginStatus::Error | PluginStatus::Timeout, _) => UNKNOWN,
    }
}
