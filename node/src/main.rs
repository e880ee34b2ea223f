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
    Bench(Box<reefdb::bench::BenchArgs>),
    /// Interactive SQL shell.
    Shell(reefdb::shell::ShellArgs),
    /// The cluster at a glance: members, roles, indexes, lag.
    Status(reefdb::shell::StatusArgs),
}

fn main() {
    let cli = Cli::parse();
    let result: Result<(), Box<dyn std::error::Error>> = match cli.command {
        Command::Bench(args) => reefdb::bench::run(*args).map_err(Into::into),
        Command::Shell(args) => reefdb::shell::run(args).map_err(Into::into),
        Command::Status(args) => reefdb::shell::status(args).map_err(Into::into),
    };
    if let Err(e) = result {
        eprintln!("reefdb: {e}");
        std::process::exit(1);
    }
}
