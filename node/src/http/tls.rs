//! HTTPS on the client API: the certificate material, per-shard server configs, the handshake.
//!
//! [`HttpTls`] is the loaded and checked material (certificate chain, key, optional client
//! CA), immutable and shared by every shard through an `ArcSwap`, so a reload is one pointer
//! swap. Each shard builds its own rustls `ServerConfig` from it the first time it accepts a
//! connection after a swap ([`ShardAcceptor`]): a `ServerConfig` holds a TLS session cache
//! behind a mutex, and a per-shard config keeps that mutex private to one thread. Connections
//! already open keep the config they started with; new ones get the new certificate.
//!
//! TLS 1.2 and 1.3 are offered (ring provider, like the peer transport), because the
//! clients this API must serve (rqlite drivers in many languages) do not all speak 1.3.

use crate::config::HttpTlsConfig;
use crate::metrics::Metrics;
use arc_swap::ArcSwap;
use glommio::net::TcpStream;
use reef_net::certs;
use reef_net::TlsError;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

static GENERATION: AtomicU64 = AtomicU64::new(1);

/// The HTTPS certificate material of a node, loaded and checked.
#[derive(Debug)]
pub struct HttpTls {
    generation: u64,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_roots: Option<Arc<RootCertStore>>,
    /// When the HTTPS certificate stops being valid.
    pub not_after: SystemTime,
    /// The earliest expiry among the client CA certificates, when client mTLS is on.
    pub client_ca_not_after: Option<SystemTime>,
}

impl HttpTls {
    /// Reads the files and checks them: the key matches the certificate, the certificate is
    /// valid now, the client CA (if any) is usable. Errors name the file at fault.
    pub fn load(cfg: &HttpTlsConfig) -> Result<HttpTls, TlsError> {
        let chain = certs::load_certs(&cfg.cert)?;
        let key = certs::load_key(&cfg.key)?;
        let invalid = |path: &PathBuf, reason: String| TlsError::Invalid {
            path: path.clone(),
            reason,
        };
        let not_after = certs::cert_not_after(&chain[0]).map_err(|r| invalid(&cfg.cert, r))?;
        if not_after <= SystemTime::now() {
            return Err(invalid(
                &cfg.cert,
                format!("certificate expired at {}", unix_seconds(not_after)),
            ));
        }
        let (client_roots, client_ca_not_after) = match &cfg.client_ca {
            None => (None, None),
            Some(path) => {
                let cas = certs::load_certs(path)?;
                let mut roots = RootCertStore::empty();
                let mut earliest = None::<SystemTime>;
                for c in cas {
                    let t = certs::cert_not_after(&c).map_err(|r| invalid(path, r))?;
                    earliest = Some(earliest.map_or(t, |e| e.min(t)));
                    roots
                        .add(c)
                        .map_err(|e| invalid(path, format!("not a usable CA certificate: {e}")))?;
                }
                (Some(Arc::new(roots)), earliest)
            }
        };
        let tls = HttpTls {
            generation: GENERATION.fetch_add(1, Relaxed),
            chain,
            key,
            client_roots,
            not_after,
            client_ca_not_after,
        };
        // Building a config is what checks that the key belongs to the certificate.
        tls.server_config().map_err(|e| {
            invalid(
                &cfg.key,
                format!(
                    "private key is unusable or does not belong to the certificate in {}: {e}",
                    cfg.cert.display()
                ),
            )
        })?;
        Ok(tls)
    }

    /// Whether clients must present a certificate.
    pub fn client_auth(&self) -> bool {
        self.client_roots.is_some()
    }

    /// A fresh rustls server config for this material.
    pub fn server_config(&self) -> Result<ServerConfig, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let builder = match &self.client_roots {
            Some(roots) => builder.with_client_cert_verifier(
                WebPkiClientVerifier::builder_with_provider(roots.clone(), provider)
                    .build()
                    .map_err(|e| rustls::Error::General(format!("client CA: {e}")))?,
            ),
            None => builder.with_no_client_auth(),
        };
        let mut cfg = builder.with_single_cert(self.chain.clone(), self.key.clone_key())?;
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(cfg)
    }
}

/// Seconds since the Unix epoch (0 for times before it).
pub fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// One shard's TLS acceptor. Its `RefCell` is borrowed only synchronously.
pub struct ShardAcceptor {
    source: Arc<ArcSwap<HttpTls>>,
    built: RefCell<Option<(u64, Arc<ServerConfig>)>>,
    metrics: Arc<Metrics>,
}

impl ShardAcceptor {
    pub fn new(source: Arc<ArcSwap<HttpTls>>, metrics: Arc<Metrics>) -> ShardAcceptor {
        ShardAcceptor {
            source,
            built: RefCell::new(None),
            metrics,
        }
    }

    /// This shard's config for the current material, built on first use after a reload.
    fn config(&self) -> Option<Arc<ServerConfig>> {
        let material = self.source.load();
        if let Some((generation, cfg)) = &*self.built.borrow() {
            if *generation == material.generation {
                return Some(cfg.clone());
            }
        }
        match material.server_config() {
            Ok(cfg) => {
                let cfg = Arc::new(cfg);
                *self.built.borrow_mut() = Some((material.generation, cfg.clone()));
                Some(cfg)
            }
            Err(e) => {
                // The material was checked when loaded; this cannot fail short of a bug.
                tracing::error!(error = %e, "building the HTTPS server config");
                None
            }
        }
    }

    /// Runs the server side of a TLS handshake, bounded by a timeout.
    pub async fn accept(
        &self,
        tcp: TcpStream,
    ) -> std::io::Result<futures_rustls::server::TlsStream<TcpStream>> {
        let cfg = self
            .config()
            .ok_or_else(|| std::io::Error::other("no usable HTTPS configuration"))?;
        let handshake = futures_rustls::TlsAcceptor::from(cfg).accept(tcp);
        let result = futures_lite::future::or(handshake, async {
            glommio::timer::sleep(HANDSHAKE_TIMEOUT).await;
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "TLS handshake timed out",
            ))
        })
        .await;
        if result.is_err() {
            self.metrics
                .http_tls_handshake_failures
                .fetch_add(1, Relaxed);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(dir: &std::path::Path, cert: &str, key: &str, ca: Option<&str>) -> HttpTlsConfig {
        HttpTlsConfig {
            cert: dir.join(cert),
            key: dir.join(key),
            client_ca: ca.map(|c| dir.join(c)),
        }
    }

    #[test]
    fn loads_good_files_and_names_bad_ones() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        certs::generate_cluster(d, &[(1, vec!["127.0.0.1".into()]), (2, vec![])]).unwrap();
        std::fs::write(d.join("junk.pem"), "not a certificate").unwrap();
        let tls = HttpTls::load(&cfg(d, "node1.pem", "node1.key", Some("ca.pem"))).unwrap();
        assert!(tls.client_auth());
        assert!(tls.not_after > SystemTime::now());
        assert!(tls.client_ca_not_after.unwrap() > tls.not_after);
        for (c, want) in [
            (cfg(d, "node1.pem", "node2.key", None), "node2.key"),
            (cfg(d, "junk.pem", "node1.key", None), "junk.pem"),
            (cfg(d, "missing.pem", "node1.key", None), "missing.pem"),
            (cfg(d, "node1.pem", "junk.pem", None), "junk.pem"),
            (
                cfg(d, "node1.pem", "node1.key", Some("junk.pem")),
                "junk.pem",
            ),
        ] {
            let e = HttpTls::load(&c).unwrap_err().to_string();
            assert!(e.contains(want), "{c:?}: {e}");
        }
    }
}
