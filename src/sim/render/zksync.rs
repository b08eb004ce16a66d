//! zksync external node bodies: `/health` in the component model, and the Prometheus page.
//!
//! `/health` follows the zksync health document: `{"status", "components": {name: {"status",
//! "details"}}}`, the application's status the worst of its components', HTTP 200 while that is
//! healthy (`ready`, `affected`) and 503 otherwise. The `sync_state` component is zksync-era's
//! (`core/node/node_sync/src/sync_state.rs`): `ready` within `SYNC_L2_BLOCK_DELTA` blocks of the
//! main node, `affected` beyond, `not_ready` (no details) before it knows its blocks. The other
//! components and their detail fields are the document's external node example.
//!
//! The metrics page is what an external node's `vise` exporter serves on its Prometheus port
//! (3322, `EN_PROMETHEUS_PORT`), in vise's default `OpenMetricsForPrometheus` format
//! (matter-labs/vise `crates/vise/src/format.rs`, `crates/vise-exporter/src/exporter/mod.rs`):
//! `# HELP` then `# TYPE`, counters without `_total`, histograms as `_sum`, `_count` and
//! `_bucket{le="…",…}` (the `le` label first: prometheus-client's text encoder), info metrics as
//! `<name>_info{…} 1` under `# TYPE <name> info`, `# EOF` at the end. The help text is the field's
//! doc comment with its final `.`/`?`/`!` dropped (vise-macros) and a `.` appended
//! (prometheus-client), so an undocumented metric reads `# HELP <name> .`.
//!
//! Metric names, types, labels and help texts, and where zksync-era (matter-labs/zksync-era)
//! defines them:
//! - `external_node_info` (info: `server_version`, `l1_chain_id`, `l2_chain_id`,
//!   `postgres_pool_size`) and `external_node_protocol_version` (gauge):
//!   `core/bin/external_node/src/metrics/mod.rs`;
//! - `external_node_synced`, `external_node_sync_lag` (gauges, set by `sync_state.rs` from the
//!   same figures as the `sync_state` component), `external_node_last_correct_batch{component}`,
//!   `external_node_last_correct_l2_block{component}`: `core/node/shared_metrics/src/lib.rs`
//!   (`ExternalNodeMetrics`);
//! - `server_miniblock_number{stage="sealed"}`, `server_block_number{stage="sealed"}` (gauges),
//!   `server_processed_txs{stage}` (counter): the same file (`AppMetrics`); the L2 block gauge is
//!   set when the state keeper seals a block;
//! - `external_node_fetcher_l1_batch{stage}`, `external_node_fetcher_miniblock`,
//!   `external_node_action_queue_action_queue_size` (gauges): `core/node/node_sync/src/metrics.rs`,
//!   set by the fetcher as it queues a block's actions (L2 block, its transactions, a seal);
//! - `api_web3_call{method,block_id,block_diff}` (histogram): `core/node/api_server/src/web3/metrics.rs`;
//! - `sql_connection_acquire` (histogram): zksync-era's DAL `ConnectionMetrics` (prefix
//!   `sql_connection`), listed in `docs/guides/external-node/04_observability.md`, which also
//!   gives the latency buckets (`Buckets::LATENCIES`).
//!
//! Not rendered: process metrics (`process_*`). Neither vise nor zksync-era's metrics modules
//! register a process collector, so a real page has none that we could name.
//!
//! Values are the simulated ledger's (local block, main node block, lag); the traffic figures
//! (transactions per block, API calls, latency shapes) are simulator choices, named below.

use serde_json::{Value, json};

use super::radix::{Page, to_json_bytes};
use crate::sim::mode::Mode;
use crate::sim::state::Snapshot;
use crate::sim::status::ComponentStatus;

/// Blocks behind the main node within which the external node calls itself synced
/// (zksync-era `core/node/node_sync/src/sync_state.rs`: `SYNC_L2_BLOCK_DELTA = 10`).
pub const SYNC_L2_BLOCK_DELTA: u64 = 10;
/// L2 blocks per L1 batch: a simulator choice (a batch every ten minutes at one block per second,
/// the order of mainnet's batches).
const L2_BLOCKS_PER_L1_BATCH: u64 = 600;
/// How many batches the main node's commit, proof and execution trail the open batch: a
/// simulator choice, only so the stages differ.
const BATCH_STAGE_LAGS: [(&str, u64); 3] = [("committed", 1), ("proven", 2), ("executed", 3)];
/// Transactions per L2 block: a simulator choice (a quiet chain).
const TXS_PER_L2_BLOCK: u64 = 4;
/// Blocks the fetcher runs ahead of the state keeper while the node is behind: a simulator
/// choice, standing for the bounded action queue.
const FETCH_AHEAD_BLOCKS: u64 = 10;
/// Actions queued per fetched block besides its transactions: the L2 block and its seal.
const ACTIONS_PER_BLOCK: u64 = 2;
/// `external_node_info` labels: a plausible release, Ethereum mainnet, zkSync Era mainnet (324),
/// and the document's example pool size (simulator choices).
const SERVER_VERSION: &str = "27.0.0";
const L1_CHAIN_ID: u64 = 1;
const L2_CHAIN_ID: u64 = 324;
const POSTGRES_POOL_SIZE: u64 = 50;
/// `external_node_protocol_version`: a recent protocol version (simulator choice).
const PROTOCOL_VERSION: u64 = 26;
/// vise's `Buckets::LATENCIES`, in seconds (docs/guides/external-node/04_observability.md).
const LATENCY_BUCKETS: [&str; 9] = ["0.001", "0.005", "0.025", "0.1", "0.25", "1.0", "5.0", "30.0", "120.0"];

/// One simulated latency histogram: calls per second of uptime, mean latency, and the share of
/// calls at or under each of [`LATENCY_BUCKETS`] (all simulator choices).
struct Traffic {
    labels: &'static str,
    per_second: f64,
    mean_seconds: f64,
    cumulative: [f64; 9],
}

const WEB3_CALLS: [Traffic; 2] = [
    Traffic {
        labels: "method=\"eth_blockNumber\"",
        per_second: 2.0,
        mean_seconds: 0.0015,
        cumulative: [0.4, 0.95, 0.99, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
    },
    Traffic {
        labels: "method=\"eth_call\",block_id=\"latest\",block_diff=\"0\"",
        per_second: 1.0,
        mean_seconds: 0.012,
        cumulative: [0.05, 0.45, 0.9, 0.98, 0.995, 1.0, 1.0, 1.0, 1.0],
    },
];

const SQL_ACQUIRE: Traffic = Traffic {
    labels: "",
    per_second: 20.0,
    mean_seconds: 0.0004,
    cumulative: [0.97, 0.995, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
};

/// The application's status: the worst of its components'.
pub fn app_status(snap: &Snapshot) -> ComponentStatus {
    ComponentStatus::worst(components(snap).into_iter().map(|(_, status, _)| status))
}

/// `(name, status, details)` of each component, as an external node reports them.
fn components(snap: &Snapshot) -> Vec<(&'static str, ComponentStatus, Option<Value>)> {
    use ComponentStatus::{Affected, NotReady, Ready};
    let (Some(local), Some(main), Some(lag)) = (snap.local_block(), snap.main_node_block(), snap.block_lag()) else {
        // Starting up: nothing knows its blocks yet; only the exporter serving this page is up.
        return vec![
            ("sync_state", NotReady, None),
            ("main_node_http_rpc", NotReady, None),
            ("tree", NotReady, None),
            ("reorg_detector", NotReady, None),
            ("http_api", NotReady, None),
            ("prometheus_exporter", Ready, None),
        ];
    };
    let is_synced = lag <= SYNC_L2_BLOCK_DELTA;
    let batch = local / L2_BLOCKS_PER_L1_BATCH;
    vec![
        (
            "sync_state",
            if is_synced { Ready } else { Affected },
            Some(json!({"is_synced": is_synced, "local_block": local, "main_node_block": main})),
        ),
        ("main_node_http_rpc", Ready, None),
        (
            "tree",
            Ready,
            Some(json!({"mode": "full", "next_l1_batch_number": batch + 1, "stage": "main_loop"})),
        ),
        (
            "reorg_detector",
            Ready,
            Some(json!({"last_correct_l1_batch": batch, "last_correct_miniblock": local})),
        ),
        ("http_api", Ready, None),
        ("prometheus_exporter", Ready, None),
    ]
}

/// The `/health` body and its HTTP status. `details` (top level) is only set for padding.
pub fn health(snap: &Snapshot, details: Option<Value>) -> (u16, Value) {
    let comps = components(snap);
    let status = ComponentStatus::worst(comps.iter().map(|(_, status, _)| *status));
    let mut components = serde_json::Map::new();
    for (name, status, details) in comps {
        let mut c = serde_json::Map::new();
        c.insert("status".to_owned(), json!(status.as_str()));
        if let Some(d) = details {
            c.insert("details".to_owned(), d);
        }
        components.insert(name.to_owned(), Value::Object(c));
    }
    let mut body = json!({"status": status.as_str(), "components": components});
    if let (Some(d), Some(obj)) = (details, body.as_object_mut()) {
        obj.insert("details".to_owned(), d);
    }
    (status.http_code(), body)
}

pub fn health_body(snap: &Snapshot) -> (u16, Vec<u8>) {
    let (code, body) = health(snap, None);
    (code, to_json_bytes(&body))
}

/// vise writes gauges of integers as integers.
fn int(x: u64) -> String {
    x.to_string()
}

/// vise (prometheus-client, `dtoa`) writes floats with at least one fraction digit: `0.0`, `12.5`.
fn float(x: f64) -> String {
    format!("{x:?}")
}

fn gauge(p: &mut Page, name: &str, help: &str, samples: &[(&str, u64)]) {
    p.meta(name, Some(help), "gauge");
    for (labels, value) in samples {
        let labels = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        p.sample(name, &labels, &int(*value));
    }
}

/// A latency histogram family, `uptime` seconds after the process started.
fn histogram(p: &mut Page, name: &str, help: &str, series: &[Traffic], uptime: f64) {
    p.meta(name, Some(help), "histogram");
    for t in series {
        let count = (t.per_second * uptime).floor();
        let braced = if t.labels.is_empty() {
            String::new()
        } else {
            format!("{{{}}}", t.labels)
        };
        p.sample(&format!("{name}_sum"), &braced, &float(count * t.mean_seconds));
        p.sample(&format!("{name}_count"), &braced, &int(count as u64));
        let bucket = format!("{name}_bucket");
        let extra = if t.labels.is_empty() {
            String::new()
        } else {
            format!(",{}", t.labels)
        };
        for (le, share) in LATENCY_BUCKETS.iter().zip(t.cumulative) {
            // Floors of a growing share of one count: never decreasing along the buckets.
            let n = (count * share).floor() as u64;
            p.sample(&bucket, &format!("{{le=\"{le}\"{extra}}}"), &int(n));
        }
        p.sample(&bucket, &format!("{{le=\"+Inf\"{extra}}}"), &int(count as u64));
    }
}

/// The `/metrics` page.
pub fn metrics(snap: &Snapshot) -> String {
    let mut p = Page(String::with_capacity(8 * 1024));
    let uptime = (snap.wallclock - snap.mode.clock_skew() - snap.process_start).max(0.0);
    let (Some(local), Some(lag)) = (snap.local_block(), snap.block_lag()) else {
        booting_metrics(&mut p, uptime);
        return p.0;
    };
    // A lagging node hears of blocks late (its fetcher is the bottleneck: nothing queued); a node
    // otherwise behind has fetched ahead of what its state keeper sealed.
    let ahead = match snap.mode {
        Mode::Lagging { .. } => 0,
        _ => lag.min(FETCH_AHEAD_BLOCKS),
    };
    let fetched = local + ahead;
    let sealed_since_start = snap.counters.progress.max(0.0).floor() as u64;
    let batch = local / L2_BLOCKS_PER_L1_BATCH;
    let open_batch = fetched / L2_BLOCKS_PER_L1_BATCH;

    p.meta(
        "external_node_info",
        Some("General information about the external node."),
        "info",
    );
    let info = format!(
        "{{server_version=\"{SERVER_VERSION}\",l1_chain_id=\"{L1_CHAIN_ID}\",l2_chain_id=\"{L2_CHAIN_ID}\",\
         postgres_pool_size=\"{POSTGRES_POOL_SIZE}\"}}"
    );
    p.sample("external_node_info_info", &info, "1");
    gauge(
        &mut p,
        "external_node_protocol_version",
        "Current protocol version.",
        &[("", PROTOCOL_VERSION)],
    );
    gauge(
        &mut p,
        "external_node_synced",
        "Is the external node currently synced.",
        &[("", u64::from(lag <= SYNC_L2_BLOCK_DELTA))],
    );
    gauge(
        &mut p,
        "external_node_sync_lag",
        "Current sync lag of the external node.",
        &[("", lag)],
    );
    gauge(
        &mut p,
        "external_node_last_correct_batch",
        "Number of the last L1 batch checked by the re-org detector or consistency checker.",
        &[
            ("component=\"consistency_checker\"", batch.saturating_sub(1)),
            ("component=\"reorg_detector\"", batch),
        ],
    );
    gauge(
        &mut p,
        "external_node_last_correct_l2_block",
        "Number of the last L2 block checked by the re-org detector.",
        &[("component=\"reorg_detector\"", local)],
    );
    let stages: Vec<(String, u64)> = std::iter::once(("open", 0))
        .chain(BATCH_STAGE_LAGS)
        .map(|(stage, behind)| (format!("stage=\"{stage}\""), open_batch.saturating_sub(behind)))
        .collect();
    let stages: Vec<(&str, u64)> = stages.iter().map(|(l, v)| (l.as_str(), *v)).collect();
    gauge(&mut p, "external_node_fetcher_l1_batch", ".", &stages);
    gauge(&mut p, "external_node_fetcher_miniblock", ".", &[("", fetched)]);
    gauge(
        &mut p,
        "external_node_action_queue_action_queue_size",
        ".",
        &[("", ahead * (TXS_PER_L2_BLOCK + ACTIONS_PER_BLOCK))],
    );
    gauge(&mut p, "server_miniblock_number", ".", &[("stage=\"sealed\"", local)]);
    gauge(&mut p, "server_block_number", ".", &[("stage=\"sealed\"", batch)]);
    p.meta("server_processed_txs", Some("."), "counter");
    p.sample(
        "server_processed_txs",
        "{stage=\"mempool_added\"}",
        &int((sealed_since_start + ahead) * TXS_PER_L2_BLOCK),
    );
    p.sample(
        "server_processed_txs",
        "{stage=\"state_keeper\"}",
        &int(sealed_since_start * TXS_PER_L2_BLOCK),
    );
    histogram(
        &mut p,
        "api_web3_call",
        "Latency of a Web3 call. Calls that take block ID as an input have block ID and block diff labels \
         (the latter is the difference between the latest sealed L2 block and the resolved L2 block).",
        &WEB3_CALLS,
        uptime,
    );
    sql_acquire(&mut p, uptime);
    p.line(&["# EOF"]);
    p.0
}

fn sql_acquire(p: &mut Page, uptime: f64) {
    histogram(
        p,
        "sql_connection_acquire",
        "Latency of acquiring a DB connection.",
        std::slice::from_ref(&SQL_ACQUIRE),
        uptime,
    );
}

/// A page before genesis: vise exports registered gauges at 0 and families only once a label set
/// was used, and an unset info metric not at all.
fn booting_metrics(p: &mut Page, uptime: f64) {
    gauge(
        p,
        "external_node_protocol_version",
        "Current protocol version.",
        &[("", 0)],
    );
    gauge(
        p,
        "external_node_synced",
        "Is the external node currently synced.",
        &[("", 0)],
    );
    gauge(
        p,
        "external_node_sync_lag",
        "Current sync lag of the external node.",
        &[("", 0)],
    );
    gauge(p, "external_node_fetcher_miniblock", ".", &[("", 0)]);
    gauge(p, "external_node_action_queue_action_queue_size", ".", &[("", 0)]);
    sql_acquire(p, uptime);
    p.line(&["# EOF"]);
}
