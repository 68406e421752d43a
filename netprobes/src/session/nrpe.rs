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

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! capture {
        ($name:literal) => {
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nrpe/", $name)).as_slice()
        };
    }

    const T0: Instant = Instant(1_000_000_000);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A connected plaintext session and the bytes it sent.
    fn connected(query: &NrpeQuery) -> (NrpeSession, Vec<u8>) {
        let mut s = NrpeSession::new(T0, query, None).unwrap();
        assert_eq!(s.poll_timeout(), Some(T0 + query.timeout));
        s.handle_connected(T0 + ms(1));
        let mut sent = Vec::new();
        s.poll_transmit(&mut sent);
        assert_eq!(s.state(), StreamState::Open);
        (s, sent)
    }

    fn answer(s: &mut NrpeSession) -> NrpeAnswer {
        match s.poll_event() {
            Some(NrpeEvent::Answer(a)) => a,
            other => panic!("expected an answer, got {other:?}"),
        }
    }

    fn failure(s: &mut NrpeSession) -> NrpeFailure {
        match s.poll_event() {
            Some(NrpeEvent::Failed(f)) => f,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    fn response(version: Version, packet_type: PacketType, result_code: i16, text: &[u8]) -> Vec<u8> {
        Repr { version, packet_type, result_code, text }.to_vec().unwrap()
    }

    #[test]
    fn plaintext_v4_query_and_answer_match_the_captures() {
        let (mut s, sent) = connected(&NrpeQuery::new("check_exit0", vec![]));
        assert_eq!(sent, capture!("v4-query-check_exit0.bin"));
        // The answer dribbles in one byte at a time.
        let reply = capture!("v4-response-exit0.bin");
        for (i, b) in reply.iter().enumerate() {
            assert!(s.poll_event().is_none(), "no event before byte {i}");
            s.handle_input(T0 + ms(5), std::slice::from_ref(b));
        }
        assert_eq!(s.state(), StreamState::Close, "closes without waiting for the server");
        assert_eq!(s.poll_timeout(), None);
        let a = answer(&mut s);
        assert_eq!((a.version, a.result_code, a.status), (Version::V4, 0, PluginStatus::Ok));
        assert_eq!(a.text, "EXIT0 - status 0|v=0;1;2;0;3");
        assert_eq!(a.output.summary, "EXIT0 - status 0");
        assert_eq!(a.output.perfdata.len(), 1);
        assert_eq!(a.elapsed, ms(5));
        assert!(a.tls.is_none() && !a.truncated);
        assert!(s.poll_event().is_none(), "exactly one event");
    }

    #[test]
    fn each_result_code_maps_to_a_status() {
        for (code, status) in [
            (0, PluginStatus::Ok),
            (1, PluginStatus::Warning),
            (2, PluginStatus::Critical),
            (3, PluginStatus::Unknown),
            (7, PluginStatus::Error),
            (-1, PluginStatus::Error),
        ] {
            let (mut s, _) = connected(&NrpeQuery::new("x", vec![]));
            s.handle_input(T0, &response(Version::V4, PacketType::Response, code, b"text"));
            let a = answer(&mut s);
            assert_eq!((a.result_code, a.status), (code, status));
        }
    }

    #[test]
    fn long_output_is_split_into_summary_long_output_and_perfdata() {
        let (mut s, _) = connected(&NrpeQuery::new("check_long", vec![]));
        // Two reads, split inside the header.
        let reply = capture!("v4-response-long.bin");
        s.handle_input(T0, &reply[..7]);
        s.handle_input(T0, &reply[7..]);
        let a = answer(&mut s);
        assert_eq!(a.status, PluginStatus::Warning);
        assert_eq!(a.output.summary, "LONG OK - first line");
        assert_eq!(a.output.long_output.lines().count(), 40);
        assert_eq!(a.output.perfdata.len(), 1);
        assert_eq!(a.text.len(), 3193);
    }

    #[test]
    fn v2_query_and_answer_match_the_captures() {
        let q = NrpeQuery { version: Version::V2, ..NrpeQuery::new("check_exit0", vec![]) };
        let (mut s, sent) = connected(&q);
        assert_eq!(sent.len(), nrpe::V2_PACKET_LEN);
        // check_nrpe fills the v2 result field with random bytes; the text is what matters.
        assert_eq!(Repr::parse_bytes(&sent, 0).unwrap().text, b"check_exit0");
        s.handle_input(T0, capture!("v2-response-exit0.bin"));
        assert_eq!(answer(&mut s).text, "EXIT0 - status 0|v=0;1;2;0;3");
    }

    #[test]
    fn v2_response_more_packets_are_joined() {
        let q = NrpeQuery { version: Version::V2, ..NrpeQuery::new("check_long", vec![]) };
        let (mut s, _) = connected(&q);
        let mut reply = response(Version::V2, PacketType::ResponseMore, 1, b"first part|a=1\nsecond ");
        reply.extend(response(Version::V2, PacketType::ResponseMore, 1, b"line\n"));
        reply.extend(response(Version::V2, PacketType::Response, 1, b"third line|b=2"));
        // Delivered in uneven pieces across packet boundaries.
        for chunk in reply.chunks(700) {
            s.handle_input(T0, chunk);
        }
        let a = answer(&mut s);
        assert_eq!(a.text, "first part|a=1\nsecond line\nthird line|b=2");
        assert_eq!(a.output.perfdata.len(), 2);
        assert_eq!(a.status, PluginStatus::Warning);
    }

    #[test]
    fn text_beyond_the_cap_is_cut_and_flagged() {
        let q = NrpeQuery { version: Version::V2, max_buffer: 1500, ..NrpeQuery::new("c", vec![]) };
        let (mut s, _) = connected(&q);
        let part = vec![b'a'; 1000];
        let mut reply = response(Version::V2, PacketType::ResponseMore, 0, &part);
        reply.extend(response(Version::V2, PacketType::Response, 0, &part));
        s.handle_input(T0, &reply);
        let a = answer(&mut s);
        assert!(a.truncated);
        assert_eq!(a.text.len(), 1500);
        // A v4 buffer beyond the cap is refused at its header: no allocation.
        let q = NrpeQuery { max_buffer: 100, ..NrpeQuery::new("c", vec![]) };
        let (mut s, _) = connected(&q);
        s.handle_input(T0, &capture!("v4-response-long.bin")[..16]);
        assert!(matches!(failure(&mut s), NrpeFailure::Protocol(nrpe::Error::BufferLength { len: 3194, max: 100 })));
        assert_eq!(s.state(), StreamState::Close);
    }

    #[test]
    fn version_query_asks_nrpe_check() {
        let (mut s, sent) = connected(&NrpeQuery::new("", vec![]));
        assert_eq!(sent, capture!("v4-query-nrpe-check.bin"));
        s.handle_input(T0, capture!("v4-response-version.bin"));
        assert_eq!(answer(&mut s).text, "NRPE v4.1.0");
    }

    #[test]
    fn arguments_are_sent_and_bad_ones_refused_before_connecting() {
        let (_, sent) = connected(&NrpeQuery::new("check_exit0", vec!["x".into(), "y".into()]));
        assert_eq!(sent, capture!("v4-query-with-args.bin"));
        let err = NrpeSession::new(T0, &NrpeQuery::new("c", vec!["a!b".into()]), None).unwrap_err();
        assert_eq!(err, NrpeError::Query(nrpe::Error::ArgumentHasBang { index: 0 }));
        let long = "x".repeat(2000);
        let q = NrpeQuery { version: Version::V2, ..NrpeQuery::new(long, vec![]) };
        assert!(matches!(NrpeSession::new(T0, &q, None), Err(NrpeError::Query(nrpe::Error::TextTooLong { .. }))));
    }

    #[test]
    fn v4_closed_unanswered_asks_for_a_v2_retry_and_v2_then_fails() {
        let q = NrpeQuery::new("check_exit0", vec!["x".into()]);
        let (mut s, _) = connected(&q);
        s.handle_input(T0 + ms(2), &[]);
        assert!(matches!(s.poll_event(), Some(NrpeEvent::RetryWithV2)));
        assert_eq!(s.state(), StreamState::Close);

        let (mut s, sent) = connected(&q.for_v2_retry());
        assert_eq!(Repr::parse_bytes(&sent, 0).unwrap().version, Version::V2);
        s.handle_reset(T0 + ms(3));
        let f = failure(&mut s);
        assert!(matches!(f, NrpeFailure::Closed { phase: Phase::AwaitingAnswer, received: 0, reset: true }));
        assert!(f.to_string().contains("refused the query"), "{f}");

        // No fallback when asked for none; a partial answer then a close does retry,
        // as check_nrpe does.
        let q2 = NrpeQuery { fallback_to_v2: false, ..q.clone() };
        let (mut s, _) = connected(&q2);
        s.handle_input(T0, &[]);
        assert!(matches!(failure(&mut s), NrpeFailure::Closed { reset: false, .. }));
        let (mut s, _) = connected(&q);
        s.handle_input(T0, &capture!("v4-response-exit0.bin")[..20]);
        s.handle_input(T0, &[]);
        assert!(matches!(s.poll_event(), Some(NrpeEvent::RetryWithV2)));
    }

    #[test]
    fn timeout_fires_at_the_deadline_only() {
        let q = NrpeQuery { timeout: Duration::from_secs(3), ..NrpeQuery::new("c", vec![]) };
        let mut s = NrpeSession::new(T0, &q, None).unwrap();
        let deadline = s.poll_timeout().unwrap();
        assert_eq!(deadline, T0 + Duration::from_secs(3));
        s.handle_timeout(Instant(deadline.0 - 1));
        assert!(s.poll_event().is_none());
        s.handle_timeout(deadline);
        let f = failure(&mut s);
        assert!(matches!(f, NrpeFailure::Timeout { phase: Phase::Connecting, .. }));
        assert_eq!(f.to_string(), "Socket timeout after 3 seconds (connecting)");
        assert_eq!(s.state(), StreamState::Close);
        // Events after the end change nothing.
        s.handle_connected(deadline);
        s.handle_input(deadline, capture!("v4-response-exit0.bin"));
        assert!(s.poll_event().is_none());
        let mut out = Vec::new();
        s.poll_transmit(&mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn garbage_answers_are_protocol_failures() {
        type Want = fn(&NrpeFailure) -> bool;
        let cases: Vec<(Vec<u8>, Want)> = vec![
            (b"HTTP/1.1 400 Bad Request\r\n".to_vec(), |f| matches!(f, NrpeFailure::Protocol(nrpe::Error::Version(_)))),
            (
                {
                    let mut p = capture!("v4-response-exit0.bin").to_vec();
                    p[20] ^= 0x20;
                    p
                },
                |f| matches!(f, NrpeFailure::Protocol(nrpe::Error::Crc { .. })),
            ),
            (response(Version::V4, PacketType::Query, 0, b"echo"), |f| {
                matches!(f, NrpeFailure::UnexpectedPacket { packet_type: PacketType::Query })
            }),
        ];
        for (i, (bytes, want)) in cases.into_iter().enumerate() {
            let (mut s, _) = connected(&NrpeQuery::new("c", vec![]));
            s.handle_input(T0, &bytes);
            let f = failure(&mut s);
            assert!(want(&f), "case {i}: {f:?}");
        }
    }

    #[cfg(feature = "nrpe-adh")]
    mod tls {
        use super::*;
        use crate::session::tls::test_server::MemServer;
        use crate::session::tls::{AdhConnector, TlsClient, rustls_config_from_pem};

        /// Runs a session against an in-memory TLS server that answers `reply` once
        /// it has read a whole query.
        fn run(mut s: NrpeSession, server: &mut MemServer, reply: &[u8]) -> NrpeSession {
            s.handle_connected(T0);
            let mut replied = false;
            for _ in 0..20 {
                let mut to_server = Vec::new();
                s.poll_transmit(&mut to_server);
                let mut to_client = match server.exchange(&to_server) {
                    Ok(b) => b,
                    Err(_) => return s,
                };
                if !replied
                    && nrpe::frame_len(&server.received, usize::MAX).ok().flatten() == Some(server.received.len())
                {
                    to_client.extend(server.send(reply));
                    replied = true;
                }
                if to_client.is_empty() && to_server.is_empty() {
                    break;
                }
                s.handle_input(T0 + ms(4), &to_client);
                if s.state() == StreamState::Close {
                    break;
                }
            }
            s
        }

        #[test]
        fn anonymous_dh_like_a_default_nrpe() {
            let mut server = MemServer::anonymous();
            let tls = TlsClient::openssl(&AdhConnector::new().unwrap()).unwrap();
            let s = NrpeSession::new(T0, &NrpeQuery::new("check_exit0", vec![]), Some(tls)).unwrap();
            let mut s = run(s, &mut server, capture!("v4-response-exit2.bin"));
            assert_eq!(server.received, capture!("v4-query-check_exit0.bin"));
            let a = answer(&mut s);
            assert_eq!(a.status, PluginStatus::Critical);
            let tls = a.tls.unwrap();
            assert_eq!(tls.version.as_deref(), Some("TLSv1.2"));
            assert!(tls.cipher.unwrap().contains("ADH"));
            assert_eq!(s.state(), StreamState::Close);
        }

        #[test]
        fn certificate_tls_with_rustls() {
            let (mut server, pem) = MemServer::with_certificate();
            let tls = TlsClient::rustls(
                rustls_config_from_pem(&pem).unwrap(),
                rustls::pki_types::ServerName::try_from("localhost").unwrap(),
            )
            .unwrap();
            let s = NrpeSession::new(T0, &NrpeQuery::new("check_long", vec![]), Some(tls)).unwrap();
            let mut s = run(s, &mut server, capture!("v4-response-long.bin"));
            let a = answer(&mut s);
            assert_eq!((a.status, a.text.len()), (PluginStatus::Warning, 3193));
            assert_eq!(a.tls.unwrap().version.as_deref(), Some("TLSv1.3"));
        }

        #[test]
        fn handshake_failure_is_a_tls_failure_without_fallback() {
            let mut server = MemServer::anonymous();
            let tls = TlsClient::rustls(
                crate::session::tls::rustls_config_webpki_roots().unwrap(),
                rustls::pki_types::ServerName::try_from("localhost").unwrap(),
            )
            .unwrap();
            let s = NrpeSession::new(T0, &NrpeQuery::new("c", vec![]), Some(tls)).unwrap();
            let mut s = run(s, &mut server, b"");
            let f = failure(&mut s);
            assert!(matches!(f, NrpeFailure::Tls(_)), "{f:?}");
        }

        #[test]
        fn close_during_the_handshake_does_not_fall_back() {
            let tls = TlsClient::openssl(&AdhConnector::new().unwrap()).unwrap();
            let mut s = NrpeSession::new(T0, &NrpeQuery::new("c", vec![]), Some(tls)).unwrap();
            s.handle_connected(T0);
            s.handle_input(T0, &[]);
            assert!(matches!(failure(&mut s), NrpeFailure::Closed { phase: Phase::TlsHandshake, .. }));
        }
    }
}
