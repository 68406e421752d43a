//! Native acceleration of `nagios` command lines: recognises check_ping, check_icmp,
//! check_nrpe, a plain check_snmp get and check_tcp, and turns their flags into a typed
//! request with the same meaning, so the daemon can run the probe in-process instead
//! of forking a plugin. Anything it does not understand exactly — an unknown flag, an
//! odd value, an option that changes the output or reads a file — gives `None`, and
//! the plugin really runs. It never guesses.
//!
//! Each plugin's parser is emulated as the plugin does it (monitoring-plugins 2.3.3,
//! nrpe 4.1.0): GNU `getopt_long` with argument permutation (check_tcp stops at the
//! first operand, `+` in its option string), unambiguous long-option prefixes,
//! clustered short options, attached or separate option arguments, the plugins'
//! backward-compatibility rewrites (`-to` → `-t`…), their defaults, and their
//! value checks. Values are accepted in the plain decimal forms only: where a plugin
//! would read `010` as octal or `1.25` through sscanf quirks, we decline.

use std::time::Duration;

use crate::wire::plugin::{PluginStatus, Range, split_command_line};

/// A probe the daemon can run natively, with the meaning of the plugin's flags.
#[derive(Debug, Clone, PartialEq)]
pub enum NativeRequest {
    /// check_ping or check_icmp on one host.
    Ping {
        plugin: PingPlugin,
        host: String,
        family: AddressFamily,
        warn: PingThreshold,
        crit: PingThreshold,
        packets: u32,
        /// Pause between echo requests (check_ping: ping's 1 s; check_icmp: `-i`, 80 ms).
        interval: Duration,
        timeout: Duration,
    },
    /// check_nrpe.
    Nrpe {
        host: String,
        port: u16,
        /// `_NRPE_CHECK` when no `-c` was given (asks the daemon's version).
        command: String,
        /// `-a` and everything after it.
        args: Vec<String>,
        /// TLS (the default); `false` with `-n`.
        tls: bool,
        adh: NrpeAdh,
        packets: NrpePackets,
        family: AddressFamily,
        timeout: Duration,
        /// Status of timeouts and connection failures (`-u`, `-t N:STATE`); CRITICAL by default.
        timeout_status: PluginStatus,
    },
    /// check_snmp getting one numeric OID.
    Snmp {
        host: String,
        port: u16,
        version: SnmpVersion,
        oid: String,
        warn: Option<Range>,
        crit: Option<Range>,
        /// `-s`: OK only if the value is exactly this string.
        expect: Option<String>,
        label: Option<String>,
        units: Option<String>,
        family: AddressFamily,
        /// Per try; check_snmp gives snmpget `-t timeout -r retries`.
        timeout: Duration,
        retries: u32,
    },
    /// check_tcp.
    Tcp {
        /// 127.0.0.1 when none is given, as check_tcp does.
        host: String,
        port: u16,
        family: AddressFamily,
        /// Response time thresholds (`elapsed > warn`).
        warn: Option<Duration>,
        crit: Option<Duration>,
        timeout: Duration,
        send: Option<Vec<u8>>,
        expect: Vec<String>,
        /// `-A`: every expect string must occur (default: any).
        expect_all: bool,
        quit: Option<Vec<u8>>,
        refuse_status: PluginStatus,
        mismatch_status: PluginStatus,
        max_bytes: Option<u64>,
        delay: Duration,
        tls: bool,
        sni: Option<String>,
        /// `-j`: do not print what the server sent.
        hide_output: bool,
    },
}

/// Which plugin's semantics a ping request carries (their comparisons and outputs differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PingPlugin {
    CheckPing,
    CheckIcmp,
}

/// Round-trip average and packet loss that trigger a state (reached or exceeded).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PingThreshold {
    pub rta: Duration,
    pub loss_percent: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressFamily {
    Any,
    V4,
    V6,
}

/// check_nrpe `-d`: anonymous Diffie-Hellman.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NrpeAdh {
    Never,
    /// The default.
    Allow,
    Force,
}

/// check_nrpe `-2`/`-3`: packet versions to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NrpePackets {
    /// v4, then v3, falling back to v2 when the server resets (the default).
    Auto,
    V2Only,
    V3Only,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnmpVersion {
    V1 { community: String },
    V2c { community: String },
    V3 { user: String, level: SnmpV3Level },
}

/// SNMPv3 security level with its credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnmpV3Level {
    NoAuthNoPriv,
    AuthNoPriv { auth: SnmpAuth, auth_password: String },
    AuthPriv { auth: SnmpAuth, auth_password: String, privacy: SnmpPriv, priv_password: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnmpAuth {
    Md5,
    Sha,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnmpPriv {
    Des,
    Aes,
}

/// Splits a `command_line` (SEMANTICS.md §9) and recognises it.
pub fn parse_command_line(line: &str) -> Option<NativeRequest> {
    native_request(&split_command_line(line).ok()?)
}

/// Recognises an argv by its program's file name (any directory).
pub fn native_request(argv: &[String]) -> Option<NativeRequest> {
    let (program, args) = argv.split_first()?;
    let name = program.rsplit('/').next()?;
    // np_extra_opts reads options from ini files before getopt sees them.
    if name != "check_nrpe" && args.iter().any(|a| a.starts_with("--extra-opts")) {
        return None;
    }
    match name {
        "check_ping" => check_ping(args),
        "check_icmp" => check_icmp(args),
        "check_nrpe" => check_nrpe(args),
        "check_snmp" => check_snmp(args),
        "check_tcp" => check_tcp(args),
        _ => None,
    }
}

fn check_ping(args: &[String]) -> Option<NativeRequest> {
    const LONG: &str = concat!(std_long!(), "packets=p nohtml/n link/L use-ipv4/4 use-ipv6/6",);
    let args = rewrite(args, &[("-to", "-t"), ("-nohtml", "-n")]);
    let parsed = getopt(&args, "VvhnL46t:c:w:H:p:", LONG, Mode::Permute)?;
    // The old positional form (host wpl cpl wrta crta packets) is left to the plugin.
    if !parsed.operands.is_empty() {
        return None;
    }
    let (mut host, mut family, mut timeout, mut packets) = (None, AddressFamily::Any, 10u64, 5u32);
    let (mut warn, mut crit) = ((None, None), (None, None));
    for (opt, value) in parsed.options {
        let value = value.as_deref().unwrap_or("");
        match opt {
            // Several hosts (`-H a,b`, or `-H` twice) change the plugin's logic.
            'H' if !value.contains(',') => once(&mut host, value.to_owned())?,
            't' => timeout = u64::from(decimal(value)?),
            'p' => packets = decimal(value).filter(|&p| p > 0)?,
            '4' => family = AddressFamily::V4,
            '6' => family = AddressFamily::V6,
            'n' => {}
            'w' => ping_threshold(value, &mut warn)?,
            'c' => ping_threshold(value, &mut crit)?,
            // -H with several hosts, -L (HTML), -v, -h, -V.
            _ => return None,
        }
    }
    let ((Some(wrta), Some(wpl)), (Some(crta), Some(cpl))) = (warn, crit) else { return None };
    if wrta > crta || wpl > cpl {
        return None;
    }
    // check_ping raises its alarm to cover the worst case it accepts.
    let worst = crta / 1000.0 * f64::from(packets) + f64::from(packets);
    let timeout = timeout.max(worst as u64);
    if timeout == 0 {
        return None;
    }
    let threshold = |rta: f64, pl: u32| {
        Some(PingThreshold {
            rta: Duration::try_from_secs_f64(rta / 1000.0).ok()?,
            loss_percent: u8::try_from(pl).ok()?,
        })
    };
    Some(NativeRequest::Ping {
        plugin: PingPlugin::CheckPing,
        host: host?,
        family,
        warn: threshold(wrta, wpl)?,
        crit: threshold(crta, cpl)?,
        packets,
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(timeout),
    })
}

/// check_ping's `-w`/`-c`: `RTA` (integer ms), `RTA,PL%` (or `RTA:PL%`), or `PL%`;
/// each form sets only its parts, so `-w 100 -w 20%` sets both.
fn ping_threshold(text: &str, into: &mut (Option<f64>, Option<u32>)) -> Option<()> {
    if let Some(rta) = decimal(text) {
        into.0 = Some(f64::from(rta));
    } else if let Some(pl) = text.strip_suffix('%').and_then(decimal) {
        into.1 = Some(pl);
    } else {
        let (rta, pl) = text.strip_suffix('%')?.split_once([',', ':'])?;
        into.0 = Some(plain_float(rta)?);
        into.1 = Some(decimal(pl)?);
    }
    Some(())
}

fn check_icmp(args: &[String]) -> Option<NativeRequest> {
    // Plain getopt: no long options (`--help` is special-cased by the plugin).
    let parsed = getopt(args, "vhVw:c:n:p:t:H:s:i:b:I:l:m:64", "", Mode::Permute)?;
    let mut hosts: Vec<String> = Vec::new();
    let (mut family, mut timeout, mut packets, mut interval) = (AddressFamily::Any, 10u32, 5u32, 80_000u64);
    // Microseconds and percent, as the plugin keeps them.
    let (mut warn, mut crit) = ((200_000u64, 40u32), (500_000u64, 80u32));
    for (opt, value) in parsed.options {
        let value = value.as_deref().unwrap_or("");
        match opt {
            '4' | '6' if family != AddressFamily::Any => return None,
            '4' => family = AddressFamily::V4,
            '6' => family = AddressFamily::V6,
            'H' => hosts.push(value.to_owned()),
            'n' | 'p' => packets = decimal(value).filter(|p| (1..=20).contains(p))?,
            't' => timeout = decimal(value).map(|t| if t == 0 { 10 } else { t })?,
            'i' => interval = icmp_time(value)?,
            'w' => icmp_threshold(value, &mut warn)?,
            'c' => icmp_threshold(value, &mut crit)?,
            // -s, -b, -I, -l, -m, -v, -h, -V.
            _ => return None,
        }
    }
    hosts.extend(parsed.operands);
    let [host] = <[String; 1]>::try_from(hosts).ok()?;
    // check_icmp quietly lowers a warning threshold above the critical one.
    warn = (warn.0.min(crit.0), warn.1.min(crit.1));
    let threshold = |(rta, pl): (u64, u32)| PingThreshold {
        rta: Duration::from_micros(rta),
        // At most 100 (clamped above).
        loss_percent: u8::try_from(pl).unwrap_or(100),
    };
    Some(NativeRequest::Ping {
        plugin: PingPlugin::CheckIcmp,
        host,
        family,
        warn: threshold(warn),
        crit: threshold(crit),
        packets,
        interval: Duration::from_micros(interval),
        timeout: Duration::from_secs(u64::from(timeout)),
    })
}

/// check_icmp's `-w`/`-c`: `TIME[,PL[%]]`; without a comma only the time changes.
/// The plugin scans for the comma backwards and never looks at the first two
/// characters, nor takes a comma at the very end: such values are declined, as is a
/// `%` without a comma.
fn icmp_threshold(text: &str, into: &mut (u64, u32)) -> Option<()> {
    let (time, pl) = match text.split_once(',') {
        Some((time, pl)) if time.len() >= 2 && !pl.is_empty() => {
            (time, Some(decimal(pl.strip_suffix('%').unwrap_or(pl)).filter(|&pl| pl <= 255)?))
        }
        Some(_) => return None,
        None if text.contains('%') => return None,
        None => (text, None),
    };
    let rta = icmp_time(time).filter(|&t| t > 0)?;
    // The plugin's own clamps: 255 s and 100 %.
    into.0 = rta.min(255_000_000);
    if let Some(pl) = pl {
        into.1 = pl.min(100);
    }
    Some(())
}

/// check_icmp's time values in microseconds: a number with an optional unit `us`/`u`,
/// `ms`/`m` (the default) or `s`. The plugin adds a fraction as `digits × unit / 10`
/// whatever its length (`1.25ms` is 3.5 ms there), so only one-digit fractions are
/// taken; microseconds take none.
fn icmp_time(text: &str) -> Option<u64> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => text.split_at(i),
        None => (text, ""),
    };
    let factor: u64 = match unit {
        "" | "m" | "ms" => 1_000,
        "u" | "us" => 1,
        "s" => 1_000_000,
        _ => return None,
    };
    let (int, frac) = match number.split_once('.') {
        Some((int, frac)) if frac.len() == 1 && factor > 1 => (int, decimal(frac)?),
        Some(_) => return None,
        None => (number, 0),
    };
    Some(u64::from(decimal(int)?).checked_mul(factor)? + u64::from(frac) * (factor / 10))
}

fn check_nrpe(args: &[String]) -> Option<NativeRequest> {
    const LONG: &str = concat!(
        "host=H config-file=f bind=b command=c args=a no-ssl/n unknown-timeout/u v2-packets-only/2 ",
        "v3-packets-only/3 ipv4/4 ipv6/6 use-adh=d ssl-version=S cipher-list=L client-cert=C ",
        "key-file=K ca-cert-file=A ssl-logging=s timeout=t port=p payload-size=P log-file=g help/h ",
        "license/l version/V stderr-to-stdout/E disable-syslog/D",
    );
    let parsed = getopt(args, "H:f:b:c:a:t:p:S:L:C:K:A:d:s:P:g:2346hlnuVED", LONG, Mode::StopAt('a'))?;
    if !parsed.operands.is_empty() {
        return None;
    }
    let (mut host, mut port, mut command) = (None, 5666u16, None);
    let (mut tls, mut adh, mut packets, mut family) = (true, NrpeAdh::Allow, NrpePackets::Auto, AddressFamily::Any);
    let (mut timeout, mut timeout_status) = (10u32, PluginStatus::Critical);
    for (opt, value) in parsed.options {
        let value = value.as_deref().unwrap_or("");
        match opt {
            'H' => host = Some(value.to_owned()),
            'p' => port = decimal(value).and_then(|p| u16::try_from(p).ok()).filter(|&p| p > 0)?,
            'c' => command = Some(value.to_owned()),
            'n' => tls = false,
            'u' => timeout_status = PluginStatus::Unknown,
            '2' | '3' if packets != NrpePackets::Auto && packets != nrpe_packets(opt) => return None,
            '2' | '3' => packets = nrpe_packets(opt),
            '4' => family = AddressFamily::V4,
            '6' => family = AddressFamily::V6,
            'd' => adh = lookup(value, &[("0", NrpeAdh::Never), ("1", NrpeAdh::Allow), ("2", NrpeAdh::Force)])?,
            't' => {
                let (seconds, state) = match value.split_once(':') {
                    Some((seconds, state)) => (seconds, Some(state)),
                    None => (value, None),
                };
                if !seconds.is_empty() {
                    timeout = decimal(seconds).filter(|&t| t > 0)?;
                }
                match state {
                    None | Some("") if seconds.is_empty() => return None,
                    None | Some("") => {}
                    Some(state) => timeout_status = nrpe_state(state)?,
                }
            }
            // Logging only, no effect on the check.
            'E' | 'D' | 's' => {}
            // -f -b -S -L -C -K -A -P -g -h -l -V, and '?'.
            _ => return None,
        }
    }
    Some(NativeRequest::Nrpe {
        host: host?,
        port,
        command: command.unwrap_or_else(|| "_NRPE_CHECK".to_owned()),
        args: parsed.rest,
        tls,
        adh,
        packets,
        family,
        timeout: Duration::from_secs(u64::from(timeout)),
        timeout_status,
    })
}

fn nrpe_packets(opt: char) -> NrpePackets {
    if opt == '2' { NrpePackets::V2Only } else { NrpePackets::V3Only }
}

/// check_nrpe's timeout state: a name (any case) or a digit.
fn nrpe_state(text: &str) -> Option<PluginStatus> {
    use PluginStatus::{Critical, Ok, Unknown, Warning};
    let names = [("OK", Ok), ("WARNING", Warning), ("CRITICAL", Critical), ("UNKNOWN", Unknown)];
    let digits = [("0", Ok), ("1", Warning), ("2", Critical), ("3", Unknown)];
    lookup(&text.to_ascii_uppercase(), &names).or_else(|| lookup(text, &digits))
}

fn check_snmp(args: &[String]) -> Option<NativeRequest> {
    const LONG: &str = concat!(
        std_long!(),
        "community=C oid=o object=o delimiter=d nulloid=z output-delimiter=D string=s timeout=t ",
        "regex=r ereg=r eregi=R label=l units=u port=p retries=e miblist=m protocol=P context=N ",
        "seclevel=L secname=U authproto=a privproto=x authpasswd=A privpasswd=X next/n rate/\u{80} ",
        "rate-multiplier=\u{81} offset=\u{82} invert-search/\u{83} perf-oids/O ipv4/4 ipv6/6 ",
        "multiplier=M fmtstr=f",
    );
    let args = rewrite(args, &[("-to", "-t"), ("-wv", "-w"), ("-cv", "-c")]);
    let optstring = "nhvVO46t:c:w:H:C:o:e:E:d:D:s:t:R:r:l:u:p:m:P:N:L:U:a:x:A:X:M:f:z:";
    let parsed = getopt(&args, optstring, LONG, Mode::Permute)?;
    let (mut host, mut port, mut oid, mut community) = (None, 161u16, None, "public".to_owned());
    let (mut warn, mut crit, mut expect, mut label, mut units) = (None, None, None, None, None);
    let (mut family, mut timeout, mut retries, mut proto) = (AddressFamily::Any, 10u32, 5u32, "1".to_owned());
    let (mut level, mut user, mut auth, mut auth_pw, mut privacy, mut priv_pw) =
        (None, None, SnmpAuth::Md5, None, SnmpPriv::Des, None);
    // Labels and units are split by the plugin on quotes and commas: keep simple ones.
    let simple = |v: &str| (!v.is_empty() && !v.contains([',', '\'', '"', ' '])).then(|| v.to_owned());
    for (opt, value) in parsed.options {
        let value = value.as_deref().unwrap_or("");
        match opt {
            'H' => host = Some(value.to_owned()),
            'p' => port = decimal(value).and_then(|p| u16::try_from(p).ok()).filter(|&p| p > 0)?,
            'C' => community = value.to_owned(),
            // One numeric OID; several, or MIB names, stay with the plugin.
            // One numeric OID; several (in one -o or in repeated ones) or MIB names
            // stay with the plugin.
            'o' if value.strip_prefix('.').unwrap_or(value).split('.').all(|p| decimal(p).is_some()) => {
                once(&mut oid, value.strip_prefix('.').unwrap_or(value).to_owned())?
            }
            'w' => warn = Some(Range::parse(value).ok()?),
            'c' => crit = Some(Range::parse(value).ok()?),
            's' => once(&mut expect, value.to_owned())?,
            'l' => once(&mut label, simple(value)?)?,
            'u' => once(&mut units, simple(value)?)?,
            't' => timeout = decimal(value).filter(|&t| t > 0)?,
            'e' | 'E' => retries = decimal(value)?,
            'P' => proto = value.to_owned(),
            'L' => level = Some(value.to_owned()),
            'U' => user = Some(value.to_owned()),
            'a' => auth = lookup(value, &[("MD5", SnmpAuth::Md5), ("SHA", SnmpAuth::Sha)])?,
            'A' => auth_pw = Some(value.to_owned()),
            'x' => privacy = lookup(value, &[("DES", SnmpPriv::Des), ("AES", SnmpPriv::Aes)])?,
            'X' => priv_pw = Some(value.to_owned()),
            // Numeric OIDs need no MIB; -4 is a no-op in the plugin.
            'm' | '4' => {}
            '6' => family = AddressFamily::V6,
            // -n -r -R -z -d -D -O -M -f -N --rate… -v -h -V, and several OIDs.
            _ => return None,
        }
    }
    // Without -H the plugin takes its first operand as the host.
    let host = match (host, parsed.operands.as_slice()) {
        (Some(h), []) => h,
        (None, [h]) => h.clone(),
        _ => return None,
    };
    let version = match proto.as_str() {
        "1" => SnmpVersion::V1 { community },
        "2c" => SnmpVersion::V2c { community },
        "3" => {
            let level = match level.as_deref().unwrap_or("noAuthNoPriv") {
                "noAuthNoPriv" => SnmpV3Level::NoAuthNoPriv,
                "authNoPriv" => SnmpV3Level::AuthNoPriv { auth, auth_password: auth_pw? },
                "authPriv" => SnmpV3Level::AuthPriv { auth, auth_password: auth_pw?, privacy, priv_password: priv_pw? },
                _ => return None,
            };
            SnmpVersion::V3 { user: user?, level }
        }
        _ => return None,
    };
    Some(NativeRequest::Snmp {
        host,
        port,
        version,
        oid: oid?,
        warn,
        crit,
        expect,
        label,
        units,
        family,
        timeout: Duration::from_secs(u64::from(timeout)),
        retries,
    })
}

/// The value named `text` in `table`.
fn lookup<T: Copy>(text: &str, table: &[(&str, T)]) -> Option<T> {
    table.iter().find(|(name, _)| *name == text).map(|&(_, value)| value)
}

fn check_tcp(args: &[String]) -> Option<NativeRequest> {
    const LONG: &str = concat!(
        "hostname=H critical=c warning=w critical-codes=C warning-codes=W timeout=t protocol=P ",
        "port=p escape/E all/A send=s expect=e maxbytes=m quit=q jail/j delay=d refuse=r mismatch=M ",
        "use-ipv4/4 use-ipv6/6 verbose/v version/V help/h ssl/S sni=\u{80} certificate=D",
    );
    let mut args = rewrite(args, &[("-to", "-t"), ("-wt", "-w"), ("-ct", "-c")]);
    // A first argument that is not an option is the host.
    let mut host = None;
    if args.first().is_some_and(|a| !matches!(a.bytes().take_while(|&b| b == b'-').count(), 1 | 2)) {
        host = Some(args.remove(0));
    }
    let parsed = getopt(&args, "hVv46EAH:s:e:q:m:c:w:t:p:C:W:d:Sr:jD:M:", LONG, Mode::StopAtOperand)?;
    let (mut host_given, mut port, mut family, mut timeout) = (false, None, AddressFamily::Any, 10u32);
    let (mut warn, mut crit, mut send, mut quit, mut expect) = (None, None, None, None, Vec::new());
    let (mut escape, mut expect_all, mut tls, mut sni, mut hide_output) = (false, false, false, None, false);
    let (mut refuse_status, mut mismatch_status) = (PluginStatus::Critical, PluginStatus::Warning);
    let (mut max_bytes, mut delay) = (None, 0u32);
    for (opt, value) in parsed.options {
        let value = value.as_deref().unwrap_or("");
        match opt {
            'H' => (host, host_given) = (Some(value.to_owned()), true),
            'p' => port = Some(decimal(value).and_then(|p| u16::try_from(p).ok()).filter(|&p| p > 0)?),
            't' => timeout = decimal(value).filter(|&t| t > 0)?,
            'w' => warn = Some(Duration::try_from_secs_f64(plain_float(value)?).ok()?),
            'c' => crit = Some(Duration::try_from_secs_f64(plain_float(value)?).ok()?),
            '4' => family = AddressFamily::V4,
            '6' => family = AddressFamily::V6,
            'E' => escape = true,
            's' => send = Some(if escape { unescape(value)? } else { value.as_bytes().to_vec() }),
            'q' => quit = Some(if escape { unescape(value)? } else { format!("{value}\r\n").into_bytes() }),
            'e' => expect.push(value.to_owned()),
            'A' => expect_all = true,
            'm' => max_bytes = Some(u64::from(decimal(value).filter(|&m| m > 0)?)),
            'd' => delay = decimal(value).filter(|&d| d > 0)?,
            'r' => refuse_status = tcp_state(value)?,
            'M' => mismatch_status = tcp_state(value)?,
            'j' => hide_output = true,
            'S' => tls = true,
            '\u{80}' => (tls, sni) = (true, Some(value.to_owned())),
            // -D (certificate age), -C/-W, --protocol, -v, -h, -V.
            _ => return None,
        }
    }
    // Without -H, an operand left after the options is the host, even over the first
    // argument; more operands are ignored by the plugin, and declined here.
    let mut operands = parsed.operands.into_iter();
    if !host_given {
        host = operands.next().or(host);
    }
    if operands.next().is_some() {
        return None;
    }
    let host = host.unwrap_or_else(|| "127.0.0.1".to_owned());
    // A path is a unix socket: not ours.
    if host.starts_with('/') {
        return None;
    }
    Some(NativeRequest::Tcp {
        host,
        port: port?,
        family,
        warn,
        crit,
        timeout: Duration::from_secs(u64::from(timeout)),
        send,
        expect,
        expect_all,
        quit,
        refuse_status,
        mismatch_status,
        max_bytes,
        delay: Duration::from_secs(u64::from(delay)),
        tls,
        sni,
        hide_output,
    })
}

/// check_tcp's `-r`/`-M`: the plugin compares prefixes (`okay` is `ok`).
fn tcp_state(text: &str) -> Option<PluginStatus> {
    if text.starts_with("ok") {
        Some(PluginStatus::Ok)
    } else if text.starts_with("warn") {
        Some(PluginStatus::Warning)
    } else if text.starts_with("crit") {
        Some(PluginStatus::Critical)
    } else {
        None
    }
}

/// check_tcp's `-E` escapes: `\n \r \t \\`, any other escaped character stands for
/// itself. A trailing backslash makes the plugin read past its string: declined.
fn unescape(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        out.push(match bytes.next()? {
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            other => other,
        });
    }
    Some(out)
}

/// Sets a value that may be given only once: a repeated option means something else
/// to the plugin (several hosts, several OIDs).
fn once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(value);
    Some(())
}

/// Replaces whole arguments, as the plugins' backward-compatibility loops do.
fn rewrite(args: &[String], pairs: &[(&str, &str)]) -> Vec<String> {
    args.iter()
        .map(|a| pairs.iter().find(|(from, _)| a == from).map_or_else(|| a.clone(), |(_, to)| (*to).to_owned()))
        .collect()
}

/// A non-negative decimal integer without sign, spaces or leading zeros (`0` itself
/// is fine): the form every plugin reads the same way (atoi, strtoul base 0).
fn decimal(text: &str) -> Option<u32> {
    let plain = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) && (text == "0" || !text.starts_with('0'));
    if plain { text.parse().ok() } else { None }
}

/// `digits[.digits]`: what strtod/sscanf("%f") read the same as we do.
fn plain_float(text: &str) -> Option<f64> {
    let (int, frac) = text.split_once('.').unwrap_or((text, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if digits(int) && digits(frac) { text.parse().ok().filter(|v: &f64| v.is_finite()) } else { None }
}

/// A long option: name, takes an argument, the short option it stands for.
type Long = (&'static str, bool, char);

/// monitoring-plugins' STD_LONG_OPTS, in the form of [`long_options`].
macro_rules! std_long {
    () => {
        "version/V verbose/v help/h timeout=t critical=c warning=w hostname=H "
    };
}
use std_long;

/// getopt_long's option table written compactly: `name=X` takes an argument, `name/X`
/// does not; `X` is the short option it stands for (or a private code above ASCII).
fn long_options(spec: &'static str) -> impl Iterator<Item = Long> {
    spec.split_whitespace().filter_map(|entry| {
        let (name, rest) = entry.split_at(entry.rfind(['=', '/'])?);
        let mut chars = rest.chars();
        let has_arg = chars.next()? == '=';
        Some((name, has_arg, chars.next()?))
    })
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// GNU default: operands may come anywhere.
    Permute,
    /// `+` in the option string: the first operand ends the options.
    StopAtOperand,
    /// Like `Permute`, but this option's argument and everything after it are
    /// [`Parsed::rest`] (check_nrpe `-a`).
    StopAt(char),
}

#[derive(Debug, Default)]
struct Parsed {
    options: Vec<(char, Option<String>)>,
    operands: Vec<String>,
    rest: Vec<String>,
}

/// GNU getopt_long as the plugins see it: `None` wherever getopt would return `?`
/// (unknown option, missing argument, ambiguous or argument-less long option given
/// `=value`).
fn getopt(args: &[String], optstring: &str, long: &'static str, mode: Mode) -> Option<Parsed> {
    let long: Vec<Long> = long_options(long).collect();
    let mut parsed = Parsed::default();
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        i += 1;
        if arg == "--" {
            parsed.operands.extend(args.iter().skip(i).cloned());
            break;
        }
        if let Some(body) = arg.strip_prefix("--") {
            let (name, attached) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (body, None),
            };
            let exact = long.iter().find(|l| l.0 == name);
            let candidates: Vec<&Long> = long.iter().filter(|l| l.0.starts_with(name)).collect();
            // Prefixes of several names are fine when they all mean the same option.
            let (_, has_arg, short) = *exact.or_else(|| {
                let first = candidates.first()?;
                candidates.iter().all(|c| c.1 == first.1 && c.2 == first.2).then_some(*first)
            })?;
            let value = match (has_arg, attached) {
                (true, Some(v)) => Some(v),
                (true, None) => {
                    i += 1;
                    Some(args.get(i - 1)?.clone())
                }
                (false, Some(_)) => return None,
                (false, None) => None,
            };
            if mode == Mode::StopAt(short) {
                // The plugin takes argv from the argument on; `--args=x` would hand it
                // the option itself.
                parsed.rest = args.get(i - 1..).unwrap_or_default().to_vec();
                return (parsed.rest.first() == value.as_ref()).then_some(parsed);
            }
            parsed.options.push((short, value));
            continue;
        }
        let Some(cluster) = arg.strip_prefix('-').filter(|c| !c.is_empty()) else {
            if mode == Mode::StopAtOperand {
                parsed.operands.extend(args.iter().skip(i - 1).cloned());
                break;
            }
            parsed.operands.push(arg.clone());
            continue;
        };
        for (at, opt) in cluster.char_indices() {
            let spec = optstring.find(opt).filter(|_| opt != ':' && opt != '+')?;
            let has_arg = optstring.get(spec + opt.len_utf8()..).is_some_and(|s| s.starts_with(':'));
            if !has_arg {
                parsed.options.push((opt, None));
                continue;
            }
            let attached = cluster.get(at + opt.len_utf8()..).unwrap_or("");
            let value = if attached.is_empty() {
                i += 1;
                args.get(i - 1)?.clone()
            } else if mode == Mode::StopAt(opt) {
                return None;
            } else {
                attached.to_owned()
            };
            if mode == Mode::StopAt(opt) {
                parsed.rest = args.get(i - 1..).unwrap_or_default().to_vec();
                return Some(parsed);
            }
            parsed.options.push((opt, Some(value)));
            break;
        }
    }
    Some(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real command lines (from Nagios and Icinga sample configs, and the flags of
    /// each plugin's --help) with what they mean natively, in
    /// testdata/plugins/native-cases.txt: `$ command line`, then the expected
    /// `{:?}` of the result. `BLESS=1` rewrites the expectations; review the diff.
    #[test]
    fn command_lines() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/plugins/native-cases.txt");
        let text = std::fs::read_to_string(&path).expect("native-cases.txt");
        let bless = std::env::var_os("BLESS").is_some();
        let mut blessed = String::new();
        let mut failures = Vec::new();
        let mut cases = 0;
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            let Some(command) = line.strip_prefix("$ ") else {
                blessed += line;
                blessed += "\n";
                continue;
            };
            let expected = lines.next().unwrap_or_default();
            let got = format!("{:?}", parse_command_line(command));
            if got != expected {
                failures.push(format!("$ {command}\n  expected {expected}\n  got      {got}"));
            }
            blessed += &format!("$ {command}\n{got}\n");
            cases += 1;
        }
        if bless {
            std::fs::write(&path, blessed).expect("bless");
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert!(cases >= 60, "only {cases} cases");
    }
}
