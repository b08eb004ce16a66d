//! Hostile and broken endpoints at fleet scale: 500 validators, a tenth of them misbehaving at
//! once in every way the simulator plays (the head of an answer trickling a byte at a time, a
//! body that never ends, 1 GiB announced, a gzip bomb, a redirect elsewhere, NaN and infinities,
//! 100,000 series, bytes that are not UTF-8, a port that accepts and never answers). What a user
//! would check: the other 450 are probed once a period and on time, each bad pod's row says why,
//! the operator keeps running, and its memory stays far below what reading one of those bodies
//! would take.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use kube::api::Api;
use nodehealth::crd::{NodeHealth, PodStatus};
use serde_json::{Value, json};
use support::cluster::with_temp_ns;
use support::fleet::{Fleet, create_nodehealth, pod_row};
use support::operator::{Operator, install_crd};
use support::wait::{eventually, get, metric, sum_of, wait_for};

const PODS: usize = 500;
/// Every tenth pod is hostile: 50 of 500.
const EVERY: usize = 10;
/// Probe period, seconds (the spec's `5s`): 100 pods probed a second, which a debug build of the
/// operator and of the simulator keep up with on a shared two-core machine.
const PERIOD: f64 = 5.0;
/// Periods watched once every hostile pod's row says why.
const WINDOW_PERIODS: f64 = 6.0;
/// The bucket of `nodehealth_probe_lateness_seconds` (from a probe's due time to its end) that is
/// the period: no probe may end later than that after its due time.
const WITHIN_PERIOD: &str = "5.0";
/// Peak resident memory the operator may reach, MiB. Reading one of the hostile bodies whole
/// would take 1 GiB (the announced body, the inflated bomb); the fleet itself needs a few tens
/// of MiB. A probe in flight holds at most its body cap (16 MiB for metrics).
const MAX_PEAK_RSS_MIB: u64 = 256;

/// One hostile behaviour: the simulator mode that plays it, words its pod's row must carry, and
/// whether its probes last until the probe's timeout.
struct Kind {
    mode: Value,
    says: &'static str,
    waits: bool,
}

fn kinds() -> [Kind; 9] {
    let kind = |mode: Value, says, waits| Kind { mode, says, waits };
    [
        kind(
            json!({"mode": "slowloris", "byte_interval_ms": 200}),
            "answer headers incomplete after 1.0 s",
            true,
        ),
        kind(
            json!({"mode": "endless_body", "interval_ms": 200}),
            "body incomplete after 1.0 s",
            true,
        ),
        kind(
            json!({"mode": "oversized", "mb": 1024, "content_length": true}),
            "body larger than",
            false,
        ),
        kind(json!({"mode": "gzip_bomb", "mb": 1024}), "(a gzip bomb?)", false),
        kind(
            json!({"mode": "redirect"}),
            "HTTP 302: redirects are not followed",
            false,
        ),
        kind(json!({"mode": "nan_values"}), "is not a number", false),
        kind(
            json!({"mode": "many_series", "series": 100_000}),
            "metrics page of",
            false,
        ),
        kind(json!({"mode": "invalid_utf8"}), "not UTF-8 text", false),
        kind(json!({"mode": "silent"}), "no answer within 1.0 s", true),
    ]
}

/// Whether a hostile pod of this kind is still counted healthy: a page of 100,000 series is a
/// node that works, with a non-fatal issue (`Affected`).
fn stays_healthy(kind: &Kind) -> bool {
    kind.mode["mode"] == "many_series"
}

/// Why a pod's row does not (yet) say what it must, if it does not.
fn row_says(nh: &NodeHealth, pod: usize, kind: &Kind) -> Result<(), String> {
    let name = format!("validator-{pod}");
    let row = pod_row(nh, &name).ok_or(format!("{name}: no row"))?;
    let expected_healthy = stays_healthy(kind);
    if row.status.is_healthy() != expected_healthy || (expected_healthy && row.status != PodStatus::Affected) {
        return Err(format!("{name} ({}): {:?}", kind.mode, row.status));
    }
    if !row.reasons.iter().any(|r| r.contains(kind.says)) {
        return Err(format!("{name} ({}): {:?}", kind.mode, row.reasons));
    }
    Ok(())
}

/// Requests each validator received on its (health, metrics) port, by IP, from the simulator.
async fn requests(fleet: &Fleet) -> HashMap<String, (u64, u64)> {
    let all = fleet.sim().validators().await.expect("the simulator's validators");
    all.iter()
        .map(|v| {
            let n = |port: &str| v["requests"][port].as_u64().unwrap_or(0);
            (
                v["ip"].as_str().unwrap_or_default().to_owned(),
                (n("health"), n("metrics")),
            )
        })
        .collect()
}

/// A line of `/proc/<pid>/status` in KiB (`VmHWM`, `VmRSS`).
fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the operator's /proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenth_of_the_fleet_hostile_the_rest_probed_on_time_with_bounded_memory() {
    with_temp_ns("hostile", |client, ns| async move {
        let started = Instant::now();
        install_crd(&client).await;
        let fleet = Fleet::start(&client, &ns, PODS, "radix", 4).await;
        let kinds = kinds();
        let hostile: Vec<(usize, &Kind)> = (0..PODS / EVERY)
            .map(|i| (i * EVERY, &kinds[i % kinds.len()]))
            .collect();
        for (pod, kind) in &hostile {
            fleet.set_mode(*pod, kind.mode.clone()).await;
        }
        let fleet_up = started.elapsed();

        let mut op = Operator::start(&ns, &[]).await;
        let pid = op.pid();
        create_nodehealth(
            &client,
            &ns,
            "validators",
            json!({
                "selector": {"matchLabels": {"app": "validator"}},
                "profile": "radix",
                "probe": {"health": {"port": "health"}, "metrics": {"port": "metrics"},
                          "period": format!("{PERIOD}s"), "timeout": "1s"},
            }),
        )
        .await;
        let api: Api<NodeHealth> = Api::namespaced(client.clone(), &ns);
        let healthy = PODS - hostile.iter().filter(|(_, k)| !stays_healthy(k)).count();
        let ready = format!("{healthy}/{PODS}");
        let says_why = |nh: &NodeHealth| hostile.iter().try_for_each(|(pod, kind)| row_says(nh, *pod, kind));
        wait_for(
            &api,
            "validators",
            Duration::from_secs(120),
            "each hostile pod's row says why",
            |nh| nh.status.as_ref().is_some_and(|s| s.ready == ready) && says_why(nh).is_ok(),
        )
        .await;
        let verdicts_in = started.elapsed() - fleet_up;

        // The window: the operator's figures and the pods' own count of requests, before and after.
        let metrics_url = format!("http://{}/metrics", op.http);
        let (_, page0) = get(&metrics_url).await.expect("the operator's metrics");
        let seen0 = requests(&fleet).await;
        let window = Instant::now();
        let health_probes = "nodehealth_probes_total{endpoint=\"health\"";
        let probes0 = sum_of(&page0, health_probes);
        let wanted = probes0 + WINDOW_PERIODS * PODS as f64;
        eventually(Duration::from_secs(120), "six periods of probes", || {
            let http = op.http.clone();
            async move {
                let now = metric(&http, health_probes).await?;
                if now >= wanted {
                    Ok(())
                } else {
                    Err(format!("{now} of {wanted} health probes"))
                }
            }
        })
        .await;
        let seen1 = requests(&fleet).await;
        let (_, page1) = get(&metrics_url).await.expect("the operator's metrics");
        let elapsed = window.elapsed().as_secs_f64();

        // Every pod that answers was asked once a period on each port, by its own count.
        let periods = elapsed / PERIOD;
        let (mut fewest, mut most) = (u64::MAX, 0);
        for i in (0..PODS).filter(|i| i % EVERY != 0) {
            let ip = fleet.ip(i).to_string();
            let (h0, m0) = seen0[&ip];
            let (h1, m1) = seen1[&ip];
            for (port, n) in [("health", h1 - h0), ("metrics", m1 - m0)] {
                fewest = fewest.min(n);
                most = most.max(n);
                assert!(
                    n as f64 >= periods.floor() - 1.0 && n as f64 <= periods.ceil() + 1.0,
                    "validator-{i} was asked {n} times on its {port} port in {elapsed:.1} s ({periods:.1} periods)"
                );
            }
        }

        // The operator's own account: every probe, of every pod, ended within the period after
        // its due time, so each sweep of the fleet finished before the next began.
        let delta = |name: &str| sum_of(&page1, name) - sum_of(&page0, name);
        let bucket = |le: &str| delta(&format!("nodehealth_probe_lateness_seconds_bucket{{le=\"{le}\"}}"));
        let ended = delta("nodehealth_probe_lateness_seconds_count");
        let waiting = hostile.iter().filter(|(_, k)| k.waits).count();
        assert!(
            ended >= (periods.floor() - 1.0) * PODS as f64,
            "{ended} probes in {periods:.1} periods"
        );
        assert_eq!(
            bucket(WITHIN_PERIOD),
            ended,
            "probes that ended more than a period late"
        );

        // Every hostile pod still says why; the operator runs, its memory bounded.
        let nh = api.get("validators").await.expect("the NodeHealth");
        says_why(&nh).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(nh.status.as_ref().map(|s| s.ready.as_str()), Some(ready.as_str()));
        assert!(op.alive(), "the operator exited");
        let (code, _) = get(&format!("http://{}/livez", op.http)).await.expect("/livez");
        assert_eq!(code, 200);
        let peak = proc_status_kib(pid, "VmHWM") / 1024;
        let rss = proc_status_kib(pid, "VmRSS") / 1024;
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count);
        assert!(peak < MAX_PEAK_RSS_MIB, "peak RSS {peak} MiB");

        let share = |le: &str| 100.0 * bucket(le) / ended;
        println!(
            "hostile fleet: {PODS} pods ({} hostile), period {PERIOD} s, timeout 1 s\n\
             fleet up {:.1} s, verdicts {:.1} s, window {elapsed:.1} s ({periods:.1} periods), wall {:.1} s\n\
             requests per healthy pod and port in the window: {fewest}..{most}\n\
             probes ended (all pods): {ended}; within 0.1 s of due {:.1} %, 0.25 s {:.1} %, 0.5 s {:.1} %, \
             1 s {:.1} %, 5 s {:.1} % (hostile pods holding a probe until its timeout: {waiting})\n\
             operator: peak RSS (VmHWM) {peak} MiB, RSS now {rss} MiB, open files {fds}",
            hostile.len(),
            fleet_up.as_secs_f64(),
            verdicts_in.as_secs_f64(),
            started.elapsed().as_secs_f64(),
            share("0.1"),
            share("0.25"),
            share("0.5"),
            share("1.0"),
            share("5.0"),
        );
        drop(fleet);
    })
    .await;
}
