//! The Bergamot daemon and its operator CLI; today the CLI over the configuration engine.

pub mod cli;
