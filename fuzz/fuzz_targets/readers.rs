//! Any bytes, with any status code, as every answer of every chain: the chain readers and the
//! rules never panic on what a node (or anything on its port) sends.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use nodehealth::assess::{History, Params, assess};
use nodehealth::chains::Profile;
use nodehealth::model::{Answer, Scrape};

fuzz_target!(|data: &[u8]| {
    // The first two bytes choose the status code, the rest is the body.
    let (code, body) = match data.split_first_chunk::<2>() {
        Some((c, rest)) => (100 + u16::from_le_bytes(*c) % 500, rest),
        None => (200, data),
    };
    for profile in [Profile::Radix, Profile::Zksync] {
        let answers = profile
            .requests()
            .iter()
            .map(|r| {
                let answer = Answer {
                    code,
                    body: Bytes::copy_from_slice(body),
                };
                (*r, Ok(answer))
            })
            .collect();
        let obs = profile.read(&Scrape { at: 1.7e9, answers });
        let mut history = History::new();
        let _ = assess(&mut history, &obs, &Params::default());
        let _ = assess(&mut history, &obs, &Params::default());
    }
});
