"""The daemon store benchmark's figures and its README section: store throughput
and whether the writer keeps up, database growth and the steady state the default
retention leads to, reload times, API latency, the goals, and the Markdown. Fields
the daemon does not report are None here and `n/a` in the text. Python 3.11
standard library only."""

from __future__ import annotations

GOAL_RELOAD_S = 2.0
GOAL_API_P99_MS = 50.0
INTERVAL_S = 60.0
BATCH_WINDOW_MS = 1000.0  # bergamotd's default --batch-ms
LAG_BOUND_MS = 5 * BATCH_WINDOW_MS  # "keeps up": nothing waits longer than five windows
# The default retention (daemon/src/store/mod.rs Retention::default).
RAW_DAYS, R5M_DAYS, R1H_DAYS = 1, 30, 365
DAY_S = 86_400


# --------------------------------------------------------------------------- access

def get(h: dict | None, *keys: str):
    v = h
    for k in keys:
        if not isinstance(v, dict) or k not in v:
            return None
        v = v[k]
    return None if isinstance(v, bool) else v


def delta(a: dict | None, b: dict | None, *keys: str):
    x, y = get(a, *keys), get(b, *keys)
    return None if not isinstance(x, (int, float)) or not isinstance(y, (int, float)) else y - x


def div(a, b):
    return None if a is None or b is None or b == 0 else a / b


def pcts(xs: list[float]) -> dict:
    if not xs:
        return {"n": 0, "p50": None, "p99": None, "max": None}
    s = sorted(xs)
    q = lambda p: s[min(len(s) - 1, int(p * len(s)))]  # noqa: E731  (nearest rank)
    return {"n": len(s), "p50": q(0.50), "p99": q(0.99), "max": s[-1]}


# --------------------------------------------------------------------------- figures

def summarize(result: dict) -> dict:
    d = result["daemon"]
    s: dict = {"checks": result["checks"], "failing": result["estate"].get("failing")}
    s["store"] = store(d["store"])
    s["growth"] = growth(d["store"], s["store"]["wall_s"])
    s["api"] = {"keepalive": pcts(d["api"]["keepalive_s"]), "fresh": pcts(d["api"]["fresh_s"]),
                "bytes": d["api"]["bytes"], "problems": d["api"]["problems"][-1] if d["api"]["problems"] else None,
                "failed": d["api"]["failed"], "requests": d["api"]["requests"]}
    s["reload"] = reload(d["reload"])
    if result.get("peer"):
        p = result["peer"]
        s["peer"] = {k: p[k] for k in ("version", "rc", "wall_s", "cpu_s", "rss_kib", "hosts", "services")}
        ours = s["reload"]["took_ms_p50"]
        s["peer"]["ratio_wall"] = div(p["wall_s"], ours / 1000) if ours and p["rc"] == 0 else None
    lo = d.get("load") or []
    s["load"] = {"min": min(lo) if lo else None, "max": max(lo) if lo else None}
    s["rss_max_kib"] = d.get("rss_max_kib")
    s["goals"] = goals(s)
    return s


def store(w: dict) -> dict:
    a, b = w["start"]["sample"], w["end"]["sample"]
    wall = b["t"] - a["t"]
    ha, hb = a["health"], b["health"]
    out = {"wall_s": wall}
    for k in ("completed",):
        out[k] = delta(ha, hb, k)
    for k in ("rows_written", "batches", "failed_batches", "dropped_events", "dropped_readings"):
        out[k] = delta(ha, hb, "store", k)
    out["results_per_s"] = div(out["completed"], wall)
    out["rows_per_s"] = div(out["rows_written"], wall)
    out["batches_per_s"] = div(out["batches"], wall)
    out["rows_per_batch"] = div(out["rows_written"], out["batches"])
    series = lambda k: [get(x["health"], "store", k) for x in w["samples"] if get(x["health"], "store", k) is not None]  # noqa: E731
    for k in ("lag_ms", "queue_depth", "pending_checks", "last_batch_ms"):
        xs = series(k)
        third = max(1, len(xs) // 3)
        out[k] = {"max": max(xs) if xs else None, "p99": pcts(xs)["p99"], "p50": pcts(xs)["p50"],
                  "first_third_mean": sum(xs[:third]) / third if xs else None,
                  "last_third_mean": sum(xs[-third:]) / third if xs else None}
    out["failing_seen"] = any(((x["health"] or {}).get("store") or {}).get("failing") is True for x in w["samples"])
    out["last_error"] = (hb or {}).get("store", {}).get("last_error")
    out["api_health_s"] = pcts([x["api_s"] for x in w["samples"]])
    return out


def growth(w: dict, wall: float) -> dict:
    a, b = w["start"]["db"], w["end"]["db"]
    used = b["used_bytes"] - a["used_bytes"]
    out = {"used_start": a["used_bytes"], "used_end": b["used_bytes"], "files_end": b["files"],
           "bytes_per_s": div(used, wall), "per_day": div(used * DAY_S, wall), "tables": {}}
    for name, tb in b.get("tables", {}).items():
        ta = a.get("tables", {}).get(name, {"rows": 0, "bytes": 0})
        out["tables"][name] = {"rows": tb["rows"], "bytes": tb["bytes"], "rows_per_s": div(tb["rows"] - ta["rows"], wall),
                               "bytes_per_s": div(tb["bytes"] - ta["bytes"], wall),
                               "bytes_per_row": div(tb["bytes"], tb["rows"])}
    t = out["tables"]
    series = get(t, "series", "rows")
    raw_row, r5_row, r1_row = (get(t, k, "bytes_per_row") for k in ("raw", "r5m", "r1h"))
    # Hourly rows are laid out as 5-minute ones; none is written before the first
    # hour has closed, which a short window may not reach.
    out["r1h_row_from_r5m"] = not r1_row and bool(r5_row)
    r1_row = r1_row or r5_row
    raw_rate = get(t, "raw", "rows_per_s")
    steady = {}
    if raw_rate is not None and raw_row:
        steady["raw"] = raw_rate * DAY_S * RAW_DAYS * raw_row
    if series and r5_row:
        steady["r5m"] = series * (DAY_S // 300) * R5M_DAYS * r5_row
    if series and r1_row:
        steady["r1h"] = series * 24 * R1H_DAYS * r1_row
    steady["fixed"] = sum(get(t, k, "bytes") or 0 for k in ("checks", "series", "meta"))
    out["steady"] = steady
    out["steady_total"] = sum(steady.values()) if {"raw", "r5m", "r1h"} <= steady.keys() else None
    out["history_per_day"] = (get(t, "history", "bytes_per_s") or 0) * DAY_S
    return out


def reload(r: dict) -> dict:
    runs = r["runs"]
    ok = [x for x in runs if x["status"] == 200 and x["ok"]]
    took = sorted(x["took_ms"] for x in ok if x["took_ms"] is not None)
    wall = sorted(x["wall_s"] for x in ok)
    hb, ha = r["before"]["health"], r["after"]["health"]
    # Health just before each reload and once after the last: if the engine's
    # cumulative counters restart at a reload (completed goes down), each later
    # sample covers exactly one reload's aftermath and they add up; else the first
    # and the last tell it all.
    hs = [x["health"] for x in r["pre"][1:]] + [ha]
    chain = [x["health"] for x in r["pre"]] + [ha]
    resets = any((delta(x, y, "completed") or 0) < 0 for x, y in zip(chain, chain[1:]))
    if resets:
        late = max((get(h, "lateness_ms", "max") for h in hs if get(h, "lateness_ms", "max") is not None), default=None)
        p99 = max((get(h, "lateness_ms", "p99") for h in hs if get(h, "lateness_ms", "p99") is not None), default=None)
        skipped = sum(get(h, "skipped_late") or 0 for h in hs) if all(get(h, "skipped_late") is not None for h in hs) \
            else None
    else:
        late, p99, skipped = get(ha, "lateness_ms", "max"), get(ha, "lateness_ms", "p99"), delta(hb, ha, "skipped_late")
    return {"runs": len(runs), "ok": len(ok), "took_ms": took, "wall_s": wall,
            "took_ms_p50": took[len(took) // 2] if took else None, "took_ms_max": took[-1] if took else None,
            "wall_s_max": wall[-1] if wall else None, "counters_restart": resets,
            "late_max_before_ms": get(hb, "lateness_ms", "max"), "late_max_after_ms": late,
            "late_p99_after_ms": p99, "skipped_late": skipped, "checks_after": get(ha, "checks")}


def goals(s: dict) -> list[tuple[str, str, bool | None]]:
    out = []
    st = s["store"]
    lag = st["lag_ms"]["max"]
    drops = None if st["dropped_events"] is None else (st["dropped_events"] or 0) + (st["dropped_readings"] or 0)
    keeps = None if lag is None or drops is None else (lag <= LAG_BOUND_MS and drops == 0 and not st["failed_batches"])
    out.append(("the store keeps up", "n/a" if keeps is None else
                f"{n_(st['results_per_s'])} results/s, lag max {n_(lag)} ms (bound {LAG_BOUND_MS:.0f} ms), "
                f"{n_(drops)} dropped, {n_(st['failed_batches'])} failed batches", keeps))
    r = s["reload"]
    wall = r["wall_s_max"]
    late = r["late_max_after_ms"]
    met = None if wall is None or r["skipped_late"] is None or late is None else (
        wall < GOAL_RELOAD_S and r["skipped_late"] == 0 and late < INTERVAL_S * 1000 and r["ok"] == r["runs"])
    out.append((f"reload under {GOAL_RELOAD_S:.0f} s with no late check",
                "n/a" if met is None else f"slowest {wall:.2f} s wall (took_ms {n_(r['took_ms_max'])}), "
                f"{r['ok']}/{r['runs']} applied, skipped late +{r['skipped_late']}, lateness max {n_(late)} ms "
                f"(interval {INTERVAL_S:.0f} s)", met))
    p99 = s["api"]["keepalive"]["p99"]
    out.append((f"problems list p99 under {GOAL_API_P99_MS:.0f} ms",
                "n/a" if p99 is None else f"{p99 * 1e3:.1f} ms", None if p99 is None else p99 * 1e3 < GOAL_API_P99_MS))
    return out


# --------------------------------------------------------------------------- text

def n_(v, digits: int = 0) -> str:
    return "n/a" if v is None else f"{v:,.{digits}f}"


def size(b) -> str:
    if b is None:
        return "n/a"
    for unit, f in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(b) >= f:
            return f"{b / f:,.1f} {unit}"
    return f"{b:,.0f} B"


def ms(v) -> str:
    return "n/a" if v is None else f"{v * 1e3:,.1f} ms"


def render(result: dict, s: dict, m: dict, meta: dict) -> str:
    e, d = result["estate"], result["daemon"]
    st, g, api, r = s["store"], s["growth"], s["api"], s["reload"]
    n = result["checks"]
    L = [f"## Daemon store: throughput, growth, reload and API latency with {n:,} checks\n"]
    L.append(f"The estate of `benches/daemon-scale` (`gen_estate.py`): {n:,} checks every 60 s ({e['ping']:,} native "
             f"pings, {e['nrpe']:,} NRPE to the non-forking responder, {e['snmp']:,} SNMP v2c to snmpd); "
             f"{e.get('failing', 0):,} of the NRPE services (every 20th) go to a loopback port where nothing listens "
             "and fail (CRITICAL, connection refused), so about 1 % of the estate is a problem. "
             "`bergamotd --config SITE --data DATA --http 127.0.0.1:PORT` with its defaults (1 s store batches, "
             "readings kept raw 1 day, 5-minute rollups 30 days, hourly 1 year).\n")
    lo = s["load"]
    L.append(f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['mem']}, Linux {m['kernel']}; {m['date']}; commit "
             f"{m['commit']}. 1-minute load average {m['load']:.1f} before the run"
             + (f", {lo['min']:.1f} to {lo['max']:.1f} while the daemon ran" if lo["min"] is not None else "")
             + f"; daemon peak RSS {size((s['rss_max_kib'] or 0) * 1024)} (sampled).\n")
    L.append(f"**Store** (window of {st['wall_s']:.0f} s after a {d['warmup_s']:.0f} s warm-up; `/api/health` every "
             "second; database pages in use and each table's rows and bytes read with SQLite's `dbstat` at both "
             "ends). No peer: neither Nagios (status.dat rewritten whole, no history database) nor Icinga 2 "
             "(IDO/IcingaDB need a separate database server) has a directly comparable embedded store, so this "
             "side is ours alone.\n")
    L.append("| store | measured |")
    L.append("|---|---:|")
    rows = [
        ("results completed by the engine", f"{n_(st['results_per_s'])} /s"),
        ("rows written (states, history, readings and rollups)", f"{n_(st['rows_per_s'])} /s"),
        ("batches committed / rows per batch", f"{n_(st['batches_per_s'], 2)} /s / {n_(st['rows_per_batch'])}"),
        ("last batch took, p50 / max of samples", f"{n_(st['last_batch_ms']['p50'])} / "
                                                  f"{n_(st['last_batch_ms']['max'])} ms"),
        ("lag (oldest write not committed), p50 / p99 / max", f"{n_(st['lag_ms']['p50'])} / "
                                                              f"{n_(st['lag_ms']['p99'])} / {n_(st['lag_ms']['max'])} ms"),
        ("queue depth, first third / last third mean (max)", f"{n_(st['queue_depth']['first_third_mean'])} / "
                                                              f"{n_(st['queue_depth']['last_third_mean'])} "
                                                              f"({n_(st['queue_depth']['max'])})"),
        ("checks waiting to be saved, max", n_(st["pending_checks"]["max"])),
        ("dropped events / readings, failed batches", f"{n_(st['dropped_events'])} / {n_(st['dropped_readings'])}, "
                                                      f"{n_(st['failed_batches'])}"),
        ("database in use at start / end of window", f"{size(g['used_start'])} / {size(g['used_end'])}"),
        ("growth in the window, extrapolated to a day", f"{size(g['bytes_per_s'])}/s → {size(g['per_day'])}/day"),
    ]
    L += [f"| {a} | {b} |" for a, b in rows]
    L.append("")
    t = g["tables"]
    if t:
        L.append("| table | rows at end | bytes at end | bytes/row | rows/s in the window |")
        L.append("|---|---:|---:|---:|---:|")
        for name in ("checks", "history", "alerts", "series", "raw", "r5m", "r1h"):
            if name in t:
                x = t[name]
                L.append(f"| {name} | {n_(x['rows'])} | {size(x['bytes'])} | {n_(x['bytes_per_row'], 1)} | "
                         f"{n_(x['rows_per_s'], 1)} |")
        L.append("")
    sd = g["steady"]
    r1h_note = " (rows as wide as the 5-minute ones: no hour closed in the window)" if g.get("r1h_row_from_r5m") else ""
    if g["steady_total"] is not None:
        L.append(f"Steady state with the default retention, from these rates and bytes per row: raw readings for "
                 f"{RAW_DAYS} day {size(sd['raw'])}, 5-minute rollups of {n_(get(t, 'series', 'rows'))} series for "
                 f"{R5M_DAYS} days {size(sd['r5m'])}, hourly for {R1H_DAYS} days {size(sd['r1h'])}{r1h_note}, "
                 f"check states "
                 f"{size(sd['fixed'])}: **{size(g['steady_total'])}**, plus history (state changes and alerts, kept "
                 f"365 days by default) at {size(g['history_per_day'])}/day at this failure rate, "
                 f"{size(g['history_per_day'] * 365)} at most.\n")
    k, f = api["keepalive"], api["fresh"]
    L.append(f"**API**: {api['requests']:,} × `GET /api/problems` ({n_(api['problems'])} problems, "
             f"{size(api['bytes'])} of JSON) one after another on one keep-alive connection (Python http.client; "
             f"time from request to the last byte), while the daemon ran its normal load: p50 {ms(k['p50'])}, "
             f"p99 {ms(k['p99'])}, max {ms(k['max'])}; {api['failed']} failed. On a fresh connection each "
             f"({f['n']} requests): p50 {ms(f['p50'])}, p99 {ms(f['p99'])}. `/api/health` during the store window: "
             f"p50 {ms(st['api_health_s']['p50'])}, max {ms(st['api_health_s']['max'])}.\n")
    L.append(f"**Reload**: {r['runs']} times, one host file added and `POST /api/reload` (answered when the new "
             f"configuration is loaded, planned and swapped in), 5 s apart: took_ms (the daemon's own figure) "
             f"{', '.join(n_(x) for x in r['took_ms'])}; wall from request to answer "
             f"{', '.join(f'{x * 1e3:,.0f}' for x in r['wall_s'])} ms. Lateness max "
             f"{n_(r['late_max_before_ms'])} ms from start-up to the first reload; "
             + (f"from each reload to the next (and 12 s after the last) at most {n_(r['late_max_after_ms'])} ms, "
                f"p99 at most {n_(r['late_p99_after_ms'])} ms (the health counters restart at each reload: due, "
                "started, completed, results and lateness count since the last one)"
                if r["counters_restart"] else
                f"{n_(r['late_max_after_ms'])} ms over the whole run after the reloads (p99 "
                f"{n_(r['late_p99_after_ms'])} ms)")
             + f"; slots missed during the reloads: {n_(r['skipped_late'])}. {n_(r['checks_after'])} checks after "
             "the last one.\n")
    p = s.get("peer")
    if p:
        ok = p["rc"] == 0
        L.append(f"Peer: Icinga 2 {p['version']}, `icinga2 daemon -C` on the same checks ({n_(p['hosts'])} hosts, "
                 f"{n_(p['services'])} services; own minimal icinga2.conf, no ITL or features), which is what an "
                 "Icinga 2 reload does before a new process loads the configuration again: "
                 + (f"{p['wall_s']:.1f} s wall, {p['cpu_s']:.1f} s CPU, {size(p['rss_kib'] * 1024)} peak; "
                    f"bergamotd's median reload is **{n_(p['ratio_wall'], 1)}×** faster." if ok else
                    f"failed (exit {p['rc']})."))
    L.append("")
    L.append("Goals: " + "; ".join(f"{gl}: {v} ({'met' if ok else 'NOT met' if ok is False else 'not measured'})"
                                   for gl, v, ok in s["goals"]) + ".")
    L.append("")
    L.append(f"Reproduce: `{meta['command']}` (about 10 minutes at 100,000 checks; `--quick`: 10,000 checks, a 60 s "
             "window, printed only).")
    return "\n".join(L) + "\n"
