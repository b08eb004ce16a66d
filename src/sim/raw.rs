//! The modes an HTTP server cannot play, on the raw connection: `slowloris` (the answer's head
//! one byte at a time, then its body) and `silent` (requests read, never answered).
//!
//! Both end when the client gives up (a probe's timeout closes its connection), so a fleet of
//! them holds a socket per probe in flight, not per probe ever made.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::sim::render::{Body, Call, Reply};

/// Longest a silent connection is held open, so that a client that never closes cannot keep
/// descriptors forever: far past any probe timeout.
const SILENT_HOLD: Duration = Duration::from_secs(600);
/// Largest request read (head and body): a probe's request is a few hundred bytes.
const MAX_REQUEST: usize = 64 << 10;
/// Header fields of a request read at most.
const MAX_HEADERS: usize = 32;

/// Reads requests and discards them until the client closes (or [`SILENT_HOLD`] passes).
pub async fn silent(mut stream: TcpStream) {
    let mut buf = [0u8; 4096];
    let drain = async { while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {} };
    let _ = tokio::time::timeout(SILENT_HOLD, drain).await;
}

/// Reads one request: its path and, for a POST, the JSON-RPC method its body calls. `None`
/// when the client closes first or sends something that is not an HTTP request.
pub async fn read_call(stream: &mut TcpStream) -> Option<Call> {
    let mut buf = Vec::with_capacity(1024);
    let (path, post, head_len, body_len) = loop {
        if buf.len() > MAX_REQUEST || stream.read_buf(&mut buf).await.ok()? == 0 {
            return None;
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        if let httparse::Status::Complete(len) = req.parse(&buf).ok()? {
            let body_len = req
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse::<usize>().ok())
                .unwrap_or(0);
            let path = req.path?.split('?').next().unwrap_or("/").to_owned();
            break (path, req.method == Some("POST"), len, body_len.min(MAX_REQUEST));
        }
    };
    while buf.len() < head_len + body_len {
        if stream.read_buf(&mut buf).await.ok()? == 0 {
            return None;
        }
    }
    let rpc = post.then(|| rpc_method(&buf[head_len..head_len + body_len])).flatten();
    Some(Call { path, rpc })
}

/// The `method` of a JSON-RPC call's body.
pub fn rpc_method(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.get("method")?.as_str().map(str::to_owned)
}

/// Sends `reply`'s head one byte every `every`, then its body at once, then closes. Stops as
/// soon as the client has gone.
pub async fn trickle(mut stream: TcpStream, reply: Reply, every: Duration) {
    let body = match reply.body {
        Body::Full(b) => b,
        // Only whole pages come here: a slowloris node answers like a synced one.
        Body::Streamed(_) => Vec::new(),
    };
    let head = format!(
        "HTTP/1.1 {} nodehealth-sim\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        reply.status,
        reply.content_type,
        body.len()
    );
    for byte in head.as_bytes() {
        if stream.write_all(&[*byte]).await.is_err() {
            return;
        }
        tokio::time::sleep(every).await;
    }
    let _ = stream.write_all(&body).await;
    let _ = stream.shutdown().await;
}
