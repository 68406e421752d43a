//! Sans-IO probe sessions: state machines fed with bytes and time, drained of bytes
//! to send, deadlines and results (STYLE.md). Drivers in [`crate::driver`] run them.
//!
//! Contract (quinn's naming): `handle_*` feeds input, `poll_*` drains output,
//! `poll_timeout` tells the next deadline. A session never blocks, never reads the
//! clock and never touches a socket.

#[cfg(test)]
mod icmp_peer;
pub mod nrpe;
pub mod ping;
pub mod pinger;
pub mod snmp;
pub mod tcp;
pub mod tls;

use std::net::SocketAddr;

use crate::time::Instant;

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub destination: SocketAddr,
    pub payload: Vec<u8>,
}

/// A session over one datagram socket shared by many probes (ICMP, SNMP): the
/// session demultiplexes replies itself (ICMP id/sequence, SNMP request id).
pub trait DatagramSession {
    type Event;
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, payload: &[u8]);
    fn handle_timeout(&mut self, now: Instant);
    fn poll_transmit(&mut self, now: Instant) -> Option<Transmit>;
    fn poll_timeout(&self) -> Option<Instant>;
    fn poll_event(&mut self) -> Option<Self::Event>;
}

/// What a stream session wants from its connection next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamState {
    /// Keep the connection open and pass on what arrives.
    Open,
    /// Close the write side once everything polled has been sent.
    CloseWrite,
    /// Drop the connection now (done, or failed): do not wait for the peer.
    Close,
}

/// A session over one TCP connection (NRPE, TCP checks), with any TLS inside it.
pub trait StreamSession {
    type Event;
    /// The connection is established.
    fn handle_connected(&mut self, now: Instant);
    /// Bytes arrived (empty: the peer closed its side).
    fn handle_input(&mut self, now: Instant, data: &[u8]);
    fn handle_timeout(&mut self, now: Instant);
    /// Bytes to write, appended to `out`.
    fn poll_transmit(&mut self, out: &mut Vec<u8>);
    fn poll_timeout(&self) -> Option<Instant>;
    fn poll_event(&mut self) -> Option<Self::Event>;
    fn state(&self) -> StreamState;
}
