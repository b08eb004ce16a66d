//! The vocabulary every chain is read into and every verdict is written in.

pub mod health;

pub use health::{AppHealth, ComponentHealth, Status, worst};
