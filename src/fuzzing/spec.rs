//! What a user writes in a `NodeHealth` spec: durations (`90s`, `1h30m`), `maxUnhealthy` (`1`
//! or `"20%"`), and a whole spec from any JSON through validation to where a pod is probed.
//!
//! Input: any bytes, read three ways at once: as the text of a duration and of a
//! `maxUnhealthy` (lossily as UTF-8), their first bytes as numbers, and the whole as a spec's
//! JSON.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::crd::duration::{self, show, within};
use crate::crd::{NodeHealthSpec, RemediationSpec};
use crate::policy::{self, Policy};
use crate::remediate::{self, policy::Limit};

/// The pod a validated policy is tried on: this IP, and a container port for every port name.
const POD_IP: &str = "10.1.2.3";
/// Where the pod's named ports start.
const FIRST_NAMED_PORT: u16 = 9000;

pub fn spec(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut numbers = [0u8; 16];
    let n = data.len().min(numbers.len());
    numbers[..n].copy_from_slice(&data[..n]);
    let (first, second) = numbers.split_at(8);
    let first = u64::from_le_bytes(first.try_into().unwrap_or_default());
    let second = u64::from_le_bytes(second.try_into().unwrap_or_default());
    durations(&text, first, second);
    max_unhealthy(&text, first);
    whole(data);
}

/// A duration parses only from its own alphabet, reads back as written by [`show`], and
/// [`within`] accepts exactly the parsed durations between its bounds.
fn durations(text: &str, first: u64, second: u64) {
    let parsed = duration::parse(text);
    if let Ok(d) = parsed {
        assert!(!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit() || b"hms".contains(&b)));
        assert_eq!(duration::parse(&show(d)), Ok(d), "{text:?} shown as {}", show(d));
    }
    let any = Duration::from_secs(first);
    assert_eq!(duration::parse(&show(any)), Ok(any), "{} does not read back", show(any));
    let (lo, hi) = (first % 100_000, second % 100_000);
    let (min, max) = (Duration::from_secs(lo.min(hi)), Duration::from_secs(lo.max(hi)));
    match (within("field", text, min, max), parsed) {
        (Ok(w), Ok(d)) => assert!(w == d && (min..=max).contains(&d)),
        (Err(e), Ok(d)) => assert!(!(min..=max).contains(&d) && e.starts_with("field must be within")),
        (Err(e), Err(_)) => assert!(e.starts_with("field: ")),
        (Ok(w), Err(_)) => panic!("within accepts {text:?} ({w:?}) that parse refuses"),
    }
}

/// `maxUnhealthy` as a string and as a number: a count, or a percentage up to 100 whose limit
/// never exceeds the pods there are.
fn max_unhealthy(text: &str, first: u64) {
    let defaults = RemediationSpec {
        max_unhealthy: IntOrString::Int(0),
        ..remediation_defaults()
    };
    // The low 32 bits, as a signed count.
    let count = first as u32 as i32;
    for value in [IntOrString::String(text.to_owned()), IntOrString::Int(count)] {
        let spec = RemediationSpec {
            max_unhealthy: value.clone(),
            ..defaults.clone()
        };
        match (remediate::validate(&spec), &value) {
            (Ok(p), IntOrString::Int(n)) => {
                assert_eq!(p.max_unhealthy, Limit::Count(n.unsigned_abs()));
                assert!(*n >= 0);
            }
            (Ok(p), IntOrString::String(s)) => {
                let Limit::Percent(pct) = p.max_unhealthy else {
                    panic!("{s:?} read as {:?}", p.max_unhealthy)
                };
                assert!(pct <= 100 && s.ends_with('%'), "{s:?} read as {pct}%");
                for pods in [0, 1, 3, 4, 10, 1000, usize::from(u16::MAX)] {
                    assert!(p.unhealthy_limit(pods) <= pods, "{pct}% of {pods}");
                }
            }
            (Err(e), _) => assert!(e.starts_with("maxUnhealthy"), "{e}"),
        }
    }
}

/// `spec.remediation` with every default, as the API server would fill it.
fn remediation_defaults() -> RemediationSpec {
    // An empty object is a valid `spec.remediation`: every field has a default.
    serde_json::from_str("{}").unwrap_or_else(|e| unreachable!("{{}} is a RemediationSpec: {e}"))
}

/// Any JSON as a spec: validation refuses it or yields a policy within every bound the CRD
/// documents, and that policy probes the pod's own IP only, at its ports.
fn whole(data: &[u8]) {
    let Ok(spec) = serde_json::from_slice::<NodeHealthSpec>(data) else {
        return;
    };
    let policy = match policy::validate(&spec) {
        Ok(p) => p,
        Err(e) => {
            assert!(!e.reason().is_empty() && !e.to_string().is_empty());
            return;
        }
    };
    within_bounds(&policy);
    probes_the_pod_only(&policy);
}

fn within_bounds(p: &Policy) {
    let secs = |s: u64| Duration::from_secs(s);
    assert!((secs(1)..=secs(3600)).contains(&p.period), "period {:?}", p.period);
    assert!((secs(1)..=secs(60)).contains(&p.timeout), "timeout {:?}", p.timeout);
    assert!(p.health.is_some() || p.metrics.is_some());
    let a = &p.params;
    assert!(0.0 <= a.unhealthy_below && a.unhealthy_below <= a.degraded_below && a.degraded_below <= 1.0);
    assert!(0.0 <= a.min_progress_rate && a.min_progress_rate < a.max_progress_rate);
    assert!(a.max_progress_rate.is_finite() && a.critical_missed_proposals >= 1.0);
    assert!(a.failure_threshold >= 1 && a.success_threshold >= 1);
    assert!(a.max_height_lag.is_none_or(|lag| lag >= 1.0));
    assert!(p.read.slot_seconds.is_none_or(|s| (1.0..=60.0).contains(&s)));
    if let Some(r) = &p.remediation {
        assert!(r.ladder.windows(2).all(|w| w[0].1 <= w[1].1), "ladder out of order");
        assert!(matches!(r.max_unhealthy, Limit::Count(_) | Limit::Percent(0..=100)));
    }
}

/// Every URL of a validated policy, on a Running pod, goes to the pod's IP at the declared port.
fn probes_the_pod_only(p: &Policy) {
    let names: Vec<&str> = [&p.health, &p.metrics, &p.execution]
        .into_iter()
        .flatten()
        .filter_map(|e| match &e.port {
            IntOrString::String(name) => Some(name.as_str()),
            IntOrString::Int(_) => None,
        })
        .collect();
    let ports: Vec<serde_json::Value> = names
        .iter()
        .zip(FIRST_NAMED_PORT..)
        .map(|(name, port)| serde_json::json!({"name": name, "containerPort": port}))
        .collect();
    let pod = serde_json::json!({
        "metadata": {"name": "validator-0"},
        "spec": {"containers": [{"name": "node", "ports": ports}]},
        "status": {"phase": "Running", "podIP": POD_IP}
    });
    let pod: Pod = serde_json::from_value(pod).unwrap_or_else(|e| unreachable!("a pod as the API writes it: {e}"));
    let target = p
        .target(&pod)
        .unwrap_or_else(|e| panic!("a declared port is not found: {e}"));
    assert!(!target.requests.is_empty());
    for (_, url) in &target.requests {
        let parsed = reqwest::Url::parse(url).unwrap_or_else(|e| panic!("{url:?}: {e}"));
        assert_eq!(parsed.host_str(), Some(POD_IP), "{url:?} leaves the pod");
        assert!(parsed.username().is_empty() && parsed.password().is_none(), "{url:?}");
        let port = parsed.port_or_known_default().unwrap_or_default();
        let declared = [&p.health, &p.metrics, &p.execution]
            .into_iter()
            .flatten()
            .any(|e| match &e.port {
                IntOrString::Int(n) => i32::from(port) == *n,
                IntOrString::String(_) => port >= FIRST_NAMED_PORT,
            });
        assert!(declared, "{url:?} is not at a declared port");
    }
}
