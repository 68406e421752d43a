//! Bergamot's configuration engine: what the XML says, resolved into the site model.
//!
//! Two phases (STYLE.md): [`raw`] mirrors what the user wrote, with a [`span::Span`]
//! on every object and value; [`resolve`] applies inheritance and [`validate`] checks
//! references, giving an immutable [`model::Model`] plus every [`diag::Diagnostic`].
//! Nothing here does network I/O or reads the clock.

pub mod condition;
pub mod diag;
pub mod expr;
pub mod span;
pub mod status;
pub mod timeperiod;
