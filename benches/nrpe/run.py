#!/usr/bin/env python3
"""NRPE benchmark: `bergamot-probe nrpe --repeat N` (one process, many checks on the
io_uring/epoll driver) against N `check_nrpe` forks, to the same local nrpe 4.1.0, in
the same run, plaintext and TLS (the server's default: anonymous DH).

Usage:
  benches/nrpe/run.py [--checks 2000] [--concurrency 4] [--probe PATH]
                      [--repeats 3] [--repeats-slow 1] [--out benches/README.md]

Steps: install nrpe and check_nrpe if missing (Debian nagios-nrpe-server,
nagios-nrpe-plugin, as root); build bergamot-probe in release unless --probe is given;
start two nrpe servers on free loopback ports (`-n` and default TLS) with one command,
`check_bench` (`/bin/echo OK - bench`); check that both clients get `OK - bench` from
both; then measure, one child process at a time:

  - check_nrpe, N forks one after the other (what a fork-per-check scheduler pays);
  - check_nrpe, N forks with K running at once (same concurrency as ours);
  - bergamot-probe nrpe --repeat N --concurrency 1 and --concurrency K.

Wall time is from the first fork to the last exit; CPU is user+system of the client
processes from os.wait4 (their own rusage; the server's work is not in it), summed over
the forks; RSS is the peak resident set of one client process. Medians over repeats.
The Markdown section between the nrpe markers of --out is rewritten; nothing else in
that file is touched. Raw runs go to benches/out/nrpe.json.
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

NAME = "nrpe"  # this benchmark's section of benches/README.md
HERE = Path(__file__).resolve().parent


def die(msg: str, code: int = 2) -> None:
    benchlib.die("nrpe bench", msg, code)


def free_port() -> int:
    return benchlib.free_port()


def build_probe() -> Path:
    return benchlib.build_release("bergamot-netprobes", "bergamot-probe", "nrpe bench", "pass --probe PATH to use an existing binary")


def write_section(path: Path, section: str) -> None:
    benchlib.write_section(path, NAME, section)


NRPE = "/usr/sbin/nrpe"
CHECK_NRPE = "/usr/lib/nagios/plugins/check_nrpe"
GOAL_CPU = 20.0   # check_nrpe client CPU per check / ours must be at least this
GOAL_WALL = 5.0   # check_nrpe wall per check / ours must be at least this
EXPECTED = b"OK - bench\n"
# What both clients print from the forkless responder (netprobes/examples/nrpe_responder).
EXPECTED_RESPONDER = b"OK - bench|time=0.001s\n"
# The mode that runs against the responder instead of nrpe.
RESPONDER = "plaintext, forkless responder"


# --------------------------------------------------------------------------- peers

def ensure_peers() -> None:
    if os.path.exists(NRPE) and os.path.exists(CHECK_NRPE):
        return
    if os.geteuid() != 0:
        die("nrpe/check_nrpe are not installed and we are not root: run "
            "`apt-get update && apt-get install -y nagios-nrpe-server nagios-nrpe-plugin` first")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "nagios-nrpe-server", "nagios-nrpe-plugin"]
    log("installing: " + " ".join(install))
    if subprocess.run(install, env=env).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env)
        if subprocess.run(install, env=env).returncode != 0:
            die(f"`{' '.join(install)}` failed")


def nrpe_version() -> str:
    out = subprocess.run([NRPE, "--version"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
    return "?"


class Server:
    """An nrpe on 127.0.0.1 (run as `nagios` by nrpe itself), stopped by PID."""

    def __init__(self, work: Path, name: str, tls: bool):
        self.dir = work / name
        self.dir.mkdir(parents=True)
        os.chmod(self.dir, 0o777)
        self.port = free_port()
        self.log = self.dir / "nrpe.log"
        self.log.write_text("")
        os.chmod(self.log, 0o666)
        cfg = self.dir / "nrpe.cfg"
        cfg.write_text(
            f"server_address=127.0.0.1\nserver_port={self.port}\nallowed_hosts=127.0.0.1\n"
            f"log_file={self.log}\npid_file={self.dir}/nrpe.pid\ndisable_syslog=1\ndebug=0\n"
            "nrpe_user=nagios\nnrpe_group=nagios\ncommand_timeout=60\nconnection_timeout=300\n"
            "command[check_bench]=/bin/echo OK - bench\n")
        os.chmod(cfg, 0o644)
        cmd = [NRPE, "-c", str(cfg), "-f"] + ([] if tls else ["-n"])
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(400):
            if "Listening for connections" in self.log.read_text(errors="replace"):
                return
            if self.proc.poll() is not None:
                die(f"nrpe exited ({self.proc.returncode}) before listening:\n{self.log.read_text()}")
            time.sleep(0.025)
        die(f"nrpe not listening after 10 s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def build_responder() -> Path:
    return benchlib.build_example("bergamot-netprobes", "nrpe_responder", "nrpe bench",
                                  "the responder mode needs it")


class Responder:
    """The benchmark's own plaintext NRPE responder (one thread, epoll, no fork per
    query): what the clients cost when the server costs almost nothing."""

    def __init__(self, exe: Path):
        self.port = free_port()
        self.proc = subprocess.Popen([str(exe), "--listen", f"127.0.0.1:{self.port}"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if benchlib.wait_listening(self.port, 10.0, lambda: self.proc.poll() is None):
            return
        if self.proc.poll() is not None:
            die(f"nrpe_responder exited ({self.proc.returncode}) before listening")
        die("nrpe_responder not listening after 10 s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# --------------------------------------------------------------------------- ours


# --------------------------------------------------------------------------- measuring

def check_nrpe_cmd(port: int, tls: bool) -> list[str]:
    return [CHECK_NRPE, "-H", "127.0.0.1", "-p", str(port), "-c", "check_bench"] + ([] if tls else ["-n"])


def probe_cmd(exe: Path, port: int, tls: bool, n: int, k: int) -> list[str]:
    return ([str(exe), "nrpe", "-H", "127.0.0.1", "-p", str(port), "-c", "check_bench"]
            + ([] if tls else ["-n"]) + ["--repeat", str(n), "--concurrency", str(k)])


def busy_cpu_s() -> float:
    """CPU seconds the whole machine has spent busy (not idle or iowait) since boot,
    from /proc/stat: the difference over a run is client + server + anything else."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(fields) - fields[3] - fields[4]) / hz


def run_forks(cmd: list[str], n: int, k: int, expected: bytes) -> dict:
    """n forks of cmd, at most k at once; every one must print `expected` and exit 0."""
    busy0 = busy_cpu_s()
    r = benchlib.run_forks(cmd, n, k, lambda rc, out: rc == 0 and out == expected)
    r["busy_s"] = busy_cpu_s() - busy0
    return r


def run_one(cmd: list[str], n: int, expected: bytes) -> dict:
    """One child doing all n checks. Its peak RSS is sampled from /proc (VmHWM) while
    it runs: wait4's ru_maxrss would include the pages of this Python process, which
    the child shares until it execs (vfork)."""
    load_before = os.getloadavg()[0]
    busy0 = busy_cpu_s()
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
    busy = busy_cpu_s() - busy0
    out = p.stdout.read() if p.stdout else b""
    err = p.stderr.read().decode(errors="replace") if p.stderr else ""
    rc = os.waitstatus_to_exitcode(status)
    ok = rc == 0 and out == expected and f"{n} checks in" in err and f": {n} OK," in err
    resumed = 0
    if "TLS sessions resumed" in err:
        try:
            resumed = int(err.rsplit(";", 1)[1].split()[0])
        except (IndexError, ValueError):
            resumed = 0
    return {"wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime, "rss_kib": hwm,
            "failed": 0 if ok else n, "first_bad": None if ok else f"exit {rc}: {out[:200]!r} {err[-300:]}",
            "resumed": resumed, "load_before": load_before, "busy_s": busy}


def median_of(runs: list[dict]) -> dict:
    m = {k: statistics.median(r[k] for r in runs) for k in ("wall_s", "cpu_s", "busy_s")}
    rss = [r["rss_kib"] for r in runs if r["rss_kib"]]
    m["rss_kib"] = max(rss) if rss else None
    m["failed"] = max(r["failed"] for r in runs)
    m["resumed"] = max(r.get("resumed", 0) for r in runs)
    return m


# --------------------------------------------------------------------------- report

def fmt_t(s: float) -> str:
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.0f} µs"


def fmt_mib(kib) -> str:
    return "–" if not kib else f"{kib / 1024:.1f} MiB"


def fmt_x(v) -> str:
    return "n/a" if v is None else f"{v:.1f}×"


ROWS = [
    ("check_nrpe_seq", "check_nrpe, one fork after another"),
    ("check_nrpe_par", "check_nrpe, {k} forks at once"),
    ("ours_seq", "bergamot-probe, one process, 1 at once"),
    ("ours_par", "bergamot-probe, one process, {k} at once"),
]


def render(results: dict, m: dict, meta: dict) -> str:
    n, k = meta["checks"], meta["concurrency"]
    L = ["## NRPE: bergamot-probe vs check_nrpe\n"]
    L.append(f"{n:,} checks of one command (`/bin/echo OK - bench`) against a local nrpe "
             f"{meta['nrpe_version']} (Debian), plaintext (`nrpe -n`, `-n` on the clients) and TLS "
             "(the server's default without a certificate: anonymous DH). check_nrpe: one process per "
             f"check, as a fork-per-check scheduler runs it, one after another and {k} at once. "
             f"bergamot-probe: `bergamot-probe nrpe … --repeat {n} --concurrency K`, one process, "
             "checks on the io_uring driver; with TLS it resumes the first check's session (the "
             "server's ticket), so later checks skip the key exchange that check_nrpe pays every time. "
             f"A third mode, *{RESPONDER}*, runs both clients against the benchmark's own plaintext "
             "responder (`netprobes/examples/nrpe_responder`: one thread, no fork per query) to show "
             "what the clients cost when the server costs next to nothing; it is not the goal's server.\n")
    L.append(f"Machine: {m['nproc']} CPUs ({m['cpu']}), Linux {m['kernel']}; {m['date']}; commit "
             f"{m['commit']}. Medians of {meta['repeats']} runs ({meta['repeats_slow']} for check_nrpe "
             "over TLS one after another). Client CPU = user + system of the client processes "
             "(os.wait4), the server's not included; RSS = peak resident set of the bergamot-probe "
             "process (VmHWM sampled while it runs; a check_nrpe fork is too short-lived to sample).\n")
    loads = [r["load_before"] for mode in results.values() for runs in mode["runs"].values() for r in runs]
    if loads:
        L.append(f"1-minute load average before each run: {min(loads):.1f} to {max(loads):.1f} "
                 f"(above ~{m['nproc']} means other work shared the CPUs; wall times suffer first).\n")
    L.append("| mode | client | wall | wall/check | client CPU/check | peak RSS | failed |")
    L.append("|---|---|---:|---:|---:|---:|---:|")
    for mode, res in results.items():
        for key, label in ROWS:
            r = res["median"].get(key)
            if not r:
                continue
            extra = f" ({r['resumed']:,} resumed)" if key.startswith("ours") and mode == "TLS" else ""
            L.append(f"| {mode} | {label.format(k=k)}{extra} | {fmt_t(r['wall_s'])} | {fmt_t(r['wall_s'] / n)} "
                     f"| {fmt_t(r['cpu_s'] / n)} | {fmt_mib(r['rss_kib'])} | {r['failed']} |")
    L.append("")
    L.append("Ratios (check_nrpe / bergamot-probe, per check):\n")
    L.append("| mode | client CPU (vs check_nrpe one after another) | wall, both one at a time "
             f"| wall, check_nrpe one after another vs ours {k} at once | wall, both {k} at once |")
    L.append("|---|---:|---:|---:|---:|")
    goals = []
    for mode, res in results.items():
        md = res["median"]
        def ratio(a, b, field):
            if a in md and b in md and md[b][field] > 0:
                return md[a][field] / md[b][field]
            return None
        cpu = ratio("check_nrpe_seq", "ours_par", "cpu_s")
        w11 = ratio("check_nrpe_seq", "ours_seq", "wall_s")
        w1k = ratio("check_nrpe_seq", "ours_par", "wall_s")
        wkk = ratio("check_nrpe_par", "ours_par", "wall_s")
        res["ratios"] = {"cpu": cpu, "wall_seq_seq": w11, "wall_seq_par": w1k, "wall_par_par": wkk}
        L.append(f"| {mode} | {fmt_x(cpu)} | {fmt_x(w11)} | {fmt_x(w1k)} | {fmt_x(wkk)} |")
        if cpu is not None and w1k is not None and mode != RESPONDER:
            ok = cpu >= GOAL_CPU and w1k >= GOAL_WALL
            goals.append(f"{mode}: {cpu:.1f}× less CPU, {w1k:.1f}× less wall ({'met' if ok else 'NOT met'})")
    L.append("")
    L.append(f"Goal: at least {GOAL_CPU:.0f}× less client CPU and {GOAL_WALL:.0f}× less wall per check than "
             f"{n:,} check_nrpe forks (one after another, ours {k} at once). "
             + ("; ".join(goals) + "." if goals else "Not evaluated."))
    light = results.get(RESPONDER, {}).get("ratios", {})
    if light.get("cpu") and light.get("wall_seq_par"):
        L.append("")
        L.append(f"Against the forkless responder the same clients differ by {light['cpu']:.1f}× in CPU "
                 f"and {light['wall_seq_par']:.1f}× in wall per check: what the client itself costs, once "
                 "the server no longer sets the pace.")
        heavy = results.get("plaintext", {}).get("median", {}).get("ours_par")
        quick = results.get(RESPONDER, {}).get("median", {}).get("ours_par")
        if heavy and quick:
            L.append(f"The same bergamot-probe spends {fmt_t(heavy['cpu_s'] / n)} a check against nrpe and "
                     f"{fmt_t(quick['cpu_s'] / n)} against the responder. The difference is waiting: nrpe "
                     "answers a millisecond or more later, so the client goes to sleep and is woken once "
                     "per answer, as check_nrpe is (a perf profile of the client against nrpe puts 14 % of "
                     "its CPU in the scheduler switching it back in); the responder answers before it "
                     "sleeps.")
    L.append("")
    L.append("Wall per check is bounded by the server: for every connection nrpe forks a child, "
             "which forks again, drops privileges in a third process (reading /etc/passwd and "
             "/etc/group) and runs the command through `popen` (`/bin/sh -c`, which forks the "
             "command): five processes and two execs a check, whoever the client is. The machine's "
             "busy CPU time over our runs (/proc/stat) minus our client's gives the server's CPU per "
             "check; spread over every CPU it is the least wall per check any client can reach, and "
             "check_nrpe's wall divided by it is the best wall ratio this server allows:\n")
    L.append("| mode | server (and other) CPU/check during ours | floor wall/check on "
             f"{m['nproc']} CPUs | ours {k} at once | best possible wall ratio |")
    L.append("|---|---:|---:|---:|---:|")
    for mode, res in results.items():
        md = res["median"]
        if "ours_par" not in md or "check_nrpe_seq" not in md:
            continue
        srv = max(0.0, md["ours_par"]["busy_s"] - md["ours_par"]["cpu_s"]) / n
        floor = srv / max(1, m["nproc"])
        best = md["check_nrpe_seq"]["wall_s"] / n / floor if floor > 0 else None
        res["floor"] = {"server_cpu_per_check_s": srv, "floor_wall_per_check_s": floor, "best_wall_ratio": best}
        L.append(f"| {mode} | {fmt_t(srv)} | {fmt_t(floor)} | {fmt_t(md['ours_par']['wall_s'] / n)} | {fmt_x(best)} |")
    L.append("")
    L.append(f"Reproduce: `{meta['command']}`")
    return "\n".join(L) + "\n"


# --------------------------------------------------------------------------- main

def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="bergamot-probe nrpe vs check_nrpe")
    ap.add_argument("--checks", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=4,
                    help="checks in flight at once (nrpe's listen backlog is 5; default %(default)s)")
    ap.add_argument("--probe", help="path to bergamot-probe (default: cargo build --release)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--repeats-slow", type=int, default=1,
                    help="repeats of check_nrpe over TLS one after another (~70 ms a check)")
    ap.add_argument("--modes", default=f"plaintext,TLS,{RESPONDER}",
                    help="plaintext and TLS against nrpe; the responder mode against the forkless "
                         "responder (default: all three)")
    ap.add_argument("--out", default=str(REPO / "benches" / "README.md"))
    ap.add_argument("--no-write", action="store_true", help="print the table, leave --out alone")
    args = ap.parse_args(argv)
    n, k = args.checks, max(1, args.concurrency)
    modes = [m.strip() for m in args.modes.replace(RESPONDER, "@R").split(",") if m.strip()]
    modes = [RESPONDER if m == "@R" else m for m in modes]

    ensure_peers()
    version = nrpe_version()
    exe = Path(args.probe).resolve() if args.probe else build_probe()
    if not exe.exists():
        die(f"--probe {exe} does not exist")
    log(f"nrpe {version}; bergamot-probe: {exe}")

    work = Path(tempfile.mkdtemp(prefix="bergamot-nrpe-bench-"))
    os.chmod(work, 0o755)
    servers = []
    results = {}
    try:
        for mode in modes:
            tls = mode.lower() == "tls"
            expected = EXPECTED_RESPONDER if mode == RESPONDER else EXPECTED
            srv = Responder(build_responder()) if mode == RESPONDER else Server(work, mode.lower(), tls)
            servers.append(srv)
            # Both clients must get the answer before anything is timed.
            for cmd in (check_nrpe_cmd(srv.port, tls), probe_cmd(exe, srv.port, tls, 1, 1)):
                out = subprocess.run(cmd, capture_output=True)
                if out.returncode != 0 or out.stdout != expected:
                    die(f"`{' '.join(cmd)}` exits {out.returncode} with {out.stdout!r} {out.stderr!r}")
            log(f"\n== {mode}: nrpe on port {srv.port}")
            plan = [
                ("check_nrpe_seq", lambda: run_forks(check_nrpe_cmd(srv.port, tls), n, 1, expected),
                 args.repeats_slow if tls else args.repeats),
                ("check_nrpe_par", lambda: run_forks(check_nrpe_cmd(srv.port, tls), n, k, expected), args.repeats),
                ("ours_seq", lambda: run_one(probe_cmd(exe, srv.port, tls, n, 1), n, expected), args.repeats),
                ("ours_par", lambda: run_one(probe_cmd(exe, srv.port, tls, n, k), n, expected), args.repeats),
            ]
            runs: dict[str, list] = {key: [] for key, _, _ in plan}
            # Interleaved rounds, so drift in the machine's load hits every client alike.
            for rnd in range(max(r for _, _, r in plan)):
                for key, fn, reps in plan:
                    if rnd >= reps:
                        continue
                    r = fn()
                    if r["failed"]:
                        die(f"{mode} {key}: {r['failed']} of {n} checks failed; first: {r['first_bad']}")
                    runs[key].append(r)
                    log(f"   {key:15} round {rnd + 1}: wall {fmt_t(r['wall_s'])} ({fmt_t(r['wall_s'] / n)}/check), "
                        f"cpu {fmt_t(r['cpu_s'] / n)}/check, rss {fmt_mib(r['rss_kib'])}, "
                        f"load {r['load_before']:.1f}")
            results[mode] = {"runs": runs, "median": {key: median_of(v) for key, v in runs.items() if v}}
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(work, ignore_errors=True)

    # The reproduce line leaves out --probe: by default the script builds its own.
    shown, skip = [], False
    for a in (argv if argv is not None else sys.argv[1:]):
        if skip:
            skip = False
        elif a == "--probe":
            skip = True
        elif not a.startswith("--probe="):
            shown.append(a)
    cmd = "benches/nrpe/run.py " + " ".join(shown)
    meta = {"checks": n, "concurrency": k, "nrpe_version": version, "repeats": args.repeats,
            "repeats_slow": args.repeats_slow, "command": cmd.strip()}
    m = machine()
    section = render(results, m, meta)
    print("\n" + section)
    raw = REPO / "benches" / "out" / "nrpe.json"
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(json.dumps({"machine": m, "meta": meta, "results": results}, indent=2))
    if not args.no_write:
        write_section(Path(args.out), section)
        log(f"wrote {args.out} (section <!-- {NAME}:begin --> … <!-- {NAME}:end -->); raw runs in {raw}")


if __name__ == "__main__":
    main()
