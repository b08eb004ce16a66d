//! What a cometbft node answers, written from CometBFT's RPC spec (`docs.cometbft.com`, "RPC
//! spec": the `/health`, `/status` and `/net_info` examples) and its metrics documentation
//! (`cometbft_<subsystem>_<name>` gauges labelled `chain_id`, written by Go's Prometheus client).
//!
//! The ledger is the snapshot's: the block at the node's ledger position (`proposer_ts`) is
//! its latest block; the network's head (`target_proposer_ts`) is not in any of these answers
//! (CometBFT reports no sync target). Modes: `catching_up` is `sync_info.catching_up: true`
//! while the node is more than a block behind; `stalled` and `lagging` keep `catching_up: false`
//! (a node in consensus that fell behind, or froze, does not switch back to block sync);
//! `no_peers` is `n_peers: "0"`; `booting` is an empty block store (height `"0"`, Go's zero
//! time); `missing_proposals` is a validator whose last signed height trails its head.

use serde_json::{Value, json};

use super::radix::{Page, to_json_bytes};
use super::{Body, Call, Identity, JSON, PROMETHEUS_TEXT, Reply, splitmix64};
use crate::sim::Endpoint;
use crate::sim::mode::Mode;
use crate::sim::state::{LEDGER_LAG_SECONDS, Snapshot};

/// The simulated chain's genesis time, 2024-01-01T00:00:00Z: a simulator choice.
pub const GENESIS: f64 = 1_704_067_200.0;
/// Seconds per block: Cosmos Hub's pace (~6 s: the default `timeout_commit` of 5 s plus the
/// round), a simulator choice in that order.
pub const BLOCK_SECONDS: f64 = 6.0;
/// `node_info.network` and the metrics' `chain_id` label.
const CHAIN_ID: &str = "nodehealth-sim-1";
/// Peers of a node that has some: a simulator choice.
const PEERS: u64 = 3;
/// `validator_info.voting_power` of a validator in the set: a simulator choice.
const VOTING_POWER: u64 = 10;
/// Seconds a failed round lasts: CometBFT's default `timeout_propose` (3 s), `timeout_prevote`
/// (1 s) and `timeout_precommit` (1 s), their per-round increments left out.
pub const ROUND_SECONDS: f64 = 5.0;
/// Go's zero `time.Time`, what `/status` shows for an empty block store.
const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// The answer to `call` on `endpoint`; `None` for a request the node does not serve (404).
pub fn reply(endpoint: Endpoint, call: &Call, snap: &Snapshot, id: &Identity) -> Option<Reply> {
    // URI over HTTP (`GET /status`) or JSON-RPC over HTTP (`POST /` with `"method": "status"`).
    let route = match (call.path.as_str(), call.rpc.as_deref()) {
        (path, None) => path.trim_start_matches('/'),
        ("/", Some(method)) => method,
        _ => return None,
    };
    let body = match (endpoint, route) {
        (Endpoint::Health, "health") => json!({}),
        (Endpoint::Health, "status") => status(snap, id),
        (Endpoint::Health, "net_info") => net_info(snap),
        (Endpoint::Metrics, "metrics") if call.rpc.is_none() => {
            return Some(Reply {
                status: 200,
                content_type: PROMETHEUS_TEXT,
                body: Body::Full(metrics(snap, id).into_bytes()),
            });
        }
        _ => return None,
    };
    let envelope = json!({"jsonrpc": "2.0", "id": -1, "result": body});
    Some(Reply {
        status: 200,
        content_type: JSON,
        body: Body::Full(to_json_bytes(&envelope)),
    })
}

/// The latest block's height: 0 before the first block.
pub fn height(snap: &Snapshot) -> u64 {
    if snap.is_booting() || snap.proposer_ts < GENESIS {
        return 0;
    }
    ((snap.proposer_ts - GENESIS) / BLOCK_SECONDS).floor() as u64 + 1
}

/// Block `h`'s header time, RFC 3339 with nanoseconds and trailing zeros dropped (RFC3339Nano,
/// "The RFC3339Nano format removes trailing zeros from the seconds field").
pub fn block_time(h: u64) -> String {
    if h == 0 {
        return GO_ZERO_TIME.to_owned();
    }
    let secs = GENESIS as i64 + (h as i64 - 1) * BLOCK_SECONDS as i64;
    // Sub-second part: BFT time is the validators' weighted median, never a round second.
    let nanos = (splitmix64(h) % 1_000_000_000) as i32;
    jiff::Timestamp::new(secs, nanos).map_or_else(|_| GO_ZERO_TIME.to_owned(), |t| t.to_string())
}

/// Whether the node is block syncing: behind by more than a block, in the catching-up mode.
pub fn catching_up(snap: &Snapshot) -> bool {
    matches!(snap.mode, Mode::CatchingUp { .. }) && snap.behind > BLOCK_SECONDS
}

/// The round of the height being decided: 0 while blocks commit; while the network's head stands
/// still (a halt), validators go round after round without +2/3, one every [`ROUND_SECONDS`].
pub fn rounds(snap: &Snapshot) -> u64 {
    if snap.is_booting() {
        return 0;
    }
    // True time (the node's clock minus its skew) against the head's proposer timestamp, which
    // trails true time by the commit lag while the network runs.
    let head_age = snap.wallclock - snap.mode.clock_skew() - snap.target_proposer_ts - LEDGER_LAG_SECONDS;
    let stuck = head_age - BLOCK_SECONDS;
    if stuck <= 0.0 {
        0
    } else {
        (stuck / ROUND_SECONDS) as u64
    }
}

fn hash(seed: u64) -> String {
    (0..4).map(|i| format!("{:016X}", splitmix64(seed ^ i))).collect()
}

fn node_id(id: &Identity) -> String {
    format!(
        "{:016x}{:024x}",
        splitmix64(u64::from(u32::from(id.ip))),
        u32::from(id.ip)
    )
}

fn status(snap: &Snapshot, id: &Identity) -> Value {
    let h = height(snap);
    let (block_hash, app_hash) = if h == 0 {
        (String::new(), String::new())
    } else {
        (hash(h), hash(!h))
    };
    json!({
        "node_info": {
            "protocol_version": {"p2p": "8", "block": "11", "app": "0"},
            "id": node_id(id),
            "listen_addr": "tcp://0.0.0.0:26656",
            "network": CHAIN_ID,
            "version": "0.38.12",
            "channels": "40202122233038606100",
            "moniker": format!("validator-{}", id.ip),
            "other": {"tx_index": "on", "rpc_address": "tcp://0.0.0.0:26657"}
        },
        "sync_info": {
            "latest_block_hash": block_hash,
            "latest_app_hash": app_hash,
            "latest_block_height": h.to_string(),
            "latest_block_time": block_time(h),
            "earliest_block_hash": if h == 0 { String::new() } else { hash(1) },
            "earliest_app_hash": if h == 0 { String::new() } else { hash(!1) },
            "earliest_block_height": h.min(1).to_string(),
            "earliest_block_time": block_time(h.min(1)),
            "catching_up": catching_up(snap)
        },
        "validator_info": {
            "address": validator_address(id),
            "pub_key": {"type": "tendermint/PubKeyEd25519", "value": "Z+8kntVegi1sQiWLYwFSVLNWqdAUGEy7lskL78gxLZI="},
            "voting_power": if snap.in_validator_set { VOTING_POWER } else { 0 }.to_string()
        }
    })
}

fn validator_address(id: &Identity) -> String {
    hash(u64::from(u32::from(id.ip)))[..40].to_owned()
}

fn peers(snap: &Snapshot) -> u64 {
    if snap.mode == Mode::NoPeers { 0 } else { PEERS }
}

fn net_info(snap: &Snapshot) -> Value {
    let peers: Vec<Value> = (0..peers(snap))
        .map(|i| {
            json!({
                "node_info": {"id": format!("{:040x}", splitmix64(i)), "network": CHAIN_ID, "moniker": format!("peer-{i}")},
                "is_outbound": i % 2 == 0,
                "remote_ip": format!("10.0.0.{}", i + 1)
            })
        })
        .collect();
    json!({
        "listening": true,
        "listeners": ["Listener(@)"],
        "n_peers": peers.len().to_string(),
        "peers": peers
    })
}

/// The Prometheus page (Go client: HELP, TYPE, then the samples; floats as Go's `%g`).
pub fn metrics(snap: &Snapshot, id: &Identity) -> String {
    let mut p = Page(String::with_capacity(2048));
    let h = height(snap);
    let chain = format!("{{chain_id=\"{CHAIN_ID}\"}}");
    let validator = format!(
        "{{chain_id=\"{CHAIN_ID}\",validator_address=\"{}\"}}",
        validator_address(id)
    );
    let missed = if snap.in_validator_set { snap.recent_missed } else { 0 };
    let signed = if snap.in_validator_set {
        h.saturating_sub(missed)
    } else {
        0
    };
    let series: [(&str, &str, &str, f64); 9] = [
        (
            "blocksync_syncing",
            "Whether or not a node is block syncing. 1 if yes, 0 if no.",
            &chain,
            f64::from(u8::from(catching_up(snap))),
        ),
        ("consensus_height", "Height of the chain.", &chain, (h + 1) as f64),
        (
            "consensus_latest_block_height",
            "The latest block height.",
            &chain,
            h as f64,
        ),
        ("consensus_rounds", "Number of rounds.", &chain, rounds(snap) as f64),
        (
            "consensus_validator_last_signed_height",
            "Last height signed by this validator if the node is a validator.",
            &validator,
            signed as f64,
        ),
        (
            "consensus_validator_missed_blocks",
            "Total amount of blocks missed for the node, if it is a validator.",
            &validator,
            missed as f64,
        ),
        (
            "consensus_validator_power",
            "Voting power of the node if it is a validator.",
            &validator,
            if snap.in_validator_set {
                VOTING_POWER as f64
            } else {
                0.0
            },
        ),
        ("p2p_peers", "Number of peers.", &chain, peers(snap) as f64),
        (
            "statesync_syncing",
            "Whether or not a node is state syncing. 1 if yes, 0 if no.",
            &chain,
            0.0,
        ),
    ];
    for (name, help, labels, value) in series {
        let name = format!("cometbft_{name}");
        p.meta(&name, Some(help), "gauge");
        p.sample(&name, labels, &go_float(value));
    }
    p.0
}

/// A float as Go's `strconv.FormatFloat(v, 'g', -1, 64)` writes it (what the Prometheus Go
/// client uses): the shortest repr, in exponent form from 1e21 up or when the exponent is at
/// least 6 digits past the point for `%g`'s shortest form (`1.234567e+06`).
pub fn go_float(v: f64) -> String {
    if v == 0.0 || !v.is_finite() || (v.abs() >= 1e-4 && v.abs() < 1e6) {
        return format!("{v}");
    }
    let e = format!("{v:e}");
    match e.split_once('e') {
        Some((mantissa, exp)) => {
            let (sign, digits) = exp.strip_prefix('-').map_or(("+", exp), |d| ("-", d));
            format!("{mantissa}e{sign}{digits:0>2}")
        }
        None => e,
    }
}

#[cfg(test)]
mod tests {
    //! The rendered bodies read generically (serde_json `Value`s, the exposition parser), by
    //! the spec's field names: never with the operator's reader.
    use std::net::Ipv4Addr;

    use super::*;
    use crate::exposition::parse_all;

    /// After the simulated genesis, so heights are past 0.
    const T0: f64 = GENESIS + 86_400.0;

    fn id() -> Identity {
        Identity::for_ip(Ipv4Addr::new(127, 0, 1, 1))
    }

    fn snap_after(mode: Mode, after: f64) -> Snapshot {
        crate::sim::render::snapshot_after(T0, mode, after)
    }

    fn get(endpoint: Endpoint, path: &str, rpc: Option<&str>, snap: &Snapshot) -> Option<Value> {
        let call = Call {
            path: path.to_owned(),
            rpc: rpc.map(str::to_owned),
        };
        let reply = reply(endpoint, &call, snap, &id())?;
        assert_eq!((reply.status, reply.content_type), (200, JSON));
        serde_json::from_slice(&reply.body.collect()).ok()
    }

    fn sync_info(snap: &Snapshot) -> Value {
        let v = get(Endpoint::Health, "/status", None, snap).unwrap();
        assert_eq!((v["jsonrpc"].as_str(), v["id"].as_i64()), (Some("2.0"), Some(-1)));
        v["result"]["sync_info"].clone()
    }

    fn block_height(info: &Value) -> u64 {
        info["latest_block_height"].as_str().unwrap().parse().unwrap()
    }

    #[test]
    fn a_synced_node_is_at_the_head_with_fresh_blocks() {
        let s = snap_after(Mode::Synced, 0.0);
        let info = sync_info(&s);
        assert_eq!(info["catching_up"], false);
        let t: jiff::Timestamp = info["latest_block_time"].as_str().unwrap().parse().unwrap();
        let age = s.wallclock - t.as_second() as f64;
        assert!((0.0..=BLOCK_SECONDS + 1.0).contains(&age), "{age}");
        // A minute later, ten more blocks.
        let later = sync_info(&snap_after(Mode::Synced, 60.0));
        assert_eq!(block_height(&later) - block_height(&info), 10);
        let v = get(Endpoint::Health, "/status", None, &s).unwrap();
        assert_eq!(v["result"]["validator_info"]["voting_power"], "10");
        // JSON-RPC over HTTP gives the same, and `/health` is the empty result.
        assert_eq!(get(Endpoint::Health, "/", Some("status"), &s), Some(v));
        assert_eq!(get(Endpoint::Health, "/health", None, &s).unwrap()["result"], json!({}));
        assert!(
            reply(
                Endpoint::Health,
                &Call {
                    path: "/nope".into(),
                    rpc: None
                },
                &s,
                &id()
            )
            .is_none()
        );
    }

    #[test]
    fn modes_in_the_nodes_words() {
        let catching = Mode::CatchingUp {
            rate: 5.0,
            behind_seconds: 600.0,
        };
        assert_eq!(sync_info(&snap_after(catching, 1.0))["catching_up"], true);
        // Stalled: the block does not move and the node does not say it is syncing.
        let (a, b) = (snap_after(Mode::Stalled, 1.0), snap_after(Mode::Stalled, 120.0));
        assert_eq!(block_height(&sync_info(&a)), block_height(&sync_info(&b)));
        assert_eq!(sync_info(&b)["catching_up"], false);
        let lagging = sync_info(&snap_after(Mode::Lagging { behind_seconds: 600.0 }, 1.0));
        assert_eq!(lagging["catching_up"], false, "lagging claims synced");
        let booting = sync_info(&snap_after(Mode::Booting, 1.0));
        assert_eq!(
            (
                booting["latest_block_height"].as_str(),
                booting["latest_block_time"].as_str()
            ),
            (Some("0"), Some(GO_ZERO_TIME))
        );
        let net = get(Endpoint::Health, "/net_info", None, &snap_after(Mode::NoPeers, 1.0)).unwrap();
        assert_eq!(net["result"]["n_peers"], "0");
        let net = get(Endpoint::Health, "/net_info", None, &snap_after(Mode::Synced, 1.0)).unwrap();
        assert_eq!(net["result"]["n_peers"], "3");
    }

    #[test]
    fn the_metrics_page_as_go_writes_it() {
        let s = snap_after(Mode::MissingProposals { n: 4 }, 1.0);
        let page = metrics(&s, &id());
        let (samples, stats) = parse_all(page.as_bytes()).unwrap();
        assert_eq!(stats.skipped_invalid, 0, "{page}");
        let value = |name: &str| samples.iter().find(|x| x.name == name).map(|x| x.value);
        let h = height(&s) as f64;
        assert_eq!(value("cometbft_consensus_latest_block_height"), Some(h));
        assert_eq!(value("cometbft_consensus_validator_last_signed_height"), Some(h - 4.0));
        assert_eq!(value("cometbft_consensus_validator_missed_blocks"), Some(4.0));
        assert_eq!(value("cometbft_p2p_peers"), Some(3.0));
        assert!(
            page.contains("cometbft_consensus_latest_block_height{chain_id=\"nodehealth-sim-1\"} "),
            "{page}"
        );
        assert_eq!(
            (go_float(1234567.0), go_float(123456.0), go_float(0.0), go_float(12.5)),
            ("1.234567e+06".into(), "123456".into(), "0".into(), "12.5".into())
        );
    }

    #[test]
    fn a_halted_network_freezes_the_head() {
        let mut net = crate::sim::network::Network::new(T0 - 3600.0);
        let v = crate::sim::state::Validator::new(T0 - 3600.0, 0.0, &net);
        net.set_halted(true, T0);
        let (a, b) = (v.snapshot(T0 + 1.0, &net), v.snapshot(T0 + 120.0, &net));
        assert_eq!(
            sync_info(&a)["latest_block_height"],
            sync_info(&b)["latest_block_height"]
        );
    }
}
