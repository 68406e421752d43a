//! Reloads through `bergamot-cli reload` and SIGHUP: a kept check keeps its state,
//! alert, acknowledgement and place in the schedule; a removed one is gone from the
//! API; a new one runs (and its events carry its own path); a broken configuration
//! is refused with every diagnostic, the old one keeps running; and no check starts
//! later than its interval throughout, by the daemon's own lateness figures.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use super::follow::{Events, describe, text};
use super::harness::{Bergamotd, http};
use super::peers::{Scratch, wait_until};
use super::{host, p, service, site};

/// The shortest interval of the site's checks, in milliseconds (`every2`).
const INTERVAL_MS: u64 = 2_000;

fn svc(name: &str) -> String {
    p(&format!("host/h/service/{name}"))
}

/// A version of the site: A (CRITICAL, `output_a`) and the others named; `broken`
/// adds a service and a time period with an error each.
fn version(output_a: &str, others: &[(&str, &str)], broken: bool) -> String {
    let mut services = service("A", "manual", "CRITICAL", output_a);
    for (name, status) in others {
        services.push_str(&service(name, "every2", status, name));
    }
    if broken {
        let x = "<service name=\"X\" extends=\"no-such-template\"><check-command command=\"fixed\"/></service>";
        services.push_str(&format!("        {x}\n"));
    }
    let mut body = host("2s", &services);
    if broken {
        body.push_str("    <time-period name=\"bad\"><time-range>monday 25:00-26:00</time-range></time-period>\n");
    }
    site(&body)
}

/// Samples `/api/health` until stopped; the largest `lateness_ms.max` seen.
struct Lateness {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<(u64, usize)>,
}

impl Lateness {
    fn follow(port: u16) -> Lateness {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let (mut max, mut samples) = (0, 0);
            while !flag.load(Ordering::Relaxed) {
                if let Ok(a) = http(port, "GET", "/api/health", None) {
                    if let Some(m) = a.body["value"]["lateness_ms"]["max"].as_u64() {
                        max = max.max(m);
                        samples += 1;
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            (max, samples)
        });
        Lateness { stop, thread }
    }

    fn finish(self) -> (u64, usize) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

#[test]
fn reload_keeps_state_refuses_broken_configs_and_makes_no_check_late() {
    let dir = Scratch::new("reload");
    let file = dir.write("conf/site.xml", &version("one", &[("B", "OK")], false), 0o644);
    let conf = file.parent().unwrap();
    let mut events = Events::new(dir.path("events.jsonl"));
    let mut d = Bergamotd::start(conf, &dir.path("data"), &events.path.clone(), dir.path("log"), &[]);
    let lateness = Lateness::follow(d.port);

    // A runs only when re-checked (its time period is in 2099): hard CRITICAL, acknowledged.
    d.cli_ok(&["recheck", &svc("A")]);
    let a = d.wait_check(&svc("A"), "alerted", |c| c["alert"].is_u64());
    d.act(&json!({"action": "acknowledge", "path": svc("A"), "comment": "known"})).value("done");
    d.wait_check(&svc("B"), "ran", |c| c["last_check"].is_string());
    let v1 = d.get("/api/reload").value("reload")["version"].clone();

    // v2: A's output changes, B goes, C comes.
    let a_before = d.check(&svc("A"));
    std::fs::write(&file, version("two", &[("C", "WARNING")], false)).unwrap();
    let out = d.cli_ok(&["reload"]);
    let v2 = d.get("/api/reload").value("reload").clone();
    assert_eq!((&v2["ok"], &v2["kept"], &v2["added"], &v2["removed"]), (&json!(true), &json!(2), &json!(1), &json!(1)));
    assert_ne!(v2["version"], v1);
    let v2 = v2["version"].as_str().unwrap().to_string();
    assert_eq!(out, format!("applied configuration {v2}: 2 kept, 1 added, 1 removed\n"));
    let a_after = d.check(&svc("A"));
    for field in
        ["status", "output", "hard", "attempt", "alert", "acknowledged", "last_check", "next_check", "last_change"]
    {
        assert_eq!(a_after[field], a_before[field], "A's {field} across the reload:\n{a_after:#}\n{a_before:#}");
    }
    assert_eq!(a_after["alert"], a["alert"]);
    assert_eq!(d.get(&format!("/api/check/{}", svc("B"))).error(404), format!("no such check {}", svc("B")));
    d.wait_check(&svc("C"), "alerted", |c| c["alert"].is_u64() && c["status"] == "WARNING");
    // A's new command applies from its next run; its problem stays the same alert.
    d.cli_ok(&["recheck", &svc("A")]);
    let a = d.wait_check(&svc("A"), "ran the new command", |c| c["output"] == "two");
    assert_eq!((&a["alert"], &a["acknowledged"]), (&a_before["alert"], &json!(true)));

    // Broken: two errors, both reported with their place; v2 keeps running.
    std::fs::write(&file, version("three", &[("C", "WARNING")], true)).unwrap();
    let c_before = d.check(&svc("C"));
    let o = d.cli(&["reload"]);
    assert_ne!(o.status.code(), Some(0), "a refused reload must fail:\n{}", describe(&o));
    assert_eq!(text(&o.stdout), format!("refused; still running configuration {v2}\n"), "{}", describe(&o));
    let err = text(&o.stderr);
    assert_eq!(err.matches("error: ").count(), 2, "{}", describe(&o));
    let lines = std::fs::read_to_string(&file).unwrap();
    for (words, needle) in [
        ("unknown parent service `no-such-template`", "no-such-template"),
        ("bad time range `monday 25:00-26:00`", "25:00-26:00"),
    ] {
        let (line, col) = place(&lines, needle);
        let at = format!("{}:{line}:{col}", file.display());
        assert!(err.contains(words) && err.contains(&at), "no {words:?} at {at} in\n{}", describe(&o));
    }
    let refused = d.get("/api/reload").value("reload").clone();
    assert_eq!((&refused["ok"], &refused["version"]), (&json!(false), &json!(v2)), "{refused:#}");
    assert!(refused["diagnostics"].as_str().is_some_and(|t| t.contains("no-such-template")), "{refused:#}");
    let c_ran = |c: &Value| c["last_check"] != c_before["last_check"];
    d.wait_check(&svc("C"), "ran after the refusal", c_ran);
    assert_eq!(d.check(&svc("A"))["output"], "two", "nothing of the broken version applies");

    // SIGHUP with a good version: applied like the CLI's.
    std::fs::write(&file, version("two", &[("C", "WARNING"), ("D", "OK")], false)).unwrap();
    d.signal(rustix::process::Signal::HUP);
    wait_until(
        || format!("the SIGHUP reload applied:\n{}", d.log()),
        || {
            let r = d.get("/api/reload").value("reload").clone();
            r["ok"] == true && r["version"] != v2.as_str()
        },
    );
    let v3 = d.get("/api/reload").value("reload").clone();
    assert_eq!((&v3["kept"], &v3["added"], &v3["removed"]), (&json!(3), &json!(1), &json!(0)), "{v3:#}");
    d.wait_check(&svc("D"), "ran", |c| c["last_check"].is_string());
    assert_eq!(d.check(&svc("A"))["alert"], a_before["alert"]);

    // The events of checks added by reloads carry their own paths.
    wait_until(
        || "C's and D's events".into(),
        || {
            events.poll();
            events.of("host/h/service/C", "alert").next().is_some()
                && events.of("host/h/service/D", "result").next().is_some()
        },
    );
    let c_alert = events.of("host/h/service/C", "alert").next().unwrap().clone();
    assert_eq!((&c_alert["status"], &c_alert["output"]), (&json!("WARNING"), &json!("C")), "{c_alert}");
    let b_last = events.all.iter().rposition(|e| e["check"] == svc("B").as_str());
    let c_first = events.all.iter().position(|e| e["check"] == svc("C").as_str());
    assert!(b_last < c_first, "B has events after C's first: {:#?}", &events.all[c_first.unwrap_or(0)..]);
    for e in events.all.iter().filter(|e| e["check"] == svc("D").as_str()) {
        assert_eq!(e["output"], "D", "{e}");
    }

    let (max, samples) = lateness.finish();
    assert!(samples >= 10, "{samples} health samples");
    assert!(max < INTERVAL_MS, "a check started {max} ms late around reloads (interval {INTERVAL_MS} ms)");
    let health = d.get("/api/health").value("health").clone();
    assert!(health["lateness_ms"]["max"].as_u64().unwrap() < INTERVAL_MS, "{health:#}");
    assert_eq!(d.terminate(), Some(0), "{}", d.log());
}

/// Line and column (1-based) of the first `needle` in `text`.
fn place(text: &str, needle: &str) -> (usize, usize) {
    for (i, line) in text.lines().enumerate() {
        if let Some(col) = line.find(needle) {
            return (i + 1, col + 1);
        }
    }
    panic!("no {needle} in\n{text}");
}
