//! NRPE packets (v2 fixed-size, v3 and v4 variable-size): a checked view, a parsed
//! representation, emission and stream framing. Not here: TLS, sockets, retries.
//!
//! Layouts (big-endian, SEMANTICS.md §11):
//!
//! ```text
//! v2:    version i16 | type i16 | crc32 u32 | result i16 | buffer[1024] | pad[2]
//!        (1,036 bytes; the struct's tail padding is on the wire and in the CRC)
//! v3/v4: version i16 | type i16 | crc32 u32 | result i16 | alignment i16
//!        | buffer_length i32 | buffer[buffer_length] | (v3 only) pad[3]
//! ```
//!
//! The v3 tail comes from nrpe 3 sizing packets as `sizeof(v3_packet) - 1 +
//! buffer_length` where `sizeof` includes 3 bytes of struct padding; v4 drops them
//! (both seen in `testdata/nrpe/`). The CRC-32 covers the whole packet with the CRC
//! field zeroed. Text is NUL-terminated inside the buffer; what follows the NUL is
//! filler (random in check_nrpe's v2 queries) and is ignored.
//!
//! Nothing in this module panics on untrusted bytes: every access is checked
//! (`get`), and [`Packet::new_checked`] guarantees the lengths the accessors rely on.

use thiserror::Error;

/// NRPE's registered TCP port.
pub const PORT: u16 = 5666;
/// Size of every v2 packet.
pub const V2_PACKET_LEN: usize = 1036;
/// Size of the v2 text buffer (text + NUL at most this long).
pub const V2_BUFFER_LEN: usize = 1024;
/// Size of the v3/v4 header before the buffer.
pub const HEADER_LEN: usize = 16;
/// Extra bytes after a v3 buffer (nrpe 3's struct padding).
pub const V3_TAIL_LEN: usize = 3;
/// Default cap on a v3/v4 buffer: nrpe 4.1.0 sends at most 65,505 (65,504 bytes of
/// output + NUL); anything far beyond is not NRPE and must not make us allocate.
pub const DEFAULT_MAX_BUFFER_LEN: usize = 64 * 1024;
/// The query that asks a server for its version instead of running a command.
pub const VERSION_QUERY: &str = "_NRPE_CHECK";

/// Offsets of the fields shared by all versions, and of the v2/v3+ specific ones.
mod field {
    use core::ops::Range;
    pub const VERSION: Range<usize> = 0..2;
    pub const TYPE: Range<usize> = 2..4;
    pub const CRC: Range<usize> = 4..8;
    pub const RESULT: Range<usize> = 8..10;
    pub const V2_BUFFER: Range<usize> = 10..1034;
    pub const ALIGNMENT: Range<usize> = 10..12;
    pub const BUFFER_LENGTH: Range<usize> = 12..16;
}

/// What went wrong with bytes that claim to be an NRPE packet, or with text we were
/// asked to put in one.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Error {
    #[error("truncated NRPE packet: {needed} bytes needed, {got} present")]
    Truncated { needed: usize, got: usize },
    #[error("unsupported NRPE packet version {0} (expected 2, 3 or 4)")]
    Version(i16),
    #[error("unknown NRPE packet type {0} (expected 1 query, 2 response or 3 response-more)")]
    PacketType(i16),
    #[error("NRPE buffer length {len} outside 0..={max}")]
    BufferLength { len: i64, max: usize },
    #[error("NRPE CRC mismatch: packet says {stated:#010x}, bytes give {computed:#010x}")]
    Crc { stated: u32, computed: u32 },
    #[error("NRPE text of {len} bytes does not fit a v2 packet (at most {max})")]
    TextTooLong { len: usize, max: usize },
    #[error("NRPE text contains a NUL byte at {0}")]
    TextHasNul(usize),
    #[error("NRPE command argument {index} contains `!`, which NRPE cannot escape")]
    ArgumentHasBang { index: usize },
}

/// Packet format version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    V2,
    V3,
    V4,
}

impl Version {
    pub fn from_i16(v: i16) -> Result<Version, Error> {
        match v {
            2 => Ok(Version::V2),
            3 => Ok(Version::V3),
            4 => Ok(Version::V4),
            other => Err(Error::Version(other)),
        }
    }

    pub fn as_i16(self) -> i16 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
            Version::V4 => 4,
        }
    }
}

/// Packet type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    Query,
    Response,
    /// A response with more packets to follow (nrpe 3.x over v2); the text of
    /// consecutive packets is concatenated up to the final `Response`.
    ResponseMore,
}

impl PacketType {
    pub fn from_i16(v: i16) -> Result<PacketType, Error> {
        match v {
            1 => Ok(PacketType::Query),
            2 => Ok(PacketType::Response),
            3 => Ok(PacketType::ResponseMore),
            other => Err(Error::PacketType(other)),
        }
    }

    pub fn as_i16(self) -> i16 {
        match self {
            PacketType::Query => 1,
            PacketType::Response => 2,
            PacketType::ResponseMore => 3,
        }
    }
}

/// How long the packet at the start of `prefix` is, once enough of its header has
/// arrived (`Ok(None)`: not yet). Errors as soon as the header shows it is not a
/// packet we would accept, so a stream of junk is refused after a few bytes.
pub fn frame_len(prefix: &[u8], max_buffer: usize) -> Result<Option<usize>, Error> {
    let Some(version) = read_i16(prefix, field::VERSION) else {
        return Ok(None);
    };
    let version = Version::from_i16(version)?;
    if version == Version::V2 {
        return Ok(Some(V2_PACKET_LEN));
    }
    let Some(len) = read_i32(prefix, field::BUFFER_LENGTH) else {
        return Ok(None);
    };
    let buffer = checked_buffer_len(len, max_buffer)?;
    Ok(Some(packet_len_for(version, buffer)))
}

fn checked_buffer_len(len: i32, max: usize) -> Result<usize, Error> {
    match usize::try_from(len) {
        Ok(n) if n <= max => Ok(n),
        _ => Err(Error::BufferLength { len: i64::from(len), max }),
    }
}

fn packet_len_for(version: Version, buffer_len: usize) -> usize {
    match version {
        Version::V2 => V2_PACKET_LEN,
        Version::V3 => HEADER_LEN + buffer_len + V3_TAIL_LEN,
        Version::V4 => HEADER_LEN + buffer_len,
    }
}

fn read_i16(b: &[u8], r: core::ops::Range<usize>) -> Option<i16> {
    let s: [u8; 2] = b.get(r)?.try_into().ok()?;
    Some(i16::from_be_bytes(s))
}

fn read_u32(b: &[u8], r: core::ops::Range<usize>) -> Option<u32> {
    let s: [u8; 4] = b.get(r)?.try_into().ok()?;
    Some(u32::from_be_bytes(s))
}

fn read_i32(b: &[u8], r: core::ops::Range<usize>) -> Option<i32> {
    let s: [u8; 4] = b.get(r)?.try_into().ok()?;
    Some(i32::from_be_bytes(s))
}

/// A read/write view of one NRPE packet in a byte buffer (zero-copy).
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// A view without checks; accessors then return `None`/defaults on short input
    /// rather than panicking, but prefer [`Packet::new_checked`].
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// A view whose version is known and whose buffer holds the whole packet (bytes
    /// beyond the packet's length are ignored). No buffer-length cap is applied here:
    /// see [`Repr::parse`] and [`frame_len`].
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let packet = Packet { buffer };
        let needed = packet.total_len(usize::MAX)?;
        let got = packet.buffer.as_ref().len();
        if got < needed {
            return Err(Error::Truncated { needed, got });
        }
        Ok(packet)
    }

    /// Bytes this packet occupies, from its header.
    fn total_len(&self, max_buffer: usize) -> Result<usize, Error> {
        let b = self.buffer.as_ref();
        let needed = if b.len() < 2 { 2 } else { HEADER_LEN };
        match frame_len(b, max_buffer)? {
            Some(n) => Ok(n),
            None => Err(Error::Truncated { needed, got: b.len() }),
        }
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn version_raw(&self) -> i16 {
        read_i16(self.buffer.as_ref(), field::VERSION).unwrap_or(0)
    }

    pub fn packet_type_raw(&self) -> i16 {
        read_i16(self.buffer.as_ref(), field::TYPE).unwrap_or(0)
    }

    pub fn crc(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::CRC).unwrap_or(0)
    }

    pub fn result_code(&self) -> i16 {
        read_i16(self.buffer.as_ref(), field::RESULT).unwrap_or(0)
    }

    /// v3/v4 only (v2 has text there).
    pub fn buffer_length_raw(&self) -> i32 {
        read_i32(self.buffer.as_ref(), field::BUFFER_LENGTH).unwrap_or(0)
    }

    /// The packet's bytes, exactly (empty if the header is not valid).
    pub fn as_bytes(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        match self.total_len(usize::MAX) {
            Ok(n) => b.get(..n).unwrap_or(&[]),
            Err(_) => &[],
        }
    }

    /// The text buffer region (text, NUL, filler).
    pub fn buffer_field(&self) -> &[u8] {
        let b = self.as_bytes();
        if self.version_raw() == 2 {
            return b.get(field::V2_BUFFER).unwrap_or(&[]);
        }
        let len = usize::try_from(self.buffer_length_raw()).unwrap_or(0);
        b.get(HEADER_LEN..HEADER_LEN.saturating_add(len)).unwrap_or(&[])
    }

    /// The text: the buffer up to its first NUL (all of it if there is none).
    pub fn text(&self) -> &[u8] {
        let buf = self.buffer_field();
        let end = buf.iter().position(|&c| c == 0).unwrap_or(buf.len());
        buf.get(..end).unwrap_or(&[])
    }

    /// CRC-32 of the packet with its CRC field taken as zero.
    pub fn compute_crc(&self) -> u32 {
        crc_with_zero_field(self.as_bytes())
    }
}

fn crc_with_zero_field(bytes: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(bytes.get(..field::CRC.start).unwrap_or(bytes));
    if bytes.len() > field::CRC.start {
        h.update(&[0; 4]);
        h.update(bytes.get(field::CRC.end..).unwrap_or(&[]));
    }
    h.finalize()
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn put(&mut self, r: core::ops::Range<usize>, bytes: &[u8]) {
        if let Some(dst) = self.buffer.as_mut().get_mut(r) {
            dst.copy_from_slice(bytes);
        }
    }

    pub fn set_version(&mut self, v: i16) {
        self.put(field::VERSION, &v.to_be_bytes());
    }

    pub fn set_packet_type(&mut self, v: i16) {
        self.put(field::TYPE, &v.to_be_bytes());
    }

    pub fn set_crc(&mut self, v: u32) {
        self.put(field::CRC, &v.to_be_bytes());
    }

    pub fn set_result_code(&mut self, v: i16) {
        self.put(field::RESULT, &v.to_be_bytes());
    }

    /// v3/v4 only.
    pub fn set_alignment(&mut self, v: i16) {
        self.put(field::ALIGNMENT, &v.to_be_bytes());
    }

    /// v3/v4 only.
    pub fn set_buffer_length(&mut self, v: i32) {
        self.put(field::BUFFER_LENGTH, &v.to_be_bytes());
    }

    /// Recompute and store the CRC (call last).
    pub fn fill_crc(&mut self) {
        let crc = self.compute_crc();
        self.set_crc(crc);
    }
}

/// A validated NRPE packet: version and type known, buffer within the cap, CRC right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr<'a> {
    pub version: Version,
    pub packet_type: PacketType,
    /// Plugin result in responses (0..=3 from nrpe 4, which maps others to 3);
    /// filler in check_nrpe's v2 queries.
    pub result_code: i16,
    /// The text without its NUL.
    pub text: &'a [u8],
}

impl<'a> Repr<'a> {
    /// Parse and validate; `max_buffer` caps a v3/v4 buffer length.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>, max_buffer: usize) -> Result<Repr<'a>, Error> {
        Repr::parse_bytes(packet.buffer.as_ref(), max_buffer)
    }

    /// Parse the packet at the start of `bytes` (which may hold more after it).
    pub fn parse_bytes(bytes: &'a [u8], max_buffer: usize) -> Result<Repr<'a>, Error> {
        let version = Version::from_i16(
            read_i16(bytes, field::VERSION).ok_or(Error::Truncated { needed: 2, got: bytes.len() })?,
        )?;
        let len = match frame_len(bytes, max_buffer)? {
            Some(n) => n,
            None => return Err(Error::Truncated { needed: HEADER_LEN, got: bytes.len() }),
        };
        let Some(whole) = bytes.get(..len) else {
            return Err(Error::Truncated { needed: len, got: bytes.len() });
        };
        let packet_type = PacketType::from_i16(read_i16(whole, field::TYPE).unwrap_or(0))?;
        let stated = read_u32(whole, field::CRC).unwrap_or(0);
        let computed = crc_with_zero_field(whole);
        if stated != computed {
            return Err(Error::Crc { stated, computed });
        }
        let result_code = read_i16(whole, field::RESULT).unwrap_or(0);
        Ok(Repr { version, packet_type, result_code, text: text_of(whole, version) })
    }

    /// Length of the buffer field this repr emits. Queries are padded so the packet
    /// is at least v2-sized, as check_nrpe does (nrpe 3 servers read that much first).
    pub fn buffer_len(&self) -> usize {
        match self.version {
            Version::V2 => V2_BUFFER_LEN,
            Version::V3 | Version::V4 => {
                let tail = if self.version == Version::V3 { V3_TAIL_LEN } else { 0 };
                let min = match self.packet_type {
                    PacketType::Query => V2_PACKET_LEN - HEADER_LEN - tail,
                    _ => 0,
                };
                (self.text.len() + 1).max(min)
            }
        }
    }

    /// Total bytes this repr emits.
    pub fn packet_len(&self) -> usize {
        packet_len_for(self.version, self.buffer_len())
    }

    /// Check that the text can be emitted.
    pub fn check_text(&self) -> Result<(), Error> {
        if let Some(i) = self.text.iter().position(|&c| c == 0) {
            return Err(Error::TextHasNul(i));
        }
        if self.version == Version::V2 && self.text.len() >= V2_BUFFER_LEN {
            return Err(Error::TextTooLong { len: self.text.len(), max: V2_BUFFER_LEN - 1 });
        }
        if i32::try_from(self.buffer_len()).is_err() {
            return Err(Error::TextTooLong { len: self.text.len(), max: i32::MAX as usize - 1 });
        }
        Ok(())
    }

    /// Write into `packet`, whose buffer must be exactly [`Repr::packet_len`] bytes
    /// long; filler is zero and the CRC is filled in.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) -> Result<(), Error> {
        self.check_text()?;
        let len = self.packet_len();
        let got = packet.buffer.as_ref().len();
        if got != len {
            return Err(Error::Truncated { needed: len, got });
        }
        packet.buffer.as_mut().fill(0);
        packet.set_version(self.version.as_i16());
        packet.set_packet_type(self.packet_type.as_i16());
        packet.set_result_code(self.result_code);
        let start = match self.version {
            Version::V2 => field::V2_BUFFER.start,
            Version::V3 | Version::V4 => {
                // check_text guarantees the buffer length fits an i32.
                packet.set_buffer_length(i32::try_from(self.buffer_len()).unwrap_or(i32::MAX));
                HEADER_LEN
            }
        };
        packet.put(start..start + self.text.len(), self.text);
        packet.fill_crc();
        Ok(())
    }

    /// Emit into a new vector.
    pub fn to_vec(&self) -> Result<Vec<u8>, Error> {
        let mut v = vec![0; self.packet_len()];
        self.emit(&mut Packet::new_unchecked(&mut v[..]))?;
        Ok(v)
    }
}

fn text_of(whole: &[u8], version: Version) -> &[u8] {
    let buf = match version {
        Version::V2 => whole.get(field::V2_BUFFER).unwrap_or(&[]),
        Version::V3 | Version::V4 => {
            let len = read_i32(whole, field::BUFFER_LENGTH).and_then(|l| usize::try_from(l).ok()).unwrap_or(0);
            whole.get(HEADER_LEN..HEADER_LEN.saturating_add(len)).unwrap_or(&[])
        }
    };
    let end = buf.iter().position(|&c| c == 0).unwrap_or(buf.len());
    buf.get(..end).unwrap_or(&[])
}

/// Query text `command!arg1!arg2` (NRPE has no escaping: `!` in an argument is
/// refused, as is NUL anywhere).
pub fn query_text(command: &str, args: &[impl AsRef<str>]) -> Result<String, Error> {
    let mut s = String::with_capacity(command.len() + args.iter().map(|a| a.as_ref().len() + 1).sum::<usize>());
    s.push_str(command);
    for (index, a) in args.iter().enumerate() {
        let a = a.as_ref();
        if a.contains('!') {
            return Err(Error::ArgumentHasBang { index });
        }
        s.push('!');
        s.push_str(a);
    }
    if let Some(i) = s.bytes().position(|c| c == 0) {
        return Err(Error::TextHasNul(i));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captures from Debian's nrpe 4.1.0 and check_nrpe 4.1.0 (testdata/nrpe/README.md).
    macro_rules! capture {
        ($name:literal) => {
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nrpe/", $name)).as_slice()
        };
    }

    struct Case {
        file: &'static [u8],
        version: Version,
        packet_type: PacketType,
        result: Option<i16>,
        text: &'static [u8],
    }

    fn cases() -> Vec<Case> {
        use PacketType::*;
        use Version::*;
        vec![
            Case {
                file: capture!("v4-query-check_exit0.bin"),
                version: V4,
                packet_type: Query,
                result: Some(0),
                text: b"check_exit0",
            },
            Case {
                file: capture!("v4-response-exit0.bin"),
                version: V4,
                packet_type: Response,
                result: Some(0),
                text: b"EXIT0 - status 0|v=0;1;2;0;3",
            },
            Case {
                file: capture!("v4-response-exit2.bin"),
                version: V4,
                packet_type: Response,
                result: Some(2),
                text: b"EXIT2 - status 2|v=2;1;2;0;3",
            },
            Case {
                file: capture!("v4-response-undefined-command.bin"),
                version: V4,
                packet_type: Response,
                result: Some(3),
                text: b"NRPE: Command 'nosuch' not defined",
            },
            Case {
                file: capture!("v4-query-nrpe-check.bin"),
                version: V4,
                packet_type: Query,
                result: Some(0),
                text: b"_NRPE_CHECK",
            },
            Case {
                file: capture!("v4-response-version.bin"),
                version: V4,
                packet_type: Response,
                result: Some(0),
                text: b"NRPE v4.1.0",
            },
            Case {
                file: capture!("v4-query-with-args.bin"),
                version: V4,
                packet_type: Query,
                result: Some(0),
                text: b"check_exit0!x!y",
            },
            // check_nrpe's v2 queries carry random filler in the result field.
            Case {
                file: capture!("v2-query-check_exit0.bin"),
                version: V2,
                packet_type: Query,
                result: None,
                text: b"check_exit0",
            },
            Case {
                file: capture!("v2-query-with-args.bin"),
                version: V2,
                packet_type: Query,
                result: None,
                text: b"check_exit0!x!y",
            },
            Case {
                file: capture!("v2-response-exit0.bin"),
                version: V2,
                packet_type: Response,
                result: Some(0),
                text: b"EXIT0 - status 0|v=0;1;2;0;3",
            },
            Case {
                file: capture!("v3-query-check_exit0.bin"),
                version: V3,
                packet_type: Query,
                result: Some(0),
                text: b"check_exit0",
            },
        ]
    }

    #[test]
    fn captures_parse() {
        for (i, c) in cases().iter().enumerate() {
            let packet = Packet::new_checked(c.file).unwrap_or_else(|e| panic!("case {i}: {e}"));
            assert_eq!(packet.as_bytes().len(), c.file.len(), "case {i}: the capture is exactly one packet");
            let repr = Repr::parse(&packet, DEFAULT_MAX_BUFFER_LEN).unwrap_or_else(|e| panic!("case {i}: {e}"));
            assert_eq!(repr.version, c.version, "case {i}");
            assert_eq!(repr.packet_type, c.packet_type, "case {i}");
            if let Some(r) = c.result {
                assert_eq!(repr.result_code, r, "case {i}");
            }
            assert_eq!(repr.text, c.text, "case {i}: {:?}", String::from_utf8_lossy(repr.text));
            assert_eq!(frame_len(c.file, DEFAULT_MAX_BUFFER_LEN), Ok(Some(c.file.len())), "case {i}");
        }
    }

    /// What we emit is byte-for-byte what nrpe and check_nrpe put on the wire, where
    /// they have no random filler.
    #[test]
    fn emit_matches_captures() {
        for (i, c) in cases().iter().enumerate() {
            let Some(result_code) = c.result else { continue };
            let repr = Repr { version: c.version, packet_type: c.packet_type, result_code, text: c.text };
            assert_eq!(repr.packet_len(), c.file.len(), "case {i}");
            let mut out = repr.to_vec().unwrap();
            if c.version == Version::V2 {
                // v2 responses end with two bytes of uninitialised struct padding.
                let n = out.len();
                out[n - 2..].copy_from_slice(&c.file[n - 2..]);
                Packet::new_unchecked(&mut out[..]).fill_crc();
            }
            assert_eq!(out.as_slice(), c.file, "case {i}");
        }
    }

    #[test]
    fn long_output_v4_is_one_packet() {
        let file = capture!("v4-response-long.bin");
        let repr = Repr::parse_bytes(file, DEFAULT_MAX_BUFFER_LEN).unwrap();
        assert_eq!((repr.version, repr.packet_type, repr.result_code), (Version::V4, PacketType::Response, 1));
        assert_eq!(repr.text.len(), 3193);
        assert!(repr.text.starts_with(b"LONG OK - first line|a=1;2;3;0;10\nline 00 "));
        assert!(repr.text.ends_with(b"line 39 0123456789012345678901234567890123456789012345678901234567890123456789"));
        // The same bytes are refused when the cap is below their buffer length.
        assert_eq!(Repr::parse_bytes(file, 1000), Err(Error::BufferLength { len: 3194, max: 1000 }));
    }

    #[test]
    fn long_output_v2_is_truncated_by_the_server() {
        let file = capture!("v2-response-long-truncated.bin");
        let repr = Repr::parse_bytes(file, DEFAULT_MAX_BUFFER_LEN).unwrap();
        assert_eq!((repr.version, repr.packet_type, repr.result_code), (Version::V2, PacketType::Response, 1));
        assert_eq!(repr.text.len(), V2_BUFFER_LEN - 1);
        assert!(repr.text.starts_with(b"LONG OK - first line"));
    }

    #[test]
    fn framing_needs_only_the_header() {
        let file = capture!("v4-response-long.bin");
        for n in 0..HEADER_LEN {
            let r = frame_len(&file[..n], DEFAULT_MAX_BUFFER_LEN);
            if n < 2 {
                assert_eq!(r, Ok(None), "{n} bytes");
            } else {
                assert_eq!(r, Ok(None), "{n} bytes: v4 needs the buffer length");
            }
        }
        assert_eq!(frame_len(&file[..HEADER_LEN], DEFAULT_MAX_BUFFER_LEN), Ok(Some(3210)));
        let v2 = capture!("v2-response-exit0.bin");
        assert_eq!(frame_len(&v2[..2], DEFAULT_MAX_BUFFER_LEN), Ok(Some(V2_PACKET_LEN)));
    }

    #[test]
    fn truncated_packets_are_refused() {
        for file in
            [capture!("v4-response-exit0.bin"), capture!("v2-response-exit0.bin"), capture!("v3-query-check_exit0.bin")]
        {
            for n in 0..file.len() {
                assert!(
                    matches!(Repr::parse_bytes(&file[..n], DEFAULT_MAX_BUFFER_LEN), Err(Error::Truncated { .. })),
                    "{n} of {} bytes",
                    file.len()
                );
                assert!(matches!(Packet::new_checked(&file[..n]), Err(Error::Truncated { .. })));
            }
        }
    }

    #[test]
    fn corrupt_packets_are_refused() {
        let good = capture!("v4-response-exit0.bin");
        struct Bad {
            at: usize,
            byte: u8,
            want: fn(&Error) -> bool,
        }
        let bad = [
            Bad { at: 1, byte: 5, want: |e| *e == Error::Version(5) },
            Bad { at: 1, byte: 1, want: |e| *e == Error::Version(1) },
            Bad { at: 3, byte: 9, want: |e| *e == Error::PacketType(9) },
            Bad { at: 3, byte: 0, want: |e| *e == Error::PacketType(0) },
            Bad { at: 12, byte: 0x80, want: |e| matches!(e, Error::BufferLength { len, .. } if *len < 0) },
            Bad { at: 13, byte: 0x7f, want: |e| matches!(e, Error::BufferLength { len: 0x7f_001d, .. }) },
            // A flipped text byte, result byte or CRC byte: the CRC no longer matches.
            Bad { at: 20, byte: b'x', want: |e| matches!(e, Error::Crc { .. }) },
            Bad { at: 9, byte: 1, want: |e| matches!(e, Error::Crc { .. }) },
            Bad { at: 4, byte: 0, want: |e| matches!(e, Error::Crc { .. }) },
        ];
        for (i, b) in bad.iter().enumerate() {
            let mut p = good.to_vec();
            p[b.at] = b.byte;
            let e = Repr::parse_bytes(&p, DEFAULT_MAX_BUFFER_LEN).unwrap_err();
            assert!((b.want)(&e), "case {i}: {e:?}");
        }
        // A v2 CRC covers the two padding bytes too.
        let mut v2 = capture!("v2-response-exit0.bin").to_vec();
        v2[V2_PACKET_LEN - 1] ^= 1;
        assert!(matches!(Repr::parse_bytes(&v2, DEFAULT_MAX_BUFFER_LEN), Err(Error::Crc { .. })));
    }

    #[test]
    fn text_without_nul_uses_the_whole_buffer() {
        let text = [b'a'; 5];
        let mut p = Repr { version: Version::V4, packet_type: PacketType::Response, result_code: 0, text: &text }
            .to_vec()
            .unwrap();
        // Drop the NUL: buffer_length 5, all text.
        p.pop();
        Packet::new_unchecked(&mut p[..]).set_buffer_length(5);
        Packet::new_unchecked(&mut p[..]).fill_crc();
        assert_eq!(Repr::parse_bytes(&p, 64).unwrap().text, b"aaaaa");
        let empty = Repr { version: Version::V4, packet_type: PacketType::Response, result_code: 3, text: b"" };
        assert_eq!(Repr::parse_bytes(&empty.to_vec().unwrap(), 64).unwrap(), empty);
    }

    #[test]
    fn emit_refuses_what_cannot_be_encoded() {
        let long = vec![b'x'; V2_BUFFER_LEN];
        let r = Repr { version: Version::V2, packet_type: PacketType::Query, result_code: 0, text: &long };
        assert_eq!(r.to_vec(), Err(Error::TextTooLong { len: 1024, max: 1023 }));
        let r = Repr { version: Version::V2, packet_type: PacketType::Query, result_code: 0, text: &long[..1023] };
        assert_eq!(Repr::parse_bytes(&r.to_vec().unwrap(), 0).unwrap().text.len(), 1023);
        let r = Repr { version: Version::V4, packet_type: PacketType::Query, result_code: 0, text: b"a\0b" };
        assert_eq!(r.to_vec(), Err(Error::TextHasNul(1)));
        let r = Repr { version: Version::V4, packet_type: PacketType::Query, result_code: 0, text: &long };
        let v = r.to_vec().unwrap();
        assert_eq!(v.len(), HEADER_LEN + 1025);
        let mut short = [0u8; 10];
        assert!(matches!(r.emit(&mut Packet::new_unchecked(&mut short[..])), Err(Error::Truncated { .. })));
    }

    #[test]
    fn query_text_joins_arguments() {
        assert_eq!(query_text("check_disk", &["-w", "20%"]).unwrap(), "check_disk!-w!20%");
        assert_eq!(query_text("check_x", &[] as &[&str]).unwrap(), "check_x");
        assert_eq!(query_text("check_x", &["a!b"]), Err(Error::ArgumentHasBang { index: 0 }));
        assert_eq!(query_text("check\0x", &[] as &[&str]), Err(Error::TextHasNul(5)));
    }

    #[test]
    fn response_more_round_trips() {
        let r = Repr { version: Version::V2, packet_type: PacketType::ResponseMore, result_code: 1, text: b"part one" };
        let bytes = r.to_vec().unwrap();
        assert_eq!(Repr::parse_bytes(&bytes, 0).unwrap(), r);
    }
}
