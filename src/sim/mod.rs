//! The validator fleet simulator behind `nodehealth-sim`.
//!
//! One process serves many simulated validators, each on its own loopback IP, all on the same
//! two ports, as real pods do. The pieces:
//! - [`mode`]: what a validator is told to do (parsed from admin requests), pure;
//! - [`state`]: the validator model, a pure function of its mode history and a clock;
//! - [`render`]: the bodies a probe reads (Radix or zksync shaped), pure;
//! - [`server`]: the per-validator listeners and the fleet they share;
//! - [`admin`]: the JSON admin API that switches modes;
//! - [`client`]: [`SimClient`] and [`SimProcess`], for tests and harnesses;
//! - [`cli`] and [`run`]: the binary's command line and main loop.

pub mod admin;
pub mod cli;
pub mod client;
pub mod mode;
pub mod render;
pub mod run;
pub mod server;
pub mod state;

pub use client::{SimClient, SimProcess, SpawnError, Started};

/// Which kind of node the fleet imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Radix Babylon node: `GET /system/health` and `GET /prometheus/metrics`.
    Radix,
    /// zksync external node: `GET /health` and `GET /metrics`.
    Zksync,
}

impl Profile {
    /// Default health port. Radix: the node's system API port (3334, babylon-node's
    /// `api.system.port`); zksync: the external node's healthcheck port (3081, `EN_HEALTHCHECK_PORT`).
    pub fn default_health_port(self) -> u16 {
        match self {
            Profile::Radix => 3334,
            Profile::Zksync => 3081,
        }
    }

    /// Default metrics port. Radix: the Prometheus API port (3335, `api.prometheus.port`);
    /// zksync: the external node's Prometheus port (3322, `EN_PROMETHEUS_PORT`).
    pub fn default_metrics_port(self) -> u16 {
        match self {
            Profile::Radix => 3335,
            Profile::Zksync => 3322,
        }
    }

    /// Path of the health endpoint.
    pub fn health_path(self) -> &'static str {
        match self {
            Profile::Radix => "/system/health",
            Profile::Zksync => "/health",
        }
    }

    /// Path of the metrics endpoint.
    pub fn metrics_path(self) -> &'static str {
        match self {
            Profile::Radix => "/prometheus/metrics",
            Profile::Zksync => "/metrics",
        }
    }
}

/// One of a validator's two endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Health,
    Metrics,
}

/// Seconds since the Unix epoch, as the model wants its clock.
pub fn wall_now() -> f64 {
    // A clock before 1970 is a broken host; 0 keeps the simulator answering rather than dying.
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
