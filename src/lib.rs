//! nodehealth: probe validator pods, assess their health, report and remediate.
//!
//! Pure modules (no Kubernetes, no network): [`model`], [`exposition`], [`chains`], [`assess`].
//! Shells: [`sim`] (the validator simulator).

pub mod assess;
pub mod chains;
pub mod cli;
pub mod controller;
pub mod crd;
pub mod exposition;
pub mod model;
pub mod policy;
pub mod probe;
pub mod remediate;
pub mod server;
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
