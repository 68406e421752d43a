"""The fork-per-check side of the daemon scale benchmark: what one check costs when a
scheduler forks a plugin for it, as Nagios and Icinga 2 run check_ping, check_nrpe
and snmpget. A sample of forks per kind, CPU = user + system of each fork and of the
children it reaped (os.wait4 rusage: check_ping's /bin/ping included). Python 3.11
standard library only."""

from __future__ import annotations

import os
import subprocess
import time

# The mix of active checks.
MIX = {"ping": 0.7, "nrpe": 0.2, "snmp": 0.1}


def sample(cmd: list[str], n: int, at_once: int, ok) -> dict:
    """n forks of cmd with at most at_once running; `ok(exit code, output)` decides
    success. Children are reaped by pid only, so the benchmark's other children
    (daemon, peers) are never reaped here."""
    running: dict[int, subprocess.Popen] = {}
    started = done = failed = 0
    cpu = 0.0
    first_bad = None
    t0 = time.perf_counter()
    while done < n:
        while started < n and len(running) < at_once:
            p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            running[p.pid] = p
            started += 1
        reaped = []
        for pid, p in running.items():
            got, status, ru = os.wait4(pid, 0 if len(running) == 1 else os.WNOHANG)
            if got == 0:
                continue
            reaped.append(pid)
            cpu += ru.ru_utime + ru.ru_stime
            out = p.stdout.read().decode(errors="replace") if p.stdout else ""
            if p.stdout:
                p.stdout.close()
            p.returncode = os.waitstatus_to_exitcode(status)
            if not ok(p.returncode, out):
                failed += 1
                first_bad = first_bad or f"exit {p.returncode}: {out[:200]!r}"
        for pid in reaped:
            del running[pid]
        done += len(reaped)
        if not reaped:
            # Only several long-running forks (check_ping waits ~4 s): poll gently.
            time.sleep(0.005)
    wall = time.perf_counter() - t0
    return {"command": cmd, "forks": n, "at_once": at_once, "wall_s": wall, "cpu_s": cpu,
            "cpu_per_check_s": cpu / n if n else None, "failed": failed, "first_bad": first_bad}


def mix_per_check(per_kind: dict[str, float | None]) -> float | None:
    """CPU per check of the 70/20/10 mix, None if a kind is missing."""
    if any(per_kind.get(k) is None for k in MIX):
        return None
    return sum(MIX[k] * per_kind[k] for k in MIX)


def measure(ping_cmd: list[str], nrpe_cmd: list[str], snmp_cmd: list[str], n: int, ping_at_once: int,
            log) -> dict:
    """The three samples; check_nrpe and snmpget one after another (as the nrpe and
    snmp benchmarks do), check_ping several at once because each waits ~4 s for its
    5 echoes at 1 s intervals (its CPU per check does not depend on that)."""
    kinds = {
        "ping": (ping_cmd, ping_at_once, lambda rc, out: rc == 0 and out.startswith("PING OK")),
        "nrpe": (nrpe_cmd, 1, lambda rc, out: rc == 0 and out.startswith("OK - bench")),
        "snmp": (snmp_cmd, 1, lambda rc, out: rc == 0 and "Timeticks" in out),
    }
    out = {}
    for kind, (cmd, at_once, ok) in kinds.items():
        r = sample(cmd, n, at_once, ok)
        log(f"   {kind}: {n} forks of {os.path.basename(cmd[0])}, {at_once} at once: "
            f"{r['cpu_per_check_s'] * 1e3:.2f} ms CPU per check, {r['failed']} failed, wall {r['wall_s']:.1f} s")
        out[kind] = r
    out["mix_cpu_per_check_s"] = mix_per_check({k: out[k]["cpu_per_check_s"] for k in MIX})
    return out
