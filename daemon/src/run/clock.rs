//! The daemon's clock: wall time at start plus monotonic time since, so the engine's
//! `now` never jumps when the system clock is stepped, yet reads as a real instant
//! (time periods need wall time). The only place below `run` that time is read.

use std::time::Instant;

use jiff::{SignedDuration, Timestamp};

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    wall: Timestamp,
    mono: Instant,
}

impl Clock {
    pub fn start() -> Clock {
        Clock { wall: Timestamp::now(), mono: Instant::now() }
    }

    pub fn now(&self) -> Timestamp {
        let elapsed = SignedDuration::try_from(self.mono.elapsed()).unwrap_or(SignedDuration::MAX);
        self.wall.checked_add(elapsed).unwrap_or(Timestamp::MAX)
    }

    /// How long until `t` on this clock (zero when it has passed).
    pub fn until(&self, t: Timestamp) -> std::time::Duration {
        let d = t.duration_since(self.now());
        std::time::Duration::try_from(d).unwrap_or_default()
    }

    /// Milliseconds since the daemon started.
    pub fn uptime_ms(&self) -> f64 {
        self.mono.elapsed().as_secs_f64() * 1000.0
    }
}
