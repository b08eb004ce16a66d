//! What the bench prints on stdout: one JSON line per system (with `--shards` above 1, one per
//! shard and one for the shards together), one with the ratios (unless Prometheus was skipped),
//! and a markdown table of the same figures.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::operator::{Measured, Rates};

/// What one operator process did over the sampling window, rounded for the report: the
/// figures of nodehealth's line and of each shard's.
#[derive(Debug, Serialize)]
pub struct ProcessFigures {
    /// Validators (pods) its NodeHealths select.
    pub validators: usize,
    pub period_s: u32,
    pub cpu_cores: f64,
    /// `None` for a process with no validator.
    pub cpu_ms_per_validator_per_period: Option<f64>,
    pub peak_rss_mib: f64,
    pub fds: usize,
    pub probes_per_s: Option<f64>,
    pub status_writes_per_min: Option<f64>,
    pub reconciles_per_min: Option<f64>,
    pub kube_requests_per_min: Option<BTreeMap<String, f64>>,
    pub probe_lateness_p50_s: Option<f64>,
    pub probe_lateness_p99_s: Option<f64>,
    pub sampled_s: f64,
    pub probe_errors_per_s: Option<f64>,
    pub status_write_errors_per_min: Option<f64>,
    pub reconcile_errors_per_min: Option<f64>,
    pub host_busy_cores: f64,
}

impl ProcessFigures {
    /// The figures of `m`, an operator process whose NodeHealths select `validators` pods.
    pub fn of(m: &Measured, validators: usize, period: u32) -> ProcessFigures {
        let (s, rates) = (&m.sampled, &m.rates);
        let r2 = |x: f64| round(x, 2);
        let rate = |f: fn(&Rates) -> f64| rates.as_ref().map(|r| r2(f(r)));
        ProcessFigures {
            validators,
            period_s: period,
            cpu_cores: round(s.cpu_cores, 4),
            cpu_ms_per_validator_per_period: (validators > 0)
                .then(|| round(ms_per_validator_per_period(s.cpu_cores, period, validators), 4)),
            peak_rss_mib: round(s.peak_rss_mib, 1),
            fds: s.max_fds,
            probes_per_s: rate(|r| r.probes_per_s),
            status_writes_per_min: rate(|r| r.status_writes_per_min),
            reconciles_per_min: rate(|r| r.reconciles_per_min),
            kube_requests_per_min: rates
                .as_ref()
                .and_then(|r| r.kube_requests_per_min.clone())
                .map(|m| m.into_iter().map(|(k, v)| (k, r2(v))).collect()),
            probe_lateness_p50_s: rates.as_ref().and_then(|r| r.lateness_p50_s).map(|x| round(x, 3)),
            probe_lateness_p99_s: rates.as_ref().and_then(|r| r.lateness_p99_s).map(|x| round(x, 3)),
            sampled_s: round(s.seconds, 1),
            probe_errors_per_s: rate(|r| r.probe_errors_per_s),
            status_write_errors_per_min: rate(|r| r.status_write_errors_per_min),
            reconcile_errors_per_min: rate(|r| r.reconcile_errors_per_min),
            host_busy_cores: round(s.host_busy_cores, 2),
        }
    }
}

/// nodehealth's line (one operator process for every NodeHealth). The first fields are the
/// issue's; the rest explain a struggling run.
#[derive(Debug, Serialize)]
pub struct NodehealthLine {
    pub system: &'static str,
    pub validators: usize,
    pub period_s: u32,
    pub cpu_cores: f64,
    pub cpu_ms_per_validator_per_period: f64,
    pub peak_rss_mib: f64,
    pub fds: usize,
    pub probes_per_s: Option<f64>,
    pub status_writes_per_min: Option<f64>,
    pub reconciles_per_min: Option<f64>,
    pub kube_requests_per_min: Option<BTreeMap<String, f64>>,
    pub probe_lateness_p50_s: Option<f64>,
    pub probe_lateness_p99_s: Option<f64>,
    pub time_to_all_healthy_s: Option<f64>,
    pub detection_s: Option<f64>,
    pub policies: usize,
    pub sampled_s: f64,
    /// Healthy/total over every policy when sampling began (`N/N` unless the wait timed out).
    pub healthy_when_sampled: String,
    pub probe_errors_per_s: Option<f64>,
    pub status_write_errors_per_min: Option<f64>,
    pub reconcile_errors_per_min: Option<f64>,
    pub host_busy_cores: f64,
}

/// What the run as a whole measured, beyond one process: the wait for `N/N` and detection.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub time_to_all_healthy_s: Option<f64>,
    pub detection_s: Option<f64>,
    pub policies: usize,
    pub healthy_when_sampled: String,
}

impl NodehealthLine {
    pub fn new(f: ProcessFigures, o: Outcome) -> NodehealthLine {
        NodehealthLine {
            system: "nodehealth",
            validators: f.validators,
            period_s: f.period_s,
            cpu_cores: f.cpu_cores,
            // The single operator has every validator, and N is at least 1.
            cpu_ms_per_validator_per_period: f.cpu_ms_per_validator_per_period.unwrap_or(0.0),
            peak_rss_mib: f.peak_rss_mib,
            fds: f.fds,
            probes_per_s: f.probes_per_s,
            status_writes_per_min: f.status_writes_per_min,
            reconciles_per_min: f.reconciles_per_min,
            kube_requests_per_min: f.kube_requests_per_min,
            probe_lateness_p50_s: f.probe_lateness_p50_s,
            probe_lateness_p99_s: f.probe_lateness_p99_s,
            time_to_all_healthy_s: o.time_to_all_healthy_s,
            detection_s: o.detection_s,
            policies: o.policies,
            sampled_s: f.sampled_s,
            healthy_when_sampled: o.healthy_when_sampled,
            probe_errors_per_s: f.probe_errors_per_s,
            status_write_errors_per_min: f.status_write_errors_per_min,
            reconcile_errors_per_min: f.reconcile_errors_per_min,
            host_busy_cores: f.host_busy_cores,
        }
    }
}

/// One shard's line (`--shards` above 1): its operator process and the NodeHealths it handles.
#[derive(Debug, Serialize)]
pub struct ShardLine {
    pub system: &'static str,
    pub shard: u32,
    pub total_shards: u32,
    /// `validators` is the pods of its NodeHealths (by their `status.shard`).
    #[serde(flatten)]
    pub figures: ProcessFigures,
    /// Its NodeHealths.
    pub policies: usize,
    /// `nodehealth_scheduled_pods` at the window's end: should equal `validators`.
    pub scheduled_pods: Option<f64>,
    /// `nodehealth_leader{shard}` at the window's end.
    pub leader: Option<bool>,
}

/// The shards together (`--shards` above 1), and how many shards 100,000 validators would take.
#[derive(Debug, Serialize)]
pub struct ShardsLine {
    pub system: &'static str,
    pub shards: u32,
    pub validators: usize,
    pub policies: usize,
    pub period_s: u32,
    pub validators_by_shard: Vec<usize>,
    pub policies_by_shard: Vec<usize>,
    pub max_cpu_cores: f64,
    pub sum_cpu_cores: f64,
    /// Every shard's CPU over every validator.
    pub cpu_ms_per_validator_per_period: f64,
    pub max_peak_rss_mib: f64,
    pub sum_peak_rss_mib: f64,
    pub max_fds: usize,
    /// The measured mean: validators / shards.
    pub validators_per_shard: f64,
    /// `ceil(100000 / validators_per_shard)`: the shards 100,000 validators take if a shard
    /// handles as many validators as here at these figures.
    pub shards_for_100000: usize,
    pub time_to_all_healthy_s: Option<f64>,
    pub detection_s: Option<f64>,
    pub healthy_when_sampled: String,
    pub sampled_s: f64,
    pub host_busy_cores: f64,
}

/// The validators the extrapolation of [`ShardsLine`] is for.
pub const EXTRAPOLATE_TO: usize = 100_000;

impl ShardsLine {
    pub fn new(lines: &[ShardLine], n: usize, period: u32, o: Outcome) -> ShardsLine {
        let shards = lines.len();
        let fs = || lines.iter().map(|l| &l.figures);
        let max = |f: fn(&ProcessFigures) -> f64| fs().map(f).fold(0.0, f64::max);
        let sum = |f: fn(&ProcessFigures) -> f64| fs().map(f).sum::<f64>();
        let sum_cpu = sum(|f| f.cpu_cores);
        ShardsLine {
            system: "shards",
            shards: shards as u32,
            validators: n,
            policies: o.policies,
            period_s: period,
            validators_by_shard: fs().map(|f| f.validators).collect(),
            policies_by_shard: lines.iter().map(|l| l.policies).collect(),
            max_cpu_cores: max(|f| f.cpu_cores),
            sum_cpu_cores: round(sum_cpu, 4),
            cpu_ms_per_validator_per_period: round(ms_per_validator_per_period(sum_cpu, period, n), 4),
            max_peak_rss_mib: max(|f| f.peak_rss_mib),
            sum_peak_rss_mib: round(sum(|f| f.peak_rss_mib), 1),
            max_fds: fs().map(|f| f.fds).max().unwrap_or(0),
            validators_per_shard: round(n as f64 / shards as f64, 1),
            shards_for_100000: (EXTRAPOLATE_TO * shards).div_ceil(n),
            time_to_all_healthy_s: o.time_to_all_healthy_s,
            detection_s: o.detection_s,
            healthy_when_sampled: o.healthy_when_sampled,
            sampled_s: max(|f| f.sampled_s),
            host_busy_cores: max(|f| f.host_busy_cores),
        }
    }
}

/// Prometheus' line: the fields that apply to a scraper.
#[derive(Debug, Serialize)]
pub struct PrometheusLine {
    pub system: &'static str,
    pub validators: usize,
    pub period_s: u32,
    pub cpu_cores: f64,
    /// CPU per target scrape (one scrape per target per period).
    pub cpu_ms_per_validator_per_period: f64,
    pub peak_rss_mib: f64,
    pub fds: usize,
    pub scrapes_per_s: Option<f64>,
    pub head_series: Option<f64>,
    pub time_to_all_up_s: Option<f64>,
    pub sampled_s: f64,
    pub host_busy_cores: f64,
}

/// nodehealth's figure divided by Prometheus'.
#[derive(Debug, Serialize)]
pub struct RatioLine {
    pub system: &'static str,
    /// nodehealth CPU per validator per period / Prometheus CPU per target scrape.
    pub cpu_per_validator_per_period: Option<f64>,
    pub peak_rss: Option<f64>,
    /// Whether nodehealth reached `N/N` healthy: if not, its figures are those of an operator
    /// failing at the job, and the ratios compare unlike things.
    pub nodehealth_all_healthy: bool,
}

/// CPU milliseconds per validator per period from cores used: cores × period = CPU seconds
/// per period, shared by `n` validators.
pub fn ms_per_validator_per_period(cores: f64, period: u32, n: usize) -> f64 {
    cores * f64::from(period) * 1000.0 / n as f64
}

/// `x` rounded to `digits` decimals (the figures are measurements, not exact).
pub fn round(x: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    (x * m).round() / m
}

pub fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| round(a / b, 2))
}

fn opt(x: Option<f64>) -> String {
    x.map_or_else(|| "null".to_owned(), |v| v.to_string())
}

fn kube(m: Option<&BTreeMap<String, f64>>) -> String {
    m.map_or_else(
        || "null".to_owned(),
        |m| {
            m.iter()
                .map(|(verb, n)| format!("{verb} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        },
    )
}

/// A markdown table: the header and rows of a label and one cell per column (right-aligned).
fn markdown(header: &[String], rows: Vec<(String, Vec<String>)>) -> String {
    let mut out = format!(
        "| {} |\n|---|{}\n",
        header.join(" | "),
        "---:|".repeat(header.len().saturating_sub(1))
    );
    for (what, cells) in rows {
        out.push_str(&format!("| {what} | {} |\n", cells.join(" | ")));
    }
    out
}

const SKIPPED: &str = "\nPrometheus not run (--skip-prometheus): no comparison and no ratios.\n";

/// The side-by-side table (markdown), ready for the README; without Prometheus' column when it
/// was skipped.
pub fn table(nh: &NodehealthLine, p: Option<&PrometheusLine>, r: Option<&RatioLine>) -> String {
    let e = String::new;
    let pf = |f: fn(&PrometheusLine) -> String| p.map(f);
    let sweep = round(2.0 * nh.validators as f64 / f64::from(nh.period_s), 2);
    let probes_label = match p {
        Some(p) => format!(
            "probes / scrapes per s (one sweep a period: {sweep} / {})",
            round(p.validators as f64 / f64::from(p.period_s), 2)
        ),
        None => format!("probes per s (one sweep a period: {sweep})"),
    };
    let rows: Vec<(&str, String, Option<String>)> = vec![
        ("CPU cores", nh.cpu_cores.to_string(), pf(|p| p.cpu_cores.to_string())),
        (
            "CPU ms per validator per period (per target scrape)",
            nh.cpu_ms_per_validator_per_period.to_string(),
            pf(|p| p.cpu_ms_per_validator_per_period.to_string()),
        ),
        (
            "peak RSS MiB",
            nh.peak_rss_mib.to_string(),
            pf(|p| p.peak_rss_mib.to_string()),
        ),
        ("open fds (max)", nh.fds.to_string(), pf(|p| p.fds.to_string())),
        (&probes_label, opt(nh.probes_per_s), pf(|p| opt(p.scrapes_per_s))),
        ("failed probes per s", opt(nh.probe_errors_per_s), p.map(|_| e())),
        (
            "status writes per min (failed)",
            format!(
                "{} ({})",
                opt(nh.status_writes_per_min),
                opt(nh.status_write_errors_per_min)
            ),
            p.map(|_| e()),
        ),
        (
            "reconciles per min (failed)",
            format!("{} ({})", opt(nh.reconciles_per_min), opt(nh.reconcile_errors_per_min)),
            p.map(|_| e()),
        ),
        (
            "kube API requests per min",
            kube(nh.kube_requests_per_min.as_ref()),
            p.map(|_| e()),
        ),
        (
            "probe lateness p50 / p99 s",
            format!("{} / {}", opt(nh.probe_lateness_p50_s), opt(nh.probe_lateness_p99_s)),
            p.map(|_| e()),
        ),
        (
            "time to all healthy / all targets up s",
            opt(nh.time_to_all_healthy_s),
            pf(|p| opt(p.time_to_all_up_s)),
        ),
        ("healthy when sampled", nh.healthy_when_sampled.clone(), p.map(|_| e())),
        (
            "busy cores of the whole machine (all processes)",
            nh.host_busy_cores.to_string(),
            pf(|p| p.host_busy_cores.to_string()),
        ),
        (
            "detection of one out-of-sync validator s",
            opt(nh.detection_s),
            p.map(|_| e()),
        ),
    ];
    let mut header = vec![
        format!(
            "N={}, period {} s, {} policies, sampled {:.0} s",
            nh.validators, nh.period_s, nh.policies, nh.sampled_s
        ),
        "nodehealth".to_owned(),
    ];
    if p.is_some() {
        header.push("Prometheus".to_owned());
    }
    let rows = rows
        .into_iter()
        .map(|(what, a, b)| (what.to_owned(), std::iter::once(a).chain(b).collect()))
        .collect();
    let mut out = markdown(&header, rows);
    match r {
        Some(r) => out.push_str(&format!(
            "\nCPU ratio (nodehealth per validator per period / Prometheus per target scrape): {}\n\
             peak RSS ratio (nodehealth / Prometheus): {}\n",
            opt(r.cpu_per_validator_per_period),
            opt(r.peak_rss)
        )),
        None => out.push_str(SKIPPED),
    }
    if nh.time_to_all_healthy_s.is_none() {
        out.push_str(if r.is_some() {
            "\nnodehealth never reached N/N healthy: its figures are those of an operator failing at the \
             job (see failed writes and reconciles), so the ratios compare unlike things.\n"
        } else {
            "\nnodehealth never reached N/N healthy: its figures are those of an operator failing at the \
             job (see failed writes and reconciles).\n"
        });
    }
    out
}

/// The table of a sharded run (markdown): one column per shard, the shards together, and
/// Prometheus unless it was skipped.
pub fn shards_table(
    shards: &[ShardLine],
    all: &ShardsLine,
    p: Option<&PrometheusLine>,
    r: Option<&RatioLine>,
) -> String {
    let period = f64::from(all.period_s);
    let sweep = |validators: usize| round(2.0 * validators as f64 / period, 2);
    let sum = |f: fn(&ProcessFigures) -> Option<f64>| -> Option<f64> {
        shards
            .iter()
            .map(|s| f(&s.figures))
            .sum::<Option<f64>>()
            .map(|x| round(x, 2))
    };
    let fig = |f: &dyn Fn(&ProcessFigures) -> String| shards.iter().map(|s| f(&s.figures)).collect::<Vec<_>>();
    // Row: (label, a cell per shard, the shards together, Prometheus' cell).
    let mut rows: Vec<(String, Vec<String>, String, String)> = vec![
        (
            "validators (pods of its NodeHealths, by status.shard)".to_owned(),
            fig(&|f| f.validators.to_string()),
            all.validators.to_string(),
            p.map_or_else(String::new, |p| p.validators.to_string()),
        ),
        (
            "NodeHealths".to_owned(),
            shards.iter().map(|s| s.policies.to_string()).collect(),
            all.policies.to_string(),
            String::new(),
        ),
        (
            "scheduled pods (nodehealth_scheduled_pods)".to_owned(),
            shards.iter().map(|s| opt(s.scheduled_pods)).collect(),
            opt(shards.iter().map(|s| s.scheduled_pods).sum()),
            String::new(),
        ),
        (
            "leads its shard (nodehealth_leader)".to_owned(),
            shards
                .iter()
                .map(|s| s.leader.map_or_else(|| "null".to_owned(), |l| l.to_string()))
                .collect(),
            String::new(),
            String::new(),
        ),
        (
            "CPU cores (all: sum, max)".to_owned(),
            fig(&|f| f.cpu_cores.to_string()),
            format!("{}, {}", all.sum_cpu_cores, all.max_cpu_cores),
            p.map_or_else(String::new, |p| p.cpu_cores.to_string()),
        ),
        (
            "CPU ms per validator per period (per target scrape)".to_owned(),
            fig(&|f| opt(f.cpu_ms_per_validator_per_period)),
            all.cpu_ms_per_validator_per_period.to_string(),
            p.map_or_else(String::new, |p| p.cpu_ms_per_validator_per_period.to_string()),
        ),
        (
            "peak RSS MiB (all: sum, max)".to_owned(),
            fig(&|f| f.peak_rss_mib.to_string()),
            format!("{}, {}", all.sum_peak_rss_mib, all.max_peak_rss_mib),
            p.map_or_else(String::new, |p| p.peak_rss_mib.to_string()),
        ),
        (
            "open fds (max; all: max)".to_owned(),
            fig(&|f| f.fds.to_string()),
            all.max_fds.to_string(),
            p.map_or_else(String::new, |p| p.fds.to_string()),
        ),
        (
            "probes / scrapes per s (one sweep a period)".to_owned(),
            fig(&|f| format!("{} ({})", opt(f.probes_per_s), sweep(f.validators))),
            format!("{} ({})", opt(sum(|f| f.probes_per_s)), sweep(all.validators)),
            p.map_or_else(String::new, |p| {
                format!("{} ({})", opt(p.scrapes_per_s), round(p.validators as f64 / period, 2))
            }),
        ),
        (
            "failed probes per s".to_owned(),
            fig(&|f| opt(f.probe_errors_per_s)),
            opt(sum(|f| f.probe_errors_per_s)),
            String::new(),
        ),
        (
            "status writes per min (failed)".to_owned(),
            fig(&|f| {
                format!(
                    "{} ({})",
                    opt(f.status_writes_per_min),
                    opt(f.status_write_errors_per_min)
                )
            }),
            format!(
                "{} ({})",
                opt(sum(|f| f.status_writes_per_min)),
                opt(sum(|f| f.status_write_errors_per_min))
            ),
            String::new(),
        ),
        (
            "reconciles per min (failed)".to_owned(),
            fig(&|f| format!("{} ({})", opt(f.reconciles_per_min), opt(f.reconcile_errors_per_min))),
            format!(
                "{} ({})",
                opt(sum(|f| f.reconciles_per_min)),
                opt(sum(|f| f.reconcile_errors_per_min))
            ),
            String::new(),
        ),
        (
            "kube API requests per min".to_owned(),
            fig(&|f| kube(f.kube_requests_per_min.as_ref())),
            String::new(),
            String::new(),
        ),
        (
            "probe lateness p50 / p99 s".to_owned(),
            fig(&|f| format!("{} / {}", opt(f.probe_lateness_p50_s), opt(f.probe_lateness_p99_s))),
            String::new(),
            String::new(),
        ),
    ];
    let none = || vec![String::new(); shards.len()];
    rows.extend([
        (
            "time to all healthy / all targets up s".to_owned(),
            none(),
            opt(all.time_to_all_healthy_s),
            p.map_or_else(String::new, |p| opt(p.time_to_all_up_s)),
        ),
        (
            "healthy when sampled".to_owned(),
            none(),
            all.healthy_when_sampled.clone(),
            String::new(),
        ),
        (
            "busy cores of the whole machine (all processes)".to_owned(),
            none(),
            all.host_busy_cores.to_string(),
            p.map_or_else(String::new, |p| p.host_busy_cores.to_string()),
        ),
        (
            "detection of one out-of-sync validator s".to_owned(),
            none(),
            opt(all.detection_s),
            String::new(),
        ),
        (
            format!("validators per shard (mean); shards for {EXTRAPOLATE_TO}"),
            none(),
            format!("{}; {}", all.validators_per_shard, all.shards_for_100000),
            String::new(),
        ),
    ]);
    let mut header = vec![format!(
        "N={}, period {} s, {} policies over {} shards, sampled {:.0} s",
        all.validators, all.period_s, all.policies, all.shards, all.sampled_s
    )];
    header.extend(shards.iter().map(|s| format!("shard {}", s.shard)));
    header.push("all shards".to_owned());
    if p.is_some() {
        header.push("Prometheus".to_owned());
    }
    let rows = rows
        .into_iter()
        .map(|(what, mut cells, all, prom)| {
            cells.push(all);
            if p.is_some() {
                cells.push(prom);
            }
            (what, cells)
        })
        .collect();
    let mut out = markdown(&header, rows);
    out.push_str(&format!(
        "\nAt these figures (per shard at most {} cores and {} MiB peak RSS) a shard handles {} validators on \
         average: {EXTRAPOLATE_TO} validators take ceil({EXTRAPOLATE_TO} / {}) = {} shards.\n",
        all.max_cpu_cores,
        all.max_peak_rss_mib,
        all.validators_per_shard,
        all.validators_per_shard,
        all.shards_for_100000
    ));
    let (lo, hi) = (
        all.validators_by_shard.iter().min().copied().unwrap_or(0),
        all.validators_by_shard.iter().max().copied().unwrap_or(0),
    );
    if hi > lo {
        out.push_str(&format!(
            "The jump hash of the NodeHealths' UIDs split them {} (validators {}): the busiest shard has {:.2}× the mean.\n",
            join(&all.policies_by_shard),
            join(&all.validators_by_shard),
            hi as f64 / (all.validators as f64 / f64::from(all.shards))
        ));
    }
    match r {
        Some(r) => out.push_str(&format!(
            "\nCPU ratio (all shards per validator per period / Prometheus per target scrape): {}\n\
             peak RSS ratio (sum over the shards / Prometheus): {}\n",
            opt(r.cpu_per_validator_per_period),
            opt(r.peak_rss)
        )),
        None => out.push_str(SKIPPED),
    }
    if all.time_to_all_healthy_s.is_none() {
        out.push_str(
            "\nThe shards never reached N/N healthy: see failed writes and reconciles, and the operators' logs.\n",
        );
    }
    out
}

fn join(xs: &[usize]) -> String {
    xs.iter().map(usize::to_string).collect::<Vec<_>>().join("/")
}
