//! The chains nodehealth reads: one folder per chain, each owning its formats and endpoints.

pub mod radix;
pub mod zksync;

/// Which formats a pod speaks.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Radix node: `GET /system/health` (always 200; the body says) and `rn_*` Prometheus metrics.
    Radix,
    /// zksync node: `GET /health` in the component model (200 healthy, 503 not).
    Zksync,
}

impl Profile {
    /// Default health path (Radix system API; zksync healthcheck server).
    pub fn default_health_path(self) -> &'static str {
        match self {
            Profile::Radix => "/system/health",
            Profile::Zksync => "/health",
        }
    }

    /// Default metrics path.
    pub fn default_metrics_path(self) -> &'static str {
        match self {
            Profile::Radix => "/prometheus/metrics",
            Profile::Zksync => "/metrics",
        }
    }

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
}
