//! What the watches pass on: which changes of NodeHealths and pods are worth a reconcile, what
//! is kept of a pod, which policies a pod concerns, and when both watches have listed everything.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use k8s_openapi::api::core::v1::Pod;
use kube::Resource;
use kube::core::DeserializeGuard;
use kube::runtime::watcher;

use crate::crd::NodeHealth;
use crate::model::{ComponentHealth, Status};
use crate::server::OperatorHealth;
use crate::shard::Shard;

/// What of a NodeHealth is worth a reconcile: its spec, and the pause annotation.
pub(super) fn nodehealth_relevance(nh: &DeserializeGuard<NodeHealth>) -> Option<u64> {
    let meta = nh.meta();
    let paused = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(crate::remediate::PAUSED_ANNOTATION));
    Some(hash(&(meta.generation, paused)))
}

/// What of a pod is worth a reconcile of the policies selecting it: where and whether it can
/// be probed, and what remediation reads of it. Status conditions, restarts counts and the like
/// change often and matter to nobody here.
fn pod_relevance(pod: &Pod) -> u64 {
    let meta = &pod.metadata;
    let status = pod.status.as_ref();
    let ports: Vec<(Option<&String>, i32)> = pod
        .spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .flat_map(|c| c.ports.iter().flatten())
        .map(|p| (p.name.as_ref(), p.container_port))
        .collect();
    hash(&(
        &meta.uid,
        &meta.labels,
        meta.deletion_timestamp.is_some(),
        meta.annotations
            .as_ref()
            .and_then(|a| a.get(crate::remediate::SKIP_ANNOTATION)),
        pod.spec.as_ref().and_then(|s| s.node_name.as_ref()),
        ports,
        status.and_then(|s| s.phase.as_ref()),
        status.and_then(|s| s.pod_ip.as_ref()),
    ))
}

/// The pod changes worth a reconcile of the policies selecting the pod: every deletion, and the
/// changes of what [`pod_relevance`] hashes. (kube's `predicate_filter` would drop a deletion
/// whose last state, Terminating, it had already passed on: a policy reconciled in between kept
/// the terminating pod until its next period.)
#[derive(Default)]
pub(super) struct PodChanges {
    seen: HashMap<String, u64>,
}

impl PodChanges {
    pub(super) fn pass(&mut self, ev: watcher::Event<Pod>) -> Option<Pod> {
        match ev {
            watcher::Event::Apply(p) | watcher::Event::InitApply(p) => {
                let h = pod_relevance(&p);
                (self.seen.insert(p.meta().uid.clone().unwrap_or_default(), h) != Some(h)).then_some(p)
            }
            watcher::Event::Delete(p) => {
                self.seen.remove(p.meta().uid.as_deref().unwrap_or_default());
                Some(p)
            }
            // A relist starts afresh: pods deleted while the watch was down got no deletion
            // event, and every pod listed again is worth a look.
            watcher::Event::Init => {
                self.seen.clear();
                None
            }
            watcher::Event::InitDone => None,
        }
    }
}

fn hash(value: &impl std::hash::Hash) -> u64 {
    use std::hash::Hasher;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

/// Drops what the operator never reads of a pod, to keep the store small with thousands of pods.
pub(super) fn strip_pod(pod: &mut Pod) {
    pod.metadata.managed_fields = None;
    if let Some(a) = pod.metadata.annotations.as_mut() {
        a.retain(|k, _| k == crate::remediate::SKIP_ANNOTATION);
    }
    if let Some(spec) = pod.spec.as_mut() {
        spec.volumes = None;
        spec.init_containers = None;
        for c in &mut spec.containers {
            c.env = None;
            c.volume_mounts = None;
            c.command = None;
            c.args = None;
        }
    }
}

#[derive(Clone, Copy)]
pub(super) enum Watch {
    NodeHealths,
    Pods,
    /// The singleton guard's: its errors show, but it is not waited for (the guard reads a
    /// ReplicaSet it has not seen by the Deployment controller's naming).
    ReplicaSets,
}

/// Ready only once both watches have listed everything once. (Counted from the watch events
/// themselves: a second waiter on the controller's store readiness is never woken.)
pub(super) struct SyncGate {
    nodehealths: AtomicBool,
    pods: AtomicBool,
    health: Arc<OperatorHealth>,
}

impl SyncGate {
    pub(super) fn is_synced(&self) -> bool {
        self.nodehealths.load(Ordering::Acquire) && self.pods.load(Ordering::Acquire)
    }

    pub(super) fn new(health: Arc<OperatorHealth>) -> Self {
        SyncGate {
            nodehealths: AtomicBool::new(false),
            pods: AtomicBool::new(false),
            health,
        }
    }

    pub(super) fn seen<K>(&self, ev: &Result<watcher::Event<K>, watcher::Error>, which: Watch) {
        match ev {
            Ok(watcher::Event::InitDone) => {
                let flag = match which {
                    Watch::NodeHealths => Some(&self.nodehealths),
                    Watch::Pods => Some(&self.pods),
                    Watch::ReplicaSets => None,
                };
                if flag.is_none_or(|f| !f.swap(true, Ordering::AcqRel)) {
                    tracing::info!(watch = which.name(), "watch synced");
                }
                if self.is_synced() {
                    for c in crate::server::COMPONENTS {
                        self.health.set(c, ComponentHealth::new(Status::Ready));
                    }
                }
            }
            // A pod list starts over (its selectors changed, or the watch desynced): until it is
            // done the store may lack pods that are selected now.
            Ok(watcher::Event::Init) if matches!(which, Watch::Pods) => {
                self.pods.store(false, Ordering::Release);
            }
            Err(e) => {
                let details = serde_json::json!({"watch": which.name(), "error": e.to_string()});
                self.health
                    .set("kube_api", ComponentHealth::new(Status::Affected).with_details(details));
            }
            // The watch delivers again.
            Ok(_) => self.health.recovered("kube_api"),
        }
    }
}

impl Watch {
    fn name(self) -> &'static str {
        match self {
            Watch::NodeHealths => "nodehealths",
            Watch::Pods => "pods",
            Watch::ReplicaSets => "replicasets",
        }
    }
}

/// Whether a NodeHealth watch event belongs to this shard (by the object's UID). Bookkeeping
/// events (`Init`, `InitDone`) pass.
pub(super) fn in_shard(ev: &watcher::Event<DeserializeGuard<NodeHealth>>, shard: Shard) -> bool {
    match ev {
        watcher::Event::Apply(o) | watcher::Event::InitApply(o) | watcher::Event::Delete(o) => {
            shard.owns(o.meta().uid.as_deref().unwrap_or_default())
        }
        watcher::Event::Init | watcher::Event::InitDone => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(ip: &str, reason: &str) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "v-0", "uid": "u-0", "labels": {"app": "validator"}},
            "spec": {"nodeName": "n-0", "containers": [{"name": "c", "ports": [{"name": "health", "containerPort": 3334}]}]},
            "status": {"phase": "Running", "podIP": ip,
                       "conditions": [{"type": "Ready", "status": "True", "reason": reason}]},
        }))
        .unwrap()
    }

    #[test]
    fn a_deletion_always_passes_even_after_its_terminating_state_did() {
        let mut changes = PodChanges::default();
        let mut terminating = pod("127.0.1.1", "a");
        terminating.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            jiff::Timestamp::UNIX_EPOCH,
        ));
        assert!(changes.pass(watcher::Event::InitApply(pod("127.0.1.1", "a"))).is_some());
        assert!(
            changes.pass(watcher::Event::Apply(pod("127.0.1.1", "b"))).is_none(),
            "a condition's reason"
        );
        assert!(changes.pass(watcher::Event::Apply(terminating.clone())).is_some());
        assert!(
            changes.pass(watcher::Event::Delete(terminating)).is_some(),
            "the deletion itself"
        );
        assert!(
            changes.pass(watcher::Event::Apply(pod("127.0.1.1", "a"))).is_some(),
            "a pod of the same UID is new again"
        );
        assert!(changes.pass(watcher::Event::InitDone).is_none());
    }

    #[test]
    fn only_changes_that_matter_to_a_policy_trigger_a_reconcile() {
        let base = pod_relevance(&pod("127.0.1.1", "a"));
        assert_eq!(base, pod_relevance(&pod("127.0.1.1", "b")), "a condition's reason");
        assert_ne!(base, pod_relevance(&pod("127.0.1.2", "a")), "its IP");
        let mut deleted = pod("127.0.1.1", "a");
        deleted.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            jiff::Timestamp::UNIX_EPOCH,
        ));
        assert_ne!(base, pod_relevance(&deleted), "its deletion");
    }
}
