//! Radix nodes: `GET /system/health` and the node's `rn_*` Prometheus metrics, read as the
//! Radix node-health document (`../shared/seeds/radix-node-health.txt`) says.

pub mod metrics;
pub mod system_health;

pub use metrics::{RadixMetrics, RoundCounts};
pub use system_health::{MissStatistic, RadixStatus, SystemHealth, SystemHealthError, parse_system_health};

use super::{Ports, failed, page_notes};
use crate::model::{Answer, Api, Counter, Fetched, Reading, Request, Scrape, Status, SyncState};

/// "the summarised health status is also exposed in the `/system/health` endpoint of the System API".
pub const HEALTH: Request = Request::get(Api::Health, "/system/health");
/// The node's Prometheus endpoint.
pub const METRICS: Request = Request::get(Api::Metrics, "/prometheus/metrics");
pub const REQUESTS: &[Request] = &[HEALTH, METRICS];
/// babylon-node's `api.system.port` (3334) and `api.prometheus.port` (3335).
pub const DEFAULT_PORTS: Ports = Ports {
    health: 3334,
    metrics: 3335,
};

/// Who announces the sync target: "A maximum state version among those received in the status
/// responses from the Node's peers".
const TARGET_SOURCE: &str = "the sync target announced by peers";

/// Reads one scrape of a Radix node.
pub fn read(scrape: &Scrape) -> Reading {
    let mut r = Reading {
        target_source: TARGET_SOURCE,
        ..Reading::default()
    };
    let health = scrape.get(HEALTH);
    let health_answered = matches!(health, Some(Ok(a)) if a.code == 200);
    if let Some(fetched) = health {
        read_health(fetched, &mut r);
    }
    match scrape.get(METRICS) {
        Some(Ok(a)) if a.code == 200 => read_metrics(a, &mut r, health.is_none()),
        Some(Ok(a)) => failed(&mut r, "metrics", &format!("HTTP {}", a.code), health.is_none()),
        // "if the Node's process runs, but has not yet opened the Prometheus port, then it may
        // have encountered some specific problems (...), which requires inspecting the Node's logs"
        Some(Err(f)) if f.refused() && health_answered => {
            r.booting = Some(
                "the node answers on its health port but its Prometheus port is closed: spin-up has not finished \
                 (see the node's logs)"
                    .to_owned(),
            );
        }
        Some(Err(f)) => failed(&mut r, "metrics", &f.message, health.is_none()),
        None => {}
    }
    r
}

/// The `/system/health` answer: always HTTP 200, the body's `status` says (500 only when its
/// handler fails).
fn read_health(fetched: &Fetched, r: &mut Reading) {
    let a = match fetched {
        Ok(a) if a.code == 200 => a,
        Ok(a) => return failed(r, "health", &format!("HTTP {}", a.code), true),
        Err(f) => return failed(r, "health", &f.message, true),
    };
    let h = match parse_system_health(&a.body) {
        Ok(h) => h,
        Err(e) => return failed(r, "health", &e.to_string(), true),
    };
    let word = h.status;
    if word != RadixStatus::Up {
        r.worsen(word.to_status(), format!("node reports {}", word.as_str()));
    } else {
        r.status = Some(Status::Ready);
    }
    r.claimed_sync = match word {
        RadixStatus::Up => Some(SyncState::Synced),
        RadixStatus::Syncing => Some(SyncState::Syncing),
        RadixStatus::OutOfSync => Some(SyncState::OutOfSync),
        RadixStatus::BootingPreGenesis => Some(SyncState::Booting),
        RadixStatus::Unknown => None,
    };
    if word == RadixStatus::BootingPreGenesis {
        r.booting = Some("node reports BOOTING_PRE_GENESIS: its ledger has not run genesis yet".to_owned());
    }
    if let Some(m) = h.recent_self_proposal_miss_statistic {
        r.missed_proposals = Some(m.missed_count as f64);
    }
}

/// The metrics page. `only_word`: no health endpoint is probed, so a failure is the verdict.
fn read_metrics(a: &Answer, r: &mut Reading, only_word: bool) {
    let m = match RadixMetrics::from_exposition(&a.body) {
        Ok(m) => m,
        Err(e) => return failed(r, "metrics", &format!("metrics: {e}"), only_word),
    };
    // "if the Node's process has opened the Prometheus port and returns _any_ metric, then the
    // spin-up phase was finished successfully"
    if m.stats.samples + m.stats.ignored == 0 {
        r.booting = Some("the node's Prometheus port returns no metric: spin-up has not finished".to_owned());
        return;
    }
    page_notes(r, &m.stats);
    let positive = |x: Option<f64>| x.filter(|v| v.is_finite() && *v > 0.0);
    r.head.time = positive(m.last_update_proposer_epoch_second);
    r.head.height = positive(m.ledger_state_version.or(m.sync_current_state_version));
    not_numbers(&m, r);
    r.target.time = positive(m.sync_target_proposer_timestamp_epoch_second);
    r.target.height = positive(m.sync_target_state_version);
    r.clock = positive(m.wallclock_epoch_second);
    r.reported_rate = m.progress_rate.filter(|v| v.is_finite());
    r.reported_factor = m.overall_health_factor;
    r.in_validator_set = m.in_validator_set;
    if let Some(missed) = m.recent_self_proposal_miss_count {
        // The health endpoint counts too: the larger count stands.
        r.missed_proposals = Some(r.missed_proposals.map_or(missed, |h| h.max(missed)));
    }
    r.peer_clock_offsets = m.proposal_timestamp_differences;
    r.skipped_rounds = m.rounds_missed_by_gap;
    let counters = [
        // "A growing `rn_sync_unexpected_responses_received_total` hints at network latency/timeout issues."
        (
            "unexpected sync responses (network latency or timeouts?)",
            m.sync_unexpected_responses,
        ),
        // "A growing `rn_sync_invalid_responses_received_total` (especially when caused by
        // `MISMATCHED_TRANSACTION_ROOT`) hints at malformed local Ledger state."
        ("invalid sync responses", m.sync_invalid_responses),
        (
            "sync responses with a mismatched transaction root (malformed local ledger?)",
            m.sync_mismatched_transaction_root,
        ),
        // "A growing `rn_bft_rejected_consensus_events_total` hints at byzantine behavior of the other Validators."
        ("consensus events rejected", m.bft_rejected_consensus_events),
        // "Fallback rounds denote problems with just this Node".
        (
            "rounds led by this validator missed by fallback",
            m.own_rounds.map(|o| o.missed_by_fallback),
        ),
        // "gaps in round numbers most likely denote problems with liveness of the entire Network".
        ("consensus rounds missed by gap, network-wide", m.rounds_missed_by_gap),
    ];
    r.counters = counters
        .into_iter()
        .filter_map(|(what, value)| Some(Counter { what, value: value? }))
        .collect();
}

/// The series that say where the ledger is: without one of them, nothing the node says of its
/// sync can be checked.
const POSITION: [&str; 3] = [
    "rn_ledger_last_update_proposer_epoch_second",
    "rn_ledger_state_version",
    "rn_sync_current_state_version",
];

/// Series named in a reason at most: enough to see what is wrong, short enough for a status row.
const MAX_LISTED: usize = 3;

/// Series the page has but whose figures are NaN or infinite. When the ledger's position is
/// among them and no other says it, the node's `UP` cannot be checked: not a healthy verdict.
fn not_numbers(m: &RadixMetrics, r: &mut Reading) {
    if m.not_numbers.is_empty() {
        return;
    }
    let mut listed = m
        .not_numbers
        .iter()
        .take(MAX_LISTED)
        .map(|(name, v)| format!("{name} {}", spelled(*v)))
        .collect::<Vec<_>>()
        .join(", ");
    if m.not_numbers.len() > MAX_LISTED {
        listed += &format!(" and {} more", m.not_numbers.len() - MAX_LISTED);
    }
    let position_lost = m.not_numbers.iter().any(|(name, _)| POSITION.contains(name));
    if position_lost && !r.head.is_known() {
        r.claimed_sync = None;
        r.worsen(
            Status::NotReady,
            format!("metrics: the ledger's position is not a number ({listed}): its sync cannot be checked"),
        );
    } else {
        r.reasons.push(format!("metrics: not a number: {listed}"));
    }
}

/// A value that is not a number, as the exposition format spells it.
fn spelled(v: f64) -> &'static str {
    if v.is_nan() {
        "NaN"
    } else if v > 0.0 {
        "+Inf"
    } else {
        "-Inf"
    }
}

#[cfg(test)]
mod tests;
