//! SNMP PDUs (RFC 1157 and RFC 3416): variable bindings with their typed values, the
//! request/response PDU layout shared by every type but the v1 trap, and the v1 trap.
//! Parse borrows from the datagram; `into_owned` detaches a PDU from it.

use std::borrow::Cow;
use std::fmt;

use super::ber::{self, DecodeError, Reader, Writer, tag};
use super::oid::Oid;

/// A value in a variable binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value<'a> {
    Integer(i64),
    OctetString(Cow<'a, [u8]>),
    Null,
    ObjectId(Oid<'a>),
    IpAddress([u8; 4]),
    Counter32(u32),
    Gauge32(u32),
    TimeTicks(u32),
    Opaque(Cow<'a, [u8]>),
    Counter64(u64),
    NoSuchObject,
    NoSuchInstance,
    EndOfMibView,
    /// An application-class primitive this crate does not model (NsapAddress,
    /// UInteger32 from SMIv1): kept as raw content rather than failing the PDU.
    Other { tag: u8, content: Cow<'a, [u8]> },
}

impl Value<'_> {
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Integer(v) => Value::Integer(v),
            Value::OctetString(s) => Value::OctetString(Cow::Owned(s.into_owned())),
            Value::Null => Value::Null,
            Value::ObjectId(o) => Value::ObjectId(o.into_owned()),
            Value::IpAddress(a) => Value::IpAddress(a),
            Value::Counter32(v) => Value::Counter32(v),
            Value::Gauge32(v) => Value::Gauge32(v),
            Value::TimeTicks(v) => Value::TimeTicks(v),
            Value::Opaque(s) => Value::Opaque(Cow::Owned(s.into_owned())),
            Value::Counter64(v) => Value::Counter64(v),
            Value::NoSuchObject => Value::NoSuchObject,
            Value::NoSuchInstance => Value::NoSuchInstance,
            Value::EndOfMibView => Value::EndOfMibView,
            Value::Other { tag, content } => Value::Other { tag, content: Cow::Owned(content.into_owned()) },
        }
    }

    /// One of the three v2 exception values (no data at this OID).
    pub fn is_exception(&self) -> bool {
        matches!(self, Value::NoSuchObject | Value::NoSuchInstance | Value::EndOfMibView)
    }

    /// The value as a number, for threshold checks; `None` for non-numeric types.
    /// Octet strings that hold a decimal number count (as check_snmp does).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Integer(v) => Some(*v as f64),
            Value::Counter32(v) | Value::Gauge32(v) | Value::TimeTicks(v) => Some(f64::from(*v)),
            Value::Counter64(v) => Some(*v as f64),
            Value::OctetString(s) => std::str::from_utf8(s).ok()?.trim().parse().ok(),
            Value::Opaque(s) => match opaque_float(s)? {
                OpaqueFloat::Float(v) => Some(f64::from(v)),
                OpaqueFloat::Double(v) => Some(v),
            },
            _ => None,
        }
    }

    fn decode(tag: u8, c: &[u8]) -> Result<Value<'_>, DecodeError> {
        Ok(match tag {
            tag::INTEGER => Value::Integer(ber::decode_i64(c, "INTEGER value")?),
            tag::OCTET_STRING => Value::OctetString(Cow::Borrowed(c)),
            tag::NULL => {
                if !c.is_empty() {
                    return Err(DecodeError::Invalid { what: "NULL value", reason: "has content" });
                }
                Value::Null
            }
            tag::OBJECT_IDENTIFIER => Value::ObjectId(
                Oid::from_ber(c).map_err(|_| DecodeError::Invalid { what: "OID value", reason: "bad encoding" })?,
            ),
            tag::IP_ADDRESS => Value::IpAddress(
                c.try_into().map_err(|_| DecodeError::Invalid { what: "IpAddress", reason: "not 4 bytes" })?,
            ),
            tag::COUNTER32 => Value::Counter32(unsigned32(c, "Counter32")?),
            tag::GAUGE32 => Value::Gauge32(unsigned32(c, "Gauge32")?),
            tag::TIMETICKS => Value::TimeTicks(unsigned32(c, "TimeTicks")?),
            tag::OPAQUE => Value::Opaque(Cow::Borrowed(c)),
            tag::COUNTER64 => Value::Counter64(ber::decode_unsigned(c, 8, "Counter64")?),
            tag::NO_SUCH_OBJECT | tag::NO_SUCH_INSTANCE | tag::END_OF_MIB_VIEW => {
                if !c.is_empty() {
                    return Err(DecodeError::Invalid { what: "exception value", reason: "has content" });
                }
                match tag {
                    tag::NO_SUCH_OBJECT => Value::NoSuchObject,
                    tag::NO_SUCH_INSTANCE => Value::NoSuchInstance,
                    _ => Value::EndOfMibView,
                }
            }
            // Other application-class primitives (0x40..=0x5e).
            t if t & 0xe0 == 0x40 => Value::Other { tag: t, content: Cow::Borrowed(c) },
            found => return Err(DecodeError::UnsupportedTag { what: "varbind value", found }),
        })
    }

    fn emit(&self, w: &mut Writer) {
        match self {
            Value::Integer(v) => w.integer(*v),
            Value::OctetString(s) => w.octets(s),
            Value::Null => w.null(),
            Value::ObjectId(o) => w.tlv(tag::OBJECT_IDENTIFIER, o.as_ber()),
            Value::IpAddress(a) => w.tlv(tag::IP_ADDRESS, a),
            Value::Counter32(v) => w.unsigned(tag::COUNTER32, u64::from(*v)),
            Value::Gauge32(v) => w.unsigned(tag::GAUGE32, u64::from(*v)),
            Value::TimeTicks(v) => w.unsigned(tag::TIMETICKS, u64::from(*v)),
            Value::Opaque(s) => w.tlv(tag::OPAQUE, s),
            Value::Counter64(v) => w.unsigned(tag::COUNTER64, *v),
            Value::NoSuchObject => w.tlv(tag::NO_SUCH_OBJECT, &[]),
            Value::NoSuchInstance => w.tlv(tag::NO_SUCH_INSTANCE, &[]),
            Value::EndOfMibView => w.tlv(tag::END_OF_MIB_VIEW, &[]),
            Value::Other { tag, content } => w.tlv(*tag, content),
        }
    }
}

/// A float or double wrapped in Opaque (draft-perkins-opaque-01: tag 0x9f78 or
/// 0x9f79 inside the Opaque), as net-snmp's UCD-SNMP-MIB load averages are sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OpaqueFloat {
    Float(f32),
    Double(f64),
}

pub fn opaque_float(c: &[u8]) -> Option<OpaqueFloat> {
    match c {
        [0x9f, 0x78, 0x04, rest @ ..] => Some(OpaqueFloat::Float(f32::from_be_bytes(rest.try_into().ok()?))),
        [0x9f, 0x79, 0x08, rest @ ..] => Some(OpaqueFloat::Double(f64::from_be_bytes(rest.try_into().ok()?))),
        _ => None,
    }
}

fn unsigned32(c: &[u8], what: &'static str) -> Result<u32, DecodeError> {
    let v = ber::decode_unsigned(c, 4, what)?;
    u32::try_from(v).map_err(|_| DecodeError::IntegerTooLarge { what, len: c.len() })
}

impl fmt::Display for Value<'_> {
    /// The right-hand side net-snmp prints with `-On` and no MIBs loaded.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Integer(v) => write!(f, "INTEGER: {v}"),
            Value::OctetString(s) => fmt_octets(f, s),
            Value::Null => write!(f, "NULL"),
            Value::ObjectId(o) => write!(f, "OID: {o}"),
            Value::IpAddress([a, b, c, d]) => write!(f, "IpAddress: {a}.{b}.{c}.{d}"),
            Value::Counter32(v) => write!(f, "Counter32: {v}"),
            Value::Gauge32(v) => write!(f, "Gauge32: {v}"),
            Value::TimeTicks(v) => {
                let (days, rest) = (v / 8_640_000, v % 8_640_000);
                let (h, m, s, cs) = (rest / 360_000, rest / 6000 % 60, rest / 100 % 60, rest % 100);
                write!(f, "Timeticks: ({v}) ")?;
                match days {
                    0 => {}
                    1 => write!(f, "1 day, ")?,
                    n => write!(f, "{n} days, ")?,
                }
                write!(f, "{h}:{m:02}:{s:02}.{cs:02}")
            }
            Value::Opaque(s) => match opaque_float(s) {
                Some(OpaqueFloat::Float(v)) => write!(f, "Opaque: Float: {v:.6}"),
                Some(OpaqueFloat::Double(v)) => write!(f, "Opaque: Double: {v:.6}"),
                None => write!(f, "OPAQUE: {}", Hex(s)),
            },
            Value::Counter64(v) => write!(f, "Counter64: {v}"),
            Value::NoSuchObject => write!(f, "No Such Object available on this agent at this OID"),
            Value::NoSuchInstance => write!(f, "No Such Instance currently exists at this OID"),
            Value::EndOfMibView => write!(f, "No more variables left in this MIB View (It is past the end of the MIB tree)"),
            Value::Other { tag, content } => write!(f, "Wrong Type (0x{tag:02x}): {}", Hex(content)),
        }
    }
}

/// net-snmp prints printable strings quoted and anything else as `Hex-STRING:`.
fn fmt_octets(f: &mut fmt::Formatter<'_>, s: &[u8]) -> fmt::Result {
    // A trailing NUL (C agents) still counts as text.
    let text = s.strip_suffix(&[0]).unwrap_or(s);
    let printable = text.iter().all(|&b| b.is_ascii_graphic() || matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    if s.is_empty() {
        write!(f, "\"\"")
    } else if printable {
        let text = String::from_utf8_lossy(text);
        write!(f, "STRING: \"{}\"", text.replace('"', "\\\""))
    } else {
        write!(f, "Hex-STRING: {}", Hex(s))
    }
}

/// Hex as net-snmp prints it: upper case, each byte followed by a space, a line
/// break after every 16 bytes when more follow.
pub struct Hex<'b>(pub &'b [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, chunk) in self.0.chunks(16).enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            for b in chunk {
                write!(f, "{b:02X} ")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// One variable binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarBind<'a> {
    pub oid: Oid<'a>,
    pub value: Value<'a>,
}

impl VarBind<'_> {
    /// A binding with a NULL value, as requests carry.
    pub fn null(oid: Oid<'_>) -> VarBind<'_> {
        VarBind { oid, value: Value::Null }
    }

    pub fn into_owned(self) -> VarBind<'static> {
        VarBind { oid: self.oid.into_owned(), value: self.value.into_owned() }
    }
}

impl fmt::Display for VarBind<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} = {}", self.oid, self.value)
    }
}

/// PDU tags (context-specific, constructed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PduType {
    GetRequest = 0xa0,
    GetNextRequest = 0xa1,
    Response = 0xa2,
    SetRequest = 0xa3,
    TrapV1 = 0xa4,
    GetBulkRequest = 0xa5,
    InformRequest = 0xa6,
    SnmpV2Trap = 0xa7,
    Report = 0xa8,
}

impl PduType {
    pub fn from_tag(t: u8) -> Option<PduType> {
        Some(match t {
            0xa0 => PduType::GetRequest,
            0xa1 => PduType::GetNextRequest,
            0xa2 => PduType::Response,
            0xa3 => PduType::SetRequest,
            0xa4 => PduType::TrapV1,
            0xa5 => PduType::GetBulkRequest,
            0xa6 => PduType::InformRequest,
            0xa7 => PduType::SnmpV2Trap,
            0xa8 => PduType::Report,
            _ => return None,
        })
    }

    pub fn tag(self) -> u8 {
        self as u8
    }
}

/// error-status values (RFC 3416 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorStatus(pub i32);

impl ErrorStatus {
    pub const NO_ERROR: ErrorStatus = ErrorStatus(0);
    pub const TOO_BIG: ErrorStatus = ErrorStatus(1);
    pub const NO_SUCH_NAME: ErrorStatus = ErrorStatus(2);

    pub fn name(self) -> &'static str {
        const NAMES: [&str; 19] = [
            "noError",
            "tooBig",
            "noSuchName",
            "badValue",
            "readOnly",
            "genErr",
            "noAccess",
            "wrongType",
            "wrongLength",
            "wrongEncoding",
            "wrongValue",
            "noCreation",
            "inconsistentValue",
            "resourceUnavailable",
            "commitFailed",
            "undoFailed",
            "authorizationError",
            "notWritable",
            "inconsistentName",
        ];
        usize::try_from(self.0).ok().and_then(|i| NAMES.get(i)).copied().unwrap_or("unknown error")
    }
}

impl fmt::Display for ErrorStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

/// Every PDU but the v1 trap. For GetBulkRequest, `error_status` carries
/// non-repeaters and `error_index` max-repetitions (RFC 3416 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pdu<'a> {
    pub pdu_type: PduType,
    pub request_id: i32,
    pub error_status: i32,
    pub error_index: i32,
    pub varbinds: Vec<VarBind<'a>>,
}

/// The SNMPv1 Trap-PDU (RFC 1157 §4.1.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrapV1Pdu<'a> {
    pub enterprise: Oid<'a>,
    pub agent_addr: [u8; 4],
    pub generic_trap: i32,
    pub specific_trap: i32,
    pub time_stamp: u32,
    pub varbinds: Vec<VarBind<'a>>,
}

/// Any PDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnyPdu<'a> {
    Pdu(Pdu<'a>),
    TrapV1(TrapV1Pdu<'a>),
}

impl<'a> Pdu<'a> {
    pub fn error_status(&self) -> ErrorStatus {
        ErrorStatus(self.error_status)
    }

    pub fn into_owned(self) -> Pdu<'static> {
        Pdu {
            pdu_type: self.pdu_type,
            request_id: self.request_id,
            error_status: self.error_status,
            error_index: self.error_index,
            varbinds: self.varbinds.into_iter().map(VarBind::into_owned).collect(),
        }
    }

    pub fn emit(&self, w: &mut Writer) {
        w.constructed(self.pdu_type.tag(), |w| {
            w.integer(i64::from(self.request_id));
            w.integer(i64::from(self.error_status));
            w.integer(i64::from(self.error_index));
            emit_varbinds(w, &self.varbinds);
        });
    }
}

impl<'a> AnyPdu<'a> {
    /// Read one PDU from `r`.
    pub fn parse(r: &mut Reader<'a>) -> Result<AnyPdu<'a>, DecodeError> {
        let found = r.peek_tag().ok_or(DecodeError::Truncated { what: "PDU", needed: 1, available: 0 })?;
        let pdu_type = PduType::from_tag(found).ok_or(DecodeError::UnsupportedTag { what: "PDU type", found })?;
        let mut p = r.nested(found, "PDU")?;
        if pdu_type == PduType::TrapV1 {
            let enterprise = Oid::from_ber(p.expect(tag::OBJECT_IDENTIFIER, "trap enterprise")?)
                .map_err(|_| DecodeError::Invalid { what: "trap enterprise", reason: "bad OID" })?;
            let agent_addr = p
                .expect(tag::IP_ADDRESS, "trap agent-addr")?
                .try_into()
                .map_err(|_| DecodeError::Invalid { what: "trap agent-addr", reason: "not 4 bytes" })?;
            let generic_trap = p.integer32("trap generic-trap")?;
            let specific_trap = p.integer32("trap specific-trap")?;
            let time_stamp = unsigned32(p.expect(tag::TIMETICKS, "trap time-stamp")?, "trap time-stamp")?;
            let varbinds = parse_varbinds(&mut p)?;
            p.finish("PDU")?;
            return Ok(AnyPdu::TrapV1(TrapV1Pdu {
                enterprise,
                agent_addr,
                generic_trap,
                specific_trap,
                time_stamp,
                varbinds,
            }));
        }
        let request_id = p.integer32("request-id")?;
        let error_status = p.integer32("error-status")?;
        let error_index = p.integer32("error-index")?;
        let varbinds = parse_varbinds(&mut p)?;
        p.finish("PDU")?;
        Ok(AnyPdu::Pdu(Pdu { pdu_type, request_id, error_status, error_index, varbinds }))
    }

    pub fn emit(&self, w: &mut Writer) {
        match self {
            AnyPdu::Pdu(p) => p.emit(w),
            AnyPdu::TrapV1(t) => w.constructed(PduType::TrapV1.tag(), |w| {
                w.tlv(tag::OBJECT_IDENTIFIER, t.enterprise.as_ber());
                w.tlv(tag::IP_ADDRESS, &t.agent_addr);
                w.integer(i64::from(t.generic_trap));
                w.integer(i64::from(t.specific_trap));
                w.unsigned(tag::TIMETICKS, u64::from(t.time_stamp));
                emit_varbinds(w, &t.varbinds);
            }),
        }
    }

    pub fn into_owned(self) -> AnyPdu<'static> {
        match self {
            AnyPdu::Pdu(p) => AnyPdu::Pdu(p.into_owned()),
            AnyPdu::TrapV1(t) => AnyPdu::TrapV1(TrapV1Pdu {
                enterprise: t.enterprise.into_owned(),
                agent_addr: t.agent_addr,
                generic_trap: t.generic_trap,
                specific_trap: t.specific_trap,
                time_stamp: t.time_stamp,
                varbinds: t.varbinds.into_iter().map(VarBind::into_owned).collect(),
            }),
        }
    }
}

fn parse_varbinds<'a>(p: &mut Reader<'a>) -> Result<Vec<VarBind<'a>>, DecodeError> {
    let mut list = p.nested(tag::SEQUENCE, "varbind list")?;
    // Each binding takes at least 6 bytes (two headers, one OID byte... and a value
    // header), so this never preallocates more than the datagram can hold.
    let mut out = Vec::with_capacity(list.remaining().len() / 6);
    while !list.is_empty() {
        let mut vb = list.nested(tag::SEQUENCE, "varbind")?;
        let oid = Oid::from_ber(vb.expect(tag::OBJECT_IDENTIFIER, "varbind name")?)
            .map_err(|_| DecodeError::Invalid { what: "varbind name", reason: "bad OID" })?;
        let (t, c, _) = vb.read_tlv("varbind value")?;
        if t & 0x20 != 0 {
            return Err(DecodeError::UnsupportedTag { what: "varbind value", found: t });
        }
        let value = Value::decode(t, c)?;
        vb.finish("varbind")?;
        out.push(VarBind { oid, value });
    }
    Ok(out)
}

fn emit_varbinds(w: &mut Writer, vbs: &[VarBind<'_>]) {
    w.sequence(|w| {
        for vb in vbs {
            w.sequence(|w| {
                w.tlv(tag::OBJECT_IDENTIFIER, vb.oid.as_ber());
                vb.value.emit(w);
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oid(s: &str) -> Oid<'static> {
        s.parse().unwrap()
    }

    fn round_trip(pdu: &AnyPdu<'_>) -> Vec<u8> {
        let mut w = Writer::new();
        pdu.emit(&mut w);
        let bytes = w.finish();
        let mut r = Reader::new(&bytes);
        let back = AnyPdu::parse(&mut r).unwrap();
        r.finish("pdu").unwrap();
        assert_eq!(&back, pdu);
        bytes
    }

    #[test]
    fn get_request_bytes() {
        let pdu = AnyPdu::Pdu(Pdu {
            pdu_type: PduType::GetRequest,
            request_id: 0x1234,
            error_status: 0,
            error_index: 0,
            varbinds: vec![VarBind::null(oid("1.3.6.1.2.1.1.1.0"))],
        });
        assert_eq!(
            round_trip(&pdu),
            [
                0xa0, 0x1a, 0x02, 0x02, 0x12, 0x34, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x30, 0x0e, 0x30, 0x0c, 0x06,
                0x08, 0x2b, 0x06, 0x01, 0x02, 0x01, 0x01, 0x01, 0x00, 0x05, 0x00
            ]
        );
    }

    #[test]
    fn every_value_type_round_trips() {
        let values = vec![
            Value::Integer(-5),
            Value::OctetString(Cow::Borrowed(b"hello")),
            Value::Null,
            Value::ObjectId(oid("1.3.6.1.4.1.8072.3.2.10")),
            Value::IpAddress([127, 0, 0, 1]),
            Value::Counter32(u32::MAX),
            Value::Gauge32(42),
            Value::TimeTicks(123456),
            Value::Opaque(Cow::Borrowed(&[0x9f, 0x78, 0x04, 0x3f, 0x80, 0, 0])),
            Value::Counter64(u64::MAX),
            Value::NoSuchObject,
            Value::NoSuchInstance,
            Value::EndOfMibView,
            Value::Other { tag: 0x47, content: Cow::Borrowed(&[1]) },
        ];
        let pdu = AnyPdu::Pdu(Pdu {
            pdu_type: PduType::Response,
            request_id: -7,
            error_status: 0,
            error_index: 0,
            varbinds: values.into_iter().enumerate().map(|(i, v)| VarBind { oid: oid(&format!("1.3.6.{i}")), value: v }).collect(),
        });
        round_trip(&pdu);
    }

    #[test]
    fn v1_trap_round_trips() {
        let pdu = AnyPdu::TrapV1(TrapV1Pdu {
            enterprise: oid("1.3.6.1.4.1.8072.2.3"),
            agent_addr: [127, 0, 0, 1],
            generic_trap: 2,
            specific_trap: 0,
            time_stamp: 1000,
            varbinds: vec![VarBind { oid: oid("1.3.6.1.2.1.2.2.1.1.2"), value: Value::Integer(2) }],
        });
        round_trip(&pdu);
    }

    #[test]
    fn display_matches_net_snmp() {
        assert_eq!(Value::TimeTicks(12345).to_string(), "Timeticks: (12345) 0:02:03.45");
        assert_eq!(Value::TimeTicks(8_640_000 + 360_000 * 3 + 1).to_string(), "Timeticks: (9720001) 1 day, 3:00:00.01");
        assert_eq!(Value::OctetString(Cow::Borrowed(b"Linux x")).to_string(), "STRING: \"Linux x\"");
        assert_eq!(Value::OctetString(Cow::Borrowed(&[0x80, 0x00, 0x1f])).to_string(), "Hex-STRING: 80 00 1F ");
        let long: Vec<u8> = (0..18).collect();
        assert_eq!(
            Value::OctetString(Cow::Borrowed(&long)).to_string(),
            "Hex-STRING: 00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F \n10 11 "
        );
        assert_eq!(Value::OctetString(Cow::Borrowed(b"")).to_string(), "\"\"");
        assert_eq!(Value::IpAddress([10, 0, 0, 1]).to_string(), "IpAddress: 10.0.0.1");
        // snmpd's laLoadFloat, as snmpwalk prints it.
        let load = Value::Opaque(Cow::Borrowed(&[0x9f, 0x78, 0x04, 0x3f, 0xde, 0x90, 0x00]));
        assert_eq!(load.to_string(), "Opaque: Float: 1.738770");
        assert_eq!(load.as_f64(), Some(1.73876953125));
        assert_eq!(Value::Opaque(Cow::Borrowed(&[1, 2])).to_string(), "OPAQUE: 01 02 ");
        assert_eq!(Value::ObjectId(oid("1.3.6.1")).to_string(), "OID: .1.3.6.1");
    }

    #[test]
    fn malformed_pdus_are_refused() {
        let cases: &[&[u8]] = &[
            // Unknown PDU tag.
            &[0xaf, 0x00],
            // Varbind with trailing element.
            &[0xa2, 0x12, 2, 1, 1, 2, 1, 0, 2, 1, 0, 0x30, 0x0a, 0x30, 0x08, 6, 1, 0x2b, 5, 0, 5, 0, 0],
            // NULL with content.
            &[0xa2, 0x10, 2, 1, 1, 2, 1, 0, 2, 1, 0, 0x30, 0x08, 0x30, 0x06, 6, 1, 0x2b, 5, 1, 0],
            // Constructed value.
            &[0xa2, 0x0f, 2, 1, 1, 2, 1, 0, 2, 1, 0, 0x30, 0x07, 0x30, 0x05, 6, 1, 0x2b, 0x30, 0],
            // Counter32 too large.
            &[0xa2, 0x14, 2, 1, 1, 2, 1, 0, 2, 1, 0, 0x30, 0x0c, 0x30, 0x0a, 6, 1, 0x2b, 0x41, 5, 1, 0, 0, 0, 0],
        ];
        for c in cases {
            assert!(AnyPdu::parse(&mut Reader::new(c)).is_err(), "{c:02x?}");
        }
    }
}
