//! nodehealth under test: the policies over the fleet, the release operator binary (one process
//! per shard), the wait for `N/N` healthy, the measure of one operator process (`/proc` and its
//! own `/metrics`), which shard handles which policy, and the time to detect one bad validator.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::{StreamExt, TryStreamExt};
use kube::Client;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use nodehealth::crd::NodeHealth;
use serde_json::{Value, json};

use crate::expo::{self, Page, page_of};
use crate::fleet::{GROUP_LABEL, Sims, pod_name};
use crate::procs::{self, Managed, PidFile, Sampled, free_port};

/// Probe timeout of the policies: the operator's default (`ProbeConfig::default`, 3 s), written
/// out so Prometheus can be given the same `scrape_timeout`.
pub const PROBE_TIMEOUT_SECONDS: u32 = 3;
/// The operator's families the figures come from (its per-pod gauges are skipped).
const FAMILIES: [&str; 7] = [
    "nodehealth_probes_total",
    "nodehealth_status_writes_total",
    "nodehealth_reconciles_total",
    "nodehealth_kube_requests_total",
    "nodehealth_probe_lateness_seconds",
    "nodehealth_scheduled_pods",
    "nodehealth_leader",
];
/// Between looks at a NodeHealth while timing detection: the measurement's resolution.
const DETECTION_POLL: Duration = Duration::from_millis(250);
/// Between progress lines while waiting.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// How long the operator may take to bind its HTTP address (it does so before anything else).
const SERVING_TIMEOUT: Duration = Duration::from_secs(30);
const SERVING_POLL: Duration = Duration::from_millis(50);

/// One NodeHealth and how many pods it selects.
pub struct Policy {
    pub name: String,
    pub pods: usize,
}

/// The policies over `n` pods: one `validators` over `app=validator`, or with `per_policy`
/// one `validators-gK` per group label (pods `K*per_policy..`, see `fleet::create_pods`).
pub fn plan(n: usize, per_policy: Option<usize>) -> Vec<(Policy, BTreeMap<String, String>)> {
    let app = ("app".to_owned(), "validator".to_owned());
    match per_policy {
        None => vec![(
            Policy {
                name: "validators".to_owned(),
                pods: n,
            },
            [app].into(),
        )],
        Some(size) => (0..n.div_ceil(size))
            .map(|g| {
                let policy = Policy {
                    name: format!("validators-g{g}"),
                    pods: size.min(n - g * size),
                };
                (policy, [app.clone(), (GROUP_LABEL.to_owned(), format!("g{g}"))].into())
            })
            .collect(),
    }
}

/// The bench's policy: Radix, both probes by port name, default assessment, no remediation.
pub fn spec(selector: &BTreeMap<String, String>, period: u32) -> Value {
    json!({
        "selector": {"matchLabels": selector},
        "profile": "radix",
        "probe": {"health": {"port": "health"}, "metrics": {"port": "metrics"},
                  "period": format!("{period}s"), "timeout": format!("{PROBE_TIMEOUT_SECONDS}s")},
    })
}

pub async fn create_policies(
    client: &Client,
    ns: &str,
    plan: &[(Policy, BTreeMap<String, String>)],
    period: u32,
) -> anyhow::Result<()> {
    let api: Api<NodeHealth> = Api::namespaced(client.clone(), ns);
    for (policy, selector) in plan {
        let nh: NodeHealth = serde_json::from_value(json!({
            "apiVersion": "nodehealth.io/v1alpha1", "kind": "NodeHealth",
            "metadata": {"name": policy.name}, "spec": spec(selector, period),
        }))?;
        api.create(&PostParams::default(), &nh)
            .await
            .with_context(|| format!("create NodeHealth {}", policy.name))?;
    }
    Ok(())
}

/// A running operator process, its shard and the address of its `/metrics`.
pub struct Operator {
    pub process: Managed,
    pub http: String,
    pub shard: u32,
}

impl Operator {
    /// `nodehealth run` for one namespace as shard `shard` of `total`, as the cluster admin,
    /// logging to `work/operator.log` (`work/operator-K.log` for shard K of several). Its
    /// identity is `bench-shard-K` and, leader election being on by default, its Lease
    /// `nodehealth-shard-K` goes into `ns`: fresh, so the one replica of a shard leads at once.
    pub fn start(
        bin: &str,
        kubeconfig: &Path,
        ns: &str,
        work: &Path,
        pids: &PidFile,
        shard: u32,
        total: u32,
    ) -> anyhow::Result<Operator> {
        let http = format!("127.0.0.1:{}", free_port()?);
        let identity = format!("bench-shard-{shard}");
        let log = if total == 1 {
            work.join("operator.log")
        } else {
            work.join(format!("operator-{shard}.log"))
        };
        let mut cmd = Command::new(bin);
        cmd.arg("run")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["--namespace", ns, "--http-addr", &http])
            .args(["--shard", &shard.to_string(), "--total-shards", &total.to_string()])
            .args(["--identity", &identity])
            .env("RUST_LOG", "info,kube=warn")
            // Plain text in the log file (tracing-subscriber honours NO_COLOR).
            .env("NO_COLOR", "1")
            .env("POD_NAME", &identity);
        let process = Managed::spawn("nodehealth", cmd, &log, pids)?;
        Ok(Operator { process, http, shard })
    }

    /// Waits until the operator answers on its HTTP address (any status: `/livez` says 503 until
    /// the watches have synced). Done right after the start, this also leaves a keep-alive
    /// connection in `http`'s pool before the probes can fill the operator's descriptor table:
    /// at 10,000 pods today's operator holds all 20,000 and accepts no new connection, but the
    /// pooled one still carries the `/metrics` reads.
    pub async fn wait_serving(&mut self, http: &reqwest::Client) -> anyhow::Result<()> {
        let url = format!("http://{}/livez", self.http);
        let deadline = Instant::now() + SERVING_TIMEOUT;
        loop {
            self.process.ensure_running()?;
            if http.get(&url).send().await.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                anyhow::bail!("the operator does not answer on {url} after {SERVING_TIMEOUT:?}");
            }
            tokio::time::sleep(SERVING_POLL).await;
        }
    }

    /// The operator's figures, read from its own `/metrics`.
    pub async fn page(&self, http: &reqwest::Client) -> anyhow::Result<Page> {
        Page::fetch(http, &self.http, &FAMILIES).await
    }

    /// Measures this operator process for `seconds`: `/proc` along the window, its `/metrics`
    /// at both ends. Several run side by side over the same window (one per shard). Fails if
    /// the process exits meanwhile.
    pub async fn measure(&mut self, http: &reqwest::Client, seconds: u64, ticks: f64) -> anyhow::Result<Measured> {
        let before = page_of(|| self.page(http)).await;
        let sampled = procs::sample(&mut self.process, seconds, ticks)
            .await
            .with_context(|| format!("sampling the operator of shard {}", self.shard))?;
        let after = page_of(|| self.page(http)).await;
        let shard = self.shard.to_string();
        let scheduled = "nodehealth_scheduled_pods";
        let leader = "nodehealth_leader";
        Ok(Measured {
            sampled,
            rates: before
                .as_ref()
                .zip(after.as_ref())
                .map(|(b, a)| Rates::between(b, a, sampled.seconds)),
            scheduled_pods: after
                .as_ref()
                .filter(|a| a.has(scheduled))
                .map(|a| a.sum(scheduled, |_| true)),
            leader: after
                .as_ref()
                .filter(|a| a.has(leader))
                .map(|a| a.sum(leader, |l| l.get("shard") == Some(&shard)) >= 1.0),
        })
    }
}

/// What [`Operator::measure`] found.
pub struct Measured {
    pub sampled: Sampled,
    /// `None` if a page could not be read.
    pub rates: Option<Rates>,
    /// `nodehealth_scheduled_pods` at the window's end (`None` if not exported).
    pub scheduled_pods: Option<f64>,
    /// Whether `nodehealth_leader` of its shard was 1 at the window's end.
    pub leader: Option<bool>,
}

/// The shard of each policy of `plan`, in its order: `status.shard` as the operator wrote it,
/// else (no status yet) the jump hash of its UID, which is what the operators compute.
pub async fn shards_of(
    api: &Api<NodeHealth>,
    plan: &[(Policy, BTreeMap<String, String>)],
    total: u32,
) -> anyhow::Result<Vec<u32>> {
    let listed = api.list(&ListParams::default()).await.context("list NodeHealths")?;
    let by_name: HashMap<String, &NodeHealth> = listed
        .items
        .iter()
        .filter_map(|nh| Some((nh.metadata.name.clone()?, nh)))
        .collect();
    plan.iter()
        .map(|(p, _)| {
            let nh = by_name
                .get(&p.name)
                .with_context(|| format!("NodeHealth {} is gone", p.name))?;
            if let Some(shard) = nh.status.as_ref().and_then(|s| s.shard) {
                return Ok(shard);
            }
            let uid = nh.metadata.uid.as_deref().context("a NodeHealth without a UID")?;
            Ok(nodehealth::shard::shard_of(uid, total))
        })
        .collect()
}

/// How far the policies got: healthy and total pods over all of them, and how many are `N/N`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub healthy: u64,
    pub total: u64,
    pub complete: usize,
    /// Policies with a status at all.
    pub statuses: usize,
}

impl std::fmt::Display for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.statuses == 0 {
            write!(f, "no status written")
        } else {
            write!(f, "{}/{} healthy", self.healthy, self.total)
        }
    }
}

/// Waits until every policy says `pods/pods`, watching the NodeHealths (a poll of a hundred
/// statuses every half second would load the API server the operators write to). `Ok(Err(last))`
/// when `timeout` passes first: the bench goes on and reports how far it got. `Err` if an
/// operator exits.
pub async fn wait_all_healthy(
    operators: &mut [Operator],
    api: &Api<NodeHealth>,
    plan: &[(Policy, BTreeMap<String, String>)],
    since: Instant,
    timeout: Duration,
) -> anyhow::Result<Result<Duration, Progress>> {
    let expected: HashMap<&str, String> = plan
        .iter()
        .map(|(p, _)| (p.name.as_str(), format!("{0}/{0}", p.pods)))
        .collect();
    // name -> (healthy, total, complete)
    let mut seen: HashMap<String, (u64, u64, bool)> = HashMap::new();
    let progress = |seen: &HashMap<String, (u64, u64, bool)>| Progress {
        healthy: seen.values().map(|v| v.0).sum(),
        total: seen.values().map(|v| v.1).sum(),
        complete: seen.values().filter(|v| v.2).count(),
        statuses: seen.len(),
    };
    let mut events = watcher(api.clone(), watcher::Config::default())
        .applied_objects()
        .boxed();
    let deadline = tokio::time::sleep_until(tokio::time::Instant::from_std(since + timeout));
    tokio::pin!(deadline);
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    loop {
        tokio::select! {
            ev = events.try_next() => {
                let nh = ev.context("watch NodeHealths")?.context("the NodeHealth watch ended")?;
                let name = nh.metadata.name.clone().unwrap_or_default();
                let (Some(want), Some(s)) = (expected.get(name.as_str()), nh.status.as_ref()) else { continue };
                seen.insert(name, (u64::from(s.healthy_pods), u64::from(s.total_pods), s.ready == *want));
                if progress(&seen).complete == plan.len() {
                    return Ok(Ok(since.elapsed()));
                }
            }
            _ = tick.tick() => {
                for op in operators.iter_mut() {
                    op.process.ensure_running()?;
                }
                eprintln!("[bench] {} ({:.0} s)", progress(&seen), since.elapsed().as_secs_f64());
            }
            () = &mut deadline => return Ok(Err(progress(&seen))),
        }
    }
}

/// The `Healthy` condition's status of a NodeHealth (`None` before the first status), and
/// whether its status lists pod `pod` as unhealthy.
async fn healthy(api: &Api<NodeHealth>, policy: &str, pod: &str) -> anyhow::Result<(Option<String>, bool)> {
    let nh = api
        .get(policy)
        .await
        .with_context(|| format!("get NodeHealth {policy}"))?;
    let Some(status) = nh.status else {
        return Ok((None, false));
    };
    let listed = status.pods.iter().any(|p| p.name == pod && !p.status.is_healthy());
    let condition = status.conditions.into_iter().find(|c| c.type_ == "Healthy");
    Ok((condition.map(|c| c.status), listed))
}

/// How detection went.
pub enum Detection {
    Seconds(f64),
    /// `Healthy` was not `True` before the change: nothing to detect against.
    NotHealthyBefore(Option<String>),
    TimedOut,
}

/// Puts validator `i` out of sync and times until its policy's `Healthy` condition is `False`
/// with the validator's pod listed unhealthy;
/// puts it back in sync either way.
///
/// The change is made at a random point of the probe period: the sampling window before is a
/// whole number of periods after the first sweep, so a change made right after it would always
/// land just before the next probe and measure the best case. A random phase measures what a
/// validator failing at any moment sees: on average half a period of waiting for its next
/// probe, plus the operator's own delay.
pub async fn detection(
    api: &Api<NodeHealth>,
    policy: &str,
    sims: &Sims,
    i: usize,
    period: u32,
    timeout: Duration,
) -> anyhow::Result<Detection> {
    let phase = Duration::from_secs(u64::from(period)).mul_f64(random_fraction());
    tokio::time::sleep(phase).await;
    let pod = pod_name(i);
    let (before, _) = healthy(api, policy, &pod).await?;
    if before.as_deref() != Some("True") {
        return Ok(Detection::NotHealthyBefore(before));
    }
    let sim = sims.client(i)?;
    let ip = sims.ip(i);
    // An hour behind and falling further behind at half real time: not_ready (OutOfSync) from
    // the next probe on (the e2e tests' `scene::out_of_sync`).
    let out_of_sync = json!({"mode": "catching_up", "rate": 0.5, "behind_seconds": 3600});
    sim.set_mode(Some(ip), out_of_sync)
        .await
        .with_context(|| format!("put {pod} ({ip}) out of sync"))?;
    let since = Instant::now();
    let detected = loop {
        // The pod's own row must say so: at scale another pod may fail meanwhile (status.pods
        // lists the worst first, so the row is there unless 100 pods are worse).
        let (condition, listed) = healthy(api, policy, &pod).await?;
        if condition.as_deref() == Some("False") && listed {
            break Detection::Seconds(since.elapsed().as_secs_f64());
        }
        if since.elapsed() > timeout {
            break Detection::TimedOut;
        }
        tokio::time::sleep(DETECTION_POLL).await;
    };
    sim.set_mode(Some(ip), json!({"mode": "synced"}))
        .await
        .with_context(|| format!("put {pod} back in sync"))?;
    Ok(detected)
}

/// A fraction in [0, 1) from std's randomly keyed hasher (no rand crate for one number).
fn random_fraction() -> f64 {
    use std::hash::BuildHasher;
    let r = std::collections::hash_map::RandomState::new().hash_one(std::process::id());
    (r >> 11) as f64 / (1u64 << 53) as f64
}

/// The operator's rates over a window, from its pages at both ends.
pub struct Rates {
    pub probes_per_s: f64,
    pub probe_errors_per_s: f64,
    pub status_writes_per_min: f64,
    pub status_write_errors_per_min: f64,
    pub reconciles_per_min: f64,
    pub reconcile_errors_per_min: f64,
    /// `None` while the operator does not export `nodehealth_kube_requests_total`.
    pub kube_requests_per_min: Option<BTreeMap<String, f64>>,
    /// `None` without `nodehealth_probe_lateness_seconds` or without a probe in the window.
    pub lateness_p50_s: Option<f64>,
    pub lateness_p99_s: Option<f64>,
}

impl Rates {
    pub fn between(before: &Page, after: &Page, seconds: f64) -> Rates {
        let minutes = seconds / 60.0;
        let all = |_: &BTreeMap<String, String>| true;
        let failed = |l: &BTreeMap<String, String>| l.get("result").is_some_and(|r| r != "ok");
        let delta = |name: &str, keep: &dyn Fn(&BTreeMap<String, String>) -> bool| {
            after.sum(name, keep) - before.sum(name, keep)
        };
        let kube = "nodehealth_kube_requests_total";
        let lateness = "nodehealth_probe_lateness_seconds";
        let buckets = expo::bucket_increase(&before.buckets(lateness), &after.buckets(lateness));
        Rates {
            probes_per_s: delta("nodehealth_probes_total", &all) / seconds,
            probe_errors_per_s: delta("nodehealth_probes_total", &failed) / seconds,
            status_writes_per_min: delta("nodehealth_status_writes_total", &all) / minutes,
            status_write_errors_per_min: delta("nodehealth_status_writes_total", &failed) / minutes,
            reconciles_per_min: delta("nodehealth_reconciles_total", &all) / minutes,
            reconcile_errors_per_min: delta("nodehealth_reconciles_total", &failed) / minutes,
            kube_requests_per_min: after.has(kube).then(|| {
                expo::increase(&before.by_label(kube, "verb"), &after.by_label(kube, "verb"))
                    .into_iter()
                    .map(|(verb, n)| (verb, n / minutes))
                    .collect()
            }),
            lateness_p50_s: expo::quantile(0.5, &buckets),
            lateness_p99_s: expo::quantile(0.99, &buckets),
        }
    }
}
