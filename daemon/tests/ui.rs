//! The status page and a check's page as a person sees them, in Debian's headless
//! Chromium (PEERS.md): `bergamotd` runs the shipped example site
//! (docs/examples/this-machine) plus, in a copy, a host with a service that is
//! always CRITICAL; once that problem is hard, Chromium renders `/` and the
//! problem's `/check/…` page. The rendered DOM must list the problem in the problems
//! table (worst first, before the hosts), with its status, state and output, and
//! every host with its services grouped by category · application; the check's page
//! must show its state, output and a graph of its readings. Through chromedriver
//! (WebDriver), what the DOM does not say: the problem is on the first screen, each
//! status has its own colour, and a graph's shapes are lines, not filled areas.
//!
//! Screenshots (1280×1024 PNG) are kept as test artefacts, overwritten by each run:
//! `target/test-artifacts/status-page.png` and `target/test-artifacts/check-page.png`.
//!
//! Installs chromium, chromium-driver and monitoring-plugins-basic with apt-get when
//! missing; needs root (pings; Chromium's --no-sandbox). Waits only for things to
//! happen, with deadlines that guard against hanging; nothing is asserted about time
//! or about this machine's load (the example's own checks may be problems too).

#[path = "../../netprobes/tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BERGAMOTD: &str = env!("CARGO_BIN_EXE_bergamotd");
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const PLUGINS: &str = "/usr/lib/nagios/plugins";
const EXAMPLE: &str = include_str!("../../docs/examples/this-machine/site.xml");
const SITE: &str = "this-machine.local";
/// The added problem and its words.
const PROBLEM: &str = "this-machine.local/host/broken-box/service/replication";
const PROBLEM_OUTPUT: &str = "CRITICAL - replication to db-2 stopped";
/// Generous: a shared 2-core machine may be building while this runs.
const DEADLINE: Duration = Duration::from_secs(120);
/// Chromium's flags on this machine (PEERS.md, machines/rust.md): without the
/// background-networking ones it keeps trying hosts the closed network refuses.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
];
const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// The example site with a database host added: `replication` is CRITICAL on every
/// run (a reading that moves, for the graph), `backup` is OK; each in its own group.
fn site_xml(script: &Path) -> String {
    let added = format!(
        r#"
    <!-- Added by daemon/tests/ui.rs: a problem that does not depend on the machine. -->
    <command name="replication" engine="nagios" category="Database" application="Replication">
        <summary>Replication</summary>
        <parameter name="command_line">{}</parameter>
    </command>
    <command name="backup" engine="nagios" category="Database" application="Backup">
        <summary>Backup</summary>
        <parameter name="command_line">#{{nagios.path}}/check_dummy 0 "last backup 2 hours ago"</parameter>
    </command>
    <host name="broken-box" extends="generic-host" address="127.0.0.4">
        <summary>Database server</summary>
        <service name="replication" extends="generic-service">
            <check-command command="replication"/>
            <schedule every="2s" retry-every="2s" changing-every="1s"/>
        </service>
        <service name="backup" extends="generic-service"><check-command command="backup"/></service>
    </host>
</bergamot>"#,
        script.display()
    );
    let end = EXAMPLE.rfind("</bergamot>").expect("the example ends its site");
    format!("{}{added}\n", &EXAMPLE[..end])
}

const REPLICATION_SH: &str = r#"#!/bin/sh
lag=$(( $(date +%s) % 50 + 10 ))
echo "CRITICAL - replication to db-2 stopped|lag=${lag}s;10;30;0"
exit 2
"#;

#[test]
fn status_and_check_pages_render_in_chromium() {
    let dummy = format!("{PLUGINS}/check_dummy");
    common::ensure(&["chromium", "chromium-driver", "monitoring-plugins-basic"], &[CHROMIUM, CHROMEDRIVER, &dummy]);
    let dir = Scratch::new();
    let script = dir.write("replication.sh", REPLICATION_SH, 0o755);
    dir.write("conf/site.xml", &site_xml(&script), 0o644);
    let mut daemon = Daemon::start(&dir.path("conf"), &dir.path("data"), dir.path("bergamotd.log"));
    let port = daemon.port();

    // Every check has a result, the problem is hard, and it has readings to draw.
    wait(&mut daemon, "every check to have a status", || {
        let checks = api(port, "/api/checks");
        let all = checks["value"].as_array()?;
        (all.len() == 11 && all.iter().all(|c| c["status"] != "PENDING")).then_some(())
    });
    wait(&mut daemon, "the problem to be hard CRITICAL", || {
        let c = api(port, &format!("/api/check/{PROBLEM}"));
        (c["value"]["status"] == "CRITICAL" && c["value"]["hard"] == true).then_some(())
    });
    // The page's graph spans a day, so a minute of readings is one point: wait until
    // it holds two different readings (its band then has a height).
    wait(&mut daemon, "two different readings of the problem", || {
        let r = api(port, &format!("/api/check/{PROBLEM}/readings"));
        let points = r["value"].as_array()?.iter().filter_map(|s| s["points"].as_array()).flatten();
        points.into_iter().any(|p| p["max"].as_f64() > p["min"].as_f64()).then_some(())
    });

    let url = format!("http://127.0.0.1:{port}/");
    let dom = chromium(&dir, &["--dump-dom"], &url);
    assert_status_page(&dom);
    let check_url = format!("{url}check/{PROBLEM}");
    let check_dom = chromium(&dir, &["--dump-dom"], &check_url);
    assert_check_page(&check_dom);

    let artefacts = artefact_dir();
    for (name, url) in [("status-page.png", &url), ("check-page.png", &check_url)] {
        let png = artefacts.join(name);
        let _ = std::fs::remove_file(&png);
        let shot = format!("--screenshot={}", png.display());
        chromium(&dir, &[&shot, "--window-size=1280,1024"], url);
        assert_png(&png, 1280, 1024);
    }

    // What the DOM does not say: where things are drawn and how. WebDriver asks the
    // browser for positions and computed styles.
    let driver = Driver::start(&dir);
    driver.open(&url);
    assert_status_layout(&driver.eval(&STATUS_LAYOUT.replace("@PROBLEM@", PROBLEM)));
    driver.open(&check_url);
    assert_graph_styles(&driver.eval(GRAPH_STYLES));
    drop(driver);
    daemon.assert_running();
}

/// The status page: problems before hosts, the problem's row, hosts with groups.
fn assert_status_page(dom: &str) {
    let problems = dom.find("id=\"problems\"").unwrap_or_else(|| panic!("no problems section:\n{dom}"));
    let hosts = dom.find("id=\"hosts\"").unwrap_or_else(|| panic!("no hosts section:\n{dom}"));
    assert!(dom.find("id=\"sites\"").is_some_and(|s| s < problems), "sites come first:\n{dom}");
    assert!(problems < hosts, "the problems are listed before the hosts:\n{dom}");
    let (problem_part, host_part) = (&dom[problems..hosts], &dom[hosts..]);

    // The problems table: worst first, and the added problem in it with its words.
    let rows = rows(problem_part);
    let statuses: Vec<&str> = rows.iter().filter_map(|r| badge(r)).collect();
    assert!(!statuses.is_empty(), "no problem rows:\n{problem_part}");
    assert_eq!(statuses.len(), rows.len() - 1, "one badge per problem row (and a header):\n{problem_part}");
    let order: Vec<usize> = statuses.iter().map(|s| rank(s)).collect();
    assert!(order.windows(2).all(|w| w[0] >= w[1]), "problems worst first: {statuses:?}");
    let row = rows
        .iter()
        .find(|r| r.contains(&format!("href=\"/check/{PROBLEM}\"")))
        .unwrap_or_else(|| panic!("{PROBLEM} is not among the problems:\n{problem_part}"));
    assert_eq!(badge(row), Some("CRITICAL"), "{row}");
    assert!(row.contains(PROBLEM_OUTPUT), "the problem's output is shown: {row}");
    assert!(row.contains(">hard<"), "the problem's state is shown: {row}");
    let heading = problem_part.split("</h2>").next().unwrap_or_default();
    assert!(heading.contains(&format!("Problems ({})", statuses.len())), "{heading}");

    // Hosts and clusters: every one, with its services under their groups in order.
    assert!(host_part.contains(&format!("<h3>{SITE}</h3>")), "{host_part}");
    let localhost = container(host_part, "localhost");
    assert_groups(
        &localhost,
        &[
            ("system · disk", "disk"),
            ("system · heartbeat", "heartbeat"),
            ("system · load", "load"),
            ("system · processes", "processes"),
        ],
    );
    assert!(localhost.contains("bergamot is running"), "the heartbeat's output: {localhost}");
    let broken = container(host_part, "broken-box");
    assert_groups(&broken, &[("database · backup", "backup"), ("database · replication", "replication")]);
    assert!(broken.contains(PROBLEM_OUTPUT), "{broken}");
    for host in ["loopback-2", "loopback-3"] {
        let c = container(host_part, host);
        assert_eq!(badge(&c), Some("OK"), "{host} answers pings: {c}");
    }
    let cluster = container(host_part, "loopback");
    assert!(host_part.find("/cluster/loopback\"") > host_part.find("/host/loopback-3\""), "hosts before clusters");
    assert!(cluster.contains("/cluster/loopback\""), "{cluster}");
}

/// A check's page: status, state, output, the graph of its readings, its history.
fn assert_check_page(dom: &str) {
    let title = dom.split("</h2>").next().unwrap_or_default();
    assert_eq!(badge(title), Some("CRITICAL"), "{title}");
    assert!(title.contains("replication"), "{title}");
    assert!(dom.contains(&format!("<pre>{PROBLEM_OUTPUT}</pre>")), "the full output:\n{dom}");
    assert!(dom.contains("CRITICAL hard"), "the state:\n{dom}");
    let readings = dom.find("Readings, last 24 hours").unwrap_or_else(|| panic!("no readings section:\n{dom}"));
    let svg = &dom[readings..];
    let svg = &svg[svg.find("<svg").unwrap_or_else(|| panic!("no graph:\n{dom}"))..];
    let svg = &svg[..svg.find("</svg>").expect("the graph is closed")];
    assert!(svg.contains("aria-label=\"lag (s)\""), "the graph names its series: {svg}");
    let points = svg.split("class=\"line\" points=\"").nth(1).and_then(|p| p.split('"').next()).unwrap_or("");
    assert!(!points.is_empty(), "a line through the readings: {svg}");
    assert!(svg.contains("class=\"band\""), "the readings' range: {svg}");
    let history = dom.find("<h3>History</h3>").unwrap_or_else(|| panic!("no history:\n{dom}"));
    assert!(dom[history..].contains("<table>"), "history lines:\n{dom}");
}

/// Positions on the status page (1280×1024 window) and the badges' colours.
const STATUS_LAYOUT: &str = r#"
const link = document.querySelector('#problems + table a[href="/check/@PROBLEM@"]');
return {
  problem_top: link ? link.getBoundingClientRect().top : null,
  hosts_top: document.getElementById('hosts').getBoundingClientRect().top,
  height: window.innerHeight,
  badges: Array.from(document.querySelectorAll('.b')).map(b => [b.textContent.split(' ')[0], getComputedStyle(b).backgroundColor]),
};"#;

/// How the graphs' shapes are painted.
const GRAPH_STYLES: &str = r#"
return Array.from(document.querySelectorAll('svg path, svg polyline')).map(e => {
  const s = getComputedStyle(e);
  return [e.getAttribute('class') || '', s.fill, Number(s.fillOpacity), s.stroke];
});"#;

/// The problem is on the first screen, above the hosts; each status has its own
/// colour, and none is the fallback grey of an unknown status.
fn assert_status_layout(v: &Value) {
    let top = v["problem_top"].as_f64().unwrap_or_else(|| panic!("the problem's link is not in the table: {v}"));
    let height = v["height"].as_f64().expect("innerHeight");
    assert!(top < height, "the problem is visible without scrolling: {v}");
    assert!(top < v["hosts_top"].as_f64().expect("hosts"), "the problem is above the hosts: {v}");
    let mut colours: Vec<(String, String)> = serde_json::from_value(v["badges"].clone()).expect("badges");
    colours.sort();
    colours.dedup();
    let statuses: Vec<&String> = colours.iter().map(|(s, _)| s).collect();
    assert!(statuses.windows(2).all(|w| w[0] != w[1]), "a status drawn in two colours: {colours:?}");
    let mut seen: Vec<&String> = colours.iter().map(|(_, c)| c).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), colours.len(), "two statuses share a colour: {colours:?}");
    assert!(statuses.iter().any(|s| *s == "CRITICAL") && statuses.iter().any(|s| *s == "OK"), "{colours:?}");
    assert!(colours.iter().all(|(_, c)| c != "rgb(136, 136, 136)"), "a badge without its colour: {colours:?}");
}

/// A graph draws lines: only the band of the readings' range is filled, and lightly.
fn assert_graph_styles(v: &Value) {
    let shapes: Vec<(String, String, f64, String)> = serde_json::from_value(v.clone()).expect("shapes");
    assert!(shapes.iter().any(|s| s.0 == "line" && s.3 != "none"), "no stroked line: {shapes:?}");
    for (class, fill, opacity, _) in &shapes {
        match class.as_str() {
            "band" => assert!(*opacity <= 0.5, "the band hides what is behind it: {shapes:?}"),
            _ => assert_eq!(fill, "none", "the graph's {class:?} is painted filled: {shapes:?}"),
        }
    }
}

/// `<tr>…</tr>` rows of a fragment.
fn rows(html: &str) -> Vec<&str> {
    html.split("<tr").skip(1).map(|r| r.split("</tr>").next().unwrap_or(r)).collect()
}

/// The text of the first status badge in a fragment.
fn badge(html: &str) -> Option<&str> {
    let rest = &html[html.find("class=\"b ")?..];
    let rest = &rest[rest.find('>')? + 1..];
    Some(&rest[..rest.find('<')?])
}

/// Worse statuses rank higher (SEMANTICS §6).
fn rank(status: &str) -> usize {
    const ORDER: [&str; 10] =
        ["PENDING", "INFO", "OK", "WARNING", "CRITICAL", "UNKNOWN", "TIMEOUT", "ERROR", "DISCONNECTED", "ACTION"];
    ORDER.iter().position(|s| *s == status).unwrap_or_else(|| panic!("unknown status {status}"))
}

/// The `<div class="host">` of one host or cluster, by its link.
fn container(hosts: &str, name: &str) -> String {
    let kind = if name == "loopback" { "cluster" } else { "host" };
    let link = format!("<a href=\"/check/{SITE}/{kind}/{name}\">{name}</a>");
    let at = hosts.find(&link).unwrap_or_else(|| panic!("{name} is not listed:\n{hosts}"));
    let start = hosts[..at].rfind("<div class=\"host\">").unwrap_or_else(|| panic!("{name} not in a host box"));
    let end = hosts[at..].find("<div class=\"host\">").map_or(hosts.len(), |e| at + e);
    hosts[start..end].to_string()
}

/// Each group label row is followed by its service (and groups come in this order).
fn assert_groups(container: &str, groups: &[(&str, &str)]) {
    let mut from = 0;
    for (label, service) in groups {
        let row = format!("<tr class=\"g\"><td colspan=\"4\">{label}</td></tr>");
        let at =
            container[from..].find(&row).unwrap_or_else(|| panic!("no group {label:?} after {from}:\n{container}"));
        let rest = &container[from + at + row.len()..];
        let next_row = rows(rest).into_iter().next().unwrap_or_default();
        assert!(next_row.contains(&format!("/service/{service}\">{service}</a>")), "{label}: {next_row}");
        from += at + row.len();
    }
}

fn assert_png(path: &Path, width: u32, height: u32) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(bytes.starts_with(PNG_SIGNATURE), "{} is not a PNG", path.display());
    assert_eq!(&bytes[12..16], b"IHDR", "{}", path.display());
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    assert_eq!((be(&bytes[16..20]), be(&bytes[20..24])), (width, height), "{}", path.display());
    // A blank 1280×1024 page compresses to a few KB; tables, badges and text do not.
    assert!(bytes.len() > 40_000, "{} is only {} bytes: an empty page?", path.display(), bytes.len());
}

/// `target/test-artifacts`, next to the profile directory holding bergamotd.
fn artefact_dir() -> PathBuf {
    let target = Path::new(BERGAMOTD).parent().and_then(Path::parent).expect("target/PROFILE/bergamotd");
    let dir = target.join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

/// Runs headless Chromium on `url` with a fresh profile; its standard output.
fn chromium(dir: &Scratch, extra: &[&str], url: &str) -> String {
    use std::os::unix::process::CommandExt;
    let profile = tempdir_in(dir, "chromium-profile");
    let out = dir.path("chromium.out");
    let err = dir.path("chromium.err");
    let mut child = Command::new(CHROMIUM)
        .args(CHROMIUM_FLAGS)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        // Its own group: on a timeout the renderer and zygote go with it.
        .process_group(0)
        .spawn()
        .expect("start chromium");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > DEADLINE {
            kill_group(&child);
            let _ = child.wait();
            panic!("chromium {extra:?} {url} did not finish:\n{}", read(&err));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    kill_group(&child);
    assert!(status.success(), "chromium {extra:?} {url}: {status}\n{}", read(&err));
    read(&out)
}

fn kill_group(child: &Child) {
    if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

fn read(p: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned()
}

fn tempdir_in(dir: &Scratch, tag: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let p = dir.path(&format!("{tag}-{}", N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
    std::fs::create_dir_all(&p).unwrap();
    p
}

/// Polls `done` until it answers, failing with the daemon's log after the deadline.
fn wait(daemon: &mut Daemon, what: &str, mut done: impl FnMut() -> Option<()>) {
    let start = Instant::now();
    while done().is_none() {
        daemon.assert_running();
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}:\n{}", daemon.log());
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `GET path` as JSON (`Value::Null` when the daemon does not answer 200 with JSON).
fn api(port: u16, path: &str) -> Value {
    let (status, body) = http(port, "GET", path, None);
    if status != 200 {
        return Value::Null;
    }
    serde_json::from_slice(&body).unwrap_or(Value::Null)
}

/// One HTTP/1.1 request on a fresh connection; (status, body), (0, empty) on failure.
fn http(port: u16, method: &str, path: &str, json: Option<&Value>) -> (u16, Vec<u8>) {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return (0, Vec::new()) };
    let _ = s.set_read_timeout(Some(DEADLINE));
    let body = json.map(Value::to_string).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    if s.write_all(req.as_bytes()).is_err() {
        return (0, Vec::new());
    }
    // Up to the end of the head, then Content-Length bytes (or to the close).
    let mut buf = Vec::with_capacity(16_384);
    let mut chunk = [0u8; 16_384];
    let end = loop {
        if let Some(e) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break e;
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return (0, Vec::new()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let length = head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse().ok());
    let mut body = buf.split_off(end + 4);
    match length {
        Some(n) => {
            while body.len() < n {
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => return (0, Vec::new()),
                    Ok(k) => body.extend_from_slice(&chunk[..k]),
                }
            }
        }
        None => {
            let _ = s.read_to_end(&mut body);
        }
    }
    (status, body)
}

/// chromedriver with one headless Chromium session (1280×1024), stopped on drop.
struct Driver {
    child: Child,
    port: u16,
    session: String,
}

impl Driver {
    fn start(dir: &Scratch) -> Driver {
        use std::os::unix::process::CommandExt;
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let log = std::fs::File::create(dir.path("chromedriver.log")).unwrap();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            // Its own group: the browser it starts goes with it.
            .process_group(0)
            .spawn()
            .expect("start chromedriver");
        let mut d = Driver { child, port, session: String::new() };
        let start = Instant::now();
        while http(port, "GET", "/status", None).0 != 200 {
            assert!(
                start.elapsed() < DEADLINE,
                "chromedriver never answered:\n{}",
                read(&dir.path("chromedriver.log"))
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempdir_in(dir, "chromium-profile");
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| f.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        args.push("--window-size=1280,1024".into());
        let caps = serde_json::json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "goog:chromeOptions": {"binary": CHROMIUM, "args": args}}}});
        let v = d.call("POST", "/session", Some(&caps));
        d.session = v["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {v}")).to_string();
        d
    }

    /// A WebDriver command; its `value`.
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let (status, bytes) = http(self.port, method, path, body);
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        assert_eq!(status, 200, "chromedriver {method} {path}: {v}");
        v["value"].clone()
    }

    fn open(&self, url: &str) {
        self.call("POST", &format!("/session/{}/url", self.session), Some(&serde_json::json!({ "url": url })));
    }

    /// Runs `script` (a function body) in the page; what it returns.
    fn eval(&self, script: &str) -> Value {
        let body = serde_json::json!({ "script": script, "args": [] });
        self.call("POST", &format!("/session/{}/execute/sync", self.session), Some(&body))
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = http(self.port, "DELETE", &format!("/session/{}", self.session), None);
        }
        kill_group(&self.child);
        let _ = self.child.wait();
    }
}

/// A running bergamotd with its API on an ephemeral loopback port; killed on drop.
struct Daemon {
    child: Option<Child>,
    log: PathBuf,
}

impl Daemon {
    fn start(config: &Path, data: &Path, log: PathBuf) -> Daemon {
        let child = Command::new(BERGAMOTD)
            .arg("--config")
            .arg(config)
            .arg("--data")
            .arg(data)
            .args(["--http", "127.0.0.1:0"])
            .env_remove("BERGAMOT_IO")
            .env_remove("BERGAMOT_LOG")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start bergamotd");
        Daemon { child: Some(child), log }
    }

    fn log(&self) -> String {
        read(&self.log)
    }

    fn assert_running(&mut self) {
        if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
            panic!("bergamotd exited ({status}):\n{}", self.log());
        }
    }

    /// The port it logged for the status page (`… on http://127.0.0.1:PORT/`).
    fn port(&mut self) -> u16 {
        let mut port = None;
        let log_path = self.log.clone();
        wait(self, "the status page's address in the log", || {
            let log = read(&log_path);
            let rest = log.split("status page and API on http://127.0.0.1:").nth(1)?;
            port = rest.split('/').next()?.parse().ok();
            port.map(|_| ())
        });
        port.expect("found")
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

/// A private directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let p = std::env::temp_dir().join(format!("bergamot-ui-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn write(&self, name: &str, text: &str, mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = self.path(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
