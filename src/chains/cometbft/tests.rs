//! The CometBFT reader on bodies written by hand from CometBFT's RPC spec (`/status`,
//! `/net_info` examples) and its metrics documentation: `tests/fixtures/cometbft/`.

use crate::chains::Watched;
use bytes::Bytes;

use super::*;
use crate::assess::{History, Params, assess};
use crate::model::{Observation, ProbeFailure};

const SYNCED: &[u8] = include_bytes!("../../../tests/fixtures/cometbft/status_synced.json");
const CATCHING_UP: &[u8] = include_bytes!("../../../tests/fixtures/cometbft/status_catching_up.json");
const UNWRAPPED: &[u8] = include_bytes!("../../../tests/fixtures/cometbft/status_unwrapped.json");
const BOOTING: &[u8] = include_bytes!("../../../tests/fixtures/cometbft/status_booting.json");
const RPC_ERROR: &[u8] = include_bytes!("../../../tests/fixtures/cometbft/status_rpc_error.json");
const NET_INFO_OK: &[u8] = include_bytes!("../../../tests/fixtures/cometbft/net_info.json");
const NO_PEERS: &[u8] = include_bytes!("../../../tests/fixtures/cometbft/net_info_no_peers.json");
const PAGE: &[u8] = include_bytes!("../../../tests/fixtures/cometbft/metrics.txt");

/// `latest_block_time` of `status_synced.json`: 2021-03-25T14:00:43.356134226Z.
const SYNCED_BLOCK_TIME: f64 = 1_616_680_843.0 + 0.356_134_226;

fn answer(code: u16, body: impl Into<Bytes>) -> Fetched {
    Ok(Answer {
        code,
        body: body.into(),
    })
}

fn refused() -> Fetched {
    Err(ProbeFailure {
        kind: "ConnectionRefused",
        message: "connection refused".into(),
        no_answer: true,
    })
}

fn scrape_at(at: f64, status: Option<Fetched>, net_info: Option<Fetched>, metrics: Option<Fetched>) -> Scrape {
    let answers = [(STATUS, status), (NET_INFO, net_info), (METRICS, metrics)]
        .into_iter()
        .filter_map(|(r, f)| Some((r, f?)))
        .collect();
    Scrape { at, answers }
}

fn scrape(status: Option<Fetched>, net_info: Option<Fetched>, metrics: Option<Fetched>) -> Reading {
    read(&scrape_at(0.0, status, net_info, metrics))
}

#[test]
fn a_synced_validator_in_the_specs_words() {
    let r = scrape(Some(answer(200, SYNCED)), Some(answer(200, NET_INFO_OK)), None);
    assert_eq!(r.status, Some(Status::Ready), "{r:?}");
    assert_eq!(r.claimed_sync, Some(SyncState::Synced));
    assert_eq!(r.booting, None);
    assert_eq!(
        r.head.height,
        Some(5_622_165.0),
        "latest_block_height, a decimal string"
    );
    let time = r.head.time.unwrap();
    assert!(
        (time - SYNCED_BLOCK_TIME).abs() < 1e-6,
        "RFC 3339 with nanoseconds: {time}"
    );
    assert_eq!(r.in_validator_set, Some(true), "voting_power \"10\"");
    assert_eq!(r.clock, None, "/status carries no clock: the operator's is used");
    assert!(r.reasons.is_empty(), "{r:?}");
}

#[test]
fn the_result_wrapper_is_optional() {
    let wrapped = scrape(Some(answer(200, SYNCED)), None, None);
    let bare = scrape(Some(answer(200, UNWRAPPED)), None, None);
    assert_eq!(wrapped, bare);
}

#[test]
fn catching_up_is_the_nodes_word_for_syncing() {
    let r = scrape(Some(answer(200, CATCHING_UP)), Some(answer(200, NET_INFO_OK)), None);
    assert_eq!(r.claimed_sync, Some(SyncState::Syncing));
    assert_eq!(r.status, Some(Status::Affected));
    assert_eq!(r.in_validator_set, Some(false), "voting_power \"0\"");
    assert!(
        r.reasons
            .contains(&"node reports catching_up: it is syncing".to_owned()),
        "{r:?}"
    );
    // An hour behind the operator's clock: syncing while the operator has not seen progress yet,
    // then judged by it.
    let at = 1_616_680_843.0;
    let mut h = History::new();
    let params = Params {
        observed_rate_window_seconds: 20.0,
        ..Params::default()
    };
    let obs = |at: f64, body: &'static [u8]| Observation {
        at,
        reading: Ok(read(&scrape_at(at, Some(answer(200, body)), None, None))),
    };
    let v = assess(&mut h, &obs(at, CATCHING_UP), &params);
    assert_eq!(v.sync_state, SyncState::Syncing, "{v:?}");
    // Ten seconds later the same block: no progress, out of sync.
    let v = assess(&mut h, &obs(at + 10.0, CATCHING_UP), &params);
    assert_eq!(v.sync_state, SyncState::OutOfSync, "{v:?}");
}

#[test]
fn a_stalled_head_is_caught_by_watching_it() {
    // The node says it is synced (`catching_up: false`) but its block does not change.
    let params = Params::default();
    let mut h = History::new();
    let obs = |at: f64| Observation {
        at,
        reading: Ok(read(&scrape_at(at, Some(answer(200, SYNCED)), None, None))),
    };
    let fresh = SYNCED_BLOCK_TIME + 5.0;
    let v = assess(&mut h, &obs(fresh), &params);
    assert_eq!((v.status, v.sync_state), (Status::Ready, SyncState::Synced), "{v:?}");
    let v = assess(&mut h, &obs(fresh + 120.0), &params);
    assert_eq!(
        (v.status, v.sync_state),
        (Status::NotReady, SyncState::OutOfSync),
        "{v:?}"
    );
    assert!(v.reasons[0].starts_with("ledger 2 min"), "{:?}", v.reasons);
}

#[test]
fn zero_peers_is_affected() {
    let r = scrape(Some(answer(200, SYNCED)), Some(answer(200, NO_PEERS)), None);
    assert_eq!(r.status, Some(Status::Affected));
    assert_eq!(r.claimed_sync, Some(SyncState::Synced));
    assert_eq!(r.reasons, vec!["no peers connected (net_info n_peers is 0)".to_owned()]);
    // A failed net_info is a reason, the status stands.
    let r = scrape(Some(answer(200, SYNCED)), Some(answer(500, "")), None);
    assert_eq!(r.status, Some(Status::Ready));
    assert_eq!(r.reasons, vec!["net_info probe failed: HTTP 500".to_owned()]);
}

#[test]
fn an_empty_block_store_is_booting() {
    let r = scrape(Some(answer(200, BOOTING)), None, None);
    assert_eq!(r.claimed_sync, Some(SyncState::Booting));
    assert!(
        r.booting
            .as_deref()
            .is_some_and(|b| b.contains("latest_block_height 0")),
        "{r:?}"
    );
    assert_eq!(r.head.height, None);
}

#[test]
fn bad_answers_say_why_and_never_panic() {
    let cases: [(&[u8], &str); 8] = [
        (b"<html>Bad Gateway</html>", "status probe failed: not JSON"),
        (b"[1,2]", "status probe failed: not a JSON object"),
        (RPC_ERROR, "status probe failed: JSON-RPC error -32603: Internal error"),
        (
            br#"{"result":{"sync_info":{"latest_block_height":5,"latest_block_time":"2021-03-25T14:00:43Z","catching_up":false}}}"#,
            "",
        ),
        (
            br#"{"result":{"sync_info":{"latest_block_height":"99999999999999999999999","catching_up":false}}}"#,
            "status probe failed: `latest_block_height` is not a decimal count",
        ),
        (
            br#"{"result":{"sync_info":{"latest_block_height":"-3","catching_up":false}}}"#,
            "status probe failed: `latest_block_height` is not a decimal count",
        ),
        (
            br#"{"result":{"sync_info":{"latest_block_height":"7","latest_block_time":"yesterday","catching_up":false}}}"#,
            "status probe failed: `sync_info.latest_block_time` is not an RFC 3339 time",
        ),
        (
            br#"{"result":{"sync_info":{"latest_block_height":"7","catching_up":"no"}}}"#,
            "status probe failed: `sync_info.catching_up` is not a boolean",
        ),
    ];
    for (body, why) in cases {
        let r = scrape(Some(answer(200, body)), None, None);
        if why.is_empty() {
            // A JSON integer where the spec writes a string: a proxy re-encoded it; still read.
            assert_eq!(r.head.height, Some(5.0), "{r:?}");
            continue;
        }
        assert_eq!(r.status, Some(Status::NotReady), "{r:?}");
        assert!(r.reasons[0].starts_with(why), "{why}: {r:?}");
        assert!(!r.reasons[0].contains("Bad Gateway"), "never the body: {r:?}");
    }
    let r = scrape(Some(answer(503, "")), None, None);
    assert_eq!(r.reasons, vec!["status probe failed: HTTP 503".to_owned()]);
    let r = scrape(Some(answer(500, RPC_ERROR)), None, None);
    assert_eq!(
        r.reasons,
        vec!["status probe failed: HTTP 500: JSON-RPC error -32603: Internal error".to_owned()]
    );
    let r = scrape(Some(refused()), Some(answer(200, NET_INFO_OK)), None);
    assert_eq!(r.status, Some(Status::NotReady));
}

#[test]
fn the_metrics_page_under_its_namespace() {
    let r = scrape(
        Some(answer(200, SYNCED)),
        Some(answer(200, NET_INFO_OK)),
        Some(answer(200, PAGE)),
    );
    assert_eq!(r.status, Some(Status::Ready), "{r:?}");
    let missed = r
        .counters
        .iter()
        .find(|c| c.what.starts_with("blocks this validator missed"));
    assert_eq!(missed.map(|c| c.value), Some(3.0));
    assert!(r.reasons.is_empty(), "last signed at the head: {r:?}");
    // The page alone: its height and its flags are the reading.
    let r = scrape(None, None, Some(answer(200, PAGE)));
    assert_eq!(r.head.height, Some(5_622_165.0), "5.622165e+06 as Go writes it");
    assert_eq!(r.claimed_sync, Some(SyncState::Synced));
    // Another namespace (`instrumentation.namespace = "tendermint"`): nothing under `cometbft_`.
    let tm = String::from_utf8_lossy(PAGE).replace("cometbft_", "tendermint_");
    let s = scrape_at(0.0, None, None, Some(answer(200, tm.clone())));
    assert_eq!(read(&s).head.height, None);
    assert_eq!(read_with_namespace(&s, "tendermint").head.height, Some(5_622_165.0));
    // Syncing by the page, and a validator that stopped signing.
    let page = String::from_utf8_lossy(PAGE)
        .replace(
            "blocksync_syncing{chain_id=\"cosmoshub-4\"} 0",
            "blocksync_syncing{chain_id=\"cosmoshub-4\"} 1",
        )
        .replace(
            "} 5.622165e+06\n# HELP cometbft_consensus_validator_missed",
            "} 5.6221e+06\n# HELP cometbft_consensus_validator_missed",
        );
    let r = scrape(None, None, Some(answer(200, page)));
    assert_eq!(r.claimed_sync, Some(SyncState::Syncing));
    assert!(
        r.reasons
            .iter()
            .any(|x| x.contains("last signed block 5622100, 65 blocks")),
        "{r:?}"
    );
    let r = scrape(Some(answer(200, SYNCED)), None, Some(answer(200, "<html></html>")));
    assert_eq!(r.status, Some(Status::Ready), "the RPC's word stands: {r:?}");
    assert!(r.reasons[0].starts_with("metrics probe failed"), "{r:?}");
}

#[test]
fn rounds_that_grow_at_one_height_are_a_network_that_does_not_commit() {
    let params = Params {
        observed_rate_window_seconds: 20.0,
        ..Params::default()
    };
    let with_round = |round: u32| {
        format!(
            "{}cometbft_consensus_rounds{{chain_id=\"cosmoshub-4\"}} {round}\n",
            String::from_utf8_lossy(PAGE)
        )
    };
    let verdicts = |rounds: [u32; 2]| {
        let mut watched = Watched::new(params.clone());
        let stale = SYNCED_BLOCK_TIME + 120.0;
        rounds
            .iter()
            .zip([stale, stale + 10.0])
            .map(|(round, at)| {
                let s = scrape_at(
                    at,
                    Some(answer(200, SYNCED)),
                    None,
                    Some(answer(200, with_round(*round))),
                );
                watched.see(&s, read)
            })
            .last()
            .unwrap()
    };
    // The height stands and its round went from 3 to 5: nobody commits.
    let v = verdicts([3, 5]);
    assert_eq!(v.network, crate::model::Network::Stalled, "{v:?}");
    assert!(
        v.reasons[0].starts_with("the network is not live: 2 consensus rounds"),
        "{:?}",
        v.reasons
    );
    // The height stands and no round fails: this node alone is stuck.
    let v = verdicts([0, 0]);
    assert_eq!(v.network, crate::model::Network::Unknown, "{v:?}");
    assert_eq!((v.status, v.sync_state), (Status::NotReady, SyncState::OutOfSync));
}
