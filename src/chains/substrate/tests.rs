//! The Substrate reader on bodies written by hand from polkadot-sdk's RPC (`system_health`,
//! `system_syncState`, camelCase) and its metrics' names: `tests/fixtures/substrate/`.

use crate::chains::Watched;
use bytes::Bytes;

use super::*;
use crate::assess::{History, Params, assess};
use crate::model::{Answer, Observation};

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("../../../tests/fixtures/substrate/", $name))
    };
}

const SYNCED: &[u8] = fixture!("health_synced.json");
const SYNCING: &[u8] = fixture!("health_syncing.json");
const NO_PEERS: &[u8] = fixture!("health_no_peers.json");
const DEV_CHAIN: &[u8] = fixture!("health_dev_chain.json");
const STATE_SYNCED: &[u8] = fixture!("sync_state_synced.json");
const STATE_SYNCING: &[u8] = fixture!("sync_state_syncing.json");
const STATE_GENESIS: &[u8] = fixture!("sync_state_genesis.json");
const NOT_FOUND: &[u8] = fixture!("rpc_method_not_found.json");
const PAGE: &[u8] = fixture!("metrics.txt");

fn answer(code: u16, body: impl Into<Bytes>) -> Fetched {
    Ok(Answer {
        code,
        body: body.into(),
    })
}

/// `[health, readiness, syncState, metrics]`.
fn scrape_at(at: f64, answers: [Option<Fetched>; 4]) -> Scrape {
    let answers = [HEALTH, READINESS, SYNC_STATE, METRICS]
        .into_iter()
        .zip(answers)
        .filter_map(|(r, f)| Some((r, f?)))
        .collect();
    Scrape { at, answers }
}

fn scrape(answers: [Option<Fetched>; 4]) -> Reading {
    read(&scrape_at(0.0, answers))
}

fn ok(body: &'static [u8]) -> Option<Fetched> {
    Some(answer(200, body))
}

fn code(c: u16) -> Option<Fetched> {
    Some(answer(c, ""))
}

#[test]
fn a_synced_validator_in_the_rpcs_words() {
    let r = scrape([ok(SYNCED), code(200), ok(STATE_SYNCED), ok(PAGE)]);
    assert_eq!(r.status, Some(Status::Ready), "{r:?}");
    assert_eq!(r.claimed_sync, Some(SyncState::Synced));
    assert_eq!(r.head.height, Some(21_543_210.0), "currentBlock");
    assert_eq!(r.target.height, Some(21_543_210.0), "highestBlock");
    assert_eq!(r.head.time, None);
    assert!(r.reasons.is_empty(), "finality 2 blocks behind is normal: {r:?}");
}

#[test]
fn is_syncing_is_the_nodes_word_and_the_gap_is_judged_by_its_progress() {
    let r = scrape([ok(SYNCING), code(500), ok(STATE_SYNCING), None]);
    assert_eq!(r.claimed_sync, Some(SyncState::Syncing));
    assert_eq!(r.status, Some(Status::Affected));
    assert_eq!(
        r.reasons,
        vec!["node reports isSyncing: a major sync is running".to_owned()],
        "the readiness 500 is explained by /health"
    );
    assert_eq!(
        (r.head.height, r.target.height),
        (Some(21_000_000.0), Some(21_543_210.0))
    );
    let mut h = History::new();
    let params = Params {
        observed_rate_window_seconds: 20.0,
        ..Params::default()
    };
    let obs = |at: f64| Observation {
        at,
        reading: Ok(read(&scrape_at(at, [ok(SYNCING), None, ok(STATE_SYNCING), None]))),
    };
    let v = assess(&mut h, &obs(0.0), &params);
    assert_eq!(
        (v.sync_state, v.figures.block_lag),
        (SyncState::Syncing, Some(543_210)),
        "{v:?}"
    );
}

#[test]
fn a_stalled_head_is_caught_by_watching_it() {
    // The node says it is synced; its block stays while the peers' highest block moves on.
    let mut watched = Watched::new(Params::default());
    let state = |cur: u64, high: u64| {
        format!(
            r#"{{"jsonrpc":"2.0","result":{{"startingBlock":0,"currentBlock":{cur},"highestBlock":{high}}},"id":1}}"#
        )
    };
    let mut obs = |at: f64, cur: u64, high: u64| {
        let s = scrape_at(at, [ok(SYNCED), None, Some(answer(200, state(cur, high))), None]);
        watched.see(&s, read)
    };
    let v = obs(0.0, 1000, 1000);
    assert_eq!((v.status, v.sync_state), (Status::Ready, SyncState::Synced), "{v:?}");
    let v = obs(200.0, 1000, 1100);
    assert_eq!(
        (v.status, v.sync_state),
        (Status::NotReady, SyncState::OutOfSync),
        "{v:?}"
    );
    assert!(
        v.reasons[0].starts_with("100 blocks behind the highest block peers announce"),
        "{:?}",
        v.reasons
    );
}

#[test]
fn zero_peers_is_affected_unless_the_chain_should_have_none() {
    let r = scrape([ok(NO_PEERS), code(500), ok(STATE_SYNCED), None]);
    assert_eq!(r.status, Some(Status::Affected));
    assert_eq!(r.reasons, vec!["no peers connected (health peers is 0)".to_owned()]);
    // A single-node dev chain: never ready on /health/readiness, and never "no peers".
    let r = scrape([ok(DEV_CHAIN), code(500), ok(STATE_SYNCED), None]);
    assert_eq!(r.status, Some(Status::Ready), "{r:?}");
    assert!(r.reasons.is_empty(), "{r:?}");
    // Readiness alone says 500: syncing or no peers.
    let r = scrape([None, code(500), ok(STATE_SYNCED), None]);
    assert_eq!(r.status, Some(Status::Affected), "{r:?}");
    // An older node without /health/readiness.
    let r = scrape([ok(SYNCED), code(404), ok(STATE_SYNCED), None]);
    assert_eq!((r.status, r.reasons.len()), (Some(Status::Ready), 0), "{r:?}");
}

#[test]
fn genesis_without_a_target_is_booting() {
    let r = scrape([ok(NO_PEERS), code(500), ok(STATE_GENESIS), None]);
    assert!(r.booting.as_deref().is_some_and(|b| b.contains("genesis")), "{r:?}");
    let page = "substrate_block_height{status=\"best\",chain=\"dev\"} 0\n\
                substrate_block_height{status=\"finalized\",chain=\"dev\"} 0\n";
    let r = scrape([None, None, None, Some(answer(200, page))]);
    assert!(r.booting.is_some(), "{r:?}");
}

#[test]
fn the_metrics_page_gives_heights_and_the_finality_lag() {
    let r = scrape([None, None, None, ok(PAGE)]);
    assert_eq!(r.status, Some(Status::Ready));
    assert_eq!(
        (r.head.height, r.target.height),
        (Some(21_543_210.0), Some(21_543_210.0))
    );
    let lagging = String::from_utf8_lossy(PAGE).replace("} 21543208", "} 21543150");
    let r = scrape([ok(SYNCED), None, ok(STATE_SYNCED), Some(answer(200, lagging))]);
    assert_eq!(r.status, Some(Status::Ready), "a reason, not a verdict: {r:?}");
    assert_eq!(
        r.reasons,
        vec!["finality lags: the finalized block is 60 blocks behind the best (more than 10)".to_owned()]
    );
}

#[test]
fn bad_answers_say_why_and_never_panic() {
    let cases: [(&[u8], &str); 5] = [
        (b"<html>Bad Gateway</html>", "health probe failed: not JSON"),
        (b"\"ok\"", "health probe failed: not a JSON object"),
        (
            br#"{"peers":"24","isSyncing":false,"shouldHavePeers":true}"#,
            "health probe failed: `peers` is not a number",
        ),
        (
            br#"{"peers":-1,"isSyncing":false,"shouldHavePeers":true}"#,
            "health probe failed: `peers` is not a count",
        ),
        (
            br#"{"peers":3,"isSyncing":"no","shouldHavePeers":true}"#,
            "health probe failed: `isSyncing` is not a boolean",
        ),
    ];
    for (body, why) in cases {
        let r = scrape([Some(answer(200, body)), None, None, None]);
        assert_eq!(r.status, Some(Status::NotReady), "{r:?}");
        assert!(r.reasons[0].starts_with(why), "{why}: {r:?}");
        assert!(!r.reasons[0].contains("Bad Gateway"), "{r:?}");
    }
    let huge = br#"{"jsonrpc":"2.0","result":{"startingBlock":0,"currentBlock":184467440737095516150,"highestBlock":1},"id":1}"#;
    let r = scrape([ok(SYNCED), None, Some(answer(200, &huge[..])), None]);
    assert_eq!(r.status, Some(Status::Ready), "health's word stands: {r:?}");
    assert!(
        r.reasons[0].starts_with("system_syncState probe failed: `currentBlock` is not a count"),
        "{r:?}"
    );
    let r = scrape([ok(SYNCED), None, ok(NOT_FOUND), None]);
    assert_eq!(
        r.reasons,
        vec!["system_syncState probe failed: JSON-RPC error -32601: Method not found".to_owned()]
    );
    let r = scrape([code(503), None, None, None]);
    assert_eq!(r.reasons, vec!["health probe failed: HTTP 503".to_owned()]);
}
