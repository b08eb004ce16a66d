//! The zksync reader on bodies written from the crate documentation's field names.

use bytes::Bytes;
use serde_json::{Value, json};

use super::*;
use crate::model::Fetched;

fn answer(code: u16, body: impl Into<Bytes>) -> Fetched {
    Ok(Answer {
        code,
        body: body.into(),
    })
}

/// An external node's `/health` body, as the documentation's example shapes it.
fn body(status: &str, sync_status: &str, is_synced: bool, local: u64, main: u64) -> Value {
    json!({
        "status": status,
        "components": {
            "sync_state": {"status": sync_status, "details": {"is_synced": is_synced, "local_block": local, "main_node_block": main}},
            "connection_pool": {"status": "ready", "details": {"max_size": 50, "pool_size": 10}},
            "tree": {"status": "ready", "details": {"leaf_count": 12624, "mode": "full", "stage": "main_loop"}},
            "main_node_http_rpc": {"status": "ready"},
            "http_api": {"status": "ready"}
        }
    })
}

fn read_with(health: Option<Fetched>, metrics: Option<Fetched>) -> Reading {
    let answers = [(HEALTH, health), (METRICS, metrics)]
        .into_iter()
        .filter_map(|(r, f)| Some((r, f?)))
        .collect();
    read(&Scrape { at: 0.0, answers })
}

fn health(code: u16, v: Value) -> Reading {
    read_with(Some(answer(code, v.to_string())), None)
}

/// A page as the node's `vise` exporter writes it (OpenMetrics, `# EOF`), with zksync-era's names.
const PAGE: &str = "# HELP external_node_synced .\n# TYPE external_node_synced gauge\nexternal_node_synced 0\n\
# HELP external_node_sync_lag .\n# TYPE external_node_sync_lag gauge\nexternal_node_sync_lag 300\n\
# HELP server_miniblock_number .\n# TYPE server_miniblock_number gauge\n\
server_miniblock_number{stage=\"sealed\"} 1200\n# EOF\n";

#[test]
fn the_documentations_example_is_ready_and_names_its_blocks() {
    let r = health(200, body("ready", "ready", true, 91, 91));
    assert_eq!(r.status, Some(Status::Ready));
    assert_eq!(r.claimed_sync, Some(SyncState::Synced));
    assert_eq!((r.head.height, r.target.height), (Some(91.0), Some(91.0)));
    assert_eq!(r.components.len(), 5);
    assert!(r.reasons.is_empty(), "{r:?}");
    assert_eq!(r.booting, None);
}

#[test]
fn with_metrics_a_healthy_node_stays_healthy() {
    // The first thing a zksync user tries: both endpoints. The page says nothing of start-up.
    let r = read_with(
        Some(answer(200, body("ready", "ready", true, 91, 91).to_string())),
        Some(answer(200, PAGE)),
    );
    assert_eq!((r.status, r.booting.as_deref()), (Some(Status::Ready), None), "{r:?}");
    let unreadable = read_with(
        Some(answer(200, body("ready", "ready", true, 91, 91).to_string())),
        Some(answer(200, "<html>oops</html>")),
    );
    assert_eq!(unreadable.status, Some(Status::Ready), "a reason, not a verdict");
    assert!(unreadable.reasons[0].starts_with("metrics probe failed"));
}

#[test]
fn any_20x_or_50x_body_is_read_and_the_worse_wins() {
    // "The HTTP status of the response is 20x if the application is healthy, and 50x if it is not."
    let r = health(206, body("affected", "affected", false, 80, 91));
    assert_eq!(r.status, Some(Status::Affected));
    let r = health(500, body("not_ready", "ready", true, 91, 91));
    assert_eq!(r.status, Some(Status::NotReady));
    // Code and body disagree: the worse counts, and the reason says so.
    let r = health(503, body("ready", "ready", true, 91, 91));
    assert_eq!(r.status, Some(Status::NotReady));
    assert!(
        r.reasons
            .iter()
            .any(|x| x == "health endpoint answers HTTP 503 but its body says ready: the worse counts"),
        "{r:?}"
    );
    let r = health(200, body("shut_down", "ready", true, 91, 91));
    assert_eq!(r.status, Some(Status::ShutDown));
    assert!(
        r.reasons
            .iter()
            .any(|x| x.contains("HTTP 200 but its body says shut_down"))
    );
    // A 50x without a readable body is still a verdict; other codes are failures.
    let r = read_with(Some(answer(502, "Bad Gateway")), None);
    assert_eq!(r.status, Some(Status::NotReady));
    assert!(
        r.reasons[0].contains("HTTP 502 with a body that cannot be read"),
        "{r:?}"
    );
    let r = read_with(Some(answer(404, "not found")), None);
    assert_eq!(r.reasons, vec!["health probe failed: HTTP 404".to_owned()]);
}

#[test]
fn a_lagging_node_names_its_blocks_and_says_it_is_not_synced() {
    let r = health(200, body("affected", "affected", false, 1200, 1500));
    assert_eq!(r.status, Some(Status::Affected));
    assert_eq!((r.head.height, r.target.height), (Some(1200.0), Some(1500.0)));
    assert_eq!(r.target_source, "the main node's block");
    assert!(
        r.reasons
            .iter()
            .any(|x| x == "node reports it is not synced, 300 blocks behind the main node"),
        "{r:?}"
    );
}

#[test]
fn a_node_without_a_local_block_is_booting() {
    let v = json!({"status": "not_ready", "components": {
        "sync_state": {"status": "not_ready", "details": {"is_synced": false, "main_node_block": 91}},
        "tree": {"status": "not_ready", "details": {"stage": "initializing"}}}});
    let r = health(503, v);
    assert!(r.booting.is_some(), "{r:?}");
    assert!(health(503, json!({"status": "not_ready"})).booting.is_some());
}

#[test]
fn the_page_alone_gives_the_blocks_and_the_health_endpoint_wins_when_both_say() {
    let r = read_with(None, Some(answer(200, PAGE)));
    assert_eq!((r.head.height, r.target.height), (Some(1200.0), Some(1500.0)));
    assert_eq!(r.claimed_sync, Some(SyncState::Syncing));
    let both = read_with(
        Some(answer(200, body("ready", "ready", true, 91, 91).to_string())),
        Some(answer(200, PAGE)),
    );
    assert_eq!((both.head.height, both.target.height), (Some(91.0), Some(91.0)));
    assert_eq!(both.claimed_sync, Some(SyncState::Synced));
}

#[test]
fn a_thousand_broken_components_are_named_up_to_eight_then_counted() {
    // A body the `readers` fuzz target's bound on reasons is about: every component unhealthy or
    // unknown, each once a line of the pod's status.
    let components: serde_json::Map<String, Value> = (0..1000)
        .map(|i| {
            let status = if i % 2 == 0 { "not_ready" } else { "melting" };
            (format!("c{i:04}"), json!({"status": status}))
        })
        .collect();
    let r = health(503, json!({"status": "not_ready", "components": components}));
    assert_eq!(r.status, Some(Status::NotReady));
    assert_eq!(r.components.len(), 1000);
    let named = r.reasons.iter().filter(|x| x.starts_with("component ")).count();
    assert_eq!(named, 8, "{:?}", r.reasons);
    assert_eq!(r.reasons[0], "component c0001 reports an unknown status \"melting\"");
    // 500 unknown statuses, and 1000 components unhealthy (the unknown ones count as not_ready).
    assert!(
        r.reasons.contains(&"and 1492 more component problems".to_owned()),
        "{:?}",
        r.reasons
    );
    assert!(r.reasons.len() <= 12, "{:?}", r.reasons);
}

#[test]
fn a_lag_that_overflows_the_head_is_no_target() {
    // The `readers` fuzz target's check that positions are finite caught a target of +inf.
    let page = "server_miniblock_number{stage=\"sealed\"} 1e308\nexternal_node_sync_lag 1e308\n";
    let r = read_with(None, Some(answer(200, page)));
    assert_eq!((r.head.height, r.target.height), (Some(1e308), None));
}
