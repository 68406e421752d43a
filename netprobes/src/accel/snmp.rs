//! check_snmp natively: one GET on the shared SNMP manager of the address family,
//! worded as check_snmp where `wording` reproduces it and (natively only) as the
//! session's evaluation elsewhere, with `-s`, `-l` and `-u` applied. Not here: the
//! protocol (`session::snmp`), check_snmp's exact texts (`wording`).

use std::sync::{Arc, Mutex};

use super::wording::{check_snmp_text, written_range};
use super::{Accelerator, Declined, Printed, Wording, blocking, declined, printed, resolve};
use crate::driver::Backend;
use crate::native::{NativeRequest, SnmpAuth, SnmpPriv, SnmpV3Level, SnmpVersion};
use crate::session::snmp::check::{self, Status};
use crate::session::snmp::{Failure, Outcome, Request, Security, Target};
use crate::wire::plugin::Range;
use crate::wire::snmp::{AuthProtocol, Oid, PrivProtocol, UserKeys, Value, Version as SnmpWireVersion};

/// Localized-key derivation hashes a megabyte per password: derived keys are kept
/// for the credentials last used (a few at most in any configuration).
fn user_keys(user: &str, level: &SnmpV3Level) -> Result<Arc<UserKeys>, Declined> {
    type Cached = (String, String, Arc<UserKeys>);
    static CACHE: Mutex<Vec<Cached>> = Mutex::new(Vec::new());
    const KEPT: usize = 64;
    let id = format!("{level:?}");
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, _, keys)) = cache.iter().find(|(u, l, _)| u == user && *l == id) {
        return Ok(keys.clone());
    }
    let auth_proto = |a: SnmpAuth| if a == SnmpAuth::Md5 { AuthProtocol::Md5 } else { AuthProtocol::Sha1 };
    let priv_proto = |p: SnmpPriv| if p == SnmpPriv::Des { PrivProtocol::Des } else { PrivProtocol::Aes128 };
    let keys = match level {
        SnmpV3Level::NoAuthNoPriv => UserKeys::new(user.as_bytes(), None, None),
        SnmpV3Level::AuthNoPriv { auth, auth_password } => {
            UserKeys::new(user.as_bytes(), Some((auth_proto(*auth), auth_password.as_bytes())), None)
        }
        SnmpV3Level::AuthPriv { auth, auth_password, privacy, priv_password } => UserKeys::new(
            user.as_bytes(),
            Some((auth_proto(*auth), auth_password.as_bytes())),
            Some((priv_proto(*privacy), priv_password.as_bytes())),
        ),
    };
    let keys = Arc::new(keys.map_err(|e| declined(e.to_string()))?);
    if cache.len() >= KEPT {
        cache.clear();
    }
    cache.push((user.to_owned(), id, keys.clone()));
    Ok(keys)
}

/// check_snmp's `-s`, `-l` and `-u`, applied natively.
#[derive(Debug, Clone, Copy, Default)]
struct Extras<'a> {
    expect: Option<&'a str>,
    label: Option<&'a str>,
    units: Option<&'a str>,
}

pub(super) async fn snmp(
    request: &NativeRequest,
    accel: &Accelerator,
    wording: Wording<'_>,
) -> Result<(Printed, Backend), Declined> {
    let NativeRequest::Snmp { host, port, version, oid, warn, crit, expect, label, units, family, timeout, retries } =
        request
    else {
        return Err(declined("not an SNMP request"));
    };
    if (expect.is_some() || label.is_some() || units.is_some()) && !wording.native() {
        return Err(declined("check_snmp -s, -l and -u are not modelled"));
    }
    // check_snmp prints thresholds as written; natively, as parsed.
    let text = |r: &Option<Range>| match (r, wording) {
        (None, _) => Ok(None),
        (Some(r), Wording::Plugin(argv)) => {
            written_range(argv, r).map(Some).ok_or_else(|| declined("threshold written ambiguously"))
        }
        (Some(r), Wording::Native) => Ok(Some(r.to_string())),
    };
    let (warn_text, crit_text) = (text(warn)?, text(crit)?);
    let thresholds =
        check::thresholds(warn_text.as_deref(), crit_text.as_deref(), 1).map_err(|e| declined(e.to_string()))?;
    let oid: Oid<'static> = oid.parse().map_err(|_| declined(format!("{oid} is not a numeric OID")))?;
    let addr = resolve(host, *port, *family).await?;
    let security = match version {
        SnmpVersion::V1 { community } => {
            Security::Community { version: SnmpWireVersion::V1, community: community.as_bytes().to_vec() }
        }
        SnmpVersion::V2c { community } => {
            Security::Community { version: SnmpWireVersion::V2c, community: community.as_bytes().to_vec() }
        }
        SnmpVersion::V3 { user, level } => {
            let (user, level) = (user.clone(), level.clone());
            let keys = blocking(move || user_keys(&user, &level)).await?;
            Security::Usm { keys, context_name: Vec::new() }
        }
    };
    let target = Target { addr, security, timeout: *timeout, retries: *retries };
    let engine = accel.snmp(addr.is_ipv6())?;
    let event = engine.run(target, Request::Get(vec![oid.clone()])).await?;
    let backend = engine.backend();
    let out = match wording {
        Wording::Plugin(_) => check_snmp_text(&event.outcome, &thresholds, &oid)?,
        Wording::Native => {
            let extras = Extras { expect: expect.as_deref(), label: label.as_deref(), units: units.as_deref() };
            native_snmp_text(&event.outcome, &thresholds, &oid, extras)
        }
    };
    Ok((out, backend))
}

/// A value's text as `-s` compares it: numbers and strings bare (invalid UTF-8
/// replaced), other types as net-snmp prints them.
fn bare(value: &Value<'_>) -> String {
    match value {
        Value::Integer(v) => v.to_string(),
        Value::Gauge32(v) | Value::Counter32(v) | Value::TimeTicks(v) => v.to_string(),
        Value::Counter64(v) => v.to_string(),
        Value::OctetString(s) => String::from_utf8_lossy(s).into_owned(),
        other => other.to_string(),
    }
}

/// A value as shown: strings quoted, the rest as [`bare`].
fn plain(value: &Value<'_>) -> String {
    match value {
        Value::OctetString(_) => format!("\"{}\"", bare(value)),
        other => bare(other),
    }
}

/// check_snmp's text where it is reproduced, else the session's evaluation (a value
/// shown plainly, UNKNOWN when thresholds need a number it is not); then `-s`
/// decides the status and `-l`/`-u` dress the line.
fn native_snmp_text(outcome: &Outcome, thresholds: &[check::Thresholds], oid: &Oid<'_>, extras: Extras<'_>) -> Printed {
    let single = match outcome {
        Outcome::Values(values) => match values.as_slice() {
            [vb] if !vb.value.is_exception() => Some(&vb.value),
            _ => None,
        },
        Outcome::Failed(_) => None,
    };
    let (code, mut text) = match (single, extras.expect) {
        (Some(value), Some(want)) => {
            // check_snmp -s compares the value's text (a string without its quotes).
            let status = if bare(value) == want { Status::Ok } else { Status::Critical };
            let shown = if status == Status::Ok { plain(value) } else { format!("*{}*", plain(value)) };
            (status.exit_code(), format!("SNMP {} - {shown} | \n", status.label()))
        }
        _ => match (check_snmp_text(outcome, thresholds, oid), outcome) {
            (Ok(p), _) => (p.code, p.text),
            // As check_snmp words timeouts over IPv4.
            (Err(_), Outcome::Failed(Failure::Timeout { addr, .. })) => {
                (Status::Unknown.exit_code(), format!("External command error: Timeout: No Response from {addr}.\n"))
            }
            (Err(_), _) => {
                let report = check::evaluate(outcome, thresholds);
                (report.status.exit_code(), format!("{}\n", report.output))
            }
        },
    };
    if let (Some(units), Some(at)) = (extras.units, text.find(" | ")) {
        text.insert_str(at, &format!(" {units}"));
    }
    if let (Some(label), Some(rest)) = (extras.label, text.strip_prefix("SNMP ")) {
        text = format!("{label} {rest}");
    }
    printed(code, text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::snmp::VarBind;
    use std::borrow::Cow;

    fn one(value: Value<'static>) -> Outcome {
        Outcome::Values(vec![VarBind { oid: "1.3.6.1.2.1.1.5.0".parse().unwrap(), value }])
    }

    /// Cases `check_snmp_text` declines, and `-s`/`-l`/`-u`: (outcome, -w, -s, -l,
    /// -u, exit code, text).
    #[test]
    fn native_wording_where_check_snmp_is_not_reproduced() {
        let s = |b: &'static [u8]| Value::OctetString(Cow::Borrowed(b));
        let v6_timeout =
            Outcome::Failed(Failure::Timeout { addr: "[::1]:161".parse().unwrap(), attempts: 2, hint: String::new() });
        type Case = (Outcome, Option<&'static str>, Option<&'static str>, Option<&'static str>, Option<&'static str>);
        let cases: Vec<(Case, u8, &str)> = vec![
            ((one(s(b"\x9a\x2d")), None, None, None, None), 0, "SNMP OK - \"\u{fffd}-\" | \n"),
            (
                (one(s(b"Linux 6.18")), Some("5"), None, None, None),
                3,
                "SNMP UNKNOWN - No valid data returned (.1.3.6.1.2.1.1.5.0 is not numeric: STRING: \"Linux 6.18\")\n",
            ),
            ((v6_timeout, None, None, None, None), 3, "External command error: Timeout: No Response from [::1]:161.\n"),
            ((one(s(b"vm")), None, Some("vm"), None, None), 0, "SNMP OK - \"vm\" | \n"),
            ((one(s(b"vm")), None, Some("other"), None, None), 2, "SNMP CRITICAL - *\"vm\"* | \n"),
            ((one(Value::Integer(4)), None, Some("4"), Some("ifs"), None), 0, "ifs OK - 4 | \n"),
            ((one(Value::TimeTicks(9)), None, Some("4"), None, Some("s")), 2, "SNMP CRITICAL - *9* s | \n"),
            (
                (one(Value::Gauge32(7)), Some("5"), None, Some("Load"), Some("jobs")),
                1,
                "Load WARNING - *7* jobs | iso.3.6.1.2.1.1.5.0=7;5 \n",
            ),
        ];
        let oid: Oid<'static> = "1.3.6.1.2.1.1.5.0".parse().unwrap();
        for ((outcome, warn, expect, label, units), code, text) in cases {
            let th = check::thresholds(warn, None, 1).unwrap();
            let p = native_snmp_text(&outcome, &th, &oid, Extras { expect, label, units });
            assert_eq!((p.code, p.text.as_str()), (code, text), "{outcome:?}");
        }
    }
}
