//! JSON and JSON-RPC 2.0 answers, as every chain's reader meets them: a body that may not be
//! JSON, a response envelope with a `result` or an `error` (code, message, data), and the nodes
//! (CometBFT's URI endpoints) that answer the bare object without an envelope.

use serde_json::Value;

/// How much of a node's own words (an error message) a reason repeats.
pub const MAX_ECHOED: usize = 40;

/// A body as JSON, or why not, in bounded words (the parser's kind and position, no content).
pub fn json(body: &[u8]) -> Result<Value, String> {
    serde_json::from_str(super::utf8(body)?).map_err(|e| {
        format!(
            "not JSON ({:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        )
    })
}

/// A JSON-RPC 2.0 response: its `result`, or its `error`.
pub enum Answer {
    Result(Value),
    Error { code: i64, message: String, data: Value },
}

/// Reads a JSON-RPC 2.0 response envelope ("Either the result member or error member MUST be
/// included", JSON-RPC 2.0 section 5).
pub fn envelope(body: &[u8]) -> Result<Answer, String> {
    let v = json(body)?;
    let obj = v.as_object().ok_or("not a JSON-RPC response object")?;
    if let Some(err) = obj.get("error").filter(|e| !e.is_null()) {
        let code = err
            .get("code")
            .and_then(Value::as_i64)
            .ok_or("a JSON-RPC error without an integer code")?;
        let message = err.get("message").and_then(Value::as_str).map(echo).unwrap_or_default();
        let data = err.get("data").cloned().unwrap_or(Value::Null);
        return Ok(Answer::Error { code, message, data });
    }
    obj.get("result")
        .cloned()
        .map(Answer::Result)
        .ok_or_else(|| "a JSON-RPC response with neither result nor error".to_owned())
}

/// The `result` object of an answer, or the answer itself when it is not wrapped in an
/// envelope; a JSON-RPC `error` is the failure, in its code and bounded message.
pub fn object_result(body: &[u8]) -> Result<Value, String> {
    let v = json(body)?;
    if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
        let msg = err.get("message").and_then(Value::as_str).unwrap_or("no message");
        let code = err.get("code").and_then(Value::as_i64).unwrap_or_default();
        return Err(format!("JSON-RPC error {code}: {}", echo(msg)));
    }
    match v.get("result") {
        Some(r) if r.is_object() => Ok(r.clone()),
        Some(_) => Err("`result` is not an object".to_owned()),
        None if v.is_object() => Ok(v),
        None => Err("not a JSON object".to_owned()),
    }
}

/// A node's words, bounded (a reason never carries a whole body).
pub fn echo(s: &str) -> String {
    match s.char_indices().nth(MAX_ECHOED) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_wrapped_bare_failed_or_broken() {
        let wrapped = br#"{"jsonrpc":"2.0","id":1,"result":{"n_peers":"3"}}"#;
        assert_eq!(object_result(wrapped).unwrap()["n_peers"], "3");
        assert_eq!(object_result(br#"{"n_peers":"3"}"#).unwrap()["n_peers"], "3");
        let failed = br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"Method not found"}}"#;
        assert_eq!(
            object_result(failed).unwrap_err(),
            "JSON-RPC error -32601: Method not found"
        );
        assert!(matches!(envelope(failed), Ok(Answer::Error { code: -32601, .. })));
        assert_eq!(object_result(b"[1]").unwrap_err(), "not a JSON object");
        assert_eq!(json(b"{\"a\":").unwrap_err(), "not JSON (Eof error at line 1 column 5)");
        assert_eq!(
            envelope(b"{}").err().as_deref(),
            Some("a JSON-RPC response with neither result nor error")
        );
        assert_eq!(echo(&"x".repeat(100)).chars().count(), MAX_ECHOED + 1);
        assert_eq!(
            json(b"{\"result\":\"caf\xe9\"}").unwrap_err(),
            "not UTF-8 text (invalid byte at offset 14)"
        );
        // JSON has no NaN: a writer that puts one there (Python's json.dumps does) is not JSON.
        assert!(json(br#"{"result":NaN}"#).unwrap_err().starts_with("not JSON"));
    }
}
