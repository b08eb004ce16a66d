//! `nodehealth run`: the operator.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

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
}

pub async fn run(args: RunArgs) -> ExitCode {
    let RunArgs {
        kubeconfig,
        namespace,
        http_addr,
        max_concurrent_probes,
        status_refresh_seconds,
        max_status_pods,
        health_body_limit,
        metrics_body_limit,
        remediation,
    } = args;
    crate::install_crypto_provider();
    let (client, acting_client) = match clients(kubeconfig).await {
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
    let prober = match Prober::new(probe_config) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the probe client");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(http_addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, %http_addr, "cannot listen");
            return ExitCode::FAILURE;
        }
    };
    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(OperatorHealth::new());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            // Err: the sender is gone, which also means stop.
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let server = tokio::spawn(server::serve(listener, health.clone(), metrics.clone(), stopped()));
    let signal_health = health.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        signal_health.shutting_down();
        let _ = stop_tx.send(true);
    });
    let settings = Settings {
        namespace,
        max_concurrent_probes,
        status_refresh: Duration::from_secs(status_refresh_seconds.max(1)),
        max_status_pods: max_status_pods.max(1),
        remediation,
    };
    tracing::info!(%http_addr, "nodehealth operator starting");
    let clients = controller::Clients {
        main: client,
        acting: acting_client,
    };
    controller::run(clients, prober, settings, metrics, health, stopped()).await;
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

/// The client of watches and status writes, and the one that acts on nodes and pods: the
/// latter without kube's built-in retry of 429, which would wait out a PodDisruptionBudget's
/// refusal inside the reconcile (up to 15 retries) instead of reporting it.
async fn clients(kubeconfig: Option<PathBuf>) -> Result<(Client, Client), kube::Error> {
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
    let acting = Client::try_from(acting_config)?;
    Ok((Client::try_from(config)?, acting))
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
