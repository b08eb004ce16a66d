//! The operator's own Prometheus metrics (served on `GET /metrics` by [`crate::server`]).
//!
//! Every label with a value the operator does not choose (`namespace`, `nodehealth`, `pod`) lives
//! on per-pod gauges only, and those series are removed when the pod or the `NodeHealth` goes away:
//! a deleted pod must vanish from `/metrics`, not report its last value forever.
//!
//! Adding a family (say `nodehealth_remediations_total{action,result}`): a label struct deriving
//! [`EncodeLabelSet`] with `&'static str` fields, a field on [`Metrics`], one `counter_family` line
//! in [`Metrics::new`], and an `observe_*` method.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, PoisonError};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::model::SyncState;

/// Upper bounds of `nodehealth_probe_duration_seconds`: Prometheus' default buckets (client_golang
/// `DefBuckets`, 5 ms..10 s) extended down to 1 ms, since an in-cluster probe of a healthy pod
/// answers in about a millisecond; 5 s and 10 s cover the probe timeout (3 s by default, see
/// [`crate::probe::ProbeConfig`]).
const PROBE_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Upper bounds of `nodehealth_reconcile_duration_seconds`: a reconcile reads its pods' latest
/// verdicts and writes a status (probes run on their own schedule), so it spans 1 ms to the
/// seconds of a slow API server; 30 s and 60 s catch the latter.
const RECONCILE_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 60.0,
];

/// Upper bounds of `nodehealth_probe_lateness_seconds`, from a probe's due time to its end: a
/// probe of a healthy pod ends within milliseconds of its time; up to the 3 s default timeout
/// when it waits for an answer; beyond 15 s (the default period) the schedule is not kept.
const LATENESS_BUCKETS: [f64; 12] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProbeLabels {
    endpoint: &'static str,
    result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RemediationLabels {
    action: &'static str,
    result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    verb: &'static str,
    /// The HTTP status, or `error` when no response came (refused, reset, timed out).
    code: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    commit: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeHealthLabels {
    namespace: String,
    nodehealth: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PodStateLabels {
    namespace: String,
    nodehealth: String,
    pod: String,
    state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ShardLabels {
    shard: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PodLabels {
    namespace: String,
    nodehealth: String,
    pod: String,
}

impl PodLabels {
    fn new(namespace: &str, nodehealth: &str, pod: &str) -> Self {
        PodLabels {
            namespace: namespace.to_owned(),
            nodehealth: nodehealth.to_owned(),
            pod: pod.to_owned(),
        }
    }
}

/// What the per-pod gauges show of one pod's verdict.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodGauges {
    pub factor: Option<f64>,
    /// None while the pod is not probed (Pending, no IP, terminating): it has no verdict, and a
    /// 0 would count it among the unhealthy validators in every alert on this gauge.
    pub healthy: Option<bool>,
    pub sync_state: Option<SyncState>,
    pub ledger_delay_seconds: Option<f64>,
    pub block_lag: Option<u64>,
    pub network_stalled: bool,
}

/// The `state` label of `nodehealth_pod_sync_state`: the status words of `SyncState`.
const SYNC_STATES: [(SyncState, &str); 6] = [
    (SyncState::Synced, "Synced"),
    (SyncState::Syncing, "Syncing"),
    (SyncState::OutOfSync, "OutOfSync"),
    (SyncState::Booting, "Booting"),
    (SyncState::Unreachable, "Unreachable"),
    (SyncState::Unknown, "Unknown"),
];

fn set_or_remove(family: &Family<PodLabels, Gauge<f64, AtomicU64>>, labels: &PodLabels, value: Option<f64>) {
    match value {
        Some(v) => {
            family.get_or_create(labels).set(v);
        }
        None => {
            family.remove(labels);
        }
    }
}

/// `fn` pointers rather than closures so the family types can be named in [`Metrics`].
type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn probe_histogram() -> Histogram {
    Histogram::new(PROBE_BUCKETS)
}

/// The operator's metrics: cheap to update from any task (`Send + Sync`, share it with `Arc`).
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    reconciles: Family<ResultLabels, Counter>,
    reconcile_duration: Histogram,
    probes: Family<ProbeLabels, Counter>,
    probe_duration: HistogramFamily<EndpointLabels>,
    probe_lateness: Histogram,
    scheduled_pods: Gauge,
    idle_connections: Gauge,
    kube_requests: Family<RequestLabels, Counter>,
    status_writes: Family<ResultLabels, Counter>,
    remediations: Family<RemediationLabels, Counter>,
    remediations_blocked: Family<ReasonLabels, Counter>,
    pod_health_factor: Family<PodLabels, Gauge<f64, AtomicU64>>,
    pod_healthy: Family<PodLabels, Gauge>,
    pod_sync_state: Family<PodStateLabels, Gauge>,
    pod_ledger_delay: Family<PodLabels, Gauge<f64, AtomicU64>>,
    pod_block_lag: Family<PodLabels, Gauge>,
    pod_network_stalled: Family<PodLabels, Gauge>,
    selected_pods: Family<NodeHealthLabels, Gauge>,
    leader: Family<ShardLabels, Gauge>,
    /// (namespace, nodehealth) → pods with per-pod series, so that pods which are gone can be
    /// found and removed without scanning the families (which cannot be iterated).
    ///
    /// Held while the per-pod families change, so the index and the families never disagree.
    pods: Mutex<BTreeMap<(String, String), BTreeSet<String>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let reconciles = counter_family(
            &mut registry,
            "nodehealth_reconciles",
            "NodeHealth reconciles by result",
        );
        let reconcile_duration = Histogram::new(RECONCILE_BUCKETS);
        registry.register_with_unit(
            "nodehealth_reconcile_duration",
            "Time one NodeHealth reconcile took",
            Unit::Seconds,
            reconcile_duration.clone(),
        );
        let probes = counter_family(
            &mut registry,
            "nodehealth_probes",
            "HTTP probes of pods by endpoint and result",
        );
        let probe_duration = HistogramFamily::<EndpointLabels>::new_with_constructor(probe_histogram as fn() -> _);
        registry.register_with_unit(
            "nodehealth_probe_duration",
            "Time one HTTP probe of a pod took, failures included",
            Unit::Seconds,
            probe_duration.clone(),
        );
        let probe_lateness = Histogram::new(LATENESS_BUCKETS);
        registry.register_with_unit(
            "nodehealth_probe_lateness",
            "Time from a pod's scheduled probe to the probe's end: above the period, the schedule is not kept",
            Unit::Seconds,
            probe_lateness.clone(),
        );
        let scheduled_pods = Gauge::default();
        registry.register(
            "nodehealth_scheduled_pods",
            "Pods on the probe schedule, every NodeHealth together",
            scheduled_pods.clone(),
        );
        let idle_connections = Gauge::default();
        registry.register(
            "nodehealth_probe_idle_connections",
            "Probe connections kept alive between probes (one open file each)",
            idle_connections.clone(),
        );
        let kube_requests = counter_family(
            &mut registry,
            "nodehealth_kube_requests",
            "Requests to the Kubernetes API by verb (watch, get (lists included), create, patch, update, delete) and HTTP status code (`error`: no response)",
        );
        let status_writes = counter_family(
            &mut registry,
            "nodehealth_status_writes",
            "NodeHealth status writes by result",
        );
        let remediations = counter_family(
            &mut registry,
            "nodehealth_remediations",
            "Remediation actions by action (cordon, uncordon, restart) and result (succeeded, blocked, failed, unknown: no clear answer, checked next round; dry_run)",
        );
        let remediations_blocked = counter_family(
            &mut registry,
            "nodehealth_remediations_blocked",
            "Due remediation steps not taken, by the gate that stopped them (one per step per round)",
        );
        let pod_health_factor = Family::<PodLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "nodehealth_pod_health_factor",
            "Health factor of a pod (0..1); absent while it cannot be computed",
            pod_health_factor.clone(),
        );
        let pod_healthy = Family::<PodLabels, Gauge>::default();
        registry.register(
            "nodehealth_pod_healthy",
            "1 when the pod's verdict is healthy, else 0; absent while the pod is not probed",
            pod_healthy.clone(),
        );
        let pod_sync_state = Family::<PodStateLabels, Gauge>::default();
        registry.register(
            "nodehealth_pod_sync_state",
            "1 for the pod's sync state (Synced, Syncing, OutOfSync, Booting, Unreachable, Unknown)",
            pod_sync_state.clone(),
        );
        let pod_ledger_delay = Family::<PodLabels, Gauge<f64, AtomicU64>>::default();
        registry.register_with_unit(
            "nodehealth_pod_ledger_delay",
            "How far the pod's ledger time is behind its clock; absent when the chain does not tell",
            Unit::Seconds,
            pod_ledger_delay.clone(),
        );
        let pod_block_lag = Family::<PodLabels, Gauge>::default();
        registry.register(
            "nodehealth_pod_block_lag",
            "Blocks the pod is behind its target (zksync: the main node); absent when unknown",
            pod_block_lag.clone(),
        );
        let pod_network_stalled = Family::<PodLabels, Gauge>::default();
        registry.register(
            "nodehealth_pod_network_stalled",
            "1 when the pod's own signals say its network is not live (no action is taken then)",
            pod_network_stalled.clone(),
        );
        let selected_pods = Family::<NodeHealthLabels, Gauge>::default();
        registry.register(
            "nodehealth_selected_pods",
            "Pods a NodeHealth selects",
            selected_pods.clone(),
        );
        let build_info = Family::<BuildLabels, Gauge>::default();
        registry.register(
            "nodehealth_build_info",
            "1, labelled with the operator's version and the commit it was built from",
            build_info.clone(),
        );
        build_info
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
                // Set by build.rs; empty when an image build passes no commit.
                commit: option_env!("NODEHEALTH_COMMIT")
                    .filter(|c| !c.is_empty())
                    .unwrap_or("unknown"),
            })
            .set(1);
        let leader = Family::<ShardLabels, Gauge>::default();
        registry.register(
            "nodehealth_leader",
            "1 while this replica leads its shard (writes status, records events, acts), else 0",
            leader.clone(),
        );
        Metrics {
            registry,
            reconciles,
            reconcile_duration,
            probes,
            probe_duration,
            probe_lateness,
            scheduled_pods,
            idle_connections,
            kube_requests,
            status_writes,
            remediations,
            remediations_blocked,
            pod_health_factor,
            pod_healthy,
            pod_sync_state,
            pod_ledger_delay,
            pod_block_lag,
            pod_network_stalled,
            selected_pods,
            leader,
            pods: Mutex::new(BTreeMap::new()),
        }
    }

    /// One reconcile of a NodeHealth finished; `result` is `"ok"` or an error variant name.
    pub fn observe_reconcile(&self, result: &'static str, seconds: f64) {
        self.reconciles.get_or_create(&ResultLabels { result }).inc();
        self.reconcile_duration.observe(seconds);
    }

    /// One HTTP probe finished; `endpoint` is `"health"` or `"metrics"`, `result` is `"ok"` or a
    /// [`crate::probe::ProbeError::kind`].
    pub fn observe_probe(&self, endpoint: &'static str, result: &'static str, seconds: f64) {
        self.probes.get_or_create(&ProbeLabels { endpoint, result }).inc();
        self.probe_duration
            .get_or_create(&EndpointLabels { endpoint })
            .observe(seconds);
    }

    /// A scheduled probe ended `seconds` after it was due.
    pub fn observe_probe_lateness(&self, seconds: f64) {
        self.probe_lateness.observe(seconds.max(0.0));
    }

    /// Pods on the probe schedule and probe connections kept alive, now.
    pub fn set_probing(&self, scheduled_pods: usize, idle_connections: usize) {
        self.scheduled_pods
            .set(i64::try_from(scheduled_pods).unwrap_or(i64::MAX));
        self.idle_connections
            .set(i64::try_from(idle_connections).unwrap_or(i64::MAX));
    }

    /// A request to the Kubernetes API ended: with an HTTP status, or `None` without a response.
    pub fn observe_kube_request(&self, verb: &'static str, status: Option<u16>) {
        let code = status.map_or_else(|| "error".to_owned(), |c| c.to_string());
        self.kube_requests.get_or_create(&RequestLabels { verb, code }).inc();
    }

    /// A remediation action was carried out (or decided, in dry run).
    pub fn observe_remediation(&self, action: &'static str, result: &'static str) {
        self.remediations
            .get_or_create(&RemediationLabels { action, result })
            .inc();
    }

    /// A due remediation step was not taken because of `reason` (a `Block` reason).
    pub fn observe_remediation_blocked(&self, reason: &'static str) {
        self.remediations_blocked.get_or_create(&ReasonLabels { reason }).inc();
    }

    /// One write of a NodeHealth status finished; `result` is `"ok"` or an error kind.
    pub fn observe_status_write(&self, result: &'static str) {
        self.status_writes.get_or_create(&ResultLabels { result }).inc();
    }

    /// Sets a pod's gauges; an unknown figure removes its series, since a stale or made-up value
    /// is worse than none.
    pub fn set_pod(&self, namespace: &str, nodehealth: &str, pod: &str, g: &PodGauges) {
        let labels = PodLabels::new(namespace, nodehealth, pod);
        let mut index = self.index();
        index
            .entry((namespace.to_owned(), nodehealth.to_owned()))
            .or_default()
            .insert(pod.to_owned());
        set_or_remove(&self.pod_health_factor, &labels, g.factor);
        set_or_remove(&self.pod_ledger_delay, &labels, g.ledger_delay_seconds);
        match g.block_lag.and_then(|l| i64::try_from(l).ok()) {
            Some(l) => {
                self.pod_block_lag.get_or_create(&labels).set(l);
            }
            None => {
                self.pod_block_lag.remove(&labels);
            }
        }
        match g.healthy {
            Some(healthy) => {
                self.pod_healthy.get_or_create(&labels).set(i64::from(healthy));
                self.pod_network_stalled
                    .get_or_create(&labels)
                    .set(i64::from(g.network_stalled));
            }
            None => {
                self.pod_healthy.remove(&labels);
                self.pod_network_stalled.remove(&labels);
            }
        }
        for state in SYNC_STATES {
            let l = PodStateLabels {
                namespace: labels.namespace.clone(),
                nodehealth: labels.nodehealth.clone(),
                pod: labels.pod.clone(),
                state: state.1,
            };
            if g.sync_state == Some(state.0) {
                self.pod_sync_state.get_or_create(&l).set(1);
            } else {
                self.pod_sync_state.remove(&l);
            }
        }
    }

    /// How many pods a NodeHealth selects.
    pub fn set_selected(&self, namespace: &str, nodehealth: &str, pods: usize) {
        let labels = NodeHealthLabels {
            namespace: namespace.to_owned(),
            nodehealth: nodehealth.to_owned(),
        };
        // Indexed even without pods, so that it is found when the NodeHealth goes.
        self.index()
            .entry((namespace.to_owned(), nodehealth.to_owned()))
            .or_default();
        self.selected_pods
            .get_or_create(&labels)
            .set(i64::try_from(pods).unwrap_or(i64::MAX));
    }

    /// Removes the per-pod series of this NodeHealth whose pod is not in `keep`.
    pub fn retain_pods(&self, namespace: &str, nodehealth: &str, keep: &[&str]) {
        let key = (namespace.to_owned(), nodehealth.to_owned());
        // A set: a NodeHealth of 10,000 pods made a linear search 50 million comparisons.
        let keep: HashSet<&str> = keep.iter().copied().collect();
        let mut index = self.index();
        let Some(pods) = index.get_mut(&key) else { return };
        pods.retain(|pod| {
            let kept = keep.contains(pod.as_str());
            if !kept {
                self.remove_pod_series(&PodLabels::new(namespace, nodehealth, pod));
            }
            kept
        });
    }

    /// Whether this replica leads `shard` now.
    pub fn set_leader(&self, shard: u32, leading: bool) {
        let labels = ShardLabels {
            shard: shard.to_string(),
        };
        self.leader.get_or_create(&labels).set(i64::from(leading));
    }

    /// Removes every per-pod (and per-NodeHealth) series: a replica that stops leading leaves
    /// them to the leader, so that a fleet's series are exported once, not once per replica.
    pub fn forget_pods(&self) {
        let mut index = self.index();
        for ((namespace, nodehealth), pods) in std::mem::take(&mut *index) {
            self.remove_nodehealth_series(&namespace, &nodehealth, pods);
        }
    }

    /// Removes every per-pod series of a deleted NodeHealth.
    pub fn forget_nodehealth(&self, namespace: &str, nodehealth: &str) {
        let mut index = self.index();
        let pods = index
            .remove(&(namespace.to_owned(), nodehealth.to_owned()))
            .unwrap_or_default();
        self.remove_nodehealth_series(namespace, nodehealth, pods);
    }

    fn remove_nodehealth_series(&self, namespace: &str, nodehealth: &str, pods: BTreeSet<String>) {
        for pod in pods {
            self.remove_pod_series(&PodLabels::new(namespace, nodehealth, &pod));
        }
        self.selected_pods.remove(&NodeHealthLabels {
            namespace: namespace.to_owned(),
            nodehealth: nodehealth.to_owned(),
        });
    }

    /// The OpenMetrics text exposition, `# EOF` included.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        encode(&mut out, &self.registry)?;
        Ok(out)
    }

    fn remove_pod_series(&self, labels: &PodLabels) {
        self.pod_health_factor.remove(labels);
        self.pod_healthy.remove(labels);
        self.pod_ledger_delay.remove(labels);
        self.pod_block_lag.remove(labels);
        self.pod_network_stalled.remove(labels);
        for (_, state) in SYNC_STATES {
            self.pod_sync_state.remove(&PodStateLabels {
                namespace: labels.namespace.clone(),
                nodehealth: labels.nodehealth.clone(),
                pod: labels.pod.clone(),
                state,
            });
        }
    }

    fn index(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), BTreeSet<String>>> {
        // A panic while holding the lock cannot leave the index half-updated (each change is one
        // map operation), so a poisoned index is still accurate.
        self.pods.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Registers a counter family; the encoder appends `_total` to `name`.
/// The verb of a request to the Kubernetes API, from its method and query (a GET with
/// `watch=true` or `watch=1` is a watch; lists are GETs too).
pub fn verb(method: &http::Method, query: Option<&str>) -> &'static str {
    let watching = query.is_some_and(|q| q.split('&').any(|kv| kv == "watch=true" || kv == "watch=1"));
    match *method {
        http::Method::GET if watching => "watch",
        http::Method::GET => "get",
        http::Method::POST => "create",
        http::Method::PATCH => "patch",
        http::Method::PUT => "update",
        http::Method::DELETE => "delete",
        _ => "other",
    }
}

fn counter_family<L>(registry: &mut Registry, name: &str, help: &str) -> Family<L, Counter>
where
    L: EncodeLabelSet + Clone + std::hash::Hash + Eq + std::fmt::Debug + Send + Sync + 'static,
{
    let family = Family::<L, Counter>::default();
    registry.register(name, help, family.clone());
    family
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_of_api_requests() {
        use http::Method;
        assert_eq!(verb(&Method::GET, Some("watch=true&resourceVersion=12")), "watch");
        assert_eq!(verb(&Method::GET, Some("labelSelector=a%3Db")), "get");
        assert_eq!(verb(&Method::GET, None), "get");
        assert_eq!(verb(&Method::PATCH, Some("fieldManager=nodehealth")), "patch");
        assert_eq!(verb(&Method::POST, None), "create");
    }

    fn gauges(factor: Option<f64>, healthy: bool) -> PodGauges {
        PodGauges {
            factor,
            healthy: Some(healthy),
            ..PodGauges::default()
        }
    }

    fn encoded(m: &Metrics) -> String {
        m.encode().unwrap()
    }

    /// Lines of samples (not comments) of metric `name` for pod `pod`.
    fn pod_lines(text: &str, name: &str, pod: &str) -> Vec<String> {
        let needle = format!("pod=\"{pod}\"");
        text.lines()
            .filter(|l| l.starts_with(name) && l.contains(&needle))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Metrics>();
    }

    #[test]
    fn encodes_names_labels_and_eof() {
        let m = Metrics::new();
        m.observe_reconcile("ok", 0.2);
        m.observe_reconcile("KubeApi", 1.5);
        m.observe_probe("health", "ok", 0.0012);
        m.observe_probe("metrics", "Timeout", 3.0);
        m.observe_status_write("ok");
        m.set_pod("ns", "validators", "v-0", &gauges(Some(0.75), true));
        let text = encoded(&m);
        for expected in [
            r#"nodehealth_reconciles_total{result="ok"} 1"#,
            r#"nodehealth_reconciles_total{result="KubeApi"} 1"#,
            "# TYPE nodehealth_reconcile_duration_seconds histogram",
            "# UNIT nodehealth_reconcile_duration_seconds seconds",
            "nodehealth_reconcile_duration_seconds_count 2",
            r#"nodehealth_reconcile_duration_seconds_bucket{le="60.0"} 2"#,
            r#"nodehealth_probes_total{endpoint="health",result="ok"} 1"#,
            r#"nodehealth_probes_total{endpoint="metrics",result="Timeout"} 1"#,
            r#"nodehealth_probe_duration_seconds_bucket{le="0.0025",endpoint="health"} 1"#,
            r#"nodehealth_probe_duration_seconds_bucket{le="0.001",endpoint="health"} 0"#,
            r#"nodehealth_probe_duration_seconds_count{endpoint="metrics"} 1"#,
            r#"nodehealth_status_writes_total{result="ok"} 1"#,
            r#"nodehealth_pod_health_factor{namespace="ns",nodehealth="validators",pod="v-0"} 0.75"#,
            r#"nodehealth_pod_healthy{namespace="ns",nodehealth="validators",pod="v-0"} 1"#,
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn parses_as_prometheus_text() {
        let m = Metrics::new();
        m.observe_probe("health", "ok", 0.01);
        m.set_pod("ns", "nh", "p", &gauges(Some(1.0), true));
        let text = encoded(&m);
        let lines = text.lines().map(|l| Ok(l.to_owned()));
        let scrape = prometheus_parse::Scrape::parse(lines).unwrap();
        assert!(
            scrape
                .samples
                .iter()
                .any(|s| s.metric == "nodehealth_pod_health_factor")
        );
    }

    #[test]
    fn factor_none_removes_the_factor_but_keeps_healthy() {
        let m = Metrics::new();
        m.set_pod("ns", "nh", "p", &gauges(Some(0.5), true));
        m.set_pod("ns", "nh", "p", &gauges(None, false));
        let text = encoded(&m);
        assert!(
            pod_lines(&text, "nodehealth_pod_health_factor", "p").is_empty(),
            "{text}"
        );
        assert_eq!(
            pod_lines(&text, "nodehealth_pod_healthy", "p"),
            vec![r#"nodehealth_pod_healthy{namespace="ns",nodehealth="nh",pod="p"} 0"#]
        );
    }

    #[test]
    fn a_pod_no_longer_probed_has_no_healthy_or_stalled_series() {
        let m = Metrics::new();
        m.set_pod("ns", "nh", "p", &gauges(Some(0.2), false));
        assert_eq!(pod_lines(&encoded(&m), "nodehealth_pod_healthy", "p").len(), 1);
        m.set_pod("ns", "nh", "p", &PodGauges::default());
        let text = encoded(&m);
        for name in ["nodehealth_pod_healthy", "nodehealth_pod_network_stalled"] {
            assert!(pod_lines(&text, name, "p").is_empty(), "{name}: {text}");
        }
    }

    #[test]
    fn retain_pods_removes_pods_that_are_gone() {
        let m = Metrics::new();
        for pod in ["a", "b", "c"] {
            m.set_pod("ns", "nh", pod, &gauges(Some(1.0), true));
        }
        m.set_pod("other", "nh", "b", &gauges(Some(1.0), true));
        m.retain_pods("ns", "nh", &["a", "c"]);
        let text = encoded(&m);
        // Factor, healthy, network stalled.
        assert_eq!(pod_lines(&text, "nodehealth_pod_", "a").len(), 3);
        assert_eq!(pod_lines(&text, "nodehealth_pod_", "c").len(), 3);
        let b: Vec<_> = pod_lines(&text, "nodehealth_pod_", "b");
        assert_eq!(b.len(), 3, "only namespace other's b remains: {b:?}");
        assert!(b.iter().all(|l| l.contains(r#"namespace="other""#)));

        m.retain_pods("ns", "nh", &[]);
        let text = encoded(&m);
        assert!(pod_lines(&text, "nodehealth_pod_", "a").is_empty());
        assert!(
            m.index()
                .get(&("ns".to_owned(), "nh".to_owned()))
                .is_some_and(BTreeSet::is_empty),
            "kept until the NodeHealth goes, for its selected_pods series"
        );
        m.retain_pods("nowhere", "nh", &[]);
    }

    #[test]
    fn forget_nodehealth_removes_only_its_series() {
        let m = Metrics::new();
        m.set_pod("ns", "nh", "a", &gauges(Some(0.1), false));
        m.set_pod("ns", "nh", "b", &gauges(None, true));
        m.set_pod("ns", "keep", "a", &gauges(Some(0.9), true));
        m.forget_nodehealth("ns", "nh");
        let text = encoded(&m);
        assert!(!text.contains(r#"nodehealth="nh""#), "{text}");
        assert_eq!(pod_lines(&text, "nodehealth_pod_", "a").len(), 3);
        m.forget_nodehealth("ns", "nh");
    }

    #[test]
    fn a_pods_sync_state_figures_and_selection_follow_its_verdict() {
        let m = Metrics::new();
        m.set_selected("ns", "nh", 1);
        let lagging = PodGauges {
            factor: Some(0.2),
            healthy: Some(false),
            sync_state: Some(SyncState::Syncing),
            ledger_delay_seconds: Some(120.5),
            block_lag: Some(40),
            network_stalled: false,
        };
        m.set_pod("ns", "nh", "p", &lagging);
        let stalled = PodGauges {
            sync_state: Some(SyncState::OutOfSync),
            ledger_delay_seconds: None,
            network_stalled: true,
            ..lagging
        };
        m.set_pod("ns", "nh", "p", &stalled);
        let text = encoded(&m);
        let labels = r#"{namespace="ns",nodehealth="nh",pod="p""#;
        for expected in [
            format!("nodehealth_pod_sync_state{labels},state=\"OutOfSync\"}} 1"),
            format!("nodehealth_pod_block_lag{labels}}} 40"),
            format!("nodehealth_pod_network_stalled{labels}}} 1"),
            r#"nodehealth_selected_pods{namespace="ns",nodehealth="nh"} 1"#.to_owned(),
            format!(
                "nodehealth_build_info{{version=\"{}\",commit=",
                env!("CARGO_PKG_VERSION")
            ),
        ] {
            assert!(text.contains(&expected), "missing {expected:?} in\n{text}");
        }
        assert!(!text.contains("state=\"Syncing\""), "the old state stays: {text}");
        assert!(
            !text.contains("nodehealth_pod_ledger_delay_seconds{"),
            "a stale delay: {text}"
        );
        m.forget_pods();
        let text = encoded(&m);
        assert!(!text.contains(r#"nodehealth="nh""#), "a standby keeps series: {text}");
    }

    #[test]
    fn api_requests_count_by_verb_and_status() {
        let m = Metrics::new();
        m.observe_kube_request("patch", Some(200));
        m.observe_kube_request("patch", Some(409));
        m.observe_kube_request("get", None);
        let text = encoded(&m);
        for expected in [
            r#"nodehealth_kube_requests_total{verb="patch",code="200"} 1"#,
            r#"nodehealth_kube_requests_total{verb="patch",code="409"} 1"#,
            r#"nodehealth_kube_requests_total{verb="get",code="error"} 1"#,
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
    }
}
