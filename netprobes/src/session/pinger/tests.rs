//! The pinger on virtual time against crafted replies (built with `wire::icmp`).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::*;
use crate::session::icmp_peer::{emit, reply, request, with_ipv4_header};

const MS: Duration = Duration::from_millis(1);

fn at(ms: u64) -> Instant {
    Instant::from_nanos(ms * 1_000_000)
}

fn ip4(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x7f00_0000 + i))
}

fn pinger(max_checks: usize, max_in_flight: usize) -> Pinger {
    let config = PingerConfig { max_checks, max_in_flight, ident: 0x4242, cookie: 0xc0ffee, ..PingerConfig::default() };
    Pinger::new(config, Version::V4).unwrap()
}

fn params(count: u32, interval_ms: u64, timeout_ms: u64) -> PingParams {
    PingParams {
        count,
        interval: Duration::from_millis(interval_ms),
        timeout: Duration::from_millis(timeout_ms),
        deadline: None,
    }
}

/// A router's "host unreachable" for `t`, quoting `destination`.
fn unreachable(t: &Transmit, destination: IpAddr) -> Vec<u8> {
    let (ident, seq_no, _) = request(t, Version::V4);
    let quoted = icmp::QuotedEcho { source: IpAddr::V4(Ipv4Addr::LOCALHOST), destination, ident, seq_no };
    emit(Version::V4, Repr::DstUnreachable { code: 1, quoted })
}

/// What the network does with a transmit (numbered in send order): datagrams that
/// come back, after a delay, from a source.
type Net<'a> = dyn FnMut(usize, &Transmit) -> Vec<(Duration, IpAddr, Vec<u8>)> + 'a;

/// A pinger on virtual time, with what it sent and reported.
struct Sim {
    p: Pinger,
    now: Instant,
    pending: Vec<(Instant, usize, IpAddr, Vec<u8>)>,
    sent: Vec<(Instant, Transmit)>,
    events: Vec<(Instant, PingCheckId, TargetStats)>,
}

impl Sim {
    fn new(p: Pinger) -> Sim {
        Sim { p, now: Instant::ZERO, pending: Vec::new(), sent: Vec::new(), events: Vec::new() }
    }

    /// Runs up to `end` (or until nothing is left to do before it), as a driver would.
    fn run_until(&mut self, end: Instant, net: &mut Net<'_>) {
        loop {
            self.pending.sort_by_key(|p| (p.0, p.1));
            while self.pending.first().is_some_and(|p| p.0 <= self.now) {
                let (_, _, src, d) = self.pending.remove(0);
                self.p.handle_input(self.now, src, &d);
            }
            if self.p.poll_timeout().is_some_and(|t| t <= self.now) {
                self.p.handle_timeout(self.now);
            }
            while let Some(t) = self.p.poll_transmit(self.now) {
                let n = self.sent.len();
                for (delay, src, d) in net(n, &t) {
                    self.pending.push((self.now + delay, n, src, d));
                }
                self.sent.push((self.now, t));
            }
            let now = self.now;
            self.events.extend(std::iter::from_fn(|| self.p.poll_event()).map(|(id, st)| (now, id, st)));
            let next = [self.p.poll_timeout(), self.pending.iter().map(|p| p.0).min()].into_iter().flatten().min();
            match next {
                Some(t) if t <= end => {
                    assert!(t > self.now, "woken in the past: {t:?} <= {:?}", self.now);
                    self.now = t;
                }
                _ => {
                    self.now = self.now.max(end);
                    return;
                }
            }
        }
    }

    /// Send times of the packets to `addr`.
    fn sends_to(&self, addr: IpAddr) -> Vec<Instant> {
        self.sent.iter().filter(|(_, t)| t.destination.ip() == addr).map(|(at, _)| *at).collect()
    }
}

fn echo_after(delay: Duration) -> impl FnMut(usize, &Transmit) -> Vec<(Duration, IpAddr, Vec<u8>)> {
    move |_, t| vec![(delay, t.destination.ip(), reply(t, Version::V4))]
}

fn silence(_: usize, _: &Transmit) -> Vec<(Duration, IpAddr, Vec<u8>)> {
    vec![]
}

#[test]
fn checks_added_at_any_time_keep_their_own_pace() {
    let mut sim = Sim::new(pinger(8, 64));
    let a = sim.p.add(at(0), ip4(1), params(3, 100, 1000)).unwrap();
    let mut net = echo_after(MS);
    sim.run_until(at(50), &mut net);
    let b = sim.p.add(at(50), ip4(2), params(2, 250, 1000)).unwrap();
    sim.run_until(at(10_000), &mut net);
    assert_eq!(sim.sends_to(ip4(1)), [at(0), at(100), at(200)]);
    assert_eq!(sim.sends_to(ip4(2)), [at(50), at(300)]);
    let ends: Vec<(Instant, PingCheckId)> = sim.events.iter().map(|e| (e.0, e.1)).collect();
    assert_eq!(ends, [(at(201), a), (at(301), b)], "each ends with its last reply");
    for (_, _, st) in &sim.events {
        assert_eq!(
            (st.received, st.loss_percent(), st.min(), st.max(), st.jitter()),
            (st.sent, 0, Some(MS), Some(MS), Some(Duration::ZERO))
        );
    }
    assert_eq!((sim.events[0].2.sent, sim.events[1].2.sent), (3, 2));
    assert_eq!((sim.p.active(), sim.p.in_flight(), sim.p.poll_timeout()), (0, 0, None));
    assert_eq!(sim.p.counters().replies, 5);
}

#[test]
fn lost_packets_time_out_and_the_deadline_cuts_a_check_short() {
    let mut sim = Sim::new(pinger(8, 64));
    let lossy = sim.p.add(at(0), ip4(1), params(3, 100, 500)).unwrap();
    let cut = sim.p.add(at(0), ip4(2), PingParams { deadline: Some(250 * MS), ..params(5, 100, 1000) }).unwrap();
    sim.run_until(at(10_000), &mut silence);
    // The cut check sends at 0, 100, 200 (300 is past its deadline) and loses them
    // all at 250; the other loses each packet 500 ms after sending it.
    assert_eq!(sim.sends_to(ip4(2)), [at(0), at(100), at(200)]);
    let ends: Vec<_> = sim.events.iter().map(|e| (e.0, e.1, e.2.sent, e.2.received, e.2.loss_percent())).collect();
    assert_eq!(ends, [(at(250), cut, 3, 0, 100), (at(700), lossy, 3, 0, 100)]);
    assert_eq!(sim.events[1].2.avg(), None);
}

#[test]
fn duplicates_and_late_replies_are_counted_even_when_the_entry_was_reused() {
    // One entry in the table: packet 1 waits for packet 0's timeout and then takes
    // sequence number 0 too. Packet 0's reply comes after that: late, and it must
    // not answer packet 1. Packet 2 is answered twice before its entry is reused.
    let mut sim = Sim::new(pinger(8, 1));
    let id = sim.p.add(at(0), ip4(1), params(4, 10, 100)).unwrap();
    sim.run_until(at(10_000), &mut |n, t| {
        let d = reply(t, Version::V4);
        let src = t.destination.ip();
        match n {
            0 => vec![(120 * MS, src, d)],
            1 => vec![(30 * MS, src, d)],
            2 => vec![(MS, src, d.clone()), (2 * MS, src, d)],
            _ => vec![(MS, src, d)],
        }
    });
    let seqs: Vec<u16> = sim.sent.iter().map(|(_, t)| request(t, Version::V4).1).collect();
    assert_eq!(seqs, [0, 0, 0, 0]);
    assert_eq!(sim.sends_to(ip4(1)), [at(0), at(100), at(130), at(140)], "each waits for the entry");
    let (when, got, st) = sim.events[0];
    assert_eq!((when, got), (at(141), id));
    assert_eq!((st.sent, st.received, st.late, st.duplicates, st.loss_percent()), (4, 3, 1, 1, 25));
    assert_eq!((st.min(), st.max()), (Some(MS), Some(30 * MS)), "packet 1's own round trip");
}

#[test]
fn a_rewritten_identifier_is_accepted_only_where_the_kernel_rewrites_it() {
    for check_ident in [false, true] {
        let config = PingerConfig { check_ident, ident: 7, cookie: 9, ..PingerConfig::default() };
        let mut p = Pinger::new(config, Version::V4).unwrap();
        p.add(at(0), ip4(3), params(1, 10, 100)).unwrap();
        let t = p.poll_transmit(at(0)).unwrap();
        let (_, seq_no, data) = request(&t, Version::V4);
        // Datagram sockets deliver the reply without an IP header.
        p.handle_input(at(1), ip4(3), &emit(Version::V4, Repr::EchoReply { ident: 40_000, seq_no, data: &data }));
        let c = p.counters();
        assert_eq!(
            (c.replies, c.foreign, p.poll_event().is_some()),
            if check_ident { (0, 1, false) } else { (1, 0, true) }
        );
    }
}

#[test]
fn foreign_and_orphaned_datagrams_are_counted_and_dropped() {
    let mut p = pinger(4, 16);
    let id = p.add(at(0), ip4(3), params(1, 10, 1000)).unwrap();
    let t = p.poll_transmit(at(0)).unwrap();
    let (ident, seq_no, data) = request(&t, Version::V4);
    let mut other_cookie = data.clone();
    other_cookie[0] ^= 1;
    let mut bad_checksum = reply(&t, Version::V4);
    bad_checksum[30] ^= 0xff;
    let junk: Vec<Vec<u8>> = vec![
        emit(Version::V4, Repr::EchoReply { ident: ident ^ 1, seq_no, data: &data }),
        emit(Version::V4, Repr::EchoReply { ident, seq_no, data: &other_cookie }),
        // Our own request looping back through lo.
        t.payload.clone(),
        emit(Version::V4, Repr::EchoReply { ident, seq_no, data: &data[..8] }),
        bad_checksum,
        vec![0x45, 0, 0, 20],
        vec![],
        // An error quoting our packet to another destination.
        unreachable(&t, ip4(4)),
    ];
    for d in &junk {
        p.handle_input(at(1), ip4(3), d);
    }
    // The right reply from the wrong address (another 127/8 host).
    p.handle_input(at(1), ip4(4), &reply(&t, Version::V4));
    assert_eq!(p.counters().foreign, junk.len() as u64 + 1);
    assert_eq!(p.stats(id).map(|s| (s.sent, s.received)), Some((1, 0)));
    // Cancelled: its stats come back once, and its reply is nobody's.
    assert_eq!(p.cancel(id).map(|s| s.sent), Some(1));
    assert_eq!(p.cancel(id), None);
    p.handle_input(at(2), ip4(3), &reply(&t, Version::V4));
    let c = p.counters();
    assert_eq!((c.orphaned, c.replies, p.poll_event(), p.in_flight(), p.active()), (1, 0, None, 0, 0));
    assert_eq!(p.poll_timeout(), None, "nothing left to wake up for");
}

#[test]
fn a_full_table_makes_sending_wait_and_sequence_numbers_stay_unique_in_flight() {
    let mut sim = Sim::new(pinger(8, 4));
    let ids: Vec<PingCheckId> = (1..=6).map(|i| sim.p.add(at(0), ip4(i), params(2, 10, 100)).unwrap()).collect();
    sim.run_until(at(10_000), &mut silence);
    assert_eq!(sim.sent.iter().filter(|(t, _)| *t == at(0)).count(), 4, "four entries");
    // Silent: a packet is in flight from its send to its timeout. No two packets
    // in flight at once share a sequence number.
    let flights: Vec<(Instant, u16)> = sim.sent.iter().map(|(at, t)| (*at, request(t, Version::V4).1)).collect();
    for (i, a) in flights.iter().enumerate() {
        for b in &flights[i + 1..] {
            assert!(a.1 != b.1 || b.0 >= a.0 + 100 * MS, "{a:?} and {b:?} overlap");
        }
    }
    assert_eq!(sim.sent.len(), 12);
    let mut ended: Vec<PingCheckId> = sim.events.iter().map(|e| e.1).collect();
    ended.sort_by_key(|id| id.slot());
    assert_eq!(ended, ids);
    assert!(sim.events.iter().all(|e| (e.2.sent, e.2.loss_percent()) == (2, 100)));
}

#[test]
fn the_slab_is_bounded_and_ids_of_ended_checks_name_nothing() {
    let mut p = pinger(2, 16);
    let a = p.add(at(0), ip4(1), params(1, 10, 100)).unwrap();
    let b = p.add(at(0), ip4(2), params(1, 10, 100)).unwrap();
    assert_eq!(p.add(at(0), ip4(3), params(1, 10, 100)), Err(PingerError::Full { max: 2 }));
    assert!(!p.has_room());
    let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    assert_eq!(p.add(at(0), v6, params(1, 10, 100)), Err(PingerError::WrongFamily { addr: v6, want: Version::V4 }));
    p.cancel(a);
    assert_eq!(p.add(at(0), ip4(3), params(0, 10, 100)), Err(PingerError::ZeroCount));
    let c = p.add(at(0), ip4(3), params(1, 10, 100)).unwrap();
    assert_eq!(c.slot(), a.slot(), "the slot is reused");
    assert_ne!(c, a, "under a new generation");
    assert_eq!((p.cancel(a), p.stats(a)), (None, None));
    assert!(p.stats(c).is_some() && p.stats(b).is_some());
    // Only c's and b's first packets go out: a's queued send is stale.
    let mut sent: Vec<IpAddr> = std::iter::from_fn(|| p.poll_transmit(at(0))).map(|t| t.destination.ip()).collect();
    sent.sort();
    assert_eq!(sent, [ip4(2), ip4(3)]);
    let bad = PingerConfig { data_len: 15, ..PingerConfig::default() };
    assert_eq!(
        Pinger::new(bad, Version::V4).unwrap_err(),
        PingerError::DataLen { got: 15, min: 16, max: super::super::ping::MAX_DATA_LEN }
    );
    let none = PingerConfig { max_checks: 0, ..PingerConfig::default() };
    assert_eq!(Pinger::new(none, Version::V4).unwrap_err(), PingerError::NoChecks);
}

#[test]
fn icmp_errors_settle_their_packet_at_once() {
    let mut sim = Sim::new(pinger(4, 16));
    let id = sim.p.add(at(0), ip4(7), params(2, 10, 5000)).unwrap();
    let router = ip4(254);
    sim.run_until(at(60_000), &mut |_, t| vec![(MS, router, with_ipv4_header(router, &unreachable(t, ip4(7))))]);
    let (when, got, st) = sim.events[0];
    assert_eq!((when, got), (at(11), id), "no wait for the timeout");
    assert_eq!((st.sent, st.errors, st.received, st.loss_percent()), (2, 2, 0, 100));
    assert_eq!(st.last_error, Some(IcmpError::Unreachable(1)));
    assert_eq!(sim.p.counters().errors, 2);
}

#[test]
fn ipv6_checks() {
    let lo = IpAddr::V6(Ipv6Addr::LOCALHOST);
    let config = PingerConfig { ident: 1, cookie: 2, ..PingerConfig::default() };
    let mut sim = Sim::new(Pinger::new(config, Version::V6).unwrap());
    sim.p.add(at(0), lo, params(2, 10, 100)).unwrap();
    sim.run_until(at(1000), &mut |_, t| vec![(3 * MS, lo, reply(t, Version::V6))]);
    assert_eq!(sim.sent[0].1.payload.len(), 64);
    assert_eq!(sim.sent[0].1.payload[0], 128, "ICMPv6 echo request");
    assert_eq!(&sim.sent[0].1.payload[2..4], &[0, 0], "checksum left to the kernel");
    let st = sim.events[0].2;
    assert_eq!((st.sent, st.received, st.avg()), (2, 2, Some(3 * MS)));
}

#[test]
fn thousands_of_checks_come_and_go_without_leaking_entries() {
    let mut sim = Sim::new(pinger(1024, 4096));
    let silent = IpAddr::from([10, 0, 0, 1]);
    let mut echo = echo_after(2 * MS);
    let mut net = |n: usize, t: &Transmit| if t.destination.ip() == silent { vec![] } else { echo(n, t) };
    let mut added = 0u32;
    // 5000 checks, 100 every 10 ms, 3 packets 20 ms apart; one in ten to a
    // silent address (and cancelled halfway through when it is a multiple of 70).
    for round in 0..50u64 {
        let mut ids = Vec::new();
        for _ in 0..100 {
            added += 1;
            let addr = if added % 10 == 0 { silent } else { ip4(added) };
            ids.push((added, sim.p.add(sim.now, addr, params(3, 20, 50)).unwrap()));
        }
        sim.run_until(at(10 * round + 5), &mut net);
        for (n, id) in ids {
            if n % 70 == 0 {
                assert!(sim.p.cancel(id).is_some());
            }
        }
        sim.run_until(at(10 * round + 10), &mut net);
    }
    sim.run_until(at(60_000), &mut net);
    let cancelled = (1..=5000).filter(|n| n % 70 == 0).count();
    assert_eq!(sim.events.len(), 5000 - cancelled);
    for (_, _, st) in &sim.events {
        assert_eq!(st.sent, 3);
        assert!(matches!((st.received, st.loss_percent()), (3, 0) | (0, 100)), "{st:?}");
    }
    assert_eq!(
        sim.events.iter().filter(|e| e.2.received == 0).count(),
        500 - cancelled,
        "every cancelled check was a silent one"
    );
    assert_eq!((sim.p.active(), sim.p.in_flight(), sim.p.poll_timeout()), (0, 0, None));
    let c = sim.p.counters();
    assert_eq!((c.foreign, c.late, c.duplicates), (0, 0, 0));
}
