//! Any bytes as a metrics page: `nodehealth::fuzzing::exposition` says what must hold.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nodehealth::fuzzing::exposition(data));
