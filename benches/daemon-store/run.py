#!/usr/bin/env python3
"""Daemon store benchmark: bergamotd with its SQLite store under the 100,000-check
estate of benches/daemon-scale (every check every 60 s; ~1 % of them failing):
store throughput and database growth, reload time, and the latency of the problems
list in the API, all on the running daemon.

Usage:
  benches/daemon-store/run.py [--checks 100000] [--duration 300] [--warmup 60]
                              [--reloads 5] [--requests 1000] [--quick] [--no-peer]
                              [--daemon PATH] [--cli PATH] [--responder PATH]
                              [--out benches/README.md] [--no-write] [--keep]

Steps:
  1. install missing peers and build in release what is not given (bergamotd,
     bergamot-cli, the nrpe_responder example), as benches/daemon-scale does;
  2. start snmpd and the responder; generate the estate with daemon-scale's
     gen_estate.py and turn every 20th NRPE host into one whose NRPE service goes to
     a loopback port where nothing listens (1 % of the checks: CRITICAL, connection
     refused); validate it (0 errors, 0 warnings);
  3. `bergamotd --config SITE --data DATA --http 127.0.0.1:PORT`; after --warmup
     (one interval) a window of --duration: `/api/health` every second (the store's
     rows, batches, lag and queue; the engine's completed results), the database's
     pages in use and each table's rows and bytes (SQLite's dbstat, read-only) at
     both ends;
  4. API latency: --requests `GET /api/problems`, one after another on one
     keep-alive connection, while the daemon runs its normal load;
  5. reload: --reloads times, add one host file and `POST /api/reload`; the answer's
     took_ms and the wall time from request to answer; lateness and skipped_late
     from `/api/health` before and after;
  6. SIGTERM; then the peer: `icinga2 daemon -C` on the same checks (what an Icinga 2
     reload starts with; --no-peer skips it).

The section between the daemon-store markers of --out is rewritten (not with
--quick or --no-write); raw figures go to benches/out/daemon-store.json
(-quick.json).
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCALE = HERE.parent / "daemon-scale"
sys.path.insert(0, str(HERE.parent))
sys.path.insert(1, str(SCALE))
import benchlib  # noqa: E402
import gen_estate  # noqa: E402  (daemon-scale's)
import peers  # noqa: E402  (daemon-scale's)
from benchlib import REPO, log, machine  # noqa: E402
from peers import Child  # noqa: E402

import figures  # noqa: E402
import icinga  # noqa: E402


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


scale = _load("daemon_scale_run", SCALE / "run.py")  # builds, Watch

NAME = "daemon-store"
DEAD_EVERY = 20  # every 20th NRPE host fails: 20 % NRPE / 20 = 1 % of the checks


def die(msg: str, code: int = 2) -> None:
    benchlib.die(NAME, msg, code)


# --------------------------------------------------------------------------- the estate

def add_problems(site: Path, dead_port: int) -> int:
    """Every DEAD_EVERY-th `nrpe-host` becomes a `dead-nrpe-host` whose NRPE service
    goes to a port where nothing listens; returns how many."""
    (site / "problems.xml").write_text(f"""<!-- benches/daemon-store: ~1 % of the checks fail (connection refused). -->
<bergamot site="{gen_estate.SITE}">
    <command name="bench-nrpe-dead" engine="nrpe" category="System" application="NRPE">
        <summary>NRPE to nothing</summary>
        <parameter name="host">127.0.0.1</parameter>
        <parameter name="port">{dead_port}</parameter>
        <parameter name="command">check_bench</parameter>
        <parameter name="tls">no</parameter>
        <parameter name="timeout">10</parameter>
    </command>
    <host name="dead-nrpe-host" extends="bench-host" template="yes">
        <service name="nrpe" extends="bench-service">
            <check-command command="bench-nrpe-dead"/>
        </service>
    </host>
</bergamot>
""")
    dead = seen = 0
    for f in sorted(site.glob("hosts-*.xml")):
        out = []
        for line in f.read_text().splitlines():
            if 'extends="nrpe-host"' in line:
                if seen % DEAD_EVERY == 0:
                    line = line.replace('extends="nrpe-host"', 'extends="dead-nrpe-host"')
                    dead += 1
                seen += 1
            out.append(line)
        f.write_text("\n".join(out) + "\n")
    return dead


def reload_host(site: Path, n: int) -> None:
    """One more host (a ping check), so the reload has something to apply."""
    (site / f"reload-{n:02d}.xml").write_text(
        f'<bergamot site="{gen_estate.SITE}">\n    <host name="reload-{n:02d}" address="127.255.254.{n + 1}" '
        'extends="bench-host"/>\n</bergamot>\n')


# --------------------------------------------------------------------------- the database

def db_files(data: Path) -> dict:
    out = {}
    for suffix in ("", "-wal", "-shm"):
        p = data / f"bergamot.db{suffix}"
        out["db" + suffix.replace("-", "_")] = p.stat().st_size if p.exists() else 0
    return out


def db_stats(data: Path, tables: bool = True) -> dict:
    """Pages in use and, with `tables`, rows and bytes per table (dbstat), from a
    read-only connection: what a reader sees of the last commit, WAL included."""
    t0 = time.perf_counter()
    con = sqlite3.connect(f"file:{data / 'bergamot.db'}?mode=ro", uri=True, timeout=30)
    try:
        q = lambda sql: con.execute(sql).fetchone()[0]  # noqa: E731
        page = q("PRAGMA page_size")
        out = {"page_size": page, "pages": q("PRAGMA page_count"), "free_pages": q("PRAGMA freelist_count"),
               "files": db_files(data)}
        out["used_bytes"] = (out["pages"] - out["free_pages"]) * page
        if tables:
            names = [r[0] for r in con.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")]
            rows = {n: q(f'SELECT count(*) FROM "{n}"') for n in names}
            size = dict(con.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall())
            idx = con.execute("SELECT name, tbl_name FROM sqlite_schema WHERE type = 'index'").fetchall()
            out["tables"] = {n: {"rows": rows[n], "bytes": size.get(n, 0) + sum(size.get(i, 0) for i, t in idx
                                                                                  if t == n)} for n in names}
    finally:
        con.close()
    out["read_s"] = time.perf_counter() - t0
    return out


# --------------------------------------------------------------------------- the API

class Api:
    """One keep-alive HTTP/1.1 connection to the daemon (reopened if it drops)."""

    def __init__(self, port: int, timeout: float = 120.0):
        self.port, self.timeout = port, timeout
        self.conn: http.client.HTTPConnection | None = None

    def call(self, method: str, path: str) -> tuple[int, bytes, float]:
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                t0 = time.perf_counter()
                self.conn.request(method, path, headers={"Content-Length": "0"} if method == "POST" else {})
                r = self.conn.getresponse()
                body = r.read()
                return r.status, body, time.perf_counter() - t0
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def json(self, method: str, path: str) -> tuple[dict | None, float]:
        status, body, s = self.call(method, path)
        if status != 200:
            return None, s
        try:
            return json.loads(body).get("value"), s
        except ValueError:
            return None, s


def wait_api(api: Api, watch, deadline_s: float) -> dict:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        watch.tick()
        try:
            h, _ = api.json("GET", "/api/health")
            if h:
                return h
        except OSError:
            pass
        time.sleep(0.2)
    die(f"the API never answered within {deadline_s:.0f} s:\n{watch.daemon.tail()}", 1)
    raise AssertionError("unreachable")


def sample(api: Api, t_spawn: float) -> dict:
    h, s = api.json("GET", "/api/health")
    return {"t": time.monotonic() - t_spawn, "api_s": s, "health": h}


# --------------------------------------------------------------------------- phases

def store_window(api: Api, watch, data: Path, t_spawn: float, duration: float) -> dict:
    log(f"\n== store: window of {duration:.0f} s, /api/health every second")
    start = {"sample": sample(api, t_spawn), "db": db_stats(data)}
    log(f"   window opens at {start['sample']['t']:.1f} s; database {start['db']['used_bytes'] / 2**20:.1f} MiB in use "
        f"(read in {start['db']['read_s']:.1f} s)")
    samples = [start["sample"]]
    t_end = time.monotonic() + duration
    next_log = time.monotonic() + 60
    while time.monotonic() < t_end:
        watch.sleep_until(min(t_end, time.monotonic() + 1.0))
        s = sample(api, t_spawn)
        s["files"] = db_files(data)
        samples.append(s)
        if time.monotonic() >= next_log:
            next_log += 60
            st = (s["health"] or {}).get("store") or {}
            log(f"   {s['t']:6.0f} s: completed {figures.get(s['health'], 'completed')}, store rows "
                f"{st.get('rows_written')}, lag {st.get('lag_ms')} ms, queue {st.get('queue_depth')}, "
                f"pending {st.get('pending_checks')}, db+wal {(s['files']['db'] + s['files']['db_wal']) / 2**20:.0f} MiB")
    end = {"sample": samples[-1], "db": db_stats(data)}
    log(f"   window closes at {end['sample']['t']:.1f} s; database {end['db']['used_bytes'] / 2**20:.1f} MiB in use")
    return {"start": start, "end": end, "samples": samples}


def api_latency(api: Api, watch, requests: int) -> dict:
    log(f"\n== API: {requests:,} × GET /api/problems on one keep-alive connection")
    times, sizes, counts, failed = [], [], [], 0
    for i in range(requests):
        if i % 50 == 0:
            watch.tick()
        status, body, s = api.call("GET", "/api/problems")
        if status != 200:
            failed += 1
            continue
        times.append(s)
        sizes.append(len(body))
        if i % 100 == 0:
            counts.append(len(json.loads(body)["value"]))
    fresh = Api(api.port)
    cold = []
    for _ in range(min(100, requests)):
        status, _body, s = fresh.call("GET", "/api/problems")
        fresh.conn.close()
        fresh.conn = None
        if status == 200:
            cold.append(s)
    r = {"requests": requests, "failed": failed, "keepalive_s": times, "fresh_s": cold,
         "bytes": sorted(sizes)[len(sizes) // 2] if sizes else None, "problems": counts}
    p = figures.pcts(times)
    log(f"   keep-alive p50 {p['p50'] * 1e3:.1f} ms, p99 {p['p99'] * 1e3:.1f} ms, max {p['max'] * 1e3:.1f} ms; "
        f"{r['bytes']} bytes, {counts[-1] if counts else '?'} problems")
    return r


def reloads(api: Api, watch, site: Path, n: int, t_spawn: float) -> dict:
    log(f"\n== reload: {n} × (one more host, POST /api/reload)")
    before = sample(api, t_spawn)
    runs, pre = [], []
    for i in range(n):
        watch.sleep_until(time.monotonic() + 5)  # let the loop settle between reloads
        # Health just before each reload: after the first, it covers the previous
        # reload's aftermath (the engine's counters may restart at a reload).
        pre.append(sample(api, t_spawn))
        reload_host(site, i)
        t0 = time.perf_counter()
        status, body, _ = api.call("POST", "/api/reload")
        wall = time.perf_counter() - t0
        try:
            v = json.loads(body).get("value") or {}
        except ValueError:
            v = {}
        runs.append({"status": status, "wall_s": wall, "took_ms": v.get("took_ms"), "ok": v.get("ok"),
                     "added": v.get("added"), "kept": v.get("kept"), "removed": v.get("removed")})
        log(f"   reload {i + 1}: HTTP {status}, took_ms {v.get('took_ms')}, wall {wall * 1e3:.0f} ms, "
            f"added {v.get('added')}, kept {v.get('kept')}")
    watch.sleep_until(time.monotonic() + 12)  # the checks due during the last swap have started
    after = sample(api, t_spawn)
    return {"before": before, "pre": pre, "after": after, "runs": runs}


# --------------------------------------------------------------------------- main

def run_daemon(exe: Path, site: Path, work: Path, args) -> dict:
    data = work / "data"
    data.mkdir()
    port = benchlib.free_port()
    cmd = [str(exe), "--config", str(site), "--data", str(data), "--http", f"127.0.0.1:{port}"]
    log(f"\n== bergamotd: warm-up {args.warmup:.0f} s\n   " + " ".join(cmd))
    t_spawn = time.monotonic()
    daemon = Child("bergamotd", cmd, work / "bergamotd.log")
    watch = scale.Watch(daemon)
    api = Api(port)
    try:
        first = wait_api(api, watch, 120)
        log(f"   API up after {time.monotonic() - t_spawn:.1f} s: {first.get('checks')} checks, "
            f"startup_ms {first.get('startup_ms')}")
        watch.sleep_until(t_spawn + args.warmup)
        out = {"command": cmd, "warmup_s": args.warmup}
        out["store"] = store_window(api, watch, data, t_spawn, args.duration)
        out["api"] = api_latency(api, watch, args.requests)
        out["reload"] = reloads(api, watch, site, args.reloads, t_spawn)
        out["db_end"] = db_stats(data)
        out["rss_max_kib"] = watch.rss_max_kib
        out["load"] = watch.load
        log("   stopping with SIGTERM")
        t_term = time.monotonic()
        out["stopped_cleanly"] = daemon.stop(signal.SIGTERM, timeout=60)
        out["stopped_in_s"] = time.monotonic() - t_term
        out["exit_status"] = daemon.status
        out["log_tail"] = daemon.tail(15)
        return out
    except BaseException:
        daemon.stop(signal.SIGKILL, timeout=5)
        raise


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="bergamotd's store, reload and API at 100,000 checks")
    ap.add_argument("--checks", type=int, help="active checks (default 100,000; 10,000 with --quick)")
    ap.add_argument("--duration", type=float, help="store window, s (default 300; 60 with --quick)")
    ap.add_argument("--warmup", type=float, default=60.0, help="s before the window opens (one interval)")
    ap.add_argument("--reloads", type=int, default=5)
    ap.add_argument("--requests", type=int, default=1000, help="GET /api/problems on one connection")
    ap.add_argument("--quick", action="store_true", help="10,000 checks, 60 s; print, do not write --out")
    ap.add_argument("--no-peer", action="store_true", help="skip `icinga2 daemon -C`")
    ap.add_argument("--daemon", help="path to bergamotd (default: cargo build --release)")
    ap.add_argument("--cli", help="path to bergamot-cli (default: cargo build --release)")
    ap.add_argument("--responder", help="path to the nrpe_responder example (default: cargo build --release)")
    ap.add_argument("--out", default=str(REPO / "benches" / "README.md"))
    ap.add_argument("--no-write", action="store_true", help="print the section, leave --out alone")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (site, logs, data)")
    args = ap.parse_args(argv)
    args.checks = args.checks or (10_000 if args.quick else 100_000)
    args.duration = args.duration or (60.0 if args.quick else 300.0)

    def given(p):
        exe = Path(p).resolve()
        if not exe.exists():
            die(f"{exe} does not exist")
        return exe

    peers.ensure_packages()
    exe = given(args.daemon) if args.daemon else scale.build_daemon()
    cli = given(args.cli) if args.cli else benchlib.build_release("bergamot-daemon", "bergamot-cli", NAME,
                                                                  "pass --cli PATH")
    responder_exe = given(args.responder) if args.responder else scale.build_responder()
    work = Path(tempfile.mkdtemp(prefix="bergamot-daemon-store-"))
    m = machine()
    snmpd = peers.Snmpd(work)
    responder = peers.Responder(responder_exe, work)
    result: dict = {"checks": args.checks, "duration_s": args.duration}
    try:
        site = work / "site"
        result["estate"] = gen_estate.generate(site, args.checks, responder.port, snmpd.port, snmpd.community)
        result["estate"]["failing"] = add_problems(site, benchlib.free_port())
        try:
            gen_estate.validate(cli, site)
        except RuntimeError as e:
            die(f"the generated site does not validate: {e}", 1)
        log(f"site: {json.dumps(result['estate'])} (valid)")
        result["daemon"] = run_daemon(exe, site, work, args)
        if not args.no_peer:
            result["peer"] = icinga.validate(work, result["estate"], responder.port, snmpd.port, snmpd.community, log)
    finally:
        responder.child.stop()
        snmpd.child.stop()
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    argv_s = " ".join(scale.reproducible(argv if argv is not None else sys.argv[1:]))
    meta = {"command": f"benches/daemon-store/run.py {argv_s}".strip()}
    summary = figures.summarize(result)
    section = figures.render(result, summary, m, meta)
    raw = REPO / "benches" / "out" / ("daemon-store-quick.json" if args.quick else "daemon-store.json")
    figures_json = {"machine": m, "meta": meta, "summary": summary, "result": result}
    log(benchlib.publish(NAME, section, raw, figures_json, Path(args.out), not (args.quick or args.no_write), 1))


if __name__ == "__main__":
    main()
