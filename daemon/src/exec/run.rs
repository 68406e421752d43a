//! Runs a check's [`Run`] (from its `ProbeSpec`) on `bergamot-netprobes`: `nagios` command lines through the
//! accelerator (natively when recognised, else the plugin), native engines on the
//! shared runners, and turns what comes back into a [`CheckResult`].
//!
//! This is driver-level glue: it awaits I/O and reads the clock (the result's time);
//! the engine above it stays pure.

use std::time::Duration;

use bergamot_config::status::Status;
use bergamot_netprobes::accel::{AccelOptions, AccelResult, Accelerator};
use bergamot_netprobes::driver::IoChoice;
use bergamot_netprobes::exec::{ExecConfig, Executor};
use bergamot_netprobes::wire::plugin::PluginStatus;
use jiff::Timestamp;

use super::spec::Run;
use crate::engine::CheckResult;

/// What runs checks: one accelerator (shared native runners) and one executor
/// (plugin processes, with its concurrency cap), for the whole daemon.
#[derive(Debug)]
pub struct Runner {
    accel: Accelerator,
    executor: Executor,
}

impl Runner {
    pub fn new(io: IoChoice, accel_limits: bergamot_netprobes::accel::AccelLimits, exec: ExecConfig) -> Runner {
        Runner { accel: Accelerator::new(io, accel_limits), executor: Executor::new(exec) }
    }

    /// Runs one check; never fails: a probe that cannot run is a result too.
    pub async fn run(&self, run: &Run) -> (CheckResult, Option<AccelResult>) {
        let started = std::time::Instant::now();
        let accel = match run {
            Run::Fixed { status, output } | Run::Broken { status, output } => {
                return (CheckResult::new(*status, output.clone(), Timestamp::now()), None);
            }
            Run::Plugin { argv, native, timeout } => {
                let opts = AccelOptions { native: *native, timeout: Some(*timeout) };
                self.accel.run_argv(argv, &opts, &self.executor).await
            }
            Run::Native { request, timeout, .. } => {
                self.accel.run_native_only(request, *timeout, self.executor.config().max_output).await
            }
        };
        let result = to_check_result(&accel, started.elapsed());
        (result, Some(accel))
    }
}

/// Status and text of a plugin-shaped result.
pub fn to_check_result(a: &AccelResult, took: Duration) -> CheckResult {
    let r = &a.result;
    let status = match r.status {
        PluginStatus::Ok => Status::Ok,
        PluginStatus::Warning => Status::Warning,
        PluginStatus::Critical => Status::Critical,
        PluginStatus::Unknown => Status::Unknown,
        PluginStatus::Error => Status::Error,
        PluginStatus::Timeout => Status::Timeout,
    };
    let perfdata = r.output.perfdata.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ");
    CheckResult {
        status,
        output: r.output.summary.clone(),
        long_output: r.output.long_output.clone(),
        perfdata,
        duration: if r.duration.is_zero() { took } else { r.duration },
        at: Timestamp::now(),
    }
}
