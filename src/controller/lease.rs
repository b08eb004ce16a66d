//! The election's shell: reads and writes this shard's Lease every retry period as
//! [`election::next`] decides, and keeps [`Leadership`], the operator's `/health`
//! (`leader_election`), `nodehealth_leader{shard}` and the log up to date.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::{Timestamp, Unit};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Api;
use kube::ResourceExt;
use kube::api::{ListParams, PostParams};
use serde_json::json;
use tokio::sync::mpsc;

use super::{Context, lock};
use crate::election::{self, JITTER_FACTOR, Observed, Record, Step, Timing};
use crate::model::{ComponentHealth, Status};
use crate::shard::Shard;

/// Whether this replica may write status, record events and act, now. Every replica probes.
#[derive(Debug)]
pub struct Leadership {
    /// `None`: leader election is off and this replica always leads. Otherwise until when the
    /// last successful renewal lets it act (monotonic, so a process stopped and woken after the
    /// deadline sees at once that it no longer leads, before its election loop runs again).
    elected: Option<Mutex<Option<Instant>>>,
}

impl Leadership {
    /// Leader election off: one replica, always the leader.
    pub fn always() -> Leadership {
        Leadership { elected: None }
    }

    /// Leader election on: not the leader until a Lease says so.
    pub fn elected() -> Leadership {
        Leadership {
            elected: Some(Mutex::new(None)),
        }
    }

    pub fn is_leader(&self) -> bool {
        match &self.elected {
            None => true,
            Some(until) => lock(until).is_some_and(|u| Instant::now() < u),
        }
    }

    /// How long this replica may still act without a renewal (`None`: it does not lead, or
    /// always does).
    fn remaining(&self) -> Option<Duration> {
        let until = (*lock(self.elected.as_ref()?))?;
        Some(until.saturating_duration_since(Instant::now()))
    }

    fn renewed(&self, until: Instant) {
        if let Some(m) = &self.elected {
            *lock(m) = Some(until);
        }
    }

    fn resign(&self) {
        if let Some(m) = &self.elected {
            *lock(m) = None;
        }
    }
}

/// The Lease of one shard and who competes for it.
#[derive(Debug, Clone)]
pub struct Election {
    pub namespace: String,
    /// Every shard's Lease is named `<prefix><index>`.
    prefix: String,
    /// This shard's Lease.
    pub lease: String,
    pub identity: String,
    pub timing: Timing,
    shards: u32,
}

impl Election {
    pub fn new(namespace: String, prefix: &str, shard: Shard, identity: String, timing: Timing) -> Election {
        let prefix = format!("{prefix}-shard-");
        Election {
            namespace,
            lease: format!("{prefix}{}", shard.index),
            prefix,
            identity,
            timing,
            shards: shard.total,
        }
    }
}

/// The annotation in which a Lease's holder writes its number of shards.
pub const SHARDS_ANNOTATION: &str = "nodehealth.io/total-shards";

/// What one attempt found.
enum Attempt {
    Leads,
    HeldBy(String),
    /// This replica holds its Lease, but another shard's live Lease has another number of
    /// shards: a reshard is under way.
    Resharding(String),
}

/// What this replica has seen of the Leases: its own, and the other shards'.
#[derive(Default)]
struct Seen {
    own: Option<Observed>,
    others: BTreeMap<String, Observed>,
}

/// Competes for the Lease until `stop` resolves, then gives it up if held. `gained` is told
/// each time this replica becomes the leader (so that every NodeHealth is reconciled at once).
pub(super) async fn run(
    ctx: Arc<Context>,
    election: Election,
    gained: mpsc::Sender<()>,
    stop: impl std::future::Future<Output = ()>,
) {
    let api: Api<Lease> = Api::namespaced(ctx.client.clone(), &election.namespace);
    let timing = election.timing;
    let shard = ctx.settings.shard.index;
    let mut seen = Seen::default();
    let mut was_leading = false;
    ctx.metrics.set_leader(shard, false);
    tokio::pin!(stop);
    loop {
        let sent = Instant::now();
        // A leader's attempt may not outlast its leadership: should the API server not answer,
        // the loss is noticed (and reported) the moment it happens.
        let budget = ctx
            .leadership
            .remaining()
            .filter(|left| !left.is_zero())
            .unwrap_or(timing.renew_deadline);
        let result = tokio::time::timeout(budget, attempt(&api, &election, &mut seen)).await;
        let holder = match result {
            Ok(Ok(Attempt::Leads)) => {
                ctx.leadership.renewed(election::acting_until(sent, &timing));
                Ok(election.identity.clone())
            }
            Ok(Ok(Attempt::HeldBy(holder))) => {
                ctx.leadership.resign();
                Ok(holder)
            }
            // Held, renewed (so the other topology cannot take this shard), but not acted on.
            Ok(Ok(Attempt::Resharding(why))) => {
                ctx.leadership.resign();
                Err(why)
            }
            // Not renewed: the leadership lapses by itself at the renew deadline.
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!(
                "no answer within the renew deadline ({:?})",
                timing.renew_deadline
            )),
        };
        let leading = ctx.leadership.is_leader();
        report(&ctx, &election, leading, &holder);
        if leading != was_leading {
            changed(&ctx, &election, leading, &holder);
            if leading {
                let _ = gained.try_send(());
            }
            was_leading = leading;
        }
        let wait = if leading {
            timing.retry_period
        } else {
            jittered(timing.retry_period, &election.identity)
        };
        tokio::select! {
            () = &mut stop => break,
            () = tokio::time::sleep(wait) => {}
        }
    }
    if ctx.leadership.is_leader() {
        ctx.leadership.resign();
        release(&api, &election).await;
    }
    ctx.metrics.set_leader(shard, false);
}

/// One read of this shard's Lease and, if [`election::next`] says so, one write; then, holding
/// it, one read of the other shards' Leases.
async fn attempt(api: &Api<Lease>, e: &Election, seen: &mut Seen) -> Result<Attempt, kube::Error> {
    let current = api.get_opt(&e.lease).await?;
    let record = current.as_ref().map(record_of);
    let (own, step) = election::next(
        &e.identity,
        e.shards,
        record.as_ref(),
        seen.own.as_ref(),
        Instant::now(),
        wall_now(),
        &e.timing,
    );
    seen.own = own;
    let pp = PostParams::default();
    match step {
        Step::Wait { holder } => return Ok(Attempt::HeldBy(holder)),
        Step::Create(r) => {
            api.create(&pp, &lease(&e.lease, None, &r)).await?;
        }
        // The resourceVersion read: of two replicas writing over it, one gets 409 Conflict.
        Step::Write(r) => {
            let version = current.and_then(|l| l.metadata.resource_version);
            api.replace(&e.lease, &pp, &lease(&e.lease, version, &r)).await?;
        }
    }
    // Read after writing: of two holders of different topologies writing at once, the one that
    // reads last sees the other's Lease (a list without a resourceVersion is a quorum read).
    let leases = api.list(&ListParams::default()).await?.items;
    let now = Instant::now();
    seen.others = leases
        .iter()
        .map(|l| (l.name_any(), l))
        .filter(|(name, _)| name.starts_with(&e.prefix) && *name != e.lease)
        .map(|(name, l)| {
            let observed = election::observe(record_of(l), seen.others.get(&name), now);
            (name, observed)
        })
        .collect();
    if !election::topology_agrees(e.shards, seen.others.values(), now, &e.timing) {
        let other = seen
            .others
            .iter()
            .find(|(_, o)| o.record.shards != Some(e.shards))
            .map(|(name, o)| format!("{name} is held by {} for {:?} shards", o.record.holder, o.record.shards));
        return Ok(Attempt::Resharding(format!(
            "resharding to {} shards: {}",
            e.shards,
            other.unwrap_or_default()
        )));
    }
    Ok(Attempt::Leads)
}

/// Gives the Lease up on a graceful shutdown, so a standby takes it at its next retry rather
/// than after the lease duration.
async fn release(api: &Api<Lease>, e: &Election) {
    let result = async {
        let current = api.get(&e.lease).await?;
        let record = record_of(&current);
        if record.holder != e.identity {
            return Ok(());
        }
        let gone = election::released(&record, wall_now());
        let version = current.metadata.resource_version;
        api.replace(&e.lease, &PostParams::default(), &lease(&e.lease, version, &gone))
            .await
            .map(|_| ())
    }
    .await;
    match result {
        Ok(()) => tracing::info!(lease = %e.lease, "leadership released"),
        Err(e) => tracing::warn!(error = %e, "could not release the lease: a standby takes over when it expires"),
    }
}

fn record_of(lease: &Lease) -> Record {
    let shards = lease.annotations().get(SHARDS_ANNOTATION).and_then(|v| v.parse().ok());
    let Some(s) = lease.spec.as_ref() else {
        return Record {
            shards,
            ..Record::default()
        };
    };
    Record {
        holder: s.holder_identity.clone().unwrap_or_default(),
        lease_duration: Duration::from_secs(s.lease_duration_seconds.map_or(0, |d| d.max(0).unsigned_abs().into())),
        acquire_time: s.acquire_time.as_ref().map(|t| t.0),
        renew_time: s.renew_time.as_ref().map(|t| t.0),
        transitions: s.lease_transitions.unwrap_or(0),
        shards,
    }
}

fn lease(name: &str, resource_version: Option<String>, r: &Record) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            resource_version,
            annotations: r
                .shards
                .map(|n| std::iter::once((SHARDS_ANNOTATION.to_owned(), n.to_string())).collect()),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(r.holder.clone()).filter(|h| !h.is_empty()),
            lease_duration_seconds: Some(i32::try_from(r.lease_duration.as_secs()).unwrap_or(i32::MAX)),
            acquire_time: r.acquire_time.map(MicroTime),
            renew_time: r.renew_time.map(MicroTime),
            lease_transitions: Some(r.transitions),
            ..LeaseSpec::default()
        }),
    }
}

/// Now, to the microsecond a Lease keeps: what is written is what is read back.
fn wall_now() -> Timestamp {
    let now = Timestamp::now();
    now.round(Unit::Microsecond).unwrap_or(now)
}

/// A candidate's wait: between 1 and 1.2 retry periods (client-go's `JitterFactor`), varied by
/// identity and time so that candidates do not retry in step.
fn jittered(retry: Duration, identity: &str) -> Duration {
    let nanos = Timestamp::now().subsec_nanosecond().unsigned_abs();
    let seed = crate::shard::fnv1a64(identity.as_bytes()) ^ u64::from(nanos);
    let share = (seed % 1000) as f64 / 1000.0 * (JITTER_FACTOR - 1.0);
    retry.mul_f64(1.0 + share)
}

/// `/health` component `leader_election`: ready as leader or standby, affected while the Lease
/// cannot be read or written.
fn report(ctx: &Context, e: &Election, leading: bool, holder: &Result<String, String>) {
    let shard = ctx.settings.shard.to_string();
    let health = match holder {
        Ok(h) => ComponentHealth::new(Status::Ready).with_details(json!({
            "leader": leading, "holder": h, "lease": e.lease, "shard": shard,
        })),
        Err(err) => ComponentHealth::new(Status::Affected).with_details(json!({
            "leader": leading, "lease": e.lease, "shard": shard, "error": err,
        })),
    };
    ctx.health.set("leader_election", health);
}

/// A change of leadership: logged, counted, and on a loss the leader's caches dropped.
fn changed(ctx: &Context, e: &Election, leading: bool, holder: &Result<String, String>) {
    let shard = ctx.settings.shard;
    ctx.metrics.set_leader(shard.index, leading);
    if leading {
        tracing::info!(lease = %e.lease, %shard, identity = %e.identity, "leading: writing status and acting");
    } else {
        tracing::warn!(lease = %e.lease, %shard, holder = ?holder, "not leading: probing only");
        // What this replica wrote may be overwritten by the new leader: read the watch again.
        lock(&ctx.written).clear();
        ctx.metrics.forget_pods();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leadership_lapses_by_the_clock_alone() {
        let l = Leadership::elected();
        assert!(!l.is_leader(), "not before a Lease says so");
        l.renewed(Instant::now() + Duration::from_secs(10));
        assert!(l.is_leader());
        assert!(l.remaining().is_some_and(|r| r > Duration::from_secs(9)));
        // A renewal whose deadline has passed (a process stopped meanwhile): no longer leading,
        // without anything having run.
        l.renewed(Instant::now() - Duration::from_millis(1));
        assert!(!l.is_leader());
        l.renewed(Instant::now() + Duration::from_secs(10));
        l.resign();
        assert!(!l.is_leader());
        assert!(Leadership::always().is_leader());
        assert_eq!(Leadership::always().remaining(), None);
    }

    #[test]
    fn a_lease_written_reads_back_as_the_same_record() {
        let wall = wall_now();
        let r = Record {
            holder: "nodehealth-0".into(),
            lease_duration: Duration::from_secs(15),
            acquire_time: Some(wall),
            renew_time: Some(wall),
            transitions: 2,
            shards: Some(3),
        };
        let written = lease("nodehealth-shard-1", Some("42".into()), &r);
        assert_eq!(
            written.annotations().get(SHARDS_ANNOTATION).map(String::as_str),
            Some("3")
        );
        // Through JSON, as the API server stores it (microsecond times).
        let back: Lease = serde_json::from_value(serde_json::to_value(&written).unwrap()).unwrap();
        assert_eq!(record_of(&back), r);
        let released = election::released(&r, wall);
        let gone = record_of(&lease("x", None, &released));
        assert_eq!((gone.holder.as_str(), gone.shards), ("", Some(3)));
    }

    #[test]
    fn shard_k_has_its_own_lease_named_from_the_prefix() {
        let e = Election::new(
            "ops".into(),
            "nodehealth",
            Shard { index: 1, total: 2 },
            "me".into(),
            Timing::default(),
        );
        assert_eq!(e.lease, "nodehealth-shard-1");
        assert!(e.lease.starts_with(&e.prefix));
        let j = jittered(Duration::from_secs(2), "me");
        assert!(j >= Duration::from_secs(2) && j <= Duration::from_millis(2400), "{j:?}");
    }
}
