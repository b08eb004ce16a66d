//! What a substrate node answers, written from polkadot-sdk's RPC (`system_health` and
//! `system_syncState`, camelCase fields; `GET /health` and `GET /health/readiness` from
//! paritytech/polkadot-sdk#4802) and its Prometheus series (`substrate_block_height{status}`,
//! `substrate_sub_libp2p_peers_count`, each labelled `chain`).
//!
//! Heights come from the snapshot: the best block is the block at the node's ledger position
//! (`proposer_ts`), the highest block peers announce (`highestBlock`, `sync_target`) the one at
//! the network's head (`target_proposer_ts`), the finalized block [`FINALITY_DEPTH`] behind the
//! best. Modes: `catching_up` is `isSyncing: true` (readiness 500); `stalled` and `lagging` keep
//! `isSyncing: false` while peers announce higher blocks (see the note on
//! [`MAJOR_SYNC_BLOCKS`]); `no_peers` is `peers: 0`; `booting` is a node at genesis with no peer
//! announcing a block yet.

use serde_json::{Value, json};

use super::radix::{Page, to_json_bytes};
use super::{Body, Call, JSON, PLAIN, PROMETHEUS_TEXT, Reply};
use crate::sim::Endpoint;
use crate::sim::mode::Mode;
use crate::sim::state::Snapshot;

/// The simulated chain's genesis time, 2024-01-01T00:00:00Z: a simulator choice.
pub const GENESIS: f64 = 1_704_067_200.0;
/// Polkadot's block time: `MILLISECS_PER_BLOCK = 6000` (6 s slots).
pub const BLOCK_SECONDS: f64 = 6.0;
/// Blocks GRANDPA finality trails the best block on a healthy chain: a simulator choice (two
/// to three blocks on Polkadot).
pub const FINALITY_DEPTH: u64 = 2;
/// sc-network-sync's `MAJOR_SYNC_BLOCKS` (5): a node further behind the best block its peers
/// announce is in a major sync (`isSyncing`). A real stalled or lagging node would therefore say
/// `isSyncing: true`; the simulator keeps those modes claiming synced, as the modes define them
/// (the operator must see through the claim), and applies the rule to `catching_up` only.
pub const MAJOR_SYNC_BLOCKS: u64 = 5;
/// Peers of a node that has some: a simulator choice.
const PEERS: u64 = 8;
/// The `chain` label of every series.
const CHAIN: &str = "nodehealth-sim";

/// The answer to `call` on `endpoint`; `None` for a request the node does not serve (404).
pub fn reply(endpoint: Endpoint, call: &Call, snap: &Snapshot, _id: &crate::sim::render::Identity) -> Option<Reply> {
    match (endpoint, call.path.as_str(), call.rpc.as_deref()) {
        (Endpoint::Health, "/health", None) => Some(json_reply(200, &health(snap))),
        (Endpoint::Health, "/health/readiness", None) => Some(readiness(snap)),
        (Endpoint::Health, "/", Some(method)) => Some(json_reply(200, &rpc(method, snap))),
        (Endpoint::Metrics, "/metrics", None) => Some(Reply {
            status: 200,
            content_type: PROMETHEUS_TEXT,
            body: Body::Full(metrics(snap).into_bytes()),
        }),
        _ => None,
    }
}

fn json_reply(status: u16, v: &Value) -> Reply {
    Reply {
        status,
        content_type: JSON,
        body: Body::Full(to_json_bytes(v)),
    }
}

fn block_at(ts: f64) -> u64 {
    if ts < GENESIS {
        return 0;
    }
    ((ts - GENESIS) / BLOCK_SECONDS).floor() as u64 + 1
}

/// The node's best block (0, the genesis block, while booting).
pub fn best(snap: &Snapshot) -> u64 {
    if snap.is_booting() {
        0
    } else {
        block_at(snap.proposer_ts)
    }
}

/// The highest block peers announce (0 while booting: no peer yet).
pub fn highest(snap: &Snapshot) -> u64 {
    if snap.is_booting() {
        0
    } else {
        block_at(snap.target_proposer_ts).max(best(snap))
    }
}

pub fn is_syncing(snap: &Snapshot) -> bool {
    matches!(snap.mode, Mode::CatchingUp { .. }) && highest(snap) > best(snap) + MAJOR_SYNC_BLOCKS
}

fn peers(snap: &Snapshot) -> u64 {
    if snap.mode == Mode::NoPeers || snap.is_booting() {
        0
    } else {
        PEERS
    }
}

/// `system_health`, as `GET /health` serves it.
fn health(snap: &Snapshot) -> Value {
    json!({"peers": peers(snap), "isSyncing": is_syncing(snap), "shouldHavePeers": true})
}

/// "The node should return `200` when it is not doing a major sync" and has peers; 500 otherwise.
fn readiness(snap: &Snapshot) -> Reply {
    let ready = !is_syncing(snap) && peers(snap) > 0;
    Reply {
        status: if ready { 200 } else { 500 },
        content_type: PLAIN,
        body: Body::Full(Vec::new()),
    }
}

/// A JSON-RPC 2.0 answer (the probe's request id is 1).
fn rpc(method: &str, snap: &Snapshot) -> Value {
    let result = match method {
        "system_health" => health(snap),
        "system_syncState" => json!({
            "startingBlock": 0,
            "currentBlock": best(snap),
            "highestBlock": highest(snap)
        }),
        _ => {
            return json!({"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": 1});
        }
    };
    json!({"jsonrpc": "2.0", "result": result, "id": 1})
}

/// The Prometheus page (the Rust `prometheus` crate's text format: integers as integers).
pub fn metrics(snap: &Snapshot) -> String {
    let mut p = Page(String::with_capacity(1024));
    let best = best(snap);
    p.meta(
        "substrate_block_height",
        Some("Block height info of the chain"),
        "gauge",
    );
    for (status, h) in [
        ("best", best),
        ("finalized", best.saturating_sub(FINALITY_DEPTH)),
        ("sync_target", highest(snap)),
    ] {
        p.sample(
            "substrate_block_height",
            &format!("{{status=\"{status}\",chain=\"{CHAIN}\"}}"),
            &h.to_string(),
        );
    }
    p.meta(
        "substrate_sub_libp2p_peers_count",
        Some("Number of connected peers"),
        "gauge",
    );
    p.sample(
        "substrate_sub_libp2p_peers_count",
        &format!("{{chain=\"{CHAIN}\"}}"),
        &peers(snap).to_string(),
    );
    p.0
}

#[cfg(test)]
mod tests {
    //! The rendered bodies read generically (serde_json `Value`s, the exposition parser), by
    //! the RPC's field names: never with the operator's reader.
    use std::net::Ipv4Addr;

    use super::*;
    use crate::exposition::parse_all;
    use crate::sim::render::Identity;

    const T0: f64 = GENESIS + 86_400.0;

    fn snap_after(mode: Mode, after: f64) -> Snapshot {
        crate::sim::render::snapshot_after(T0, mode, after)
    }

    fn call(snap: &Snapshot, path: &str, rpc: Option<&str>) -> Reply {
        let call = Call {
            path: path.to_owned(),
            rpc: rpc.map(str::to_owned),
        };
        reply(Endpoint::Health, &call, snap, &Identity::for_ip(Ipv4Addr::LOCALHOST)).unwrap()
    }

    fn body(snap: &Snapshot, path: &str, rpc: Option<&str>) -> Value {
        serde_json::from_slice(&call(snap, path, rpc).body.collect()).unwrap()
    }

    fn sync_state(snap: &Snapshot) -> (u64, u64) {
        let v = body(snap, "/", Some("system_syncState"));
        let r = &v["result"];
        (r["currentBlock"].as_u64().unwrap(), r["highestBlock"].as_u64().unwrap())
    }

    #[test]
    fn a_synced_node_at_the_head() {
        let s = snap_after(Mode::Synced, 0.0);
        assert_eq!(
            body(&s, "/health", None),
            json!({"peers": 8, "isSyncing": false, "shouldHavePeers": true})
        );
        assert_eq!(call(&s, "/health/readiness", None).status, 200);
        let (cur, high) = sync_state(&s);
        assert_eq!(cur, high);
        let (later, _) = sync_state(&snap_after(Mode::Synced, 60.0));
        assert_eq!(later - cur, 10, "6 s blocks");
        let err = body(&s, "/", Some("author_rotateKeys"));
        assert_eq!(err["error"]["code"], -32601);
    }

    #[test]
    fn modes_in_the_nodes_words() {
        let catching = snap_after(
            Mode::CatchingUp {
                rate: 5.0,
                behind_seconds: 600.0,
            },
            1.0,
        );
        assert_eq!(body(&catching, "/health", None)["isSyncing"], true);
        assert_eq!(call(&catching, "/health/readiness", None).status, 500);
        let (cur, high) = sync_state(&catching);
        assert!(high - cur >= 99, "{cur} {high}");
        // Stalled: the best block stays while peers announce higher ones; no sync claimed.
        let (a, b) = (snap_after(Mode::Stalled, 1.0), snap_after(Mode::Stalled, 120.0));
        assert_eq!(sync_state(&a).0, sync_state(&b).0);
        assert!(sync_state(&b).1 >= sync_state(&b).0 + 19);
        assert_eq!(body(&b, "/health", None)["isSyncing"], false);
        let none = snap_after(Mode::NoPeers, 1.0);
        assert_eq!(body(&none, "/health", None)["peers"], 0);
        assert_eq!(call(&none, "/health/readiness", None).status, 500);
        let boot = snap_after(Mode::Booting, 1.0);
        assert_eq!(sync_state(&boot), (0, 0));
    }

    #[test]
    fn the_metrics_page() {
        let s = snap_after(Mode::Synced, 1.0);
        let page = metrics(&s);
        let (samples, stats) = parse_all(page.as_bytes()).unwrap();
        assert_eq!(stats.skipped_invalid, 0, "{page}");
        let height = |status: &str| {
            samples
                .iter()
                .find(|x| x.name == "substrate_block_height" && x.label("status").as_deref() == Some(status))
                .map(|x| x.value)
        };
        let best = best(&s) as f64;
        assert_eq!(height("best"), Some(best));
        assert_eq!(height("finalized"), Some(best - 2.0));
        assert_eq!(height("sync_target"), Some(best));
        assert!(
            page.contains("substrate_sub_libp2p_peers_count{chain=\"nodehealth-sim\"} 8\n"),
            "{page}"
        );
    }
}
