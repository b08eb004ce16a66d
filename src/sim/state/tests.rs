use super::*;
use crate::sim::network::Network;

const T0: f64 = 1_763_798_400.0;

/// A network that never halts, with its origin at `T0`.
fn net() -> Network {
    Network::new(T0)
}

/// A network halted from `T0 + from` until `T0 + until` (`None`: still halted).
fn halted(from: f64, until: Option<f64>) -> Network {
    let mut n = net();
    n.set_halted(true, T0 + from);
    if let Some(until) = until {
        n.set_halted(false, T0 + until);
    }
    n
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

#[test]
fn heuristic_values_from_the_brief() {
    // Synced outside the validator set: misses do not count.
    assert_eq!(node_health_factor(1.0, 1.0, 2, false), 1.0);
    // Five minutes behind, catching up at 30× real time.
    assert!(close(node_health_factor(300.0, 30.0, 0, true), 0.5));
    // Catching up at 50× or faster counts as healthy.
    assert_eq!(node_health_factor(300.0, 50.0, 0, true), 1.0);
    assert_eq!(node_health_factor(300.0, 500.0, 0, true), 1.0);
    // Behind and slow (or frozen).
    assert_eq!(node_health_factor(61.0, 10.0, 0, true), 0.0);
    assert_eq!(node_health_factor(61.0, 1.0, 0, true), 0.0);
    // Missed proposals.
    assert_eq!(node_health_factor(1.0, 1.0, 2, true), 0.0);
    assert_eq!(node_health_factor(1.0, 1.0, 1, true), 0.5);
    assert_eq!(node_health_factor(1.0, 1.0, 7, true), 0.0);
    // Under a minute behind, the rate does not matter.
    assert_eq!(node_health_factor(59.9, 0.0, 0, true), 1.0);
}

#[test]
fn synced_follows_the_network() {
    let v = Validator::new(T0, 0.0, &net());
    let a = v.snapshot(T0 + 10.0, &net());
    assert_eq!(a.status, NodeStatus::Up);
    assert!(close(a.proposer_ts, T0 + 10.0 - LEDGER_LAG_SECONDS));
    assert!(close(a.state_version, INITIAL_STATE_VERSION + 100.0));
    assert_eq!(a.progress_rate, 1.0);
    assert_eq!(a.health_factor, 1.0);
    assert_eq!(a.wallclock, T0 + 10.0);
    assert!(close(a.counters.own_successful, 10.0));
    assert_eq!(a.main_node_block(), a.local_block());
    assert_eq!(a.block_lag(), Some(0));
}

#[test]
fn figures_are_node_reported_even_outside_the_set() {
    let mut v = Validator::new(T0, 0.0, &net());
    v.set_in_validator_set(false, T0 + 5.0, &net());
    v.set_mode(Mode::MissingProposals { n: 2 }, T0 + 5.0, &net());
    let s = v.snapshot(T0 + 20.0, &net());
    assert_eq!(s.health_factor, 1.0);
    assert_eq!(s.recent_missed, 0);
    assert!(!s.in_validator_set);
    // Own rounds stopped growing when it left the set.
    assert!(close(s.counters.own_successful, 5.0));
}

#[test]
fn catching_up_closes_the_gap_then_is_synced() {
    let mut v = Validator::new(T0, 0.0, &net());
    v.set_mode(
        Mode::CatchingUp {
            rate: 30.0,
            behind_seconds: 300.0,
        },
        T0,
        &net(),
    );
    let s = v.snapshot(T0, &net());
    assert_eq!(s.status, NodeStatus::Syncing);
    assert_eq!(s.progress_rate, 30.0);
    // Behind the head (itself a commit lag behind the clock) by 300 s.
    assert!(close(s.proposer_ts, T0 - 300.0 - LEDGER_LAG_SECONDS));
    assert!(close(s.behind, 300.0));
    assert!(close(s.health_factor, 0.5));
    assert!(s.target_state_version > s.state_version);
    // 300 s behind, gaining 29 s per second.
    let s = v.snapshot(T0 + 5.0, &net());
    assert!(close(s.proposer_ts, T0 - 300.0 + 150.0 - LEDGER_LAG_SECONDS));
    assert!(s.main_node_block().unwrap() > s.local_block().unwrap() + 10);
    let s = v.snapshot(T0 + 300.0 / 29.0 + 1.0, &net());
    assert_eq!(s.status, NodeStatus::Up);
    assert_eq!(s.progress_rate, 1.0);
    assert_eq!(s.health_factor, 1.0);
}

#[test]
fn fast_or_slow_catching_up_factors() {
    let mut v = Validator::new(T0, 0.0, &net());
    v.set_mode(
        Mode::CatchingUp {
            rate: 60.0,
            behind_seconds: 3600.0,
        },
        T0,
        &net(),
    );
    assert_eq!(v.snapshot(T0 + 1.0, &net()).health_factor, 1.0);
    v.set_mode(
        Mode::CatchingUp {
            rate: 5.0,
            behind_seconds: 3600.0,
        },
        T0 + 2.0,
        &net(),
    );
    let s = v.snapshot(T0 + 3.0, &net());
    assert_eq!(s.health_factor, 0.0);
    assert_eq!(s.status, NodeStatus::Syncing);
}

#[test]
fn stalled_freezes_the_ledger_and_keeps_the_last_rate() {
    let mut v = Validator::new(T0, 0.0, &net());
    v.set_mode(
        Mode::CatchingUp {
            rate: 30.0,
            behind_seconds: 3600.0,
        },
        T0,
        &net(),
    );
    v.set_mode(Mode::Stalled, T0 + 10.0, &net());
    let a = v.snapshot(T0 + 11.0, &net());
    let b = v.snapshot(T0 + 500.0, &net());
    assert_eq!(a.proposer_ts, b.proposer_ts);
    assert_eq!(a.state_version, b.state_version);
    assert_eq!(a.last_update, b.last_update);
    assert_eq!(b.progress_rate, 30.0);
    assert_eq!(
        b.status,
        NodeStatus::Syncing,
        "its stale rate still says it is catching up"
    );
    assert!(close(b.health_factor, 0.5));
    assert!(b.target_proposer_ts > a.target_proposer_ts);
    assert_eq!(a.counters, b.counters);
}

#[test]
fn stalled_from_synced_is_up_for_a_minute() {
    let mut v = Validator::new(T0, 0.0, &net());
    v.set_mode(Mode::Stalled, T0, &net());
    assert_eq!(v.snapshot(T0 + 30.0, &net()).status, NodeStatus::Up);
    let late = v.snapshot(T0 + 90.0, &net());
    assert_eq!(late.status, NodeStatus::OutOfSync);
    assert_eq!(late.progress_rate, 1.0);
    // Rate 1 clamps to 10: the node's own factor sees the stall only once it is a minute old.
    assert_eq!(late.health_factor, 0.0);
}

#[test]
fn booting_reports_zeros() {
    let mut v = Validator::new(T0, 0.0, &net());
    v.set_mode(Mode::Booting, T0, &net());
    let s = v.snapshot(T0 + 3.0, &net());
    assert_eq!(s.status, NodeStatus::BootingPreGenesis);
    assert_eq!(
        (s.state_version, s.proposer_ts, s.progress_rate, s.health_factor),
        (0.0, 0.0, 0.0, 0.0)
    );
    assert_eq!(s.local_block(), None);
}

#[test]
fn missing_proposals() {
    let mut v = Validator::new(T0, 0.0, &net());
    v.set_mode(Mode::MissingProposals { n: 1 }, T0, &net());
    let s = v.snapshot(T0, &net());
    assert_eq!(s.recent_missed, 1);
    assert_eq!(s.health_factor, 0.5);
    assert!(close(s.counters.own_missed_by_gap, 1.0));
    v.set_mode(Mode::MissingProposals { n: 2 }, T0, &net());
    let s = v.snapshot(T0 + 50.0, &net());
    assert_eq!(s.health_factor, 0.0);
    assert!(close(s.counters.own_missed_by_gap, 1.0 + 2.0 + 2.0));
    assert_eq!(s.status, NodeStatus::Up);
}

#[test]
fn clock_skew() {
    let mut v = Validator::new(T0, 0.0, &net());
    v.set_mode(Mode::ClockSkew { seconds: 30.0 }, T0, &net());
    let s = v.snapshot(T0 + 1.0, &net());
    assert_eq!(s.wallclock, T0 + 31.0);
    assert!(close(s.proposal_difference, BASE_TIMESTAMP_DIFFERENCE - 30.0));
    assert_eq!(s.status, NodeStatus::Up);
    // The node measures its delay with its own clock.
    v.set_mode(Mode::ClockSkew { seconds: 120.0 }, T0 + 1.0, &net());
    let s = v.snapshot(T0 + 2.0, &net());
    assert_eq!(s.status, NodeStatus::OutOfSync);
    assert_eq!(s.health_factor, 0.0);
}

#[test]
fn restart_resets_counters_but_not_the_ledger() {
    let mut v = Validator::new(T0, 0.0, &net());
    v.set_mode(Mode::Stalled, T0 + 100.0, &net());
    let before = v.snapshot(T0 + 200.0, &net());
    v.restart(T0 + 200.0, &net());
    let after = v.snapshot(T0 + 200.0, &net());
    assert_eq!(v.mode(), Mode::Synced);
    assert_eq!(v.process_start(), T0 + 200.0);
    assert!(after.counters.own_successful < 1e-9);
    assert!(before.counters.own_successful > 99.0);
    // Back in sync: the ledger jumps forward, never back.
    assert!(after.state_version >= before.state_version);
    assert_eq!(after.status, NodeStatus::Up);
}

#[test]
fn state_version_never_decreases() {
    let modes = [
        Mode::Synced,
        Mode::CatchingUp {
            rate: 3.0,
            behind_seconds: 50.0,
        },
        Mode::Stalled,
        Mode::Booting,
        Mode::CatchingUp {
            rate: 0.5,
            behind_seconds: 10.0,
        },
        Mode::ClockSkew { seconds: -40.0 },
        Mode::Lagging { behind_seconds: 20.0 },
        Mode::MissingProposals { n: 3 },
        Mode::Unreachable,
        Mode::Synced,
    ];
    // The network halts now and then: 30 s in every 100, from +40.
    let mut n = net();
    for k in 0..30 {
        n.set_halted(true, T0 + 40.0 + 100.0 * f64::from(k));
        n.set_halted(false, T0 + 70.0 + 100.0 * f64::from(k));
    }
    let mut v = Validator::new(T0, 0.0, &n);
    let mut last = 0.0;
    let mut last_ts = 0.0;
    let mut t = T0;
    for (i, mode) in modes.iter().cycle().take(40).enumerate() {
        v.set_mode(*mode, t, &n);
        for _ in 0..5 {
            t += 7.0;
            let s = v.snapshot(t, &n);
            assert!(s.behind >= 0.0, "step {i} {mode:?}: ahead of the head by {}", -s.behind);
            assert!(s.target_proposer_ts <= t - LEDGER_LAG_SECONDS + 1e-6);
            if s.status != NodeStatus::BootingPreGenesis {
                assert!(
                    s.state_version >= last,
                    "step {i} {mode:?}: {} < {last}",
                    s.state_version
                );
                last = s.state_version;
                assert!(s.counters.own_successful >= 0.0);
                // Entering a behind mode puts the ledger back in time; nothing else does.
                if !matches!(mode, Mode::CatchingUp { .. } | Mode::Lagging { .. }) {
                    assert!(s.proposer_ts >= last_ts - 1e-6, "step {i} {mode:?}");
                }
                last_ts = s.proposer_ts;
            }
        }
        if i % 7 == 3 {
            v.restart(t, &n);
        }
    }
}

#[test]
fn catching_up_at_twice_real_time_closes_the_gap_at_half_it_widens() {
    let mut fast = Validator::new(T0, 0.0, &net());
    fast.set_mode(
        Mode::CatchingUp {
            rate: 2.0,
            behind_seconds: 100.0,
        },
        T0,
        &net(),
    );
    let s = fast.snapshot(T0 + 50.0, &net());
    assert!(close(s.behind, 50.0));
    assert_eq!((s.status, s.progress_rate), (NodeStatus::Syncing, 2.0));
    let s = fast.snapshot(T0 + 150.0, &net());
    assert!(close(s.behind, 0.0));
    assert_eq!((s.status, s.progress_rate), (NodeStatus::Up, 1.0));

    let mut slow = Validator::new(T0, 0.0, &net());
    slow.set_mode(
        Mode::CatchingUp {
            rate: 0.5,
            behind_seconds: 10.0,
        },
        T0,
        &net(),
    );
    let s = slow.snapshot(T0 + 20.0, &net());
    assert!(close(s.behind, 20.0));
    // Not catching up, but under a minute behind its clock: the node still says UP.
    assert_eq!((s.status, s.progress_rate), (NodeStatus::Up, 0.5));
    let s = slow.snapshot(T0 + 120.0, &net());
    assert!(close(s.behind, 70.0));
    assert!(s.main_node_block().unwrap() >= s.local_block().unwrap() + 69);
    assert_eq!(s.status, NodeStatus::OutOfSync);
    assert_eq!(s.health_factor, 0.0);
    // Its ledger still moves: the last update is now, the version grows at half the pace.
    assert!(close(s.last_update, T0 + 120.0));
    assert!(close(s.state_version, INITIAL_STATE_VERSION + 0.5 * 120.0 * 10.0));
}

#[test]
fn lagging_keeps_a_constant_lag_at_the_network_pace() {
    for (lag, status) in [(30.0, NodeStatus::Up), (120.0, NodeStatus::OutOfSync)] {
        let mut v = Validator::new(T0, 0.0, &net());
        v.set_mode(Mode::Lagging { behind_seconds: lag }, T0 + 10.0, &net());
        let a = v.snapshot(T0 + 10.0, &net());
        let b = v.snapshot(T0 + 100.0, &net());
        for s in [&a, &b] {
            assert!(close(s.behind, lag), "{lag}: {}", s.behind);
            assert_eq!(s.block_lag(), Some(lag as u64));
            assert_eq!(s.progress_rate, 1.0);
            assert_eq!(s.status, status);
        }
        assert!(close(b.proposer_ts, T0 + 100.0 - lag - LEDGER_LAG_SECONDS));
        assert!(close(
            b.state_version - a.state_version,
            90.0 * VERSIONS_PER_LEDGER_SECOND
        ));
        assert!(close(b.last_update, T0 + 100.0));
        // Its rounds count from where it was put, at the network's pace.
        assert!(close(b.counters.own_successful - a.counters.own_successful, 90.0));
    }
}

#[test]
fn a_halt_freezes_a_synced_validator_and_it_follows_the_resumed_network() {
    let v = Validator::new(T0, 0.0, &net());
    let n = halted(100.0, None);
    let at_halt = v.snapshot(T0 + 100.0, &n);
    let later = v.snapshot(T0 + 130.0, &n);
    // Ledger, targets and last update frozen at the halt; the clock runs; the last rate stays.
    assert!(close(later.proposer_ts, T0 + 100.0 - LEDGER_LAG_SECONDS));
    assert_eq!(later.proposer_ts, at_halt.proposer_ts);
    assert_eq!(later.target_proposer_ts, at_halt.target_proposer_ts);
    assert_eq!(later.state_version, at_halt.state_version);
    assert_eq!(later.target_state_version, at_halt.target_state_version);
    assert!(close(later.last_update, T0 + 100.0));
    assert_eq!(later.wallclock, T0 + 130.0);
    assert_eq!(later.progress_rate, 1.0);
    assert_eq!(later.counters, at_halt.counters);
    assert_eq!(later.behind, 0.0);
    // Under a minute behind its own clock it says UP; past that, with rate 1, OUT_OF_SYNC.
    assert_eq!(later.status, NodeStatus::Up);
    let late = v.snapshot(T0 + 200.0, &n);
    assert_eq!((late.status, late.health_factor), (NodeStatus::OutOfSync, 0.0));

    // Resumed at +300: the head jumps to the clock, versions continue from the frozen one.
    let n = halted(100.0, Some(300.0));
    let after = v.snapshot(T0 + 310.0, &n);
    assert!(close(after.proposer_ts, T0 + 310.0 - LEDGER_LAG_SECONDS));
    assert!(close(after.target_proposer_ts, after.proposer_ts));
    assert!(close(
        after.state_version,
        at_halt.state_version + 10.0 * VERSIONS_PER_LEDGER_SECOND
    ));
    assert!(close(after.last_update, T0 + 310.0));
    assert_eq!((after.status, after.health_factor), (NodeStatus::Up, 1.0));
    assert!(close(
        after.counters.own_successful,
        at_halt.counters.own_successful + 10.0
    ));
    // Before the halt, figures are those of a network that never halts.
    assert_eq!(v.snapshot(T0 + 50.0, &n), v.snapshot(T0 + 50.0, &net()));
}

#[test]
fn a_halt_caps_every_ledger_at_the_frozen_head() {
    let n = halted(100.0, None);
    let frozen_ts = T0 + 100.0 - LEDGER_LAG_SECONDS;
    let set = |mode: Mode, at: f64| {
        let mut v = Validator::new(T0, 0.0, &n);
        v.set_mode(mode, T0 + at, &n);
        v
    };
    // 300 s behind at +90, gaining 29 s/s: 10 s short at the halt, at the frozen head 1/3 s later.
    let fast = set(
        Mode::CatchingUp {
            rate: 30.0,
            behind_seconds: 300.0,
        },
        90.0,
    );
    let s = fast.snapshot(T0 + 200.0, &n);
    assert!(close(s.behind, 0.0));
    assert!(close(s.proposer_ts, frozen_ts));
    assert!(close(s.last_update, T0 + 100.0 + 10.0 / 30.0));
    // A minute behind its clock with a high last rate: by its own figures it is still syncing.
    assert_eq!((s.status, s.progress_rate), (NodeStatus::Syncing, 30.0));
    assert!(close(s.health_factor, 0.5));

    // Rate 2: 290 s short at the halt, there 145 s later; then its last rate (2) is low.
    let slow = set(
        Mode::CatchingUp {
            rate: 2.0,
            behind_seconds: 300.0,
        },
        90.0,
    );
    let s = slow.snapshot(T0 + 200.0, &n);
    assert!(close(s.behind, 90.0));
    assert_eq!(s.status, NodeStatus::Syncing);
    let s = slow.snapshot(T0 + 400.0, &n);
    assert!(close(s.behind, 0.0));
    assert!(close(s.last_update, T0 + 245.0));
    assert_eq!((s.status, s.progress_rate), (NodeStatus::OutOfSync, 2.0));

    // Lagging 20 s: it reaches the frozen head 20 s after the halt and stops there.
    let lagging = set(Mode::Lagging { behind_seconds: 20.0 }, 90.0);
    assert!(close(lagging.snapshot(T0 + 110.0, &n).behind, 10.0));
    let s = lagging.snapshot(T0 + 200.0, &n);
    assert!(close(s.behind, 0.0));
    assert!(close(s.proposer_ts, frozen_ts));
    assert!(close(s.last_update, T0 + 120.0));

    // Stalled before the halt: stays where it stopped.
    let stalled = set(Mode::Stalled, 50.0);
    let s = stalled.snapshot(T0 + 200.0, &n);
    assert!(close(s.behind, 50.0));
    assert!(close(s.target_proposer_ts, frozen_ts));

    // Resumed at +300.
    let n = halted(100.0, Some(300.0));
    let s = fast.snapshot(T0 + 310.0, &n);
    assert!(close(s.behind, 0.0));
    assert_eq!((s.status, s.progress_rate), (NodeStatus::Up, 1.0));
    assert!(close(s.proposer_ts, T0 + 310.0 - LEDGER_LAG_SECONDS));
    // The lagging node hears of the new blocks 20 s late, then trails by 20 s again.
    let s = lagging.snapshot(T0 + 310.0, &n);
    assert!(close(s.behind, 10.0));
    assert!(close(s.proposer_ts, frozen_ts));
    let s = lagging.snapshot(T0 + 330.0, &n);
    assert!(close(s.behind, 20.0));
    assert!(close(s.proposer_ts, T0 + 310.0 - LEDGER_LAG_SECONDS));
    // The stalled node stays stalled, now further behind.
    let s = stalled.snapshot(T0 + 310.0, &n);
    assert!(close(s.behind, 60.0));
    assert!(close(s.proposer_ts, T0 + 50.0 - LEDGER_LAG_SECONDS));
}

#[test]
fn a_slow_node_that_reached_the_frozen_head_falls_behind_again_on_resume() {
    let n = halted(100.0, Some(300.0));
    let mut v = Validator::new(T0, 0.0, &n);
    v.set_mode(
        Mode::CatchingUp {
            rate: 0.5,
            behind_seconds: 10.0,
        },
        T0 + 100.0,
        &n,
    );
    // Reaches the frozen head 20 s into the halt, waits, then falls behind at half pace.
    assert!(close(v.snapshot(T0 + 150.0, &n).behind, 0.0));
    let s = v.snapshot(T0 + 340.0, &n);
    assert!(close(s.behind, 20.0));
    assert_eq!(s.progress_rate, 0.5);
}

#[test]
fn changes_during_a_halt_keep_the_frozen_figures() {
    let n = halted(100.0, None);
    let mut v = Validator::new(T0, 0.0, &n);
    v.set_mode(Mode::MissingProposals { n: 1 }, T0 + 150.0, &n);
    let s = v.snapshot(T0 + 155.0, &n);
    assert!(close(s.last_update, T0 + 100.0));
    assert!(close(s.proposer_ts, T0 + 100.0 - LEDGER_LAG_SECONDS));
    v.restart(T0 + 160.0, &n);
    let s = v.snapshot(T0 + 170.0, &n);
    assert!(close(s.last_update, T0 + 100.0));
    assert_eq!(s.counters, Counters::default());
}
