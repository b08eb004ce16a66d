//! The simulated validator: a pure function of its mode history, the network and a clock.
//!
//! Nothing ticks. Each change of mode (or of validator-set membership) records an anchor: the
//! ledger and the counters at that instant. Every figure is then computed from the anchor, the
//! mode, the [`Network`] (the fleet-wide second anchor: its halts) and `now`, so a fleet of
//! thousands of idle validators costs nothing between scrapes.
//!
//! Times are seconds since the Unix epoch (`f64`), true time unless said otherwise; the node's
//! own clock is true time plus the mode's skew, and the node computes its own figures with it.
//! Ledger positions are network seconds (see [`crate::sim::network`]): a synced ledger is at the
//! network's head, and every ledger is capped there, so a halt stops them all.

use crate::sim::mode::{Mode, RECENT_PROPOSALS_TRACKED};
pub use crate::sim::network::LEDGER_LAG_SECONDS;
use crate::sim::network::Network;
use crate::sim::status::NodeStatus;

/// State versions (transactions) committed per network second: a simulator choice, in the order
/// of Babylon mainnet's load (brief: "~10 per second while synced").
pub const VERSIONS_PER_LEDGER_SECOND: f64 = 10.0;
/// zkSync Era mainnet's launch (2023-03-24, Unix seconds): the simulated L2 chain's first block.
pub const ZKSYNC_GENESIS_SECONDS: f64 = 1_679_616_000.0;
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
/// Gaps smaller than this (network seconds) are rounding, not lag: positions are computed by
/// subtraction from epoch-sized times.
const BEHIND_EPSILON: f64 = 1e-6;

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
    /// Network seconds of ledger the process has written (zksync: L2 blocks sealed).
    pub progress: f64,
    pub own_successful: f64,
    pub own_missed_by_gap: f64,
    pub own_missed_by_fallback: f64,
    pub peer_successful: f64,
    /// Proposals whose timestamp difference was observed (the summary's `_count`).
    pub proposals_observed: f64,
    /// Sum of the observed differences (the summary's `_sum`).
    pub proposal_difference_sum: f64,
}

/// Where the ledger is at an anchor.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Ledger {
    /// Network seconds (see [`crate::sim::network`]).
    position: f64,
    state_version: f64,
    /// The node's clock at its last write.
    last_update: f64,
    /// Network seconds per real second over the recent writes, as the node reports it.
    rate: f64,
}

/// The ledger at an instant.
#[derive(Debug, Clone, Copy, PartialEq)]
struct LedgerNow {
    ledger: Ledger,
    /// Behind the head and gaining on it (catching-up mode only, rate > 1).
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
    /// Network seconds between the ledger and the network's head (0 before genesis).
    pub behind: f64,
    pub recent_missed: u64,
    pub health_factor: f64,
    /// Latest proposal timestamp minus the node's clock.
    pub proposal_difference: f64,
    pub counters: Counters,
    pub process_start: f64,
}

impl Snapshot {
    /// Before genesis: the ledger has not started.
    pub fn is_booting(&self) -> bool {
        self.status == NodeStatus::BootingPreGenesis
    }

    /// zksync view of the same ledger: one L2 block per network second since the chain's genesis,
    /// so nodes at the same point of the ledger are at the same block (as a real fleet's synced
    /// nodes are), whatever their state versions. `None` before genesis.
    pub fn local_block(&self) -> Option<u64> {
        (!self.is_booting()).then(|| (self.proposer_ts - ZKSYNC_GENESIS_SECONDS).max(0.0) as u64)
    }

    /// Blocks between the node and the main node (rounded: both ends floor their versions).
    pub fn block_lag(&self) -> Option<u64> {
        (!self.is_booting()).then(|| self.behind.max(0.0).round() as u64)
    }

    /// The main node's block, as the external node last heard it.
    pub fn main_node_block(&self) -> Option<u64> {
        Some(self.local_block()? + self.block_lag()?)
    }
}

/// How far behind the head a following mode trails, in real seconds (0: at the head).
fn follow_delay(mode: Mode) -> f64 {
    match mode {
        Mode::Lagging { behind_seconds } => behind_seconds,
        _ => 0.0,
    }
}

impl Validator {
    /// A synced validator whose process starts at `now`, `version_offset` versions past the
    /// fleet's common start (so validators do not all show the same figures).
    pub fn new(now: f64, version_offset: f64, net: &Network) -> Validator {
        let start = Ledger {
            position: net.head(now),
            state_version: INITIAL_STATE_VERSION + version_offset,
            last_update: now,
            rate: 1.0,
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
    pub fn set_mode(&mut self, mode: Mode, now: f64, net: &Network) {
        self.reanchor(now, net);
        let now = self.entered;
        self.mode = mode;
        // Entering a behind mode puts the ledger back (a node restored from an older snapshot);
        // one already further behind stays there. Its state version stays: each validator's
        // versions are its own lineage, and its target is its version plus the gap.
        match mode {
            Mode::CatchingUp { rate, behind_seconds } => {
                let head = net.head(now);
                self.start.position = self.start.position.min(head - behind_seconds);
                if self.start.position < head - BEHIND_EPSILON {
                    // It reports the pace it is now ingesting at from the first write on.
                    self.start.rate = rate;
                }
            }
            Mode::Lagging { behind_seconds } => {
                self.start.position = self.start.position.min(net.head(now - behind_seconds));
            }
            Mode::MissingProposals { n } if self.in_validator_set => {
                // The misses the node now reports happened just before; they are in the counters.
                self.base.own_missed_by_gap += n as f64;
            }
            Mode::Booting => self.start.rate = 0.0,
            _ => {}
        }
    }

    /// Enters or leaves the validator set at `now`.
    pub fn set_in_validator_set(&mut self, in_set: bool, now: f64, net: &Network) {
        self.reanchor(now, net);
        self.in_validator_set = in_set;
    }

    /// A fresh process at `now`: counters from 0, new start time, synced. The ledger is on disk
    /// and survives.
    pub fn restart(&mut self, now: f64, net: &Network) {
        self.reanchor(now, net);
        self.mode = Mode::Synced;
        self.process_start = self.entered;
        self.base = Counters::default();
    }

    fn reanchor(&mut self, now: f64, net: &Network) {
        let now = now.max(self.entered);
        // Both from the old anchor: counters first, since they are measured from `start`.
        let (ledger, counters) = (self.ledger(now, net).ledger, self.counters(now, net));
        self.start = ledger;
        self.base = counters;
        self.entered = now;
    }

    /// The ledger at `now` (true figures; a booting node hides them).
    fn ledger(&self, now: f64, net: &Network) -> LedgerNow {
        let now = now.max(self.entered);
        let still = LedgerNow {
            ledger: self.start,
            catching_up: false,
        };
        match self.mode {
            Mode::Stalled | Mode::Booting => still,
            Mode::CatchingUp { rate, .. } => self.catch_up(rate, now, net),
            mode => {
                // Following the head `delay` seconds late: where the network was `delay` ago.
                let delay = follow_delay(mode);
                let target = net.head(now - delay);
                if target <= self.start.position + BEHIND_EPSILON {
                    // Nothing written since the anchor (say, a halt): the last figures stand.
                    return still;
                }
                LedgerNow {
                    ledger: self.moved_to(target, net.last_moved(now - delay) + delay, 1.0),
                    catching_up: false,
                }
            }
        }
    }

    /// The ledger at `position`, last written at real time `at` while progressing at `rate`.
    fn moved_to(&self, position: f64, at: f64, rate: f64) -> Ledger {
        Ledger {
            position,
            state_version: self.start.state_version + VERSIONS_PER_LEDGER_SECOND * (position - self.start.position),
            last_update: at + self.mode.clock_skew(),
            rate,
        }
    }

    /// A catching-up ledger: it advances at `rate` while behind the head and follows the head once
    /// it reaches it (at the head's pace while the network runs; not at all while it is halted).
    /// Walked stretch by stretch, because the head runs or stands between halts.
    fn catch_up(&self, rate: f64, now: f64, net: &Network) -> LedgerNow {
        let mut p = self.start.position;
        let mut written: Option<(f64, f64)> = None;
        for s in net.stretches(self.entered, now) {
            let head = net.head(s.from);
            let len = s.to - s.from;
            if s.running {
                if p >= head - BEHIND_EPSILON && rate >= 1.0 {
                    p = head + len;
                    written = Some((s.to, 1.0));
                } else if rate > 1.0 && (head - p) / (rate - 1.0) < len {
                    // Gains rate − 1 on the head each second: caught up within this stretch.
                    p = head + len;
                    written = Some((s.to, 1.0));
                } else {
                    p += rate * len;
                    written = Some((s.to, rate));
                }
            } else if p < head - BEHIND_EPSILON {
                // The head stands: the node ingests up to it, then has nothing left to write.
                let reach = (head - p) / rate;
                if reach < len {
                    p = head;
                    written = Some((s.from + reach, rate));
                } else {
                    p += rate * len;
                    written = Some((s.to, rate));
                }
            }
        }
        let head_now = net.head(now);
        let p = p.min(head_now).max(self.start.position);
        let ledger = match written {
            Some((at, last_rate)) => self.moved_to(p, at, last_rate),
            None => self.start,
        };
        LedgerNow {
            ledger,
            catching_up: rate > 1.0 && p < head_now - BEHIND_EPSILON,
        }
    }

    /// Counters at `now`: they grow with the ledger progress made in the current mode. A following
    /// node that was behind jumps to its target at once; those rounds are not counted, so that a
    /// restarted node's counters start from 0.
    fn counters(&self, now: f64, net: &Network) -> Counters {
        let from = match self.mode {
            Mode::CatchingUp { .. } | Mode::Stalled | Mode::Booting => self.start.position,
            mode => self.start.position.max(net.head(self.entered - follow_delay(mode))),
        };
        let progress = (self.ledger(now, net).ledger.position - from).max(0.0);
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
            progress: b.progress + progress,
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

    /// What the node reports at `now`, in the network `net`.
    pub fn snapshot(&self, now: f64, net: &Network) -> Snapshot {
        let wallclock = now + self.mode.clock_skew();
        let counters = self.counters(now, net);
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
            behind: 0.0,
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
        let LedgerNow { ledger, catching_up } = self.ledger(now, net);
        // Peers announce the head (frozen while the network is halted).
        let head = net.head(now).max(ledger.position);
        let proposer_ts = net.proposer_ts(ledger.position);
        let delay = wallclock - proposer_ts;
        // The node judges itself from its own figures: a node that stopped while syncing still
        // reports its last (high) progress rate, so it goes on calling itself SYNCING.
        snap.status = if catching_up || (delay > OUT_OF_SYNC_DELAY_SECONDS && ledger.rate > RATE_FLOOR) {
            NodeStatus::Syncing
        } else if delay > OUT_OF_SYNC_DELAY_SECONDS {
            NodeStatus::OutOfSync
        } else {
            NodeStatus::Up
        };
        snap.proposer_ts = proposer_ts;
        snap.last_update = ledger.last_update;
        snap.state_version = ledger.state_version;
        snap.progress_rate = ledger.rate;
        snap.behind = head - ledger.position;
        snap.target_proposer_ts = net.proposer_ts(head);
        snap.target_state_version = ledger.state_version + VERSIONS_PER_LEDGER_SECOND * snap.behind;
        snap.health_factor = node_health_factor(delay, ledger.rate, recent_missed, self.in_validator_set);
        snap
    }
}

#[cfg(test)]
mod tests;
