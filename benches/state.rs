//! Memory the operator keeps per probed pod: its place in the probe schedule, its history
//! (observed progress, lag windows) and its latest verdict, counted by a counting allocator
//! after the history windows have filled. Pages come from the simulator's renderers (written
//! from the Radix document's field names), as a fleet of healthy validators would serve them.
//!
//! Issue "Scale": memory grows linearly and modestly with N; say how many bytes per pod.
//! Run: `cargo bench --bench state`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use nodehealth::assess::Params;
use nodehealth::chains::Profile;
use nodehealth::model::{Answer, Api, Scrape, Target};
use nodehealth::schedule::{Plan, PodTarget, Schedule};
use nodehealth::sim::Endpoint;
use nodehealth::sim::network::Network;
use nodehealth::sim::render::{Call, Identity, Reply};
use nodehealth::sim::state::Validator;

/// Bytes allocated and not yet freed.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged, only counting sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Pods measured: the state is per pod, so a few thousand show the slope.
const PODS: usize = 2_000;
const PERIOD: f64 = 15.0;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let start = 1_800_000_000.0;
    let network = Network::new(start - 3_600.0);
    let validator = Validator::new(start - 3_600.0, 0.0, &network);
    let plan = Plan {
        profile: Profile::Radix,
        read: Default::default(),
        params: Params::default(),
        period: PERIOD,
        timeout: 3.0,
    };
    let ip = |i: usize| Ipv4Addr::new(127, 1, (i / 250) as u8, (i % 250 + 1) as u8);
    let uid = |i: usize| format!("0b6cbd3e-8f8e-4d5c-9d1e-{i:012}");
    let pods: Vec<PodTarget> = (0..PODS)
        .map(|i| PodTarget {
            uid: uid(i),
            name: format!("validator-{i}"),
            target: Target::from_urls(
                Profile::Radix,
                Some(format!("http://{}:3334/system/health", ip(i))),
                Some(format!("http://{}:3335/prometheus/metrics", ip(i))),
                None,
            ),
        })
        .collect();
    // Pages are rendered outside the counted state, so the identities are made first.
    let ids: HashMap<String, Identity> = (0..PODS).map(|i| (uid(i), Identity::for_ip(ip(i)))).collect();
    let before = LIVE.load(Ordering::Relaxed);
    let mut schedule = Schedule::new(PODS);
    schedule.register("bench/validators", plan.clone(), pods, start);
    let registered = LIVE.load(Ordering::Relaxed);
    // Long enough for every window of the default assessment to fill.
    let window = plan.params.observed_rate_window_seconds.max(600.0);
    let rounds = (window / PERIOD).ceil() as usize + 2;
    let mut now = start;
    for _ in 0..rounds {
        let snap = validator.snapshot(now, &network);
        let health = Bytes::from(reply(Endpoint::Health, &snap, &ids[&uid(0)]).body.collect());
        for job in schedule.pop_due(now + PERIOD) {
            let metrics = Bytes::from(reply(Endpoint::Metrics, &snap, &ids[&job.uid]).body.collect());
            let answers = job
                .target
                .requests
                .iter()
                .map(|(request, _)| {
                    let body = if request.api == Api::Health {
                        health.clone()
                    } else {
                        metrics.clone()
                    };
                    (*request, Ok(Answer { code: 200, body }))
                })
                .collect();
            schedule.complete(&job, &Scrape { at: job.due, answers }, job.due);
        }
        now += PERIOD;
    }
    let filled = LIVE.load(Ordering::Relaxed);
    let healthy = schedule
        .verdicts("bench/validators")
        .values()
        .filter(|v| v.healthy)
        .count();
    println!("state kept per probed pod (schedule entry, history, latest verdict), {PODS} Radix pods:");
    println!(
        "  registered:               {:>7} bytes per pod",
        (registered - before) / PODS
    );
    println!(
        "  after {rounds} periods ({:.0} s): {:>7} bytes per pod, healthy {healthy}/{PODS}",
        rounds as f64 * PERIOD,
        (filled - before) / PODS
    );
}

/// A Radix page (one per endpoint: the path is the simulator server's check).
fn reply(endpoint: Endpoint, snap: &nodehealth::sim::state::Snapshot, id: &Identity) -> Reply {
    nodehealth::sim::render::reply(Profile::Radix, endpoint, &Call::default(), snap, id).expect("a Radix page")
}
