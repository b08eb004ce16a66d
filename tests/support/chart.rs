//! The Helm chart as tests use it: `helm`/`kubectl` scripts with the local cluster's
//! environment, a release per test namespace, rendered and installed objects, and a kubeconfig
//! that impersonates the release's ServiceAccount.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde::Deserialize;

use super::cluster::kubeconfig;
use super::wait::eventually;

pub const WAIT: Duration = Duration::from_secs(60);
pub const REPO: &str = env!("CARGO_MANIFEST_DIR");
pub const CHART: &str = "charts/nodehealth-operator";

/// Runs a bash script in the repository with the local cluster's environment (KUBECONFIG,
/// `helm` and `kubectl` on PATH) and `NS` set to `ns`.
pub fn sh(ns: &str, script: &str) -> Output {
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
pub async fn run(ns: &str, script: &str) -> Output {
    let (ns, script) = (ns.to_owned(), script.to_owned());
    tokio::task::spawn_blocking(move || sh(&ns, &script)).await.unwrap()
}

pub fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs a script that must succeed; returns its stdout.
pub async fn ok(ns: &str, script: &str) -> String {
    let out = run(ns, script).await;
    assert!(out.status.success(), "`{script}` failed: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Installs the chart as release `<ns>` with every name (cluster-scoped ones too) `<ns>`.
///
/// The CRD is applied first as the other tests do (it is the chart's, a test checks): a CRD left
/// by an older build on this control plane, owned by other field managers, would make helm's
/// server-side apply of `crds/` conflict.
pub async fn install(ns: &str, extra: &str) -> Release {
    super::operator::install_crd(&super::cluster::admin_client().await).await;
    ok(
        ns,
        &format!(r#"helm install "$NS" "$CHART" --namespace "$NS" --set fullnameOverride="$NS" {extra}"#),
    )
    .await;
    Release(ns.to_owned())
}

/// Removes what a release left at cluster scope if the test did not get to `helm uninstall`.
pub struct Release(pub String);

impl Drop for Release {
    fn drop(&mut self) {
        sh(
            &self.0,
            r#"kubectl delete clusterrole,clusterrolebinding "$NS" --ignore-not-found >/dev/null 2>&1"#,
        );
    }
}

pub fn service_account(ns: &str) -> String {
    format!("system:serviceaccount:{ns}:{ns}")
}

/// `kubectl auth can-i` as the release's ServiceAccount: `args` like `list pods -A`.
pub async fn can_i(ns: &str, args: &str) -> bool {
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
pub async fn await_can_i(ns: &str, args: &str, expected: bool) {
    eventually(WAIT, &format!("can-i {args} == {expected}"), || async move {
        match can_i(ns, args).await {
            got if got == expected => Ok(()),
            got => Err(format!("{got}")),
        }
    })
    .await;
}

/// The local API server's Kubernetes version, for `helm template --kube-version` (so that offline
/// rendering picks the API versions this server serves, as `helm install` does).
pub const SERVER_VERSION: &str = r#""$(kubectl version -o json 2>/dev/null | jq -r .serverVersion.gitVersion)""#;

/// `helm template` of release `<ns>` (every name `<ns>`) for the local API server's version:
/// the rendered objects, in order.
pub fn render(ns: &str, extra: &str) -> Vec<serde_json::Value> {
    let out = sh(
        ns,
        &format!(
            r#"helm template "$NS" "$CHART" --namespace "$NS" --set fullnameOverride="$NS" --kube-version {SERVER_VERSION} {extra}"#
        ),
    );
    assert!(out.status.success(), "helm template {extra}: {}", text(&out));
    serde_yaml::Deserializer::from_str(&String::from_utf8_lossy(&out.stdout))
        .map(|doc| serde_json::Value::deserialize(doc).expect("rendered YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

/// Objects by name.
pub fn by_name<'a>(objects: impl IntoIterator<Item = &'a serde_json::Value>) -> BTreeMap<String, serde_json::Value> {
    objects
        .into_iter()
        .map(|o| (o["metadata"]["name"].as_str().unwrap().to_owned(), o.clone()))
        .collect()
}

/// The rendered objects of one kind, by name.
pub fn of_kind(objects: &[serde_json::Value], kind: &str) -> BTreeMap<String, serde_json::Value> {
    by_name(objects.iter().filter(|o| o["kind"] == kind))
}

/// The objects of one resource (`deployments`, `pdb`…) in the release namespace, by name, as
/// the API server has them.
pub async fn installed(ns: &str, resource: &str) -> BTreeMap<String, serde_json::Value> {
    let list: serde_json::Value =
        serde_json::from_str(&ok(ns, &format!(r#"kubectl get {resource} -n "$NS" -o json"#)).await).unwrap();
    by_name(list["items"].as_array().unwrap())
}

/// The operator container's environment: name → `value`, or the `valueFrom` fieldRef's path
/// as `fieldRef:<path>`.
pub fn env_of(deployment: &serde_json::Value) -> BTreeMap<String, String> {
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["name"], "operator", "{deployment:#}");
    container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let value = match e["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
                Some(path) => format!("fieldRef:{path}"),
                None => e["value"].as_str().unwrap_or_default().to_owned(),
            };
            (e["name"].as_str().unwrap().to_owned(), value)
        })
        .collect()
}

/// Whether a `matchLabels` selector selects pods with these labels (and says something).
pub fn selects(selector: &serde_json::Value, labels: &serde_json::Value) -> bool {
    let wanted = selector["matchLabels"].as_object().expect("matchLabels");
    !wanted.is_empty() && wanted.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The pod template's labels.
pub fn pod_labels(deployment: &serde_json::Value) -> &serde_json::Value {
    &deployment["spec"]["template"]["metadata"]["labels"]
}

/// A copy of the admin kubeconfig that impersonates the release's ServiceAccount (the admin is
/// in system:masters, which may impersonate).
pub async fn impersonating_kubeconfig(ns: &str) -> PathBuf {
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
