//! The plugins' wording where the sessions have none or print differently, all
//! measured against the real plugins here (tests/accel.rs compares them live):
//! check_icmp 2.3.3's line for one host, and check_snmp 2.3.3's text for one OID —
//! exceptions, timeouts, v1 error statuses, a lone `-w`, the space after perfdata,
//! OIDs as values. A case whose rendering is not reproduced is a [`Declined`].

use std::time::Duration;

use super::{Declined, Printed, declined, printed};
use crate::native::PingThreshold;
use crate::session::ping::TargetStats;
use crate::session::snmp::check::{self, Status};
use crate::session::snmp::{Failure, Outcome};
use crate::wire::plugin::Range;
use crate::wire::snmp::{Oid, Value};

/// check_icmp 2.3.3's verdict and line for one host (thresholds trip at `>=`; no
/// reply at all is CRITICAL with `rta nan` and zero times in perfdata).
pub(super) fn check_icmp_text(host: &str, stats: &TargetStats, warn: &PingThreshold, crit: &PingThreshold) -> Printed {
    let ms = |d: Option<Duration>| d.map_or(0.0, |d| d.as_nanos() as f64 / 1e6);
    let (rta, min, max) = (ms(stats.avg()), ms(stats.min()), ms(stats.max()));
    let pl = stats.loss_percent();
    let trips = |t: &PingThreshold| pl >= u32::from(t.loss_percent) || rta >= ms(Some(t.rta));
    let status = if stats.received == 0 || trips(crit) {
        Status::Critical
    } else if trips(warn) {
        Status::Warning
    } else {
        Status::Ok
    };
    let shown = if stats.received == 0 { "rta nan".to_owned() } else { format!("rta {rta:.3}ms") };
    let text = format!(
        "{} - {host}: {shown}, lost {pl}%|rta={rta:.3}ms;{:.3};{:.3};0; pl={pl}%;{};{};; rtmax={max:.3}ms;;;; \
         rtmin={min:.3}ms;;;; \n",
        status.label(),
        ms(Some(warn.rta)),
        ms(Some(crit.rta)),
        warn.loss_percent,
        crit.loss_percent,
    );
    printed(status.exit_code(), text)
}

/// check_snmp prints a threshold as it was written, `native` holds it parsed: the
/// one way it was written among the arguments (alone, after `-w`/`-c`, or after a
/// long option's `=`), or `None` when that is ambiguous.
pub(super) fn written_range(argv: &[String], range: &Range) -> Option<String> {
    let mut found: Option<&str> = None;
    for arg in argv.iter().skip(1) {
        let forms =
            [Some(arg.as_str()), arg.strip_prefix("-w"), arg.strip_prefix("-c"), arg.split_once('=').map(|p| p.1)];
        for text in forms.into_iter().flatten() {
            if Range::parse(text).ok().as_ref() == Some(range) {
                match found {
                    Some(f) if f != text => return None,
                    _ => found = Some(text),
                }
            }
        }
    }
    found.map(str::to_owned)
}

/// net-snmp shows an OCTET STRING as `STRING: "…"` only when it is printable; this is
/// the part of that rule known to come out of check_snmp unchanged.
fn plain_string(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
}

/// An OID as net-snmp prints it without MIBs, and check_snmp after it.
fn iso_label(oid: &Oid<'_>) -> String {
    let s = oid.to_string();
    s.strip_prefix(".1.").map_or_else(|| s.trim_start_matches('.').to_owned(), |rest| format!("iso.{rest}"))
}

/// check_snmp 2.3.3's verdict and text for one OID, or a decline for the cases its
/// rendering is not reproduced.
pub(super) fn check_snmp_text(
    outcome: &Outcome,
    thresholds: &[check::Thresholds],
    oid: &Oid<'_>,
) -> Result<Printed, Declined> {
    let th = thresholds.first().cloned().unwrap_or_default();
    let any = th.warning.is_some() || th.critical.is_some();
    let vb = match outcome {
        Outcome::Values(values) => match values.as_slice() {
            [vb] => vb,
            _ => return Err(declined("not one value back")),
        },
        Outcome::Failed(Failure::Timeout { addr, .. }) if addr.is_ipv4() => {
            return Ok(printed(3, format!("External command error: Timeout: No Response from {addr}.\n")));
        }
        Outcome::Failed(Failure::ErrorStatus { status, oid: failed, .. }) if status.0 == 2 => {
            let failed = failed.as_ref().map_or_else(|| iso_label(oid), |o| iso_label(o));
            return Ok(printed(
                3,
                format!(
                    "External command error: Error in packet\nReason: ({}) There is no such variable name in this \
                     MIB.\nFailed object: {failed}\n\n",
                    status.name()
                ),
            ));
        }
        Outcome::Failed(f) => return Err(declined(format!("SNMP failure worded by check_snmp: {f}"))),
    };
    let value = &vb.value;
    if value.is_exception() {
        return Ok(if any {
            printed(3, format!("No valid data returned ({value})\n"))
        } else {
            printed(0, format!("SNMP OK - {value} | \n"))
        });
    }
    match value {
        Value::Integer(_) | Value::Gauge32(_) | Value::Counter32(_) | Value::Counter64(_) | Value::TimeTicks(_) => {}
        Value::OctetString(s) if !any && plain_string(s) => {}
        Value::IpAddress(_) if !any => {}
        Value::ObjectId(o) if !any => return Ok(printed(0, format!("SNMP OK - {} | \n", iso_label(o)))),
        _ => return Err(declined("a value check_snmp renders its own way")),
    }
    let report = check::evaluate(outcome, thresholds);
    let mut text = report.output;
    // check_snmp leaves out the critical field when only -w was given, and ends
    // every perfdata item with a space.
    if th.warning.is_some() && th.critical.is_none() && text.ends_with(';') {
        text.pop();
    }
    if !text.ends_with(' ') {
        text.push(' ');
    }
    text.push('\n');
    Ok(printed(report.status.exit_code(), text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::plugin::split_command_line;
    use crate::wire::snmp::VarBind;

    fn argv(line: &str) -> Vec<String> {
        split_command_line(line).unwrap()
    }

    #[test]
    fn thresholds_are_found_as_written_or_declined() {
        let range = |t: &str| Range::parse(t).unwrap();
        let a = argv("check_snmp -H h -o 1.3.6 -w 0:10 -c@5:30");
        assert_eq!(written_range(&a, &range("0:10")).as_deref(), Some("0:10"));
        assert_eq!(written_range(&a, &range("@5:30")).as_deref(), Some("@5:30"));
        let a = argv("check_snmp -H h -o 1.3.6 --warning=10: -c 20");
        assert_eq!(written_range(&a, &range("10:")).as_deref(), Some("10:"));
        // 10 and 0:10 are the same range written two ways: which one is shown is unknown.
        let a = argv("check_snmp -H h -o 1.3.6 -w 0:10 -c 10");
        assert_eq!(written_range(&a, &range("10")), None);
    }

    fn vb(value: Value<'static>) -> Outcome {
        Outcome::Values(vec![VarBind { oid: "1.3.6.1.2.1.1.3.0".parse().unwrap(), value }])
    }

    fn snmp_text(outcome: &Outcome, w: Option<&str>, c: Option<&str>) -> Result<(u8, String), String> {
        let th = check::thresholds(w, c, 1).unwrap();
        let oid: Oid<'static> = "1.3.6.1.2.1.1.3.0".parse().unwrap();
        check_snmp_text(outcome, &th, &oid).map(|p| (p.code, p.text)).map_err(|d| d.0)
    }

    /// Texts printed by check_snmp 2.3.3 against net-snmp 5.9.3's snmpd (tests/accel.rs
    /// compares the same against the live plugin).
    #[test]
    fn check_snmp_wording() {
        let ok = |t: &str| Ok((0, t.to_owned()));
        assert_eq!(
            snmp_text(&vb(Value::TimeTicks(103)), Some("5"), None),
            Ok((1, "SNMP WARNING - *103* | iso.3.6.1.2.1.1.3.0=103;5 \n".into()))
        );
        assert_eq!(
            snmp_text(&vb(Value::Integer(4)), None, Some("0")),
            Ok((2, "SNMP CRITICAL - *4* | iso.3.6.1.2.1.1.3.0=4;;0 \n".into()))
        );
        assert_eq!(snmp_text(&vb(Value::Counter32(7)), None, None), ok("SNMP OK - 7 | iso.3.6.1.2.1.1.3.0=7c \n"));
        assert_eq!(
            snmp_text(&vb(Value::NoSuchObject), None, None),
            ok("SNMP OK - No Such Object available on this agent at this OID | \n")
        );
        assert_eq!(
            snmp_text(&vb(Value::NoSuchInstance), Some("5"), None),
            Ok((3, "No valid data returned (No Such Instance currently exists at this OID)\n".into()))
        );
        let oid = Value::ObjectId("1.3.6.1.4.1.8072.3.2.10".parse().unwrap());
        assert_eq!(snmp_text(&vb(oid), None, None), ok("SNMP OK - iso.3.6.1.4.1.8072.3.2.10 | \n"));
        let s = |b: &'static [u8]| Value::OctetString(std::borrow::Cow::Borrowed(b));
        assert_eq!(snmp_text(&vb(s(b"vm")), None, None), ok("SNMP OK - \"vm\" | \n"));
        // check_snmp digs a number out of strings under thresholds, and prints binary
        // strings in hex: both left to it.
        assert!(snmp_text(&vb(s(b"Linux 6.18")), Some("5"), None).is_err());
        assert!(snmp_text(&vb(s(b"\x9a\x2d")), None, None).is_err());
        let timeout = Outcome::Failed(Failure::Timeout {
            addr: "127.0.0.1:9".parse().unwrap(),
            attempts: 2,
            hint: String::new(),
        });
        assert_eq!(
            snmp_text(&timeout, None, None),
            Ok((3, "External command error: Timeout: No Response from 127.0.0.1:9.\n".into()))
        );
    }

    #[test]
    fn check_icmp_wording_without_replies() {
        let t = |ms: u64, pl: u8| PingThreshold { rta: Duration::from_millis(ms), loss_percent: pl };
        let mut lost = TargetStats::default();
        lost.sent = 5;
        let p = check_icmp_text("127.0.0.1", &lost, &t(200, 0), &t(500, 100));
        assert_eq!(p.code, 2);
        assert_eq!(
            p.text,
            "CRITICAL - 127.0.0.1: rta nan, lost 100%|rta=0.000ms;200.000;500.000;0; pl=100%;0;100;; \
             rtmax=0.000ms;;;; rtmin=0.000ms;;;; \n"
        );
    }
}
