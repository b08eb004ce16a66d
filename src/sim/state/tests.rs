use super::*;

const T0: f64 = 1_763_798_400.0;

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
    let v = Validator::new(T0, 0.0);
    let a = v.snapshot(T0 + 10.0);
    assert_eq!(a.status, NodeStatus::Up);
    assert!(close(a.proposer_ts, T0 + 10.0 - LEDGER_LAG_SECONDS));
    assert!(close(a.state_version, INITIAL_STATE_VERSION + 100.0));
    assert_eq!(a.progress_rate, 1.0);
    assert_eq!(a.health_factor, 1.0);
    assert_eq!(a.wallclock, T0 + 10.0);
    assert!(close(a.counters.own_successful, 10.0));
    assert_eq!(a.main_node_block(), a.local_block().unwrap());
}

#[test]
fn figures_are_node_reported_even_outside_the_set() {
    let mut v = Validator::new(T0, 0.0);
    v.set_in_validator_set(false, T0 + 5.0);
    v.set_mode(Mode::MissingProposals { n: 2 }, T0 + 5.0);
    let s = v.snapshot(T0 + 20.0);
    assert_eq!(s.health_factor, 1.0);
    assert_eq!(s.recent_missed, 0);
    assert!(!s.in_validator_set);
    // Own rounds stopped growing when it left the set.
    assert!(close(s.counters.own_successful, 5.0));
}

#[test]
fn syncing_catches_up_then_is_synced() {
    let mut v = Validator::new(T0, 0.0);
    v.set_mode(
        Mode::Syncing {
            rate: 30.0,
            behind_seconds: 300.0,
        },
        T0,
    );
    let s = v.snapshot(T0);
    assert_eq!(s.status, NodeStatus::Syncing);
    assert_eq!(s.progress_rate, 30.0);
    assert!(close(s.proposer_ts, T0 - 300.0));
    assert!(close(s.health_factor, 0.5));
    assert!(s.target_state_version > s.state_version);
    // 300 s behind, gaining 29 s per second.
    let s = v.snapshot(T0 + 5.0);
    assert!(close(s.proposer_ts, T0 - 300.0 + 150.0));
    assert!(s.main_node_block() > s.local_block().unwrap() + 10);
    let s = v.snapshot(T0 + 300.0 / 29.0 + 1.0);
    assert_eq!(s.status, NodeStatus::Up);
    assert_eq!(s.progress_rate, 1.0);
    assert_eq!(s.health_factor, 1.0);
}

#[test]
fn fast_or_slow_syncing_factors() {
    let mut v = Validator::new(T0, 0.0);
    v.set_mode(
        Mode::Syncing {
            rate: 60.0,
            behind_seconds: 3600.0,
        },
        T0,
    );
    assert_eq!(v.snapshot(T0 + 1.0).health_factor, 1.0);
    v.set_mode(
        Mode::Syncing {
            rate: 5.0,
            behind_seconds: 3600.0,
        },
        T0 + 2.0,
    );
    let s = v.snapshot(T0 + 3.0);
    assert_eq!(s.health_factor, 0.0);
    assert_eq!(s.status, NodeStatus::Syncing);
}

#[test]
fn stalled_freezes_the_ledger_and_keeps_the_last_rate() {
    let mut v = Validator::new(T0, 0.0);
    v.set_mode(
        Mode::Syncing {
            rate: 30.0,
            behind_seconds: 3600.0,
        },
        T0,
    );
    v.set_mode(Mode::Stalled, T0 + 10.0);
    let a = v.snapshot(T0 + 11.0);
    let b = v.snapshot(T0 + 500.0);
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
    let mut v = Validator::new(T0, 0.0);
    v.set_mode(Mode::Stalled, T0);
    assert_eq!(v.snapshot(T0 + 30.0).status, NodeStatus::Up);
    let late = v.snapshot(T0 + 90.0);
    assert_eq!(late.status, NodeStatus::OutOfSync);
    assert_eq!(late.progress_rate, 1.0);
    // Rate 1 clamps to 10: the node's own factor sees the stall only once it is a minute old.
    assert_eq!(late.health_factor, 0.0);
}

#[test]
fn booting_reports_zeros() {
    let mut v = Validator::new(T0, 0.0);
    v.set_mode(Mode::Booting, T0);
    let s = v.snapshot(T0 + 3.0);
    assert_eq!(s.status, NodeStatus::BootingPreGenesis);
    assert_eq!(
        (s.state_version, s.proposer_ts, s.progress_rate, s.health_factor),
        (0.0, 0.0, 0.0, 0.0)
    );
    assert_eq!(s.local_block(), None);
}

#[test]
fn missing_proposals() {
    let mut v = Validator::new(T0, 0.0);
    v.set_mode(Mode::MissingProposals { n: 1 }, T0);
    let s = v.snapshot(T0);
    assert_eq!(s.recent_missed, 1);
    assert_eq!(s.health_factor, 0.5);
    assert!(close(s.counters.own_missed_by_gap, 1.0));
    v.set_mode(Mode::MissingProposals { n: 2 }, T0);
    let s = v.snapshot(T0 + 50.0);
    assert_eq!(s.health_factor, 0.0);
    assert!(close(s.counters.own_missed_by_gap, 1.0 + 2.0 + 2.0));
    assert_eq!(s.status, NodeStatus::Up);
}

#[test]
fn clock_skew() {
    let mut v = Validator::new(T0, 0.0);
    v.set_mode(Mode::ClockSkew { seconds: 30.0 }, T0);
    let s = v.snapshot(T0 + 1.0);
    assert_eq!(s.wallclock, T0 + 31.0);
    assert!(close(s.proposal_difference, BASE_TIMESTAMP_DIFFERENCE - 30.0));
    assert_eq!(s.status, NodeStatus::Up);
    // The node measures its delay with its own clock.
    v.set_mode(Mode::ClockSkew { seconds: 120.0 }, T0 + 1.0);
    let s = v.snapshot(T0 + 2.0);
    assert_eq!(s.status, NodeStatus::OutOfSync);
    assert_eq!(s.health_factor, 0.0);
}

#[test]
fn restart_resets_counters_but_not_the_ledger() {
    let mut v = Validator::new(T0, 0.0);
    v.set_mode(Mode::Stalled, T0 + 100.0);
    let before = v.snapshot(T0 + 200.0);
    v.restart(T0 + 200.0);
    let after = v.snapshot(T0 + 200.0);
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
        Mode::Syncing {
            rate: 3.0,
            behind_seconds: 50.0,
        },
        Mode::Stalled,
        Mode::Booting,
        Mode::Syncing {
            rate: 0.5,
            behind_seconds: 10.0,
        },
        Mode::ClockSkew { seconds: -40.0 },
        Mode::MissingProposals { n: 3 },
        Mode::Unreachable,
        Mode::Synced,
    ];
    let mut v = Validator::new(T0, 0.0);
    let mut last = 0.0;
    let mut t = T0;
    for (i, mode) in modes.iter().cycle().take(40).enumerate() {
        v.set_mode(*mode, t);
        for _ in 0..5 {
            t += 7.0;
            let s = v.snapshot(t);
            if s.status != NodeStatus::BootingPreGenesis {
                assert!(
                    s.state_version >= last,
                    "step {i} {mode:?}: {} < {last}",
                    s.state_version
                );
                last = s.state_version;
                assert!(s.counters.own_successful >= 0.0);
            }
        }
        if i % 7 == 3 {
            v.restart(t);
        }
    }
}
