//! The zksync node's Prometheus page (OpenMetrics, as its `vise` exporter writes it).
//!
//! The health endpoint carries what the verdict needs; the page is read only to tell whether it
//! is one (a page that does not parse is a reason, not a verdict). Unlike Radix, nothing in the
//! zksync documentation ties the page's series to the node's start-up.

use crate::exposition::{self, Limits};
use crate::model::Reading;

/// Reads the page. `only_word`: no health endpoint is probed, so an unreadable page is the verdict.
pub(super) fn read(body: &[u8], r: &mut Reading, only_word: bool) {
    if let Err(e) = exposition::parse(body, &Limits::default(), |_| false, |_| {}) {
        super::failed(r, "metrics", &format!("metrics: {e}"), only_word);
    }
}
