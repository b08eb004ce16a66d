//! What a chain reader makes of one scrape: one chain-neutral [`Reading`]. The rules that turn
//! readings into verdicts (`assess`) know nothing else of a node, so every chain says what it
//! knows in these words.

use std::collections::BTreeMap;

use super::{Status, SyncState, worst};

/// A point of a ledger: its time (the proposer timestamp of the last committed block, Unix
/// seconds) and/or its height (a block number, a state version).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Position {
    pub time: Option<f64>,
    pub height: Option<f64>,
}

impl Position {
    pub fn is_known(&self) -> bool {
        self.time.is_some() || self.height.is_some()
    }
}

/// A counter whose growth between two scrapes is worth a warning.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Counter {
    /// What it counts, in plain words, e.g. `invalid sync responses`.
    pub what: &'static str,
    pub value: f64,
}

/// What one scrape says of a node, in words every chain shares. `None` = not known.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reading {
    /// The worst status the node gives itself, or its answers imply (a failed health request is
    /// `not_ready`); `None` when nothing was said.
    pub status: Option<Status>,
    /// The node's components and their statuses, when it reports components.
    pub components: BTreeMap<String, Status>,
    /// Where the node says its ledger stands, in its own words (e.g. Radix `SYNCING`).
    pub claimed_sync: Option<SyncState>,
    /// Why the node has not finished starting, when it has not.
    pub booting: Option<String>,
    /// Where the node's ledger is.
    pub head: Position,
    /// Where the node hears the network's head is (its peers, its main node): not validated.
    pub target: Position,
    /// Who announces `target`, for reasons (`the sync target announced by peers`).
    pub target_source: &'static str,
    /// The node's clock when it answered (Unix seconds): the timestamps it reports are read
    /// against it, not against the operator's.
    pub clock: Option<f64>,
    /// The node's own measure of its progress: ledger seconds per real second.
    pub reported_rate: Option<f64>,
    /// The health factor the node computes itself (0.0 to 1.0).
    pub reported_factor: Option<f64>,
    pub in_validator_set: Option<bool>,
    /// Proposals this validator recently missed.
    pub missed_proposals: Option<f64>,
    /// The least and the greatest difference observed between peers' clocks (as their messages
    /// carry them) and the node's clock, in seconds.
    pub peer_clock_offsets: Option<(f64, f64)>,
    /// Consensus rounds the whole network skipped so far (a counter).
    pub skipped_rounds: Option<f64>,
    /// Counters whose growth is a warning.
    pub counters: Vec<Counter>,
    /// What the reader noticed, in plain words, most important first.
    pub reasons: Vec<String>,
}

impl Reading {
    /// Lowers the node's status to at least `status`, with why.
    pub fn worsen(&mut self, status: Status, reason: String) {
        self.status = Some(worst(self.status.into_iter().chain([status])));
        self.reasons.push(reason);
    }
}

/// One scrape, read: what the chain made of it, or why nothing could be read at all.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// When the scrape was taken (Unix seconds, the operator's clock).
    pub at: f64,
    /// `Err` with the failures' words when no request was answered at all.
    pub reading: Result<Reading, String>,
}
