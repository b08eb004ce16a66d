//! `nodehealth-sim`'s command line.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use clap::Parser;

use crate::sim::Profile;
use crate::sim::access::{Serving, tls_config};

const LONG_ABOUT: &str = "\
Simulates a fleet of blockchain validators for nodehealth's tests: one process serves --count \
validators, each on its own loopback IP (consecutive from --first-ip; the whole 127.0.0.0/8 is \
loopback on Linux, no setup needed), all on the same health and metrics ports, as real pods do.

IPs are consecutive 32-bit addresses: no octet is skipped (127.0.1.255 is followed by \
127.0.2.0; both work on loopback). The range must lie within 127.0.0.1..=127.255.255.254.

Once every port is open, one JSON line goes to stdout:
  {\"admin\":\"127.0.0.1:PORT\",\"validators\":N,\"first_ip\":\"…\",\"last_ip\":\"…\"}
Logs go to stderr. Validators' behaviour is switched through the admin API (JSON over HTTP):
GET /healthz, GET /validators, GET /validators/{ip}, GET /validators/{ip}/request (the last request's \
headers, with --record-requests),
POST /validators/{ip}/mode and POST /validators/all/mode with bodies such as
{\"mode\":\"catching_up\",\"rate\":30,\"behind_seconds\":600}, {\"mode\":\"lagging\",\"behind_seconds\":120},
{\"mode\":\"stalled\"}, {\"mode\":\"slow\",\"delay_ms\":5000}, {\"mode\":\"restart\"}, {\"in_validator_set\":false}.
Modes: synced; catching_up(rate > 0, behind_seconds=3600; alias syncing): starts behind the network's \
head and advances at rate × real time (gains on it above 1, falls further behind below); \
lagging(behind_seconds): trails the head by a constant delay at the network's pace; stalled; \
booting (Radix: /system/health says BOOTING_PRE_GENESIS and the metrics port is closed; zksync: \
/health 503, not_ready); missing_proposals(n); clock_skew(seconds); unreachable; slow(delay_ms); \
http500; malformed; oversized(mb=32, content_length=false: true announces the length up front); \
hostile endpoints (the ledger stays synced behind them): slowloris(byte_interval_ms=200): the \
answer's head a byte at a time; endless_body(interval_ms=100): chunked, never ends; \
gzip_bomb(mb=1024): gzip whether asked or not, ~1/1000 of mb on the wire; redirect: 302 to \
198.51.100.7:8080; nan_values: every metric value NaN/+Inf/-Inf/-0, numbers in JSON strings too; \
many_series(series=100000): that many more series on the metrics page; invalid_utf8: bytes that \
are not UTF-8 in every JSON string and label value; silent: accepts, reads, never answers; \
action: restart.
GET /network, POST /network {\"halted\":true} / {\"halted\":false}: a liveness break of the whole \
network: every validator's head (proposer timestamp, state version, zksync main node block) freezes \
at the halt and ledgers stop there; on resume the head jumps to the clock and versions continue. \
GET /network answers {\"halted\":true,\"since\":EPOCH_SECONDS} or {\"halted\":false,\"since\":null}.

Open files: every validator holds two listening sockets, plus one per live connection. The open-files \
limit is typically 20000 per process and cannot be raised, so one process serves at most 9968 \
validators (fewer when probes keep connections alive: keep 2 × count + connections under the limit). \
Run 2+ processes with disjoint IP ranges for 10,000 validators. Idle connections are closed after 30 s.

Exit codes: 0 after SIGTERM/SIGINT; 2 bad arguments or too many validators for the open-files limit; \
3 a port could not be opened (e.g. address in use: retry with another range); 1 anything else.";

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Parser)]
#[command(name = "nodehealth-sim", version, about = "Validator fleet simulator for nodehealth", long_about = LONG_ABOUT)]
pub struct Cli {
    /// Kind of node to imitate.
    #[arg(long, env = "NODEHEALTH_SIM_PROFILE", value_enum, default_value_t = Profile::Radix)]
    pub profile: Profile,
    /// IP of the first validator.
    #[arg(long, env = "NODEHEALTH_SIM_FIRST_IP", default_value = "127.0.1.1")]
    pub first_ip: Ipv4Addr,
    /// Number of validators.
    #[arg(long, env = "NODEHEALTH_SIM_COUNT", default_value_t = 5)]
    pub count: u32,
    /// Health port of every validator [default: radix 3334 (GET /system/health), zksync 3081 (GET /health)].
    #[arg(long, env = "NODEHEALTH_SIM_HEALTH_PORT")]
    pub health_port: Option<u16>,
    /// Metrics port of every validator [default: radix 3335 (GET /prometheus/metrics), zksync 3322 (GET /metrics)].
    #[arg(long, env = "NODEHEALTH_SIM_METRICS_PORT")]
    pub metrics_port: Option<u16>,
    /// Address of the admin API (port 0: any free port, printed on stdout).
    #[arg(long, env = "NODEHEALTH_SIM_ADMIN_ADDR", default_value = "127.0.0.1:0")]
    pub admin_addr: SocketAddr,
    /// Serve HTTPS on every validator port with this PEM certificate chain (and --tls-key-file).
    #[arg(long, env = "NODEHEALTH_SIM_TLS_CERT_FILE", requires = "tls_key_file")]
    pub tls_cert_file: Option<PathBuf>,
    /// The PEM private key of --tls-cert-file.
    #[arg(long, env = "NODEHEALTH_SIM_TLS_KEY_FILE", requires = "tls_cert_file")]
    pub tls_key_file: Option<PathBuf>,
    /// Answer 401 unless a request carries `Authorization: Bearer <token>` with a token of this
    /// file (one per line; read at every request, so that it can be rotated).
    #[arg(long, env = "NODEHEALTH_SIM_BEARER_TOKENS_FILE")]
    pub bearer_tokens_file: Option<PathBuf>,
    /// Keep each validator's last request headers, for `GET /validators/{ip}/request`.
    #[arg(long, env = "NODEHEALTH_SIM_RECORD_REQUESTS")]
    pub record_requests: bool,
    /// The first validator also listens on ::1 (the one IPv6 loopback address), so that a pod
    /// given the IP ::1 reaches it; the admin API knows it by either address.
    #[arg(long, env = "NODEHEALTH_SIM_IPV6_LOOPBACK")]
    pub ipv6_loopback: bool,
    /// Log format (logs go to stderr; RUST_LOG filters, default info).
    #[arg(long, env = "NODEHEALTH_SIM_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Descriptors a process needs besides the validators' listeners: stdio, the runtime's epoll and
/// wakers, the admin listener and a few admin connections.
pub const FD_HEADROOM: u64 = 64;
/// The loopback range (127.0.0.0 and 127.255.255.255 are its network and broadcast addresses).
const LOOPBACK_FIRST: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const LOOPBACK_LAST: Ipv4Addr = Ipv4Addr::new(127, 255, 255, 254);

impl Cli {
    pub fn health_port(&self) -> u16 {
        self.health_port.unwrap_or(self.profile.default_health_port())
    }

    pub fn metrics_port(&self) -> u16 {
        self.metrics_port.unwrap_or(self.profile.default_metrics_port())
    }

    /// The last validator's IP, once the range is known to be valid.
    pub fn last_ip(&self) -> Result<Ipv4Addr, String> {
        if self.count == 0 {
            return Err("--count must be at least 1".to_owned());
        }
        if !(LOOPBACK_FIRST..=LOOPBACK_LAST).contains(&self.first_ip) {
            return Err(format!(
                "--first-ip {} is not within {LOOPBACK_FIRST}..={LOOPBACK_LAST}",
                self.first_ip
            ));
        }
        let last = u32::from(self.first_ip)
            .checked_add(self.count - 1)
            .map(Ipv4Addr::from)
            .filter(|ip| *ip <= LOOPBACK_LAST)
            .ok_or_else(|| {
                format!(
                    "--first-ip {} with --count {} goes past {LOOPBACK_LAST}",
                    self.first_ip, self.count
                )
            })?;
        if self.health_port() == self.metrics_port() {
            return Err(format!(
                "health and metrics ports must differ (both {})",
                self.health_port()
            ));
        }
        Ok(last)
    }

    /// What the validators demand of a probe, from the flags (reads the certificate and key).
    pub fn serving(&self) -> Result<Serving, String> {
        let tls = match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(cert), Some(key)) => Some(tls_config(cert, key)?),
            _ => None,
        };
        Ok(Serving {
            tls,
            bearer_tokens_file: self.bearer_tokens_file.clone(),
            record_requests: self.record_requests,
            ipv6_loopback: self.ipv6_loopback,
        })
    }

    /// Checks the fleet fits under the open-files limit (`limit`: the soft limit, when known).
    pub fn check_fd_limit(&self, limit: Option<u64>) -> Result<(), String> {
        let Some(limit) = limit else { return Ok(()) };
        let needed = 2 * u64::from(self.count) + FD_HEADROOM;
        if needed <= limit {
            return Ok(());
        }
        let max = limit.saturating_sub(FD_HEADROOM) / 2;
        Err(format!(
            "--count {} needs at least {needed} open files (2 listeners per validator + {FD_HEADROOM}) but the limit \
             is {limit}; run several processes with disjoint --first-ip ranges of at most {max} validators each",
            self.count
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        Cli::parse_from(std::iter::once("nodehealth-sim").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_by_profile() {
        let c = cli(&[]);
        assert_eq!((c.health_port(), c.metrics_port(), c.count), (3334, 3335, 5));
        assert_eq!(c.last_ip(), Ok(Ipv4Addr::new(127, 0, 1, 5)));
        let c = cli(&["--profile", "zksync", "--metrics-port", "9000"]);
        assert_eq!((c.health_port(), c.metrics_port()), (3081, 9000));
    }

    #[test]
    fn ranges_cross_octets_and_stay_in_loopback() {
        let c = cli(&["--first-ip", "127.0.1.250", "--count", "10"]);
        assert_eq!(c.last_ip(), Ok(Ipv4Addr::new(127, 0, 2, 3)));
        assert!(cli(&["--first-ip", "10.0.0.1"]).last_ip().is_err());
        assert!(
            cli(&["--first-ip", "127.255.255.250", "--count", "10"])
                .last_ip()
                .is_err()
        );
        assert!(cli(&["--count", "0"]).last_ip().is_err());
        assert!(cli(&["--health-port", "3335"]).last_ip().is_err());
    }

    #[test]
    fn open_files_limit_is_checked() {
        let c = cli(&["--count", "10000"]);
        let err = c.check_fd_limit(Some(20_000)).unwrap_err();
        assert!(err.contains("at most 9968"), "{err}");
        assert!(cli(&["--count", "9968"]).check_fd_limit(Some(20_000)).is_ok());
        assert!(c.check_fd_limit(None).is_ok());
        assert!(crate::open_files_limit().is_some_and(|l| l > 0));
    }
}
