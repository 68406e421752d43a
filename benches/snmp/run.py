#!/usr/bin/env python3
"""SNMP benchmark: Bergamot `bergamot-probe snmp get --repeat N` (one process, one
socket, requests in flight together) against N forks of net-snmp's `snmpget`, to the
same local snmpd, in the same run: 10,000 v2c GETs and 1,000 v3 authPriv
(SHA/AES) GETs by default.

Usage:
  benches/snmp/run.py [--v2c 10000] [--v3 1000] [--probe PATH] [--repeats 3]
                      [--concurrency 64] [--out benches/README.md] [--no-write]

Steps: install snmpd/snmp if missing (Debian, as root); build bergamot-probe in
release unless --probe is given; start snmpd on a free loopback port with its own
persistent directory and a v3 user; check that both clients get sysDescr; then
measure each side one child process at a time: wall time, user+system CPU and peak
RSS from os.wait4 (the child's own rusage, including any children it reaped). The
net-snmp side is N separate `snmpget` processes, each measured the same way and
summed (peak RSS: the largest). snmpd's own CPU during each side is read from
/proc and reported too (it does the same work for both). Medians of --repeats runs
of ours; net-snmp runs once per workload (it is the slow side). The Markdown
section between the snmp markers of --out is rewritten; nothing else in that file is
touched. Raw runs go to benches/out/snmp.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import benchlib  # noqa: E402  (benches/benchlib.py: helpers shared by the benchmarks)
from benchlib import REPO, log, machine  # noqa: E402

NAME = "snmp"  # this benchmark's section of benches/README.md
HERE = Path(__file__).resolve().parent


def die(msg: str, code: int = 2) -> None:
    benchlib.die("snmp", msg, code)


def tail(path: Path, lines: int = 25) -> str:
    return benchlib.tail(path, lines)


def free_port() -> int:
    return benchlib.free_port(socket.SOCK_DGRAM)


def build_probe() -> Path:
    return benchlib.build_release("bergamot-netprobes", "bergamot-probe", "snmp", "pass --probe PATH to use an existing binary")


def write_section(path: Path, section: str) -> None:
    benchlib.write_section(path, NAME, section)

GOAL_CPU = 50.0  # net-snmp CPU / Bergamot CPU must be at least this
SYS_DESCR = "1.3.6.1.2.1.1.1.0"
AUTH_PW, PRIV_PW = "authpass123", "privpass123"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- measuring

def measure(cmd: list[str], out_p: Path, err_p: Path) -> dict:
    """Run one child; wall from perf_counter, CPU and peak RSS from its wait4 rusage."""
    with open(out_p, "ab") as out, open(err_p, "ab") as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        _pid, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
    return {
        "rc": os.waitstatus_to_exitcode(status),
        "wall_s": wall,
        "user_s": ru.ru_utime,
        "sys_s": ru.ru_stime,
        "cpu_s": ru.ru_utime + ru.ru_stime,
        "rss_kib": ru.ru_maxrss,  # KiB on Linux
    }


def proc_cpu(pid: int) -> float:
    """utime + stime of a running process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


# --------------------------------------------------------------------------- the agent

def ensure_net_snmp() -> None:
    if shutil.which("snmpd") and shutil.which("snmpget"):
        return
    if os.geteuid() != 0:
        die("snmpd/snmpget are not installed and we are not root: run "
            "`apt-get update && apt-get install -y snmpd snmp` first")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    lock = ["-o", "DPkg::Lock::Timeout=600"]
    if subprocess.run(["apt-get", "install", "-y", *lock, "snmpd", "snmp"], env=env).returncode != 0:
        subprocess.run(["apt-get", "update", *lock], env=env)
        if subprocess.run(["apt-get", "install", "-y", *lock, "snmpd", "snmp"], env=env).returncode != 0:
            die("apt-get install snmpd snmp failed")


class Agent:
    def __init__(self, work: Path):
        self.port = free_port()
        self.dir = work / "snmpd"
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "snmpd.conf").write_text(
            f"agentAddress udp:127.0.0.1:{self.port}\nrocommunity public 127.0.0.1\n"
            f'createUser bergamot SHA "{AUTH_PW}" AES "{PRIV_PW}"\nrouser bergamot authpriv\n')
        self.log = open(self.dir / "snmpd.log", "wb")
        self.proc = subprocess.Popen(
            ["snmpd", "-f", "-Lo", "-C", "-c", str(self.dir / "snmpd.conf"), "-m", ""],
            env=dict(os.environ, SNMP_PERSISTENT_DIR=str(self.dir)), stdout=self.log, stderr=self.log)
        self.target = f"127.0.0.1:{self.port}"
        for _ in range(100):
            r = subprocess.run(["snmpget", "-m", "", "-On", "-v2c", "-c", "public", "-t", "0.2", "-r", "0",
                                self.target, SYS_DESCR], capture_output=True)
            if r.returncode == 0:
                return
        self.stop()
        die(f"snmpd never answered on {self.target}:\n{tail(self.dir / 'snmpd.log')}")

    def cpu(self) -> float:
        return proc_cpu(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()
        self.log.close()


# --------------------------------------------------------------------------- commands

V3_ARGS = ["-v3", "-l", "authPriv", "-u", "bergamot", "-a", "SHA", "-A", AUTH_PW, "-x", "AES", "-X", PRIV_PW]


def workload_args(kind: str, community: str = "public") -> list[str]:
    return ["-v2c", "-c", community] if kind == "v2c" else list(V3_ARGS)


def run_ours(exe: Path, agent: Agent, kind: str, n: int, concurrency: int, logdir: Path, tag: str,
             io: str = "io-uring") -> dict:
    cmd = [str(exe), "snmp", "get", *workload_args(kind), "--repeat", str(n), "--concurrency", str(concurrency),
           "--io", io, agent.target, SYS_DESCR]
    out_p, err_p = logdir / f"{tag}.stdout", logdir / f"{tag}.stderr"
    for p in (out_p, err_p):
        p.unlink(missing_ok=True)
    before = agent.cpu()
    r = measure(cmd, out_p, err_p)
    r["agent_cpu_s"] = agent.cpu() - before
    want = f"{n} requests: {n} answered, 0 failed"
    if r["rc"] != 0 or want not in err_p.read_text(errors="replace") or "STRING:" not in out_p.read_text():
        die(f"bergamot-probe ({kind}) did not get {n} answers (rc {r['rc']}):\n{tail(err_p)}\n{tail(out_p)}", 1)
    r["command"] = shlex.join(["bergamot-probe", *cmd[1:]]).replace(agent.target, "HOST")
    return r


def run_net_snmp(agent: Agent, kind: str, n: int, logdir: Path, tag: str) -> dict:
    cmd = ["snmpget", "-m", "", "-On", *workload_args(kind), agent.target, SYS_DESCR]
    out_p, err_p = logdir / f"{tag}.stdout", logdir / f"{tag}.stderr"
    for p in (out_p, err_p):
        p.unlink(missing_ok=True)
    total = {"wall_s": 0.0, "user_s": 0.0, "sys_s": 0.0, "cpu_s": 0.0, "rss_kib": 0}
    before = agent.cpu()
    t0 = time.perf_counter()
    for i in range(n):
        r = measure(cmd, out_p, err_p)
        if r["rc"] != 0:
            die(f"snmpget ({kind}) failed on fork {i} (rc {r['rc']}):\n{tail(err_p)}", 1)
        for k in ("wall_s", "user_s", "sys_s", "cpu_s"):
            total[k] += r[k]
        total["rss_kib"] = max(total["rss_kib"], r["rss_kib"])
        if (i + 1) % max(1, n // 10) == 0:
            log(f"   snmpget {kind}: {i + 1}/{n}")
    total["elapsed_s"] = time.perf_counter() - t0  # includes Python's fork/exec and bookkeeping
    total["agent_cpu_s"] = agent.cpu() - before
    answers = out_p.read_text(errors="replace").count("STRING:")
    if answers != n:
        die(f"snmpget ({kind}): {answers} answers for {n} forks", 1)
    total["command"] = shlex.join(cmd).replace(agent.target, "HOST")
    return total


# --------------------------------------------------------------------------- report

def fmt_s(s: float | None) -> str:
    if s is None:
        return "n/a"
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.2f} s"


def fmt_mib(kib) -> str:
    return "n/a" if kib is None else f"{kib / 1024:.1f} MiB"


def render(rows: list[dict], m: dict, meta: dict) -> str:
    L = ["## SNMP GET: Bergamot vs net-snmp snmpget\n"]
    L.append(f"GETs of sysDescr (`{SYS_DESCR}`) to a local snmpd ({meta['snmpd']}) on loopback. Bergamot: "
             "one `bergamot-probe snmp get --repeat N` process (one UDP socket, "
             f"{meta['concurrency']} requests in flight, v3 engine discovered and keys derived once). "
             "net-snmp: N `snmpget` processes one after the other, as a fork-per-check "
             "poller runs them (each derives the v3 keys and discovers the engine again).\n")
    L.append(f"Machine: {m['nproc']} CPUs ({m['cpu']}), Linux {m['kernel']}; {m['date']}; commit {m['commit']}; "
             f"1-minute load {m['load']:.1f} before the run. Bergamot: median of {meta['repeats']} runs; "
             "net-snmp: one run of N forks, per-fork wall/CPU summed, RSS = the largest fork. "
             "CPU = user + system of the client(s); snmpd's CPU is shown apart (same work on both sides).\n")
    L.append("| workload | GETs | Bergamot wall | Bergamot CPU | Bergamot RSS | net-snmp wall | net-snmp CPU "
             "| net-snmp RSS | CPU net-snmp/Bergamot | wall net-snmp/Bergamot | CPU per GET (B / n-s) | snmpd CPU (B / n-s) |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    goals = []
    for r in rows:
        b, s, n = r["bergamot"], r["net_snmp"], r["n"]
        cpu_x = s["cpu_s"] / b["cpu_s"] if b["cpu_s"] > 0 else None
        wall_x = s["wall_s"] / b["wall_s"] if b["wall_s"] > 0 else None
        r["ratios"] = {"cpu": cpu_x, "wall": wall_x}
        L.append(f"| {r['label']} | {n:,} | {fmt_s(b['wall_s'])} | {fmt_s(b['cpu_s'])} | {fmt_mib(b['rss_kib'])} "
                 f"| {fmt_s(s['wall_s'])} | {fmt_s(s['cpu_s'])} | {fmt_mib(s['rss_kib'])} "
                 f"| {'n/a' if cpu_x is None else f'{cpu_x:.0f}×'} | {'n/a' if wall_x is None else f'{wall_x:.0f}×'} "
                 f"| {fmt_s(b['cpu_s'] / n)} / {fmt_s(s['cpu_s'] / n)} "
                 f"| {fmt_s(b['agent_cpu_s'])} / {fmt_s(s['agent_cpu_s'])} |")
        if cpu_x is not None:
            goals.append(f"{r['label']}: {cpu_x:.0f}× less CPU ({'met' if cpu_x >= GOAL_CPU else 'NOT met'})")
    L.append("")
    L.append("io_uring (the table above) vs the epoll fallback on the same load, Bergamot side, medians:\n")
    L.append("| workload | io_uring wall | io_uring CPU | epoll wall | epoll CPU | CPU epoll/io_uring |")
    L.append("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        b, e = r["bergamot"], r.get("bergamot_epoll")
        if e:
            x = e["cpu_s"] / b["cpu_s"] if b["cpu_s"] > 0 else None
            L.append(f"| {r['label']} | {fmt_s(b['wall_s'])} | {fmt_s(b['cpu_s'])} | {fmt_s(e['wall_s'])} "
                     f"| {fmt_s(e['cpu_s'])} | {'n/a' if x is None else f'{x:.2f}×'} |")
    L.append("")
    L.append("Why epoll can be the cheaper one here (perf profiles of the v2c run on each backend, "
             "2026-11-21): both spend most of their CPU in the kernel's UDP send, which delivers the "
             "request to snmpd in our context, and in being woken once per answer (about 9,000 "
             "context switches for 10,000 GETs on each). On top of that io_uring pays page faults "
             "the first time the kernel writes into each of its 256 receive buffers (a fixed ~3 % of "
             "this short run), the import of a `msghdr` for every `sendmsg` where epoll calls "
             "`sendto` (~3 %), and the task work that posts multishot receive completions (~3 %).")
    L.append("")
    L.append(f"Goal: at least {GOAL_CPU:.0f}× less client CPU than forking snmpget. " + "; ".join(goals) + ".")
    L.append("")
    L.append("Commands: " + "; ".join(f"`{r['bergamot']['command']}` vs {r['n']:,} × `{r['net_snmp']['command']}`"
                                      for r in rows) + ".")
    L.append("")
    L.append(f"Reproduce: `{meta['command']}`")
    return "\n".join(L) + "\n"


# --------------------------------------------------------------------------- main

def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="Bergamot vs net-snmp snmpget benchmark")
    ap.add_argument("--v2c", type=int, default=10000, help="v2c GETs (0: skip)")
    ap.add_argument("--v3", type=int, default=1000, help="v3 authPriv GETs (0: skip)")
    ap.add_argument("--probe", help="path to bergamot-probe (default: cargo build --release)")
    ap.add_argument("--repeats", type=int, default=3, help="runs of the Bergamot side (median)")
    ap.add_argument("--concurrency", type=int, default=64, help="Bergamot requests in flight")
    ap.add_argument("--out", default=str(REPO / "benches" / "README.md"))
    ap.add_argument("--no-write", action="store_true", help="print the table, leave --out alone")
    args = ap.parse_args(argv)

    ensure_net_snmp()
    exe = Path(args.probe).resolve() if args.probe else build_probe()
    if not exe.exists():
        die(f"{exe} does not exist")
    snmpd_version = subprocess.run(["snmpd", "-v"], capture_output=True, text=True).stdout
    snmpd_version = next((l.split(":", 1)[1].strip() for l in snmpd_version.splitlines() if "version" in l),
                         "net-snmp")
    work = Path(tempfile.mkdtemp(prefix="bergamot-snmp-bench-"))
    logdir = work / "logs"
    logdir.mkdir()
    m = machine()  # load average before the run
    agent = Agent(work)
    rows = []
    try:
        log(f"snmpd {snmpd_version} on {agent.target}; bergamot-probe: {exe}")
        for kind, n, label in (("v2c", args.v2c, "v2c"), ("v3", args.v3, "v3 authPriv SHA/AES")):
            if n <= 0:
                continue
            log(f"\n== {label}: {n:,} GETs")
            ours = []
            for k in range(args.repeats):
                r = run_ours(exe, agent, kind, n, args.concurrency, logdir, f"ours-{kind}-{k}")
                log(f"   bergamot run {k + 1}: wall {fmt_s(r['wall_s'])}, cpu {fmt_s(r['cpu_s'])}, "
                    f"rss {fmt_mib(r['rss_kib'])}, snmpd cpu {fmt_s(r['agent_cpu_s'])}")
                ours.append(r)
            med = {k: statistics.median(r[k] for r in ours)
                   for k in ("wall_s", "cpu_s", "user_s", "sys_s", "rss_kib", "agent_cpu_s")}
            med["command"] = ours[0]["command"]
            # The same load on the epoll fallback (issue 3, benchmark d).
            epoll = [run_ours(exe, agent, kind, n, args.concurrency, logdir, f"ours-epoll-{kind}-{k}", io="epoll")
                     for k in range(args.repeats)]
            med_epoll = {k: statistics.median(r[k] for r in epoll) for k in ("wall_s", "cpu_s", "rss_kib")}
            log(f"   bergamot epoll: wall {fmt_s(med_epoll['wall_s'])}, cpu {fmt_s(med_epoll['cpu_s'])}")
            theirs = run_net_snmp(agent, kind, n, logdir, f"net-snmp-{kind}")
            log(f"   net-snmp: wall {fmt_s(theirs['wall_s'])}, cpu {fmt_s(theirs['cpu_s'])}, "
                f"rss {fmt_mib(theirs['rss_kib'])}, snmpd cpu {fmt_s(theirs['agent_cpu_s'])}")
            rows.append({"kind": kind, "label": label, "n": n, "bergamot": med, "bergamot_runs": ours,
                         "bergamot_epoll": med_epoll, "net_snmp": theirs})
    finally:
        agent.stop()
        shutil.rmtree(work, ignore_errors=True)

    cmd = "benches/snmp/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
    meta = {"snmpd": snmpd_version, "concurrency": args.concurrency, "repeats": args.repeats,
            "command": cmd.strip()}
    section = render(rows, m, meta)
    print("\n" + section)
    raw = REPO / "benches" / "out" / "snmp.json"
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(json.dumps({"machine": m, "meta": meta, "results": rows}, indent=2))
    if not args.no_write:
        write_section(Path(args.out), section)
        log(f"wrote {args.out} (section <!-- {NAME}:begin --> … <!-- {NAME}:end -->); raw runs in {raw}")


if __name__ == "__main__":
    main()
