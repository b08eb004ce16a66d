//! The verdict on one pod and how a scrape that answered is turned into one.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{HealthReading, Observation, Params};
use crate::chains::radix::RadixMetrics;
use crate::chains::radix::RadixStatus;
use crate::model::{Status, worst};

/// Where a node's ledger stands relative to the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub enum SyncState {
    /// The ledger is less than the synced delay behind real time.
    Synced,
    /// Behind, but catching up faster than the minimum progress rate.
    Syncing,
    /// Behind and not catching up.
    OutOfSync,
    /// The process answers but its ledger has not started (gauges at 0, or the node says so).
    Booting,
    /// The process does not answer (refused, timed out) for `failureThreshold` probes in a row.
    Unreachable,
    /// Nothing tells where the ledger stands (no metrics probed and no sync information).
    Unknown,
}

impl fmt::Display for SyncState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The figures a verdict came from. `None` = not known from this scrape.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Figures {
    pub state_version: Option<f64>,
    /// From peers, not validated.
    pub target_state_version: Option<f64>,
    pub ledger_delay_seconds: Option<f64>,
    pub reported_progress_rate: Option<f64>,
    pub observed_progress_rate: Option<f64>,
    pub missed_proposals: Option<f64>,
    pub in_validator_set: Option<bool>,
    pub clock_skew_seconds: Option<f64>,
    /// zksync: blocks behind the main node.
    pub block_lag: Option<u64>,
}

/// The verdict on one pod.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodVerdict {
    /// In the zksync vocabulary, the worst of every rule's outcome.
    pub status: Status,
    pub healthy: bool,
    pub sync_state: SyncState,
    /// The factor computed by the operator (Radix heuristic with its own observed rate).
    pub health_factor: Option<f64>,
    /// The factor the node reports about itself.
    pub reported_health_factor: Option<f64>,
    pub figures: Figures,
    /// Plain words, most important first.
    pub reasons: Vec<String>,
    /// zksync component statuses, when the health endpoint has components.
    pub components: BTreeMap<String, Status>,
}

impl PodVerdict {
    pub(super) fn new(status: Status, sync_state: SyncState) -> Self {
        PodVerdict {
            status,
            healthy: status.is_healthy(),
            sync_state,
            health_factor: None,
            reported_health_factor: None,
            figures: Figures::default(),
            reasons: Vec::new(),
            components: BTreeMap::new(),
        }
    }

    fn worsen(&mut self, status: Status) {
        self.status = worst([self.status, status]);
        self.healthy = self.status.is_healthy();
    }
}

/// The ledger progress the operator observed itself, over its window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct ObservedRate {
    pub rate: f64,
    pub over_seconds: f64,
}

/// Judges a scrape in which at least one endpoint answered.
pub(super) fn judge(obs: &Observation, observed: Option<ObservedRate>, params: &Params) -> PodVerdict {
    let mut v = PodVerdict::new(Status::Ready, SyncState::Unknown);
    let mut booting = false;
    match &obs.health {
        Some(Ok(HealthReading::Zksync(report))) => {
            v.worsen(report.status);
            v.components = report.components.clone();
            for (name, raw) in &report.unknown {
                v.reasons
                    .push(format!("component {name} reports an unknown status {raw:?}"));
            }
            for (name, st) in &report.components {
                if !st.is_healthy() {
                    v.reasons.push(format!("component {name} is {st}"));
                }
            }
            if let Some(sync) = report.sync {
                v.figures.block_lag = sync.block_lag();
                v.sync_state = if sync.is_synced {
                    SyncState::Synced
                } else {
                    SyncState::Syncing
                };
                if !sync.is_synced {
                    let lag = sync
                        .block_lag()
                        .map(|l| format!(", {l} blocks behind the main node"))
                        .unwrap_or_default();
                    v.reasons.push(format!("not synced{lag}"));
                }
            }
            if report.status == Status::NotReady && report.components.is_empty() {
                booting = true;
            }
        }
        Some(Ok(HealthReading::Radix(h))) => {
            v.worsen(h.status.to_status());
            if h.status != RadixStatus::Up {
                v.reasons.push(format!("node reports {}", h.status.as_str()));
            }
            if let Some(m) = h.recent_self_proposal_miss_statistic {
                v.figures.missed_proposals = Some(m.missed_count as f64);
            }
            booting = h.status == RadixStatus::BootingPreGenesis;
            v.sync_state = match h.status {
                RadixStatus::Up => SyncState::Synced,
                RadixStatus::Syncing => SyncState::Syncing,
                RadixStatus::OutOfSync => SyncState::OutOfSync,
                RadixStatus::BootingPreGenesis => SyncState::Booting,
                RadixStatus::Unknown => SyncState::Unknown,
            };
        }
        Some(Err(f)) => {
            v.worsen(Status::NotReady);
            v.reasons.push(format!("health probe failed: {}", f.message));
        }
        None => {}
    }
    match &obs.metrics {
        Some(Ok(m)) => judge_radix_metrics(&mut v, m, obs.at, observed, booting, params),
        Some(Err(f)) => {
            // Without metrics the factor is unknown; the health endpoint's word stands.
            v.reasons.push(format!("metrics probe failed: {}", f.message));
            if obs.health.is_none() {
                v.worsen(Status::NotReady);
            }
        }
        None => {}
    }
    if v.sync_state == SyncState::Booting {
        v.worsen(Status::NotReady);
    }
    if let Some(f) = v.health_factor {
        if f < params.unhealthy_below {
            v.worsen(Status::NotReady);
        } else if f < params.degraded_below {
            v.worsen(Status::Affected);
        }
    }
    v
}

fn judge_radix_metrics(
    v: &mut PodVerdict,
    m: &RadixMetrics,
    now: f64,
    observed: Option<ObservedRate>,
    health_says_booting: bool,
    params: &Params,
) {
    v.reported_health_factor = m.overall_health_factor;
    let fig = &mut v.figures;
    fig.state_version = m.ledger_state_version.or(m.sync_current_state_version);
    fig.target_state_version = m.sync_target_state_version;
    fig.reported_progress_rate = m.progress_rate;
    fig.observed_progress_rate = observed.map(|o| o.rate);
    fig.in_validator_set = m.in_validator_set;
    if let Some(missed) = m.recent_self_proposal_miss_count {
        fig.missed_proposals = Some(fig.missed_proposals.map_or(missed, |h| h.max(missed)));
    }
    let ledger_ts = m.last_update_proposer_epoch_second.filter(|t| *t > 0.0);
    let booting = health_says_booting || ledger_ts.is_none() || fig.state_version == Some(0.0);
    if booting {
        v.sync_state = SyncState::Booting;
        v.health_factor = Some(0.0);
        v.reasons.push("node is booting: its ledger has not started".to_owned());
        return;
    }
    let Some(ts) = ledger_ts else { return };
    let delay = (now - ts).max(0.0);
    fig.ledger_delay_seconds = Some(delay);
    // The node computes its rate per ledger update, so a stalled node keeps its last rate:
    // the operator's own observation, when it has one, caps it.
    let rate = match (m.progress_rate, observed) {
        (Some(r), Some(o)) => Some(r.min(o.rate)),
        (r, o) => r.or(o.map(|o| o.rate)),
    };
    let syncing = params.syncing_factor(delay, rate);
    let missed = fig.missed_proposals.unwrap_or(0.0);
    let in_set = m.in_validator_set.unwrap_or(false);
    let proposals = params.proposal_factor(missed, in_set);
    v.health_factor = Some(syncing * proposals);
    v.sync_state = if delay < params.synced_delay_seconds {
        SyncState::Synced
    } else if rate.is_some_and(|r| r > params.min_progress_rate) {
        SyncState::Syncing
    } else {
        SyncState::OutOfSync
    };
    if delay >= params.synced_delay_seconds {
        let rate_words = match (rate, observed) {
            (Some(r), Some(o)) if o.rate <= r => {
                format!(
                    "progressing at {:.1}× real time over {}",
                    r,
                    human_duration(o.over_seconds)
                )
            }
            (Some(r), _) => format!("progressing at {r:.1}× real time (as the node reports)"),
            (None, _) => "progress rate unknown".to_owned(),
        };
        v.reasons
            .insert(0, format!("ledger {} behind, {rate_words}", human_duration(delay)));
        if let (Some(cur), Some(target)) = (fig.state_version, fig.target_state_version)
            && target > cur
        {
            v.reasons.push(format!(
                "{:.0} state versions behind the sync target announced by peers (unvalidated)",
                target - cur
            ));
        }
    }
    if in_set && missed > 0.0 {
        v.reasons.push(format!("missed {missed:.0} recent proposal(s)"));
    }
    clock_reasons(v, m, now, params);
}

fn clock_reasons(v: &mut PodVerdict, m: &RadixMetrics, now: f64, params: &Params) {
    if let Some(clock) = m.wallclock_epoch_second.filter(|c| *c > 0.0) {
        let skew = clock - now;
        v.figures.clock_skew_seconds = Some(skew);
        if skew.abs() > params.max_clock_skew_seconds {
            let dir = if skew > 0.0 { "ahead of" } else { "behind" };
            v.reasons
                .push(format!("node clock {:.1} s {dir} the operator's", skew.abs()));
        }
    }
    if let Some(d) = m.proposal_timestamp_difference_seconds
        && (d < params.proposal_timestamp_min_seconds || d > params.proposal_timestamp_max_seconds)
    {
        v.reasons.push(format!(
            "proposal timestamps differ from the local clock by {d:.1} s (accepted {}..{} s)",
            params.proposal_timestamp_min_seconds, params.proposal_timestamp_max_seconds
        ));
    }
}

/// `312 s`, `5 min`, `2 h 3 min`: short words for reasons.
pub(super) fn human_duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 if s.is_multiple_of(60) => format!("{} min", s / 60),
        120..=7199 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}
