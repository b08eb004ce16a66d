//! What an Ethereum beacon node answers on its Beacon API port (5052), written from the standard
//! Beacon API (ethereum/beacon-APIs, `apis/node/health.yaml`, `syncing.yaml`, `peer_count.yaml`):
//! - `GET /eth/v1/node/health`: no body; 200 ready, 206 syncing, 503 not initialised;
//! - `GET /eth/v1/node/syncing`: `{"data": {head_slot, sync_distance, is_syncing, is_optimistic,
//!   el_offline}}`, numbers as decimal strings;
//! - `GET /eth/v1/node/peer_count`: `{"data": {disconnected, connecting, connected, disconnecting}}`.
//!
//! Slots come from the simulated ledger: the head slot is the slot of the ledger's time, the
//! sync distance runs to the slot of the node's clock (as clients count it: current slot minus
//! head slot). The metrics endpoint answers 404 (client-specific pages are not simulated).

use serde_json::json;

use super::radix::to_json_bytes;
use super::{Body, Call, Identity, JSON, PLAIN, Reply, splitmix64};
use crate::sim::Endpoint;
use crate::sim::mode::Mode;
use crate::sim::state::Snapshot;

/// Mainnet's `genesis_time` (`/eth/v1/beacon/genesis`: 1606824023, 2020-12-01 12:00:23 UTC).
pub const GENESIS: f64 = 1_606_824_023.0;
/// `SECONDS_PER_SLOT` of mainnet's configuration.
pub const SLOT_SECONDS: f64 = 12.0;
/// Lighthouse's `SLOT_IMPORT_TOLERANCE` (`beacon_node/network/src/sync/manager.rs`: 32): a
/// peer's head further ahead than this starts a range sync, and the node reports it is syncing.
pub const SLOT_IMPORT_TOLERANCE: u64 = 32;
/// Peers a synced node has: Lighthouse's default `--target-peers` (100) less some churn, plus a
/// few per validator so that nodes differ (simulator choice).
const BASE_PEERS: u64 = 80;

/// The slot of a time (Unix seconds).
pub fn slot(ts: f64) -> u64 {
    ((ts - GENESIS) / SLOT_SECONDS).max(0.0).floor() as u64
}

/// What `/eth/v1/node/syncing` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncStatus {
    pub head_slot: u64,
    pub sync_distance: u64,
    pub is_syncing: bool,
}

/// The node's sync status: before genesis everything is 0; otherwise the head is the ledger's
/// slot and it syncs while its peers' head is more than [`SLOT_IMPORT_TOLERANCE`] ahead.
pub fn sync_status(snap: &Snapshot) -> SyncStatus {
    if snap.is_booting() {
        return SyncStatus {
            head_slot: 0,
            sync_distance: 0,
            is_syncing: false,
        };
    }
    let head_slot = slot(snap.proposer_ts);
    let peers_ahead = slot(snap.target_proposer_ts).saturating_sub(head_slot);
    SyncStatus {
        head_slot,
        sync_distance: slot(snap.wallclock).saturating_sub(head_slot),
        is_syncing: peers_ahead > SLOT_IMPORT_TOLERANCE,
    }
}

/// The health code: 503 before genesis ("not initialized"), 206 while syncing, 200 otherwise.
pub fn health_code(snap: &Snapshot) -> u16 {
    if snap.is_booting() {
        503
    } else if sync_status(snap).is_syncing {
        206
    } else {
        200
    }
}

/// The answer to `call` on `endpoint`; `None` for a request the node does not serve (404).
pub fn reply(endpoint: Endpoint, call: &Call, snap: &Snapshot, id: &Identity) -> Option<Reply> {
    if endpoint != Endpoint::Health || call.rpc.is_some() {
        return None;
    }
    let data = match call.path.as_str() {
        "/eth/v1/node/health" => {
            return Some(Reply {
                status: health_code(snap),
                content_type: PLAIN,
                body: Body::Full(Vec::new()),
            });
        }
        "/eth/v1/node/syncing" => {
            let s = sync_status(snap);
            json!({
                "head_slot": s.head_slot.to_string(),
                "sync_distance": s.sync_distance.to_string(),
                "is_syncing": s.is_syncing,
                "is_optimistic": false,
                "el_offline": false,
            })
        }
        "/eth/v1/node/peer_count" => {
            let connected = if snap.mode == Mode::NoPeers {
                0
            } else {
                BASE_PEERS + splitmix64(u64::from(u32::from(id.ip))) % 8
            };
            json!({"disconnected": "12", "connecting": "0", "connected": connected.to_string(), "disconnecting": "0"})
        }
        _ => return None,
    };
    Some(Reply {
        status: 200,
        content_type: JSON,
        body: Body::Full(to_json_bytes(&json!({ "data": data }))),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    const T0: f64 = 1_763_798_400.0;

    fn snap_at(mode: Mode, after: f64) -> Snapshot {
        crate::sim::render::snapshot_after(T0, mode, after)
    }

    fn get(snap: &Snapshot, path: &str) -> (u16, Value) {
        let id = Identity::for_ip(std::net::Ipv4Addr::new(127, 0, 1, 1));
        let call = Call {
            path: path.to_owned(),
            rpc: None,
        };
        let r = reply(Endpoint::Health, &call, snap, &id).unwrap();
        let body = r.body.collect();
        (r.status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    fn syncing(snap: &Snapshot) -> Value {
        get(snap, "/eth/v1/node/syncing").1["data"].clone()
    }

    #[test]
    fn synced_is_200_with_decimal_strings_and_peers() {
        let s = snap_at(Mode::Synced, 1.0);
        assert_eq!(get(&s, "/eth/v1/node/health"), (200, Value::Null), "no body");
        let d = syncing(&s);
        assert!(d["head_slot"].as_str().unwrap().parse::<u64>().unwrap() > 13_000_000);
        assert!(["0", "1"].contains(&d["sync_distance"].as_str().unwrap()), "{d}");
        assert_eq!(
            (d["is_syncing"].as_bool(), d["el_offline"].as_bool()),
            (Some(false), Some(false))
        );
        let peers = get(&s, "/eth/v1/node/peer_count").1;
        assert!(peers["data"]["connected"].as_str().unwrap().parse::<u64>().unwrap() >= BASE_PEERS);
    }

    #[test]
    fn catching_up_is_206_and_syncing() {
        let s = snap_at(
            Mode::CatchingUp {
                rate: 2.0,
                behind_seconds: 3600.0,
            },
            1.0,
        );
        assert_eq!(get(&s, "/eth/v1/node/health").0, 206);
        let d = syncing(&s);
        assert_eq!(d["is_syncing"], true);
        assert!(
            (299..=301).contains(&d["sync_distance"].as_str().unwrap().parse::<u64>().unwrap()),
            "{d}"
        );
    }

    #[test]
    fn stalled_keeps_its_head_while_the_distance_grows() {
        let (a, b) = (snap_at(Mode::Stalled, 1.0), snap_at(Mode::Stalled, 61.0));
        assert_eq!(syncing(&a)["head_slot"], syncing(&b)["head_slot"]);
        let distance = |s: &Snapshot| syncing(s)["sync_distance"].as_str().unwrap().parse::<u64>().unwrap();
        assert_eq!(distance(&b) - distance(&a), 5);
        // Its peers are not yet a range sync ahead: it does not know it is stuck.
        assert_eq!(get(&b, "/eth/v1/node/health").0, 200);
    }

    #[test]
    fn booting_is_503_at_slot_0_and_no_peers_says_0() {
        let s = snap_at(Mode::Booting, 1.0);
        assert_eq!(get(&s, "/eth/v1/node/health").0, 503);
        assert_eq!(syncing(&s)["head_slot"], "0");
        let s = snap_at(Mode::NoPeers, 1.0);
        assert_eq!(get(&s, "/eth/v1/node/peer_count").1["data"]["connected"], "0");
        assert_eq!(get(&s, "/eth/v1/node/health").0, 200);
    }

    #[test]
    fn other_requests_are_not_served() {
        let s = snap_at(Mode::Synced, 1.0);
        let id = Identity::for_ip(std::net::Ipv4Addr::new(127, 0, 1, 1));
        let call = |p: &str| Call {
            path: p.to_owned(),
            rpc: None,
        };
        assert!(reply(Endpoint::Health, &call("/eth/v1/node/version"), &s, &id).is_none());
        assert!(reply(Endpoint::Metrics, &call("/metrics"), &s, &id).is_none());
    }
}
