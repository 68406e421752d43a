//! Native acceleration against the real plugins: every command line here runs twice
//! through `accel` — natively, and with the per-command opt-out (the real plugin from
//! /usr/lib/nagios/plugins through the executor) — and once more as the bare plugin
//! for its raw text; status, exit code and text must agree once what legitimately
//! differs between two runs (times, perfdata values) is masked. Peers are started here
//! on loopback: a TCP listener, nrpe 4.1.0 (plaintext and anonymous-DH TLS), net-snmp's
//! snmpd, the kernel's ICMP responder, and a network namespace dropping echo requests.
//! Needs root (raw ICMP, `ip netns`); installs what is missing with apt-get.
//! Assertions are about results and text, never about time. Also here: the daemon's
//! native-only runs (`native_only`) and the runners' sharing (`sharing`); the peers
//! are in `peers`.

use std::net::{TcpListener, UdpSocket};
use std::process::Command;
use std::time::Duration;

use bergamot_netprobes::accel::{
    AccelLimits, AccelOptions, AccelResult, Accelerator, Fallback, render_output, run_command_line,
};
use bergamot_netprobes::driver::IoChoice;
use bergamot_netprobes::exec::{ExecConfig, Executor};
use bergamot_netprobes::wire::plugin::PluginStatus;

#[path = "../common/mod.rs"]
mod common;
mod native_only;
mod peers;
mod sharing;

use common::ensure;
use peers::{Greeter, Scratch, TestNs, hostname, icmp_peers, start_nrpe, start_snmpd};

const PLUGINS: &str = "/usr/lib/nagios/plugins";
const PROBE: &str = env!("CARGO_BIN_EXE_bergamot-probe");

fn plugin(name: &str) -> String {
    format!("{PLUGINS}/{name}")
}

fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn executor() -> Executor {
    Executor::new(ExecConfig { timeout: Duration::from_secs(30), ..ExecConfig::default() })
}

// ------------------------------------------------------------------ comparing

/// Masks what legitimately differs between two runs of one check: decimal fractions
/// before the perfdata (round-trip and response times) and every perfdata value
/// (its unit stays). Dotted numbers with more than one dot (addresses, OIDs,
/// versions) are kept.
fn mask(text: &str) -> String {
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        let (head, perf) = match line.split_once('|') {
            Some((h, p)) => (h, Some(p)),
            None => (line, None),
        };
        out.push_str(&mask_fractions(head));
        let Some(perf) = perf else { continue };
        out.push('|');
        for piece in perf.split_inclusive(char::is_whitespace) {
            match piece.split_once('=') {
                Some((label, rest)) => {
                    let value_len =
                        rest.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-')).unwrap_or(rest.len());
                    let masked = if value_len == 0 { "" } else { "#" };
                    out.push_str(&format!("{label}={masked}{}", &rest[value_len..]));
                }
                None => out.push_str(piece),
            }
        }
    }
    out
}

/// `0.086` → `#`, leaving `127.0.0.1` and `6.18.44` alone.
fn mask_fractions(text: &str) -> String {
    let mut out = String::new();
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        let parts: Vec<&str> = run.split('.').collect();
        let fraction = parts.len() == 2 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        out.push_str(if fraction { "#" } else { run.as_str() });
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() || c == '.' {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[test]
fn mask_keeps_what_must_match() {
    assert_eq!(
        mask(
            "PING OK - Packet loss = 0%, RTA = 0.11 ms|rta=0.109412ms;100.000000;200.000000;0.000000 pl=0%;20;40;0;\n"
        ),
        "PING OK - Packet loss = 0%, RTA = # ms|rta=#ms;100.000000;200.000000;0.000000 pl=#%;20;40;0;\n"
    );
    assert_eq!(mask("SNMP OK - \"Linux vm 6.18.44\" | \n"), "SNMP OK - \"Linux vm 6.18.44\" | \n");
    assert_eq!(
        mask("TCP OK - 0.000 second response time on 127.0.0.1 port 5|time=0.000378s;;;0.000000;10.000000"),
        "TCP OK - # second response time on 127.0.0.1 port 5|time=#s;;;0.000000;10.000000"
    );
    assert_ne!(mask("PING OK - Packet loss = 0%"), mask("PING OK - Packet loss = 20%"));
}

/// What the plugin prints (stdout and stderr in one pipe, as the executor reads it)
/// and its exit code, run directly.
fn bare_plugin(line: &str) -> (i32, String) {
    let argv = bergamot_netprobes::wire::plugin::split_command_line(line).unwrap();
    let out = Command::new("sh").arg("-c").arg("exec \"$0\" \"$@\" 2>&1").args(&argv).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

fn accel(ex: &Executor, line: &str, native: bool) -> AccelResult {
    smol::block_on(run_command_line(line, &AccelOptions { native, ..AccelOptions::default() }, ex))
}

/// Runs `line` natively and as the plugin and checks that they agree; returns the
/// native result.
fn same(ex: &Executor, line: &str, status: PluginStatus) -> AccelResult {
    same_on(Accelerator::shared(), ex, line, status)
}

/// [`same`] on `accelerator`: a test in a network namespace makes its own, whose
/// sockets are opened in that namespace.
fn same_on(accelerator: &Accelerator, ex: &Executor, line: &str, status: PluginStatus) -> AccelResult {
    let run = |native| {
        let opts = AccelOptions { native, ..AccelOptions::default() };
        smol::block_on(accelerator.run_command_line(line, &opts, ex))
    };
    let native = run(true);
    let opted_out = run(false);
    assert!(native.native && native.fallback.is_none(), "{line}: not native: {:?}", native.fallback);
    assert!(!opted_out.native && opted_out.fallback == Some(Fallback::OptedOut), "{line}: {opted_out:?}");
    assert_eq!(native.result.status, status, "{line}: {native:?}");
    assert_eq!(opted_out.result.status, status, "{line}: {opted_out:?}");
    assert_eq!(native.result.exit, opted_out.result.exit, "{line}");
    assert_eq!(
        mask(&render_output(&native.result.output)),
        mask(&render_output(&opted_out.result.output)),
        "{line}: parsed output"
    );
    let text = native.text.clone().expect("native runs keep their text");
    assert!(!text.trim().is_empty(), "{line}");
    let (code, raw) = bare_plugin(line);
    assert_eq!(native.result.exit, Some(bergamot_netprobes::exec::ChildExit::Code(code)), "{line}: {raw}");
    assert_eq!(mask(&text), mask(&raw), "{line}: raw text");
    native
}

#[test]
fn check_tcp_native_matches_the_plugin() {
    ensure(&["monitoring-plugins-basic"], &[&plugin("check_tcp")]);
    let ex = executor();
    let greeter = Greeter::start(b"SSH-2.0-bergamot test\r\n");
    let (tcp, port) = (plugin("check_tcp"), greeter.port);
    let r = same(&ex, &format!("{tcp} -H 127.0.0.1 -p {port}"), PluginStatus::Ok);
    assert!(r.result.output.summary.starts_with("TCP OK - "), "{r:?}");
    same(&ex, &format!("{tcp} -H 127.0.0.1 -p {port} -e SSH-2.0"), PluginStatus::Ok);
    // check_tcp looks for its strings anywhere in the response.
    same(&ex, &format!("{tcp} -H 127.0.0.1 -p {port} -e bergamot -e nope"), PluginStatus::Ok);
    same(&ex, &format!("{tcp} -H 127.0.0.1 -p {port} -e bergamot -e nope -A"), PluginStatus::Warning);
    // No match and the server stays connected: judged once it has been quiet.
    same(&ex, &format!("{tcp} -H 127.0.0.1 -p {port} -e HTTP/1.1"), PluginStatus::Warning);
    same(&ex, &format!("{tcp} -H 127.0.0.1 -p {port} -e HTTP/1.1 -M crit"), PluginStatus::Critical);
    let closed = free_tcp_port();
    let r = same(&ex, &format!("{tcp} -H 127.0.0.1 -p {closed}"), PluginStatus::Critical);
    assert_eq!(r.result.output.summary, format!("connect to address 127.0.0.1 and port {closed}: Connection refused"));
    same(&ex, &format!("{tcp} -H 127.0.0.1 -p {closed} -r ok"), PluginStatus::Ok);
    // check_tcp shows the whole response it read (raw, trailing whitespace cut), and
    // only when it had strings to expect.
    let echo = Greeter::start(b"");
    let r = same(&ex, &format!("{tcp} -H 127.0.0.1 -p {} -s hello -e ECHO", echo.port), PluginStatus::Ok);
    assert!(r.text.unwrap().contains(" [ECHO hello\r\nline2]|time="));
    let r = same(&ex, &format!("{tcp} --hostname=127.0.0.1 -p {} -s hello", echo.port), PluginStatus::Ok);
    assert!(!r.result.output.summary.contains('['), "{r:?}");
    same(&ex, &format!("{tcp} -H 127.0.0.1 -p {} -E -s a\\r\\nb -e line2 -q bye", echo.port), PluginStatus::Ok);
    same(&ex, &format!("{tcp} -H 127.0.0.1 -p {} -s hello -e NOPE", echo.port), PluginStatus::Warning);
    same(&ex, &format!("{tcp} -H 127.0.0.1 -p {} -s hello -e NOPE -j -M ok", echo.port), PluginStatus::Ok);
    // The server closes without a word.
    let r = same(&ex, &format!("{tcp} -H 127.0.0.1 -p {} -e ECHO", echo.port), PluginStatus::Critical);
    assert_eq!(r.result.output.summary, "No data received from host");
}

#[test]
fn unknown_flags_and_undecided_cases_run_the_plugin() {
    ensure(&["monitoring-plugins-basic"], &[&plugin("check_tcp")]);
    let ex = executor();
    let greeter = Greeter::start(b"220 hello\r\n");
    let tcp = plugin("check_tcp");
    // -v is a flag the native side does not model: the plugin runs, and works.
    let r = accel(&ex, &format!("{tcp} -H 127.0.0.1 -p {} -v", greeter.port), true);
    assert_eq!((r.native, r.fallback.clone()), (false, Some(Fallback::NotRecognised)), "{r:?}");
    assert_eq!(r.result.status, PluginStatus::Ok, "{r:?}");
    assert!(r.result.output.long_output.contains("TCP OK - "), "verbose lines first: {r:?}");
    // A flag no plugin knows: the plugin's own usage error comes back.
    let r = accel(&ex, &format!("{tcp} -H 127.0.0.1 -p {} --bogus", greeter.port), true);
    assert_eq!((r.native, r.fallback.clone()), (false, Some(Fallback::NotRecognised)), "{r:?}");
    assert_eq!(r.result.status, PluginStatus::Unknown, "{r:?}");
    // Recognised, but TLS wording is not reproduced: declined before connecting.
    let r = accel(&ex, &format!("{tcp} -H 127.0.0.1 -p {} -S", greeter.port), true);
    assert!(matches!(r.fallback, Some(Fallback::Declined(_))) && !r.native, "{r:?}");
    assert_eq!(r.result.status, PluginStatus::Critical, "not TLS: {r:?}");
    // Recognised, but check_tcp prints no host when it was not given with -H.
    let r = accel(&ex, &format!("{tcp} 127.0.0.1 -p {}", greeter.port), true);
    assert!(matches!(r.fallback, Some(Fallback::Declined(_))) && !r.native, "{r:?}");
    assert!(r.result.output.summary.ends_with(&format!("response time on port {}", greeter.port)), "{r:?}");
    // Not a plugin that runs natively at all.
    let r = accel(&ex, &format!("{} 1 'just a warning'", plugin("check_dummy")), true);
    assert_eq!((r.native, r.result.status), (false, PluginStatus::Warning), "{r:?}");
    assert_eq!(r.result.output.summary, "WARNING: just a warning");
}

#[test]
fn the_check_timeout_bounds_native_runs_as_it_bounds_plugins() {
    ensure(&["monitoring-plugins-basic"], &[&plugin("check_tcp")]);
    // Connections complete in the backlog and never hear a word.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let line =
        format!("{} -H 127.0.0.1 -p {} -e hello -t 30", plugin("check_tcp"), silent.local_addr().unwrap().port());
    let ex = executor();
    for native in [true, false] {
        let opts = AccelOptions { native, timeout: Some(Duration::from_secs(1)) };
        let r = smol::block_on(run_command_line(&line, &opts, &ex));
        assert_eq!((r.native, r.result.status), (native, PluginStatus::Timeout), "{r:?}");
        assert_eq!(r.result.output.summary, "plugin timed out after 1s", "{r:?}");
    }
}

#[test]
fn cli_exec_prints_and_exits_like_the_plugin() {
    ensure(&["monitoring-plugins-basic"], &[&plugin("check_tcp")]);
    let closed = free_tcp_port();
    let line = format!("{} -H 127.0.0.1 -p {closed}", plugin("check_tcp"));
    let run = |extra: &[&str]| {
        let out = Command::new(PROBE).arg("exec").arg("-v").args(extra).arg(&line).output().unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };
    let (code, stdout, stderr) = run(&[]);
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    assert_eq!(stdout, format!("connect to address 127.0.0.1 and port {closed}: Connection refused\n"));
    assert!(stderr.contains("ran natively"), "{stderr}");
    let (code, stdout_plugin, stderr) = run(&["--no-native"]);
    assert_eq!((code, stdout_plugin.as_str()), (Some(2), stdout.as_str()), "{stderr}");
    assert!(stderr.contains("ran the plugin (native runs are off"), "{stderr}");
    // Many at once from one process, for benchmarks: the summary counts them.
    let (code, stdout_many, stderr) = run(&["--repeat", "20", "--parallel", "8"]);
    assert_eq!((code, stdout_many.as_str()), (Some(2), stdout.as_str()), "{stderr}");
    assert!(stderr.contains("20 checks in") && stderr.contains("20 native: OK 0, WARNING 0, CRITICAL 20"), "{stderr}");
    // The words after `--` are the argv as is.
    let out = Command::new(PROBE)
        .args(["exec", "--", &plugin("check_tcp"), "-H", "127.0.0.1", "-p", &closed.to_string()])
        .output()
        .unwrap();
    assert_eq!((out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned()), (Some(2), stdout));
}

// ------------------------------------------------------------------ ICMP

#[test]
fn check_ping_and_check_icmp_native_match_the_plugins() {
    icmp_peers();
    let ex = executor();
    let (ping, icmp) = (plugin("check_ping"), plugin("check_icmp"));
    let r = same(&ex, &format!("{ping} -H 127.0.0.1 -w 100,20% -c 200,40% -p 2"), PluginStatus::Ok);
    assert!(r.result.output.summary.starts_with("PING OK - Packet loss = 0%, RTA = "), "{r:?}");
    same(&ex, &format!("{ping} -H ::1 -w 100,20% -c 200,40% -p 1"), PluginStatus::Ok);
    let r = same(&ex, &format!("{icmp} -H 127.0.0.1 -n 3"), PluginStatus::Ok);
    assert!(r.result.output.summary.starts_with("OK - 127.0.0.1: rta "), "{r:?}");
    // Any loss at all reaches a 0% warning threshold: WARNING whatever the timing.
    same(&ex, &format!("{icmp} -H 127.0.0.1 -n 2 -w 200,0% -c 500,100%"), PluginStatus::Warning);
    same(&ex, &format!("{icmp} -H ::1 -n 2"), PluginStatus::Ok);
}

#[test]
fn unanswered_pings_match_the_plugins() {
    icmp_peers();
    // Echo requests are dropped on the way out.
    let ns = TestNs::new(&[
        "nft add table inet q",
        "nft add chain inet q out { type filter hook output priority 0 ; }",
        "nft add rule inet q out icmp type echo-request drop",
    ]);
    std::thread::scope(|s| {
        s.spawn(|| {
            ns.enter();
            let (ex, here) = (executor(), Accelerator::new(IoChoice::Auto, AccelLimits::default()));
            let r = same_on(
                &here,
                &ex,
                &format!("{} -H 127.0.0.1 -w 100,20% -c 200,40% -p 2 -t 2", plugin("check_ping")),
                PluginStatus::Critical,
            );
            assert!(r.result.output.summary.starts_with("PING CRITICAL - Packet loss = 100%"), "{r:?}");
            let line = format!("{} -H 127.0.0.1 -n 2 -c 300,80%", plugin("check_icmp"));
            let r = same_on(&here, &ex, &line, PluginStatus::Critical);
            assert_eq!(r.result.output.summary, "CRITICAL - 127.0.0.1: rta nan, lost 100%");
        })
        .join()
        .unwrap()
    });
}

/// Where unprivileged ICMP sockets are allowed (a namespace's own sysctl), a native
/// ping takes one, which gets only its own replies; the text is the same.
#[test]
fn pings_over_datagram_icmp_sockets_match_the_plugins() {
    icmp_peers();
    let ns = TestNs::new(&["sysctl -q -w net.ipv4.ping_group_range=0\t2147483647"]);
    std::thread::scope(|s| {
        s.spawn(|| {
            ns.enter();
            let (ex, here) = (executor(), Accelerator::new(IoChoice::Auto, AccelLimits::default()));
            let line = format!("{} -H 127.0.0.1 -w 100,20% -c 200,40% -p 2", plugin("check_ping"));
            same_on(&here, &ex, &line, PluginStatus::Ok);
            same_on(&here, &ex, &format!("{} -H 127.0.0.1 -n 3", plugin("check_icmp")), PluginStatus::Ok);
        })
        .join()
        .unwrap()
    });
}

// ------------------------------------------------------------------ NRPE

#[test]
fn check_nrpe_native_matches_the_plugin() {
    let dir = Scratch::new("nrpe");
    let (_plain, port) = start_nrpe(&dir, true);
    let (_tls, tls_port) = start_nrpe(&dir, false);
    let ex = executor();
    let nrpe = plugin("check_nrpe");
    let r = same(&ex, &format!("{nrpe} -H 127.0.0.1 -p {port} -n -c check_warn"), PluginStatus::Warning);
    assert_eq!(
        (r.result.output.summary.as_str(), r.result.output.long_output.as_str()),
        ("DISK WARNING - 81% used", "second line")
    );
    same(&ex, &format!("{nrpe} -H 127.0.0.1 -p {port} -n -c check_ok"), PluginStatus::Ok);
    let r = same(&ex, &format!("{nrpe} -H 127.0.0.1 -p {port} -n"), PluginStatus::Ok);
    assert!(r.result.output.summary.starts_with("NRPE v"), "{r:?}");
    same(&ex, &format!("{nrpe} -H 127.0.0.1 -p {port} -n -c nope"), PluginStatus::Unknown);
    same(&ex, &format!("{nrpe} -H 127.0.0.1 -p {port} -n -2 -c check_ok"), PluginStatus::Ok);
    // Anonymous-DH TLS, as check_nrpe does by default.
    same(&ex, &format!("{nrpe} -H 127.0.0.1 -p {tls_port} -c check_warn"), PluginStatus::Warning);
    // Nobody listening: check_nrpe's two lines (on stderr), the timeout state as status.
    let closed = free_tcp_port();
    let r = same(&ex, &format!("{nrpe} -H 127.0.0.1 -p {closed} -n"), PluginStatus::Critical);
    assert_eq!(r.result.output.summary, format!("connect to address 127.0.0.1 port {closed}: Connection refused"));
    same(&ex, &format!("{nrpe} -H 127.0.0.1 -p {closed} -n -u"), PluginStatus::Unknown);
    same(&ex, &format!("{nrpe} -H 127.0.0.1 -p {closed} -n -t 5:WARNING"), PluginStatus::Warning);
}

// ------------------------------------------------------------------ SNMP

#[test]
fn check_snmp_native_matches_the_plugin() {
    let dir = Scratch::new("snmp");
    let (_snmpd, port) = start_snmpd(&dir);
    let ex = executor();
    let base = format!("{} -H 127.0.0.1 -p {port} -P 2c -C public", plugin("check_snmp"));
    let cases = [
        ("-o 1.3.6.1.2.1.1.1.0", PluginStatus::Ok),  // sysDescr, a string
        ("-o .1.3.6.1.2.1.1.5.0", PluginStatus::Ok), // sysName
        ("-o 1.3.6.1.2.1.2.1.0", PluginStatus::Ok),  // ifNumber, an INTEGER
        ("-o 1.3.6.1.2.1.2.1.0 -w 5 -c 10", PluginStatus::Ok),
        ("-o 1.3.6.1.2.1.2.1.0 -w 0:1", PluginStatus::Warning),
        ("-o 1.3.6.1.2.1.2.1.0 -c @0:100", PluginStatus::Critical),
        ("-o 1.3.6.1.2.1.2.2.1.5.1 -w 5:", PluginStatus::Ok), // ifSpeed of lo, a Gauge32
        ("-o 1.3.6.1.2.1.1.2.0", PluginStatus::Ok),           // sysObjectID, an OID
        ("-o 1.3.6.1.2.1.1.99.0", PluginStatus::Ok),          // noSuchObject, no thresholds
        ("-o 1.3.6.1.2.1.1.99.0 -w 5", PluginStatus::Unknown),
    ];
    for (args, status) in cases {
        same(&ex, &format!("{base} {args}"), status);
    }
    // v1 reports a missing OID as an error status.
    let v1 = format!("{} -H 127.0.0.1 -p {port} -P 1 -o 1.3.6.1.2.1.1.99.0", plugin("check_snmp"));
    same(&ex, &v1, PluginStatus::Unknown);
    // v3 authPriv with SHA and AES.
    let v3 = format!(
        "{} -H 127.0.0.1 -p {port} -P 3 -L authPriv -U bergamot -a SHA -A authpass123 -x AES -X privpass123 \
         -o 1.3.6.1.2.1.1.5.0",
        plugin("check_snmp")
    );
    same(&ex, &v3, PluginStatus::Ok);
    // An agent that does not answer (a wrong community is silence in v2c).
    let r = same(
        &ex,
        &format!("{} -H 127.0.0.1 -p {port} -P 2c -C wrong -t 1 -e 0 -o 1.3.6.1.2.1.1.5.0", plugin("check_snmp")),
        PluginStatus::Unknown,
    );
    assert_eq!(r.result.output.summary, format!("External command error: Timeout: No Response from 127.0.0.1:{port}."));
    // A string under thresholds is rendered by check_snmp its own way: the native
    // run declines after the answer and the plugin's result comes back.
    let r = accel(&ex, &format!("{base} -o 1.3.6.1.2.1.1.1.0 -w 5"), true);
    assert!(!r.native && matches!(r.fallback, Some(Fallback::Declined(_))), "{r:?}");
    assert_eq!(r.result.status, PluginStatus::Warning, "{r:?}");
}

/// Hundreds of checks at once through one accelerator per backend: all native, all
/// answered, on the backend asked for.
#[test]
fn many_checks_at_once_share_the_runners() {
    use bergamot_netprobes::driver::Backend;
    let dir = Scratch::new("many");
    let (_snmpd, snmp_port) = start_snmpd(&dir);
    let greeter = Greeter::start(b"SSH-2.0-many\r\n");
    let ex = executor();
    let tcp = format!("{} -H 127.0.0.1 -p {} -e SSH", plugin("check_tcp"), greeter.port);
    let snmp = format!("{} -H 127.0.0.1 -p {snmp_port} -P 2c -o 1.3.6.1.2.1.1.5.0", plugin("check_snmp"));
    for (io, backend) in [(IoChoice::IoUring, Backend::IoUring), (IoChoice::Epoll, Backend::Epoll)] {
        // Fewer slots than checks: the rest wait their turn.
        let accel = Accelerator::new(io, AccelLimits { connections: 64, snmp_in_flight: 64, per_destination: 8 });
        let opts = AccelOptions::default();
        let local = smol::LocalExecutor::new();
        let tasks: Vec<_> = (0..600)
            .map(|i| local.spawn(accel.run_command_line(if i % 2 == 0 { &tcp } else { &snmp }, &opts, &ex)))
            .collect();
        let results = smol::block_on(local.run(async {
            let mut all = Vec::new();
            for t in tasks {
                all.push(t.await);
            }
            all
        }));
        for r in &results {
            assert!(r.native && r.backend == Some(backend), "{r:?}");
            assert_eq!(r.result.status, PluginStatus::Ok, "{r:?}");
        }
        let (first_tcp, first_snmp) = (&results[0].result.output.summary, &results[1].result.output.summary);
        assert!(first_tcp.starts_with("TCP OK - ") && first_tcp.ends_with("[SSH-2.0-many]"), "{first_tcp}");
        assert_eq!(*first_snmp, format!("SNMP OK - \"{}\"", hostname()));
    }
}
