//! Plugin execution for the `nagios` engine: spawn without a shell, capture output
//! with a cap, time out by killing the whole process group, limit concurrency, and
//! turn the exit into a [`PluginStatus`]. Parsing is `crate::wire::plugin`; this
//! module is the only part of the crate that creates processes.
//!
//! Layout, sans-IO as everywhere else:
//! - [`session`]: the state machine of one run (output cap, timeout, TERM → KILL,
//!   result) on virtual time;
//! - `spawn`: building the child (argv resolved against the allowed `PATH`, scrubbed
//!   environment, stdin from /dev/null, stdout+stderr into one pipe, new process group);
//! - `reap`: noticing the leader's exit without reaping it, reaping, and draining the
//!   group's orphans;
//! - `run`: the smol driver gluing those together ([`Executor::run`]).
//!
//! **How the child is created.** `std::process::Command` on Linux takes the
//! `posix_spawnp` path (glibc ≥ 2.24 and musl: `clone(CLONE_VM|CLONE_VFORK)`, no
//! copy of the parent's page tables) unless the command needs something posix_spawn
//! cannot do: a `pre_exec` hook, uid/gid/groups, chroot — or an environment with its
//! own `PATH` together with a program name without `/`. We set no hook and no ids,
//! and always pass an absolute program path (resolved here against the child's `PATH`),
//! so every spawn takes that path. `process_group(0)` is carried by
//! `POSIX_SPAWN_SETPGROUP`. `tests/exec.rs` checks this with strace.
//!
//! **How exits are noticed.** A pidfd (`pidfd_open`, Linux ≥ 5.3) registered with
//! smol's reactor becomes readable when the leader exits; `waitid(P_PIDFD, WNOWAIT)`
//! reads the status while leaving the zombie in place, so the group id stays reserved
//! until the final SIGKILL to the group has been sent; then the leader is reaped.
//! Without pidfd (old kernels, seccomp) the same `waitid(P_PID, WNOHANG|WNOWAIT)` is
//! polled with a backoff from 1 ms to 50 ms: the documented last resort. A SIGCHLD
//! handler is not used: it would need `unsafe` and would race with other parts of the
//! process that wait for their own children.
//!
//! **Orphans.** With [`ExecConfig::reap_orphans`] (the default) the process marks
//! itself a child subreaper, so the children of a plugin that dies are re-parented to
//! us instead of init; after each run they are SIGKILLed with the group and reaped
//! (`waitid(P_PGID)`) before the result is returned. Processes that leave the group
//! (`setsid`, daemons) are not chased.

mod reap;
mod run;
pub mod session;
mod spawn;

use std::time::Duration;

pub use run::Executor;

use crate::wire::plugin::{PluginOutput, PluginStatus, SplitError, split_command_line};

/// How the group leader ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildExit {
    Code(i32),
    Signal(i32),
}

/// What one plugin run produced. A plugin that cannot start or that misbehaves is a
/// result (ERROR, TIMEOUT), never an `Err`.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginResult {
    pub status: PluginStatus,
    /// `None` when the plugin could not be started, or when its leader could not be
    /// reaped after SIGKILL (uninterruptible sleep).
    pub exit: Option<ChildExit>,
    /// Parsed output; for TIMEOUT and ERROR the summary says why (session.rs).
    pub output: PluginOutput,
    /// Bytes the plugin wrote, including those beyond the cap.
    pub output_bytes: u64,
    /// More than [`ExecConfig::max_output`] bytes were written; the rest was discarded.
    pub truncated: bool,
    /// From spawn to result (queueing for a slot not included).
    pub duration: Duration,
}

impl PluginResult {
    /// The result of a plugin that could not be started.
    pub fn not_started(reason: String) -> Self {
        PluginResult {
            status: PluginStatus::Error,
            exit: None,
            output: PluginOutput { summary: reason, ..PluginOutput::default() },
            output_bytes: 0,
            truncated: false,
            duration: Duration::ZERO,
        }
    }
}

/// A plugin to run: argv (no shell) and an optional timeout overriding the default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginCommand {
    pub argv: Vec<String>,
    pub timeout: Option<Duration>,
}

impl PluginCommand {
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(argv: I) -> Self {
        PluginCommand { argv: argv.into_iter().map(Into::into).collect(), timeout: None }
    }

    /// Splits a `command_line` per SEMANTICS.md §9.
    pub fn parse(line: &str) -> Result<Self, SplitError> {
        Ok(PluginCommand { argv: split_command_line(line)?, timeout: None })
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

/// Limits and environment of an [`Executor`].
#[derive(Debug, Clone)]
pub struct ExecConfig {
    /// Plugins running at once; more wait for a slot (in arrival order).
    pub max_concurrent: usize,
    /// Timeout when the command sets none.
    pub timeout: Duration,
    /// Time between SIGTERM and SIGKILL, and how long to wait for the leader after it.
    pub kill_grace: Duration,
    /// Output kept per run (stdout and stderr together); the rest is read and dropped.
    pub max_output: usize,
    /// Variables passed through from our environment when set.
    pub env_allow: Vec<String>,
    /// Variables set for every plugin (after the allow-list, so they win).
    pub env_set: Vec<(String, String)>,
    /// `PATH` for plugins when our environment has none.
    pub default_path: String,
    /// Become a child subreaper and reap the group's orphans after each run.
    pub reap_orphans: bool,
    /// Notice exits by polling even where pidfd works (to exercise the fallback).
    pub poll_exits: bool,
}

/// Nagios' own defaults: 60 s service check timeout; 64 KiB is far above what any
/// plugin prints and Nagios 4's limit for long output.
impl Default for ExecConfig {
    fn default() -> Self {
        ExecConfig {
            max_concurrent: 64,
            timeout: Duration::from_secs(60),
            kill_grace: Duration::from_secs(2),
            max_output: 64 * 1024,
            env_allow: ["PATH", "LANG", "LC_ALL", "LC_CTYPE", "LC_NUMERIC", "LC_MESSAGES", "TZ", "HOME", "TMPDIR"]
                .into_iter()
                .map(String::from)
                .collect(),
            env_set: Vec::new(),
            default_path: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned(),
            reap_orphans: true,
            poll_exits: false,
        }
    }
}
