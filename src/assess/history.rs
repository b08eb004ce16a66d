//! One pod's recent scrapes: consecutive failures, where its ledger and its target were over the
//! window (the progress the operator observes itself), and the counters of the last scrape.
//!
//! Lives in memory only: after a start of the operator it rebuilds itself within one window, and
//! until then the verdicts it feeds say they are not verified (`PodVerdict::verified`).

use std::collections::VecDeque;

use super::judge::judge;
use super::{Params, PodVerdict, SyncState};
use crate::model::{Counter, Observation, Position, Reading, Status};

/// Samples kept at most per pod, whatever the window and period: 300 s at a 1 s period, with room.
const MAX_SAMPLES: usize = 512;
/// Shortest span over which an observed rate is trusted, as a share of the window: a syncing
/// ledger moves in batches, so a few seconds of no progress prove nothing. A fifth of the
/// window (60 s of the default 300 s) keeps stall detection well within one window.
const MIN_RATE_SPAN_SHARE: f64 = 0.2;
/// And not less than this (below it scrape jitter dominates), unless the window is so short
/// that half of it is less: then half the window (`nodehealth probe --window 5`).
const MIN_RATE_SPAN_SECONDS: f64 = 10.0;

/// Where one answered scrape found the ledger and its target.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    at: f64,
    head: Position,
    target: Position,
    skipped_rounds: Option<f64>,
}

/// What the operator observed itself over a trusted span of its window: per real second, how
/// far the ledger's time and height and the target's moved.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Progress {
    pub over_seconds: f64,
    pub head_time_rate: Option<f64>,
    pub head_height_rate: Option<f64>,
    /// Whether the target announced to the node moved at all lately: over the last trusted span
    /// (`recent_seconds`), not the whole window, so that a halt is seen once it has lasted that
    /// long, not once it fills the window. `None`: no target.
    pub target_moved: Option<bool>,
    pub recent_seconds: f64,
    pub target_height_rate: Option<f64>,
    /// Rounds skipped network-wide over the span.
    pub skipped_rounds: Option<f64>,
}

/// How long the operator has watched the ledger, and what it saw once that is long enough.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Watch {
    pub progress: Option<Progress>,
    pub watched_seconds: f64,
    pub needed_seconds: f64,
}

/// The scrape history of one pod.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Oldest first.
    samples: VecDeque<Sample>,
    counters: Vec<Counter>,
    consecutive_failures: u32,
    consecutive_successes: u32,
    unreachable: bool,
    last: Option<PodVerdict>,
}

impl History {
    pub fn new() -> Self {
        History::default()
    }

    /// Records a scrape and gives the verdict it leads to.
    pub fn observe(&mut self, obs: &Observation, params: &Params) -> PodVerdict {
        let verdict = match &obs.reading {
            Err(why) => self.no_answer(why, params),
            Ok(reading) => self.answered(obs.at, reading, params),
        };
        self.last = Some(verdict.clone());
        verdict
    }

    fn no_answer(&mut self, why: &str, params: &Params) -> PodVerdict {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.consecutive_successes = 0;
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

    fn answered(&mut self, at: f64, reading: &Reading, params: &Params) -> PodVerdict {
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
        let watch = self.record(at, reading, params);
        let mut verdict = judge(reading, at, &watch, params);
        self.counter_warnings(&reading.counters, &mut verdict);
        verdict
    }

    /// Adds a sample and measures the progress over the window, once its span can be trusted.
    fn record(&mut self, at: f64, reading: &Reading, params: &Params) -> Watch {
        let window = params.observed_rate_window_seconds;
        let needed = (window * MIN_RATE_SPAN_SHARE)
            .max(MIN_RATE_SPAN_SECONDS)
            .min(window * 0.5);
        let sample = Sample {
            at,
            head: reading.head,
            target: reading.target,
            skipped_rounds: reading.skipped_rounds,
        };
        if !sample.head.is_known() {
            return Watch {
                progress: None,
                watched_seconds: 0.0,
                needed_seconds: needed,
            };
        }
        // A ledger that went backwards is a new process (restart, restore): start afresh.
        if self.samples.back().is_some_and(|prev| went_back(prev, &sample)) {
            self.samples.clear();
        }
        let horizon = at - window;
        while self.samples.front().is_some_and(|s| s.at < horizon) || self.samples.len() >= MAX_SAMPLES {
            self.samples.pop_front();
        }
        let first = self.samples.front().copied();
        // The newest sample at least `needed` old: the start of the last trusted span.
        let recent = self.samples.iter().rev().find(|s| at - s.at >= needed).copied();
        self.samples.push_back(sample);
        let watched = first.map_or(0.0, |f| at - f.at);
        let progress = first
            .zip(recent)
            .map(|(first, recent)| progress(&first, &recent, &sample));
        Watch {
            progress,
            watched_seconds: watched,
            needed_seconds: needed,
        }
    }

    fn counter_warnings(&mut self, now: &[Counter], v: &mut PodVerdict) {
        for c in now {
            let before = self.counters.iter().find(|p| p.what == c.what);
            // A counter that went down was reset by a restart: nothing grew.
            if let Some(prev) = before
                && c.value > prev.value
            {
                v.reasons
                    .push(format!("{:.0} {} since the last probe", c.value - prev.value, c.what));
            }
        }
        self.counters = now.to_vec();
    }
}

fn went_back(prev: &Sample, next: &Sample) -> bool {
    let back = |a: Option<f64>, b: Option<f64>| matches!((a, b), (Some(a), Some(b)) if b < a);
    next.at < prev.at || back(prev.head.time, next.head.time) || back(prev.head.height, next.head.height)
}

/// Progress from `first` to `last` (the target's since `recent`).
fn progress(first: &Sample, recent: &Sample, last: &Sample) -> Progress {
    let span = last.at - first.at;
    let rate = |a: Option<f64>, b: Option<f64>| Some(((b? - a?) / span).max(0.0));
    let moved = |a: Option<f64>, b: Option<f64>| Some(a? != b?);
    let target_moved = match (
        moved(recent.target.time, last.target.time),
        moved(recent.target.height, last.target.height),
    ) {
        (None, None) => None,
        (t, h) => Some(t.unwrap_or(false) || h.unwrap_or(false)),
    };
    Progress {
        over_seconds: span,
        head_time_rate: rate(first.head.time, last.head.time),
        head_height_rate: rate(first.head.height, last.head.height),
        target_moved,
        recent_seconds: last.at - recent.at,
        target_height_rate: rate(first.target.height, last.target.height),
        skipped_rounds: match (first.skipped_rounds, last.skipped_rounds) {
            (Some(a), Some(b)) if b >= a => Some(b - a),
            _ => None,
        },
    }
}
