//! The fleet: every validator's state and its two listeners, and the network they share.
//!
//! A validator owns its state and an accept loop per port its mode opens (health port, metrics
//! port: see [`Mode::serves`]). Each accept loop owns its live connections, so stopping it (mode
//! `unreachable`, Radix `booting` for the metrics port, `restart`) closes the port and resets
//! every connection before the admin request returns. A connection is served over HTTP, or, for
//! the modes an HTTP server cannot play ([`Mode::speaks_http`]), on the raw socket ([`raw`]);
//! switching into or out of those reopens the ports, as a new process would.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};
use tracing::{debug, warn};

use crate::sim::access::{self, Serving};
use crate::sim::mode::{Action, Change, Mode};
use crate::sim::network::Network;
use crate::sim::raw;
use crate::sim::render::{self, Call, Identity, Reply, splitmix64};
use crate::sim::state::{Snapshot, Validator};
use crate::sim::{Endpoint, Profile, wall_now};

/// Pause after a failed accept (typically EMFILE), so a full descriptor table does not spin a core.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// Idle time after which a connection is closed while waiting for a request (hyper's default,
/// made explicit: it also bounds how long idle keep-alive connections hold descriptors).
/// Largest JSON-RPC request body the simulator reads: a probe's call is under 100 bytes.
const MAX_RPC_BODY: usize = 64 << 10;
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Spread of the validators' starting state versions, so their figures differ.
const VERSION_SPREAD: u64 = 10_000;

/// A port that could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {source}")]
pub struct BindError {
    pub addr: SocketAddr,
    #[source]
    pub source: std::io::Error,
}

impl BindError {
    pub fn is_addr_in_use(&self) -> bool {
        self.source.kind() == std::io::ErrorKind::AddrInUse
    }
}

/// One running accept loop.
struct Listener {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

struct Slot {
    validator: Mutex<Validator>,
    /// By [`Endpoint::index`]: the running accept loop of each open port.
    listeners: Mutex<[Option<Listener>; 2]>,
    /// By [`Endpoint::index`]: requests received since the simulator started.
    requests: [AtomicU64; 2],
    /// The headers of the last request answered, with `Serving::record_requests`.
    last_request: Mutex<Option<Vec<(String, String)>>>,
}

/// All simulated validators of this process.
pub struct Fleet {
    profile: Profile,
    first_ip: u32,
    health_port: u16,
    metrics_port: u16,
    slots: Box<[Slot]>,
    /// The network every validator belongs to. Lock order: a validator, then the network.
    network: RwLock<Network>,
    /// Serializes admin changes, so binding and unbinding never interleave.
    admin: tokio::sync::Mutex<()>,
    serving: Serving,
}

/// A poisoned lock only means another thread panicked mid-request; the state it guards is plain
/// data, consistent between statements, so it stays usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The network, for reading (poisoning as for [`lock`]).
fn read(n: &RwLock<Network>) -> std::sync::RwLockReadGuard<'_, Network> {
    n.read().unwrap_or_else(PoisonError::into_inner)
}

impl Fleet {
    /// A fleet of `count` synced validators on consecutive IPs from `first_ip` (not yet listening).
    pub fn new(profile: Profile, first_ip: Ipv4Addr, count: u32, health_port: u16, metrics_port: u16) -> Fleet {
        let now = wall_now();
        let network = Network::new(now);
        let first = u32::from(first_ip);
        let slots = (0..count)
            .map(|i| {
                let offset = splitmix64(u64::from(first.wrapping_add(i))) % VERSION_SPREAD;
                Slot {
                    validator: Mutex::new(Validator::new(now, offset as f64, &network)),
                    listeners: Mutex::new([None, None]),
                    requests: [AtomicU64::new(0), AtomicU64::new(0)],
                    last_request: Mutex::new(None),
                }
            })
            .collect();
        Fleet {
            profile,
            first_ip: first,
            health_port,
            metrics_port,
            slots,
            network: RwLock::new(network),
            admin: tokio::sync::Mutex::new(()),
            serving: Serving::default(),
        }
    }

    /// The same fleet, letting probes in as `serving` says (HTTPS, a token, `::1`).
    pub fn with_serving(self, serving: Serving) -> Fleet {
        Fleet { serving, ..self }
    }

    pub fn profile(&self) -> Profile {
        self.profile
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn ip(&self, idx: usize) -> Ipv4Addr {
        Ipv4Addr::from(self.first_ip.wrapping_add(idx as u32))
    }

    pub fn index_of(&self, ip: Ipv4Addr) -> Option<usize> {
        let idx = u32::from(ip).checked_sub(self.first_ip)? as usize;
        (idx < self.slots.len()).then_some(idx)
    }

    /// The validator answering at `ip`: its IPv4 address, or `::1` for the first one when it
    /// listens there too.
    pub fn find(&self, ip: IpAddr) -> Option<usize> {
        match ip {
            IpAddr::V4(v4) => self.index_of(v4),
            IpAddr::V6(v6) => {
                (v6 == Ipv6Addr::LOCALHOST && self.serving.ipv6_loopback && !self.is_empty()).then_some(0)
            }
        }
    }

    /// The headers of validator `idx`'s last request, when requests are recorded.
    pub fn last_request(&self, idx: usize) -> Option<Vec<(String, String)>> {
        lock(&self.slots[idx].last_request).clone()
    }

    pub fn mode(&self, idx: usize) -> Mode {
        lock(&self.slots[idx].validator).mode()
    }

    /// Requests validator `idx` received on each endpoint (by [`Endpoint::index`]).
    pub fn requests(&self, idx: usize) -> [u64; 2] {
        self.slots[idx].requests.each_ref().map(|n| n.load(Ordering::Relaxed))
    }

    fn count_request(&self, idx: usize, endpoint: Endpoint) {
        self.slots[idx].requests[endpoint.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Validator `idx`'s answer to `call` now; `None` for a request it does not serve (Radix and
    /// zksync serve one path per endpoint).
    fn reply(&self, idx: usize, endpoint: Endpoint, call: &Call) -> Option<Reply> {
        if matches!(self.profile, Profile::Radix | Profile::Zksync) {
            let path = match endpoint {
                Endpoint::Health => self.profile.default_health_path(),
                Endpoint::Metrics => self.profile.default_metrics_path(),
            };
            if call.path != path {
                return None;
            }
        }
        let (snap, _) = self.snapshot(idx, wall_now());
        render::reply(self.profile, endpoint, call, &snap, &Identity::for_ip(self.ip(idx)))
    }

    /// What validator `idx` reports at `now`, and which of its ports (by [`Endpoint::index`]) are open.
    pub fn snapshot(&self, idx: usize, now: f64) -> (Snapshot, [bool; 2]) {
        let snap = lock(&self.slots[idx].validator).snapshot(now, &read(&self.network));
        let open = lock(&self.slots[idx].listeners).each_ref().map(Option::is_some);
        (snap, open)
    }

    /// Since when the network is halted, if it is.
    pub fn halted_since(&self) -> Option<f64> {
        read(&self.network).halted_since()
    }

    /// Halts the network (or resumes it) for every validator at once. Nothing else changes: the
    /// validators' figures follow from the network's new anchor.
    pub async fn set_network_halted(&self, halted: bool) -> Option<f64> {
        let _serial = self.admin.lock().await;
        let mut network = self.network.write().unwrap_or_else(PoisonError::into_inner);
        network.set_halted(halted, wall_now());
        network.halted_since()
    }

    /// Opens every validator's ports; stops at the first that cannot be opened.
    pub async fn bind_all(self: &Arc<Self>) -> Result<(), BindError> {
        let _serial = self.admin.lock().await;
        for idx in 0..self.slots.len() {
            let mode = lock(&self.slots[idx].validator).mode();
            self.reconcile(idx, mode, false).await?;
        }
        Ok(())
    }

    /// Applies one admin change to the validators `idxs`, opening or closing ports as the new
    /// modes need. Stops at the first port that cannot be reopened.
    pub async fn apply(
        self: &Arc<Self>,
        idxs: impl IntoIterator<Item = usize>,
        change: Change,
    ) -> Result<usize, BindError> {
        let _serial = self.admin.lock().await;
        let mut changed = 0;
        for idx in idxs {
            let now = wall_now();
            let (before, mode) = {
                let mut v = lock(&self.slots[idx].validator);
                let before = v.mode();
                let net = read(&self.network);
                if let Some(in_set) = change.in_validator_set {
                    v.set_in_validator_set(in_set, now, &net);
                }
                match change.action {
                    Some(Action::Mode(mode)) => v.set_mode(mode, now, &net),
                    Some(Action::Restart) => v.restart(now, &net),
                    None => {}
                }
                (before, v.mode())
            };
            // A new process has new sockets: live connections are reset. So are they when the
            // mode takes connections over from HTTP or gives them back (each connection is
            // served one way from its accept on).
            let fresh = change.action == Some(Action::Restart)
                || (before != mode && !(before.speaks_http() && mode.speaks_http()));
            self.reconcile(idx, mode, fresh).await?;
            changed += 1;
        }
        Ok(changed)
    }

    /// Makes validator `idx`'s ports those `mode` opens (all reopened when `fresh`). Ports are
    /// closed before any is opened, so a restart's new sockets never meet the old ones.
    async fn reconcile(self: &Arc<Self>, idx: usize, mode: Mode, fresh: bool) -> Result<(), BindError> {
        let mut running = std::mem::take(&mut *lock(&self.slots[idx].listeners));
        for endpoint in Endpoint::ALL {
            let slot = &mut running[endpoint.index()];
            if (fresh || !mode.serves(self.profile, endpoint))
                && let Some(l) = slot.take()
            {
                stop(l).await;
            }
        }
        let mut result = Ok(());
        for endpoint in Endpoint::ALL {
            let slot = &mut running[endpoint.index()];
            if slot.is_none() && mode.serves(self.profile, endpoint) {
                match self.start(idx, endpoint).await {
                    Ok(l) => *slot = Some(l),
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
        }
        // Whatever opened stays recorded, so a later change can close it.
        *lock(&self.slots[idx].listeners) = running;
        result
    }

    async fn start(self: &Arc<Self>, idx: usize, endpoint: Endpoint) -> Result<Listener, BindError> {
        let port = match endpoint {
            Endpoint::Health => self.health_port,
            Endpoint::Metrics => self.metrics_port,
        };
        let mut listeners = vec![bind(SocketAddr::new(IpAddr::V4(self.ip(idx)), port)).await?];
        if idx == 0 && self.serving.ipv6_loopback {
            listeners.push(bind(SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port)).await?);
        }
        Ok(self.spawn_accept(listeners, idx, endpoint))
    }

    fn spawn_accept(self: &Arc<Self>, listeners: Vec<TcpListener>, idx: usize, endpoint: Endpoint) -> Listener {
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(accept_loop(listeners, stopped, Arc::clone(self), idx, endpoint));
        Listener { stop, task }
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, BindError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| BindError { addr, source })
}

/// Closes the port and resets its connections; returns once both are gone.
async fn stop(listener: Listener) {
    // Err: the loop already ended (it only ends when told to, so this is a formality).
    let _ = listener.stop.send(());
    if let Err(e) = listener.task.await {
        warn!(error = %e, "accept loop ended abnormally");
    }
}

/// The next connection on any of `listeners` (one, or an address's two: IPv4 and `::1`).
async fn accept_any(listeners: &[TcpListener]) -> std::io::Result<(TcpStream, SocketAddr)> {
    match listeners {
        [one] => one.accept().await,
        many => {
            futures::future::select_all(many.iter().map(|l| Box::pin(l.accept())))
                .await
                .0
        }
    }
}

async fn accept_loop(
    listeners: Vec<TcpListener>,
    mut stopped: oneshot::Receiver<()>,
    fleet: Arc<Fleet>,
    idx: usize,
    endpoint: Endpoint,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            _ = &mut stopped => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = accept_any(&listeners) => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, Arc::clone(&fleet), idx, endpoint));
                }
                Err(e) => {
                    warn!(ip = %fleet.ip(idx), error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    }
    drop(listeners);
    connections.shutdown().await;
}

async fn serve_connection(stream: TcpStream, fleet: Arc<Fleet>, idx: usize, endpoint: Endpoint) {
    // Nagle would add up to 40 ms to small answers and make `slow` timings fuzzy.
    let _ = stream.set_nodelay(true);
    // The raw modes play the connection itself, before any TLS: a port that says nothing, or
    // trickles, does so whatever it would have spoken.
    match fleet.mode(idx) {
        Mode::Silent => {
            fleet.count_request(idx, endpoint);
            return raw::silent(stream).await;
        }
        Mode::Slowloris { byte_interval_ms } => {
            let mut stream = stream;
            let Some(call) = raw::read_call(&mut stream).await else {
                return;
            };
            fleet.count_request(idx, endpoint);
            let reply = fleet.reply(idx, endpoint, &call).unwrap_or_else(not_found);
            return raw::trickle(stream, reply, Duration::from_millis(byte_interval_ms)).await;
        }
        _ => {}
    }
    let Some(tls) = fleet.serving.tls.clone() else {
        return serve_http(stream, fleet, idx, endpoint).await;
    };
    let handshake = tokio_rustls::TlsAcceptor::from(tls).accept(stream);
    match tokio::time::timeout(HEADER_READ_TIMEOUT, handshake).await {
        Ok(Ok(stream)) => serve_http(stream, fleet, idx, endpoint).await,
        // A client that refused the certificate ends here: what a real node would see too.
        Ok(Err(e)) => debug!(error = %e, "TLS handshake failed"),
        Err(_) => debug!("TLS handshake timed out"),
    }
}

async fn serve_http<S>(stream: S, fleet: Arc<Fleet>, idx: usize, endpoint: Endpoint)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| answer(Arc::clone(&fleet), idx, endpoint, req));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    if let Err(e) = builder.serve_connection(TokioIo::new(stream), service).await {
        debug!(error = %e, "connection ended with an error");
    }
}

async fn answer(
    fleet: Arc<Fleet>,
    idx: usize,
    endpoint: Endpoint,
    req: Request<Incoming>,
) -> Result<Response<axum::body::Body>, Infallible> {
    fleet.count_request(idx, endpoint);
    if fleet.serving.record_requests {
        *lock(&fleet.slots[idx].last_request) = Some(access::recorded(req.headers()));
    }
    if !access::authorized(req.headers(), fleet.serving.bearer_tokens_file.as_deref()) {
        let mut resp = text(
            StatusCode::UNAUTHORIZED,
            "unauthorized: a valid bearer token is required\n",
        );
        resp.headers_mut()
            .insert(hyper::header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return Ok(resp);
    }
    let one_page = matches!(fleet.profile, Profile::Radix | Profile::Zksync);
    let post = req.method() == Method::POST && !one_page;
    if req.method() != Method::GET && req.method() != Method::HEAD && !post {
        return Ok(text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n"));
    }
    let mut call = Call {
        path: req.uri().path().to_owned(),
        rpc: None,
    };
    if post {
        // A JSON-RPC call: its `method` says what is asked. Bounded: a probe's call is tiny.
        let body = match Limited::new(req.into_body(), MAX_RPC_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => return Ok(text(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n")),
        };
        let Some(method) = raw::rpc_method(&body) else {
            return Ok(text(StatusCode::BAD_REQUEST, "not a JSON-RPC call\n"));
        };
        call.rpc = Some(method);
    }
    let mode = fleet.mode(idx);
    if let Mode::Slow { delay_ms } = mode {
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
    }
    let Some(reply) = fleet.reply(idx, endpoint, &call) else {
        return Ok(text(StatusCode::NOT_FOUND, "not found\n"));
    };
    debug!(ip = %fleet.ip(idx), ?endpoint, status = reply.status, "answered");
    let headers = render::headers(mode, &call, &reply.body);
    let pace = match mode {
        Mode::EndlessBody { interval_ms } => Duration::from_millis(interval_ms),
        _ => Duration::ZERO,
    };
    Ok(response(reply, &headers, pace))
}

fn not_found() -> Reply {
    Reply {
        status: 404,
        content_type: render::PLAIN,
        body: render::Body::Full(b"not found\n".to_vec()),
    }
}

/// The HTTP response of `reply`, with `headers`, a streamed body's chunks `pace` apart.
fn response(reply: Reply, headers: &[(&'static str, String)], pace: Duration) -> Response<axum::body::Body> {
    let body = match reply.body {
        render::Body::Full(bytes) => axum::body::Body::from(bytes),
        render::Body::Streamed(chunks) if pace.is_zero() => {
            axum::body::Body::from_stream(futures::stream::iter(chunks.map(Ok::<Bytes, Infallible>)))
        }
        render::Body::Streamed(chunks) => {
            let paced = futures::stream::iter(chunks).then(move |chunk| async move {
                tokio::time::sleep(pace).await;
                Ok::<Bytes, Infallible>(chunk)
            });
            axum::body::Body::from_stream(paced)
        }
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(reply.content_type));
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            resp.headers_mut().insert(HeaderName::from_static(name), value);
        }
    }
    resp
}

fn text(status: StatusCode, body: &'static str) -> Response<axum::body::Body> {
    let mut resp = Response::new(axum::body::Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(render::PLAIN));
    resp
}
