//! The Radix reader on bodies written from the document's field names (`/system/health`'s JSON
//! keys, the `rn_*` series of `tests/fixtures/radix_metrics.txt`).

use bytes::Bytes;
use serde_json::json;

use super::*;
use crate::model::ProbeFailure;

const PAGE: &[u8] = include_bytes!("../../../tests/fixtures/radix_metrics.txt");

fn answer(code: u16, body: impl Into<Bytes>) -> Fetched {
    Ok(Answer {
        code,
        body: body.into(),
    })
}

fn health(word: &str, missed: u64) -> Fetched {
    let body = json!({
        "status": word,
        "detail": "",
        "recent_self_proposal_miss_statistic": {"missed_count": missed, "recent_proposals_tracked_count": 50},
        "current_protocol_version": "cuttlefish",
        "enacted_protocol_updates": [],
        "pending_protocol_updates": [],
    });
    answer(200, body.to_string())
}

fn refused() -> Fetched {
    Err(ProbeFailure {
        kind: "ConnectionRefused",
        message: "connection refused".into(),
        no_answer: true,
    })
}

fn timed_out() -> Fetched {
    Err(ProbeFailure {
        kind: "Timeout",
        message: "no answer within 3.0 s".into(),
        no_answer: true,
    })
}

fn scrape(health: Option<Fetched>, metrics: Option<Fetched>) -> Reading {
    let answers = [(HEALTH, health), (METRICS, metrics)]
        .into_iter()
        .filter_map(|(r, f)| Some((r, f?)))
        .collect();
    read(&Scrape { at: 0.0, answers })
}

#[test]
fn a_synced_validator_in_the_documents_words() {
    let r = scrape(Some(health("UP", 1)), Some(answer(200, PAGE)));
    assert_eq!(r.status, Some(Status::Ready));
    assert_eq!(r.claimed_sync, Some(SyncState::Synced));
    assert_eq!(r.booting, None);
    assert_eq!(
        r.head.time,
        Some(1_763_798_399.987),
        "rn_ledger_last_update_proposer_epoch_second"
    );
    assert_eq!(r.head.height, Some(231_457_012.0), "rn_ledger_state_version");
    assert_eq!(r.target.time, Some(1_763_798_399.987));
    assert_eq!(r.target.height, Some(231_457_012.0));
    assert_eq!(r.clock, Some(1_763_798_400.601), "rn_misc_wallclock_epoch_second");
    assert_eq!(r.reported_rate, Some(1.0012));
    assert_eq!(r.reported_factor, Some(1.0));
    assert_eq!(r.in_validator_set, Some(true));
    assert_eq!(
        r.missed_proposals,
        Some(1.0),
        "the health endpoint counts more than the page"
    );
    assert_eq!(r.peer_clock_offsets, Some((-0.012, -0.012)));
    assert_eq!(r.skipped_rounds, Some(1.0), "MissedByGap over every leader");
    let counter = |what: &str| r.counters.iter().find(|c| c.what.starts_with(what)).map(|c| c.value);
    assert_eq!(counter("unexpected sync responses"), Some(2.0));
    assert_eq!(counter("consensus events rejected"), Some(1.0));
    assert_eq!(counter("rounds led by this validator missed by fallback"), Some(3.0));
}

#[test]
fn any_metric_means_the_spin_up_is_over() {
    // "if the Node's process has opened the Prometheus port and returns _any_ metric, then the
    // spin-up phase was finished successfully": a page without the ledger series is not booting.
    let page = "# TYPE rn_sync_current_state_version gauge\nrn_sync_current_state_version 0.0\njvm_threads 12\n";
    let r = scrape(Some(health("UP", 0)), Some(answer(200, page)));
    assert_eq!(r.booting, None);
    assert_eq!(r.head.time, None);
    assert_eq!(r.head.height, None, "a zero height is no height");
    // A port that answers with no metric at all has not finished.
    let r = scrape(None, Some(answer(200, "")));
    assert!(r.booting.as_deref().is_some_and(|b| b.contains("no metric")), "{r:?}");
}

#[test]
fn booting_is_the_health_word_or_a_closed_prometheus_port() {
    let r = scrape(Some(health("BOOTING_PRE_GENESIS", 0)), Some(refused()));
    assert!(r.booting.is_some());
    assert_eq!(r.claimed_sync, Some(SyncState::Booting));
    // "if the Node's process runs, but has not yet opened the Prometheus port".
    let r = scrape(Some(health("UP", 0)), Some(refused()));
    assert!(
        r.booting
            .as_deref()
            .is_some_and(|b| b.contains("Prometheus port is closed")),
        "{r:?}"
    );
    // A slow metrics port is not a closed one: a reason, the health word stands.
    let r = scrape(Some(health("UP", 0)), Some(timed_out()));
    assert_eq!(r.booting, None);
    assert_eq!(r.status, Some(Status::Ready));
    assert!(r.reasons.iter().any(|x| x.starts_with("metrics probe failed")), "{r:?}");
}

#[test]
fn health_words_and_failures() {
    for (word, status, sync, shown) in [
        ("SYNCING", Status::Affected, Some(SyncState::Syncing), "SYNCING"),
        (
            "OUT_OF_SYNC",
            Status::NotReady,
            Some(SyncState::OutOfSync),
            "OUT_OF_SYNC",
        ),
        ("SOMETHING_NEW", Status::NotReady, None, "UNKNOWN"),
    ] {
        let r = scrape(Some(health(word, 0)), None);
        assert_eq!((r.status, r.claimed_sync), (Some(status), sync), "{word}");
        assert!(r.reasons.contains(&format!("node reports {shown}")), "{r:?}");
    }
    let r = scrape(Some(answer(500, "oops")), None);
    assert_eq!(r.status, Some(Status::NotReady));
    assert_eq!(r.reasons, vec!["health probe failed: HTTP 500".to_owned()]);
    let r = scrape(Some(answer(200, "{\"status\":\"UP\",\"detail\":\"cut")), None);
    assert_eq!(r.status, Some(Status::NotReady));
    // Without a health endpoint, a metrics failure is the verdict.
    let r = scrape(None, Some(answer(503, "")));
    assert_eq!(r.status, Some(Status::NotReady));
    let r = scrape(Some(health("UP", 0)), Some(answer(200, "<html>Bad Gateway</html>")));
    assert_eq!(r.status, Some(Status::Ready), "the health word stands: {r:?}");
}
