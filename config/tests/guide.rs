//! The configuration guide's examples mean what the guide says: every example site
//! of `docs/examples/` loads without errors and resolves to the values, checks,
//! calendars, parameters and conditions the guide describes; the inheritance merge
//! rules of SEMANTICS §2 hold case by case; the `config new-site` starter is clean.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use bergamot_config::bind::ConditionModel;
use bergamot_config::condition::{self, Member};
use bergamot_config::model::{CheckId, Site};
use bergamot_config::props::{Key, Value};
use bergamot_config::raw::Kind;
use bergamot_config::resolve::Resolved;
use bergamot_config::status::Status;
use bergamot_config::view;
use common::*;

// ---------------------------------------------------------------------------
// Every example validates

#[test]
fn every_example_directory_is_one_site_without_errors() {
    let dirs = example_dirs();
    let names: Vec<String> = dirs.iter().map(|d| d.file_name().unwrap().to_string_lossy().into_owned()).collect();
    for expected in
        ["clusters", "commands", "complete", "hosts-services-traps", "inheritance", "teams-contacts", "time-periods"]
    {
        assert!(names.iter().any(|n| n == expected), "docs/examples/{expected} is missing: {names:?}");
    }
    for dir in &dirs {
        let o = bergamot_config::load_model(dir);
        let what = dir.display().to_string();
        assert_no_errors(&o, &what);
        assert_eq!(o.model.sites.len(), 1, "{what}: one site per directory:\n{}", render(&o));
        let site = &o.model.sites[0];
        assert!(
            !site.objects.table(Kind::TimePeriod).is_empty() || !site.checks.is_empty(),
            "{what}: the example is not empty"
        );
        // Only the guide's legacy `<command extends>` spelling warns (docs/examples/README.md).
        let warnings: Vec<String> = o.diags.warnings().map(|d| line(&o.model, d)).collect();
        if dir.ends_with("inheritance") {
            assert_eq!(warnings.len(), 2, "{what}: one warning per legacy <command extends>: {warnings:#?}");
            assert!(warnings.iter().all(|w| w.contains("old form of `<check-command>`")), "{warnings:#?}");
        } else {
            assert!(warnings.is_empty(), "{what}: unexpected warnings: {warnings:#?}");
        }
    }
}

#[test]
fn all_examples_together_are_eight_sites_without_errors() {
    let o = bergamot_config::load_model(&examples_dir());
    assert_no_errors(&o, "docs/examples");
    let mut sites: Vec<&str> = o.model.sites.iter().map(|s| &*s.name).collect();
    sites.sort();
    assert_eq!(
        sites,
        [
            "clusters.example.org",
            "commands.example.org",
            "hosts-services-traps.example.org",
            "inheritance.example.org",
            "office.example.com",
            "teams-contacts.example.org",
            "this-machine.local",
            "time-periods.example.org",
        ]
    );
}

#[test]
fn the_complete_site_validates_and_has_its_checks() {
    let o = example("complete");
    let s = site(&o, "office.example.com");
    for (kind, name, on) in [
        (Kind::Host, "core-switch", None),
        (Kind::Trap, "port-2", Some("core-switch")),
        (Kind::Service, "http-intranet", Some("web2")),
        (Kind::Service, "load", Some("files")),
        (Kind::Cluster, "website", None),
        (Kind::Resource, "listener-pgsql", Some("database")),
    ] {
        check(s, kind, name, on);
    }
}

#[test]
fn the_new_site_starter_validates_without_errors_or_warnings() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../daemon/src/cli/starter");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("starter directory")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap().replace("@SITE@", "starter.example.org");
            (p.file_name().unwrap().to_string_lossy().into_owned(), text)
        })
        .collect();
    files.sort();
    assert!(files.len() >= 6, "starter files: {:?}", files.iter().map(|f| &f.0).collect::<Vec<_>>());
    let refs: Vec<(&str, &str)> = files.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    let o = docs(&refs);
    assert!(o.diags.items.is_empty(), "the starter must be clean:\n{}", render(&o));
    let s = site(&o, "starter.example.org");
    for host in ["linux1", "linux2", "switch1"] {
        check(s, Kind::Host, host, None);
    }
}

// ---------------------------------------------------------------------------
// Inheritance (the guide's section "Inheritance")

fn params(
    site: &Site,
    check: &std::sync::Arc<Resolved>,
    host: &std::sync::Arc<Resolved>,
) -> (String, Vec<(String, String)>) {
    let (cmd, ps) = view::command_parameters(site, check, Some(host)).expect("the check runs a command");
    (cmd, ps.into_iter().map(|p| (p.name.to_string(), p.evaluated)).collect())
}

fn param(list: &[(String, String)], name: &str) -> String {
    list.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no parameter {name}: {list:?}"))
}

#[test]
fn localhost_inherits_check_load_and_settings_from_its_templates() {
    let o = example("inheritance");
    let s = site(&o, "inheritance.example.org");
    let id = check(s, Kind::Service, "check_load", Some("localhost"));
    assert_eq!(s.check_path(id).as_deref(), Some("inheritance.example.org/host/localhost/service/check_load"));
    check(s, Kind::Host, "localhost", None);
    // Templates are not checks, nor are their services.
    assert_eq!(s.find_check(Kind::Host, "linux-server", None), None);
    assert_eq!(s.find_check(Kind::Service, "check_load", Some("linux-server")), None);
    assert_eq!(s.find_check(Kind::Host, "generic-host", None), None);

    // The host's notification and host check settings come from generic-host.
    let p = "inheritance.example.org/";
    for (key, value, from) in [
        ("notifications.time-period", "24x7", "host/generic-host"),
        ("notifications.enabled", "yes", "host/generic-host"),
        ("notify.teams", "admins", "host/generic-host"),
        ("check-command.command", "check_host_alive", "host/generic-host"),
        ("schedule.every", "5m", "host/generic-host"),
        ("state.failed-after", "3", "host/generic-host"),
    ] {
        assert_eq!(value_of(&o, s, Kind::Host, "localhost", key), value, "localhost {key}");
        assert_eq!(value_from(&o, s, Kind::Host, "localhost", key), format!("{p}{from}"), "localhost {key} from");
    }
    // check_load's schedule and notifications come from generic-service.
    for (key, value, from) in [
        ("summary", "Load Average", "host/linux-server/service/check_load"),
        ("check-command.command", "check_load", "host/linux-server/service/check_load"),
        ("notifications.time-period", "workhours", "service/generic-service"),
        ("notify.teams", "admins", "service/generic-service"),
        ("schedule.every", "5m", "service/generic-service"),
        ("schedule.retry-every", "1m", "service/generic-service"),
        ("schedule.time-period", "24x7", "service/generic-service"),
    ] {
        assert_eq!(value_of(&o, s, Kind::Service, "localhost/check_load", key), value, "check_load {key}");
        assert_eq!(
            value_from(&o, s, Kind::Service, "localhost/check_load", key),
            format!("{p}{from}"),
            "check_load {key} from"
        );
    }
    let load = nested(s, Kind::Service, "localhost", "check_load");
    let sched = view::schedule(&load.props);
    assert_eq!(
        sched,
        view::Schedule {
            every: Duration::from_secs(300),
            retry_every: Duration::from_secs(60),
            changing_every: Duration::from_secs(60),
            time_period: Some("24x7".into()),
        }
    );
    assert_eq!(view::thresholds(&load.props), (3, 3));
    assert_eq!(load.props.bool(Key::Enabled), Some(true));
    assert_eq!(load.props.bool(Key::Suppressed), Some(false));

    // The host check evaluates with the host's address, which defaults to its name.
    let host = obj(s, Kind::Host, "localhost");
    assert_eq!(view::address(host), "localhost");
    let (cmd, ps) = params(s, host, host);
    assert_eq!(cmd, "check_host_alive");
    assert_eq!(
        param(&ps, "command_line"),
        "/usr/lib/nagios/plugins/check_ping -H localhost -w 100.0,20% -c 500.0,60% -p 5"
    );
    let (cmd, ps) = params(s, load, host);
    assert_eq!(cmd, "check_load");
    assert_eq!(
        ps,
        [("command".into(), "check_load".into()), ("host".into(), "localhost".into()), ("port".into(), "5666".into())]
    );
    assert_eq!(view::tags(s, load), (Some("System"), Some("Load")));
}

/// `value` from common, under a name that does not clash with `props::Value`.
fn value_of(o: &bergamot_config::Outcome, s: &Site, kind: Kind, name: &str, key: &str) -> String {
    common::value(o, s, kind, name, key)
}

#[test]
fn several_parents_smart_merge_and_parameter_position_in_the_inheritance_example() {
    let o = example("inheritance");
    let s = site(&o, "inheritance.example.org");
    assert_eq!(names(&obj(s, Kind::Host, "smart-merge.local").props, Key::Groups), ["c", "d", "e"]);

    // web.local extends "web-server, app-server": web-server is more specific.
    let web = obj(s, Kind::Host, "web.local");
    assert_eq!(web.props.text(Key::Description), Some("Serves the web site"));
    assert_eq!(names(&web.props, Key::Groups), ["c", "d"]);
    let services: Vec<&str> = web.nested.iter().map(|n| &*n.name).collect();
    assert_eq!(services, ["check_load", "nginx"]);
    check(s, Kind::Service, "nginx", Some("web.local"));
    check(s, Kind::Service, "check_load", Some("web.local"));
    assert_eq!(value_of(&o, s, Kind::Host, "web.local", "notifications.time-period"), "24x7");

    let fast = obj(s, Kind::Command, "check_host_alive_fast");
    let order: Vec<(&str, &str)> = fast.props.params().iter().map(|p| (&*p.name, &*p.value)).collect();
    assert_eq!(order[..3], [("warning", "100.0,20%"), ("critical", "500.0,60%"), ("packets", "1")]);
    assert_eq!(order[3].0, "command_line");
    assert_eq!(order[4], ("timeout", "5"));
    assert_eq!(fast.props.param("timeout").unwrap().description.as_deref(), Some("Seconds"));
    // The overridden parameter keeps the description it inherits.
    assert_eq!(fast.props.param("packets").unwrap().description.as_deref(), Some("The number of packets to send"));

    let flaky = obj(s, Kind::Host, "flaky.local");
    let (cmd, ps) = params(s, flaky, flaky);
    assert_eq!(cmd, "check_host_alive_fast");
    assert_eq!(
        param(&ps, "command_line"),
        "/usr/lib/nagios/plugins/check_ping -H 127.0.0.3 -w 100.0,20% -c 1000.0,80% -p 1"
    );
}

// ---------------------------------------------------------------------------
// Hosts, services and traps

#[test]
fn hosts_services_and_traps_mean_what_the_guide_says() {
    let o = example("hosts-services-traps");
    let s = site(&o, "hosts-services-traps.example.org");

    let gw = obj(s, Kind::Host, "gateway.local");
    check(s, Kind::Host, "gateway.local", None);
    assert_eq!(view::address(gw), "192.168.1.1");
    assert_eq!(gw.props.text(Key::Location), Some("office"));
    assert_eq!(view::summary(obj(s, Kind::Location, "office")), "Office");
    assert_eq!(names(&gw.props, Key::Groups), ["routers"]);
    assert_eq!(view::summary(gw), "Local Gateway");
    assert_eq!(gw.props.text(Key::Description), Some("A generic host template"));
    assert_eq!(view::thresholds(&gw.props), (4, 10));
    assert_eq!(view::schedule(&gw.props).changing_every, Duration::from_secs(60));
    let (cmd, ps) = params(s, gw, gw);
    assert_eq!(cmd, "check-host-alive");
    assert_eq!(
        param(&ps, "command_line"),
        "/usr/lib/nagios/plugins/check_ping -H 192.168.1.1 -w 100.0,20% -c 500.0,60% -p 5"
    );

    // a.linux.server gets the service load from linux-server-nrpe; notify teams
    // are smart-merged, so linux-admins is added to the inherited admins (a
    // template would write `-admins, linux-admins` to replace them).
    let server = obj(s, Kind::Host, "a.linux.server");
    check(s, Kind::Service, "load", Some("a.linux.server"));
    assert_eq!(s.find_check(Kind::Service, "load", Some("linux-server-nrpe")), None);
    assert_eq!(names(server.props.nested(Key::Notify).unwrap(), Key::Teams), ["admins", "linux-admins"]);
    assert_eq!(names(&server.props, Key::Groups), ["linux-servers"]);
    assert_eq!(server.props.text(Key::Description), Some("Default Linux server checked via NRPE template"));
    assert_eq!(server.props.text(Key::Depends), Some("host 'gateway.local'"));
    let load = nested(s, Kind::Service, "a.linux.server", "load");
    assert_eq!(view::summary(load), "Load");
    assert_eq!(names(&load.props, Key::Groups), ["linux-services"]);
    assert_eq!(names(load.props.nested(Key::Notify).unwrap(), Key::Teams), ["admins", "linux-admins"]);
    assert_eq!(
        value_from(&o, s, Kind::Service, "a.linux.server/load", "notify.teams"),
        "hosts-services-traps.example.org/service/generic-service,hosts-services-traps.example.org/service/linux-service"
    );
    assert_eq!(view::thresholds(&load.props), (4, 10));
    assert_eq!(view::tags(s, load), (Some("System"), Some("Load")));
    let (cmd, ps) = params(s, load, server);
    assert_eq!(cmd, "check_nrpe_load");
    assert_eq!(
        ps,
        [("command".into(), "check_load".into()), ("host".into(), "127.0.0.1".into()), ("port".into(), "5666".into())]
    );

    // nginx: tags written on the service, or defaulting to its command's.
    let web = obj(s, Kind::Host, "web.local");
    assert_eq!(web.nested.iter().map(|n| &*n.name).collect::<Vec<_>>(), ["load", "nginx"]);
    let nginx = nested(s, Kind::Service, "web.local", "nginx");
    assert_eq!(
        (nginx.props.text(Key::Category), nginx.props.text(Key::Application)),
        (Some("Web Server"), Some("Nginx"))
    );
    assert_eq!(view::tags(s, nginx), (Some("Web Server"), Some("Nginx")));
    let nginx2 = nested(s, Kind::Service, "web2.local", "nginx");
    assert_eq!(nginx2.props.text(Key::Category), None);
    assert_eq!(view::tags(s, nginx2), (Some("Web Server"), Some("Nginx")));
    assert_eq!(names(&nginx2.props, Key::Groups), ["linux-services"]);
    assert_eq!(obj(s, Kind::Location, "aws-ireland").props.text(Key::Location), Some("aws"));
    assert_eq!(names(&obj(s, Kind::Group, "linux-hosts").props, Key::Groups), ["hosts", "linux"]);

    // The trap on the switch starts ok and is grouped under Link State.
    let switch = obj(s, Kind::Host, "switch1.local");
    let id = check(s, Kind::Trap, "port-E/01/01", Some("switch1.local"));
    assert_eq!(
        s.check_path(id).as_deref(),
        Some("hosts-services-traps.example.org/host/switch1.local/trap/port-E/01/01")
    );
    let trap = nested(s, Kind::Trap, "switch1.local", "port-E/01/01");
    assert_eq!(view::initially(&trap.props), (Status::Ok, "OK".to_string()));
    assert_eq!(view::thresholds(&trap.props), (1, 1));
    assert_eq!(view::tags(s, trap), (Some("Link State"), None));
    assert_eq!(names(&trap.props, Key::Groups), ["network-services"]);
    assert_eq!(names(trap.props.nested(Key::Notify).unwrap(), Key::Teams), ["admins", "network-admins"]);
    let (cmd, ps) = params(s, trap, switch);
    assert_eq!(cmd, "snmp-link-trap");
    assert_eq!(param(&ps, "interface-name"), "E/1/01");
    assert_eq!(param(&ps, "host"), "127.0.0.4");
    assert_eq!(param(&ps, "snmp_community"), "private");
    let trap2 = nested(s, Kind::Trap, "switch1.local", "port-E/01/02");
    assert_eq!(trap2.props.text(Key::Category), None);
    assert_eq!(view::tags(s, trap2), (Some("Link State"), None), "tags default to the command's");
    assert_eq!(view::initially(&trap2.props).0, Status::Ok);
    // A service without <initially> starts PENDING.
    assert_eq!(view::initially(&load.props), (Status::Pending, String::new()));
}

// ---------------------------------------------------------------------------
// Commands and expressions

#[test]
fn commands_evaluate_parameters_as_the_guide_says() {
    let o = example("commands");
    let s = site(&o, "commands.example.org");

    let ping = obj(s, Kind::Command, "check_ping");
    assert_eq!(ping.props.text(Key::Engine), Some("nagios"));
    let names: Vec<&str> = ping.props.params().iter().map(|p| &*p.name).collect();
    assert_eq!(names, ["warning", "critical", "packets", "command_line"]);
    assert_eq!(
        ping.props.param("warning").unwrap().description.as_deref(),
        Some("The warning threshold, eg: 100.0,20%")
    );

    for (host, line) in [
        ("some-host", "/usr/lib/nagios/plugins/check_ping -H 127.0.0.1 -w 100.0,20% -c 500.0,60% -p 5"),
        ("another-host", "/usr/lib/nagios/plugins/check_ping -H 127.0.0.2 -w 100.0,20% -c 500.0,60% -p 3"),
    ] {
        let h = obj(s, Kind::Host, host);
        let (cmd, ps) = params(s, h, h);
        assert_eq!(cmd, "check_ping");
        assert_eq!(param(&ps, "command_line"), line, "{host}");
        assert_eq!(
            ps.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(),
            ["warning", "critical", "packets", "command_line"]
        );
    }

    // The SNMP community: the host's own, else its location's.
    for (host, community) in [("another-host", "private"), ("some-host", "public")] {
        let h = obj(s, Kind::Host, host);
        let svc = nested(s, Kind::Service, host, "name");
        let (cmd, ps) = params(s, svc, h);
        assert_eq!(cmd, "check_snmp_name");
        assert_eq!(param(&ps, "snmp_community"), community, "{host}");
        assert_eq!(param(&ps, "host"), view::address(h));
    }
    // Credentials found through the location; the overridden snmp_version keeps its place.
    let some = obj(s, Kind::Host, "some-host");
    let (_, ps) = params(s, nested(s, Kind::Service, "some-host", "name-v3"), some);
    assert_eq!(ps[1], ("snmp_version".to_string(), "3".to_string()));
    assert_eq!(param(&ps, "snmp_user"), "dc-monitor");
    assert_eq!(param(&ps, "snmp_password"), "also-change-me");

    // More specific commands inherit the engine and the host and port parameters.
    let load = obj(s, Kind::Command, "check_load");
    assert_eq!(load.props.text(Key::Engine), Some("nrpe"));
    let another = obj(s, Kind::Host, "another-host");
    let (cmd, ps) = params(s, nested(s, Kind::Service, "another-host", "load"), another);
    assert_eq!(cmd, "check_load");
    assert_eq!(
        ps,
        [("command".into(), "check_load".into()), ("host".into(), "127.0.0.2".into()), ("port".into(), "5666".into())]
    );

    // check_sshd is tagged System / SSH, and so is a service that runs it.
    let sshd = obj(s, Kind::Command, "check_sshd");
    assert_eq!((sshd.props.text(Key::Category), sshd.props.text(Key::Application)), (Some("System"), Some("SSH")));
    assert_eq!(sshd.props.text(Key::Engine), Some("nrpe"));
    let svc = nested(s, Kind::Service, "another-host", "sshd");
    assert_eq!(view::tags(s, svc), (Some("System"), Some("SSH")));
    let (_, ps) = params(s, svc, another);
    assert_eq!(param(&ps, "command"), "check_sshd");
    // A command's own parameters evaluate too (there is no host: null renders empty).
    let (cmd, ps) = view::command_parameters(s, ping, None).unwrap();
    assert_eq!(cmd, "check_ping");
    assert_eq!(ps.last().unwrap().evaluated, "/usr/lib/nagios/plugins/check_ping -H  -w 100.0,20% -c 500.0,60% -p 5");
}

// ---------------------------------------------------------------------------
// Time periods

const PERIODS: &str = "time-periods.example.org";

#[test]
fn out_of_hours_is_active_exactly_when_workhours_is_not_all_year() {
    let o = example("time-periods");
    let s = site(&o, PERIODS);
    let (mut on, mut off) = (0, 0);
    let start = at("2026-01-01T00:00:00Z");
    // Every 17 minutes for a year (plus a day): ~31,000 instants, all times of day.
    for i in 0..(366 * 24 * 60 / 17) {
        let t = start + jiff::SignedDuration::from_mins(17 * i);
        let work = active(s, "workhours", t);
        assert_ne!(work, active(s, "out-of-hours", t), "at {t}");
        assert!(active(s, "24x7", t), "24x7 at {t}");
        if work { on += 1 } else { off += 1 }
    }
    // 5 x 8.5 h of 168 h a week, less holidays: about a quarter.
    assert!(on > 6500 && off > 20000, "workhours {on} samples, other {off}");
}

#[test]
fn workhours_and_uk_holidays_at_given_instants() {
    let o = example("time-periods");
    let s = site(&o, PERIODS);
    // (instant, workhours, out-of-hours, uk-holidays); the site is in Europe/London.
    let table = [
        ("2026-11-23T10:00:00Z", true, false, false), // Monday, GMT
        ("2026-11-23T08:59:00Z", false, true, false), // before 09:00
        ("2026-11-23T17:29:00Z", true, false, false), // last minute
        ("2026-11-23T17:30:00Z", false, true, false), // end is exclusive
        ("2026-11-21T12:00:00Z", false, true, false), // Saturday
        ("2026-07-01T08:30:00Z", true, false, false), // 09:30 BST
        ("2026-07-01T16:45:00Z", false, true, false), // 17:45 BST
        ("2026-12-25T10:00:00Z", false, true, true),  // Christmas, a Friday
        ("2026-12-28T10:00:00Z", true, false, false), // Monday after Boxing Day
        ("2026-01-01T12:00:00Z", false, true, true),  // New Year, a Thursday
        ("2026-05-04T10:00:00Z", false, true, true),  // first Monday of May
        ("2026-05-25T10:00:00Z", false, true, true),  // last Monday of May
        ("2026-05-11T10:00:00Z", true, false, false), // an ordinary Monday in May
        ("2026-05-01T10:00:00Z", true, false, false), // May 1st, a Friday: not `monday 1 may`
        ("2026-08-31T10:00:00Z", false, true, true),  // last Monday of August
        ("2026-08-24T10:00:00Z", true, false, false),
    ];
    for (t, work, out, hol) in table {
        let t = at(t);
        assert_eq!(
            (active(s, "workhours", t), active(s, "out-of-hours", t), active(s, "uk-holidays", t)),
            (work, out, hol),
            "at {t}"
        );
    }
    let idx = s.table(Kind::TimePeriod).index_of("workhours").unwrap();
    assert_eq!(s.calendar.next_change(idx, at("2026-11-23T10:00:00Z")), Some(at("2026-11-23T17:30:00Z")));
    assert_eq!(s.calendar.next_change(idx, at("2026-12-24T18:00:00Z")), Some(at("2026-12-28T09:00:00Z")));
}

/// The days of May (or any month) a period is active at noon UTC.
fn active_days(s: &Site, period: &str, year: i16, month: i8) -> Vec<i8> {
    let days = jiff::civil::date(year, month, 1).days_in_month();
    (1..=days)
        .filter(|&d| {
            let t = jiff::civil::date(year, month, d)
                .at(12, 0, 0, 0)
                .to_zoned(jiff::tz::TimeZone::UTC)
                .unwrap()
                .timestamp();
            active(s, period, t)
        })
        .collect()
}

#[test]
fn nth_weekday_of_a_month() {
    let o = docs(&[(
        "p.xml",
        r#"<bergamot site="p">
            <time-period name="first-monday-may"><time-range>monday 1 may 00:00-24:00</time-range></time-period>
            <time-period name="last-monday-may"><time-range>monday -1 may 00:00-24:00</time-range></time-period>
            <time-period name="last-monday-august"><time-range>monday -1 august 00:00-24:00</time-range></time-period>
            <time-period name="thanksgiving"><time-range>thursday 4 november 00:00-24:00</time-range></time-period>
            <time-period name="second-tuesday"><time-range>TUESDAY 2 MAY 00:00-24:00</time-range></time-period>
        </bergamot>"#,
    )]);
    assert!(o.diags.items.is_empty(), "{}", render(&o));
    let s = only_site(&o);
    // (period, year, month, active days)
    let table: [(&str, i16, i8, &[i8]); 9] = [
        ("first-monday-may", 2026, 5, &[4]),
        ("first-monday-may", 2027, 5, &[3]),
        ("first-monday-may", 2028, 5, &[1]),
        ("last-monday-may", 2026, 5, &[25]),
        ("last-monday-may", 2027, 5, &[31]),
        ("last-monday-august", 2026, 8, &[31]),
        ("last-monday-august", 2027, 8, &[30]),
        ("thanksgiving", 2026, 11, &[26]),
        ("second-tuesday", 2026, 5, &[12]),
    ];
    for (period, year, month, days) in table {
        assert_eq!(active_days(s, period, year, month), days, "{period} {year}-{month}");
    }
    assert_eq!(active_days(s, "last-monday-may", 2026, 4), [] as [i8; 0]);

    // The same in the example's uk-holidays, in its own zone.
    let o = example("time-periods");
    let s = site(&o, PERIODS);
    assert_eq!(active_days(s, "uk-holidays", 2026, 5), [4, 25]);
    assert_eq!(active_days(s, "uk-holidays", 2027, 5), [3, 31]);
    assert_eq!(active_days(s, "uk-holidays", 2026, 12), [25, 26]);
    assert_eq!(active_days(s, "uk-holidays", 2026, 4), [18, 21]);
}

#[test]
fn time_period_extends_excludes_and_zones_in_the_example() {
    let o = example("time-periods");
    let s = site(&o, PERIODS);
    let ext = obj(s, Kind::TimePeriod, "extended-workhours");
    let ranges: Vec<String> = names(&ext.props, Key::TimeRanges);
    assert_eq!(ranges.len(), 6);
    assert!(ranges[0].starts_with("monday") && ranges[5].starts_with("saturday"), "parent's ranges first: {ranges:?}");
    assert_eq!(names(&ext.props, Key::Excludes), ["uk-holidays", "easter"]);
    for (t, expected) in [
        ("2026-11-21T10:00:00Z", true),  // Saturday morning
        ("2026-11-21T13:00:00Z", false), // Saturday afternoon
        ("2026-11-23T10:00:00Z", true),  // Monday
        ("2026-04-03T10:00:00Z", false), // Good Friday 2026 (easter)
        ("2026-04-10T10:00:00Z", true),  // the Friday after
        ("2026-12-25T10:00:00Z", false), // uk-holidays, inherited exclusion
    ] {
        assert_eq!(active(s, "extended-workhours", at(t)), expected, "extended-workhours at {t}");
    }
    for (t, expected) in [
        ("2026-11-23T13:29:00Z", false), // 08:29 in New York
        ("2026-11-23T13:30:00Z", true),  // 08:30
        ("2026-11-23T21:59:00Z", true),  // 16:59
        ("2026-11-26T15:00:00Z", false), // Thanksgiving
        ("2026-05-25T15:00:00Z", false), // Memorial Day
        ("2026-09-07T15:00:00Z", false), // Labor Day
        ("2026-09-14T15:00:00Z", true),
    ] {
        assert_eq!(active(s, "new-york-workhours", at(t)), expected, "new-york-workhours at {t}");
    }
    for (t, period, expected) in [
        ("2026-11-23T09:30:00Z", "monday-surgeries", true),
        ("2026-11-23T11:00:00Z", "monday-surgeries", false),
        ("2026-11-23T12:59:00Z", "monday-surgeries", true),
        ("2026-11-23T23:30:00Z", "nightly-backup", true),
        ("2026-11-24T01:59:00Z", "nightly-backup", true),
        ("2026-11-24T02:00:00Z", "nightly-backup", false),
        ("2028-02-29T12:00:00Z", "month-end", true),
        ("2027-02-28T12:00:00Z", "month-end", true),
        ("2028-02-28T12:00:00Z", "month-end", false),
        ("2026-11-30T19:00:00Z", "month-end", true),
        ("2026-11-29T19:00:00Z", "month-end", false),
        ("2026-12-01T05:00:00Z", "month-end", true),
    ] {
        assert_eq!(active(s, period, at(t)), expected, "{period} at {t}");
    }
}

// ---------------------------------------------------------------------------
// Teams and contacts

/// (team, member of, grants, [(security domain, grants)])
type TeamRow = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    &'static [(&'static str, &'static [&'static str])],
);

#[test]
fn contacts_inherit_notification_engines_and_teams_grant_as_written() {
    let o = example("teams-contacts");
    let s = site(&o, "teams-contacts.example.org");

    let joe = obj(s, Kind::Contact, "joe.bloggs");
    assert_eq!(joe.props.text(Key::Email), Some("joe@example.com"));
    assert_eq!(joe.props.text(Key::Pager), Some("+447000010203"));
    assert_eq!(view::summary(joe), "Joe Bloggs");
    assert_eq!(names(&joe.props, Key::Teams), ["admins"]);
    let n = joe.props.nested(Key::Notifications).expect("inherited notifications");
    assert_eq!(n.text(Key::TimePeriod), Some("24x7"));
    assert_eq!(
        (n.bool(Key::Enabled), n.bool(Key::Alerts), n.bool(Key::Recovery), n.bool(Key::Acknowledge)),
        (Some(true), Some(true), Some(true), Some(true))
    );
    let engines = n.records(Key::NotificationEngines);
    assert_eq!(engines.iter().map(|e| e.text(Key::Engine).unwrap()).collect::<Vec<_>>(), ["email", "sms"]);
    assert_eq!(engines[1].bool(Key::Recovery), Some(false));
    assert_eq!(engines[1].bool(Key::Alerts), Some(true));
    assert_eq!(engines[1].statuses(Key::Ignore), [Status::Pending, Status::Ok, Status::Warning]);
    assert_eq!(
        value_from(&o, s, Kind::Contact, "joe.bloggs", "notifications.notification-engine[1].engine"),
        "teams-contacts.example.org/contact/generic-contact"
    );

    // jane.doe's own engine list replaces the inherited one; other fields still merge.
    let jane = obj(s, Kind::Contact, "jane.doe");
    let n = jane.props.nested(Key::Notifications).unwrap();
    assert_eq!(n.text(Key::TimePeriod), Some("24x7"));
    let engines = n.records(Key::NotificationEngines);
    let got: Vec<(&str, Option<&str>)> =
        engines.iter().map(|e| (e.text(Key::Engine).unwrap(), e.text(Key::TimePeriod))).collect();
    assert_eq!(got, [("email", Some("workhours")), ("sms", Some("out-of-hours"))]);
    assert_eq!(engines[1].statuses(Key::Ignore), [Status::Warning]);
    // E-mail during work hours, SMS outside them.
    for (t, email, sms) in [
        ("2026-11-23T10:00:00Z", true, false),
        ("2026-11-21T10:00:00Z", false, true),
        ("2026-11-23T20:00:00Z", false, true),
    ] {
        let t = at(t);
        assert_eq!(
            (active(s, got[0].1.unwrap(), t), active(s, got[1].1.unwrap(), t)),
            (email, sms),
            "jane.doe's engines at {t}"
        );
    }
    assert_eq!(jane.props.text(Key::FirstName), Some("Jane"));
    assert_eq!(jane.props.text(Key::Im), Some("xmpp:jane@example.com"));

    let night = obj(s, Kind::Contact, "night.watch");
    assert_eq!(names(&night.props, Key::Revokes), ["api.access"]);
    let acl = night.props.records(Key::AccessControls);
    assert_eq!(acl.len(), 1);
    assert_eq!(
        (acl[0].text(Key::SecurityDomain), names(&acl[0], Key::Revokes)),
        (Some("networks"), vec!["acknowledge".to_string()])
    );

    let teams: [TeamRow; 4] = [
        (
            "everyone",
            &[],
            &["ui.access", "ui.view.*", "api.access"],
            &[(
                "global",
                &[
                    "read",
                    "read.*",
                    "acknowledge",
                    "write.comment",
                    "write.downtime",
                    "remove.comment",
                    "remove.downtime",
                ],
            )],
        ),
        ("admins", &["everyone"], &[], &[("global", &["*"])]),
        ("network-admins", &["admins"], &[], &[("networks", &["*"])]),
        ("bergamot-admins", &["admins"], &["*"], &[]),
    ];
    for (team, member_of, grants, acls) in teams {
        let t = obj(s, Kind::Team, team);
        assert_eq!(names(&t.props, Key::Teams), member_of, "{team} teams");
        assert_eq!(names(&t.props, Key::Grants), grants, "{team} grants");
        assert!(names(&t.props, Key::Revokes).is_empty(), "{team} revokes");
        let got: Vec<(String, Vec<String>)> = t
            .props
            .records(Key::AccessControls)
            .iter()
            .map(|a| (a.text(Key::SecurityDomain).unwrap().to_string(), names(a, Key::Grants)))
            .collect();
        let want: Vec<(String, Vec<String>)> =
            acls.iter().map(|(d, g)| (d.to_string(), g.iter().map(|x| x.to_string()).collect())).collect();
        assert_eq!(got, want, "{team} access controls");
    }
    assert_eq!(names(&obj(s, Kind::Host, "network-device").props, Key::SecurityDomains), ["networks"]);
    assert_eq!(names(&obj(s, Kind::Group, "switches").props, Key::SecurityDomains), ["networks"]);
}

// ---------------------------------------------------------------------------
// Clusters and resources

/// Evaluates a real virtual check's condition with members' statuses given by name.
fn evaluate(s: &Site, condition: &str, statuses: &HashMap<CheckId, Status>) -> Status {
    let c = condition::parse(condition).unwrap_or_else(|e| panic!("{condition}: {e}"));
    let r = condition::resolve(&c, &ConditionModel { site: s }).unwrap_or_else(|e| panic!("{condition}: {e:?}"));
    let lookup =
        |id: CheckId| Member::hard(*statuses.get(&id).unwrap_or_else(|| panic!("no status for member {id:?}")));
    r.evaluate(&lookup).status
}

fn condition_of(r: &Resolved) -> &str {
    match &r.props.get(Key::Condition).expect("a condition").value {
        Value::Text(t) => t,
        other => panic!("condition is {other:?}"),
    }
}

#[test]
fn cluster_and_resource_conditions_evaluate_as_the_guide_says() {
    use Status::*;
    let o = example("clusters");
    let s = site(&o, "clusters.example.org");

    let cluster = obj(s, Kind::Cluster, "pgsql.cluster");
    check(s, Kind::Cluster, "pgsql.cluster", None);
    assert_eq!(condition_of(cluster), "host 'pgsql1.local' or host 'pgsql2.local'");
    assert_eq!(cluster.props.nested(Key::Notifications).unwrap().text(Key::TimePeriod), Some("24x7"));
    assert_eq!(names(cluster.props.nested(Key::Notify).unwrap(), Key::Teams), ["admins"]);
    let (h1, h2) = (check(s, Kind::Host, "pgsql1.local", None), check(s, Kind::Host, "pgsql2.local", None));
    let c = condition::resolve(&condition::parse(condition_of(cluster)).unwrap(), &ConditionModel { site: s }).unwrap();
    assert_eq!(c.members(), [h1, h2]);
    // `or` is the best of the two.
    for (a, b, want) in [
        (Ok, Critical, Ok),
        (Warning, Critical, Warning),
        (Critical, Ok, Ok),
        (Critical, Critical, Critical),
        (Critical, Unknown, Critical),
        (Pending, Critical, Pending),
    ] {
        let st = HashMap::from([(h1, a), (h2, b)]);
        assert_eq!(evaluate(s, condition_of(cluster), &st), want, "pgsql1 {a}, pgsql2 {b}");
    }

    // The listener resource: over the services of the two hosts.
    check(s, Kind::Resource, "listener-pgsql", Some("pgsql.cluster"));
    let res = nested(s, Kind::Resource, "pgsql.cluster", "listener-pgsql");
    assert_eq!(view::summary(res), "Listener: PostgreSQL");
    assert_eq!(res.props.nested(Key::Notifications).unwrap().bool(Key::AllEngines), Some(true));
    let (l1, l2) = (
        check(s, Kind::Service, "listener-pgsql", Some("pgsql1.local")),
        check(s, Kind::Service, "listener-pgsql", Some("pgsql2.local")),
    );
    for (a, b, want) in [(Critical, Ok, Ok), (Critical, Warning, Warning), (Critical, Critical, Critical)] {
        let st = HashMap::from([(l1, a), (l2, b)]);
        assert_eq!(evaluate(s, condition_of(res), &st), want, "listener {a}, {b}");
    }
    // all of: the worst; tags from the top-level resource template.
    let repl = nested(s, Kind::Resource, "pgsql.cluster", "replication-pgsql");
    assert_eq!(
        (repl.props.text(Key::Category), repl.props.text(Key::Application)),
        (Some("Database"), Some("PostgreSQL"))
    );
    let (r1, r2) = (
        check(s, Kind::Service, "replication-pgsql", Some("pgsql1.local")),
        check(s, Kind::Service, "replication-pgsql", Some("pgsql2.local")),
    );
    let st = HashMap::from([(r1, Ok), (r2, Warning)]);
    assert_eq!(evaluate(s, condition_of(repl), &st), Warning);

    // The pool: majority of the three web servers.
    let web = obj(s, Kind::Cluster, "web.cluster");
    let hosts: Vec<CheckId> =
        ["web1.local", "web2.local", "web3.local"].iter().map(|h| check(s, Kind::Host, h, None)).collect();
    for (statuses, want) in [([Ok, Ok, Ok], Ok), ([Ok, Critical, Ok], Warning), ([Critical, Critical, Ok], Critical)] {
        let st: HashMap<CheckId, Status> = hosts.iter().copied().zip(statuses).collect();
        assert_eq!(evaluate(s, condition_of(web), &st), want, "{statuses:?}");
    }
    let http = nested(s, Kind::Resource, "web.cluster", "http");
    let svcs: Vec<CheckId> =
        ["web1.local", "web2.local", "web3.local"].iter().map(|h| check(s, Kind::Service, "http", Some(h))).collect();
    for (statuses, want) in [([Ok, Critical, Ok], Ok), ([Ok, Critical, Critical], Warning)] {
        let st: HashMap<CheckId, Status> = svcs.iter().copied().zip(statuses).collect();
        assert_eq!(evaluate(s, condition_of(http), &st), want, "{statuses:?}");
    }
}

// ---------------------------------------------------------------------------
// Merge rules (SEMANTICS §2), case by case

/// What every merge case may refer to.
const MERGE_SUPPORT: &str = r#"<bergamot site="m">
    <security-domain name="sd1"/><security-domain name="sd2"/>
    <team name="admins"/><team name="ops"/><team name="linux-admins"/>
    <contact name="c1"/><contact name="c2"/>
    <group name="a"/><group name="b"/><group name="c"/><group name="d"/><group name="e"/>
    <location name="l1"/><location name="l2"/>
    <time-period name="24x7"><time-range>00:00-24:00</time-range></time-period>
    <time-period name="workhours"><time-range>monday 09:00-17:30</time-range></time-period>
    <time-period name="x1"><time-range>monday 09:00-10:00</time-range></time-period>
    <time-period name="x2"><time-range>tuesday 09:00-10:00</time-range></time-period>
    <command name="c1" engine="nagios"><parameter name="command_line">true</parameter></command>
    <command name="c2" engine="nagios"><parameter name="command_line">false</parameter></command>
    <host name="h1"><check-command command="c1"/></host>
</bergamot>"#;

fn merge_site(body: &str) -> bergamot_config::Outcome {
    let case = format!("<bergamot site=\"m\">\n{body}\n</bergamot>");
    let o = docs(&[("support.xml", MERGE_SUPPORT), ("case.xml", &case)]);
    assert!(o.diags.items.is_empty(), "merge case must be clean:\n{}\n{case}", render(&o));
    o
}

/// One merge case: objects, the object looked at (`HOST/NAME` for nested checks),
/// and expectations `key = value` or `key = value @ path` (the object that wrote
/// the value, below the site). Several values of a key are joined with `,`; a key
/// ending in `*` lists `name=value` of every key with that prefix, in order.
struct Merge {
    title: &'static str,
    xml: &'static str,
    kind: Kind,
    name: &'static str,
    expect: &'static [&'static str],
}

fn check_merge(case: &Merge) {
    let o = merge_site(case.xml);
    let s = site(&o, "m");
    let values = shown(&o, s, case.kind, case.name);
    for e in case.expect {
        let (key, rest) = e.split_once(" = ").unwrap_or_else(|| panic!("bad expectation {e}"));
        let (want, want_from) = match rest.split_once(" @ ") {
            Some((v, f)) => (v, Some(format!("m/{f}"))),
            None => (rest, None),
        };
        let selected: Vec<&(String, String, String)> = match key.strip_suffix('*') {
            Some(prefix) => values.iter().filter(|(k, _, _)| k.starts_with(prefix)).collect(),
            None => values.iter().filter(|(k, _, _)| k == key).collect(),
        };
        let got: Vec<String> = match key.strip_suffix('*') {
            Some(prefix) => selected.iter().map(|(k, v, _)| format!("{}={v}", &k[prefix.len()..])).collect(),
            None => selected.iter().map(|(_, v, _)| v.clone()).collect(),
        };
        assert_eq!(
            got.join(","),
            want,
            "{}: {key} of {} {}\nall values: {values:#?}",
            case.title,
            case.kind,
            case.name
        );
        if let Some(f) = want_from {
            let froms: Vec<&str> = selected.iter().map(|(_, _, f)| f.as_str()).collect();
            assert!(froms.iter().all(|x| *x == f), "{}: {key} should come from {f}, came from {froms:?}", case.title);
        }
    }
}

const MERGES: &[Merge] = &[
    Merge {
        title: "scalars: the object's own value wins",
        xml: r#"<host name="p" template="yes" address="10.0.0.1"><summary>Parent</summary><description>PD</description></host>
                <host name="h" extends="p"><summary>Child</summary></host>"#,
        kind: Kind::Host,
        name: "h",
        expect: &["summary = Child @ host/h", "description = PD @ host/p", "address = 10.0.0.1 @ host/p"],
    },
    Merge {
        title: "scalars: empty text does not override",
        xml: r#"<host name="p" template="yes" address="10.0.0.1" location="l1"><summary>Parent</summary></host>
                <host name="h" extends="p" address="" location=" "><summary></summary><description>   </description></host>"#,
        kind: Kind::Host,
        name: "h",
        expect: &[
            "summary = Parent @ host/p",
            "address = 10.0.0.1 @ host/p",
            "location = l1 @ host/p",
            "description = ",
        ],
    },
    Merge {
        title: "several parents: the earlier parent is more specific",
        xml: r#"<host name="a" template="yes"><description>A</description><schedule every="10"/></host>
                <host name="b" template="yes" address="10.0.0.2"><description>B</description><schedule every="20" retry-every="2"/></host>
                <host name="h" extends="a, b"/>"#,
        kind: Kind::Host,
        name: "h",
        expect: &[
            "description = A @ host/a",
            "address = 10.0.0.2 @ host/b",
            "schedule.every = 10m @ host/a",
            "schedule.retry-every = 2m @ host/b",
        ],
    },
    Merge {
        title: "several parents: the object's own values over both",
        xml: r#"<host name="a" template="yes" location="l1"><description>A</description></host>
                <host name="b" template="yes" location="l2"><description>B</description></host>
                <host name="h" extends="b, a" location="l1"><description>H</description></host>"#,
        kind: Kind::Host,
        name: "h",
        expect: &["description = H @ host/h", "location = l1 @ host/h"],
    },
    Merge {
        title: "grandparents: the nearer ancestor wins",
        xml: r#"<host name="g" template="yes"><summary>G</summary><description>GD</description><schedule every="30" retry-every="5"/></host>
                <host name="p" template="yes" extends="g"><summary>P</summary><schedule every="10"/></host>
                <host name="h" extends="p"/>"#,
        kind: Kind::Host,
        name: "h",
        expect: &[
            "summary = P @ host/p",
            "description = GD @ host/g",
            "schedule.every = 10m @ host/p",
            "schedule.retry-every = 5m @ host/g",
        ],
    },
    Merge {
        title: "parameters: merged by name, in the least specific parent's order",
        xml: r#"<command name="base" engine="nagios"><parameter name="x">1</parameter><parameter name="y">2</parameter><parameter name="z">3</parameter></command>
                <command name="mid" extends="base"><parameter name="z">30</parameter><parameter name="w">4</parameter><parameter name="x">10</parameter></command>"#,
        kind: Kind::Command,
        name: "mid",
        expect: &[
            "parameter.* = x=10,y=2,z=30,w=4",
            "parameter.y = 2 @ command/base",
            "parameter.x = 10 @ command/mid",
            "engine = nagios @ command/base",
        ],
    },
    Merge {
        title: "parameters: several parents",
        xml: r#"<command name="a" engine="nagios"><parameter name="q">a2</parameter><parameter name="r">a3</parameter></command>
                <command name="b" engine="nrpe"><parameter name="p">b1</parameter><parameter name="q">b2</parameter></command>
                <command name="c" extends="a, b"><parameter name="s">c4</parameter></command>"#,
        kind: Kind::Command,
        name: "c",
        expect: &["parameter.* = p=b1,q=a2,r=a3,s=c4", "engine = nagios @ command/a"],
    },
    Merge {
        title: "parameters: value= wins over the text unless empty",
        xml: r#"<host name="h"><parameter name="v" value="attr">text</parameter><parameter name="t" value="">text</parameter></host>"#,
        kind: Kind::Host,
        name: "h",
        expect: &["parameter.* = v=attr,t=text"],
    },
    Merge {
        title: "nested elements: field by field, schedule from two parents",
        xml: r#"<host name="a" template="yes"><schedule every="10"/></host>
                <host name="b" template="yes"><schedule retry-every="2" time-period="workhours"/></host>
                <host name="h" extends="a, b"><schedule changing-every="30s"/></host>"#,
        kind: Kind::Host,
        name: "h",
        expect: &[
            "schedule.every = 10m @ host/a",
            "schedule.retry-every = 2m @ host/b",
            "schedule.time-period = workhours @ host/b",
            "schedule.changing-every = 30s @ host/h",
        ],
    },
    Merge {
        title: "nested elements: state, notifications, initially, check-command",
        xml: r#"<host name="p" template="yes">
                    <state failed-after="2"/><notifications enabled="no" time-period="24x7"/><initially status="ok"/>
                    <check-command command="c1"><parameter name="a">1</parameter><parameter name="b">2</parameter></check-command>
                </host>
                <host name="h" extends="p">
                    <state recovers-after="5"/><notifications time-period="workhours"/><initially output="fine"/>
                    <check-command><parameter name="c">3</parameter><parameter name="a">10</parameter></check-command>
                </host>"#,
        kind: Kind::Host,
        name: "h",
        expect: &[
            "state.failed-after = 2 @ host/p",
            "state.recovers-after = 5 @ host/h",
            "notifications.enabled = no @ host/p",
            "notifications.time-period = workhours @ host/h",
            "initially.status = OK @ host/p",
            "initially.output = fine @ host/h",
            "check-command.command = c1 @ host/p",
            "check-command.parameter.* = a=10,b=2,c=3",
        ],
    },
    Merge {
        title: "notification engines: a child's non-empty list replaces the parent's",
        xml: r#"<contact name="p" template="yes"><notifications time-period="24x7">
                    <notification-engine engine="email"/><notification-engine engine="sms" recovery="no"/>
                </notifications></contact>
                <contact name="k" extends="p"><notifications><notification-engine engine="sms" time-period="workhours"/></notifications></contact>"#,
        kind: Kind::Contact,
        name: "k",
        expect: &[
            "notifications.notification-engine[0].engine = sms @ contact/k",
            "notifications.notification-engine[0].time-period = workhours @ contact/k",
            "notifications.notification-engine[1].engine = ",
            "notifications.notification-engine[0].recovery = ",
            "notifications.time-period = 24x7 @ contact/p",
        ],
    },
    Merge {
        title: "notification engines: an empty list keeps the parent's",
        xml: r#"<contact name="p" template="yes"><notifications>
                    <notification-engine engine="email"/><notification-engine engine="sms" recovery="no"/>
                </notifications></contact>
                <contact name="k" extends="p"><notifications alerts="no"/></contact>"#,
        kind: Kind::Contact,
        name: "k",
        expect: &[
            "notifications.notification-engine[0].engine = email @ contact/p",
            "notifications.notification-engine[1].engine = sms @ contact/p",
            "notifications.notification-engine[1].recovery = no",
            "notifications.alerts = no @ contact/k",
        ],
    },
    Merge {
        title: "escalations: a child's non-empty list replaces the parent's",
        xml: r#"<host name="p" template="yes"><notifications>
                    <escalate after="30m"><notify teams="ops"/></escalate><escalate after="2h"><notify teams="admins"/></escalate>
                </notifications></host>
                <host name="h" extends="p"><notifications><escalate after="1h" renotify="yes"><notify contacts="c1"/></escalate></notifications></host>"#,
        kind: Kind::Host,
        name: "h",
        expect: &[
            "notifications.escalate[0].after = 1h @ host/h",
            "notifications.escalate[0].renotify = yes",
            "notifications.escalate[0].notify.contacts = c1",
            "notifications.escalate[0].notify.teams = ",
            "notifications.escalate[1].after = ",
        ],
    },
    Merge {
        title: "smart merge: [a,b,c] + [-a,+d,e,-b] = [c,d,e]",
        xml: r#"<host name="p" template="yes" groups="a, b, c"/><host name="h" extends="p" groups="-a, +d, e, -b"/>"#,
        kind: Kind::Host,
        name: "h",
        expect: &["groups = c,d,e"],
    },
    Merge {
        title: "smart merge: three levels",
        xml: r#"<host name="g" template="yes" groups="a, b"/><host name="p" template="yes" extends="g" groups="-a, c"/>
                <host name="h" extends="p" groups="a"/>"#,
        kind: Kind::Host,
        name: "h",
        expect: &["groups = b,c,a"],
    },
    Merge {
        title: "smart merge: prefixes are stripped without parents, removals of absent items ignored",
        xml: r#"<host name="h" groups="+a, -b, c, -d"/>"#,
        kind: Kind::Host,
        name: "h",
        expect: &["groups = a,c"],
    },
    Merge {
        title: "smart merge: no duplicates",
        xml: r#"<host name="p" template="yes" groups="a, b"/><host name="h" extends="p" groups="b, +a, c, c"/>"#,
        kind: Kind::Host,
        name: "h",
        expect: &["groups = a,b,c"],
    },
    Merge {
        title: "smart merge: several parents, each resolved on its own first",
        xml: r#"<host name="g" template="yes" groups="a"/>
                <host name="p1" template="yes" extends="g" groups="-a, c"/>
                <host name="p2" template="yes" groups="a, b"/>
                <host name="h" extends="p1, p2"/>"#,
        kind: Kind::Host,
        name: "h",
        expect: &["groups = a,b,c"],
    },
    Merge {
        title: "smart merge: notify teams and contacts (replacing a team)",
        xml: r#"<service name="p" template="yes"><notify teams="admins" contacts="c1"/></service>
                <service name="s" template="yes" extends="p"><notify teams="-admins, linux-admins" contacts="c2"/></service>"#,
        kind: Kind::Service,
        name: "s",
        expect: &["notify.teams = linux-admins @ service/s", "notify.contacts = c1,c2"],
    },
    Merge {
        title: "smart merge: teams, grants and revokes of teams",
        xml: r#"<team name="p" teams="admins" grants="a.*, b" revokes="x"/>
                <team name="t" extends="p" teams="ops" grants="-b, c" revokes="+y"/>"#,
        kind: Kind::Team,
        name: "t",
        expect: &["teams = admins,ops", "grants = a.*,c", "revokes = x,y"],
    },
    Merge {
        title: "smart merge: security domains",
        xml: r#"<host name="p" template="yes" security-domains="sd1, sd2"/><host name="h" extends="p" security-domains="-sd1"/>"#,
        kind: Kind::Host,
        name: "h",
        expect: &["security-domains = sd2 @ host/p"],
    },
    Merge {
        title: "smart merge: a list only the child sets loses its prefixes",
        xml: r#"<host name="p" template="yes" address="10.0.0.1"/><host name="h" extends="p" groups="-a, +b"/>"#,
        kind: Kind::Host,
        name: "h",
        expect: &["groups = b @ host/h"],
    },
    Merge {
        title: "access controls: merged by security domain, their lists smart-merged",
        xml: r#"<team name="p"><access-control security-domain="sd1" grants="read, write"/><access-control security-domain="sd2" grants="*"/></team>
                <team name="t" extends="p"><access-control security-domain="sd1" grants="-read, acknowledge" revokes="write.comment"/></team>"#,
        kind: Kind::Team,
        name: "t",
        expect: &[
            "access-control[0].security-domain = sd1",
            "access-control[0].grants = write,acknowledge",
            "access-control[0].revokes = write.comment @ team/t",
            "access-control[1].security-domain = sd2 @ team/p",
            "access-control[1].grants = * @ team/p",
            "access-control[2].security-domain = ",
        ],
    },
    Merge {
        title: "notes are appended, ignore lists replaced",
        xml: r#"<host name="p" template="yes"><note title="A" url="https://a"/><notifications ignore="warning, unknown"/></host>
                <host name="h" extends="p"><note title="B" url="https://b"/><notifications ignore="critical"/></host>"#,
        kind: Kind::Host,
        name: "h",
        expect: &[
            "note[0].title = A @ host/p",
            "note[1].title = B @ host/h",
            "notifications.ignore = critical @ host/h",
        ],
    },
    Merge {
        title: "csv attributes are split on commas and trimmed",
        xml: r#"<host name="h" groups=" a ,b ,, c " security-domains="sd1,sd2"/>"#,
        kind: Kind::Host,
        name: "h",
        expect: &["groups = a,b,c", "security-domains = sd1,sd2"],
    },
    Merge {
        title: "nested service from a host template, overridden by the child's same-named service",
        xml: r#"<service name="gs" template="yes"><schedule retry-every="3"/></service>
                <host name="t" template="yes">
                    <service name="s" extends="gs"><summary>T</summary><description>TD</description><schedule every="10"/><check-command command="c1"/></service>
                </host>
                <host name="h" extends="t"><service name="s"><summary>H</summary></service></host>"#,
        kind: Kind::Service,
        name: "h/s",
        expect: &[
            "summary = H @ host/h/service/s",
            "description = TD @ host/t/service/s",
            "schedule.every = 10m @ host/t/service/s",
            "schedule.retry-every = 3m @ service/gs",
            "check-command.command = c1 @ host/t/service/s",
        ],
    },
    Merge {
        title: "nested service: the child's own parents are more specific than the inherited service",
        xml: r#"<service name="gx" template="yes"><summary>GX</summary><schedule every="3"/></service>
                <host name="t" template="yes">
                    <service name="s"><summary>T</summary><description>TD</description><schedule every="10" retry-every="4"/><check-command command="c1"/></service>
                </host>
                <host name="h" extends="t"><service name="s" extends="gx"><check-command command="c2"/></service></host>"#,
        kind: Kind::Service,
        name: "h/s",
        expect: &[
            "summary = GX @ service/gx",
            "schedule.every = 3m @ service/gx",
            "schedule.retry-every = 4m @ host/t/service/s",
            "description = TD @ host/t/service/s",
            "check-command.command = c2 @ host/h/service/s",
        ],
    },
    Merge {
        title: "nested extends: a nested object of the container's parents before a top-level template",
        xml: r#"<service name="x" template="yes"><summary>TOP</summary></service>
                <host name="t" template="yes"><service name="x"><summary>NESTED</summary><check-command command="c1"/></service></host>
                <host name="h" extends="t"><service name="y" extends="x"/></host>"#,
        kind: Kind::Service,
        name: "h/y",
        expect: &["summary = NESTED @ host/t/service/x", "check-command.command = c1 @ host/t/service/x"],
    },
    Merge {
        title: "nested extends: a top-level template when no parent has such a nested object",
        xml: r#"<service name="x" template="yes"><summary>TOP</summary></service>
                <host name="h2"><service name="y" extends="x"><check-command command="c1"/></service></host>"#,
        kind: Kind::Service,
        name: "h2/y",
        expect: &["summary = TOP @ service/x"],
    },
    Merge {
        title: "nested services of several parents: the earlier parent's is more specific",
        xml: r#"<host name="a" template="yes"><service name="s"><summary>A</summary></service></host>
                <host name="b" template="yes"><service name="s"><summary>B</summary><description>BD</description><check-command command="c1"/></service></host>
                <host name="h" extends="a, b"/>"#,
        kind: Kind::Service,
        name: "h/s",
        expect: &[
            "summary = A @ host/a/service/s",
            "description = BD @ host/b/service/s",
            "check-command.command = c1",
        ],
    },
    Merge {
        title: "nested resources are inherited from cluster templates",
        xml: r#"<resource name="gr" template="yes"><description>GR</description></resource>
                <cluster name="ct" template="yes"><resource name="r" extends="gr"><summary>R</summary><condition>host 'h1'</condition></resource></cluster>
                <cluster name="c" extends="ct"><condition>host 'h1'</condition></cluster>"#,
        kind: Kind::Resource,
        name: "c/r",
        expect: &[
            "summary = R @ cluster/ct/resource/r",
            "description = GR @ resource/gr",
            "condition = host 'h1' @ cluster/ct/resource/r",
        ],
    },
    Merge {
        title: "time periods: extends appends the parent's ranges first; excludes are a union",
        xml: r#"<time-period name="p" excludes="x1"><time-range>monday 09:00-10:00</time-range></time-period>
                <time-period name="tp" extends="p" excludes="x2, x1"><time-range>tuesday 09:00-10:00</time-range></time-period>"#,
        kind: Kind::TimePeriod,
        name: "tp",
        expect: &["time-range = monday 09:00-10:00,tuesday 09:00-10:00", "excludes = x1,x2"],
    },
];

#[test]
fn merge_rules() {
    for case in MERGES {
        check_merge(case);
    }
}

#[test]
fn template_and_extends_are_not_inherited() {
    let o = merge_site(
        r#"<host name="g" template="yes"><check-command command="c1"/></host>
           <host name="t" template="yes" extends="g"><service name="s"><check-command command="c1"/></service></host>
           <host name="h" extends="t"/>"#,
    );
    let s = site(&o, "m");
    let h = obj(s, Kind::Host, "h");
    assert!(!h.template, "template is not inherited");
    check(s, Kind::Host, "h", None);
    check(s, Kind::Service, "s", Some("h"));
    assert_eq!(s.find_check(Kind::Host, "t", None), None);
    assert_eq!(s.find_check(Kind::Service, "s", Some("t")), None, "a template's nested services are templates");
    let d = bergamot_config::show::describe(&o.model, s, Kind::Host, "h").unwrap();
    assert_eq!(d.extends, ["t"], "only the object's own parents");
    assert!(!d.template);
    assert!(bergamot_config::show::describe(&o.model, s, Kind::Host, "t").unwrap().template);
}

#[test]
fn inheriting_from_a_non_template_is_allowed() {
    let o = merge_site(
        r#"<host name="r1" address="10.9.9.9"><check-command command="c1"/><service name="s"><check-command command="c2"/></service></host>
           <host name="r2" extends="r1"><summary>Second</summary></host>"#,
    );
    let s = site(&o, "m");
    for h in ["r1", "r2"] {
        check(s, Kind::Host, h, None);
        check(s, Kind::Service, "s", Some(h));
    }
    assert_eq!(view::address(obj(s, Kind::Host, "r2")), "10.9.9.9");
    assert_eq!(view::summary(obj(s, Kind::Host, "r1")), "r1", "summary defaults to the name");
}

#[test]
fn top_level_services_traps_resources_are_templates_nested_ones_follow_their_container() {
    let o = merge_site(
        r#"<service name="top" template="yes"><check-command command="c1"/></service>
           <trap name="ttop" template="yes"/>
           <host name="t" template="yes"><service name="s" extends="top"/><trap name="tr" extends="ttop"/></host>
           <host name="h" extends="t"/>"#,
    );
    let s = site(&o, "m");
    assert!(obj(s, Kind::Service, "top").template);
    assert!(obj(s, Kind::Trap, "ttop").template);
    assert_eq!(s.find_check(Kind::Service, "s", Some("t")), None);
    let sid = check(s, Kind::Service, "s", Some("h"));
    let tid = check(s, Kind::Trap, "tr", Some("h"));
    let hid = check(s, Kind::Host, "h", None);
    assert_eq!((sid.0, tid.0), (hid.0 + 1, hid.0 + 2), "a host's checks follow it");
    assert_eq!(s.check_path(tid).as_deref(), Some("m/host/h/trap/tr"));
}

#[test]
fn time_period_extends_and_excludes_evaluate() {
    let o = merge_site(
        r#"<time-period name="hol"><time-range>2026-11-24 00:00-24:00</time-range></time-period>
           <time-period name="p" excludes="x2"><time-range>monday 09:00-10:00</time-range></time-period>
           <time-period name="tp" extends="p" excludes="hol"><time-range>tuesday 09:00-10:00</time-range><time-range>wednesday 09:00-10:00</time-range></time-period>"#,
    );
    let s = site(&o, "m");
    // UTC: the appliance's zone in these tests.
    for (t, want) in [
        ("2026-11-23T09:30:00Z", true),  // Monday: the parent's range
        ("2026-11-25T09:30:00Z", true),  // Wednesday: own range
        ("2026-11-24T09:30:00Z", false), // Tuesday, excluded by hol (own)
        ("2026-12-01T09:30:00Z", false), // Tuesday 09:30, excluded by x2 (the parent's)
        ("2026-12-01T09:00:00Z", false),
        ("2026-11-23T10:00:00Z", false),
    ] {
        assert_eq!(active(s, "tp", at(t)), want, "tp at {t}");
    }
    assert!(active(s, "p", at("2026-11-23T09:30:00Z")));
}

#[test]
fn defaults_and_intervals() {
    let o = merge_site(
        r#"<host name="d"><check-command command="c1"/></host>
           <host name="i" address="10.1.1.1"><schedule every="90s" retry-every="2h" changing-every="500ms"/><state failed-after="2"/></host>
           <host name="r"><schedule every="5" retry-every="2"/><state recovers-after="7"/></host>"#,
    );
    let s = site(&o, "m");
    let d = obj(s, Kind::Host, "d");
    assert_eq!(
        view::schedule(&d.props),
        view::Schedule {
            every: Duration::from_secs(300),
            retry_every: Duration::from_secs(60),
            changing_every: Duration::from_secs(60),
            time_period: None
        }
    );
    assert_eq!(view::thresholds(&d.props), (3, 3));
    assert_eq!(view::initially(&d.props), (Status::Pending, String::new()));
    assert_eq!((view::summary(d), view::address(d)), ("d", "d"));
    let i = obj(s, Kind::Host, "i");
    let sched = view::schedule(&i.props);
    assert_eq!(
        (sched.every, sched.retry_every, sched.changing_every),
        (Duration::from_secs(90), Duration::from_secs(7200), Duration::from_millis(500))
    );
    assert_eq!(view::thresholds(&i.props), (2, 3));
    assert_eq!(view::address(i), "10.1.1.1");
    let r = obj(s, Kind::Host, "r");
    let sched = view::schedule(&r.props);
    assert_eq!(
        (sched.every, sched.retry_every, sched.changing_every),
        (Duration::from_secs(300), Duration::from_secs(120), Duration::from_secs(120))
    );
    assert_eq!(view::thresholds(&r.props), (3, 7));
}

#[test]
fn one_site_in_several_files_is_merged() {
    let o = docs(&[
        (
            "a.xml",
            r#"<bergamot site="m"><parameter name="p1">one</parameter><host name="t" template="yes" address="10.0.0.1"/></bergamot>"#,
        ),
        ("b.xml", r#"<bergamot site="m"><parameter name="p2">two</parameter><host name="h" extends="t"/></bergamot>"#),
    ]);
    assert!(o.diags.items.is_empty(), "{}", render(&o));
    let s = only_site(&o);
    assert_eq!((s.parameter("p1"), s.parameter("p2")), (Some("one"), Some("two")));
    assert_eq!(view::address(obj(s, Kind::Host, "h")), "10.0.0.1");
    assert_eq!(o.model.sources.len(), 2);
}
