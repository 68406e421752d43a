//! The daemon's own health, written to `DATA/health.json` every 10 s and at exit
//! (atomically: a reader never sees half a file): checks due, started and completed,
//! lateness, queue depths, start-up times. Benchmarks and operators read it; the HTTP
//! API will serve the same figures.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::clock::Clock;
use crate::engine::core::Engine;
use crate::plan::Plan;

#[derive(Debug)]
pub struct Writer {
    path: PathBuf,
    tmp: PathBuf,
    clock: Clock,
    startup_ms: f64,
    first_check_ms: Option<f64>,
    warned: bool,
}

impl Writer {
    pub fn new(data: &Path, clock: Clock) -> Writer {
        Writer {
            path: data.join("health.json"),
            tmp: data.join(".health.json.tmp"),
            clock,
            startup_ms: clock.uptime_ms(),
            first_check_ms: None,
            warned: false,
        }
    }

    /// Notes that a check was started (the first one's time is kept).
    pub fn started_one(&mut self) {
        if self.first_check_ms.is_none() {
            self.first_check_ms = Some(self.clock.uptime_ms());
        }
    }

    /// The health document: the engine's figures, the store's, memory, start-up.
    pub fn document(&self, engine: &Engine, plan: &Plan, store: serde_json::Value) -> serde_json::Value {
        let h = engine.health();
        json!({
            "at": self.clock.now().to_string(),
            "uptime_s": self.clock.uptime_ms() / 1000.0,
            "checks": plan.len(),
            // Checks that run on a schedule, as documented: the engine's own count
            // leaves out those in flight (off the timer wheel until they finish).
            "scheduled": plan.active().count(),
            "startup_ms": self.startup_ms,
            "first_check_ms": self.first_check_ms,
            "due": h.due,
            "started": h.started,
            "completed": h.completed,
            "skipped_late": h.skipped_late,
            "skipped_period": h.skipped_period,
            "skipped_running": h.skipped_running,
            "queued": h.queued,
            "in_flight": h.in_flight,
            "lateness_ms": h.lateness,
            "results": h.results,
            "rss_kib": rss_kib(),
            "store": store,
        })
    }

    pub fn write(&mut self, engine: &Engine, plan: &Plan, store: serde_json::Value) {
        let doc = self.document(engine, plan, store);
        let text = match serde_json::to_vec_pretty(&doc) {
            Ok(t) => t,
            Err(_) => return,
        };
        let r = std::fs::write(&self.tmp, text).and_then(|()| std::fs::rename(&self.tmp, &self.path));
        match r {
            Ok(()) => self.warned = false,
            Err(e) if !self.warned => {
                tracing::warn!("cannot write {}: {e}", self.path.display());
                self.warned = true;
            }
            Err(_) => {}
        }
    }
}

/// Resident set of this process (VmRSS), in KiB.
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
