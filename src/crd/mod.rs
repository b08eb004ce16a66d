//! The `NodeHealth` resource (`nodehealths.nodehealth.io/v1alpha1`): a health policy over a
//! set of validator pods in one namespace. The CRD YAML is generated from these types
//! (`nodehealth crd`); every field's doc comment becomes its `kubectl explain` text.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

mod remediation;
use crate::chains::Profile;
use crate::model::{Network, Status, SyncState};
pub use remediation::*;

/// A health policy over validator pods: which pods, how to probe them, the thresholds of the
/// health rules, and (later) what to do about an unhealthy validator.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "nodehealth.io",
    version = "v1alpha1",
    kind = "NodeHealth",
    plural = "nodehealths",
    namespaced,
    shortname = "nh",
    category = "nodehealth",
    status = "NodeHealthStatus",
    doc = "A health policy over validator pods: nodehealth probes them, writes a verdict and a health factor into status.",
    printcolumn = r#"{"name":"Ready","type":"string","description":"Healthy/total selected pods","jsonPath":".status.ready"}"#,
    printcolumn = r#"{"name":"Status","type":"string","description":"Worst pod status","jsonPath":".status.status"}"#,
    printcolumn = r#"{"name":"Factor","type":"number","description":"Lowest pod health factor","jsonPath":".status.healthFactor"}"#,
    printcolumn = r#"{"name":"Healthy","type":"string","jsonPath":".status.conditions[?(@.type==\"Healthy\")].status"}"#,
    printcolumn = r#"{"name":"Policy","type":"string","description":"Enforced, or why the policy is not (the Ready condition's reason)","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Message","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Healthy\")].message"}"#,
    printcolumn = r#"{"name":"Last-Remediation","type":"string","priority":1,"jsonPath":".status.remediation.lastRemediation.summary"}"#,
    printcolumn = r#"{"name":"Shard","type":"integer","priority":1,"description":"Operator shard handling it","jsonPath":".status.shard"}"#,
    printcolumn = r#"{"name":"Leader","type":"string","priority":1,"description":"Operator replica that wrote the status","jsonPath":".status.leader"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct NodeHealthSpec {
    /// Selects the validator pods this policy watches, in the policy's own namespace. It must
    /// not be empty: an empty selector would select every pod of the namespace.
    pub selector: LabelSelector,
    /// Which formats the validators speak: `radix` (`/system/health` and the node's `rn_*`
    /// Prometheus metrics) or `zksync` (the component health model at `/health`). Sets the
    /// default paths of the probes.
    pub profile: Profile,
    /// How each selected pod is probed. At least one of `health` and `metrics` must be set.
    pub probe: ProbeSpec,
    /// Thresholds of the health rules; every field has the node's documented default.
    #[serde(default)]
    pub assessment: AssessmentSpec,
    /// What to do about a validator that stays unhealthy: cordon its node, restart it. Absent
    /// or without actions: observe only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    // Not `nullable` in the schema (`with` the inner type): the 1.20 API server leaves nullable
    // objects out of its OpenAPI, and `kubectl explain` showed `<>`. A `null` is pruned.
    #[schemars(with = "RemediationSpec")]
    pub remediation: Option<RemediationSpec>,
}

/// How to reach one endpoint of a pod: always the pod's own IP, at a declared port.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointSpec {
    /// The port: a number, or the name of a container port of the pod (resolved per pod, as
    /// the kubelet resolves probe ports).
    pub port: IntOrString,
    /// The HTTP path. Defaults to the profile's path (radix: `/system/health`,
    /// `/prometheus/metrics`; zksync: `/health`, `/metrics`). Must start with `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `HTTP` (default) or `HTTPS`. HTTPS certificates are not verified, as kubelet probes do not verify them.
    #[serde(default)]
    pub scheme: Scheme,
}

/// The scheme of a probe.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Scheme {
    #[default]
    Http,
    Https,
}

/// How and how often the pods are probed.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProbeSpec {
    /// The health endpoint. Omit it to judge by metrics alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "EndpointSpec")]
    pub health: Option<EndpointSpec>,
    /// The Prometheus metrics endpoint. Omit it to judge by the health endpoint alone (no health factor then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "EndpointSpec")]
    pub metrics: Option<EndpointSpec>,
    /// Seconds between two probes of a pod. Default 15.
    #[serde(default = "default_period")]
    #[schemars(range(min = 1, max = 3600))]
    pub period_seconds: u32,
    /// Seconds a probe may take, body included. Default 3.
    #[serde(default = "default_timeout")]
    #[schemars(range(min = 1, max = 60))]
    pub timeout_seconds: u32,
    /// Consecutive probes with no answer before a pod counts as unreachable. Default 3.
    #[serde(default = "default_failure_threshold")]
    #[schemars(range(min = 1, max = 100))]
    pub failure_threshold: u32,
    /// Consecutive answered probes before an unreachable pod counts as reachable again. Default 1.
    #[serde(default = "default_success_threshold")]
    #[schemars(range(min = 1, max = 100))]
    pub success_threshold: u32,
}

fn default_period() -> u32 {
    15
}
fn default_timeout() -> u32 {
    3
}
fn default_failure_threshold() -> u32 {
    3
}
fn default_success_threshold() -> u32 {
    1
}

/// Thresholds of the health rules. Omitted fields take the documented defaults.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssessmentSpec {
    /// A pod whose health factor is below this is `affected` (degraded). Default 0.8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub degraded_below: Option<f64>,
    /// A pod whose health factor is below this is `not_ready` (unhealthy). Default 0.5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub unhealthy_below: Option<f64>,
    /// A ledger less than this many seconds behind real time is synced. Default 60.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1.0))]
    pub synced_delay_seconds: Option<f64>,
    /// The health factor's floor: a node behind real time that progresses (ledger seconds per
    /// real second) at or below this rate gets a factor of 0. Default 10, as in the Radix
    /// heuristic. It does not decide whether the node is syncing: any node progressing faster
    /// than real time (rate above 1.0) is Syncing, as the Radix node-health document says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub min_progress_rate: Option<f64>,
    /// The health factor's ceiling: a node behind real time that progresses at or above this
    /// rate gets a factor of 1. Default 50.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub max_progress_rate: Option<f64>,
    /// Blocks a node may be behind its target (zksync: the main node's block) and still count
    /// as Synced. Further behind, the operator watches the gap over `observedRateWindowSeconds`:
    /// closing, the node is Syncing; not closing (its block not moving, or moving no faster
    /// than the main node's), it is OutOfSync. Default 60.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_block_lag: Option<u32>,
    /// Recent missed proposals that make a validator critically unhealthy. Default 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1.0))]
    pub critical_missed_proposals: Option<f64>,
    /// Seconds over which the operator measures ledger progress itself. Default 300.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 10.0, max = 86400.0))]
    pub observed_rate_window_seconds: Option<f64>,
    /// Largest tolerated difference between a node's clock and the operator's, in seconds. Default 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub max_clock_skew_seconds: Option<f64>,
    /// Lower bound of the accepted proposal timestamp difference, in seconds. Default -30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposal_timestamp_min_seconds: Option<f64>,
    /// Upper bound of the accepted proposal timestamp difference, in seconds. Default 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposal_timestamp_max_seconds: Option<f64>,
}

/// What the operator last saw of the selected pods.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = no_defaults)]
pub struct NodeHealthStatus {
    /// The generation of the spec this status reflects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Healthy/total selected pods, e.g. `3/4`.
    #[serde(default)]
    pub ready: String,
    /// Pods selected.
    #[serde(default)]
    pub total_pods: u32,
    /// Selected pods that are healthy.
    #[serde(default)]
    pub healthy_pods: u32,
    /// The worst pod status, in the zksync vocabulary (`ready` when no pod is selected).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// The lowest pod health factor (0.0 critically unhealthy to 1.0 healthy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_factor: Option<f64>,
    /// Per-pod verdicts, worst first; at most `--max-status-pods` entries (counts stay exact).
    #[serde(default)]
    pub pods: Vec<PodHealth>,
    /// When the figures in `pods` were last refreshed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_probe_time: Option<Time>,
    /// Remediation timers and records (only with `spec.remediation`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<RemediationStatus>,
    /// The operator shard that handles this NodeHealth (`--shard`, from a hash of its UID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<u32>,
    /// The operator replica (pod name) that leads that shard and wrote this status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<String>,
    /// `Ready` (the policy is valid and enforced), `Reconciling`, `Stalled` (invalid spec),
    /// `Healthy` (every selected pod is healthy) and, with remediation, `RemediationAllowed`
    /// and `Remediating`.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// The verdict on one pod.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = no_defaults)]
pub struct PodHealth {
    /// Pod name.
    pub name: String,
    /// Node the pod runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The pod's status, in the zksync vocabulary.
    pub status: Status,
    /// Synced, Syncing, OutOfSync, Booting, Unreachable or Unknown.
    pub sync_state: SyncState,
    /// The health factor computed by the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_factor: Option<f64>,
    /// The health factor the node reports about itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported_health_factor: Option<f64>,
    /// The ledger's height (Radix: state version; zksync: local L2 block).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_version: Option<f64>,
    /// The height the node's peers (Radix) or main node (zksync) announce; not validated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_state_version: Option<f64>,
    /// Blocks behind the target (zksync: behind the main node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_lag: Option<u64>,
    /// Seconds the ledger's time is behind the node's clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger_delay_seconds: Option<f64>,
    /// Ledger progress per real second, as the operator observed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_progress_rate: Option<f64>,
    /// Recently missed proposals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missed_proposals: Option<f64>,
    /// Whether the node is in the current validator set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_validator_set: Option<bool>,
    /// Whether the network is live by what this node shows: `Live` (it commits), `Stalled`
    /// (its head, as the node's peers or main node announce it, does not move); absent when
    /// not known yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
    /// Since when the pod has been continuously unhealthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unhealthy_since: Option<Time>,
    /// Why, in plain words.
    #[serde(default)]
    pub reasons: Vec<String>,
}

/// Status is written by the operator alone: defaults there serve nobody, and the 1.20 API
/// server rejects a status schema whose string field defaults to `""`.
fn no_defaults(schema: &mut schemars::Schema) {
    if let Some(props) = schema.get_mut("properties").and_then(|p| p.as_object_mut()) {
        for prop in props.values_mut() {
            if let Some(obj) = prop.as_object_mut() {
                obj.remove("default");
            }
        }
    }
}

/// The CRD as YAML, as `nodehealth crd` prints it and `crds/` holds it.
pub fn crd_yaml() -> Result<String, serde_yaml::Error> {
    use kube::CustomResourceExt;
    serde_yaml::to_string(&NodeHealth::crd())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_in_crd_is_current() {
        let generated = crd_yaml().unwrap();
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/crds/nodehealth.io_nodehealths.yaml");
        let on_disk = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            on_disk == generated,
            "crds/nodehealth.io_nodehealths.yaml is stale: run `cargo run -q --bin nodehealth -- crd > crds/nodehealth.io_nodehealths.yaml && cp crds/nodehealth.io_nodehealths.yaml charts/nodehealth-operator/files/`"
        );
    }

    #[test]
    fn minimal_spec_takes_defaults() {
        let spec: NodeHealthSpec = serde_json::from_value(serde_json::json!({
            "selector": {"matchLabels": {"app": "validator"}},
            "profile": "radix",
            "probe": {"metrics": {"port": "metrics"}}
        }))
        .unwrap();
        assert_eq!(spec.probe.period_seconds, 15);
        assert_eq!(spec.probe.timeout_seconds, 3);
        assert_eq!(spec.probe.failure_threshold, 3);
        assert_eq!(spec.probe.metrics.unwrap().scheme, Scheme::Http);
        assert!(spec.probe.health.is_none());
    }
}
