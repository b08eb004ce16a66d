//! Ethereum consensus (beacon) nodes: the standard Beacon API's node endpoints and the client's
//! Prometheus page.

pub mod execution;

use super::Ports;
use crate::model::{Api, Reading, Request, Scrape};

/// `GET /eth/v1/node/health`: no body; the status code says (200, 206, 503).
pub const HEALTH: Request = Request::get(Api::Health, "/eth/v1/node/health");
/// `GET /eth/v1/node/syncing`: `data.{head_slot, sync_distance, is_syncing, is_optimistic, el_offline}`.
pub const SYNCING: Request = Request::get(Api::Health, "/eth/v1/node/syncing");
/// `GET /eth/v1/node/peer_count`: `data.connected`.
pub const PEER_COUNT: Request = Request::get(Api::Health, "/eth/v1/node/peer_count");
/// The client's Prometheus exporter.
pub const METRICS: Request = Request::get(Api::Metrics, "/metrics");
pub const REQUESTS: &[Request] = &[HEALTH, SYNCING, PEER_COUNT, METRICS];
/// The Beacon API (Lighthouse's default 5052) and metrics (Lighthouse's 5054) ports.
pub const DEFAULT_PORTS: Ports = Ports {
    health: 5052,
    metrics: 5054,
};

/// Reads one scrape of an ethereum node whose slots last `slot_seconds` (default 12).
pub fn read_with(scrape: &Scrape, slot_seconds: Option<f64>) -> Reading {
    let _ = slot_seconds;
    read(scrape)
}

/// Reads one scrape of a ethereum node.
pub fn read(scrape: &Scrape) -> Reading {
    let _ = scrape;
    let mut r = Reading::default();
    r.reasons.push("the ethereum reader is being written".to_owned());
    r
}
