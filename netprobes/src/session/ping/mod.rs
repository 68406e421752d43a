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
//! Retries (fping's default mode, one packet per target): a packet that times out is
//! sent again, up to [`PingConfig::retries`] times, each try waiting
//! [`PingConfig::backoff_milli`] thousandths as long as the one before. As in fping,
//! a reply to an earlier try still counts while a later one is pending if it came
//! within the current (longer) timeout, and an ICMP error does not end a try early.
//!
//! Memory is allocated in [`PingSession::new`] only, except each transmit's payload
//! (the [`Transmit`] type owns its bytes).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::{DatagramSession, Transmit};
use crate::time::Instant;
use crate::wire::icmp::{self, EchoStamp, Packet, Repr, Version};

/// What a session does; see fping's `-c`, `-p`, `-i`, `-t`, `-b`, `-r`, `-B`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingConfig {
    /// Packets per target (`-c`).
    pub count: u32,
    /// Time between two packets to the same target (`-p`).
    pub interval: Duration,
    /// Time between any two packets of the session (`-i`); zero: as fast as the
    /// driver sends.
    pub pacing: Duration,
    /// How long a packet waits for its reply before it counts as lost (`-t`); with
    /// retries, the first try's.
    pub timeout: Duration,
    /// Times a packet that got no reply is sent again (`-r`; fping's default mode
    /// uses 3). Only with `count` 1: in count mode every packet counts once.
    pub retries: u32,
    /// Each retry's timeout is the previous one times this many thousandths (`-B`;
    /// fping's 1.5 is 1500), from 1000 to 5000.
    pub backoff_milli: u32,
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
    /// 56 data bytes, backoff 1.5; but no retries (a check's packets each count).
    fn default() -> Self {
        PingConfig {
            count: 1,
            interval: Duration::from_millis(1000),
            pacing: Duration::from_millis(10),
            timeout: Duration::from_millis(500),
            retries: 0,
            backoff_milli: 1500,
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
    #[error("retries need one packet per target (count mode counts every packet once)")]
    RetriesWithCount,
    #[error("backoff factor {:.1} not valid, must be between 1.0 and 5.0", *.0 as f64 / 1000.0)]
    Backoff(u32),
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
    /// A second reply to an answered packet (`rtt` since the packet it answers).
    Duplicate {
        target: usize,
        index: u32,
        rtt: Duration,
    },
    /// A reply after its packet timed out (or after its slot was reused).
    Late {
        target: usize,
    },
    /// No reply within the timeout (with retries, a retry may follow).
    Lost {
        target: usize,
        index: u32,
    },
    /// An ICMP error came back instead; the packet counts as lost (with retries left,
    /// at its timeout, after which it is retried).
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
    /// Timed out and retried: a reply within the target's current timeout counts.
    Retried,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    state: SlotState,
    target: u32,
    index: u32,
    sent_at: u64,
    deadline: u64,
}

const FREE: Slot = Slot { state: SlotState::Free, target: 0, index: 0, sent_at: 0, deadline: 0 };

#[derive(Debug, Clone)]
struct Target {
    addr: IpAddr,
    stats: TargetStats,
    /// Packets in flight.
    outstanding: u32,
    /// Packets of `count` begun (retries are not new packets).
    started: u32,
    /// Retries sent of the current packet.
    retries: u32,
    /// Timeout of the next try (fping's per-host timeout, backed off per retry).
    timeout_ns: u64,
    /// A retry waits in `retry_queue`.
    retry_queued: bool,
    /// The latest try: (slot, send time).
    latest: (u32, u64),
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
    /// Targets whose packet timed out and is to be tried again, in due order (due at
    /// the timeout, which pops in time order).
    retry_queue: VecDeque<(Instant, u32)>,
    /// Deadlines of the slots in flight: (deadline, slot, send time), the send time
    /// to skip entries whose slot was since answered and reused. Tries of one target
    /// have growing timeouts, so this is a heap, not a FIFO.
    deadlines: BinaryHeap<Reverse<(u64, u32, u64)>>,
    /// No packet before this (global pacing).
    next_allowed: Instant,
    /// `config.timeout` in nanoseconds: a target's timeout again after a reply.
    timeout_ns: u64,
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
        if config.retries > 0 && config.count != 1 {
            return Err(ConfigError::RetriesWithCount);
        }
        if !(1000..=5000).contains(&config.backoff_milli) {
            return Err(ConfigError::Backoff(config.backoff_milli));
        }
        let timeout_ns = u64::try_from(config.timeout.as_nanos()).unwrap_or(u64::MAX);
        let mut list = Vec::new();
        for addr in targets {
            if Version::of(addr) != version {
                return Err(ConfigError::WrongFamily { addr, want: version });
            }
            list.push(Target {
                addr,
                stats: TargetStats::default(),
                outstanding: 0,
                started: 0,
                retries: 0,
                timeout_ns,
                retry_queued: false,
                latest: (0, 0),
            });
        }
        let max = u32::MAX as usize;
        if list.len() > max {
            return Err(ConfigError::TooManyTargets { got: list.len(), max });
        }
        let tries = u64::from(config.count).saturating_add(u64::from(config.retries));
        let total = (list.len() as u64).saturating_mul(tries);
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
            retry_queue: VecDeque::new(),
            deadlines: BinaryHeap::with_capacity(in_flight_max),
            next_allowed: now,
            timeout_ns,
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

    /// Packets of target `i` sent and not yet answered, lost or refused (fping leaves
    /// them out of a summary printed early).
    pub fn in_flight(&self, i: usize) -> u32 {
        self.targets.get(i).map_or(0, |t| t.outstanding)
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

    /// The next packet to send: a retry or a target's next packet, whichever is
    /// due first (a retry on a tie).
    fn next_due(&self) -> Option<(Instant, bool)> {
        match (self.retry_queue.front(), self.send_queue.front()) {
            (Some(&(r, _)), Some(&(n, _))) => Some(if r <= n { (r, true) } else { (n, false) }),
            (Some(&(r, _)), None) => Some((r, true)),
            (None, Some(&(n, _))) => Some((n, false)),
            (None, None) => None,
        }
    }

    /// When the next packet may go: due, paced, and its slot free (else when the
    /// slot's packet times out). `None`: nothing left to send.
    fn next_send_at(&self) -> Option<Instant> {
        let (due, _) = self.next_due()?;
        let mut at = due.max(self.next_allowed);
        let slot = self.slots.get(self.slot_of(self.next_seq)).copied().unwrap_or(FREE);
        if slot.state == SlotState::InFlight {
            at = at.max(Instant(slot.deadline));
        }
        Some(at)
    }

    /// A packet's fate is known: count down its target, and the session.
    fn settle(&mut self, target: u32) {
        if let Some(t) = self.targets.get_mut(target as usize) {
            t.outstanding = t.outstanding.saturating_sub(1);
        }
        self.maybe_done(target);
    }

    fn maybe_done(&mut self, target: u32) {
        let Some(t) = self.targets.get(target as usize) else { return };
        if t.outstanding == 0 && t.started == self.config.count && !t.retry_queued {
            self.remaining = self.remaining.saturating_sub(1);
            self.events.push_back(PingEvent::Done { target: target as usize });
        }
    }

    /// Retries left for the target's current packet.
    fn may_retry(&self, t: &Target) -> bool {
        t.retries < self.config.retries
    }

    /// Drops deadline entries of packets already settled, so `poll_timeout` does not
    /// wake the driver for them.
    fn trim_deadlines(&mut self) {
        while let Some(&Reverse((_, slot, sent_at))) = self.deadlines.peek() {
            match self.slots.get(slot as usize) {
                Some(s) if s.state == SlotState::InFlight && s.sent_at == sent_at => break,
                _ => {
                    self.deadlines.pop();
                }
            }
        }
    }

    /// A reply to a try that was retried: it counts (as in fping) when the target
    /// still waits for this packet and it came within the current timeout. The
    /// pending retry is then dropped, or the one in flight marked answered (its own
    /// reply will be a duplicate).
    fn accept_retried(&mut self, now: Instant, si: usize, slot: Slot, bytes: usize) -> bool {
        let ti = slot.target as usize;
        let Some(t) = self.targets.get(ti) else { return false };
        let rtt = now.saturating_since(Instant(slot.sent_at));
        let (latest, latest_sent) = t.latest;
        let latest_in_flight = self
            .slots
            .get(latest as usize)
            .is_some_and(|s| s.state == SlotState::InFlight && s.sent_at == latest_sent && s.target == slot.target);
        let waiting = t.retry_queued || latest_in_flight;
        if !waiting || rtt.as_nanos() > u128::from(t.timeout_ns) {
            return false;
        }
        if t.retry_queued {
            self.retry_queue.retain(|&(_, x)| x as usize != ti);
        }
        if latest_in_flight {
            if let Some(s) = self.slots.get_mut(latest as usize) {
                s.state = SlotState::Answered;
            }
        }
        if let Some(t) = self.targets.get_mut(ti) {
            t.retry_queued = false;
        }
        self.record_answer(now, si, slot, bytes);
        if latest_in_flight {
            self.settle(slot.target);
        } else {
            self.maybe_done(slot.target);
        }
        self.trim_deadlines();
        true
    }

    /// `slot` (at index `si`) is answered: its rtt is counted, its target's timeout
    /// is the first try's again (as fping), and the reply is reported.
    fn record_answer(&mut self, now: Instant, si: usize, slot: Slot, bytes: usize) {
        if let Some(s) = self.slots.get_mut(si) {
            s.state = SlotState::Answered;
        }
        let rtt = now.saturating_since(Instant(slot.sent_at));
        let base = self.timeout_ns;
        if let Some(t) = self.targets.get_mut(slot.target as usize) {
            t.stats.record(u64::try_from(rtt.as_nanos()).unwrap_or(u64::MAX));
            t.timeout_ns = base;
        }
        self.events.push_back(PingEvent::Reply { target: slot.target as usize, index: slot.index, rtt, bytes });
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
        let bytes = icmp::HEADER_LEN + data.len();
        match (ours, slot.state) {
            (true, SlotState::InFlight) => {
                self.record_answer(now, si, slot, bytes);
                self.settle(stamp.target);
                self.trim_deadlines();
            }
            (true, SlotState::Answered) => {
                if let Some(t) = self.targets.get_mut(ti) {
                    t.stats.duplicates += 1;
                }
                let rtt = now.saturating_since(Instant(slot.sent_at));
                self.events.push_back(PingEvent::Duplicate { target: ti, index: slot.index, rtt });
            }
            (true, SlotState::Retried) if self.accept_retried(now, si, slot, bytes) => {}
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
        let Some(&slot) = self.slots.get(si) else { return };
        let ti = slot.target as usize;
        let Some(t) = self.targets.get(ti).filter(|t| t.addr == quoted.destination) else {
            self.ignored += 1;
            return;
        };
        if slot.state != SlotState::InFlight {
            self.ignored += 1;
            return;
        }
        // With a retry left the try runs to its timeout, as in fping.
        let retry = self.may_retry(t);
        if let Some(t) = self.targets.get_mut(ti) {
            t.stats.errors += 1;
            t.stats.last_error = Some(error);
        }
        self.events.push_back(PingEvent::Error { target: ti, index: slot.index, from, error });
        if !retry {
            if let Some(s) = self.slots.get_mut(si) {
                s.state = SlotState::Closed;
            }
            self.settle(slot.target);
            self.trim_deadlines();
        }
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
        while let Some(&Reverse((deadline, si, sent_at))) = self.deadlines.peek() {
            if deadline > now.as_nanos() {
                break;
            }
            self.deadlines.pop();
            let Some(&slot) = self.slots.get(si as usize) else { continue };
            if slot.state != SlotState::InFlight || slot.sent_at != sent_at {
                continue;
            }
            let (target, index) = (slot.target, slot.index);
            let retry = self.targets.get(target as usize).is_some_and(|t| self.may_retry(t));
            self.events.push_back(PingEvent::Lost { target: target as usize, index });
            if let Some(s) = self.slots.get_mut(si as usize) {
                s.state = if retry { SlotState::Retried } else { SlotState::Closed };
            }
            if !retry {
                self.settle(target);
                continue;
            }
            let backoff = u128::from(self.config.backoff_milli);
            if let Some(t) = self.targets.get_mut(target as usize) {
                t.outstanding = t.outstanding.saturating_sub(1);
                t.retries += 1;
                t.timeout_ns = u64::try_from(u128::from(t.timeout_ns) * backoff / 1000).unwrap_or(u64::MAX);
                t.retry_queued = true;
            }
            // fping sends the retry at the timeout.
            self.retry_queue.push_back((Instant(deadline), target));
        }
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        // A slot blocked by a packet that has just timed out frees up here, even if
        // the driver has not called handle_timeout yet.
        self.handle_timeout(now);
        if self.next_send_at()? > now {
            return None;
        }
        let (_, retry) = self.next_due()?;
        let (_, ti) = if retry { self.retry_queue.pop_front()? } else { self.send_queue.pop_front()? };
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        let si = self.slot_of(seq);
        let count = self.config.count;
        let t = self.targets.get_mut(ti as usize)?;
        if retry {
            t.retry_queued = false;
        } else {
            t.started += 1;
            t.retries = 0;
        }
        let index = t.started - 1;
        t.stats.sent += 1;
        t.outstanding += 1;
        t.latest = (si as u32, now.as_nanos());
        let addr = t.addr;
        let deadline = now.as_nanos().saturating_add(t.timeout_ns);
        if !retry && t.started < count {
            self.send_queue.push_back((now + self.config.interval, ti));
        }
        if let Some(s) = self.slots.get_mut(si) {
            *s = Slot { state: SlotState::InFlight, target: ti, index, sent_at: now.as_nanos(), deadline };
        }
        self.deadlines.push(Reverse((deadline, si as u32, now.as_nanos())));
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
        let expire = self.deadlines.peek().map(|&Reverse((deadline, _, _))| Instant(deadline));
        match (send, expire) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn poll_event(&mut self) -> Option<PingEvent> {
        self.events.pop_front()
    }
}

mod check;
pub use check::{CheckPing, CheckResult, Status, Threshold, ThresholdError};

#[cfg(test)]
mod tests;
