//! The peers of `bergamotd`'s end-to-end test, started here on loopback and stopped
//! by PID: nrpe (plaintext and anonymous-DH TLS), snmpd, a silent TCP port; and a
//! scratch directory every user may use.

use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::common;

pub const NRPE: &str = "/usr/sbin/nrpe";
pub const PLUGINS: &str = "/usr/lib/nagios/plugins";
/// Only against hanging: every wait ends as soon as what it waits for happens.
pub const DEADLINE: Duration = Duration::from_secs(90);

pub fn peers() {
    common::ensure(
        &["nagios-nrpe-server", "monitoring-plugins-basic", "monitoring-plugins-standard", "snmpd", "snmp"],
        &[NRPE, "/usr/sbin/snmpd", "/usr/bin/snmpget", &format!("{PLUGINS}/check_dummy")],
    );
}

/// A directory every user may use (nrpe runs its commands as `nagios`, the ICMP test
/// runs bergamotd as `nobody`), removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("bergamotd-it-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        chmod(&dir, 0o777);
        Scratch(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    pub fn write(&self, name: &str, text: &str, mode: u32) -> PathBuf {
        let p = self.0.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
            chmod(parent, 0o777);
        }
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

pub fn chmod(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

pub fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits until `done` holds; panics with `what()` at the deadline.
pub fn wait_until(what: impl Fn() -> String, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < DEADLINE, "gave up waiting: {}", what());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A peer process, killed (by its PID) when dropped.
pub struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// nrpe 4.1.0 on a free loopback port: plaintext (`-n`) or its default anonymous-DH
/// TLS. Commands exit 0..3; `check_flip` is CRITICAL while `flip` exists in `dir`.
pub fn start_nrpe(dir: &Scratch, name: &str, tls: bool) -> (Peer, u16) {
    let port = free_tcp_port();
    let d = dir.0.display();
    let log = dir.write(&format!("{name}.log"), "", 0o666);
    let conf = format!(
        "server_address=127.0.0.1\nserver_port={port}\nallowed_hosts=127.0.0.1\nlog_file={}\n\
         pid_file={d}/{name}.pid\ndisable_syslog=1\ndebug=1\nnrpe_user=nagios\nnrpe_group=nagios\n\
         command_timeout=20\nconnection_timeout=30\ncommand[check_ok]={d}/exit0.sh\n\
         command[check_warn]={d}/exit1.sh\ncommand[check_crit]={d}/exit2.sh\ncommand[check_unknown]={d}/exit3.sh\n\
         command[check_flip]={d}/flip.sh\n",
        log.display()
    );
    let conf = dir.write(&format!("{name}.cfg"), &conf, 0o644);
    let mut cmd = Command::new(NRPE);
    cmd.arg("-c").arg(&conf).arg("-f");
    if !tls {
        cmd.arg("-n");
    }
    let mut peer = Peer(cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start nrpe"));
    // nrpe's own "listening" line: a probing connection would be logged as a bad client.
    let text = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_until(
        || format!("nrpe {name} listening:\n{}", text()),
        || {
            if let Ok(Some(status)) = peer.0.try_wait() {
                panic!("nrpe {name} exited ({status}):\n{}", text());
            }
            text().contains("Listening for connections on port")
        },
    );
    (peer, port)
}

pub fn nrpe_scripts(dir: &Scratch) {
    for code in 0..=3 {
        let script = format!("#!/bin/sh\necho \"EXIT{code} - status {code}|v={code};1;2;0;3\"\nexit {code}\n");
        dir.write(&format!("exit{code}.sh"), &script, 0o755);
    }
    let flip = format!(
        "#!/bin/sh\nif [ -e {} ]; then echo 'FLIP CRITICAL - flipped'; exit 2; fi\necho 'FLIP OK - as usual'\n",
        dir.path("flip").display()
    );
    dir.write("flip.sh", &flip, 0o755);
}

/// snmpd on a free loopback port (community `public`, sysServices 72), once it answers.
pub fn start_snmpd(dir: &Scratch) -> (Peer, u16) {
    let port = free_udp_port();
    let conf = format!("agentAddress udp:127.0.0.1:{port}\nrocommunity public 127.0.0.1\nsysservices 72\n");
    let conf = dir.write("snmpd.conf", &conf, 0o644);
    let log = std::fs::File::create(dir.path("snmpd.log")).unwrap();
    let child = Command::new("/usr/sbin/snmpd")
        .args(["-f", "-Lo", "-C", "-c"])
        .arg(&conf)
        .args(["-m", ""])
        .env("SNMP_PERSISTENT_DIR", &dir.0)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start snmpd");
    let peer = Peer(child);
    let target = format!("127.0.0.1:{port}");
    wait_until(
        || format!("snmpd answering:\n{}", std::fs::read_to_string(dir.path("snmpd.log")).unwrap_or_default()),
        || {
            Command::new("snmpget")
                .args(["-m", "", "-v2c", "-c", "public", "-t", "0.2", "-r", "0", &target, "1.3.6.1.2.1.1.7.0"])
                .output()
                .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("INTEGER: 72"))
        },
    );
    (peer, port)
}

/// A loopback port that accepts connections and keeps them, silent: an NRPE server
/// that never answers, and a TCP service that is up.
pub fn silent_listener() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        // Held until the test ends: a few hundred at most.
        let mut held: Vec<TcpStream> = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    port
}
