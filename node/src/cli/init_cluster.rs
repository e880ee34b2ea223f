//! `reefdb init-cluster`: everything a local or small cluster needs to start, in one folder.
//!
//! Writes `DIR/certs/` (a cluster CA and one certificate per node) and `DIR/nodeI/config.yaml`
//! for each node, with paths relative to each config file so the folder can be moved or
//! copied to other machines whole. Ports count up from the given bases: node I gets
//! `http_port + I - 1` and `raft_port + I - 1`.

use crate::config::{Config, PeerConfig, TlsConfig};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, clap::Args)]
pub struct InitClusterArgs {
    /// Folder to write certs/ and node*/ into (created if missing).
    #[arg(long)]
    pub dir: PathBuf,
    /// Number of nodes.
    #[arg(long, default_value_t = 3)]
    pub nodes: u64,
    /// Address every node listens on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// HTTP port of node 1; node I uses http_port + I - 1.
    #[arg(long, default_value_t = 4001)]
    pub http_port: u16,
    /// Raft (QUIC, UDP) port of node 1; node I uses raft_port + I - 1.
    #[arg(long, default_value_t = 4101)]
    pub raft_port: u16,
    /// Shards per node (0 = one per core). Several nodes on one machine share its cores.
    #[arg(long, default_value_t = 1)]
    pub cores: usize,
    /// Overwrite an existing cluster folder's configs and certificates.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("--nodes must be between 1 and 99, not {0}")]
    NodeCount(u64),
    #[error("ports for {nodes} nodes starting at {base} run past 65535")]
    Ports { base: u16, nodes: u64 },
    #[error("{0} already holds a cluster (found {1}); pass --force to overwrite it")]
    Exists(PathBuf, PathBuf),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("generating certificates in {path}: {message}")]
    Certs { path: PathBuf, message: String },
}

/// The configs `init-cluster` writes, before anything touches the disk.
pub fn plan(args: &InitClusterArgs) -> Result<Vec<Config>, InitError> {
    if args.nodes == 0 || args.nodes > 99 {
        return Err(InitError::NodeCount(args.nodes));
    }
    for base in [args.http_port, args.raft_port] {
        if base as u64 + args.nodes - 1 > u16::MAX as u64 {
            return Err(InitError::Ports {
                base,
                nodes: args.nodes,
            });
        }
    }
    let peers: Vec<PeerConfig> = (1..=args.nodes)
        .map(|i| PeerConfig {
            id: i,
            raft_addr: SocketAddr::new(args.host, args.raft_port + (i - 1) as u16),
            http_addr: SocketAddr::new(args.host, args.http_port + (i - 1) as u16),
        })
        .collect();
    let cluster_id = format!("{:016x}", rand::random::<u64>());
    Ok(peers
        .iter()
        .map(|p| Config {
            id: p.id,
            data_dir: PathBuf::from("data"),
            http_addr: p.http_addr,
            raft_addr: p.raft_addr,
            bootstrap: true,
            cluster_id: cluster_id.clone(),
            peers: peers.clone(),
            tls: TlsConfig {
                ca: PathBuf::from("../certs/ca.pem"),
                cert: PathBuf::from(format!("../certs/node{}.pem", p.id)),
                key: PathBuf::from(format!("../certs/node{}.key", p.id)),
            },
            http_tls: None,
            auth: None,
            cores: args.cores,
            pin_cores: false,
            spin_before_park_us: None,
            raft: Default::default(),
            snapshot: Default::default(),
            log: Default::default(),
            limits: Default::default(),
            logging: Default::default(),
            admin: Default::default(),
        })
        .collect())
}

/// Path of node `id`'s config inside a cluster folder.
pub fn config_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("node{id}")).join("config.yaml")
}

/// Writes certificates and configs. `make_certs` writes `ca.pem`, `ca.key`, `nodeI.pem` and
/// `nodeI.key` into the folder it is given for the given `(id, host)` pairs.
pub fn write(
    args: &InitClusterArgs,
    make_certs: impl FnOnce(&Path, &[(u64, IpAddr)]) -> Result<(), String>,
) -> Result<Vec<PathBuf>, InitError> {
    let configs = plan(args)?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| InitError::Io { path, source }
    };
    let first = config_path(&args.dir, 1);
    if first.exists() && !args.force {
        return Err(InitError::Exists(args.dir.clone(), first));
    }
    let certs = args.dir.join("certs");
    std::fs::create_dir_all(&certs).map_err(io(&certs))?;
    let hosts: Vec<(u64, IpAddr)> = configs.iter().map(|c| (c.id, args.host)).collect();
    make_certs(&certs, &hosts).map_err(|message| InitError::Certs {
        path: certs.clone(),
        message,
    })?;
    let mut written = Vec::new();
    for c in &configs {
        let path = config_path(&args.dir, c.id);
        let folder = path.parent().expect("config path has a parent");
        std::fs::create_dir_all(folder).map_err(io(folder))?;
        let text = format!(
            "# ReefDB node {} of {}. Written by `reefdb init-cluster`; start it with\n\
             #   reefdb run --config {}\n\
             # `bootstrap: true` only matters on the first start: later starts recover from data_dir.\n{}",
            c.id,
            configs.len(),
            path.display(),
            c.to_yaml()
        );
        std::fs::write(&path, text).map_err(io(&path))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(dir: &Path) -> InitClusterArgs {
        InitClusterArgs {
            dir: dir.to_path_buf(),
            nodes: 3,
            host: "127.0.0.1".parse().unwrap(),
            http_port: 5001,
            raft_port: 5101,
            cores: 1,
            force: false,
        }
    }

    #[test]
    fn written_configs_load_and_agree() {
        let dir = tempfile::tempdir().unwrap();
        let paths = write(&args(dir.path()), |certs, hosts| {
            assert_eq!(hosts.len(), 3);
            for (id, _) in hosts {
                std::fs::write(certs.join(format!("node{id}.pem")), "x").unwrap();
            }
            Ok(())
        })
        .unwrap();
        let loaded: Vec<Config> = paths.iter().map(|p| Config::load(p).unwrap()).collect();
        assert_eq!(loaded[1].http_addr.port(), 5002);
        assert_eq!(loaded[2].raft_addr.port(), 5103);
        assert!(loaded.iter().all(|c| c.cluster_id == loaded[0].cluster_id));
        assert!(loaded.iter().all(|c| c.peers == loaded[0].peers));
        assert_eq!(
            loaded[1].tls.cert,
            dir.path().join("node2/../certs/node2.pem")
        );
        assert!(loaded[1].tls.cert.exists());
        assert_eq!(loaded[0].data_dir, dir.path().join("node1/data"));
    }

    #[test]
    fn refuses_to_overwrite_without_force() {
        let dir = tempfile::tempdir().unwrap();
        write(&args(dir.path()), |_, _| Ok(())).unwrap();
        let e = write(&args(dir.path()), |_, _| Ok(())).unwrap_err();
        assert!(e.to_string().contains("--force"), "{e}");
        let mut a = args(dir.path());
        a.force = true;
        write(&a, |_, _| Ok(())).unwrap();
    }

    #[test]
    fn refuses_bad_counts_and_ports() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = args(dir.path());
        a.nodes = 0;
        assert!(plan(&a).is_err());
        a.nodes = 3;
        a.http_port = 65534;
        assert!(plan(&a).unwrap_err().to_string().contains("65535"));
    }
}
