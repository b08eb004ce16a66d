//! A lean HTTP/1.1 GET over plain TCP to an IP address: the probes of pods. The request goes out
//! in one write, the answer is read into one buffer that is freed with it, and a connection kept
//! alive between probes is its socket alone, with no buffer. reqwest (hyper) keeps ~26 KB per
//! idle connection, and connecting afresh costs three times the CPU of a kept-alive probe
//! (`cargo bench --bench probe`): at 10,000 pods of two endpoints each, with reqwest the operator
//! had to choose between the memory and the CPU targets (README, Performance). HTTPS and host
//! names stay with reqwest.
//!
//! Framing follows RFC 9112: `Transfer-Encoding: chunked`, else `Content-Length`, else the body
//! runs to the connection's close (section 6.3). Only gzip is asked for (`Accept-Encoding`); a
//! gzip body is inflated as it arrives ([`sink`]).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{EMFILE, ProbeError};
use sink::Sink;

mod sink;

/// Cap on an answer's status line and headers: far above any node's (a few hundred bytes).
const MAX_HEAD: usize = 64 << 10;
/// Header fields read at most; more is an invalid answer.
const MAX_HEADERS: usize = 64;
/// Read size while the body's length is unknown.
const READ_CHUNK: usize = 16 << 10;

/// A URL this client serves: `http://` to an IP address, with a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plain<'a> {
    pub addr: SocketAddr,
    /// As written in the URL, for the `Host` header.
    pub authority: &'a str,
    pub path: &'a str,
}

impl<'a> Plain<'a> {
    /// `None` for anything else (HTTPS, a host name, user info, odd characters): reqwest's.
    pub fn parse(url: &'a str) -> Option<Plain<'a>> {
        let rest = url.strip_prefix("http://")?;
        let (authority, path) = rest.find('/').map_or((rest, "/"), |i| rest.split_at(i));
        let addr = authority
            .parse::<SocketAddr>()
            .ok()
            .or_else(|| authority.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 80)))?;
        let plain = path.bytes().all(|b| b.is_ascii_graphic() && b != b'#');
        plain.then_some(Plain { addr, authority, path })
    }
}

/// How far a request has got, for the words of its timeout: the caller bounds the time, and
/// reads this once the timed-out request is dropped.
#[derive(Debug, Default)]
pub struct Progress {
    /// Bytes of the answer received so far (head and raw body).
    received: AtomicUsize,
    /// Set once the answer's head is complete.
    in_body: AtomicBool,
}

impl Progress {
    fn add(&self, n: usize) {
        self.received.fetch_add(n, Ordering::Relaxed);
    }

    /// The error of a request stopped after `after`: nothing came back, or the answer trickled.
    pub fn timed_out(&self, after: Duration) -> ProbeError {
        match self.received.load(Ordering::Relaxed) {
            0 => ProbeError::Timeout(after),
            received => ProbeError::Trickle {
                part: if self.in_body.load(Ordering::Relaxed) {
                    "body"
                } else {
                    "answer headers"
                },
                after,
                received,
            },
        }
    }
}

/// Connections kept alive between probes: one idle socket per address.
#[derive(Debug)]
pub struct Idle {
    inner: Mutex<IdleInner>,
    timeout: Duration,
}

#[derive(Debug)]
struct IdleInner {
    conns: HashMap<SocketAddr, (TcpStream, Instant)>,
    purged: Instant,
}

impl Idle {
    /// Sockets idle longer than `timeout` are closed (those of pods gone or moved).
    pub fn new(timeout: Duration) -> Idle {
        Idle {
            inner: Mutex::new(IdleInner {
                conns: HashMap::new(),
                purged: Instant::now(),
            }),
            timeout,
        }
    }

    fn take(&self, addr: SocketAddr) -> Option<TcpStream> {
        let (stream, since) = self.lock().conns.remove(&addr)?;
        (since.elapsed() < self.timeout).then_some(stream)
    }

    fn put(&self, addr: SocketAddr, stream: TcpStream) {
        let mut inner = self.lock();
        let now = Instant::now();
        if now.duration_since(inner.purged) > self.timeout {
            let timeout = self.timeout;
            inner.conns.retain(|_, (_, since)| now.duration_since(*since) < timeout);
            inner.purged = now;
        }
        inner.conns.insert(addr, (stream, now));
    }

    /// Sockets kept now.
    pub fn len(&self) -> usize {
        self.lock().conns.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, IdleInner> {
        // Each change is one map operation: a panic elsewhere cannot leave it half-done.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// GETs `url` (or POSTs `body`, a JSON-RPC call), reading at most `limit` bytes of
    /// (decoded) body, on a kept-alive connection when `pooled` (kept again afterwards if the
    /// answer allows). `fields` are the request's header lines (each ending in CRLF) besides
    /// `Host`, `Accept-Encoding` and the body's. The caller bounds the time; `progress` tells it
    /// how far the answer got.
    pub async fn fetch(
        &self,
        url: &Plain<'_>,
        body: Option<&str>,
        limit: usize,
        pooled: bool,
        fields: &str,
        progress: &Progress,
    ) -> Result<(u16, Bytes), ProbeError> {
        let head = |method: &str| {
            format!(
                "{method} {} HTTP/1.1\r\nHost: {}\r\n{fields}Accept-Encoding: gzip\r\n",
                url.path, url.authority
            )
        };
        let request = match body {
            None => head("GET") + "\r\n",
            Some(b) => {
                head("POST")
                    + &format!(
                        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
                        b.len()
                    )
            }
        };
        if let Some(mut stream) = pooled.then(|| self.take(url.addr)).flatten() {
            match exchange(&mut stream, request.as_bytes(), limit, progress).await {
                Ok((answer, reusable)) => {
                    if reusable {
                        self.put(url.addr, stream);
                    }
                    return Ok(answer);
                }
                // The server closed it while idle: sent again, afresh (a GET, or a JSON-RPC read,
                // is safe to repeat).
                Err(Failure::NoAnswer(_)) => {}
                Err(Failure::Failed(e)) => return Err(e),
            }
        }
        let mut stream = connect(url.addr).await?;
        match exchange(&mut stream, request.as_bytes(), limit, progress).await {
            Ok((answer, reusable)) => {
                if pooled && reusable {
                    self.put(url.addr, stream);
                }
                Ok(answer)
            }
            Err(Failure::NoAnswer(e)) => Err(ProbeError::Body(format!("connection closed before an answer ({e})"))),
            Err(Failure::Failed(e)) => Err(e),
        }
    }
}

async fn connect(addr: SocketAddr) -> Result<TcpStream, ProbeError> {
    let stream = TcpStream::connect(addr).await.map_err(|e| {
        if e.raw_os_error() == Some(EMFILE) {
            ProbeError::TooManyOpenFiles
        } else if e.kind() == std::io::ErrorKind::ConnectionRefused {
            ProbeError::ConnectionRefused
        } else {
            ProbeError::Connect(e.to_string())
        }
    })?;
    // Small request, then wait for the answer: Nagle would only delay it.
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

enum Failure {
    /// Nothing came back: on a kept-alive connection, the server had closed it.
    NoAnswer(std::io::Error),
    Failed(ProbeError),
}

/// How the body's end is known (RFC 9112 section 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    None,
    Length(usize),
    Chunked,
    UntilClose,
}

/// What the head says.
struct Head {
    code: u16,
    len: usize,
    framing: Framing,
    gzip: bool,
    keep_alive: bool,
}

/// One request and its answer; the answer and whether the connection may be used again.
async fn exchange(
    stream: &mut TcpStream,
    request: &[u8],
    limit: usize,
    progress: &Progress,
) -> Result<((u16, Bytes), bool), Failure> {
    stream.write_all(request).await.map_err(Failure::NoAnswer)?;
    let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let head = loop {
        let read = read_more(stream, &mut buf, READ_CHUNK, progress).await.map_err(|e| {
            if buf.is_empty() {
                Failure::NoAnswer(e)
            } else {
                Failure::Failed(read_error(e))
            }
        })?;
        if read == 0 {
            return Err(if buf.is_empty() {
                Failure::NoAnswer(std::io::ErrorKind::UnexpectedEof.into())
            } else {
                Failure::Failed(body_error("connection closed in the answer's headers"))
            });
        }
        if let Some(head) = parse_head(&buf).map_err(Failure::Failed)? {
            break head;
        }
        if buf.len() > MAX_HEAD {
            return Err(Failure::Failed(body_error("answer headers larger than 64 KiB")));
        }
    };
    progress.in_body.store(true, Ordering::Relaxed);
    if (300..400).contains(&head.code) {
        return Err(Failure::Failed(ProbeError::Redirect(head.code)));
    }
    let mut sink = Sink::new(head.gzip, limit);
    let clean_end = read_body(stream, buf, &head, &mut sink, limit, progress)
        .await
        .map_err(Failure::Failed)?;
    let body = sink.finish().map_err(Failure::Failed)?;
    let reusable = head.keep_alive && clean_end && head.framing != Framing::UntilClose;
    Ok(((head.code, Bytes::from(body)), reusable))
}

/// Reads once into `buf`, with room for at least `want` more bytes (at most one read's worth).
async fn read_more(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    want: usize,
    progress: &Progress,
) -> std::io::Result<usize> {
    buf.reserve(want.clamp(1, READ_CHUNK * 4));
    let n = stream.read_buf(buf).await?;
    progress.add(n);
    Ok(n)
}

fn body_error(what: &str) -> ProbeError {
    ProbeError::Body(what.to_owned())
}

/// The head, once `buf` holds all of it.
fn parse_head(buf: &[u8]) -> Result<Option<Head>, ProbeError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(ProbeError::Body(format!("invalid HTTP answer ({e})"))),
    };
    let code = resp.code.unwrap_or(0);
    let value = |name: &'static str| {
        resp.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
    };
    let chunked = value("transfer-encoding").any(|v| v.rsplit(',').next().is_some_and(|c| c.trim() == "chunked"));
    let length = value("content-length").next();
    let framing = if code < 200 || code == 204 || code == 304 {
        Framing::None
    } else if chunked {
        Framing::Chunked
    } else if let Some(n) = length {
        Framing::Length(n.parse().map_err(|_| body_error("invalid Content-Length"))?)
    } else {
        Framing::UntilClose
    };
    let encoding = value("content-encoding").next().unwrap_or_default();
    let gzip = match encoding.as_str() {
        "" | "identity" => false,
        "gzip" | "x-gzip" => true,
        _ => return Err(ProbeError::Encoding(encoding.chars().take(32).collect())),
    };
    let close = value("connection").any(|v| v.split(',').any(|t| t.trim() == "close"));
    Ok(Some(Head {
        code,
        len,
        framing,
        gzip,
        keep_alive: resp.version == Some(1) && !close,
    }))
}

/// Reads the body into `sink`; whether it ended exactly where the framing said. `buf` holds the
/// head and what came after it.
async fn read_body(
    stream: &mut TcpStream,
    buf: Vec<u8>,
    head: &Head,
    sink: &mut Sink,
    limit: usize,
    progress: &Progress,
) -> Result<bool, ProbeError> {
    let mut buf = buf;
    let mut body = buf.split_off(head.len);
    match head.framing {
        Framing::None => Ok(body.is_empty()),
        Framing::Length(n) => {
            // Refused before a byte of it is read, gzip or not: its wire bytes alone are too many.
            if n > limit {
                return Err(ProbeError::BodyTooLarge(limit));
            }
            let mut left = n;
            loop {
                let take = left.min(body.len());
                sink.push(&body[..take], limit)?;
                left -= take;
                if left == 0 {
                    return Ok(body.len() == take);
                }
                body.clear();
                if read_more(stream, &mut body, left, progress).await.map_err(read_error)? == 0 {
                    return Err(body_error("connection closed in the body"));
                }
            }
        }
        Framing::UntilClose => loop {
            sink.push(&body, limit)?;
            body.clear();
            if read_more(stream, &mut body, READ_CHUNK, progress)
                .await
                .map_err(read_error)?
                == 0
            {
                return Ok(false);
            }
        },
        Framing::Chunked => read_chunked(stream, body, sink, limit, progress).await,
    }
}

fn read_error(e: std::io::Error) -> ProbeError {
    ProbeError::Body(e.to_string())
}

/// Decodes a chunked body from `buf` on, reading more as needed.
async fn read_chunked(
    stream: &mut TcpStream,
    mut buf: Vec<u8>,
    sink: &mut Sink,
    limit: usize,
    progress: &Progress,
) -> Result<bool, ProbeError> {
    let mut at = 0;
    loop {
        match step(&buf[at..], sink, limit)? {
            Step::More => {
                // What is not decoded yet is at most one chunk (capped by `step`) and its size
                // line: endless chunk extensions or trailers are cut off here.
                if buf.len() - at > sink.room(limit).saturating_add(MAX_HEAD) {
                    return Err(ProbeError::BodyTooLarge(limit));
                }
                if read_more(stream, &mut buf, READ_CHUNK, progress)
                    .await
                    .map_err(read_error)?
                    == 0
                {
                    return Err(body_error("connection closed in the body"));
                }
            }
            Step::Consumed(n) => {
                at += n;
                // Decoded bytes are not kept twice.
                if at >= READ_CHUNK {
                    buf.drain(..at);
                    at = 0;
                }
            }
            Step::End(n) => return Ok(at + n == buf.len()),
        }
    }
}

enum Step {
    /// Not enough bytes yet for the next piece.
    More,
    /// A chunk (size line, data, CRLF) went to the sink.
    Consumed(usize),
    /// The last chunk and the trailer section: the body is complete.
    End(usize),
}

/// One piece of a chunked body (RFC 9112 section 7.1).
fn step(rest: &[u8], sink: &mut Sink, limit: usize) -> Result<Step, ProbeError> {
    let (size_len, size) = match httparse::parse_chunk_size(rest) {
        Ok(httparse::Status::Complete(c)) => c,
        Ok(httparse::Status::Partial) => return Ok(Step::More),
        Err(_) => return Err(body_error("invalid chunk size")),
    };
    if size == 0 {
        // Trailer fields, if any, end with an empty line.
        let trailers = &rest[size_len..];
        if trailers.starts_with(b"\r\n") {
            return Ok(Step::End(size_len + 2));
        }
        return Ok(trailers
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(Step::More, |i| Step::End(size_len + i + 4)));
    }
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    if size > sink.room(limit) {
        return Err(ProbeError::BodyTooLarge(limit));
    }
    let end = size_len + size;
    if rest.len() < end + 2 {
        return Ok(Step::More);
    }
    if &rest[end..end + 2] != b"\r\n" {
        return Err(body_error("invalid chunk end"));
    }
    sink.push(&rest[size_len..end], limit)?;
    Ok(Step::Consumed(end + 2))
}

#[cfg(test)]
mod tests;
