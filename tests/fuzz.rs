//! The fuzz targets in CI, on the stable toolchain, without cargo-fuzz: every checked-in input
//! (`fuzz/seeds/<target>/`, `fuzz/regressions/<target>/`, `fuzz/corpus/<target>/`) is replayed through its target in
//! `nodehealth::fuzzing`, then mutated for a bounded number of runs. The libFuzzer campaigns
//! (`fuzz/README.md`) ran the same functions ten million times each; this keeps what they
//! found fixed and looks a little further on every CI run.
//!
//! A run's seed is printed on failure with the failing input, which is also saved; set
//! `NODEHEALTH_FUZZ_SEED` to replay a run.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use nodehealth::chains::{Profile, ethereum};
use nodehealth::fuzzing::{self, TARGETS, Target};

/// Mutated runs per target, as (target, runs): 1 to 4 s each in a debug build on an idle core,
/// about three times that on a loaded one (the readers parse up to five bodies and run the
/// rules three times per input; the exposition inputs are whole pages of several KB).
const RUNS: [(&str, u32); 5] = [
    ("exposition", 20_000),
    ("health_json", 50_000),
    ("system_health", 50_000),
    ("readers", 15_000),
    ("spec", 40_000),
];
/// Longest mutated input, as libFuzzer's `-max_len` in the campaigns.
const MAX_LEN: usize = 8192;

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut found = Vec::new();
    for folder in ["seeds", "regressions", "corpus"] {
        let dir = root.join(folder).join(target);
        // The seeds are required; a target has regressions once it found something, and a
        // corpus once a campaign was recorded.
        if folder != "seeds" && !dir.exists() {
            continue;
        }
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            found.push((path, data));
        }
    }
    found.sort();
    found
}

fn target(name: &str) -> Target {
    TARGETS.iter().find(|(n, _)| *n == name).unwrap().1
}

/// Runs `f` on `input`; on a panic, saves the input and fails with where it is and what it was.
fn check(name: &str, f: Target, input: &[u8], origin: &str) {
    if catch_unwind(AssertUnwindSafe(|| f(input))).is_ok() {
        return;
    }
    let saved = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fuzz-{name}-failure"));
    std::fs::write(&saved, input).unwrap();
    let shown: String = input.escape_ascii().to_string().chars().take(2000).collect();
    panic!(
        "fuzz target {name} failed on {origin} (saved to {}; once fixed, add it to fuzz/regressions/{name}/): b\"{shown}\"",
        saved.display()
    );
}

/// xorshift64*: deterministic for a seed, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn seed() -> u64 {
    match std::env::var("NODEHEALTH_FUZZ_SEED") {
        Ok(s) => s.parse().expect("NODEHEALTH_FUZZ_SEED is a number"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    }
}

/// Words the parsers branch on, for insertion: numbers at the edges of every type they read,
/// JSON and exposition punctuation, the units of durations.
const TOKENS: [&[u8]; 28] = [
    b"NaN",
    b"+Inf",
    b"-Inf",
    b"-0",
    b"1e308",
    b"-1",
    b"0",
    b"18446744073709551616",
    b"9223372036854775808",
    b"4294967296",
    b"\"",
    b"\\",
    b"\\u0000",
    b"\\n",
    b"null",
    b"true",
    b"{}",
    b"[]",
    b"{\"",
    b"\":",
    b",",
    b"\n",
    b"\r\n",
    b"# EOF\n",
    b"0x",
    b"%",
    b"h",
    b"\xff",
];

/// One to four edits of `input`: bit flips, byte sets, inserted bytes or tokens, deleted or
/// duplicated ranges, a splice with another input, a truncation.
fn mutate(rng: &mut Rng, input: &[u8], others: &[(PathBuf, Vec<u8>)]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(8) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] ^= 1 << rng.below(8);
            }
            1 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] = rng.next() as u8;
            }
            2 => {
                let bytes: Vec<u8> = (0..=rng.below(8)).map(|_| rng.next() as u8).collect();
                out.splice(at..at, bytes);
            }
            3 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                out.splice(at..at, token.iter().copied());
            }
            4 => {
                let end = (at + rng.below(64)).min(out.len());
                out.drain(at..end);
            }
            5 => {
                let end = (at + rng.below(64)).min(out.len());
                let copy = out[at..end].to_vec();
                let to = rng.below(out.len() + 1);
                out.splice(to..to, copy);
            }
            6 => {
                let other = &others[rng.below(others.len())].1;
                let from = rng.below(other.len() + 1);
                out.truncate(at);
                out.extend_from_slice(&other[from..]);
            }
            _ => out.truncate(at),
        }
    }
    out.truncate(MAX_LEN);
    out
}

/// Replays a target's inputs, then mutates them for its bounded runs.
fn fuzz(name: &str) {
    let f = target(name);
    let corpus = inputs(name);
    assert!(corpus.len() >= 2, "{name}: {} inputs checked in", corpus.len());
    for (path, input) in &corpus {
        check(name, f, input, &path.display().to_string());
    }
    let runs = RUNS.iter().find(|(n, _)| *n == name).unwrap().1;
    let seed = seed();
    let mut rng = Rng(seed | 1);
    for run in 0..runs {
        let (_, parent) = &corpus[rng.below(corpus.len())];
        let input = mutate(&mut rng, parent, &corpus);
        check(name, f, &input, &format!("run {run} of seed {seed}"));
    }
}

#[test]
fn exposition() {
    fuzz("exposition");
}

#[test]
fn health_json() {
    fuzz("health_json");
}

#[test]
fn system_health() {
    fuzz("system_health");
}

#[test]
fn readers() {
    fuzz("readers");
}

#[test]
fn spec() {
    fuzz("spec");
}

#[test]
fn every_target_runs_here_and_under_libfuzzer() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for (name, _) in TARGETS {
        assert!(RUNS.iter().any(|(n, _)| *n == name), "{name} has no runs here");
        let file = root.join("fuzz_targets").join(format!("{name}.rs"));
        let source = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(
            source.contains(&format!("nodehealth::fuzzing::{name}(")),
            "{} does not call the library's target",
            file.display()
        );
    }
}

/// The seeds read, whole, a healthy-looking scrape of every chain (every request answered and
/// read, a head known), and Ethereum's execution client syncing: the mutations start deep in
/// every reader, not at its first rejection.
#[test]
fn the_readers_seeds_reach_every_chain() {
    let seeds = inputs("readers");
    for profile in fuzzing::PROFILES {
        let deep = seeds.iter().any(|(_, data)| {
            let (p, options, scrape) = fuzzing::decode_scrape(data);
            let answered = scrape.answers.iter().filter(|(_, f)| f.is_ok()).count();
            let reading = p.read(&scrape, &options).reading;
            p == profile
                && answered == profile.requests().len()
                && reading.is_ok_and(|r| r.head.is_known() && r.reasons.iter().all(|w| !w.contains("failed")))
        });
        assert!(deep, "no seed reads a whole {profile:?} scrape");
    }
    let execution = seeds.iter().any(|(_, data)| {
        let (p, options, scrape) = fuzzing::decode_scrape(data);
        p == Profile::Ethereum
            && scrape.get(ethereum::ETH_SYNCING).is_some()
            && p.read(&scrape, &options)
                .reading
                .is_ok_and(|r| r.reasons.iter().any(|w| w.starts_with("execution client is syncing")))
    });
    assert!(execution, "no seed reaches the execution client's eth_syncing");
}
