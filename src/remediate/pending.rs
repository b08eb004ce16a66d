//! An action found `Pending` after a restart of the operator: recorded in status (write-ahead)
//! but not known to be carried out. What went through is recorded, the rest finished or
//! abandoned, so it is never decided twice.

use super::conditions::{allowed, guard_block, verdict};
use super::decide::acts_for;
use super::instances::unsettled;
use super::{Act, Block, Decision, Inputs, Notice, Subject};
use crate::crd::{ActionResult, CordonedNode, RemediationRecord, RemediationStatus};

/// An action recorded but not known to be done (the operator stopped mid-way): what went
/// through is recorded, the rest is finished if the policy-wide gates still allow it (and
/// not in dry run), else abandoned with its step taken back.
///
/// Returns whether this round is spent finishing it: `d` is then complete (acts and
/// conditions) and no ladder step is taken.
pub(super) fn finish_pending(input: &Inputs<'_>, policy_block: Option<&(Block, String)>, d: &mut Decision) -> bool {
    let Some(last) = d
        .status
        .last_remediation
        .clone()
        .filter(|l| l.result == ActionResult::Pending)
    else {
        return false;
    };
    let revoked = d.status.pods.iter().any(|r| r.name == last.pod && r.cordon_revoked);
    record_cordon(&mut d.status, &last, input);
    // The eviction went through: that instance is gone or terminating.
    let evicted = last.action.restarts()
        && last
            .uid
            .as_ref()
            .is_some_and(|uid| !input.instances.iter().any(|i| &i.uid == uid && !i.terminating));
    let redo: Vec<Act> = acts_for(&last, input.nodes, revoked)
        .into_iter()
        .filter(|a| !(evicted && matches!(a, Act::Evict { .. })))
        .collect();
    let guard = |uid: &str| {
        let p = input.policy;
        unsettled(
            uid,
            input.instances,
            p.instance_label.as_deref(),
            p.startup_grace,
            input.now,
        )
    };
    let stop = policy_block
        .map(|(_, why)| why.clone())
        .or_else(|| input.policy.dry_run.then(|| "the policy is in dry run now".to_owned()))
        .or_else(|| {
            // Another instance began terminating or starting since the restart was decided.
            redo.iter().find_map(|a| match a {
                Act::Evict { uid, .. } => guard(uid).map(|o| guard_block(&o).1),
                _ => None,
            })
        });
    match (redo.is_empty(), stop) {
        (true, _) => set_result(&mut d.status, ActionResult::Succeeded),
        (false, Some(why)) => abandon(d, &last, evicted, &why),
        (false, None) => {
            d.acts.extend(redo);
            d.conditions = vec![
                allowed(None, &d.status, input.pods.len()),
                verdict(
                    "Remediating",
                    "True",
                    "ActionPending",
                    format!("finishing {}", last.summary),
                ),
            ];
            return true;
        }
    }
    false
}

/// The cordon went through before the stop (the node carries our annotation): record it
/// rather than patch the node again.
fn record_cordon(st: &mut RemediationStatus, last: &RemediationRecord, input: &Inputs<'_>) {
    if let Some(node) = last.node.as_ref().filter(|n| {
        last.action.cordons()
            && input
                .nodes
                .get(*n)
                .is_some_and(|f| f.unschedulable && f.cordoned_by.as_deref() == Some(input.owner))
    }) && !st.cordoned_nodes.iter().any(|c| &c.node == node)
    {
        st.cordoned_nodes.push(CordonedNode {
            node: node.clone(),
            pod: last.pod.clone(),
            since: last.time.clone(),
        });
    }
}

fn set_result(st: &mut RemediationStatus, result: ActionResult) {
    if let Some(l) = st.last_remediation.as_mut() {
        l.result = result;
    }
}

/// Abandons `last` as if it had never been decided: its step (and its restart, unless the
/// eviction landed) is taken back.
fn abandon(d: &mut Decision, last: &RemediationRecord, evicted: bool, why: &str) {
    let st = &mut d.status;
    set_result(st, ActionResult::Abandoned);
    // It was no action: the one before it passed minInterval when this one
    // was decided, so no interval is running now.
    st.last_action_time = None;
    st.actions_taken = st.actions_taken.saturating_sub(1);
    if let Some(r) = st.pods.iter_mut().find(|r| r.name == last.pod) {
        r.step = r.step.saturating_sub(1);
        if last.action.restarts() && !evicted {
            r.restarts.pop();
        }
    }
    d.notices.push(Notice {
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
