//! The execution client beside an Ethereum beacon node (`spec.probe.execution`): JSON-RPC
//! `eth_syncing`, "false when not syncing, else an object with `startingBlock`, `currentBlock`,
//! `highestBlock`" (hex quantities), per the Ethereum JSON-RPC specification. An optional
//! endpoint: what it says is a reason, its silence never makes the validator unreachable.

use serde_json::Value;

use crate::chains::jsonrpc::{self, Answer};
use crate::model::{Api, Fetched, Reading, Request, Status};

/// `eth_syncing` on the execution client's JSON-RPC.
pub const ETH_SYNCING: Request = Request::post(
    Api::Execution,
    "/",
    r#"{"jsonrpc":"2.0","id":1,"method":"eth_syncing","params":[]}"#,
);

/// Reads the execution client's answer into the beacon node's reading.
pub fn read(fetched: Option<&Fetched>, r: &mut Reading) {
    let answer = match fetched {
        None => return,
        Some(Err(f)) => return r.reasons.push(format!("execution client probe failed: {}", f.message)),
        Some(Ok(a)) if a.code != 200 => {
            return r.reasons.push(format!("execution client answers HTTP {}", a.code));
        }
        Some(Ok(a)) => a,
    };
    match jsonrpc::envelope(&answer.body) {
        Err(e) => r.reasons.push(format!("execution client's eth_syncing answer: {e}")),
        Ok(Answer::Error { code, message, .. }) => r.reasons.push(format!(
            "execution client's eth_syncing failed: JSON-RPC error {code}: {message}"
        )),
        Ok(Answer::Result(Value::Bool(false))) => {}
        Ok(Answer::Result(Value::Object(sync))) => syncing(&sync, r),
        Ok(Answer::Result(_)) => r
            .reasons
            .push("execution client's eth_syncing result is neither false nor an object".to_owned()),
    }
}

/// An `eth_syncing` object. geth also answers one at the chain's head while it indexes
/// transactions (`txIndexRemainingBlocks` > 0): that client is not behind.
fn syncing(sync: &serde_json::Map<String, Value>, r: &mut Reading) {
    let quantity = |k: &str| {
        sync.get(k)
            .and_then(Value::as_str)
            .and_then(|s| u64::from_str_radix(s.strip_prefix("0x")?, 16).ok())
    };
    let (Some(current), Some(highest)) = (quantity("currentBlock"), quantity("highestBlock")) else {
        return r
            .reasons
            .push("execution client's eth_syncing object lacks currentBlock/highestBlock".to_owned());
    };
    let behind = highest.saturating_sub(current);
    let indexing = quantity("txIndexRemainingBlocks").filter(|n| *n > 0);
    match (behind, indexing) {
        (0, Some(left)) => r.reasons.push(format!(
            "execution client indexes transactions ({left} blocks left): at its head, not out of sync"
        )),
        (0, None) => {}
        (n, _) => r.worsen(
            Status::Affected,
            format!("execution client is syncing: {n} blocks behind its head ({current} of {highest})"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::model::{Answer, ProbeFailure};

    /// Bodies as the Ethereum JSON-RPC specification and geth write them.
    fn answer(body: &str) -> Fetched {
        Ok(Answer {
            code: 200,
            body: Bytes::from(body.to_owned()),
        })
    }

    fn read_one(f: Fetched) -> Reading {
        let mut r = Reading::default();
        read(Some(&f), &mut r);
        r
    }

    #[test]
    fn synced_says_nothing() {
        let r = read_one(answer(r#"{"jsonrpc":"2.0","id":1,"result":false}"#));
        assert_eq!((r.status, r.reasons.len()), (None, 0));
    }

    #[test]
    fn syncing_behind_its_head_is_affected() {
        let r = read_one(answer(
            r#"{"jsonrpc":"2.0","id":1,"result":{"startingBlock":"0x0","currentBlock":"0x1518c","highestBlock":"0x15200"}}"#,
        ));
        assert_eq!(r.status, Some(Status::Affected));
        assert_eq!(
            r.reasons,
            ["execution client is syncing: 116 blocks behind its head (86412 of 86528)"]
        );
    }

    #[test]
    fn geth_indexing_transactions_at_the_head_is_not_out_of_sync() {
        let r = read_one(answer(
            r#"{"jsonrpc":"2.0","id":1,"result":{"currentBlock":"0x15200","highestBlock":"0x15200","txIndexRemainingBlocks":"0x3e8","txIndexFinishedBlocks":"0x100"}}"#,
        ));
        assert_eq!(r.status, None);
        assert!(
            r.reasons[0].contains("indexes transactions (1000 blocks left)"),
            "{:?}",
            r.reasons
        );
    }

    #[test]
    fn silence_errors_and_garbage_are_reasons_never_unreachable() {
        let refused = Err(ProbeFailure {
            kind: "ConnectionRefused",
            message: "connection refused".into(),
            no_answer: true,
        });
        assert_eq!(
            read_one(refused).reasons,
            ["execution client probe failed: connection refused"]
        );
        let err = read_one(answer(
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"method not found"}}"#,
        ));
        assert!(
            err.reasons[0].starts_with("execution client's eth_syncing failed"),
            "{:?}",
            err.reasons
        );
        assert!(read_one(answer("{\"result\":")).reasons[0].contains("not JSON"));
        assert!(read_one(answer(r#"{"result":{"currentBlock":"12"}}"#)).reasons[0].contains("lacks"));
        assert!(read_one(answer(r#"{"id":1}"#)).reasons[0].contains("neither result nor error"));
        let mut r = Reading::default();
        read(None, &mut r);
        assert!(r.reasons.is_empty(), "not configured: nothing to say");
    }
}
