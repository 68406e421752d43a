//! check_tcp natively: `session::tcp`'s check, with what check_tcp 2.3.3 does
//! differently put back around it (each measured against the plugin here):
//! - it gives up on a response that has not matched its `-e` strings once the server
//!   has been quiet for 2 s (`QuietTcp`; the session waits for the end of the stream);
//! - it shows the whole response it read, raw, trailing whitespace cut (the session
//!   shows the first line), and only when `-e` was given;
//! - it words "No data received from host" without a prefix;
//! - without `-H` it prints no host ("… response time on port 22").
//!
//! Declined (the plugin runs): TLS, `-d`, `-m` (the plugin matches the whole chunk it
//! read before applying it), `-s` without `-e` but with `-w`/`-c` (the plugin times
//! the response up to the server's silence), the host not given with `-H`, and after
//! the fact a response with a NUL byte (the plugin's C strings end there) or longer
//! than [`SHOWN_CAP`]. Natively none of these declines: TLS is the session's (any
//! certificate accepted, as check_tcp `-S`), `-m` caps the session's read, `-d` is
//! not applied (it only delays reading), the host is always shown, and a response is
//! shown up to [`SHOWN_CAP`] with NUL bytes as `\0`.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::engine::{AnyEvent, AnyStream, MakeSession};
use super::{Accelerator, Declined, Printed, Wording, declined, printed, resolve};
use crate::driver::{Backend, ConnEnd};
use crate::native::NativeRequest;
use crate::session::tcp::{CertVerification, TcpCheck, TcpResult, TcpSession, TlsCheck, tls_client_config};
use crate::session::{StreamSession, StreamState};
use crate::time::Instant;

/// check_tcp's `READ_TIMEOUT`: how long a server may be quiet after sending something
/// before an unmatched response is judged.
const CHECK_TCP_QUIET: Duration = Duration::from_secs(2);

/// Response bytes kept (and the session's read limit when `-m` is not given): the
/// plugin reads on until it matches, so a native run that reaches this declines.
const SHOWN_CAP: usize = 1 << 20;

/// check_tcp's quiet rule and response keeping around a [`TcpSession`], sans-IO like
/// it: once something arrived, a server silent for `quiet` ends the wait for the
/// expect strings and the session judges what came, as when the stream ends.
#[derive(Debug)]
pub(super) struct QuietTcp {
    inner: TcpSession,
    quiet: Option<Duration>,
    last_input: Option<Instant>,
    /// What arrived before the verdict, at most [`SHOWN_CAP`] bytes.
    received: Vec<u8>,
    overflow: bool,
}

impl QuietTcp {
    fn new(inner: TcpSession, quiet: Option<Duration>) -> Self {
        QuietTcp { inner, quiet, last_input: None, received: Vec::new(), overflow: false }
    }

    fn quiet_deadline(&self) -> Option<Instant> {
        let (quiet, last) = (self.quiet?, self.last_input?);
        self.inner.result().is_none().then(|| last + quiet)
    }
}

impl StreamSession for QuietTcp {
    type Event = TcpResult;

    fn handle_connected(&mut self, now: Instant) {
        self.inner.handle_connected(now);
    }

    fn handle_input(&mut self, now: Instant, data: &[u8]) {
        if !data.is_empty() && self.inner.result().is_none() {
            self.last_input = Some(now);
            let room = SHOWN_CAP.saturating_sub(self.received.len());
            self.overflow |= data.len() > room;
            self.received.extend_from_slice(data.get(..room.min(data.len())).unwrap_or_default());
        }
        self.inner.handle_input(now, data);
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.quiet_deadline().is_some_and(|at| now >= at) {
            self.inner.handle_io_error(now, "the server went quiet");
        }
        self.inner.handle_timeout(now);
    }

    fn poll_transmit(&mut self, out: &mut Vec<u8>) {
        self.inner.poll_transmit(out);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match (self.inner.poll_timeout(), self.quiet_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn poll_event(&mut self) -> Option<TcpResult> {
        self.inner.poll_event()
    }

    fn state(&self) -> StreamState {
        self.inner.state()
    }
}

/// Whether the host was given with `-H` or `--hostname` (check_tcp prints it only
/// then); a host hidden in an option cluster counts as not given.
fn explicit_host(argv: &[String]) -> bool {
    argv.iter().skip(1).any(|a| {
        let name = a.split('=').next().unwrap_or_default();
        a.starts_with("-H") || (name.len() >= 4 && "--hostname".starts_with(name))
    })
}

/// The rustls settings of native `-S` checks: any certificate (check_tcp verifies
/// none without `-D`), the system's wall clock for its validity.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, Declined> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    let time = Arc::new(rustls::time_provider::DefaultTimeProvider);
    CONFIG
        .get_or_init(|| tls_client_config(CertVerification::AcceptAny, time).map_err(|e| e.to_string()))
        .clone()
        .map_err(declined)
}

pub(super) async fn tcp(
    request: &NativeRequest,
    accel: &Accelerator,
    wording: Wording<'_>,
) -> Result<(Printed, Backend), Declined> {
    let NativeRequest::Tcp {
        host,
        port,
        family,
        warn,
        crit,
        timeout,
        send,
        expect,
        expect_all,
        quit,
        refuse_status,
        mismatch_status,
        max_bytes,
        delay,
        tls,
        sni,
        hide_output,
    } = request
    else {
        return Err(declined("not a TCP request"));
    };
    if let Wording::Plugin(argv) = wording {
        if *tls {
            return Err(declined("check_tcp -S words certificates differently from the TCP session"));
        }
        if !delay.is_zero() || max_bytes.is_some() {
            return Err(declined("check_tcp -d and -m are not modelled"));
        }
        if send.is_some() && expect.is_empty() && (warn.is_some() || crit.is_some()) {
            return Err(declined("check_tcp -s without -e times the response up to the server's silence"));
        }
        if !explicit_host(argv) {
            return Err(declined("check_tcp without -H prints no host"));
        }
    }
    let addr: SocketAddr = resolve(host, *port, *family).await?;
    let engine = accel.streams()?;
    let mut check = TcpCheck::new(host.clone(), *port);
    check.send.clone_from(send);
    check.expect = expect.iter().map(|e| e.as_bytes().to_vec()).collect();
    check.expect_all = *expect_all;
    check.quit.clone_from(quit);
    check.max_bytes = max_bytes.map_or(SHOWN_CAP, |m| usize::try_from(m).unwrap_or(SHOWN_CAP).min(SHOWN_CAP));
    let mut unix_now = 0;
    if *tls {
        let name = sni.as_deref().unwrap_or(host);
        check.tls = Some(TlsCheck::new(tls_config()?, name).map_err(declined)?);
        // For the certificate's days to expiry; read once, as rustls reads its clock.
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        unix_now = i64::try_from(since.as_secs()).unwrap_or(i64::MAX);
    }
    check.timeout = *timeout;
    (check.warning, check.critical) = (warn.map(|d| d.as_secs_f64()), crit.map(|d| d.as_secs_f64()));
    (check.refuse, check.mismatch, check.hide_output) = (*refuse_status, *mismatch_status, *hide_output);
    // Only expect strings make check_tcp wait for more.
    let quiet = (!expect.is_empty()).then_some(CHECK_TCP_QUIET);
    let check = Arc::new(check);
    let make: MakeSession =
        Box::new(move |now| Ok(AnyStream::Tcp(QuietTcp::new(TcpSession::new(check, now, unix_now), quiet))));
    let run = engine.run(addr, make).await?;
    let mut results: Vec<TcpResult> =
        run.events.into_iter().filter_map(|e| if let AnyEvent::Tcp(r) = e { Some(r) } else { None }).collect();
    let mut received = Vec::new();
    let mut overflow = false;
    if let Some((end, AnyStream::Tcp(mut session), at)) = run.closed {
        if session.inner.result().is_none() {
            let inner = &mut session.inner;
            match end {
                ConnEnd::ConnectFailed(e) => {
                    inner.handle_connect_error(at, &end.to_string(), e == rustix::io::Errno::CONNREFUSED)
                }
                ConnEnd::ConnectTimedOut => inner.handle_connect_error(at, "Connection timed out", false),
                ConnEnd::Failed(_) | ConnEnd::PeerClosed | ConnEnd::Done => inner.handle_io_error(at, &end.to_string()),
            }
            results.extend(StreamSession::poll_event(inner));
        }
        (received, overflow) = (session.received, session.overflow);
    }
    if (overflow || received.contains(&0)) && !wording.native() {
        return Err(declined("a response too long or with a NUL byte"));
    }
    let r = results.into_iter().next().ok_or_else(|| declined("the TCP check ended without a result"))?;
    let shown = (!expect.is_empty() && !hide_output).then_some(received.as_slice());
    let text = match check_tcp_text(&r.output, *port, shown) {
        Ok(text) => text,
        // Natively: without the response (it was empty) or as the session said it.
        Err(_) if wording.native() => check_tcp_text(&r.output, *port, None).unwrap_or_else(|_| r.output.clone()),
        Err(d) => return Err(d),
    };
    Ok((printed(r.exit_code(), format!("{text}\n")), engine.backend()))
}

/// check_tcp's line from the session's: the response shown as the plugin shows it
/// (`shown`: the bytes, when the plugin shows them at all).
fn check_tcp_text(output: &str, port: u16, shown: Option<&[u8]>) -> Result<String, Declined> {
    if output == "TCP CRITICAL - No data received from host" {
        return Ok("No data received from host".to_owned());
    }
    // Connect errors and timeouts have no perfdata and nothing to show.
    let Some((summary, perf)) = output.split_once('|') else { return Ok(output.to_owned()) };
    // The raw response, trailing whitespace (C isspace) cut.
    let response = shown.map(|b| {
        let text = String::from_utf8_lossy(b).replace('\0', "\\0");
        text.trim_end_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']).to_owned()
    });
    if response.as_deref() == Some("") {
        return Err(declined("an empty response to show"));
    }
    const TIME_ON: &str = " second response time on ";
    const MISMATCH: &str = "Unexpected response from host/socket";
    let mut line = summary.to_owned();
    if let Some(at) = summary.find(TIME_ON) {
        let port_text = format!(" port {port}");
        let from = at + TIME_ON.len();
        let end = summary.get(from..).and_then(|rest| rest.find(&port_text)).map(|k| from + k + port_text.len());
        let end = end.ok_or_else(|| declined("an unexpected TCP verdict"))?;
        line = summary.get(..end).unwrap_or(summary).to_owned();
        if let Some(r) = &response {
            line = format!("{line} [{r}]");
        }
    } else if let (Some(at), Some(r)) = (summary.find(MISMATCH), &response) {
        line = format!("{}{MISMATCH}: {r}", summary.get(..at).unwrap_or_default());
    }
    Ok(format!("{line}|{perf}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::plugin::PluginStatus;

    /// A banner that does not match and a server that stays connected: WARNING
    /// after two quiet seconds, as check_tcp; on virtual time.
    #[test]
    fn check_tcp_gives_up_on_a_quiet_server() {
        let t = |ms: u64| Instant::from_nanos(ms * 1_000_000);
        let mut check = TcpCheck::new("127.0.0.1", 22);
        check.expect = vec![b"HTTP/1.1".to_vec()];
        let mut s = QuietTcp::new(TcpSession::new(Arc::new(check), t(0), 0), Some(CHECK_TCP_QUIET));
        s.handle_connected(t(1));
        assert_eq!(s.poll_timeout(), Some(t(10_000)), "the check's own timeout only");
        s.handle_input(t(2), b"SSH-2.0-x\r\n");
        assert_eq!(s.poll_timeout(), Some(t(2_002)));
        s.handle_timeout(t(2_001));
        assert!(s.poll_event().is_none());
        s.handle_timeout(t(2_002));
        let r = s.poll_event().expect("judged");
        assert_eq!(r.status, PluginStatus::Warning);
        let text = check_tcp_text(&r.output, 22, Some(&s.received)).unwrap();
        assert_eq!(
            text,
            "TCP WARNING - Unexpected response from host/socket: SSH-2.0-x|time=2.002000s;;;0.000000;10.000000"
        );
        assert_eq!(s.state(), StreamState::Close);
    }

    /// What check_tcp printed for these responses (tests/accel.rs compares live).
    #[test]
    fn responses_are_shown_as_check_tcp_shows_them() {
        let ok = "TCP OK - 0.001 second response time on h port 7 [A1]|time=0.001000s;;;0.000000;10.000000";
        let shown = |b: &[u8]| check_tcp_text(ok, 7, Some(b)).unwrap();
        assert_eq!(shown(b"A1\r\nB2\r\n"), ok.replace("[A1]", "[A1\r\nB2]"));
        assert_eq!(shown(b"  lead\r\n"), ok.replace("[A1]", "[  lead]"));
        assert_eq!(shown(b"X|Y\r\n"), ok.replace("[A1]", "[X|Y]"));
        assert_eq!(check_tcp_text(ok, 7, None).unwrap(), ok.replace(" [A1]", ""), "-s without -e, or -j");
        let bad = "TCP WARNING - Unexpected response from host/socket: A1|time=0.3s;;;0.000000;10.000000";
        assert_eq!(
            check_tcp_text(bad, 7, Some(b"A1\rB2\n\nC3\n\n")).unwrap(),
            "TCP WARNING - Unexpected response from host/socket: A1\rB2\n\nC3|time=0.3s;;;0.000000;10.000000"
        );
        assert_eq!(
            check_tcp_text("TCP CRITICAL - No data received from host", 7, Some(b"")).unwrap(),
            "No data received from host"
        );
        let refused = "connect to address h and port 7: Connection refused";
        assert_eq!(check_tcp_text(refused, 7, None).unwrap(), refused);
        assert!(check_tcp_text(ok, 7, Some(b" \r\n")).is_err());
    }

    #[test]
    fn only_an_explicit_host_is_printed() {
        let argv = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert!(explicit_host(&argv("check_tcp -H h -p 1")));
        assert!(explicit_host(&argv("check_tcp -Hh -p 1")));
        assert!(explicit_host(&argv("check_tcp --host=h -p 1")));
        assert!(!explicit_host(&argv("check_tcp h -p 1")));
        assert!(!explicit_host(&argv("check_tcp -p 1")));
        assert!(!explicit_host(&argv("check_tcp -4H h -p 1")));
    }
}
