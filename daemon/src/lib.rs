//! The Bergamot daemon and its operator CLI; today the CLI over the configuration engine.

pub mod cli;
pub mod engine;
pub mod exec;
pub mod plan;
pub mod run;
