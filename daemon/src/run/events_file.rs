//! `--events FILE`: every event as one JSON line, appended by a thread of its own so
//! a slow disk never holds up the engine (the bus drops and counts what this
//! subscriber cannot take). Each line carries the check's path, the identity that
//! survives reloads, next to the event's own fields.

use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use super::bus::Bus;
use crate::plan::Plan;

/// Opens (appends to) `path` and starts the writer thread; it ends when the bus goes.
pub fn start(path: &Path, bus: &Bus, plan: Arc<Plan>) -> std::io::Result<std::thread::JoinHandle<()>> {
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    let sub = bus.subscribe("events file", 1 << 16);
    std::thread::Builder::new().name("events-file".into()).spawn(move || {
        let mut out = BufWriter::new(file);
        while let Ok(first) = sub.events.recv_blocking() {
            let mut next = Some(first);
            while let Some(e) = next {
                let mut value = serde_json::to_value(&*e).unwrap_or_default();
                if let Some(obj) = value.as_object_mut() {
                    obj.insert("check".into(), plan.path(e.ix()).into());
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
