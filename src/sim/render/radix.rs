//! Radix bodies: `/system/health` JSON and the `/prometheus/metrics` page.
//!
//! The page imitates babylon-node's, where two writers share one exposition: the Rust core's
//! (`rn_ledger_*`: plain numbers, counters without `_total`) and the Java node's simpleclient
//! (`_total` counters, `_created` lines, `{label="x",}` with a trailing comma, `Double.toString`
//! numbers), with the nameless `# HELP Special metric …` line before `nodeinfo`.

use serde_json::{Value, json};

use super::Identity;
use super::java::{java_double, millis, rust_float};
use crate::sim::mode::RECENT_PROPOSALS_TRACKED;
use crate::sim::state::Snapshot;
use crate::sim::status::NodeStatus;

/// Protocol version a current Babylon node reports.
const PROTOCOL_VERSION: &str = "cuttlefish";
/// `rn_misc_config_info{branch_and_commit}` and `nodeinfo{version}`: the fixture's node build.
const BRANCH_AND_COMMIT: &str = "release/cuttlefish-b4ae2f1";
const NODE_VERSION: &str = "v1.3.0";
/// `key` label of a node's first (only) node key.
const NODE_KEY: &str = "node_key_0";
/// JVM memory gauges: a mid-sized node's, as in the fixture (static; nothing reads them).
const JVM_HEAP_BYTES: f64 = 1.234_567_89e9;
const JVM_NONHEAP_BYTES: f64 = 2.1e8;

/// Serializes a body. A `Value` built by `json!` has string keys only, so serializing cannot
/// fail; the fallback only keeps the function total.
pub(super) fn to_json_bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}").into_bytes())
}

/// The `/system/health` body (always HTTP 200: the verdict is in `status`).
pub fn system_health(snap: &Snapshot) -> Vec<u8> {
    to_json_bytes(&system_health_value(snap, detail(snap)))
}

/// The body's fields, named as babylon-node's System API writes them.
pub(super) fn system_health_value(snap: &Snapshot, detail: String) -> Value {
    json!({
        "status": snap.status.as_str(),
        "detail": detail,
        "recent_self_proposal_miss_statistic": {
            "missed_count": snap.recent_missed,
            "recent_proposals_tracked_count": RECENT_PROPOSALS_TRACKED,
        },
        "current_protocol_version": PROTOCOL_VERSION,
        "enacted_protocol_updates": [],
        "pending_protocol_updates": [],
    })
}

fn detail(snap: &Snapshot) -> String {
    let behind = (snap.wallclock - snap.proposer_ts).max(0.0).round();
    match snap.status {
        NodeStatus::Up if snap.in_validator_set => "The node is synced and participating in consensus".to_owned(),
        NodeStatus::Up => "The node is synced (not in the validator set)".to_owned(),
        NodeStatus::Syncing => format!("The node is syncing: its ledger is {behind} s behind"),
        NodeStatus::OutOfSync => format!("The node is out of sync: its ledger is {behind} s behind"),
        NodeStatus::BootingPreGenesis => "The node is booting (pre-genesis)".to_owned(),
    }
}

/// An exposition being written (plain `push_str`: writing to a `String` has no failure to handle).
pub(super) struct Page(pub String);

impl Page {
    pub(super) fn meta(&mut self, name: &str, help: Option<&str>, kind: &str) {
        if let Some(help) = help {
            self.line(&["# HELP ", name, " ", help]);
        }
        self.line(&["# TYPE ", name, " ", kind]);
    }

    pub(super) fn sample(&mut self, name: &str, labels: &str, value: &str) {
        self.line(&[name, labels, " ", value]);
    }

    pub(super) fn line(&mut self, parts: &[&str]) {
        for p in parts {
            self.0.push_str(p);
        }
        self.0.push('\n');
    }
}

/// The `/prometheus/metrics` page.
pub fn metrics(snap: &Snapshot, id: &Identity) -> String {
    let mut p = Page(String::with_capacity(6 * 1024));
    let c = &snap.counters;
    let gauge = |p: &mut Page, name: &str, help: &str, value: String| {
        p.meta(name, Some(help), "gauge");
        p.sample(name, "", &value);
    };

    // Rust writer.
    let factor_help = "Overall health factor of the node, from 0.0 (critically unhealthy) to 1.0.";
    gauge(
        &mut p,
        "rn_ledger_overall_health_factor",
        factor_help,
        rust_float(snap.health_factor),
    );
    gauge(
        &mut p,
        "rn_ledger_state_version",
        "The state version of the ledger.",
        rust_float(snap.state_version.floor()),
    );
    let name = "rn_ledger_last_update_epoch_second";
    gauge(
        &mut p,
        name,
        "Wall-clock time of the last ledger update.",
        rust_float(millis(snap.last_update)),
    );
    let name = "rn_ledger_last_update_proposer_epoch_second";
    gauge(
        &mut p,
        name,
        "Proposer timestamp of the last ledger update.",
        rust_float(millis(snap.proposer_ts)),
    );
    let name = "rn_ledger_recent_proposer_timestamp_progress_rate";
    let help = "Ledger proposer timestamp progress per wall-clock second.";
    gauge(&mut p, name, help, rust_float(snap.progress_rate));
    let name = "rn_ledger_recent_self_proposal_miss_count";
    gauge(
        &mut p,
        name,
        "Recently missed proposals of this validator.",
        snap.recent_missed.to_string(),
    );
    let name = "rn_ledger_consensus_rounds_committed";
    p.meta(
        name,
        Some("Committed consensus rounds by leader and resolution."),
        "counter",
    );
    for (leader, resolution, count) in [
        (&id.validator_address, "Successful", c.own_successful),
        (&id.validator_address, "MissedByFallback", c.own_missed_by_fallback),
        (&id.validator_address, "MissedByGap", c.own_missed_by_gap),
        (&id.peer_address, "Successful", c.peer_successful),
    ] {
        let labels = format!("{{leader_component_address=\"{leader}\",round_resolution=\"{resolution}\"}}");
        p.sample(name, &labels, &rust_float(count.floor()));
    }

    // Java writer. The real page has no HELP for this one.
    p.meta("rn_sync_current_state_version", None, "gauge");
    p.sample(
        "rn_sync_current_state_version",
        "",
        &java_double(snap.state_version.floor()),
    );
    let name = "rn_sync_target_state_version";
    gauge(
        &mut p,
        name,
        "Target state version, as announced by peers (unvalidated).",
        java_double(snap.target_state_version.floor()),
    );
    let name = "rn_sync_target_proposer_timestamp_epoch_second";
    let help = "Target proposer timestamp, as announced by peers (unvalidated).";
    gauge(&mut p, name, help, java_double(millis(snap.target_proposer_ts)));
    let name = "rn_sync_unexpected_responses_received_total";
    p.meta(name, Some("Unexpected sync responses."), "counter");
    p.sample(name, "{reason=\"UNSOLICITED\",}", "0.0");
    p.sample(name, "{reason=\"STALE\",}", "0.0");
    let created = java_double(millis(snap.process_start));
    p.sample(
        "rn_sync_unexpected_responses_received_created",
        "{reason=\"UNSOLICITED\",}",
        &created,
    );
    let name = "rn_sync_invalid_responses_received_total";
    p.meta(name, Some("Invalid sync responses."), "counter");
    p.sample(name, "{reason=\"MISMATCHED_TRANSACTION_ROOT\",}", "0.0");
    p.sample(name, "{reason=\"INVALID_SIGNATURE\",}", "0.0");
    let name = "rn_bft_rejected_consensus_events_total";
    p.meta(name, Some("Rejected consensus events."), "counter");
    p.sample(
        name,
        "{type=\"PROPOSAL\",invalidity=\"TIMESTAMP\",timestamp_issue=\"TOO_FAR_IN_FUTURE\",}",
        "0.0",
    );
    p.sample(
        name,
        "{type=\"VOTE\",invalidity=\"SIGNATURE\",timestamp_issue=\"NONE\",}",
        "0.0",
    );
    let name = "rn_bft_in_validator_set";
    let help = "Whether this node is in the current validator set (1) or not (0).";
    gauge(
        &mut p,
        name,
        help,
        java_double(if snap.in_validator_set { 1.0 } else { 0.0 }),
    );
    let name = "rn_bft_proposal_timestamp_difference_seconds";
    p.meta(
        name,
        Some("Difference between a proposal's timestamp and the local clock."),
        "summary",
    );
    let peer = format!("key=\"0\",component_address=\"{}\",", id.peer_address);
    p.sample(
        name,
        &format!("{{{peer}quantile=\"0.5\",}}"),
        &java_double(millis(snap.proposal_difference)),
    );
    let count = java_double(c.proposals_observed.floor());
    p.sample(
        "rn_bft_proposal_timestamp_difference_seconds_count",
        &format!("{{{peer}}}"),
        &count,
    );
    let sum = java_double(millis(c.proposal_difference_sum));
    p.sample(
        "rn_bft_proposal_timestamp_difference_seconds_sum",
        &format!("{{{peer}}}"),
        &sum,
    );
    gauge(
        &mut p,
        "rn_misc_wallclock_epoch_second",
        "The node's wall clock.",
        rust_float(millis(snap.wallclock)),
    );
    p.meta(
        "rn_misc_config_info",
        Some("Configuration of the node, as labels."),
        "gauge",
    );
    let labels = format!(
        "{{branch_and_commit=\"{BRANCH_AND_COMMIT}\",key=\"{NODE_KEY}\",configured_validator_address=\"{}\",\
         post_genesis_epoch_state_hash=\"a1b2c3d4\",}}",
        id.validator_address
    );
    p.sample("rn_misc_config_info", &labels, "1.0");
    p.meta(
        "jvm_memory_bytes_used",
        Some("Used bytes of a given JVM memory area."),
        "gauge",
    );
    p.sample(
        "jvm_memory_bytes_used",
        "{area=\"heap\",}",
        &java_double(JVM_HEAP_BYTES),
    );
    p.sample(
        "jvm_memory_bytes_used",
        "{area=\"nonheap\",}",
        &java_double(JVM_NONHEAP_BYTES),
    );
    let name = "process_start_time_seconds";
    gauge(
        &mut p,
        name,
        "Start time of the process since unix epoch in seconds.",
        created,
    );
    // The fixture's exposition quirks: an escaped label value with a sample timestamp, and
    // samples without metadata.
    p.meta(
        "http_requests_total",
        Some("Requests with an escaped label value."),
        "counter",
    );
    let stamp = format!("7.0 {}", (snap.wallclock * 1000.0).floor());
    p.sample("http_requests_total", r#"{path="/a\"b\\c\nd",code="200",}"#, &stamp);
    p.sample("api_latency_bucket", "{le=\"+Inf\",}", "12.0");
    p.sample("api_latency_max", "", "NaN");
    p.line(&[
        "# HELP Special metric used to convey information about the current node using labels. Value will always be 0.",
    ]);
    p.meta("nodeinfo", None, "gauge");
    let labels = format!(
        "{{health=\"{}\",key=\"{NODE_KEY}\",version=\"{NODE_VERSION}\",}}",
        snap.status.as_str()
    );
    p.sample("nodeinfo", &labels, "0.0");
    p.0
}
