use clap::ValueEnum;

use super::*;
use crate::model::{Fetched, ProbeFailure};

fn refused() -> Fetched {
    Err(ProbeFailure {
        kind: "ConnectionRefused",
        message: "connection refused".into(),
        no_answer: true,
    })
}

#[test]
fn every_profile_names_its_requests_ports_and_paths() {
    for (p, health, metrics, paths) in [
        (Profile::Radix, 3334, 3335, ["/system/health", "/prometheus/metrics"]),
        (Profile::Zksync, 3081, 3322, ["/health", "/metrics"]),
    ] {
        assert_eq!((p.default_health_port(), p.default_metrics_port()), (health, metrics));
        assert_eq!([p.default_health_path(), p.default_metrics_path()], paths);
        let apis: Vec<Api> = p.requests().iter().map(|r| r.api).collect();
        assert_eq!(apis, vec![Api::Health, Api::Metrics], "{p:?}");
    }
}

#[test]
fn nothing_answered_is_nothing_to_read() {
    for p in Profile::value_variants() {
        let answers = p.requests().iter().map(|r| (*r, refused())).collect();
        let obs = p.read(&Scrape { at: 7.0, answers }, &ReadOptions::default());
        assert_eq!(obs.at, 7.0);
        assert_eq!(obs.reading, Err("connection refused".to_owned()));
    }
}
