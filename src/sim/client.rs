//! Driving a simulator from tests and harnesses: [`SimProcess`] runs the binary, [`SimClient`]
//! talks to its admin API.

use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::sim::run::EXIT_BIND;

/// The line the simulator prints once every port is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Started {
    pub admin: SocketAddr,
    pub validators: usize,
    pub first_ip: Ipv4Addr,
    pub last_ip: Ipv4Addr,
}

/// How long a simulator may take to open its ports (thousands of binds take well under a second;
/// the margin is for a loaded CI machine).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// Admin requests are local and quick, except `all` changes over thousands of validators.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(60);
/// Stderr lines kept to explain a failed start.
const STDERR_TAIL: usize = 40;

/// A client of a simulator's admin API.
#[derive(Debug, Clone)]
pub struct SimClient {
    admin: SocketAddr,
    http: reqwest::Client,
}

impl SimClient {
    pub fn new(admin: SocketAddr) -> anyhow::Result<SimClient> {
        crate::install_crypto_provider();
        // No proxy: a proxy from the environment would not reach this machine's loopback.
        let http = reqwest::Client::builder().no_proxy().timeout(ADMIN_TIMEOUT).build()?;
        Ok(SimClient { admin, http })
    }

    pub fn admin(&self) -> SocketAddr {
        self.admin
    }

    /// Sets a validator's mode (`None`: every validator), e.g. `json!({"mode": "stalled"})`,
    /// `json!({"mode": "catching_up", "rate": 30})`, `json!({"in_validator_set": false})`.
    pub async fn set_mode(&self, ip: Option<Ipv4Addr>, mode: Value) -> anyhow::Result<()> {
        let target = ip.map_or_else(|| "all".to_owned(), |ip| ip.to_string());
        self.post(&format!("/validators/{target}/mode"), mode).await.map(drop)
    }

    /// Halts the whole network (every validator's head freezes) or resumes it.
    pub async fn set_network_halted(&self, halted: bool) -> anyhow::Result<()> {
        self.post("/network", json!({"halted": halted})).await.map(drop)
    }

    /// The network's state (`GET /network`): `{"halted": bool, "since": epoch seconds or null}`.
    pub async fn network(&self) -> anyhow::Result<Value> {
        self.get_json("/network").await
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let url = format!("http://{}{path}", self.admin);
        let request = body;
        let body = serde_json::to_vec(&request)?;
        let resp = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .with_context(|| format!("POST {url}: reading the answer"))?;
        if !status.is_success() {
            bail!(
                "POST {url} {request}: HTTP {status}: {}",
                String::from_utf8_lossy(&bytes)
            );
        }
        Ok(serde_json::from_slice(&bytes)?)
    }

    /// Restarts a validator's process (`None`: every validator): counters reset, mode synced.
    pub async fn restart(&self, ip: Option<Ipv4Addr>) -> anyhow::Result<()> {
        self.set_mode(ip, json!({"mode": "restart"})).await
    }

    /// One validator's key figures (`GET /validators/{ip}`).
    pub async fn validator(&self, ip: Ipv4Addr) -> anyhow::Result<Value> {
        self.get_json(&format!("/validators/{ip}")).await
    }

    /// The headers of the last request a validator answered (`GET /validators/{ip}/request`,
    /// with `--record-requests`): (lowercase name, value) in arrival order. `ip` may be `::1`.
    pub async fn last_request(&self, ip: std::net::IpAddr) -> anyhow::Result<Vec<(String, String)>> {
        let v = self.get_json(&format!("/validators/{ip}/request")).await?;
        Ok(serde_json::from_value(v["headers"].clone())?)
    }

    /// Every validator's key figures (`GET /validators`).
    pub async fn validators(&self) -> anyhow::Result<Vec<Value>> {
        Ok(serde_json::from_value(self.get_json("/validators").await?)?)
    }

    async fn get_json(&self, path: &str) -> anyhow::Result<Value> {
        let url = format!("http://{}{path}", self.admin);
        let resp = self.http.get(&url).send().await.with_context(|| format!("GET {url}"))?;
        let status = resp.status();
        let bytes = resp.bytes().await?;
        if !status.is_success() {
            bail!("GET {url}: HTTP {status}: {}", String::from_utf8_lossy(&bytes));
        }
        Ok(serde_json::from_slice(&bytes)?)
    }
}

/// Why a simulator did not start.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// A port was taken: try another IP range.
    #[error("nodehealth-sim could not open its ports: {0}")]
    Bind(String),
    #[error("nodehealth-sim did not start: {0}")]
    Failed(String),
}

/// A running `nodehealth-sim`, killed when dropped.
pub struct SimProcess {
    pub started: Started,
    child: Child,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    stderr_reader: Option<std::thread::JoinHandle<()>>,
}

impl SimProcess {
    /// Runs `bin` with `args` and waits for its startup line. Its stderr is forwarded to ours.
    pub fn spawn<S: AsRef<std::ffi::OsStr>>(bin: impl AsRef<Path>, args: &[S]) -> Result<SimProcess, SpawnError> {
        let bin = bin.as_ref();
        let mut child = Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| SpawnError::Failed(format!("{}: {e}", bin.display())))?;
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        let stderr_reader = child.stderr.take().map(|stderr| {
            let tail = Arc::clone(&stderr_tail);
            // Drained for the child's whole life: a full pipe would block its logging.
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    eprintln!("[nodehealth-sim] {line}");
                    let mut tail = tail.lock().unwrap_or_else(PoisonError::into_inner);
                    if tail.len() == STDERR_TAIL {
                        tail.pop_front();
                    }
                    tail.push_back(line);
                }
            })
        });
        let (first_line, line_rx) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            std::thread::spawn(move || {
                let mut lines = BufReader::new(stdout).lines();
                let _ = first_line.send(lines.next());
                // Keep reading so a stray print can never block the child.
                for _ in lines {}
            });
        }
        let mut process = SimProcess {
            started: placeholder(),
            child,
            stderr_tail,
            stderr_reader,
        };
        match line_rx.recv_timeout(STARTUP_TIMEOUT) {
            Ok(Some(Ok(line))) => {
                process.started = serde_json::from_str(&line)
                    .map_err(|e| SpawnError::Failed(format!("bad startup line {line:?}: {e}")))?;
                Ok(process)
            }
            Ok(_) | Err(mpsc::RecvTimeoutError::Disconnected) => Err(process.failure()),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(SpawnError::Failed(format!(
                "no startup line within {STARTUP_TIMEOUT:?}"
            ))),
        }
    }

    /// Runs `bin` with `count` validators on a random range 127.X.Y.1… (X in 10..250), retrying
    /// on another range when a port is taken. `extra_args` are passed on (e.g. `--profile zksync`).
    pub fn spawn_random_range<S: AsRef<str>>(
        bin: impl AsRef<Path>,
        count: u32,
        extra_args: &[S],
        attempts: u32,
    ) -> Result<SimProcess, SpawnError> {
        let extra: Vec<String> = extra_args.iter().map(|a| a.as_ref().to_owned()).collect();
        SimProcess::spawn_random_range_with(bin, count, |_| extra.clone(), attempts)
    }

    /// As [`SimProcess::spawn_random_range`], with arguments made for each range tried from its
    /// first IP (e.g. a certificate for the range's addresses).
    pub fn spawn_random_range_with(
        bin: impl AsRef<Path>,
        count: u32,
        mut extra_args: impl FnMut(Ipv4Addr) -> Vec<String>,
        attempts: u32,
    ) -> Result<SimProcess, SpawnError> {
        let mut last = SpawnError::Failed("no attempt made".to_owned());
        for _ in 0..attempts.max(1) {
            let r = std::collections::hash_map::RandomState::new().hash_one(std::process::id());
            let first_ip = Ipv4Addr::new(127, 10 + (r % 240) as u8, (r >> 8) as u8, 1);
            let mut args = vec![
                "--first-ip".to_owned(),
                first_ip.to_string(),
                "--count".to_owned(),
                count.to_string(),
            ];
            args.extend(extra_args(first_ip));
            match SimProcess::spawn(bin.as_ref(), &args) {
                Err(e @ SpawnError::Bind(_)) => last = e,
                other => return other,
            }
        }
        Err(last)
    }

    /// A client of this simulator's admin API.
    pub fn client(&self) -> anyhow::Result<SimClient> {
        SimClient::new(self.started.admin)
    }

    /// The IP of validator `i` (0-based), if there is one.
    pub fn ip(&self, i: usize) -> Option<Ipv4Addr> {
        (i < self.started.validators).then(|| Ipv4Addr::from(u32::from(self.started.first_ip) + i as u32))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last lines the simulator logged.
    pub fn stderr_tail(&self) -> Vec<String> {
        self.stderr_tail
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    /// The child ended before announcing itself: say why.
    fn failure(&mut self) -> SpawnError {
        let status = self.child.wait();
        // The child is gone, so its stderr ends: once read, the tail holds its last words.
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
        let tail = self.stderr_tail().join("\n");
        match status {
            Ok(s) if s.code() == Some(i32::from(EXIT_BIND)) => SpawnError::Bind(tail),
            Ok(s) => SpawnError::Failed(format!("{s}: {tail}")),
            Err(e) => SpawnError::Failed(format!("wait: {e}: {tail}")),
        }
    }
}

fn placeholder() -> Started {
    Started {
        admin: SocketAddr::from(([127, 0, 0, 1], 0)),
        validators: 0,
        first_ip: Ipv4Addr::LOCALHOST,
        last_ip: Ipv4Addr::LOCALHOST,
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        // Err: it already exited.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
