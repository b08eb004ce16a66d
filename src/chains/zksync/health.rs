//! The zksync `GET /health` body: the component health model of the zksync health-check crate.
//!
//! Wire format (HTTP 20x when healthy, 50x when not, JSON body in both cases):
//! `{"status": S, "details"?: any, "components": {"name": {"status": S, "details"?: any}}}`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::model::{Status, worst};

/// A zksync external node's `sync_state` component details.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZkSyncState {
    pub is_synced: bool,
    pub local_block: Option<u64>,
    pub main_node_block: Option<u64>,
}

impl ZkSyncState {
    /// Blocks the node is behind the main node, when both figures are known.
    pub fn block_lag(&self) -> Option<u64> {
        Some(self.main_node_block?.saturating_sub(self.local_block?))
    }
}

/// What a `/health` body says, read leniently.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthReport {
    /// The worst of the reported application status and every component's status.
    pub status: Status,
    pub components: BTreeMap<String, Status>,
    /// Components whose status string this model does not know (counted as `not_ready`).
    pub unknown: Vec<(String, String)>,
    /// The `sync_state` component's figures, when present.
    pub sync: Option<ZkSyncState>,
}

/// Why a `/health` body could not be read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum HealthParseError {
    #[error("health body is not JSON ({0})")]
    NotJson(String),
    #[error("health body is {0}")]
    NotUtf8(String),
    #[error("health body is JSON but not a health object: {0}")]
    NotHealthObject(&'static str),
}

/// Longest status string echoed back in a reason; a hostile body must not fill the status.
pub const MAX_ECHOED_STATUS: usize = 32;
/// Longest component name kept (characters); real names are a few words (`main_node_http_rpc`).
pub const MAX_NAME: usize = 64;
/// Components read at most; a real node has a few dozen (zksync EN: ~20).
pub const MAX_COMPONENTS: usize = 1024;

/// Reads a `GET /health` body (the same for HTTP 200 and 503).
///
/// Unknown status strings count as `not_ready` and are listed in `unknown`: an unknown
/// status must make a pod unhealthy, never hide it behind a parse error.
pub fn parse_health(body: &[u8]) -> Result<HealthReport, HealthParseError> {
    let text = super::super::utf8(body).map_err(HealthParseError::NotUtf8)?;
    let value: Value = serde_json::from_str(text).map_err(|e| HealthParseError::NotJson(e.classify_str()))?;
    let obj = value
        .as_object()
        .ok_or(HealthParseError::NotHealthObject("not a JSON object"))?;
    let mut unknown = Vec::new();
    let app = read_status("(application)", obj.get("status"), &mut unknown);
    let mut components = BTreeMap::new();
    let mut sync = None;
    if let Some(comps) = obj.get("components") {
        let comps = comps
            .as_object()
            .ok_or(HealthParseError::NotHealthObject("components is not an object"))?;
        for (name, comp) in comps.iter().take(MAX_COMPONENTS) {
            let status = match read_status(name, comp.get("status"), &mut unknown) {
                Some(s) => s,
                None => {
                    unknown.push((truncate(name, MAX_NAME), "(missing)".to_owned()));
                    Status::NotReady
                }
            };
            if name == "sync_state" {
                sync = comp.get("details").and_then(read_sync_state);
            }
            components.insert(truncate(name, MAX_NAME), status);
        }
    }
    if app.is_none() && obj.get("components").is_none() {
        return Err(HealthParseError::NotHealthObject("neither status nor components"));
    }
    let status = worst(app.into_iter().chain(components.values().copied()));
    Ok(HealthReport {
        status,
        components,
        unknown,
        sync,
    })
}

/// Reads a status field: `None` when absent; an unknown value counts as `not_ready` and is noted.
fn read_status(name: &str, v: Option<&Value>, unknown: &mut Vec<(String, String)>) -> Option<Status> {
    let raw = v?.as_str();
    match raw.and_then(Status::from_wire) {
        Some(s) => Some(s),
        None => {
            let shown = match raw {
                Some(r) => truncate(r, MAX_ECHOED_STATUS),
                None => "(not a string)".to_owned(),
            };
            unknown.push((truncate(name, MAX_NAME), shown));
            Some(Status::NotReady)
        }
    }
}

fn read_sync_state(details: &Value) -> Option<ZkSyncState> {
    let is_synced = details.get("is_synced")?.as_bool()?;
    Some(ZkSyncState {
        is_synced,
        local_block: details.get("local_block").and_then(Value::as_u64),
        main_node_block: details.get("main_node_block").and_then(Value::as_u64),
    })
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

trait ClassifyStr {
    fn classify_str(&self) -> String;
}

impl ClassifyStr for serde_json::Error {
    /// A short, bounded description (the position, never the input).
    fn classify_str(&self) -> String {
        format!(
            "{:?} error at line {} column {}",
            self.classify(),
            self.line(),
            self.column()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn no_components_is_ready() {
        let r = parse_health(br#"{"components":{}}"#).unwrap();
        assert_eq!(r.status, Status::Ready);
    }

    #[test]
    fn external_node_503_body_is_a_verdict() {
        let body = json!({
            "status": "not_ready",
            "components": {
                "main_node_http_rpc": {"status": "ready"},
                "sync_state": {"status": "affected", "details": {"is_synced": false, "local_block": 1200, "main_node_block": 1500}},
                "tree": {"status": "not_ready", "details": {"stage": "initializing"}},
                "reorg_detector": {"status": "ready", "details": {"last_correct_l1_batch": 99}}
            }
        });
        let r = parse_health(body.to_string().as_bytes()).unwrap();
        assert_eq!(r.status, Status::NotReady);
        let sync = r.sync.unwrap();
        assert!(!sync.is_synced);
        assert_eq!(sync.block_lag(), Some(300));
        assert_eq!(r.components["sync_state"], Status::Affected);
    }

    #[test]
    fn application_status_is_never_better_than_its_worst_component() {
        let body = br#"{"status":"ready","components":{"a":{"status":"panicked"}}}"#;
        assert_eq!(parse_health(body).unwrap().status, Status::Panicked);
    }

    #[test]
    fn unknown_status_is_unhealthy_not_an_error() {
        let body = br#"{"status":"ready","components":{"x":{"status":"degraded_beyond_belief"},"y":{"status":7}}}"#;
        let r = parse_health(body).unwrap();
        assert_eq!(r.status, Status::NotReady);
        assert_eq!(r.unknown.len(), 2);
        assert!(!r.status.is_healthy());
    }

    #[test]
    fn garbage_is_a_clear_error() {
        assert!(matches!(
            parse_health(b"<html>oops</html>"),
            Err(HealthParseError::NotJson(_))
        ));
        assert!(matches!(
            parse_health(b"[1,2]"),
            Err(HealthParseError::NotHealthObject(_))
        ));
        assert!(matches!(parse_health(b"{}"), Err(HealthParseError::NotHealthObject(_))));
        assert!(matches!(
            parse_health(br#"{"components":[]}"#),
            Err(HealthParseError::NotHealthObject(_))
        ));
    }

    #[test]
    fn not_utf8_nan_and_negative_zero() {
        let e = parse_health(b"{\"status\":\"re\xc3\x28dy\"}").unwrap_err();
        assert_eq!(
            e.to_string(),
            "health body is not UTF-8 text (invalid byte at offset 13)"
        );
        // JSON has no NaN: a writer that emits one (Python's json.dumps does) wrote no JSON.
        let nan = br#"{"status":"ready","components":{"sync_state":{"status":"ready","details":{"is_synced":true,"local_block":NaN}}}}"#;
        assert!(matches!(parse_health(nan), Err(HealthParseError::NotJson(_))));
        // -0 and a fraction are no block number: absent, not block 0.
        for block in ["-0", "-0.0", "1e400", "12.5"] {
            let body = format!(
                r#"{{"status":"ready","components":{{"sync_state":{{"status":"ready","details":{{"is_synced":true,"local_block":{block},"main_node_block":7}}}}}}}}"#
            );
            match parse_health(body.as_bytes()) {
                Ok(r) => assert_eq!(r.sync.unwrap().local_block, None, "{block}"),
                Err(e) => assert!(matches!(e, HealthParseError::NotJson(_)), "{block}: {e}"),
            }
        }
    }

    #[test]
    fn long_unknown_status_is_not_echoed_whole() {
        let long = "z".repeat(10_000);
        let body = format!(r#"{{"status":"{long}"}}"#);
        let r = parse_health(body.as_bytes()).unwrap();
        assert_eq!(r.unknown[0].1.len(), MAX_ECHOED_STATUS);
    }
}
