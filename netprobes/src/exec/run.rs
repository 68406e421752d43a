//! The smol driver of plugin runs: takes a concurrency slot, spawns, then feeds the
//! [`PluginSession`] with pipe reads, the leader's exit and timer expiries, sending the
//! group signals it asks for. The only clock reads of `exec` are here and in `reap`.

use std::fs::File;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::future;
use futures_lite::io::AsyncReadExt;
use rustix::process::Pid;
use smol::lock::Semaphore;
use smol::{Async, Timer};

use crate::exec::reap::Leader;
use crate::exec::session::{GroupSignal, PluginSession};
use crate::exec::spawn::{Environment, spawn};
use crate::exec::{ChildExit, ExecConfig, PluginCommand, PluginResult};
use crate::time::MonotonicClock;
use crate::wire::plugin::SplitError;

/// Runs plugins under one set of limits. Cheap to share behind an `Arc`; every
/// [`Executor::run`] is independent.
#[derive(Debug)]
pub struct Executor {
    config: ExecConfig,
    env: Environment,
    slots: Arc<Semaphore>,
    clock: MonotonicClock,
}

/// Bytes per read: small enough that thousands of runs cost little memory, large
/// enough that a chatty plugin is drained in few wake-ups.
const READ_CHUNK: usize = 8 * 1024;

impl Executor {
    /// An executor; with `reap_orphans` this also makes the process a child
    /// subreaper (process-wide, and harmless if it already is one).
    pub fn new(config: ExecConfig) -> Self {
        if config.reap_orphans {
            // Failure (not Linux ≥ 3.4, or forbidden) only means orphans go to init.
            let _ = rustix::process::set_child_subreaper(Some(rustix::process::getpid()));
        }
        Executor {
            env: Environment::new(&config),
            slots: Arc::new(Semaphore::new(config.max_concurrent.max(1))),
            clock: MonotonicClock::new(),
            config,
        }
    }

    pub fn config(&self) -> &ExecConfig {
        &self.config
    }

    /// Splits a `command_line` (SEMANTICS.md §9) and runs it.
    pub async fn run_line(&self, line: &str) -> Result<PluginResult, SplitError> {
        Ok(self.run(&PluginCommand::parse(line)?).await)
    }

    /// Runs one plugin to its result, waiting for a slot first if all are taken.
    pub async fn run(&self, command: &PluginCommand) -> PluginResult {
        let _slot = self.slots.acquire_arc().await;
        let timeout = command.timeout.unwrap_or(self.config.timeout);
        let started = self.clock.now();
        let spawned = match spawn(&command.argv, &self.env) {
            Ok(s) => s,
            Err(e) => return PluginResult::not_started(e.to_string()),
        };
        let leader = Leader::new(spawned.pid, !self.config.poll_exits);
        let mut abandon = Abandon {
            pid: spawned.pid,
            pidfd: !self.config.poll_exits,
            drain: self.config.reap_orphans.then_some(self.config.kill_grace),
            armed: true,
        };
        let mut session = PluginSession::new(started, timeout, self.config.kill_grace, self.config.max_output);
        let pipe = match Async::new(spawned.output) {
            Ok(pipe) => pipe,
            Err(e) => {
                // The run cannot be observed (no room in the reactor?), so end it.
                leader.signal_group(GroupSignal::Kill);
                leader.exited().await;
                leader.reap();
                abandon.armed = false;
                return PluginResult::not_started(format!("cannot watch plugin output: {e}"));
            }
        };
        let result = self.drive(&mut session, &leader, pipe).await;
        // A leader given up on after SIGKILL (uninterruptible sleep) stays armed: the
        // guard reaps it whenever it dies, without holding the slot.
        if session.leader_exited() {
            leader.reap();
            abandon.armed = false;
            if self.config.reap_orphans {
                leader.drain_group(self.config.kill_grace).await;
            }
        }
        result
    }

    async fn drive(&self, session: &mut PluginSession, leader: &Leader, mut pipe: Async<File>) -> PluginResult {
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            while let Some(signal) = session.poll_signal() {
                leader.signal_group(signal);
            }
            if let Some(result) = session.poll_result() {
                return result;
            }
            let deadline = session.poll_timeout();
            let event = {
                let read = async {
                    if session.wants_output() {
                        Event::Read(pipe.read(&mut buf).await)
                    } else {
                        future::pending().await
                    }
                };
                let exit = async {
                    if session.wants_exit() { Event::Exited(leader.exited().await) } else { future::pending().await }
                };
                let timer = async {
                    match deadline {
                        Some(at) => {
                            Timer::after(at.saturating_since(self.clock.now())).await;
                            Event::Timer
                        }
                        None => future::pending().await,
                    }
                };
                future::or(read, future::or(exit, timer)).await
            };
            let now = self.clock.now();
            match event {
                Event::Read(Ok(0)) => session.handle_eof(now),
                Event::Read(Ok(n)) => session.handle_output(now, buf.get(..n).unwrap_or(&buf)),
                Event::Read(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // Any other read error ends the output as EOF would.
                Event::Read(Err(_)) => session.handle_eof(now),
                Event::Exited(exit) => session.handle_exit(now, exit),
                Event::Timer => {}
            }
            // Every wake-up also checks the deadlines: a busy pipe must not starve them.
            session.handle_timeout(now);
        }
    }
}

enum Event {
    Read(std::io::Result<usize>),
    Exited(Option<ChildExit>),
    Timer,
}

/// Ends a run whose future is dropped before the leader was reaped (the caller gave
/// up on the check, or the daemon is shutting down): SIGKILL to the group — safe, the
/// unreaped leader still reserves the group id — then reaping in a detached task.
struct Abandon {
    pid: Pid,
    pidfd: bool,
    /// Drain the group's orphans for this long after reaping.
    drain: Option<Duration>,
    armed: bool,
}

impl Drop for Abandon {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let leader = Leader::new(self.pid, self.pidfd);
        leader.signal_group(GroupSignal::Kill);
        let drain = self.drain;
        smol::spawn(async move {
            leader.exited().await;
            leader.reap();
            if let Some(grace) = drain {
                leader.drain_group(grace).await;
            }
        })
        .detach();
    }
}
