//! What the manager puts on the wire: the PDU of each step of an operation, the v3
//! discovery probe, and authenticated/encrypted v3 requests for a known engine.

use std::borrow::Cow;
use std::sync::Arc;

use super::{Engine, Request};
use crate::time::Instant;
use crate::wire::snmp::{
    AnyPdu, Message, MsgFlags, Oid, Pdu, PduType, ScopedPdu, ScopedPduData, UserKeys, UsmParams, V3Message, Value,
    VarBind, Version, message::SECURITY_MODEL_USM,
};

/// One request PDU of an operation (a walk has many). For GETBULK, `a` and `b` are
/// non-repeaters and max-repetitions; otherwise both are 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Step {
    pub pdu_type: PduType,
    pub a: i32,
    pub b: i32,
    pub oids: Vec<Oid<'static>>,
}

impl Step {
    /// The first step of `request` (already checked by `start`).
    pub fn first(request: &Request, version: Version) -> Step {
        let plain = |pdu_type, oids: &Vec<Oid<'static>>| Step { pdu_type, a: 0, b: 0, oids: oids.clone() };
        match request {
            Request::Get(o) => plain(PduType::GetRequest, o),
            Request::GetNext(o) => plain(PduType::GetNextRequest, o),
            Request::GetBulk { non_repeaters, max_repetitions, oids } => Step {
                pdu_type: PduType::GetBulkRequest,
                a: clamp_i32(*non_repeaters),
                b: clamp_i32(*max_repetitions),
                oids: oids.clone(),
            },
            Request::Walk { root, max_repetitions } if version == Version::V1 || *max_repetitions == 0 => {
                plain(PduType::GetNextRequest, &vec![root.clone()])
            }
            Request::Walk { root, max_repetitions } => Step {
                pdu_type: PduType::GetBulkRequest,
                a: 0,
                b: clamp_i32(*max_repetitions),
                oids: vec![root.clone()],
            },
        }
    }

    /// The PDU with NULL values, as requests carry.
    pub fn pdu(&self, request_id: i32) -> Pdu<'_> {
        Pdu {
            pdu_type: self.pdu_type,
            request_id,
            error_status: self.a,
            error_index: self.b,
            varbinds: self.oids.iter().map(|o| VarBind { oid: Oid::clone(o), value: Value::Null }).collect(),
        }
    }
}

pub(super) fn clamp_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// The empty, unauthenticated, reportable GET that makes an agent report its engine
/// ID, boots and time (RFC 3414 §4), as snmpget sends it.
pub(super) fn discovery_message(msg_id: i32, max_size: u32) -> Vec<u8> {
    Message::V3(V3Message {
        msg_id,
        max_size: clamp_i32(max_size),
        flags: MsgFlags(MsgFlags::REPORTABLE),
        security_model: SECURITY_MODEL_USM,
        usm: UsmParams::default(),
        data: ScopedPduData::Plaintext(ScopedPdu {
            context_engine_id: Cow::Borrowed(b""),
            context_name: Cow::Borrowed(b""),
            pdu: AnyPdu::Pdu(Pdu {
                pdu_type: PduType::GetRequest,
                request_id: msg_id,
                error_status: 0,
                error_index: 0,
                varbinds: Vec::new(),
            }),
        }),
        auth_params_at: 0..0,
    })
    .emit(Vec::new())
    .0
}

/// The v3 request for `step` to a known engine: the ScopedPDU encrypted if the user
/// has privacy, then the whole message signed if it has authentication. `salt` must
/// not repeat under one key.
#[allow(clippy::too_many_arguments)]
pub(super) fn encode_v3(
    now: Instant,
    engine: &mut Engine,
    keys: &Arc<UserKeys>,
    context_name: &[u8],
    msg_id: i32,
    step: &Step,
    salt: u64,
    max_size: u32,
) -> Result<Vec<u8>, String> {
    let local = engine.local_keys(keys);
    let (boots, time) = (engine.boots, engine.time_now(now));
    let scoped = ScopedPdu {
        context_engine_id: Cow::Borrowed(&engine.id),
        context_name: Cow::Borrowed(context_name),
        pdu: AnyPdu::Pdu(step.pdu(msg_id)),
    };
    let mut flags = MsgFlags::REPORTABLE;
    let mut priv_params = Vec::new();
    let data = match &local.privacy {
        Some((p, key)) => {
            flags |= MsgFlags::PRIV | MsgFlags::AUTH;
            let (ct, params) = p.encrypt(key, boots, time, salt, &scoped.to_bytes()).map_err(|e| e.to_string())?;
            priv_params = params.to_vec();
            ScopedPduData::Encrypted(Cow::Owned(ct))
        }
        None => ScopedPduData::Plaintext(scoped),
    };
    let mac_len = local.auth.as_ref().map(|(a, _)| a.mac_len()).unwrap_or(0);
    if mac_len > 0 {
        flags |= MsgFlags::AUTH;
    }
    let msg = Message::V3(V3Message {
        msg_id,
        max_size: clamp_i32(max_size),
        flags: MsgFlags(flags),
        security_model: SECURITY_MODEL_USM,
        usm: UsmParams {
            engine_id: Cow::Borrowed(&engine.id),
            engine_boots: boots,
            engine_time: time,
            user_name: Cow::Borrowed(&keys.user),
            auth_params: Cow::Owned(vec![0; mac_len]),
            priv_params: Cow::Owned(priv_params),
        },
        data,
        auth_params_at: 0..0,
    });
    let (mut bytes, at) = msg.emit(Vec::new());
    if let Some((a, key)) = &local.auth {
        a.sign(key, &mut bytes, at).map_err(|e| e.to_string())?;
    }
    Ok(bytes)
}
