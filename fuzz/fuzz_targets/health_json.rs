//! Any bytes: the `/health` JSON parser never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let _ = nodehealth::chains::zksync::parse_health(body);
});
