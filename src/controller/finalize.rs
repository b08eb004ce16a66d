//! The finalizer's shell: keeps `nodehealth.io/uncordon` on the NodeHealths that may cordon
//! (as `remediate::release` decides), and when one is deleted uncordons the nodes it cordoned,
//! then lets it go.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};

use super::act::{self, Uncordon};
use super::reconcile::publish;
use super::{Context, Error, FIELD_MANAGER};
use crate::crd::{NodeHealth, NodeHealthStatus};
use crate::remediate::release::{finalizer_patch, nodes_to_release};

/// Adds or removes the finalizer so that the NodeHealth carries it exactly when `wanted`.
/// One patch when it changes, none otherwise.
pub(super) async fn keep(ctx: &Context, nh: &NodeHealth, wanted: bool) -> Result<(), Error> {
    let finalizers = nh.finalizers();
    let Some(patch) = finalizer_patch(nh.metadata.resource_version.as_deref(), finalizers, wanted) else {
        return Ok(());
    };
    // A shape `finalizer_patch` builds (tested there): it always reads as a JSON patch.
    let patch: json_patch::Patch =
        serde_json::from_value(patch).map_err(|e| Error::Finalizer(kube::Error::SerdeError(e)))?;
    let api: Api<NodeHealth> = Api::namespaced(ctx.client.clone(), &nh.namespace().unwrap_or_default());
    let pp = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    api.patch(&nh.name_any(), &pp, &Patch::<()>::Json(patch))
        .await
        .map(|_| ())
        .map_err(Error::Finalizer)
}

/// A NodeHealth being deleted: the leader uncordons every node it cordoned that still carries
/// its annotation (a node a person uncordoned or took over is left alone), says so in events,
/// and removes the finalizer. An uncordon the operator is not allowed to do (it runs without
/// remediation rights now) is reported for a person to do, and does not hold the deletion.
/// `status` is the latest known: the watch's copy may miss a cordon written just before.
pub(super) async fn release(
    ctx: &Context,
    nh: &NodeHealth,
    status: Option<&NodeHealthStatus>,
    owner: &str,
    reference: &ObjectReference,
) -> Result<Action, Error> {
    if !nh
        .finalizers()
        .iter()
        .any(|f| f == crate::remediate::release::FINALIZER)
    {
        return Ok(Action::await_change());
    }
    if !ctx.leadership.is_leader() {
        return Err(Error::NotLeader);
    }
    let remediation = status.and_then(|s| s.remediation.as_ref());
    for node in nodes_to_release(remediation) {
        let (reason, warning, note) = match act::uncordon(ctx, &node, owner).await {
            Ok(Uncordon::Done) => {
                ctx.metrics.observe_remediation("uncordon", "succeeded");
                (
                    "NodeUncordoned",
                    false,
                    format!("uncordoned node {node}: NodeHealth {owner}, which cordoned it, is being deleted"),
                )
            }
            Ok(Uncordon::NotOurs) => (
                "NodeLeftAlone",
                false,
                format!(
                    "left node {node} as it is: it no longer carries NodeHealth {owner}'s cordon (a person uncordoned or took it over)"
                ),
            ),
            // The node changed between the read and the patch: read it again before deciding.
            Ok(Uncordon::Changed) => return Ok(Action::requeue(std::time::Duration::from_secs(1))),
            Err(kube::Error::Api(s)) if s.code == 403 => {
                ctx.metrics.observe_remediation("uncordon", "failed");
                (
                    "UncordonForbidden",
                    true,
                    format!(
                        "cannot uncordon node {node} (the operator runs without remediation rights): run `kubectl uncordon {node}` if its cordon by NodeHealth {owner} is no longer wanted"
                    ),
                )
            }
            Err(e) => return Err(Error::Release(node, e)),
        };
        // About the NodeHealth, as every remediation event: found with the policy's namespace.
        publish(ctx, reference, "Uncordon", reason, warning, note).await;
    }
    keep(ctx, nh, false).await?;
    tracing::info!(nodehealth = owner, at = %Timestamp::now(), "finalizer removed: the NodeHealth can go");
    Ok(Action::await_change())
}
