//! The manager on virtual time against an in-memory agent built from our own wire
//! types (v1/v2c and v3 USM with engine discovery, time window and reports). Real
//! snmpd is exercised by netprobes/tests/snmp.rs; this checks the state machine.

use std::collections::BTreeMap;

use super::*;
use crate::wire::snmp::{AuthProtocol, PrivProtocol, Value};

const AGENT: &str = "127.0.0.1:1161";
const ENGINE_ID: &[u8] = b"\x80\x00\x1f\x88\x04fake";

fn addr() -> SocketAddr {
    AGENT.parse().unwrap()
}

fn oid(s: &str) -> Oid<'static> {
    s.parse().unwrap()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// An agent: a sorted MIB, a community, v3 users, and knobs to misbehave.
struct Agent {
    mib: BTreeMap<Oid<'static>, Value<'static>>,
    community: Vec<u8>,
    users: Vec<UserKeys>,
    boots: u32,
    /// Engine time = (now - epoch) in seconds + offset.
    time_offset: u32,
    /// Drop this many requests before answering.
    drop_next: u32,
    /// Answer v1 GETNEXT at the end of the MIB with noSuchName.
    seen: Vec<Vec<u8>>,
    salt: u64,
    /// Reply with OIDs that go backwards (a broken agent).
    broken_order: bool,
    /// Answer tooBig when a reply would carry more bindings than this.
    too_big_over: Option<usize>,
}

impl Agent {
    fn new() -> Self {
        let mut mib = BTreeMap::new();
        mib.insert(oid("1.3.6.1.2.1.1.1.0"), Value::OctetString(Cow::Borrowed(b"Fake agent")));
        mib.insert(oid("1.3.6.1.2.1.1.2.0"), Value::ObjectId(oid("1.3.6.1.4.1.8072.3.2.10")));
        mib.insert(oid("1.3.6.1.2.1.1.3.0"), Value::TimeTicks(12345));
        mib.insert(oid("1.3.6.1.2.1.1.4.0"), Value::OctetString(Cow::Borrowed(b"root")));
        mib.insert(oid("1.3.6.1.2.1.1.5.0"), Value::OctetString(Cow::Borrowed(b"fake")));
        mib.insert(oid("1.3.6.1.2.1.2.1.0"), Value::Integer(2));
        Agent {
            mib,
            community: b"public".to_vec(),
            users: Vec::new(),
            boots: 3,
            time_offset: 1000,
            drop_next: 0,
            seen: Vec::new(),
            salt: 99,
            broken_order: false,
            too_big_over: None,
        }
    }

    fn engine_time(&self, now: Instant) -> u32 {
        (now.as_nanos() / 1_000_000_000) as u32 + self.time_offset
    }

    fn answer(&self, t: PduType, a: i32, b: i32, vbs: &[VarBind<'_>], v1: bool) -> (i32, i32, Vec<VarBind<'static>>) {
        let mut out = Vec::new();
        let next = |o: &Oid<'_>| self.mib.range(o.to_owned_oid()..).find(|(k, _)| *k > o).map(|(k, v)| (k.clone(), v.clone()));
        match t {
            PduType::GetRequest => {
                for (i, vb) in vbs.iter().enumerate() {
                    match self.mib.get(&vb.oid.to_owned_oid()) {
                        Some(v) => out.push(VarBind { oid: vb.oid.to_owned_oid(), value: v.clone() }),
                        None if v1 => return (2, i as i32 + 1, vbs.iter().map(|v| v.clone().into_owned()).collect()),
                        None => out.push(VarBind { oid: vb.oid.to_owned_oid(), value: Value::NoSuchObject }),
                    }
                }
            }
            PduType::GetNextRequest | PduType::GetBulkRequest => {
                let reps = if t == PduType::GetBulkRequest { b.max(1) as usize } else { 1 };
                let _ = a;
                for vb in vbs {
                    let mut cur = vb.oid.to_owned_oid();
                    for _ in 0..reps {
                        match next(&cur) {
                            Some((k, v)) => {
                                out.push(VarBind { oid: k.clone(), value: v });
                                cur = k;
                            }
                            None if v1 => return (2, 1, vbs.iter().map(|v| v.clone().into_owned()).collect()),
                            None => {
                                out.push(VarBind { oid: cur.clone(), value: Value::EndOfMibView });
                                break;
                            }
                        }
                    }
                }
                if self.broken_order && out.len() > 1 {
                    out.swap(0, 1);
                }
            }
            _ => {}
        }
        if self.too_big_over.is_some_and(|n| out.len() > n) {
            return (1, 0, vbs.iter().map(|v| v.clone().into_owned()).collect());
        }
        (0, 0, out)
    }

    /// Handle one datagram; maybe reply.
    fn handle(&mut self, now: Instant, bytes: &[u8]) -> Option<Vec<u8>> {
        self.seen.push(bytes.to_vec());
        if self.drop_next > 0 {
            self.drop_next -= 1;
            return None;
        }
        match Message::parse(bytes).ok()? {
            Message::Community(c) => {
                if *c.community != *self.community {
                    return None; // as snmpd: silence
                }
                let AnyPdu::Pdu(p) = c.pdu else { return None };
                let (es, ei, vbs) = self.answer(p.pdu_type, p.error_status, p.error_index, &p.varbinds, c.version == Version::V1);
                let reply = Message::Community(CommunityMessage {
                    version: c.version,
                    community: c.community,
                    pdu: AnyPdu::Pdu(Pdu { pdu_type: PduType::Response, request_id: p.request_id, error_status: es, error_index: ei, varbinds: vbs }),
                });
                Some(reply.emit(Vec::new()).0)
            }
            Message::V3(m) => self.handle_v3(now, bytes, m),
        }
    }

    fn report(&mut self, now: Instant, m: &V3Message<'_>, stat: u32, keys: Option<&LocalKeys>) -> Option<Vec<u8>> {
        let pdu = Pdu {
            pdu_type: PduType::Report,
            request_id: 0,
            error_status: 0,
            error_index: 0,
            varbinds: vec![VarBind { oid: oid(&format!("1.3.6.1.6.3.15.1.1.{stat}.0")), value: Value::Counter32(1) }],
        };
        self.reply(now, m, pdu, keys.map(|k| LocalKeys { auth: k.auth.clone(), privacy: None }))
    }

    fn reply(&mut self, now: Instant, m: &V3Message<'_>, pdu: Pdu<'static>, keys: Option<LocalKeys>) -> Option<Vec<u8>> {
        let (boots, time) = (self.boots, self.engine_time(now));
        let scoped = ScopedPdu { context_engine_id: Cow::Borrowed(ENGINE_ID), context_name: Cow::Borrowed(b""), pdu: AnyPdu::Pdu(pdu) };
        let mut flags = 0;
        let mut priv_params = Vec::new();
        let data = match keys.as_ref().and_then(|k| k.privacy.clone()) {
            Some((p, key)) => {
                flags |= MsgFlags::PRIV;
                self.salt += 1;
                let (ct, params) = p.encrypt(&key, boots, time, self.salt, &scoped.to_bytes()).unwrap();
                priv_params = params.to_vec();
                ScopedPduData::Encrypted(Cow::Owned(ct))
            }
            None => ScopedPduData::Plaintext(scoped),
        };
        let auth = keys.as_ref().and_then(|k| k.auth.clone());
        if auth.is_some() {
            flags |= MsgFlags::AUTH;
        }
        let msg = Message::V3(V3Message {
            msg_id: m.msg_id,
            max_size: 65507,
            flags: MsgFlags(flags),
            security_model: 3,
            usm: UsmParams {
                engine_id: Cow::Borrowed(ENGINE_ID),
                engine_boots: boots,
                engine_time: time,
                user_name: m.usm.user_name.clone(),
                auth_params: Cow::Owned(vec![0; auth.as_ref().map(|(a, _)| a.mac_len()).unwrap_or(0)]),
                priv_params: Cow::Owned(priv_params),
            },
            data,
            auth_params_at: 0..0,
        });
        let (mut bytes, at) = msg.emit(Vec::new());
        if let Some((a, key)) = auth {
            a.sign(&key, &mut bytes, at).unwrap();
        }
        Some(bytes)
    }

    fn handle_v3(&mut self, now: Instant, raw: &[u8], m: V3Message<'_>) -> Option<Vec<u8>> {
        if m.usm.engine_id.is_empty() {
            return self.report(now, &m, 4, None); // discovery: unknownEngineIDs
        }
        if *m.usm.engine_id != *ENGINE_ID {
            return self.report(now, &m, 4, None);
        }
        let Some(user) = self.users.iter().find(|u| u.user == *m.usm.user_name).cloned() else {
            return self.report(now, &m, 3, None);
        };
        let keys = user.localize(ENGINE_ID);
        if m.flags.auth() {
            let (a, key) = keys.auth.clone()?;
            if a.verify(&key, raw, m.auth_params_at.clone()).is_err() {
                return self.report(now, &m, 5, None);
            }
            let t = self.engine_time(now);
            if m.usm.engine_boots != self.boots || m.usm.engine_time.abs_diff(t) > 150 {
                return self.report(now, &m, 2, Some(&keys));
            }
        }
        let decrypted;
        let scoped = match &m.data {
            ScopedPduData::Plaintext(s) => s.clone(),
            ScopedPduData::Encrypted(ct) => {
                let (p, key) = keys.privacy.clone()?;
                decrypted = p.decrypt(&key, m.usm.engine_boots, m.usm.engine_time, &m.usm.priv_params, ct).ok()?;
                match ScopedPdu::parse_decrypted(&decrypted) {
                    Ok(s) => s,
                    Err(_) => return self.report(now, &m, 6, None),
                }
            }
        };
        let AnyPdu::Pdu(p) = scoped.pdu else { return None };
        let (es, ei, vbs) = self.answer(p.pdu_type, p.error_status, p.error_index, &p.varbinds, false);
        let pdu = Pdu { pdu_type: PduType::Response, request_id: p.request_id, error_status: es, error_index: ei, varbinds: vbs };
        self.reply(now, &m, pdu, Some(keys))
    }
}

/// Run until the manager has nothing in flight, delivering datagrams to the agent
/// and stepping virtual time to the next deadline when nothing is on the wire.
fn run(mgr: &mut SnmpManager, agent: &mut Agent, mut now: Instant) -> (Vec<SnmpEvent>, Instant) {
    let mut events = Vec::new();
    for _ in 0..100_000 {
        let mut moved = false;
        while let Some(t) = mgr.poll_transmit(now) {
            moved = true;
            assert_eq!(t.destination, addr());
            if let Some(reply) = agent.handle(now, &t.payload) {
                // One millisecond on the wire.
                now = now + Duration::from_millis(1);
                mgr.handle_datagram(now, addr(), &reply);
            }
        }
        while let Some(e) = mgr.poll_event() {
            events.push(e);
        }
        if mgr.in_flight() == 0 {
            return (events, now);
        }
        if !moved {
            let next = mgr.poll_timeout().expect("operations in flight need a deadline");
            now = now.max(next);
            mgr.handle_timeout(now);
        }
    }
    panic!("did not settle");
}

fn v2c(community: &str) -> Target {
    Target {
        addr: addr(),
        security: Security::Community { version: Version::V2c, community: community.as_bytes().to_vec() },
        timeout: secs(1),
        retries: 2,
    }
}

fn v1() -> Target {
    Target { security: Security::Community { version: Version::V1, community: b"public".to_vec() }, ..v2c("public") }
}

fn usm(user: &UserKeys) -> Target {
    Target { security: Security::Usm { keys: Arc::new(user.clone()), context_name: Vec::new() }, ..v2c("") }
}

fn values(e: &SnmpEvent) -> &[VarBind<'static>] {
    match &e.outcome {
        Outcome::Values(v) => v,
        Outcome::Failed(f) => panic!("failed: {f}"),
    }
}

fn failure(e: &SnmpEvent) -> &Failure {
    match &e.outcome {
        Outcome::Failed(f) => f,
        Outcome::Values(v) => panic!("unexpected values {v:?}"),
    }
}

#[test]
fn v2c_get_many_in_flight_demultiplexed() {
    let mut mgr = SnmpManager::new(ManagerConfig::default());
    let mut agent = Agent::new();
    let now = Instant::ZERO;
    let ids: Vec<OpId> = ["1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.1.5.0"]
        .iter()
        .map(|o| mgr.start(now, v2c("public"), Request::Get(vec![oid(o)])).unwrap())
        .collect();
    // Three requests with three distinct request ids are on the wire before any reply.
    let sent: Vec<Transmit> = std::iter::from_fn(|| mgr.poll_transmit(now)).collect();
    assert_eq!(sent.len(), 3);
    let rids: Vec<i32> = sent
        .iter()
        .map(|t| match Message::parse(&t.payload).unwrap() {
            Message::Community(CommunityMessage { pdu: AnyPdu::Pdu(p), .. }) => p.request_id,
            _ => panic!(),
        })
        .collect();
    assert!(rids[0] != rids[1] && rids[1] != rids[2]);
    // Answer in reverse order.
    for t in sent.iter().rev() {
        let reply = agent.handle(now, &t.payload).unwrap();
        mgr.handle_datagram(now, addr(), &reply);
    }
    let events: Vec<SnmpEvent> = std::iter::from_fn(|| mgr.poll_event()).collect();
    assert_eq!(events.len(), 3);
    for e in &events {
        let i = ids.iter().position(|x| *x == e.id).unwrap();
        let want = ["Fake agent", "12345", "fake"][i];
        let got = values(e)[0].value.to_string();
        assert!(got.contains(want), "{got} vs {want}");
    }
    assert_eq!(mgr.poll_timeout(), None, "no timers left");
}

#[test]
fn retries_then_success_and_timeout_with_a_hint() {
    let mut mgr = SnmpManager::new(ManagerConfig::default());
    let mut agent = Agent::new();
    agent.drop_next = 2;
    mgr.start(Instant::ZERO, v2c("public"), Request::Get(vec![oid("1.3.6.1.2.1.1.1.0")])).unwrap();
    let (events, now) = run(&mut mgr, &mut agent, Instant::ZERO);
    values(&events[0]);
    assert_eq!(agent.seen.len(), 3);
    assert_eq!(agent.seen[0], agent.seen[2], "v1/v2c retries resend the same datagram");
    assert!(now >= Instant::ZERO + secs(2), "two timeouts elapsed");

    // Wrong community: snmpd stays silent; 1 + 2 retries, then a clear failure.
    let mut agent = Agent::new();
    mgr.start(now, v2c("private"), Request::Get(vec![oid("1.3.6.1.2.1.1.1.0")])).unwrap();
    let (events, end) = run(&mut mgr, &mut agent, now);
    let f = failure(&events[0]);
    assert!(matches!(f, Failure::Timeout { attempts: 3, .. }), "{f:?}");
    assert!(f.to_string().contains("wrong community"), "{f}");
    assert_eq!(end, now + secs(3));
    assert_eq!(events[0].elapsed, secs(3));
}

#[test]
fn replies_from_elsewhere_or_garbage_are_ignored() {
    let mut mgr = SnmpManager::new(ManagerConfig::default());
    let mut agent = Agent::new();
    mgr.start(Instant::ZERO, v2c("public"), Request::Get(vec![oid("1.3.6.1.2.1.1.1.0")])).unwrap();
    let t = mgr.poll_transmit(Instant::ZERO).unwrap();
    let reply = agent.handle(Instant::ZERO, &t.payload).unwrap();
    mgr.handle_datagram(Instant::ZERO, "127.0.0.2:1161".parse().unwrap(), &reply);
    mgr.handle_datagram(Instant::ZERO, addr(), &[0x30, 0x03, 0x02, 0x01]);
    mgr.handle_datagram(Instant::ZERO, addr(), &t.payload); // our own request echoed back
    assert_eq!(mgr.poll_event(), None);
    assert_eq!(mgr.dropped, 3);
    mgr.handle_datagram(Instant::ZERO, addr(), &reply);
    values(&mgr.poll_event().unwrap());
}

#[test]
fn unknown_oid_and_error_status() {
    let mut mgr = SnmpManager::new(ManagerConfig::default());
    let mut agent = Agent::new();
    mgr.start(Instant::ZERO, v2c("public"), Request::Get(vec![oid("1.3.6.1.2.1.1.99.0")])).unwrap();
    mgr.start(Instant::ZERO, v1(), Request::Get(vec![oid("1.3.6.1.2.1.1.1.0"), oid("1.3.6.1.2.1.1.99.0")])).unwrap();
    let (events, _) = run(&mut mgr, &mut agent, Instant::ZERO);
    assert_eq!(values(&events[0])[0].value, Value::NoSuchObject);
    let f = failure(&events[1]);
    assert_eq!(
        *f,
        Failure::ErrorStatus { status: ErrorStatus::NO_SUCH_NAME, index: 2, oid: Some(oid("1.3.6.1.2.1.1.99.0")) }
    );
    assert!(f.to_string().contains("noSuchName"), "{f}");
}

#[test]
fn walks_with_getbulk_getnext_and_v1() {
    let mut agent = Agent::new();
    let root = oid("1.3.6.1.2.1.1");
    for (target, reps) in [(v2c("public"), 2), (v2c("public"), 0), (v1(), 10)] {
        let mut mgr = SnmpManager::new(ManagerConfig::default());
        mgr.start(Instant::ZERO, target, Request::Walk { root: root.clone(), max_repetitions: reps }).unwrap();
        let (events, _) = run(&mut mgr, &mut agent, Instant::ZERO);
        let got: Vec<String> = values(&events[0]).iter().map(|vb| vb.oid.to_string()).collect();
        assert_eq!(got, ["1.0", "2.0", "3.0", "4.0", "5.0"].map(|s| format!(".1.3.6.1.2.1.1.{s}")), "reps {reps}");
    }
    // Walking past the whole MIB ends at endOfMibView.
    let mut mgr = SnmpManager::new(ManagerConfig::default());
    mgr.start(Instant::ZERO, v2c("public"), Request::Walk { root: oid("1.3.6.1.2.1.2"), max_repetitions: 5 }).unwrap();
    let (events, _) = run(&mut mgr, &mut agent, Instant::ZERO);
    let v = values(&events[0]);
    assert_eq!(v.len(), 2);
    assert_eq!(v[1], VarBind { oid: oid("1.3.6.1.2.1.2.1.0"), value: Value::EndOfMibView });
    // A walk of a leaf falls back to GET, like snmpwalk.
    let mut mgr = SnmpManager::new(ManagerConfig::default());
    mgr.start(Instant::ZERO, v2c("public"), Request::Walk { root: oid("1.3.6.1.2.1.1.3.0"), max_repetitions: 5 }).unwrap();
    let (events, _) = run(&mut mgr, &mut agent, Instant::ZERO);
    assert_eq!(values(&events[0]), &[VarBind { oid: oid("1.3.6.1.2.1.1.3.0"), value: Value::TimeTicks(12345) }]);
    // A broken agent going backwards is caught instead of looping.
    agent.broken_order = true;
    let mut mgr = SnmpManager::new(ManagerConfig::default());
    mgr.start(Instant::ZERO, v2c("public"), Request::Walk { root, max_repetitions: 3 }).unwrap();
    let (events, _) = run(&mut mgr, &mut agent, Instant::ZERO);
    assert!(matches!(failure(&events[0]), Failure::NotIncreasing { .. }));
}

#[test]
fn too_big_asks_again_with_half_the_repetitions() {
    let mut agent = Agent::new();
    agent.too_big_over = Some(3);
    // A bulk walk: 10 repetitions are too many, 5 too, 2 fit.
    let mut mgr = SnmpManager::new(ManagerConfig::default());
    mgr.start(Instant::ZERO, v2c("public"), Request::Walk { root: oid("1.3.6.1.2.1.1"), max_repetitions: 10 }).unwrap();
    let (events, _) = run(&mut mgr, &mut agent, Instant::ZERO);
    assert_eq!(values(&events[0]).len(), 5, "{:?}", events[0]);
    assert_eq!(mgr.too_big_retries, 2);
    let reps: Vec<i32> = agent
        .seen
        .iter()
        .filter_map(|b| match Message::parse(b).ok()? {
            Message::Community(CommunityMessage { pdu: AnyPdu::Pdu(p), .. }) => Some(p.error_index),
            _ => None,
        })
        .collect();
    assert_eq!(reps[..3], [10, 5, 2], "{reps:?}");
    // A GETBULK alone gets what fits.
    let mut mgr = SnmpManager::new(ManagerConfig::default());
    let bulk = Request::GetBulk { non_repeaters: 0, max_repetitions: 4, oids: vec![oid("1.3.6.1.2.1.1")] };
    mgr.start(Instant::ZERO, v2c("public"), bulk.clone()).unwrap();
    let (events, _) = run(&mut mgr, &mut agent, Instant::ZERO);
    assert_eq!(values(&events[0]).len(), 2);
    // Nothing fits, even one repetition: tooBig is the answer; a GET is not retried.
    agent.too_big_over = Some(0);
    for request in [bulk, Request::Get(vec![oid("1.3.6.1.2.1.1.1.0")])] {
        let mut mgr = SnmpManager::new(ManagerConfig::default());
        mgr.start(Instant::ZERO, v2c("public"), request).unwrap();
        let (events, _) = run(&mut mgr, &mut agent, Instant::ZERO);
        let status = match failure(&events[0]) {
            Failure::ErrorStatus { status, .. } => *status,
            f => panic!("{f:?}"),
        };
        assert_eq!(status, ErrorStatus::TOO_BIG);
    }
}

#[test]
fn refusals_at_start() {
    let mut mgr = SnmpManager::new(ManagerConfig { max_in_flight: 1, ..ManagerConfig::default() });
    assert_eq!(mgr.start(Instant::ZERO, v2c("public"), Request::Get(vec![])), Err(StartError::NoOids));
    let bulk = Request::GetBulk { non_repeaters: 0, max_repetitions: 5, oids: vec![oid("1.3.6")] };
    assert_eq!(mgr.start(Instant::ZERO, v1(), bulk), Err(StartError::BulkNeedsV2));
    mgr.start(Instant::ZERO, v2c("public"), Request::Get(vec![oid("1.3.6")])).unwrap();
    assert_eq!(mgr.start(Instant::ZERO, v2c("public"), Request::Get(vec![oid("1.3.6")])), Err(StartError::Busy { limit: 1 }));
}

fn user(name: &str, a: AuthProtocol, p: Option<PrivProtocol>) -> UserKeys {
    UserKeys::new(name.as_bytes(), Some((a, b"authpass123")), p.map(|p| (p, &b"privpass123"[..]))).unwrap()
}

#[test]
fn v3_discovery_once_then_authenticated_encrypted_requests() {
    for (a, p) in [
        (AuthProtocol::Sha1, Some(PrivProtocol::Aes128)),
        (AuthProtocol::Md5, Some(PrivProtocol::Des)),
        (AuthProtocol::Sha512, Some(PrivProtocol::Aes256)),
        (AuthProtocol::Sha256, None),
    ] {
        let mut agent = Agent::new();
        let u = user("alice", a, p);
        agent.users.push(u.clone());
        let mut mgr = SnmpManager::new(ManagerConfig::default());
        let target = usm(&u);
        for _ in 0..5 {
            mgr.start(Instant::ZERO, target.clone(), Request::Get(vec![oid("1.3.6.1.2.1.1.1.0")])).unwrap();
        }
        let (events, _) = run(&mut mgr, &mut agent, Instant::ZERO);
        assert_eq!(events.len(), 5);
        for e in &events {
            assert_eq!(values(e)[0].value.to_string(), "STRING: \"Fake agent\"", "{a:?}/{p:?}");
        }
        // One discovery, five requests; the requests are encrypted when asked.
        assert_eq!(agent.seen.len(), 6, "{a:?}/{p:?}");
        for raw in &agent.seen[1..] {
            let Message::V3(m) = Message::parse(raw).unwrap() else { panic!() };
            assert_eq!(matches!(m.data, ScopedPduData::Encrypted(_)), p.is_some());
            assert!(m.flags.auth() && m.flags.reportable());
        }
        let Some(EngineEntry::Known(e)) = mgr.engines.get(&addr()) else { panic!() };
        assert_eq!(e.keys.len(), 1, "keys localized once per engine");
        // Later operations skip discovery.
        mgr.start(Instant::ZERO + secs(10), target, Request::Get(vec![oid("1.3.6.1.2.1.1.3.0")])).unwrap();
        let (events, _) = run(&mut mgr, &mut agent, Instant::ZERO + secs(10));
        values(&events[0]);
        assert_eq!(agent.seen.len(), 7);
    }
}

#[test]
fn v3_reports_become_clear_failures() {
    let mut agent = Agent::new();
    agent.users.push(user("alice", AuthProtocol::Sha1, Some(PrivProtocol::Aes128)));
    let wrong = UserKeys::new(b"alice", Some((AuthProtocol::Sha1, b"wrongpass123")), Some((PrivProtocol::Aes128, b"privpass123"))).unwrap();
    let nobody = user("nobody", AuthProtocol::Sha1, None);
    let mut mgr = SnmpManager::new(ManagerConfig::default());
    let a = mgr.start(Instant::ZERO, usm(&wrong), Request::Get(vec![oid("1.3.6.1.2.1.1.1.0")])).unwrap();
    let b = mgr.start(Instant::ZERO, usm(&nobody), Request::Get(vec![oid("1.3.6.1.2.1.1.1.0")])).unwrap();
    let (events, _) = run(&mut mgr, &mut agent, Instant::ZERO);
    let by = |id| events.iter().find(|e| e.id == id).unwrap();
    assert_eq!(*failure(by(a)), Failure::Report(ReportKind::WrongDigest));
    assert!(failure(by(a)).to_string().contains("Authentication failure"));
    assert_eq!(*failure(by(b)), Failure::Report(ReportKind::UnknownUserName));
}

#[test]
fn v3_resynchronises_after_the_agent_reboots() {
    let mut agent = Agent::new();
    let u = user("alice", AuthProtocol::Sha1, Some(PrivProtocol::Aes128));
    agent.users.push(u.clone());
    let mut mgr = SnmpManager::new(ManagerConfig::default());
    mgr.start(Instant::ZERO, usm(&u), Request::Get(vec![oid("1.3.6.1.2.1.1.1.0")])).unwrap();
    let (events, _) = run(&mut mgr, &mut agent, Instant::ZERO);
    values(&events[0]);
    // The agent restarts: boots goes up, its clock starts again.
    agent.boots += 1;
    agent.time_offset = 0;
    let now = Instant::ZERO + secs(500);
    mgr.start(now, usm(&u), Request::Get(vec![oid("1.3.6.1.2.1.1.3.0")])).unwrap();
    let before = agent.seen.len();
    let (events, _) = run(&mut mgr, &mut agent, now);
    values(&events[0]);
    // The first request drew an authenticated notInTimeWindow report, the second passed.
    assert_eq!(agent.seen.len() - before, 2);
    let Some(EngineEntry::Known(e)) = mgr.engines.get(&addr()) else { panic!() };
    assert_eq!(e.boots, agent.boots);
}

#[test]
fn v3_discovery_timeout_fails_every_waiter() {
    let mut agent = Agent::new();
    agent.drop_next = u32::MAX;
    let u = user("alice", AuthProtocol::Sha1, None);
    let mut mgr = SnmpManager::new(ManagerConfig::default());
    for _ in 0..3 {
        mgr.start(Instant::ZERO, usm(&u), Request::Get(vec![oid("1.3.6.1.2.1.1.1.0")])).unwrap();
    }
    let (events, _) = run(&mut mgr, &mut agent, Instant::ZERO);
    assert_eq!(events.len(), 3);
    for e in &events {
        let f = failure(e);
        assert!(f.to_string().contains("no SNMPv3 engine discovered"), "{f}");
    }
    assert_eq!(agent.seen.len(), 3, "one discovery, sent three times");
    assert!(mgr.engines.is_empty());
}

#[test]
fn forged_v3_response_is_dropped() {
    let mut agent = Agent::new();
    let u = user("alice", AuthProtocol::Sha1, None);
    agent.users.push(u.clone());
    let mut mgr = SnmpManager::new(ManagerConfig::default());
    mgr.start(Instant::ZERO, usm(&u), Request::Get(vec![oid("1.3.6.1.2.1.1.1.0")])).unwrap();
    let d = mgr.poll_transmit(Instant::ZERO).unwrap();
    let rep = agent.handle(Instant::ZERO, &d.payload).unwrap();
    mgr.handle_datagram(Instant::ZERO, addr(), &rep);
    let req = mgr.poll_transmit(Instant::ZERO).unwrap();
    let mut resp = agent.handle(Instant::ZERO, &req.payload).unwrap();
    let n = resp.len();
    resp[n - 1] ^= 0x20; // flip a bit in the value
    mgr.handle_datagram(Instant::ZERO, addr(), &resp);
    assert_eq!(mgr.poll_event(), None);
    // Retries go unanswered; the timeout explains what was seen.
    agent.drop_next = u32::MAX;
    let (events, _) = run(&mut mgr, &mut agent, Instant::ZERO);
    assert!(failure(&events[0]).to_string().contains("failed authentication"), "{}", failure(&events[0]));
}
