//! Solana (Agave) nodes: the RPC's `GET /health` and the JSON-RPC `getHealth` and `getSlot`.

use super::Ports;
use crate::model::{Api, Reading, Request, Scrape};

/// `GET /health`: always HTTP 200, the body says `ok`, `behind` or `unknown`.
pub const HEALTH: Request = Request::get(Api::Health, "/health");
/// JSON-RPC `getHealth`: error −32005 with `data.numSlotsBehind` when behind.
pub const GET_HEALTH: Request = Request::post(Api::Health, "/", r#"{"jsonrpc":"2.0","id":1,"method":"getHealth"}"#);
/// JSON-RPC `getSlot`: the head slot, for the progress watch.
pub const GET_SLOT: Request = Request::post(Api::Health, "/", r#"{"jsonrpc":"2.0","id":1,"method":"getSlot"}"#);
pub const REQUESTS: &[Request] = &[HEALTH, GET_HEALTH, GET_SLOT];
/// The RPC port (`--rpc-port`, 8899). Agave serves no Prometheus page and no request of this
/// chain goes to `metrics`: 9100 is only where a node exporter beside it usually listens.
pub const DEFAULT_PORTS: Ports = Ports {
    health: 8899,
    metrics: 9100,
};

/// Reads one scrape of a solana node.
pub fn read(scrape: &Scrape) -> Reading {
    let _ = scrape;
    let mut r = Reading::default();
    r.reasons.push("the solana reader is being written".to_owned());
    r
}
