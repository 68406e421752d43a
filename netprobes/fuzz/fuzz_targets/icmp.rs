//! Fuzz target for the ICMP decoder: the raw-IPv4 split, the checked view and
//! `Repr::parse` never panic for either version; whatever parses re-emits to a
//! message that parses back to the same representation; the echo stamp never panics.
//! The same bytes are then fed to ping sessions (v4 and v6) with a packet in flight:
//! they never panic and keep their counters consistent.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use bergamot_netprobes::session::DatagramSession;
use bergamot_netprobes::session::ping::{PingConfig, PingSession};
use bergamot_netprobes::time::Instant;
use bergamot_netprobes::wire::icmp::{EchoStamp, Packet, Repr, Version, checksum, split_ipv4, split_raw_v4};
use libfuzzer_sys::fuzz_target;

fn round_trip(version: Version, msg: &[u8]) {
    let Ok(packet) = Packet::new_checked(msg) else {
        assert!(msg.len() < 8);
        return;
    };
    let Ok(repr) = Repr::parse(version, &packet) else { return };
    if version == Version::V4 {
        assert!(packet.verify_checksum_v4());
    }
    let mut buf = vec![0u8; repr.buffer_len(version)];
    let mut out = Packet::new_checked(&mut buf[..]).expect("buffer_len is at least the header");
    repr.emit(version, &mut out).expect("a parsed message re-emits");
    let again = Repr::parse(version, &Packet::new_checked(&buf[..]).expect("emitted")).expect("re-parses");
    assert_eq!(again, repr);
    if let Repr::EchoRequest { data, .. } | Repr::EchoReply { data, .. } = repr {
        // Echo re-emits byte for byte (the checksum aside, for v6).
        assert_eq!(&buf[8..], data);
        assert_eq!(&buf[..2], &msg[..2]);
        let _ = EchoStamp::parse(data);
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = checksum::sum(data);
    if let Ok((h, msg)) = split_ipv4(data) {
        assert!(h.header_len >= 20 && h.header_len + msg.len() == h.total_len && h.total_len <= data.len());
    }
    match split_raw_v4(data) {
        Ok((_, msg)) => round_trip(Version::V4, msg),
        Err(_) => assert_eq!(data.first().map(|b| b >> 4), Some(4)),
    }
    round_trip(Version::V4, data);
    round_trip(Version::V6, data);

    for (version, target) in
        [(Version::V4, IpAddr::V4(Ipv4Addr::LOCALHOST)), (Version::V6, IpAddr::V6(Ipv6Addr::LOCALHOST))]
    {
        let config =
            PingConfig { count: 2, ident: 0, cookie: 0, timeout: Duration::from_millis(100), ..PingConfig::default() };
        let mut s = PingSession::new(config.clone(), version, [target], Instant::ZERO).expect("valid config");
        let _ = s.poll_transmit(Instant::ZERO);
        s.handle_datagram(Instant::from_nanos(1_000), SocketAddr::new(target, 0), data);
        s.handle_timeout(Instant::from_nanos(2_000));
        while s.poll_event().is_some() {}
        let (_, st) = s.target(0).expect("one target");
        assert!(st.received + st.errors <= st.sent && st.sent <= 2);

        // fping's default mode: the first try timed out and was retried, so the
        // datagram (twice) may answer the first try, the retry, or be late.
        let config = PingConfig { count: 1, retries: 2, ..config };
        let mut s = PingSession::new(config, version, [target], Instant::ZERO).expect("valid config");
        let _ = s.poll_transmit(Instant::ZERO);
        let ms = |n: u64| Instant::from_nanos(n * 1_000_000);
        s.handle_timeout(ms(100));
        let _ = s.poll_transmit(ms(100));
        for at in [ms(150), ms(160)] {
            s.handle_datagram(at, SocketAddr::new(target, 0), data);
        }
        s.handle_timeout(ms(10_000));
        let _ = s.poll_transmit(ms(10_000));
        s.handle_timeout(ms(20_000));
        while s.poll_event().is_some() {}
        let (_, st) = s.target(0).expect("one target");
        assert!(st.received <= 1 && st.sent <= 3, "{st:?}");
        assert!(s.is_done());
    }
});
