//! One batch as one transaction: events, latest states, readings, then operator
//! actions (which may refer to an alert written by the same batch), and a step of
//! the readings' retention pass. Statements are prepared once and cached.
//!
//! Not the timing or the queueing ([`super::writer`]); not the readings' SQL
//! ([`super::rollup`]).

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use super::queue::{EventKind, EventRow, Op, Pending, ReadingRow, Reply};
use super::history::{self, HISTORY_CHUNK};
use super::rollup::{Cutoffs, Marks, Readings};
use super::schema::status_code;
use super::{Retention, StoreError, sql_id};

/// Series visited per retention step: a few milliseconds of work per batch window.
const SWEEP_CHUNK: usize = 1_000;

/// What the writer thread took from the queue.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub states: HashMap<String, Pending>,
    pub events: Vec<EventRow>,
    pub readings: Vec<ReadingRow>,
    pub ops: Vec<(Op, Reply)>,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.states.is_empty() && self.events.is_empty() && self.readings.is_empty() && self.ops.is_empty()
    }
}

/// What a committed batch did.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub rows: u64,
    /// One per operator action, in order: the new row's id, or 1/0 for a cancel.
    pub replies: Vec<u64>,
    /// The retention pass reached its end.
    pub sweep_done: bool,
    /// A transaction was committed (false: there was nothing to write).
    pub committed: bool,
}

/// The write connection and what the writer remembers between batches.
#[derive(Debug)]
pub(crate) struct BatchWriter {
    conn: Connection,
    retention: Retention,
    /// The newest reading's time: the present for the periodic retention pass, so
    /// that retention follows the data, not the machine's clock.
    latest_ms: i64,
    /// The newest event's time: with `latest_ms`, the present for the retention of
    /// history.
    newest_event_ms: i64,
    /// The retention pass continues after this series id.
    cursor: i64,
    /// Series ids and rollup marks.
    readings: Readings,
    /// A bad row was already logged (it is skipped, the batch goes on).
    skipped_logged: bool,
}

impl BatchWriter {
    pub fn new(conn: Connection, retention: Retention) -> Result<BatchWriter, StoreError> {
        let latest_ms = conn
            .query_row("SELECT value FROM meta WHERE key = 'latest_reading'", [], |r| r.get(0))
            .optional()
            .map_err(|e| StoreError::sql("reading the store's metadata", e))?
            .unwrap_or(i64::MIN);
        let marks = Marks::load(&conn, latest_ms).map_err(|e| StoreError::sql("reading the store's metadata", e))?;
        Ok(BatchWriter {
            conn,
            retention,
            latest_ms,
            newest_event_ms: i64::MIN,
            cursor: 0,
            readings: Readings::new(marks),
            skipped_logged: false,
        })
    }

    /// Writes and commits `batch` (left as it was: the caller clears or requeues
    /// it), with one retention step when `sweep`.
    pub fn write(&mut self, batch: &mut Batch, sweep: bool) -> Result<Outcome, StoreError> {
        let mut out =
            Outcome { rows: 0, replies: Vec::with_capacity(batch.ops.len()), sweep_done: false, committed: false };
        if batch.is_empty() && !sweep {
            return Ok(out);
        }
        match self.transaction(batch, sweep, &mut out) {
            Ok(()) => Ok(out),
            Err(e) => {
                self.readings.rolled_back();
                Err(e)
            }
        }
    }

    fn transaction(&mut self, batch: &Batch, sweep: bool, out: &mut Outcome) -> Result<(), StoreError> {
        let c = |e| StoreError::sql("writing a batch", e);
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(c)?;
        let mut skipped = 0u64;
        let mut newest_event = self.newest_event_ms;
        for e in &batch.events {
            out.rows += tolerate(write_event(&tx, e), &mut skipped)?;
            newest_event = newest_event.max(e.at);
        }
        for (path, p) in &batch.states {
            out.rows += tolerate(write_state(&tx, path, p), &mut skipped)?;
        }
        let mut latest = self.latest_ms;
        let mut marks = self.readings.marks;
        for r in &batch.readings {
            out.rows += tolerate(self.readings.write(&tx, r, &mut marks, &mut latest), &mut skipped)?;
        }
        if latest != self.latest_ms {
            tx.prepare_cached("INSERT INTO meta (key, value) VALUES ('latest_reading', ?1) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
                .and_then(|mut s| s.execute([latest]))
                .map_err(c)?;
        }
        for (op, _) in &batch.ops {
            let r = match op {
                Op::Prune { now } => {
                    // Everything closed as of `now` is rolled up first, so that raw
                    // points of a check gone quiet can expire.
                    loop {
                        self.readings.roll_step(&tx, *now, &mut marks).map_err(c)?;
                        if marks.pass.is_none() && !self.readings.bucket_closed(*now, &marks) {
                            break;
                        }
                    }
                    let cuts = Cutoffs::new(&self.retention, *now, &marks);
                    let mut deleted = 0;
                    let cutoff = history_cutoff(&self.retention, *now);
                    loop {
                        let n = history::prune_step(&tx, cutoff, HISTORY_CHUNK).map_err(c)?;
                        deleted += n;
                        if n == 0 {
                            break;
                        }
                    }
                    let mut after = 0;
                    loop {
                        let (next, n) = self.readings.sweep_chunk(&tx, after, SWEEP_CHUNK, &cuts).map_err(c)?;
                        deleted += n;
                        match next {
                            Some(id) => after = id,
                            None => break,
                        }
                    }
                    deleted
                }
                op => write_op(&tx, op).map_err(|e| StoreError::sql("writing an operator action", e))?,
            };
            out.replies.push(r);
        }
        out.rows += self.readings.roll_step(&tx, latest, &mut marks).map_err(c)?;
        let mut cursor = self.cursor;
        let present = latest.max(newest_event);
        // Once per retention pass, at its start.
        if sweep && cursor == 0 && present != i64::MIN {
            out.rows += history::prune_step(&tx, history_cutoff(&self.retention, present), HISTORY_CHUNK).map_err(c)?;
        }
        if sweep && latest != i64::MIN {
            let cuts = Cutoffs::new(&self.retention, latest, &marks);
            let (next, n) = self.readings.sweep_chunk(&tx, cursor, SWEEP_CHUNK, &cuts).map_err(c)?;
            out.rows += n;
            cursor = next.unwrap_or(0);
            out.sweep_done = next.is_none();
        } else if sweep {
            out.sweep_done = true;
        }
        if marks != self.readings.marks {
            marks.save(&tx).map_err(c)?;
        }
        tx.commit().map_err(c)?;
        out.committed = true;
        self.readings.committed(marks);
        self.latest_ms = latest;
        self.newest_event_ms = newest_event;
        self.cursor = cursor;
        if skipped > 0 && !self.skipped_logged {
            self.skipped_logged = true;
            tracing::warn!("store: skipped {skipped} row(s) the database refused (logged once)");
        }
        Ok(())
    }
}

/// History older than this (ms) goes, for a present `now`.
fn history_cutoff(retention: &Retention, now: i64) -> i64 {
    now.saturating_sub(i64::try_from(retention.history.as_millis()).unwrap_or(i64::MAX))
}

/// A row-level refusal (a constraint, a value out of range) skips that row; an
/// error of the database or the disk fails the batch.
fn tolerate(r: rusqlite::Result<u64>, skipped: &mut u64) -> Result<u64, StoreError> {
    match r {
        Ok(n) => Ok(n),
        Err(e) => match StoreError::sql("writing a row", e) {
            StoreError::Sql { message, .. } => {
                tracing::debug!("store: row skipped: {message}");
                *skipped += 1;
                Ok(0)
            }
            fatal => Err(fatal),
        },
    }
}

fn write_event(tx: &Transaction<'_>, e: &EventRow) -> rusqlite::Result<u64> {
    let status = e.status.map(status_code);
    let mut rows = history(tx, &e.path, e.at, e.kind.as_str(), status, e.hard, e.attempt, &e.output, e.alert_id, None)?;
    rows += match e.kind {
        EventKind::Alert => {
            let (cover, cover_alert) = match &e.cover {
                Some((p, a)) => (Some(p.as_str()), *a),
                None => (None, None),
            };
            // Alert ids are unique (the engine continues after the highest stored);
            // a repeat keeps the first record.
            tx.prepare_cached(
                "INSERT INTO alerts (id, path, opened, status, worst, covered_by, covered_by_alert, notified)
                 VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO NOTHING",
            )?
            .execute(params![
                e.alert_id.map(sql_id),
                e.path,
                e.at,
                status,
                cover,
                cover_alert.map(sql_id),
                e.notify
            ])?
        }
        EventKind::Renotify => tx
            .prepare_cached(
                "UPDATE alerts SET status = ?2, worst = max(worst, ?2), notified = (notified OR ?3) WHERE id = ?1",
            )?
            .execute(params![e.alert_id.map(sql_id), status, e.notify])?,
        EventKind::Recovery => tx
            .prepare_cached("UPDATE alerts SET status = ?2, closed = ?3 WHERE id = ?1 AND closed IS NULL")?
            .execute(params![e.alert_id.map(sql_id), status, e.at])?,
        EventKind::StateChange | EventKind::FlappingStarted | EventKind::FlappingStopped => 0,
    } as u64;
    Ok(rows)
}

#[allow(clippy::too_many_arguments)]
fn history(
    tx: &Transaction<'_>,
    path: &str,
    at: i64,
    kind: &str,
    status: Option<i64>,
    hard: Option<bool>,
    attempt: Option<u32>,
    output: &str,
    alert_id: Option<u64>,
    by: Option<&str>,
) -> rusqlite::Result<u64> {
    let n = tx
        .prepare_cached(
            "INSERT INTO history (path, at, kind, status, hard, attempt, output, alert_id, by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![path, at, kind, status, hard, attempt, output, alert_id.map(sql_id), by])?;
    Ok(n as u64)
}

fn write_state(tx: &Transaction<'_>, path: &str, p: &Pending) -> rusqlite::Result<u64> {
    let n = match p {
        Pending::Removed => tx.prepare_cached("DELETE FROM checks WHERE path = ?1")?.execute([path])?,
        Pending::Save { at, state: s, cover_path } => {
            let cover = s.covered_by.as_ref();
            tx.prepare_cached(
                "INSERT INTO checks (path, saved, status, output, long_output, perfdata, ok, hard, attempt,
                    last_hard_status, last_hard_change, last_change, last_check, acknowledged, suppressed,
                    in_downtime, flapping, history, history_len, alert, alert_worst, alert_notified,
                    covered_by_ix, covered_by_path, covered_by_alert)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,
                    ?20, ?21, ?22, ?23, ?24, ?25)
                 ON CONFLICT (path) DO UPDATE SET saved = excluded.saved, status = excluded.status,
                    output = excluded.output, long_output = excluded.long_output, perfdata = excluded.perfdata,
                    ok = excluded.ok, hard = excluded.hard, attempt = excluded.attempt,
                    last_hard_status = excluded.last_hard_status, last_hard_change = excluded.last_hard_change,
                    last_change = excluded.last_change, last_check = excluded.last_check,
                    acknowledged = excluded.acknowledged, suppressed = excluded.suppressed,
                    in_downtime = excluded.in_downtime, flapping = excluded.flapping, history = excluded.history,
                    history_len = excluded.history_len, alert = excluded.alert, alert_worst = excluded.alert_worst,
                    alert_notified = excluded.alert_notified, covered_by_ix = excluded.covered_by_ix,
                    covered_by_path = excluded.covered_by_path, covered_by_alert = excluded.covered_by_alert",
            )?
            .execute(params![
                path,
                at,
                status_code(s.status),
                s.output,
                s.long_output,
                s.perfdata,
                s.ok,
                s.hard,
                s.attempt,
                status_code(s.last_hard_status),
                super::ms(s.last_hard_change),
                super::ms(s.last_change),
                s.last_check.map(super::ms),
                s.acknowledged.map(super::ms),
                s.suppressed,
                s.in_downtime,
                s.flapping,
                s.history,
                s.history_len,
                s.alert.map(sql_id),
                status_code(s.alert_worst),
                s.alert_notified,
                cover.map(|c| c.check.0),
                cover.map(|_| cover_path.as_deref().unwrap_or("")),
                cover.and_then(|c| c.alert_id).map(sql_id),
            ])?
        }
    };
    Ok(n as u64)
}

/// An operator action other than a prune; returns the reply.
fn write_op(tx: &Transaction<'_>, op: &Op) -> rusqlite::Result<u64> {
    match op {
        Op::Acknowledge { path, alert_id, at, by, comment } => {
            history(tx, path, *at, "acknowledged", None, None, None, comment, *alert_id, Some(by))?;
            if let Some(id) = alert_id {
                tx.prepare_cached(
                    "UPDATE alerts SET acknowledged_at = ?2, acknowledged_by = ?3, ack_comment = ?4 WHERE id = ?1",
                )?
                .execute(params![sql_id(*id), at, by, comment])?;
            }
            // The saved state too: a kill before the engine's next state of this
            // check is written must not forget the acknowledgement.
            tx.prepare_cached("UPDATE checks SET acknowledged = ?2 WHERE path = ?1 AND acknowledged IS NULL")?
                .execute(params![path, at])?;
            Ok(0)
        }
        Op::Comment { path, at, by, text } => {
            tx.prepare_cached("INSERT INTO comments (path, at, by, text) VALUES (?1, ?2, ?3, ?4)")?
                .execute(params![path, at, by, text])?;
            let id = tx.last_insert_rowid();
            history(tx, path, *at, "comment", None, None, None, text, None, Some(by))?;
            Ok(id as u64)
        }
        Op::AddDowntime(d) => {
            let (from, to) = (super::ms(d.from), d.to.map(super::ms));
            tx.prepare_cached(
                "INSERT INTO downtimes (path, start, stop, period, comment, by, created)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![d.path, from, to, d.period, d.comment, d.by, super::ms(d.created)])?;
            let id = tx.last_insert_rowid();
            let mut what = format!("downtime #{id} from {}", d.from);
            if let Some(to) = d.to {
                what.push_str(&format!(" to {to}"));
            }
            if let Some(p) = &d.period {
                what.push_str(&format!(" while {p}"));
            }
            if !d.comment.is_empty() {
                what.push_str(": ");
                what.push_str(&d.comment);
            }
            history(tx, &d.path, super::ms(d.created), "downtime", None, None, None, &what, None, Some(&d.by))?;
            Ok(id as u64)
        }
        Op::CancelDowntime { id, at, by } => {
            let path: Option<String> = tx
                .prepare_cached(
                    "UPDATE downtimes SET cancelled = ?2 WHERE id = ?1 AND cancelled IS NULL RETURNING path",
                )?
                .query_row(params![sql_id(*id), at], |r| r.get(0))
                .optional()?;
            let Some(path) = path else { return Ok(0) };
            let what = format!("downtime #{id} cancelled");
            history(tx, &path, *at, "downtime-cancelled", None, None, None, &what, None, Some(by))?;
            Ok(1)
        }
        Op::ConfigApplied { version, at, summary } => {
            tx.prepare_cached("INSERT INTO config_applied (version, at, summary) VALUES (?1, ?2, ?3)")?
                .execute(params![version, at, summary])?;
            Ok(0)
        }
        Op::Flush | Op::Prune { .. } => Ok(0),
    }
}
