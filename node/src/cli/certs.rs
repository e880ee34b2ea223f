//! `reefdb certs`: a cluster CA and node certificates, and new node certificates later.
//!
//! `reefdb certs --dir certs --nodes 3` writes a fresh CA and one certificate per node.
//! `reefdb certs issue --ca-dir certs --id 4 --host 10.0.0.4 --out certs` issues one more
//! from the CA on disk: for a node joining, or to rotate a node's certificate before it
//! expires. Issued files replace the old ones by rename, so a node reloading at that moment
//! reads either the old file or the new one, never half of one.

use reef_net::certs::{self, Validity, CA_CERT_DAYS, NODE_CERT_DAYS};
use std::path::{Path, PathBuf};

/// Default lifetime of certificates `certs issue` writes: rotation is routine, so shorter.
pub const ISSUE_DAYS: u64 = 365;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct CertsArgs {
    #[command(subcommand)]
    pub command: Option<CertsCmd>,
    #[command(flatten)]
    pub generate: GenerateArgs,
}

#[derive(Debug, clap::Subcommand)]
pub enum CertsCmd {
    /// Issue a node certificate from an existing CA (ca.pem and ca.key in --ca-dir).
    Issue(IssueArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct GenerateArgs {
    /// Folder to write ca.pem, ca.key, node<I>.pem and node<I>.key into (created if missing).
    #[arg(long, required = true)]
    pub dir: Option<PathBuf>,
    /// Number of node certificates (ids 1..=N); 0 writes only a CA (e.g. for client certs).
    #[arg(long, default_value_t = 3)]
    pub nodes: u64,
    /// A host (IP address or DNS name) the nodes are reached at; repeat for several.
    #[arg(long = "host", default_values = ["127.0.0.1", "localhost"])]
    pub hosts: Vec<String>,
    /// Lifetime of the node certificates, in days.
    #[arg(long, default_value_t = NODE_CERT_DAYS)]
    pub days: u64,
    /// Lifetime of the CA, in days.
    #[arg(long, default_value_t = CA_CERT_DAYS)]
    pub ca_days: u64,
    /// Replace a CA already in --dir (every certificate it issued stops being trusted).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct IssueArgs {
    /// Folder holding the CA's ca.pem and ca.key.
    #[arg(long)]
    pub ca_dir: PathBuf,
    /// The node id the certificate is for.
    #[arg(long)]
    pub id: u64,
    /// A host (IP address or DNS name) the node is reached at; repeat for several.
    #[arg(long = "host")]
    pub hosts: Vec<String>,
    /// Lifetime in days.
    #[arg(long, default_value_t = ISSUE_DAYS)]
    pub days: u64,
    /// Folder to write node<ID>.pem and node<ID>.key into (created if missing).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum CertsError {
    #[error("{0} already holds a CA (ca.key); pass --force to replace it")]
    Exists(PathBuf),
    #[error("{0}")]
    Bad(String),
    #[error(transparent)]
    Tls(#[from] reef_net::TlsError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn check_days(days: u64, what: &str) -> Result<(), CertsError> {
    if days == 0 || days > 100 * 365 {
        return Err(CertsError::Bad(format!(
            "{what} must be 1 to 36500 days, not {days}"
        )));
    }
    Ok(())
}

/// Runs `reefdb certs [issue]`; returns the files written.
pub fn run(args: &CertsArgs) -> Result<Vec<PathBuf>, CertsError> {
    match &args.command {
        Some(CertsCmd::Issue(a)) => issue(a),
        None => generate(&args.generate),
    }
}

/// Writes a new CA and `nodes` node certificates.
pub fn generate(a: &GenerateArgs) -> Result<Vec<PathBuf>, CertsError> {
    let dir = a
        .dir
        .as_deref()
        .ok_or_else(|| CertsError::Bad("--dir is required".into()))?;
    check_days(a.days, "--days")?;
    check_days(a.ca_days, "--ca-days")?;
    if a.nodes > 999 {
        return Err(CertsError::Bad(format!(
            "--nodes must be at most 999, not {}",
            a.nodes
        )));
    }
    if dir.join("ca.key").exists() && !a.force {
        return Err(CertsError::Exists(dir.to_path_buf()));
    }
    std::fs::create_dir_all(dir).map_err(|source| CertsError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    certs::generate_ca(dir, Validity::days_from_now(a.ca_days))?;
    let mut written = vec![dir.join("ca.pem"), dir.join("ca.key")];
    for id in 1..=a.nodes {
        let files =
            certs::issue_node_cert(dir, id, &a.hosts, Validity::days_from_now(a.days), dir)?;
        written.push(files.cert);
        written.push(files.key);
    }
    Ok(written)
}

/// Issues one node certificate from the CA in `ca_dir`, replacing `out/node<id>.*` by rename.
pub fn issue(a: &IssueArgs) -> Result<Vec<PathBuf>, CertsError> {
    check_days(a.days, "--days")?;
    if a.id == 0 {
        return Err(CertsError::Bad("node ids start at 1".into()));
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CertsError::Io { path, source }
    };
    std::fs::create_dir_all(&a.out).map_err(io(&a.out))?;
    let staging = tempfile::Builder::new()
        .prefix(".issue-")
        .tempdir_in(&a.out)
        .map_err(io(&a.out))?;
    let files = certs::issue_node_cert(
        &a.ca_dir,
        a.id,
        &a.hosts,
        Validity::days_from_now(a.days),
        staging.path(),
    )?;
    let mut written = Vec::new();
    // Key first: until the certificate follows, a reload sees a mismatch and keeps the old
    // pair, which is safe; the other order would be too.
    for from in [&files.key, &files.cert] {
        let name = from.file_name().expect("issued files have names");
        let to = a.out.join(name);
        std::fs::rename(from, &to).map_err(io(&to))?;
        written.push(to);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reef_net::{TlsFiles, TlsIdentity};

    #[test]
    fn generates_then_issues_from_the_same_ca() {
        let dir = tempfile::tempdir().unwrap();
        let certs_dir = dir.path().join("certs");
        let gen = GenerateArgs {
            dir: Some(certs_dir.clone()),
            nodes: 2,
            hosts: vec!["127.0.0.1".into()],
            days: 10,
            ca_days: 100,
            force: false,
        };
        let written = generate(&gen).unwrap();
        assert_eq!(written.len(), 6);
        let e = generate(&gen).unwrap_err().to_string();
        assert!(e.contains("--force"), "{e}");

        let old = std::fs::read(certs_dir.join("node2.pem")).unwrap();
        let written = issue(&IssueArgs {
            ca_dir: certs_dir.clone(),
            id: 2,
            hosts: vec![],
            days: 5,
            out: certs_dir.clone(),
        })
        .unwrap();
        assert_eq!(written.len(), 2);
        assert_ne!(std::fs::read(certs_dir.join("node2.pem")).unwrap(), old);
        let files = TlsFiles::for_node(&certs_dir, 2);
        let id = TlsIdentity::load(&files).unwrap();
        assert_eq!(id.node_id(), 2);
        id.verify(&files).unwrap();
        // No staging folder is left behind.
        let left: Vec<_> = std::fs::read_dir(&certs_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with(".issue-"))
            .collect();
        assert!(left.is_empty(), "{left:?}");

        let e = issue(&IssueArgs {
            ca_dir: dir.path().join("nope"),
            id: 3,
            hosts: vec![],
            days: 5,
            out: certs_dir,
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("nope/ca.pem"), "{e}");
    }
}
