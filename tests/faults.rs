//! Control-plane faults under a running operator: an API server that refuses, throttles, fails
//! or delays; an API server and etcd restarted mid-remediation; watches resumed after their
//! history was compacted (410 Gone). Each test checks the two invariants: nothing lost (status,
//! incidents, timers, records survive) and no harm (every action carried out at most once, by
//! the API server's own audit log; nothing during an outage), and that the operator recovers
//! without a restart, saying `kube_api` is affected while it cannot reach the server.

mod support;

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, WatchEvent, WatchParams};
use kube::{Client, ResourceExt};
use nodehealth::crd::NodeHealth;
use serde_json::{Value, json};
use support::apiproxy::ApiProxy;
use support::cluster::{kubeconfig, with_temp_ns, with_temp_ns_of};
use support::fleet::{Fleet, WAIT, condition_is, create_nodehealth, pod_row, radix_spec};
use support::ha::await_leading;
use support::operator::{Operator, install_crd};
use support::private::{PrivateCluster, carried, shared_audit_log};
use support::proxy::Proxy;
use support::scene::{cordoned, out_of_sync, pod_uid, remediation, spec_with};
use support::wait::{eventually, get, more_reconciles, wait_for};

/// Cordon after 1s, restart after `restart_after`; quick to release.
fn ladder(restart_after: &str) -> Value {
    json!({
        "actions": [{"action": "Cordon", "after": "1s"}, {"action": "RestartPod", "after": restart_after}],
        "startupGrace": "0s", "minInterval": "1s", "healthyFor": "2s",
    })
}

/// The operator's `/health` component `kube_api`, or why it could not be read.
async fn kube_api(op: &Operator) -> String {
    match get(&format!("http://{}/health", op.http)).await {
        Ok((_, body)) => serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v["components"]["kube_api"]["status"].as_str().map(str::to_owned))
            .unwrap_or_else(|| format!("unreadable: {body}")),
        Err(e) => format!("no answer: {e}"),
    }
}

async fn wait_kube_api(op: &Operator, want: &str) {
    eventually(WAIT, &format!("/health says kube_api is {want}"), || async {
        let now = kube_api(op).await;
        if now == want { Ok(()) } else { Err(now) }
    })
    .await;
}

/// A fleet of three Radix validators, an operator (with `lease` flags) that reaches the API
/// server through a test proxy, and a NodeHealth `validators` over them, healthy.
async fn behind_a_proxy(client: &Client, ns: &str, lease: &[&str]) -> (Fleet, ApiProxy, Operator, Api<NodeHealth>) {
    install_crd(client).await;
    let fleet = Fleet::start(client, ns, 3, "radix", 3).await;
    let (proxy, kc) = ApiProxy::start(&kubeconfig().await, ns).await;
    let op = Operator::start_as(&kc, ns, lease);
    let api: Api<NodeHealth> = Api::namespaced(client.clone(), ns);
    create_nodehealth(client, ns, "validators", spec_with(ladder("3s"))).await;
    wait_for(&api, "validators", WAIT, "healthy", |nh| {
        condition_is(nh, "Healthy", "True")
    })
    .await;
    (fleet, proxy, op, api)
}

/// Whether the status records exactly one restart of `pod`.
fn restarted_once(nh: &NodeHealth, pod: &str) -> bool {
    remediation(nh)
        .pods
        .iter()
        .any(|p| p.name == pod && p.restarts.len() == 1)
}

/// Waits until validator-`i` is a new instance (not `old_uid`) that is not terminating.
async fn restarted(client: &Client, ns: &str, i: usize, old_uid: &str) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let name = format!("validator-{i}");
    wait_for(&pods, &name, WAIT, "a new instance", |p| {
        p.uid().is_some_and(|u| u != old_uid) && p.metadata.deletion_timestamp.is_none()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_api_server_that_refuses_throttles_fails_and_delays_loses_no_verdict_and_repeats_no_action() {
    with_temp_ns("faults-refusing", |client, ns| async move {
        // The lease timings the chart's README advises behind an API server that takes seconds a
        // request (the delays below): a renewal is three requests in a row.
        let lease = ["--lease-duration-seconds", "30", "--renew-deadline-seconds", "20"];
        let (fleet, proxy, mut op, api) = behind_a_proxy(&client, &ns, &lease).await;

        // Every status write refused for a while (a conflict, throttling, server errors); the
        // first cordon fails; the first eviction is carried out but its answer is lost.
        let status = "/nodehealths/validators/status";
        proxy.fail(Method::PATCH, status, 409, 1);
        proxy.fail(Method::PATCH, status, 429, 2);
        proxy.fail(Method::PATCH, status, 500, 1);
        let node1 = format!("{ns}-node-1");
        proxy.fail(Method::PATCH, &format!("/nodes/{node1}"), 500, 1);
        proxy.lose_answer(Method::POST, "/pods/validator-1/eviction", 1);
        let old_uid = pod_uid(&client, &ns, "validator-1").await;
        fleet.set_mode(1, out_of_sync()).await;
        wait_kube_api(&op, "affected").await;
        wait_for(&api, "validators", WAIT, "the verdict written once writes pass", |nh| {
            pod_row(nh, "validator-1").is_some_and(|r| r.status == nodehealth::crd::PodStatus::NotReady)
        })
        .await;
        restarted(&client, &ns, 1, &old_uid).await;
        let nodes: Api<Node> = Api::all(client.clone());
        wait_for(
            &api,
            "validators",
            WAIT,
            "the incident closed and node-1 released",
            |nh| {
                let r = remediation(nh);
                r.cordoned_nodes.is_empty() && restarted_once(nh, "validator-1")
            },
        )
        .await;
        assert!(!cordoned(&nodes.get(&node1).await.unwrap()));
        assert_eq!(proxy.pending_faults(), 0, "every fault was met");
        wait_kube_api(&op, "ready").await;

        // Slow: every request held 2 s. A renewal then takes 6 s: with the default 10 s renew
        // deadline the leadership lapses and flaps, and validator-2 is never restarted (tried).
        // With the advised timings verdicts still land and validator-2 is restarted once.
        proxy.delay(Duration::from_secs(2));
        let old2 = pod_uid(&client, &ns, "validator-2").await;
        fleet.set_mode(2, out_of_sync()).await;
        restarted(&client, &ns, 2, &old2).await;
        wait_for(&api, "validators", WAIT, "validator-2's restart recorded", |nh| {
            restarted_once(nh, "validator-2")
        })
        .await;
        proxy.delay(Duration::ZERO);

        let done = carried(&shared_audit_log().await, &ns);
        assert_eq!(
            done.evictions,
            ["validator-1", "validator-2"],
            "each restart carried out once"
        );
        assert_eq!(done.cordons.iter().filter(|n| **n == node1).count(), 1, "{done:?}");
        // The eviction whose answer was lost stayed pending; the next round saw that instance
        // gone, so it counted it (restarts: 1 above) and never asked again. It named its UID.
        let asked = proxy.seen(&Method::POST, "/pods/validator-1/eviction");
        assert_eq!(asked.len(), 1, "{asked:?}");
        let body: Value = serde_json::from_slice(&asked[0].body).unwrap();
        assert_eq!(
            body["deleteOptions"]["preconditions"]["uid"],
            old_uid.as_str(),
            "{body}"
        );
        eprintln!(
            "eviction requests for validator-1 answered {:?}; status writes refused {}; cordon writes {:?}",
            asked.iter().map(|s| (s.code, s.injected)).collect::<Vec<_>>(),
            proxy.seen(&Method::PATCH, status).iter().filter(|s| s.injected).count(),
            proxy
                .seen(&Method::PATCH, &format!("/nodes/{node1}"))
                .iter()
                .map(|s| s.code)
                .collect::<Vec<_>>(),
        );
        assert!(op.alive(), "recovered without a restart");
    })
    .await;
}

/// The leader records a restart while its NodeHealth watch is cut, loses its Lease, and leads
/// again before the watch mends. Its next status must build on what it wrote, not on the
/// watch's copy from before the cut: that would drop the restart from the records and the
/// budget (seen once in the restart test below, where etcd's restart cut the watch).
#[tokio::test(flavor = "multi_thread")]
async fn a_leader_back_behind_a_cut_watch_builds_on_the_latest_status_and_loses_no_record() {
    with_temp_ns("faults-regained", |client, ns| async move {
        // Short timings, so that the lapse and the return take seconds.
        let lease = [
            "--lease-duration-seconds",
            "6",
            "--renew-deadline-seconds",
            "4",
            "--retry-period-seconds",
            "1",
        ];
        let (fleet, proxy, mut op, api) = behind_a_proxy(&client, &ns, &lease).await;
        await_leading(&op, 0, true, WAIT).await;

        // The watch of NodeHealths cut and kept from listing again: the operator's copy stays
        // "all healthy, no action" while validator-1 is cordoned, restarted and healthy again.
        let watch = "/namespaces/".to_owned() + &ns + "/nodehealths";
        proxy.block(Some(Method::GET), &watch);
        let old1 = pod_uid(&client, &ns, "validator-1").await;
        fleet.set_mode(1, out_of_sync()).await;
        restarted(&client, &ns, 1, &old1).await;
        fleet.set_mode(1, json!({"mode": "synced"})).await;
        let one = |nh: &NodeHealth| restarted_once(nh, "validator-1");
        let before = wait_for(&api, "validators", WAIT, "validator-1's restart recorded", one).await;
        let taken = remediation(&before).actions_taken;
        assert!(
            proxy.seen(&Method::GET, &watch).iter().any(|s| s.injected),
            "the watch was kept from listing again"
        );

        // Leadership lapses and comes back, the watch still cut.
        let leases = [
            format!("/namespaces/{ns}/leases/nodehealth-shard-0"),
            format!("/namespaces/{ns}/leases"),
        ];
        for l in &leases {
            proxy.block(None, l);
        }
        await_leading(&op, 0, false, WAIT).await;
        for l in &leases {
            proxy.unblock(l);
        }
        await_leading(&op, 0, true, WAIT).await;

        // Something to write: validator-2 falls out of sync, and is cordoned and restarted.
        let old2 = pod_uid(&client, &ns, "validator-2").await;
        fleet.set_mode(2, out_of_sync()).await;
        restarted(&client, &ns, 2, &old2).await;
        let after = wait_for(&api, "validators", WAIT, "validator-2's restart recorded", |nh| {
            restarted_once(nh, "validator-2")
        })
        .await;
        assert!(one(&after), "validator-1's restart kept: {:?}", remediation(&after));
        assert!(
            remediation(&after).actions_taken >= taken + 2,
            "actions counted on from {taken}: {:?}",
            remediation(&after)
        );
        proxy.unblock(&watch);
        more_reconciles(&op.http, 3).await;
        assert!(
            one(&api.get("validators").await.unwrap()),
            "and kept once the watch mends"
        );
        let evictions: Vec<_> = proxy
            .seen(&Method::POST, "/eviction")
            .iter()
            .map(|s| s.path.clone())
            .collect();
        assert_eq!(evictions.len(), 2, "each restart carried out once: {evictions:?}");
        assert!(op.alive());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_api_server_and_etcd_restarted_mid_remediation_lose_nothing_and_repeat_nothing() {
    let pc = Arc::new(PrivateCluster::up("restarts", "").await);
    let client = pc.client().await;
    let cp = pc.clone();
    with_temp_ns_of(client, "restarts", |client, ns| async move {
        install_crd(&client).await;
        let fleet = Fleet::start(&client, &ns, 3, "radix", 3).await;
        let mut op = Operator::start_as(&cp.kubeconfig(), &ns, &[]);
        let api: Api<NodeHealth> = Api::namespaced(client.clone(), &ns);
        create_nodehealth(&client, &ns, "validators", spec_with(ladder("12s"))).await;
        wait_for(&api, "validators", WAIT, "healthy", |nh| {
            condition_is(nh, "Healthy", "True")
        })
        .await;

        // The API server goes down between the cordon and the restart step, and stays down
        // past the moment the restart is due.
        let old_uid = pod_uid(&client, &ns, "validator-1").await;
        fleet.set_mode(1, out_of_sync()).await;
        let before = wait_for(&api, "validators", WAIT, "node-1 cordoned", |nh| {
            remediation(nh).cordoned_nodes.len() == 1
        })
        .await;
        let cordon = remediation(&before).cordoned_nodes[0].clone();
        let since = remediation(&before)
            .pods
            .iter()
            .find(|p| p.name == "validator-1")
            .and_then(|p| p.unhealthy_since.clone())
            .expect("validator-1's incident");
        let down = std::time::Instant::now();
        cp.stop("apiserver");
        wait_kube_api(&op, "affected").await;
        eventually(WAIT, "the restart step due while the server is down", || async {
            let age = jiff::Timestamp::now().duration_since(since.0).as_secs();
            if age > 13 {
                Ok(())
            } else {
                Err(format!("{age} s into the incident"))
            }
        })
        .await;
        cp.start("apiserver");
        let outage = down.elapsed();
        restarted(&client, &ns, 1, &old_uid).await;
        let after = wait_for(&api, "validators", WAIT, "the restart recorded", |nh| {
            restarted_once(nh, "validator-1")
        })
        .await;
        let r = remediation(&after);
        let rec = r.pods.iter().find(|p| p.name == "validator-1").unwrap();
        assert!(
            rec.unhealthy_since.is_none() || rec.unhealthy_since.as_ref() == Some(&since),
            "the incident kept its start: {rec:?}"
        );
        if let Some(c) = r.cordoned_nodes.first() {
            assert_eq!(c.since, cordon.since, "the cordon kept its time");
        }
        let recovered = down.elapsed();
        wait_kube_api(&op, "ready").await;

        // etcd goes down while validator-0 falls out of sync.
        let old0 = pod_uid(&client, &ns, "validator-0").await;
        cp.stop("etcd");
        fleet.set_mode(0, out_of_sync()).await;
        wait_kube_api(&op, "affected").await;
        cp.start("etcd");
        restarted(&client, &ns, 0, &old0).await;
        let last = wait_for(&api, "validators", WAIT, "both restarts on record", |nh| {
            remediation(nh).pods.iter().filter(|p| p.restarts.len() == 1).count() == 2
        })
        .await;
        wait_kube_api(&op, "ready").await;

        let done = carried(&cp.audit_log(), &ns);
        let mut evictions = done.evictions.clone();
        evictions.sort_unstable();
        assert_eq!(evictions, ["validator-0", "validator-1"], "{done:?}");
        for n in ["node-0", "node-1"] {
            let node = format!("{ns}-{n}");
            assert_eq!(done.cordons.iter().filter(|c| **c == node).count(), 1, "{n}: {done:?}");
        }
        // Every cordon and restart counted once: none dropped by a status built on an old copy.
        assert_eq!(remediation(&last).actions_taken, 4, "{:?}", remediation(&last));
        eprintln!(
            "API server down {:.1} s; restart carried out {:.1} s after it went down",
            outage.as_secs_f64(),
            recovered.as_secs_f64()
        );
        assert!(op.alive(), "recovered without a restart");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn watches_resumed_after_their_history_was_compacted_relist_and_miss_nothing() {
    // No watch cache and a compaction every 2 s: a watch resumed from before a gap gets 410 Gone.
    let pc = Arc::new(PrivateCluster::up("gone", "--watch-cache=false --etcd-compaction-interval=2s").await);
    let client = pc.client().await;
    let cp = pc.clone();
    with_temp_ns_of(client, "gone", |client, ns| async move {
        install_crd(&client).await;
        let fleet = Fleet::start(&client, &ns, 4, "radix", 2).await;
        let (link, kc) = Proxy::to_api_server_of(&cp.kubeconfig(), &ns).await;
        let mut op = Operator::start_as(&kc, &ns, &[]);
        let api: Api<NodeHealth> = Api::namespaced(client.clone(), &ns);
        create_nodehealth(&client, &ns, "validators", radix_spec()).await;
        let nh = wait_for(&api, "validators", WAIT, "4 healthy", |nh| {
            condition_is(nh, "Healthy", "True") && nh.status.as_ref().is_some_and(|s| s.pods.len() == 4)
        })
        .await;
        let before = nh.resource_version().unwrap();

        // Cut off: a pod goes, a policy comes, a validator falls behind.
        link.cut();
        fleet.kubelet.forget("validator-3");
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        pods.delete("validator-3", &DeleteParams::default().grace_period(0))
            .await
            .unwrap();
        create_nodehealth(&client, &ns, "late", radix_spec()).await;
        fleet.set_mode(0, out_of_sync()).await;
        eventually(WAIT, "the history before the cut compacted", || {
            let pods = pods.clone();
            let before = before.clone();
            async move {
                match pods.watch(&WatchParams::default(), &before).await {
                    Ok(s) => match futures::StreamExt::next(&mut std::pin::pin!(s)).await {
                        Some(Ok(WatchEvent::Error(e))) if e.code == 410 => Ok(()),
                        other => Err(format!("{other:?}")),
                    },
                    Err(kube::Error::Api(e)) if e.code == 410 => Ok(()),
                    Err(e) => Err(e.to_string()),
                }
            }
        })
        .await;
        let cut_at = std::time::Instant::now();
        link.mend();
        let nh = wait_for(&api, "validators", WAIT, "the gap's changes seen", |nh| {
            nh.status.as_ref().is_some_and(|s| {
                s.pods.len() == 3
                    && s.pods
                        .iter()
                        .any(|p| p.name == "validator-0" && p.status == nodehealth::crd::PodStatus::NotReady)
            })
        })
        .await;
        assert!(pod_row(&nh, "validator-3").is_none());
        wait_for(&api, "late", WAIT, "the policy made during the gap handled", |nh| {
            nh.status.as_ref().is_some_and(|s| s.pods.len() == 3)
        })
        .await;
        eprintln!(
            "caught up {:.1} s after the link came back",
            cut_at.elapsed().as_secs_f64()
        );
        wait_kube_api(&op, "ready").await;
        assert!(op.alive(), "recovered without a restart");
    })
    .await;
}
