//! The verdict on one pod, in the words every chain shares.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Status, worst};

/// Where a node's ledger stands relative to the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub enum SyncState {
    /// Close to the network's head: its ledger time within `syncedDelay` of its clock,
    /// or its height within `maxBlockLag` of its target.
    Synced,
    /// Behind, and closing the gap: progressing faster than the network (Radix: faster than
    /// real time). It will become synced.
    Syncing,
    /// Behind, and not closing the gap.
    OutOfSync,
    /// The process answers but has not finished starting.
    Booting,
    /// The process does not answer (refused, timed out) for `failureThreshold` probes in a row.
    Unreachable,
    /// Nothing tells where the ledger stands.
    Unknown,
}

impl fmt::Display for SyncState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Whether the network a node belongs to is live, by what this node shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub enum Network {
    /// The network commits: the node's ledger keeps up with real time, or the head its peers
    /// (or main node) announce moves.
    Live,
    /// The network's head does not move (or rounds are skipped) while this node is behind:
    /// a liveness break of the whole network, or this node cut off from it.
    Stalled,
    /// Not known yet (not observed long enough) or not measurable.
    #[default]
    Unknown,
}

/// The figures a verdict came from. `None` = not known from this scrape.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Figures {
    /// The ledger's height (Radix: state version; zksync: local L2 block).
    pub state_version: Option<f64>,
    /// The height the node's peers (or main node) announce: not validated.
    pub target_state_version: Option<f64>,
    /// How far the ledger's time is behind the node's clock.
    pub ledger_delay_seconds: Option<f64>,
    pub reported_progress_rate: Option<f64>,
    pub observed_progress_rate: Option<f64>,
    pub missed_proposals: Option<f64>,
    pub in_validator_set: Option<bool>,
    /// The node's clock minus the operator's.
    pub clock_skew_seconds: Option<f64>,
    /// Blocks behind the target (zksync: behind the main node).
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
    pub network: Network,
    /// False while the verdict rests on what the node says of its progress and the operator has
    /// not watched it long enough to check (after a start of the operator, or of the node). Such
    /// a verdict never closes an incident and never lets an action through.
    pub verified: bool,
    /// The factor computed by the operator (the Radix heuristic, with its own observed rate).
    pub health_factor: Option<f64>,
    /// The factor the node reports about itself.
    pub reported_health_factor: Option<f64>,
    pub figures: Figures,
    /// Plain words, most important first.
    pub reasons: Vec<String>,
    /// Component statuses, when the node reports components.
    pub components: BTreeMap<String, Status>,
}

impl PodVerdict {
    pub fn new(status: Status, sync_state: SyncState) -> Self {
        PodVerdict {
            status,
            healthy: status.is_healthy(),
            sync_state,
            network: Network::Unknown,
            verified: true,
            health_factor: None,
            reported_health_factor: None,
            figures: Figures::default(),
            reasons: Vec::new(),
            components: BTreeMap::new(),
        }
    }

    /// Lowers the status to at least `status`.
    pub fn worsen(&mut self, status: Status) {
        self.status = worst([self.status, status]);
        self.healthy = self.status.is_healthy();
    }
}
