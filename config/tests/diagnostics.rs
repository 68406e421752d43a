//! Bad configuration of every kind gives a precise diagnostic (message, file, line,
//! column, object path and, where useful, a hint), never a panic, and every
//! problem of a load is reported in the same run.

mod common;

use bergamot_config::Outcome;
use bergamot_config::diag::{Diagnostic, Severity};
use common::*;

/// Objects every case may refer to, in its own file.
const SUPPORT: &str = r#"<bergamot site="d">
    <security-domain name="global"/>
    <team name="admins"/>
    <contact name="root" teams="admins"/>
    <group name="servers"/>
    <location name="office"/>
    <time-period name="24x7"><time-range>00:00-24:00</time-range></time-period>
    <time-period name="workhours"><time-range>monday 09:00-17:30</time-range></time-period>
    <command name="check-host-alive" engine="nagios"><parameter name="command_line">/bin/true #{host.address}</parameter></command>
    <host name="generic-host" template="yes"><check-command command="check-host-alive"/></host>
    <host name="db1" extends="generic-host"><service name="pgsql"><check-command command="check-host-alive"/></service></host>
    <host name="db2" extends="generic-host"/>
</bergamot>
"#;

/// One expected diagnostic. `at` finds the position in the case's text (see
/// [`position_of`]: `|` marks the spot, `#N` the N-th match). `object` is the
/// exact object path ("" = none). `hint` must occur in the hint ("" = any hint or
/// none, "-" = no hint).
#[derive(Debug, Clone, Copy)]
struct Exp {
    severity: Severity,
    message: &'static str,
    at: &'static str,
    object: &'static str,
    hint: &'static str,
}

const fn err(message: &'static str, at: &'static str, object: &'static str, hint: &'static str) -> Exp {
    Exp { severity: Severity::Error, message, at, object, hint }
}

const fn warn(message: &'static str, at: &'static str, object: &'static str, hint: &'static str) -> Exp {
    Exp { severity: Severity::Warning, message, at, object, hint }
}

struct Case {
    title: &'static str,
    /// The whole text of `case.xml`.
    xml: &'static str,
    /// Every diagnostic the load must give, no more.
    expect: &'static [Exp],
}

fn load_case(xml: &str) -> Outcome {
    docs(&[("support.xml", SUPPORT), ("case.xml", xml)])
}

/// Checks one case; returns what is wrong, if anything.
fn check_case(case: &Case) -> Result<(), String> {
    let o = load_case(case.xml);
    let all = || format!("diagnostics:\n{}", render(&o));
    let mut left: Vec<&Diagnostic> = o.diags.items.iter().collect();
    for e in case.expect {
        let Some(i) = left.iter().position(|d| d.severity == e.severity && d.message.contains(e.message)) else {
            return Err(format!("no {:?} containing `{}`; {}", e.severity, e.message, all()));
        };
        let d = left.remove(i);
        let shown = line(&o.model, d);
        let span = d.span.ok_or_else(|| format!("`{shown}` has no position"))?;
        let file = o.model.sources.path(span.file).display().to_string();
        let want = position_of(case.xml, e.at);
        if file != "case.xml" || (span.line, span.col) != want {
            return Err(format!("`{shown}` should be at case.xml:{}:{} (`{}`)", want.0, want.1, e.at));
        }
        let want_object = (!e.object.is_empty()).then_some(e.object);
        if d.object.as_deref() != want_object {
            return Err(format!("`{shown}` should name object {want_object:?}"));
        }
        match (e.hint, &d.hint) {
            ("", _) => {}
            ("-", None) => {}
            ("-", Some(h)) => return Err(format!("`{shown}` should have no hint, has `{h}`")),
            (want, Some(h)) if h.contains(want) => {}
            (want, _) => return Err(format!("`{shown}` should have a hint containing `{want}`")),
        }
    }
    if !left.is_empty() {
        let extra: Vec<String> = left.iter().map(|d| line(&o.model, d)).collect();
        return Err(format!("unexpected diagnostics: {extra:#?}"));
    }
    Ok(())
}

fn run(cases: &[Case]) {
    let failures: Vec<String> =
        cases.iter().filter_map(|c| check_case(c).err().map(|e| format!("[{}]\n{e}\n{}", c.title, c.xml))).collect();
    assert!(failures.is_empty(), "{} of {} cases failed:\n\n{}", failures.len(), cases.len(), failures.join("\n\n"));
}

#[test]
fn the_support_site_is_clean() {
    let o = load_case(r#"<bergamot site="d"/>"#);
    assert!(o.diags.items.is_empty(), "{}", render(&o));
}

// ---------------------------------------------------------------------------

const XML: &[Case] = &[
    Case {
        title: "element never closed",
        xml: "<bergamot site=\"d\">\n    <host name=\"h\">\n",
        expect: &[err("element `<host>` is never closed", "<host", "", "</host>")],
    },
    Case {
        title: "end of the root while an element is open",
        xml: "<bergamot site=\"d\">\n    <host name=\"h\">\n</bergamot>\n",
        expect: &[err(
            "expected `</host>` to close the element opened at line 2, column 5, found `</bergamot>`",
            "</bergamot>",
            "",
            "close `<host>`",
        )],
    },
    Case {
        title: "mismatched end tag",
        xml: "<bergamot site=\"d\">\n    <host name=\"h\">\n        <summary>x</description>\n    </host>\n</bergamot>\n",
        expect: &[err("expected `</summary>`", "</description>", "", "")],
    },
    Case {
        title: "the guide's unclosed <time-range>",
        xml: "<bergamot site=\"d\">\n    <time-period name=\"p\">\n        <time-range>00:00 - 24:00<time-range>\n    </time-period>\n</bergamot>\n",
        expect: &[err(
            "expected `</time-range>`",
            "</time-period>",
            "",
            "opens a second `<time-range>` inside the first: write `</time-range>` there",
        )],
    },
    Case {
        title: "missing `>`",
        xml: "<bergamot site=\"d\">\n    <host name=\"h\">\n        <summary>x</summary\n    </host>\n</bergamot>\n",
        expect: &[err("end tag `</summary` is missing its `>`", "</summary", "", "write `</summary>`")],
    },
    Case {
        title: "the guide's </host/>",
        xml: "<bergamot site=\"d\">\n    <host name=\"h\">\n    </host/>\n</bergamot>\n",
        expect: &[err("", "</host/>", "", "")],
    },
    Case {
        title: "unknown entity in text",
        xml: "<bergamot site=\"d\">\n    <host name=\"h\"><summary>a &nope; b</summary></host>\n</bergamot>\n",
        expect: &[err("unknown entity `&nope;`", "&nope;", "", "&amp;")],
    },
    Case {
        title: "bare & in an attribute",
        xml: "<bergamot site=\"d\">\n    <host name=\"h\" address=\"a&b\"/>\n</bergamot>\n",
        expect: &[err("bad value of attribute `address` in `<host>`", "a&b", "", "&amp;")],
    },
    Case {
        title: "duplicated attribute",
        xml: "<bergamot site=\"d\">\n    <host name=\"h\" address=\"a\" address=\"b\"/>\n</bergamot>\n",
        expect: &[err("malformed attribute in `<host>`: duplicated attribute", "address#2", "", "")],
    },
    Case {
        title: "unquoted attribute value",
        xml: "<bergamot site=\"d\">\n    <host name=h/>\n</bergamot>\n",
        expect: &[err(
            "malformed attribute in `<host>`: attribute value must be enclosed in `\"` or `'`",
            "name=|h",
            "",
            "",
        )],
    },
    Case {
        title: "bare & in text",
        xml: "<bergamot site=\"d\">\n    <host name=\"h\"><summary>R & D</summary></host>\n</bergamot>\n",
        expect: &[err("malformed XML", "& D", "", "")],
    },
    Case { title: "empty file", xml: "", expect: &[err("file has no root element", "", "", "<bergamot site=")] },
    Case {
        title: "root is not <bergamot>",
        xml: "<!-- comment -->\n<config site=\"d\"/>\n",
        expect: &[err("root element must be `<bergamot>`, found `<config>`", "<config", "", "")],
    },
    Case {
        title: "empty site attribute",
        xml: "<bergamot site=\" \">\n    <host name=\"h\"/>\n</bergamot>\n",
        expect: &[err("`<bergamot>` has no `site` attribute", "<bergamot", "", "site=\"example.com\"")],
    },
    Case {
        title: "missing site attribute",
        xml: "<bergamot>\n</bergamot>\n",
        expect: &[err("`<bergamot>` has no `site` attribute", "<bergamot", "", "")],
    },
    Case {
        title: "well-formed XML of every kind is accepted",
        xml: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- a comment -->\n<bergamot site='d'>\n    <host name = 'h' address=\"10.0.0.1\" >\n        <summary >R&amp;D &#x263A; &lt;lab&gt;</summary >\n        <description><![CDATA[a <raw> & text]]></description>\n        <check-command command=\"check-host-alive\"/>\n    </host\n    >\n</bergamot>\n",
        expect: &[],
    },
    Case {
        title: "two sites in one file",
        xml: "<bergamot site=\"d\">\n</bergamot>\n<bergamot site=\"other\">\n    <host name=\"x\"/>\n</bergamot>\n",
        expect: &[err("this file mixes two sites: `d` and `other`", "<bergamot site=\"other", "", "own files")],
    },
    Case {
        title: "the same site twice in one file",
        xml: "<bergamot site=\"d\">\n</bergamot>\n<bergamot site=\"d\">\n</bergamot>\n",
        expect: &[err("second `<bergamot>` root for site `d` in one file", "<bergamot#2", "", "own files")],
    },
    Case {
        title: "a site nested in a site",
        xml: "<bergamot site=\"d\">\n    <bergamot site=\"other\"/>\n</bergamot>\n",
        expect: &[err("`<bergamot>` cannot be nested", "<bergamot site=\"other", "", "own files")],
    },
];

#[test]
fn malformed_xml_and_roots() {
    run(XML);
}

// ---------------------------------------------------------------------------

const REFERENCES: &[Case] = &[
    Case {
        title: "unknown parent, misspelt",
        xml: "<bergamot site=\"d\">\n    <host name=\"h\" extends=\"generic-hots\"/>\n</bergamot>\n",
        expect: &[err(
            "unknown parent host `generic-hots`",
            "generic-hots",
            "d/host/h",
            "did you mean `generic-host`?",
        )],
    },
    Case {
        title: "unknown parent, second of two",
        xml: "<bergamot site=\"d\">\n    <host name=\"h\" extends=\"generic-host,  nothing-like-it\"/>\n</bergamot>\n",
        expect: &[err(
            "unknown parent host `nothing-like-it`",
            "nothing-like-it",
            "d/host/h",
            "<host name=\"nothing-like-it\" template=\"yes\">",
        )],
    },
    Case {
        title: "unknown parent of a nested service",
        xml: "<bergamot site=\"d\">\n    <host name=\"h\" extends=\"generic-host\">\n        <service name=\"s\" extends=\"nope\"><check-command command=\"check-host-alive\"/></service>\n    </host>\n</bergamot>\n",
        expect: &[err("unknown parent service `nope`", "nope", "d/host/h/service/s", "")],
    },
    Case {
        title: "a parent of another type is unknown",
        xml: "<bergamot site=\"d\">\n    <service name=\"s\" template=\"yes\" extends=\"generic-host\"/>\n</bergamot>\n",
        expect: &[err("unknown parent service `generic-host`", "extends=\"|generic-host", "d/service/s", "")],
    },
    Case {
        title: "unknown group",
        xml: "<bergamot site=\"d\">\n    <host name=\"h\" groups=\"servers, nosuch\"/>\n</bergamot>\n",
        expect: &[err("unknown group `nosuch` in `groups`", "nosuch", "d/host/h", "<group name=\"nosuch\">")],
    },
    Case {
        title: "unknown group removed with -",
        xml: "<bergamot site=\"d\">\n    <group name=\"g\" groups=\"-srevers\"/>\n</bergamot>\n",
        expect: &[err("unknown group `srevers` in `groups`", "-srevers", "d/group/g", "did you mean `servers`?")],
    },
    Case {
        title: "unknown location",
        xml: "<bergamot site=\"d\">\n    <host name=\"h\" location=\"ofice\"/>\n</bergamot>\n",
        expect: &[err("unknown location `ofice` in `location`", "ofice", "d/host/h", "did you mean `office`?")],
    },
    Case {
        title: "unknown parent location",
        xml: "<bergamot site=\"d\">\n    <location name=\"desk\" location=\"building\"/>\n</bergamot>\n",
        expect: &[err("unknown location `building` in `location`", "building", "d/location/desk", "")],
    },
    Case {
        title: "unknown team in <notify>",
        xml: "<bergamot site=\"d\">\n    <host name=\"h\">\n        <notify teams=\"admns\"/>\n    </host>\n</bergamot>\n",
        expect: &[err("unknown team `admns` in `teams`", "admns", "d/host/h", "did you mean `admins`?")],
    },
    Case {
        title: "unknown team of a contact and of a team",
        xml: "<bergamot site=\"d\">\n    <contact name=\"c\" teams=\"operators\"/>\n    <team name=\"t\" teams=\"admins, wizards\"/>\n</bergamot>\n",
        expect: &[
            err("unknown team `operators` in `teams`", "operators", "d/contact/c", ""),
            err("unknown team `wizards` in `teams`", "wizards", "d/team/t", ""),
        ],
    },
    Case {
        title: "unknown contact",
        xml: "<bergamot site=\"d\">\n    <host name=\"h\">\n        <notify teams=\"admins\" contacts=\"root, nobody\"/>\n    </host>\n</bergamot>\n",
        expect: &[err("unknown contact `nobody` in `contacts`", "nobody", "d/host/h", "<contact name=\"nobody\">")],
    },
    Case {
        title: "unknown security domain",
        xml: "<bergamot site=\"d\">\n    <host name=\"h\" security-domains=\"global, secret\"/>\n    <team name=\"t\">\n        <access-control security-domain=\"networks\" grants=\"*\"/>\n    </team>\n</bergamot>\n",
        expect: &[
            err("unknown security-domain `secret` in `security-domains`", "secret", "d/host/h", ""),
            err("unknown security-domain `networks` in `security-domain`", "networks", "d/team/t", ""),
        ],
    },
    Case {
        title: "unknown command",
        xml: "<bergamot site=\"d\">\n    <host name=\"h\">\n        <check-command command=\"check-host-alvie\"/>\n    </host>\n</bergamot>\n",
        expect: &[err(
            "unknown command `check-host-alvie` in `command`",
            "check-host-alvie",
            "d/host/h",
            "did you mean `check-host-alive`?",
        )],
    },
    Case {
        title: "unknown time period in schedule, notifications, engine and escalation",
        xml: r#"<bergamot site="d">
    <host name="h">
        <schedule every="5" time-period="24x8"/>
        <notifications time-period="office-hours">
            <notification-engine engine="email" time-period="weekends"/>
            <escalate after="1h" time-period="nights"><notify teams="admins"/></escalate>
        </notifications>
    </host>
</bergamot>
"#,
        expect: &[
            err("unknown time-period `24x8` in `time-period`", "24x8", "d/host/h", "did you mean `24x7`?"),
            err("unknown time-period `office-hours` in `time-period`", "office-hours", "d/host/h", ""),
            err("unknown time-period `weekends` in `time-period`", "weekends", "d/host/h", ""),
            err("unknown time-period `nights` in `time-period`", "nights", "d/host/h", ""),
        ],
    },
    Case {
        title: "unknown excluded time period",
        xml: "<bergamot site=\"d\">\n    <time-period name=\"p\" excludes=\"workhours, holidays\"/>\n</bergamot>\n",
        expect: &[err("unknown time-period `holidays` in `excludes`", "holidays", "d/time-period/p", "")],
    },
    Case {
        title: "references inside nested checks are checked where they are written",
        xml: r#"<bergamot site="d">
    <host name="t" template="yes">
        <service name="s" groups="nosuch">
            <check-command command="check_nope"><parameter name="p">#{bad(1)}</parameter></check-command>
            <notify teams="nobody"/>
        </service>
        <trap name="tr" security-domains="secret"><schedule time-period="never"/></trap>
    </host>
</bergamot>
"#,
        expect: &[
            err("unknown group `nosuch`", "nosuch", "d/host/t/service/s", ""),
            err("unknown command `check_nope`", "check_nope", "d/host/t/service/s", ""),
            err("bad expression in parameter `p`", "bad(", "d/host/t/service/s", ""),
            err("unknown team `nobody`", "nobody", "d/host/t/service/s", ""),
            err("unknown security-domain `secret`", "secret", "d/host/t/trap/tr", ""),
            warn("traps are passive and never scheduled", "<schedule", "d/host/t/trap/tr", ""),
        ],
    },
    Case {
        title: "an attribute value that looks like another attribute",
        xml: "<bergamot site=\"d\">\n    <host name=\"a extends=b\" extends=\"nope\"/>\n</bergamot>\n",
        expect: &[err("unknown parent host `nope`", "nope", "d/host/a extends=b", "")],
    },
    Case {
        title: "same name, different types: no error",
        xml: "<bergamot site=\"d\">\n    <group name=\"db1\"/>\n    <location name=\"db1\"/>\n</bergamot>\n",
        expect: &[],
    },
];

#[test]
fn unknown_references() {
    run(REFERENCES);
}

// ---------------------------------------------------------------------------

const STRUCTURE: &[Case] = &[
    Case {
        title: "inheritance cycle",
        xml: "<bergamot site=\"d\">\n    <host name=\"a\" extends=\"b\"/>\n    <host name=\"b\" extends=\"a\"/>\n</bergamot>\n",
        expect: &[err("inheritance cycle: a -> b -> a", "extends=\"|a\"", "d/host/b", "cannot inherit from itself")],
    },
    Case {
        title: "inheriting from itself",
        xml: "<bergamot site=\"d\">\n    <command name=\"c\" engine=\"nagios\" extends=\"c\"/>\n</bergamot>\n",
        expect: &[err("inheritance cycle: c -> c", "extends=\"|c", "d/command/c", "")],
    },
    Case {
        title: "time periods extending each other",
        xml: "<bergamot site=\"d\">\n    <time-period name=\"p\" extends=\"q\"/>\n    <time-period name=\"q\" extends=\"r\"/>\n    <time-period name=\"r\" extends=\"p\"/>\n</bergamot>\n",
        expect: &[err("inheritance cycle: p -> q -> r -> p", "extends=\"|p", "d/time-period/r", "")],
    },
    Case {
        title: "time periods excluding each other",
        xml: "<bergamot site=\"d\">\n    <time-period name=\"p\" excludes=\"q\"/>\n    <time-period name=\"q\" excludes=\"p\"/>\n</bergamot>\n",
        expect: &[err(
            "time periods exclude each other in a cycle: p -> q -> p",
            "<time-period name=\"p",
            "d/time-period/p",
            "cannot exclude itself",
        )],
    },
    Case {
        title: "a time period excluding itself",
        xml: "<bergamot site=\"d\">\n    <time-period name=\"p\" excludes=\"p\"/>\n</bergamot>\n",
        expect: &[err("time periods exclude each other in a cycle: p -> p", "<time-period", "d/time-period/p", "")],
    },
    Case {
        title: "location cycle",
        xml: "<bergamot site=\"d\">\n    <location name=\"l1\" location=\"l2\"/>\n    <location name=\"l2\" location=\"l1\"/>\n</bergamot>\n",
        expect: &[err(
            "location cycle: l1 -> l2 -> l1",
            "<location name=\"l1",
            "d/location/l1",
            "cannot contain itself",
        )],
    },
    Case {
        title: "group cycle is a warning",
        xml: "<bergamot site=\"d\">\n    <group name=\"g1\" groups=\"g2\"/>\n    <group name=\"g2\" groups=\"g1\"/>\n</bergamot>\n",
        expect: &[warn("group cycle: g1 -> g2 -> g1", "<group name=\"g1", "d/group/g1", "")],
    },
    Case {
        title: "duplicate top-level name",
        xml: "<bergamot site=\"d\">\n    <host name=\"dup\" extends=\"generic-host\"/>\n    <host name=\"dup\" extends=\"generic-host\"/>\n</bergamot>\n",
        expect: &[err("duplicate host name `dup`", "name=\"|dup#2", "d/host/dup", "first defined at case.xml:2:5")],
    },
    Case {
        title: "duplicate name across files",
        xml: "<bergamot site=\"d\">\n    <command name=\"check-host-alive\" engine=\"nrpe\"/>\n</bergamot>\n",
        expect: &[err(
            "duplicate command name `check-host-alive`",
            "check-host-alive",
            "d/command/check-host-alive",
            "first defined at support.xml:9:5",
        )],
    },
    Case {
        title: "duplicate nested name",
        xml: r#"<bergamot site="d">
    <host name="h" extends="generic-host">
        <service name="s"><check-command command="check-host-alive"/></service>
        <service name="s"><check-command command="check-host-alive"/></service>
        <trap name="s"/>
    </host>
</bergamot>
"#,
        expect: &[err("duplicate service name `s` in this host", "name=\"|s#2", "d/host/h/service/s", "")],
    },
    Case {
        title: "cluster without condition",
        xml: "<bergamot site=\"d\">\n    <cluster name=\"c\"/>\n    <cluster name=\"template\" template=\"yes\"/>\n</bergamot>\n",
        expect: &[err("cluster has no `<condition>`", "<cluster", "d/cluster/c", "<condition>")],
    },
    Case {
        title: "resource without condition",
        xml: r#"<bergamot site="d">
    <cluster name="c">
        <condition>host 'db1'</condition>
        <resource name="r"/>
    </cluster>
</bergamot>
"#,
        expect: &[err(
            "resource `r` of cluster `c` has no `<condition>`",
            "<cluster",
            "d/cluster/c/resource/r",
            "<condition>",
        )],
    },
    Case {
        title: "command without engine",
        xml: "<bergamot site=\"d\">\n    <command name=\"x\"/>\n    <command name=\"y\" extends=\"check-host-alive\"/>\n</bergamot>\n",
        expect: &[err("command has no `engine`", "<command name=\"x", "d/command/x", "engine=\"nagios\"")],
    },
    Case {
        title: "service without command",
        xml: "<bergamot site=\"d\">\n    <host name=\"h\">\n        <service name=\"s\"/>\n    </host>\n</bergamot>\n",
        expect: &[err(
            "service `s` of host `h` has no `<check-command>`",
            "<host",
            "d/host/h/service/s",
            "check-command",
        )],
    },
    Case {
        title: "missing and empty names",
        xml: "<bergamot site=\"d\">\n    <host address=\"10.0.0.1\"/>\n    <group name=\"\"/>\n    <command name=\"c\" engine=\"nagios\"><parameter>x</parameter></command>\n</bergamot>\n",
        expect: &[
            err("host has no `name` attribute", "<host", "d/host/", "<host name=\"…\">"),
            err("group has an empty name", "name", "d/group/", ""),
            err("`<parameter>` has no name", "<parameter", "d/command/c", "<parameter name="),
        ],
    },
    Case {
        title: "unknown site time zone",
        xml: "<bergamot site=\"d\">\n    <time-zone id=\"Mars/Olympus_Mons\"/>\n</bergamot>\n",
        expect: &[err("unknown time zone `Mars/Olympus_Mons`", "Mars", "d", "Europe/London")],
    },
    Case {
        title: "unknown time zone",
        xml: "<bergamot site=\"d\">\n    <time-period name=\"p\"><time-zone id=\"Europe/Londn\"/></time-period>\n</bergamot>\n",
        expect: &[err("unknown time zone `Europe/Londn`", "Europe/Londn", "d/time-period/p", "IANA")],
    },
];

#[test]
fn cycles_duplicates_and_missing_parts() {
    run(STRUCTURE);
}

// ---------------------------------------------------------------------------

const VALUES: &[Case] = &[
    Case {
        title: "interval with an unknown unit",
        xml: "<bergamot site=\"d\">\n    <host name=\"h\"><schedule every=\"5d\"/></host>\n</bergamot>\n",
        expect: &[err("bad `every`: unknown interval unit `d`", "5d", "d/host/h", "")],
    },
    Case {
        title: "zero and non-numeric intervals",
        xml: "<bergamot site=\"d\">\n    <host name=\"h\">\n        <schedule retry-every=\"0\" changing-every=\"soon\"/>\n        <notifications><escalate after=\"1.5h\"/></notifications>\n    </host>\n</bergamot>\n",
        expect: &[
            err("bad `retry-every`: interval `0` must be greater than zero", "0\"", "d/host/h", ""),
            err("bad `changing-every`", "soon", "d/host/h", ""),
            err("bad `after`", "1.5h", "d/host/h", ""),
        ],
    },
    Case {
        title: "bad booleans",
        xml: "<bergamot site=\"d\">\n    <host name=\"h\" enabled=\"maybe\" template=\"perhaps\">\n        <notifications alerts=\"sometimes\"/>\n    </host>\n</bergamot>\n",
        expect: &[
            err("bad `enabled`: expected `yes` or `no`, found `maybe`", "maybe", "d/host/h", ""),
            err("bad `template`", "perhaps", "d/host/h", ""),
            err("bad `alerts`", "sometimes", "d/host/h", ""),
        ],
    },
    Case {
        title: "bad counts",
        xml: "<bergamot site=\"d\">\n    <service name=\"s\" template=\"yes\"><state failed-after=\"0\" recovers-after=\"three\"/></service>\n</bergamot>\n",
        expect: &[
            err("bad `failed-after`: expected a whole number of at least 1, found `0`", "0\"", "d/service/s", ""),
            err("bad `recovers-after`", "three", "d/service/s", ""),
        ],
    },
    Case {
        title: "bad status in ignore",
        xml: "<bergamot site=\"d\">\n    <contact name=\"c\">\n        <notifications ignore=\"warning, bogus\"/>\n    </contact>\n</bergamot>\n",
        expect: &[err("bad `ignore`: unknown status `bogus`", "bogus", "d/contact/c", "")],
    },
    Case {
        title: "bad initial status",
        xml: "<bergamot site=\"d\">\n    <trap name=\"t\" template=\"yes\"><initially status=\"fine\" output=\"OK\"/></trap>\n</bergamot>\n",
        expect: &[err("bad `status`: unknown status `fine`", "fine", "d/trap/t", "")],
    },
    Case {
        title: "bad time ranges, the caret on the bad token",
        xml: r#"<bergamot site="d">
    <time-period name="p">
        <time-range>monday 25:00-26:00</time-range>
        <time-range>mondy 09:00-17:00</time-range>
        <time-range>tuesday 09:00-17:60</time-range>
        <time-range>wednesday 09:00-17:00 extra</time-range>
        <time-range>
            thursday  24:30-24:45
        </time-range>
    </time-period>
</bergamot>
"#,
        expect: &[
            err("bad time range `monday 25:00-26:00`", "monday |25:00", "d/time-period/p", "monday 09:00-17:30"),
            err("bad time range `mondy 09:00-17:00`", "mondy", "d/time-period/p", ""),
            err("bad time range `tuesday 09:00-17:60`", "17:|60", "d/time-period/p", ""),
            err("bad time range `wednesday 09:00-17:00 extra`", "extra", "d/time-period/p", ""),
            err("bad time range `thursday  24:30-24:45`", "24:30", "d/time-period/p", ""),
        ],
    },
    Case {
        title: "bad expressions",
        xml: r#"<bergamot site="d">
    <command name="c" engine="nagios">
        <parameter name="a">#{nope(host.address)}</parameter>
        <parameter name="b">-H #{host.address</parameter>
    </command>
    <host name="h">
        <check-command command="c"><parameter name="a">#{coalesce(host.address, }</parameter></check-command>
    </host>
</bergamot>
"#,
        expect: &[
            err("bad expression in parameter `a`: expected a known function", "nope", "d/command/c", "coalesce"),
            err("bad expression in parameter `b`: expected `}`", "host.address|<", "d/command/c", ""),
            err("bad expression in parameter `a`: expected an expression, found `}`", "address, |}", "d/host/h", ""),
        ],
    },
    Case {
        title: "bad conditions",
        xml: r#"<bergamot site="d">
    <cluster name="c">
        <condition>host 'db1' or host 'db2' extra</condition>
    </cluster>
    <cluster name="c2">
        <condition>host 'db1' or host 'db3'</condition>
        <resource name="r"><condition>service 'pgsql' on host 'db2' and service 'pgsql' on host 'generic-host'</condition></resource>
    </cluster>
    <host name="h" extends="generic-host">
        <depends>host 'gateway'</depends>
    </host>
</bergamot>
"#,
        expect: &[
            err("bad condition", "extra", "d/cluster/c", ""),
            err(
                "condition refers to `host 'db3'`, which does not exist",
                "host 'db3'",
                "d/cluster/c2",
                "real (non-template) check",
            ),
            err(
                "condition refers to `service 'pgsql' on host 'db2'`",
                "service 'pgsql' on host 'db2'",
                "d/cluster/c2/resource/r",
                "",
            ),
            err(
                "condition refers to `service 'pgsql' on host 'generic-host'`",
                "service 'pgsql' on host 'generic-host'",
                "d/cluster/c2/resource/r",
                "",
            ),
            err("depends refers to `host 'gateway'`", "host 'gateway'", "d/host/h", ""),
        ],
    },
    Case {
        title: "a condition over an empty pool warns",
        xml: "<bergamot site=\"d\">\n    <cluster name=\"c\"><condition>all of hosts in pool 'web'</condition></cluster>\n</bergamot>\n",
        expect: &[warn("no host is in resource pool `web`", "hosts in pool", "d/cluster/c", "resource-pool")],
    },
];

#[test]
fn bad_values_ranges_expressions_and_conditions() {
    run(VALUES);
}

// ---------------------------------------------------------------------------

const WARNINGS: &[Case] = &[
    Case {
        title: "the guide's alert= on <notification-engine>",
        xml: r#"<bergamot site="d">
    <contact name="c">
        <notifications>
            <notification-engine engine="sms" alert="yes" recovery="no"/>
        </notifications>
    </contact>
</bergamot>
"#,
        expect: &[warn(
            "unknown attribute `alert` on `<notification-engine>` is ignored",
            "alert=",
            "d/contact/c",
            "did you mean `alerts`?",
        )],
    },
    Case {
        title: "unknown element and attribute on a host",
        xml: "<bergamot site=\"d\">\n    <host name=\"h\" adress=\"10.0.0.1\">\n        <schedul every=\"5\"/>\n    </host>\n</bergamot>\n",
        expect: &[
            warn("unknown attribute `adress` on `<host>` is ignored", "adress", "d/host/h", "did you mean `address`?"),
            warn(
                "unknown element `<schedul>` in `<host>` is ignored",
                "<schedul",
                "d/host/h",
                "did you mean `schedule`?",
            ),
        ],
    },
    Case {
        title: "unknown top-level element",
        xml: "<bergamot site=\"d\">\n    <hots name=\"h\"/>\n</bergamot>\n",
        expect: &[warn("unknown element `<hots>` in `<bergamot>` is ignored", "<hots", "d", "did you mean `host`?")],
    },
    Case {
        title: "a top-level service, trap or resource marked template=\"no\"",
        xml: "<bergamot site=\"d\">\n    <service name=\"s\" template=\"no\"/>\n    <resource name=\"r\" template=\"no\"/>\n</bergamot>\n",
        expect: &[
            warn("a top-level service is always a template", "no", "d/service/s", "inside a host"),
            warn("a top-level resource is always a template", "no\"/>#2", "d/resource/r", "inside a cluster"),
        ],
    },
    Case {
        title: "template on a nested check",
        xml: "<bergamot site=\"d\">\n    <host name=\"h\" extends=\"generic-host\">\n        <service name=\"s\" template=\"yes\"><check-command command=\"check-host-alive\"/></service>\n    </host>\n</bergamot>\n",
        expect: &[warn("`template` on a nested service is ignored", "yes", "d/host/h/service/s", "container")],
    },
    Case {
        title: "a schedule on a trap",
        xml: "<bergamot site=\"d\">\n    <trap name=\"t\" template=\"yes\"><schedule every=\"5\"/></trap>\n</bergamot>\n",
        expect: &[warn("traps are passive and never scheduled", "<schedule", "d/trap/t", "")],
    },
    Case {
        title: "unknown engines",
        xml: r#"<bergamot site="d">
    <command name="c" engine="nagois"/>
    <contact name="k"><notifications><notification-engine engine="e-mail"/></notifications></contact>
</bergamot>
"#,
        expect: &[
            warn("unknown check engine `nagois`", "nagois", "d/command/c", "did you mean `nagios`?"),
            warn("unknown notification engine `e-mail`", "e-mail", "d/contact/k", "did you mean `email`?"),
        ],
    },
    Case {
        title: "a parameter set twice",
        xml: "<bergamot site=\"d\">\n    <host name=\"h\">\n        <parameter name=\"p\">1</parameter>\n        <parameter name=\"p\">2</parameter>\n    </host>\n</bergamot>\n",
        expect: &[warn("parameter `p` is set twice; the later value wins", "<parameter#2", "d/host/h", "")],
    },
    Case {
        title: "the guide's legacy <command extends> in a check",
        xml: "<bergamot site=\"d\">\n    <host name=\"h\">\n        <command extends=\"check-host-alive\"/>\n        <service name=\"s\"><command/></service>\n    </host>\n</bergamot>\n",
        expect: &[
            warn(
                "`<command extends=…>` inside a check is the old form of `<check-command>`",
                "<command extends",
                "d/host/h",
                "<check-command command=\"check-host-alive\"/>",
            ),
            err("`<command>` inside a check needs `extends=\"COMMAND\"`", "<command/>", "d/host/h/service/s", ""),
            err("service `s` of host `h` has no `<check-command>`", "<host", "d/host/h/service/s", ""),
        ],
    },
];

#[test]
fn unknown_elements_and_attributes_are_warnings_with_hints() {
    run(WARNINGS);
}

// ---------------------------------------------------------------------------

#[test]
fn every_error_of_a_load_is_reported_in_one_run() {
    let case = r#"<bergamot site="d">
    <host name="h" extends="generic-hots" groups="servers, nosuch">
        <schedule every="5d" time-period="24x8"/>
    </host>
    <time-period name="p"><time-range>monday 25:00-26:00</time-range></time-period>
    <cluster name="c"/>
</bergamot>
"#;
    let broken = "<bergamot site=\"d\">\n  <host name=\"x\">\n</bergamot>\n";
    let o = docs(&[("support.xml", SUPPORT), ("case.xml", case), ("broken.xml", broken)]);
    let errors: Vec<String> = o.diags.errors().map(|d| line(&o.model, d)).collect();
    let want = [
        ("case.xml", "unknown parent host `generic-hots`", "generic-hots"),
        ("case.xml", "unknown group `nosuch`", "nosuch"),
        ("case.xml", "bad `every`", "5d"),
        ("case.xml", "unknown time-period `24x8`", "24x8"),
        ("case.xml", "bad time range", "25:00"),
        ("case.xml", "cluster has no `<condition>`", "<cluster"),
        ("broken.xml", "expected `</host>`", "</bergamot>"),
    ];
    assert_eq!(errors.len(), want.len(), "{errors:#?}");
    for (file, msg, needle) in want {
        let text = if file == "case.xml" { case } else { broken };
        let (l, c) = position_of(text, needle);
        let loc = format!("{file}:{l}:{c}");
        assert!(errors.iter().any(|e| e.contains(msg) && e.contains(&loc)), "no `{msg}` at {loc}: {errors:#?}");
    }
    // Sorted by file, then line and column.
    let keys: Vec<_> = o.diags.items.iter().map(|d| d.span.map(|s| (s.file, s.line, s.col))).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
}

#[test]
fn files_on_disk_bad_utf8_empty_and_missing_directories() {
    let base = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("diagnostics-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let bad = base.join("bad-utf8");
    std::fs::create_dir_all(bad.join("sub")).unwrap();
    std::fs::write(bad.join("sub/site.xml"), b"<bergamot site=\"d\">\n  <summary>caf\xe9</summary>\n</bergamot>\n")
        .unwrap();
    std::fs::write(bad.join("notes.txt"), "not configuration").unwrap();
    let o = bergamot_config::load_model(&bad);
    let errors: Vec<&Diagnostic> = o.diags.errors().collect();
    assert_eq!(errors.len(), 1, "{}", render(&o));
    assert!(errors[0].message.contains("not valid UTF-8"));
    let span = errors[0].span.unwrap();
    assert!(o.model.sources.path(span.file).ends_with("sub/site.xml"));
    assert_eq!((span.line, span.col), (2, 15));

    let empty = base.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let o = bergamot_config::load_model(&empty);
    assert!(
        o.diags
            .errors()
            .any(|d| d.message.contains("no *.xml files") && d.hint.as_deref().is_some_and(|h| h.contains("new-site"))),
        "{}",
        render(&o)
    );

    let o = bergamot_config::load_model(&base.join("missing"));
    assert!(o.diags.errors().any(|d| d.message.contains("cannot read configuration directory")), "{}", render(&o));

    // The rendered form reads the source line and puts the caret under the column.
    let site = base.join("render");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("a.xml"), "<bergamot site=\"d\">\n\t<host name=\"h\" extends=\"nope\"/>\n</bergamot>\n")
        .unwrap();
    let o = bergamot_config::load_model(&site);
    let text = o.diags.render(&o.model.sources);
    let expected_loc = format!(" --> {}:2:26\n", site.join("a.xml").display());
    let shown = "2 |     <host name=\"h\" extends=\"nope\"/>\n";
    for want in ["error: unknown parent host `nope`\n", &expected_loc, shown, "  = object: d/host/h\n", "  = help: "] {
        assert!(text.contains(want), "rendered output lacks `{want}`:\n{text}");
    }
    // The caret sits under `nope` (the tab is shown as four spaces).
    let caret = text.lines().find(|l| l.trim_end().ends_with('^')).expect("a caret line");
    assert_eq!(caret.find('^'), Some(shown.find("nope").unwrap()), "{text}");
    let _ = std::fs::remove_dir_all(&base);
}

/// Every position a diagnostic gives exists in its file.
fn assert_positions_exist(o: &Outcome, texts: &[(&str, &str)], what: &str) {
    for d in &o.diags.items {
        let Some(span) = d.span else { continue };
        let name = o.model.sources.path(span.file).display().to_string();
        let text =
            texts.iter().find(|(n, _)| *n == name).map(|(_, t)| *t).unwrap_or_else(|| panic!("{what}: file {name}"));
        let lines: Vec<&str> = text.split('\n').collect();
        let src = lines
            .get(span.line as usize - 1)
            .unwrap_or_else(|| panic!("{what}: `{}` points past the end", line(&o.model, d)));
        assert!(
            span.col >= 1 && span.col as usize <= src.chars().count() + 1,
            "{what}: `{}` points past its line",
            line(&o.model, d)
        );
    }
}

#[test]
fn truncated_files_never_panic_and_always_fail() {
    let path = examples_dir().join("clusters/clusters.xml");
    let text = std::fs::read_to_string(&path).unwrap();
    let end = text.rfind("</bergamot>").unwrap() + "</bergamot>".len();
    for (i, _) in text.char_indices().filter(|(i, _)| *i < end) {
        let prefix = &text[..i];
        let o = docs(&[("clusters.xml", prefix)]);
        assert!(o.diags.has_errors(), "a prefix of {i} bytes has no error");
        assert_positions_exist(&o, &[("clusters.xml", prefix)], &format!("prefix {i}"));
    }
}

#[test]
fn deleting_any_line_of_the_complete_site_never_panics() {
    let dir = examples_dir().join("complete");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()))
        .collect();
    files.sort();
    let mut with_errors = 0;
    let mut total = 0;
    for f in 0..files.len() {
        let lines: Vec<&str> = files[f].1.split('\n').collect();
        for skip in 0..lines.len() {
            let changed: String =
                lines.iter().enumerate().filter(|(i, _)| *i != skip).map(|(_, l)| *l).collect::<Vec<_>>().join("\n");
            let texts: Vec<(&str, &str)> = files
                .iter()
                .enumerate()
                .map(|(i, (n, t))| (n.as_str(), if i == f { changed.as_str() } else { t.as_str() }))
                .collect();
            let o = docs(&texts);
            assert_positions_exist(&o, &texts, &format!("{} without line {}", files[f].0, skip + 1));
            total += 1;
            with_errors += usize::from(o.diags.has_errors());
        }
    }
    // Many lines are comments or blank, but a good share of deletions break something.
    assert!(with_errors * 5 > total, "{with_errors} of {total} deletions were errors");
}

#[test]
fn hostile_depth_is_an_error_not_a_crash() {
    // Elements nested 100,000 deep: refused at the 65th level, not a stack overflow.
    let n = 100_000;
    let text = format!("<bergamot site=\"d\">\n{}{}</bergamot>", "<x>".repeat(n), "</x>".repeat(n));
    let o = docs(&[("deep.xml", &text)]);
    let errors: Vec<String> = o.diags.errors().map(|d| line(&o.model, d)).collect();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].contains("elements nested deeper than 64 levels") && errors[0].contains("deep.xml:2:190"),
        "{errors:#?}"
    );

    // An inheritance chain of 300 templates: an error, not a stack overflow.
    let mut s = String::from("<bergamot site=\"d\">\n");
    for i in 0..300 {
        s.push_str(&format!("<host name=\"h{i}\" extends=\"h{}\" template=\"yes\"/>\n", i + 1));
    }
    s.push_str("<host name=\"h300\" template=\"yes\"/>\n<host name=\"real\" extends=\"h0\"/>\n</bergamot>\n");
    let o = docs(&[("chain.xml", &s)]);
    assert!(o.diags.errors().count() >= 1, "{}", render(&o));
    assert!(o.diags.errors().all(|d| d.message.contains("inheritance deeper than 128 levels")), "{}", render(&o));
}
