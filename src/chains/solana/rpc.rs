//! The answers of an Agave node's RPC port, read leniently: the `GET /health` body word and the
//! JSON-RPC 2.0 envelopes of `getHealth` and `getSlot`.
//!
//! Agave (`rpc/src/rpc_service.rs`, `rpc/src/rpc_health.rs`): `GET /health` answers HTTP 200 with
//! the body `ok`, `behind` or `unknown`. `getHealth` answers `{"result":"ok"}` or the error
//! `NodeUnhealthy` (`rpc-client-api/src/custom_error.rs`): code −32005, message `Node is behind by
//! N slots` or `Node is unhealthy`, `data: {"numSlotsBehind": N | null}`.

use serde_json::Value;

use crate::chains::jsonrpc::{self, Answer, MAX_ECHOED};

/// `JSON_RPC_SERVER_ERROR_NODE_UNHEALTHY` (`rpc-client-api/src/custom_error.rs`).
pub const NODE_UNHEALTHY: i64 = -32005;

/// What the node says of its health (`RpcHealthStatus` in `rpc/src/rpc_health.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Word {
    /// Within `--health-check-slot-distance` (default 128) slots of the cluster's latest
    /// optimistically confirmed slot.
    Ok,
    /// Further behind; `getHealth` says by how many slots.
    Behind(Option<u64>),
    /// The node cannot compare itself with the cluster: it has not finished its start-up
    /// verification, or hears no cluster slot.
    Unknown,
}

impl Word {
    pub fn as_str(self) -> &'static str {
        match self {
            Word::Ok => "ok",
            Word::Behind(_) => "behind",
            Word::Unknown => "unknown",
        }
    }
}

/// The `GET /health` body: exactly one of the three words (surrounding whitespace forgiven).
pub fn health_word(body: &[u8]) -> Result<Word, String> {
    match std::str::from_utf8(body).map(str::trim) {
        Ok("ok") => Ok(Word::Ok),
        Ok("behind") => Ok(Word::Behind(None)),
        Ok("unknown") => Ok(Word::Unknown),
        Ok(other) => Err(format!(
            "health body is not ok, behind or unknown: {:?}",
            jsonrpc::echo(other)
        )),
        Err(_) => Err("health body is not text".to_owned()),
    }
}

/// The `getHealth` answer as a word: `"ok"`, or −32005 with `data.numSlotsBehind` (a count when
/// behind, `null` when unknown).
pub fn get_health(body: &[u8]) -> Result<Word, String> {
    match jsonrpc::envelope(body)? {
        Answer::Result(Value::String(s)) if s == "ok" => Ok(Word::Ok),
        Answer::Result(other) => Err(format!("result is not \"ok\": {}", kind(&other))),
        Answer::Error { code, data, .. } if code == NODE_UNHEALTHY => match data.get("numSlotsBehind") {
            None | Some(Value::Null) => Ok(Word::Unknown),
            Some(n) => n
                .as_u64()
                .map(|n| Word::Behind(Some(n)))
                .ok_or_else(|| format!("numSlotsBehind is not a slot count: {}", kind(n))),
        },
        Answer::Error { code, message, .. } => Err(format!("error {code}: {message}")),
    }
}

/// The `getSlot` answer: `{"result": <u64>}`.
pub fn get_slot(body: &[u8]) -> Result<u64, String> {
    match jsonrpc::envelope(body)? {
        Answer::Result(v) => v
            .as_u64()
            .ok_or_else(|| format!("result is not a slot number: {}", kind(&v))),
        Answer::Error { code, message, .. } => Err(format!("error {code}: {message}")),
    }
}

/// A value's JSON type, and the value itself when it is short: never a whole hostile body.
fn kind(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() <= MAX_ECHOED {
        text
    } else {
        format!("a long {}", if v.is_string() { "string" } else { "value" })
    }
}
