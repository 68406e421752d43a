//! NRPE against the real thing: Debian's nrpe 4.1.0 started here on loopback
//! (plaintext, default anonymous-DH TLS, certificate TLS), check_nrpe 4.1.0 as the
//! reference for `bergamot-probe nrpe`'s output and exit codes, and a small NRPE
//! responder written here for what Debian's nrpe will not do (command arguments,
//! v2-only servers, silence). Installs nagios-nrpe-server, nagios-nrpe-plugin and
//! openssl with apt-get when missing. Assertions are about results and text, never
//! about time.
// The default nrpe speaks only anonymous DH, which needs OpenSSL.
#![cfg(feature = "nrpe-adh")]

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use bergamot_netprobes::driver::{ConnEnd, ConnId, IoChoice, Runner, StreamConfig, StreamEvent, StreamRunner};
use bergamot_netprobes::session::StreamSession;
use bergamot_netprobes::session::nrpe::{NrpeAnswer, NrpeEvent, NrpeFailure, NrpeQuery, NrpeSession, Phase};
use bergamot_netprobes::session::tls::{self, TlsClient};
use bergamot_netprobes::time::MonotonicClock;
use bergamot_netprobes::wire::nrpe::{PacketType, Repr, Version, frame_len};
use bergamot_netprobes::wire::plugin::PluginStatus;

mod common;
use common::ensure;

const PROBE: &str = env!("CARGO_BIN_EXE_bergamot-probe");
const NRPE: &str = "/usr/sbin/nrpe";
const CHECK_NRPE: &str = "/usr/lib/nagios/plugins/check_nrpe";

fn peers() {
    ensure(
        &["nagios-nrpe-server", "nagios-nrpe-plugin", "monitoring-plugins-basic", "openssl"],
        &[NRPE, CHECK_NRPE, "/usr/bin/openssl"],
    );
}

/// A scratch directory that nrpe (running as `nagios`) can read and write.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "bergamot-nrpe-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        chmod(&dir, 0o777);
        Scratch(dir)
    }

    fn write(&self, name: &str, text: &str, mode: u32) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        chmod(&p, mode);
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn chmod(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    /// `nrpe -n`.
    Plain,
    /// Default: TLS without a certificate, i.e. anonymous DH only.
    AnonymousDh,
    /// `ssl_cert_file`/`ssl_privatekey_file` set.
    Certificate,
}

/// Length of the long command's output (41 lines, trailing newline stripped by nrpe).
const LONG_LEN: usize = 34 + 40 * 79 - 1;

/// A running nrpe 4.1.0 on 127.0.0.1, killed (by PID) on drop.
struct Nrpe {
    child: Child,
    port: u16,
    log: PathBuf,
    /// The server certificate (PEM) when `Security::Certificate`.
    cert: Option<Vec<u8>>,
    dir: Scratch,
}

impl Nrpe {
    fn start(security: Security) -> Nrpe {
        peers();
        let dir = Scratch::new("srv");
        for code in 0..=3 {
            dir.write(
                &format!("exit{code}.sh"),
                &format!("#!/bin/sh\necho \"EXIT{code} - status {code}|v={code};1;2;0;3\"\nexit {code}\n"),
                0o755,
            );
        }
        dir.write(
            "long.sh",
            "#!/bin/sh\nprintf 'LONG OK - first line|a=1;2;3;0;10\\n'\ni=0\nwhile [ $i -lt 40 ]; do \
             printf 'line %02d 0123456789012345678901234567890123456789012345678901234567890123456789\\n' $i; \
             i=$((i+1)); done\nexit 1\n",
            0o755,
        );
        let log = dir.write("nrpe.log", "", 0o666);
        let port = free_port();
        let d = dir.0.display();
        let mut cfg = format!(
            "server_address=127.0.0.1\nserver_port={port}\nallowed_hosts=127.0.0.1\nlog_file={d}/nrpe.log\n\
             pid_file={d}/nrpe.pid\ndisable_syslog=1\ndebug=1\nnrpe_user=nagios\nnrpe_group=nagios\n\
             dont_blame_nrpe=1\ncommand_timeout=20\nconnection_timeout=30\n\
             command[check_exit0]={d}/exit0.sh\ncommand[check_exit1]={d}/exit1.sh\n\
             command[check_exit2]={d}/exit2.sh\ncommand[check_exit3]={d}/exit3.sh\n\
             command[check_long]={d}/long.sh\n"
        );
        let mut cert = None;
        if security == Security::Certificate {
            // As the operator would: openssl req -x509. The SAN and CA:FALSE let rustls
            // take this self-signed certificate as its own trust anchor.
            let out = run(Command::new("openssl").current_dir(&dir.0).args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=DNS:localhost,IP:127.0.0.1",
                "-addext",
                "basicConstraints=critical,CA:FALSE",
                "-days",
                "2",
                "-keyout",
                "key.pem",
                "-out",
                "cert.pem",
            ]));
            assert!(out.status.success(), "openssl req: {}", String::from_utf8_lossy(&out.stderr));
            chmod(&dir.0.join("key.pem"), 0o644);
            cfg.push_str(&format!("ssl_cert_file={d}/cert.pem\nssl_privatekey_file={d}/key.pem\n"));
            cert = Some(std::fs::read(dir.0.join("cert.pem")).unwrap());
        }
        let conf = dir.write("nrpe.cfg", &cfg, 0o644);
        let mut cmd = Command::new(NRPE);
        cmd.arg("-c").arg(&conf).arg("-f");
        if security == Security::Plain {
            cmd.arg("-n");
        }
        let child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start nrpe");
        let mut nrpe = Nrpe { child, port, log, cert, dir };
        nrpe.wait_listening();
        nrpe
    }

    /// Waits for nrpe's own "listening" log line (no probing connection: nrpe would
    /// log it as a failed client).
    fn wait_listening(&mut self) {
        for _ in 0..400 {
            if self.log_text().contains("Listening for connections on port") {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("nrpe exited ({status}) before listening:\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("nrpe not listening after 10 s:\n{}", self.log_text());
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn cert_pem(&self) -> &[u8] {
        self.cert.as_deref().expect("a certificate server")
    }

    fn dir(&self) -> &Path {
        &self.dir.0
    }
}

impl Drop for Nrpe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

// ------------------------------------------------------------------ driving sessions

/// How a check ended, from the library's point of view.
#[derive(Debug)]
enum End {
    Answer(NrpeAnswer),
    Failed(NrpeFailure),
    ConnectError(std::io::Error),
}

impl End {
    fn answer(self) -> NrpeAnswer {
        match self {
            End::Answer(a) => a,
            other => panic!("expected an answer, got {other:?}"),
        }
    }

    fn failure(self) -> NrpeFailure {
        match self {
            End::Failed(f) => f,
            other => panic!("expected a failure, got {other:?}"),
        }
    }
}

/// The sequence of attempts one check made (`Version` per connection).
#[derive(Debug)]
struct Attempts(Vec<Version>);

/// One check with v2 fallback, on the driver's stream runner.
fn check(addr: SocketAddr, query: &NrpeQuery, tls: &dyn Fn() -> Option<TlsClient>) -> (End, Attempts) {
    run_many(addr, std::slice::from_ref(query), tls, 1, IoChoice::Auto).pop().expect("one result")
}

/// Runs `queries` with at most `concurrency` connections at once; a session asking
/// for v2 gets a new connection. Results in the order of `queries`.
fn run_many(
    addr: SocketAddr,
    queries: &[NrpeQuery],
    tls: &dyn Fn() -> Option<TlsClient>,
    concurrency: usize,
    io: IoChoice,
) -> Vec<(End, Attempts)> {
    let clock = MonotonicClock::new();
    let config = StreamConfig { io, max_connections: concurrency, ..StreamConfig::default() };
    let mut runner = StreamRunner::<NrpeSession>::new(&config, clock).unwrap();
    let mut results: Vec<(Option<End>, Vec<Version>)> = queries.iter().map(|_| (None, Vec::new())).collect();
    let mut pending: VecDeque<(usize, NrpeQuery)> = queries.iter().cloned().enumerate().collect();
    let mut conns: HashMap<ConnId, (usize, NrpeQuery)> = HashMap::new();
    let mut left = queries.len();
    while left > 0 {
        while runner.room() > 0 {
            let Some((i, q)) = pending.pop_front() else { break };
            results[i].1.push(q.version);
            let session = NrpeSession::new(clock.now(), &q, tls()).unwrap();
            let conn = runner.connect(addr, None, session).map_err(|_| "room was checked").unwrap();
            conns.insert(conn, (i, q));
        }
        runner.process().unwrap();
        while let Some(ev) = runner.poll_event() {
            let (i, q, event) = match ev {
                StreamEvent::Session { conn, event } => {
                    let (i, q) = conns[&conn].clone();
                    (i, q, event)
                }
                StreamEvent::Closed { conn, end, mut session, at } => {
                    let (i, q) = conns.remove(&conn).unwrap();
                    if session.is_done() {
                        continue;
                    }
                    match end {
                        ConnEnd::ConnectFailed(e) => {
                            results[i].0 = Some(End::ConnectError(std::io::Error::from_raw_os_error(e.raw_os_error())));
                            left -= 1;
                            continue;
                        }
                        ConnEnd::Failed(_) => session.handle_reset(at),
                        other => panic!("{other:?} but the session is not done"),
                    }
                    (i, q, session.poll_event().expect("an event after a reset"))
                }
            };
            match event {
                NrpeEvent::RetryWithV2 => pending.push_front((i, q.for_v2_retry())),
                NrpeEvent::Answer(a) => {
                    assert!(results[i].0.replace(End::Answer(a)).is_none());
                    left -= 1;
                }
                NrpeEvent::Failed(f) => {
                    assert!(results[i].0.replace(End::Failed(f)).is_none());
                    left -= 1;
                }
            }
        }
        if left > 0 && (runner.room() == 0 || pending.is_empty()) {
            let until = runner.poll_timeout();
            runner.wait(until).unwrap();
        }
    }
    assert!(runner.is_idle() || runner.active() == 0);
    results.into_iter().map(|(end, attempts)| (end.expect("every check ended"), Attempts(attempts))).collect()
}

fn plain() -> Option<TlsClient> {
    None
}

fn adh() -> Option<TlsClient> {
    Some(TlsClient::openssl(&tls::AdhConnector::new().unwrap()).unwrap())
}

fn query(command: &str) -> NrpeQuery {
    NrpeQuery::new(command, vec![])
}

// ------------------------------------------------------------------ the real nrpe

/// Exit codes, version string, long output and an undefined command, over each of
/// nrpe's three modes.
fn common_cases(server: &Nrpe, tls: &dyn Fn() -> Option<TlsClient>) {
    for (code, status) in
        [(0, PluginStatus::Ok), (1, PluginStatus::Warning), (2, PluginStatus::Critical), (3, PluginStatus::Unknown)]
    {
        let (end, attempts) = check(server.addr(), &query(&format!("check_exit{code}")), tls);
        let a = end.answer();
        assert_eq!(attempts.0, [Version::V4]);
        assert_eq!((a.version, a.result_code, a.status), (Version::V4, code, status));
        assert_eq!(a.output.summary, format!("EXIT{code} - status {code}"));
        assert_eq!(a.output.perfdata.len(), 1);
    }
    let a = check(server.addr(), &query(""), tls).0.answer();
    assert_eq!(a.text, "NRPE v4.1.0");

    let a = check(server.addr(), &query("check_long"), tls).0.answer();
    assert_eq!((a.status, a.text.len(), a.truncated), (PluginStatus::Warning, LONG_LEN, false));
    assert_eq!(a.output.long_output.lines().count(), 40);

    let a = check(server.addr(), &query("nosuch"), tls).0.answer();
    assert_eq!((a.status, a.text.as_str()), (PluginStatus::Unknown, "NRPE: Command 'nosuch' not defined"));

    // v2 packets: nrpe 4.1.0 cuts the long output to one 1,036-byte packet.
    let q = NrpeQuery { version: Version::V2, fallback_to_v2: false, ..query("check_long") };
    let a = check(server.addr(), &q, tls).0.answer();
    assert_eq!((a.version, a.status, a.text.len()), (Version::V2, PluginStatus::Warning, 1023));

    // Arguments: Debian's nrpe is built without them. It closes without a word on
    // v4, we retry with v2 as check_nrpe does, it closes again: a clear failure.
    let q = NrpeQuery::new("check_exit0", vec!["x".into(), "y".into()]);
    let (end, attempts) = check(server.addr(), &q, tls);
    assert_eq!(attempts.0, [Version::V4, Version::V2]);
    let f = end.failure();
    assert!(matches!(f, NrpeFailure::Closed { phase: Phase::AwaitingAnswer, received: 0, .. }), "{f:?}");
    assert!(f.to_string().contains("refused the query"), "{f}");
    assert!(server.log_text().contains("Request contained command arguments!"), "{}", server.log_text());
}

#[test]
fn plaintext_nrpe() {
    let server = Nrpe::start(Security::Plain);
    common_cases(&server, &plain);
    // A TLS client at a plaintext server: nrpe reads the ClientHello as a packet,
    // refuses it and closes; no answer, no hang.
    let end = check(server.addr(), &query("check_exit0"), &adh).0;
    assert!(matches!(end, End::Failed(NrpeFailure::Closed { .. } | NrpeFailure::Tls(_))), "{end:?}");
}

#[test]
fn anonymous_dh_nrpe() {
    let server = Nrpe::start(Security::AnonymousDh);
    common_cases(&server, &adh);
    let a = check(server.addr(), &query("check_exit0"), &adh).0.answer();
    let t = a.tls.expect("TLS was used");
    assert_eq!(t.version.as_deref(), Some("TLSv1.2"));
    let cipher = t.cipher.unwrap();
    assert!(cipher.starts_with("ADH-") || cipher.starts_with("AECDH-"), "{cipher}");

    // With a shared connector and the server as the key, later checks resume the
    // first one's session (nrpe's children share their parent's ticket key): no DH.
    let connector = tls::AdhConnector::new().unwrap();
    let key = server.addr().to_string();
    let resuming = || Some(TlsClient::openssl_resuming(&connector, &key).unwrap());
    let resumed: Vec<bool> = (0..3)
        .map(|_| check(server.addr(), &query("check_exit0"), &resuming).0.answer().tls.unwrap().resumed)
        .collect();
    assert_eq!(resumed, [false, true, true]);

    // rustls has no anonymous DH: the server refuses the handshake.
    let rustls = || {
        let config = tls::rustls_config_webpki_roots().unwrap();
        Some(TlsClient::rustls(config, "localhost".try_into().unwrap()).unwrap())
    };
    let (end, attempts) = check(server.addr(), &query("check_exit0"), &rustls);
    assert_eq!(attempts.0, [Version::V4], "a TLS failure is not a reason to try v2");
    assert!(matches!(end.failure(), NrpeFailure::Tls(_)));

    // A plaintext client at a TLS server: nrpe reads our packet as a ClientHello and
    // drops the connection.
    let end = check(server.addr(), &query("check_exit0"), &plain).0;
    assert!(matches!(end, End::Failed(NrpeFailure::Closed { .. })), "{end:?}");
}

#[test]
fn certificate_nrpe() {
    let server = Nrpe::start(Security::Certificate);
    let pem = server.cert_pem().to_vec();
    let verified = move || {
        let config = tls::rustls_config_from_pem(&pem).unwrap();
        Some(TlsClient::rustls(config, "localhost".try_into().unwrap()).unwrap())
    };
    common_cases(&server, &verified);
    let a = check(server.addr(), &query("check_exit0"), &verified).0.answer();
    assert_eq!(a.tls.unwrap().version.as_deref(), Some("TLSv1.3"));
    // check_nrpe's defaults (OpenSSL, no verification) work too.
    let a = check(server.addr(), &query("check_exit1"), &adh).0.answer();
    assert_eq!(a.status, PluginStatus::Warning);
    // A certificate for another name is refused by rustls.
    let pem = server.cert_pem().to_vec();
    let wrong_name = move || {
        let config = tls::rustls_config_from_pem(&pem).unwrap();
        Some(TlsClient::rustls(config, "nrpe.example.org".try_into().unwrap()).unwrap())
    };
    let f = check(server.addr(), &query("check_exit0"), &wrong_name).0.failure();
    assert!(f.to_string().contains("not valid for name"), "{f}");
}

/// Many checks at once over each I/O backend, plaintext and anonymous DH: every one
/// answered, each with its own command's result.
#[test]
fn many_checks_at_once_on_both_backends() {
    let plain_srv = Nrpe::start(Security::Plain);
    let adh_srv = Nrpe::start(Security::AnonymousDh);
    let queries: Vec<NrpeQuery> = (0..60).map(|i| query(&format!("check_exit{}", i % 4))).collect();
    for io in [IoChoice::IoUring, IoChoice::Epoll] {
        for (server, tls) in [(&plain_srv, &plain as &dyn Fn() -> Option<TlsClient>), (&adh_srv, &adh)] {
            let results = run_many(server.addr(), &queries, tls, 12, io);
            for (i, (end, attempts)) in results.into_iter().enumerate() {
                let a = end.answer();
                assert_eq!(attempts.0, [Version::V4]);
                assert_eq!(a.result_code, (i % 4) as i16, "{io:?} check {i}");
            }
        }
    }
}

// ------------------------------------------------------------------ bergamot-probe vs check_nrpe

fn output(cmd: &str, args: &[String]) -> (Option<i32>, String, String) {
    let out = run(Command::new(cmd).args(args));
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

fn cli_args(port: u16, extra: &str) -> Vec<String> {
    let mut v = vec!["-H".to_string(), "127.0.0.1".into(), "-p".into(), port.to_string()];
    v.extend(extra.split_whitespace().map(String::from));
    v
}

#[test]
fn cli_matches_check_nrpe() {
    let plain = Nrpe::start(Security::Plain);
    let adh = Nrpe::start(Security::AnonymousDh);
    let closed = free_port();
    let cases = [
        (plain.port, "-n -c check_exit0"),
        (plain.port, "-n -c check_exit1"),
        (plain.port, "-n -c check_exit2"),
        (plain.port, "-n -c check_exit3"),
        (plain.port, "-n"),
        (plain.port, "-n -c check_long"),
        (plain.port, "-n -2 -c check_long"),
        (plain.port, "-n -c nosuch"),
        (adh.port, "-c check_exit2"),
        (adh.port, "-c check_long"),
        (adh.port, ""),
        (closed, "-n -c check_exit0"),
        (closed, "-n -u -c check_exit0"),
    ];
    for (port, extra) in cases {
        let ours = {
            let mut a = vec!["nrpe".to_string()];
            a.extend(cli_args(port, extra));
            output(PROBE, &a)
        };
        let theirs = output(CHECK_NRPE, &cli_args(port, extra));
        assert_eq!(ours, theirs, "bergamot-probe nrpe {extra} (port {port})");
    }
    // Refused arguments: same exit code, our own clearer words.
    let ours = {
        let mut a = vec!["nrpe".to_string()];
        a.extend(cli_args(plain.port, "-n -c check_exit0 -a x y"));
        output(PROBE, &a)
    };
    let theirs = output(CHECK_NRPE, &cli_args(plain.port, "-n -c check_exit0 -a x y"));
    assert_eq!(ours.0, theirs.0);
    assert!(theirs.1.starts_with("CHECK_NRPE: Receive header underflow"), "{theirs:?}");
    assert!(ours.1.starts_with("CHECK_NRPE: the server closed the connection"), "{ours:?}");
    // --repeat runs many checks in one process and reports them all.
    let mut a = vec!["nrpe".to_string()];
    a.extend(cli_args(adh.port, "-c check_exit1 --repeat 20 --concurrency 4"));
    let (code, stdout, stderr) = output(PROBE, &a);
    assert_eq!(code, Some(1));
    assert_eq!(stdout, "EXIT1 - status 1|v=1;1;2;0;3\n");
    assert!(stderr.contains("20 checks in") && stderr.contains("0 OK, 20 WARNING"), "{stderr}");
}

#[test]
fn cli_verifies_a_certificate_with_ca_file() {
    let server = Nrpe::start(Security::Certificate);
    let ca = server.dir().join("cert.pem");
    let mut a = vec!["nrpe".to_string()];
    a.extend(cli_args(server.port, &format!("-A {} -c check_exit0", ca.display())));
    a[2] = "localhost".into();
    let (code, stdout, _) = output(PROBE, &a);
    assert_eq!((code, stdout.as_str()), (Some(0), "EXIT0 - status 0|v=0;1;2;0;3\n"));
}

// ------------------------------------------------------------------ a responder of our own

/// What the test responder does with a query.
#[derive(Debug, Clone, Copy)]
enum Behaviour {
    /// Answers with the query text and result 1, in the query's version.
    Echo,
    /// Like an nrpe 2.x: closes on anything but v2, echoes v2.
    V2Only,
    /// Reads the query and says nothing until the client goes away.
    Silent,
}

/// A plaintext NRPE responder on a free loopback port, stopped on drop.
struct Responder {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<(Version, String)>>>,
    thread: Option<JoinHandle<()>>,
}

impl Responder {
    fn start(behaviour: Behaviour) -> Responder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (stop2, seen2) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(mut conn) = conn else { continue };
                let mut rx = Vec::new();
                let mut buf = [0u8; 2048];
                let query = loop {
                    match frame_len(&rx, 1 << 16) {
                        Ok(Some(n)) if rx.len() >= n => break Some(rx[..n].to_vec()),
                        Err(_) => break None,
                        _ => {}
                    }
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break None,
                        Ok(n) => rx.extend_from_slice(&buf[..n]),
                    }
                };
                let Some(query) = query else { continue };
                let repr = Repr::parse_bytes(&query, 1 << 16).expect("our client sends valid packets");
                assert_eq!(repr.packet_type, PacketType::Query);
                let text = String::from_utf8_lossy(repr.text).into_owned();
                seen2.lock().unwrap().push((repr.version, text.clone()));
                match behaviour {
                    Behaviour::V2Only if repr.version != Version::V2 => continue,
                    Behaviour::Silent => {
                        let _ = conn.read(&mut buf);
                        continue;
                    }
                    _ => {}
                }
                let reply = Repr {
                    version: repr.version,
                    packet_type: PacketType::Response,
                    result_code: 1,
                    text: text.as_bytes(),
                };
                let _ = conn.write_all(&reply.to_vec().unwrap());
            }
        });
        Responder { addr, stop, seen, thread: Some(thread) }
    }

    fn seen(&self) -> Vec<(Version, String)> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn arguments_reach_the_server() {
    let r = Responder::start(Behaviour::Echo);
    let q = NrpeQuery::new("check_disk", vec!["-w".into(), "20%".into(), "/var/lib x".into()]);
    let a = check(r.addr, &q, &plain).0.answer();
    assert_eq!(a.text, "check_disk!-w!20%!/var/lib x");
    assert_eq!(r.seen(), [(Version::V4, "check_disk!-w!20%!/var/lib x".to_string())]);
    // Through the CLI: `-a` takes the rest of the line, hyphens included.
    let (code, stdout, _) = output(
        PROBE,
        &[
            "nrpe",
            "-H",
            "127.0.0.1",
            "-p",
            &r.addr.port().to_string(),
            "-n",
            "-c",
            "check_x",
            "-a",
            "-w",
            "5",
            "-c",
            "9",
        ]
        .map(String::from),
    );
    assert_eq!((code, stdout.as_str()), (Some(1), "check_x!-w!5!-c!9\n"));
}

#[test]
fn v2_only_server_gets_a_v2_retry() {
    let r = Responder::start(Behaviour::V2Only);
    let (end, attempts) = check(r.addr, &query("check_old"), &plain);
    assert_eq!(attempts.0, [Version::V4, Version::V2]);
    let a = end.answer();
    assert_eq!((a.version, a.text.as_str()), (Version::V2, "check_old"));
    assert_eq!(r.seen(), [(Version::V4, "check_old".to_string()), (Version::V2, "check_old".to_string())]);
}

#[test]
fn silent_server_times_out() {
    let r = Responder::start(Behaviour::Silent);
    let q = NrpeQuery { timeout: Duration::from_millis(300), ..query("check_slow") };
    let (end, attempts) = check(r.addr, &q, &plain);
    assert_eq!(attempts.0, [Version::V4], "a timeout is not a reason to try v2");
    let f = end.failure();
    assert!(matches!(f, NrpeFailure::Timeout { phase: Phase::AwaitingAnswer, .. }), "{f:?}");
    let (code, stdout, _) = output(
        PROBE,
        &["nrpe", "-H", "127.0.0.1", "-p", &r.addr.port().to_string(), "-n", "-t", "1:UNKNOWN", "-c", "x"]
            .map(String::from),
    );
    assert_eq!((code, stdout.as_str()), (Some(3), "CHECK_NRPE STATE UNKNOWN: Socket timeout after 1 seconds.\n"));
}

#[test]
fn nothing_listening_is_a_connect_error() {
    let end = check(SocketAddr::from(([127, 0, 0, 1], free_port())), &query("x"), &plain).0;
    assert!(matches!(&end, End::ConnectError(e) if e.kind() == std::io::ErrorKind::ConnectionRefused), "{end:?}");
}
