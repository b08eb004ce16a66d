//! The `nodehealth` command line: parsed once with clap (every flag also an environment
//! variable) and handed to the command that runs.

pub mod ha;
pub mod probe;
mod requests;
pub mod run;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "nodehealth",
    version,
    about = "Health verdicts and careful remediation for blockchain validator pods"
)]
pub struct Cli {
    /// Log format.
    #[arg(long, global = true, env = "NODEHEALTH_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the operator: watch NodeHealths and their pods, probe, assess, write status.
    Run(run::RunArgs),
    /// Probe one validator once and print the verdict (exit 0 healthy, 1 unhealthy, 2 nothing probed).
    Probe(probe::ProbeArgs),
    /// Print the NodeHealth CustomResourceDefinition (YAML), as checked in under crds/.
    Crd,
}

/// Sets up logging to stderr; `RUST_LOG` filters (default `info`).
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a person at a terminal: log collectors (and harnesses) read plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
