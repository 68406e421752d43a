//! What running one check means: its command's engine and evaluated parameters
//! (SEMANTICS §4), turned into a probe the native code or the plugin executor runs.
//!
//! Pure: the model in, a [`ProbeSpec`] out. Engines `ping`, `nrpe`, `snmp` and `tcp`
//! are written as the equivalent plugin command line and recognised by
//! `bergamot_netprobes::native`, so their parameters mean what the plugins' flags
//! mean (thresholds, versions, timeouts) and one parser serves both paths.

use std::sync::Arc;
use std::time::Duration;

use bergamot_config::model::Site;
use bergamot_config::props::Key;
use bergamot_config::raw::Kind;
use bergamot_config::resolve::Resolved;
use bergamot_config::status::Status;
use bergamot_config::view::{self, EvaluatedParam};
use bergamot_netprobes::native::{NativeRequest, native_request};
use bergamot_netprobes::wire::plugin::split_command_line;

/// Default time a plugin may run (Nagios' `service_check_timeout`).
pub const PLUGIN_TIMEOUT: Duration = Duration::from_secs(60);
/// Default time a native probe may take.
pub const NATIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// A check engine (the `engine` of its command).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EngineName {
    Nagios,
    Nrpe,
    Snmp,
    Tcp,
    Ping,
    Agent,
    Http,
    Dummy,
}

impl EngineName {
    pub fn parse(s: &str) -> Option<EngineName> {
        Some(match s {
            "nagios" => EngineName::Nagios,
            "nrpe" => EngineName::Nrpe,
            "snmp" => EngineName::Snmp,
            "tcp" => EngineName::Tcp,
            "ping" | "icmp" => EngineName::Ping,
            "agent" => EngineName::Agent,
            "http" => EngineName::Http,
            "dummy" => EngineName::Dummy,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EngineName::Nagios => "nagios",
            EngineName::Nrpe => "nrpe",
            EngineName::Snmp => "snmp",
            EngineName::Tcp => "tcp",
            EngineName::Ping => "ping",
            EngineName::Agent => "agent",
            EngineName::Http => "http",
            EngineName::Dummy => "dummy",
        }
    }
}

/// How a check runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Run {
    /// A `nagios` command line: natively when recognised and `native` (the
    /// per-command opt-out is the parameter `native` = `no`), else as a plugin.
    Plugin { argv: Vec<String>, native: bool, timeout: Duration },
    /// A native engine's request (read from its equivalent plugin line); never runs
    /// a plugin.
    Native { request: Box<NativeRequest>, timeout: Duration },
    /// `dummy`: the status and output the parameters give.
    Fixed { status: Status, output: String },
    /// The check cannot run; the result is this status and output (a configuration
    /// problem shown on the check, not a crash).
    Broken { status: Status, output: String },
}

/// A check's command, ready to run, with what an operator debugging it wants to see.
#[derive(Debug, Clone)]
pub struct ProbeSpec {
    pub engine: Option<EngineName>,
    pub command: String,
    pub params: Vec<EvaluatedParam>,
    /// The command line shown to operators: the plugin's, or the equivalent one.
    pub line: String,
    pub run: Run,
}

impl ProbeSpec {
    /// What actually runs, for the caps on checks in flight: the native engine of a
    /// recognised `nagios` line that may run natively, else the command's engine.
    pub fn class(&self) -> Option<EngineName> {
        let native = |r: &NativeRequest| match r {
            NativeRequest::Ping { .. } => EngineName::Ping,
            NativeRequest::Nrpe { .. } => EngineName::Nrpe,
            NativeRequest::Snmp { .. } => EngineName::Snmp,
            NativeRequest::Tcp { .. } => EngineName::Tcp,
        };
        match &self.run {
            Run::Plugin { argv, native: true, .. } => {
                Some(native_request(argv).as_ref().map_or(EngineName::Nagios, native))
            }
            Run::Native { request, .. } => Some(native(request)),
            _ => self.engine,
        }
    }
}

/// Builds the probe of a check (`obj`, inside `container`).
pub fn probe_spec(site: &Site, obj: &Arc<Resolved>, container: &Arc<Resolved>) -> ProbeSpec {
    let host = match obj.kind {
        Kind::Cluster | Kind::Resource => None,
        _ => Some(container),
    };
    let Some((command, params)) = view::command_parameters(site, obj, host) else {
        return broken(None, String::new(), Vec::new(), "no check command");
    };
    let engine_text = site.get(Kind::Command, &command).and_then(|c| c.props.text(Key::Engine)).unwrap_or("");
    let Some(engine) = EngineName::parse(engine_text) else {
        let why = if engine_text.is_empty() {
            format!("command {command} has no engine")
        } else {
            format!("engine {engine_text} is not supported")
        };
        return broken(None, command, params, &why);
    };
    let get = |name: &str| params.iter().find(|p| &*p.name == name).map(|p| p.evaluated.trim().to_string());
    let built = match engine {
        EngineName::Nagios => nagios(&get),
        EngineName::Ping => native(ping_line(&get, &host_address(host))),
        EngineName::Nrpe => native(nrpe_line(&get, &params, &host_address(host))),
        EngineName::Snmp => native(snmp_line(&get, &host_address(host))),
        EngineName::Tcp => native(tcp_line(&get, &host_address(host))),
        EngineName::Dummy => dummy(&get),
        EngineName::Agent | EngineName::Http => {
            Err(format!("engine {} is not available in this version of the daemon", engine.as_str()))
        }
    };
    match built {
        Ok((line, run)) => ProbeSpec { engine: Some(engine), command, params, line, run },
        Err(why) => broken(Some(engine), command, params, &why),
    }
}

fn broken(engine: Option<EngineName>, command: String, params: Vec<EvaluatedParam>, why: &str) -> ProbeSpec {
    ProbeSpec {
        engine,
        command,
        params,
        line: String::new(),
        run: Run::Broken { status: Status::Error, output: format!("cannot run this check: {why}") },
    }
}

fn host_address(host: Option<&Arc<Resolved>>) -> String {
    host.map(|h| view::address(h).to_string()).unwrap_or_default()
}

type Built = Result<(String, Run), String>;

/// A timeout parameter in seconds (`10`, `2.5`) or with a unit (`500ms`, `1m`).
fn timeout_param(get: &dyn Fn(&str) -> Option<String>, default: Duration) -> Result<Duration, String> {
    match get("timeout").filter(|t| !t.is_empty()) {
        None => Ok(default),
        Some(t) => parse_duration(&t).ok_or_else(|| format!("bad timeout `{t}`: write seconds (10) or 500ms, 30s, 2m")),
    }
}

fn parse_duration(t: &str) -> Option<Duration> {
    let t = t.trim();
    let (num, unit) = t.find(|c: char| c.is_ascii_alphabetic()).map_or((t, "s"), |i| (&t[..i], &t[i..]));
    let v: f64 = num.trim().parse().ok()?;
    let secs = match unit {
        "ms" => v / 1000.0,
        "s" => v,
        "m" => v * 60.0,
        "h" => v * 3600.0,
        _ => return None,
    };
    (secs.is_finite() && secs > 0.0 && secs <= 86_400.0).then(|| Duration::from_secs_f64(secs))
}

fn nagios(get: &dyn Fn(&str) -> Option<String>) -> Built {
    let line = get("command_line").filter(|l| !l.is_empty()).ok_or("the nagios engine needs a command_line")?;
    let argv = split_command_line(&line).map_err(|e| format!("cannot split the command line: {e}"))?;
    if argv.is_empty() {
        return Err("the command line is empty".into());
    }
    let native = !matches!(get("native").as_deref(), Some("no" | "false" | "off"));
    let timeout = timeout_param(get, PLUGIN_TIMEOUT)?;
    Ok((line, Run::Plugin { argv, native, timeout }))
}

/// Recognises the equivalent plugin line of a native engine.
fn native(line: Result<Vec<String>, String>) -> Built {
    let argv = line?;
    let shown = argv.iter().map(|a| if a.contains(' ') { format!("'{a}'") } else { a.clone() }).collect::<Vec<_>>();
    let request = native_request(&argv).ok_or_else(|| format!("parameters not understood: {}", shown.join(" ")))?;
    // The `timeout` parameter is already in the line (`-t`), where the probe reports
    // it in the plugin's words and status (check_nrpe: CRITICAL "Socket timeout";
    // check_snmp: UNKNOWN "No Response" after every try). The run's own limit is only
    // a guard behind that: equal to it, the two would race and the same silent server
    // would give CRITICAL or TIMEOUT at random.
    let timeout = own_timeout(&request).saturating_add(NATIVE_GRACE);
    Ok((shown.join(" "), Run::Native { request: Box::new(request), timeout }))
}

/// How long a native run may take beyond its probe's own timeouts before it is cut
/// off as TIMEOUT.
pub const NATIVE_GRACE: Duration = Duration::from_secs(2);

/// The longest a request takes by its own timeouts: SNMP waits `timeout` for each of
/// its `retries + 1` tries, as check_snmp's snmpget does.
fn own_timeout(request: &NativeRequest) -> Duration {
    match request {
        NativeRequest::Ping { timeout, .. }
        | NativeRequest::Nrpe { timeout, .. }
        | NativeRequest::Tcp { timeout, .. } => *timeout,
        NativeRequest::Snmp { timeout, retries, .. } => timeout.saturating_mul(retries.saturating_add(1)),
    }
}

fn param_or(get: &dyn Fn(&str) -> Option<String>, name: &str, default: &str) -> String {
    get(name).filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_string())
}

fn target(get: &dyn Fn(&str) -> Option<String>, address: &str) -> Result<String, String> {
    let host = param_or(get, "host", address);
    if host.is_empty() { Err("no host to check: set the parameter host".into()) } else { Ok(host) }
}

/// `ping`: check_ping's meaning; `interval` between echoes (default 200ms).
fn ping_line(get: &dyn Fn(&str) -> Option<String>, address: &str) -> Result<Vec<String>, String> {
    let secs = timeout_param(get, NATIVE_TIMEOUT)?.as_secs().max(1);
    let mut argv = vec![
        "check_icmp".to_string(),
        "-H".into(),
        target(get, address)?,
        "-w".into(),
        param_or(get, "warning", "100.0,20%"),
        "-c".into(),
        param_or(get, "critical", "500.0,60%"),
        "-n".into(),
        param_or(get, "packets", "5"),
        "-t".into(),
        secs.to_string(),
    ];
    let interval = param_or(get, "interval", "200ms");
    let ms = parse_duration(&interval).ok_or_else(|| format!("bad interval `{interval}`"))?.as_millis();
    argv.extend(["-i".into(), format!("{ms}ms")]);
    Ok(argv)
}

/// `nrpe`: host, port, command, arguments (`nrpe-arg…` or `arg1`…, in name order),
/// `tls` yes (default) or no.
fn nrpe_line(
    get: &dyn Fn(&str) -> Option<String>,
    params: &[EvaluatedParam],
    address: &str,
) -> Result<Vec<String>, String> {
    let secs = timeout_param(get, NATIVE_TIMEOUT)?.as_secs().max(1);
    let mut argv =
        vec!["check_nrpe".to_string(), "-H".into(), target(get, address)?, "-p".into(), param_or(get, "port", "5666")];
    if let Some(c) = get("command").filter(|c| !c.is_empty()) {
        argv.extend(["-c".into(), c]);
    }
    match get("tls").as_deref() {
        None | Some("" | "yes" | "true" | "on") => {}
        Some("no" | "false" | "off") => argv.push("-n".into()),
        Some(other) => return Err(format!("bad tls `{other}`: yes or no")),
    }
    argv.extend(["-t".into(), secs.to_string()]);
    let mut args: Vec<(&str, &str)> = params
        .iter()
        .filter(|p| p.name.starts_with("nrpe-arg") || (p.name.starts_with("arg") && p.name[3..].parse::<u32>().is_ok()))
        .map(|p| (&*p.name, p.evaluated.as_str()))
        .collect();
    args.sort_by_key(|a| natural(a.0));
    if !args.is_empty() {
        argv.push("-a".into());
        argv.extend(args.into_iter().map(|(_, v)| v.to_string()));
    }
    Ok(argv)
}

/// Sorts `arg2` before `arg10`.
fn natural(name: &str) -> (String, u64) {
    let digits = name.trim_start_matches(|c: char| !c.is_ascii_digit());
    (name[..name.len() - digits.len()].to_string(), digits.parse().unwrap_or(0))
}

/// `snmp`: one numeric OID with check_snmp's ranges.
fn snmp_line(get: &dyn Fn(&str) -> Option<String>, address: &str) -> Result<Vec<String>, String> {
    let secs = timeout_param(get, NATIVE_TIMEOUT)?.as_secs().max(1);
    let oid = get("oid").filter(|o| !o.is_empty()).ok_or("the snmp engine needs an oid")?;
    let mut argv = vec![
        "check_snmp".to_string(),
        "-H".into(),
        target(get, address)?,
        "-p".into(),
        param_or(get, "port", "161"),
        "-o".into(),
        oid,
        "-t".into(),
        secs.to_string(),
    ];
    match param_or(get, "snmp_version", "2c").as_str() {
        v @ ("1" | "2c") => {
            argv.extend(["-P".into(), v.into(), "-C".into(), param_or(get, "snmp_community", "public")])
        }
        "3" => {
            let user = get("snmp_user").filter(|u| !u.is_empty()).ok_or("SNMP v3 needs snmp_user")?;
            argv.extend(["-P".into(), "3".into(), "-U".into(), user]);
            let auth = get("snmp_auth").filter(|a| !a.is_empty());
            let privacy = get("snmp_priv").filter(|p| !p.is_empty());
            let password = param_or(get, "snmp_password", "");
            let priv_password = get("snmp_priv_password").filter(|p| !p.is_empty()).unwrap_or_else(|| password.clone());
            match (auth, privacy) {
                (None, _) => argv.extend(["-L".into(), "noAuthNoPriv".into()]),
                (Some(a), None) => {
                    argv.extend(["-L".into(), "authNoPriv".into(), "-a".into(), a, "-A".into(), password])
                }
                (Some(a), Some(p)) => argv.extend([
                    "-L".into(),
                    "authPriv".into(),
                    "-a".into(),
                    a,
                    "-A".into(),
                    password,
                    "-x".into(),
                    p,
                    "-X".into(),
                    priv_password,
                ]),
            }
        }
        other => return Err(format!("bad snmp_version `{other}`: 1, 2c or 3")),
    }
    for (param, flag) in [("warning", "-w"), ("critical", "-c"), ("label", "-l"), ("units", "-u")] {
        if let Some(v) = get(param).filter(|v| !v.is_empty()) {
            argv.extend([flag.into(), v]);
        }
    }
    Ok(argv)
}

/// `tcp`: connect (and optionally send, expect, TLS) with check_tcp's meaning.
fn tcp_line(get: &dyn Fn(&str) -> Option<String>, address: &str) -> Result<Vec<String>, String> {
    let secs = timeout_param(get, NATIVE_TIMEOUT)?.as_secs().max(1);
    let port = get("port").filter(|p| !p.is_empty()).ok_or("the tcp engine needs a port")?;
    let mut argv = vec![
        "check_tcp".to_string(),
        "-H".into(),
        target(get, address)?,
        "-p".into(),
        port,
        "-t".into(),
        secs.to_string(),
    ];
    for (param, flag) in [("send", "-s"), ("expect", "-e"), ("warning", "-w"), ("critical", "-c")] {
        if let Some(v) = get(param).filter(|v| !v.is_empty()) {
            argv.extend([flag.into(), v]);
        }
    }
    if matches!(get("tls").as_deref(), Some("yes" | "true" | "on")) {
        argv.push("-S".into());
    }
    Ok(argv)
}

/// `dummy`: `status` (default OK) and `output`.
fn dummy(get: &dyn Fn(&str) -> Option<String>) -> Built {
    let text = param_or(get, "status", "OK");
    let status = text.parse::<Status>().map_err(|_| format!("bad status `{text}`"))?;
    let output = param_or(get, "output", "");
    Ok((format!("dummy {status} {output}"), Run::Fixed { status, output }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        for (text, ms) in [("10", 10_000), ("2.5", 2_500), ("500ms", 500), ("30s", 30_000), ("2m", 120_000)] {
            assert_eq!(parse_duration(text), Some(Duration::from_millis(ms)), "{text}");
        }
        for bad in ["", "x", "-1", "0", "5d", "1e9"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_native_run_outlasts_its_probes_own_timeouts() {
        let grace = NATIVE_GRACE.as_secs();
        for (line, secs) in [
            ("check_nrpe -H 127.0.0.1 -c x -n -t 1", 1 + grace),
            ("check_icmp -H 127.0.0.1 -t 3", 3 + grace),
            ("check_tcp -H 127.0.0.1 -p 80 -t 4", 4 + grace),
            // check_snmp's five retries: six tries of -t each.
            ("check_snmp -H 127.0.0.1 -o 1.3.6.1.2.1.1.3.0 -P 2c -C public -t 1", 6 + grace),
            ("check_snmp -H 127.0.0.1 -o 1.3.6.1.2.1.1.3.0 -P 2c -C public -t 2 -e 1", 4 + grace),
        ] {
            let argv: Vec<String> = line.split(' ').map(String::from).collect();
            let Ok((_, Run::Native { timeout, .. })) = native(Ok(argv)) else { panic!("{line}") };
            assert_eq!(timeout, Duration::from_secs(secs), "{line}");
        }
    }

    #[test]
    fn natural_order_of_arguments() {
        let mut names = vec!["arg10", "arg2", "arg1"];
        names.sort_by_key(|a| natural(a));
        assert_eq!(names, ["arg1", "arg2", "arg10"]);
    }
}
