//! Substrate / Polkadot nodes: the RPC's `GET /health` and `GET /health/readiness`, the
//! JSON-RPC `system_syncState`, and the node's Prometheus page (`substrate_` metrics).

use super::Ports;
use crate::model::{Api, Reading, Request, Scrape};

/// `GET /health`: `{"peers", "isSyncing", "shouldHavePeers"}`.
pub const HEALTH: Request = Request::get(Api::Health, "/health");
/// `GET /health/readiness`: 200 only when not syncing and with peers (500 otherwise).
pub const READINESS: Request = Request::get(Api::Health, "/health/readiness");
/// JSON-RPC `system_syncState`: `{startingBlock, currentBlock, highestBlock}`.
pub const SYNC_STATE: Request = Request::post(
    Api::Health,
    "/",
    r#"{"jsonrpc":"2.0","id":1,"method":"system_syncState","params":[]}"#,
);
/// The node's Prometheus exporter (`--prometheus-port`, 9615).
pub const METRICS: Request = Request::get(Api::Metrics, "/metrics");
pub const REQUESTS: &[Request] = &[HEALTH, READINESS, SYNC_STATE, METRICS];
/// The RPC (`--rpc-port`, 9944) and Prometheus (`--prometheus-port`, 9615) ports.
pub const DEFAULT_PORTS: Ports = Ports {
    health: 9944,
    metrics: 9615,
};

/// Reads one scrape of a substrate node.
pub fn read(scrape: &Scrape) -> Reading {
    let _ = scrape;
    let mut r = Reading::default();
    r.reasons.push("the substrate reader is being written".to_owned());
    r
}
