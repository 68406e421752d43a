#!/usr/bin/env python3
"""Regenerate the SNMP captures in this directory from a real net-snmp pair.

Starts snmpd (Debian package `snmpd`, net-snmp 5.9) on 127.0.0.1 with a fixed engine
ID and the users below, runs snmpget/snmpgetnext/snmpbulkget with `-d` (which dumps
every datagram sent and received in hex) and writes each datagram to
`<case>.<n>.<send|recv>.bin`. Nothing but loopback is touched. Python 3.11 stdlib.

The byte-vector tests in netprobes/src/wire/snmp/captures.rs decode these files,
verify the HMACs and decrypt the v3 PDUs with the passwords below, and check that
our encoder reproduces snmpget's requests byte for byte where nothing is random.

Usage: netprobes/testdata/snmp/capture.py   (as root, or with snmpd installed)
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# `engineID bergamot` in snmpd.conf gives 80 00 1f 88 04 "bergamot": enterprise 8072,
# format 4 (text). Fixed, so the captured messages can be re-verified.
ENGINE_TEXT = "bergamot"
AUTH_PW = "authpass123"
PRIV_PW = "privpass123"
USERS = [
    # (user, auth, priv)
    ("noauth", None, None),
    ("sha-aes", "SHA", "AES"),
    ("md5-des", "MD5", "DES"),
    ("sha256-aes256", "SHA-256", "AES-256"),
    ("sha224-aes192", "SHA-224", "AES-192"),
    # Digests shorter than the AES key: these exercise the key extension.
    ("sha-aes256", "SHA", "AES-256"),
    ("md5-aes192", "MD5", "AES-192"),
    ("sha512-none", "SHA-512", None),
]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config(port: int) -> str:
    lines = [f"agentAddress udp:127.0.0.1:{port}", "rocommunity public 127.0.0.1",
             f"engineID {ENGINE_TEXT}"]
    for user, auth, priv in USERS:
        parts = [f"createUser {user}"]
        if auth:
            parts.append(f'{auth} "{AUTH_PW}"')
            if priv:
                parts.append(f'{priv} "{PRIV_PW}"')
        lines.append(" ".join(parts))
        level = "authpriv" if priv else ("auth" if auth else "noauth")
        lines.append(f"rouser {user} {level}")
    return "\n".join(lines) + "\n"


HEADER = re.compile(r"^(Sending|Received) (\d+) (?:bytes|byte packet)")
HEXLINE = re.compile(r"^[0-9]{4}: ((?:[0-9A-F]{2} {1,2})+)")


def datagrams(dump: str) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    cur: tuple[str, int, bytearray] | None = None
    for line in dump.splitlines():
        m = HEADER.match(line)
        if m:
            cur = ("send" if m.group(1) == "Sending" else "recv", int(m.group(2)), bytearray())
            out.append((cur[0], b""))
            continue
        h = HEXLINE.match(line)
        if h and cur is not None:
            cur[2].extend(bytes.fromhex(h.group(1).replace(" ", "")))
            if len(cur[2]) >= cur[1]:
                out[-1] = (cur[0], bytes(cur[2][: cur[1]]))
                cur = None
    return out


def messages(stderr: str) -> str:
    """stderr without the hex dumps: the error messages snmpget printed."""
    keep = [l for l in stderr.splitlines()
            if l.strip() and not HEADER.match(l) and not HEXLINE.match(l)]
    return "".join(l + "\n" for l in keep)


def main() -> None:
    if not shutil.which("snmpd"):
        subprocess.run(["apt-get", "install", "-y", "snmpd", "snmp"], check=True)
    work = Path(tempfile.mkdtemp(prefix="snmp-capture-"))
    port = free_port()
    (work / "snmpd.conf").write_text(config(port))
    env = dict(os.environ, SNMP_PERSISTENT_DIR=str(work))
    agent = subprocess.Popen(["snmpd", "-f", "-Lo", "-C", "-c", str(work / "snmpd.conf"), "-m", ""],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        target = f"127.0.0.1:{port}"
        sys_descr, sys_uptime = "1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.3.0"
        types = ["1.3.6.1.2.1.31.1.1.1.6.1", "1.3.6.1.2.1.4.20.1.1.127.0.0.1", "1.3.6.1.2.1.2.2.1.5.1",
                 "1.3.6.1.2.1.2.2.1.10.1", "1.3.6.1.2.1.1.2.0", "1.3.6.1.2.1.2.2.1.6.1", "1.3.6.1.2.1.1.99.0",
                 "1.3.6.1.2.1.1.1.5"]
        cases: dict[str, list[str]] = {
            "v2c-get-sysdescr": ["snmpget", "-v2c", "-c", "public", target, sys_descr],
            "v1-get-sysdescr": ["snmpget", "-v1", "-c", "public", target, sys_descr],
            "v1-get-unknown": ["snmpget", "-v1", "-c", "public", target, "1.3.6.1.2.1.1.99.0"],
            "v2c-get-types": ["snmpget", "-v2c", "-c", "public", target, *types],
            "v2c-getnext-end": ["snmpgetnext", "-v2c", "-c", "public", target, "1.4"],
            "v2c-getbulk": ["snmpbulkget", "-v2c", "-c", "public", "-Cn1", "-Cr4", target, sys_uptime,
                            "1.3.6.1.2.1.1"],
        }
        for user, auth, priv in USERS:
            args = ["snmpget", "-v3", "-u", user]
            if auth and priv:
                args += ["-l", "authPriv", "-a", auth, "-A", AUTH_PW, "-x", priv, "-X", PRIV_PW]
            elif auth:
                args += ["-l", "authNoPriv", "-a", auth, "-A", AUTH_PW]
            else:
                args += ["-l", "noAuthNoPriv"]
            cases[f"v3-{user}-get"] = args + [target, sys_descr, sys_uptime]
        cases["v3-sha-aes-wrongpass"] = ["snmpget", "-v3", "-u", "sha-aes", "-l", "authPriv", "-a", "SHA", "-A",
                                         "wrongpass123", "-x", "AES", "-X", PRIV_PW, target, sys_descr]
        for old in HERE.glob("*.bin"):
            old.unlink()
        for name, cmd in cases.items():
            r = subprocess.run(cmd[:1] + ["-m", "", "-On", "-d", "-r", "0", "-t", "2"] + cmd[1:],
                               capture_output=True, text=True)
            grams = datagrams(r.stdout + r.stderr)
            if not grams:
                raise SystemExit(f"{name}: no datagrams in output:\n{r.stdout}\n{r.stderr}")
            for i, (direction, data) in enumerate(grams):
                (HERE / f"{name}.{i}.{direction}.bin").write_bytes(data)
            (HERE / f"{name}.txt").write_text(" ".join(cmd[:1] + ["-m", "''", "-On"] + cmd[1:]).replace(target, "HOST")
                                              + "\n" + r.stdout + messages(r.stderr))
            print(f"{name}: {len(grams)} datagrams")
    finally:
        agent.terminate()
        agent.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
