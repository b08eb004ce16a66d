//! Several operator replicas in one namespace, their Leases, and what they did as the API
//! server saw it (counted from its watches, not from the operators' own word).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};

use super::cluster::kubeconfig;
use super::operator::Operator;
use super::wait::{eventually, metric};

/// Starts a replica of the operator for `ns` with this identity (its pod name in a cluster).
pub async fn replica(ns: &str, identity: &str, extra: &[&str]) -> Operator {
    Operator::spawn(&kubeconfig().await, ns, extra, &[("NODEHEALTH_IDENTITY", identity)])
}

/// The holder of a Lease (`None`: no Lease, or released).
pub async fn holder(client: &Client, ns: &str, lease: &str) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), ns);
    leases.get_opt(lease).await.ok()??.spec?.holder_identity
}

/// Waits until `id` holds the Lease.
pub async fn await_holder(client: &Client, ns: &str, lease: &str, id: &str, timeout: Duration) {
    eventually(timeout, &format!("{id} holds {lease}"), || async move {
        match holder(client, ns, lease).await {
            Some(h) if h == id => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}

/// The Lease itself.
pub async fn lease(client: &Client, ns: &str, name: &str) -> Lease {
    let leases: Api<Lease> = Api::namespaced(client.clone(), ns);
    leases.get(name).await.expect("the lease")
}

/// Waits until `op` says it leads `shard` (`nodehealth_leader{shard}` 1) or not (0).
pub async fn await_leading(op: &Operator, shard: u32, leading: bool, timeout: Duration) {
    let want = if leading { 1.0 } else { 0.0 };
    let series = format!("nodehealth_leader{{shard=\"{shard}\"}}");
    eventually(timeout, &format!("{} reports {series} {want}", op.http), || {
        let (http, series) = (op.http.clone(), series.clone());
        async move {
            match metric(&http, &series).await {
                Ok(v) if v == want => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await;
}

/// A counter read from a replica's `/metrics` (0 when the series does not exist yet).
pub async fn counter(op: &Operator, series: &str) -> f64 {
    metric(&op.http, series).await.unwrap_or(0.0)
}

/// Cordons and evictions as the API server's watches show them, from when it starts.
pub struct Actions {
    /// Node name → times it went from schedulable to unschedulable.
    cordons: Arc<Mutex<BTreeMap<String, u32>>>,
    /// Pod instances (UIDs) that got a deletion timestamp: evictions, since nothing else in
    /// these tests deletes a validator.
    evicted: Arc<Mutex<BTreeSet<String>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Actions {
    /// Watches the nodes named `<ns>-…` and the pods of `ns`.
    pub fn watch(client: &Client, ns: &str) -> Actions {
        let cordons: Arc<Mutex<BTreeMap<String, u32>>> = Arc::default();
        let evicted: Arc<Mutex<BTreeSet<String>>> = Arc::default();
        let nodes: Api<Node> = Api::all(client.clone());
        let (prefix, seen) = (format!("{ns}-"), cordons.clone());
        let node_task = tokio::spawn(async move {
            let mut last: BTreeMap<String, bool> = BTreeMap::new();
            let mut stream = watcher(nodes, watcher::Config::default()).boxed();
            while let Some(Ok(ev)) = stream.next().await {
                let (watcher::Event::Apply(n) | watcher::Event::InitApply(n)) = ev else {
                    continue;
                };
                let name = n.name_any();
                if !name.starts_with(&prefix) {
                    continue;
                }
                let now = n.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false);
                if now && !last.get(&name).copied().unwrap_or(false) {
                    *seen.lock().unwrap().entry(name.clone()).or_default() += 1;
                }
                last.insert(name, now);
            }
        });
        let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
        let gone = evicted.clone();
        let pod_task = tokio::spawn(async move {
            let mut stream = watcher(pods, watcher::Config::default()).boxed();
            while let Some(Ok(ev)) = stream.next().await {
                let (watcher::Event::Apply(p) | watcher::Event::InitApply(p) | watcher::Event::Delete(p)) = ev else {
                    continue;
                };
                if p.metadata.deletion_timestamp.is_some() || p.metadata.deletion_grace_period_seconds.is_some() {
                    gone.lock().unwrap().insert(p.uid().unwrap_or_default());
                }
            }
        });
        Actions {
            cordons,
            evicted,
            tasks: vec![node_task, pod_task],
        }
    }

    pub fn cordons(&self, node: &str) -> u32 {
        self.cordons.lock().unwrap().get(node).copied().unwrap_or(0)
    }

    pub fn evictions(&self) -> usize {
        self.evicted.lock().unwrap().len()
    }
}

impl Drop for Actions {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
