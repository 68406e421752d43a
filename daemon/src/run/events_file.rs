//! `--events FILE`: every event as one JSON line, appended by a thread of its own so
//! a slow disk never holds up the engine (the bus drops and counts what this
//! subscriber cannot take). Each line carries the check's path, the identity that
//! survives reloads, next to the event's own fields (`ix`, the index, is only good
//! for the plan the event came with); so does the `covered_by` of an alert.

use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde_json::json;

use super::bus::Bus;
use crate::engine::events::Event;

/// Opens (appends to) `path` and starts the writer thread; it ends when the bus goes.
pub fn start(path: &Path, bus: &Bus) -> std::io::Result<std::thread::JoinHandle<()>> {
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    let sub = bus.subscribe("events file", 1 << 16);
    std::thread::Builder::new().name("events-file".into()).spawn(move || {
        let mut out = BufWriter::new(file);
        while let Ok(first) = sub.events.recv_blocking() {
            let mut next = Some(first);
            while let Some(published) = next {
                // The plan the event came with, not the one running now: a reload may
                // have renumbered the checks since.
                let (plan, e) = (&published.plan, &published.event);
                let mut value = serde_json::to_value(e).unwrap_or_default();
                if let Some(obj) = value.as_object_mut() {
                    obj.insert("check".into(), plan.path(e.ix()).into());
                    // The covering check by path too, like the event's own: an index
                    // means nothing outside this process.
                    if let Event::Alert { covered_by: Some(cover), .. } = e {
                        let cover = json!({
                            "ix": cover.check.0,
                            "check": plan.path(cover.check),
                            "alert_id": cover.alert_id,
                        });
                        obj.insert("covered_by".into(), cover);
                    }
                }
                let _ = serde_json::to_writer(&mut out, &value);
                let _ = out.write_all(b"\n");
                next = sub.events.try_recv().ok();
            }
            // Flushed whenever the queue runs dry: readers see events within a turn.
            let _ = out.flush();
        }
    })
}
