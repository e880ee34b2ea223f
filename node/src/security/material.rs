//! Loading every certificate, key and the users file a node runs with, and checking them.
//!
//! The same load serves the start-up and every reload, so a file that would be refused on
//! reload is refused at start too. Checks go beyond parsing: the transport certificate must
//! name this node's id, belong to its key and chain to the cluster CA; the HTTPS certificate
//! must belong to its key and not be expired. Each error names the file at fault.

use super::expiry::Expiry;
use crate::auth::{Users, UsersError};
use crate::config::Config;
use crate::http::tls::HttpTls;
use reef_net::{certs, TlsError, TlsFiles, TlsIdentity};

#[derive(Debug, thiserror::Error)]
pub enum MaterialError {
    #[error("transport TLS: {0}")]
    Transport(TlsError),
    #[error("HTTPS: {0}")]
    Http(TlsError),
    #[error(transparent)]
    Users(#[from] UsersError),
}

/// Everything reloadable, loaded and checked; nothing is in use yet.
pub struct Material {
    pub transport: TlsIdentity,
    pub http: Option<HttpTls>,
    /// The users and the warnings their file deserves (plaintext passwords).
    pub users: Option<(Users, Vec<String>)>,
    pub expiry: Expiry,
}

/// The transport's files, as the config names them.
pub fn transport_files(config: &Config) -> TlsFiles {
    TlsFiles {
        ca_cert: config.tls.ca.clone(),
        cert: config.tls.cert.clone(),
        key: config.tls.key.clone(),
    }
}

/// Loads and checks the transport identity, the HTTPS material and the users file.
pub fn load(config: &Config) -> Result<Material, MaterialError> {
    let files = transport_files(config);
    let transport = TlsIdentity::load(&files).map_err(MaterialError::Transport)?;
    if transport.node_id() != config.id {
        return Err(MaterialError::Transport(TlsError::Invalid {
            path: files.cert.clone(),
            reason: format!(
                "certificate is for node {}, but this is node {} (config `id`)",
                transport.node_id(),
                config.id
            ),
        }));
    }
    transport.verify(&files).map_err(MaterialError::Transport)?;
    let invalid = |path: &std::path::Path, reason: String| {
        MaterialError::Transport(TlsError::Invalid {
            path: path.to_path_buf(),
            reason,
        })
    };
    let transport_expiry =
        certs::cert_not_after(&transport.chain()[0]).map_err(|r| invalid(&files.cert, r))?;
    let mut ca_expiry = None::<std::time::SystemTime>;
    for ca in certs::load_certs(&files.ca_cert).map_err(MaterialError::Transport)? {
        let t = certs::cert_not_after(&ca).map_err(|r| invalid(&files.ca_cert, r))?;
        ca_expiry = Some(ca_expiry.map_or(t, |e| e.min(t)));
    }
    let http = match &config.http_tls {
        Some(h) => Some(HttpTls::load(h).map_err(MaterialError::Http)?),
        None => None,
    };
    let users = match &config.auth {
        Some(path) => Some(Users::load(path)?),
        None => None,
    };
    let expiry = Expiry {
        transport: transport_expiry,
        ca: ca_expiry.unwrap_or(transport_expiry),
        http: http.as_ref().map(|h| h.not_after),
        client_ca: http.as_ref().and_then(|h| h.client_ca_not_after),
    };
    Ok(Material {
        transport,
        http,
        users,
        expiry,
    })
}
