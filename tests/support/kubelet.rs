//! A simulated kubelet (and StatefulSet controller): it creates nodes and validator pods,
//! sets pod status as a kubelet would (Running, Ready, podIP = the simulator's address for
//! that validator; or held Pending, without an IP, not Ready), finishes the deletion of
//! terminating pods (a pod with a finalizer stays Terminating until the test removes it), and
//! recreates a deleted validator pod under the same name with a new UID and a fresh simulator
//! state (as a StatefulSet does; a ReplicaSet would pick a new name, which no test needs).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::watcher;
use nodehealth::sim::SimClient;
use serde_json::json;
use tokio::task::JoinHandle;

use super::cluster::TEST_NS_LABEL;

/// A validator pod as its StatefulSet would stamp it out.
#[derive(Debug, Clone)]
pub struct ValidatorPod {
    pub name: String,
    pub node: String,
    /// The pod's IP: the simulator's address of its validator (`::1` for an IPv6 pod).
    pub ip: IpAddr,
    pub labels: BTreeMap<String, String>,
    /// Named container ports, e.g. `("health", 3334)`.
    pub ports: Vec<(String, u16)>,
    /// How long ago the pod started (tests of start-up grace set it).
    pub started_seconds_ago: i64,
}

/// What a pod's controller and the kubelet make of a [`ValidatorPod`] beyond the default (no
/// owner, no finalizer, Running and Ready).
#[derive(Debug, Clone, Default)]
pub struct Stamp {
    /// `metadata.ownerReferences`, as the pod's controller writes them.
    pub owner_references: Vec<serde_json::Value>,
    /// `metadata.finalizers`: once deleted, the pod stays Terminating until they are removed.
    pub finalizers: Vec<String>,
    /// How far the kubelet brings the pod.
    pub start: Start,
}

/// How far the kubelet brings a pod.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Start {
    /// Running, Ready, with its IP.
    #[default]
    Ready,
    /// Scheduled, its image still being pulled: Pending, no IP, no container running.
    Pending,
    /// Running without a pod IP yet.
    NoIp,
    /// Running with its IP, its container not Ready yet.
    NotReady,
}

/// A finalizer tests put on a pod to keep it Terminating once deleted (no controller acts on it).
pub const HOLD: &str = "test.nodehealth.io/hold";

/// Owner reference of a controller (`controller: true`), as controllers write it.
pub fn controller_ref(api_version: &str, kind: &str, name: &str, uid: &str) -> serde_json::Value {
    json!({"apiVersion": api_version, "kind": kind, "name": name, "uid": uid,
           "controller": true, "blockOwnerDeletion": true})
}

pub struct Kubelet {
    client: Client,
    ns: String,
    templates: Arc<Mutex<HashMap<String, (ValidatorPod, Stamp)>>>,
    task: JoinHandle<()>,
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Kubelet {
    /// Starts the kubelet's watch loop over the namespace's pods. `sim` (when given) is told
    /// to restart a validator whose pod is recreated.
    pub fn start(client: Client, ns: &str, sim: Option<SimClient>) -> Kubelet {
        let templates: Arc<Mutex<HashMap<String, (ValidatorPod, Stamp)>>> = Arc::default();
        let task = tokio::spawn(run(client.clone(), ns.to_owned(), templates.clone(), sim));
        Kubelet {
            client,
            ns: ns.to_owned(),
            templates,
            task,
        }
    }

    /// Creates a Ready node (cluster-scoped, labelled with the test's namespace for cleanup).
    pub async fn create_node(&self, name: &str) -> Node {
        let nodes: Api<Node> = Api::all(self.client.clone());
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {TEST_NS_LABEL: self.ns, "kubernetes.io/hostname": name}},
        }))
        .unwrap();
        nodes.create(&PostParams::default(), &node).await.expect("create node");
        let status = json!({"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
            "lastHeartbeatTime": now(0), "lastTransitionTime": now(0)}]}});
        nodes
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .expect("node status")
    }

    /// Creates a validator pod and makes it Running and Ready with its simulator address.
    pub async fn create_pod(&self, vp: ValidatorPod) -> Pod {
        self.create_stamped(vp, Stamp::default()).await
    }

    /// Creates a validator pod with owners, finalizers, and brought as far as `stamp` says.
    pub async fn create_stamped(&self, vp: ValidatorPod, stamp: Stamp) -> Pod {
        self.templates
            .lock()
            .unwrap()
            .insert(vp.name.clone(), (vp.clone(), stamp.clone()));
        create_and_run(&self.client, &self.ns, &vp, &stamp).await
    }

    /// Removes a pod's finalizers: a Terminating pod then goes (and is not recreated if forgotten).
    pub async fn release(&self, name: &str) {
        let strip = json!({"metadata": {"finalizers": null}});
        self.pods()
            .patch(name, &PatchParams::default(), &Patch::Merge(&strip))
            .await
            .expect("remove the pod's finalizers");
    }

    /// Restarts the pod's container in place, as the kubelet does after a crash or a failed
    /// liveness probe: `restartCount` up, `state.running.startedAt` now. Returns that time.
    pub async fn restart_container(&self, name: &str) -> jiff::Timestamp {
        let pod = self.pods().get(name).await.expect("the pod");
        let count = pod
            .status
            .and_then(|s| s.container_statuses)
            .and_then(|c| c.first().map(|c| c.restart_count))
            .unwrap_or(0);
        let (before, started) = (now(3600), now(0));
        let status = json!({"status": {"containerStatuses": [{
            "name": "validator", "ready": true, "started": true, "restartCount": count + 1,
            "image": "nodehealth-sim:test", "imageID": "",
            "state": {"running": {"startedAt": started}},
            "lastState": {"terminated": {"exitCode": 137, "reason": "Error", "startedAt": before, "finishedAt": started}},
        }]}});
        self.pods()
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .expect("restart the container");
        started.parse().expect("a timestamp")
    }

    pub fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    /// Stops recreating this pod (as if its StatefulSet were scaled down).
    pub fn forget(&self, name: &str) {
        self.templates.lock().unwrap().remove(name);
    }
}

fn now(offset_seconds: i64) -> String {
    let t = std::time::SystemTime::now() - std::time::Duration::from_secs(offset_seconds.max(0) as u64);
    let secs = t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    jiff::Timestamp::from_second(secs).unwrap().to_string()
}

async fn create_and_run(client: &Client, ns: &str, vp: &ValidatorPod, stamp: &Stamp) -> Pod {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let ports: Vec<_> = vp
        .ports
        .iter()
        .map(|(n, p)| json!({"name": n, "containerPort": p}))
        .collect();
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": vp.name, "labels": vp.labels, "ownerReferences": stamp.owner_references,
                     "finalizers": stamp.finalizers},
        "spec": {
            "nodeName": vp.node,
            // No token controller runs here.
            "automountServiceAccountToken": false,
            "containers": [{"name": "validator", "image": "nodehealth-sim:test", "ports": ports}],
        }
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.expect("create pod");
    let ip = vp.ip.to_string();
    let started = now(vp.started_seconds_ago);
    let cond = |t: &str, ok: bool| json!({"type": t, "status": if ok { "True" } else { "False" }, "lastTransitionTime": started});
    let ready = stamp.start == Start::Ready;
    let status = if stamp.start == Start::Pending {
        json!({"status": {
            "phase": "Pending",
            "hostIP": "127.0.0.1",
            "startTime": started,
            "conditions": [cond("Initialized", true), cond("Ready", false), cond("ContainersReady", false),
                           cond("PodScheduled", true)],
            "containerStatuses": [{"name": "validator", "ready": false, "restartCount": 0,
                "image": "nodehealth-sim:test", "imageID": "",
                "state": {"waiting": {"reason": "ContainerCreating"}}}],
        }})
    } else {
        let ips = (stamp.start != Start::NoIp).then(|| json!([{"ip": ip}]));
        json!({"status": {
            "phase": "Running",
            "hostIP": "127.0.0.1",
            "podIP": ips.as_ref().map(|_| ip.clone()),
            "podIPs": ips,
            "startTime": started,
            "conditions": [cond("Initialized", true), cond("Ready", ready), cond("ContainersReady", ready),
                           cond("PodScheduled", true)],
            "containerStatuses": [{"name": "validator", "ready": ready, "started": true, "restartCount": 0,
                "image": "nodehealth-sim:test", "imageID": "", "state": {"running": {"startedAt": started}}}],
        }})
    };
    pods.patch_status(&vp.name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("pod status")
}

async fn run(
    client: Client,
    ns: String,
    templates: Arc<Mutex<HashMap<String, (ValidatorPod, Stamp)>>>,
    sim: Option<SimClient>,
) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let mut events = watcher(pods.clone(), watcher::Config::default()).boxed();
    while let Some(ev) = events.next().await {
        match ev {
            Ok(watcher::Event::Apply(pod)) | Ok(watcher::Event::InitApply(pod))
                if pod.metadata.deletion_timestamp.is_some() =>
            {
                // A kubelet stops the containers, then removes the object for good.
                let name = pod.metadata.name.clone().unwrap_or_default();
                let uid = pod.metadata.uid.clone();
                let dp = DeleteParams {
                    grace_period_seconds: Some(0),
                    preconditions: Some(Preconditions {
                        uid,
                        resource_version: None,
                    }),
                    ..DeleteParams::default()
                };
                let _ = pods.delete(&name, &dp).await;
            }
            Ok(watcher::Event::Delete(pod)) => {
                let name = pod.metadata.name.clone().unwrap_or_default();
                let template = templates.lock().unwrap().get(&name).cloned();
                if let Some((vp, stamp)) = template {
                    // The simulator is told by IPv4 address; its `::1` validator is not
                    // restarted (no test recreates an IPv6 pod).
                    if let (Some(sim), IpAddr::V4(ip)) = (&sim, vp.ip) {
                        let _ = sim.restart(Some(ip)).await;
                    }
                    // The new instance starts now.
                    let fresh = ValidatorPod {
                        started_seconds_ago: 0,
                        ..vp
                    };
                    create_and_run(&client, &ns, &fresh, &stamp).await;
                }
            }
            _ => {}
        }
    }
}

/// PodDisruptionBudgets as the 1.20 server serves them (policy/v1beta1 only; k8s-openapi's
/// typed PDB is policy/v1).
fn pdb_api(client: &Client, ns: &str) -> Api<kube::api::DynamicObject> {
    let gvk = kube::api::GroupVersionKind::gvk("policy", "v1beta1", "PodDisruptionBudget");
    let ar = kube::api::ApiResource::from_gvk_with_plural(&gvk, "poddisruptionbudgets");
    Api::namespaced_with(client.clone(), ns, &ar)
}

impl Kubelet {
    /// Creates a PDB over `app=validator` pods with `minAvailable`.
    pub async fn create_pdb(&self, name: &str, min_available: i32) {
        let pdb: kube::api::DynamicObject = serde_json::from_value(json!({
            "apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget",
            "metadata": {"name": name},
            "spec": {"minAvailable": min_available, "selector": {"matchLabels": {"app": "validator"}}},
        }))
        .unwrap();
        pdb_api(&self.client, &self.ns)
            .create(&PostParams::default(), &pdb)
            .await
            .expect("create PDB");
    }

    /// Plays the disruption controller (there is no controller-manager here): sets the PDB's
    /// status as it would, with `disruptionsAllowed` chosen by the test.
    pub async fn set_disruptions_allowed(&self, name: &str, allowed: i32) {
        let api = pdb_api(&self.client, &self.ns);
        let pdb = api.get(name).await.expect("get PDB");
        let status = json!({"status": {
            "observedGeneration": pdb.metadata.generation,
            "disruptionsAllowed": allowed,
            "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0,
        }});
        api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .expect("PDB status");
    }
}
