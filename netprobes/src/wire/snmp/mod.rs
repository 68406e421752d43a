//! SNMP on the wire: BER, OIDs, PDUs, v1/v2c/v3 messages and the USM cryptography a
//! manager needs. Decoding is checked: no input can make these functions panic,
//! allocate beyond the datagram's size or recurse (see [`ber`]).
//!
//! Why our own decoder rather than snmp-parser 0.11: that crate decodes v1/v2c and
//! the v3 header but neither encodes nor exposes where msgAuthenticationParameters
//! sit in the datagram (needed to verify the HMAC), and its output would still have
//! to be converted into types we can emit. One codec that parses and emits the same
//! types keeps round trips exact; snmp-parser is used in tests as an independent
//! decoder of what we emit.

pub mod ber;
pub mod message;
pub mod oid;
pub mod pdu;
pub mod usm;

#[cfg(test)]
mod captures;

pub use ber::DecodeError;
pub use message::{CommunityMessage, Message, MsgFlags, ScopedPdu, ScopedPduData, UsmParams, V3Message, Version};
pub use oid::{Oid, OidError};
pub use pdu::{AnyPdu, ErrorStatus, Pdu, PduType, TrapV1Pdu, Value, VarBind};
pub use usm::{AuthProtocol, LocalKeys, PrivProtocol, UserKeys, UsmError};
