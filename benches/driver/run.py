#!/usr/bin/env python3
"""TCP-check benchmark: `bergamot-probe tcp --repeat N` (one process, many checks on
the io_uring or epoll driver) against N `check_tcp` forks (monitoring-plugins), on the
same local servers, in the same run.

Usage:
  benches/driver/run.py [--checks 5000] [--tls-checks 500] [--concurrency 4]
                        [--parallel 256] [--probe PATH] [--repeats 3] [--out benches/README.md]

Workloads, each against a server started here on a free loopback port:
  - connect: plain connect check (`-H 127.0.0.1 -p PORT`); server: peer.py, which
    accepts and closes;
  - banner: expect a banner (`-e 220`); server: peer.py writing `220 bench ESMTP`;
  - tls: TLS handshake (`-S`, ours with `-k`: the test certificate is self-signed);
    server: `openssl s_server -www` with netprobes/testdata/tcp/ec-30days.pem.

Clients, one child process at a time:
  - check_tcp, N forks one after the other (what a fork-per-check scheduler pays);
  - check_tcp, N forks with K running at once (--concurrency);
  - bergamot-probe tcp --repeat N --parallel K (same concurrency), io_uring;
  - bergamot-probe tcp --repeat N --parallel P (--parallel), io_uring and epoll.

Steps: install check_tcp if missing (Debian monitoring-plugins-basic, as root); build
bergamot-probe in release unless --probe is given; check every client gets OK from every
server once; measure. Wall is from the first fork to the last exit; CPU is user+system
of the client processes from os.wait4 (servers not included), summed over forks; RSS is
the peak resident set of the bergamot-probe process (VmHWM sampled while it runs: wait4's
ru_maxrss would count this Python process, which a fork shares until it execs; a
check_tcp fork lives too briefly to sample). Medians over --repeats (1 for the slow
check_tcp-one-after-another runs beyond --checks 2000). The Markdown section between
the driver markers of --out is rewritten; nothing else in that file is touched. Raw runs
go to benches/out/driver.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import benchlib  # noqa: E402  (benches/benchlib.py: helpers shared by the benchmarks)
from benchlib import REPO, log, machine, vm_hwm_kib  # noqa: E402

NAME = "driver"  # this benchmark's section of benches/README.md
HERE = Path(__file__).resolve().parent


def die(msg: str, code: int = 2) -> None:
    benchlib.die("driver bench", msg, code)


def free_port() -> int:
    return benchlib.free_port()


def build_probe() -> Path:
    return benchlib.build_release("bergamot-netprobes", "bergamot-probe", "driver bench", "pass --probe PATH to use an existing binary")


def write_section(path: Path, section: str) -> None:
    benchlib.write_section(path, NAME, section)

TESTDATA = REPO / "netprobes" / "testdata" / "tcp"

CHECK_TCP = "/usr/lib/nagios/plugins/check_tcp"
GOAL_CPU = 20.0  # check_tcp CPU per check (one after another) / ours (P at once) at least this
BANNER = "220 bench ESMTP\\r\\n"


# --------------------------------------------------------------------------- setup

def ensure_check_tcp() -> None:
    if Path(CHECK_TCP).exists() and shutil.which("openssl"):
        return
    if os.geteuid() != 0:
        die("check_tcp or openssl missing and we are not root: run "
            "`apt-get update && apt-get install -y monitoring-plugins-basic openssl` first")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    pkgs = ["monitoring-plugins-basic", "openssl"]
    if subprocess.run(["apt-get", "install", "-y", *pkgs], env=env).returncode != 0:
        for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", *pkgs]):
            if subprocess.run(cmd, env=env).returncode != 0:
                die(f"`{' '.join(cmd)}` failed")
    if not Path(CHECK_TCP).exists():
        die(f"monitoring-plugins-basic installed but {CHECK_TCP} is missing")


def check_tcp_version() -> str:
    out = subprocess.run([CHECK_TCP, "-V"], capture_output=True, text=True).stdout
    return out.strip().split("(")[-1].rstrip(")") if out else "?"


class Server:
    """A server process on a free port, stopped by PID."""

    def __init__(self, name: str, cmd_for_port):
        self.name = name
        self.port = free_port()
        self.proc = subprocess.Popen(cmd_for_port(self.port), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        if benchlib.wait_listening(self.port, 10.0):
            return
        self.stop()
        die(f"{name} server did not start listening on {self.port}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


# --------------------------------------------------------------------------- measuring

def run_forks(cmd: list[str], n: int, k: int) -> dict:
    """n forks of cmd, at most k at once; each must exit 0 (plugin OK)."""
    return benchlib.run_forks(cmd, n, k, lambda rc, _out: rc == 0)


def run_one(cmd: list[str], n: int) -> dict:
    """One bergamot-probe doing all n checks; it prints `TCP checks: N in … OK n, …`."""
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    hwm = 0
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        hwm = max(hwm, vm_hwm_kib(p.pid) or 0)
        time.sleep(0.002)
    wall = time.perf_counter() - t0
    out = (p.stdout.read() if p.stdout else b"").decode(errors="replace")
    rc = os.waitstatus_to_exitcode(status)
    ok_count = 0
    if f"TCP checks: {n} in" in out and ": OK " in out:
        try:
            ok_count = int(out.split(": OK ", 1)[1].split(",", 1)[0])
        except (IndexError, ValueError):
            ok_count = 0
    failed = n - ok_count if rc == 0 or ok_count else n
    return {"wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime, "rss_kib": hwm or None,
            "failed": failed, "first_bad": None if failed == 0 else f"exit {rc}: {out[:300]}",
            "load_before": load_before}


def median_of(runs: list[dict]) -> dict:
    m = {k: statistics.median(r[k] for r in runs) for k in ("wall_s", "cpu_s")}
    rss = [r["rss_kib"] for r in runs if r["rss_kib"]]
    m["rss_kib"] = max(rss) if rss else None
    m["failed"] = max(r["failed"] for r in runs)
    m["first_bad"] = next((r["first_bad"] for r in runs if r["first_bad"]), None)
    return m


# --------------------------------------------------------------------------- report

def fmt_t(s: float | None) -> str:
    if s is None:
        return "n/a"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.0f} µs"


def fmt_mib(kib) -> str:
    return "–" if not kib else f"{kib / 1024:.1f} MiB"


def render(rows: list[dict], m: dict, meta: dict) -> str:
    L = ["## TCP checks: bergamot-probe (driver) vs check_tcp\n"]
    L.append(
        f"Checks against servers on loopback, started by the benchmark: **connect** (accept and close), "
        f"**banner** (`-e 220`; the server writes `220 bench ESMTP` and closes), **tls** (`-S`, a handshake "
        f"with `openssl s_server -www` holding the self-signed test certificate; ours adds `-k` to accept it). "
        f"check_tcp ({meta['check_tcp']}): one process per check, one after another and "
        f"{meta['k']} at once. bergamot-probe: `bergamot-probe tcp … --repeat N --parallel K`, one process, "
        f"all checks on the driver (io_uring, or epoll forced with `--io epoll`). With TLS both sides make "
        f"a full handshake per check (ours closes as soon as the handshake is done, before a TLS 1.3 ticket "
        f"could arrive, so nothing is resumed): there the client's CPU is mostly the key exchange and the "
        f"signature check, which no driver saves.\n")
    L.append(
        f"Machine: {m['nproc']} CPUs ({m['cpu']}), Linux {m['kernel']}; {m['date']}; commit {m['commit']}. "
        f"Medians of {meta['repeats']} runs (1 for check_tcp one after another above 2,000 checks). "
        "CPU = user + system of the client processes (os.wait4), servers not included; RSS = peak resident "
        "set of the bergamot-probe process (VmHWM sampled while it runs; a check_tcp fork is too short-lived "
        "to sample).\n")
    loads = [r["load_before"] for row in rows for runs in row["raw"].values() for r in runs]
    if loads:
        L.append(f"1-minute load average before each run: {min(loads):.1f} to {max(loads):.1f} "
                 f"(above ~{m['nproc']} means other work shared the CPUs; wall times suffer first).\n")
    L.append("| workload | client | checks | wall | wall/check | CPU/check | peak RSS | failed |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        for label, key in row["labels"]:
            r = row["results"][key]
            n = row["n"]
            L.append(f"| {row['name']} | {label} | {n:,} | {fmt_t(r['wall_s'])} | {fmt_t(r['wall_s'] / n)} "
                     f"| {fmt_t(r['cpu_s'] / n)} | {fmt_mib(r['rss_kib'])} | {r['failed']} |")
    L.append("")
    L.append("Ratios (check_tcp / bergamot-probe):\n")
    L.append("| workload | CPU, forks one after another vs ours P at once | wall, forks one after another vs "
             "ours P at once | CPU, both K at once | wall, both K at once | io_uring vs epoll, CPU (epoll/io_uring) |")
    L.append("|---|---:|---:|---:|---:|---:|")
    goals = []
    for row in rows:
        res = row["results"]
        seq, par, ours_k, ours_p, ours_e = (res["check_tcp_seq"], res["check_tcp_k"], res["ours_k"],
                                             res["ours_p"], res["ours_p_epoll"])
        cpu_seq = seq["cpu_s"] / ours_p["cpu_s"] if ours_p["cpu_s"] > 0 else None
        wall_seq = seq["wall_s"] / ours_p["wall_s"]
        cpu_k = par["cpu_s"] / ours_k["cpu_s"] if ours_k["cpu_s"] > 0 else None
        wall_k = par["wall_s"] / ours_k["wall_s"]
        ue = ours_e["cpu_s"] / ours_p["cpu_s"] if ours_p["cpu_s"] > 0 else None
        f = lambda v: "n/a" if v is None else f"{v:.1f}×"
        L.append(f"| {row['name']} | {f(cpu_seq)} | {f(wall_seq)} | {f(cpu_k)} | {f(wall_k)} | "
                 f"{'n/a' if ue is None else f'{ue:.2f}'} |")
        row["ratios"] = {"cpu_seq": cpu_seq, "wall_seq": wall_seq, "cpu_k": cpu_k, "wall_k": wall_k,
                         "epoll_over_uring_cpu": ue}
        if cpu_seq is not None:
            goals.append(f"{row['name']}: {cpu_seq:.1f}× less CPU ({'met' if cpu_seq >= GOAL_CPU else 'NOT met'})")
    L.append("")
    L.append(f"K = {meta['k']}, P = {meta['p']}. Goal: at least {GOAL_CPU:.0f}× less client CPU per check than "
             "check_tcp forks. " + "; ".join(goals) + ".")
    L.append("")
    L.append(f"Reproduce: `{meta['command']}` (builds bergamot-probe in release"
             + (f"; this run used `--probe {meta['probe']}`)" if meta.get("probe") else ")"))
    return "\n".join(L) + "\n"


# --------------------------------------------------------------------------- main

def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="bergamot-probe tcp vs check_tcp")
    ap.add_argument("--checks", type=int, default=5000, help="checks per plain workload")
    ap.add_argument("--tls-checks", type=int, default=500, help="checks in the TLS workload")
    ap.add_argument("--concurrency", type=int, default=4, help="K: check_tcp forks at once, and ours")
    ap.add_argument("--parallel", type=int, default=256, help="P: our connections at once")
    ap.add_argument("--probe", help="path to bergamot-probe (default: cargo build --release)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(REPO / "benches" / "README.md"))
    ap.add_argument("--no-write", action="store_true", help="print the table, leave --out alone")
    args = ap.parse_args(argv)

    ensure_check_tcp()
    exe = Path(args.probe).resolve() if args.probe else build_probe()
    if not exe.exists():
        die(f"--probe {exe} does not exist")
    k, p = args.concurrency, args.parallel

    peer = str(HERE / "peer.py")
    workloads = [
        ("connect", args.checks, lambda port: [sys.executable, peer, str(port)], []),
        ("banner", args.checks, lambda port: [sys.executable, peer, str(port), BANNER], ["-e", "220"]),
        ("tls", args.tls_checks,
         lambda port: ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert",
                       str(TESTDATA / "ec-30days.pem"), "-key", str(TESTDATA / "ec-30days.key"),
                       "-www", "-quiet"],
         ["-S"]),
    ]
    rows = []
    for name, n, server_cmd, extra in workloads:
        srv = Server(name, server_cmd)
        try:
            base = ["-H", "127.0.0.1", "-p", str(srv.port), *extra]
            theirs = [CHECK_TCP, *base]
            ours = [str(exe), "tcp", *base] + (["-k"] if name == "tls" else [])
            for cmd in (theirs, ours):
                r = subprocess.run(cmd, capture_output=True, text=True)
                if r.returncode != 0:
                    die(f"sanity check failed: `{' '.join(cmd)}` exited {r.returncode}: {r.stdout}{r.stderr}")
                log(f"{name}: {r.stdout.strip()}")
            clients = [
                ("check_tcp, one fork after another", "check_tcp_seq", lambda: run_forks(theirs, n, 1)),
                (f"check_tcp, {k} forks at once", "check_tcp_k", lambda: run_forks(theirs, n, k)),
                (f"bergamot-probe, one process, {k} at once (io_uring)", "ours_k",
                 lambda: run_one(ours + ["--repeat", str(n), "--parallel", str(k), "--io", "io-uring"], n)),
                (f"bergamot-probe, one process, {p} at once (io_uring)", "ours_p",
                 lambda: run_one(ours + ["--repeat", str(n), "--parallel", str(p), "--io", "io-uring"], n)),
                (f"bergamot-probe, one process, {p} at once (epoll)", "ours_p_epoll",
                 lambda: run_one(ours + ["--repeat", str(n), "--parallel", str(p), "--io", "epoll"], n)),
            ]
            row = {"name": name, "n": n, "labels": [(l, key) for l, key, _ in clients], "raw": {}, "results": {}}
            for label, key, fn in clients:
                reps = 1 if key == "check_tcp_seq" and n > 2000 else args.repeats
                runs = []
                for i in range(reps):
                    r = fn()
                    log(f"  {name:8} {label:50} run {i + 1}: wall {fmt_t(r['wall_s'])}, "
                        f"cpu {fmt_t(r['cpu_s'])}, rss {fmt_mib(r['rss_kib'])}, failed {r['failed']}")
                    if r["failed"]:
                        log(f"    first failure: {r['first_bad']}")
                    runs.append(r)
                row["raw"][key] = runs
                row["results"][key] = median_of(runs)
            rows.append(row)
        finally:
            srv.stop()

    meta = {"check_tcp": check_tcp_version(), "k": k, "p": p, "repeats": args.repeats,
            "command": "benches/driver/run.py", "probe": args.probe}
    m = machine()
    section = render(rows, m, meta)
    print("\n" + section)
    outdir = REPO / "benches" / "out"
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "driver.json").write_text(json.dumps({"machine": m, "meta": meta, "rows": rows}, indent=1, default=str))
    if not args.no_write:
        write_section(Path(args.out), section)
        log(f"wrote the driver section of {args.out}")


if __name__ == "__main__":
    main()
