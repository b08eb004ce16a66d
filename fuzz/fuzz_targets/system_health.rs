//! Any bytes as a Radix `/system/health` body: `nodehealth::fuzzing::system_health` says what
//! must hold.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nodehealth::fuzzing::system_health(data));
