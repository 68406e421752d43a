//! TCP connections on io_uring (being written).
