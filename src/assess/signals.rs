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
/// - A node behind its clock that has the head its peers announce: "in case of liveness break,
///   the `rn_sync_target_proposer_timestamp_epoch_second` will lag behind the wallclock, and even
///   a healthy Node cannot sync past that value" (synced with the network: "less ambiguously:
///   `rn_sync_current_state_version == rn_sync_target_state_version`"). One scrape tells.
/// - "A non-progressing `rn_sync_target_proposer_timestamp_epoch_second` and
///   `rn_sync_target_state_version` are strong indicators of the Network's liveness problems
///   (unless _all_ connected peers coordinated to lie to the Node)"; for zksync, the main node's
///   block not moving. Only what the operator watched over a trusted span counts.
/// - Without a target to watch, "gaps in round numbers most likely denote problems with
///   liveness of the entire Network".
///
/// A node cut off from its peers shows the same as a halted network ("a local connectivity loss
/// can be hard to distinguish from the Network's liveness break"): the remediation gate weighs
/// every validator of a policy, and one that keeps up proves the network live.
pub(super) fn network(
    r: &Reading,
    v: &PodVerdict,
    progress: Option<&Progress>,
    at: f64,
    params: &Params,
) -> (Network, Option<String>) {
    let synced = v.sync_state == SyncState::Synced;
    if synced && r.head.time.is_some() {
        return (Network::Live, None);
    }
    // Not synced means the head is old by the node's clock; when that clock and the operator's
    // disagree beyond `maxClockSkew`, it is a clock that is wrong, not the network.
    let clocks_agree = r
        .clock
        .is_none_or(|clock| (clock - at).abs() <= params.max_clock_skew_seconds);
    if let Some(delay) = v.figures.ledger_delay_seconds.filter(|_| !synced && clocks_agree)
        && has_the_target(r)
    {
        return (
            Network::Stalled,
            Some(format!(
                "the network is not live: the node has the head its peers announce, and that head is {} old",
                human_duration(delay)
            )),
        );
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
                human_duration(p.recent_seconds)
            )),
        ),
        None => match p.skipped_rounds {
            Some(n) if n > 0.0 && !synced => (
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

/// Whether the node's ledger is at the target its peers announce: by height when both are
/// known (the document's less ambiguous test), else by time.
fn has_the_target(r: &Reading) -> bool {
    match (r.head.height, r.target.height, r.head.time, r.target.time) {
        (Some(head), Some(target), _, _) => head >= target,
        (_, _, Some(head), Some(target)) => head >= target,
        _ => false,
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
