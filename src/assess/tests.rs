use std::collections::BTreeMap;

use super::*;
use crate::chains::radix::{MissStatistic, RadixStatus};
use crate::chains::zksync::ZkSyncState;
use crate::model::Status;

const NOW: f64 = 1_763_798_400.0;

fn radix_health(status: RadixStatus, missed: u64) -> Option<Result<HealthReading, ProbeFailure>> {
    Some(Ok(HealthReading::Radix(SystemHealth {
        status,
        detail: String::new(),
        recent_self_proposal_miss_statistic: Some(MissStatistic {
            missed_count: missed,
            recent_proposals_tracked_count: 50,
        }),
        current_protocol_version: None,
        enacted_protocol_updates: vec![],
        pending_protocol_updates: vec![],
    })))
}

/// A node's metrics: ledger `behind` seconds behind `at`, reporting `rate` and `missed` misses.
fn metrics(at: f64, behind: f64, rate: f64, missed: f64, validator: bool) -> RadixMetrics {
    RadixMetrics {
        overall_health_factor: Some(1.0),
        last_update_epoch_second: Some(at - 1.0),
        last_update_proposer_epoch_second: Some(at - behind),
        progress_rate: Some(rate),
        recent_self_proposal_miss_count: Some(missed),
        ledger_state_version: Some(1000.0),
        sync_current_state_version: Some(1000.0),
        sync_target_state_version: Some(1000.0),
        in_validator_set: Some(validator),
        wallclock_epoch_second: Some(at),
        ..RadixMetrics::default()
    }
}

fn obs(at: f64, health: RadixStatus, m: RadixMetrics) -> Observation {
    Observation {
        at,
        health: radix_health(health, 0),
        metrics: Some(Ok(m)),
    }
}

fn once(o: &Observation) -> PodVerdict {
    assess(&mut History::new(), o, &Params::default())
}

fn approx(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

fn refused() -> ProbeFailure {
    ProbeFailure {
        kind: "ConnectionRefused",
        message: "connection refused".into(),
        no_answer: true,
    }
}

#[test]
fn synced_non_validator_is_one() {
    let v = once(&obs(NOW, RadixStatus::Up, metrics(NOW, 1.0, 1.0, 5.0, false)));
    assert!(approx(v.health_factor, 1.0), "{v:?}");
    assert_eq!(v.status, Status::Ready);
    assert_eq!(v.sync_state, SyncState::Synced);
    assert!(v.healthy);
}

#[test]
fn five_minutes_behind_at_rate_30_is_half() {
    let v = once(&obs(NOW, RadixStatus::Syncing, metrics(NOW, 300.0, 30.0, 0.0, true)));
    assert!(approx(v.health_factor, 0.5), "{v:?}");
    assert_eq!(v.sync_state, SyncState::Syncing);
    // 0.5 is not below the unhealthy threshold, but below the degraded one.
    assert_eq!(v.status, Status::Affected);
    assert!(v.reasons[0].starts_with("ledger 5 min behind"), "{:?}", v.reasons);
}

#[test]
fn rate_at_or_above_50_is_one() {
    for rate in [50.0, 80.0] {
        let v = once(&obs(NOW, RadixStatus::Syncing, metrics(NOW, 3600.0, rate, 0.0, true)));
        assert!(approx(v.health_factor, 1.0), "rate {rate}: {v:?}");
    }
}

#[test]
fn slow_and_behind_is_zero() {
    for rate in [0.0, 1.0, 10.0] {
        let v = once(&obs(NOW, RadixStatus::OutOfSync, metrics(NOW, 61.0, rate, 0.0, true)));
        assert!(approx(v.health_factor, 0.0), "rate {rate}: {v:?}");
        assert_eq!(v.sync_state, SyncState::OutOfSync);
        assert_eq!(v.status, Status::NotReady);
    }
}

#[test]
fn missed_proposals() {
    let two = once(&obs(NOW, RadixStatus::Up, metrics(NOW, 1.0, 1.0, 2.0, true)));
    assert!(approx(two.health_factor, 0.0), "{two:?}");
    assert_eq!(two.status, Status::NotReady);
    let three = once(&obs(NOW, RadixStatus::Up, metrics(NOW, 1.0, 1.0, 3.0, true)));
    assert!(approx(three.health_factor, 0.0));
    let one = once(&obs(NOW, RadixStatus::Up, metrics(NOW, 1.0, 1.0, 1.0, true)));
    assert!(approx(one.health_factor, 0.5), "{one:?}");
    assert!(one.reasons.iter().any(|r| r.contains("missed 1 recent proposal")));
}

#[test]
fn health_endpoint_misses_count_when_metrics_report_fewer() {
    let o = Observation {
        at: NOW,
        health: radix_health(RadixStatus::Up, 2),
        metrics: Some(Ok(metrics(NOW, 1.0, 1.0, 0.0, true))),
    };
    assert!(approx(once(&o).health_factor, 0.0));
}

#[test]
fn stalled_while_syncing_falls_to_zero_within_one_window() {
    // The node stalls 10 minutes behind and keeps reporting its last rate (30): its own
    // factor says 0.5 forever. The operator sees the ledger not moving.
    let params = Params::default();
    let mut h = History::new();
    let frozen_ts = NOW - 600.0;
    let mut last = None;
    for i in 0..=20 {
        let at = NOW + 15.0 * i as f64;
        let mut m = metrics(at, at - frozen_ts, 30.0, 0.0, true);
        m.overall_health_factor = Some(0.5);
        let v = assess(&mut h, &obs(at, RadixStatus::Syncing, m), &params);
        if i == 0 {
            assert!(
                approx(v.health_factor, 0.5),
                "first scrape has only the node's rate: {v:?}"
            );
        }
        last = Some(v);
        if 15.0 * i as f64 >= params.observed_rate_window_seconds {
            break;
        }
    }
    let v = last.unwrap();
    assert!(approx(v.health_factor, 0.0), "{v:?}");
    assert!(approx(v.reported_health_factor, 0.5));
    assert_eq!(v.sync_state, SyncState::OutOfSync);
    assert_eq!(v.status, Status::NotReady);
    assert!(approx(v.figures.observed_progress_rate, 0.0));
    assert!(
        v.reasons[0].contains("progressing at 0.0× real time over 5 min"),
        "{:?}",
        v.reasons
    );
}

#[test]
fn a_node_really_syncing_keeps_its_rate() {
    let params = Params::default();
    let mut h = History::new();
    let start_ts = NOW - 3.0 * 3600.0;
    let mut v = None;
    for i in 0..10 {
        let at = NOW + 15.0 * i as f64;
        let ts = start_ts + 30.0 * 15.0 * i as f64;
        v = Some(assess(
            &mut h,
            &obs(at, RadixStatus::Syncing, metrics(at, at - ts, 30.0, 0.0, true)),
            &params,
        ));
    }
    let v = v.unwrap();
    assert!(approx(v.figures.observed_progress_rate, 30.0), "{v:?}");
    assert!(approx(v.health_factor, 0.5));
    assert_eq!(v.sync_state, SyncState::Syncing);
}

#[test]
fn booting_node() {
    let mut m = metrics(NOW, 0.0, 0.0, 0.0, false);
    m.last_update_proposer_epoch_second = Some(0.0);
    m.ledger_state_version = Some(0.0);
    let v = once(&obs(NOW, RadixStatus::BootingPreGenesis, m.clone()));
    assert_eq!(v.sync_state, SyncState::Booting);
    assert_eq!(v.status, Status::NotReady);
    // Gauges at 0 alone also mean booting, whatever the health word.
    let v = once(&obs(NOW, RadixStatus::Up, m));
    assert_eq!(v.sync_state, SyncState::Booting);
}

#[test]
fn radix_words_map_without_metrics() {
    for (word, status, sync) in [
        (RadixStatus::Up, Status::Ready, SyncState::Synced),
        (RadixStatus::Syncing, Status::Affected, SyncState::Syncing),
        (RadixStatus::OutOfSync, Status::NotReady, SyncState::OutOfSync),
        (RadixStatus::BootingPreGenesis, Status::NotReady, SyncState::Booting),
    ] {
        let v = once(&Observation {
            at: NOW,
            health: radix_health(word, 0),
            metrics: None,
        });
        assert_eq!((v.status, v.sync_state), (status, sync), "{word:?}");
        assert_eq!(v.health_factor, None);
    }
}

#[test]
fn unreachable_after_failure_threshold_and_back() {
    let params = Params::default();
    let mut h = History::new();
    let ok = obs(NOW, RadixStatus::Up, metrics(NOW, 1.0, 1.0, 0.0, true));
    assert!(assess(&mut h, &ok, &params).healthy);
    let down = |at| Observation {
        at,
        health: Some(Err(refused())),
        metrics: Some(Err(refused())),
    };
    let v1 = assess(&mut h, &down(NOW + 15.0), &params);
    assert!(v1.healthy, "one failure keeps the previous verdict: {v1:?}");
    assert!(
        v1.reasons.iter().any(|r| r == "probe failed (1/3): connection refused"),
        "{:?}",
        v1.reasons
    );
    assess(&mut h, &down(NOW + 30.0), &params);
    let v3 = assess(&mut h, &down(NOW + 45.0), &params);
    assert_eq!(v3.sync_state, SyncState::Unreachable);
    assert_eq!(v3.status, Status::NotReady);
    assert!(approx(v3.health_factor, 0.0));
    let back = obs(NOW + 60.0, RadixStatus::Up, metrics(NOW + 60.0, 1.0, 1.0, 0.0, true));
    assert!(assess(&mut h, &back, &params).healthy);
}

#[test]
fn success_threshold_holds_unreachable() {
    let params = Params {
        failure_threshold: 1,
        success_threshold: 2,
        ..Params::default()
    };
    let mut h = History::new();
    assess(
        &mut h,
        &Observation {
            at: NOW,
            health: Some(Err(refused())),
            metrics: None,
        },
        &params,
    );
    let ok = obs(NOW + 1.0, RadixStatus::Up, metrics(NOW + 1.0, 1.0, 1.0, 0.0, true));
    assert_eq!(assess(&mut h, &ok, &params).sync_state, SyncState::Unreachable);
    assert_eq!(assess(&mut h, &ok, &params).sync_state, SyncState::Synced);
}

#[test]
fn first_probe_failing_is_not_healthy() {
    let v = once(&Observation {
        at: NOW,
        health: Some(Err(refused())),
        metrics: None,
    });
    assert!(!v.healthy);
    assert_eq!(v.sync_state, SyncState::Unknown);
}

#[test]
fn an_answer_that_is_wrong_is_a_verdict_at_once() {
    let bad = ProbeFailure {
        kind: "HttpStatus",
        message: "HTTP 500".into(),
        no_answer: false,
    };
    let v = once(&Observation {
        at: NOW,
        health: Some(Err(bad)),
        metrics: None,
    });
    assert_eq!(v.status, Status::NotReady);
    assert!(v.reasons.iter().any(|r| r == "health probe failed: HTTP 500"));
}

#[test]
fn zksync_verdicts() {
    let report = |status, synced: bool| crate::chains::zksync::HealthReport {
        status,
        components: BTreeMap::from([("sync_state".to_owned(), status)]),
        unknown: vec![],
        sync: Some(ZkSyncState {
            is_synced: synced,
            local_block: Some(90),
            main_node_block: Some(100),
        }),
    };
    let z = |r| Observation {
        at: NOW,
        health: Some(Ok(HealthReading::Zksync(r))),
        metrics: None,
    };
    let v = once(&z(report(Status::Ready, true)));
    assert_eq!(
        (v.status, v.sync_state, v.healthy),
        (Status::Ready, SyncState::Synced, true)
    );
    let v = once(&z(report(Status::Affected, false)));
    assert_eq!(
        (v.status, v.sync_state, v.healthy),
        (Status::Affected, SyncState::Syncing, true)
    );
    assert_eq!(v.figures.block_lag, Some(10));
    for bad in [
        Status::ShuttingDown,
        Status::ShutDown,
        Status::NotReady,
        Status::Panicked,
    ] {
        let v = once(&z(report(bad, true)));
        assert_eq!(v.status, bad);
        assert!(!v.healthy);
        assert!(
            v.reasons.iter().any(|r| r == &format!("component sync_state is {bad}")),
            "{:?}",
            v.reasons
        );
    }
}

#[test]
fn clock_skew_and_proposal_window_are_reasons() {
    let mut m = metrics(NOW, 1.0, 1.0, 0.0, true);
    m.wallclock_epoch_second = Some(NOW + 12.0);
    m.proposal_timestamp_difference_seconds = Some(-45.0);
    let v = once(&obs(NOW, RadixStatus::Up, m));
    assert!(v.healthy, "skew alone is a warning: {v:?}");
    assert!(
        v.reasons
            .iter()
            .any(|r| r == "node clock 12.0 s ahead of the operator's"),
        "{:?}",
        v.reasons
    );
    assert!(v.reasons.iter().any(|r| r.starts_with("proposal timestamps differ")));
    assert!(approx(v.figures.clock_skew_seconds, 12.0));
}

#[test]
fn growing_error_counters_are_warnings() {
    let params = Params::default();
    let mut h = History::new();
    let mut m = metrics(NOW, 1.0, 1.0, 0.0, true);
    m.sync_invalid_responses = Some(1.0);
    m.sync_mismatched_transaction_root = Some(1.0);
    m.bft_rejected_consensus_events = Some(0.0);
    assess(&mut h, &obs(NOW, RadixStatus::Up, m.clone()), &params);
    m.sync_invalid_responses = Some(4.0);
    m.sync_mismatched_transaction_root = Some(3.0);
    m.bft_rejected_consensus_events = Some(5.0);
    let v = assess(&mut h, &obs(NOW + 15.0, RadixStatus::Up, m.clone()), &params);
    assert!(v.healthy);
    assert!(
        v.reasons
            .iter()
            .any(|r| r == "3 invalid sync responses since the last probe (2 with a mismatched transaction root)"),
        "{:?}",
        v.reasons
    );
    assert!(
        v.reasons
            .iter()
            .any(|r| r == "5 consensus events rejected since the last probe")
    );
    // A restart resets counters: no warning for a decrease.
    m.sync_invalid_responses = Some(0.0);
    let v = assess(&mut h, &obs(NOW + 30.0, RadixStatus::Up, m), &params);
    assert!(!v.reasons.iter().any(|r| r.contains("invalid sync")), "{:?}", v.reasons);
}

#[test]
fn peers_targets_are_flagged_as_unvalidated() {
    let mut m = metrics(NOW, 600.0, 30.0, 0.0, true);
    m.sync_target_state_version = Some(5000.0);
    let v = once(&obs(NOW, RadixStatus::Syncing, m));
    assert!(
        v.reasons
            .iter()
            .any(|r| r == "4000 state versions behind the sync target announced by peers (unvalidated)")
    );
}

#[test]
fn thresholds_are_parameters() {
    let strict = Params {
        degraded_below: 0.99,
        synced_delay_seconds: 10.0,
        ..Params::default()
    };
    let v = assess(
        &mut History::new(),
        &obs(NOW, RadixStatus::Up, metrics(NOW, 30.0, 40.0, 0.0, true)),
        &strict,
    );
    assert!(approx(v.health_factor, 0.75));
    assert_eq!(v.status, Status::Affected);
}

#[test]
fn human_durations() {
    use super::verdict::human_duration;
    assert_eq!(human_duration(312.0), "5 min 12 s");
    assert_eq!(human_duration(45.2), "45 s");
    assert_eq!(human_duration(300.0), "5 min");
    assert_eq!(human_duration(7322.0), "2 h 2 min");
}

#[test]
fn a_few_seconds_without_progress_prove_nothing() {
    // A syncing ledger moves in batches: 15 s without a batch is not a stall yet.
    let params = Params::default();
    let mut h = History::new();
    let ts = NOW - 3600.0;
    assess(
        &mut h,
        &obs(NOW, RadixStatus::Syncing, metrics(NOW, 3600.0, 30.0, 0.0, true)),
        &params,
    );
    let later = NOW + 15.0;
    let v = assess(
        &mut h,
        &obs(later, RadixStatus::Syncing, metrics(later, later - ts, 30.0, 0.0, true)),
        &params,
    );
    assert_eq!(v.figures.observed_progress_rate, None, "span too short to trust");
    assert!(approx(v.health_factor, 0.5));
}
