use bytes::Bytes;
use serde_json::json;

use super::*;
use crate::chains::zksync;
use crate::model::{Answer, Status};

const T0: f64 = 1_763_798_400.0;

fn plan(period: f64) -> Plan {
    Plan {
        profile: Profile::Zksync,
        read: Default::default(),
        params: Params::default(),
        period,
        timeout: 3.0,
    }
}

fn pods(n: usize) -> Vec<PodTarget> {
    (0..n)
        .map(|i| PodTarget {
            uid: format!("uid-{i}"),
            name: format!("v-{i}"),
            target: Target {
                requests: vec![(zksync::HEALTH, format!("http://127.0.1.{i}:3081/health"))],
                access: Default::default(),
            },
        })
        .collect()
}

/// A zksync `/health` answer with this application status.
fn scrape(at: f64, status: &str) -> Scrape {
    let body = json!({"status": status, "components": {"api": {"status": status}}}).to_string();
    let code = if status == "ready" { 200 } else { 503 };
    Scrape {
        at,
        answers: vec![(
            zksync::HEALTH,
            Ok(Answer {
                code,
                body: Bytes::from(body),
            }),
        )],
    }
}

/// Runs the schedule from T0 to `until`, completing every probe at once with `status(at)`;
/// returns each probe's (uid, time).
fn run(s: &mut Schedule, until: f64, status: impl Fn(f64) -> &'static str) -> Vec<(String, f64)> {
    let mut probes = Vec::new();
    while let Some(at) = s.next_wake().filter(|w| *w <= until) {
        for job in s.pop_due(at) {
            s.complete(&job, &scrape(at, status(at)), at);
            probes.push((job.uid.clone(), at));
        }
    }
    probes
}

#[test]
fn a_new_pod_is_probed_at_once_then_once_a_period_on_its_phase() {
    let mut s = Schedule::new(10);
    assert!(s.register("ns/nh", plan(15.0), pods(3), T0), "new pods are due now");
    let probes = run(&mut s, T0 + 60.0, |_| "ready");
    for uid in ["uid-0", "uid-1", "uid-2"] {
        let times: Vec<f64> = probes.iter().filter(|(u, _)| u == uid).map(|(_, t)| *t).collect();
        assert_eq!(times[0], T0, "{uid} probed at once");
        let gaps: Vec<f64> = times.windows(2).skip(1).map(|w| w[1] - w[0]).collect();
        assert!(gaps.iter().all(|g| (g - 15.0).abs() < 1e-3), "{uid}: {gaps:?}");
        // Then on its phase: every probe after the first at phase (mod 15).
        let phase = phase(uid, 15.0);
        for t in &times[1..] {
            let off = (t - phase).rem_euclid(15.0);
            assert!(off < 1e-3 || 15.0 - off < 1e-3, "{uid} at {t}: off phase by {off}");
        }
    }
    assert_eq!(
        probes.len(),
        3 * 5,
        "once at registration, then at 4 phase times in 60 s"
    );
}

#[test]
fn phases_spread_a_fleet_over_the_period() {
    let mut buckets = [0u32; 15];
    for i in 0..3000 {
        buckets[phase(&format!("4f2c-{i}-uid"), 15.0) as usize] += 1;
    }
    // 200 a second on average: no second holds more than half again as many.
    assert!(buckets.iter().all(|b| (100..300).contains(b)), "{buckets:?}");
    assert_eq!(phase("a", 15.0), phase("a", 15.0), "stable");
}

#[test]
fn registering_again_adds_no_probe() {
    // A reconcile (after a status write, another pod's change) registers the same pods again.
    let mut s = Schedule::new(10);
    s.register("ns/nh", plan(15.0), pods(2), T0);
    let mut probes = 0;
    let mut t = T0;
    while t < T0 + 60.0 {
        assert!(!s.register("ns/nh", plan(15.0), pods(2), t) || t == T0);
        for job in s.pop_due(t) {
            s.complete(&job, &scrape(t, "ready"), t);
            probes += 1;
        }
        t += 0.5;
    }
    assert_eq!(probes, 2 * 5, "two pods, once at start and four periods");
}

#[test]
fn verdict_changes_are_told_apart_from_figures() {
    let mut s = Schedule::new(0);
    s.register("ns/nh", plan(1.0), pods(1), T0);
    let mut changes = Vec::new();
    let mut t = T0;
    for status in ["ready", "ready", "not_ready", "not_ready", "ready"] {
        t = s.next_wake().unwrap();
        let job = s.pop_due(t).pop().unwrap();
        changes.push(s.complete(&job, &scrape(t, status), t));
    }
    use Change::{Figures, Verdict};
    assert_eq!(
        changes,
        [Verdict, Figures, Verdict, Figures, Verdict],
        "the first verdict counts as a change"
    );
    assert_eq!(s.verdicts("ns/nh")["uid-0"].status, Status::Ready);
    assert!(t > T0);
}

#[test]
fn a_late_probe_does_not_pile_up_probes() {
    let mut s = Schedule::new(0);
    s.register("ns/nh", plan(10.0), pods(1), T0);
    let first = s.pop_due(T0).pop().unwrap();
    s.complete(&first, &scrape(T0, "ready"), T0);
    let due = s.next_wake().unwrap();
    // The machine stalls for 35 s: the probe runs late, once, and the next is a period later.
    let late = s.pop_due(due + 35.0);
    assert_eq!(late.len(), 1);
    s.complete(&late[0], &scrape(due + 35.0, "ready"), due + 35.0);
    let next = s.next_wake().unwrap();
    assert!(next > due + 35.0 && next <= due + 45.0, "next at +{}", next - due);
}

#[test]
fn gone_pods_and_policies_leave_the_schedule_and_their_probes_are_dropped() {
    let mut s = Schedule::new(10);
    s.register("ns/a", plan(15.0), pods(3), T0);
    s.register("ns/b", plan(15.0), pods(1), T0);
    let jobs = s.pop_due(T0);
    assert_eq!(jobs.len(), 4);
    s.register("ns/a", plan(15.0), pods(2), T0);
    s.retain(|k| k != "ns/b");
    assert_eq!(s.len(), 2);
    let changes: Vec<Change> = jobs.iter().map(|j| s.complete(j, &scrape(T0, "ready"), T0)).collect();
    assert_eq!(
        changes.iter().filter(|c| **c == Change::Stale).count(),
        2,
        "{changes:?}"
    );
    assert_eq!(s.verdicts("ns/b").len(), 0);
}

#[test]
fn a_new_period_rephases_every_pod() {
    let mut s = Schedule::new(0);
    s.register("ns/nh", plan(60.0), pods(1), T0);
    let job = s.pop_due(T0).pop().unwrap();
    s.complete(&job, &scrape(T0, "ready"), T0);
    assert!(s.next_wake().unwrap() > T0 + 1.0);
    s.register("ns/nh", plan(1.0), pods(1), T0 + 0.5);
    assert!(s.next_wake().unwrap() <= T0 + 1.5, "within the new period");
}

#[test]
fn the_kept_alive_connections_stay_within_the_budget() {
    let mut s = Schedule::new(3);
    s.register("ns/a", plan(15.0), pods(2), T0);
    s.register("ns/b", plan(15.0), pods(5), T0);
    let pooled = s.pop_due(T0).iter().filter(|j| j.pooled).count();
    assert_eq!(pooled, 3);
    // Pods that go give their share back.
    s.register("ns/a", plan(15.0), Vec::new(), T0);
    s.register("ns/b", plan(15.0), pods(5), T0 + 1.0);
    assert_eq!(s.pooled, 3);
}

#[test]
fn next_due_falls_on_the_phase() {
    assert_eq!(next_due(100.0, 15.0, 5.0), 110.0);
    assert_eq!(next_due(110.0, 15.0, 5.0), 125.0, "strictly after");
    assert_eq!(next_due(104.9, 15.0, 5.0), 110.0);
}
