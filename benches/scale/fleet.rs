//! The simulated fleet: `nodehealth-sim` processes for the validators, and one pod per
//! validator in a fresh namespace, made Running with the simulator's address as a kubelet would.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use nodehealth::sim::{SimClient, SimProcess};
use serde_json::json;

use crate::procs::PidFile;

/// Validators per simulator process. A process holds 2 listeners per validator plus the live
/// connections of whoever probes them: the operator keeps one idle keep-alive connection per
/// pod and port (`pool_max_idle_per_host(1)` in `src/probe.rs`), so up to 4 descriptors per
/// validator: 4 × 3,000 = 12,000, well under the 20,000 open-files limit of this machine.
pub const MAX_PER_SIM: usize = 3_000;
/// Attempts at a free random IP range per simulator (a clash exits with code 3 and is retried).
const SIM_ATTEMPTS: u32 = 5;
/// Pod writes in flight at once: enough to keep the API server busy on 2 cores, far below its
/// `--max-requests-inflight` (400) and `--max-mutating-requests-inflight` (200) defaults.
const IN_FLIGHT: usize = 48;
/// Nodes the pods are spread over (pods carry `spec.nodeName` as scheduled pods do).
pub const NODES: usize = 2;
/// Radix ports, as the simulator serves them and as the pods declare them.
pub const HEALTH_PORT: u16 = 3334;
pub const METRICS_PORT: u16 = 3335;
/// Label of the bench's cluster-scoped objects (nodes), so cleanup finds them.
pub const BENCH_LABEL: &str = "nodehealth.io/bench-scale";
/// Label grouping pods for the `--policies-of` variant (one NodeHealth per group).
pub const GROUP_LABEL: &str = "nodehealth.io/bench-group";

/// The simulator processes and the address of each validator.
pub struct Sims {
    pub processes: Vec<SimProcess>,
    per_process: usize,
}

impl Sims {
    /// Starts `ceil(n / MAX_PER_SIM)` simulators sharing `n` Radix validators evenly.
    pub fn start(bin: &str, n: usize, pids: &PidFile) -> anyhow::Result<Sims> {
        let count = n.div_ceil(MAX_PER_SIM);
        let per_process = n.div_ceil(count);
        let mut processes = Vec::with_capacity(count);
        for k in 0..count {
            let size = per_process.min(n - k * per_process);
            let sim = SimProcess::spawn_random_range(bin, size as u32, &["--profile", "radix"], SIM_ATTEMPTS)
                .with_context(|| format!("simulator {} of {count} ({size} validators)", k + 1))?;
            pids.add(sim.pid(), "nodehealth-sim")?;
            eprintln!(
                "[bench] simulator {}/{count}: {size} validators {}..{}",
                k + 1,
                sim.started.first_ip,
                sim.started.last_ip
            );
            processes.push(sim);
        }
        Ok(Sims { processes, per_process })
    }

    /// The address of validator `i` (0-based over the whole fleet).
    pub fn ip(&self, i: usize) -> Ipv4Addr {
        self.processes[i / self.per_process]
            .ip(i % self.per_process)
            .expect("index within the fleet")
    }

    /// The admin client of the simulator serving validator `i`.
    pub fn client(&self, i: usize) -> anyhow::Result<SimClient> {
        self.processes[i / self.per_process].client()
    }

    pub fn len(&self) -> usize {
        self.processes.iter().map(|p| p.started.validators).sum()
    }
}

/// Pod `i`'s name.
pub fn pod_name(i: usize) -> String {
    format!("validator-{i}")
}

/// Node objects for the pods' `spec.nodeName`, labelled for cleanup.
pub async fn create_nodes(client: &Client, ns: &str) -> anyhow::Result<Vec<String>> {
    let nodes: Api<Node> = Api::all(client.clone());
    let mut names = Vec::new();
    for k in 0..NODES {
        let name = format!("{ns}-node-{k}");
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {BENCH_LABEL: ns, "kubernetes.io/hostname": name}},
        }))?;
        nodes
            .create(&PostParams::default(), &node)
            .await
            .with_context(|| format!("create node {name}"))?;
        names.push(name);
    }
    Ok(names)
}

/// Creates pods `validator-0..n`, each then status-patched to Running with its simulator IP,
/// `IN_FLIGHT` at a time over one client. Pod `i` is in group `i / group_size`.
pub async fn create_pods(
    client: &Client,
    ns: &str,
    sims: &Sims,
    group_size: usize,
    nodes: &[String],
) -> anyhow::Result<Duration> {
    let n = sims.len();
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let started = Instant::now();
    let done = AtomicUsize::new(0);
    futures::stream::iter(0..n)
        .map(Ok::<usize, anyhow::Error>)
        .try_for_each_concurrent(IN_FLIGHT, |i| {
            let (pods, done) = (&pods, &done);
            async move {
                let group = format!("g{}", i / group_size);
                run_pod(pods, &pod_name(i), &nodes[i % nodes.len()], sims.ip(i), &group).await?;
                let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                if d % 1000 == 0 || d == n {
                    eprintln!(
                        "[bench] pods running: {d}/{n} ({:.1} s)",
                        started.elapsed().as_secs_f64()
                    );
                }
                Ok(())
            }
        })
        .await?;
    Ok(started.elapsed())
}

async fn run_pod(pods: &Api<Pod>, name: &str, node: &str, ip: Ipv4Addr, group: &str) -> anyhow::Result<()> {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "validator", GROUP_LABEL: group}},
        "spec": {
            "nodeName": node,
            // No token controller runs on this control plane.
            "automountServiceAccountToken": false,
            "containers": [{"name": "validator", "image": "nodehealth-sim:bench", "ports": [
                {"name": "health", "containerPort": HEALTH_PORT},
                {"name": "metrics", "containerPort": METRICS_PORT},
            ]}],
        }
    }))?;
    pods.create(&PostParams::default(), &pod)
        .await
        .with_context(|| format!("create pod {name}"))?;
    // Started an hour ago, as a long-running validator (as tests/support/kubelet.rs does).
    let started = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second() - 3600)?.to_string();
    let ip = ip.to_string();
    let cond = |t: &str| json!({"type": t, "status": "True", "lastTransitionTime": started});
    let status = json!({"status": {
        "phase": "Running",
        "hostIP": "127.0.0.1",
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "startTime": started,
        "conditions": [cond("Initialized"), cond("Ready"), cond("ContainersReady"), cond("PodScheduled")],
        "containerStatuses": [{"name": "validator", "ready": true, "started": true, "restartCount": 0,
            "image": "nodehealth-sim:bench", "imageID": "", "state": {"running": {"startedAt": started}}}],
    }});
    let patched = pods
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .with_context(|| format!("set pod {name} Running"))?;
    if patched.status.and_then(|s| s.pod_ip).as_deref() != Some(ip.as_str()) {
        bail!("pod {name}: the API server did not keep podIP {ip}");
    }
    Ok(())
}
