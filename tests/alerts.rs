//! The chart's PrometheusRule (`metrics.prometheusRule`): `promtool check rules` accepts it,
//! `promtool test rules` runs tests/fixtures/alerts/tests.yaml (synthetic series: each alert
//! fires when it should and stays silent when it should not), every metric its rules name is one
//! the operator exports, and every alert carries a severity, a summary, a description and a
//! runbook section in docs/runbooks.md. No operator runs: `helm template` and `promtool` only
//! (`helm` from `scripts/cluster.sh env`, `promtool` from Debian's `prometheus` package, which
//! `scripts/cluster.sh up` installs).

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use nodehealth::model::SyncState;
use nodehealth::telemetry::{Metrics, PodGauges};
use support::chart::{REPO, render, sh, text};

/// Every alert of the chart, in the order of the rule file.
const ALERTS: [&str; 9] = [
    "NodeHealthValidatorUnhealthy",
    "NodeHealthValidatorDegraded",
    "NodeHealthValidatorOutOfSync",
    "NodeHealthNetworkStalled",
    "NodeHealthRemediationBlocked",
    "NodeHealthRestartBudgetExhausted",
    "NodeHealthOperatorDown",
    "NodeHealthNoLeader",
    "NodeHealthProbesFailing",
];

const RUNBOOKS: &str = "https://github.com/nodehealth/nodehealth/blob/main/docs/runbooks.md";

/// The rendered PrometheusRule of release `nodehealth` (so `job="nodehealth"`, as the unit tests
/// expect), with `extra` helm flags; None when the chart renders none.
fn prometheus_rule(extra: &str) -> Option<serde_json::Value> {
    let objects = render("nodehealth", extra);
    let mut rules = objects.into_iter().filter(|o| o["kind"] == "PrometheusRule");
    let rule = rules.next();
    assert!(rules.next().is_none(), "one PrometheusRule at most");
    rule
}

/// The PrometheusRule the unit tests run against: defaults, two shards.
fn tested_rule() -> serde_json::Value {
    let rule = prometheus_rule("--set metrics.prometheusRule.enabled=true --set sharding.shards=2")
        .expect("metrics.prometheusRule.enabled=true renders a PrometheusRule");
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    rule
}

/// Every rule of every group.
fn rules(rule: &serde_json::Value) -> Vec<serde_json::Value> {
    rule["spec"]["groups"]
        .as_array()
        .expect("spec.groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("rules").clone())
        .collect()
}

fn alert_names(rule: &serde_json::Value) -> Vec<String> {
    rules(rule)
        .iter()
        .filter_map(|r| r["alert"].as_str().map(str::to_owned))
        .collect()
}

/// A fresh directory for this test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nodehealth-alerts-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs promtool, which must be installed: a missing promtool fails the test, never skips it.
fn promtool(args: &[&str], dir: &Path) -> std::process::Output {
    match Command::new("promtool").args(args).current_dir(dir).output() {
        Ok(out) => out,
        Err(e) => panic!(
            "cannot run promtool ({e}): install Debian's `prometheus` package (`apt-get install prometheus`; `scripts/cluster.sh up` installs it)"
        ),
    }
}

#[test]
fn the_rules_pass_promtool_check_and_their_unit_tests_on_synthetic_series() {
    let rule = tested_rule();
    let dir = scratch("promtool");
    let file = serde_json::json!({"groups": rule["spec"]["groups"]});
    std::fs::write(dir.join("rules.yaml"), serde_yaml::to_string(&file).unwrap()).unwrap();
    std::fs::copy(
        Path::new(REPO).join("tests/fixtures/alerts/tests.yaml"),
        dir.join("tests.yaml"),
    )
    .unwrap();

    let out = promtool(&["check", "rules", "rules.yaml"], &dir);
    assert!(out.status.success(), "promtool check rules: {}", text(&out));
    let out = promtool(&["test", "rules", "tests.yaml"], &dir);
    assert!(out.status.success(), "promtool test rules: {}", text(&out));

    // The unit tests cover every alert.
    let tests = std::fs::read_to_string(dir.join("tests.yaml")).unwrap();
    for alert in ALERTS {
        assert!(
            tests.contains(&format!("alertname: {alert}\n")),
            "tests/fixtures/alerts/tests.yaml does not test {alert}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sample names (`nodehealth_…`) the operator's `/metrics` can carry: from each `# TYPE` line
/// with the suffixes of its type, and from the samples themselves.
fn exported_names() -> BTreeSet<String> {
    let metrics = Metrics::new();
    // A family without a child is not encoded at all, not even its `# TYPE` line: give each one.
    metrics.observe_reconcile("ok", 0.01);
    metrics.observe_probe("health", "ok", 0.001);
    metrics.observe_probe_lateness(0.1);
    metrics.set_probing(1, 1);
    metrics.observe_kube_request("get", Some(200));
    metrics.observe_remediation("restart", "succeeded");
    metrics.observe_remediation_blocked("Paused");
    metrics.observe_status_write("ok");
    metrics.set_selected("validators", "radix", 1);
    metrics.set_pod(
        "validators",
        "radix",
        "validator-0",
        &PodGauges {
            factor: Some(1.0),
            healthy: Some(true),
            sync_state: Some(SyncState::OutOfSync),
            ledger_delay_seconds: Some(1.0),
            block_lag: Some(1),
            network_stalled: false,
        },
    );
    metrics.set_leader(0, true);
    let text = metrics.encode().unwrap();
    let mut names = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut words = rest.split_whitespace();
            let (Some(name), Some(kind)) = (words.next(), words.next()) else {
                panic!("bad TYPE line {line:?}")
            };
            let suffixes: &[&str] = match kind {
                "counter" => &["_total"],
                "histogram" | "gaugehistogram" => &["_bucket", "_sum", "_count"],
                "summary" => &["", "_sum", "_count"],
                "info" => &["_info"],
                _ => &[""],
            };
            names.extend(suffixes.iter().map(|s| format!("{name}{s}")));
        } else if !line.starts_with('#') && !line.is_empty() {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            names.insert(line[..end].to_owned());
        }
    }
    names
}

/// Metric names in a rule's text: identifiers `nodehealth_[a-z_]+`.
fn metric_names(s: &str) -> BTreeSet<String> {
    let bytes = s.as_bytes();
    let mut names = BTreeSet::new();
    let mut from = 0;
    while let Some(at) = s[from..].find("nodehealth_").map(|i| from + i) {
        let mut end = at + "nodehealth_".len();
        while end < bytes.len() && (bytes[end].is_ascii_lowercase() || bytes[end] == b'_') {
            end += 1;
        }
        let starts_word = at == 0 || !(bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_');
        if starts_word && end > at + "nodehealth_".len() {
            names.insert(s[at..end].to_owned());
        }
        from = end;
    }
    names
}

#[test]
fn metric_names_are_found_in_expressions() {
    assert_eq!(
        metric_names(r#"max by (pod) (nodehealth_pod_healthy{job="nodehealth"}) / nodehealth_leader"#),
        BTreeSet::from(["nodehealth_leader".to_owned(), "nodehealth_pod_healthy".to_owned()])
    );
    assert!(metric_names(r#"up{job="nodehealth",pod="nodehealth-0"} x_nodehealth_y"#).is_empty());
}

#[test]
fn every_metric_the_rules_use_is_one_the_operator_exports() {
    let exported = exported_names();
    assert!(
        exported.contains("nodehealth_remediations_blocked_total")
            && exported.contains("nodehealth_probe_duration_seconds_bucket"),
        "{exported:#?}"
    );
    let mut used = BTreeSet::new();
    for rule in rules(&tested_rule()) {
        let name = rule["alert"].as_str().unwrap_or("?").to_owned();
        // The expression and what the annotations tell people to look at.
        let mut text = rule["expr"].as_str().expect("expr").to_owned();
        for (_, v) in rule["annotations"].as_object().into_iter().flatten() {
            text.push('\n');
            text.push_str(v.as_str().unwrap_or_default());
        }
        for metric in metric_names(&text) {
            assert!(
                exported.contains(&metric),
                "{name} uses {metric}, which the operator does not export; it exports {exported:#?}"
            );
            used.insert(metric);
        }
    }
    // The rules do rest on the operator's metrics (not only Prometheus' `up`).
    for metric in [
        "nodehealth_pod_healthy",
        "nodehealth_pod_health_factor",
        "nodehealth_pod_sync_state",
        "nodehealth_pod_network_stalled",
        "nodehealth_remediations_blocked_total",
        "nodehealth_leader",
        "nodehealth_probes_total",
    ] {
        assert!(used.contains(metric), "no rule uses {metric}: {used:?}");
    }
}

#[test]
fn every_alert_has_a_severity_a_summary_a_description_naming_the_pod_and_a_runbook_section() {
    let rule = tested_rule();
    assert_eq!(alert_names(&rule), ALERTS, "the alerts, in order");
    let runbooks = std::fs::read_to_string(Path::new(REPO).join("docs/runbooks.md")).unwrap();
    let sections: BTreeSet<&str> = runbooks
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .filter(|h| h.starts_with("NodeHealth"))
        .collect();
    assert_eq!(
        sections,
        ALERTS.into_iter().collect::<BTreeSet<_>>(),
        "docs/runbooks.md: one `## <alert>` section per alert, no other"
    );
    for r in rules(&rule) {
        let name = r["alert"].as_str().unwrap();
        assert!(
            matches!(r["labels"]["severity"].as_str(), Some("critical" | "warning")),
            "{name}: {r:#}"
        );
        let a = &r["annotations"];
        for key in ["summary", "description"] {
            assert!(a[key].as_str().is_some_and(|s| s.len() > 20), "{name}: {key}: {a:#}");
        }
        assert_eq!(
            a["runbook_url"],
            format!("{RUNBOOKS}#{}", name.to_lowercase()),
            "{name}: runbook_url"
        );
        // Alerts on per-pod series name the validator pod, its NodeHealth and namespace.
        if r["expr"].as_str().unwrap().contains("by (namespace, nodehealth, pod)") {
            let description = a["description"].as_str().unwrap();
            for label in ["pod", "nodehealth", "namespace"] {
                assert!(
                    description.contains(&format!("{{{{ $labels.{label} }}}}")),
                    "{name}: the description names no {label}: {description}"
                );
            }
        }
    }
}

#[test]
fn the_rule_is_off_by_default_and_its_values_shape_it() {
    assert!(prometheus_rule("").is_none(), "off by default");

    let rule = prometheus_rule(
        "--set metrics.prometheusRule.enabled=true --set metrics.prometheusRule.labels.release=kps \
         --set metrics.prometheusRule.job=nh-metrics --set metrics.prometheusRule.runbookBaseUrl=https://wiki.example/rb \
         --set metrics.prometheusRule.severities.NoLeader=page --set metrics.prometheusRule.disabledAlerts={ValidatorDegraded} \
         --set metrics.prometheusRule.unhealthyFor=20m --set sharding.shards=3 \
         --set-json 'metrics.prometheusRule.additionalRules=[{\"record\":\"nodehealth:unhealthy:count\",\"expr\":\"count(nodehealth_pod_healthy == 0)\"}]'",
    )
    .unwrap();
    assert_eq!(rule["metadata"]["labels"]["release"], "kps");
    assert_eq!(rule["metadata"]["namespace"], "nodehealth");
    let all = rules(&rule);
    let names = alert_names(&rule);
    assert!(!names.iter().any(|n| n == "NodeHealthValidatorDegraded"), "{names:?}");
    assert_eq!(names.len(), ALERTS.len() - 1);
    for r in &all {
        let expr = r["expr"].as_str().unwrap();
        if r["alert"].is_string() {
            assert!(
                expr.contains(r#"job="nh-metrics""#) && !expr.contains(r#"job="nodehealth""#),
                "{expr}"
            );
            assert!(
                r["annotations"]["runbook_url"]
                    .as_str()
                    .unwrap()
                    .starts_with("https://wiki.example/rb#")
            );
        }
    }
    let by_name = |n: &str| all.iter().find(|r| r["alert"] == n).unwrap().clone();
    assert_eq!(by_name("NodeHealthValidatorUnhealthy")["for"], "20m");
    let no_leader = by_name("NodeHealthNoLeader");
    assert_eq!(no_leader["labels"]["severity"], "page");
    assert_eq!(no_leader["for"], "75s", "lease duration 15s + 60s");
    for shard in 0..3 {
        assert!(
            no_leader["expr"]
                .as_str()
                .unwrap()
                .contains(&format!(r#""shard", "{shard}""#)),
            "{no_leader:#}"
        );
    }
    assert!(!no_leader["expr"].as_str().unwrap().contains(r#""shard", "3""#));
    let extra = all.last().unwrap();
    assert_eq!(
        extra["record"], "nodehealth:unhealthy:count",
        "additionalRules come last"
    );

    // Without leader election there is no nodehealth_leader series, so no NoLeader alert.
    let single = prometheus_rule(
        "--set metrics.prometheusRule.enabled=true --set replicas=1 --set leaderElection.enabled=false",
    )
    .unwrap();
    assert!(!alert_names(&single).iter().any(|n| n == "NodeHealthNoLeader"));
}

#[test]
fn the_schema_refuses_wrong_prometheus_rule_values() {
    let lint = |set: &str| {
        sh(
            "lint",
            &format!(r#"helm lint --strict "$CHART" --set metrics.prometheusRule.enabled=true {set}"#),
        )
    };
    let out = lint("");
    assert!(out.status.success(), "helm lint --strict: {}", text(&out));
    for good in [
        "--set metrics.prometheusRule.degradedHealthFactor=0.7",
        "--set metrics.prometheusRule.noLeaderFor=2m",
        "--set metrics.prometheusRule.unhealthyFor=1h30m",
        "--set metrics.prometheusRule.remediationBlockedIgnoredReasons={Paused}",
    ] {
        let out = lint(good);
        assert!(out.status.success(), "helm lint refused {good}: {}", text(&out));
    }
    for bad in [
        "--set metrics.prometheusRule.enabled=maybe",
        "--set metrics.prometheusRule.unhealthyFor=soon",
        "--set metrics.prometheusRule.degradedHealthFactor=1.5",
        "--set metrics.prometheusRule.probeFailureRatio=most",
        "--set metrics.prometheusRule.disabledAlerts={ValidatorSad}",
        "--set metrics.prometheusRule.remediationBlockedIgnoredReasons={Bored}",
        "--set metrics.prometheusRule.severities.ValidatorSad=page",
        "--set metrics.prometheusRule.runbookBaseUrl=docs/runbooks.md",
        "--set metrics.prometheusRule.unhealthy=10m",
    ] {
        let out = lint(bad);
        assert!(!out.status.success(), "helm lint accepted {bad}: {}", text(&out));
    }
}
