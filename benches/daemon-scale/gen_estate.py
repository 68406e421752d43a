#!/usr/bin/env python3
"""Generate the site of the daemon scale benchmark: N active checks, all every 60 s,
in the mix of the issue: 70 % ping (the hosts' own checks), 20 % plaintext NRPE and
10 % SNMP v2c (one service each on a share of the hosts).

Usage: gen_estate.py OUTDIR [--checks 100000] [--nrpe-port 5666] [--snmp-port 161]
                     [--snmp-community public] [--hosts-per-file 10000] [--validate CLI]

What is written (Bergamot XML, as in docs/configuration/):

    OUTDIR/site.xml        the site, the commands bench-ping (engine ping),
                           bench-nrpe (engine nrpe, tls=no) and bench-snmp (engine
                           snmp, v2c, sysUpTime.0 with ranges that keep it OK), and
                           the templates: bench-host (ping host check every 60 s),
                           nrpe-host and snmp-host (bench-host plus one service)
    OUTDIR/hosts-NNN.xml   one line per host: <host name address extends/>

Hosts get loopback addresses 127.A.B.C (C = 1..254); Linux answers ICMP echo for all
of 127/8 on the loopback interface, so every ping check succeeds. The NRPE and SNMP
services all go to one peer each on 127.0.0.1 (the benchmark's responder and snmpd).
Services are spread evenly over the host list, so a scheduler that starts checks in
configuration order still sees the mix everywhere.

With --validate CLI, `CLI config validate OUTDIR` must report 0 errors and 0
warnings. The counts are printed as JSON on stdout.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from xml.sax.saxutils import quoteattr

SITE = "scale.bench.example.org"
SHARES = {"ping": 0.7, "nrpe": 0.2, "snmp": 0.1}
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
EVERY = "60s"


def split(checks: int) -> dict[str, int]:
    """Checks per kind: the ping share rounded, NRPE rounded, SNMP the rest."""
    ping = round(checks * SHARES["ping"])
    nrpe = round(checks * SHARES["nrpe"])
    snmp = checks - ping - nrpe
    if ping < nrpe + snmp:
        raise ValueError(f"{checks} checks: fewer hosts ({ping}) than services ({nrpe + snmp})")
    return {"ping": ping, "nrpe": nrpe, "snmp": snmp}


def address(i: int) -> str:
    """The i-th loopback address, skipping .0 and .255 in the last octet."""
    c = 1 + i % 254
    b = (i // 254) % 256
    a = i // (254 * 256)
    if a > 255:
        raise ValueError("more than 16.6 million hosts do not fit in 127/8")
    return f"127.{a}.{b}.{c}"


def host_kinds(hosts: int, nrpe: int, snmp: int) -> list[str]:
    """The template of each host: nrpe and snmp hosts evenly spaced over the list."""
    kinds = ["bench-host"] * hosts
    for k in range(nrpe):
        kinds[k * hosts // nrpe] = "nrpe-host"
    free = [i for i, t in enumerate(kinds) if t == "bench-host"]
    for k in range(snmp):
        kinds[free[k * len(free) // snmp]] = "snmp-host"
    return kinds


def site_xml(nrpe_port: int, snmp_port: int, community: str) -> str:
    schedule = f'<schedule every="{EVERY}" retry-every="{EVERY}" changing-every="{EVERY}"/>'
    return f"""<!-- The daemon scale benchmark's site (benches/daemon-scale/gen_estate.py). -->
<bergamot site="{SITE}">
    <description>Generated: N checks every {EVERY}, 70 % ping, 20 % NRPE, 10 % SNMP v2c.</description>

    <!-- ICMP echo to the host, natively: the defaults of check_ping as Nagios runs it. -->
    <command name="bench-ping" engine="ping" category="Network" application="Ping">
        <summary>Ping</summary>
        <parameter name="host">#{{host.address}}</parameter>
        <parameter name="packets">5</parameter>
        <parameter name="warning">100.0,20%</parameter>
        <parameter name="critical">500.0,60%</parameter>
        <parameter name="timeout">10</parameter>
    </command>

    <!-- Plaintext NRPE to the benchmark responder (netprobes/examples/nrpe_responder.rs). -->
    <command name="bench-nrpe" engine="nrpe" category="System" application="NRPE">
        <summary>NRPE bench</summary>
        <parameter name="host">127.0.0.1</parameter>
        <parameter name="port">{nrpe_port}</parameter>
        <parameter name="command">check_bench</parameter>
        <parameter name="tls">no</parameter>
        <parameter name="timeout">10</parameter>
    </command>

    <!-- SNMP v2c GET of sysUpTime.0 from the local snmpd; "0:" ranges keep it OK. -->
    <command name="bench-snmp" engine="snmp" category="System" application="Uptime">
        <summary>SNMP uptime</summary>
        <parameter name="host">127.0.0.1</parameter>
        <parameter name="port">{snmp_port}</parameter>
        <parameter name="snmp_version">2c</parameter>
        <parameter name="snmp_community">{escape_text(community)}</parameter>
        <parameter name="oid">{SYS_UPTIME}</parameter>
        <parameter name="warning">0:</parameter>
        <parameter name="critical">0:</parameter>
        <parameter name="timeout">10</parameter>
    </command>

    <host name="bench-host" template="yes">
        <summary>Bench host</summary>
        {schedule}
        <check-command command="bench-ping"/>
    </host>

    <service name="bench-service" template="yes">
        <summary>Bench service</summary>
        {schedule}
    </service>

    <host name="nrpe-host" extends="bench-host" template="yes">
        <service name="nrpe" extends="bench-service">
            <check-command command="bench-nrpe"/>
        </service>
    </host>

    <host name="snmp-host" extends="bench-host" template="yes">
        <service name="snmp" extends="bench-service">
            <check-command command="bench-snmp"/>
        </service>
    </host>
</bergamot>
"""


def escape_text(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def generate(outdir: Path, checks: int, nrpe_port: int, snmp_port: int, community: str,
             hosts_per_file: int = 10000) -> dict:
    """Writes the site into outdir (which must not hold other *.xml) and returns counts."""
    counts = split(checks)
    outdir.mkdir(parents=True, exist_ok=True)
    for old in outdir.glob("*.xml"):
        old.unlink()
    (outdir / "site.xml").write_text(site_xml(nrpe_port, snmp_port, community))
    kinds = host_kinds(counts["ping"], counts["nrpe"], counts["snmp"])
    files = 0
    for start in range(0, len(kinds), hosts_per_file):
        lines = [f'<bergamot site="{SITE}">']
        for i in range(start, min(start + hosts_per_file, len(kinds))):
            lines.append(f"    <host name=\"h{i:07d}\" address=\"{address(i)}\" extends={quoteattr(kinds[i])}/>")
        lines.append("</bergamot>\n")
        (outdir / f"hosts-{files:03d}.xml").write_text("\n".join(lines))
        files += 1
    return {"checks": checks, "hosts": counts["ping"], "ping": counts["ping"], "nrpe": counts["nrpe"],
            "snmp": counts["snmp"], "files": files + 1, "every_s": 60, "site": SITE,
            "nrpe_port": nrpe_port, "snmp_port": snmp_port}


def validate(cli: Path, outdir: Path) -> str:
    """`bergamot-cli config validate`; raises with its output unless 0 errors, 0 warnings."""
    r = subprocess.run([str(cli), "config", "validate", str(outdir)], capture_output=True, text=True)
    out = (r.stdout + r.stderr).strip()
    if r.returncode != 0 or "0 error(s), 0 warning(s)" not in out:
        raise RuntimeError(f"`{cli} config validate {outdir}` (exit {r.returncode}):\n{out[-4000:]}")
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="generate the daemon scale benchmark's site")
    ap.add_argument("outdir")
    ap.add_argument("--checks", type=int, default=100_000)
    ap.add_argument("--nrpe-port", type=int, default=5666)
    ap.add_argument("--snmp-port", type=int, default=161)
    ap.add_argument("--snmp-community", default="public")
    ap.add_argument("--hosts-per-file", type=int, default=10000)
    ap.add_argument("--validate", metavar="CLI", help="path to bergamot-cli: validate the result")
    args = ap.parse_args(argv)
    out = Path(args.outdir)
    counts = generate(out, args.checks, args.nrpe_port, args.snmp_port, args.snmp_community, args.hosts_per_file)
    if args.validate:
        try:
            print(validate(Path(args.validate), out), file=sys.stderr)
        except RuntimeError as e:
            sys.exit(f"gen_estate: {e}")
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
