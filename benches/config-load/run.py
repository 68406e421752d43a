#!/usr/bin/env python3
"""Config-load benchmark: Bergamot `bergamot-cli config validate` against Icinga 2
`icinga2 daemon -C`, on the same generated estate, in the same run.

Usage:
  benches/config-load/run.py [--sizes 1000,10000,100000] [--bergamot PATH]
                             [--out benches/README.md] [--icinga-only] [--keep]

Steps: install Icinga 2 if missing (Debian `icinga2-bin`, as root); build
bergamot-cli in release unless --bergamot is given; check that `config validate`
accepts a small generated estate and refuses a broken one; then, per size, generate
the estate (gen_estate.py) into a temp dir and measure each side several times, one
child process at a time: wall time, user+system CPU and peak RSS from os.wait4 (the
child's own rusage, including any children it reaped). Medians are reported. The
Markdown section between the config-load markers of --out is rewritten; nothing
else in that file is touched. Raw runs go to benches/out/config-load.json.
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
from benchlib import REPO, log, machine  # noqa: E402

NAME = "config-load"  # this benchmark's section of benches/README.md
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import gen_estate  # noqa: E402


def die(msg: str, code: int = 2) -> None:
    benchlib.die("config-load", msg, code)


def tail(path: Path, lines: int = 25) -> str:
    return benchlib.tail(path, lines)


def build_bergamot() -> Path:
    return benchlib.build_release("bergamot-daemon", "bergamot-cli", "config-load", "pass --bergamot PATH to use an existing binary, or --icinga-only to measure Icinga alone")


def write_section(path: Path, section: str) -> None:
    benchlib.write_section(path, NAME, section)

GOAL_SPEED = 20.0   # Icinga wall / Bergamot wall must be at least this
GOAL_MEMORY = 0.25  # Bergamot RSS / Icinga RSS must be at most this


# --------------------------------------------------------------------------- measuring

def measure(cmd: list[str], logdir: Path, tag: str) -> dict:
    """Run one child; wall from perf_counter, CPU and peak RSS from its wait4 rusage."""
    out_p, err_p = logdir / f"{tag}.stdout", logdir / f"{tag}.stderr"
    load_before = os.getloadavg()[0]
    with open(out_p, "wb") as out, open(err_p, "wb") as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        _pid, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    return {
        "rc": p.returncode,
        "wall_s": wall,
        "user_s": ru.ru_utime,
        "sys_s": ru.ru_stime,
        "cpu_s": ru.ru_utime + ru.ru_stime,
        "rss_kib": ru.ru_maxrss,  # KiB on Linux
        "load_before": load_before,  # 1-min load average: others sharing the machine
        "stdout": str(out_p),
        "stderr": str(err_p),
    }


def check_ok(r: dict, what: str) -> None:
    if r["rc"] != 0:
        print(f"\n{what} exited {r['rc']}. stderr tail:\n{tail(Path(r['stderr']))}\n"
              f"stdout tail:\n{tail(Path(r['stdout']))}", file=sys.stderr)
        die(f"{what} failed", 1)


def median_of(runs: list[dict]) -> dict:
    return {k: statistics.median(r[k] for r in runs) for k in ("wall_s", "cpu_s", "user_s", "sys_s", "rss_kib")}


# --------------------------------------------------------------------------- Icinga 2

def ensure_icinga() -> str:
    path = shutil.which("icinga2")
    if path:
        return path
    if os.geteuid() != 0:
        die("icinga2 is not installed and we are not root: run "
            "`apt-get update && apt-get install -y icinga2-bin` first")
    log("installing Icinga 2: apt-get update && apt-get install -y icinga2-bin")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "icinga2-bin"]):
        if subprocess.run(cmd, env=env).returncode != 0:
            die(f"`{' '.join(cmd)}` failed")
    path = shutil.which("icinga2")
    if not path:
        die("icinga2-bin installed but `icinga2` is not on PATH")
    return path


def icinga_version(icinga: str) -> str:
    try:
        out = subprocess.run([icinga, "--version"], capture_output=True, text=True).stdout
        return out.splitlines()[0].split("version:")[-1].strip(" )") if out else "?"
    except OSError:
        return "?"


def icinga_cmd(icinga: str, conf: Path, scratch: Path) -> list[str]:
    """`daemon -C` as whoever we are: without RunAsUser Icinga drops to `nagios` and
    then cannot write its objects/vars cache; the cache, state, log and run dirs are
    pointed at a scratch dir so nothing under /var is touched."""
    import grp
    import pwd
    user = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    for d in ("cache", "state", "log", "run"):
        (scratch / d).mkdir(parents=True, exist_ok=True)
    return [icinga, "daemon", "-C", "-c", str(conf),
            f"-DRunAsUser={user}", f"-DRunAsGroup={group}",
            f"-DCacheDir={scratch / 'cache'}", f"-DStateDir={scratch / 'state'}",
            f"-DLogDir={scratch / 'log'}", f"-DRunDir={scratch / 'run'}",
            f"-DInitRunDir={scratch / 'run'}"]


# --------------------------------------------------------------------------- Bergamot


def bergamot_cmd(exe: Path, args_template: str, confdir: Path) -> list[str]:
    return [str(exe)] + [a.replace("{dir}", str(confdir)) for a in args_template.split()]


def probe_bergamot(exe: Path, args_template: str, work: Path) -> str | None:
    """None when `config validate` accepts a small estate and refuses a broken one,
    else the reason it cannot be benchmarked yet."""
    est = work / "probe"
    gen_estate.generate(20, str(est), seed=7)
    good = est / "bergamot"
    r = measure(bergamot_cmd(exe, args_template, good), work, "probe-good")
    if r["rc"] != 0:
        return (f"`{' '.join(bergamot_cmd(exe, args_template, good))}` exits {r['rc']} on a "
                f"valid 20-host estate.\nstderr tail:\n{tail(Path(r['stderr']))}")
    bad = est / "bergamot-broken"
    shutil.copytree(good, bad)
    (bad / "broken.xml").write_text(
        f'<bergamot site="{gen_estate.SITE}">\n'
        '    <host name="broken-host" extends="no-such-template" location="no-such-location">\n'
        '        <check-command command="no-such-command"/>\n'
        '    </host>\n</bergamot>\n')
    r = measure(bergamot_cmd(exe, args_template, bad), work, "probe-bad")
    if r["rc"] == 0:
        return ("`config validate` exits 0 on a configuration with an unknown parent, "
                "location and command: it does not validate yet (stub?)")
    return None


# --------------------------------------------------------------------------- report

def fmt_s(s):
    return "n/a" if s is None else (f"{s * 1000:.0f} ms" if s < 1 else f"{s:.2f} s")


def fmt_mib(kib):
    return "n/a" if kib is None else f"{kib / 1024:.0f} MiB"


def fmt_x(v, digits=1):
    return "n/a" if v is None else f"{v:.{digits}f}×"


def render(results: list[dict], m: dict, meta: dict) -> str:
    L = []
    L.append("## Config load: Bergamot vs Icinga 2\n")
    L.append("Load + resolve + validate of a generated estate (`gen_estate.py`): one site, "
             "5 time periods, 20 locations, 50 groups, 10 teams, 100 contacts, 14 commands, "
             "a `linux-server` host template with 10 services; ~5% of hosts carry an extra "
             "http service, ~5% an overridden notify. Bergamot: `bergamot-cli "
             f"{meta['bergamot_args']}`. Icinga 2 {meta['icinga_version']}: `icinga2 daemon -C` "
             "on the same estate in its DSL (apply rules for the services, one Notification "
             "per host and per service, own minimal `icinga2.conf`: no ITL, no features).\n")
    L.append(f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['mem']}, Linux {m['kernel']}; "
             f"{m['date']}; commit {m['commit']}. Medians of {meta['repeats_bergamot']} Bergamot "
             f"runs and {meta['repeats_icinga']} Icinga runs ({meta['repeats_icinga_large']} at "
             f"N ≥ {meta['large']}); CPU = user + system; RSS = peak resident set (ru_maxrss).\n")
    loads = [r["load_before"] for row in results for runs in row["runs"].values() for r in runs]
    if loads:
        L.append(f"1-minute load average before each run: {min(loads):.1f} to {max(loads):.1f} "
                 f"(above ~{m['nproc']} means other work shared the CPUs and wall times are inflated; "
                 "CPU and RSS are less affected).\n")
    if meta.get("bergamot_missing"):
        L.append(f"**Bergamot not measured:** {meta['bergamot_missing']}\n")
    L.append("| hosts | services | Bergamot wall | Bergamot CPU | Bergamot RSS "
             "| Icinga wall | Icinga CPU | Icinga RSS | wall Icinga/Bergamot "
             "| CPU Icinga/Bergamot | RSS Bergamot/Icinga |")
    L.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        b, i = r.get("bergamot"), r.get("icinga")
        wall = i["wall_s"] / b["wall_s"] if b and i else None
        cpu = i["cpu_s"] / b["cpu_s"] if b and i and b["cpu_s"] > 0 else None
        mem = b["rss_kib"] / i["rss_kib"] if b and i else None
        r["ratios"] = {"wall": wall, "cpu": cpu, "rss": mem}
        L.append(f"| {r['hosts']:,} | {r['services']:,} "
                 f"| {fmt_s(b and b['wall_s'])} | {fmt_s(b and b['cpu_s'])} | {fmt_mib(b and b['rss_kib'])} "
                 f"| {fmt_s(i and i['wall_s'])} | {fmt_s(i and i['cpu_s'])} | {fmt_mib(i and i['rss_kib'])} "
                 f"| {fmt_x(wall)} | {fmt_x(cpu)} | {'n/a' if mem is None else f'{mem:.2f}'} |")
    if any(r.get("icinga_skipped") for r in results):
        for r in results:
            if r.get("icinga_skipped"):
                L.append(f"\nIcinga not run at {r['hosts']:,} hosts: {r['icinga_skipped']}")
    L.append("")
    L.append("Cost per host (wall and peak RSS divided by N; growth = per-host wall relative "
             "to the previous size, 1.00× = linear):\n")
    L.append("| hosts | Bergamot wall/host | growth | Bergamot RSS/host | Icinga wall/host | growth | Icinga RSS/host |")
    L.append("|---:|---:|---:|---:|---:|---:|---:|")
    prev = {}
    for r in results:
        cells = [f"{r['hosts']:,}"]
        for side in ("bergamot", "icinga"):
            s = r.get(side)
            if not s:
                cells += ["n/a", "n/a", "n/a"]
                prev.pop(side, None)
                continue
            per = s["wall_s"] / r["hosts"]
            g = f"{per / prev[side]:.2f}×" if side in prev else "–"
            prev[side] = per
            cells += [f"{per * 1e6:.1f} µs", g, f"{s['rss_kib'] / r['hosts']:.1f} KiB"]
        L.append("| " + " | ".join(cells) + " |")
    L.append("")
    goals = []
    for r in results:
        ra = r.get("ratios") or {}
        if ra.get("wall") is not None:
            ok = ra["wall"] >= GOAL_SPEED and ra["rss"] <= GOAL_MEMORY
            goals.append(f"{r['hosts']:,}: {ra['wall']:.1f}× faster, {ra['rss']:.2f} of the memory "
                         f"({'met' if ok else 'NOT met'})")
    L.append(f"Goal: at least {GOAL_SPEED:.0f}× faster than Icinga 2 with at most "
             f"{GOAL_MEMORY:.2f} of its memory, growing linearly with N. "
             + ("; ".join(goals) + "." if goals else "Not evaluated (Bergamot not measured)."))
    L.append("")
    L.append(f"Reproduce: `{meta['command']}`")
    return "\n".join(L) + "\n"


# --------------------------------------------------------------------------- main

def mem_available_kib() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="Bergamot vs Icinga 2 config-load benchmark")
    ap.add_argument("--sizes", default="1000,10000,100000", help="comma-separated host counts")
    ap.add_argument("--bergamot", help="path to bergamot-cli (default: cargo build --release)")
    ap.add_argument("--bergamot-args", default="config validate {dir}",
                    help="arguments after bergamot-cli; {dir} is the config dir (default: %(default)s)")
    ap.add_argument("--out", default=str(REPO / "benches" / "README.md"))
    ap.add_argument("--repeats-bergamot", type=int, default=3)
    ap.add_argument("--repeats-icinga", type=int, default=3)
    ap.add_argument("--repeats-icinga-large", type=int, default=1,
                    help="Icinga repeats at N >= --large (it is slow there)")
    ap.add_argument("--large", type=int, default=100000)
    ap.add_argument("--icinga-max-hosts", type=int,
                    help="skip Icinga above this many hosts (it needs ~100 KiB RAM and ~40 KB of "
                         "objects dump per host)")
    ap.add_argument("--icinga-only", action="store_true",
                    help="measure Icinga alone when bergamot-cli cannot validate yet")
    ap.add_argument("--workdir", help="where estates go (default: a temp dir, removed at the end)")
    ap.add_argument("--keep", action="store_true", help="keep generated estates and logs")
    ap.add_argument("--no-write", action="store_true", help="print the table, leave --out alone")
    args = ap.parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]

    icinga = ensure_icinga()
    iver = icinga_version(icinga)
    log(f"icinga2: {icinga} ({iver})")

    work = Path(args.workdir or tempfile.mkdtemp(prefix="bergamot-config-load-"))
    work.mkdir(parents=True, exist_ok=True)
    logdir = work / "logs"
    logdir.mkdir(exist_ok=True)

    results = []
    prev_icinga = None
    bergamot_missing = None
    exe = None
    try:
        if args.bergamot:
            exe = Path(args.bergamot).resolve()
            if not exe.exists():
                die(f"--bergamot {exe} does not exist")
        elif not args.icinga_only:
            exe = build_bergamot()
        else:
            bergamot_missing = "run with --icinga-only."
        if exe is not None:
            reason = probe_bergamot(exe, args.bergamot_args, work)
            if reason:
                if not args.icinga_only:
                    die(f"bergamot-cli is not usable for this benchmark yet:\n{reason}\n\n"
                        "Use --icinga-only to measure the Icinga 2 side alone.")
                bergamot_missing = reason.splitlines()[0]
                exe = None
            else:
                log(f"bergamot-cli: {exe} (probe ok: accepts a valid estate, refuses a broken one)")

        for n in sizes:
            est = work / f"estate-{n}"
            if est.exists():
                shutil.rmtree(est)
            t0 = time.perf_counter()
            counts = gen_estate.generate(n, str(est))
            log(f"\n== N={n:,}: {counts['hosts']:,} hosts, {counts['services']:,} services on both sides "
                f"(generated in {time.perf_counter() - t0:.1f} s)")
            row = {"hosts": n, "services": counts["services"], "counts": counts, "runs": {}}

            if exe is not None:
                runs = []
                for k in range(args.repeats_bergamot):
                    r = measure(bergamot_cmd(exe, args.bergamot_args, est / "bergamot"), logdir, f"bergamot-{n}-{k}")
                    check_ok(r, f"bergamot-cli ({n} hosts)")
                    log(f"   bergamot run {k + 1}: wall {fmt_s(r['wall_s'])}, cpu {fmt_s(r['cpu_s'])}, "
                        f"rss {fmt_mib(r['rss_kib'])}")
                    runs.append(r)
                row["runs"]["bergamot"] = runs
                row["bergamot"] = median_of(runs)

            skip = None
            if args.icinga_max_hosts is not None and n > args.icinga_max_hosts:
                skip = f"above --icinga-max-hosts {args.icinga_max_hosts:,}"
            avail = mem_available_kib()
            if not skip and prev_icinga and avail:
                need = prev_icinga[1] * n / prev_icinga[0] * 1.2
                if need > avail:
                    skip = (f"needs about {need / 1048576:.1f} GiB by extrapolation, "
                            f"{avail / 1048576:.1f} GiB available")
            if skip:
                log(f"   icinga skipped: {skip}")
                row["icinga_skipped"] = skip
            else:
                runs = []
                reps = args.repeats_icinga_large if n >= args.large else args.repeats_icinga
                for k in range(reps):
                    scratch = work / "icinga-scratch"
                    shutil.rmtree(scratch, ignore_errors=True)
                    r = measure(icinga_cmd(icinga, est / "icinga2" / "icinga2.conf", scratch), logdir, f"icinga-{n}-{k}")
                    shutil.rmtree(scratch, ignore_errors=True)  # objects dump: ~40 KB per host
                    check_ok(r, f"icinga2 daemon -C ({n} hosts)")
                    log(f"   icinga   run {k + 1}: wall {fmt_s(r['wall_s'])}, cpu {fmt_s(r['cpu_s'])}, "
                        f"rss {fmt_mib(r['rss_kib'])}")
                    runs.append(r)
                row["runs"]["icinga"] = runs
                row["icinga"] = median_of(runs)
                prev_icinga = (n, row["icinga"]["rss_kib"])
            results.append(row)
            if not args.keep:
                shutil.rmtree(est, ignore_errors=True)
    finally:
        if not args.keep and not args.workdir:
            shutil.rmtree(work, ignore_errors=True)

    cmd = "benches/config-load/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
    meta = {
        "bergamot_args": args.bergamot_args.replace("{dir}", "DIR/bergamot"),
        "icinga_version": iver,
        "repeats_bergamot": args.repeats_bergamot,
        "repeats_icinga": args.repeats_icinga,
        "repeats_icinga_large": args.repeats_icinga_large,
        "large": f"{args.large:,}",
        "bergamot_missing": bergamot_missing,
        "command": cmd.strip(),
    }
    m = machine()
    section = render(results, m, meta)
    print("\n" + section)

    raw = REPO / "benches" / "out" / "config-load.json"
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(json.dumps({"machine": m, "meta": meta, "results": results}, indent=2))
    if not args.no_write:
        write_section(Path(args.out), section)
        log(f"wrote {args.out} (section <!-- {NAME}:begin --> … <!-- {NAME}:end -->); raw runs in {raw}")
    if bergamot_missing and not args.icinga_only:
        sys.exit(2)


if __name__ == "__main__":
    main()
