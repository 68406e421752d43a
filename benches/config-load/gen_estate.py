#!/usr/bin/env python3
"""Generate one realistic monitoring estate of N hosts, written twice:

    OUTDIR/bergamot/   Bergamot XML (the configuration guide's syntax)
    OUTDIR/icinga2/    the same estate in the Icinga 2 DSL, with its own minimal
                       icinga2.conf that includes only the generated files, so
                       `icinga2 daemon -C -c OUTDIR/icinga2/icinga2.conf` validates it
                       without Debian's default conf.d, ITL or features.

Usage: gen_estate.py N OUTDIR [--seed S] [--hosts-per-file 1000]

The estate (both sides): one site; 5 time periods (24x7, holidays with 8 date
ranges, workhours excluding holidays, out-of-hours excluding workhours, nights);
20 locations in a tree; 50 groups; 10 teams; 100 contacts extending a
generic-contact template; commands (nagios check_ping, check-host-alive,
check_http, nrpe check_nrpe and 10 commands built on it); generic-host and
generic-service templates; a linux-server host template with 10 services; N hosts
extending linux-server, ~5% of them with an extra http service and ~5% with an
overridden notify.

Mapping to Icinga 2 (no 1:1 equivalent exists for everything):
  time period   -> TimePeriod (legacy ranges, excludes)
  location      -> HostGroup "loc-<name>" nested in its parent location's group
                   (Icinga has no locations); each host is a member of its location
  group         -> HostGroup (nested via groups); "linux-services" -> ServiceGroup
  team          -> UserGroup (nested via groups)
  contact       -> User importing the User template "generic-contact"
  command       -> CheckCommand (nrpe/ping bases are CheckCommand templates, since
                   Icinga cannot import an object)
  host template -> Host template; the 10 nested services -> 10 `apply Service`
                   rules with `assign where "linux-server" in host.templates`
  extra service -> an `object Service` bound to its host
  notify teams  -> host/service var notify_teams + `apply Notification` rules
                   (one Notification object per host and per service), with a
                   NotificationCommand
Counts of both sides are printed (and written to OUTDIR/counts.json).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from xml.sax.saxutils import escape, quoteattr

SITE = "bench.example.org"
SERVICES_PER_HOST = 10

# --------------------------------------------------------------------------- data

TIME_PERIODS = [
    # name, summary, ranges, excludes
    ("24x7", "24 Hours a day, every day of the year", ["00:00-24:00"], []),
    (
        "holidays",
        "Public Holidays",
        [
            "january 1 00:00-24:00",
            "april 18 00:00-24:00",
            "april 21 00:00-24:00",
            "monday 1 may 00:00-24:00",
            "monday -1 may 00:00-24:00",
            "monday -1 august 00:00-24:00",
            "december 25 00:00-24:00",
            "december 26 00:00-24:00",
        ],
        [],
    ),
    (
        "workhours",
        "Work Hours - 09:00 to 17:30, Monday to Friday",
        [f"{d} 09:00-17:30" for d in ("monday", "tuesday", "wednesday", "thursday", "friday")],
        ["holidays"],
    ),
    ("out-of-hours", "Out Of Hours, Not Work Hours", [], ["workhours"]),
    ("nights", "Nights - 22:00 to 06:00", ["00:00-06:00", "22:00-24:00"], []),
]
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

# name, parent, summary  (20 locations; hosts live in the 15 leaves)
LOCATIONS = [
    ("global", None, "Global"),
    ("europe", "global", "Europe"),
    ("north-america", "global", "North America"),
    ("asia-pacific", "global", "Asia Pacific"),
    ("cloud", "global", "Public Cloud"),
    ("dc-lon1", "europe", "London DC 1"),
    ("dc-lon2", "europe", "London DC 2"),
    ("dc-ams1", "europe", "Amsterdam DC 1"),
    ("dc-fra1", "europe", "Frankfurt DC 1"),
    ("dc-dub1", "europe", "Dublin DC 1"),
    ("dc-nyc1", "north-america", "New York DC 1"),
    ("dc-sfo1", "north-america", "San Francisco DC 1"),
    ("dc-tor1", "north-america", "Toronto DC 1"),
    ("dc-chi1", "north-america", "Chicago DC 1"),
    ("dc-sin1", "asia-pacific", "Singapore DC 1"),
    ("dc-tok1", "asia-pacific", "Tokyo DC 1"),
    ("dc-syd1", "asia-pacific", "Sydney DC 1"),
    ("aws-eu-west-1", "cloud", "AWS Ireland"),
    ("aws-us-east-1", "cloud", "AWS N. Virginia"),
    ("gcp-europe-west2", "cloud", "GCP London"),
]
LOCATION_NTP = {"europe": "ntp.eu.example.org", "north-america": "ntp.na.example.org",
                "asia-pacific": "ntp.ap.example.org", "cloud": "169.254.169.123"}

ENVIRONMENTS = ["production", "staging", "development", "testing"]
DISTROS = ["debian", "ubuntu", "rhel"]
APP_PARENTS = {
    "web": ["nginx", "apache", "haproxy"],
    "databases": ["postgresql", "mysql", "mongodb"],
    "caches": ["redis", "memcached"],
    "queues": ["rabbitmq", "kafka"],
    "infrastructure": ["dns", "ntp", "ldap", "mail", "backup", "monitoring", "storage"],
}
APPS = [a for kids in APP_PARENTS.values() for a in kids]
WEB_APPS = set(APP_PARENTS["web"])
CUSTOMERS = [f"customer-{i:02d}" for i in range(1, 13)]


def build_groups():
    """(name, parents, summary, kind) with kind 'host' or 'service'; 50 groups."""
    g = []
    for top in ("environments", "operating-systems", "applications", "customers", "services"):
        g.append((top, [], top.replace("-", " ").title(), "host"))
    for e in ENVIRONMENTS:
        g.append((e, ["environments"], e.title(), "host"))
    g.append(("linux", ["operating-systems"], "Linux", "host"))
    for d in DISTROS:
        g.append((d, ["linux"], d.upper() if d == "rhel" else d.title(), "host"))
    for parent, kids in APP_PARENTS.items():
        g.append((parent, ["applications"], parent.title(), "host"))
        for k in kids:
            g.append((k, [parent], k.title(), "host"))
    for c in CUSTOMERS:
        g.append((c, ["customers"], c.replace("-", " ").title(), "host"))
    g.append(("pci", ["production", "customers"], "PCI Scope", "host"))
    g.append(("critical", ["production"], "Business Critical", "host"))
    g.append(("linux-services", ["services"], "Linux Services", "service"))
    return g


GROUPS = build_groups()
assert len(GROUPS) == 50, len(GROUPS)
assert len(LOCATIONS) == 20

# name, parent teams, summary, grants, access-control grants on "global"
TEAMS = [
    ("everyone", [], "Everyone", "ui.access, ui.view.*, api.access",
     "read, read.*, acknowledge, write.comment, write.downtime, remove.comment, remove.downtime"),
    ("admins", ["everyone"], "Admins", "", "*"),
    ("linux-admins", ["admins"], "Linux Admins", "", "*"),
    ("network-admins", ["admins"], "Network Admins", "", "*"),
    ("dba", ["admins"], "Database Admins", "", "*"),
    ("web-admins", ["admins"], "Web Admins", "", "*"),
    ("bergamot-admins", ["admins"], "Bergamot Admins", "*", ""),
    ("on-call", ["everyone"], "On Call", "", "read, acknowledge"),
    ("managers", ["everyone"], "Managers", "ui.view.*", ""),
    ("service-desk", ["everyone"], "Service Desk", "", "read, read.*, acknowledge"),
]
CONTACT_TEAMS = [t[0] for t in TEAMS if t[0] != "everyone"]
FIRST = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]
LAST = ["smith", "jones", "taylor", "brown", "wilson", "evans", "thomas", "roberts", "walker", "wright"]

# The 10 NRPE commands and the linux-server service using each:
# (command, nrpe command, category, application, default params,
#  service name, service summary, service's own params)
NRPE_CHECKS = [
    ("check_load", "check_load", "System", "Load", [("warning", "15,10,5"), ("critical", "30,25,20")],
     "load", "Load Average", [("warning", "8,6,4"), ("critical", "16,12,8")]),
    ("check_disk", "check_disk", "System", "Disk", [("warning", "20%"), ("critical", "10%"), ("path", "/")],
     "disk-root", "Root Filesystem", [("path", "/"), ("warning", "15%")]),
    ("check_mem", "check_mem", "System", "Memory", [("warning", "80"), ("critical", "90")],
     "memory", "Memory Usage", [("warning", "85")]),
    ("check_swap", "check_swap", "System", "Memory", [("warning", "50%"), ("critical", "25%")],
     "swap", "Swap Usage", [("critical", "20%")]),
    ("check_procs", "check_total_procs", "System", "Processes", [("warning", "250"), ("critical", "400")],
     "procs", "Total Processes", [("warning", "300"), ("critical", "500")]),
    ("check_users", "check_users", "System", "Users", [("warning", "5"), ("critical", "10")],
     "users", "Logged In Users", [("warning", "3")]),
    ("check_ntp_time", "check_ntp_time", "System", "NTP",
     [("warning", "0.5"), ("critical", "1"), ("server", "pool.ntp.org")],
     "ntp", "NTP Time Offset",
     [("server", "#{coalesce(host.getParameter('ntp_server'), host.location.getParameter('ntp_server'), 'pool.ntp.org')}")]),
    ("check_sshd", "check_sshd", "System", "SSH", [("port", "22")],
     "ssh", "SSH Daemon", [("port", "22")]),
    ("check_zombie_procs", "check_zombie_procs", "System", "Processes", [("warning", "5"), ("critical", "10")],
     "zombies", "Zombie Processes", [("critical", "20")]),
    ("check_apt", "check_apt", "System", "Updates", [("warning", "10"), ("critical", "1")],
     "updates", "Package Updates", [("warning", "20"), ("critical", "5")]),
]
assert len(NRPE_CHECKS) == SERVICES_PER_HOST


# --------------------------------------------------------------------------- helpers

def x(s: str) -> str:
    return escape(s)


def a(s: str) -> str:
    return quoteattr(s)


def q(s: str) -> str:
    """Icinga 2 string literal."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def qlist(items) -> str:
    return "[ " + ", ".join(q(i) for i in items) + " ]"


def bergamot_file(path: str, body: list[str]) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        f.write(f"<bergamot site={a(SITE)}>\n")
        f.write("".join(body))
        f.write("</bergamot>\n")


def icinga_file(path: str, body: list[str]) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("/* generated by benches/config-load/gen_estate.py */\n\n")
        f.write("".join(body))


def icinga_range(r: str):
    """'monday 09:00-17:30' -> ('monday', '09:00-17:30'); '00:00-24:00' -> (None, ...)."""
    parts = r.rsplit(" ", 1)
    if len(parts) == 1:
        return None, parts[0]
    return parts[0], parts[1]


def var_name(p: str) -> str:
    return p.replace("-", "_")


def icinga_macro(v: str) -> str:
    """Translate the few Bergamot expressions we use to Icinga runtime macros."""
    if v == "#{host.address}":
        return "$address$"
    if v == "#{host.name}":
        return "$host.name$"
    if v.startswith("#{coalesce(host.getParameter('ntp_server')"):
        return "$host.vars.ntp_server$"
    return v


# --------------------------------------------------------------------------- static parts

def gen_time_periods(bdir, idir):
    b, i = [], []
    for name, summary, ranges, excludes in TIME_PERIODS:
        ex = f" excludes={a(', '.join(excludes))}" if excludes else ""
        b.append(f"    <time-period name={a(name)}{ex}>\n        <summary>{x(summary)}</summary>\n")
        for r in ranges:
            b.append(f"        <time-range>{x(r)}</time-range>\n")
        b.append("    </time-period>\n")

        i.append(f"object TimePeriod {q(name)} {{\n  display_name = {q(summary)}\n")
        rng = []
        for r in ranges:
            day, hours = icinga_range(r)
            if day is None:
                for d in WEEKDAYS:
                    rng.append((d, hours))
            else:
                rng.append((day, hours))
        if not ranges:  # Bergamot: no ranges = always (minus excludes); Icinga: never
            rng = [(d, "00:00-24:00") for d in WEEKDAYS]
        merged: dict[str, list[str]] = {}
        for d, h in rng:
            merged.setdefault(d, []).append(h)
        i.append("  ranges = {\n")
        for d, hs in merged.items():
            i.append(f"    {q(d)} = {q(','.join(hs))}\n")
        i.append("  }\n")
        if excludes:
            i.append(f"  excludes = {qlist(excludes)}\n")
        i.append("}\n\n")
    bergamot_file(os.path.join(bdir, "time-periods.xml"), b)
    icinga_file(os.path.join(idir, "time-periods.conf"), i)


def gen_locations_groups(bdir, idir):
    b, i = [], []
    for name, parent, summary in LOCATIONS:
        loc = f" location={a(parent)}" if parent else ""
        b.append(f"    <location name={a(name)}{loc}>\n        <summary>{x(summary)}</summary>\n")
        if name in LOCATION_NTP:
            b.append(f"        <parameter name=\"ntp_server\">{x(LOCATION_NTP[name])}</parameter>\n")
        b.append("    </location>\n")
        i.append(f"object HostGroup {q('loc-' + name)} {{\n  display_name = {q(summary)}\n")
        if parent:
            i.append(f"  groups = {qlist(['loc-' + parent])}\n")
        if name in LOCATION_NTP:
            i.append(f"  vars.ntp_server = {q(LOCATION_NTP[name])}\n")
        i.append("}\n\n")
    bergamot_file(os.path.join(bdir, "locations.xml"), b)
    icinga_file(os.path.join(idir, "locations.conf"), i)

    b, i = [], []
    for name, parents, summary, kind in GROUPS:
        gr = f" groups={a(', '.join(parents))}" if parents else ""
        b.append(f"    <group name={a(name)}{gr}>\n        <summary>{x(summary)}</summary>\n    </group>\n")
        typ = "ServiceGroup" if kind == "service" else "HostGroup"
        i.append(f"object {typ} {q(name)} {{\n  display_name = {q(summary)}\n")
        # Icinga nests only groups of the same type: the service group's parent
        # ("services") is a host group, so it is left out there.
        same = [p for p in parents if kind == "host"]
        if same:
            i.append(f"  groups = {qlist(same)}\n")
        i.append("}\n\n")
    bergamot_file(os.path.join(bdir, "groups.xml"), b)
    icinga_file(os.path.join(idir, "groups.conf"), i)


def gen_contacts(bdir, idir, rng: random.Random):
    b, i = [], []
    b.append('    <security-domain name="global">\n        <summary>Global</summary>\n'
             '        <description>Access controls for every check</description>\n    </security-domain>\n')
    for name, parents, summary, grants, acl in TEAMS:
        attrs = f" name={a(name)}"
        if parents:
            attrs += f" teams={a(', '.join(parents))}"
        if grants:
            attrs += f" grants={a(grants)}"
        b.append(f"    <team{attrs}>\n        <summary>{x(summary)}</summary>\n")
        if acl:
            b.append(f"        <access-control security-domain=\"global\" grants={a(acl)} revokes=\"\"/>\n")
        b.append("    </team>\n")
        i.append(f"object UserGroup {q(name)} {{\n  display_name = {q(summary)}\n")
        if parents:
            i.append(f"  groups = {qlist(parents)}\n")
        i.append("}\n\n")

    b.append(
        '    <contact name="generic-contact" template="yes">\n'
        '        <summary>Generic Contact</summary>\n'
        '        <notifications enabled="yes" time-period="24x7" alerts="yes" recovery="yes" acknowledge="yes">\n'
        '            <notification-engine engine="email" enabled="yes" time-period="24x7"/>\n'
        '            <notification-engine engine="sms" enabled="yes" time-period="out-of-hours" alerts="yes" recovery="no" ignore="pending, ok, warning"/>\n'
        '        </notifications>\n'
        '    </contact>\n')
    i.append(
        'template User "generic-contact" {\n'
        '  display_name = "Generic Contact"\n'
        '  enable_notifications = true\n'
        '  period = "24x7"\n'
        '  states = [ OK, Warning, Critical, Unknown, Up, Down ]\n'
        '  types = [ Problem, Recovery, Acknowledgement ]\n'
        '}\n\n')
    n = 0
    for first in FIRST:
        for last in LAST:
            n += 1
            name = f"{first}.{last}"
            teams = rng.sample(CONTACT_TEAMS, rng.choice((1, 1, 2)))
            pager = f"+4470000{n:05d}" if n % 3 == 0 else None
            workhours_only = n % 5 == 0
            b.append(f"    <contact name={a(name)} extends=\"generic-contact\" teams={a(', '.join(teams))}>\n"
                     f"        <summary>{x(first.title() + ' ' + last.title())}</summary>\n"
                     f"        <email>{x(name)}@example.org</email>\n")
            if pager:
                b.append(f"        <pager>{x(pager)}</pager>\n")
            if workhours_only:
                b.append('        <notifications enabled="yes" time-period="workhours"/>\n')
            b.append("    </contact>\n")
            i.append(f"object User {q(name)} {{\n  import \"generic-contact\"\n"
                     f"  display_name = {q(first.title() + ' ' + last.title())}\n"
                     f"  email = {q(name + '@example.org')}\n"
                     f"  groups = {qlist(teams)}\n")
            if pager:
                i.append(f"  pager = {q(pager)}\n")
            if workhours_only:
                i.append('  period = "workhours"\n')
            i.append("}\n\n")
    bergamot_file(os.path.join(bdir, "contacts.xml"), b)
    icinga_file(os.path.join(idir, "contacts.conf"), i)
    return n


def gen_commands(bdir, idir):
    b, i = [], []
    # nagios check_ping, exactly as the guide
    b.append(
        '    <command engine="nagios" name="check_ping" category="Network" application="ICMP">\n'
        '        <summary>Ping</summary>\n'
        '        <parameter name="warning" description="The warning threshold, eg: 100.0,20%">100.0,20%</parameter>\n'
        '        <parameter name="critical" description="The critical threshold, eg: 500.0,60%">500.0,60%</parameter>\n'
        '        <parameter name="packets" description="The number of packets to send">5</parameter>\n'
        '        <parameter name="command_line">#{nagios.path}/check_ping -H #{host.address} -w #{warning} -c #{critical} -p #{packets}</parameter>\n'
        '    </command>\n'
        '    <command name="check-host-alive" extends="check_ping">\n'
        '        <summary>Host Alive</summary>\n'
        '        <parameter name="warning">3000.0,80%</parameter>\n'
        '        <parameter name="critical">5000.0,100%</parameter>\n'
        '        <parameter name="packets">1</parameter>\n'
        '    </command>\n'
        '    <command engine="nagios" name="check_http" category="Web" application="HTTP">\n'
        '        <summary>HTTP</summary>\n'
        '        <parameter name="vhost" description="The virtual host name">#{host.name}</parameter>\n'
        '        <parameter name="port" description="The TCP port">80</parameter>\n'
        '        <parameter name="uri" description="The URI to fetch">/</parameter>\n'
        '        <parameter name="command_line">#{nagios.path}/check_http -H #{vhost} -I #{host.address} -p #{port} -u #{uri}</parameter>\n'
        '    </command>\n'
        '    <command engine="nrpe" name="check_nrpe">\n'
        '        <summary>NRPE</summary>\n'
        '        <parameter name="command" description="The NRPE command, eg: check_load"></parameter>\n'
        '        <parameter name="host" description="The host to connect to">#{host.address}</parameter>\n'
        '        <parameter name="port" description="The port number">5666</parameter>\n'
        '    </command>\n')
    i.append(
        'template CheckCommand "check_ping-base" {\n'
        '  command = [ PluginDir + "/check_ping" ]\n'
        '  arguments = {\n'
        '    "-H" = "$address$"\n'
        '    "-w" = "$warning$"\n'
        '    "-c" = "$critical$"\n'
        '    "-p" = "$packets$"\n'
        '  }\n'
        '  vars.warning = "100.0,20%"\n'
        '  vars.critical = "500.0,60%"\n'
        '  vars.packets = 5\n'
        '}\n\n'
        'object CheckCommand "check_ping" {\n  import "check_ping-base"\n}\n\n'
        'object CheckCommand "check-host-alive" {\n'
        '  import "check_ping-base"\n'
        '  vars.warning = "3000.0,80%"\n'
        '  vars.critical = "5000.0,100%"\n'
        '  vars.packets = 1\n'
        '}\n\n'
        'object CheckCommand "check_http" {\n'
        '  command = [ PluginDir + "/check_http" ]\n'
        '  arguments = {\n'
        '    "-H" = "$vhost$"\n'
        '    "-I" = "$address$"\n'
        '    "-p" = "$port$"\n'
        '    "-u" = "$uri$"\n'
        '  }\n'
        '  vars.vhost = "$host.name$"\n'
        '  vars.port = 80\n'
        '  vars.uri = "/"\n'
        '}\n\n'
        'template CheckCommand "check_nrpe-base" {\n'
        '  command = [ PluginDir + "/check_nrpe" ]\n'
        '  arguments = {\n'
        '    "-H" = "$nrpe_host$"\n'
        '    "-p" = "$nrpe_port$"\n'
        '    "-c" = "$nrpe_command$"\n'
        '    "-a" = {\n'
        '      value = "$nrpe_arguments$"\n'
        '      repeat_key = false\n'
        '      order = 1\n'
        '    }\n'
        '  }\n'
        '  vars.nrpe_host = "$address$"\n'
        '  vars.nrpe_port = 5666\n'
        '}\n\n'
        'object CheckCommand "check_nrpe" {\n  import "check_nrpe-base"\n}\n\n')
    for cmd, nrpe_cmd, cat, app, params, *_ in NRPE_CHECKS:
        b.append(f"    <command name={a(cmd)} extends=\"check_nrpe\" category={a(cat)} application={a(app)}>\n"
                 f"        <summary>{x(app)}</summary>\n")
        for k, v in params:
            b.append(f"        <parameter name={a(k)}>{x(v)}</parameter>\n")
        b.append(f"        <parameter name=\"command\">{x(nrpe_cmd)}</parameter>\n")
        for n, (k, _) in enumerate(params, 1):
            b.append(f"        <parameter name=\"nrpe-arg{n}\">#{{{k}}}</parameter>\n")
        b.append("    </command>\n")
        i.append(f"object CheckCommand {q(cmd)} {{\n  import \"check_nrpe-base\"\n"
                 f"  vars.nrpe_command = {q(nrpe_cmd)}\n")
        for k, v in params:
            i.append(f"  vars.{var_name(k)} = {q(v)}\n")
        i.append(f"  vars.nrpe_arguments = {qlist('$' + var_name(k) + '$' for k, _ in params)}\n}}\n\n")
    bergamot_file(os.path.join(bdir, "commands.xml"), b)
    i.append(
        'object NotificationCommand "mail-host-notification" {\n'
        '  command = [ ConfigDir + "/scripts/mail-host-notification.sh" ]\n'
        '  arguments += {\n'
        '    "-4" = "$notification_address$"\n'
        '    "-d" = "$icinga.long_date_time$"\n'
        '    "-l" = "$notification_hostname$"\n'
        '    "-o" = "$notification_hostoutput$"\n'
        '    "-r" = "$notification_useremail$"\n'
        '    "-s" = "$notification_hoststate$"\n'
        '    "-t" = "$notification_type$"\n'
        '  }\n'
        '  vars += {\n'
        '    notification_address = "$address$"\n'
        '    notification_hostname = "$host.name$"\n'
        '    notification_hostoutput = "$host.output$"\n'
        '    notification_useremail = "$user.email$"\n'
        '    notification_hoststate = "$host.state$"\n'
        '    notification_type = "$notification.type$"\n'
        '  }\n'
        '}\n\n'
        'object NotificationCommand "mail-service-notification" {\n'
        '  command = [ ConfigDir + "/scripts/mail-service-notification.sh" ]\n'
        '  arguments += {\n'
        '    "-4" = "$notification_address$"\n'
        '    "-d" = "$icinga.long_date_time$"\n'
        '    "-e" = "$notification_servicename$"\n'
        '    "-l" = "$notification_hostname$"\n'
        '    "-o" = "$notification_serviceoutput$"\n'
        '    "-r" = "$notification_useremail$"\n'
        '    "-s" = "$notification_servicestate$"\n'
        '    "-t" = "$notification_type$"\n'
        '  }\n'
        '  vars += {\n'
        '    notification_address = "$address$"\n'
        '    notification_hostname = "$host.name$"\n'
        '    notification_servicename = "$service.name$"\n'
        '    notification_serviceoutput = "$service.output$"\n'
        '    notification_useremail = "$user.email$"\n'
        '    notification_servicestate = "$service.state$"\n'
        '    notification_type = "$notification.type$"\n'
        '  }\n'
        '}\n\n')
    icinga_file(os.path.join(idir, "commands.conf"), i)


def gen_templates(bdir, idir):
    b = [
        '    <host name="generic-host" template="yes" enabled="yes" suppressed="no">\n'
        '        <summary>Generic Host</summary>\n'
        '        <description>A generic host template</description>\n'
        '        <notifications enabled="yes" time-period="24x7" all-engines="yes"/>\n'
        '        <notify teams="admins"/>\n'
        '        <state failed-after="4" recovers-after="10"/>\n'
        '        <schedule every="5" retry-every="1" changing-every="1" time-period="24x7"/>\n'
        '        <check-command command="check-host-alive"/>\n'
        '    </host>\n'
        '    <service name="generic-service" template="yes" enabled="yes" suppressed="no" groups="linux-services">\n'
        '        <summary>Generic Service</summary>\n'
        '        <description>A generic service template</description>\n'
        '        <notifications enabled="yes" time-period="24x7" all-engines="yes"/>\n'
        '        <notify teams="admins"/>\n'
        '        <state failed-after="3" recovers-after="3"/>\n'
        '        <schedule every="5" retry-every="1" time-period="24x7"/>\n'
        '    </service>\n'
        '    <host name="linux-server" extends="generic-host" template="yes" groups="linux">\n'
        '        <summary>Linux Server</summary>\n'
        '        <parameter name="os">linux</parameter>\n'
    ]
    i = [
        'template Host "generic-host" {\n'
        '  display_name = "Generic Host"\n'
        '  check_command = "check-host-alive"\n'
        '  max_check_attempts = 4\n'
        '  check_interval = 5m\n'
        '  retry_interval = 1m\n'
        '  check_period = "24x7"\n'
        '  enable_notifications = true\n'
        '  vars.notification_period = "24x7"\n'
        '  vars.notify_teams = [ "admins" ]\n'
        '}\n\n'
        'template Service "generic-service" {\n'
        '  max_check_attempts = 3\n'
        '  check_interval = 5m\n'
        '  retry_interval = 1m\n'
        '  check_period = "24x7"\n'
        '  enable_notifications = true\n'
        '  groups = [ "linux-services" ]\n'
        '  vars.notification_period = "24x7"\n'
        '  vars.notify_teams = [ "admins" ]\n'
        '}\n\n'
        'template Host "linux-server" {\n'
        '  import "generic-host"\n'
        '  display_name = "Linux Server"\n'
        '  groups = [ "linux" ]\n'
        '  vars.os = "linux"\n'
        '}\n\n'
    ]
    for cmd, _nrpe, cat, app, _defaults, svc, summary, own in NRPE_CHECKS:
        b.append(f"        <service name={a(svc)} extends=\"generic-service\">\n"
                 f"            <summary>{x(summary)}</summary>\n"
                 f"            <check-command command={a(cmd)}>\n")
        for k, v in own:
            b.append(f"                <parameter name={a(k)}>{x(v)}</parameter>\n")
        b.append("            </check-command>\n        </service>\n")
        i.append(f"apply Service {q(svc)} {{\n  import \"generic-service\"\n"
                 f"  display_name = {q(summary)}\n  check_command = {q(cmd)}\n")
        for k, v in own:
            i.append(f"  vars.{var_name(k)} = {q(icinga_macro(v))}\n")
        i.append('  assign where "linux-server" in host.templates\n}\n\n')
    b.append("    </host>\n")
    i.append(
        'apply Notification "notify-teams" to Host {\n'
        '  command = "mail-host-notification"\n'
        '  user_groups = host.vars.notify_teams\n'
        '  period = host.vars.notification_period\n'
        '  states = [ Up, Down ]\n'
        '  types = [ Problem, Recovery, Acknowledgement ]\n'
        '  assign where host.vars.notify_teams\n'
        '}\n\n'
        'apply Notification "notify-teams" to Service {\n'
        '  command = "mail-service-notification"\n'
        '  user_groups = service.vars.notify_teams\n'
        '  period = service.vars.notification_period\n'
        '  states = [ OK, Warning, Critical, Unknown ]\n'
        '  types = [ Problem, Recovery, Acknowledgement ]\n'
        '  assign where service.vars.notify_teams\n'
        '}\n\n')
    bergamot_file(os.path.join(bdir, "templates.xml"), b)
    icinga_file(os.path.join(idir, "templates.conf"), i)


# --------------------------------------------------------------------------- hosts

def host_address(i: int) -> str:
    k = i // 250
    return f"10.{k // 250}.{k % 250}.{i % 250 + 1}"


def gen_hosts(n, bdir, idir, rng: random.Random, per_file: int):
    leaves = [name for name, _p, _s in LOCATIONS if name not in {p for _n, p, _s in LOCATIONS}]
    loc_summary = {name: s for name, _p, s in LOCATIONS}
    extra_services = 0
    notify_overrides = 0
    files = 0
    for start in range(1, n + 1, per_file):
        files += 1
        b, ic = [], []
        for i in range(start, min(n, start + per_file - 1) + 1):
            name = f"host{i:06d}"
            loc = rng.choice(leaves)
            env = rng.choices(ENVIRONMENTS, weights=(60, 20, 10, 10))[0]
            distro = rng.choice(DISTROS)
            app = rng.choice(APPS)
            groups = [env, distro, app]
            if rng.random() < 0.3:
                groups.append(rng.choice(CUSTOMERS))
            if env == "production" and rng.random() < 0.05:
                groups.append("critical")
            summary = f"{app.title()} server {i} in {loc_summary[loc]}"
            rack = f"r{rng.randrange(1, 60):02d}"
            serial = f"SN{rng.randrange(16 ** 8):08X}"
            r = rng.random()
            extra = r < 0.05
            override = 0.05 <= r < 0.10
            address = host_address(i)

            b.append(f"    <host name={a(name)} address={a(address)} extends=\"linux-server\" "
                     f"location={a(loc)} groups={a(', '.join(groups))}>\n"
                     f"        <summary>{x(summary)}</summary>\n"
                     f"        <parameter name=\"rack\">{rack}</parameter>\n"
                     f"        <parameter name=\"serial\">{serial}</parameter>\n")
            ic.append(f"object Host {q(name)} {{\n  import \"linux-server\"\n"
                      f"  display_name = {q(summary)}\n  address = {q(address)}\n"
                      f"  groups += {qlist(['loc-' + loc] + groups)}\n"
                      f"  vars.location = {q(loc)}\n"
                      f"  vars.rack = {q(rack)}\n  vars.serial = {q(serial)}\n")
            if override:
                notify_overrides += 1
                team = "dba" if app in APP_PARENTS["databases"] else (
                    "web-admins" if app in WEB_APPS else "on-call")
                b.append(f"        <notify teams={a(team)}/>\n")
                ic.append(f"  vars.notify_teams += [ {q(team)} ]\n")
            ic.append("}\n\n")
            if extra:
                extra_services += 1
                vhost = f"{name}.{app}.example.org"
                port = "443" if rng.random() < 0.5 else "80"
                b.append("        <service name=\"http\" extends=\"generic-service\" category=\"Web\" application=\"HTTP\">\n"
                         "            <summary>HTTP Virtual Host</summary>\n"
                         "            <check-command command=\"check_http\">\n"
                         f"                <parameter name=\"vhost\">{x(vhost)}</parameter>\n"
                         f"                <parameter name=\"port\">{port}</parameter>\n"
                         "            </check-command>\n"
                         "        </service>\n")
                ic.append(f"object Service \"http\" {{\n  import \"generic-service\"\n"
                          f"  host_name = {q(name)}\n  display_name = \"HTTP Virtual Host\"\n"
                          f"  check_command = \"check_http\"\n"
                          f"  vars.vhost = {q(vhost)}\n  vars.port = {port}\n}}\n\n")
            b.append("    </host>\n")
        bergamot_file(os.path.join(bdir, "hosts", f"hosts-{files:04d}.xml"), b)
        icinga_file(os.path.join(idir, "hosts", f"hosts-{files:04d}.conf"), ic)
    return extra_services, notify_overrides, files


def gen_icinga_main(idir):
    icinga_file(os.path.join(idir, "icinga2.conf"), [
        "/* Minimal main file: only the generated estate (no ITL, no features, no conf.d). */\n",
        'const PluginDir = "/usr/lib/nagios/plugins"\n\n',
        'include "time-periods.conf"\n',
        'include "commands.conf"\n',
        'include "contacts.conf"\n',
        'include "locations.conf"\n',
        'include "groups.conf"\n',
        'include "templates.conf"\n',
        'include_recursive "hosts"\n',
    ])


# --------------------------------------------------------------------------- main

def generate(n: int, out: str, seed: int = 1, per_file: int = 1000) -> dict:
    bdir = os.path.join(out, "bergamot")
    idir = os.path.join(out, "icinga2")
    for d in (bdir, idir):
        if os.path.exists(d) and os.listdir(d):
            sys.exit(f"gen_estate: {d} exists and is not empty; use a fresh OUTDIR")
        os.makedirs(d, exist_ok=True)
    rng = random.Random(seed)
    gen_time_periods(bdir, idir)
    gen_locations_groups(bdir, idir)
    contacts = gen_contacts(bdir, idir, rng)
    gen_commands(bdir, idir)
    gen_templates(bdir, idir)
    extra, overrides, files = gen_hosts(n, bdir, idir, rng, per_file)
    gen_icinga_main(idir)
    services = n * SERVICES_PER_HOST + extra
    counts = {
        "hosts": n,
        "services": services,
        "extra_http_services": extra,
        "notify_overrides": overrides,
        "host_files": files,
        "time_periods": len(TIME_PERIODS),
        "locations": len(LOCATIONS),
        "groups": len(GROUPS),
        "teams": len(TEAMS),
        "contacts": contacts,
        "commands": 4 + len(NRPE_CHECKS),
        "bergamot": {"hosts": n, "services": services},
        "icinga2": {
            "hosts": n,
            "services": services,
            "apply_service_rules": SERVICES_PER_HOST,
            "notifications": n + services,
            "host_groups": len(GROUPS) - 1 + len(LOCATIONS),
            "service_groups": 1,
        },
    }
    with open(os.path.join(out, "counts.json"), "w") as f:
        json.dump(counts, f, indent=2)
    return counts


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("n", type=int, help="number of hosts")
    ap.add_argument("outdir")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--hosts-per-file", type=int, default=1000)
    args = ap.parse_args(argv)
    if args.n < 1:
        ap.error("N must be positive")
    c = generate(args.n, args.outdir, args.seed, args.hosts_per_file)
    print(f"estate N={c['hosts']}: bergamot {c['bergamot']['hosts']} hosts / "
          f"{c['bergamot']['services']} services; icinga2 {c['icinga2']['hosts']} hosts / "
          f"{c['icinga2']['services']} services (+{c['icinga2']['notifications']} notifications); "
          f"{c['extra_http_services']} extra http services, {c['notify_overrides']} notify overrides, "
          f"{c['host_files']} host files -> {args.outdir}")
    if c["bergamot"] != {k: c["icinga2"][k] for k in ("hosts", "services")}:
        sys.exit("gen_estate: the two sides differ in hosts/services")


if __name__ == "__main__":
    main()
