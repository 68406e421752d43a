//! What the HTTP layer reads from the past: a check's history, readings, comments,
//! alerts and downtimes, behind the [`HistorySource`] trait so the web layer does not
//! depend on how they are stored (the store's reader implements it; tests fake it).
//! Plain data here, serialised as the API's JSON.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

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

/// One line of a check's history: a result, a state change, an alert…
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: String,
    pub kind: String,
    pub status: Option<String>,
    pub hard: Option<bool>,
    pub attempt: Option<u32>,
    pub output: String,
    pub alert_id: Option<u64>,
}

/// The readings of one perfdata label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub label: String,
    pub uom: String,
    /// `raw`, or the width of the buckets the points were rolled up into.
    pub resolution: String,
    pub points: Vec<Point>,
}

/// One reading (or one bucket: the mean, with the bucket's extremes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub at: String,
    pub value: f64,
    pub min: f64,
    pub max: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRow {
    pub id: u64,
    pub path: String,
    pub opened: String,
    pub closed: Option<String>,
    pub status: String,
    pub worst: String,
    pub covered_by: Option<String>,
    pub notified: bool,
    pub acknowledged_at: Option<String>,
    pub acknowledged_by: Option<String>,
    pub ack_comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DowntimeRow {
    pub id: u64,
    pub path: String,
    pub from: String,
    pub to: Option<String>,
    pub period: Option<String>,
    pub comment: String,
    pub by: String,
    pub created: String,
    pub cancelled: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommentRow {
    pub id: u64,
    pub path: String,
    pub at: String,
    pub by: String,
    pub text: String,
}
