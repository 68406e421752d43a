//! Drivers: sockets, timers and io_uring (with an epoll fallback) running sans-IO sessions.
