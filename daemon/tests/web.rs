//! The HTTP layer as a client sees it: the server on 127.0.0.1:0 with a fake engine
//! owner (answering `ApiHandle` calls from a fixed list of checks) and a fake history
//! source; every route asked over a plain HTTP/1.1 connection. JSON shapes and
//! statuses, actions reaching the owner, the status and check pages (escaping,
//! grouping, order, weight), binding rules, a graceful stop, and the real store
//! through its adapter.

#[path = "web/support.rs"]
mod support;

use std::sync::Arc;

use bergamot_daemon::api::{Action, CheckView, Response};
use bergamot_daemon::web;
use jiff::Timestamp;
use serde_json::json;
use smol::io::{AsyncReadExt, AsyncWriteExt};

use support::*;

const LOAD: &str = "alpha/host/web1/service/load";

#[test]
fn json_api_answers_every_route() {
    smol::block_on(async {
        let srv = start(fixture(), FakeHistory::default());
        let a = srv.addr;

        let sites = get(a, "/api/sites").await;
        assert_eq!(sites.status, 200);
        let sites = sites.value("sites");
        assert_eq!(sites[0]["name"], "alpha");
        assert_eq!(sites[0]["checks"], 9);
        assert_eq!(sites[0]["problems"], 4);
        assert_eq!(sites[0]["by_status"]["CRITICAL"], 2);
        assert_eq!(sites[1]["name"], "beta");

        let table: &[(&str, usize)] = &[
            ("/api/checks", 10),
            ("/api/checks?site=beta", 1),
            ("/api/checks?kind=service", 5),
            ("/api/checks?site=alpha&container=web1", 5),
            ("/api/checks?problems=1", 4),
            ("/api/checks?limit=3", 3),
            ("/api/problems?limit=2", 2),
        ];
        for (target, n) in table {
            let r = get(a, target).await;
            assert_eq!(r.status, 200, "{target}");
            assert_eq!(r.value("checks").as_array().unwrap().len(), *n, "{target}");
        }
        // Worst first (UNKNOWN > CRITICAL), then the longest-standing.
        let problems = get(a, "/api/problems").await.value("checks");
        assert_eq!(
            paths(&problems),
            ["alpha/host/db1/service/ping", "alpha/host/db1", LOAD, "alpha/host/web1/service/nginx-proc"]
        );

        let check = get(a, &format!("/api/check/{LOAD}")).await.value("check");
        assert_eq!(check["path"], LOAD);
        assert_eq!(check["status"], "CRITICAL");
        assert_eq!(check["output"], "<script>alert(1)</script> & more", "JSON keeps the text as it is");
        let back: CheckView = serde_json::from_value(check).unwrap();
        assert_eq!(back.alert, Some(31));
        // Answers of the owner are `api::Response` as serde writes it: clients read them back.
        let whole: Response = serde_json::from_str(&get(a, "/api/checks?site=beta").await.body).unwrap();
        assert!(matches!(&whole, Response::Checks(v) if v.len() == 1 && v[0].name == "b1"), "{whole:?}");

        let missing = get(a, "/api/check/alpha/host/nope").await;
        assert_eq!(missing.status, 404);
        assert_eq!(missing.json(), json!({"error": "no such check `alpha/host/nope`", "status": 404}));
        for sub in ["history", "readings", "comments"] {
            assert_eq!(get(a, &format!("/api/check/alpha/host/nope/{sub}")).await.status, 404, "{sub}");
        }

        let history = get(a, &format!("/api/check/{LOAD}/history?limit=5")).await.value("history");
        assert_eq!(history[0]["kind"], "alert");
        assert_eq!(history[0]["alert_id"], 31);
        let readings = get(a, &format!("/api/check/{LOAD}/readings")).await.value("readings");
        assert_eq!(readings[0]["label"], "load1");
        assert_eq!(readings[0]["points"].as_array().unwrap().len(), 5);
        let r = get(a, &format!("/api/check/{LOAD}/readings?from=2024-05-01T00:00:00Z&to=2024-05-01T06:00:00%2B02:00"))
            .await;
        assert_eq!(r.status, 200);
        let comments = get(a, &format!("/api/check/{LOAD}/comments")).await.value("comments");
        assert_eq!(comments[0]["by"], "ann");
        let alerts = get(a, "/api/alerts?open=1").await.value("alerts");
        assert_eq!(alerts[0]["id"], 31);
        let downtimes = get(a, "/api/downtimes?all=1").await.value("downtimes");
        assert_eq!(downtimes[0]["comment"], "maintenance");
        get(a, "/api/alerts").await.value("alerts");
        get(a, "/api/downtimes").await.value("downtimes");
        assert_eq!(
            *srv.history.asked.lock().unwrap(),
            [
                format!("history {LOAD} 5"),
                // By default the last 24 hours on the server's clock.
                format!("readings {LOAD} 2024-05-01T12:00:00Z {NOW}"),
                format!("readings {LOAD} 2024-05-01T00:00:00Z 2024-05-01T04:00:00Z"),
                format!("comments {LOAD}"),
                "alerts true 200".into(),
                format!("downtimes true {NOW}"),
                "alerts false 200".into(),
                format!("downtimes false {NOW}"),
            ]
        );

        let health = get(a, "/api/health").await.value("health");
        assert_eq!(health["checks"], 10);
        let last = get(a, "/api/reload").await.value("reload");
        assert_eq!(last["version"], "abc123");
        let reload = post(a, "/api/reload", "").await;
        assert_eq!(reload.status, 200);
        assert_eq!(reload.value("reload")["ok"], true);

        let bad: &[(&str, &str, u16)] = &[
            ("GET", "/api/checks?limit=lots", 400),
            ("GET", "/api/checks?problems=perhaps", 400),
            ("GET", "/api/check/alpha/host/web1/service/load/readings?from=yesterday", 400),
            (
                "GET",
                "/api/check/alpha/host/web1/service/load/readings?from=2024-05-02T00:00:00Z&to=2024-05-01T00:00:00Z",
                400,
            ),
            ("GET", "/api/nothing", 404),
            ("DELETE", "/api/sites", 405),
            ("GET", "/api/actions", 405),
            ("GET", "/api/check/alpha/host/web1/service/load/recheck", 405),
            ("GET", "/api/check/alpha/host/%zz", 400),
        ];
        for (method, target, status) in bad {
            let r = http(a, method, target, &[], b"").await;
            assert_eq!(r.status, *status, "{method} {target}: {}", r.body);
            let v = r.json();
            assert_eq!(v["status"], *status);
            assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
        }
        let r = get(a, "/api/actions").await;
        assert_eq!(r.header("allow"), Some("POST"));
        srv.stop().await;
    });
}

#[test]
fn actions_reach_the_owner() {
    smol::block_on(async {
        let srv = start(fixture(), FakeHistory::default());
        let a = srv.addr;
        let ack =
            post(a, "/api/actions", &format!(r#"{{"action":"acknowledge","path":"{LOAD}","comment":"on it"}}"#)).await;
        assert_eq!(ack.status, 200, "{}", ack.body);
        assert_eq!(ack.json(), json!({"kind": "done", "value": {"id": null}}));
        let dt = post(
            a,
            "/api/actions",
            r#"{"action":"downtime","path":"alpha/host/db1","to":"2024-05-02T14:00:00Z","comment":"disk swap","by":"ann"}"#,
        )
        .await;
        assert_eq!(dt.json(), json!({"kind": "done", "value": {"id": 7}}));
        let recheck = post(a, &format!("/api/check/{LOAD}/recheck"), "").await;
        assert_eq!(recheck.status, 200);
        assert_eq!(
            *srv.actions.lock().unwrap(),
            [
                Action::Acknowledge { path: LOAD.into(), comment: "on it".into(), by: "api".into() },
                Action::Downtime {
                    path: "alpha/host/db1".into(),
                    from: None,
                    to: Some("2024-05-02T14:00:00Z".into()),
                    period: None,
                    comment: "disk swap".into(),
                    by: "ann".into()
                },
                Action::Recheck { path: LOAD.into() },
            ]
        );

        let refused: &[(&str, u16, &str)] = &[
            (r#"{"action":"acknowledge","#, 400, "malformed JSON"),
            ("not json", 400, "malformed JSON"),
            (r#"{"action":"explode","path":"x"}"#, 400, "unknown variant `explode`"),
            (r#"{"action":"acknowledge","path":"alpha/host/web1"}"#, 400, "missing field `comment`"),
            (r#"{"action":"recheck","path":"alpha/host/nope"}"#, 404, "no such check"),
        ];
        for (body, status, says) in refused {
            let r = post(a, "/api/actions", body).await;
            assert_eq!(r.status, *status, "{body}");
            let e = r.json();
            assert!(e["error"].as_str().unwrap().contains(says), "{body}: {e}");
        }
        assert_eq!(post(a, "/api/check/alpha/host/nope/recheck", "").await.status, 404);

        let big = format!(r#"{{"action":"comment","path":"{LOAD}","text":"{}"}}"#, "x".repeat(web::MAX_BODY));
        let r = post(a, "/api/actions", &big).await;
        assert_eq!(r.status, 413);
        assert!(r.json()["error"].as_str().unwrap().contains("65536"));

        // What a page on another site could make a browser send.
        let csrf = http(a, "POST", "/api/reload", &["Origin: http://evil.example"], b"").await;
        assert_eq!(csrf.status, 403);
        let same = http(a, "POST", "/api/reload", &[&format!("Origin: http://{a}")], b"").await;
        assert_eq!(same.status, 200);
        let rebound = http(a, "GET", "/api/sites", &["Host: evil.example:8080"], b"").await;
        assert_eq!(rebound.status, 403, "{:?}", rebound.headers);
        assert_eq!(srv.actions.lock().unwrap().len(), 3, "refused actions reach nobody");
        srv.stop().await;
    });
}

#[test]
fn status_page_lists_problems_first_then_grouped_hosts() {
    smol::block_on(async {
        let srv = start(fixture(), FakeHistory::default());
        let r = get(srv.addr, "/").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        assert!(r.header("content-security-policy").is_some_and(|c| c.contains("default-src 'none'")));
        let page = &r.body;
        assert!(!page.contains("<script"), "a check's output became markup");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; more"));

        let at = |s: &str| page.find(s).unwrap_or_else(|| panic!("{s} not on the page"));
        // Counts per site in the header, worst first.
        assert!(at(r#"<span class="b critical">CRITICAL 2</span>"#) < at(r#"<span class="b ok">OK 5</span>"#));
        // Problems come before hosts, worst first, with their markers.
        let problems = at("id=problems");
        let hosts = at("id=hosts");
        assert!(problems < hosts);
        let listed: Vec<usize> = ["alpha/host/db1/service/ping\">", "alpha/host/db1\">", &format!("{LOAD}\">")]
            .iter()
            .map(|p| page[problems..hosts].find(p).unwrap_or_else(|| panic!("{p} not a problem")))
            .collect();
        assert!(listed.is_sorted(), "{listed:?}");
        assert!(page[problems..hosts].contains("<span class=m>downtime</span>"));
        assert!(page[problems..hosts].contains("soft 1<span class=m>acknowledged</span>"));

        // `Web Server`/`Nginx` and `web server`/`NGINX` are one group; named groups
        // in order, the untagged last.
        // Hosts in name order, then clusters.
        assert!(hosts < at(">db1</a>") && at(">db1</a>") < at(">web1</a>"));
        let web1 = &page[at(">web1</a>")..at(">pg</a>")];
        assert_eq!(web1.matches("<tr class=g><td colspan=4>").count(), 3, "{web1}");
        let group = web1.find("<tr class=g><td colspan=4>web server · nginx</tr>").expect("one web server group");
        let system = web1.find("<tr class=g><td colspan=4>system · ssh</tr>").expect("system group");
        let other = web1.find("<tr class=g><td colspan=4>other</tr>").expect("untagged group");
        let load = web1.find(">load</a>").unwrap();
        let proc = web1.find(">nginx-proc</a>").unwrap();
        let ssh = web1.find(">ssh</a>").unwrap();
        let disk = web1.find(">disk</a>").unwrap();
        assert!(system < ssh && ssh < group && group < load && load < proc && proc < other && other < disk, "{web1}");
        // Resources are grouped too; then the next site.
        assert!(at(">pg</a>") < at("<tr class=g><td colspan=4>database · postgresql</tr>"));
        assert!(at("<h3>alpha</h3>") < at("<h3>beta</h3>"));

        let head = http(srv.addr, "HEAD", "/", &[], b"").await;
        assert_eq!((head.status, head.body.as_str()), (200, ""));
        assert_eq!(head.header("content-length"), r.header("content-length"));

        let one = get(srv.addr, "/?site=beta").await;
        assert_eq!(one.status, 200);
        assert!(one.body.contains(">b1</a>") && !one.body.contains(">web1</a>"));
        assert_eq!(get(srv.addr, "/?site=gamma").await.status, 404);
        srv.stop().await;
    });
}

/// `hosts` hosts of 9 services with realistic outputs; one service in `fail_every`
/// fails.
fn site_of(hosts: usize, fail_every: usize) -> Vec<CheckView> {
    let mut checks = Vec::new();
    for h in 0..hosts {
        let host = format!("server-{h:02}.dc1.example.com");
        checks.push(view("dc1", "host", &host, &host, "OK"));
        for s in 0..9 {
            let status = if (h + s) % fail_every == 0 { "CRITICAL" } else { "OK" };
            let mut c = view("dc1", "service", &host, &format!("service-{s}"), status);
            c.output = format!("{status} - load average: 0.{s}2, 0.{s}8, 0.1{s} | and some more words from the plugin");
            c.category = Some(["System", "Web Server", "Database"][s % 3].into());
            c.application = Some(["Linux", "Nginx", "PostgreSQL"][s % 3].into());
            checks.push(c);
        }
    }
    checks
}

#[test]
fn status_page_weight() {
    smol::block_on(async {
        // 100 checks, a tenth failing.
        let srv = start(site_of(10, 10), FakeHistory::default());
        let r = get(srv.addr, "/").await;
        assert_eq!(r.status, 200);
        println!("status page, 100 checks: {} bytes", r.body.len());
        assert!(r.body.len() < 100_000, "{} bytes", r.body.len());
        assert!(!r.body.contains("are listed"), "nothing left out");
        srv.stop().await;

        // 2,000 checks, 900 failing: the page lists the worst 500 problems and the
        // first 1,000 checks, says so, and stays bounded.
        let srv = start(site_of(200, 2), FakeHistory::default());
        let r = get(srv.addr, "/").await;
        println!("status page, 2,000 checks with 900 problems: {} bytes", r.body.len());
        assert!(r.body.contains("The 500 worst are listed; all 900 are in"));
        assert!(r.body.contains("Only the first 1000 checks are listed"));
        assert!(r.body.len() < 500_000, "{} bytes", r.body.len());
        srv.stop().await;
    });
}

#[test]
fn check_page_shows_state_history_and_graphs() {
    smol::block_on(async {
        let srv = start(fixture(), FakeHistory::default());
        let r = get(srv.addr, &format!("/check/{LOAD}")).await;
        assert_eq!(r.status, 200);
        let page = &r.body;
        assert!(!page.contains("<script") && !page.contains("<img") && !page.contains("<b>"));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("<pre>load1=0.5;1;2</pre>"));
        assert!(page.contains("<svg") && page.contains("load1</text>"));
        assert!(page.contains("&lt;img src=x onerror=alert(2)&gt;"), "history output escaped");
        assert!(page.contains("&lt;b&gt;looking&lt;/b&gt;"), "comment escaped");
        assert!(page.contains("2024-05-02T11:00:00Z <span class=s>(1h 0m ago)</span>"));

        // A host's page lists its checks.
        let host = get(srv.addr, "/check/alpha/host/web1").await;
        assert_eq!(host.status, 200);
        assert!(host.body.contains(">nginx-proc</a>") && !host.body.contains(">ping</a>"));

        let missing = get(srv.addr, "/check/alpha/host/nope").await;
        assert_eq!(missing.status, 404);
        assert!(missing.header("content-type").unwrap().starts_with("text/html"));
        assert!(missing.body.contains("no such check `alpha/host/nope`"));
        assert_eq!(get(srv.addr, "/favicon.ico").await.status, 404);
        srv.stop().await;
    });
}

#[test]
fn a_failing_store_does_not_hide_live_state() {
    smol::block_on(async {
        let srv = start(fixture(), FakeHistory { broken: true, ..FakeHistory::default() });
        let r = get(srv.addr, &format!("/api/check/{LOAD}/history")).await;
        assert_eq!(r.status, 500);
        assert_eq!(r.json()["error"], "reading the store: database is locked");
        let page = get(srv.addr, &format!("/check/{LOAD}")).await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("Not available: reading the store: database is locked"));
        assert!(page.body.contains("&lt;script&gt;"), "the live state is still shown");
        srv.stop().await;
    });
}

#[test]
fn binding_stays_on_loopback_unless_allowed() {
    let public = web::bind("0.0.0.0:0".parse().unwrap(), false).unwrap_err();
    assert!(matches!(public, web::WebError::NotLoopback { .. }), "{public}");
    assert!(public.to_string().contains("not a loopback address"), "{public}");
    assert!(web::bind("[::]:0".parse().unwrap(), false).is_err());
    assert!(web::bind("0.0.0.0:0".parse().unwrap(), true).is_ok());

    let first = web::bind("127.0.0.1:0".parse().unwrap(), false).unwrap();
    let addr = first.get_ref().local_addr().unwrap();
    let again = web::bind(addr, false).unwrap_err();
    assert_eq!(
        again.to_string(),
        format!("port {} on 127.0.0.1 is in use (another bergamotd?): choose another with --http", addr.port())
    );
}

#[test]
fn stop_lets_the_request_in_progress_finish() {
    // A request waiting on the owner when the stop comes is still answered; an idle
    // kept-alive connection is closed; nothing new is accepted; `serve` returns.
    smol::block_on(async {
        let (asked_tx, asked) = smol::channel::bounded(1);
        let (open, open_rx) = smol::channel::bounded(1);
        let srv = start_gated(fixture(), FakeHistory::default(), Some(Gate { asked: asked_tx, open: open_rx }));
        let addr = srv.addr;
        let mut idle = smol::net::TcpStream::connect(addr).await.unwrap();
        idle.write_all(format!("GET /api/sites HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes()).await.unwrap();
        let mut buf = [0u8; 64];
        let n = idle.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&buf[..n]));

        let slow = smol::spawn(get(addr, "/api/health"));
        asked.recv().await.unwrap();
        drop(srv.stop);
        // The listener goes first: a new connection is refused while the slow
        // request is still waiting.
        let mut refused = false;
        while !refused {
            refused = smol::net::TcpStream::connect(addr).await.is_err();
            smol::future::yield_now().await;
        }
        open.send(()).await.unwrap();
        let r = slow.await;
        assert_eq!(r.status, 200);
        assert_eq!(r.value("health")["checks"], 10);
        srv.task.await;
        let mut rest = Vec::new();
        idle.read_to_end(&mut rest).await.unwrap();
        assert!(rest.ends_with(b"]}"), "the idle connection is closed after its answer");
    });
}

#[test]
fn the_store_answers_through_its_adapter() {
    // The real store in a scratch directory, read through `StoreHistory`.
    let dir = std::env::temp_dir().join(format!("bergamot-web-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (store, _) = bergamot_daemon::store::Store::open(bergamot_daemon::store::StoreConfig::in_dir(&dir)).unwrap();
    let history = Arc::new(web::StoreHistory::open(&store, 2).unwrap());
    smol::block_on(async {
        let writer = store.writer();
        let hour_ago: Timestamp = "2024-05-02T11:00:00Z".parse().unwrap();
        writer.comment(LOAD, hour_ago, "ann", "<i>disk swapped</i>").await.unwrap();
        writer.readings(LOAD, hour_ago, "load1=0.5;1;2 load5=0.25");
        writer.flush().await.unwrap();

        let listener = web::bind("127.0.0.1:0".parse().unwrap(), false).unwrap();
        let addr = listener.get_ref().local_addr().unwrap();
        let (api, _owner) = fake_owner(fixture(), Arc::default(), None);
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        let server = smol::spawn(web::serve_with_clock(listener, api, history, now, async move {
            let _ = stopped.recv().await;
        }));
        let comments = get(addr, &format!("/api/check/{LOAD}/comments")).await.value("comments");
        assert_eq!(comments[0]["text"], "<i>disk swapped</i>");
        assert_eq!(comments[0]["by"], "ann");
        let readings = get(addr, &format!("/api/check/{LOAD}/readings")).await.value("readings");
        let labels: Vec<&str> = readings.as_array().unwrap().iter().map(|s| s["label"].as_str().unwrap()).collect();
        assert_eq!(labels, ["load1", "load5"]);
        assert_eq!(readings[0]["points"][0]["value"], 0.5);
        let page = get(addr, &format!("/check/{LOAD}")).await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("&lt;i&gt;disk swapped&lt;/i&gt;") && page.body.matches("<svg").count() == 2);
        assert_eq!(get(addr, "/api/alerts").await.json(), json!({"kind": "alerts", "value": []}));
        drop(stop);
        server.await;
    });
    store.close().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
