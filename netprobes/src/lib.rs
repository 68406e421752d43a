//! Bergamot's native probes: protocol codecs and sessions that never touch a socket
//! or a clock, and the driver that does.
//!
//! Layers are folders (as in smoltcp): [`wire`] parses and emits packets,
//! [`session`] holds per-probe state machines driven by `handle_*`/`poll_*` calls
//! with `now` as an argument (as in quinn-proto), [`driver`] owns sockets, timers
//! and io_uring/epoll, [`exec`] spawns plugins. Nothing outside `driver`, `exec` and
//! the binary reads the clock.

pub mod accel;
pub mod driver;
pub mod exec;
pub mod native;
pub mod session;
pub mod time;
pub mod wire;
