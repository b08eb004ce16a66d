//! The simulated validator: a pure function of its mode history and a clock.
//!
//! Nothing ticks. Each change of mode (or of validator-set membership) records an anchor: the
//! ledger and the counters at that instant. Every figure is then computed from the anchor, the
//! mode and `now`, so a fleet of thousands of idle validators costs nothing between scrapes.
//!
//! Times are seconds since the Unix epoch (`f64`), true time unless said otherwise; the node's
//! own clock is true time plus the mode's skew, and the node computes its own figures with it.

use crate::sim::mode::{Mode, RECENT_PROPOSALS_TRACKED};
use crate::sim::status::NodeStatus;

/// How far a synced node's ledger proposer timestamp trails true time: a consensus round plus
/// the commit, about a second on Babylon mainnet (brief: "≈ now − ~1 s").
pub const LEDGER_LAG_SECONDS: f64 = 1.0;
/// State versions (transactions) committed per ledger second: a simulator choice, in the order of
/// Babylon mainnet's load (brief: "~10 per second while synced").
pub const VERSIONS_PER_LEDGER_SECOND: f64 = 10.0;
/// Consensus rounds this validator leads per ledger second. Mainnet has ~100 validators and ~2
/// rounds/s, so a real one leads a round every ~50 s; compressed so that tests see counters move.
pub const OWN_ROUNDS_PER_LEDGER_SECOND: f64 = 1.0;
/// Rounds led by the one peer validator the page shows, per ledger second (same compression).
pub const PEER_ROUNDS_PER_LEDGER_SECOND: f64 = 1.0;
/// Proposal timestamp difference of a node with a true clock: network latency, as in the fixture.
pub const BASE_TIMESTAMP_DIFFERENCE: f64 = -0.012;
/// State version of every validator when the simulator starts (the fixture's figure).
pub const INITIAL_STATE_VERSION: f64 = 231_457_012.0;

/// Delay past which the node stops calling itself synced (babylon-node's health heuristic and
/// `/system/health`: 60 s between its clock and its ledger's proposer timestamp).
pub const OUT_OF_SYNC_DELAY_SECONDS: f64 = 60.0;
/// Progress rates the heuristic maps onto 0..1 (babylon-node: clamp to [10, 50], then (r−10)/40).
pub const RATE_FLOOR: f64 = 10.0;
pub const RATE_CEIL: f64 = 50.0;
/// Recent misses at which proposal reliability reaches 0 (babylon-node: min(missed, 2) / 2).
pub const MISSES_FOR_ZERO_RELIABILITY: u64 = 2;

/// The node's own health factor, with babylon-node's documented heuristic:
/// `health = syncing_factor × proposal_reliability_factor`, where the syncing factor is 1 while the
/// ledger is under a minute behind the node's clock and `(clamp(rate, 10, 50) − 10) / 40` after, and
/// the reliability factor is `1 − min(recent_missed, 2) / 2` (1 outside the validator set).
pub fn node_health_factor(delay_seconds: f64, progress_rate: f64, recent_missed: u64, in_validator_set: bool) -> f64 {
    let syncing = if delay_seconds < OUT_OF_SYNC_DELAY_SECONDS {
        1.0
    } else {
        (progress_rate.clamp(RATE_FLOOR, RATE_CEIL) - RATE_FLOOR) / (RATE_CEIL - RATE_FLOOR)
    };
    let reliability = if in_validator_set {
        let counted = recent_missed.min(MISSES_FOR_ZERO_RELIABILITY) as f64;
        1.0 - counted / MISSES_FOR_ZERO_RELIABILITY as f64
    } else {
        1.0
    };
    syncing * reliability
}

/// Counters since the process started (floats: they grow continuously; pages show them floored).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counters {
    pub own_successful: f64,
    pub own_missed_by_gap: f64,
    pub own_missed_by_fallback: f64,
    pub peer_successful: f64,
    /// Proposals whose timestamp difference was observed (the summary's `_count`).
    pub proposals_observed: f64,
    /// Sum of the observed differences (the summary's `_sum`).
    pub proposal_difference_sum: f64,
}

/// Where the ledger is.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Ledger {
    /// Proposer timestamp of the last committed update.
    proposer_ts: f64,
    /// The node's clock at its last update.
    last_update: f64,
    state_version: f64,
    /// Ledger seconds per real second over the recent updates.
    rate: f64,
    /// Still catching up with the network (syncing mode only).
    catching_up: bool,
}

/// One simulated validator.
#[derive(Debug, Clone, PartialEq)]
pub struct Validator {
    mode: Mode,
    in_validator_set: bool,
    process_start: f64,
    /// When the current mode (or membership) took effect.
    entered: f64,
    /// The ledger at `entered`.
    start: Ledger,
    /// The counters at `entered`.
    base: Counters,
}

/// Everything the node reports at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub status: NodeStatus,
    pub mode: Mode,
    pub in_validator_set: bool,
    /// The node's wall clock (true time + skew).
    pub wallclock: f64,
    pub proposer_ts: f64,
    pub last_update: f64,
    pub state_version: f64,
    pub progress_rate: f64,
    /// Where peers say the network is.
    pub target_state_version: f64,
    pub target_proposer_ts: f64,
    pub recent_missed: u64,
    pub health_factor: f64,
    /// Latest proposal timestamp minus the node's clock.
    pub proposal_difference: f64,
    pub counters: Counters,
    pub process_start: f64,
}

impl Snapshot {
    /// zksync view of the same ledger: one L2 block per ledger second. `None` before genesis.
    pub fn local_block(&self) -> Option<u64> {
        (self.status != NodeStatus::BootingPreGenesis).then(|| (self.state_version / VERSIONS_PER_LEDGER_SECOND) as u64)
    }

    /// The main node's block, as the external node last heard it.
    pub fn main_node_block(&self) -> u64 {
        (self.target_state_version / VERSIONS_PER_LEDGER_SECOND) as u64
    }
}

impl Validator {
    /// A synced validator whose process starts at `now`, `version_offset` versions past the
    /// fleet's common start (so validators do not all show the same figures).
    pub fn new(now: f64, version_offset: f64) -> Validator {
        let start = Ledger {
            proposer_ts: now - LEDGER_LAG_SECONDS,
            last_update: now,
            state_version: INITIAL_STATE_VERSION + version_offset,
            rate: 1.0,
            catching_up: false,
        };
        Validator {
            mode: Mode::Synced,
            in_validator_set: true,
            process_start: now,
            entered: now,
            start,
            base: Counters::default(),
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn in_validator_set(&self) -> bool {
        self.in_validator_set
    }

    pub fn process_start(&self) -> f64 {
        self.process_start
    }

    /// Switches mode at `now`, carrying the ledger and counters over.
    pub fn set_mode(&mut self, mode: Mode, now: f64) {
        self.reanchor(now);
        self.mode = mode;
        match mode {
            Mode::Syncing { behind_seconds, .. } => {
                // A ledger never goes backward: a node already further behind stays there.
                self.start.proposer_ts = self.start.proposer_ts.min(now - behind_seconds);
            }
            Mode::MissingProposals { n } if self.in_validator_set => {
                // The misses the node now reports happened just before; they are in the counters.
                self.base.own_missed_by_gap += n as f64;
            }
            Mode::Booting => self.start.rate = 0.0,
            _ => {}
        }
        // Only a syncing node is catching up; a frozen (stalled) one must not keep saying SYNCING.
        self.start.catching_up = false;
    }

    /// Enters or leaves the validator set at `now`.
    pub fn set_in_validator_set(&mut self, in_set: bool, now: f64) {
        self.reanchor(now);
        self.in_validator_set = in_set;
    }

    /// A fresh process at `now`: counters from 0, new start time, synced. The ledger is on disk
    /// and survives.
    pub fn restart(&mut self, now: f64) {
        self.reanchor(now);
        self.mode = Mode::Synced;
        self.process_start = now;
        self.base = Counters::default();
    }

    fn reanchor(&mut self, now: f64) {
        let now = now.max(self.entered);
        // Both from the old anchor: counters first, since they are measured from `start`.
        let (ledger, counters) = (self.ledger(now), self.counters(now));
        self.start = ledger;
        self.base = counters;
        self.entered = now;
    }

    /// The ledger at `now` (true figures; a booting node hides them).
    fn ledger(&self, now: f64) -> Ledger {
        let clock = now + self.mode.clock_skew();
        match self.mode {
            Mode::Stalled | Mode::Booting => self.start,
            Mode::Syncing { rate, .. } => {
                let elapsed = (now - self.entered).max(0.0);
                let running = self.start.proposer_ts + rate * elapsed;
                let caught_up = running >= now - LEDGER_LAG_SECONDS;
                let proposer_ts = running.min(now - LEDGER_LAG_SECONDS).max(self.start.proposer_ts);
                Ledger {
                    proposer_ts,
                    last_update: clock,
                    state_version: self.advanced_version(proposer_ts),
                    rate: if caught_up { 1.0 } else { rate },
                    catching_up: !caught_up,
                }
            }
            _ => {
                let proposer_ts = (now - LEDGER_LAG_SECONDS).max(self.start.proposer_ts);
                Ledger {
                    proposer_ts,
                    last_update: clock,
                    state_version: self.advanced_version(proposer_ts),
                    rate: 1.0,
                    catching_up: false,
                }
            }
        }
    }

    fn advanced_version(&self, proposer_ts: f64) -> f64 {
        self.start.state_version + VERSIONS_PER_LEDGER_SECOND * (proposer_ts - self.start.proposer_ts)
    }

    /// Counters at `now`: they grow with the ledger progress made in the current mode. A synced
    /// node that was behind jumps to the network's ledger at once; those rounds are not counted,
    /// so that a restarted node's counters start from 0.
    fn counters(&self, now: f64) -> Counters {
        let from = match self.mode {
            Mode::Syncing { .. } | Mode::Stalled | Mode::Booting => self.start.proposer_ts,
            _ => self.start.proposer_ts.max(self.entered - LEDGER_LAG_SECONDS),
        };
        let progress = (self.ledger(now).proposer_ts - from).max(0.0);
        let own = if self.in_validator_set {
            OWN_ROUNDS_PER_LEDGER_SECOND * progress
        } else {
            0.0
        };
        let miss_share = match self.mode {
            Mode::MissingProposals { n } => n as f64 / RECENT_PROPOSALS_TRACKED as f64,
            _ => 0.0,
        };
        let observed = PEER_ROUNDS_PER_LEDGER_SECOND * progress;
        let b = self.base;
        Counters {
            own_successful: b.own_successful + own * (1.0 - miss_share),
            own_missed_by_gap: b.own_missed_by_gap + own * miss_share,
            own_missed_by_fallback: b.own_missed_by_fallback,
            peer_successful: b.peer_successful + PEER_ROUNDS_PER_LEDGER_SECOND * progress,
            proposals_observed: b.proposals_observed + observed,
            proposal_difference_sum: b.proposal_difference_sum + observed * self.proposal_difference(),
        }
    }

    fn proposal_difference(&self) -> f64 {
        BASE_TIMESTAMP_DIFFERENCE - self.mode.clock_skew()
    }

    /// What the node reports at `now`.
    pub fn snapshot(&self, now: f64) -> Snapshot {
        let wallclock = now + self.mode.clock_skew();
        let counters = self.counters(now);
        let recent_missed = match self.mode {
            Mode::MissingProposals { n } if self.in_validator_set => n,
            _ => 0,
        };
        let mut snap = Snapshot {
            status: NodeStatus::Up,
            mode: self.mode,
            in_validator_set: self.in_validator_set,
            wallclock,
            proposer_ts: 0.0,
            last_update: 0.0,
            state_version: 0.0,
            progress_rate: 0.0,
            target_state_version: 0.0,
            target_proposer_ts: 0.0,
            recent_missed,
            health_factor: 0.0,
            proposal_difference: self.proposal_difference(),
            counters,
            process_start: self.process_start,
        };
        if self.mode == Mode::Booting {
            snap.status = NodeStatus::BootingPreGenesis;
            snap.health_factor = node_health_factor(f64::INFINITY, 0.0, recent_missed, self.in_validator_set);
            return snap;
        }
        let ledger = self.ledger(now);
        let target_proposer_ts = (now - LEDGER_LAG_SECONDS).max(ledger.proposer_ts);
        let delay = wallclock - ledger.proposer_ts;
        // The node judges itself from its own figures: a node that stalled while syncing still
        // reports its last (high) progress rate, so it goes on calling itself SYNCING.
        snap.status = if ledger.catching_up || (delay > OUT_OF_SYNC_DELAY_SECONDS && ledger.rate > RATE_FLOOR) {
            NodeStatus::Syncing
        } else if delay > OUT_OF_SYNC_DELAY_SECONDS {
            NodeStatus::OutOfSync
        } else {
            NodeStatus::Up
        };
        snap.proposer_ts = ledger.proposer_ts;
        snap.last_update = ledger.last_update;
        snap.state_version = ledger.state_version;
        snap.progress_rate = ledger.rate;
        snap.target_proposer_ts = target_proposer_ts;
        snap.target_state_version =
            ledger.state_version + VERSIONS_PER_LEDGER_SECOND * (target_proposer_ts - ledger.proposer_ts);
        snap.health_factor = node_health_factor(delay, ledger.rate, recent_missed, self.in_validator_set);
        snap
    }
}

#[cfg(test)]
mod tests;
