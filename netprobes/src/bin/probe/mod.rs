//! The subcommands of `bergamot-probe`, one module each.

pub mod exec;
pub mod interrupt;
pub mod nrpe;
pub mod ping;
pub mod snmp;
pub mod tcp;
