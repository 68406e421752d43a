//! ICMPv4 and ICMPv6 echo (request, reply) and the two errors that quote one of our
//! echo requests (destination unreachable, time exceeded): a zero-copy [`Packet`] view,
//! a validated [`Repr`] with `parse`/`emit`, the Internet [`checksum`], the IPv4 header
//! that raw IPv4 sockets put in front of every message, and the [`EchoStamp`] our echo
//! data starts with. Not here: other ICMP types (refused as [`Error::Unsupported`]), IP
//! options beyond skipping them, IPv6 extension headers inside quoted packets.
//!
//! Sockets and checksums (why parse and emit differ by family):
//! - A raw IPv4 socket (`SOCK_RAW`, `IPPROTO_ICMP`) receives the whole IP packet and
//!   does *not* verify the ICMP checksum, so [`Repr::parse`] verifies it for v4 and
//!   [`split_ipv4`] strips the IP header. An unprivileged ICMP datagram socket
//!   (`SOCK_DGRAM`) delivers the bare message; [`split_raw_v4`] tells the two apart by
//!   the first nibble (no ICMP type we accept is `0x40..=0x4f`).
//! - A raw ICMPv6 socket delivers the bare message, and the kernel both verifies the
//!   checksum on receive and computes it on send (RFC 3542 §3.1: always on for
//!   ICMPv6), because it needs the IPv6 pseudo-header, whose source address only the
//!   kernel knows before routing. So v6 is emitted with a zero checksum and parsed
//!   without checking it; [`Packet::verify_checksum_v6`] exists for captures.
//!
//! Nothing here panics on any input: the view is only built by `new_checked`, and
//! every byte access goes through `get`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Length of the ICMP header shared by every type we handle (type, code, checksum and
/// four type-specific bytes: identifier and sequence for echo, unused for errors).
pub const HEADER_LEN: usize = 8;
/// Length of an IPv6 header (fixed; no extension headers on the packets we quote).
pub const IPV6_HEADER_LEN: usize = 40;
/// Minimum length of an IPv4 header (IHL 5).
pub const IPV4_MIN_HEADER_LEN: usize = 20;

const PROTO_ICMP: u8 = 1;
const NEXT_HEADER_ICMPV6: u8 = 58;

/// Which ICMP: the type numbers and checksum rules differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    V4,
    V6,
}

impl Version {
    /// The version of `addr`'s family.
    pub fn of(addr: IpAddr) -> Version {
        match addr {
            IpAddr::V4(_) => Version::V4,
            IpAddr::V6(_) => Version::V6,
        }
    }

    pub fn echo_request(self) -> u8 {
        match self {
            Version::V4 => 8,
            Version::V6 => 128,
        }
    }

    pub fn echo_reply(self) -> u8 {
        match self {
            Version::V4 => 0,
            Version::V6 => 129,
        }
    }

    pub fn dst_unreachable(self) -> u8 {
        match self {
            Version::V4 => 3,
            Version::V6 => 1,
        }
    }

    pub fn time_exceeded(self) -> u8 {
        match self {
            Version::V4 => 11,
            Version::V6 => 3,
        }
    }
}

/// Why bytes were not accepted. Small and `Copy`: a receive path sees many of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("truncated {what}: need {need} bytes, got {got}")]
    Truncated { what: &'static str, need: usize, got: usize },
    #[error("bad ICMPv4 checksum {found:#06x}")]
    Checksum { found: u16 },
    #[error("{what}: IP version {found}, expected {expected}")]
    IpVersion { what: &'static str, found: u8, expected: u8 },
    #[error("{what}: IPv4 header length {found} bytes is below 20")]
    Ipv4HeaderLen { what: &'static str, found: usize },
    #[error("{what}: protocol {found}, expected ICMP")]
    NotIcmp { what: &'static str, found: u8 },
    #[error("ICMP{version:?} type {msg_type} code {code} is not echo or an error quoting one")]
    Unsupported { version: Version, msg_type: u8, code: u8 },
    #[error("ICMP{version:?} error quotes type {msg_type}, not an echo request")]
    QuotedNotEcho { version: Version, msg_type: u8 },
    #[error("an ICMP{version:?} message cannot carry {addr}")]
    FamilyMismatch { version: Version, addr: IpAddr },
}

fn be16(b: &[u8], at: usize) -> u16 {
    match b.get(at..at + 2) {
        Some(&[x, y]) => u16::from_be_bytes([x, y]),
        _ => 0,
    }
}

fn put16(b: &mut [u8], at: usize, v: u16) {
    if let Some(s) = b.get_mut(at..at + 2) {
        s.copy_from_slice(&v.to_be_bytes());
    }
}

fn need(what: &'static str, b: &[u8], len: usize) -> Result<(), Error> {
    if b.len() < len { Err(Error::Truncated { what, need: len, got: b.len() }) } else { Ok(()) }
}

/// The Internet checksum (RFC 1071): one's-complement sum of 16-bit big-endian words.
pub mod checksum {
    use std::net::Ipv6Addr;

    fn fold(mut acc: u64) -> u16 {
        while acc > 0xffff {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        // The loop leaves acc <= 0xffff.
        acc as u16
    }

    /// Folded one's-complement sum of `data` (not inverted); an odd last byte is
    /// padded with a zero on the right.
    pub fn sum(data: &[u8]) -> u16 {
        let mut acc: u64 = 0;
        // Eight bytes at a time: one's-complement addition is associative, so the
        // 16-bit words can be summed as wider big-endian integers and folded at the end.
        let mut wide = data.chunks_exact(8);
        for c in &mut wide {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            let v = u64::from_be_bytes(w);
            acc += (v >> 32) + (v & 0xffff_ffff);
        }
        let mut pairs = wide.remainder().chunks_exact(2);
        for c in &mut pairs {
            if let &[a, b] = c {
                acc += u64::from(u16::from_be_bytes([a, b]));
            }
        }
        if let &[last] = pairs.remainder() {
            acc += u64::from(last) << 8;
        }
        fold(acc)
    }

    /// One's-complement sum of partial sums.
    pub fn combine(parts: &[u16]) -> u16 {
        fold(parts.iter().map(|&p| u64::from(p)).sum())
    }

    /// Partial sum of the IPv6 pseudo-header (RFC 8200 §8.1).
    pub fn pseudo_header_v6(src: &Ipv6Addr, dst: &Ipv6Addr, upper_len: u32, next_header: u8) -> u16 {
        let len = upper_len.to_be_bytes();
        combine(&[sum(&src.octets()), sum(&dst.octets()), sum(&len), u16::from(next_header)])
    }
}

/// A read/write view of one ICMP message (header and body), for either version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` if it holds at least the 8-byte header.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        need("ICMP header", buffer.as_ref(), HEADER_LEN)?;
        Ok(Packet { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref().first().copied().unwrap_or(0)
    }

    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref().get(1).copied().unwrap_or(0)
    }

    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }

    /// Identifier of an echo message.
    pub fn echo_ident(&self) -> u16 {
        be16(self.buffer.as_ref(), 4)
    }

    /// Sequence number of an echo message.
    pub fn echo_seq_no(&self) -> u16 {
        be16(self.buffer.as_ref(), 6)
    }

    /// Everything after the 8-byte header: echo data, or the quoted packet of an error.
    pub fn body(&self) -> &[u8] {
        self.buffer.as_ref().get(HEADER_LEN..).unwrap_or(&[])
    }

    /// True if the ICMPv4 checksum over the whole message is right.
    pub fn verify_checksum_v4(&self) -> bool {
        checksum::sum(self.buffer.as_ref()) == 0xffff
    }

    /// True if the ICMPv6 checksum (with the pseudo-header of `src` → `dst`) is right.
    pub fn verify_checksum_v6(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        let b = self.buffer.as_ref();
        let len = u32::try_from(b.len()).unwrap_or(u32::MAX);
        let pseudo = checksum::pseudo_header_v6(src, dst, len, NEXT_HEADER_ICMPV6);
        checksum::combine(&[pseudo, checksum::sum(b)]) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_msg_type(&mut self, v: u8) {
        if let Some(b) = self.buffer.as_mut().first_mut() {
            *b = v;
        }
    }

    pub fn set_msg_code(&mut self, v: u8) {
        if let Some(b) = self.buffer.as_mut().get_mut(1) {
            *b = v;
        }
    }

    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), 2, v);
    }

    pub fn set_echo_ident(&mut self, v: u16) {
        put16(self.buffer.as_mut(), 4, v);
    }

    pub fn set_echo_seq_no(&mut self, v: u16) {
        put16(self.buffer.as_mut(), 6, v);
    }

    pub fn body_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut().get_mut(HEADER_LEN..).unwrap_or(&mut [])
    }

    /// Computes and stores the ICMPv4 checksum.
    pub fn fill_checksum_v4(&mut self) {
        self.set_checksum(0);
        let c = !checksum::sum(self.buffer.as_ref());
        self.set_checksum(c);
    }

    /// Computes and stores the ICMPv6 checksum (the kernel does this for raw sockets;
    /// this is for tests and captures).
    pub fn fill_checksum_v6(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        self.set_checksum(0);
        let b = self.buffer.as_ref();
        let len = u32::try_from(b.len()).unwrap_or(u32::MAX);
        let pseudo = checksum::pseudo_header_v6(src, dst, len, NEXT_HEADER_ICMPV6);
        let c = !checksum::combine(&[pseudo, checksum::sum(b)]);
        self.set_checksum(c);
    }
}

/// The fields of an IPv4 header we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Header {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
    pub protocol: u8,
    /// Header length in bytes (IHL × 4, options included).
    pub header_len: usize,
    /// Total length field: the whole original datagram, which a quote may cut short.
    pub total_len: usize,
}

fn ipv4_addr(b: &[u8], at: usize) -> Ipv4Addr {
    match b.get(at..at + 4) {
        Some(&[a, b, c, d]) => Ipv4Addr::new(a, b, c, d),
        _ => Ipv4Addr::UNSPECIFIED,
    }
}

fn ipv6_addr(b: &[u8], at: usize) -> Ipv6Addr {
    let mut o = [0u8; 16];
    if let Some(s) = b.get(at..at + 16) {
        o.copy_from_slice(s);
    }
    Ipv6Addr::from(o)
}

fn parse_ipv4_header(what: &'static str, b: &[u8]) -> Result<Ipv4Header, Error> {
    need(what, b, IPV4_MIN_HEADER_LEN)?;
    let vihl = b.first().copied().unwrap_or(0);
    if vihl >> 4 != 4 {
        return Err(Error::IpVersion { what, found: vihl >> 4, expected: 4 });
    }
    let header_len = usize::from(vihl & 0x0f) * 4;
    if header_len < IPV4_MIN_HEADER_LEN {
        return Err(Error::Ipv4HeaderLen { what, found: header_len });
    }
    need(what, b, header_len)?;
    Ok(Ipv4Header {
        src: ipv4_addr(b, 12),
        dst: ipv4_addr(b, 16),
        ttl: b.get(8).copied().unwrap_or(0),
        protocol: b.get(9).copied().unwrap_or(0),
        header_len,
        total_len: usize::from(be16(b, 2)),
    })
}

/// Splits an IPv4 packet as a raw socket delivers it into its header and the ICMP
/// message, cut at the total length (the buffer may be larger; trailing bytes are
/// link padding).
pub fn split_ipv4(packet: &[u8]) -> Result<(Ipv4Header, &[u8]), Error> {
    let h = parse_ipv4_header("IPv4 header", packet)?;
    if h.protocol != PROTO_ICMP {
        return Err(Error::NotIcmp { what: "IPv4 header", found: h.protocol });
    }
    if h.total_len < h.header_len {
        return Err(Error::Truncated { what: "IPv4 total length", need: h.header_len, got: h.total_len });
    }
    need("IPv4 packet", packet, h.total_len)?;
    let msg = packet.get(h.header_len..h.total_len).unwrap_or(&[]);
    Ok((h, msg))
}

/// What an IPv4 ICMP socket delivered: with the IP header (raw socket) or without
/// (datagram socket). A leading `0x4_` byte can only be an IPv4 header: no ICMP type
/// we accept lies in `0x40..=0x4f`.
pub fn split_raw_v4(datagram: &[u8]) -> Result<(Option<Ipv4Header>, &[u8]), Error> {
    match datagram.first() {
        Some(b) if b >> 4 == 4 => split_ipv4(datagram).map(|(h, m)| (Some(h), m)),
        _ => Ok((None, datagram)),
    }
}

/// The echo request an ICMP error quotes: enough to find which probe it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotedEcho {
    pub source: IpAddr,
    pub destination: IpAddr,
    pub ident: u16,
    pub seq_no: u16,
}

/// A validated ICMP message of a kind a ping cares about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repr<'a> {
    EchoRequest {
        ident: u16,
        seq_no: u16,
        data: &'a [u8],
    },
    EchoReply {
        ident: u16,
        seq_no: u16,
        data: &'a [u8],
    },
    /// Destination unreachable, with its code (v4: 0 net, 1 host, 3 port, 13
    /// administratively prohibited…; v6: 0 no route, 1 prohibited, 3 address…).
    DstUnreachable {
        code: u8,
        quoted: QuotedEcho,
    },
    /// Time exceeded (code 0: hop limit / TTL in transit; 1: reassembly).
    TimeExceeded {
        code: u8,
        quoted: QuotedEcho,
    },
}

/// Bytes of a quoted echo we emit after the quoted IP header (RFC 792 asks for at
/// least the first 64 bits of the original datagram, and that is all we read).
const QUOTED_ECHO_LEN: usize = HEADER_LEN;

impl<'a> Repr<'a> {
    /// Parses a message. v4: the checksum is verified here (raw v4 sockets do not);
    /// v6: it is not (the kernel did, see the module doc).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(version: Version, packet: &Packet<&'a T>) -> Result<Repr<'a>, Error> {
        let buf: &'a [u8] = packet.buffer.as_ref();
        if version == Version::V4 && !packet.verify_checksum_v4() {
            return Err(Error::Checksum { found: packet.checksum() });
        }
        let (t, code) = (packet.msg_type(), packet.msg_code());
        let data = buf.get(HEADER_LEN..).unwrap_or(&[]);
        let (ident, seq_no) = (packet.echo_ident(), packet.echo_seq_no());
        if t == version.echo_request() && code == 0 {
            Ok(Repr::EchoRequest { ident, seq_no, data })
        } else if t == version.echo_reply() && code == 0 {
            Ok(Repr::EchoReply { ident, seq_no, data })
        } else if t == version.dst_unreachable() {
            Ok(Repr::DstUnreachable { code, quoted: parse_quote(version, data)? })
        } else if t == version.time_exceeded() {
            Ok(Repr::TimeExceeded { code, quoted: parse_quote(version, data)? })
        } else {
            Err(Error::Unsupported { version, msg_type: t, code })
        }
    }

    /// Bytes [`Repr::emit`] writes for this message.
    pub fn buffer_len(&self, version: Version) -> usize {
        match self {
            Repr::EchoRequest { data, .. } | Repr::EchoReply { data, .. } => HEADER_LEN + data.len(),
            Repr::DstUnreachable { .. } | Repr::TimeExceeded { .. } => {
                let ip = match version {
                    Version::V4 => IPV4_MIN_HEADER_LEN,
                    Version::V6 => IPV6_HEADER_LEN,
                };
                HEADER_LEN + ip + QUOTED_ECHO_LEN
            }
        }
    }

    /// Writes the message into the first [`Repr::buffer_len`] bytes of `packet`. v4
    /// messages get their checksum; v6 ones a zero checksum for the kernel to fill.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, version: Version, packet: &mut Packet<T>) -> Result<(), Error> {
        let len = self.buffer_len(version);
        need("ICMP buffer", packet.buffer.as_ref(), len)?;
        let (msg_type, code) = match self {
            Repr::EchoRequest { ident, seq_no, data } | Repr::EchoReply { ident, seq_no, data } => {
                packet.set_echo_ident(*ident);
                packet.set_echo_seq_no(*seq_no);
                if let Some(d) = packet.body_mut().get_mut(..data.len()) {
                    d.copy_from_slice(data);
                }
                let t = if matches!(self, Repr::EchoRequest { .. }) {
                    version.echo_request()
                } else {
                    version.echo_reply()
                };
                (t, 0)
            }
            Repr::DstUnreachable { code, quoted } | Repr::TimeExceeded { code, quoted } => {
                packet.set_echo_ident(0);
                packet.set_echo_seq_no(0);
                emit_quote(version, quoted, packet.body_mut())?;
                let t = if matches!(self, Repr::DstUnreachable { .. }) {
                    version.dst_unreachable()
                } else {
                    version.time_exceeded()
                };
                (t, *code)
            }
        };
        packet.set_msg_type(msg_type);
        packet.set_msg_code(code);
        packet.set_checksum(0);
        if version == Version::V4 {
            match packet.buffer.as_mut().get_mut(..len) {
                Some(b) => Packet { buffer: b }.fill_checksum_v4(),
                None => return Err(Error::Truncated { what: "ICMP buffer", need: len, got: 0 }),
            }
        }
        Ok(())
    }
}

/// Parses the body of an error: the quoted IP header and the first 8 bytes of our
/// echo request.
fn parse_quote(version: Version, b: &[u8]) -> Result<QuotedEcho, Error> {
    let (source, destination, icmp) = match version {
        Version::V4 => {
            let h = parse_ipv4_header("quoted IPv4 header", b)?;
            if h.protocol != PROTO_ICMP {
                return Err(Error::NotIcmp { what: "quoted IPv4 header", found: h.protocol });
            }
            (IpAddr::V4(h.src), IpAddr::V4(h.dst), b.get(h.header_len..).unwrap_or(&[]))
        }
        Version::V6 => {
            need("quoted IPv6 header", b, IPV6_HEADER_LEN)?;
            let v = b.first().copied().unwrap_or(0) >> 4;
            if v != 6 {
                return Err(Error::IpVersion { what: "quoted IPv6 header", found: v, expected: 6 });
            }
            let next = b.get(6).copied().unwrap_or(0);
            if next != NEXT_HEADER_ICMPV6 {
                return Err(Error::NotIcmp { what: "quoted IPv6 header", found: next });
            }
            (IpAddr::V6(ipv6_addr(b, 8)), IpAddr::V6(ipv6_addr(b, 24)), b.get(IPV6_HEADER_LEN..).unwrap_or(&[]))
        }
    };
    need("quoted ICMP header", icmp, QUOTED_ECHO_LEN)?;
    let t = icmp.first().copied().unwrap_or(0);
    if t != version.echo_request() {
        return Err(Error::QuotedNotEcho { version, msg_type: t });
    }
    Ok(QuotedEcho { source, destination, ident: be16(icmp, 4), seq_no: be16(icmp, 6) })
}

/// Writes a minimal quote (IP header without options + 8 bytes of echo request).
fn emit_quote(version: Version, q: &QuotedEcho, out: &mut [u8]) -> Result<(), Error> {
    let icmp_at = match (version, q.source, q.destination) {
        (Version::V4, IpAddr::V4(s), IpAddr::V4(d)) => {
            let h = out.get_mut(..IPV4_MIN_HEADER_LEN).ok_or(Error::Truncated {
                what: "quote buffer",
                need: IPV4_MIN_HEADER_LEN,
                got: 0,
            })?;
            h.fill(0);
            h[0] = 0x45; // IHL 5; indexes below are within the 20 bytes just taken
            h[2..4].copy_from_slice(&((IPV4_MIN_HEADER_LEN + QUOTED_ECHO_LEN) as u16).to_be_bytes());
            h[8] = 1; // TTL the router saw expire (or any: nobody reads it)
            h[9] = PROTO_ICMP;
            h[12..16].copy_from_slice(&s.octets());
            h[16..20].copy_from_slice(&d.octets());
            let c = !checksum::sum(h);
            h[10..12].copy_from_slice(&c.to_be_bytes());
            IPV4_MIN_HEADER_LEN
        }
        (Version::V6, IpAddr::V6(s), IpAddr::V6(d)) => {
            let h = out.get_mut(..IPV6_HEADER_LEN).ok_or(Error::Truncated {
                what: "quote buffer",
                need: IPV6_HEADER_LEN,
                got: 0,
            })?;
            h.fill(0);
            h[0] = 0x60; // indexes below are within the 40 bytes just taken
            h[4..6].copy_from_slice(&(QUOTED_ECHO_LEN as u16).to_be_bytes());
            h[6] = NEXT_HEADER_ICMPV6;
            h[7] = 1;
            h[8..24].copy_from_slice(&s.octets());
            h[24..40].copy_from_slice(&d.octets());
            IPV6_HEADER_LEN
        }
        _ => {
            // The first address of the wrong family, for the error message.
            let wrong = |a: &IpAddr| Version::of(*a) != version;
            let addr = if wrong(&q.source) { q.source } else { q.destination };
            return Err(Error::FamilyMismatch { version, addr });
        }
    };
    let icmp = out.get_mut(icmp_at..icmp_at + QUOTED_ECHO_LEN).ok_or(Error::Truncated {
        what: "quote buffer",
        need: icmp_at + QUOTED_ECHO_LEN,
        got: 0,
    })?;
    let echo = Repr::EchoRequest { ident: q.ident, seq_no: q.seq_no, data: &[] };
    echo.emit(version, &mut Packet { buffer: icmp })
}

/// What our echo data starts with: who sent it and when, so a reply is matched to
/// its request even after the 16-bit sequence space wraps, and replies to another
/// session (or another process) sharing the identifier are told apart by `cookie`.
/// The rest of the data is a fixed pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoStamp {
    /// Per-session random value.
    pub cookie: u32,
    /// Index of the target inside the session.
    pub target: u32,
    /// Send time, virtual nanoseconds (see [`crate::time::Instant`]).
    pub sent_at: u64,
}

impl EchoStamp {
    pub const LEN: usize = 16;

    /// Reads a stamp from the start of echo data; `None` if the data is shorter.
    pub fn parse(data: &[u8]) -> Option<EchoStamp> {
        let b: &[u8; Self::LEN] = data.get(..Self::LEN)?.try_into().ok()?;
        let (c, rest) = b.split_at(4);
        let (t, s) = rest.split_at(4);
        Some(EchoStamp {
            cookie: u32::from_be_bytes(c.try_into().ok()?),
            target: u32::from_be_bytes(t.try_into().ok()?),
            sent_at: u64::from_be_bytes(s.try_into().ok()?),
        })
    }

    /// Fills `data` with the stamp then the pattern `0x10, 0x11, …` (ping's filler,
    /// so a capture of ours looks familiar). Data shorter than the stamp gets a cut
    /// stamp, which [`EchoStamp::parse`] then refuses.
    pub fn emit(&self, data: &mut [u8]) {
        let mut stamp = [0u8; Self::LEN];
        stamp[..4].copy_from_slice(&self.cookie.to_be_bytes());
        stamp[4..8].copy_from_slice(&self.target.to_be_bytes());
        stamp[8..].copy_from_slice(&self.sent_at.to_be_bytes());
        for (i, b) in data.iter_mut().enumerate() {
            *b = match stamp.get(i) {
                Some(s) => *s,
                None => (i as u8).wrapping_add(0x10 - Self::LEN as u8),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captures from the real peers (netprobes/testdata/icmp/capture.sh): whole IP
    // packets. iputils ping and fping to 127.0.0.1/127.0.0.2/::1 on lo; errors from a
    // Linux router in a network namespace.
    const V4_PING_REQ: &[u8] = include_bytes!("../../testdata/icmp/v4-ping-echo-request.bin");
    const V4_PING_REP: &[u8] = include_bytes!("../../testdata/icmp/v4-ping-echo-reply.bin");
    const V4_FPING_REQ: &[u8] = include_bytes!("../../testdata/icmp/v4-fping-echo-request.bin");
    const V4_FPING_REP: &[u8] = include_bytes!("../../testdata/icmp/v4-fping-echo-reply.bin");
    const V4_UNREACH: &[u8] = include_bytes!("../../testdata/icmp/v4-dest-unreachable.bin");
    const V4_TTL: &[u8] = include_bytes!("../../testdata/icmp/v4-time-exceeded.bin");
    const V6_PING_REQ: &[u8] = include_bytes!("../../testdata/icmp/v6-ping-echo-request.bin");
    const V6_PING_REP: &[u8] = include_bytes!("../../testdata/icmp/v6-ping-echo-reply.bin");
    const V6_FPING_REQ: &[u8] = include_bytes!("../../testdata/icmp/v6-fping-echo-request.bin");
    const V6_FPING_REP: &[u8] = include_bytes!("../../testdata/icmp/v6-fping-echo-reply.bin");
    const V6_UNREACH: &[u8] = include_bytes!("../../testdata/icmp/v6-dest-unreachable.bin");
    const V6_HOPS: &[u8] = include_bytes!("../../testdata/icmp/v6-time-exceeded.bin");

    const LO6: Ipv6Addr = Ipv6Addr::LOCALHOST;

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    fn v6(s: &str) -> IpAddr {
        IpAddr::V6(s.parse().unwrap())
    }

    /// What a raw ICMPv6 socket hands us: the message without the IPv6 header, plus
    /// the addresses (from the header here; from recvmsg's source and the socket in
    /// real life) for checking the checksum.
    fn split_ipv6(p: &[u8]) -> (Ipv6Addr, Ipv6Addr, &[u8]) {
        (ipv6_addr(p, 8), ipv6_addr(p, 24), &p[IPV6_HEADER_LEN..])
    }

    fn parse4(p: &[u8]) -> (Ipv4Header, Repr<'_>) {
        let (h, msg) = split_ipv4(p).unwrap();
        (h, Repr::parse(Version::V4, &Packet::new_checked(msg).unwrap()).unwrap())
    }

    fn parse6(p: &[u8]) -> (Ipv6Addr, Ipv6Addr, Repr<'_>) {
        let (src, dst, msg) = split_ipv6(p);
        let pkt = Packet::new_checked(msg).unwrap();
        assert!(pkt.verify_checksum_v6(&src, &dst), "captured ICMPv6 checksum");
        (src, dst, Repr::parse(Version::V6, &pkt).unwrap())
    }

    /// Emits `repr` and compares with the captured message, byte for byte.
    fn reemit(version: Version, repr: &Repr<'_>, captured: &[u8], addrs: Option<(Ipv6Addr, Ipv6Addr)>) {
        let mut buf = vec![0xAAu8; repr.buffer_len(version)];
        let mut pkt = Packet::new_checked(&mut buf[..]).unwrap();
        repr.emit(version, &mut pkt).unwrap();
        if let Some((s, d)) = addrs {
            assert_eq!(pkt.checksum(), 0, "v6 leaves the checksum to the kernel");
            pkt.fill_checksum_v6(&s, &d);
        }
        assert_eq!(buf, captured);
    }

    #[test]
    fn iputils_ping_v4_request_and_reply() {
        let (h, req) = parse4(V4_PING_REQ);
        assert_eq!(
            (h.src, h.dst, h.ttl, h.header_len, h.total_len),
            (Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, 64, 20, 84)
        );
        let Repr::EchoRequest { ident, seq_no, data } = req else { panic!("{req:?}") };
        assert_eq!((ident, seq_no, data.len()), (0x0bce, 1, 56));
        assert_eq!(&data[16..20], &[0x10, 0x11, 0x12, 0x13]);
        reemit(Version::V4, &req, &V4_PING_REQ[20..], None);

        let (_, rep) = parse4(V4_PING_REP);
        assert_eq!(rep, Repr::EchoReply { ident: 0x0bce, seq_no: 1, data });
        reemit(Version::V4, &rep, &V4_PING_REP[20..], None);
    }

    #[test]
    fn fping_v4_request_and_reply() {
        let (h, req) = parse4(V4_FPING_REQ);
        assert_eq!(h.dst, Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(req, Repr::EchoRequest { ident: 0x0bd0, seq_no: 0, data: &[0; 56] });
        reemit(Version::V4, &req, &V4_FPING_REQ[20..], None);
        let (h, rep) = parse4(V4_FPING_REP);
        assert_eq!(h.src, Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(rep, Repr::EchoReply { ident: 0x0bd0, seq_no: 0, data: &[0; 56] });
        reemit(Version::V4, &rep, &V4_FPING_REP[20..], None);
    }

    #[test]
    fn iputils_ping_v6_request_and_reply() {
        let (s, d, req) = parse6(V6_PING_REQ);
        assert_eq!((s, d), (LO6, LO6));
        let Repr::EchoRequest { ident, seq_no, data } = req else { panic!("{req:?}") };
        assert_eq!((ident, seq_no, data.len()), (0x0bcf, 1, 56));
        reemit(Version::V6, &req, &V6_PING_REQ[40..], Some((s, d)));
        let (s, d, rep) = parse6(V6_PING_REP);
        assert_eq!(rep, Repr::EchoReply { ident: 0x0bcf, seq_no: 1, data });
        reemit(Version::V6, &rep, &V6_PING_REP[40..], Some((s, d)));
    }

    #[test]
    fn fping_v6_request_and_reply() {
        let (s, d, req) = parse6(V6_FPING_REQ);
        assert_eq!(req, Repr::EchoRequest { ident: 0x0bd0, seq_no: 1, data: &[0; 56] });
        reemit(Version::V6, &req, &V6_FPING_REQ[40..], Some((s, d)));
        let (s, d, rep) = parse6(V6_FPING_REP);
        assert_eq!(rep, Repr::EchoReply { ident: 0x0bd0, seq_no: 1, data: &[0; 56] });
        reemit(Version::V6, &rep, &V6_FPING_REP[40..], Some((s, d)));
    }

    #[test]
    fn linux_router_errors_quote_the_echo() {
        let (h, r) = parse4(V4_UNREACH);
        assert_eq!((h.src, h.dst), (Ipv4Addr::new(10, 200, 0, 2), Ipv4Addr::new(10, 200, 0, 1)));
        let q = QuotedEcho { source: v4(10, 200, 0, 1), destination: v4(10, 201, 0, 5), ident: 0x0c63, seq_no: 1 };
        assert_eq!(r, Repr::DstUnreachable { code: 1, quoted: q });

        let (_, r) = parse4(V4_TTL);
        let q = QuotedEcho { source: v4(10, 200, 0, 1), destination: v4(10, 202, 0, 5), ident: 0x0c65, seq_no: 1 };
        assert_eq!(r, Repr::TimeExceeded { code: 0, quoted: q });

        let (s, _, r) = parse6(V6_UNREACH);
        assert_eq!(s, "fd00:200::2".parse::<Ipv6Addr>().unwrap());
        let q = QuotedEcho { source: v6("fd00:200::1"), destination: v6("fd00:201::5"), ident: 0x0c64, seq_no: 1 };
        assert_eq!(r, Repr::DstUnreachable { code: 0, quoted: q });

        let (_, _, r) = parse6(V6_HOPS);
        let q = QuotedEcho { source: v6("fd00:200::1"), destination: v6("fd00:202::5"), ident: 0x0c66, seq_no: 1 };
        assert_eq!(r, Repr::TimeExceeded { code: 0, quoted: q });
    }

    #[test]
    fn emitted_errors_parse_back() {
        let q4 = QuotedEcho { source: v4(10, 0, 0, 1), destination: v4(10, 0, 0, 9), ident: 7, seq_no: 65535 };
        let q6 = QuotedEcho { source: v6("fd00::1"), destination: v6("fd00::9"), ident: 7, seq_no: 0 };
        for (version, q) in [(Version::V4, q4), (Version::V6, q6)] {
            for repr in [Repr::DstUnreachable { code: 3, quoted: q }, Repr::TimeExceeded { code: 0, quoted: q }] {
                let mut buf = vec![0u8; repr.buffer_len(version)];
                repr.emit(version, &mut Packet::new_checked(&mut buf[..]).unwrap()).unwrap();
                assert_eq!(Repr::parse(version, &Packet::new_checked(&buf[..]).unwrap()), Ok(repr));
            }
        }
        let mut buf = [0u8; 64];
        let bad = Repr::TimeExceeded { code: 0, quoted: q6 };
        let err = bad.emit(Version::V4, &mut Packet::new_checked(&mut buf[..]).unwrap());
        assert_eq!(err, Err(Error::FamilyMismatch { version: Version::V4, addr: q6.source }));
    }

    #[test]
    fn every_prefix_of_every_capture_is_refused_or_parsed_without_panic() {
        let all = [
            V4_PING_REQ,
            V4_PING_REP,
            V4_FPING_REQ,
            V4_FPING_REP,
            V4_UNREACH,
            V4_TTL,
            V6_PING_REQ,
            V6_PING_REP,
            V6_FPING_REQ,
            V6_FPING_REP,
            V6_UNREACH,
            V6_HOPS,
        ];
        for p in all {
            for n in 0..=p.len() {
                let cut = &p[..n];
                let _ = split_raw_v4(cut);
                for version in [Version::V4, Version::V6] {
                    for start in [0, 20, 40] {
                        if let Some(Ok(pkt)) = cut.get(start..).map(Packet::new_checked) {
                            let _ = Repr::parse(version, &pkt);
                        }
                    }
                }
            }
        }
        // A cut IPv4 packet is refused on its total length.
        let err = split_ipv4(&V4_PING_REQ[..83]).unwrap_err();
        assert_eq!(err, Error::Truncated { what: "IPv4 packet", need: 84, got: 83 });
        // A quote cut inside the echo header is refused, not misread.
        let (_, msg) = split_ipv4(V4_UNREACH).unwrap();
        let mut cut = msg[..8 + 20 + 6].to_vec();
        Packet::new_checked(&mut cut[..]).unwrap().fill_checksum_v4();
        let err = Repr::parse(Version::V4, &Packet::new_checked(&cut[..]).unwrap()).unwrap_err();
        assert_eq!(err, Error::Truncated { what: "quoted ICMP header", need: 8, got: 6 });
    }

    #[test]
    fn v4_checksum_is_verified() {
        let (_, msg) = split_ipv4(V4_PING_REP).unwrap();
        let mut bad = msg.to_vec();
        bad[20] ^= 0x01;
        let err = Repr::parse(Version::V4, &Packet::new_checked(&bad[..]).unwrap()).unwrap_err();
        assert_eq!(err, Error::Checksum { found: 0xe761 });
        // v6 trusts the kernel: the same flip parses.
        let (_, _, msg) = split_ipv6(V6_PING_REP);
        let mut bad = msg.to_vec();
        bad[20] ^= 0x01;
        assert!(Repr::parse(Version::V6, &Packet::new_checked(&bad[..]).unwrap()).is_ok());
    }

    #[test]
    fn refusals_name_what_came() {
        // Redirect (v4 type 5) and an ICMPv6 router solicitation (133).
        let mut redirect = [5u8, 1, 0, 0, 0, 0, 0, 0];
        Packet::new_checked(&mut redirect[..]).unwrap().fill_checksum_v4();
        let err = Repr::parse(Version::V4, &Packet::new_checked(&redirect[..]).unwrap());
        assert_eq!(err, Err(Error::Unsupported { version: Version::V4, msg_type: 5, code: 1 }));
        let rs = [133u8, 0, 0, 0, 0, 0, 0, 0];
        let err = Repr::parse(Version::V6, &Packet::new_checked(&rs[..]).unwrap());
        assert_eq!(err, Err(Error::Unsupported { version: Version::V6, msg_type: 133, code: 0 }));
        // An unreachable quoting UDP is not about our echo.
        let (_, msg) = split_ipv4(V4_UNREACH).unwrap();
        let mut udp = msg.to_vec();
        udp[8 + 9] = 17;
        Packet::new_checked(&mut udp[..]).unwrap().fill_checksum_v4();
        let err = Repr::parse(Version::V4, &Packet::new_checked(&udp[..]).unwrap());
        assert_eq!(err, Err(Error::NotIcmp { what: "quoted IPv4 header", found: 17 }));
        // ...nor is one quoting an echo *reply*.
        let (_, _, msg) = split_ipv6(V6_UNREACH);
        let mut reply = msg.to_vec();
        reply[8 + 40] = 129;
        let err = Repr::parse(Version::V6, &Packet::new_checked(&reply[..]).unwrap());
        assert_eq!(err, Err(Error::QuotedNotEcho { version: Version::V6, msg_type: 129 }));
        // TCP inside a raw ICMP socket's packet, a v6 header where v4 is expected.
        let mut tcp = V4_PING_REQ.to_vec();
        tcp[9] = 6;
        assert_eq!(split_ipv4(&tcp), Err(Error::NotIcmp { what: "IPv4 header", found: 6 }));
        assert_eq!(split_ipv4(V6_PING_REQ), Err(Error::IpVersion { what: "IPv4 header", found: 6, expected: 4 }));
        let mut ihl = V4_PING_REQ.to_vec();
        ihl[0] = 0x44;
        assert_eq!(split_ipv4(&ihl), Err(Error::Ipv4HeaderLen { what: "IPv4 header", found: 16 }));
        assert_eq!(Packet::new_checked(&[0u8; 7][..]), Err(Error::Truncated { what: "ICMP header", need: 8, got: 7 }));
    }

    #[test]
    fn raw_and_datagram_v4_sockets_are_told_apart() {
        let (h, msg) = split_raw_v4(V4_PING_REP).unwrap();
        assert_eq!(h.map(|h| h.src), Some(Ipv4Addr::LOCALHOST));
        assert_eq!(msg, &V4_PING_REP[20..]);
        let (h, bare) = split_raw_v4(&V4_PING_REP[20..]).unwrap();
        assert_eq!((h, bare), (None, &V4_PING_REP[20..]));
        // Link padding after the total length is dropped.
        let mut padded = V4_PING_REP.to_vec();
        padded.extend_from_slice(&[0; 6]);
        assert_eq!(split_raw_v4(&padded).unwrap().1, &V4_PING_REP[20..]);
        // Header options are skipped (IHL 6: one 4-byte option word).
        let mut opts = vec![0x46u8];
        opts.extend_from_slice(&V4_PING_REP[1..20]);
        opts.extend_from_slice(&[1, 1, 1, 0]);
        opts.extend_from_slice(&V4_PING_REP[20..]);
        opts[3] += 4; // total length 88
        let (h, msg) = split_ipv4(&opts).unwrap();
        assert_eq!((h.header_len, msg), (24, &V4_PING_REP[20..]));
    }

    #[test]
    fn checksum_matches_rfc_1071() {
        // RFC 1071 §3 example: the folded sum of these words is 0xddf2.
        assert_eq!(checksum::sum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]), 0xddf2);
        // Odd lengths pad on the right; every split of the wide loop agrees.
        assert_eq!(checksum::sum(&[0xab]), 0xab00);
        let data: Vec<u8> = (0..=255u8).cycle().take(1001).collect();
        let slow = data.chunks(2).fold(0u32, |a, c| {
            let w = u32::from(c[0]) << 8 | u32::from(*c.get(1).unwrap_or(&0));
            let s = a + w;
            (s & 0xffff) + (s >> 16)
        });
        assert_eq!(u32::from(checksum::sum(&data)), slow);
    }

    #[test]
    fn stamp_round_trips_and_short_data_is_refused() {
        let s = EchoStamp { cookie: 0xdead_beef, target: 9_999, sent_at: 1_234_567_890_123 };
        let mut data = [0u8; 56];
        s.emit(&mut data);
        assert_eq!(EchoStamp::parse(&data), Some(s));
        assert_eq!(&data[16..19], &[0x10, 0x11, 0x12]);
        assert_eq!(data[55], 0x10 + 39);
        let mut short = [0u8; 15];
        s.emit(&mut short);
        assert_eq!(EchoStamp::parse(&short), None);
    }

    #[test]
    fn emit_into_a_short_buffer_is_refused() {
        let r = Repr::EchoRequest { ident: 1, seq_no: 2, data: &[0; 56] };
        let mut buf = [0u8; 63];
        let err = r.emit(Version::V4, &mut Packet::new_checked(&mut buf[..]).unwrap());
        assert_eq!(err, Err(Error::Truncated { what: "ICMP buffer", need: 64, got: 63 }));
    }
}
