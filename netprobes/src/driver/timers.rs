//! Deadlines of many connections in one min-heap with lazy deletion, so finding the
//! next one is O(1) and updating one is O(log n) however many connections are open.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::time::Instant;

/// A heap of `(deadline, key)`. A key's deadline is whatever was pushed last for it;
/// older entries stay in the heap and are skipped when the caller's `current` check
/// says they are stale.
#[derive(Debug, Default)]
pub(crate) struct DeadlineHeap {
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
}

impl DeadlineHeap {
    pub(crate) fn with_capacity(n: usize) -> Self {
        DeadlineHeap { heap: BinaryHeap::with_capacity(n) }
    }

    pub(crate) fn push(&mut self, at: Instant, key: u64) {
        self.heap.push(Reverse((at, key)));
    }

    /// The earliest live deadline; stale entries on top are dropped on the way.
    #[cfg(test)]
    pub(crate) fn peek(&mut self, mut current: impl FnMut(u64, Instant) -> bool) -> Option<Instant> {
        while let Some(Reverse((at, key))) = self.heap.peek().copied() {
            if current(key, at) {
                return Some(at);
            }
            self.heap.pop();
        }
        None
    }

    /// The earliest entry, live or stale (a lower bound of the next live deadline).
    pub(crate) fn peek_raw(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Removes and returns one live entry due at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Instant, mut current: impl FnMut(u64, Instant) -> bool) -> Option<u64> {
        while let Some(Reverse((at, key))) = self.heap.peek().copied() {
            if at > now {
                return None;
            }
            self.heap.pop();
            if current(key, at) {
                return Some(key);
            }
        }
        None
    }

    /// Drops stale entries when the heap has grown far beyond the live set, so a
    /// session that keeps moving its deadline cannot grow memory without bound.
    pub(crate) fn compact(&mut self, live: usize, mut current: impl FnMut(u64, Instant) -> bool) {
        if self.heap.len() > 64 && self.heap.len() > live.saturating_mul(4) {
            let old = std::mem::take(&mut self.heap).into_vec();
            self.heap = old.into_iter().filter(|Reverse((at, k))| current(*k, *at)).collect();
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn stale_entries_are_skipped_and_order_is_kept() {
        let mut h = DeadlineHeap::default();
        let mut live: HashMap<u64, Instant> = HashMap::new();
        for (k, t) in [(1, 30), (2, 10), (3, 20)] {
            h.push(Instant(t), k);
            live.insert(k, Instant(t));
        }
        // Key 2 moves later: its old entry at 10 becomes stale.
        h.push(Instant(40), 2);
        live.insert(2, Instant(40));
        let cur = |live: &HashMap<u64, Instant>| {
            let l = live.clone();
            move |k: u64, at: Instant| l.get(&k) == Some(&at)
        };
        assert_eq!(h.peek(cur(&live)), Some(Instant(20)));
        assert_eq!(h.pop_due(Instant(25), cur(&live)), Some(3));
        live.remove(&3);
        assert_eq!(h.pop_due(Instant(25), cur(&live)), None);
        assert_eq!(h.pop_due(Instant(100), cur(&live)), Some(1));
        live.remove(&1);
        assert_eq!(h.pop_due(Instant(100), cur(&live)), Some(2));
        live.remove(&2);
        assert_eq!(h.peek(cur(&live)), None);
    }

    #[test]
    fn compaction_bounds_the_heap() {
        let mut h = DeadlineHeap::default();
        for t in 0..1000u64 {
            h.push(Instant(t), 7);
        }
        h.compact(1, |_, at| at == Instant(999));
        assert_eq!(h.len(), 1);
        assert_eq!(h.peek(|_, at| at == Instant(999)), Some(Instant(999)));
    }
}
