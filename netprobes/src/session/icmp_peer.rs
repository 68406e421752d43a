//! Test support for the ICMP sessions: what a pinged target or its socket would hand
//! back, built with `wire::icmp` (shared by `ping` and `pinger` tests).

use std::net::IpAddr;

use super::Transmit;
use crate::wire::icmp::{Packet, Repr, Version};

/// The echo request inside a transmit: identifier, sequence number, data.
pub(crate) fn request(t: &Transmit, v: Version) -> (u16, u16, Vec<u8>) {
    let p = Packet::new_checked(&t.payload[..]).unwrap();
    match Repr::parse(v, &p).unwrap() {
        Repr::EchoRequest { ident, seq_no, data } => (ident, seq_no, data.to_vec()),
        other => panic!("{other:?}"),
    }
}

pub(crate) fn emit(v: Version, r: Repr<'_>) -> Vec<u8> {
    let mut b = vec![0u8; r.buffer_len(v)];
    r.emit(v, &mut Packet::new_checked(&mut b[..]).unwrap()).unwrap();
    b
}

/// What a raw v4 socket delivers: an IPv4 header from `src`, then the message.
pub(crate) fn with_ipv4_header(src: IpAddr, msg: &[u8]) -> Vec<u8> {
    let IpAddr::V4(src) = src else { panic!("v4 only") };
    let mut b = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0];
    b[2..4].copy_from_slice(&((20 + msg.len()) as u16).to_be_bytes());
    b.extend_from_slice(&src.octets());
    b.extend_from_slice(&[127, 0, 0, 1]);
    b.extend_from_slice(msg);
    b
}

/// The target's reply to `t`, as the socket of that family delivers it.
pub(crate) fn reply(t: &Transmit, v: Version) -> Vec<u8> {
    let (ident, seq_no, data) = request(t, v);
    let msg = emit(v, Repr::EchoReply { ident, seq_no, data: &data });
    match v {
        Version::V4 => with_ipv4_header(t.destination.ip(), &msg),
        Version::V6 => msg,
    }
}
