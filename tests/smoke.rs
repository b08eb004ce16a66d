//! The ground every other test stands on: a real API server that serves custom resources
//! (watch, server-side apply, status subresource), and a simulated validator fleet behind
//! pods that a simulated kubelet runs, evicts and recreates.

mod support;

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, EvictParams, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use serde_json::json;
use support::cluster::with_temp_ns;
use support::kubelet::{Kubelet, ValidatorPod};
use support::wait::{eventually, wait_for};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread")]
async fn custom_resource_is_served_watched_and_its_status_patched() {
    with_temp_ns("smoke-crd", |client, ns| async move {
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        let crd = json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "smokes.smoke.nodehealth.io"},
            "spec": {
                "group": "smoke.nodehealth.io", "scope": "Namespaced",
                "names": {"plural": "smokes", "singular": "smoke", "kind": "Smoke"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "subresources": {"status": {}},
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                        "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
                        "status": {"type": "object", "properties": {"phase": {"type": "string"}}}}}}}]
            }
        });
        // Server-side apply: idempotent when parallel test processes apply it too.
        crds.patch(
            "smokes.smoke.nodehealth.io",
            &PatchParams::apply("nodehealth-test").force(),
            &Patch::Apply(&crd),
        )
        .await
        .expect("apply CRD");
        wait_for(&crds, "smokes.smoke.nodehealth.io", WAIT, "CRD Established", |c| {
            c.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Established" && c.status == "True"))
        })
        .await;

        let gvk = GroupVersionKind::gvk("smoke.nodehealth.io", "v1", "Smoke");
        let ar = ApiResource::from_gvk_with_plural(&gvk, "smokes");
        let smokes: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &ar);
        let mut obj = DynamicObject::new("first", &ar);
        obj.data = json!({"spec": {"size": 3}});
        // The watch starts before the object exists, so it must see the creation and the status.
        let mut events = watcher(smokes.clone(), watcher::Config::default()).boxed();
        smokes
            .create(&PostParams::default(), &obj)
            .await
            .expect("create custom resource");
        let status = json!({"apiVersion": "smoke.nodehealth.io/v1", "kind": "Smoke", "status": {"phase": "Probed"}});
        smokes
            .patch_status("first", &PatchParams::apply("nodehealth-test"), &Patch::Apply(&status))
            .await
            .expect("server-side apply of status");
        let seen = tokio::time::timeout(WAIT, async {
            while let Some(ev) = events.next().await {
                if let Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) = ev
                    && o.data["status"]["phase"] == "Probed"
                {
                    return Some(o);
                }
            }
            None
        })
        .await
        .expect("the watch saw the status within 30 s")
        .expect("watch stream ended");
        assert_eq!(seen.data["spec"]["size"], 3, "spec untouched by the status write");
        let managers: Vec<_> = seen
            .metadata
            .managed_fields
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| m.manager)
            .collect();
        assert!(
            managers.iter().any(|m| m == "nodehealth-test"),
            "status written by our field manager: {managers:?}"
        );
    })
    .await;
}

async fn get_bytes(http: &reqwest::Client, url: String) -> Result<bytes::Bytes, String> {
    let resp = http.get(url).send().await.map_err(|e| e.to_string())?;
    resp.bytes().await.map_err(|e| e.to_string())
}

/// Reads a validator's Radix endpoints over HTTP: (health status word, ledger proposer timestamp).
async fn read_validator(http: &reqwest::Client, ip: &str) -> Result<(String, f64), String> {
    let body = get_bytes(http, format!("http://{ip}:3334/system/health")).await?;
    let health: serde_json::Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    let page = get_bytes(http, format!("http://{ip}:3335/prometheus/metrics")).await?;
    let m = nodehealth::chains::radix::RadixMetrics::from_exposition(&page).map_err(|e| e.to_string())?;
    let ts = m.last_update_proposer_epoch_second.ok_or("no ledger timestamp")?;
    Ok((health["status"].as_str().unwrap_or_default().to_owned(), ts))
}

#[tokio::test(flavor = "multi_thread")]
async fn validator_pods_answer_stall_and_come_back_after_eviction() {
    with_temp_ns("smoke-fleet", |client, ns| async move {
        let sim =
            nodehealth::sim::SimProcess::spawn_random_range(env!("CARGO_BIN_EXE_nodehealth-sim"), 3, &[] as &[&str], 5)
                .expect("simulator starts");
        let kubelet = Kubelet::start(client.clone(), &ns, Some(sim.client().unwrap()));
        for node in ["a", "b"] {
            kubelet.create_node(&format!("{ns}-{node}")).await;
        }
        for i in 0..3 {
            kubelet
                .create_pod(ValidatorPod {
                    name: format!("validator-{i}"),
                    node: format!("{ns}-{}", if i < 2 { "a" } else { "b" }),
                    ip: sim.ip(i).unwrap().into(),
                    labels: [("app".to_owned(), "validator".to_owned())].into(),
                    ports: vec![("health".into(), 3334), ("metrics".into(), 3335)],
                    started_seconds_ago: 3600,
                })
                .await;
        }
        let pods = kubelet.pods();
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        for i in 0..3 {
            let pod = wait_for(&pods, &format!("validator-{i}"), WAIT, "Running with an IP", |p| {
                p.status
                    .as_ref()
                    .is_some_and(|s| s.phase.as_deref() == Some("Running") && s.pod_ip.is_some())
            })
            .await;
            let ip = pod.status.unwrap().pod_ip.unwrap();
            assert_eq!(ip, sim.ip(i).unwrap().to_string());
            let (word, _) = read_validator(&http, &ip)
                .await
                .expect("validator answers at its pod IP");
            assert_eq!(word, "UP");
        }

        // Stalled: the process answers, its ledger stops.
        let stalled = sim.ip(1).unwrap();
        sim.client()
            .unwrap()
            .set_mode(Some(stalled), serde_json::json!({"mode": "stalled"}))
            .await
            .unwrap();
        let (_, frozen) = read_validator(&http, &stalled.to_string()).await.unwrap();
        let started = std::time::Instant::now();
        eventually(WAIT, "the stalled ledger to stay put while time passes", || {
            let http = http.clone();
            async move {
                let (_, ts) = read_validator(&http, &stalled.to_string()).await?;
                if ts != frozen {
                    return Err(format!("ledger moved from {frozen} to {ts}"));
                }
                // Two seconds is ample for a synced ledger to move (it advances with real time).
                if started.elapsed() < Duration::from_secs(2) {
                    Err("not long enough yet".into())
                } else {
                    Ok(())
                }
            }
        })
        .await;
        let (_, moving_before) = read_validator(&http, &sim.ip(0).unwrap().to_string()).await.unwrap();
        eventually(WAIT, "a synced neighbour's ledger to advance", || {
            let http = http.clone();
            let ip = sim.ip(0).unwrap().to_string();
            async move {
                let (_, ts) = read_validator(&http, &ip).await?;
                if ts > moving_before {
                    Ok(())
                } else {
                    Err(format!("still at {ts}"))
                }
            }
        })
        .await;

        // Evicted: Terminating until the kubelet finishes it, then recreated with a new UID.
        let old_uid = pods.get("validator-2").await.unwrap().metadata.uid.unwrap();
        pods.evict("validator-2", &EvictParams::default())
            .await
            .expect("eviction accepted");
        let back = wait_for(&pods, "validator-2", WAIT, "recreated and Running", |p| {
            p.metadata.uid.as_deref() != Some(old_uid.as_str())
                && p.status.as_ref().is_some_and(|s| s.phase.as_deref() == Some("Running"))
        })
        .await;
        assert!(back.metadata.deletion_timestamp.is_none());
        let (word, _) = read_validator(&http, &sim.ip(2).unwrap().to_string()).await.unwrap();
        assert_eq!(word, "UP", "the recreated validator answers as a fresh process");
    })
    .await;
}
