//! mTLS over real sockets: only certificates from the cluster CA, valid now, naming the
//! expected node, get a connection, and nothing from a refused peer is ever delivered.

mod common;

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, SystemTime},
};

use bytes::Bytes;
use common::*;
use reef_net::{
    certs::{self, Validity},
    SendError, TlsFiles, TlsIdentity, Transport,
};

/// Sends frames from `client` to `server` for a while; nothing may arrive and the client must
/// see the connection refused.
async fn assert_refused(client: &Transport, server: &Transport) {
    client.set_peer(server.node_id(), server.local_addr());
    within(Duration::from_secs(10), "refusal", async {
        loop {
            match client.send(server.node_id(), Bytes::from_static(b"let me in")) {
                Err(SendError::Unreachable { .. }) => break,
                Ok(()) | Err(SendError::Full { .. }) => sleep(Duration::from_millis(10)).await,
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await;
    assert_nothing_delivered(server, Duration::from_millis(300)).await;
    let st = client.peer_stats(server.node_id()).unwrap();
    assert!(st.handshake_failures >= 1, "{st:?}");
    assert!(!st.connected);
    assert_eq!(st.frames_sent, 0, "{st:?}");
    assert_eq!(server.endpoint_stats().inbound_connections, 0);
    assert!(server.peer_stats(client.node_id()).is_none());
}

#[test]
fn a_client_certificate_from_another_ca_is_refused() {
    let good = cluster(2);
    let other = cluster(2);
    run(async move {
        let server = bind(good.path(), 2);
        // Trusts the right CA, but presents node 1's certificate from the other CA.
        let files = TlsFiles {
            ca_cert: good.path().join("ca.pem"),
            ..TlsFiles::for_node(other.path(), 1)
        };
        let mut cfg = config(good.path(), 1);
        cfg.tls = TlsIdentity::load(&files).unwrap();
        let client = Transport::bind(cfg).unwrap();
        assert_refused(&client, &server).await;
        assert!(server.endpoint_stats().inbound_handshake_failures >= 1);
    });
}

#[test]
fn a_server_certificate_from_another_ca_is_refused() {
    let good = cluster(2);
    let other = cluster(2);
    run(async move {
        let client = bind(good.path(), 1);
        let server = bind(other.path(), 2);
        assert_refused(&client, &server).await;
    });
}

#[test]
fn a_client_without_a_certificate_is_refused() {
    let dir = cluster(2);
    run(async move {
        let server = bind(dir.path(), 2);
        let mut roots = rustls::RootCertStore::empty();
        for c in certs::load_certs(&dir.path().join("ca.pem")).unwrap() {
            roots.add(c).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![reef_net::tls::ALPN.to_vec()];
        let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
        let ep = raw_endpoint();
        let conn = ep
            .connect_with(
                quinn::ClientConfig::new(Arc::new(quic)),
                server.local_addr(),
                &certs::node_dns_name(2),
            )
            .unwrap();
        // TLS 1.3: the client may think it is connected before the server has judged it.
        let outcome = within(Duration::from_secs(5), "no-cert handshake", async {
            let conn = conn.await?;
            let mut s = conn.open_uni().await?;
            let _ = s.write_all(&[1, 0, 0, 0, 2, b'h', b'i']).await;
            Err::<(), _>(conn.closed().await)
        })
        .await;
        let err = outcome.unwrap_err();
        assert!(err.to_string().contains("certificate"), "{err}");
        assert_nothing_delivered(&server, Duration::from_millis(200)).await;
        assert!(server.endpoint_stats().inbound_handshake_failures >= 1);
        assert_eq!(server.endpoint_stats().inbound_connections, 0);
    });
}

fn expired() -> Validity {
    let now = SystemTime::now();
    Validity {
        not_before: now - Duration::from_secs(10 * 86_400),
        not_after: now - Duration::from_secs(86_400),
    }
}

#[test]
fn an_expired_client_certificate_is_refused() {
    let dir = cluster(2);
    run(async move {
        let server = bind(dir.path(), 2);
        let old = dir.path().join("old");
        let files = certs::issue_node_cert(dir.path(), 1, &[], expired(), &old).unwrap();
        let mut cfg = config(dir.path(), 1);
        cfg.tls = TlsIdentity::load(&files).unwrap();
        let client = Transport::bind(cfg).unwrap();
        assert_refused(&client, &server).await;
        assert!(server.endpoint_stats().inbound_handshake_failures >= 1);
    });
}

#[test]
fn an_expired_server_certificate_is_refused() {
    let dir = cluster(2);
    run(async move {
        let client = bind(dir.path(), 1);
        let old = dir.path().join("old");
        let files = certs::issue_node_cert(dir.path(), 2, &[], expired(), &old).unwrap();
        let mut cfg = config(dir.path(), 2);
        cfg.tls = TlsIdentity::load(&files).unwrap();
        let server = Transport::bind(cfg).unwrap();
        assert_refused(&client, &server).await;
    });
}

#[test]
fn a_server_that_is_not_the_dialled_node_is_refused() {
    let dir = cluster(3);
    run(async move {
        let client = bind(dir.path(), 1);
        let node2 = bind(dir.path(), 2);
        // The address book says node 3 lives where node 2 listens.
        let impostor: SocketAddr = node2.local_addr();
        client.set_peer(3, impostor);
        within(Duration::from_secs(10), "name check", async {
            while !matches!(
                client.send(3, Bytes::from_static(b"x")),
                Err(SendError::Unreachable { .. })
            ) {
                sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert_nothing_delivered(&node2, Duration::from_millis(200)).await;
        assert!(client.peer_stats(3).unwrap().handshake_failures >= 1);
    });
}

#[test]
fn a_ca_signed_certificate_naming_no_node_gets_no_frames_through() {
    let dir = cluster(2);
    run(async move {
        let server = bind(dir.path(), 2);
        // Signed by the real CA, but names only an ordinary host.
        let ca_pem = std::fs::read_to_string(dir.path().join("ca.pem")).unwrap();
        let ca_key =
            rcgen::KeyPair::from_pem(&std::fs::read_to_string(dir.path().join("ca.key")).unwrap())
                .unwrap();
        let issuer = rcgen::Issuer::from_ca_cert_pem(&ca_pem, ca_key).unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["host.example".to_string()]).unwrap();
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap();
        let chain = vec![cert.der().clone()];
        let pkey = rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(
                certs::load_certs(&dir.path().join("ca.pem"))
                    .unwrap()
                    .remove(0),
            )
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, pkey)
            .unwrap();
        tls.alpn_protocols = vec![reef_net::tls::ALPN.to_vec()];
        let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
        let ep = raw_endpoint();
        let conn = ep
            .connect_with(
                quinn::ClientConfig::new(Arc::new(quic)),
                server.local_addr(),
                &certs::node_dns_name(2),
            )
            .unwrap();
        let err = within(Duration::from_secs(5), "nameless client", async {
            let conn = conn.await?;
            let mut s = conn.open_uni().await?;
            let _ = s.write_all(&[1, 0, 0, 0, 2, b'h', b'i']).await;
            Err::<(), _>(conn.closed().await)
        })
        .await
        .unwrap_err();
        assert!(
            matches!(&err, quinn::ConnectionError::ApplicationClosed(c) if c.error_code == quinn::VarInt::from_u32(0x21)),
            "{err}"
        );
        assert_nothing_delivered(&server, Duration::from_millis(200)).await;
        assert_eq!(server.endpoint_stats().bad_identity, 1);
    });
}

#[test]
fn a_node_certificate_is_rejected_for_the_wrong_node_id() {
    let dir = cluster(2);
    let mut cfg = config(dir.path(), 1);
    cfg.node_id = 2;
    let err = Transport::bind(cfg).unwrap_err().to_string();
    assert!(err.contains("tls") && err.contains("node 1"), "{err}");
}
