//! One reconcile of one `NodeHealth`: select, probe, assess, decide, write. The deciding is
//! done by the pure modules (`policy`, `assess`, `status`); this is the shell around them.

use std::sync::Arc;
use std::time::Instant;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use kube::api::{Patch, PatchParams};
use kube::core::{DeserializeGuard, SelectorExt};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use super::{Context, Error, FIELD_MANAGER, act, finalize, key, lock, prober};
use crate::assess::fleet;
use crate::crd::{NodeHealth, NodeHealthStatus};
use crate::model::{ComponentHealth, Network, PodVerdict, Status as ModelStatus, Target};
use crate::policy::{self, InvalidSpec, PodSkip, Policy};
use crate::remediate::{Subject, release};
use crate::schedule::{Plan, PodTarget};
use crate::status::{self, PodOutcome};
use crate::telemetry::PodGauges;

pub(super) async fn reconcile(obj: Arc<DeserializeGuard<NodeHealth>>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let result = reconcile_one(&obj, &ctx).await;
    let label = result.as_ref().map_or_else(Error::kind, |_| "ok");
    ctx.metrics.observe_reconcile(label, started.elapsed().as_secs_f64());
    result
}

/// The steps of one reconcile: read the object, validate its spec, select its pods, take their
/// latest verdicts, decide the status and the remediation (pure), then write, tell and act.
async fn reconcile_one(obj: &Arc<DeserializeGuard<NodeHealth>>, ctx: &Arc<Context>) -> Result<Action, Error> {
    let ctx = ctx.as_ref();
    let nh = readable(ctx, obj).await?;
    // Until the pod watch has listed everything, a missing pod may just not be seen yet:
    // deciding then would reset timers (or report 0/0), so wait for the first full list.
    if !ctx.synced.is_synced() {
        return Ok(Action::requeue(std::time::Duration::from_secs(1)));
    }
    let k = key(obj);
    let reference = nh.object_ref(&());
    // A standby probes (so that it takes over with warm histories) but writes nothing.
    let leading = ctx.leadership.is_leader();
    let previous = previous_status(ctx, nh, &k, leading).await?;
    if nh.metadata.deletion_timestamp.is_some() {
        return finalize::release(ctx, nh, previous.as_ref(), &k, &reference).await;
    }
    let now = Timestamp::now();
    let generation = nh.metadata.generation;
    let policy = match policy::validate(&nh.spec) {
        Ok(p) => p,
        Err(e) => return stall(ctx, nh, &k, leading, previous.as_ref(), e, now).await,
    };
    // The files it names (CA, token) are the operator's: one it cannot read is the spec's error,
    // reported as such, and no pod is judged by probes that could not be made.
    if let Err(e) = ctx.prober.check(&policy.access, policy.uses_https()) {
        return stall(ctx, nh, &k, leading, previous.as_ref(), e.invalid_spec(), now).await;
    }
    if leading && previous.as_ref().is_some_and(|p| p.observed_generation != generation) {
        let desired = handled(ctx, status::reconciling(previous.as_ref(), now));
        write_status(ctx, nh, &k, &desired).await?;
    }
    let pods = selected(ctx, nh, &policy);
    let targets: Vec<_> = pods.iter().map(|p| policy.target(p)).collect();
    if let Some(e) = policy::unknown_port_everywhere(&targets) {
        return stall(ctx, nh, &k, leading, previous.as_ref(), e, now).await;
    }
    let Some(mut outcomes) = latest_verdicts(ctx, &k, &policy, &pods, targets) else {
        // A new pod's first probe is under way: its verdict triggers the next reconcile.
        return Ok(Action::requeue(FIRST_PROBE_WAIT));
    };
    if !leading {
        forget_deleted(ctx);
        return Ok(Action::requeue(policy.period));
    }
    if let Some(max_lag) = policy.params.max_height_lag {
        let mut answered: Vec<(&str, &mut PodVerdict)> = outcomes
            .iter_mut()
            .filter_map(|o| Some((o.name.as_str(), o.result.as_mut().ok()?)))
            .collect();
        fleet::judge(&mut answered, max_lag);
    }
    // Before any action: a NodeHealth that may cordon must not go without uncordoning.
    let wanted = release::needs_finalizer(
        policy.remediation.as_ref(),
        previous.as_ref().and_then(|p| p.remediation.as_ref()),
        ctx.settings.remediation,
    );
    finalize::keep(ctx, nh, wanted).await?;
    status::hold_unverified(&mut outcomes, previous.as_ref());
    set_gauges(ctx, nh, &outcomes);
    let facts = remediation_facts(ctx, nh, &policy, previous.as_ref(), &pods, &outcomes);
    let mut desired = handled(
        ctx,
        status::swept(
            generation,
            previous.as_ref(),
            outcomes,
            now,
            ctx.settings.max_status_pods,
        ),
    );
    if policy.skips_verification() {
        status::say_unverified_tls(&mut desired);
    }
    status::say_unread(&mut desired, &policy.profile_name(), &policy.unread());
    let plan = act::plan(ctx, nh, &k, &policy, &facts, previous.as_ref(), &mut desired, now).await?;
    let events = status::pod_events(previous.as_ref(), &desired);
    // Write-ahead: an action is in status as pending before it is carried out.
    if status::write_due(previous.as_ref(), &desired, now, ctx.settings.status_refresh) {
        write_status(ctx, nh, &k, &desired).await?;
    }
    for ev in events {
        publish(ctx, &reference, "Assess", ev.reason, ev.warning, ev.note).await;
    }
    if let Some(d) = plan {
        let mut notices = d.notices.clone();
        if !d.acts.is_empty() {
            let ns = nh.namespace().unwrap_or_default();
            notices.extend(act::execute(ctx, &ns, &k, &d, &mut desired).await);
            write_status(ctx, nh, &k, &desired).await?;
        }
        for n in notices {
            let target = regarding(&n.subject, &reference, &pods);
            publish(ctx, &target, n.action, n.reason, n.warning, n.note).await;
        }
    }
    lock(&ctx.failures).remove(&k);
    forget_deleted(ctx);
    Ok(Action::requeue(policy.period))
}

/// The NodeHealth, or, when its JSON cannot be read, an event saying so (the others go on).
async fn readable<'a>(ctx: &Context, obj: &'a DeserializeGuard<NodeHealth>) -> Result<&'a NodeHealth, Error> {
    match &obj.0 {
        Ok(nh) => Ok(nh),
        Err(bad) => {
            let reference = ObjectReference {
                api_version: Some(NodeHealth::api_version(&()).into_owned()),
                kind: Some(NodeHealth::kind(&()).into_owned()),
                name: bad.metadata.name.clone(),
                namespace: bad.metadata.namespace.clone(),
                uid: bad.metadata.uid.clone(),
                ..ObjectReference::default()
            };
            let note = format!("cannot read this NodeHealth: {}", bad.error);
            tracing::warn!(nodehealth = ?bad.metadata.name, error = %bad.error, "unreadable NodeHealth skipped");
            publish(ctx, &reference, "Assess", "InvalidSpec", true, note).await;
            Err(Error::Unreadable(bad.error.clone()))
        }
    }
}

/// The pods of the NodeHealth's namespace its selector matches.
fn selected(ctx: &Context, nh: &NodeHealth, policy: &Policy) -> Vec<Arc<Pod>> {
    // Runs over every watched pod each reconcile: compared in place, nothing copied per pod.
    let ns = nh.metadata.namespace.as_deref();
    ctx.pods
        .state()
        .into_iter()
        .filter(|p| p.metadata.namespace.as_deref() == ns && policy.selector.matches(p.labels()))
        .collect()
}

/// Per-pod gauges for every pod, not only the (capped) list written to status.
fn set_gauges(ctx: &Context, nh: &NodeHealth, outcomes: &[PodOutcome]) {
    let ns = nh.namespace().unwrap_or_default();
    let name = nh.name_any();
    for o in outcomes {
        let gauges = o.result.as_ref().map_or_else(
            |_| PodGauges::default(),
            |v| PodGauges {
                factor: v.health_factor,
                healthy: Some(v.healthy),
                sync_state: Some(v.sync_state),
                ledger_delay_seconds: v.figures.ledger_delay_seconds,
                block_lag: v.figures.block_lag,
                network_stalled: v.network == Network::Stalled,
            },
        );
        ctx.metrics.set_pod(&ns, &name, &o.name, &gauges);
    }
    let keep: Vec<&str> = outcomes.iter().map(|o| o.name.as_str()).collect();
    ctx.metrics.retain_pods(&ns, &name, &keep);
    ctx.metrics.set_selected(&ns, &name, outcomes.len());
}

/// Remediation's view of the pods, only for policies that have (or had) remediation.
fn remediation_facts(
    ctx: &Context,
    nh: &NodeHealth,
    policy: &Policy,
    previous: Option<&NodeHealthStatus>,
    pods: &[Arc<Pod>],
    outcomes: &[PodOutcome],
) -> Vec<crate::remediate::PodFacts> {
    if policy.remediation.is_none() && previous.is_none_or(|p| p.remediation.is_none()) {
        return Vec::new();
    }
    let mut facts = act::pod_facts(pods, outcomes);
    let ns = nh.namespace().unwrap_or_default();
    let me = format!("{ns}/{}", nh.name_any());
    let elsewhere: std::collections::HashMap<String, String> = pods
        .iter()
        .filter_map(|p| Some((p.name_any(), ctx.claims.owner(&ns, p.labels()).filter(|o| *o != me)?)))
        .collect();
    for f in &mut facts {
        f.remediated_by = elsewhere.get(&f.name).cloned();
    }
    facts
}

/// The object an event about `subject` regards.
fn regarding(subject: &Subject, nodehealth: &ObjectReference, pods: &[Arc<Pod>]) -> ObjectReference {
    match subject {
        Subject::NodeHealth => nodehealth.clone(),
        Subject::Pod(name) => pods
            .iter()
            .find(|p| p.name_any() == *name)
            .map(|p| p.object_ref(&()))
            .unwrap_or_else(|| nodehealth.clone()),
        // Namespaced "default": the 1.20 server takes an events.k8s.io event about a
        // cluster-scoped object only in the namespace its `regarding` names.
        Subject::Node(name) => ObjectReference {
            api_version: Some("v1".to_owned()),
            kind: Some("Node".to_owned()),
            name: Some(name.clone()),
            namespace: Some("default".to_owned()),
            ..ObjectReference::default()
        },
    }
}

/// How long a reconcile waits for new pods' first probes when their verdicts have not come
/// back (the verdict of each triggers a reconcile sooner).
const FIRST_PROBE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Puts the selected pods on the probe schedule (new ones are probed at once, the others keep
/// their phase) and gives each its latest verdict; `None` while a probeable pod has none yet.
fn latest_verdicts(
    ctx: &Context,
    k: &str,
    policy: &Policy,
    pods: &[Arc<Pod>],
    targets: Vec<Result<Target, PodSkip>>,
) -> Option<Vec<PodOutcome>> {
    let plan = Plan {
        profile: policy.profile,
        read: policy.read.clone(),
        params: policy.params.clone(),
        period: policy.period.as_secs_f64(),
        timeout: policy.timeout.as_secs_f64(),
    };
    let probed: Vec<PodTarget> = pods
        .iter()
        .zip(&targets)
        .filter_map(|(pod, t)| {
            Some(PodTarget {
                uid: pod.uid()?,
                name: pod.name_any(),
                target: t.as_ref().ok()?.clone(),
            })
        })
        .collect();
    let verdicts = {
        let mut schedule = lock(&ctx.schedule);
        if schedule.register(k, plan, probed, prober::unix_now()) {
            ctx.wake.notify_one();
        }
        schedule.verdicts(k)
    };
    pods.iter()
        .zip(targets)
        .map(|(pod, target)| {
            let result = match target {
                Err(skip) => Err(skip),
                Ok(_) => Ok(verdicts.get(&pod.uid().unwrap_or_default())?.clone()),
            };
            Some(PodOutcome {
                name: pod.name_any(),
                node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
                result,
            })
        })
        .collect()
}

/// Reports an invalid spec: `Stalled` in status, an `InvalidSpec` event when it is new.
async fn stall(
    ctx: &Context,
    nh: &NodeHealth,
    k: &str,
    leading: bool,
    previous: Option<&NodeHealthStatus>,
    err: InvalidSpec,
    now: Timestamp,
) -> Result<Action, Error> {
    let desired = handled(ctx, status::invalid(nh.metadata.generation, previous, &err, now));
    let was_stalled = previous.is_some_and(|p| {
        p.conditions
            .iter()
            .any(|c| c.type_ == "Stalled" && c.status == "True" && c.reason == err.reason())
    });
    if leading && status::write_due(previous, &desired, now, ctx.settings.status_refresh) {
        write_status(ctx, nh, k, &desired).await?;
    }
    // Nothing is probed while stalled: the last values would go stale, and alerts silent.
    ctx.metrics
        .forget_nodehealth(&nh.namespace().unwrap_or_default(), &nh.name_any());
    if !was_stalled {
        publish(ctx, &nh.object_ref(&()), "Assess", "InvalidSpec", true, err.to_string()).await;
    }
    Err(Error::InvalidSpec(err))
}

/// Says which shard and replica handle the NodeHealth.
fn handled(ctx: &Context, mut desired: NodeHealthStatus) -> NodeHealthStatus {
    desired.shard = Some(ctx.settings.shard.index);
    desired.leader = Some(ctx.settings.identity.clone());
    desired
}

/// Server-side apply of the whole status under the one field manager, by the leader only.
async fn write_status(ctx: &Context, nh: &NodeHealth, k: &str, desired: &NodeHealthStatus) -> Result<(), Error> {
    // Checked at the moment of writing: leadership may lapse during a reconcile.
    if !ctx.leadership.is_leader() {
        return Err(Error::NotLeader);
    }
    let api: Api<NodeHealth> = Api::namespaced(ctx.client.clone(), &nh.namespace().unwrap_or_default());
    let patch = json!({
        "apiVersion": NodeHealth::api_version(&()),
        "kind": NodeHealth::kind(&()),
        "status": desired,
    });
    let pp = PatchParams::apply(FIELD_MANAGER).force();
    match api.patch_status(&nh.name_any(), &pp, &Patch::Apply(&patch)).await {
        Ok(_) => {
            ctx.metrics.observe_status_write("ok");
            ctx.health.recovered("kube_api");
            lock(&ctx.written).insert(k.to_owned(), desired.clone());
            Ok(())
        }
        Err(e) => {
            ctx.metrics.observe_status_write("error");
            kube_api_affected(ctx, json!({"write": "status", "nodehealth": k, "error": e.to_string()}));
            Err(Error::WriteStatus(e))
        }
    }
}

pub(super) async fn publish(
    ctx: &Context,
    reference: &ObjectReference,
    action: &str,
    reason: &str,
    warning: bool,
    note: String,
) {
    if !ctx.leadership.is_leader() {
        return;
    }
    let ev = Event {
        type_: if warning { EventType::Warning } else { EventType::Normal },
        reason: reason.to_owned(),
        note: Some(note),
        action: action.to_owned(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&ev, reference).await {
        tracing::warn!(error = %e, reason, "could not record event");
    }
}

/// The status to build on. A status must never go back: one built on an older copy would drop
/// the incidents, cordons and restarts recorded since, and with them the restart budget. So:
/// the newer of what this process last wrote and what the watch delivered; and a leader that
/// has written nothing for this NodeHealth since it started or regained leadership reads it from
/// the API server first (a GET without a resourceVersion is a quorum read), since the watch's
/// copy may be from before a gap (a cut, a relist from the watch cache, an etcd restart) during
/// which the previous leadership wrote.
async fn previous_status(
    ctx: &Context,
    nh: &NodeHealth,
    k: &str,
    leading: bool,
) -> Result<Option<NodeHealthStatus>, Error> {
    let known = lock(&ctx.written).get(k).cloned();
    if known.is_some() || !leading {
        return Ok(newer(known, nh.status.clone()));
    }
    let api: Api<NodeHealth> = Api::namespaced(ctx.client.clone(), &nh.namespace().unwrap_or_default());
    match api.get_status(&nh.name_any()).await {
        Ok(current) => {
            ctx.health.recovered("kube_api");
            if let Some(s) = &current.status {
                lock(&ctx.written).entry(k.to_owned()).or_insert_with(|| s.clone());
            }
            Ok(newer(current.status, nh.status.clone()))
        }
        Err(e) => {
            kube_api_affected(ctx, json!({"read": "status", "nodehealth": k, "error": e.to_string()}));
            Err(Error::ReadStatus(e))
        }
    }
}

/// `/health` component `kube_api` affected, with what failed.
fn kube_api_affected(ctx: &Context, details: serde_json::Value) {
    ctx.health.set(
        "kube_api",
        ComponentHealth::new(ModelStatus::Affected).with_details(details),
    );
}

/// The newer of two copies of a status (by observed generation and probe time).
fn newer(written: Option<NodeHealthStatus>, seen: Option<NodeHealthStatus>) -> Option<NodeHealthStatus> {
    match (written, seen) {
        (Some(w), Some(s)) => {
            let stamp = |x: &NodeHealthStatus| (x.observed_generation, x.last_probe_time.as_ref().map(|t| t.0));
            Some(if stamp(&s) > stamp(&w) { s } else { w })
        }
        (w, s) => w.or(s),
    }
}

/// Drops the schedules, remembered statuses and pod series of NodeHealths that are gone (one
/// without the finalizer gets no reconcile of its own once deleted).
fn forget_deleted(ctx: &Context) {
    let present = |k: &str| {
        let (ns, name) = k.split_once('/').unwrap_or(("", k));
        ctx.nodehealths
            .get(&ObjectRef::<DeserializeGuard<NodeHealth>>::new(name).within(ns))
            .is_some()
    };
    lock(&ctx.schedule).retain(present);
    let gone: Vec<String> = lock(&ctx.written).keys().filter(|k| !present(k)).cloned().collect();
    for k in gone {
        let (ns, name) = k.split_once('/').unwrap_or(("", k.as_str()));
        lock(&ctx.written).remove(&k);
        lock(&ctx.failures).remove(&k);
        ctx.metrics.forget_nodehealth(ns, name);
    }
}
