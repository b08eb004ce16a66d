//! `nodehealth-sim`'s main loop: open every port, announce, serve until told to stop.

use std::io::Write;
use std::sync::Arc;

use tokio::net::TcpListener;
use tracing::info;

use crate::open_files_limit;
use crate::sim::admin;
use crate::sim::cli::Cli;
use crate::sim::client::Started;
use crate::sim::server::{BindError, Fleet};

/// Why the simulator stopped before serving, or failed while serving.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error("{0}")]
    Other(String),
}

/// Exit code when a port could not be opened: a harness retries with another IP range.
pub const EXIT_BIND: u8 = 3;
/// Exit code for unusable arguments (clap's own code for usage errors).
pub const EXIT_CONFIG: u8 = 2;

impl RunError {
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Config(_) => EXIT_CONFIG,
            RunError::Bind(_) => EXIT_BIND,
            RunError::Other(_) => 1,
        }
    }
}

/// Runs until SIGTERM or SIGINT.
pub async fn run(cli: Cli) -> Result<(), RunError> {
    let last_ip = cli.last_ip().map_err(RunError::Config)?;
    cli.check_fd_limit(open_files_limit()).map_err(RunError::Config)?;
    let (health_port, metrics_port) = (cli.health_port(), cli.metrics_port());
    let serving = cli.serving().map_err(RunError::Config)?;
    let fleet =
        Arc::new(Fleet::new(cli.profile, cli.first_ip, cli.count, health_port, metrics_port).with_serving(serving));
    fleet.bind_all().await?;
    let admin_listener = TcpListener::bind(cli.admin_addr).await.map_err(|source| BindError {
        addr: cli.admin_addr,
        source,
    })?;
    let admin_addr = admin_listener
        .local_addr()
        .map_err(|e| RunError::Other(format!("admin address: {e}")))?;
    let router = admin::router(Arc::clone(&fleet));
    let admin_task = tokio::spawn(async move { axum::serve(admin_listener, router).await });

    let started = Started {
        admin: admin_addr,
        validators: fleet.len(),
        first_ip: cli.first_ip,
        last_ip,
    };
    announce(&started)?;
    info!(
        profile = ?cli.profile, validators = fleet.len(), first_ip = %cli.first_ip, %last_ip,
        health_port, metrics_port, admin = %admin_addr, "simulator ready"
    );

    let signal = wait_for_signal();
    tokio::select! {
        name = signal => info!(signal = name?, "stopping"),
        ended = admin_task => {
            return Err(RunError::Other(format!("admin server stopped: {ended:?}")));
        }
    }
    drop(fleet);
    Ok(())
}

/// The one stdout line harnesses wait for.
fn announce(started: &Started) -> Result<(), RunError> {
    let line = serde_json::to_string(started).map_err(|e| RunError::Other(e.to_string()))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(|e| RunError::Other(format!("stdout: {e}")))
}

async fn wait_for_signal() -> Result<&'static str, RunError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(|e| RunError::Other(format!("SIGTERM handler: {e}")))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| RunError::Other(format!("SIGINT handler: {e}")))?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}
