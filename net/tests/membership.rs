//! Address-book changes at runtime and certificate reload: a peer that moves is followed, a
//! removed peer is forgotten, and new TLS material applies to new connections while open ones
//! continue.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use reef_net::{certs, SendError, TlsIdentity};

async fn send_until_received(
    a: &reef_net::Transport,
    b: &reef_net::Transport,
    what: &'static [u8],
) {
    within(Duration::from_secs(10), "delivery", async {
        loop {
            let _ = a.send(b.node_id(), Bytes::from_static(what));
            let got = futures_lite::future::or(async { Some(recv_frame(b).await) }, async {
                sleep(Duration::from_millis(20)).await;
                None
            })
            .await;
            if let Some((from, bytes)) = got {
                assert_eq!((from, &bytes[..]), (a.node_id(), what));
                return;
            }
        }
    })
    .await;
}

#[test]
fn a_peer_that_moves_is_followed_and_a_removed_peer_forgotten() {
    let dir = cluster(2);
    run(async move {
        let a = bind(dir.path(), 1);
        let b1 = bind(dir.path(), 2);
        mesh(&[&a, &b1]);
        send_until_received(&a, &b1, b"first home").await;
        b1.close().await;
        let b2 = bind(dir.path(), 2);
        assert_ne!(b2.local_addr(), b1.local_addr());
        a.set_peer(2, b2.local_addr());
        assert_eq!(a.peers(), vec![(2, b2.local_addr())]);
        send_until_received(&a, &b2, b"new home").await;

        a.remove_peer(2);
        assert!(a.peers().is_empty());
        assert_eq!(a.send(2, Bytes::new()), Err(SendError::UnknownPeer(2)));
        assert!(a.stats().is_empty());
    });
}

#[test]
fn reloaded_certificates_apply_to_new_connections_only() {
    let dir = cluster(3);
    run(async move {
        let a = bind(dir.path(), 1);
        let b = bind(dir.path(), 2);
        mesh(&[&a, &b]);
        send_until_received(&a, &b, b"before").await;

        // b rotates to a freshly issued certificate and key.
        let rotated = dir.path().join("rotated");
        let files = certs::issue_node_cert(
            dir.path(),
            2,
            &[],
            certs::Validity::days_from_now(1),
            &rotated,
        )
        .unwrap();
        b.reload_tls(&TlsIdentity::load(&files).unwrap()).unwrap();
        // Wrong node's material is refused.
        let err = b
            .reload_tls(&identity(dir.path(), 3))
            .unwrap_err()
            .to_string();
        assert!(err.contains("node 3"), "{err}");

        // The open connection from a carries on; a new peer connects with the new certificate.
        send_until_received(&a, &b, b"same connection").await;
        assert_eq!(b.endpoint_stats().inbound_connections, 1);
        let c = bind(dir.path(), 3);
        mesh(&[&a, &b, &c]);
        send_until_received(&c, &b, b"new connection").await;
        send_until_received(&b, &c, b"and back").await;
        assert_eq!(b.endpoint_stats().inbound_connections, 2);
        assert_eq!(a.peer_stats(2).unwrap().reconnects, 0);
    });
}
