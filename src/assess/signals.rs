//! Signals beside the sync state: whether the network is live, and whether the node's clock can
//! be trusted.

use super::history::Progress;
use super::judge::human_duration;
use super::{Params, PodVerdict};
use crate::model::{Network, Reading, SyncState};

/// Whether the network is live, by what this node shows, and the reason to give when it is not.
///
/// - A synced node proves it: "a healthy Network always keeps committing to the Ledger (...)
///   otherwise there must be a liveness break".
/// - "A non-progressing `rn_sync_target_proposer_timestamp_epoch_second` and
///   `rn_sync_target_state_version` are strong indicators of the Network's liveness problems
///   (unless _all_ connected peers coordinated to lie to the Node)"; for zksync, the main node's
///   block not moving.
/// - Without a target to watch, "gaps in round numbers most likely denote problems with
///   liveness of the entire Network".
///
/// Only what the operator watched over a trusted span counts: one scrape says nothing of movement.
pub(super) fn network(r: &Reading, v: &PodVerdict, progress: Option<&Progress>) -> (Network, Option<String>) {
    if v.sync_state == SyncState::Synced && r.head.time.is_some() {
        return (Network::Live, None);
    }
    let Some(p) = progress else {
        return (Network::Unknown, None);
    };
    match p.target_moved {
        Some(true) => (Network::Live, None),
        Some(false) => (
            Network::Stalled,
            Some(format!(
                "the network is not live: {} has not moved for {}",
                r.target_source,
                human_duration(p.over_seconds)
            )),
        ),
        None => match p.skipped_rounds {
            Some(n) if n > 0.0 && v.sync_state != SyncState::Synced => (
                Network::Stalled,
                Some(format!(
                    "the network is not live: {n:.0} consensus rounds missed by gap in {}",
                    human_duration(p.over_seconds)
                )),
            ),
            _ => (Network::Unknown, None),
        },
    }
}

/// The node's clock against the operator's, and against its peers'.
pub(super) fn clock_reasons(v: &mut PodVerdict, r: &Reading, at: f64, params: &Params) {
    if let Some(clock) = r.clock {
        let skew = clock - at;
        v.figures.clock_skew_seconds = Some(skew);
        if skew.abs() > params.max_clock_skew_seconds {
            let dir = if skew > 0.0 { "ahead of" } else { "behind" };
            let why = format!("node clock {:.1} s {dir} the operator's", skew.abs());
            // When it is what puts the ledger behind, it is the first thing to fix.
            if v.sync_state == SyncState::Synced {
                v.reasons.push(why);
            } else {
                v.reasons.insert(0, why);
            }
        }
    }
    // "If all the numbers observed here exceed the upper bound, then the Node's clock may be
    // delayed. If all the numbers observed here exceed the lower bound, then either the Node's
    // clock is rushing, or the Node's latency to its peers is too high."
    let (min, max) = (
        params.proposal_timestamp_min_seconds,
        params.proposal_timestamp_max_seconds,
    );
    match r.peer_clock_offsets {
        Some((least, _)) if least > max => v.reasons.push(format!(
            "every proposal timestamp observed is more than {max} s ahead of the node's clock (the least by \
             {least:.1} s): its clock may be behind"
        )),
        Some((_, greatest)) if greatest < min => v.reasons.push(format!(
            "every proposal timestamp observed is more than {} s behind the node's clock (the greatest by {:.1} s): \
             its clock may be ahead, or its latency to peers too high",
            -min, -greatest
        )),
        _ => {}
    }
}
