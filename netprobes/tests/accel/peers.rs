//! The peers the accel tests start: a TCP greeter, network namespaces, nrpe and
//! snmpd on loopback, each stopped (or deleted) on drop.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use super::common::ensure;
use super::{free_tcp_port, free_udp_port, plugin};

// ------------------------------------------------------------------ TCP

/// A loopback listener that greets every connection with `banner` and keeps it
/// open until the client closes; or, for an empty banner, waits up to a second for a
/// request and answers `ECHO <request>\r\nline2\r\n` in one write (closing without
/// a word if none came). Stopped on drop.
pub struct Greeter {
    pub port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Greeter {
    pub fn start(banner: &'static [u8]) -> Greeter {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(mut conn) = conn else { continue };
                std::thread::spawn(move || {
                    let mut buf = [0u8; 1024];
                    if banner.is_empty() {
                        let _ = conn.set_read_timeout(Some(Duration::from_secs(1)));
                        let Ok(n @ 1..) = conn.read(&mut buf) else { return };
                        let reply = [&b"ECHO "[..], &buf[..n], b"\r\nline2\r\n"].concat();
                        let _ = conn.write_all(&reply);
                    } else {
                        let _ = conn.write_all(banner);
                    }
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(20)));
                    while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
                });
            }
        });
        Greeter { port, stop, thread: Some(thread) }
    }
}

impl Drop for Greeter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ------------------------------------------------------------------ ICMP

/// A network namespace made for one test, with its loopback up and `setup` run in
/// it; deleted on drop.
pub struct TestNs {
    name: String,
}

impl TestNs {
    pub fn new(setup: &[&str]) -> TestNs {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!("bgaccel-{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst));
        let ok = |args: &[&str]| Command::new(args[0]).args(&args[1..]).status().is_ok_and(|s| s.success());
        assert!(ok(&["ip", "netns", "add", &name]), "ip netns add (root needed)");
        let ns = TestNs { name };
        for &cmd in ["ip link set lo up"].iter().chain(setup) {
            let mut args = vec!["ip", "netns", "exec", ns.name.as_str()];
            args.extend(cmd.split(' '));
            assert!(ok(&args), "{cmd}");
        }
        ns
    }

    /// Moves the calling thread into the namespace: its sockets, and the plugins it
    /// spawns, live there.
    pub fn enter(&self) {
        let f = std::fs::File::open(format!("/var/run/netns/{}", self.name)).unwrap();
        rustix::thread::move_into_link_name_space(
            std::os::fd::AsFd::as_fd(&f),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .unwrap();
    }
}

impl Drop for TestNs {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

pub fn icmp_peers() {
    ensure(
        &["monitoring-plugins-basic", "iputils-ping", "nftables", "iproute2"],
        &[&plugin("check_ping"), &plugin("check_icmp"), "/usr/sbin/nft", "/usr/sbin/ip"],
    );
}

// ------------------------------------------------------------------ NRPE

/// A scratch directory nrpe (running as `nagios`) can read; removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("bergamot-accel-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        chmod(&dir, 0o777);
        Scratch(dir)
    }

    pub fn write(&self, name: &str, text: &str, mode: u32) -> PathBuf {
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

/// A child process killed (by PID) and reaped on drop.
pub struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// nrpe on a free loopback port; `plain` is `nrpe -n`, else the default anonymous-DH
/// TLS. Returns the port once nrpe logs that it listens.
pub fn start_nrpe(dir: &Scratch, plain: bool) -> (Peer, u16) {
    ensure(&["nagios-nrpe-server", "nagios-nrpe-plugin"], &["/usr/sbin/nrpe", &plugin("check_nrpe")]);
    let d = dir.0.display();
    dir.write(
        "warn.sh",
        "#!/bin/sh\necho 'DISK WARNING - 81% used|used=81%;80;90;0;100'\necho 'second line'\nexit 1\n",
        0o755,
    );
    dir.write("ok.sh", "#!/bin/sh\necho 'all fine'\nexit 0\n", 0o755);
    let log = dir.write(if plain { "plain.log" } else { "tls.log" }, "", 0o666);
    let port = free_tcp_port();
    let conf = format!(
        "server_address=127.0.0.1\nserver_port={port}\nallowed_hosts=127.0.0.1\nlog_file={}\ndisable_syslog=1\n\
         debug=1\nnrpe_user=nagios\nnrpe_group=nagios\ncommand_timeout=20\nconnection_timeout=30\n\
         command[check_warn]={d}/warn.sh\ncommand[check_ok]={d}/ok.sh\n",
        log.display()
    );
    let conf = dir.write(if plain { "plain.cfg" } else { "tls.cfg" }, &conf, 0o644);
    let mut cmd = Command::new("/usr/sbin/nrpe");
    cmd.arg("-c").arg(&conf).arg("-f");
    if plain {
        cmd.arg("-n");
    }
    let mut child = Peer(cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start nrpe"));
    for _ in 0..400 {
        if std::fs::read_to_string(&log).unwrap_or_default().contains("Listening for connections on port") {
            return (child, port);
        }
        if let Ok(Some(status)) = child.0.try_wait() {
            panic!("nrpe exited ({status}): {}", std::fs::read_to_string(&log).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("nrpe not listening: {}", std::fs::read_to_string(&log).unwrap_or_default());
}

// ------------------------------------------------------------------ SNMP

/// snmpd on a free loopback port with community `public` and one v3 user.
pub fn start_snmpd(dir: &Scratch) -> (Peer, u16) {
    ensure(&["snmpd", "snmp"], &["/usr/sbin/snmpd", "/usr/bin/snmpget"]);
    ensure(&["monitoring-plugins-standard"], &[&plugin("check_snmp")]);
    let port = free_udp_port();
    let conf = format!(
        "agentAddress udp:127.0.0.1:{port}\nrocommunity public 127.0.0.1\n\
         createUser bergamot SHA \"authpass123\" AES \"privpass123\"\nrouser bergamot authpriv\n"
    );
    let conf = dir.write("snmpd.conf", &conf, 0o644);
    let log = std::fs::File::create(dir.0.join("snmpd.log")).unwrap();
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
    let agent = format!("127.0.0.1:{port}");
    for _ in 0..100 {
        let ok = Command::new("snmpget")
            .args(["-v2c", "-c", "public", "-t", "0.2", "-r", "0", "-m", "", &agent, "1.3.6.1.2.1.1.1.0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return (peer, port);
        }
    }
    panic!("snmpd never answered: {}", std::fs::read_to_string(dir.0.join("snmpd.log")).unwrap_or_default());
}

/// The kernel's host name, which snmpd reports as sysName.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_owned()
}
