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
