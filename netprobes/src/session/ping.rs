//! ICMP echo to many targets of one address family over one socket (fping's model):
//! per-target count and interval, a global pacing between any two packets, a timeout
//! per packet, and per-target results (loss, RTA, min, max, jitter) with check_ping's
//! thresholds and output. Not here: sockets, clocks, DNS, or printing fping's lines
//! (the `bergamot-probe ping` command does that).
//!
//! Matching replies: one echo identifier per session; every packet takes the next
//! 16-bit sequence number, whose low bits index a preallocated slot table (at most
//! 65,536 slots, fewer when fewer packets are sent). The echo data starts with an
//! [`EchoStamp`] (session cookie, target, send time), so after the sequence space
//! wraps an old reply is told apart from the new packet in its slot (a *late* reply),
//! and a second reply to the same packet is a *duplicate*; both are counted and
//! ignored. A slot is reused only once its packet was answered or timed out: when
//! sending outruns the sequence space, sending waits.
//!
//! Memory is allocated in [`PingSession::new`] only, except each transmit's payload
//! (the [`Transmit`] type owns its bytes).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::{DatagramSession, Transmit};
use crate::time::Instant;
use crate::wire::icmp::{self, EchoStamp, Packet, Repr, Version};

/// What a session does; see fping's `-c`, `-p`, `-i`, `-t`, `-b`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingConfig {
    /// Packets per target (`-c`).
    pub count: u32,
    /// Time between two packets to the same target (`-p`).
    pub interval: Duration,
    /// Time between any two packets of the session (`-i`); zero: as fast as the
    /// driver sends.
    pub pacing: Duration,
    /// How long a packet waits for its reply before it counts as lost (`-t`).
    pub timeout: Duration,
    /// Echo data bytes after the 8-byte header (`-b`), at least [`EchoStamp::LEN`].
    pub data_len: usize,
    /// Echo identifier (a raw socket receives every process's replies: pick one per
    /// session, e.g. from the pid).
    pub ident: u16,
    /// Whether replies must carry `ident`. Off for unprivileged ICMP datagram sockets,
    /// where the kernel rewrites the identifier (and only delivers our own replies).
    pub check_ident: bool,
    /// Random per session: replies to another session with the same identifier are
    /// ignored.
    pub cookie: u32,
    /// Sequence number of the first packet (tests start near 65535 to wrap).
    pub first_seq: u16,
}

impl Default for PingConfig {
    /// fping 5.1's defaults: 1 packet, 1000 ms period, 10 ms pacing, 500 ms timeout,
    /// 56 data bytes.
    fn default() -> Self {
        PingConfig {
            count: 1,
            interval: Duration::from_millis(1000),
            pacing: Duration::from_millis(10),
            timeout: Duration::from_millis(500),
            data_len: 56,
            ident: 0,
            check_ident: true,
            cookie: 0,
            first_seq: 0,
        }
    }
}

/// Why a session could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("target {addr} is not IP{want:?} (one session per address family)")]
    WrongFamily { addr: IpAddr, want: Version },
    #[error("echo data of {got} bytes is too short: at least {min} carry the stamp")]
    DataTooShort { got: usize, min: usize },
    #[error("echo data of {got} bytes is too long: at most {max}")]
    DataTooLong { got: usize, max: usize },
    #[error("packet count must be at least 1")]
    ZeroCount,
    #[error("too many targets: {got} (at most {max})")]
    TooManyTargets { got: usize, max: usize },
}

/// Largest echo data: a 64 KiB IP packet minus the IPv6 and ICMP headers.
pub const MAX_DATA_LEN: usize = 65_535 - icmp::IPV6_HEADER_LEN - icmp::HEADER_LEN;

/// An ICMP error that answered one of our packets instead of an echo reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpError {
    /// Destination unreachable with its code.
    Unreachable(u8),
    /// TTL or hop limit exceeded (code 0) or reassembly time exceeded (1).
    TimeExceeded(u8),
}

impl IcmpError {
    /// fping's wording for v4 codes (its table, verbatim); v6 codes by their
    /// RFC 4443 meaning.
    pub fn describe(&self, version: Version) -> &'static str {
        const V4_UNREACH: [&str; 16] = [
            "ICMP Network Unreachable",
            "ICMP Host Unreachable",
            "ICMP Protocol Unreachable",
            "ICMP Port Unreachable",
            "ICMP Unreachable (Fragmentation Needed)",
            "ICMP Unreachable (Source Route Failed)",
            "ICMP Unreachable (Destination Network Unknown)",
            "ICMP Unreachable (Destination Host Unknown)",
            "ICMP Unreachable (Source Host Isolated)",
            "ICMP Unreachable (Communication with Network Prohibited)",
            "ICMP Unreachable (Communication with Host Prohibited)",
            "ICMP Unreachable (Network Unreachable For Type Of Service)",
            "ICMP Unreachable (Host Unreachable For Type Of Service)",
            "ICMP Unreachable (Communication Administratively Prohibited)",
            "ICMP Unreachable (Host Precedence Violation)",
            "ICMP Unreachable (Precedence cutoff in effect)",
        ];
        match (*self, version) {
            (IcmpError::TimeExceeded(_), _) => "ICMP Time Exceeded",
            (IcmpError::Unreachable(c), Version::V4) => {
                V4_UNREACH.get(usize::from(c)).copied().unwrap_or("ICMP Unreachable (Invalid Code)")
            }
            (IcmpError::Unreachable(c), Version::V6) => match c {
                0 => "ICMPv6 No Route to Destination",
                1 => "ICMPv6 Administratively Prohibited",
                2 => "ICMPv6 Beyond Scope of Source Address",
                3 => "ICMPv6 Address Unreachable",
                4 => "ICMPv6 Port Unreachable",
                5 => "ICMPv6 Source Address Failed Policy",
                6 => "ICMPv6 Reject Route to Destination",
                _ => "ICMPv6 Destination Unreachable",
            },
        }
    }
}

/// What happened, as it happens; `target` indexes the list given to
/// [`PingSession::new`], `index` counts that target's packets from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PingEvent {
    Reply {
        target: usize,
        index: u32,
        rtt: Duration,
        bytes: usize,
    },
    /// A second reply to an answered packet.
    Duplicate {
        target: usize,
        index: u32,
    },
    /// A reply after its packet timed out (or after its slot was reused).
    Late {
        target: usize,
    },
    /// No reply within the timeout.
    Lost {
        target: usize,
        index: u32,
    },
    /// An ICMP error came back instead; the packet counts as lost.
    Error {
        target: usize,
        index: u32,
        from: IpAddr,
        error: IcmpError,
    },
    /// Every packet to this target was answered, lost or refused.
    Done {
        target: usize,
    },
}

/// Per-target results so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TargetStats {
    pub sent: u32,
    pub received: u32,
    pub duplicates: u32,
    pub late: u32,
    pub errors: u32,
    pub last_error: Option<IcmpError>,
    rtt_sum_ns: u64,
    rtt_min_ns: u64,
    rtt_max_ns: u64,
    jitter_sum_ns: u64,
    prev_rtt_ns: Option<u64>,
}

impl TargetStats {
    /// Lost packets in percent, truncated to an integer as fping and check_ping print
    /// it (1 of 3 lost: 33).
    pub fn loss_percent(&self) -> u32 {
        if self.sent == 0 {
            return 0;
        }
        let lost = u64::from(self.sent.saturating_sub(self.received));
        // lost <= sent, so the quotient is <= 100.
        (lost * 100 / u64::from(self.sent)) as u32
    }

    /// Round-trip average, if any reply came.
    pub fn avg(&self) -> Option<Duration> {
        (self.received > 0).then(|| Duration::from_nanos(self.rtt_sum_ns / u64::from(self.received)))
    }

    pub fn min(&self) -> Option<Duration> {
        (self.received > 0).then(|| Duration::from_nanos(self.rtt_min_ns))
    }

    pub fn max(&self) -> Option<Duration> {
        (self.received > 0).then(|| Duration::from_nanos(self.rtt_max_ns))
    }

    /// Mean absolute difference of consecutive round trips (in arrival order); needs
    /// two replies.
    pub fn jitter(&self) -> Option<Duration> {
        (self.received > 1).then(|| Duration::from_nanos(self.jitter_sum_ns / u64::from(self.received - 1)))
    }

    /// Counts a reply after `rtt_ns`; also `session::pinger`'s, so both compute
    /// RTA, min, max and jitter the same way.
    pub(crate) fn record(&mut self, rtt_ns: u64) {
        if self.received == 0 || rtt_ns < self.rtt_min_ns {
            self.rtt_min_ns = rtt_ns;
        }
        self.rtt_max_ns = self.rtt_max_ns.max(rtt_ns);
        self.rtt_sum_ns = self.rtt_sum_ns.saturating_add(rtt_ns);
        if let Some(prev) = self.prev_rtt_ns {
            self.jitter_sum_ns = self.jitter_sum_ns.saturating_add(prev.abs_diff(rtt_ns));
        }
        self.prev_rtt_ns = Some(rtt_ns);
        self.received += 1;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    Free,
    InFlight,
    Answered,
    /// Timed out or refused by an ICMP error: a reply now is late.
    Closed,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    state: SlotState,
    target: u32,
    index: u32,
    sent_at: u64,
}

const FREE: Slot = Slot { state: SlotState::Free, target: 0, index: 0, sent_at: 0 };

#[derive(Debug, Clone)]
struct Target {
    addr: IpAddr,
    stats: TargetStats,
    outstanding: u32,
}

/// Pings many targets of one family over one socket; see the module doc.
#[derive(Debug)]
pub struct PingSession {
    config: PingConfig,
    version: Version,
    targets: Vec<Target>,
    slots: Vec<Slot>,
    /// `slots.len() - 1`; the table length is a power of two.
    mask: usize,
    next_seq: u16,
    /// Targets waiting for their next packet, in due order (every target has the
    /// same interval and sends happen in time order, so a FIFO stays sorted).
    send_queue: VecDeque<(Instant, u32)>,
    /// Slots in flight in send order (all share one timeout, so deadlines are sorted),
    /// with their send time to skip entries whose slot was since answered and reused.
    deadlines: VecDeque<(u32, u64)>,
    /// No packet before this (global pacing).
    next_allowed: Instant,
    events: VecDeque<PingEvent>,
    remaining: usize,
    /// Datagrams that were not ours or not understood (other processes' ICMP, our
    /// own requests looping back on lo, bad checksums).
    ignored: u64,
}

impl PingSession {
    /// A session over `targets` (all of `version`), starting at `now`.
    pub fn new(
        config: PingConfig,
        version: Version,
        targets: impl IntoIterator<Item = IpAddr>,
        now: Instant,
    ) -> Result<PingSession, ConfigError> {
        if config.count == 0 {
            return Err(ConfigError::ZeroCount);
        }
        if config.data_len < EchoStamp::LEN {
            return Err(ConfigError::DataTooShort { got: config.data_len, min: EchoStamp::LEN });
        }
        if config.data_len > MAX_DATA_LEN {
            return Err(ConfigError::DataTooLong { got: config.data_len, max: MAX_DATA_LEN });
        }
        let mut list = Vec::new();
        for addr in targets {
            if Version::of(addr) != version {
                return Err(ConfigError::WrongFamily { addr, want: version });
            }
            list.push(Target { addr, stats: TargetStats::default(), outstanding: 0 });
        }
        let max = u32::MAX as usize;
        if list.len() > max {
            return Err(ConfigError::TooManyTargets { got: list.len(), max });
        }
        let total = (list.len() as u64).saturating_mul(u64::from(config.count));
        // Fewer slots when fewer packets will ever be sent; at most the 16-bit space.
        let slots = total.clamp(1, 1 << 16).next_power_of_two() as usize;
        // list.len() <= u32::MAX was checked above.
        let send_queue = (0..list.len() as u32).map(|t| (now, t)).collect();
        let in_flight_max = slots.min(list.len().max(1));
        Ok(PingSession {
            version,
            remaining: list.len(),
            targets: list,
            slots: vec![FREE; slots],
            mask: slots - 1,
            next_seq: config.first_seq,
            send_queue,
            deadlines: VecDeque::with_capacity(in_flight_max),
            next_allowed: now,
            events: VecDeque::with_capacity(in_flight_max.min(4096)),
            ignored: 0,
            config,
        })
    }

    pub fn version(&self) -> Version {
        self.version
    }

    pub fn config(&self) -> &PingConfig {
        &self.config
    }

    pub fn len(&self) -> usize {
        self.targets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Address and results of target `i`.
    pub fn target(&self, i: usize) -> Option<(IpAddr, &TargetStats)> {
        self.targets.get(i).map(|t| (t.addr, &t.stats))
    }

    /// All targets in the order given, with their results.
    pub fn results(&self) -> impl Iterator<Item = (IpAddr, &TargetStats)> {
        self.targets.iter().map(|t| (t.addr, &t.stats))
    }

    /// Every packet was sent and answered, lost or refused.
    pub fn is_done(&self) -> bool {
        self.remaining == 0
    }

    /// Datagrams received that were not a reply or error for this session.
    pub fn ignored(&self) -> u64 {
        self.ignored
    }

    fn slot_of(&self, seq: u16) -> usize {
        usize::from(seq) & self.mask
    }

    fn deadline_of(&self, sent_at: u64) -> Instant {
        Instant(sent_at) + self.config.timeout
    }

    /// When the next packet may go: due, paced, and its slot free (else when the
    /// slot's packet times out). `None`: nothing left to send.
    fn next_send_at(&self) -> Option<Instant> {
        let &(due, _) = self.send_queue.front()?;
        let mut at = due.max(self.next_allowed);
        let slot = self.slots.get(self.slot_of(self.next_seq)).copied().unwrap_or(FREE);
        if slot.state == SlotState::InFlight {
            at = at.max(self.deadline_of(slot.sent_at));
        }
        Some(at)
    }

    /// A packet's fate is known: count down its target, and the session.
    fn settle(&mut self, target: u32) {
        let Some(t) = self.targets.get_mut(target as usize) else { return };
        t.outstanding = t.outstanding.saturating_sub(1);
        if t.outstanding == 0 && t.stats.sent == self.config.count {
            self.remaining = self.remaining.saturating_sub(1);
            self.events.push_back(PingEvent::Done { target: target as usize });
        }
    }

    /// Drops deadline entries of packets already settled, so `poll_timeout` does not
    /// wake the driver for them.
    fn trim_deadlines(&mut self) {
        while let Some(&(slot, sent_at)) = self.deadlines.front() {
            match self.slots.get(slot as usize) {
                Some(s) if s.state == SlotState::InFlight && s.sent_at == sent_at => break,
                _ => {
                    self.deadlines.pop_front();
                }
            }
        }
    }

    fn handle_reply(&mut self, now: Instant, from: IpAddr, ident: u16, seq: u16, data: &[u8]) {
        if self.config.check_ident && ident != self.config.ident {
            self.ignored += 1;
            return;
        }
        let Some(stamp) = EchoStamp::parse(data).filter(|s| s.cookie == self.config.cookie) else {
            self.ignored += 1;
            return;
        };
        let ti = stamp.target as usize;
        match self.targets.get(ti) {
            Some(t) if t.addr == from => {}
            _ => {
                self.ignored += 1;
                return;
            }
        }
        let si = self.slot_of(seq);
        let Some(&slot) = self.slots.get(si) else { return };
        let ours = slot.state != SlotState::Free && slot.target == stamp.target && slot.sent_at == stamp.sent_at;
        match (ours, slot.state) {
            (true, SlotState::InFlight) => {
                if let Some(s) = self.slots.get_mut(si) {
                    s.state = SlotState::Answered;
                }
                let rtt = now.saturating_since(Instant(slot.sent_at));
                if let Some(t) = self.targets.get_mut(ti) {
                    t.stats.record(u64::try_from(rtt.as_nanos()).unwrap_or(u64::MAX));
                }
                let bytes = icmp::HEADER_LEN + data.len();
                self.events.push_back(PingEvent::Reply { target: ti, index: slot.index, rtt, bytes });
                self.settle(stamp.target);
                self.trim_deadlines();
            }
            (true, SlotState::Answered) => {
                if let Some(t) = self.targets.get_mut(ti) {
                    t.stats.duplicates += 1;
                }
                self.events.push_back(PingEvent::Duplicate { target: ti, index: slot.index });
            }
            _ => {
                if let Some(t) = self.targets.get_mut(ti) {
                    t.stats.late += 1;
                }
                self.events.push_back(PingEvent::Late { target: ti });
            }
        }
    }

    fn handle_error(&mut self, from: IpAddr, error: IcmpError, quoted: icmp::QuotedEcho) {
        if self.config.check_ident && quoted.ident != self.config.ident {
            self.ignored += 1;
            return;
        }
        let si = self.slot_of(quoted.seq_no);
        let Some(slot) = self.slots.get_mut(si) else { return };
        let ti = slot.target as usize;
        let matches =
            slot.state == SlotState::InFlight && self.targets.get(ti).is_some_and(|t| t.addr == quoted.destination);
        if !matches {
            self.ignored += 1;
            return;
        }
        slot.state = SlotState::Closed;
        let index = slot.index;
        let target = slot.target;
        if let Some(t) = self.targets.get_mut(ti) {
            t.stats.errors += 1;
            t.stats.last_error = Some(error);
        }
        self.events.push_back(PingEvent::Error { target: ti, index, from, error });
        self.settle(target);
        self.trim_deadlines();
    }
}

impl DatagramSession for PingSession {
    type Event = PingEvent;

    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, payload: &[u8]) {
        let msg = match self.version {
            Version::V4 => match icmp::split_raw_v4(payload) {
                Ok((_, m)) => m,
                Err(_) => {
                    self.ignored += 1;
                    return;
                }
            },
            Version::V6 => payload,
        };
        let repr = match Packet::new_checked(msg).and_then(|p| Repr::parse(self.version, &p)) {
            Ok(r) => r,
            Err(_) => {
                self.ignored += 1;
                return;
            }
        };
        match repr {
            Repr::EchoReply { ident, seq_no, data } => self.handle_reply(now, from.ip(), ident, seq_no, data),
            Repr::DstUnreachable { code, quoted } => self.handle_error(from.ip(), IcmpError::Unreachable(code), quoted),
            Repr::TimeExceeded { code, quoted } => self.handle_error(from.ip(), IcmpError::TimeExceeded(code), quoted),
            // Our own requests looping back through lo, or someone else's.
            Repr::EchoRequest { .. } => self.ignored += 1,
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(si, sent_at)) = self.deadlines.front() {
            if self.deadline_of(sent_at) > now {
                break;
            }
            self.deadlines.pop_front();
            let Some(slot) = self.slots.get_mut(si as usize) else { continue };
            if slot.state != SlotState::InFlight || slot.sent_at != sent_at {
                continue;
            }
            slot.state = SlotState::Closed;
            let (target, index) = (slot.target, slot.index);
            self.events.push_back(PingEvent::Lost { target: target as usize, index });
            self.settle(target);
        }
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        // A slot blocked by a packet that has just timed out frees up here, even if
        // the driver has not called handle_timeout yet.
        self.handle_timeout(now);
        if self.next_send_at()? > now {
            return None;
        }
        let (_, ti) = self.send_queue.pop_front()?;
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        let si = self.slot_of(seq);
        let count = self.config.count;
        let t = self.targets.get_mut(ti as usize)?;
        let index = t.stats.sent;
        t.stats.sent += 1;
        t.outstanding += 1;
        let addr = t.addr;
        if t.stats.sent < count {
            self.send_queue.push_back((now + self.config.interval, ti));
        }
        if let Some(s) = self.slots.get_mut(si) {
            *s = Slot { state: SlotState::InFlight, target: ti, index, sent_at: now.as_nanos() };
        }
        self.deadlines.push_back((si as u32, now.as_nanos()));
        self.next_allowed = now + self.config.pacing;

        // Written in place (one allocation per packet): header, stamp and filler, then
        // the v4 checksum; v6 leaves it to the kernel (see wire::icmp).
        let mut payload = vec![0u8; icmp::HEADER_LEN + self.config.data_len];
        if let Ok(mut p) = Packet::new_checked(&mut payload[..]) {
            p.set_msg_type(self.version.echo_request());
            p.set_echo_ident(self.config.ident);
            p.set_echo_seq_no(seq);
            EchoStamp { cookie: self.config.cookie, target: ti, sent_at: now.as_nanos() }.emit(p.body_mut());
            if self.version == Version::V4 {
                p.fill_checksum_v4();
            }
        }
        Some(Transmit { destination: SocketAddr::new(addr, 0), payload })
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let send = self.next_send_at();
        let expire = self.deadlines.front().map(|&(_, sent_at)| self.deadline_of(sent_at));
        match (send, expire) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn poll_event(&mut self) -> Option<PingEvent> {
        self.events.pop_front()
    }
}

/// Plugin states, with their exit codes.
pub use crate::wire::plugin::ExitStatus as Status;

/// One of check_ping's `<rta>,<pl>%` pairs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    /// Round-trip average in milliseconds; 0 disables (and is left out of perfdata).
    pub rta_ms: f64,
    /// Packet loss in percent; 0 disables in perfdata (but any loss ≥ 0 still trips).
    pub loss_pct: u32,
}

/// Why `-w`/`-c` were refused (check_ping's wording).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ThresholdError {
    #[error("{which} threshold must be <rta>,<pl>% (got {got:?})")]
    Syntax { which: &'static str, got: String },
    #[error("<wrta> ({warn}) cannot be larger than <crta> ({crit})")]
    Rta { warn: String, crit: String },
    #[error("<wpl> ({warn}) cannot be larger than <cpl> ({crit})")]
    Loss { warn: u32, crit: u32 },
}

impl Threshold {
    /// Parses `100.0,20%`. Like check_ping (sscanf `%f,%d%%`), a fractional loss is
    /// truncated.
    pub fn parse(which: &'static str, s: &str) -> Result<Threshold, ThresholdError> {
        let bad = || ThresholdError::Syntax { which, got: s.to_owned() };
        let (rta, pl) = s.split_once(',').ok_or_else(bad)?;
        let pl = pl.strip_suffix('%').ok_or_else(bad)?;
        let rta_ms: f64 = rta.trim().parse().map_err(|_| bad())?;
        let pl_f: f64 = pl.trim().parse().map_err(|_| bad())?;
        if !rta_ms.is_finite() || rta_ms < 0.0 || !(0.0..=100.0).contains(&pl_f) {
            return Err(bad());
        }
        // 0 <= pl_f <= 100, so the truncation fits.
        Ok(Threshold { rta_ms, loss_pct: pl_f.trunc() as u32 })
    }
}

/// check_ping's `-w` and `-c`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CheckPing {
    pub warning: Threshold,
    pub critical: Threshold,
}

/// A plugin result: exit status and the line to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    pub status: Status,
    pub output: String,
}

impl CheckPing {
    pub fn parse(warning: &str, critical: &str) -> Result<CheckPing, ThresholdError> {
        let warning = Threshold::parse("Warning", warning)?;
        let critical = Threshold::parse("Critical", critical)?;
        if warning.rta_ms > critical.rta_ms {
            return Err(ThresholdError::Rta {
                warn: format!("{:.6}", warning.rta_ms),
                crit: format!("{:.6}", critical.rta_ms),
            });
        }
        if warning.loss_pct > critical.loss_pct {
            return Err(ThresholdError::Loss { warn: warning.loss_pct, crit: critical.loss_pct });
        }
        Ok(CheckPing { warning, critical })
    }

    /// check_ping's verdict (thresholds trip at `>=`, 100% loss is CRITICAL) and its
    /// output line, perfdata included, e.g.
    /// `PING OK - Packet loss = 0%, RTA = 0.05 ms|rta=0.050000ms;100.000000;500.000000;0.000000 pl=0%;20;60;0;`.
    pub fn evaluate(&self, stats: &TargetStats) -> CheckResult {
        let pl = stats.loss_percent();
        let (w, c) = (self.warning, self.critical);
        let rta_ms = stats.avg().map(|d| d.as_secs_f64() * 1000.0);
        let status = match rta_ms {
            None => Status::Critical,
            Some(rta) if pl >= c.loss_pct || rta >= c.rta_ms => Status::Critical,
            Some(rta) if pl >= w.loss_pct || rta >= w.rta_ms => Status::Warning,
            Some(_) => Status::Ok,
        };
        let opt_f = |v: f64| if v > 0.0 { format!("{v:.6}") } else { String::new() };
        let opt_u = |v: u32| if v > 0 { v.to_string() } else { String::new() };
        let mut out = format!("PING {} - Packet loss = {pl}%", status.label());
        match rta_ms {
            Some(rta) => {
                let _ =
                    write!(out, ", RTA = {rta:.2} ms|rta={rta:.6}ms;{};{};0.000000", opt_f(w.rta_ms), opt_f(c.rta_ms));
            }
            None => {
                let _ = write!(out, "| rta=U;{};{};;", opt_f(w.rta_ms), opt_f(c.rta_ms));
            }
        }
        let _ = write!(out, " pl={pl}%;{};{};0;", opt_u(w.loss_pct), opt_u(c.loss_pct));
        CheckResult { status, output: out }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const MS: Duration = Duration::from_millis(1);

    fn ip4(i: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(0x7f00_0000 + i))
    }

    fn cfg(count: u32) -> PingConfig {
        PingConfig { count, ident: 0x4242, cookie: 0xc0ffee, ..PingConfig::default() }
    }

    /// The echo request inside a transmit.
    fn request(t: &Transmit, v: Version) -> (u16, u16, Vec<u8>) {
        let p = Packet::new_checked(&t.payload[..]).unwrap();
        match Repr::parse(v, &p).unwrap() {
            Repr::EchoRequest { ident, seq_no, data } => (ident, seq_no, data.to_vec()),
            other => panic!("{other:?}"),
        }
    }

    fn emit(v: Version, r: Repr<'_>) -> Vec<u8> {
        let mut b = vec![0u8; r.buffer_len(v)];
        r.emit(v, &mut Packet::new_checked(&mut b[..]).unwrap()).unwrap();
        b
    }

    /// What a raw v4 socket delivers: an IPv4 header from `src`, then the message.
    fn with_ipv4_header(src: IpAddr, msg: &[u8]) -> Vec<u8> {
        let IpAddr::V4(src) = src else { panic!() };
        let mut b = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0];
        b[2..4].copy_from_slice(&((20 + msg.len()) as u16).to_be_bytes());
        b.extend_from_slice(&src.octets());
        b.extend_from_slice(&[127, 0, 0, 1]);
        b.extend_from_slice(msg);
        b
    }

    /// The reply a target sends back, as the socket of that family delivers it.
    fn reply(t: &Transmit, v: Version) -> Vec<u8> {
        let (ident, seq_no, data) = request(t, v);
        let msg = emit(v, Repr::EchoReply { ident, seq_no, data: &data });
        match v {
            Version::V4 => with_ipv4_header(t.destination.ip(), &msg),
            Version::V6 => msg,
        }
    }

    /// A router's "host unreachable" for `t`.
    fn unreachable(t: &Transmit, v: Version) -> Vec<u8> {
        let (ident, seq_no, _) = request(t, v);
        let source = match v {
            Version::V4 => IpAddr::V4(Ipv4Addr::LOCALHOST),
            Version::V6 => IpAddr::V6(Ipv6Addr::LOCALHOST),
        };
        let quoted = icmp::QuotedEcho { source, destination: t.destination.ip(), ident, seq_no };
        emit(v, Repr::DstUnreachable { code: 1, quoted })
    }

    fn from(ip: IpAddr) -> SocketAddr {
        SocketAddr::new(ip, 0)
    }

    /// Runs a session on virtual time to the end. `net` is called for each transmit
    /// (with its number) and returns what comes back: (delay, source, datagram).
    struct Run {
        events: Vec<PingEvent>,
        sent: Vec<(Instant, Transmit)>,
        end: Instant,
    }

    fn run(s: &mut PingSession, net: impl FnMut(usize, &Transmit) -> Vec<(Duration, IpAddr, Vec<u8>)>) -> Run {
        let mut net = net;
        let mut pending: Vec<(Instant, usize, IpAddr, Vec<u8>)> = Vec::new();
        let mut out = Run { events: Vec::new(), sent: Vec::new(), end: Instant::ZERO };
        let mut now = Instant::ZERO;
        loop {
            pending.sort_by_key(|p| (p.0, p.1));
            while pending.first().is_some_and(|p| p.0 <= now) {
                let (_, _, src, d) = pending.remove(0);
                s.handle_datagram(now, from(src), &d);
            }
            if s.poll_timeout().is_some_and(|t| t <= now) {
                s.handle_timeout(now);
            }
            while let Some(t) = s.poll_transmit(now) {
                let n = out.sent.len();
                for (delay, src, d) in net(n, &t) {
                    pending.push((now + delay, n, src, d));
                }
                out.sent.push((now, t));
            }
            out.events.extend(std::iter::from_fn(|| s.poll_event()));
            let next = [s.poll_timeout(), pending.iter().map(|p| p.0).min()].into_iter().flatten().min();
            match next {
                Some(t) => {
                    assert!(t > now, "session asked to be woken in the past: {t:?} <= {now:?}");
                    now = t;
                }
                None => break,
            }
        }
        out.end = now;
        out
    }

    fn echo_after(delay: Duration, v: Version) -> impl FnMut(usize, &Transmit) -> Vec<(Duration, IpAddr, Vec<u8>)> {
        move |_, t| vec![(delay, t.destination.ip(), reply(t, v))]
    }

    #[test]
    fn many_targets_answer_with_pacing_and_per_target_interval() {
        let targets: Vec<IpAddr> = (1..=100).map(ip4).collect();
        let mut s = PingSession::new(cfg(3), Version::V4, targets.clone(), Instant::ZERO).unwrap();
        let r = run(&mut s, echo_after(MS, Version::V4));
        assert!(s.is_done());
        assert_eq!(r.sent.len(), 300);
        for w in r.sent.windows(2) {
            assert!(w[1].0 - w[0].0 >= 10 * MS, "global pacing");
        }
        for t in &targets {
            let times: Vec<Instant> = r.sent.iter().filter(|(_, x)| x.destination.ip() == *t).map(|x| x.0).collect();
            assert_eq!(times.len(), 3);
            assert!(times.windows(2).all(|w| w[1] - w[0] >= 1000 * MS), "per-target interval");
        }
        for (addr, st) in s.results() {
            assert_eq!((st.sent, st.received, st.loss_percent()), (3, 3, 0), "{addr}");
            assert_eq!(
                (st.min(), st.avg(), st.max(), st.jitter()),
                (Some(MS), Some(MS), Some(MS), Some(Duration::ZERO))
            );
        }
        let done = r.events.iter().filter(|e| matches!(e, PingEvent::Done { .. })).count();
        assert_eq!(done, 100);
        assert_eq!(s.poll_timeout(), None);
        // 100 targets, pacing 10 ms: the first round takes 1 s, so the third packets
        // go out by about 3 s; nothing waits for a timeout at the end.
        assert!(r.end < Instant::ZERO + 3000 * MS, "{:?}", r.end);
    }

    #[test]
    fn lost_packets_time_out_and_count_as_loss() {
        let mut s = PingSession::new(cfg(4), Version::V4, [ip4(1), ip4(2)], Instant::ZERO).unwrap();
        // Targets alternate (A: seq 0, 2, 4, 6; B: 1, 3, 5, 7). A answers seq 0 and 4,
        // its packets 0 and 2; B never answers.
        let r = run(&mut s, |_, t| {
            let (_, seq, _) = request(t, Version::V4);
            if t.destination.ip() == ip4(1) && seq % 4 == 0 {
                vec![(2 * MS, t.destination.ip(), reply(t, Version::V4))]
            } else {
                vec![]
            }
        });
        let (_, a) = s.target(0).unwrap();
        let (_, b) = s.target(1).unwrap();
        assert_eq!((a.sent, a.received, a.loss_percent()), (4, 2, 50));
        assert_eq!((b.sent, b.received, b.loss_percent(), b.avg()), (4, 0, 100, None));
        let lost: Vec<_> = r
            .events
            .iter()
            .filter_map(|e| match e {
                PingEvent::Lost { target, index } => Some((*target, *index)),
                _ => None,
            })
            .collect();
        assert_eq!(lost, [(1, 0), (0, 1), (1, 1), (1, 2), (0, 3), (1, 3)]);
        // Loss is declared at the timeout, not before: the last packet went out at
        // 3010 ms and its 500 ms timeout ends the run.
        assert_eq!(r.end, Instant::ZERO + 3510 * MS);
    }

    #[test]
    fn reordered_replies_all_count_and_jitter_follows_arrival_order() {
        let c = PingConfig { interval: 10 * MS, timeout: 1000 * MS, ..cfg(3) };
        let mut s = PingSession::new(c, Version::V4, [ip4(9)], Instant::ZERO).unwrap();
        // Sent at 0, 10, 20 ms; delays 50, 20, 1 ms: arrive at 50, 30, 21 (reversed).
        let delays = [50, 20, 1];
        let r = run(&mut s, |n, t| vec![(delays[n] * MS, t.destination.ip(), reply(t, Version::V4))]);
        let (_, st) = s.target(0).unwrap();
        assert_eq!((st.received, st.min(), st.max()), (3, Some(MS), Some(50 * MS)));
        assert_eq!(st.avg(), Some(Duration::from_nanos(71_000_000 / 3)));
        // Arrival order 1, 20, 50 ms: differences 19 and 30.
        assert_eq!(st.jitter(), Some(Duration::from_micros(24_500)));
        let order: Vec<u32> = r
            .events
            .iter()
            .filter_map(|e| match e {
                PingEvent::Reply { index, .. } => Some(*index),
                _ => None,
            })
            .collect();
        assert_eq!(order, [2, 1, 0]);
    }

    #[test]
    fn duplicates_and_late_replies_are_counted_and_ignored() {
        let c = PingConfig { timeout: 100 * MS, ..cfg(2) };
        let mut s = PingSession::new(c, Version::V4, [ip4(5)], Instant::ZERO).unwrap();
        // Packet 0: answered twice. Packet 1: answered after its timeout.
        let r = run(&mut s, |n, t| {
            let d = reply(t, Version::V4);
            let src = t.destination.ip();
            if n == 0 { vec![(MS, src, d.clone()), (2 * MS, src, d)] } else { vec![(150 * MS, src, d)] }
        });
        let (_, st) = s.target(0).unwrap();
        assert_eq!((st.sent, st.received, st.duplicates, st.late, st.loss_percent()), (2, 1, 1, 1, 50));
        assert!(r.events.contains(&PingEvent::Duplicate { target: 0, index: 0 }));
        assert!(r.events.contains(&PingEvent::Lost { target: 0, index: 1 }));
        assert!(r.events.contains(&PingEvent::Late { target: 0 }));
    }

    #[test]
    fn sequence_numbers_wrap() {
        let c = PingConfig { first_seq: 65_530, interval: MS, pacing: Duration::ZERO, ..cfg(12) };
        let mut s = PingSession::new(c, Version::V4, [ip4(1)], Instant::ZERO).unwrap();
        let r = run(&mut s, echo_after(MS / 2, Version::V4));
        let seqs: Vec<u16> = r.sent.iter().map(|(_, t)| request(t, Version::V4).1).collect();
        assert_eq!(seqs, [65530, 65531, 65532, 65533, 65534, 65535, 0, 1, 2, 3, 4, 5]);
        let (_, st) = s.target(0).unwrap();
        assert_eq!((st.received, st.late, st.duplicates), (12, 0, 0));
    }

    #[test]
    fn sending_waits_when_every_sequence_number_is_in_flight() {
        // 70,000 silent targets at full speed: 65,536 go out, the rest wait for the
        // first timeouts instead of reusing a sequence number still in flight.
        let n = 70_000u32;
        let c = PingConfig { pacing: Duration::ZERO, timeout: 1000 * MS, ..cfg(1) };
        let mut s = PingSession::new(c, Version::V4, (0..n).map(|i| ip4(i + 1)), Instant::ZERO).unwrap();
        let r = run(&mut s, |_, _| vec![]);
        let at_zero = r.sent.iter().filter(|(t, _)| *t == Instant::ZERO).count();
        assert_eq!(at_zero, 65_536);
        assert!(r.sent[65_536..].iter().all(|(t, _)| *t == Instant::ZERO + 1000 * MS));
        assert_eq!(r.end, Instant::ZERO + 2000 * MS);
        assert!(s.results().all(|(_, st)| st.sent == 1 && st.loss_percent() == 100));
    }

    #[test]
    fn a_reply_to_a_reused_slot_is_late_for_its_own_target() {
        // 80,000 packets share 65,536 slots, so packet 65,536 reuses packet 0's slot.
        // Packet 0 (to A) is answered only at 10 s, long after its timeout and the
        // reuse: the stamp tells it from the slot's new packet.
        let us = Duration::from_micros(1);
        let c = PingConfig { timeout: 1000 * MS, interval: us, pacing: Duration::ZERO, ..cfg(40_000) };
        let mut s = PingSession::new(c, Version::V4, [ip4(1), ip4(2)], Instant::ZERO).unwrap();
        let r = run(&mut s, |n, t| {
            let delay = if n == 0 { 10_000 * MS } else { us };
            vec![(delay, t.destination.ip(), reply(t, Version::V4))]
        });
        let (_, a) = s.target(0).unwrap();
        let (_, b) = s.target(1).unwrap();
        assert_eq!((a.sent, a.received, a.late, a.duplicates), (40_000, 39_999, 1, 0));
        assert_eq!((b.sent, b.received, b.late, b.duplicates), (40_000, 40_000, 0, 0));
        // Packet 65,536 waited for packet 0's timeout before taking its slot.
        assert_eq!(request(&r.sent[65_536].1, Version::V4).1, 0);
        assert_eq!(r.sent[65_536].0, Instant::ZERO + 1000 * MS);
        assert_eq!(r.events.iter().filter(|e| matches!(e, PingEvent::Late { target: 0 })).count(), 1);
    }

    #[test]
    fn icmp_errors_settle_the_packet_at_once() {
        let c = PingConfig { timeout: 5000 * MS, ..cfg(1) };
        let mut s = PingSession::new(c, Version::V4, [ip4(7)], Instant::ZERO).unwrap();
        let router = ip4(254);
        let r = run(&mut s, |_, t| vec![(MS, router, with_ipv4_header(router, &unreachable(t, Version::V4)))]);
        let (_, st) = s.target(0).unwrap();
        assert_eq!((st.errors, st.received, st.loss_percent()), (1, 0, 100));
        assert_eq!(st.last_error, Some(IcmpError::Unreachable(1)));
        let err = PingEvent::Error { target: 0, index: 0, from: router, error: IcmpError::Unreachable(1) };
        assert_eq!(r.events, [err, PingEvent::Done { target: 0 }]);
        assert_eq!(r.end, Instant::ZERO + MS, "no wait for the timeout");
        assert_eq!(IcmpError::Unreachable(1).describe(Version::V4), "ICMP Host Unreachable");
    }

    #[test]
    fn foreign_and_broken_datagrams_are_ignored() {
        let mut s = PingSession::new(cfg(1), Version::V4, [ip4(3)], Instant::ZERO).unwrap();
        let t = s.poll_transmit(Instant::ZERO).unwrap();
        let (ident, seq_no, data) = request(&t, Version::V4);
        let src = t.destination.ip();
        let mut foreign_cookie = data.clone();
        foreign_cookie[0] ^= 1;
        let junk: Vec<Vec<u8>> = vec![
            // Another process's identifier.
            emit(Version::V4, Repr::EchoReply { ident: ident ^ 1, seq_no, data: &data }),
            // Our identifier, another session's cookie.
            emit(Version::V4, Repr::EchoReply { ident, seq_no, data: &foreign_cookie }),
            // Our own request looping back through lo.
            t.payload.clone(),
            // Data too short for a stamp; a bad checksum; not ICMP at all.
            emit(Version::V4, Repr::EchoReply { ident, seq_no, data: &data[..8] }),
            {
                let mut b = reply(&t, Version::V4);
                b[30] ^= 0xff;
                b
            },
            vec![0x45, 0, 0, 20],
            vec![],
        ];
        for d in &junk {
            s.handle_datagram(Instant::ZERO + MS, from(src), d);
        }
        // The right reply from the wrong address (another 127/8 host).
        s.handle_datagram(Instant::ZERO + MS, from(ip4(4)), &reply(&t, Version::V4));
        assert_eq!(s.ignored(), junk.len() as u64 + 1);
        assert_eq!(s.poll_event(), None);
        assert_eq!(s.target(0).unwrap().1.received, 0);
        // Then the real one, without an IP header (datagram socket), counts.
        let bare = emit(Version::V4, Repr::EchoReply { ident, seq_no, data: &data });
        s.handle_datagram(Instant::ZERO + 2 * MS, from(src), &bare);
        assert_eq!(s.target(0).unwrap().1.received, 1);
        assert!(s.is_done());
    }

    #[test]
    fn datagram_sockets_rewrite_the_identifier() {
        let c = PingConfig { check_ident: false, ..cfg(1) };
        let mut s = PingSession::new(c, Version::V4, [ip4(3)], Instant::ZERO).unwrap();
        let t = s.poll_transmit(Instant::ZERO).unwrap();
        let (_, seq_no, data) = request(&t, Version::V4);
        let d = emit(Version::V4, Repr::EchoReply { ident: 40_000, seq_no, data: &data });
        s.handle_datagram(Instant::ZERO + MS, from(ip4(3)), &d);
        assert_eq!(s.target(0).unwrap().1.received, 1);
    }

    #[test]
    fn ipv6_targets() {
        let lo = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let c = PingConfig { data_len: 16, ..cfg(2) };
        let mut s = PingSession::new(c, Version::V6, [lo], Instant::ZERO).unwrap();
        let r = run(&mut s, echo_after(3 * MS, Version::V6));
        assert_eq!(r.sent[0].1.payload.len(), 24);
        assert_eq!(r.sent[0].1.payload[0], 128, "ICMPv6 echo request");
        assert_eq!(&r.sent[0].1.payload[2..4], &[0, 0], "checksum left to the kernel");
        let (_, st) = s.target(0).unwrap();
        assert_eq!((st.received, st.avg()), (2, Some(3 * MS)));
        let mut s = PingSession::new(cfg(1), Version::V6, [lo], Instant::ZERO).unwrap();
        let r = run(&mut s, |_, t| vec![(MS, lo, unreachable(t, Version::V6))]);
        assert_eq!(s.target(0).unwrap().1.errors, 1);
        assert!(r.events.contains(&PingEvent::Done { target: 0 }));
    }

    #[test]
    fn bad_configurations_are_refused() {
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let e = PingSession::new(cfg(1), Version::V4, [ip4(1), v6], Instant::ZERO).unwrap_err();
        assert_eq!(e, ConfigError::WrongFamily { addr: v6, want: Version::V4 });
        let e = PingSession::new(PingConfig { data_len: 15, ..cfg(1) }, Version::V4, [], Instant::ZERO);
        assert_eq!(e.unwrap_err(), ConfigError::DataTooShort { got: 15, min: 16 });
        let e = PingSession::new(cfg(0), Version::V4, [], Instant::ZERO);
        assert_eq!(e.unwrap_err(), ConfigError::ZeroCount);
        let s = PingSession::new(cfg(1), Version::V4, [], Instant::ZERO).unwrap();
        assert!(s.is_done() && s.poll_timeout().is_none());
    }

    fn stats(rtts_us: &[u64], sent: u32) -> TargetStats {
        let mut st = TargetStats { sent, ..TargetStats::default() };
        for &r in rtts_us {
            st.record(r * 1000);
        }
        st
    }

    #[test]
    fn check_ping_output_and_thresholds() {
        let c = CheckPing::parse("100.0,20%", "500.0,60%").unwrap();
        let cases: &[(&[u64], u32, Status, &str)] = &[
            (
                &[50; 5],
                5,
                Status::Ok,
                "PING OK - Packet loss = 0%, RTA = 0.05 ms|rta=0.050000ms;100.000000;500.000000;0.000000 pl=0%;20;60;0;",
            ),
            (
                &[54, 54],
                3,
                Status::Warning,
                "PING WARNING - Packet loss = 33%, RTA = 0.05 ms|rta=0.054000ms;100.000000;500.000000;0.000000 pl=33%;20;60;0;",
            ),
            (
                &[100_000],
                1,
                Status::Warning,
                "PING WARNING - Packet loss = 0%, RTA = 100.00 ms|rta=100.000000ms;100.000000;500.000000;0.000000 pl=0%;20;60;0;",
            ),
            (
                &[1_000],
                5,
                Status::Critical,
                "PING CRITICAL - Packet loss = 80%, RTA = 1.00 ms|rta=1.000000ms;100.000000;500.000000;0.000000 pl=80%;20;60;0;",
            ),
            (
                &[],
                5,
                Status::Critical,
                "PING CRITICAL - Packet loss = 100%| rta=U;100.000000;500.000000;; pl=100%;20;60;0;",
            ),
        ];
        for (rtts, sent, status, out) in cases {
            let r = c.evaluate(&stats(rtts, *sent));
            assert_eq!((r.status, r.output.as_str()), (*status, *out));
        }
        // Zero thresholds trip always and drop out of perfdata (as check_ping prints).
        let z = CheckPing::parse("0,0%", "0,0%").unwrap();
        let r = z.evaluate(&stats(&[31], 1));
        assert_eq!(r.status, Status::Critical);
        assert_eq!(r.output, "PING CRITICAL - Packet loss = 0%, RTA = 0.03 ms|rta=0.031000ms;;;0.000000 pl=0%;;;0;");
        assert_eq!(Threshold::parse("Warning", "1,20.5%").unwrap(), Threshold { rta_ms: 1.0, loss_pct: 20 });
    }

    #[test]
    fn check_ping_threshold_errors() {
        let e = |w: &str, c: &str| CheckPing::parse(w, c).unwrap_err().to_string();
        assert_eq!(e("100,20%", "50,60%"), "<wrta> (100.000000) cannot be larger than <crta> (50.000000)");
        assert_eq!(e("1,20%", "5,10%"), "<wpl> (20) cannot be larger than <cpl> (10)");
        assert_eq!(e("100,20", "500,60%"), "Warning threshold must be <rta>,<pl>% (got \"100,20\")");
        assert!(e("100", "500,60%").contains("Warning"));
        assert!(e("1,20%", "5,120%").contains("Critical"));
        assert!(e("1,20%", "NaN,50%").contains("Critical"));
    }
}
