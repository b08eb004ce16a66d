//! What a Solana (Agave) node answers on its RPC port (8899), written from Solana's RPC
//! documentation and Agave's sources:
//! - `GET /health`: HTTP 200 whatever the node's health, the body `ok`, `behind` or `unknown`
//!   (`rpc/src/rpc_service.rs`, `rpc/src/rpc_health.rs`);
//! - JSON-RPC `getHealth`: `"ok"`, or error −32005 `Node is behind by N slots` /
//!   `Node is unhealthy` with `data.numSlotsBehind` (`rpc-client-api/src/custom_error.rs`);
//! - JSON-RPC `getSlot`: the slot at the asked commitment; an unknown method is −32601.
//!
//! Slots come from the simulated ledger: the slot of a ledger time is the number of 400 ms slots
//! since genesis. Agave serves no Prometheus page: the metrics endpoint answers 404.

use serde_json::{Value, json};

use super::radix::to_json_bytes;
use super::{Body, Call, Identity, JSON, PLAIN, Reply};
use crate::sim::Endpoint;
use crate::sim::mode::Mode;
use crate::sim::state::Snapshot;

/// Mainnet-beta's genesis (2020-03-16 14:29:00 UTC). Slots counted from it at the target slot
/// time run ahead of mainnet's real slot numbers (early slots were slower): a simulator choice.
pub const GENESIS: f64 = 1_584_368_940.0;
/// `DEFAULT_MS_PER_SLOT` (400 ms, `solana-clock`): the target slot time.
pub const SLOT_SECONDS: f64 = 0.4;
/// `--health-check-slot-distance` default (`DELINQUENT_VALIDATOR_SLOT_DISTANCE`, 128): further
/// behind the cluster than this, the node says `behind`.
pub const HEALTH_CHECK_SLOT_DISTANCE: u64 = 128;
/// `JSON_RPC_SERVER_ERROR_NODE_UNHEALTHY`.
const NODE_UNHEALTHY: i64 = -32005;
/// JSON-RPC 2.0's "Method not found".
const METHOD_NOT_FOUND: i64 = -32601;

/// The slot of a ledger time (Unix seconds).
pub fn slot(ts: f64) -> u64 {
    ((ts - GENESIS) / SLOT_SECONDS).max(0.0).floor() as u64
}

/// What the node's health check says (`RpcHealthStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Ok,
    Behind(u64),
    Unknown,
}

/// The node's health: `unknown` before its ledger runs (start-up) and with no peer to hear the
/// cluster's slot from; `behind` past the threshold; `ok` within it, however far behind that is.
pub fn health(snap: &Snapshot) -> Health {
    if snap.is_booting() || snap.mode == Mode::NoPeers {
        return Health::Unknown;
    }
    let behind = slot(snap.target_proposer_ts).saturating_sub(slot(snap.proposer_ts));
    if behind > HEALTH_CHECK_SLOT_DISTANCE {
        Health::Behind(behind)
    } else {
        Health::Ok
    }
}

/// The node's confirmed slot; 0 before its ledger runs.
pub fn head_slot(snap: &Snapshot) -> u64 {
    if snap.is_booting() { 0 } else { slot(snap.proposer_ts) }
}

/// The answer to `call` on `endpoint`; `None` for a request the node does not serve (404).
pub fn reply(endpoint: Endpoint, call: &Call, snap: &Snapshot, _id: &Identity) -> Option<Reply> {
    if endpoint != Endpoint::Health {
        return None;
    }
    let h = health(snap);
    match (call.path.as_str(), call.rpc.as_deref()) {
        ("/health", None) => Some(Reply {
            status: 200,
            content_type: PLAIN,
            body: Body::Full(word(h).as_bytes().to_vec()),
        }),
        ("/", Some("getHealth")) => Some(rpc(match h {
            Health::Ok => json!({"result": "ok"}),
            Health::Behind(n) => error(
                NODE_UNHEALTHY,
                &format!("Node is behind by {n} slots"),
                json!({"numSlotsBehind": n}),
            ),
            Health::Unknown => error(NODE_UNHEALTHY, "Node is unhealthy", json!({"numSlotsBehind": null})),
        })),
        ("/", Some("getSlot")) => Some(rpc(json!({"result": head_slot(snap)}))),
        ("/", Some(_)) => Some(rpc(error(METHOD_NOT_FOUND, "Method not found", Value::Null))),
        _ => None,
    }
}

fn word(h: Health) -> &'static str {
    match h {
        Health::Ok => "ok",
        Health::Behind(_) => "behind",
        Health::Unknown => "unknown",
    }
}

fn error(code: i64, message: &str, data: Value) -> Value {
    let mut e = json!({"code": code, "message": message});
    if !data.is_null()
        && let Some(obj) = e.as_object_mut()
    {
        obj.insert("data".to_owned(), data);
    }
    json!({ "error": e })
}

/// A JSON-RPC 2.0 response (HTTP 200, errors included). The id is 1: the simulator does not
/// read the request's, and nodehealth's requests all send 1.
fn rpc(mut answer: Value) -> Reply {
    if let Some(obj) = answer.as_object_mut() {
        obj.insert("jsonrpc".to_owned(), json!("2.0"));
        obj.insert("id".to_owned(), json!(1));
    }
    Reply {
        status: 200,
        content_type: JSON,
        body: Body::Full(to_json_bytes(&answer)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: f64 = 1_763_798_400.0;

    fn snap_at(mode: Mode, after: f64) -> Snapshot {
        crate::sim::render::snapshot_after(T0, mode, after)
    }

    fn call(path: &str, rpc: Option<&str>) -> Call {
        Call {
            path: path.to_owned(),
            rpc: rpc.map(str::to_owned),
        }
    }

    fn get(snap: &Snapshot, path: &str, rpc: Option<&str>) -> (u16, String) {
        let id = Identity::for_ip(std::net::Ipv4Addr::new(127, 0, 1, 1));
        let r = reply(Endpoint::Health, &call(path, rpc), snap, &id).unwrap();
        (r.status, String::from_utf8(r.body.collect()).unwrap())
    }

    fn json_of(snap: &Snapshot, method: &str) -> Value {
        serde_json::from_str(&get(snap, "/", Some(method)).1).unwrap()
    }

    #[test]
    fn synced_says_ok_everywhere_at_a_moving_slot() {
        let s = snap_at(Mode::Synced, 1.0);
        assert_eq!(get(&s, "/health", None), (200, "ok".to_owned()));
        assert_eq!(json_of(&s, "getHealth")["result"], "ok");
        let later = snap_at(Mode::Synced, 11.0);
        let slot = |s: &Snapshot| json_of(s, "getSlot")["result"].as_u64().unwrap();
        assert_eq!(slot(&later) - slot(&s), 25, "2.5 slots a second");
    }

    #[test]
    fn catching_up_is_behind_by_the_documented_error() {
        let s = snap_at(
            Mode::CatchingUp {
                rate: 2.0,
                behind_seconds: 600.0,
            },
            1.0,
        );
        assert_eq!(get(&s, "/health", None), (200, "behind".to_owned()), "always 200");
        let v = json_of(&s, "getHealth");
        let n = v["error"]["data"]["numSlotsBehind"].as_u64().unwrap();
        assert!((1490..=1500).contains(&n), "{v}");
        assert_eq!(v["error"]["code"], -32005);
        assert_eq!(v["error"]["message"], format!("Node is behind by {n} slots"));
    }

    #[test]
    fn a_lag_under_the_threshold_still_says_ok() {
        let s = snap_at(Mode::Lagging { behind_seconds: 30.0 }, 1.0);
        assert_eq!(get(&s, "/health", None).1, "ok", "75 slots < 128");
        let s = snap_at(Mode::Lagging { behind_seconds: 120.0 }, 1.0);
        assert_eq!(get(&s, "/health", None).1, "behind", "300 slots > 128");
    }

    #[test]
    fn stalled_is_ok_until_the_threshold_then_behind_at_a_frozen_slot() {
        let early = snap_at(Mode::Stalled, 20.0);
        assert_eq!(get(&early, "/health", None).1, "ok");
        let late = snap_at(Mode::Stalled, 60.0);
        assert_eq!(get(&late, "/health", None).1, "behind");
        assert_eq!(
            json_of(&early, "getSlot")["result"],
            json_of(&late, "getSlot")["result"]
        );
    }

    #[test]
    fn booting_and_no_peers_are_unknown() {
        for (mode, slot_zero) in [(Mode::Booting, true), (Mode::NoPeers, false)] {
            let s = snap_at(mode, 1.0);
            assert_eq!(get(&s, "/health", None).1, "unknown", "{mode:?}");
            let v = json_of(&s, "getHealth");
            assert_eq!(v["error"]["message"], "Node is unhealthy");
            assert!(v["error"]["data"]["numSlotsBehind"].is_null());
            assert_eq!(json_of(&s, "getSlot")["result"] == 0, slot_zero, "{mode:?}");
        }
    }

    #[test]
    fn other_requests_are_not_served() {
        let s = snap_at(Mode::Synced, 1.0);
        assert_eq!(json_of(&s, "getBlockHeight")["error"]["code"], -32601);
        let id = Identity::for_ip(std::net::Ipv4Addr::new(127, 0, 1, 1));
        assert!(reply(Endpoint::Health, &call("/metrics", None), &s, &id).is_none());
        assert!(reply(Endpoint::Metrics, &call("/health", None), &s, &id).is_none());
    }
}
