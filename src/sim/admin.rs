//! The admin API: JSON over HTTP on `--admin-addr`.
//!
//! - `GET /healthz` → `ok`
//! - `GET /validators` → every validator's [`View`]
//! - `GET /validators/{ip}` → one [`View`] (404 for an IP not in the fleet; `::1` is the first
//!   validator when it listens there too)
//! - `GET /validators/{ip}/request` → `{"headers":[[name,value],…]}`: the last request it
//!   answered, with `--record-requests` (404 before any, or without the flag)
//! - `POST /validators/{ip}/mode`, `POST /validators/all/mode` with a body such as
//!   `{"mode":"catching_up","rate":30,"behind_seconds":600}`, `{"mode":"lagging","behind_seconds":120}`,
//!   `{"mode":"restart"}` or `{"in_validator_set":false}` (see [`crate::sim::mode`]) → the new
//!   [`View`] for one IP, `{"updated":N}` for all; 400 with `{"error":…}` for bad input.
//! - `GET /network` → `{"halted":false,"since":null}` or `{"halted":true,"since":1763798400.5}`
//!   (epoch seconds the halt began)
//! - `POST /network` with `{"halted":true}` or `{"halted":false}`: halts the whole network (a
//!   liveness break: every validator's head freezes) or resumes it → the new network state; 400
//!   with `{"error":…}` for bad input. Halting a halted network (or resuming a running one)
//!   changes nothing.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use serde::Serialize;
use serde_json::{Value, json};
use tracing::info;

use crate::sim::mode::parse_change;
use crate::sim::network::parse_network_change;
use crate::sim::render::app_status;
use crate::sim::server::Fleet;
use crate::sim::{Profile, wall_now};

/// A validator's key figures.
#[derive(Debug, Clone, Serialize)]
pub struct View {
    pub ip: Ipv4Addr,
    /// The mode as a request would set it (`{"mode":"catching_up","rate":30,…}`).
    pub mode: Value,
    pub in_validator_set: bool,
    /// Whether any of its ports is open.
    pub listening: bool,
    /// Which of its ports are open: `{"health":true,"metrics":false}` (a booting Radix node).
    pub ports: Ports,
    /// Requests it received on each port since the simulator started: `{"health":12,"metrics":12}`.
    pub requests: Requests,
    /// What its health endpoint says: a Radix status word (`UP`, `SYNCING`, `OUT_OF_SYNC`,
    /// `BOOTING_PRE_GENESIS`), or a zksync application status (`ready`, `affected`, `not_ready`).
    pub status: &'static str,
    pub health_factor: f64,
    pub state_version: u64,
    pub ledger_proposer_epoch_second: f64,
    pub progress_rate: f64,
    pub recent_missed: u64,
    pub wallclock_epoch_second: f64,
    pub process_start_epoch_second: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_block: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub main_node_block: Option<u64>,
}

/// Which ports of a validator are open.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Ports {
    pub health: bool,
    pub metrics: bool,
}

/// Requests received, per port.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Requests {
    pub health: u64,
    pub metrics: u64,
}

/// `GET /network`'s body.
pub fn network_view(halted_since: Option<f64>) -> Value {
    json!({"halted": halted_since.is_some(), "since": halted_since})
}

/// The validator `idx`'s figures now.
pub fn view(fleet: &Fleet, idx: usize) -> View {
    let (snap, open) = fleet.snapshot(idx, wall_now());
    let (status, local_block, main_node_block) = match fleet.profile() {
        Profile::Radix => (snap.status.as_str(), None, None),
        Profile::Zksync => (app_status(&snap).as_str(), snap.local_block(), snap.main_node_block()),
        _ => (snap.mode.name(), None, None),
    };
    View {
        ip: fleet.ip(idx),
        mode: snap.mode.to_json(),
        in_validator_set: snap.in_validator_set,
        listening: open.contains(&true),
        ports: Ports {
            health: open[0],
            metrics: open[1],
        },
        requests: {
            let [health, metrics] = fleet.requests(idx);
            Requests { health, metrics }
        },
        status,
        health_factor: snap.health_factor,
        state_version: snap.state_version as u64,
        ledger_proposer_epoch_second: snap.proposer_ts,
        progress_rate: snap.progress_rate,
        recent_missed: snap.recent_missed,
        wallclock_epoch_second: snap.wallclock,
        process_start_epoch_second: snap.process_start,
        local_block,
        main_node_block,
    }
}

pub fn router(fleet: Arc<Fleet>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/validators", get(list))
        .route("/validators/{ip}", get(one))
        .route("/validators/{ip}/request", get(last_request))
        .route("/validators/{target}/mode", post(set_mode))
        .route("/network", get(network).post(set_network))
        .with_state(fleet)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

/// The fleet index of `ip`, or the error to answer with.
fn find(fleet: &Fleet, ip: &str) -> Result<usize, (StatusCode, String)> {
    let parsed: IpAddr = ip.parse().map_err(|_| {
        (
            StatusCode::BAD_REQUEST,
            format!("{ip:?} is not an IP address (or \"all\" for a mode change)"),
        )
    })?;
    fleet.find(parsed).ok_or_else(|| {
        let last = fleet.ip(fleet.len().saturating_sub(1));
        (
            StatusCode::NOT_FOUND,
            format!("no validator at {parsed}; this fleet is {} to {last}", fleet.ip(0)),
        )
    })
}

async fn list(State(fleet): State<Arc<Fleet>>) -> Json<Vec<View>> {
    Json((0..fleet.len()).map(|idx| view(&fleet, idx)).collect())
}

async fn one(State(fleet): State<Arc<Fleet>>, Path(ip): Path<String>) -> Response {
    match find(&fleet, &ip) {
        Ok(idx) => Json(view(&fleet, idx)).into_response(),
        Err((status, message)) => error(status, message),
    }
}

async fn last_request(State(fleet): State<Arc<Fleet>>, Path(ip): Path<String>) -> Response {
    let idx = match find(&fleet, &ip) {
        Ok(idx) => idx,
        Err((status, message)) => return error(status, message),
    };
    match fleet.last_request(idx) {
        Some(headers) => Json(json!({"headers": headers})).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "no request recorded (none yet, or the simulator runs without --record-requests)",
        ),
    }
}

async fn set_mode(State(fleet): State<Arc<Fleet>>, Path(target): Path<String>, body: Bytes) -> Response {
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("body is not JSON: {e}")),
    };
    let change = match parse_change(&value) {
        Ok(c) => c,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let single = if target == "all" {
        None
    } else {
        match find(&fleet, &target) {
            Ok(idx) => Some(idx),
            Err((status, message)) => return error(status, message),
        }
    };
    let idxs: Box<dyn Iterator<Item = usize> + Send> = match single {
        Some(idx) => Box::new(std::iter::once(idx)),
        None => Box::new(0..fleet.len()),
    };
    match fleet.apply(idxs, change).await {
        Ok(updated) => {
            info!(target = %target, change = %value, updated, "mode changed");
            match single {
                Some(idx) => Json(view(&fleet, idx)).into_response(),
                None => Json(json!({"updated": updated})).into_response(),
            }
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn network(State(fleet): State<Arc<Fleet>>) -> Json<Value> {
    Json(network_view(fleet.halted_since()))
}

async fn set_network(State(fleet): State<Arc<Fleet>>, body: Bytes) -> Response {
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("body is not JSON: {e}")),
    };
    let halted = match parse_network_change(&value) {
        Ok(h) => h,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let since = fleet.set_network_halted(halted).await;
    info!(halted, since, "network changed");
    Json(network_view(since)).into_response()
}
