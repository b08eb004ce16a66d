//! One pod's recent scrapes: consecutive failures, the ledger's observed progress, counters.
//!
//! Lives in memory only: after an operator restart it rebuilds itself within one window.

use std::collections::VecDeque;

use super::verdict::{ObservedRate, judge};
use super::{Observation, Params, PodVerdict, SyncState};
use crate::chains::radix::RadixMetrics;
use crate::model::Status;

/// Samples kept at most per pod, whatever the window and period: 300 s at a 1 s period, with room.
const MAX_SAMPLES: usize = 512;
/// Shortest span over which an observed rate is trusted, as a share of the window: a syncing
/// ledger moves in batches, so a few seconds of no progress prove nothing. A fifth of the
/// window (60 s of the default 300 s) keeps stall detection well within one window.
const MIN_RATE_SPAN_SHARE: f64 = 0.2;
/// And not less than this (below it scrape jitter dominates), unless the window is so short
/// that half of it is less: then half the window (`nodehealth probe --window 5`).
const MIN_RATE_SPAN_SECONDS: f64 = 10.0;

/// Counter values from the previous scrape, to see what grew in between.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Counters {
    invalid: Option<f64>,
    mismatched_root: Option<f64>,
    unexpected: Option<f64>,
    rejected: Option<f64>,
}

impl Counters {
    fn of(m: &RadixMetrics) -> Self {
        Counters {
            invalid: m.sync_invalid_responses,
            mismatched_root: m.sync_mismatched_transaction_root,
            unexpected: m.sync_unexpected_responses,
            rejected: m.bft_rejected_consensus_events,
        }
    }
}

/// The scrape history of one pod.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// (scrape time, ledger proposer timestamp), oldest first.
    samples: VecDeque<(f64, f64)>,
    counters: Option<Counters>,
    consecutive_failures: u32,
    consecutive_successes: u32,
    unreachable: bool,
    last: Option<PodVerdict>,
}

impl History {
    pub fn new() -> Self {
        History::default()
    }

    /// The last verdict given, if any.
    pub fn last_verdict(&self) -> Option<&PodVerdict> {
        self.last.as_ref()
    }

    /// Records a scrape and gives the verdict it leads to.
    pub fn observe(&mut self, obs: &Observation, params: &Params) -> PodVerdict {
        let verdict = if obs.no_answer() {
            self.no_answer(obs, params)
        } else {
            self.answered(obs, params)
        };
        self.last = Some(verdict.clone());
        verdict
    }

    fn no_answer(&mut self, obs: &Observation, params: &Params) -> PodVerdict {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.consecutive_successes = 0;
        let why = failure_message(obs);
        let threshold = params.failure_threshold.max(1);
        if self.consecutive_failures >= threshold {
            self.unreachable = true;
            self.samples.clear();
            let mut v = PodVerdict::new(Status::NotReady, SyncState::Unreachable);
            v.health_factor = Some(0.0);
            v.reasons.push(format!(
                "no answer for {} probes in a row: {why}",
                self.consecutive_failures
            ));
            return v;
        }
        // Below the threshold a failure is not yet a verdict: the previous one stands.
        let attempt = format!("probe failed ({}/{threshold}): {why}", self.consecutive_failures);
        match &self.last {
            Some(prev) => {
                let mut v = prev.clone();
                v.reasons.retain(|r| !r.starts_with("probe failed ("));
                v.reasons.push(attempt);
                v
            }
            None => {
                let mut v = PodVerdict::new(Status::NotReady, SyncState::Unknown);
                v.reasons.push(format!("no answer yet: {attempt}"));
                v
            }
        }
    }

    fn answered(&mut self, obs: &Observation, params: &Params) -> PodVerdict {
        self.consecutive_failures = 0;
        self.consecutive_successes = self.consecutive_successes.saturating_add(1);
        if self.unreachable && self.consecutive_successes < params.success_threshold.max(1) {
            let mut v = PodVerdict::new(Status::NotReady, SyncState::Unreachable);
            v.health_factor = Some(0.0);
            v.reasons.push(format!(
                "answering again ({}/{} successful probes needed)",
                self.consecutive_successes, params.success_threshold
            ));
            return v;
        }
        self.unreachable = false;
        let metrics = match &obs.metrics {
            Some(Ok(m)) => Some(m),
            _ => None,
        };
        let ledger_ts = metrics
            .and_then(|m| m.last_update_proposer_epoch_second)
            .filter(|t| *t > 0.0);
        let observed = ledger_ts.and_then(|ts| self.record_ledger(obs.at, ts, params));
        let mut verdict = judge(obs, observed, params);
        if let Some(m) = metrics {
            self.counter_warnings(m, &mut verdict);
        }
        verdict
    }

    /// Adds a ledger sample and measures the progress rate over the window.
    fn record_ledger(&mut self, at: f64, ts: f64, params: &Params) -> Option<ObservedRate> {
        // A ledger that went backwards is a new process (restart, restore): start afresh.
        if self
            .samples
            .back()
            .is_some_and(|&(prev_at, prev_ts)| ts < prev_ts || at < prev_at)
        {
            self.samples.clear();
        }
        let horizon = at - params.observed_rate_window_seconds;
        while self.samples.front().is_some_and(|&(a, _)| a < horizon) || self.samples.len() >= MAX_SAMPLES {
            self.samples.pop_front();
        }
        let window = params.observed_rate_window_seconds;
        let min_span = (window * MIN_RATE_SPAN_SHARE)
            .max(MIN_RATE_SPAN_SECONDS)
            .min(window * 0.5);
        let observed = self.samples.front().and_then(|&(a0, t0)| {
            let span = at - a0;
            (span >= min_span).then(|| ObservedRate {
                rate: ((ts - t0) / span).max(0.0),
                over_seconds: span,
            })
        });
        self.samples.push_back((at, ts));
        observed
    }

    fn counter_warnings(&mut self, m: &RadixMetrics, v: &mut PodVerdict) {
        let now = Counters::of(m);
        if let Some(prev) = self.counters.replace(now) {
            // A counter that went down was reset by a restart: nothing grew.
            let grew = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(a), Some(b)) if b > a => Some(b - a),
                _ => None,
            };
            if let Some(n) = grew(prev.invalid, now.invalid) {
                let roots = grew(prev.mismatched_root, now.mismatched_root)
                    .map(|r| format!(" ({r:.0} with a mismatched transaction root)"))
                    .unwrap_or_default();
                v.reasons
                    .push(format!("{n:.0} invalid sync responses since the last probe{roots}"));
            }
            if let Some(n) = grew(prev.unexpected, now.unexpected) {
                v.reasons
                    .push(format!("{n:.0} unexpected sync responses since the last probe"));
            }
            if let Some(n) = grew(prev.rejected, now.rejected) {
                v.reasons
                    .push(format!("{n:.0} consensus events rejected since the last probe"));
            }
        }
    }
}

fn failure_message(obs: &Observation) -> String {
    let msgs: Vec<&str> = [
        obs.health.as_ref().and_then(|r| r.as_ref().err()),
        obs.metrics.as_ref().and_then(|r| r.as_ref().err()),
    ]
    .into_iter()
    .flatten()
    .map(|f| f.message.as_str())
    .collect();
    match msgs.as_slice() {
        [a, b] if a == b => (*a).to_owned(),
        _ => msgs.join("; "),
    }
}
