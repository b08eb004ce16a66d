//! Prometheus on the same fleet: a static scrape of every validator's metrics endpoint at the
//! operator's period and probe timeout, its own process, storage and port.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

use crate::expo::Page;
use crate::fleet::{METRICS_PORT, Sims};
use crate::procs::{Managed, PidFile, free_port};

/// How long Prometheus may take to open its TSDB and answer `/-/ready` (a second or two here).
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Between looks at `/-/ready` and at the count of targets up.
const POLL: Duration = Duration::from_millis(500);
/// Between progress lines while waiting for every target.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// Prometheus' own families the figures come from: scrapes done (a summary observed once per
/// scrape of a target) and the head's size.
const FAMILIES: [&str; 2] = [
    "prometheus_target_interval_length_seconds_count",
    "prometheus_tsdb_head_series",
];

/// A running Prometheus and its address.
pub struct Prometheus {
    pub process: Managed,
    pub addr: String,
    http: reqwest::Client,
}

/// `prometheus.yml` scraping `/prometheus/metrics` of every validator every `period` seconds.
pub fn config(sims: &Sims, period: u32, timeout: u32) -> String {
    let mut out = format!(
        "global:\n  scrape_interval: {period}s\n  scrape_timeout: {timeout}s\n  evaluation_interval: {period}s\n\
         scrape_configs:\n- job_name: validators\n  metrics_path: /prometheus/metrics\n  static_configs:\n  - targets:\n"
    );
    for i in 0..sims.len() {
        let _ = writeln!(out, "    - {}:{METRICS_PORT}", sims.ip(i));
    }
    out
}

impl Prometheus {
    /// Starts `bin` with the config at `work/prometheus.yml` and its TSDB under `work/tsdb`.
    pub async fn start(
        bin: &Path,
        config: &str,
        work: &Path,
        pids: &PidFile,
        http: reqwest::Client,
    ) -> anyhow::Result<Prometheus> {
        let file = work.join("prometheus.yml");
        std::fs::write(&file, config).with_context(|| format!("write {}", file.display()))?;
        let addr = format!("127.0.0.1:{}", free_port()?);
        let mut cmd = Command::new(bin);
        cmd.arg(format!("--config.file={}", file.display()))
            .arg(format!("--storage.tsdb.path={}", work.join("tsdb").display()))
            .arg(format!("--web.listen-address={addr}"));
        let process = Managed::spawn("prometheus", cmd, &work.join("prometheus.log"), pids)?;
        let mut p = Prometheus { process, addr, http };
        p.wait_ready().await?;
        Ok(p)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let url = format!("http://{}/-/ready", self.addr);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            self.process.ensure_running()?;
            if let Ok(r) = self.http.get(&url).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "Prometheus not ready after {READY_TIMEOUT:?}: see {}",
                    self.process.log().display()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The value of an instant query that returns one number (0 for an empty result).
    pub async fn scalar(&self, promql: &str) -> anyhow::Result<f64> {
        let url = reqwest::Url::parse_with_params(&format!("http://{}/api/v1/query", self.addr), [("query", promql)])?;
        let body = self
            .http
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .with_context(|| format!("query {promql}"))?
            .bytes()
            .await?;
        let body: Value = serde_json::from_slice(&body).with_context(|| format!("query {promql}: not JSON"))?;
        let value = &body["data"]["result"][0]["value"][1];
        Ok(value.as_str().and_then(|v| v.parse().ok()).unwrap_or(0.0))
    }

    /// Waits until `n` targets are up; the time from `since`, or `None` after `timeout`.
    pub async fn wait_all_up(&mut self, n: usize, since: Instant, timeout: Duration) -> anyhow::Result<Option<f64>> {
        let mut last_note = Instant::now();
        loop {
            self.process.ensure_running()?;
            let up = self.scalar("count(up == 1)").await?;
            if up >= n as f64 {
                return Ok(Some(since.elapsed().as_secs_f64()));
            }
            if since.elapsed() > timeout {
                eprintln!("[bench] Prometheus: only {up}/{n} targets up after {timeout:?}");
                return Ok(None);
            }
            if last_note.elapsed() >= PROGRESS_EVERY {
                eprintln!("[bench] Prometheus: {up}/{n} targets up");
                last_note = Instant::now();
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Prometheus' own figures, from its `/metrics`.
    pub async fn page(&self) -> anyhow::Result<Page> {
        Page::fetch(&self.http, &self.addr, &FAMILIES).await
    }
}

/// Scrapes per second over a window, from Prometheus' pages at both ends.
pub fn scrapes_per_s(before: &Page, after: &Page, seconds: f64) -> f64 {
    let all = |_: &_| true;
    let name = FAMILIES[0];
    (after.sum(name, all) - before.sum(name, all)) / seconds
}

/// Series in Prometheus' head block.
pub fn head_series(page: &Page) -> f64 {
    page.sum(FAMILIES[1], |_| true)
}
