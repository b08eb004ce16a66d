//! The probe client: bounded HTTP(S) GETs to the endpoints a chain names, and the typed,
//! plain-words failures they end in. It hands code and body to the chain's reader
//! (`chains::<chain>::read`) and reads nothing itself.
//!
//! Guarantees: no redirect is followed; a body is never read past its cap (after gzip
//! decoding too); a request never outlives its timeout; HTTPS certificates are not verified,
//! as the kubelet's own probes do not verify them.

use std::time::Duration;

use bytes::{Bytes, BytesMut};

use crate::chains::Profile;
use crate::model::{Answer, Api, Fetched, ProbeFailure, Request, Scrape};

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
    #[error("connection failed while reading the body ({0})")]
    Body(String),
    #[error("invalid probe URL")]
    InvalidUrl,
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
            ProbeError::Body(_) => "Body",
            ProbeError::InvalidUrl => "InvalidUrl",
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

/// The probe client, shared by every probe (connections are pooled per pod address).
#[derive(Clone)]
pub struct Prober {
    client: reqwest::Client,
    config: ProbeConfig,
}

/// Where to probe one pod: each request the policy makes, with its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub requests: Vec<(Request, String)>,
}

impl Target {
    /// The chain's first request of each API given a URL (what `nodehealth probe` takes).
    pub fn from_urls(profile: Profile, health: Option<String>, metrics: Option<String>) -> Target {
        let mut urls = [(Api::Health, health), (Api::Metrics, metrics)];
        let requests = profile
            .requests()
            .iter()
            .filter_map(|r| {
                let url = urls.iter_mut().find(|(api, _)| *api == r.api)?.1.take()?;
                Some((*r, url))
            })
            .collect();
        Target { requests }
    }

    /// The URL of an API's first request.
    pub fn url(&self, api: Api) -> Option<&str> {
        self.requests
            .iter()
            .find(|(r, _)| r.api == api)
            .map(|(_, u)| u.as_str())
    }
}

impl Prober {
    pub fn new(config: ProbeConfig) -> Result<Self, reqwest::Error> {
        crate::install_crypto_provider();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .danger_accept_invalid_certs(true)
            .connect_timeout(config.timeout)
            .pool_idle_timeout(config.idle_timeout)
            // One connection per pod is enough for one probe at a time, and bounds descriptors.
            .pool_max_idle_per_host(1)
            .no_proxy()
            .user_agent(concat!("nodehealth/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Prober { client, config })
    }

    pub fn config(&self) -> &ProbeConfig {
        &self.config
    }

    /// GETs `url`, reading at most `limit` bytes of (decoded) body. Returns the status and body.
    pub async fn get(&self, url: &str, limit: usize) -> Result<(u16, Bytes), ProbeError> {
        self.get_within(url, limit, self.config.timeout).await
    }

    /// As [`Prober::get`], with this request's own deadline.
    pub async fn get_within(&self, url: &str, limit: usize, timeout: Duration) -> Result<(u16, Bytes), ProbeError> {
        let mut resp = self
            .client
            .get(url)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| classify(&e, timeout))?;
        let code = resp.status().as_u16();
        if resp.status().is_redirection() {
            return Err(ProbeError::Redirect(code));
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
            Api::Health => self.config.health_body_limit,
            Api::Metrics => self.config.metrics_body_limit,
        }
    }

    /// Scrapes every request of a pod concurrently. `at` is the scrape's time (Unix seconds).
    pub async fn scrape(&self, target: &Target, at: f64) -> Scrape {
        self.scrape_within(target, at, self.config.timeout, |_, _, _| {}).await
    }

    /// As [`Prober::scrape`], with a per-request deadline, reporting each request's outcome
    /// (API, `ok` or the error kind, seconds) to `observe`.
    pub async fn scrape_within(
        &self,
        target: &Target,
        at: f64,
        timeout: Duration,
        observe: impl Fn(&'static str, &'static str, f64),
    ) -> Scrape {
        let requests = target.requests.iter().map(|(request, url)| {
            let observe = &observe;
            async move {
                let started = std::time::Instant::now();
                let r = self.get_within(url, self.limit(request.api), timeout).await;
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

/// Maps a reqwest error onto the plain-words kinds, looking through its causes.
fn classify(e: &reqwest::Error, timeout: Duration) -> ProbeError {
    if e.is_timeout() {
        return ProbeError::Timeout(timeout);
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
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
