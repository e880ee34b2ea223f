//! Subcommands of the `reefdb` binary that are more than a call into the node.

pub mod demo;
pub mod init_cluster;

/// The certificate generator `init-cluster` and `demo` use.
pub fn make_certs(
    _dir: &std::path::Path,
    _nodes: &[(u64, std::net::IpAddr)],
) -> Result<(), String> {
    Err("certificate generation is not wired yet (reef-net)".into())
}
