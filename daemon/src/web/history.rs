//! What the HTTP layer reads from the past: a check's history, readings, comments,
//! alerts and downtimes, behind the [`HistorySource`] trait so that pages and the API
//! can be tested without a database (the store's reader implements it through
//! `store_adapter`). The records are the store's own plain types, answered as JSON
//! as they are.

use jiff::Timestamp;

pub use crate::store::{AlertRow, CommentRow, DowntimeRow, HistoryEntry, Point, Series};

/// Blocking reads of the daemon's records; the server calls them through
/// `smol::unblock`, never on the executor thread. Errors are the store's message.
pub trait HistorySource {
    /// The check's results and state changes, newest first.
    fn history(&self, path: &str, limit: usize) -> Result<Vec<HistoryEntry>, String>;
    /// The check's performance data between `from` and `to`, one series per label.
    fn readings(&self, path: &str, from: Timestamp, to: Timestamp) -> Result<Vec<Series>, String>;
    fn alerts(&self, open_only: bool, limit: usize) -> Result<Vec<AlertRow>, String>;
    /// Downtimes in force or to come at `now`, and the ended ones too if asked.
    fn downtimes(&self, include_ended: bool, now: Timestamp) -> Result<Vec<DowntimeRow>, String>;
    fn comments(&self, path: &str) -> Result<Vec<CommentRow>, String>;
}
