//! The node's identity on disk: which node this data belongs to, and which cluster.
//!
//! Written once, on the first start, under `raft_dir/identity`. Every later start compares
//! it with the config, so pointing node 2's config at node 1's data directory (or a data
//! directory from another cluster) refuses to start instead of corrupting a cluster.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a ReefDB identity file ({detail}); was this directory made by another program?")]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "data directory {dir} belongs to node {stored} but the config says id {configured}; \
         point this node at its own data_dir, or wipe the directory to join as a new member"
    )]
    WrongNode {
        dir: PathBuf,
        stored: u64,
        configured: u64,
    },
    #[error(
        "data directory {dir} belongs to cluster {stored:?} but the config says cluster_id \
         {configured:?}"
    )]
    WrongCluster {
        dir: PathBuf,
        stored: String,
        configured: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub node_id: u64,
    pub cluster_id: String,
}

/// What `check_or_create` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// No identity existed: this is the node's first start on this directory.
    First,
    /// The directory already belonged to this node.
    Restart,
}

const FILE: &str = "identity";

/// Compares the stored identity with `want`, or writes it durably if none exists yet.
pub fn check_or_create(raft_dir: &Path, want: &Identity) -> Result<Start, IdentityError> {
    let path = raft_dir.join(FILE);
    let io = |source| IdentityError::Io {
        path: path.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let stored = parse(&text).map_err(|detail| IdentityError::Corrupt {
                path: path.clone(),
                detail,
            })?;
            if stored.node_id != want.node_id {
                return Err(IdentityError::WrongNode {
                    dir: raft_dir.to_path_buf(),
                    stored: stored.node_id,
                    configured: want.node_id,
                });
            }
            if stored.cluster_id != want.cluster_id {
                return Err(IdentityError::WrongCluster {
                    dir: raft_dir.to_path_buf(),
                    stored: stored.cluster_id,
                    configured: want.cluster_id.clone(),
                });
            }
            Ok(Start::Restart)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(raft_dir).map_err(io)?;
            let text = format!(
                "reefdb-identity v1\nnode_id {}\ncluster_id {}\n",
                want.node_id, want.cluster_id
            );
            let tmp = raft_dir.join("identity.tmp");
            write_synced(&tmp, text.as_bytes()).map_err(io)?;
            std::fs::rename(&tmp, &path).map_err(io)?;
            sync_dir(raft_dir).map_err(io)?;
            Ok(Start::First)
        }
        Err(e) => Err(io(e)),
    }
}

fn parse(text: &str) -> Result<Identity, String> {
    let mut lines = text.lines();
    if lines.next() != Some("reefdb-identity v1") {
        return Err("missing header line".into());
    }
    let mut node_id = None;
    let mut cluster_id = None;
    for line in lines {
        match line.split_once(' ') {
            Some(("node_id", v)) => {
                node_id = Some(v.parse::<u64>().map_err(|e| format!("node_id: {e}"))?)
            }
            Some(("cluster_id", v)) => cluster_id = Some(v.to_string()),
            _ => return Err(format!("unexpected line {line:?}")),
        }
    }
    Ok(Identity {
        node_id: node_id.ok_or("no node_id line")?,
        cluster_id: cluster_id.ok_or("no cluster_id line")?,
    })
}

/// Writes a whole file and fsyncs it.
pub fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Makes a rename or create inside `dir` durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64, c: &str) -> Identity {
        Identity {
            node_id: n,
            cluster_id: c.into(),
        }
    }

    #[test]
    fn first_start_writes_then_restart_matches() {
        let dir = tempfile::tempdir().unwrap();
        let raft = dir.path().join("raft");
        assert_eq!(check_or_create(&raft, &id(2, "c1")).unwrap(), Start::First);
        assert_eq!(
            check_or_create(&raft, &id(2, "c1")).unwrap(),
            Start::Restart
        );
    }

    #[test]
    fn refuses_another_nodes_or_clusters_data() {
        let dir = tempfile::tempdir().unwrap();
        check_or_create(dir.path(), &id(2, "c1")).unwrap();
        let e = check_or_create(dir.path(), &id(3, "c1"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("belongs to node 2") && e.contains("id 3"), "{e}");
        let e = check_or_create(dir.path(), &id(2, "c2"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cluster \"c1\""), "{e}");
    }

    #[test]
    fn garbage_identity_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), "hello").unwrap();
        let e = check_or_create(dir.path(), &id(1, "c"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a ReefDB identity file"), "{e}");
    }
}
