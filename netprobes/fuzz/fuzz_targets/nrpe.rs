//! Fuzz target for the NRPE decoder: framing, the checked view and `Repr::parse` never
//! panic, agree with each other, and whatever parses re-emits to a packet that parses
//! back to the same representation.
#![no_main]

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
});
