//! Cluster certificates: a CA, one certificate per node, and loading them from PEM files.
//!
//! A node's identity is its certificate: the DNS subject alternative name
//! `node-<id>.reefdb` says which node id it belongs to (see [`node_dns_name`]), so a server
//! learns the id of a client from the client's verified certificate, and a client checks that
//! the server it dialled is the node id it meant. The hosts and IPs a node is reached at are
//! added as further SANs for operators' tools. Every node certificate is valid for both server
//! and client authentication, as every node is both.
//!
//! Files in a certificate directory: `ca.pem`, `ca.key`, `node<I>.pem`, `node<I>.key`. Keys
//! are written with mode 0600.

use std::{
    fs,
    io::Write,
    net::IpAddr,
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::TlsError;

/// The DNS name carried by node `id`'s certificate.
pub fn node_dns_name(id: u64) -> String {
    format!("node-{id}.reefdb")
}

/// Parses a name made by [`node_dns_name`].
pub fn parse_node_dns_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("node-")?.strip_suffix(".reefdb")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Reject "node-007": one id has one spelling.
    if digits.len() > 1 && digits.starts_with('0') {
        return None;
    }
    digits.parse().ok()
}

/// The paths of one node's TLS material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The cluster CA certificate that peers' certificates must chain to.
    pub ca_cert: PathBuf,
    /// This node's certificate (chain), PEM.
    pub cert: PathBuf,
    /// This node's private key, PEM (PKCS#8, SEC1 or PKCS#1).
    pub key: PathBuf,
}

impl TlsFiles {
    /// The files `generate_cluster` writes for node `id` under `dir`.
    pub fn for_node(dir: &Path, id: u64) -> Self {
        Self {
            ca_cert: dir.join("ca.pem"),
            cert: dir.join(format!("node{id}.pem")),
            key: dir.join(format!("node{id}.key")),
        }
    }
}

/// A certificate's validity window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub not_before: SystemTime,
    pub not_after: SystemTime,
}

impl Validity {
    /// From an hour ago (tolerates clock skew between nodes) to `days` from now.
    pub fn days_from_now(days: u64) -> Self {
        let now = SystemTime::now();
        Self {
            not_before: now - Duration::from_secs(3600),
            not_after: now + Duration::from_secs(days * 86_400),
        }
    }
}

/// Default lifetime of node certificates. Rotation needs no downtime (SIGHUP reloads), so
/// operators wanting short-lived certificates issue them with `reefdb certs issue --days N`.
pub const NODE_CERT_DAYS: u64 = 5 * 365;
/// Default lifetime of the cluster CA.
pub const CA_CERT_DAYS: u64 = 20 * 365;

/// Writes a fresh CA and one certificate per node into `dir` (created if missing).
/// `nodes` pairs each node id with the hosts (DNS names or IP addresses) it is reached at.
pub fn generate_cluster(dir: &Path, nodes: &[(u64, Vec<String>)]) -> Result<(), TlsError> {
    fs::create_dir_all(dir).map_err(|source| TlsError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    generate_ca(dir, Validity::days_from_now(CA_CERT_DAYS))?;
    for (id, hosts) in nodes {
        issue_node_cert(
            dir,
            *id,
            hosts,
            Validity::days_from_now(NODE_CERT_DAYS),
            dir,
        )?;
    }
    Ok(())
}

/// Writes a new CA certificate and key as `dir/ca.pem` and `dir/ca.key`.
pub fn generate_ca(dir: &Path, validity: Validity) -> Result<(), TlsError> {
    let gen = |source| TlsError::Generate {
        what: "the cluster CA".into(),
        source,
    };
    let key = KeyPair::generate().map_err(gen)?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "ReefDB cluster CA");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    set_validity(&mut params, validity);
    let cert = params.self_signed(&key).map_err(gen)?;
    write_file(&dir.join("ca.pem"), cert.pem().as_bytes(), false)?;
    write_file(&dir.join("ca.key"), key.serialize_pem().as_bytes(), true)
}

/// Issues a certificate for node `id` from the CA in `ca_dir` (`ca.pem`, `ca.key`) and writes
/// it as `out_dir/node<id>.pem` and `out_dir/node<id>.key`. Returns the files, with `ca_cert`
/// pointing at the CA in `ca_dir`.
pub fn issue_node_cert(
    ca_dir: &Path,
    id: u64,
    hosts: &[String],
    validity: Validity,
    out_dir: &Path,
) -> Result<TlsFiles, TlsError> {
    let ca_cert_path = ca_dir.join("ca.pem");
    let ca_key_path = ca_dir.join("ca.key");
    let ca_pem = read_to_string(&ca_cert_path)?;
    let ca_key_pem = read_to_string(&ca_key_path)?;
    let ca_key = KeyPair::from_pem(&ca_key_pem).map_err(|e| TlsError::Invalid {
        path: ca_key_path.clone(),
        reason: format!("not a usable CA private key: {e}"),
    })?;
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key).map_err(|e| TlsError::Invalid {
        path: ca_cert_path.clone(),
        reason: format!("not a usable CA certificate: {e}"),
    })?;

    let gen = |source| TlsError::Generate {
        what: format!("the certificate of node {id}"),
        source,
    };
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, node_dns_name(id));
    params.distinguished_name = dn;
    let mut sans = vec![SanType::DnsName(node_dns_name(id).try_into().map_err(gen)?)];
    for host in hosts {
        match host.parse::<IpAddr>() {
            Ok(ip) => sans.push(SanType::IpAddress(ip)),
            Err(_) => sans.push(SanType::DnsName(host.clone().try_into().map_err(gen)?)),
        }
    }
    params.subject_alt_names = sans;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, validity);
    let key = KeyPair::generate().map_err(gen)?;
    let cert = params.signed_by(&key, &issuer).map_err(gen)?;

    fs::create_dir_all(out_dir).map_err(|source| TlsError::Write {
        path: out_dir.to_path_buf(),
        source,
    })?;
    let files = TlsFiles {
        ca_cert: ca_cert_path,
        cert: out_dir.join(format!("node{id}.pem")),
        key: out_dir.join(format!("node{id}.key")),
    };
    write_file(&files.cert, cert.pem().as_bytes(), false)?;
    write_file(&files.key, key.serialize_pem().as_bytes(), true)?;
    Ok(files)
}

fn set_validity(params: &mut CertificateParams, validity: Validity) {
    params.not_before = time::OffsetDateTime::from(validity.not_before);
    params.not_after = time::OffsetDateTime::from(validity.not_after);
}

/// Loads every certificate in a PEM file; errors name the file.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Invalid {
            path: path.to_path_buf(),
            reason: format!("malformed PEM: {e}"),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// Loads the first private key in a PEM file; errors name the file.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|e| TlsError::Invalid {
            path: path.to_path_buf(),
            reason: format!("malformed PEM: {e}"),
        })?
        .ok_or_else(|| TlsError::NoKey {
            path: path.to_path_buf(),
        })
}

/// When a certificate stops being valid.
pub fn cert_not_after(der: &CertificateDer<'_>) -> Result<SystemTime, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| format!("certificate does not parse: {e}"))?;
    let secs = cert.validity().not_after.timestamp();
    Ok(if secs >= 0 {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs as u64)
    } else {
        SystemTime::UNIX_EPOCH
    })
}

fn read_to_string(path: &Path) -> Result<String, TlsError> {
    fs::read_to_string(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn write_file(path: &Path, bytes: &[u8], secret: bool) -> Result<(), TlsError> {
    let err = |source| TlsError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    f.sync_all().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_round_trip_and_reject_lookalikes() {
        for id in [0, 1, 42, u64::MAX] {
            assert_eq!(parse_node_dns_name(&node_dns_name(id)), Some(id));
        }
        for bad in [
            "node-.reefdb",
            "node-01.reefdb",
            "node-1.reefdb.evil",
            "xnode-1.reefdb",
            "node-+1.reefdb",
            "node-1a.reefdb",
            "node-18446744073709551616.reefdb",
        ] {
            assert_eq!(parse_node_dns_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn load_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        let e = load_certs(&missing).unwrap_err().to_string();
        assert!(e.contains("nope.pem"), "{e}");
        let junk = dir.path().join("junk.pem");
        fs::write(&junk, "hello").unwrap();
        let e = load_certs(&junk).unwrap_err().to_string();
        assert!(
            e.contains("junk.pem") && e.contains("no PEM certificate"),
            "{e}"
        );
        let e = load_key(&junk).unwrap_err().to_string();
        assert!(
            e.contains("junk.pem") && e.contains("no PEM private key"),
            "{e}"
        );
    }

    #[test]
    fn cluster_files_are_written_and_load() {
        let dir = tempfile::tempdir().unwrap();
        generate_cluster(
            dir.path(),
            &[
                (1, vec!["127.0.0.1".into()]),
                (2, vec!["db2.example".into()]),
            ],
        )
        .unwrap();
        for id in [1, 2] {
            let files = TlsFiles::for_node(dir.path(), id);
            assert_eq!(load_certs(&files.cert).unwrap().len(), 1);
            load_key(&files.key).unwrap();
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&files.key).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "key readable by others");
        }
        load_certs(&dir.path().join("ca.pem")).unwrap();
        // A second certificate from the same CA on disk.
        let out = dir.path().join("rotated");
        let files = issue_node_cert(dir.path(), 3, &[], Validity::days_from_now(1), &out).unwrap();
        assert!(files.cert.starts_with(&out));
        load_certs(&files.cert).unwrap();
        let leaf = &load_certs(&files.cert).unwrap()[0];
        let left = cert_not_after(leaf)
            .unwrap()
            .duration_since(SystemTime::now())
            .unwrap();
        assert!(left > Duration::from_secs(86_000) && left <= Duration::from_secs(86_400));
    }

    #[test]
    fn verify_refuses_mismatched_and_foreign_files() {
        use crate::tls::TlsIdentity;
        let dir = tempfile::tempdir().unwrap();
        let hosts = [(1, vec!["127.0.0.1".to_string()]), (2, vec![])];
        generate_cluster(dir.path(), &hosts).unwrap();
        let other = dir.path().join("other");
        generate_cluster(&other, &[(1, vec![])]).unwrap();
        let good = TlsFiles::for_node(dir.path(), 1);
        TlsIdentity::load(&good).unwrap().verify(&good).unwrap();
        // Key of node 2 with the certificate of node 1.
        let mismatched = TlsFiles {
            key: dir.path().join("node2.key"),
            ..good.clone()
        };
        let e = TlsIdentity::load(&mismatched)
            .unwrap()
            .verify(&mismatched)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("node2.key") && e.contains("does not belong"),
            "{e}"
        );
        // A certificate from another CA.
        let foreign = TlsFiles {
            cert: other.join("node1.pem"),
            key: other.join("node1.key"),
            ..good.clone()
        };
        let e = TlsIdentity::load(&foreign)
            .unwrap()
            .verify(&foreign)
            .unwrap_err()
            .to_string();
        assert!(e.contains("other/node1.pem") && e.contains("ca.pem"), "{e}");
    }
}
