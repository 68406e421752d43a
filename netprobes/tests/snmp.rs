//! Interop tests of the SNMP manager against net-snmp's snmpd (installed with apt-get
//! if missing, started on a free loopback port with its own persistent directory and
//! users), through the real driver on both I/O backends, and of `bergamot-probe snmp`
//! against the output of snmpget, snmpwalk, snmpbulkget and check_snmp on the same
//! agent. Nothing leaves 127.0.0.1.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bergamot_netprobes::driver::{DatagramConfig, DatagramRunner, DatagramSocket, IoChoice, Runner};
use bergamot_netprobes::session::snmp::{
    Failure, ManagerConfig, Outcome, ReportKind, Request, Security, SnmpEvent, SnmpManager, Target,
};
use bergamot_netprobes::time::MonotonicClock;
use bergamot_netprobes::wire::snmp::{AuthProtocol, ErrorStatus, Oid, PrivProtocol, UserKeys, Value, VarBind, Version};

const AUTH_PW: &str = "authpass123";
const PRIV_PW: &str = "privpass123";
const AUTHS: [AuthProtocol; 6] = [
    AuthProtocol::Md5,
    AuthProtocol::Sha1,
    AuthProtocol::Sha224,
    AuthProtocol::Sha256,
    AuthProtocol::Sha384,
    AuthProtocol::Sha512,
];
const PRIVS: [PrivProtocol; 4] = [PrivProtocol::Des, PrivProtocol::Aes128, PrivProtocol::Aes192, PrivProtocol::Aes256];
const SYS_DESCR: &str = "1.3.6.1.2.1.1.1.0";
const SYS_UPTIME: &str = "1.3.6.1.2.1.1.3.0";

/// apt-get runs once per test process; parallel tests wait for it.
static INSTALL: Mutex<bool> = Mutex::new(false);

fn have(cmd: &str) -> bool {
    Command::new("sh").arg("-c").arg(format!("command -v {cmd}")).stdout(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// Install Debian packages unless `probe` is already on PATH.
fn ensure(probe: &str, packages: &[&str]) {
    let mut done = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if have(probe) {
        return;
    }
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "-q", "-o", "DPkg::Lock::Timeout=600"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success())
    };
    if !install() && !*done {
        let _ = Command::new("apt-get").args(["update", "-q", "-o", "DPkg::Lock::Timeout=600"]).status();
        *done = true;
        assert!(install(), "apt-get install {packages:?} failed");
    }
    assert!(have(probe), "{probe} still missing after installing {packages:?}");
}

fn user_name(a: AuthProtocol, p: Option<PrivProtocol>) -> String {
    format!("u-{}-{}", a.name(), p.map(|p| p.name()).unwrap_or("none")).to_lowercase()
}

/// snmpd on a free loopback port, killed when dropped.
struct Agent {
    child: Child,
    addr: SocketAddr,
    _dir: TempDir,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Agent {
    fn start() -> Agent {
        ensure("snmpd", &["snmpd", "snmp"]);
        let dir = std::env::temp_dir().join(format!("bergamot-snmpd-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        let port = free_port();
        let mut conf = format!("agentAddress udp:127.0.0.1:{port}\nrocommunity public 127.0.0.1\n");
        conf.push_str("createUser u-noauth\nrouser u-noauth noauth\n");
        for a in AUTHS {
            let n = user_name(a, None);
            conf.push_str(&format!("createUser {n} {} \"{AUTH_PW}\"\nrouser {n} auth\n", a.name()));
            for p in PRIVS {
                let n = user_name(a, Some(p));
                conf.push_str(&format!("createUser {n} {} \"{AUTH_PW}\" {} \"{PRIV_PW}\"\nrouser {n} authpriv\n", a.name(), p.name()));
            }
        }
        std::fs::write(dir.join("snmpd.conf"), conf).unwrap();
        let log = std::fs::File::create(dir.join("snmpd.log")).unwrap();
        let child = Command::new("snmpd")
            .args(["-f", "-Lo", "-C", "-c"])
            .arg(dir.join("snmpd.conf"))
            .args(["-m", ""])
            .env("SNMP_PERSISTENT_DIR", &dir)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start snmpd");
        let agent = Agent { child, addr: SocketAddr::from(([127, 0, 0, 1], port)), _dir: TempDir(dir) };
        agent.wait_ready();
        agent
    }

    /// Ask until it answers (it takes a moment to bind and create the users).
    fn wait_ready(&self) {
        for _ in 0..100 {
            let e = run(IoChoice::Auto, vec![(v2c(self.addr, "public", 0.1, 0), get(&[SYS_DESCR]))]);
            if matches!(e[0].outcome, Outcome::Values(_)) {
                return;
            }
        }
        let log = std::fs::read_to_string(self._dir.0.join("snmpd.log")).unwrap_or_default();
        panic!("snmpd on {} never answered; log:\n{log}", self.addr);
    }
}

fn oid(s: &str) -> Oid<'static> {
    s.parse().unwrap()
}

fn get(oids: &[&str]) -> Request {
    Request::Get(oids.iter().map(|o| oid(o)).collect())
}

fn v2c(addr: SocketAddr, community: &str, timeout: f64, retries: u32) -> Target {
    Target {
        addr,
        security: Security::Community { version: Version::V2c, community: community.as_bytes().to_vec() },
        timeout: Duration::from_secs_f64(timeout),
        retries,
    }
}

fn v1(addr: SocketAddr) -> Target {
    Target { security: Security::Community { version: Version::V1, community: b"public".to_vec() }, ..v2c(addr, "", 2.0, 2) }
}

fn v3(addr: SocketAddr, user: &str, auth: Option<(AuthProtocol, &str)>, privacy: Option<(PrivProtocol, &str)>) -> Target {
    let keys = UserKeys::new(user.as_bytes(), auth.map(|(a, p)| (a, p.as_bytes())), privacy.map(|(p, pw)| (p, pw.as_bytes()))).unwrap();
    Target { security: Security::Usm { keys: Arc::new(keys), context_name: Vec::new() }, ..v2c(addr, "", 2.0, 2) }
}

/// Run operations concurrently on one socket through the driver; events in start order.
fn run(io: IoChoice, ops: Vec<(Target, Request)>) -> Vec<SnmpEvent> {
    let clock = MonotonicClock::new();
    let socket = DatagramSocket::udp("127.0.0.1:0".parse().unwrap()).unwrap();
    let config = DatagramConfig { io, max_datagram: 65_535, recv_buffers: 16, ..DatagramConfig::default() };
    let mgr = SnmpManager::new(ManagerConfig { seed: u64::from(std::process::id()) << 20, ..ManagerConfig::default() });
    let mut runner = DatagramRunner::new(socket, mgr, &config, clock).unwrap();
    let mut ids = Vec::new();
    for (t, r) in ops {
        ids.push(runner.session_mut().start(clock.now(), t, r).unwrap());
    }
    let mut events = Vec::new();
    runner.run_until_idle(None, |e| events.push(e)).unwrap();
    events.sort_by_key(|e: &SnmpEvent| ids.iter().position(|i| *i == e.id));
    assert_eq!(events.len(), ids.len());
    events
}

fn values(e: &SnmpEvent) -> &[VarBind<'static>] {
    match &e.outcome {
        Outcome::Values(v) => v,
        Outcome::Failed(f) => panic!("failed: {f}"),
    }
}

fn failure(e: &SnmpEvent) -> &Failure {
    match &e.outcome {
        Outcome::Failed(f) => f,
        Outcome::Values(v) => panic!("unexpected values {v:?}"),
    }
}

fn assert_sys_descr_and_uptime(e: &SnmpEvent, what: &str) {
    let v = values(e);
    assert_eq!(v.len(), 2, "{what}");
    assert!(matches!(&v[0].value, Value::OctetString(s) if s.starts_with(b"Linux")), "{what}: {}", v[0]);
    assert!(matches!(v[1].value, Value::TimeTicks(_)), "{what}: {}", v[1]);
}

/// net-snmp's tool output with `-m '' -On`, as lines; sysUpTime dropped (it ticks).
fn net_snmp(tool: &str, args: &[&str]) -> Vec<String> {
    let out = Command::new(tool).args(["-m", "", "-On"]).args(args).output().unwrap();
    assert!(out.status.success(), "{tool} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    lines_without_uptime(&out.stdout)
}

fn lines_without_uptime(out: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(out).lines().filter(|l| !l.starts_with(".1.3.6.1.2.1.1.3.0 ")).map(str::to_owned).collect()
}

fn probe(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bergamot-probe")).arg("snmp").args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn v1_and_v2c_get_walk_bulk_and_errors_on_both_backends() {
    let agent = Agent::start();
    let a = agent.addr;
    for io in [IoChoice::Epoll, IoChoice::IoUring] {
        let root = oid("1.3.6.1.2.1.1");
        let events = run(
            io,
            vec![
                (v1(a), get(&[SYS_DESCR, SYS_UPTIME])),
                (v2c(a, "public", 2.0, 2), get(&[SYS_DESCR, SYS_UPTIME])),
                (v2c(a, "public", 2.0, 2), Request::Walk { root: root.clone(), max_repetitions: 10 }),
                (v1(a), Request::Walk { root: root.clone(), max_repetitions: 0 }),
                (v2c(a, "public", 2.0, 2), Request::GetBulk { non_repeaters: 1, max_repetitions: 4, oids: vec![oid(SYS_UPTIME), root.clone()] }),
                (v2c(a, "public", 2.0, 2), get(&["1.3.6.1.2.1.1.99.0"])),
                (v1(a), get(&["1.3.6.1.2.1.1.99.0"])),
                (v2c(a, "wrong-community", 0.2, 1), get(&[SYS_DESCR])),
            ],
        );
        assert_sys_descr_and_uptime(&events[0], "v1 get");
        assert_sys_descr_and_uptime(&events[1], "v2c get");

        // Walks (GETBULK and v1 GETNEXT) print exactly what snmpwalk prints.
        let target = a.to_string();
        let reference = net_snmp("snmpwalk", &["-v2c", "-c", "public", &target, "1.3.6.1.2.1.1"]);
        assert!(reference.len() > 20, "{reference:?}");
        for (i, e) in [(2, &events[2]), (3, &events[3])] {
            let ours: Vec<String> = values(e).iter().map(|vb| vb.to_string()).filter(|l| !l.starts_with(".1.3.6.1.2.1.1.3.0 ")).collect();
            assert_eq!(ours, reference, "walk {i} on {io}");
        }

        let reference = net_snmp("snmpbulkget", &["-v2c", "-c", "public", "-Cn1", "-Cr4", &target, SYS_UPTIME, "1.3.6.1.2.1.1"]);
        let ours: Vec<String> = values(&events[4]).iter().map(|vb| vb.to_string()).filter(|l| !l.starts_with(".1.3.6.1.2.1.1.3.0 ")).collect();
        assert_eq!(ours, reference, "getbulk on {io}");

        assert_eq!(values(&events[5])[0].value, Value::NoSuchObject);
        assert!(
            matches!(failure(&events[6]), Failure::ErrorStatus { status: ErrorStatus::NO_SUCH_NAME, index: 1, .. }),
            "{:?}",
            events[6].outcome
        );
        let f = failure(&events[7]);
        assert!(matches!(f, Failure::Timeout { attempts: 2, .. }), "{f:?}");
        assert!(f.to_string().contains("wrong community"), "{f}");
    }
}

#[test]
fn v3_every_auth_and_privacy_pair() {
    let agent = Agent::start();
    let a = agent.addr;
    let mut ops = vec![(v3(a, "u-noauth", None, None), get(&[SYS_DESCR, SYS_UPTIME]))];
    let mut names = vec!["noAuthNoPriv".to_owned()];
    for auth in AUTHS {
        ops.push((v3(a, &user_name(auth, None), Some((auth, AUTH_PW)), None), get(&[SYS_DESCR, SYS_UPTIME])));
        names.push(format!("{} authNoPriv", auth.name()));
        for p in PRIVS {
            ops.push((v3(a, &user_name(auth, Some(p)), Some((auth, AUTH_PW)), Some((p, PRIV_PW))), get(&[SYS_DESCR, SYS_UPTIME])));
            names.push(format!("{}/{}", auth.name(), p.name()));
        }
    }
    assert_eq!(ops.len(), 1 + 6 + 24);
    // All at once on one socket: one engine discovery, keys localized per user.
    let events = run(IoChoice::Auto, ops);
    for (e, name) in events.iter().zip(&names) {
        assert_sys_descr_and_uptime(e, name);
    }
    // v3 walk and unknown OID with authPriv.
    let t = v3(a, &user_name(AuthProtocol::Sha256, Some(PrivProtocol::Aes256)), Some((AuthProtocol::Sha256, AUTH_PW)), Some((PrivProtocol::Aes256, PRIV_PW)));
    let events = run(
        IoChoice::Auto,
        vec![(t.clone(), Request::Walk { root: oid("1.3.6.1.2.1.1"), max_repetitions: 5 }), (t, get(&["1.3.6.1.2.1.1.99.0"]))],
    );
    let reference = net_snmp("snmpwalk", &["-v2c", "-c", "public", &a.to_string(), "1.3.6.1.2.1.1"]);
    let ours: Vec<String> = values(&events[0]).iter().map(|vb| vb.to_string()).filter(|l| !l.starts_with(".1.3.6.1.2.1.1.3.0 ")).collect();
    assert_eq!(ours, reference);
    assert_eq!(values(&events[1])[0].value, Value::NoSuchObject);
}

#[test]
fn v3_wrong_credentials_are_clear_failures() {
    let agent = Agent::start();
    let a = agent.addr;
    let sha_aes = user_name(AuthProtocol::Sha1, Some(PrivProtocol::Aes128));
    let short = |mut t: Target| {
        t.timeout = Duration::from_millis(300);
        t.retries = 1;
        t
    };
    let events = run(
        IoChoice::Auto,
        vec![
            // Wrong auth password: snmpd answers with an usmStatsWrongDigests report.
            (v3(a, &sha_aes, Some((AuthProtocol::Sha1, "wrongpass123")), Some((PrivProtocol::Aes128, PRIV_PW))), get(&[SYS_DESCR])),
            // Wrong auth protocol: same report.
            (v3(a, &sha_aes, Some((AuthProtocol::Md5, AUTH_PW)), Some((PrivProtocol::Aes128, PRIV_PW))), get(&[SYS_DESCR])),
            (v3(a, "nobody", Some((AuthProtocol::Sha1, AUTH_PW)), None), get(&[SYS_DESCR])),
            // An authNoPriv user asked for authPriv.
            (
                v3(a, &user_name(AuthProtocol::Sha1, None), Some((AuthProtocol::Sha1, AUTH_PW)), Some((PrivProtocol::Aes128, PRIV_PW))),
                get(&[SYS_DESCR]),
            ),
            // Wrong privacy password: snmpd cannot decrypt and stays silent.
            (short(v3(a, &sha_aes, Some((AuthProtocol::Sha1, AUTH_PW)), Some((PrivProtocol::Aes128, "wrongpriv123")))), get(&[SYS_DESCR])),
        ],
    );
    assert_eq!(*failure(&events[0]), Failure::Report(ReportKind::WrongDigest));
    assert!(failure(&events[0]).to_string().contains("Authentication failure (incorrect password"));
    assert_eq!(*failure(&events[1]), Failure::Report(ReportKind::WrongDigest));
    assert_eq!(*failure(&events[2]), Failure::Report(ReportKind::UnknownUserName));
    assert_eq!(*failure(&events[3]), Failure::Report(ReportKind::UnsupportedSecurityLevel));
    let f = failure(&events[4]);
    assert!(matches!(f, Failure::Timeout { .. }) && f.to_string().contains("privacy"), "{f}");
}

#[test]
fn cli_prints_what_net_snmp_prints() {
    let agent = Agent::start();
    let t = agent.addr.to_string();
    let v3 = ["-v3", "-l", "authPriv", "-u", "u-sha-aes", "-a", "SHA", "-A", AUTH_PW, "-x", "AES", "-X", PRIV_PW];
    let oids = [SYS_DESCR, "1.3.6.1.2.1.1.2.0", "1.3.6.1.2.1.2.2.1.5.1", "1.3.6.1.2.1.1.99.0"];

    let mut ours_args: Vec<&str> = vec!["get", "-v2c", "-c", "public", &t];
    ours_args.extend(oids);
    let (code, out, err) = probe(&ours_args);
    assert_eq!(code, 0, "{err}");
    let mut ref_args: Vec<&str> = vec!["-v2c", "-c", "public", &t];
    ref_args.extend(oids);
    assert_eq!(lines_without_uptime(out.as_bytes()), net_snmp("snmpget", &ref_args));

    let mut ours_args: Vec<&str> = vec!["get"];
    ours_args.extend(v3);
    ours_args.push(&t);
    ours_args.extend(oids);
    let (code, out, err) = probe(&ours_args);
    assert_eq!(code, 0, "{err}");
    let mut ref_args: Vec<&str> = v3.to_vec();
    ref_args.push(&t);
    ref_args.extend(oids);
    assert_eq!(lines_without_uptime(out.as_bytes()), net_snmp("snmpget", &ref_args));

    for args in [vec!["-v2c", "-c", "public", &t, "1.3.6.1.2.1.1"], vec!["-v1", "-c", "public", &t, "1.3.6.1.2.1.2.2.1"]] {
        let (code, out, err) = probe(&[&["walk"][..], &args[..]].concat());
        assert_eq!(code, 0, "{err}");
        assert_eq!(lines_without_uptime(out.as_bytes()), net_snmp("snmpwalk", &args), "{args:?}");
    }

    // Whole subtrees with every kind of value (counters, gauges, Hex-STRING, OIDs,
    // Opaque floats, timeticks, endOfMibView at the end of the MIB): same OIDs and
    // types as snmpwalk; the values tick, so they are compared only where static.
    for root in ["1.3.6.1.2.1.2", "1.3.6.1.4.1.2021.10", "1.3.6.1.6.3"] {
        let args = ["-v2c", "-c", "public", &t, root];
        let (code, out, err) = probe(&[&["walk"][..], &args[..]].concat());
        assert_eq!(code, 0, "{err}");
        let shape = |l: &str| l.split_once(':').map(|(a, _)| a.to_owned()).unwrap_or_else(|| l.to_owned());
        let ours: Vec<String> = out.lines().map(shape).collect();
        let theirs: Vec<String> = net_snmp("snmpwalk", &args).iter().map(|l| shape(l)).collect();
        assert_eq!(ours, theirs, "{root}");
        assert!(ours.len() > 10, "{root}: {ours:?}");
    }
    let (code, out, _) = probe(&["walk", "-v2c", "-c", "public", &t, "1.3.6.1.6.3.16.1.5.2.1.6"]);
    assert_eq!(code, 0);
    assert!(out.trim_end().ends_with("= No more variables left in this MIB View (It is past the end of the MIB tree)"), "{out}");

    let (code, _, err) = probe(&["get", "-v2c", "-c", "nope", "-t", "0.2", "-r", "1", &t, SYS_DESCR]);
    assert_eq!((code, err.trim()), (1, format!("Timeout: No Response from {t}. (wrong community, host down or filtered)").as_str()));
    let (code, _, err) = probe(&["get", "-v1", "-c", "public", &t, "1.3.6.1.2.1.1.99.0"]);
    assert_eq!(code, 2);
    assert!(err.contains("(noSuchName) There is no such variable name in this MIB.") && err.contains("Failed object: .1.3.6.1.2.1.1.99.0"), "{err}");
    let (code, _, err) = probe(&["get", "-v3", "-l", "authNoPriv", "-u", "u-sha-none", "-a", "SHA", "-A", "wrongpass123", &t, SYS_DESCR]);
    assert_eq!(code, 1);
    assert!(err.contains("Authentication failure (incorrect password, community or key)"), "{err}");

    let (code, _, err) = probe(&["get", "-v2c", "-c", "public", "--repeat", "200", "--concurrency", "16", &t, SYS_DESCR]);
    assert_eq!(code, 0, "{err}");
    assert!(err.starts_with("200 requests: 200 answered, 0 failed"), "{err}");
}

#[test]
fn check_mode_matches_check_snmp() {
    let agent = Agent::start();
    let plugin = Path::new("/usr/lib/nagios/plugins/check_snmp");
    ensure(plugin.to_str().unwrap(), &["monitoring-plugins-standard"]);
    let port = agent.addr.port().to_string();
    let speed = "1.3.6.1.2.1.2.2.1.5.1"; // ifSpeed of lo: a Gauge32 that does not change
    let descr = SYS_DESCR;
    let cases: Vec<Vec<&str>> = vec![
        vec!["-o", speed],
        vec!["-o", speed, "-w", "10:20", "-c", "@5:30"],
        vec!["-o", speed, "-c", "~:5"],
        vec!["-o", speed, "-w", "1:", "-c", "5:"],
        vec!["-o", descr],
    ];
    for case in cases {
        let common = ["-H", "127.0.0.1", "-p", &port, "-P", "2c", "-C", "public"];
        let reference = Command::new(plugin).args(common).args(&case).output().unwrap();
        let (code, out, err) = probe(&[&["check"][..], &common, &case].concat());
        assert_eq!(code, reference.status.code().unwrap(), "{case:?}: {out} {err}");
        assert_eq!(out.trim_end(), String::from_utf8_lossy(&reference.stdout).trim_end(), "{case:?}");
    }
    let (code, out, _) = probe(&["check", "-H", "127.0.0.1", "-p", &port, "-P", "2c", "-C", "nope", "-t", "1", "-e", "1", "-o", speed]);
    assert_eq!(code, 2, "no answer is CRITICAL: {out}");
    assert!(out.starts_with("SNMP CRITICAL - Timeout: No Response from 127.0.0.1"), "{out}");
}
