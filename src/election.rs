//! Leader election on a Lease, decided purely, after client-go's `leaderelection` package
//! (`tryAcquireOrRenew`, `release`): the shell reads the Lease, asks [`next`] what to write,
//! and writes it with the resourceVersion it read (optimistic concurrency: of two candidates
//! writing the same version, one gets a conflict).
//!
//! Times that decide are only ever observed locally (monotonic): a holder's lease has expired
//! when *this* replica has seen its record unchanged for the lease duration, whatever the
//! holder's clock wrote into `renewTime`. The holder, for its part, stops acting when it has not
//! renewed within the renew deadline, counted from when its last successful renewal was sent:
//! before any other replica can count the lease expired.
//!
//! Shards: shard k's Lease is `<prefix>-shard-<k>` whatever the number of shards, and its holder
//! writes that number into it. A replica leads only while every other shard's live Lease says
//! the same number ([`topology_agrees`]): during a reshard (say 1 → 2 shards) the old topology's
//! leader and the new one's stop acting until the old replicas are gone, so no NodeHealth is
//! ever handled by two leaders that split the fleet differently.

use std::time::{Duration, Instant};

use jiff::Timestamp;

/// Lease timings (client-go's names and defaults: 15 s, 10 s, 2 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// How long candidates wait, from when they last saw the record change, before taking it.
    pub lease_duration: Duration,
    /// How long the holder acts without a successful renewal.
    pub renew_deadline: Duration,
    /// How often the holder renews and candidates retry.
    pub retry_period: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// client-go's `JitterFactor`: a candidate retries within 1.2 retry periods.
pub const JITTER_FACTOR: f64 = 1.2;

/// Timings client-go refuses (`NewLeaderElector`): they could let two replicas act at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimingError {
    #[error("the lease duration ({lease:?}) must be longer than the renew deadline ({renew:?})")]
    LeaseNotAboveRenew { lease: Duration, renew: Duration },
    #[error("the renew deadline ({renew:?}) must be longer than 1.2 × the retry period ({retry:?})")]
    RenewNotAboveRetry { renew: Duration, retry: Duration },
}

impl Timing {
    pub fn validated(self) -> Result<Timing, TimingError> {
        let Timing {
            lease_duration: lease,
            renew_deadline: renew,
            retry_period: retry,
        } = self;
        if lease <= renew {
            return Err(TimingError::LeaseNotAboveRenew { lease, renew });
        }
        if renew.as_secs_f64() <= JITTER_FACTOR * retry.as_secs_f64() {
            return Err(TimingError::RenewNotAboveRetry { renew, retry });
        }
        Ok(self)
    }
}

/// What a Lease says (its spec), in the election's terms.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// Empty when released.
    pub holder: String,
    pub lease_duration: Duration,
    pub acquire_time: Option<Timestamp>,
    pub renew_time: Option<Timestamp>,
    pub transitions: i32,
    /// The number of shards of the holder's topology.
    pub shards: Option<u32>,
}

/// The record as this replica last saw it, and when it first saw it so (monotonic).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub record: Record,
    pub since: Instant,
}

/// What to do about the Lease now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// No Lease yet: create it, held by us.
    Create(Record),
    /// Take or renew it: write this record over the version read.
    Write(Record),
    /// Another replica holds it and has renewed within its lease duration, as far as we saw.
    Wait { holder: String },
}

/// The next step for `me`, given the Lease read now (`None`: it does not exist) and what was
/// observed before; also what is observed now.
pub fn next(
    me: &str,
    shards: u32,
    current: Option<&Record>,
    before: Option<&Observed>,
    now: Instant,
    wall: Timestamp,
    timing: &Timing,
) -> (Option<Observed>, Step) {
    let Some(record) = current else {
        let fresh = Record {
            holder: me.to_owned(),
            lease_duration: timing.lease_duration,
            acquire_time: Some(wall),
            renew_time: Some(wall),
            transitions: 0,
            shards: Some(shards),
        };
        return (None, Step::Create(fresh));
    };
    // Any change (a renewal moves renewTime) restarts the local count.
    let observed = Some(observe(record.clone(), before, now));
    if let Some(o) = observed
        .as_ref()
        .filter(|o| o.record.holder != me && live(o, now, timing))
    {
        let holder = o.record.holder.clone();
        return (observed, Step::Wait { holder });
    }
    let mut mine = Record {
        holder: me.to_owned(),
        lease_duration: timing.lease_duration,
        renew_time: Some(wall),
        shards: Some(shards),
        ..record.clone()
    };
    if record.holder != me {
        mine.acquire_time = Some(wall);
        mine.transitions = record.transitions.saturating_add(1);
    }
    (observed, Step::Write(mine))
}

/// Whether a Lease is held and, as observed here, renewed within its duration.
pub fn live(o: &Observed, now: Instant, timing: &Timing) -> bool {
    let duration = if o.record.lease_duration.is_zero() {
        timing.lease_duration
    } else {
        o.record.lease_duration
    };
    !o.record.holder.is_empty() && o.since + duration > now
}

/// Whether the other shards' Leases agree with this replica's number of shards: a live one
/// that says another number (or none) belongs to a topology that may still act.
pub fn topology_agrees<'a>(
    shards: u32,
    others: impl IntoIterator<Item = &'a Observed>,
    now: Instant,
    timing: &Timing,
) -> bool {
    others
        .into_iter()
        .all(|o| o.record.shards == Some(shards) || !live(o, now, timing))
}

/// What is observed now of a Lease read again: the count goes on while it is unchanged.
pub fn observe(record: Record, before: Option<&Observed>, now: Instant) -> Observed {
    let since = before.filter(|o| o.record == record).map_or(now, |o| o.since);
    Observed { record, since }
}

/// The record that gives the Lease up on a graceful shutdown (client-go's `release`): no
/// holder, a one-second duration, so that a standby takes it at its next retry.
pub fn released(record: &Record, wall: Timestamp) -> Record {
    Record {
        holder: String::new(),
        lease_duration: Duration::from_secs(1),
        acquire_time: Some(wall),
        renew_time: Some(wall),
        transitions: record.transitions,
        shards: record.shards,
    }
}

/// Until when a holder whose renewal was sent at `sent` may act: the renew deadline later.
pub fn acting_until(sent: Instant, timing: &Timing) -> Instant {
    sent + timing.renew_deadline
}

#[cfg(test)]
mod tests;
