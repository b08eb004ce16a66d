//! Incident bookkeeping: the per-pod records opened, continued and closed from the verdicts,
//! the cordons released when their incidents are over, and the records kept bounded.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::{Act, NodeFacts, Notice, PodFacts, Subject};
use crate::crd::{CordonedNode, PodRemediation, RemediationStatus};

/// Most pod records in `status.remediation.pods` (about 250 bytes each: ~50 KB, against the
/// API server's 1.5 MiB object limit shared with `status.pods`).
pub const MAX_RECORDS: usize = 200;

/// How long ago `t` was.
pub(super) fn since(now: Timestamp, t: &Time) -> Duration {
    // A time in the future (clock step) counts as no time at all: the gate it feeds waits.
    Duration::try_from(now.duration_since(t.0)).unwrap_or(Duration::ZERO)
}

/// Opens, continues and closes incidents from this round's verdicts; forgets what is over.
///
/// A pod that is not there (being recreated, or scaled away) counts as not unhealthy: its
/// incident ends after `healthy_for` unless it comes back unhealthy, as a restarted validator
/// that is still syncing does. Restarts outlive incidents: the budget spans recreations.
pub(super) fn track_incidents(
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
pub(super) fn release_cordons(
    st: &mut RemediationStatus,
    owner: &str,
    paused: bool,
    nodes: &BTreeMap<String, NodeFacts>,
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

/// Open incidents first, oldest first; then restart records by name.
///
/// At most [`MAX_RECORDS`] records are kept, so status stays far below the API server's object
/// size limit when thousands of validators are down together. Records that hold the memory of
/// an action (a ladder step taken, restarts, a revoked cordon) are always kept; beyond them the
/// newest incidents are dropped: they restart their timers later, which only delays an action.
pub(super) fn sort_records(st: &mut RemediationStatus) {
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
