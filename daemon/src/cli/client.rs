//! `bergamot-cli` talking to the local daemon's JSON API: status, problems, actions
//! (acknowledge, downtime, suppress, comment, re-check) and reload.
//!
//! One request per connection, HTTP/1.1 with `Connection: close`, over a plain TCP
//! socket: the API is on loopback, the answers are small JSON documents, and this
//! keeps an async runtime and an HTTP client stack out of a one-shot command.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Value, json};

/// Where the daemon's API is, from `--daemon` (`http://127.0.0.1:8080` by default).
#[derive(Debug, Clone)]
pub struct Daemon {
    host: String,
    port: u16,
}

impl Daemon {
    pub fn parse(url: &str) -> Result<Daemon, String> {
        let rest = url.strip_prefix("http://").ok_or_else(|| format!("--daemon {url}: only http:// URLs"))?;
        let authority = rest.split('/').next().unwrap_or(rest);
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().map_err(|_| format!("--daemon {url}: bad port"))?),
            None => (authority, 80),
        };
        Ok(Daemon { host: host.trim_matches(['[', ']']).to_string(), port })
    }

    /// Sends a request; the JSON answer, or the API's error message.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
        let addr = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {}: {e}", self.host))?
            .next()
            .ok_or_else(|| format!("{} has no address", self.host))?;
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .map_err(|e| format!("cannot reach bergamotd at http://{addr}/: {e} (is it running? see --daemon)"))?;
        s.set_read_timeout(Some(Duration::from_secs(60))).map_err(|e| e.to_string())?;
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}:{}\r\nAccept: application/json\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.host,
            self.port,
            body.len()
        );
        s.write_all(head.as_bytes()).and_then(|()| s.write_all(body.as_bytes())).map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).map_err(|e| format!("reading the answer: {e}"))?;
        let text = String::from_utf8_lossy(&raw);
        let (head, body) = text.split_once("\r\n\r\n").ok_or("the daemon's answer has no body")?;
        let status: u16 = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or("bad status line")?;
        let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
            dechunk(body)
        } else {
            body.to_string()
        };
        let value: Value = serde_json::from_str(&body).map_err(|e| format!("the daemon's answer is not JSON ({e})"))?;
        if (200..300).contains(&status) {
            Ok(value)
        } else {
            Err(value.get("error").and_then(Value::as_str).map_or_else(|| format!("HTTP {status}"), str::to_string))
        }
    }
}

/// Joins a chunked body (hyper chunks bodies of unknown length).
fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// Who acts: the local user's name (until logins exist).
pub fn who() -> String {
    std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "cli".to_string())
}

/// Runs one client command and prints its answer (JSON with `--json`). A reload the
/// daemon refused exits 1: the configuration asked for is not running.
pub fn run(d: &Daemon, method: &str, path: &str, body: Option<Value>, json_out: bool) -> Result<ExitCode, String> {
    let v = d.call(method, path, body.as_ref())?;
    if json_out {
        println!("{}", serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?);
    } else {
        print_human(&v);
    }
    let refused = method == "POST" && v["kind"] == "reload" && v["value"]["ok"] == false;
    Ok(if refused { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn print_human(v: &Value) {
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or("");
    let value = v.get("value").unwrap_or(v);
    match kind {
        "checks" => {
            let empty = Vec::new();
            let list = value.as_array().unwrap_or(&empty);
            for c in list {
                let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                let flags: Vec<&str> = [
                    ("acknowledged", "ack"),
                    ("suppressed", "suppressed"),
                    ("in_downtime", "downtime"),
                    ("flapping", "flapping"),
                ]
                .iter()
                .filter(|(k, _)| c.get(*k).and_then(Value::as_bool).unwrap_or(false))
                .map(|(_, label)| *label)
                .collect();
                let hard = if c.get("hard").and_then(Value::as_bool).unwrap_or(true) { "" } else { " (soft)" };
                let flags = if flags.is_empty() { String::new() } else { format!(" [{}]", flags.join(", ")) };
                println!("{:<9}{hard} {}{flags}  {}", s("status"), s("path"), s("output"));
            }
            if list.is_empty() {
                println!("nothing");
            }
        }
        "sites" => {
            for site in value.as_array().into_iter().flatten() {
                println!(
                    "{}: {} checks, {} problems {}",
                    site.get("name").and_then(Value::as_str).unwrap_or(""),
                    site.get("checks").and_then(Value::as_u64).unwrap_or(0),
                    site.get("problems").and_then(Value::as_u64).unwrap_or(0),
                    site.get("by_status").map(Value::to_string).unwrap_or_default()
                );
            }
        }
        "reload" => {
            let ok = value.get("ok").and_then(Value::as_bool).unwrap_or(false);
            let version = value.get("version").and_then(Value::as_str).unwrap_or("");
            if ok {
                println!(
                    "applied configuration {version}: {} kept, {} added, {} removed",
                    value.get("kept").and_then(Value::as_u64).unwrap_or(0),
                    value.get("added").and_then(Value::as_u64).unwrap_or(0),
                    value.get("removed").and_then(Value::as_u64).unwrap_or(0)
                );
            } else {
                println!("refused; still running configuration {version}");
            }
            if let Some(d) = value.get("diagnostics").and_then(Value::as_str).filter(|d| !d.is_empty()) {
                eprint!("{d}");
            }
        }
        "done" => match value.get("id").and_then(Value::as_u64) {
            Some(id) => println!("done (id {id})"),
            None => println!("done"),
        },
        _ => println!("{}", serde_json::to_string_pretty(v).unwrap_or_default()),
    }
}

/// The body of `POST /api/actions`.
pub fn action(kind: &str, fields: Value) -> Value {
    let mut v = json!({ "action": kind });
    if let (Some(obj), Some(extra)) = (v.as_object_mut(), fields.as_object()) {
        for (k, x) in extra {
            obj.insert(k.clone(), x.clone());
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let d = Daemon::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!((d.host.as_str(), d.port), ("127.0.0.1", 8080));
        let d = Daemon::parse("http://[::1]:9000/").unwrap();
        assert_eq!((d.host.as_str(), d.port), ("::1", 9000));
        assert!(Daemon::parse("https://x").is_err());
    }

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(dechunk("4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n"), "{\"a\":1}");
    }
}
