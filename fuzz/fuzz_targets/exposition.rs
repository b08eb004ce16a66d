//! Any bytes: the metrics parser and the Radix extraction never panic, agree with each other,
//! and keep their counts consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nodehealth::exposition;
use nodehealth::chains::radix::RadixMetrics;

fuzz_target!(|body: &[u8]| {
    let all = exposition::parse_all(body);
    if let Ok((samples, stats)) = &all {
        assert_eq!(stats.samples, samples.len());
        assert!(stats.samples + stats.skipped_invalid + stats.ignored <= stats.lines);
        for sample in samples {
            // Decoding every label must not panic either, and lookup finds what iteration yields.
            for (name, _) in sample.labels() {
                assert!(sample.label(name).is_some());
            }
        }
    }
    let radix = RadixMetrics::from_exposition(body);
    // A filter only skips lines once a valid sample has proven the page, so filtering or not,
    // a body is rejected for the same reason.
    assert_eq!(all.err(), radix.err(), "parse_all and from_exposition disagree");
});
