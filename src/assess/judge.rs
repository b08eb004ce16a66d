//! From a chain-neutral reading and what the operator observed to a verdict: where the ledger
//! stands, the health factor, and the status they lead to. Each rule names the sentence of the
//! document it follows.

use super::history::{Progress, Watch};
use super::params::CATCH_UP_RATE;
use super::signals::{clock_reasons, network};
use super::{Params, PodVerdict};
use crate::model::{Network, Reading, Status, SyncState};

/// Judges a scrape in which at least one request was answered.
pub(super) fn judge(r: &Reading, at: f64, watch: &Watch, params: &Params) -> PodVerdict {
    let mut v = PodVerdict::new(
        r.status.unwrap_or(Status::Ready),
        r.claimed_sync.unwrap_or(SyncState::Unknown),
    );
    v.components = r.components.clone();
    v.reasons = r.reasons.clone();
    v.reported_health_factor = r.reported_factor;
    let fig = &mut v.figures;
    fig.state_version = r.head.height;
    fig.target_state_version = r.target.height;
    fig.reported_progress_rate = r.reported_rate;
    fig.in_validator_set = r.in_validator_set;
    fig.missed_proposals = r.missed_proposals;
    // "All metrics which record timestamps (i.e. named `*_epoch_second`) should be interpreted
    // as relative to this one [the node's wallclock]": the operator's clock only when the node
    // gives none.
    let now = r.clock.unwrap_or(at);
    if let Some(why) = &r.booting {
        v.sync_state = SyncState::Booting;
        v.health_factor = Some(0.0);
        v.worsen(Status::NotReady);
        v.reasons.insert(0, why.clone());
        return v;
    }
    let progress = watch.progress.as_ref();
    if let Some(head_time) = r.head.time {
        by_time(&mut v, r, now - head_time, progress, params);
    } else if let (Some(head), Some(target)) = (r.head.height, r.target.height) {
        by_height(&mut v, r, target - head, progress, params);
    }
    if v.sync_state != SyncState::Synced && progress.is_none() && r.head.is_known() {
        // The verdict rests on the node's word about its progress until the operator has
        // watched long enough to check it.
        v.verified = false;
        v.reasons.push(format!(
            "progress not yet observed by the operator ({:.0} of the {:.0} s it needs)",
            watch.watched_seconds, watch.needed_seconds
        ));
    }
    let (net, why) = network(r, &v, progress, at, params);
    v.network = net;
    if let Some(why) = why {
        v.reasons.insert(0, why);
    }
    clock_reasons(&mut v, r, at, params);
    if v.figures.in_validator_set == Some(true)
        && let Some(missed) = v.figures.missed_proposals.filter(|m| *m > 0.0)
    {
        v.reasons.push(format!("missed {missed:.0} recent proposal(s)"));
    }
    grade(&mut v, params);
    v
}

/// The status the sync state and the factor lead to.
fn grade(v: &mut PodVerdict, params: &Params) {
    match v.sync_state {
        // "Values lower than this suggest that the Node's I/O or processing speed does not allow
        // it to record the transactions committed by the Network in realtime - and such Node
        // cannot be considered healthy."
        SyncState::OutOfSync => v.worsen(Status::NotReady),
        SyncState::Syncing => v.worsen(Status::Affected),
        _ => {}
    }
    if v.network == Network::Stalled {
        // Not this node's fault: its verdict says so, the remediation gate acts on it.
        v.worsen(Status::Affected);
    }
    if let Some(f) = v.health_factor {
        if f < params.unhealthy_below {
            v.worsen(Status::NotReady);
        } else if f < params.degraded_below {
            v.worsen(Status::Affected);
        }
    }
}

/// A ledger with a time (Radix: `rn_ledger_last_update_proposer_epoch_second`), `delay` seconds
/// behind the node's clock.
fn by_time(v: &mut PodVerdict, r: &Reading, delay: f64, progress: Option<&Progress>, params: &Params) {
    let delay = delay.max(0.0);
    let observed = progress.and_then(|p| p.head_time_rate.map(|rate| (rate, p.over_seconds)));
    v.figures.ledger_delay_seconds = Some(delay);
    v.figures.observed_progress_rate = observed.map(|(rate, _)| rate);
    // The node computes its rate per ledger update, so a stalled node keeps its last rate:
    // the operator's own observation, when it has one, caps it.
    let rate = match (r.reported_rate, observed) {
        (Some(reported), Some((seen, _))) => Some(reported.min(seen)),
        (reported, seen) => reported.or(seen.map(|(rate, _)| rate)),
    };
    let missed = r.missed_proposals.unwrap_or(0.0);
    let in_set = r.in_validator_set.unwrap_or(false);
    // "the "syncing rate" is healthy when: either this Node's ledger proposer timestamp is close
    // enough to the wallclock, or the ledger-sync process is progressing considerably faster
    // than the realtime"; "the "proposal reliability" is healthy when: either this Node is
    // currently not in active validator set, or (...) has no missed proposals in recent history".
    v.health_factor = Some(params.syncing_factor(delay, rate) * params.proposal_factor(missed, in_set));
    if delay < params.synced_delay_seconds {
        // "On a healthy synced Node, the `rn_ledger_last_update_proposer_epoch_second` should
        // always stay close to the wallclock".
        v.sync_state = SyncState::Synced;
        return;
    }
    // "A healthy Node is expected to eventually become synced. This will happen only if the
    // "syncing rate" (...) is faster than realtime".
    v.sync_state = match rate {
        Some(rate) if rate > CATCH_UP_RATE => SyncState::Syncing,
        Some(_) => SyncState::OutOfSync,
        None => r.claimed_sync.unwrap_or(SyncState::OutOfSync),
    };
    let rate_words = match (rate, observed) {
        (Some(rate), Some((seen, over))) if seen <= rate => {
            format!("progressing at {rate:.1}× real time over {}", human_duration(over))
        }
        (Some(rate), _) => format!("progressing at {rate:.1}× real time (as the node reports)"),
        (None, _) => "progress rate unknown".to_owned(),
    };
    v.reasons
        .insert(0, format!("ledger {} behind, {rate_words}", human_duration(delay)));
    if let (Some(cur), Some(target)) = (r.head.height, r.target.height)
        && target > cur
    {
        v.reasons.push(format!(
            "{:.0} state versions behind {} (unvalidated)",
            target - cur,
            r.target_source
        ));
    }
}

/// A ledger with a height only (zksync: `local_block`), `lag` blocks behind its target.
fn by_height(v: &mut PodVerdict, r: &Reading, lag: f64, progress: Option<&Progress>, params: &Params) {
    let lag = lag.max(0.0);
    v.figures.block_lag = Some(lag as u64);
    if lag <= params.max_block_lag {
        v.sync_state = SyncState::Synced;
        return;
    }
    let rates = progress.and_then(|p| Some((p.head_height_rate?, p.target_height_rate?, p.over_seconds)));
    let (state, words) = match rates {
        // The gap closes: it will become synced.
        Some((head, target, over)) if head > target => (
            SyncState::Syncing,
            format!(
                "closing the gap at {:.1} blocks/s over {}",
                head - target,
                human_duration(over)
            ),
        ),
        Some((0.0, target, over)) => (
            SyncState::OutOfSync,
            format!(
                "its block has not moved for {} while {} moved {target:.1} blocks/s",
                human_duration(over),
                r.target_source
            ),
        ),
        Some((head, target, over)) => (
            SyncState::OutOfSync,
            format!(
                "not closing the gap over {}: {head:.1} blocks/s against {target:.1}",
                human_duration(over)
            ),
        ),
        None => (
            r.claimed_sync.unwrap_or(SyncState::Syncing),
            "progress not observed yet".to_owned(),
        ),
    };
    v.sync_state = state;
    v.reasons
        .insert(0, format!("{lag:.0} blocks behind {}, {words}", r.target_source));
}

/// `312 s`, `5 min`, `2 h 3 min`: short words for reasons.
pub(super) fn human_duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 if s.is_multiple_of(60) => format!("{} min", s / 60),
        120..=7199 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}
