//! zksync external node bodies: `/health` in the component model and a small `/metrics` page.
//!
//! `/health` follows the zksync health document: `{"status", "components": {name: {"status",
//! "details"}}}`, the application's status the worst of its components', HTTP 200 while that is
//! healthy (`ready`, `affected`) and 503 otherwise. The `sync_state` component is zksync-era's
//! (`core/node/node_sync/src/sync_state.rs`): `ready` within `SYNC_L2_BLOCK_DELTA` blocks of the
//! main node, `affected` beyond, `not_ready` (no details) before it knows its blocks.

use serde_json::{Value, json};

use super::java::{millis, rust_float};
use super::radix::{Page, to_json_bytes};
use crate::sim::state::Snapshot;
use crate::sim::status::ComponentStatus;

/// Blocks behind the main node within which the external node calls itself synced
/// (zksync-era `node_sync::sync_state`: `SYNC_L2_BLOCK_DELTA = 10`).
pub const SYNC_L2_BLOCK_DELTA: u64 = 10;

/// The application's status: the worst of its components'.
pub fn app_status(snap: &Snapshot) -> ComponentStatus {
    ComponentStatus::worst(components(snap).into_iter().map(|(_, status, _)| status))
}

/// `(name, status, details)` of each component: `not_ready` before genesis, `affected` (still
/// HTTP 200) while behind.
fn components(snap: &Snapshot) -> Vec<(&'static str, ComponentStatus, Option<Value>)> {
    use ComponentStatus::{Affected, NotReady, Ready};
    let (Some(local), Some(main_node_block), Some(lag)) =
        (snap.local_block(), snap.main_node_block(), snap.block_lag())
    else {
        return vec![
            ("main_node_http_rpc", Ready, None),
            ("tree", NotReady, Some(json!({"stage": "initializing"}))),
            ("reorg_detector", NotReady, None),
            ("sync_state", NotReady, None),
        ];
    };
    let is_synced = lag <= SYNC_L2_BLOCK_DELTA;
    vec![
        ("main_node_http_rpc", Ready, None),
        ("tree", Ready, Some(json!({"stage": "main_loop"}))),
        ("reorg_detector", Ready, Some(json!({"last_correct_l2_block": local}))),
        (
            "sync_state",
            if is_synced { Ready } else { Affected },
            Some(json!({"is_synced": is_synced, "local_block": local, "main_node_block": main_node_block})),
        ),
    ]
}

/// The `/health` body and its HTTP status. `details` (top level) is only set for padding.
pub fn health(snap: &Snapshot, details: Option<Value>) -> (u16, Value) {
    let comps = components(snap);
    let status = ComponentStatus::worst(comps.iter().map(|(_, status, _)| *status));
    let mut components = serde_json::Map::new();
    for (name, status, details) in comps {
        let mut c = serde_json::Map::new();
        c.insert("status".to_owned(), json!(status.as_str()));
        if let Some(d) = details {
            c.insert("details".to_owned(), d);
        }
        components.insert(name.to_owned(), Value::Object(c));
    }
    let mut body = json!({"status": status.as_str(), "components": components});
    if let (Some(d), Some(obj)) = (details, body.as_object_mut()) {
        obj.insert("details".to_owned(), d);
    }
    (status.http_code(), body)
}

pub fn health_body(snap: &Snapshot) -> (u16, Vec<u8>) {
    let (code, body) = health(snap, None);
    (code, to_json_bytes(&body))
}

/// The `/metrics` page, OpenMetrics as zksync's `vise` exporter writes it.
pub fn metrics(snap: &Snapshot) -> String {
    let mut p = Page(String::with_capacity(1024));
    let main = snap.main_node_block().unwrap_or(0);
    let local = snap.local_block().unwrap_or(0);
    let lag = snap.block_lag().unwrap_or(0);
    p.meta(
        "external_node_sync_lag",
        Some("Lag of the external node behind the main node, in L2 blocks."),
        "gauge",
    );
    p.sample("external_node_sync_lag", "", &lag.to_string());
    p.meta(
        "external_node_fetcher_l2_block",
        Some("Last L2 block, by fetcher stage."),
        "gauge",
    );
    p.sample(
        "external_node_fetcher_l2_block",
        "{stage=\"fetched\"}",
        &main.to_string(),
    );
    p.sample("external_node_fetcher_l2_block", "{stage=\"open\"}", &local.to_string());
    p.meta(
        "external_node_synced",
        Some("Whether the external node is synced (1) or not (0)."),
        "gauge",
    );
    let synced = snap.local_block().is_some() && lag <= SYNC_L2_BLOCK_DELTA;
    p.sample("external_node_synced", "", if synced { "1" } else { "0" });
    p.meta(
        "process_start_time_seconds",
        Some("Start time of the process since unix epoch in seconds."),
        "gauge",
    );
    p.sample(
        "process_start_time_seconds",
        "",
        &rust_float(millis(snap.process_start)),
    );
    p.line(&["# EOF"]);
    p.0
}
