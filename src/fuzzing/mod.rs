//! The fuzz targets: one function per parser of untrusted input, taking any bytes and asserting
//! what must hold for every input. A failed assertion is a finding, as a panic is.
//!
//! Two callers run the same code: `fuzz/` under libFuzzer (cargo-fuzz, nightly), and
//! `tests/fuzz.rs` on the stable toolchain, which replays every checked-in corpus file
//! (`fuzz/corpus/<target>/`) and mutates the corpus for a bounded number of runs in CI.
//!
//! Not part of the operator's API: hidden from the documentation, public for those two callers.

mod readers;
mod spec;

use crate::chains::radix::RadixMetrics;
use crate::chains::zksync;
use crate::exposition::{self, Limits};
use crate::model::Status;

pub use readers::{PROFILES, decode_scrape, readers};
pub use spec::spec;

/// A target: any bytes in, a panic when something that must hold does not.
pub type Target = fn(&[u8]);

/// Every target, by the name of its `fuzz/fuzz_targets/` file and `fuzz/corpus/` folder.
pub const TARGETS: [(&str, Target); 5] = [
    ("exposition", exposition),
    ("health_json", health_json),
    ("system_health", system_health),
    ("readers", readers),
    ("spec", spec),
];

/// The longest error text a parser may return about a body: a fixed sentence with a line and a
/// column, never the body's own text.
const MAX_ERROR_CHARS: usize = 160;

/// The Prometheus/OpenMetrics parser and the Radix extraction: the stats agree with what was
/// visited, every sample respects [`Limits`], labels decode as iterated, and filtering or not,
/// a body is rejected for the same reason (a filter only skips lines once a valid sample has
/// proven the page).
pub fn exposition(body: &[u8]) {
    let limits = Limits::default();
    let all = exposition::parse_all(body);
    if let Ok((samples, stats)) = &all {
        assert_eq!(stats.samples, samples.len());
        assert!(stats.samples + stats.skipped_invalid + stats.ignored <= stats.lines);
        assert!(stats.lines <= limits.max_lines);
        for sample in samples {
            assert!(sample.name.len() + sample.label_set().raw().len() <= limits.max_line_len);
            let mut seen = Vec::new();
            for (name, value) in sample.labels() {
                // Lookup decodes the first pair of a name, as iteration does.
                if !seen.contains(&name) {
                    assert_eq!(sample.label(name).as_deref(), Some(&*value), "label {name:?}");
                    seen.push(name);
                }
            }
            assert!(sample.labels().count() <= limits.max_label_pairs);
        }
    }
    if let Err(e) = &all {
        assert!(e.to_string().chars().count() <= MAX_ERROR_CHARS, "{e}");
    }
    let none = exposition::parse(body, &limits, |_| false, |_| panic!("a sample no filter kept"));
    assert_eq!(
        all.as_ref().err(),
        none.as_ref().err(),
        "parse_all and a filter keeping nothing disagree"
    );
    let radix = RadixMetrics::from_exposition(body);
    assert_eq!(all.err(), radix.err(), "parse_all and RadixMetrics disagree");
}

/// The zksync `/health` parser: bounded components and echoed words, and the application's
/// status is never better than a component's.
pub fn health_json(body: &[u8]) {
    match zksync::parse_health(body) {
        Ok(report) => {
            assert!(report.components.len() <= zksync::health::MAX_COMPONENTS);
            assert!(
                report
                    .components
                    .keys()
                    .all(|name| name.chars().count() <= zksync::health::MAX_NAME)
            );
            for (name, raw) in &report.unknown {
                assert!(name.chars().count() <= zksync::health::MAX_NAME, "{name:?}");
                assert!(raw.chars().count() <= zksync::health::MAX_ECHOED_STATUS, "{raw:?}");
            }
            let worst = crate::model::worst(report.components.values().copied());
            assert!(
                report.status >= worst,
                "{:?} better than a component's {worst:?}",
                report.status
            );
            if !report.unknown.is_empty() {
                assert!(report.status >= Status::NotReady, "an unknown status must be unhealthy");
            }
        }
        Err(e) => assert!(e.to_string().chars().count() <= MAX_ERROR_CHARS, "{e}"),
    }
}

/// The Radix `/system/health` parser: never panics, and its error names a position only.
pub fn system_health(body: &[u8]) {
    if let Err(e) = crate::chains::radix::parse_system_health(body) {
        assert!(e.to_string().chars().count() <= MAX_ERROR_CHARS, "{e}");
    }
}
