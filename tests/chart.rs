//! The Helm chart (`charts/nodehealth-operator`) on the real API server: it lints, renders to
//! objects the server accepts, installs, upgrades and uninstalls, grants exactly the permissions
//! the operator needs, and the real operator runs with nothing more (through impersonation of the
//! chart's ServiceAccount). `helm` and `kubectl` come from `scripts/cluster.sh env`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::api::{Api, ListParams, Patch, PatchParams};
use nodehealth::crd::NodeHealth;
use serde::Deserialize;
use serde_json::json;
use support::chart::*;
use support::cluster::with_temp_ns;
use support::fleet::{Fleet, condition_is, create_nodehealth, radix_spec};
use support::operator::{Operator, install_crd};
use support::wait::{eventually, wait_for};

/// What the chart must give every shard's Deployment: its shard's env, leases in the release
/// namespace, the default timings, rolling updates that keep a standby, probes, spread.
fn assert_shard_deployment(ns: &str, d: &serde_json::Value, shard: usize, shards: usize, replicas: u64) {
    let name = d["metadata"]["name"].as_str().unwrap();
    let spec = &d["spec"];
    assert_eq!(spec["replicas"], replicas, "{name}: replicas");
    assert_eq!(
        spec["strategy"]["type"], "RollingUpdate",
        "{name}: {:#}",
        spec["strategy"]
    );
    assert_eq!(
        spec["strategy"]["rollingUpdate"]["maxSurge"], 1,
        "{name}: {:#}",
        spec["strategy"]
    );
    assert_eq!(
        spec["strategy"]["rollingUpdate"]["maxUnavailable"], 0,
        "{name}: {:#}",
        spec["strategy"]
    );
    let labels = pod_labels(d);
    assert_eq!(labels["nodehealth.io/shard"], shard.to_string(), "{name}: {labels:#}");
    assert!(
        selects(&spec["selector"], labels),
        "{name}: its selector misses its pods"
    );

    let env = env_of(d);
    let expected = [
        ("NODEHEALTH_IDENTITY", "fieldRef:metadata.name".to_owned()),
        ("NODEHEALTH_SHARD", shard.to_string()),
        ("NODEHEALTH_TOTAL_SHARDS", shards.to_string()),
        ("NODEHEALTH_LEADER_ELECTION", "true".to_owned()),
        ("NODEHEALTH_LEASE_NAME", ns.to_owned()),
        ("NODEHEALTH_LEASE_NAMESPACE", "fieldRef:metadata.namespace".to_owned()),
        ("NODEHEALTH_LEASE_DURATION_SECONDS", "15".to_owned()),
        ("NODEHEALTH_RENEW_DEADLINE_SECONDS", "10".to_owned()),
        ("NODEHEALTH_RETRY_PERIOD_SECONDS", "2".to_owned()),
    ];
    for (var, value) in expected {
        assert_eq!(env.get(var), Some(&value), "{name}: {var} in {env:?}");
    }
    assert!(!env.contains_key("POD_NAME"), "{name}: POD_NAME is gone: {env:?}");

    let pod = &spec["template"]["spec"];
    assert!(
        pod["terminationGracePeriodSeconds"].as_u64().unwrap() >= 30,
        "{name}: {}",
        pod["terminationGracePeriodSeconds"]
    );
    let container = &pod["containers"][0];
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz", "{name}");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/livez", "{name}");

    // Replicas of one shard apart: spread over nodes, and kept apart by default anti-affinity.
    let spread = pod["topologySpreadConstraints"]
        .as_array()
        .expect("topologySpreadConstraints");
    assert!(
        spread.iter().any(|c| c["topologyKey"] == "kubernetes.io/hostname"
            && c["whenUnsatisfiable"] == "ScheduleAnyway"
            && selects(&c["labelSelector"], labels)),
        "{name}: no spread of its pods across nodes: {spread:#?}"
    );
    let anti = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
        .as_array()
        .expect("preferred podAntiAffinity");
    assert!(
        anti.iter()
            .any(|t| t["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
                && selects(&t["podAffinityTerm"]["labelSelector"], labels)),
        "{name}: no anti-affinity between its pods: {anti:#?}"
    );
}

#[test]
fn the_charts_crd_is_the_repositorys() {
    let chart = std::fs::read(Path::new(REPO).join(CHART).join("crds/nodehealth.io_nodehealths.yaml")).unwrap();
    let repo = std::fs::read(Path::new(REPO).join("crds/nodehealth.io_nodehealths.yaml")).unwrap();
    assert!(
        chart == repo,
        "charts/nodehealth-operator/crds/ is stale: cp crds/nodehealth.io_nodehealths.yaml {CHART}/crds/"
    );
}

#[test]
fn the_chart_lints_strictly_and_its_schema_refuses_wrong_types() {
    let out = sh("lint", r#"helm lint --strict "$CHART""#);
    assert!(out.status.success(), "helm lint --strict: {}", text(&out));
    for good in [
        "replicas=1",
        "replicas=3",
        "sharding.shards=4",
        "podDisruptionBudget.maxUnavailable=50%",
    ] {
        let out = sh("lint", &format!(r#"helm lint --strict "$CHART" --set {good}"#));
        assert!(out.status.success(), "helm lint refused --set {good}: {}", text(&out));
    }
    for bad in [
        "replicas=abc",
        "replicas=0",
        "sharding.shards=0",
        "sharding.replicas=2",
        "leaderElection.enabled=maybe",
        "leaderElection.leaseDurationSeconds=0",
        "leaderElection.retryPeriodSeconds=1.5",
        "leaderElection.lease=15",
        "terminationGracePeriodSeconds=soon",
        "podDisruptionBudget.maxUnavailable=0",
        "podDisruptionBudget.minAvailable=1",
        "topologySpreadConstraints[0].maxSkew=1",
        "rbac.remediation=maybe",
        "image.tag=latest",
        "httpPort=http",
    ] {
        let out = sh("lint", &format!(r#"helm lint --strict "$CHART" --set {bad}"#));
        assert!(!out.status.success(), "helm lint accepted --set {bad}: {}", text(&out));
    }
}

#[test]
fn the_dockerfile_copies_only_what_exists_and_runs_as_nonroot() {
    let dockerfile = std::fs::read_to_string(Path::new(REPO).join("Dockerfile")).unwrap();
    for line in dockerfile
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from="))
    {
        let words: Vec<&str> = line.split_whitespace().skip(1).collect();
        for src in &words[..words.len() - 1] {
            assert!(
                Path::new(REPO).join(src).exists(),
                "Dockerfile: {line}: {src} does not exist"
            );
        }
    }
    let final_stage = dockerfile.rsplit("\nFROM ").next().unwrap();
    assert!(
        final_stage.starts_with("gcr.io/distroless/cc-debian12:nonroot"),
        "{final_stage}"
    );
    assert!(final_stage.contains("USER 65532:65532"));
    assert!(final_stage.contains(r#"ENTRYPOINT ["/nodehealth"]"#));
    assert!(dockerfile.contains("--release --locked --bin nodehealth"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rendered_chart_is_accepted_by_the_api_server() {
    with_temp_ns("chart-dry", |_client, ns| async move {
        let one = vec![ns.clone()];
        let three: Vec<String> = (0..3).map(|k| format!("{ns}-shard-{k}")).collect();
        for (extra, names, pdb) in [
            ("", &one, true),
            ("--set replicas=1 --set leaderElection.enabled=false", &one, false),
            (
                "--set watchNamespace=$NS --set rbac.remediation=true --set sharding.shards=3 --set replicas=3",
                &three,
                true,
            ),
        ] {
            let out = ok(
                &ns,
                &format!(
                    r#"helm template "$NS" "$CHART" --namespace "$NS" --set fullnameOverride="$NS" \
                         --kube-version {SERVER_VERSION} {extra} \
                       | kubectl apply --dry-run=server -f -"#
                ),
            )
            .await;
            for kind in [
                "serviceaccount/",
                "clusterrole.",
                "clusterrolebinding.",
                "role.",
                "rolebinding.",
                "service/",
            ] {
                assert!(out.contains(kind), "{kind} missing from:\n{out}");
            }
            for name in names {
                assert!(
                    out.contains(&format!("deployment.apps/{name} created (server dry run)")),
                    "{extra}: {out}"
                );
                assert_eq!(
                    out.contains(&format!("poddisruptionbudget.policy/{name} created (server dry run)")),
                    pdb,
                    "{extra}: {out}"
                );
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn install_grants_least_privilege_upgrade_adds_remediation_and_uninstall_keeps_the_crd() {
    with_temp_ns("chart-rbac", |client, ns| async move {
        let _release = install(&ns, "").await;
        // What the operator needs, cluster-wide.
        await_can_i(&ns, "list pods -A", true).await;
        for args in [
            "watch pods -A",
            "get pods -A",
            "list nodehealths.nodehealth.io -A",
            "watch nodehealths.nodehealth.io -A",
            "patch nodehealths.nodehealth.io --subresource=status -A",
            "create events.events.k8s.io -A",
            "patch events.events.k8s.io -A",
            "create leases.coordination.k8s.io -n $NS",
            "update leases.coordination.k8s.io -n $NS",
        ] {
            assert!(can_i(&ns, args).await, "{} cannot {args}", service_account(&ns));
        }
        // Nothing more.
        let denied = [
            "get secrets -A",
            "get secrets -n $NS",
            "delete nodes",
            "delete pods -A",
            "create pods -A",
            "patch pods -A",
            "patch nodehealths.nodehealth.io -A",
            "delete nodehealths.nodehealth.io -A",
            "create leases.coordination.k8s.io -n default",
            "create pods --subresource=eviction -A",
            "patch nodes",
            "list nodes",
        ];
        for args in denied {
            assert!(!can_i(&ns, args).await, "{} can {args}", service_account(&ns));
        }

        ok(
            &ns,
            r#"helm upgrade "$NS" "$CHART" --namespace "$NS" --set fullnameOverride="$NS" --set rbac.remediation=true"#,
        )
        .await;
        let roles: Api<ClusterRole> = Api::all(client.clone());
        let role = roles.get(&ns).await.unwrap();
        let grants = |resource: &str, verb: &str| {
            role.rules
                .iter()
                .flatten()
                .any(|r| r.resources.iter().flatten().any(|x| x == resource) && r.verbs.iter().any(|v| v == verb))
        };
        assert!(grants("pods/eviction", "create"), "{role:?}");
        assert!(grants("nodes", "patch"), "{role:?}");
        await_can_i(&ns, "create pods --subresource=eviction -A", true).await;
        assert!(can_i(&ns, "patch nodes").await);
        // Remediation evicts and cordons; it still deletes nothing and reads no secrets.
        for args in ["delete pods -A", "delete nodes", "get secrets -A"] {
            assert!(
                !can_i(&ns, args).await,
                "with remediation, {} can {args}",
                service_account(&ns)
            );
        }

        ok(&ns, r#"helm uninstall "$NS" --namespace "$NS""#).await;
        assert!(
            roles.get_opt(&ns).await.unwrap().is_none(),
            "the ClusterRole outlived the release"
        );
        let crd = ok(&ns, "kubectl get crd nodehealths.nodehealth.io -o name").await;
        assert_eq!(
            crd.trim(),
            "customresourcedefinition.apiextensions.k8s.io/nodehealths.nodehealth.io"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn by_default_each_shard_runs_two_replicas_that_roll_one_at_a_time_spread_over_nodes_under_a_pdb() {
    with_temp_ns("chart-ha", |_client, ns| async move {
        let _release = install(&ns, "").await;
        let deployments = installed(&ns, "deployments").await;
        assert_eq!(
            deployments.keys().collect::<Vec<_>>(),
            [&ns],
            "one shard: one Deployment named as before"
        );
        let d = &deployments[&ns];
        assert_shard_deployment(&ns, d, 0, 1, 2);
        // One shard: the selector of chart 0.1 (immutable), without the shard label.
        assert_eq!(
            d["spec"]["selector"],
            json!({"matchLabels": {
                "app.kubernetes.io/instance": ns,
                "app.kubernetes.io/name": "nodehealth-operator",
            }})
        );

        let pdbs = installed(&ns, "pdb").await;
        assert_eq!(
            pdbs.keys().collect::<Vec<_>>(),
            [&ns],
            "one PodDisruptionBudget per shard"
        );
        let pdb = &pdbs[&ns]["spec"];
        assert_eq!(pdb["maxUnavailable"], 1, "{pdb:#}");
        assert!(pdb.get("minAvailable").is_none(), "{pdb:#}");
        assert!(
            selects(&pdb["selector"], pod_labels(d)),
            "the PDB misses the operator's pods: {pdb:#}"
        );

        // The Service still reaches every replica (metrics of leaders and standbys alike).
        let service = ok(&ns, r#"kubectl get service "$NS" -n "$NS" -o json"#).await;
        let service: serde_json::Value = serde_json::from_str(&service).unwrap();
        assert!(
            selects(&json!({"matchLabels": service["spec"]["selector"]}), pod_labels(d)),
            "{service:#}"
        );

        let notes = ok(&ns, r#"helm get notes "$NS" -n "$NS""#).await;
        assert!(notes.contains(&format!("kubectl -n {ns} get lease")), "{notes}");
        assert!(notes.contains(&format!("{ns}-shard-<k>")), "{notes}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_shards_are_two_deployments_and_two_pdbs_each_selecting_only_its_shard() {
    with_temp_ns("chart-shards", |_client, ns| async move {
        let _release = install(&ns, "--set sharding.shards=2").await;
        let names: Vec<String> = (0..2).map(|k| format!("{ns}-shard-{k}")).collect();
        let deployments = installed(&ns, "deployments").await;
        assert_eq!(deployments.keys().cloned().collect::<Vec<_>>(), names);
        let pdbs = installed(&ns, "pdb").await;
        assert_eq!(pdbs.keys().cloned().collect::<Vec<_>>(), names);
        for (k, name) in names.iter().enumerate() {
            let d = &deployments[name];
            assert_shard_deployment(&ns, d, k, 2, 2);
            let selector = &d["spec"]["selector"];
            assert_eq!(
                selector["matchLabels"]["nodehealth.io/shard"],
                k.to_string(),
                "{selector:#}"
            );
            let pdb = &pdbs[name]["spec"];
            assert_eq!(pdb["maxUnavailable"], 1, "{pdb:#}");
            for (j, other) in names.iter().enumerate() {
                let theirs = pod_labels(&deployments[other]);
                assert_eq!(
                    selects(selector, theirs),
                    j == k,
                    "Deployment {name} vs pods of {other}"
                );
                assert_eq!(
                    selects(&pdb["selector"], theirs),
                    j == k,
                    "PDB {name} vs pods of {other}"
                );
            }
        }

        // Back to one shard: the Deployment named after the release, the shards' ones gone.
        ok(
            &ns,
            r#"helm upgrade "$NS" "$CHART" --namespace "$NS" --set fullnameOverride="$NS" --set sharding.shards=1"#,
        )
        .await;
        let deployments = installed(&ns, "deployments").await;
        assert_eq!(deployments.keys().collect::<Vec<_>>(), [&ns]);
        assert_shard_deployment(&ns, &deployments[&ns], 0, 1, 2);
        assert_eq!(installed(&ns, "pdb").await.keys().collect::<Vec<_>>(), [&ns]);
    })
    .await;
}

#[test]
fn one_replica_has_no_pdb_and_only_without_leader_election_recreates() {
    let objects = render("chart-one", "--set replicas=1");
    assert!(
        of_kind(&objects, "PodDisruptionBudget").is_empty(),
        "a PDB with one replica"
    );
    let d = &of_kind(&objects, "Deployment")["chart-one"];
    // With leader election a rollout still starts the new pod (a standby) before stopping the old.
    assert_shard_deployment("chart-one", d, 0, 1, 1);

    let objects = render("chart-one", "--set replicas=1 --set leaderElection.enabled=false");
    assert!(of_kind(&objects, "PodDisruptionBudget").is_empty());
    let d = &of_kind(&objects, "Deployment")["chart-one"];
    assert_eq!(d["spec"]["strategy"], json!({"type": "Recreate"}));
    assert_eq!(env_of(d)["NODEHEALTH_LEADER_ELECTION"], "false");

    // Without leader election, more replicas would all write: refused.
    let out = sh(
        "chart-one",
        r#"helm template "$NS" "$CHART" --set leaderElection.enabled=false"#,
    );
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("leaderElection.enabled=false needs replicas: 1"),
        "{}",
        text(&out)
    );
    // The PDB can be turned off.
    let objects = render("chart-one", "--set podDisruptionBudget.enabled=false");
    assert!(of_kind(&objects, "PodDisruptionBudget").is_empty());
}

#[test]
fn given_affinity_and_spread_replace_the_defaults() {
    let objects = render(
        "chart-aff",
        "--set affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=pool \
         --set affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=Exists \
         --set-json topologySpreadConstraints=[]",
    );
    let pod = &of_kind(&objects, "Deployment")["chart-aff"]["spec"]["template"]["spec"];
    assert!(
        pod["affinity"].get("podAntiAffinity").is_none(),
        "{:#}",
        pod["affinity"]
    );
    assert!(pod["affinity"].get("nodeAffinity").is_some(), "{:#}", pod["affinity"]);
    assert!(pod.get("topologySpreadConstraints").is_none(), "{pod:#}");
}

#[test]
fn leader_election_timings_client_go_would_refuse_fail_the_chart_with_the_rule() {
    let rule = "must be greater than renewDeadlineSeconds";
    for (lease, renew, retry, good) in [
        (15, 10, 2, true),
        (60, 40, 10, true),
        (10, 10, 2, false),  // lease == renew
        (9, 10, 2, false),   // lease < renew
        (15, 12, 10, false), // renew == 1.2 x retry
        (15, 13, 10, true),
        (15, 2, 2, false), // renew < 1.2 x retry
    ] {
        let set = format!(
            "--set leaderElection.leaseDurationSeconds={lease} --set leaderElection.renewDeadlineSeconds={renew} \
             --set leaderElection.retryPeriodSeconds={retry}"
        );
        let out = sh("chart-timings", &format!(r#"helm template "$NS" "$CHART" {set}"#));
        let stderr = String::from_utf8_lossy(&out.stderr);
        if good {
            assert!(out.status.success(), "{set}: {}", text(&out));
            let d = serde_yaml::Deserializer::from_str(&String::from_utf8_lossy(&out.stdout))
                .map(|doc| serde_json::Value::deserialize(doc).unwrap())
                .find(|o| o["kind"] == "Deployment")
                .unwrap();
            let env = env_of(&d);
            assert_eq!(env["NODEHEALTH_LEASE_DURATION_SECONDS"], lease.to_string());
            assert_eq!(env["NODEHEALTH_RENEW_DEADLINE_SECONDS"], renew.to_string());
            assert_eq!(env["NODEHEALTH_RETRY_PERIOD_SECONDS"], retry.to_string());
        } else {
            assert!(!out.status.success(), "{set} accepted: {}", text(&out));
            assert!(
                stderr.contains(rule) && stderr.contains("1.2 x retryPeriodSeconds"),
                "{set}: {}",
                text(&out)
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn leases_are_granted_in_the_release_namespace_only_and_only_what_an_election_needs() {
    with_temp_ns("chart-lease", |client, ns| async move {
        let _release = install(&ns, "").await;
        await_can_i(&ns, "create leases.coordination.k8s.io -n $NS", true).await;
        for args in [
            "get leases.coordination.k8s.io -n $NS",
            "list leases.coordination.k8s.io -n $NS",
            "update leases.coordination.k8s.io -n $NS",
            &format!("update leases.coordination.k8s.io/{ns}-shard-0 -n $NS"),
        ] {
            assert!(can_i(&ns, args).await, "{} cannot {args}", service_account(&ns));
        }
        for args in [
            "create leases.coordination.k8s.io -n default",
            "get leases.coordination.k8s.io -n default",
            "update leases.coordination.k8s.io -n kube-system",
            "create leases.coordination.k8s.io -A",
            "list leases.coordination.k8s.io -n default",
            "watch leases.coordination.k8s.io -n $NS",
            "patch leases.coordination.k8s.io -n $NS",
            "delete leases.coordination.k8s.io -n $NS",
        ] {
            assert!(!can_i(&ns, args).await, "{} can {args}", service_account(&ns));
        }
        let roles: Api<ClusterRole> = Api::all(client.clone());
        let role = roles.get(&ns).await.unwrap();
        assert!(
            !role.rules.iter().flatten().any(|r| r
                .resources
                .iter()
                .flatten()
                .any(|x| x.starts_with("leases") || x == "*")),
            "the ClusterRole grants leases: {role:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn upgrading_from_chart_0_1_keeps_the_deployment_and_its_selector() {
    with_temp_ns("chart-upgrade", |_client, ns| async move {
        let _release = Release(ns.clone());
        ok(
            &ns,
            r#"helm install "$NS" tests/fixtures/chart-0.1.0 --namespace "$NS" --set fullnameOverride="$NS" \
                 --set podDisruptionBudget.enabled=true"#,
        )
        .await;
        let before = installed(&ns, "deployments")
            .await
            .remove(&ns)
            .expect("chart 0.1's Deployment");
        assert_eq!(before["spec"]["strategy"]["type"], "Recreate");

        ok(
            &ns,
            r#"helm upgrade "$NS" "$CHART" --namespace "$NS" --set fullnameOverride="$NS""#,
        )
        .await;
        let deployments = installed(&ns, "deployments").await;
        assert_eq!(deployments.keys().collect::<Vec<_>>(), [&ns]);
        let after = &deployments[&ns];
        assert_eq!(
            after["metadata"]["uid"], before["metadata"]["uid"],
            "the Deployment was replaced"
        );
        assert_eq!(after["spec"]["selector"], before["spec"]["selector"]);
        assert_shard_deployment(&ns, after, 0, 1, 2);
        let pdb = &installed(&ns, "pdb").await[&ns]["spec"];
        assert_eq!(pdb["maxUnavailable"], 1, "{pdb:#}");
        assert!(
            pdb.get("minAvailable").is_none(),
            "chart 0.1's minAvailable is left over: {pdb:#}"
        );
    })
    .await;
}

/// `nodehealth run` as the release's ServiceAccount, killed (and its kubeconfig removed) when dropped.
struct Impersonated {
    _operator: Operator,
    kubeconfig: PathBuf,
}

impl Impersonated {
    /// One namespace only, so it does not reconcile the NodeHealths of tests running alongside;
    /// the cluster-wide list/watch the chart grants is checked separately.
    /// Its Lease is the chart's (`<fullname>-shard-0` in the release namespace, which the chart's
    /// Role grants), the identity `<ns>-operator`.
    fn start(kubeconfig: PathBuf, ns: &str) -> Impersonated {
        let identity = format!("{ns}-operator");
        let args = [
            "--lease-namespace",
            ns,
            "--lease-name",
            ns,
            "--identity",
            identity.as_str(),
        ];
        Impersonated {
            _operator: Operator::start_as(&kubeconfig, ns, &args),
            kubeconfig,
        }
    }
}

impl Drop for Impersonated {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.kubeconfig);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_operator_runs_with_only_the_charts_permissions_and_leaves_a_gitops_spec_alone() {
    with_temp_ns("chart-op", |client, ns| async move {
        install_crd(&client).await;
        let _release = install(&ns, "--set rbac.remediation=true").await;
        await_can_i(&ns, "watch nodehealths.nodehealth.io -A", true).await;
        let kc = impersonating_kubeconfig(&ns).await;
        // The identity really is the ServiceAccount: cluster-wide reads work, secrets do not.
        let kc_arg = kc.display().to_string();
        ok(
            &ns,
            &format!("kubectl --kubeconfig '{kc_arg}' get pods,nodehealths -A -o name >/dev/null"),
        )
        .await;
        let out = run(&ns, &format!("kubectl --kubeconfig '{kc_arg}' get secrets -n \"$NS\"")).await;
        assert!(
            !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("forbidden"),
            "the impersonated identity may read secrets: {}",
            text(&out)
        );

        let fleet = Fleet::start(&client, &ns, 2, "radix", 1).await;
        let _op = Impersonated::start(kc, &ns);
        create_nodehealth(&client, &ns, "fleet", radix_spec()).await;
        let api: Api<NodeHealth> = Api::namespaced(client.clone(), &ns);
        let nh = wait_for(&api, "fleet", WAIT, "2/2 healthy, status written", |nh| {
            condition_is(nh, "Healthy", "True")
                && nh
                    .status
                    .as_ref()
                    .is_some_and(|s| s.ready == "2/2" && s.observed_generation == nh.metadata.generation)
        })
        .await;
        assert!(condition_is(&nh, "Ready", "True"));
        // It leads through the Lease the chart's Role lets it hold, where `kubectl get lease` shows it.
        let leases = ok(
            &ns,
            r#"kubectl get lease "$NS-shard-0" -n "$NS" -o jsonpath='{.spec.holderIdentity}'"#,
        )
        .await;
        assert_eq!(leases.trim(), format!("{ns}-operator"));

        // GitOps: Argo CD applies the example (selecting the fleet) with its own field manager.
        let example = std::fs::read_to_string(Path::new(REPO).join("examples/radix-validators.yaml"))
            .unwrap()
            .replace("app.kubernetes.io/name: babylon-node", "app: validator")
            .replace("port: system-api", "port: health")
            .replace("port: prometheus", "port: metrics");
        let file = std::env::temp_dir().join(format!("nodehealth-{ns}-example.yaml"));
        std::fs::write(&file, example).unwrap();
        let apply = format!(
            "kubectl apply --server-side --field-manager=argocd -n \"$NS\" -f '{}'",
            file.display()
        );
        ok(&ns, &apply).await;
        let applied = api.get("validators").await.unwrap();
        let nh = wait_for(
            &api,
            "validators",
            WAIT,
            "status written for the applied generation",
            |nh| {
                condition_is(nh, "Ready", "True")
                    && nh
                        .status
                        .as_ref()
                        .is_some_and(|s| s.ready == "2/2" && s.observed_generation == nh.metadata.generation)
            },
        )
        .await;
        // Argo CD syncs again: same manager, same file, no conflict, nothing changes.
        let out = ok(&ns, &apply).await;
        let _ = std::fs::remove_file(&file);
        assert!(out.contains("serverside-applied"), "{out}");
        let after = api.get("validators").await.unwrap();
        assert_eq!(
            serde_json::to_value(&after.spec).unwrap(),
            serde_json::to_value(&applied.spec).unwrap()
        );
        assert_eq!(after.metadata.generation, applied.metadata.generation);
        assert_eq!(after.metadata.generation, nh.metadata.generation);
        let fields = after.metadata.managed_fields.clone().unwrap_or_default();
        let ours: Vec<_> = fields
            .iter()
            .filter(|f| f.manager.as_deref() == Some("nodehealth"))
            .collect();
        assert!(!ours.is_empty(), "no managedFields entry of the operator: {fields:?}");
        for f in &ours {
            let touched = serde_json::to_string(&f.fields_v1).unwrap();
            assert!(!touched.contains("f:spec"), "the operator owns spec fields: {touched}");
        }
        assert!(
            fields.iter().any(|f| f.manager.as_deref() == Some("argocd")
                && serde_json::to_string(&f.fields_v1).unwrap().contains("f:spec")),
            "argocd owns the spec: {fields:?}"
        );

        // Events (events.k8s.io) are published with the chart's permissions too.
        fleet.set_mode(1, json!({"mode": "unreachable"})).await;
        let events: Api<Event> = Api::namespaced(client.clone(), &ns);
        eventually(WAIT, "a PodUnhealthy event published by the operator", || {
            let events = events.clone();
            async move {
                let list = events.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
                let found = list.items.iter().any(|e| {
                    e.reason.as_deref() == Some("PodUnhealthy")
                        && e.reporting_controller.as_deref() == Some("nodehealth")
                });
                if found {
                    Ok(())
                } else {
                    Err(format!("{} events, none PodUnhealthy", list.items.len()))
                }
            }
        })
        .await;

        // Remediation with exactly the chart's permissions (rbac.remediation=true): the
        // unreachable validator's node is cordoned, the pod restarted through the Eviction API,
        // and the node released once the validator is back.
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let uid = pods.get("validator-1").await.unwrap().metadata.uid.unwrap();
        let remediation = json!({"spec": {"remediation": {
            "actions": [{"action": "CordonAndRestart", "after": "1s"}],
            "minIntervalSeconds": 0, "healthyFor": "2s",
        }}});
        api.patch("fleet", &PatchParams::default(), &Patch::Merge(&remediation))
            .await
            .unwrap();
        let nodes: Api<Node> = Api::all(client.clone());
        let node = format!("{ns}-node-0");
        let unschedulable = |n: &Node| n.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false);
        wait_for(&nodes, &node, WAIT, "node cordoned by the operator", unschedulable).await;
        wait_for(&pods, "validator-1", WAIT, "validator-1 restarted", |p| {
            p.metadata.uid.as_deref().is_some_and(|u| u != uid)
        })
        .await;
        wait_for(&nodes, &node, WAIT, "node uncordoned", |n| !unschedulable(n)).await;
        let nh = api.get("fleet").await.unwrap();
        let last = nh
            .status
            .and_then(|s| s.remediation)
            .and_then(|r| r.last_remediation)
            .unwrap();
        assert_eq!(last.result, "Succeeded", "{last:?}");
    })
    .await;
}

#[test]
fn the_service_monitor_keeps_the_validators_labels() {
    let objects = render("sm", "--set metrics.serviceMonitor.enabled=true");
    let monitors = of_kind(&objects, "ServiceMonitor");
    let endpoint = &monitors["sm"]["spec"]["endpoints"][0];
    // Per-pod series name the validator in `namespace` and `pod`: kept, not `exported_pod`.
    assert_eq!(endpoint["honorLabels"], true, "{endpoint:#}");
    assert_eq!(endpoint["scrapeTimeout"], "10s");
    assert!(endpoint.get("relabelings").is_none());
    let objects = render(
        "sm",
        "--set metrics.serviceMonitor.enabled=true --set metrics.serviceMonitor.honorLabels=false \
         --set metrics.serviceMonitor.relabelings[0].targetLabel=cluster \
         --set metrics.serviceMonitor.relabelings[0].replacement=c1",
    );
    let endpoint = &of_kind(&objects, "ServiceMonitor")["sm"]["spec"]["endpoints"][0];
    assert_eq!(endpoint["honorLabels"], false);
    assert_eq!(endpoint["relabelings"][0]["targetLabel"], "cluster");
    assert!(
        of_kind(&render("sm", ""), "ServiceMonitor").is_empty(),
        "off by default"
    );
}

#[test]
fn the_image_can_be_pinned_by_digest_and_logs_can_be_json() {
    let digest = format!("sha256:{}", "a".repeat(64));
    let objects = render("img", &format!("--set image.digest={digest} --set logFormat=json"));
    let deployment = &of_kind(&objects, "Deployment")["img"];
    let image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap();
    assert!(image.ends_with(&format!(":0.1.0@{digest}")), "{image}");
    assert_eq!(env_of(deployment)["NODEHEALTH_LOG_FORMAT"], "json");
    assert_eq!(
        env_of(&of_kind(&render("img", ""), "Deployment")["img"])["NODEHEALTH_LOG_FORMAT"],
        "text"
    );
    for bad in ["image.digest=latest", "logFormat=xml"] {
        let out = sh("img", &format!(r#"helm lint --strict "$CHART" --set {bad}"#));
        assert!(!out.status.success(), "helm lint accepted --set {bad}: {}", text(&out));
    }
}
