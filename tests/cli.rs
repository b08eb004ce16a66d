//! `nodehealth probe` as people and exec probes use it: exit codes and the JSON verdict.

use std::process::Command;

use nodehealth::sim::SimProcess;
use serde_json::{Value, json};

fn probe(ip: &str, extra: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nodehealth"))
        .args(["probe", "--health", &format!("http://{ip}:3334/system/health")])
        .args(["--metrics", &format!("http://{ip}:3335/prometheus/metrics")])
        .args(["--timeout", "1"])
        .args(extra)
        .output()
        .expect("run nodehealth probe");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test]
async fn exit_codes_and_the_json_verdict() {
    let sim = SimProcess::spawn_random_range(env!("CARGO_BIN_EXE_nodehealth-sim"), 3, &[] as &[&str], 5).unwrap();
    let client = sim.client().unwrap();
    let ip = |i| sim.ip(i).unwrap().to_string();

    let (code, out) = probe(&ip(0), &["-o", "json"]);
    assert_eq!(code, 0, "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    for key in [
        "status",
        "healthy",
        "syncState",
        "healthFactor",
        "reportedHealthFactor",
        "reasons",
        "components",
    ] {
        assert!(v.get(key).is_some(), "{key} missing in {out}");
    }
    assert_eq!(v["status"], "ready");
    assert_eq!(v["healthFactor"], 1.0);

    // Stalled while syncing: the node still says SYNCING at 0.5; two scrapes apart show 0 progress.
    let stalled = sim.ip(1);
    client
        .set_mode(
            stalled,
            json!({"mode": "catching_up", "rate": 30, "behind_seconds": 3600}),
        )
        .await
        .unwrap();
    client.set_mode(stalled, json!({"mode": "stalled"})).await.unwrap();
    let (code, out) = probe(&ip(1), &["-o", "json", "--window", "2"]);
    assert_eq!(code, 1, "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["healthFactor"], 0.0, "{out}");
    assert_eq!(v["reportedHealthFactor"], 0.5, "{out}");
    assert_eq!(v["syncState"], "OutOfSync");

    client
        .set_mode(sim.ip(2), json!({"mode": "unreachable"}))
        .await
        .unwrap();
    let (code, out) = probe(&ip(2), &[]);
    assert_eq!(code, 2, "nothing could be probed: {out}");
    assert!(out.contains("connection refused"), "{out}");

    let usage = Command::new(env!("CARGO_BIN_EXE_nodehealth"))
        .arg("probe")
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(2));
}

#[tokio::test]
async fn a_healthy_zksync_node_probed_on_both_endpoints_exits_0() {
    let sim =
        SimProcess::spawn_random_range(env!("CARGO_BIN_EXE_nodehealth-sim"), 1, &["--profile", "zksync"], 5).unwrap();
    let ip = sim.ip(0).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_nodehealth"))
        .args(["probe", "--profile", "zksync"])
        .args(["--health", &format!("http://{ip}:3081/health")])
        .args(["--metrics", &format!("http://{ip}:3322/metrics")])
        .args(["--timeout", "1", "-o", "json"])
        .output()
        .expect("run nodehealth probe");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (v["status"].as_str(), v["syncState"].as_str()),
        (Some("ready"), Some("Synced")),
        "{text}"
    );
}

/// `nodehealth probe --profile <chain> --health URL -o json`: the exit code and the verdict.
fn probe_chain(profile: &str, url: &str, extra: &[&str]) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_nodehealth"))
        .args(["probe", "--profile", profile, "--health", url])
        .args(["--timeout", "1", "-o", "json"])
        .args(extra)
        .output()
        .expect("run nodehealth probe");
    let text = String::from_utf8_lossy(&out.stdout);
    let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (out.status.code().unwrap_or(-1), v)
}

/// The verdict's status, sync state and whether a reason starts with `reason`.
fn says(v: &Value, status: &str, sync: &str, reason: &str) -> bool {
    let reasons = v["reasons"].as_array().map(Vec::as_slice).unwrap_or_default();
    v["status"] == status
        && v["syncState"] == sync
        && reasons
            .iter()
            .any(|r| r.as_str().is_some_and(|r| r.starts_with(reason)))
}

#[tokio::test]
async fn solana_verdicts_on_the_simulator() {
    let sim =
        SimProcess::spawn_random_range(env!("CARGO_BIN_EXE_nodehealth-sim"), 4, &["--profile", "solana"], 5).unwrap();
    let client = sim.client().unwrap();
    let url = |i: usize| format!("http://{}:8899/health", sim.ip(i).unwrap());
    let (code, v) = probe_chain("solana", &url(0), &[]);
    assert_eq!(
        (code, &v["status"], &v["syncState"]),
        (0, &json!("ready"), &json!("Synced")),
        "{v}"
    );
    assert_eq!(v["reasons"], json!([]), "{v}");

    // An hour behind, replaying at 30× the cluster: "behind", and the gap closes.
    let catching_up = json!({"mode": "catching_up", "rate": 30, "behind_seconds": 3600});
    client.set_mode(sim.ip(1), catching_up.clone()).await.unwrap();
    let (code, v) = probe_chain("solana", &url(1), &["--window", "2"]);
    assert_eq!(code, 0, "{v}");
    assert!(
        says(&v, "affected", "Syncing", "node reports it is behind the cluster by"),
        "{v}"
    );

    // No peer: the node cannot compare its slot with the cluster's.
    client.set_mode(sim.ip(2), json!({"mode": "no_peers"})).await.unwrap();
    let (code, v) = probe_chain("solana", &url(2), &[]);
    assert_eq!(code, 1, "{v}");
    assert!(says(&v, "not_ready", "Unknown", "node reports health unknown"), "{v}");

    // Stalled far behind: the slot does not move while the cluster's does.
    client.set_mode(sim.ip(3), catching_up).await.unwrap();
    client.set_mode(sim.ip(3), json!({"mode": "stalled"})).await.unwrap();
    let (code, v) = probe_chain("solana", &url(3), &["--window", "2"]);
    assert_eq!(code, 1, "{v}");
    assert!(says(&v, "not_ready", "OutOfSync", ""), "{v}");
    assert!(
        v["reasons"][0].as_str().unwrap().contains("its block has not moved"),
        "{v}"
    );

    // The cluster halts: every slot stands, and a node that says ok at a frozen slot shows it.
    client.set_network_halted(true).await.unwrap();
    let (_, v) = probe_chain("solana", &url(0), &["--window", "2"]);
    assert_eq!(
        (&v["syncState"], &v["network"]),
        (&json!("Synced"), &json!("Stalled")),
        "{v}"
    );
}

#[tokio::test]
async fn ethereum_verdicts_on_the_simulator() {
    let sim =
        SimProcess::spawn_random_range(env!("CARGO_BIN_EXE_nodehealth-sim"), 4, &["--profile", "ethereum"], 5).unwrap();
    let client = sim.client().unwrap();
    let url = |i: usize| format!("http://{}:5052/eth/v1/node/health", sim.ip(i).unwrap());
    let (code, v) = probe_chain("ethereum", &url(0), &[]);
    assert_eq!(
        (code, &v["status"], &v["syncState"]),
        (0, &json!("ready"), &json!("Synced")),
        "{v}"
    );
    assert_eq!(v["reasons"], json!([]), "{v}");

    // Two scrapes more than a 12 s slot apart, so that the current slot moves between them.
    // 300 slots behind, syncing at 30× the chain: 206, and the gap closes.
    let catching_up = json!({"mode": "catching_up", "rate": 30, "behind_seconds": 3600});
    client.set_mode(sim.ip(1), catching_up.clone()).await.unwrap();
    let (code, v) = probe_chain("ethereum", &url(1), &["--window", "13"]);
    assert_eq!(code, 0, "{v}");
    assert!(says(&v, "affected", "Syncing", "beacon node answers HTTP 206"), "{v}");

    client.set_mode(sim.ip(2), json!({"mode": "no_peers"})).await.unwrap();
    let (code, v) = probe_chain("ethereum", &url(2), &[]);
    assert_eq!(code, 0, "affected is not unhealthy: {v}");
    assert!(says(&v, "affected", "Synced", "no peer connected"), "{v}");

    client.set_mode(sim.ip(3), catching_up).await.unwrap();
    client.set_mode(sim.ip(3), json!({"mode": "stalled"})).await.unwrap();
    let (code, v) = probe_chain("ethereum", &url(3), &["--window", "13"]);
    assert_eq!(code, 1, "{v}");
    assert!(says(&v, "not_ready", "OutOfSync", ""), "{v}");
    assert!(
        v["reasons"][0].as_str().unwrap().contains("its block has not moved"),
        "{v}"
    );
}

mod cometbft_and_substrate {
    //! CometBFT and Substrate nodes probed on the simulator (their own module: other chains append
    //! helpers of their own to this file).

    use super::*;

    /// `nodehealth probe --profile <profile>` on `health` and `metrics` URLs: the exit code and the
    /// JSON verdict.
    fn probe_chain(profile: &str, health: String, metrics: String, extra: &[&str]) -> (i32, Value) {
        let out = Command::new(env!("CARGO_BIN_EXE_nodehealth"))
            .args([
                "probe",
                "--profile",
                profile,
                "--health",
                &health,
                "--metrics",
                &metrics,
            ])
            .args(["--timeout", "1", "-o", "json"])
            .args(extra)
            .output()
            .expect("run nodehealth probe");
        let text = String::from_utf8_lossy(&out.stdout);
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        (out.status.code().unwrap_or(-1), v)
    }

    fn state(v: &Value) -> (Option<&str>, Option<&str>) {
        (v["status"].as_str(), v["syncState"].as_str())
    }

    fn has_reason(v: &Value, words: &str) -> bool {
        v["reasons"]
            .as_array()
            .is_some_and(|rs| rs.iter().any(|r| r.as_str().is_some_and(|r| r.contains(words))))
    }

    /// Puts a simulated validator an hour behind, then freezes it there: a stalled node that still
    /// calls itself synced.
    async fn stall_an_hour_behind(client: &nodehealth::sim::SimClient, ip: std::net::Ipv4Addr) {
        let behind = json!({"mode": "catching_up", "rate": 30, "behind_seconds": 3600});
        client.set_mode(Some(ip), behind).await.unwrap();
        client.set_mode(Some(ip), json!({"mode": "stalled"})).await.unwrap();
    }

    #[tokio::test]
    async fn cometbft_verdicts_on_the_simulator() {
        let args = ["--profile", "cometbft"];
        let sim = SimProcess::spawn_random_range(env!("CARGO_BIN_EXE_nodehealth-sim"), 4, &args, 5).unwrap();
        let client = sim.client().unwrap();
        let probe = |i: usize, extra: &[&str]| {
            let ip = sim.ip(i).unwrap();
            let (health, metrics) = (
                format!("http://{ip}:26657/status"),
                format!("http://{ip}:26660/metrics"),
            );
            probe_chain("cometbft", health, metrics, extra)
        };
        let (code, v) = probe(0, &[]);
        assert_eq!((code, state(&v)), (0, (Some("ready"), Some("Synced"))), "{v}");

        let catching_up = json!({"mode": "catching_up", "rate": 50, "behind_seconds": 3600});
        client.set_mode(sim.ip(1), catching_up).await.unwrap();
        let (code, v) = probe(1, &["--window", "2"]);
        assert_eq!((code, state(&v)), (0, (Some("affected"), Some("Syncing"))), "{v}");
        assert!(has_reason(&v, "node reports catching_up"), "{v}");

        client.set_mode(sim.ip(2), json!({"mode": "no_peers"})).await.unwrap();
        let (code, v) = probe(2, &[]);
        assert_eq!((code, state(&v)), (0, (Some("affected"), Some("Synced"))), "{v}");
        assert!(has_reason(&v, "no peers connected"), "{v}");

        client.set_mode(sim.ip(2), json!({"mode": "booting"})).await.unwrap();
        let (code, v) = probe(2, &[]);
        assert_eq!((code, state(&v)), (1, (Some("not_ready"), Some("Booting"))), "{v}");
        client.set_mode(sim.ip(2), json!({"mode": "malformed"})).await.unwrap();
        let (code, v) = probe(2, &[]);
        assert_eq!((code, v["status"].as_str()), (1, Some("not_ready")), "{v}");
        assert!(has_reason(&v, "probe failed: not JSON"), "{v}");

        stall_an_hour_behind(&client, sim.ip(3).unwrap()).await;
        let (code, v) = probe(3, &["--window", "2"]);
        assert_eq!((code, state(&v)), (1, (Some("not_ready"), Some("OutOfSync"))), "{v}");
        assert!(has_reason(&v, "behind, progressing at 0.0× real time"), "{v}");
    }

    #[tokio::test]
    async fn substrate_verdicts_on_the_simulator() {
        let args = ["--profile", "substrate"];
        let sim = SimProcess::spawn_random_range(env!("CARGO_BIN_EXE_nodehealth-sim"), 4, &args, 5).unwrap();
        let client = sim.client().unwrap();
        let probe = |i: usize, extra: &[&str]| {
            let ip = sim.ip(i).unwrap();
            let (health, metrics) = (format!("http://{ip}:9944/health"), format!("http://{ip}:9615/metrics"));
            probe_chain("substrate", health, metrics, extra)
        };
        let (code, v) = probe(0, &[]);
        assert_eq!((code, state(&v)), (0, (Some("ready"), Some("Synced"))), "{v}");
        assert!(v["reasons"].as_array().is_some_and(Vec::is_empty), "{v}");

        let catching_up = json!({"mode": "catching_up", "rate": 5, "behind_seconds": 3600});
        client.set_mode(sim.ip(1), catching_up).await.unwrap();
        let (code, v) = probe(1, &["--window", "7"]);
        assert_eq!((code, state(&v)), (0, (Some("affected"), Some("Syncing"))), "{v}");
        assert!(has_reason(&v, "node reports isSyncing"), "{v}");

        client.set_mode(sim.ip(2), json!({"mode": "no_peers"})).await.unwrap();
        let (code, v) = probe(2, &[]);
        assert_eq!((code, state(&v)), (0, (Some("affected"), Some("Synced"))), "{v}");
        assert!(has_reason(&v, "no peers connected"), "{v}");

        client.set_mode(sim.ip(2), json!({"mode": "booting"})).await.unwrap();
        let (code, v) = probe(2, &[]);
        assert_eq!((code, state(&v)), (1, (Some("not_ready"), Some("Booting"))), "{v}");
        client.set_mode(sim.ip(2), json!({"mode": "malformed"})).await.unwrap();
        let (code, v) = probe(2, &[]);
        assert_eq!((code, v["status"].as_str()), (1, Some("not_ready")), "{v}");
        assert!(has_reason(&v, "probe failed: not JSON"), "{v}");

        // Seven seconds apart: the peers' highest block moves at least once (6 s blocks), so the
        // network is seen live and the node alone is behind.
        stall_an_hour_behind(&client, sim.ip(3).unwrap()).await;
        let (code, v) = probe(3, &["--window", "7"]);
        assert_eq!((code, state(&v)), (1, (Some("not_ready"), Some("OutOfSync"))), "{v}");
        assert!(
            has_reason(
                &v,
                "blocks behind the highest block peers announce, its block has not moved"
            ),
            "{v}"
        );
        assert_eq!(v["network"], "Live", "the peers' head moved: {v}");

        // The whole network halts: a synced node's head and its peers' stand still. Not its fault.
        client.set_network_halted(true).await.unwrap();
        let (code, v) = probe(0, &["--window", "7"]);
        assert_eq!((code, state(&v)), (0, (Some("affected"), Some("Synced"))), "{v}");
        assert_eq!(v["network"], "Stalled", "{v}");
        assert!(has_reason(&v, "the network is not live"), "{v}");
    }
}
