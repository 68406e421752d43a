//! The store's writer alone under the daemon-scale estate's load, on simulated
//! time: how much CPU the writer thread spends per simulated second.
//!
//! ```text
//! cargo run --release -p bergamot-daemon --example store_load -- DIR [CHECKS] [SECONDS]
//! ```
//!
//! CHECKS checks (default 100,000) every 60 s, each result with a state and three
//! perfdata items (about 300,000 series); SECONDS simulated seconds (default 900),
//! each pushed then flushed. Prints the writer's CPU per simulated second for each
//! minute, read from the writer thread's /proc stat, so the loader's own work is not
//! counted.

use std::time::{Duration, Instant};

use bergamot_config::status::Status;
use bergamot_daemon::engine::state::CheckState;
use bergamot_daemon::store::{Store, StoreConfig};
use jiff::Timestamp;

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().expect("usage: store_load DIR [CHECKS] [SECONDS]"));
    let checks: usize = args.next().map_or(100_000, |s| s.parse().expect("CHECKS"));
    let seconds: i64 = args.next().map_or(900, |s| s.parse().expect("SECONDS"));
    let what = args.next().unwrap_or_else(|| "both".into());
    std::fs::create_dir_all(&dir).expect("data dir");
    let (store, _) = Store::open(StoreConfig::in_dir(&dir)).expect("open");
    let w = store.writer();
    let paths: Vec<String> = (0..checks).map(|i| format!("site/host-{i:06}/service")).collect();
    let start = Timestamp::from_second(1_800_000_000).expect("time");
    let tid = writer_tid();
    let mut minute_cpu = 0.0;
    let mut minute_wall = Duration::ZERO;
    for sec in 0..seconds {
        let now = start + jiff::SignedDuration::from_secs(sec);
        let per_sec = checks / 60;
        let first = (sec as usize % 60) * per_sec;
        for (i, path) in paths.iter().enumerate().skip(first).take(per_sec) {
            let v = (i % 97) as f64 / 10.0 + (sec % 7) as f64;
            let perfdata = format!("rta={v:.3}ms;100.000;500.000;0; pl=0%;20;60;0 time={:.6}s;;;0", v / 1000.0);
            let mut state = CheckState::initial(Status::Ok, "PING OK - Packet loss = 0%, RTA = 0.05 ms", now);
            state.perfdata = perfdata.clone();
            state.last_check = Some(now);
            if what != "readings" {
                w.state(path, now, &state);
            }
            if what != "states" {
                w.readings(path, now, &perfdata);
            }
        }
        let cpu0 = thread_cpu(tid);
        let t0 = Instant::now();
        smol::block_on(w.flush()).expect("flush");
        minute_wall += t0.elapsed();
        minute_cpu += thread_cpu(tid) - cpu0;
        if sec % 60 == 59 {
            println!(
                "minute {:>3}: writer CPU {:>6.1} ms per simulated second, flush wall {:>6.1} ms",
                sec / 60 + 1,
                minute_cpu * 1000.0 / 60.0,
                minute_wall.as_secs_f64() * 1000.0 / 60.0
            );
            minute_cpu = 0.0;
            minute_wall = Duration::ZERO;
        }
    }
    let cpu0 = thread_cpu(tid);
    let t0 = Instant::now();
    let end = start + jiff::SignedDuration::from_secs(seconds);
    let deleted = smol::block_on(w.prune(end)).expect("prune");
    println!(
        "a whole retention pass: writer CPU {:.0} ms, wall {:.0} ms, {deleted} rows deleted",
        (thread_cpu(tid) - cpu0) * 1000.0,
        t0.elapsed().as_secs_f64() * 1000.0
    );
    drop(w);
    store.close().expect("close");
}

/// The writer thread's id, found by its name.
fn writer_tid() -> u32 {
    for e in std::fs::read_dir("/proc/self/task").expect("tasks").flatten() {
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        if comm.trim() == "bergamot-store" {
            return e.file_name().to_string_lossy().parse().expect("tid");
        }
    }
    panic!("no bergamot-store thread");
}

/// utime + stime of a thread, in seconds.
fn thread_cpu(tid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).expect("stat");
    let after = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().expect("utime") + f[12].parse::<f64>().expect("stime");
    ticks / 100.0
}
