//! What the web tests run against: a fixture of checks, a fake engine owner
//! answering `ApiHandle` calls from it, a fake history source, a server started on
//! 127.0.0.1:0 with both, and a minimal HTTP/1.1 client.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bergamot_daemon::api::{Action, ApiError, ApiHandle, Call, CheckView, ReloadView, Request, Response, SiteView};
use bergamot_daemon::web::{self, AlertRow, CommentRow, DowntimeRow, HistoryEntry, HistorySource, Point, Series};
use jiff::Timestamp;
use serde_json::{Value, json};
use smol::io::{AsyncReadExt, AsyncWriteExt};

pub const NOW: &str = "2024-05-02T12:00:00Z";

pub fn now() -> Timestamp {
    NOW.parse().unwrap()
}

pub fn view(site: &str, kind: &str, container: &str, name: &str, status: &str) -> CheckView {
    let path = match kind {
        "host" | "cluster" => format!("{site}/{kind}/{name}"),
        "resource" => format!("{site}/cluster/{container}/resource/{name}"),
        _ => format!("{site}/host/{container}/{kind}/{name}"),
    };
    let ok = matches!(status, "OK" | "PENDING" | "INFO");
    CheckView {
        path,
        site: site.into(),
        kind: kind.into(),
        name: name.into(),
        container: container.into(),
        summary: format!("{name} summary"),
        category: None,
        application: None,
        status: status.into(),
        output: format!("{status} - {name}"),
        long_output: String::new(),
        perfdata: String::new(),
        ok,
        hard: true,
        attempt: 1,
        last_hard_status: status.into(),
        last_change: "2024-05-02T10:00:00Z".into(),
        last_hard_change: "2024-05-02T10:00:00Z".into(),
        last_check: Some("2024-05-02T11:59:00Z".into()),
        next_check: Some("2024-05-02T12:04:00Z".into()),
        acknowledged: false,
        suppressed: false,
        in_downtime: false,
        flapping: false,
        alert: None,
        enabled: true,
        active: true,
    }
}

/// Two sites; a hostile output; tags in mixed case; problems of several ages.
pub fn fixture() -> Vec<CheckView> {
    let tag = |mut c: CheckView, cat: Option<&str>, app: Option<&str>| {
        c.category = cat.map(Into::into);
        c.application = app.map(Into::into);
        c
    };
    let mut load = tag(view("alpha", "service", "web1", "load", "CRITICAL"), Some("Web Server"), Some("Nginx"));
    load.output = "<script>alert(1)</script> & more".into();
    load.perfdata = "load1=0.5;1;2".into();
    load.last_hard_change = "2024-05-02T11:00:00Z".into();
    load.alert = Some(31);
    let mut proc = tag(view("alpha", "service", "web1", "nginx-proc", "WARNING"), Some("web server"), Some("NGINX"));
    proc.hard = false;
    proc.acknowledged = true;
    let mut db1 = view("alpha", "host", "db1", "db1", "CRITICAL");
    db1.last_hard_change = "2024-05-01T08:00:00Z".into();
    let mut ping = view("alpha", "service", "db1", "ping", "UNKNOWN");
    ping.in_downtime = true;
    vec![
        view("alpha", "host", "web1", "web1", "OK"),
        load,
        proc,
        tag(view("alpha", "service", "web1", "ssh", "OK"), Some("System"), Some("SSH")),
        view("alpha", "service", "web1", "disk", "OK"),
        db1,
        ping,
        view("alpha", "cluster", "pg", "pg", "OK"),
        tag(view("alpha", "resource", "pg", "primary", "OK"), Some("Database"), Some("PostgreSQL")),
        view("beta", "host", "b1", "b1", "OK"),
    ]
}

/// Holds the owner's answer to `health` until the test lets it go.
pub struct Gate {
    pub asked: smol::channel::Sender<()>,
    pub open: smol::channel::Receiver<()>,
}

/// The engine's owner, answering from `checks`; remembers the actions it was asked.
pub fn fake_owner(
    checks: Vec<CheckView>,
    actions: Arc<Mutex<Vec<Action>>>,
    gate: Option<Gate>,
) -> (ApiHandle, smol::Task<()>) {
    let (tx, rx) = smol::channel::bounded::<Call>(16);
    let task = smol::spawn(async move {
        while let Ok(call) = rx.recv().await {
            if let (Request::Health, Some(gate)) = (&call.request, &gate) {
                gate.asked.send(()).await.unwrap();
                gate.open.recv().await.unwrap();
            }
            let find = |path: &str| checks.iter().find(|c| c.path == path).cloned();
            let reply = match call.request {
                Request::Sites => {
                    let mut sites: BTreeMap<String, SiteView> = BTreeMap::new();
                    for c in &checks {
                        let s = sites.entry(c.site.clone()).or_insert_with(|| SiteView {
                            name: c.site.clone(),
                            summary: format!("site {}", c.site),
                            checks: 0,
                            problems: 0,
                            by_status: BTreeMap::new(),
                        });
                        s.checks += 1;
                        s.problems += usize::from(!c.ok);
                        *s.by_status.entry(c.status.clone()).or_default() += 1;
                    }
                    Ok(Response::Sites(sites.into_values().collect()))
                }
                Request::Checks(f) => Ok(Response::Checks(
                    checks
                        .iter()
                        .filter(|c| f.site.as_ref().is_none_or(|s| &c.site == s))
                        .filter(|c| f.kind.as_ref().is_none_or(|k| &c.kind == k))
                        .filter(|c| f.container.as_ref().is_none_or(|k| &c.container == k))
                        .filter(|c| !f.problems || !c.ok)
                        .take(f.limit.unwrap_or(usize::MAX))
                        .cloned()
                        .collect(),
                )),
                Request::Check { path } => find(&path)
                    .map(|c| Response::Check(Box::new(c)))
                    .ok_or(ApiError::not_found(format!("check `{path}`"))),
                Request::Health => Ok(Response::Health(json!({"checks": checks.len(), "lateness_p99_ms": 0}))),
                Request::Reload | Request::LastReload => Ok(Response::Reload(ReloadView {
                    at: NOW.into(),
                    ok: true,
                    version: "abc123".into(),
                    diagnostics: String::new(),
                    added: 1,
                    removed: 0,
                    kept: checks.len(),
                    took_ms: 12.5,
                })),
                Request::Action(a) => {
                    let path = match &a {
                        Action::Acknowledge { path, .. }
                        | Action::Downtime { path, .. }
                        | Action::Suppress { path, .. }
                        | Action::Comment { path, .. }
                        | Action::Recheck { path } => Some(path.clone()),
                        Action::CancelDowntime { .. } => None,
                    };
                    let id = matches!(a, Action::Downtime { .. }).then_some(7);
                    match path {
                        Some(p) if find(&p).is_none() => Err(ApiError::not_found(format!("check `{p}`"))),
                        _ => {
                            actions.lock().unwrap().push(a);
                            Ok(Response::Done { id })
                        }
                    }
                }
            };
            let _ = call.reply.send(reply).await;
        }
    });
    (ApiHandle::new(tx), task)
}

/// Fixed records; remembers how it was asked. `broken` answers every read with an error.
#[derive(Default)]
pub struct FakeHistory {
    pub asked: Mutex<Vec<String>>,
    pub broken: bool,
}

impl FakeHistory {
    fn ask(&self, what: String) -> Result<(), String> {
        self.asked.lock().unwrap().push(what);
        if self.broken { Err("database is locked".into()) } else { Ok(()) }
    }
}

impl HistorySource for FakeHistory {
    fn history(&self, path: &str, limit: usize) -> Result<Vec<HistoryEntry>, String> {
        self.ask(format!("history {path} {limit}"))?;
        Ok(vec![HistoryEntry {
            at: "2024-05-02T11:00:00Z".into(),
            kind: "alert".into(),
            status: Some("CRITICAL".into()),
            hard: Some(true),
            attempt: Some(3),
            output: "<img src=x onerror=alert(2)>".into(),
            alert_id: Some(31),
            by: None,
        }])
    }
    fn readings(&self, path: &str, from: Timestamp, to: Timestamp) -> Result<Vec<Series>, String> {
        self.ask(format!("readings {path} {from} {to}"))?;
        let points = (0..5)
            .map(|i| Point { at: format!("2024-05-02T1{i}:00:00Z"), value: i as f64, min: 0.0, max: 5.0 })
            .collect();
        Ok(vec![Series { label: "load1".into(), uom: String::new(), resolution: "raw".into(), points }])
    }
    fn alerts(&self, open_only: bool, limit: usize) -> Result<Vec<AlertRow>, String> {
        self.ask(format!("alerts {open_only} {limit}"))?;
        Ok(vec![AlertRow {
            id: 31,
            path: "alpha/host/web1/service/load".into(),
            opened: "2024-05-02T11:00:00Z".into(),
            closed: None,
            status: "CRITICAL".into(),
            worst: "CRITICAL".into(),
            covered_by: None,
            covered_by_alert: None,
            notified: true,
            acknowledged_at: None,
            acknowledged_by: None,
            ack_comment: None,
        }])
    }
    fn downtimes(&self, include_ended: bool, now: Timestamp) -> Result<Vec<DowntimeRow>, String> {
        self.ask(format!("downtimes {include_ended} {now}"))?;
        Ok(vec![DowntimeRow {
            id: 7,
            path: "alpha/host/db1/service/ping".into(),
            from: "2024-05-02T11:00:00Z".into(),
            to: Some("2024-05-02T13:00:00Z".into()),
            period: None,
            comment: "maintenance".into(),
            by: "ann".into(),
            created: "2024-05-02T10:59:00Z".into(),
            cancelled: None,
        }])
    }
    fn comments(&self, path: &str) -> Result<Vec<CommentRow>, String> {
        self.ask(format!("comments {path}"))?;
        Ok(vec![CommentRow {
            id: 1,
            path: path.into(),
            at: NOW.into(),
            by: "ann".into(),
            text: "<b>looking</b>".into(),
        }])
    }
}

/// A running server and what its fakes saw.
pub struct Server {
    pub addr: SocketAddr,
    pub actions: Arc<Mutex<Vec<Action>>>,
    pub history: Arc<FakeHistory>,
    pub stop: smol::channel::Sender<()>,
    pub task: smol::Task<()>,
    pub _owner: smol::Task<()>,
}

pub fn start(checks: Vec<CheckView>, history: FakeHistory) -> Server {
    start_gated(checks, history, None)
}

pub fn start_gated(checks: Vec<CheckView>, history: FakeHistory, gate: Option<Gate>) -> Server {
    let listener = web::bind("127.0.0.1:0".parse().unwrap(), false).unwrap();
    let addr = listener.get_ref().local_addr().unwrap();
    let actions = Arc::new(Mutex::new(Vec::new()));
    let (api, owner) = fake_owner(checks, actions.clone(), gate);
    let history = Arc::new(history);
    let (stop, stopped) = smol::channel::bounded::<()>(1);
    let task = smol::spawn(web::serve_with_clock(listener, api, history.clone(), now, async move {
        let _ = stopped.recv().await;
    }));
    Server { addr, actions, history, stop, task, _owner: owner }
}

impl Server {
    /// Stops the server and checks that it let go of its port.
    pub async fn stop(self) {
        drop(self.stop);
        self.task.await;
        assert!(smol::net::TcpStream::connect(self.addr).await.is_err(), "still listening after the stop");
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    /// The `value` of a successful answer, checking its `kind`.
    pub fn value(&self, kind: &str) -> Value {
        assert_eq!(self.status, 200, "{}", self.body);
        let mut v = self.json();
        assert_eq!(v["kind"], kind, "{v}");
        v["value"].take()
    }

    pub fn json(&self) -> Value {
        assert_eq!(self.header("content-type"), Some("application/json"), "{}", self.body);
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// One request on its own connection; `extra` are more header lines.
pub async fn http(addr: SocketAddr, method: &str, target: &str, extra: &[&str], body: &[u8]) -> Reply {
    let mut s = smol::net::TcpStream::connect(addr).await.unwrap();
    let mut head = format!("{method} {target} HTTP/1.1\r\nConnection: close\r\n");
    if !extra.iter().any(|h| h.to_ascii_lowercase().starts_with("host:")) {
        head.push_str(&format!("Host: {addr}\r\n"));
    }
    for h in extra {
        head.push_str(h);
        head.push_str("\r\n");
    }
    if method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).await.unwrap();
    // A refused body is not read: the server may answer and close before all of it
    // is sent.
    let _ = s.write_all(body).await;
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw).await;
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no header end in {text:?}"));
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines.map(|l| l.split_once(": ").unwrap()).map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Reply { status, headers, body: body.to_string() }
}

pub async fn get(addr: SocketAddr, target: &str) -> Reply {
    http(addr, "GET", target, &[], b"").await
}

pub async fn post(addr: SocketAddr, target: &str, body: &str) -> Reply {
    http(addr, "POST", target, &["Content-Type: application/json"], body.as_bytes()).await
}

pub fn paths(v: &Value) -> Vec<&str> {
    v.as_array().unwrap().iter().map(|c| c["path"].as_str().unwrap()).collect()
}
