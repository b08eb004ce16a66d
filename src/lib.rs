//! nodehealth: probe validator pods, assess their health, report and remediate.
//!
//! The module map, in the order a probe's answer flows through it. Pure modules take their
//! inputs (`now` included) as arguments and import neither kube, reqwest nor tokio
//! (`tests/layout.rs` keeps it so).
//! - [`model`] (pure): the vocabulary: status words, scrapes, readings, verdicts;
//! - [`exposition`] (pure): the Prometheus/OpenMetrics text parser;
//! - [`chains`] (pure): one folder per chain, raw answers to a chain-neutral reading;
//! - [`assess`] (pure): readings, history and clock to a verdict;
//! - [`crd`]: the `NodeHealth` resource (the CRD is generated from it);
//! - [`policy`] (pure): spec to validated policy, pod to probe target;
//! - [`status`] (pure): desired status, conditions, events, when to write;
//! - [`remediate`] (pure): whether and how to act, and why not;
//! - [`schedule`] (pure): when each pod is probed, its history and latest verdict;
//! - [`shard`] (pure): which shard handles a NodeHealth;
//! - [`election`] (pure): leader election on a Lease, after client-go;
//! - [`probe`] (shell): the bounded HTTP client;
//! - [`controller`] (shell): watches, reconcile, acting on nodes and pods;
//! - [`server`], [`telemetry`]: the operator's own endpoints and metrics;
//! - [`cli`]: the command line (`run`, `probe`, `crd`);
//! - [`sim`]: the validator simulator behind `nodehealth-sim`;
//! - `fuzzing` (hidden): the fuzz targets' bodies, for `fuzz/` and `tests/fuzz.rs`.

pub mod assess;
pub mod chains;
pub mod cli;
pub mod controller;
pub mod crd;
pub mod election;
pub mod exposition;
#[doc(hidden)]
pub mod fuzzing;
pub mod model;
pub mod policy;
pub mod probe;
pub mod remediate;
pub mod schedule;
pub mod server;
pub mod shard;
pub mod sim;
pub mod status;
pub mod telemetry;

/// Installs rustls' `ring` crypto provider as the process default.
///
/// kube and reqwest are both built without a provider of their own (reqwest's default would
/// pull in aws-lc, which needs cmake and a C toolchain step we avoid), so every binary and
/// test calls this once before building a client. Calling it again is harmless.
pub fn install_crypto_provider() {
    // Err only means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The soft open-files limit of this process, from `/proc/self/limits` (Linux; `None` elsewhere
/// or when unlimited).
pub fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
