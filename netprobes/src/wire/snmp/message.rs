//! SNMP messages: the community-based v1/v2c wrapper (RFC 1157, RFC 1901) and the v3
//! message with its global header, USM security parameters and (possibly encrypted)
//! scoped PDU (RFC 3412 §6, RFC 3414 §2.4). No cryptography here: see [`super::usm`].
//!
//! A decoded v3 message remembers where its authentication parameters sit in the
//! datagram, because the HMAC is computed over the whole message with that field
//! zeroed; an emitted one says where to write the HMAC.

use std::borrow::Cow;
use std::ops::Range;

use super::ber::{DecodeError, MAX_MESSAGE_LEN, Reader, Writer, tag};
use super::pdu::AnyPdu;

/// Message versions as carried in the `version` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    V1 = 0,
    V2c = 1,
    V3 = 3,
}

impl Version {
    pub fn from_wire(v: i64) -> Option<Version> {
        match v {
            0 => Some(Version::V1),
            1 => Some(Version::V2c),
            3 => Some(Version::V3),
            _ => None,
        }
    }
}

/// A v1 or v2c message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommunityMessage<'a> {
    pub version: Version,
    pub community: Cow<'a, [u8]>,
    pub pdu: AnyPdu<'a>,
}

/// msgFlags bits (RFC 3412 §6.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MsgFlags(pub u8);

impl MsgFlags {
    pub const AUTH: u8 = 0x01;
    pub const PRIV: u8 = 0x02;
    pub const REPORTABLE: u8 = 0x04;

    pub fn auth(self) -> bool {
        self.0 & Self::AUTH != 0
    }
    pub fn privacy(self) -> bool {
        self.0 & Self::PRIV != 0
    }
    pub fn reportable(self) -> bool {
        self.0 & Self::REPORTABLE != 0
    }
}

/// UsmSecurityParameters (RFC 3414 §2.4).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UsmParams<'a> {
    pub engine_id: Cow<'a, [u8]>,
    pub engine_boots: u32,
    pub engine_time: u32,
    pub user_name: Cow<'a, [u8]>,
    pub auth_params: Cow<'a, [u8]>,
    pub priv_params: Cow<'a, [u8]>,
}

/// ScopedPDU (RFC 3412 §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopedPdu<'a> {
    pub context_engine_id: Cow<'a, [u8]>,
    pub context_name: Cow<'a, [u8]>,
    pub pdu: AnyPdu<'a>,
}

/// msgData: plaintext or encrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopedPduData<'a> {
    Plaintext(ScopedPdu<'a>),
    Encrypted(Cow<'a, [u8]>),
}

/// The USM security model number.
pub const SECURITY_MODEL_USM: i32 = 3;

/// A v3 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V3Message<'a> {
    pub msg_id: i32,
    pub max_size: i32,
    pub flags: MsgFlags,
    pub security_model: i32,
    pub usm: UsmParams<'a>,
    pub data: ScopedPduData<'a>,
    /// Where `usm.auth_params` lies in the datagram it was parsed from (empty range
    /// for an emitted message before [`V3Message::emit`] reports it).
    pub auth_params_at: Range<usize>,
}

/// Any SNMP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message<'a> {
    Community(CommunityMessage<'a>),
    V3(V3Message<'a>),
}

impl<'a> Message<'a> {
    /// Decode one datagram. Refuses trailing bytes, unknown versions, security
    /// models other than USM and anything malformed.
    pub fn parse(buf: &'a [u8]) -> Result<Message<'a>, DecodeError> {
        if buf.len() > MAX_MESSAGE_LEN {
            return Err(DecodeError::MessageTooLong { len: buf.len() });
        }
        let mut top = Reader::new(buf);
        let mut m = top.nested(tag::SEQUENCE, "message")?;
        top.finish("datagram")?;
        let v = m.integer("version")?;
        let version = Version::from_wire(v).ok_or(DecodeError::Invalid { what: "version", reason: "not 0, 1 or 3" })?;
        if version != Version::V3 {
            let community = Cow::Borrowed(m.octets("community")?);
            let pdu = AnyPdu::parse(&mut m)?;
            m.finish("message")?;
            if version == Version::V2c && matches!(pdu, AnyPdu::TrapV1(_)) {
                return Err(DecodeError::Invalid { what: "PDU type", reason: "v1 trap in a v2c message" });
            }
            return Ok(Message::Community(CommunityMessage { version, community, pdu }));
        }

        let mut h = m.nested(tag::SEQUENCE, "msgGlobalData")?;
        let msg_id = h.integer32("msgID")?;
        let max_size = h.integer32("msgMaxSize")?;
        let flags = match h.octets("msgFlags")? {
            [f] => MsgFlags(*f),
            _ => return Err(DecodeError::Invalid { what: "msgFlags", reason: "not one byte" }),
        };
        if flags.privacy() && !flags.auth() {
            return Err(DecodeError::Invalid { what: "msgFlags", reason: "privacy without authentication" });
        }
        let security_model = h.integer32("msgSecurityModel")?;
        h.finish("msgGlobalData")?;
        if security_model != SECURITY_MODEL_USM {
            return Err(DecodeError::Invalid { what: "msgSecurityModel", reason: "not USM (3)" });
        }

        let mut sp = m.nested_in_octets("msgSecurityParameters")?;
        let mut u = sp.nested(tag::SEQUENCE, "UsmSecurityParameters")?;
        sp.finish("msgSecurityParameters")?;
        let engine_id = Cow::Borrowed(u.octets("msgAuthoritativeEngineID")?);
        let engine_boots = non_negative(u.integer("msgAuthoritativeEngineBoots")?, "msgAuthoritativeEngineBoots")?;
        let engine_time = non_negative(u.integer("msgAuthoritativeEngineTime")?, "msgAuthoritativeEngineTime")?;
        let user_name = Cow::Borrowed(u.octets("msgUserName")?);
        let (t, auth, auth_at) = u.read_tlv("msgAuthenticationParameters")?;
        if t != tag::OCTET_STRING {
            return Err(DecodeError::UnexpectedTag {
                what: "msgAuthenticationParameters",
                expected: tag::OCTET_STRING,
                found: t,
            });
        }
        let priv_params = Cow::Borrowed(u.octets("msgPrivacyParameters")?);
        u.finish("UsmSecurityParameters")?;
        if engine_id.len() > 32 || user_name.len() > 32 {
            return Err(DecodeError::Invalid { what: "UsmSecurityParameters", reason: "engine id or user name over 32 bytes" });
        }

        let data = if flags.privacy() {
            ScopedPduData::Encrypted(Cow::Borrowed(m.octets("encryptedPDU")?))
        } else {
            let mut s = m.nested(tag::SEQUENCE, "ScopedPDU")?;
            let scoped = ScopedPdu::parse_fields(&mut s)?;
            s.finish("ScopedPDU")?;
            ScopedPduData::Plaintext(scoped)
        };
        m.finish("message")?;
        Ok(Message::V3(V3Message {
            msg_id,
            max_size,
            flags,
            security_model,
            usm: UsmParams {
                engine_id,
                engine_boots,
                engine_time,
                user_name,
                auth_params: Cow::Borrowed(auth),
                priv_params,
            },
            data,
            auth_params_at: auth_at..auth_at + auth.len(),
        }))
    }

    /// The PDU, when it is readable without decryption.
    pub fn pdu(&self) -> Option<&AnyPdu<'a>> {
        match self {
            Message::Community(c) => Some(&c.pdu),
            Message::V3(V3Message { data: ScopedPduData::Plaintext(s), .. }) => Some(&s.pdu),
            Message::V3(_) => None,
        }
    }

    /// Encode into `out` (cleared first). For v3, returns where the authentication
    /// parameters were written, so the caller can fill in the HMAC.
    pub fn emit(&self, out: Vec<u8>) -> (Vec<u8>, Range<usize>) {
        let mut w = Writer::with_buffer(out);
        let range = match self {
            Message::Community(c) => {
                w.sequence(|w| {
                    w.integer(c.version as i64);
                    w.octets(&c.community);
                    c.pdu.emit(w);
                });
                0..0
            }
            Message::V3(v3) => v3.emit_into(&mut w),
        };
        (w.finish(), range)
    }
}

impl V3Message<'_> {
    /// Callers that authenticate put zeros of the MAC's length in `usm.auth_params`
    /// first; the returned range is where those zeros landed.
    fn emit_into(&self, w: &mut Writer) -> Range<usize> {
        let mut auth_end = None;
        w.sequence(|w| {
            w.integer(Version::V3 as i64);
            w.sequence(|w| {
                w.integer(i64::from(self.msg_id));
                w.integer(i64::from(self.max_size));
                w.octets(&[self.flags.0]);
                w.integer(i64::from(self.security_model));
            });
            w.octets_wrapping(|w| {
                w.sequence(|w| {
                    w.octets(&self.usm.engine_id);
                    w.integer(i64::from(self.usm.engine_boots));
                    w.integer(i64::from(self.usm.engine_time));
                    w.octets(&self.usm.user_name);
                    w.octets(&self.usm.auth_params);
                    // A mark follows later header growth, so this stays the end of
                    // the auth parameters in the finished buffer.
                    auth_end = Some(w.mark());
                    w.octets(&self.usm.priv_params);
                });
            });
            match &self.data {
                ScopedPduData::Plaintext(s) => s.emit(w),
                ScopedPduData::Encrypted(e) => w.octets(e),
            }
        });
        let end = auth_end.map(|m| w.position(m)).unwrap_or(0);
        end.saturating_sub(self.usm.auth_params.len())..end
    }
}

impl<'a> ScopedPdu<'a> {
    fn parse_fields(s: &mut Reader<'a>) -> Result<ScopedPdu<'a>, DecodeError> {
        let context_engine_id = Cow::Borrowed(s.octets("contextEngineID")?);
        let context_name = Cow::Borrowed(s.octets("contextName")?);
        let pdu = AnyPdu::parse(s)?;
        Ok(ScopedPdu { context_engine_id, context_name, pdu })
    }

    /// Decode a decrypted ScopedPDU. Block ciphers pad the plaintext (DES to 8
    /// bytes), so bytes after the SEQUENCE are ignored here, and only here.
    pub fn parse_decrypted(buf: &'a [u8]) -> Result<ScopedPdu<'a>, DecodeError> {
        let mut top = Reader::new(buf);
        let mut s = top.nested(tag::SEQUENCE, "ScopedPDU")?;
        let scoped = ScopedPdu::parse_fields(&mut s)?;
        s.finish("ScopedPDU")?;
        Ok(scoped)
    }

    pub fn emit(&self, w: &mut Writer) {
        w.sequence(|w| {
            w.octets(&self.context_engine_id);
            w.octets(&self.context_name);
            self.pdu.emit(w);
        });
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.emit(&mut w);
        w.finish()
    }

    pub fn into_owned(self) -> ScopedPdu<'static> {
        ScopedPdu {
            context_engine_id: Cow::Owned(self.context_engine_id.into_owned()),
            context_name: Cow::Owned(self.context_name.into_owned()),
            pdu: self.pdu.into_owned(),
        }
    }
}

fn non_negative(v: i64, what: &'static str) -> Result<u32, DecodeError> {
    // Both are INTEGER (0..2147483647).
    u32::try_from(v)
        .ok()
        .filter(|&x| x <= i32::MAX as u32)
        .ok_or(DecodeError::Invalid { what, reason: "outside 0..2147483647" })
}
