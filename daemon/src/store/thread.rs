//! The writer thread: waits for a reason to write (the batch window of the oldest
//! pending write, a big batch, an operator action, a retention step), takes
//! everything pending, writes it in one transaction, answers durable writes, and on
//! failure keeps the data for the next try.
//!
//! The only place that reads the clock: a monotonic one for the window, and wall
//! time once per run of failures for health's `since`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use jiff::Timestamp;

use super::StoreError;
use super::batch::{Batch, BatchWriter};
use super::queue::{BIG_BATCH, EVENT_CAPACITY, READING_CAPACITY, SWEEP_EVERY, Shared};

/// Runs until [`super::Store::close`] (or drop): the final batch's error, if any.
pub(crate) fn run(shared: Arc<Shared>, mut writer: BatchWriter, window: Duration) -> Result<(), StoreError> {
    let mut batch = Batch::default();
    let mut next_sweep = Instant::now() + SWEEP_EVERY;
    // A retention pass in progress goes one chunk per batch window.
    let mut sweeping = false;
    let mut next_chunk = Instant::now();
    let mut retry_at: Option<Instant> = None;
    loop {
        let mut q = shared.lock();
        loop {
            if q.stop || !q.ops.is_empty() {
                break;
            }
            let now = Instant::now();
            let may_retry = retry_at.is_none_or(|r| now >= r);
            let due = q.oldest.map(|o| o + window);
            let big = q.events.len() + q.readings.len() >= BIG_BATCH;
            let sweep_due = if sweeping { now >= next_chunk } else { now >= next_sweep };
            if may_retry && (big || due.is_some_and(|d| now >= d) || sweep_due) {
                break;
            }
            let mut until = if sweeping { next_chunk } else { next_sweep };
            if let Some(d) = due {
                until = until.min(d);
            }
            if let Some(r) = retry_at {
                until = until.max(r);
            }
            q = shared.wake.wait_timeout(q, until.saturating_duration_since(now)).map(|(g, _)| g).unwrap_or_else(|p| {
                let (g, _) = p.into_inner();
                g
            });
        }
        let stopping = q.stop;
        let oldest = q.oldest.take();
        let spare = std::mem::take(&mut q.spare);
        batch.states = std::mem::replace(&mut q.states, spare);
        batch.events.extend(q.events.drain(..));
        batch.readings.extend(q.readings.drain(..));
        batch.ops.append(&mut q.ops);
        drop(q);

        let now = Instant::now();
        if !stopping && !sweeping && now >= next_sweep {
            sweeping = true;
            next_sweep = now + SWEEP_EVERY;
        }
        let chunk = sweeping && !stopping && now >= next_chunk;
        if chunk {
            next_chunk = now + window;
        }
        let started = Instant::now();
        let result = writer.write(&mut batch, chunk);
        let took = started.elapsed();
        match result {
            Ok(outcome) => {
                if outcome.sweep_done {
                    sweeping = false;
                }
                if outcome.committed {
                    shared.batches.fetch_add(1, Ordering::Relaxed);
                    shared.rows_written.fetch_add(outcome.rows, Ordering::Relaxed);
                    shared.last_batch_ms.store(took.as_millis() as u64, Ordering::Relaxed);
                }
                retry_at = None;
                recovered(&shared);
                batch.events.clear();
                batch.readings.clear();
                batch.states.clear();
                // The drained map keeps its capacity for the next window.
                shared.lock().spare = std::mem::take(&mut batch.states);
                // Health first: a caller told of the commit sees it.
                for ((_, reply), r) in batch.ops.drain(..).zip(outcome.replies) {
                    let _ = reply.try_send(Ok(r));
                }
            }
            Err(e) => {
                // Health and the queue first: a caller told of the failure sees it.
                shared.failed_batches.fetch_add(1, Ordering::Relaxed);
                failed(&shared, &e);
                if !stopping {
                    requeue(&shared, &mut batch, oldest);
                }
                for (_, reply) in batch.ops.drain(..) {
                    let _ = reply.try_send(Err(e.clone()));
                }
                if stopping {
                    tracing::error!("store: stopping with writes not saved: {e}");
                    finish(&shared);
                    return Err(e);
                }
                retry_at = Some(Instant::now() + window);
            }
        }
        if stopping {
            finish(&shared);
            return Ok(());
        }
    }
}

/// Puts a failed batch back in front of what arrived since, within the bounds.
fn requeue(shared: &Shared, batch: &mut Batch, oldest: Option<Instant>) {
    let mut q = shared.lock();
    for (path, p) in batch.states.drain() {
        // A newer state (or removal) that arrived meanwhile wins.
        q.states.entry(path).or_insert(p);
    }
    for e in batch.events.drain(..).rev() {
        q.events.push_front(e);
    }
    for r in batch.readings.drain(..).rev() {
        q.readings.push_front(r);
    }
    let (mut de, mut dr) = (0, 0);
    while q.events.len() > EVENT_CAPACITY {
        q.events.pop_back();
        de += 1;
    }
    while q.readings.len() > READING_CAPACITY {
        q.readings.pop_back();
        dr += 1;
    }
    q.oldest = match (q.oldest, oldest) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    if !q.has_data() {
        q.oldest = None;
    }
    drop(q);
    shared.dropped_events.fetch_add(de, Ordering::Relaxed);
    shared.dropped_readings.fetch_add(dr, Ordering::Relaxed);
}

/// Logged once per run of failures of one kind; always in health.
fn failed(shared: &Shared, e: &StoreError) {
    let mut f = shared.failure();
    if !f.failing || f.kind != e.kind() {
        tracing::error!("store: cannot write the database, keeping pending writes and retrying: {e}");
        // Wall time for the operator, read on the writer thread (a driver), not in
        // any logic.
        f.since = Some(Timestamp::now().to_string());
    }
    f.failing = true;
    f.kind = e.kind();
    f.last_error = Some(e.to_string());
}

fn recovered(shared: &Shared) {
    let mut f = shared.failure();
    if f.failing {
        f.failing = false;
        tracing::warn!("store: writing again after: {}", f.last_error.as_deref().unwrap_or("an error"));
    }
}

/// Marks the thread gone and fails operator actions that raced with the stop.
fn finish(shared: &Shared) {
    let mut q = shared.lock();
    q.stopped = true;
    for (_, reply) in q.ops.drain(..) {
        let _ = reply.try_send(Err(StoreError::Closed));
    }
}
