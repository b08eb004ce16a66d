//! The vocabulary shared by the probe, every chain reader and the rules: what a scrape gave
//! ([`Scrape`]), what a chain read in it ([`Reading`]), the verdict ([`PodVerdict`]) and the
//! status words ([`Status`], worst-of).

pub mod access;
pub mod health;
pub mod reading;
pub mod scrape;
pub mod verdict;

pub use access::{Access, Tls, Verify};
pub use health::{AppHealth, ComponentHealth, Status, worst};
pub use reading::{Counter, Observation, Position, Reading};
pub use scrape::{
    Answer, Api, CREDENTIALS, Fetched, Method, ProbeFailure, Request, Scrape, TOO_MANY_OPEN_FILES, Target,
};
pub use verdict::{Figures, Network, PodVerdict, SyncState};
