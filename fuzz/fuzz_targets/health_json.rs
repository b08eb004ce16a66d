//! Any bytes as a zksync `/health` body: `nodehealth::fuzzing::health_json` says what must hold.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nodehealth::fuzzing::health_json(data));
