//! CometBFT nodes (Cosmos-SDK chains): the RPC's `GET /status` and `GET /net_info`, and the
//! node's Prometheus page (`cometbft_` metrics by default), read as CometBFT's RPC spec
//! (`docs.cometbft.com`, "RPC spec") and its metrics documentation say.
//!
//! What each answer means:
//! - `/status` is the node's word: `sync_info.catching_up` true is "syncing" (block sync or
//!   state sync runs), its `latest_block_height` is the head's height and `latest_block_time`
//!   (the block header's BFT time, the median of the validators' clocks) its time, judged
//!   against the operator's clock (the answer carries no clock of the node's). Any HTTP status
//!   but 200 is a failed request (the RPC answers errors as JSON-RPC errors with 500).
//! - `/net_info`: `n_peers` 0 is a node that hears nobody: affected, with a reason.
//! - `GET /health` is not read: it "only says the process is alive" (`{"result": {}}`).

pub mod metrics;
pub mod rpc;

use super::{Ports, failed};
use crate::model::{Answer, Api, Fetched, Reading, Request, Scrape, Status, SyncState};

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

/// Reads one scrape of a cometbft node whose metrics carry `namespace` (`spec.chain.metricsNamespace`;
/// default `cometbft`).
pub fn read_with(scrape: &Scrape, namespace: Option<&str>) -> Reading {
    read_with_namespace(scrape, namespace.unwrap_or(metrics::DEFAULT_NAMESPACE))
}

/// Reads one scrape of a cometbft node, its metrics under the default namespace.
pub fn read(scrape: &Scrape) -> Reading {
    read_with_namespace(scrape, metrics::DEFAULT_NAMESPACE)
}

/// Reads one scrape, the metrics page's series under `namespace` (`instrumentation.namespace`).
pub fn read_with_namespace(scrape: &Scrape, namespace: &str) -> Reading {
    let mut r = Reading::default();
    let status = scrape.get(STATUS);
    if let Some(fetched) = status {
        read_status(fetched, &mut r);
    }
    match scrape.get(NET_INFO) {
        // Not the node's word on its ledger: a failure is a reason, not a verdict.
        Some(Ok(a)) => match ok_body(a).and_then(rpc::parse_net_info) {
            Ok(0) => r.worsen(
                Status::Affected,
                "no peers connected (net_info n_peers is 0)".to_owned(),
            ),
            Ok(_) => {}
            Err(e) => failed(&mut r, "net_info", &e, false),
        },
        Some(Err(f)) => failed(&mut r, "net_info", &f.message, false),
        None => {}
    }
    let only_word = status.is_none();
    match scrape.get(METRICS) {
        Some(Ok(a)) => match ok_body(a).and_then(|body| metrics::parse(body, namespace)) {
            Ok(page) => metrics::read(&page, &mut r, only_word),
            Err(e) => failed(&mut r, "metrics", &e, only_word),
        },
        Some(Err(f)) => failed(&mut r, "metrics", &f.message, only_word),
        None => {}
    }
    r
}

/// The body of a 200; any other status is the failure. CometBFT's RPC answers 200 with a
/// `result`, and a failed call over URI-over-HTTP with 500 and a JSON-RPC `error`
/// (`WriteRPCResponseHTTPError`), whose message is kept.
fn ok_body(a: &Answer) -> Result<&[u8], String> {
    if a.code == 200 {
        return Ok(&a.body);
    }
    match rpc::result(&a.body) {
        Err(e) if e.starts_with("JSON-RPC error") => Err(format!("HTTP {}: {e}", a.code)),
        _ => Err(format!("HTTP {}", a.code)),
    }
}

/// `/status`: the node's word on its ledger.
fn read_status(fetched: &Fetched, r: &mut Reading) {
    let a = match fetched {
        Ok(a) => a,
        Err(f) => return failed(r, "status", &f.message, true),
    };
    let s = match ok_body(a).and_then(rpc::parse_status) {
        Ok(s) => s,
        Err(e) => return failed(r, "status", &e, true),
    };
    r.status = Some(Status::Ready);
    r.in_validator_set = s.voting_power.map(|p| p > 0);
    if s.height == 0 {
        // An empty block store: before genesis time, or before state sync restored a snapshot.
        let why = if s.catching_up {
            "the node has no block yet (latest_block_height 0) and is catching up: state sync has not restored a snapshot"
        } else {
            "the node has no block yet (latest_block_height 0): the chain has not started"
        };
        r.booting = Some(why.to_owned());
        r.claimed_sync = Some(SyncState::Booting);
        return;
    }
    r.head.height = Some(s.height as f64);
    r.head.time = s.time;
    if s.time.is_none() {
        r.reasons
            .push("latest_block_time is missing or before any real chain: the head's age is unknown".to_owned());
    }
    // "catching_up": the node is syncing, not taking part in consensus; whether it closes the gap
    // is the operator's observation of its head (assess), not this word.
    r.claimed_sync = Some(if s.catching_up {
        SyncState::Syncing
    } else {
        SyncState::Synced
    });
    if s.catching_up {
        r.worsen(Status::Affected, "node reports catching_up: it is syncing".to_owned());
    }
}

#[cfg(test)]
mod tests;
