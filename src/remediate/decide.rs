//! The decision of one round: incidents updated from the verdicts, gates checked, at most one
//! ladder step taken, cordons we no longer need released.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::{Act, Block, Decision, Inputs, Notice, PodFacts, Subject, Verdict};
use crate::crd::{CordonedNode, PodRemediation, RemediationRecord, RemediationStatus};

/// Most pod records in `status.remediation.pods` (about 250 bytes each: ~50 KB, against the
/// API server's 1.5 MiB object limit shared with `status.pods`).
pub const MAX_RECORDS: usize = 200;

/// Pending: recorded in status, not yet carried out.
pub(super) const PENDING: &str = "Pending";
pub(super) const DRY_RUN: &str = "DryRun";

fn since(now: Timestamp, t: &Time) -> Duration {
    // A time in the future (clock step) counts as no time at all: the gate it feeds waits.
    Duration::try_from(now.duration_since(t.0)).unwrap_or(Duration::ZERO)
}

/// Decides one round. See the module docs for the gates.
pub fn decide(input: &Inputs<'_>) -> Decision {
    let Inputs {
        policy: p,
        owner,
        paused,
        pods,
        nodes,
        previous,
        now,
    } = *input;
    let mut st = previous.cloned().unwrap_or_default();
    let mut notices = Vec::new();
    if previous.is_some() && st.dry_run != p.dry_run {
        // Steps and restarts of the other mode are not this mode's history; real cordons stay
        // recorded so they are still released.
        for r in &mut st.pods {
            r.step = 0;
            r.restarts.clear();
            r.blocked = None;
        }
        st.last_action_time = None;
    }
    st.dry_run = p.dry_run;
    let by_name: BTreeMap<&str, &PodFacts> = pods.iter().map(|f| (f.name.as_str(), f)).collect();
    track_incidents(&mut st, pods, p.healthy_for, p.restart_window, now);

    let mut acts = Vec::new();
    release_cordons(&mut st, owner, paused, nodes, &mut acts, &mut notices);

    let total = pods.len();
    let unhealthy = pods.iter().filter(|f| !f.healthy).count();
    let stalled = pods.iter().filter(|f| f.stalled).count();
    let limit = p.unhealthy_limit(total);
    let policy_block = if paused {
        Some((
            Block::Paused,
            format!("the NodeHealth is annotated {}=true", super::PAUSED_ANNOTATION),
        ))
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
    };

    // An action recorded but not known to be done (the operator stopped mid-way): what went
    // through is recorded, the rest is finished if the policy-wide gates still allow it (and
    // not in dry run), else abandoned with its step taken back.
    if let Some(last) = st.last_remediation.clone().filter(|l| l.result == PENDING) {
        let revoked = st.pods.iter().any(|r| r.name == last.pod && r.cordon_revoked);
        // The cordon went through before the stop (the node carries our annotation): record
        // it rather than patch the node again.
        if let Some(node) = last.node.as_ref().filter(|n| {
            last.action.cordons()
                && nodes
                    .get(*n)
                    .is_some_and(|f| f.unschedulable && f.cordoned_by.as_deref() == Some(owner))
        }) && !st.cordoned_nodes.iter().any(|c| &c.node == node)
        {
            st.cordoned_nodes.push(crate::crd::CordonedNode {
                node: node.clone(),
                pod: last.pod.clone(),
                since: last.time.clone(),
            });
        }
        // The eviction went through: that instance is gone or terminating.
        let evicted = last.action.restarts()
            && last
                .uid
                .as_ref()
                .is_some_and(|uid| !pods.iter().any(|f| &f.uid == uid && !f.terminating));
        let redo: Vec<Act> = acts_for(&last, nodes, revoked)
            .into_iter()
            .filter(|a| !(evicted && matches!(a, Act::Evict { .. })))
            .collect();
        let stop = policy_block.clone().or_else(|| {
            p.dry_run
                .then(|| (Block::Paused, "the policy is in dry run now".to_owned()))
        });
        match (redo.is_empty(), stop) {
            (true, _) => {
                if let Some(l) = st.last_remediation.as_mut() {
                    l.result = "Succeeded".to_owned();
                }
            }
            (false, Some((_, why))) => {
                if let Some(l) = st.last_remediation.as_mut() {
                    l.result = "Abandoned".to_owned();
                }
                // It was no action: the one before it passed minIntervalSeconds when this one
                // was decided, so no interval is running now.
                st.last_action_time = None;
                st.actions_taken = st.actions_taken.saturating_sub(1);
                if let Some(r) = st.pods.iter_mut().find(|r| r.name == last.pod) {
                    r.step = r.step.saturating_sub(1);
                    if last.action.restarts() && !evicted {
                        r.restarts.pop();
                    }
                }
                notices.push(Notice {
                    subject: Subject::NodeHealth,
                    action: "Abandon",
                    reason: "RemediationSkipped",
                    warning: true,
                    note: format!(
                        "abandoning {} (decided before a restart of the operator): {why}",
                        last.summary
                    ),
                });
            }
            (false, None) => {
                acts.extend(redo);
                let conditions = vec![
                    allowed(None, &st),
                    verdict(
                        "Remediating",
                        "True",
                        "ActionPending",
                        format!("finishing {}", last.summary),
                    ),
                ];
                return Decision {
                    status: st,
                    acts,
                    conditions,
                    notices,
                    blocked: Vec::new(),
                    dry_run_actions: Vec::new(),
                };
            }
        }
    }

    let mut blocked = Vec::new();
    let mut dry_run_actions = Vec::new();
    let mut first_block = policy_block.clone();
    let mut acted = false;
    let rate_limited = st
        .last_action_time
        .as_ref()
        .is_some_and(|t| since(now, t) < p.min_interval);
    for i in 0..st.pods.len() {
        let rec = &st.pods[i];
        let (Some(start), Some(pod)) = (rec.unhealthy_since.as_ref(), by_name.get(rec.name.as_str())) else {
            continue;
        };
        if pod.healthy {
            continue;
        }
        let Some(&(action, after)) = p.ladder.get(rec.step as usize) else {
            continue;
        };
        if since(now, start) < after {
            continue;
        }
        let young = pod
            .started
            .is_none_or(|s| Duration::try_from(now.duration_since(s)).unwrap_or(Duration::ZERO) < p.startup_grace);
        let block = policy_block.clone().or_else(|| {
            let b = if pod.skip {
                Block::SkipAnnotation
            } else if young {
                Block::StartupGrace
            } else if action.restarts() && (pod.terminating || pod.sibling_terminating) {
                Block::WaitingForTermination
            } else if acted || rate_limited {
                Block::RateLimited
            } else if action.restarts() && rec.restarts.len() as u32 >= p.max_restarts_per_pod {
                Block::RestartBudgetExhausted
            } else {
                return None;
            };
            Some((b, pod_block_message(b, pod, rec, p)))
        });
        if let Some((b, msg)) = block {
            blocked.push(b.reason());
            if first_block.is_none() && b.is_policy_wide() {
                first_block = Some((b, msg.clone()));
            }
            let rec = &mut st.pods[i];
            if rec.blocked.as_deref() != Some(b.reason()) {
                rec.blocked = Some(b.reason().to_owned());
                notices.push(Notice {
                    subject: Subject::NodeHealth,
                    action: b.reason(),
                    reason: "RemediationSkipped",
                    warning: true,
                    note: format!("not taking step {} ({action}) for {}: {msg}", rec.step + 1, rec.name),
                });
            }
            continue;
        }
        let node = pod.node.clone();
        let cordon_node = node.clone().filter(|n| {
            action.cordons() && !st.pods[i].cordon_revoked && nodes.get(n).is_some_and(|f| !f.unschedulable)
        });
        if cordon_node.is_none() && !action.restarts() {
            // A cordon step whose node is already unschedulable (someone else's cordon) or was
            // uncordoned by a person in this incident: the step is passed, nothing is done,
            // and it is no action (it neither counts nor starts minIntervalSeconds).
            let rec = &mut st.pods[i];
            rec.step += 1;
            rec.blocked = None;
            notices.push(Notice {
                subject: Subject::NodeHealth,
                action: "Cordon",
                reason: "RemediationSkipped",
                warning: false,
                note: format!(
                    "not cordoning node {} for {}: it is already unschedulable, or a person uncordoned it in this incident",
                    node.as_deref().unwrap_or("(none)"),
                    pod.name
                ),
            });
            continue;
        }
        acted = true;
        let summary = format!(
            "{action} {} on {} at {}{}",
            pod.name,
            node.as_deref().unwrap_or("no node"),
            now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            if p.dry_run { " (dry run)" } else { "" }
        );
        let rec = &mut st.pods[i];
        rec.step += 1;
        rec.blocked = None;
        if action.restarts() {
            rec.restarts.push(Time(now));
        }
        let unhealthy_for = since(now, start_of(rec).unwrap_or(&Time(now))).as_secs();
        let reason = format!("unhealthy for {unhealthy_for}s: {}", pod.why);
        st.last_action_time = Some(Time(now));
        st.actions_taken += 1;
        let record = RemediationRecord {
            pod: pod.name.clone(),
            uid: Some(pod.uid.clone()),
            node: node.clone(),
            action,
            time: Time(now),
            reason: reason.clone(),
            result: if p.dry_run { DRY_RUN } else { PENDING }.to_owned(),
            summary,
        };
        if p.dry_run {
            if let Some(n) = &cordon_node {
                dry_run_actions.push("cordon");
                notices.push(Notice {
                    subject: Subject::NodeHealth,
                    action: "Cordon",
                    reason: "WouldCordon",
                    warning: false,
                    note: format!("dry run: would cordon node {n} for {} ({reason})", pod.name),
                });
            }
            if action.restarts() {
                dry_run_actions.push("restart");
                notices.push(Notice {
                    subject: Subject::NodeHealth,
                    action: "Restart",
                    reason: "WouldRestart",
                    warning: false,
                    note: format!("dry run: would restart {} ({reason})", pod.name),
                });
            }
        } else {
            acts.extend(acts_for(&record, nodes, st.pods[i].cordon_revoked));
        }
        st.last_remediation = Some(record);
    }
    sort_records(&mut st);
    let conditions = vec![allowed(first_block, &st), remediating(&st, &acts)];
    Decision {
        status: st,
        acts,
        conditions,
        notices,
        blocked,
        dry_run_actions,
    }
}

fn start_of(rec: &PodRemediation) -> Option<&Time> {
    rec.unhealthy_since.as_ref()
}

/// Opens, continues and closes incidents from this round's verdicts; forgets what is over.
///
/// A pod that is not there (being recreated, or scaled away) counts as not unhealthy: its
/// incident ends after `healthy_for` unless it comes back unhealthy, as a restarted validator
/// that is still syncing does. Restarts outlive incidents: the budget spans recreations.
fn track_incidents(
    st: &mut RemediationStatus,
    pods: &[PodFacts],
    healthy_for: Duration,
    window: Duration,
    now: Timestamp,
) {
    for r in &mut st.pods {
        r.restarts.retain(|t| since(now, t) < window);
    }
    for f in pods {
        if f.healthy && !st.pods.iter().any(|r| r.name == f.name) {
            continue;
        }
        if !st.pods.iter().any(|r| r.name == f.name) {
            st.pods.push(PodRemediation {
                name: f.name.clone(),
                ..PodRemediation::default()
            });
        }
    }
    for r in &mut st.pods {
        let fact = pods.iter().find(|f| f.name == r.name);
        if let Some(f) = fact {
            r.node = f.node.clone();
        }
        if fact.is_some_and(|f| !f.healthy) {
            if r.unhealthy_since.is_none() {
                *r = PodRemediation {
                    name: r.name.clone(),
                    node: r.node.clone(),
                    unhealthy_since: Some(Time(now)),
                    restarts: std::mem::take(&mut r.restarts),
                    ..PodRemediation::default()
                };
            }
            r.healthy_since = None;
        } else if r.unhealthy_since.is_some() {
            let healthy_since = r.healthy_since.get_or_insert(Time(now));
            if since(now, healthy_since) >= healthy_for {
                // Healthy long enough: the incident is over, the ladder starts afresh next time.
                *r = PodRemediation {
                    name: r.name.clone(),
                    node: r.node.clone(),
                    restarts: std::mem::take(&mut r.restarts),
                    ..PodRemediation::default()
                };
            }
        }
    }
    st.pods
        .retain(|r| r.unhealthy_since.is_some() || !r.restarts.is_empty());
}

/// Releases cordons: drops records of nodes a person uncordoned (and does not cordon them
/// again for the incident), and uncordons nodes whose pods' incidents are all over.
fn release_cordons(
    st: &mut RemediationStatus,
    owner: &str,
    paused: bool,
    nodes: &BTreeMap<String, super::NodeFacts>,
    acts: &mut Vec<Act>,
    notices: &mut Vec<Notice>,
) {
    // Pods being recreated are not in `pods`: their record remembers their node. The pod a node
    // was cordoned for keeps it cordoned until its incident is over, wherever it is meanwhile (an
    // unscheduled or moved replacement must not be let back onto it).
    let open_on = |st: &RemediationStatus, c: &CordonedNode| -> Vec<String> {
        st.pods
            .iter()
            .filter(|r| r.unhealthy_since.is_some() && (r.name == c.pod || r.node.as_deref() == Some(c.node.as_str())))
            .map(|r| r.name.clone())
            .collect()
    };
    let mut keep = Vec::new();
    for c in std::mem::take(&mut st.cordoned_nodes) {
        let Some(n) = nodes.get(&c.node) else { continue };
        let open = open_on(st, &c);
        if !n.unschedulable || n.cordoned_by.as_deref() != Some(owner) {
            if !open.is_empty() {
                for r in st.pods.iter_mut().filter(|r| open.contains(&r.name)) {
                    r.cordon_revoked = true;
                }
                notices.push(Notice {
                    subject: Subject::NodeHealth,
                    action: "UncordonedByUser",
                    reason: "RemediationSkipped",
                    warning: false,
                    note: format!(
                        "node {} was uncordoned by someone else: not cordoning it again for this incident",
                        c.node
                    ),
                });
            }
            continue;
        }
        if open.is_empty() && !paused {
            acts.push(Act::Uncordon { node: c.node.clone() });
        }
        keep.push(c);
    }
    st.cordoned_nodes = keep;
}

/// The acts that carry out a record (also used to finish a `Pending` one). A node a person
/// uncordoned in this incident (`revoked`) is not cordoned again.
///
/// A node already unschedulable is not patched: someone else cordoned it (left to them), or
/// we did before a restart of the operator (recorded by the caller).
fn acts_for(r: &RemediationRecord, nodes: &BTreeMap<String, super::NodeFacts>, revoked: bool) -> Vec<Act> {
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

fn pod_block_message(b: Block, pod: &PodFacts, rec: &PodRemediation, p: &super::RemediationPolicy) -> String {
    match b {
        Block::SkipAnnotation => format!("the pod is annotated {}=true", super::SKIP_ANNOTATION),
        Block::StartupGrace => format!(
            "the pod started less than startupGraceSeconds ({}) ago",
            p.startup_grace.as_secs()
        ),
        Block::WaitingForTermination => {
            "an earlier instance of this validator is still terminating: two copies must never run".to_owned()
        }
        Block::RateLimited => format!(
            "another action was taken less than minIntervalSeconds ({}) ago",
            p.min_interval.as_secs()
        ),
        Block::RestartBudgetExhausted => format!(
            "{} restarts within restartWindowSeconds ({}): maxRestartsPerPod reached; it needs a person",
            rec.restarts.len(),
            p.restart_window.as_secs()
        ),
        _ => format!("{} is blocked", pod.name),
    }
}

fn verdict(type_: &'static str, status: &'static str, reason: &'static str, message: String) -> Verdict {
    Verdict {
        type_,
        status,
        reason,
        message,
    }
}

fn allowed(block: Option<(Block, String)>, st: &RemediationStatus) -> Verdict {
    match block {
        Some((b, msg)) => verdict("RemediationAllowed", "False", b.reason(), msg),
        None => verdict(
            "RemediationAllowed",
            "True",
            "Allowed",
            format!("no gate blocks remediation ({} actions so far)", st.actions_taken),
        ),
    }
}

fn remediating(st: &RemediationStatus, acts: &[Act]) -> Verdict {
    if let Some(Act::Uncordon { node }) = acts.first()
        && acts.len() == 1
    {
        return verdict("Remediating", "True", "Acting", format!("uncordoning node {node}"));
    }
    if !acts.is_empty() {
        let what = st.last_remediation.as_ref().map_or("", |r| r.summary.as_str());
        return verdict("Remediating", "True", "Acting", format!("carrying out {what}"));
    }
    let waiting: Vec<&str> = st
        .pods
        .iter()
        .filter(|r| r.unhealthy_since.is_some() && r.step > 0)
        .map(|r| r.name.as_str())
        .collect();
    if !waiting.is_empty() {
        return verdict(
            "Remediating",
            "True",
            "WaitingForRecovery",
            format!("acted for {}: waiting for them to stay healthy", waiting.join(", ")),
        );
    }
    if !st.cordoned_nodes.is_empty() {
        let nodes: Vec<&str> = st.cordoned_nodes.iter().map(|c| c.node.as_str()).collect();
        return verdict(
            "Remediating",
            "True",
            "NodesCordoned",
            format!("cordoned: {}", nodes.join(", ")),
        );
    }
    verdict("Remediating", "False", "Idle", "no action in flight".to_owned())
}

/// Open incidents first, oldest first; then restart records by name.
///
/// At most [`MAX_RECORDS`] records are kept, so status stays far below the API server's object
/// size limit when thousands of validators are down together. Records that hold the memory of
/// an action (a ladder step taken, restarts, a revoked cordon) are always kept; beyond them the
/// newest incidents are dropped: they restart their timers later, which only delays an action.
fn sort_records(st: &mut RemediationStatus) {
    let essential = |r: &PodRemediation| r.step > 0 || !r.restarts.is_empty() || r.cordon_revoked;
    st.pods
        .sort_by_key(|r| (!essential(r), r.unhealthy_since.as_ref().map(|t| t.0), r.name.clone()));
    let keep = st.pods.iter().filter(|r| essential(r)).count().max(MAX_RECORDS);
    st.pods.truncate(keep);
    st.pods.sort_by(|a, b| {
        (
            a.unhealthy_since.is_none(),
            a.unhealthy_since.as_ref().map(|t| t.0),
            &a.name,
        )
            .cmp(&(
                b.unhealthy_since.is_none(),
                b.unhealthy_since.as_ref().map(|t| t.0),
                &b.name,
            ))
    });
}
