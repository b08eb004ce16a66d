//! The thresholds of the health rules, with the defaults documented by Radix and zksync.

/// "A healthy Node is expected to eventually become synced. This will happen only if the
/// "syncing rate" (...) is faster than realtime - in Prometheus language, `rate(...) > 1.0`."
/// A ledger that progresses at or below this rate while behind is out of sync.
pub const CATCH_UP_RATE: f64 = 1.0;

/// Thresholds of the health-factor rules. Every field has the node's documented default;
/// the `NodeHealth` resource exposes them as `spec.assessment`.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// Below this factor a pod is `affected` (degraded). Default 0.8.
    pub degraded_below: f64,
    /// Below this factor a pod is `not_ready` (unhealthy). Default 0.5.
    pub unhealthy_below: f64,
    /// A ledger less than this far behind real time is synced. Radix heuristic: 60 s.
    pub synced_delay_seconds: f64,
    /// The health factor's floor: a lagging node progressing at or below this rate gets a
    /// syncing factor of 0. Radix heuristic: 10. (Whether it is syncing at all follows
    /// [`CATCH_UP_RATE`], not this.)
    pub min_progress_rate: f64,
    /// The health factor's ceiling: a lagging node progressing at or above this rate gets a
    /// syncing factor of 1. Radix heuristic: 50.
    pub max_progress_rate: f64,
    /// Blocks a node may be behind its target (zksync: the main node) and still count as
    /// synced. Default 60: about the 60 s Radix allows, at zksync's ~1 s L2 blocks.
    pub max_block_lag: f64,
    /// Recent missed proposals that make a validator critically unhealthy. Radix heuristic: 2.
    pub critical_missed_proposals: f64,
    /// Window over which the operator measures the ledger's progress itself. Default 300 s.
    pub observed_rate_window_seconds: f64,
    /// Largest tolerated difference between the node's wall clock and the operator's. Default 5 s:
    /// above the +2 s consensus bound, to leave room for the operator's own clock error and the scrape.
    pub max_clock_skew_seconds: f64,
    /// Accepted window of `rn_bft_proposal_timestamp_difference_seconds`, as Radix consensus
    /// accepts proposals: from 30 s in the past to 2 s in the future.
    pub proposal_timestamp_min_seconds: f64,
    pub proposal_timestamp_max_seconds: f64,
    /// Blocks a pod may be behind its fleet's highest (`assess::fleet`); `None`: not judged.
    pub max_height_lag: Option<f64>,
    /// Consecutive failed probes before a pod counts as unreachable (kubelet default: 3).
    pub failure_threshold: u32,
    /// Consecutive successful probes before an unreachable pod counts as reachable again (kubelet default: 1).
    pub success_threshold: u32,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            degraded_below: 0.8,
            unhealthy_below: 0.5,
            synced_delay_seconds: 60.0,
            min_progress_rate: 10.0,
            max_progress_rate: 50.0,
            max_block_lag: 60.0,
            critical_missed_proposals: 2.0,
            observed_rate_window_seconds: 300.0,
            max_clock_skew_seconds: 5.0,
            proposal_timestamp_min_seconds: -30.0,
            proposal_timestamp_max_seconds: 2.0,
            max_height_lag: None,
            failure_threshold: 3,
            success_threshold: 1,
        }
    }
}

impl Params {
    /// Radix's documented syncing factor for a ledger `delay_seconds` behind, progressing at `rate`.
    pub fn syncing_factor(&self, delay_seconds: f64, rate: Option<f64>) -> f64 {
        if delay_seconds < self.synced_delay_seconds {
            return 1.0;
        }
        let span = self.max_progress_rate - self.min_progress_rate;
        match rate {
            Some(r) if span > 0.0 && r.is_finite() => {
                (r.clamp(self.min_progress_rate, self.max_progress_rate) - self.min_progress_rate) / span
            }
            // No rate known while lagging: the heuristic cannot credit any progress.
            _ => 0.0,
        }
    }

    /// Radix's documented proposal reliability factor.
    pub fn proposal_factor(&self, missed: f64, in_validator_set: bool) -> f64 {
        if !in_validator_set || self.critical_missed_proposals <= 0.0 {
            return 1.0;
        }
        1.0 - missed.max(0.0).min(self.critical_missed_proposals) / self.critical_missed_proposals
    }
}
