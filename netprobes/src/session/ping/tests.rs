//! The ping session on virtual time: pacing, timeouts, sequence wrap, late and
//! duplicate replies, ICMP errors; and check_ping's thresholds.

use super::*;
use crate::session::icmp_peer::{emit, reply, request, with_ipv4_header};
use std::net::{Ipv4Addr, Ipv6Addr};

const MS: Duration = Duration::from_millis(1);

fn ip4(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x7f00_0000 + i))
}

fn cfg(count: u32) -> PingConfig {
    PingConfig { count, ident: 0x4242, cookie: 0xc0ffee, ..PingConfig::default() }
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
        assert_eq!((st.min(), st.avg(), st.max(), st.jitter()), (Some(MS), Some(MS), Some(MS), Some(Duration::ZERO)));
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
    assert!(r.events.contains(&PingEvent::Duplicate { target: 0, index: 0, rtt: 2 * MS }));
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

/// fping's default mode: one packet, 3 retries, backoff 1.5, 500 ms first timeout.
fn retrying() -> PingConfig {
    PingConfig { retries: 3, pacing: Duration::ZERO, ..cfg(1) }
}

#[test]
fn a_silent_target_is_tried_again_with_backed_off_timeouts() {
    let mut s = PingSession::new(retrying(), Version::V4, [ip4(1)], Instant::ZERO).unwrap();
    let r = run(&mut s, |_, _| vec![]);
    // Tries at 0, 500, 500+750, 1250+1125; the last waits 1687.5 ms.
    let at: Vec<Duration> = r.sent.iter().map(|(t, _)| t.saturating_since(Instant::ZERO)).collect();
    assert_eq!(at, [0, 500, 1250, 2375].map(|m| m * MS));
    assert_eq!(r.end.saturating_since(Instant::ZERO), 2375 * MS + Duration::from_micros(1_687_500));
    let lost = r.events.iter().filter(|e| matches!(e, PingEvent::Lost { index: 0, .. })).count();
    assert_eq!(lost, 4, "each try's timeout is reported");
    assert_eq!(r.events.last(), Some(&PingEvent::Done { target: 0 }));
    let st = s.target(0).unwrap().1;
    assert_eq!((st.sent, st.received), (4, 0));
    assert!(s.is_done());
}

#[test]
fn a_target_answering_only_the_third_try_is_alive_and_others_are_not_retried() {
    let mut s = PingSession::new(retrying(), Version::V4, [ip4(1), ip4(2)], Instant::ZERO).unwrap();
    let mut tries_to_1 = 0;
    let r = run(&mut s, |_, t| {
        let answer = t.destination.ip() == ip4(2) || {
            tries_to_1 += 1;
            tries_to_1 == 3
        };
        if answer { vec![(2 * MS, t.destination.ip(), reply(t, Version::V4))] } else { vec![] }
    });
    let to = |ip| r.sent.iter().filter(|(_, t)| t.destination.ip() == ip).count();
    assert_eq!((to(ip4(1)), to(ip4(2))), (3, 1));
    let (a, b) = (s.target(0).unwrap().1, s.target(1).unwrap().1);
    assert_eq!((a.sent, a.received, a.min()), (3, 1, Some(2 * MS)));
    assert_eq!((b.sent, b.received), (1, 1));
    assert!(s.is_done());
    // Done once the third try was answered: 500 + 750 + 2 ms.
    assert_eq!(r.end.saturating_since(Instant::ZERO), 1252 * MS);
}

#[test]
fn a_slow_reply_to_an_earlier_try_counts_and_the_retry_reply_is_a_duplicate() {
    // Every try is answered after 600 ms: past the first timeout (500), within the
    // second (750), as fping accepts it.
    let mut s = PingSession::new(retrying(), Version::V4, [ip4(1)], Instant::ZERO).unwrap();
    let r = run(&mut s, echo_after(600 * MS, Version::V4));
    assert_eq!(r.sent.len(), 2);
    let replies: Vec<&PingEvent> = r.events.iter().filter(|e| matches!(e, PingEvent::Reply { .. })).collect();
    assert_eq!(replies, [&PingEvent::Reply { target: 0, index: 0, rtt: 600 * MS, bytes: 64 }]);
    // The retry (sent at 500 ms) is answered at 1100 ms.
    let dup = PingEvent::Duplicate { target: 0, index: 0, rtt: 600 * MS };
    assert!(r.events.contains(&dup), "{:?}", r.events);
    let st = s.target(0).unwrap().1;
    assert_eq!((st.sent, st.received, st.duplicates), (2, 1, 1));
    assert!(s.is_done());
}

#[test]
fn a_reply_to_an_earlier_try_beyond_the_current_timeout_is_late() {
    // Only the first try is answered, after 1300 ms: the second try (sent at 500,
    // timeout 750) is still in flight, but 1300 > 750.
    let mut s = PingSession::new(retrying(), Version::V4, [ip4(1)], Instant::ZERO).unwrap();
    let r =
        run(&mut s, |n, t| if n == 0 { vec![(1300 * MS, t.destination.ip(), reply(t, Version::V4))] } else { vec![] });
    assert_eq!(r.sent.len(), 4);
    let st = s.target(0).unwrap().1;
    assert_eq!((st.received, st.late), (0, 1));
}

#[test]
fn an_icmp_error_with_retries_left_waits_for_the_timeout_then_retries() {
    let mut s = PingSession::new(retrying(), Version::V4, [ip4(1)], Instant::ZERO).unwrap();
    // Refused by a router at once, answered on the second try.
    let r = run(&mut s, |n, t| {
        let d = if n == 0 { unreachable(t, Version::V4) } else { reply(t, Version::V4) };
        let src = if n == 0 { IpAddr::V4(Ipv4Addr::LOCALHOST) } else { t.destination.ip() };
        vec![(MS, src, d)]
    });
    let at: Vec<Duration> = r.sent.iter().map(|(t, _)| t.saturating_since(Instant::ZERO)).collect();
    assert_eq!(at, [0, 500].map(|m| m * MS), "the retry goes at the first try's timeout");
    let st = s.target(0).unwrap().1;
    assert_eq!((st.sent, st.received, st.errors), (2, 1, 1));
    assert!(matches!(r.events[0], PingEvent::Error { index: 0, .. }));
}

#[test]
fn retries_are_refused_in_count_mode_and_backoff_is_bounded() {
    let bad = |c: PingConfig| PingSession::new(c, Version::V4, [ip4(1)], Instant::ZERO).unwrap_err();
    assert_eq!(bad(PingConfig { retries: 1, ..cfg(3) }), ConfigError::RetriesWithCount);
    assert_eq!(bad(PingConfig { backoff_milli: 999, ..cfg(1) }), ConfigError::Backoff(999));
    assert_eq!(
        bad(PingConfig { backoff_milli: 5001, ..cfg(1) }).to_string(),
        "backoff factor 5.0 not valid, must be between 1.0 and 5.0"
    );
}
