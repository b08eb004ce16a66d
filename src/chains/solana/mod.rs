//! Solana (Agave) nodes: the RPC's `GET /health` and the JSON-RPC `getHealth` and `getSlot`, read
//! as Agave's RPC documentation and sources say (see [`rpc`]).
//!
//! What each answer means here:
//! - `/health` `ok`: ready and synced. The node is within its `--health-check-slot-distance`
//!   (default 128) of the cluster's latest optimistically confirmed slot, so its own slot stands
//!   for the cluster's (the target): a lag under that threshold is only seen against the fleet.
//! - `behind`: `affected`, the node catching up; `getHealth`'s `numSlotsBehind` is the lag (the
//!   target is the head plus the lag), and the operator's progress watch decides between syncing
//!   and out of sync.
//! - `unknown`: `not_ready`; the node cannot compare itself with the cluster. At slot 0 (or with
//!   no slot) it has not started following the cluster: booting.

pub mod rpc;

use super::{Ports, failed};
use crate::model::{Api, Fetched, Reading, Request, Scrape, Status, SyncState};
use rpc::Word;

/// `GET /health`: always HTTP 200, the body says `ok`, `behind` or `unknown`.
pub const HEALTH: Request = Request::get(Api::Health, "/health");
/// JSON-RPC `getHealth`: error −32005 with `data.numSlotsBehind` when behind.
pub const GET_HEALTH: Request = Request::post(Api::Health, "/", r#"{"jsonrpc":"2.0","id":1,"method":"getHealth"}"#);
/// JSON-RPC `getSlot` at `confirmed` commitment: the node's latest optimistically confirmed
/// slot, the one its health check compares with the cluster's (the default, `finalized`, trails
/// it by about 32 slots).
pub const GET_SLOT: Request = Request::post(
    Api::Health,
    "/",
    r#"{"jsonrpc":"2.0","id":1,"method":"getSlot","params":[{"commitment":"confirmed"}]}"#,
);
pub const REQUESTS: &[Request] = &[HEALTH, GET_HEALTH, GET_SLOT];
/// The RPC port (`--rpc-port`, 8899). Agave serves no Prometheus page and no request of this
/// chain goes to `metrics`: 9100 is only where a node exporter beside it usually listens.
pub const DEFAULT_PORTS: Ports = Ports {
    health: 8899,
    metrics: 9100,
};

/// Who announces the target: the health check compares the node's optimistically confirmed
/// slot with the latest one the cluster's validators publish in gossip.
const TARGET_SOURCE: &str = "the cluster's confirmed slot (the node's health check)";

/// Reads one scrape of a Solana node.
pub fn read(scrape: &Scrape) -> Reading {
    let mut r = Reading {
        target_source: TARGET_SOURCE,
        ..Reading::default()
    };
    let slot = scrape.get(GET_SLOT).map(|f| body(f).and_then(rpc::get_slot));
    match slot {
        Some(Ok(s)) if s > 0 => r.head.height = Some(s as f64),
        Some(Ok(_)) | None => {}
        Some(Err(e)) => failed(&mut r, "getSlot", &e, false),
    }
    let from_health = scrape.get(HEALTH).map(|f| body(f).and_then(rpc::health_word));
    let from_rpc = scrape.get(GET_HEALTH).map(|f| body(f).and_then(rpc::get_health));
    let word = combine(from_health, from_rpc, &mut r);
    match word {
        Some(w) => apply(w, &mut r),
        None if scrape.get(HEALTH).is_some() || scrape.get(GET_HEALTH).is_some() => {
            r.worsen(Status::NotReady, "no health word could be read".to_owned());
        }
        None => {}
    }
    r
}

/// The body of an answer the node meant: Agave answers `/health` and JSON-RPC (errors included)
/// with HTTP 200, so any other code is a failure of the request, not a health word.
fn body(fetched: &Fetched) -> Result<&[u8], String> {
    match fetched {
        Ok(a) if a.code == 200 => Ok(&a.body),
        Ok(a) => Err(format!("HTTP {}", a.code)),
        Err(f) => Err(f.message.clone()),
    }
}

/// One word from `/health` and `getHealth`: the worse of the two (the node may change its mind
/// between the requests), with `getHealth`'s slot count. A failed request is a reason.
fn combine(
    health: Option<Result<Word, String>>,
    get_health: Option<Result<Word, String>>,
    r: &mut Reading,
) -> Option<Word> {
    let mut words = Vec::new();
    for (what, answer) in [("health", health), ("getHealth", get_health)] {
        match answer {
            Some(Ok(w)) => words.push(w),
            Some(Err(e)) => failed(r, what, &e, false),
            None => {}
        }
    }
    let rank = |w: &Word| match w {
        Word::Ok => 0,
        Word::Behind(None) => 1,
        Word::Behind(Some(_)) => 2,
        Word::Unknown => 3,
    };
    words.into_iter().max_by_key(rank)
}

/// What the node's word means, with its slot (`r.head.height`, when `getSlot` answered).
fn apply(word: Word, r: &mut Reading) {
    match word {
        Word::Ok => {
            r.status = Some(r.status.map_or(Status::Ready, |s| s.max(Status::Ready)));
            r.claimed_sync = Some(SyncState::Synced);
            // "A healthy node is one that is within HEALTH_CHECK_SLOT_DISTANCE slots of the latest
            // cluster confirmed slot" (getHealth): the node has the cluster's head, as far as it knows.
            r.target.height = r.head.height;
        }
        Word::Behind(n) => {
            r.claimed_sync = Some(SyncState::Syncing);
            let by = n.map(|n| format!(" by {n} slots")).unwrap_or_default();
            r.worsen(
                Status::Affected,
                format!("node reports it is behind the cluster{by} (health: behind)"),
            );
            if let (Some(head), Some(n)) = (r.head.height, n) {
                r.target.height = Some(head + n as f64);
            }
        }
        Word::Unknown if r.head.height.is_none() => {
            r.claimed_sync = Some(SyncState::Booting);
            r.booting = Some(
                "node reports health unknown and has no slot yet: it has not started following the cluster".to_owned(),
            );
        }
        Word::Unknown => r.worsen(
            Status::NotReady,
            "node reports health unknown: it cannot compare its slot with the cluster's (start-up verification not \
             finished, or no cluster slot heard from its peers)"
                .to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests;
