//! What the daemon answers and does on request: the one vocabulary shared by the
//! HTTP layer (`web`), the CLI client and the driver that owns the engine. Plain data
//! (serde); no I/O here. Live state comes from the engine's owner through
//! [`ApiHandle`]; history and readings come from the store's readers.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use smol::channel::{Sender, bounded};

/// A check as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckView {
    /// `site/host/web1[/service/load]`: the identity that survives reloads.
    pub path: String,
    pub site: String,
    /// `host`, `service`, `trap`, `cluster`, `resource`.
    pub kind: String,
    pub name: String,
    /// The host or cluster it sits in (itself for hosts and clusters).
    pub container: String,
    pub summary: String,
    /// Lower-cased, as the guide compares them.
    pub category: Option<String>,
    pub application: Option<String>,
    pub status: String,
    pub output: String,
    pub long_output: String,
    pub perfdata: String,
    pub ok: bool,
    pub hard: bool,
    pub attempt: u32,
    pub last_hard_status: String,
    pub last_change: String,
    pub last_hard_change: String,
    pub last_check: Option<String>,
    pub next_check: Option<String>,
    pub acknowledged: bool,
    pub suppressed: bool,
    pub in_downtime: bool,
    pub flapping: bool,
    /// The open alert's id.
    pub alert: Option<u64>,
    pub enabled: bool,
    pub active: bool,
}

/// Which checks a listing returns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckFilter {
    pub site: Option<String>,
    /// `host`, `service`, `trap`, `cluster`, `resource`.
    pub kind: Option<String>,
    /// Checks of this host or cluster (and itself).
    pub container: Option<String>,
    /// Only problems: not ok (hard or soft), whatever their acknowledgement.
    pub problems: bool,
    pub limit: Option<usize>,
}

/// An operator action (SEMANTICS §7–8). `by` is who asked (until logins exist: the
/// local user or "api").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    Acknowledge { path: String, comment: String, by: String },
    /// Fixed (`from`..`to`, RFC 3339) or for as long as a time period of the check's
    /// site is active from now (`period`).
    Downtime {
        path: String,
        from: Option<String>,
        to: Option<String>,
        period: Option<String>,
        comment: String,
        by: String,
    },
    CancelDowntime { id: u64, by: String },
    Suppress { path: String, suppressed: bool, by: String },
    Comment { path: String, text: String, by: String },
    /// Run the check now (it keeps its phase afterwards).
    Recheck { path: String },
}

/// What the owner of the engine is asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "kebab-case")]
pub enum Request {
    Sites,
    Checks(CheckFilter),
    Check { path: String },
    Health,
    /// Validate and, if valid, apply the configuration from disk.
    Reload,
    /// The last reload's outcome.
    LastReload,
    Action(Action),
}

/// A site and its counts by status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteView {
    pub name: String,
    pub summary: String,
    pub checks: usize,
    pub problems: usize,
    pub by_status: std::collections::BTreeMap<String, usize>,
}

/// The outcome of a reload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReloadView {
    pub at: String,
    pub ok: bool,
    /// The configuration version now running (its content hash).
    pub version: String,
    /// Rendered diagnostics when refused; warnings when applied.
    pub diagnostics: String,
    pub added: usize,
    pub removed: usize,
    pub kept: usize,
    pub took_ms: f64,
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "kebab-case")]
pub enum Response {
    Sites(Vec<SiteView>),
    Checks(Vec<CheckView>),
    Check(Box<CheckView>),
    Health(serde_json::Value),
    Reload(ReloadView),
    /// An action was applied (and is durable); its id when it made one (downtime).
    Done { id: Option<u64> },
}

/// Why a request failed; `status` is the HTTP status it maps to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: u16,
    pub message: String,
}

impl ApiError {
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        ApiError { status: 404, message: format!("no such {what}") }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError { status: 400, message: message.into() }
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError { status: 503, message: message.into() }
    }
}

pub type Reply = Result<Response, ApiError>;

/// A request on its way to the engine's owner, with where the answer goes.
#[derive(Debug)]
pub struct Call {
    pub request: Request,
    pub reply: Sender<Reply>,
}

/// The way into the engine's owner; cheap to clone.
#[derive(Debug, Clone)]
pub struct ApiHandle {
    tx: Sender<Call>,
}

impl ApiHandle {
    pub fn new(tx: Sender<Call>) -> Self {
        ApiHandle { tx }
    }

    /// Asks the owner and waits for its answer.
    pub async fn call(&self, request: Request) -> Reply {
        let (reply, answer) = bounded(1);
        self.tx.send(Call { request, reply }).await.map_err(|_| ApiError::unavailable("the daemon is stopping"))?;
        answer.recv().await.map_err(|_| ApiError::unavailable("the daemon is stopping"))?
    }
}

/// RFC 3339 text of an instant.
pub fn ts(t: Timestamp) -> String {
    t.to_string()
}
