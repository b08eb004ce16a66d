//! Any bytes as a spec's durations, `maxUnhealthy` and whole JSON: `nodehealth::fuzzing::spec`
//! says what must hold.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nodehealth::fuzzing::spec(data));
