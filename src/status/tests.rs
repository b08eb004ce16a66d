use super::*;
use crate::model::{Figures, PodVerdict};

fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(1_763_798_400 + secs).unwrap()
}

fn verdict(status: Status, sync: SyncState, factor: f64) -> PodVerdict {
    let mut v = PodVerdict::new(status, sync);
    v.health_factor = Some(factor);
    v.reported_health_factor = Some(factor);
    v.figures = Figures {
        ledger_delay_seconds: Some(1.234),
        ..Figures::default()
    };
    if !status.is_healthy() {
        v.reasons = vec!["ledger 10 min behind".into()];
    }
    v
}

fn pod(name: &str, status: Status, sync: SyncState, factor: f64) -> PodOutcome {
    PodOutcome {
        name: name.into(),
        node: Some("node-a".into()),
        result: Ok(verdict(status, sync, factor)),
    }
}

fn fleet(bad: bool) -> Vec<PodOutcome> {
    vec![
        pod("v-0", Status::Ready, SyncState::Synced, 1.0),
        if bad {
            pod("v-1", Status::NotReady, SyncState::OutOfSync, 0.0)
        } else {
            pod("v-1", Status::Ready, SyncState::Synced, 1.0)
        },
        pod("v-2", Status::Affected, SyncState::Syncing, 0.6),
    ]
}

fn condition<'a>(s: &'a NodeHealthStatus, t: &str) -> &'a Condition {
    s.conditions.iter().find(|c| c.type_ == t).unwrap()
}

#[test]
fn a_sick_validator_leaves_ready_true_and_healthy_false() {
    let s = swept(Some(2), None, fleet(true), t(0), 100);
    assert_eq!(s.ready, "2/3");
    assert_eq!((s.total_pods, s.healthy_pods), (3, 2));
    assert_eq!(s.worst_status, Some(PodStatus::NotReady));
    assert_eq!(s.health_factor, Some(0.0));
    assert_eq!(s.pods[0].name, "v-1", "worst first");
    assert_eq!(s.pods[1].name, "v-2");
    assert_eq!(s.pods[0].unhealthy_since, Some(Time(t(0))));
    assert_eq!(condition(&s, "Ready").status, "True");
    assert_eq!(condition(&s, "Stalled").status, "False");
    let h = condition(&s, "Healthy");
    assert_eq!((h.status.as_str(), h.reason.as_str()), ("False", "PodsUnhealthy"));
    assert_eq!(h.message, "1/3 pods unhealthy: v-1: NotReady (OutOfSync)");
    assert!(s.conditions.iter().all(|c| c.observed_generation == Some(2)));
    assert_eq!(s.observed_generation, Some(2));
}

#[test]
fn ready_names_the_endpoints_the_profile_does_not_read() {
    let mut s = swept(Some(1), None, fleet(false), t(0), 100);
    let before = condition(&s, "Ready").message.clone();
    say_unread(&mut s, "solana", &[]);
    assert_eq!(condition(&s, "Ready").message, before, "nothing to say");
    say_unread(&mut s, "solana", &["metrics", "execution"]);
    assert_eq!(
        condition(&s, "Ready").message,
        format!(
            "{before}; spec.probe.metrics and spec.probe.execution not probed: the solana profile does not read them"
        )
    );
}

#[test]
fn unhealthy_since_and_transition_times_carry_over() {
    let first = swept(Some(1), None, fleet(true), t(0), 100);
    let second = swept(Some(1), Some(&first), fleet(true), t(60), 100);
    assert_eq!(second.pods[0].unhealthy_since, Some(Time(t(0))));
    assert_eq!(condition(&second, "Healthy").last_transition_time, Time(t(0)));
    let healed = swept(Some(1), Some(&second), fleet(false), t(120), 100);
    assert_eq!(condition(&healed, "Healthy").status, "True");
    assert_eq!(condition(&healed, "Healthy").last_transition_time, Time(t(120)));
    assert_eq!(condition(&healed, "Ready").last_transition_time, Time(t(0)));
    assert!(healed.pods.iter().all(|p| p.unhealthy_since.is_none()));
}

#[test]
fn no_pods_is_ready_but_says_nothing_is_selected() {
    let s = swept(Some(1), None, vec![], t(0), 100);
    assert_eq!(s.ready, "0/0");
    assert_eq!(s.worst_status, None, "an empty STATUS column, not `ready`");
    assert_eq!(condition(&s, "Healthy").reason, "NoPodsSelected");
    assert_eq!(condition(&s, "Ready").status, "True");
    let events = pod_events(None, &s);
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].reason, events[0].warning), ("NoPodsSelected", true));
    let again = swept(Some(1), Some(&s), vec![], t(15), 100);
    assert!(pod_events(Some(&s), &again).is_empty(), "said once, not every sweep");
    let before = swept(Some(1), None, fleet(true), t(0), 100);
    let emptied = swept(Some(1), Some(&before), vec![], t(15), 100);
    assert_eq!(pod_events(Some(&before), &emptied)[0].reason, "NoPodsSelected");
}

fn not_probed(name: &str, skip: PodSkip) -> PodOutcome {
    PodOutcome {
        name: name.into(),
        node: None,
        result: Err(skip),
    }
}

#[test]
fn pods_not_probed_are_listed_apart_and_not_counted_unhealthy() {
    let mut pods = fleet(true);
    pods.push(not_probed("v-7", PodSkip::NotRunning("Pending".into())));
    pods.push(not_probed("v-8", PodSkip::NoIp));
    pods.push(not_probed("v-9", PodSkip::Terminating));
    let s = swept(Some(1), None, pods, t(0), 100);
    assert_eq!((s.ready.as_str(), s.total_pods, s.healthy_pods), ("2/6", 6, 2));
    let row = |n: &str| s.pods.iter().find(|p| p.name == n).unwrap();
    assert_eq!(row("v-7").not_probed, Some(NotProbed::Pending));
    assert_eq!(row("v-8").not_probed, Some(NotProbed::NoPodIp));
    assert_eq!(row("v-8").reasons, vec!["pod has no IP yet".to_owned()]);
    assert_eq!(row("v-9").not_probed, Some(NotProbed::Terminating));
    assert_eq!(row("v-9").unhealthy_since, None, "no verdict, no unhealthy timer");
    assert_eq!(row("v-1").not_probed, None);
    let h = condition(&s, "Healthy");
    assert_eq!((h.status.as_str(), h.reason.as_str()), ("False", "PodsUnhealthy"));
    assert_eq!(
        h.message,
        "1/3 pods unhealthy: v-1: NotReady (OutOfSync); not probed: v-7 (Pending), v-8 (NoPodIP), v-9 (Terminating)",
        "counted out of the probed pods, as maxUnhealthy counts them"
    );
    let events = pod_events(None, &s);
    assert_eq!(
        events.iter().map(|e| e.pod.as_str()).collect::<Vec<_>>(),
        ["v-1"],
        "no PodUnhealthy for a pod with no verdict"
    );
    let json = serde_json::to_value(row("v-8")).unwrap();
    assert_eq!(json["notProbed"], "NoPodIP");

    let mut pods = fleet(false);
    pods.push(not_probed("v-7", PodSkip::NotRunning("Pending".into())));
    let s = swept(Some(1), None, pods, t(0), 100);
    let h = condition(&s, "Healthy");
    assert_eq!((h.status.as_str(), h.reason.as_str()), ("False", "PodsNotProbed"));
    assert_eq!(h.message, "3/4 pods healthy; not probed: v-7 (Pending)");
}

#[test]
fn a_pod_not_probed_for_a_while_keeps_its_last_verdict_for_the_events() {
    let with = |bad: bool, skip: Option<PodSkip>| {
        let mut pods = fleet(bad);
        if let Some(skip) = skip {
            pods[1] = not_probed("v-1", skip);
        }
        pods
    };
    // Unhealthy, restarted (terminating, then Pending), back healthy: one recovery.
    let sick = swept(Some(1), None, with(true, None), t(0), 100);
    let leaving = swept(Some(1), Some(&sick), with(true, Some(PodSkip::Terminating)), t(15), 100);
    let pending = swept(
        Some(1),
        Some(&leaving),
        with(true, Some(PodSkip::NotRunning("Pending".into()))),
        t(30),
        100,
    );
    let row = |s: &NodeHealthStatus| s.pods.iter().find(|p| p.name == "v-1").unwrap().unhealthy_since.clone();
    assert_eq!(row(&pending), Some(Time(t(0))), "kept while not probed");
    assert!(pod_events(Some(&sick), &leaving).is_empty());
    assert!(pod_events(Some(&leaving), &pending).is_empty());
    let back = swept(Some(1), Some(&pending), with(false, None), t(45), 100);
    let ev = pod_events(Some(&pending), &back);
    assert_eq!((ev.len(), ev[0].reason), (1, "PodRecovered"));
    // Healthy, rolled (terminating, Pending), healthy again: nothing to say.
    let fine = swept(Some(1), None, with(false, None), t(0), 100);
    let rolling = swept(
        Some(1),
        Some(&fine),
        with(false, Some(PodSkip::Terminating)),
        t(15),
        100,
    );
    let again = swept(Some(1), Some(&rolling), with(false, None), t(30), 100);
    assert!(pod_events(Some(&fine), &rolling).is_empty() && pod_events(Some(&rolling), &again).is_empty());
    // Healthy, then without an IP, then unhealthy: announced once it is probed.
    let fresh = swept(Some(1), Some(&fine), with(false, Some(PodSkip::NoIp)), t(15), 100);
    let syncing = swept(Some(1), Some(&fresh), with(true, None), t(30), 100);
    let ev = pod_events(Some(&fresh), &syncing);
    assert_eq!((ev.len(), ev[0].reason), (1, "PodUnhealthy"));
}

#[test]
fn pod_list_is_capped_counts_stay_exact() {
    let pods: Vec<_> = (0..250)
        .map(|i| pod(&format!("v-{i:03}"), Status::Ready, SyncState::Synced, 1.0))
        .collect();
    let s = swept(Some(1), None, pods, t(0), 100);
    assert_eq!(s.pods.len(), 100);
    assert_eq!(s.ready, "250/250");
}

#[test]
fn healthy_message_is_bounded() {
    let pods: Vec<_> = (0..500)
        .map(|i| {
            pod(
                &format!("validator-{i:04}"),
                Status::NotReady,
                SyncState::OutOfSync,
                0.0,
            )
        })
        .collect();
    let s = swept(Some(1), None, pods, t(0), 100);
    assert!(condition(&s, "Healthy").message.len() <= MAX_MESSAGE);
}

#[test]
fn invalid_spec_stalls_without_losing_the_last_verdict() {
    let before = swept(Some(1), None, fleet(true), t(0), 100);
    let s = invalid(Some(2), Some(&before), &InvalidSpec::EmptySelector, t(30));
    assert_eq!(condition(&s, "Stalled").status, "True");
    assert_eq!(condition(&s, "Stalled").reason, "EmptySelector");
    assert_eq!(condition(&s, "Ready").status, "False");
    assert_eq!(s.observed_generation, Some(2));
    assert_eq!(s.ready, "2/3");
    // Not the stale verdict: nothing is probed while stalled.
    let healthy = condition(&s, "Healthy");
    assert_eq!(
        (healthy.status.as_str(), healthy.reason.as_str()),
        ("Unknown", "EmptySelector")
    );
    assert_eq!((s.worst_status, s.health_factor), (None, None));
}

#[test]
fn reconciling_until_the_new_generation_is_swept() {
    let before = swept(Some(1), None, fleet(false), t(0), 100);
    let r = reconciling(Some(&before), t(10));
    assert_eq!(condition(&r, "Reconciling").status, "True");
    assert_eq!(r.observed_generation, Some(1));
    let after = swept(Some(2), Some(&r), fleet(false), t(12), 100);
    assert_eq!(condition(&after, "Reconciling").status, "False");
}

#[test]
fn figures_alone_wait_for_the_refresh_interval() {
    let refresh = Duration::from_secs(60);
    let a = swept(Some(1), None, fleet(true), t(0), 100);
    let mut moved = fleet(true);
    if let Ok(v) = &mut moved[2].result {
        v.health_factor = Some(0.61);
    }
    let b = swept(Some(1), Some(&a), moved.clone(), t(15), 100);
    assert!(
        !write_due(Some(&a), &b, t(15), refresh),
        "a factor moving within the verdict waits"
    );
    let c = swept(Some(1), Some(&a), moved, t(61), 100);
    assert!(
        write_due(Some(&a), &c, t(61), refresh),
        "and is refreshed after the interval"
    );
    let healed = swept(Some(1), Some(&a), fleet(false), t(16), 100);
    assert!(
        write_due(Some(&a), &healed, t(16), refresh),
        "a verdict change is written at once"
    );
    assert!(write_due(None, &a, t(0), refresh));
    let same = swept(Some(1), Some(&a), fleet(true), t(15), 100);
    let same_again = NodeHealthStatus {
        last_probe_time: a.last_probe_time.clone(),
        ..same
    };
    assert!(!write_due(Some(&a), &same_again, t(15), refresh));
}

#[test]
fn events_on_transitions_only() {
    let a = swept(Some(1), None, fleet(false), t(0), 100);
    assert!(pod_events(Some(&a), &a).is_empty());
    let b = swept(Some(1), Some(&a), fleet(true), t(15), 100);
    let ev = pod_events(Some(&a), &b);
    assert_eq!(ev.len(), 1);
    assert_eq!(
        (ev[0].reason, ev[0].warning, ev[0].pod.as_str()),
        ("PodUnhealthy", true, "v-1")
    );
    assert_eq!(ev[0].note, "v-1 is NotReady (OutOfSync): ledger 10 min behind");
    assert!(pod_events(Some(&b), &b).is_empty());
    let c = swept(Some(1), Some(&b), fleet(false), t(30), 100);
    let ev = pod_events(Some(&b), &c);
    assert_eq!((ev[0].reason, ev[0].warning), ("PodRecovered", false));
}

#[test]
fn an_unverified_recovery_keeps_the_pod_unhealthy_and_announces_nothing() {
    // After a restart of the operator, a stalled node still reporting its last progress rate
    // reads Syncing (healthy) until the operator has watched it: not a recovery.
    let a = swept(Some(1), None, fleet(true), t(0), 100);
    let mut next = fleet(false);
    if let Ok(v) = &mut next[1].result {
        *v = verdict(Status::Affected, SyncState::Syncing, 0.5);
        v.verified = false;
    }
    hold_unverified(&mut next, Some(&a));
    let b = swept(Some(1), Some(&a), next.clone(), t(15), 100);
    let row = b.pods.iter().find(|p| p.name == "v-1").unwrap();
    assert_eq!(row.status, PodStatus::NotReady, "the last verified status stands");
    assert_eq!(row.unhealthy_since, Some(Time(t(0))), "the timer runs on");
    assert!(row.reasons[0].contains("not verified it yet"), "{:?}", row.reasons);
    assert_eq!(b.ready, "2/3");
    assert!(pod_events(Some(&a), &b).is_empty(), "no PodRecovered");
    // A pod that was healthy is not held: unverified and healthy stays healthy.
    let mut fresh = fleet(false);
    if let Ok(v) = &mut fresh[1].result {
        v.verified = false;
    }
    let healthy = swept(Some(1), None, fleet(false), t(0), 100);
    hold_unverified(&mut fresh, Some(&healthy));
    assert!(fresh[1].result.as_ref().unwrap().healthy);
}
