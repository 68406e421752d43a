//! `Accelerator::run_native_only`, what the daemon's engines `ping`, `nrpe`, `snmp`
//! and `tcp` run: where `run_argv` runs natively, the same result; where it declines
//! (and the plugin runs), a result worded natively — and never a plugin.

use bergamot_netprobes::native::{NativeRequest, parse_command_line};

use super::*;

/// The daemon's defaults for a check: 30 s, 64 KiB of output.
fn native_only(accel: &Accelerator, line: &str) -> AccelResult {
    let request: NativeRequest = parse_command_line(line).unwrap_or_else(|| panic!("not recognised: {line}"));
    smol::block_on(accel.run_native_only(&request, Duration::from_secs(30), 64 << 10))
}

fn new_accelerator() -> Accelerator {
    Accelerator::new(IoChoice::Auto, AccelLimits::default())
}

/// Where `run_argv` runs natively, native-only gives the same status and text.
fn as_accelerated(accel: &Accelerator, ex: &Executor, line: &str, status: PluginStatus) -> AccelResult {
    let only = native_only(accel, line);
    let via_argv = smol::block_on(accel.run_command_line(line, &AccelOptions::default(), ex));
    assert!(via_argv.native, "{line}: {via_argv:?}");
    assert!(only.native && only.fallback.is_none(), "{line}: {only:?}");
    assert_eq!((only.result.status, via_argv.result.status), (status, status), "{line}: {only:?}");
    assert_eq!(mask(only.text.as_deref().unwrap_or("")), mask(via_argv.text.as_deref().unwrap_or("")), "{line}");
    only
}

/// Where `run_argv` declines (the plugin ran), native-only gives `status` and a
/// summary that starts with `summary`.
fn worded_natively(accel: &Accelerator, ex: &Executor, line: &str, status: PluginStatus, summary: &str) -> AccelResult {
    let via_argv = smol::block_on(accel.run_command_line(line, &AccelOptions::default(), ex));
    assert!(matches!(via_argv.fallback, Some(Fallback::Declined(_))), "{line}: declines there: {via_argv:?}");
    let only = native_only(accel, line);
    assert!(only.native && only.fallback.is_none(), "{line}: {only:?}");
    assert_eq!(only.result.status, status, "{line}: {only:?}");
    assert!(only.result.output.summary.starts_with(summary), "{line}: {:?}", only.result.output.summary);
    only
}

#[test]
fn ping_natively_only() {
    icmp_peers();
    let (ex, accel) = (executor(), new_accelerator());
    let (ping, icmp) = (plugin("check_ping"), plugin("check_icmp"));
    as_accelerated(&accel, &ex, &format!("{ping} -H 127.0.0.1 -w 100,20% -c 200,40% -p 2"), PluginStatus::Ok);
    as_accelerated(&accel, &ex, &format!("{icmp} -H ::1 -n 2"), PluginStatus::Ok);
    let r = worded_natively(
        &accel,
        &ex,
        &format!("{ping} -H nonexistent.invalid -w 100,20% -c 200,40% -p 1"),
        PluginStatus::Unknown,
        "PING UNKNOWN - cannot resolve host nonexistent.invalid",
    );
    assert_eq!((r.backend, r.result.exit), (None, Some(bergamot_netprobes::exec::ChildExit::Code(3))));
    // ICMP errors instead of replies: the plugins word them their own way; natively
    // the loss is reported with the error named.
    let ns = TestNs::new(&[
        "nft add table inet q",
        "nft add chain inet q out { type filter hook output priority 0 ; }",
        "nft add rule inet q out icmp type echo-request reject with icmp type host-unreachable",
    ]);
    std::thread::scope(|s| {
        s.spawn(|| {
            ns.enter();
            let (ex, here) = (executor(), new_accelerator());
            worded_natively(
                &here,
                &ex,
                &format!("{ping} -H 127.0.0.1 -w 100,20% -c 200,40% -p 2 -t 3"),
                PluginStatus::Critical,
                "PING CRITICAL - Packet loss = 100% (ICMP Host Unreachable)",
            );
            worded_natively(
                &here,
                &ex,
                &format!("{icmp} -H 127.0.0.1 -n 2"),
                PluginStatus::Critical,
                "CRITICAL - 127.0.0.1: rta nan, lost 100% (ICMP Host Unreachable)",
            );
        })
        .join()
        .unwrap()
    });
}

#[test]
fn nrpe_natively_only() {
    let dir = Scratch::new("nrpe-native");
    let (_plain, port) = start_nrpe(&dir, true);
    let (_tls, tls_port) = start_nrpe(&dir, false);
    let (ex, accel) = (executor(), new_accelerator());
    let nrpe = plugin("check_nrpe");
    let r =
        as_accelerated(&accel, &ex, &format!("{nrpe} -H 127.0.0.1 -p {port} -n -c check_warn"), PluginStatus::Warning);
    assert_eq!(r.result.output.long_output, "second line");
    let closed = free_tcp_port();
    let r = as_accelerated(&accel, &ex, &format!("{nrpe} -H 127.0.0.1 -p {closed} -n"), PluginStatus::Critical);
    assert_eq!(r.result.output.summary, format!("connect to address 127.0.0.1 port {closed}: Connection refused"));
    // -d 2: anonymous DH only, which this server speaks.
    let line = format!("{nrpe} -H 127.0.0.1 -p {tls_port} -d 2 -c check_warn");
    worded_natively(&accel, &ex, &line, PluginStatus::Warning, "DISK WARNING - 81% used");
    // -d 0: no anonymous DH, and this server has no certificate: the handshake fails,
    // with the status of connection failures.
    let line = format!("{nrpe} -H 127.0.0.1 -p {tls_port} -d 0 -c check_ok");
    worded_natively(&accel, &ex, &line, PluginStatus::Critical, "CHECK_NRPE STATE CRITICAL: ");
    let line = format!("{nrpe} -H 127.0.0.1 -p {tls_port} -d 0 -u -c check_ok");
    worded_natively(&accel, &ex, &line, PluginStatus::Unknown, "CHECK_NRPE STATE UNKNOWN: ");
    let line = format!("{nrpe} -H nonexistent.invalid -p {port} -n");
    worded_natively(
        &accel,
        &ex,
        &line,
        PluginStatus::Unknown,
        "NRPE UNKNOWN - cannot resolve host nonexistent.invalid",
    );
}

#[test]
fn snmp_natively_only() {
    let dir = Scratch::new("snmp-native");
    let (_snmpd, port) = start_snmpd(&dir);
    let (ex, accel) = (executor(), new_accelerator());
    let base = format!("{} -H 127.0.0.1 -p {port} -P 2c -C public", plugin("check_snmp"));
    let name = hostname();
    as_accelerated(&accel, &ex, &format!("{base} -o 1.3.6.1.2.1.1.5.0"), PluginStatus::Ok);
    as_accelerated(&accel, &ex, &format!("{base} -o 1.3.6.1.2.1.2.1.0 -w 1"), PluginStatus::Warning);
    // check_snmp prints thresholds as written; natively they come out as parsed.
    let r = native_only(&accel, &format!("{base} -o 1.3.6.1.2.1.2.1.0 -w 0:1 -c @10:20"));
    assert_eq!(r.result.status, PluginStatus::Warning, "{r:?}");
    assert!(mask(r.text.as_deref().unwrap_or("")).ends_with("| iso.3.6.1.2.1.2.1.0=#;1;@10:20 \n"), "{r:?}");
    // A string under thresholds: check_snmp digs a number out of it; natively it is
    // not a number, so UNKNOWN with the value shown.
    let line = format!("{base} -o 1.3.6.1.2.1.1.5.0 -w 5");
    let summary =
        format!("SNMP UNKNOWN - No valid data returned (.1.3.6.1.2.1.1.5.0 is not numeric: STRING: \"{name}\")");
    worded_natively(&accel, &ex, &line, PluginStatus::Unknown, &summary);
    // -s, -l and -u.
    worded_natively(&accel, &ex, &format!("{base} -o 1.3.6.1.2.1.1.5.0 -s {name}"), PluginStatus::Ok, "SNMP OK - ");
    let line = format!("{base} -o 1.3.6.1.2.1.1.5.0 -s not-{name}");
    worded_natively(&accel, &ex, &line, PluginStatus::Critical, &format!("SNMP CRITICAL - *\"{name}\"*"));
    let r = worded_natively(
        &accel,
        &ex,
        &format!("{base} -o 1.3.6.1.2.1.2.1.0 -l ifs -u interfaces"),
        PluginStatus::Ok,
        "ifs OK - ",
    );
    assert!(r.result.output.summary.ends_with(" interfaces"), "{r:?}");
    // Nobody answers on ::1: check_snmp words IPv6 addresses its own way.
    let line = format!("{} -H ::1 -p {port} -P 2c -C public -t 1 -e 0 -o 1.3.6.1.2.1.1.5.0", plugin("check_snmp"));
    let summary = format!("External command error: Timeout: No Response from [::1]:{port}.");
    worded_natively(&accel, &ex, &line, PluginStatus::Unknown, &summary);
    let line = format!("{} -H nonexistent.invalid -P 2c -o 1.3.6.1.2.1.1.5.0", plugin("check_snmp"));
    worded_natively(
        &accel,
        &ex,
        &line,
        PluginStatus::Unknown,
        "SNMP UNKNOWN - cannot resolve host nonexistent.invalid",
    );
}

#[test]
fn tcp_natively_only() {
    ensure(&["monitoring-plugins-basic"], &[&plugin("check_tcp")]);
    let (ex, accel) = (executor(), new_accelerator());
    let greeter = Greeter::start(b"SSH-2.0-bergamot test\r\n");
    let (tcp, port) = (plugin("check_tcp"), greeter.port);
    let r = as_accelerated(&accel, &ex, &format!("{tcp} -H 127.0.0.1 -p {port} -e SSH"), PluginStatus::Ok);
    assert!(r.result.output.summary.ends_with("[SSH-2.0-bergamot test]"), "{r:?}");
    let closed = free_tcp_port();
    let r = as_accelerated(&accel, &ex, &format!("{tcp} -H 127.0.0.1 -p {closed}"), PluginStatus::Critical);
    assert_eq!(r.result.output.summary, format!("connect to address 127.0.0.1 and port {closed}: Connection refused"));
    // The host not given with -H (check_tcp then prints none): natively it is shown.
    let r = worded_natively(&accel, &ex, &format!("{tcp} 127.0.0.1 -p {port}"), PluginStatus::Ok, "TCP OK - ");
    assert!(r.result.output.summary.ends_with(&format!("response time on 127.0.0.1 port {port}")), "{r:?}");
    // -m caps what is read.
    let line = format!("{tcp} -H 127.0.0.1 -p {port} -e SSH-2 -m 5");
    worded_natively(&accel, &ex, &line, PluginStatus::Ok, "TCP OK - ");
    // TLS to a server that does not speak it: the session's verdict.
    let line = format!("{tcp} -H 127.0.0.1 -p {port} -S");
    worded_natively(&accel, &ex, &line, PluginStatus::Critical, "TCP CRITICAL - Cannot make SSL connection: ");
    // The whole check's limit: TIMEOUT, in our words.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let line = format!("{tcp} -H 127.0.0.1 -p {} -e hello -t 30", silent.local_addr().unwrap().port());
    let request = parse_command_line(&line).unwrap();
    let r = smol::block_on(accel.run_native_only(&request, Duration::from_secs(1), 1024));
    assert_eq!((r.native, r.result.status), (true, PluginStatus::Timeout), "{r:?}");
    assert_eq!(r.result.output.summary, "check timed out after 1s");
}
