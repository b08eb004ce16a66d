//! The JSON a Substrate node answers, read by the field names of polkadot-sdk's RPC
//! (`sc-rpc-api` `system`: `Health` and `SyncState`, camelCase), never by a type a test could
//! also serialize.
//!
//! - `GET /health`: the bare `system_health` result, `{"peers": 0, "isSyncing": false,
//!   "shouldHavePeers": false}` (paritytech/polkadot-sdk#4802's example on a dev node).
//! - `system_syncState` (JSON-RPC 2.0): `{"startingBlock", "currentBlock", "highestBlock"}`,
//!   block numbers as JSON numbers (`u32` on Polkadot). Older nodes wrote `highestBlock` as an
//!   `Option`: `null` when no peer had announced a block.

use serde_json::Value;

use crate::chains::jsonrpc;

/// `system_health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    /// "Number of connected peers".
    pub peers: u64,
    /// "Is the node syncing": a major sync is running.
    pub is_syncing: bool,
    /// "Should this node have any peers. Might be false for local chains or when running
    /// without discovery."
    pub should_have_peers: bool,
}

/// `system_syncState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncState {
    pub starting_block: u64,
    /// "Height of the current best block of the node."
    pub current_block: u64,
    /// "Height of the highest block in the network": what peers announce; `None` when the node
    /// says none.
    pub highest_block: Option<u64>,
}

/// Reads `GET /health`. The JSON-RPC envelope of `system_health` is taken too.
pub fn parse_health(body: &[u8]) -> Result<Health, String> {
    let v = result(body)?;
    Ok(Health {
        peers: count(&v, "peers")?.ok_or("no `peers`")?,
        is_syncing: flag(&v, "isSyncing")?,
        should_have_peers: flag(&v, "shouldHavePeers")?,
    })
}

/// Reads the `system_syncState` answer.
pub fn parse_sync_state(body: &[u8]) -> Result<SyncState, String> {
    let v = result(body)?;
    Ok(SyncState {
        starting_block: count(&v, "startingBlock")?.unwrap_or_default(),
        current_block: count(&v, "currentBlock")?.ok_or("no `currentBlock`")?,
        highest_block: count(&v, "highestBlock")?,
    })
}

/// The JSON-RPC `result` object, or the body itself when it is not wrapped; a JSON-RPC `error`
/// (e.g. `-32601` "Method not found" when the RPC methods are `--rpc-methods safe`-restricted)
/// is the failure.
fn result(body: &[u8]) -> Result<Value, String> {
    jsonrpc::object_result(body)
}

/// A block number or peer count: a non-negative JSON integer.
fn count(v: &Value, field: &str) -> Result<Option<u64>, String> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("`{field}` is not a count: {n}")),
        Some(_) => Err(format!("`{field}` is not a number")),
    }
}

fn flag(v: &Value, field: &str) -> Result<bool, String> {
    match v.get(field) {
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(format!("`{field}` is not a boolean")),
        None => Err(format!("no `{field}`")),
    }
}
