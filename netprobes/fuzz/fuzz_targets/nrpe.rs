//! Fuzz target for the NRPE decoder: framing, the checked view and `Repr::parse` never
//! panic, agree with each other, and whatever parses re-emits to a packet that parses
//! back to the same representation. The same bytes, cut into pieces, are then fed to a
//! plaintext NRPE session as the server's answer: it ends with exactly one event.
#![no_main]

use bergamot_netprobes::session::nrpe::{NrpeEvent, NrpeQuery, NrpeSession};
use bergamot_netprobes::session::{StreamSession, StreamState};
use bergamot_netprobes::time::Instant;
use bergamot_netprobes::wire::nrpe::{DEFAULT_MAX_BUFFER_LEN, Packet, PacketType, Repr, Version, frame_len};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks a small cap sometimes, so the length checks are exercised.
    let max = match data.first() {
        Some(b) if b % 4 == 0 => usize::from(*b) * 8,
        _ => DEFAULT_MAX_BUFFER_LEN,
    };
    let framed = frame_len(data, max);
    let parsed = Repr::parse_bytes(data, max);
    if let Ok(repr) = &parsed {
        // A parsed packet was framed, and fits in what we were given.
        let len = framed.clone().ok().flatten().expect("parsed without a frame length");
        assert!(len <= data.len());
        let packet = Packet::new_checked(data).expect("parsed but the checked view refuses");
        assert_eq!(packet.as_bytes().len(), len);
        assert_eq!(packet.text(), repr.text);
        assert_eq!(packet.crc(), packet.compute_crc());
        assert!(repr.text.iter().all(|&c| c != 0));
        // Re-emit: what comes back parses to the same thing. v2 text is capped at
        // 1,023 bytes on emission, so a v2 buffer without NUL cannot round-trip.
        if repr.check_text().is_ok() {
            let bytes = repr.to_vec().expect("check_text passed but emit failed");
            let again = Repr::parse_bytes(&bytes, usize::MAX).expect("our own packet does not parse");
            assert_eq!(&again, repr);
        } else {
            assert_eq!(repr.version, Version::V2);
        }
        let _ = matches!(repr.packet_type, PacketType::Query | PacketType::Response | PacketType::ResponseMore);
    }
    // Accessors on an unchecked view never panic either.
    let view = Packet::new_unchecked(data);
    let _ = (view.version_raw(), view.packet_type_raw(), view.result_code(), view.buffer_length_raw());
    let _ = (view.as_bytes(), view.buffer_field(), view.text(), view.compute_crc());

    session(data, max);
});

/// Feeds `data` to a session in pieces whose sizes come from the data itself.
fn session(data: &[u8], max: usize) {
    let version = if data.len() % 2 == 0 { Version::V4 } else { Version::V2 };
    let query = NrpeQuery { version, max_buffer: max.max(1), ..NrpeQuery::new("check_x", vec![]) };
    let t0 = Instant(1);
    let mut s = NrpeSession::new(t0, &query, None).expect("a valid query");
    s.handle_connected(t0);
    let mut out = Vec::new();
    s.poll_transmit(&mut out);
    let step = usize::from(data.get(1).copied().unwrap_or(7)).max(1);
    for piece in data.chunks(step) {
        s.handle_input(t0, piece);
    }
    s.handle_input(t0, &[]);
    let event = s.poll_event().expect("a session that saw the end of its input has an event");
    assert!(s.poll_event().is_none());
    assert_eq!(s.state(), StreamState::Close);
    if let NrpeEvent::Answer(a) = event {
        assert!(a.text.len() <= query.max_buffer.saturating_mul(3), "text within the cap (UTF-8 repair may grow it)");
    }
}
