//! The probe client: bounded HTTP(S) GETs to the endpoints a chain names, and the typed,
//! plain-words failures they end in. Plain HTTP to a pod's IP goes through the lean client of
//! [`http1`]; HTTPS and host names through reqwest. It hands code and body to the chain's reader
//! (`chains::<chain>::read`) and reads nothing itself.
//!
//! Every request carries what its policy's [`Access`] says: the bearer token of its file (read
//! again when the file changes), the custom headers, and over HTTPS the policy's trust
//! ([`tls`]).
//!
//! Guarantees: no redirect is followed; a body is never read past its cap (after gzip
//! decoding too); a body in an encoding not asked for is refused, not handed on as binary; a
//! request never outlives its timeout, and one that times out says how far its answer got (none,
//! headers or body trickling); HTTPS certificates are verified unless the policy says
//! `insecureSkipVerify: true`; a CA or token file the operator cannot read fails the request as
//! the operator's failure ([`CREDENTIALS`]), never the pod's.

mod credentials;
mod http1;
mod tls;

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};

pub use credentials::AccessError;
use credentials::Tokens;
use tls::TlsClients;

use crate::model::{
    Access, Answer, Api, CREDENTIALS, Fetched, Method, ProbeFailure, Scrape, TOO_MANY_OPEN_FILES, Target,
};

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
    /// The handshake failed: a rejected certificate, or another TLS error (the words say which).
    #[error("{0}")]
    Tls(String),
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
    /// The operator cannot read its own CA or token file: says nothing of the pod.
    #[error("{0}")]
    Credentials(AccessError),
}

impl ProbeError {
    /// A short kind for metric labels and event reasons (bounded set).
    pub fn kind(&self) -> &'static str {
        match self {
            ProbeError::ConnectionRefused => "ConnectionRefused",
            ProbeError::Timeout(_) => "Timeout",
            ProbeError::Tls(_) => "Tls",
            ProbeError::Connect(_) => "Connect",
            ProbeError::Redirect(_) => "Redirect",
            ProbeError::BodyTooLarge(_) => "BodyTooLarge",
            ProbeError::InflatesTooLarge { .. } => "InflatesTooLarge",
            ProbeError::Encoding(_) => "Encoding",
            ProbeError::Trickle { .. } => "Trickle",
            ProbeError::Body(_) => "Body",
            ProbeError::InvalidUrl => "InvalidUrl",
            ProbeError::TooManyOpenFiles => TOO_MANY_OPEN_FILES,
            ProbeError::Credentials(_) => CREDENTIALS,
        }
    }

    /// True when the process did not answer at all.
    pub fn no_answer(&self) -> bool {
        matches!(
            self,
            ProbeError::ConnectionRefused | ProbeError::Timeout(_) | ProbeError::Connect(_) | ProbeError::Tls(_)
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
/// (within the open-files budget) use pooled connections; the others connect afresh each probe.
#[derive(Clone)]
pub struct Prober {
    /// The HTTPS (and host name) clients, one pair per TLS setting of the policies.
    tls: Arc<TlsClients>,
    tokens: Arc<Tokens>,
    idle: Arc<http1::Idle>,
    config: ProbeConfig,
}

const USER_AGENT: &str = concat!("nodehealth/", env!("CARGO_PKG_VERSION"));
/// The lean client's header fields of a request that carries no token and no custom header.
const PLAIN_FIELDS: &str = concat!(
    "User-Agent: nodehealth/",
    env!("CARGO_PKG_VERSION"),
    "\r\nAccept: */*\r\n"
);

impl Prober {
    pub fn new(config: ProbeConfig) -> Self {
        crate::install_crypto_provider();
        let (timeout, idle_timeout) = (config.timeout, config.idle_timeout);
        let build = move |tls: rustls::ClientConfig, idle_per_host: usize| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .tls_backend_preconfigured(tls)
                .connect_timeout(timeout)
                .pool_idle_timeout(idle_timeout)
                .pool_max_idle_per_host(idle_per_host)
                .no_proxy()
                .user_agent(USER_AGENT)
                .build()
        };
        Prober {
            tls: Arc::new(TlsClients::new(Box::new(build))),
            tokens: Arc::default(),
            idle: Arc::new(http1::Idle::new(config.idle_timeout)),
            config,
        }
    }

    pub fn config(&self) -> &ProbeConfig {
        &self.config
    }

    /// GETs `url` on a kept-alive connection, reading at most `limit` bytes of (decoded) body.
    /// Returns the status and body.
    pub async fn get(&self, url: &str, limit: usize) -> Result<(u16, Bytes), ProbeError> {
        let access = Access::default();
        self.fetch(url, &access, Method::Get, limit, self.config.timeout, true)
            .await
    }

    /// Connections kept alive now by the lean client (one socket each).
    pub fn idle_connections(&self) -> usize {
        self.idle.len()
    }

    /// Whether the files `access` names can be used now (read, parsed), and over HTTPS whether
    /// its trust can be set up: what a policy's status reports when not.
    pub fn check(&self, access: &Access, https: bool) -> Result<(), AccessError> {
        self.tokens.authorization(access)?;
        if https {
            self.tls.client(&access.tls, true)?;
        }
        Ok(())
    }

    /// As [`Prober::get`], with the policy's access and a method, this request's own deadline,
    /// on a kept-alive connection or not.
    async fn fetch(
        &self,
        url: &str,
        access: &Access,
        method: Method,
        limit: usize,
        timeout: Duration,
        pooled: bool,
    ) -> Result<(u16, Bytes), ProbeError> {
        let body = match method {
            Method::Get => None,
            Method::Post(b) => Some(b),
        };
        let authorization = self.tokens.authorization(access).map_err(ProbeError::Credentials)?;
        match http1::Plain::parse(url) {
            Some(plain) => {
                let fields = fields(access, authorization.as_deref());
                let progress = http1::Progress::default();
                let fetch = self.idle.fetch(&plain, body, limit, pooled, &fields, &progress);
                tokio::time::timeout(timeout, fetch)
                    .await
                    .unwrap_or_else(|_| Err(progress.timed_out(timeout)))
            }
            None => {
                let client = self.tls.client(&access.tls, pooled).map_err(ProbeError::Credentials)?;
                let mut request = match body {
                    None => client.get(url),
                    Some(b) => client
                        .post(url)
                        .header(reqwest::header::CONTENT_TYPE, "application/json")
                        .body(b),
                };
                for (name, value) in &access.headers {
                    request = request.header(name.as_str(), value.as_str());
                }
                if let Some(a) = authorization {
                    request = request.header(reqwest::header::AUTHORIZATION, &*a);
                }
                self.send(request, limit, timeout).await
            }
        }
    }

    /// Sends a reqwest request and reads its answer within `timeout`.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        limit: usize,
        timeout: Duration,
    ) -> Result<(u16, Bytes), ProbeError> {
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
                    .fetch(
                        url,
                        &target.access,
                        request.method,
                        self.limit(request.api),
                        timeout,
                        pooled,
                    )
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

/// The lean client's header fields (all but `Host` and the body's): the defaults, the custom
/// headers (a custom `User-Agent` or `Accept` replaces the default), the token.
fn fields<'a>(access: &Access, authorization: Option<&str>) -> std::borrow::Cow<'a, str> {
    if access.is_plain() {
        return std::borrow::Cow::Borrowed(PLAIN_FIELDS);
    }
    let mut out = String::with_capacity(128);
    if !access.sets("user-agent") {
        out.push_str("User-Agent: ");
        out.push_str(USER_AGENT);
        out.push_str("\r\n");
    }
    if !access.sets("accept") {
        out.push_str("Accept: */*\r\n");
    }
    // Names and values were checked by the policy (token characters; printable ASCII, no CR or
    // LF), the token by its reader: nothing here can end a line early.
    let token = authorization.map(|a| ("Authorization", a));
    for (name, value) in access
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .chain(token)
    {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    std::borrow::Cow::Owned(out)
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
        if let Some(tls) = s.downcast_ref::<rustls::Error>() {
            return ProbeError::Tls(tls::handshake_words(tls));
        }
        source = match s.downcast_ref::<std::io::Error>() {
            Some(io) => {
                if io.raw_os_error() == Some(EMFILE) {
                    return ProbeError::TooManyOpenFiles;
                }
                match io.kind() {
                    std::io::ErrorKind::ConnectionRefused => return ProbeError::ConnectionRefused,
                    std::io::ErrorKind::TimedOut => return ProbeError::Timeout(timeout),
                    _ => {}
                }
                // An io::Error's `source()` skips the error it wraps (the TLS error travels in
                // two of them): look into it instead.
                io.get_ref().map(|e| e as &(dyn std::error::Error + 'static))
            }
            None => s.source(),
        };
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
