use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::*;
use crate::exposition::parse_all;
use crate::sim::network::Network;
use crate::sim::state::Validator;

const T0: f64 = 1_763_798_400.0;
const FIXTURE: &str = include_str!("../../../tests/fixtures/radix_metrics.txt");

fn id() -> Identity {
    Identity::for_ip(Ipv4Addr::new(127, 0, 1, 1))
}

fn snap(mode: Mode) -> Snapshot {
    let net = Network::new(T0);
    let mut v = Validator::new(T0, 0.0, &net);
    v.set_mode(mode, T0 + 1.0, &net);
    v.snapshot(T0 + 2.0, &net)
}

fn full(reply: Reply) -> Vec<u8> {
    reply.body.collect()
}

/// A JSON body, read generically (not with the operator's readers: see `sim::status`).
fn read_json(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap()
}

/// One sample, owned: `(name, label pairs, value)`.
type Owned = (String, Vec<(String, String)>, f64);

/// Samples of a page, through the crate's generic reader.
fn samples(page: &str) -> Vec<Owned> {
    let (samples, stats) = parse_all(page.as_bytes()).unwrap();
    assert_eq!(stats.skipped_invalid, 0, "invalid lines in\n{page}");
    samples
        .iter()
        .map(|s| {
            let labels = s.labels().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            (s.name.to_owned(), labels, s.value)
        })
        .collect()
}

/// Metric names of a page's samples.
fn sample_names(page: &str) -> BTreeSet<String> {
    page.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap_or("").to_owned())
        .collect()
}

/// The value of the first sample of `name` (exact name, any labels).
fn value(page: &str, name: &str) -> String {
    page.lines()
        .find(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .and_then(|l| l.rsplit_once(' '))
        .map(|(_, v)| v.to_owned())
        .unwrap_or_else(|| panic!("{name} missing"))
}

#[test]
fn addresses_look_like_radix_and_differ_per_ip() {
    let a = id();
    let fixture_len = "validator_rdx1sd5368vqdmjk0y2w7ymdts02cz9c52858gpyny56xdvzuheepdeyy0".len();
    assert_eq!(a.validator_address.len(), fixture_len);
    assert!(a.validator_address.starts_with("validator_rdx1s"));
    assert_ne!(a.validator_address, a.peer_address);
    assert_ne!(
        a.validator_address,
        Identity::for_ip(Ipv4Addr::new(127, 0, 1, 2)).validator_address
    );
    assert_eq!(a, Identity::for_ip(Ipv4Addr::new(127, 0, 1, 1)));
}

#[test]
fn radix_page_has_every_fixture_series_and_quirk() {
    let page = radix::metrics(&snap(Mode::Synced), &id());
    let missing: Vec<_> = sample_names(FIXTURE)
        .difference(&sample_names(&page))
        .cloned()
        .collect();
    assert!(missing.is_empty(), "missing {missing:?}");
    assert!(page.contains("# HELP Special metric used"));
    assert!(page.contains("{reason=\"UNSOLICITED\",} 0.0"));
    assert!(page.contains("# TYPE rn_sync_current_state_version gauge"));
    assert!(!page.contains("# HELP rn_sync_current_state_version"));
    assert!(page.contains(&format!("configured_validator_address=\"{}\"", id().validator_address)));
    assert_eq!(value(&page, "rn_ledger_overall_health_factor"), "1");
    assert_eq!(value(&page, "rn_bft_in_validator_set"), "1.0");
    assert!(value(&page, "rn_sync_current_state_version").contains('E'));
    assert!(page.ends_with("nodeinfo{health=\"UP\",key=\"node_key_0\",version=\"v1.3.0\",} 0.0\n"));
    let sv: f64 = value(&page, "rn_ledger_state_version").parse().unwrap();
    let java: f64 = value(&page, "rn_sync_current_state_version").parse().unwrap();
    assert_eq!(sv, java);
}

#[test]
fn radix_page_parses_as_prometheus() {
    let page = radix::metrics(
        &snap(Mode::CatchingUp {
            rate: 30.0,
            behind_seconds: 600.0,
        }),
        &id(),
    );
    let ours = samples(&page);
    assert!(
        ours.iter()
            .any(|(n, _, v)| n == "rn_ledger_recent_proposer_timestamp_progress_rate" && *v == 30.0)
    );
    let lines = page.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).unwrap();
    let rate = scrape
        .samples
        .iter()
        .find(|s| s.metric == "rn_ledger_recent_proposer_timestamp_progress_rate")
        .unwrap();
    assert!(matches!(rate.value, prometheus_parse::Value::Gauge(v) if v == 30.0));
}

#[test]
fn radix_health_bodies() {
    for (mode, status) in [
        (Mode::Synced, "UP"),
        (
            Mode::CatchingUp {
                rate: 2.0,
                behind_seconds: 600.0,
            },
            "SYNCING",
        ),
        (
            Mode::CatchingUp {
                rate: 0.5,
                behind_seconds: 600.0,
            },
            "OUT_OF_SYNC",
        ),
        (Mode::Lagging { behind_seconds: 300.0 }, "OUT_OF_SYNC"),
        (Mode::Lagging { behind_seconds: 5.0 }, "UP"),
        (Mode::Booting, "BOOTING_PRE_GENESIS"),
        (Mode::ClockSkew { seconds: 300.0 }, "OUT_OF_SYNC"),
    ] {
        let r = reply(Profile::Radix, Endpoint::Health, &snap(mode), &id());
        assert_eq!((r.status, r.content_type), (200, JSON));
        let h = read_json(&full(r));
        assert_eq!(h["status"], status, "{mode:?}");
        assert_eq!(h["current_protocol_version"], "cuttlefish");
        assert!(h["detail"].is_string());
        assert_eq!(h["enacted_protocol_updates"], json!([]));
        assert_eq!(h["pending_protocol_updates"], json!([]));
        assert_eq!(
            h["recent_self_proposal_miss_statistic"]["recent_proposals_tracked_count"],
            50
        );
    }
    let r = reply(
        Profile::Radix,
        Endpoint::Health,
        &snap(Mode::MissingProposals { n: 2 }),
        &id(),
    );
    let h = read_json(&full(r));
    assert_eq!(h["recent_self_proposal_miss_statistic"]["missed_count"], 2);
}

#[test]
fn zksync_health_bodies() {
    let r = reply(Profile::Zksync, Endpoint::Health, &snap(Mode::Synced), &id());
    assert_eq!(r.status, 200);
    let h = read_json(&full(r));
    assert_eq!(h["status"], "ready");
    let sync = &h["components"]["sync_state"];
    assert_eq!(sync["status"], "ready");
    assert_eq!(sync["details"]["is_synced"], true);
    assert_eq!(sync["details"]["local_block"], sync["details"]["main_node_block"]);
    for c in h["components"].as_object().unwrap().values() {
        assert_eq!(c["status"], "ready");
    }

    for mode in [
        Mode::CatchingUp {
            rate: 2.0,
            behind_seconds: 600.0,
        },
        Mode::Lagging { behind_seconds: 50.0 },
    ] {
        let r = reply(Profile::Zksync, Endpoint::Health, &snap(mode), &id());
        assert_eq!(r.status, 200, "affected is still healthy");
        let h = read_json(&full(r));
        assert_eq!(h["status"], "affected", "{mode:?}");
        let d = &h["components"]["sync_state"]["details"];
        assert_eq!(h["components"]["sync_state"]["status"], "affected");
        assert_eq!(d["is_synced"], false);
        let lag = d["main_node_block"].as_u64().unwrap() - d["local_block"].as_u64().unwrap();
        match mode {
            Mode::Lagging { .. } => assert_eq!(lag, 50),
            _ => assert!(lag > 500, "{lag}"),
        }
    }
    // Within SYNC_L2_BLOCK_DELTA blocks: synced.
    let h = read_json(&full(reply(
        Profile::Zksync,
        Endpoint::Health,
        &snap(Mode::Lagging { behind_seconds: 10.0 }),
        &id(),
    )));
    assert_eq!(h["components"]["sync_state"]["details"]["is_synced"], true);
    assert_eq!(h["status"], "ready");

    let r = reply(Profile::Zksync, Endpoint::Health, &snap(Mode::Booting), &id());
    assert_eq!(r.status, 503);
    let h = read_json(&full(r));
    assert_eq!(h["status"], "not_ready");
    assert_eq!(h["components"]["sync_state"], json!({"status": "not_ready"}));
}

/// The value of the one sample `name` whose labels include `with`.
fn sample(samples: &[Owned], name: &str, with: &[(&str, &str)]) -> f64 {
    let found: Vec<f64> = samples
        .iter()
        .filter(|(n, labels, _)| {
            n == name
                && with
                    .iter()
                    .all(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|(_, _, v)| *v)
        .collect();
    assert_eq!(found.len(), 1, "{name}{with:?}: {found:?}");
    found[0]
}

#[test]
fn zksync_page_has_the_external_node_series_in_vise_style() {
    for (mode, lag) in [
        (Mode::Synced, 0.0),
        (Mode::Lagging { behind_seconds: 50.0 }, 50.0),
        (
            Mode::CatchingUp {
                rate: 2.0,
                behind_seconds: 600.0,
            },
            599.0,
        ),
    ] {
        let s = snap(mode);
        let page = zksync::metrics(&s);
        assert!(page.ends_with("# EOF\n"), "{page}");
        assert_eq!(page.matches("# EOF").count(), 1);
        let all = samples(&page);
        let local = s.local_block().unwrap() as f64;
        let lag_now = sample(&all, "external_node_sync_lag", &[]);
        assert_eq!(lag_now, s.block_lag().unwrap() as f64);
        assert!((lag_now - lag).abs() <= 1.0, "{mode:?}: {lag_now}");
        assert_eq!(
            sample(&all, "external_node_synced", &[]),
            f64::from(u8::from(lag_now <= 10.0))
        );
        assert_eq!(sample(&all, "server_miniblock_number", &[("stage", "sealed")]), local);
        let fetched = sample(&all, "external_node_fetcher_miniblock", &[]);
        assert!(fetched >= local && fetched <= local + lag_now, "{fetched} {local}");
        let reorg = [("component", "reorg_detector")];
        assert_eq!(sample(&all, "external_node_last_correct_l2_block", &reorg), local);
        let open = sample(&all, "external_node_fetcher_l1_batch", &[("stage", "open")]);
        assert!(sample(&all, "external_node_fetcher_l1_batch", &[("stage", "executed")]) <= open);
        assert_eq!(sample(&all, "external_node_info_info", &[("l2_chain_id", "324")]), 1.0);
        // Histograms: cumulative buckets ending at the count.
        let call = [("method", "eth_call"), ("block_id", "latest")];
        let count = sample(&all, "api_web3_call_count", &call);
        let inf = sample(&all, "api_web3_call_bucket", &[("method", "eth_call"), ("le", "+Inf")]);
        assert_eq!(count, inf);
        let buckets: Vec<f64> = all
            .iter()
            .filter(|(n, l, _)| n == "api_web3_call_bucket" && l.iter().any(|(_, v)| v == "eth_call"))
            .map(|(_, _, v)| *v)
            .collect();
        assert_eq!(buckets.len(), 10);
        assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    }
    let page = zksync::metrics(&snap(Mode::Synced));
    // vise's OpenMetricsForPrometheus: HELP before TYPE, undocumented help ".", counters without
    // `_total`, `le` first, info under `_info`.
    assert!(page.contains(
        "# HELP external_node_sync_lag Current sync lag of the external node.\n# TYPE external_node_sync_lag gauge\n"
    ));
    assert!(page.contains("# HELP external_node_fetcher_miniblock .\n"));
    assert!(page.contains("# TYPE server_processed_txs counter\nserver_processed_txs{stage=\"mempool_added\"} "));
    assert!(!page.contains("_total"));
    assert!(page.contains("api_web3_call_bucket{le=\"0.001\",method=\"eth_blockNumber\"} "));
    assert!(page.contains("# TYPE external_node_info info\nexternal_node_info_info{server_version="));
    assert!(
        !page.contains("process_"),
        "no process metrics on a real external node page"
    );

    // Before genesis: gauges at 0, no families yet.
    let page = zksync::metrics(&snap(Mode::Booting));
    let all = samples(&page);
    assert_eq!(sample(&all, "external_node_synced", &[]), 0.0);
    assert!(!page.contains("server_miniblock_number"));
    assert!(page.ends_with("# EOF\n"));
}

#[test]
fn failure_answers() {
    for profile in [Profile::Radix, Profile::Zksync] {
        for endpoint in [Endpoint::Health, Endpoint::Metrics] {
            let r = reply(profile, endpoint, &snap(Mode::Http500), &id());
            assert_eq!(r.status, 500);
            let r = reply(profile, endpoint, &snap(Mode::Malformed), &id());
            assert_eq!(r.status, 200);
            let body = full(r);
            match endpoint {
                Endpoint::Health => assert!(serde_json::from_slice::<serde_json::Value>(&body).is_err()),
                Endpoint::Metrics => assert!(std::str::from_utf8(&body).is_err()),
            }
        }
    }
}

#[test]
fn oversized_bodies_are_big_and_well_formed() {
    let s = snap(Mode::Oversized {
        mb: 2,
        content_length: false,
    });
    let two_mib = 2 * 1024 * 1024;
    let body = full(reply(Profile::Radix, Endpoint::Health, &s, &id()));
    assert!(body.len() >= two_mib);
    let h = read_json(&body);
    assert_eq!(h["status"], "UP");
    assert!(h["detail"].as_str().unwrap().len() > two_mib - 1024);

    let body = full(reply(Profile::Zksync, Endpoint::Health, &s, &id()));
    assert!(body.len() >= two_mib);
    let h = read_json(&body);
    assert_eq!(h["status"], "ready");
    assert!(h["details"]["padding"].as_str().unwrap().len() > two_mib - 1024);

    let r = reply(Profile::Radix, Endpoint::Metrics, &s, &id());
    assert!(r.body.len().is_none());
    let body = String::from_utf8(full(r)).unwrap();
    assert!(body.len() >= two_mib);
    assert!(body.contains("rn_ledger_overall_health_factor 1\n"));
    assert!(body.lines().all(|l| l.starts_with('#') || l.rsplit_once(' ').is_some()));
    assert!(body.ends_with(" 1.0\n"));

    let body = String::from_utf8(full(reply(Profile::Zksync, Endpoint::Metrics, &s, &id()))).unwrap();
    assert!(body.len() >= two_mib);
    assert!(body.ends_with("1.0\n# EOF\n"));
    assert_eq!(body.matches("# EOF").count(), 1);
    assert!(samples(&body).iter().any(|(n, _, _)| n == "external_node_sync_lag"));
}

/// Radix's and zksync's one page per endpoint (the path is the server's check).
fn reply(profile: Profile, endpoint: Endpoint, snap: &Snapshot, id: &Identity) -> Reply {
    super::reply(profile, endpoint, &Call::default(), snap, id).expect("one page per endpoint")
}

#[test]
fn an_announced_length_is_the_exact_length_of_the_body() {
    for mb in [1, 3] {
        let mode = Mode::Oversized {
            mb,
            content_length: true,
        };
        for profile in [Profile::Radix, Profile::Zksync, Profile::Cometbft] {
            for endpoint in Endpoint::ALL {
                let call = Call {
                    path: profile
                        .default_path(match endpoint {
                            Endpoint::Health => crate::model::Api::Health,
                            Endpoint::Metrics => crate::model::Api::Metrics,
                        })
                        .to_owned(),
                    rpc: None,
                };
                let r = super::reply(profile, endpoint, &call, &snap(mode), &id()).unwrap();
                let announced = headers(mode, &call, &r.body);
                assert_eq!(announced.len(), 1, "{profile:?} {endpoint:?}");
                let len: u64 = announced[0].1.parse().unwrap();
                assert_eq!(len, full(r).len() as u64, "{profile:?} {endpoint:?}");
                assert!(len >= mb << 20);
            }
        }
    }
}

#[test]
fn an_endless_body_starts_like_the_page_and_does_not_end() {
    let r = reply(
        Profile::Radix,
        Endpoint::Metrics,
        &snap(Mode::EndlessBody { interval_ms: 0 }),
        &id(),
    );
    let Body::Streamed(chunks) = r.body else {
        panic!("streamed")
    };
    let first: Vec<u8> = chunks.take(200).flat_map(|c| c.to_vec()).collect();
    assert!(first.len() > 10 << 20, "200 chunks and still going");
    assert!(first.starts_with(b"# HELP"));
}

#[test]
fn a_gzip_bomb_is_small_and_inflates_to_what_was_asked() {
    use std::io::Read;
    let mode = Mode::GzipBomb { mb: 64 };
    let r = reply(Profile::Radix, Endpoint::Metrics, &snap(mode), &id());
    let call = Call::default();
    assert_eq!(headers(mode, &call, &r.body), [("content-encoding", "gzip".to_owned())]);
    let wire = full(r);
    assert!(wire.len() < 256 << 10, "{} bytes on the wire", wire.len());
    let mut inflated = 0u64;
    let mut decoder = flate2::read::MultiGzDecoder::new(&wire[..]);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = decoder.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        inflated += n as u64;
    }
    assert_eq!(inflated, 64 << 20);
}

#[test]
fn many_series_adds_series_to_the_real_page_only() {
    let mode = Mode::ManySeries { series: 1000 };
    let body = String::from_utf8(full(reply(Profile::Zksync, Endpoint::Metrics, &snap(mode), &id()))).unwrap();
    let all = samples(&body);
    assert_eq!(all.len(), samples(&zksync::metrics(&snap(Mode::Synced))).len() + 1000);
    assert!(body.ends_with("# EOF\n"));
    assert!(all.iter().any(|(n, _, _)| n == "external_node_sync_lag"));
    let health = reply(Profile::Radix, Endpoint::Health, &snap(mode), &id());
    assert_eq!(
        read_json(&full(health))["status"],
        "UP",
        "the health endpoint is a synced node's"
    );
}

#[test]
fn nan_values_and_invalid_utf8_change_only_what_they_say() {
    let page = String::from_utf8(full(reply(
        Profile::Radix,
        Endpoint::Metrics,
        &snap(Mode::NanValues),
        &id(),
    )))
    .unwrap();
    let (parsed, stats) = parse_all(page.as_bytes()).unwrap();
    assert_eq!(stats.skipped_invalid, 0, "still an exposition");
    assert!(parsed.iter().all(|s| !s.value.is_finite() || s.value == 0.0));
    assert!(parsed.iter().any(|s| s.value.is_nan()));
    let health = full(reply(Profile::Radix, Endpoint::Health, &snap(Mode::NanValues), &id()));
    assert_eq!(read_json(&health)["status"], "UP", "JSON numbers cannot be NaN");
    let broken = full(reply(Profile::Radix, Endpoint::Health, &snap(Mode::InvalidUtf8), &id()));
    assert!(std::str::from_utf8(&broken).is_err());
}

#[test]
fn a_redirect_points_elsewhere() {
    let r = reply(Profile::Radix, Endpoint::Health, &snap(Mode::Redirect), &id());
    assert_eq!(r.status, 302);
    let call = Call {
        path: "/system/health".into(),
        rpc: None,
    };
    let location = &headers(Mode::Redirect, &call, &r.body)[0];
    assert_eq!(location.0, "location");
    assert!(!location.1.contains("127."), "another host: {}", location.1);
}
