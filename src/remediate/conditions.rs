//! The conditions a round reports (`RemediationAllowed`, `Remediating`) and the messages of
//! the per-pod gates.

use super::instances::Unsettled;
use super::{Act, Block, PodFacts, RemediationPolicy, Verdict};
use crate::crd::duration::show;
use crate::crd::{PodRemediation, RemediationStatus};

pub(super) fn pod_block_message(b: Block, pod: &PodFacts, rec: &PodRemediation, p: &RemediationPolicy) -> String {
    match b {
        Block::SkipAnnotation => format!("the pod is annotated {}=true", super::SKIP_ANNOTATION),
        Block::StartupGrace => format!(
            "the pod's containers last (re)started less than startupGrace ({}) ago",
            show(p.startup_grace)
        ),
        Block::Unverified => "its verdict rests on what the node says of its progress: the operator has not \
                              watched it long enough to check"
            .to_owned(),
        Block::StillSyncing => "it is still catching up with the network (Syncing): a restart would only lose \
                                its progress"
            .to_owned(),
        Block::RateLimited => format!(
            "another action was taken less than minInterval ({}) ago",
            show(p.min_interval)
        ),
        Block::RestartBudgetExhausted => format!(
            "{} restarts within restartWindow ({}): maxRestartsPerPod reached; it needs a person",
            rec.restarts.len(),
            show(p.restart_window)
        ),
        Block::Overlap => format!(
            "NodeHealth {} remediates it (the oldest NodeHealth with remediation that selects it): this one only \
             observes it",
            pod.remediated_by.as_deref().unwrap_or("(another)")
        ),
        _ => format!("{} is blocked", pod.name),
    }
}

/// The singleton guard's block: another instance of the validator, named, is terminating or
/// starting.
pub(super) fn guard_block(other: &Unsettled) -> (Block, String) {
    let (b, doing) = if other.terminating {
        (Block::WaitingForTermination, "terminating")
    } else {
        (Block::InstanceStarting, "starting")
    };
    let msg = format!(
        "another instance of this validator, {} (same {}), is still {doing}: two copies must never run",
        other.pod, other.same
    );
    (b, msg)
}

pub(super) fn verdict(type_: &'static str, status: &'static str, reason: &'static str, message: String) -> Verdict {
    Verdict {
        type_,
        status,
        reason,
        message,
    }
}

pub(super) fn allowed(block: Option<(Block, String)>, st: &RemediationStatus, selected: usize) -> Verdict {
    let owners = || {
        let mut by: Vec<&str> = st.overlaps.iter().map(|o| o.remediated_by.as_str()).collect();
        by.sort_unstable();
        by.dedup();
        by.join(", ")
    };
    match block {
        Some((b, msg)) => verdict("RemediationAllowed", "False", b.reason(), msg),
        // Every pod is another policy's: this one cannot act at all.
        None if selected > 0 && st.overlaps.len() == selected => verdict(
            "RemediationAllowed",
            "False",
            Block::Overlap.reason(),
            format!(
                "every selected pod is remediated by an older NodeHealth ({}): this one only observes",
                owners()
            ),
        ),
        None if !st.overlaps.is_empty() => verdict(
            "RemediationAllowed",
            "True",
            "Allowed",
            format!(
                "no gate blocks remediation ({} actions so far); {} of {selected} pods are remediated by an older \
                 NodeHealth ({})",
                st.actions_taken,
                st.overlaps.len(),
                owners()
            ),
        ),
        None => verdict(
            "RemediationAllowed",
            "True",
            "Allowed",
            format!("no gate blocks remediation ({} actions so far)", st.actions_taken),
        ),
    }
}

pub(super) fn remediating(st: &RemediationStatus, acts: &[Act]) -> Verdict {
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

/// The conditions of a policy whose operator may not act (`--remediation=false`).
pub fn disabled() -> Vec<Verdict> {
    vec![
        verdict(
            "RemediationAllowed",
            "False",
            "RemediationDisabled",
            "this operator runs with --remediation=false (chart: rbac.remediation=false): it never cordons or restarts"
                .to_owned(),
        ),
        verdict("Remediating", "False", "Idle", "no action in flight".to_owned()),
    ]
}
