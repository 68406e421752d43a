//! The store's readers as the web layer's [`HistorySource`]: a few read-only
//! connections, each behind a lock because a SQLite connection is not shared between
//! threads; a read takes a free one, or waits for one. Nothing else: no caching, no
//! SQL.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use jiff::Timestamp;

use super::history::{AlertRow, CommentRow, DowntimeRow, HistoryEntry, HistorySource, Series};
use crate::store::{Store, StoreError, StoreReader};

/// Readers of the store for the HTTP layer.
#[derive(Debug)]
pub struct StoreHistory {
    readers: Vec<Mutex<StoreReader>>,
    next: AtomicUsize,
}

impl StoreHistory {
    /// Opens `connections` readers (at least one). Two are plenty for a few operators:
    /// reads take milliseconds, and the pages ask for three at a time.
    pub fn open(store: &Store, connections: usize) -> Result<StoreHistory, StoreError> {
        let readers = (0..connections.max(1)).map(|_| store.reader().map(Mutex::new)).collect::<Result<_, _>>()?;
        Ok(StoreHistory { readers, next: AtomicUsize::new(0) })
    }

    /// Runs `read` on a free reader, or waits for the next one in turn.
    fn with<T>(&self, read: impl FnOnce(&StoreReader) -> Result<T, StoreError>) -> Result<T, String> {
        let free = self.readers.iter().find_map(|r| r.try_lock().ok());
        let reader = match free {
            Some(r) => r,
            None => {
                // `open` makes at least one reader.
                let i = self.next.fetch_add(1, Ordering::Relaxed) % self.readers.len();
                // A reader whose holder panicked is still a valid connection: the
                // lock guards no invariant of ours.
                self.readers[i].lock().unwrap_or_else(|poisoned| poisoned.into_inner())
            }
        };
        read(&reader).map_err(|e| e.to_string())
    }
}

impl HistorySource for StoreHistory {
    fn history(&self, path: &str, limit: usize) -> Result<Vec<HistoryEntry>, String> {
        self.with(|r| r.history(path, limit))
    }
    fn readings(&self, path: &str, from: Timestamp, to: Timestamp) -> Result<Vec<Series>, String> {
        self.with(|r| r.readings(path, from, to))
    }
    fn alerts(&self, open_only: bool, limit: usize) -> Result<Vec<AlertRow>, String> {
        self.with(|r| r.alerts(open_only, limit))
    }
    fn downtimes(&self, include_ended: bool, now: Timestamp) -> Result<Vec<DowntimeRow>, String> {
        self.with(|r| r.downtimes(include_ended, now))
    }
    fn comments(&self, path: &str) -> Result<Vec<CommentRow>, String> {
        self.with(|r| r.comments(path))
    }
}
