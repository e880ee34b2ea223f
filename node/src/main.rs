//! The `reefdb` command line: run a node, start a demo cluster, write cluster configs and
//! certificates, and the client tools (shell, status, bench).

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "reefdb",
    version,
    about = "A replicated SQL database (Raft, QUIC, io_uring)"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run one node from its YAML config.
    Run {
        #[arg(long)]
        config: PathBuf,
    },
    /// Start a local cluster in a temporary folder and print its endpoints (Ctrl-C stops it).
    Demo(reefdb::cli::demo::DemoArgs),
    /// Write certificates and one config per node for a new cluster.
    InitCluster(reefdb::cli::init_cluster::InitClusterArgs),
    /// Write a cluster CA and node certificates, or issue a node certificate from a CA.
    Certs(reefdb::cli::certs::CertsArgs),
    /// Hash a password (read from stdin) for the users file.
    HashPassword(reefdb::cli::hash_password::HashPasswordArgs),
    /// Interactive SQL shell.
    Shell(reefdb::shell::ShellArgs),
    /// The cluster at a glance: members, roles, indexes, lag.
    Status(reefdb::shell::StatusArgs),
    /// Load generator with hdrhistogram latency reports.
    Bench(Box<reefdb::bench::BenchArgs>),
}

/// mimalloc instead of glibc's malloc: a node allocates per request (HTTP, JSON, SQL) on
/// every shard, and under load glibc's allocator (arena locking, fastbin consolidation) took
/// ~15% of the leader's CPU.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: Result<(), String> = match cli.command {
        Cmd::Run { config } => reefdb::run_from_config(&config).map_err(|e| e.to_string()),
        Cmd::Demo(args) => {
            reefdb::cli::demo::run(args, reefdb::cli::make_certs).map_err(|e| e.to_string())
        }
        Cmd::InitCluster(args) => {
            match reefdb::cli::init_cluster::write(&args, reefdb::cli::make_certs) {
                Ok(paths) => {
                    for p in paths {
                        println!("wrote {}", p.display());
                    }
                    Ok(())
                }
                Err(e) => Err(e.to_string()),
            }
        }
        Cmd::Certs(args) => match reefdb::cli::certs::run(&args) {
            Ok(paths) => {
                for p in paths {
                    println!("wrote {}", p.display());
                }
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        },
        Cmd::HashPassword(args) => {
            reefdb::cli::hash_password::run(&args, std::io::stdin().lock()).map(|h| println!("{h}"))
        }
        Cmd::Shell(args) => reefdb::shell::run(args).map_err(|e| e.to_string()),
        Cmd::Status(args) => reefdb::shell::status(args).map_err(|e| e.to_string()),
        Cmd::Bench(args) => reefdb::bench::run(*args).map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("reefdb: {e}");
            ExitCode::FAILURE
        }
    }
}
