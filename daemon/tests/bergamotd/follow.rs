//! Running `bergamotd` and following its `--events` file until expected events have
//! happened.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::peers::DEADLINE;
use super::{BERGAMOTD, SITE};

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn describe(o: &Output) -> String {
    format!("status {:?}\n--- stdout\n{}\n--- stderr\n{}", o.status.code(), text(&o.stdout), text(&o.stderr))
}

pub fn daemon_cmd(config: &Path, data: &Path) -> Command {
    let mut c = Command::new(BERGAMOTD);
    c.arg("--config").arg(config).arg("--data").arg(data).env_remove("BERGAMOT_IO").env_remove("BERGAMOT_LOG");
    c
}

/// A running bergamotd; SIGKILLed on drop unless it was stopped.
pub struct Daemon {
    pub child: Option<Child>,
    pub stderr: PathBuf,
}

impl Daemon {
    pub fn start(config: &Path, data: &Path, events: &Path, stderr: PathBuf) -> Daemon {
        let log = std::fs::File::create(&stderr).unwrap();
        let child = daemon_cmd(config, data)
            .arg("--events")
            .arg(events)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start bergamotd");
        Daemon { child: Some(child), stderr }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    pub fn assert_running(&mut self) {
        if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
            panic!("bergamotd exited ({status}):\n{}", self.log());
        }
    }

    /// SIGTERM, then its exit status.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut child = self.child.take().expect("running");
        let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("a pid");
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM");
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.code();
            }
            if start.elapsed() > DEADLINE {
                let _ = child.kill();
                panic!("bergamotd did not stop on SIGTERM:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Follows the `--events` file: complete lines only, each one JSON object.
pub struct Events {
    pub path: PathBuf,
    read: usize,
    pub all: Vec<Value>,
}

impl Events {
    pub fn new(path: PathBuf) -> Events {
        Events { path, read: 0, all: Vec::new() }
    }

    pub fn poll(&mut self) {
        let mut buf = Vec::new();
        if let Ok(mut f) = std::fs::File::open(&self.path) {
            let _ = f.read_to_end(&mut buf);
        }
        let Some(end) = buf.iter().rposition(|&b| b == b'\n') else { return };
        if end < self.read {
            return;
        }
        for line in buf[self.read..end].split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let v: Value = serde_json::from_slice(line)
                .unwrap_or_else(|e| panic!("events line is not JSON ({e}): {}", String::from_utf8_lossy(line)));
            self.all.push(v);
        }
        self.read = end + 1;
    }

    pub fn of<'a>(&'a self, check: &'a str, event: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        let path = format!("{SITE}/{check}");
        self.all.iter().filter(move |v| v["check"] == path.as_str() && v["event"] == event)
    }
}

/// One expected event: check (path below the site), kind, status, and `hard` where the
/// event has it.
#[derive(Debug, Clone, Copy)]
pub struct Want {
    check: &'static str,
    event: &'static str,
    status: &'static str,
    hard: Option<bool>,
}

pub const fn want(check: &'static str, event: &'static str, status: &'static str, hard: Option<bool>) -> Want {
    Want { check, event, status, hard }
}

impl Want {
    pub fn matches(&self, v: &Value) -> bool {
        let status = if self.event == "state-change" { &v["to"] } else { &v["status"] };
        status == self.status && self.hard.is_none_or(|h| v["hard"] == h)
    }
}

pub fn missing<'a>(events: &Events, wants: &'a [Want]) -> Vec<&'a Want> {
    wants.iter().filter(|w| !events.of(w.check, w.event).any(|v| w.matches(v))).collect()
}

/// Follows the events until every one of `wants` has happened.
pub fn wait_for(events: &mut Events, daemon: &mut Daemon, wants: &[Want]) {
    let start = Instant::now();
    loop {
        events.poll();
        let left = missing(events, wants);
        if left.is_empty() {
            return;
        }
        daemon.assert_running();
        if start.elapsed() > DEADLINE {
            let last: Vec<String> = left
                .iter()
                .filter_map(|w| events.of(w.check, "result").last().map(|v| format!("{}: {v}", w.check)))
                .collect();
            panic!(
                "never seen: {left:#?}\nlast results of those:\n{}\n--- daemon log\n{}",
                last.join("\n"),
                daemon.log()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
