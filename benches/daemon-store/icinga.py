"""The reload peer of the daemon store benchmark: the same estate as Icinga 2
objects, validated by `icinga2 daemon -C` (what an Icinga 2 reload does first,
before a new process loads the whole configuration again). Reuses the install and
command line of benches/config-load. Python 3.11 standard library only."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONFIG_LOAD = HERE.parent / "config-load" / "run.py"


def _config_load():
    """benches/config-load/run.py as a module, without letting its own gen_estate
    replace daemon-scale's in sys.modules (both are named gen_estate)."""
    saved = sys.modules.pop("gen_estate", None)
    path_before = list(sys.path)
    try:
        spec = importlib.util.spec_from_file_location("config_load_run", CONFIG_LOAD)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path[:] = path_before
        sys.modules.pop("gen_estate", None)
        if saved is not None:
            sys.modules["gen_estate"] = saved


def write_estate(out: Path, estate: dict, nrpe_port: int, snmp_port: int, community: str, kinds: list[str]) -> Path:
    """The generated Bergamot site as Icinga 2 DSL: one Host object per host with a
    ping host check, an `apply Service` for the NRPE and for the SNMP hosts; every
    check every 60 s. Returns the main file."""
    out.mkdir(parents=True, exist_ok=True)
    import gen_estate  # daemon-scale's: addresses and host names as the site has them
    lines = [
        'const PluginDir = "/usr/lib/nagios/plugins"\n',
        'object CheckCommand "bench-ping" { command = [ PluginDir + "/check_ping", "-H", "$address$", '
        '"-w", "100.0,20%", "-c", "500.0,60%", "-p", "5", "-t", "10" ] }',
        f'object CheckCommand "bench-nrpe" {{ command = [ PluginDir + "/check_nrpe", "-H", "127.0.0.1", '
        f'"-p", "{nrpe_port}", "-n", "-c", "check_bench", "-t", "10" ] }}',
        f'object CheckCommand "bench-snmp" {{ command = [ PluginDir + "/check_snmp", "-H", "127.0.0.1", '
        f'"-p", "{snmp_port}", "-P", "2c", "-C", "{community}", "-o", "{gen_estate.SYS_UPTIME}", '
        '"-w", "0:", "-c", "0:", "-t", "10" ] }',
        'template Host "bench-host" { check_command = "bench-ping"; check_interval = 60s; retry_interval = 60s }',
        'apply Service "nrpe" { check_command = "bench-nrpe"; check_interval = 60s; retry_interval = 60s; '
        'assign where host.vars.kind == "nrpe-host" }',
        'apply Service "snmp" { check_command = "bench-snmp"; check_interval = 60s; retry_interval = 60s; '
        'assign where host.vars.kind == "snmp-host" }',
    ]
    (out / "estate.conf").write_text("\n".join(lines) + "\n")
    with open(out / "hosts.conf", "w") as f:
        for i, kind in enumerate(kinds):
            f.write(f'object Host "h{i:07d}" {{ import "bench-host"; address = "{gen_estate.address(i)}"; '
                    f'vars.kind = "{kind}" }}\n')
    main = out / "icinga2.conf"
    main.write_text('include "estate.conf"\ninclude "hosts.conf"\n')
    return main


def validate(work: Path, estate: dict, nrpe_port: int, snmp_port: int, community: str, log) -> dict:
    """`icinga2 daemon -C` on the estate: wall, CPU and peak RSS, and what it counted."""
    import gen_estate
    cl = _config_load()
    icinga = cl.ensure_icinga()
    kinds = gen_estate.host_kinds(estate["ping"], estate["nrpe"], estate["snmp"])
    conf = write_estate(work / "icinga2", estate, nrpe_port, snmp_port, community, kinds)
    cmd = cl.icinga_cmd(icinga, conf, work / "icinga2-scratch")
    log(f"\n== Icinga 2 peer: `icinga2 daemon -C` on the same {estate['checks']:,} checks")
    t0 = time.perf_counter()
    with open(work / "icinga2.out", "wb") as out:
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        _pid, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    rc = os.waitstatus_to_exitcode(status)
    text = (work / "icinga2.out").read_text(errors="replace")
    counted = {k: None for k in ("Host", "Service")}
    for line in text.splitlines():
        for k in counted:
            if f" {k}s." in line and "Instantiated" in line:
                try:
                    counted[k] = int(line.split("Instantiated")[1].split()[0])
                except (IndexError, ValueError):
                    pass
    log(f"   exit {rc} in {wall:.1f} s, CPU {ru.ru_utime + ru.ru_stime:.1f} s, peak RSS {ru.ru_maxrss / 1024:.0f} MiB; "
        f"hosts {counted['Host']}, services {counted['Service']}")
    return {"version": cl.icinga_version(icinga), "rc": rc, "wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime,
            "rss_kib": ru.ru_maxrss, "hosts": counted["Host"], "services": counted["Service"],
            "tail": "\n".join(text.splitlines()[-8:]) if rc != 0 else ""}
