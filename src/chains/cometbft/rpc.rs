//! The JSON of CometBFT's RPC, read by the field names of its documentation
//! (`docs.cometbft.com`, "RPC spec": `/status` and `/net_info`), never by a type of ours that a
//! test could also serialize.
//!
//! - Envelope: the spec's responses are JSON-RPC 2.0 (`{"jsonrpc","id","result"}`); some
//!   servers and proxies answer the bare `result` object. Both are accepted; a JSON-RPC `error`
//!   is a failure with its `message`.
//! - Numbers: heights, voting power and peer counts are decimal strings (`"latest_block_height":
//!   "1262196"`, `"n_peers": "1"`), because Go's amino/JSON encodes 64-bit integers that way.
//! - Times: "Timestamps in the RPC layer of CometBFT follows RFC3339Nano" (trailing zeros
//!   removed), e.g. `"latest_block_time": "2019-08-01T11:52:22.818762194Z"`.

use serde_json::Value;

use crate::chains::jsonrpc::{self, echo};

/// What `/status`'s `sync_info` and `validator_info` say.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// `sync_info.latest_block_height`; 0 before the first block (the store is empty).
    pub height: u64,
    /// `sync_info.latest_block_time` as Unix seconds; `None` for Go's zero time
    /// (`0001-01-01T00:00:00Z`), what an empty block store reports.
    pub time: Option<f64>,
    /// `sync_info.catching_up`: the node is block- or state-syncing.
    pub catching_up: bool,
    /// `validator_info.voting_power`, when present.
    pub voting_power: Option<u64>,
}

/// Unix seconds below which a block time is Go's zero `time.Time` or another placeholder, not a
/// block's: no CometBFT chain has blocks before 2009 (the Unix-era floor of any real genesis).
const EARLIEST_BLOCK_TIME: i64 = 1_230_768_000;

/// The `result` object of a CometBFT RPC answer, wrapped or not.
pub fn result(body: &[u8]) -> Result<Value, String> {
    jsonrpc::object_result(body)
}

/// Reads `/status`.
pub fn parse_status(body: &[u8]) -> Result<Status, String> {
    let r = result(body)?;
    let sync = r.get("sync_info").ok_or("no `sync_info`")?;
    let height = decimal(sync, "latest_block_height")?.ok_or("no `sync_info.latest_block_height`")?;
    let time = match sync.get("latest_block_time") {
        Some(Value::String(s)) => block_time(s)?,
        Some(_) => return Err("`sync_info.latest_block_time` is not a string".to_owned()),
        None => None,
    };
    let catching_up = match sync.get("catching_up") {
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("`sync_info.catching_up` is not a boolean".to_owned()),
        None => return Err("no `sync_info.catching_up`".to_owned()),
    };
    let voting_power = match r.get("validator_info") {
        Some(v) => decimal(v, "voting_power")?,
        None => None,
    };
    Ok(Status {
        height,
        time,
        catching_up,
        voting_power,
    })
}

/// Reads `/net_info`'s `n_peers`.
pub fn parse_net_info(body: &[u8]) -> Result<u64, String> {
    let r = result(body)?;
    decimal(&r, "n_peers")?.ok_or_else(|| "no `n_peers`".to_owned())
}

/// A 64-bit count written as a decimal string, as CometBFT encodes them. A bare JSON integer
/// is taken too (a proxy that re-encoded the body); anything else is an error naming the field.
pub fn decimal(obj: &Value, field: &str) -> Result<Option<u64>, String> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => s
            .parse::<u64>()
            .map(Some)
            .map_err(|_| format!("`{field}` is not a decimal count: {:?}", echo(s))),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("`{field}` is not a count: {n}")),
        Some(_) => Err(format!("`{field}` is not a decimal string")),
    }
}

/// An RFC 3339 time with up to nanoseconds; `None` for Go's zero time.
fn block_time(s: &str) -> Result<Option<f64>, String> {
    let t: jiff::Timestamp = s
        .parse()
        .map_err(|_| format!("`sync_info.latest_block_time` is not an RFC 3339 time: {:?}", echo(s)))?;
    if t.as_second() < EARLIEST_BLOCK_TIME {
        return Ok(None);
    }
    Ok(Some(t.as_second() as f64 + f64::from(t.subsec_nanosecond()) / 1e9))
}
