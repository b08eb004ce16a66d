//! When the operator must not act, end to end: a network halt (for a policy of one validator
//! too), a validator still catching up, and a reading the operator could not verify after its
//! own restart. What a validator operator sees on nodes, pods, status and events.

mod support;

use k8s_openapi::api::core::v1::Node;
use kube::api::Api;
use nodehealth::crd::PodStatus;
use nodehealth::model::{Network, SyncState};
use serde_json::json;
use support::cluster::with_temp_ns;
use support::fleet::{WAIT, condition, condition_is, pod_row};
use support::kubelet::ValidatorPod;
use support::operator::Operator;
use support::scene::{Scene, cordoned, count_events, event_with, pod_uid, reason_is, remediation};
use support::wait::{more_reconciles, wait_for};

#[tokio::test(flavor = "multi_thread")]
async fn a_validator_catching_up_at_twice_real_time_is_cordoned_but_never_restarted() {
    with_temp_ns("safe-sync", |client, ns| async move {
        let Scene { fleet, op, api } = Scene::start(
            &client,
            &ns,
            2,
            &[],
            json!({
                "actions": [{"action": "Cordon", "after": "1s"}, {"action": "RestartPod", "after": "2s"}],
                "minInterval": "0s",
            }),
        )
        .await;
        let uid = pod_uid(&client, &ns, "validator-1").await;
        // An hour behind, catching up at 2× real time: it will become synced. "A healthy Node
        // is expected to eventually become synced. This will happen only if the "syncing rate"
        // (...) is faster than realtime".
        fleet
            .set_mode(1, json!({"mode": "catching_up", "rate": 2, "behind_seconds": 3600}))
            .await;
        let nh = wait_for(&api, "validators", WAIT, "validator-1 Syncing at factor 0", |nh| {
            pod_row(nh, "validator-1").is_some_and(|p| {
                p.sync_state == SyncState::Syncing && p.health_factor == Some(0.0) && p.status == PodStatus::NotReady
            })
        })
        .await;
        assert!(reason_is(&nh, "RemediationAllowed", "True", "Allowed"));
        // The cordon goes ahead; the restart is held by the new gate, and says so.
        let nodes: Api<Node> = Api::all(client.clone());
        wait_for(&nodes, &format!("{ns}-node-1"), WAIT, "node-1 cordoned", cordoned).await;
        wait_for(&api, "validators", WAIT, "the restart held as StillSyncing", |nh| {
            remediation(nh)
                .pods
                .iter()
                .any(|p| p.name == "validator-1" && p.blocked.as_deref() == Some("StillSyncing"))
        })
        .await;
        event_with(&client, &ns, "RemediationSkipped", "still catching up with the network").await;
        // Long past the step's time, it is still the same instance.
        more_reconciles(&op.http, 8).await;
        assert_eq!(
            pod_uid(&client, &ns, "validator-1").await,
            uid,
            "restarted while syncing"
        );
        let nh = api.get("validators").await.unwrap();
        assert_eq!(remediation(&nh).actions_taken, 1, "only the cordon");
        assert_eq!(count_events(&client, &ns, "PodEvicted").await, 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_restarted_during_an_incident_keeps_it_open_until_it_has_verified_the_node() {
    with_temp_ns("safe-restart", |client, ns| async move {
        let Scene { fleet, mut op, api } = Scene::start(
            &client,
            &ns,
            2,
            &[],
            json!({
                "actions": [{"action": "Cordon", "after": "1s"}, {"action": "RestartPod", "after": "1h"}],
                "healthyFor": "2s", "minInterval": "0s",
            }),
        )
        .await;
        // Catching up at 30×, then stalled: the node keeps reporting its last rate (30), so on
        // its own word it is Syncing at factor 0.5. Only the operator's observation catches it.
        fleet
            .set_mode(1, json!({"mode": "catching_up", "rate": 30, "behind_seconds": 3600}))
            .await;
        fleet.set_mode(1, json!({"mode": "stalled"})).await;
        let node1 = format!("{ns}-node-1");
        let nodes: Api<Node> = Api::all(client.clone());
        wait_for(&nodes, &node1, WAIT, "node-1 cordoned for the stall", cordoned).await;
        let before = api.get("validators").await.unwrap();
        let since = |nh: &nodehealth::crd::NodeHealth| {
            remediation(nh)
                .pods
                .iter()
                .find(|p| p.name == "validator-1")
                .and_then(|p| p.unhealthy_since.clone())
        };
        assert!(since(&before).is_some());
        let recovered_before = count_events(&client, &ns, "PodRecovered").await;

        // A new operator has no history: for one trusted span the node's word is all it has.
        op.kill();
        let op = Operator::start(&ns, &[]).await;
        wait_for(
            &api,
            "validators",
            WAIT,
            "the new operator holding the incident",
            |nh| {
                pod_row(nh, "validator-1").is_some_and(|p| {
                    p.status == PodStatus::NotReady && p.reasons.iter().any(|r| r.contains("not verified it yet"))
                })
            },
        )
        .await;
        let nh = wait_for(&api, "validators", WAIT, "the stall verified again", |nh| {
            pod_row(nh, "validator-1")
                .is_some_and(|p| p.sync_state == SyncState::OutOfSync && p.observed_progress_rate == Some(0.0))
        })
        .await;
        more_reconciles(&op.http, 3).await;
        assert_eq!(since(&nh), since(&before), "the incident was closed and reopened");
        assert!(
            cordoned(&nodes.get(&node1).await.unwrap()),
            "uncordoned after the restart"
        );
        assert_eq!(
            count_events(&client, &ns, "PodRecovered").await,
            recovered_before,
            "a recovery nobody verified was announced"
        );
        assert_eq!(count_events(&client, &ns, "NodeUncordoned").await, 0);
    })
    .await;
}

/// A policy of one validator whose every restart would be due at once, with the synced delay
/// cut to 5 s so that a halt shows within seconds, not after the default minute.
fn one_validator(profile: &str) -> serde_json::Value {
    json!({
        "selector": {"matchLabels": {"app": "validator"}},
        "profile": profile,
        "probe": {"health": {"port": "health"}, "metrics": {"port": "metrics"},
                  "period": "1s", "timeout": "1s"},
        "assessment": {"observedRateWindow": "10s", "syncedDelay": "5s"},
        "remediation": {"actions": [{"action": "CordonAndRestart", "after": "1s"}], "minInterval": "0s"},
    })
}

/// Halts the simulated network and checks that nothing is done about the one validator, then
/// lets the network go on and checks the policy allows remediation again.
async fn halt_leaves_the_validator_alone(client: kube::Client, ns: String, profile: &'static str) {
    let Scene { fleet, op, api } = Scene::with_spec(&client, &ns, 1, profile, &[], one_validator(profile)).await;
    let uid = pod_uid(&client, &ns, "validator-0").await;
    fleet.sim().set_network_halted(true).await.expect("halt the network");
    let nh = wait_for(&api, "validators", WAIT, "NetworkStalled", |nh| {
        reason_is(nh, "RemediationAllowed", "False", "NetworkStalled")
            && pod_row(nh, "validator-0").is_some_and(|p| p.network == Some(Network::Stalled))
    })
    .await;
    let allowed = condition(&nh, "RemediationAllowed").unwrap();
    assert!(
        allowed.message.starts_with("the network is not live"),
        "{}",
        allowed.message
    );
    more_reconciles(&op.http, 8).await;
    let nh = api.get("validators").await.unwrap();
    assert!(reason_is(&nh, "RemediationAllowed", "False", "NetworkStalled"));
    assert_eq!(remediation(&nh).actions_taken, 0);
    let nodes: Api<Node> = Api::all(client.clone());
    assert!(!cordoned(&nodes.get(&format!("{ns}-node-0")).await.unwrap()));
    assert_eq!(pod_uid(&client, &ns, "validator-0").await, uid);
    assert_eq!(count_events(&client, &ns, "PodEvicted").await, 0);

    fleet.sim().set_network_halted(false).await.expect("resume the network");
    wait_for(&api, "validators", WAIT, "live and healthy again", |nh| {
        condition_is(nh, "Healthy", "True") && reason_is(nh, "RemediationAllowed", "True", "Allowed")
    })
    .await;
    assert_eq!(pod_uid(&client, &ns, "validator-0").await, uid);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_single_radix_validator_during_a_network_halt_is_left_alone() {
    // Before: the network guard was a majority vote of at least two pods, so one validator was
    // cordoned and restarted during a chain halt.
    with_temp_ns("safe-halt-rx", |client, ns| async move {
        halt_leaves_the_validator_alone(client, ns, "radix").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_single_zksync_node_whose_main_node_stops_is_left_alone() {
    with_temp_ns("safe-halt-zk", |client, ns| async move {
        halt_leaves_the_validator_alone(client, ns, "zksync").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pod_without_the_policys_port_is_a_mistake_not_an_unhealthy_validator() {
    with_temp_ns("safe-port", |client, ns| async move {
        let Scene { fleet, op: _op, api } = Scene::start(
            &client,
            &ns,
            3,
            &[],
            json!({
                "actions": [{"action": "Cordon", "after": "1s"}],
                "maxUnhealthy": 1, "minInterval": "0s",
            }),
        )
        .await;
        // A pod of the same app whose ports are named otherwise, alone on its node.
        let node2 = format!("{ns}-node-2");
        fleet.kubelet.create_node(&node2).await;
        fleet
            .kubelet
            .create_pod(ValidatorPod {
                name: "validator-9".into(),
                node: node2.clone(),
                ip: fleet.ip(0).into(),
                labels: [("app".to_owned(), "validator".to_owned())].into(),
                ports: vec![("rpc".into(), 3334)],
                started_seconds_ago: 3600,
            })
            .await;
        let nh = wait_for(&api, "validators", WAIT, "validator-9 reported Running", |nh| {
            pod_row(nh, "validator-9").is_some_and(|p| p.reasons.iter().all(|r| !r.contains("Pending")))
        })
        .await;
        let reason = &pod_row(&nh, "validator-9").unwrap().reasons[0];
        assert!(reason.starts_with("PortNotDeclared"), "{reason}");
        assert!(reason.contains("(it declares: rpc)"), "{reason}");

        // A real incident: one unhealthy validator is within maxUnhealthy 1, as the
        // misconfigured pod does not count; its node is cordoned, the other node never is.
        let nodes: Api<Node> = Api::all(client.clone());
        fleet.set_mode(1, support::scene::out_of_sync()).await;
        let node1 = format!("{ns}-node-1");
        wait_for(&nodes, &node1, WAIT, "node-1 cordoned", cordoned).await;
        let nh = api.get("validators").await.unwrap();
        assert!(!reason_is(&nh, "RemediationAllowed", "False", "TooManyUnhealthy"));
        assert!(
            !cordoned(&nodes.get(&node2).await.unwrap()),
            "the misconfigured pod's node"
        );
        let rec = remediation(&nh);
        // Neither as a Pending pod nor as a running one without the port is it a verdict.
        assert!(
            rec.pods.iter().all(|p| p.name != "validator-9"),
            "an incident for a configuration mistake: {rec:?}"
        );
        assert_eq!(
            pod_row(&nh, "validator-9").and_then(|p| p.not_probed),
            Some(nodehealth::crd::NotProbed::PortNotDeclared)
        );
    })
    .await;
}
