//! check_tcp as a sans-IO stream session: connect time, optional send and expect,
//! optional TLS (rustls) with the peer certificate's days to expiry, thresholds, and
//! check_tcp's output. Not here: sockets, name resolution, the clock (the driver
//! passes `now`; TLS validity uses the time provider given to [`tls_client_config`]).
//!
//! Wording follows monitoring-plugins 2.3 check_tcp where it has one
//! (`TCP OK - 0.001 second response time on HOST port P|time=…`, `connect to address
//! HOST and port P: Connection refused`, `CRITICAL - Socket timeout after 10
//! seconds`). **Decision**: the response is shown as its first line only, and a `|`
//! in it is shown as `¦`, so the plugin output's perfdata split stays right.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::time_provider::TimeProvider;
use rustls::{ClientConnection, DigitallySignedStruct, SignatureScheme};

mod cert;

pub use cert::{CertError, CertInfo, format_unix, parse_certificate};

use crate::session::{StreamSession, StreamState};
use crate::time::Instant;
use crate::wire::plugin::PluginStatus;

/// What to check; shared by every run of the same check.
#[derive(Debug, Clone)]
pub struct TcpCheck {
    /// The host as the user wrote it (shown in the output).
    pub host: String,
    pub port: u16,
    /// Sent once connected (after the TLS handshake with `tls`).
    pub send: Option<Vec<u8>>,
    /// Strings to look for in the response (any of them, or all with `expect_all`).
    pub expect: Vec<Vec<u8>>,
    pub expect_all: bool,
    /// Sent after the response was judged, before closing.
    pub quit: Option<Vec<u8>>,
    /// Read at most this much; judging happens then at the latest.
    pub max_bytes: usize,
    /// The whole check, connect included.
    pub timeout: Duration,
    /// Response time thresholds in seconds.
    pub warning: Option<f64>,
    pub critical: Option<f64>,
    /// Status when the expected string did not come (check_tcp `-M`).
    pub mismatch: PluginStatus,
    /// Status when the connection is refused (check_tcp `-r`).
    pub refuse: PluginStatus,
    /// Do not show the response in the output (check_tcp `-j`).
    pub hide_output: bool,
    pub tls: Option<TlsCheck>,
}

impl TcpCheck {
    /// A plain connect check with check_tcp's defaults (10 s, mismatch WARNING,
    /// refusal CRITICAL, 4 KiB read limit).
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        TcpCheck {
            host: host.into(),
            port,
            send: None,
            expect: Vec::new(),
            expect_all: false,
            quit: None,
            max_bytes: 4096,
            timeout: Duration::from_secs(10),
            warning: None,
            critical: None,
            mismatch: PluginStatus::Warning,
            refuse: PluginStatus::Critical,
            hide_output: false,
            tls: None,
        }
    }
}

/// TLS settings of a [`TcpCheck`].
#[derive(Debug, Clone)]
pub struct TlsCheck {
    pub config: Arc<rustls::ClientConfig>,
    /// SNI and the name the certificate is checked against.
    pub server_name: ServerName<'static>,
    /// Certificate validity thresholds in days (check_tcp `-D warn[,crit]`).
    pub days_warning: Option<u32>,
    pub days_critical: Option<u32>,
}

impl TlsCheck {
    /// TLS with `config` to `server_name` (a DNS name or an address), no day limits.
    pub fn new(config: Arc<rustls::ClientConfig>, server_name: &str) -> Result<Self, String> {
        let server_name = ServerName::try_from(server_name.to_owned())
            .map_err(|_| format!("{server_name:?} is not a TLS server name"))?;
        Ok(TlsCheck { config, server_name, days_warning: None, days_critical: None })
    }
}

/// A wall clock for rustls that always says `unix` seconds (tests, fuzzing, replay).
pub fn fixed_time(unix: u64) -> Arc<dyn TimeProvider> {
    #[derive(Debug)]
    struct Fixed(u64);
    impl TimeProvider for Fixed {
        fn current_time(&self) -> Option<UnixTime> {
            Some(UnixTime::since_unix_epoch(Duration::from_secs(self.0)))
        }
    }
    Arc::new(Fixed(unix))
}

/// How the server certificate is verified.
#[derive(Debug, Clone)]
pub enum CertVerification {
    /// Against the Mozilla roots (webpki-roots).
    WebPki,
    /// Against these roots.
    Roots(rustls::RootCertStore),
    /// Not at all (self-signed services); signatures in the handshake are still
    /// checked, and the certificate's expiry is still reported.
    AcceptAny,
}

/// A rustls client configuration (ring provider) for TCP checks. `time` is the
/// wall clock rustls uses for certificate validity; tests pass a fixed one.
pub fn tls_client_config(
    verify: CertVerification,
    time: Arc<dyn TimeProvider>,
) -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder =
        rustls::ClientConfig::builder_with_details(provider.clone(), time).with_safe_default_protocol_versions()?;
    let config = match verify {
        CertVerification::WebPki => {
            builder.with_root_certificates(rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() })
        }
        CertVerification::Roots(roots) => builder.with_root_certificates(roots),
        CertVerification::AcceptAny => {
            builder.dangerous().with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        }
    };
    Ok(Arc::new(config.with_no_client_auth()))
}

/// Accepts any certificate, but still verifies the handshake signatures with it.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The outcome of one check, as a plugin would report it.
#[derive(Debug, Clone, PartialEq)]
pub struct TcpResult {
    pub status: PluginStatus,
    /// One line: summary, then `|` and perfdata where check_tcp prints them.
    pub output: String,
    /// Connect to verdict, when the connection was made.
    pub elapsed: Option<Duration>,
    /// The TLS peer certificate, when there was one.
    pub certificate: Option<CertInfo>,
    /// Whole days until the certificate expires (negative once expired).
    pub cert_days: Option<i64>,
}

impl TcpResult {
    /// The plugin exit code (0..=3).
    pub fn exit_code(&self) -> u8 {
        self.status.exit_code()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connecting,
    Talking,
    Done,
}

/// One run of a [`TcpCheck`]; emits exactly one [`TcpResult`].
#[derive(Debug)]
pub struct TcpSession {
    check: Arc<TcpCheck>,
    start: Instant,
    /// Wall-clock seconds at `start`, for certificate days.
    unix_start: i64,
    deadline: Instant,
    phase: Phase,
    tls: Option<Box<ClientConnection>>,
    cert: Option<CertInfo>,
    received: Vec<u8>,
    /// Plaintext still to write (without TLS).
    to_send: Vec<u8>,
    eof: bool,
    state: StreamState,
    result: Option<TcpResult>,
    events: VecDeque<TcpResult>,
}

impl TcpSession {
    /// Starts a run at `now` (the connect starts now); `unix_now` is the wall clock
    /// in seconds, used only for certificate days.
    pub fn new(check: Arc<TcpCheck>, now: Instant, unix_now: i64) -> Self {
        let deadline = now + check.timeout;
        TcpSession {
            check,
            start: now,
            unix_start: unix_now,
            deadline,
            phase: Phase::Connecting,
            tls: None,
            cert: None,
            received: Vec::new(),
            to_send: Vec::new(),
            eof: false,
            state: StreamState::Open,
            result: None,
            events: VecDeque::new(),
        }
    }

    pub fn check(&self) -> &TcpCheck {
        &self.check
    }

    /// The verdict, once there is one.
    pub fn result(&self) -> Option<&TcpResult> {
        self.result.as_ref()
    }

    /// The connection could not be made; `reason` is the system's wording
    /// ("Connection refused"). `refused` applies check_tcp's `-r` state.
    pub fn handle_connect_error(&mut self, now: Instant, reason: &str, refused: bool) {
        let c = &self.check;
        let status = if refused { c.refuse } else { PluginStatus::Critical };
        let output = format!("connect to address {} and port {}: {reason}", c.host, c.port);
        self.finish_with(now, status, output, false);
    }

    /// The connection broke after it was made (reset, broken pipe): judged on what
    /// arrived, as check_tcp does when a read fails.
    pub fn handle_io_error(&mut self, now: Instant, reason: &str) {
        if self.phase == Phase::Done {
            return;
        }
        self.eof = true;
        if self.tls.as_ref().is_some_and(|t| t.is_handshaking()) {
            return self.fail_tls(now, reason);
        }
        self.judge(now);
    }

    fn needs_response(&self) -> bool {
        self.check.send.is_some() || !self.check.expect.is_empty()
    }

    /// The expect strings are satisfied by what arrived.
    fn matched(&self) -> bool {
        let found = |e: &Vec<u8>| e.is_empty() || self.received.windows(e.len()).any(|w| w == e.as_slice());
        if self.check.expect_all { self.check.expect.iter().all(found) } else { self.check.expect.iter().any(found) }
    }

    /// Decides if enough is known; called after every input.
    fn judge(&mut self, now: Instant) {
        if self.phase != Phase::Talking {
            return;
        }
        if let Some(t) = &self.tls {
            if t.is_handshaking() {
                if self.eof {
                    self.fail_tls(now, "connection closed during the handshake");
                }
                return;
            }
        }
        let full = self.received.len() >= self.check.max_bytes;
        if self.check.expect.is_empty() {
            // check_tcp reads one response when it sent something, none otherwise.
            if !self.needs_response() || !self.received.is_empty() || self.eof || full {
                self.finish_ok(now, true);
            }
        } else if self.matched() {
            self.finish_ok(now, true);
        } else if self.eof && self.received.is_empty() {
            let output = "TCP CRITICAL - No data received from host".to_owned();
            self.finish_with(now, PluginStatus::Critical, output, true);
        } else if self.eof || full {
            self.finish_ok(now, false);
        }
    }

    /// The check_tcp verdict line: thresholds, mismatch state, response, perfdata.
    fn finish_ok(&mut self, now: Instant, matched: bool) {
        let c = self.check.clone();
        let elapsed = now.saturating_since(self.start).as_secs_f64();
        let mut status = PluginStatus::Ok;
        if c.critical.is_some_and(|t| elapsed > t) {
            status = PluginStatus::Critical;
        } else if c.warning.is_some_and(|t| elapsed > t) {
            status = PluginStatus::Warning;
        }
        if !matched && status != PluginStatus::Critical {
            status = c.mismatch;
        }
        let shown = (!c.hide_output).then(|| first_line(&self.received)).filter(|s| !s.is_empty());
        let mut out = String::new();
        // The certificate verdict, when it is worse, replaces the summary.
        let cert = self.cert_verdict();
        match &cert {
            Some((s, text)) if severity(*s) > severity(status) => {
                status = *s;
                let _ = write!(out, "TCP {status} - {text}");
            }
            _ => {
                let _ = write!(out, "TCP {status} - ");
                if matched {
                    let _ = write!(out, "{elapsed:.3} second response time on {} port {}", c.host, c.port);
                    if let Some(s) = &shown {
                        let _ = write!(out, " [{s}]");
                    }
                } else {
                    out.push_str("Unexpected response from host/socket");
                    match &shown {
                        Some(s) => {
                            let _ = write!(out, ": {s}");
                        }
                        None => {
                            let _ = write!(out, " on {} port {}", c.host, c.port);
                        }
                    }
                }
                if let Some((_, text)) = &cert {
                    let _ = write!(out, ", {}", lowercase_first(text));
                }
            }
        }
        let opt = |v: Option<f64>| v.map(|v| format!("{v:.6}")).unwrap_or_default();
        let _ = write!(
            out,
            "|time={elapsed:.6}s;{};{};0.000000;{:.6}",
            opt(c.warning),
            opt(c.critical),
            c.timeout.as_secs_f64()
        );
        self.finish_with(now, status, out, true);
    }

    /// Days left and the wording for the certificate, when thresholds were asked or
    /// a certificate was seen.
    fn cert_verdict(&self) -> Option<(PluginStatus, String)> {
        let tls = self.check.tls.as_ref()?;
        let cert = self.cert.as_ref()?;
        let cn = cert.subject_cn.as_deref().unwrap_or("(no CN)");
        let left = cert.not_after - self.unix_start;
        let days = left.div_euclid(86_400);
        let date = format_unix(cert.not_after);
        if left < 0 {
            return Some((PluginStatus::Critical, format!("Certificate '{cn}' expired on {date}")));
        }
        let status = if tls.days_critical.is_some_and(|d| days <= i64::from(d))
            || (tls.days_warning.is_some() && tls.days_critical.is_none() && days == 0)
        {
            PluginStatus::Critical
        } else if tls.days_warning.is_some_and(|d| days <= i64::from(d)) {
            PluginStatus::Warning
        } else {
            PluginStatus::Ok
        };
        Some((status, format!("Certificate '{cn}' expires in {days} day(s) ({date})")))
    }

    fn fail_tls(&mut self, now: Instant, reason: &str) {
        let output = format!("TCP CRITICAL - Cannot make SSL connection: {reason}");
        self.finish_with(now, PluginStatus::Critical, output, true);
    }

    fn finish_with(&mut self, now: Instant, status: PluginStatus, output: String, connected: bool) {
        if self.phase == Phase::Done && self.result.is_some() {
            return;
        }
        let elapsed = connected.then(|| now.saturating_since(self.start));
        let cert_days = self.cert.as_ref().map(|c| (c.not_after - self.unix_start).div_euclid(86_400));
        let r = TcpResult { status, output, elapsed, certificate: self.cert.clone(), cert_days };
        self.result = Some(r.clone());
        self.events.push_back(r);
        self.phase = Phase::Done;
        // A quit string is said politely (then the peer closes); otherwise drop now.
        match self.check.quit.clone().filter(|_| connected && !self.eof) {
            Some(q) => {
                match &mut self.tls {
                    Some(t) => {
                        let _ = t.writer().write_all(&q);
                    }
                    None => self.to_send.extend_from_slice(&q),
                }
                self.state = StreamState::CloseWrite;
            }
            None => self.state = StreamState::Close,
        }
    }

    /// Feeds ciphertext to rustls and moves plaintext into `received`.
    fn tls_input(&mut self, now: Instant, mut data: &[u8]) {
        let Some(t) = self.tls.as_mut() else { return };
        let was_handshaking = t.is_handshaking();
        let mut error = None;
        while !data.is_empty() {
            if let Err(e) = t.read_tls(&mut data) {
                error = Some(e.to_string());
                break;
            }
            match t.process_new_packets() {
                Ok(_) => {}
                Err(e) => {
                    error = Some(e.to_string());
                    break;
                }
            }
            let mut buf = [0u8; 4096];
            loop {
                match t.reader().read(&mut buf) {
                    Ok(0) => {
                        self.eof = true;
                        break;
                    }
                    Ok(n) => {
                        let room = self.check.max_bytes.saturating_sub(self.received.len());
                        self.received.extend_from_slice(buf.get(..n.min(room)).unwrap_or_default());
                    }
                    Err(_) => break,
                }
            }
        }
        if let Some(e) = error {
            if t.is_handshaking() {
                return self.fail_tls(now, &e);
            }
            self.eof = true;
        }
        if was_handshaking && !t.is_handshaking() {
            self.cert = t.peer_certificates().and_then(|c| c.first()).and_then(|c| parse_certificate(c).ok());
        }
        self.judge(now);
    }
}

/// Higher is worse, for picking the worse of two verdicts.
fn severity(s: PluginStatus) -> u8 {
    match s {
        PluginStatus::Ok => 0,
        PluginStatus::Warning => 1,
        PluginStatus::Unknown | PluginStatus::Error => 2,
        PluginStatus::Critical | PluginStatus::Timeout => 3,
    }
}

fn lowercase_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The first line of a response, trimmed, at most 256 characters, `|` shown as `¦`.
fn first_line(b: &[u8]) -> String {
    let line = b.split(|&c| c == b'\n').next().unwrap_or_default();
    String::from_utf8_lossy(line)
        .trim_end_matches('\r')
        .chars()
        .take(256)
        .map(|c| if c == '|' { '¦' } else { c })
        .collect()
}

impl StreamSession for TcpSession {
    type Event = TcpResult;

    fn handle_connected(&mut self, now: Instant) {
        if self.phase != Phase::Connecting {
            return;
        }
        self.phase = Phase::Talking;
        let c = self.check.clone();
        if let Some(tls) = &c.tls {
            match ClientConnection::new(tls.config.clone(), tls.server_name.clone()) {
                Ok(mut conn) => {
                    if let Some(s) = &c.send {
                        // Buffered by rustls until the handshake is done.
                        let _ = conn.writer().write_all(s);
                    }
                    self.tls = Some(Box::new(conn));
                }
                Err(e) => {
                    let output = format!("TCP UNKNOWN - TLS setup failed: {e}");
                    return self.finish_with(now, PluginStatus::Unknown, output, true);
                }
            }
            return;
        }
        if let Some(s) = &c.send {
            self.to_send.extend_from_slice(s);
        }
        self.judge(now);
    }

    fn handle_input(&mut self, now: Instant, data: &[u8]) {
        if data.is_empty() {
            self.eof = true;
        }
        if self.phase != Phase::Talking {
            return;
        }
        if self.tls.is_some() {
            return self.tls_input(now, data);
        }
        let room = self.check.max_bytes.saturating_sub(self.received.len());
        self.received.extend_from_slice(data.get(..data.len().min(room)).unwrap_or_default());
        self.judge(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        if now < self.deadline {
            return;
        }
        if self.phase == Phase::Done {
            // Waiting for the peer after a quit string: give up on it.
            self.state = StreamState::Close;
            return;
        }
        let secs = self.check.timeout.as_secs_f64();
        let output = format!("CRITICAL - Socket timeout after {secs} seconds");
        self.finish_with(now, PluginStatus::Critical, output, false);
        self.state = StreamState::Close;
    }

    fn poll_transmit(&mut self, out: &mut Vec<u8>) {
        match &mut self.tls {
            Some(t) => {
                while t.wants_write() {
                    if t.write_tls(out).is_err() {
                        break;
                    }
                }
            }
            None => out.append(&mut self.to_send),
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        (self.state != StreamState::Close).then_some(self.deadline)
    }

    fn poll_event(&mut self) -> Option<TcpResult> {
        self.events.pop_front()
    }

    fn state(&self) -> StreamState {
        self.state
    }
}

#[cfg(test)]
mod tests;
