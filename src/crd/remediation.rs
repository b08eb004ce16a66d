//! `spec.remediation` and `status.remediation`: what the operator may do about an unhealthy
//! validator, and the timers and records that make its actions survive a restart of the
//! operator without being reset or repeated.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::duration::PATTERN as DURATION_PATTERN;
use super::schema::{time, times};

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
    /// reset, and a node cordoned for it is uncordoned). Guards against flapping.
    #[serde(default = "default_healthy_for")]
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub healthy_for: String,
    /// No action on a pod whose containers last (re)started less than this long ago, up to
    /// `24h`: booting validators sync for a long time. A container restarted in place starts
    /// its grace again.
    #[serde(default = "default_startup_grace")]
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub startup_grace: String,
    /// The most unhealthy pods at once for which the operator still acts: a count (`1`) or a
    /// percentage of the selected pods (`"20%"`, rounded down: 20% of 4 pods is 0). When more
    /// pods are unhealthy, it is probably the network, a chain halt or the probing itself: no
    /// action at all.
    #[serde(default = "default_max_unhealthy")]
    pub max_unhealthy: IntOrString,
    /// The least time between two actions of this NodeHealth, up to `168h` (a week).
    #[serde(default = "default_min_interval")]
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub min_interval: String,
    /// Restarts of one pod within `restartWindow` after which the operator stops restarting it
    /// and says so.
    #[serde(default = "default_max_restarts")]
    #[schemars(range(max = 100))]
    pub max_restarts_per_pod: u32,
    /// The window of `maxRestartsPerPod`, from `1m` to `720h` (30 days).
    #[serde(default = "default_restart_window")]
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub restart_window: String,
    /// Decide and record everything (events `WouldCordon`/`WouldRestart`, status, metrics)
    /// without touching nodes or pods.
    #[serde(default)]
    pub dry_run: bool,
    /// A pod label that names the validator a pod runs, e.g. its signing key's name. Two copies
    /// of one validator must never run at once (double signing): a pod is not restarted while
    /// another instance of its validator is terminating (`WaitingForTermination`) or starting
    /// (`InstanceStarting`: not Ready, or Ready for less than `startupGrace`). Instances of one
    /// validator are the pods of one workload (the Deployment behind their ReplicaSets, old and
    /// new during a rollout; another controller; each pod of a StatefulSet is a validator of its
    /// own) and, with this label, also pods that carry it with the same non-empty value,
    /// whatever owns them. Only pods a NodeHealth selects are seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 317))]
    pub instance_label: Option<String>,
}

fn default_healthy_for() -> String {
    "2m".to_owned()
}
fn default_startup_grace() -> String {
    "10m".to_owned()
}
fn default_max_unhealthy() -> IntOrString {
    IntOrString::Int(1)
}
fn default_min_interval() -> String {
    "10m".to_owned()
}
fn default_max_restarts() -> u32 {
    3
}
fn default_restart_window() -> String {
    "24h".to_owned()
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
#[schemars(transform = super::schema::no_defaults)]
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
    /// When the last action was taken (`minInterval` counts from here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "time")]
    pub last_action_time: Option<Time>,
    /// Actions taken (or, in dry run, that would have been taken) by this NodeHealth.
    #[serde(default)]
    pub actions_taken: u32,
    /// Whether these records were made in dry run (switching dryRun starts them afresh).
    #[serde(default)]
    pub dry_run: bool,
    /// Selected pods that an older NodeHealth with remediation also selects: that one
    /// remediates them, this one only observes them. Empty when nothing overlaps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overlaps: Vec<Overlap>,
}

/// A selected pod that another NodeHealth remediates.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Overlap {
    /// The pod.
    pub pod: String,
    /// The NodeHealth (`namespace/name`) that remediates it: the oldest with remediation that
    /// selects it.
    pub remediated_by: String,
}

/// One pod's incident and restart record.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = super::schema::no_defaults)]
pub struct PodRemediation {
    /// Pod name (a recreated pod keeps its record: it is the same validator).
    pub name: String,
    /// The node the pod was last seen on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Start of the open incident; absent when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "time")]
    pub unhealthy_since: Option<Time>,
    /// Within an incident: since when the pod has been healthy again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "time")]
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
    /// When the pod was restarted, within `restartWindow`.
    #[serde(default)]
    #[schemars(schema_with = "times")]
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
    #[schemars(schema_with = "time")]
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
    #[schemars(schema_with = "time")]
    pub time: Time,
    /// Why.
    pub reason: String,
    /// How it turned out.
    pub result: ActionResult,
    /// One line for `kubectl get nh -o wide`.
    pub summary: String,
}

/// How an action turned out.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ActionResult {
    /// Recorded before acting, not yet done (a restarted operator finishes it, never repeats it).
    Pending,
    /// Done.
    Succeeded,
    /// Refused for now, e.g. by a PodDisruptionBudget; decided again on fresh facts.
    Blocked,
    /// The API server refused it or could not be reached.
    Failed,
    /// Decided in dry run: recorded, nothing touched.
    DryRun,
    /// Left undone after a restart of the operator, because the policy now forbids it (e.g.
    /// dry run switched on, too many pods unhealthy): taken back as if never decided.
    Abandoned,
}

impl std::fmt::Display for ActionResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}
