//! Remediation end to end on the real API server, with simulated validators and kubelet:
//! what a validator operator sees on nodes, pods, `kubectl get nodehealth` and in events.

mod support;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use nodehealth::controller::evict_instance;
use nodehealth::crd::ActionResult;
use nodehealth::remediate::release::FINALIZER;
use serde_json::{Value, json};
use support::cluster::with_temp_ns;
use support::fleet::{Fleet, WAIT, condition, condition_is, create_nodehealth, radix_spec};
use support::operator::Operator;
use support::scene::{
    Scene, cordoned, count_events, event_with, metrics_of, out_of_sync, pod_uid, reason_is, remediation,
};
use support::wait::{eventually, more_reconciles, wait_for};

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_validator_is_cordoned_then_restarted_and_its_node_released() {
    with_temp_ns("rem-ladder", |client, ns| async move {
        // validator-1 is alone on node-1.
        let Scene { fleet, op: _op, api } = Scene::start(
            &client,
            &ns,
            3,
            &[],
            json!({
                "actions": [{"action": "Cordon", "after": "2s"}, {"action": "RestartPod", "after": "6s"}],
                "healthyFor": "4s", "minInterval": "1s", "startupGrace": "30s",
            }),
        )
        .await;
        wait_for(&api, "validators", WAIT, "remediation allowed", |nh| {
            condition_is(nh, "Healthy", "True") && reason_is(nh, "RemediationAllowed", "True", "Allowed")
        })
        .await;
        let old_uid = pod_uid(&client, &ns, "validator-1").await;
        let node1 = format!("{ns}-node-1");
        let nodes: Api<Node> = Api::all(client.clone());

        fleet.set_mode(1, out_of_sync()).await;
        let node = wait_for(&nodes, &node1, WAIT, "node-1 cordoned", cordoned).await;
        assert_eq!(
            node.annotations().get("nodehealth.io/cordoned-by").map(String::as_str),
            Some(format!("{ns}/validators").as_str())
        );
        assert!(
            !cordoned(&nodes.get(&format!("{ns}-node-0")).await.unwrap()),
            "only the sick validator's node"
        );
        event_with(&client, &ns, "NodeCordoned", &node1).await;

        // The second step restarts exactly that pod; the simulated kubelet recreates it synced.
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        wait_for(&pods, "validator-1", WAIT, "validator-1 recreated", |p| {
            p.uid().is_some_and(|u| u != old_uid) && p.metadata.deletion_timestamp.is_none()
        })
        .await;
        event_with(&client, &ns, "PodEvicted", "validator-1").await;
        let nh = wait_for(&api, "validators", WAIT, "restart recorded", |nh| {
            remediation(nh).actions_taken == 2
        })
        .await;
        let last = remediation(&nh).last_remediation.unwrap();
        assert_eq!(last.pod, "validator-1");
        assert_eq!(
            last.uid.as_deref(),
            Some(old_uid.as_str()),
            "the evicted instance is recorded"
        );
        assert!(
            last.summary.starts_with("RestartPod validator-1 on"),
            "{}",
            last.summary
        );

        // Back and healthy for healthyFor: the node is released and nothing is in flight.
        let node = wait_for(&nodes, &node1, WAIT, "node-1 uncordoned", |n| !cordoned(n)).await;
        assert!(!node.annotations().contains_key("nodehealth.io/cordoned-by"));
        event_with(&client, &ns, "NodeUncordoned", &node1).await;
        let nh = wait_for(&api, "validators", WAIT, "Remediating False", |nh| {
            reason_is(nh, "Remediating", "False", "Idle") && condition_is(nh, "Healthy", "True")
        })
        .await;
        let rec = remediation(&nh);
        assert!(rec.cordoned_nodes.is_empty());
        let pod = rec
            .pods
            .iter()
            .find(|p| p.name == "validator-1")
            .expect("restart kept for the budget");
        assert_eq!(pod.restarts.len(), 1);
        assert!(pod.unhealthy_since.is_none(), "incident closed");
        assert_eq!(
            count_events(&client, &ns, "PodEvicted").await,
            2,
            "one on the NodeHealth, one on the pod"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_network_wide_stall_or_too_many_unhealthy_pods_stop_every_action() {
    with_temp_ns("rem-guards", |client, ns| async move {
        let Scene { fleet, op, api } = Scene::start(
            &client,
            &ns,
            5,
            &[],
            json!({
                "actions": [{"action": "CordonAndRestart", "after": "1s"}],
                "minInterval": "0s",
            }),
        )
        .await;
        let uids: Vec<String> = futures::future::join_all((0..5).map(|i| {
            let (client, ns) = (client.clone(), ns.clone());
            async move { pod_uid(&client, &ns, &format!("validator-{i}")).await }
        }))
        .await;

        // Every ledger stops together: the network halted, no validator is to blame.
        for i in 0..5 {
            fleet
                .set_mode(i, json!({"mode": "catching_up", "rate": 30, "behind_seconds": 3600}))
                .await;
        }
        for i in 0..5 {
            fleet.set_mode(i, json!({"mode": "stalled"})).await;
        }
        // Probes spread over the period: the majority is reached before the last one is seen.
        wait_for(&api, "validators", WAIT, "NetworkStalled, 5/5 out of sync", |nh| {
            reason_is(nh, "RemediationAllowed", "False", "NetworkStalled")
                && condition(nh, "RemediationAllowed").is_some_and(|c| c.message.contains("5/5 validators"))
        })
        .await;
        event_with(&client, &ns, "RemediationSkipped", "probably the network").await;

        // Three recover; two of five unhealthy is more than maxUnhealthy (1).
        for i in 0..3 {
            fleet.set_mode(i, json!({"mode": "synced"})).await;
        }
        let nh = wait_for(&api, "validators", WAIT, "TooManyUnhealthy", |nh| {
            reason_is(nh, "RemediationAllowed", "False", "TooManyUnhealthy")
        })
        .await;
        assert!(
            condition(&nh, "RemediationAllowed")
                .unwrap()
                .message
                .contains("2/5 pods are unhealthy")
        );
        event_with(&client, &ns, "RemediationSkipped", "more than maxUnhealthy").await;
        let metrics = metrics_of(&op).await;
        for reason in ["NetworkStalled", "TooManyUnhealthy"] {
            assert!(
                metrics.contains(&format!("nodehealth_remediations_blocked_total{{reason=\"{reason}\"}}")),
                "{metrics}"
            );
        }

        // Nothing was touched.
        assert_eq!(remediation(&nh).actions_taken, 0);
        let nodes: Api<Node> = Api::all(client.clone());
        for n in 0..2 {
            assert!(!cordoned(&nodes.get(&format!("{ns}-node-{n}")).await.unwrap()));
        }
        for (i, uid) in uids.iter().enumerate() {
            assert_eq!(
                &pod_uid(&client, &ns, &format!("validator-{i}")).await,
                uid,
                "validator-{i} restarted"
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_records_what_it_would_do_and_touches_nothing() {
    with_temp_ns("rem-dry", |client, ns| async move {
        let Scene { fleet, op, api } = Scene::start(
            &client,
            &ns,
            3,
            &[],
            json!({
                "actions": [{"action": "CordonAndRestart", "after": "1s"}],
                "dryRun": true,
            }),
        )
        .await;
        let uid = pod_uid(&client, &ns, "validator-1").await;

        fleet.set_mode(1, out_of_sync()).await;
        let nh = wait_for(&api, "validators", WAIT, "a dry-run record", |nh| {
            remediation(nh)
                .last_remediation
                .is_some_and(|r| r.result == ActionResult::DryRun)
        })
        .await;
        assert!(
            remediation(&nh)
                .last_remediation
                .unwrap()
                .summary
                .ends_with("(dry run)")
        );
        event_with(&client, &ns, "WouldCordon", &format!("{ns}-node-1")).await;
        event_with(&client, &ns, "WouldRestart", "validator-1").await;
        let metrics = metrics_of(&op).await;
        for action in ["cordon", "restart"] {
            assert!(
                metrics.contains(&format!(
                    "nodehealth_remediations_total{{action=\"{action}\",result=\"dry_run\"}} 1"
                )),
                "{metrics}"
            );
        }
        let nodes: Api<Node> = Api::all(client.clone());
        assert!(!cordoned(&nodes.get(&format!("{ns}-node-1")).await.unwrap()));
        assert_eq!(pod_uid(&client, &ns, "validator-1").await, uid);
        assert_eq!(count_events(&client, &ns, "PodEvicted").await, 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn paused_policies_and_skipped_pods_are_left_alone_until_released() {
    with_temp_ns("rem-pause", |client, ns| async move {
        let Scene { fleet, op: _op, api } = Scene::start(
            &client,
            &ns,
            3,
            &[],
            json!({"actions": [{"action": "RestartPod", "after": "1s"}], "minInterval": "0s"}),
        )
        .await;
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let annotate = |v: Value| json!({"metadata": {"annotations": {"nodehealth.io/skip-remediation": v}}});
        pods.patch(
            "validator-1",
            &PatchParams::default(),
            &Patch::Merge(&annotate(json!("true"))),
        )
        .await
        .unwrap();
        let uid = pod_uid(&client, &ns, "validator-1").await;

        fleet.set_mode(1, out_of_sync()).await;
        event_with(&client, &ns, "RemediationSkipped", "skip-remediation").await;
        wait_for(&api, "validators", WAIT, "the skip recorded", |nh| {
            remediation(nh)
                .pods
                .iter()
                .any(|p| p.blocked.as_deref() == Some("SkipAnnotation"))
        })
        .await;

        // Pause the policy, then lift the pod's exemption: still nothing, now because of the pause.
        let paused = |v: Value| json!({"metadata": {"annotations": {"nodehealth.io/paused": v}}});
        api.patch(
            "validators",
            &PatchParams::default(),
            &Patch::Merge(&paused(json!("true"))),
        )
        .await
        .unwrap();
        wait_for(&api, "validators", WAIT, "Paused", |nh| {
            reason_is(nh, "RemediationAllowed", "False", "Paused")
        })
        .await;
        pods.patch(
            "validator-1",
            &PatchParams::default(),
            &Patch::Merge(&annotate(Value::Null)),
        )
        .await
        .unwrap();
        event_with(&client, &ns, "RemediationSkipped", "nodehealth.io/paused").await;
        assert_eq!(pod_uid(&client, &ns, "validator-1").await, uid);

        // Unpaused: the gate was the only thing in the way.
        api.patch(
            "validators",
            &PatchParams::default(),
            &Patch::Merge(&paused(Value::Null)),
        )
        .await
        .unwrap();
        wait_for(&pods, "validator-1", WAIT, "validator-1 restarted", |p| {
            p.uid().is_some_and(|u| u != uid)
        })
        .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pod_disruption_budget_blocks_the_restart_until_it_allows_one() {
    with_temp_ns("rem-pdb", |client, ns| async move {
        let Scene { fleet, op: _op, api } = Scene::start(
            &client,
            &ns,
            2,
            &[],
            json!({"actions": [{"action": "RestartPod", "after": "1s"}], "minInterval": "2s"}),
        )
        .await;
        fleet.kubelet.create_pdb("validators", 2).await;
        fleet.kubelet.set_disruptions_allowed("validators", 0).await;
        let uid = pod_uid(&client, &ns, "validator-1").await;

        fleet.set_mode(1, out_of_sync()).await;
        event_with(&client, &ns, "EvictionBlocked", "validator-1").await;
        let nh = wait_for(&api, "validators", WAIT, "the refusal recorded", |nh| {
            remediation(nh)
                .last_remediation
                .is_some_and(|r| r.result == ActionResult::Blocked)
        })
        .await;
        let rec = remediation(&nh);
        let pod = rec.pods.iter().find(|p| p.name == "validator-1").unwrap();
        assert_eq!(pod.step, 0, "the step is taken back, to be retried");
        assert!(pod.restarts.is_empty(), "a refused eviction is no restart");
        assert_eq!(pod_uid(&client, &ns, "validator-1").await, uid, "never forced");

        // The budget allows one disruption: the retry goes through.
        fleet.kubelet.set_disruptions_allowed("validators", 1).await;
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        wait_for(&pods, "validator-1", WAIT, "validator-1 restarted", |p| {
            p.uid().is_some_and(|u| u != uid)
        })
        .await;
        event_with(&client, &ns, "PodEvicted", "validator-1").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_a_person_uncordons_is_not_cordoned_again_for_that_incident() {
    with_temp_ns("rem-manual", |client, ns| async move {
        let Scene { fleet, op: _op, api } = Scene::start(
            &client,
            &ns,
            2,
            &[],
            json!({
                "actions": [{"action": "Cordon", "after": "1s"}, {"action": "CordonAndRestart", "after": "8s"}],
                "minInterval": "1s",
            }),
        )
        .await;
        let uid = pod_uid(&client, &ns, "validator-1").await;
        let node1 = format!("{ns}-node-1");
        let nodes: Api<Node> = Api::all(client.clone());

        fleet.set_mode(1, out_of_sync()).await;
        wait_for(&nodes, &node1, WAIT, "node-1 cordoned", cordoned).await;
        // A person uncordons it, as `kubectl uncordon` does.
        nodes
            .patch(
                &node1,
                &PatchParams::default(),
                &Patch::Merge(&json!({"spec": {"unschedulable": false}})),
            )
            .await
            .unwrap();
        event_with(&client, &ns, "RemediationSkipped", "uncordoned by someone else").await;

        // The next step restarts the pod but leaves the node as the person set it.
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        wait_for(&pods, "validator-1", WAIT, "validator-1 restarted", |p| {
            p.uid().is_some_and(|u| u != uid)
        })
        .await;
        let nh = wait_for(&api, "validators", WAIT, "the restart recorded", |nh| {
            remediation(nh)
                .last_remediation
                .is_some_and(|r| r.result == ActionResult::Succeeded && r.action.restarts())
        })
        .await;
        assert!(
            !cordoned(&nodes.get(&node1).await.unwrap()),
            "cordoned again after a person uncordoned it"
        );
        assert_eq!(
            count_events(&client, &ns, "NodeCordoned").await,
            1,
            "one NodeCordoned (on the NodeHealth)"
        );
        assert!(remediation(&nh).cordoned_nodes.is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_killed_right_after_acting_neither_repeats_the_action_nor_resets_timers() {
    with_temp_ns("rem-kill", |client, ns| async move {
        let Scene { fleet, mut op, api } = Scene::start(
            &client,
            &ns,
            2,
            &[],
            json!({
                "actions": [{"action": "Cordon", "after": "1s"}, {"action": "RestartPod", "after": "1h"}],
                "minInterval": "0s",
            }),
        )
        .await;
        let node1 = format!("{ns}-node-1");
        let nodes: Api<Node> = Api::all(client.clone());

        fleet.set_mode(1, out_of_sync()).await;
        let node = wait_for(&nodes, &node1, WAIT, "node-1 cordoned", cordoned).await;
        op.kill();
        let cordoned_at = node.annotations().get("nodehealth.io/cordoned-at").cloned();
        let before = remediation(&api.get("validators").await.unwrap());
        let since = before
            .pods
            .iter()
            .find(|p| p.name == "validator-1")
            .unwrap()
            .unhealthy_since
            .clone();
        assert!(since.is_some());

        // A new operator process works from the records in status.
        let op = Operator::start(&ns, &[]).await;
        more_reconciles(&op.http, 3).await;
        let after = remediation(&api.get("validators").await.unwrap());
        assert_eq!(after.actions_taken, 1, "the cordon was repeated");
        let pod = after.pods.iter().find(|p| p.name == "validator-1").unwrap();
        assert_eq!(pod.unhealthy_since, since, "the incident timer was reset");
        assert_eq!(pod.step, 1);
        let node = nodes.get(&node1).await.unwrap();
        assert_eq!(
            node.annotations().get("nodehealth.io/cordoned-at").cloned(),
            cordoned_at
        );
        assert!(cordoned(&node));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn young_pods_wait_out_their_grace_and_the_restart_budget_runs_out() {
    with_temp_ns("rem-budget", |client, ns| async move {
        let Scene { fleet, op: _op, api } = Scene::start(
            &client,
            &ns,
            2,
            &[],
            json!({
                "actions": [{"action": "RestartPod", "after": "1s"}],
                "healthyFor": "2s", "minInterval": "0s", "startupGrace": "8s", "maxRestartsPerPod": 1,
            }),
        )
        .await;
        let uid = pod_uid(&client, &ns, "validator-1").await;

        // First incident: restarted (the budget's one restart); it comes back synced.
        fleet.set_mode(1, out_of_sync()).await;
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let new = wait_for(&pods, "validator-1", WAIT, "restarted", |p| {
            p.uid().is_some_and(|u| u != uid)
        })
        .await;
        let new_uid = new.uid().unwrap();
        wait_for(&api, "validators", WAIT, "incident closed", |nh| {
            condition_is(nh, "Healthy", "True")
                && remediation(nh)
                    .pods
                    .iter()
                    .any(|p| p.name == "validator-1" && p.unhealthy_since.is_none())
        })
        .await;

        // Second incident on the young pod: grace first, then the budget says no.
        fleet.set_mode(1, out_of_sync()).await;
        event_with(&client, &ns, "RemediationSkipped", "startupGrace").await;
        let nh = wait_for(&api, "validators", WAIT, "RestartBudgetExhausted", |nh| {
            reason_is(nh, "RemediationAllowed", "False", "RestartBudgetExhausted")
        })
        .await;
        assert!(
            condition(&nh, "RemediationAllowed")
                .unwrap()
                .message
                .contains("maxRestartsPerPod")
        );
        event_with(&client, &ns, "RemediationSkipped", "maxRestartsPerPod reached").await;
        assert_eq!(pod_uid(&client, &ns, "validator-1").await, new_uid);
        assert_eq!(remediation(&nh).actions_taken, 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_eviction_names_one_pod_instance_and_the_server_reads_it_without_an_api_version() {
    with_temp_ns("rem-evict", |client, ns| async move {
        let _fleet = Fleet::start(&client, &ns, 1, "radix", 1).await;
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let uid = pod_uid(&client, &ns, "validator-0").await;
        let code = |r: Result<(), kube::Error>| match r {
            Err(kube::Error::Api(s)) => s.code,
            other => panic!("expected a refusal, got {other:?}"),
        };

        // Another instance's UID: refused, the pod is untouched.
        let stale = evict_instance(&client, &ns, "validator-0", "00000000-0000-0000-0000-000000000000").await;
        assert_eq!(code(stale), 409);
        let pod = pods.get("validator-0").await.unwrap();
        assert!(pod.metadata.deletion_timestamp.is_none());

        // Its own UID: evicted (the body has no apiVersion; the 1.20 server reads it as policy/v1beta1).
        evict_instance(&client, &ns, "validator-0", &uid).await.unwrap();
        let new = wait_for(&pods, "validator-0", WAIT, "recreated", |p| {
            p.uid().is_some_and(|u| u != uid) && p.metadata.deletion_timestamp.is_none()
        })
        .await;

        // Finishing the same restart again (an operator restarted mid-action) never evicts the replacement.
        let again = evict_instance(&client, &ns, "validator-0", &uid).await;
        assert!(matches!(code(again), 404 | 409));
        let pod = pods.get("validator-0").await.unwrap();
        assert_eq!(pod.uid(), new.uid());
        assert!(pod.metadata.deletion_timestamp.is_none());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_without_remediation_rights_says_so_and_never_acts() {
    with_temp_ns("rem-off", |client, ns| async move {
        let Scene { fleet, op: _op, api } = Scene::start(
            &client,
            &ns,
            2,
            &["--remediation=false"],
            json!({"actions": [{"action": "CordonAndRestart", "after": "1s"}]}),
        )
        .await;
        let uid = pod_uid(&client, &ns, "validator-1").await;
        fleet.set_mode(1, out_of_sync()).await;
        let nh = wait_for(
            &api,
            "validators",
            WAIT,
            "RemediationDisabled while validator-1 is down",
            |nh| {
                condition_is(nh, "Healthy", "False")
                    && reason_is(nh, "RemediationAllowed", "False", "RemediationDisabled")
            },
        )
        .await;
        assert!(
            condition(&nh, "RemediationAllowed")
                .unwrap()
                .message
                .contains("rbac.remediation")
        );
        assert_eq!(remediation(&nh).actions_taken, 0);
        assert_eq!(pod_uid(&client, &ns, "validator-1").await, uid);
        let nodes: Api<Node> = Api::all(client.clone());
        assert!(!cordoned(&nodes.get(&format!("{ns}-node-1")).await.unwrap()));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_policy_uncordons_the_nodes_it_cordoned_once_an_operator_runs_and_only_those() {
    with_temp_ns("rem-delete", |client, ns| async move {
        let Scene { fleet, mut op, api } = Scene::start(
            &client,
            &ns,
            2,
            &[],
            json!({"actions": [{"action": "Cordon", "after": "1s"}], "minInterval": "0s"}),
        )
        .await;
        // An observe-only policy over the same pods has nothing to undo: no finalizer.
        create_nodehealth(&client, &ns, "observer", radix_spec()).await;
        let observer = wait_for(&api, "observer", WAIT, "observer healthy", |nh| {
            condition_is(nh, "Healthy", "True")
        })
        .await;
        assert_eq!(observer.finalizers(), &[] as &[String]);
        let nh = wait_for(&api, "validators", WAIT, "the finalizer", |nh| {
            nh.finalizers().iter().any(|f| f == FINALIZER)
        })
        .await;
        assert_eq!(nh.finalizers(), [FINALIZER]);

        let (node0, node1) = (format!("{ns}-node-0"), format!("{ns}-node-1"));
        let nodes: Api<Node> = Api::all(client.clone());
        fleet.set_mode(1, out_of_sync()).await;
        wait_for(&nodes, &node1, WAIT, "node-1 cordoned", cordoned).await;
        // A person cordons node-0 for reasons of their own.
        let person = PatchParams::default();
        nodes
            .patch(&node0, &person, &Patch::Merge(json!({"spec": {"unschedulable": true}})))
            .await
            .unwrap();

        // Uninstalled (no operator running), then the policy deleted: it waits for an operator,
        // and node-1 stays cordoned meanwhile.
        op.kill();
        api.delete("validators", &Default::default()).await.unwrap();
        api.delete("observer", &Default::default()).await.unwrap();
        assert!(
            api.get_opt("observer").await.unwrap().is_none(),
            "nothing holds an observer"
        );
        let waiting = api.get("validators").await.unwrap();
        assert!(waiting.metadata.deletion_timestamp.is_some());
        assert!(cordoned(&nodes.get(&node1).await.unwrap()));

        // An operator again: it releases node-1, leaves the person's node-0, and lets go.
        let _op = Operator::start(&ns, &[]).await;
        eventually(WAIT, "the NodeHealth gone", || async {
            match api.get_opt("validators").await {
                Ok(None) => Ok(()),
                Ok(Some(nh)) => Err(format!("still there, finalizers {:?}", nh.finalizers())),
                Err(e) => Err(e.to_string()),
            }
        })
        .await;
        let n1 = nodes.get(&node1).await.unwrap();
        assert!(!cordoned(&n1), "node-1 was cordoned by the policy: released");
        assert!(!n1.annotations().contains_key("nodehealth.io/cordoned-by"));
        assert!(
            cordoned(&nodes.get(&node0).await.unwrap()),
            "a person's cordon is never undone"
        );
        event_with(&client, &ns, "NodeUncordoned", &node1).await;
    })
    .await;
}
