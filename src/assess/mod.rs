//! From what a pod answered to a verdict: the Radix health-factor heuristic, the zksync
//! component model, the operator's own observation of ledger progress over a window.
//!
//! Pure: every function takes the observation and the clock (`now`, Unix seconds) as arguments.
//!
//! Guarantees:
//! - an unknown or unreadable answer never makes a pod look healthier than a known bad one;
//! - reasons are short plain words built from parsed figures, never raw response bodies.

mod history;
mod params;
mod verdict;

pub use history::History;
pub use params::Params;
pub use verdict::{Figures, PodVerdict, SyncState};

use crate::chains::radix::RadixMetrics;
use crate::chains::radix::SystemHealth;
use crate::chains::zksync::HealthReport;

/// What the health endpoint answered, read.
#[derive(Debug, Clone, PartialEq)]
pub enum HealthReading {
    /// A zksync-style `/health` body (HTTP 200 or 503).
    Zksync(HealthReport),
    /// A Radix `/system/health` body.
    Radix(SystemHealth),
}

/// Why a probe got no reading. Plain words, bounded, no response body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeFailure {
    /// A short machine-friendly kind (`ConnectionRefused`, `Timeout`, `BodyTooLarge`, …).
    pub kind: &'static str,
    /// One line in plain words.
    pub message: String,
    /// True when the process did not answer at all (refused, timed out, reset): these count
    /// towards `Unreachable`. An answer that is merely wrong (HTTP 500, a malformed body) is a
    /// verdict about a process that does run.
    pub no_answer: bool,
}

/// One scrape of one pod: each endpoint is `None` when the policy does not probe it.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// When the scrape was taken (Unix seconds, the operator's clock).
    pub at: f64,
    pub health: Option<Result<HealthReading, ProbeFailure>>,
    pub metrics: Option<Result<RadixMetrics, ProbeFailure>>,
}

impl Observation {
    /// True when no probed endpoint answered at all.
    pub fn no_answer(&self) -> bool {
        let silent = |r: Option<bool>| r.unwrap_or(true);
        let health = self.health.as_ref().map(|r| matches!(r, Err(f) if f.no_answer));
        let metrics = self.metrics.as_ref().map(|r| matches!(r, Err(f) if f.no_answer));
        (health.is_some() || metrics.is_some()) && silent(health) && silent(metrics)
    }
}

/// Assesses one scrape against the pod's history and records it there.
pub fn assess(history: &mut History, obs: &Observation, params: &Params) -> PodVerdict {
    history.observe(obs, params)
}

#[cfg(test)]
mod tests;
