//! The probe loop: carries out the schedule's probes as they fall due (bounded by the probe
//! slots), records what they concluded, and asks for a reconcile of a NodeHealth when one of its
//! pods' verdicts changes. Probing has its own clock: nothing else starts a probe.
//!
//! It runs on a thread of its own with a single-threaded runtime: one event loop serves every
//! socket of a tick, without the wake-ups across worker threads that a shared multi-threaded
//! runtime adds to each probe (`scripts/bench-scale.sh 10000`: see README, Performance).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use kube::core::DeserializeGuard;
use kube::runtime::reflector::ObjectRef;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use super::{Context, lock};
use crate::crd::NodeHealth;
use crate::model::{ComponentHealth, Observation, Scrape, Status};
use crate::schedule::{Change, Job};

/// Where verdict changes go: the controller's reconcile queue.
pub(super) type Trigger = mpsc::Sender<ObjectRef<DeserializeGuard<NodeHealth>>>;

/// Longest sleep between two looks at the schedule: registrations wake the loop at once, this
/// only bounds the drift of a sleeping timer.
const MAX_SLEEP: Duration = Duration::from_secs(5);
/// Body bytes of a scrape past which it is read on a blocking thread rather than on the probe
/// loop's: ten times a real Radix page (~100 KiB, see `ProbeConfig`). Reading a page of 100,000
/// series on the loop held up every other probe's sockets meanwhile; handing each small page to
/// another thread would cost a wake-up per probe.
const READ_ELSEWHERE_BYTES: usize = 1 << 20;

/// A probe done: its job, whether it failed for want of file descriptors, what it read, and when
/// it started.
type Done = (Job, bool, Option<Observation>, f64);

/// Starts the probe loop on its own thread; the receiver completes when the loop has stopped
/// (after `shutdown` resolves).
pub(super) fn spawn(
    ctx: Arc<Context>,
    trigger: Trigger,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<oneshot::Receiver<()>> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (done, stopped) = oneshot::channel();
    std::thread::Builder::new().name("probes".to_owned()).spawn(move || {
        runtime.block_on(run(ctx, trigger, shutdown));
        let _ = done.send(());
    })?;
    Ok(stopped)
}

/// Runs until `shutdown` resolves.
async fn run(ctx: Arc<Context>, trigger: Trigger, shutdown: impl std::future::Future<Output = ()>) {
    let mut running: JoinSet<Done> = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let jobs = lock(&ctx.schedule).pop_due(unix_now());
        for job in jobs {
            let ctx = ctx.clone();
            running.spawn(async move {
                // A closed semaphore only happens at shutdown; then the probe goes ahead unbounded.
                let _slot = ctx.probe_slots.acquire().await.ok();
                let started = unix_now();
                let metrics = &ctx.metrics;
                let timeout = Duration::from_secs_f64(job.timeout);
                let scrape = ctx
                    .prober
                    .scrape_within(&job.target, started, timeout, job.pooled, |e, r, s| {
                        metrics.observe_probe(e, r, s)
                    })
                    .await;
                // An unreadable CA or token file is the policy's to report (it stalls), not the
                // prober's.
                let out_of_files = scrape.out_of_files();
                let (job, observation) = read(job, scrape).await;
                (job, out_of_files, observation, started)
            });
        }
        let scheduled = lock(&ctx.schedule).len();
        ctx.metrics.set_probing(scheduled, ctx.prober.idle_connections());
        let sleep = lock(&ctx.schedule).next_wake().map_or(MAX_SLEEP, |w| {
            Duration::from_secs_f64((w - unix_now()).max(0.0)).min(MAX_SLEEP)
        });
        tokio::select! {
            Some(done) = running.join_next(), if !running.is_empty() => {
                if let Ok((job, out_of_files, observation, started)) = done {
                    finish(&ctx, &trigger, &job, out_of_files, observation, started);
                }
            }
            () = tokio::time::sleep(sleep) => {}
            () = ctx.wake.notified() => {}
            () = &mut shutdown => break,
        }
    }
}

/// Reads a scrape as its pod's chain does: here when it is small, on a blocking thread when it
/// is large ([`READ_ELSEWHERE_BYTES`]).
async fn read(job: Job, scrape: Scrape) -> (Job, Option<Observation>) {
    let bytes: usize = scrape
        .answers
        .iter()
        .filter_map(|(_, f)| Some(f.as_ref().ok()?.body.len()))
        .sum();
    if bytes <= READ_ELSEWHERE_BYTES {
        let observation = job.read(&scrape);
        return (job, observation);
    }
    let reader = job.clone();
    match tokio::task::spawn_blocking(move || reader.read(&scrape)).await {
        Ok(observation) => (job, observation),
        Err(e) => {
            // A reader that panicked: the verdict stands, as for a probe that says nothing.
            tracing::error!(nodehealth = %job.key, uid = %job.uid, error = %e, "reading a scrape failed");
            (job, None)
        }
    }
}

/// Records a probe and, when a verdict changed, asks for its NodeHealth to be reconciled.
fn finish(ctx: &Context, trigger: &Trigger, job: &Job, failed: bool, observation: Option<Observation>, started: f64) {
    ctx.metrics.observe_probe_lateness(unix_now() - job.due);
    if ctx.out_of_files.swap(failed, Ordering::AcqRel) != failed {
        // Said once per change, not per probe.
        let health = if failed {
            let details = serde_json::json!({"error": "too many open files: probes fail until descriptors free up"});
            tracing::warn!("out of file descriptors: probes fail until some free up");
            ComponentHealth::new(Status::Affected).with_details(details)
        } else {
            ComponentHealth::new(Status::Ready)
        };
        ctx.health.set("prober", health);
    }
    let change = lock(&ctx.schedule).record(job, observation, started);
    if change == Change::Verdict {
        let (ns, name) = job.key.split_once('/').unwrap_or(("", job.key.as_str()));
        // Full: a reconcile is queued already, or the periodic one comes within a period.
        let _ = trigger.try_send(ObjectRef::new(name).within(ns));
    }
}

/// Seconds since the Unix epoch (the schedule's clock).
pub(super) fn unix_now() -> f64 {
    jiff::Timestamp::now().as_microsecond() as f64 / 1e6
}
