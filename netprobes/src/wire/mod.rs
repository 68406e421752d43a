//! Wire formats: zero-copy views and validated representations, parse and emit.
pub mod icmp;
pub mod nrpe;
pub mod plugin;
pub mod snmp;
