//! ICMP echo for many independent checks over one socket per address family: checks
//! are added and cancelled at any time, each with its own packet count, interval,
//! per-packet timeout and overall deadline, and each ends with one event carrying its
//! [`TargetStats`] (judged then with `session::ping`'s check_ping thresholds or
//! `accel`'s check_icmp wording). Not here: sockets, clocks, DNS, wording, or
//! fping's fixed target list (that is [`super::ping::PingSession`]).
//!
//! **Matching replies.** Every packet in flight holds one entry of a preallocated
//! table of at most 65,536; its index is the echo sequence number, and the pinger
//! sends with one identifier, so identifier and sequence number are unique among the
//! packets in flight (when the table is full, sending waits). The echo data starts
//! with a [`Stamp`]: the pinger's cookie, the check's slot and generation and the
//! packet's index in its check. A reply is ours only with our cookie (and our
//! identifier, where the kernel does not rewrite it: raw sockets), and it answers the
//! packet in its entry only if the stamp names that packet; else the packet was
//! settled and its entry reused, and the reply is *late* for its check. A second
//! reply to an answered packet is a *duplicate*. Replies and errors for checks that
//! have ended or were cancelled are *orphaned*: counted and dropped, as is anything
//! not ours (*foreign*: other processes' ICMP on a raw socket, our own requests
//! looping back on lo, malformed datagrams). On unprivileged datagram sockets the
//! kernel rewrites the identifier and delivers only this socket's replies, so there
//! the stamp alone decides.
//!
//! **Time.** Each check's next send and its oldest packet's deadline sit in two
//! heaps of `(instant, slot, generation)`; an entry whose check has since ended is
//! skipped when it comes up. A check has at most one live entry in each.
//!
//! **Memory** is allocated in [`Pinger::new`]: the check slab, the packet table, the
//! heaps and the event queue. Exceptions: each transmit's payload (the
//! [`Transmit`] type owns its bytes), and heap growth when more checks end early than
//! there are slots within one timeout (their stale heap entries wait to be skipped).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::ping::{IcmpError, TargetStats};
use super::{DatagramSession, Transmit};
use crate::time::Instant;
use crate::wire::icmp::{self, Packet, Repr, Version};

mod config;
mod stamp;
#[cfg(test)]
mod tests;

pub use config::{PingParams, PingerConfig, PingerCounters, PingerError};
pub use stamp::Stamp;

/// A check in a [`Pinger`]: its slot and the slot's generation, so an id kept after
/// its check ended never names the slot's next check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PingCheckId {
    slot: u32,
    generation: u32,
}

impl PingCheckId {
    /// The slot, below [`PingerConfig::max_checks`]: for tables indexed by check.
    pub fn slot(self) -> usize {
        self.slot as usize
    }
}

/// No packet (end of a check's list of packets in flight).
const NIL: u32 = u32::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Never used.
    Free,
    InFlight,
    /// Answered; the entry may be reused, a reply now is a duplicate until it is.
    Answered,
    /// Timed out, refused by an ICMP error, or its check ended: a reply now is late.
    Closed,
}

/// One entry of the packet table; its index is the packet's sequence number.
#[derive(Debug, Clone, Copy)]
struct Flight {
    fate: Fate,
    slot: u32,
    generation: u32,
    index: u32,
    sent_at: Instant,
    /// Neighbours in the check's list of packets in flight, oldest first.
    prev: u32,
    next: u32,
}

const UNUSED: Flight =
    Flight { fate: Fate::Free, slot: 0, generation: 0, index: 0, sent_at: Instant::ZERO, prev: NIL, next: NIL };

#[derive(Debug, Clone)]
struct Check {
    generation: u32,
    active: bool,
    addr: IpAddr,
    params: PingParams,
    /// Packets it will send: `params.count`, fewer once the deadline cuts it short.
    to_send: u32,
    ends_at: Instant,
    stats: TargetStats,
    outstanding: u32,
    /// Its packets in flight, oldest (earliest deadline) first.
    head: u32,
    tail: u32,
    /// The time of its live entry in the expiry heap: never later than the oldest
    /// packet's deadline (it may be earlier, once that packet was answered).
    expiry: Option<Instant>,
}

impl Check {
    fn empty() -> Check {
        Check {
            generation: 0,
            active: false,
            addr: IpAddr::from([0, 0, 0, 0]),
            params: PingParams { count: 0, interval: Duration::ZERO, timeout: Duration::ZERO, deadline: None },
            to_send: 0,
            ends_at: Instant::ZERO,
            stats: TargetStats::default(),
            outstanding: 0,
            head: NIL,
            tail: NIL,
            expiry: None,
        }
    }

    fn deadline_of(&self, sent_at: Instant) -> Instant {
        (sent_at + self.params.timeout).min(self.ends_at)
    }
}

/// A heap entry: when, which slot, which generation of it.
type Timer = Reverse<(Instant, u32, u32)>;

/// Pings for many checks over one socket of one family; see the module doc.
#[derive(Debug)]
pub struct Pinger {
    config: PingerConfig,
    version: Version,
    checks: Vec<Check>,
    free_checks: Vec<u32>,
    flights: Vec<Flight>,
    /// Settled entries, reused oldest first so a late reply finds its own packet
    /// for as long as possible.
    free_flights: VecDeque<u16>,
    sends: BinaryHeap<Timer>,
    expiries: BinaryHeap<Timer>,
    events: VecDeque<(PingCheckId, TargetStats)>,
    active: usize,
    counters: PingerCounters,
}

impl Pinger {
    /// A pinger for targets of `version`, with everything allocated.
    pub fn new(config: PingerConfig, version: Version) -> Result<Pinger, PingerError> {
        let max = super::ping::MAX_DATA_LEN;
        if !(Stamp::LEN..=max).contains(&config.data_len) {
            return Err(PingerError::DataLen { got: config.data_len, min: Stamp::LEN, max });
        }
        if config.max_checks == 0 {
            return Err(PingerError::NoChecks);
        }
        // Slot numbers travel in the stamp as u32.
        let max_checks = config.max_checks.min(u32::MAX as usize - 1);
        let table = config.max_in_flight.clamp(1, 1 << 16).next_power_of_two();
        // Pushed slot by slot so that slot 0 is handed out first.
        let free_checks = (0..max_checks as u32).rev().collect();
        // table <= 65,536, so every index fits a sequence number.
        let free_flights = (0..table).map(|i| i as u16).collect();
        Ok(Pinger {
            version,
            checks: vec![Check::empty(); max_checks],
            free_checks,
            flights: vec![UNUSED; table],
            free_flights,
            // Twice the slots: room for the stale entries of checks that ended early.
            sends: BinaryHeap::with_capacity(2 * max_checks),
            expiries: BinaryHeap::with_capacity(2 * max_checks),
            events: VecDeque::with_capacity(max_checks),
            active: 0,
            counters: PingerCounters::default(),
            config,
        })
    }

    pub fn version(&self) -> Version {
        self.version
    }

    pub fn config(&self) -> &PingerConfig {
        &self.config
    }

    /// Checks running now.
    pub fn active(&self) -> usize {
        self.active
    }

    /// Whether [`Pinger::add`] would find a free slot.
    pub fn has_room(&self) -> bool {
        !self.free_checks.is_empty()
    }

    /// Packets in flight now.
    pub fn in_flight(&self) -> usize {
        self.flights.len() - self.free_flights.len()
    }

    pub fn counters(&self) -> PingerCounters {
        self.counters
    }

    /// Starts a check of `addr`; its first packet is due at once.
    pub fn add(&mut self, now: Instant, addr: IpAddr, params: PingParams) -> Result<PingCheckId, PingerError> {
        if Version::of(addr) != self.version {
            return Err(PingerError::WrongFamily { addr, want: self.version });
        }
        if params.count == 0 {
            return Err(PingerError::ZeroCount);
        }
        let full = PingerError::Full { max: self.checks.len() };
        let slot = self.free_checks.pop().ok_or(full.clone())?;
        let Some(c) = self.checks.get_mut(slot as usize) else { return Err(full) };
        let ends_at = params.deadline.map_or(Instant(u64::MAX), |d| now + d);
        *c = Check {
            generation: c.generation,
            active: true,
            addr,
            params,
            to_send: params.count,
            ends_at,
            ..Check::empty()
        };
        let generation = c.generation;
        self.sends.push(Reverse((now, slot, generation)));
        self.active += 1;
        Ok(PingCheckId { slot, generation })
    }

    /// Stops a check at once, without an event; its results so far, or `None` if it
    /// had already ended. Replies to its packets are orphaned from now on.
    pub fn cancel(&mut self, id: PingCheckId) -> Option<TargetStats> {
        let stats = self.live(id.slot, id.generation)?.stats;
        self.close_flights(id.slot);
        self.release(id.slot);
        self.trim();
        Some(stats)
    }

    /// Results so far of a running check.
    pub fn stats(&self, id: PingCheckId) -> Option<&TargetStats> {
        self.checks.get(id.slot as usize).filter(|c| c.active && c.generation == id.generation).map(|c| &c.stats)
    }

    fn live(&mut self, slot: u32, generation: u32) -> Option<&mut Check> {
        self.checks.get_mut(slot as usize).filter(|c| c.active && c.generation == generation)
    }

    fn is_live(&self, slot: u32, generation: u32) -> bool {
        self.checks.get(slot as usize).is_some_and(|c| c.active && c.generation == generation)
    }

    /// Marks every packet of the check in flight as closed and frees its entry.
    fn close_flights(&mut self, slot: u32) {
        let Some(c) = self.checks.get_mut(slot as usize) else { return };
        let mut f = c.head;
        (c.head, c.tail) = (NIL, NIL);
        while let Some(flight) = self.flights.get_mut(f as usize) {
            flight.fate = Fate::Closed;
            let next = flight.next;
            // Table indices fit u16 (see `new`).
            self.free_flights.push_back(f as u16);
            f = next;
        }
    }

    /// Frees the slot; its heap entries become stale with the generation.
    fn release(&mut self, slot: u32) {
        let Some(c) = self.checks.get_mut(slot as usize) else { return };
        c.active = false;
        c.generation = c.generation.wrapping_add(1);
        (c.head, c.tail, c.expiry) = (NIL, NIL, None);
        self.free_checks.push(slot);
        self.active = self.active.saturating_sub(1);
    }

    /// Takes entry `f` out of its check's list of packets in flight.
    fn unlink(&mut self, f: u32) {
        let Some(&Flight { slot, prev, next, .. }) = self.flights.get(f as usize) else { return };
        match self.flights.get_mut(prev as usize) {
            Some(p) => p.next = next,
            None => {
                if let Some(c) = self.checks.get_mut(slot as usize) {
                    c.head = next;
                }
            }
        }
        match self.flights.get_mut(next as usize) {
            Some(n) => n.prev = prev,
            None => {
                if let Some(c) = self.checks.get_mut(slot as usize) {
                    c.tail = prev;
                }
            }
        }
        if let Some(fl) = self.flights.get_mut(f as usize) {
            (fl.prev, fl.next) = (NIL, NIL);
        }
    }

    /// Entry `f`'s packet is answered, lost or refused: free the entry and count
    /// down its check, which ends (with its event) once nothing is left to send or
    /// to wait for.
    fn settle(&mut self, f: u32, fate: Fate) {
        self.unlink(f);
        let Some(fl) = self.flights.get_mut(f as usize) else { return };
        fl.fate = fate;
        let slot = fl.slot;
        // Table indices fit u16 (see `new`).
        self.free_flights.push_back(f as u16);
        self.finish_if_done(slot);
    }

    fn finish_if_done(&mut self, slot: u32) {
        let Some(c) = self.checks.get_mut(slot as usize) else { return };
        if c.outstanding == 0 && c.stats.sent >= c.to_send {
            let id = PingCheckId { slot, generation: c.generation };
            self.events.push_back((id, c.stats));
            self.release(slot);
        }
    }

    /// Sends the next packet of the check in `slot` in entry `f`.
    fn send(&mut self, now: Instant, slot: u32, f: u16) -> Option<Transmit> {
        let c = self.checks.get_mut(slot as usize)?;
        let (generation, index, addr) = (c.generation, c.stats.sent, c.addr);
        c.stats.sent += 1;
        c.outstanding += 1;
        let next = now + c.params.interval;
        if c.stats.sent < c.to_send {
            if next < c.ends_at {
                self.sends.push(Reverse((next, slot, generation)));
            } else {
                // A packet sent at the deadline could only be lost: none is.
                c.to_send = c.stats.sent;
            }
        }
        let prev = c.tail;
        let deadline = c.deadline_of(now);
        if c.expiry.is_none() {
            c.expiry = Some(deadline);
            self.expiries.push(Reverse((deadline, slot, generation)));
        }
        let f32 = u32::from(f);
        if c.head == NIL {
            c.head = f32;
        }
        c.tail = f32;
        if let Some(p) = self.flights.get_mut(prev as usize) {
            p.next = f32;
        }
        if let Some(fl) = self.flights.get_mut(usize::from(f)) {
            *fl = Flight { fate: Fate::InFlight, slot, generation, index, sent_at: now, prev, next: NIL };
        }
        self.counters.sent += 1;

        // Written in place (one allocation per packet): header, stamp and filler, then
        // the v4 checksum; v6 leaves it to the kernel (see wire::icmp).
        let mut payload = vec![0u8; icmp::HEADER_LEN + self.config.data_len];
        if let Ok(mut p) = Packet::new_checked(&mut payload[..]) {
            p.set_msg_type(self.version.echo_request());
            p.set_echo_ident(self.config.ident);
            p.set_echo_seq_no(f);
            Stamp { cookie: self.config.cookie, slot, generation, index }.emit(p.body_mut());
            if self.version == Version::V4 {
                p.fill_checksum_v4();
            }
        }
        Some(Transmit { destination: SocketAddr::new(addr, 0), payload })
    }

    /// Takes a datagram from the socket: `from` is its source address.
    pub fn handle_input(&mut self, now: Instant, from: IpAddr, datagram: &[u8]) {
        let msg = match self.version {
            Version::V4 => match icmp::split_raw_v4(datagram) {
                Ok((_, m)) => m,
                Err(_) => return self.counters.foreign += 1,
            },
            Version::V6 => datagram,
        };
        let Ok(repr) = Packet::new_checked(msg).and_then(|p| Repr::parse(self.version, &p)) else {
            return self.counters.foreign += 1;
        };
        match repr {
            Repr::EchoReply { ident, seq_no, data } => self.handle_reply(now, from, ident, seq_no, data),
            Repr::DstUnreachable { code, quoted } => self.handle_error(IcmpError::Unreachable(code), quoted),
            Repr::TimeExceeded { code, quoted } => self.handle_error(IcmpError::TimeExceeded(code), quoted),
            // Our own requests looping back through lo, or someone else's.
            Repr::EchoRequest { .. } => self.counters.foreign += 1,
        }
        // A check that has just ended leaves heap entries behind.
        self.trim();
    }

    fn handle_reply(&mut self, now: Instant, from: IpAddr, ident: u16, seq: u16, data: &[u8]) {
        let cookie = self.config.cookie;
        let stamp = Stamp::parse(data).filter(|s| s.cookie == cookie);
        let (Some(stamp), true) = (stamp, !self.config.check_ident || ident == self.config.ident) else {
            return self.counters.foreign += 1;
        };
        let f = u32::from(seq);
        let Some(&flight) = self.flights.get(f as usize) else { return self.counters.foreign += 1 };
        let Some(c) = self.live(stamp.slot, stamp.generation) else { return self.counters.orphaned += 1 };
        if c.addr != from {
            return self.counters.foreign += 1;
        }
        let exact = flight.slot == stamp.slot && flight.generation == stamp.generation && flight.index == stamp.index;
        match (exact, flight.fate) {
            (true, Fate::InFlight) => {
                let rtt = now.saturating_since(flight.sent_at);
                c.stats.record(u64::try_from(rtt.as_nanos()).unwrap_or(u64::MAX));
                c.outstanding = c.outstanding.saturating_sub(1);
                self.counters.replies += 1;
                self.settle(f, Fate::Answered);
            }
            (true, Fate::Answered) => {
                c.stats.duplicates += 1;
                self.counters.duplicates += 1;
            }
            _ => {
                c.stats.late += 1;
                self.counters.late += 1;
            }
        }
    }

    /// An ICMP error quotes only the header of our packet: identifier, sequence
    /// number and destination must all match a packet in flight.
    fn handle_error(&mut self, error: IcmpError, quoted: icmp::QuotedEcho) {
        if self.config.check_ident && quoted.ident != self.config.ident {
            return self.counters.foreign += 1;
        }
        let f = u32::from(quoted.seq_no);
        let Some(&flight) = self.flights.get(f as usize).filter(|fl| fl.fate == Fate::InFlight) else {
            return self.counters.foreign += 1;
        };
        let Some(c) = self.live(flight.slot, flight.generation).filter(|c| c.addr == quoted.destination) else {
            return self.counters.foreign += 1;
        };
        c.stats.errors += 1;
        c.stats.last_error = Some(error);
        c.outstanding = c.outstanding.saturating_sub(1);
        self.counters.errors += 1;
        self.settle(f, Fate::Closed);
    }

    /// Drops heap entries of checks that have ended, so `poll_timeout` does not wake
    /// the driver for them.
    fn trim(&mut self) {
        while let Some(&Reverse((_, slot, generation))) = self.sends.peek() {
            if self.is_live(slot, generation) {
                break;
            }
            self.sends.pop();
        }
        while let Some(&Reverse((at, slot, generation))) = self.expiries.peek() {
            if self
                .checks
                .get(slot as usize)
                .is_some_and(|c| c.active && c.generation == generation && c.expiry == Some(at))
            {
                break;
            }
            self.expiries.pop();
        }
    }

    /// Packets past their deadline are lost; a check whose oldest packet was
    /// answered meanwhile gets its expiry moved to the next one.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&Reverse((at, slot, generation))) = self.expiries.peek() {
            if at > now {
                break;
            }
            self.expiries.pop();
            let Some(c) = self.live(slot, generation) else { continue };
            if c.expiry != Some(at) {
                continue;
            }
            c.expiry = None;
            // Fields apart, not `live`: the check and the table are borrowed together.
            while let Some(c) = self.checks.get_mut(slot as usize).filter(|c| c.active && c.generation == generation) {
                let Some(&head) = self.flights.get(c.head as usize) else { break };
                let deadline = c.deadline_of(head.sent_at);
                if deadline > now {
                    c.expiry = Some(deadline);
                    self.expiries.push(Reverse((deadline, slot, generation)));
                    break;
                }
                c.outstanding = c.outstanding.saturating_sub(1);
                let f = c.head;
                self.settle(f, Fate::Closed);
            }
        }
        self.trim();
    }

    /// The next packet due now, if an entry is free for it.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        // Entries of packets that have just timed out free up here, even if the
        // driver has not called handle_timeout yet.
        self.handle_timeout(now);
        loop {
            let &Reverse((due, slot, generation)) = self.sends.peek()?;
            if due > now {
                return None;
            }
            let Some(c) = self.live(slot, generation) else {
                self.sends.pop();
                continue;
            };
            if now >= c.ends_at {
                // Delayed past its deadline (the table was full): it sends no more.
                c.to_send = c.stats.sent;
                self.sends.pop();
                self.finish_if_done(slot);
                continue;
            }
            // Table full: wait for an answer or a timeout.
            let f = self.free_flights.pop_front()?;
            self.sends.pop();
            return self.send(now, slot, f);
        }
    }

    /// When the pinger next needs [`Pinger::handle_timeout`] or has a packet to send.
    pub fn poll_timeout(&self) -> Option<Instant> {
        // A send waiting for a free entry waits for an answer or an expiry.
        let send = self.sends.peek().filter(|_| !self.free_flights.is_empty()).map(|t| t.0.0);
        let expire = self.expiries.peek().map(|t| t.0.0);
        match (send, expire) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next check that ended, with its results.
    pub fn poll_event(&mut self) -> Option<(PingCheckId, TargetStats)> {
        self.events.pop_front()
    }
}

impl DatagramSession for Pinger {
    type Event = (PingCheckId, TargetStats);

    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, payload: &[u8]) {
        self.handle_input(now, from.ip(), payload);
    }

    fn handle_timeout(&mut self, now: Instant) {
        Pinger::handle_timeout(self, now);
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        Pinger::poll_transmit(self, now)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        Pinger::poll_timeout(self)
    }

    fn poll_event(&mut self) -> Option<(PingCheckId, TargetStats)> {
        Pinger::poll_event(self)
    }
}
