//! The component health model of zksync nodes: every component reports a [`Status`] and
//! free-form JSON details; the application's status is the worst of its components'.
//!
//! The operator reports every pod's status in this vocabulary, whatever its chain, and serves
//! its own `/health` in this model. The zksync reader (`chains::zksync`) parses the wire format.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A component's or an application's status, ordered from best to worst.
///
/// The order of the variants is the order of severity: `Ord` gives worst-of aggregation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Fully operational.
    Ready,
    /// Operational with a non-fatal issue.
    Affected,
    /// Stopping gracefully.
    ShuttingDown,
    /// Stopped.
    ShutDown,
    /// Not (yet) able to serve.
    NotReady,
    /// Crashed.
    Panicked,
}

impl Status {
    /// All statuses, best first.
    pub const ALL: [Status; 6] = [
        Status::Ready,
        Status::Affected,
        Status::ShuttingDown,
        Status::ShutDown,
        Status::NotReady,
        Status::Panicked,
    ];

    /// `ready` and `affected` are healthy; everything else is not.
    pub fn is_healthy(self) -> bool {
        matches!(self, Status::Ready | Status::Affected)
    }

    /// The wire name (`"not_ready"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ready => "ready",
            Status::Affected => "affected",
            Status::ShuttingDown => "shutting_down",
            Status::ShutDown => "shut_down",
            Status::NotReady => "not_ready",
            Status::Panicked => "panicked",
        }
    }

    /// Reads a wire name; `None` for a string this model does not know.
    pub fn from_wire(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The HTTP status code a `/health` endpoint answers with.
    pub fn http_code(self) -> u16 {
        if self.is_healthy() { 200 } else { 503 }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The worst of some statuses; `Ready` when there are none.
pub fn worst(statuses: impl IntoIterator<Item = Status>) -> Status {
    statuses.into_iter().max().unwrap_or(Status::Ready)
}

/// One component's health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentHealth {
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

impl ComponentHealth {
    pub fn new(status: Status) -> Self {
        ComponentHealth { status, details: None }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }
}

/// An application's health: its own status is the worst of its components'.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppHealth {
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
    #[serde(default)]
    pub components: BTreeMap<String, ComponentHealth>,
}

impl AppHealth {
    /// Builds an application's health from its components (status = worst of them).
    pub fn from_components(components: BTreeMap<String, ComponentHealth>) -> Self {
        let status = worst(components.values().map(|c| c.status));
        AppHealth {
            status,
            details: None,
            components,
        }
    }

    /// The HTTP status code to answer with.
    pub fn http_code(&self) -> u16 {
        self.status.http_code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn order_is_best_to_worst() {
        for pair in Status::ALL.windows(2) {
            assert!(pair[0] < pair[1], "{} < {}", pair[0], pair[1]);
        }
        assert_eq!(worst([]), Status::Ready);
        assert_eq!(
            worst([Status::Affected, Status::Panicked, Status::Ready]),
            Status::Panicked
        );
    }

    #[test]
    fn healthy_and_http_codes() {
        let healthy: Vec<_> = Status::ALL.into_iter().filter(|s| s.is_healthy()).collect();
        assert_eq!(healthy, vec![Status::Ready, Status::Affected]);
        assert_eq!(Status::Affected.http_code(), 200);
        assert_eq!(Status::ShuttingDown.http_code(), 503);
    }

    #[test]
    fn serde_round_trip_uses_snake_case() {
        for s in Status::ALL {
            let j = serde_json::to_string(&s).unwrap();
            assert_eq!(j, format!("\"{}\"", s.as_str()));
            assert_eq!(serde_json::from_str::<Status>(&j).unwrap(), s);
        }
        let mut comps = BTreeMap::new();
        comps.insert("db".to_owned(), ComponentHealth::new(Status::Ready));
        comps.insert(
            "tree".to_owned(),
            ComponentHealth::new(Status::ShutDown).with_details(json!({"x": 1})),
        );
        let app = AppHealth::from_components(comps);
        assert_eq!(app.status, Status::ShutDown);
        assert_eq!(app.http_code(), 503);
        let text = serde_json::to_string(&app).unwrap();
        let back: AppHealth = serde_json::from_str(&text).unwrap();
        assert_eq!(back, app);
    }

    #[test]
    fn no_components_is_ready() {
        let app = AppHealth::from_components(BTreeMap::new());
        assert_eq!(app.status, Status::Ready);
    }
}
