"""Shared helpers of the benchmark scripts (benches/*/run.py): logging, the machine
description, peak memory of a child, building a release binary, and rewriting one
script's own section of benches/README.md. Python 3.11 standard library only."""

from __future__ import annotations

import datetime as dt
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

README_INTRO = """# Benchmarks

Benchmarks: each runs ours and the peer side by side, on the same input, in the same
run, on the same machine, and reports both plus the ratios. Generated inputs go to a
temp dir or `benches/out/` (gitignored), never into git.
"""


def log(msg: str) -> None:
    print(msg, flush=True)


def die(who: str, msg: str, code: int = 2) -> None:
    print(f"\n{who}: {msg}", file=sys.stderr, flush=True)
    sys.exit(code)


def tail(path: Path, lines: int = 25) -> str:
    """The last lines of a log file, for error messages."""
    try:
        data = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no output)"
    return "\n".join(data[-lines:]) or "(empty)"


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A loopback port free right now (TCP by default, or `socket.SOCK_DGRAM`)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vm_hwm_kib(pid: int) -> int | None:
    """The process's peak resident set so far (VmHWM), None once it has exited.

    Unlike ru_maxrss of a forked child, it does not count the forking Python."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def machine() -> dict:
    """What the figures were measured on: CPUs, memory, kernel, date, commit, load."""
    cpu = "?"
    mem = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                            capture_output=True, text=True).stdout.strip() or "?"
    return {"nproc": os.cpu_count(), "kernel": platform.release(), "cpu": cpu, "mem": mem,
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "commit": commit,
            "load": os.getloadavg()[0]}


def build_release(package: str, binary: str, who: str, hint: str) -> Path:
    """`cargo build --release` of one binary; exits with `hint` if that fails."""
    return _build(package, "--bin", binary, Path("release"), who, hint)


def build_example(package: str, example: str, who: str, hint: str) -> Path:
    """`cargo build --release` of one example; exits with `hint` if that fails."""
    return _build(package, "--example", example, Path("release") / "examples", who, hint)


def _build(package: str, kind: str, name: str, subdir: Path, who: str, hint: str) -> Path:
    cmd = ["cargo", "build", "--release", "-p", package, kind, name]
    log(f"building: {' '.join(cmd)}  (in {REPO})")
    if subprocess.run(cmd, cwd=REPO).returncode != 0:
        die(who, f"cargo build of {name} failed (see above); {hint}")
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    if not target.is_absolute():
        target = REPO / target
    exe = target / subdir / name
    if not exe.exists():
        die(who, f"build succeeded but {exe} does not exist")
    return exe


def wait_listening(port: int, seconds: float = 10.0, alive=lambda: True) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:`port` within
    `seconds`; gives up early once `alive()` says the server process has gone."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            if not alive():
                return False
            time.sleep(0.025)
    return False


def publish(name: str, section: str, raw: Path, figures: dict, out: Path, write: bool, indent: int = 2) -> str:
    """Prints `section`, keeps `figures` as JSON in `raw`, and puts the section in
    `out` when `write`; returns the line to log."""
    import json
    print("\n" + section)
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(json.dumps(figures, indent=indent, default=str))
    if not write:
        return f"raw figures in {raw}; {out} left alone"
    write_section(out, name, section)
    return f"wrote {out} (section <!-- {name}:begin --> … <!-- {name}:end -->); raw figures in {raw}"


def write_section(path: Path, name: str, section: str) -> None:
    """Replaces the text between `<!-- NAME:begin -->` and `<!-- NAME:end -->`
    (appending the block if it is missing), leaving the other sections alone."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    block = f"{begin}\n{section}{end}\n"
    text = path.read_text() if path.exists() else README_INTRO
    if begin in text and end in text and text.index(begin) < text.index(end):
        pre, rest = text.split(begin, 1)
        post = rest.split(end, 1)[1]
        text = pre + block.rstrip("\n") + post
        if not text.endswith("\n"):
            text += "\n"
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def run_forks(cmd: list[str], n: int, k: int, ok) -> dict:
    """n forks of cmd, at most k at once, as a fork-per-check scheduler runs a plugin;
    `ok(exit code, output bytes)` decides each one's success. CPU = user + system of
    the forks (os.wait4), wall from the first fork to the last exit. No RSS: a fork
    lives a few milliseconds, too short to sample, and wait4's ru_maxrss would be
    this Python process's."""
    load_before = os.getloadavg()[0]
    running: dict[int, subprocess.Popen] = {}
    started = done = failed = 0
    cpu = 0.0
    first_bad = None
    t0 = time.perf_counter()
    while done < n:
        while started < n and len(running) < k:
            p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            running[p.pid] = p
            started += 1
        pid, status, ru = os.wait4(-1, 0)
        p = running.pop(pid, None)
        if p is None:
            continue  # not one of ours (a server that died shows up in the sanity check)
        done += 1
        cpu += ru.ru_utime + ru.ru_stime
        out = p.stdout.read() if p.stdout else b""
        if p.stdout:
            p.stdout.close()
        rc = os.waitstatus_to_exitcode(status)
        if not ok(rc, out):
            failed += 1
            first_bad = first_bad or f"exit {rc}: {out[:200]!r}"
    return {"wall_s": time.perf_counter() - t0, "cpu_s": cpu, "rss_kib": None, "failed": failed,
            "first_bad": first_bad, "load_before": load_before}
