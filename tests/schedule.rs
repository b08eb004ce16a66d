//! Probing keeps its own clock, end to end: with a few hundred validators, neither the
//! operator's own status writes nor other pods' changes add a probe, and every probe is made
//! within its period.

mod support;

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams, PostParams};
use nodehealth::crd::NodeHealth;
use serde_json::json;
use support::cluster::with_temp_ns;
use support::fleet::{Fleet, condition_is, create_nodehealth};
use support::operator::{Operator, install_crd};
use support::wait::{get, metric, sum_of, wait_for};

const PODS: usize = 200;
/// A short period, so that a ten-second window holds five of them.
const PERIOD: f64 = 2.0;

/// The sum of a metric's samples whose line starts with `prefix` (name and labels).
async fn total(op: &Operator, prefix: &str) -> f64 {
    metric(&op.http, prefix).await.expect("the operator's metrics")
}

#[tokio::test(flavor = "multi_thread")]
async fn status_writes_and_other_pods_changes_add_no_probe_and_every_probe_keeps_its_period() {
    with_temp_ns("sched", |client, ns| async move {
        install_crd(&client).await;
        let fleet = Fleet::start(&client, &ns, PODS, "radix", 4).await;
        // Figures refreshed every 2 s: the operator writes its status (and gets it back as a
        // watch event) all the time.
        let op = Operator::start(&ns, &["--status-refresh-seconds", "2"]).await;
        create_nodehealth(
            &client,
            &ns,
            "validators",
            json!({
                "selector": {"matchLabels": {"app": "validator"}},
                "profile": "radix",
                "probe": {"health": {"port": "health"}, "metrics": {"port": "metrics"},
                          "period": format!("{PERIOD}s"), "timeout": "1s"},
            }),
        )
        .await;
        let api: Api<NodeHealth> = Api::namespaced(client.clone(), &ns);
        wait_for(&api, "validators", Duration::from_secs(90), "every pod healthy", |nh| {
            condition_is(nh, "Healthy", "True") && nh.status.as_ref().is_some_and(|s| s.ready == format!("{PODS}/{PODS}"))
        })
        .await;
        // A pod no policy selects, whose status keeps changing.
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let other: Pod = serde_json::from_value(json!({
            "metadata": {"name": "other", "labels": {"app": "other"}},
            "spec": {"automountServiceAccountToken": false, "containers": [{"name": "c", "image": "x"}]},
        }))
        .unwrap();
        pods.create(&PostParams::default(), &other).await.unwrap();

        let probes = "nodehealth_probes_total{endpoint=\"health\"";
        let writes = "nodehealth_status_writes_total{result=\"ok\"}";
        let (probes0, writes0, started) = (total(&op, probes).await, total(&op, writes).await, Instant::now());
        for i in 0..40 {
            // Another pod's status, and a selected pod's status field that matters to nobody.
            let patch = json!({"status": {"conditions": [{"type": "Ready", "status": "True", "reason": format!("r{i}")}]}});
            pods.patch_status("other", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
            let selected = format!("validator-{}", i % PODS);
            let patch = json!({"status": {"conditions": [{"type": "PodScheduled", "status": "True", "reason": format!("r{i}")}]}});
            pods.patch_status(&selected, &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let elapsed = started.elapsed().as_secs_f64();
        let (probes1, writes1) = (total(&op, probes).await, total(&op, writes).await);
        let made = probes1 - probes0;
        let expected = PODS as f64 * elapsed / PERIOD;
        assert!(writes1 - writes0 >= 3.0, "the operator wrote its status meanwhile ({} writes)", writes1 - writes0);
        assert!(
            (made - expected).abs() <= PODS as f64,
            "{made} health probes in {elapsed:.1} s; once a period is {expected:.0} (± one per pod)"
        );
        // Spacing: every probe ended within its period of its time (so no pod waits twice the
        // period between two probes), and nearly all within a second of it. One page, so the
        // figures are of one instant.
        let (_, page) = get(&format!("http://{}/metrics", op.http)).await.unwrap();
        let sample = |prefix: &str| sum_of(&page, prefix);
        let ended = sample("nodehealth_probe_lateness_seconds_count");
        let within_period = sample("nodehealth_probe_lateness_seconds_bucket{le=\"2.5\"}");
        let within_second = sample("nodehealth_probe_lateness_seconds_bucket{le=\"1.0\"}");
        assert!(ended >= made, "{ended} lateness samples");
        assert_eq!(within_period, ended, "probes later than the period");
        assert!(within_second >= 0.99 * ended, "{within_second} of {ended} probes within 1 s of their time");
        drop(fleet);
    })
    .await;
}
