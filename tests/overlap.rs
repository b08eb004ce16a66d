//! Two NodeHealths select the same validators: only the older remediates them; the other
//! reports the overlap and observes.

mod support;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams};
use serde_json::json;
use support::cluster::with_temp_ns;
use support::fleet::{WAIT, create_nodehealth};
use support::private::{carried, shared_audit_log};
use support::scene::{Scene, cordoned, event_with, out_of_sync, pod_uid, reason_is, remediation, spec_with};
use support::wait::wait_for;

#[tokio::test(flavor = "multi_thread")]
async fn of_two_policies_over_the_same_validators_only_the_older_acts_and_the_other_says_so() {
    with_temp_ns("overlap", |client, ns| async move {
        // The older policy restarts after 4s; the newer would cordon after 1s, sooner.
        let Scene { fleet, op: _op, api } = Scene::start(
            &client,
            &ns,
            3,
            &[],
            json!({"actions": [{"action": "RestartPod", "after": "4s"}], "startupGrace": "0s", "minInterval": "1s"}),
        )
        .await;
        create_nodehealth(
            &client,
            &ns,
            "validators-too",
            spec_with(json!({"actions": [{"action": "Cordon", "after": "1s"}], "startupGrace": "0s"})),
        )
        .await;
        let owner = format!("{ns}/validators");
        let nh = wait_for(&api, "validators-too", WAIT, "the overlap reported", |nh| {
            remediation(nh).overlaps.len() == 3 && reason_is(nh, "RemediationAllowed", "False", "Overlap")
        })
        .await;
        assert!(remediation(&nh).overlaps.iter().all(|o| o.remediated_by == owner));
        event_with(&client, &ns, "Overlap", &format!("validator-0 (by {owner})")).await;
        let older = api.get("validators").await.unwrap();
        assert!(remediation(&older).overlaps.is_empty(), "the older policy owns them");

        let old_uid = pod_uid(&client, &ns, "validator-1").await;
        fleet.set_mode(1, out_of_sync()).await;
        let too = wait_for(&api, "validators-too", WAIT, "its cordon step blocked", |nh| {
            remediation(nh)
                .pods
                .iter()
                .any(|r| r.name == "validator-1" && r.blocked.as_deref() == Some("Overlap"))
        })
        .await;
        assert_eq!(remediation(&too).actions_taken, 0);
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        wait_for(&pods, "validator-1", WAIT, "restarted by the older policy", |p| {
            p.uid().is_some_and(|u| u != old_uid) && p.metadata.deletion_timestamp.is_none()
        })
        .await;
        let older = wait_for(&api, "validators", WAIT, "the restart recorded", |nh| {
            remediation(nh).actions_taken == 1
        })
        .await;
        assert_eq!(remediation(&older).last_remediation.unwrap().pod, "validator-1");
        let nodes: Api<Node> = Api::all(client.clone());
        for i in 0..2 {
            assert!(
                !cordoned(&nodes.get(&format!("{ns}-node-{i}")).await.unwrap()),
                "node-{i}"
            );
        }
        assert_eq!(
            carried(&shared_audit_log().await, &ns).evictions,
            ["validator-1"],
            "by the server's record"
        );
        assert_eq!(remediation(&api.get("validators-too").await.unwrap()).actions_taken, 0);

        // The older policy goes: the other now remediates its pods, and says no overlap.
        api.delete("validators", &DeleteParams::default()).await.unwrap();
        wait_for(&api, "validators-too", WAIT, "the overlap gone", |nh| {
            remediation(nh).overlaps.is_empty() && reason_is(nh, "RemediationAllowed", "True", "Allowed")
        })
        .await;
        fleet.set_mode(2, out_of_sync()).await;
        let node = fleet_node_of(&pods, "validator-2").await;
        wait_for(
            &nodes,
            &node,
            WAIT,
            "validator-2's node cordoned by the remaining policy",
            cordoned,
        )
        .await;
    })
    .await;
}

async fn fleet_node_of(pods: &Api<Pod>, name: &str) -> String {
    pods.get(name)
        .await
        .unwrap()
        .spec
        .and_then(|s| s.node_name)
        .expect("a scheduled pod")
}
