//! Shared ground of the end-to-end tests: the local control plane, a fresh namespace per
//! test, a simulated kubelet, and waiting on conditions with timeouts.
//!
//! Each test binary uses a part of it.
#![allow(dead_code)]

pub mod apiproxy;
pub mod chart;
pub mod cluster;
pub mod fleet;
pub mod ha;
pub mod kubelet;
pub mod operator;
pub mod owners;
pub mod pki;
pub mod private;
pub mod proxy;
pub mod scene;
pub mod wait;
