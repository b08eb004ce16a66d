//! The operator SIGKILLed at random points of a 20-step remediation scenario, and started
//! again each time: afterwards the API server's audit log shows every decided action carried
//! out at most once (each eviction matches one restart on record, each cordon one release),
//! the restart budget never exceeded, and every cordon released.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::Api;
use nodehealth::crd::NodeHealth;
use serde_json::json;
use support::cluster::{kubeconfig, with_temp_ns};
use support::fleet::{Fleet, WAIT, condition_is, create_nodehealth};
use support::operator::{Operator, install_crd};
use support::private::{carried, shared_audit_log};
use support::scene::{out_of_sync, remediation, spec_with};
use support::wait::{eventually, wait_for};

/// Validators, each alone on its node.
const VALIDATORS: usize = 4;
const STEPS: usize = 20;
const MAX_RESTARTS: usize = 2;

/// xorshift64*: a seeded, reproducible sequence (`NODEHEALTH_TEST_SEED` replays a run).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_killed_at_random_points_of_a_remediation_scenario_never_repeats_or_exceeds_an_action() {
    let seed = std::env::var("NODEHEALTH_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_u64);
    eprintln!("seed {seed} (NODEHEALTH_TEST_SEED={seed} replays this run)");
    with_temp_ns("crashes", move |client, ns| async move {
        install_crd(&client).await;
        let fleet = Fleet::start(&client, &ns, VALIDATORS, "radix", VALIDATORS).await;
        let kc = kubeconfig().await;
        let mut op = Operator::start_as(&kc, &ns, &[]);
        let api: Api<NodeHealth> = Api::namespaced(client.clone(), &ns);
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let spec = spec_with(json!({
            "actions": [{"action": "Cordon", "after": "1s"}, {"action": "RestartPod", "after": "2s"}],
            "startupGrace": "0s", "minInterval": "1s", "healthyFor": "2s",
            "maxRestartsPerPod": MAX_RESTARTS, "restartWindow": "24h",
        }));
        create_nodehealth(&client, &ns, "validators", spec).await;
        wait_for(&api, "validators", WAIT, "healthy", |nh| {
            condition_is(nh, "Healthy", "True")
        })
        .await;

        let mut rng = Rng(seed | 1);
        let mut kills = 0;
        for step in 0..STEPS {
            let i = rng.below(VALIDATORS as u64) as usize;
            let name = format!("validator-{i}");
            let uid = pods.get(&name).await.unwrap().uid().unwrap();
            fleet.set_mode(i, out_of_sync()).await;
            // Killed somewhere between the first sign and the restart being carried out.
            tokio::time::sleep(Duration::from_millis(rng.below(4_000))).await;
            op.kill();
            kills += 1;
            op = Operator::start_as(&kc, &ns, &[]);
            // Restarted, or its budget spent (then a person fixes the validator).
            let outcome = eventually(WAIT, &format!("step {step}: {name} restarted or out of budget"), || {
                let (pods, api, name, uid) = (pods.clone(), api.clone(), name.clone(), uid.clone());
                async move {
                    let now = pods.get_opt(&name).await.map_err(|e| e.to_string())?;
                    if now.as_ref().and_then(|p| p.uid()).is_some_and(|u| u != uid) {
                        return Ok("restarted");
                    }
                    let nh = api.get("validators").await.map_err(|e| e.to_string())?;
                    let spent = remediation(&nh)
                        .pods
                        .iter()
                        .any(|r| r.name == name && r.blocked.as_deref() == Some("RestartBudgetExhausted"));
                    if spent {
                        Ok("out of budget")
                    } else {
                        Err("waiting".to_owned())
                    }
                }
            })
            .await;
            fleet.set_mode(i, json!({"mode": "synced"})).await;
            wait_for(
                &api,
                "validators",
                WAIT,
                &format!("step {step}: all healthy, no cordon left"),
                |nh| condition_is(nh, "Healthy", "True") && remediation(nh).cordoned_nodes.is_empty(),
            )
            .await;
            eprintln!("step {step}: {name} {outcome}");
        }

        let nh = api.get("validators").await.unwrap();
        let done = carried(&shared_audit_log().await, &ns);
        let mut per_pod: BTreeMap<&str, usize> = BTreeMap::new();
        for pod in &done.evictions {
            *per_pod.entry(pod.as_str()).or_default() += 1;
        }
        for (pod, n) in &per_pod {
            assert!(*n <= MAX_RESTARTS, "{pod} restarted {n} times, budget {MAX_RESTARTS}");
            let recorded = remediation(&nh)
                .pods
                .iter()
                .find(|r| r.name == *pod)
                .map_or(0, |r| r.restarts.len());
            // An instance evicted twice, or an eviction lost from the records, breaks this.
            assert_eq!(recorded, *n, "{pod}: status records exactly what the server did");
        }
        for node in (0..VALIDATORS).map(|n| format!("{ns}-node-{n}")) {
            let writes: Vec<bool> = done
                .node_writes
                .iter()
                .filter(|(n, _)| *n == node)
                .map(|(_, c)| *c)
                .collect();
            assert!(
                writes.chunks(2).all(|w| w == [true, false]),
                "{node}: each cordon once, then released: {writes:?}"
            );
        }
        eprintln!(
            "{STEPS} steps, {kills} SIGKILLs: {} evictions {per_pod:?}, {} cordons, {} uncordons, {} actions in status",
            done.evictions.len(),
            done.cordons.len(),
            done.uncordons.len(),
            remediation(&nh).actions_taken
        );
    })
    .await;
}
