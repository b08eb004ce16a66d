//! The `NodeHealth` resource (`nodehealths.nodehealth.io/v1alpha1`): a health policy over a
//! set of validator pods in one namespace. The CRD YAML is generated from these types
//! (`nodehealth crd`); every field's doc comment becomes its `kubectl explain` text.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

mod access;
pub mod duration;
mod remediation;
mod schema;
mod status;
use crate::assess::Params;
use crate::chains::Profile;
pub use access::*;
pub use remediation::*;
pub use status::*;

/// A health policy over validator pods: which pods, how to probe them, the thresholds of the
/// health rules, and what to do about a validator that stays unhealthy.
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
    printcolumn = r#"{"name":"Status","type":"string","description":"Worst pod status","jsonPath":".status.worstStatus"}"#,
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
    /// Which chain the validators run, and so which formats they speak: `radix`
    /// (`/system/health` and the node's `rn_*` Prometheus metrics), `zksync` (the component
    /// health model at `/health`), `cometbft` (RPC `/status`, `/net_info`), `ethereum` (the
    /// Beacon API's `/eth/v1/node/*`), `solana` (RPC `/health`, `getHealth`, `getSlot`) or
    /// `substrate` (RPC `/health`, `system_syncState`). Sets the requests and default paths of
    /// the probes.
    pub profile: Profile,
    /// What the chain's nodes need said beyond the profile: a metrics namespace, a slot length.
    #[serde(default)]
    pub chain: ChainSpec,
    /// How each selected pod is probed. At least one of `health` and `metrics` must be set.
    pub probe: ProbeSpec,
    /// Thresholds of the health rules; every field has the node's documented default.
    #[serde(default)]
    pub assessment: AssessmentSpec,
    /// What to do about a validator that stays unhealthy: cordon its node, restart it. Absent
    /// or without actions: observe only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<RemediationSpec>,
}

/// Settings of the chain that its nodes' answers do not carry.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChainSpec {
    /// cometbft: the namespace (prefix) of the node's Prometheus metrics, as set by
    /// `instrumentation.namespace` in its `config.toml`. Omitted: `cometbft`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = "^[a-zA-Z_][a-zA-Z0-9_]*$"))]
    pub metrics_namespace: Option<String>,
    /// ethereum: the length of a slot, e.g. `12s` (mainnet's `SECONDS_PER_SLOT`); a node's
    /// `sync_distance` in slots is that many times behind. Omitted: `12s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = duration::PATTERN))]
    pub slot_duration: Option<String>,
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
    /// `HTTP` (default) or `HTTPS`. HTTPS certificates are verified as `probe.tls` says: by
    /// default against the operator's system CAs, for the pod's IP.
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
    pub health: Option<EndpointSpec>,
    /// The Prometheus metrics endpoint. Omit it to judge by the health endpoint alone (no health factor then).
    /// A profile that reads no metrics (solana) never probes it, and the Ready condition says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<EndpointSpec>,
    /// ethereum: the execution client's JSON-RPC (port 8545 by default; path `/`), asked
    /// `eth_syncing`, when it runs in the same pod as the beacon node. Optional: when it does
    /// not answer, the pod's row says so, but the pod is not unreachable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<EndpointSpec>,
    /// How often each pod is probed, from `1s` to `1h`, e.g. `15s`.
    #[serde(default = "default_period")]
    #[schemars(regex(pattern = duration::PATTERN))]
    pub period: String,
    /// How long a probe may take, body included, from `1s` to `60s`.
    #[serde(default = "default_timeout")]
    #[schemars(regex(pattern = duration::PATTERN))]
    pub timeout: String,
    /// Consecutive probes with no answer before a pod counts as unreachable.
    #[serde(default = "default_failure_threshold")]
    #[schemars(range(min = 1, max = 100))]
    pub failure_threshold: u32,
    /// Consecutive answered probes before an unreachable pod counts as reachable again.
    #[serde(default = "default_success_threshold")]
    #[schemars(range(min = 1, max = 100))]
    pub success_threshold: u32,
    /// How the certificates of the `HTTPS` endpoints are verified: a CA file, the name to
    /// verify, or no verification at all. Set only with an `HTTPS` endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSpec>,
    /// Path, in the operator's container, of a file holding a bearer token sent with every
    /// request as `Authorization: Bearer <token>` (e.g. from a Secret mounted into the operator,
    /// or a projected service account token). Surrounding whitespace is trimmed. Read again when
    /// the file changes, so a rotated token is used from the next probe on. A file the operator
    /// cannot read stalls the policy (reason `InvalidBearerTokenFile`). Over `HTTP` the token
    /// crosses the pod network in clear: prefer `HTTPS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_file: Option<String>,
    /// Extra HTTP headers sent with every request, at most 32, each name once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub headers: Vec<HttpHeader>,
}

fn default_period() -> String {
    "15s".to_owned()
}
fn default_timeout() -> String {
    "3s".to_owned()
}
fn default_failure_threshold() -> u32 {
    3
}
fn default_success_threshold() -> u32 {
    1
}

/// Thresholds of the health rules. Every field has the default the Radix node-health document
/// and the zksync health model suggest; set only what your network needs otherwise.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssessmentSpec {
    /// A pod whose health factor is below this is `Affected` (degraded, still healthy).
    #[serde(default = "default_degraded_below")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub degraded_below: f64,
    /// A pod whose health factor is below this is `NotReady` (unhealthy). At most `degradedBelow`.
    #[serde(default = "default_unhealthy_below")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub unhealthy_below: f64,
    /// A ledger less than this far behind the node's clock is synced, e.g. `60s`.
    #[serde(default = "default_synced_delay")]
    #[schemars(regex(pattern = duration::PATTERN))]
    pub synced_delay: String,
    /// The health factor's floor: a node behind real time that progresses (ledger seconds per
    /// real second) at or below this rate gets a factor of 0, as in the Radix heuristic. It does
    /// not decide whether the node is syncing: any node progressing faster than real time (rate
    /// above 1.0) is Syncing, as the Radix node-health document says.
    #[serde(default = "default_min_progress_rate")]
    #[schemars(range(min = 0.0))]
    pub min_progress_rate: f64,
    /// The health factor's ceiling: a node behind real time that progresses at or above this
    /// rate gets a factor of 1. Above `minProgressRate`.
    #[serde(default = "default_max_progress_rate")]
    #[schemars(range(min = 0.0))]
    pub max_progress_rate: f64,
    /// Blocks a node may be behind its target (zksync: the main node's block) and still count
    /// as Synced. Further behind, the operator watches the gap over `observedRateWindow`:
    /// closing, the node is Syncing; not closing (its block not moving, or moving no faster
    /// than the main node's), it is OutOfSync.
    #[serde(default = "default_max_block_lag")]
    pub max_block_lag: u32,
    /// Blocks (slots) a pod may be behind the highest of its fleet (the pods of this policy that
    /// answered and are not syncing) before it is OutOfSync, whatever it says of itself. Omitted:
    /// the profile's default, about a minute of blocks (zksync 60, cometbft 10, ethereum 5,
    /// solana 150, substrate 10; radix is judged by ledger time instead). `0`: not judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_height_lag: Option<u32>,
    /// Recent missed proposals that make a validator critically unhealthy (health factor 0).
    #[serde(default = "default_critical_missed_proposals")]
    #[schemars(range(min = 1.0))]
    pub critical_missed_proposals: f64,
    /// How long the operator watches a ledger to measure its progress itself, from `10s` to
    /// `24h`.
    #[serde(default = "default_observed_rate_window")]
    #[schemars(regex(pattern = duration::PATTERN))]
    pub observed_rate_window: String,
    /// Largest tolerated difference between a node's clock and the operator's.
    #[serde(default = "default_max_clock_skew")]
    #[schemars(regex(pattern = duration::PATTERN))]
    pub max_clock_skew: String,
    /// How far in the past a proposal's timestamp may be, relative to this node's clock, before
    /// the node's clock counts as rushing (Radix consensus:
    /// `MAX_ACCEPTABLE_PROPOSAL_TIMESTAMP_DELAY_MS`, 30 s).
    #[serde(default = "default_max_proposal_timestamp_delay")]
    #[schemars(regex(pattern = duration::PATTERN))]
    pub max_proposal_timestamp_delay: String,
    /// How far in the future a proposal's timestamp may be, relative to this node's clock, before
    /// the node's clock counts as delayed (Radix consensus:
    /// `MAX_ACCEPTABLE_PROPOSAL_TIMESTAMP_RUSH_MS`, 2 s).
    #[serde(default = "default_max_proposal_timestamp_rush")]
    #[schemars(regex(pattern = duration::PATTERN))]
    pub max_proposal_timestamp_rush: String,
}

impl Default for AssessmentSpec {
    fn default() -> Self {
        AssessmentSpec {
            degraded_below: default_degraded_below(),
            unhealthy_below: default_unhealthy_below(),
            synced_delay: default_synced_delay(),
            min_progress_rate: default_min_progress_rate(),
            max_progress_rate: default_max_progress_rate(),
            max_block_lag: default_max_block_lag(),
            max_height_lag: None,
            critical_missed_proposals: default_critical_missed_proposals(),
            observed_rate_window: default_observed_rate_window(),
            max_clock_skew: default_max_clock_skew(),
            max_proposal_timestamp_delay: default_max_proposal_timestamp_delay(),
            max_proposal_timestamp_rush: default_max_proposal_timestamp_rush(),
        }
    }
}

// The defaults are `assess::Params::default()`, where each says where its value comes from.
fn default_degraded_below() -> f64 {
    Params::default().degraded_below
}
fn default_unhealthy_below() -> f64 {
    Params::default().unhealthy_below
}
fn default_synced_delay() -> String {
    seconds(Params::default().synced_delay_seconds)
}
fn default_min_progress_rate() -> f64 {
    Params::default().min_progress_rate
}
fn default_max_progress_rate() -> f64 {
    Params::default().max_progress_rate
}
fn default_max_block_lag() -> u32 {
    // 60 blocks (whole) in `Params`: the conversion cannot truncate.
    Params::default().max_block_lag as u32
}
fn default_critical_missed_proposals() -> f64 {
    Params::default().critical_missed_proposals
}
fn default_observed_rate_window() -> String {
    seconds(Params::default().observed_rate_window_seconds)
}
fn default_max_clock_skew() -> String {
    seconds(Params::default().max_clock_skew_seconds)
}
fn default_max_proposal_timestamp_delay() -> String {
    seconds(-Params::default().proposal_timestamp_min_seconds)
}
fn default_max_proposal_timestamp_rush() -> String {
    seconds(Params::default().proposal_timestamp_max_seconds)
}
/// Whole, non-negative seconds (every default above is) as the spec writes them.
fn seconds(s: f64) -> String {
    duration::show(std::time::Duration::from_secs(s as u64))
}

/// The CRD as `nodehealth crd` prints it and `crds/` holds it.
pub fn crd() -> CustomResourceDefinition {
    use kube::CustomResourceExt;
    let mut crd = NodeHealth::crd();
    for v in &mut crd.spec.versions {
        if let Some(s) = v.schema.as_mut().and_then(|s| s.open_api_v3_schema.as_mut()) {
            schema::not_nullable(s);
        }
    }
    crd
}

/// The CRD as YAML.
pub fn crd_yaml() -> Result<String, serde_yaml::Error> {
    serde_yaml::to_string(&crd())
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

    /// `kubectl explain` shows these descriptions: they must read as user documentation, and
    /// every default must be in the schema, where `kubectl explain` and editors see it.
    #[test]
    fn the_schema_reads_as_user_documentation_with_its_defaults() {
        let crd = serde_json::to_value(crd()).unwrap();
        let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        let text = schema.to_string();
        for leak in [
            "Ord",
            "wrapper around time.Time",
            "nullable",
            "(later)",
            "Rust",
            "zksync vocabulary",
            "Option<",
        ] {
            assert!(!text.contains(leak), "the schema's documentation says {leak:?}");
        }
        let spec = &schema["properties"]["spec"];
        fn walk(path: &str, s: &serde_json::Value, missing: &mut Vec<String>) {
            for (k, v) in s["properties"].as_object().into_iter().flatten() {
                let here = format!("{path}.{k}");
                if v["description"].as_str().is_none_or(str::is_empty) {
                    missing.push(here.clone());
                }
                walk(&here, v, missing);
                walk(&here, &v["items"], missing);
            }
        }
        let mut missing = Vec::new();
        walk("spec", spec, &mut missing);
        // The selector's fields are Kubernetes' own LabelSelector, documented by Kubernetes.
        missing.retain(|m| !m.starts_with("spec.selector."));
        assert_eq!(missing, Vec::<String>::new(), "fields without a description");
        let assessment = &spec["properties"]["assessment"]["properties"];
        for (field, prop) in assessment.as_object().unwrap() {
            // The one default that depends on the profile: documented in its description.
            if field == "maxHeightLag" {
                continue;
            }
            assert!(
                prop.get("default").is_some(),
                "assessment.{field} has no default in the schema"
            );
        }
        for (field, default) in [("period", "15s"), ("timeout", "3s")] {
            assert_eq!(spec["properties"]["probe"]["properties"][field]["default"], default);
        }
        let remediation = &spec["properties"]["remediation"]["properties"];
        for (field, default) in [
            ("healthyFor", "2m"),
            ("startupGrace", "10m"),
            ("minInterval", "10m"),
            ("restartWindow", "24h"),
        ] {
            assert_eq!(remediation[field]["default"], default, "{field}");
            assert_eq!(remediation[field]["pattern"], duration::PATTERN, "{field}");
        }
        assert!(text.contains("\"Ready\",\"Affected\",\"ShuttingDown\",\"ShutDown\",\"NotReady\",\"Panicked\""));
    }

    #[test]
    fn minimal_spec_takes_defaults() {
        let spec: NodeHealthSpec = serde_json::from_value(serde_json::json!({
            "selector": {"matchLabels": {"app": "validator"}},
            "profile": "radix",
            "probe": {"metrics": {"port": "metrics"}}
        }))
        .unwrap();
        assert_eq!(spec.probe.period, "15s");
        assert_eq!(spec.probe.timeout, "3s");
        assert_eq!(spec.assessment, AssessmentSpec::default());
        assert_eq!(spec.assessment.observed_rate_window, "5m");
        assert_eq!(spec.assessment.max_proposal_timestamp_delay, "30s");
        assert_eq!(spec.probe.failure_threshold, 3);
        assert_eq!(spec.probe.metrics.unwrap().scheme, Scheme::Http);
        assert!(spec.probe.health.is_none());
    }
}
