//! The Helm chart as tests use it: `helm`/`kubectl` scripts with the local cluster's
//! environment, a release per test namespace, rendered and installed objects, a kubeconfig
//! that impersonates the release's ServiceAccount, and a kubelet for `helm test`'s pod.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::watcher;
use serde::Deserialize;
use serde_json::json;
use tokio::task::JoinHandle;

use super::cluster::kubeconfig;
use super::wait::{eventually, get};

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

/// Installs the chart as release `<ns>` with every name (cluster-scoped ones too) `<ns>`, and
/// `crds.install=false`.
///
/// The NodeHealth CRD is one object for the whole API server, which every test running alongside
/// uses (deleting it would delete their NodeHealths), and one release at most may own it. So the
/// tests apply it themselves, as an admin who manages it apart from the chart would (it is the
/// chart's, a test checks), and their releases leave it alone. One test,
/// `a_default_install_owns_the_crd_upgrades_it_and_uninstall_keeps_it_and_every_nodehealth`,
/// installs the chart with its default, `crds.install=true`.
pub async fn install(ns: &str, extra: &str) -> Release {
    super::operator::install_crd(&super::cluster::admin_client().await).await;
    ok(
        ns,
        &format!(
            r#"helm install "$NS" "$CHART" --namespace "$NS" --set fullnameOverride="$NS" --set crds.install=false {extra}"#
        ),
    )
    .await;
    Release(ns.to_owned())
}

/// `helm upgrade` of the release [`install`] made (values are the chart's defaults plus `extra`,
/// `crds.install=false` as at install); returns helm's output.
pub async fn upgrade(ns: &str, extra: &str) -> String {
    ok(
        ns,
        &format!(
            r#"helm upgrade "$NS" "$CHART" --namespace "$NS" --set fullnameOverride="$NS" --set crds.install=false {extra}"#
        ),
    )
    .await
}

/// Removes what a release left outside its namespace (cluster-scoped RBAC, the Role for node
/// events in `default`) if the test did not get to `helm uninstall`.
pub struct Release(pub String);

impl Drop for Release {
    fn drop(&mut self) {
        sh(
            &self.0,
            r#"kubectl delete clusterrole,clusterrolebinding "$NS" --ignore-not-found >/dev/null 2>&1;
               kubectl delete role,rolebinding "$NS-node-events" -n default --ignore-not-found >/dev/null 2>&1"#,
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

/// What the played kubelet did with one `helm test` pod.
#[derive(Debug, Clone, PartialEq)]
pub struct TestRun {
    pub pod: String,
    /// The URL the pod's `wget` asks.
    pub url: String,
    /// The phase set: `Succeeded` or `Failed`.
    pub phase: String,
    /// Why, as the pod's container would have printed it.
    pub note: String,
}

/// Plays the kubelet for the release's `helm test` pods (there is no kubelet here): for each new
/// pod of component `test` in the namespace it does what the pod's `wget -q -O- URL` would, and
/// sets the pod's phase `Succeeded` or `Failed` as a kubelet would when the container exits.
///
/// The URL must name a Service of the namespace (`http://<service>.<ns>.svc:<port><path>`) on
/// one of its ports, targeting the operator's `http` port; the request then goes to `endpoint`,
/// the address of the operator the Service would reach (one run locally, as the other tests run
/// it), or fails as a connection to a Service without endpoints does when it is `None`.
pub struct TestPodKubelet {
    pub endpoint: Arc<Mutex<Option<String>>>,
    pub runs: Arc<Mutex<Vec<TestRun>>>,
    task: JoinHandle<()>,
}

impl Drop for TestPodKubelet {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestPodKubelet {
    pub fn start(client: Client, ns: &str) -> TestPodKubelet {
        let endpoint: Arc<Mutex<Option<String>>> = Arc::default();
        let runs: Arc<Mutex<Vec<TestRun>>> = Arc::default();
        let task = tokio::spawn(play(client, ns.to_owned(), endpoint.clone(), runs.clone()));
        TestPodKubelet { endpoint, runs, task }
    }

    /// Where the Service's traffic goes from now on (`None`: it has no ready endpoint).
    pub fn route_to(&self, endpoint: Option<String>) {
        *self.endpoint.lock().unwrap() = endpoint;
    }

    pub fn runs(&self) -> Vec<TestRun> {
        self.runs.lock().unwrap().clone()
    }
}

async fn play(client: Client, ns: String, endpoint: Arc<Mutex<Option<String>>>, runs: Arc<Mutex<Vec<TestRun>>>) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let config = watcher::Config::default().labels("app.kubernetes.io/component=test");
    let mut events = watcher(pods.clone(), config).boxed();
    while let Some(ev) = events.next().await {
        let pod = match ev {
            Ok(watcher::Event::Apply(pod) | watcher::Event::InitApply(pod)) => pod,
            _ => continue,
        };
        let started = pod
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .is_some_and(|p| p != "Pending");
        if started || pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let name = pod.metadata.name.clone().unwrap_or_default();
        let command = pod
            .spec
            .as_ref()
            .and_then(|s| s.containers.first())
            .and_then(|c| c.command.clone())
            .unwrap_or_default();
        let url = command.last().cloned().unwrap_or_default();
        let target = endpoint.lock().unwrap().clone();
        let outcome = wget(&client, &ns, &command, target.as_deref()).await;
        let (phase, exit_code, note) = match outcome {
            Ok(body) => ("Succeeded", 0, body),
            Err(e) => ("Failed", 1, e),
        };
        let status = json!({"status": {
            "phase": phase,
            "containerStatuses": [{"name": "readyz", "ready": false, "restartCount": 0,
                "image": "", "imageID": "",
                "state": {"terminated": {"exitCode": exit_code, "reason": if exit_code == 0 { "Completed" } else { "Error" },
                    "message": note}}}],
        }});
        // Recorded before the phase is set: `helm test` returns as soon as it sees it.
        runs.lock().unwrap().push(TestRun {
            pod: name.clone(),
            url,
            phase: phase.to_owned(),
            note,
        });
        let _ = pods
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
            .await;
    }
}

/// What `wget -q -O- [-T secs] URL` in the pod would do, the Service's traffic going to `endpoint`.
async fn wget(client: &Client, ns: &str, command: &[String], endpoint: Option<&str>) -> Result<String, String> {
    let [program, .., url] = command else {
        return Err(format!("not a wget command: {command:?}"));
    };
    if program != "wget" {
        return Err(format!("not a wget command: {command:?}"));
    }
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("not an http URL: {url}"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (host, port) = authority
        .rsplit_once(':')
        .ok_or_else(|| format!("wget: no port in {url}"))?;
    let port: i32 = port.parse().map_err(|_| format!("wget: bad port in {url}"))?;
    let service = host
        .strip_suffix(&format!(".{ns}.svc"))
        .ok_or_else(|| format!("wget: bad address '{host}' (not a Service of {ns})"))?;
    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    let svc = services
        .get_opt(service)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("wget: bad address '{host}' (no Service {service})"))?;
    let ports = svc.spec.and_then(|s| s.ports).unwrap_or_default();
    let to_operator = ports.iter().any(|p| {
        p.port == port
            && matches!(&p.target_port, Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(t)) if t == "http")
    });
    if !to_operator {
        return Err(format!(
            "wget: can't connect to remote host: Service {service} has no port {port} to the operator's http port"
        ));
    }
    let Some(endpoint) = endpoint else {
        return Err("wget: can't connect to remote host: Connection refused".to_owned());
    };
    let (code, body) = get(&format!("http://{endpoint}{path}"))
        .await
        .map_err(|e| format!("wget: {e}"))?;
    if (200..300).contains(&code) {
        Ok(body)
    } else {
        Err(format!("wget: server returned error: HTTP/1.1 {code}"))
    }
}
