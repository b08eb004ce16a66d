//! The local control plane (scripts/cluster.sh) and one fresh namespace per test.

use std::future::Future;
use std::path::PathBuf;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use futures::FutureExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, ServiceAccount};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config, ResourceExt};
use serde_json::json;
use tokio::sync::OnceCell;

/// Label put on cluster-scoped objects (nodes) a test creates, so they go with its namespace.
pub const TEST_NS_LABEL: &str = "test.nodehealth.io/namespace";

static KUBECONFIG: OnceCell<PathBuf> = OnceCell::const_new();

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Brings the control plane up (or finds it up: `up` is idempotent and serialised by a lock)
/// and returns the kubeconfig it wrote.
async fn kubeconfig_path() -> PathBuf {
    KUBECONFIG
        .get_or_init(|| async {
            let script = repo().join("scripts/cluster.sh");
            let status = Command::new("bash")
                .arg(&script)
                .arg("up")
                .status()
                .expect("run scripts/cluster.sh up");
            assert!(
                status.success(),
                "scripts/cluster.sh up failed: the control plane is not available"
            );
            let out = Command::new("bash")
                .arg(&script)
                .arg("env")
                .output()
                .expect("run scripts/cluster.sh env");
            let text = String::from_utf8_lossy(&out.stdout);
            let line = text
                .lines()
                .find_map(|l| l.strip_prefix("export KUBECONFIG="))
                .expect("scripts/cluster.sh env prints KUBECONFIG");
            PathBuf::from(line.trim())
        })
        .await
        .clone()
}

/// The kubeconfig of the local control plane (admin identity).
pub async fn kubeconfig() -> PathBuf {
    kubeconfig_path().await
}

/// An admin client of the local control plane.
pub async fn admin_client() -> Client {
    client_of(&kubeconfig_path().await).await
}

/// A client with the identity and server of a kubeconfig file.
pub async fn client_of(path: &std::path::Path) -> Client {
    nodehealth::install_crypto_provider();
    let kc = Kubeconfig::read_from(path).expect("read kubeconfig");
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig");
    Client::try_from(config).expect("client")
}

/// A name unique across parallel test processes.
pub fn unique_suffix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{:x}{:04x}", std::process::id() % 0xffff, nanos % 0xffff)
}

/// Runs `body` in a fresh namespace (with the `default` ServiceAccount pods need, since no
/// controller-manager creates it), then deletes everything the test made, even when it panics.
pub async fn with_temp_ns<F, Fut>(prefix: &str, body: F)
where
    F: FnOnce(Client, String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    with_temp_ns_of(admin_client().await, prefix, body).await;
}

/// As [`with_temp_ns`], on the API server of `client` (a test's own control plane).
pub async fn with_temp_ns_of<F, Fut>(client: Client, prefix: &str, body: F)
where
    F: FnOnce(Client, String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let prefix: String = prefix
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(40)
        .collect();
    let ns = format!("{}-{}", prefix.to_lowercase(), unique_suffix());
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap(),
        )
        .await
        .expect("create test namespace");
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
    sas.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "default"}})).unwrap(),
    )
    .await
    .expect("create default ServiceAccount");
    let outcome = tokio::spawn(body(client.clone(), ns.clone())).await;
    cleanup(&client, &ns).await;
    if let Err(e) = outcome {
        if e.is_panic() {
            std::panic::resume_unwind(e.into_panic());
        }
        panic!("test task failed: {e}");
    }
}

/// Deletes the test's nodes and pods and the namespace. With no controller-manager, nobody
/// empties a terminating namespace or removes its `kubernetes` finalizer: do both here.
async fn cleanup(client: &Client, ns: &str) {
    let nodes: Api<Node> = Api::all(client.clone());
    let sel = ListParams::default().labels(&format!("{TEST_NS_LABEL}={ns}"));
    let _ = nodes.delete_collection(&DeleteParams::default(), &sel).await;
    // Namespaced custom resources too: nobody garbage-collects a finalized namespace's content,
    // and an operator watching all namespaces (the demo's) would go on reconciling it.
    let gvk = GroupVersionKind::gvk("nodehealth.io", "v1alpha1", "NodeHealth");
    let nodehealths: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        ns,
        &ApiResource::from_gvk_with_plural(&gvk, "nodehealths"),
    );
    let _ = nodehealths
        .delete_collection(&DeleteParams::default(), &ListParams::default())
        .await;
    // The test's operator is gone: let go of what its finalizer still holds, as the README
    // tells a person to do after uninstalling with policies left.
    let held = nodehealths
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    for nh in held {
        let strip = json!({"metadata": {"finalizers": null}});
        let _ = nodehealths
            .patch(&nh.name_any(), &PatchParams::default(), &Patch::Merge(&strip))
            .await;
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    // Pods a test held Terminating with a finalizer: nobody else would let them go.
    for held in pods
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
    {
        if held.metadata.finalizers.as_ref().is_some_and(|f| !f.is_empty()) {
            let strip = json!({"metadata": {"finalizers": null}});
            let _ = pods
                .patch(&held.name_any(), &PatchParams::default(), &Patch::Merge(&strip))
                .await;
        }
    }
    let _ = pods
        .delete_collection(&DeleteParams::default().grace_period(0), &ListParams::default())
        .await;
    // The operators' Leases (leader election), which would otherwise outlive the namespace.
    let leases: Api<Lease> = Api::namespaced(client.clone(), ns);
    let _ = leases
        .delete_collection(&DeleteParams::default(), &ListParams::default())
        .await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let _ = namespaces.delete(ns, &DeleteParams::default()).await;
    let finalize =
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}, "spec": {"finalizers": []}});
    let req = http::Request::put(format!("/api/v1/namespaces/{ns}/finalize"))
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&finalize).unwrap())
        .unwrap();
    let _ = client.request::<serde_json::Value>(req).map(|_| ()).await;
}
