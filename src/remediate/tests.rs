//! Remediation played round by round over simulated time: each decision's status is fed back as
//! the next round's `previous`, its acts are carried out (or not) and their outcomes recorded.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::{Value, json};

use super::instances::Workload;
use super::*;
use crate::crd::{ActionResult, CordonedNode, PodRemediation, RemediationAction, RemediationRecord};
use crate::model::Network;

const OWNER: &str = "validators/nh";
const M: i64 = 60;

/// `secs` after the first round, 2023-11-14T22:13:20Z.
fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + secs).unwrap()
}

fn t(secs: i64) -> Option<Time> {
    Some(Time(at(secs)))
}

/// Cordon after 5m then RestartPod after 10m, no start-up grace, 5m between actions, healthy for
/// 2m; the fields of `over` replace these.
fn policy(over: Value) -> RemediationPolicy {
    let mut spec = json!({
        "actions": [{"action": "Cordon", "after": "5m"}, {"action": "RestartPod", "after": "10m"}],
        "startupGrace": "0s", "minInterval": "300s", "healthyFor": "2m",
    });
    spec.as_object_mut().unwrap().extend(over.as_object().unwrap().clone());
    validate(&serde_json::from_value(spec).unwrap()).unwrap()
}

/// A ladder of one step after 5m.
fn only(action: &str) -> Value {
    json!({"actions": [{"action": action, "after": "5m"}]})
}

/// A pod started a day before the first round.
fn pod(name: &str, node: &str, healthy: bool) -> PodFacts {
    PodFacts {
        name: name.to_owned(),
        uid: format!("{name}-uid-1"),
        node: Some(node.to_owned()),
        started: Some(at(-86_400)),
        skip: false,
        remediated_by: None,
        healthy,
        stalled: false,
        syncing: false,
        verified: true,
        network: Network::Unknown,
        why: "NotReady (Unreachable): connection refused".to_owned(), // read only when unhealthy
    }
}

/// A probed pod as a Ready instance of a validator of its own.
fn settled(p: &PodFacts) -> Instance {
    Instance {
        name: p.name.clone(),
        uid: p.uid.clone(),
        label: None,
        workload: Workload::Pod(p.name.clone()),
        terminating: false,
        finished: false,
        ready: true,
        started: p.started,
    }
}

/// Another instance of `v-0`'s validator (an earlier or a second copy), started a day ago.
fn other_v0(terminating: bool, ready: bool) -> Instance {
    Instance {
        name: "v-0-other".into(),
        uid: "v-0-other-uid".into(),
        label: None,
        workload: Workload::Pod("v-0".into()),
        terminating,
        finished: false,
        ready,
        started: Some(at(-86_400)),
    }
}

/// `n` pods `v-i` on nodes `n-i`, the first `unhealthy` of them unhealthy.
fn fleet(n: usize, unhealthy: usize) -> Vec<PodFacts> {
    (0..n)
        .map(|i| pod(&format!("v-{i}"), &format!("n-{i}"), i >= unhealthy))
        .collect()
}

fn cordon(node: &str, pod: &str) -> Act {
    let (node, pod) = (node.to_owned(), pod.to_owned());
    Act::Cordon { node, pod }
}

fn evict(pod: &str, uid: &str) -> Act {
    let (pod, uid) = (pod.to_owned(), uid.to_owned());
    Act::Evict { pod, uid }
}

fn uncordon(node: &str) -> Act {
    let node = node.to_owned();
    Act::Uncordon { node }
}

fn cond<'a>(d: &'a Decision, type_: &str) -> (&'a str, &'a str) {
    let v = d.conditions.iter().find(|v| v.type_ == type_).unwrap();
    (v.status, v.reason)
}

fn allowed(d: &Decision) -> (&str, &str) {
    cond(d, "RemediationAllowed")
}

fn remediating(d: &Decision) -> (&str, &str) {
    cond(d, "Remediating")
}

/// Each notice as its reason, prefixed by `node/name ` or `pod/name ` when not on the NodeHealth.
fn events(notices: &[Notice]) -> Vec<String> {
    let who = |s: &Subject| match s {
        Subject::NodeHealth => String::new(),
        Subject::Node(n) => format!("node/{n} "),
        Subject::Pod(p) => format!("pod/{p} "),
    };
    notices.iter().map(|n| who(&n.subject) + n.reason).collect()
}

/// The cluster as the controller sees it, and the records it keeps.
struct World {
    policy: RemediationPolicy,
    pods: Vec<PodFacts>,
    nodes: BTreeMap<String, NodeFacts>,
    status: Option<RemediationStatus>,
    paused: bool,
    now: Timestamp,
    /// Instances besides the probed pods (each of which is a settled instance of its own).
    others: Vec<Instance>,
}

impl World {
    fn new(policy: RemediationPolicy, pods: Vec<PodFacts>) -> World {
        let nodes = pods
            .iter()
            .filter_map(|p| Some((p.node.clone()?, NodeFacts::default())));
        let (nodes, status, now) = (nodes.collect(), None, at(0));
        World {
            policy,
            pods,
            nodes,
            status,
            paused: false,
            now,
            others: Vec::new(),
        }
    }

    /// `v-0` unhealthy on `node-a` from the first round.
    fn one(over: Value) -> World {
        World::new(policy(over), vec![pod("v-0", "node-a", false)])
    }

    fn pod(&mut self, name: &str) -> &mut PodFacts {
        self.pods.iter_mut().find(|p| p.name == name).unwrap()
    }

    fn set_healthy(&mut self, name: &str, healthy: bool) {
        self.pod(name).healthy = healthy;
    }

    fn set_node(&mut self, node: &str, unschedulable: bool, cordoned_by: Option<&str>) {
        let f = self.nodes.entry(node.to_owned()).or_default();
        (f.unschedulable, f.cordoned_by) = (unschedulable, cordoned_by.map(str::to_owned));
    }

    fn status(&self) -> &RemediationStatus {
        self.status.as_ref().unwrap()
    }

    fn record(&self, name: &str) -> &PodRemediation {
        self.status().pods.iter().find(|r| r.name == name).unwrap()
    }

    fn last(&self) -> &RemediationRecord {
        self.status().last_remediation.as_ref().unwrap()
    }

    /// One round `secs` after the first; its acts are left to the caller.
    fn decide(&mut self, secs: i64) -> Decision {
        self.now = at(secs);
        let mut instances: Vec<Instance> = self.pods.iter().map(settled).collect();
        instances.extend(self.others.iter().cloned());
        let d = decide(&Inputs {
            policy: &self.policy,
            owner: OWNER,
            paused: self.paused,
            pods: &self.pods,
            instances: &instances,
            nodes: &self.nodes,
            previous: self.status.as_ref(),
            now: self.now,
        });
        self.status = Some(d.status.clone());
        d
    }

    /// Carries out `acts` with `outcome` as the API server would, and records what came of it.
    fn carry_out(&mut self, acts: &[Act], outcome: Outcome) -> Vec<Notice> {
        for act in acts.iter().filter(|_| outcome == Outcome::Done) {
            match act {
                Act::Cordon { node, .. } => self.set_node(node, true, Some(OWNER)),
                Act::Uncordon { node } => self.set_node(node, false, None),
                Act::Evict { pod, .. } => {
                    let now = self.now;
                    let p = self.pod(pod);
                    (p.uid, p.started) = (format!("{pod}-uid-2"), Some(now));
                }
            }
        }
        let done: Vec<_> = acts.iter().map(|a| (a.clone(), outcome.clone())).collect();
        record_outcomes(self.status.as_mut().unwrap(), &done, self.now)
    }

    /// A round whose acts all succeed (with none, the controller still records that).
    fn round(&mut self, secs: i64) -> Decision {
        let d = self.decide(secs);
        self.carry_out(&d.acts, Outcome::Done);
        d
    }

    /// A round every minute from `from` to `to` minutes, none of which may act.
    fn quiet(&mut self, from: i64, to: i64) {
        for m in from..=to {
            assert_eq!(self.round(m * M).acts, [], "acted at {m}m");
        }
    }

    /// Quiet rounds up to 4m, then the 5m round, its acts left to the caller.
    fn until_5m(&mut self) -> Decision {
        self.quiet(0, 4);
        self.decide(5 * M)
    }

    /// The default ladder's cordon of `node-a` for `v-0`, at 5m.
    fn cordon_at_5m(&mut self) {
        self.quiet(0, 4);
        assert_eq!(self.round(5 * M).acts, [cordon("node-a", "v-0")]);
    }
}

#[test]
fn observe_only_never_acts_and_the_incident_timer_survives_rounds() {
    let mut w = World::one(json!({"actions": []}));
    for m in 0..=120 {
        let d = w.round(m * M);
        assert_eq!((d.acts.len(), d.notices.len(), d.blocked.len()), (0, 0, 0));
        assert_eq!(allowed(&d), ("True", "Allowed"));
        assert_eq!(remediating(&d), ("False", "Idle"));
    }
    assert_eq!(w.record("v-0").unhealthy_since, t(0));
    assert_eq!((w.record("v-0").step, w.status().actions_taken), (0, 0));
}

#[test]
fn ladder_cordons_at_5m_then_evicts_the_same_instance_at_10m() {
    let mut w = World::new(policy(json!({})), fleet(2, 1));
    let d = w.until_5m();
    assert_eq!((d.acts.clone(), w.record("v-0").step), (vec![cordon("n-0", "v-0")], 1));
    let st = w.status();
    assert_eq!((st.actions_taken, st.last_action_time.clone()), (1, t(5 * M)));
    let last = w.last();
    assert_eq!(last.action, RemediationAction::Cordon);
    assert_eq!(last.result, ActionResult::Pending);
    assert_eq!(last.summary, "Cordon v-0 on n-0 at 2023-11-14T22:18:20Z");
    assert!(last.reason.starts_with("unhealthy for 300s: NotReady (Unreachable)"));
    w.carry_out(&d.acts, Outcome::Done);
    w.quiet(6, 9);
    let d = w.decide(10 * M);
    assert_eq!(d.acts, [evict("v-0", "v-0-uid-1")]);
    assert_eq!((w.record("v-0").step, w.status().actions_taken), (2, 2));
    assert_eq!(w.record("v-0").restarts, [Time(at(10 * M))]);
    assert_eq!(w.last().action, RemediationAction::RestartPod);
    w.carry_out(&d.acts, Outcome::Done);
    // The ladder is spent: nothing more while it stays unhealthy, and its node stays cordoned.
    w.quiet(11, 60);
    assert_eq!((w.status().actions_taken, w.status().cordoned_nodes.len()), (2, 1));
}

#[test]
fn one_action_per_round_and_one_step_at_a_time() {
    let mut w = World::new(policy(json!({"maxUnhealthy": 2})), fleet(2, 1));
    w.round(0);
    w.set_healthy("v-1", false);
    w.round(M);
    // Both long overdue (the operator was away): the oldest incident gets its first step only.
    let d = w.round(20 * M);
    assert_eq!(d.acts, [cordon("n-0", "v-0")]);
    assert_eq!(d.blocked, ["RateLimited"]);
    assert_eq!(events(&d.notices), ["RemediationSkipped"]);
    assert_eq!((w.record("v-0").step, w.record("v-1").step), (1, 0));
    w.quiet(21, 24);
    let d = w.round(25 * M);
    assert_eq!(d.acts, [evict("v-0", "v-0-uid-1")]);
    assert_eq!(d.blocked, ["RateLimited"]);
    assert_eq!(w.round(30 * M).acts, [cordon("n-1", "v-1")]);
}

#[test]
fn done_actions_are_recorded_with_events_on_the_nodehealth_and_the_object() {
    let mut w = World::one(only("CordonAndRestart"));
    let d = w.until_5m();
    assert_eq!(d.acts, [cordon("node-a", "v-0"), evict("v-0", "v-0-uid-1")]);
    let notices = w.carry_out(&d.acts, Outcome::Done);
    assert_eq!(events(&notices[..2]), ["NodeCordoned", "node/node-a NodeCordoned"]);
    assert_eq!(events(&notices[2..]), ["PodEvicted", "pod/v-0 PodEvicted"]);
    assert!(notices.iter().all(|n| n.warning && n.note.contains("300s")));
    let actions: Vec<_> = notices.iter().map(|n| n.action).collect();
    assert_eq!(actions, ["Cordon", "Cordon", "Restart", "Restart"]);
    let (node, pod, since) = ("node-a".to_owned(), "v-0".to_owned(), Time(at(5 * M)));
    assert_eq!(w.status().cordoned_nodes, [CordonedNode { node, pod, since }]);
    assert_eq!(w.last().result, ActionResult::Succeeded);
}

#[test]
fn an_eviction_refused_by_a_pdb_is_taken_back_and_retried_after_min_interval() {
    let mut w = World::one(only("RestartPod"));
    let d = w.until_5m();
    let notices = w.carry_out(&d.acts, Outcome::Blocked("disruption budget".into()));
    assert_eq!(events(&notices), ["EvictionBlocked", "pod/v-0 EvictionBlocked"]);
    let r = w.record("v-0");
    assert_eq!((r.step, r.restarts.len()), (0, 0));
    assert_eq!(r.blocked.as_deref(), Some("EvictionBlocked"));
    assert_eq!(w.last().result, ActionResult::Blocked);
    for m in 6..10 {
        assert_eq!(w.round(m * M).blocked, ["RateLimited"], "at {m}m");
    }
    assert_eq!(w.round(10 * M).acts, [evict("v-0", "v-0-uid-1")]);
    assert_eq!((w.record("v-0").step, w.record("v-0").restarts.len()), (1, 1));
}

#[test]
fn a_failed_action_is_reported_taken_back_and_retried() {
    let mut w = World::one(json!({}));
    let d = w.until_5m();
    let notices = w.carry_out(&d.acts, Outcome::Failed("forbidden".into()));
    assert_eq!(events(&notices), ["RemediationFailed"]);
    assert!(notices[0].warning);
    assert_eq!(w.record("v-0").step, 0);
    assert_eq!(w.record("v-0").blocked.as_deref(), Some("Failed"));
    assert_eq!(w.last().result, ActionResult::Failed);
    assert_eq!(w.status().cordoned_nodes, []);
    w.quiet(6, 9);
    assert_eq!(w.round(10 * M).acts, [cordon("node-a", "v-0")]);
}

#[test]
fn a_pending_action_is_finished_after_an_operator_restart_not_decided_again() {
    let mut w = World::one(only("CordonAndRestart"));
    w.until_5m(); // recorded as Pending; the operator cordoned, then died before evicting
    w.set_node("node-a", true, Some(OWNER));
    let before = w.status().clone();
    let d = w.decide(6 * M);
    assert_eq!(d.acts, [evict("v-0", "v-0-uid-1")]); // the cordon is recorded, not patched again
    assert_eq!(d.status.cordoned_nodes[0].since, Time(at(5 * M)));
    assert_eq!(remediating(&d), ("True", "ActionPending"));
    assert_eq!(d.status.actions_taken, 1);
    assert_eq!(d.status.last_remediation, before.last_remediation);
    assert_eq!(d.status.pods, before.pods);
    let notices = w.carry_out(&d.acts, Outcome::AlreadyGone);
    assert_eq!(events(&notices), ["PodEvicted", "pod/v-0 PodEvicted"]);
    assert_eq!(w.last().result, ActionResult::Succeeded);
    w.quiet(7, 30);
}

#[test]
fn a_pending_action_is_abandoned_when_a_gate_closed_meanwhile() {
    let mut w = World::one(only("RestartPod"));
    w.until_5m();
    w.paused = true;
    let d = w.decide(6 * M);
    assert_eq!(d.acts, []);
    assert_eq!(allowed(&d), ("False", "Paused"));
    assert_eq!(w.last().result, ActionResult::Abandoned);
    assert!(
        d.notices
            .iter()
            .any(|n| n.action == "Abandon" && n.note.contains("nodehealth.io/paused"))
    );
    assert_eq!(w.record("v-0").step, 0, "the step is taken back");
    assert!(w.record("v-0").restarts.is_empty(), "the eviction never happened");
    // Unpaused: decided afresh, through every gate again.
    w.paused = false;
    assert_eq!(w.round(7 * M).acts, [evict("v-0", "v-0-uid-1")]);
}

#[test]
fn a_pending_eviction_that_went_through_is_settled_not_repeated() {
    for replaced in [false, true] {
        let mut w = World::one(only("RestartPod"));
        w.until_5m();
        // The eviction landed before the operator stopped: that instance is terminating (not
        // probed, so no verdict on it), or already replaced. Never evict the replacement.
        if replaced {
            w.pod("v-0").uid = "v-0-uid-2".into();
        } else {
            let gone = w.pods.remove(0);
            w.others.push(Instance {
                terminating: true,
                ..settled(&gone)
            });
        }
        let d = w.decide(6 * M);
        assert_eq!(d.acts, []);
        assert_eq!(w.last().result, ActionResult::Succeeded);
        assert_eq!(w.record("v-0").restarts.len(), 1);
    }
}

#[test]
fn a_short_recovery_keeps_the_incident_and_its_ladder_step() {
    let mut w = World::one(json!({}));
    w.cordon_at_5m();
    w.set_healthy("v-0", true);
    w.quiet(6, 7);
    assert_eq!(w.record("v-0").healthy_since, t(6 * M));
    w.set_healthy("v-0", false); // flaps back within healthyFor (2m)
    w.quiet(8, 9);
    assert_eq!(w.record("v-0").unhealthy_since, t(0));
    assert_eq!((w.record("v-0").healthy_since.clone(), w.record("v-0").step), (None, 1));
    // Not laddered from zero again: the restart comes 10m into the first incident.
    assert_eq!(w.round(10 * M).acts, [evict("v-0", "v-0-uid-1")]);
}

#[test]
fn staying_healthy_for_healthy_for_ends_the_incident_uncordons_and_resets_the_ladder() {
    let mut w = World::one(json!({}));
    w.cordon_at_5m();
    w.set_healthy("v-0", true);
    w.quiet(6, 7);
    let d = w.decide(8 * M);
    assert_eq!(d.acts, [uncordon("node-a")]);
    assert_eq!(d.status.pods, []);
    let notices = w.carry_out(&d.acts, Outcome::Done);
    assert_eq!(events(&notices), ["NodeUncordoned", "node/node-a NodeUncordoned"]);
    assert_eq!(w.status().cordoned_nodes, []);
    assert_eq!(remediating(&w.round(9 * M)), ("False", "Idle"));
    w.set_healthy("v-0", false);
    w.quiet(10, 14);
    assert_eq!(w.record("v-0").unhealthy_since, t(10 * M));
    assert_eq!(w.record("v-0").step, 0);
    assert_eq!(w.round(15 * M).acts, [cordon("node-a", "v-0")]);
}

#[test]
fn a_node_stays_cordoned_while_another_incident_is_open_on_it() {
    let pods = vec![pod("v-0", "node-a", false), pod("v-1", "node-a", true)];
    let mut w = World::new(policy(json!({"maxUnhealthy": 2})), pods);
    w.cordon_at_5m();
    w.set_healthy("v-0", true);
    w.set_healthy("v-1", false);
    w.quiet(6, 8);
    assert!(w.status().pods.iter().all(|r| r.name == "v-1")); // v-0's incident is over
    w.set_healthy("v-1", true);
    w.quiet(9, 10);
    assert_eq!(w.round(11 * M).acts, [uncordon("node-a")]);
}

#[test]
fn a_node_stays_cordoned_until_the_pod_it_was_cordoned_for_recovers_elsewhere() {
    let mut w = World::one(only("CordonAndRestart"));
    w.quiet(0, 4);
    let d = w.round(5 * M);
    assert_eq!(d.acts, [cordon("node-a", "v-0"), evict("v-0", "v-0-uid-1")]);
    // Deleted, recreated and waiting for a node, then running elsewhere and still syncing: the
    // replacement must not be let back onto node-a.
    let mut replacement = w.pods.remove(0);
    w.quiet(6, 6);
    replacement.node = None;
    w.pods.push(replacement);
    w.quiet(7, 7);
    w.pod("v-0").node = Some("node-b".into());
    w.set_node("node-b", false, None);
    w.quiet(8, 9);
    w.set_healthy("v-0", true);
    w.quiet(10, 11);
    assert_eq!(w.round(12 * M).acts, [uncordon("node-a")]);
}

#[test]
fn a_node_a_person_uncordoned_is_forgotten_and_not_cordoned_again_for_the_incident() {
    let ladder = json!([{"action": "Cordon", "after": "5m"}, {"action": "CordonAndRestart", "after": "10m"}]);
    let mut w = World::one(json!({ "actions": ladder }));
    w.cordon_at_5m();
    w.set_node("node-a", false, Some(OWNER)); // `kubectl uncordon` leaves our annotation
    let d = w.round(6 * M);
    assert_eq!(d.acts, []);
    assert_eq!(events(&d.notices), ["RemediationSkipped"]);
    assert!(!d.notices[0].warning && d.notices[0].note.contains("node node-a was uncordoned"));
    assert_eq!(d.notices[0].action, "UncordonedByUser");
    assert_eq!(w.status().cordoned_nodes, []);
    assert!(w.record("v-0").cordon_revoked);
    assert_eq!(w.round(7 * M).notices, [], "said once");
    w.quiet(8, 9);
    assert_eq!(w.round(10 * M).acts, [evict("v-0", "v-0-uid-1")]);
}

#[test]
fn a_node_cordoned_by_someone_else_is_neither_cordoned_nor_uncordoned_by_us() {
    let ladder = json!([{"action": "Cordon", "after": "5m"}, {"action": "CordonAndRestart", "after": "10m"}]);
    let mut w = World::one(json!({ "actions": ladder }));
    w.set_node("node-a", true, None);
    w.quiet(0, 4);
    // The cordon step is passed with nothing to do: no action, no record, no rate limit.
    let d = w.decide(5 * M);
    assert_eq!(d.acts, []);
    assert_eq!(events(&d.notices), ["RemediationSkipped"]);
    assert!(
        d.notices[0].note.contains("already unschedulable"),
        "{}",
        d.notices[0].note
    );
    assert_eq!(w.record("v-0").step, 1);
    assert_eq!(w.status().actions_taken, 0);
    assert!(w.status().last_remediation.is_none() && w.status().last_action_time.is_none());
    w.quiet(6, 9);
    assert_eq!(w.round(10 * M).acts, [evict("v-0", "v-0-uid-1")]);
    w.set_healthy("v-0", true);
    w.quiet(11, 20);
    assert_eq!(w.status().cordoned_nodes, []);
}

#[test]
fn startup_grace_blocks_a_young_pod_and_says_so_once() {
    let mut w = World::one(json!({"startupGrace": "600s"}));
    w.pod("v-0").started = Some(at(0));
    let d = w.until_5m();
    assert_eq!(d.blocked, ["StartupGrace"]);
    assert_eq!(events(&d.notices), ["RemediationSkipped"]);
    assert!(d.notices[0].warning && d.notices[0].note.contains("startupGrace (10m)"));
    assert_eq!(d.notices[0].action, "StartupGrace"); // its own event series
    assert_eq!(w.record("v-0").blocked.as_deref(), Some("StartupGrace"));
    assert_eq!(allowed(&d), ("True", "Allowed")); // one pod's grace does not stop the rest
    for m in 6..10 {
        let d = w.round(m * M);
        assert_eq!((d.acts.len(), d.blocked, d.notices.len()), (0, vec!["StartupGrace"], 0));
    }
    assert_eq!(w.round(10 * M).acts, [cordon("node-a", "v-0")]);
    assert_eq!(w.record("v-0").blocked, None);
}

#[test]
fn too_many_unhealthy_pods_block_every_action() {
    let mut w = World::new(policy(json!({"maxUnhealthy": 1})), fleet(5, 2));
    let d = w.round(0);
    assert_eq!(allowed(&d), ("False", "TooManyUnhealthy"));
    assert!(d.conditions[0].message.starts_with("2/5 pods are unhealthy"));
    w.quiet(1, 4);
    assert_eq!(w.round(5 * M).blocked, ["TooManyUnhealthy"; 2]);
    w.set_healthy("v-1", true);
    assert_eq!(w.round(6 * M).acts, [cordon("n-0", "v-0")]);
}

#[test]
fn max_unhealthy_percentages_round_down() {
    let reason = |over: Value, total: usize, unhealthy: usize| {
        let d = World::new(policy(over), fleet(total, unhealthy)).decide(0);
        allowed(&d).1.to_owned()
    };
    assert_eq!(reason(json!({"maxUnhealthy": "20%"}), 4, 1), "TooManyUnhealthy"); // 0.8 -> 0
    assert_eq!(reason(json!({"maxUnhealthy": "39%"}), 5, 1), "Allowed"); // 1.95 -> 1
    assert_eq!(reason(json!({"maxUnhealthy": "39%"}), 5, 2), "TooManyUnhealthy");
}

#[test]
fn a_majority_stalled_together_is_the_network_and_wins_over_too_many_unhealthy() {
    let mut pods = fleet(3, 2);
    (pods[0].stalled, pods[1].stalled) = (true, true);
    let d = World::new(policy(json!({"maxUnhealthy": 1})), pods).until_5m();
    assert_eq!(allowed(&d), ("False", "NetworkStalled"));
    assert_eq!(d.blocked, ["NetworkStalled"; 2]);
    assert!(d.conditions[0].message.starts_with("2/3 validators are out of sync"));
    // One stalled pod out of one or two is no majority of at least two: it is acted on.
    for total in [1, 2] {
        let mut pods = fleet(total, 1);
        pods[0].stalled = true;
        assert_eq!(
            World::new(policy(json!({})), pods).until_5m().acts,
            [cordon("n-0", "v-0")]
        );
    }
}

#[test]
fn a_single_validator_during_a_chain_halt_is_left_alone() {
    // Before: the network guard was a majority vote of at least two pods, so a policy of one
    // validator was cordoned and restarted during a halt. Now the validator's own signals count:
    // "A non-progressing `rn_sync_target_proposer_timestamp_epoch_second` and
    // `rn_sync_target_state_version` are strong indicators of the Network's liveness problems".
    let mut w = World::one(json!({}));
    let p = w.pod("v-0");
    (p.stalled, p.network) = (true, Network::Stalled);
    let d = w.until_5m();
    assert_eq!(allowed(&d), ("False", "NetworkStalled"));
    assert!(
        d.conditions[0]
            .message
            .starts_with("the network is not live: 1 of 1 validators")
    );
    w.quiet(6, 30);
    assert_eq!(w.status().actions_taken, 0);
    // One validator that keeps up proves the network live: the one cut off is its own problem.
    let mut pods = fleet(2, 1);
    pods[0].network = Network::Stalled;
    pods[1].network = Network::Live;
    let d = World::new(policy(json!({})), pods).until_5m();
    assert_eq!(d.acts, [cordon("n-0", "v-0")]);
}

#[test]
fn a_validator_still_catching_up_is_cordoned_but_never_restarted() {
    let mut w = World::one(json!({}));
    w.pod("v-0").syncing = true;
    w.cordon_at_5m();
    w.quiet(6, 9);
    let d = w.round(10 * M);
    assert_eq!(d.blocked, ["StillSyncing"]);
    assert_eq!(w.record("v-0").blocked.as_deref(), Some("StillSyncing"));
    assert!(
        d.notices[0].note.contains("still catching up with the network"),
        "{:?}",
        d.notices
    );
    assert_eq!(allowed(&d), ("True", "Allowed"), "a per-pod gate");
    w.quiet(11, 60);
    // It stops progressing: now the restart goes ahead.
    w.pod("v-0").syncing = false;
    assert_eq!(w.round(61 * M).acts, [evict("v-0", "v-0-uid-1")]);
}

#[test]
fn an_unverified_verdict_lets_no_action_through() {
    let mut w = World::one(json!({}));
    w.pod("v-0").verified = false;
    let d = w.until_5m();
    assert_eq!((d.acts.len(), d.blocked), (0, vec!["Unverified"]));
    w.quiet(6, 7);
    w.pod("v-0").verified = true;
    assert_eq!(w.round(8 * M).acts, [cordon("node-a", "v-0")]);
}

#[test]
fn a_paused_nodehealth_does_nothing_not_even_uncordon() {
    let mut w = World::one(json!({}));
    w.paused = true;
    let d = w.until_5m();
    assert_eq!(allowed(&d), ("False", "Paused"));
    assert_eq!(d.blocked, ["Paused"]);
    assert_eq!(events(&d.notices), ["RemediationSkipped"]);
    w.quiet(6, 30);
    assert_eq!((w.status().actions_taken, w.record("v-0").step), (0, 0));
    // Paused after a cordon: the node stays cordoned past the incident, until unpaused.
    w.paused = false;
    assert_eq!(w.round(31 * M).acts, [cordon("node-a", "v-0")]);
    (w.paused, w.pod("v-0").healthy) = (true, true);
    w.quiet(32, 40);
    assert_eq!(remediating(&w.round(41 * M)), ("True", "NodesCordoned"));
    w.paused = false;
    assert_eq!(w.round(42 * M).acts, [uncordon("node-a")]);
}

#[test]
fn the_skip_annotation_exempts_only_that_pod() {
    let mut w = World::new(policy(json!({"maxUnhealthy": 2})), fleet(2, 2));
    w.pod("v-0").skip = true;
    let d = w.until_5m();
    assert_eq!(d.acts, [cordon("n-1", "v-1")]);
    assert_eq!(d.blocked, ["SkipAnnotation"]);
    assert_eq!(w.record("v-0").blocked.as_deref(), Some("SkipAnnotation"));
    assert_eq!(allowed(&d), ("True", "Allowed"));
}

#[test]
fn a_restart_waits_while_another_instance_is_terminating_or_starting_but_a_cordon_does_not() {
    for (terminating, ready, reason) in [
        (true, true, "WaitingForTermination"),
        (false, false, "InstanceStarting"),
    ] {
        let mut w = World::one(json!({}));
        w.others.push(other_v0(terminating, ready));
        w.cordon_at_5m();
        w.quiet(6, 9);
        let d = w.round(10 * M);
        assert_eq!((d.acts.len(), d.blocked.clone()), (0, vec![reason]));
        assert_eq!(d.notices[0].action, reason);
        let doing = if terminating { "terminating" } else { "starting" };
        assert!(
            d.notices[0].note.contains(&format!(
                "another instance of this validator, v-0-other (same pod v-0), is still {doing}"
            )),
            "{}",
            d.notices[0].note
        );
        assert_eq!(w.record("v-0").blocked.as_deref(), Some(reason));
        assert_eq!(
            allowed(&d),
            ("True", "Allowed"),
            "one validator's guard does not stop the rest"
        );
        w.others.clear();
        assert_eq!(w.round(11 * M).acts, [evict("v-0", "v-0-uid-1")]);
    }
}

#[test]
fn a_pending_restart_is_abandoned_when_another_instance_began_starting_meanwhile() {
    let mut w = World::one(only("RestartPod"));
    w.until_5m(); // recorded as Pending; the operator stopped before evicting
    w.others.push(other_v0(false, false));
    let d = w.decide(6 * M);
    assert_eq!(d.acts, []);
    assert_eq!(w.last().result, ActionResult::Abandoned);
    assert!(
        d.notices
            .iter()
            .any(|n| n.action == "Abandon" && n.note.contains("v-0-other (same pod v-0), is still starting"))
    );
    assert!(w.record("v-0").restarts.is_empty(), "the eviction never happened");
    assert_eq!(w.round(7 * M).blocked, ["InstanceStarting"]);
}

#[test]
fn min_interval_spaces_actions_out() {
    let ladder = json!([{"action": "Cordon", "after": "5m"}, {"action": "RestartPod", "after": "6m"}]);
    let mut w = World::one(json!({ "actions": ladder }));
    w.cordon_at_5m();
    let d = w.round(6 * M);
    assert_eq!(d.blocked, ["RateLimited"]);
    assert_eq!(events(&d.notices), ["RemediationSkipped"]);
    assert_eq!(allowed(&d), ("False", "RateLimited"));
    assert!(d.conditions[0].message.contains("minInterval (5m)"));
    w.quiet(7, 9);
    assert_eq!(w.round(10 * M).acts, [evict("v-0", "v-0-uid-1")]);
}

#[test]
fn the_restart_budget_spans_incidents_within_the_restart_window() {
    let ladder = json!([{"action": "RestartPod", "after": "1m"}]);
    let mut w = World::one(json!({"actions": ladder, "minInterval": "60s", "healthyFor": "1m",
        "maxRestartsPerPod": 1, "restartWindow": "3600s"}));
    w.round(0);
    assert_eq!(w.round(M).acts, [evict("v-0", "v-0-uid-1")]);
    w.set_healthy("v-0", true);
    w.quiet(2, 3);
    assert_eq!(w.record("v-0").unhealthy_since, None); // the incident is over
    assert_eq!(w.record("v-0").restarts, [Time(at(M))]);
    w.set_healthy("v-0", false);
    w.quiet(4, 4);
    let d = w.round(5 * M);
    assert_eq!(d.blocked, ["RestartBudgetExhausted"]);
    assert_eq!(allowed(&d), ("False", "RestartBudgetExhausted"));
    assert!(d.notices[0].note.contains("restartWindow (1h)"));
    w.quiet(6, 60);
    // The restart at 1m leaves the window at 61m.
    assert_eq!(w.round(61 * M).acts, [evict("v-0", "v-0-uid-2")]);
}

#[test]
fn dry_run_says_what_it_would_do_and_switching_it_off_starts_the_ladder_afresh() {
    let mut w = World::one(json!({"dryRun": true}));
    let d = w.until_5m();
    assert_eq!((d.acts.len(), d.dry_run_actions.clone()), (0, vec!["cordon"]));
    assert_eq!(events(&d.notices), ["WouldCordon"]);
    assert!(d.notices[0].note.contains("would cordon node node-a for v-0"));
    assert_eq!(w.last().result, ActionResult::DryRun);
    assert!(w.last().summary.ends_with("(dry run)"));
    assert_eq!(remediating(&d), ("True", "WaitingForRecovery"));
    w.quiet(6, 9);
    let d = w.round(10 * M);
    assert_eq!((d.acts.len(), d.dry_run_actions.clone()), (0, vec!["restart"]));
    assert_eq!(events(&d.notices), ["WouldRestart"]);
    assert_eq!((w.status().dry_run, w.status().actions_taken), (true, 2));
    assert_eq!((w.record("v-0").step, w.record("v-0").restarts.len()), (2, 1));
    w.quiet(11, 12);
    // For real now: the 13m-old incident starts the ladder from its first step, at once.
    w.policy = policy(json!({}));
    assert_eq!(w.round(13 * M).acts, [cordon("node-a", "v-0")]);
    assert_eq!((w.record("v-0").step, w.record("v-0").restarts.len()), (1, 0));
    assert!(!w.status().dry_run);
    assert_eq!(w.status().actions_taken, 3); // it counts dry-run actions and is not reset
    w.quiet(14, 17);
    assert_eq!(w.round(18 * M).acts, [evict("v-0", "v-0-uid-1")]);
}

#[test]
fn conditions_follow_an_incident_from_allowed_to_waiting_to_idle() {
    let mut w = World::new(policy(json!({})), fleet(1, 0));
    let idle = |d: Decision| assert_eq!((allowed(&d), remediating(&d)), (("True", "Allowed"), ("False", "Idle")));
    idle(w.round(0));
    w.set_healthy("v-0", false);
    idle(w.round(M)); // an incident, no action yet
    w.quiet(2, 5);
    assert_eq!(remediating(&w.round(6 * M)), ("True", "Acting"));
    for m in 7..=11 {
        assert_eq!(remediating(&w.round(m * M)), ("True", "WaitingForRecovery"), "at {m}m");
        w.set_healthy("v-0", m >= 9);
    }
    let d = w.round(12 * M);
    assert_eq!(d.acts, [uncordon("n-0")]);
    assert_eq!(remediating(&d), ("True", "Acting"));
    idle(w.round(13 * M));
}

#[test]
fn a_vanished_pod_counts_as_recovering_and_keeps_its_restarts() {
    let spec = json!({"actions": [{"action": "RestartPod", "after": "5m"}], "maxUnhealthy": 2});
    let mut w = World::new(policy(spec), fleet(2, 2));
    w.quiet(0, 4);
    assert_eq!(w.round(5 * M).acts, [evict("v-0", "v-0-uid-1")]);
    let gone = std::mem::take(&mut w.pods);
    w.quiet(6, 7); // being recreated: not over yet, and nothing is decided for absent pods
    assert_eq!(
        (w.record("v-0").unhealthy_since.clone(), w.record("v-0").step),
        (t(0), 1)
    );
    w.pods = gone.clone(); // back and still syncing: the same incident
    w.round(8 * M);
    assert_eq!(w.record("v-0").healthy_since, None);
    w.pods.clear();
    w.quiet(9, 11); // gone for healthyFor: the incidents are over, v-0's restart stays
    let node = Some("n-0".to_owned());
    let kept = PodRemediation {
        name: "v-0".into(),
        node,
        restarts: vec![Time(at(5 * M))],
        ..Default::default()
    };
    assert_eq!(w.status().pods, [kept]);
    w.pods = gone; // recreated, unhealthy: new incidents, v-0's budget still spent by one
    w.round(12 * M);
    for (name, restarts) in [("v-0", 1), ("v-1", 0)] {
        let r = w.record(name);
        assert_eq!((r.unhealthy_since.clone(), r.restarts.len()), (t(12 * M), restarts));
    }
}

#[test]
fn records_stay_bounded_when_thousands_are_down_but_action_memory_is_kept() {
    use crate::crd::PodRemediation;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    let p = super::policy::validate(
        &serde_json::from_value(json!({"actions": [{"action": "RestartPod", "after": "5m"}]})).unwrap(),
    )
    .unwrap();
    let pods: Vec<PodFacts> = (0..1000)
        .map(|i| PodFacts {
            name: format!("v-{i:04}"),
            uid: format!("u-{i}"),
            node: Some("node-a".into()),
            started: Some(jiff::Timestamp::UNIX_EPOCH),
            skip: false,
            remediated_by: None,
            healthy: false,
            stalled: false,
            syncing: false,
            verified: true,
            network: Network::Unknown,
            why: "not_ready".into(),
        })
        .collect();
    // One pod (last by name, newest incident) already has a restart on record.
    let now = jiff::Timestamp::from_second(1_000_000).unwrap();
    let previous = crate::crd::RemediationStatus {
        pods: vec![PodRemediation {
            name: "v-0999".into(),
            unhealthy_since: Some(Time(now)),
            restarts: vec![Time(now)],
            ..PodRemediation::default()
        }],
        ..Default::default()
    };
    let nodes = std::collections::BTreeMap::new();
    let d = super::decide(&super::Inputs {
        policy: &p,
        owner: "ns/nh",
        paused: false,
        pods: &pods,
        instances: &pods.iter().map(settled).collect::<Vec<_>>(),
        nodes: &nodes,
        previous: Some(&previous),
        now,
    });
    assert_eq!(d.status.pods.len(), super::MAX_RECORDS);
    assert!(
        d.status
            .pods
            .iter()
            .any(|r| r.name == "v-0999" && r.restarts.len() == 1)
    );
    let bytes = serde_json::to_vec(&d.status).unwrap().len();
    assert!(bytes < 100_000, "{bytes} bytes of remediation status");
}

#[test]
fn records_of_an_earlier_spec_are_released_observe_only() {
    let spec = policy(json!({}));
    assert!(matches!(applicable(Some(&spec), None), Some(std::borrow::Cow::Borrowed(p)) if *p == spec));
    assert!(
        applicable(None, None).is_none(),
        "no spec, no records: nothing to decide"
    );
    let left = RemediationStatus::default();
    let rp = applicable(None, Some(&left)).expect("records left: decide to release them");
    assert_eq!(*rp, RemediationPolicy::observe_only());
}

#[test]
fn records_stay_written_while_asked_for_or_a_node_is_still_cordoned() {
    let mut records = RemediationStatus::default();
    assert!(keeps_records(true, &records));
    assert!(
        !keeps_records(false, &records),
        "nothing left to release: status.remediation goes"
    );
    records.cordoned_nodes.push(CordonedNode {
        node: "n1".into(),
        pod: "v-0".into(),
        since: Time(at(0)),
    });
    assert!(
        keeps_records(false, &records),
        "the cordon's release must stay on record"
    );
}

#[test]
fn a_pod_an_older_policy_remediates_is_only_observed_and_the_overlap_is_told_once() {
    let mut w = World::new(
        policy(only("Cordon")),
        vec![pod("v-0", "n-0", false), pod("v-1", "n-1", true)],
    );
    w.pod("v-0").remediated_by = Some("ns/older".into());
    let d = w.round(0);
    assert_eq!(events(&d.notices), ["Overlap"]);
    assert!(d.notices[0].note.contains("v-0 (by ns/older)"), "{}", d.notices[0].note);
    assert_eq!(w.status().overlaps.len(), 1);
    let d = w.round(600);
    assert!(d.acts.is_empty(), "never acts on another policy's pod: {:?}", d.acts);
    assert_eq!(w.record("v-0").blocked.as_deref(), Some("Overlap"));
    assert_eq!(
        events(&d.notices),
        ["RemediationSkipped"],
        "the overlap itself is not told again"
    );
    assert!(
        d.notices[0].note.contains("NodeHealth ns/older remediates it"),
        "{}",
        d.notices[0].note
    );
    let v = d.conditions.iter().find(|v| v.type_ == "RemediationAllowed").unwrap();
    assert_eq!((v.status, v.reason), ("True", "Allowed"), "v-1 is still this one's");
    assert!(
        v.message
            .contains("1 of 2 pods are remediated by an older NodeHealth (ns/older)"),
        "{}",
        v.message
    );

    // Every pod another's: remediation is not allowed at all, and says why.
    w.pod("v-1").remediated_by = Some("ns/older".into());
    let d = w.round(660);
    assert_eq!(allowed(&d), ("False", "Overlap"));
    assert_eq!(events(&d.notices), ["Overlap"], "the list changed");

    // The older policy is gone: this one takes over the incident it kept tracking.
    w.pod("v-0").remediated_by = None;
    w.pod("v-1").remediated_by = None;
    let d = w.round(720);
    assert_eq!(d.acts, [cordon("n-0", "v-0")]);
    assert!(w.status().overlaps.is_empty());
}

#[test]
fn pods_another_policy_remediates_still_count_in_this_ones_gates() {
    // 2 of 3 out of sync, both remediated elsewhere: the network looks stalled to this policy
    // too, so it does not act on its own pod.
    let mut pods = fleet(3, 3);
    for f in &mut pods {
        f.stalled = true;
    }
    let mut w = World::new(policy(only("RestartPod")), pods);
    w.pod("v-0").remediated_by = Some("ns/older".into());
    w.pod("v-1").remediated_by = Some("ns/older".into());
    let d = w.round(600);
    assert!(d.acts.is_empty());
    assert_eq!(allowed(&d), ("False", "NetworkStalled"));
}

#[test]
fn a_cordon_whose_answer_was_lost_is_recorded_and_released_never_repeated() {
    let mut w = World::one(only("Cordon"));
    w.round(0);
    let d = w.decide(300);
    assert_eq!(d.acts, [cordon("node-a", "v-0")]);
    // The server cordoned the node; the operator heard an error.
    w.set_node("node-a", true, Some(OWNER));
    w.carry_out(&d.acts, Outcome::Failed("connection reset".into()));
    assert!(w.status().cordoned_nodes.is_empty(), "it believes nothing happened");
    let d = w.round(301 + 300);
    assert!(d.acts.is_empty(), "never cordoned twice: {:?}", d.acts);
    assert_eq!(w.status().cordoned_nodes.len(), 1, "the cordon is on record now");
    assert!(
        events(&d.notices).contains(&"CordonRecorded".to_owned()),
        "{:?}",
        events(&d.notices)
    );
    w.set_healthy("v-0", true);
    w.round(700);
    let d = w.round(900);
    assert_eq!(d.acts, [uncordon("node-a")], "released like any other");
}

#[test]
fn an_eviction_whose_answer_was_lost_stays_pending_and_is_counted_once_it_shows() {
    let mut w = World::one(only("RestartPod"));
    w.round(0);
    let d = w.decide(300);
    assert_eq!(d.acts, [evict("v-0", "v-0-uid-1")]);
    // The server evicted it; the operator heard a 500.
    let p = w.pod("v-0");
    (p.uid, p.started) = ("v-0-uid-2".into(), Some(at(300)));
    let done = [(d.acts[0].clone(), Outcome::Unknown("500 Internal Server Error".into()))];
    let notices = record_outcomes(w.status.as_mut().unwrap(), &done, at(300));
    assert_eq!(events(&notices), ["RemediationUnconfirmed"]);
    assert_eq!(w.last().result, ActionResult::Pending, "not known either way");
    assert_eq!(w.record("v-0").restarts.len(), 1, "the restart still counts");
    // Next round: the instance is gone, so it happened; nothing is evicted again.
    let d = w.round(301);
    assert!(d.acts.is_empty(), "{:?}", d.acts);
    assert_eq!(w.last().result, ActionResult::Succeeded);
    assert_eq!(w.record("v-0").restarts.len(), 1);
}

#[test]
fn an_eviction_with_no_answer_that_did_not_happen_is_asked_again_for_the_same_instance() {
    let mut w = World::one(only("RestartPod"));
    w.round(0);
    let d = w.decide(300);
    let done = [(d.acts[0].clone(), Outcome::Unknown("connection reset".into()))];
    record_outcomes(w.status.as_mut().unwrap(), &done, at(300));
    let d = w.decide(301);
    assert_eq!(
        d.acts,
        [evict("v-0", "v-0-uid-1")],
        "the same UID: never its replacement"
    );
}
