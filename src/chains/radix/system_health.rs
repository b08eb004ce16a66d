//! Radix node health: the `GET /system/health` body.
//!
//! The endpoint answers 200 whatever the node's state (500 only when its handler fails), so the
//! verdict comes from the body's `status`, never from the HTTP code.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::Status;

/// The node's own status word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RadixStatus {
    BootingPreGenesis,
    Syncing,
    Up,
    OutOfSync,
    /// A word this model does not know: treated as unhealthy.
    #[serde(other)]
    Unknown,
}

impl RadixStatus {
    /// Mapping onto the zksync vocabulary the operator reports in.
    pub fn to_status(self) -> Status {
        match self {
            RadixStatus::Up => Status::Ready,
            RadixStatus::Syncing => Status::Affected,
            RadixStatus::OutOfSync | RadixStatus::BootingPreGenesis | RadixStatus::Unknown => Status::NotReady,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RadixStatus::BootingPreGenesis => "BOOTING_PRE_GENESIS",
            RadixStatus::Syncing => "SYNCING",
            RadixStatus::Up => "UP",
            RadixStatus::OutOfSync => "OUT_OF_SYNC",
            RadixStatus::Unknown => "UNKNOWN",
        }
    }
}

/// `recent_self_proposal_miss_statistic`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissStatistic {
    pub missed_count: u64,
    pub recent_proposals_tracked_count: u64,
}

/// The `/system/health` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemHealth {
    pub status: RadixStatus,
    #[serde(default)]
    pub detail: String,
    #[serde(default)]
    pub recent_self_proposal_miss_statistic: Option<MissStatistic>,
    #[serde(default)]
    pub current_protocol_version: Option<String>,
    #[serde(default)]
    pub enacted_protocol_updates: Vec<Value>,
    #[serde(default)]
    pub pending_protocol_updates: Vec<Value>,
}

/// Why a `/system/health` body could not be read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SystemHealthError {
    #[error("system health body is not a Radix health object ({0})")]
    Invalid(String),
    #[error("system health body is {0}")]
    NotUtf8(String),
}

/// Reads a `/system/health` body.
pub fn parse_system_health(body: &[u8]) -> Result<SystemHealth, SystemHealthError> {
    let text = super::super::utf8(body).map_err(SystemHealthError::NotUtf8)?;
    serde_json::from_str(text).map_err(|e| {
        SystemHealthError::Invalid(format!(
            "{:?} error at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const UP: &str = r#"{
        "status": "UP",
        "detail": "The node is synced and participating in consensus",
        "recent_self_proposal_miss_statistic": {"missed_count": 1, "recent_proposals_tracked_count": 50},
        "current_protocol_version": "cuttlefish",
        "enacted_protocol_updates": [{"state_version": 1000, "resultant_protocol_version": "anemone"}],
        "pending_protocol_updates": []
    }"#;

    #[test]
    fn reads_a_real_shaped_body() {
        let h = parse_system_health(UP.as_bytes()).unwrap();
        assert_eq!(h.status, RadixStatus::Up);
        assert_eq!(h.recent_self_proposal_miss_statistic.unwrap().missed_count, 1);
        assert_eq!(h.current_protocol_version.as_deref(), Some("cuttlefish"));
        assert_eq!(h.enacted_protocol_updates.len(), 1);
    }

    #[test]
    fn every_status_maps() {
        for (word, st) in [
            ("UP", Status::Ready),
            ("SYNCING", Status::Affected),
            ("OUT_OF_SYNC", Status::NotReady),
            ("BOOTING_PRE_GENESIS", Status::NotReady),
            ("SOMETHING_NEW", Status::NotReady),
        ] {
            let body = format!(r#"{{"status":"{word}"}}"#);
            assert_eq!(
                parse_system_health(body.as_bytes()).unwrap().status.to_status(),
                st,
                "{word}"
            );
        }
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse_system_health(b"not json").is_err());
        assert!(parse_system_health(br#"{"detail":"no status"}"#).is_err());
    }

    #[test]
    fn bytes_that_are_not_utf8_are_named_as_such() {
        let e = parse_system_health(b"{\"status\":\"UP\",\"detail\":\"\xff\xfe\"}").unwrap_err();
        assert_eq!(
            e.to_string(),
            "system health body is not UTF-8 text (invalid byte at offset 25)"
        );
        // JSON numbers cannot be NaN or infinite: such a body is not JSON.
        let nan = br#"{"status":"UP","recent_self_proposal_miss_statistic":{"missed_count":NaN,"recent_proposals_tracked_count":50}}"#;
        assert!(matches!(parse_system_health(nan), Err(SystemHealthError::Invalid(_))));
        let negative_zero = br#"{"status":"UP","recent_self_proposal_miss_statistic":{"missed_count":-0.0,"recent_proposals_tracked_count":50}}"#;
        assert!(parse_system_health(negative_zero).is_err(), "a count is a whole number");
    }
}
