//! Socket creation and socket options (through rustix), and the byte layout of
//! `sockaddr_in`/`sockaddr_in6` that io_uring needs; no event loop here.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::io::Errno;
use rustix::net::{self, AddressFamily, SocketFlags, SocketType, ipproto, sockopt};

use super::DriverError;

/// What a [`DatagramSocket`] is; ICMP sessions need it to parse what they receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatagramKind {
    /// UDP: payloads as sent by the peer.
    Udp,
    /// Raw ICMP (root or CAP_NET_RAW). ICMPv4 datagrams arrive WITH their IPv4 header
    /// (and every ICMP message for this host, not only ours); ICMPv6 ones without.
    IcmpRaw,
    /// Unprivileged ICMP datagram socket (`ping_group_range`): no IP header, and the
    /// kernel replaces the echo identifier with the socket's local "port".
    IcmpDgram,
}

/// A nonblocking datagram socket for a [`DatagramRunner`](super::DatagramRunner).
#[derive(Debug)]
pub struct DatagramSocket {
    fd: OwnedFd,
    kind: DatagramKind,
    v6: bool,
}

impl DatagramSocket {
    /// A UDP socket bound to `bind` (port 0: any free port).
    pub fn udp(bind: SocketAddr) -> Result<Self, DriverError> {
        let family = family_of(&bind);
        let fd = net::socket_with(family, SocketType::DGRAM, flags(), Some(ipproto::UDP))
            .map_err(|e| DriverError::io("creating a UDP socket", e))?;
        net::bind(&fd, &bind).map_err(|e| DriverError::io("binding the UDP socket", e))?;
        Ok(DatagramSocket { fd, kind: DatagramKind::Udp, v6: bind.is_ipv6() })
    }

    /// An ICMP (`v6`: ICMPv6) socket: raw if allowed, else the unprivileged datagram
    /// kind, else [`DriverError::IcmpDenied`] naming the three ways to fix it.
    pub fn icmp(v6: bool) -> Result<Self, DriverError> {
        let raw = match Self::icmp_of(v6, DatagramKind::IcmpRaw) {
            Ok(s) => return Ok(s),
            Err(e) if is_denied(e) => e,
            Err(e) => return Err(DriverError::io("creating a raw ICMP socket", e)),
        };
        match Self::icmp_of(v6, DatagramKind::IcmpDgram) {
            Ok(s) => Ok(s),
            Err(dgram) if is_denied(dgram) => Err(DriverError::IcmpDenied {
                v: if v6 { "v6" } else { "" },
                raw: raw.into(),
                dgram: dgram.into(),
                range: std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range")
                    .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
                    .unwrap_or_else(|_| "unknown".into()),
            }),
            Err(e) => Err(DriverError::io("creating an ICMP datagram socket", e)),
        }
    }

    /// An ICMP socket of exactly this kind (`IcmpRaw` or `IcmpDgram`); for tests and
    /// for callers that must not fall back.
    pub fn icmp_of(v6: bool, kind: DatagramKind) -> Result<Self, Errno> {
        let (family, proto) =
            if v6 { (AddressFamily::INET6, ipproto::ICMPV6) } else { (AddressFamily::INET, ipproto::ICMP) };
        let ty = match kind {
            DatagramKind::IcmpRaw => SocketType::RAW,
            DatagramKind::IcmpDgram => SocketType::DGRAM,
            DatagramKind::Udp => return Err(Errno::INVAL),
        };
        let fd = net::socket_with(family, ty, flags(), Some(proto))?;
        Ok(DatagramSocket { fd, kind, v6 })
    }

    pub fn kind(&self) -> DatagramKind {
        self.kind
    }

    pub fn is_ipv6(&self) -> bool {
        self.v6
    }

    /// The bound address (for an ICMP datagram socket, the port is the echo identifier
    /// the kernel will use once something was sent).
    pub fn local_addr(&self) -> Result<SocketAddr, DriverError> {
        let a = net::getsockname(&self.fd).map_err(|e| DriverError::io("getsockname", e))?;
        SocketAddr::try_from(a).map_err(|e| DriverError::io("getsockname", e))
    }

    /// Asks for a receive buffer of `bytes` (forced past `rmem_max` when privileged),
    /// so a burst of thousands of replies is not dropped by the kernel.
    pub fn set_recv_buffer(&self, bytes: usize) -> Result<(), DriverError> {
        sockopt::set_socket_recv_buffer_size_force(&self.fd, bytes)
            .or_else(|_| sockopt::set_socket_recv_buffer_size(&self.fd, bytes))
            .map_err(|e| DriverError::io("setting SO_RCVBUF", e))
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsFd for DatagramSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn flags() -> SocketFlags {
    SocketFlags::NONBLOCK | SocketFlags::CLOEXEC
}

fn family_of(a: &SocketAddr) -> AddressFamily {
    if a.is_ipv6() { AddressFamily::INET6 } else { AddressFamily::INET }
}

fn is_denied(e: Errno) -> bool {
    e == Errno::PERM || e == Errno::ACCESS || e == Errno::PROTONOSUPPORT
}

/// A nonblocking TCP socket for `to`, with TCP_NODELAY set when asked: a check sends
/// one small request and nagle would hold it back behind a delayed ACK (SEMANTICS §11).
/// `nonblocking` is for epoll; io_uring waits on the socket itself.
pub(crate) fn tcp_socket(to: &SocketAddr, nodelay: bool, nonblocking: bool) -> Result<OwnedFd, Errno> {
    let flags = if nonblocking { flags() } else { SocketFlags::CLOEXEC };
    let fd = net::socket_with(family_of(to), SocketType::STREAM, flags, Some(ipproto::TCP))?;
    if nodelay {
        sockopt::set_tcp_nodelay(&fd, true)?;
    }
    Ok(fd)
}

/// Re-arms TCP_QUICKACK: the kernel clears it by itself after a while, so it is set
/// again before every read that follows data, else replies from a server that never
/// sets TCP_NODELAY stall ~40 ms on delayed ACKs (SEMANTICS §11). Failure only costs
/// latency.
pub(crate) fn quickack(fd: BorrowedFd<'_>) {
    let _ = sockopt::set_tcp_quickack(fd, true);
}

/// The outcome of a nonblocking connect once the socket became writable.
pub(crate) fn connect_result(fd: BorrowedFd<'_>) -> Result<(), Errno> {
    match sockopt::socket_error(fd) {
        Ok(r) => r,
        Err(e) => Err(e),
    }
}

/// The text of an errno without Rust's " (os error N)" suffix, as C's strerror gives
/// it: plugin output quotes it ("Connection refused").
pub fn strerror(e: Errno) -> String {
    let s = io::Error::from(e).to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

/// A socket address in the kernel's layout (`sockaddr_in` or `sockaddr_in6`, native
/// byte order for the family, network order for port and address), stored inline so
/// an io_uring operation can point at it while it is in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, align(8))]
pub(crate) struct RawSockAddr {
    bytes: [u8; 28],
    len: u32,
}

impl RawSockAddr {
    /// Room for the largest address we parse (sockaddr_in6).
    pub(crate) const CAPACITY: u32 = 28;

    pub(crate) fn new(a: &SocketAddr) -> Self {
        let mut bytes = [0u8; 28];
        match a {
            SocketAddr::V4(v4) => {
                bytes[0..2].copy_from_slice(&AF_INET.to_ne_bytes());
                bytes[2..4].copy_from_slice(&v4.port().to_be_bytes());
                bytes[4..8].copy_from_slice(&v4.ip().octets());
                RawSockAddr { bytes, len: 16 }
            }
            SocketAddr::V6(v6) => {
                bytes[0..2].copy_from_slice(&AF_INET6.to_ne_bytes());
                bytes[2..4].copy_from_slice(&v6.port().to_be_bytes());
                bytes[4..8].copy_from_slice(&v6.flowinfo().to_be_bytes());
                bytes[8..24].copy_from_slice(&v6.ip().octets());
                bytes[24..28].copy_from_slice(&v6.scope_id().to_ne_bytes());
                RawSockAddr { bytes, len: 28 }
            }
        }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub(crate) fn as_ptr(&self) -> *const u8 {
        self.bytes.as_ptr()
    }

    pub(crate) fn len(&self) -> u32 {
        self.len
    }
}

/// Parses a `sockaddr_in`/`sockaddr_in6` written by the kernel; `None` for anything
/// else (or too short), so a strange name never panics.
pub(crate) fn parse_sockaddr(b: &[u8]) -> Option<SocketAddr> {
    let family = u16::from_ne_bytes(b.get(0..2)?.try_into().ok()?);
    let port = u16::from_be_bytes(b.get(2..4)?.try_into().ok()?);
    match family {
        AF_INET => {
            let ip: [u8; 4] = b.get(4..8)?.try_into().ok()?;
            Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port)))
        }
        AF_INET6 => {
            let flow = u32::from_be_bytes(b.get(4..8)?.try_into().ok()?);
            let ip: [u8; 16] = b.get(8..24)?.try_into().ok()?;
            let scope = u32::from_ne_bytes(b.get(24..28)?.try_into().ok()?);
            Some(SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(ip), port, flow, scope)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockaddr_round_trips() {
        for a in ["127.0.0.1:161", "0.0.0.0:0", "[::1]:5666", "[fe80::1%3]:22", "255.255.255.255:65535"] {
            let a: SocketAddr = a.parse().unwrap();
            let raw = RawSockAddr::new(&a);
            assert_eq!(parse_sockaddr(&raw.bytes[..raw.len as usize]), Some(a));
        }
    }

    #[test]
    fn sockaddr_v4_layout_matches_the_kernel() {
        let raw = RawSockAddr::new(&"10.1.2.3:258".parse().unwrap());
        let mut want = [0u8; 16];
        want[0..2].copy_from_slice(&2u16.to_ne_bytes());
        want[2..8].copy_from_slice(&[1, 2, 10, 1, 2, 3]);
        assert_eq!(&raw.bytes[..16], &want);
    }

    #[test]
    fn strange_names_do_not_panic() {
        assert_eq!(parse_sockaddr(&[]), None);
        assert_eq!(parse_sockaddr(&[2, 0, 0]), None);
        assert_eq!(parse_sockaddr(&[1, 0, 0, 0, 0, 0, 0, 0]), None);
        let mut v6 = RawSockAddr::new(&"[::1]:1".parse().unwrap()).bytes;
        assert_eq!(parse_sockaddr(&v6[..20]), None);
        v6[0] = 0xff;
        assert_eq!(parse_sockaddr(&v6), None);
    }

    #[test]
    fn strerror_has_no_rust_suffix() {
        assert_eq!(strerror(Errno::CONNREFUSED), "Connection refused");
    }

    #[test]
    fn udp_socket_binds_an_ephemeral_port() {
        let s = DatagramSocket::udp("127.0.0.1:0".parse().unwrap()).unwrap();
        assert_eq!(s.kind(), DatagramKind::Udp);
        assert_ne!(s.local_addr().unwrap().port(), 0);
    }
}
