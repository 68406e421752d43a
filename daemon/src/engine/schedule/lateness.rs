//! How late checks start, for the daemon's own health: a fixed-size log-linear
//! histogram of `start - due` and the scheduler's counters. Not a metrics library and
//! not a time series: one window, reset by whoever reports it.
//!
//! Buckets are exact below 32 ms, then 32 per power of two (each at most 1/32, about
//! 3%, of its values wide) up to 2^22 ms (about 70 minutes); later starts share the
//! last bucket and the exact maximum is kept apart. Recording is an index computation
//! and an increment: no allocation.

use jiff::Timestamp;
use serde::Serialize;

/// Sub-buckets per power of two: 2^5.
const SUB_BITS: u32 = 5;
const SUB: usize = 1 << SUB_BITS;
/// Values at or above 2^TOP_BITS ms share the last bucket.
const TOP_BITS: u32 = 22;
const BUCKETS: usize = SUB + (TOP_BITS - SUB_BITS) as usize * SUB + 1;

/// Lateness of started checks in one window, in milliseconds.
#[derive(Debug, Clone)]
pub struct Lateness {
    buckets: [u64; BUCKETS],
    count: u64,
    sum_ms: u64,
    max_ms: u64,
}

/// What the health report shows of a [`Lateness`] window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LatenessSnapshot {
    pub count: u64,
    pub mean_ms: u64,
    pub p50_ms: u64,
    pub p99_ms: u64,
    pub max_ms: u64,
}

/// Running totals since start-up. `skipped_late`: phase slots a check missed because
/// it ran (or finished) after its next slot; `skipped_period`: phase slots outside the
/// check's time period. Neither is a lost check: the check runs at its next slot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    pub due: u64,
    pub skipped_late: u64,
    pub skipped_period: u64,
}

/// The scheduler's part of the daemon health report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Health {
    #[serde(flatten)]
    pub counters: Counters,
    /// Checks started (by the dispatcher) since start-up.
    pub started: u64,
    /// Checks due but waiting for an engine or host cap.
    pub queued_now: u64,
    pub in_flight: u64,
    pub lateness: LatenessSnapshot,
}

impl Default for Lateness {
    fn default() -> Self {
        Lateness { buckets: [0; BUCKETS], count: 0, sum_ms: 0, max_ms: 0 }
    }
}

impl Lateness {
    /// Records a check due at `due` that started at `start` (an early start counts as 0).
    pub fn record(&mut self, due: Timestamp, start: Timestamp) {
        let ms = start.duration_since(due).as_millis();
        self.record_ms(u64::try_from(ms).unwrap_or(if ms < 0 { 0 } else { u64::MAX }));
    }

    pub fn record_ms(&mut self, ms: u64) {
        self.buckets[bucket(ms)] += 1;
        self.count += 1;
        self.sum_ms = self.sum_ms.saturating_add(ms);
        self.max_ms = self.max_ms.max(ms);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn max(&self) -> u64 {
        self.max_ms
    }

    pub fn p50(&self) -> u64 {
        self.quantile(0.5)
    }

    pub fn p99(&self) -> u64 {
        self.quantile(0.99)
    }

    /// The `q` quantile (0..=1) as the upper edge of its bucket, never above the
    /// maximum: at most one bucket width (about 3%) above the exact value, never
    /// below it. 0 for an empty window.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        // The rank of the nearest-rank quantile, 1-based; counts are far below 2^52,
        // so the float product is exact enough.
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return upper(i).min(self.max_ms);
            }
        }
        self.max_ms
    }

    pub fn snapshot(&self) -> LatenessSnapshot {
        LatenessSnapshot {
            count: self.count,
            mean_ms: self.sum_ms.checked_div(self.count).unwrap_or(0),
            p50_ms: self.p50(),
            p99_ms: self.p99(),
            max_ms: self.max_ms,
        }
    }

    /// Starts a new window.
    pub fn reset_window(&mut self) {
        *self = Lateness::default();
    }
}

fn bucket(ms: u64) -> usize {
    if ms < SUB as u64 {
        return ms as usize;
    }
    let top = 63 - ms.leading_zeros();
    if top >= TOP_BITS {
        return BUCKETS - 1;
    }
    let shift = top - SUB_BITS;
    // The leading bit plus the next SUB_BITS bits: SUB..2*SUB.
    SUB + shift as usize * SUB + ((ms >> shift) as usize - SUB)
}

/// The largest value in bucket `i`.
fn upper(i: usize) -> u64 {
    if i < SUB {
        return i as u64;
    }
    if i >= BUCKETS - 1 {
        return u64::MAX;
    }
    let (group, sub) = ((i - SUB) / SUB, (i - SUB) % SUB);
    (((SUB + sub + 1) as u64) << group) - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_values_in_order() {
        let mut last = 0;
        for ms in 0..300_000u64 {
            let b = bucket(ms);
            assert!(b >= last && ms <= upper(b), "{ms} in bucket {b}");
            assert!(b == 0 || ms > upper(b - 1));
            last = b;
        }
        assert_eq!(bucket(1 << TOP_BITS), BUCKETS - 1);
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
        assert!(upper(BUCKETS - 2) == (1 << TOP_BITS) - 1);
    }

    /// Percentiles against a sorted vector of the same values.
    #[test]
    fn percentiles_within_bucket_precision() {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        for &scale in &[5u64, 200, 40_000, 3_600_000] {
            let mut h = Lateness::default();
            let mut all = Vec::new();
            for _ in 0..20_000 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                // Skewed like real lateness: mostly small, a long tail.
                let v = (state % scale) * (state >> 60) / 15;
                h.record_ms(v);
                all.push(v);
            }
            all.sort_unstable();
            for q in [0.5, 0.9, 0.99, 1.0] {
                let exact = all[((q * all.len() as f64).ceil() as usize).max(1) - 1];
                let got = h.quantile(q);
                assert!(got >= exact && got <= exact + exact / 32 + 1, "q{q} scale {scale}: {got} vs {exact}");
            }
            assert_eq!(h.max(), *all.last().unwrap());
            assert_eq!(h.count(), all.len() as u64);
            assert_eq!(h.snapshot().mean_ms, all.iter().sum::<u64>() / all.len() as u64);
        }
    }

    #[test]
    fn record_and_reset() {
        let mut h = Lateness::default();
        assert_eq!(h.snapshot(), LatenessSnapshot { count: 0, mean_ms: 0, p50_ms: 0, p99_ms: 0, max_ms: 0 });
        let due: Timestamp = "2026-05-04T09:00:00Z".parse().unwrap();
        h.record(due, "2026-05-04T09:00:01.5Z".parse().unwrap());
        h.record(due, "2026-05-04T08:59:59Z".parse().unwrap()); // early: 0
        h.record(due, "2026-05-04T11:00:00Z".parse().unwrap()); // beyond the last bucket
        assert_eq!((h.count(), h.max()), (3, 7_200_000));
        assert!((1_500..=1_503).contains(&h.p50()), "{}", h.p50());
        assert_eq!(h.quantile(1.0), 7_200_000, "the tail reports the exact maximum");
        h.reset_window();
        assert_eq!(h.count(), 0);
    }
}
