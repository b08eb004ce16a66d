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

/// The fixture with every sample's value replaced, in turn, by NaN, +Inf, -Inf and -0.
fn not_numbers_page() -> String {
    let spellings = ["NaN", "+Inf", "-Inf", "-0"];
    let text = std::str::from_utf8(PAGE).unwrap();
    let mut n = 0;
    text.lines()
        .map(|line| {
            if line.starts_with('#') || line.is_empty() {
                return format!("{line}\n");
            }
            let (series, _) = line.rsplit_once(' ').unwrap();
            n += 1;
            format!("{series} {}\n", spellings[(n - 1) % spellings.len()])
        })
        .collect()
}

#[test]
fn a_page_of_nan_and_infinities_is_no_healthy_verdict() {
    // The node says UP, but none of its figures is a number: nothing it says can be checked.
    let r = scrape(Some(health("UP", 0)), Some(answer(200, not_numbers_page())));
    assert_eq!(r.status, Some(Status::NotReady), "{r:?}");
    assert_eq!(r.claimed_sync, None, "its word on its sync is not taken");
    assert!(!r.head.is_known() && r.clock.is_none(), "{r:?}");
    assert!(r.reported_factor.is_none_or(f64::is_finite), "{r:?}");
    let why = &r.reasons[0];
    assert!(
        why.starts_with("metrics: the ledger's position is not a number ("),
        "{why}"
    );
    assert!(why.contains("NaN") || why.contains("Inf"), "{why}");
    // Through the assessment: never a healthy verdict, whatever the history.
    let mut watched = crate::chains::Watched::new(crate::assess::Params::default());
    for at in [0.0, 15.0, 30.0] {
        let s = Scrape {
            at,
            answers: vec![(HEALTH, health("UP", 0)), (METRICS, answer(200, not_numbers_page()))],
        };
        let v = watched.see(&s, read);
        assert!(!v.healthy, "{v:?}");
    }
}

#[test]
fn a_figure_that_is_not_a_number_beside_a_readable_position_is_a_reason() {
    let text = std::str::from_utf8(PAGE).unwrap();
    let page = text.replace(
        "rn_ledger_overall_health_factor 1\n",
        "rn_ledger_overall_health_factor NaN\n",
    );
    assert_ne!(page, text, "the fixture writes the factor so");
    let r = scrape(Some(health("UP", 0)), Some(answer(200, page)));
    assert_eq!(r.status, Some(Status::Ready));
    assert_eq!(r.reported_factor, None);
    assert!(
        r.reasons
            .contains(&"metrics: not a number: rn_ledger_overall_health_factor NaN".to_owned()),
        "{:?}",
        r.reasons
    );
}

#[test]
fn lines_that_are_not_utf8_are_a_reason_and_a_health_body_that_is_not_is_the_verdict() {
    let text = std::str::from_utf8(PAGE).unwrap();
    let mut page = text.as_bytes().to_vec();
    // Latin-1 in one label value: that line alone is lost, and said.
    let at = text.find("branch_and_commit=\"").unwrap() + "branch_and_commit=\"".len();
    page.insert(at, 0xe9);
    let r = scrape(Some(health("UP", 0)), Some(answer(200, page)));
    assert_eq!(r.status, Some(Status::Ready));
    let why = r
        .reasons
        .iter()
        .find(|x| x.contains("skipped as invalid"))
        .expect("a reason");
    assert!(why.ends_with(": not UTF-8)"), "{why}");
    let r = scrape(
        Some(answer(200, &b"{\"status\":\"UP\",\"detail\":\"caf\xe9\"}"[..])),
        Some(answer(200, PAGE)),
    );
    assert_eq!(r.status, Some(Status::NotReady));
    assert_eq!(
        r.reasons[0],
        "health probe failed: system health body is not UTF-8 text (invalid byte at offset 28)"
    );
}

#[test]
fn a_page_ten_times_a_real_one_is_affected_and_still_read() {
    let mut page = String::from_utf8(PAGE.to_vec()).unwrap();
    for i in 0..100_000 {
        page.push_str(&format!("sim_padding{{index=\"{i:06}\"}} 1\n"));
    }
    let r = scrape(Some(health("UP", 0)), Some(answer(200, page)));
    assert_eq!(r.status, Some(Status::Affected));
    assert_eq!(r.head.height, Some(231_457_012.0), "the node's own series are read");
    let why = r
        .reasons
        .iter()
        .find(|x| x.starts_with("metrics page of "))
        .expect("a reason");
    assert!(why.contains("over 40000"), "{why}");
}
