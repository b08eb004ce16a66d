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
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, Patch, PatchParams};
use nodehealth::crd::{ActionResult, NodeHealth};
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

/// The chart's copy of the CRD, which templates/crd.yaml renders.
const CHART_CRD: &str = "files/nodehealth.io_nodehealths.yaml";

#[test]
fn the_charts_crd_is_the_repositorys() {
    let chart = std::fs::read(Path::new(REPO).join(CHART).join(CHART_CRD)).unwrap();
    let repo = std::fs::read(Path::new(REPO).join("crds/nodehealth.io_nodehealths.yaml")).unwrap();
    assert!(
        chart == repo,
        "{CHART}/{CHART_CRD} is stale: cp crds/nodehealth.io_nodehealths.yaml {CHART}/{CHART_CRD}"
    );
    // Rendered, it is that CRD: only labels and the keep annotation are added to its metadata.
    let repo: serde_json::Value = serde_yaml::from_slice(&repo).unwrap();
    let rendered = render("crd", "");
    let crds = of_kind(&rendered, "CustomResourceDefinition");
    let crd = &crds["nodehealths.nodehealth.io"];
    let mut without_metadata = crd.clone();
    without_metadata["metadata"] = repo["metadata"].clone();
    // Helm reads it as data, so `1.0` comes out as `1`: the same number to the API server.
    if let Some(difference) = first_difference(&without_metadata, &repo, "") {
        panic!("the rendered CRD differs from crds/ at {difference}");
    }
    assert_eq!(
        crd["metadata"]["annotations"],
        json!({"helm.sh/resource-policy": "keep"})
    );
    assert_eq!(crd["metadata"]["labels"]["app.kubernetes.io/component"], "crd");
    assert_eq!(crd["metadata"]["labels"]["app.kubernetes.io/managed-by"], "Helm");
}

/// Where two JSON documents differ (numbers compared by value: `1` is `1.0`), if they do.
fn first_difference(a: &serde_json::Value, b: &serde_json::Value, path: &str) -> Option<String> {
    use serde_json::Value::{Array, Number, Object};
    match (a, b) {
        (Number(x), Number(y)) => (x.as_f64() != y.as_f64()).then(|| format!("{path}: {x} vs {y}")),
        (Object(x), Object(y)) => x
            .keys()
            .chain(y.keys())
            .find_map(|k| first_difference(&a[k], &b[k], &format!("{path}/{k}"))),
        (Array(x), Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (u, v))| first_difference(u, v, &format!("{path}/{i}"))),
        _ => (a != b).then(|| {
            let short = |v: &serde_json::Value| v.to_string().chars().take(80).collect::<String>();
            format!("{path}: {} vs {}", short(a), short(b))
        }),
    }
}

#[test]
fn the_crd_is_rendered_with_crds_install_and_kept_with_crds_keep() {
    let crd = |extra: &str| of_kind(&render("crd", extra), "CustomResourceDefinition");
    assert_eq!(
        crd("").keys().collect::<Vec<_>>(),
        ["nodehealths.nodehealth.io"],
        "installed by default"
    );
    assert!(crd("--set crds.install=false").is_empty());
    let unkept = &crd("--set crds.keep=false")["nodehealths.nodehealth.io"];
    assert!(
        unkept["metadata"].get("annotations").is_none(),
        "{:#}",
        unkept["metadata"]
    );
    // Labels of every object reach it too.
    let labelled = &crd("--set commonLabels.team=validators")["nodehealths.nodehealth.io"];
    assert_eq!(labelled["metadata"]["labels"]["team"], "validators");
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
        // A parent chart's globals reach every subchart.
        "global.foo=bar",
        "global.imageRegistry=registry.example,global.labels.team=validators",
        "crds.install=false",
        "crds.keep=false",
        "commonLabels.team=validators",
        "deploymentAnnotations.example\\.com/owner=validators",
        "deploymentLabels.tier=ops",
        "tests.enabled=false",
        "tests.image.repository=registry.example/busybox,tests.image.tag=1.37.0",
    ] {
        let out = sh("lint", &format!(r#"helm lint --strict "$CHART" --set '{good}'"#));
        assert!(out.status.success(), "helm lint refused --set {good}: {}", text(&out));
        let out = sh("lint", &format!(r#"helm template lint "$CHART" --set '{good}'"#));
        assert!(
            out.status.success(),
            "helm template refused --set {good}: {}",
            text(&out)
        );
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
        "global=1",
        "crds.install=maybe",
        "crds.keep=1",
        "crds.upgrade=true",
        "commonLabels.app\\.kubernetes\\.io/name=other",
        "commonLabels.team=1",
        "deploymentAnnotations.replicas=2",
        "deploymentLabels=x",
        "tests.image.tag=latest",
        "tests.image.repository=",
        "tests.timeoutSeconds=0",
    ] {
        let out = sh("lint", &format!(r#"helm lint --strict "$CHART" --set '{bad}'"#));
        assert!(!out.status.success(), "helm lint accepted --set {bad}: {}", text(&out));
    }
}

#[test]
fn the_chart_installs_as_a_subchart_of_a_chart_with_globals() {
    // An umbrella chart with globals, as a platform team would wrap the operator.
    let dir = std::env::temp_dir().join(format!("nodehealth-umbrella-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("charts")).unwrap();
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(
        dir.join("templates/NOTES.txt"),
        "The platform, with nodehealth-operator.\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("Chart.yaml"),
        "apiVersion: v2\nname: platform\nversion: 1.0.0\ndependencies:\n  - name: nodehealth-operator\n    version: \"*\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("values.yaml"),
        "global:\n  imageRegistry: registry.example\n  labels:\n    team: validators\nnodehealth-operator:\n  replicas: 3\n",
    )
    .unwrap();
    let out = Command::new("cp")
        .arg("-r")
        .arg(Path::new(REPO).join(CHART))
        .arg(dir.join("charts/"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let umbrella = dir.display().to_string();
    let lint = sh(
        "umbrella",
        &format!("helm lint --strict '{umbrella}' --set global.foo=bar"),
    );
    let template = sh(
        "umbrella",
        &format!("helm template platform '{umbrella}' --set global.foo=bar"),
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(lint.status.success(), "{}", text(&lint));
    assert!(template.status.success(), "{}", text(&template));
    let deployment = serde_yaml::Deserializer::from_str(&String::from_utf8_lossy(&template.stdout))
        .map(|doc| serde_json::Value::deserialize(doc).unwrap())
        .find(|o| o["kind"] == "Deployment")
        .expect("the subchart's Deployment");
    assert_eq!(
        deployment["spec"]["replicas"], 3,
        "the parent's values reach the subchart"
    );
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
        // Values; the Deployments; a PDB; a ClusterRole; the CRD.
        for (extra, names, pdb, cluster_role, crd) in [
            ("", &one, true, true, true),
            (
                "--set replicas=1 --set leaderElection.enabled=false --set crds.install=false",
                &one,
                false,
                true,
                false,
            ),
            (
                "--set watchNamespace=$NS --set rbac.remediation=true --set sharding.shards=3 --set replicas=3",
                &three,
                true,
                true,
                true,
            ),
            ("--set watchNamespace=$NS", &one, true, false, true),
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
            for kind in ["serviceaccount/", "role.", "rolebinding.", "service/"] {
                assert!(out.contains(kind), "{extra}: {kind} missing from:\n{out}");
            }
            assert!(
                out.contains(&format!("pod/{ns}-test-readyz created (server dry run)")),
                "{extra}: the helm test pod: {out}"
            );
            assert_eq!(out.contains("clusterrole."), cluster_role, "{extra}: {out}");
            assert_eq!(out.contains("clusterrolebinding."), cluster_role, "{extra}: {out}");
            assert_eq!(
                out.contains("customresourcedefinition.apiextensions.k8s.io/nodehealths.nodehealth.io"),
                crd,
                "{extra}: {out}"
            );
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
async fn install_grants_least_privilege_upgrade_adds_remediation_and_uninstall_removes_the_cluster_role() {
    with_temp_ns("chart-rbac", |client, ns| async move {
        let _release = install(&ns, "").await;
        // What the operator needs, cluster-wide.
        await_can_i(&ns, "list pods -A", true).await;
        for args in [
            "watch pods -A",
            "list nodehealths.nodehealth.io -A",
            "watch nodehealths.nodehealth.io -A",
            "patch nodehealths.nodehealth.io -A",
            "patch nodehealths.nodehealth.io --subresource=status -A",
            "get nodehealths.nodehealth.io --subresource=status -A",
            "create events.events.k8s.io -A",
            "patch events.events.k8s.io -A",
            "create leases.coordination.k8s.io -n $NS",
            "update leases.coordination.k8s.io -n $NS",
        ] {
            assert!(can_i(&ns, args).await, "{} cannot {args}", service_account(&ns));
        }
        // Nothing more: not even what the operator never calls (gets of what it watches, a
        // status update, nodes without remediation).
        let denied = [
            "get secrets -A",
            "get secrets -n $NS",
            "get pods -A",
            "get nodehealths.nodehealth.io -A",
            "update nodehealths.nodehealth.io -A",
            "update nodehealths.nodehealth.io --subresource=status -A",
            "delete nodes",
            "delete pods -A",
            "create pods -A",
            "patch pods -A",
            "delete nodehealths.nodehealth.io -A",
            "create leases.coordination.k8s.io -n default",
            "create pods --subresource=eviction -A",
            "get nodes",
            "patch nodes",
            "list nodes",
        ];
        for args in denied {
            assert!(!can_i(&ns, args).await, "{} can {args}", service_account(&ns));
        }

        upgrade(&ns, "--set rbac.remediation=true").await;
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
        assert!(can_i(&ns, "get nodes").await);
        // Remediation evicts and cordons; it still deletes nothing, lists no nodes and reads no
        // secrets.
        for args in [
            "delete pods -A",
            "delete nodes",
            "list nodes",
            "watch nodes",
            "get secrets -A",
        ] {
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
        await_can_i(&ns, "list pods -A", false).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_namespaced_install_grants_roles_in_its_namespace_and_a_cluster_role_only_for_nodes() {
    with_temp_ns("chart-ns", |client, ns| async move {
        let _release = install(&ns, "--set watchNamespace=$NS").await;
        let roles: Api<ClusterRole> = Api::all(client.clone());
        assert!(
            roles.get_opt(&ns).await.unwrap().is_none(),
            "a ClusterRole without remediation"
        );
        await_can_i(&ns, "list pods -n $NS", true).await;
        for args in [
            "watch pods -n $NS",
            "list nodehealths.nodehealth.io -n $NS",
            "watch nodehealths.nodehealth.io -n $NS",
            "patch nodehealths.nodehealth.io -n $NS",
            "patch nodehealths.nodehealth.io --subresource=status -n $NS",
            "create events.events.k8s.io -n $NS",
            "patch events.events.k8s.io -n $NS",
            "update leases.coordination.k8s.io -n $NS",
        ] {
            assert!(can_i(&ns, args).await, "{} cannot {args}", service_account(&ns));
        }
        // Other namespaces and the cluster are out of reach.
        for args in [
            "list pods -A",
            "list pods -n default",
            "list nodehealths.nodehealth.io -A",
            "list nodehealths.nodehealth.io -n default",
            "patch nodehealths.nodehealth.io --subresource=status -n default",
            "create events.events.k8s.io -n default",
            "create pods --subresource=eviction -n $NS",
            "get nodes",
            "patch nodes",
        ] {
            assert!(!can_i(&ns, args).await, "{} can {args}", service_account(&ns));
        }

        // Remediation: evictions in the namespace; nodes, the only cluster-scoped grant; events
        // about nodes in `default`.
        upgrade(&ns, "--set watchNamespace=$NS --set rbac.remediation=true").await;
        await_can_i(&ns, "patch nodes", true).await;
        for args in [
            "get nodes",
            "create pods --subresource=eviction -n $NS",
            "create events.events.k8s.io -n default",
            "patch events.events.k8s.io -n default",
        ] {
            assert!(can_i(&ns, args).await, "{} cannot {args}", service_account(&ns));
        }
        for args in [
            "list nodes",
            "create pods --subresource=eviction -n default",
            "list pods -n default",
            "list pods -A",
            "create events.events.k8s.io -n kube-system",
        ] {
            assert!(
                !can_i(&ns, args).await,
                "with remediation, {} can {args}",
                service_account(&ns)
            );
        }
        let role = roles.get(&ns).await.unwrap();
        let resources: Vec<&String> = role
            .rules
            .iter()
            .flatten()
            .flat_map(|r| r.resources.iter().flatten())
            .collect();
        assert_eq!(resources, ["nodes"], "{role:?}");

        ok(&ns, r#"helm uninstall "$NS" --namespace "$NS""#).await;
        assert!(roles.get_opt(&ns).await.unwrap().is_none());
        await_can_i(&ns, "create events.events.k8s.io -n default", false).await;
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
        upgrade(&ns, "--set sharding.shards=1").await;
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

        upgrade(&ns, "").await;
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
    operator: Operator,
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
            operator: Operator::start_as(&kubeconfig, ns, &args),
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
            "minInterval": "0s", "healthyFor": "2s",
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
        assert_eq!(last.result, ActionResult::Succeeded, "{last:?}");
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

#[tokio::test(flavor = "multi_thread")]
async fn a_default_install_owns_the_crd_upgrades_it_and_uninstall_keeps_it_and_every_nodehealth() {
    with_temp_ns("chart-crd", |client, ns| async move {
        // The CRD is already there (applied by the tests alongside, as by an admin, or by chart
        // 0.2 from crds/), with a NodeHealth in this namespace.
        install_crd(&client).await;
        create_nodehealth(&client, &ns, "survivor", radix_spec()).await;
        let nodehealths: Api<NodeHealth> = Api::namespaced(client.clone(), &ns);
        let uid = nodehealths.get("survivor").await.unwrap().metadata.uid;

        // A default install does not silently adopt a CRD it did not create...
        let _release = Release(ns.clone());
        let helm_install = r#"helm install "$NS" "$CHART" --namespace "$NS" --set fullnameOverride="$NS""#;
        let out = run(&ns, helm_install).await;
        assert!(
            !out.status.success()
                && String::from_utf8_lossy(&out.stderr).contains("cannot be imported into the current release"),
            "{}",
            text(&out)
        );
        // ...it takes it over when told to (once: from then on the release owns it).
        ok(&ns, &format!("{helm_install} --take-ownership")).await;
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        let crd = crds.get(CRD).await.unwrap();
        let annotations = crd.metadata.annotations.clone().unwrap_or_default();
        assert_eq!(annotations.get("helm.sh/resource-policy").map(String::as_str), Some("keep"));
        assert_eq!(annotations.get("meta.helm.sh/release-name"), Some(&ns));
        assert_eq!(annotations.get("meta.helm.sh/release-namespace"), Some(&ns));
        let chart: serde_yaml::Value =
            serde_yaml::from_str(&std::fs::read_to_string(Path::new(REPO).join(CHART).join("Chart.yaml")).unwrap())
                .unwrap();
        let labels = crd.metadata.labels.clone().unwrap_or_default();
        assert_eq!(
            labels.get("helm.sh/chart"),
            Some(&format!("nodehealth-operator-{}", chart["version"].as_str().unwrap())),
            "{labels:?}"
        );

        // `helm upgrade` applies it again (from crds/ Helm never would): what changed reaches it.
        ok(
            &ns,
            r#"helm upgrade "$NS" "$CHART" --namespace "$NS" --set fullnameOverride="$NS" --set commonLabels.upgraded-by="$NS""#,
        )
        .await;
        let crd = crds.get(CRD).await.unwrap();
        assert_eq!(
            crd.metadata.labels.as_ref().and_then(|l| l.get("upgraded-by")),
            Some(&ns),
            "the upgrade did not reach the CRD: {:?}",
            crd.metadata.labels
        );

        // Never uninstall a release whose CRD is not kept: it would delete every NodeHealth of
        // this API server, the other tests' too.
        assert_eq!(
            crd.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("helm.sh/resource-policy"))
                .map(String::as_str),
            Some("keep")
        );
        let out = ok(&ns, r#"helm uninstall "$NS" --namespace "$NS" 2>&1"#).await;
        assert!(out.contains("kept due to the resource policy"), "{out}");
        let roles: Api<ClusterRole> = Api::all(client.clone());
        assert!(roles.get_opt(&ns).await.unwrap().is_none(), "the release is gone");
        let crd = crds.get_opt(CRD).await.unwrap();
        assert!(
            crd.is_some_and(|c| c.metadata.deletion_timestamp.is_none()),
            "the CRD was deleted"
        );
        let survivor = nodehealths.get_opt("survivor").await.unwrap();
        assert_eq!(
            survivor.and_then(|nh| nh.metadata.uid),
            uid,
            "the NodeHealth did not survive"
        );
    })
    .await;
}

/// The name of the NodeHealth CRD.
const CRD: &str = "nodehealths.nodehealth.io";

/// One permission: where (`ClusterRole`, or `Role <namespace>`), API group, resource, verb.
type Grant = (String, &'static str, &'static str, &'static str);

/// What the operator may do on what it watches (a ClusterRole, or a Role in watchNamespace).
/// Each grant with the code that uses it.
const WATCHED: &[(&str, &str, &str)] = &[
    // The NodeHealths' watch (controller/mod.rs: kube's watcher lists, then watches).
    ("nodehealth.io", "nodehealths", "list"),
    ("nodehealth.io", "nodehealths", "watch"),
    // The finalizer the operator is about to put on NodeHealths with remediation, added and
    // removed by a metadata patch (never the spec).
    ("nodehealth.io", "nodehealths", "patch"),
    // Status by server-side apply (controller/reconcile.rs write_status): a PATCH of /status.
    ("nodehealth.io", "nodehealths/status", "patch"),
    // A new leader reads the status before building on it (controller/reconcile.rs
    // previous_status): the watch's copy may be from before a gap.
    ("nodehealth.io", "nodehealths/status", "get"),
    // The pods' watch (controller/pods.rs).
    ("", "pods", "list"),
    ("", "pods", "watch"),
    // kube's Recorder: creates an event, patches it when it recurs.
    ("events.k8s.io", "events", "create"),
    ("events.k8s.io", "events", "patch"),
];

/// With remediation, where the pods are: a restart is an eviction (controller/act.rs evict_instance).
const EVICTIONS: &[(&str, &str, &str)] = &[("", "pods/eviction", "create")];

/// With remediation, where the pods are: the ReplicaSets' owners for the singleton guard
/// (controller/workloads.rs: a metadata-only watcher lists, then watches; never get).
const REPLICASETS: &[(&str, &str, &str)] = &[("apps", "replicasets", "list"), ("apps", "replicasets", "watch")];

/// With remediation, cluster-scoped: nodes read one by one (node_facts, uncordon) and cordoned
/// or uncordoned by a patch (patch_node, uncordon); never listed nor watched.
const NODES: &[(&str, &str, &str)] = &[("", "nodes", "get"), ("", "nodes", "patch")];

/// With remediation and watchNamespace: events about nodes, which are recorded in `default`
/// (controller/reconcile.rs regarding).
const NODE_EVENTS: &[(&str, &str, &str)] = &[
    ("events.k8s.io", "events", "create"),
    ("events.k8s.io", "events", "patch"),
];

/// Leader election in the release namespace (controller/lease.rs): read its Lease (get), create
/// it when missing, renew, take over or release it (update, with the resourceVersion read), and
/// list the other shards' Leases.
const LEASES: &[(&str, &str, &str)] = &[
    ("coordination.k8s.io", "leases", "get"),
    ("coordination.k8s.io", "leases", "list"),
    ("coordination.k8s.io", "leases", "create"),
    ("coordination.k8s.io", "leases", "update"),
];

fn grants(scope: &str, rules: &[&[(&'static str, &'static str, &'static str)]]) -> Vec<Grant> {
    rules
        .iter()
        .flat_map(|r| r.iter())
        .map(|&(group, resource, verb)| (scope.to_owned(), group, resource, verb))
        .collect()
}

/// Every permission the rendered chart grants its ServiceAccount, checked to be bound to it.
fn rendered_grants(ns: &str, extra: &str) -> Vec<(String, String, String, String)> {
    let objects = render(ns, extra);
    let sa = json!({"kind": "ServiceAccount", "name": ns, "namespace": ns});
    let mut out = Vec::new();
    for kind in ["ClusterRole", "Role"] {
        for role in objects.iter().filter(|o| o["kind"] == kind) {
            let name = &role["metadata"]["name"];
            let namespace = role["metadata"]["namespace"].as_str();
            let binding = objects.iter().find(|b| {
                b["kind"] == format!("{kind}Binding")
                    && b["roleRef"]["kind"] == kind
                    && b["roleRef"]["name"] == *name
                    && b["metadata"]["namespace"].as_str() == namespace
            });
            let binding = binding.unwrap_or_else(|| panic!("{extra}: {kind} {name} is bound to nothing"));
            assert_eq!(binding["subjects"], json!([sa]), "{extra}: {kind} {name}");
            let scope = match namespace {
                Some(n) => format!("Role {n}"),
                None => "ClusterRole".to_owned(),
            };
            for rule in role["rules"].as_array().unwrap() {
                // Grants narrowed by name or to URLs would need more than these four columns.
                assert!(
                    rule.get("resourceNames").is_none() && rule.get("nonResourceURLs").is_none(),
                    "{extra}: {rule}"
                );
                let strings = |k: &str| -> Vec<String> {
                    rule[k]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_str().unwrap().to_owned())
                        .collect()
                };
                for group in strings("apiGroups") {
                    for resource in strings("resources") {
                        for verb in strings("verbs") {
                            out.push((scope.clone(), group.clone(), resource.clone(), verb));
                        }
                    }
                }
            }
        }
    }
    // A binding to a role the chart does not render would grant what nobody reviewed.
    for binding in objects
        .iter()
        .filter(|o| o["kind"] == "RoleBinding" || o["kind"] == "ClusterRoleBinding")
    {
        let kind = binding["roleRef"]["kind"].as_str().unwrap();
        assert!(
            objects
                .iter()
                .any(|r| r["kind"] == kind && r["metadata"]["name"] == binding["roleRef"]["name"]),
            "{extra}: {binding:#}"
        );
    }
    out.sort();
    out
}

#[test]
fn the_chart_grants_exactly_the_allow_list() {
    let ns = "allow";
    let cluster = "ClusterRole";
    let release = format!("Role {ns}");
    let watched = "Role validators";
    let cases: Vec<(&str, Vec<Grant>)> = vec![
        ("", [grants(cluster, &[WATCHED]), grants(&release, &[LEASES])].concat()),
        (
            "--set rbac.remediation=true",
            [
                grants(cluster, &[WATCHED, EVICTIONS, REPLICASETS, NODES]),
                grants(&release, &[LEASES]),
            ]
            .concat(),
        ),
        (
            "--set watchNamespace=validators",
            [grants(watched, &[WATCHED]), grants(&release, &[LEASES])].concat(),
        ),
        (
            "--set watchNamespace=validators --set rbac.remediation=true",
            [
                grants(cluster, &[NODES]),
                grants(watched, &[WATCHED, EVICTIONS, REPLICASETS]),
                grants("Role default", &[NODE_EVENTS]),
                grants(&release, &[LEASES]),
            ]
            .concat(),
        ),
        // Watching `default`: the Role there already covers events about nodes.
        (
            "--set watchNamespace=default --set rbac.remediation=true",
            [
                grants(cluster, &[NODES]),
                grants("Role default", &[WATCHED, EVICTIONS, REPLICASETS]),
                grants(&release, &[LEASES]),
            ]
            .concat(),
        ),
        // Sharding and replicas change no permission.
        (
            "--set sharding.shards=3 --set replicas=3",
            [grants(cluster, &[WATCHED]), grants(&release, &[LEASES])].concat(),
        ),
        ("--set rbac.create=false", vec![]),
    ];
    for (extra, expected) in cases {
        let mut expected: Vec<(String, String, String, String)> = expected
            .into_iter()
            .map(|(s, g, r, v)| (s, g.to_owned(), r.to_owned(), v.to_owned()))
            .collect();
        expected.sort();
        let got = rendered_grants(ns, extra);
        let unexpected: Vec<_> = got.iter().filter(|g| !expected.contains(g)).collect();
        let missing: Vec<_> = expected.iter().filter(|g| !got.contains(g)).collect();
        assert!(
            unexpected.is_empty() && missing.is_empty() && got.len() == expected.len(),
            "`helm template {extra}`:\n  granted but not in the allow-list (justify it in tests/chart.rs): {unexpected:#?}\n  \
             in the allow-list but not granted: {missing:#?}"
        );
    }
}

#[test]
fn deployments_and_pods_take_annotations_labels_and_spread_constraints() {
    let objects = render(
        "meta",
        "--set commonLabels.team=validators \
         --set-string 'deploymentAnnotations.reloader\\.stakater\\.com/auto=true' \
         --set deploymentLabels.tier=ops \
         --set-string 'podAnnotations.prometheus\\.io/scrape=true' \
         --set-string 'podLabels.sidecar\\.istio\\.io/inject=false' \
         --set topologySpreadConstraints[0].maxSkew=2 \
         --set topologySpreadConstraints[0].topologyKey=topology.kubernetes.io/zone \
         --set topologySpreadConstraints[0].whenUnsatisfiable=DoNotSchedule \
         --set sharding.shards=2",
    );
    let deployments = of_kind(&objects, "Deployment");
    assert_eq!(deployments.len(), 2);
    for (name, d) in &deployments {
        let meta = &d["metadata"];
        assert_eq!(meta["annotations"]["reloader.stakater.com/auto"], "true", "{name}");
        assert_eq!(meta["labels"]["tier"], "ops", "{name}");
        assert_eq!(meta["labels"]["team"], "validators", "{name}");
        let template = &d["spec"]["template"]["metadata"];
        assert_eq!(template["annotations"]["prometheus.io/scrape"], "true", "{name}");
        assert_eq!(template["labels"]["sidecar.istio.io/inject"], "false", "{name}");
        assert_eq!(template["labels"]["team"], "validators", "{name}");
        // Deployment metadata is not the pods'.
        assert!(template["labels"].get("tier").is_none(), "{name}: {template:#}");
        assert!(
            template["annotations"].get("reloader.stakater.com/auto").is_none(),
            "{name}: {template:#}"
        );
        // The selector is the chart's alone.
        assert!(d["spec"]["selector"]["matchLabels"].get("team").is_none(), "{name}");
        let spread = &d["spec"]["template"]["spec"]["topologySpreadConstraints"];
        assert_eq!(spread.as_array().map(Vec::len), Some(1), "{name}: {spread:#}");
        assert_eq!(spread[0]["topologyKey"], "topology.kubernetes.io/zone");
        assert_eq!(spread[0]["maxSkew"], 2);
        assert_eq!(spread[0]["whenUnsatisfiable"], "DoNotSchedule");
        assert!(
            selects(&spread[0]["labelSelector"], pod_labels(d)),
            "{name}: a constraint without a selector gets its shard's pods"
        );
    }
    // commonLabels are on every object the chart renders.
    for o in &objects {
        assert_eq!(
            o["metadata"]["labels"]["team"], "validators",
            "{} {}",
            o["kind"], o["metadata"]["name"]
        );
    }
    // None of it by default.
    let d = &of_kind(&render("meta", ""), "Deployment")["meta"];
    assert!(d["metadata"].get("annotations").is_none(), "{:#}", d["metadata"]);
    assert!(d["spec"]["template"]["metadata"].get("annotations").is_none());
}

/// `probe.tls.caFile` and `probe.bearerTokenFile` name files in the operator's container: the
/// chart mounts a ConfigMap and a Secret there, and grants nothing more for it (the operator
/// reads files, not the API's ConfigMaps or Secrets).
#[test]
fn a_ca_configmap_and_a_token_secret_are_mounted_into_the_operator_without_a_new_grant() {
    let volumes = "--set extraVolumes[0].name=validator-ca \
         --set extraVolumes[0].configMap.name=validator-ca \
         --set extraVolumes[1].name=validator-token \
         --set extraVolumes[1].secret.secretName=validator-token \
         --set extraVolumeMounts[0].name=validator-ca \
         --set extraVolumeMounts[0].mountPath=/etc/nodehealth/validator-ca \
         --set extraVolumeMounts[0].readOnly=true \
         --set extraVolumeMounts[1].name=validator-token \
         --set extraVolumeMounts[1].mountPath=/etc/nodehealth/validator-token \
         --set extraVolumeMounts[1].readOnly=true";
    let objects = render("vol", &format!("{volumes} --set sharding.shards=2"));
    let deployments = of_kind(&objects, "Deployment");
    assert_eq!(deployments.len(), 2);
    for (name, d) in &deployments {
        let pod = &d["spec"]["template"]["spec"];
        assert_eq!(
            pod["volumes"][0]["configMap"]["name"], "validator-ca",
            "{name}: {pod:#}"
        );
        assert_eq!(pod["volumes"][1]["secret"]["secretName"], "validator-token", "{name}");
        let mounts = &pod["containers"][0]["volumeMounts"];
        assert_eq!(
            mounts[0]["mountPath"], "/etc/nodehealth/validator-ca",
            "{name}: {mounts:#}"
        );
        assert_eq!(mounts[1]["name"], "validator-token", "{name}");
        assert_eq!(mounts[1]["readOnly"], true, "{name}");
    }
    let d = &of_kind(&render("vol", ""), "Deployment")["vol"];
    let pod = &d["spec"]["template"]["spec"];
    assert!(
        pod.get("volumes").is_none() && pod["containers"][0].get("volumeMounts").is_none(),
        "{pod:#}"
    );
    assert_eq!(
        rendered_grants("vol", volumes),
        rendered_grants("vol", ""),
        "no grant comes with a volume"
    );
    for bad in [
        "extraVolumeMounts[0].name=ca,extraVolumeMounts[0].mountPath=relative/ca",
        "extraVolumeMounts[0].mountPath=/etc/ca",
        "extraVolumes[0].configMap.name=ca",
        "extraVolumes=x",
    ] {
        let out = sh("lint", &format!(r#"helm lint --strict "$CHART" --set '{bad}'"#));
        assert!(!out.status.success(), "helm lint accepted --set {bad}: {}", text(&out));
    }
}

#[test]
fn the_helm_test_pod_asks_readyz_through_the_service() {
    let objects = render("hook", "");
    let service = &of_kind(&objects, "Service")["hook"];
    let pods = of_kind(&objects, "Pod");
    let pod = &pods["hook-test-readyz"];
    assert_eq!(pod["metadata"]["annotations"]["helm.sh/hook"], "test");
    assert_eq!(
        pod["metadata"]["annotations"]["helm.sh/hook-delete-policy"],
        "before-hook-creation,hook-succeeded"
    );
    assert_eq!(pod["spec"]["restartPolicy"], "Never");
    assert_eq!(pod["spec"]["automountServiceAccountToken"], false);
    let container = &pod["spec"]["containers"][0];
    assert_eq!(container["image"], "busybox:1.36.1");
    let port = service["spec"]["ports"][0]["port"].as_u64().unwrap();
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "http");
    assert_eq!(
        container["command"],
        json!([
            "wget",
            "-q",
            "-O-",
            "-T",
            "10",
            format!("http://hook.hook.svc:{port}/readyz")
        ])
    );
    // The operator container serves /readyz on its `http` port.
    let d = &of_kind(&objects, "Deployment")["hook"];
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"],
        json!({"path": "/readyz", "port": "http"})
    );

    // It follows the Service's port; its image and timeout are the user's.
    let digest = format!("sha256:{}", "b".repeat(64));
    let objects = render(
        "hook",
        &format!(
            "--set service.port=9090 --set tests.image.repository=registry.example/tools/busybox \
             --set tests.image.tag=1.37.0 --set tests.image.digest={digest} --set tests.timeoutSeconds=3"
        ),
    );
    let container = &of_kind(&objects, "Pod")["hook-test-readyz"]["spec"]["containers"][0];
    assert_eq!(
        container["image"],
        format!("registry.example/tools/busybox:1.37.0@{digest}")
    );
    assert_eq!(
        container["command"],
        json!(["wget", "-q", "-O-", "-T", "3", "http://hook.hook.svc:9090/readyz"])
    );
    assert!(of_kind(&render("hook", "--set tests.enabled=false"), "Pod").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn helm_test_passes_when_the_operator_answers_readyz_through_the_service_and_fails_when_not() {
    with_temp_ns("chart-test", |client, ns| async move {
        // A namespaced install: the operator is ready only once its watches, with the Role in
        // this namespace alone, have synced.
        let _release = install(&ns, "--set watchNamespace=$NS").await;
        await_can_i(&ns, "watch nodehealths.nodehealth.io -n $NS", true).await;
        let kubelet = TestPodKubelet::start(client.clone(), &ns);
        let pod = format!("{ns}-test-readyz");
        let url = format!("http://{ns}.{ns}.svc:8080/readyz");

        // No operator behind the Service: the test pod fails, and so does `helm test`.
        let out = run(&ns, r#"helm test "$NS" --namespace "$NS" --timeout 60s"#).await;
        assert!(!out.status.success(), "{}", text(&out));
        let runs = kubelet.runs();
        assert_eq!(runs.len(), 1, "{runs:?}");
        assert_eq!(
            (runs[0].pod.as_str(), runs[0].url.as_str()),
            (pod.as_str(), url.as_str())
        );
        assert_eq!(runs[0].phase, "Failed", "{runs:?}");
        // A failed test pod is kept for `kubectl logs`.
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        assert!(
            pods.get_opt(&pod).await.unwrap().is_some(),
            "the failed test pod is gone"
        );

        // The operator, with the chart's permissions, behind the Service.
        let kc = impersonating_kubeconfig(&ns).await;
        let op = Impersonated::start(kc, &ns);
        let http = op.operator.http.clone();
        eventually(WAIT, "the operator ready", || {
            let http = http.clone();
            async move {
                match support::wait::get(&format!("http://{http}/readyz")).await? {
                    (200, _) => Ok(()),
                    (code, body) => Err(format!("{code} {body}")),
                }
            }
        })
        .await;
        kubelet.route_to(Some(http));
        let out = ok(&ns, r#"helm test "$NS" --namespace "$NS" --timeout 60s"#).await;
        assert!(out.contains("Phase:          Succeeded"), "{out}");
        let runs = kubelet.runs();
        assert_eq!(runs.len(), 2, "{runs:?}");
        assert_eq!(runs[1].url, url);
        assert_eq!(runs[1].phase, "Succeeded", "{runs:?}");
        // A passed test pod is deleted.
        assert!(
            pods.get_opt(&pod).await.unwrap().is_none(),
            "the passed test pod is left over"
        );
    })
    .await;
}

/// What a user reads in `kubectl explain`, as the API server publishes the CRD: the fields'
/// own documentation, today's names, no Rust or Go type docs.
#[tokio::test(flavor = "multi_thread")]
async fn kubectl_explain_documents_every_field_for_users() {
    install_crd(&support::cluster::admin_client().await).await;
    let explain = |path: &'static str| async move {
        let out = run("explain", &format!("kubectl explain {path}")).await;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(text(&out))
        }
    };
    // The server publishes a changed CRD's OpenAPI a moment after it is established.
    let worst = eventually(WAIT, "the status published with its fields", || async {
        let out = explain("nodehealths.status.worstStatus").await?;
        if out.contains("The worst status among the selected pods") {
            Ok(out)
        } else {
            Err(out)
        }
    })
    .await;
    assert!(worst.contains("FIELD:    worstStatus <string>"), "{worst}");
    let time = explain("nodehealths.status.lastProbeTime").await.unwrap();
    assert!(
        time.contains("When the figures in `pods` were last refreshed"),
        "{time}"
    );
    assert!(!time.contains("wrapper around time.Time"), "{time}");
    let window = explain("nodehealths.spec.assessment.observedRateWindow").await.unwrap();
    assert!(window.contains("How long the operator watches a ledger"), "{window}");
    let spec = explain("nodehealths.spec --recursive").await.unwrap();
    for now in [
        "period",
        "timeout",
        "syncedDelay",
        "startupGrace",
        "minInterval",
        "restartWindow",
        "maxUnhealthy",
        "maxHeightLag",
        "metricsNamespace",
        "slotDuration",
        "execution",
    ] {
        assert!(
            spec.contains(&format!("{now}\t")) || spec.contains(&format!("{now} ")),
            "{now} missing: {spec}"
        );
    }
    for gone in ["periodSeconds", "maxUnhealthyPercent", "Seconds\t", "later"] {
        assert!(!spec.contains(gone), "{gone} still documented: {spec}");
    }
    let path = explain("nodehealths.spec.probe.health.path").await.unwrap();
    assert!(
        path.contains("FIELD:    path <string>"),
        "a typed field, not `<>`: {path}"
    );
    let top = explain("nodehealths").await.unwrap();
    assert!(!top.contains("(later)"), "{top}");
}
