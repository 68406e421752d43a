//! A hierarchical timer wheel with millisecond ticks: many deadlines, one timer. Not a
//! clock and not a scheduler: time is `u64` milliseconds since the wheel's origin,
//! given to [`TimerWheel::advance`]; what a deadline means is the caller's business.
//!
//! Design. Six levels of 64 slots; level `l` slots are `64^l` ms wide, so the wheel
//! spans `2^36` ms (about 795 days); later deadlines wait in an overflow list that is
//! re-examined when the wheel reaches their `2^36` ms block. An entry sits in the
//! lowest level whose slot range separates its deadline from the wheel's current
//! time (the highest bit in which they differ picks the level), so every entry of
//! level `l - 1` is due before every entry of level `l`. `advance` takes the first
//! occupied slot (found with one 64-bit occupancy mask per level, so idle stretches
//! of hours cost a few bit operations, not a tick per millisecond), fires it if it
//! is on level 0 or re-files its entries one level down ("cascades") otherwise, and
//! repeats until the next slot is after `now`. Entries live in a slab (a `Vec` with a
//! free list) and are linked into their slot with intrusive doubly linked lists, so
//! insert, cancel and reschedule are O(1) and allocate nothing once the slab has
//! grown to its working size. Keys carry a generation so a stale key never touches
//! a reused entry.
//!
//! Why our own: tokio-util's `DelayQueue` needs a tokio runtime and its time driver,
//! and smol/async-io keep timers in a `BTreeMap` (O(log n) with a node allocation per
//! timer); the daemon runs 100,000 checks with one driver timer and no runtime here.

/// Bits of time per level: 64 slots.
const LEVEL_BITS: u32 = 6;
const SLOTS: usize = 1 << LEVEL_BITS;
const LEVELS: usize = 6;
/// The wheel spans `2^WHEEL_BITS` ms; deadlines in a later block of that size overflow.
const WHEEL_BITS: u32 = LEVEL_BITS * LEVELS as u32;
const NIL: u32 = u32::MAX;
/// `Entry::loc` of an entry in the overflow list.
const OVERFLOW: u16 = (LEVELS * SLOTS) as u16;
/// `Entry::loc` of a free entry.
const FREE: u16 = u16::MAX;

/// Names one inserted entry. Stale after the entry fires or is cancelled: every
/// method then treats it as absent, even when its slab cell is reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerKey {
    index: u32,
    generation: u32,
}

#[derive(Debug)]
struct Entry<T> {
    deadline: u64,
    /// Next in the slot list, or in the free list for a free entry.
    next: u32,
    prev: u32,
    generation: u32,
    /// `level * SLOTS + slot`, `OVERFLOW` or `FREE`.
    loc: u16,
    value: Option<T>,
}

/// Where the next due slot is (see `next_expiration`).
#[derive(Debug, Clone, Copy)]
enum Due {
    Slot { level: usize, slot: usize },
    Overflow,
}

/// Deadlines in milliseconds, each carrying a `T`. See the module docs.
#[derive(Debug)]
pub struct TimerWheel<T> {
    entries: Vec<Entry<T>>,
    free: u32,
    heads: [u32; LEVELS * SLOTS],
    occupied: [u64; LEVELS],
    overflow: u32,
    /// A lower bound of the overflow list's earliest deadline (cancelling does not
    /// raise it; it is recomputed whenever the list is re-examined).
    overflow_min: u64,
    /// The wheel's current time: the latest `now` given to `advance`.
    elapsed: u64,
    len: usize,
}

impl<T> Default for TimerWheel<T> {
    fn default() -> Self {
        TimerWheel::with_capacity(0)
    }
}

impl<T> TimerWheel<T> {
    /// An empty wheel at time 0 with room for `capacity` entries before the slab grows.
    pub fn with_capacity(capacity: usize) -> Self {
        TimerWheel {
            entries: Vec::with_capacity(capacity),
            free: NIL,
            heads: [NIL; LEVELS * SLOTS],
            occupied: [0; LEVELS],
            overflow: NIL,
            overflow_min: u64::MAX,
            elapsed: 0,
            len: 0,
        }
    }

    /// Entries waiting.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Entries the slab holds without growing.
    pub fn capacity(&self) -> usize {
        self.entries.capacity()
    }

    /// The wheel's current time: the latest `now` given to `advance`.
    pub fn now(&self) -> u64 {
        self.elapsed
    }

    /// Adds `value` due at `deadline`. A deadline at or before the wheel's current
    /// time fires on the next `advance`.
    pub fn insert(&mut self, deadline: u64, value: T) -> TimerKey {
        let index = if self.free != NIL {
            let index = self.free;
            let e = &mut self.entries[index as usize];
            self.free = e.next;
            e.deadline = deadline;
            e.value = Some(value);
            index
        } else {
            // More than u32::MAX - 1 live timers would need 100+ GB of slab; the
            // index space is not the limit that bites first.
            let index = u32::try_from(self.entries.len()).ok().filter(|&i| i != NIL).unwrap_or_else(|| {
                panic!("timer wheel: more than {} entries", NIL - 1);
            });
            self.entries.push(Entry { deadline, next: NIL, prev: NIL, generation: 0, loc: FREE, value: Some(value) });
            index
        };
        self.link(index);
        self.len += 1;
        TimerKey { index, generation: self.entries[index as usize].generation }
    }

    /// Removes the entry and returns its value; `None` if the key is stale.
    pub fn cancel(&mut self, key: TimerKey) -> Option<T> {
        let index = self.live(key)?;
        self.unlink(index);
        Some(self.release(index))
    }

    /// Moves a waiting entry to a new deadline (no allocation); false if the key is stale.
    pub fn reschedule(&mut self, key: TimerKey, deadline: u64) -> bool {
        let Some(index) = self.live(key) else { return false };
        self.unlink(index);
        self.entries[index as usize].deadline = deadline;
        self.link(index);
        true
    }

    /// The deadline the entry was inserted with.
    pub fn deadline(&self, key: TimerKey) -> Option<u64> {
        self.live(key).map(|i| self.entries[i as usize].deadline)
    }

    pub fn get(&self, key: TimerKey) -> Option<&T> {
        self.live(key).and_then(|i| self.entries[i as usize].value.as_ref())
    }

    /// When `advance` next has something to do: exact when the earliest entry is in
    /// the finest level, otherwise the start of its slot, which is a lower bound (an
    /// `advance` there cascades and the next call is closer). At or before the
    /// wheel's current time when an entry is already due. `None` when empty.
    pub fn next_deadline(&self) -> Option<u64> {
        self.next_expiration().map(|(at, _)| at)
    }

    /// Moves the wheel's time to `now` and appends to `out` the value of every entry
    /// due at or before `now`, in deadline order (an entry inserted with a deadline
    /// already past counts as due at the wheel time of its insertion). A `now`
    /// earlier than the wheel's time is taken as the wheel's time. A long jump
    /// visits only occupied slots.
    pub fn advance(&mut self, now: u64, out: &mut Vec<T>) {
        let now = now.max(self.elapsed);
        while let Some((at, due)) = self.next_expiration().filter(|&(at, _)| at <= now) {
            // Never earlier: slots found are at or after the current time.
            self.elapsed = at.max(self.elapsed);
            match due {
                Due::Slot { level, slot } => {
                    let loc = level * SLOTS + slot;
                    let mut index = std::mem::replace(&mut self.heads[loc], NIL);
                    self.occupied[level] &= !(1 << slot);
                    while index != NIL {
                        let next = self.entries[index as usize].next;
                        if level == 0 {
                            // Level 0 slots are one millisecond: everything here is due at `at`.
                            out.push(self.release(index));
                        } else {
                            self.link(index);
                        }
                        index = next;
                    }
                }
                Due::Overflow => {
                    let mut index = std::mem::replace(&mut self.overflow, NIL);
                    self.overflow_min = u64::MAX;
                    while index != NIL {
                        let next = self.entries[index as usize].next;
                        self.link(index);
                        index = next;
                    }
                }
            }
        }
        self.elapsed = now;
    }

    /// The earliest slot with entries and the time at which it must be processed.
    fn next_expiration(&self) -> Option<(u64, Due)> {
        // The lowest occupied level holds the earliest entries (see module docs).
        for (level, &occupied) in self.occupied.iter().enumerate() {
            if occupied == 0 {
                continue;
            }
            let shift = LEVEL_BITS * level as u32;
            let current = (self.elapsed >> shift) as usize % SLOTS;
            let span_bits = shift + LEVEL_BITS;
            let base = self.elapsed >> span_bits << span_bits;
            let ahead = occupied & (u64::MAX << current);
            // Filing keeps every slot at or after the current one; the wrap-around
            // branch is only a guard so that a broken invariant delays nothing forever.
            let (base, slots) =
                if ahead != 0 { (base, ahead) } else { (base.saturating_add(1 << span_bits), occupied) };
            let slot = slots.trailing_zeros() as usize;
            return Some((base + ((slot as u64) << shift), Due::Slot { level, slot }));
        }
        (self.overflow != NIL).then_some((self.overflow_min >> WHEEL_BITS << WHEEL_BITS, Due::Overflow))
    }

    /// Files a detached entry by its deadline relative to the current time.
    fn link(&mut self, index: u32) {
        let when = self.entries[index as usize].deadline.max(self.elapsed);
        // The highest bit in which `when` and now differ picks the level; the low
        // bits (within one level-0 slot span) never matter.
        let differ = (when ^ self.elapsed) | (SLOTS as u64 - 1);
        let level = ((63 - differ.leading_zeros()) / LEVEL_BITS) as usize;
        let (loc, head) = if level < LEVELS {
            let slot = (when >> (LEVEL_BITS * level as u32)) as usize % SLOTS;
            self.occupied[level] |= 1 << slot;
            let loc = level * SLOTS + slot;
            (loc as u16, &mut self.heads[loc])
        } else {
            self.overflow_min = self.overflow_min.min(when);
            (OVERFLOW, &mut self.overflow)
        };
        let old = std::mem::replace(head, index);
        if old != NIL {
            self.entries[old as usize].prev = index;
        }
        let e = &mut self.entries[index as usize];
        e.next = old;
        e.prev = NIL;
        e.loc = loc;
    }

    /// Takes a waiting entry out of its list.
    fn unlink(&mut self, index: u32) {
        let (prev, next, loc) = {
            let e = &self.entries[index as usize];
            (e.prev, e.next, e.loc)
        };
        if next != NIL {
            self.entries[next as usize].prev = prev;
        }
        if prev != NIL {
            self.entries[prev as usize].next = next;
        } else if loc == OVERFLOW {
            self.overflow = next;
        } else {
            let loc = loc as usize;
            self.heads[loc] = next;
            if next == NIL {
                self.occupied[loc / SLOTS] &= !(1 << (loc % SLOTS));
            }
        }
    }

    /// Frees an unlinked entry and returns its value.
    fn release(&mut self, index: u32) -> T {
        let e = &mut self.entries[index as usize];
        e.generation = e.generation.wrapping_add(1);
        e.loc = FREE;
        e.next = self.free;
        self.free = index;
        self.len -= 1;
        // Only live entries are released (`cancel` checks the key, `advance` takes
        // them from slot lists), and a live entry always holds its value.
        e.value.take().unwrap_or_else(|| unreachable!("live timer entry without a value"))
    }

    fn live(&self, key: TimerKey) -> Option<u32> {
        let e = self.entries.get(key.index as usize)?;
        (e.generation == key.generation && e.loc != FREE).then_some(key.index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, HashMap};

    /// Deterministic xorshift64 for the randomized tests.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n.max(1)
        }
    }

    fn drain(w: &mut TimerWheel<u32>, now: u64) -> Vec<u32> {
        let mut out = Vec::new();
        w.advance(now, &mut out);
        out
    }

    #[test]
    fn fires_at_deadline_in_order() {
        let mut w = TimerWheel::with_capacity(8);
        for (deadline, v) in [(70_000, 4), (5, 1), (64, 2), (4097, 3), (0, 0)] {
            w.insert(deadline, v);
        }
        assert_eq!(w.next_deadline(), Some(0));
        assert_eq!(drain(&mut w, 4), vec![0]);
        assert_eq!(drain(&mut w, 5), vec![1]);
        assert_eq!(drain(&mut w, 4096), vec![2]);
        assert_eq!(drain(&mut w, 69_999), vec![3]);
        assert_eq!(drain(&mut w, 70_000), vec![4]);
        assert!(w.is_empty());
        assert_eq!(w.next_deadline(), None);
    }

    #[test]
    fn past_deadlines_fire_on_next_advance() {
        let mut w = TimerWheel::with_capacity(4);
        w.insert(10_000, 8);
        assert!(drain(&mut w, 9_000).is_empty());
        w.insert(3, 7);
        assert_eq!(w.next_deadline(), Some(9_000), "due now: at the wheel's time");
        // Past entries count as due when inserted, so they come first.
        assert_eq!(drain(&mut w, 10_000), vec![7, 8]);
        w.insert(0, 9);
        assert_eq!(drain(&mut w, 10_000), vec![9], "even without time passing");
    }

    #[test]
    fn cancel_and_stale_keys() {
        let mut w = TimerWheel::with_capacity(2);
        let a = w.insert(100, 1);
        let b = w.insert(100, 2);
        assert_eq!(w.cancel(a), Some(1));
        assert_eq!(w.cancel(a), None, "a cancelled key is stale");
        let c = w.insert(50, 3); // reuses a's cell
        assert_eq!(w.get(a), None);
        assert_eq!(w.deadline(c), Some(50));
        assert!(w.reschedule(b, 20));
        assert!(!w.reschedule(a, 20));
        assert_eq!(drain(&mut w, 20), vec![2]);
        assert_eq!(w.get(b), None, "a fired key is stale");
        assert_eq!(w.len(), 1);
        assert_eq!(drain(&mut w, 1_000_000), vec![3]);
    }

    #[test]
    fn long_jumps_and_overflow() {
        let mut w = TimerWheel::with_capacity(8);
        let year = 365 * 24 * 3_600_000u64;
        // Beyond the wheel's 2^36 ms span: the overflow list.
        let far = [3 * year, 10 * year, (1 << 40) + 17];
        for (i, &d) in far.iter().enumerate() {
            w.insert(d, i as u32);
        }
        w.insert(3_600_000, 99);
        assert_eq!(w.next_deadline(), Some(3_600_000 >> 18 << 18), "slot start: a lower bound");
        // One jump over hours, then over years: only occupied slots are visited (a
        // tick-by-tick walk would not finish).
        assert_eq!(drain(&mut w, 5 * 3_600_000), vec![99]);
        assert!(w.next_deadline().is_some_and(|d| d <= far[0]));
        assert_eq!(drain(&mut w, 5 * year), vec![0]);
        assert_eq!(drain(&mut w, 1 << 41), vec![1, 2]);
        assert!(w.is_empty());
    }

    #[test]
    fn next_deadline_is_a_lower_bound_and_makes_progress() {
        let mut w = TimerWheel::with_capacity(1);
        w.insert(1_234_567, 1);
        let mut wakeups = 0;
        loop {
            let at = w.next_deadline().unwrap();
            assert!(at <= 1_234_567);
            wakeups += 1;
            if !drain(&mut w, at).is_empty() {
                assert_eq!(at, 1_234_567, "level 0 is exact");
                break;
            }
        }
        // One wakeup per level the entry cascades through, not one per slot.
        assert!(wakeups <= LEVELS + 1, "{wakeups} wakeups");
    }

    /// Random inserts, cancels, reschedules and advances of random sizes against a
    /// `BTreeMap` model keyed by effective deadline (a past deadline counts as due at
    /// the time of insertion).
    #[test]
    fn matches_btreemap_model() {
        for seed in 1..=6u64 {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ seed);
            let mut w = TimerWheel::with_capacity(16);
            let mut model: BTreeMap<(u64, u32), TimerKey> = BTreeMap::new();
            let mut keys: BTreeMap<u32, (u64, TimerKey)> = BTreeMap::new();
            let mut now = 0u64;
            let mut next_value = 0u32;
            for _ in 0..4_000 {
                match rng.below(10) {
                    0..=4 => {
                        let n = 1 + rng.below(40);
                        for _ in 0..n {
                            // Mostly near, sometimes hours or years away, sometimes past.
                            let spread = [64, 5_000, 300_000, 20_000_000, 1 << 38][rng.below(5) as usize];
                            let deadline = (now + rng.below(spread)).saturating_sub(rng.below(3) * rng.below(1000));
                            let v = next_value;
                            next_value += 1;
                            let key = w.insert(deadline, v);
                            let eff = deadline.max(now);
                            model.insert((eff, v), key);
                            keys.insert(v, (eff, key));
                        }
                    }
                    5 | 6 => {
                        let victims: Vec<u32> = keys.keys().copied().filter(|_| rng.below(4) == 0).take(20).collect();
                        for v in victims {
                            let (eff, key) = keys.remove(&v).unwrap();
                            model.remove(&(eff, v));
                            if rng.below(2) == 0 {
                                assert_eq!(w.cancel(key), Some(v));
                            } else {
                                let deadline = now + rng.below(100_000);
                                assert!(w.reschedule(key, deadline));
                                model.insert((deadline, v), key);
                                keys.insert(v, (deadline, key));
                            }
                        }
                    }
                    _ => {
                        let step = [0, 1, 63, 4_000, 3_600_000, 1 << 37][rng.below(6) as usize];
                        if let Some(bound) = w.next_deadline() {
                            let earliest = model.keys().next().unwrap().0;
                            assert!(bound <= earliest, "next_deadline {bound} after earliest {earliest}");
                        } else {
                            assert!(model.is_empty());
                        }
                        now += rng.below(step + 1);
                        let mut got = Vec::new();
                        w.advance(now, &mut got);
                        let due: Vec<(u64, u32)> = model.range(..(now + 1, 0)).map(|(&k, _)| k).collect();
                        for k in &due {
                            model.remove(k);
                            keys.remove(&k.1);
                        }
                        // Same values, in deadline order (ties in any order).
                        let eff: HashMap<u32, u64> = due.iter().map(|&(e, v)| (v, e)).collect();
                        let got_eff: Vec<(u64, u32)> =
                            got.iter().map(|v| (eff.get(v).copied().unwrap_or(u64::MAX), *v)).collect();
                        assert!(got_eff.windows(2).all(|p| p[0].0 <= p[1].0), "seed {seed}: out of order");
                        let mut sorted = got_eff.clone();
                        sorted.sort();
                        assert_eq!(sorted, due, "seed {seed} at {now}");
                    }
                }
                assert_eq!(w.len(), model.len());
            }
        }
    }

    #[test]
    fn hundred_thousand_entries() {
        let n = 100_000u32;
        let mut w = TimerWheel::with_capacity(n as usize);
        let mut rng = Rng(42);
        let mut deadlines = Vec::with_capacity(n as usize);
        for v in 0..n {
            let d = rng.below(60_000);
            deadlines.push(d);
            w.insert(d, v);
        }
        assert_eq!(w.capacity(), n as usize, "no growth beyond the preallocation");
        let mut fired = vec![false; n as usize];
        let mut out = Vec::with_capacity(n as usize);
        let mut now = 0;
        while let Some(at) = w.next_deadline() {
            now = at.max(now);
            out.clear();
            w.advance(now, &mut out);
            for &v in &out {
                assert!(!fired[v as usize], "{v} fired twice");
                fired[v as usize] = true;
                assert!(deadlines[v as usize] <= now, "{v} fired early");
            }
            // The driver wakes at the bound: level-0 entries fire exactly on time.
            assert!(out.iter().all(|&v| deadlines[v as usize] == now));
        }
        assert!(fired.iter().all(|&f| f));
        // And all at once, hours late.
        for v in 0..n {
            w.insert(now + deadlines[v as usize], v);
        }
        out.clear();
        w.advance(now + 7_200_000, &mut out);
        assert_eq!(out.len(), n as usize);
        assert!(out.windows(2).all(|p| deadlines[p[0] as usize] <= deadlines[p[1] as usize]));
        assert!(w.is_empty());
    }
}
