//! The decision of one round: incidents updated from the verdicts, gates checked, at most one
//! ladder step taken, cordons we no longer need released.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::conditions::{allowed, guard_block, pod_block_message, remediating};
use super::instances::{unsettled, within_grace};
use super::pending::finish_pending;
use super::records::{release_cordons, since, sort_records, track_incidents};
use super::{Act, Block, Decision, Inputs, NodeFacts, Notice, PodFacts, RemediationPolicy, Subject};
use crate::crd::{
    ActionResult, CordonedNode, Overlap, PodRemediation, RemediationAction, RemediationRecord, RemediationStatus,
};
use crate::model::Network;

/// Decides one round. See the module docs for the gates.
pub fn decide(input: &Inputs<'_>) -> Decision {
    let Inputs {
        policy: p, pods, now, ..
    } = *input;
    let mut d = Decision {
        status: carried_over(input.previous, p.dry_run),
        acts: Vec::new(),
        conditions: Vec::new(),
        notices: Vec::new(),
        blocked: Vec::new(),
        dry_run_actions: Vec::new(),
    };
    track_incidents(&mut d.status, pods, p.healthy_for, p.restart_window, now);
    note_overlaps(&mut d, pods);
    release_cordons(
        &mut d.status,
        input.owner,
        input.paused,
        input.nodes,
        &mut d.acts,
        &mut d.notices,
    );
    let policy_block = policy_block(input);
    if finish_pending(input, policy_block.as_ref(), &mut d) {
        return d;
    }
    let mut gates = Gates {
        rate_limited: d
            .status
            .last_action_time
            .as_ref()
            .is_some_and(|t| since(now, t) < p.min_interval),
        acted: false,
        first: policy_block.clone(),
        policy: policy_block,
    };
    let by_name: BTreeMap<&str, &PodFacts> = pods.iter().map(|f| (f.name.as_str(), f)).collect();
    for i in 0..d.status.pods.len() {
        if let Some((pod, action)) = due(&d.status.pods[i], &by_name, p, now) {
            step(input, &mut d, i, pod, action, &mut gates);
        }
    }
    sort_records(&mut d.status);
    d.conditions = vec![
        allowed(gates.first, &d.status, pods.len()),
        remediating(&d.status, &d.acts),
    ];
    d
}

/// Lists the pods another NodeHealth remediates, with an `Overlap` event when that list changes.
fn note_overlaps(d: &mut Decision, pods: &[PodFacts]) {
    let overlaps: Vec<Overlap> = pods
        .iter()
        .filter_map(|f| {
            Some(Overlap {
                pod: f.name.clone(),
                remediated_by: f.remediated_by.clone()?,
            })
        })
        .collect();
    if !overlaps.is_empty() && overlaps != d.status.overlaps {
        let list: Vec<String> = overlaps
            .iter()
            .map(|o| format!("{} (by {})", o.pod, o.remediated_by))
            .collect();
        d.notices.push(Notice {
            subject: Subject::NodeHealth,
            action: "Overlap",
            reason: "Overlap",
            warning: true,
            note: format!(
                "another NodeHealth selects these pods with remediation and is older, so it remediates them and this \
                 one only observes them: {}",
                list.join(", ")
            ),
        });
    }
    d.status.overlaps = overlaps;
}

/// The records of the last round, in this round's mode (dry run or not).
fn carried_over(previous: Option<&RemediationStatus>, dry_run: bool) -> RemediationStatus {
    let mut st = previous.cloned().unwrap_or_default();
    if previous.is_some() && st.dry_run != dry_run {
        // Steps and restarts of the other mode are not this mode's history; real cordons stay
        // recorded so they are still released.
        for r in &mut st.pods {
            r.step = 0;
            r.restarts.clear();
            r.blocked = None;
        }
        st.last_action_time = None;
    }
    st.dry_run = dry_run;
    st
}

/// The gate that stops every step this round (rules 1 to 3 of the module docs), with its message.
fn policy_block(input: &Inputs<'_>) -> Option<(Block, String)> {
    let pods = input.pods;
    let total = pods.len();
    let unhealthy = pods.iter().filter(|f| !f.healthy).count();
    let stalled = pods.iter().filter(|f| f.stalled).count();
    let limit = input.policy.unhealthy_limit(total);
    if input.paused {
        Some((
            Block::Paused,
            format!("the NodeHealth is annotated {}=true", super::PAUSED_ANNOTATION),
        ))
    } else if let Some(why) = halted(pods) {
        Some((Block::NetworkStalled, why))
    } else if total >= 2 && stalled * 2 > total {
        Some((
            Block::NetworkStalled,
            format!("{stalled}/{total} validators are out of sync together: probably the network, not the nodes"),
        ))
    } else if unhealthy > limit {
        Some((
            Block::TooManyUnhealthy,
            format!("{unhealthy}/{total} pods are unhealthy, more than maxUnhealthy allows ({limit})"),
        ))
    } else {
        None
    }
}

/// Whether the validators' own signals say the network is not live: one shows it stalled and
/// none shows it live (a validator cut off from a live network is its own problem; one that
/// keeps up with it proves it live).
fn halted(pods: &[PodFacts]) -> Option<String> {
    if pods.iter().any(|f| f.network == Network::Live) {
        return None;
    }
    let stalled: Vec<&str> = pods
        .iter()
        .filter(|f| f.network == Network::Stalled)
        .map(|f| f.name.as_str())
        .collect();
    let first = stalled.first()?;
    Some(format!(
        "the network is not live: {} of {} validators see its head not moving ({first}{}) and none sees it          progress",
        stalled.len(),
        pods.len(),
        if stalled.len() > 1 { ", …" } else { "" }
    ))
}

/// The gates of this round's steps, and what they stopped.
struct Gates {
    /// The policy-wide gate: it blocks every step.
    policy: Option<(Block, String)>,
    /// The last action was less than `minInterval` ago.
    rate_limited: bool,
    /// A step of this round was an action: the other steps wait for the next interval.
    acted: bool,
    /// The first policy-wide gate that blocked a step: it sets `RemediationAllowed`.
    first: Option<(Block, String)>,
}

/// The pod and the action of `rec`'s next ladder step, if it is due: the pod is there and
/// unhealthy, and its incident has lasted the step's `after`.
fn due<'a>(
    rec: &PodRemediation,
    by_name: &BTreeMap<&str, &'a PodFacts>,
    p: &RemediationPolicy,
    now: Timestamp,
) -> Option<(&'a PodFacts, RemediationAction)> {
    let start = rec.unhealthy_since.as_ref()?;
    let pod = *by_name.get(rec.name.as_str())?;
    let &(action, after) = p.ladder.get(rec.step as usize)?;
    (!pod.healthy && since(now, start) >= after).then_some((pod, action))
}

/// Takes the due step of record `i` for `pod`, unless a gate blocks it: an action (in dry run,
/// only told of), or a cordon step passed over.
fn step(input: &Inputs<'_>, d: &mut Decision, i: usize, pod: &PodFacts, action: RemediationAction, gates: &mut Gates) {
    if let Some(block) = gate(input, &d.status.pods[i], pod, action, gates) {
        note_block(d, i, action, block, gates);
        return;
    }
    if action.cordons() {
        adopt_lost_cordon(input, d, pod);
    }
    let cordon_node = pod.node.clone().filter(|n| {
        action.cordons() && !d.status.pods[i].cordon_revoked && input.nodes.get(n).is_some_and(|f| !f.unschedulable)
    });
    if cordon_node.is_none() && !action.restarts() {
        pass_cordon(d, i, pod);
        return;
    }
    gates.acted = true;
    act(input, d, i, pod, action, cordon_node.as_deref());
}

/// What blocks this step, with its message: the policy-wide gate, else the first of the pod's.
fn gate(
    input: &Inputs<'_>,
    rec: &PodRemediation,
    pod: &PodFacts,
    action: RemediationAction,
    gates: &Gates,
) -> Option<(Block, String)> {
    if let Some(block) = &gates.policy {
        return Some(block.clone());
    }
    let p = input.policy;
    let young = within_grace(pod.started, p.startup_grace, input.now);
    let other = action
        .restarts()
        .then(|| {
            let key = p.instance_label.as_deref();
            unsettled(&pod.uid, input.instances, key, p.startup_grace, input.now)
        })
        .flatten();
    let b = if pod.remediated_by.is_some() {
        Block::Overlap
    } else if pod.skip {
        Block::SkipAnnotation
    } else if young {
        Block::StartupGrace
    } else if !pod.verified {
        Block::Unverified
    } else if action.restarts() && pod.syncing {
        Block::StillSyncing
    } else if let Some(other) = &other {
        return Some(guard_block(other));
    } else if gates.acted || gates.rate_limited {
        Block::RateLimited
    } else if action.restarts() && rec.restarts.len() as u32 >= p.max_restarts_per_pod {
        Block::RestartBudgetExhausted
    } else {
        return None;
    };
    Some((b, pod_block_message(b, pod, rec, p)))
}

/// Counts a blocked step. Its event is recorded only when the gate changes (the record
/// remembers it), not every round the step waits.
fn note_block(d: &mut Decision, i: usize, action: RemediationAction, (b, msg): (Block, String), gates: &mut Gates) {
    d.blocked.push(b.reason());
    if gates.first.is_none() && b.is_policy_wide() {
        gates.first = Some((b, msg.clone()));
    }
    let rec = &mut d.status.pods[i];
    if rec.blocked.as_deref() != Some(b.reason()) {
        rec.blocked = Some(b.reason().to_owned());
        d.notices.push(Notice {
            subject: Subject::NodeHealth,
            action: b.reason(),
            reason: "RemediationSkipped",
            warning: true,
            note: format!("not taking step {} ({action}) for {}: {msg}", rec.step + 1, rec.name),
        });
    }
}

/// A node cordoned with this NodeHealth's annotation but missing from its records: a cordon
/// whose answer was lost (the API server carried it out, the operator heard an error). It is
/// recorded now, so it is released like any other, and never cordoned a second time.
fn adopt_lost_cordon(input: &Inputs<'_>, d: &mut Decision, pod: &PodFacts) {
    let Some(node) = pod.node.as_deref() else { return };
    let ours = input
        .nodes
        .get(node)
        .is_some_and(|f| f.unschedulable && f.cordoned_by.as_deref() == Some(input.owner));
    if !ours || d.status.cordoned_nodes.iter().any(|c| c.node == node) {
        return;
    }
    d.status.cordoned_nodes.push(CordonedNode {
        node: node.to_owned(),
        pod: pod.name.clone(),
        since: Time(input.now),
    });
    d.notices.push(Notice {
        subject: Subject::NodeHealth,
        action: "Cordon",
        reason: "CordonRecorded",
        warning: false,
        note: format!(
            "node {node} carries this NodeHealth's cordon without a record (the answer to the cordon was \
             lost): recorded, to be released once {} is healthy",
            pod.name
        ),
    });
}

/// A cordon step whose node is already unschedulable (someone else's cordon) or was
/// uncordoned by a person in this incident: the step is passed, nothing is done,
/// and it is no action (it neither counts nor starts minInterval).
fn pass_cordon(d: &mut Decision, i: usize, pod: &PodFacts) {
    let rec = &mut d.status.pods[i];
    rec.step += 1;
    rec.blocked = None;
    d.notices.push(Notice {
        subject: Subject::NodeHealth,
        action: "Cordon",
        reason: "RemediationSkipped",
        warning: false,
        note: format!(
            "not cordoning node {} for {}: it is already unschedulable, or a person uncordoned it in this incident",
            pod.node.as_deref().unwrap_or("(none)"),
            pod.name
        ),
    });
}

/// Takes the step as an action: recorded (`Pending`, or `DryRun`) before it is carried out,
/// or in dry run only told of.
fn act(
    input: &Inputs<'_>,
    d: &mut Decision,
    i: usize,
    pod: &PodFacts,
    action: RemediationAction,
    cordon_node: Option<&str>,
) {
    let (p, now) = (input.policy, input.now);
    let summary = format!(
        "{action} {} on {} at {}{}",
        pod.name,
        pod.node.as_deref().unwrap_or("no node"),
        now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        if p.dry_run { " (dry run)" } else { "" }
    );
    let rec = &mut d.status.pods[i];
    rec.step += 1;
    rec.blocked = None;
    if action.restarts() {
        rec.restarts.push(Time(now));
    }
    let unhealthy_for = since(now, rec.unhealthy_since.as_ref().unwrap_or(&Time(now))).as_secs();
    let reason = format!("unhealthy for {unhealthy_for}s: {}", pod.why);
    d.status.last_action_time = Some(Time(now));
    d.status.actions_taken += 1;
    let record = RemediationRecord {
        pod: pod.name.clone(),
        uid: Some(pod.uid.clone()),
        node: pod.node.clone(),
        action,
        time: Time(now),
        reason: reason.clone(),
        result: if p.dry_run {
            ActionResult::DryRun
        } else {
            ActionResult::Pending
        },
        summary,
    };
    if p.dry_run {
        tell_dry_run(d, pod, action, cordon_node, &reason);
    } else {
        d.acts
            .extend(acts_for(&record, input.nodes, d.status.pods[i].cordon_revoked));
    }
    d.status.last_remediation = Some(record);
}

/// The events and metric labels of what dry run would have done.
fn tell_dry_run(d: &mut Decision, pod: &PodFacts, action: RemediationAction, cordon_node: Option<&str>, reason: &str) {
    if let Some(n) = cordon_node {
        d.dry_run_actions.push("cordon");
        d.notices.push(Notice {
            subject: Subject::NodeHealth,
            action: "Cordon",
            reason: "WouldCordon",
            warning: false,
            note: format!("dry run: would cordon node {n} for {} ({reason})", pod.name),
        });
    }
    if action.restarts() {
        d.dry_run_actions.push("restart");
        d.notices.push(Notice {
            subject: Subject::NodeHealth,
            action: "Restart",
            reason: "WouldRestart",
            warning: false,
            note: format!("dry run: would restart {} ({reason})", pod.name),
        });
    }
}

/// The acts that carry out a record (also used to finish a `Pending` one). A node a person
/// uncordoned in this incident (`revoked`) is not cordoned again.
///
/// A node already unschedulable is not patched: someone else cordoned it (left to them), or
/// we did before a restart of the operator (recorded by the caller).
pub(super) fn acts_for(r: &RemediationRecord, nodes: &BTreeMap<String, NodeFacts>, revoked: bool) -> Vec<Act> {
    let mut out = Vec::new();
    if r.action.cordons()
        && !revoked
        && let Some(node) = &r.node
        && nodes.get(node).is_some_and(|f| !f.unschedulable)
    {
        out.push(Act::Cordon {
            node: node.clone(),
            pod: r.pod.clone(),
        });
    }
    if r.action.restarts()
        && let Some(uid) = &r.uid
    {
        out.push(Act::Evict {
            pod: r.pod.clone(),
            uid: uid.clone(),
        });
    }
    out
}
