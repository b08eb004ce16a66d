//! The workloads behind validator pods, for their ownerReferences: Deployments, ReplicaSets and
//! StatefulSets created as a user and the Deployment controller would. No controller-manager
//! runs here, so they stay as created: the tests stamp the pods themselves
//! ([`super::kubelet::Stamp`]).

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use kube::api::{Api, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

use super::kubelet::controller_ref;

/// The pod template of a workload: `app=validator` (what the policy selects) and its own label.
fn template(own: &Value) -> Value {
    json!({
        "metadata": {"labels": own},
        "spec": {"containers": [{"name": "validator", "image": "nodehealth-sim:test"}]},
    })
}

/// A Deployment `name` of one replica whose pods are labelled `app=validator` and `workload=name`.
pub async fn create_deployment(client: &Client, ns: &str, name: &str) -> Deployment {
    let labels = json!({"app": "validator", "workload": name});
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": template(&labels)},
    }))
    .unwrap();
    Api::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &d)
        .await
        .expect("create Deployment")
}

/// A ReplicaSet `name` of `deployment`, as its controller makes one (or adopts one): controlled
/// by it, its pods labelled `pod-template-hash=hash`.
pub async fn create_replicaset(
    client: &Client,
    ns: &str,
    name: &str,
    hash: &str,
    deployment: &Deployment,
) -> ReplicaSet {
    let owner = controller_ref(
        "apps/v1",
        "Deployment",
        &deployment.name_any(),
        &deployment.uid().unwrap(),
    );
    let labels = json!({"app": "validator", "workload": deployment.name_any(), "pod-template-hash": hash});
    let rs: ReplicaSet = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels, "ownerReferences": [owner]},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": template(&labels)},
    }))
    .unwrap();
    Api::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &rs)
        .await
        .expect("create ReplicaSet")
}

/// A StatefulSet `name` with `podManagementPolicy: Parallel`.
pub async fn create_parallel_statefulset(client: &Client, ns: &str, name: &str) -> StatefulSet {
    let labels = json!({"app": "validator", "workload": name});
    let sts: StatefulSet = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"replicas": 2, "serviceName": name, "podManagementPolicy": "Parallel",
                 "selector": {"matchLabels": labels}, "template": template(&labels)},
    }))
    .unwrap();
    Api::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &sts)
        .await
        .expect("create StatefulSet")
}

/// The ownerReference a workload's controller puts on the pods it makes.
pub fn owns(api_version: &str, kind: &str, owner: &impl ResourceExt) -> Value {
    controller_ref(api_version, kind, &owner.name_any(), &owner.uid().unwrap())
}
