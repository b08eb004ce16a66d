//! zksync external node bodies: `/health` in the component model and a small `/metrics` page.

use std::collections::BTreeMap;

use serde_json::json;

use super::java::{millis, rust_float};
use super::radix::{Page, to_json_bytes};
use crate::chains::radix::RadixStatus;
use crate::model::{AppHealth, ComponentHealth, Status};
use crate::sim::state::Snapshot;

/// Blocks behind the main node within which the external node calls itself synced
/// (zksync-era `node_sync::sync_state`: `SYNC_L2_BLOCK_DELTA = 10`).
pub const SYNC_L2_BLOCK_DELTA: u64 = 10;

/// The node's health: `not_ready` before genesis, `affected` (still HTTP 200) while behind.
pub fn app_health(snap: &Snapshot) -> AppHealth {
    let booting = snap.status == RadixStatus::BootingPreGenesis;
    let main_node_block = snap.main_node_block();
    let mut components = BTreeMap::new();
    components.insert("main_node_http_rpc".to_owned(), ComponentHealth::new(Status::Ready));
    let (tree, reorg, sync) = match snap.local_block() {
        Some(local) if !booting => {
            let is_synced = main_node_block.saturating_sub(local) <= SYNC_L2_BLOCK_DELTA;
            let sync_status = if is_synced { Status::Ready } else { Status::Affected };
            (
                ComponentHealth::new(Status::Ready).with_details(json!({"stage": "main_loop"})),
                ComponentHealth::new(Status::Ready).with_details(json!({"last_correct_l2_block": local})),
                ComponentHealth::new(sync_status).with_details(
                    json!({"is_synced": is_synced, "local_block": local, "main_node_block": main_node_block}),
                ),
            )
        }
        _ => (
            ComponentHealth::new(Status::NotReady).with_details(json!({"stage": "initializing"})),
            ComponentHealth::new(Status::NotReady),
            ComponentHealth::new(Status::NotReady)
                .with_details(json!({"is_synced": false, "main_node_block": main_node_block})),
        ),
    };
    components.insert("tree".to_owned(), tree);
    components.insert("reorg_detector".to_owned(), reorg);
    components.insert("sync_state".to_owned(), sync);
    AppHealth::from_components(components)
}

pub fn health_body(health: &AppHealth) -> Vec<u8> {
    to_json_bytes(health)
}

/// The `/metrics` page, OpenMetrics as zksync's `vise` exporter writes it.
pub fn metrics(snap: &Snapshot) -> String {
    let mut p = Page(String::with_capacity(1024));
    let main = snap.main_node_block();
    let local = snap.local_block().unwrap_or(0);
    let lag = main.saturating_sub(local);
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
