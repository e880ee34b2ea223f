//! Subcommands of the `reefdb` binary that are more than a call into the node.

pub mod demo;
pub mod init_cluster;
