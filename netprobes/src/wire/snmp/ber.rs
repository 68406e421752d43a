//! The subset of ASN.1 BER that SNMP uses: a checked reader over untrusted bytes and
//! a writer that back-patches lengths. Not a general ASN.1 library: single-byte tags,
//! definite lengths and the universal/application types of RFC 1157/3416 only.
//!
//! Nothing here can panic on any input: every read is bounds-checked and every
//! length is validated against what is left, so a hostile length field cannot make
//! us allocate or index beyond the datagram.

use thiserror::Error;

/// Universal, application and context tags SNMP uses (RFC 3416 §3, RFC 2578 §7.1).
pub mod tag {
    pub const INTEGER: u8 = 0x02;
    pub const OCTET_STRING: u8 = 0x04;
    pub const NULL: u8 = 0x05;
    pub const OBJECT_IDENTIFIER: u8 = 0x06;
    pub const SEQUENCE: u8 = 0x30;
    pub const IP_ADDRESS: u8 = 0x40;
    pub const COUNTER32: u8 = 0x41;
    pub const GAUGE32: u8 = 0x42;
    pub const TIMETICKS: u8 = 0x43;
    pub const OPAQUE: u8 = 0x44;
    pub const COUNTER64: u8 = 0x46;
    pub const NO_SUCH_OBJECT: u8 = 0x80;
    pub const NO_SUCH_INSTANCE: u8 = 0x81;
    pub const END_OF_MIB_VIEW: u8 = 0x82;
}

/// SNMP nests at most message → (scoped) PDU → varbind list → varbind → value; the
/// decoder is schema-driven and never recurses, but the reader still counts levels
/// so that a future generic use cannot be walked into deep nesting.
pub const MAX_DEPTH: u8 = 8;

/// Largest message we accept or build: the largest UDP payload.
pub const MAX_MESSAGE_LEN: usize = 65_535;

/// Why bytes were refused. `what` names the field being read, for context.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("{what}: truncated (needed {needed} bytes, {available} left)")]
    Truncated { what: &'static str, needed: usize, available: usize },
    #[error("{what}: expected tag 0x{expected:02x}, found 0x{found:02x}")]
    UnexpectedTag { what: &'static str, expected: u8, found: u8 },
    #[error("{what}: unsupported tag 0x{found:02x}")]
    UnsupportedTag { what: &'static str, found: u8 },
    #[error("{what}: indefinite length is not allowed in SNMP")]
    IndefiniteLength { what: &'static str },
    #[error("{what}: length field of {bytes} bytes is too long")]
    LengthTooLong { what: &'static str, bytes: usize },
    #[error("{what}: nested deeper than {MAX_DEPTH} levels")]
    TooDeep { what: &'static str },
    #[error("{what}: {len}-byte integer does not fit")]
    IntegerTooLarge { what: &'static str, len: usize },
    #[error("{what}: empty integer")]
    EmptyInteger { what: &'static str },
    #[error("{what}: {count} trailing bytes")]
    TrailingBytes { what: &'static str, count: usize },
    #[error("{what}: {reason}")]
    Invalid { what: &'static str, reason: &'static str },
    #[error("message of {len} bytes exceeds {MAX_MESSAGE_LEN}")]
    MessageTooLong { len: usize },
}

/// A checked cursor over one level of TLVs. `base` is the absolute offset of `buf`
/// in the whole message, so callers can locate fields (the v3 auth parameters).
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
    depth: u8,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0, base: 0, depth: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Absolute offset of the next byte in the message.
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// Bytes not yet consumed at this level.
    pub fn remaining(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    fn byte(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        let b = *self.buf.get(self.pos).ok_or(DecodeError::Truncated { what, needed: 1, available: 0 })?;
        self.pos += 1;
        Ok(b)
    }

    /// Next tag without consuming it.
    pub fn peek_tag(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// One tag-length-value: the tag, the content and the content's absolute offset.
    pub fn read_tlv(&mut self, what: &'static str) -> Result<(u8, &'a [u8], usize), DecodeError> {
        let tag = self.byte(what)?;
        if tag & 0x1f == 0x1f {
            // High-tag-number form: no SNMP type uses it.
            return Err(DecodeError::UnsupportedTag { what, found: tag });
        }
        let first = self.byte(what)?;
        let len = if first < 0x80 {
            usize::from(first)
        } else if first == 0x80 {
            return Err(DecodeError::IndefiniteLength { what });
        } else {
            let n = usize::from(first & 0x7f);
            // Four length bytes already exceed any datagram; more is hostile.
            if n > 4 {
                return Err(DecodeError::LengthTooLong { what, bytes: n });
            }
            let mut len = 0usize;
            for _ in 0..n {
                len = (len << 8) | usize::from(self.byte(what)?);
            }
            len
        };
        let available = self.buf.len().saturating_sub(self.pos);
        if len > available {
            return Err(DecodeError::Truncated { what, needed: len, available });
        }
        let start = self.pos;
        let content = self.buf.get(start..start + len).ok_or(DecodeError::Truncated { what, needed: len, available })?;
        self.pos = start + len;
        Ok((tag, content, self.base + start))
    }

    /// The content of the next TLV, which must carry `expected`.
    pub fn expect(&mut self, expected: u8, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let (found, content, _) = self.read_tlv(what)?;
        if found != expected {
            return Err(DecodeError::UnexpectedTag { what, expected, found });
        }
        Ok(content)
    }

    /// A reader over the content of the next constructed TLV tagged `expected`.
    pub fn nested(&mut self, expected: u8, what: &'static str) -> Result<Reader<'a>, DecodeError> {
        if self.depth >= MAX_DEPTH {
            return Err(DecodeError::TooDeep { what });
        }
        let (found, content, offset) = self.read_tlv(what)?;
        if found != expected {
            return Err(DecodeError::UnexpectedTag { what, expected, found });
        }
        Ok(Reader { buf: content, pos: 0, base: offset, depth: self.depth + 1 })
    }

    /// A reader over bytes that are themselves BER (an OCTET STRING wrapping a
    /// SEQUENCE, as the v3 security parameters are).
    pub fn nested_in_octets(&mut self, what: &'static str) -> Result<Reader<'a>, DecodeError> {
        if self.depth >= MAX_DEPTH {
            return Err(DecodeError::TooDeep { what });
        }
        let (found, content, offset) = self.read_tlv(what)?;
        if found != tag::OCTET_STRING {
            return Err(DecodeError::UnexpectedTag { what, expected: tag::OCTET_STRING, found });
        }
        Ok(Reader { buf: content, pos: 0, base: offset, depth: self.depth + 1 })
    }

    pub fn integer(&mut self, what: &'static str) -> Result<i64, DecodeError> {
        let c = self.expect(tag::INTEGER, what)?;
        decode_i64(c, what)
    }

    /// An INTEGER that must fit Integer32 (request ids, error status, versions).
    pub fn integer32(&mut self, what: &'static str) -> Result<i32, DecodeError> {
        let v = self.integer(what)?;
        i32::try_from(v).map_err(|_| DecodeError::IntegerTooLarge { what, len: 8 })
    }

    pub fn octets(&mut self, what: &'static str) -> Result<&'a [u8], DecodeError> {
        self.expect(tag::OCTET_STRING, what)
    }

    /// Everything at this level must have been consumed.
    pub fn finish(&self, what: &'static str) -> Result<(), DecodeError> {
        let count = self.buf.len().saturating_sub(self.pos);
        if count != 0 {
            return Err(DecodeError::TrailingBytes { what, count });
        }
        Ok(())
    }
}

/// Two's-complement big-endian, at most 8 bytes.
pub fn decode_i64(c: &[u8], what: &'static str) -> Result<i64, DecodeError> {
    let (&first, _) = c.split_first().ok_or(DecodeError::EmptyInteger { what })?;
    if c.len() > 8 {
        return Err(DecodeError::IntegerTooLarge { what, len: c.len() });
    }
    let mut v: i64 = if first & 0x80 != 0 { -1 } else { 0 };
    for &b in c {
        v = (v << 8) | i64::from(b);
    }
    Ok(v)
}

/// Unsigned big-endian of at most `max` significant bytes. One leading zero byte
/// (needed when the top bit is set) is allowed on top. Agents that drop that zero
/// (a Counter32 of 0xffffffff sent as four 0xff bytes) are read as unsigned, as
/// net-snmp does, rather than refused.
pub fn decode_unsigned(c: &[u8], max: usize, what: &'static str) -> Result<u64, DecodeError> {
    if c.is_empty() {
        return Err(DecodeError::EmptyInteger { what });
    }
    let digits = match c {
        [0, rest @ ..] if !rest.is_empty() => rest,
        _ => c,
    };
    if digits.len() > max {
        return Err(DecodeError::IntegerTooLarge { what, len: c.len() });
    }
    Ok(digits.iter().fold(0u64, |v, &b| (v << 8) | u64::from(b)))
}

/// Builds BER front to back; a constructed value's length is patched in when it is
/// closed. Marks are byte positions that stay correct while outer headers grow.
#[derive(Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
    marks: Vec<usize>,
}

/// A position in a [`Writer`], kept valid across later length insertions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark(usize);

impl Writer {
    pub fn new() -> Self {
        Writer::default()
    }

    pub fn with_buffer(mut buf: Vec<u8>) -> Self {
        buf.clear();
        Writer { buf, marks: Vec::new() }
    }

    pub fn finish(self) -> Vec<u8> {
        self.buf
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    /// Remember the current end of the buffer.
    pub fn mark(&mut self) -> Mark {
        self.marks.push(self.buf.len());
        Mark(self.marks.len() - 1)
    }

    /// Where a mark points now.
    pub fn position(&self, m: Mark) -> usize {
        self.marks.get(m.0).copied().unwrap_or(0)
    }

    fn header(&mut self, tag: u8, len: usize) {
        self.buf.push(tag);
        push_length(&mut self.buf, len);
    }

    pub fn tlv(&mut self, tag: u8, content: &[u8]) {
        self.header(tag, content.len());
        self.buf.extend_from_slice(content);
    }

    /// A constructed value whose content `f` writes.
    pub fn constructed(&mut self, tag: u8, f: impl FnOnce(&mut Writer)) {
        self.buf.push(tag);
        let len_at = self.buf.len();
        self.buf.push(0);
        let start = self.buf.len();
        f(self);
        let len = self.buf.len() - start;
        let mut hdr = Vec::with_capacity(5);
        push_length(&mut hdr, len);
        let extra = hdr.len() - 1;
        if extra > 0 {
            // Long form: shift the content right; marks inside it move with it.
            self.buf.splice(len_at..len_at + 1, hdr.iter().copied());
            for m in &mut self.marks {
                if *m >= start {
                    *m += extra;
                }
            }
        } else if let Some(b) = self.buf.get_mut(len_at) {
            *b = hdr.first().copied().unwrap_or(0);
        }
    }

    pub fn sequence(&mut self, f: impl FnOnce(&mut Writer)) {
        self.constructed(tag::SEQUENCE, f);
    }

    pub fn integer(&mut self, v: i64) {
        self.integer_tagged(tag::INTEGER, v);
    }

    pub fn integer_tagged(&mut self, tag: u8, v: i64) {
        let bytes = v.to_be_bytes();
        // Minimal two's complement: drop leading bytes that only repeat the sign.
        let mut start = 0;
        while start < 7 {
            let (b, next) = (bytes[start], bytes[start + 1]);
            if (b == 0 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0) {
                start += 1;
            } else {
                break;
            }
        }
        self.tlv(tag, &bytes[start..]);
    }

    pub fn unsigned(&mut self, tag: u8, v: u64) {
        let bytes = v.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count().min(7);
        let digits = &bytes[skip..];
        if digits.first().is_some_and(|b| b & 0x80 != 0) {
            self.header(tag, digits.len() + 1);
            self.buf.push(0);
            self.buf.extend_from_slice(digits);
        } else {
            self.tlv(tag, digits);
        }
    }

    pub fn octets(&mut self, v: &[u8]) {
        self.tlv(tag::OCTET_STRING, v);
    }

    pub fn null(&mut self) {
        self.tlv(tag::NULL, &[]);
    }

    /// An OCTET STRING whose content is itself BER written by `f`.
    pub fn octets_wrapping(&mut self, f: impl FnOnce(&mut Writer)) {
        self.constructed(tag::OCTET_STRING, f);
    }
}

fn push_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8); // < 0x80: fits
    } else {
        let bytes = (len as u64).to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        let digits = &bytes[skip..];
        out.push(0x80 | digits.len() as u8); // at most 8
        out.extend_from_slice(digits);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int_bytes(v: i64) -> Vec<u8> {
        let mut w = Writer::new();
        w.integer(v);
        w.finish()
    }

    #[test]
    fn integers_are_minimal_twos_complement() {
        let cases: &[(i64, &[u8])] = &[
            (0, &[0x02, 0x01, 0x00]),
            (127, &[0x02, 0x01, 0x7f]),
            (128, &[0x02, 0x02, 0x00, 0x80]),
            (256, &[0x02, 0x02, 0x01, 0x00]),
            (-1, &[0x02, 0x01, 0xff]),
            (-128, &[0x02, 0x01, 0x80]),
            (-129, &[0x02, 0x02, 0xff, 0x7f]),
            (2147483647, &[0x02, 0x04, 0x7f, 0xff, 0xff, 0xff]),
            (-2147483648, &[0x02, 0x04, 0x80, 0x00, 0x00, 0x00]),
        ];
        for &(v, bytes) in cases {
            assert_eq!(int_bytes(v), bytes, "{v}");
            assert_eq!(Reader::new(bytes).integer("x"), Ok(v));
        }
    }

    #[test]
    fn unsigned_gets_a_leading_zero_when_the_top_bit_is_set() {
        let mut w = Writer::new();
        w.unsigned(tag::COUNTER32, 0xffff_ffff);
        w.unsigned(tag::GAUGE32, 0);
        w.unsigned(tag::COUNTER64, u64::MAX);
        assert_eq!(
            w.finish(),
            [
                0x41, 0x05, 0x00, 0xff, 0xff, 0xff, 0xff, 0x42, 0x01, 0x00, 0x46, 0x09, 0x00, 0xff, 0xff, 0xff, 0xff,
                0xff, 0xff, 0xff, 0xff
            ]
        );
        assert_eq!(decode_unsigned(&[0x00, 0xff, 0xff, 0xff, 0xff], 4, "c"), Ok(0xffff_ffff));
        assert_eq!(decode_unsigned(&[0xff, 0xff, 0xff, 0xff], 4, "c"), Ok(0xffff_ffff));
        assert!(decode_unsigned(&[0x01, 0x00, 0x00, 0x00, 0x00], 4, "c").is_err());
        assert!(decode_unsigned(&[], 4, "c").is_err());
        assert_eq!(decode_unsigned(&[0x00], 4, "c"), Ok(0));
    }

    #[test]
    fn long_lengths_are_patched_and_marks_follow() {
        let mut w = Writer::new();
        let mut inner = None;
        w.sequence(|w| {
            w.octets(&[0xaa; 200]);
            inner = Some(w.mark());
            w.octets(&[1, 2]);
        });
        let m = inner.unwrap();
        let pos = w.position(m);
        let out = w.finish();
        assert_eq!(&out[..4], &[0x30, 0x81, 0xcf, 0x04]);
        assert_eq!(out[pos..pos + 4], [0x04, 0x02, 1, 2]);
        let mut r = Reader::new(&out);
        let mut s = r.nested(tag::SEQUENCE, "seq").unwrap();
        assert_eq!(s.octets("a").unwrap().len(), 200);
        assert_eq!(s.offset(), pos);
        assert_eq!(s.octets("b").unwrap(), &[1, 2]);
        s.finish("seq").unwrap();
        r.finish("top").unwrap();
    }

    #[test]
    fn hostile_lengths_are_refused() {
        // Declared length beyond the buffer.
        assert!(matches!(Reader::new(&[0x04, 0x05, 1, 2]).octets("s"), Err(DecodeError::Truncated { .. })));
        // Indefinite length.
        assert!(matches!(Reader::new(&[0x30, 0x80, 0, 0]).octets("s"), Err(DecodeError::IndefiniteLength { .. })));
        // A 9-byte length field.
        assert!(matches!(Reader::new(&[0x04, 0x89, 0xff]).octets("s"), Err(DecodeError::LengthTooLong { .. })));
        // 4-byte length near u32::MAX: refused as truncated, no overflow.
        assert!(matches!(
            Reader::new(&[0x04, 0x84, 0xff, 0xff, 0xff, 0xff]).octets("s"),
            Err(DecodeError::Truncated { .. })
        ));
        // High-tag-number form.
        assert!(matches!(Reader::new(&[0x1f, 0x01, 0x00]).octets("s"), Err(DecodeError::UnsupportedTag { .. })));
        // Non-minimal long form is BER, not DER: accepted (net-snmp emits 0x82 lengths).
        assert_eq!(Reader::new(&[0x04, 0x82, 0x00, 0x01, 0x41]).octets("s"), Ok(&b"A"[..]));
        assert!(matches!(Reader::new(&[0x02, 0x00]).integer("i"), Err(DecodeError::EmptyInteger { .. })));
        assert!(Reader::new(&[0x02, 0x09, 1, 0, 0, 0, 0, 0, 0, 0, 0]).integer("i").is_err());
    }

    #[test]
    fn depth_is_limited() {
        let mut bytes = Vec::new();
        for i in 0..(MAX_DEPTH as usize + 2) {
            let remaining = MAX_DEPTH as usize + 2 - i - 1;
            bytes.extend_from_slice(&[0x30, (remaining * 2) as u8]);
        }
        let mut r = Reader::new(&bytes);
        let mut result = Ok(());
        for _ in 0..(MAX_DEPTH as usize + 2) {
            match r.nested(tag::SEQUENCE, "s") {
                Ok(inner) => r = inner,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        assert!(matches!(result, Err(DecodeError::TooDeep { .. })));
    }
}
