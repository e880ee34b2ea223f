//! Garbage datagrams and half-open handshakes aimed at the port neither crash nor wedge the
//! endpoint: real peers keep connecting and exchanging frames, and abandoned handshakes are
//! bounded and expire.

mod common;

use std::{net::SocketAddr, time::Duration};

use bytes::Bytes;
use common::*;
use rand::{Rng, RngCore};
use reef_net::{certs, Transport};

/// Real QUIC Initial packets, captured from quinn clients dialling a socket that never answers.
async fn capture_initials(dir: &std::path::Path, n: usize) -> Vec<Vec<u8>> {
    let sink = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sink.set_nonblocking(true).unwrap();
    let target = sink.local_addr().unwrap();
    let mut endpoints = Vec::new();
    let mut pending = Vec::new();
    for _ in 0..n {
        let ep = raw_endpoint();
        pending.push(
            ep.connect_with(
                raw_client(&identity(dir, 1)),
                target,
                &certs::node_dns_name(2),
            )
            .unwrap(),
        );
        endpoints.push(ep);
    }
    let mut initials = std::collections::HashMap::new();
    within(Duration::from_secs(5), "capture", async {
        while initials.len() < n {
            sleep(Duration::from_millis(5)).await;
            let mut buf = [0u8; 2048];
            while let Ok((len, from)) = sink.recv_from(&mut buf) {
                initials.entry(from).or_insert_with(|| buf[..len].to_vec());
            }
        }
    })
    .await;
    drop(pending);
    for ep in endpoints {
        ep.close(0u32.into(), b"");
    }
    initials.into_values().collect()
}

fn spray_garbage(to: SocketAddr) {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut rng = rand::rng();
    let mut buf = vec![0u8; 1500];
    for i in 0..3000 {
        let len = match i % 5 {
            0 => 0,
            1 => rng.random_range(1..40),
            _ => rng.random_range(1..1500),
        };
        rng.fill_bytes(&mut buf[..len]);
        match i % 7 {
            // Long header, QUIC v1, random connection ids: looks like an Initial.
            0 if len >= 7 => {
                buf[0] = 0xc0 | (buf[0] & 0x0f);
                buf[1..5].copy_from_slice(&1u32.to_be_bytes());
            }
            // An unknown version: invites version negotiation.
            1 if len >= 7 => {
                buf[0] |= 0x80;
                buf[1..5].copy_from_slice(&0x0a0a_0a0au32.to_be_bytes());
            }
            _ => {}
        }
        let _ = s.send_to(&buf[..len], to);
    }
    let _ = s.send_to(&vec![0xffu8; 65_000], to);
}

#[test]
fn garbage_and_half_open_handshakes_do_not_wedge_the_endpoint() {
    let dir = cluster(2);
    run(async move {
        let server = bind(dir.path(), 2);
        let initials = capture_initials(dir.path(), 40).await;
        assert_eq!(initials.len(), 40);
        // Each Initial is replayed from its own socket that never answers the server.
        let silent: Vec<_> = initials
            .iter()
            .map(|pkt| {
                let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
                s.send_to(pkt, server.local_addr()).unwrap();
                s
            })
            .collect();
        spray_garbage(server.local_addr());
        sleep(Duration::from_millis(50)).await;
        let eps = server.endpoint_stats();
        assert!(eps.handshakes_in_progress >= 30, "{eps:?}");

        // A real peer connects and talks while all that is pending.
        let client = bind(dir.path(), 1);
        mesh(&[&client, &server]);
        for i in 0..100u32 {
            client
                .send(2, Bytes::from(i.to_be_bytes().to_vec()))
                .unwrap();
        }
        within(Duration::from_secs(1), "frames during the flood", async {
            for i in 0..100u32 {
                let (from, b) = recv_frame(&server).await;
                assert_eq!((from, &b[..]), (1, &i.to_be_bytes()[..]));
            }
        })
        .await;
        let r = server.request(1, Bytes::from_static(b"ping"), Duration::from_secs(1));
        let answer = async {
            let Some(reef_net::Inbound::Request { responder, .. }) = client.recv().await else {
                panic!()
            };
            responder.respond(Bytes::from_static(b"pong")).unwrap();
        };
        let (resp, ()) = futures_lite::future::zip(r, answer).await;
        assert_eq!(&resp.unwrap()[..], b"pong");

        // Abandoned handshakes expire (idle timeout 1.5 s) and are counted.
        within(Duration::from_secs(10), "half-open expiry", async {
            while server.endpoint_stats().handshakes_in_progress > 0 {
                sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        let eps = server.endpoint_stats();
        assert!(eps.inbound_handshake_failures >= 30, "{eps:?}");
        assert_eq!(eps.inbound_connections, 1, "{eps:?}");
        drop(silent);
    });
}

#[test]
fn handshakes_beyond_the_limit_are_not_started() {
    let dir = cluster(2);
    run(async move {
        let mut cfg = config(dir.path(), 2);
        cfg.max_incoming = 4;
        let server = Transport::bind(cfg).unwrap();
        let initials = capture_initials(dir.path(), 10).await;
        let mut silent = Vec::new();
        // Two bursts, the second while the first's handshakes are still pending.
        for burst in initials.chunks(5) {
            for pkt in burst {
                let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
                s.send_to(pkt, server.local_addr()).unwrap();
                silent.push(s);
            }
            sleep(Duration::from_millis(100)).await;
            let eps = server.endpoint_stats();
            assert_eq!(eps.handshakes_in_progress, 4, "{eps:?}");
        }
        // Those that got a slot expire; the rest were never started (dropped by quinn before
        // any key derivation, or refused by us).
        within(Duration::from_secs(5), "expiry", async {
            while server.endpoint_stats().handshakes_in_progress > 0 {
                sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        let eps = server.endpoint_stats();
        assert_eq!(eps.inbound_handshake_failures, 4, "{eps:?}");
    });
}
