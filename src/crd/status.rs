//! `status` of a NodeHealth: what the operator last saw of the selected pods, in the CRD's
//! words (Kubernetes conventions: CamelCase statuses).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::RemediationStatus;
use super::schema::{no_defaults, time};
use crate::model::{Network, Status, SyncState};

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
    /// The worst status among the selected pods, from best to worst `Ready`, `Affected`,
    /// `ShuttingDown`, `ShutDown`, `NotReady`, `Panicked` (`Ready` and `Affected` are healthy);
    /// absent when no pod is selected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worst_status: Option<PodStatus>,
    /// The lowest pod health factor (0.0 critically unhealthy to 1.0 healthy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_factor: Option<f64>,
    /// Per-pod verdicts, worst first; at most `--max-status-pods` entries (counts stay exact).
    #[serde(default)]
    pub pods: Vec<PodHealth>,
    /// When the figures in `pods` were last refreshed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "time")]
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
    /// The pod's status: `Ready`, `Affected` (healthy, with a non-fatal issue such as a health
    /// factor below `degradedBelow`), `ShuttingDown`, `ShutDown`, `NotReady` (unreachable, out of
    /// sync, or a factor below `unhealthyBelow`) or `Panicked`.
    pub status: PodStatus,
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
    /// Why the pod was not probed: `Pending`, `NoPodIP` (running without an IP yet),
    /// `Terminating`, `Succeeded`, `Failed`, `Unknown` (its node stopped reporting) or
    /// `PortNotDeclared` (it does not declare the policy's port). Such a pod is listed but is no
    /// verdict on its validator: it does not count among the unhealthy pods of `maxUnhealthy`
    /// and opens no incident. Absent when it was probed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_probed: Option<NotProbed>,
    /// Since when the pod has been continuously unhealthy (kept while it is not probed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "time")]
    pub unhealthy_since: Option<Time>,
    /// Why, in plain words.
    #[serde(default)]
    pub reasons: Vec<String>,
}

// A pod's status, from best to worst. Documented on the fields (a `///` here would replace the
// description of an optional field in the published schema).
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema)]
pub enum PodStatus {
    /// Fully operational.
    Ready,
    /// Operational, with a non-fatal issue (e.g. a health factor below `degradedBelow`).
    Affected,
    /// Stopping gracefully.
    ShuttingDown,
    /// Stopped.
    ShutDown,
    /// Not (yet) able to serve: unreachable, out of sync, or a health factor below
    /// `unhealthyBelow`.
    NotReady,
    /// Crashed.
    Panicked,
}

// Why a selected pod was not probed. Documented on the field (see `PodStatus`).
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum NotProbed {
    /// Not scheduled or not started yet.
    Pending,
    /// Running without a pod IP yet.
    #[serde(rename = "NoPodIP")]
    NoPodIp,
    /// Being deleted.
    Terminating,
    /// Its containers exited and will not restart.
    Succeeded,
    /// Its containers failed and will not restart.
    Failed,
    /// Its node stopped reporting.
    Unknown,
    /// It does not declare the policy's port.
    PortNotDeclared,
}

impl std::fmt::Display for NotProbed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NotProbed::Pending => "Pending",
            NotProbed::NoPodIp => "NoPodIP",
            NotProbed::Terminating => "Terminating",
            NotProbed::Succeeded => "Succeeded",
            NotProbed::Failed => "Failed",
            NotProbed::Unknown => "Unknown",
            NotProbed::PortNotDeclared => "PortNotDeclared",
        })
    }
}

/// The status vocabulary of the CRD (Kubernetes conventions: CamelCase) for the zksync words
/// the health model reasons in, and back.
impl From<Status> for PodStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Ready => PodStatus::Ready,
            Status::Affected => PodStatus::Affected,
            Status::ShuttingDown => PodStatus::ShuttingDown,
            Status::ShutDown => PodStatus::ShutDown,
            Status::NotReady => PodStatus::NotReady,
            Status::Panicked => PodStatus::Panicked,
        }
    }
}

impl PodStatus {
    /// `Ready` and `Affected` are healthy; everything else is not.
    pub fn is_healthy(self) -> bool {
        Status::from(self).is_healthy()
    }
}

impl std::fmt::Display for PodStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

impl From<PodStatus> for Status {
    fn from(s: PodStatus) -> Self {
        match s {
            PodStatus::Ready => Status::Ready,
            PodStatus::Affected => Status::Affected,
            PodStatus::ShuttingDown => Status::ShuttingDown,
            PodStatus::ShutDown => Status::ShutDown,
            PodStatus::NotReady => Status::NotReady,
            PodStatus::Panicked => Status::Panicked,
        }
    }
}
