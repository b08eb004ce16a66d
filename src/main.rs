use std::process::ExitCode;

use clap::Parser;
use nodehealth::cli::{Cli, Command, init_logging, probe, run};

/// jemalloc: less CPU in allocation and less fragmentation than glibc's malloc under the probe
/// loop's churn of bodies and connections (README, Performance).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let Cli { log_format, command } = Cli::parse();
    init_logging(log_format);
    match command {
        Command::Run(args) => run::run(args).await,
        Command::Probe(args) => probe::run(args).await,
        Command::Crd => match nodehealth::crd::crd_yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: cannot render the CRD: {e}");
                ExitCode::FAILURE
            }
        },
    }
}
