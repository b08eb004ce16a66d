//! What a cometbft node answers, written from the node's own API documentation.

use super::{Call, Identity, Reply};
use crate::sim::Endpoint;
use crate::sim::state::Snapshot;

/// The answer to `call` on `endpoint`; `None` for a request the node does not serve (404).
pub fn reply(endpoint: Endpoint, call: &Call, snap: &Snapshot, id: &Identity) -> Option<Reply> {
    let _ = (endpoint, call, snap, id);
    None
}
