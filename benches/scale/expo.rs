//! Reading a `/metrics` page twice and turning the difference into rates and quantiles, as
//! Prometheus' `increase()` and `histogram_quantile()` would over the same window.

use std::collections::BTreeMap;

use std::time::Duration;

use anyhow::Context;
use nodehealth::exposition::{Limits, parse};

/// Attempts at reading a `/metrics` page, a second apart (an operator out of descriptors may
/// fail to accept one connection and take the next).
const PAGE_ATTEMPTS: u32 = 3;

/// The samples of one page, for the metric names a caller asked for.
#[derive(Debug, Default)]
pub struct Page {
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

impl Page {
    /// GETs a process's `/metrics` at `addr` and keeps the families starting with `prefixes`.
    pub async fn fetch(http: &reqwest::Client, addr: &str, prefixes: &[&str]) -> anyhow::Result<Page> {
        let url = format!("http://{addr}/metrics");
        let text = http
            .get(&url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .with_context(|| format!("GET {url}"))?
            .text()
            .await?;
        Page::parse(&text, prefixes)
    }

    /// Parses `text`, keeping the samples whose name starts with one of `prefixes` (the
    /// operator's page also carries two series per pod, which no figure here needs).
    pub fn parse(text: &str, prefixes: &[&str]) -> anyhow::Result<Page> {
        let mut samples = Vec::new();
        parse(
            text.as_bytes(),
            &Limits::default(),
            |name| prefixes.iter().any(|p| name.starts_with(p)),
            |s| {
                let labels = s.labels().map(|(k, v)| (k.to_owned(), v.into_owned())).collect();
                samples.push((s.name.to_owned(), labels, s.value));
            },
        )
        .context("parse the metrics page")?;
        Ok(Page { samples })
    }

    /// Whether the page has any sample named `name`.
    pub fn has(&self, name: &str) -> bool {
        self.samples.iter().any(|(n, _, _)| n == name)
    }

    /// Sum of the samples named `name` whose labels pass `keep`.
    pub fn sum(&self, name: &str, keep: impl Fn(&BTreeMap<String, String>) -> bool) -> f64 {
        self.samples
            .iter()
            .filter(|(n, l, _)| n == name && keep(l))
            .map(|(_, _, v)| v)
            .sum()
    }

    /// Sums of the samples named `name` by the value of label `key`.
    pub fn by_label(&self, name: &str, key: &str) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        for (n, l, v) in &self.samples {
            if n == name {
                *out.entry(l.get(key).cloned().unwrap_or_default()).or_insert(0.0) += v;
            }
        }
        out
    }

    /// Cumulative bucket counts of histogram `name` (its `_bucket` series) summed over every
    /// other label, by upper bound, ascending (`+Inf` last).
    pub fn buckets(&self, name: &str) -> Vec<(f64, f64)> {
        let series = format!("{name}_bucket");
        let mut by_le: Vec<(f64, f64)> = Vec::new();
        for (n, l, v) in &self.samples {
            let Some(le) = l.get("le").filter(|_| *n == series) else {
                continue;
            };
            let Ok(le) = le.parse::<f64>() else { continue };
            match by_le.iter_mut().find(|(b, _)| *b == le) {
                Some((_, c)) => *c += v,
                None => by_le.push((le, *v)),
            }
        }
        by_le.sort_by(|a, b| a.0.total_cmp(&b.0));
        by_le
    }
}

/// A metrics page, or `None` (reported) if it cannot be read in [`PAGE_ATTEMPTS`] tries: the
/// figures from it are then `null` rather than the whole run lost.
pub async fn page_of<F, Fut>(read: F) -> Option<Page>
where
    F: Fn() -> Fut,
    Fut: Future<Output = anyhow::Result<Page>>,
{
    for attempt in 1..=PAGE_ATTEMPTS {
        match read().await {
            Ok(p) => return Some(p),
            Err(e) if attempt == PAGE_ATTEMPTS => eprintln!("[bench] WARNING: no metrics page: {e:#}"),
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
    None
}

/// Per-key increase between two readings of a counter family (keys only in `after` count from 0).
pub fn increase(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .collect()
}

/// Bucket increase of a histogram between two readings (same bounds on both pages).
pub fn bucket_increase(before: &[(f64, f64)], after: &[(f64, f64)]) -> Vec<(f64, f64)> {
    after
        .iter()
        .map(|(le, c)| {
            let was = before.iter().find(|(b, _)| b == le).map_or(0.0, |(_, c)| *c);
            (*le, c - was)
        })
        .collect()
}

/// The `q` quantile of cumulative buckets, interpolated linearly within the bucket it falls in
/// (Prometheus' `histogram_quantile`: the lowest bucket starts at 0, a quantile in the `+Inf`
/// bucket is the highest finite bound). `None` with no observation.
pub fn quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let (mut lower, mut below) = (0.0, 0.0);
    for &(le, count) in buckets {
        if count >= rank {
            if le.is_infinite() {
                return Some(lower);
            }
            let inside = count - below;
            let fraction = if inside > 0.0 { (rank - below) / inside } else { 1.0 };
            return Some(lower + (le - lower) * fraction);
        }
        (lower, below) = (le, count);
    }
    Some(lower)
}
