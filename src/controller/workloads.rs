//! What the singleton guard needs of the cluster: each watched pod as a remediation
//! [`Instance`] (its workload, readiness, latest start), and the ReplicaSets' owners from a
//! metadata-only watch, so that a rollout's old and new ReplicaSets lead to their one Deployment.
//! The guard itself decides in `remediate::instances`.

use std::sync::Arc;

use futures::{Stream, StreamExt};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store, store::Writer};
use kube::runtime::{WatchStreamExt, reflector, watcher};

use crate::remediate::Instance;
use crate::remediate::instances::{Behind, Owner, workload};

/// The ReplicaSets' metadata: of each only its name, UID and owners are kept.
pub(super) type ReplicaSets = Store<PartialObjectMeta<ReplicaSet>>;

/// The label the Deployment controller puts on its ReplicaSets' pods.
const TEMPLATE_HASH_LABEL: &str = "pod-template-hash";

/// The ReplicaSets' watch feeding `writer`: metadata only (a Deployment keeps ten old
/// ReplicaSets by default; their templates are not needed), and of that only the owners.
/// Nothing is reconciled on its events: the guard reads the store when it decides.
pub(super) fn replicasets(
    api: Api<PartialObjectMeta<ReplicaSet>>,
    writer: Writer<PartialObjectMeta<ReplicaSet>>,
) -> impl Stream<Item = Result<watcher::Event<PartialObjectMeta<ReplicaSet>>, watcher::Error>> + Send {
    let watch = watcher(api, watcher::Config::default()).modify(|rs| {
        let meta = &mut rs.metadata;
        meta.managed_fields = None;
        meta.annotations = None;
        meta.labels = None;
    });
    reflector(writer, watch).default_backoff().boxed()
}

/// Every pod of `pods` as an instance of its validator, by `label_key` (the policy's
/// `instanceLabel`) and its workload.
pub(super) fn instances(pods: &[Arc<Pod>], replicasets: &ReplicaSets, label_key: Option<&str>) -> Vec<Instance> {
    pods.iter()
        .map(|pod| {
            let rs = controller(&pod.metadata.owner_references)
                .filter(|o| o.kind == "ReplicaSet")
                .and_then(|o| {
                    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
                    let rs = replicasets.get(&ObjectRef::new(&o.name).within(ns))?;
                    // Another ReplicaSet of the same name is not the pod's.
                    (rs.metadata.uid.as_deref() == Some(o.uid.as_str())).then_some(rs)
                });
            let above = rs
                .as_ref()
                .map(|rs| controller(&rs.metadata.owner_references).map(owner));
            instance(pod, above.as_ref().map(Option::as_ref), label_key)
        })
        .collect()
}

/// One pod as an instance; `replicaset_owner`: the controller of the pod's ReplicaSet, when
/// that ReplicaSet was read.
fn instance(pod: &Pod, replicaset_owner: Option<Option<&Owner>>, label_key: Option<&str>) -> Instance {
    let meta = &pod.metadata;
    let name = meta.name.clone().unwrap_or_default();
    let labels = meta.labels.as_ref();
    let behind = match replicaset_owner {
        Some(above) => Behind::Read(above),
        None => Behind::Unread {
            template_hash: labels.and_then(|l| l.get(TEMPLATE_HASH_LABEL)).map(String::as_str),
        },
    };
    let owner = controller(&meta.owner_references).map(owner);
    let status = pod.status.as_ref();
    let phase = status.and_then(|s| s.phase.as_deref());
    Instance {
        workload: workload(&name, owner.as_ref(), behind),
        name,
        uid: meta.uid.clone().unwrap_or_default(),
        label: label_key
            .and_then(|k| labels?.get(k))
            .filter(|v| !v.is_empty())
            .cloned(),
        terminating: meta.deletion_timestamp.is_some(),
        finished: matches!(phase, Some("Succeeded" | "Failed")),
        ready: status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True")),
        started: latest_start(pod),
    }
}

/// The latest (re)start of the pod's running containers, else the pod's start
/// (`status.startTime`, else its creation). A container restarted in place (`restartCount`
/// up, `state.running.startedAt` new) moves it; a container waiting to restart does not, so
/// one that keeps crashing does not stay in its grace for ever.
pub(super) fn latest_start(pod: &Pod) -> Option<Timestamp> {
    let status = pod.status.as_ref();
    let pod_start = status
        .and_then(|s| s.start_time.as_ref())
        .or(pod.metadata.creation_timestamp.as_ref())
        .map(|t| t.0);
    let containers = status
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|c| c.state.as_ref()?.running.as_ref()?.started_at.as_ref())
        .map(|t| t.0);
    pod_start.into_iter().chain(containers).max()
}

/// The controlling owner among `ownerReferences` (`controller: true`; there is at most one).
fn controller(refs: &Option<Vec<OwnerReference>>) -> Option<&OwnerReference> {
    refs.as_ref()?.iter().find(|o| o.controller == Some(true))
}

fn owner(o: &OwnerReference) -> Owner {
    Owner {
        kind: o.kind.clone(),
        name: o.name.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remediate::instances::Workload;
    use serde_json::json;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    fn owned_by(kind: &str, name: &str, uid: &str) -> serde_json::Value {
        json!([{"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": uid, "controller": true}])
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_container_restarted_in_place_moves_the_start_and_one_waiting_to_restart_does_not() {
        let started = |statuses: serde_json::Value| {
            latest_start(&pod(json!({
                "metadata": {"name": "v-0", "creationTimestamp": "2024-05-01T09:59:00Z"},
                "status": {"startTime": "2024-05-01T10:00:00Z", "containerStatuses": statuses},
            })))
        };
        let running = |name: &str, at: &str, restarts: u32| {
            json!({"name": name, "ready": true, "restartCount": restarts, "image": "i", "imageID": "",
                   "state": {"running": {"startedAt": at}}})
        };
        assert_eq!(started(json!([])), Some(ts("2024-05-01T10:00:00Z")), "the pod's start");
        assert_eq!(
            started(json!([
                running("validator", "2024-05-01T12:30:00Z", 1),
                running("sidecar", "2024-05-01T10:00:05Z", 0)
            ])),
            Some(ts("2024-05-01T12:30:00Z")),
            "the validator restarted in place"
        );
        let crashing = json!({"name": "validator", "ready": false, "restartCount": 7, "image": "i", "imageID": "",
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "startedAt": "2024-05-01T12:29:00Z", "finishedAt": "2024-05-01T12:29:30Z"}}});
        assert_eq!(
            started(json!([crashing])),
            Some(ts("2024-05-01T10:00:00Z")),
            "waiting to restart"
        );
        let unstarted = pod(json!({"metadata": {"name": "v-0", "creationTimestamp": "2024-05-01T09:59:00Z"}}));
        assert_eq!(
            latest_start(&unstarted),
            Some(ts("2024-05-01T09:59:00Z")),
            "Pending: its creation"
        );
    }

    #[test]
    fn a_pod_reads_as_an_instance_of_its_workload_with_its_label_readiness_and_state() {
        let p = pod(json!({
            "metadata": {"name": "web-5d9c7b8f4-abcde", "uid": "u1", "namespace": "v",
                         "labels": {"pod-template-hash": "5d9c7b8f4", "key": "alice", "empty": ""},
                         "ownerReferences": owned_by("ReplicaSet", "web-5d9c7b8f4", "rs1"),
                         "deletionTimestamp": "2024-05-01T12:00:00Z"},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]},
        }));
        let web = Owner {
            kind: "Deployment".into(),
            name: "web".into(),
        };
        let deployment = Workload::Controller {
            kind: "Deployment".into(),
            name: "web".into(),
        };
        let i = instance(&p, Some(Some(&web)), Some("key"));
        assert_eq!(i.workload, deployment);
        assert_eq!(
            (i.label.as_deref(), i.terminating, i.ready, i.finished),
            (Some("alice"), true, false, false)
        );
        assert_eq!(
            instance(&p, None, Some("empty")).label,
            None,
            "an empty value is no value"
        );
        assert_eq!(
            instance(&p, None, None).workload,
            deployment,
            "not read: by the naming rule"
        );
        let solo = pod(json!({"metadata": {"name": "solo"}, "status": {"phase": "Failed"}}));
        let i = instance(&solo, None, Some("key"));
        assert_eq!(
            (i.workload, i.label, i.finished),
            (Workload::Pod("solo".into()), None, true)
        );
    }

    #[test]
    fn the_replica_sets_owner_comes_from_the_store_only_for_the_same_uid() {
        let (store, mut writer) = kube::runtime::reflector::store::<PartialObjectMeta<ReplicaSet>>();
        let rs: PartialObjectMeta<ReplicaSet> = serde_json::from_value(json!({
            "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
            "metadata": {"name": "web-1", "namespace": "v", "uid": "rs1",
                         "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                                              "name": "web", "uid": "r", "controller": true}]},
        }))
        .unwrap();
        writer.apply_watcher_event(&watcher::Event::Apply(rs));
        let of = |rs_uid: &str| {
            let p = Arc::new(pod(json!({
                "metadata": {"name": "web-1-x", "uid": "p", "namespace": "v",
                             "ownerReferences": owned_by("ReplicaSet", "web-1", rs_uid)},
            })));
            instances(&[p], &store, None).remove(0).workload
        };
        assert_eq!(
            of("rs1"),
            Workload::Controller {
                kind: "Rollout".into(),
                name: "web".into()
            }
        );
        assert_eq!(
            of("rs-other"),
            Workload::Controller {
                kind: "ReplicaSet".into(),
                name: "web-1".into()
            },
            "a ReplicaSet of the same name, not the pod's"
        );
    }
}
