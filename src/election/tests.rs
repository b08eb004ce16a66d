use super::*;

fn at(t: &Timestamp, s: i64) -> Timestamp {
    *t + jiff::SignedDuration::from_secs(s)
}

fn held_by(holder: &str, wall: Timestamp) -> Record {
    Record {
        holder: holder.to_owned(),
        lease_duration: Duration::from_secs(15),
        acquire_time: Some(wall),
        renew_time: Some(wall),
        transitions: 3,
        shards: Some(1),
    }
}

#[test]
fn client_gos_rule_refuses_timings_that_could_overlap() {
    assert!(Timing::default().validated().is_ok());
    let t = |l, r, p| Timing {
        lease_duration: Duration::from_secs(l),
        renew_deadline: Duration::from_secs(r),
        retry_period: Duration::from_secs(p),
    };
    assert!(matches!(
        t(10, 10, 2).validated(),
        Err(TimingError::LeaseNotAboveRenew { .. })
    ));
    // 1.2 × 5 s = 6 s: a renew deadline of 6 s leaves no room for one retry.
    assert!(matches!(
        t(15, 6, 5).validated(),
        Err(TimingError::RenewNotAboveRetry { .. })
    ));
    assert!(t(15, 7, 5).validated().is_ok());
}

#[test]
fn no_lease_is_created_held_by_us() {
    let (now, wall) = (Instant::now(), Timestamp::now());
    let (observed, step) = next("a", 1, None, None, now, wall, &Timing::default());
    assert_eq!(observed, None);
    let Step::Create(r) = step else { panic!("{step:?}") };
    assert_eq!((r.holder.as_str(), r.transitions), ("a", 0));
    assert_eq!(r.renew_time, Some(wall));
}

#[test]
fn another_holder_is_waited_out_for_the_lease_duration_as_observed_here() {
    let timing = Timing::default();
    let (t0, wall) = (Instant::now(), Timestamp::now());
    // The holder's renewTime is an hour old by our clock: it does not matter, only what we see.
    let record = held_by("b", at(&wall, -3600));
    let (seen, step) = next("a", 1, Some(&record), None, t0, wall, &timing);
    assert_eq!(step, Step::Wait { holder: "b".into() });
    let seen = seen.unwrap();
    assert_eq!(seen.since, t0);
    // Unchanged for 14 s: still held.
    let t14 = t0 + Duration::from_secs(14);
    let (seen14, step) = next("a", 1, Some(&record), Some(&seen), t14, at(&wall, 14), &timing);
    assert_eq!(step, Step::Wait { holder: "b".into() });
    assert_eq!(seen14.as_ref().unwrap().since, t0, "the count goes on");
    // Unchanged for 15 s: expired, taken over with one more transition.
    let t15 = t0 + Duration::from_secs(15);
    let (_, step) = next("a", 1, Some(&record), seen14.as_ref(), t15, at(&wall, 15), &timing);
    let Step::Write(r) = step else { panic!("{step:?}") };
    assert_eq!((r.holder.as_str(), r.transitions), ("a", 4));
    assert_eq!(r.acquire_time, Some(at(&wall, 15)));
}

#[test]
fn a_renewal_seen_restarts_the_count() {
    let timing = Timing::default();
    let (t0, wall) = (Instant::now(), Timestamp::now());
    let first = held_by("b", wall);
    let (seen, _) = next("a", 1, Some(&first), None, t0, wall, &timing);
    let renewed = Record {
        renew_time: Some(at(&wall, 10)),
        ..first
    };
    let t10 = t0 + Duration::from_secs(10);
    let (seen, step) = next("a", 1, Some(&renewed), seen.as_ref(), t10, at(&wall, 10), &timing);
    assert_eq!(seen.as_ref().unwrap().since, t10);
    assert!(matches!(step, Step::Wait { .. }));
    // 20 s after the first sight but 10 s after the renewal: still held.
    let t20 = t0 + Duration::from_secs(20);
    let (_, step) = next("a", 1, Some(&renewed), seen.as_ref(), t20, at(&wall, 20), &timing);
    assert!(matches!(step, Step::Wait { .. }));
}

#[test]
fn the_holder_renews_keeping_its_acquire_time_and_transitions() {
    let timing = Timing::default();
    let (t0, wall) = (Instant::now(), Timestamp::now());
    let mine = held_by("a", at(&wall, -5));
    let (_, step) = next("a", 1, Some(&mine), None, t0, wall, &timing);
    let Step::Write(r) = step else { panic!("{step:?}") };
    assert_eq!(r.acquire_time, mine.acquire_time);
    assert_eq!(r.transitions, 3);
    assert_eq!(r.renew_time, Some(wall));
}

#[test]
fn a_released_lease_is_taken_at_once() {
    let timing = Timing::default();
    let (t0, wall) = (Instant::now(), Timestamp::now());
    let gone = released(&held_by("b", wall), wall);
    assert_eq!(gone.holder, "");
    assert_eq!(gone.lease_duration, Duration::from_secs(1));
    let (_, step) = next("a", 1, Some(&gone), None, t0, wall, &timing);
    let Step::Write(r) = step else { panic!("{step:?}") };
    assert_eq!((r.holder.as_str(), r.transitions), ("a", 4));
    assert_eq!(r.lease_duration, Duration::from_secs(15));
}

#[test]
fn the_holder_stops_acting_before_anyone_may_take_over() {
    // The last renewal was sent at t0; a candidate saw its result no earlier than t0, so it
    // waits until at least t0 + 15 s, while the holder stopped at t0 + 10 s.
    let timing = Timing::default();
    let t0 = Instant::now();
    assert!(acting_until(t0, &timing) + Duration::from_secs(5) <= t0 + timing.lease_duration);
}

#[test]
fn a_live_lease_of_another_topology_keeps_everyone_from_acting_until_it_is_gone() {
    let timing = Timing::default();
    let t0 = Instant::now();
    let wall = Timestamp::now();
    // Resharding 1 → 2: the old leader holds shard 0 for a topology of 1.
    let old = observe(held_by("old", wall), None, t0);
    let t10 = t0 + Duration::from_secs(10);
    assert!(!topology_agrees(2, [&old], t10, &timing), "the new shard 1 must wait");
    assert!(topology_agrees(1, [&old], t10, &timing));
    // Unrenewed for a lease duration, or released: gone.
    assert!(topology_agrees(2, [&old], t0 + Duration::from_secs(15), &timing));
    let gone = observe(released(&old.record, wall), Some(&old), t10);
    assert!(topology_agrees(2, [&gone], t10, &timing));
    // A new leader of shard 0 for 2 shards: agreed.
    let new = observe(
        Record {
            shards: Some(2),
            ..held_by("new", wall)
        },
        Some(&gone),
        t10,
    );
    assert!(topology_agrees(2, [&new], t10, &timing));
    // The old one (1 shard) must stop while a live shard-1 Lease says 2.
    assert!(!topology_agrees(1, [&new], t10, &timing));
}

#[test]
fn the_holder_writes_its_number_of_shards() {
    let (t0, wall) = (Instant::now(), Timestamp::now());
    let (_, step) = next("a", 4, None, None, t0, wall, &Timing::default());
    assert!(matches!(step, Step::Create(Record { shards: Some(4), .. })));
    let (_, step) = next("a", 4, Some(&held_by("a", wall)), None, t0, wall, &Timing::default());
    assert!(matches!(step, Step::Write(Record { shards: Some(4), .. })));
}
