//! Each chain read as its document says, end to end on the real API server: a zksync fleet
//! probed on both endpoints, a zksync node whose lag does not close, and clocks that disagree.

mod support;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams};
use nodehealth::crd::NodeHealth;
use nodehealth::crd::PodStatus;
use nodehealth::model::SyncState;
use serde_json::json;
use support::cluster::with_temp_ns;
use support::fleet::{Fleet, WAIT, condition, condition_is, create_nodehealth, pod_row, radix_spec};
use support::operator::{Operator, install_crd};
use support::wait::{more_reconciles, wait_for};

#[tokio::test(flavor = "multi_thread")]
async fn a_zksync_fleet_probed_on_both_endpoints_and_a_node_whose_lag_does_not_close() {
    with_temp_ns("chain-zk", |client, ns| async move {
        install_crd(&client).await;
        let fleet = Fleet::start(&client, &ns, 3, "zksync", 1).await;
        let op = Operator::start(&ns, &[]).await;
        // The zksync defaults advertise the metrics port too: the first thing a user tries.
        create_nodehealth(
            &client,
            &ns,
            "external-nodes",
            json!({
                "selector": {"matchLabels": {"app": "validator"}},
                "profile": "zksync",
                "probe": {"health": {"port": "health"}, "metrics": {"port": "metrics"},
                          "period": "1s", "timeout": "1s"},
                "assessment": {"observedRateWindow": "10s"}
            }),
        )
        .await;
        let api: Api<NodeHealth> = Api::namespaced(client.clone(), &ns);
        wait_for(&api, "external-nodes", WAIT, "3/3 healthy", |nh| {
            condition_is(nh, "Healthy", "True") && nh.status.as_ref().is_some_and(|s| s.ready == "3/3")
        })
        .await;
        // Healthy stays healthy: no pod reads as booting for lack of a Radix series.
        more_reconciles(&op.http, 5).await;
        let nh = api.get("external-nodes").await.unwrap();
        for row in &nh.status.as_ref().unwrap().pods {
            assert_eq!(
                (row.status, row.sync_state),
                (PodStatus::Ready, SyncState::Synced),
                "{row:?}"
            );
        }
        assert!(condition_is(&nh, "Healthy", "True"));

        // 300 blocks behind and keeping pace with the main node: its lag never closes.
        fleet
            .set_mode(1, json!({"mode": "lagging", "behind_seconds": 300}))
            .await;
        // 600 blocks behind and catching up at 5× the main node's pace.
        fleet
            .set_mode(2, json!({"mode": "catching_up", "rate": 5, "behind_seconds": 600}))
            .await;
        let nh = wait_for(
            &api,
            "external-nodes",
            WAIT,
            "the lag judged by whether it closes",
            |nh| {
                let row = |p: &str| pod_row(nh, p).map(|r| (r.status, r.sync_state));
                row("validator-1") == Some((PodStatus::NotReady, SyncState::OutOfSync))
                    && row("validator-2") == Some((PodStatus::Affected, SyncState::Syncing))
            },
        )
        .await;
        let lagging = pod_row(&nh, "validator-1").unwrap();
        assert!(
            lagging.block_lag.is_some_and(|l| (290..=310).contains(&l)),
            "{lagging:?}"
        );
        assert!(
            lagging.reasons[0].contains("blocks behind the main node's block, not closing the gap"),
            "{:?}",
            lagging.reasons
        );
        assert!(condition_is(&nh, "Healthy", "False"));
        assert!(
            condition_is(&nh, "Ready", "True"),
            "sick nodes do not make the policy un-Ready"
        );

        // A node that has no local block yet is booting.
        fleet.set_mode(0, json!({"mode": "booting"})).await;
        wait_for(&api, "external-nodes", WAIT, "validator-0 booting", |nh| {
            pod_row(nh, "validator-0")
                .is_some_and(|p| (p.status, p.sync_state) == (PodStatus::NotReady, SyncState::Booting))
        })
        .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn timestamps_are_read_on_the_nodes_clock() {
    with_temp_ns("chain-clock", |client, ns| async move {
        install_crd(&client).await;
        let fleet = Fleet::start(&client, &ns, 2, "radix", 1).await;
        // The operator's host clock is 10 minutes ahead; the validators' are right.
        let op = Operator::start_with_clock_offset(&ns, 600).await;
        create_nodehealth(&client, &ns, "validators", radix_spec()).await;
        let api: Api<NodeHealth> = Api::namespaced(client.clone(), &ns);
        let nh = wait_for(
            &api,
            "validators",
            WAIT,
            "2/2 healthy despite the operator's clock",
            |nh| condition_is(nh, "Healthy", "True") && nh.status.as_ref().is_some_and(|s| s.ready == "2/2"),
        )
        .await;
        let row = pod_row(&nh, "validator-0").unwrap();
        assert_eq!(row.sync_state, SyncState::Synced);
        assert!(row.ledger_delay_seconds.is_some_and(|d| d < 5.0), "{row:?}");
        assert!(
            row.reasons
                .iter()
                .any(|r| r.starts_with("node clock 600") && r.ends_with("s behind the operator's")),
            "the skew stays a reason: {:?}",
            row.reasons
        );
        drop(op);

        // Now the operator's clock is right and validator-1's is 10 minutes ahead: "A Node with a
        // seriously misconfigured clock will most likely not be a healthy Validator".
        let _op = Operator::start(&ns, &[]).await;
        fleet.set_mode(1, json!({"mode": "clock_skew", "seconds": 600})).await;
        let nh = wait_for(&api, "validators", WAIT, "validator-1 behind its own clock", |nh| {
            pod_row(nh, "validator-1").is_some_and(|p| p.sync_state == SyncState::OutOfSync)
                && pod_row(nh, "validator-0").is_some_and(|p| p.sync_state == SyncState::Synced)
        })
        .await;
        let row = pod_row(&nh, "validator-1").unwrap();
        assert_eq!(row.status, PodStatus::NotReady);
        assert!(
            row.reasons[0].starts_with("node clock 600") && row.reasons[0].ends_with("s ahead of the operator's"),
            "the clock first: {:?}",
            row.reasons
        );
        assert_ne!(
            row.network,
            Some(nodehealth::model::Network::Stalled),
            "a clock, not a halt"
        );
    })
    .await;
}

/// Solana and Ethereum (chains-b): a fleet of three, one node stalls, then recovers. `spec` is the
/// policy; `stall_wait` how long the chain's own signals need to show a frozen head; `ready_says`
/// what the Ready condition's message must end with.
async fn a_stalled_node_is_caught_and_recovers(
    profile: &'static str,
    spec: serde_json::Value,
    stall_wait: u64,
    ready_says: &'static str,
) {
    with_temp_ns(&format!("chain-{profile}"), |client, ns| async move {
        install_crd(&client).await;
        let fleet = Fleet::start(&client, &ns, 3, profile, 1).await;
        let _op = Operator::start(&ns, &[]).await;
        create_nodehealth(&client, &ns, "validators", spec).await;
        let api: Api<NodeHealth> = Api::namespaced(client.clone(), &ns);
        wait_for(&api, "validators", WAIT, "3/3 healthy", |nh| {
            condition_is(nh, "Healthy", "True") && nh.status.as_ref().is_some_and(|s| s.ready == "3/3")
        })
        .await;
        let ready = condition(&api.get("validators").await.unwrap(), "Ready").map(|c| c.message.clone());
        assert!(
            ready.as_deref().is_some_and(|m| m.ends_with(ready_says)),
            "{profile}: {ready:?}"
        );

        fleet.set_mode(1, json!({"mode": "stalled"})).await;
        let stalled = std::time::Duration::from_secs(stall_wait);
        let nh = wait_for(&api, "validators", stalled, "validator-1 caught stalled", |nh| {
            pod_row(nh, "validator-1")
                .is_some_and(|p| (p.status, p.sync_state) == (PodStatus::NotReady, SyncState::OutOfSync))
        })
        .await;
        let row = pod_row(&nh, "validator-1").unwrap();
        assert!(
            row.reasons[0].contains("its block has not moved"),
            "{profile}: {:?}",
            row.reasons
        );
        assert!(condition_is(&nh, "Healthy", "False"), "{profile}");
        assert!(
            condition_is(&nh, "Ready", "True"),
            "{profile}: a sick node does not make the policy un-Ready"
        );
        for other in ["validator-0", "validator-2"] {
            let p = pod_row(&nh, other).unwrap();
            assert_eq!(
                (p.status, p.sync_state),
                (PodStatus::Ready, SyncState::Synced),
                "{profile}: {p:?}"
            );
        }

        fleet.set_mode(1, json!({"mode": "synced"})).await;
        wait_for(&api, "validators", WAIT, "recovered", |nh| {
            condition_is(nh, "Healthy", "True")
                && pod_row(nh, "validator-1")
                    .is_some_and(|p| (p.status, p.sync_state) == (PodStatus::Ready, SyncState::Synced))
        })
        .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn solana_a_stalled_node_is_caught_and_recovers() {
    // Agave has only its RPC port. A stalled node says `ok` until it is 128 slots (51 s) behind
    // the cluster, then `behind` at a frozen slot: allow that, and the watch, to pass. A metrics
    // port set by mistake is accepted, and the policy says it is not probed.
    let spec = json!({
        "selector": {"matchLabels": {"app": "validator"}},
        "profile": "solana",
        "probe": {"health": {"port": "health"}, "metrics": {"port": 9615}, "period": "1s", "timeout": "1s"},
        "assessment": {"observedRateWindow": "10s"}
    });
    let says = "; spec.probe.metrics not probed: the solana profile does not read it";
    a_stalled_node_is_caught_and_recovers("solana", spec, 120, says).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ethereum_a_stalled_node_is_caught_and_recovers() {
    // 12 s slots: the watch spans at least one slot (a fifth of 60 s), and 2 slots behind the
    // node's clock is out of sync once the head is seen not to move.
    let spec = json!({
        "selector": {"matchLabels": {"app": "validator"}},
        "profile": "ethereum",
        "probe": {"health": {"port": "health"}, "period": "1s", "timeout": "1s"},
        "assessment": {"observedRateWindow": "60s", "maxBlockLag": 2}
    });
    a_stalled_node_is_caught_and_recovers("ethereum", spec, 120, "its pods are probed").await;
}

#[test]
fn the_solana_and_ethereum_examples_are_valid_policies() {
    for (file, profile) in [
        ("examples/solana-validators.yaml", nodehealth::chains::Profile::Solana),
        (
            "examples/ethereum-validators.yaml",
            nodehealth::chains::Profile::Ethereum,
        ),
    ] {
        let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap();
        let nh: NodeHealth = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(nh.spec.profile, profile, "{file}");
        nodehealth::policy::validate(&nh.spec).unwrap_or_else(|e| panic!("{file}: {e:?}"));
    }
}

mod cometbft_and_substrate {
    //! CometBFT and Substrate fleets on the API server (their own module: other chains append
    //! helpers of their own to this file).

    use super::*;

    /// A 3-validator fleet of `profile` under a policy probing every second with a 10 s window;
    /// `assessment` is merged into the spec's.
    async fn chain_fleet_stall_and_recovery(
        prefix: &str,
        profile: &'static str,
        assessment: serde_json::Value,
        why: &str,
    ) {
        let why = why.to_owned();
        with_temp_ns(prefix, move |client, ns| async move {
            install_crd(&client).await;
            let fleet = Fleet::start(&client, &ns, 3, profile, 1).await;
            let _op = Operator::start(&ns, &[]).await;
            let mut spec = radix_spec();
            spec["profile"] = json!(profile);
            for (k, v) in assessment.as_object().into_iter().flatten() {
                spec["assessment"][k] = v.clone();
            }
            create_nodehealth(&client, &ns, "validators", spec).await;
            let api: Api<NodeHealth> = Api::namespaced(client.clone(), &ns);
            wait_for(&api, "validators", WAIT, "3/3 healthy", |nh| {
                condition_is(nh, "Healthy", "True") && nh.status.as_ref().is_some_and(|s| s.ready == "3/3")
            })
            .await;

            // Frozen while it still calls itself synced: caught by watching its head.
            fleet.set_mode(1, json!({"mode": "stalled"})).await;
            let nh = wait_for(&api, "validators", WAIT, "validator-1 caught stalled", |nh| {
                pod_row(nh, "validator-1")
                    .is_some_and(|p| (p.status, p.sync_state) == (PodStatus::NotReady, SyncState::OutOfSync))
            })
            .await;
            let row = pod_row(&nh, "validator-1").unwrap();
            assert!(
                row.reasons.iter().any(|r| r.contains(why.as_str())),
                "{:?}",
                row.reasons
            );
            assert!(condition_is(&nh, "Healthy", "False"));
            assert!(
                condition_is(&nh, "Ready", "True"),
                "a sick node does not make the policy un-Ready"
            );
            for other in ["validator-0", "validator-2"] {
                let p = pod_row(&nh, other).unwrap();
                assert_eq!((p.status, p.sync_state), (PodStatus::Ready, SyncState::Synced), "{p:?}");
            }

            // Back in step: seen healthy again.
            fleet.set_mode(1, json!({"mode": "synced"})).await;
            wait_for(&api, "validators", WAIT, "recovered", |nh| {
                condition_is(nh, "Healthy", "True")
                    && pod_row(nh, "validator-1").is_some_and(|p| p.sync_state == SyncState::Synced)
            })
            .await;
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_stalled_cometbft_validator_is_caught_and_its_recovery_seen() {
        // The head's block time read against the clock: stale past 20 s (instead of the 60 s
        // default, so the test is short) with no progress over the window.
        chain_fleet_stall_and_recovery(
            "chain-cmt",
            "cometbft",
            json!({"syncedDelay": "20s"}),
            "behind, progressing at 0.0× real time",
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_stalled_substrate_validator_is_caught_and_its_recovery_seen() {
        // Heights only: the best block against the highest one peers announce, 3 blocks (18 s at
        // Polkadot's 6 s blocks) instead of the 60-block default, so the test is short.
        chain_fleet_stall_and_recovery(
            "chain-sub",
            "substrate",
            json!({"maxBlockLag": 3}),
            "blocks behind the highest block peers announce, its block has not moved",
        )
        .await;
    }
}

/// Lag against the fleet: a CometBFT node that calls itself caught up (`catching_up: false`)
/// while it trails the others by 20 blocks, its last block young enough for `syncedDelay`, is
/// out of sync only by the fleet's reference; a policy over it alone has no reference.
#[tokio::test(flavor = "multi_thread")]
async fn a_node_that_says_it_is_synced_behind_its_fleet_is_out_of_sync_by_the_reference() {
    with_temp_ns("chain-fleet", |client, ns| async move {
        install_crd(&client).await;
        let fleet = Fleet::start(&client, &ns, 3, "cometbft", 1).await;
        let _op = Operator::start(&ns, &[]).await;
        let mut spec = radix_spec();
        spec["profile"] = json!("cometbft");
        // Time alone would not tell: its last block stays younger than this.
        spec["assessment"]["syncedDelay"] = json!("10m");
        create_nodehealth(&client, &ns, "validators", spec.clone()).await;
        let api: Api<NodeHealth> = Api::namespaced(client.clone(), &ns);
        wait_for(&api, "validators", WAIT, "3/3 healthy", |nh| {
            condition_is(nh, "Healthy", "True") && nh.status.as_ref().is_some_and(|s| s.ready == "3/3")
        })
        .await;

        // 120 s behind the head at ~6 s blocks: 20 blocks, over the default maxHeightLag of 10.
        fleet
            .set_mode(2, json!({"mode": "lagging", "behind_seconds": 120}))
            .await;
        let nh = wait_for(&api, "validators", WAIT, "validator-2 behind the fleet", |nh| {
            pod_row(nh, "validator-2").is_some_and(|p| p.sync_state == SyncState::OutOfSync)
        })
        .await;
        let row = pod_row(&nh, "validator-2").unwrap();
        assert_eq!(row.status, PodStatus::NotReady);
        assert!(
            row.reasons[0].contains("blocks behind the fleet's highest (validator-"),
            "{:?}",
            row.reasons
        );
        assert!(condition_is(&nh, "Ready", "True"));

        // A policy over validator-2 alone: no reference, and it says so.
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let label = json!({"metadata": {"labels": {"alone": "yes"}}});
        pods.patch("validator-2", &PatchParams::default(), &Patch::Merge(&label))
            .await
            .unwrap();
        let mut alone = spec.clone();
        alone["selector"] = json!({"matchLabels": {"app": "validator", "alone": "yes"}});
        create_nodehealth(&client, &ns, "alone", alone).await;
        wait_for(&api, "alone", WAIT, "no fleet reference", |nh| {
            pod_row(nh, "validator-2").is_some_and(|p| p.reasons.iter().any(|r| r.starts_with("no fleet reference")))
        })
        .await;

        fleet.set_mode(2, json!({"mode": "synced"})).await;
        wait_for(&api, "validators", WAIT, "back with the fleet", |nh| {
            condition_is(nh, "Healthy", "True")
        })
        .await;
    })
    .await;
}
