//! CometBFT nodes (Cosmos-SDK chains): the RPC's `GET /status` and `GET /net_info`, and the
//! node's Prometheus page (`cometbft_` metrics by default).

use super::Ports;
use crate::model::{Api, Reading, Request, Scrape};

/// `GET /status` on the RPC port: `result.sync_info` and `result.validator_info`.
pub const STATUS: Request = Request::get(Api::Health, "/status");
/// `GET /net_info`: `result.n_peers`.
pub const NET_INFO: Request = Request::get(Api::Health, "/net_info");
/// The node's Prometheus exporter (`instrumentation.prometheus`).
pub const METRICS: Request = Request::get(Api::Metrics, "/metrics");
pub const REQUESTS: &[Request] = &[STATUS, NET_INFO, METRICS];
/// The RPC (`rpc.laddr`, 26657) and Prometheus (`instrumentation.prometheus_listen_addr`, 26660) ports.
pub const DEFAULT_PORTS: Ports = Ports {
    health: 26657,
    metrics: 26660,
};

/// Reads one scrape of a cometbft node whose metrics carry `namespace` (default `cometbft`).
pub fn read_with(scrape: &Scrape, namespace: Option<&str>) -> Reading {
    let _ = namespace;
    read(scrape)
}

/// Reads one scrape of a cometbft node.
pub fn read(scrape: &Scrape) -> Reading {
    let _ = scrape;
    let mut r = Reading::default();
    r.reasons.push("the cometbft reader is being written".to_owned());
    r
}
