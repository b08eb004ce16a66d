//! Substrate / Polkadot nodes: the RPC's `GET /health` and `GET /health/readiness`, the
//! JSON-RPC `system_syncState`, and the node's Prometheus page (`substrate_` metrics).
//!
//! What each answer means:
//! - `/health` (always 200 while the RPC server runs) is the node's word: `isSyncing` true is
//!   "syncing" (a major sync), `peers` 0 on a chain that `shouldHavePeers` is a node that hears
//!   nobody (affected). A single-node dev chain says `shouldHavePeers: false`: no peers is right.
//! - `/health/readiness`: 200 "when it is not doing a major sync" and has peers, 500 otherwise
//!   (paritytech/polkadot-sdk#4802). It repeats `/health`, so a 500 that `/health` explains adds
//!   nothing; a dev chain is never ready there, which is not a fault.
//! - `system_syncState`: `currentBlock` is the head's height, `highestBlock` the target peers
//!   announce; the gap and whether it closes are judged by `assess`.
//! - Metrics: the same heights, and the finalized one: best − finalized past
//!   [`MAX_FINALITY_LAG_BLOCKS`] is a reason.

pub mod metrics;
pub mod rpc;

use super::{Ports, failed};
use crate::model::{Api, Fetched, Reading, Request, Scrape, Status, SyncState};

/// `GET /health`: `{"peers", "isSyncing", "shouldHavePeers"}`.
pub const HEALTH: Request = Request::get(Api::Health, "/health");
/// `GET /health/readiness`: 200 only when not syncing and with peers (500 otherwise).
pub const READINESS: Request = Request::get(Api::Health, "/health/readiness");
/// JSON-RPC `system_syncState`: `{startingBlock, currentBlock, highestBlock}`.
pub const SYNC_STATE: Request = Request::post(
    Api::Health,
    "/",
    r#"{"jsonrpc":"2.0","id":1,"method":"system_syncState","params":[]}"#,
);
/// The node's Prometheus exporter (`--prometheus-port`, 9615).
pub const METRICS: Request = Request::get(Api::Metrics, "/metrics");
pub const REQUESTS: &[Request] = &[HEALTH, READINESS, SYNC_STATE, METRICS];
/// The RPC (`--rpc-port`, 9944) and Prometheus (`--prometheus-port`, 9615) ports.
pub const DEFAULT_PORTS: Ports = Ports {
    health: 9944,
    metrics: 9615,
};

/// Blocks the finalized block may trail the best one before it is a reason. Substrate's own
/// alerting rules (`BlockFinalizationLaggingBehind`): "Under the assumption of an average block
/// production of 6 seconds, "best" and "finalized" being more than 10 blocks apart would imply
/// more than a 1 minute delay between block production and finalization."
pub const MAX_FINALITY_LAG_BLOCKS: f64 = 10.0;

/// Who announces the target: `highestBlock`, "the highest block in the network" as peers say.
const TARGET_SOURCE: &str = "the highest block peers announce";

/// Reads one scrape of a substrate node.
pub fn read(scrape: &Scrape) -> Reading {
    let mut r = Reading {
        target_source: TARGET_SOURCE,
        ..Reading::default()
    };
    let health = scrape.get(HEALTH).and_then(|f| read_health(f, &mut r));
    if let Some(fetched) = scrape.get(READINESS) {
        read_readiness(fetched, health, &mut r);
    }
    // Without `/health`, the heights are the node's word.
    let only_word = scrape.get(HEALTH).is_none();
    if let Some(fetched) = scrape.get(SYNC_STATE) {
        read_sync_state(fetched, &mut r, only_word);
    }
    match scrape.get(METRICS) {
        Some(Ok(a)) if a.code == 200 => match metrics::parse(&a.body) {
            Ok(page) => read_metrics(&page, &mut r, only_word),
            Err(e) => failed(&mut r, "metrics", &e, only_word),
        },
        Some(Ok(a)) => failed(&mut r, "metrics", &format!("HTTP {}", a.code), only_word),
        Some(Err(f)) => failed(&mut r, "metrics", &f.message, only_word),
        None => {}
    }
    r
}

/// `/health`: the node's word on syncing and peers.
fn read_health(fetched: &Fetched, r: &mut Reading) -> Option<rpc::Health> {
    let parsed = match fetched {
        Ok(a) if a.code == 200 => rpc::parse_health(&a.body),
        Ok(a) => Err(format!("HTTP {}", a.code)),
        Err(f) => Err(f.message.clone()),
    };
    let h = match parsed {
        Ok(h) => h,
        Err(e) => {
            failed(r, "health", &e, true);
            return None;
        }
    };
    r.status = Some(Status::Ready);
    r.claimed_sync = Some(if h.is_syncing {
        SyncState::Syncing
    } else {
        SyncState::Synced
    });
    if h.is_syncing {
        r.worsen(
            Status::Affected,
            "node reports isSyncing: a major sync is running".to_owned(),
        );
    }
    if h.peers == 0 && h.should_have_peers {
        r.worsen(Status::Affected, "no peers connected (health peers is 0)".to_owned());
    }
    Some(h)
}

/// `/health/readiness`: what it adds to `/health`.
fn read_readiness(fetched: &Fetched, health: Option<rpc::Health>, r: &mut Reading) {
    let code = match fetched {
        Ok(a) => a.code,
        Err(f) => return failed(r, "readiness", &f.message, false),
    };
    match (code, health) {
        (200, _) => {}
        // Nodes from before paritytech/polkadot-sdk#4802 do not serve it: `/health` says all.
        (404, Some(_)) => {}
        // Explained by `/health` (syncing, or no peers, including a dev chain's none).
        (500, Some(h)) if h.is_syncing || h.peers == 0 => {}
        (500, Some(_)) => r.reasons.push(
            "readiness answers HTTP 500 though health reports peers and no sync (it changed between the requests?)"
                .to_owned(),
        ),
        (500, None) => r.worsen(
            Status::Affected,
            "readiness answers HTTP 500: the node is syncing or has no peers".to_owned(),
        ),
        (code, _) => failed(r, "readiness", &format!("HTTP {code}"), false),
    }
}

/// `system_syncState`: the head and the target. `only_word`: `/health` is not probed.
fn read_sync_state(fetched: &Fetched, r: &mut Reading, only_word: bool) {
    let parsed = match fetched {
        Ok(a) if a.code == 200 => rpc::parse_sync_state(&a.body),
        Ok(a) => Err(format!("HTTP {}", a.code)),
        Err(f) => Err(f.message.clone()),
    };
    let s = match parsed {
        Ok(s) => s,
        Err(e) => return failed(r, "system_syncState", &e, only_word),
    };
    if only_word {
        r.status = Some(r.status.unwrap_or(Status::Ready));
    }
    if s.current_block == 0 && s.highest_block.unwrap_or(0) == 0 {
        r.booting = Some(
            "the node is at the genesis block and no peer announces another (system_syncState): it has not started \
             syncing"
                .to_owned(),
        );
        return;
    }
    r.head.height = Some(s.current_block as f64);
    r.target.height = s.highest_block.map(|h| h as f64);
}

/// The page: heights when the RPC did not give them, the finality lag, peers when `/health` is
/// not probed.
fn read_metrics(page: &metrics::Page, r: &mut Reading, only_word: bool) {
    super::page_notes(r, &page.stats);
    if only_word && r.status.is_none() {
        r.status = Some(Status::Ready);
    }
    if r.head.height.is_none() && r.booting.is_none() {
        if page.best == Some(0.0) && page.sync_target.unwrap_or(0.0) == 0.0 {
            r.booting = Some("the node's best block is the genesis block and it has no sync target".to_owned());
        } else {
            r.head.height = page.best;
            r.target.height = page.sync_target;
        }
    }
    // Finality is the validators' vote (GRANDPA), not this node's work: its lag is a reason for
    // the operator to see, not a verdict on the node.
    if let (Some(best), Some(fin)) = (page.best, page.finalized)
        && best - fin > MAX_FINALITY_LAG_BLOCKS
    {
        r.reasons.push(format!(
            "finality lags: the finalized block is {:.0} blocks behind the best (more than {MAX_FINALITY_LAG_BLOCKS:.0})",
            best - fin
        ));
    }
    // Whether the chain expects peers is only in `/health`: without it, zero is a reason only.
    if only_word && page.peers == Some(0.0) {
        r.reasons
            .push("no peers connected (substrate_sub_libp2p_peers_count is 0)".to_owned());
    }
}

#[cfg(test)]
mod tests;
