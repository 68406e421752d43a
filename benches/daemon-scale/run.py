#!/usr/bin/env python3
"""Daemon scale benchmark: bergamotd running N active checks every 60 s (default
100,000: 70 % ping to 127.x addresses, 20 % plaintext NRPE to a responder that does
not fork, 10 % SNMP v2c to a local snmpd) for --duration seconds, against what the
same checks cost forked one plugin each (check_ping, check_nrpe, snmpget, as Nagios
and Icinga 2 run them), in the same run on the same machine.

Usage:
  benches/daemon-scale/run.py [--checks 100000] [--duration 600] [--warmup 60]
                              [--quick] [--fork-only] [--fork-samples 300]
                              [--daemon PATH] [--cli PATH] [--responder PATH] [--probe PATH]
                              [--out benches/README.md] [--no-write] [--keep]

Steps:
  1. install missing peers (snmpd, snmp, monitoring-plugins-basic, nagios-nrpe-plugin;
     as root, apt with a policy-rc.d so no system service starts);
  2. build in release what is not given: bergamotd (first, so a missing daemon fails
     at once), bergamot-cli, bergamot-probe, the nrpe_responder example;
  3. start snmpd (free loopback UDP port, own community, 4 MiB UDP buffers) and the
     responder (free loopback TCP port); check both answer;
  4. measure the responder alone: `bergamot-probe nrpe -n --repeat 2000
     --concurrency 8`, its CPU per 1,000 queries (context: what the NRPE share costs
     the peer, not the daemon);
  5. generate the site (gen_estate.py) and validate it with `bergamot-cli config
     validate` (0 errors, 0 warnings);
  6. run `bergamotd --config SITE --data DATA`; after --warmup (one interval) the
     measuring window starts at a fresh DATA/health.json and ends at the first one
     after --duration: daemon CPU (utime+stime of /proc/PID/stat, with reaped
     children) over the window's wall time, checks due/started/completed in the
     window (health counters are cumulative); VmRSS sampled every second, VmRSS and
     VmHWM and Threads at the end; responder and snmpd CPU over the window. Then
     SIGTERM, exit status and time to exit, and the health.json written on exit:
     run vs due, skipped_late, queued, lateness p50/p99/max, startup_ms,
     first_check_ms;
  7. the fork side: --fork-samples forks of each plugin (check_ping 30 at once
     because each waits ~4 s; check_nrpe and snmpget one after another), CPU per
     check from os.wait4, the 70/20/10 mix, ours = daemon CPU / checks completed in
     the window, the ratio, and what N checks a minute cost forked, in cores.

The section between the daemon-scale markers of --out is rewritten (not with
--quick, which only prints it; with --fork-only it says the daemon was not
measured); raw figures go to benches/out/daemon-scale.json (-quick.json,
-fork-only.json). Health fields
the daemon does not write are reported as n/a.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
import benchlib  # noqa: E402  (benches/benchlib.py: helpers shared by the benchmarks)
import forks  # noqa: E402
import gen_estate  # noqa: E402
import peers  # noqa: E402
import report  # noqa: E402
from benchlib import REPO, log, machine  # noqa: E402
from peers import Child, die  # noqa: E402

NAME = "daemon-scale"  # this benchmark's section of benches/README.md
HEALTH_EVERY_S = 10  # the contract: DATA/health.json at least this often
PING_AT_ONCE = 30


# --------------------------------------------------------------------------- builds

def build_daemon() -> Path:
    manifest = (REPO / "daemon" / "Cargo.toml").read_text()
    bins = REPO / "daemon" / "src" / "bin"
    declared = 'name = "bergamotd"' in manifest or (bins / "bergamotd.rs").exists() or \
        (bins / "bergamotd" / "main.rs").exists()
    if not declared:
        die("bergamotd does not exist yet: the bergamot-daemon package has no `bergamotd` binary, so "
            "`cargo build --release -p bergamot-daemon --bin bergamotd` cannot build it. This benchmark "
            "needs the daemon; `--fork-only` measures the peers and the fork-per-check side alone, "
            "`--daemon PATH` uses an existing binary.")
    return benchlib.build_release("bergamot-daemon", "bergamotd", "daemon-scale",
                                  "the daemon does not build yet; pass --daemon PATH to use an existing binary")


def build_responder() -> Path:
    return benchlib.build_example("bergamot-netprobes", "nrpe_responder", "daemon-scale",
                                  "pass --responder PATH")


def binaries(args) -> dict[str, Path | None]:
    def given(p):
        exe = Path(p).resolve()
        if not exe.exists():
            die(f"{exe} does not exist")
        return exe

    out: dict[str, Path | None] = {"daemon": None}
    if not args.fork_only:
        out["daemon"] = given(args.daemon) if args.daemon else build_daemon()
    out["cli"] = given(args.cli) if args.cli else benchlib.build_release(
        "bergamot-daemon", "bergamot-cli", "daemon-scale", "pass --cli PATH")
    out["probe"] = given(args.probe) if args.probe else benchlib.build_release(
        "bergamot-netprobes", "bergamot-probe", "daemon-scale", "pass --probe PATH")
    out["responder"] = given(args.responder) if args.responder else build_responder()
    return out


# --------------------------------------------------------------------------- responder alone

def responder_cost(probe: Path, responder: peers.Responder, n: int = 20000, at_once: int = 8) -> dict:
    """CPU the responder spends per query, fed by one bergamot-probe process."""
    cmd = [str(probe), "nrpe", "-H", "127.0.0.1", "-p", str(responder.port), "-n", "-c", "check_bench",
           "--repeat", str(n), "--concurrency", str(at_once)]
    before = responder.child.cpu()
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = responder.child.cpu()
    if r.returncode != 0 or f"{n} OK" not in r.stderr:
        die(f"bergamot-probe against the responder (exit {r.returncode}):\n{r.stderr[-2000:]}")
    cpu = (after or 0.0) - (before or 0.0)
    log(f"   responder: {n} queries in {wall:.2f} s, {cpu * 1e3:.0f} ms CPU ({cpu / n * 1e6:.0f} µs per query)")
    return {"queries": n, "at_once": at_once, "wall_s": wall, "cpu_s": cpu,
            "cpu_per_1000_s": cpu / n * 1000,
            "command": " ".join(["bergamot-probe", *cmd[1:]]).replace(f"-p {responder.port}", "-p PORT")}


# --------------------------------------------------------------------------- the daemon

def read_health(path: Path) -> tuple[tuple, dict] | None:
    """(identity of the file version, its JSON), None if absent or unreadable."""
    try:
        st = path.stat()
        return (st.st_ino, st.st_mtime_ns, st.st_size), json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def current(path: Path) -> tuple | None:
    got = read_health(path)
    return got[0] if got else None


class Watch:
    """Samples the daemon once a second while waiting: alive, VmRSS, threads, load."""

    def __init__(self, daemon: Child):
        self.daemon = daemon
        self.rss_max_kib = 0
        self.threads_max = 0
        self.load = []
        self._next = 0.0

    def tick(self) -> None:
        if not self.daemon.alive():
            die(f"bergamotd exited ({self.daemon.status}) while being measured:\n{self.daemon.tail()}", 1)
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + 1.0
        st = peers.proc_status(self.daemon.pid)
        self.rss_max_kib = max(self.rss_max_kib, st.get("VmRSS", 0))
        self.threads_max = max(self.threads_max, st.get("Threads", 0))
        self.load.append(os.getloadavg()[0])

    def sleep_until(self, t: float) -> None:
        while time.monotonic() < t:
            self.tick()
            time.sleep(min(0.2, max(0.0, t - time.monotonic())))

    def fresh_health(self, path: Path, prev: tuple | None, timeout: float, pids: dict[str, int]) -> dict:
        """Waits for a health.json other than `prev`; returns it with the CPU of the
        daemon and the peers read at the moment it was noticed (within 50 ms)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.tick()
            got = read_health(path)
            if got is not None and got[0] != prev:
                t = time.monotonic()
                cpu = {name: peers.proc_cpu(pid) for name, pid in pids.items()}
                return {"key": got[0], "health": got[1], "t": t, "cpu": cpu}
            time.sleep(0.05)
        die(f"bergamotd wrote no new {path} within {timeout:.0f} s (the contract: every {HEALTH_EVERY_S} s):\n"
            f"{self.daemon.tail()}", 1)
        raise AssertionError("unreachable")


def run_daemon(exe: Path, site: Path, work: Path, checks: int, warmup: float, duration: float,
               snmpd: peers.Snmpd, responder: peers.Responder) -> dict:
    data = work / "data"
    data.mkdir()
    health = data / "health.json"
    cmd = [str(exe), "--config", str(site), "--data", str(data)]
    log(f"\n== bergamotd: {checks:,} checks; warm-up {warmup:.0f} s, window {duration:.0f} s")
    log("   " + " ".join(cmd))
    t_spawn = time.monotonic()
    daemon = Child("bergamotd", cmd, work / "bergamotd.log")
    watch = Watch(daemon)
    pids = {"daemon": daemon.pid, "responder": responder.child.pid, "snmpd": snmpd.child.pid}
    try:
        first = watch.fresh_health(health, None, 3 * HEALTH_EVERY_S, pids)
        log(f"   first health.json after {first['t'] - t_spawn:.1f} s: "
            f"startup_ms={report.txt(first['health'], 'startup_ms')}, "
            f"first_check_ms={report.txt(first['health'], 'first_check_ms')}")
        watch.sleep_until(t_spawn + warmup)
        a = watch.fresh_health(health, current(health), 3 * HEALTH_EVERY_S, pids)
        served_a = responder.counts()
        log(f"   window opens at {a['t'] - t_spawn:.1f} s")
        t_end = a["t"] + duration
        while time.monotonic() < t_end:
            watch.sleep_until(min(t_end, time.monotonic() + 60))
            h = read_health(health)
            if h:
                log(f"   {time.monotonic() - t_spawn:6.0f} s: due {report.txt(h[1], 'due')}, "
                    f"started {report.txt(h[1], 'started')}, completed {report.txt(h[1], 'completed')}, "
                    f"p99 late {report.txt(h[1], 'lateness_ms', 'p99')} ms, RSS {watch.rss_max_kib / 1024:.0f} MiB")
        b = watch.fresh_health(health, current(health), 3 * HEALTH_EVERY_S, pids)
        served_b = responder.counts()
        end_status = peers.proc_status(daemon.pid)
        log(f"   window closes at {b['t'] - t_spawn:.1f} s; stopping with SIGTERM")
        t_term = time.monotonic()
        clean = daemon.stop(signal.SIGTERM, timeout=60)
        stop_s = time.monotonic() - t_term
    except BaseException:
        daemon.stop(signal.SIGKILL, timeout=5)
        raise
    final = read_health(health)
    final_fresh = final is not None and final[0] != b["key"]
    ru = daemon.rusage
    return {
        "command": cmd, "warmup_s": warmup, "first": first["health"], "a": a, "b": b,
        "final": final[1] if final else None, "final_written_on_exit": final_fresh,
        "end_status": end_status, "rss_max_kib": watch.rss_max_kib, "threads_max": watch.threads_max,
        "load": watch.load, "served": (served_a, served_b), "exit_status": daemon.status,
        "stopped_in_s": stop_s, "stopped_cleanly": clean,
        "total_cpu_s": (ru.ru_utime + ru.ru_stime) if ru else None, "uptime_s": b["t"] - t_spawn,
        "log_tail": daemon.tail(15),
    }


# --------------------------------------------------------------------------- main

PATH_FLAGS = ("--daemon", "--cli", "--probe", "--responder", "--out")


def reproducible(argv: list[str]) -> list[str]:
    """The command line without local binary paths (a plain run builds them)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in PATH_FLAGS:
            skip = True
        elif not a.startswith(tuple(f + "=" for f in PATH_FLAGS)):
            out.append(a)
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="bergamotd at scale vs fork-per-check")
    ap.add_argument("--checks", type=int, help="active checks (default 100,000; 10,000 with --quick)")
    ap.add_argument("--duration", type=float, help="measuring window, s (default 600; 60 with --quick)")
    ap.add_argument("--warmup", type=float, default=60.0, help="s before the window opens (one interval)")
    ap.add_argument("--quick", action="store_true", help="10,000 checks for 60 s; print, do not write --out")
    ap.add_argument("--fork-only", action="store_true", help="peers, estate and fork side only (no daemon)")
    ap.add_argument("--fork-samples", type=int, default=300, help="forks of each plugin")
    ap.add_argument("--daemon", help="path to bergamotd (default: cargo build --release)")
    ap.add_argument("--cli", help="path to bergamot-cli (default: cargo build --release)")
    ap.add_argument("--probe", help="path to bergamot-probe (default: cargo build --release)")
    ap.add_argument("--responder", help="path to the nrpe_responder example (default: cargo build --release)")
    ap.add_argument("--out", default=str(REPO / "benches" / "README.md"))
    ap.add_argument("--no-write", action="store_true", help="print the section, leave --out alone")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (site, logs, data)")
    args = ap.parse_args(argv)
    checks = args.checks or (10_000 if args.quick else 100_000)
    duration = args.duration or (60.0 if args.quick else 600.0)

    peers.ensure_packages()
    bins = binaries(args)
    work = Path(tempfile.mkdtemp(prefix="bergamot-daemon-scale-"))
    m = machine()  # load average before the run
    snmpd = peers.Snmpd(work)
    responder = peers.Responder(bins["responder"], work)
    result: dict = {"checks": checks, "duration_s": duration}
    try:
        log(f"snmpd on {snmpd.target}, responder on 127.0.0.1:{responder.port}; work dir {work}")
        result["responder_alone"] = responder_cost(bins["probe"], responder)
        site = work / "site"
        result["estate"] = gen_estate.generate(site, checks, responder.port, snmpd.port, snmpd.community)
        try:
            gen_estate.validate(bins["cli"], site)
        except RuntimeError as e:
            die(f"the generated site does not validate: {e}", 1)
        log(f"site: {json.dumps(result['estate'])} (valid)")
        if bins["daemon"]:
            result["daemon"] = run_daemon(bins["daemon"], site, work, checks, args.warmup, duration, snmpd, responder)
        log(f"\n== fork per check: {args.fork_samples} forks of each plugin")
        ping = [str(peers.CHECK_PING), "-H", "127.0.0.1", "-w", "100.0,20%", "-c", "500.0,60%", "-p", "5"]
        result["forks"] = forks.measure(ping, responder.check_cmd(), snmpd.get_cmd(), args.fork_samples,
                                        PING_AT_ONCE, log)
    finally:
        responder.child.stop()
        snmpd.child.stop()
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    argv_s = " ".join(reproducible(argv if argv is not None else sys.argv[1:]))
    meta = {"command": f"benches/daemon-scale/run.py {argv_s}".strip(), "versions": {
        p: peers.package_version(p) for p in ("snmpd", "monitoring-plugins-basic", "nagios-nrpe-plugin")}}
    summary = report.summarize(result)
    section = report.render(result, summary, m, meta)
    raw = REPO / "benches" / "out" / ("daemon-scale-quick.json" if args.quick else
                                     "daemon-scale-fork-only.json" if args.fork_only else "daemon-scale.json")
    figures_json = {"machine": m, "meta": meta, "summary": summary, "result": result}
    log(benchlib.publish(NAME, section, raw, figures_json, Path(args.out), not (args.quick or args.no_write), 2))


if __name__ == "__main__":
    main()
