//! Every operator action, once through `POST /api/actions` (or the re-check route)
//! and once through `bergamot-cli`: acknowledge with a comment, downtime until an
//! instant and for a time period, cancel a downtime, suppress and unsuppress,
//! comment, re-check. Each shows in `/api/check/PATH` and in its history; bad
//! requests get their status and a message that says what is wrong, and the CLI
//! exits non-zero with that message.

use jiff::civil::Weekday;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::follow::{describe, text};
use super::harness::Bergamotd;
use super::peers::{Scratch, free_tcp_port, wait_until};
use super::{host, ms, p, service, site};

fn svc(name: &str) -> String {
    p(&format!("host/h/service/{name}"))
}

/// The check's history, newest first.
fn history(d: &Bergamotd, name: &str) -> Vec<Value> {
    d.get(&format!("/api/check/{}/history", svc(name))).value("history").as_array().unwrap().clone()
}

/// The newest history line of `kind`, once there is one (results reach the history
/// in batches, within `--batch-ms`; operator actions before they are answered).
fn newest(d: &Bergamotd, name: &str, kind: &str) -> Value {
    let mut line = None;
    wait_until(
        || format!("a {kind} in the history of {name}: {:#?}", history(d, name)),
        || {
            line = history(d, name).into_iter().find(|e| e["kind"] == kind);
            line.is_some()
        },
    );
    line.unwrap_or_default()
}

/// `bergamot-cli` that must fail: its message.
fn cli_err(d: &Bergamotd, args: &[&str]) -> String {
    let o = d.cli(args);
    assert_ne!(o.status.code(), Some(0), "bergamot-cli {args:?} must fail:\n{}", describe(&o));
    assert!(o.stdout.is_empty(), "{}", describe(&o));
    text(&o.stderr)
}

/// The downtime `id` as `/api/downtimes?all=1` lists it.
fn downtime(d: &Bergamotd, id: u64) -> Value {
    let all = d.get("/api/downtimes?all=1").value("downtimes").clone();
    all.as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no downtime {id}: {all:#}"))
}

fn listed(d: &Bergamotd, id: u64) -> bool {
    d.get("/api/downtimes").value("downtimes").as_array().unwrap().iter().any(|r| r["id"] == id)
}

/// The id in the CLI's `done (id N)`.
fn done_id(out: &str) -> u64 {
    out.strip_prefix("done (id ")
        .and_then(|r| r.strip_suffix(")\n"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{out:?}"))
}

/// When `maint` (sunday 02:00-04:00 UTC) is next active from `now`, and when it ends.
fn maint_window(now: Timestamp) -> (Timestamp, Timestamp) {
    let mut day = now.to_zoned(TimeZone::UTC).date();
    loop {
        let at = |h| day.at(h, 0, 0, 0).to_zoned(TimeZone::UTC).unwrap().timestamp();
        if day.weekday() == Weekday::Sunday && at(4) > now {
            return (at(2).max(now), at(4));
        }
        day = day.tomorrow().unwrap();
    }
}

#[test]
fn every_action_works_through_the_api_and_the_cli_and_bad_requests_say_why() {
    let dir = Scratch::new("actions");
    let mut services = String::new();
    for (name, status) in [("c1", "CRITICAL"), ("c2", "CRITICAL"), ("ok1", "OK"), ("ok2", "OK")] {
        services.push_str(&service(name, "manual", status, &format!("{name} says {status}")));
    }
    let conf = dir.write("conf/site.xml", &site(&host("1h", &services)), 0o644);
    let d = &mut Bergamotd::start(conf.parent().unwrap(), &dir.path("data"), &dir.path("events"), dir.path("log"), &[]);

    // Re-check: the checks run only when asked (their time period is in 2099).
    for (name, by_cli) in [("c1", false), ("c2", true), ("ok1", false), ("ok2", true)] {
        assert!(d.check(&svc(name))["last_check"].is_null(), "{name} ran by itself");
        if by_cli {
            assert_eq!(d.cli_ok(&["recheck", &svc(name)]), "done\n");
        } else {
            d.call("POST", &format!("/api/check/{}/recheck", svc(name)), None).value("done");
        }
        d.wait_check(&svc(name), "ran", |c| c["last_check"].is_string() && c["hard"] == true);
    }
    for name in ["c1", "c2"] {
        let alert = newest(d, name, "alert");
        assert_eq!((&alert["status"], &alert["output"]), (&json!("CRITICAL"), &json!(format!("{name} says CRITICAL"))));
    }
    let first = d.check(&svc("ok1"))["last_check"].clone();
    d.act(&json!({"action": "recheck", "path": svc("ok1")})).value("done");
    d.wait_check(&svc("ok1"), "ran again", |c| c["last_check"] != first);

    // Acknowledge, with a comment.
    d.act(&json!({"action": "acknowledge", "path": svc("c1"), "comment": "api ack"})).value("done");
    assert_eq!(d.cli_ok(&["ack", &svc("c2"), "-m", "cli ack"]), "done\n");
    let alerts = d.get("/api/alerts?open=1").value("alerts").clone();
    for (name, by, comment) in [("c1", "api", "api ack"), ("c2", "tester", "cli ack")] {
        let c = d.check(&svc(name));
        assert_eq!(c["acknowledged"], true, "{c:#}");
        let line = newest(d, name, "acknowledged");
        assert_eq!((&line["by"], &line["output"], &line["alert_id"]), (&json!(by), &json!(comment), &c["alert"]));
        let row = alerts.as_array().unwrap().iter().find(|a| a["id"] == c["alert"]).expect("its open alert");
        assert_eq!((&row["acknowledged_by"], &row["ack_comment"]), (&json!(by), &json!(comment)), "{row}");
    }
    let again = d.act(&json!({"action": "acknowledge", "path": svc("c1"), "comment": "x"}));
    assert!(again.error(409).contains("has no problem to acknowledge"), "{again:?}");
    let err = cli_err(d, &["ack", &svc("ok1"), "-m", "x"]);
    assert_eq!(
        err,
        format!(
            "error: {} has no problem to acknowledge (its last hard state is ok, or it is acknowledged already)\n",
            svc("ok1")
        )
    );

    // Downtime until an instant.
    let until = Timestamp::now() + SignedDuration::from_hours(1);
    let body = json!({"action": "downtime", "path": svc("c1"), "to": until.to_string(), "comment": "api window"});
    let d1 = d.act(&body).value("done")["id"].as_u64().expect("an id");
    let out = d.cli_ok(&["downtime", &svc("c2"), "--until", &until.to_string(), "-m", "cli window"]);
    let d2 = done_id(&out);
    for (name, id, by, comment) in [("c1", d1, "api", "api window"), ("c2", d2, "tester", "cli window")] {
        assert_eq!(d.check(&svc(name))["in_downtime"], true, "{name}");
        let row = downtime(d, id);
        assert_eq!(
            (&row["path"], &row["by"], &row["comment"], ms(&row["to"])),
            (&json!(svc(name)), &json!(by), &json!(comment), Some(until.as_millisecond()))
        );
        assert!(listed(d, id));
        let line = newest(d, name, "downtime");
        assert!(
            line["output"].as_str().is_some_and(|o| o.contains(&format!("#{id}")) && o.contains(comment)),
            "{line}"
        );
    }

    // Downtime for the length of a time period of the site.
    let now = Timestamp::now();
    let (from, to) = maint_window(now);
    let d3 = d
        .act(&json!({"action": "downtime", "path": svc("ok1"), "period": "maint", "comment": "patching"}))
        .value("done")["id"]
        .as_u64()
        .expect("an id");
    let d4 = done_id(&d.cli_ok(&["downtime", &svc("ok2"), "--period", "maint"]));
    for (name, id) in [("ok1", d3), ("ok2", d4)] {
        let row = downtime(d, id);
        assert_eq!(ms(&row["to"]), Some(to.as_millisecond()), "{row}");
        if from > now {
            assert_eq!(ms(&row["from"]), Some(from.as_millisecond()), "{row}");
            assert_eq!(d.check(&svc(name))["in_downtime"], false, "not yet");
        }
        assert_eq!(row["period"], "maint", "which period it was for: {row}");
    }

    // Downtimes that cannot be.
    let bad: &[(Value, u16, &str)] = &[
        (json!({"action": "downtime", "path": svc("c1"), "period": "nope", "comment": ""}), 404, "no time period nope"),
        (json!({"action": "downtime", "path": svc("c1"), "comment": ""}), 400, "a downtime needs `to` or `period`"),
        (
            json!({"action": "downtime", "path": svc("c1"), "from": until.to_string(), "to": now.to_string(), "comment": ""}),
            400,
            "must end after it starts",
        ),
        (json!({"action": "downtime", "path": svc("c1"), "to": "tomorrow", "comment": ""}), 400, "bad time `tomorrow`"),
        (
            json!({"action": "downtime", "path": svc("nope"), "to": until.to_string(), "comment": ""}),
            404,
            "no such check",
        ),
    ];
    for (body, status, words) in bad {
        let a = d.act(body);
        assert!(a.error(*status).contains(words), "{body}: {a:?}");
    }

    // Cancel.
    d.act(&json!({"action": "cancel-downtime", "id": d1})).value("done");
    assert_eq!(d.cli_ok(&["cancel-downtime", &d2.to_string()]), format!("done (id {d2})\n"));
    for (name, id, by) in [("c1", d1, "api"), ("c2", d2, "tester")] {
        assert_eq!(d.check(&svc(name))["in_downtime"], false, "{name}");
        assert!(!listed(d, id) && downtime(d, id)["cancelled"].is_string());
        let line = newest(d, name, "downtime-cancelled");
        assert_eq!((&line["by"], &line["output"]), (&json!(by), &json!(format!("downtime #{id} cancelled"))));
    }
    assert_eq!(cli_err(d, &["cancel-downtime", &d2.to_string()]), format!("error: no such downtime {d2}\n"));
    assert!(d.act(&json!({"action": "cancel-downtime", "id": 999_999})).error(404).contains("no such downtime"));

    // Suppress and unsuppress.
    d.act(&json!({"action": "suppress", "path": svc("ok1"), "suppressed": true})).value("done");
    assert_eq!(d.check(&svc("ok1"))["suppressed"], true);
    assert_eq!(newest(d, "ok1", "comment")["output"], "suppressed");
    d.cli_ok(&["unsuppress", &svc("ok1")]);
    assert_eq!(d.check(&svc("ok1"))["suppressed"], false);
    let line = newest(d, "ok1", "comment");
    assert_eq!((&line["output"], &line["by"]), (&json!("unsuppressed"), &json!("tester")));
    d.cli_ok(&["suppress", &svc("ok2")]);
    assert_eq!(d.check(&svc("ok2"))["suppressed"], true);
    d.act(&json!({"action": "suppress", "path": svc("ok2"), "suppressed": false, "by": "ann"})).value("done");
    assert_eq!(d.check(&svc("ok2"))["suppressed"], false);
    assert_eq!(newest(d, "ok2", "comment")["by"], "ann");

    // Comment.
    let id = d.act(&json!({"action": "comment", "path": svc("c1"), "text": "api note"})).value("done")["id"]
        .as_u64()
        .unwrap();
    let cli_id = done_id(&d.cli_ok(&["comment", &svc("c2"), "cli note"]));
    for (name, id, by, words) in [("c1", id, "api", "api note"), ("c2", cli_id, "tester", "cli note")] {
        let comments = d.get(&format!("/api/check/{}/comments", svc(name))).value("comments").clone();
        let c = comments.as_array().unwrap().iter().find(|c| c["id"] == id).unwrap_or_else(|| panic!("{comments:#}"));
        assert_eq!((&c["by"], &c["text"]), (&json!(by), &json!(words)));
        assert_eq!(newest(d, name, "comment")["output"], words);
    }

    // Bad requests, and what the CLI says of them.
    let unknown = svc("nope");
    assert_eq!(d.get(&format!("/api/check/{unknown}")).error(404), format!("no such check {unknown}"));
    assert!(d.get(&format!("/api/check/{unknown}/history")).error(404).contains("no such check"));
    let table: &[(&str, &str, u16, &str)] = &[
        ("POST", "{", 400, "malformed JSON"),
        ("POST", "", 400, "malformed JSON"),
        ("POST", r#"{"action":"explode","path":"x"}"#, 400, "not an action: unknown variant `explode`"),
        ("POST", r#"{"action":"acknowledge","path":"x"}"#, 400, "not an action: missing field `comment`"),
        ("GET", "", 405, ""),
    ];
    for (method, body, status, words) in table {
        let a = d.call(method, "/api/actions", Some(body));
        assert!(a.error(*status).contains(words), "{method} {body:?}: {a:?}");
    }
    let a = d.act(&json!({"action": "acknowledge", "path": unknown, "comment": "x"}));
    assert_eq!(a.error(404), format!("no such check: {unknown}"));
    for args in [
        vec!["recheck", unknown.as_str()],
        vec!["ack", unknown.as_str(), "-m", "x"],
        vec!["comment", unknown.as_str(), "x"],
        vec!["suppress", unknown.as_str()],
    ] {
        let err = cli_err(d, &args);
        assert!(err.starts_with("error: no such check") && err.contains(&unknown), "{args:?}: {err}");
    }
    let err = cli_err(d, &["downtime", &svc("c1")]);
    assert_eq!(err, "error: a downtime needs `to` or `period`\n");
    let gone = format!("http://127.0.0.1:{}", free_tcp_port());
    let o = std::process::Command::new(super::CLI).args(["--daemon", &gone, "recheck", &svc("c1")]).output().unwrap();
    assert_ne!(o.status.code(), Some(0));
    assert!(text(&o.stderr).contains("cannot reach bergamotd"), "{}", describe(&o));

    d.assert_running();
    assert_eq!(d.terminate(), Some(0), "{}", d.log());
}
