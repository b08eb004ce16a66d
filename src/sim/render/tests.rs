use std::collections::BTreeSet;

use super::*;
use crate::chains::radix::{RadixStatus, parse_system_health};
use crate::chains::zksync::parse_health;
use crate::model::Status;
use crate::sim::state::Validator;

const T0: f64 = 1_763_798_400.0;
const FIXTURE: &str = include_str!("../../../tests/fixtures/radix_metrics.txt");

fn id() -> Identity {
    Identity::for_ip(Ipv4Addr::new(127, 0, 1, 1))
}

fn snap(mode: Mode) -> Snapshot {
    let mut v = Validator::new(T0, 0.0);
    v.set_mode(mode, T0 + 1.0);
    v.snapshot(T0 + 2.0)
}

fn full(reply: Reply) -> Vec<u8> {
    reply.body.collect()
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
        &snap(Mode::Syncing {
            rate: 30.0,
            behind_seconds: 600.0,
        }),
        &id(),
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
        (Mode::Synced, RadixStatus::Up),
        (
            Mode::Syncing {
                rate: 2.0,
                behind_seconds: 600.0,
            },
            RadixStatus::Syncing,
        ),
        (Mode::Booting, RadixStatus::BootingPreGenesis),
        (Mode::ClockSkew { seconds: 300.0 }, RadixStatus::OutOfSync),
    ] {
        let r = reply(Profile::Radix, Endpoint::Health, &snap(mode), &id());
        assert_eq!((r.status, r.content_type), (200, JSON));
        let h = parse_system_health(&full(r)).unwrap();
        assert_eq!(h.status, status, "{mode:?}");
        assert_eq!(h.current_protocol_version.as_deref(), Some("cuttlefish"));
    }
    let r = reply(
        Profile::Radix,
        Endpoint::Health,
        &snap(Mode::MissingProposals { n: 2 }),
        &id(),
    );
    let h = parse_system_health(&full(r)).unwrap();
    assert_eq!(h.recent_self_proposal_miss_statistic.unwrap().missed_count, 2);
}

#[test]
fn zksync_health_bodies() {
    let r = reply(Profile::Zksync, Endpoint::Health, &snap(Mode::Synced), &id());
    assert_eq!(r.status, 200);
    let h = parse_health(&full(r)).unwrap();
    assert_eq!(h.status, Status::Ready);
    assert!(h.sync.unwrap().is_synced);

    let r = reply(
        Profile::Zksync,
        Endpoint::Health,
        &snap(Mode::Syncing {
            rate: 2.0,
            behind_seconds: 600.0,
        }),
        &id(),
    );
    assert_eq!(r.status, 200);
    let h = parse_health(&full(r)).unwrap();
    assert_eq!(h.status, Status::Affected);
    let sync = h.sync.unwrap();
    assert!(!sync.is_synced);
    assert!(sync.block_lag().unwrap() > 500);

    let r = reply(Profile::Zksync, Endpoint::Health, &snap(Mode::Booting), &id());
    assert_eq!(r.status, 503);
    assert_eq!(parse_health(&full(r)).unwrap().status, Status::NotReady);

    let page = zksync::metrics(&snap(Mode::Synced));
    assert_eq!(value(&page, "external_node_sync_lag"), "0");
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
    let s = snap(Mode::Oversized { mb: 2 });
    let two_mib = 2 * 1024 * 1024;
    let body = full(reply(Profile::Radix, Endpoint::Health, &s, &id()));
    assert!(body.len() >= two_mib);
    let h = parse_system_health(&body).unwrap();
    assert_eq!(h.status, RadixStatus::Up);
    assert!(h.detail.len() > two_mib - 1024);

    let body = full(reply(Profile::Zksync, Endpoint::Health, &s, &id()));
    assert!(body.len() >= two_mib);
    assert_eq!(parse_health(&body).unwrap().status, Status::Ready);

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
}
