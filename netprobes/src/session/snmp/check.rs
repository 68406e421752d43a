//! check_snmp-style evaluation of SNMP results: Nagios threshold ranges
//! (`10`, `10:`, `~:10`, `10:20`, `@10:20`), the worst state over all values, and the
//! plugin output line `SNMP WARNING - *16633* | iso.3.6.1.2.1.1.3.0=16633;10:20;@5:30`
//! as monitoring-plugins 2.3 prints it. Pure functions; no I/O.

use std::fmt::Write as _;
use std::str::FromStr;

use thiserror::Error;

use super::{Failure, Outcome};
use crate::wire::snmp::{Oid, Value, VarBind};

/// Plugin states and their exit codes.
pub use crate::wire::plugin::ExitStatus as Status;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid range `{text}`: {reason}")]
pub struct RangeError {
    pub text: String,
    pub reason: &'static str,
}

/// A Nagios threshold range: alert when the value is outside `start..=end`, or
/// inside it with a leading `@`. `None` bounds are infinite.
#[derive(Debug, Clone, PartialEq)]
pub struct Range {
    pub start: Option<f64>,
    pub end: Option<f64>,
    pub inside: bool,
    /// As written, for perfdata.
    pub text: String,
}

impl FromStr for Range {
    type Err = RangeError;

    fn from_str(s: &str) -> Result<Range, RangeError> {
        let err = |reason| RangeError { text: s.to_owned(), reason };
        let (inside, body) = match s.strip_prefix('@') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        if body.is_empty() {
            return Err(err("empty"));
        }
        let num = |t: &str| t.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or(err("not a number"));
        let (start, end) = match body.split_once(':') {
            None => (Some(0.0), Some(num(body)?)),
            Some((a, b)) => {
                let start = if a == "~" { None } else if a.is_empty() { Some(0.0) } else { Some(num(a)?) };
                let end = if b.is_empty() { None } else { Some(num(b)?) };
                (start, end)
            }
        };
        if let (Some(a), Some(b)) = (start, end)
            && a > b
        {
            return Err(err("start is greater than end"));
        }
        Ok(Range { start, end, inside, text: s.to_owned() })
    }
}

impl Range {
    /// Does `v` raise the alert this range stands for?
    pub fn alerts(&self, v: f64) -> bool {
        let within = self.start.is_none_or(|a| v >= a) && self.end.is_none_or(|b| v <= b);
        within == self.inside
    }
}

/// Warning and critical ranges for one OID.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Thresholds {
    pub warning: Option<Range>,
    pub critical: Option<Range>,
}

impl Thresholds {
    fn any(&self) -> bool {
        self.warning.is_some() || self.critical.is_some()
    }

    fn status(&self, v: f64) -> Status {
        if self.critical.as_ref().is_some_and(|r| r.alerts(v)) {
            Status::Critical
        } else if self.warning.as_ref().is_some_and(|r| r.alerts(v)) {
            Status::Warning
        } else {
            Status::Ok
        }
    }
}

/// Split check_snmp's comma lists (`-w 10,20:30`) into one threshold per OID; OIDs
/// past the end of a list get no range of that kind, as in check_snmp.
pub fn thresholds(warning: Option<&str>, critical: Option<&str>, oids: usize) -> Result<Vec<Thresholds>, RangeError> {
    let split = |s: Option<&str>| -> Result<Vec<Option<Range>>, RangeError> {
        match s {
            None => Ok(Vec::new()),
            Some(s) => s.split(',').map(|p| if p.is_empty() { Ok(None) } else { p.parse().map(Some) }).collect(),
        }
    };
    let (w, c) = (split(warning)?, split(critical)?);
    Ok((0..oids)
        .map(|i| Thresholds {
            warning: w.get(i).cloned().flatten(),
            critical: c.get(i).cloned().flatten(),
        })
        .collect())
}

/// A plugin result: state and the output line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub status: Status,
    pub output: String,
}

/// net-snmp names OIDs under 1 `iso` when no MIB is loaded; check_snmp's perfdata
/// labels inherit that.
fn label(oid: &Oid<'_>) -> String {
    let s = oid.to_string();
    match s.strip_prefix(".1.") {
        Some(rest) => format!("iso.{rest}"),
        None => s.trim_start_matches('.').to_owned(),
    }
}

/// Evaluate a finished operation the way check_snmp does.
pub fn evaluate(outcome: &Outcome, thresholds: &[Thresholds]) -> Report {
    let values = match outcome {
        Outcome::Values(v) => v,
        Outcome::Failed(f) => return failure(f),
    };
    let mut status = Status::Ok;
    let mut shown = Vec::with_capacity(values.len());
    let mut perf = Vec::with_capacity(values.len());
    for (i, vb) in values.iter().enumerate() {
        let th = thresholds.get(i).cloned().unwrap_or_default();
        if vb.value.is_exception() {
            return Report { status: Status::Unknown, output: format!("SNMP UNKNOWN - No valid data returned ({})", vb.value) };
        }
        match numeric(vb, th.any()) {
            Some((v, text, uom)) => {
                let s = th.status(v);
                status = status.max(s);
                shown.push(if s == Status::Ok { text.clone() } else { format!("*{text}*") });
                let mut p = format!("{}={text}{uom}", label(&vb.oid));
                if th.any() {
                    let _ = write!(p, ";{};{}", perf_range(th.warning.as_ref()), perf_range(th.critical.as_ref()));
                }
                perf.push(p);
            }
            None if th.any() => {
                return Report {
                    status: Status::Unknown,
                    output: format!("SNMP UNKNOWN - No valid data returned ({} is not numeric: {})", vb.oid, vb.value),
                };
            }
            None => shown.push(plain(&vb.value)),
        }
    }
    Report { status, output: format!("SNMP {} - {} | {}", status.label(), shown.join(" "), perf.join(" ")) }
}

/// A range in perfdata as check_snmp writes it: as given.
fn perf_range(r: Option<&Range>) -> &str {
    r.map(|r| r.text.as_str()).unwrap_or("")
}

/// The number in a value with its printed form and perfdata unit. TimeTicks and
/// numeric strings count only when thresholds ask for a number (check_snmp).
fn numeric(vb: &VarBind<'_>, thresholds: bool) -> Option<(f64, String, &'static str)> {
    match &vb.value {
        Value::Integer(v) => Some((*v as f64, v.to_string(), "")),
        Value::Gauge32(v) => Some((f64::from(*v), v.to_string(), "")),
        Value::Counter32(v) => Some((f64::from(*v), v.to_string(), "c")),
        Value::Counter64(v) => Some((*v as f64, v.to_string(), "c")),
        Value::TimeTicks(v) if thresholds => Some((f64::from(*v), v.to_string(), "")),
        Value::OctetString(s) if thresholds => {
            let t = std::str::from_utf8(s).ok()?.trim();
            let v: f64 = t.parse().ok()?;
            Some((v, t.to_owned(), ""))
        }
        _ => None,
    }
}

/// A non-numeric value as check_snmp shows it: strings quoted, other types as
/// net-snmp prints them.
fn plain(v: &Value<'_>) -> String {
    match v {
        Value::OctetString(s) => format!("\"{}\"", String::from_utf8_lossy(s)),
        other => other.to_string(),
    }
}

/// A failed operation as a plugin result: no answer is CRITICAL (the agent is
/// down or refuses us), a protocol refusal UNKNOWN.
pub fn failure(f: &Failure) -> Report {
    let status = match f {
        Failure::Timeout { .. } => Status::Critical,
        _ => Status::Unknown,
    };
    Report { status, output: format!("SNMP {} - {f}", status.label()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::snmp::ErrorStatus;
    use std::borrow::Cow;

    fn vb(oid: &str, value: Value<'static>) -> VarBind<'static> {
        VarBind { oid: oid.parse().unwrap(), value }
    }

    #[test]
    fn range_syntax() {
        // (range, value, alerts)
        let cases: &[(&str, f64, bool)] = &[
            ("10", 5.0, false),
            ("10", 11.0, true),
            ("10", -1.0, true),
            ("10:", 9.0, true),
            ("10:", 1e9, false),
            ("~:10", -1e9, false),
            ("~:10", 10.5, true),
            ("10:20", 15.0, false),
            ("10:20", 20.0, false),
            ("10:20", 21.0, true),
            ("@10:20", 15.0, true),
            ("@10:20", 10.0, true),
            ("@10:20", 9.0, false),
            ("@5:30", 16633.0, false),
            ("1.5:2.5", 2.0, false),
        ];
        for &(r, v, want) in cases {
            assert_eq!(r.parse::<Range>().unwrap().alerts(v), want, "{r} at {v}");
        }
        for bad in ["", "@", "x", "20:10", "1:y", "nan"] {
            assert!(bad.parse::<Range>().is_err(), "{bad}");
        }
    }

    #[test]
    fn output_matches_check_snmp() {
        // Outputs observed from monitoring-plugins 2.3.3 check_snmp against snmpd.
        let t = thresholds(Some("10:20"), Some("@5:30"), 1).unwrap();
        let r = evaluate(&Outcome::Values(vec![vb("1.3.6.1.2.1.1.3.0", Value::TimeTicks(16633))]), &t);
        assert_eq!(r.status, Status::Warning);
        assert_eq!(r.output, "SNMP WARNING - *16633* | iso.3.6.1.2.1.1.3.0=16633;10:20;@5:30");

        let r = evaluate(&Outcome::Values(vec![vb("1.3.6.1.2.1.2.2.1.10.1", Value::Counter32(751106))]), &[]);
        assert_eq!((r.status, r.output.as_str()), (Status::Ok, "SNMP OK - 751106 | iso.3.6.1.2.1.2.2.1.10.1=751106c"));

        let t = thresholds(Some("100,200"), Some("300000000"), 2).unwrap();
        let r = evaluate(
            &Outcome::Values(vec![
                vb("1.3.6.1.2.1.2.2.1.10.1", Value::Counter32(751106)),
                vb("1.3.6.1.2.1.2.2.1.5.1", Value::Gauge32(10000000)),
            ]),
            &t,
        );
        assert_eq!(r.status, Status::Warning);
        assert_eq!(
            r.output,
            "SNMP WARNING - *751106* *10000000* | iso.3.6.1.2.1.2.2.1.10.1=751106c;100;300000000 iso.3.6.1.2.1.2.2.1.5.1=10000000;200;"
        );

        let t = thresholds(None, Some("~:5"), 1).unwrap();
        let r = evaluate(&Outcome::Values(vec![vb("1.3.6.1.2.1.2.2.1.5.1", Value::Gauge32(10000000))]), &t);
        assert_eq!(r.status, Status::Critical);
        assert_eq!(r.output, "SNMP CRITICAL - *10000000* | iso.3.6.1.2.1.2.2.1.5.1=10000000;;~:5");

        let r = evaluate(&Outcome::Values(vec![vb("1.3.6.1.2.1.1.1.0", Value::OctetString(Cow::Borrowed(b"Linux vm")))]), &[]);
        assert_eq!(r.output, "SNMP OK - \"Linux vm\" | ");
        let r = evaluate(&Outcome::Values(vec![vb("1.3.6.1.2.1.1.3.0", Value::TimeTicks(16632))]), &[]);
        assert_eq!(r.output, "SNMP OK - Timeticks: (16632) 0:02:46.32 | ");
    }

    #[test]
    fn missing_values_and_failures() {
        let r = evaluate(&Outcome::Values(vec![vb("1.3.6.1.2.1.1.99.0", Value::NoSuchObject)]), &[]);
        assert_eq!(r.status, Status::Unknown);
        assert!(r.output.contains("No Such Object"), "{}", r.output);

        let t = thresholds(Some("5"), None, 1).unwrap();
        let r = evaluate(&Outcome::Values(vec![vb("1.3.6.1.2.1.1.2.0", Value::ObjectId("1.3.6".parse().unwrap()))]), &t);
        assert_eq!(r.status, Status::Unknown);

        let f = Failure::Timeout { addr: "127.0.0.1:161".parse().unwrap(), attempts: 2, hint: "x".into() };
        let r = evaluate(&Outcome::Failed(f), &[]);
        assert_eq!(r.status, Status::Critical);
        assert!(r.output.starts_with("SNMP CRITICAL - Timeout: No Response from 127.0.0.1:161"), "{}", r.output);
        let f = Failure::ErrorStatus { status: ErrorStatus::NO_SUCH_NAME, index: 1, oid: None };
        assert_eq!(evaluate(&Outcome::Failed(f), &[]).status, Status::Unknown);
    }
}
