//! One validator, one running copy, end to end with real ownerReferences: a restart waits while
//! another instance of the same validator is terminating or starting (a Deployment's rollout,
//! one validator's pods in two StatefulSets tied by `instanceLabel`); pods that are Pending,
//! without an IP or terminating are no verdict on a validator; a container restarted in place
//! gets its start-up grace again. What a validator operator sees on pods, status and events.

mod support;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams};
use kube::{Client, ResourceExt};
use nodehealth::crd::{NodeHealth, NotProbed};
use serde_json::{Value, json};
use support::cluster::with_temp_ns;
use support::fleet::{Fleet, WAIT, condition, create_nodehealth, pod_row};
use support::kubelet::{HOLD, Stamp, Start};
use support::operator::{Operator, install_crd};
use support::owners::{create_deployment, create_parallel_statefulset, create_replicaset, owns};
use support::scene::{
    Scene, count_events, event_with, metrics_of, out_of_sync, pod_uid, reason_is, remediation, spec_with,
};
use support::wait::{events, eventually, get, more_reconciles, wait_for};

/// A restart as soon as a validator is unhealthy for 2 s; no interval between actions.
fn restart_at_once(extra: Value) -> Value {
    let mut r = json!({"actions": [{"action": "RestartPod", "after": "2s"}], "minInterval": "0s", "maxUnhealthy": 1});
    r.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    r
}

/// The operator and the policy `validators` (over `app=validator`) with this remediation.
async fn watch(client: &Client, ns: &str, remediation: Value) -> (Operator, Api<NodeHealth>) {
    install_crd(client).await;
    let op = Operator::start(ns, &[]).await;
    create_nodehealth(client, ns, "validators", spec_with(remediation)).await;
    (op, Api::namespaced(client.clone(), ns))
}

fn blocked(nh: &NodeHealth, pod: &str, reason: &str) -> bool {
    remediation(nh)
        .pods
        .iter()
        .any(|p| p.name == pod && p.blocked.as_deref() == Some(reason))
}

fn not_probed(nh: &NodeHealth, pod: &str) -> Option<NotProbed> {
    pod_row(nh, pod)?.not_probed
}

/// Waits until the pod is gone from the API server.
async fn gone(client: &Client, ns: &str, name: &str) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    eventually(WAIT, &format!("{name} gone"), || {
        let pods = pods.clone();
        async move {
            match pods.get_opt(name).await {
                Ok(None) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await;
}

/// Waits until the pod was replaced (a new UID): evicted and recreated.
async fn replaced(client: &Client, ns: &str, name: &str, uid: &str) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    wait_for(&pods, name, WAIT, "replaced", |p| {
        p.uid().is_some_and(|u| u != uid) && p.metadata.deletion_timestamp.is_none()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deployment_rollout_restarts_the_new_pod_only_once_the_old_one_is_gone() {
    with_temp_ns("guard-rollout", |client, ns| async move {
        let fleet = Fleet::without_pods(&client, &ns, 3, "radix", 2).await;
        fleet.add_pod(0, 2).await; // another validator, healthy throughout
        let web = create_deployment(&client, &ns, "web").await;
        // The old ReplicaSet was adopted by the Deployment and keeps its own name: only its
        // ownerReferences, as the operator reads them from the API server, lead to the Deployment.
        let old_rs = create_replicaset(&client, &ns, "web-legacy", "5d9c7b8f4", &web).await;
        let new_rs = create_replicaset(&client, &ns, "web-7f6d5c4b3", "7f6d5c4b3", &web).await;
        let (old, new) = ("web-legacy-x2k4p", "web-7f6d5c4b3-q8z7d");
        let of = |i: usize, name: &str, rs: &ReplicaSet, hash: &str, finalizers: Vec<String>| {
            let mut vp = fleet.validator_pod(i, name, 2);
            vp.labels.insert("pod-template-hash".into(), hash.into());
            let stamp = Stamp {
                owner_references: vec![owns("apps/v1", "ReplicaSet", rs)],
                finalizers,
                ..Stamp::default()
            };
            (vp, stamp)
        };
        let (vp, stamp) = of(1, old, &old_rs, "5d9c7b8f4", vec![HOLD.into()]);
        fleet.kubelet.create_stamped(vp, stamp).await;
        fleet.kubelet.forget(old); // scaled down with the old ReplicaSet: never recreated
        let (vp, stamp) = of(2, new, &new_rs, "7f6d5c4b3", vec![]);
        fleet.kubelet.create_stamped(vp, stamp).await;
        let (op, api) = watch(&client, &ns, restart_at_once(json!({}))).await;
        wait_for(&api, "validators", WAIT, "three healthy validators", |nh| {
            reason_is(nh, "Healthy", "True", "AllPodsHealthy") && reason_is(nh, "RemediationAllowed", "True", "Allowed")
        })
        .await;
        let new_uid = pod_uid(&client, &ns, new).await;

        // The rollout deletes the old pod; its containers take their time to stop (a finalizer
        // holds it Terminating here). Then the new pod falls out of sync.
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        pods.delete(old, &DeleteParams::default())
            .await
            .expect("delete the old pod");
        wait_for(&api, "validators", WAIT, "the old pod listed as terminating", |nh| {
            not_probed(nh, old) == Some(NotProbed::Terminating)
        })
        .await;
        fleet.set_mode(2, out_of_sync()).await;
        wait_for(&api, "validators", WAIT, "the new pod's restart held", |nh| {
            blocked(nh, new, "WaitingForTermination")
        })
        .await;
        event_with(
            &client,
            &ns,
            "RemediationSkipped",
            &format!("another instance of this validator, {old} (same Deployment web), is still terminating"),
        )
        .await;
        more_reconciles(&op.http, 5).await;
        assert_eq!(
            pod_uid(&client, &ns, new).await,
            new_uid,
            "restarted beside a terminating copy"
        );
        assert_eq!(count_events(&client, &ns, "PodEvicted").await, 0);
        let metrics = metrics_of(&op).await;
        assert!(
            metrics.contains("nodehealth_remediations_blocked_total{reason=\"WaitingForTermination\"}"),
            "{metrics}"
        );
        let nh = api.get("validators").await.unwrap();
        assert!(
            remediation(&nh).pods.iter().all(|p| p.name != old),
            "the terminating pod is no unhealthy validator"
        );

        // The old copy is gone: the restart follows.
        fleet.kubelet.release(old).await;
        gone(&client, &ns, old).await;
        replaced(&client, &ns, new, &new_uid).await;
        event_with(&client, &ns, "PodEvicted", new).await;
        let nh = wait_for(&api, "validators", WAIT, "the restart recorded", |nh| {
            remediation(nh).actions_taken == 1
        })
        .await;
        let last = remediation(&nh).last_remediation.unwrap();
        assert_eq!((last.pod.as_str(), last.uid.as_deref()), (new, Some(new_uid.as_str())));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn instance_label_ties_one_validators_pods_across_stateful_sets_and_parallel_ordinals_stay_apart() {
    with_temp_ns("guard-label", |client, ns| async move {
        let fleet = Fleet::without_pods(&client, &ns, 3, "radix", 2).await;
        let alpha = create_parallel_statefulset(&client, &ns, "alpha").await;
        let beta = create_parallel_statefulset(&client, &ns, "beta").await;
        // alice's validator moves from StatefulSet alpha to beta: beta-0 is still being pulled.
        // bob's is alpha's other ordinal, going away (Parallel: at the same time as anything).
        let pods = [
            (0, "alpha-0", &alpha, "alice", Stamp::default()),
            (
                1,
                "alpha-1",
                &alpha,
                "bob",
                Stamp {
                    finalizers: vec![HOLD.into()],
                    ..Stamp::default()
                },
            ),
            (
                2,
                "beta-0",
                &beta,
                "alice",
                Stamp {
                    start: Start::Pending,
                    ..Stamp::default()
                },
            ),
        ];
        for (i, name, set, key, stamp) in pods {
            let mut vp = fleet.validator_pod(i, name, 2);
            vp.labels.insert("validator-key".into(), key.into());
            let stamp = Stamp {
                owner_references: vec![owns("apps/v1", "StatefulSet", set)],
                ..stamp
            };
            fleet.kubelet.create_stamped(vp, stamp).await;
        }
        let (op, api) = watch(&client, &ns, restart_at_once(json!({"instanceLabel": "validator-key"}))).await;
        wait_for(&api, "validators", WAIT, "alpha healthy, beta-0 Pending", |nh| {
            not_probed(nh, "beta-0") == Some(NotProbed::Pending)
                && ["alpha-0", "alpha-1"]
                    .iter()
                    .all(|p| pod_row(nh, p).is_some_and(|r| r.status.is_healthy()))
        })
        .await;
        fleet.kubelet.forget("alpha-1");
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        pods.delete("alpha-1", &DeleteParams::default())
            .await
            .expect("delete alpha-1");
        let alpha0 = pod_uid(&client, &ns, "alpha-0").await;

        fleet.set_mode(0, out_of_sync()).await;
        wait_for(&api, "validators", WAIT, "alpha-0's restart held for beta-0", |nh| {
            blocked(nh, "alpha-0", "InstanceStarting")
        })
        .await;
        event_with(
            &client,
            &ns,
            "RemediationSkipped",
            "another instance of this validator, beta-0 (same instanceLabel validator-key=alice), is still starting",
        )
        .await;
        more_reconciles(&op.http, 5).await;
        assert_eq!(
            pod_uid(&client, &ns, "alpha-0").await,
            alpha0,
            "restarted while beta-0 starts"
        );
        let skipped = events(&client, &ns, "RemediationSkipped").await;
        assert!(
            skipped
                .iter()
                .all(|e| !e.note.as_deref().unwrap_or_default().contains("alpha-1 (same")),
            "another ordinal is another validator: {skipped:?}"
        );

        // The move is called off: beta-0 goes, and alpha-0 is restarted while alpha-1, another
        // validator, is still terminating.
        fleet.kubelet.forget("beta-0");
        pods.delete("beta-0", &DeleteParams::default())
            .await
            .expect("delete beta-0");
        replaced(&client, &ns, "alpha-0", &alpha0).await;
        let alpha1 = pods.get("alpha-1").await.expect("alpha-1 still there");
        assert!(
            alpha1.metadata.deletion_timestamp.is_some(),
            "alpha-1 still terminating"
        );
        let nh = api.get("validators").await.unwrap();
        let last = remediation(&nh).last_remediation.expect("the restart recorded");
        assert_eq!(last.pod, "alpha-0");
        fleet.kubelet.release("alpha-1").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pending_ip_less_and_terminating_pods_do_not_count_towards_max_unhealthy() {
    with_temp_ns("guard-pending", |client, ns| async move {
        let Scene { fleet, op, api } = Scene::start(&client, &ns, 3, &[], restart_at_once(json!({}))).await;
        for (name, stamp) in [
            (
                "validator-7",
                Stamp {
                    finalizers: vec![HOLD.into()],
                    ..Stamp::default()
                },
            ),
            (
                "validator-8",
                Stamp {
                    start: Start::Pending,
                    ..Stamp::default()
                },
            ),
            (
                "validator-9",
                Stamp {
                    start: Start::NoIp,
                    ..Stamp::default()
                },
            ),
        ] {
            fleet
                .kubelet
                .create_stamped(fleet.validator_pod(0, name, 2), stamp)
                .await;
        }
        fleet.kubelet.forget("validator-7");
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        pods.delete("validator-7", &DeleteParams::default())
            .await
            .expect("delete validator-7");
        let nh = wait_for(&api, "validators", WAIT, "three pods listed as not probed", |nh| {
            not_probed(nh, "validator-7") == Some(NotProbed::Terminating)
                && not_probed(nh, "validator-8") == Some(NotProbed::Pending)
                && not_probed(nh, "validator-9") == Some(NotProbed::NoPodIp)
        })
        .await;
        assert!(reason_is(&nh, "Healthy", "False", "PodsNotProbed"));
        assert_eq!(
            condition(&nh, "Healthy").unwrap().message,
            "3/6 pods healthy; not probed: validator-7 (Terminating), validator-8 (Pending), validator-9 (NoPodIP)"
        );
        assert!(reason_is(&nh, "RemediationAllowed", "True", "Allowed"));
        // Nor are they unhealthy to an alert on the per-pod gauge: no series until probed.
        let (_, metrics) = get(&format!("http://{}/metrics", op.http)).await.unwrap();
        let healthy_of = |pod: &str| {
            metrics
                .lines()
                .filter(|l| l.starts_with("nodehealth_pod_healthy{") && l.contains(&format!("pod=\"{pod}\"")))
                .count()
        };
        assert_eq!(healthy_of("validator-0"), 1, "{metrics}");
        for name in ["validator-7", "validator-8", "validator-9"] {
            assert_eq!(healthy_of(name), 0, "{name}: {metrics}");
        }

        // One validator falls out of sync: one unhealthy of three probed, within maxUnhealthy 1.
        let uid = pod_uid(&client, &ns, "validator-1").await;
        fleet.set_mode(1, out_of_sync()).await;
        wait_for(&api, "validators", WAIT, "counted out of the probed pods", |nh| {
            condition(nh, "Healthy").is_some_and(|c| c.message.starts_with("1/3 pods unhealthy: validator-1"))
        })
        .await;
        replaced(&client, &ns, "validator-1", &uid).await;
        let nh = api.get("validators").await.unwrap();
        let rec = remediation(&nh);
        assert_eq!(
            rec.last_remediation.as_ref().map(|r| r.pod.as_str()),
            Some("validator-1")
        );
        for name in ["validator-7", "validator-8", "validator-9"] {
            assert!(
                rec.pods.iter().all(|p| p.name != name),
                "an incident for {name}: {rec:?}"
            );
        }
        let skipped = events(&client, &ns, "RemediationSkipped").await;
        assert!(
            skipped
                .iter()
                .all(|e| !e.note.as_deref().unwrap_or_default().contains("maxUnhealthy")),
            "{skipped:?}"
        );
        fleet.kubelet.release("validator-7").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_container_restarted_in_place_gets_its_startup_grace_again() {
    with_temp_ns("guard-grace", |client, ns| async move {
        // Both pods started an hour ago: long past a startupGrace of 30 s.
        let Scene { fleet, op: _op, api } =
            Scene::start(&client, &ns, 2, &[], restart_at_once(json!({"startupGrace": "30s"}))).await;
        let uid = pod_uid(&client, &ns, "validator-1").await;
        // Its container crashed and the kubelet restarted it in place (same pod, same UID).
        let restarted = fleet.kubelet.restart_container("validator-1").await;
        fleet.set_mode(1, out_of_sync()).await;
        wait_for(&api, "validators", WAIT, "the restart held by the grace", |nh| {
            blocked(nh, "validator-1", "StartupGrace")
        })
        .await;
        event_with(&client, &ns, "RemediationSkipped", "startupGrace (30s)").await;
        assert_eq!(pod_uid(&client, &ns, "validator-1").await, uid);

        replaced(&client, &ns, "validator-1", &uid).await;
        let nh = api.get("validators").await.unwrap();
        let last = remediation(&nh).last_remediation.expect("the restart recorded");
        let waited = last.time.0.duration_since(restarted);
        assert!(
            waited >= jiff::SignedDuration::from_secs(30),
            "restarted {waited:?} after its container's restart, within its grace"
        );
    })
    .await;
}
