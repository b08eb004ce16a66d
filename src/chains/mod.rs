//! The chains nodehealth reads: one folder per chain, each owning its formats, its requests
//! (API, path, default port) and the translation of what it read into one chain-neutral
//! [`Reading`]. Pure: a reader takes the raw answers of a scrape (code and body) and never
//! touches the network.
//!
//! Adding a chain: a folder with `REQUESTS`, `DEFAULT_PORTS` and `read`, a variant of
//! [`Profile`] wired in the three `match`es below, a simulator renderer and its fixtures.

pub mod cometbft;
pub mod ethereum;
pub(crate) mod jsonrpc;
pub mod radix;
pub mod solana;
pub mod substrate;
pub mod zksync;

use crate::exposition::ParseStats;
use crate::model::{Api, Observation, Reading, Request, Scrape, Status};

/// Which formats a pod speaks.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Radix node: `GET /system/health` (always 200; the body says) and `rn_*` Prometheus metrics.
    Radix,
    /// zksync node: `GET /health` in the component model (20x healthy, 50x not).
    Zksync,
    /// CometBFT node (Cosmos-SDK chains): RPC `GET /status` and `/net_info`, `cometbft_` metrics.
    Cometbft,
    /// Ethereum consensus (beacon) node: the Beacon API's `/eth/v1/node/{health,syncing,peer_count}`.
    Ethereum,
    /// Solana (Agave) node: RPC `GET /health` and JSON-RPC `getHealth`, `getSlot`.
    Solana,
    /// Substrate / Polkadot node: RPC `GET /health`, JSON-RPC `system_syncState`, `substrate_` metrics.
    Substrate,
}

/// What a policy tells the readers about its chain beyond the profile (`spec.chain`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadOptions {
    /// The namespace (prefix) of the node's Prometheus metrics, when it is not the chain's
    /// default (CometBFT's `instrumentation.namespace`, `cometbft` by default).
    pub metrics_namespace: Option<String>,
    /// Seconds per slot, when the chain's slots are not the default length (Ethereum: 12).
    pub slot_seconds: Option<f64>,
}

/// The default ports of a chain's two APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    pub health: u16,
    pub metrics: u16,
}

impl Profile {
    /// Every request the chain makes, in order; a policy makes those of the APIs it configures.
    pub fn requests(self) -> &'static [Request] {
        match self {
            Profile::Radix => radix::REQUESTS,
            Profile::Zksync => zksync::REQUESTS,
            Profile::Cometbft => cometbft::REQUESTS,
            Profile::Ethereum => ethereum::REQUESTS,
            Profile::Solana => solana::REQUESTS,
            Profile::Substrate => substrate::REQUESTS,
        }
    }

    fn ports(self) -> Ports {
        match self {
            Profile::Radix => radix::DEFAULT_PORTS,
            Profile::Zksync => zksync::DEFAULT_PORTS,
            Profile::Cometbft => cometbft::DEFAULT_PORTS,
            Profile::Ethereum => ethereum::DEFAULT_PORTS,
            Profile::Solana => solana::DEFAULT_PORTS,
            Profile::Substrate => substrate::DEFAULT_PORTS,
        }
    }

    /// Reads one scrape. When nothing answered at all there is nothing to read: the failures'
    /// words are kept for the unreachable count.
    pub fn read(self, scrape: &Scrape, options: &ReadOptions) -> Observation {
        let reading = if scrape.no_answer() {
            Err(scrape.failure_message())
        } else {
            Ok(match self {
                Profile::Radix => radix::read(scrape),
                Profile::Zksync => zksync::read(scrape),
                Profile::Cometbft => cometbft::read_with(scrape, options.metrics_namespace.as_deref()),
                Profile::Ethereum => ethereum::read_with(scrape, options.slot_seconds),
                Profile::Solana => solana::read(scrape),
                Profile::Substrate => substrate::read(scrape),
            })
        };
        Observation { at: scrape.at, reading }
    }

    /// The path of an API's first request (what `spec.probe.<api>.path` replaces).
    pub fn default_path(self, api: Api) -> &'static str {
        self.requests().iter().find(|r| r.api == api).map_or("/", |r| r.path)
    }

    pub fn default_health_path(self) -> &'static str {
        self.default_path(Api::Health)
    }

    pub fn default_metrics_path(self) -> &'static str {
        self.default_path(Api::Metrics)
    }

    pub fn default_health_port(self) -> u16 {
        self.ports().health
    }

    pub fn default_metrics_port(self) -> u16 {
        self.ports().metrics
    }

    /// Blocks (slots) a pod may be behind its fleet's highest before it is OutOfSync, when the
    /// policy does not say: about a minute of the chain's blocks, as `syncedDelay` allows.
    pub fn default_max_height_lag(self) -> Option<u32> {
        match self {
            // Judged by ledger time: state versions count transactions, not blocks.
            Profile::Radix => None,
            // As `maxBlockLag`: ~1 s L2 blocks.
            Profile::Zksync => Some(60),
            // ~6 s blocks (CometBFT's default `timeout_commit` of 5 s plus the round).
            Profile::Cometbft => Some(10),
            // 12 s slots.
            Profile::Ethereum => Some(5),
            // 400 ms slots; above the node's own `--health-check-slot-distance` (128), so a node
            // that says `ok` is never held behind its own word alone.
            Profile::Solana => Some(150),
            // 6 s blocks (Polkadot, Kusama's and most parachains' target).
            Profile::Substrate => Some(10),
        }
    }
}

/// A request that failed: the reason every reader gives, `not_ready` when it was the only
/// word on the node's health (`fatal`).
fn failed(r: &mut Reading, what: &str, message: &str, fatal: bool) {
    let reason = format!("{what} probe failed: {message}");
    if fatal {
        r.worsen(Status::NotReady, reason);
    } else {
        r.reasons.push(reason);
    }
}

/// A body as text: JSON must be UTF-8 (RFC 8259 section 8.1), so anything else is named as
/// such, with where it stops being text, rather than as a syntax error deep inside a string.
fn utf8(body: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(body).map_err(|e| format!("not UTF-8 text (invalid byte at offset {})", e.valid_up_to()))
}

/// Lines of a metrics page past which the page itself is a reason: ten times a real node's (a
/// Babylon node's page has about 4,000 lines: see `exposition::Limits::max_lines`). Every line
/// is read every period, so a node that exports ten times more costs the operator ten times more.
const LARGE_PAGE_LINES: usize = 40_000;

/// What the shape of a metrics page says, whatever the chain: lines skipped as invalid (a node
/// writing Latin-1 label values, a broken exporter) and a page far larger than a real one.
fn page_notes(r: &mut Reading, stats: &ParseStats) {
    if let Some((line, why)) = stats.first_invalid {
        r.reasons.push(format!(
            "metrics: {} line(s) skipped as invalid (the first, line {line}: {why})",
            stats.skipped_invalid
        ));
    }
    if stats.lines > LARGE_PAGE_LINES {
        r.worsen(
            Status::Affected,
            format!(
                "metrics page of {} lines, over {LARGE_PAGE_LINES} (ten times a real node's): each probe parses all of it",
                stats.lines
            ),
        );
    }
}

#[cfg(test)]
mod tests;

/// For the chains' tests: a pod watched over several scrapes, as the operator watches it.
#[cfg(test)]
pub(crate) struct Watched {
    history: crate::assess::History,
    params: crate::assess::Params,
}

#[cfg(test)]
impl Watched {
    pub(crate) fn new(params: crate::assess::Params) -> Self {
        Watched {
            history: crate::assess::History::new(),
            params,
        }
    }

    /// The verdict on `scrape` (taken at its `at`), read by `read`, after the scrapes before it.
    pub(crate) fn see(&mut self, scrape: &Scrape, read: impl Fn(&Scrape) -> Reading) -> crate::model::PodVerdict {
        let obs = Observation {
            at: scrape.at,
            reading: Ok(read(scrape)),
        };
        crate::assess::assess(&mut self.history, &obs, &self.params)
    }
}
