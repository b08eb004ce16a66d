//! Remediation: deciding whether to cordon a node or restart a validator pod, and recording
//! what came of it. Pure: [`decide()`] and [`record_outcomes`] take the observed state and `now`
//! and return the new records, the actions, the conditions and the events; the controller
//! only carries the actions out (`controller::act`).
//!
//! Safety rules, in the order they are checked (the first that applies wins):
//! 1. a paused NodeHealth (`nodehealth.io/paused: "true"`) does nothing;
//! 2. when the network is not live, nothing is done (`NetworkStalled`): a validator shows the
//!    network's head (its sync target, its main node) not moving and no selected validator
//!    shows it live; or a majority of the selected validators (at least two) are out of sync at
//!    once. A restart during a chain halt helps nobody and risks the validator;
//! 3. when more pods are unhealthy than `maxUnhealthy` allows: nothing (`TooManyUnhealthy`);
//!    only probed pods count: a pod that is Pending, has no IP yet or is terminating is no
//!    verdict on its validator (see [`Inputs::pods`]);
//! 4. per pod: a `nodehealth.io/skip-remediation: "true"` pod, a pod in its start-up grace
//!    (from its containers' latest start), a verdict the operator has not verified yet
//!    (`Unverified`: it rests on the node's word about its progress), a restart of a validator
//!    still catching up (`StillSyncing`), a restart while another instance of the same
//!    validator is terminating or starting ([`instances`]), a second action within
//!    `minInterval`, a restart beyond the restart budget: that step waits.
//!    First of these: a pod that an older NodeHealth with remediation also selects is that
//!    one's to remediate (`Overlap`, see [`overlap`]): this one never acts on it.
//!
//! Every action is recorded in status as `Pending` before it is carried out (write-ahead), so
//! an operator killed mid-action finishes it after a restart instead of deciding it again;
//! restarts evict only the recorded pod UID, so finishing one never evicts its replacement.

mod conditions;
mod decide;
pub mod instances;
mod outcome;
pub mod overlap;
mod pending;
pub mod policy;
mod records;
pub mod release;

pub use conditions::disabled;
pub use decide::decide;
pub use instances::Instance;
pub use outcome::{Outcome, record_outcomes};
pub use policy::{RemediationPolicy, validate};
pub use records::MAX_RECORDS;

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::crd::RemediationStatus;
use crate::model::Network;

/// Annotation on a NodeHealth that stops all its actions.
pub const PAUSED_ANNOTATION: &str = "nodehealth.io/paused";
/// Annotation on a pod that exempts it from remediation.
pub const SKIP_ANNOTATION: &str = "nodehealth.io/skip-remediation";
/// Annotation on a node cordoned by nodehealth: the NodeHealth (`namespace/name`) that did it.
pub const CORDONED_BY_ANNOTATION: &str = "nodehealth.io/cordoned-by";
/// Annotation on a node cordoned by nodehealth: when.
pub const CORDONED_AT_ANNOTATION: &str = "nodehealth.io/cordoned-at";

/// What the controller saw of one selected pod.
#[derive(Debug, Clone, PartialEq)]
pub struct PodFacts {
    pub name: String,
    pub uid: String,
    pub node: Option<String>,
    /// The latest (re)start of its running containers, else of the pod (`status.startTime`,
    /// else its creation): a container restarted in place starts its grace again.
    pub started: Option<Timestamp>,
    /// Annotated `nodehealth.io/skip-remediation: "true"`.
    pub skip: bool,
    /// Another NodeHealth (`namespace/name`) remediates this pod (see [`overlap`]).
    pub remediated_by: Option<String>,
    pub healthy: bool,
    /// Its ledger is behind and not catching up (`OutOfSync`).
    pub stalled: bool,
    /// Its ledger is behind but catching up (`Syncing`): a restart would only lose its progress.
    pub syncing: bool,
    /// The verdict is checked against the operator's own observation (see `PodVerdict::verified`).
    pub verified: bool,
    /// Whether the network is live, by what this pod shows.
    pub network: Network,
    /// The verdict in a few words, e.g. `not_ready (OutOfSync): ledger 300 s behind`.
    pub why: String,
}

/// What the controller saw of a node that matters to remediation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeFacts {
    pub unschedulable: bool,
    /// The `nodehealth.io/cordoned-by` annotation.
    pub cordoned_by: Option<String>,
}

/// Everything [`decide()`] looks at.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    pub policy: &'a RemediationPolicy,
    /// The NodeHealth, as `namespace/name` (the value of the cordon annotation).
    pub owner: &'a str,
    pub paused: bool,
    /// The selected pods that were probed this round. A pod that was not (Pending, without an
    /// IP yet, terminating, or not declaring the policy's port) is no verdict on a validator and
    /// is left out, as if it were not there: it opens no incident and does not count towards
    /// `maxUnhealthy`.
    pub pods: &'a [PodFacts],
    /// Every watched pod of the namespace, probed or not: the instances the singleton guard
    /// looks at.
    pub instances: &'a [Instance],
    /// The nodes of the selected pods and of the nodes this NodeHealth cordoned.
    pub nodes: &'a BTreeMap<String, NodeFacts>,
    pub previous: Option<&'a RemediationStatus>,
    pub now: Timestamp,
}

/// An action for the controller to carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Act {
    Cordon {
        node: String,
        pod: String,
    },
    Uncordon {
        node: String,
    },
    /// Evict exactly this instance (UID precondition).
    Evict {
        pod: String,
        uid: String,
    },
}

impl Act {
    /// The event action and metric label of this act.
    pub fn verb(&self) -> &'static str {
        match self {
            Act::Cordon { .. } => "Cordon",
            Act::Uncordon { .. } => "Uncordon",
            Act::Evict { .. } => "Restart",
        }
    }
}

/// Why a due action is not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Block {
    Paused,
    NetworkStalled,
    TooManyUnhealthy,
    RateLimited,
    RestartBudgetExhausted,
    StartupGrace,
    SkipAnnotation,
    WaitingForTermination,
    InstanceStarting,
    StillSyncing,
    Unverified,
    Overlap,
}

impl Block {
    /// The PascalCase reason of conditions, events and the blocked metric.
    pub fn reason(self) -> &'static str {
        match self {
            Block::Paused => "Paused",
            Block::NetworkStalled => "NetworkStalled",
            Block::TooManyUnhealthy => "TooManyUnhealthy",
            Block::RateLimited => "RateLimited",
            Block::RestartBudgetExhausted => "RestartBudgetExhausted",
            Block::StartupGrace => "StartupGrace",
            Block::SkipAnnotation => "SkipAnnotation",
            Block::WaitingForTermination => "WaitingForTermination",
            Block::InstanceStarting => "InstanceStarting",
            Block::StillSyncing => "StillSyncing",
            Block::Unverified => "Unverified",
            Block::Overlap => "Overlap",
        }
    }

    /// Whether it stops remediation as a whole (`RemediationAllowed=False`) rather than one pod.
    fn is_policy_wide(self) -> bool {
        matches!(
            self,
            Block::Paused
                | Block::NetworkStalled
                | Block::TooManyUnhealthy
                | Block::RateLimited
                | Block::RestartBudgetExhausted
        )
    }
}

/// What an event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    NodeHealth,
    Pod(String),
    Node(String),
}

/// An event to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub subject: Subject,
    /// The event's action: what was done (`Cordon`, `Uncordon`, `Restart`) or, for a skipped
    /// step, the gate that stopped it (events with the same action and reason are aggregated
    /// into one series, so a new gate needs its own action to be seen).
    pub action: &'static str,
    pub reason: &'static str,
    pub warning: bool,
    pub note: String,
}

/// A condition's status, reason and message (the status module stamps times and generations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub type_: &'static str,
    pub status: &'static str,
    pub reason: &'static str,
    pub message: String,
}

/// The outcome of [`decide()`].
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The records to write (actions already marked `Pending`).
    pub status: RemediationStatus,
    /// What to carry out now, in order.
    pub acts: Vec<Act>,
    /// `RemediationAllowed` and `Remediating`.
    pub conditions: Vec<Verdict>,
    pub notices: Vec<Notice>,
    /// One reason per due action that was blocked this round (for the blocked metric).
    pub blocked: Vec<&'static str>,
    /// Acts (`cordon`, `restart`) that dry run decided this round (for the remediations metric).
    pub dry_run_actions: Vec<&'static str>,
}

/// The remediation to run this round: the spec's, or, when the spec has none but records of an
/// earlier spec remain, an observe-only one that only releases what those records hold (the
/// nodes it cordoned). `None`: nothing to decide.
pub fn applicable<'a>(
    spec: Option<&'a RemediationPolicy>,
    previous: Option<&RemediationStatus>,
) -> Option<std::borrow::Cow<'a, RemediationPolicy>> {
    match (spec, previous) {
        (Some(rp), _) => Some(std::borrow::Cow::Borrowed(rp)),
        (None, Some(_)) => Some(std::borrow::Cow::Owned(RemediationPolicy::observe_only())),
        (None, None) => None,
    }
}

/// Whether `status.remediation` stays written: while the spec asks for remediation, or while
/// some node is still cordoned by this policy (so its release is on record).
pub fn keeps_records(spec_has_remediation: bool, records: &RemediationStatus) -> bool {
    spec_has_remediation || !records.cordoned_nodes.is_empty()
}

/// The nodes a decision may touch, so the shell reads those and no others: those this policy
/// cordoned, that of a pending action and, when the ladder cordons and no more pods are down
/// than `maxUnhealthy` allows (otherwise nothing is cordoned anyway), those of the unhealthy
/// pods. Nothing is read while everything is healthy, and a fleet-wide outage costs no reads.
pub fn nodes_to_read(
    policy: &RemediationPolicy,
    facts: &[PodFacts],
    previous: Option<&RemediationStatus>,
) -> Vec<String> {
    let unhealthy: Vec<&PodFacts> = facts.iter().filter(|f| !f.healthy).collect();
    let may_cordon =
        policy.ladder.iter().any(|(a, _)| a.cordons()) && unhealthy.len() <= policy.unhealthy_limit(facts.len());
    let mut names: Vec<String> = if may_cordon {
        unhealthy.iter().filter_map(|f| f.node.clone()).collect()
    } else {
        Vec::new()
    };
    if let Some(p) = previous {
        names.extend(p.cordoned_nodes.iter().map(|c| c.node.clone()));
        names.extend(p.last_remediation.as_ref().and_then(|r| r.node.clone()));
    }
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests;
