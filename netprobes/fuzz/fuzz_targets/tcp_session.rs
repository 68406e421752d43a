//! Fuzz target for the TCP check session: whatever a server sends (plain, or as TLS
//! records to a handshaking client), in whatever pieces, the session never panics,
//! reports exactly one result once it has one, and stops wanting the connection after.
//! First byte: mode (plain / TLS) and check options; the rest is cut into reads at
//! 0xFF bytes.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bergamot_netprobes::session::tcp::{
    CertVerification, TcpCheck, TcpSession, TlsCheck, fixed_time, tls_client_config,
};
use bergamot_netprobes::session::{StreamSession, StreamState};
use bergamot_netprobes::time::Instant;
use libfuzzer_sys::fuzz_target;

fn tls() -> &'static TlsCheck {
    static TLS: OnceLock<TlsCheck> = OnceLock::new();
    TLS.get_or_init(|| {
        let config = tls_client_config(CertVerification::AcceptAny, fixed_time(1_700_000_000)).expect("config");
        let mut t = TlsCheck::new(config, "bergamot.test").expect("name");
        (t.days_warning, t.days_critical) = (Some(30), Some(7));
        t
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let mut check = TcpCheck::new("h", 1);
    if mode & 1 != 0 {
        check.tls = Some(tls().clone());
    }
    if mode & 2 != 0 {
        check.send = Some(b"hello\r\n".to_vec());
    }
    if mode & 4 != 0 {
        check.expect = vec![b"OK".to_vec(), b"220".to_vec()];
        check.expect_all = mode & 8 != 0;
    }
    if mode & 16 != 0 {
        check.quit = Some(b"QUIT\r\n".to_vec());
    }
    check.max_bytes = if mode & 32 != 0 { 16 } else { 4096 };
    let mut s = TcpSession::new(Arc::new(check), Instant::ZERO, 1_700_000_000);
    s.handle_connected(Instant::from_nanos(1_000));
    let mut results = 0;
    let mut out = Vec::new();
    for (i, piece) in rest.split(|&b| b == 0xff).enumerate() {
        out.clear();
        s.poll_transmit(&mut out);
        let closed_before = results > 0;
        s.handle_input(Instant::from_nanos(2_000 + i as u64), piece);
        while s.poll_event().is_some() {
            results += 1;
        }
        assert!(results <= 1, "one result per run");
        if closed_before {
            assert_ne!(s.state(), StreamState::Open);
        }
    }
    s.handle_timeout(Instant::ZERO + Duration::from_secs(11));
    while s.poll_event().is_some() {
        results += 1;
    }
    assert_eq!(results, 1, "a result at the latest at the deadline");
    assert_eq!(s.state(), StreamState::Close);
});
