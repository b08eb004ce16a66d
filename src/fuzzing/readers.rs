//! Every chain's reader (`Profile::read`), the JSON-RPC envelope and the rules, on any answers
//! to any of a chain's requests: what a node, or anything listening on its port, may send.
//!
//! Input: a selector byte, then one chunk per request of the profile, in
//! [`Profile::requests`]'s order, separated by `0xFF` (a byte UTF-8 text never holds, so JSON
//! and metrics bodies pass whole). A chunk's first byte picks its outcome from [`OUTCOMES`]
//! (modulo its length), the rest is the body. A request without a chunk is not made, as when a
//! policy does not configure its API.
//!
//! The selector: the profile is `selector % 6` in [`PROFILES`]' order; then
//! `selector / 6` holds flags: 1 a CometBFT metrics namespace of `tendermint`, 2 a 6 s slot, 4
//! the operator's clock in 2025 (the Radix fixture's) instead of 2021 (the CometBFT fixtures').

use bytes::Bytes;

use crate::assess::{History, Params, assess, fleet};
use crate::chains::jsonrpc::{self, MAX_ECHOED};
use crate::chains::zksync::health::MAX_COMPONENTS;
use crate::chains::{Profile, ReadOptions};
use crate::model::{Answer, Observation, PodVerdict, ProbeFailure, Reading, Scrape, Status, TOO_MANY_OPEN_FILES};

use super::MAX_ERROR_CHARS;

/// Separates the chunks of an input.
pub const SEPARATOR: u8 = 0xFF;

/// The profiles, as the selector byte picks them.
pub const PROFILES: [Profile; 6] = [
    Profile::Radix,
    Profile::Zksync,
    Profile::Cometbft,
    Profile::Ethereum,
    Profile::Solana,
    Profile::Substrate,
];

/// What a request gave.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    /// An answer with this code; the chunk's rest is its body.
    Code(u16),
    /// A failure of this kind and message; `true` when nothing answered at all.
    Failed(&'static str, &'static str, bool),
    /// The request is not made.
    Absent,
}

/// What a chunk's first byte picks: mostly answers, with the codes the readers tell apart
/// (206: a syncing beacon node; 404 and 500: Substrate's readiness; 299 and 599: the edges of
/// zksync's 20x and 50x), and each kind of failure the probe reports.
const OUTCOMES: [Outcome; 16] = [
    Outcome::Code(200),
    Outcome::Code(200),
    Outcome::Code(200),
    Outcome::Code(503),
    Outcome::Code(500),
    Outcome::Code(206),
    Outcome::Code(404),
    Outcome::Code(204),
    Outcome::Code(301),
    Outcome::Code(299),
    Outcome::Code(599),
    Outcome::Failed("ConnectionRefused", "connection refused", true),
    Outcome::Failed("Timeout", "timed out after 3s", true),
    Outcome::Failed("BodyTooLarge", "body larger than 4 MiB", false),
    Outcome::Failed(TOO_MANY_OPEN_FILES, "too many open files", false),
    Outcome::Absent,
];

/// 2021-03-25T14:01:00Z: a minute after the block time of the CometBFT fixtures.
const AT_FIXTURES: f64 = 1_616_680_860.0;
/// 2025-11-22T08:00:00Z: a second after the last ledger update of the Radix fixture.
const AT_RECENT: f64 = 1_763_798_400.0;
/// Seconds between the scrapes of one pod the rules see: three span the operator's shortest
/// trusted span (60 s of the default 300 s window), so its own observation of progress runs.
const PERIOD: f64 = 45.0;

/// Reads no more than 16 sentences from one scrape: about 7 per chain at most, and zksync lists
/// a few components before it counts the rest.
pub const MAX_READING_REASONS: usize = 16;
/// The rules add at most a handful: booting, the network, the clock, proposals, the fleet.
pub const MAX_VERDICT_REASONS: usize = MAX_READING_REASONS + 8;
/// A reason is a sentence, never a body: the longest possible holds two numbers up to
/// `f64::MAX` written whole (309 digits each) and a few bounded echoes of a node's words.
pub const MAX_REASON_CHARS: usize = 1024;

/// The profile, read options and scrape an input stands for.
pub fn decode_scrape(data: &[u8]) -> (Profile, ReadOptions, Scrape) {
    let (selector, rest) = data.split_first().map_or((0, data), |(s, rest)| (*s, rest));
    let profile = PROFILES[usize::from(selector) % PROFILES.len()];
    let flags = usize::from(selector) / PROFILES.len();
    let options = ReadOptions {
        metrics_namespace: (flags & 1 != 0).then(|| "tendermint".to_owned()),
        slot_seconds: (flags & 2 != 0).then_some(6.0),
    };
    let at = if flags & 4 != 0 { AT_RECENT } else { AT_FIXTURES };
    let mut chunks = rest.split(|b| *b == SEPARATOR);
    let answers = profile
        .requests()
        .iter()
        .map_while(|request| Some((*request, chunks.next()?)))
        .filter_map(|(request, chunk)| {
            let (pick, body) = chunk.split_first().map_or((0, chunk), |(p, body)| (*p, body));
            let fetched = match OUTCOMES[usize::from(pick) % OUTCOMES.len()] {
                Outcome::Code(code) => Ok(Answer {
                    code,
                    body: Bytes::copy_from_slice(body),
                }),
                Outcome::Failed(kind, message, no_answer) => Err(ProbeFailure {
                    kind,
                    message: message.to_owned(),
                    no_answer,
                }),
                Outcome::Absent => return None,
            };
            Some((request, fetched))
        })
        .collect();
    (profile, options, Scrape { at, answers })
}

/// Reads the scrape, checks the reading, then has the rules judge it three periods in a row
/// and against a fleet, checking every verdict.
pub fn readers(data: &[u8]) {
    let (profile, options, scrape) = decode_scrape(data);
    let obs = profile.read(&scrape, &options);
    match &obs.reading {
        Ok(r) => well_formed_reading(r),
        Err(_) => assert!(scrape.no_answer(), "nothing read though something answered"),
    }
    assert_eq!(
        obs,
        profile.read(&scrape, &options),
        "a reading is a function of its scrape"
    );
    for (_, fetched) in &scrape.answers {
        if let Ok(a) = fetched {
            envelope(&a.body);
        }
    }
    let params = Params {
        max_height_lag: profile.default_max_height_lag().map(f64::from),
        ..Params::default()
    };
    let mut history = History::new();
    let mut judge = |step: u32| {
        let seen = Observation {
            at: obs.at + PERIOD * f64::from(step),
            reading: obs.reading.clone(),
        };
        let v = assess(&mut history, &seen, &params);
        well_formed_verdict(&v);
        if let Ok(r) = &seen.reading {
            // An unreadable or bad answer never makes a pod look healthier than its word.
            assert!(v.status >= r.status.unwrap_or(Status::Ready), "{v:?} better than {r:?}");
        }
        v
    };
    judge(0);
    judge(1);
    let mut mine = judge(2);
    // Beside a peer at the same height and one far behind it.
    let mut same = mine.clone();
    let mut behind = mine.clone();
    behind.figures.state_version = Some(0.0);
    let mut fleet_of = [("pod-0", &mut mine), ("pod-1", &mut same), ("pod-2", &mut behind)];
    fleet::judge(&mut fleet_of, params.max_height_lag.unwrap_or(10.0));
    for (_, v) in fleet_of {
        well_formed_verdict(v);
    }
}

/// The JSON-RPC envelope of any body: a bounded error, or the node's message echoed bounded.
fn envelope(body: &[u8]) {
    match jsonrpc::envelope(body) {
        Ok(jsonrpc::Answer::Error { message, .. }) => {
            assert!(message.chars().count() <= MAX_ECHOED + 1, "{message:?}");
        }
        Ok(jsonrpc::Answer::Result(_)) => {}
        Err(e) => assert!(e.chars().count() <= MAX_ERROR_CHARS, "{e}"),
    }
    match jsonrpc::object_result(body) {
        Ok(v) => assert!(v.is_object()),
        Err(e) => assert!(e.chars().count() <= MAX_ERROR_CHARS, "{e}"),
    }
}

fn well_formed_reading(r: &Reading) {
    let Reading {
        status: _,
        components,
        claimed_sync: _,
        booting,
        head,
        target,
        target_source: _,
        clock,
        reported_rate,
        reported_factor,
        in_validator_set: _,
        missed_proposals,
        peer_clock_offsets,
        skipped_rounds,
        counters,
        reasons,
    } = r;
    // Heights and times are points of a ledger: finite, never negative.
    for x in [head.time, head.height, target.time, target.height, *clock]
        .into_iter()
        .flatten()
    {
        assert!(x.is_finite() && x >= 0.0, "a position of {x} in {r:?}");
    }
    // NaN reads as absent: a figure is a number or `None`.
    let (lo, hi) = peer_clock_offsets.unzip();
    let figures = [
        *reported_rate,
        *reported_factor,
        *missed_proposals,
        *skipped_rounds,
        lo,
        hi,
    ];
    let counted = counters.iter().map(|c| Some(c.value));
    for x in figures.into_iter().chain(counted).flatten() {
        assert!(!x.is_nan(), "a NaN figure in {r:?}");
    }
    assert!(components.len() <= MAX_COMPONENTS);
    assert!(
        reasons.len() <= MAX_READING_REASONS,
        "{} reasons: {reasons:?}",
        reasons.len()
    );
    for reason in reasons.iter().chain(booting) {
        assert!(reason.chars().count() <= MAX_REASON_CHARS, "{reason:?}");
    }
}

fn well_formed_verdict(v: &PodVerdict) {
    assert_eq!(v.healthy, v.status.is_healthy(), "{v:?}");
    if let Some(f) = v.health_factor {
        assert!((0.0..=1.0).contains(&f), "a health factor of {f}");
    }
    let fig = &v.figures;
    let figures = [
        v.reported_health_factor,
        fig.state_version,
        fig.target_state_version,
        fig.ledger_delay_seconds,
        fig.reported_progress_rate,
        fig.observed_progress_rate,
        fig.missed_proposals,
        fig.clock_skew_seconds,
    ];
    for x in figures.into_iter().flatten() {
        assert!(!x.is_nan(), "a NaN figure in {v:?}");
    }
    assert!(
        v.reasons.len() <= MAX_VERDICT_REASONS,
        "{} reasons: {:?}",
        v.reasons.len(),
        v.reasons
    );
    for reason in &v.reasons {
        assert!(reason.chars().count() <= MAX_REASON_CHARS, "{reason:?}");
    }
}
