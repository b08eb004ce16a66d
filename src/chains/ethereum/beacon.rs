//! The Beacon API's node endpoints (ethereum/beacon-APIs, `apis/node/*.yaml`), read leniently:
//! `/eth/v1/node/syncing` and `/eth/v1/node/peer_count` wrap their answer in `data`, and give
//! numbers as decimal strings ("Uint64" in the spec's types).

use serde_json::{Map, Value};

use crate::chains::jsonrpc;

/// `GET /eth/v1/node/syncing`'s `data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Syncing {
    /// "Head slot node is trying to reach" in older texts; the node's head slot.
    pub head_slot: u64,
    /// "How many slots node needs to process to reach head. 0 if synced." Clients measure it
    /// against the current slot of their own clock (head slot to wall-clock slot).
    pub sync_distance: u64,
    pub is_syncing: bool,
    /// "Set to true if the node is syncing, the head is optimistic": its execution payloads are
    /// not yet verified by the execution layer. Absent in pre-Bellatrix clients.
    pub is_optimistic: Option<bool>,
    /// "True if the execution layer is offline". Absent in older clients.
    pub el_offline: Option<bool>,
}

/// Reads a `/syncing` body.
pub fn syncing(body: &[u8]) -> Result<Syncing, String> {
    let data = &data(body)?;
    Ok(Syncing {
        head_slot: uint(data, "head_slot")?,
        sync_distance: uint(data, "sync_distance")?,
        is_syncing: data
            .get("is_syncing")
            .and_then(Value::as_bool)
            .ok_or("is_syncing is missing or not a boolean")?,
        is_optimistic: optional_bool(data, "is_optimistic")?,
        el_offline: optional_bool(data, "el_offline")?,
    })
}

/// Reads a `/peer_count` body: `data.connected`.
pub fn connected_peers(body: &[u8]) -> Result<u64, String> {
    uint(&data(body)?, "connected")
}

/// The `data` object of a Beacon API answer.
fn data(body: &[u8]) -> Result<Map<String, Value>, String> {
    let v = jsonrpc::json(body)?;
    match v {
        Value::Object(mut obj) => match obj.remove("data") {
            Some(Value::Object(data)) => Ok(data),
            _ => Err("no data object".to_owned()),
        },
        _ => Err("not a JSON object".to_owned()),
    }
}

/// A "Uint64": a decimal string per the spec. A JSON integer is accepted too (some clients and
/// proxies send one); anything else, including a number past 2^64, is a clear error.
fn uint(data: &Map<String, Value>, field: &str) -> Result<u64, String> {
    match data.get(field) {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().map_err(|_| format!("{field} is not a Uint64 (past 2^64)"))
        }
        Some(Value::Number(n)) => n.as_u64().ok_or_else(|| format!("{field} is not a Uint64")),
        Some(_) => Err(format!("{field} is not a decimal Uint64 string")),
        None => Err(format!("{field} is missing")),
    }
}

fn optional_bool(data: &Map<String, Value>, field: &str) -> Result<Option<bool>, String> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(format!("{field} is not a boolean")),
    }
}
