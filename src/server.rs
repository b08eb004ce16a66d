//! The operator's own HTTP endpoints.
//!
//! - `GET /health` → [`AppHealth`] JSON (the zksync format the operator reads from validators),
//!   HTTP 200 when the application status is healthy (`ready`/`affected`), 503 otherwise.
//! - `GET /readyz` → 200 `ok` when healthy; 503 naming the worst component otherwise (before the
//!   first watch sync, and from the start of a graceful shutdown).
//! - `GET /livez` → 200 unless a component `panicked`: liveness stays apart from readiness so
//!   that a slow API server makes the pod unready, never gets it killed.
//! - `GET /metrics` → [`Metrics::encode`], OpenMetrics text.
//!
//! Anything else is 404 (405 for another method on a known path).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde_json::json;

use crate::model::{AppHealth, ComponentHealth, Status};
use crate::telemetry::Metrics;

/// The components [`OperatorHealth::new`] starts with, all `not_ready`.
pub const COMPONENTS: [&str; 3] = ["kube_api", "controller", "prober"];

/// The content type of the OpenMetrics text format (OpenMetrics 1.0 spec, "Overall structure").
const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The operator's own health, in the component model it consumes from validators.
#[derive(Debug)]
pub struct OperatorHealth {
    components: RwLock<BTreeMap<String, ComponentHealth>>,
    shutting_down: AtomicBool,
}

impl Default for OperatorHealth {
    fn default() -> Self {
        OperatorHealth::new()
    }
}

impl OperatorHealth {
    /// Every component of [`COMPONENTS`] starts `not_ready` (details `{"reason": "starting"}`):
    /// nothing is ready until the first watch has synced.
    pub fn new() -> OperatorHealth {
        let starting = ComponentHealth::new(Status::NotReady).with_details(json!({"reason": "starting"}));
        let components = COMPONENTS.iter().map(|c| ((*c).to_owned(), starting.clone())).collect();
        OperatorHealth {
            components: RwLock::new(components),
            shutting_down: AtomicBool::new(false),
        }
    }

    /// Sets (or adds) one component's health.
    pub fn set(&self, component: &str, health: ComponentHealth) {
        // A poisoned map is still whole: the only writer is this single `insert`.
        let mut components = self.components.write().unwrap_or_else(PoisonError::into_inner);
        components.insert(component.to_owned(), health);
    }

    /// Marks a component `ready` again after it was `affected` (an answer came back); one still
    /// starting (`not_ready`) waits for its own signal.
    pub fn recovered(&self, component: &str) {
        let mut components = self.components.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = components.get_mut(component).filter(|c| c.status == Status::Affected) {
            *c = ComponentHealth::new(Status::Ready);
        }
    }

    /// Graceful shutdown began: every component reports `shutting_down` from now on (a
    /// `panicked` one stays `panicked`, so liveness still sees a crash).
    pub fn shutting_down(&self) {
        self.shutting_down.store(true, Ordering::Release);
    }

    /// The health to serve now.
    pub fn snapshot(&self) -> AppHealth {
        let mut components = self.components.read().unwrap_or_else(PoisonError::into_inner).clone();
        if self.shutting_down.load(Ordering::Acquire) {
            for c in components.values_mut().filter(|c| c.status != Status::Panicked) {
                c.status = Status::ShuttingDown;
            }
        }
        AppHealth::from_components(components)
    }
}

#[derive(Clone)]
struct AppState {
    health: Arc<OperatorHealth>,
    metrics: Arc<Metrics>,
}

/// The endpoints, for [`serve`] or for a test.
pub fn router(health: Arc<OperatorHealth>, metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/health", get(health_handler))
        .route("/readyz", get(readyz_handler))
        .route("/livez", get(livez_handler))
        .route("/metrics", get(metrics_handler))
        .with_state(AppState { health, metrics })
}

/// Serves [`router`] on `listener` until `shutdown` completes, then lets requests in flight finish.
///
/// Call [`OperatorHealth::shutting_down`] before `shutdown` completes, so `/readyz` answers 503
/// while the operator winds down.
pub async fn serve(
    listener: tokio::net::TcpListener,
    health: Arc<OperatorHealth>,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(health, metrics))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn health_handler(State(state): State<AppState>) -> Response {
    let app = state.health.snapshot();
    (code(app.status.is_healthy()), Json(app)).into_response()
}

async fn readyz_handler(State(state): State<AppState>) -> Response {
    readiness(&state.health.snapshot()).into_response()
}

async fn livez_handler(State(state): State<AppState>) -> Response {
    liveness(&state.health.snapshot()).into_response()
}

async fn metrics_handler(State(state): State<AppState>) -> Response {
    match state.metrics.encode() {
        Ok(text) => ([(header::CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)], text).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "encoding metrics failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "encoding metrics failed\n").into_response()
        }
    }
}

/// `/readyz`: `ok`, or the worst component (first by name among equals) and its status.
fn readiness(app: &AppHealth) -> (StatusCode, String) {
    if app.status.is_healthy() {
        return (StatusCode::OK, "ok\n".to_owned());
    }
    let worst = app
        .components
        .iter()
        .fold(None, |acc: Option<(&String, Status)>, (name, c)| match acc {
            Some((_, s)) if s >= c.status => acc,
            _ => Some((name, c.status)),
        });
    let text = match worst {
        Some((name, status)) => format!("not ready: {name} is {status}\n"),
        None => format!("not ready: {}\n", app.status),
    };
    (StatusCode::SERVICE_UNAVAILABLE, text)
}

/// `/livez`: only a crash is fatal; every other status can recover without a restart.
fn liveness(app: &AppHealth) -> (StatusCode, String) {
    let panicked: Vec<&str> = app
        .components
        .iter()
        .filter(|(_, c)| c.status == Status::Panicked)
        .map(|(n, _)| n.as_str())
        .collect();
    if panicked.is_empty() {
        (StatusCode::OK, "ok\n".to_owned())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("panicked: {}\n", panicked.join(", ")),
        )
    }
}

fn code(healthy: bool) -> StatusCode {
    if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(h: &OperatorHealth, status: Status) {
        for c in COMPONENTS {
            h.set(c, ComponentHealth::new(status));
        }
    }

    #[test]
    fn starts_not_ready() {
        let h = OperatorHealth::new();
        let app = h.snapshot();
        assert_eq!(app.status, Status::NotReady);
        assert_eq!(app.http_code(), 503);
        assert_eq!(app.components.len(), 3);
        for c in app.components.values() {
            assert_eq!(c.status, Status::NotReady);
            assert_eq!(c.details, Some(json!({"reason": "starting"})));
        }
        let (code, text) = readiness(&app);
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        // Equals are named in order: "controller" sorts first.
        assert_eq!(text, "not ready: controller is not_ready\n");
        assert_eq!(liveness(&app).0, StatusCode::OK);
    }

    #[test]
    fn all_ready_is_200_and_one_affected_still_is() {
        let h = OperatorHealth::new();
        all(&h, Status::Ready);
        let app = h.snapshot();
        assert_eq!((app.status, app.http_code()), (Status::Ready, 200));
        assert_eq!(readiness(&app), (StatusCode::OK, "ok\n".to_owned()));

        h.set(
            "prober",
            ComponentHealth::new(Status::Affected).with_details(json!({"slow_pods": 2})),
        );
        let app = h.snapshot();
        assert_eq!((app.status, app.http_code()), (Status::Affected, 200));
        assert_eq!(readiness(&app).0, StatusCode::OK);
        assert_eq!(liveness(&app).0, StatusCode::OK);
    }

    #[test]
    fn readiness_names_the_worst_component() {
        let h = OperatorHealth::new();
        all(&h, Status::Ready);
        h.set("prober", ComponentHealth::new(Status::Affected));
        h.set("kube_api", ComponentHealth::new(Status::NotReady));
        let (code, text) = readiness(&h.snapshot());
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(text, "not ready: kube_api is not_ready\n");
    }

    #[test]
    fn shutting_down_is_unready_but_alive() {
        let h = OperatorHealth::new();
        all(&h, Status::Ready);
        h.shutting_down();
        // Later updates must not make a stopping operator look ready again.
        h.set("controller", ComponentHealth::new(Status::Ready));
        let app = h.snapshot();
        assert_eq!((app.status, app.http_code()), (Status::ShuttingDown, 503));
        assert!(app.components.values().all(|c| c.status == Status::ShuttingDown));
        assert_eq!(readiness(&app).0, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(liveness(&app).0, StatusCode::OK);
    }

    #[test]
    fn panicked_fails_liveness_even_while_shutting_down() {
        let h = OperatorHealth::new();
        all(&h, Status::Ready);
        h.set("prober", ComponentHealth::new(Status::Panicked));
        let app = h.snapshot();
        assert_eq!(app.status, Status::Panicked);
        assert_eq!(
            liveness(&app),
            (StatusCode::SERVICE_UNAVAILABLE, "panicked: prober\n".to_owned())
        );
        assert_eq!(readiness(&app).1, "not ready: prober is panicked\n");

        h.shutting_down();
        let app = h.snapshot();
        assert_eq!(app.components["prober"].status, Status::Panicked);
        assert_eq!(app.components["controller"].status, Status::ShuttingDown);
        assert_eq!(liveness(&app).0, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn health_body_round_trips_through_the_parser() {
        let h = OperatorHealth::new();
        all(&h, Status::Ready);
        h.set("kube_api", ComponentHealth::new(Status::Affected));
        let body = serde_json::to_vec(&h.snapshot()).unwrap();
        let report = crate::chains::zksync::parse_health(&body).unwrap();
        assert_eq!(report.status, Status::Affected);
        assert_eq!(report.components["kube_api"], Status::Affected);
    }

    #[test]
    fn an_affected_component_recovers_but_one_still_starting_does_not() {
        let h = OperatorHealth::new();
        h.recovered("kube_api");
        assert_eq!(
            h.snapshot().components["kube_api"].status,
            Status::NotReady,
            "still starting"
        );
        all(&h, Status::Ready);
        h.set("kube_api", ComponentHealth::new(Status::Affected));
        assert_eq!(h.snapshot().status, Status::Affected);
        h.recovered("kube_api");
        assert_eq!(h.snapshot().status, Status::Ready);
    }
}
