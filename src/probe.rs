//! The probe client: bounded HTTP(S) GETs to a pod's health and metrics endpoints, and the
//! typed, plain-words failures they end in. A thin shell around the pure parsers.
//!
//! Guarantees: no redirect is followed; a body is never read past its cap (after gzip
//! decoding too); a request never outlives its timeout; HTTPS certificates are not verified,
//! as the kubelet's own probes do not verify them.

use std::time::Duration;

use bytes::{Bytes, BytesMut};

use crate::assess::{HealthReading, Observation, ProbeFailure};
use crate::chains::Profile;
use crate::chains::radix::{RadixMetrics, parse_system_health};
use crate::chains::zksync::parse_health;

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
    #[error("HTTP {0}")]
    HttpStatus(u16),
    #[error("HTTP {0}: redirects are not followed")]
    Redirect(u16),
    #[error("body larger than {0} bytes")]
    BodyTooLarge(usize),
    #[error("connection failed while reading the body ({0})")]
    Body(String),
    #[error("{0}")]
    Parse(String),
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
            ProbeError::HttpStatus(_) => "HttpStatus",
            ProbeError::Redirect(_) => "Redirect",
            ProbeError::BodyTooLarge(_) => "BodyTooLarge",
            ProbeError::Body(_) => "Body",
            ProbeError::Parse(_) => "Parse",
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

/// Where to probe one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub profile: Profile,
    pub health_url: Option<String>,
    pub metrics_url: Option<String>,
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

    /// Probes a health endpoint and reads its body by the profile's rules.
    pub async fn health(&self, url: &str, profile: Profile) -> Result<HealthReading, ProbeError> {
        self.health_within(url, profile, self.config.timeout).await
    }

    async fn health_within(&self, url: &str, profile: Profile, timeout: Duration) -> Result<HealthReading, ProbeError> {
        let (code, body) = self.get_within(url, self.config.health_body_limit, timeout).await?;
        match profile {
            // 503 carries a verdict in its body just as 200 does.
            Profile::Zksync if code == 200 || code == 503 => parse_health(&body)
                .map(HealthReading::Zksync)
                .map_err(|e| ProbeError::Parse(e.to_string())),
            // Radix answers 200 whatever its state; only the body says.
            Profile::Radix if code == 200 => parse_system_health(&body)
                .map(HealthReading::Radix)
                .map_err(|e| ProbeError::Parse(e.to_string())),
            _ => Err(ProbeError::HttpStatus(code)),
        }
    }

    /// Probes a metrics endpoint and extracts the Radix health series.
    pub async fn metrics(&self, url: &str) -> Result<RadixMetrics, ProbeError> {
        self.metrics_within(url, self.config.timeout).await
    }

    async fn metrics_within(&self, url: &str, timeout: Duration) -> Result<RadixMetrics, ProbeError> {
        let (code, body) = self.get_within(url, self.config.metrics_body_limit, timeout).await?;
        if code != 200 {
            return Err(ProbeError::HttpStatus(code));
        }
        RadixMetrics::from_exposition(&body).map_err(|e| ProbeError::Parse(format!("metrics: {e}")))
    }

    /// Scrapes both endpoints of a pod concurrently. `at` is the scrape's time (Unix seconds).
    pub async fn scrape(&self, target: &Target, at: f64) -> Observation {
        self.scrape_within(target, at, self.config.timeout, |_, _, _| {}).await
    }

    /// As [`Prober::scrape`], with a per-request deadline, reporting each request's outcome
    /// (endpoint, `ok` or the error kind, seconds) to `observe`.
    pub async fn scrape_within(
        &self,
        target: &Target,
        at: f64,
        timeout: Duration,
        observe: impl Fn(&'static str, &'static str, f64),
    ) -> Observation {
        let timed = |endpoint: &'static str, started: std::time::Instant, err: Option<&ProbeError>| {
            observe(
                endpoint,
                err.map_or("ok", ProbeError::kind),
                started.elapsed().as_secs_f64(),
            );
        };
        let health = async {
            let url = target.health_url.as_ref()?;
            let started = std::time::Instant::now();
            let r = self.health_within(url, target.profile, timeout).await;
            timed("health", started, r.as_ref().err());
            Some(r.map_err(|e| e.to_failure()))
        };
        let metrics = async {
            let url = target.metrics_url.as_ref()?;
            let started = std::time::Instant::now();
            let r = self.metrics_within(url, timeout).await;
            timed("metrics", started, r.as_ref().err());
            Some(r.map_err(|e| e.to_failure()))
        };
        let (health, metrics) = futures::join!(health, metrics);
        Observation { at, health, metrics }
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
