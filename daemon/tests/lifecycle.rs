//! `bergamotd`'s life as an operator sees it, end to end through its HTTP API and
//! `bergamot-cli`: a restart puts back everything (states, soft/hard counters,
//! alerts with acknowledgements and comments, downtimes, suppression, the
//! configuration version) and resumes checks spread over their intervals; repeated
//! `kill -9` under load leaves a sound database that kept every action the API
//! confirmed; a reload keeps state, refuses a broken configuration with its
//! diagnostics and makes no check late; every operator action works through both the
//! API and the CLI, and bad requests say what is wrong.
//!
//! Sites use the dummy engine (fixed results) and a check_dummy plugin, with short
//! intervals, or none (a time period in 2099) where a check must run only when
//! re-checked. Waits only guard against hanging; the timing figures asserted are the
//! daemon's own lateness across reloads and the spread of first runs after a restart.

#[path = "../../netprobes/tests/common/mod.rs"]
mod common;

#[allow(dead_code)]
#[path = "bergamotd/follow.rs"]
mod follow;
#[allow(dead_code)]
#[path = "bergamotd/peers.rs"]
mod peers;

#[path = "lifecycle/actions.rs"]
mod actions;
#[path = "lifecycle/harness.rs"]
mod harness;
#[path = "lifecycle/kill.rs"]
mod kill;
#[path = "lifecycle/reload.rs"]
mod reload;

use std::collections::BTreeMap;

use bergamot_daemon::store::{Store, StoreConfig};
use jiff::Timestamp;
use serde_json::{Value, json};

use follow::Events;
use harness::Bergamotd;
use peers::{Scratch, wait_until};

const BERGAMOTD: &str = env!("CARGO_BIN_EXE_bergamotd");
const CLI: &str = env!("CARGO_BIN_EXE_bergamot-cli");
const SITE: &str = "life.example";

/// The full path of a check of the site.
fn p(rest: &str) -> String {
    format!("{SITE}/{rest}")
}

/// A site: templates `fast` (1 s, thresholds 2/2), `every2` (2 s, 1/1), `manual`
/// (1/1) and `patient` (5/5), which run only when re-checked (their time period is
/// in 2099), `spread` (10 s); commands `fixed` (dummy engine) and `plugin` (nagios);
/// time period `maint`; then `body`.
fn site(body: &str) -> String {
    format!(
        r#"<bergamot site="{SITE}">
    <time-zone id="UTC"/>
    <command name="fixed" engine="dummy"><parameter name="status">OK</parameter></command>
    <command name="plugin" engine="nagios"><parameter name="command_line"></parameter></command>
    <service name="fast" template="yes">
        <state failed-after="2" recovers-after="2"/>
        <schedule every="1s" retry-every="1s" changing-every="1s"/>
    </service>
    <service name="every2" template="yes">
        <state failed-after="1" recovers-after="1"/>
        <schedule every="2s" retry-every="2s" changing-every="2s"/>
    </service>
    <service name="manual" template="yes">
        <state failed-after="1" recovers-after="1"/>
        <schedule every="1h" retry-every="1h" changing-every="1h" time-period="someday"/>
    </service>
    <service name="patient" template="yes">
        <state failed-after="5" recovers-after="5"/>
        <schedule every="1h" retry-every="1h" changing-every="1h" time-period="someday"/>
    </service>
    <service name="spread" template="yes">
        <schedule every="10s" retry-every="10s" changing-every="10s"/>
    </service>
    <time-period name="maint"><time-range>sunday 02:00-04:00</time-range></time-period>
    <time-period name="someday"><time-range>2099-01-01 00:00-24:00</time-range></time-period>
{body}
</bergamot>
"#
    )
}

/// A dummy service: `status` and `output` from the `fixed` command.
fn service(name: &str, template: &str, status: &str, output: &str) -> String {
    format!(
        r#"        <service name="{name}" extends="{template}"><check-command command="fixed"><parameter name="status">{status}</parameter><parameter name="output">{output}</parameter></check-command></service>
"#
    )
}

/// Host `h` (dummy OK every `every`) with `services`.
fn host(every: &str, services: &str) -> String {
    format!(
        r#"    <host name="h" address="127.0.0.1">
        <schedule every="{every}" retry-every="{every}" changing-every="{every}"/>
        <check-command command="fixed"/>
{services}    </host>
"#
    )
}

/// An instant of the API (RFC 3339), to the millisecond the store keeps.
fn ms(v: &Value) -> Option<i64> {
    v.as_str().map(|s| s.parse::<Timestamp>().unwrap_or_else(|e| panic!("{s}: {e}")).as_millisecond())
}

/// What of a check a restart must keep, times to the millisecond.
fn kept(c: &Value) -> Value {
    json!({
        "status": c["status"], "ok": c["ok"], "hard": c["hard"], "attempt": c["attempt"],
        "last_hard_status": c["last_hard_status"], "last_change": ms(&c["last_change"]),
        "last_hard_change": ms(&c["last_hard_change"]), "alert": c["alert"], "acknowledged": c["acknowledged"],
        "suppressed": c["suppressed"], "in_downtime": c["in_downtime"], "flapping": c["flapping"],
    })
}

const CRITS: [&str; 4] = ["crit-ack", "crit-down", "crit-supp", "crit-note"];
/// Alerted and left alone: a dummy WARNING, and a plugin (check_dummy) CRITICAL.
const PLAIN: [&str; 2] = ["warn", "plugin-crit"];
const CHECK_DUMMY: &str = "/usr/lib/nagios/plugins/check_dummy";
const SPREAD: usize = 24;

#[test]
fn restart_restores_state_alerts_actions_and_version_and_resumes_spread_out() {
    common::ensure(&["monitoring-plugins-basic"], &[CHECK_DUMMY]);
    let dir = Scratch::new("restart");
    let mut services = String::new();
    for name in CRITS {
        services.push_str(&service(name, "fast", "CRITICAL", "broken"));
    }
    services.push_str(&service("warn", "fast", "WARNING", "wobbly"));
    services.push_str(&format!(
        "        <service name=\"plugin-crit\" extends=\"fast\"><check-command command=\"plugin\"><parameter name=\"command_line\">{CHECK_DUMMY} 2 'plugin says no'</parameter></check-command></service>\n"
    ));
    services.push_str(&service("soft", "patient", "CRITICAL", "getting worse"));
    for i in 0..SPREAD {
        services.push_str(&service(&format!("spread-{i:02}"), "spread", "OK", "fine"));
    }
    let conf = dir.write("conf/site.xml", &site(&host("1s", &services)), 0o644);
    let conf = conf.parent().unwrap();
    let data = dir.path("data");
    let svc = |name: &str| p(&format!("host/h/service/{name}"));
    let spread: Vec<String> = (0..SPREAD).map(|i| svc(&format!("spread-{i:02}"))).collect();

    let mut d = Bergamotd::start(conf, &data, &dir.path("events-1.jsonl"), dir.path("log-1"), &[]);
    for name in CRITS.iter().chain(&PLAIN) {
        d.wait_check(&svc(name), "alerted", |c| c["hard"] == true && c["ok"] == false && c["alert"].is_u64());
    }
    // Soft, attempt 2 of 5: two re-checks of a check that never runs by itself.
    for attempt in 1..=2 {
        d.call("POST", &format!("/api/check/{}/recheck", svc("soft")), None).value("done");
        d.wait_check(&svc("soft"), "counted", |c| c["attempt"] == attempt && c["status"] == "CRITICAL");
    }
    assert_eq!(d.check(&svc("soft"))["hard"], false);

    let out = d.cli_ok(&["ack", &svc("crit-ack"), "-m", "on it"]);
    assert_eq!(out, "done\n");
    let until = Timestamp::now() + jiff::SignedDuration::from_hours(1);
    let body = json!({"action": "downtime", "path": svc("crit-down"), "to": until.to_string(), "comment": "swap"});
    let downtime = d.act(&body).value("done")["id"].as_u64().expect("a downtime id");
    d.cli_ok(&["suppress", &svc("crit-supp")]);
    let body = json!({"action": "comment", "path": svc("crit-note"), "text": "replaced the PSU", "by": "ann"});
    let comment = d.act(&body).value("done")["id"].as_u64().expect("a comment id");
    for path in &spread {
        d.wait_check(path, "ran", |c| c["last_check"].is_string());
    }
    let version = d.get("/api/reload").value("reload")["version"].as_str().unwrap().to_string();

    let watched: Vec<String> =
        CRITS.iter().chain(&PLAIN).chain(&["soft"]).map(|n| svc(n)).chain(spread.clone()).collect();
    let before: BTreeMap<&String, Value> = watched.iter().map(|path| (path, d.check(path))).collect();
    let alerts_before = d.get("/api/alerts?open=1").value("alerts").clone();
    assert_eq!(d.terminate(), Some(0), "{}", d.log());

    let mut events = Events::new(dir.path("events-2.jsonl"));
    let mut d = Bergamotd::start(conf, &data, &events.path.clone(), dir.path("log-2"), &[]);
    for (path, was) in &before {
        let now = d.check(path);
        assert_eq!(kept(&now), kept(was), "{path} after the restart:\n{now:#}\nbefore:\n{was:#}");
    }
    // Nothing ran it since: its counter is exactly where it was.
    let soft = d.check(&svc("soft"));
    let was = &before[&svc("soft")];
    assert_eq!((ms(&soft["last_check"]), &soft["attempt"]), (ms(&was["last_check"]), &json!(2)), "{soft:#}");
    let flags = |name: &str| {
        let c = d.check(&svc(name));
        (c["acknowledged"].as_bool().unwrap(), c["in_downtime"].as_bool().unwrap(), c["suppressed"].as_bool().unwrap())
    };
    assert_eq!(flags("crit-ack"), (true, false, false));
    assert_eq!(flags("crit-down"), (false, true, false));
    assert_eq!(flags("crit-supp"), (false, false, true));
    assert_eq!(flags("crit-note"), (false, false, false));

    let alerts = d.get("/api/alerts?open=1").value("alerts").clone();
    assert_eq!(alerts, alerts_before, "open alerts after the restart");
    let acked = alerts.as_array().unwrap().iter().find(|a| a["path"] == svc("crit-ack").as_str()).expect("its alert");
    assert_eq!((&acked["acknowledged_by"], &acked["ack_comment"]), (&json!("tester"), &json!("on it")), "{acked}");
    assert_eq!(acked["id"], before[&svc("crit-ack")]["alert"]);
    let downtimes = d.get("/api/downtimes").value("downtimes").clone();
    let row = downtimes.as_array().unwrap().iter().find(|r| r["id"] == downtime).expect("the downtime is listed");
    assert_eq!(
        (&row["path"], &row["comment"], ms(&row["to"])),
        (&json!(svc("crit-down")), &json!("swap"), Some(until.as_millisecond()))
    );
    let comments = d.get(&format!("/api/check/{}/comments", svc("crit-note"))).value("comments").clone();
    assert_eq!(comments.as_array().map(Vec::len), Some(1), "{comments:#}");
    assert_eq!(
        (&comments[0]["id"], &comments[0]["text"], &comments[0]["by"]),
        (&json!(comment), &json!("replaced the PSU"), &json!("ann"))
    );
    for (name, kind, words) in [
        ("crit-ack", "acknowledged", "on it"),
        ("crit-ack", "alert", "broken"),
        ("crit-down", "downtime", "swap"),
        ("crit-supp", "comment", "suppressed"),
        ("crit-note", "comment", "replaced the PSU"),
        ("plugin-crit", "alert", "plugin says no"),
        ("soft", "state-change", "getting worse"),
    ] {
        let history = d.get(&format!("/api/check/{}/history", svc(name))).value("history").clone();
        let found = history
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["kind"] == kind && h["output"].as_str().is_some_and(|o| o.contains(words)));
        assert!(found, "no {kind} ({words}) in the history of {name}: {history:#}");
    }
    // The start-up's load: the same version, every check's state put back.
    let reload = d.get("/api/reload").value("reload").clone();
    let checks = d.get("/api/health").value("health")["checks"].clone();
    assert_eq!(checks, json!(CRITS.len() + PLAIN.len() + SPREAD + 2));
    assert_eq!(
        (&reload["version"], &reload["ok"], &reload["kept"], &reload["added"], &reload["removed"]),
        (&json!(version), &json!(true), &checks, &json!(0), &json!(0)),
        "{reload:#}"
    );

    // Every restored check runs again; the spread ones at their own phase, over
    // their 10 s, not in a burst; none of the alerted ones alerts again.
    let alerted: Vec<String> = CRITS.iter().chain(&PLAIN).map(|n| svc(n)).collect();
    wait_until(
        || format!("a result of every check after the restart:\n{}", d.log()),
        || {
            events.poll();
            let ran = |path: &String| events.all.iter().any(|e| e["event"] == "result" && e["check"] == path.as_str());
            spread.iter().chain(&alerted).all(ran)
        },
    );
    for path in &alerted {
        let again: Vec<&Value> =
            events.all.iter().filter(|e| e["check"] == path.as_str() && e["event"] != "result").collect();
        assert!(again.is_empty(), "{path} after the restart: {again:#?}");
    }
    let firsts: Vec<i64> = spread
        .iter()
        .map(|path| {
            let first = events.all.iter().find(|e| e["event"] == "result" && e["check"] == path.as_str()).unwrap();
            ms(&first["at"]).unwrap()
        })
        .collect();
    let (first, last) = (firsts.iter().min().unwrap(), firsts.iter().max().unwrap());
    assert!(last - first >= 3_000, "first runs of {SPREAD} checks every 10 s within {} ms: {firsts:?}", last - first);
    let burst = firsts.iter().filter(|t| **t - first < 100).count();
    assert!(burst <= SPREAD / 4, "{burst} of {SPREAD} first runs in the first 100 ms: {firsts:?}");
    assert_eq!(d.terminate(), Some(0), "{}", d.log());

    // The store has the version on record.
    let (store, restored) = Store::open(StoreConfig::in_dir(&data)).unwrap();
    assert_eq!(restored.config_version, Some(version));
    store.close().unwrap();
}
