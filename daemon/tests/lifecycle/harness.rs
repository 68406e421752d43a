//! Running `bergamotd` for the lifecycle tests: the daemon on a free loopback port
//! with a data directory of the test's, its JSON API over plain HTTP/1.1, and
//! `bergamot-cli` pointed at it; stopped by SIGTERM or SIGKILL to its PID.
//!
//! Not a general HTTP client: one request per connection, `Connection: close`, the
//! answers the daemon gives (a length or chunks).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::follow::describe;
use super::peers::{DEADLINE, free_tcp_port};
use super::{BERGAMOTD, CLI};

/// A running bergamotd; SIGKILLed on drop unless it was stopped.
pub struct Bergamotd {
    child: Option<Child>,
    pub port: u16,
    pub log: PathBuf,
}

/// An answer of the API: status and JSON body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    /// The `value` of a `{kind, value}` answer of the expected kind.
    pub fn value(&self, kind: &str) -> &Value {
        assert_eq!(self.status, 200, "expected a {kind}: {self:?}");
        assert_eq!(self.body["kind"], kind, "{self:?}");
        &self.body["value"]
    }

    /// The message of an error answer with the expected status.
    pub fn error(&self, status: u16) -> &str {
        assert_eq!(self.status, status, "{self:?}");
        self.body["error"].as_str().unwrap_or_else(|| panic!("no error message: {self:?}"))
    }
}

impl Bergamotd {
    /// Starts bergamotd on `conf` and `data` with `--events events` and `extra`
    /// arguments, and waits until its API answers.
    pub fn start(conf: &Path, data: &Path, events: &Path, log: PathBuf, extra: &[&str]) -> Bergamotd {
        let port = free_tcp_port();
        let child = Command::new(BERGAMOTD)
            .arg("--config")
            .arg(conf)
            .arg("--data")
            .arg(data)
            .arg("--events")
            .arg(events)
            .args(["--http", &format!("127.0.0.1:{port}")])
            .args(extra)
            .env_remove("BERGAMOT_IO")
            .env_remove("BERGAMOT_LOG")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start bergamotd");
        let mut d = Bergamotd { child: Some(child), port, log };
        let start = Instant::now();
        while d.try_call("GET", "/api/health", None).is_err() {
            d.assert_running();
            assert!(start.elapsed() < DEADLINE, "the API never answered:\n{}", d.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn assert_running(&mut self) {
        if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
            panic!("bergamotd exited ({status}):\n{}", self.log());
        }
    }

    /// One request; an I/O error when the daemon is not there (or died meanwhile).
    pub fn try_call(&self, method: &str, path: &str, body: Option<&str>) -> std::io::Result<Answer> {
        http(self.port, method, path, body)
    }

    pub fn call(&self, method: &str, path: &str, body: Option<&str>) -> Answer {
        self.try_call(method, path, body).unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", self.log()))
    }

    pub fn get(&self, path: &str) -> Answer {
        self.call("GET", path, None)
    }

    /// A check as `/api/check/PATH` shows it.
    pub fn check(&self, path: &str) -> Value {
        self.get(&format!("/api/check/{path}")).value("check").clone()
    }

    /// `POST /api/actions` with `body`.
    pub fn act(&self, body: &Value) -> Answer {
        self.call("POST", "/api/actions", Some(&body.to_string()))
    }

    /// Waits until `done` holds for the check at `path`; returns the check.
    pub fn wait_check(&mut self, path: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let c = self.check(path);
            if done(&c) {
                return c;
            }
            self.assert_running();
            assert!(start.elapsed() < DEADLINE, "{path} never {what}: {c:#}\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `bergamot-cli --daemon URL args…`, as user `tester`.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(CLI).arg("--daemon").arg(self.url()).args(args).env("USER", "tester").output().unwrap()
    }

    /// `bergamot-cli`, which must succeed; its standard output.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let o = self.cli(args);
        assert_eq!(o.status.code(), Some(0), "bergamot-cli {args:?}\n{}", describe(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    pub fn signal(&self, sig: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(self.pid() as i32).expect("a pid");
        rustix::process::kill_process(pid, sig).expect("signal bergamotd");
    }

    /// SIGTERM, then its exit status.
    pub fn terminate(&mut self) -> Option<i32> {
        self.signal(rustix::process::Signal::TERM);
        let mut child = self.child.take().expect("running");
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

    /// SIGKILL, reaped.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Bergamotd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One HTTP/1.1 request to 127.0.0.1:`port`; the answer's status and JSON body.
pub fn http(port: u16, method: &str, path: &str, body: Option<&str>) -> std::io::Result<Answer> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(DEADLINE))?;
    let body = body.unwrap_or("");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{what}: {text:?}"));
    let (head, rest) = text.split_once("\r\n\r\n").ok_or_else(|| bad("no end of head"))?;
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| bad("no status"))?;
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(rest).ok_or_else(|| bad("broken chunks"))?
    } else {
        rest.to_string()
    };
    let body = if body.is_empty() { Value::Null } else { serde_json::from_str(&body).map_err(|_| bad("not JSON"))? };
    Ok(Answer { status, body })
}

fn dechunk(mut rest: &str) -> Option<String> {
    let mut out = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n")?;
        let n = usize::from_str_radix(size.trim(), 16).ok()?;
        if n == 0 {
            return Some(out);
        }
        out.push_str(after.get(..n)?);
        rest = after.get(n..)?.strip_prefix("\r\n")?;
    }
}

/// A deterministic pseudo-random sequence (xorshift64*), for the moments of kills.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `lo..hi` (hi > lo).
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}
