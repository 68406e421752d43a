//! The Bergamot daemon (`bergamotd`: plan, engine, driver, API) and its operator CLI.

pub mod api;
pub mod cli;
pub mod engine;
pub mod exec;
pub mod plan;
pub mod run;
pub mod store;
pub mod web;
