use serde_json::json;

use super::*;

fn spec(v: serde_json::Value) -> NodeHealthSpec {
    serde_json::from_value(v).unwrap()
}

fn radix() -> serde_json::Value {
    json!({
        "selector": {"matchLabels": {"app": "validator"}},
        "profile": "radix",
        "probe": {"health": {"port": "health"}, "metrics": {"port": 3335}}
    })
}

fn pod(phase: &str, ip: Option<&str>) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "v-0", "labels": {"app": "validator"}},
        "spec": {"containers": [{"name": "node", "ports": [{"name": "health", "containerPort": 3334}]}]},
        "status": {"phase": phase, "podIP": ip}
    }))
    .unwrap()
}

#[test]
fn a_radix_policy_with_defaults() {
    let p = validate(&spec(radix())).unwrap();
    assert_eq!(p.period, Duration::from_secs(15));
    assert_eq!(p.params, Params::default());
    let t = p.target(&pod("Running", Some("127.0.1.7"))).unwrap();
    assert_eq!(
        t.url(crate::model::Api::Health),
        Some("http://127.0.1.7:3334/system/health")
    );
    assert_eq!(
        t.url(crate::model::Api::Metrics),
        Some("http://127.0.1.7:3335/prometheus/metrics")
    );
}

#[test]
fn pods_not_ready_to_probe_say_why() {
    let p = validate(&spec(radix())).unwrap();
    assert_eq!(
        p.target(&pod("Pending", None)).unwrap_err(),
        PodSkip::NotRunning("Pending".into())
    );
    assert_eq!(p.target(&pod("Running", None)).unwrap_err(), PodSkip::NoIp);
    let mut v = radix();
    v["probe"]["health"]["port"] = json!("admin");
    let p = validate(&spec(v)).unwrap();
    let err = p.target(&pod("Running", Some("127.0.1.7"))).unwrap_err();
    assert!(matches!(&err, PodSkip::PortNotDeclared { port, .. } if port == "admin"));
    assert!(err.is_mistake());
    assert!(
        err.to_string()
            .starts_with("PortNotDeclared: no container port named \"admin\" (it declares: health)"),
        "{err}"
    );
}

#[test]
fn invalid_specs_are_named() {
    let cases = [
        (json!({"selector": {}}), "EmptySelector"),
        (json!({"selector": {"matchLabels": {}}}), "EmptySelector"),
        (
            json!({"selector": {"matchExpressions": [{"key": "app", "operator": "In"}]}}),
            "InvalidSelector",
        ),
        (json!({"probe": {}}), "NoProbe"),
        (
            json!({"profile": "solana", "probe": {"metrics": {"port": 9615}}}),
            "NoProbe",
        ),
        (
            json!({"probe": {"health": {"port": 1, "path": "http://evil/"}}}),
            "InvalidPath",
        ),
        (
            json!({"probe": {"health": {"port": 1, "path": "//evil/x"}}}),
            "InvalidPath",
        ),
        (json!({"probe": {"health": {"port": 0}}}), "InvalidPort"),
        (json!({"probe": {"health": {"port": "Not_A_Name"}}}), "InvalidPort"),
        (
            json!({"assessment": {"unhealthyBelow": 0.9, "degradedBelow": 0.8}}),
            "InvalidThresholds",
        ),
        (
            json!({"assessment": {"minProgressRate": 50, "maxProgressRate": 10}}),
            "InvalidThresholds",
        ),
        (
            json!({"probe": {"health": {"port": 1}, "period": "0s"}}),
            "InvalidProbeTiming",
        ),
        (
            json!({"probe": {"health": {"port": 1}, "timeout": "2m"}}),
            "InvalidProbeTiming",
        ),
        (json!({"assessment": {"observedRateWindow": "5s"}}), "InvalidThresholds"),
        (json!({"assessment": {"syncedDelay": "1 minute"}}), "InvalidThresholds"),
        (json!({"remediation": {"restartWindow": "0s"}}), "InvalidRemediation"),
        (json!({"chain": {"metricsNamespace": "9bad-name"}}), "InvalidChain"),
        (json!({"chain": {"slotDuration": "2m"}}), "InvalidChain"),
    ];
    for (patch, reason) in cases {
        let mut v = radix();
        for (k, val) in patch.as_object().unwrap() {
            v[k] = val.clone();
        }
        let err = validate(&spec(v)).expect_err(reason);
        assert_eq!(err.reason(), reason, "{err}");
    }
}

#[test]
fn durations_reach_the_rules_in_seconds() {
    let mut v = radix();
    v["probe"]["period"] = json!("1m30s");
    v["assessment"] = json!({"syncedDelay": "2m", "maxClockSkew": "0s",
                             "maxProposalTimestampDelay": "45s", "maxProposalTimestampRush": "3s"});
    let p = validate(&spec(v)).unwrap();
    assert_eq!(p.period, Duration::from_secs(90));
    assert_eq!(p.params.synced_delay_seconds, 120.0);
    assert_eq!(p.params.max_clock_skew_seconds, 0.0);
    assert_eq!(
        (
            p.params.proposal_timestamp_min_seconds,
            p.params.proposal_timestamp_max_seconds
        ),
        (-45.0, 3.0)
    );
    let defaults = validate(&spec(radix())).unwrap();
    assert_eq!(
        defaults.params,
        Params::default(),
        "the schema's defaults are the rules' defaults"
    );
}

#[test]
fn chain_settings_reach_the_reader() {
    let mut v = radix();
    v["chain"] = json!({"metricsNamespace": "gaia", "slotDuration": "6s"});
    let p = validate(&spec(v)).unwrap();
    assert_eq!(p.read.metrics_namespace.as_deref(), Some("gaia"));
    assert_eq!(p.read.slot_seconds, Some(6.0));
    assert_eq!(validate(&spec(radix())).unwrap().read, ReadOptions::default());
}

#[test]
fn zksync_default_paths_and_https() {
    let p = validate(&spec(json!({
        "selector": {"matchLabels": {"app": "en"}},
        "profile": "zksync",
        "probe": {"health": {"port": 3081, "scheme": "HTTPS"}}
    })))
    .unwrap();
    let t = p.target(&pod("Running", Some("127.0.2.1"))).unwrap();
    assert_eq!(t.url(crate::model::Api::Health), Some("https://127.0.2.1:3081/health"));
    assert_eq!(t.url(crate::model::Api::Metrics), None);
}

#[test]
fn every_example_is_a_valid_policy() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let nh: crate::crd::NodeHealth =
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        validate(&nh.spec).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        seen += 1;
    }
    assert!(seen >= 2, "{seen} examples");
}

#[test]
fn ipv6_pod_ips_are_bracketed_in_every_url() {
    let p = validate(&spec(radix())).unwrap();
    for (ip, host) in [("::1", "[::1]"), ("fd00:10:244::7", "[fd00:10:244::7]")] {
        let t = p.target(&pod("Running", Some(ip))).unwrap();
        assert_eq!(
            t.url(crate::model::Api::Health),
            Some(format!("http://{host}:3334/system/health").as_str())
        );
        for (_, url) in &t.requests {
            assert!(url.starts_with(&format!("http://{host}:")), "{url}");
        }
    }
}

#[test]
fn every_pods_target_carries_the_policys_tls_token_and_headers() {
    let mut v = radix();
    v["probe"]["health"]["scheme"] = json!("HTTPS");
    v["probe"]["tls"] = json!({"caFile": "/etc/ca/ca.crt", "serverName": "validator.svc"});
    v["probe"]["bearerTokenFile"] = json!("/var/run/token");
    v["probe"]["headers"] = json!([{"name": "X-Tenant", "value": "a"}]);
    let p = validate(&spec(v)).unwrap();
    let t = p.target(&pod("Running", Some("::1"))).unwrap();
    assert_eq!(
        t.url(crate::model::Api::Health),
        Some("https://[::1]:3334/system/health")
    );
    assert!(
        std::sync::Arc::ptr_eq(&t.access, &p.access),
        "shared, not copied per pod"
    );
    assert_eq!(
        t.access.tls.verify,
        crate::model::Verify::CaFile("/etc/ca/ca.crt".into())
    );
    assert_eq!(
        t.access.bearer_token_file.as_deref(),
        Some(std::path::Path::new("/var/run/token"))
    );
    assert_eq!(t.access.headers, vec![("X-Tenant".to_owned(), "a".to_owned())]);
    // The reasons a user reads in the Stalled condition.
    let mut v = radix();
    v["probe"]["tls"] = json!({"insecureSkipVerify": true});
    let e = validate(&spec(v)).unwrap_err();
    assert_eq!(e.reason(), "InvalidTLS");
    let mut v = radix();
    v["probe"]["headers"] = json!([{"name": "Host", "value": "elsewhere"}]);
    let e = validate(&spec(v)).unwrap_err();
    assert_eq!(
        (e.reason(), e.to_string().starts_with("spec.probe.headers: Host")),
        ("InvalidHeader", true)
    );
}

#[test]
fn endpoints_the_profile_does_not_read_are_named_for_the_status() {
    let mut v = radix();
    v["probe"] = json!({"health": {"port": 3333}, "metrics": {"port": 9615}});
    assert!(
        validate(&spec(v.clone())).unwrap().unread().is_empty(),
        "radix reads both"
    );
    v["profile"] = json!("solana");
    let p = validate(&spec(v.clone())).unwrap();
    assert_eq!((p.profile_name().as_str(), p.unread()), ("solana", vec!["metrics"]));
    v["probe"]["execution"] = json!({"port": 8545});
    assert_eq!(validate(&spec(v.clone())).unwrap().unread(), ["metrics", "execution"]);
    v["profile"] = json!("ethereum");
    assert!(
        validate(&spec(v)).unwrap().unread().is_empty(),
        "ethereum reads all three"
    );
}

/// Found by the `spec` fuzz target: Solana has no metrics reader, so a policy probing only
/// metrics would send no request at all and read every pod as unanswered.
#[test]
fn a_probe_of_apis_the_profile_does_not_read_is_refused_and_says_which_it_reads() {
    let mut v = radix();
    v["probe"] = json!({"metrics": {"port": 9615}});
    assert!(validate(&spec(v.clone())).is_ok(), "radix reads its metrics alone");
    v["profile"] = json!("solana");
    let e = validate(&spec(v)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "spec.probe sets no API the solana profile reads: set spec.probe.health"
    );
}
