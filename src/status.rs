//! Deciding what to write: the desired `NodeHealth` status, its conditions, the events, and
//! whether a write is due at all. Pure: inputs are the verdicts, the status so far and `now`.
//!
//! Guarantees:
//! - a change of any verdict (a pod's status or sync state, the set of pods, a condition) is
//!   written at once; figures moving within the same verdict wait for the refresh interval;
//! - `lastTransitionTime` of a condition changes only when its status does;
//! - `Ready` means the policy is valid and enforced, never that the validators are healthy.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::crd::{NodeHealthStatus, NotProbed, PodHealth, PodStatus, RemediationStatus};
use crate::model::{Network, PodVerdict, SyncState};
use crate::model::{Status, worst};
use crate::policy::{InvalidSpec, PodSkip};
use crate::remediate::Verdict;

/// Longest `Healthy` message; the API server takes 32 KiB, `kubectl get -o wide` wants far less.
const MAX_MESSAGE: usize = 1024;

/// What became of one selected pod this round.
#[derive(Debug, Clone)]
pub struct PodOutcome {
    pub name: String,
    pub node: Option<String>,
    pub result: Result<PodVerdict, PodSkip>,
}

impl PodOutcome {
    fn healthy(&self) -> bool {
        self.result.as_ref().is_ok_and(|v| v.healthy)
    }

    fn to_pod_health(&self, previous: Option<&PodHealth>, now: Timestamp) -> PodHealth {
        let before = previous.and_then(|p| p.unhealthy_since.clone());
        let unhealthy_since = match &self.result {
            Ok(_) if self.healthy() => None,
            // The timer runs from the first unhealthy sweep and survives operator restarts.
            Ok(_) => before.or(Some(Time(now))),
            // Not probed: no verdict either way, so the timer neither starts nor ends.
            Err(_) => before,
        };
        match &self.result {
            Ok(v) => PodHealth {
                name: self.name.clone(),
                node: self.node.clone(),
                status: v.status.into(),
                sync_state: v.sync_state,
                health_factor: v.health_factor.map(round3),
                reported_health_factor: v.reported_health_factor.map(round3),
                state_version: v.figures.state_version,
                target_state_version: v.figures.target_state_version,
                block_lag: v.figures.block_lag,
                ledger_delay_seconds: v.figures.ledger_delay_seconds.map(round1),
                observed_progress_rate: v.figures.observed_progress_rate.map(round3),
                missed_proposals: v.figures.missed_proposals,
                in_validator_set: v.figures.in_validator_set,
                network: (v.network != Network::Unknown).then_some(v.network),
                not_probed: None,
                unhealthy_since,
                reasons: v.reasons.clone(),
            },
            Err(skip) => PodHealth {
                name: self.name.clone(),
                node: self.node.clone(),
                status: PodStatus::NotReady,
                sync_state: SyncState::Unknown,
                health_factor: None,
                reported_health_factor: None,
                state_version: None,
                target_state_version: None,
                block_lag: None,
                ledger_delay_seconds: None,
                observed_progress_rate: None,
                missed_proposals: None,
                in_validator_set: None,
                network: None,
                not_probed: Some(skip.into()),
                unhealthy_since,
                reasons: vec![skip.to_string()],
            },
        }
    }
}

impl From<&PodSkip> for NotProbed {
    fn from(skip: &PodSkip) -> Self {
        match skip {
            PodSkip::NotRunning(phase) => match phase.as_str() {
                "Pending" => NotProbed::Pending,
                "Succeeded" => NotProbed::Succeeded,
                "Failed" => NotProbed::Failed,
                _ => NotProbed::Unknown,
            },
            PodSkip::Terminating => NotProbed::Terminating,
            PodSkip::NoIp => NotProbed::NoPodIp,
            PodSkip::PortNotDeclared { .. } => NotProbed::PortNotDeclared,
        }
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// An event to record about a pod's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodEvent {
    /// `PodUnhealthy` (Warning), `PodRecovered` (Normal), or `NoPodsSelected` (Warning, about
    /// the NodeHealth: `pod` is empty).
    pub reason: &'static str,
    pub warning: bool,
    pub pod: String,
    pub note: String,
}

/// Keeps pods that were unhealthy unhealthy while their healthy verdict is not verified yet:
/// after a start of the operator a stalled node that keeps reporting its last progress rate
/// reads healthy until the operator has watched it long enough. Such a reading must not count
/// towards `healthyFor` of an open incident, nor be announced as a recovery.
pub fn hold_unverified(outcomes: &mut [PodOutcome], previous: Option<&NodeHealthStatus>) {
    for o in outcomes {
        let Ok(v) = &mut o.result else { continue };
        if !v.healthy || v.verified {
            continue;
        }
        let row = previous.and_then(|s| s.pods.iter().find(|p| p.name == o.name));
        let open_incident = previous
            .and_then(|s| s.remediation.as_ref())
            .is_some_and(|r| r.pods.iter().any(|p| p.name == o.name && p.unhealthy_since.is_some()));
        let was = match row {
            Some(r) if !r.status.is_healthy() => r.status.into(),
            _ if open_incident => Status::NotReady,
            _ => continue,
        };
        v.status = was;
        v.healthy = false;
        v.reasons.insert(
            0,
            "reads healthy again, but the operator has not verified it yet: still counted unhealthy".to_owned(),
        );
    }
}

/// Says in the Ready condition that HTTPS certificates are not verified
/// (`insecureSkipVerify: true`), so that an enforced policy is never read as a verified one.
pub fn say_unverified_tls(desired: &mut NodeHealthStatus) {
    say_in_ready(
        desired,
        "HTTPS certificates are NOT verified (spec.probe.tls.insecureSkipVerify: true)",
    );
}

/// Says in the Ready condition which endpoints the spec sets that its profile does not read
/// (`Policy::unread`): they are never probed, so nothing about them is watched.
pub fn say_unread(desired: &mut NodeHealthStatus, profile: &str, unread: &[&str]) {
    if unread.is_empty() {
        return;
    }
    let fields: Vec<String> = unread.iter().map(|f| format!("spec.probe.{f}")).collect();
    let it = if fields.len() == 1 { "it" } else { "them" };
    let note = format!(
        "{} not probed: the {profile} profile does not read {it}",
        fields.join(" and ")
    );
    say_in_ready(desired, &note);
}

/// Adds a remark to a true Ready condition's message.
fn say_in_ready(desired: &mut NodeHealthStatus, remark: &str) {
    let ready = desired
        .conditions
        .iter_mut()
        .find(|c| c.type_ == "Ready" && c.status == "True");
    if let Some(c) = ready {
        c.message.push_str("; ");
        c.message.push_str(remark);
    }
}

/// The status after a sweep of a valid policy.
pub fn swept(
    generation: Option<i64>,
    previous: Option<&NodeHealthStatus>,
    mut pods: Vec<PodOutcome>,
    now: Timestamp,
    max_pods: usize,
) -> NodeHealthStatus {
    let total = pods.len();
    let healthy = pods.iter().filter(|p| p.healthy()).count();
    let prev_pod = |name: &str| previous.and_then(|s| s.pods.iter().find(|p| p.name == name));
    let mut rows: Vec<PodHealth> = pods.iter().map(|p| p.to_pod_health(prev_pod(&p.name), now)).collect();
    // Worst first; among equals, lowest factor first, then by name for a stable order.
    rows.sort_by(|a, b| {
        b.status
            .cmp(&a.status)
            .then(
                a.health_factor
                    .unwrap_or(1.0)
                    .total_cmp(&b.health_factor.unwrap_or(1.0)),
            )
            .then_with(|| a.name.cmp(&b.name))
    });
    let status = worst(rows.iter().map(|r| Status::from(r.status)));
    let factor = rows.iter().filter_map(|r| r.health_factor).min_by(f64::total_cmp);
    pods.sort_by(|a, b| a.name.cmp(&b.name));
    let healthy_cond = healthy_condition(&rows, healthy);
    rows.truncate(max_pods);
    let conditions = vec![
        cond(
            "Ready",
            "True",
            "Enforced",
            "the policy is valid and its pods are probed".to_owned(),
        ),
        cond(
            "Reconciling",
            "False",
            "Swept",
            "every selected pod was probed for this generation".to_owned(),
        ),
        cond("Stalled", "False", "Valid", "the spec is valid".to_owned()),
        healthy_cond,
    ];
    NodeHealthStatus {
        observed_generation: generation,
        ready: format!("{healthy}/{total}"),
        total_pods: total as u32,
        healthy_pods: healthy as u32,
        // No pod, no worst status: an empty STATUS column, not a reassuring `ready`.
        worst_status: (total > 0).then_some(status.into()),
        health_factor: factor,
        pods: rows,
        last_probe_time: Some(Time(now)),
        // Remediation records carry over; the controller replaces them when it decides.
        remediation: previous.and_then(|p| p.remediation.clone()),
        conditions: carry_transitions(previous, conditions, generation, now),
        // Who handles it: the controller's to say.
        shard: None,
        leader: None,
    }
}

/// `Healthy`: True when every selected pod is healthy. A pod that was not probed (Pending,
/// terminating…) is no verdict on its validator: it is listed apart and not counted among the
/// unhealthy pods, which are counted out of the probed pods, as `maxUnhealthy` counts them.
fn healthy_condition(rows: &[PodHealth], healthy: usize) -> Condition {
    let total = rows.len();
    if total == 0 {
        return cond(
            "Healthy",
            "Unknown",
            "NoPodsSelected",
            "the selector matches no pod".to_owned(),
        );
    }
    if healthy == total {
        return cond(
            "Healthy",
            "True",
            "AllPodsHealthy",
            format!("{healthy}/{total} pods healthy"),
        );
    }
    let (probed, not_probed): (Vec<&PodHealth>, Vec<&PodHealth>) = rows.iter().partition(|r| r.not_probed.is_none());
    let unhealthy: Vec<String> = probed
        .iter()
        .filter(|r| !r.status.is_healthy())
        .map(|r| format!("{}: {} ({})", r.name, r.status, r.sync_state))
        .collect();
    let aside: Vec<String> = not_probed
        .iter()
        .filter_map(|r| Some(format!("{} ({})", r.name, r.not_probed?)))
        .collect();
    let aside = if aside.is_empty() {
        String::new()
    } else {
        format!("; not probed: {}", aside.join(", "))
    };
    if unhealthy.is_empty() {
        let msg = format!("{healthy}/{total} pods healthy{aside}");
        return cond("Healthy", "False", "PodsNotProbed", truncate(msg));
    }
    let msg = format!(
        "{}/{} pods unhealthy: {}{aside}",
        unhealthy.len(),
        probed.len(),
        unhealthy.join("; ")
    );
    cond("Healthy", "False", "PodsUnhealthy", truncate(msg))
}

/// The status of a spec that cannot be enforced: `Stalled`, not `Ready`; pods stay as last seen.
pub fn invalid(
    generation: Option<i64>,
    previous: Option<&NodeHealthStatus>,
    err: &InvalidSpec,
    now: Timestamp,
) -> NodeHealthStatus {
    let mut s = previous.cloned().unwrap_or_default();
    let mut conditions = vec![
        cond("Ready", "False", err.reason(), err.to_string()),
        cond("Reconciling", "False", "Stalled", "waiting for a valid spec".to_owned()),
        cond("Stalled", "True", err.reason(), err.to_string()),
        // Not the last verdict: nothing is probed while stalled, so it would go stale unseen.
        cond(
            "Healthy",
            "Unknown",
            err.reason(),
            format!("not probed while the spec is invalid: {err}"),
        ),
    ];
    if s.remediation.is_some() {
        // Records stay (timers, cordons to release later); no action until the spec is fixed.
        conditions.push(cond(
            "RemediationAllowed",
            "False",
            "InvalidSpec",
            "the spec is invalid: no action until it is fixed".to_owned(),
        ));
        conditions.extend(previous.and_then(|p| p.conditions.iter().find(|c| c.type_ == "Remediating").cloned()));
    }
    s.observed_generation = generation;
    s.conditions = carry_transitions(previous, conditions, generation, now);
    if s.ready.is_empty() {
        s.ready = "0/0".to_owned();
    }
    s.worst_status = None;
    s.health_factor = None;
    s
}

/// The status written when a new generation is seen, before its first sweep.
pub fn reconciling(previous: Option<&NodeHealthStatus>, now: Timestamp) -> NodeHealthStatus {
    let mut s = previous.cloned().unwrap_or_default();
    let mut conditions: Vec<Condition> = s
        .conditions
        .iter()
        .filter(|c| c.type_ != "Reconciling")
        .cloned()
        .collect();
    conditions.push(cond(
        "Reconciling",
        "True",
        "NewGeneration",
        "probing the pods for a new generation".to_owned(),
    ));
    // observedGeneration stays at the last swept generation until the sweep is written.
    s.conditions = carry_transitions(previous, conditions, s.observed_generation, now);
    if s.ready.is_empty() {
        s.ready = "0/0".to_owned();
    }
    s
}

/// Sets the remediation records and their conditions (`RemediationAllowed`, `Remediating`);
/// `None` removes both.
pub fn set_remediation(
    desired: &mut NodeHealthStatus,
    previous: Option<&NodeHealthStatus>,
    records: Option<RemediationStatus>,
    verdicts: &[Verdict],
    now: Timestamp,
) {
    desired
        .conditions
        .retain(|c| !REMEDIATION_CONDITIONS.contains(&c.type_.as_str()));
    let generation = desired.observed_generation;
    if records.is_some() {
        let added: Vec<Condition> = verdicts
            .iter()
            .map(|v| cond(v.type_, v.status, v.reason, truncate(v.message.clone())))
            .collect();
        desired
            .conditions
            .extend(carry_transitions(previous, added, generation, now));
    }
    desired.remediation = records;
}

const REMEDIATION_CONDITIONS: [&str; 2] = ["RemediationAllowed", "Remediating"];

/// Whether `desired` must be written now.
pub fn write_due(
    previous: Option<&NodeHealthStatus>,
    desired: &NodeHealthStatus,
    now: Timestamp,
    refresh: Duration,
) -> bool {
    let Some(prev) = previous else { return true };
    if verdict_key(prev) != verdict_key(desired) {
        return true;
    }
    if prev == desired {
        return false;
    }
    // Only figures moved: refresh them at most once per interval.
    let last = prev.last_probe_time.as_ref().map(|t| t.0);
    last.is_none_or(|t| now.duration_since(t).unsigned_abs() >= refresh)
}

/// Everything whose change is a change of verdict.
fn verdict_key(s: &NodeHealthStatus) -> impl PartialEq + '_ {
    (
        s.observed_generation,
        &s.ready,
        s.total_pods,
        s.healthy_pods,
        s.worst_status,
        s.pods
            .iter()
            .map(|p| {
                (
                    &p.name,
                    &p.node,
                    p.status,
                    p.sync_state,
                    p.not_probed,
                    &p.unhealthy_since,
                )
            })
            .collect::<Vec<_>>(),
        s.conditions
            .iter()
            .map(|c| (&c.type_, &c.status, &c.reason, &c.message))
            .collect::<Vec<_>>(),
        // Timers and records of remediation must survive a restart: every change is written.
        &s.remediation,
        // A new leader (failover, reshard) says so at once.
        (s.shard, &s.leader),
    )
}

/// Events for pods whose health changed between two statuses.
pub fn pod_events(previous: Option<&NodeHealthStatus>, desired: &NodeHealthStatus) -> Vec<PodEvent> {
    let mut out = Vec::new();
    let no_pods = |s: &NodeHealthStatus| {
        s.conditions
            .iter()
            .any(|c| c.type_ == "Healthy" && c.reason == "NoPodsSelected")
    };
    if no_pods(desired) && !previous.is_some_and(no_pods) {
        out.push(PodEvent {
            reason: "NoPodsSelected",
            warning: true,
            pod: String::new(),
            note: "the selector matches no pod in this namespace: nothing is watched".to_owned(),
        });
    }
    // A pod not probed has no verdict: no event while it is not probed, and its last verdict
    // before (its unhealthy timer is kept) is what the next one is compared with.
    let was_healthy = |name: &str| {
        previous
            .and_then(|s| s.pods.iter().find(|p| p.name == name))
            .map(|p| match p.not_probed {
                Some(_) => p.unhealthy_since.is_none(),
                None => p.status.is_healthy(),
            })
    };
    for p in desired.pods.iter().filter(|p| p.not_probed.is_none()) {
        let now_healthy = p.status.is_healthy();
        match (was_healthy(&p.name), now_healthy) {
            (Some(true) | None, false) => out.push(PodEvent {
                reason: "PodUnhealthy",
                warning: true,
                pod: p.name.clone(),
                note: truncate(format!(
                    "{} is {} ({}): {}",
                    p.name,
                    p.status,
                    p.sync_state,
                    p.reasons.first().map(String::as_str).unwrap_or("no reason given")
                )),
            }),
            (Some(false), true) => out.push(PodEvent {
                reason: "PodRecovered",
                warning: false,
                pod: p.name.clone(),
                note: format!("{} is {} ({}) again", p.name, p.status, p.sync_state),
            }),
            _ => {}
        }
    }
    out
}

fn cond(type_: &str, status: &str, reason: &str, message: String) -> Condition {
    Condition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message,
        observed_generation: None,
        last_transition_time: Time(Timestamp::UNIX_EPOCH),
    }
}

/// Sets `observedGeneration` and keeps each condition's `lastTransitionTime` unless its status changed.
fn carry_transitions(
    previous: Option<&NodeHealthStatus>,
    mut conditions: Vec<Condition>,
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<Condition> {
    for c in &mut conditions {
        let prev = previous.and_then(|p| p.conditions.iter().find(|pc| pc.type_ == c.type_));
        c.last_transition_time = match prev {
            Some(pc) if pc.status == c.status => pc.last_transition_time.clone(),
            _ => Time(now),
        };
        c.observed_generation = generation.or(c.observed_generation);
    }
    conditions
}

fn truncate(mut s: String) -> String {
    if s.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE - 3;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

#[cfg(test)]
mod tests;
