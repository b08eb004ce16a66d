//! Ethereum consensus (beacon) nodes: the standard Beacon API's node endpoints
//! (ethereum/beacon-APIs, `apis/node/health.yaml`, `syncing.yaml`, `peer_count.yaml`).
//!
//! What each answer means here (status codes are data):
//! - `/eth/v1/node/health` (no body): 200 "Node is ready" → ready; 206 "Node is syncing but can
//!   serve incomplete data" (clients also answer 206 while the head is optimistic) → `affected`,
//!   never ready (a kubelet probe counts any 2xx as success: we do not); 503 "Node not
//!   initialized or having issues" → `not_ready`, booting when no head slot is known; any other
//!   code (400 for a bad `syncing_status`) is a failed request.
//! - `/eth/v1/node/syncing`: `head_slot` is the head; `sync_distance` (slots to the current slot
//!   of the node's clock) puts the target at head + distance; `is_syncing` is the node's claim;
//!   `el_offline`, or `is_optimistic` while not syncing, is `affected` with a reason. 500 is a
//!   failed request. Head slot 0: pre-genesis, booting.
//! - `/eth/v1/node/peer_count`: `data.connected` 0 is `affected` with a reason.
//! - The client's Prometheus page is not read (its names differ per client): a failure to fetch
//!   it is a reason.

pub mod beacon;
pub mod execution;

use super::{Ports, failed};
use crate::model::{Api, Fetched, Reading, Request, Scrape, Status, SyncState};

/// `GET /eth/v1/node/health`: no body; the status code says (200, 206, 503).
pub const HEALTH: Request = Request::get(Api::Health, "/eth/v1/node/health");
/// `GET /eth/v1/node/syncing`: `data.{head_slot, sync_distance, is_syncing, is_optimistic, el_offline}`.
pub const SYNCING: Request = Request::get(Api::Health, "/eth/v1/node/syncing");
/// `GET /eth/v1/node/peer_count`: `data.connected`.
pub const PEER_COUNT: Request = Request::get(Api::Health, "/eth/v1/node/peer_count");
/// The client's Prometheus exporter.
pub const METRICS: Request = Request::get(Api::Metrics, "/metrics");
/// The execution client's `eth_syncing`, made only when the policy sets `probe.execution`.
pub const ETH_SYNCING: Request = execution::ETH_SYNCING;
pub const REQUESTS: &[Request] = &[HEALTH, SYNCING, PEER_COUNT, METRICS, ETH_SYNCING];
/// The Beacon API (Lighthouse's default 5052) and metrics (Lighthouse's 5054) ports.
pub const DEFAULT_PORTS: Ports = Ports {
    health: 5052,
    metrics: 5054,
};

/// `SECONDS_PER_SLOT` of mainnet's consensus spec (configs/mainnet.yaml), when the policy's
/// `spec.chain.slotDuration` does not say: the words of the reasons.
pub const SECONDS_PER_SLOT: f64 = 12.0;

/// Who sets the target: the sync distance is counted to the current slot of the node's clock.
const TARGET_SOURCE: &str = "the current slot by the node's clock";

/// Reads one scrape of a beacon node on mainnet's slot length.
pub fn read(scrape: &Scrape) -> Reading {
    read_with(scrape, None)
}

/// Reads one scrape of a beacon node whose slots last `slot_seconds` (default 12), and of the
/// execution client beside it when the policy probes one.
pub fn read_with(scrape: &Scrape, slot_seconds: Option<f64>) -> Reading {
    let slot = slot_seconds.unwrap_or(SECONDS_PER_SLOT);
    let mut r = Reading {
        target_source: TARGET_SOURCE,
        ..Reading::default()
    };
    let health = scrape.get(HEALTH);
    let syncing = scrape.get(SYNCING).map(|f| body(f).and_then(beacon::syncing));
    let head_known = matches!(syncing, Some(Ok(s)) if s.head_slot > 0);
    if let Some(f) = health {
        read_health(f, head_known, &mut r);
    }
    match syncing {
        Some(Ok(s)) => read_syncing(&s, slot, &mut r),
        Some(Err(e)) => failed(&mut r, "syncing", &e, health.is_none()),
        None => {}
    }
    match scrape
        .get(PEER_COUNT)
        .map(|f| body(f).and_then(beacon::connected_peers))
    {
        // A node with no peer hears no block: it cannot follow the chain, whatever it says.
        Some(Ok(0)) => r.worsen(
            Status::Affected,
            "no peer connected (peer_count: connected 0)".to_owned(),
        ),
        Some(Ok(_)) | None => {}
        Some(Err(e)) => failed(&mut r, "peer_count", &e, false),
    }
    let only_metrics = health.is_none() && scrape.get(SYNCING).is_none();
    match scrape.get(METRICS) {
        Some(Ok(a)) if a.code == 200 => {}
        Some(Ok(a)) => failed(&mut r, "metrics", &format!("HTTP {}", a.code), only_metrics),
        Some(Err(f)) => failed(&mut r, "metrics", &f.message, only_metrics),
        None => {}
    }
    execution::read(scrape.get(ETH_SYNCING), &mut r);
    r
}

/// The body of a 200 answer; any other code is a failed request for `/syncing` and
/// `/peer_count` (their spec answers 200, or 500 "Beacon node internal error").
fn body(fetched: &Fetched) -> Result<&[u8], String> {
    match fetched {
        Ok(a) if a.code == 200 => Ok(&a.body),
        Ok(a) => Err(format!("HTTP {}", a.code)),
        Err(f) => Err(f.message.clone()),
    }
}

/// `/eth/v1/node/health`: the code is the answer.
fn read_health(fetched: &Fetched, head_known: bool, r: &mut Reading) {
    let code = match fetched {
        Ok(a) => a.code,
        Err(f) => return failed(r, "health", &f.message, true),
    };
    match code {
        // "Node is ready".
        200 => r.status = Some(r.status.map_or(Status::Ready, |s| s.max(Status::Ready))),
        // "Node is syncing but can serve incomplete data"; optimistic heads too (Lighthouse,
        // Teku, Prysm): a success for a kubelet, not ready for us.
        206 => r.worsen(
            Status::Affected,
            "beacon node answers HTTP 206: syncing, or its head is optimistic (not ready)".to_owned(),
        ),
        // "Node not initialized or having issues".
        503 if !head_known => {
            r.claimed_sync = Some(SyncState::Booting);
            r.booting = Some("beacon node answers HTTP 503 and has no head slot: not initialised".to_owned());
        }
        503 => r.worsen(
            Status::NotReady,
            "beacon node answers HTTP 503: not initialised or having issues".to_owned(),
        ),
        code => failed(r, "health", &format!("HTTP {code}"), true),
    }
}

/// `/eth/v1/node/syncing`'s figures and flags.
fn read_syncing(s: &beacon::Syncing, slot_seconds: f64, r: &mut Reading) {
    if s.head_slot == 0 {
        r.claimed_sync = Some(SyncState::Booting);
        r.booting = Some("head slot 0: the beacon chain has not started for this node (pre-genesis)".to_owned());
        return;
    }
    r.head.height = Some(s.head_slot as f64);
    // "How many slots node needs to process to reach head. 0 if synced."
    r.target.height = Some(s.head_slot.saturating_add(s.sync_distance) as f64);
    r.claimed_sync = Some(if s.is_syncing {
        SyncState::Syncing
    } else {
        SyncState::Synced
    });
    if s.is_syncing {
        let minutes = s.sync_distance as f64 * slot_seconds / 60.0;
        r.worsen(
            Status::Affected,
            format!(
                "node reports it is syncing, {} slots (about {minutes:.0} min) behind",
                s.sync_distance
            ),
        );
    }
    if s.el_offline == Some(true) {
        r.worsen(
            Status::Affected,
            "the execution layer is offline (el_offline): the node cannot verify or propose blocks".to_owned(),
        );
    }
    if s.is_optimistic == Some(true) && !s.is_syncing {
        r.worsen(
            Status::Affected,
            "the head is optimistic while the node is not syncing: its execution layer has not verified it".to_owned(),
        );
    }
}

#[cfg(test)]
mod tests;
