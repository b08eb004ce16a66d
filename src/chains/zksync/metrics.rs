//! The zksync node's Prometheus page (OpenMetrics, as its `vise` exporter writes it).
//!
//! The health endpoint's `sync_state` is the node's word on its blocks; the page repeats it and
//! is read for what the health endpoint did not say (a policy probing the page alone). Unlike
//! Radix, nothing in the zksync documentation ties the page's series to the node's start-up, so
//! a page that answers without them is no verdict, and one that does not parse is a reason.
//!
//! Series (matter-labs/zksync-era `core/node/shared_metrics/src/lib.rs`, set by the node's
//! `sync_state` from the figures of its `sync_state` component):
//! `server_miniblock_number{stage="sealed"}` (the last sealed L2 block: the node's head),
//! `external_node_sync_lag` (L2 blocks behind the main node), `external_node_synced` (1 or 0).

use crate::exposition::{self, Limits};
use crate::model::{Reading, SyncState};

/// Reads the page. `only_word`: no health endpoint is probed, so an unreadable page is the verdict.
pub(super) fn read(body: &[u8], r: &mut Reading, only_word: bool) {
    let (mut head, mut lag, mut synced) = (None, None, None);
    let keep = |name: &str| {
        matches!(
            name,
            "server_miniblock_number" | "external_node_sync_lag" | "external_node_synced"
        )
    };
    let parsed = exposition::parse(body, &Limits::default(), keep, |s| {
        let v = Some(s.value).filter(|v| v.is_finite() && *v >= 0.0);
        match s.name {
            "server_miniblock_number" if s.label("stage").as_deref() == Some("sealed") => head = head.or(v),
            "external_node_sync_lag" => lag = lag.or(v),
            "external_node_synced" => synced = synced.or(v.map(|v| v >= 0.5)),
            _ => {}
        }
    });
    let stats = match parsed {
        Ok(stats) => stats,
        Err(e) => return super::failed(r, "metrics", &format!("metrics: {e}"), only_word),
    };
    super::super::page_notes(r, &stats);
    if r.head.height.is_none() && r.target.height.is_none() {
        r.head.height = head;
        // Each is finite, their sum may not be (`1e308` twice): then there is no target.
        r.target.height = head.zip(lag).map(|(h, l)| h + l).filter(|t| t.is_finite());
    }
    if r.claimed_sync.is_none() {
        r.claimed_sync = synced.map(|s| if s { SyncState::Synced } else { SyncState::Syncing });
    }
}
