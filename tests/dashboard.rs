//! The Grafana dashboard (`charts/nodehealth-operator/dashboards/nodehealth.json`): it parses,
//! every panel has a title and queries, every query is PromQL that `promtool` accepts, and every
//! metric and label a query names is one the operator exports (a renamed metric or label fails
//! here, not on a blank panel in production). The chart ships it as a ConfigMap for Grafana's
//! sidecar, only when asked to.
//!
//! `promtool` comes from `$PROMTOOL` or PATH (Debian: `apt-get install prometheus`).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use nodehealth::model::SyncState;
use nodehealth::telemetry::{Metrics, PodGauges};
use serde_json::{Value, json};
use support::chart::{CHART, REPO, of_kind, render, sh, text};

const DASHBOARD: &str = "dashboards/nodehealth.json";

/// Families the issue asks the dashboard to show: each must be queried by some panel.
const SHOWN: [&str; 16] = [
    "nodehealth_pod_health_factor",
    "nodehealth_pod_healthy",
    "nodehealth_selected_pods",
    "nodehealth_pod_sync_state",
    "nodehealth_pod_ledger_delay_seconds",
    "nodehealth_pod_block_lag",
    "nodehealth_pod_network_stalled",
    "nodehealth_probe_duration_seconds",
    "nodehealth_probes_total",
    "nodehealth_probe_lateness_seconds",
    "nodehealth_remediations_total",
    "nodehealth_remediations_blocked_total",
    "nodehealth_leader",
    "nodehealth_reconciles_total",
    "nodehealth_kube_requests_total",
    "nodehealth_build_info",
];

/// Labels Prometheus gives every scraped series (the target's), beside the operator's own.
const TARGET_LABELS: [&str; 2] = ["instance", "job"];

fn dashboard_text() -> String {
    std::fs::read_to_string(Path::new(REPO).join(CHART).join(DASHBOARD)).expect("read the dashboard")
}

fn dashboard() -> Value {
    serde_json::from_str(&dashboard_text()).expect("the dashboard is JSON")
}

/// The panels, rows left out (a collapsed row's panels included).
fn panels(d: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().expect("panels") {
        if p["type"] == "row" {
            out.extend(p["panels"].as_array().into_iter().flatten());
        } else {
            out.push(p);
        }
    }
    out
}

/// One PromQL query of the dashboard and where it is.
#[derive(Debug, Clone)]
struct Query {
    place: String,
    expr: String,
    legend: String,
}

/// Every query: each panel target's `expr`, and each query variable's (`label_values(expr,
/// label)` as `count by (label) (expr)`, which uses the same metric and label).
fn queries(d: &Value) -> Vec<Query> {
    let mut out = Vec::new();
    for p in panels(d) {
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push(Query {
                place: format!("panel {:?} target {}", p["title"].as_str().unwrap_or("?"), t["refId"]),
                expr: t["expr"].as_str().unwrap_or_default().to_owned(),
                legend: t["legendFormat"].as_str().unwrap_or_default().to_owned(),
            });
        }
    }
    for v in variables(d).into_iter().filter(|v| v["type"] == "query") {
        let q = v["query"]["query"].as_str().or(v["query"].as_str()).unwrap_or_default();
        let expr = match q.strip_prefix("label_values(").and_then(|r| r.strip_suffix(')')) {
            Some(args) => {
                let (series, label) = args.rsplit_once(',').expect("label_values(series, label)");
                format!("count by ({}) ({})", label.trim(), series.trim())
            }
            None => q.to_owned(),
        };
        out.push(Query {
            place: format!("variable {}", v["name"]),
            expr,
            legend: String::new(),
        });
    }
    out
}

fn variables(d: &Value) -> Vec<&Value> {
    d["templating"]["list"]
        .as_array()
        .expect("templating.list")
        .iter()
        .collect()
}

/// The Grafana variables an expression uses (`$name`, `${name}`, `${name:format}`).
fn variables_used(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find('$') {
        rest = &rest[i + 1..];
        let name = if let Some(braced) = rest.strip_prefix('{') {
            let end = braced.find('}').unwrap_or(braced.len());
            braced[..end].split(':').next().unwrap_or_default()
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        };
        out.push(name.to_owned());
    }
    out
}

/// The expression as Prometheus gets it: Grafana's interval variables become durations, every
/// other variable a label value (they only ever stand in quoted matchers).
fn concrete(expr: &str) -> String {
    let mut out = String::new();
    let mut rest = expr;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        let (name, len) = if let Some(braced) = rest.strip_prefix('{') {
            let end = braced.find('}').expect("unclosed ${");
            (braced[..end].split(':').next().unwrap(), end + 2)
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            (&rest[..end], end)
        };
        out.push_str(match name {
            "__rate_interval" => "2m",
            "__interval" => "30s",
            "__range" => "6h",
            "__interval_ms" => "30000",
            "__range_s" => "21600",
            _ => "value",
        });
        rest = &rest[len..];
    }
    out.push_str(rest);
    out
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Str,
    Other(char),
}

/// PromQL's tokens, as far as names go: identifiers (metric, label, function and keyword names),
/// string literals (skipped: a matcher's value is not a name), numbers and durations (skipped),
/// and single characters.
fn tokens(expr: &str) -> Vec<Token> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' || c == '\'' || c == '`' {
            i += 1;
            while i < chars.len() && chars[i] != c {
                i += if chars[i] == '\\' && c != '`' { 2 } else { 1 };
            }
            i += 1;
            out.push(Token::Str);
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':') {
                i += 1;
            }
            out.push(Token::Ident(chars[start..i].iter().collect()));
        } else if c.is_ascii_digit() || c == '.' {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else {
            out.push(Token::Other(c));
            i += 1;
        }
    }
    out
}

/// The metric names an expression selects (identifiers `nodehealth_…`).
fn metric_names(expr: &str) -> BTreeSet<String> {
    tokens(expr)
        .into_iter()
        .filter_map(|t| match t {
            Token::Ident(name) if name.starts_with("nodehealth_") => Some(name),
            _ => None,
        })
        .collect()
}

/// The label names an expression uses: in a selector's matchers (`{namespace=~"…"}`) and in
/// grouping clauses (`by (…)`, `without (…)`, `on (…)`, `ignoring (…)`, `group_left (…)`).
fn label_names(expr: &str) -> BTreeSet<String> {
    let toks = tokens(expr);
    let mut out = BTreeSet::new();
    let mut i = 0;
    while i < toks.len() {
        match &toks[i] {
            Token::Other('{') => {
                i += 1;
                while i < toks.len() && toks[i] != Token::Other('}') {
                    if let (Token::Ident(label), Some(Token::Other('=' | '!'))) = (&toks[i], toks.get(i + 1)) {
                        out.insert(label.clone());
                    }
                    i += 1;
                }
            }
            Token::Ident(kw)
                if matches!(
                    kw.as_str(),
                    "by" | "without" | "on" | "ignoring" | "group_left" | "group_right"
                ) && toks.get(i + 1) == Some(&Token::Other('(')) =>
            {
                i += 2;
                while i < toks.len() && toks[i] != Token::Other(')') {
                    if let Token::Ident(label) = &toks[i] {
                        out.insert(label.clone());
                    }
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Each `nodehealth_` selector of an expression with the labels its matchers name.
fn selectors(expr: &str) -> Vec<(String, BTreeSet<String>)> {
    let toks = tokens(expr);
    let mut out = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        let Token::Ident(name) = t else { continue };
        if !name.starts_with("nodehealth_") {
            continue;
        }
        let mut labels = BTreeSet::new();
        if toks.get(i + 1) == Some(&Token::Other('{')) {
            for (j, t) in toks.iter().enumerate().skip(i + 2) {
                match (t, toks.get(j + 1)) {
                    (Token::Other('}'), _) => break,
                    (Token::Ident(label), Some(Token::Other('=' | '!'))) => {
                        labels.insert(label.clone());
                    }
                    _ => {}
                }
            }
        }
        out.push((name.clone(), labels));
    }
    out
}

/// The labels a legend template names (`{{pod}}`).
fn legend_labels(legend: &str) -> BTreeSet<String> {
    legend
        .split("{{")
        .skip(1)
        .filter_map(|s| s.split_once("}}"))
        .map(|(label, _)| label.trim().to_owned())
        .collect()
}

/// What the operator exports: each series name a query may select (counters with `_total`,
/// histograms as `_bucket`/`_sum`/`_count`, gauges as themselves), with the labels its samples
/// carry.
struct Exported {
    series: BTreeMap<String, BTreeSet<String>>,
}

/// A `Metrics` with every family given a sample through the operator's own setters, encoded.
fn exposition() -> String {
    let m = Metrics::new(); // sets nodehealth_build_info
    m.observe_reconcile("ok", 0.2);
    m.observe_probe("health", "ok", 0.001);
    m.observe_probe("metrics", "Timeout", 3.0);
    m.observe_probe_lateness(0.02);
    m.set_probing(3, 2);
    m.observe_kube_request("patch", Some(200));
    m.observe_kube_request("get", None);
    m.observe_status_write("ok");
    m.observe_remediation("cordon", "succeeded");
    m.observe_remediation_blocked("RateLimited");
    m.set_selected("ns", "nh", 1);
    m.set_pod(
        "ns",
        "nh",
        "v-0",
        &PodGauges {
            factor: Some(0.5),
            healthy: Some(false),
            sync_state: Some(SyncState::OutOfSync),
            ledger_delay_seconds: Some(42.0),
            block_lag: Some(7),
            network_stalled: false,
        },
    );
    m.set_leader(0, true);
    m.encode().expect("encode")
}

fn exported_from(text: &str) -> Exported {
    let mut families: BTreeMap<String, String> = BTreeMap::new();
    let mut samples: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            families.insert(name.to_owned(), kind.to_owned());
        } else if !line.starts_with('#') && !line.is_empty() {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            let labels = samples.entry(line[..end].to_owned()).or_default();
            if line[end..].starts_with('{') {
                let inner = &line[end + 1..line.rfind('}').expect("closing brace")];
                // Label values are the operator's test values here: no `,` or `"` inside.
                for pair in inner.split(',') {
                    labels.insert(pair.split_once('=').expect("label=value").0.to_owned());
                }
            }
        }
    }
    let mut series = BTreeMap::new();
    for (family, kind) in &families {
        let names: Vec<String> = match kind.as_str() {
            "counter" => vec![format!("{family}_total")],
            "histogram" => ["_bucket", "_sum", "_count"]
                .iter()
                .map(|s| format!("{family}{s}"))
                .collect(),
            "info" => vec![format!("{family}_info")],
            _ => vec![family.clone()],
        };
        let sampled: Vec<_> = names.iter().filter(|n| samples.contains_key(*n)).collect();
        assert!(
            !sampled.is_empty(),
            "family {family} ({kind}) has no sample: call its setter in exposition() so its labels are known\n{text}"
        );
        for n in names {
            let labels = samples.get(&n).cloned().unwrap_or_default();
            series.insert(n, labels);
        }
    }
    Exported { series }
}

/// What is wrong with the dashboard's queries against what the operator exports: unknown
/// series, unknown labels (matchers, grouping, legends), undefined variables, families not shown.
fn problems(d: &Value, exported: &Exported) -> Vec<String> {
    let defined: BTreeSet<String> = variables(d)
        .iter()
        .filter_map(|v| v["name"].as_str().map(str::to_owned))
        .collect();
    let mut problems = Vec::new();
    let mut shown = BTreeSet::new();
    for q in queries(d) {
        let names = metric_names(&q.expr);
        if names.is_empty() {
            problems.push(format!("{}: selects no nodehealth_ metric: {}", q.place, q.expr));
        }
        let mut allowed: BTreeSet<String> = TARGET_LABELS.iter().map(|l| (*l).to_owned()).collect();
        for name in &names {
            match exported.series.get(name) {
                Some(labels) => allowed.extend(labels.iter().cloned()),
                None => problems.push(format!("{}: {name} is not exported by the operator", q.place)),
            }
            // A histogram's series count for the histogram (`nodehealth_probe_duration_seconds`).
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .filter_map(|s| name.strip_suffix(s))
                .find(|f| exported.series.contains_key(&format!("{f}_bucket")))
                .unwrap_or(name);
            shown.insert(family.to_owned());
        }
        let mut labels = label_names(&q.expr);
        labels.extend(legend_labels(&q.legend));
        for label in &labels {
            if !allowed.contains(label) && label != "__name__" {
                problems.push(format!(
                    "{}: label {label} is on none of {names:?} (labels: {allowed:?})",
                    q.place
                ));
            }
        }
        for var in variables_used(&q.expr) {
            if !var.starts_with("__") && !defined.contains(&var) {
                problems.push(format!("{}: variable ${var} is not defined", q.place));
            }
        }
    }
    for family in SHOWN {
        if !shown.contains(family) {
            problems.push(format!("no panel shows {family}"));
        }
    }
    problems
}

fn promtool() -> String {
    std::env::var("PROMTOOL").unwrap_or_else(|_| "promtool".to_owned())
}

#[test]
fn the_dashboard_parses_and_every_panel_has_a_title_and_a_query() {
    let d = dashboard();
    assert_eq!(d["uid"], "nodehealth");
    assert!(
        d["schemaVersion"].as_u64().unwrap() >= 36,
        "schemaVersion {}",
        d["schemaVersion"]
    );
    let vars = variables(&d);
    let var = |name: &str| {
        *vars
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no variable {name}"))
    };
    assert_eq!(var("datasource")["type"], "datasource");
    assert_eq!(var("datasource")["query"], "prometheus");
    for name in ["namespace", "nodehealth"] {
        let q = var(name)["query"]["query"].as_str().unwrap_or_default();
        assert!(
            q.starts_with("label_values(nodehealth_selected_pods") && q.ends_with(&format!(", {name})")),
            "variable {name}: {q}"
        );
    }

    let panels = panels(&d);
    assert!((15..=24).contains(&panels.len()), "{} panels", panels.len());
    let mut ids = BTreeSet::new();
    for p in d["panels"].as_array().unwrap() {
        assert!(
            ids.insert(p["id"].as_u64().expect("panel id")),
            "duplicate panel id {}",
            p["id"]
        );
        assert!(p["gridPos"]["w"].as_u64().is_some(), "panel {} has no gridPos", p["id"]);
    }
    for p in panels {
        let title = p["title"].as_str().unwrap_or_default();
        assert!(!title.trim().is_empty(), "panel {} has no title", p["id"]);
        let targets = p["targets"].as_array().map(Vec::as_slice).unwrap_or_default();
        assert!(!targets.is_empty(), "panel {title:?} has no query");
        for t in targets {
            assert!(
                t["expr"].as_str().is_some_and(|e| !e.trim().is_empty()),
                "panel {title:?} target {}: no expr",
                t["refId"]
            );
            assert_eq!(
                t["datasource"]["uid"], "${datasource}",
                "panel {title:?} target {}: its data source must be the variable",
                t["refId"]
            );
        }
        assert_eq!(p["datasource"]["uid"], "${datasource}", "panel {title:?}");
    }

    // Every selector keeps to the chosen operator jobs, and a series of NodeHealths' pods to the
    // chosen namespaces and NodeHealths.
    let exported = exported_from(&exposition());
    for q in queries(&d) {
        for (metric, matchers) in selectors(&q.expr) {
            let labels = exported.series.get(&metric).cloned().unwrap_or_default();
            // The job variable itself lists every job.
            let mut wanted = if q.place == r#"variable "job""# {
                vec![]
            } else {
                vec!["job"]
            };
            if labels.contains("nodehealth") && q.place.starts_with("panel") {
                wanted.extend(["namespace", "nodehealth"]);
            }
            for label in wanted {
                assert!(
                    matchers.contains(label),
                    "{}: {metric} is not limited by ${label}: {}",
                    q.place,
                    q.expr
                );
            }
        }
    }
}

#[test]
fn every_query_is_promql_promtool_accepts() {
    let queries = queries(&dashboard());
    let rules: Vec<Value> = queries
        .iter()
        .enumerate()
        .map(|(n, q)| json!({"record": format!("dashboard:expr_{n}"), "expr": concrete(&q.expr)}))
        .collect();
    let file = json!({"groups": [{"name": "dashboard", "rules": rules}]});
    let path: PathBuf = std::env::temp_dir().join(format!("nodehealth-dashboard-rules-{}.yaml", std::process::id()));
    std::fs::write(&path, serde_yaml::to_string(&file).unwrap()).unwrap();
    let out = Command::new(promtool())
        .args(["check", "rules"])
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("run {} (set PROMTOOL): {e}", promtool()));
    let _ = std::fs::remove_file(&path);
    if !out.status.success() {
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let failing: Vec<String> = queries
            .iter()
            .enumerate()
            .filter(|(n, _)| said.contains(&format!("dashboard:expr_{n}\"")))
            .map(|(n, q)| format!("dashboard:expr_{n} = {}:\n    {}", q.place, concrete(&q.expr)))
            .collect();
        panic!(
            "promtool check rules refused the dashboard's queries:\n{said}\n{}",
            failing.join("\n")
        );
    }
}

#[test]
fn every_metric_and_label_queried_is_exported_by_the_operator() {
    let exported = exported_from(&exposition());
    let problems = problems(&dashboard(), &exported);
    assert!(
        problems.is_empty(),
        "the dashboard and the operator's metrics disagree:\n{}",
        problems.join("\n")
    );
}

#[test]
fn a_renamed_metric_or_label_fails_the_check() {
    let exported = exported_from(&exposition());
    for (from, to) in [
        ("nodehealth_pod_block_lag", "nodehealth_pod_blocks_lag"),
        (
            "nodehealth_probe_duration_seconds_bucket",
            "nodehealth_probe_duration_bucket",
        ),
        ("nodehealth_reconciles_total", "nodehealth_reconciles"),
        ("by (verb, code)", "by (verb, status)"),
        ("{{nodehealth}}/{{pod}}", "{{nodehealth}}/{{pod_name}}"),
    ] {
        let text = dashboard_text();
        assert!(
            text.contains(from),
            "the dashboard no longer has {from:?}: update this test"
        );
        let renamed: Value = serde_json::from_str(&text.replace(from, to)).unwrap();
        assert!(
            !problems(&renamed, &exported).is_empty(),
            "renaming {from} to {to} went unnoticed"
        );
    }
    // And the other way round: the operator renaming one of its families.
    let exposition = exposition().replace(
        "nodehealth_pod_ledger_delay_seconds",
        "nodehealth_pod_ledger_lag_seconds",
    );
    assert!(!problems(&dashboard(), &exported_from(&exposition)).is_empty());
}

#[test]
fn grafana_variables_become_values_promtool_can_parse() {
    assert_eq!(
        concrete(r#"rate(x{a=~"$namespace", b="${nodehealth:regex}"}[$__rate_interval]) + y[$__interval]"#),
        r#"rate(x{a=~"value", b="value"}[2m]) + y[30s]"#
    );
    assert_eq!(
        variables_used(r#"x{a="$a", b="${b:csv}"}[$__range]"#),
        ["a", "b", "__range"]
    );
    assert_eq!(
        label_names(r#"sum by (verb, code) (rate(nodehealth_kube_requests_total{code!~"2..", x="a,b"}[5m]))"#),
        ["code", "verb", "x"].map(str::to_owned).into()
    );
    assert_eq!(
        metric_names(r#"a{l="nodehealth_not_a_metric"} / nodehealth_b_total"#),
        ["nodehealth_b_total".to_owned()].into()
    );
}

/// The rendered ConfigMaps that carry the dashboard.
fn dashboard_configmaps(objects: &[Value]) -> Vec<Value> {
    of_kind(objects, "ConfigMap")
        .into_values()
        .filter(|cm| cm["data"].get("nodehealth.json").is_some())
        .collect()
}

#[test]
fn the_chart_ships_the_dashboard_only_when_enabled() {
    let ns = "dashboard";
    assert!(
        dashboard_configmaps(&render(ns, "")).is_empty(),
        "the dashboard is off by default"
    );

    let cms = dashboard_configmaps(&render(ns, "--set metrics.dashboard.enabled=true"));
    assert_eq!(cms.len(), 1, "{cms:#?}");
    let cm = &cms[0];
    assert_eq!(cm["metadata"]["namespace"], ns);
    assert_eq!(
        cm["metadata"]["labels"]["grafana_dashboard"], "1",
        "the Grafana sidecar's default label: {:#}",
        cm["metadata"]
    );
    assert_eq!(
        cm["metadata"]["labels"]["app.kubernetes.io/instance"], ns,
        "{:#}",
        cm["metadata"]
    );
    assert!(
        cm["data"]["nodehealth.json"].as_str() == Some(dashboard_text().as_str()),
        "the ConfigMap's nodehealth.json is not {DASHBOARD} byte for byte"
    );

    let cms = dashboard_configmaps(&render(
        ns,
        "--set metrics.dashboard.enabled=true --set metrics.dashboard.label=dashboards \
         --set-string metrics.dashboard.labelValue=nodehealth --set metrics.dashboard.namespace=monitoring \
         --set metrics.dashboard.annotations.grafana_folder=Validators",
    ));
    assert_eq!(cms.len(), 1, "{cms:#?}");
    let meta = &cms[0]["metadata"];
    assert_eq!(meta["namespace"], "monitoring");
    assert_eq!(meta["labels"]["dashboards"], "nodehealth", "{meta:#}");
    assert!(meta["labels"].get("grafana_dashboard").is_none(), "{meta:#}");
    assert_eq!(meta["annotations"]["grafana_folder"], "Validators", "{meta:#}");
}

#[test]
fn the_schema_refuses_wrong_dashboard_values() {
    let out = sh(
        "lint",
        r#"helm lint --strict "$CHART" --set metrics.dashboard.enabled=true"#,
    );
    assert!(out.status.success(), "helm lint --strict: {}", text(&out));
    for bad in [
        "metrics.dashboard.enabled=yes",
        "metrics.dashboard.label=a=b",
        "metrics.dashboard.labelValue=not valid",
        "metrics.dashboard.folder=x",
    ] {
        let out = sh("lint", &format!(r#"helm lint --strict "$CHART" --set '{bad}'"#));
        assert!(!out.status.success(), "helm lint accepted {bad}: {}", text(&out));
    }
}
