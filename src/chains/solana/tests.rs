//! The Solana reader on answers written by hand from Agave's documentation and sources
//! (`tests/fixtures/solana/`).

use crate::chains::Watched;
use bytes::Bytes;

use super::*;
use crate::assess::Params;
use crate::model::{Answer, ProbeFailure};

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("../../../tests/fixtures/solana/", $name)).as_slice()
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

fn scrape(health: Option<Fetched>, get_health: Option<Fetched>, get_slot: Option<Fetched>) -> Scrape {
    let answers = [(HEALTH, health), (GET_HEALTH, get_health), (GET_SLOT, get_slot)]
        .into_iter()
        .filter_map(|(r, f)| Some((r, f?)))
        .collect();
    Scrape { at: 0.0, answers }
}

fn read3(health: Option<Fetched>, get_health: Option<Fetched>, get_slot: Option<Fetched>) -> Reading {
    read(&scrape(health, get_health, get_slot))
}

#[test]
fn ok_is_ready_and_synced_at_its_own_slot() {
    let r = read3(
        ok(fixture!("health_ok.txt")),
        ok(fixture!("get_health_ok.json")),
        ok(fixture!("get_slot.json")),
    );
    assert_eq!(r.status, Some(Status::Ready));
    assert_eq!(r.claimed_sync, Some(SyncState::Synced));
    assert_eq!((r.head.height, r.target.height), (Some(1234.0), Some(1234.0)));
    assert!(r.reasons.is_empty(), "{r:?}");
    assert_eq!(r.booting, None);
}

#[test]
fn behind_gives_the_lag_from_num_slots_behind() {
    let r = read3(
        ok(fixture!("health_behind.txt")),
        ok(fixture!("get_health_behind.json")),
        ok(fixture!("get_slot.json")),
    );
    assert_eq!(r.status, Some(Status::Affected));
    assert_eq!(r.claimed_sync, Some(SyncState::Syncing));
    assert_eq!((r.head.height, r.target.height), (Some(1234.0), Some(1276.0)));
    assert_eq!(
        r.reasons,
        vec!["node reports it is behind the cluster by 42 slots (health: behind)".to_owned()]
    );
}

#[test]
fn the_worse_word_wins_when_the_two_disagree() {
    // The node fell behind between the GET and the POST: the count is getHealth's.
    let r = read3(
        ok(fixture!("health_ok.txt")),
        ok(fixture!("get_health_behind.json")),
        ok(fixture!("get_slot.json")),
    );
    assert_eq!((r.status, r.target.height), (Some(Status::Affected), Some(1276.0)));
    // Only /health probed: behind, without a count, so no target.
    let r = read3(ok(fixture!("health_behind.txt")), None, ok(fixture!("get_slot.json")));
    assert_eq!((r.status, r.target.height), (Some(Status::Affected), None));
}

#[test]
fn unknown_with_a_slot_is_not_ready_and_without_one_is_booting() {
    // The no-peers case: the node hears no cluster slot.
    let r = read3(
        ok(fixture!("health_unknown.txt")),
        ok(fixture!("get_health_unknown.json")),
        ok(fixture!("get_slot.json")),
    );
    assert_eq!(r.status, Some(Status::NotReady));
    assert!(r.reasons[0].starts_with("node reports health unknown"), "{r:?}");
    assert_eq!(r.booting, None);
    let r = read3(
        ok(fixture!("health_unknown.txt")),
        ok(fixture!("get_health_unknown.json")),
        ok(fixture!("get_slot_genesis.json")),
    );
    assert!(r.booting.is_some(), "{r:?}");
    assert_eq!(r.claimed_sync, Some(SyncState::Booting));
}

#[test]
fn a_stalled_node_is_out_of_sync_once_the_operator_watched_it() {
    let params = Params {
        observed_rate_window_seconds: 120.0,
        ..Params::default()
    };
    let mut watched = Watched::new(params);
    let mut verdict = None;
    for (at, get_health) in [
        (0.0, fixture!("stalled_1_get_health.json")),
        (60.0, fixture!("stalled_2_get_health.json")),
    ] {
        let mut s = scrape(
            ok(fixture!("health_behind.txt")),
            ok(get_health),
            ok(fixture!("stalled_get_slot.json")),
        );
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
        v.reasons[0].starts_with("450 blocks behind the cluster's confirmed slot"),
        "{v:?}"
    );
}

#[test]
fn http_codes_other_than_200_are_failures_not_words() {
    let r = read3(Some(answer(503, "Service Unavailable")), None, None);
    assert_eq!(r.status, Some(Status::NotReady));
    assert_eq!(r.reasons[0], "health probe failed: HTTP 503");
    // getHealth still speaks when the GET fails.
    let r = read3(
        Some(answer(500, "")),
        ok(fixture!("get_health_ok.json")),
        ok(fixture!("get_slot.json")),
    );
    assert_eq!(r.status, Some(Status::Ready), "{r:?}");
    assert_eq!(r.reasons, vec!["health probe failed: HTTP 500".to_owned()]);
    let refused = Err(ProbeFailure {
        kind: "ConnectionRefused",
        message: "connection refused".into(),
        no_answer: true,
    });
    let r = read3(ok(fixture!("health_ok.txt")), None, Some(refused));
    assert_eq!(r.status, Some(Status::Ready));
    assert_eq!(r.reasons, vec!["getSlot probe failed: connection refused".to_owned()]);
}

#[test]
fn bad_input_is_a_clear_reason_never_a_panic() {
    // Past u64 (and past f64: serde_json then refuses the number itself).
    let huge = format!(r#"{{"jsonrpc":"2.0","result":{},"id":1}}"#, "9".repeat(25));
    let huger = format!(r#"{{"jsonrpc":"2.0","result":{},"id":1}}"#, "9".repeat(400));
    let cases: [(&[u8], &str); 7] = [
        (b"<html>", "getSlot probe failed: not JSON"),
        (b"[1]", "getSlot probe failed: not a JSON-RPC response object"),
        (
            br#"{"jsonrpc":"2.0","result":"1234","id":1}"#,
            "getSlot probe failed: result is not a slot number: \"1234\"",
        ),
        (
            br#"{"jsonrpc":"2.0","result":-5,"id":1}"#,
            "getSlot probe failed: result is not a slot number: -5",
        ),
        (
            huge.as_bytes(),
            "getSlot probe failed: result is not a slot number: 1e+25",
        ),
        (huger.as_bytes(), "getSlot probe failed: not JSON"),
        (
            br#"{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":1}"#,
            "getSlot probe failed: error -32601: Method not found",
        ),
    ];
    for (body, why) in cases {
        let r = read3(ok(fixture!("health_ok.txt")), None, Some(answer(200, body.to_vec())));
        assert_eq!(r.head.height, None);
        assert!(r.reasons.iter().any(|x| x.contains(why)), "{why}: {r:?}");
    }
    let r = read3(Some(answer(200, "x".repeat(10_000))), None, None);
    assert_eq!(r.status, Some(Status::NotReady));
    assert!(r.reasons[0].len() < 120, "{r:?}");
    let bad_count = br#"{"jsonrpc":"2.0","error":{"code":-32005,"message":"m","data":{"numSlotsBehind":"42"}},"id":1}"#;
    let r = read3(None, Some(answer(200, bad_count.to_vec())), None);
    assert_eq!(r.status, Some(Status::NotReady));
    assert!(
        r.reasons[0].contains("getHealth probe failed: numSlotsBehind is not a slot count: \"42\""),
        "{r:?}"
    );
}
