//! zksync nodes: the component health model at `GET /health`.

pub mod health;

pub use health::{HealthParseError, HealthReport, ZkSyncState, parse_health};
