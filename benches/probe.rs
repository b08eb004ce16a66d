//! CPU cost of probing a pod (health + metrics over loopback, parse, assess), measured as the
//! probing thread's own CPU time (user and kernel), apart from the simulator serving it in
//! another process. Probes go out as the operator sends them: a fleet's pods in ticks, every
//! pod of a tick at once, on kept-alive connections and connecting afresh each probe.
//!
//! Target (issue "Health model and probe engine"): under 1 ms of CPU per pod probe.
//! Run: `cargo bench --bench probe`.

use std::time::{Duration, Instant};

use nodehealth::assess::{History, Params, assess};
use nodehealth::chains::Profile;
use nodehealth::model::Target;
use nodehealth::probe::{ProbeConfig, Prober};
use nodehealth::sim::SimProcess;

/// Validators probed each tick: what a fleet of 3,000 on a 15 s period sends each second.
const FLEET: u32 = 200;
/// Ticks measured; enough to make scheduler noise small against the total.
const TICKS: u32 = 30;

/// This thread's user and kernel CPU time so far (`/proc/thread-self/stat` fields 14 and 15, in
/// clock ticks of 10 ms: hence many probes per measurement).
fn thread_cpu() -> (Duration, Duration) {
    let text = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // Fields after the parenthesised command name, which may hold spaces.
    let rest = text.rsplit_once(')').map_or("", |(_, r)| r);
    let field = |i: usize| {
        rest.split_whitespace()
            .nth(i)
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // Fields 14 and 15 of the whole line are the 12th and 13th after the command.
    (
        Duration::from_millis(field(11) * 10),
        Duration::from_millis(field(12) * 10),
    )
}

fn main() {
    // `cargo test --benches` runs bench binaries with --bench absent: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let sim = SimProcess::spawn_random_range(env!("CARGO_BIN_EXE_nodehealth-sim"), FLEET, &[] as &[&str], 5)
        .expect("simulator starts");
    let targets: Vec<Target> = (0..FLEET as usize)
        .map(|i| {
            let ip = sim.ip(i).expect("a validator");
            Target::from_urls(
                Profile::Radix,
                Some(format!("http://{ip}:3334/system/health")),
                Some(format!("http://{ip}:3335/prometheus/metrics")),
                None,
            )
        })
        .collect();
    // One thread does all the client work, so its CPU time is the probes' cost.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!("probe of a pod (health + metrics, loopback, parse, assess), {FLEET} pods a tick, {TICKS} ticks:");
    rt.block_on(async {
        let prober = Prober::new(ProbeConfig::default());
        for pooled in [true, false] {
            let params = Params::default();
            let mut histories: Vec<History> = targets.iter().map(|_| History::new()).collect();
            let tick = || async {
                let scrapes = targets.iter().map(|t| {
                    prober.scrape_within(t, nodehealth::sim::wall_now(), Duration::from_secs(3), pooled, |_, _, _| {})
                });
                futures::future::join_all(scrapes).await
            };
            for scrape in tick().await {
                assert!(!scrape.no_answer(), "the simulator answers");
            }
            let (cpu0, wall0) = (thread_cpu(), Instant::now());
            let mut healthy = 0u32;
            for _ in 0..TICKS {
                for (scrape, history) in tick().await.iter().zip(&mut histories) {
                    healthy += u32::from(assess(history, &Profile::Radix.read(scrape, &Default::default()), &params).healthy);
                }
            }
            let ((user, sys), wall) = (thread_cpu(), wall0.elapsed());
            let per_probe = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(FLEET * TICKS);
            println!(
                "  {:<26} CPU per pod probe {:>6.1} µs (user {:>6.1}, kernel {:>6.1}; target < 1000 µs), wall per tick {:>6.1} ms, healthy {healthy}/{}",
                if pooled { "kept-alive connections:" } else { "connecting afresh:" },
                per_probe(user + sys - cpu0.0 - cpu0.1),
                per_probe(user - cpu0.0),
                per_probe(sys - cpu0.1),
                wall.as_secs_f64() * 1e3 / f64::from(TICKS),
                FLEET * TICKS,
            );
        }
    });
}
