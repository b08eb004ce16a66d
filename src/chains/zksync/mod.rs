//! zksync nodes: the component health model at `GET /health`, read as the zksync health-check
//! crate's documentation (`../shared/seeds/zksync-health-check.txt`) says, and the node's
//! Prometheus page.

pub mod health;
pub mod metrics;

pub use health::{HealthParseError, HealthReport, ZkSyncState, parse_health};

use super::{Ports, failed};
use crate::model::{Answer, Api, Reading, Request, Scrape, Status, SyncState};

/// "exposed as an HTTP GET /health endpoint bound to a dedicated healthcheck port".
pub const HEALTH: Request = Request::get(Api::Health, "/health");
/// The node's Prometheus exporter.
pub const METRICS: Request = Request::get(Api::Metrics, "/metrics");
pub const REQUESTS: &[Request] = &[HEALTH, METRICS];
/// The external node's `EN_HEALTHCHECK_PORT` (3081) and `EN_PROMETHEUS_PORT` (3322).
pub const DEFAULT_PORTS: Ports = Ports {
    health: 3081,
    metrics: 3322,
};

/// Who announces the target: the `sync_state` component's `main_node_block`.
const TARGET_SOURCE: &str = "the main node's block";
/// Component problems named one by one in reasons: an external node has ~20 components, and a
/// few fail at once (the fuzz target `readers` bounds a reading to 16 reasons).
const MAX_LISTED: usize = 8;

/// Reads one scrape of a zksync node.
pub fn read(scrape: &Scrape) -> Reading {
    let mut r = Reading {
        target_source: TARGET_SOURCE,
        ..Reading::default()
    };
    let health = scrape.get(HEALTH);
    match health {
        Some(Ok(a)) => read_health(a, &mut r),
        Some(Err(f)) => failed(&mut r, "health", &f.message, true),
        None => {}
    }
    match scrape.get(METRICS) {
        Some(Ok(a)) if a.code == 200 => metrics::read(&a.body, &mut r, health.is_none()),
        Some(Ok(a)) => failed(&mut r, "metrics", &format!("HTTP {}", a.code), health.is_none()),
        Some(Err(f)) => failed(&mut r, "metrics", &f.message, health.is_none()),
        None => {}
    }
    r
}

/// "The HTTP status of the response is 20x if the application is healthy, and 50x if it is
/// not." The body is read on any 20x or 50x; when code and body disagree the worse wins.
fn read_health(a: &Answer, r: &mut Reading) {
    let code_healthy = match a.code {
        200..=299 => true,
        500..=599 => false,
        code => return failed(r, "health", &format!("HTTP {code}"), true),
    };
    let report = match parse_health(&a.body) {
        Ok(report) => report,
        Err(e) if code_healthy => return failed(r, "health", &e.to_string(), true),
        Err(e) => {
            let why = format!(
                "health endpoint answers HTTP {} with a body that cannot be read ({e})",
                a.code
            );
            return r.worsen(Status::NotReady, why);
        }
    };
    r.status = Some(report.status);
    if code_healthy != report.status.is_healthy() {
        let why = format!(
            "health endpoint answers HTTP {} but its body says {}: the worse counts",
            a.code, report.status
        );
        // A 50x over a healthy body is `not_ready`; a 20x over an unhealthy body, the body's word.
        let implied = if code_healthy { report.status } else { Status::NotReady };
        r.worsen(implied, why);
    }
    component_reasons(&report, r);
    r.components = report.components.clone();
    read_sync_state(&report, r);
}

/// Names the components with an unknown or unhealthy status, the first [`MAX_LISTED`] of them;
/// the rest are counted, so a node reporting a thousand broken components writes a sentence,
/// not a thousand, into the pod's status.
fn component_reasons(report: &HealthReport, r: &mut Reading) {
    let unknown = report
        .unknown
        .iter()
        .map(|(name, raw)| format!("component {name} reports an unknown status {raw:?}"));
    let unhealthy = report
        .components
        .iter()
        .filter(|(_, st)| !st.is_healthy())
        .map(|(name, st)| format!("component {name} is {st}"));
    let total = report.unknown.len() + report.components.values().filter(|st| !st.is_healthy()).count();
    r.reasons.extend(unknown.chain(unhealthy).take(MAX_LISTED));
    if total > MAX_LISTED {
        r.reasons
            .push(format!("and {} more component problems", total - MAX_LISTED));
    }
}

/// The `sync_state` component: `local_block` is the node's head, `main_node_block` its target.
fn read_sync_state(report: &HealthReport, r: &mut Reading) {
    let no_local_block = report.sync.is_none_or(|s| s.local_block.is_none());
    if report.status == Status::NotReady && (report.components.is_empty() || no_local_block) {
        r.booting = Some("the node has no local block yet: it has not started syncing".to_owned());
    }
    let Some(sync) = report.sync else { return };
    r.head.height = sync.local_block.map(|b| b as f64);
    r.target.height = sync.main_node_block.map(|b| b as f64);
    // The node's own word; its lag and progress, once observed, decide.
    r.claimed_sync = Some(if sync.is_synced {
        SyncState::Synced
    } else {
        SyncState::Syncing
    });
    if !sync.is_synced {
        let lag = sync
            .block_lag()
            .map(|l| format!(", {l} blocks behind the main node"))
            .unwrap_or_default();
        r.reasons.push(format!("node reports it is not synced{lag}"));
    }
}

#[cfg(test)]
mod tests;
