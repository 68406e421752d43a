"""The daemon scale benchmark's peers and process accounting: installing the Debian
packages, a private snmpd and the NRPE benchmark responder on loopback, and reading
a process's CPU, memory and threads from /proc. Python 3.11 standard library only."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
from pathlib import Path

import benchlib
from benchlib import log

PLUGINS = Path("/usr/lib/nagios/plugins")
CHECK_PING = PLUGINS / "check_ping"
CHECK_NRPE = PLUGINS / "check_nrpe"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
# Debian packages and a file each provides.
PACKAGES = {"snmpd": "/usr/sbin/snmpd", "snmp": "/usr/bin/snmpget",
            "monitoring-plugins-basic": str(CHECK_PING), "nagios-nrpe-plugin": str(CHECK_NRPE)}
CLK_TCK = os.sysconf("SC_CLK_TCK")
# snmpd's UDP buffers: a scheduler sends a second's worth of GETs in a burst; the
# kernel's default (208 KiB) could drop some. The kernel caps it at net.core.rmem_max.
SNMPD_BUFFER = 4 * 1024 * 1024


def die(msg: str, code: int = 2) -> None:
    benchlib.die("daemon-scale", msg, code)


# --------------------------------------------------------------------------- packages

def ensure_packages() -> None:
    """apt-get install what is missing, as scripts/test-all.sh does: as root, with a
    policy-rc.d that keeps package scripts from starting system-wide services."""
    missing = [p for p, f in PACKAGES.items() if not Path(f).exists()]
    if not missing:
        return
    if os.geteuid() != 0:
        die(f"missing packages {' '.join(missing)} and not root: run "
            f"`apt-get update && apt-get install -y {' '.join(missing)}` first")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    lock = ["-o", "DPkg::Lock::Timeout=600"]
    policy = Path("/usr/sbin/policy-rc.d")
    ours = not policy.exists()
    if ours:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        log(f"installing: {' '.join(missing)}")
        if subprocess.run(["apt-get", "install", "-y", "-q", *lock, *missing], env=env).returncode != 0:
            subprocess.run(["apt-get", "update", "-q", *lock], env=env)
            if subprocess.run(["apt-get", "install", "-y", "-q", *lock, *missing], env=env).returncode != 0:
                die(f"apt-get install {' '.join(missing)} failed")
    finally:
        if ours:
            policy.unlink(missing_ok=True)


def package_version(pkg: str) -> str:
    r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True)
    return r.stdout.strip() or "?"


# --------------------------------------------------------------------------- /proc

def proc_cpu(pid: int) -> float | None:
    """CPU seconds of a process and of the children it has reaped (utime + stime +
    cutime + cstime), None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return sum(int(fields[i]) for i in (11, 12, 13, 14)) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def proc_status(pid: int) -> dict:
    """VmRSS, VmHWM (KiB) and Threads from /proc/PID/status ({} once it is gone)."""
    out = {}
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                key, _, rest = line.partition(b":")
                if key in (b"VmRSS", b"VmHWM", b"Threads"):
                    out[key.decode()] = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return out


class Child:
    """A child process we started and reap ourselves (os.wait4), so its rusage is
    ours to read and no other wait reaps it by accident."""

    def __init__(self, name: str, cmd: list[str], logfile: Path, env: dict | None = None):
        self.name, self.cmd, self.logfile = name, cmd, logfile
        self._log = open(logfile, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=env)
        self.pid = self.proc.pid
        self.status: int | None = None
        self.rusage = None

    def alive(self) -> bool:
        if self.status is not None:
            return False
        pid, status, ru = os.wait4(self.pid, os.WNOHANG)
        if pid == 0:
            return True
        self.status, self.rusage = os.waitstatus_to_exitcode(status), ru
        self.proc.returncode = self.status  # so Popen does not wait for it again
        return False

    def stop(self, sig: int = 15, timeout: float = 30.0) -> bool:
        """Signal and reap; True if it exited within timeout (else it is killed)."""
        if self.alive():
            os.kill(self.pid, sig)
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                os.kill(self.pid, 9)
                while self.alive():
                    time.sleep(0.05)
                self._log.close()
                return False
            time.sleep(0.05)
        self._log.close()
        return True

    def cpu(self) -> float | None:
        return proc_cpu(self.pid)

    def tail(self, lines: int = 25) -> str:
        return benchlib.tail(self.logfile, lines)


# --------------------------------------------------------------------------- snmpd

class Snmpd:
    """A private snmpd on a free loopback UDP port with its own community and
    directory: no MIBs loaded, no default config files, large UDP buffers, log to a
    file."""

    def __init__(self, work: Path):
        self.port = benchlib.free_port(socket.SOCK_DGRAM)
        self.community = "bench" + secrets.token_hex(4)
        self.dir = work / "snmpd"
        self.dir.mkdir(parents=True, exist_ok=True)
        conf = self.dir / "snmpd.conf"
        conf.write_text(f"agentAddress udp:127.0.0.1:{self.port}\nrocommunity {self.community} 127.0.0.1\n"
                        f"[snmp] serverRecvBuf {SNMPD_BUFFER}\n[snmp] serverSendBuf {SNMPD_BUFFER}\n"
                        "dontLogTCPWrappersConnects yes\n")
        self.target = f"127.0.0.1:{self.port}"
        self.child = Child("snmpd", ["snmpd", "-f", "-Lo", "-C", "-c", str(conf), "-m", ""], self.dir / "snmpd.log",
                           env=dict(os.environ, SNMP_PERSISTENT_DIR=str(self.dir)))
        for _ in range(100):
            if self.get().returncode == 0:
                return
            if not self.child.alive():
                break
        self.child.stop()
        die(f"snmpd never answered on {self.target}:\n{self.child.tail()}")

    def get_cmd(self) -> list[str]:
        """The fork-per-check side: net-snmp's snmpget as a poller forks it (Debian's
        /etc/snmp/snmp.conf loads no MIBs)."""
        return ["snmpget", "-v2c", "-c", self.community, self.target, SYS_UPTIME]

    def get(self) -> subprocess.CompletedProcess:
        return subprocess.run(["snmpget", "-v2c", "-c", self.community, "-t", "0.2", "-r", "0", self.target,
                               SYS_UPTIME], capture_output=True, text=True)


# --------------------------------------------------------------------------- responder

class Responder:
    """netprobes/examples/nrpe_responder on a free loopback port, printing its
    cumulative served/failed counts every few seconds."""

    def __init__(self, exe: Path, work: Path, stats_every: int = 5):
        self.port = benchlib.free_port()
        self.child = Child("nrpe_responder", [str(exe), "--listen", f"127.0.0.1:{self.port}",
                                              "--stats-every", str(stats_every)], work / "responder.log")
        if not benchlib.wait_listening(self.port, 5.0, self.child.alive) and not self.child.alive():
            die(f"nrpe_responder exited:\n{self.child.tail()}")
        r = subprocess.run(self.check_cmd(), capture_output=True, text=True)
        if r.returncode != 0 or not r.stdout.startswith("OK - bench"):
            self.child.stop()
            die(f"check_nrpe against the responder: exit {r.returncode}, {r.stdout!r}\n{self.child.tail()}")

    def check_cmd(self) -> list[str]:
        """The fork-per-check side: check_nrpe, plaintext, as Nagios runs it."""
        return [str(CHECK_NRPE), "-H", "127.0.0.1", "-p", str(self.port), "-n", "-c", "check_bench"]

    def counts(self) -> tuple[int, int] | None:
        """The last (served, failed) line it printed, None before the first."""
        for line in reversed(self.child.tail(50).splitlines()):
            parts = line.split()
            if len(parts) == 5 and parts[1] == "served":
                return int(parts[2]), int(parts[4])
        return None

