//! The accelerator's runners are shared: hundreds of pings at once go out on one
//! ICMP socket per address family, and no check starts a thread.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use bergamot_netprobes::accel::BLOCKING;
use bergamot_netprobes::driver::Backend;

use super::*;

/// Inodes of the ICMP sockets (raw or datagram, both families) of this network
/// namespace, from the kernel's tables.
fn icmp_socket_inodes() -> HashSet<String> {
    let mut inodes = HashSet::new();
    for table in ["raw", "raw6", "icmp", "icmp6"] {
        let text = std::fs::read_to_string(format!("/proc/net/{table}")).unwrap_or_default();
        // Column 10 (from 0) is the inode, after the header line.
        inodes.extend(text.lines().skip(1).filter_map(|l| l.split_whitespace().nth(9).map(str::to_owned)));
    }
    inodes
}

/// How many of this process's descriptors are ICMP sockets.
fn own_icmp_sockets() -> usize {
    let icmp = icmp_socket_inodes();
    let fds = std::fs::read_dir("/proc/self/fd").unwrap();
    fds.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| l.to_str()?.strip_prefix("socket:[")?.strip_suffix(']').map(str::to_owned))
        .filter(|inode| icmp.contains(inode))
        .count()
}

/// The names of this process's threads, and how many of them belong to smol's
/// blocking pool (which comes and goes).
fn threads() -> (Vec<String>, usize) {
    let mut names: Vec<String> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .map(|n| n.trim().to_owned())
        .collect();
    let pool = names.iter().filter(|n| n.starts_with("blocking-")).count();
    names.retain(|n| !n.starts_with("blocking-"));
    names.sort();
    (names, pool)
}

/// Pings, NRPE and SNMP checks through one accelerator per backend: one ICMP socket
/// per family however many pings run at once, and the same threads after hundreds of
/// checks as after the first of each kind (smol's executor thread and async-io's
/// reactor thread, besides the test's own), but for at most [`BLOCKING`] threads of
/// smol's blocking pool resolving names.
#[test]
fn pings_share_one_socket_per_family_and_checks_start_no_threads() {
    icmp_peers();
    let dir = Scratch::new("sharing");
    let (_nrpe, nrpe_port) = start_nrpe(&dir, true);
    let (_snmpd, snmp_port) = start_snmpd(&dir);
    let ex = executor();
    let icmp = plugin("check_icmp");
    let nrpe = format!("{} -H 127.0.0.1 -p {nrpe_port} -n -c check_ok", plugin("check_nrpe"));
    let snmp = format!("{} -H 127.0.0.1 -p {snmp_port} -P 2c -o 1.3.6.1.2.1.1.5.0", plugin("check_snmp"));
    let line = |i: usize| match i % 10 {
        0 => format!("{icmp} -H ::1 -n 3 -i 20"),
        1..=5 => format!("{icmp} -H 127.0.{}.{} -n 3 -i 20", i / 200, i % 200 + 1),
        // By name: resolved on smol's blocking pool.
        6 => format!("{icmp} -H localhost -4 -n 3 -i 20"),
        7 | 8 => nrpe.clone(),
        _ => snmp.clone(),
    };
    for (io, backend) in [(IoChoice::IoUring, Backend::IoUring), (IoChoice::Epoll, Backend::Epoll)] {
        let accel = Accelerator::new(io, AccelLimits::default());
        let run = |n: usize| {
            let (opts, lines) = (AccelOptions::default(), (0..n).map(line).collect::<Vec<String>>());
            let local = smol::LocalExecutor::new();
            let tasks: Vec<_> = lines.iter().map(|l| local.spawn(accel.run_command_line(l, &opts, &ex))).collect();
            let results = smol::block_on(local.run(async {
                let mut all = Vec::new();
                for t in tasks {
                    all.push(t.await);
                }
                all
            }));
            for r in &results {
                assert!(r.native && r.backend == Some(backend), "{r:?}");
                assert_eq!(r.result.status, PluginStatus::Ok, "{r:?}");
            }
        };
        // One of each kind starts every runner (and smol's threads).
        run(10);
        let before = threads();
        let done = AtomicBool::new(false);
        let (sockets, pool) = (AtomicUsize::new(0), AtomicUsize::new(0));
        std::thread::scope(|s| {
            let sampler = s.spawn(|| {
                while !done.load(Ordering::Relaxed) {
                    sockets.fetch_max(own_icmp_sockets(), Ordering::Relaxed);
                    pool.fetch_max(threads().1, Ordering::Relaxed);
                    std::thread::yield_now();
                }
            });
            run(1000);
            done.store(true, Ordering::Relaxed);
            // Joined (not only waited for by the scope), so its thread is gone.
            sampler.join().unwrap();
        });
        assert_eq!(threads().0, before.0, "{io}");
        let (sockets, pool) = (sockets.load(Ordering::Relaxed), pool.load(Ordering::Relaxed));
        assert_eq!(sockets, 2, "{io}: this accelerator's two pingers (the last one's closed with it)");
        assert!(pool <= BLOCKING, "{io}: {pool} threads resolving names at once");
        eprintln!("{io}: threads {:?} and at most {pool} resolving, {sockets} ICMP sockets", before.0);
    }
}
