//! The network every validator of the process belongs to: where its head is, as a pure function
//! of its halts and a clock.
//!
//! Ledger positions are counted in *network seconds*: seconds during which the network was live
//! (committing), from the simulator's origin. While the network runs, its head gains one network
//! second per real second; while it is halted (a liveness break) the head stands still. A position
//! maps to the proposer timestamp of the block there: the real time the network reached it, minus
//! the commit lag. So when a halt ends, the head's proposer timestamp jumps to now − the lag
//! (proposer timestamps are clock based), while positions, and the state versions counted from
//! them, continue from where the halt froze them.
//!
//! Positions before the origin are before the process started; no halt is known there, so they
//! map to `origin + position`.
//!
//! The halts are kept, oldest first, because a validator far behind reads proposer timestamps
//! from before older halts: a few dozen bytes per admin request.

/// How far the proposer timestamp of a freshly committed block trails true time: a consensus
/// round plus the commit, about a second on Babylon mainnet.
pub const LEDGER_LAG_SECONDS: f64 = 1.0;
/// Positions within this of a halt's frozen head count as at that head: the head is computed by
/// subtraction, and a position a rounding error past it must not read a post-halt timestamp.
const POSITION_EPSILON: f64 = 1e-6;

/// One liveness break.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Halt {
    /// Real time the network stopped.
    from: f64,
    /// Real time it resumed; `None` while it is still halted.
    until: Option<f64>,
    /// The head while halted (network seconds).
    head: f64,
}

/// The network's history of halts since the simulator's origin.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    origin: f64,
    halts: Vec<Halt>,
}

/// A stretch of real time in which the head either runs (one network second per second) or stands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stretch {
    pub from: f64,
    pub to: f64,
    pub running: bool,
}

impl Network {
    /// A live network whose position 0 is at real time `origin`.
    pub fn new(origin: f64) -> Network {
        Network {
            origin,
            halts: Vec::new(),
        }
    }

    /// Since when the network is halted, if it is.
    pub fn halted_since(&self) -> Option<f64> {
        self.halts.last().filter(|h| h.until.is_none()).map(|h| h.from)
    }

    /// Halts the network at `now` (or resumes it); `false` if it already was so.
    pub fn set_halted(&mut self, halted: bool, now: f64) -> bool {
        // Events stay ordered even if the wall clock steps back between two requests.
        let now = now.max(self.last_event());
        match (halted, self.halts.last_mut()) {
            (true, Some(Halt { until: None, .. })) | (false, None | Some(Halt { until: Some(_), .. })) => false,
            (true, _) => {
                let head = self.head(now);
                self.halts.push(Halt {
                    from: now,
                    until: None,
                    head,
                });
                true
            }
            (false, Some(open)) => {
                open.until = Some(now);
                true
            }
        }
    }

    fn last_event(&self) -> f64 {
        self.halts.last().map_or(self.origin, |h| h.until.unwrap_or(h.from))
    }

    /// The head at real time `t`, in network seconds.
    pub fn head(&self, t: f64) -> f64 {
        let mut stopped = 0.0;
        for h in &self.halts {
            if t <= h.from {
                break;
            }
            match h.until {
                Some(until) if t >= until => stopped += until - h.from,
                // Inside this halt: exactly the frozen head, so that positions there compare equal.
                _ => return h.head,
            }
        }
        t - self.origin - stopped
    }

    /// The last real time at or before `t` at which the head moved (`t` itself while it runs).
    pub fn last_moved(&self, t: f64) -> f64 {
        match self
            .halts
            .iter()
            .find(|h| h.from < t && h.until.is_none_or(|until| t < until))
        {
            Some(h) => h.from,
            None => t,
        }
    }

    /// The real time at which the network reached position `p` (`p` at most the head now).
    pub fn reached_at(&self, p: f64) -> f64 {
        let mut stopped = 0.0;
        for h in &self.halts {
            if p <= h.head + POSITION_EPSILON {
                break;
            }
            match h.until {
                Some(until) => stopped += until - h.from,
                // Past the head of a halt still going on: not reached yet; callers never ask.
                None => break,
            }
        }
        self.origin + p + stopped
    }

    /// Proposer timestamp of the block at position `p`.
    pub fn proposer_ts(&self, p: f64) -> f64 {
        self.reached_at(p) - LEDGER_LAG_SECONDS
    }

    /// The stretches of `[from, to]`, in order, in which the head runs or stands.
    pub fn stretches(&self, from: f64, to: f64) -> Vec<Stretch> {
        let mut out = Vec::new();
        let mut at = from;
        for h in &self.halts {
            let until = h.until.unwrap_or(f64::INFINITY);
            if until <= at {
                continue;
            }
            if h.from >= to {
                break;
            }
            if h.from > at {
                out.push(Stretch {
                    from: at,
                    to: h.from,
                    running: true,
                });
                at = h.from;
            }
            let end = until.min(to);
            if end > at {
                out.push(Stretch {
                    from: at,
                    to: end,
                    running: false,
                });
                at = end;
            }
        }
        if to > at {
            out.push(Stretch {
                from: at,
                to,
                running: true,
            });
        }
        out
    }
}

/// Reads a `POST /network` body: `{"halted": true}` or `{"halted": false}`. The error is a
/// message for the requester, naming the field.
pub fn parse_network_change(body: &serde_json::Value) -> Result<bool, String> {
    let obj = body
        .as_object()
        .ok_or("body must be a JSON object like {\"halted\":true}")?;
    if let Some(k) = obj.keys().find(|k| k.as_str() != "halted") {
        return Err(format!(
            "unknown field {k:?}: /network takes only \"halted\" (true or false)"
        ));
    }
    match obj.get("halted") {
        Some(serde_json::Value::Bool(b)) => Ok(*b),
        Some(_) => Err("halted must be true or false".to_owned()),
        None => Err("halted is required: {\"halted\":true} or {\"halted\":false}".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const T0: f64 = 1_763_798_400.0;

    #[test]
    fn a_live_network_runs_with_the_clock() {
        let n = Network::new(T0);
        assert_eq!(n.head(T0 + 10.0), 10.0);
        assert_eq!(n.reached_at(10.0), T0 + 10.0);
        assert_eq!(n.proposer_ts(10.0), T0 + 10.0 - LEDGER_LAG_SECONDS);
        assert_eq!(n.reached_at(-3600.0), T0 - 3600.0);
        assert_eq!(n.last_moved(T0 + 10.0), T0 + 10.0);
        assert_eq!(n.halted_since(), None);
    }

    #[test]
    fn a_halt_freezes_the_head_and_resumes_at_real_time() {
        let mut n = Network::new(T0);
        assert!(n.set_halted(true, T0 + 100.0));
        assert!(!n.set_halted(true, T0 + 150.0), "already halted");
        assert_eq!(n.halted_since(), Some(T0 + 100.0));
        assert_eq!(n.head(T0 + 100.0), 100.0);
        assert_eq!(n.head(T0 + 250.0), 100.0);
        assert_eq!(n.last_moved(T0 + 250.0), T0 + 100.0);
        assert_eq!(n.proposer_ts(n.head(T0 + 250.0)), T0 + 100.0 - LEDGER_LAG_SECONDS);

        assert!(n.set_halted(false, T0 + 300.0));
        assert!(!n.set_halted(false, T0 + 301.0), "already running");
        assert_eq!(n.halted_since(), None);
        // Positions continue from the frozen head; timestamps from the clock.
        assert_eq!(n.head(T0 + 310.0), 110.0);
        assert_eq!(n.proposer_ts(110.0), T0 + 310.0 - LEDGER_LAG_SECONDS);
        assert_eq!(n.last_moved(T0 + 310.0), T0 + 310.0);
        // A block from before the halt keeps its timestamp, the frozen head included.
        assert_eq!(n.reached_at(50.0), T0 + 50.0);
        assert_eq!(n.reached_at(100.0), T0 + 100.0);
        assert_eq!(n.reached_at(100.0 + 1e-9), T0 + 100.0);
    }

    #[test]
    fn several_halts_add_up() {
        let mut n = Network::new(T0);
        n.set_halted(true, T0 + 10.0);
        n.set_halted(false, T0 + 20.0);
        n.set_halted(true, T0 + 30.0);
        n.set_halted(false, T0 + 50.0);
        assert_eq!(n.head(T0 + 25.0), 15.0);
        assert_eq!(n.head(T0 + 40.0), 20.0);
        assert_eq!(n.head(T0 + 60.0), 30.0);
        assert_eq!(n.reached_at(15.0), T0 + 25.0);
        assert_eq!(n.reached_at(25.0), T0 + 55.0);
        assert_eq!(
            n.stretches(T0 + 5.0, T0 + 60.0),
            vec![
                Stretch {
                    from: T0 + 5.0,
                    to: T0 + 10.0,
                    running: true
                },
                Stretch {
                    from: T0 + 10.0,
                    to: T0 + 20.0,
                    running: false
                },
                Stretch {
                    from: T0 + 20.0,
                    to: T0 + 30.0,
                    running: true
                },
                Stretch {
                    from: T0 + 30.0,
                    to: T0 + 50.0,
                    running: false
                },
                Stretch {
                    from: T0 + 50.0,
                    to: T0 + 60.0,
                    running: true
                },
            ]
        );
        assert_eq!(
            n.stretches(T0 + 35.0, T0 + 40.0),
            vec![Stretch {
                from: T0 + 35.0,
                to: T0 + 40.0,
                running: false
            }]
        );
    }

    #[test]
    fn a_clock_stepping_back_keeps_events_ordered() {
        let mut n = Network::new(T0);
        n.set_halted(true, T0 + 10.0);
        n.set_halted(false, T0 + 5.0);
        assert_eq!(n.halted_since(), None);
        assert_eq!(n.head(T0 + 20.0), 20.0);
    }

    #[test]
    fn network_bodies() {
        assert_eq!(parse_network_change(&json!({"halted": true})), Ok(true));
        assert_eq!(parse_network_change(&json!({"halted": false})), Ok(false));
        for (body, want) in [
            (json!([true]), "JSON object"),
            (json!({}), "halted is required"),
            (json!({"halted": "yes"}), "halted must be true or false"),
            (json!({"halted": true, "since": 3}), "unknown field \"since\""),
        ] {
            let err = parse_network_change(&body).unwrap_err();
            assert!(err.contains(want), "{body}: {err}");
        }
    }
}
