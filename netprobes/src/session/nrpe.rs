//! One NRPE query as a sans-IO [`StreamSession`]: builds the packet, runs it through
//! an optional [`TlsClient`], frames and checks the answer, and turns it into a plugin
//! result. Not here: connecting, reconnecting for the v2 fallback, the clock.
//!
//! Lifecycle: [`NrpeSession::new`] at the time the connection attempt starts (the
//! timeout covers connect, handshake and answer, like check_nrpe's `-t`), then the
//! driver calls `handle_connected`, moves bytes, and stops when [`StreamSession::state`]
//! says [`StreamState::Close`]: that is as soon as the answer is complete, without
//! waiting for the server's close or a TLS close_notify.
//!
//! Exactly one [`NrpeEvent`] comes out. A server that is down, slow, or speaking
//! something else is an [`NrpeEvent::Failed`] result, not an `Err`.
//!
//! Version fallback, as check_nrpe does it: a v4 query whose connection is closed or
//! reset before a complete answer (what nrpe 2.x does with a v4 packet) ends with
//! [`NrpeEvent::RetryWithV2`]; the caller reconnects with
//! [`NrpeQuery::for_v2_retry`]. Timeouts and TLS failures do not fall back.

use std::time::Duration;

use crate::session::tls::{TlsClient, TlsError};
use crate::session::{StreamSession, StreamState};
use crate::time::Instant;
use crate::wire::nrpe::{self, DEFAULT_MAX_BUFFER_LEN, PacketType, Repr, VERSION_QUERY, Version};
use crate::wire::plugin::{PluginOutput, PluginStatus};

/// check_nrpe's default timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// What to ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NrpeQuery {
    /// The command name; empty asks the server's version (`_NRPE_CHECK`).
    pub command: String,
    /// Arguments, sent as `command!a1!a2` (most servers refuse them).
    pub args: Vec<String>,
    /// Packet version to send: V4 (check_nrpe's default) or V2 (`-2`).
    pub version: Version,
    /// From session creation to the complete answer.
    pub timeout: Duration,
    /// Cap on the answer's text (v3/v4 buffer length, or v2 packets together).
    pub max_buffer: usize,
    /// End with [`NrpeEvent::RetryWithV2`] when a v4 query is closed unanswered.
    pub fallback_to_v2: bool,
}

impl NrpeQuery {
    /// A v4 query with check_nrpe's defaults (10 s, fall back to v2).
    pub fn new(command: impl Into<String>, args: Vec<String>) -> NrpeQuery {
        NrpeQuery {
            command: command.into(),
            args,
            version: Version::V4,
            timeout: DEFAULT_TIMEOUT,
            max_buffer: DEFAULT_MAX_BUFFER_LEN,
            fallback_to_v2: true,
        }
    }

    /// The same query as v2 packets, for the retry after [`NrpeEvent::RetryWithV2`].
    pub fn for_v2_retry(&self) -> NrpeQuery {
        NrpeQuery { version: Version::V2, fallback_to_v2: false, ..self.clone() }
    }

    /// The query text: `command!args`, or `_NRPE_CHECK`.
    pub fn text(&self) -> Result<String, nrpe::Error> {
        if self.command.is_empty() && self.args.is_empty() {
            return Ok(VERSION_QUERY.to_owned());
        }
        nrpe::query_text(&self.command, &self.args)
    }

    /// The packet to send.
    pub fn packet(&self) -> Result<Vec<u8>, nrpe::Error> {
        let text = self.text()?;
        Repr { version: self.version, packet_type: PacketType::Query, result_code: 0, text: text.as_bytes() }.to_vec()
    }
}

/// A query that cannot be sent at all (the caller's mistake, not the server's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NrpeError {
    #[error("cannot build the NRPE query: {0}")]
    Query(#[from] nrpe::Error),
}

/// Where a check was when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Connecting,
    TlsHandshake,
    /// Query sent (or queued), no answer byte yet.
    AwaitingAnswer,
    /// Part of the answer arrived.
    Receiving,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Connecting => "connecting",
            Phase::TlsHandshake => "TLS handshake",
            Phase::AwaitingAnswer => "waiting for the answer",
            Phase::Receiving => "receiving the answer",
        }
    }
}

/// The server answered.
#[derive(Debug, Clone, PartialEq)]
pub struct NrpeAnswer {
    /// Version of the answer's packets.
    pub version: Version,
    /// The result code as sent (nrpe 4 maps plugin exits beyond 0..=3 to 3).
    pub result_code: i16,
    pub status: PluginStatus,
    /// The whole text (invalid UTF-8 replaced), all packets joined.
    pub text: String,
    /// The text split per SEMANTICS §9.
    pub output: PluginOutput,
    /// The text was longer than [`NrpeQuery::max_buffer`] and was cut there.
    pub truncated: bool,
    /// From session creation to the complete answer.
    pub elapsed: Duration,
    /// Negotiated TLS parameters, when TLS was used.
    pub tls: Option<TlsInfo>,
}

/// What TLS ended up as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    pub version: Option<String>,
    pub cipher: Option<String>,
    pub resumed: bool,
}

/// Why there is no answer.
#[derive(Debug, thiserror::Error)]
pub enum NrpeFailure {
    #[error("Socket timeout after {} seconds ({})", .timeout.as_secs_f64(), .phase.as_str())]
    Timeout { phase: Phase, timeout: Duration },
    #[error("{}", closed_message(*.phase, *.received, *.reset))]
    Closed { phase: Phase, received: usize, reset: bool },
    #[error("{0}")]
    Tls(#[from] TlsError),
    #[error("invalid answer: {0}")]
    Protocol(#[from] nrpe::Error),
    #[error("invalid answer: a {packet_type:?} packet where a response belongs")]
    UnexpectedPacket { packet_type: PacketType },
}

fn closed_message(phase: Phase, received: usize, reset: bool) -> String {
    let how = if reset { "reset" } else { "closed" };
    let hint = if phase == Phase::AwaitingAnswer && received == 0 {
        ": it refused the query (a client address, command arguments or a packet version it does not accept; \
         nrpe logs which)"
    } else {
        ""
    };
    format!("the server {how} the connection while {} ({received} bytes received){hint}", phase.as_str())
}

/// The one thing an [`NrpeSession`] reports.
#[derive(Debug)]
pub enum NrpeEvent {
    Answer(NrpeAnswer),
    /// Reconnect and send [`NrpeQuery::for_v2_retry`].
    RetryWithV2,
    Failed(NrpeFailure),
}

/// One NRPE query over one connection.
#[derive(Debug)]
pub struct NrpeSession {
    packet: Vec<u8>,
    query_version: Version,
    fallback_to_v2: bool,
    max_buffer: usize,
    timeout: Duration,
    tls: Option<TlsClient>,
    started: Instant,
    deadline: Instant,
    phase: Phase,
    /// Bytes for the socket.
    out: Vec<u8>,
    /// Plaintext received and not yet framed.
    rx: Vec<u8>,
    /// Plaintext bytes received in all.
    received: usize,
    /// Text of `ResponseMore` packets so far.
    text: Vec<u8>,
    truncated: bool,
    event: Option<NrpeEvent>,
    done: bool,
}

impl NrpeSession {
    /// A session for `query` starting at `now`, plaintext when `tls` is `None`.
    pub fn new(now: Instant, query: &NrpeQuery, tls: Option<TlsClient>) -> Result<NrpeSession, NrpeError> {
        let packet = query.packet()?;
        Ok(NrpeSession {
            packet,
            query_version: query.version,
            fallback_to_v2: query.fallback_to_v2 && query.version != Version::V2,
            max_buffer: query.max_buffer,
            timeout: query.timeout,
            tls,
            started: now,
            deadline: now + query.timeout,
            phase: Phase::Connecting,
            out: Vec::new(),
            rx: Vec::new(),
            received: 0,
            text: Vec::new(),
            truncated: false,
            event: None,
            done: false,
        })
    }

    /// The version this session's query uses.
    pub fn query_version(&self) -> Version {
        self.query_version
    }

    /// The connection was reset (or failed after connecting); the driver reports it.
    pub fn handle_reset(&mut self, _now: Instant) {
        self.peer_gone(true);
    }

    /// A session that has ended: its event was produced (or is waiting in the queue).
    pub fn is_done(&self) -> bool {
        self.done
    }

    fn finish(&mut self, event: NrpeEvent) {
        if !self.done {
            self.done = true;
            self.event = Some(event);
            self.out.clear();
        }
    }

    fn fail(&mut self, failure: NrpeFailure) {
        self.finish(NrpeEvent::Failed(failure));
    }

    fn peer_gone(&mut self, reset: bool) {
        if self.done {
            return;
        }
        let handshake_ok = self.tls.as_ref().is_none_or(|t| !t.is_handshaking());
        if self.fallback_to_v2 && self.phase != Phase::Connecting && handshake_ok {
            self.finish(NrpeEvent::RetryWithV2);
        } else {
            let phase = if !handshake_ok { Phase::TlsHandshake } else { self.phase };
            self.fail(NrpeFailure::Closed { phase, received: self.received, reset });
        }
    }

    /// Feed plaintext; frames as many packets as are complete.
    fn handle_plaintext(&mut self, now: Instant, data: &[u8]) {
        if data.is_empty() || self.done {
            return;
        }
        self.received += data.len();
        self.phase = Phase::Receiving;
        self.rx.extend_from_slice(data);
        loop {
            let len = match nrpe::frame_len(&self.rx, self.max_buffer) {
                Ok(Some(len)) if len <= self.rx.len() => len,
                Ok(_) => return,
                Err(e) => return self.fail(NrpeFailure::Protocol(e)),
            };
            let (version, packet_type, result_code, chunk) = match Repr::parse_bytes(&self.rx, self.max_buffer) {
                Ok(r) => (r.version, r.packet_type, r.result_code, r.text),
                Err(e) => return self.fail(NrpeFailure::Protocol(e)),
            };
            let room = self.max_buffer.saturating_sub(self.text.len());
            if chunk.len() > room {
                self.truncated = true;
            }
            self.text.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or(&[]));
            match packet_type {
                PacketType::ResponseMore => {
                    self.rx.drain(..len);
                }
                PacketType::Response => {
                    self.answer(now, version, result_code);
                    return;
                }
                PacketType::Query => return self.fail(NrpeFailure::UnexpectedPacket { packet_type }),
            }
        }
    }

    fn answer(&mut self, now: Instant, version: Version, result_code: i16) {
        let text = String::from_utf8_lossy(&self.text).into_owned();
        let output = PluginOutput::parse_str(&text);
        let tls = self.tls.as_ref().map(|t| TlsInfo {
            version: t.protocol_version(),
            cipher: t.cipher_suite(),
            resumed: t.session_resumed(),
        });
        self.finish(NrpeEvent::Answer(NrpeAnswer {
            version,
            result_code,
            status: PluginStatus::from_exit_code(i32::from(result_code)),
            text,
            output,
            truncated: self.truncated,
            elapsed: now.saturating_since(self.started),
            tls,
        }));
    }
}

impl StreamSession for NrpeSession {
    type Event = NrpeEvent;

    fn handle_connected(&mut self, _now: Instant) {
        if self.done {
            return;
        }
        let packet = std::mem::take(&mut self.packet);
        match &mut self.tls {
            None => {
                self.out.extend_from_slice(&packet);
                self.phase = Phase::AwaitingAnswer;
            }
            Some(tls) => {
                // Queued now, encrypted as soon as the handshake allows: the query
                // leaves in the same flight as the client's Finished.
                let queued = tls.write_plaintext(&packet).and_then(|()| tls.poll_transmit(&mut self.out));
                self.phase = Phase::TlsHandshake;
                if let Err(e) = queued {
                    self.fail(NrpeFailure::Tls(e));
                }
            }
        }
    }

    fn handle_input(&mut self, now: Instant, data: &[u8]) {
        if self.done {
            return;
        }
        if data.is_empty() {
            return self.peer_gone(false);
        }
        let Some(tls) = &mut self.tls else {
            return self.handle_plaintext(now, data);
        };
        let mut plain = Vec::new();
        let result = tls.handle_input(data, &mut plain).and_then(|st| tls.poll_transmit(&mut self.out).map(|()| st));
        let handshaking = tls.is_handshaking();
        match result {
            Err(e) => self.fail(NrpeFailure::Tls(e)),
            Ok(status) => {
                if !handshaking && self.phase == Phase::TlsHandshake {
                    self.phase = Phase::AwaitingAnswer;
                }
                self.handle_plaintext(now, &plain);
                if status.peer_closed {
                    self.peer_gone(false);
                }
            }
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        if !self.done && now >= self.deadline {
            self.fail(NrpeFailure::Timeout { phase: self.phase, timeout: self.timeout });
        }
    }

    fn poll_transmit(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.out);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        (!self.done).then_some(self.deadline)
    }

    fn poll_event(&mut self) -> Option<NrpeEvent> {
        self.event.take()
    }

    fn state(&self) -> StreamState {
        if self.done && self.out.is_empty() { StreamState::Close } else { StreamState::Open }
    }
}
