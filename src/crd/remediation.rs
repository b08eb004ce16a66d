//! `spec.remediation` and `status.remediation`: what the operator may do about an unhealthy
//! validator, and the timers and records that make its actions survive a restart of the
//! operator without being reset or repeated.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Durations are written as Kubernetes and Flux users write them: `90s`, `5m`, `1h30m`.
const DURATION_PATTERN: &str = "^([0-9]+h)?([0-9]+m)?([0-9]+s)?$";

/// What to do about a validator that stays unhealthy. Every action is gated: when in doubt the
/// operator does not act, and says why in the `RemediationAllowed` condition and in events.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemediationSpec {
    /// The escalation ladder, in order: each step acts once the pod has been unhealthy for its
    /// `after`, counted from the start of the incident. Empty (the default): observe only.
    #[serde(default)]
    pub actions: Vec<RemediationStep>,
    /// How long a pod must stay healthy before its incident ends (its unhealthy timer and ladder
    /// reset, and a node cordoned for it is uncordoned). Guards against flapping. Default `2m`.
    #[serde(default = "default_healthy_for")]
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub healthy_for: String,
    /// No action on a pod that started less than this many seconds ago: booting validators sync
    /// for a long time. Default 600.
    #[serde(default = "default_startup_grace")]
    #[schemars(range(max = 86400))]
    pub startup_grace_seconds: u32,
    /// The most unhealthy pods at once for which the operator still acts: a count (`1`) or a
    /// percentage of the selected pods (`"20%"`, rounded down). When more pods are unhealthy,
    /// it is probably the network, a chain halt or the probing itself: no action at all.
    /// Default 1.
    #[serde(default = "default_max_unhealthy")]
    pub max_unhealthy: IntOrString,
    /// A second limit as a percentage of the selected pods (rounded down). When both limits are
    /// given, the stricter (smaller) one wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 100))]
    pub max_unhealthy_percent: Option<u32>,
    /// Seconds between two actions of this NodeHealth. Default 600.
    #[serde(default = "default_min_interval")]
    #[schemars(range(max = 604800))]
    pub min_interval_seconds: u32,
    /// Restarts of one pod within `restartWindowSeconds` after which the operator stops
    /// restarting it and says so. Default 3.
    #[serde(default = "default_max_restarts")]
    #[schemars(range(max = 100))]
    pub max_restarts_per_pod: u32,
    /// The window of `maxRestartsPerPod`, in seconds. Default 86400 (24 h).
    #[serde(default = "default_restart_window")]
    #[schemars(range(min = 60, max = 2592000))]
    pub restart_window_seconds: u32,
    /// Decide and record everything (events `WouldCordon`/`WouldRestart`, status, metrics)
    /// without touching nodes or pods.
    #[serde(default)]
    pub dry_run: bool,
}

fn default_healthy_for() -> String {
    "2m".to_owned()
}
fn default_startup_grace() -> u32 {
    600
}
fn default_max_unhealthy() -> IntOrString {
    IntOrString::Int(1)
}
fn default_min_interval() -> u32 {
    600
}
fn default_max_restarts() -> u32 {
    3
}
fn default_restart_window() -> u32 {
    86_400
}

/// One step of the escalation ladder.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemediationStep {
    /// `Cordon` (mark the pod's node unschedulable), `RestartPod` (evict the pod through the
    /// Eviction API, so PodDisruptionBudgets apply, and let its controller recreate it) or
    /// `CordonAndRestart`.
    pub action: RemediationAction,
    /// How long the pod must have been unhealthy before this step, e.g. `5m`.
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub after: String,
}

/// An action of the ladder.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum RemediationAction {
    Cordon,
    RestartPod,
    CordonAndRestart,
}

impl RemediationAction {
    pub fn cordons(self) -> bool {
        matches!(self, RemediationAction::Cordon | RemediationAction::CordonAndRestart)
    }
    pub fn restarts(self) -> bool {
        matches!(
            self,
            RemediationAction::RestartPod | RemediationAction::CordonAndRestart
        )
    }
}

impl std::fmt::Display for RemediationAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RemediationAction::Cordon => "Cordon",
            RemediationAction::RestartPod => "RestartPod",
            RemediationAction::CordonAndRestart => "CordonAndRestart",
        })
    }
}

/// The operator's memory of remediation: kept in status so that a restarted operator neither
/// resets a timer nor repeats an action.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = super::no_defaults)]
pub struct RemediationStatus {
    /// Pods with an open incident or recent restarts, oldest incident first.
    #[serde(default)]
    pub pods: Vec<PodRemediation>,
    /// Nodes this NodeHealth cordoned and will uncordon once their pods are healthy again.
    #[serde(default)]
    pub cordoned_nodes: Vec<CordonedNode>,
    /// The last action decided (in dry run: the last action that would have been taken).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_remediation: Option<RemediationRecord>,
    /// When the last action was taken (`minIntervalSeconds` counts from here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_action_time: Option<Time>,
    /// Actions taken (or, in dry run, that would have been taken) by this NodeHealth.
    #[serde(default)]
    pub actions_taken: u32,
    /// Whether these records were made in dry run (switching dryRun starts them afresh).
    #[serde(default)]
    pub dry_run: bool,
}

/// One pod's incident and restart record.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = super::no_defaults)]
pub struct PodRemediation {
    /// Pod name (a recreated pod keeps its record: it is the same validator).
    pub name: String,
    /// The node the pod was last seen on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Start of the open incident; absent when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unhealthy_since: Option<Time>,
    /// Within an incident: since when the pod has been healthy again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_since: Option<Time>,
    /// Ladder steps taken in this incident.
    #[serde(default)]
    pub step: u32,
    /// A person uncordoned the node cordoned in this incident: it is not cordoned again.
    #[serde(default)]
    pub cordon_revoked: bool,
    /// Why the due step is not taken (the last reason reported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked: Option<String>,
    /// Restarts within `restartWindowSeconds`.
    #[serde(default)]
    pub restarts: Vec<Time>,
}

/// A node cordoned by this NodeHealth.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CordonedNode {
    /// Node name.
    pub node: String,
    /// The pod it was cordoned for.
    pub pod: String,
    /// When.
    pub since: Time,
}

/// One action, as decided and as it turned out.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemediationRecord {
    /// The pod acted for.
    pub pod: String,
    /// The pod's UID: a restart only ever evicts this instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// The pod's node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// `Cordon`, `RestartPod` or `CordonAndRestart`.
    pub action: RemediationAction,
    /// When it was decided.
    pub time: Time,
    /// Why.
    pub reason: String,
    /// `Pending` (recorded, not yet done), `Succeeded`, `Blocked` (e.g. by a
    /// PodDisruptionBudget), `Failed` or `DryRun`.
    pub result: String,
    /// One line for `kubectl get nh -o wide`.
    pub summary: String,
}
