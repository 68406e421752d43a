//! `bergamotd` end to end, as an operator runs it: a small site (tests/bergamotd/
//! site.xml) checked against real peers on loopback — Debian's nrpe in plaintext and
//! with its default anonymous-DH TLS, net-snmp's snmpd, monitoring-plugins through
//! the nagios engine — followed through `--events` until every expected state,
//! alert, covered alert and recovery has happened; SIGTERM; `health.json`. Also every
//! start-up failure with its exit status and message, and `bergamot-cli check`
//! against the same peers.
//!
//! Installs nagios-nrpe-server, monitoring-plugins, snmpd and snmp with apt-get when
//! missing and needs root (nrpe drops to `nagios`; ICMP; network namespaces). Waits
//! only for things to happen, with deadlines that guard against hanging; nothing is
//! asserted about time.

#[path = "../../netprobes/tests/common/mod.rs"]
mod common;

#[path = "bergamotd/follow.rs"]
mod follow;
#[path = "bergamotd/peers.rs"]
mod peers;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use follow::{Daemon, Events, Want, daemon_cmd, describe, text, wait_for, want};
use peers::{PLUGINS, Scratch, chmod, nrpe_scripts, peers, silent_listener, start_nrpe, start_snmpd, wait_until};

const BERGAMOTD: &str = env!("CARGO_BIN_EXE_bergamotd");
const CLI: &str = env!("CARGO_BIN_EXE_bergamot-cli");
const SITE: &str = "it.example";

const H: Option<bool> = Some(true);
const ANY: Option<bool> = None;

/// What the site settles to (thresholds 2/2), from results to alerts.
const SETTLED: &[Want] = &[
    want("host/lo", "result", "OK", H),
    want("host/lo/service/nrpe-ok", "result", "OK", H),
    want("host/lo/service/nrpe-warn", "alert", "WARNING", ANY),
    want("host/lo/service/nrpe-warn", "state-change", "WARNING", H),
    want("host/lo/service/nrpe-crit", "alert", "CRITICAL", ANY),
    want("host/lo/service/nrpe-unknown", "alert", "UNKNOWN", ANY),
    want("host/lo/service/nrpe-flip", "result", "OK", H),
    // The probe's own report of a server that never answers (check_nrpe's words).
    want("host/lo/service/nrpe-silent", "alert", "CRITICAL", ANY),
    // A parameter that does not parse: ERROR on the check, not a dead daemon.
    want("host/lo/service/nrpe-bad-tls", "alert", "ERROR", ANY),
    want("host/lo/service/tls-ok", "result", "OK", H),
    want("host/lo/service/tls-crit", "alert", "CRITICAL", ANY),
    want("host/lo/service/snmp-uptime", "result", "OK", H),
    want("host/lo/service/snmp-threshold", "alert", "CRITICAL", ANY),
    // snmpd ignores a wrong community; check_snmp reports the timeout as UNKNOWN.
    want("host/lo/service/snmp-community", "alert", "UNKNOWN", ANY),
    want("host/lo/service/dummy-0", "result", "OK", H),
    want("host/lo/service/dummy-1", "alert", "WARNING", ANY),
    want("host/lo/service/dummy-2", "alert", "CRITICAL", ANY),
    want("host/lo/service/dummy-3", "alert", "UNKNOWN", ANY),
    want("host/lo/service/plugin-timeout", "alert", "TIMEOUT", ANY),
    want("host/lo/service/accel-ping", "result", "OK", H),
    want("host/lo/service/accel-tcp", "result", "OK", H),
    want("host/down", "alert", "CRITICAL", ANY),
    want("host/down/service/behind", "alert", "CRITICAL", ANY),
    want("cluster/pair", "result", "OK", H),
    want("cluster/pair/resource/exactly-two", "result", "OK", H),
    want("cluster/pair/resource/two-or-more", "alert", "WARNING", ANY),
    want("cluster/mixed", "alert", "WARNING", ANY),
];

/// Checks that are fine from the start: they never alert.
const NEVER_ALERT: &[&str] = &[
    "host/lo",
    "host/lo/service/nrpe-ok",
    "host/lo/service/tls-ok",
    "host/lo/service/snmp-uptime",
    "host/lo/service/dummy-0",
    "host/lo/service/accel-ping",
    "host/lo/service/accel-tcp",
    "cluster/pair",
    "cluster/pair/resource/exactly-two",
];

/// What an alert's last result said, for the checks whose words matter.
const OUTPUTS: &[(&str, &str)] = &[
    ("host/lo/service/nrpe-warn", "EXIT1 - status 1"),
    ("host/lo/service/tls-crit", "EXIT2 - status 2"),
    ("host/lo/service/nrpe-silent", "Socket timeout after 1 seconds"),
    ("host/lo/service/nrpe-bad-tls", "bad tls `maybe`"),
    ("host/lo/service/snmp-community", "Timeout: No Response from 127.0.0.1"),
    ("host/lo/service/dummy-1", "a warning"),
    ("host/lo/service/plugin-timeout", "timed out"),
    ("host/down", "switched off"),
];

/// Writes the site with the peers' ports; returns its directory.
fn write_site(dir: &Scratch, plain: u16, tls: u16, snmp: u16, silent: u16) -> PathBuf {
    let site = include_str!("bergamotd/site.xml")
        .replace("@NRPE_PLAIN@", &plain.to_string())
        .replace("@NRPE_TLS@", &tls.to_string())
        .replace("@SNMP@", &snmp.to_string())
        .replace("@SILENT@", &silent.to_string())
        .replace("@OPEN@", &silent.to_string())
        .replace("@PLUGINS@", PLUGINS)
        .replace("@DIR@", &dir.0.display().to_string());
    dir.write("conf/site.xml", &site, 0o644);
    dir.path("conf")
}

#[test]
fn daemon_reaches_the_expected_states_and_alerts_against_real_peers() {
    peers();
    let dir = Scratch::new("site");
    nrpe_scripts(&dir);
    let (_plain, plain_port) = start_nrpe(&dir, "nrpe-plain", false);
    let (_tls, tls_port) = start_nrpe(&dir, "nrpe-tls", true);
    let (_snmpd, snmp_port) = start_snmpd(&dir);
    let silent = silent_listener();
    let stuck_pid = dir.path("stuck.pid");
    dir.write("stuck.sh", &format!("#!/bin/sh\necho $$ >> {}\nexec sleep 3600\n", stuck_pid.display()), 0o755);
    let conf = write_site(&dir, plain_port, tls_port, snmp_port, silent);
    let data = dir.path("data");
    let mut events = Events::new(dir.path("events.jsonl"));
    let mut daemon = Daemon::start(&conf, &data, &events.path.clone(), dir.path("bergamotd.log"));

    wait_for(&mut events, &mut daemon, SETTLED);

    // A second daemon on the same data directory refuses to start.
    let o = daemon_cmd(&conf, &data).output().unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", describe(&o));
    assert!(text(&o.stderr).contains("another bergamotd"), "{}", describe(&o));

    // The flip command turns CRITICAL while the daemon runs: an alert, then a recovery.
    let flip = dir.write("flip", "", 0o644);
    wait_for(&mut events, &mut daemon, &[want("host/lo/service/nrpe-flip", "alert", "CRITICAL", ANY)]);
    std::fs::remove_file(&flip).unwrap();
    wait_for(&mut events, &mut daemon, &[want("host/lo/service/nrpe-flip", "recovery", "OK", ANY)]);

    // A plugin still running at the stop is killed with the daemon, not left behind.
    let pids = || -> Vec<u32> {
        let text = std::fs::read_to_string(&stuck_pid).unwrap_or_default();
        text.lines().filter_map(|l| l.trim().parse().ok()).collect()
    };
    wait_until(|| "plugin-stuck to start".into(), || !pids().is_empty());

    let code = daemon.terminate();
    let log = daemon.log();
    assert_eq!(code, Some(0), "SIGTERM must stop bergamotd with exit 0:\n{log}");
    events.poll();
    // One run: a check never runs twice at once, and this one never ends by itself.
    let stuck = pids();
    assert_eq!(stuck.len(), 1, "plugin-stuck started {stuck:?}");
    let start = std::time::Instant::now();
    while stuck.iter().any(|p| alive(*p)) {
        if start.elapsed() > peers::DEADLINE {
            for p in &stuck {
                let _ = Command::new("kill").args(["-9", &p.to_string()]).status();
            }
            panic!("the plugin in flight ({stuck:?}) outlived bergamotd:\n{log}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }

    for check in NEVER_ALERT {
        let alerts: Vec<&Value> = events.of(check, "alert").collect();
        assert!(alerts.is_empty(), "{check} alerted: {alerts:?}");
        assert!(events.of(check, "result").all(|v| v["status"] == "OK" || v["status"] == "PENDING"), "{check}");
    }
    for (check, words) in OUTPUTS {
        let alert = events.of(check, "alert").next().unwrap_or_else(|| panic!("no alert of {check}"));
        assert!(alert["output"].as_str().is_some_and(|o| o.contains(words)), "{check}: {alert}");
    }
    // Real alerts notify; the one behind a down host is covered by the host's alert.
    let host_alert = events.of("host/down", "alert").next().unwrap().clone();
    assert_eq!(host_alert["notify"], true, "{host_alert}");
    let behind = events.of("host/down/service/behind", "alert").next().unwrap();
    assert_eq!(behind["notify"], false, "{behind}");
    assert_eq!(behind["covered_by"]["check"], format!("{SITE}/host/down"), "{behind}");
    assert_eq!(behind["covered_by"]["alert_id"], host_alert["alert_id"], "{behind}");
    for check in ["host/lo/service/nrpe-crit", "host/lo/service/tls-crit", "cluster/mixed"] {
        let a = events.of(check, "alert").next().unwrap();
        assert_eq!(a["notify"], true, "{a}");
        assert!(a["covered_by"].is_null(), "{a}");
    }
    // The recovery closes the flip's alert.
    let flip_alert = events.of("host/lo/service/nrpe-flip", "alert").next().unwrap();
    let recovery = events.of("host/lo/service/nrpe-flip", "recovery").next().unwrap();
    assert_eq!(recovery["alert_id"], flip_alert["alert_id"]);
    assert_eq!(recovery["notify"], true, "{recovery}");

    let health: Value = serde_json::from_slice(&std::fs::read(data.join("health.json")).expect("health.json"))
        .expect("health.json is JSON");
    let n = |k: &str| health[k].as_u64().unwrap_or_else(|| panic!("health.json has no {k}: {health:#}"));
    assert_eq!(n("checks"), 27, "{health:#}");
    assert_eq!(n("scheduled"), 21 + 2, "{health:#}");
    assert!(n("completed") > 0, "{health:#}");
    // Written at the stop: it counts every result the events file has.
    let results = events.all.iter().filter(|v| {
        v["event"] == "result" && v["check"].as_str().is_some_and(|c| c.starts_with(&format!("{SITE}/host/")))
    });
    assert_eq!(n("completed"), results.count() as u64, "{health:#}");
    assert!(n("started") + n("queued") >= n("due"), "{health:#}");
    assert!(n("started") >= n("completed"), "{health:#}");
    assert!(health["results"]["OK"].as_u64().unwrap_or(0) > 0, "{health:#}");
}

/// `bergamot-cli check DIR HOST SERVICE` against the same kind of peers: parameters,
/// command line, how it ran, status; the plugin convention as exit status.
#[test]
fn cli_check_runs_one_check_as_the_daemon_would() {
    peers();
    let dir = Scratch::new("cli");
    nrpe_scripts(&dir);
    let (_plain, plain_port) = start_nrpe(&dir, "nrpe-plain", false);
    let (_tls, tls_port) = start_nrpe(&dir, "nrpe-tls", true);
    let (_snmpd, snmp_port) = start_snmpd(&dir);
    let silent = silent_listener();
    let conf = write_site(&dir, plain_port, tls_port, snmp_port, silent);
    let conf = conf.display().to_string();
    let table: &[(&str, Option<&str>, i32, &[&str])] = &[
        (
            "lo",
            Some("nrpe-ok"),
            0,
            &[
                &format!("check:      {SITE}/host/lo/service/nrpe-ok\n"),
                "command:    nrpe-plain (engine nrpe)\n",
                "parameters:\n",
                "  command = check_ok\n",
                &format!("  port    = {plain_port}\n"),
                "  host    = 127.0.0.1   (from #{host.address})\n",
                "  tls     = no\n",
                &format!("runs:       check_nrpe -H 127.0.0.1 -p {plain_port} -c check_ok -n -t 5\n"),
                "how:        native",
                "status:     OK\n",
                "output:     EXIT0 - status 0\n",
                "perfdata:   v=0;1;2;0;3\n",
            ],
        ),
        (
            "lo",
            Some("nrpe-crit"),
            2,
            &["how:        native", "status:     CRITICAL\n", "output:     EXIT2 - status 2\n"],
        ),
        (
            "lo",
            Some("tls-ok"),
            0,
            &[&format!("runs:       check_nrpe -H 127.0.0.1 -p {tls_port} -c check_ok -t 5\n"), "how:        native"],
        ),
        ("lo", Some("snmp-threshold"), 2, &["how:        native", "status:     CRITICAL\n"]),
        (
            "lo",
            Some("dummy-1"),
            1,
            &["how:        plugin process", "status:     WARNING\n", "output:     WARNING: a warning\n"],
        ),
        ("lo", Some("accel-ping"), 0, &["how:        native", "status:     OK\n"]),
        ("lo", Some("nrpe-bad-tls"), 3, &["how:        not run", "status:     ERROR\n"]),
        (
            "down",
            None,
            2,
            &["how:        fixed (dummy engine)", "status:     CRITICAL\n", "output:     switched off\n"],
        ),
    ];
    for (host, service, code, wants) in table {
        let mut args = vec!["check", conf.as_str(), host];
        args.extend(service.iter().copied());
        let o = Command::new(CLI).args(&args).output().unwrap();
        let out = text(&o.stdout);
        assert_eq!(o.status.code(), Some(*code), "{args:?}\n{}", describe(&o));
        for w in *wants {
            assert!(out.contains(w), "{args:?}: no {w:?} in\n{}", describe(&o));
        }
    }
}

/// Whether process `pid` is alive (a zombie is not: it only waits to be reaped).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')))
}

fn start_failure(args: &[&str], config: Option<&Path>, data: &Path) -> Output {
    let mut c = Command::new(BERGAMOTD);
    if let Some(config) = config {
        c.arg("--config").arg(config);
    }
    c.arg("--data").arg(data).args(args).env_remove("BERGAMOT_IO").output().unwrap()
}

#[test]
fn bad_configuration_prints_every_error_and_exits_2() {
    let dir = Scratch::new("bad");
    let file = dir.write(
        "conf/site.xml",
        "<bergamot site=\"d\">\n    <host name=\"h\" extends=\"generic-hots\"/>\n    <host name=\"generic-host\" template=\"yes\"/>\n    <time-period name=\"p\"><time-range>monday 25:00-26:00</time-range></time-period>\n</bergamot>\n",
        0o644,
    );
    let o = start_failure(&[], Some(&dir.path("conf")), &dir.path("data"));
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    let err = text(&o.stderr);
    for w in [
        "error: unknown parent host `generic-hots`".to_string(),
        format!("{}:2:29", file.display()),
        "error: bad time range `monday 25:00-26:00`".to_string(),
        format!("{}:4:46", file.display()),
        "the configuration has 2 error(s)".to_string(),
    ] {
        assert!(err.contains(&w), "no {w:?} in\n{}", describe(&o));
    }
    assert!(!dir.path("data/health.json").exists(), "nothing may run");
}

#[test]
fn data_directory_that_cannot_be_made_exits_3() {
    let dir = Scratch::new("data");
    dir.write("conf/site.xml", "<bergamot site=\"d\"/>\n", 0o644);
    let file = dir.write("not-a-dir", "", 0o644);
    let o = start_failure(&[], Some(&dir.path("conf")), &file);
    assert_eq!(o.status.code(), Some(3), "{}", describe(&o));
    assert!(text(&o.stderr).contains(&format!("data directory {}", file.display())), "{}", describe(&o));
}

#[test]
fn unknown_io_backend_exits_5() {
    let dir = Scratch::new("io");
    dir.write("conf/site.xml", "<bergamot site=\"d\"/>\n", 0o644);
    let o = start_failure(&["--io", "carrier-pigeon"], Some(&dir.path("conf")), &dir.path("data"));
    assert_eq!(o.status.code(), Some(5), "{}", describe(&o));
    assert!(text(&o.stderr).contains("--io carrier-pigeon: use auto"), "{}", describe(&o));
}

/// Unprivileged, in a network namespace of its own whose `ping_group_range` leaves
/// nobody's group out: bergamotd may not send ICMP and says how to fix it (exit 4);
/// with the fix it names (the sysctl, in that namespace only) it starts.
#[test]
fn no_icmp_permission_exits_4_with_the_fix() {
    let dir = Scratch::new("icmp");
    dir.write(
        "conf/site.xml",
        "<bergamot site=\"d\">\n<command name=\"p\" engine=\"ping\"/>\n<host name=\"lo\" address=\"127.0.0.1\"><check-command command=\"p\"/></host>\n</bergamot>\n",
        0o644,
    );
    let data = dir.path("data");
    std::fs::create_dir_all(&data).unwrap();
    chmod(&data, 0o777);
    let range = || std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range").unwrap();
    let before = range();
    let as_nobody = |range: &str| {
        // /proc/sys/net is the new namespace's: nothing changes outside it.
        let script = format!(
            "echo '{range}' > /proc/sys/net/ipv4/ping_group_range && exec setpriv --reuid=65534 --regid=65534 \
             --clear-groups {BERGAMOTD} --config {} --data {}",
            dir.path("conf").display(),
            data.display()
        );
        let mut c = Command::new("unshare");
        c.args(["-n", "sh", "-c", &script]).env_remove("BERGAMOT_IO");
        c
    };
    let o = as_nobody("1 0").output().unwrap();
    assert_eq!(o.status.code(), Some(4), "{}", describe(&o));
    let err = text(&o.stderr);
    for w in ["may not send ICMP", "setcap cap_net_raw+ep", "sysctl -w net.ipv4.ping_group_range=\"0 2147483647\""] {
        assert!(err.contains(w), "no {w:?} in\n{}", describe(&o));
    }

    // The fix: that group may open ICMP datagram sockets. It starts; SIGTERM stops it.
    let log = dir.path("fixed.log");
    let child =
        as_nobody("0 2147483647").stdout(Stdio::null()).stderr(std::fs::File::create(&log).unwrap()).spawn().unwrap();
    let mut daemon = Daemon { child: Some(child), stderr: log };
    wait_until(
        || format!("health.json of the unprivileged daemon:\n{}", daemon.log()),
        || data.join("health.json").exists(),
    );
    daemon.assert_running();
    assert_eq!(daemon.terminate(), Some(0), "{}", daemon.log());
    assert_eq!(range(), before, "the machine's own ping_group_range is untouched");
}
