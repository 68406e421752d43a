#!/usr/bin/env python3
"""ICMP echo benchmark: `bergamot-probe ping` against fping, pinging the same list of
loopback targets (127.0.x.y: every 127/8 address answers) once each, in the same run.

Usage:
  benches/ping/run.py [--targets 10000] [--repeats 5] [--probe PATH]
                      [--out benches/README.md] [--no-write] [--keep]

Steps: install fping if missing (Debian `fping`, as root: raw sockets need root
anyway); build bergamot-probe in release unless --probe is given; check that it
answers for a few targets with fping's summary format; then measure, one child
process at a time and interleaved so background load hits every side alike:
`fping -q -c1 -i 0 -f LIST`, `bergamot-probe ping -q -c1 -i 0 -f LIST` on io_uring
(BERGAMOT_IO=io-uring) and on epoll (BERGAMOT_IO=epoll). Wall time and user+system
CPU come from os.wait4 (the child's own rusage), peak RSS from the child's VmHWM (see
measure() for why not ru_maxrss). Every run's summaries are
parsed: a run counts only if each target got its answer. Medians are reported. The
Markdown section between the ping markers of --out is rewritten; nothing else in
that file is touched. Raw runs go to benches/out/ping.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import benchlib  # noqa: E402  (benches/benchlib.py: helpers shared by the benchmarks)
from benchlib import REPO, log, machine, vm_hwm_kib  # noqa: E402

NAME = "ping"  # this benchmark's section of benches/README.md
HERE = Path(__file__).resolve().parent


def die(msg: str, code: int = 2) -> None:
    benchlib.die("ping", msg, code)


def tail(path: Path, lines: int = 15) -> str:
    return benchlib.tail(path, lines)


def build_probe() -> Path:
    return benchlib.build_release("bergamot-netprobes", "bergamot-probe", "ping", "pass --probe PATH to use an existing binary")


def write_section(path: Path, section: str) -> None:
    benchlib.write_section(path, NAME, section)


# --------------------------------------------------------------------------- measuring


def measure(cmd: list[str], env: dict, logdir: Path, tag: str) -> dict:
    """Run one child; wall from perf_counter, CPU from its wait4 rusage, peak RSS from
    /proc/PID/status VmHWM sampled every millisecond until it exits.

    Why not ru_maxrss: the child is forked (or vforked) from this Python process, and
    the kernel keeps the larger of the pre-exec and post-exec high-water marks, so
    every child would weigh at least as much as Python (~18 MiB: fping's 7 MiB read as
    19). VmHWM belongs to the exec'd image only; sampling can miss growth in the last
    millisecond, equally for both sides. ru_maxrss is kept in the raw JSON."""
    out_p, err_p = logdir / f"{tag}.stdout", logdir / f"{tag}.stderr"
    load_before = os.getloadavg()[0]
    hwm = 0
    with open(out_p, "wb") as out, open(err_p, "wb") as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            v = vm_hwm_kib(p.pid)
            # Before exec, /proc shows the forked Python image: take only what the
            # exec'd command reports (its name in /proc/PID/comm is no longer python).
            if v is not None and not _is_python(p.pid):
                hwm = max(hwm, v)
            time.sleep(0.001)
        wall = time.perf_counter() - t0
    return {
        "rc": os.waitstatus_to_exitcode(status),
        "wall_s": wall,
        "user_s": ru.ru_utime,
        "sys_s": ru.ru_stime,
        "cpu_s": ru.ru_utime + ru.ru_stime,
        "rss_kib": hwm,
        "ru_maxrss_kib": ru.ru_maxrss,
        "load_before": load_before,
        "stdout": str(out_p),
        "stderr": str(err_p),
    }


def _is_python(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().startswith("python")
    except OSError:
        return False


def answered(r: dict) -> tuple[int, int]:
    """(targets whose summary says 1/1/0%, summary lines) from fping-style stderr."""
    ok = lines = 0
    for line in Path(r["stderr"]).read_text(errors="replace").splitlines():
        if "xmt/rcv/%loss" in line:
            lines += 1
            ok += "= 1/1/0%" in line
    return ok, lines


def median_of(runs: list[dict]) -> dict:
    return {k: statistics.median(r[k] for r in runs) for k in ("wall_s", "cpu_s", "user_s", "sys_s", "rss_kib")}


# --------------------------------------------------------------------------- peers

def ensure_fping() -> str:
    path = shutil.which("fping")
    if path:
        return path
    if os.geteuid() != 0:
        die("fping is not installed and we are not root: run `apt-get install -y fping` first")
    log("installing fping: apt-get install -y fping")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    lock = ["-o", "DPkg::Lock::Timeout=600"]
    if subprocess.run(["apt-get", *lock, "install", "-y", "fping"], env=env).returncode != 0:
        subprocess.run(["apt-get", *lock, "update"], env=env)
        if subprocess.run(["apt-get", *lock, "install", "-y", "fping"], env=env).returncode != 0:
            die("`apt-get install -y fping` failed")
    path = shutil.which("fping")
    if not path:
        die("fping installed but not on PATH")
    return path


def fping_version(fping: str) -> str:
    try:
        out = subprocess.run([fping, "-v"], capture_output=True, text=True)
        return (out.stdout or out.stderr).split("Version")[-1].strip() or "?"
    except OSError:
        return "?"


def write_targets(path: Path, n: int) -> None:
    """127.0.x.y with y in 1..250: n distinct loopback addresses."""
    if n > 250 * 256:
        die(f"at most {250 * 256} targets fit in 127.0.0.0/16 this way")
    path.write_text("".join(f"127.0.{i // 250}.{i % 250 + 1}\n" for i in range(n)))


# --------------------------------------------------------------------------- report

def fmt_s(s):
    return "n/a" if s is None else (f"{s * 1000:.0f} ms" if s < 10 else f"{s:.1f} s")


def fmt_mib(kib):
    return "n/a" if kib is None else f"{kib / 1024:.1f} MiB"


SIDES = [
    ("fping", "fping"),
    ("uring", "bergamot-probe (io_uring)"),
    ("epoll", "bergamot-probe (epoll)"),
]


def render(med: dict, runs: dict, m: dict, meta: dict) -> str:
    n = meta["targets"]
    L = ["## ICMP echo: bergamot-probe ping vs fping\n"]
    L.append(f"{n:,} loopback targets (127.0.x.y; the kernel answers for all of 127/8), one echo "
             f"each, no pacing: `fping -q -c1 -i 0 -f LIST` (fping {meta['fping_version']}) and "
             "`bergamot-probe ping -q -c1 -i 0 -f LIST` with `BERGAMOT_IO=io-uring` and "
             "`BERGAMOT_IO=epoll`. Both print fping's per-target summary; a run counts only if "
             "every target answered.\n")
    L.append(f"Machine: {m['nproc']} CPUs ({m['cpu']}), Linux {m['kernel']}; {m['date']}; commit "
             f"{m['commit']}. Medians of {meta['repeats']} runs per side, interleaved; CPU = user + "
             "system; RSS = peak resident set of the command itself (VmHWM sampled every "
             "millisecond; ru_maxrss would count the forking Python's ~18 MiB).\n")
    loads = [r["load_before"] for rs in runs.values() for r in rs]
    if loads:
        L.append(f"1-minute load average before each run: {min(loads):.1f} to {max(loads):.1f} "
                 f"(above ~{m['nproc']} means other work shared the CPUs).\n")
    L.append("| side | wall | user | system | CPU | peak RSS | answered |")
    L.append("|---|---:|---:|---:|---:|---:|---:|")
    for key, label in SIDES:
        s = med.get(key)
        if not s:
            continue
        ok = min(r["answered"] for r in runs[key])
        L.append(f"| {label} | {fmt_s(s['wall_s'])} | {fmt_s(s['user_s'])} | {fmt_s(s['sys_s'])} "
                 f"| {fmt_s(s['cpu_s'])} | {fmt_mib(s['rss_kib'])} | {ok:,}/{n:,} |")
    L.append("")
    f = med.get("fping")
    rows = []
    for key, label in SIDES[1:]:
        s = med.get(key)
        if not (f and s):
            continue
        wall = f["wall_s"] / s["wall_s"]
        cpu = f["cpu_s"] / s["cpu_s"] if s["cpu_s"] > 0 else float("inf")
        rss = s["rss_kib"] / f["rss_kib"]
        rows.append((label, wall, cpu, rss))
    if rows:
        L.append("| ratio | wall fping/ours | CPU fping/ours | RSS ours/fping |")
        L.append("|---|---:|---:|---:|")
        for label, wall, cpu, rss in rows:
            L.append(f"| {label} | {wall:.2f}× | {cpu:.2f}× | {rss:.2f} |")
        L.append("")
    u, e = med.get("uring"), med.get("epoll")
    if u and e:
        L.append(f"io_uring vs epoll on the same load: wall {e['wall_s'] / u['wall_s']:.2f}×, "
                 f"CPU {e['cpu_s'] / u['cpu_s']:.2f}× (epoll/io_uring; above 1 means io_uring is "
                 "cheaper).\n")
    if rows:
        label, wall, cpu, _ = rows[0]
        met = wall >= 1.0 and cpu >= 1.0
        L.append(f"Goal: at most fping's CPU and wall time. {label}: {'met' if met else 'NOT met'} "
                 f"(fping/ours: wall {wall:.2f}×, CPU {cpu:.2f}×).\n")
    L.append(f"Reproduce: `{meta['command']}`")
    return "\n".join(L) + "\n"


# --------------------------------------------------------------------------- main

def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="bergamot-probe ping vs fping on loopback targets")
    ap.add_argument("--targets", type=int, default=10000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--probe", help="path to bergamot-probe (default: cargo build --release)")
    ap.add_argument("--out", default=str(REPO / "benches" / "README.md"))
    ap.add_argument("--no-write", action="store_true", help="print the table, leave --out alone")
    ap.add_argument("--keep", action="store_true", help="keep the target list and logs")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        die("run as root: both fping and bergamot-probe need raw ICMP sockets here "
            "(net.ipv4.ping_group_range is closed)")

    fping = ensure_fping()
    fver = fping_version(fping)
    exe = Path(args.probe).resolve() if args.probe else build_probe()
    if not exe.exists():
        die(f"--probe {exe} does not exist")

    work = Path(tempfile.mkdtemp(prefix="bergamot-ping-"))
    logdir = work / "logs"
    logdir.mkdir()
    try:
        small, big = work / "small.txt", work / "targets.txt"
        write_targets(small, 10)
        write_targets(big, args.targets)
        base_env = dict(os.environ)
        base_env.pop("BERGAMOT_IO", None)
        cmds = {
            "fping": ([fping, "-q", "-c1", "-i", "0", "-f", str(big)], base_env),
            "uring": ([str(exe), "ping", "-q", "-c1", "-i", "0", "-f", str(big)],
                      dict(base_env, BERGAMOT_IO="io-uring")),
            "epoll": ([str(exe), "ping", "-q", "-c1", "-i", "0", "-f", str(big)],
                      dict(base_env, BERGAMOT_IO="epoll")),
        }
        # Sanity: our summaries parse like fping's on a small list.
        r = measure([str(exe), "ping", "-q", "-c1", "-i", "0", "-f", str(small)], base_env, logdir, "probe")
        if r["rc"] != 0 or answered(r) != (10, 10):
            die(f"bergamot-probe ping is not usable for this benchmark (rc {r['rc']}):\n{tail(Path(r['stderr']))}")
        log(f"fping {fver}: {fping}\nbergamot-probe: {exe}\n{args.targets:,} targets, {args.repeats} repeats")

        runs: dict[str, list[dict]] = {k: [] for k in cmds}
        for k in range(args.repeats):
            for key, (cmd, env) in cmds.items():
                r = measure(cmd, env, logdir, f"{key}-{k}")
                ok, lines = answered(r)
                r["answered"] = ok
                log(f"   {key:5} run {k + 1}: wall {fmt_s(r['wall_s'])}, cpu {fmt_s(r['cpu_s'])} "
                    f"(user {fmt_s(r['user_s'])}, sys {fmt_s(r['sys_s'])}), rss {fmt_mib(r['rss_kib'])}, "
                    f"answered {ok}/{args.targets} (rc {r['rc']})")
                if lines != args.targets:
                    die(f"{key} printed {lines} summaries for {args.targets} targets:\n{tail(Path(r['stderr']))}")
                runs[key].append(r)
        # Medians over the runs where every target answered (a dropped reply under a
        # burst would make a run cheaper, not comparable).
        med = {}
        for key, rs in runs.items():
            full = [r for r in rs if r["answered"] == args.targets]
            if full:
                med[key] = median_of(full)
            else:
                log(f"   {key}: no run where every target answered")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"kept {work}")

    cmd = "benches/ping/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
    meta = {"targets": args.targets, "repeats": args.repeats, "fping_version": fver, "command": cmd.strip()}
    m = machine()
    section = render(med, runs, m, meta)
    print("\n" + section)
    raw = REPO / "benches" / "out" / "ping.json"
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(json.dumps({"machine": m, "meta": meta, "medians": med, "runs": runs}, indent=2))
    if not args.no_write:
        write_section(Path(args.out), section)
        log(f"wrote {args.out} (section <!-- {NAME}:begin --> … <!-- {NAME}:end -->); raw runs in {raw}")


if __name__ == "__main__":
    main()
