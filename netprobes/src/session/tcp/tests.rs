//! The TCP check on virtual time: check_tcp's wording for every outcome, and TLS
//! against an in-memory rustls server holding the captured test certificates.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use super::*;

const EC_PEM: &[u8] = include_bytes!("../../../testdata/tcp/ec-30days.pem");
const EC_KEY: &[u8] = include_bytes!("../../../testdata/tcp/ec-30days.key");
const EC_DER: &[u8] = include_bytes!("../../../testdata/tcp/ec-30days.der");

fn ms(n: u64) -> Instant {
    Instant::from_nanos(n * 1_000_000)
}

fn session(check: TcpCheck) -> TcpSession {
    TcpSession::new(Arc::new(check), Instant::ZERO, 1_700_000_000)
}

fn result_of(s: &mut TcpSession) -> TcpResult {
    let r = s.poll_event().expect("a result");
    assert!(s.poll_event().is_none(), "exactly one result");
    r
}

#[test]
fn connect_only_reports_the_connect_time() {
    let mut s = session(TcpCheck::new("127.0.0.1", 22));
    assert_eq!(s.poll_timeout(), Some(ms(10_000)));
    s.handle_connected(ms(1));
    let r = result_of(&mut s);
    assert_eq!(
        r.output,
        "TCP OK - 0.001 second response time on 127.0.0.1 port 22|time=0.001000s;;;0.000000;10.000000"
    );
    assert_eq!((r.status, r.exit_code(), r.elapsed), (PluginStatus::Ok, 0, Some(Duration::from_millis(1))));
    assert_eq!(s.state(), StreamState::Close);
    let mut out = Vec::new();
    s.poll_transmit(&mut out);
    assert!(out.is_empty());
}

#[test]
fn response_time_thresholds() {
    for (at, status, word) in [
        (300, PluginStatus::Ok, "OK"),
        (700, PluginStatus::Warning, "WARNING"),
        (1200, PluginStatus::Critical, "CRITICAL"),
    ] {
        let mut c = TcpCheck::new("db.example", 5432);
        (c.warning, c.critical) = (Some(0.5), Some(1.0));
        let mut s = session(c);
        s.handle_connected(ms(at));
        let r = result_of(&mut s);
        assert_eq!(r.status, status);
        let secs = at as f64 / 1000.0;
        assert_eq!(
            r.output,
            format!(
                "TCP {word} - {secs:.3} second response time on db.example port 5432|time={secs:.6}s;0.500000;1.000000;0.000000;10.000000"
            )
        );
    }
}

#[test]
fn send_and_expect_a_banner() {
    let mut c = TcpCheck::new("127.0.0.1", 8080);
    c.send = Some(b"GET / HTTP/1.0\r\n\r\n".to_vec());
    c.expect = vec![b"HTTP/1.0 200".to_vec()];
    let mut s = session(c);
    s.handle_connected(ms(1));
    assert!(s.poll_event().is_none());
    let mut out = Vec::new();
    s.poll_transmit(&mut out);
    assert_eq!(out, b"GET / HTTP/1.0\r\n\r\n");
    // The match may straddle reads.
    s.handle_input(ms(2), b"HTTP/1.0 2");
    assert!(s.poll_event().is_none());
    s.handle_input(ms(3), b"00 OK\r\nServer: x|y\r\n\r\n<html>");
    let r = result_of(&mut s);
    assert_eq!(
        r.output,
        "TCP OK - 0.003 second response time on 127.0.0.1 port 8080 [HTTP/1.0 200 OK]|time=0.003000s;;;0.000000;10.000000"
    );
}

#[test]
fn mismatch_states_and_display() {
    for (mismatch, word, code) in
        [(PluginStatus::Warning, "WARNING", 1), (PluginStatus::Critical, "CRITICAL", 2), (PluginStatus::Ok, "OK", 0)]
    {
        let mut c = TcpCheck::new("h", 1);
        c.expect = vec![b"XYZ".to_vec()];
        c.mismatch = mismatch;
        let mut s = session(c);
        s.handle_connected(ms(1));
        s.handle_input(ms(2), b"SSH-2.0-OpenSSH|9.2\r\nmore\r\n");
        s.handle_input(ms(2), b"");
        let r = result_of(&mut s);
        assert_eq!(r.exit_code(), code);
        assert_eq!(
            r.output,
            format!(
                "TCP {word} - Unexpected response from host/socket: SSH-2.0-OpenSSH¦9.2|time=0.002000s;;;0.000000;10.000000"
            )
        );
    }
}

#[test]
fn hidden_output_and_read_limit() {
    let mut c = TcpCheck::new("h", 1);
    c.expect = vec![b"never".to_vec()];
    c.max_bytes = 8;
    c.hide_output = true;
    let mut s = session(c);
    s.handle_connected(ms(1));
    s.handle_input(ms(4), b"0123456789");
    let r = result_of(&mut s);
    assert_eq!(
        r.output,
        "TCP WARNING - Unexpected response from host/socket on h port 1|time=0.004000s;;;0.000000;10.000000"
    );
}

#[test]
fn any_or_all_expect_strings() {
    for (all, want) in [(false, PluginStatus::Ok), (true, PluginStatus::Warning)] {
        let mut c = TcpCheck::new("h", 1);
        c.expect = vec![b"220".to_vec(), b"ESMTP Postfix".to_vec()];
        c.expect_all = all;
        let mut s = session(c);
        s.handle_connected(ms(1));
        s.handle_input(ms(2), b"220 mail ESMTP Exim\r\n");
        if all {
            assert!(s.poll_event().is_none(), "still waiting for the second string");
            s.handle_input(ms(3), b"");
        }
        assert_eq!(result_of(&mut s).status, want);
    }
}

#[test]
fn send_without_expect_waits_for_one_response() {
    let mut c = TcpCheck::new("h", 7);
    c.send = Some(b"ping\n".to_vec());
    let mut s = session(c);
    s.handle_connected(ms(1));
    assert!(s.poll_event().is_none());
    s.handle_input(ms(5), b"pong\n");
    assert_eq!(
        result_of(&mut s).output,
        "TCP OK - 0.005 second response time on h port 7 [pong]|time=0.005000s;;;0.000000;10.000000"
    );
}

#[test]
fn nothing_received_is_critical() {
    let mut c = TcpCheck::new("h", 1);
    c.expect = vec![b"+OK".to_vec()];
    let mut s = session(c);
    s.handle_connected(ms(1));
    s.handle_input(ms(2), b"");
    let r = result_of(&mut s);
    assert_eq!((r.status, r.output.as_str()), (PluginStatus::Critical, "TCP CRITICAL - No data received from host"));
}

#[test]
fn timeout_during_connect_or_read() {
    let mut c = TcpCheck::new("h", 1);
    c.timeout = Duration::from_secs(3);
    c.expect = vec![b"x".to_vec()];
    for connected in [false, true] {
        let mut s = session(c.clone());
        if connected {
            s.handle_connected(ms(1));
        }
        s.handle_timeout(ms(2_999));
        assert!(s.poll_event().is_none(), "not yet");
        s.handle_timeout(ms(3_000));
        let r = result_of(&mut s);
        assert_eq!(
            (r.status, r.output.as_str()),
            (PluginStatus::Critical, "CRITICAL - Socket timeout after 3 seconds")
        );
        assert_eq!((s.state(), s.poll_timeout()), (StreamState::Close, None));
    }
}

#[test]
fn connect_errors_and_the_refuse_state() {
    let mut s = session(TcpCheck::new("localhost", 1));
    s.handle_connect_error(ms(1), "Connection refused", true);
    let r = result_of(&mut s);
    assert_eq!(
        (r.status, r.output.as_str()),
        (PluginStatus::Critical, "connect to address localhost and port 1: Connection refused")
    );
    assert_eq!(r.elapsed, None);
    let mut c = TcpCheck::new("10.0.0.1", 1);
    c.refuse = PluginStatus::Ok;
    let mut s = session(c.clone());
    s.handle_connect_error(ms(1), "Connection refused", true);
    assert_eq!(result_of(&mut s).status, PluginStatus::Ok);
    let mut s = session(c);
    s.handle_connect_error(ms(1), "No route to host", false);
    assert_eq!(result_of(&mut s).status, PluginStatus::Critical);
}

#[test]
fn a_reset_is_judged_on_what_arrived() {
    let mut c = TcpCheck::new("h", 1);
    c.expect = vec![b"ok".to_vec()];
    let mut s = session(c);
    s.handle_connected(ms(1));
    s.handle_input(ms(2), b"nope");
    s.handle_io_error(ms(3), "Connection reset by peer");
    assert_eq!(result_of(&mut s).status, PluginStatus::Warning);
}

#[test]
fn quit_string_is_sent_before_closing() {
    let mut c = TcpCheck::new("h", 25);
    c.expect = vec![b"220".to_vec()];
    c.quit = Some(b"QUIT\r\n".to_vec());
    let mut s = session(c);
    s.handle_connected(ms(1));
    s.handle_input(ms(2), b"220 hi\r\n");
    assert_eq!(result_of(&mut s).status, PluginStatus::Ok);
    assert_eq!(s.state(), StreamState::CloseWrite);
    let mut out = Vec::new();
    s.poll_transmit(&mut out);
    assert_eq!(out, b"QUIT\r\n");
    // A peer that never closes is given up at the check's deadline, silently.
    s.handle_timeout(ms(10_000));
    assert_eq!(s.state(), StreamState::Close);
    assert!(s.poll_event().is_none());
}

#[test]
fn garbage_never_panics() {
    let mut c = TcpCheck::new("h", 1);
    c.expect = vec![vec![0xff; 3]];
    c.max_bytes = 3;
    let mut s = session(c);
    s.handle_input(ms(0), &[0xff; 5]);
    s.handle_connected(ms(1));
    s.handle_connected(ms(1));
    s.handle_input(ms(2), &[0xc3, 0x28, b'|', 0xff]);
    let r = result_of(&mut s);
    assert!(r.output.contains("host/socket: \u{fffd}(¦|time="), "{}", r.output);
    s.handle_input(ms(3), b"more");
    s.handle_timeout(ms(100_000));
    assert!(s.poll_event().is_none());
}

// --------------------------------------------------------------------------- TLS

#[derive(Debug)]
struct FixedTime(i64);

impl rustls::time_provider::TimeProvider for FixedTime {
    fn current_time(&self) -> Option<UnixTime> {
        Some(UnixTime::since_unix_epoch(Duration::from_secs(self.0 as u64)))
    }
}

fn server() -> rustls::ServerConnection {
    let certs = vec![CertificateDer::from_pem_slice(EC_PEM).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(EC_KEY).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    rustls::ServerConnection::new(Arc::new(config)).unwrap()
}

fn tls_check(verify: CertVerification, at: i64, days: (Option<u32>, Option<u32>)) -> TcpCheck {
    let mut c = TcpCheck::new("bergamot.test", 443);
    c.tls = Some(TlsCheck {
        config: tls_client_config(verify, Arc::new(FixedTime(at))).unwrap(),
        server_name: ServerName::try_from("bergamot.test").unwrap(),
        days_warning: days.0,
        days_critical: days.1,
    });
    c
}

/// Moves bytes between the session and an in-memory server that answers each
/// request with it in upper case, until the session has its result.
fn talk(s: &mut TcpSession, server: &mut rustls::ServerConnection) -> TcpResult {
    s.handle_connected(ms(1));
    for step in 2..40 {
        let mut out = Vec::new();
        s.poll_transmit(&mut out);
        let mut rd = &out[..];
        while !rd.is_empty() {
            server.read_tls(&mut rd).unwrap();
            if server.process_new_packets().is_err() {
                break;
            }
        }
        let mut plain = [0u8; 1024];
        if let Ok(n) = server.reader().read(&mut plain) {
            server.writer().write_all(&plain[..n].to_ascii_uppercase()).unwrap();
        }
        let mut back = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut back).unwrap();
        }
        if !back.is_empty() {
            s.handle_input(ms(step), &back);
        }
        if let Some(r) = s.poll_event() {
            return r;
        }
    }
    panic!("no result");
}

fn ec_times() -> (i64, i64) {
    let c = parse_certificate(EC_DER).unwrap();
    (c.not_before, c.not_after)
}

#[test]
fn tls_handshake_with_a_self_signed_certificate() {
    let (nb, _) = ec_times();
    let at = nb + 86_400;
    let mut s = TcpSession::new(Arc::new(tls_check(CertVerification::AcceptAny, at, (None, None))), Instant::ZERO, at);
    let r = talk(&mut s, &mut server());
    assert_eq!(r.status, PluginStatus::Ok, "{}", r.output);
    assert_eq!(r.cert_days, Some(29));
    assert_eq!(r.certificate.as_ref().and_then(|c| c.subject_cn.as_deref()), Some("bergamot.test"));
    assert!(r.output.starts_with("TCP OK - 0.002 second response time on bergamot.test port 443, certificate 'bergamot.test' expires in 29 day(s) ("), "{}", r.output);
    assert!(r.output.ends_with("|time=0.002000s;;;0.000000;10.000000"), "{}", r.output);
}

#[test]
fn tls_with_send_and_expect() {
    let (nb, _) = ec_times();
    let mut c = tls_check(CertVerification::AcceptAny, nb + 60, (None, None));
    c.send = Some(b"hello tls\n".to_vec());
    c.expect = vec![b"HELLO TLS".to_vec()];
    let mut s = TcpSession::new(Arc::new(c), Instant::ZERO, nb + 60);
    let r = talk(&mut s, &mut server());
    assert_eq!(r.status, PluginStatus::Ok, "{}", r.output);
    assert!(r.output.contains(" [HELLO TLS], certificate 'bergamot.test' expires in 29 day(s)"), "{}", r.output);
}

#[test]
fn certificate_day_thresholds() {
    let (nb, na) = ec_times();
    // (wall clock, -D warn,crit, status, wording)
    let cases = [
        (nb + 60, (Some(20), Some(10)), PluginStatus::Ok, "expires in 29 day(s)"),
        (nb + 60, (Some(30), Some(10)), PluginStatus::Warning, "expires in 29 day(s)"),
        (na - 5 * 86_400 - 60, (Some(30), Some(7)), PluginStatus::Critical, "expires in 5 day(s)"),
        (na - 3600, (Some(30), None), PluginStatus::Critical, "expires in 0 day(s)"),
        (na + 60, (Some(30), None), PluginStatus::Critical, "expired on"),
    ];
    for (at, days, status, words) in cases {
        // Verification itself uses the time just after notBefore: only the reported
        // days move.
        let c = tls_check(CertVerification::AcceptAny, nb + 60, days);
        let mut s = TcpSession::new(Arc::new(c), Instant::ZERO, at);
        let r = talk(&mut s, &mut server());
        assert_eq!(r.status, status, "{}", r.output);
        assert!(r.output.contains(words), "{}", r.output);
        if status != PluginStatus::Ok {
            assert!(r.output.starts_with(&format!("TCP {status} - Certificate 'bergamot.test' ")), "{}", r.output);
        }
    }
}

#[test]
fn verified_against_its_own_root_and_refused_by_webpki() {
    let (nb, _) = ec_times();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(EC_PEM).unwrap()).unwrap();
    let mut s = TcpSession::new(
        Arc::new(tls_check(CertVerification::Roots(roots), nb + 60, (None, None))),
        Instant::ZERO,
        nb + 60,
    );
    let r = talk(&mut s, &mut server());
    assert_eq!(r.status, PluginStatus::Ok, "{}", r.output);

    let mut s =
        TcpSession::new(Arc::new(tls_check(CertVerification::WebPki, nb + 60, (None, None))), Instant::ZERO, nb + 60);
    let r = talk(&mut s, &mut server());
    assert_eq!(r.status, PluginStatus::Critical);
    assert!(r.output.starts_with("TCP CRITICAL - Cannot make SSL connection: "), "{}", r.output);
    assert!(r.output.contains("UnknownIssuer"), "{}", r.output);
}

#[test]
fn a_plaintext_server_fails_the_handshake() {
    let mut s = TcpSession::new(Arc::new(tls_check(CertVerification::AcceptAny, 0, (None, None))), Instant::ZERO, 0);
    s.handle_connected(ms(1));
    let mut hello = Vec::new();
    s.poll_transmit(&mut hello);
    assert_eq!(hello.first(), Some(&0x16), "a TLS handshake record");
    s.handle_input(ms(2), b"HTTP/1.0 400 Bad Request\r\n\r\n");
    let r = result_of(&mut s);
    assert_eq!(r.status, PluginStatus::Critical);
    assert!(r.output.starts_with("TCP CRITICAL - Cannot make SSL connection: "), "{}", r.output);
}
