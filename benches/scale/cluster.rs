//! The bench's footprint on the control plane: one namespace (with the `default`
//! ServiceAccount pods need, and the operators' Leases), the CRD when it was missing, and the
//! cleanup that leaves the control plane as it was found.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event, Namespace, Node, Pod, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use nodehealth::crd::NodeHealth;
use serde_json::json;

use crate::fleet::BENCH_LABEL;

pub const CRD_NAME: &str = "nodehealths.nodehealth.io";
/// How long the CRD may take to be served (the 1.20 server needs about a second).
const CRD_TIMEOUT: Duration = Duration::from_secs(30);
/// How long deleting every pod may take: the 1.20 server deletes a collection one object at a
/// time (`--delete-collection-workers=1`), some 10,000 pods a minute here.
const POD_DELETE_TIMEOUT: Duration = Duration::from_secs(300);
/// How often to look again while waiting on the API server (no watch needed for these).
const POLL: Duration = Duration::from_millis(500);

/// An admin client of the control plane the kubeconfig points at.
pub async fn client(kubeconfig: &Path) -> anyhow::Result<Client> {
    nodehealth::install_crypto_provider();
    let kc = Kubeconfig::read_from(kubeconfig).with_context(|| format!("read {}", kubeconfig.display()))?;
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?;
    Ok(Client::try_from(config)?)
}

/// Creates namespace `ns` and its `default` ServiceAccount (no controller-manager makes it).
pub async fn create_namespace(client: &Client, ns: &str) -> anyhow::Result<()> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let obj = serde_json::from_value(json!({"metadata": {"name": ns, "labels": {BENCH_LABEL: "true"}}}))?;
    namespaces
        .create(&PostParams::default(), &obj)
        .await
        .with_context(|| format!("create namespace {ns}"))?;
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let sa = serde_json::from_value(json!({"metadata": {"name": "default"}}))?;
    sas.create(&PostParams::default(), &sa)
        .await
        .context("create the default ServiceAccount")?;
    Ok(())
}

/// Whether the NodeHealth CRD is installed (if not, the bench installs it and cleanup removes it).
pub async fn crd_exists(client: &Client) -> anyhow::Result<bool> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    Ok(crds.get_opt(CRD_NAME).await?.is_some())
}

/// Applies the checked-in CRD and waits until it is served.
pub async fn apply_crd(client: &Client) -> anyhow::Result<()> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/crds/nodehealth.io_nodehealths.yaml");
    let text = std::fs::read_to_string(path).with_context(|| format!("read {path}"))?;
    let crd: CustomResourceDefinition = serde_yaml::from_str(&text).with_context(|| format!("parse {path}"))?;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.patch(
        CRD_NAME,
        &PatchParams::apply("nodehealth-bench").force(),
        &Patch::Apply(&crd),
    )
    .await
    .context("apply the NodeHealth CRD")?;
    let deadline = Instant::now() + CRD_TIMEOUT;
    loop {
        let established = crds
            .get(CRD_NAME)
            .await?
            .status
            .and_then(|s| s.conditions)
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Established" && c.status == "True"));
        if established {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the CRD is not Established after {CRD_TIMEOUT:?}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// What the bench made on the control plane, also written to a file (`NS CRD_CREATED`) until
/// it is deleted, so that a bench killed outright can be cleaned up after (`--cleanup FILE`).
pub struct Footprint {
    pub client: Client,
    pub ns: String,
    /// Whether the bench created the CRD (it was missing).
    pub crd_created: bool,
    pub record: PathBuf,
}

impl Footprint {
    pub fn save(&self) -> anyhow::Result<()> {
        let line = format!("{} {}\n", self.ns, self.crd_created);
        std::fs::write(&self.record, line).with_context(|| format!("write {}", self.record.display()))
    }

    /// The footprint a killed bench left in `record`.
    pub fn load(client: Client, record: &Path) -> anyhow::Result<Footprint> {
        let text = std::fs::read_to_string(record).with_context(|| format!("read {}", record.display()))?;
        let mut words = text.split_whitespace();
        let (Some(ns), Some(crd)) = (words.next(), words.next()) else {
            bail!("{}: expected `NAMESPACE CRD_CREATED`, found {text:?}", record.display());
        };
        Ok(Footprint {
            client,
            ns: ns.to_owned(),
            crd_created: crd == "true",
            record: record.to_owned(),
        })
    }

    /// Deletes what the bench made. With no controller-manager nobody empties a terminating
    /// namespace nor removes its `kubernetes` finalizer, so its content goes first (the
    /// operators' Leases too: removing the finalizer deletes the namespace object, not what is
    /// in it), then the finalizer (as `tests/support/cluster.rs` does). Failures are reported,
    /// not fatal. The operators must be stopped first, or a leader would make its Lease again.
    pub async fn cleanup(&self) {
        let (client, ns) = (&self.client, self.ns.as_str());
        let lp = ListParams::default();
        let nodehealths: Api<NodeHealth> = Api::namespaced(client.clone(), ns);
        warn(
            "delete NodeHealths",
            nodehealths.delete_collection(&DeleteParams::default(), &lp).await,
        );
        if let Err(e) = delete_pods(client, ns).await {
            eprintln!("[bench] WARNING: pods of {ns} not all deleted: {e:#}");
        }
        let events: Api<Event> = Api::namespaced(client.clone(), ns);
        warn(
            "delete events",
            events.delete_collection(&DeleteParams::default(), &lp).await,
        );
        let leases: Api<Lease> = Api::namespaced(client.clone(), ns);
        warn(
            "delete Leases",
            leases.delete_collection(&DeleteParams::default(), &lp).await,
        );
        let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
        warn(
            "delete ServiceAccount",
            sas.delete("default", &DeleteParams::default()).await,
        );
        let namespaces: Api<Namespace> = Api::all(client.clone());
        warn(
            "delete namespace",
            namespaces.delete(ns, &DeleteParams::default()).await,
        );
        let finalize =
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}, "spec": {"finalizers": []}});
        let req = http::Request::put(format!("/api/v1/namespaces/{ns}/finalize"))
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&finalize).unwrap_or_default());
        if let Ok(req) = req {
            warn("finalize namespace", client.request::<serde_json::Value>(req).await);
        }
        let nodes: Api<Node> = Api::all(client.clone());
        let mine = ListParams::default().labels(&format!("{BENCH_LABEL}={ns}"));
        warn(
            "delete nodes",
            nodes.delete_collection(&DeleteParams::default(), &mine).await,
        );
        if self.crd_created {
            let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
            warn("delete the CRD", crds.delete(CRD_NAME, &DeleteParams::default()).await);
        }
        let _ = std::fs::remove_file(&self.record);
        eprintln!("[bench] namespace {ns} (its Leases too) and its nodes deleted");
    }
}

/// Deletes every pod of `ns` (grace 0: no kubelet would finish a graceful deletion) and waits
/// until none is left, asking again if a long collection delete timed out on the server.
async fn delete_pods(client: &Client, ns: &str) -> anyhow::Result<()> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let started = Instant::now();
    let one = ListParams::default().limit(1);
    loop {
        if let Err(e) = pods
            .delete_collection(&DeleteParams::default().grace_period(0), &ListParams::default())
            .await
        {
            eprintln!("[bench] deleting pods: {e} (asking again)");
        }
        if pods.list_metadata(&one).await?.items.is_empty() {
            eprintln!("[bench] pods deleted in {:.1} s", started.elapsed().as_secs_f64());
            return Ok(());
        }
        if started.elapsed() > POD_DELETE_TIMEOUT {
            bail!("pods still there after {POD_DELETE_TIMEOUT:?}");
        }
        tokio::time::sleep(POLL).await;
    }
}

fn warn<T>(what: &str, r: Result<T, kube::Error>) {
    match r {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => eprintln!("[bench] WARNING: cleanup: {what}: {e}"),
    }
}
