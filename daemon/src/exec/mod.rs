//! Running checks: a check's command resolved to a probe ([`spec`]) and run on the
//! native probes or the plugin executor ([`run`]), giving a [`CheckResult`].
//!
//! [`CheckResult`]: crate::engine::CheckResult

pub mod run;
pub mod spec;

pub use run::Runner;
pub use spec::{EngineName, ProbeSpec, Run, probe_spec};
