//! The Helm chart (`charts/nodehealth-operator`) on the real API server: it lints, renders to
//! objects the server accepts, installs, upgrades and uninstalls, grants exactly the permissions
//! the operator needs, and the real operator runs with nothing more (through impersonation of the
//! chart's ServiceAccount). `helm` and `kubectl` come from `scripts/cluster.sh env`.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::api::{Api, ListParams, Patch, PatchParams};
use nodehealth::crd::NodeHealth;
use serde_json::json;
use support::cluster::{kubeconfig, with_temp_ns};
use support::fleet::{Fleet, condition_is, create_nodehealth, radix_spec};
use support::operator::{Operator, install_crd};
use support::wait::{eventually, wait_for};

const WAIT: Duration = Duration::from_secs(60);
const REPO: &str = env!("CARGO_MANIFEST_DIR");
const CHART: &str = "charts/nodehealth-operator";

/// Runs a bash script in the repository with the local cluster's environment (KUBECONFIG,
/// `helm` and `kubectl` on PATH) and `NS` set to `ns`.
fn sh(ns: &str, script: &str) -> Output {
    Command::new("bash")
        .arg("-c")
        .arg(format!("set -o pipefail; eval \"$(scripts/cluster.sh env)\"; {script}"))
        .current_dir(REPO)
        .env("NS", ns)
        .env("CHART", CHART)
        .stdin(Stdio::null())
        .output()
        .expect("run bash")
}

/// Like `sh`, off the async runtime's worker threads.
async fn run(ns: &str, script: &str) -> Output {
    let (ns, script) = (ns.to_owned(), script.to_owned());
    tokio::task::spawn_blocking(move || sh(&ns, &script)).await.unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs a script that must succeed; returns its stdout.
async fn ok(ns: &str, script: &str) -> String {
    let out = run(ns, script).await;
    assert!(out.status.success(), "`{script}` failed: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Installs the chart as release `<ns>` with every name (cluster-scoped ones too) `<ns>`.
async fn install(ns: &str, extra: &str) -> Release {
    ok(
        ns,
        &format!(r#"helm install "$NS" "$CHART" --namespace "$NS" --set fullnameOverride="$NS" {extra}"#),
    )
    .await;
    Release(ns.to_owned())
}

/// Removes what a release left at cluster scope if the test did not get to `helm uninstall`.
struct Release(String);

impl Drop for Release {
    fn drop(&mut self) {
        sh(
            &self.0,
            r#"kubectl delete clusterrole,clusterrolebinding "$NS" --ignore-not-found >/dev/null 2>&1"#,
        );
    }
}

fn service_account(ns: &str) -> String {
    format!("system:serviceaccount:{ns}:{ns}")
}

/// `kubectl auth can-i` as the release's ServiceAccount: `args` like `list pods -A`.
async fn can_i(ns: &str, args: &str) -> bool {
    let out = run(
        ns,
        &format!(r#"kubectl auth can-i {args} --as="system:serviceaccount:$NS:$NS""#),
    )
    .await;
    let answer = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    match answer.as_str() {
        "yes" => true,
        "no" => false,
        _ => panic!("kubectl auth can-i {args}: {}", text(&out)),
    }
}

/// Waits until the authorizer answers `expected` (RBAC changes reach it through an informer).
async fn await_can_i(ns: &str, args: &str, expected: bool) {
    eventually(WAIT, &format!("can-i {args} == {expected}"), || async move {
        match can_i(ns, args).await {
            got if got == expected => Ok(()),
            got => Err(format!("{got}")),
        }
    })
    .await;
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
    for bad in [
        "replicas=abc",
        "replicas=2",
        "rbac.remediation=maybe",
        "image.tag=latest",
        "httpPort=http",
    ] {
        let out = sh("lint", &format!(r#"helm lint --strict "$CHART" --set {bad}"#));
        assert!(!out.status.success(), "helm lint accepted --set {bad}: {}", text(&out));
    }
}

#[test]
fn the_argo_cd_health_check_passes_its_lua_tests_and_the_configmap_carries_it() {
    let dir = Path::new(REPO).join(CHART).join("argocd");
    let out = Command::new("lua5.4")
        .arg(dir.join("health_test.lua"))
        .output()
        .expect("lua5.4 (apt-get install lua5.4; scripts/cluster.sh up installs it)");
    assert!(out.status.success(), "health_test.lua: {}", text(&out));
    let script = std::fs::read_to_string(dir.join("health.lua")).unwrap();
    let cm: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(dir.join("argocd-cm.yaml")).unwrap()).unwrap();
    let embedded = cm["data"]["resource.customizations.health.nodehealth.io_NodeHealth"].as_str();
    assert_eq!(
        embedded,
        Some(script.as_str()),
        "argocd-cm.yaml is stale: it must embed health.lua"
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
        for extra in [
            "",
            "--set watchNamespace=$NS --set rbac.remediation=true --set podDisruptionBudget.enabled=true",
        ] {
            let out = ok(
                &ns,
                &format!(
                    r#"helm template "$NS" "$CHART" --namespace "$NS" --set fullnameOverride="$NS" {extra} \
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
            assert!(
                out.contains(&format!("deployment.apps/{ns} created (server dry run)")),
                "{out}"
            );
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

/// A copy of the admin kubeconfig that impersonates the release's ServiceAccount (the admin is
/// in system:masters, which may impersonate).
async fn impersonating_kubeconfig(ns: &str) -> PathBuf {
    let admin = std::fs::read_to_string(kubeconfig().await).unwrap();
    let mut kc: serde_yaml::Value = serde_yaml::from_str(&admin).unwrap();
    let user = &mut kc["users"][0]["user"];
    user["as"] = service_account(ns).into();
    user["as-groups"] = serde_yaml::to_value([
        "system:serviceaccounts".to_owned(),
        format!("system:serviceaccounts:{ns}"),
        "system:authenticated".to_owned(),
    ])
    .unwrap();
    let path = std::env::temp_dir().join(format!("nodehealth-{ns}.kubeconfig"));
    std::fs::write(&path, serde_yaml::to_string(&kc).unwrap()).unwrap();
    path
}

/// `nodehealth run` as the release's ServiceAccount, killed (and its kubeconfig removed) when dropped.
struct Impersonated {
    _operator: Operator,
    kubeconfig: PathBuf,
}

impl Impersonated {
    /// One namespace only, so it does not reconcile the NodeHealths of tests running alongside;
    /// the cluster-wide list/watch the chart grants is checked separately.
    fn start(kubeconfig: PathBuf, ns: &str) -> Impersonated {
        Impersonated {
            _operator: Operator::start_as(&kubeconfig, ns, &[]),
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
