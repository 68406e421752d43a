//! `kill -9` under load, again and again at pseudo-random moments while operator
//! actions are under way: after each kill the database passes `PRAGMA
//! integrity_check` and holds every action the API confirmed (read with the store's
//! own reader, as the next start would); the daemon starts again on it, and at the end
//! its API shows them all.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use bergamot_daemon::store::{Store, StoreConfig};
use jiff::Timestamp;
use serde_json::{Value, json};

use super::harness::{Bergamotd, Rng};
use super::peers::{Scratch, wait_until};
use super::{host, p, service, site};

const CHECKS: usize = 300;
const KILLS: usize = 8;

/// What the API confirmed, and what is unknown because the kill cut the answer off.
#[derive(Debug, Default)]
struct Ledger {
    /// Check → (alert id, comment) of each confirmed acknowledgement.
    acks: BTreeMap<String, (u64, String)>,
    /// Comment id → (check, text).
    comments: BTreeMap<u64, (String, String)>,
    /// Downtime id → (check, cancelled: Some(true) confirmed, Some(false) not asked,
    /// None asked without an answer).
    downtimes: BTreeMap<u64, (String, Option<bool>)>,
    /// Check → suppressed, or None when a change was asked without an answer.
    suppressed: BTreeMap<String, Option<bool>>,
    confirmed: usize,
}

fn svc(i: usize) -> String {
    p(&format!("host/h/service/s{i:03}"))
}

fn critical(i: usize) -> bool {
    i % 3 == 0
}

#[test]
fn kill_9_under_load_keeps_the_database_sound_and_every_confirmed_action() {
    let dir = Scratch::new("kill");
    let mut services = String::new();
    for i in 0..CHECKS {
        let status = if critical(i) { "CRITICAL" } else { "OK" };
        services.push_str(&service(&format!("s{i:03}"), "fast", status, &format!("n{i}")));
    }
    let conf = dir.write("conf/site.xml", &site(&host("1s", &services)), 0o644);
    let conf = conf.parent().unwrap().to_path_buf();
    let data = dir.path("data");
    let mut rng = Rng::new(0x5eed_b0a7);
    let mut ledger = Ledger::default();

    for round in 0..KILLS {
        let log = dir.path(&format!("log-{round}"));
        let events = dir.path(&format!("events-{round}.jsonl"));
        let mut d = Bergamotd::start(&conf, &data, &events, log, &["--batch-ms", "200"]);
        if round == 0 {
            wait_until(|| format!("hard alerts:\n{}", d.log()), || unacknowledged(&d).len() >= 30);
        }
        let mut open = unacknowledged(&d);
        let pid = d.pid();
        let delay = Duration::from_millis(rng.between(300, 2_000));
        let killer = std::thread::spawn(move || {
            std::thread::sleep(delay);
            let pid = rustix::process::Pid::from_raw(pid as i32).expect("a pid");
            // Not reaped until the test waits for it: the PID cannot be reused.
            rustix::process::kill_process(pid, rustix::process::Signal::KILL).expect("SIGKILL");
        });
        let mut step = 0usize;
        while act(&d, round, step, &mut rng, &mut open, &mut ledger) {
            step += 1;
        }
        killer.join().unwrap();
        d.kill();
        verify_store(&data, &ledger, round);
    }
    eprintln!(
        "{} actions confirmed: {} acknowledgements, {} comments, {} downtimes, {} checks (un)suppressed",
        ledger.confirmed,
        ledger.acks.len(),
        ledger.comments.len(),
        ledger.downtimes.len(),
        ledger.suppressed.len()
    );
    assert!(ledger.confirmed >= KILLS * 5, "too few actions confirmed to mean anything: {ledger:#?}");
    assert!(!ledger.acks.is_empty() && !ledger.comments.is_empty() && !ledger.downtimes.is_empty(), "{ledger:#?}");

    // The daemon on what the kills left: the API shows every confirmed action.
    let mut d = Bergamotd::start(&conf, &data, &dir.path("events-last.jsonl"), dir.path("log-last"), &[]);
    for (path, (alert, _)) in &ledger.acks {
        let c = d.check(path);
        assert_eq!((&c["acknowledged"], &c["alert"]), (&json!(true), &json!(alert)), "{path}: {c:#}");
    }
    for (path, want) in &ledger.suppressed {
        if let Some(want) = want {
            assert_eq!(d.check(path)["suppressed"], *want, "{path}");
        }
    }
    let listed = d.get("/api/downtimes?all=1").value("downtimes").clone();
    let listed: BTreeMap<u64, &Value> =
        listed.as_array().unwrap().iter().map(|r| (r["id"].as_u64().unwrap(), r)).collect();
    let mut in_downtime = BTreeSet::new();
    for (id, (path, cancelled)) in &ledger.downtimes {
        let row = listed.get(id).unwrap_or_else(|| panic!("downtime {id} not listed"));
        assert_eq!(row["path"], path.as_str());
        if let Some(c) = cancelled {
            assert_eq!(!row["cancelled"].is_null(), *c, "{row}");
            if !*c {
                in_downtime.insert(path);
            }
        }
    }
    for path in in_downtime {
        assert_eq!(d.check(path)["in_downtime"], true, "{path}");
    }
    for (path, confirmed) in by_path(&ledger.comments) {
        let comments = d.get(&format!("/api/check/{path}/comments")).value("comments").clone();
        let listed: BTreeSet<(u64, &str)> = comments
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["id"].as_u64().unwrap(), c["text"].as_str().unwrap()))
            .collect();
        for (id, text) in confirmed {
            assert!(listed.contains(&(id, text)), "comment {id} on {path}");
        }
    }
    d.assert_running();
    assert_eq!(d.terminate(), Some(0), "{}", d.log());
    verify_store(&data, &ledger, KILLS);
}

/// Hard problems with an open alert nobody acknowledged: (check, alert id).
fn unacknowledged(d: &Bergamotd) -> Vec<(String, u64)> {
    let Ok(a) = d.try_call("GET", "/api/problems", None) else { return Vec::new() };
    let list = a.value("checks").as_array().cloned().unwrap_or_default();
    list.iter()
        .filter(|c| c["hard"] == true && c["acknowledged"] == false)
        .filter_map(|c| Some((c["path"].as_str()?.to_string(), c["alert"].as_u64()?)))
        .collect()
}

/// One action through the API, recorded when confirmed; false once the daemon is gone.
fn act(d: &Bergamotd, round: usize, step: usize, rng: &mut Rng, open: &mut Vec<(String, u64)>, l: &mut Ledger) -> bool {
    let any = svc(rng.between(0, CHECKS as u64) as usize);
    let tag = format!("r{round}-s{step}");
    let (body, kind) = match step % 5 {
        0 if !open.is_empty() && l.acks.len() < 60 => {
            let (path, _) = &open[open.len() - 1];
            (json!({"action": "acknowledge", "path": path, "comment": tag}), "ack")
        }
        0 | 1 => (json!({"action": "comment", "path": any, "text": tag}), "comment"),
        2 => {
            let to = Timestamp::now() + jiff::SignedDuration::from_hours(2);
            (json!({"action": "downtime", "path": any, "to": to.to_string(), "comment": tag}), "downtime")
        }
        3 => {
            let live: Vec<u64> =
                l.downtimes.iter().filter(|(_, (_, c))| *c == Some(false)).map(|(id, _)| *id).collect();
            if live.is_empty() {
                (json!({"action": "comment", "path": any, "text": tag}), "comment")
            } else {
                let id = live[rng.between(0, live.len() as u64) as usize];
                (json!({"action": "cancel-downtime", "id": id}), "cancel")
            }
        }
        _ => {
            let i = 1 + 3 * rng.between(0, (CHECKS / 3) as u64) as usize;
            let path = svc(i.min(CHECKS - 1));
            let want = !l.suppressed.get(&path).copied().flatten().unwrap_or(false);
            (json!({"action": "suppress", "path": path, "suppressed": want}), "suppress")
        }
    };
    let answer = d.try_call("POST", "/api/actions", Some(&body.to_string()));
    let path = || body["path"].as_str().unwrap_or("").to_string();
    let ok = answer.as_ref().ok().filter(|a| a.status == 200).map(|a| a.body["value"]["id"].as_u64());
    match kind {
        "ack" => {
            let (path, alert) = open.pop().expect("chosen above");
            if ok.is_some() {
                l.acks.insert(path, (alert, tag));
            }
        }
        "comment" => {
            if let Some(id) = ok {
                l.comments.insert(id.expect("a comment id"), (path(), tag));
            }
        }
        "downtime" => {
            if let Some(id) = ok {
                l.downtimes.insert(id.expect("a downtime id"), (path(), Some(false)));
            }
        }
        "cancel" => {
            let id = body["id"].as_u64().unwrap();
            let entry = l.downtimes.get_mut(&id).expect("a known downtime");
            entry.1 = if ok.is_some() { Some(true) } else { None };
        }
        _ => {
            let want = body["suppressed"].as_bool();
            l.suppressed.insert(path(), if ok.is_some() { want } else { None });
        }
    }
    match answer {
        Ok(a) if a.status == 200 => {
            l.confirmed += 1;
            true
        }
        // Refused (an alert acknowledged meanwhile, say): nothing to keep.
        Ok(a) if a.status == 409 || a.status == 404 => true,
        Ok(a) => panic!("{body}: {a:?}\n{}", d.log()),
        Err(_) => false,
    }
}

/// Confirmed comments by check: (id, text).
fn by_path(comments: &BTreeMap<u64, (String, String)>) -> BTreeMap<&str, Vec<(u64, &str)>> {
    let mut out: BTreeMap<&str, Vec<(u64, &str)>> = BTreeMap::new();
    for (id, (path, text)) in comments {
        out.entry(path).or_default().push((*id, text));
    }
    out
}

/// The database as the kill left it: sound, and holding every confirmed action.
fn verify_store(data: &Path, l: &Ledger, round: usize) {
    let (store, restored) = Store::open(StoreConfig::in_dir(data)).unwrap_or_else(|e| panic!("round {round}: {e}"));
    let reader = store.reader().unwrap();
    assert_eq!(reader.integrity_check().unwrap(), "ok", "round {round}");
    let alerts = reader.alerts(false, 100_000).unwrap();
    for (path, (id, comment)) in &l.acks {
        let a =
            alerts.iter().find(|a| a.id == *id).unwrap_or_else(|| panic!("round {round}: alert {id} of {path} lost"));
        assert_eq!(
            (a.path.as_str(), a.ack_comment.as_deref()),
            (path.as_str(), Some(comment.as_str())),
            "round {round}"
        );
        let s = restored.states.get(path).unwrap_or_else(|| panic!("round {round}: no saved state of {path}"));
        assert!(s.acknowledged.is_some() && s.alert == Some(*id), "round {round}: {path} {s:?}");
    }
    for (path, confirmed) in by_path(&l.comments) {
        let kept = reader.comments(path).unwrap();
        for (id, text) in confirmed {
            assert!(kept.iter().any(|c| c.id == id && c.text == text), "round {round}: comment {id} on {path} lost");
        }
    }
    let downtimes = reader.downtimes(true, Timestamp::now()).unwrap();
    for (id, (path, cancelled)) in &l.downtimes {
        let row = downtimes.iter().find(|r| r.id == *id).unwrap_or_else(|| panic!("round {round}: downtime {id} lost"));
        assert_eq!(&row.path, path, "round {round}");
        if let Some(c) = cancelled {
            assert_eq!(row.cancelled.is_some(), *c, "round {round}: downtime {id}");
        }
    }
    for (path, want) in &l.suppressed {
        let Some(want) = want else { continue };
        let s = restored.states.get(path).map(|s| s.suppressed);
        assert_eq!(s.unwrap_or(false), *want, "round {round}: suppression of {path}");
    }
    drop(reader);
    store.close().unwrap();
}
