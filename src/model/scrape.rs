//! What the probe shell hands to a chain reader: the raw answers of one scrape of one pod.

use std::sync::Arc;

use bytes::Bytes;

use super::access::Access;

/// Which of a policy's endpoints a request goes to (`spec.probe.health` or `spec.probe.metrics`):
/// its port and scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    /// The node's own API: its health and status endpoints.
    Health,
    /// The node's Prometheus endpoint.
    Metrics,
    /// A second process of the validator, beside the node (Ethereum: the execution client's
    /// JSON-RPC). Optional: when it fails the reader says so, but the node is not unreachable.
    Execution,
}

impl Api {
    /// The spec field that configures it, for messages.
    pub fn field(self) -> &'static str {
        match self {
            Api::Health => "health",
            Api::Metrics => "metrics",
            Api::Execution => "execution",
        }
    }

    /// Whether the node counts as unreachable when only this API does not answer.
    pub fn required(self) -> bool {
        !matches!(self, Api::Execution)
    }
}

/// One request a chain makes of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Request {
    pub api: Api,
    /// The path, unless the policy sets its API's `path` (which replaces the path of the API's
    /// first request).
    pub path: &'static str,
    pub method: Method,
}

impl Request {
    /// A GET of `path`.
    pub const fn get(api: Api, path: &'static str) -> Request {
        Request {
            api,
            path,
            method: Method::Get,
        }
    }

    /// A JSON-RPC call: a POST of `body` (`application/json`) to `path`.
    pub const fn post(api: Api, path: &'static str, body: &'static str) -> Request {
        Request {
            api,
            path,
            method: Method::Post(body),
        }
    }
}

/// How a request is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    /// A POST of this JSON body (a JSON-RPC call).
    Post(&'static str),
}

/// One HTTP answer: the status code and the body (bounded and decoded by the probe).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub code: u16,
    pub body: Bytes,
}

/// Why a request got no answer to read. Plain words, bounded, no response body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeFailure {
    /// A short machine-friendly kind (`ConnectionRefused`, `Timeout`, `BodyTooLarge`, …).
    pub kind: &'static str,
    /// One line in plain words.
    pub message: String,
    /// True when the process did not answer at all (refused, timed out, reset): these count
    /// towards `Unreachable`. An answer that is merely wrong (a redirect, a body too large) is
    /// about a process that does run.
    pub no_answer: bool,
}

impl ProbeFailure {
    /// The port was closed: the process runs (or not) without listening there.
    pub fn refused(&self) -> bool {
        self.kind == "ConnectionRefused"
    }

    /// The operator failed, not the pod (it ran out of file descriptors, or cannot read its own
    /// CA or token file): no verdict may come of it.
    pub fn is_operators(&self) -> bool {
        self.kind == TOO_MANY_OPEN_FILES || self.kind == CREDENTIALS
    }
}

/// The kind of a failure that is the operator's, not the pod's ([`ProbeFailure::is_operators`]).
pub const TOO_MANY_OPEN_FILES: &str = "TooManyOpenFiles";
/// The kind of a failure to read the operator's own CA or token file (the policy reports it as
/// a spec error; a probe in between gives no verdict).
pub const CREDENTIALS: &str = "Credentials";

/// What one request gave.
pub type Fetched = Result<Answer, ProbeFailure>;

/// One scrape of one pod: every request the policy makes, with what it gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Scrape {
    /// When the scrape was taken (Unix seconds, the operator's clock).
    pub at: f64,
    pub answers: Vec<(Request, Fetched)>,
}

impl Scrape {
    /// What `request` gave; `None` when the policy does not make it.
    pub fn get(&self, request: Request) -> Option<&Fetched> {
        self.answers.iter().find(|(r, _)| *r == request).map(|(_, f)| f)
    }

    /// True when a request failed for the operator's own reasons ([`ProbeFailure::is_operators`]).
    pub fn operator_failed(&self) -> bool {
        self.answers
            .iter()
            .any(|(_, f)| matches!(f, Err(e) if e.is_operators()))
    }

    /// True when a request failed because the operator has no file descriptor left.
    pub fn out_of_files(&self) -> bool {
        self.answers
            .iter()
            .any(|(_, f)| matches!(f, Err(e) if e.kind == TOO_MANY_OPEN_FILES))
    }

    /// True when requests were made to the node's own APIs and none was answered at all (an
    /// optional API's answer or silence does not count: see [`Api::required`]).
    pub fn no_answer(&self) -> bool {
        let mut required = self.answers.iter().filter(|(r, _)| r.api.required()).peekable();
        required.peek().is_some() && required.all(|(_, f)| matches!(f, Err(e) if e.no_answer))
    }

    /// The failures' words, each once: why nothing answered.
    pub fn failure_message(&self) -> String {
        let mut msgs: Vec<&str> = Vec::new();
        for (_, f) in &self.answers {
            if let Err(e) = f
                && !msgs.contains(&e.message.as_str())
            {
                msgs.push(&e.message);
            }
        }
        msgs.join("; ")
    }
}

/// Where and how to probe one pod: each request the policy makes, with its URL, and what every
/// request carries (shared by the policy's pods).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub requests: Vec<(Request, String)>,
    pub access: Arc<Access>,
}

impl Target {
    /// Every request of the chain to the APIs given a URL (what `nodehealth probe` takes): the
    /// API's first request goes to the URL as given, the others to their own path on its host.
    pub fn from_urls(
        profile: crate::chains::Profile,
        health: Option<String>,
        metrics: Option<String>,
        execution: Option<String>,
    ) -> Target {
        let urls = [
            (Api::Health, health),
            (Api::Metrics, metrics),
            (Api::Execution, execution),
        ];
        let mut first = Vec::new();
        let requests = profile
            .requests()
            .iter()
            .filter_map(|r| {
                let url = urls.iter().find(|(api, _)| *api == r.api)?.1.as_deref()?;
                if first.contains(&r.api) {
                    return Some((*r, format!("{}{}", origin(url), r.path)));
                }
                first.push(r.api);
                Some((*r, url.to_owned()))
            })
            .collect();
        Target {
            requests,
            access: Arc::default(),
        }
    }

    /// The same requests with this access (TLS trust, token, headers).
    pub fn with_access(self, access: Arc<Access>) -> Target {
        Target { access, ..self }
    }

    /// The URL of an API's first request.
    pub fn url(&self, api: Api) -> Option<&str> {
        self.requests
            .iter()
            .find(|(r, _)| r.api == api)
            .map(|(_, u)| u.as_str())
    }
}

/// `scheme://host:port` of a URL (everything before the path).
fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    url[after_scheme..].find('/').map_or(url, |i| &url[..after_scheme + i])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(api: Api) -> (Request, Fetched) {
        let f = ProbeFailure {
            kind: "ConnectionRefused",
            message: "connection refused".into(),
            no_answer: true,
        };
        (Request::get(api, "/"), Err(f))
    }

    #[test]
    fn only_the_nodes_own_apis_make_it_unreachable() {
        let ok = (
            Request::get(Api::Execution, "/"),
            Ok(Answer {
                code: 200,
                body: Bytes::new(),
            }),
        );
        let scrape = |answers| Scrape { at: 0.0, answers };
        assert!(
            scrape(vec![failed(Api::Health), ok.clone()]).no_answer(),
            "an answering execution client"
        );
        assert!(!scrape(vec![ok.clone(), failed(Api::Execution)]).no_answer());
        assert!(!scrape(vec![failed(Api::Health), (Request::get(Api::Metrics, "/"), ok.1)]).no_answer());
        assert!(!scrape(vec![]).no_answer(), "nothing asked");
    }

    #[test]
    fn an_apis_later_requests_go_to_their_own_path_on_the_given_host() {
        assert_eq!(origin("http://127.0.0.1:26657/status"), "http://127.0.0.1:26657");
        assert_eq!(origin("https://[::1]:8545"), "https://[::1]:8545");
        assert_eq!(origin("http://h/"), "http://h");
    }
}
