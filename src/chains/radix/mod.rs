//! Radix nodes: `GET /system/health` and the node's `rn_*` Prometheus metrics.

pub mod metrics;
pub mod system_health;

pub use metrics::{RadixMetrics, RoundCounts};
pub use system_health::{MissStatistic, RadixStatus, SystemHealth, SystemHealthError, parse_system_health};
