//! What a simulated validator is told to do, and how admin requests say it.
//!
//! Request bodies: `{"mode": "catching_up", "rate": 30, "behind_seconds": 600}` (`syncing` is an
//! alias), `{"mode": "lagging", "behind_seconds": 120}`, `{"mode": "restart"}`,
//! `{"in_validator_set": false}`, or a mode and `in_validator_set` together. Parsed by hand rather
//! than by serde so that every mistake gets a message naming the field and the allowed values.

use serde_json::{Map, Value, json};

use crate::sim::{Endpoint, Profile};

/// A validator's lasting behaviour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// Follows the network, about a second behind it.
    Synced,
    /// Starts `behind_seconds` behind the network's head and advances at `rate` × real time: gains
    /// on the head for rate > 1 (then follows it), falls further behind for rate < 1. Wire name
    /// `catching_up`, alias `syncing`.
    CatchingUp { rate: f64, behind_seconds: f64 },
    /// Trails the network's head by a constant `behind_seconds`, at the network's pace: it is
    /// where the head was `behind_seconds` ago.
    Lagging { behind_seconds: f64 },
    /// Ledger frozen while the process still answers; the node keeps its last progress rate.
    Stalled,
    /// Pre-genesis: ledger gauges 0. A Radix node has not opened its metrics port yet.
    Booting,
    /// Synced by its own ledger, but with no peer connected (chains that report peers say 0).
    NoPeers,
    /// Synced, but `n` of its recent proposals were missed.
    MissingProposals { n: u64 },
    /// Synced, with the node's wall clock `seconds` ahead (negative: behind) of true time.
    ClockSkew { seconds: f64 },
    /// Both ports closed: connection refused.
    Unreachable,
    /// Synced, answering every request after `delay_ms`.
    Slow { delay_ms: u64 },
    /// Both endpoints answer 500.
    Http500,
    /// Both endpoints answer 200 with a body that does not parse.
    Malformed,
    /// Both endpoints answer 200 with a body of at least `mb` MiB.
    Oversized { mb: u64 },
}

/// `behind_seconds` when a `catching_up` request does not say: an hour, a typical pod restored from
/// a day-old snapshot having caught up most of the way (brief's default).
pub const DEFAULT_BEHIND_SECONDS: f64 = 3600.0;
/// `mb` when an `oversized` request does not say (brief's default): well over any sane probe limit.
pub const DEFAULT_OVERSIZED_MB: u64 = 32;
/// Largest `oversized` body: a bound so a typo cannot make the simulator stream for minutes.
pub const MAX_OVERSIZED_MB: u64 = 4096;
/// Longest `slow` delay: ten minutes, longer than any probe timeout worth testing.
pub const MAX_DELAY_MS: u64 = 600_000;
/// Proposals a Radix node tracks for `recent_self_proposal_miss_statistic` (babylon-node: 50).
pub const RECENT_PROPOSALS_TRACKED: u64 = 50;
/// Largest `catching_up` rate: far above any real catch-up speed (a few hundred × real time).
const MAX_RATE: f64 = 1.0e6;
/// Largest |skew| and `behind_seconds`: ten years, beyond which figures stop meaning anything.
const MAX_SECONDS: f64 = 10.0 * 365.0 * 86_400.0;

impl Mode {
    /// The wire name.
    pub fn name(&self) -> &'static str {
        match self {
            Mode::Synced => "synced",
            Mode::CatchingUp { .. } => "catching_up",
            Mode::Lagging { .. } => "lagging",
            Mode::Stalled => "stalled",
            Mode::NoPeers => "no_peers",
            Mode::Booting => "booting",
            Mode::MissingProposals { .. } => "missing_proposals",
            Mode::ClockSkew { .. } => "clock_skew",
            Mode::Unreachable => "unreachable",
            Mode::Slow { .. } => "slow",
            Mode::Http500 => "http500",
            Mode::Malformed => "malformed",
            Mode::Oversized { .. } => "oversized",
        }
    }

    /// The mode as an admin request would write it.
    pub fn to_json(&self) -> Value {
        match *self {
            Mode::CatchingUp { rate, behind_seconds } => {
                json!({"mode": self.name(), "rate": rate, "behind_seconds": behind_seconds})
            }
            Mode::Lagging { behind_seconds } => json!({"mode": self.name(), "behind_seconds": behind_seconds}),
            Mode::MissingProposals { n } => json!({"mode": self.name(), "n": n}),
            Mode::ClockSkew { seconds } => json!({"mode": self.name(), "seconds": seconds}),
            Mode::Slow { delay_ms } => json!({"mode": self.name(), "delay_ms": delay_ms}),
            Mode::Oversized { mb } => json!({"mode": self.name(), "mb": mb}),
            _ => json!({"mode": self.name()}),
        }
    }

    /// Whether the validator's `endpoint` port is open in `profile`. Radix: "if the Node's process
    /// runs, but has not yet opened the Prometheus port" (the node's health document), so a
    /// booting Radix node answers `/system/health` but refuses metrics connections; a booting
    /// zksync node serves both (its health says `not_ready`).
    pub fn serves(&self, profile: Profile, endpoint: Endpoint) -> bool {
        !matches!(
            (self, profile, endpoint),
            (Mode::Unreachable, _, _) | (Mode::Booting, Profile::Radix, Endpoint::Metrics)
        )
    }

    /// The node's clock offset from true time.
    pub fn clock_skew(&self) -> f64 {
        match *self {
            Mode::ClockSkew { seconds } => seconds,
            _ => 0.0,
        }
    }
}

/// A mode, or the `restart` action.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    Mode(Mode),
    /// A fresh process: counters to 0, new `_created` times, mode synced.
    Restart,
}

/// One admin request: what to do, and/or whether the validator is in the validator set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    pub action: Option<Action>,
    pub in_validator_set: Option<bool>,
}

/// Every mode name, for error messages.
const MODE_NAMES: &str = "synced, catching_up (alias syncing), lagging, stalled, booting, missing_proposals, clock_skew, \
                          unreachable, slow, http500, malformed, oversized, restart";

/// Reads an admin request body. The error is a message for the requester.
pub fn parse_change(body: &Value) -> Result<Change, String> {
    let obj = body
        .as_object()
        .ok_or("body must be a JSON object like {\"mode\":\"synced\"}")?;
    let in_validator_set = match obj.get("in_validator_set") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err("in_validator_set must be true or false".to_owned()),
    };
    let action = match obj.get("mode") {
        None => None,
        Some(Value::String(name)) => Some(parse_action(name, obj)?),
        Some(_) => return Err(format!("mode must be a string, one of: {MODE_NAMES}")),
    };
    if action.is_none() && in_validator_set.is_none() {
        return Err("nothing to change: give \"mode\" and/or \"in_validator_set\"".to_owned());
    }
    Ok(Change {
        action,
        in_validator_set,
    })
}

fn parse_action(name: &str, obj: &Map<String, Value>) -> Result<Action, String> {
    let mode = match name {
        "restart" => {
            allow_fields(obj, name, &[])?;
            return Ok(Action::Restart);
        }
        "synced" | "stalled" | "no_peers" | "booting" | "unreachable" | "http500" | "malformed" => {
            allow_fields(obj, name, &[])?;
            match name {
                "synced" => Mode::Synced,
                "stalled" => Mode::Stalled,
                "no_peers" => Mode::NoPeers,
                "booting" => Mode::Booting,
                "unreachable" => Mode::Unreachable,
                "http500" => Mode::Http500,
                _ => Mode::Malformed,
            }
        }
        "catching_up" | "syncing" => {
            allow_fields(obj, name, &["rate", "behind_seconds"])?;
            let rate = number(obj, "rate")?
                .ok_or_else(|| format!("{name} needs \"rate\" (ledger seconds per real second, > 0)"))?;
            if !(rate > 0.0 && rate <= MAX_RATE) {
                return Err(format!("rate must be > 0 and <= {MAX_RATE}, got {rate}"));
            }
            let behind_seconds = behind_seconds(obj)?.unwrap_or(DEFAULT_BEHIND_SECONDS);
            Mode::CatchingUp { rate, behind_seconds }
        }
        "lagging" => {
            allow_fields(obj, name, &["behind_seconds"])?;
            let behind_seconds =
                behind_seconds(obj)?.ok_or("lagging needs \"behind_seconds\" (its constant lag behind the head)")?;
            Mode::Lagging { behind_seconds }
        }
        "missing_proposals" => {
            allow_fields(obj, name, &["n"])?;
            let n = integer(obj, "n")?.ok_or("missing_proposals needs \"n\" (recent misses)")?;
            if n > RECENT_PROPOSALS_TRACKED {
                return Err(format!(
                    "n must be <= {RECENT_PROPOSALS_TRACKED} (proposals tracked), got {n}"
                ));
            }
            Mode::MissingProposals { n }
        }
        "clock_skew" => {
            allow_fields(obj, name, &["seconds"])?;
            let seconds = number(obj, "seconds")?.ok_or("clock_skew needs \"seconds\" (+ ahead, - behind)")?;
            if !(-MAX_SECONDS..=MAX_SECONDS).contains(&seconds) {
                return Err(format!("seconds must be within ±{MAX_SECONDS}, got {seconds}"));
            }
            Mode::ClockSkew { seconds }
        }
        "slow" => {
            allow_fields(obj, name, &["delay_ms"])?;
            let delay_ms = integer(obj, "delay_ms")?.ok_or("slow needs \"delay_ms\"")?;
            if delay_ms > MAX_DELAY_MS {
                return Err(format!("delay_ms must be <= {MAX_DELAY_MS}, got {delay_ms}"));
            }
            Mode::Slow { delay_ms }
        }
        "oversized" => {
            allow_fields(obj, name, &["mb"])?;
            let mb = integer(obj, "mb")?.unwrap_or(DEFAULT_OVERSIZED_MB);
            if !(1..=MAX_OVERSIZED_MB).contains(&mb) {
                return Err(format!("mb must be between 1 and {MAX_OVERSIZED_MB}, got {mb}"));
            }
            Mode::Oversized { mb }
        }
        other => return Err(format!("unknown mode {other:?}; one of: {MODE_NAMES}")),
    };
    Ok(Action::Mode(mode))
}

/// Rejects fields the mode does not take: a typo (`"delay"` for `"delay_ms"`) must not pass silently.
fn allow_fields(obj: &Map<String, Value>, mode: &str, allowed: &[&str]) -> Result<(), String> {
    match obj
        .keys()
        .find(|k| !matches!(k.as_str(), "mode" | "in_validator_set") && !allowed.contains(&k.as_str()))
    {
        None => Ok(()),
        Some(k) if allowed.is_empty() => Err(format!("mode {mode} takes no parameters, got {k:?}")),
        Some(k) => Err(format!("mode {mode} takes {}, got {k:?}", allowed.join(", "))),
    }
}

fn behind_seconds(obj: &Map<String, Value>) -> Result<Option<f64>, String> {
    let Some(s) = number(obj, "behind_seconds")? else {
        return Ok(None);
    };
    if !(0.0..=MAX_SECONDS).contains(&s) {
        return Err(format!("behind_seconds must be between 0 and {MAX_SECONDS}, got {s}"));
    }
    Ok(Some(s))
}

fn number(obj: &Map<String, Value>, field: &str) -> Result<Option<f64>, String> {
    match obj.get(field) {
        None => Ok(None),
        Some(v) => v.as_f64().map(Some).ok_or_else(|| format!("{field} must be a number")),
    }
}

fn integer(obj: &Map<String, Value>, field: &str) -> Result<Option<u64>, String> {
    match obj.get(field) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("{field} must be a non-negative integer")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<Change, String> {
        parse_change(&v)
    }

    #[test]
    fn modes_round_trip_through_json() {
        for mode in [
            Mode::Synced,
            Mode::CatchingUp {
                rate: 30.0,
                behind_seconds: 600.0,
            },
            Mode::CatchingUp {
                rate: 0.5,
                behind_seconds: 0.0,
            },
            Mode::Lagging { behind_seconds: 120.0 },
            Mode::Stalled,
            Mode::NoPeers,
            Mode::Booting,
            Mode::MissingProposals { n: 2 },
            Mode::ClockSkew { seconds: -7.5 },
            Mode::Unreachable,
            Mode::Slow { delay_ms: 5000 },
            Mode::Http500,
            Mode::Malformed,
            Mode::Oversized { mb: 3 },
        ] {
            let change = parse(mode.to_json()).unwrap();
            assert_eq!(change.action, Some(Action::Mode(mode)));
            assert_eq!(change.in_validator_set, None);
        }
    }

    #[test]
    fn defaults_and_combined_fields() {
        let c = parse(json!({"mode": "catching_up", "rate": 30})).unwrap();
        let default = Some(Action::Mode(Mode::CatchingUp {
            rate: 30.0,
            behind_seconds: DEFAULT_BEHIND_SECONDS,
        }));
        assert_eq!(c.action, default);
        // `syncing` is the same mode, written back under its new name.
        let c = parse(json!({"mode": "syncing", "rate": 30})).unwrap();
        assert_eq!(c.action, default);
        let Some(Action::Mode(mode)) = c.action else { panic!() };
        assert_eq!(mode.to_json()["mode"], "catching_up");
        let c = parse(json!({"mode": "catching_up", "rate": 0.25, "behind_seconds": 10})).unwrap();
        assert_eq!(
            c.action,
            Some(Action::Mode(Mode::CatchingUp {
                rate: 0.25,
                behind_seconds: 10.0
            }))
        );
        let c = parse(json!({"mode": "oversized", "in_validator_set": false})).unwrap();
        assert_eq!(
            c.action,
            Some(Action::Mode(Mode::Oversized {
                mb: DEFAULT_OVERSIZED_MB
            }))
        );
        assert_eq!(c.in_validator_set, Some(false));
        assert_eq!(parse(json!({"mode": "restart"})).unwrap().action, Some(Action::Restart));
        assert_eq!(parse(json!({"in_validator_set": true})).unwrap().action, None);
    }

    #[test]
    fn open_ports_follow_the_mode() {
        use Endpoint::{Health, Metrics};
        assert!(Mode::Synced.serves(Profile::Radix, Metrics));
        // Radix booting: the process answers its system API, the Prometheus port is not open yet.
        assert!(Mode::Booting.serves(Profile::Radix, Health));
        assert!(!Mode::Booting.serves(Profile::Radix, Metrics));
        assert!(Mode::Booting.serves(Profile::Zksync, Health));
        assert!(Mode::Booting.serves(Profile::Zksync, Metrics));
        for profile in [Profile::Radix, Profile::Zksync] {
            for endpoint in Endpoint::ALL {
                assert!(!Mode::Unreachable.serves(profile, endpoint));
                assert!(Mode::Lagging { behind_seconds: 5.0 }.serves(profile, endpoint));
            }
        }
    }

    #[test]
    fn bad_input_says_what_is_wrong() {
        let cases = [
            (json!([1]), "JSON object"),
            (json!({}), "nothing to change"),
            (json!({"mode": "sleepy"}), "unknown mode"),
            (json!({"mode": 3}), "must be a string"),
            (json!({"mode": "syncing"}), "syncing needs \"rate\""),
            (json!({"mode": "catching_up"}), "catching_up needs \"rate\""),
            (json!({"mode": "catching_up", "rate": 0}), "rate must be > 0"),
            (json!({"mode": "catching_up", "rate": -1}), "rate must be > 0"),
            (json!({"mode": "catching_up", "rate": "fast"}), "rate must be a number"),
            (json!({"mode": "lagging"}), "lagging needs \"behind_seconds\""),
            (
                json!({"mode": "lagging", "behind_seconds": -5}),
                "behind_seconds must be between",
            ),
            (
                json!({"mode": "lagging", "behind_seconds": 5, "rate": 2}),
                "lagging takes behind_seconds",
            ),
            (
                json!({"mode": "syncing", "rate": 2, "behind_seconds": -1}),
                "behind_seconds",
            ),
            (json!({"mode": "slow", "delay": 5}), "takes delay_ms"),
            (json!({"mode": "slow", "delay_ms": -5}), "non-negative integer"),
            (json!({"mode": "stalled", "rate": 1}), "takes no parameters"),
            (json!({"mode": "missing_proposals", "n": 51}), "<= 50"),
            (json!({"mode": "oversized", "mb": 0}), "mb must be"),
            (json!({"in_validator_set": "no"}), "true or false"),
        ];
        for (body, want) in cases {
            let err = parse(body.clone()).unwrap_err();
            assert!(err.contains(want), "{body}: {err}");
        }
    }
}
