//! Sans-IO TLS client for stream sessions (NRPE, later TCP checks): ciphertext goes
//! in and out as byte buffers, plaintext is handed over in memory. Not here: sockets,
//! clocks, retries, or any protocol above TLS.
//!
//! Two engines behind one type, [`TlsClient`]:
//! - rustls (ring provider) for ordinary certificate TLS 1.2/1.3;
//! - OpenSSL, behind the `nrpe-adh` feature, for what rustls deliberately cannot do:
//!   anonymous (EC)DH cipher suites at SECLEVEL=0, the only thing a default NRPE 3/4
//!   server without a certificate speaks (SEMANTICS.md §11). It is driven through an
//!   in-memory `Read`/`Write` adapter, so it never sees a socket either.
//!
//! Usage: write the request with [`TlsClient::write_plaintext`] (buffered until the
//! handshake completes), move ciphertext with [`TlsClient::poll_transmit`] and
//! [`TlsClient::handle_input`]; the latter appends decrypted bytes to the caller's
//! buffer and says whether the peer sent close_notify.

use std::io::{Read, Write};
use std::sync::Arc;

use rustls::ClientConnection;
use rustls::pki_types::ServerName;

/// A TLS failure: a handshake the peer refused, a record that does not decrypt, a
/// configuration we could not build. Always carries the engine's own words.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS (rustls): {0}")]
    Rustls(#[from] rustls::Error),
    #[error("TLS (OpenSSL): {0}")]
    OpenSsl(String),
    #[error("TLS configuration: {0}")]
    Config(String),
    #[error("TLS: {what}: {source}")]
    Io { what: &'static str, source: std::io::Error },
}

/// What [`TlsClient::handle_input`] learned besides the plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InputStatus {
    /// The peer sent close_notify: no more plaintext will come.
    pub peer_closed: bool,
}

/// A rustls client configuration with the ring provider (rustls is built without a
/// process-wide default) trusting `roots`.
pub fn rustls_config(roots: rustls::RootCertStore) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// [`rustls_config`] with the Mozilla roots (webpki-roots).
pub fn rustls_config_webpki_roots() -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    rustls_config(roots)
}

/// [`rustls_config`] trusting the PEM certificates in `pem` (a CA file, or a
/// self-signed server certificate that is not a CA).
pub fn rustls_config_from_pem(pem: &[u8]) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| TlsError::Config(format!("bad PEM certificate: {e}")))?;
        roots.add(cert)?;
    }
    if roots.is_empty() {
        return Err(TlsError::Config("no certificate in the PEM data".into()));
    }
    rustls_config(roots)
}

/// One TLS client connection, sans-IO.
#[derive(Debug)]
pub struct TlsClient {
    engine: Engine,
}

#[derive(Debug)]
enum Engine {
    Rustls(Box<ClientConnection>),
    #[cfg(feature = "nrpe-adh")]
    OpenSsl(Box<adh::Conn>),
}

impl TlsClient {
    /// A rustls client for `server_name` (certificate verification as `config` says).
    pub fn rustls(config: Arc<rustls::ClientConfig>, server_name: ServerName<'static>) -> Result<TlsClient, TlsError> {
        let conn = ClientConnection::new(config, server_name)?;
        Ok(TlsClient { engine: Engine::Rustls(Box::new(conn)) })
    }

    /// An OpenSSL client with `connector`'s settings (anonymous DH allowed), with a
    /// full handshake.
    #[cfg(feature = "nrpe-adh")]
    pub fn openssl(connector: &AdhConnector) -> Result<TlsClient, TlsError> {
        Ok(TlsClient { engine: Engine::OpenSsl(Box::new(adh::Conn::new(connector, None)?)) })
    }

    /// Like [`TlsClient::openssl`], resuming the session last made with `peer` (any
    /// key naming the server, e.g. `address:port`) when there is one.
    #[cfg(feature = "nrpe-adh")]
    pub fn openssl_resuming(connector: &AdhConnector, peer: &str) -> Result<TlsClient, TlsError> {
        Ok(TlsClient { engine: Engine::OpenSsl(Box::new(adh::Conn::new(connector, Some(peer))?)) })
    }

    /// Queue plaintext; it is encrypted once the handshake allows.
    pub fn write_plaintext(&mut self, data: &[u8]) -> Result<(), TlsError> {
        match &mut self.engine {
            Engine::Rustls(c) => {
                // Before the handshake completes rustls buffers this (up to its
                // default 64 KiB limit, far above one NRPE query).
                c.writer().write_all(data).map_err(|source| TlsError::Io { what: "buffering plaintext", source })
            }
            #[cfg(feature = "nrpe-adh")]
            Engine::OpenSsl(c) => c.write_plaintext(data),
        }
    }

    /// Ciphertext from the peer. Decrypted plaintext is appended to `plaintext`.
    pub fn handle_input(&mut self, data: &[u8], plaintext: &mut Vec<u8>) -> Result<InputStatus, TlsError> {
        match &mut self.engine {
            Engine::Rustls(c) => rustls_input(c, data, plaintext),
            #[cfg(feature = "nrpe-adh")]
            Engine::OpenSsl(c) => c.handle_input(data, plaintext),
        }
    }

    /// Ciphertext to send, appended to `out`.
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> Result<(), TlsError> {
        match &mut self.engine {
            Engine::Rustls(c) => {
                while c.wants_write() {
                    c.write_tls(out).map_err(|source| TlsError::Io { what: "writing records", source })?;
                }
                Ok(())
            }
            #[cfg(feature = "nrpe-adh")]
            Engine::OpenSsl(c) => c.poll_transmit(out),
        }
    }

    /// The handshake is still under way.
    pub fn is_handshaking(&self) -> bool {
        match &self.engine {
            Engine::Rustls(c) => c.is_handshaking(),
            #[cfg(feature = "nrpe-adh")]
            Engine::OpenSsl(c) => !c.handshake_done,
        }
    }

    /// The negotiated cipher suite, in the engine's spelling, once known.
    pub fn cipher_suite(&self) -> Option<String> {
        match &self.engine {
            Engine::Rustls(c) => c.negotiated_cipher_suite().map(|s| format!("{:?}", s.suite())),
            #[cfg(feature = "nrpe-adh")]
            Engine::OpenSsl(c) => c.cipher_name(),
        }
    }

    /// The negotiated protocol version (`TLSv1.2`, `TLSv1.3`), once known.
    pub fn protocol_version(&self) -> Option<String> {
        match &self.engine {
            Engine::Rustls(c) => c.protocol_version().map(|v| match v {
                rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_owned(),
                rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_owned(),
                other => format!("{other:?}"),
            }),
            #[cfg(feature = "nrpe-adh")]
            Engine::OpenSsl(c) => c.handshake_done.then(|| c.version_name()),
        }
    }

    /// Whether an earlier session was resumed (no key exchange this time).
    pub fn session_resumed(&self) -> bool {
        match &self.engine {
            Engine::Rustls(c) => matches!(c.handshake_kind(), Some(rustls::HandshakeKind::Resumed)),
            #[cfg(feature = "nrpe-adh")]
            Engine::OpenSsl(c) => c.resumed(),
        }
    }
}

fn rustls_input(c: &mut ClientConnection, mut data: &[u8], plaintext: &mut Vec<u8>) -> Result<InputStatus, TlsError> {
    let mut status = InputStatus::default();
    // read_tls takes at most one buffer's worth at a time; process and drain
    // plaintext after each so rustls' plaintext buffer never fills up.
    while !data.is_empty() {
        let n = c.read_tls(&mut data).map_err(|source| TlsError::Io { what: "reading records", source })?;
        if n == 0 {
            break;
        }
        let state = c.process_new_packets()?;
        let want = state.plaintext_bytes_to_read();
        if want > 0 {
            let start = plaintext.len();
            plaintext.resize(start + want, 0);
            let got = c.reader().read(&mut plaintext[start..]).unwrap_or(0);
            plaintext.truncate(start + got);
        }
        if state.peer_has_closed() {
            status.peer_closed = true;
        }
    }
    Ok(status)
}

/// Shared OpenSSL settings for anonymous-DH clients (building an `SSL_CTX` costs far
/// more than a connection: build one and clone it).
#[cfg(feature = "nrpe-adh")]
pub use adh::AdhConnector;

#[cfg(feature = "nrpe-adh")]
mod adh {
    use std::collections::{HashMap, VecDeque};
    use std::io::{self, Read, Write};
    use std::sync::{Arc, Mutex, OnceLock};

    use openssl::ex_data::Index;
    use openssl::ssl::{
        ErrorCode, ShutdownState, Ssl, SslContext, SslMethod, SslSession, SslSessionCacheMode, SslStream,
        SslVerifyMode, SslVersion,
    };

    use super::{InputStatus, TlsError};

    /// check_nrpe's default cipher list: everything but MD5, strongest first, at
    /// security level 0 so anonymous DH and ECDH stay enabled.
    pub const CHECK_NRPE_CIPHERS: &str = "ALL:!MD5:@STRENGTH:@SECLEVEL=0";

    /// Sessions kept for resumption, at most this many peers.
    const MAX_CACHED_PEERS: usize = 4096;

    /// OpenSSL client settings: check_nrpe's cipher list, no certificate verification
    /// (as check_nrpe without `-A`), TLS 1.0 and up; and a cache of TLS sessions per
    /// peer, so that repeated checks of one server resume (a session ticket: no key
    /// exchange, which with nrpe's 2048-bit anonymous DH is most of a check's CPU).
    #[derive(Clone)]
    pub struct AdhConnector {
        ctx: SslContext,
        sessions: Arc<Mutex<HashMap<String, SslSession>>>,
    }

    /// Where a connection keeps the key of its peer, for the new-session callback.
    fn peer_index() -> Result<Index<Ssl, String>, TlsError> {
        static INDEX: OnceLock<Result<Index<Ssl, String>, String>> = OnceLock::new();
        INDEX.get_or_init(|| Ssl::new_ex_index::<String>().map_err(|e| e.to_string())).clone().map_err(TlsError::Config)
    }

    impl std::fmt::Debug for AdhConnector {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("AdhConnector").finish_non_exhaustive()
        }
    }

    impl AdhConnector {
        /// check_nrpe's defaults.
        pub fn new() -> Result<AdhConnector, TlsError> {
            AdhConnector::with_ciphers(CHECK_NRPE_CIPHERS)
        }

        /// A custom TLS 1.2-and-below cipher list (OpenSSL syntax).
        pub fn with_ciphers(ciphers: &str) -> Result<AdhConnector, TlsError> {
            let e = |what: &str, err: openssl::error::ErrorStack| TlsError::Config(format!("{what}: {err}"));
            let mut b = SslContext::builder(SslMethod::tls_client()).map_err(|err| e("SSL_CTX_new", err))?;
            b.set_cipher_list(ciphers).map_err(|err| e("cipher list", err))?;
            b.set_min_proto_version(Some(SslVersion::TLS1)).map_err(|err| e("minimum version", err))?;
            b.set_verify(SslVerifyMode::NONE);
            // Classic groups only: OpenSSL 3.5+ would otherwise offer a hybrid
            // post-quantum key share in every ClientHello (a KEM key generated per
            // connection, 1 KiB more on the wire) that NRPE servers do not use.
            b.set_groups_list("X25519:P-256:P-384:P-521").map_err(|err| e("groups", err))?;
            let sessions: Arc<Mutex<HashMap<String, SslSession>>> = Arc::default();
            let index = peer_index()?;
            b.set_session_cache_mode(SslSessionCacheMode::CLIENT);
            let cache = sessions.clone();
            // Called for every session the server hands out: after a full handshake in
            // TLS 1.2, and for each ticket that arrives after a TLS 1.3 handshake.
            b.set_new_session_callback(move |ssl, session| {
                let Some(peer) = ssl.ex_data(index) else { return };
                if let Ok(mut map) = cache.lock() {
                    if map.len() >= MAX_CACHED_PEERS && !map.contains_key(peer) {
                        map.clear();
                    }
                    map.insert(peer.clone(), session);
                }
            });
            Ok(AdhConnector { ctx: b.build(), sessions })
        }

        fn cached(&self, peer: &str) -> Option<SslSession> {
            self.sessions.lock().ok()?.get(peer).cloned()
        }

        /// Forgets the session of `peer` (e.g. after a failure).
        pub fn forget(&self, peer: &str) {
            if let Ok(mut map) = self.sessions.lock() {
                map.remove(peer);
            }
        }
    }

    /// The in-memory transport OpenSSL reads from and writes to: what arrived from
    /// the peer, and what is waiting to be sent.
    #[derive(Debug, Default)]
    struct MemIo {
        incoming: VecDeque<u8>,
        outgoing: Vec<u8>,
    }

    impl Read for MemIo {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.incoming.is_empty() {
                // OpenSSL turns this into WANT_READ: wait for more ciphertext.
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.incoming.read(buf)
        }
    }

    impl Write for MemIo {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.outgoing.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    pub struct Conn {
        stream: SslStream<MemIo>,
        pub handshake_done: bool,
        pending: Vec<u8>,
        peer_closed: bool,
        /// The connector and peer key whose cached session was offered: forgotten if
        /// the server does not take it, so the next check starts afresh.
        offered: Option<(AdhConnector, String)>,
    }

    impl Drop for Conn {
        fn drop(&mut self) {
            // We close without close_notify (the answer is complete; waiting for the
            // peer's costs a round trip). OpenSSL would then mark the session as not
            // resumable when the SSL is freed; recording the shutdown as done keeps
            // it usable for the next check of this server.
            if self.handshake_done {
                self.stream.set_shutdown(ShutdownState::SENT | ShutdownState::RECEIVED);
            }
        }
    }

    impl std::fmt::Debug for Conn {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Conn").field("handshake_done", &self.handshake_done).finish_non_exhaustive()
        }
    }

    fn ssl_err(what: &str, e: openssl::ssl::Error) -> TlsError {
        match e.ssl_error() {
            Some(stack) => TlsError::OpenSsl(format!("{what}: {stack}")),
            None => TlsError::OpenSsl(format!("{what}: {e}")),
        }
    }

    fn would_block(e: &openssl::ssl::Error) -> bool {
        matches!(e.code(), ErrorCode::WANT_READ | ErrorCode::WANT_WRITE)
    }

    impl Conn {
        /// With `peer`, the session last seen for that key is offered for resumption
        /// and new ones are kept under it.
        pub fn new(connector: &AdhConnector, peer: Option<&str>) -> Result<Conn, TlsError> {
            let mut ssl = Ssl::new(&connector.ctx).map_err(|e| TlsError::Config(format!("SSL_new: {e}")))?;
            ssl.set_connect_state();
            let mut offered = None;
            if let Some(peer) = peer {
                ssl.set_ex_data(peer_index()?, peer.to_owned());
                if let Some(session) = connector.cached(peer) {
                    // Resuming a TLS 1.2 session (what anonymous DH always is) needs no
                    // TLS 1.3 key share: capping the version leaves out its key
                    // generation. A server that moved on refuses the session, and the
                    // next check starts over without the cap.
                    if session.protocol_version() != SslVersion::TLS1_3 {
                        ssl.set_max_proto_version(Some(SslVersion::TLS1_2))
                            .map_err(|e| TlsError::Config(format!("maximum version: {e}")))?;
                    }
                    // SAFETY: `set_session` needs a session made with this SSL_CTX.
                    // The cache belongs to the connector and is filled only by its
                    // context's new-session callback, so every session in it was.
                    #[allow(unsafe_code)]
                    let resumed = unsafe { ssl.set_session(&session) };
                    match resumed {
                        Ok(()) => offered = Some((connector.clone(), peer.to_owned())),
                        Err(_) => connector.forget(peer),
                    }
                }
            }
            let stream =
                SslStream::new(ssl, MemIo::default()).map_err(|e| TlsError::Config(format!("SSL stream: {e}")))?;
            let mut conn = Conn { stream, handshake_done: false, pending: Vec::new(), peer_closed: false, offered };
            // Produces the ClientHello.
            conn.advance()?;
            Ok(conn)
        }

        /// Moves the handshake on, then flushes pending plaintext once it is done.
        fn advance(&mut self) -> Result<(), TlsError> {
            if !self.handshake_done {
                match self.stream.do_handshake() {
                    Ok(()) => {
                        self.handshake_done = true;
                        if let Some((connector, peer)) = self.offered.take() {
                            if !self.stream.ssl().session_reused() {
                                connector.forget(&peer);
                            }
                        }
                    }
                    Err(e) if would_block(&e) => return Ok(()),
                    Err(e) => {
                        if let Some((connector, peer)) = self.offered.take() {
                            connector.forget(&peer);
                        }
                        return Err(ssl_err("handshake", e));
                    }
                }
            }
            while !self.pending.is_empty() {
                match self.stream.ssl_write(&self.pending) {
                    Ok(n) => {
                        self.pending.drain(..n.min(self.pending.len()));
                    }
                    Err(e) if would_block(&e) => break,
                    Err(e) => return Err(ssl_err("write", e)),
                }
            }
            Ok(())
        }

        pub fn write_plaintext(&mut self, data: &[u8]) -> Result<(), TlsError> {
            self.pending.extend_from_slice(data);
            self.advance()
        }

        pub fn handle_input(&mut self, data: &[u8], plaintext: &mut Vec<u8>) -> Result<InputStatus, TlsError> {
            self.stream.get_mut().incoming.extend(data);
            self.advance()?;
            if self.handshake_done {
                let mut buf = [0u8; 16 * 1024];
                loop {
                    match self.stream.ssl_read(&mut buf) {
                        Ok(n) => plaintext.extend_from_slice(buf.get(..n).unwrap_or(&[])),
                        Err(e) if e.code() == ErrorCode::ZERO_RETURN => {
                            self.peer_closed = true;
                            break;
                        }
                        Err(e) if would_block(&e) => break,
                        Err(e) => return Err(ssl_err("read", e)),
                    }
                }
                // A renegotiation or key update may have unblocked a write.
                self.advance()?;
            }
            Ok(InputStatus { peer_closed: self.peer_closed })
        }

        pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> Result<(), TlsError> {
            out.append(&mut self.stream.get_mut().outgoing);
            Ok(())
        }

        pub fn cipher_name(&self) -> Option<String> {
            self.stream.ssl().current_cipher().map(|c| c.name().to_owned())
        }

        pub fn version_name(&self) -> String {
            self.stream.ssl().version_str().to_owned()
        }

        pub fn resumed(&self) -> bool {
            self.stream.ssl().session_reused()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rustls_client_speaks_first_and_buffers_plaintext() {
        let config = rustls_config_webpki_roots().unwrap();
        let mut c = TlsClient::rustls(config, ServerName::try_from("localhost").unwrap()).unwrap();
        c.write_plaintext(b"query").unwrap();
        let mut out = Vec::new();
        c.poll_transmit(&mut out).unwrap();
        // A TLS handshake record carrying a ClientHello; the query is not in clear.
        assert_eq!(&out[..1], &[0x16]);
        assert_eq!(out[5], 0x01);
        assert!(!out.windows(5).any(|w| w == b"query"));
        assert!(c.is_handshaking());
        assert_eq!(c.protocol_version(), None);
    }

    #[test]
    fn garbage_from_the_peer_is_an_error_not_a_panic() {
        let config = rustls_config_webpki_roots().unwrap();
        let mut c = TlsClient::rustls(config, ServerName::try_from("localhost").unwrap()).unwrap();
        let mut out = Vec::new();
        c.poll_transmit(&mut out).unwrap();
        let mut plain = Vec::new();
        let err = c.handle_input(b"\x00\x04\x00\x02 this is plaintext NRPE", &mut plain).unwrap_err();
        assert!(matches!(err, TlsError::Rustls(_)), "{err}");
        assert!(plain.is_empty());
    }

    #[test]
    fn pem_without_certificates_is_refused() {
        let err = rustls_config_from_pem(b"nothing here").unwrap_err();
        assert!(err.to_string().contains("no certificate"), "{err}");
    }

    #[cfg(feature = "nrpe-adh")]
    #[test]
    fn openssl_client_hello_offers_anonymous_dh() {
        let connector = AdhConnector::new().unwrap();
        let mut c = TlsClient::openssl(&connector).unwrap();
        c.write_plaintext(b"query").unwrap();
        let mut out = Vec::new();
        c.poll_transmit(&mut out).unwrap();
        assert_eq!(&out[..1], &[0x16]);
        // TLS_DH_anon_WITH_AES_256_GCM_SHA384 (0x00a7) and
        // TLS_ECDH_anon_WITH_AES_256_CBC_SHA (0xc019) are in the offer.
        assert!(out.windows(2).any(|w| w == [0x00, 0xa7]));
        assert!(out.windows(2).any(|w| w == [0xc0, 0x19]));
        assert!(!out.windows(5).any(|w| w == b"query"));
        assert!(c.is_handshaking());
        let mut plain = Vec::new();
        assert!(c.handle_input(b"\x15\x03\x03\x00\x02\x02\x28", &mut plain).is_err(), "a handshake_failure alert");
    }
    /// Runs client and server against each other until neither has anything to say.
    #[cfg(feature = "nrpe-adh")]
    fn pump(c: &mut TlsClient, s: &mut test_server::MemServer, plain: &mut Vec<u8>) -> Result<(), String> {
        for _ in 0..20 {
            let mut to_server = Vec::new();
            c.poll_transmit(&mut to_server).map_err(|e| e.to_string())?;
            let to_client = s.exchange(&to_server)?;
            if to_server.is_empty() && to_client.is_empty() {
                return Ok(());
            }
            c.handle_input(&to_client, plain).map_err(|e| e.to_string())?;
        }
        Err("no quiescence after 20 rounds".into())
    }

    #[cfg(feature = "nrpe-adh")]
    #[test]
    fn openssl_client_talks_to_an_anonymous_dh_server() {
        let mut server = test_server::MemServer::anonymous();
        let mut c = TlsClient::openssl(&AdhConnector::new().unwrap()).unwrap();
        c.write_plaintext(b"hello nrpe").unwrap();
        let mut plain = Vec::new();
        pump(&mut c, &mut server, &mut plain).unwrap();
        assert!(!c.is_handshaking());
        assert_eq!(server.received, b"hello nrpe");
        assert!(server.cipher().starts_with("ADH-") || server.cipher().starts_with("AECDH-"), "{}", server.cipher());
        assert_eq!(c.cipher_suite().as_deref(), Some(server.cipher().as_str()));
        assert_eq!(c.protocol_version().as_deref(), Some("TLSv1.2"));
        let reply = server.send(b"the answer");
        let st = c.handle_input(&reply, &mut plain).unwrap();
        assert_eq!(plain, b"the answer");
        assert!(!st.peer_closed);
        // Fed one byte at a time, records still decrypt.
        let reply = server.send(b" again");
        for b in reply {
            c.handle_input(&[b], &mut plain).unwrap();
        }
        assert_eq!(plain, b"the answer again");
    }

    #[cfg(feature = "nrpe-adh")]
    #[test]
    fn openssl_sessions_resume_per_peer() {
        // One server context (its ticket key) for all connections, as nrpe's forked
        // children share their parent's.
        let ctx = test_server::anonymous_context();
        let connector = AdhConnector::new().unwrap();
        let mut resumed = Vec::new();
        for peer in ["a", "a", "a", "b"] {
            let mut server = test_server::MemServer::from_ctx(ctx.clone());
            let mut c = TlsClient::openssl_resuming(&connector, peer).unwrap();
            c.write_plaintext(b"q").unwrap();
            let mut plain = Vec::new();
            pump(&mut c, &mut server, &mut plain).unwrap();
            assert_eq!(server.received, b"q");
            resumed.push(c.session_resumed());
        }
        assert_eq!(resumed, [false, true, true, false]);
        // Without a peer key: always a full handshake.
        let mut server = test_server::MemServer::from_ctx(ctx.clone());
        let mut c = TlsClient::openssl(&connector).unwrap();
        pump(&mut c, &mut server, &mut Vec::new()).unwrap();
        assert!(!c.session_resumed());
        // A session the server cannot use (another server context): full handshake.
        let mut other = test_server::MemServer::anonymous();
        let mut c = TlsClient::openssl_resuming(&connector, "a").unwrap();
        c.write_plaintext(b"q").unwrap();
        pump(&mut c, &mut other, &mut Vec::new()).unwrap();
        assert!(!c.session_resumed());
        assert_eq!(other.received, b"q");
        // ...and forgotten, so the next check does not offer a stale session.
        let mut server = test_server::MemServer::from_ctx(ctx.clone());
        let mut c = TlsClient::openssl_resuming(&connector, "a").unwrap();
        pump(&mut c, &mut server, &mut Vec::new()).unwrap();
        assert!(!c.session_resumed());
    }

    #[cfg(feature = "nrpe-adh")]
    #[test]
    fn rustls_cannot_talk_to_an_anonymous_dh_server() {
        let mut server = test_server::MemServer::anonymous();
        let mut c =
            TlsClient::rustls(rustls_config_webpki_roots().unwrap(), ServerName::try_from("localhost").unwrap())
                .unwrap();
        let mut plain = Vec::new();
        let err = pump(&mut c, &mut server, &mut plain).unwrap_err();
        assert!(err.contains("HandshakeFailure") || err.contains("handshake"), "{err}");
    }

    #[cfg(feature = "nrpe-adh")]
    #[test]
    fn rustls_verifies_a_self_signed_server_certificate() {
        let (mut server, pem) = test_server::MemServer::with_certificate();
        let config = rustls_config_from_pem(&pem).unwrap();
        let mut c = TlsClient::rustls(config, ServerName::try_from("localhost").unwrap()).unwrap();
        c.write_plaintext(b"query").unwrap();
        let mut plain = Vec::new();
        pump(&mut c, &mut server, &mut plain).unwrap();
        assert_eq!(server.received, b"query");
        assert_eq!(c.protocol_version().as_deref(), Some("TLSv1.3"));
        let reply = server.send(b"answer");
        c.handle_input(&reply, &mut plain).unwrap();
        assert_eq!(plain, b"answer");

        // The same certificate under another name, or another certificate: refused.
        let (mut server2, _) = test_server::MemServer::with_certificate();
        let mut c =
            TlsClient::rustls(rustls_config_from_pem(&pem).unwrap(), ServerName::try_from("localhost").unwrap())
                .unwrap();
        let err = pump(&mut c, &mut server2, &mut plain).unwrap_err();
        assert!(err.contains("certificate") || err.contains("Certificate"), "{err}");
        let (mut server3, pem3) = test_server::MemServer::with_certificate();
        let mut c =
            TlsClient::rustls(rustls_config_from_pem(&pem3).unwrap(), ServerName::try_from("example.org").unwrap())
                .unwrap();
        let err = pump(&mut c, &mut server3, &mut plain).unwrap_err();
        assert!(err.contains("NotValidForName") || err.contains("name"), "{err}");
    }

    #[cfg(feature = "nrpe-adh")]
    #[test]
    fn openssl_client_also_talks_to_a_certificate_server() {
        // check_nrpe's defaults accept a certificate server without verifying it.
        let (mut server, _) = test_server::MemServer::with_certificate();
        let mut c = TlsClient::openssl(&AdhConnector::new().unwrap()).unwrap();
        c.write_plaintext(b"q").unwrap();
        let mut plain = Vec::new();
        pump(&mut c, &mut server, &mut plain).unwrap();
        assert_eq!(server.received, b"q");
        assert_eq!(c.protocol_version().as_deref(), Some("TLSv1.3"));
    }
}

/// An in-memory OpenSSL server for the tests of this module and of the sessions that
/// use it: anonymous DH like a default nrpe, or a fresh self-signed certificate.
#[cfg(all(test, feature = "nrpe-adh"))]
pub(crate) mod test_server {
    use std::collections::VecDeque;
    use std::io::{self, Read, Write};

    use openssl::asn1::Asn1Time;
    use openssl::dh::Dh;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::ssl::{ErrorCode, Ssl, SslContext, SslMethod, SslStream};
    use openssl::x509::extension::{BasicConstraints, SubjectAlternativeName};
    use openssl::x509::{X509, X509NameBuilder};

    #[derive(Debug, Default)]
    struct Mem {
        incoming: VecDeque<u8>,
        outgoing: Vec<u8>,
    }

    impl Read for Mem {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.incoming.is_empty() {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.incoming.read(buf)
        }
    }

    impl Write for Mem {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.outgoing.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A server context like nrpe's without a certificate: anonymous DH only.
    pub fn anonymous_context() -> SslContext {
        let mut b = SslContext::builder(SslMethod::tls_server()).unwrap();
        b.set_cipher_list("ADH-AES256-GCM-SHA384:ADH:AECDH:@SECLEVEL=0").unwrap();
        b.set_tmp_dh(&Dh::get_2048_256().unwrap()).unwrap();
        b.build()
    }

    pub struct MemServer {
        stream: SslStream<Mem>,
        pub received: Vec<u8>,
    }

    impl MemServer {
        /// Anonymous DH only, as nrpe 4.1.0 without a certificate.
        pub fn anonymous() -> MemServer {
            MemServer::from_ctx(anonymous_context())
        }

        /// A P-256 self-signed certificate for `localhost` (not a CA, so webpki takes
        /// it as a trust anchor and as the end entity), and its PEM.
        pub fn with_certificate() -> (MemServer, Vec<u8>) {
            let key =
                PKey::from_ec_key(EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap())
                    .unwrap();
            let mut name = X509NameBuilder::new().unwrap();
            name.append_entry_by_text("CN", "localhost").unwrap();
            let name = name.build();
            let mut x = X509::builder().unwrap();
            x.set_version(2).unwrap();
            x.set_subject_name(&name).unwrap();
            x.set_issuer_name(&name).unwrap();
            x.set_pubkey(&key).unwrap();
            x.set_not_before(&Asn1Time::days_from_now(0).unwrap()).unwrap();
            x.set_not_after(&Asn1Time::days_from_now(2).unwrap()).unwrap();
            x.append_extension(BasicConstraints::new().critical().build().unwrap()).unwrap();
            let san = SubjectAlternativeName::new().dns("localhost").build(&x.x509v3_context(None, None)).unwrap();
            x.append_extension(san).unwrap();
            x.sign(&key, MessageDigest::sha256()).unwrap();
            let cert = x.build();
            let mut b = SslContext::builder(SslMethod::tls_server()).unwrap();
            b.set_certificate(&cert).unwrap();
            b.set_private_key(&key).unwrap();
            (MemServer::from_ctx(b.build()), cert.to_pem().unwrap())
        }

        pub fn from_ctx(ctx: SslContext) -> MemServer {
            let mut ssl = Ssl::new(&ctx).unwrap();
            ssl.set_accept_state();
            MemServer { stream: SslStream::new(ssl, Mem::default()).unwrap(), received: Vec::new() }
        }

        /// Ciphertext from the client; returns the server's ciphertext in reply and
        /// collects decrypted bytes in `received`. Err: the handshake failed.
        pub fn exchange(&mut self, data: &[u8]) -> Result<Vec<u8>, String> {
            self.stream.get_mut().incoming.extend(data);
            let mut buf = [0u8; 4096];
            loop {
                match self.stream.ssl_read(&mut buf) {
                    Ok(n) => self.received.extend_from_slice(&buf[..n]),
                    Err(e) if matches!(e.code(), ErrorCode::WANT_READ | ErrorCode::ZERO_RETURN) => break,
                    Err(e) => {
                        let out = std::mem::take(&mut self.stream.get_mut().outgoing);
                        return if out.is_empty() { Err(e.to_string()) } else { Ok(out) };
                    }
                }
            }
            Ok(std::mem::take(&mut self.stream.get_mut().outgoing))
        }

        /// Encrypt `data` for the client.
        pub fn send(&mut self, data: &[u8]) -> Vec<u8> {
            self.stream.ssl_write(data).unwrap();
            std::mem::take(&mut self.stream.get_mut().outgoing)
        }

        pub fn cipher(&self) -> String {
            self.stream.ssl().current_cipher().map(|c| c.name().to_owned()).unwrap_or_default()
        }
    }
}
