//! The beacon node reader on answers written by hand from the Beacon API
//! (`tests/fixtures/ethereum/`).

use crate::chains::Watched;
use bytes::Bytes;

use super::*;
use crate::assess::Params;
use crate::model::{Answer, ProbeFailure};

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("../../../tests/fixtures/ethereum/", $name)).as_slice()
    };
}

fn answer(code: u16, body: impl Into<Bytes>) -> Fetched {
    Ok(Answer {
        code,
        body: body.into(),
    })
}

fn ok(body: &'static [u8]) -> Option<Fetched> {
    Some(answer(200, body))
}

/// `/eth/v1/node/health` has no body: only its code.
fn code(c: u16) -> Option<Fetched> {
    Some(answer(c, Bytes::new()))
}

fn scrape(health: Option<Fetched>, syncing: Option<Fetched>, peers: Option<Fetched>) -> Scrape {
    let answers = [(HEALTH, health), (SYNCING, syncing), (PEER_COUNT, peers)]
        .into_iter()
        .filter_map(|(r, f)| Some((r, f?)))
        .collect();
    Scrape { at: 0.0, answers }
}

fn read3(health: Option<Fetched>, syncing: Option<Fetched>, peers: Option<Fetched>) -> Reading {
    read(&scrape(health, syncing, peers))
}

#[test]
fn synced_is_ready_at_the_current_slot() {
    let r = read3(
        code(200),
        ok(fixture!("syncing_synced.json")),
        ok(fixture!("peer_count.json")),
    );
    assert_eq!(r.status, Some(Status::Ready));
    assert_eq!(r.claimed_sync, Some(SyncState::Synced));
    assert_eq!(
        (r.head.height, r.target.height),
        (Some(10_423_968.0), Some(10_423_968.0))
    );
    assert!(r.reasons.is_empty(), "{r:?}");
}

#[test]
fn http_206_is_never_ready() {
    // Syncing: the code and the body agree.
    let r = read3(
        code(206),
        ok(fixture!("syncing_syncing.json")),
        ok(fixture!("peer_count.json")),
    );
    assert_eq!(r.status, Some(Status::Affected));
    assert_eq!(r.claimed_sync, Some(SyncState::Syncing));
    assert_eq!(
        (r.head.height, r.target.height),
        (Some(10_420_000.0), Some(10_423_968.0))
    );
    assert!(r.reasons[0].starts_with("beacon node answers HTTP 206"), "{r:?}");
    assert!(
        r.reasons[1].starts_with("node reports it is syncing, 3968 slots (about 794 min)"),
        "{r:?}"
    );
    assert!(
        !r.reasons.iter().any(|x| x.contains("optimistic while")),
        "optimistic while syncing is expected: {r:?}"
    );
    // The code alone.
    let r = read3(code(206), None, None);
    assert_eq!(r.status, Some(Status::Affected));
}

#[test]
fn el_offline_and_an_optimistic_head_are_affected_with_a_reason() {
    let r = read3(code(200), ok(fixture!("syncing_el_offline.json")), None);
    assert_eq!(
        (r.status, r.claimed_sync),
        (Some(Status::Affected), Some(SyncState::Synced))
    );
    assert!(
        r.reasons[0].starts_with("the execution layer is offline (el_offline)"),
        "{r:?}"
    );
    let r = read3(code(206), ok(fixture!("syncing_optimistic.json")), None);
    assert_eq!(r.status, Some(Status::Affected));
    assert!(
        r.reasons
            .iter()
            .any(|x| x.starts_with("the head is optimistic while the node is not syncing"))
    );
}

#[test]
fn no_peers_is_affected() {
    let r = read3(
        code(200),
        ok(fixture!("syncing_synced.json")),
        ok(fixture!("peer_count_none.json")),
    );
    assert_eq!(r.status, Some(Status::Affected));
    assert_eq!(
        r.reasons,
        vec!["no peer connected (peer_count: connected 0)".to_owned()]
    );
}

#[test]
fn booting_is_a_503_without_a_head_or_head_slot_0() {
    let r = read3(code(503), Some(answer(503, "{}")), None);
    assert!(
        r.booting.as_deref().is_some_and(|b| b.contains("not initialised")),
        "{r:?}"
    );
    let r = read3(code(200), ok(fixture!("syncing_genesis.json")), None);
    assert!(r.booting.as_deref().is_some_and(|b| b.contains("pre-genesis")), "{r:?}");
    // With a head, a 503 is "having issues": not ready, not booting.
    let r = read3(code(503), ok(fixture!("syncing_synced.json")), None);
    assert_eq!(
        (r.status, r.booting.as_deref()),
        (Some(Status::NotReady), None),
        "{r:?}"
    );
}

#[test]
fn an_older_client_without_the_optional_flags_is_read() {
    let r = read3(None, ok(fixture!("syncing_phase0_client.json")), None);
    assert_eq!((r.head.height, r.target.height), (Some(1.0), Some(2.0)));
    assert_eq!(r.claimed_sync, Some(SyncState::Syncing));
}

#[test]
fn a_stalled_node_is_out_of_sync_once_the_operator_watched_it() {
    let params = Params {
        observed_rate_window_seconds: 120.0,
        max_block_lag: 5.0,
        ..Params::default()
    };
    let mut watched = Watched::new(params);
    let mut verdict = None;
    for (at, syncing) in [
        (0.0, fixture!("stalled_1_syncing.json")),
        (60.0, fixture!("stalled_2_syncing.json")),
    ] {
        let mut s = scrape(code(200), ok(syncing), ok(fixture!("peer_count.json")));
        s.at = at;
        verdict = Some(watched.see(&s, read));
    }
    let v = verdict.unwrap();
    assert_eq!(
        (v.status, v.sync_state),
        (Status::NotReady, SyncState::OutOfSync),
        "{v:?}"
    );
    assert!(
        v.reasons[0].starts_with("11 blocks behind the current slot by the node's clock, its block has not moved"),
        "{v:?}"
    );
}

#[test]
fn bad_input_is_a_clear_reason_never_a_panic() {
    let cases: [(&[u8], &str); 6] = [
        (b"<html>", "syncing probe failed: not JSON"),
        (br#"{"head_slot":"1"}"#, "syncing probe failed: no data object"),
        (
            br#"{"data":{"head_slot":1.5,"sync_distance":"0","is_syncing":false}}"#,
            "head_slot is not a Uint64",
        ),
        (
            br#"{"data":{"head_slot":"99999999999999999999","sync_distance":"0","is_syncing":false}}"#,
            "head_slot is not a Uint64 (past 2^64)",
        ),
        (
            br#"{"data":{"head_slot":"-1","sync_distance":"0","is_syncing":false}}"#,
            "head_slot is not a decimal Uint64 string",
        ),
        (
            br#"{"data":{"head_slot":"1","sync_distance":"0","is_syncing":"no"}}"#,
            "is_syncing is missing or not a boolean",
        ),
    ];
    for (body, why) in cases {
        let r = read3(code(200), Some(answer(200, body.to_vec())), None);
        assert_eq!(r.head.height, None);
        assert!(r.reasons.iter().any(|x| x.contains(why)), "{why}: {r:?}");
    }
    // The only word on health unreadable: not ready.
    let r = read3(None, Some(answer(200, "x".repeat(100_000))), None);
    assert_eq!(r.status, Some(Status::NotReady));
    assert!(r.reasons[0].len() < 120, "{r:?}");
    let r = read3(code(200), None, Some(answer(200, r#"{"data":{"connected":"many"}}"#)));
    assert_eq!(r.status, Some(Status::Ready));
    assert_eq!(
        r.reasons,
        vec!["peer_count probe failed: connected is not a decimal Uint64 string".to_owned()]
    );
}

#[test]
fn other_codes_are_failed_requests() {
    let r = read3(code(400), None, None);
    assert_eq!(r.status, Some(Status::NotReady));
    assert_eq!(r.reasons, vec!["health probe failed: HTTP 400".to_owned()]);
    let r = read3(code(200), Some(answer(500, "{}")), None);
    assert_eq!(r.status, Some(Status::Ready));
    assert_eq!(r.reasons, vec!["syncing probe failed: HTTP 500".to_owned()]);
    let timeout = Err(ProbeFailure {
        kind: "Timeout",
        message: "no answer within 3.0 s".into(),
        no_answer: true,
    });
    let r = read3(Some(timeout), ok(fixture!("syncing_synced.json")), None);
    assert_eq!(r.status, Some(Status::NotReady));
}
