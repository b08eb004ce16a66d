//! `nodehealth run`: the operator.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use kube::client::ClientBuilder;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use super::ha::HaArgs;
use super::requests::CountRequests;
use crate::controller::{self, Settings};
use crate::probe::{ProbeConfig, Prober};
use crate::server::{self, OperatorHealth};
use crate::telemetry::Metrics;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Kubeconfig file; without it, $KUBECONFIG, ~/.kube/config or the in-cluster service account.
    #[arg(long, env = "NODEHEALTH_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Watch NodeHealths and pods in this namespace only (default: all namespaces).
    #[arg(long, env = "NODEHEALTH_NAMESPACE")]
    pub namespace: Option<String>,
    /// Address of /health, /livez, /readyz and /metrics.
    #[arg(long, env = "NODEHEALTH_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub http_addr: SocketAddr,
    /// Probes in flight at once, over every NodeHealth.
    #[arg(long, env = "NODEHEALTH_MAX_CONCURRENT_PROBES", default_value_t = 256)]
    pub max_concurrent_probes: usize,
    /// Pods whose probe connections are kept alive between probes (one per endpoint); beyond
    /// them each probe connects afresh. Default: as many as the open-files limit leaves room
    /// for (an idle plain-HTTP connection is a socket and a few hundred bytes).
    #[arg(long, env = "NODEHEALTH_MAX_POOLED_PODS")]
    pub max_pooled_pods: Option<usize>,
    /// Figures moving within the same verdict are written at most this often (seconds).
    #[arg(long, env = "NODEHEALTH_STATUS_REFRESH_SECONDS", default_value_t = 60)]
    pub status_refresh_seconds: u64,
    /// Entries of status.pods at most (counts stay exact).
    #[arg(long, env = "NODEHEALTH_MAX_STATUS_PODS", default_value_t = 100)]
    pub max_status_pods: usize,
    /// Cap on a health body, bytes.
    #[arg(long, env = "NODEHEALTH_HEALTH_BODY_LIMIT", default_value_t = 1 << 20)]
    pub health_body_limit: usize,
    /// Cap on a metrics body, bytes.
    #[arg(long, env = "NODEHEALTH_METRICS_BODY_LIMIT", default_value_t = 16 << 20)]
    pub metrics_body_limit: usize,
    /// Whether policies may cordon nodes and restart pods. `false` when the operator was not
    /// granted the permissions (the chart's `rbac.remediation: false`): policies then report
    /// `RemediationAllowed=False` (`RemediationDisabled`) instead of failing on every action.
    #[arg(long, env = "NODEHEALTH_REMEDIATION", default_value_t = true, action = clap::ArgAction::Set)]
    pub remediation: bool,
    #[command(flatten)]
    pub ha: HaArgs,
}

pub async fn run(args: RunArgs) -> ExitCode {
    let RunArgs {
        kubeconfig,
        namespace,
        http_addr,
        max_concurrent_probes,
        max_pooled_pods,
        status_refresh_seconds,
        max_status_pods,
        health_body_limit,
        metrics_body_limit,
        remediation,
        ha,
    } = args;
    let ha = match ha.resolve(namespace.as_deref()) {
        Ok(ha) => ha,
        Err(e) => {
            tracing::error!(error = %e, "invalid high-availability flags");
            return ExitCode::FAILURE;
        }
    };
    crate::install_crypto_provider();
    let metrics = Arc::new(Metrics::new());
    let (client, acting_client) = match clients(kubeconfig, &metrics).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build a Kubernetes client");
            return ExitCode::FAILURE;
        }
    };
    let probe_config = ProbeConfig {
        health_body_limit,
        metrics_body_limit,
        ..ProbeConfig::default()
    };
    let prober = Prober::new(probe_config);
    let listener = match tokio::net::TcpListener::bind(http_addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, %http_addr, "cannot listen");
            return ExitCode::FAILURE;
        }
    };
    let health = Arc::new(OperatorHealth::new());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            // Err: the sender is gone, which also means stop.
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    // The address bound (port 0 picks a free one): harnesses read it from the start-up line.
    let bound = listener
        .local_addr()
        .map_or_else(|_| http_addr.to_string(), |a| a.to_string());
    let server = tokio::spawn(server::serve(listener, health.clone(), metrics.clone(), stopped()));
    let signal_health = health.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        signal_health.shutting_down();
        let _ = stop_tx.send(true);
    });
    let limit = crate::open_files_limit();
    let pooled_pods = pooled_pods(limit, max_concurrent_probes, max_pooled_pods);
    tracing::info!(open_files_limit = ?limit, pooled_pods, "probe connections budgeted");
    let settings = Settings {
        namespace,
        max_concurrent_probes,
        pooled_pods,
        status_refresh: Duration::from_secs(status_refresh_seconds.max(1)),
        max_status_pods: max_status_pods.max(1),
        remediation,
        identity: ha.identity,
        shard: ha.shard,
        election: ha.election,
    };
    tracing::info!(
        http_addr = %bound,
        shard = %settings.shard,
        identity = %settings.identity,
        lease = ?settings.election.as_ref().map(|e| format!("{}/{}", e.namespace, e.lease)),
        "nodehealth operator starting"
    );
    let clients = controller::Clients {
        main: client,
        acting: acting_client,
    };
    if let Err(e) = controller::run(clients, prober, settings, metrics, health, stopped()).await {
        tracing::error!(error = %e, "cannot start the probe thread");
        return ExitCode::FAILURE;
    }
    match server.await {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "HTTP server failed");
            ExitCode::FAILURE
        }
        Err(e) => {
            tracing::error!(error = %e, "HTTP server task failed");
            ExitCode::FAILURE
        }
    }
}

/// Descriptors kept for everything but idle probe connections: the API clients' connections
/// (a few), the HTTP server and its clients, logs, the runtime, and room for bursts of status
/// writes and events. An operator that runs out fails its status writes (`EMFILE`), so probes
/// yield first.
const RESERVED_FDS: u64 = 1024;
/// Connections one pod's probe holds at once (health and metrics).
const CONNECTIONS_PER_POD: u64 = 2;

/// Pods that may keep their probe connections alive: at most `wanted`, and no more than the
/// open-files limit leaves once the reserve and the probes in flight are counted.
fn pooled_pods(limit: Option<u64>, in_flight: usize, wanted: Option<usize>) -> usize {
    let wanted = wanted.unwrap_or(usize::MAX);
    let Some(limit) = limit else { return wanted };
    let busy = RESERVED_FDS + CONNECTIONS_PER_POD * in_flight as u64;
    let room = limit.saturating_sub(busy) / CONNECTIONS_PER_POD;
    wanted.min(usize::try_from(room).unwrap_or(usize::MAX))
}

/// The client of watches and status writes, and the one that acts on nodes and pods: the
/// latter without kube's built-in retry of 429, which would wait out a PodDisruptionBudget's
/// refusal inside the reconcile (up to 15 retries) instead of reporting it. Both count their
/// requests by verb and status (`nodehealth_kube_requests_total`).
async fn clients(kubeconfig: Option<PathBuf>, metrics: &Arc<Metrics>) -> Result<(Client, Client), kube::Error> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path).map_err(kube::Error::InferKubeconfig)?;
            Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                .await
                .map_err(kube::Error::InferKubeconfig)?
        }
        None => Config::infer().await.map_err(kube::Error::InferConfig)?,
    };
    let mut acting_config = config.clone();
    acting_config.default_retry = false;
    let counted = |config: Config| -> Result<Client, kube::Error> {
        let count = CountRequests(metrics.clone());
        Ok(ClientBuilder::try_from(config)?.with_layer(&count).build())
    };
    Ok((counted(config)?, counted(acting_config)?))
}

/// SIGTERM (the kubelet's) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_connections_get_what_the_open_files_limit_leaves() {
        // 20,000 descriptors, 256 probes in flight: 20,000 − 1,024 − 512 = 18,464 → 9,232 pods.
        assert_eq!(pooled_pods(Some(20_000), 256, None), 9_232);
        assert_eq!(pooled_pods(Some(20_000), 256, Some(1_000)), 1_000, "the flag caps it");
        assert_eq!(
            pooled_pods(Some(1_024), 256, Some(1_000)),
            0,
            "no room: every probe connects afresh"
        );
        assert_eq!(pooled_pods(None, 256, Some(1_000)), 1_000);
        assert_eq!(pooled_pods(None, 256, None), usize::MAX, "no limit known: no cap");
    }
}
