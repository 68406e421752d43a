//! Byte-vector tests on datagrams captured from net-snmp 5.9 (snmpget, snmpgetnext,
//! snmpbulkget against snmpd) by `testdata/snmp/capture.py`: every capture decodes and
//! re-encodes to the same bytes, our requests equal snmpget's, and the v3 captures
//! authenticate and decrypt with our USM for each auth/priv pair captured.

use std::borrow::Cow;
use std::path::PathBuf;

use super::*;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/snmp")
}

/// Leaked so that decoded messages can borrow from it for the whole test.
fn cap(name: &str) -> &'static [u8] {
    let bytes = std::fs::read(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    Box::leak(bytes.into_boxed_slice())
}

fn oid(s: &str) -> Oid<'static> {
    s.parse().unwrap()
}

fn community<'m, 'a>(m: &'m Message<'a>) -> (&'m CommunityMessage<'a>, &'m Pdu<'a>) {
    match m {
        Message::Community(c) => match &c.pdu {
            AnyPdu::Pdu(p) => (c, p),
            other => panic!("not a request/response PDU: {other:?}"),
        },
        other => panic!("not v1/v2c: {other:?}"),
    }
}

fn v3<'m, 'a>(m: &'m Message<'a>) -> &'m V3Message<'a> {
    match m {
        Message::V3(v) => v,
        other => panic!("not v3: {other:?}"),
    }
}

/// The engine ID `engineID bergamot` gives: enterprise 8072, format 4 (text).
const ENGINE_ID: &[u8] = b"\x80\x00\x1f\x88\x04bergamot";

#[test]
fn every_capture_decodes_and_re_encodes_identically() {
    let mut n = 0;
    for entry in std::fs::read_dir(dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("bin") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let m = Message::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (out, _) = m.emit(Vec::new());
        assert_eq!(out, bytes, "{}", path.display());
        // Every strict prefix is refused, never a panic.
        for cut in 0..bytes.len() {
            assert!(Message::parse(&bytes[..cut]).is_err(), "{} cut at {cut}", path.display());
        }
        n += 1;
    }
    assert!(n >= 40, "only {n} captures found");
}

#[test]
fn v2c_get_request_equals_snmpgets() {
    let req = cap("v2c-get-sysdescr.0.send.bin");
    let m = Message::parse(req).unwrap();
    let (c, p) = community(&m);
    assert_eq!(c.version, Version::V2c);
    assert_eq!(&*c.community, b"public");
    let ours = Message::Community(CommunityMessage {
        version: Version::V2c,
        community: Cow::Borrowed(b"public"),
        pdu: AnyPdu::Pdu(Pdu {
            pdu_type: PduType::GetRequest,
            request_id: p.request_id,
            error_status: 0,
            error_index: 0,
            varbinds: vec![VarBind::null(oid("1.3.6.1.2.1.1.1.0"))],
        }),
    });
    assert_eq!(ours.emit(Vec::new()).0, req);

    let resp = cap("v2c-get-sysdescr.1.recv.bin");
    let m = Message::parse(resp).unwrap();
    let (_, r) = community(&m);
    assert_eq!(r.pdu_type, PduType::Response);
    assert_eq!(r.request_id, p.request_id);
    assert_eq!(r.varbinds.len(), 1);
    assert_eq!(r.varbinds[0].oid, oid("1.3.6.1.2.1.1.1.0"));
    match &r.varbinds[0].value {
        Value::OctetString(s) => assert!(s.starts_with(b"Linux"), "{s:?}"),
        v => panic!("{v:?}"),
    }
}

#[test]
fn v1_unknown_oid_is_no_such_name() {
    let m = Message::parse(cap("v1-get-unknown.1.recv.bin")).unwrap();
    let (c, r) = community(&m);
    assert_eq!(c.version, Version::V1);
    assert_eq!(r.error_status(), ErrorStatus::NO_SUCH_NAME);
    assert_eq!(r.error_index, 1);
}

#[test]
fn v2c_value_types_as_snmpd_sends_them() {
    let m = Message::parse(cap("v2c-get-types.1.recv.bin")).unwrap();
    let (_, r) = community(&m);
    let kinds: Vec<&str> = r
        .varbinds
        .iter()
        .map(|vb| match vb.value {
            Value::Counter64(_) => "Counter64",
            Value::IpAddress(a) => {
                assert_eq!(a, [127, 0, 0, 1]);
                "IpAddress"
            }
            Value::Gauge32(_) => "Gauge32",
            Value::Counter32(_) => "Counter32",
            Value::ObjectId(ref o) => {
                assert_eq!(o.to_string(), ".1.3.6.1.4.1.8072.3.2.10");
                "OID"
            }
            Value::OctetString(ref s) => {
                assert!(s.is_empty());
                "empty"
            }
            Value::NoSuchObject => "noSuchObject",
            Value::NoSuchInstance => "noSuchInstance",
            ref v => panic!("{v:?}"),
        })
        .collect();
    assert_eq!(kinds, ["Counter64", "IpAddress", "Gauge32", "Counter32", "OID", "empty", "noSuchObject", "noSuchInstance"]);
    assert_eq!(r.varbinds[6].to_string(), ".1.3.6.1.2.1.1.99.0 = No Such Object available on this agent at this OID");
}

#[test]
fn v2c_getnext_past_the_end_is_end_of_mib_view() {
    let m = Message::parse(cap("v2c-getnext-end.0.send.bin")).unwrap();
    assert_eq!(community(&m).1.pdu_type, PduType::GetNextRequest);
    let m = Message::parse(cap("v2c-getnext-end.1.recv.bin")).unwrap();
    let (_, r) = community(&m);
    assert_eq!(r.varbinds[0].value, Value::EndOfMibView);
    assert_eq!(r.varbinds[0].oid, oid("1.4"));
}

#[test]
fn v2c_getbulk_request_and_response() {
    let req = cap("v2c-getbulk.0.send.bin");
    let m = Message::parse(req).unwrap();
    let (_, p) = community(&m);
    assert_eq!(p.pdu_type, PduType::GetBulkRequest);
    assert_eq!((p.error_status, p.error_index), (1, 4), "non-repeaters, max-repetitions");
    let m = Message::parse(cap("v2c-getbulk.1.recv.bin")).unwrap();
    let (_, r) = community(&m);
    // One non-repeater, then four repetitions of the second OID.
    assert_eq!(r.varbinds.len(), 5);
    assert_eq!(r.varbinds[0].oid, oid("1.3.6.1.2.1.1.4.0"));
    assert_eq!(r.varbinds[1].oid, oid("1.3.6.1.2.1.1.1.0"));
    assert_eq!(r.varbinds[4].oid, oid("1.3.6.1.2.1.1.4.0"));
}

#[test]
fn v3_discovery_request_and_report() {
    let m = Message::parse(cap("v3-noauth-get.0.send.bin")).unwrap();
    let d = v3(&m);
    assert!(d.usm.engine_id.is_empty() && d.usm.user_name.is_empty());
    assert_eq!(d.flags, MsgFlags(MsgFlags::REPORTABLE));
    let rep = Message::parse(cap("v3-noauth-get.1.recv.bin")).unwrap();
    let r = v3(&rep);
    assert_eq!(r.msg_id, d.msg_id);
    assert_eq!(&*r.usm.engine_id, ENGINE_ID);
    assert!(r.usm.engine_boots >= 1);
    let Some(AnyPdu::Pdu(p)) = rep.pdu() else { panic!() };
    assert_eq!(p.pdu_type, PduType::Report);
    assert_eq!(p.varbinds[0].oid, oid("1.3.6.1.6.3.15.1.1.4.0"), "usmStatsUnknownEngineIDs");

    // Our discovery request, with snmpget's msgID and request id, is the same bytes.
    let Some(AnyPdu::Pdu(dp)) = m.pdu() else { panic!() };
    let ours = Message::V3(V3Message {
        msg_id: d.msg_id,
        max_size: d.max_size,
        flags: MsgFlags(MsgFlags::REPORTABLE),
        security_model: 3,
        usm: UsmParams::default(),
        data: ScopedPduData::Plaintext(ScopedPdu {
            context_engine_id: Cow::Borrowed(b""),
            context_name: Cow::Borrowed(b""),
            pdu: AnyPdu::Pdu(Pdu {
                pdu_type: PduType::GetRequest,
                request_id: dp.request_id,
                error_status: 0,
                error_index: 0,
                varbinds: vec![],
            }),
        }),
        auth_params_at: 0..0,
    });
    assert_eq!(ours.emit(Vec::new()).0, cap("v3-noauth-get.0.send.bin"));
}

/// Verify and decrypt the request and response of an authenticated capture.
fn check_v3_authenticated(case: &str, auth: AuthProtocol, privacy: Option<PrivProtocol>) {
    let keys = UserKeys::new(b"x", Some((auth, b"authpass123")), privacy.map(|p| (p, &b"privpass123"[..]))).unwrap();
    let local = keys.localize(ENGINE_ID);
    let (_, auth_key) = local.auth.clone().unwrap();
    for (file, expect) in [(format!("{case}.2.send.bin"), PduType::GetRequest), (format!("{case}.3.recv.bin"), PduType::Response)] {
        let bytes = cap(&file);
        let m = Message::parse(bytes).unwrap();
        let v = v3(&m);
        assert!(v.flags.auth(), "{file}");
        assert_eq!(v.flags.privacy(), privacy.is_some(), "{file}");
        assert_eq!(v.usm.auth_params.len(), auth.mac_len(), "{file}");
        auth.verify(&auth_key, bytes, v.auth_params_at.clone()).unwrap_or_else(|e| panic!("{file}: {e}"));
        // One flipped bit anywhere in the message breaks the MAC.
        let mut bad = bytes.to_vec();
        let last = bad.len() - 1;
        bad[last] ^= 0x01;
        assert!(auth.verify(&auth_key, &bad, v.auth_params_at.clone()).is_err());

        // Re-signing with our own code reproduces net-snmp's MAC.
        let mut resigned = bytes.to_vec();
        resigned[v.auth_params_at.clone()].fill(0);
        auth.sign(&auth_key, &mut resigned, v.auth_params_at.clone()).unwrap();
        assert_eq!(resigned, bytes, "{file}");

        let scoped_bytes;
        let scoped = match (&v.data, privacy) {
            (ScopedPduData::Encrypted(ct), Some(p)) => {
                let (_, priv_key) = local.privacy.clone().unwrap();
                let pt = p
                    .decrypt(&priv_key, v.usm.engine_boots, v.usm.engine_time, &v.usm.priv_params, ct)
                    .unwrap_or_else(|e| panic!("{file}: {e}"));
                scoped_bytes = pt;
                ScopedPdu::parse_decrypted(&scoped_bytes).unwrap_or_else(|e| panic!("{file}: decrypted: {e}"))
            }
            (ScopedPduData::Plaintext(s), None) => s.clone(),
            other => panic!("{file}: {other:?}"),
        };
        assert_eq!(&*scoped.context_engine_id, ENGINE_ID);
        let AnyPdu::Pdu(p) = &scoped.pdu else { panic!() };
        assert_eq!(p.pdu_type, expect, "{file}");
        assert_eq!(p.varbinds.len(), 2);
        if expect == PduType::Response {
            assert!(matches!(&p.varbinds[0].value, Value::OctetString(s) if s.starts_with(b"Linux")), "{file}");
            assert!(matches!(p.varbinds[1].value, Value::TimeTicks(_)), "{file}");
        }
    }
}

#[test]
fn v3_sha_aes128() {
    check_v3_authenticated("v3-sha-aes-get", AuthProtocol::Sha1, Some(PrivProtocol::Aes128));
}

#[test]
fn v3_md5_des() {
    check_v3_authenticated("v3-md5-des-get", AuthProtocol::Md5, Some(PrivProtocol::Des));
}

#[test]
fn v3_sha256_aes256() {
    check_v3_authenticated("v3-sha256-aes256-get", AuthProtocol::Sha256, Some(PrivProtocol::Aes256));
}

#[test]
fn v3_sha224_aes192() {
    check_v3_authenticated("v3-sha224-aes192-get", AuthProtocol::Sha224, Some(PrivProtocol::Aes192));
}

#[test]
fn v3_sha_aes256_uses_the_blumenthal_key_extension() {
    // SHA-1 gives 20 bytes, AES-256 needs 32.
    check_v3_authenticated("v3-sha-aes256-get", AuthProtocol::Sha1, Some(PrivProtocol::Aes256));
}

#[test]
fn v3_md5_aes192_uses_the_blumenthal_key_extension() {
    // MD5 gives 16 bytes, AES-192 needs 24.
    check_v3_authenticated("v3-md5-aes192-get", AuthProtocol::Md5, Some(PrivProtocol::Aes192));
}

#[test]
fn v3_sha512_auth_only() {
    check_v3_authenticated("v3-sha512-none-get", AuthProtocol::Sha512, None);
}

#[test]
fn v3_wrong_password_gets_a_wrong_digests_report() {
    let bytes = cap("v3-sha-aes-wrongpass.2.send.bin");
    let m = Message::parse(bytes).unwrap();
    let v = v3(&m);
    let right = UserKeys::new(b"x", Some((AuthProtocol::Sha1, b"authpass123")), None).unwrap().localize(ENGINE_ID);
    let wrong = UserKeys::new(b"x", Some((AuthProtocol::Sha1, b"wrongpass123")), None).unwrap().localize(ENGINE_ID);
    let at = v.auth_params_at.clone();
    assert!(AuthProtocol::Sha1.verify(&right.auth.unwrap().1, bytes, at.clone()).is_err());
    AuthProtocol::Sha1.verify(&wrong.auth.unwrap().1, bytes, at).unwrap();

    let rep = Message::parse(cap("v3-sha-aes-wrongpass.3.recv.bin")).unwrap();
    assert!(!v3(&rep).flags.auth(), "the report is not authenticated");
    let Some(AnyPdu::Pdu(p)) = rep.pdu() else { panic!() };
    assert_eq!(p.pdu_type, PduType::Report);
    assert_eq!(p.varbinds[0].oid, oid("1.3.6.1.6.3.15.1.1.5.0"), "usmStatsWrongDigests");
}

#[test]
fn snmp_parser_agrees_with_what_we_emit() {
    // An independent decoder (snmp-parser) reads our v2c request and v3 header.
    let m = Message::Community(CommunityMessage {
        version: Version::V2c,
        community: Cow::Borrowed(b"public"),
        pdu: AnyPdu::Pdu(Pdu {
            pdu_type: PduType::GetBulkRequest,
            request_id: 77,
            error_status: 0,
            error_index: 10,
            varbinds: vec![VarBind::null(oid("1.3.6.1.2.1.1"))],
        }),
    });
    let bytes = m.emit(Vec::new()).0;
    let (rest, parsed) = snmp_parser::parse_snmp_v2c(&bytes).unwrap();
    assert!(rest.is_empty());
    assert_eq!(parsed.community, "public");
    let v3bytes = cap("v3-sha-aes-get.2.send.bin");
    let (_, p) = snmp_parser::parse_snmp_v3(v3bytes).unwrap();
    let ours = Message::parse(v3bytes).unwrap();
    assert_eq!(p.header_data.msg_id as i64, i64::from(v3(&ours).msg_id));
}
