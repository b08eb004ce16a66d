//! What the bench prints on stdout: one JSON line per system, one with the ratios, and a
//! markdown table of the same figures.

use std::collections::BTreeMap;

use serde::Serialize;

/// nodehealth's line. The first fields are the issue's; the rest explain a struggling run.
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

/// The side-by-side table (markdown), ready for the README.
pub fn table(nh: &NodehealthLine, p: &PrometheusLine, r: &RatioLine) -> String {
    let kube = nh.kube_requests_per_min.as_ref().map_or_else(
        || "null".to_owned(),
        |m| {
            m.iter()
                .map(|(verb, n)| format!("{verb} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        },
    );
    let rows = [
        ("CPU cores", nh.cpu_cores.to_string(), p.cpu_cores.to_string()),
        (
            "CPU ms per validator per period (per target scrape)",
            nh.cpu_ms_per_validator_per_period.to_string(),
            p.cpu_ms_per_validator_per_period.to_string(),
        ),
        ("peak RSS MiB", nh.peak_rss_mib.to_string(), p.peak_rss_mib.to_string()),
        ("open fds (max)", nh.fds.to_string(), p.fds.to_string()),
        (
            &*format!(
                "probes / scrapes per s (one sweep a period: {} / {})",
                round(2.0 * nh.validators as f64 / f64::from(nh.period_s), 2),
                round(p.validators as f64 / f64::from(p.period_s), 2)
            ),
            opt(nh.probes_per_s),
            opt(p.scrapes_per_s),
        ),
        ("failed probes per s", opt(nh.probe_errors_per_s), "".to_owned()),
        (
            "status writes per min (failed)",
            format!(
                "{} ({})",
                opt(nh.status_writes_per_min),
                opt(nh.status_write_errors_per_min)
            ),
            "".to_owned(),
        ),
        (
            "reconciles per min (failed)",
            format!("{} ({})", opt(nh.reconciles_per_min), opt(nh.reconcile_errors_per_min)),
            "".to_owned(),
        ),
        ("kube API requests per min", kube, "".to_owned()),
        (
            "probe lateness p50 / p99 s",
            format!("{} / {}", opt(nh.probe_lateness_p50_s), opt(nh.probe_lateness_p99_s)),
            "".to_owned(),
        ),
        (
            "time to all healthy / all targets up s",
            opt(nh.time_to_all_healthy_s),
            opt(p.time_to_all_up_s),
        ),
        ("healthy when sampled", nh.healthy_when_sampled.clone(), "".to_owned()),
        (
            "busy cores of the whole machine (all processes)",
            nh.host_busy_cores.to_string(),
            p.host_busy_cores.to_string(),
        ),
        (
            "detection of one out-of-sync validator s",
            opt(nh.detection_s),
            "".to_owned(),
        ),
    ];
    let mut out = format!(
        "| N={}, period {} s, {} policies, sampled {:.0} s | nodehealth | Prometheus |\n|---|---:|---:|\n",
        nh.validators, nh.period_s, nh.policies, nh.sampled_s
    );
    for (what, a, b) in rows {
        out.push_str(&format!("| {what} | {a} | {b} |\n"));
    }
    out.push_str(&format!(
        "\nCPU ratio (nodehealth per validator per period / Prometheus per target scrape): {}\n\
         peak RSS ratio (nodehealth / Prometheus): {}\n",
        opt(r.cpu_per_validator_per_period),
        opt(r.peak_rss)
    ));
    if !r.nodehealth_all_healthy {
        out.push_str(
            "\nnodehealth never reached N/N healthy: its figures are those of an operator failing at the \
             job (see failed writes and reconciles), so the ratios compare unlike things.\n",
        );
    }
    out
}
