//! reefdb: the node. Config, the Raft driver on shard 0, the HTTP API on every shard,
//! admin, metrics and the command line all live here; the crates below it (`engine`,
//! `raftlog`, `net`) each do one job and know nothing of each other.

pub mod auth;
pub mod bench;
pub mod cli;
pub mod client;
pub mod config;
pub mod http;
pub mod identity;
pub mod linearizability;
pub mod logging;
pub mod metrics;
pub mod replica;
pub mod runtime;
pub mod security;
pub mod shell;
pub mod shutdown;
pub mod sql;
pub mod status;
pub use runtime::run_from_config;
