//! The probe client: bounded HTTP(S) GETs to the endpoints a chain names, and the typed,
//! plain-words failures they end in. Plain HTTP to a pod's IP goes through the lean client of
//! [`http1`]; HTTPS and host names through reqwest. It hands code and body to the chain's reader
//! (`chains::<chain>::read`) and reads nothing itself.
//!
//! Guarantees: no redirect is followed; a body is never read past its cap (after gzip
//! decoding too); a body in an encoding not asked for is refused, not handed on as binary; a
//! request never outlives its timeout, and one that times out says how far its answer got (none,
//! headers or body trickling); HTTPS certificates are not verified, as the kubelet's own probes
//! do not verify them.

mod http1;

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use crate::model::{Answer, Api, Fetched, Method, ProbeFailure, Scrape, TOO_MANY_OPEN_FILES, Target};

/// Limits of one probe.
#[derive(Debug, Clone)]
pub struct ProbeConfig {
    /// Whole-request deadline: connect, headers and body.
    pub timeout: Duration,
    /// Cap on a health body. Default 1 MiB: a zksync `/health` with every component is a few KiB.
    pub health_body_limit: usize,
    /// Cap on a metrics body. Default 16 MiB: a Radix node's page is ~100 KiB, with room for
    /// nodes exporting many per-peer series.
    pub metrics_body_limit: usize,
    /// How long an idle keep-alive connection is kept. Keep it above the probe period so each
    /// pod's connection is reused, and mind that every kept connection holds a file descriptor.
    pub idle_timeout: Duration,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            timeout: Duration::from_secs(3),
            health_body_limit: 1 << 20,
            metrics_body_limit: 16 << 20,
            idle_timeout: Duration::from_secs(90),
        }
    }
}

/// Why a GET gave no usable body.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProbeError {
    #[error("connection refused")]
    ConnectionRefused,
    #[error("no answer within {:.1} s", .0.as_secs_f64())]
    Timeout(Duration),
    #[error("TLS handshake failed")]
    Tls,
    #[error("could not connect ({0})")]
    Connect(String),
    #[error("HTTP {0}: redirects are not followed")]
    Redirect(u16),
    #[error("body larger than {0} bytes")]
    BodyTooLarge(usize),
    /// A gzip body that inflates past the cap, or far past what text compresses to: small on
    /// the wire, huge inflated.
    #[error("gzip body inflates past {inflated} bytes from {wire} on the wire (a gzip bomb?)")]
    InflatesTooLarge { inflated: usize, wire: usize },
    /// An encoding the probe never asked for: its bytes would reach a reader as binary noise.
    #[error("unsupported Content-Encoding {0} (only gzip is asked for)")]
    Encoding(String),
    /// The answer began but did not end within the deadline: its headers or its body trickle
    /// (a slowloris answer, a body that never ends).
    #[error("{part} incomplete after {:.1} s ({received} bytes received)", .after.as_secs_f64())]
    Trickle {
        /// `answer headers` or `body`.
        part: &'static str,
        after: Duration,
        received: usize,
    },
    #[error("connection failed while reading the body ({0})")]
    Body(String),
    #[error("invalid probe URL")]
    InvalidUrl,
    /// The operator itself is out of file descriptors (EMFILE): says nothing of the pod.
    #[error("the operator has no file descriptor left (too many open files)")]
    TooManyOpenFiles,
}

impl ProbeError {
    /// A short kind for metric labels and event reasons (bounded set).
    pub fn kind(&self) -> &'static str {
        match self {
            ProbeError::ConnectionRefused => "ConnectionRefused",
            ProbeError::Timeout(_) => "Timeout",
            ProbeError::Tls => "Tls",
            ProbeError::Connect(_) => "Connect",
            ProbeError::Redirect(_) => "Redirect",
            ProbeError::BodyTooLarge(_) => "BodyTooLarge",
            ProbeError::InflatesTooLarge { .. } => "InflatesTooLarge",
            ProbeError::Encoding(_) => "Encoding",
            ProbeError::Trickle { .. } => "Trickle",
            ProbeError::Body(_) => "Body",
            ProbeError::InvalidUrl => "InvalidUrl",
            ProbeError::TooManyOpenFiles => TOO_MANY_OPEN_FILES,
        }
    }

    /// True when the process did not answer at all.
    pub fn no_answer(&self) -> bool {
        matches!(
            self,
            ProbeError::ConnectionRefused | ProbeError::Timeout(_) | ProbeError::Connect(_) | ProbeError::Tls
        )
    }

    pub fn to_failure(&self) -> ProbeFailure {
        ProbeFailure {
            kind: self.kind(),
            message: self.to_string(),
            no_answer: self.no_answer(),
        }
    }
}

/// The probe client, shared by every probe. Pods the schedule gives a kept-alive connection
/// (within the open-files budget) use the pooled client; the others connect afresh each probe.
#[derive(Clone)]
pub struct Prober {
    pooled: reqwest::Client,
    fresh: reqwest::Client,
    idle: Arc<http1::Idle>,
    config: ProbeConfig,
}

const USER_AGENT: &str = concat!("nodehealth/", env!("CARGO_PKG_VERSION"));

impl Prober {
    pub fn new(config: ProbeConfig) -> Result<Self, reqwest::Error> {
        crate::install_crypto_provider();
        let client = |idle_per_host: usize| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .danger_accept_invalid_certs(true)
                .connect_timeout(config.timeout)
                .pool_idle_timeout(config.idle_timeout)
                .pool_max_idle_per_host(idle_per_host)
                .no_proxy()
                .user_agent(USER_AGENT)
                .build()
        };
        Ok(Prober {
            // One connection per pod address is enough for one probe at a time.
            pooled: client(1)?,
            // Nothing kept: the connection closes with the answer and frees its descriptor.
            fresh: client(0)?,
            idle: Arc::new(http1::Idle::new(config.idle_timeout)),
            config,
        })
    }

    pub fn config(&self) -> &ProbeConfig {
        &self.config
    }

    /// GETs `url` on a kept-alive connection, reading at most `limit` bytes of (decoded) body.
    /// Returns the status and body.
    pub async fn get(&self, url: &str, limit: usize) -> Result<(u16, Bytes), ProbeError> {
        self.fetch(url, Method::Get, limit, self.config.timeout, true).await
    }

    /// Connections kept alive now by the lean client (one socket each).
    pub fn idle_connections(&self) -> usize {
        self.idle.len()
    }

    /// As [`Prober::get`], with a method, this request's own deadline, on a kept-alive
    /// connection or not.
    async fn fetch(
        &self,
        url: &str,
        method: Method,
        limit: usize,
        timeout: Duration,
        pooled: bool,
    ) -> Result<(u16, Bytes), ProbeError> {
        let body = match method {
            Method::Get => None,
            Method::Post(b) => Some(b),
        };
        match http1::Plain::parse(url) {
            Some(plain) => {
                let progress = http1::Progress::default();
                let fetch = self.idle.fetch(&plain, body, limit, pooled, USER_AGENT, &progress);
                tokio::time::timeout(timeout, fetch)
                    .await
                    .unwrap_or_else(|_| Err(progress.timed_out(timeout)))
            }
            None => {
                let client = if pooled { &self.pooled } else { &self.fresh };
                self.fetch_within(client, url, body, limit, timeout).await
            }
        }
    }

    /// As [`Prober::fetch`], with this client.
    async fn fetch_within(
        &self,
        client: &reqwest::Client,
        url: &str,
        body: Option<&'static str>,
        limit: usize,
        timeout: Duration,
    ) -> Result<(u16, Bytes), ProbeError> {
        let request = match body {
            None => client.get(url),
            Some(b) => client
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(b),
        };
        let mut resp = request
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| classify(&e, timeout))?;
        let code = resp.status().as_u16();
        if resp.status().is_redirection() {
            return Err(ProbeError::Redirect(code));
        }
        // reqwest decodes gzip and drops the header; any other encoding would reach the reader
        // as binary.
        if let Some(encoding) = resp.headers().get(reqwest::header::CONTENT_ENCODING) {
            let encoding = String::from_utf8_lossy(encoding.as_bytes()).trim().to_ascii_lowercase();
            if encoding != "identity" {
                return Err(ProbeError::Encoding(encoding.chars().take(32).collect()));
            }
        }
        if resp.content_length().is_some_and(|n| n > limit as u64) {
            return Err(ProbeError::BodyTooLarge(limit));
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| classify(&e, timeout))? {
            if body.len() + chunk.len() > limit {
                return Err(ProbeError::BodyTooLarge(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((code, body.freeze()))
    }

    /// The body cap of an API's answers.
    fn limit(&self, api: Api) -> usize {
        match api {
            Api::Health | Api::Execution => self.config.health_body_limit,
            Api::Metrics => self.config.metrics_body_limit,
        }
    }

    /// Scrapes every request of a pod concurrently on kept-alive connections. `at` is the
    /// scrape's time (Unix seconds).
    pub async fn scrape(&self, target: &Target, at: f64) -> Scrape {
        self.scrape_within(target, at, self.config.timeout, true, |_, _, _| {})
            .await
    }

    /// As [`Prober::scrape`], with a per-request deadline, on kept-alive connections or not,
    /// reporting each request's outcome (API, `ok` or the error kind, seconds) to `observe`.
    pub async fn scrape_within(
        &self,
        target: &Target,
        at: f64,
        timeout: Duration,
        pooled: bool,
        observe: impl Fn(&'static str, &'static str, f64),
    ) -> Scrape {
        let requests = target.requests.iter().map(|(request, url)| {
            let observe = &observe;
            async move {
                let started = std::time::Instant::now();
                let r = self
                    .fetch(url, request.method, self.limit(request.api), timeout, pooled)
                    .await;
                let kind = r.as_ref().err().map_or("ok", ProbeError::kind);
                observe(request.api.field(), kind, started.elapsed().as_secs_f64());
                let fetched: Fetched = r.map(|(code, body)| Answer { code, body }).map_err(|e| e.to_failure());
                (*request, fetched)
            }
        });
        Scrape {
            at,
            answers: futures::future::join_all(requests).await,
        }
    }
}

/// `EMFILE` on Linux (`errno.h`): the process's open-files limit is reached.
const EMFILE: i32 = 24;

/// Maps a reqwest error onto the plain-words kinds, looking through its causes.
fn classify(e: &reqwest::Error, timeout: Duration) -> ProbeError {
    if e.is_timeout() {
        return ProbeError::Timeout(timeout);
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if io.raw_os_error() == Some(EMFILE) {
                return ProbeError::TooManyOpenFiles;
            }
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return ProbeError::ConnectionRefused,
                std::io::ErrorKind::TimedOut => return ProbeError::Timeout(timeout),
                _ => {}
            }
        }
        if s.downcast_ref::<rustls::Error>().is_some() {
            return ProbeError::Tls;
        }
        source = s.source();
    }
    if e.is_builder() {
        ProbeError::InvalidUrl
    } else if e.is_connect() {
        ProbeError::Connect(short_cause(e))
    } else {
        ProbeError::Body(short_cause(e))
    }
}

/// The innermost cause's words, bounded: enough to tell a reset from a DNS failure.
fn short_cause(e: &reqwest::Error) -> String {
    let mut last: &dyn std::error::Error = e;
    while let Some(s) = last.source() {
        last = s;
    }
    last.to_string().chars().take(120).collect()
}
