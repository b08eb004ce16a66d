//! `spec.remediation` validated into durations and limits. Pure.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::crd::{RemediationAction, RemediationSpec};

/// A validated remediation policy.
#[derive(Debug, Clone, PartialEq)]
pub struct RemediationPolicy {
    /// The ladder, in order of `after` (validation refuses a ladder out of order).
    pub ladder: Vec<(RemediationAction, Duration)>,
    pub healthy_for: Duration,
    pub startup_grace: Duration,
    pub max_unhealthy: Limit,
    pub max_unhealthy_percent: Option<u32>,
    pub min_interval: Duration,
    pub max_restarts_per_pod: u32,
    pub restart_window: Duration,
    pub dry_run: bool,
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
    /// acting on too many validators is the failure this limit exists to prevent. With both
    /// a count and a percentage, the smaller limit wins.
    pub fn unhealthy_limit(&self, total: usize) -> usize {
        let pct = |p: u32| total * p as usize / 100;
        let first = match self.max_unhealthy {
            Limit::Count(n) => n as usize,
            Limit::Percent(p) => pct(p),
        };
        self.max_unhealthy_percent.map_or(first, |p| first.min(pct(p)))
    }

    /// No actions, default limits: what releases the records of a removed `spec.remediation`.
    pub fn observe_only() -> Self {
        RemediationPolicy {
            ladder: Vec::new(),
            healthy_for: Duration::from_secs(120),
            startup_grace: Duration::from_secs(600),
            max_unhealthy: Limit::Count(1),
            max_unhealthy_percent: None,
            min_interval: Duration::from_secs(600),
            max_restarts_per_pod: 3,
            restart_window: Duration::from_secs(86_400),
            dry_run: false,
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
        let after = parse_duration(&step.after).map_err(|e| format!("actions[{i}].after: {e}"))?;
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
    let healthy_for = parse_duration(&spec.healthy_for).map_err(|e| format!("healthyFor: {e}"))?;
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
    if spec.max_unhealthy_percent.is_some_and(|p| p > 100) {
        return Err("maxUnhealthyPercent must be at most 100".to_owned());
    }
    if spec.restart_window_seconds == 0 {
        return Err("restartWindowSeconds must be at least 1".to_owned());
    }
    Ok(RemediationPolicy {
        ladder,
        healthy_for,
        startup_grace: Duration::from_secs(spec.startup_grace_seconds.into()),
        max_unhealthy,
        max_unhealthy_percent: spec.max_unhealthy_percent,
        min_interval: Duration::from_secs(spec.min_interval_seconds.into()),
        max_restarts_per_pod: spec.max_restarts_per_pod,
        restart_window: Duration::from_secs(spec.restart_window_seconds.into()),
        dry_run: spec.dry_run,
    })
}

/// Parses `1h30m`, `5m`, `90s`, `0s`: hours, minutes, seconds in that order, each optional,
/// at least one present (the subset of Go durations that whole seconds need).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration like \"90s\", \"5m\" or \"1h30m\"");
    let mut rest = s;
    let mut total: u64 = 0;
    let mut last_unit = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        let (unit, scale) = match rest[digits..].chars().next() {
            Some('h') => (1, 3600),
            Some('m') => (2, 60),
            Some('s') => (3, 1),
            _ => return Err(bad()),
        };
        if unit <= last_unit {
            return Err(bad());
        }
        last_unit = unit;
        total = n
            .checked_mul(scale)
            .and_then(|x| total.checked_add(x))
            .ok_or_else(bad)?;
        rest = &rest[digits + 1..];
    }
    if last_unit == 0 {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: serde_json::Value) -> RemediationSpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn durations_parse_like_kubernetes_writes_them() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1h0m5s"), Ok(Duration::from_secs(3605)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        for bad in [
            "",
            "5",
            "m",
            "5x",
            "30s5m",
            "1h1h",
            "-5m",
            "5 m",
            "99999999999999999999h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
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
    fn limits_round_down_and_the_stricter_wins() {
        let p = |v| validate(&spec(v)).unwrap();
        assert_eq!(p(serde_json::json!({"maxUnhealthy": 2})).unhealthy_limit(10), 2);
        assert_eq!(p(serde_json::json!({"maxUnhealthy": "20%"})).unhealthy_limit(10), 2);
        assert_eq!(p(serde_json::json!({"maxUnhealthy": "20%"})).unhealthy_limit(4), 0);
        assert_eq!(p(serde_json::json!({"maxUnhealthy": "34%"})).unhealthy_limit(3), 1);
        let both = p(serde_json::json!({"maxUnhealthy": 3, "maxUnhealthyPercent": 10}));
        assert_eq!(both.unhealthy_limit(20), 2);
        assert_eq!(both.unhealthy_limit(100), 3);
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
    }
}
