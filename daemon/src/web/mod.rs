//! The daemon's HTTP layer, the only module that knows HTTP: a JSON API under `/api/`
//! and server-rendered status pages (`/`, `/check/{path}`), hyper 1 on smol's
//! executor. It owns no state: live state comes from the engine's owner through
//! [`ApiHandle`](crate::api::ApiHandle), history and readings from a
//! [`HistorySource`] (the store's reader). Not here: the engine, SQL, logins.

mod assets;
pub mod graph;
mod history;
mod json;
mod pages;
pub mod routes;
mod server;
mod store_adapter;

use std::net::SocketAddr;

pub use history::{AlertRow, CommentRow, DowntimeRow, HistoryEntry, HistorySource, Point, Series};
pub use server::{serve, serve_with_clock};
pub use store_adapter::StoreHistory;

/// Largest request body accepted (an action is a few hundred bytes).
pub const MAX_BODY: usize = 64 * 1024;

/// Why the HTTP listener could not start. The messages are what the operator reads.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error(
        "refusing to listen on {addr}: it is not a loopback address, and nothing binds beyond loopback unless the operator says so (--http-public)"
    )]
    NotLoopback { addr: SocketAddr },
    #[error("port {} on {} is in use (another bergamotd?): choose another with --http", .addr.port(), .addr.ip())]
    InUse { addr: SocketAddr },
    #[error("cannot listen on {addr}: permission denied (ports below 1024 need CAP_NET_BIND_SERVICE)")]
    Denied { addr: SocketAddr },
    #[error("cannot listen on {addr}: {source}")]
    Io {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Opens the listener for [`serve`]. A non-loopback address is refused unless
/// `allow_public`: the API can acknowledge, silence and reload, and has no logins yet.
pub fn bind(addr: SocketAddr, allow_public: bool) -> Result<smol::Async<std::net::TcpListener>, WebError> {
    if !allow_public && !addr.ip().is_loopback() {
        return Err(WebError::NotLoopback { addr });
    }
    let listener = std::net::TcpListener::bind(addr).map_err(|source| match source.kind() {
        std::io::ErrorKind::AddrInUse => WebError::InUse { addr },
        std::io::ErrorKind::PermissionDenied => WebError::Denied { addr },
        _ => WebError::Io { addr, source },
    })?;
    smol::Async::new(listener).map_err(|source| WebError::Io { addr, source })
}
