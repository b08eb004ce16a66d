//! Endpoints that ask more of a probe than plain HTTP, end to end on the real API server: HTTPS
//! verified against a CA file the operator reads (and reads again when it changes),
//! `insecureSkipVerify` said out loud, a bearer token from a file (rotated), custom headers, and a
//! pod at `::1`. The files stand for volumes mounted into the operator; the operator reads no
//! Secret or ConfigMap through the API.

mod support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Instant;

use kube::Client;
use kube::api::Api;
use nodehealth::crd::{NodeHealth, PodStatus};
use nodehealth::model::{Access, Api as Endpoint, Target, Tls, Verify};
use nodehealth::probe::{ProbeConfig, Prober};
use nodehealth::sim::SimProcess;
use serde_json::{Value, json};
use support::cluster::with_temp_ns;
use support::fleet::{Fleet, WAIT, condition, condition_is, create_nodehealth, pod_row, radix_spec};
use support::kubelet::{Kubelet, ValidatorPod};
use support::operator::{Operator, install_crd};
use support::pki::{Ca, Files, SERVICE_NAME};
use support::wait::{eventually, get, metric, wait_for};

const SIM: &str = env!("CARGO_BIN_EXE_nodehealth-sim");

/// `count` Radix validators serving HTTPS with a certificate of `ca` for their IPs (and `::1`),
/// as pods of `ns`; `extra` simulator arguments.
async fn tls_fleet(client: &Client, ns: &str, count: u32, ca: &Ca, files: &Files, extra: &[&str]) -> Fleet {
    let sim = SimProcess::spawn_random_range_with(
        SIM,
        count,
        |first| {
            let mut ips: Vec<IpAddr> = (0..count)
                .map(|i| IpAddr::V4(Ipv4Addr::from(u32::from(first) + i)))
                .collect();
            ips.push(IpAddr::V6(Ipv6Addr::LOCALHOST));
            let (cert, key) = ca.issue(&ips);
            files.replace("tls.crt", &cert);
            files.replace("tls.key", &key);
            let mut args = vec![
                "--tls-cert-file".to_owned(),
                files.path_str("tls.crt"),
                "--tls-key-file".to_owned(),
                files.path_str("tls.key"),
            ];
            args.extend(extra.iter().map(|a| (*a).to_owned()));
            args
        },
        5,
    )
    .expect("simulator starts");
    Fleet::on(client, ns, sim, "radix", 1).await
}

/// The Radix policy of the fleet over HTTPS, with this `probe.tls`.
fn https_spec(tls: Value) -> Value {
    let mut spec = radix_spec();
    spec["probe"]["health"]["scheme"] = json!("HTTPS");
    spec["probe"]["metrics"]["scheme"] = json!("HTTPS");
    spec["probe"]["tls"] = tls;
    spec
}

fn ready_message(nh: &NodeHealth) -> String {
    condition(nh, "Ready").map(|c| c.message.clone()).unwrap_or_default()
}

fn all_healthy(nh: &NodeHealth, pods: usize) -> bool {
    condition_is(nh, "Healthy", "True") && nh.status.as_ref().is_some_and(|s| s.ready == format!("{pods}/{pods}"))
}

/// Whether every pod row is unreachable with a reason containing `needle`.
fn all_unreachable_because(nh: &NodeHealth, needle: &str) -> bool {
    let rows = nh.status.as_ref().map(|s| s.pods.as_slice()).unwrap_or_default();
    !rows.is_empty()
        && rows.iter().all(|p| {
            p.status == PodStatus::NotReady
                && p.sync_state == nodehealth::model::SyncState::Unreachable
                && p.reasons.iter().any(|r| r.contains(needle))
        })
}

fn stalled_because(nh: &NodeHealth, reason: &str, needle: &str) -> bool {
    condition(nh, "Stalled").is_some_and(|c| c.status == "True" && c.reason == reason && c.message.contains(needle))
}

/// The operator still serves and is ready: nothing crashed.
async fn still_ready(op: &Operator) {
    let (code, body) = get(&format!("http://{}/readyz", op.http))
        .await
        .expect("the operator answers");
    assert_eq!(code, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tls_fleet_verified_against_its_ca_file_is_ready_for_its_ips_and_for_a_server_name() {
    with_temp_ns("tls-ca", |client, ns| async move {
        install_crd(&client).await;
        let files = Files::new("tls-ca");
        let ca = Ca::new("validators CA");
        files.replace("ca.crt", &ca.pem);
        let fleet = tls_fleet(&client, &ns, 3, &ca, &files, &[]).await;
        let _op = Operator::start(&ns, &[]).await;
        let started = Instant::now();
        create_nodehealth(
            &client,
            &ns,
            "by-ip",
            https_spec(json!({"caFile": files.path_str("ca.crt")})),
        )
        .await;
        let tls = json!({"caFile": files.path_str("ca.crt"), "serverName": SERVICE_NAME});
        create_nodehealth(&client, &ns, "by-name", https_spec(tls)).await;
        let api: Api<NodeHealth> = Api::namespaced(client.clone(), &ns);
        for name in ["by-ip", "by-name"] {
            let nh = wait_for(&api, name, WAIT, "3/3 healthy over verified HTTPS", |nh| {
                all_healthy(nh, 3)
            })
            .await;
            assert!(condition_is(&nh, "Ready", "True"), "{name}");
            assert!(
                !ready_message(&nh).contains("NOT verified"),
                "{name}: {}",
                ready_message(&nh)
            );
            let row = pod_row(&nh, "validator-0").unwrap();
            assert_eq!(row.status, PodStatus::Ready, "{name}: {row:?}");
            assert!(
                row.state_version.is_some(),
                "{name}: the metrics page was read over HTTPS: {row:?}"
            );
        }
        eprintln!(
            "figure: 2 policies of 3 HTTPS pods all healthy {:.1} s after creation",
            started.elapsed().as_secs_f64()
        );
        // Plain HTTP does not reach these validators: what was read came over TLS.
        assert!(
            get(&format!("http://{}:3334/system/health", fleet.ip(0)))
                .await
                .is_err()
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_then_wrong_ca_file_says_why_without_a_crash_and_the_right_one_is_read_when_it_changes() {
    with_temp_ns("tls-wrong-ca", |client, ns| async move {
        install_crd(&client).await;
        let files = Files::new("tls-wrong-ca");
        let ca = Ca::new("validators CA");
        let _fleet = tls_fleet(&client, &ns, 2, &ca, &files, &[]).await;
        let op = Operator::start(&ns, &[]).await;
        let api: Api<NodeHealth> = Api::namespaced(client.clone(), &ns);
        let ca_file = files.path_str("ca.crt");

        // Not mounted (yet): the policy is stalled, saying which file and what to do.
        create_nodehealth(&client, &ns, "validators", https_spec(json!({"caFile": ca_file}))).await;
        let nh = wait_for(&api, "validators", WAIT, "Stalled: InvalidCAFile", |nh| {
            stalled_because(nh, "InvalidCAFile", "cannot be read")
        })
        .await;
        let message = condition(&nh, "Stalled").unwrap().message.clone();
        assert!(
            message.contains(&ca_file) && message.contains("extraVolumeMounts"),
            "{message}"
        );
        assert!(condition_is(&nh, "Ready", "False"));

        // Another CA's certificate: the policy runs, every pod says its certificate is not trusted.
        let mounted = Instant::now();
        files.replace("ca.crt", &Ca::new("someone else's CA").pem);
        wait_for(&api, "validators", WAIT, "Ready again once the file is there", |nh| {
            condition_is(nh, "Ready", "True")
        })
        .await;
        eprintln!(
            "figure: Ready {:.1} s after the CA file appeared",
            mounted.elapsed().as_secs_f64()
        );
        let nh = wait_for(
            &api,
            "validators",
            WAIT,
            "pods unreachable: certificate not trusted",
            |nh| condition_is(nh, "Ready", "True") && all_unreachable_because(nh, "TLS certificate not trusted"),
        )
        .await;
        eprintln!("reason: {}", pod_row(&nh, "validator-0").unwrap().reasons.join("; "));
        still_ready(&op).await;

        // The right CA, written over the file as kubelet updates a ConfigMap: read at once.
        let fixed = Instant::now();
        files.replace("ca.crt", &ca.pem);
        wait_for(&api, "validators", WAIT, "2/2 healthy with the right CA", |nh| {
            all_healthy(nh, 2)
        })
        .await;
        eprintln!(
            "figure: healthy {:.1} s after the CA file was replaced",
            fixed.elapsed().as_secs_f64()
        );

        // A name the certificate does not carry: the reason says which names it does.
        let tls = json!({"caFile": ca_file, "serverName": "elsewhere.test"});
        create_nodehealth(&client, &ns, "wrong-name", https_spec(tls)).await;
        let nh = wait_for(
            &api,
            "wrong-name",
            WAIT,
            "pods unreachable: not valid for the name",
            |nh| all_unreachable_because(nh, "not valid for name \"elsewhere.test\""),
        )
        .await;
        let reason = pod_row(&nh, "validator-0").unwrap().reasons.join("; ");
        eprintln!("reason: {reason}");
        assert!(
            reason.contains(SERVICE_NAME) && reason.contains("serverName"),
            "{reason}"
        );
        still_ready(&op).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn insecure_skip_verify_probes_an_unknown_certificate_and_the_ready_condition_says_so() {
    with_temp_ns("tls-insecure", |client, ns| async move {
        install_crd(&client).await;
        let files = Files::new("tls-insecure");
        // The operator has no file of this CA, and the system's CAs do not know it.
        let ca = Ca::new("private CA");
        let _fleet = tls_fleet(&client, &ns, 2, &ca, &files, &[]).await;
        let _op = Operator::start(&ns, &[]).await;
        let api: Api<NodeHealth> = Api::namespaced(client.clone(), &ns);
        create_nodehealth(
            &client,
            &ns,
            "unverified",
            https_spec(json!({"insecureSkipVerify": true})),
        )
        .await;
        create_nodehealth(&client, &ns, "verified", https_spec(json!({}))).await;
        let nh = wait_for(&api, "unverified", WAIT, "2/2 healthy unverified", |nh| {
            all_healthy(nh, 2)
        })
        .await;
        let message = ready_message(&nh);
        assert!(
            message.contains("NOT verified") && message.contains("insecureSkipVerify"),
            "{message}"
        );
        // The default verifies: the same fleet is not trusted without its CA.
        let nh = wait_for(&api, "verified", WAIT, "pods unreachable: not trusted", |nh| {
            all_unreachable_because(nh, "TLS certificate not trusted")
        })
        .await;
        assert!(!ready_message(&nh).contains("NOT verified"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bearer_token_from_a_file_is_sent_and_a_rotated_one_is_used_from_the_next_probe() {
    with_temp_ns("token", |client, ns| async move {
        install_crd(&client).await;
        let files = Files::new("token");
        // The tokens the validators accept; the operator's own token file.
        files.replace("accepted", "old\n");
        files.replace("token", "old\n");
        let accepted = files.path_str("accepted");
        let sim = SimProcess::spawn_random_range(
            SIM,
            2,
            &["--bearer-tokens-file", accepted.as_str(), "--record-requests"],
            5,
        )
        .expect("simulator starts");
        let fleet = Fleet::on(&client, &ns, sim, "radix", 1).await;
        let (code, _) = get(&format!("http://{}:3334/system/health", fleet.ip(0)))
            .await
            .unwrap();
        assert_eq!(code, 401, "the validators refuse a request without the token");
        let op = Operator::start(&ns, &[]).await;
        let api: Api<NodeHealth> = Api::namespaced(client.clone(), &ns);
        let mut spec = radix_spec();
        spec["probe"]["bearerTokenFile"] = json!(files.path_str("token"));
        create_nodehealth(&client, &ns, "validators", spec).await;
        wait_for(&api, "validators", WAIT, "2/2 healthy with the token", |nh| {
            all_healthy(nh, 2)
        })
        .await;
        let sim = fleet.sim();
        let authorization =
            |headers: Vec<(String, String)>| headers.into_iter().find(|(n, _)| n == "authorization").map(|(_, v)| v);
        let ip0 = IpAddr::V4(fleet.ip(0));
        assert_eq!(
            authorization(sim.last_request(ip0).await.unwrap()).as_deref(),
            Some("Bearer old")
        );

        // Rotation: the validators accept both for a while; the operator's file changes.
        files.replace("accepted", "old\nnew\n");
        let rotated = Instant::now();
        files.replace("token", "new\n");
        for i in 0..2 {
            let ip = IpAddr::V4(fleet.ip(i));
            eventually(WAIT, "the new token sent", || {
                let sim = sim.clone();
                async move {
                    match authorization(sim.last_request(ip).await.map_err(|e| e.to_string())?) {
                        Some(a) if a == "Bearer new" => Ok(()),
                        other => Err(format!("{other:?}")),
                    }
                }
            })
            .await;
        }
        eprintln!(
            "figure: new token sent {:.1} s after rotation",
            rotated.elapsed().as_secs_f64()
        );
        // The old one is revoked: the pods stay healthy over the next probes of both.
        files.replace("accepted", "new\n");
        let ok = "nodehealth_probes_total{endpoint=\"health\",result=\"ok\"}";
        let before = metric(&op.http, ok).await.unwrap();
        let http = op.http.as_str();
        eventually(WAIT, "6 more answered health probes", || async move {
            let now = metric(http, ok).await?;
            if now >= before + 6.0 {
                Ok(())
            } else {
                Err(format!("{}", now - before))
            }
        })
        .await;
        let nh = api.get("validators").await.unwrap();
        assert!(all_healthy(&nh, 2), "{:?}", nh.status);

        // A token file the operator cannot read: the policy says so, nothing is judged by it.
        let mut spec = radix_spec();
        spec["probe"]["bearerTokenFile"] = json!(files.path_str("missing-token"));
        create_nodehealth(&client, &ns, "no-token", spec).await;
        wait_for(&api, "no-token", WAIT, "Stalled: InvalidBearerTokenFile", |nh| {
            stalled_because(nh, "InvalidBearerTokenFile", "cannot be read")
        })
        .await;
        still_ready(&op).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn custom_headers_arrive_with_every_request_and_one_that_would_break_it_is_refused() {
    with_temp_ns("headers", |client, ns| async move {
        install_crd(&client).await;
        let files = Files::new("headers");
        let ca = Ca::new("validators CA");
        files.replace("ca.crt", &ca.pem);
        let fleet = tls_fleet(&client, &ns, 2, &ca, &files, &["--record-requests"]).await;
        let op = Operator::start(&ns, &[]).await;
        let api: Api<NodeHealth> = Api::namespaced(client.clone(), &ns);
        let mut spec = https_spec(json!({"caFile": files.path_str("ca.crt")}));
        spec["probe"]["headers"] = json!([
            {"name": "X-Tenant", "value": "validators"},
            {"name": "User-Agent", "value": "nodehealth-e2e"},
        ]);
        create_nodehealth(&client, &ns, "validators", spec).await;
        wait_for(&api, "validators", WAIT, "2/2 healthy", |nh| all_healthy(nh, 2)).await;
        for i in 0..2 {
            let headers = fleet.sim().last_request(IpAddr::V4(fleet.ip(i))).await.unwrap();
            let values = |name: &str| -> Vec<&str> {
                headers
                    .iter()
                    .filter(|(n, _)| n == name)
                    .map(|(_, v)| v.as_str())
                    .collect()
            };
            assert_eq!(values("x-tenant"), ["validators"], "{headers:?}");
            assert_eq!(
                values("user-agent"),
                ["nodehealth-e2e"],
                "replaced, not added: {headers:?}"
            );
        }

        let mut spec = radix_spec();
        spec["probe"]["headers"] = json!([{"name": "Host", "value": "elsewhere.example"}]);
        create_nodehealth(&client, &ns, "bad-header", spec).await;
        wait_for(&api, "bad-header", WAIT, "Stalled: InvalidHeader", |nh| {
            stalled_because(nh, "InvalidHeader", "Host")
        })
        .await;
        still_ready(&op).await;
    })
    .await;
}

/// A free-looking even port for the `::1` validator (retried on another if taken).
fn random_port() -> u16 {
    use std::hash::BuildHasher;
    let r = std::collections::hash_map::RandomState::new().hash_one(std::process::id());
    20_000 + 2 * (r % 20_000) as u16
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pod_at_the_ipv6_loopback_address_is_probed_by_its_bracketed_address() {
    with_temp_ns("ipv6", |client, ns| async move {
        install_crd(&client).await;
        let mut health = 0;
        let sim = SimProcess::spawn_random_range_with(
            SIM,
            1,
            |_| {
                health = random_port();
                ["--ipv6-loopback", "--record-requests", "--health-port"]
                    .into_iter()
                    .map(str::to_owned)
                    .chain([
                        health.to_string(),
                        "--metrics-port".to_owned(),
                        (health + 1).to_string(),
                    ])
                    .collect()
            },
            5,
        )
        .expect("simulator starts");
        let kubelet = Kubelet::start(client.clone(), &ns, Some(sim.client().unwrap()));
        kubelet.create_node(&format!("{ns}-node-0")).await;
        kubelet
            .create_pod(ValidatorPod {
                name: "validator-v6".to_owned(),
                node: format!("{ns}-node-0"),
                ip: IpAddr::V6(Ipv6Addr::LOCALHOST),
                labels: [("app".to_owned(), "validator".to_owned())].into(),
                ports: vec![("health".into(), health), ("metrics".into(), health + 1)],
                started_seconds_ago: 3600,
            })
            .await;
        let _op = Operator::start(&ns, &[]).await;
        create_nodehealth(&client, &ns, "validators", radix_spec()).await;
        let api: Api<NodeHealth> = Api::namespaced(client.clone(), &ns);
        let nh = wait_for(&api, "validators", WAIT, "1/1 healthy", |nh| all_healthy(nh, 1)).await;
        let row = pod_row(&nh, "validator-v6").unwrap();
        assert_eq!(row.status, PodStatus::Ready, "{row:?}");
        assert!(row.state_version.is_some(), "both endpoints read: {row:?}");
        let headers = sim
            .client()
            .unwrap()
            .last_request(IpAddr::V6(Ipv6Addr::LOCALHOST))
            .await
            .unwrap();
        let host = headers
            .iter()
            .find(|(n, _)| n == "host")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        assert!(
            host == format!("[::1]:{health}") || host == format!("[::1]:{}", health + 1),
            "the request went to [::1]: Host {host:?}"
        );
    })
    .await;
}

/// The prober alone (no cluster): HTTPS to `https://[::1]:port` verified against the CA file,
/// for the IP `::1` the certificate carries; another CA is refused in words.
#[tokio::test(flavor = "multi_thread")]
async fn https_to_an_ipv6_pod_ip_is_verified_for_that_ip() {
    let files = Files::new("tls-v6");
    let ca = Ca::new("validators CA");
    files.replace("ca.crt", &ca.pem);
    files.replace("other.crt", &Ca::new("other CA").pem);
    let mut health = 0;
    let _sim = SimProcess::spawn_random_range_with(
        SIM,
        1,
        |_| {
            health = random_port();
            let (cert, key) = ca.issue(&[IpAddr::V6(Ipv6Addr::LOCALHOST)]);
            files.replace("tls.crt", &cert);
            files.replace("tls.key", &key);
            [
                "--ipv6-loopback",
                "--tls-cert-file",
                &files.path_str("tls.crt"),
                "--tls-key-file",
            ]
            .into_iter()
            .map(str::to_owned)
            .chain([
                files.path_str("tls.key"),
                "--health-port".to_owned(),
                health.to_string(),
            ])
            .chain(["--metrics-port".to_owned(), (health + 1).to_string()])
            .collect()
        },
        5,
    )
    .expect("simulator starts");
    let prober = Prober::new(ProbeConfig::default());
    let url = format!("https://[::1]:{health}/system/health");
    let scrape = |ca: &str| {
        let access = Access {
            tls: Tls {
                verify: Verify::CaFile(files.path(ca)),
                server_name: None,
            },
            ..Access::default()
        };
        let target = Target::from_urls(nodehealth::chains::Profile::Radix, Some(url.clone()), None, None)
            .with_access(Arc::new(access));
        let prober = prober.clone();
        async move { prober.scrape(&target, 0.0).await }
    };
    let ok = scrape("ca.crt").await;
    let answer = ok.answers[0].1.as_ref().expect("verified and answered");
    assert_eq!((ok.answers[0].0.api, answer.code), (Endpoint::Health, 200));
    let refused = scrape("other.crt").await;
    let failure = refused.answers[0].1.as_ref().unwrap_err();
    assert_eq!(failure.kind, "Tls", "{}", failure.message);
    assert!(
        failure.message.contains("TLS certificate not trusted"),
        "{}",
        failure.message
    );
}

/// `nodehealth probe` with the policy's settings as flags: the CA file, a server name, a header,
/// a token; a CA that did not sign the certificate, or a file it cannot read, is said in words.
#[tokio::test(flavor = "multi_thread")]
async fn nodehealth_probe_takes_the_ca_file_server_name_token_and_headers_as_flags() {
    let files = Files::new("tls-cli");
    let ca = Ca::new("validators CA");
    files.replace("ca.crt", &ca.pem);
    files.replace("other.crt", &Ca::new("other CA").pem);
    files.replace("token", "cli-token\n");
    let accepted = files.path_str("token");
    let sim = SimProcess::spawn_random_range_with(
        SIM,
        1,
        |first| {
            let (cert, key) = ca.issue(&[IpAddr::V4(first)]);
            files.replace("tls.crt", &cert);
            files.replace("tls.key", &key);
            [
                "--tls-cert-file",
                &files.path_str("tls.crt"),
                "--tls-key-file",
                &files.path_str("tls.key"),
                "--bearer-tokens-file",
                &accepted,
                "--record-requests",
            ]
            .map(str::to_owned)
            .to_vec()
        },
        5,
    )
    .expect("simulator starts");
    let ip = sim.ip(0).unwrap();
    let probe = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_nodehealth"))
            .args(["probe", "--health", &format!("https://{ip}:3334/system/health")])
            .args(["--metrics", &format!("https://{ip}:3335/prometheus/metrics")])
            .args(["--timeout", "2"])
            .args(extra)
            .output()
            .expect("run nodehealth probe");
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        (out.status.code().unwrap_or(-1), text)
    };
    let (ca_file, token) = (files.path_str("ca.crt"), files.path_str("token"));
    let (code, out) = probe(&[
        "--ca-file",
        &ca_file,
        "--server-name",
        SERVICE_NAME,
        "--bearer-token-file",
        &token,
        "-H",
        "X-Tenant: validators",
    ]);
    assert_eq!(code, 0, "a healthy node, verified and let in: {out}");
    let headers = sim.client().unwrap().last_request(IpAddr::V4(ip)).await.unwrap();
    assert!(
        headers.contains(&("x-tenant".to_owned(), "validators".to_owned())),
        "{headers:?}"
    );
    assert!(
        headers.contains(&("authorization".to_owned(), "Bearer cli-token".to_owned())),
        "{headers:?}"
    );

    let other = files.path_str("other.crt");
    let (code, out) = probe(&["--ca-file", &other, "--bearer-token-file", &token]);
    assert_eq!(code, 2, "nothing could be read: {out}");
    assert!(out.contains("TLS certificate not trusted"), "{out}");
    let (code, out) = probe(&["--ca-file", &files.path_str("missing.crt")]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("missing.crt") && out.contains("cannot be read"), "{out}");
    let (code, out) = probe(&["--insecure-skip-verify", "--bearer-token-file", &token, "-H", "Host: x"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("--header: Host"), "{out}");
    let (code, out) = probe(&["--insecure-skip-verify", "--bearer-token-file", &token]);
    assert_eq!(code, 0, "not verified, let in: {out}");
}
