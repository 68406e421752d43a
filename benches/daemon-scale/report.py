"""The daemon scale benchmark's figures and its README section: window deltas of
the daemon's cumulative health counters, the fork-side comparison, the goals, and
the Markdown. Fields the daemon does not write are None here and `n/a` in the text.
Python 3.11 standard library only."""

from __future__ import annotations

import forks

GOAL_LATE_P99_MS = 100.0
GOAL_CPU_PCT = 25.0
GOAL_RSS_MIB = 256.0
GOAL_FIRST_CHECK_MS = 1000.0


# --------------------------------------------------------------------------- access

def field(h: dict | None, *keys: str):
    """A number (or dict) from nested health keys, None if any level is missing or
    the value is not what the contract says."""
    v = h
    for k in keys:
        if not isinstance(v, dict) or k not in v:
            return None
        v = v[k]
    if isinstance(v, bool):
        return None
    return v if isinstance(v, (int, float, dict)) else None


def txt(h: dict | None, *keys: str) -> str:
    v = field(h, *keys)
    if v is None:
        return "n/a"
    return f"{v:,}" if isinstance(v, int) else (f"{v:,.1f}" if isinstance(v, float) else str(v))


def delta(a: dict, b: dict, key: str):
    x, y = field(a, key), field(b, key)
    return None if x is None or y is None else y - x


def div(a, b):
    return None if a is None or b is None or b == 0 else a / b


# --------------------------------------------------------------------------- figures

def summarize(result: dict) -> dict:
    s: dict = {"checks": result["checks"]}
    d = result.get("daemon")
    if d:
        a, b = d["a"], d["b"]
        wall = b["t"] - a["t"]
        cpu = {k: (None if a["cpu"][k] is None or b["cpu"][k] is None else b["cpu"][k] - a["cpu"][k])
               for k in a["cpu"]}
        w = {"wall_s": wall, "cpu_s": cpu["daemon"], "cpu_pct": div(100 * (cpu["daemon"] or 0), wall)
             if cpu["daemon"] is not None else None,
             "responder_cpu_pct": div(100 * cpu["responder"], wall) if cpu["responder"] is not None else None,
             "snmpd_cpu_pct": div(100 * cpu["snmpd"], wall) if cpu["snmpd"] is not None else None,
             "health_uptime_s": delta(a["health"], b["health"], "uptime_s")}
        for k in ("due", "started", "completed", "skipped_late"):
            w[k] = delta(a["health"], b["health"], k)
            w[k + "_per_min"] = div(60 * w[k], wall) if w[k] is not None else None
        sa, sb = d["served"]
        w["nrpe_served"] = sb[0] - sa[0] if sa and sb else None
        w["nrpe_served_per_min"] = div(60 * w["nrpe_served"], wall) if w["nrpe_served"] is not None else None
        s["window"] = w
        fin = d["final"] or d["b"]["health"]
        s["final"] = {k: field(fin, k) for k in ("checks", "due", "started", "completed", "skipped_late", "queued",
                                                   "in_flight", "startup_ms", "first_check_ms", "uptime_s")}
        s["final"]["lateness_ms"] = {k: field(fin, "lateness_ms", k) for k in ("count", "p50", "p99", "max")}
        s["final"]["results"] = field(fin, "results")
        f = s["final"]
        f["not_run"] = (f["due"] - f["started"] - f["queued"]
                        if None not in (f["due"], f["started"], f["queued"]) else None)
        st = d["end_status"]
        s["memory"] = {"rss_end_kib": st.get("VmRSS"), "hwm_kib": st.get("VmHWM"), "rss_max_sampled_kib":
                       d["rss_max_kib"] or None, "threads_end": st.get("Threads"), "threads_max": d["threads_max"]}
        s["ours_cpu_per_check_s"] = div(w["cpu_s"], w["completed"])
        s["load"] = {"min": min(d["load"]) if d["load"] else None, "max": max(d["load"]) if d["load"] else None}
    fk = result.get("forks")
    if fk:
        s["fork_cpu_per_check_s"] = {k: fk[k]["cpu_per_check_s"] for k in forks.MIX}
        s["fork_mix_cpu_per_check_s"] = fk["mix_cpu_per_check_s"]
        s["fork_cores_for_checks"] = div((fk["mix_cpu_per_check_s"] or 0) * result["checks"], 60) \
            if fk["mix_cpu_per_check_s"] is not None else None
        s["ratio"] = div(fk["mix_cpu_per_check_s"], s.get("ours_cpu_per_check_s"))
    s["goals"] = goals(s) if d else []
    return s


def goals(s: dict) -> list[tuple[str, str, bool | None]]:
    """(goal, what was measured, met / not met / not measured)."""
    f, w, mem = s["final"], s["window"], s["memory"]
    out = []
    if f["skipped_late"] is None or f["not_run"] is None:
        out.append(("every due check runs", "n/a (the daemon did not report due/started/queued/skipped_late)", None))
    else:
        ok = f["skipped_late"] == 0 and f["not_run"] <= 0
        out.append(("every due check runs",
                    f"{f['started']:,} started of {f['due']:,} due, {f['queued']:,} queued at stop, "
                    f"{f['skipped_late']:,} skipped late", ok))
    p99 = f["lateness_ms"]["p99"]
    out.append((f"lateness p99 under {GOAL_LATE_P99_MS:.0f} ms", "n/a" if p99 is None else f"{p99:.1f} ms",
                None if p99 is None else p99 < GOAL_LATE_P99_MS))
    cpu = w["cpu_pct"]
    out.append((f"daemon under {GOAL_CPU_PCT:.0f} % of one core", "n/a" if cpu is None else f"{cpu:.1f} %",
                None if cpu is None else cpu < GOAL_CPU_PCT))
    hwm = mem["hwm_kib"]
    out.append((f"daemon under {GOAL_RSS_MIB:.0f} MiB", "n/a" if hwm is None else f"peak {hwm / 1024:.0f} MiB",
                None if hwm is None else hwm / 1024 < GOAL_RSS_MIB))
    fc = f["first_check_ms"]
    out.append((f"first check under {GOAL_FIRST_CHECK_MS / 1000:.0f} s from start",
                "n/a" if fc is None else f"{fc:.0f} ms", None if fc is None else fc < GOAL_FIRST_CHECK_MS))
    return out


# --------------------------------------------------------------------------- text

def t_s(v) -> str:
    if v is None:
        return "n/a"
    if v < 1e-3:
        return f"{v * 1e6:.0f} µs"
    return f"{v * 1e3:.2f} ms" if v < 1 else f"{v:.2f} s"


def n_(v) -> str:
    return "n/a" if v is None else f"{v:,.0f}"


def mib(kib) -> str:
    return "n/a" if kib is None else f"{kib / 1024:.0f} MiB"


def pct(v) -> str:
    return "n/a" if v is None else f"{v:.1f} %"


def ms(v) -> str:
    return "n/a" if v is None else f"{v:,.1f} ms"


def render(result: dict, s: dict, m: dict, meta: dict) -> str:
    n = result["checks"]
    e = result["estate"]
    L = [f"## Daemon at scale: bergamotd with {n:,} checks a minute vs fork per check\n"]
    L.append(f"The site (`gen_estate.py`): {n:,} active checks every 60 s: {e['ping']:,} hosts with a native ping "
             "host check (5 echoes, check_ping's thresholds) on 127.x addresses, which Linux answers on loopback; "
             f"{e['nrpe']:,} plaintext NRPE services to a responder that answers without forking "
             "(`netprobes/examples/nrpe_responder.rs`: one thread, epoll; the real nrpe forks a plugin per "
             f"query); {e['snmp']:,} SNMP v2c GETs of sysUpTime.0 to a local snmpd "
             f"({meta['versions']['snmpd']}). `bergamotd --config SITE --data DATA` runs in the foreground; figures "
             "are read from /proc and from the `DATA/health.json` it writes every 10 s and on exit.\n")
    L.append(f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['mem']}, Linux {m['kernel']}; {m['date']}; commit "
             f"{m['commit']}. 1-minute load average {m['load']:.1f} before the run")
    d = result.get("daemon")
    if d:
        lo = s["load"]
        L[-1] += (f", {lo['min']:.1f} to {lo['max']:.1f} while the daemon ran" if lo["min"] is not None else "")
    L[-1] += " (the machine's own share; other work on it inflates lateness first).\n"
    if d:
        w, f, mem = s["window"], s["final"], s["memory"]
        one = " (one interval)" if d["warmup_s"] == 60 else ""
        L.append(f"Warm-up {d['warmup_s']:.0f} s{one}, then a measuring window of {w['wall_s']:.0f} s "
                 "between two health.json writes; CPU = utime + stime of the daemon (and any children it reaped) "
                 "over the window's wall time, so 100 % is one core.\n")
        L.append("| bergamotd | measured |")
        L.append("|---|---:|")
        rows = [
            ("checks loaded (health `checks`)", n_(f["checks"])),
            ("CPU, % of one core (window)", pct(w["cpu_pct"])),
            ("CPU per check completed (window)", t_s(s["ours_cpu_per_check_s"])),
            ("RSS at end / peak (VmHWM) / largest sampled", f"{mib(mem['rss_end_kib'])} / {mib(mem['hwm_kib'])} / "
                                                            f"{mib(mem['rss_max_sampled_kib'])}"),
            ("threads at end (most seen)", f"{n_(mem['threads_end'])} ({n_(mem['threads_max'])})"),
            ("window: due / started / completed per minute",
             f"{n_(w['due_per_min'])} / {n_(w['started_per_min'])} / {n_(w['completed_per_min'])}"),
            ("window: skipped late", n_(w["skipped_late"])),
            ("whole run: due / started / completed", f"{n_(f['due'])} / {n_(f['started'])} / {n_(f['completed'])}"),
            ("at stop: queued / in flight", f"{n_(f['queued'])} / {n_(f['in_flight'])}"),
            ("whole run: skipped late", n_(f["skipped_late"])),
            ("lateness p50 / p99 / max (whole run)",
             f"{ms(f['lateness_ms']['p50'])} / {ms(f['lateness_ms']['p99'])} / {ms(f['lateness_ms']['max'])}"),
            ("start-up: model loaded and scheduled / first check started", f"{ms(f['startup_ms'])} / "
                                                                           f"{ms(f['first_check_ms'])}"),
            ("results (whole run)", ", ".join(f"{k} {v:,}" for k, v in f["results"].items())
             if isinstance(f["results"], dict) and f["results"] else "n/a"),
            ("whole run CPU, start-up included", f"{t_s(d['total_cpu_s'])} in {d['uptime_s']:.0f} s"),
            ("SIGTERM", f"exit {d['exit_status']} after {d['stopped_in_s']:.1f} s"
                        + ("" if d["final_written_on_exit"] else "; health.json not rewritten on exit")),
        ]
        L += [f"| {a} | {b} |" for a, b in rows]
        L.append("")
        L.append(f"Peers in the window: responder {pct(w['responder_cpu_pct'])} of a core, "
                 f"{n_(w['nrpe_served_per_min'])} NRPE queries answered per minute ({e['nrpe']:,} due); "
                 f"snmpd {pct(w['snmpd_cpu_pct'])} of a core.")
    ra = result.get("responder_alone")
    if ra:
        L.append(f"The responder alone: {t_s(ra['cpu_per_1000_s'])} CPU per 1,000 queries "
                 f"(`{ra['command']}`).")
    L.append("")
    fk = result.get("forks")
    if fk:
        when = "same machine, same run, after the daemon stopped" if d else "this machine"
        L.append(f"Fork per check ({when}): {fk['ping']['forks']:,} forks of each plugin; CPU = user + system of the fork and of what it reaped (check_ping's `/bin/ping`), "
                 "from os.wait4; the servers' side is not counted on either side. check_ping forks ran "
                 f"{fk['ping']['at_once']} at once (each waits ~4 s for 5 echoes a second apart), the others one "
                 "after another.\n")
        L.append("| check | forked as | CPU per check | failed | share | weighted |")
        L.append("|---|---|---:|---:|---:|---:|")
        cmds = {"ping": "check_ping -H 127.0.0.1 -w 100.0,20% -c 500.0,60% -p 5",
                "nrpe": "check_nrpe -H 127.0.0.1 -p PORT -n -c check_bench",
                "snmp": "snmpget -v2c -c COMMUNITY 127.0.0.1:PORT 1.3.6.1.2.1.1.3.0"}
        for k, share in forks.MIX.items():
            c = fk[k]["cpu_per_check_s"]
            L.append(f"| {k} | `{cmds[k]}` | {t_s(c)} | {fk[k]['failed']} | {share:.0%} | {t_s(c * share)} |")
        L.append(f"| **mix** | | **{t_s(fk['mix_cpu_per_check_s'])}** | | | |")
        L.append("")
        ours = s.get("ours_cpu_per_check_s")
        ratio = s.get("ratio")
        cores = s.get("fork_cores_for_checks")
        line = (f"{n:,} checks a minute forked this way: {cores:.2f} cores of CPU in the plugins alone (the scheduler's own cost of forking them and reading their output not counted)"
                if cores is not None else "")
        if d:
            dc = s["window"]["cpu_pct"]
            L.append(f"CPU per check: fork per check {t_s(fk['mix_cpu_per_check_s'])}, bergamotd {t_s(ours)}: "
                     f"**{'n/a' if ratio is None else f'{ratio:.0f}×'}** less. {line}; bergamotd: "
                     f"{'n/a' if dc is None else f'{dc / 100:.2f}'} cores.")
        else:
            L.append(f"{line}.")
        L.append("")
    if not d:
        L.append("**bergamotd: not measured in this run** (`--fork-only`: the daemon, its CPU, memory, lateness "
                 "and start-up, and the ratio come with a full run).")
        L.append("")
    if s["goals"]:
        parts = [f"{g}: {v} ({'met' if ok else 'NOT met' if ok is False else 'not measured'})"
                 for g, v, ok in s["goals"]]
        L.append("Goals: " + "; ".join(parts) + ".")
        L.append("")
    L.append(f"Reproduce: `{meta['command']}`")
    return "\n".join(L) + "\n"
