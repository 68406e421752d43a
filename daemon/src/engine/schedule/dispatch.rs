//! Caps on checks in flight, per engine and per target host, and the queues of due
//! checks waiting for them. Not an executor: it says which check may start now; the
//! caller runs it and reports `finished`. Nothing waiting is ever dropped.
//!
//! Design. A waiting check sits in the *lane* of its (engine, host), FIFO. Each engine
//! keeps a min-heap of lanes keyed by the sequence number of their head check, holding
//! only lanes whose host has room (checks offered earlier have smaller numbers). When
//! the engine has room it starts the head of the lane with the oldest head, so an
//! engine serves its checks in offer order, skipping those whose host is full: those
//! lanes leave the heap (lazily, when met at the top) and return when their host
//! frees a slot. A host at its cap thus never blocks other hosts' checks of the same
//! engine, and a host's own checks of one engine still start in order. Invariant after
//! every call: an engine with room has no waiting check whose host has room.
//!
//! Virtual checks (clusters and resources) are computed in-process from their
//! members and load no target, so the per-host cap does not apply to them.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use jiff::Timestamp;
use serde::Serialize;

use super::Due;
use super::lateness::Lateness;
use crate::engine::CheckIx;

/// How a check is executed; each has its own cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// A plugin process.
    Nagios,
    Nrpe,
    Snmp,
    Tcp,
    Ping,
    /// Run by a connected `bergamot-agent`.
    Agent,
    /// A cluster or resource computed from its members.
    Virtual,
}

impl EngineKind {
    pub const COUNT: usize = 7;
    pub const ALL: [EngineKind; EngineKind::COUNT] = [
        EngineKind::Nagios,
        EngineKind::Nrpe,
        EngineKind::Snmp,
        EngineKind::Tcp,
        EngineKind::Ping,
        EngineKind::Agent,
        EngineKind::Virtual,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EngineKind::Nagios => "nagios",
            EngineKind::Nrpe => "nrpe",
            EngineKind::Snmp => "snmp",
            EngineKind::Tcp => "tcp",
            EngineKind::Ping => "ping",
            EngineKind::Agent => "agent",
            EngineKind::Virtual => "virtual",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    fn host_capped(self) -> bool {
        self != EngineKind::Virtual
    }
}

/// Most checks in flight at once. A cap of 0 is taken as 1 so that queues drain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Indexed by [`EngineKind::index`].
    pub per_engine: [u32; EngineKind::COUNT],
    /// Per target host, all engines but `Virtual` together.
    pub per_host: u32,
}

impl Default for Caps {
    /// Plugins are processes (64 at once keep a 2-core box responsive); native probes
    /// are a socket operation each, cheap in the thousands.
    fn default() -> Self {
        Caps { per_engine: [64, 1024, 4096, 1024, 4096, 4096, u32::MAX], per_host: 8 }
    }
}

impl Caps {
    fn engine(&self, e: EngineKind) -> u32 {
        self.per_engine[e.index()].max(1)
    }

    fn host(&self) -> u32 {
        self.per_host.max(1)
    }
}

const NIL: u32 = u32::MAX;

#[derive(Debug, Clone, Copy, Default)]
struct HostState {
    in_flight: u32,
    /// First of this host's lanes (at most one per engine), linked by `next_of_host`.
    lanes: u32,
}

#[derive(Debug, Clone, Copy)]
struct Node {
    ix: CheckIx,
    due: Timestamp,
    seq: u64,
    next: u32,
}

#[derive(Debug, Clone, Copy)]
struct Lane {
    engine: EngineKind,
    host: u32,
    head: u32,
    tail: u32,
    /// Next lane of the same host; next free lane when free.
    next_of_host: u32,
    /// Whether the engine's heap holds this lane (then keyed by its head's `seq`).
    in_heap: bool,
}

/// The caps and waiting queues. See the module docs.
#[derive(Debug)]
pub struct Dispatch {
    caps: Caps,
    in_flight: [u32; EngineKind::COUNT],
    /// Indexed by the caller's host key: host keys are meant to be dense (an index
    /// into the model's hosts); the table grows to the largest key seen.
    hosts: Vec<HostState>,
    /// Running instances per check, so that a stray `finished` frees nothing.
    running: Vec<u8>,
    nodes: Vec<Node>,
    free_node: u32,
    lanes: Vec<Lane>,
    free_lane: u32,
    ready: [BinaryHeap<Reverse<(u64, u32)>>; EngineKind::COUNT],
    seq: u64,
    queued: usize,
    started: u64,
    lateness: Lateness,
}

impl Dispatch {
    /// Preallocates for `checks` checks on `hosts` hosts.
    pub fn new(caps: Caps, checks: usize, hosts: usize) -> Self {
        Dispatch {
            caps,
            in_flight: [0; EngineKind::COUNT],
            hosts: vec![HostState { in_flight: 0, lanes: NIL }; hosts],
            running: vec![0; checks],
            nodes: Vec::with_capacity(checks),
            free_node: NIL,
            lanes: Vec::with_capacity(hosts.min(checks)),
            free_lane: NIL,
            ready: std::array::from_fn(|_| BinaryHeap::new()),
            seq: 0,
            queued: 0,
            started: 0,
            lateness: Lateness::default(),
        }
    }

    pub fn caps(&self) -> &Caps {
        &self.caps
    }

    /// Changes the caps; checks that may start under raised caps go to `out`.
    pub fn set_caps(&mut self, caps: Caps, now: Timestamp, out: &mut Vec<Due>) {
        self.caps = caps;
        // A raised host cap frees parked lanes; free lanes have no head and stay out.
        for lane in 0..self.lanes.len() {
            self.push_ready(index_u32(lane));
        }
        for e in EngineKind::ALL {
            self.drain(e, now, out);
        }
    }

    /// A check is due: true if it may start now (it then counts as in flight and
    /// its lateness is recorded), false if it waits; it is then returned by a later
    /// `finished` or `set_caps`. Offer a check again only after it has finished.
    pub fn offer(&mut self, ix: CheckIx, engine: EngineKind, host: u32, due: Timestamp, now: Timestamp) -> bool {
        if self.has_room(engine) && self.host_has_room(engine, host) {
            // By the invariant nothing of this engine on a host with room is waiting,
            // so starting now overtakes nobody.
            self.start(ix, engine, host, due, now);
            return true;
        }
        self.enqueue(ix, engine, host, due);
        false
    }

    /// A check finished: frees its engine and host slots and appends to `out` the
    /// waiting checks that now start (already counted as in flight). A check that
    /// is not in flight frees nothing.
    pub fn finished(&mut self, ix: CheckIx, engine: EngineKind, host: u32, now: Timestamp, out: &mut Vec<Due>) {
        match self.running.get_mut(ix.index()) {
            Some(n) if *n > 0 => *n -= 1,
            _ => return,
        }
        let e = engine.index();
        self.in_flight[e] = self.in_flight[e].saturating_sub(1);
        // Engines whose waiting checks may start now, as a bit set.
        let mut engines = 1u8 << e;
        if engine.host_capped()
            && let Some(h) = self.hosts.get_mut(host as usize)
        {
            h.in_flight = h.in_flight.saturating_sub(1);
            // The host has room again: its parked lanes rejoin their engines' heaps.
            let mut lane = h.lanes;
            while lane != NIL {
                let l = self.lanes[lane as usize];
                if !l.in_heap && l.engine.host_capped() {
                    self.push_ready(lane);
                    engines |= 1 << l.engine.index();
                }
                lane = l.next_of_host;
            }
        }
        self.drain(engine, now, out);
        for other in EngineKind::ALL {
            if other != engine && engines & (1 << other.index()) != 0 {
                self.drain(other, now, out);
            }
        }
    }

    /// Checks waiting for a cap.
    pub fn queued_len(&self) -> usize {
        self.queued
    }

    pub fn in_flight(&self, engine: EngineKind) -> u32 {
        self.in_flight[engine.index()]
    }

    pub fn in_flight_total(&self) -> u64 {
        self.in_flight.iter().map(|&n| u64::from(n)).sum()
    }

    pub fn host_in_flight(&self, host: u32) -> u32 {
        self.hosts.get(host as usize).map_or(0, |h| h.in_flight)
    }

    /// Checks started since creation.
    pub fn started(&self) -> u64 {
        self.started
    }

    /// Lateness of started checks in the current window.
    pub fn lateness(&self) -> &Lateness {
        &self.lateness
    }

    pub fn lateness_mut(&mut self) -> &mut Lateness {
        &mut self.lateness
    }

    /// Continues the counts of the dispatch this one replaces (a reload).
    pub fn carry_counts(&mut self, from: &Dispatch) {
        self.started = from.started;
        self.lateness = from.lateness.clone();
    }

    fn has_room(&self, engine: EngineKind) -> bool {
        self.in_flight[engine.index()] < self.caps.engine(engine)
    }

    fn host_has_room(&self, engine: EngineKind, host: u32) -> bool {
        !engine.host_capped() || self.host_in_flight(host) < self.caps.host()
    }

    fn start(&mut self, ix: CheckIx, engine: EngineKind, host: u32, due: Timestamp, now: Timestamp) {
        self.in_flight[engine.index()] += 1;
        if engine.host_capped() {
            self.host_mut(host).in_flight += 1;
        }
        if self.running.len() <= ix.index() {
            self.running.resize(ix.index() + 1, 0);
        }
        self.running[ix.index()] = self.running[ix.index()].saturating_add(1);
        self.started += 1;
        self.lateness.record(due, now);
    }

    /// Starts waiting checks of `engine` while it has room (see module docs).
    fn drain(&mut self, engine: EngineKind, now: Timestamp, out: &mut Vec<Due>) {
        while self.has_room(engine) {
            let Some(Reverse((seq, lane))) = self.ready[engine.index()].pop() else { return };
            let l = self.lanes[lane as usize];
            if l.head == NIL || self.nodes[l.head as usize].seq != seq {
                // Not this lane's current head; cannot happen while each lane has at
                // most one heap entry, but a stale entry must never start anything.
                continue;
            }
            self.lanes[lane as usize].in_heap = false;
            if !self.host_has_room(engine, l.host) {
                continue; // Parked until the host frees a slot (`finished`).
            }
            let node = self.nodes[l.head as usize];
            self.lanes[lane as usize].head = node.next;
            self.free_node(l.head);
            self.queued -= 1;
            self.start(node.ix, engine, l.host, node.due, now);
            out.push(Due { ix: node.ix, due: node.due });
            if node.next != NIL {
                self.push_ready(lane);
            } else {
                self.free_lane(lane);
            }
        }
    }

    fn enqueue(&mut self, ix: CheckIx, engine: EngineKind, host: u32, due: Timestamp) {
        let seq = self.seq;
        self.seq += 1;
        let node = Node { ix, due, seq, next: NIL };
        let n = if self.free_node != NIL {
            let n = self.free_node;
            self.free_node = self.nodes[n as usize].next;
            self.nodes[n as usize] = node;
            n
        } else {
            self.nodes.push(node);
            index_u32(self.nodes.len() - 1)
        };
        self.queued += 1;
        let lane = self.lane(engine, host);
        let l = &mut self.lanes[lane as usize];
        if l.head == NIL {
            l.head = n;
            l.tail = n;
            if self.host_has_room(engine, host) {
                self.push_ready(lane);
            }
        } else {
            let tail = std::mem::replace(&mut l.tail, n);
            self.nodes[tail as usize].next = n;
        }
    }

    fn push_ready(&mut self, lane: u32) {
        let l = &mut self.lanes[lane as usize];
        if l.head != NIL && !l.in_heap {
            l.in_heap = true;
            let seq = self.nodes[l.head as usize].seq;
            self.ready[l.engine.index()].push(Reverse((seq, lane)));
        }
    }

    /// The lane of (engine, host), created empty if needed.
    fn lane(&mut self, engine: EngineKind, host: u32) -> u32 {
        let mut lane = self.host_mut(host).lanes;
        while lane != NIL {
            let l = &self.lanes[lane as usize];
            if l.engine == engine {
                return lane;
            }
            lane = l.next_of_host;
        }
        let first = self.host_mut(host).lanes;
        let new = Lane { engine, host, head: NIL, tail: NIL, next_of_host: first, in_heap: false };
        let lane = if self.free_lane != NIL {
            let lane = self.free_lane;
            self.free_lane = self.lanes[lane as usize].next_of_host;
            self.lanes[lane as usize] = new;
            lane
        } else {
            self.lanes.push(new);
            index_u32(self.lanes.len() - 1)
        };
        self.host_mut(host).lanes = lane;
        lane
    }

    /// Unlinks an empty lane from its host (at most one lane per engine: a short walk).
    fn free_lane(&mut self, lane: u32) {
        let Lane { host, next_of_host, .. } = self.lanes[lane as usize];
        let h = self.host_mut(host);
        if h.lanes == lane {
            h.lanes = next_of_host;
        } else {
            let mut at = h.lanes;
            while at != NIL {
                let next = self.lanes[at as usize].next_of_host;
                if next == lane {
                    self.lanes[at as usize].next_of_host = next_of_host;
                    break;
                }
                at = next;
            }
        }
        let l = &mut self.lanes[lane as usize];
        l.head = NIL;
        l.next_of_host = self.free_lane;
        self.free_lane = lane;
    }

    fn free_node(&mut self, n: u32) {
        self.nodes[n as usize].next = self.free_node;
        self.free_node = n;
    }

    fn host_mut(&mut self, host: u32) -> &mut HostState {
        let i = host as usize;
        if self.hosts.len() <= i {
            self.hosts.resize(i + 1, HostState { in_flight: 0, lanes: NIL });
        }
        &mut self.hosts[i]
    }
}

/// Slab indices are u32; a queue of four billion checks is not a real state.
fn index_u32(i: usize) -> u32 {
    u32::try_from(i).ok().filter(|&i| i != NIL).unwrap_or_else(|| panic!("dispatch: more than {} queued", NIL - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn caps(nagios: u32, ping: u32, per_host: u32) -> Caps {
        let mut c = Caps::default();
        c.per_engine[EngineKind::Nagios.index()] = nagios;
        c.per_engine[EngineKind::Ping.index()] = ping;
        c.per_host = per_host;
        c
    }

    fn ixs(due: &[Due]) -> Vec<u32> {
        due.iter().map(|d| d.ix.0).collect()
    }

    #[test]
    fn engine_cap_then_fifo() {
        let mut d = Dispatch::new(caps(2, 10, 100), 8, 1);
        let started: Vec<bool> = (0..5).map(|i| d.offer(CheckIx(i), EngineKind::Nagios, 0, t(0), t(0))).collect();
        assert_eq!(started, [true, true, false, false, false]);
        assert_eq!((d.in_flight(EngineKind::Nagios), d.queued_len()), (2, 3));
        // Another engine is not held up by nagios' queue.
        assert!(d.offer(CheckIx(7), EngineKind::Ping, 0, t(0), t(0)));
        let mut out = Vec::new();
        d.finished(CheckIx(1), EngineKind::Nagios, 0, t(3), &mut out);
        assert_eq!(ixs(&out), [2]);
        assert_eq!(out[0].due, t(0));
        // A stray or repeated finish frees nothing.
        d.finished(CheckIx(1), EngineKind::Nagios, 0, t(3), &mut out);
        d.finished(CheckIx(6), EngineKind::Nagios, 0, t(3), &mut out);
        assert_eq!((ixs(&out), d.in_flight(EngineKind::Nagios)), (vec![2], 2));
        d.finished(CheckIx(0), EngineKind::Nagios, 0, t(4), &mut out);
        d.finished(CheckIx(2), EngineKind::Nagios, 0, t(5), &mut out);
        assert_eq!(ixs(&out), [2, 3, 4], "offer order");
        assert_eq!(d.queued_len(), 0);
        // Lateness: three on time, then 3, 4 and 5 s late.
        assert_eq!((d.started(), d.lateness().count(), d.lateness().max()), (6, 6, 5_000));
    }

    #[test]
    fn full_host_does_not_block_other_hosts() {
        let mut d = Dispatch::new(caps(2, 10, 1), 8, 3);
        let mut out = Vec::new();
        assert!(d.offer(CheckIx(0), EngineKind::Nagios, 1, t(0), t(0)));
        assert!(!d.offer(CheckIx(1), EngineKind::Nagios, 1, t(0), t(0)), "host 1 full");
        assert!(d.offer(CheckIx(2), EngineKind::Nagios, 2, t(0), t(0)), "host 2 has room");
        assert!(!d.offer(CheckIx(3), EngineKind::Nagios, 1, t(1), t(1)));
        assert!(!d.offer(CheckIx(4), EngineKind::Nagios, 2, t(1), t(1)), "engine full");
        assert!(!d.offer(CheckIx(5), EngineKind::Nagios, 0, t(1), t(1)));
        // Host 2's slot frees: the oldest waiting checks are host 1's, but host 1 is
        // full; host 2's check goes first (oldest with room).
        d.finished(CheckIx(2), EngineKind::Nagios, 2, t(2), &mut out);
        assert_eq!(ixs(&out), [4]);
        // Host 1 frees: its oldest starts, in order.
        d.finished(CheckIx(0), EngineKind::Nagios, 1, t(3), &mut out);
        assert_eq!(ixs(&out), [4, 1]);
        d.finished(CheckIx(4), EngineKind::Nagios, 2, t(4), &mut out);
        assert_eq!(ixs(&out), [4, 1, 5], "host 1 is full again; host 0 next");
        d.finished(CheckIx(1), EngineKind::Nagios, 1, t(5), &mut out);
        assert_eq!(ixs(&out), [4, 1, 5, 3]);
        assert_eq!(d.queued_len(), 0);
    }

    #[test]
    fn virtual_checks_ignore_host_cap_and_caps_can_rise() {
        let mut d = Dispatch::new(caps(1, 1, 1), 8, 1);
        let mut out = Vec::new();
        assert!(d.offer(CheckIx(0), EngineKind::Ping, 0, t(0), t(0)));
        assert!(d.offer(CheckIx(1), EngineKind::Virtual, 0, t(0), t(0)));
        assert!(d.offer(CheckIx(2), EngineKind::Virtual, 0, t(0), t(0)));
        assert!(!d.offer(CheckIx(3), EngineKind::Nagios, 0, t(0), t(0)), "host full");
        d.set_caps(caps(1, 1, 2), t(1), &mut out);
        assert_eq!(ixs(&out), [3]);
        assert_eq!(d.host_in_flight(0), 2);
    }

    /// Random offers and finishes against a model: nothing lost or duplicated, caps
    /// held, no waiting check that could run, FIFO per (engine, host), and no check
    /// overtaken by a younger one of its engine while its host had room.
    #[test]
    fn random_offers_and_finishes_against_model() {
        let engines = [EngineKind::Nagios, EngineKind::Ping, EngineKind::Virtual];
        for seed in 1..=8u64 {
            let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            let mut next = move |n: u64| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng % n
            };
            let c = caps(1 + next(4) as u32, 1 + next(4) as u32, 1 + next(3) as u32);
            let mut d = Dispatch::new(c, 16, 2);
            // By ix: (engine, host, offer order); waiting in offer order.
            let mut meta: Vec<(EngineKind, u32, u64)> = Vec::new();
            let mut waiting: Vec<u32> = Vec::new();
            let mut running: Vec<u32> = Vec::new();
            let mut finished = 0;
            let mut out = Vec::new();
            let total = 2_000u32;
            let mut offered = 0u32;
            while offered < total || !running.is_empty() {
                out.clear();
                if offered < total && (running.is_empty() || next(3) > 0) {
                    let (ix, e, h) = (offered, engines[next(3) as usize], next(6) as u32);
                    offered += 1;
                    meta.push((e, h, ix as u64));
                    if d.offer(CheckIx(ix), e, h, t(0), t(0)) {
                        running.push(ix);
                    } else {
                        waiting.push(ix);
                    }
                } else {
                    let ix = running.swap_remove(next(running.len() as u64) as usize);
                    let (e, h, _) = meta[ix as usize];
                    d.finished(CheckIx(ix), e, h, t(1), &mut out);
                    finished += 1;
                }
                let mut host_count = [0u32; 6];
                let mut engine_count = [0u32; EngineKind::COUNT];
                for &ix in &running {
                    let (e, h, _) = meta[ix as usize];
                    engine_count[e.index()] += 1;
                    host_count[h as usize] += u32::from(e != EngineKind::Virtual);
                }
                for s in &out {
                    let pos = waiting.iter().position(|&w| w == s.ix.0).expect("started a check that was not waiting");
                    let (e, h, _) = meta[s.ix.0 as usize];
                    for &older in &waiting[..pos] {
                        let (oe, oh, _) = meta[older as usize];
                        assert!(!(oe == e && oh == h), "seed {seed}: FIFO broken in lane ({e:?}, {h})");
                    }
                    waiting.remove(pos);
                    running.push(s.ix.0);
                    engine_count[e.index()] += 1;
                    host_count[h as usize] += u32::from(e != EngineKind::Virtual);
                }
                for e in engines {
                    assert_eq!(d.in_flight(e), engine_count[e.index()], "seed {seed}");
                    assert!(engine_count[e.index()] <= c.engine(e));
                }
                assert!(host_count.iter().all(|&n| n <= c.host()), "seed {seed}: host cap");
                assert_eq!(d.queued_len(), waiting.len());
                let room = |e: EngineKind, h: u32| e == EngineKind::Virtual || host_count[h as usize] < c.host();
                for &w in &waiting {
                    let (e, h, order) = meta[w as usize];
                    assert!(
                        !(engine_count[e.index()] < c.engine(e) && room(e, h)),
                        "seed {seed}: {w} could run but waits"
                    );
                    // Host counts only grow while one call starts checks, so a host
                    // with room now had room when a younger check of its engine started.
                    let overtaken = out.iter().any(|s| meta[s.ix.0 as usize].0 == e && meta[s.ix.0 as usize].2 > order);
                    assert!(!(overtaken && room(e, h)), "seed {seed}: {w} overtaken");
                }
            }
            assert!(waiting.is_empty(), "seed {seed}: {} never started", waiting.len());
            assert_eq!((finished, d.started()), (total, total as u64));
            assert_eq!(d.queued_len(), 0);
        }
    }
}
