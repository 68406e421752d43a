//! Fuzz target for SNMP decoding: `Message::parse` (v1, v2c, v3 with USM parameters)
//! never panics and what it accepts re-emits to bytes that parse back to the same
//! message; v3 payloads go through HMAC verification, every privacy protocol's
//! decryption and ScopedPDU parsing; printing never panics. The input, cut into
//! length-prefixed datagrams, is then fed to a manager with v2c and v3 operations in
//! flight (so replies can match their ids and drive discovery): it never panics and
//! every operation ends with exactly one event.
#![no_main]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bergamot_netprobes::session::DatagramSession;
use bergamot_netprobes::session::snmp::{ManagerConfig, Request, Security, SnmpManager, Target};
use bergamot_netprobes::time::Instant;
use bergamot_netprobes::wire::snmp::{
    AnyPdu, AuthProtocol, Message, PrivProtocol, ScopedPdu, ScopedPduData, UserKeys, Version,
};
use libfuzzer_sys::fuzz_target;

/// Deriving keys hashes a megabyte: once per process, not per input.
fn keys() -> &'static Arc<UserKeys> {
    static KEYS: OnceLock<Arc<UserKeys>> = OnceLock::new();
    KEYS.get_or_init(|| {
        Arc::new(
            UserKeys::new(b"fuzz", Some((AuthProtocol::Sha1, b"authpass123")), Some((PrivProtocol::Aes128, b"privpass123")))
                .expect("valid passwords"),
        )
    })
}

fn check_pdu(p: &AnyPdu<'_>) {
    if let AnyPdu::Pdu(p) = p {
        for vb in &p.varbinds {
            let _ = vb.to_string();
            let _ = vb.value.as_f64();
            assert!(vb.oid.arcs().count() >= 2);
        }
    }
}

fn decoders(data: &[u8]) {
    let Ok(m) = Message::parse(data) else { return };
    let (bytes, at) = m.emit(Vec::new());
    let back = Message::parse(&bytes).expect("re-emitted message does not parse");
    // Where the auth parameters sit may move (BER lets the input use longer
    // encodings than we emit); everything else must be equal.
    fn strip<'a>(m: &Message<'a>) -> Message<'a> {
        match m.clone() {
            Message::V3(mut v) => {
                v.auth_params_at = 0..0;
                Message::V3(v)
            }
            other => other,
        }
    }
    assert_eq!(strip(&back), strip(&m), "round trip changed the message");
    if let Message::V3(b) = &back {
        assert_eq!(bytes.get(b.auth_params_at.clone()), Some(&b.usm.auth_params[..]));
        assert_eq!(b.auth_params_at, at);
    }
    if let Some(p) = m.pdu() {
        check_pdu(p);
    }
    let Message::V3(v) = &m else { return };
    assert_eq!(at.len(), v.usm.auth_params.len());
    assert!(v.auth_params_at.end <= data.len());
    let local = keys().localize(&v.usm.engine_id);
    for a in [AuthProtocol::Md5, AuthProtocol::Sha1, AuthProtocol::Sha512] {
        if let Some((_, key)) = &local.auth {
            let _ = a.verify(key, data, v.auth_params_at.clone());
        }
    }
    if let ScopedPduData::Encrypted(ct) = &v.data {
        for p in [PrivProtocol::Des, PrivProtocol::Aes128, PrivProtocol::Aes192, PrivProtocol::Aes256] {
            let key = p.extend_key(AuthProtocol::Sha1, vec![0x42; 20]);
            if let Ok(pt) = p.decrypt(&key, v.usm.engine_boots, v.usm.engine_time, &v.usm.priv_params, ct)
                && let Ok(s) = ScopedPdu::parse_decrypted(&pt)
            {
                check_pdu(&s.pdu);
            }
        }
    }
}

fn session(data: &[u8]) {
    let agent: SocketAddr = "127.0.0.1:161".parse().expect("literal");
    // Seed so that the first request id / msgID is 1: easy for the fuzzer to hit.
    let mut mgr = SnmpManager::new(ManagerConfig { seed: 1 << 32, max_in_flight: 8, max_message_size: 65507 });
    let t = |security| Target { addr: agent, security, timeout: Duration::from_secs(1), retries: 1 };
    let v2 = Security::Community { version: Version::V2c, community: b"public".to_vec() };
    let v3 = Security::Usm { keys: keys().clone(), context_name: Vec::new() };
    let root = "1.3.6.1.2.1.1".parse().expect("literal");
    let ops = [
        mgr.start(Instant::ZERO, t(v3.clone()), Request::Get(vec!["1.3.6.1.2.1.1.1.0".parse().expect("literal")])),
        mgr.start(Instant::ZERO, t(v2.clone()), Request::Walk { root, max_repetitions: 3 }),
        mgr.start(Instant::ZERO, t(v3), Request::GetNext(vec!["1.3.6".parse().expect("literal")])),
        mgr.start(Instant::ZERO, t(v2), Request::Get(vec!["1.3.6.1.2.1.1.3.0".parse().expect("literal")])),
    ];
    let started = ops.iter().filter(|o| o.is_ok()).count();
    let mut now = Instant::ZERO;
    let mut rest = data;
    let mut events = 0;
    while let [hi, lo, tail @ ..] = rest {
        let n = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
        let (gram, after) = tail.split_at(n);
        rest = after;
        while mgr.poll_transmit(now).is_some() {}
        mgr.handle_datagram(now, agent, gram);
        while mgr.poll_event().is_some() {
            events += 1;
        }
    }
    // Time runs out for whatever is left: every operation ends once.
    for _ in 0..64 {
        while mgr.poll_transmit(now).is_some() {}
        while mgr.poll_event().is_some() {
            events += 1;
        }
        match mgr.poll_timeout() {
            Some(d) => {
                now = now.max(d);
                mgr.handle_timeout(now);
            }
            None => break,
        }
    }
    while mgr.poll_event().is_some() {
        events += 1;
    }
    assert_eq!(mgr.in_flight(), 0);
    assert_eq!(events, started, "each operation ends with exactly one event");
}

fuzz_target!(|data: &[u8]| {
    decoders(data);
    session(data);
});
