//! Mutual TLS for peer connections: rustls configurations and the peer's node id.
//!
//! Both sides present a certificate from the cluster CA and verify the other's (TLS 1.3 only,
//! ring provider). The client dials the name `node-<id>.reefdb`, so the server must hold the
//! certificate of exactly the node it meant; the server reads the client's node id from the
//! client's verified certificate. Session resumption is off: every handshake checks the full
//! chain and the validity window, so an expired or replaced certificate cannot ride on an old
//! ticket.
//!
//! The configurations are plain values built from a [`TlsIdentity`]; the endpoint holds them
//! so that a later certificate rotation can build new ones and swap them in (new connections
//! use them, open ones continue).

use std::sync::Arc;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::{
    client::danger::ServerCertVerifier, client::WebPkiServerVerifier, server::WebPkiClientVerifier,
    RootCertStore,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::{
    certs::{self, TlsFiles},
    error::TlsError,
};

/// ALPN protocol id of ReefDB peer connections; a mismatch fails the handshake.
pub const ALPN: &[u8] = b"reefdb-peer/1";

/// A node's loaded TLS material: cluster CA, own certificate chain and key.
#[derive(Debug)]
pub struct TlsIdentity {
    roots: Arc<RootCertStore>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    node_id: u64,
}

impl Clone for TlsIdentity {
    fn clone(&self) -> Self {
        Self {
            roots: self.roots.clone(),
            chain: self.chain.clone(),
            key: self.key.clone_key(),
            node_id: self.node_id,
        }
    }
}

impl TlsIdentity {
    /// Loads and checks the files: the CA must parse as a trust anchor and the certificate must
    /// name exactly one node id.
    pub fn load(files: &TlsFiles) -> Result<Self, TlsError> {
        let ca = certs::load_certs(&files.ca_cert)?;
        let chain = certs::load_certs(&files.cert)?;
        let key = certs::load_key(&files.key)?;
        let mut roots = RootCertStore::empty();
        for c in ca {
            roots.add(c).map_err(|e| TlsError::Invalid {
                path: files.ca_cert.clone(),
                reason: format!("not a usable CA certificate: {e}"),
            })?;
        }
        let node_id = cert_node_id(&chain[0]).map_err(|reason| TlsError::Invalid {
            path: files.cert.clone(),
            reason,
        })?;
        Ok(Self {
            roots: Arc::new(roots),
            chain,
            key,
            node_id,
        })
    }

    /// The node id this identity's certificate names.
    pub fn node_id(&self) -> u64 {
        self.node_id
    }

    /// QUIC endpoint settings that survive a restart: the stateless-reset key and the key
    /// that signs this node's connection ids, both derived from its private key. A peer that
    /// still holds a connection to this node's previous process sends its next packet here;
    /// the new process recognises the connection id as one of its own (a random key per
    /// process would make it drop the packet as invalid) and answers with a stateless reset
    /// the peer can verify, so the peer reconnects at once instead of sending into a dead
    /// connection until its idle timeout: seconds in which Raft messages and disk reports
    /// to a restarted node are lost. A new private key (certificate rotation) changes both
    /// from the next start on.
    pub fn endpoint_config(&self) -> quinn::EndpointConfig {
        use ring::{digest, hmac};
        let derive = |label: &[u8]| {
            let mut ctx = digest::Context::new(&digest::SHA256);
            ctx.update(label);
            ctx.update(self.key.secret_der());
            ctx.finish()
        };
        let reset = derive(b"reefdb quic stateless reset key v1\0");
        let cid = derive(b"reefdb quic connection id key v1\0");
        let mut cid_key = [0u8; 8];
        cid_key.copy_from_slice(&cid.as_ref()[..8]);
        let cid_key = u64::from_le_bytes(cid_key);
        let mut cfg =
            quinn::EndpointConfig::new(Arc::new(hmac::Key::new(hmac::HMAC_SHA256, reset.as_ref())));
        cfg.cid_generator(move || {
            Box::new(quinn_proto::HashedConnectionIdGenerator::from_key(cid_key))
        });
        cfg
    }

    /// This node's certificate (leaf first).
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// Checks what [`Self::load`] cannot see file by file: that the key belongs to the
    /// certificate, and that the certificate chains to the CA, is valid now and names its node.
    /// Certificate rotation runs this before swapping anything in, so a mismatched or foreign
    /// file is refused while the old material stays in use. `files` only names the culprit.
    pub fn verify(&self, files: &TlsFiles) -> Result<(), TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        rustls::sign::CertifiedKey::from_der(self.chain.clone(), self.key.clone_key(), &provider)
            .map_err(|e| TlsError::Invalid {
            path: files.key.clone(),
            reason: format!(
                "private key is unusable or does not belong to the certificate in {}: {e}",
                files.cert.display()
            ),
        })?;
        let verifier = WebPkiServerVerifier::builder_with_provider(self.roots.clone(), provider)
            .build()
            .map_err(|e| TlsError::Config(format!("server verifier: {e}")))?;
        let name = ServerName::try_from(certs::node_dns_name(self.node_id))
            .map_err(|e| TlsError::Config(format!("node name: {e}")))?;
        verifier
            .verify_server_cert(
                &self.chain[0],
                &self.chain[1..],
                &name,
                &[],
                UnixTime::now(),
            )
            .map_err(|e| TlsError::Invalid {
                path: files.cert.clone(),
                reason: format!(
                    "certificate does not verify against the CA in {}: {e}",
                    files.ca_cert.display()
                ),
            })?;
        Ok(())
    }

    /// The rustls server configuration: requires and verifies a client certificate.
    pub fn rustls_server(&self) -> Result<rustls::ServerConfig, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            WebPkiClientVerifier::builder_with_provider(self.roots.clone(), provider.clone())
                .build()
                .map_err(|e| TlsError::Config(format!("client verifier: {e}")))?;
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|e| TlsError::Config(format!("own certificate/key: {e}")))?;
        cfg.alpn_protocols = vec![ALPN.to_vec()];
        cfg.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        cfg.send_tls13_tickets = 0;
        Ok(cfg)
    }

    /// The rustls client configuration: presents this node's certificate and verifies the
    /// server's against the cluster CA and the dialled name.
    pub fn rustls_client(&self) -> Result<rustls::ClientConfig, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            WebPkiServerVerifier::builder_with_provider(self.roots.clone(), provider.clone())
                .build()
                .map_err(|e| TlsError::Config(format!("server verifier: {e}")))?;
        let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_webpki_verifier(verifier)
            .with_client_auth_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|e| TlsError::Config(format!("own certificate/key: {e}")))?;
        cfg.alpn_protocols = vec![ALPN.to_vec()];
        cfg.resumption = rustls::client::Resumption::disabled();
        Ok(cfg)
    }

    /// quinn's server crypto from [`Self::rustls_server`].
    pub fn quic_server(&self) -> Result<Arc<QuicServerConfig>, TlsError> {
        QuicServerConfig::try_from(self.rustls_server()?)
            .map(Arc::new)
            .map_err(|e| TlsError::Config(e.to_string()))
    }

    /// quinn's client crypto from [`Self::rustls_client`].
    pub fn quic_client(&self) -> Result<Arc<QuicClientConfig>, TlsError> {
        QuicClientConfig::try_from(self.rustls_client()?)
            .map(Arc::new)
            .map_err(|e| TlsError::Config(e.to_string()))
    }
}

/// The node id named by a certificate: its one `node-<id>.reefdb` DNS SAN.
pub fn cert_node_id(der: &CertificateDer<'_>) -> Result<u64, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| format!("certificate does not parse: {e}"))?;
    let san = cert
        .subject_alternative_name()
        .map_err(|e| format!("bad subjectAltName: {e}"))?
        .ok_or("certificate has no subjectAltName naming a node")?;
    let mut ids = san.value.general_names.iter().filter_map(|n| match n {
        x509_parser::extensions::GeneralName::DNSName(name) => certs::parse_node_dns_name(name),
        _ => None,
    });
    let id = ids
        .next()
        .ok_or("certificate names no node (want a DNS SAN node-<id>.reefdb)")?;
    if ids.next().is_some() {
        return Err("certificate names more than one node".into());
    }
    Ok(id)
}

/// The node id of the peer of an established connection, from its verified certificate.
pub fn connection_peer_id(conn: &quinn::Connection) -> Result<u64, String> {
    let identity = conn
        .peer_identity()
        .ok_or("peer presented no certificate")?;
    let chain = identity
        .downcast::<Vec<CertificateDer<'static>>>()
        .map_err(|_| "peer identity is not a certificate chain")?;
    let leaf = chain.first().ok_or("peer presented an empty chain")?;
    cert_node_id(leaf)
}
