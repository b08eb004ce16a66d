//! An HTTP proxy in front of the API server that a test can make slow or refusing, and that
//! counts what went through it. The operator talks plain HTTP to it (a kubeconfig pointing at
//! `http://127.0.0.1:port`); it talks HTTPS to the API server, streaming watches through.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;

/// One answer the proxy gives instead of the server's: to the next `times` requests with this
/// method whose path ends with `path_suffix`.
#[derive(Debug, Clone)]
pub struct Fault {
    pub method: http::Method,
    pub path_suffix: String,
    pub code: u16,
    pub times: usize,
    /// Pass the request on anyway, then answer `code`: the server acted, the client never heard.
    pub forward: bool,
}

/// A request that went through, and the code it got (from the server or from a fault).
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: http::Method,
    pub path: String,
    pub code: u16,
    pub injected: bool,
    /// The request's body (evictions carry their UID precondition there).
    pub body: Bytes,
}

#[derive(Default)]
struct Faults {
    queue: Vec<Fault>,
    delay: Duration,
    seen: Vec<Seen>,
}

/// Requests cut off until lifted: every method when `method` is `None`.
#[derive(Debug, Clone)]
struct Block {
    method: Option<http::Method>,
    path_suffix: String,
}

impl Block {
    fn matches(&self, method: &http::Method, path: &str) -> bool {
        self.method.as_ref().is_none_or(|m| m == method) && path.ends_with(&self.path_suffix)
    }
}

struct Shared {
    faults: Mutex<Faults>,
    /// Watched by every answer being streamed, so that a new block also cuts the open ones.
    blocks: tokio::sync::watch::Sender<Vec<Block>>,
    client: reqwest::Client,
    upstream: String,
}

pub struct ApiProxy {
    state: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl ApiProxy {
    /// A proxy to the API server of `kubeconfig` (its first cluster and user), and a kubeconfig
    /// through it.
    pub async fn start(kubeconfig: &Path, name: &str) -> (ApiProxy, PathBuf) {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let text = std::fs::read_to_string(kubeconfig).unwrap();
        let mut kc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        let upstream = kc["clusters"][0]["cluster"]["server"].as_str().unwrap().to_owned();
        let ca = std::fs::read(kc["clusters"][0]["cluster"]["certificate-authority"].as_str().unwrap()).unwrap();
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()])
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .unwrap();
        let state = Arc::new(Shared {
            faults: Mutex::default(),
            blocks: tokio::sync::watch::Sender::new(Vec::new()),
            client,
            upstream,
        });
        let app = axum::Router::new().fallback(forward).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        kc["clusters"][0]["cluster"]["server"] = format!("http://{addr}").into();
        kc["clusters"][0]["cluster"]
            .as_mapping_mut()
            .unwrap()
            .remove("certificate-authority");
        let path = std::env::temp_dir().join(format!("nodehealth-{name}-apiproxy.kubeconfig"));
        std::fs::write(&path, serde_yaml::to_string(&kc).unwrap()).unwrap();
        (ApiProxy { state, task }, path)
    }

    /// Answers the next `times` matching requests with `code` instead of passing them on.
    pub fn fail(&self, method: http::Method, path_suffix: &str, code: u16, times: usize) {
        self.faults().queue.push(Fault {
            method,
            path_suffix: path_suffix.to_owned(),
            code,
            times,
            forward: false,
        });
    }

    /// Passes the next `times` matching requests on, but answers them 500 as if the connection
    /// failed after the server acted: the client cannot know it happened.
    pub fn lose_answer(&self, method: http::Method, path_suffix: &str, times: usize) {
        self.faults().queue.push(Fault {
            method,
            path_suffix: path_suffix.to_owned(),
            code: 500,
            times,
            forward: true,
        });
    }

    /// Holds every request this long before passing it on (zero: no delay).
    pub fn delay(&self, d: Duration) {
        self.faults().delay = d;
    }

    /// Cuts off requests with this method (any when `None`) whose path ends with `path_suffix`
    /// until [`ApiProxy::unblock`]: new ones are answered 500, open watches end at once.
    pub fn block(&self, method: Option<http::Method>, path_suffix: &str) {
        let block = Block {
            method,
            path_suffix: path_suffix.to_owned(),
        };
        self.state.blocks.send_modify(|b| b.push(block));
    }

    /// Lifts the blocks of this path suffix.
    pub fn unblock(&self, path_suffix: &str) {
        self.state
            .blocks
            .send_modify(|b| b.retain(|b| b.path_suffix != path_suffix));
    }

    /// Faults not used up yet.
    pub fn pending_faults(&self) -> usize {
        self.faults().queue.iter().map(|f| f.times).sum()
    }

    /// The requests so far with this method and a path ending with `suffix`.
    pub fn seen(&self, method: &http::Method, suffix: &str) -> Vec<Seen> {
        let f = self.faults();
        f.seen
            .iter()
            .filter(|s| s.method == method && s.path.ends_with(suffix))
            .cloned()
            .collect()
    }

    fn faults(&self) -> std::sync::MutexGuard<'_, Faults> {
        self.state.faults.lock().unwrap()
    }
}

impl Drop for ApiProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(State(state): State<Arc<Shared>>, req: Request) -> Response {
    let Shared {
        faults,
        blocks,
        client,
        upstream,
    } = &*state;
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let blocked = |b: &Vec<Block>| b.iter().any(|b| b.matches(&method, &path));
    let (injected, delay) = if blocked(&blocks.borrow()) {
        (Some((500, false)), Duration::ZERO)
    } else {
        let mut f = faults.lock().unwrap();
        let hit = f
            .queue
            .iter_mut()
            .find(|x| x.times > 0 && x.method == method && path.ends_with(&x.path_suffix))
            .map(|x| {
                x.times -= 1;
                (x.code, x.forward)
            });
        (hit, f.delay)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let headers = req.headers().clone();
    let query = req.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let body = axum::body::to_bytes(req.into_body(), 64 << 20)
        .await
        .unwrap_or_default();
    let record = |code: u16, injected: bool| {
        faults.lock().unwrap().seen.push(Seen {
            method: method.clone(),
            path: path.clone(),
            code,
            injected,
            body: body.clone(),
        });
    };
    if let Some((code, false)) = injected {
        record(code, true);
        return status_response(code);
    }
    let mut out = client.request(method.clone(), format!("{upstream}{query}"));
    for (k, v) in &headers {
        if k != http::header::HOST {
            out = out.header(k, v);
        }
    }
    let answer = match out.body(body.clone()).send().await {
        Ok(a) => a,
        Err(e) => {
            record(502, false);
            return Response::builder()
                .status(502)
                .body(Body::from(format!("upstream: {e}")))
                .unwrap();
        }
    };
    if let Some((code, true)) = injected {
        record(answer.status().as_u16(), true);
        let _ = answer.bytes().await;
        return status_response(code);
    }
    record(answer.status().as_u16(), false);
    let mut resp = Response::builder().status(answer.status().as_u16());
    for (k, v) in answer.headers() {
        // The body is passed on as it comes, re-chunked.
        if k != http::header::CONTENT_LENGTH && k != http::header::TRANSFER_ENCODING {
            resp = resp.header(k, v);
        }
    }
    let cuts = blocks.subscribe();
    let stream = futures::stream::unfold((answer, cuts), move |(mut a, mut cuts)| {
        let (method, path) = (method.clone(), path.clone());
        async move {
            loop {
                tokio::select! {
                    chunk = a.chunk() => return match chunk {
                        Ok(Some(c)) => Some((Ok::<Bytes, std::io::Error>(c), (a, cuts))),
                        Ok(None) => None,
                        Err(e) => Some((Err(std::io::Error::other(e)), (a, cuts))),
                    },
                    changed = cuts.changed() => {
                        let cut = changed.is_err() || cuts.borrow().iter().any(|b| b.matches(&method, &path));
                        if cut {
                            return None;
                        }
                    }
                }
            }
        }
    })
    .boxed();
    resp.body(Body::from_stream(stream)).unwrap()
}

/// A `Status` as the API server words a refusal with this code.
fn status_response(code: u16) -> Response {
    let reason = match code {
        409 => "Conflict",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        _ => "Unknown",
    };
    let body = serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": format!("injected by the test's API proxy: {reason}"), "reason": reason, "code": code,
    });
    let mut resp = Response::builder()
        .status(code)
        .header(http::header::CONTENT_TYPE, "application/json");
    if code == 429 {
        resp = resp.header(http::header::RETRY_AFTER, "1");
    }
    resp.body(Body::from(body.to_string())).unwrap()
}
