//! The `malformed`, `oversized`, `endless_body`, `many_series` and `gzip_bomb` answers.
//!
//! Large bodies are streamed in chunks built on demand, so a fleet of validators answering
//! 32 MiB each (or forever) holds one chunk per live response, not the body.

use std::io::Write as _;
use std::sync::OnceLock;

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

/// Inflated size of one member of a gzip bomb: a bomb of `mb` MiB is `mb` members.
const BOMB_MEMBER: usize = 1024 * 1024;

/// What fills a large body between its head and tail.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Filler {
    /// `x` characters inside a JSON string.
    Json,
    /// `rn_sim_padding{index="…",} 1.0` samples, one series each.
    Exposition,
    /// The same whole pieces again and again (the members of a gzip bomb): the bytes hold a
    /// chunk's worth of them, `remaining` is a multiple of one.
    Repeat(Bytes),
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

impl Chunks {
    fn new(head: Vec<u8>, filler: Filler, remaining: u64, tail: Vec<u8>) -> Chunks {
        Chunks {
            head: Some(Bytes::from(head)),
            filler,
            remaining,
            next_index: 0,
            tail: Some(Bytes::from(tail)),
        }
    }

    /// The exact length of the whole body (still to come), as a `Content-Length` announces it.
    pub fn len(&self) -> u64 {
        let filler = match &self.filler {
            // Whole lines: the last one may go past `remaining`.
            Filler::Exposition => self.remaining.div_ceil(PAD_LINE_LEN as u64) * PAD_LINE_LEN as u64,
            Filler::Json | Filler::Repeat(_) => self.remaining,
        };
        let len = |b: &Option<Bytes>| b.as_ref().map_or(0, |b| b.len() as u64);
        len(&self.head) + filler + len(&self.tail)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
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
        match &self.filler {
            Filler::Repeat(pieces) => {
                let n = self.remaining.min(pieces.len() as u64);
                self.remaining -= n;
                Some(pieces.slice(..n as usize))
            }
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
    let (status, content_type, head, tail, filler) = shape(profile, endpoint, snap, id);
    let remaining = (mb * MIB).saturating_sub((head.len() + tail.len()) as u64);
    Reply {
        status,
        content_type,
        body: Body::Streamed(Chunks::new(head, filler, remaining, tail)),
    }
}

/// A body that starts like the real one and never ends.
pub(super) fn endless(profile: Profile, endpoint: Endpoint, snap: &Snapshot, id: &Identity) -> Reply {
    let (status, content_type, head, _, filler) = shape(profile, endpoint, snap, id);
    Reply {
        status,
        content_type,
        body: Body::Streamed(Chunks::new(head, filler, u64::MAX, Vec::new())),
    }
}

/// A real metrics page (`normal`) with `series` padding series more, before its `# EOF` if it
/// has one. Any other answer is left as it is.
pub(super) fn many_series(normal: Reply, series: u64) -> Reply {
    let Body::Full(page) = normal.body else {
        return normal;
    };
    let (page, tail) = match page.strip_suffix(b"# EOF\n") {
        Some(before) => (before.to_vec(), b"# EOF\n".to_vec()),
        None => (page, Vec::new()),
    };
    let head = [page, pad_meta().into_bytes()].concat();
    Reply {
        body: Body::Streamed(Chunks::new(
            head,
            Filler::Exposition,
            series * PAD_LINE_LEN as u64,
            tail,
        )),
        ..normal
    }
}

/// Zeros that inflate to `mb` MiB: gzip members of [`BOMB_MEMBER`] bytes each, about a
/// thousandth of that on the wire (deflate's longest match is 258 bytes for a 2-bit code).
pub(super) fn gzip_bomb(endpoint: Endpoint, mb: u64) -> Reply {
    // One member's length, and a chunk's worth of members to send at a time.
    static MEMBERS: OnceLock<(usize, Bytes)> = OnceLock::new();
    let (member, members) = MEMBERS.get_or_init(|| {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        // Writing to a Vec cannot fail.
        let _ = enc.write_all(&[0u8; BOMB_MEMBER]);
        let member = enc.finish().unwrap_or_default();
        let per_chunk = (CHUNK / member.len().max(1)).max(1);
        (member.len(), Bytes::from(member.repeat(per_chunk)))
    });
    let content_type = match endpoint {
        Endpoint::Health => JSON,
        Endpoint::Metrics => PROMETHEUS_TEXT,
    };
    let remaining = mb * *member as u64;
    Reply {
        status: 200,
        content_type,
        body: Body::Streamed(Chunks::new(
            Vec::new(),
            Filler::Repeat(members.clone()),
            remaining,
            Vec::new(),
        )),
    }
}

/// Status, content type, head, tail and filler of a large body that reads like the real one.
fn shape(
    profile: Profile,
    endpoint: Endpoint,
    snap: &Snapshot,
    id: &Identity,
) -> (u16, &'static str, Vec<u8>, Vec<u8>, Filler) {
    match (profile, endpoint) {
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
