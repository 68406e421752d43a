//! check_nrpe natively: one NRPE query on the shared stream runner, with
//! check_nrpe's v4→v2 fallback, its wording of answers, timeouts and refused
//! connections, and (natively only) of the other failures and of `-d 0|2`. Not
//! here: the protocol (`session::nrpe`), TLS (`session::tls`).

use std::net::SocketAddr;

use super::engine::{AnyEvent, AnyStream, MakeSession};
use super::{Accelerator, Declined, Printed, Wording, declined, printed, resolve};
use crate::driver::{Backend, ConnEnd};
use crate::native::{NativeRequest, NrpeAdh, NrpePackets};
use crate::session::StreamSession;
use crate::session::nrpe::{NrpeEvent, NrpeFailure, NrpeQuery, NrpeSession};
use crate::session::tls::TlsClient;
use crate::wire::nrpe::{DEFAULT_MAX_BUFFER_LEN, Version as NrpeVersion};
use crate::wire::plugin::PluginStatus;

/// check_nrpe's state names, by exit code.
const STATE_NAMES: [&str; 4] = ["OK", "WARNING", "CRITICAL", "UNKNOWN"];

/// The OpenSSL context for NRPE checks of one `-d` mode, built once: it also caches
/// TLS sessions per server, so later checks resume. `-d 1` (the default) is
/// check_nrpe's cipher list; natively, `-d 0` leaves out and `-d 2` keeps only the
/// anonymous ciphers, as check_nrpe does.
#[cfg(feature = "nrpe-adh")]
fn adh_connector(adh: NrpeAdh) -> Result<&'static crate::session::tls::AdhConnector, Declined> {
    use crate::session::tls::AdhConnector;
    use std::sync::OnceLock;
    static CONNECTORS: [OnceLock<Result<AdhConnector, String>>; 3] = [const { OnceLock::new() }; 3];
    let (i, ciphers) = match adh {
        NrpeAdh::Allow => (0, None),
        NrpeAdh::Never => (1, Some("ALL:!MD5:!aNULL:@STRENGTH")),
        NrpeAdh::Force => (2, Some("aNULL:!MD5:@STRENGTH:@SECLEVEL=0")),
    };
    let slot = CONNECTORS.get(i).ok_or_else(|| declined("TLS mode"))?;
    slot.get_or_init(|| {
        match ciphers {
            None => AdhConnector::new(),
            Some(c) => AdhConnector::with_ciphers(c),
        }
        .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| declined(e.clone()))
}

fn nrpe_tls(tls: bool, adh: NrpeAdh, addr: SocketAddr, wording: Wording<'_>) -> Result<Option<TlsClient>, Declined> {
    if !tls {
        return Ok(None);
    }
    if adh != NrpeAdh::Allow && !wording.native() {
        return Err(declined("check_nrpe -d other than 1 is not modelled"));
    }
    #[cfg(feature = "nrpe-adh")]
    {
        let peer = addr.to_string();
        TlsClient::openssl_resuming(adh_connector(adh)?, &peer).map(Some).map_err(|e| declined(e.to_string()))
    }
    #[cfg(not(feature = "nrpe-adh"))]
    {
        let _ = addr;
        Err(declined("built without anonymous-DH TLS (feature nrpe-adh)"))
    }
}

/// check_nrpe's timeout line, with the status of timeouts (`-u`, `-t N:STATE`).
fn timed_out(state: u8, timeout: std::time::Duration) -> Printed {
    let name = STATE_NAMES.get(usize::from(state)).copied().unwrap_or("UNKNOWN");
    printed(state, format!("CHECK_NRPE STATE {name}: Socket timeout after {} seconds.\n", timeout.as_secs()))
}

pub(super) async fn nrpe(
    request: &NativeRequest,
    accel: &Accelerator,
    wording: Wording<'_>,
) -> Result<(Printed, Backend), Declined> {
    let NativeRequest::Nrpe { host, port, command, args, tls, adh, packets, family, timeout, timeout_status } = request
    else {
        return Err(declined("not an NRPE request"));
    };
    let addr = resolve(host, *port, *family).await?;
    let engine = accel.streams()?;
    let version = match packets {
        NrpePackets::Auto => NrpeVersion::V4,
        NrpePackets::V2Only => NrpeVersion::V2,
        NrpePackets::V3Only => NrpeVersion::V3,
    };
    let mut query = NrpeQuery {
        command: command.clone(),
        args: args.clone(),
        version,
        timeout: *timeout,
        max_buffer: DEFAULT_MAX_BUFFER_LEN,
        fallback_to_v2: *packets == NrpePackets::Auto,
    };
    let state = timeout_status.exit_code();
    // At most two connections: v4, then v2 when the server hung up on v4.
    for _ in 0..2 {
        let tls = nrpe_tls(*tls, *adh, addr, wording)?;
        // Refused here, before queueing, if the query cannot be encoded.
        query.packet().map_err(|e| declined(e.to_string()))?;
        let q = query.clone();
        let make: MakeSession =
            Box::new(move |now| NrpeSession::new(now, &q, tls).map(AnyStream::Nrpe).map_err(|e| e.to_string()));
        let run = engine.run(addr, make).await?;
        let backend = engine.backend();
        let mut events: Vec<NrpeEvent> =
            run.events.into_iter().filter_map(|e| if let AnyEvent::Nrpe(e) = e { Some(e) } else { None }).collect();
        if let Some((end, AnyStream::Nrpe(mut session), at)) = run.closed {
            match end {
                _ if session.is_done() => {}
                ConnEnd::ConnectFailed(errno) => {
                    // ConnEnd prints the system's wording of the errno.
                    let why = ConnEnd::ConnectFailed(errno).to_string();
                    let (ip, port) = (addr.ip(), addr.port());
                    let text = format!(
                        "connect to address {ip} port {port}: {why}\nconnect to host {host} port {port}: {why}\n"
                    );
                    return Ok((printed(state, text), backend));
                }
                ConnEnd::ConnectTimedOut if wording.native() => return Ok((timed_out(state, *timeout), backend)),
                ConnEnd::ConnectTimedOut => return Err(declined("connect timed out")),
                ConnEnd::Failed(_) | ConnEnd::PeerClosed | ConnEnd::Done => {
                    session.handle_reset(at);
                    events.extend(session.poll_event());
                }
            }
        }
        let out = match events.into_iter().next() {
            Some(NrpeEvent::RetryWithV2) => {
                query = query.for_v2_retry();
                continue;
            }
            Some(NrpeEvent::Answer(a)) => {
                let code = u8::try_from(a.result_code).ok().filter(|c| *c <= 3).unwrap_or(3);
                if a.text.is_empty() {
                    printed(code, "NRPE: Unable to read output\n")
                } else {
                    printed(code, format!("{}\n", a.text))
                }
            }
            Some(NrpeEvent::Failed(NrpeFailure::Timeout { timeout, .. })) => timed_out(state, timeout),
            Some(NrpeEvent::Failed(f)) if wording.native() => native_failure(state, &f),
            Some(NrpeEvent::Failed(f)) => return Err(declined(format!("NRPE failure worded by check_nrpe: {f}"))),
            None => return Err(declined("the NRPE check ended without a result")),
        };
        return Ok((out, backend));
    }
    Err(declined("the server hung up on v2 packets too"))
}

/// A failure check_nrpe words its own way: the connection's (hung up, TLS) with the
/// status of connection failures, an answer that is not NRPE as UNKNOWN.
fn native_failure(state: u8, f: &NrpeFailure) -> Printed {
    match f {
        NrpeFailure::Closed { .. } | NrpeFailure::Tls(_) | NrpeFailure::Timeout { .. } => {
            let name = STATE_NAMES.get(usize::from(state)).copied().unwrap_or("UNKNOWN");
            printed(state, format!("CHECK_NRPE STATE {name}: {f}\n"))
        }
        NrpeFailure::Protocol(_) | NrpeFailure::UnexpectedPacket { .. } => {
            printed(PluginStatus::Unknown.exit_code(), format!("CHECK_NRPE: {f}\n"))
        }
    }
}
