//! reefdb: the node. Config, the Raft driver on shard 0, the HTTP API on every shard,
//! admin, metrics and the command line all live here; the crates below it (`engine`,
//! `raftlog`, `net`) each do one job and know nothing of each other.

pub mod bench;
pub mod client;
pub mod linearizability;
pub mod shell;
