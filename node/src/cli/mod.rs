//! Subcommands of the `reefdb` binary that are more than a call into the node.

pub mod certs;
pub mod demo;
pub mod hash_password;
pub mod init_cluster;

/// The certificate generator `init-cluster` and `demo` use: a cluster CA and one certificate
/// per node naming its id (`node-<id>.reefdb`) and its host.
pub fn make_certs(dir: &std::path::Path, nodes: &[(u64, std::net::IpAddr)]) -> Result<(), String> {
    let nodes: Vec<(u64, Vec<String>)> = nodes
        .iter()
        .map(|(id, host)| (*id, vec![host.to_string(), "localhost".to_string()]))
        .collect();
    reef_net::certs::generate_cluster(dir, &nodes).map_err(|e| e.to_string())
}
