//! `spec.remediation` validated into durations and limits. Pure.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::crd::duration::{self, within};
use crate::crd::{RemediationAction, RemediationSpec};

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// A validated remediation policy.
#[derive(Debug, Clone, PartialEq)]
pub struct RemediationPolicy {
    /// The ladder, in order of `after` (validation refuses a ladder out of order).
    pub ladder: Vec<(RemediationAction, Duration)>,
    pub healthy_for: Duration,
    pub startup_grace: Duration,
    pub max_unhealthy: Limit,
    pub min_interval: Duration,
    pub max_restarts_per_pod: u32,
    pub restart_window: Duration,
    pub dry_run: bool,
    /// The label naming a pod's validator (`instanceLabel`), checked to be a label key.
    pub instance_label: Option<String>,
}

/// `maxUnhealthy`: a count, or a percentage of the selected pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Count(u32),
    Percent(u32),
}

impl RemediationPolicy {
    /// The most unhealthy pods out of `total` for which actions are still allowed.
    ///
    /// Percentages round down (20% of 4 pods is 0: no action with one pod down), because
    /// acting on too many validators is the failure this limit exists to prevent.
    pub fn unhealthy_limit(&self, total: usize) -> usize {
        match self.max_unhealthy {
            Limit::Count(n) => n as usize,
            Limit::Percent(p) => total * p as usize / 100,
        }
    }

    /// No actions, default limits: what releases the records of a removed `spec.remediation`.
    pub fn observe_only() -> Self {
        RemediationPolicy {
            ladder: Vec::new(),
            healthy_for: Duration::from_secs(120),
            startup_grace: Duration::from_secs(600),
            max_unhealthy: Limit::Count(1),
            min_interval: Duration::from_secs(600),
            max_restarts_per_pod: 3,
            restart_window: Duration::from_secs(86_400),
            dry_run: false,
            instance_label: None,
        }
    }

    /// Whether the policy can ever act.
    pub fn acts(&self) -> bool {
        !self.ladder.is_empty()
    }
}

/// Validates `spec.remediation`; the error says which field is wrong and how.
pub fn validate(spec: &RemediationSpec) -> Result<RemediationPolicy, String> {
    let mut ladder = Vec::with_capacity(spec.actions.len());
    for (i, step) in spec.actions.iter().enumerate() {
        let after = duration::parse(&step.after).map_err(|e| format!("actions[{i}].after: {e}"))?;
        if let Some((_, prev)) = ladder.last()
            && after < *prev
        {
            return Err(format!(
                "actions[{i}].after ({}) is shorter than the step before it: list the ladder in order",
                step.after
            ));
        }
        ladder.push((step.action, after));
    }
    let healthy_for = within("healthyFor", &spec.healthy_for, Duration::ZERO, 24 * HOUR)?;
    let startup_grace = within("startupGrace", &spec.startup_grace, Duration::ZERO, 24 * HOUR)?;
    let min_interval = within("minInterval", &spec.min_interval, Duration::ZERO, 168 * HOUR)?;
    let restart_window = within("restartWindow", &spec.restart_window, MINUTE, 720 * HOUR)?;
    let max_unhealthy = match &spec.max_unhealthy {
        IntOrString::Int(n) if *n >= 0 => Limit::Count(*n as u32),
        IntOrString::Int(n) => return Err(format!("maxUnhealthy must not be negative, got {n}")),
        IntOrString::String(s) => match s.strip_suffix('%').map(str::parse::<u32>) {
            Some(Ok(p)) if p <= 100 => Limit::Percent(p),
            _ => {
                return Err(format!(
                    "maxUnhealthy must be a count or a percentage like \"20%\", got {s:?}"
                ));
            }
        },
    };
    if let Some(key) = &spec.instance_label {
        label_key(key).map_err(|why| format!("instanceLabel {key:?} is not a label key: {why}"))?;
    }
    Ok(RemediationPolicy {
        ladder,
        healthy_for,
        startup_grace,
        max_unhealthy,
        min_interval,
        max_restarts_per_pod: spec.max_restarts_per_pod,
        restart_window,
        dry_run: spec.dry_run,
        instance_label: spec.instance_label.clone(),
    })
}

/// Checks a label key as the API server does: an optional DNS subdomain prefix and `/`, then a
/// name of at most 63 letters, digits, `-`, `_` and `.`, starting and ending with a letter or digit.
fn label_key(key: &str) -> Result<(), &'static str> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let edges_alnum = |s: &str| {
        s.starts_with(|c: char| c.is_ascii_alphanumeric()) && s.ends_with(|c: char| c.is_ascii_alphanumeric())
    };
    if name.is_empty() || name.len() > 63 {
        return Err("the name part must have 1 to 63 characters");
    }
    if !edges_alnum(name) || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(
            "the name part takes letters, digits, '-', '_' and '.', and starts and ends with a letter or digit",
        );
    }
    if let Some(p) = prefix {
        let label_ok = |l: &str| {
            !l.is_empty()
                && edges_alnum(l)
                && l.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        };
        if p.len() > 253 || !p.split('.').all(label_ok) {
            return Err("the prefix must be a DNS subdomain (lowercase, at most 253 characters)");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: serde_json::Value) -> RemediationSpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn defaults_observe_only_with_careful_limits() {
        let p = validate(&spec(serde_json::json!({}))).unwrap();
        assert!(!p.acts());
        assert_eq!(p.healthy_for, Duration::from_secs(120));
        assert_eq!(p.startup_grace, Duration::from_secs(600));
        assert_eq!(p.max_unhealthy, Limit::Count(1));
        assert_eq!(p.min_interval, Duration::from_secs(600));
        assert_eq!(p.max_restarts_per_pod, 3);
        assert_eq!(p.restart_window, Duration::from_secs(86_400));
        assert!(!p.dry_run);
    }

    #[test]
    fn percentages_round_down() {
        let p = |v| validate(&spec(v)).unwrap();
        assert_eq!(p(serde_json::json!({"maxUnhealthy": 2})).unhealthy_limit(10), 2);
        assert_eq!(p(serde_json::json!({"maxUnhealthy": "20%"})).unhealthy_limit(10), 2);
        assert_eq!(p(serde_json::json!({"maxUnhealthy": "20%"})).unhealthy_limit(4), 0);
        assert_eq!(p(serde_json::json!({"maxUnhealthy": "34%"})).unhealthy_limit(3), 1);
        assert_eq!(p(serde_json::json!({"maxUnhealthy": "100%"})).unhealthy_limit(3), 3);
    }

    #[test]
    fn bad_specs_say_which_field() {
        let e = |v| validate(&spec(v)).unwrap_err();
        assert!(
            e(serde_json::json!({"actions": [{"action": "Cordon", "after": "5 minutes"}]}))
                .contains("actions[0].after")
        );
        assert!(
            e(serde_json::json!({"actions": [{"action": "RestartPod", "after": "10m"}, {"action": "Cordon", "after": "5m"}]}))
                .contains("in order")
        );
        assert!(e(serde_json::json!({"maxUnhealthy": "half"})).contains("maxUnhealthy"));
        assert!(e(serde_json::json!({"maxUnhealthy": "150%"})).contains("maxUnhealthy"));
        assert!(e(serde_json::json!({"maxUnhealthy": -1})).contains("negative"));
        assert!(e(serde_json::json!({"healthyFor": "2 minutes"})).contains("healthyFor"));
        assert!(e(serde_json::json!({"startupGrace": "25h"})).contains("startupGrace must be within 0s and 24h"));
        assert!(e(serde_json::json!({"minInterval": "200h"})).contains("minInterval"));
        assert!(e(serde_json::json!({"restartWindow": "30s"})).contains("restartWindow must be within 1m and 720h"));
        for bad in [
            "-key",
            "a/b/c",
            "Example.com/key",
            "key!",
            &"k".repeat(64),
            "/key",
            "example.com/",
        ] {
            assert!(
                e(serde_json::json!({"instanceLabel": bad})).contains("instanceLabel"),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_instance_label_is_a_label_key() {
        let p = |v| validate(&spec(v)).unwrap().instance_label;
        assert_eq!(p(serde_json::json!({})), None);
        for good in [
            "validator-key",
            "nodehealth.io/validator",
            "app.kubernetes.io/instance",
            "K_1.x",
        ] {
            assert_eq!(p(serde_json::json!({ "instanceLabel": good })).as_deref(), Some(good));
        }
    }
}
