//! Any answers to any chain's requests: `nodehealth::fuzzing::readers` says how the bytes are
//! split into a scrape and what must hold of its reading and verdicts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nodehealth::fuzzing::readers(data));
