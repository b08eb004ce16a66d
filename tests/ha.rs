//! High availability end to end: several operator processes on the real API server, one Lease
//! per shard. What is checked is what an operator of validators cares about: one replica
//! writes and acts, a dead or frozen leader is replaced within the lease duration, and no
//! cordon or restart is ever done twice (counted from the API server's watches).

mod support;

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, DeleteParams};
use kube::{Client, ResourceExt};
use nodehealth::crd::NodeHealth;
use nodehealth::shard::shard_of;
use serde_json::json;
use support::chart::{env_of, impersonating_kubeconfig, install, installed, ok};
use support::cluster::with_temp_ns;
use support::fleet::{Fleet, WAIT, condition_is, create_nodehealth, radix_spec};
use support::ha::{Actions, await_holder, await_leading, counter, holder, lease, replica};
use support::operator::Operator;
use support::operator::install_crd;
use support::proxy::Proxy;
use support::scene::{cordoned, out_of_sync, pod_uid, reason_is, remediation, spec_with};
use support::wait::{eventually, get, more_reconciles, wait_for};

/// The defaults of `--lease-duration-seconds` and `--retry-period-seconds`.
const LEASE: Duration = Duration::from_secs(15);
const RETRY: Duration = Duration::from_secs(2);
/// A standby takes over at most a lease duration after it last saw the leader renew, plus one
/// (jittered) retry; the slack covers a loaded machine's scheduling.
const TAKEOVER: Duration = Duration::from_secs(15 + 3 + 5);

fn leader_of(nh: &NodeHealth) -> Option<&str> {
    nh.status.as_ref()?.leader.as_deref()
}

async fn healthy_policy(client: &Client, ns: &str, remediation: serde_json::Value) -> Api<NodeHealth> {
    create_nodehealth(client, ns, "validators", spec_with(remediation)).await;
    let api: Api<NodeHealth> = Api::namespaced(client.clone(), ns);
    wait_for(
        &api,
        "validators",
        WAIT,
        "every pod healthy, remediation allowed",
        |nh| condition_is(nh, "Healthy", "True") && reason_is(nh, "RemediationAllowed", "True", "Allowed"),
    )
    .await;
    api
}

#[tokio::test(flavor = "multi_thread")]
async fn a_leader_killed_mid_ladder_is_replaced_and_nothing_is_done_twice() {
    with_temp_ns("ha-kill", |client, ns| async move {
        install_crd(&client).await;
        let fleet = Fleet::start(&client, &ns, 2, "radix", 2).await;
        let actions = Actions::watch(&client, &ns);
        let (a_id, b_id) = (format!("{ns}-a"), format!("{ns}-b"));
        let mut a = replica(&ns, &a_id, &[]).await;
        await_leading(&a, 0, true, WAIT).await;
        let b = replica(&ns, &b_id, &[]).await;
        let api = healthy_policy(
            &client,
            &ns,
            json!({
                "actions": [{"action": "Cordon", "after": "1s"}, {"action": "RestartPod", "after": "30s"}],
                "healthyFor": "4s", "minInterval": "0s", "startupGrace": "30s",
            }),
        )
        .await;
        assert_eq!(leader_of(&api.get("validators").await.unwrap()), Some(a_id.as_str()));
        // The standby probes the same pods, so it takes over with warm histories.
        eventually(WAIT, "the standby probes both pods", || async {
            match counter(&b, "nodehealth_scheduled_pods").await {
                2.0 => Ok(()),
                n => Err(format!("{n}")),
            }
        })
        .await;
        assert_eq!(
            counter(&b, "nodehealth_status_writes_total").await,
            0.0,
            "a standby wrote"
        );

        let old_uid = pod_uid(&client, &ns, "validator-1").await;
        let node1 = format!("{ns}-node-1");
        let nodes: Api<Node> = Api::all(client.clone());
        fleet.set_mode(1, out_of_sync()).await;
        wait_for(&nodes, &node1, WAIT, "node-1 cordoned by the leader", cordoned).await;
        let nh = wait_for(&api, "validators", WAIT, "the cordon recorded", |nh| {
            remediation(nh).actions_taken == 1
        })
        .await;
        let since = remediation(&nh)
            .pods
            .iter()
            .find(|p| p.name == "validator-1")
            .and_then(|p| p.unhealthy_since.clone())
            .expect("the incident's start");

        // Mid-ladder: the restart is due 30 s into the incident.
        a.kill();
        let killed = Instant::now();
        await_holder(&client, &ns, "nodehealth-shard-0", &b_id, TAKEOVER).await;
        let took_over = killed.elapsed();
        let nh = wait_for(
            &api,
            "validators",
            Duration::from_secs(10),
            "the new leader writes",
            |nh| leader_of(nh) == Some(b_id.as_str()),
        )
        .await;
        let kept = remediation(&nh);
        let row = kept.pods.iter().find(|p| p.name == "validator-1").unwrap();
        assert_eq!(
            row.unhealthy_since.as_ref(),
            Some(&since),
            "the incident's timer was reset"
        );
        assert_eq!(kept.actions_taken, 1, "the cordon was done again");

        // The new leader finishes the ladder: one restart, of the sick instance.
        let nh = wait_for(&api, "validators", WAIT, "the restart recorded", |nh| {
            remediation(nh).actions_taken == 2
        })
        .await;
        let last = remediation(&nh).last_remediation.unwrap();
        assert_eq!(last.uid.as_deref(), Some(old_uid.as_str()));
        let restart_after = last.time.0.duration_since(since.0);
        assert!(
            restart_after < jiff::SignedDuration::from_secs(30 + 15),
            "the restart waited for a fresh timer: {restart_after:?} into the incident"
        );
        wait_for(&nodes, &node1, WAIT, "node-1 released", |n| !cordoned(n)).await;
        more_reconciles(&b.http, 2).await;
        assert_eq!(actions.cordons(&node1), 1, "cordons of node-1 on the server");
        assert_eq!(actions.evictions(), 1, "evictions on the server");
        eprintln!("takeover {took_over:?} after the kill; restart {restart_after:?} into the incident");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_frozen_leader_is_replaced_after_its_lease_expires_and_does_nothing_when_it_wakes() {
    with_temp_ns("ha-freeze", |client, ns| async move {
        install_crd(&client).await;
        let fleet = Fleet::start(&client, &ns, 2, "radix", 2).await;
        let actions = Actions::watch(&client, &ns);
        let (a_id, b_id) = (format!("{ns}-a"), format!("{ns}-b"));
        let a = replica(&ns, &a_id, &[]).await;
        await_leading(&a, 0, true, WAIT).await;
        let _b = replica(&ns, &b_id, &[]).await;
        let api = healthy_policy(
            &client,
            &ns,
            json!({"actions": [{"action": "Cordon", "after": "1s"}], "minInterval": "0s"}),
        )
        .await;
        more_reconciles(&a.http, 2).await;
        let writes = counter(&a, "nodehealth_status_writes_total").await;

        // The leader can no longer reach anything: frozen mid-flight, connections open.
        a.pause();
        let frozen = jiff::Timestamp::now();
        let node1 = format!("{ns}-node-1");
        fleet.set_mode(1, out_of_sync()).await;
        let acquired = cordoned_by_new_holder(&client, &ns, &b_id).await;
        // The standby took the lease only once it had seen it unrenewed for a lease duration
        // (the frozen leader's last renewal was at most one retry period before the freeze).
        let waited = acquired.duration_since(frozen);
        assert!(
            waited >= jiff::SignedDuration::try_from(LEASE - RETRY).unwrap(),
            "taken over {waited:?} after the freeze"
        );

        // Woken, the old leader knows at once that it no longer leads: it writes and does nothing.
        a.resume();
        await_leading(&a, 0, false, WAIT).await;
        more_reconciles(&a.http, 3).await;
        assert_eq!(
            counter(&a, "nodehealth_status_writes_total").await,
            writes,
            "the woken replica wrote"
        );
        assert_eq!(
            counter(&a, "nodehealth_remediations_total").await,
            0.0,
            "the woken replica acted"
        );
        let nh = api.get("validators").await.unwrap();
        assert_eq!(leader_of(&nh), Some(b_id.as_str()));
        assert_eq!(remediation(&nh).actions_taken, 1);
        assert_eq!(actions.cordons(&node1), 1, "cordons of node-1 on the server");
        let (code, health) = get(&format!("http://{}/health", a.http)).await.unwrap();
        assert_eq!(code, 200, "a standby is healthy: {health}");
        assert!(health.contains(&format!("\"holder\":\"{b_id}\"")), "{health}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_leader_cut_off_from_the_api_server_stops_acting_before_its_lease_can_expire() {
    with_temp_ns("ha-partition", |client, ns| async move {
        install_crd(&client).await;
        let fleet = Fleet::start(&client, &ns, 2, "radix", 2).await;
        let actions = Actions::watch(&client, &ns);
        let (a_id, b_id) = (format!("{ns}-a"), format!("{ns}-b"));
        // The leader reaches the API server through a proxy the test can cut; it stays up and
        // serves its own endpoints meanwhile.
        let (proxy, proxied) = Proxy::to_api_server(&ns).await;
        let a = Operator::spawn(&proxied, &ns, &[], &[("NODEHEALTH_IDENTITY", a_id.as_str())]);
        await_leading(&a, 0, true, WAIT).await;
        let b = replica(&ns, &b_id, &[]).await;
        let api = healthy_policy(
            &client,
            &ns,
            json!({"actions": [{"action": "Cordon", "after": "1s"}], "minInterval": "0s"}),
        )
        .await;

        proxy.cut();
        let cut = jiff::Timestamp::now();
        let node1 = format!("{ns}-node-1");
        fleet.set_mode(1, out_of_sync()).await;
        await_leading(&a, 0, false, TAKEOVER).await;
        let a_stopped = jiff::Timestamp::now();
        let acquired = cordoned_by_new_holder(&client, &ns, &b_id).await;
        assert!(
            a_stopped < acquired,
            "the cut-off leader stopped {} after the cut, the standby took over {} after it",
            a_stopped.duration_since(cut),
            acquired.duration_since(cut)
        );

        // Reconnected, the old leader finds the lease taken and stays a standby.
        proxy.mend();
        eventually(WAIT, "the old leader sees the new holder", || {
            let url = format!("http://{}/health", a.http);
            let b_id = b_id.clone();
            async move {
                let (_, body) = get(&url).await?;
                if body.contains(&format!("\"holder\":\"{b_id}\"")) {
                    Ok(())
                } else {
                    Err(body)
                }
            }
        })
        .await;
        more_reconciles(&a.http, 3).await;
        assert_eq!(counter(&a, "nodehealth_leader").await, 0.0);
        assert_eq!(
            counter(&a, "nodehealth_remediations_total").await,
            0.0,
            "the cut-off leader acted"
        );
        assert_eq!(leader_of(&api.get("validators").await.unwrap()), Some(b_id.as_str()));
        assert_eq!(actions.cordons(&node1), 1, "cordons of node-1 on the server");
        more_reconciles(&b.http, 1).await;
        eprintln!(
            "cut-off leader stopped {} after the cut; standby took over {} after it",
            a_stopped.duration_since(cut),
            acquired.duration_since(cut)
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_shards_of_two_replicas_handle_each_nodehealth_exactly_once() {
    with_temp_ns("ha-shards", |client, ns| async move {
        install_crd(&client).await;
        let _fleet = Fleet::start(&client, &ns, 4, "radix", 2).await;
        let shard_args = |k: &'static str| ["--total-shards", "2", "--shard", k];
        let mut replicas = Vec::new();
        for (id, k) in [("a", "0"), ("b", "0"), ("c", "1"), ("d", "1")] {
            let id = format!("{ns}-{id}");
            let op = replica(&ns, &id, &shard_args(k)).await;
            replicas.push((k, id, op));
        }
        let api: Api<NodeHealth> = Api::namespaced(client.clone(), &ns);
        let names = policies_on_both_shards(&client, &ns).await;
        let mut handled = Vec::new();
        for name in &names {
            let nh = wait_for(&api, name, WAIT, "status written", |nh| {
                condition_is(nh, "Healthy", "True") && leader_of(nh).is_some()
            })
            .await;
            let shard = shard_of(&nh.uid().unwrap(), 2);
            let status = nh.status.as_ref().unwrap();
            assert_eq!(status.shard, Some(shard), "{name} handled by the wrong shard");
            let lease = format!("nodehealth-shard-{shard}");
            assert_eq!(
                holder(&client, &ns, &lease).await.as_deref(),
                status.leader.as_deref(),
                "{name} written by a replica that does not hold {lease}"
            );
            handled.push(shard);
        }
        // Per process: a leader wrote the statuses of its shard's policies, a standby none, and
        // both probe exactly their shard's policies' pods (4 each).
        for (k, id, op) in &replicas {
            let leads = holder(&client, &ns, &format!("nodehealth-shard-{k}")).await.as_ref() == Some(id);
            let owned = handled.iter().filter(|s| s.to_string() == *k).count();
            let writes = counter(op, "nodehealth_status_writes_total").await;
            if leads {
                assert!(
                    writes >= owned as f64,
                    "leader of shard {k}: {writes} writes, {owned} policies"
                );
            } else {
                assert_eq!(writes, 0.0, "a standby of shard {k} wrote");
            }
            let want = 4.0 * owned as f64;
            eventually(
                WAIT,
                &format!("{id} probes only shard {k}'s policies' pods"),
                || async move {
                    match counter(op, "nodehealth_scheduled_pods").await {
                        n if n == want => Ok(()),
                        n => Err(format!("{n} scheduled, {want} expected")),
                    }
                },
            )
            .await;
        }
    })
    .await;
}

/// Waits for node-1 to be cordoned by `holder`, the new holder of shard 0's Lease, and only
/// after it took the Lease; returns when it took it.
async fn cordoned_by_new_holder(client: &Client, ns: &str, holder: &str) -> jiff::Timestamp {
    let nodes: Api<Node> = Api::all(client.clone());
    let node1 = format!("{ns}-node-1");
    let node = wait_for(
        &nodes,
        &node1,
        TAKEOVER + WAIT,
        "node-1 cordoned by the standby",
        cordoned,
    )
    .await;
    let spec = lease(client, ns, "nodehealth-shard-0").await.spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some(holder));
    let acquired = spec.acquire_time.unwrap().0;
    let cordoned_at: jiff::Timestamp = node.annotations()["nodehealth.io/cordoned-at"].parse().unwrap();
    assert!(cordoned_at >= acquired, "acted before holding the lease");
    acquired
}

/// Four policies over the fleet, such that both of two shards have some (UIDs are the
/// server's: a policy is replaced until they are spread).
async fn policies_on_both_shards(client: &Client, ns: &str) -> Vec<String> {
    let api: Api<NodeHealth> = Api::namespaced(client.clone(), ns);
    let mut names: Vec<String> = Vec::new();
    for i in 0.. {
        let name = format!("policy-{i}");
        create_nodehealth(client, ns, &name, radix_spec()).await;
        names.push(name);
        if names.len() > 4 {
            let dropped = names.remove(0);
            api.delete(&dropped, &DeleteParams::default()).await.unwrap();
        }
        if names.len() == 4 && both_shards(&api, &names).await {
            break;
        }
    }
    names
}

async fn both_shards(api: &Api<NodeHealth>, names: &[String]) -> bool {
    let mut seen = [false; 2];
    for n in names {
        let uid = api.get(n).await.unwrap().uid().unwrap();
        seen[shard_of(&uid, 2) as usize] = true;
    }
    seen == [true, true]
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reshard_from_one_to_two_shards_never_lets_both_topologies_act() {
    with_temp_ns("ha-reshard", |client, ns| async move {
        install_crd(&client).await;
        let _fleet = Fleet::start(&client, &ns, 4, "radix", 2).await;
        let old_id = format!("{ns}-old");
        let mut old = replica(&ns, &old_id, &[]).await;
        await_leading(&old, 0, true, WAIT).await;
        let names = policies_on_both_shards(&client, &ns).await;
        let api: Api<NodeHealth> = Api::namespaced(client.clone(), &ns);
        for name in &names {
            wait_for(&api, name, WAIT, "written by the one-shard leader", |nh| {
                leader_of(nh) == Some(old_id.as_str())
            })
            .await;
        }

        // The new topology's replicas start while the old one still runs.
        let mut new = Vec::new();
        for k in ["0", "1"] {
            let id = format!("{ns}-new-{k}");
            let op = replica(&ns, &id, &["--total-shards", "2", "--shard", k]).await;
            new.push((id, op));
        }
        // Shard 1's Lease is free: its new holder says "2 shards", and from then on neither the
        // old leader (1 shard) nor it acts; shard 0's stays with the old leader.
        await_holder(&client, &ns, "nodehealth-shard-1", &new[1].0, WAIT).await;
        await_leading(&old, 0, false, WAIT).await;
        let old_writes = counter(&old, "nodehealth_status_writes_total").await;
        for (_, op) in &new {
            more_reconciles(&op.http, 3).await;
            assert_eq!(counter(op, "nodehealth_leader").await, 0.0, "led during the reshard");
            assert_eq!(
                counter(op, "nodehealth_status_writes_total").await,
                0.0,
                "wrote during the reshard"
            );
        }
        more_reconciles(&old.http, 3).await;
        assert_eq!(
            counter(&old, "nodehealth_status_writes_total").await,
            old_writes,
            "the old leader wrote on"
        );
        assert_eq!(holder(&client, &ns, "nodehealth-shard-0").await, Some(old_id.clone()));

        // The old replica goes (as its Deployment is deleted): the new topology takes over.
        assert_eq!(old.terminate(Duration::from_secs(30)), Some(0));
        for (k, (_, op)) in (0..).zip(&new) {
            await_leading(op, k, true, TAKEOVER).await;
        }
        for name in &names {
            let nh = api.get(name).await.unwrap();
            let shard = shard_of(&nh.uid().unwrap(), 2);
            let want = &new[shard as usize].0;
            wait_for(&api, name, WAIT, "written by its new shard's leader", |nh| {
                leader_of(nh) == Some(want.as_str()) && nh.status.as_ref().is_some_and(|s| s.shard == Some(shard))
            })
            .await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rolling_update_of_the_chart_during_an_incident_hands_over_without_a_double_action() {
    with_temp_ns("ha-roll", |client, ns| async move {
        install_crd(&client).await;
        let _release = install(&ns, "--set rbac.remediation=true").await;
        let kc = impersonating_kubeconfig(&ns).await;
        let fleet = Fleet::start(&client, &ns, 2, "radix", 2).await;
        let actions = Actions::watch(&client, &ns);
        let lease_name = format!("{ns}-shard-0");
        let handovers = LeaseLog::start(&client, &ns, &lease_name);

        // No controller-manager runs here: the test plays the Deployment's ReplicaSets, starting
        // each pod as a process with the environment the chart rendered for it.
        let deployment = installed(&ns, "deployments").await.remove(&ns).expect("the Deployment");
        let replicas = deployment["spec"]["replicas"].as_u64().unwrap();
        assert_eq!(replicas, 2);
        let mut old = Vec::new();
        for i in 0..replicas {
            old.push(pod_process(&kc, &ns, &deployment, &format!("{ns}-old-{i}")));
        }
        let leader = eventually(WAIT, "one old pod leads", || {
            let (client, ns, lease_name) = (client.clone(), ns.clone(), lease_name.clone());
            async move {
                holder(&client, &ns, &lease_name)
                    .await
                    .ok_or_else(|| "no holder".to_owned())
            }
        })
        .await;
        let api = healthy_policy(
            &client,
            &ns,
            json!({
                "actions": [{"action": "Cordon", "after": "1s"}, {"action": "RestartPod", "after": "25s"}],
                "healthyFor": "4s", "minInterval": "0s", "startupGrace": "30s",
            }),
        )
        .await;
        let node1 = format!("{ns}-node-1");
        let nodes: Api<Node> = Api::all(client.clone());
        fleet.set_mode(1, out_of_sync()).await;
        wait_for(&nodes, &node1, WAIT, "node-1 cordoned", cordoned).await;

        // A changed value rolls the pods, as the new Deployment says: a surge of one new pod,
        // ready (a standby), then one old pod stopped; the leader goes first.
        ok(
            &ns,
            r#"helm upgrade "$NS" "$CHART" --namespace "$NS" --reuse-values --set logLevel=debug"#,
        )
        .await;
        let deployment = installed(&ns, "deployments").await.remove(&ns).unwrap();
        let rolling = &deployment["spec"]["strategy"]["rollingUpdate"];
        assert_eq!(
            (rolling["maxSurge"].as_u64(), rolling["maxUnavailable"].as_u64()),
            (Some(1), Some(0))
        );
        let grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
            .as_u64()
            .unwrap();
        old.sort_by_key(|(id, _)| *id != leader);
        let mut new = Vec::new();
        for (i, (id, mut op)) in old.into_iter().enumerate() {
            let (new_id, new_op) = pod_process(&kc, &ns, &deployment, &format!("{ns}-new-{i}"));
            eventually(WAIT, &format!("{new_id} ready"), || {
                let url = format!("http://{}/readyz", new_op.http);
                async move {
                    match get(&url).await {
                        Ok((200, _)) => Ok(()),
                        other => Err(format!("{other:?}")),
                    }
                }
            })
            .await;
            new.push((new_id, new_op));
            let code = op.terminate(Duration::from_secs(grace));
            assert_eq!(code, Some(0), "{id} did not stop gracefully within {grace} s");
        }

        // The incident goes on under the new pods: one restart, one cordon, never two.
        let nh = wait_for(&api, "validators", WAIT, "the restart recorded", |nh| {
            remediation(nh).actions_taken == 2
        })
        .await;
        wait_for(&nodes, &node1, WAIT, "node-1 released", |n| !cordoned(n)).await;
        let now_leading = holder(&client, &ns, &lease_name).await.unwrap_or_default();
        assert!(
            new.iter().any(|(id, _)| *id == now_leading),
            "{now_leading} leads after the roll"
        );
        assert_eq!(leader_of(&nh), Some(now_leading.as_str()));
        assert_eq!(actions.cordons(&node1), 1, "cordons of node-1 on the server");
        assert_eq!(actions.evictions(), 1, "evictions on the server");
        let gap = handovers.longest_without_renewal();
        assert!(gap < LEASE, "the shard went {gap:?} without a renewal");
        eprintln!("longest time without a lease renewal during the roll: {gap:?}");
    })
    .await;
}

/// One pod of a Deployment as a process: the rendered environment, its fieldRefs resolved.
fn pod_process(kc: &std::path::Path, ns: &str, deployment: &serde_json::Value, name: &str) -> (String, Operator) {
    let env: Vec<(String, String)> = env_of(deployment)
        .into_iter()
        .filter(|(k, _)| k != "RUST_LOG")
        .map(|(k, v)| match v.as_str() {
            "fieldRef:metadata.name" => (k, name.to_owned()),
            "fieldRef:metadata.namespace" => (k, ns.to_owned()),
            _ => (k, v),
        })
        .collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    (name.to_owned(), Operator::spawn(kc, ns, &[], &env))
}

/// The renewals of a Lease as polled from the API server, to find the longest time a shard had
/// no leader renewing.
struct LeaseLog {
    /// When each new renewTime was first seen.
    seen: std::sync::Arc<std::sync::Mutex<Vec<Instant>>>,
    task: tokio::task::JoinHandle<()>,
}

impl LeaseLog {
    fn start(client: &Client, ns: &str, name: &str) -> LeaseLog {
        let seen: std::sync::Arc<std::sync::Mutex<Vec<_>>> = Default::default();
        let (client, ns, name, log) = (client.clone(), ns.to_owned(), name.to_owned(), seen.clone());
        let task = tokio::spawn(async move {
            let leases: Api<k8s_openapi::api::coordination::v1::Lease> = Api::namespaced(client, &ns);
            let mut last = None;
            loop {
                if let Ok(Some(l)) = leases.get_opt(&name).await {
                    let renewed = l.spec.and_then(|s| s.renew_time).map(|t| t.0);
                    if renewed != last {
                        log.lock().unwrap().push(Instant::now());
                        last = renewed;
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        LeaseLog { seen, task }
    }

    /// The longest time between two renewals seen (a release counts as one: the next holder
    /// takes it at once).
    fn longest_without_renewal(&self) -> Duration {
        let seen = self.seen.lock().unwrap();
        seen.windows(2).map(|w| w[1] - w[0]).max().unwrap_or_default()
    }
}

impl Drop for LeaseLog {
    fn drop(&mut self) {
        self.task.abort();
    }
}
