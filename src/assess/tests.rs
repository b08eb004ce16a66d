//! The rules on chain-neutral readings. Each test quotes the sentence it checks.

use super::judge::human_duration;
use super::*;
use crate::model::{Counter, Network, Observation, Position, Reading, Status};

const NOW: f64 = 1_763_798_400.0;
const PEERS: &str = "the sync target announced by peers";

/// A Radix-like reading at `at` (the node's clock): the ledger `behind` seconds behind it, the
/// node reporting `rate`; peers announce a head a second behind the clock.
fn ledger(at: f64, behind: f64, rate: f64) -> Reading {
    Reading {
        status: Some(Status::Ready),
        head: Position {
            time: Some(at - behind),
            height: Some(1000.0),
        },
        target: Position {
            time: Some(at - 1.0),
            height: Some(1000.0 + 10.0 * at),
        },
        target_source: PEERS,
        clock: Some(at),
        reported_rate: Some(rate),
        reported_factor: Some(1.0),
        in_validator_set: Some(false),
        missed_proposals: Some(0.0),
        ..Reading::default()
    }
}

/// A zksync-like reading: `local` and `main` blocks, no times.
fn blocks(local: f64, main: f64) -> Reading {
    Reading {
        status: Some(Status::Ready),
        head: Position {
            time: None,
            height: Some(local),
        },
        target: Position {
            time: None,
            height: Some(main),
        },
        target_source: "the main node's block",
        ..Reading::default()
    }
}

fn obs(at: f64, r: Reading) -> Observation {
    Observation { at, reading: Ok(r) }
}

fn once(at: f64, r: Reading) -> PodVerdict {
    assess(&mut History::new(), &obs(at, r), &Params::default())
}

/// Scrapes every 15 s from NOW for `seconds`; `reading(at)` gives each; returns the last verdict.
fn watch(seconds: f64, params: &Params, reading: impl Fn(f64) -> Reading) -> PodVerdict {
    let mut h = History::new();
    let mut t = 0.0;
    loop {
        let v = assess(&mut h, &obs(NOW + t, reading(NOW + t)), params);
        if t >= seconds {
            return v;
        }
        t += 15.0;
    }
}

fn approx(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

fn has(v: &PodVerdict, needle: &str) -> bool {
    v.reasons.iter().any(|r| r.contains(needle))
}

#[test]
fn synced_non_validator_is_one() {
    let v = once(NOW, ledger(NOW, 1.0, 1.0));
    assert!(approx(v.health_factor, 1.0), "{v:?}");
    assert_eq!(
        (v.status, v.sync_state, v.network),
        (Status::Ready, SyncState::Synced, Network::Live)
    );
    assert!(v.healthy && v.verified);
}

#[test]
fn the_factor_keeps_the_heuristics_10_to_50_clamp() {
    // 5 min behind at 30×: (30 − 10) / 40 = 0.5.
    let v = once(NOW, ledger(NOW, 300.0, 30.0));
    assert!(approx(v.health_factor, 0.5), "{v:?}");
    assert_eq!((v.sync_state, v.status), (SyncState::Syncing, Status::Affected));
    assert!(v.reasons[0].starts_with("ledger 5 min behind"), "{:?}", v.reasons);
    for (rate, factor) in [(50.0, 1.0), (80.0, 1.0), (10.0, 0.0), (2.0, 0.0), (0.5, 0.0)] {
        let v = once(NOW, ledger(NOW, 3600.0, rate));
        assert!(approx(v.health_factor, factor), "rate {rate}: {v:?}");
    }
}

#[test]
fn syncing_is_faster_than_real_time_not_faster_than_the_factors_floor() {
    // "A healthy Node is expected to eventually become synced. This will happen only if the
    // "syncing rate" (...) is faster than realtime - in Prometheus language,
    // `rate(rn_ledger_last_update_proposer_epoch_second{...}[$rate_interval]) > 1.0`."
    // Before: Syncing needed rate > 10 (the factor's floor), so 2× was OutOfSync.
    let v = once(NOW, ledger(NOW, 3600.0, 2.0));
    assert_eq!(v.sync_state, SyncState::Syncing);
    assert!(approx(v.health_factor, 0.0), "the factor follows the heuristic: {v:?}");
    assert_eq!(v.status, Status::NotReady, "a factor of 0 is unhealthy");
    // "Values lower than this suggest that the Node's I/O or processing speed does not allow it
    // to record the transactions committed by the Network in realtime - and such Node cannot be
    // considered healthy."
    for rate in [1.0, 0.5, 0.0] {
        let v = once(NOW, ledger(NOW, 3600.0, rate));
        assert_eq!(
            (v.sync_state, v.status),
            (SyncState::OutOfSync, Status::NotReady),
            "rate {rate}"
        );
    }
}

#[test]
fn missed_proposals_count_only_in_the_validator_set() {
    // "the "proposal reliability" is healthy when: either this Node is currently not in active
    // validator set, or the consensus agrees that this Node has no missed proposals".
    let with = |missed: f64, in_set: bool| {
        let mut r = ledger(NOW, 1.0, 1.0);
        (r.missed_proposals, r.in_validator_set) = (Some(missed), Some(in_set));
        once(NOW, r)
    };
    assert!(approx(with(2.0, true).health_factor, 0.0));
    assert_eq!(with(2.0, true).status, Status::NotReady);
    assert!(approx(with(3.0, true).health_factor, 0.0));
    let one = with(1.0, true);
    assert!(approx(one.health_factor, 0.5));
    assert!(has(&one, "missed 1 recent proposal"));
    assert!(approx(with(5.0, false).health_factor, 1.0));
}

#[test]
fn a_stall_while_syncing_falls_to_zero_within_one_window() {
    // The node stalls 10 minutes behind and keeps reporting its last rate (30): its own factor
    // says 0.5 forever. The operator sees the ledger not moving.
    let params = Params::default();
    let frozen = NOW - 600.0;
    let v = watch(params.observed_rate_window_seconds, &params, |at| {
        let mut r = ledger(at, at - frozen, 30.0);
        r.reported_factor = Some(0.5);
        r
    });
    assert!(approx(v.health_factor, 0.0), "{v:?}");
    assert!(approx(v.reported_health_factor, 0.5));
    assert_eq!((v.sync_state, v.status), (SyncState::OutOfSync, Status::NotReady));
    assert!(approx(v.figures.observed_progress_rate, 0.0));
    assert!(v.verified);
    assert!(
        v.reasons[0].contains("progressing at 0.0× real time over 5 min"),
        "{:?}",
        v.reasons
    );
}

#[test]
fn a_node_really_syncing_keeps_its_rate() {
    let start = NOW - 3.0 * 3600.0;
    let v = watch(135.0, &Params::default(), |at| {
        let ts = start + 30.0 * (at - NOW);
        ledger(at, at - ts, 30.0)
    });
    assert!(approx(v.figures.observed_progress_rate, 30.0), "{v:?}");
    assert!(approx(v.health_factor, 0.5));
    assert_eq!(v.sync_state, SyncState::Syncing);
    assert!(v.verified);
}

#[test]
fn time_is_read_on_the_nodes_clock() {
    // "All metrics which record timestamps (i.e. named `*_epoch_second`) should be interpreted
    // as relative to this one [`rn_misc_wallclock_epoch_second`]."
    // The operator's clock is 10 minutes ahead; the node's is right. Before: OutOfSync.
    let operator_at = NOW + 600.0;
    let v = once(operator_at, ledger(NOW, 1.0, 1.0));
    assert_eq!((v.sync_state, v.status), (SyncState::Synced, Status::Ready), "{v:?}");
    assert!(approx(v.figures.ledger_delay_seconds, 1.0));
    assert!(approx(v.figures.clock_skew_seconds, -600.0));
    assert!(
        has(&v, "node clock 600.0 s behind the operator's"),
        "skew stays a reason"
    );
    // The node's clock is 10 minutes ahead; the operator's is right. "A Node with a seriously
    // misconfigured clock will most likely not be a healthy Validator": its ledger is 10 minutes
    // behind its own clock, and its clock is what to fix first.
    let mut r = ledger(NOW, 1.0, 1.0);
    r.clock = Some(NOW + 600.0);
    let v = once(NOW, r);
    assert_eq!((v.sync_state, v.status), (SyncState::OutOfSync, Status::NotReady));
    assert_eq!(v.reasons[0], "node clock 600.0 s ahead of the operator's");
    // No clock on the page: the operator's stands in.
    let mut r = ledger(NOW, 1.0, 1.0);
    r.clock = None;
    assert_eq!(once(NOW + 120.0, r).sync_state, SyncState::OutOfSync);
}

#[test]
fn the_clock_window_needs_every_number_beyond_a_bound() {
    // "If all the numbers observed here exceed the upper bound, then the Node's clock may be
    // delayed. If all the numbers observed here exceed the lower bound, then either the Node's
    // clock is rushing, or the Node's latency to its peers is too high."
    // Before: one extreme series (any peer, any quantile) flagged the node.
    let with = |offsets: (f64, f64)| {
        let mut r = ledger(NOW, 1.0, 1.0);
        r.peer_clock_offsets = Some(offsets);
        once(NOW, r)
    };
    let v = with((-45.0, 1.0));
    assert!(
        !has(&v, "proposal timestamp"),
        "one peer far off is not the node's clock: {v:?}"
    );
    let v = with((3.0, 5.0));
    assert!(
        has(
            &v,
            "more than 2 s ahead of the node's clock (the least by 3.0 s): its clock may be behind"
        ),
        "{v:?}"
    );
    let v = with((-50.0, -31.0));
    assert!(
        has(
            &v,
            "more than 30 s behind the node's clock (the greatest by 31.0 s): its clock may be ahead"
        ),
        "{v:?}"
    );
    assert!(v.healthy, "a warning: {v:?}");
}

#[test]
fn a_frozen_target_is_a_network_that_is_not_live() {
    // "A non-progressing `rn_sync_target_proposer_timestamp_epoch_second` and
    // `rn_sync_target_state_version` are strong indicators of the Network's liveness problems".
    let params = Params::default();
    let halt = NOW - 120.0;
    let halted = |at: f64| {
        let mut r = ledger(at, at - halt, 1.0);
        r.target = Position {
            time: Some(halt),
            height: Some(5000.0),
        };
        r
    };
    let first = once(NOW, halted(NOW));
    assert_eq!(first.network, Network::Unknown, "one scrape says nothing of movement");
    let v = watch(60.0, &params, halted);
    assert_eq!(v.network, Network::Stalled, "{v:?}");
    assert!(
        v.reasons[0].starts_with("the network is not live: the sync target announced by peers has not moved for 60 s"),
        "{:?}",
        v.reasons
    );
    // A node cut off while the target moves, and a synced node, both show a live network.
    let behind = watch(60.0, &params, |at| ledger(at, 3600.0 + (at - NOW), 0.0));
    assert_eq!(
        (behind.network, behind.sync_state),
        (Network::Live, SyncState::OutOfSync)
    );
    assert_eq!(once(NOW, ledger(NOW, 1.0, 1.0)).network, Network::Live);
}

#[test]
fn a_halt_is_seen_once_it_lasts_a_trusted_span_not_once_it_fills_the_window() {
    // Live for 4 minutes, then the target stops: after 60 s (a fifth of the 300 s window) the
    // network is not live, though the window still holds the minutes it moved.
    let params = Params::default();
    let halt = NOW + 240.0;
    let v = watch(300.0, &params, |at| {
        let head = at.min(halt) - 1.0;
        let mut r = ledger(at, at - head, 1.0);
        r.target = Position {
            time: Some(at.min(halt) - 1.0),
            height: Some(5000.0 + at.min(halt)),
        };
        r.head.height = Some(4000.0);
        r
    });
    assert_eq!(v.network, Network::Stalled, "{v:?}");
    assert!(v.reasons[0].contains("has not moved for 60 s"), "{:?}", v.reasons);
}

#[test]
fn a_node_holding_a_head_far_behind_its_clock_shows_a_halt_in_one_scrape() {
    // "in case of liveness break, the `rn_sync_target_proposer_timestamp_epoch_second` will lag
    // behind the wallclock, and even a healthy Node cannot sync past that value"; synced with
    // the network: "`rn_sync_current_state_version == rn_sync_target_state_version`".
    let mut r = ledger(NOW, 120.0, 1.0);
    r.target = Position {
        time: Some(NOW - 120.0),
        height: Some(1000.0),
    };
    let v = once(NOW, r.clone());
    assert_eq!(
        (v.network, v.sync_state),
        (Network::Stalled, SyncState::OutOfSync),
        "{v:?}"
    );
    assert!(v.reasons[0].starts_with("the network is not live: the node has the head its peers announce"));
    // Old only by the node's clock, 10 minutes ahead of the operator's: the clock, not the network.
    let mut skewed = ledger(NOW, 1.0, 1.0);
    skewed.target = skewed.head;
    skewed.clock = Some(NOW + 600.0);
    let v = once(NOW, skewed);
    assert_eq!(
        (v.network, v.sync_state),
        (Network::Unknown, SyncState::OutOfSync),
        "{v:?}"
    );
    // Behind its peers' head instead: its own problem, as far as one scrape tells.
    r.target.height = Some(2000.0);
    assert_eq!(once(NOW, r).network, Network::Unknown);
}

#[test]
fn rounds_missed_by_gap_speak_for_the_network_when_no_target_can() {
    // "gaps in round numbers most likely denote problems with liveness of the entire Network".
    let v = watch(60.0, &Params::default(), |at| {
        let mut r = ledger(at, 3600.0 + (at - NOW), 0.0);
        r.target = Position::default();
        r.skipped_rounds = Some((at - NOW) / 15.0);
        r
    });
    assert_eq!(v.network, Network::Stalled, "{v:?}");
    assert!(has(&v, "4 consensus rounds missed by gap in 60 s"), "{v:?}");
}

#[test]
fn a_verdict_on_the_nodes_word_is_unverified_until_the_window_is_trusted() {
    // After a start of the operator, a stalled node reporting its last rate (30) reads Syncing.
    let params = Params::default();
    let frozen = NOW - 600.0;
    let stalled = |at: f64| ledger(at, at - frozen, 30.0);
    let mut h = History::new();
    let first = assess(&mut h, &obs(NOW, stalled(NOW)), &params);
    assert!(first.healthy && !first.verified, "{first:?}");
    assert!(has(
        &first,
        "progress not yet observed by the operator (0 of the 60 s it needs)"
    ));
    let v = assess(&mut h, &obs(NOW + 30.0, stalled(NOW + 30.0)), &params);
    assert!(!v.verified && has(&v, "(30 of the 60 s"), "{v:?}");
    let v = assess(&mut h, &obs(NOW + 60.0, stalled(NOW + 60.0)), &params);
    assert!(v.verified && !v.healthy, "{v:?}");
    // A synced reading needs no watching.
    assert!(once(NOW, ledger(NOW, 1.0, 1.0)).verified);
}

#[test]
fn a_block_lag_is_judged_by_whether_the_gap_closes() {
    let params = Params::default();
    let synced = once(NOW, blocks(950.0, 1000.0));
    assert_eq!(
        (synced.sync_state, synced.figures.block_lag),
        (SyncState::Synced, Some(50))
    );
    // Before: any lag was `affected` (healthy) forever.
    let first = once(NOW, blocks(500.0, 1000.0));
    assert_eq!((first.sync_state, first.verified), (SyncState::Syncing, false));
    // Closing: local 3 blocks/s, main 1 block/s.
    let v = watch(60.0, &params, |at| {
        blocks(500.0 + 3.0 * (at - NOW), 1000.0 + (at - NOW))
    });
    assert_eq!(
        (v.sync_state, v.status, v.verified),
        (SyncState::Syncing, Status::Affected, true)
    );
    assert!(
        v.reasons[0].starts_with("380 blocks behind the main node's block, closing the gap at 2.0 blocks/s"),
        "{v:?}"
    );
    // Local block not moving while the main node's does.
    let v = watch(60.0, &params, |at| blocks(500.0, 1000.0 + (at - NOW)));
    assert_eq!((v.sync_state, v.status), (SyncState::OutOfSync, Status::NotReady));
    assert!(has(
        &v,
        "its block has not moved for 60 s while the main node's block moved 1.0 blocks/s"
    ));
    // Moving, but no faster than the main node: it never catches up.
    let v = watch(60.0, &params, |at| blocks(500.0 + (at - NOW), 1000.0 + (at - NOW)));
    assert_eq!(v.sync_state, SyncState::OutOfSync);
    let strict = Params {
        max_block_lag: 10.0,
        ..Params::default()
    };
    assert_eq!(
        assess(&mut History::new(), &obs(NOW, blocks(950.0, 1000.0)), &strict).sync_state,
        SyncState::Syncing
    );
}

#[test]
fn a_main_node_that_stops_is_a_network_that_is_not_live() {
    let v = watch(60.0, &Params::default(), |_| blocks(1000.0, 1000.0));
    assert_eq!((v.sync_state, v.network), (SyncState::Synced, Network::Stalled));
    assert_eq!(
        v.status,
        Status::Affected,
        "not the node's fault, but not all well: {v:?}"
    );
    assert!(v.reasons[0].contains("the main node's block has not moved for 60 s"));
    let live = watch(60.0, &Params::default(), |at| {
        blocks(1000.0 + at - NOW, 1000.0 + at - NOW)
    });
    assert_eq!(live.network, Network::Live);
}

#[test]
fn booting_is_not_ready_with_a_factor_of_zero() {
    let r = Reading {
        booting: Some("node reports BOOTING_PRE_GENESIS".into()),
        claimed_sync: Some(SyncState::Booting),
        ..Reading::default()
    };
    let v = once(NOW, r);
    assert_eq!((v.sync_state, v.status), (SyncState::Booting, Status::NotReady));
    assert!(approx(v.health_factor, 0.0));
    assert_eq!(v.reasons[0], "node reports BOOTING_PRE_GENESIS");
}

#[test]
fn without_a_ledger_the_nodes_word_stands() {
    for (status, sync) in [
        (Status::Ready, SyncState::Synced),
        (Status::Affected, SyncState::Syncing),
        (Status::NotReady, SyncState::OutOfSync),
    ] {
        let r = Reading {
            status: Some(status),
            claimed_sync: Some(sync),
            ..Reading::default()
        };
        let v = once(NOW, r);
        assert_eq!((v.status, v.sync_state, v.health_factor), (status, sync, None));
        assert!(v.verified, "nothing to watch: nothing to wait for");
    }
}

#[test]
fn unreachable_after_failure_threshold_and_back() {
    let params = Params::default();
    let mut h = History::new();
    assert!(assess(&mut h, &obs(NOW, ledger(NOW, 1.0, 1.0)), &params).healthy);
    let down = |at| Observation {
        at,
        reading: Err("connection refused".into()),
    };
    let v1 = assess(&mut h, &down(NOW + 15.0), &params);
    assert!(v1.healthy, "one failure keeps the previous verdict: {v1:?}");
    assert!(has(&v1, "probe failed (1/3): connection refused"));
    assess(&mut h, &down(NOW + 30.0), &params);
    let v3 = assess(&mut h, &down(NOW + 45.0), &params);
    assert_eq!((v3.sync_state, v3.status), (SyncState::Unreachable, Status::NotReady));
    assert!(approx(v3.health_factor, 0.0));
    assert!(assess(&mut h, &obs(NOW + 60.0, ledger(NOW + 60.0, 1.0, 1.0)), &params).healthy);
}

#[test]
fn success_threshold_holds_unreachable() {
    let params = Params {
        failure_threshold: 1,
        success_threshold: 2,
        ..Params::default()
    };
    let mut h = History::new();
    let down = Observation {
        at: NOW,
        reading: Err("connection refused".into()),
    };
    assert!(!assess(&mut h, &down, &params).healthy);
    let ok = obs(NOW + 1.0, ledger(NOW + 1.0, 1.0, 1.0));
    assert_eq!(assess(&mut h, &ok, &params).sync_state, SyncState::Unreachable);
    assert_eq!(assess(&mut h, &ok, &params).sync_state, SyncState::Synced);
}

#[test]
fn growing_counters_are_warnings_and_a_reset_is_not() {
    let params = Params::default();
    let mut h = History::new();
    let with = |at: f64, n: f64| {
        let mut r = ledger(at, 1.0, 1.0);
        r.counters = vec![Counter {
            what: "invalid sync responses",
            value: n,
        }];
        obs(at, r)
    };
    assess(&mut h, &with(NOW, 1.0), &params);
    let v = assess(&mut h, &with(NOW + 15.0, 4.0), &params);
    assert!(v.healthy);
    assert!(has(&v, "3 invalid sync responses since the last probe"), "{v:?}");
    let v = assess(&mut h, &with(NOW + 30.0, 0.0), &params);
    assert!(!has(&v, "invalid sync"), "{v:?}");
}

#[test]
fn peers_targets_are_flagged_as_unvalidated() {
    let mut r = ledger(NOW, 600.0, 30.0);
    (r.head.height, r.target.height) = (Some(1000.0), Some(5000.0));
    let v = once(NOW, r);
    assert!(has(
        &v,
        "4000 state versions behind the sync target announced by peers (unvalidated)"
    ));
}

#[test]
fn thresholds_are_parameters() {
    let strict = Params {
        degraded_below: 0.99,
        synced_delay_seconds: 10.0,
        ..Params::default()
    };
    let v = assess(&mut History::new(), &obs(NOW, ledger(NOW, 30.0, 40.0)), &strict);
    assert!(approx(v.health_factor, 0.75));
    assert_eq!(v.status, Status::Affected);
}

#[test]
fn a_few_seconds_without_progress_prove_nothing() {
    // A syncing ledger moves in batches: 15 s without a batch is not a stall yet.
    let params = Params::default();
    let ts = NOW - 3600.0;
    let v = watch(15.0, &params, |at| ledger(at, at - ts, 30.0));
    assert_eq!(v.figures.observed_progress_rate, None, "span too short to trust");
    assert!(approx(v.health_factor, 0.5));
}

#[test]
fn human_durations() {
    assert_eq!(human_duration(312.0), "5 min 12 s");
    assert_eq!(human_duration(45.2), "45 s");
    assert_eq!(human_duration(300.0), "5 min");
    assert_eq!(human_duration(7322.0), "2 h 2 min");
}
