//! The `malformed` and `oversized` answers.
//!
//! An oversized body is streamed in chunks built on demand, so a fleet of validators answering
//! 32 MiB each holds one chunk per live response, not the body.

use bytes::Bytes;
use serde_json::json;

use super::radix::{self, to_json_bytes};
use super::{Body, Identity, JSON, OPENMETRICS_TEXT, PROMETHEUS_TEXT, Reply, zksync};
use crate::sim::state::Snapshot;
use crate::sim::{Endpoint, Profile};

/// Bytes per streamed chunk: large enough to keep per-chunk overhead small, small enough that
/// thousands of concurrent oversized answers stay within a few hundred MB.
const CHUNK: usize = 64 * 1024;
const MIB: u64 = 1024 * 1024;
/// JSON padding, shared by every chunk (no allocation per chunk).
static X_CHUNK: [u8; CHUNK] = [b'x'; CHUNK];
/// Exposition padding: fixed-width lines, so a chunk holds whole lines.
const PAD_METRIC: &str = "rn_sim_padding";
const PAD_LINE_LEN: usize = PAD_METRIC.len() + "{index=\"0000000000\",} 1.0\n".len();

/// What fills an oversized body between its head and tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Filler {
    /// `x` characters inside a JSON string.
    Json,
    /// `rn_sim_padding{index="…",} 1.0` samples.
    Exposition,
}

/// A body streamed as head, `remaining` bytes of filler, tail.
#[derive(Debug)]
pub struct Chunks {
    head: Option<Bytes>,
    filler: Filler,
    remaining: u64,
    next_index: u64,
    tail: Option<Bytes>,
}

impl Iterator for Chunks {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        if let Some(head) = self.head.take() {
            return Some(head);
        }
        if self.remaining == 0 {
            return self.tail.take();
        }
        match self.filler {
            Filler::Json => {
                let n = self.remaining.min(CHUNK as u64) as usize;
                self.remaining -= n as u64;
                Some(Bytes::from_static(&X_CHUNK[..n]))
            }
            Filler::Exposition => {
                let mut chunk = Vec::with_capacity(CHUNK);
                while self.remaining > 0 && chunk.len() + PAD_LINE_LEN <= CHUNK {
                    chunk.extend_from_slice(
                        format!("{PAD_METRIC}{{index=\"{:010}\",}} 1.0\n", self.next_index).as_bytes(),
                    );
                    self.next_index += 1;
                    self.remaining = self.remaining.saturating_sub(PAD_LINE_LEN as u64);
                }
                Some(Bytes::from(chunk))
            }
        }
    }
}

/// A body of at least `mb` MiB that starts and ends like the real one.
pub(super) fn oversized(profile: Profile, endpoint: Endpoint, snap: &Snapshot, id: &Identity, mb: u64) -> Reply {
    let (status, content_type, head, tail, filler) = match (profile, endpoint) {
        (Profile::Radix, Endpoint::Health) => {
            let body = to_json_bytes(&radix::system_health_value(snap, String::new()));
            let (head, tail) = split_json(body, "\"detail\":\"\"");
            (200, JSON, head, tail, Filler::Json)
        }
        (Profile::Zksync, Endpoint::Health) => {
            // The application's own `details` (zksync's `AppHealth` flattens a `Health`).
            let (status, body) = zksync::health(snap, Some(json!({"padding": ""})));
            let (head, tail) = split_json(to_json_bytes(&body), "\"padding\":\"\"");
            (status, JSON, head, tail, Filler::Json)
        }
        (Profile::Radix, Endpoint::Metrics) => {
            let page = radix::metrics(snap, id) + &pad_meta();
            (200, PROMETHEUS_TEXT, page.into_bytes(), Vec::new(), Filler::Exposition)
        }
        (Profile::Zksync, Endpoint::Metrics) => {
            let page = zksync::metrics(snap);
            // OpenMetrics ends at `# EOF`: the padding goes before it.
            let page = page.strip_suffix("# EOF\n").unwrap_or(&page).to_owned() + &pad_meta();
            (
                200,
                OPENMETRICS_TEXT,
                page.into_bytes(),
                b"# EOF\n".to_vec(),
                Filler::Exposition,
            )
        }
        // The JSON-RPC chains: a JSON object whose one string is the padding.
        (_, Endpoint::Health) => (200, JSON, br#"{"padding":""#.to_vec(), br#""}"#.to_vec(), Filler::Json),
        (_, Endpoint::Metrics) => (
            200,
            PROMETHEUS_TEXT,
            pad_meta().into_bytes(),
            Vec::new(),
            Filler::Exposition,
        ),
    };
    let remaining = (mb * MIB).saturating_sub((head.len() + tail.len()) as u64);
    let chunks = Chunks {
        head: Some(Bytes::from(head)),
        filler,
        remaining,
        next_index: 0,
        tail: Some(Bytes::from(tail)),
    };
    Reply {
        status,
        content_type,
        body: Body::Streamed(chunks),
    }
}

fn pad_meta() -> String {
    format!("# HELP {PAD_METRIC} Padding of an oversized page (nodehealth-sim).\n# TYPE {PAD_METRIC} gauge\n")
}

/// Splits a serialized body inside the empty string of `field` (`"detail":""`), so the padding
/// lands in that string. Without the field, the padding goes after the body (never happens: the
/// callers serialize that field themselves).
fn split_json(body: Vec<u8>, field: &str) -> (Vec<u8>, Vec<u8>) {
    let text = String::from_utf8_lossy(&body);
    match text.split_once(field) {
        Some((before, after)) => {
            let open = &field[..field.len() - 1];
            (
                format!("{before}{open}").into_bytes(),
                format!("\"{after}").into_bytes(),
            )
        }
        None => (body, Vec::new()),
    }
}

/// HTTP 200 with a body that does not parse: truncated JSON, or an exposition with broken lines
/// and bytes that are not UTF-8.
pub(super) fn malformed(profile: Profile, endpoint: Endpoint) -> Reply {
    let (content_type, body): (&'static str, &[u8]) = match (profile, endpoint) {
        (Profile::Radix, Endpoint::Health) => (
            JSON,
            br#"{"status":"UP","detail":"The node is synced and participating in cons"#,
        ),
        (Profile::Zksync, Endpoint::Health) => {
            (JSON, br#"{"status":"ready","components":{"sync_state":{"status":"rea"#)
        }
        (Profile::Radix, Endpoint::Metrics) => (PROMETHEUS_TEXT, MALFORMED_EXPOSITION),
        (Profile::Zksync, Endpoint::Metrics) => (OPENMETRICS_TEXT, MALFORMED_EXPOSITION),
        // The JSON-RPC chains: a JSON-RPC answer cut short.
        (_, Endpoint::Health) => (JSON, br#"{"jsonrpc":"2.0","id":1,"result":{"sync_info":{"latest_blo"#),
        (_, Endpoint::Metrics) => (PROMETHEUS_TEXT, MALFORMED_EXPOSITION),
    };
    Reply {
        status: 200,
        content_type,
        body: Body::Full(body.to_vec()),
    }
}

const MALFORMED_EXPOSITION: &[u8] = b"# TYPE rn_ledger_state_version gauge\n\
rn_ledger_state_version 231457012 1763798400000 trailing garbage\n\
rn_ledger_overall_health_factor{unterminated=\"1 0.5\n\
\xff\xfe\x00\x01 binary noise \xc3\x28\n\
{\"this\":\"is json, not an exposition\"}\n";
