//! CometBFT's Prometheus page (`instrumentation.prometheus = true`, port 26660).
//!
//! Every series is `<namespace>_<subsystem>_<name>`: the namespace is
//! `instrumentation.namespace` in the node's `config.toml` ("Instrumentation namespace",
//! default `cometbft`; Tendermint wrote `tendermint`), so it is a parameter here, not a constant.
//! Series read (CometBFT `consensus/metrics.go`, `blocksync/metrics.go`, `statesync/metrics.go`,
//! `p2p/metrics.go`), each labelled `chain_id`:
//! - `consensus_latest_block_height`: "The latest block height";
//! - `blocksync_syncing`, `statesync_syncing`: "Whether or not a node is block/state syncing. 1
//!   if yes, 0 if no";
//! - `p2p_peers`: "Number of peers";
//! - `consensus_validator_missed_blocks`: "Total amount of blocks missed for the node, if it is a
//!   validator" (grows: a counter whose growth is a warning);
//! - `consensus_validator_last_signed_height`: "Last height signed by this validator if the node
//!   is a validator";
//! - `consensus_rounds`: "Number of rounds", the round of the height being decided. Rounds past
//!   0 are rounds whose proposal did not gather +2/3 of the voting power in time: a height whose
//!   round keeps growing is a network that does not commit (the list does not name it;
//!   it is what tells a halted network from a stalled node without any target height).

use crate::exposition::{self, Limits, ParseStats};
use crate::model::{Counter, Reading, Status, SyncState};

/// `instrumentation.namespace`'s default in CometBFT's `config.toml`.
pub const DEFAULT_NAMESPACE: &str = "cometbft";

/// Blocks a validator's last signature may trail its head before it is a reason: a validator
/// signs every block it sees committed, so two blocks (one in flight, one committing) is the
/// most a healthy signer lags; more means it is not signing.
pub const MAX_SIGNING_LAG_BLOCKS: f64 = 2.0;

/// What the page says; `None` where a series is absent.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Page {
    pub height: Option<f64>,
    pub block_syncing: Option<bool>,
    pub state_syncing: Option<bool>,
    pub peers: Option<f64>,
    pub missed_blocks: Option<f64>,
    pub last_signed_height: Option<f64>,
    pub rounds: Option<f64>,
    /// How the page parsed.
    pub stats: ParseStats,
}

/// Parses the page's series under `namespace` (without the trailing `_`).
pub fn parse(body: &[u8], namespace: &str) -> Result<Page, String> {
    let mut page = Page::default();
    let prefix = format!("{namespace}_");
    let parsed = exposition::parse(
        body,
        &Limits::default(),
        |name| name.starts_with(&prefix),
        |s| {
            let v = Some(s.value).filter(|v| v.is_finite() && *v >= 0.0);
            let flag = v.map(|v| v >= 0.5);
            match s.name.strip_prefix(&prefix).unwrap_or_default() {
                "consensus_latest_block_height" => page.height = page.height.or(v),
                "p2p_peers" => page.peers = page.peers.or(v),
                "consensus_validator_missed_blocks" => page.missed_blocks = page.missed_blocks.or(v),
                "consensus_validator_last_signed_height" => {
                    page.last_signed_height = page.last_signed_height.or(v);
                }
                "consensus_rounds" => page.rounds = page.rounds.or(v),
                "blocksync_syncing" => page.block_syncing = page.block_syncing.or(flag),
                "statesync_syncing" => page.state_syncing = page.state_syncing.or(flag),
                _ => {}
            }
        },
    );
    page.stats = parsed.map_err(|e| format!("metrics: {e}"))?;
    Ok(page)
}

/// Adds what the page says to what `/status` and `/net_info` said. `only_word`: the RPC is not
/// probed, so the page's figures are the reading.
pub fn read(page: &Page, r: &mut Reading, only_word: bool) {
    super::super::page_notes(r, &page.stats);
    if only_word {
        r.status = Some(Status::Ready);
        r.head.height = page.height.filter(|h| *h > 0.0);
        if page.height == Some(0.0) {
            r.booting = Some("the node's latest block height is 0: it has no block yet".to_owned());
        }
    }
    let syncing = page.block_syncing == Some(true) || page.state_syncing == Some(true);
    if r.claimed_sync.is_none() && (page.block_syncing.is_some() || page.state_syncing.is_some()) {
        r.claimed_sync = Some(if syncing { SyncState::Syncing } else { SyncState::Synced });
        if syncing {
            r.worsen(Status::Affected, "node reports it is block or state syncing".to_owned());
        }
    }
    if only_word && page.peers == Some(0.0) {
        r.worsen(Status::Affected, "no peers connected (p2p_peers is 0)".to_owned());
    }
    // The round resets to 0 when a block commits: a drop between two scrapes is a new height,
    // which `assess` does not count; only rounds that grow at one height are skipped.
    r.skipped_rounds = page.rounds;
    if let Some(missed) = page.missed_blocks {
        r.counters.push(Counter {
            what: "blocks this validator missed signing",
            value: missed,
        });
    }
    // Only a validator signs: a last signed height of 0 is a node outside the set.
    let head = r.head.height.or(page.height);
    if let (Some(head), Some(signed)) = (head, page.last_signed_height.filter(|s| *s > 0.0))
        && head - signed > MAX_SIGNING_LAG_BLOCKS
    {
        r.reasons.push(format!(
            "the validator last signed block {signed:.0}, {:.0} blocks before its head",
            head - signed
        ));
    }
}
