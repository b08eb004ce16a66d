//! Any bytes: the Radix `/system/health` parser never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let _ = nodehealth::chains::radix::parse_system_health(body);
});
