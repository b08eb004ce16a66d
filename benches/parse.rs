//! The metrics parser against `prometheus-parse` on the same pages, and `RadixMetrics` on a
//! realistic page. Run: `cargo bench --bench parse -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::io;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nodehealth::chains::radix::RadixMetrics;
use nodehealth::exposition::{self, Limits};

/// Every health series of a Radix node, from both of its writers.
const FIXTURE: &str = include_str!("../tests/fixtures/radix_metrics.txt");

/// Validators on the realistic page: Babylon's active set is 100 validators, and a node keeps
/// per-leader round counters and per-validator clock-skew summaries for each of them.
const REALISTIC_VALIDATORS: usize = 100;

/// Size of the large page: far beyond any real node, to show the parser stays linear.
const LARGE_BYTES: usize = 10 << 20;

/// Upper bounds of the Rust writer's duration histograms (the `prometheus` crate's default buckets).
const BUCKETS: [&str; 12] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
];

/// The fixture, followed by the per-validator families of a node that sees `validators`
/// validators, some Rust-writer histograms and Java-writer JVM series: plain and `E`-notation
/// numbers, trailing commas, `_created` series, metadata repeated and out of order.
fn radix_page(validators: usize) -> String {
    let mut page = String::from(FIXTURE);
    page += "# TYPE rn_ledger_consensus_rounds_committed counter\n";
    for i in 0..validators {
        let address = format!("validator_rdx1s{i:0>52}q");
        for (resolution, count) in [
            ("Successful", 50_000 + i * 7),
            ("MissedByFallback", i % 5),
            ("MissedByGap", i % 3),
        ] {
            page += &format!(
                "rn_ledger_consensus_rounds_committed{{leader_component_address=\"{address}\",round_resolution=\"{resolution}\"}} {count}\n"
            );
        }
    }
    page += "# HELP rn_bft_proposal_timestamp_difference_seconds Clock skew of proposals.\n";
    for i in 0..validators {
        let address = format!("validator_rdx1s{i:0>52}q");
        let labels = format!("key=\"{i}\",component_address=\"{address}\",");
        let skew = -0.0123 * (i % 7) as f64;
        page += &format!("rn_bft_proposal_timestamp_difference_seconds{{{labels}quantile=\"0.5\",}} {skew:E}\n");
        page += &format!(
            "rn_bft_proposal_timestamp_difference_seconds{{{labels}quantile=\"0.99\",}} {:E}\n",
            skew * 2.0
        );
        page += &format!(
            "rn_bft_proposal_timestamp_difference_seconds_count{{{labels}}} {:.1}\n",
            1000 + i
        );
        page += &format!(
            "rn_bft_proposal_timestamp_difference_seconds_sum{{{labels}}} {:E}\n",
            skew * 1000.0
        );
    }
    for family in [
        "rn_engine_execution",
        "rn_mempool_relay",
        "rn_state_manager_commit",
        "rn_vertex_store_save",
    ] {
        page += &format!("# HELP {family}_seconds Duration.\n# TYPE {family}_seconds histogram\n");
        for (n, le) in BUCKETS.iter().enumerate() {
            page += &format!("{family}_seconds_bucket{{le=\"{le}\"}} {}\n", 100 * (n + 1));
        }
        page += &format!("{family}_seconds_sum 12.345\n{family}_seconds_count 1200\n");
    }
    for (pool, used) in [
        ("G1 Eden Space", "1.2E8"),
        ("G1 Old Gen", "9.87654321E8"),
        ("Metaspace", "1.1E8"),
    ] {
        page += &format!("jvm_memory_pool_bytes_used{{pool=\"{pool}\",}} {used}\n");
        page += &format!("jvm_memory_pool_allocated_bytes_total{{pool=\"{pool}\",}} 5.4E10\n");
        page += &format!("jvm_memory_pool_allocated_bytes_created{{pool=\"{pool}\",}} 1.763790000123E9\n");
    }
    page
}

/// Consensus-sized pages repeated with fresh validators until the page reaches `bytes`.
fn large_page(bytes: usize) -> String {
    let mut page = String::with_capacity(bytes + (1 << 20));
    let mut validators = 1000;
    while page.len() < bytes {
        page += &radix_page(validators);
        validators += 1;
    }
    page
}

fn prometheus_parse(page: &str) -> io::Result<prometheus_parse::Scrape> {
    prometheus_parse::Scrape::parse(page.lines().map(|line| Ok(line.to_owned())))
}

fn compare(c: &mut Criterion, group_name: &str, page: &str, sample_size: usize) {
    let limits = Limits {
        max_lines: usize::MAX,
        ..Limits::default()
    };
    let mut samples = 0;
    let stats = exposition::parse(page.as_bytes(), &limits, |_| true, |_| samples += 1).expect("the page parses");
    assert_eq!(stats.skipped_invalid, 0, "{group_name}: the generated page is valid");
    eprintln!(
        "{group_name}: {} bytes, {} lines, {samples} samples",
        page.len(),
        stats.lines
    );

    let mut group = c.benchmark_group(group_name);
    group
        .sample_size(sample_size)
        .throughput(Throughput::Bytes(page.len() as u64));
    group.bench_function("exposition::parse (visit only)", |b| {
        b.iter(|| {
            exposition::parse(
                black_box(page.as_bytes()),
                &limits,
                |_| true,
                |s| {
                    black_box(s);
                },
            )
        })
    });
    group.bench_function("exposition::parse_all (collect)", |b| {
        b.iter(|| exposition::parse_all(black_box(page.as_bytes())).map(|(samples, _)| samples.len()))
    });
    group.bench_function("prometheus_parse::Scrape::parse", |b| {
        b.iter(|| prometheus_parse(black_box(page)))
    });
    group.finish();
}

fn bench(c: &mut Criterion) {
    let realistic = radix_page(REALISTIC_VALIDATORS);
    compare(c, "realistic_page", &realistic, 100);
    let from_exposition = RadixMetrics::from_exposition(realistic.as_bytes()).expect("the page parses");
    assert!(
        from_exposition.own_rounds.is_some(),
        "the fixture's own validator is on the page"
    );
    let mut group = c.benchmark_group("realistic_page");
    group.throughput(Throughput::Bytes(realistic.len() as u64));
    group.bench_function("RadixMetrics::from_exposition", |b| {
        b.iter(|| RadixMetrics::from_exposition(black_box(realistic.as_bytes())))
    });
    group.finish();

    compare(c, "10MB_page", &large_page(LARGE_BYTES), 10);
}

criterion_group!(benches, bench);
criterion_main!(benches);
