//! A control plane of a test's own (etcd + kube-apiserver from `scripts/cluster.sh`, on free
//! ports and its own data), which the test may stop and start under a running operator
//! without disturbing the other tests; and the API server's audit log, the server's own record
//! of every eviction and node write.

use std::path::{Path, PathBuf};
use std::process::Command;

use kube::Client;
use serde_json::Value;

use super::cluster::{client_of, kubeconfig, unique_suffix};

pub struct PrivateCluster {
    pub dir: PathBuf,
    ports: [u16; 3],
    extra_args: String,
}

impl PrivateCluster {
    /// Starts one, with extra kube-apiserver flags.
    pub async fn up(name: &str, apiserver_args: &str) -> PrivateCluster {
        // The shared control plane's `up` installs and builds the tools once for everyone.
        kubeconfig().await;
        let dir = std::env::temp_dir().join(format!("nodehealth-cp-{name}-{}", unique_suffix()));
        let ports = [free_port(), free_port(), free_port()];
        let pc = PrivateCluster {
            dir,
            ports,
            extra_args: apiserver_args.to_owned(),
        };
        pc.script(&["up"]);
        pc
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    pub async fn client(&self) -> Client {
        client_of(&self.kubeconfig()).await
    }

    /// Stops `apiserver` or `etcd` (SIGTERM, then SIGKILL after 5 s), keeping the data.
    pub fn stop(&self, which: &str) {
        self.script(&["stop", which]);
    }

    /// Starts `apiserver` or `etcd` again on the data it had; returns once it answers.
    pub fn start(&self, which: &str) {
        self.script(&["start", which]);
    }

    pub fn audit_log(&self) -> PathBuf {
        self.dir.join("logs/audit.log")
    }

    fn script(&self, args: &[&str]) {
        let status = Command::new("bash")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/cluster.sh"))
            .args(args)
            .env("NODEHEALTH_CLUSTER_DIR", &self.dir)
            .env("NODEHEALTH_API_PORT", self.ports[0].to_string())
            .env("NODEHEALTH_ETCD_PORT", self.ports[1].to_string())
            .env("NODEHEALTH_ETCD_PEER_PORT", self.ports[2].to_string())
            .env("NODEHEALTH_APISERVER_ARGS", &self.extra_args)
            .status()
            .expect("run scripts/cluster.sh");
        assert!(status.success(), "scripts/cluster.sh {args:?} failed");
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        self.script(&["down"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().unwrap().port()
}

/// The shared control plane's audit log.
pub async fn shared_audit_log() -> PathBuf {
    kubeconfig().await.parent().unwrap().join("logs/audit.log")
}

/// What the API server carried out of nodehealth's actions in a namespace, by its audit log.
#[derive(Debug, Default)]
pub struct Carried {
    /// Evictions the server accepted, by pod name (the 1.20 server's audit leaves the
    /// Eviction's body out, so its UID precondition is checked at the proxy instead).
    pub evictions: Vec<String>,
    /// Node writes that set `unschedulable: true`, by node.
    pub cordons: Vec<String>,
    /// Node writes that cleared it.
    pub uncordons: Vec<String>,
    /// Both, in the server's order: (node, cordoned).
    pub node_writes: Vec<(String, bool)>,
}

/// Reads the audit log for the evictions of `ns`'s pods and the writes to its nodes
/// (`{ns}-node-*`), counting only what the server accepted (2xx).
pub fn carried(log: &Path, ns: &str) -> Carried {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut out = Carried::default();
    for e in text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()) {
        let code = e["responseStatus"]["code"].as_u64().unwrap_or(0);
        if !(200..300).contains(&code) || e["stage"] != "ResponseComplete" {
            continue;
        }
        let obj = &e["objectRef"];
        let name = obj["name"].as_str().unwrap_or_default().to_owned();
        match (obj["resource"].as_str(), obj["subresource"].as_str()) {
            (Some("pods"), Some("eviction")) if obj["namespace"] == ns => out.evictions.push(name),
            (Some("nodes"), None) if name.starts_with(&format!("{ns}-node-")) => {
                let Some(cordon) = unschedulable(&e["requestObject"]) else {
                    continue;
                };
                if cordon {
                    out.cordons.push(name.clone());
                } else {
                    out.uncordons.push(name.clone());
                }
                out.node_writes.push((name, cordon));
            }
            _ => {}
        }
    }
    out
}

/// What a node write does to `spec.unschedulable`: a merge/strategic patch or whole object
/// (`{"spec": {"unschedulable": …}}`), or a JSON patch (`[{"op": …, "path": "/spec/unschedulable"}]`).
fn unschedulable(request: &Value) -> Option<bool> {
    if let Some(ops) = request.as_array() {
        return ops.iter().find_map(|op| {
            (op["path"] == "/spec/unschedulable").then(|| match op["op"].as_str() {
                Some("remove") => false,
                _ => op["value"].as_bool().unwrap_or(false),
            })
        });
    }
    match &request["spec"]["unschedulable"] {
        Value::Bool(b) => Some(*b),
        Value::Null if request["spec"].get("unschedulable").is_some() => Some(false),
        _ => None,
    }
}
