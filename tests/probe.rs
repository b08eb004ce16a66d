//! The probe client against real sockets on loopback: every failure ends in its typed,
//! plain-words reason, and a 503 with a valid body is a verdict, not a failure.

use std::io::Write as _;
use std::time::Duration;

use nodehealth::chains::Profile;
use nodehealth::model::Target;
use nodehealth::model::{Reading, Status, SyncState};
use nodehealth::probe::{ProbeConfig, ProbeError, Prober};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn prober(timeout_ms: u64) -> Prober {
    Prober::new(ProbeConfig {
        timeout: Duration::from_millis(timeout_ms),
        health_body_limit: 64 * 1024,
        metrics_body_limit: 256 * 1024,
        ..ProbeConfig::default()
    })
}

/// Serves each connection one canned raw HTTP response (after `delay`), forever.
async fn serve_raw(response: Vec<u8>, delay: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let response = response.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                tokio::time::sleep(delay).await;
                let _ = sock.write_all(&response).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

fn response(code: u16, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 {code} X\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    )
    .into_bytes();
    for (k, v) in headers {
        r.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    r.extend_from_slice(b"\r\n");
    r.extend_from_slice(body);
    r
}

/// Scrapes `base` as `profile` would (health at `health`, metrics at `metrics`) and reads it.
async fn read(profile: Profile, base: &str, health: Option<&str>, metrics: Option<&str>) -> Reading {
    let target = Target::from_urls(
        profile,
        health.map(|p| format!("{base}{p}")),
        metrics.map(|p| format!("{base}{p}")),
        None,
    );
    let obs = profile.read(&prober(2000).scrape(&target, 0.0).await, &Default::default());
    obs.reading.expect("something answered")
}

#[tokio::test]
async fn zksync_503_with_a_valid_body_is_a_verdict() {
    let body = br#"{"status":"not_ready","components":{"tree":{"status":"not_ready"},"api":{"status":"ready"}}}"#;
    let base = serve_raw(
        response(503, &[("content-type", "application/json")], body),
        Duration::ZERO,
    )
    .await;
    let r = read(Profile::Zksync, &base, Some("/health"), None).await;
    assert_eq!(r.status, Some(Status::NotReady));
    assert_eq!(r.components["api"], Status::Ready);
    assert!(r.reasons.contains(&"component tree is not_ready".to_owned()), "{r:?}");
}

#[tokio::test]
async fn radix_status_comes_from_the_body() {
    let body = br#"{"status":"OUT_OF_SYNC","detail":"behind"}"#;
    let base = serve_raw(response(200, &[], body), Duration::ZERO).await;
    let r = read(Profile::Radix, &base, Some("/system/health"), None).await;
    assert_eq!(r.status, Some(Status::NotReady));
    assert_eq!(r.claimed_sync, Some(SyncState::OutOfSync));
}

#[tokio::test]
async fn connection_refused() {
    // Bind then drop: a port nobody listens on.
    let addr = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let err = prober(2000)
        .get(&format!("http://{addr}/health"), 1024)
        .await
        .unwrap_err();
    assert_eq!(err, ProbeError::ConnectionRefused);
    assert!(err.no_answer());
    assert_eq!(err.to_string(), "connection refused");
}

#[tokio::test]
async fn slow_endpoint_times_out() {
    let base = serve_raw(response(200, &[], b"{}"), Duration::from_secs(5)).await;
    let started = std::time::Instant::now();
    let err = prober(300).get(&format!("{base}/health"), 1024).await.unwrap_err();
    assert!(matches!(err, ProbeError::Timeout(_)), "{err:?}");
    assert!(err.no_answer());
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the timeout bounds the request"
    );
    assert_eq!(err.to_string(), "no answer within 0.3 s");
}

#[tokio::test]
async fn http_errors_and_redirects_are_not_followed() {
    let base = serve_raw(response(500, &[], b"boom"), Duration::ZERO).await;
    let (code, body) = prober(2000).get(&format!("{base}/health"), 1024).await.unwrap();
    assert_eq!(
        (code, &body[..]),
        (500, &b"boom"[..]),
        "a 500 is an answer from a running process"
    );
    let r = read(Profile::Zksync, &base, Some("/health"), None).await;
    assert_eq!(r.status, Some(Status::NotReady));
    let base = serve_raw(
        response(302, &[("location", "http://127.0.0.1:1/elsewhere")], b""),
        Duration::ZERO,
    )
    .await;
    let err = prober(2000).get(&format!("{base}/health"), 1024).await.unwrap_err();
    assert_eq!(err, ProbeError::Redirect(302));
}

#[tokio::test]
async fn oversized_bodies_are_cut_off_declared_or_not() {
    let big = vec![b'x'; 300 * 1024];
    let base = serve_raw(response(200, &[], &big), Duration::ZERO).await;
    let err = prober(2000)
        .get(&format!("{base}/metrics"), 256 * 1024)
        .await
        .unwrap_err();
    assert_eq!(err, ProbeError::BodyTooLarge(256 * 1024));
    // Chunked, no content-length: the cap holds while reading.
    let mut chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n".to_vec();
    for _ in 0..100 {
        chunked.extend_from_slice(format!("{:x}\r\n", 4096).as_bytes());
        chunked.extend_from_slice(&[b'#'; 4096]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let base = serve_raw(chunked, Duration::ZERO).await;
    let err = prober(2000)
        .get(&format!("{base}/metrics"), 256 * 1024)
        .await
        .unwrap_err();
    assert_eq!(err, ProbeError::BodyTooLarge(256 * 1024));
}

#[tokio::test]
async fn gzip_bomb_is_capped_after_decoding() {
    // 10 MiB of zeros compress to ~10 KiB: the cap must apply to what it decodes to.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&vec![b'0'; 10 << 20]).unwrap();
    let gz = enc.finish().unwrap();
    assert!(gz.len() < 256 * 1024);
    let base = serve_raw(response(200, &[("content-encoding", "gzip")], &gz), Duration::ZERO).await;
    let err = prober(2000)
        .get(&format!("{base}/metrics"), 256 * 1024)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProbeError::InflatesTooLarge { inflated, .. } if inflated <= 256 * 1024),
        "{err:?}"
    );
    assert!(err.to_string().contains("(a gzip bomb?)"), "{err}");
}

#[tokio::test]
async fn malformed_bodies_say_why_without_echoing_them() {
    let base = serve_raw(response(200, &[], b"<html>secret-token-123</html>"), Duration::ZERO).await;
    for (profile, health, metrics) in [
        (Profile::Zksync, Some("/health"), None),
        (Profile::Radix, None, Some("/prometheus/metrics")),
    ] {
        let r = read(profile, &base, health, metrics).await;
        assert_eq!(r.status, Some(Status::NotReady), "{r:?}");
        assert!(r.reasons[0].contains("probe failed"), "{r:?}");
        assert!(!r.reasons.iter().any(|x| x.contains("secret")), "{r:?}");
    }
}

#[tokio::test]
async fn a_real_metrics_page_is_read() {
    let page = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/radix_metrics.txt")).unwrap();
    let base = serve_raw(
        response(200, &[("content-type", "text/plain; version=0.0.4")], &page),
        Duration::ZERO,
    )
    .await;
    let r = read(Profile::Radix, &base, None, Some("/prometheus/metrics")).await;
    assert_eq!(r.in_validator_set, Some(true));
    assert_eq!(r.head.height, Some(231457012.0));
}
