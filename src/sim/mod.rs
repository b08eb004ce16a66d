//! The validator fleet simulator behind `nodehealth-sim`.
//!
//! One process serves many simulated validators, each on its own loopback IP, all on the same
//! two ports, as real pods do. The pieces:
//! - [`mode`]: what a validator is told to do (parsed from admin requests), pure;
//! - [`network`]: the fleet-wide network and its halts (liveness breaks), pure;
//! - [`state`]: the validator model, a pure function of its mode history, the network and a clock;
//! - [`status`]: the simulator's own status words (never the operator's types, so that a misread
//!   format cannot be wrong on both sides);
//! - [`render`]: the bodies a probe reads (Radix or zksync shaped), pure;
//! - [`server`]: the per-validator listeners and the fleet they share;
//! - [`raw`]: the hostile modes that work on the raw connection (`slowloris`, `silent`);
//! - [`access`]: what the validators demand of a probe when a test asks (HTTPS, a token) and
//!   the headers they keep;
//! - [`admin`]: the JSON admin API that switches modes and halts the network;
//! - [`client`]: [`SimClient`] and [`SimProcess`], for tests and harnesses;
//! - [`cli`] and [`run`]: the binary's command line and main loop.

pub mod access;
pub mod admin;
pub mod cli;
pub mod client;
pub mod mode;
pub mod network;
pub mod raw;
pub mod render;
pub mod run;
pub mod server;
pub mod state;
pub mod status;

pub use client::{SimClient, SimProcess, SpawnError, Started};

/// Which kind of node the fleet imitates: the probe's own profile, so both speak of the same formats.
pub use crate::chains::Profile;

/// One of a validator's two endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Health,
    Metrics,
}

impl Endpoint {
    pub const ALL: [Endpoint; 2] = [Endpoint::Health, Endpoint::Metrics];

    /// Index into per-endpoint arrays (`[health, metrics]`).
    pub fn index(self) -> usize {
        match self {
            Endpoint::Health => 0,
            Endpoint::Metrics => 1,
        }
    }
}

/// Seconds since the Unix epoch, as the model wants its clock.
pub fn wall_now() -> f64 {
    // A clock before 1970 is a broken host; 0 keeps the simulator answering rather than dying.
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
