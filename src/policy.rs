//! From a `NodeHealth` spec to a validated policy, and from a pod to where to probe it.
//!
//! Pure. The API server of this project's tests (1.20) ignores CEL rules and some schema
//! checks, so everything the schema says is checked again here and reported in status.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::core::Selector;

use crate::assess::Params;
use crate::chains::{Profile, ReadOptions};
use crate::crd::duration::within;
use crate::crd::{AssessmentSpec, ChainSpec, EndpointSpec, NodeHealthSpec, Scheme};
use crate::model::{Access, Api, Target};
use crate::remediate::{self, RemediationPolicy};

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

/// A spec the operator cannot enforce. The variant's name is the `Stalled` condition's reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InvalidSpec {
    #[error("spec.selector is empty: it would select every pod of the namespace")]
    EmptySelector,
    #[error("spec.selector is invalid: {0}")]
    BadSelector(String),
    #[error("spec.probe sets neither health nor metrics: there is nothing to probe")]
    NoProbe,
    /// The probe sets only APIs this profile does not read (Solana has no metrics reader).
    #[error("spec.probe sets no API the {profile} profile reads: set spec.probe.{reads}")]
    NothingRead { profile: String, reads: String },
    #[error("spec.probe.{0}.path must start with '/' and hold no scheme, host or whitespace")]
    BadPath(&'static str),
    #[error("spec.probe.{0}.port must be 1-65535 or a port name (IANA_SVC_NAME, at most 15 characters)")]
    BadPort(&'static str),
    #[error("no selected pod declares a container port named {0:?}")]
    UnknownPortName(String),
    #[error("spec.assessment: {0}")]
    BadThresholds(String),
    #[error("spec.probe: {0}")]
    BadProbeTiming(String),
    #[error("spec.remediation.{0}")]
    BadRemediation(String),
    #[error("spec.chain.{0}")]
    BadChain(String),
    #[error("spec.probe.tls: {0}")]
    BadTls(String),
    /// The CA file cannot be read or holds no usable certificate (found by the probe shell).
    #[error("spec.probe.tls.caFile {0}")]
    BadCaFile(String),
    #[error("spec.probe.bearerTokenFile {0}")]
    BadBearerTokenFile(String),
    #[error("spec.probe.headers: {0}")]
    BadHeader(String),
}

impl InvalidSpec {
    /// PascalCase reason for conditions and events (a bounded set).
    pub fn reason(&self) -> &'static str {
        match self {
            InvalidSpec::EmptySelector => "EmptySelector",
            InvalidSpec::BadSelector(_) => "InvalidSelector",
            InvalidSpec::NoProbe | InvalidSpec::NothingRead { .. } => "NoProbe",
            InvalidSpec::BadPath(_) => "InvalidPath",
            InvalidSpec::BadPort(_) => "InvalidPort",
            InvalidSpec::UnknownPortName(_) => "UnknownPortName",
            InvalidSpec::BadThresholds(_) => "InvalidThresholds",
            InvalidSpec::BadProbeTiming(_) => "InvalidProbeTiming",
            InvalidSpec::BadRemediation(_) => "InvalidRemediation",
            InvalidSpec::BadChain(_) => "InvalidChain",
            InvalidSpec::BadTls(_) => "InvalidTLS",
            InvalidSpec::BadCaFile(_) => "InvalidCAFile",
            InvalidSpec::BadBearerTokenFile(_) => "InvalidBearerTokenFile",
            InvalidSpec::BadHeader(_) => "InvalidHeader",
        }
    }

    /// About a file the operator reads (a CA or token file), which may change without the spec.
    pub fn about_files(&self) -> bool {
        matches!(self, InvalidSpec::BadCaFile(_) | InvalidSpec::BadBearerTokenFile(_))
    }
}

/// One endpoint to probe on every selected pod.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub port: IntOrString,
    /// Replaces the path of the chain's first request of this API.
    pub path: Option<String>,
    pub scheme: Scheme,
}

/// A validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub selector: Selector,
    pub profile: Profile,
    /// What the chain's reader is told beyond the profile (`spec.chain`).
    pub read: ReadOptions,
    pub health: Option<Endpoint>,
    pub metrics: Option<Endpoint>,
    pub execution: Option<Endpoint>,
    pub params: Params,
    pub period: Duration,
    pub timeout: Duration,
    /// What every request carries: TLS trust, token, headers (shared by every pod's target).
    pub access: Arc<Access>,
    /// Absent: observe only.
    pub remediation: Option<RemediationPolicy>,
}

/// Why a selected pod is not probed this round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodSkip {
    /// Not Running: its phase.
    NotRunning(String),
    /// Being deleted.
    Terminating,
    /// Running but without an IP yet.
    NoIp,
    /// The named port is not declared by any container of the pod (while other selected pods
    /// declare it): a mistake in the pod's or the policy's configuration, not an unhealthy
    /// validator, so it never counts towards `maxUnhealthy` or remediation.
    PortNotDeclared {
        port: String,
        /// The port names the pod does declare.
        declared: Vec<String>,
    },
}

impl PodSkip {
    /// A configuration mistake rather than a state of the validator.
    pub fn is_mistake(&self) -> bool {
        matches!(self, PodSkip::PortNotDeclared { .. })
    }
}

impl std::fmt::Display for PodSkip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PodSkip::NotRunning(phase) => write!(f, "pod is {phase}, not probed"),
            PodSkip::Terminating => f.write_str("pod is Terminating, not probed"),
            PodSkip::NoIp => f.write_str("pod has no IP yet"),
            PodSkip::PortNotDeclared { port, declared } => write!(
                f,
                "PortNotDeclared: no container port named {port:?} (it declares: {}); a configuration mistake, not an unhealthy validator",
                if declared.is_empty() {
                    "none".to_owned()
                } else {
                    declared.join(", ")
                }
            ),
        }
    }
}

/// Validates a spec.
pub fn validate(spec: &NodeHealthSpec) -> Result<Policy, InvalidSpec> {
    let NodeHealthSpec {
        selector,
        profile,
        chain,
        probe,
        assessment,
        remediation,
    } = spec;
    let empty = selector.match_labels.as_ref().is_none_or(|m| m.is_empty())
        && selector.match_expressions.as_ref().is_none_or(|e| e.is_empty());
    if empty {
        return Err(InvalidSpec::EmptySelector);
    }
    let selector = Selector::try_from(selector.clone()).map_err(|e| InvalidSpec::BadSelector(e.to_string()))?;
    if probe.health.is_none() && probe.metrics.is_none() {
        return Err(InvalidSpec::NoProbe);
    }
    let health = endpoint(probe.health.as_ref(), "health")?;
    let metrics = endpoint(probe.metrics.as_ref(), "metrics")?;
    let execution = endpoint(probe.execution.as_ref(), "execution")?;
    reads_something(*profile, [(Api::Health, &health), (Api::Metrics, &metrics)])?;
    let period = within("period", &probe.period, SECOND, HOUR).map_err(InvalidSpec::BadProbeTiming)?;
    let timeout = within("timeout", &probe.timeout, SECOND, MINUTE).map_err(InvalidSpec::BadProbeTiming)?;
    if probe.failure_threshold == 0 || probe.success_threshold == 0 {
        return Err(InvalidSpec::BadProbeTiming(
            "failureThreshold and successThreshold must be at least 1".into(),
        ));
    }
    let access = Arc::new(access::access(probe, https([&health, &metrics, &execution]))?);
    let remediation = remediation
        .as_ref()
        .map(remediate::validate)
        .transpose()
        .map_err(InvalidSpec::BadRemediation)?;
    let mut params = params(assessment)?;
    params.max_height_lag = match assessment.max_height_lag.or(profile.default_max_height_lag()) {
        Some(0) | None => None,
        Some(n) => Some(f64::from(n)),
    };
    params.failure_threshold = probe.failure_threshold;
    params.success_threshold = probe.success_threshold;
    Ok(Policy {
        selector,
        profile: *profile,
        read: read_options(chain)?,
        health,
        metrics,
        execution,
        params,
        period,
        timeout,
        access,
        remediation,
    })
}

/// A policy must configure an API its profile reads and counts on (health or metrics, not the
/// optional execution client): else every pod would be probed with no request at all, and read
/// as "no answer" forever. Found by the `spec` fuzz target (a Solana policy with metrics only).
fn reads_something(profile: Profile, configured: [(Api, &Option<Endpoint>); 2]) -> Result<(), InvalidSpec> {
    let read = |api: Api| reads(profile, api);
    if configured.iter().any(|(api, e)| e.is_some() && read(*api)) {
        return Ok(());
    }
    let reads: Vec<&str> = [Api::Health, Api::Metrics]
        .into_iter()
        .filter(|api| read(*api))
        .map(Api::field)
        .collect();
    Err(InvalidSpec::NothingRead {
        profile: profile_name(profile),
        reads: reads.join(" or spec.probe."),
    })
}

/// Whether the profile makes any request of this API.
fn reads(profile: Profile, api: Api) -> bool {
    profile.requests().iter().any(|r| r.api == api)
}

/// `spec.profile` as written: the variants are its values, lowercased by serde.
fn profile_name(profile: Profile) -> String {
    format!("{profile:?}").to_lowercase()
}

/// Whether any of these endpoints speaks HTTPS.
fn https(endpoints: [&Option<Endpoint>; 3]) -> bool {
    endpoints.into_iter().flatten().any(|e| e.scheme == Scheme::Https)
}

/// `spec.chain`, checked: a metrics namespace as Prometheus names allow, a slot of 1 s to 1 min.
fn read_options(chain: &ChainSpec) -> Result<ReadOptions, InvalidSpec> {
    let bad = |m: String| InvalidSpec::BadChain(m);
    if let Some(ns) = &chain.metrics_namespace {
        let mut chars = ns.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(bad(format!(
                "metricsNamespace {ns:?} is not a Prometheus metric name prefix"
            )));
        }
    }
    let slot_seconds = chain
        .slot_duration
        .as_deref()
        .map(|s| within("slotDuration", s, SECOND, MINUTE).map(|d| d.as_secs_f64()))
        .transpose()
        .map_err(bad)?;
    Ok(ReadOptions {
        metrics_namespace: chain.metrics_namespace.clone(),
        slot_seconds,
    })
}

fn endpoint(spec: Option<&EndpointSpec>, which: &'static str) -> Result<Option<Endpoint>, InvalidSpec> {
    let Some(spec) = spec else { return Ok(None) };
    // The operator probes the pod's own IP only: a path must not smuggle in another host.
    if let Some(path) = &spec.path
        && (!path.starts_with('/')
            || path.starts_with("//")
            || path.contains(char::is_whitespace)
            || path.contains('#'))
    {
        return Err(InvalidSpec::BadPath(which));
    }
    match &spec.port {
        IntOrString::Int(p) if (1..=65535).contains(p) => {}
        IntOrString::String(name) if valid_port_name(name) => {}
        _ => return Err(InvalidSpec::BadPort(which)),
    }
    Ok(Some(Endpoint {
        port: spec.port.clone(),
        path: spec.path.clone(),
        scheme: spec.scheme,
    }))
}

/// IANA_SVC_NAME, as Kubernetes validates container port names.
fn valid_port_name(name: &str) -> bool {
    (1..=15).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && name.chars().any(|c| c.is_ascii_lowercase())
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
}

fn params(a: &AssessmentSpec) -> Result<Params, InvalidSpec> {
    let AssessmentSpec {
        degraded_below,
        unhealthy_below,
        synced_delay,
        min_progress_rate,
        max_progress_rate,
        max_block_lag,
        max_height_lag: _,
        critical_missed_proposals,
        observed_rate_window,
        max_clock_skew,
        max_proposal_timestamp_delay,
        max_proposal_timestamp_rush,
    } = a;
    let secs = |field, s: &str, min, max| {
        within(field, s, min, max)
            .map(|d| d.as_secs_f64())
            .map_err(InvalidSpec::BadThresholds)
    };
    let p = Params {
        degraded_below: *degraded_below,
        unhealthy_below: *unhealthy_below,
        synced_delay_seconds: secs("syncedDelay", synced_delay, SECOND, DAY)?,
        min_progress_rate: *min_progress_rate,
        max_progress_rate: *max_progress_rate,
        max_block_lag: f64::from(*max_block_lag),
        critical_missed_proposals: *critical_missed_proposals,
        observed_rate_window_seconds: secs("observedRateWindow", observed_rate_window, 10 * SECOND, DAY)?,
        max_clock_skew_seconds: secs("maxClockSkew", max_clock_skew, Duration::ZERO, HOUR)?,
        proposal_timestamp_min_seconds: -secs(
            "maxProposalTimestampDelay",
            max_proposal_timestamp_delay,
            Duration::ZERO,
            HOUR,
        )?,
        proposal_timestamp_max_seconds: secs(
            "maxProposalTimestampRush",
            max_proposal_timestamp_rush,
            Duration::ZERO,
            HOUR,
        )?,
        ..Params::default()
    };
    // Durations are whole seconds by their syntax: only the numbers can be NaN or infinite.
    let all = [
        p.degraded_below,
        p.unhealthy_below,
        p.min_progress_rate,
        p.max_progress_rate,
        p.critical_missed_proposals,
    ];
    let bad = |m: &str| Err(InvalidSpec::BadThresholds(m.to_owned()));
    if all.iter().any(|x| !x.is_finite()) {
        return bad("every threshold must be a finite number");
    }
    if !(0.0..=1.0).contains(&p.unhealthy_below) || !(0.0..=1.0).contains(&p.degraded_below) {
        return bad("degradedBelow and unhealthyBelow must be within 0..1");
    }
    if p.unhealthy_below > p.degraded_below {
        return bad("unhealthyBelow must not exceed degradedBelow");
    }
    if p.min_progress_rate < 0.0 || p.max_progress_rate <= p.min_progress_rate {
        return bad("maxProgressRate must exceed minProgressRate, both at least 0");
    }
    if p.critical_missed_proposals < 1.0 {
        return bad("criticalMissedProposals must be at least 1");
    }
    Ok(p)
}

impl Policy {
    /// The endpoints the spec sets that its profile never reads (their `spec.probe` field), e.g.
    /// `metrics` on a Solana policy: accepted, since the profile reads another, but never
    /// probed, which the user is told rather than left to believe it is watched.
    pub fn unread(&self) -> Vec<&'static str> {
        [
            (Api::Health, &self.health),
            (Api::Metrics, &self.metrics),
            (Api::Execution, &self.execution),
        ]
        .into_iter()
        .filter(|(api, e)| e.is_some() && !reads(self.profile, *api))
        .map(|(api, _)| api.field())
        .collect()
    }

    /// The profile's name as the spec spells it.
    pub fn profile_name(&self) -> String {
        profile_name(self.profile)
    }

    /// Whether any endpoint speaks HTTPS (and so the policy's TLS trust is used).
    pub fn uses_https(&self) -> bool {
        https([&self.health, &self.metrics, &self.execution])
    }

    /// Whether HTTPS certificates go unverified (`insecureSkipVerify: true`).
    pub fn skips_verification(&self) -> bool {
        self.uses_https() && self.access.tls.verify == crate::model::Verify::Skip
    }

    /// Where to probe this pod, resolving named ports as the kubelet does.
    pub fn target(&self, pod: &Pod) -> Result<Target, PodSkip> {
        let status = pod.status.as_ref();
        let phase = status
            .and_then(|s| s.phase.clone())
            .unwrap_or_else(|| "Pending".to_owned());
        if pod.metadata.deletion_timestamp.is_some() {
            return Err(PodSkip::Terminating);
        }
        if phase != "Running" {
            return Err(PodSkip::NotRunning(phase));
        }
        let ip = status
            .and_then(|s| s.pod_ip.as_deref())
            .filter(|ip| !ip.is_empty())
            .ok_or(PodSkip::NoIp)?;
        // An IPv6 pod IP needs brackets in a URL.
        let host = if ip.contains(':') {
            format!("[{ip}]")
        } else {
            ip.to_owned()
        };
        let mut requests = Vec::new();
        let mut overridden = Vec::new();
        for &request in self.profile.requests() {
            let Some(e) = self.endpoint(request.api) else { continue };
            let port = resolve_port(pod, &e.port)?;
            let scheme = match e.scheme {
                Scheme::Http => "http",
                Scheme::Https => "https",
            };
            // The spec's path replaces the path of the API's first request only.
            let path = match &e.path {
                Some(p) if !overridden.contains(&request.api) => p.as_str(),
                _ => request.path,
            };
            overridden.push(request.api);
            requests.push((request, format!("{scheme}://{host}:{port}{path}")));
        }
        Ok(Target {
            requests,
            access: Arc::clone(&self.access),
        })
    }

    /// The policy's endpoint of an API, when it probes that API.
    fn endpoint(&self, api: Api) -> Option<&Endpoint> {
        match api {
            Api::Health => self.health.as_ref(),
            Api::Metrics => self.metrics.as_ref(),
            Api::Execution => self.execution.as_ref(),
        }
    }
}

/// A port name that no selected pod declares is a mistake in the spec, not in the pods.
pub fn unknown_port_everywhere<T>(targets: &[Result<T, PodSkip>]) -> Option<InvalidSpec> {
    match targets.first() {
        Some(Err(PodSkip::PortNotDeclared { port, .. }))
            if targets
                .iter()
                .all(|t| matches!(t, Err(PodSkip::PortNotDeclared { .. }))) =>
        {
            Some(InvalidSpec::UnknownPortName(port.clone()))
        }
        _ => None,
    }
}

fn resolve_port(pod: &Pod, port: &IntOrString) -> Result<u16, PodSkip> {
    let ports = || {
        pod.spec
            .iter()
            .flat_map(|s| s.containers.iter())
            .flat_map(|c| c.ports.iter().flatten())
    };
    let not_declared = |port: String| PodSkip::PortNotDeclared {
        port,
        declared: ports().filter_map(|p| p.name.clone()).collect(),
    };
    match port {
        IntOrString::Int(p) => u16::try_from(*p).map_err(|_| not_declared(p.to_string())),
        IntOrString::String(name) => ports()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .and_then(|p| u16::try_from(p.container_port).ok())
            .ok_or_else(|| not_declared(name.clone())),
    }
}

pub mod access;
#[cfg(test)]
mod tests;
