//! `bergamot-cli` as an operator runs it: `config validate` (exit status, rustc-style
//! diagnostics, JSON), `config show` (where values came from, nested checks),
//! `timeperiod`, and `config new-site` followed by `config validate`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bergamot-cli")).args(args).output().expect("bergamot-cli runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn describe(o: &Output) -> String {
    format!("status {:?}\n--- stdout\n{}\n--- stderr\n{}", o.status.code(), text(&o.stdout), text(&o.stderr))
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", describe(o)))
}

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/examples").join(name).display().to_string()
}

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn validate_accepts_an_example_with_exit_status_0() {
    let o = cli(&["config", "validate", &example("hosts-services-traps")]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let out = text(&o.stdout);
    assert!(out.contains("site hosts-services-traps.example.org:"), "{out}");
    assert!(out.contains("valid: 4 file(s), 1 site(s), 0 error(s), 0 warning(s)"), "{out}");
    assert!(text(&o.stderr).is_empty(), "{}", describe(&o));

    let o = cli(&["config", "validate", "--json", &example("hosts-services-traps")]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let v = json(&o);
    assert_eq!(v["ok"], true);
    assert_eq!(v["errors"], 0);
    assert_eq!(v["sites"][0]["site"], "hosts-services-traps.example.org");
    assert!(v["sites"][0]["checks"].as_u64().unwrap() > 5, "{v:#}");
    assert_eq!(v["diagnostics"].as_array().unwrap().len(), 0);
}

#[test]
fn validate_refuses_a_broken_site_with_rustc_style_diagnostics() {
    let dir = scratch("broken");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("site.xml");
    std::fs::write(
        &file,
        "<bergamot site=\"d\">\n    <host name=\"h\" extends=\"generic-hots\"/>\n    <host name=\"generic-host\" template=\"yes\"/>\n    <time-period name=\"p\"><time-range>monday 25:00-26:00</time-range></time-period>\n</bergamot>\n",
    )
    .unwrap();
    let d = dir.display().to_string();
    let o = cli(&["config", "validate", &d]);
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    let err = text(&o.stderr);
    let f = file.display();
    for want in [
        "error: unknown parent host `generic-hots`\n".to_string(),
        format!(" --> {f}:2:29\n"),
        "  |\n2 |     <host name=\"h\" extends=\"generic-hots\"/>\n".to_string(),
        format!("  | {}^\n", " ".repeat(28)),
        "  = object: d/host/h\n".to_string(),
        "  = help: did you mean `generic-host`?\n".to_string(),
        "error: bad time range `monday 25:00-26:00`".to_string(),
        format!(" --> {f}:4:46\n"),
        format!("  | {}^\n", " ".repeat(45)),
        "  = object: d/time-period/p\n".to_string(),
    ] {
        assert!(err.contains(&want), "stderr lacks {want:?}:\n{}", describe(&o));
    }
    assert!(text(&o.stdout).contains("invalid: 1 file(s), 1 site(s), 2 error(s), 0 warning(s)"), "{}", describe(&o));

    let o = cli(&["config", "validate", "--json", &d]);
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    let v = json(&o);
    assert_eq!((v["ok"].clone(), v["errors"].clone()), (Value::Bool(false), Value::from(2)));
    let first = &v["diagnostics"][0];
    assert_eq!(first["severity"], "error");
    assert_eq!(first["message"], "unknown parent host `generic-hots`");
    assert_eq!(first["object"], "d/host/h");
    assert_eq!(first["hint"], "did you mean `generic-host`?");
    assert_eq!(first["at"]["file"], file.display().to_string());
    assert_eq!((first["at"]["line"].as_u64(), first["at"]["column"].as_u64()), (Some(2), Some(29)));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn show_says_where_every_value_came_from() {
    let dir = example("inheritance");
    let o = cli(&["config", "show", &dir, "host", "localhost", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let v = json(&o);
    assert_eq!(v["path"], "inheritance.example.org/host/localhost");
    assert_eq!(v["template"], false);
    assert_eq!(v["extends"], serde_json::json!(["linux-server"]));
    let values = v["values"].as_array().expect("values");
    for e in values {
        assert!(
            e["from"]["object"].is_string()
                && e["from"]["file"].is_string()
                && e["from"]["line"].as_u64().unwrap() >= 1,
            "{e:#}"
        );
    }
    let tp = values.iter().find(|e| e["key"] == "notifications.time-period").expect("notifications.time-period");
    assert_eq!(tp["value"], "24x7");
    assert_eq!(tp["from"]["object"], "inheritance.example.org/host/generic-host");
    assert!(tp["from"]["file"].as_str().unwrap().ends_with("inheritance.xml"), "{tp:#}");
    assert_eq!(tp["from"]["line"], 23);
    assert_eq!(v["command"], "check_host_alive");
    let line = v["parameters"].as_array().unwrap().iter().find(|p| p["name"] == "command_line").unwrap();
    assert_eq!(line["evaluated"], "/usr/lib/nagios/plugins/check_ping -H localhost -w 100.0,20% -c 500.0,60% -p 5");
    let nested = v["nested"].as_array().unwrap();
    assert_eq!(nested.len(), 1);
    assert_eq!(nested[0]["path"], "inheritance.example.org/host/localhost/service/check_load");

    // A nested service as HOST/NAME, in text.
    let o = cli(&["config", "show", &dir, "service", "localhost/check_load"]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let out = text(&o.stdout);
    for want in [
        "service check_load\n",
        "path:       inheritance.example.org/host/localhost/service/check_load",
        "schedule.time-period = 24x7",
        "from inheritance.example.org/service/generic-service (",
        "inheritance.xml:19:",
        "command check_load:",
        "host = localhost  (written `#{host.address}`)",
    ] {
        assert!(out.contains(want), "show lacks {want:?}:\n{out}");
    }
    let o = cli(&["config", "show", &dir, "service", "localhost/check_load", "--json"]);
    let v = json(&o);
    assert_eq!(v["kind"], "service");
    assert_eq!(v["template"], false);

    // An unknown object: exit status 2 and a hint.
    let o = cli(&["config", "show", &dir, "host", "localhots"]);
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    assert!(text(&o.stderr).contains("did you mean `localhost`?"), "{}", describe(&o));
}

#[test]
fn timeperiod_says_whether_a_period_is_active_and_when_that_changes() {
    let dir = example("time-periods");
    let o = cli(&["timeperiod", &dir, "workhours", "--at", "2026-11-23T10:00:00Z", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let v = json(&o);
    assert_eq!(v["active"], true);
    assert_eq!(v["next_change"], "2026-11-23T17:30:00Z");
    assert_eq!(v["time_zone"], "Europe/London");
    assert_eq!(v["period"], "workhours");

    // On Christmas Day (a Friday) work hours are off until the Monday after Boxing Day.
    let o = cli(&["timeperiod", &dir, "workhours", "--at", "2026-12-25T10:00:00Z", "--json"]);
    let v = json(&o);
    assert_eq!(v["active"], false);
    assert_eq!(v["next_change"], "2026-12-28T09:00:00Z");

    let o = cli(&["timeperiod", &dir, "out-of-hours", "--at", "2026-11-23T10:00:00Z"]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    assert!(text(&o.stdout).contains("out-of-hours is inactive"), "{}", describe(&o));
}

#[test]
fn new_site_then_validate_is_clean() {
    let dir = scratch("new-site");
    let d = dir.display().to_string();
    let o = cli(&["config", "new-site", "office.example.net", &d]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let o = cli(&["config", "validate", &d]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    assert!(text(&o.stdout).contains("0 error(s), 0 warning(s)"), "{}", describe(&o));
    assert!(text(&o.stderr).is_empty(), "{}", describe(&o));
    let v = json(&cli(&["config", "validate", "--json", &d]));
    assert_eq!((v["errors"].as_u64(), v["warnings"].as_u64()), (Some(0), Some(0)), "{v:#}");
    assert_eq!(v["sites"][0]["site"], "office.example.net");
    // A second new-site into the same (now non-empty) directory is refused.
    let o = cli(&["config", "new-site", "office.example.net", &d]);
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    let _ = std::fs::remove_dir_all(&dir);
}
