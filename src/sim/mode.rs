//! What a simulated validator is told to do, and how admin requests say it.
//!
//! Request bodies: `{"mode": "catching_up", "rate": 30, "behind_seconds": 600}` (`syncing` is an
//! alias), `{"mode": "lagging", "behind_seconds": 120}`, `{"mode": "restart"}`,
//! `{"in_validator_set": false}`, or a mode and `in_validator_set` together. Parsed by hand rather
//! than by serde so that every mistake gets a message naming the field and the allowed values.
//!
//! Hostile modes (a broken or malicious endpoint; the validator's ledger stays synced behind it):
//! `{"mode": "slowloris", "byte_interval_ms": 200}`, `{"mode": "endless_body", "interval_ms": 100}`,
//! `{"mode": "oversized", "mb": 1024, "content_length": true}` (1 GiB announced and streamed),
//! `{"mode": "gzip_bomb", "mb": 1024}`, `{"mode": "redirect"}`, `{"mode": "nan_values"}`,
//! `{"mode": "many_series", "series": 100000}`, `{"mode": "invalid_utf8"}`, `{"mode": "silent"}`.
//! Sizes have small defaults and hard bounds: a gigabyte only when a request says so.

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
    /// Both endpoints answer 200 with a body of at least `mb` MiB, streamed; with
    /// `content_length` its exact length is announced up front, else it is chunked.
    Oversized { mb: u64, content_length: bool },
    /// Both endpoints send their answer's head (status line and headers) one byte every
    /// `byte_interval_ms`, then the body: a slowloris answer. Wire name `slowloris`.
    Slowloris { byte_interval_ms: u64 },
    /// Both endpoints answer 200, chunked, with a body that never ends: the page's start, then
    /// padding, a chunk every `interval_ms` (0: as fast as the socket takes it).
    EndlessBody { interval_ms: u64 },
    /// Both endpoints answer 200 with `Content-Encoding: gzip` (asked for or not) and a body of
    /// zeros that inflates to `mb` MiB, about a thousandth of that on the wire.
    GzipBomb { mb: u64 },
    /// Both endpoints answer `302 Found` pointing at another host and port ([`REDIRECT_TO`]).
    Redirect,
    /// Every value of the metrics page is, in turn, `NaN`, `+Inf`, `-Inf` or `-0`; in JSON,
    /// whose numbers cannot be NaN, every number written as a string (`"12345"`) becomes
    /// `"NaN"`, `"+Inf"`, `"-Inf"` or `"-0"`.
    NanValues,
    /// The metrics page carries `series` extra series (the health endpoint is as synced).
    ManySeries { series: u64 },
    /// Every JSON string value and every label value starts with bytes that are not UTF-8.
    InvalidUtf8,
    /// Both ports accept connections and read requests, and never answer.
    Silent,
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
/// `byte_interval_ms` when a `slowloris` request does not say: a 100-byte head takes 20 s, far
/// past any probe timeout.
pub const DEFAULT_BYTE_INTERVAL_MS: u64 = 200;
/// `interval_ms` when an `endless_body` request does not say: 10 chunks a second, a steady
/// trickle that never ends rather than a flood.
pub const DEFAULT_CHUNK_INTERVAL_MS: u64 = 100;
/// Longest pause between two bytes or chunks: a minute.
pub const MAX_INTERVAL_MS: u64 = 60_000;
/// `mb` when a `gzip_bomb` request does not say: a gigabyte inflated, about a megabyte sent.
pub const DEFAULT_BOMB_MB: u64 = 1024;
/// Largest `gzip_bomb`: 16 GiB inflated, some 16 MB on the wire.
pub const MAX_BOMB_MB: u64 = 16 * 1024;
/// `series` when a `many_series` request does not say: 25 times a real Radix page.
pub const DEFAULT_SERIES: u64 = 100_000;
/// Largest `many_series`: ten million, some 400 MB streamed.
pub const MAX_SERIES: u64 = 10_000_000;
/// Where a `redirect` points: TEST-NET-2 (RFC 5737), an address that is never anybody's.
pub const REDIRECT_TO: &str = "http://198.51.100.7:8080";
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
            Mode::Slowloris { .. } => "slowloris",
            Mode::EndlessBody { .. } => "endless_body",
            Mode::GzipBomb { .. } => "gzip_bomb",
            Mode::Redirect => "redirect",
            Mode::NanValues => "nan_values",
            Mode::ManySeries { .. } => "many_series",
            Mode::InvalidUtf8 => "invalid_utf8",
            Mode::Silent => "silent",
        }
    }

    /// Whether the mode answers over HTTP at all. `slowloris` and `silent` work on the raw
    /// connection (an HTTP server cannot send half a head or nothing), so their connections
    /// are taken over from the moment they are accepted.
    pub fn speaks_http(&self) -> bool {
        !matches!(self, Mode::Slowloris { .. } | Mode::Silent)
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
            Mode::Oversized { mb, content_length } => {
                json!({"mode": self.name(), "mb": mb, "content_length": content_length})
            }
            Mode::Slowloris { byte_interval_ms } => json!({"mode": self.name(), "byte_interval_ms": byte_interval_ms}),
            Mode::EndlessBody { interval_ms } => json!({"mode": self.name(), "interval_ms": interval_ms}),
            Mode::GzipBomb { mb } => json!({"mode": self.name(), "mb": mb}),
            Mode::ManySeries { series } => json!({"mode": self.name(), "series": series}),
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
                          unreachable, slow, http500, malformed, oversized, slowloris, endless_body, gzip_bomb, \
                          redirect, nan_values, many_series, invalid_utf8, silent, restart";

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
        "synced" | "stalled" | "no_peers" | "booting" | "unreachable" | "http500" | "malformed" | "redirect"
        | "nan_values" | "invalid_utf8" | "silent" => {
            allow_fields(obj, name, &[])?;
            match name {
                "synced" => Mode::Synced,
                "stalled" => Mode::Stalled,
                "no_peers" => Mode::NoPeers,
                "booting" => Mode::Booting,
                "unreachable" => Mode::Unreachable,
                "http500" => Mode::Http500,
                "redirect" => Mode::Redirect,
                "nan_values" => Mode::NanValues,
                "invalid_utf8" => Mode::InvalidUtf8,
                "silent" => Mode::Silent,
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
            allow_fields(obj, name, &["mb", "content_length"])?;
            let mb = bounded(obj, "mb", DEFAULT_OVERSIZED_MB, 1, MAX_OVERSIZED_MB)?;
            let content_length = match obj.get("content_length") {
                None => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err("content_length must be true or false".to_owned()),
            };
            Mode::Oversized { mb, content_length }
        }
        "slowloris" => {
            allow_fields(obj, name, &["byte_interval_ms"])?;
            let byte_interval_ms = bounded(obj, "byte_interval_ms", DEFAULT_BYTE_INTERVAL_MS, 1, MAX_INTERVAL_MS)?;
            Mode::Slowloris { byte_interval_ms }
        }
        "endless_body" => {
            allow_fields(obj, name, &["interval_ms"])?;
            let interval_ms = bounded(obj, "interval_ms", DEFAULT_CHUNK_INTERVAL_MS, 0, MAX_INTERVAL_MS)?;
            Mode::EndlessBody { interval_ms }
        }
        "gzip_bomb" => {
            allow_fields(obj, name, &["mb"])?;
            Mode::GzipBomb {
                mb: bounded(obj, "mb", DEFAULT_BOMB_MB, 1, MAX_BOMB_MB)?,
            }
        }
        "many_series" => {
            allow_fields(obj, name, &["series"])?;
            Mode::ManySeries {
                series: bounded(obj, "series", DEFAULT_SERIES, 1, MAX_SERIES)?,
            }
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

/// An integer field within `min..=max`, `default` when absent.
fn bounded(obj: &Map<String, Value>, field: &str, default: u64, min: u64, max: u64) -> Result<u64, String> {
    let n = integer(obj, field)?.unwrap_or(default);
    if !(min..=max).contains(&n) {
        return Err(format!("{field} must be between {min} and {max}, got {n}"));
    }
    Ok(n)
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
            Mode::Oversized {
                mb: 3,
                content_length: false,
            },
            Mode::Oversized {
                mb: 1024,
                content_length: true,
            },
            Mode::Slowloris { byte_interval_ms: 50 },
            Mode::EndlessBody { interval_ms: 0 },
            Mode::GzipBomb { mb: 2048 },
            Mode::Redirect,
            Mode::NanValues,
            Mode::ManySeries { series: 7 },
            Mode::InvalidUtf8,
            Mode::Silent,
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
                mb: DEFAULT_OVERSIZED_MB,
                content_length: false,
            }))
        );
        assert_eq!(c.in_validator_set, Some(false));
        assert_eq!(parse(json!({"mode": "restart"})).unwrap().action, Some(Action::Restart));
        assert_eq!(parse(json!({"in_validator_set": true})).unwrap().action, None);
        // Hostile modes: small defaults; a gigabyte only when asked.
        let defaults = [
            (
                "slowloris",
                Mode::Slowloris {
                    byte_interval_ms: DEFAULT_BYTE_INTERVAL_MS,
                },
            ),
            (
                "endless_body",
                Mode::EndlessBody {
                    interval_ms: DEFAULT_CHUNK_INTERVAL_MS,
                },
            ),
            ("gzip_bomb", Mode::GzipBomb { mb: DEFAULT_BOMB_MB }),
            ("many_series", Mode::ManySeries { series: DEFAULT_SERIES }),
        ];
        for (name, mode) in defaults {
            assert_eq!(parse(json!({"mode": name})).unwrap().action, Some(Action::Mode(mode)));
        }
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
                // A port that accepts and never answers is open.
                assert!(Mode::Silent.serves(profile, endpoint));
            }
        }
        assert!(!Mode::Silent.speaks_http() && !Mode::Slowloris { byte_interval_ms: 1 }.speaks_http());
        assert!(Mode::Redirect.speaks_http() && Mode::Synced.speaks_http());
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
            (
                json!({"mode": "oversized", "mb": 5000}),
                "mb must be between 1 and 4096",
            ),
            (
                json!({"mode": "oversized", "content_length": 1}),
                "content_length must be true or false",
            ),
            (json!({"mode": "oversized", "length": true}), "takes mb, content_length"),
            (
                json!({"mode": "slowloris", "byte_interval_ms": 0}),
                "between 1 and 60000",
            ),
            (json!({"mode": "endless_body", "interval": 5}), "takes interval_ms"),
            (
                json!({"mode": "gzip_bomb", "mb": 1_000_000}),
                "mb must be between 1 and 16384",
            ),
            (json!({"mode": "many_series", "series": 0}), "series must be between"),
            (json!({"mode": "silent", "delay_ms": 5}), "takes no parameters"),
            (json!({"in_validator_set": "no"}), "true or false"),
        ];
        for (body, want) in cases {
            let err = parse(body.clone()).unwrap_err();
            assert!(err.contains(want), "{body}: {err}");
        }
    }
}
