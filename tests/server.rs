//! The operator's own endpoints over a real socket, as kubelet and Prometheus see them.

use std::sync::Arc;
use std::time::Duration;

use nodehealth::model::{AppHealth, ComponentHealth, Status};
use nodehealth::server::{COMPONENTS, OperatorHealth, serve};
use nodehealth::telemetry::Metrics;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Generous bound for a loopback request on a loaded 2-core machine.
const TIMEOUT: Duration = Duration::from_secs(10);

struct Server {
    base: String,
    health: Arc<OperatorHealth>,
    metrics: Arc<Metrics>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start() -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let health = Arc::new(OperatorHealth::new());
    let metrics = Arc::new(Metrics::new());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, Arc::clone(&health), Arc::clone(&metrics), async {
        let _ = stopped.await;
    }));
    Server {
        base,
        health,
        metrics,
        stop: Some(stop),
        task,
    }
}

fn client() -> reqwest::Client {
    nodehealth::install_crypto_provider();
    reqwest::Client::builder().no_proxy().timeout(TIMEOUT).build().unwrap()
}

async fn get(client: &reqwest::Client, url: &str) -> (u16, String, String) {
    let resp = client.get(url).send().await.unwrap();
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = String::from_utf8(resp.bytes().await.unwrap().to_vec()).unwrap();
    (status, content_type, body)
}

#[tokio::test]
async fn endpoints_follow_the_operator_lifecycle() {
    let mut srv = start().await;
    let http = client();
    let base = srv.base.clone();
    let url = |path: &str| format!("{base}{path}");

    // Starting: nothing has synced.
    let (code, ctype, body) = get(&http, &url("/health")).await;
    assert_eq!(code, 503);
    assert!(ctype.starts_with("application/json"), "{ctype}");
    let app: AppHealth = serde_json::from_str(&body).unwrap();
    assert_eq!(app.status, Status::NotReady);
    assert_eq!(app.components.len(), COMPONENTS.len());
    let (code, _, body) = get(&http, &url("/readyz")).await;
    assert_eq!((code, body.as_str()), (503, "not ready: controller is not_ready\n"));
    assert_eq!(get(&http, &url("/livez")).await.0, 200);

    // Synced, one component affected: healthy.
    for c in COMPONENTS {
        srv.health.set(c, ComponentHealth::new(Status::Ready));
    }
    srv.health.set("prober", ComponentHealth::new(Status::Affected));
    let (code, _, body) = get(&http, &url("/health")).await;
    assert_eq!(code, 200);
    let report = nodehealth::chains::zksync::parse_health(body.as_bytes()).unwrap();
    assert_eq!(report.status, Status::Affected);
    assert_eq!(get(&http, &url("/readyz")).await.0, 200);

    // Metrics, with per-pod series coming and going.
    srv.metrics.observe_probe("health", "ok", 0.002);
    srv.metrics.set_pod("ns", "nh", "v-0", &gauges(Some(0.5)));
    srv.metrics.set_pod("ns", "nh", "v-1", &gauges(Some(1.0)));
    let (code, ctype, body) = get(&http, &url("/metrics")).await;
    assert_eq!(code, 200);
    assert_eq!(ctype, "application/openmetrics-text; version=1.0.0; charset=utf-8");
    assert!(
        body.contains(r#"nodehealth_probes_total{endpoint="health",result="ok"} 1"#),
        "{body}"
    );
    assert!(body.contains(r#"pod="v-1""#), "{body}");
    srv.metrics.retain_pods("ns", "nh", &["v-0"]);
    let body = get(&http, &url("/metrics")).await.2;
    assert!(!body.contains(r#"pod="v-1""#), "{body}");
    assert!(body.contains(r#"pod="v-0""#), "{body}");

    assert_eq!(get(&http, &url("/nope")).await.0, 404);
    let post = http.post(url("/readyz")).send().await.unwrap();
    assert_eq!(post.status().as_u16(), 405);

    // Shutdown begins: unready but alive, and still answering until the server stops.
    srv.health.shutting_down();
    let (code, _, body) = get(&http, &url("/health")).await;
    assert_eq!(code, 503);
    assert_eq!(
        serde_json::from_str::<AppHealth>(&body).unwrap().status,
        Status::ShuttingDown
    );
    assert_eq!(get(&http, &url("/readyz")).await.0, 503);
    assert_eq!(get(&http, &url("/livez")).await.0, 200);

    // A crash fails liveness.
    srv.health.set("controller", ComponentHealth::new(Status::Panicked));
    let (code, _, body) = get(&http, &url("/livez")).await;
    assert_eq!((code, body.as_str()), (503, "panicked: controller\n"));

    // The shutdown future ends the server, idle keep-alive connections included.
    drop(srv.stop.take());
    tokio::time::timeout(TIMEOUT, &mut srv.task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(http.get(url("/livez")).send().await.is_err());
}

fn gauges(factor: Option<f64>) -> nodehealth::telemetry::PodGauges {
    nodehealth::telemetry::PodGauges {
        factor,
        healthy: Some(true),
        ..Default::default()
    }
}
