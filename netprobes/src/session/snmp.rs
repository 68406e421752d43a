//! SNMP manager: one sans-IO session multiplexing many GET/GETNEXT/GETBULK/walk
//! operations over one UDP socket, for v1, v2c and v3 (USM). It owns retries and
//! timeouts, v3 engine discovery, the time window and per-engine localized keys. It
//! is not an agent and does not receive traps.
//!
//! Replies are matched by request-id (v1/v2c) or msgID (v3) — both drawn from one
//! counter, so one map serves both — and must come from the address the request went
//! to. A host that does not answer is an [`Outcome::Failed`], not an error: errors
//! from [`SnmpManager::start`] mean the request itself cannot be sent.

pub mod check;
mod encode;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use self::encode::{Step, discovery_message, encode_v3};
use super::{DatagramSession, Transmit};
use crate::time::Instant;
use crate::wire::snmp::{
    AnyPdu, CommunityMessage, ErrorStatus, LocalKeys, Message, MsgFlags, Oid, Pdu, PduType, ScopedPdu,
    ScopedPduData, UserKeys, UsmParams, V3Message, VarBind, Version,
};

/// Session-wide settings.
#[derive(Debug, Clone)]
pub struct ManagerConfig {
    /// Starting point of request ids, msgIDs and privacy salts. Drivers pass a random
    /// value (ids must not be guessable by off-path spoofers); tests a fixed one.
    pub seed: u64,
    /// Operations in flight at once; [`SnmpManager::start`] refuses more. Bounds
    /// the memory the session holds.
    pub max_in_flight: usize,
    /// msgMaxSize we announce in v3.
    pub max_message_size: u32,
}

impl Default for ManagerConfig {
    fn default() -> Self {
        ManagerConfig { seed: 0x5eed_0001, max_in_flight: 4096, max_message_size: 65_507 }
    }
}

/// How to talk to one agent.
#[derive(Debug, Clone)]
pub enum Security {
    /// v1 or v2c.
    Community { version: Version, community: Vec<u8> },
    /// v3 with USM. The security level follows from which keys `keys` holds.
    Usm { keys: Arc<UserKeys>, context_name: Vec<u8> },
}

/// One agent and how patient to be with it.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub security: Security,
    /// Wait this long for each attempt.
    pub timeout: Duration,
    /// Resend this many times after the first attempt.
    pub retries: u32,
}

/// What to ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Get(Vec<Oid<'static>>),
    GetNext(Vec<Oid<'static>>),
    GetBulk { non_repeaters: u32, max_repetitions: u32, oids: Vec<Oid<'static>> },
    /// Everything below `root`, in order. `max_repetitions` > 0 walks with GETBULK
    /// (v2c/v3), 0 with GETNEXT; v1 always uses GETNEXT. As with snmpwalk, a walk
    /// that finds nothing GETs `root` itself, and one that runs into the end of the
    /// agent's MIB inside the subtree ends with that endOfMibView binding.
    Walk { root: Oid<'static>, max_repetitions: u32 },
}

/// Names an operation started with [`SnmpManager::start`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId(pub u64);

/// An operation finished.
#[derive(Debug, Clone, PartialEq)]
pub struct SnmpEvent {
    pub id: OpId,
    pub addr: SocketAddr,
    pub outcome: Outcome,
    /// From start to completion, discovery and retries included.
    pub elapsed: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The bindings returned (for a walk: all of them, in order).
    Values(Vec<VarBind<'static>>),
    Failed(Failure),
}

/// Why an operation produced no values. Each says whose side failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Failure {
    #[error("Timeout: No Response from {addr} after {attempts} attempts ({hint})")]
    Timeout { addr: SocketAddr, attempts: u32, hint: String },
    #[error("agent returned error {status} at index {index}{}", oid.as_ref().map(|o| format!(" ({o})")).unwrap_or_default())]
    ErrorStatus { status: ErrorStatus, index: i32, oid: Option<Oid<'static>> },
    #[error("{0}")]
    Report(ReportKind),
    #[error("walk: agent returned {oid} after {previous} (OID not increasing)")]
    NotIncreasing { previous: Oid<'static>, oid: Oid<'static> },
    #[error("cannot build the request: {0}")]
    Encode(String),
}

/// usmStats reports (RFC 3414 §5) and anything else an agent reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportKind {
    UnsupportedSecurityLevel,
    NotInTimeWindow,
    UnknownUserName,
    UnknownEngineId,
    WrongDigest,
    DecryptionError,
    Other(Oid<'static>),
}

impl ReportKind {
    fn classify(oid: &Oid<'_>) -> ReportKind {
        let arcs = oid.to_arcs();
        match arcs.as_slice() {
            [1, 3, 6, 1, 6, 3, 15, 1, 1, n, 0] => match n {
                1 => ReportKind::UnsupportedSecurityLevel,
                2 => ReportKind::NotInTimeWindow,
                3 => ReportKind::UnknownUserName,
                4 => ReportKind::UnknownEngineId,
                5 => ReportKind::WrongDigest,
                6 => ReportKind::DecryptionError,
                _ => ReportKind::Other(oid.to_owned_oid()),
            },
            _ => ReportKind::Other(oid.to_owned_oid()),
        }
    }
}

impl fmt::Display for ReportKind {
    /// Worded as net-snmp words them, so operators recognise them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportKind::UnsupportedSecurityLevel => write!(f, "Unsupported security level (the user exists without this auth/priv level)"),
            ReportKind::NotInTimeWindow => write!(f, "Not in time window (engine boots/time could not be synchronised)"),
            ReportKind::UnknownUserName => write!(f, "Unknown user name"),
            ReportKind::UnknownEngineId => write!(f, "Unknown engine ID"),
            ReportKind::WrongDigest => write!(f, "Authentication failure (incorrect password, community or key)"),
            ReportKind::DecryptionError => write!(f, "Decryption error (incorrect privacy password or protocol)"),
            ReportKind::Other(o) => write!(f, "agent sent report {o}"),
        }
    }
}

/// Why [`SnmpManager::start`] refused an operation.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StartError {
    #[error("{limit} operations already in flight")]
    Busy { limit: usize },
    #[error("no OIDs to ask for")]
    NoOids,
    #[error("GETBULK needs v2c or v3")]
    BulkNeedsV2,
    #[error("community security with version v3")]
    CommunityV3,
}

/// Where an operation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Sending the empty v3 request that makes the agent report its engine.
    Discovering,
    /// Another operation is discovering this agent's engine.
    WaitingForEngine,
    Requesting,
}

#[derive(Debug)]
struct Walk {
    root: Oid<'static>,
    collected: Vec<VarBind<'static>>,
    /// Set once the walk fell back to a GET of the root (a walk of a leaf).
    trying_get: bool,
}

#[derive(Debug)]
struct Op {
    target: Target,
    started: Instant,
    phase: Phase,
    /// The PDU of the current step.
    step: Step,
    wire_id: Option<i32>,
    attempts: u32,
    deadline: Option<Instant>,
    walk: Option<Walk>,
    /// Time-window resynchronisations and rediscoveries left.
    resyncs: u8,
    /// Why replies were dropped, to explain a timeout.
    problem: Option<&'static str>,
    /// Last datagram sent, resent as is by v1/v2c retries.
    payload: Vec<u8>,
}

#[derive(Debug)]
struct Engine {
    id: Vec<u8>,
    boots: u32,
    time: u32,
    /// When `time` was learned.
    at: Instant,
    /// Keys localized to this engine, per user.
    keys: Vec<(Arc<UserKeys>, LocalKeys)>,
}

impl Engine {
    /// The agent's engine time now, by our clock (RFC 3414 §2.3).
    fn time_now(&self, now: Instant) -> u32 {
        let secs = now.saturating_since(self.at).as_secs();
        u32::try_from(u64::from(self.time).saturating_add(secs)).unwrap_or(u32::MAX).min(i32::MAX as u32)
    }

    fn local_keys(&mut self, user: &Arc<UserKeys>) -> LocalKeys {
        if let Some((_, k)) = self.keys.iter().find(|(u, _)| Arc::ptr_eq(u, user) || **u == **user) {
            return k.clone();
        }
        let k = user.localize(&self.id);
        self.keys.push((user.clone(), k.clone()));
        k
    }
}

#[derive(Debug)]
enum EngineEntry {
    Discovering { by: OpId, waiters: Vec<OpId> },
    Known(Engine),
}

/// Reports that are not from a v3 USM reply are ignored; these are the three
/// fields of an incoming v3 message the session acts on.
struct V3Incoming<'b> {
    flags: MsgFlags,
    usm: UsmParams<'b>,
    pdu: Pdu<'b>,
}

/// The session. See the module documentation.
#[derive(Debug)]
pub struct SnmpManager {
    config: ManagerConfig,
    ops: HashMap<OpId, Op>,
    by_wire: HashMap<i32, OpId>,
    timers: BTreeSet<(Instant, OpId)>,
    engines: HashMap<SocketAddr, EngineEntry>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<SnmpEvent>,
    next_op: u64,
    next_wire: u32,
    salt: u64,
    /// Datagrams that matched no operation or failed to decode (for diagnostics).
    pub dropped: u64,
    /// GETBULKs asked again with fewer repetitions after a tooBig.
    pub too_big_retries: u64,
}

impl SnmpManager {
    pub fn new(config: ManagerConfig) -> Self {
        let seed = config.seed;
        SnmpManager {
            ops: HashMap::with_capacity(config.max_in_flight.min(1 << 16)),
            by_wire: HashMap::with_capacity(config.max_in_flight.min(1 << 16)),
            timers: BTreeSet::new(),
            engines: HashMap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            next_op: 0,
            // 31-bit ids; never 0 (some agents treat 0 specially).
            next_wire: ((seed >> 32) as u32 & 0x7fff_ffff).max(1),
            salt: seed.rotate_left(17) ^ 0x9e37_79b9_7f4a_7c15,
            dropped: 0,
            too_big_retries: 0,
            config,
        }
    }

    /// Operations not yet finished.
    pub fn in_flight(&self) -> usize {
        self.ops.len()
    }

    /// Begin an operation; its [`SnmpEvent`] comes out of `poll_event`.
    pub fn start(&mut self, now: Instant, target: Target, request: Request) -> Result<OpId, StartError> {
        if self.ops.len() >= self.config.max_in_flight {
            return Err(StartError::Busy { limit: self.config.max_in_flight });
        }
        let version = match &target.security {
            Security::Community { version: Version::V3, .. } => return Err(StartError::CommunityV3),
            Security::Community { version, .. } => *version,
            Security::Usm { .. } => Version::V3,
        };
        let step = match &request {
            Request::Get(o) | Request::GetNext(o) | Request::GetBulk { oids: o, .. } if o.is_empty() => {
                return Err(StartError::NoOids);
            }
            Request::GetBulk { .. } if version == Version::V1 => return Err(StartError::BulkNeedsV2),
            _ => Step::first(&request, version),
        };
        let walk = match &request {
            Request::Walk { root, .. } => Some(Walk { root: root.clone(), collected: Vec::new(), trying_get: false }),
            _ => None,
        };
        let id = OpId(self.next_op);
        self.next_op += 1;
        let addr = target.addr;
        let mut op = Op {
            target,
            started: now,
            phase: Phase::Requesting,
            step,
            wire_id: None,
            attempts: 0,
            deadline: None,
            walk,
            resyncs: 2,
            problem: None,
            payload: Vec::new(),
        };
        if version == Version::V3 {
            op.phase = match self.engines.get_mut(&addr) {
                Some(EngineEntry::Known(_)) => Phase::Requesting,
                Some(EngineEntry::Discovering { waiters, .. }) => {
                    waiters.push(id);
                    Phase::WaitingForEngine
                }
                None => {
                    self.engines.insert(addr, EngineEntry::Discovering { by: id, waiters: Vec::new() });
                    Phase::Discovering
                }
            };
        }
        self.ops.insert(id, op);
        if self.ops.get(&id).is_some_and(|o| o.phase != Phase::WaitingForEngine) {
            self.send(now, id, true);
        }
        Ok(id)
    }

    fn alloc_wire_id(&mut self) -> i32 {
        loop {
            let id = self.next_wire;
            self.next_wire = if self.next_wire >= 0x7fff_fffe { 1 } else { self.next_wire + 1 };
            // Fits: kept below 2^31 above.
            let id = id as i32;
            if !self.by_wire.contains_key(&id) {
                return id;
            }
        }
    }

    /// Send (or resend) the current step of `id`. `fresh` starts a new step.
    fn send(&mut self, now: Instant, id: OpId, fresh: bool) {
        let wire = match self.ops.get(&id).and_then(|o| o.wire_id) {
            Some(w) if !fresh => w,
            old => {
                if let Some(w) = old {
                    self.by_wire.remove(&w);
                }
                let w = self.alloc_wire_id();
                self.by_wire.insert(w, id);
                w
            }
        };
        let Some(op) = self.ops.get_mut(&id) else { return };
        if fresh {
            op.attempts = 0;
        }
        op.wire_id = Some(wire);
        let encoded = match &op.target.security {
            // v1/v2c retries resend the same bytes.
            Security::Community { .. } if !fresh && !op.payload.is_empty() => Ok(op.payload.clone()),
            Security::Community { version, community } => {
                let msg = Message::Community(CommunityMessage {
                    version: *version,
                    community: Cow::Borrowed(community),
                    pdu: AnyPdu::Pdu(op.step.pdu(wire)),
                });
                Ok(msg.emit(Vec::new()).0)
            }
            Security::Usm { keys, context_name } => {
                let (keys, context_name) = (keys.clone(), context_name.clone());
                match op.phase {
                    Phase::Discovering => Ok(discovery_message(wire, self.config.max_message_size)),
                    _ => {
                        self.salt = self.salt.wrapping_add(1);
                        let Some(EngineEntry::Known(engine)) = self.engines.get_mut(&op.target.addr) else {
                            return;
                        };
                        encode_v3(now, engine, &keys, &context_name, wire, &op.step, self.salt, self.config.max_message_size)
                    }
                }
            }
        };
        let payload = match encoded {
            Ok(p) => p,
            Err(e) => {
                self.finish(now, id, Outcome::Failed(Failure::Encode(e)));
                return;
            }
        };
        let Some(op) = self.ops.get_mut(&id) else { return };
        op.attempts += 1;
        if let Some(d) = op.deadline.take() {
            self.timers.remove(&(d, id));
        }
        let deadline = now + op.target.timeout;
        op.deadline = Some(deadline);
        self.timers.insert((deadline, id));
        self.transmits.push_back(Transmit { destination: op.target.addr, payload: payload.clone() });
        op.payload = payload;
    }

    fn finish(&mut self, now: Instant, id: OpId, outcome: Outcome) {
        let Some(op) = self.ops.remove(&id) else { return };
        if let Some(w) = op.wire_id {
            self.by_wire.remove(&w);
        }
        if let Some(d) = op.deadline {
            self.timers.remove(&(d, id));
        }
        if op.phase == Phase::Discovering {
            // Waiters share this operation's fate: nobody else is discovering for them.
            if let Some(EngineEntry::Discovering { by, waiters }) = self.engines.remove(&op.target.addr)
                && by == id
            {
                for w in waiters {
                    self.finish(now, w, outcome.clone());
                }
            }
        }
        self.events.push_back(SnmpEvent {
            id,
            addr: op.target.addr,
            outcome,
            elapsed: now.saturating_since(op.started),
        });
    }

    fn handle_community(&mut self, now: Instant, from: SocketAddr, msg: CommunityMessage<'_>) {
        let AnyPdu::Pdu(pdu) = msg.pdu else { return self.drop_one() };
        let Some(&id) = self.by_wire.get(&pdu.request_id) else { return self.drop_one() };
        let Some(op) = self.ops.get(&id) else { return self.drop_one() };
        let matches = op.target.addr == from
            && matches!(&op.target.security, Security::Community { version, community }
                if *version == msg.version && community.as_slice() == &*msg.community);
        if !matches || pdu.pdu_type != PduType::Response {
            return self.drop_one();
        }
        self.handle_response(now, id, pdu);
    }

    fn handle_v3(&mut self, now: Instant, from: SocketAddr, raw: &[u8], msg: V3Message<'_>) {
        let Some(&id) = self.by_wire.get(&msg.msg_id) else { return self.drop_one() };
        let Some(op) = self.ops.get_mut(&id) else { return self.drop_one() };
        let Security::Usm { keys, .. } = &op.target.security else { return self.drop_one() };
        let keys = keys.clone();
        if op.target.addr != from {
            return self.drop_one();
        }
        let engine = match self.engines.get_mut(&from) {
            Some(EngineEntry::Known(e)) => Some(e),
            _ => None,
        };
        let mut local = None;
        if msg.flags.auth() {
            // Only an engine we know can have authenticated this.
            let Some(engine) = engine else { return self.drop_one() };
            if engine.id.as_slice() != &*msg.usm.engine_id {
                op.problem = Some("authenticated replies came from another engine ID");
                return self.drop_one();
            }
            let k = engine.local_keys(&keys);
            let Some((auth, key)) = &k.auth else { return self.drop_one() };
            if auth.verify(key, raw, msg.auth_params_at.clone()).is_err() {
                op.problem = Some("replies failed authentication (wrong auth password or protocol?)");
                return self.drop_one();
            }
            // RFC 3414 §3.2 step 7b: a non-authoritative engine follows the agent's clock.
            let (boots, time) = (msg.usm.engine_boots, msg.usm.engine_time);
            if boots > engine.boots || (boots == engine.boots && time > engine.time_now(now)) {
                engine.boots = boots;
                engine.time = time;
                engine.at = now;
            }
            if engine.boots == i32::MAX as u32
                || boots < engine.boots
                || (boots == engine.boots && engine.time_now(now).saturating_sub(time) > 150)
            {
                op.problem = Some("authenticated replies were outside the time window");
                return self.drop_one();
            }
            local = Some(k);
        }
        let decrypted;
        let scoped = match msg.data {
            ScopedPduData::Plaintext(s) => s,
            ScopedPduData::Encrypted(ct) => {
                let Some((p, key)) = local.as_ref().and_then(|k| k.privacy.as_ref()) else { return self.drop_one() };
                let u = &msg.usm;
                match p.decrypt(key, u.engine_boots, u.engine_time, &u.priv_params, &ct) {
                    Ok(pt) => decrypted = pt,
                    Err(_) => return self.drop_one(),
                }
                match ScopedPdu::parse_decrypted(&decrypted) {
                    Ok(s) => s,
                    Err(_) => {
                        if let Some(op) = self.ops.get_mut(&id) {
                            op.problem = Some("replies did not decrypt (wrong privacy password or protocol?)");
                        }
                        return self.drop_one();
                    }
                }
            }
        };
        let AnyPdu::Pdu(pdu) = scoped.pdu else { return self.drop_one() };
        let incoming = V3Incoming { flags: msg.flags, usm: msg.usm, pdu };
        match incoming.pdu.pdu_type {
            PduType::Report => self.handle_report(now, id, incoming),
            PduType::Response => {
                let Some(op) = self.ops.get(&id) else { return };
                let wanted = keys.auth.is_some() as u8 | (keys.privacy.is_some() as u8) << 1;
                if op.phase != Phase::Requesting || incoming.flags.0 & 0x03 != wanted {
                    return self.drop_one();
                }
                self.handle_response(now, id, incoming.pdu);
            }
            _ => self.drop_one(),
        }
    }

    fn handle_report(&mut self, now: Instant, id: OpId, m: V3Incoming<'_>) {
        let kind = m.pdu.varbinds.first().map(|vb| ReportKind::classify(&vb.oid));
        let Some(op) = self.ops.get_mut(&id) else { return };
        let addr = op.target.addr;
        if op.phase == Phase::Discovering {
            if m.usm.engine_id.is_empty() {
                return self.drop_one();
            }
            let engine = Engine {
                id: m.usm.engine_id.to_vec(),
                boots: m.usm.engine_boots,
                time: m.usm.engine_time,
                at: now,
                keys: Vec::new(),
            };
            let waiters = match self.engines.insert(addr, EngineEntry::Known(engine)) {
                Some(EngineEntry::Discovering { waiters, .. }) => waiters,
                _ => Vec::new(),
            };
            op.phase = Phase::Requesting;
            self.send(now, id, true);
            for w in waiters {
                if let Some(o) = self.ops.get_mut(&w) {
                    o.phase = Phase::Requesting;
                    self.send(now, w, true);
                }
            }
            return;
        }
        if op.phase != Phase::Requesting {
            return self.drop_one();
        }
        match kind {
            // The authenticated report carried the agent's clock, applied above.
            Some(ReportKind::NotInTimeWindow) if m.flags.auth() && op.resyncs > 0 => {
                op.resyncs -= 1;
                self.send(now, id, true);
            }
            // The agent restarted with another engine ID: discover again.
            Some(ReportKind::UnknownEngineId) if op.resyncs > 0 => {
                op.resyncs -= 1;
                if matches!(self.engines.get(&addr), Some(EngineEntry::Known(_)) | None) {
                    self.engines.insert(addr, EngineEntry::Discovering { by: id, waiters: Vec::new() });
                    op.phase = Phase::Discovering;
                } else if let Some(EngineEntry::Discovering { waiters, .. }) = self.engines.get_mut(&addr) {
                    waiters.push(id);
                    op.phase = Phase::WaitingForEngine;
                    if let Some(w) = op.wire_id.take() {
                        self.by_wire.remove(&w);
                    }
                    if let Some(d) = op.deadline.take() {
                        self.timers.remove(&(d, id));
                    }
                    return;
                }
                self.send(now, id, true);
            }
            Some(k) => self.finish(now, id, Outcome::Failed(Failure::Report(k))),
            None => self.drop_one(),
        }
    }

    fn handle_response(&mut self, now: Instant, id: OpId, pdu: Pdu<'_>) {
        let Some(op) = self.ops.get_mut(&id) else { return };
        let status = pdu.error_status();
        // An answer that would not fit in the agent's message size: a GETBULK (a bulk
        // walk's step too) is asked again with half the repetitions, as pollers do;
        // at one repetition tooBig is the answer.
        if status == ErrorStatus::TOO_BIG && op.step.pdu_type == PduType::GetBulkRequest && op.step.b > 1 {
            op.step.b /= 2;
            self.too_big_retries += 1;
            return self.send(now, id, true);
        }
        let failed_oid = |pdu: &Pdu<'_>| {
            usize::try_from(pdu.error_index)
                .ok()
                .and_then(|i| i.checked_sub(1))
                .and_then(|i| pdu.varbinds.get(i))
                .map(|vb| vb.oid.to_owned_oid())
        };
        let Some(walk) = op.walk.as_mut() else {
            let outcome = if status == ErrorStatus::NO_ERROR {
                Outcome::Values(pdu.varbinds.into_iter().map(VarBind::into_owned).collect())
            } else {
                Outcome::Failed(Failure::ErrorStatus { status, index: pdu.error_index, oid: failed_oid(&pdu) })
            };
            return self.finish(now, id, outcome);
        };
        if walk.trying_get {
            // The GET of a walked leaf; an exception is kept, snmpwalk prints it too.
            if status == ErrorStatus::NO_ERROR {
                walk.collected.extend(pdu.varbinds.into_iter().map(VarBind::into_owned));
            }
            let all = std::mem::take(&mut walk.collected);
            return self.finish(now, id, Outcome::Values(all));
        }
        let mut done = pdu.varbinds.is_empty();
        if status == ErrorStatus::NO_SUCH_NAME {
            // v1's end of MIB.
            done = true;
        } else if status != ErrorStatus::NO_ERROR {
            let f = Failure::ErrorStatus { status, index: pdu.error_index, oid: failed_oid(&pdu) };
            return self.finish(now, id, Outcome::Failed(f));
        } else {
            for vb in pdu.varbinds {
                if !vb.oid.starts_with(&walk.root) {
                    done = true;
                    break;
                }
                if vb.value.is_exception() {
                    // endOfMibView echoes the OID asked for: inside the subtree, it
                    // is kept (snmpwalk prints it) and ends the walk.
                    walk.collected.push(vb.into_owned());
                    done = true;
                    break;
                }
                if let Some(prev) = walk.collected.last()
                    && vb.oid <= prev.oid
                {
                    let f = Failure::NotIncreasing { previous: prev.oid.clone(), oid: vb.oid.into_owned() };
                    return self.finish(now, id, Outcome::Failed(f));
                }
                walk.collected.push(vb.into_owned());
            }
        }
        if done {
            if walk.collected.is_empty() {
                // net-snmp's snmpwalk then GETs the root itself (a walk of a leaf).
                walk.trying_get = true;
                op.step = Step { pdu_type: PduType::GetRequest, a: 0, b: 0, oids: vec![walk.root.clone()] };
                return self.send(now, id, true);
            }
            let all = std::mem::take(&mut walk.collected);
            return self.finish(now, id, Outcome::Values(all));
        }
        if let Some(last) = walk.collected.last() {
            op.step.oids = vec![last.oid.clone()];
        }
        self.send(now, id, true);
    }

    fn drop_one(&mut self) {
        self.dropped += 1;
    }
}

impl DatagramSession for SnmpManager {
    type Event = SnmpEvent;

    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, payload: &[u8]) {
        match Message::parse(payload) {
            Ok(Message::Community(c)) => self.handle_community(now, from, c),
            Ok(Message::V3(v)) => self.handle_v3(now, from, payload, v),
            Err(_) => self.drop_one(),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(deadline, id)) = self.timers.first() {
            if deadline > now {
                break;
            }
            self.timers.remove(&(deadline, id));
            let Some(op) = self.ops.get_mut(&id) else { continue };
            if op.deadline != Some(deadline) {
                continue;
            }
            op.deadline = None;
            if op.attempts <= op.target.retries {
                self.send(now, id, false);
                continue;
            }
            let hint = match (op.problem, &op.target.security) {
                (Some(p), _) => p.to_owned(),
                (None, Security::Community { .. }) => "wrong community, host down or filtered".to_owned(),
                (None, Security::Usm { .. }) if op.phase == Phase::Discovering => {
                    "no SNMPv3 engine discovered: host down, filtered or no v3".to_owned()
                }
                (None, Security::Usm { keys, .. }) if keys.privacy.is_some() => {
                    "engine discovered, then silence: wrong privacy password or protocol, host down or filtered".to_owned()
                }
                (None, Security::Usm { .. }) => "engine discovered, then silence: host down or filtered".to_owned(),
            };
            let f = Failure::Timeout { addr: op.target.addr, attempts: op.attempts, hint };
            self.finish(now, id, Outcome::Failed(f));
        }
    }

    fn poll_transmit(&mut self, _now: Instant) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|(d, _)| *d)
    }

    fn poll_event(&mut self) -> Option<SnmpEvent> {
        self.events.pop_front()
    }
}
