//! The bodies a probe reads, as pure functions of a validator's snapshot.

mod cometbft;
mod ethereum;
mod hostile;
mod java;
mod padding;
mod radix;
mod solana;
mod substrate;
mod zksync;

use std::net::Ipv4Addr;

use bytes::Bytes;

pub use hostile::headers;
pub use java::{java_double, rust_float};
pub use padding::Chunks;
pub use zksync::app_status;

use crate::sim::mode::Mode;
use crate::sim::state::Snapshot;
use crate::sim::{Endpoint, Profile};

/// Content type of a Prometheus text exposition (what babylon-node's Prometheus API sends).
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4";
/// Content type of an OpenMetrics exposition (what zksync's `vise` exporter sends in its default
/// `OpenMetricsForPrometheus` format: OpenMetrics text with `# EOF`, counters without `_total`;
/// vise's `Format::OPEN_METRICS_CONTENT_TYPE`).
pub const OPENMETRICS_TEXT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
pub const JSON: &str = "application/json";
pub const PLAIN: &str = "text/plain; charset=utf-8";

/// What a request asks: its path and, for a JSON-RPC POST, the method it calls.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Call {
    pub path: String,
    /// The JSON-RPC `method` of a POST body.
    pub rpc: Option<String>,
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Body,
}

/// A body: whole, or streamed so that an oversized answer costs no memory.
#[derive(Debug)]
pub enum Body {
    Full(Vec<u8>),
    Streamed(Chunks),
}

impl Body {
    /// Length when known up front.
    pub fn len(&self) -> Option<usize> {
        match self {
            Body::Full(b) => Some(b.len()),
            Body::Streamed(_) => None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// The whole body (tests; a streamed one is read to its end).
    pub fn collect(self) -> Vec<u8> {
        match self {
            Body::Full(b) => b,
            Body::Streamed(chunks) => chunks.flat_map(|c: Bytes| c.to_vec()).collect(),
        }
    }
}

/// Names derived from a validator's IP, stable across restarts of the simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub ip: Ipv4Addr,
    /// `rn_misc_config_info{configured_validator_address}`: unique per IP.
    pub validator_address: String,
    /// A peer validator whose rounds and proposals this node also sees.
    pub peer_address: String,
}

/// Bech32 alphabet, so derived addresses look like Radix ones (they carry no valid checksum).
const BECH32: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
/// Characters after `validator_rdx1` in a Radix validator address (the fixture's: 54).
const ADDRESS_BODY_LEN: usize = 54;
/// Mixes the peer's seed away from every validator's own.
const PEER_SEED: u64 = 0x9e37_79b9_7f4a_7c15;

impl Identity {
    pub fn for_ip(ip: Ipv4Addr) -> Identity {
        let seed = u64::from(u32::from(ip));
        Identity {
            ip,
            validator_address: address(seed),
            peer_address: address(seed ^ PEER_SEED),
        }
    }
}

/// `validator_rdx1s…`: the `s` is what the entity type byte of a validator encodes to.
fn address(seed: u64) -> String {
    let mut out = String::with_capacity(14 + ADDRESS_BODY_LEN);
    out.push_str("validator_rdx1s");
    let mut state = seed;
    while out.len() < 14 + ADDRESS_BODY_LEN {
        state = splitmix64(state);
        for shift in (0..60).step_by(5) {
            if out.len() == 14 + ADDRESS_BODY_LEN {
                break;
            }
            out.push(char::from(BECH32[((state >> shift) & 31) as usize]));
        }
    }
    out
}

/// A small well-mixed hash (splitmix64, Steele et al.), enough to make addresses look random.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The answer to a request on `endpoint`, given the validator's state (a `slow` validator's delay,
/// a `slowloris` one's pace and a `silent` one's silence are the server's business; they answer
/// like a synced one); `None` for a request the node does not serve. Radix and zksync serve one
/// path per endpoint, which the server checks. Headers beyond the content type: [`headers`].
pub fn reply(profile: Profile, endpoint: Endpoint, call: &Call, snap: &Snapshot, id: &Identity) -> Option<Reply> {
    let reply = node_reply(profile, endpoint, call, snap, id)?;
    Some(match snap.mode {
        Mode::NanValues => hostile::nan_values(reply),
        Mode::InvalidUtf8 => hostile::invalid_utf8(reply),
        Mode::ManySeries { series } if endpoint == Endpoint::Metrics => padding::many_series(reply, series),
        _ => reply,
    })
}

/// The node's own answer, or the answer of a mode that replaces it whole.
fn node_reply(profile: Profile, endpoint: Endpoint, call: &Call, snap: &Snapshot, id: &Identity) -> Option<Reply> {
    let chain = match profile {
        Profile::Radix | Profile::Zksync => None,
        Profile::Cometbft => Some(cometbft::reply as ChainReply),
        Profile::Ethereum => Some(ethereum::reply as ChainReply),
        Profile::Solana => Some(solana::reply as ChainReply),
        Profile::Substrate => Some(substrate::reply as ChainReply),
    };
    let Some(chain) = chain else {
        return Some(fixed(profile, endpoint, snap, id));
    };
    // A request the node does not serve is a 404 whatever its mode.
    let normal = chain(endpoint, call, snap, id)?;
    Some(match snap.mode {
        Mode::Http500
        | Mode::Unreachable
        | Mode::Malformed
        | Mode::Oversized { .. }
        | Mode::EndlessBody { .. }
        | Mode::GzipBomb { .. }
        | Mode::Redirect => fixed(profile, endpoint, snap, id),
        _ => normal,
    })
}

type ChainReply = fn(Endpoint, &Call, &Snapshot, &Identity) -> Option<Reply>;

/// The answers of the modes every chain shares, and Radix's and zksync's one page per endpoint.
fn fixed(profile: Profile, endpoint: Endpoint, snap: &Snapshot, id: &Identity) -> Reply {
    match snap.mode {
        Mode::Http500 => Reply {
            status: 500,
            content_type: PLAIN,
            body: Body::Full(b"Internal Server Error (nodehealth-sim http500 mode)\n".to_vec()),
        },
        // Only while a request races the listeners closing.
        Mode::Unreachable => Reply {
            status: 503,
            content_type: PLAIN,
            body: Body::Full(b"Service Unavailable (nodehealth-sim unreachable mode)\n".to_vec()),
        },
        Mode::Malformed => padding::malformed(profile, endpoint),
        Mode::Oversized { mb, .. } => padding::oversized(profile, endpoint, snap, id, mb),
        Mode::EndlessBody { .. } => padding::endless(profile, endpoint, snap, id),
        Mode::GzipBomb { mb } => padding::gzip_bomb(endpoint, mb),
        Mode::Redirect => hostile::redirect(),
        _ => normal(profile, endpoint, snap, id),
    }
}

/// The answer of a Radix or zksync node that works, whatever its health.
fn normal(profile: Profile, endpoint: Endpoint, snap: &Snapshot, id: &Identity) -> Reply {
    match (profile, endpoint) {
        (Profile::Radix, Endpoint::Health) => Reply {
            status: 200,
            content_type: JSON,
            body: Body::Full(radix::system_health(snap)),
        },
        (Profile::Radix, Endpoint::Metrics) => Reply {
            status: 200,
            content_type: PROMETHEUS_TEXT,
            body: Body::Full(radix::metrics(snap, id).into_bytes()),
        },
        (Profile::Zksync, Endpoint::Health) => {
            let (status, body) = zksync::health_body(snap);
            Reply {
                status,
                content_type: JSON,
                body: Body::Full(body),
            }
        }
        (Profile::Zksync, Endpoint::Metrics) => Reply {
            status: 200,
            content_type: OPENMETRICS_TEXT,
            body: Body::Full(zksync::metrics(snap).into_bytes()),
        },
        // Only Radix and zksync come here ([`reply`]).
        (_, _) => Reply {
            status: 404,
            content_type: PLAIN,
            body: Body::Full(b"not found\n".to_vec()),
        },
    }
}

/// For the renderers' tests: a validator synced for an hour up to `t0`, in `mode` from `t0`,
/// seen `after` seconds later.
#[cfg(test)]
pub(crate) fn snapshot_after(t0: f64, mode: Mode, after: f64) -> Snapshot {
    let net = crate::sim::network::Network::new(t0 - 3600.0);
    let mut v = crate::sim::state::Validator::new(t0 - 3600.0, 0.0, &net);
    v.set_mode(mode, t0, &net);
    v.snapshot(t0 + after, &net)
}

#[cfg(test)]
mod tests;
