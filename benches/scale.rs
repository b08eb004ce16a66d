//! Scale: nodehealth against Prometheus on the same simulated fleet of N Radix validators.
//!
//! Run it through `scripts/bench-scale.sh N [SECONDS] [--policies-of K] [--shards S]`, which
//! brings up the control plane and installs Prometheus first. In order: simulators and N Running
//! pods; the CRD, the NodeHealth(s) and the release operator (with `--shards S`, S processes, one
//! per shard), timed until `N/N` healthy; SECONDS of sampling of each operator process over the
//! same window (CPU, peak RSS, open files, its own metrics); the time to see one validator go out
//! of sync; then the operators stopped and (unless `--skip-prometheus`) Prometheus scraping the
//! same N metrics endpoints, sampled the same way. Prints one JSON line per system (per shard and
//! one for the shards together with S above 1), the ratios and a markdown table on stdout;
//! progress on stderr. Whatever happens (error, SIGINT, SIGTERM) it stops what it started and
//! deletes what it created on the control plane.
//!
//! Without `--bench` (as `cargo test --benches` runs it) it does nothing.

#[path = "scale/cluster.rs"]
mod cluster;
#[path = "scale/expo.rs"]
mod expo;
#[path = "scale/fleet.rs"]
mod fleet;
#[path = "scale/operator.rs"]
mod operator;
#[path = "scale/procs.rs"]
mod procs;
#[path = "scale/prom.rs"]
mod prom;
#[path = "scale/report.rs"]
mod report;

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use clap::Parser;
use futures::FutureExt;
use kube::api::Api;
use nodehealth::crd::NodeHealth;
use tokio::signal::unix::{SignalKind, signal};

use crate::cluster::Footprint;
use crate::expo::page_of;
use crate::fleet::Sims;
use crate::operator::{Detection, Measured, Operator, PROBE_TIMEOUT_SECONDS};
use crate::procs::PidFile;
use crate::prom::Prometheus;
use crate::report::{
    NodehealthLine, Outcome, ProcessFigures, PrometheusLine, RatioLine, ShardLine, ShardsLine,
    ms_per_validator_per_period, ratio, round,
};

/// Grace of a SIGTERM before SIGKILL: the operator stops its watches at once; Prometheus writes
/// its head to the WAL, a few seconds for 10,000 targets.
const OPERATOR_GRACE: Duration = Duration::from_secs(10);
const PROMETHEUS_GRACE: Duration = Duration::from_secs(30);

#[derive(Debug, Parser)]
#[command(name = "scale", about = "nodehealth against Prometheus on N simulated validators")]
struct Args {
    /// Validators: simulated nodes, pods and Prometheus targets.
    #[arg(required_unless_present = "cleanup")]
    validators: Option<usize>,
    /// Seconds each system is sampled.
    #[arg(default_value_t = 120)]
    seconds: u64,
    /// One NodeHealth per this many pods (selected by an extra label) instead of one for all.
    #[arg(long)]
    policies_of: Option<usize>,
    /// Probe period of the policies and scrape interval of Prometheus, seconds.
    #[arg(long, default_value_t = 15)]
    period: u32,
    /// Operator processes, one per shard (`--shard K --total-shards S`); above 1 it needs
    /// `--policies-of` (a single NodeHealth gives one shard all the work).
    #[arg(long, default_value_t = 1)]
    shards: u32,
    /// Skip Prometheus (step 6): no Prometheus line, no ratios.
    #[arg(long)]
    skip_prometheus: bool,
    /// Kubeconfig of the control plane (`scripts/cluster.sh env`).
    #[arg(long)]
    kubeconfig: PathBuf,
    /// Directory for logs, the Prometheus config and its TSDB (the script makes a fresh one).
    #[arg(long)]
    work_dir: PathBuf,
    /// The Prometheus binary.
    #[arg(long, default_value = "prometheus")]
    prometheus: PathBuf,
    /// Seconds to wait for `N/N` healthy before sampling anyway (and reporting how far it got).
    #[arg(long, default_value_t = 300)]
    ready_timeout: u64,
    /// Only delete what a killed bench left on the control plane, as recorded in this file
    /// (WORK_DIR/footprint), and exit.
    #[arg(long, value_name = "FILE")]
    cleanup: Option<PathBuf>,
    /// Set by `cargo bench`.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> ExitCode {
    if !std::env::args().any(|a| a == "--bench") {
        return ExitCode::SUCCESS;
    }
    let args = Args::parse();
    // One thread: the bench mostly waits, and should take as little CPU from the measured
    // processes as it can on this 2-core machine.
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("[bench] cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match args.cleanup.clone() {
        Some(record) => runtime.block_on(cleanup_after_kill(&args.kubeconfig, &record)),
        None => runtime.block_on(bench(args)),
    }
}

/// `--cleanup FILE`: deletes what a killed bench recorded (its pods, namespace, nodes, the CRD
/// if it created it).
async fn cleanup_after_kill(kubeconfig: &Path, record: &Path) -> ExitCode {
    nodehealth::install_crypto_provider();
    let footprint = match cluster::client(kubeconfig).await {
        Ok(client) => Footprint::load(client, record),
        Err(e) => Err(e),
    };
    match footprint {
        Ok(f) => {
            eprintln!("[bench] deleting what a killed bench left: namespace {}", f.ns);
            f.cleanup().await;
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("[bench] cleanup: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Everything the bench started or created, stopped and deleted by [`Started::teardown`].
#[derive(Default)]
struct Started {
    sims: Option<Sims>,
    footprint: Option<Footprint>,
    operators: Vec<Operator>,
    prometheus: Option<Prometheus>,
    work_dir: PathBuf,
}

impl Started {
    async fn teardown(&mut self) {
        stop_operators(&mut self.operators).await;
        if let Some(mut p) = self.prometheus.take() {
            p.process.stop(PROMETHEUS_GRACE).await;
        }
        if let Some(f) = self.footprint.take() {
            f.cleanup().await;
        }
        // Dropping a simulator kills it.
        self.sims.take();
        // The TSDB can be large; the logs stay for a look afterwards.
        let _ = std::fs::remove_dir_all(self.work_dir.join("tsdb"));
    }
}

async fn bench(args: Args) -> ExitCode {
    let mut started = Started {
        work_dir: args.work_dir.clone(),
        ..Started::default()
    };
    let (mut int, mut term) = match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
        (Ok(i), Ok(t)) => (i, t),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("[bench] cannot handle signals: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The handlers stay installed through the teardown, so a second Ctrl-C cannot cut it short.
    // A panic is turned into an error so that the teardown below still runs.
    let guarded = AssertUnwindSafe(run(&args, &mut started)).catch_unwind();
    let outcome = tokio::select! {
        r = guarded => r.unwrap_or_else(|panic| Err(anyhow!("panicked: {}", panic_text(&panic)))),
        _ = int.recv() => Err(anyhow!("interrupted (SIGINT)")),
        _ = term.recv() => Err(anyhow!("terminated (SIGTERM)")),
    };
    if let Err(e) = &outcome {
        eprintln!("[bench] FAILED: {e:#}");
    }
    eprintln!(
        "[bench] stopping what the bench started; logs stay in {}",
        args.work_dir.display()
    );
    started.teardown().await;
    if outcome.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn run(args: &Args, started: &mut Started) -> anyhow::Result<()> {
    let n = args.validators.unwrap_or(0);
    if n == 0 || args.period == 0 || args.seconds == 0 || args.policies_of == Some(0) || args.shards == 0 {
        bail!("N, SECONDS, --period, --policies-of and --shards must be at least 1");
    }
    let total = args.shards;
    if total > 1 {
        let Some(k) = args.policies_of else {
            bail!("--shards {total} needs --policies-of K: with a single NodeHealth only one shard would have work");
        };
        if n.div_ceil(k) < total as usize {
            bail!(
                "--shards {total} needs at least {total} NodeHealths, and N={n} with --policies-of {k} makes {}",
                n.div_ceil(k)
            );
        }
    }
    // kube and reqwest are built without a TLS provider of their own (see src/lib.rs).
    nodehealth::install_crypto_provider();
    let ticks = procs::clock_ticks_per_second()?;
    let pids = PidFile::create(args.work_dir.join("pids"))?;
    // Idle connections are kept for good: see `Operator::wait_serving`.
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .pool_idle_timeout(None)
        .build()?;

    // Step 2: the fleet.
    let sims = started
        .sims
        .insert(Sims::start(env!("CARGO_BIN_EXE_nodehealth-sim"), n, &pids).context("step 2 (simulators)")?);
    let client = cluster::client(&args.kubeconfig)
        .await
        .context("step 2 (kube client)")?;
    let ns = format!("bench-scale-{:x}", std::process::id());
    // Recorded before it exists, so that a half-made namespace is cleaned up too.
    let footprint = started.footprint.insert(Footprint {
        client: client.clone(),
        ns: ns.clone(),
        crd_created: false,
        record: args.work_dir.join("footprint"),
    });
    footprint.save()?;
    cluster::create_namespace(&client, &ns)
        .await
        .context("step 2 (namespace)")?;
    let nodes = fleet::create_nodes(&client, &ns).await.context("step 2 (nodes)")?;
    eprintln!("[bench] creating {n} pods in namespace {ns}");
    let group = args.policies_of.unwrap_or(n);
    let pods_took = fleet::create_pods(&client, &ns, sims, group, &nodes)
        .await
        .context("step 2 (pods)")?;

    // Step 3: the operator(s), until every policy is N/N.
    footprint.crd_created = !cluster::crd_exists(&client).await.context("step 3 (CRD)")?;
    footprint.save()?;
    cluster::apply_crd(&client).await.context("step 3 (CRD)")?;
    let plan = operator::plan(n, args.policies_of);
    operator::create_policies(&client, &ns, &plan, args.period)
        .await
        .context("step 3 (NodeHealths)")?;
    let since = Instant::now();
    for shard in 0..total {
        let op = Operator::start(
            env!("CARGO_BIN_EXE_nodehealth"),
            &args.kubeconfig,
            &ns,
            &args.work_dir,
            &pids,
            shard,
            total,
        )
        .with_context(|| format!("step 3 (operator of shard {shard})"))?;
        started.operators.push(op);
    }
    let ops = &mut started.operators;
    for op in ops.iter_mut() {
        op.wait_serving(&http)
            .await
            .with_context(|| format!("step 3 (operator of shard {})", op.shard))?;
    }
    let addrs: Vec<&str> = ops.iter().map(|op| op.http.as_str()).collect();
    if total == 1 {
        eprintln!(
            "[bench] operator on {} for {} NodeHealth(s); waiting for {n}/{n} healthy",
            addrs[0],
            plan.len()
        );
    } else {
        eprintln!(
            "[bench] {total} operators (shards 0..{total}) on {} for {} NodeHealths; waiting for {n}/{n} healthy",
            addrs.join(", "),
            plan.len()
        );
    }
    let api: Api<NodeHealth> = Api::namespaced(client.clone(), &ns);
    let ready = operator::wait_all_healthy(ops, &api, &plan, since, Duration::from_secs(args.ready_timeout))
        .await
        .context("step 3 (waiting for N/N healthy)")?;
    let (time_to_all_healthy, healthy_when_sampled) = match ready {
        Ok(took) => (Some(took.as_secs_f64()), format!("{n}/{n} healthy")),
        Err(p) => {
            eprintln!(
                "[bench] not all healthy after {} s ({p}, {}/{} policies): sampling anyway",
                args.ready_timeout,
                p.complete,
                plan.len()
            );
            (None, p.to_string())
        }
    };
    // Which shard has which policy: by status.shard, as the operators wrote it.
    let shard_of = operator::shards_of(&api, &plan, total)
        .await
        .context("step 3 (the shards of the NodeHealths)")?;
    let mut validators_by_shard = vec![0usize; total as usize];
    let mut policies_by_shard = vec![0usize; total as usize];
    for ((policy, _), &k) in plan.iter().zip(&shard_of) {
        validators_by_shard[k as usize] += policy.pods;
        policies_by_shard[k as usize] += 1;
    }
    if total > 1 {
        eprintln!(
            "[bench] NodeHealths by shard: {:?}, validators by shard: {validators_by_shard:?}",
            policies_by_shard
        );
        for (k, p) in policies_by_shard.iter().enumerate() {
            if *p == 0 {
                eprintln!("[bench] WARNING: shard {k} has no NodeHealth (the jump hash put none there): it idles");
            }
        }
    }

    // Step 4: sample the operator(s), side by side over the same window.
    if total == 1 {
        eprintln!("[bench] sampling nodehealth for {} s", args.seconds);
    } else {
        eprintln!("[bench] sampling the {total} operators for {} s", args.seconds);
    }
    let measured: Vec<Measured> =
        futures::future::try_join_all(ops.iter_mut().map(|op| op.measure(&http, args.seconds, ticks)))
            .await
            .context("step 4 (sampling)")?;

    // Step 5: detection of one validator going out of sync.
    let bad = n / 2;
    let policy = &plan[bad / group].0.name;
    // The next probe comes within a period; the rest is room for a sweep and a status write
    // that lag at scale (a miss is reported as null, not as a failure).
    let detection_timeout = Duration::from_secs(4 * u64::from(args.period) + 30);
    eprintln!(
        "[bench] putting {} out of sync at a random point of the next {} s",
        fleet::pod_name(bad),
        args.period
    );
    let detection = match operator::detection(&api, policy, sims, bad, args.period, detection_timeout)
        .await
        .context("step 5 (detection)")?
    {
        Detection::Seconds(s) => Some(s),
        Detection::NotHealthyBefore(was) => {
            eprintln!("[bench] detection not measured: {policy} was not Healthy=True before (it was {was:?})");
            None
        }
        Detection::TimedOut => {
            eprintln!("[bench] the out-of-sync validator was not reported within {detection_timeout:?}");
            None
        }
    };
    stop_operators(&mut started.operators).await;
    let outcome = Outcome {
        time_to_all_healthy_s: time_to_all_healthy.map(|t| round(t, 1)),
        detection_s: detection.map(|t| round(t, 1)),
        policies: plan.len(),
        healthy_when_sampled,
    };

    // Step 6: Prometheus on the same endpoints.
    let prometheus = if args.skip_prometheus {
        eprintln!("[bench] skipping Prometheus (--skip-prometheus)");
        None
    } else {
        Some(prometheus(args, started, &pids, &http, ticks).await?)
    };
    let sims = started.sims.as_ref().context("the simulators are gone")?;

    // Step 7: report.
    let fleet = format!(
        "fleet: {n} validators in {} simulator processes; {n} pods created and Running in {:.1} s ({:.0} pods/s)",
        sims.processes.len(),
        pods_took.as_secs_f64(),
        n as f64 / pods_took.as_secs_f64()
    );
    let ratios = |cpu: f64, rss: f64| {
        prometheus.as_ref().map(|p| RatioLine {
            system: "ratio",
            cpu_per_validator_per_period: ratio(cpu, p.cpu_ms_per_validator_per_period),
            peak_rss: ratio(rss, p.peak_rss_mib),
            nodehealth_all_healthy: outcome.time_to_all_healthy_s.is_some(),
        })
    };
    let table = if total == 1 {
        let nodehealth = NodehealthLine::new(ProcessFigures::of(&measured[0], n, args.period), outcome.clone());
        let ratios = ratios(nodehealth.cpu_ms_per_validator_per_period, nodehealth.peak_rss_mib);
        println!("{}", serde_json::to_string(&nodehealth)?);
        print_prometheus(prometheus.as_ref(), ratios.as_ref())?;
        report::table(&nodehealth, prometheus.as_ref(), ratios.as_ref())
    } else {
        let shards: Vec<ShardLine> = ops_lines(&measured, &validators_by_shard, &policies_by_shard, args.period);
        let all = ShardsLine::new(&shards, n, args.period, outcome.clone());
        let ratios = ratios(all.cpu_ms_per_validator_per_period, all.sum_peak_rss_mib);
        for line in &shards {
            println!("{}", serde_json::to_string(line)?);
        }
        println!("{}", serde_json::to_string(&all)?);
        print_prometheus(prometheus.as_ref(), ratios.as_ref())?;
        report::shards_table(&shards, &all, prometheus.as_ref(), ratios.as_ref())
    };
    println!();
    println!("{fleet}");
    println!();
    print!("{table}");
    Ok(())
}

/// One line per shard, from its operator's measure (in shard order) and its policies.
fn ops_lines(measured: &[Measured], validators: &[usize], policies: &[usize], period: u32) -> Vec<ShardLine> {
    let total = measured.len() as u32;
    measured
        .iter()
        .zip(validators.iter().zip(policies))
        .zip(0..)
        .map(|((m, (&v, &p)), shard)| ShardLine {
            system: "nodehealth-shard",
            shard,
            total_shards: total,
            figures: ProcessFigures::of(m, v, period),
            policies: p,
            scheduled_pods: m.scheduled_pods,
            leader: m.leader,
        })
        .collect()
}

fn print_prometheus(p: Option<&PrometheusLine>, r: Option<&RatioLine>) -> anyhow::Result<()> {
    if let Some(p) = p {
        println!("{}", serde_json::to_string(p)?);
    }
    if let Some(r) = r {
        println!("{}", serde_json::to_string(r)?);
    }
    Ok(())
}

/// Stops every operator process at once (each gets its grace).
async fn stop_operators(operators: &mut Vec<Operator>) {
    futures::future::join_all(operators.iter_mut().map(|op| op.process.stop(OPERATOR_GRACE))).await;
    operators.clear();
}

/// Step 6: Prometheus scraping the fleet's N metrics endpoints, sampled as the operators were.
async fn prometheus(
    args: &Args,
    started: &mut Started,
    pids: &PidFile,
    http: &reqwest::Client,
    ticks: f64,
) -> anyhow::Result<PrometheusLine> {
    let n = args.validators.unwrap_or(0);
    let sims = started.sims.as_ref().context("the simulators are gone")?;
    let config = prom::config(sims, args.period, PROBE_TIMEOUT_SECONDS);
    let since = Instant::now();
    let p = started.prometheus.insert(
        Prometheus::start(&args.prometheus, &config, &args.work_dir, pids, http.clone())
            .await
            .context("step 6 (Prometheus)")?,
    );
    eprintln!("[bench] Prometheus on {}; waiting for {n} targets up", p.addr);
    let up_timeout = Duration::from_secs(3 * u64::from(args.period) + 60);
    let all_up = p
        .wait_all_up(n, since, up_timeout)
        .await
        .context("step 6 (waiting for the targets)")?;
    eprintln!("[bench] sampling Prometheus for {} s", args.seconds);
    let before = page_of(|| p.page()).await;
    let ps = procs::sample(&mut p.process, args.seconds, ticks)
        .await
        .context("step 6 (sampling Prometheus)")?;
    let after = page_of(|| p.page()).await;
    Ok(PrometheusLine {
        system: "prometheus",
        validators: n,
        period_s: args.period,
        cpu_cores: round(ps.cpu_cores, 4),
        cpu_ms_per_validator_per_period: round(ms_per_validator_per_period(ps.cpu_cores, args.period, n), 4),
        peak_rss_mib: round(ps.peak_rss_mib, 1),
        fds: ps.max_fds,
        scrapes_per_s: before
            .as_ref()
            .zip(after.as_ref())
            .map(|(b, a)| round(prom::scrapes_per_s(b, a, ps.seconds), 2)),
        head_series: after.as_ref().map(prom::head_series),
        time_to_all_up_s: all_up.map(|t| round(t, 1)),
        sampled_s: round(ps.seconds, 1),
        host_busy_cores: round(ps.host_busy_cores, 2),
    })
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "(no message)".to_owned())
}
