//! What a [`super::Pinger`] is told and tells: its sizes, a check's parameters,
//! errors and counters. No logic here.

use std::net::IpAddr;
use std::time::Duration;

use crate::wire::icmp::Version;

/// Sizes and identity of a [`super::Pinger`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingerConfig {
    /// Checks at once; [`super::Pinger::add`] refuses more.
    pub max_checks: usize,
    /// Packets in flight at once, rounded up to a power of two, at most 65,536 (one
    /// sequence number each).
    pub max_in_flight: usize,
    /// Echo data bytes after the 8-byte header, at least [`super::Stamp::LEN`].
    pub data_len: usize,
    /// Echo identifier of every packet (a raw socket receives every process's
    /// replies: pick one per pinger).
    pub ident: u16,
    /// Whether replies must carry `ident`. Off for unprivileged ICMP datagram sockets,
    /// where the kernel rewrites the identifier.
    pub check_ident: bool,
    /// Random per pinger: replies to anyone else with our identifier are foreign.
    pub cookie: u32,
}

impl Default for PingerConfig {
    fn default() -> Self {
        PingerConfig { max_checks: 4096, max_in_flight: 1 << 16, data_len: 56, ident: 0, check_ident: true, cookie: 0 }
    }
}

/// What one check does (check_ping's `-p`, ping's `-i`, the wait per packet, and the
/// plugin's overall limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PingParams {
    /// Packets to send, at least 1.
    pub count: u32,
    /// Time between two packets of this check.
    pub interval: Duration,
    /// How long a packet waits for its reply before it counts as lost.
    pub timeout: Duration,
    /// The whole check ends this long after it was added at the latest: packets still
    /// out then count as lost, packets not sent by then are not sent.
    pub deadline: Option<Duration>,
}

/// Why a pinger or a check could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PingerError {
    #[error("target {addr} is not IP{want:?} (one pinger per address family)")]
    WrongFamily { addr: IpAddr, want: Version },
    #[error("packet count must be at least 1")]
    ZeroCount,
    #[error("all {max} check slots are in use")]
    Full { max: usize },
    #[error("echo data of {got} bytes is out of range: {min} to {max}")]
    DataLen { got: usize, min: usize, max: usize },
    #[error("a pinger needs room for at least one check")]
    NoChecks,
}

/// Counters over the pinger's life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PingerCounters {
    pub sent: u64,
    pub replies: u64,
    pub duplicates: u64,
    pub late: u64,
    pub errors: u64,
    /// Ours, for a check that has ended or was cancelled: dropped.
    pub orphaned: u64,
    /// Not ours, or not understood: dropped.
    pub foreign: u64,
}
