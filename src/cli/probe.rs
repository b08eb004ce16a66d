//! `nodehealth probe`: one assessment of one validator, for people debugging and as an exec probe.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::assess::{History, Params, assess};
use crate::chains::{Profile, ReadOptions};
use crate::crd::HttpHeader;
use crate::model::{Access, PodVerdict, Target, Tls, Verify};
use crate::policy::access::server_name_ok;
use crate::probe::{ProbeConfig, Prober};

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Health endpoint URL (Radix: http://IP:3334/system/health; zksync: http://IP:3081/health).
    #[arg(long, env = "NODEHEALTH_PROBE_HEALTH")]
    pub health: Option<String>,
    /// Prometheus metrics URL (Radix: http://IP:3335/prometheus/metrics).
    #[arg(long, env = "NODEHEALTH_PROBE_METRICS")]
    pub metrics: Option<String>,
    /// ethereum: the execution client's JSON-RPC URL (http://IP:8545/), asked `eth_syncing`.
    #[arg(long, env = "NODEHEALTH_PROBE_EXECUTION")]
    pub execution: Option<String>,
    /// Which chain the node runs, and so which formats it speaks.
    #[arg(long, env = "NODEHEALTH_PROBE_PROFILE", value_enum, default_value_t = Profile::Radix)]
    pub profile: Profile,
    /// cometbft: the namespace of the node's metrics (`instrumentation.namespace`) [default: cometbft].
    #[arg(long, env = "NODEHEALTH_PROBE_METRICS_NAMESPACE")]
    pub metrics_namespace: Option<String>,
    /// ethereum: seconds per slot [default: 12].
    #[arg(long, env = "NODEHEALTH_PROBE_SLOT_SECONDS")]
    pub slot_seconds: Option<f64>,
    /// Output format.
    #[arg(short = 'o', long = "output", env = "NODEHEALTH_PROBE_OUTPUT", value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// Scrape twice this many seconds apart, so the ledger's progress is observed, not only reported.
    #[arg(long, env = "NODEHEALTH_PROBE_WINDOW", default_value_t = 0.0)]
    pub window: f64,
    /// Per-request timeout in seconds.
    #[arg(long, env = "NODEHEALTH_PROBE_TIMEOUT", default_value_t = 3.0)]
    pub timeout: f64,
    /// HTTPS: a PEM file of the CA certificates that sign the node's certificate; only these
    /// are trusted [default: the system's CAs] (a policy's `probe.tls.caFile`).
    #[arg(long, env = "NODEHEALTH_PROBE_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// HTTPS: the name the certificate must be valid for [default: the URL's host]
    /// (`probe.tls.serverName`).
    #[arg(long, env = "NODEHEALTH_PROBE_SERVER_NAME")]
    pub server_name: Option<String>,
    /// HTTPS: do not verify the certificate at all (`probe.tls.insecureSkipVerify`).
    #[arg(long, env = "NODEHEALTH_PROBE_INSECURE_SKIP_VERIFY", conflicts_with_all = ["ca_file", "server_name"])]
    pub insecure_skip_verify: bool,
    /// A file holding a bearer token, sent as `Authorization: Bearer <token>` (`probe.bearerTokenFile`).
    #[arg(long, env = "NODEHEALTH_PROBE_BEARER_TOKEN_FILE")]
    pub bearer_token_file: Option<PathBuf>,
    /// An extra request header, `Name: value`; repeat for more (`probe.headers`). In the
    /// environment variable, one per line.
    #[arg(
        short = 'H',
        long = "header",
        env = "NODEHEALTH_PROBE_HEADERS",
        value_delimiter = '\n'
    )]
    pub headers: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

/// Exit code when nothing could be probed, or the command line is wrong (as clap does).
const EXIT_NOTHING_PROBED: u8 = 2;

pub async fn run(args: ProbeArgs) -> ExitCode {
    let ProbeArgs {
        health,
        metrics,
        execution,
        profile,
        metrics_namespace,
        slot_seconds,
        output,
        window,
        timeout,
        ca_file,
        server_name,
        insecure_skip_verify,
        bearer_token_file,
        headers,
    } = args;
    let options = ReadOptions {
        metrics_namespace,
        slot_seconds,
    };
    if health.is_none() && metrics.is_none() {
        eprintln!("error: give --health URL, --metrics URL, or both");
        return ExitCode::from(EXIT_NOTHING_PROBED);
    }
    if !(timeout.is_finite() && timeout > 0.0 && window.is_finite() && window >= 0.0) {
        eprintln!("error: --timeout must be > 0 and --window >= 0 (seconds)");
        return ExitCode::from(EXIT_NOTHING_PROBED);
    }
    let config = ProbeConfig {
        timeout: Duration::from_secs_f64(timeout),
        ..ProbeConfig::default()
    };
    let tls = Tls {
        verify: match ca_file {
            _ if insecure_skip_verify => Verify::Skip,
            Some(path) => Verify::CaFile(path),
            None => Verify::SystemRoots,
        },
        server_name,
    };
    let access = match access(tls, bearer_token_file, &headers) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_NOTHING_PROBED);
        }
    };
    let prober = Prober::new(config);
    let target = Target::from_urls(profile, health, metrics, execution).with_access(Arc::new(access));
    let https = target.requests.iter().any(|(_, url)| url.starts_with("https://"));
    if let Err(e) = prober.check(&target.access, https) {
        eprintln!("error: {e}");
        return ExitCode::from(EXIT_NOTHING_PROBED);
    }
    let defaults = Params::default();
    let params = Params {
        failure_threshold: 1,
        // Both scrapes must stay inside the window: twice the interval between them.
        observed_rate_window_seconds: if window > 0.0 {
            window * 2.0
        } else {
            defaults.observed_rate_window_seconds
        },
        ..defaults
    };
    let mut history = History::new();
    let mut obs = profile.read(&prober.scrape(&target, unix_now()).await, &options);
    let mut verdict = assess(&mut history, &obs, &params);
    if window > 0.0 && obs.reading.is_ok() {
        tokio::time::sleep(Duration::from_secs_f64(window)).await;
        obs = profile.read(&prober.scrape(&target, unix_now()).await, &options);
        verdict = assess(&mut history, &obs, &params);
    }
    match output {
        Output::Json => match serde_json::to_string_pretty(&verdict) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("error: {e}"),
        },
        Output::Text => print!("{}", render_text(&verdict)),
    }
    if obs.reading.is_err() {
        ExitCode::from(EXIT_NOTHING_PROBED)
    } else if verdict.healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The access the flags ask for, checked as a policy's would be.
fn access(tls: Tls, bearer_token_file: Option<PathBuf>, headers: &[String]) -> Result<Access, String> {
    if let Some(name) = &tls.server_name
        && !server_name_ok(name)
    {
        return Err(format!(
            "--server-name {name:?} is neither a DNS name nor an IP address"
        ));
    }
    let headers: Vec<HttpHeader> = headers
        .iter()
        .map(|h| {
            let (name, value) = h
                .split_once(':')
                .ok_or_else(|| format!("--header {h:?} is not `Name: value`"))?;
            Ok(HttpHeader {
                name: name.trim().to_owned(),
                value: value.trim().to_owned(),
            })
        })
        .collect::<Result<_, String>>()?;
    let headers =
        crate::policy::access::headers(&headers, bearer_token_file.is_some()).map_err(|e| format!("--header: {e}"))?;
    Ok(Access {
        tls,
        bearer_token_file,
        headers,
    })
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The verdict for people.
pub fn render_text(v: &PodVerdict) -> String {
    let mut s = String::new();
    let factor = |f: Option<f64>| f.map(|f| format!("{f:.2}")).unwrap_or_else(|| "-".to_owned());
    let _ = writeln!(
        s,
        "status:  {} ({})",
        v.status,
        if v.healthy { "healthy" } else { "unhealthy" }
    );
    let _ = writeln!(s, "sync:    {}", v.sync_state);
    let _ = writeln!(s, "network: {:?}", v.network);
    let _ = writeln!(
        s,
        "factor:  {} (node reports {})",
        factor(v.health_factor),
        factor(v.reported_health_factor)
    );
    let f = &v.figures;
    let mut figures = Vec::new();
    if let Some(x) = f.state_version {
        figures.push(format!("state version {x:.0}"));
    }
    if let Some(x) = f.ledger_delay_seconds {
        figures.push(format!("ledger delay {x:.1} s"));
    }
    if let Some(x) = f.observed_progress_rate {
        figures.push(format!("observed rate {x:.2}"));
    }
    if let Some(x) = f.missed_proposals {
        figures.push(format!("missed proposals {x:.0}"));
    }
    if let Some(x) = f.in_validator_set {
        figures.push(format!("in validator set {x}"));
    }
    if let Some(x) = f.block_lag {
        figures.push(format!("block lag {x}"));
    }
    if !figures.is_empty() {
        let _ = writeln!(s, "figures: {}", figures.join(", "));
    }
    for (name, st) in &v.components {
        let _ = writeln!(s, "component {name}: {st}");
    }
    for r in &v.reasons {
        let _ = writeln!(s, "- {r}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Status, SyncState};

    #[test]
    fn text_names_status_factor_and_reasons() {
        let mut v = PodVerdict::new(Status::NotReady, SyncState::OutOfSync);
        v.health_factor = Some(0.0);
        v.reported_health_factor = Some(0.5);
        v.reasons = vec!["ledger 10 min behind".into()];
        let t = render_text(&v);
        assert!(t.contains("status:  not_ready (unhealthy)"), "{t}");
        assert!(t.contains("factor:  0.00 (node reports 0.50)"), "{t}");
        assert!(t.contains("- ledger 10 min behind"), "{t}");
    }
}
