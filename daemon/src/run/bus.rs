//! The engine's one event stream, fanned out to subscribers (store, notifications,
//! UI in later parts; tests today). Each subscriber has a bounded queue so a slow
//! one never blocks the engine; what it could not take is counted, never silent.
//! Each event travels with the plan its check index belongs to: a reload renumbers
//! checks, and a subscriber may still be reading events of the plan before.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use smol::channel::{Receiver, Sender, TrySendError, bounded};

use crate::engine::events::Event;
use crate::plan::Plan;

#[derive(Debug, Default)]
pub struct Bus {
    subscribers: Mutex<Vec<Subscriber>>,
}

#[derive(Debug)]
struct Subscriber {
    name: String,
    tx: Sender<Arc<Published>>,
    dropped: Arc<AtomicU64>,
}

/// An event, and the plan in force when it happened (`plan.path(event.ix())` names
/// its check).
#[derive(Debug)]
pub struct Published {
    pub plan: Arc<Plan>,
    pub event: Event,
}

/// A subscriber's end: events in order, and how many were dropped because its queue
/// was full.
#[derive(Debug)]
pub struct Subscription {
    pub events: Receiver<Arc<Published>>,
    pub dropped: Arc<AtomicU64>,
}

impl Bus {
    pub fn new() -> Bus {
        Bus::default()
    }

    /// A new subscriber that can fall `capacity` events behind.
    pub fn subscribe(&self, name: &str, capacity: usize) -> Subscription {
        let (tx, rx) = bounded(capacity.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        let sub = Subscriber { name: name.to_string(), tx, dropped: dropped.clone() };
        self.subscribers.lock().unwrap_or_else(|p| p.into_inner()).push(sub);
        Subscription { events: rx, dropped }
    }

    /// Hands `event` of a check of `plan` to every subscriber; gone subscribers are
    /// forgotten.
    pub fn publish(&self, plan: &Arc<Plan>, event: Event) {
        let mut subs = self.subscribers.lock().unwrap_or_else(|p| p.into_inner());
        if subs.is_empty() {
            return;
        }
        let event = Arc::new(Published { plan: plan.clone(), event });
        subs.retain(|s| match s.tx.try_send(event.clone()) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                if s.dropped.fetch_add(1, Ordering::Relaxed) == 0 {
                    tracing::warn!("event subscriber {} is falling behind; dropping its events", s.name);
                }
                true
            }
            Err(TrySendError::Closed(_)) => false,
        });
    }
}
