//! What became of an action, folded back into the records, with its events. Pure.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::{Act, Notice, Subject};
use crate::crd::{ActionResult, CordonedNode, RemediationStatus};

/// The answer of the API server to an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// The pod instance to evict is already gone or replaced (404, or 409 on its UID
    /// precondition): the restart has happened, by us or by someone else.
    AlreadyGone,
    /// Refused by a PodDisruptionBudget (429): retried after `minInterval`, never forced.
    Blocked(String),
    /// Refused for good (a 4xx other than the above): the step is taken back and tried again
    /// after `minInterval`.
    Failed(String),
    /// No answer, or a server error: the action may or may not have happened (the server may
    /// have carried it out and lost the answer). It stays `Pending`, so the next round checks
    /// what went through, as after a restart of the operator, and finishes only the rest.
    Unknown(String),
}

impl Outcome {
    /// The `result` label of `nodehealth_remediations_total`.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Done | Outcome::AlreadyGone => "succeeded",
            Outcome::Blocked(_) => "blocked",
            Outcome::Failed(_) => "failed",
            Outcome::Unknown(_) => "unknown",
        }
    }
}

/// Folds the outcomes of this round's acts into `st`; returns the events to record.
///
/// A restart or cordon that did not happen takes its ladder step (and the restart) back, so
/// it is tried again once `minInterval` has passed; it is never forced.
pub fn record_outcomes(st: &mut RemediationStatus, done: &[(Act, Outcome)], now: Timestamp) -> Vec<Notice> {
    let reason = st
        .last_remediation
        .as_ref()
        .filter(|r| r.result == ActionResult::Pending)
        .map(|r| r.reason.clone())
        .unwrap_or_default();
    let mut notices = Vec::new();
    let mut worst = 0;
    let mut blocked_label = None;
    let mut unconfirmed = false;
    for (act, outcome) in done {
        let ok = matches!(outcome, Outcome::Done | Outcome::AlreadyGone);
        match (act, outcome) {
            (Act::Cordon { node, pod }, _) if ok => {
                if !st.cordoned_nodes.iter().any(|c| &c.node == node) {
                    st.cordoned_nodes.push(CordonedNode {
                        node: node.clone(),
                        pod: pod.clone(),
                        since: Time(now),
                    });
                }
                both(
                    &mut notices,
                    act,
                    Subject::Node(node.clone()),
                    "NodeCordoned",
                    true,
                    format!("cordoned node {node} for {pod}: {reason}"),
                );
            }
            (Act::Uncordon { node }, _) if ok => {
                st.cordoned_nodes.retain(|c| &c.node != node);
                both(
                    &mut notices,
                    act,
                    Subject::Node(node.clone()),
                    "NodeUncordoned",
                    false,
                    format!("uncordoned node {node}: its validators stayed healthy for healthyFor"),
                );
            }
            (Act::Evict { pod, .. }, _) if ok => both(
                &mut notices,
                act,
                Subject::Pod(pod.clone()),
                "PodEvicted",
                true,
                format!("evicted {pod} so that it restarts: {reason}"),
            ),
            (Act::Evict { pod, .. }, Outcome::Blocked(why)) => {
                worst = worst.max(1);
                blocked_label = Some("EvictionBlocked");
                both(
                    &mut notices,
                    act,
                    Subject::Pod(pod.clone()),
                    "EvictionBlocked",
                    true,
                    format!("eviction of {pod} refused, retried after minInterval: {why}"),
                );
            }
            (Act::Cordon { .. } | Act::Evict { .. }, Outcome::Unknown(why)) => {
                unconfirmed = true;
                notices.push(Notice {
                    subject: Subject::NodeHealth,
                    action: act.verb(),
                    reason: "RemediationUnconfirmed",
                    warning: true,
                    note: format!(
                        "{}: no clear answer ({why}); checked next round and finished only if it did not happen",
                        describe(act)
                    ),
                });
            }
            (act, Outcome::Blocked(why) | Outcome::Failed(why) | Outcome::Unknown(why)) => {
                if !matches!(act, Act::Uncordon { .. }) {
                    worst = 2;
                }
                notices.push(Notice {
                    subject: Subject::NodeHealth,
                    action: act.verb(),
                    reason: "RemediationFailed",
                    warning: true,
                    note: format!("{} failed, will retry: {why}", describe(act)),
                });
            }
            _ => {}
        }
    }
    if let Some(r) = st
        .last_remediation
        .as_mut()
        .filter(|r| r.result == ActionResult::Pending && (worst > 0 || !unconfirmed))
    {
        r.result = [ActionResult::Succeeded, ActionResult::Blocked, ActionResult::Failed][worst];
        if worst > 0
            && let Some(p) = st.pods.iter_mut().find(|p| p.name == r.pod)
        {
            p.step = p.step.saturating_sub(1);
            if r.action.restarts() {
                p.restarts.pop();
            }
            p.blocked = Some(blocked_label.unwrap_or("Failed").to_owned());
        }
    }
    notices
}

/// The same event on the NodeHealth and on the node or pod acted on.
fn both(notices: &mut Vec<Notice>, act: &Act, other: Subject, reason: &'static str, warning: bool, note: String) {
    notices.push(Notice {
        subject: Subject::NodeHealth,
        action: act.verb(),
        reason,
        warning,
        note: note.clone(),
    });
    notices.push(Notice {
        subject: other,
        action: act.verb(),
        reason,
        warning,
        note,
    });
}

fn describe(act: &Act) -> String {
    match act {
        Act::Cordon { node, pod } => format!("cordoning node {node} for {pod}"),
        Act::Uncordon { node } => format!("uncordoning node {node}"),
        Act::Evict { pod, .. } => format!("evicting {pod}"),
    }
}
