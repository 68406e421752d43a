//! The running daemon: one loop, on smol's executor thread, that owns the engine.
//! Each turn it starts due checks, applies results, answers API calls, saves
//! changed state and events to the store and publishes events; reloads load the
//! configuration off the loop and swap the engine in one turn.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::future;
use jiff::Timestamp;
use smol::channel::{Receiver, Sender, unbounded};
use tracing::{error, info, warn};

use super::bus::Bus;
use super::clock::Clock;
use super::health;
use super::reload::{self, Loaded};
use super::views;
use super::{build_spec, spawn_check};
use crate::api::{Action, ApiError, Call, ReloadView, Reply, Request, Response};
use crate::engine::core::Engine;
use crate::engine::events::Event;
use crate::engine::ops::{ActionError, Downtime};
use crate::engine::{CheckIx, CheckResult};
use crate::exec::Runner;
use crate::plan::Plan;
use crate::store::{NewDowntime, StoreWriter};

/// A finished check, back from its task; `token` names the run (indices change
/// with a reload, tokens do not).
pub struct Done {
    pub token: u64,
    pub result: CheckResult,
}

/// What wakes the loop besides results and timers.
pub enum Internal {
    /// A reload's configuration has been loaded (off the loop).
    Reloaded(Box<Loaded>),
    /// A downtime is saved: apply it, then answer.
    DowntimeSaved {
        downtime: Downtime,
        reply: Sender<Reply>,
    },
    DowntimeCancelled {
        id: u64,
        reply: Sender<Reply>,
    },
}

enum Wake {
    Done(Done),
    Call(Call),
    Internal(Internal),
    Signal(async_signal::Signal),
    Timer,
}

/// Everything the loop owns.
pub struct Daemon {
    pub clock: Clock,
    pub config_dirs: Vec<PathBuf>,
    pub plan: Arc<Plan>,
    pub engine: Engine,
    pub runner: Arc<Runner>,
    pub bus: Arc<Bus>,
    pub health: health::Writer,
    pub writer: StoreWriter,
    pub log_events: bool,
    /// The configuration version running (content hash) and the last reload.
    pub version: String,
    pub last_reload: Option<ReloadView>,
    pub store_health: Arc<dyn Fn() -> serde_json::Value + Send + Sync>,
}

struct Loop {
    d: Daemon,
    in_flight: HashMap<u64, (CheckIx, smol::Task<()>)>,
    next_token: u64,
    done_tx: Sender<Done>,
    internal_tx: Sender<Internal>,
    reloading: Option<Vec<Sender<Reply>>>,
    due: Vec<CheckIx>,
    events: Vec<Event>,
    changed: Vec<CheckIx>,
}

/// Runs until SIGTERM/SIGINT; returns the daemon for the last health write.
pub async fn run(d: Daemon, calls: Receiver<Call>, mut signals: async_signal::Signals) -> Daemon {
    let (done_tx, done_rx) = unbounded::<Done>();
    let (internal_tx, internal_rx) = unbounded::<Internal>();
    let mut l = Loop {
        d,
        in_flight: HashMap::new(),
        next_token: 0,
        done_tx,
        internal_tx,
        reloading: None,
        due: Vec::with_capacity(4096),
        events: Vec::with_capacity(4096),
        changed: Vec::with_capacity(4096),
    };
    // The configuration started with is applied like a reload's: on record.
    if let Some(view) = &l.d.last_reload {
        l.record_applied(view, l.d.clock.now());
    }
    let mut next_health = l.d.clock.now();
    loop {
        let now = l.d.clock.now();
        l.start_due(now);
        l.flush(now);
        if now >= next_health {
            l.d.health.write(&l.d.engine, &l.d.plan, (l.d.store_health)());
            next_health = now + Duration::from_secs(10);
        }
        let clock = l.d.clock;
        let wait =
            l.d.engine.next_deadline().map_or(Duration::from_secs(1), |t| clock.until(t)).min(clock.until(next_health));
        match wait_for(&done_rx, &calls, &internal_rx, &mut signals, wait).await {
            Wake::Done(first) => {
                let now = l.d.clock.now();
                l.on_done(now, first);
                while let Ok(d) = done_rx.try_recv() {
                    l.on_done(now, d);
                }
            }
            Wake::Call(call) => l.on_call(call),
            Wake::Internal(i) => l.on_internal(i),
            Wake::Signal(async_signal::Signal::Hup) => {
                info!("SIGHUP: reloading the configuration");
                l.start_reload(None);
            }
            Wake::Signal(sig) => {
                info!("{sig:?}: stopping");
                break;
            }
            Wake::Timer => {}
        }
    }
    // Checks in flight are abandoned, and must not outlive the daemon: cancelling a
    // task drops its run, and a dropped plugin run kills its process group.
    for (_, (_, task)) in l.in_flight.drain() {
        task.cancel().await;
    }
    let now = l.d.clock.now();
    l.flush(now);
    l.d
}

impl Loop {
    fn start_due(&mut self, now: Timestamp) {
        self.d.engine.poll(now, &mut self.due);
        for i in 0..self.due.len() {
            let ix = self.due[i];
            self.d.health.started_one();
            // Built afresh for every run, not kept: measured at 100,000 checks a
            // minute, keeping them cost 50 MB and saved 1% of a core.
            let spec = build_spec(&self.d.plan, ix);
            self.d.engine.set_class(ix, spec.class());
            let token = self.next_token;
            self.next_token += 1;
            let task = spawn_check(token, spec.run, self.d.runner.clone(), self.done_tx.clone());
            self.in_flight.insert(token, (ix, task));
        }
        self.due.clear();
    }

    fn on_done(&mut self, now: Timestamp, d: Done) {
        // A run of a check a reload removed has nowhere to go.
        let Some((ix, _task)) = self.in_flight.remove(&d.token) else { return };
        if !d.result.perfdata.is_empty() {
            self.d.writer.readings(&self.d.plan.path(ix), d.result.at, &d.result.perfdata);
        }
        self.d.engine.handle_result(now, ix, d.result);
    }

    /// Saves what changed, and publishes the events of this turn.
    fn flush(&mut self, now: Timestamp) {
        self.d.engine.drain_changed(&mut self.changed);
        for ix in self.changed.drain(..) {
            if let Some(s) = self.d.engine.state(ix) {
                self.d.writer.state(&self.d.plan.path(ix), now, s);
            }
        }
        self.d.engine.drain_events(&mut self.events);
        for e in self.events.drain(..) {
            let path = self.d.plan.path(e.ix());
            // Results too: the writer keeps none, but a state change or recovery that
            // follows takes its output from the result before it.
            self.d.writer.event(&path, &e);
            if self.d.log_events {
                info!("{path} {e}");
            } else if matches!(e, Event::Alert { .. } | Event::Recovery { .. } | Event::Renotify { .. }) {
                warn!("{path} {e}");
            }
            self.d.bus.publish(&self.d.plan, e);
        }
    }

    fn on_call(&mut self, call: Call) {
        let Call { request, reply } = call;
        let now = self.d.clock.now();
        let (plan, engine) = (&self.d.plan, &self.d.engine);
        let answer = match request {
            Request::Sites => Ok(Response::Sites(views::sites(plan, engine))),
            Request::Checks(f) => Ok(Response::Checks(views::checks(plan, engine, &f))),
            Request::Check { path } => match engine.find_path(&path).and_then(|ix| views::check_view(plan, engine, ix))
            {
                Some(v) => Ok(Response::Check(Box::new(v))),
                None => Err(ApiError::not_found(format!("check {path}"))),
            },
            Request::Health => Ok(Response::Health(self.d.health.document(engine, plan, (self.d.store_health)()))),
            Request::LastReload => match &self.d.last_reload {
                Some(r) => Ok(Response::Reload(r.clone())),
                None => Err(ApiError::not_found("reload since start-up")),
            },
            Request::Reload => {
                self.start_reload(Some(reply));
                return;
            }
            Request::Action(action) => {
                self.on_action(now, action, reply);
                return;
            }
        };
        let _ = reply.try_send(answer);
    }

    /// Applies an action to the engine, then answers once it is durable.
    fn on_action(&mut self, now: Timestamp, action: Action, reply: Sender<Reply>) {
        let bad = |e: ActionError| {
            let status = match e {
                ActionError::NoSuchCheck(_) | ActionError::NoSuchPeriod { .. } => 404,
                ActionError::EmptyDowntime => 400,
                // The check's state or the calendar does not allow it now.
                ActionError::NothingToAcknowledge(_)
                | ActionError::NotScheduled(_)
                | ActionError::PeriodNeverActive(_)
                | ActionError::PeriodNeverEnds(_) => 409,
            };
            ApiError { status, message: e.to_string() }
        };
        let writer = self.d.writer.clone();
        match action {
            Action::Acknowledge { path, comment, by } => {
                match self.d.engine.acknowledge(now, &path, &by, &comment) {
                    Ok(alert) => durable(reply, async move {
                        writer.acknowledge(&path, alert, now, &by, &comment).await.map(|()| None)
                    }),
                    Err(e) => {
                        let _ = reply.try_send(Err(bad(e)));
                    }
                }
            }
            Action::Suppress { path, suppressed, by } => match self.d.engine.suppress(now, &path, suppressed) {
                Ok(()) => {
                    // The state goes to the store now, and is flushed before the answer.
                    if let Some(s) = self.d.engine.find_path(&path).and_then(|ix| self.d.engine.state(ix)) {
                        writer.state(&path, now, s);
                    }
                    let text = if suppressed { "suppressed" } else { "unsuppressed" };
                    durable(reply, async move {
                        let id = writer.comment(&path, now, &by, text).await?;
                        writer.flush().await?;
                        Ok(Some(id))
                    })
                }
                Err(e) => {
                    let _ = reply.try_send(Err(bad(e)));
                }
            },
            Action::Comment { path, text, by } => {
                if self.d.engine.find_path(&path).is_none() {
                    let _ = reply.try_send(Err(ApiError::not_found(format!("check {path}"))));
                    return;
                }
                durable(reply, async move { writer.comment(&path, now, &by, &text).await.map(Some) })
            }
            Action::Recheck { path } => {
                let r = self.d.engine.recheck(now, &path).map(|()| Response::Done { id: None }).map_err(bad);
                let _ = reply.try_send(r);
            }
            Action::Downtime { path, from, to, period, comment, by } => {
                let span = match (&period, to) {
                    (Some(p), _) => self.d.engine.period_span(&path, p, now).map_err(bad),
                    (None, Some(to)) => parse_span(from.as_deref(), &to, now),
                    (None, None) => Err(ApiError::bad_request("a downtime needs `to` or `period`")),
                }
                .and_then(|(from, to)| {
                    if self.d.engine.find_path(&path).is_none() {
                        Err(ApiError::not_found(format!("check {path}")))
                    } else if to <= from {
                        Err(ApiError::bad_request("a downtime must end after it starts"))
                    } else {
                        Ok((from, to))
                    }
                });
                let (from, to) = match span {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = reply.try_send(Err(e));
                        return;
                    }
                };
                let internal = self.internal_tx.clone();
                smol::spawn(async move {
                    // The period's span is fixed now; its name is kept to say what it was for.
                    let d = NewDowntime { path: path.clone(), from, to: Some(to), period, comment, by, created: now };
                    match writer.add_downtime(d).await {
                        Ok(id) => {
                            let downtime = Downtime { id, path, from, to };
                            let _ = internal.send(Internal::DowntimeSaved { downtime, reply }).await;
                        }
                        Err(e) => {
                            let _ = reply.send(Err(ApiError::unavailable(format!("not saved: {e}")))).await;
                        }
                    }
                })
                .detach();
            }
            Action::CancelDowntime { id, by } => {
                let internal = self.internal_tx.clone();
                smol::spawn(async move {
                    match writer.cancel_downtime(id, now, &by).await {
                        Ok(true) => {
                            let _ = internal.send(Internal::DowntimeCancelled { id, reply }).await;
                        }
                        Ok(false) => {
                            let _ = reply.send(Err(ApiError::not_found(format!("downtime {id}")))).await;
                        }
                        Err(e) => {
                            let _ = reply.send(Err(ApiError::unavailable(format!("not saved: {e}")))).await;
                        }
                    }
                })
                .detach();
            }
        }
    }

    fn on_internal(&mut self, i: Internal) {
        let now = self.d.clock.now();
        match i {
            Internal::Reloaded(loaded) => self.finish_reload(now, *loaded),
            Internal::DowntimeSaved { downtime, reply } => {
                let id = downtime.id;
                let r = self.d.engine.add_downtime(now, downtime);
                let _ = reply.try_send(
                    r.map(|()| Response::Done { id: Some(id) }).map_err(|e| ApiError::bad_request(e.to_string())),
                );
            }
            Internal::DowntimeCancelled { id, reply } => {
                self.d.engine.cancel_downtime(now, id);
                let _ = reply.try_send(Ok(Response::Done { id: Some(id) }));
            }
        }
    }

    /// Records a configuration applied (or refused) at `at` in the store, in the
    /// background.
    fn record_applied(&self, view: &ReloadView, at: Timestamp) {
        let summary = serde_json::to_string(view).unwrap_or_default();
        let writer = self.d.writer.clone();
        let version = view.version.clone();
        smol::spawn(async move {
            if let Err(e) = writer.config_applied(&version, at, &summary).await {
                warn!("cannot record the configuration applied: {e}");
            }
        })
        .detach();
    }

    /// Loads the configuration off the loop; `reply` (if any) is answered when done.
    fn start_reload(&mut self, reply: Option<Sender<Reply>>) {
        if let Some(waiting) = &mut self.reloading {
            waiting.extend(reply);
            return;
        }
        self.reloading = Some(reply.into_iter().collect());
        let dirs = self.d.config_dirs.clone();
        let internal = self.internal_tx.clone();
        let started = self.d.clock.now();
        smol::spawn(async move {
            let loaded = smol::unblock(move || reload::load(&dirs, started)).await;
            let _ = internal.send(Internal::Reloaded(Box::new(loaded))).await;
        })
        .detach();
    }

    /// Swaps in a loaded configuration, or keeps the running one if it has errors.
    fn finish_reload(&mut self, now: Timestamp, loaded: Loaded) {
        let waiting = self.reloading.take().unwrap_or_default();
        let view = match loaded.plan {
            None => {
                error!("reload refused, the configuration has errors; still running version {}", self.d.version);
                ReloadView {
                    at: now.to_string(),
                    ok: false,
                    version: self.d.version.clone(),
                    diagnostics: loaded.diagnostics,
                    added: 0,
                    removed: 0,
                    kept: 0,
                    took_ms: loaded.took_ms,
                }
            }
            Some(plan) => {
                // Events and changes of the old plan go out under its paths first.
                self.flush(now);
                let config = self.d.engine.config().clone();
                let old_plan = self.d.plan.clone();
                // A placeholder while the old engine is consumed; replaced at once.
                let old =
                    std::mem::replace(&mut self.d.engine, Engine::new(Arc::new(Plan::empty()), now, config.clone()));
                let (engine, remap, stats) = old.reload(plan.clone(), now, config);
                self.d.engine = engine;
                self.d.plan = plan;
                for (ix, _) in self.in_flight.values_mut() {
                    match remap.get(ix.index()).copied().flatten() {
                        Some(new) => *ix = new,
                        // Removed: its result will find no entry and be dropped.
                        None => *ix = CheckIx(u32::MAX),
                    }
                }
                self.in_flight.retain(|_, (ix, _)| ix.0 != u32::MAX);
                let removed: Vec<String> = (0..old_plan.len() as u32)
                    .filter(|&i| remap.get(i as usize).copied().flatten().is_none())
                    .map(|i| old_plan.path(CheckIx(i)))
                    .collect();
                self.d.writer.removed(&removed);
                let paths = self.d.plan.clone();
                self.d.writer.set_path_of(move |ix| paths.path(ix));
                self.d.version = loaded.version.clone();
                info!(
                    "configuration {} applied: {} kept, {} added, {} removed",
                    loaded.version, stats.kept, stats.added, stats.removed
                );
                ReloadView {
                    at: now.to_string(),
                    ok: true,
                    version: loaded.version,
                    diagnostics: loaded.diagnostics,
                    added: stats.added,
                    removed: stats.removed,
                    kept: stats.kept,
                    took_ms: loaded.took_ms + (self.d.clock.now().duration_since(now).as_secs_f64() * 1000.0),
                }
            }
        };
        self.record_applied(&view, now);
        self.d.last_reload = Some(view.clone());
        for reply in waiting {
            let _ = reply.try_send(Ok(Response::Reload(view.clone())));
        }
    }
}

/// Answers `reply` when `write` (a durable store write) has committed.
fn durable(
    reply: Sender<Reply>,
    write: impl std::future::Future<Output = Result<Option<u64>, crate::store::StoreError>> + Send + 'static,
) {
    smol::spawn(async move {
        let r = match write.await {
            Ok(id) => Ok(Response::Done { id }),
            Err(e) => Err(ApiError::unavailable(format!("applied but not saved: {e}"))),
        };
        let _ = reply.send(r).await;
    })
    .detach();
}

fn parse_span(from: Option<&str>, to: &str, now: Timestamp) -> Result<(Timestamp, Timestamp), ApiError> {
    let parse = |s: &str| s.parse::<Timestamp>().map_err(|e| ApiError::bad_request(format!("bad time `{s}`: {e}")));
    let from = match from {
        Some(f) => parse(f)?,
        None => now,
    };
    Ok((from, parse(to)?))
}

async fn wait_for(
    done: &Receiver<Done>,
    calls: &Receiver<Call>,
    internal: &Receiver<Internal>,
    signals: &mut async_signal::Signals,
    wait: Duration,
) -> Wake {
    use futures_lite::StreamExt;
    let done = async { done.recv().await.map_or(Wake::Timer, Wake::Done) };
    let call = async {
        match calls.recv().await {
            Ok(c) => Wake::Call(c),
            Err(_) => future::pending().await,
        }
    };
    let internal = async { internal.recv().await.map_or(Wake::Timer, Wake::Internal) };
    let timer = async {
        // Onto the probes' wake grid: due checks and probe timers share wake-ups.
        smol::Timer::at(bergamot_netprobes::driver::coalesced(std::time::Instant::now() + wait)).await;
        Wake::Timer
    };
    let signal = async {
        match signals.next().await {
            Some(Ok(s)) => Wake::Signal(s),
            _ => future::pending().await,
        }
    };
    future::or(signal, future::or(call, future::or(internal, future::or(done, timer)))).await
}
