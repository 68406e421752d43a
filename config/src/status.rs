//! Check statuses and their order, shared by conditions, state and the UI.

use std::fmt;
use std::str::FromStr;

/// The status of a check, in order from best to worst (SEMANTICS §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Pending,
    Info,
    Ok,
    Warning,
    Critical,
    Unknown,
    Timeout,
    Error,
    Disconnected,
    Action,
}

impl Status {
    pub const ALL: [Status; 10] = [
        Status::Pending,
        Status::Info,
        Status::Ok,
        Status::Warning,
        Status::Critical,
        Status::Unknown,
        Status::Timeout,
        Status::Error,
        Status::Disconnected,
        Status::Action,
    ];

    /// PENDING, INFO and OK count as ok.
    pub fn is_ok(self) -> bool {
        matches!(self, Status::Pending | Status::Info | Status::Ok)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "PENDING",
            Status::Info => "INFO",
            Status::Ok => "OK",
            Status::Warning => "WARNING",
            Status::Critical => "CRITICAL",
            Status::Unknown => "UNKNOWN",
            Status::Timeout => "TIMEOUT",
            Status::Error => "ERROR",
            Status::Disconnected => "DISCONNECTED",
            Status::Action => "ACTION",
        }
    }

    /// The better (lower) of two statuses.
    pub fn best(self, other: Status) -> Status {
        self.min(other)
    }

    /// The worse (higher) of two statuses.
    pub fn worst(self, other: Status) -> Status {
        self.max(other)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status name that is not one of the ten.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown status `{0}` (expected one of pending, info, ok, warning, critical, unknown, timeout, error, disconnected, action)")]
pub struct UnknownStatus(pub String);

impl FromStr for Status {
    type Err = UnknownStatus;

    /// Case-insensitive.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        Status::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(t))
            .ok_or_else(|| UnknownStatus(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_okness() {
        assert!(Status::Pending < Status::Ok && Status::Ok < Status::Warning);
        assert!(Status::Error < Status::Disconnected && Status::Disconnected < Status::Action);
        assert_eq!(Status::Warning.best(Status::Critical), Status::Warning);
        assert_eq!(Status::Warning.worst(Status::Critical), Status::Critical);
        let ok: Vec<_> = Status::ALL.into_iter().filter(|s| s.is_ok()).collect();
        assert_eq!(ok, [Status::Pending, Status::Info, Status::Ok]);
        assert_eq!("critical".parse::<Status>(), Ok(Status::Critical));
        assert_eq!(" Ok ".parse::<Status>(), Ok(Status::Ok));
        assert!("fine".parse::<Status>().is_err());
    }
}
