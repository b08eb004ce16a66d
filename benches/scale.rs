//! Scale: nodehealth against Prometheus on the same simulated fleet of N Radix validators.
//!
//! Run it through `scripts/bench-scale.sh N [SECONDS] [--policies-of K]`, which brings up the
//! control plane and installs Prometheus first. In order: simulators and N Running pods; the CRD,
//! the NodeHealth(s) and the release operator, timed until `N/N` healthy; SECONDS of sampling of
//! the operator (CPU, peak RSS, open files, its own metrics); the time to see one validator go
//! out of sync; then the operator stopped and Prometheus scraping the same N metrics endpoints,
//! sampled the same way. Prints one JSON line per system, the ratios and a markdown table on
//! stdout; progress on stderr. Whatever happens (error, SIGINT, SIGTERM) it stops what it started
//! and deletes what it created on the control plane.
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
use crate::fleet::Sims;
use crate::operator::{Detection, Operator, PROBE_TIMEOUT_SECONDS, Rates};
use crate::procs::{PidFile, Sampled};
use crate::prom::Prometheus;
use crate::report::{NodehealthLine, PrometheusLine, RatioLine, ms_per_validator_per_period, ratio, round};

/// Grace of a SIGTERM before SIGKILL: the operator stops its watches at once; Prometheus writes
/// its head to the WAL, a few seconds for 10,000 targets.
const OPERATOR_GRACE: Duration = Duration::from_secs(10);
const PROMETHEUS_GRACE: Duration = Duration::from_secs(30);
/// Attempts at reading a `/metrics` page, a second apart (an operator out of descriptors may
/// fail to accept one connection and take the next).
const PAGE_ATTEMPTS: u32 = 3;

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
    operator: Option<Operator>,
    prometheus: Option<Prometheus>,
    work_dir: PathBuf,
}

impl Started {
    async fn teardown(&mut self) {
        if let Some(mut op) = self.operator.take() {
            op.process.stop(OPERATOR_GRACE).await;
        }
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
    if n == 0 || args.period == 0 || args.seconds == 0 || args.policies_of == Some(0) {
        bail!("N, SECONDS, --period and --policies-of must be at least 1");
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

    // Step 3: the operator, until every policy is N/N.
    footprint.crd_created = !cluster::crd_exists(&client).await.context("step 3 (CRD)")?;
    footprint.save()?;
    cluster::apply_crd(&client).await.context("step 3 (CRD)")?;
    let plan = operator::plan(n, args.policies_of);
    operator::create_policies(&client, &ns, &plan, args.period)
        .await
        .context("step 3 (NodeHealths)")?;
    let since = Instant::now();
    let op = started.operator.insert(
        Operator::start(
            env!("CARGO_BIN_EXE_nodehealth"),
            &args.kubeconfig,
            &ns,
            &args.work_dir,
            &pids,
        )
        .context("step 3 (operator)")?,
    );
    op.wait_serving(&http).await.context("step 3 (operator)")?;
    eprintln!(
        "[bench] operator on {} for {} NodeHealth(s); waiting for {n}/{n} healthy",
        op.http,
        plan.len()
    );
    let api: Api<NodeHealth> = Api::namespaced(client.clone(), &ns);
    let ready = operator::wait_all_healthy(op, &api, &plan, since, Duration::from_secs(args.ready_timeout))
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

    // Step 4: sample the operator.
    eprintln!("[bench] sampling nodehealth for {} s", args.seconds);
    let before = page_of(|| op.page(&http)).await;
    let s = procs::sample(&mut op.process, args.seconds, ticks)
        .await
        .context("step 4 (sampling the operator)")?;
    let after = page_of(|| op.page(&http)).await;
    let rates = before.zip(after).map(|(b, a)| Rates::between(&b, &a, s.seconds));

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
    let nodehealth = nodehealth_line(
        args,
        &s,
        rates,
        time_to_all_healthy,
        detection,
        plan.len(),
        healthy_when_sampled,
    );
    if let Some(mut op) = started.operator.take() {
        op.process.stop(OPERATOR_GRACE).await;
    }

    // Step 6: Prometheus on the same endpoints.
    let config = prom::config(sims, args.period, PROBE_TIMEOUT_SECONDS);
    let since = Instant::now();
    let p = started.prometheus.insert(
        Prometheus::start(&args.prometheus, &config, &args.work_dir, &pids, http.clone())
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
    let prometheus = PrometheusLine {
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
    };

    // Step 7: report.
    let ratios = RatioLine {
        system: "ratio",
        cpu_per_validator_per_period: ratio(
            nodehealth.cpu_ms_per_validator_per_period,
            prometheus.cpu_ms_per_validator_per_period,
        ),
        peak_rss: ratio(nodehealth.peak_rss_mib, prometheus.peak_rss_mib),
        nodehealth_all_healthy: nodehealth.time_to_all_healthy_s.is_some(),
    };
    println!("{}", serde_json::to_string(&nodehealth)?);
    println!("{}", serde_json::to_string(&prometheus)?);
    println!("{}", serde_json::to_string(&ratios)?);
    println!();
    println!(
        "fleet: {n} validators in {} simulator processes; {n} pods created and Running in {:.1} s ({:.0} pods/s)",
        sims.processes.len(),
        pods_took.as_secs_f64(),
        n as f64 / pods_took.as_secs_f64()
    );
    println!();
    print!("{}", report::table(&nodehealth, &prometheus, &ratios));
    Ok(())
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "(no message)".to_owned())
}

fn nodehealth_line(
    args: &Args,
    s: &Sampled,
    rates: Option<Rates>,
    time_to_all_healthy: Option<f64>,
    detection: Option<f64>,
    policies: usize,
    healthy_when_sampled: String,
) -> NodehealthLine {
    let r2 = |x: f64| round(x, 2);
    let rate = |f: fn(&Rates) -> f64| rates.as_ref().map(|r| r2(f(r)));
    let n = args.validators.unwrap_or(0);
    NodehealthLine {
        system: "nodehealth",
        validators: n,
        period_s: args.period,
        cpu_cores: round(s.cpu_cores, 4),
        cpu_ms_per_validator_per_period: round(ms_per_validator_per_period(s.cpu_cores, args.period, n), 4),
        peak_rss_mib: round(s.peak_rss_mib, 1),
        fds: s.max_fds,
        probes_per_s: rate(|r| r.probes_per_s),
        status_writes_per_min: rate(|r| r.status_writes_per_min),
        reconciles_per_min: rate(|r| r.reconciles_per_min),
        kube_requests_per_min: rates
            .as_ref()
            .and_then(|r| r.kube_requests_per_min.clone())
            .map(|m| m.into_iter().map(|(k, v)| (k, r2(v))).collect()),
        probe_lateness_p50_s: rates.as_ref().and_then(|r| r.lateness_p50_s).map(|x| round(x, 3)),
        probe_lateness_p99_s: rates.as_ref().and_then(|r| r.lateness_p99_s).map(|x| round(x, 3)),
        time_to_all_healthy_s: time_to_all_healthy.map(|t| round(t, 1)),
        detection_s: detection.map(|t| round(t, 1)),
        policies,
        sampled_s: round(s.seconds, 1),
        healthy_when_sampled,
        probe_errors_per_s: rate(|r| r.probe_errors_per_s),
        status_write_errors_per_min: rate(|r| r.status_write_errors_per_min),
        reconcile_errors_per_min: rate(|r| r.reconcile_errors_per_min),
        host_busy_cores: round(s.host_busy_cores, 2),
    }
}

/// A metrics page, or `None` (reported) if it cannot be read in [`PAGE_ATTEMPTS`] tries: the
/// figures from it are then `null` rather than the whole run lost.
async fn page_of<F, Fut>(read: F) -> Option<expo::Page>
where
    F: Fn() -> Fut,
    Fut: Future<Output = anyhow::Result<expo::Page>>,
{
    for attempt in 1..=PAGE_ATTEMPTS {
        match read().await {
            Ok(p) => return Some(p),
            Err(e) if attempt == PAGE_ATTEMPTS => eprintln!("[bench] WARNING: no metrics page: {e:#}"),
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
    None
}
