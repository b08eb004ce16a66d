//! The answers of an Agave node's RPC port, read leniently: the `GET /health` body word and the
//! JSON-RPC 2.0 envelopes of `getHealth` and `getSlot`.
//!
//! Agave (`rpc/src/rpc_service.rs`, `rpc/src/rpc_health.rs`): `GET /health` answers HTTP 200 with
//! the body `ok`, `behind` or `unknown`. `getHealth` answers `{"result":"ok"}` or the error
//! `NodeUnhealthy` (`rpc-client-api/src/custom_error.rs`): code −32005, message `Node is behind by
//! N slots` or `Node is unhealthy`, `data: {"numSlotsBehind": N | null}`.

use serde_json::Value;

/// `JSON_RPC_SERVER_ERROR_NODE_UNHEALTHY` (`rpc-client-api/src/custom_error.rs`).
pub const NODE_UNHEALTHY: i64 = -32005;
/// Longest piece of a node's own text echoed in a reason.
const MAX_ECHOED: usize = 40;

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
        Ok(other) => Err(format!("health body is not ok, behind or unknown: {:?}", echo(other))),
        Err(_) => Err("health body is not text".to_owned()),
    }
}

/// A JSON-RPC 2.0 response: its `result`, or its `error` (code, message, data).
pub enum RpcAnswer {
    Result(Value),
    Error { code: i64, message: String, data: Value },
}

/// Reads a JSON-RPC 2.0 response envelope.
pub fn envelope(body: &[u8]) -> Result<RpcAnswer, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        format!(
            "not JSON ({:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        )
    })?;
    let obj = v.as_object().ok_or("not a JSON-RPC response object")?;
    if let Some(err) = obj.get("error") {
        let code = err
            .get("code")
            .and_then(Value::as_i64)
            .ok_or("a JSON-RPC error without an integer code")?;
        let message = err.get("message").and_then(Value::as_str).map(echo).unwrap_or_default();
        let data = err.get("data").cloned().unwrap_or(Value::Null);
        return Ok(RpcAnswer::Error { code, message, data });
    }
    obj.get("result")
        .cloned()
        .map(RpcAnswer::Result)
        .ok_or_else(|| "a JSON-RPC response with neither result nor error".to_owned())
}

/// The `getHealth` answer as a word: `"ok"`, or −32005 with `data.numSlotsBehind` (a count when
/// behind, `null` when unknown).
pub fn get_health(body: &[u8]) -> Result<Word, String> {
    match envelope(body)? {
        RpcAnswer::Result(Value::String(s)) if s == "ok" => Ok(Word::Ok),
        RpcAnswer::Result(other) => Err(format!("result is not \"ok\": {}", kind(&other))),
        RpcAnswer::Error { code, data, .. } if code == NODE_UNHEALTHY => match data.get("numSlotsBehind") {
            None | Some(Value::Null) => Ok(Word::Unknown),
            Some(n) => n
                .as_u64()
                .map(|n| Word::Behind(Some(n)))
                .ok_or_else(|| format!("numSlotsBehind is not a slot count: {}", kind(n))),
        },
        RpcAnswer::Error { code, message, .. } => Err(format!("error {code}: {message}")),
    }
}

/// The `getSlot` answer: `{"result": <u64>}`.
pub fn get_slot(body: &[u8]) -> Result<u64, String> {
    match envelope(body)? {
        RpcAnswer::Result(v) => v
            .as_u64()
            .ok_or_else(|| format!("result is not a slot number: {}", kind(&v))),
        RpcAnswer::Error { code, message, .. } => Err(format!("error {code}: {message}")),
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

fn echo(s: &str) -> String {
    s.chars().take(MAX_ECHOED).collect()
}
