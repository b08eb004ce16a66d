//! `nodehealth-sim` over real HTTP: every mode as a probe sees it.
//!
//! Each test runs its own simulator on a random loopback range, so tests run in parallel.
//!
//! Bodies are read with generic readers only (`serde_json::Value`, the crate's exposition parser),
//! never with the operator's chain readers: the simulator is the reference those are tested
//! against, so it must not be checked with them.

use std::io::Read;
use std::net::{Ipv4Addr, TcpStream};
use std::time::{Duration, Instant};

use nodehealth::exposition::parse_all;
use nodehealth::sim::{SimProcess, SpawnError, wall_now};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_nodehealth-sim");
/// Generous bound for anything that should happen "soon" on a loaded 2-core machine.
const DEADLINE: Duration = Duration::from_secs(20);
const MIB: usize = 1024 * 1024;

fn sim(count: u32, extra: &[&str]) -> SimProcess {
    SimProcess::spawn_random_range(BIN, count, extra, 10).unwrap_or_else(|e| panic!("simulator: {e}"))
}

fn http(timeout: Duration) -> reqwest::Client {
    nodehealth::install_crypto_provider();
    reqwest::Client::builder().no_proxy().timeout(timeout).build().unwrap()
}

struct Answer {
    status: u16,
    content_type: String,
    content_length: Option<u64>,
    body: Vec<u8>,
}

impl Answer {
    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("UTF-8 body")
    }

    /// The body as JSON.
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// The value of the first sample named exactly `name`.
    fn gauge(&self, name: &str) -> f64 {
        self.sample(name, "")
    }

    /// The value of the first sample named `name` whose line contains `with`.
    fn sample(&self, name: &str, with: &str) -> f64 {
        let line = self
            .text()
            .lines()
            .find(|l| l.strip_prefix(name).is_some_and(|r| r.starts_with([' ', '{'])) && l.contains(with))
            .unwrap_or_else(|| panic!("no {name} sample with {with:?}"));
        line.rsplit_once(' ').unwrap().1.parse().unwrap()
    }
}

async fn get_with(client: &reqwest::Client, url: &str) -> Result<Answer, reqwest::Error> {
    let resp = client.get(url).send().await?;
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let content_length = resp.content_length();
    let body = resp.bytes().await?.to_vec();
    Ok(Answer {
        status,
        content_type,
        content_length,
        body,
    })
}

async fn get(url: &str) -> Answer {
    get_with(&http(Duration::from_secs(10)), url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

fn radix_health(ip: Ipv4Addr) -> String {
    format!("http://{ip}:3334/system/health")
}

fn radix_metrics(ip: Ipv4Addr) -> String {
    format!("http://{ip}:3335/prometheus/metrics")
}

/// The word in a Radix node's `/system/health`.
async fn radix_status(ip: Ipv4Addr) -> String {
    let a = get(&radix_health(ip)).await;
    assert_eq!(a.status, 200);
    a.json()["status"].as_str().unwrap_or_default().to_owned()
}

fn zksync_health(ip: Ipv4Addr) -> String {
    format!("http://{ip}:3081/health")
}

fn zksync_metrics(ip: Ipv4Addr) -> String {
    format!("http://{ip}:3322/metrics")
}

/// `(local_block, main_node_block)` from a zksync `/health`'s `sync_state` details.
fn blocks(health: &Value) -> (u64, u64) {
    let d = &health["components"]["sync_state"]["details"];
    match (d["local_block"].as_u64(), d["main_node_block"].as_u64()) {
        (Some(local), Some(main)) => (local, main),
        _ => panic!("no blocks in {health}"),
    }
}

/// Polls `check` until it gives a value, failing after [`DEADLINE`].
async fn eventually<T, F: Future<Output = Option<T>>>(what: &str, mut check: impl FnMut() -> F) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn synced_validators_are_up_with_factor_one_and_distinct_identities() {
    let sim = sim(3, &[]);
    let (a, b) = (sim.ip(0).unwrap(), sim.ip(2).unwrap());
    assert_eq!(sim.started.last_ip, b);
    let h = get(&radix_health(a)).await;
    assert_eq!((h.status, h.content_type.as_str()), (200, "application/json"));
    let body = h.json();
    assert_eq!(body["status"], "UP");
    assert_eq!(
        body["recent_self_proposal_miss_statistic"]["recent_proposals_tracked_count"],
        50
    );
    assert_eq!(body["recent_self_proposal_miss_statistic"]["missed_count"], 0);

    let m = get(&radix_metrics(a)).await;
    assert_eq!((m.status, m.content_type.as_str()), (200, "text/plain; version=0.0.4"));
    assert_eq!(m.gauge("rn_ledger_overall_health_factor"), 1.0);
    assert_eq!(m.gauge("rn_ledger_recent_proposer_timestamp_progress_rate"), 1.0);
    assert!((m.gauge("rn_ledger_last_update_proposer_epoch_second") - (wall_now() - 1.0)).abs() < 5.0);
    assert!((m.gauge("rn_misc_wallclock_epoch_second") - wall_now()).abs() < 5.0);
    assert_eq!(m.gauge("rn_bft_in_validator_set"), 1.0);
    assert!(m.text().contains("nodeinfo{health=\"UP\","));
    let address = |a: &Answer| a.text().split("configured_validator_address=\"").nth(1).unwrap()[..68].to_owned();
    assert_ne!(address(&m), address(&get(&radix_metrics(b)).await));

    // A generic exposition reader sees every health series, the validator's own rounds included.
    let (samples, stats) = parse_all(&m.body).unwrap();
    assert_eq!(stats.skipped_invalid, 0);
    let value = |name: &str| samples.iter().find(|s| s.name == name).map(|s| s.value);
    assert_eq!(value("rn_ledger_overall_health_factor"), Some(1.0));
    assert_eq!(value("rn_bft_in_validator_set"), Some(1.0));
    assert_eq!(value("rn_sync_current_state_version"), value("rn_ledger_state_version"));
    assert!(value("rn_sync_target_proposer_timestamp_epoch_second").is_some());
    assert!(value("rn_bft_proposal_timestamp_difference_seconds").is_some());
    let info = samples.iter().find(|s| s.name == "rn_misc_config_info").unwrap();
    assert_eq!(
        info.label("configured_validator_address").as_deref(),
        Some(address(&m).as_str())
    );
    assert!(samples.iter().any(|s| s.name == "rn_ledger_consensus_rounds_committed"
        && s.label("leader_component_address").as_deref() == Some(address(&m).as_str())
        && s.label("round_resolution").as_deref() == Some("Successful")));

    let v0 = m.gauge("rn_ledger_state_version");
    eventually("the state version to grow", || async {
        (get(&radix_metrics(a)).await.gauge("rn_ledger_state_version") > v0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn admin_api_lists_and_rejects_bad_input() {
    let sim = sim(2, &[]);
    let client = sim.client().unwrap();
    let all = client.validators().await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[1]["ip"], json!(sim.ip(1).unwrap()));
    assert_eq!(all[0]["status"], "UP");
    let admin = sim.started.admin;
    let h = get(&format!("http://{admin}/healthz")).await;
    assert_eq!(h.status, 200);
    let one = get(&format!("http://{admin}/validators/{}", sim.ip(0).unwrap())).await;
    assert_eq!(one.status, 200);
    assert_eq!(get(&format!("http://{admin}/validators/127.0.0.1")).await.status, 404);
    assert_eq!(get(&format!("http://{admin}/validators/nonsense")).await.status, 400);
    let err = client
        .set_mode(sim.ip(0), json!({"mode": "slow", "delay": 5}))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("400") && err.to_string().contains("delay_ms"),
        "{err}"
    );
    let err = client
        .set_mode(Some(Ipv4Addr::new(127, 0, 0, 9)), json!({"mode": "synced"}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");
    client.set_mode(None, json!({"mode": "stalled"})).await.unwrap();
    for v in client.validators().await.unwrap() {
        assert_eq!(v["mode"]["mode"], "stalled");
    }
}

#[tokio::test]
async fn syncing_reports_syncing_and_its_rate() {
    let sim = sim(2, &[]);
    let ip = sim.ip(1).unwrap();
    let client = sim.client().unwrap();
    // `syncing` is an alias of `catching_up`.
    client
        .set_mode(Some(ip), json!({"mode": "syncing", "rate": 30, "behind_seconds": 300}))
        .await
        .unwrap();
    let view = client.validator(ip).await.unwrap();
    assert_eq!(
        view["mode"],
        json!({"mode": "catching_up", "rate": 30.0, "behind_seconds": 300.0})
    );
    assert_eq!(view["status"], "SYNCING");
    assert_eq!(radix_status(ip).await, "SYNCING");
    let m = get(&radix_metrics(ip)).await;
    assert_eq!(m.gauge("rn_ledger_recent_proposer_timestamp_progress_rate"), 30.0);
    // 300 s behind at rate 30: (30 − 10) / 40.
    assert_eq!(m.gauge("rn_ledger_overall_health_factor"), 0.5);
    assert!(m.gauge("rn_sync_target_state_version") > m.gauge("rn_sync_current_state_version"));
    assert!(m.text().contains("nodeinfo{health=\"SYNCING\","));
    // The other validator is untouched.
    assert_eq!(radix_status(sim.ip(0).unwrap()).await, "UP");
}

#[tokio::test]
async fn catching_up_slower_than_real_time_is_out_of_sync() {
    let sim = sim(1, &[]);
    let ip = sim.ip(0).unwrap();
    sim.client()
        .unwrap()
        .set_mode(
            Some(ip),
            json!({"mode": "catching_up", "rate": 0.5, "behind_seconds": 600}),
        )
        .await
        .unwrap();
    assert_eq!(radix_status(ip).await, "OUT_OF_SYNC");
    let first = get(&radix_metrics(ip)).await;
    assert_eq!(first.gauge("rn_ledger_recent_proposer_timestamp_progress_rate"), 0.5);
    let gap = |m: &Answer| {
        m.gauge("rn_sync_target_proposer_timestamp_epoch_second")
            - m.gauge("rn_ledger_last_update_proposer_epoch_second")
    };
    // Falling further behind: the gap to the target grows by half a second per second.
    eventually("the gap to widen", || async {
        let m = get(&radix_metrics(ip)).await;
        (gap(&m) > gap(&first) + 0.4).then_some(())
    })
    .await;
}

#[tokio::test]
async fn stalled_freezes_the_ledger_but_keeps_the_last_rate() {
    let sim = sim(2, &[]);
    let (behind, fresh) = (sim.ip(0).unwrap(), sim.ip(1).unwrap());
    let client = sim.client().unwrap();
    client
        .set_mode(
            Some(behind),
            json!({"mode": "syncing", "rate": 30, "behind_seconds": 3600}),
        )
        .await
        .unwrap();
    client.set_mode(Some(behind), json!({"mode": "stalled"})).await.unwrap();
    client.set_mode(Some(fresh), json!({"mode": "stalled"})).await.unwrap();
    let first = get(&radix_metrics(behind)).await;
    let ts = first.gauge("rn_ledger_last_update_proposer_epoch_second");
    let clock = first.gauge("rn_misc_wallclock_epoch_second");
    let later = eventually("a read a second later", || async {
        let m = get(&radix_metrics(behind)).await;
        (m.gauge("rn_misc_wallclock_epoch_second") >= clock + 1.0).then_some(m)
    })
    .await;
    assert_eq!(later.gauge("rn_ledger_last_update_proposer_epoch_second"), ts);
    assert_eq!(
        later.gauge("rn_ledger_state_version"),
        first.gauge("rn_ledger_state_version")
    );
    assert_eq!(later.gauge("rn_ledger_recent_proposer_timestamp_progress_rate"), 30.0);
    assert!(later.gauge("rn_sync_target_proposer_timestamp_epoch_second") > ts + 3000.0);
    // It still reports its last rate (30), so by its own figures it is still syncing.
    assert_eq!(radix_status(behind).await, "SYNCING");
    // Stalled for less than a minute: the node itself still says UP.
    assert_eq!(radix_status(fresh).await, "UP");
}

#[tokio::test]
async fn booting_missing_proposals_clock_skew_and_validator_set() {
    let sim = sim(4, &[]);
    let ips: Vec<_> = (0..4).map(|i| sim.ip(i).unwrap()).collect();
    let client = sim.client().unwrap();
    client.set_mode(Some(ips[0]), json!({"mode": "booting"})).await.unwrap();
    client
        .set_mode(Some(ips[1]), json!({"mode": "missing_proposals", "n": 2}))
        .await
        .unwrap();
    client
        .set_mode(Some(ips[2]), json!({"mode": "clock_skew", "seconds": -30}))
        .await
        .unwrap();
    client
        .set_mode(
            Some(ips[3]),
            json!({"mode": "missing_proposals", "n": 1, "in_validator_set": false}),
        )
        .await
        .unwrap();

    // Booting: the system API answers, the Prometheus port is not open yet.
    assert_eq!(radix_status(ips[0]).await, "BOOTING_PRE_GENESIS");
    let err = TcpStream::connect((ips[0], 3335)).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);

    let h = get(&radix_health(ips[1])).await.json();
    assert_eq!(h["status"], "UP");
    assert_eq!(h["recent_self_proposal_miss_statistic"]["missed_count"], 2);
    let m = get(&radix_metrics(ips[1])).await;
    assert_eq!(m.gauge("rn_ledger_recent_self_proposal_miss_count"), 2.0);
    assert_eq!(m.gauge("rn_ledger_overall_health_factor"), 0.0);
    assert!(m.sample("rn_ledger_consensus_rounds_committed", "MissedByGap") >= 2.0);

    let m = get(&radix_metrics(ips[2])).await;
    assert!((m.gauge("rn_misc_wallclock_epoch_second") - (wall_now() - 30.0)).abs() < 5.0);
    assert!((m.sample("rn_bft_proposal_timestamp_difference_seconds", "quantile") - 30.0).abs() < 1.0);
    assert_eq!(m.gauge("rn_ledger_overall_health_factor"), 1.0);

    // Outside the validator set, misses do not lower the node's factor.
    let m = get(&radix_metrics(ips[3])).await;
    assert_eq!(m.gauge("rn_bft_in_validator_set"), 0.0);
    assert_eq!(m.gauge("rn_ledger_overall_health_factor"), 1.0);
    client
        .set_mode(Some(ips[3]), json!({"in_validator_set": true}))
        .await
        .unwrap();
    let m = get(&radix_metrics(ips[3])).await;
    assert_eq!(m.gauge("rn_ledger_overall_health_factor"), 0.5);
}

#[tokio::test]
async fn unreachable_refuses_connections_then_comes_back() {
    let sim = sim(2, &[]);
    let ip = sim.ip(0).unwrap();
    let client = sim.client().unwrap();
    // A connection open before the switch is cut too.
    let mut live = TcpStream::connect((ip, 3335)).unwrap();
    client.set_mode(Some(ip), json!({"mode": "unreachable"})).await.unwrap();
    for port in [3334, 3335] {
        let err = TcpStream::connect((ip, port)).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "port {port}");
    }
    live.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut buf = [0u8; 16];
    assert!(
        matches!(live.read(&mut buf), Ok(0) | Err(_)),
        "live connection still open"
    );
    let err = get_with(&http(Duration::from_secs(5)), &radix_health(ip))
        .await
        .err()
        .unwrap();
    assert!(err.is_connect(), "{err}");
    assert_eq!(radix_status(sim.ip(1).unwrap()).await, "UP");
    let view = client.validator(ip).await.unwrap();
    assert_eq!(view["listening"], false);
    assert_eq!(view["ports"], json!({"health": false, "metrics": false}));

    client.set_mode(Some(ip), json!({"mode": "synced"})).await.unwrap();
    assert_eq!(radix_status(ip).await, "UP");
    assert_eq!(get(&radix_metrics(ip)).await.status, 200);
}

#[tokio::test]
async fn slow_answers_after_its_delay() {
    const DELAY: Duration = Duration::from_millis(1500);
    let sim = sim(1, &[]);
    let ip = sim.ip(0).unwrap();
    sim.client()
        .unwrap()
        .set_mode(Some(ip), json!({"mode": "slow", "delay_ms": DELAY.as_millis()}))
        .await
        .unwrap();
    let impatient = http(DELAY / 3);
    for url in [radix_health(ip), radix_metrics(ip)] {
        let err = get_with(&impatient, &url)
            .await
            .err()
            .expect("answered before the delay");
        assert!(err.is_timeout(), "{url}: {err}");
        let start = Instant::now();
        let a = get(&url).await;
        assert!(start.elapsed() >= DELAY, "{url} answered after {:?}", start.elapsed());
        assert_eq!(a.status, 200);
    }
}

#[tokio::test]
async fn http500_malformed_and_oversized_bodies() {
    let sim = sim(3, &[]);
    let ips: Vec<_> = (0..3).map(|i| sim.ip(i).unwrap()).collect();
    let client = sim.client().unwrap();
    client.set_mode(Some(ips[0]), json!({"mode": "http500"})).await.unwrap();
    client
        .set_mode(Some(ips[1]), json!({"mode": "malformed"}))
        .await
        .unwrap();
    client
        .set_mode(Some(ips[2]), json!({"mode": "oversized", "mb": 3}))
        .await
        .unwrap();

    for url in [radix_health(ips[0]), radix_metrics(ips[0])] {
        let a = get(&url).await;
        assert_eq!(a.status, 500, "{url}");
        assert!(a.text().contains("Internal Server Error"));
    }

    let h = get(&radix_health(ips[1])).await;
    assert_eq!(h.status, 200);
    assert!(serde_json::from_slice::<Value>(&h.body).is_err());
    let m = get(&radix_metrics(ips[1])).await;
    assert_eq!(m.status, 200);
    assert!(std::str::from_utf8(&m.body).is_err(), "malformed page is valid UTF-8");

    let h = get(&radix_health(ips[2])).await;
    assert!(h.body.len() >= 3 * MIB, "{} bytes", h.body.len());
    assert_eq!(h.content_length, None, "an oversized body is streamed");
    assert_eq!(h.json()["status"], "UP");
    let m = get(&radix_metrics(ips[2])).await;
    assert!(m.body.len() >= 3 * MIB, "{} bytes", m.body.len());
    assert_eq!(m.gauge("rn_ledger_overall_health_factor"), 1.0);
}

#[tokio::test]
async fn restart_resets_counters_and_mode() {
    let sim = sim(1, &[]);
    let ip = sim.ip(0).unwrap();
    let client = sim.client().unwrap();
    let rounds = |a: &Answer| a.sample("rn_ledger_consensus_rounds_committed", "Successful");
    let before = eventually("own rounds to be counted", || async {
        let m = get(&radix_metrics(ip)).await;
        (rounds(&m) >= 2.0).then_some(m)
    })
    .await;
    client.set_mode(Some(ip), json!({"mode": "stalled"})).await.unwrap();
    client.restart(Some(ip)).await.unwrap();
    let after = get(&radix_metrics(ip)).await;
    assert!(
        rounds(&after) < rounds(&before),
        "{} !< {}",
        rounds(&after),
        rounds(&before)
    );
    assert!(after.gauge("process_start_time_seconds") > before.gauge("process_start_time_seconds"));
    assert!(after.gauge("rn_ledger_state_version") >= before.gauge("rn_ledger_state_version"));
    assert_eq!(client.validator(ip).await.unwrap()["mode"]["mode"], "synced");
}

#[tokio::test]
async fn zksync_profile_health_and_sync_state() {
    let sim = sim(3, &["--profile", "zksync"]);
    let ips: Vec<_> = (0..3).map(|i| sim.ip(i).unwrap()).collect();
    let client = sim.client().unwrap();
    let a = get(&zksync_health(ips[0])).await;
    assert_eq!(a.status, 200);
    let h = a.json();
    assert_eq!(h["status"], "ready");
    assert_eq!(h["components"]["sync_state"]["details"]["is_synced"], true);
    let m = get(&zksync_metrics(ips[0])).await;
    assert_eq!(m.gauge("external_node_sync_lag"), 0.0);
    assert_eq!(client.validators().await.unwrap()[0]["status"], "ready");

    client.set_mode(Some(ips[2]), json!({"mode": "booting"})).await.unwrap();
    client
        .set_mode(
            Some(ips[1]),
            json!({"mode": "catching_up", "rate": 2, "behind_seconds": 600}),
        )
        .await
        .unwrap();
    let a = get(&zksync_health(ips[1])).await;
    assert_eq!(a.status, 200, "affected is still healthy");
    let h = a.json();
    assert_eq!(h["status"], "affected");
    assert_eq!(h["components"]["sync_state"]["status"], "affected");
    assert_eq!(h["components"]["sync_state"]["details"]["is_synced"], false);
    let (local, main) = blocks(&h);
    assert!(main - local > 500, "{local} {main}");
    eventually("the catching-up node's local block to grow", || async {
        let (now, _) = blocks(&get(&zksync_health(ips[1])).await.json());
        (now > local).then_some(())
    })
    .await;

    client.set_mode(Some(ips[1]), json!({"mode": "stalled"})).await.unwrap();
    let (first_local, first_main) = blocks(&get(&zksync_health(ips[1])).await.json());
    let (later_local, later_main) = eventually("the main node to move on", || async {
        let (local, main) = blocks(&get(&zksync_health(ips[1])).await.json());
        (main > first_main).then_some((local, main))
    })
    .await;
    assert_eq!(later_local, first_local);
    assert!(later_main - later_local > first_main - first_local);

    // Booting: 503, every component not ready, the metrics port still open.
    let a = get(&zksync_health(ips[2])).await;
    assert_eq!(a.status, 503);
    let h = a.json();
    assert_eq!(h["status"], "not_ready");
    assert_eq!(h["components"]["sync_state"], json!({"status": "not_ready"}));
    assert_eq!(get(&zksync_metrics(ips[2])).await.status, 200);
    let view = client.validator(ips[2]).await.unwrap();
    assert_eq!(view["status"], "not_ready");
    assert_eq!(view["ports"], json!({"health": true, "metrics": true}));
}

#[tokio::test]
async fn zksync_lagging_keeps_a_constant_lag() {
    const LAG: u64 = 30;
    let sim = sim(2, &["--profile", "zksync"]);
    let ip = sim.ip(1).unwrap();
    let client = sim.client().unwrap();
    client
        .set_mode(Some(ip), json!({"mode": "lagging", "behind_seconds": LAG}))
        .await
        .unwrap();
    let h = get(&zksync_health(ip)).await.json();
    assert_eq!(h["status"], "affected");
    assert_eq!(h["components"]["sync_state"]["status"], "affected");
    assert_eq!(h["components"]["sync_state"]["details"]["is_synced"], false);
    let (local, main) = blocks(&h);
    assert_eq!(main - local, LAG);
    // Both ends move on, the gap stays.
    let (later_local, later_main) = eventually("two more blocks", || async {
        let (l, m) = blocks(&get(&zksync_health(ip)).await.json());
        (l >= local + 2).then_some((l, m))
    })
    .await;
    assert_eq!(later_main - later_local, LAG);
    assert!(later_main >= main + 2);
    let m = get(&zksync_metrics(ip)).await;
    assert_eq!(m.gauge("external_node_sync_lag"), LAG as f64);
    assert_eq!(m.gauge("external_node_synced"), 0.0);
    let view = client.validator(ip).await.unwrap();
    assert_eq!(view["mode"], json!({"mode": "lagging", "behind_seconds": LAG as f64}));
    assert_eq!(view["status"], "affected");
    assert_eq!(
        view["main_node_block"].as_u64().unwrap() - view["local_block"].as_u64().unwrap(),
        LAG
    );
    // The other validator is synced.
    assert_eq!(get(&zksync_health(sim.ip(0).unwrap())).await.json()["status"], "ready");
}

#[tokio::test]
async fn zksync_metrics_page_carries_the_external_node_names() {
    let sim = sim(1, &["--profile", "zksync"]);
    let ip = sim.ip(0).unwrap();
    let m = get(&zksync_metrics(ip)).await;
    assert_eq!(
        (m.status, m.content_type.as_str()),
        (200, "application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    assert!(m.text().ends_with("# EOF\n"));
    let (samples, stats) = parse_all(&m.body).unwrap();
    assert_eq!(stats.skipped_invalid, 0, "{}", m.text());
    let names: std::collections::BTreeSet<&str> = samples.iter().map(|s| s.name).collect();
    for name in [
        "external_node_info_info",
        "external_node_protocol_version",
        "external_node_synced",
        "external_node_sync_lag",
        "external_node_last_correct_batch",
        "external_node_last_correct_l2_block",
        "external_node_fetcher_l1_batch",
        "external_node_fetcher_miniblock",
        "external_node_action_queue_action_queue_size",
        "server_miniblock_number",
        "server_block_number",
        "server_processed_txs",
        "api_web3_call_bucket",
        "api_web3_call_sum",
        "api_web3_call_count",
        "sql_connection_acquire_bucket",
    ] {
        assert!(names.contains(name), "{name} missing from\n{}", m.text());
    }
    // The page agrees with the health endpoint.
    let (local, main) = blocks(&get(&zksync_health(ip)).await.json());
    let sealed = samples
        .iter()
        .find(|s| s.name == "server_miniblock_number" && s.label("stage").as_deref() == Some("sealed"))
        .unwrap();
    assert!(
        (sealed.value - local as f64).abs() <= 2.0,
        "{} vs {local}",
        sealed.value
    );
    let lag = samples.iter().find(|s| s.name == "external_node_sync_lag").unwrap();
    assert_eq!(lag.value, (main - local) as f64);
    assert!(
        samples
            .iter()
            .any(|s| s.name == "external_node_fetcher_l1_batch" && s.label("stage").as_deref() == Some("executed"))
    );
}

#[tokio::test]
async fn radix_booting_refuses_the_metrics_port_until_it_boots() {
    let sim = sim(2, &[]);
    let ip = sim.ip(0).unwrap();
    let client = sim.client().unwrap();
    // A connection open before the switch is cut with the port.
    let mut live = TcpStream::connect((ip, 3335)).unwrap();
    client.set_mode(Some(ip), json!({"mode": "booting"})).await.unwrap();
    let err = TcpStream::connect((ip, 3335)).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    live.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut buf = [0u8; 16];
    assert!(
        matches!(live.read(&mut buf), Ok(0) | Err(_)),
        "live connection still open"
    );
    let h = get(&radix_health(ip)).await;
    assert_eq!(h.status, 200);
    assert_eq!(h.json()["status"], "BOOTING_PRE_GENESIS");
    let view = client.validator(ip).await.unwrap();
    assert_eq!(view["status"], "BOOTING_PRE_GENESIS");
    assert_eq!(view["listening"], true);
    assert_eq!(view["ports"], json!({"health": true, "metrics": false}));
    // The other validator still serves metrics.
    assert_eq!(get(&radix_metrics(sim.ip(1).unwrap())).await.status, 200);

    client.set_mode(Some(ip), json!({"mode": "synced"})).await.unwrap();
    let m = get(&radix_metrics(ip)).await;
    assert_eq!(m.status, 200);
    assert!(m.gauge("rn_ledger_state_version") > 0.0);
    assert_eq!(
        client.validator(ip).await.unwrap()["ports"],
        json!({"health": true, "metrics": true})
    );
}

/// The figures a halt freezes, from a Radix page.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Frozen {
    target_ts: f64,
    target_version: f64,
    ledger_ts: f64,
    last_update: f64,
    version: f64,
}

fn frozen(m: &Answer) -> Frozen {
    Frozen {
        target_ts: m.gauge("rn_sync_target_proposer_timestamp_epoch_second"),
        target_version: m.gauge("rn_sync_target_state_version"),
        ledger_ts: m.gauge("rn_ledger_last_update_proposer_epoch_second"),
        last_update: m.gauge("rn_ledger_last_update_epoch_second"),
        version: m.gauge("rn_ledger_state_version"),
    }
}

#[tokio::test]
async fn a_network_halt_freezes_every_validator_and_resumes() {
    /// How long the network stays halted: long enough that a resumed head that did not continue
    /// from the frozen version would stand out (10 versions per second), short for a test.
    const HALT: f64 = 3.0;
    let sim = sim(3, &[]);
    let ips: Vec<_> = (0..3).map(|i| sim.ip(i).unwrap()).collect();
    let client = sim.client().unwrap();
    let admin = sim.started.admin;
    assert_eq!(client.network().await.unwrap(), json!({"halted": false, "since": null}));
    client
        .set_mode(
            Some(ips[1]),
            json!({"mode": "catching_up", "rate": 30, "behind_seconds": 3600}),
        )
        .await
        .unwrap();
    client.set_mode(Some(ips[2]), json!({"mode": "stalled"})).await.unwrap();

    // Bad bodies name the field.
    let http = http(Duration::from_secs(10));
    for (body, want) in [
        (json!({"halt": true}), "\"halt\""),
        (json!({"halted": "yes"}), "halted must be true or false"),
        (json!({}), "halted is required"),
    ] {
        let resp = http
            .post(format!("http://{admin}/network"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 400, "{body}");
        let err: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
        assert!(err["error"].as_str().unwrap().contains(want), "{body}: {err}");
    }

    let before = wall_now();
    client.set_network_halted(true).await.unwrap();
    let network = client.network().await.unwrap();
    assert_eq!(network["halted"], true);
    let since = network["since"].as_f64().unwrap();
    assert!(since >= before - 1.0 && since <= wall_now() + 1.0, "{since}");
    // Halting a halted network changes nothing.
    client.set_network_halted(true).await.unwrap();
    assert_eq!(client.network().await.unwrap()["since"], json!(since));

    let mut at_halt = Vec::new();
    for ip in &ips {
        at_halt.push(frozen(&get(&radix_metrics(*ip)).await));
    }
    let clock = get(&radix_metrics(ips[0]))
        .await
        .gauge("rn_misc_wallclock_epoch_second");
    eventually("the clock to run on during the halt", || async {
        let m = get(&radix_metrics(ips[0])).await;
        (m.gauge("rn_misc_wallclock_epoch_second") >= clock + HALT).then_some(())
    })
    .await;
    for (i, ip) in ips.iter().enumerate() {
        let m = get(&radix_metrics(*ip)).await;
        let now = frozen(&m);
        // Peers announce the frozen head: every validator's target stands still.
        assert_eq!(now.target_ts, at_halt[i].target_ts, "validator {i}");
        assert_eq!(now.target_version, at_halt[i].target_version, "validator {i}");
        assert!(
            (now.target_ts - (since - 1.0)).abs() < 0.01,
            "validator {i}: {now:?} since {since}"
        );
        match i {
            // Synced: at the frozen head, no writes since the halt.
            0 => {
                assert_eq!(now, at_halt[0]);
                assert_eq!(now.ledger_ts, now.target_ts);
                assert!((now.last_update - since).abs() < 0.01);
                assert_eq!(m.gauge("rn_ledger_recent_proposer_timestamp_progress_rate"), 1.0);
            }
            // Catching up at 30×: an hour behind, it keeps ingesting, never past the frozen head.
            1 => {
                assert!(now.ledger_ts > at_halt[1].ledger_ts);
                assert!(now.ledger_ts < now.target_ts);
                assert_eq!(m.gauge("rn_ledger_recent_proposer_timestamp_progress_rate"), 30.0);
            }
            // Stalled: where it stopped.
            _ => assert_eq!(now, at_halt[2]),
        }
    }
    assert_eq!(
        client.validator(ips[0]).await.unwrap()["status"],
        "UP",
        "under a minute behind"
    );

    let resumed = wall_now();
    client.set_network_halted(false).await.unwrap();
    assert_eq!(client.network().await.unwrap(), json!({"halted": false, "since": null}));
    // The head jumps back to the clock; the synced validator follows.
    let m = eventually("the synced validator to follow the resumed network", || async {
        let m = get(&radix_metrics(ips[0])).await;
        (m.gauge("rn_ledger_last_update_proposer_epoch_second") > at_halt[0].ledger_ts + HALT).then_some(m)
    })
    .await;
    let read_at = wall_now();
    let now = frozen(&m);
    assert!(
        (now.ledger_ts - (m.gauge("rn_misc_wallclock_epoch_second") - 1.0)).abs() < 2.0,
        "{now:?}"
    );
    assert!((now.target_ts - now.ledger_ts).abs() < 0.01);
    // State versions continue from the frozen one: no versions for the halted seconds.
    let gained = now.version - at_halt[0].version;
    assert!(
        gained >= 0.0 && gained <= 10.0 * (read_at - resumed + 1.0),
        "{gained} versions"
    );
    assert_eq!(radix_status(ips[0]).await, "UP");
    // The stalled validator stays stalled, the network moving on without it.
    let m = get(&radix_metrics(ips[2])).await;
    assert_eq!(frozen(&m).ledger_ts, at_halt[2].ledger_ts);
    assert!(m.gauge("rn_sync_target_proposer_timestamp_epoch_second") > at_halt[2].target_ts + HALT);
}

#[tokio::test]
async fn a_network_halt_freezes_the_zksync_main_node_block() {
    let sim = sim(2, &["--profile", "zksync"]);
    let ips: Vec<_> = (0..2).map(|i| sim.ip(i).unwrap()).collect();
    let client = sim.client().unwrap();
    client
        .set_mode(
            Some(ips[1]),
            json!({"mode": "catching_up", "rate": 5, "behind_seconds": 20}),
        )
        .await
        .unwrap();
    client.set_network_halted(true).await.unwrap();
    let (_, main) = blocks(&get(&zksync_health(ips[0])).await.json());
    // The catching-up node reaches the frozen main node block and is synced there.
    let (local, frozen_main) = eventually("the catching-up node to reach the frozen head", || async {
        let (local, main) = blocks(&get(&zksync_health(ips[1])).await.json());
        (local == main).then_some((local, main))
    })
    .await;
    assert_eq!(local, frozen_main);
    let h = get(&zksync_health(ips[0])).await.json();
    assert_eq!(blocks(&h), (main, main));
    assert_eq!(h["status"], "ready");
    client.set_network_halted(false).await.unwrap();
    eventually("the main node to move on", || async {
        let (local, main_now) = blocks(&get(&zksync_health(ips[0])).await.json());
        (main_now > main && local == main_now).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_taken_range_is_reported_as_a_bind_error() {
    let sim = sim(2, &[]);
    let again = SimProcess::spawn(BIN, &["--first-ip", &sim.started.first_ip.to_string(), "--count", "2"]);
    match again {
        Err(SpawnError::Bind(message)) => assert!(message.contains("in use"), "{message}"),
        Err(e) => panic!("expected a bind error, got {e}"),
        Ok(_) => panic!("a second simulator bound the same addresses"),
    }
}

/// Sends one raw GET and reads what comes back within `wait` (the connection is then dropped).
fn raw_get(ip: Ipv4Addr, port: u16, path: &str, wait: Duration) -> Vec<u8> {
    use std::io::Write;
    let mut conn = TcpStream::connect((ip, port)).unwrap();
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: {ip}\r\nAccept-Encoding: identity\r\n\r\n"
    )
    .unwrap();
    conn.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let (mut got, started) = (Vec::new(), Instant::now());
    let mut buf = [0u8; 64 << 10];
    while started.elapsed() < wait && got.len() < 4 * MIB {
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    got
}

#[tokio::test]
async fn hostile_modes_on_the_wire() {
    let sim = sim(8, &[]);
    let ips: Vec<_> = (0..8).map(|i| sim.ip(i).unwrap()).collect();
    let client = sim.client().unwrap();
    let modes = [
        json!({"mode": "slowloris", "byte_interval_ms": 100}),
        json!({"mode": "silent"}),
        json!({"mode": "oversized", "mb": 1024, "content_length": true}),
        json!({"mode": "gzip_bomb"}),
        json!({"mode": "redirect"}),
        json!({"mode": "endless_body", "interval_ms": 10}),
        json!({"mode": "nan_values"}),
        json!({"mode": "invalid_utf8"}),
    ];
    for (ip, mode) in ips.iter().zip(&modes) {
        client.set_mode(Some(*ip), mode.clone()).await.unwrap();
    }
    let wait = Duration::from_millis(700);
    let head = |bytes: &[u8]| String::from_utf8_lossy(&bytes[..bytes.len().min(400)]).to_lowercase();

    let trickled = raw_get(ips[0], 3334, "/system/health", wait);
    assert!(
        (3..=12).contains(&trickled.len()),
        "a byte every 100 ms: {:?}",
        head(&trickled)
    );
    assert!(b"HTTP/1.1 200".starts_with(&trickled[..trickled.len().min(12)]));
    assert!(raw_get(ips[1], 3335, "/prometheus/metrics", wait).is_empty(), "silent");

    let huge = raw_get(ips[2], 3335, "/prometheus/metrics", wait);
    let h = head(&huge);
    let announced: u64 = h
        .split("content-length: ")
        .nth(1)
        .unwrap()
        .split('\r')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(announced >= 1 << 30, "1 GiB announced: {h}");
    assert!(!h.contains("transfer-encoding"), "{h}");

    let bomb = raw_get(ips[3], 3334, "/system/health", Duration::from_secs(3));
    assert!(
        head(&bomb).contains("content-encoding: gzip"),
        "gzip though identity was asked for"
    );
    assert!(
        bomb.len() < 2 * MIB,
        "about a thousandth of 1 GiB on the wire: {}",
        bomb.len()
    );

    let moved = head(&raw_get(ips[4], 3334, "/system/health", wait));
    assert!(moved.starts_with("http/1.1 302"), "{moved}");
    assert!(
        moved.contains("location: http://198.51.100.7:8080/system/health"),
        "{moved}"
    );

    let endless = raw_get(ips[5], 3335, "/prometheus/metrics", wait);
    assert!(head(&endless).contains("transfer-encoding: chunked"));
    assert!(endless.len() > 64 << 10, "still streaming: {} bytes", endless.len());

    let m = get(&radix_metrics(ips[6])).await;
    let (samples, stats) = parse_all(&m.body).unwrap();
    assert_eq!(stats.skipped_invalid, 0);
    assert!(samples.iter().all(|s| !s.value.is_finite() || s.value == 0.0));
    assert_eq!(
        radix_status(ips[6]).await,
        "UP",
        "JSON numbers cannot be NaN: the word stands"
    );

    let h = get(&radix_health(ips[7])).await;
    assert!(std::str::from_utf8(&h.body).is_err());

    // Each validator counts what it was asked, hostile or not.
    let seen = client.validator(ips[4]).await.unwrap();
    assert_eq!(seen["requests"]["health"], 1, "{seen}");
    // Back to HTTP: a slowloris validator answers whole pages again.
    client.set_mode(Some(ips[0]), json!({"mode": "synced"})).await.unwrap();
    assert_eq!(radix_status(ips[0]).await, "UP");
}
