//! The `reefdb` command line. Minimal wiring of the client tools (bench, shell, status);
//! the node's own commands (run, demo, certs, init-cluster) are added with the node.
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "reefdb", version, about = "A replicated SQL database")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load generator with hdrhistogram latency reports.
    Bench(reefdb::bench::BenchArgs),
}

fn main() {
    let cli = Cli::parse();
    let result: Result<(), Box<dyn std::error::Error>> = match cli.command {
        Command::Bench(args) => reefdb::bench::run(args).map_err(Into::into),
    };
    if let Err(e) = result {
        eprintln!("reefdb: {e}");
        std::process::exit(1);
    }
}
