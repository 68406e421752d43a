//! Time ranges and time periods (SEMANTICS §5): parsing, evaluation, next change.
//!
//! [`parse`] reads one `<time-range>`; [`range`] is that range as data and says
//! whether a local civil minute is in it; [`calendar`] evaluates `<time-period>`s
//! (ranges, excludes, time zones) at instants and finds when their state next changes.
//!
//! **Architecture Invariant:** pure. Nothing here reads the clock or does I/O:
//! instants are arguments, and the tz database is the one bundled into jiff.

pub mod calendar;
mod graph;
pub mod parse;
pub mod range;

pub use calendar::{Calendar, CycleError, PeriodDef};
pub use parse::{RangeError, RangeErrorKind, parse_range};
pub use range::{DaySelector, MINUTES_PER_DAY, Span, TimeRange};
