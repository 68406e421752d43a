//! The life of one plugin process as a sans-IO state machine: output capture with a
//! cap, the timeout, SIGTERM then SIGKILL to the whole process group, and the result.
//! The driver in `run.rs` feeds it events and sends the signals it asks for; this
//! file never reads the clock, never signals and never reads a pipe.
//!
//! Timeline (`t0` = spawn):
//! - running until the leader has exited **and** the output pipe is at EOF; a child
//!   that outlives the leader while holding stdout keeps the plugin running;
//! - at `t0 + timeout`: SIGTERM to the group, then wait up to `grace`;
//! - at `t0 + timeout + grace`: SIGKILL to the group, then wait up to `grace` more for
//!   the leader only (a process that left the group may hold the pipe forever);
//! - after that the session gives up on the leader (a process in uninterruptible
//!   sleep cannot be killed) and reports TIMEOUT without an exit status.
//!
//! Whenever the session finishes it first asks for a SIGKILL to the group, so
//! stragglers that closed stdout (`cmd &` in a script) do not outlive their plugin.
//! The driver sends it while the leader is still an unreaped zombie: its pid, which
//! is the group id, cannot be reused until it is reaped, so the signal cannot reach
//! an unrelated process group.

use std::time::Duration;

use crate::exec::{ChildExit, PluginResult};
use crate::time::Instant;
use crate::wire::plugin::{PluginOutput, PluginStatus};

/// A signal for the plugin's whole process group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupSignal {
    Terminate,
    Kill,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    /// SIGTERM sent; SIGKILL at the instant.
    Terminating(Instant),
    /// SIGKILL sent; give up on the leader at the instant.
    Killed(Instant),
    Done,
}

/// One running plugin; see the module documentation for its timeline.
#[derive(Debug)]
pub struct PluginSession {
    started: Instant,
    timeout: Duration,
    grace: Duration,
    phase: Phase,
    cap: usize,
    output: Vec<u8>,
    output_bytes: u64,
    eof: bool,
    exited: bool,
    exit: Option<ChildExit>,
    timed_out: bool,
    /// SIGKILL was asked for: nothing in the group can fork any more, so once is enough.
    kill_sent: bool,
    /// At most two signals are ever pending (TERM or KILL, then the final KILL).
    pending: [Option<GroupSignal>; 2],
    result: Option<PluginResult>,
}

impl PluginSession {
    /// A plugin spawned at `now`, keeping at most `cap` bytes of its output.
    pub fn new(now: Instant, timeout: Duration, grace: Duration, cap: usize) -> Self {
        PluginSession {
            started: now,
            timeout,
            grace,
            phase: Phase::Running,
            cap,
            output: Vec::new(),
            output_bytes: 0,
            eof: false,
            exited: false,
            exit: None,
            timed_out: false,
            kill_sent: false,
            pending: [None; 2],
            result: None,
        }
    }

    /// Bytes read from the plugin's stdout+stderr pipe. Beyond the cap they are only
    /// counted: the driver keeps draining so the plugin never blocks on a full pipe.
    pub fn handle_output(&mut self, _now: Instant, data: &[u8]) {
        self.output_bytes = self.output_bytes.saturating_add(data.len() as u64);
        let room = self.cap.saturating_sub(self.output.len());
        self.output.extend_from_slice(data.get(..room.min(data.len())).unwrap_or(data));
    }

    /// The pipe reached EOF: every process holding its write end has closed it.
    pub fn handle_eof(&mut self, now: Instant) {
        self.eof = true;
        self.advance(now);
    }

    /// The group leader exited (not yet reaped); `None` if its status could not be
    /// read (someone else reaped it).
    pub fn handle_exit(&mut self, now: Instant, exit: Option<ChildExit>) {
        self.exited = true;
        self.exit = exit;
        self.advance(now);
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
    }

    /// The next deadline, while the session is not done.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Running => Some(self.started + self.timeout),
            Phase::Terminating(at) | Phase::Killed(at) => Some(at),
            Phase::Done => None,
        }
    }

    /// A signal to send to the process group now. Drain it before taking the result.
    pub fn poll_signal(&mut self) -> Option<GroupSignal> {
        let first = self.pending.iter_mut().find(|s| s.is_some())?;
        first.take()
    }

    /// The result, once, when the session is done and its signals were drained.
    pub fn poll_result(&mut self) -> Option<PluginResult> {
        if self.pending.iter().any(Option::is_some) {
            return None;
        }
        self.result.take()
    }

    /// Whether the driver should still read the pipe.
    pub fn wants_output(&self) -> bool {
        !self.eof && self.phase != Phase::Done
    }

    /// Whether the driver should still watch the leader for its exit.
    pub fn wants_exit(&self) -> bool {
        !self.exited && self.phase != Phase::Done
    }

    /// Whether the leader's exit was seen; if not when the session is done, the driver
    /// must still reap it (it was given up on).
    pub fn leader_exited(&self) -> bool {
        self.exited
    }

    fn signal(&mut self, signal: GroupSignal) {
        if signal == GroupSignal::Kill {
            if self.kill_sent {
                return;
            }
            self.kill_sent = true;
        }
        if let Some(slot) = self.pending.iter_mut().find(|s| s.is_none()) {
            *slot = Some(signal);
        }
    }

    fn advance(&mut self, now: Instant) {
        let finished = self.exited && self.eof;
        match self.phase {
            Phase::Running | Phase::Terminating(_) if finished => self.finish(now),
            Phase::Running if now >= self.started + self.timeout => {
                self.timed_out = true;
                self.signal(GroupSignal::Terminate);
                self.phase = Phase::Terminating(now + self.grace);
            }
            Phase::Terminating(kill_at) if now >= kill_at => {
                self.signal(GroupSignal::Kill);
                self.phase = Phase::Killed(now + self.grace);
                // The leader may already be gone, only a child holding the pipe left:
                // it now has SIGKILL pending, and waiting for EOF is not needed.
                if self.exited {
                    self.finish(now);
                }
            }
            Phase::Killed(give_up) if self.exited || now >= give_up => self.finish(now),
            _ => {}
        }
    }

    fn finish(&mut self, now: Instant) {
        self.signal(GroupSignal::Kill);
        self.phase = Phase::Done;
        let status = if self.timed_out {
            PluginStatus::Timeout
        } else {
            match self.exit {
                Some(ChildExit::Code(code)) => PluginStatus::from_exit_code(code),
                Some(ChildExit::Signal(_)) | None => PluginStatus::Error,
            }
        };
        let mut output = PluginOutput::parse(&self.output);
        explain(&mut output, status, self.exit, self.timeout);
        self.result = Some(PluginResult {
            status,
            exit: self.exit,
            output,
            output_bytes: self.output_bytes,
            truncated: self.output_bytes > self.output.len() as u64,
            duration: now.saturating_since(self.started),
        });
    }
}

/// Makes the summary say why a run was a TIMEOUT or an ERROR: a timed-out plugin's
/// own summary is misleading (it was cut short), so it moves to the long output; an
/// ERROR keeps the plugin's words when it printed any.
fn explain(output: &mut PluginOutput, status: PluginStatus, exit: Option<ChildExit>, timeout: Duration) {
    let reason = match (status, exit) {
        (PluginStatus::Timeout, _) => format!("plugin timed out after {}", seconds(timeout)),
        (PluginStatus::Error, _) if !output.summary.is_empty() => return,
        (PluginStatus::Error, Some(ChildExit::Code(code))) => format!("plugin exited with code {code}"),
        (PluginStatus::Error, Some(ChildExit::Signal(signal))) => {
            format!("plugin killed by signal {signal}{}", signal_name(signal))
        }
        (PluginStatus::Error, None) => "plugin exited, its status was lost".to_owned(),
        _ => return,
    };
    if !output.summary.is_empty() {
        let plugin_said = std::mem::take(&mut output.summary);
        output.long_output =
            if output.long_output.is_empty() { plugin_said } else { format!("{plugin_said}\n{}", output.long_output) };
    }
    output.summary = reason;
}

fn seconds(d: Duration) -> String {
    if d.subsec_nanos() == 0 { format!("{}s", d.as_secs()) } else { format!("{:.3}s", d.as_secs_f64()) }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        1 => " (SIGHUP)",
        2 => " (SIGINT)",
        3 => " (SIGQUIT)",
        4 => " (SIGILL)",
        6 => " (SIGABRT)",
        7 => " (SIGBUS)",
        8 => " (SIGFPE)",
        9 => " (SIGKILL)",
        11 => " (SIGSEGV)",
        13 => " (SIGPIPE)",
        14 => " (SIGALRM)",
        15 => " (SIGTERM)",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn at(seconds: u64) -> Instant {
        Instant::ZERO + Duration::from_secs(seconds)
    }

    /// A session started at 0 with a 10 s timeout, 2 s grace and a 16-byte cap.
    fn session() -> PluginSession {
        PluginSession::new(at(0), 10 * SECOND, 2 * SECOND, 16)
    }

    fn signals(s: &mut PluginSession) -> Vec<GroupSignal> {
        std::iter::from_fn(|| s.poll_signal()).collect()
    }

    #[test]
    fn normal_exit_waits_for_exit_and_eof() {
        for eof_first in [true, false] {
            let mut s = session();
            s.handle_output(at(1), b"OK - fine|t=1s\n");
            if eof_first {
                s.handle_eof(at(1));
            } else {
                s.handle_exit(at(1), Some(ChildExit::Code(0)));
            }
            assert_eq!(s.poll_result(), None, "one of exit and EOF is not enough");
            assert_eq!(s.poll_timeout(), Some(at(10)));
            if eof_first {
                s.handle_exit(at(2), Some(ChildExit::Code(0)));
            } else {
                s.handle_eof(at(2));
            }
            // Stragglers of the group are killed before the result is handed out.
            assert_eq!(s.poll_result(), None);
            assert_eq!(signals(&mut s), [GroupSignal::Kill]);
            let r = s.poll_result().expect("done");
            assert_eq!((r.status, r.exit, r.duration), (PluginStatus::Ok, Some(ChildExit::Code(0)), 2 * SECOND));
            assert_eq!(r.output.summary, "OK - fine");
            assert_eq!(r.output.perfdata.len(), 1);
            assert!(!r.truncated);
            assert_eq!(s.poll_timeout(), None);
            assert_eq!(s.poll_result(), None, "the result comes once");
        }
    }

    #[test]
    fn exit_statuses() {
        let cases = [
            (Some(ChildExit::Code(1)), "", PluginStatus::Warning, ""),
            (Some(ChildExit::Code(3)), "UNKNOWN - x", PluginStatus::Unknown, "UNKNOWN - x"),
            (Some(ChildExit::Code(7)), "", PluginStatus::Error, "plugin exited with code 7"),
            (Some(ChildExit::Code(7)), "oops", PluginStatus::Error, "oops"),
            (Some(ChildExit::Signal(9)), "", PluginStatus::Error, "plugin killed by signal 9 (SIGKILL)"),
            (Some(ChildExit::Signal(64)), "", PluginStatus::Error, "plugin killed by signal 64"),
            (None, "", PluginStatus::Error, "plugin exited, its status was lost"),
        ];
        for (exit, printed, status, summary) in cases {
            let mut s = session();
            s.handle_output(at(0), printed.as_bytes());
            s.handle_exit(at(0), exit);
            s.handle_eof(at(0));
            signals(&mut s);
            let r = s.poll_result().expect("done");
            assert_eq!((r.status, r.output.summary.as_str()), (status, summary), "{exit:?} {printed:?}");
        }
    }

    #[test]
    fn timeout_terminates_then_kills() {
        let mut s = session();
        s.handle_output(at(1), b"PING OK\nlong");
        s.handle_timeout(at(9));
        assert_eq!(signals(&mut s), []);
        s.handle_timeout(at(10));
        assert_eq!(signals(&mut s), [GroupSignal::Terminate]);
        assert_eq!(s.poll_timeout(), Some(at(12)));
        // It ignores SIGTERM.
        s.handle_timeout(at(12));
        assert_eq!(signals(&mut s), [GroupSignal::Kill]);
        assert_eq!(s.poll_timeout(), Some(at(14)));
        assert!(s.wants_output() && s.wants_exit());
        s.handle_exit(at(12), Some(ChildExit::Signal(9)));
        assert_eq!(signals(&mut s), [], "KILL was sent already");
        let r = s.poll_result().expect("done without waiting for EOF");
        assert_eq!((r.status, r.exit), (PluginStatus::Timeout, Some(ChildExit::Signal(9))));
        assert_eq!(r.output.summary, "plugin timed out after 10s");
        assert_eq!(r.output.long_output, "PING OK\nlong", "what the plugin said is kept");
        assert_eq!(r.duration, 12 * SECOND);
    }

    #[test]
    fn timeout_honoured_sigterm() {
        let mut s = session();
        s.handle_timeout(at(10));
        assert_eq!(signals(&mut s), [GroupSignal::Terminate]);
        s.handle_exit(at(10), Some(ChildExit::Code(2)));
        s.handle_eof(at(10));
        assert_eq!(signals(&mut s), [GroupSignal::Kill]);
        let r = s.poll_result().expect("done");
        assert_eq!((r.status, r.exit), (PluginStatus::Timeout, Some(ChildExit::Code(2))));
    }

    #[test]
    fn child_holding_stdout_is_a_timeout() {
        let mut s = session();
        s.handle_output(at(0), b"OK\n");
        s.handle_exit(at(0), Some(ChildExit::Code(0)));
        assert!(s.wants_output() && !s.wants_exit());
        s.handle_timeout(at(10));
        assert_eq!(signals(&mut s), [GroupSignal::Terminate]);
        // The child ignores SIGTERM too: SIGKILL ends the run, EOF or not.
        s.handle_timeout(at(12));
        assert_eq!(signals(&mut s), [GroupSignal::Kill]);
        let r = s.poll_result().expect("done");
        assert_eq!((r.status, r.exit), (PluginStatus::Timeout, Some(ChildExit::Code(0))));
    }

    #[test]
    fn unkillable_leader_is_given_up() {
        let mut s = session();
        s.handle_timeout(at(10));
        s.handle_timeout(at(12));
        assert_eq!(signals(&mut s), [GroupSignal::Terminate, GroupSignal::Kill]);
        s.handle_timeout(at(13));
        assert_eq!(s.poll_result(), None);
        s.handle_timeout(at(14));
        let r = s.poll_result().expect("given up");
        assert_eq!((r.status, r.exit), (PluginStatus::Timeout, None));
        assert!(!s.leader_exited(), "the driver must reap it later");
    }

    #[test]
    fn output_is_capped_but_counted() {
        let mut s = session();
        s.handle_output(at(0), b"0123456789");
        s.handle_output(at(0), b"abcdefghij");
        s.handle_output(at(0), b"more and more");
        s.handle_exit(at(0), Some(ChildExit::Code(0)));
        s.handle_eof(at(0));
        signals(&mut s);
        let r = s.poll_result().expect("done");
        assert_eq!(r.output.summary, "0123456789abcdef");
        assert_eq!((r.output_bytes, r.truncated), (33, true));
    }

    #[test]
    fn late_events_change_nothing() {
        let mut s = session();
        s.handle_exit(at(0), Some(ChildExit::Code(0)));
        s.handle_eof(at(0));
        signals(&mut s);
        let r = s.poll_result().expect("done");
        s.handle_timeout(at(100));
        s.handle_output(at(100), b"x");
        assert_eq!((signals(&mut s), s.poll_result()), (vec![], None));
        assert_eq!(r.status, PluginStatus::Ok);
    }
}
