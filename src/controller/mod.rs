//! Wiring: watches, the shared context, reconcile and its error policy.
//!
//! The `NodeHealth` controller is triggered by its own objects and by the pods they select
//! (one shared pod reflector feeds both the store reconcile reads and the trigger). A
//! `NodeHealth` whose JSON cannot be read is reported and skipped without blocking the others.

mod act;
mod claims;
mod finalize;
mod lease;
mod pods;
mod prober;
mod reconcile;
mod watches;
mod workloads;

pub use act::evict_instance;
pub use lease::{Election, Leadership};

use pods::{ShardSelectors, shard_pods};
use watches::{PodChanges, SyncGate, Watch, in_shard, nodehealth_relevance};

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::core::{DeserializeGuard, PartialObjectMeta};
use kube::runtime::controller::Action;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, Store, reflector};
use kube::runtime::{Controller, PredicateConfig, WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use tokio::sync::{Notify, Semaphore, mpsc};

use crate::crd::{NodeHealth, NodeHealthStatus};
use crate::policy::InvalidSpec;
use crate::probe::Prober;
use crate::schedule::Schedule;
use crate::server::OperatorHealth;
use crate::shard::Shard;
use crate::telemetry::Metrics;

/// The one field manager of every write (server-side apply, status included).
pub const FIELD_MANAGER: &str = "nodehealth";

/// Limits and intervals of the controller, from the command line.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Watch one namespace, or all.
    pub namespace: Option<String>,
    /// Probes in flight at once, over every NodeHealth.
    pub max_concurrent_probes: usize,
    /// Figures moving within the same verdict are written at most this often.
    pub status_refresh: Duration,
    /// Entries of `status.pods` at most (counts stay exact).
    pub max_status_pods: usize,
    /// Whether actions (cordon, restart) are enabled at all.
    pub remediation: bool,
    /// Pods whose probe connections are kept alive between probes (the rest connect afresh):
    /// the share of the open-files limit left for idle connections.
    pub pooled_pods: usize,
    /// This replica's name: in Leases, events and `status.leader`.
    pub identity: String,
    /// The NodeHealths this replica handles.
    pub shard: Shard,
    /// The shard's Lease; `None`: leader election off, this replica always leads.
    pub election: Option<Election>,
}

/// Why a reconcile did not complete.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec cannot be enforced: wait for a change.
    #[error("invalid spec: {0}")]
    InvalidSpec(#[from] InvalidSpec),
    /// The object's JSON does not match the schema: wait for a change.
    #[error("unreadable NodeHealth: {0}")]
    Unreadable(String),
    /// Reading the status before building on it failed: back off and retry.
    #[error("reading the status: {0}")]
    ReadStatus(#[source] kube::Error),
    /// Writing the status failed: back off and retry.
    #[error("writing the status: {0}")]
    WriteStatus(#[source] kube::Error),
    /// Reading the nodes remediation may touch failed: back off and retry.
    #[error("reading nodes: {0}")]
    ReadNodes(#[source] kube::Error),
    /// Adding or removing the finalizer failed (or the object changed under the patch): retry.
    #[error("updating the finalizer: {0}")]
    Finalizer(#[source] kube::Error),
    /// Uncordoning a node of a deleted NodeHealth failed: retry before letting it go.
    #[error("releasing node {0}: {1}")]
    Release(String, #[source] kube::Error),
    /// Leadership was lost during the reconcile: nothing more is written or done.
    #[error("no longer the leader of this shard")]
    NotLeader,
}

impl Error {
    /// A bounded label for metrics and events.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::InvalidSpec(_) => "InvalidSpec",
            Error::Unreadable(_) => "Unreadable",
            Error::ReadStatus(_) => "ReadStatus",
            Error::WriteStatus(_) => "WriteStatus",
            Error::ReadNodes(_) => "ReadNodes",
            Error::Finalizer(_) => "Finalizer",
            Error::Release(..) => "Release",
            Error::NotLeader => "NotLeader",
        }
    }
}

/// State shared by every reconcile.
pub struct Context {
    pub client: Client,
    /// For actions on nodes and pods (see [`Clients::acting`]).
    pub acting: Client,
    pub prober: Prober,
    pub pods: Store<Pod>,
    /// The ReplicaSets' owners, for the singleton guard (watched only with remediation on).
    replicasets: workloads::ReplicaSets,
    pub nodehealths: Store<DeserializeGuard<NodeHealth>>,
    /// Which NodeHealth remediates which pods, over every shard.
    claims: Arc<claims::Claims>,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    pub health: Arc<OperatorHealth>,
    pub probe_slots: Arc<Semaphore>,
    pub settings: Settings,
    pub leadership: Leadership,
    /// Whether both watches have listed everything once.
    synced: Arc<SyncGate>,
    /// When each pod is probed, its scrape history and latest verdict. In memory only: it
    /// rebuilds within one window, and verdicts say when they are not verified yet.
    schedule: Mutex<Schedule>,
    /// Wakes the probe loop when new pods are due.
    wake: Notify,
    /// The probe loop last saw the open-files limit reached.
    out_of_files: AtomicBool,
    /// Per NodeHealth, the status this process last wrote, or read from the API server when it
    /// began leading: the watch may not have delivered it yet. Cleared when leadership is lost.
    written: Mutex<HashMap<Key, NodeHealthStatus>>,
    /// Consecutive failures per NodeHealth, for the backoff.
    failures: Mutex<HashMap<Key, u32>>,
}

/// `namespace/name` of a NodeHealth.
type Key = String;

fn key(obj: &DeserializeGuard<NodeHealth>) -> Key {
    format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())
}

/// Locks a mutex even if a panicking reconcile poisoned it: the maps stay consistent per entry.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The operator's API clients.
pub struct Clients {
    /// Watches and status writes (kube's default retries of 429/503/504).
    pub main: Client,
    /// Cordons and evictions: no automatic retry, so a refusal is seen and reported at once.
    pub acting: Client,
}

/// Runs the controller until `shutdown` resolves. Fails only if the probe thread cannot start.
pub async fn run(
    clients: Clients,
    prober: Prober,
    settings: Settings,
    metrics: Arc<Metrics>,
    health: Arc<OperatorHealth>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> std::io::Result<()> {
    let Clients { main: client, acting } = clients;
    let (nodehealths, pods_api): (Api<DeserializeGuard<NodeHealth>>, Api<Pod>) = match &settings.namespace {
        Some(ns) => (Api::namespaced(client.clone(), ns), Api::namespaced(client.clone(), ns)),
        None => (Api::all(client.clone()), Api::all(client.clone())),
    };
    let gate = Arc::new(SyncGate::new(health.clone()));
    let (pod_store, pod_writer) = reflector::store();
    let pod_gate = gate.clone();
    // Only the pods this shard's NodeHealths select, and of each only what selection and
    // probing need.
    let selectors = Arc::new(ShardSelectors::new());
    let selectors_for_mapper = selectors.clone();
    let pod_watch = shard_pods(pods_api, selectors.clone()).inspect(move |ev| pod_gate.seen(ev, Watch::Pods));
    // Every change reaches the store; only those that matter to a policy trigger a reconcile.
    let mut changes = PodChanges::default();
    let pod_stream = reflector(pod_writer, pod_watch)
        .try_filter_map(move |ev| std::future::ready(Ok(changes.pass(ev))))
        .default_backoff();
    let (nh_store, nh_writer) = reflector::store();
    let nh_gate = gate.clone();
    // Only this shard's NodeHealths reach the store: the others are another replica's.
    let shard = settings.shard;
    // Every shard's NodeHealths feed the overlap index before the filter.
    let claims = Arc::new(claims::Claims::default());
    let claims_seen = claims.clone();
    let nh_watch = watcher(nodehealths, watcher::Config::default())
        .inspect(move |ev| claims_seen.seen(ev))
        .try_filter(move |ev| std::future::ready(in_shard(ev, shard)))
        .inspect(move |ev| nh_gate.seen(ev, Watch::NodeHealths));
    // A status write comes back as an event: only the spec (generation) and the annotations
    // the operator reads are worth a reconcile.
    let selectors_store = nh_store.clone();
    let nh_stream = reflector(nh_writer, nh_watch)
        .inspect(move |ev| {
            // After the store took the change; not per object of a (re)list.
            if matches!(
                ev,
                Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_) | watcher::Event::InitDone)
            ) {
                selectors.refresh(&selectors_store);
            }
        })
        .applied_objects()
        .predicate_filter(nodehealth_relevance, PredicateConfig::default())
        .default_backoff();
    // With remediation, the ReplicaSets' owners for the singleton guard: only a store, it
    // triggers nothing. Without, no permission to watch them is granted, and none is needed.
    let (rs_store, rs_writer) = reflector::store();
    let rs_gate = gate.clone();
    let replicasets = settings.remediation.then(|| {
        let api: Api<PartialObjectMeta<ReplicaSet>> = match &settings.namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        };
        let watch = workloads::replicasets(api, rs_writer).inspect(move |ev| rs_gate.seen(ev, Watch::ReplicaSets));
        tokio::spawn(watch.for_each(|_| std::future::ready(())))
    });
    let controller = Controller::for_stream(nh_stream, nh_store.clone());
    let reporter = Reporter {
        controller: FIELD_MANAGER.to_owned(),
        instance: Some(settings.identity.clone()),
    };
    let leadership = match settings.election {
        Some(_) => Leadership::elected(),
        None => Leadership::always(),
    };
    let election = settings.election.clone();
    let pooled_pods = settings.pooled_pods;
    let ctx = Arc::new(Context {
        recorder: Recorder::new(client.clone(), reporter),
        client,
        acting,
        prober,
        pods: pod_store.clone(),
        replicasets: rs_store,
        nodehealths: nh_store.clone(),
        claims,
        metrics,
        health: health.clone(),
        probe_slots: Arc::new(Semaphore::new(settings.max_concurrent_probes.max(1))),
        settings,
        leadership,
        synced: gate.clone(),
        schedule: Mutex::new(Schedule::new(pooled_pods)),
        wake: Notify::new(),
        out_of_files: AtomicBool::new(false),
        written: Mutex::default(),
        failures: Mutex::default(),
    });
    let (trigger, verdicts_changed) = mpsc::channel(VERDICT_QUEUE);
    let verdicts_changed = futures::stream::unfold(verdicts_changed, |mut rx| async move {
        rx.recv().await.map(|obj| (obj, rx))
    });
    let (stop_probes, probes_stopped) = tokio::sync::oneshot::channel::<()>();
    let probing = prober::spawn(ctx.clone(), trigger, async move {
        let _ = probes_stopped.await;
    })?;
    // A replica that becomes the leader writes every status at once rather than at each one's
    // next period.
    let (gained, on_gain) = mpsc::channel(1);
    let (stop_election, election_stopped) = tokio::sync::oneshot::channel::<()>();
    let electing = election.map(|e| {
        tokio::spawn(lease::run(ctx.clone(), e, gained, async move {
            let _ = election_stopped.await;
        }))
    });
    let on_gain = futures::stream::unfold(on_gain, |mut rx| async move { rx.recv().await.map(|()| ((), rx)) });
    let mapper = selectors_for_mapper;
    controller
        .watches_stream(pod_stream, move |pod: Pod| mapper.selecting(&pod))
        .reconcile_on(verdicts_changed)
        .reconcile_all_on(on_gain)
        .graceful_shutdown_on(shutdown)
        .run(reconcile::reconcile, error_policy, ctx)
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::warn!(error = %e, "reconcile not completed");
            }
        })
        .await;
    // In-flight reconciles are done: only now is the Lease given up.
    let _ = stop_election.send(());
    if let Some(task) = electing {
        let _ = task.await;
    }
    let _ = stop_probes.send(());
    let _ = probing.await;
    if let Some(task) = replicasets {
        task.abort();
    }
    Ok(())
}

/// Verdict changes waiting for their reconcile; past this the periodic reconcile catches up.
const VERDICT_QUEUE: usize = 1024;

/// Invalid or unreadable objects wait for a change; transient failures back off with jitter.
fn error_policy(obj: Arc<DeserializeGuard<NodeHealth>>, err: &Error, ctx: Arc<Context>) -> Action {
    match err {
        // A file is mounted, or fixed, without any change to the object: look again.
        Error::InvalidSpec(e) if e.about_files() => Action::requeue(FILE_RECHECK),
        Error::InvalidSpec(_) | Error::Unreadable(_) => Action::await_change(),
        // As a standby it keeps probing; should it lead again, it is reconciled at once.
        Error::NotLeader => Action::requeue(Duration::from_secs(5)),
        Error::ReadStatus(_)
        | Error::WriteStatus(_)
        | Error::ReadNodes(_)
        | Error::Finalizer(_)
        | Error::Release(..) => {
            let k = key(&obj);
            let n = {
                let mut failures = lock(&ctx.failures);
                let n = failures.entry(k.clone()).or_insert(0);
                *n = n.saturating_add(1);
                *n
            };
            Action::requeue(backoff(n, &k))
        }
    }
}

/// How often a policy stalled on a CA or token file it cannot read looks at the file again: a
/// stat each time, and well within the minute kubelet may take to update a mounted volume.
const FILE_RECHECK: Duration = Duration::from_secs(10);

/// Exponential backoff from 5 s to 1 min, with up to 20% jitter so retries of many objects spread
/// out. Capped at a minute so that, once the API server is back, a verdict reaches status within
/// about a minute (a longer cap left status stale for minutes after a short outage).
fn backoff(consecutive: u32, name: &str) -> Duration {
    const BASE: Duration = Duration::from_secs(5);
    const MAX: Duration = Duration::from_secs(60);
    let exp = BASE
        .saturating_mul(1u32 << consecutive.saturating_sub(1).min(6))
        .min(MAX);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let seed = name
        .bytes()
        .fold(u64::from(nanos), |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    exp + exp.mul_f64((seed % 200) as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let first = backoff(1, "a");
        assert!(
            first >= Duration::from_secs(5) && first <= Duration::from_secs(6),
            "{first:?}"
        );
        let third = backoff(3, "a");
        assert!(
            third >= Duration::from_secs(20) && third <= Duration::from_secs(24),
            "{third:?}"
        );
        let late = backoff(50, "a");
        assert!(
            late >= Duration::from_secs(60) && late <= Duration::from_secs(72),
            "{late:?}"
        );
    }
}
