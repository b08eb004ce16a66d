//! The remediation shell: gathers the facts `remediate::decide` needs (pods, nodes) and
//! carries out its acts on the API server. Every decision is made in `remediate`.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use super::{Context, Error, FIELD_MANAGER, workloads};
use crate::crd::{NodeHealth, NodeHealthStatus, RemediationStatus};
use crate::model::SyncState;
use crate::policy::Policy;
use crate::remediate::{
    self, Act, CORDONED_AT_ANNOTATION, CORDONED_BY_ANNOTATION, Decision, Inputs, NodeFacts, Outcome, PodFacts,
    RemediationPolicy, Verdict,
};
use crate::status::{self, PodOutcome};

/// What remediation needs to know of each selected pod that was probed, and its verdict. A pod
/// that was not (Pending, without an IP yet, terminating, or not declaring the policy's port)
/// is no verdict on a validator: reported in status, but neither an incident nor one of
/// `maxUnhealthy`'s unhealthy pods.
pub(super) fn pod_facts(pods: &[Arc<Pod>], outcomes: &[PodOutcome]) -> Vec<PodFacts> {
    pods.iter()
        .zip(outcomes)
        .filter_map(|(pod, o)| Some((pod, o.result.as_ref().ok()?)))
        .map(|(pod, v)| PodFacts {
            name: pod.name_any(),
            uid: pod.uid().unwrap_or_default(),
            node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
            started: workloads::latest_start(pod),
            skip: pod
                .annotations()
                .get(remediate::SKIP_ANNOTATION)
                .is_some_and(|v| v == "true"),
            // Set by the caller, which knows the other policies.
            remediated_by: None,
            healthy: v.healthy,
            stalled: v.sync_state == SyncState::OutOfSync,
            syncing: v.sync_state == SyncState::Syncing,
            verified: v.verified,
            network: v.network,
            why: format!(
                "{} ({}){}",
                crate::crd::PodStatus::from(v.status),
                v.sync_state,
                v.reasons.first().map(|r| format!(": {r}")).unwrap_or_default()
            ),
        })
        .collect()
}

/// Reads the nodes remediation may touch ([`remediate::nodes_to_read`]).
pub(super) async fn node_facts(
    ctx: &Context,
    policy: &RemediationPolicy,
    facts: &[PodFacts],
    previous: Option<&RemediationStatus>,
) -> Result<BTreeMap<String, NodeFacts>, Error> {
    let api: Api<Node> = Api::all(ctx.client.clone());
    let mut out = BTreeMap::new();
    for name in remediate::nodes_to_read(policy, facts, previous) {
        if let Some(node) = api.get_opt(&name).await.map_err(Error::ReadNodes)? {
            let facts = NodeFacts {
                unschedulable: node.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false),
                cordoned_by: node.annotations().get(CORDONED_BY_ANNOTATION).cloned(),
            };
            out.insert(name, facts);
        }
    }
    Ok(out)
}

/// Carries out one act. Never forces: a refused eviction is reported, not retried as a delete.
pub(super) async fn carry_out(ctx: &Context, ns: &str, owner: &str, act: &Act, now: Timestamp) -> Outcome {
    let outcome = match act {
        Act::Cordon { node, .. } => {
            let patch = json!({
                "metadata": {"annotations": {
                    CORDONED_BY_ANNOTATION: owner,
                    CORDONED_AT_ANNOTATION: now.to_string(),
                }},
                "spec": {"unschedulable": true},
            });
            outcome_of(act, patch_node(ctx, node, &patch).await)
        }
        Act::Uncordon { node } => match uncordon(ctx, node, owner).await {
            Ok(Uncordon::Done) => Outcome::Done,
            // Someone changed the node since it was read: decided again on fresh facts next round.
            Ok(Uncordon::NotOurs | Uncordon::Changed) => Outcome::Failed(format!(
                "node {node} changed since it was read (a person cordoned or uncordoned it?)"
            )),
            Err(e) => outcome_of(act, Err(e)),
        },
        Act::Evict { pod, uid } => outcome_of(act, evict_instance(&ctx.acting, ns, pod, uid).await),
    };
    let action = match act {
        Act::Cordon { .. } => "cordon",
        Act::Uncordon { .. } => "uncordon",
        Act::Evict { .. } => "restart",
    };
    ctx.metrics.observe_remediation(action, outcome.label());
    tracing::info!(?act, ?outcome, "remediation carried out");
    outcome
}

/// What the API server's answer to an act means.
fn outcome_of(act: &Act, result: Result<(), kube::Error>) -> Outcome {
    match result {
        Ok(()) => Outcome::Done,
        Err(kube::Error::Api(s)) if s.code == 429 => Outcome::Blocked(s.message.clone()),
        Err(kube::Error::Api(s)) if matches!(act, Act::Evict { .. }) && (s.code == 404 || s.code == 409) => {
            Outcome::AlreadyGone
        }
        // A refusal is an answer: the server did not act.
        Err(kube::Error::Api(s)) if s.code < 500 => Outcome::Failed(s.message.clone()),
        // A server error or no answer at all: it may have acted before the answer was lost.
        Err(e) => Outcome::Unknown(e.to_string()),
    }
}

/// What became of an uncordon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Uncordon {
    /// Uncordoned, or the node is gone.
    Done,
    /// The node does not carry `owner`'s annotation (any more): not ours to uncordon.
    NotOurs,
    /// The node changed between the read and the patch.
    Changed,
}

/// Uncordons a node only as it was just read: still cordoned with our annotation, unchanged
/// (JSON patch `test` of its resourceVersion), so a person's cordon in between is never undone.
pub(super) async fn uncordon(ctx: &Context, node: &str, owner: &str) -> Result<Uncordon, kube::Error> {
    let api: Api<Node> = Api::all(ctx.acting.clone());
    let Some(current) = api.get_opt(node).await? else {
        return Ok(Uncordon::Done);
    };
    let Some(ops) = uncordon_patch(&current, owner) else {
        return Ok(Uncordon::NotOurs);
    };
    let pp = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    match api.patch(node, &pp, &Patch::<()>::Json(ops)).await {
        Ok(_) => Ok(Uncordon::Done),
        // A failed `test`: the node changed between the read and the patch.
        Err(kube::Error::Api(s)) if s.code == 409 || s.code == 422 || s.code == 500 => Ok(Uncordon::Changed),
        Err(e) => Err(e),
    }
}

/// The JSON patch that uncordons `node` if it is cordoned under `owner`'s annotation, tested
/// against the version read; `None` when it is not (any more) ours to uncordon.
pub(super) fn uncordon_patch(node: &Node, owner: &str) -> Option<json_patch::Patch> {
    let annotations = node.metadata.annotations.as_ref();
    if annotations
        .and_then(|a| a.get(CORDONED_BY_ANNOTATION))
        .map(String::as_str)
        != Some(owner)
    {
        return None;
    }
    let escape = |key: &str| format!("/metadata/annotations/{}", key.replace('~', "~0").replace('/', "~1"));
    let mut ops = vec![
        json!({"op": "test", "path": "/metadata/resourceVersion", "value": node.metadata.resource_version}),
        json!({"op": "test", "path": escape(CORDONED_BY_ANNOTATION), "value": owner}),
        json!({"op": "remove", "path": escape(CORDONED_BY_ANNOTATION)}),
    ];
    if annotations.is_some_and(|a| a.contains_key(CORDONED_AT_ANNOTATION)) {
        ops.push(json!({"op": "remove", "path": escape(CORDONED_AT_ANNOTATION)}));
    }
    if node.spec.as_ref().and_then(|s| s.unschedulable).is_some() {
        ops.push(json!({"op": "remove", "path": "/spec/unschedulable"}));
    }
    serde_json::from_value(serde_json::Value::Array(ops)).ok()
}

async fn patch_node(ctx: &Context, node: &str, patch: &serde_json::Value) -> Result<(), kube::Error> {
    let api: Api<Node> = Api::all(ctx.acting.clone());
    let pp = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    api.patch(node, &pp, &Patch::Merge(patch)).await.map(|_| ())
}

/// Posts an Eviction for exactly this pod instance.
///
/// Written by hand because `Api::evict` of kube 5 serialises the delete options as
/// `delete_options`, which the API server ignores, so it cannot carry the UID precondition
/// that keeps a retried restart from evicting the validator's replacement. Like `Api::evict`,
/// the body has no `apiVersion`: the server reads it in its own preferred version
/// (policy/v1beta1 on 1.20, policy/v1 on newer servers).
pub async fn evict_instance(client: &kube::Client, ns: &str, pod: &str, uid: &str) -> Result<(), kube::Error> {
    let body = json!({
        "metadata": {"name": pod, "namespace": ns},
        "deleteOptions": {"preconditions": {"uid": uid}},
    });
    let url = format!("/api/v1/namespaces/{ns}/pods/{pod}/eviction");
    let data = serde_json::to_vec(&body).map_err(kube::Error::SerdeError)?;
    let req = http::Request::post(url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(data)
        .map_err(kube::Error::HttpError)?;
    client.request::<serde_json::Value>(req).await.map(|_| ())
}

/// Decides this round's remediation, if the policy has any (or records remain to release), on
/// the leader only; folds the records and conditions into `desired`.
#[allow(clippy::too_many_arguments)]
pub(super) async fn plan(
    ctx: &Context,
    nh: &NodeHealth,
    owner: &str,
    policy: &Policy,
    facts: &[PodFacts],
    previous: Option<&NodeHealthStatus>,
    desired: &mut NodeHealthStatus,
    now: Timestamp,
) -> Result<Option<Decision>, Error> {
    let prev = previous.and_then(|p| p.remediation.as_ref());
    let Some(rp) = remediate::applicable(policy.remediation.as_ref(), prev) else {
        return Ok(None);
    };
    if !ctx.leadership.is_leader() {
        return Ok(None);
    }
    if !ctx.settings.remediation {
        // Not granted the permissions: say so once in status, rather than fail every action.
        let records = prev.cloned().unwrap_or_default();
        status::set_remediation(desired, previous, Some(records), &remediate::disabled(), now);
        return Ok(None);
    }
    let nodes = node_facts(ctx, &rp, facts, prev).await?;
    let paused = nh
        .annotations()
        .get(remediate::PAUSED_ANNOTATION)
        .is_some_and(|v| v == "true");
    // Every watched pod of the namespace, selected by this policy or another: an instance of a
    // validator may be selected by either.
    let ns_pods: Vec<Arc<Pod>> = ctx
        .pods
        .state()
        .into_iter()
        .filter(|p| p.metadata.namespace == nh.metadata.namespace)
        .collect();
    let instances = workloads::instances(&ns_pods, &ctx.replicasets, rp.instance_label.as_deref());
    let d = remediate::decide(&Inputs {
        policy: &rp,
        owner,
        paused,
        pods: facts,
        instances: &instances,
        nodes: &nodes,
        previous: prev,
        now,
    });
    for reason in &d.blocked {
        ctx.metrics.observe_remediation_blocked(reason);
    }
    for action in &d.dry_run_actions {
        ctx.metrics.observe_remediation(action, "dry_run");
    }
    let keep = remediate::keeps_records(policy.remediation.is_some(), &d.status);
    status::set_remediation(desired, previous, keep.then(|| d.status.clone()), &d.conditions, now);
    Ok(Some(d))
}

/// Carries out the decided acts (already recorded as pending in the written status) and
/// folds their outcomes into `desired`; returns the events to record.
pub(super) async fn execute(
    ctx: &Context,
    ns: &str,
    owner: &str,
    d: &Decision,
    desired: &mut NodeHealthStatus,
) -> Vec<remediate::Notice> {
    let mut done = Vec::with_capacity(d.acts.len());
    for act in &d.acts {
        // A replica whose leadership lapsed stops here: the acts left stay `Pending` in status
        // for the next leader, which finishes or abandons them by their record.
        if !ctx.leadership.is_leader() {
            tracing::warn!(?act, "leadership lapsed before acting: left to the next leader");
            return Vec::new();
        }
        let outcome = carry_out(ctx, ns, owner, act, Timestamp::now()).await;
        done.push((act.clone(), outcome));
    }
    let mut records = desired.remediation.clone().unwrap_or_default();
    let notices = remediate::record_outcomes(&mut records, &done, Timestamp::now());
    let written = desired.clone();
    let conditions: Vec<Verdict> = d.conditions.clone();
    status::set_remediation(desired, Some(&written), Some(records), &conditions, Timestamp::now());
    notices
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PodVerdict, Status};
    use crate::policy::PodSkip;

    #[test]
    fn only_probed_pods_are_facts_for_remediation() {
        let pod = |name: &str| -> Arc<Pod> {
            Arc::new(
                serde_json::from_value(json!({
                    "metadata": {"name": name, "uid": format!("{name}-uid")},
                    "status": {"startTime": "2024-05-01T10:00:00Z", "containerStatuses": [{
                        "name": "validator", "ready": true, "restartCount": 1, "image": "i", "imageID": "",
                        "state": {"running": {"startedAt": "2024-05-01T11:00:00Z"}}}]},
                }))
                .unwrap(),
            )
        };
        let outcome = |name: &str, result| PodOutcome {
            name: name.into(),
            node: None,
            result,
        };
        let pods = [
            pod("sick"),
            pod("pending"),
            pod("no-ip"),
            pod("leaving"),
            pod("misnamed"),
        ];
        let outcomes = [
            outcome("sick", Ok(PodVerdict::new(Status::NotReady, SyncState::OutOfSync))),
            outcome("pending", Err(PodSkip::NotRunning("Pending".into()))),
            outcome("no-ip", Err(PodSkip::NoIp)),
            outcome("leaving", Err(PodSkip::Terminating)),
            outcome(
                "misnamed",
                Err(PodSkip::PortNotDeclared {
                    port: "health".into(),
                    declared: vec![],
                }),
            ),
        ];
        let facts = pod_facts(&pods, &outcomes);
        assert_eq!(facts.len(), 1, "{facts:?}");
        let f = &facts[0];
        assert_eq!((f.name.as_str(), f.healthy, f.stalled), ("sick", false, true));
        assert_eq!(
            f.started,
            Some("2024-05-01T11:00:00Z".parse().unwrap()),
            "its container's restart in place, not the pod's start"
        );
    }

    fn node(annotations: serde_json::Value, unschedulable: Option<bool>) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": "n", "resourceVersion": "42", "annotations": annotations},
            "spec": {"unschedulable": unschedulable},
        }))
        .unwrap()
    }

    #[test]
    fn uncordon_is_tested_against_the_version_read_and_our_annotation() {
        let ours = node(
            json!({CORDONED_BY_ANNOTATION: "ns/validators", CORDONED_AT_ANNOTATION: "t", "other": "x"}),
            Some(true),
        );
        let patch = serde_json::to_value(uncordon_patch(&ours, "ns/validators").unwrap()).unwrap();
        assert_eq!(
            patch,
            json!([
                {"op": "test", "path": "/metadata/resourceVersion", "value": "42"},
                {"op": "test", "path": "/metadata/annotations/nodehealth.io~1cordoned-by", "value": "ns/validators"},
                {"op": "remove", "path": "/metadata/annotations/nodehealth.io~1cordoned-by"},
                {"op": "remove", "path": "/metadata/annotations/nodehealth.io~1cordoned-at"},
                {"op": "remove", "path": "/spec/unschedulable"},
            ])
        );
        // Another policy's cordon, or a person's (no annotation): not ours to undo.
        assert!(uncordon_patch(&ours, "ns/other").is_none());
        assert!(uncordon_patch(&node(json!({}), Some(true)), "ns/validators").is_none());
        // Already schedulable: only the annotations go, nothing removed that is not there.
        let loose = node(json!({CORDONED_BY_ANNOTATION: "ns/validators"}), None);
        let patch = serde_json::to_value(uncordon_patch(&loose, "ns/validators").unwrap()).unwrap();
        assert_eq!(patch.as_array().unwrap().len(), 3);
    }
}
