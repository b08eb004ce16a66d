//! CPU cost of probing one pod (health + metrics over loopback, parse, assess), measured as
//! the probing thread's own CPU time, apart from the simulator serving it in another process.
//!
//! Target (issue "Health model and probe engine"): under 1 ms of CPU per pod probe.
//! Run: `cargo bench --bench probe`.

use std::time::{Duration, Instant};

use nodehealth::assess::{History, Params, assess};
use nodehealth::chains::Profile;
use nodehealth::model::Target;
use nodehealth::probe::{ProbeConfig, Prober};
use nodehealth::sim::SimProcess;

/// Probes measured; enough to make scheduler noise small against the total.
const ROUNDS: u32 = 2000;
const WARMUP: u32 = 100;

/// This thread's CPU time so far (Linux schedstat: nanoseconds on CPU).
fn thread_cpu() -> Duration {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns = text
        .split_whitespace()
        .next()
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    Duration::from_nanos(ns)
}

fn main() {
    // `cargo test --benches` runs bench binaries with --bench absent: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let sim = SimProcess::spawn_random_range(env!("CARGO_BIN_EXE_nodehealth-sim"), 1, &[] as &[&str], 5)
        .expect("simulator starts");
    let ip = sim.ip(0).expect("one validator");
    // One thread does all the client work, so its CPU time is the probe's cost.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let prober = Prober::new(ProbeConfig::default()).expect("client");
        let target = Target::from_urls(
            Profile::Radix,
            Some(format!("http://{ip}:3334/system/health")),
            Some(format!("http://{ip}:3335/prometheus/metrics")),
        );
        let params = Params::default();
        let mut history = History::new();
        let scrape = || prober.scrape(&target, nodehealth::sim::wall_now());
        for _ in 0..WARMUP {
            assert!(!scrape().await.no_answer(), "the simulator answers");
        }
        let (cpu0, wall0) = (thread_cpu(), Instant::now());
        let mut healthy = 0u32;
        for _ in 0..ROUNDS {
            let obs = Profile::Radix.read(&scrape().await);
            healthy += u32::from(assess(&mut history, &obs, &params).healthy);
        }
        let (cpu, wall) = (thread_cpu() - cpu0, wall0.elapsed());
        println!("probe of one pod (health + metrics, loopback, parse, assess), {ROUNDS} rounds:");
        println!(
            "  CPU  per pod probe: {:>8.1} µs  (target < 1000 µs)",
            cpu.as_secs_f64() * 1e6 / f64::from(ROUNDS)
        );
        println!(
            "  wall per pod probe: {:>8.1} µs",
            wall.as_secs_f64() * 1e6 / f64::from(ROUNDS)
        );
        println!("  healthy verdicts:   {healthy}/{ROUNDS}");
    });
}
