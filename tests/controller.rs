//! The operator's main job, end to end on the real API server with simulated validators:
//! what a validator operator sees in `kubectl get nodehealth` and in events.

mod support;

use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::watcher;
use nodehealth::crd::NodeHealth;
use nodehealth::crd::PodStatus;
use nodehealth::model::Status;
use serde_json::json;
use support::cluster::with_temp_ns;
use support::fleet::{Fleet, WAIT, condition, condition_is, create_nodehealth, pod_row, radix_spec};
use support::operator::{Operator, install_crd};
use support::wait::{events, eventually, get, wait_for};

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_validator_is_caught_while_ready_stays_true_and_recovers() {
    with_temp_ns("ctl-stall", |client, ns| async move {
        install_crd(&client).await;
        let fleet = Fleet::start(&client, &ns, 3, "radix", 2).await;
        // Figures are refreshed every 5 s here (not 60), so the observed rate can be read as it falls.
        let op = Operator::start(&ns, &["--status-refresh-seconds", "5"]).await;
        create_nodehealth(&client, &ns, "validators", radix_spec()).await;
        let api: Api<NodeHealth> = Api::namespaced(client.clone(), &ns);
        let nh = wait_for(&api, "validators", WAIT, "3/3 healthy", |nh| {
            condition_is(nh, "Healthy", "True") && nh.status.as_ref().is_some_and(|s| s.ready == "3/3")
        })
        .await;
        let s = nh.status.as_ref().unwrap();
        assert_eq!(s.worst_status, Some(PodStatus::Ready));
        assert_eq!(s.health_factor, Some(1.0));
        assert!(condition_is(&nh, "Ready", "True"));
        assert_eq!(s.observed_generation, nh.metadata.generation);
        let node = pod_row(&nh, "validator-0").unwrap().node.clone();
        assert_eq!(node.as_deref(), Some(format!("{ns}-node-0").as_str()));
        let readyz = format!("http://{}/readyz", op.http);
        eventually(
            Duration::from_secs(10),
            "the operator ready once its watches synced",
            || {
                let readyz = readyz.clone();
                async move {
                    match get(&readyz).await? {
                        (200, _) => Ok(()),
                        (code, body) => Err(format!("{code} {body}")),
                    }
                }
            },
        )
        .await;

        // Syncing at 30x real time, 1 h behind: the node says 0.5, so do we.
        fleet
            .set_mode(1, json!({"mode": "catching_up", "rate": 30, "behind_seconds": 3600}))
            .await;
        wait_for(&api, "validators", WAIT, "validator-1 syncing at factor 0.5", |nh| {
            pod_row(nh, "validator-1").is_some_and(|p| {
                p.status == PodStatus::Affected && p.health_factor.is_some_and(|f| (f - 0.5).abs() < 0.05)
            })
        })
        .await;

        // Stalled: the node keeps reporting its last rate (factor 0.5); the operator observes 0.
        fleet.set_mode(1, json!({"mode": "stalled"})).await;
        let nh = wait_for(
            &api,
            "validators",
            WAIT,
            "validator-1 NotReady/OutOfSync at factor 0",
            |nh| {
                pod_row(nh, "validator-1").is_some_and(|p| {
                    p.status == PodStatus::NotReady
                        && p.sync_state == nodehealth::model::SyncState::OutOfSync
                        && p.health_factor == Some(0.0)
                        && p.observed_progress_rate == Some(0.0)
                })
            },
        )
        .await;
        let row = pod_row(&nh, "validator-1").unwrap();
        assert_eq!(
            row.reported_health_factor,
            Some(0.5),
            "the node's own factor stays at 0.5"
        );
        assert!(row.unhealthy_since.is_some());
        assert!(
            row.reasons[0].contains("behind, progressing at 0.0× real time"),
            "{:?}",
            row.reasons
        );
        assert!(
            condition_is(&nh, "Ready", "True"),
            "a sick validator must not make the policy un-Ready"
        );
        let healthy = condition(&nh, "Healthy").unwrap();
        assert_eq!(healthy.status, "False");
        assert!(
            healthy.message.contains("validator-1: NotReady (OutOfSync)"),
            "{}",
            healthy.message
        );
        assert_eq!(nh.status.as_ref().unwrap().ready, "2/3");
        assert_eq!(nh.status.as_ref().unwrap().pods[0].name, "validator-1", "worst first");
        let (_, metrics) = get(&format!("http://{}/metrics", op.http)).await.unwrap();
        let series = |name: &str, value: &str| {
            metrics
                .lines()
                .any(|l| l.starts_with(name) && l.contains("pod=\"validator-1\"") && l.ends_with(&format!(" {value}")))
        };
        assert!(series("nodehealth_pod_healthy{", "0"), "{metrics}");
        // What a dashboard shows of it: its sync state, how far behind, how many pods selected.
        assert!(
            metrics.lines().any(|l| l.starts_with("nodehealth_pod_sync_state{")
                && l.contains("pod=\"validator-1\"")
                && l.contains("state=\"OutOfSync\"")),
            "{metrics}"
        );
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with("nodehealth_pod_ledger_delay_seconds{")
                    && l.contains("pod=\"validator-1\"")
                    && l.rsplit(' ')
                        .next()
                        .and_then(|v| v.parse::<f64>().ok())
                        .is_some_and(|d| d > 60.0)),
            "{metrics}"
        );
        assert!(series("nodehealth_pod_network_stalled{", "0"), "{metrics}");
        assert!(
            metrics.contains(&format!(
                "nodehealth_selected_pods{{namespace=\"{ns}\",nodehealth=\"validators\"}} 3"
            )),
            "{metrics}"
        );
        eventually(WAIT, "a PodUnhealthy event", || {
            let (client, ns) = (client.clone(), ns.clone());
            async move {
                let evs = events(&client, &ns, "PodUnhealthy").await;
                if evs.iter().any(|e| {
                    e.note
                        .as_deref()
                        .is_some_and(|n| n.starts_with("validator-1 is NotReady"))
                }) {
                    Ok(())
                } else {
                    Err(format!("{} PodUnhealthy events", evs.len()))
                }
            }
        })
        .await;

        // Back in sync: Healthy again, with a PodRecovered event.
        fleet.set_mode(1, json!({"mode": "synced"})).await;
        wait_for(&api, "validators", WAIT, "Healthy again", |nh| {
            condition_is(nh, "Healthy", "True")
        })
        .await;
        eventually(WAIT, "a PodRecovered event", || {
            let (client, ns) = (client.clone(), ns.clone());
            async move {
                let n = events(&client, &ns, "PodRecovered").await.len();
                if n >= 1 { Ok(()) } else { Err("none yet".into()) }
            }
        })
        .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn booting_unreachable_and_slow_validators_each_get_their_verdict() {
    with_temp_ns("ctl-bad", |client, ns| async move {
        install_crd(&client).await;
        let fleet = Fleet::start(&client, &ns, 4, "radix", 1).await;
        fleet.set_mode(1, json!({"mode": "booting"})).await;
        fleet.set_mode(2, json!({"mode": "unreachable"})).await;
        fleet.set_mode(3, json!({"mode": "slow", "delay_ms": 4000})).await;
        let _op = Operator::start(&ns, &[]).await;
        create_nodehealth(&client, &ns, "validators", radix_spec()).await;
        let api: Api<NodeHealth> = Api::namespaced(client.clone(), &ns);
        use nodehealth::model::SyncState::{Booting, Synced, Unreachable};
        let nh = wait_for(&api, "validators", WAIT, "each validator's verdict", |nh| {
            let sync = |p: &str| pod_row(nh, p).map(|r| r.sync_state);
            sync("validator-0") == Some(Synced)
                && sync("validator-1") == Some(Booting)
                && sync("validator-2") == Some(Unreachable)
                && sync("validator-3") == Some(Unreachable)
        })
        .await;
        assert_eq!(nh.status.as_ref().unwrap().ready, "1/4");
        assert!(condition_is(&nh, "Ready", "True"));
        let refused = pod_row(&nh, "validator-2").unwrap();
        assert!(
            refused.reasons[0].contains("connection refused"),
            "{:?}",
            refused.reasons
        );
        let slow = pod_row(&nh, "validator-3").unwrap();
        assert!(slow.reasons[0].contains("no answer within 1.0 s"), "{:?}", slow.reasons);
        assert_eq!(slow.status, PodStatus::NotReady);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_spec_stalls_and_a_fixed_one_is_followed() {
    with_temp_ns("ctl-invalid", |client, ns| async move {
        install_crd(&client).await;
        let _fleet = Fleet::start(&client, &ns, 1, "radix", 1).await;
        let op = Operator::start(&ns, &[]).await;
        let mut spec = radix_spec();
        spec["selector"] = json!({});
        create_nodehealth(&client, &ns, "validators", spec).await;
        let api: Api<NodeHealth> = Api::namespaced(client.clone(), &ns);
        let nh = wait_for(&api, "validators", WAIT, "Stalled", |nh| {
            condition_is(nh, "Stalled", "True")
        })
        .await;
        let stalled = condition(&nh, "Stalled").unwrap();
        assert_eq!(stalled.reason, "EmptySelector");
        assert!(condition_is(&nh, "Ready", "False"));
        assert_eq!(condition(&nh, "Healthy").unwrap().reason, "EmptySelector");
        assert_eq!(nh.status.as_ref().unwrap().observed_generation, Some(1));
        let fix = json!({"spec": {"selector": {"matchLabels": {"app": "validator"}}}});
        api.patch("validators", &PatchParams::default(), &Patch::Merge(&fix))
            .await
            .unwrap();
        let nh = wait_for(&api, "validators", WAIT, "generation 2 swept", |nh| {
            nh.status
                .as_ref()
                .is_some_and(|s| s.observed_generation == Some(2) && s.ready == "1/1")
        })
        .await;
        assert!(condition_is(&nh, "Stalled", "False"));
        assert!(condition_is(&nh, "Ready", "True"));
        assert!(condition_is(&nh, "Reconciling", "False"));
        assert!(
            nh.status
                .unwrap()
                .conditions
                .iter()
                .all(|c| c.observed_generation == Some(2))
        );
        assert!(
            !events(&client, &ns, "InvalidSpec").await.is_empty(),
            "an InvalidSpec event"
        );
        // A port name no selected pod declares is a spec mistake too.
        let wrong = json!({"spec": {"probe": {"health": {"port": "admin"}}}});
        api.patch("validators", &PatchParams::default(), &Patch::Merge(&wrong))
            .await
            .unwrap();
        let nh = wait_for(&api, "validators", WAIT, "Stalled on the port name", |nh| {
            condition(nh, "Stalled").is_some_and(|c| c.status == "True" && c.reason == "UnknownPortName")
        })
        .await;
        assert!(condition(&nh, "Stalled").unwrap().message.contains("\"admin\""));
        // Not "1/1 healthy" from before the edit, and no gauges that alerts would trust.
        let healthy = condition(&nh, "Healthy").unwrap();
        assert_eq!(
            (healthy.status.as_str(), healthy.reason.as_str()),
            ("Unknown", "UnknownPortName")
        );
        assert_eq!(nh.status.as_ref().unwrap().worst_status, None, "an empty STATUS column");
        eventually(WAIT, "the pod gauges dropped", || {
            let url = format!("http://{}/metrics", op.http);
            async move {
                let (_, page) = get(&url).await?;
                if page.contains("nodehealth_pod_healthy{") {
                    Err(page)
                } else {
                    Ok(())
                }
            }
        })
        .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_selector_that_matches_nothing_says_so_where_people_look() {
    with_temp_ns("ctl-nopods", |client, ns| async move {
        install_crd(&client).await;
        let _fleet = Fleet::start(&client, &ns, 1, "radix", 1).await;
        let _op = Operator::start(&ns, &[]).await;
        let mut spec = radix_spec();
        spec["selector"] = json!({"matchLabels": {"app": "validatr"}});
        create_nodehealth(&client, &ns, "typo", spec).await;
        let api: Api<NodeHealth> = Api::namespaced(client.clone(), &ns);
        let nh = wait_for(&api, "typo", WAIT, "status written", |nh| {
            nh.status.as_ref().is_some_and(|s| s.observed_generation == Some(1))
        })
        .await;
        let status = nh.status.as_ref().unwrap();
        assert_eq!(status.ready, "0/0");
        assert_eq!(status.worst_status, None, "STATUS must not say `ready` for nothing");
        assert_eq!(condition(&nh, "Healthy").unwrap().reason, "NoPodsSelected");
        assert!(condition_is(&nh, "Ready", "True"), "the policy itself is valid");
        eventually(WAIT, "a NoPodsSelected Warning event", || {
            let (client, ns) = (client.clone(), ns.clone());
            async move {
                let evs = events(&client, &ns, "NoPodsSelected").await;
                match evs.first() {
                    Some(e) if e.type_.as_deref() == Some("Warning") => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            }
        })
        .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pods_added_and_removed_are_picked_up_without_waiting_a_period() {
    with_temp_ns("ctl-pods", |client, ns| async move {
        install_crd(&client).await;
        let fleet = Fleet::start(&client, &ns, 1, "radix", 1).await;
        let _op = Operator::start(&ns, &[]).await;
        let mut spec = radix_spec();
        // A period far longer than the test: only pod events can explain a quick update.
        spec["probe"]["period"] = json!("1h");
        create_nodehealth(&client, &ns, "validators", spec).await;
        let api: Api<NodeHealth> = Api::namespaced(client.clone(), &ns);
        let quick = Duration::from_secs(20);
        wait_for(&api, "validators", quick, "1/1", |nh| {
            nh.status.as_ref().is_some_and(|s| s.ready == "1/1")
        })
        .await;
        // A second validator pod, answered by a second simulator.
        let more =
            nodehealth::sim::SimProcess::spawn_random_range(env!("CARGO_BIN_EXE_nodehealth-sim"), 1, &[] as &[&str], 5)
                .unwrap();
        fleet
            .kubelet
            .create_pod(support::kubelet::ValidatorPod {
                name: "validator-extra".into(),
                node: format!("{ns}-node-0"),
                ip: more.ip(0).unwrap().into(),
                labels: [("app".to_owned(), "validator".to_owned())].into(),
                ports: vec![("health".into(), 3334), ("metrics".into(), 3335)],
                started_seconds_ago: 3600,
            })
            .await;
        wait_for(&api, "validators", quick, "2/2", |nh| {
            nh.status.as_ref().is_some_and(|s| s.ready == "2/2")
        })
        .await;
        fleet.kubelet.forget("validator-extra");
        fleet
            .kubelet
            .pods()
            .delete("validator-extra", &DeleteParams::default().grace_period(0))
            .await
            .unwrap();
        let nh = wait_for(&api, "validators", quick, "1/1 again", |nh| {
            nh.status.as_ref().is_some_and(|s| s.ready == "1/1")
        })
        .await;
        assert!(pod_row(&nh, "validator-extra").is_none());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn steady_state_costs_at_most_one_status_write_a_minute() {
    with_temp_ns("ctl-steady", |client, ns| async move {
        install_crd(&client).await;
        let _fleet = Fleet::start(&client, &ns, 2, "radix", 1).await;
        let _op = Operator::start(&ns, &[]).await;
        create_nodehealth(&client, &ns, "validators", radix_spec()).await;
        let api: Api<NodeHealth> = Api::namespaced(client.clone(), &ns);
        wait_for(&api, "validators", WAIT, "Healthy", |nh| {
            condition_is(nh, "Healthy", "True")
        })
        .await;
        // Count the object's versions as the API server hands them out, over 65 s of 1 s probes.
        let cfg = watcher::Config::default().fields("metadata.name=validators");
        let mut stream = watcher(api.clone(), cfg).boxed();
        let mut versions = std::collections::BTreeSet::new();
        let window = tokio::time::sleep(Duration::from_secs(65));
        tokio::pin!(window);
        loop {
            tokio::select! {
                () = &mut window => break,
                ev = stream.next() => match ev {
                    Some(Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o))) => {
                        versions.insert(o.metadata.resource_version.unwrap_or_default());
                    }
                    Some(_) => {}
                    None => break,
                },
            }
        }
        // The first version is the one current when the watch began; the rest are writes.
        let writes = versions.len().saturating_sub(1);
        assert!(
            writes <= 2,
            "{writes} status writes in 65 s of steady state with a 1 s probe period"
        );
        assert!(writes >= 1, "moving figures are still refreshed once a minute");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_operators_own_health_tells_the_truth_and_it_shuts_down_gracefully() {
    with_temp_ns("ctl-self", |client, ns| async move {
        install_crd(&client).await;
        let mut op = Operator::start(&ns, &[]).await;
        let health = format!("http://{}/health", op.http);
        // Ready (200) only once the watches have synced; the body is the component model.
        let body = eventually(WAIT, "the operator's /health to say ready", || {
            let health = health.clone();
            async move {
                match get(&health).await? {
                    (200, body) => Ok(body),
                    (code, body) => Err(format!("{code} {body}")),
                }
            }
        })
        .await;
        let report =
            nodehealth::chains::zksync::parse_health(body.as_bytes()).expect("the operator speaks the format it reads");
        assert_eq!(report.status, Status::Ready);
        for c in ["kube_api", "controller", "prober"] {
            assert_eq!(report.components.get(c), Some(&Status::Ready), "{body}");
        }
        let (code, _) = get(&format!("http://{}/livez", op.http)).await.unwrap();
        assert_eq!(code, 200);
        let (_, metrics) = get(&format!("http://{}/metrics", op.http)).await.unwrap();
        assert!(
            metrics.contains("# TYPE nodehealth_reconcile_duration_seconds histogram"),
            "{metrics}"
        );
        assert_eq!(
            op.terminate(Duration::from_secs(20)),
            Some(0),
            "SIGTERM ends the operator cleanly"
        );
    })
    .await;
}
