//! From a chain-neutral reading to a verdict: where the ledger stands (synced, syncing, out of
//! sync, booting, unreachable), the health factor, whether the network is live, whether the
//! node's clock can be trusted, and the operator's own observation of progress over a window.
//!
//! Chain-neutral: nothing here names a metric or a format; the chain readers (`chains/`) say
//! what a node told in [`Reading`](crate::model::Reading)s. Pure: every function takes the
//! observation and its time as arguments.
//!
//! The rules, and the sentences of the Radix node-health document they follow (the zksync lag
//! rule applies the same idea to block heights):
//! - time is read on the node's clock: "All metrics which record timestamps (...) should be
//!   interpreted as relative to this one" (`rn_misc_wallclock_epoch_second`);
//! - synced: the ledger's time within `syncedDelay` of the node's clock ("should always
//!   stay close to the wallclock"), or its height within `maxBlockLag` of its target;
//! - syncing: behind and progressing faster than the network ("`rate(...) > 1.0`"); out of sync
//!   otherwise ("such Node cannot be considered healthy");
//! - the health factor: the document's heuristic, with its 10/50 rate clamp (`Params`);
//! - the network is not live when the target does not move ("A non-progressing
//!   `rn_sync_target_proposer_timestamp_epoch_second` and `rn_sync_target_state_version` are
//!   strong indicators of the Network's liveness problems");
//! - the clock: "If all the numbers observed here exceed the upper bound, then the Node's clock
//!   may be delayed" (and the lower bound: rushing, or too much latency).
//!
//! Guarantees:
//! - an unknown or unreadable answer never makes a pod look healthier than a known bad one;
//! - a verdict that rests on the node's word about its progress, not yet checked over a trusted
//!   span, says so (`verified: false`);
//! - reasons are short plain words built from parsed figures, never raw response bodies.

pub mod fleet;
mod history;
mod judge;
mod params;
mod signals;

pub use history::History;
pub use params::{CATCH_UP_RATE, Params};

use crate::model::{Observation, PodVerdict, SyncState};

/// Assesses one scrape against the pod's history and records it there.
pub fn assess(history: &mut History, obs: &Observation, params: &Params) -> PodVerdict {
    history.observe(obs, params)
}

#[cfg(test)]
mod tests;
