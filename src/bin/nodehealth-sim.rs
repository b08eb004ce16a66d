//! `nodehealth-sim`: a fleet of simulated validators on loopback IPs. See `--help`.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use nodehealth::sim::cli::{Cli, LogFormat};
use nodehealth::sim::run::run;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match cli.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("nodehealth-sim: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Plain, not a log line: harnesses show a failed start's last stderr lines as they are.
            eprintln!("nodehealth-sim: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
