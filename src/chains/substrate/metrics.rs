//! A Substrate node's Prometheus page (`--prometheus-port`, 9615), read for:
//! - `substrate_block_height{status="best"|"finalized"|"sync_target"}` ("Block height info of
//!   the chain", `sc-informant`/`sc-service` metrics): the best block, the last finalized one,
//!   and the highest block peers announce (the sync target);
//! - `substrate_sub_libp2p_peers_count` ("Number of connected peers", `sc-network`).
//!
//! Every series carries the `chain` label the node's registry adds; it is not read.

use crate::exposition::{self, Limits, ParseStats};

/// What the page says; `None` where a series is absent.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Page {
    pub best: Option<f64>,
    pub finalized: Option<f64>,
    pub sync_target: Option<f64>,
    pub peers: Option<f64>,
    /// How the page parsed.
    pub stats: ParseStats,
}

/// Parses the page.
pub fn parse(body: &[u8]) -> Result<Page, String> {
    let mut page = Page::default();
    let keep = |name: &str| matches!(name, "substrate_block_height" | "substrate_sub_libp2p_peers_count");
    let parsed = exposition::parse(body, &Limits::default(), keep, |s| {
        let v = Some(s.value).filter(|v| v.is_finite() && *v >= 0.0);
        if s.name == "substrate_sub_libp2p_peers_count" {
            page.peers = page.peers.or(v);
            return;
        }
        match s.label("status").as_deref() {
            Some("best") => page.best = page.best.or(v),
            Some("finalized") => page.finalized = page.finalized.or(v),
            Some("sync_target") => page.sync_target = page.sync_target.or(v),
            _ => {}
        }
    });
    page.stats = parsed.map_err(|e| format!("metrics: {e}"))?;
    Ok(page)
}
