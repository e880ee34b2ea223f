//! Forwarded requests: a round trip on its own stream, many at once, and the failure modes a
//! caller must be able to tell apart (no answer, dropped responder, unreachable peer).

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use reef_net::{Inbound, NetError};

#[test]
fn requests_get_their_own_responses_concurrently() {
    let dir = cluster(2);
    run(async move {
        let a = bind(dir.path(), 1);
        let b = bind(dir.path(), 2);
        mesh(&[&a, &b]);
        // b answers every request with its bytes reversed, and ignores frames.
        let server = {
            let b = b.clone();
            glommio::spawn_local(async move {
                let mut answered = 0;
                while let Some(item) = b.recv().await {
                    if let Inbound::Request {
                        from,
                        bytes,
                        responder,
                    } = item
                    {
                        assert_eq!(from, 1);
                        let mut v = bytes.to_vec();
                        v.reverse();
                        responder.respond(Bytes::from(v)).unwrap();
                        answered += 1;
                        if answered == 20 {
                            return answered;
                        }
                    }
                }
                answered
            })
        };
        let calls: Vec<_> = (0..20u32)
            .map(|i| {
                let a = a.clone();
                glommio::spawn_local(async move {
                    let req = Bytes::from(format!("request {i} {}", "x".repeat(i as usize * 1000)));
                    let resp = a
                        .request(2, req.clone(), Duration::from_secs(5))
                        .await
                        .unwrap();
                    let mut want = req.to_vec();
                    want.reverse();
                    assert_eq!(resp[..], want[..]);
                })
            })
            .collect();
        // Frames keep working alongside.
        a.send(2, Bytes::from_static(b"frame")).unwrap();
        within(Duration::from_secs(10), "requests", async {
            for c in calls {
                c.await;
            }
        })
        .await;
        assert_eq!(server.await, 20);
        assert_eq!(a.peer_stats(2).unwrap().requests_sent, 20);
        assert_eq!(b.peer_stats(1).unwrap().requests_received, 20);
    });
}

#[test]
fn unanswered_dropped_and_unreachable_requests_fail_distinctly() {
    let dir = cluster(3);
    run(async move {
        let a = bind(dir.path(), 1);
        let b = bind(dir.path(), 2);
        mesh(&[&a, &b]);

        // b holds the responder without answering: the caller times out.
        let holder = {
            let b = b.clone();
            glommio::spawn_local(async move {
                let Some(Inbound::Request { responder, .. }) = b.recv().await else {
                    panic!()
                };
                let Some(Inbound::Request {
                    responder: second, ..
                }) = b.recv().await
                else {
                    panic!()
                };
                drop(second); // the second is refused outright
                responder
            })
        };
        let started = Instant::now();
        let err = a
            .request(2, Bytes::from_static(b"slow"), Duration::from_millis(300))
            .await;
        assert!(
            matches!(err, Err(NetError::Timeout { peer: 2, .. })),
            "{err:?}"
        );
        assert!(started.elapsed() >= Duration::from_millis(300));
        let err = a
            .request(2, Bytes::from_static(b"dropped"), Duration::from_secs(5))
            .await;
        assert!(
            matches!(err, Err(NetError::NoResponse { peer: 2 })),
            "{err:?}"
        );
        drop(holder.await);

        // Nothing listens at node 3's address: the request fails within its timeout.
        let dead = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        a.set_peer(3, dead.local_addr().unwrap());
        drop(dead);
        let started = Instant::now();
        let err = a
            .request(
                3,
                Bytes::from_static(b"anyone?"),
                Duration::from_millis(500),
            )
            .await;
        assert!(
            matches!(
                err,
                Err(NetError::Timeout { peer: 3, .. } | NetError::Unreachable { peer: 3, .. })
            ),
            "{err:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(3));
        let err = a.request(9, Bytes::new(), Duration::from_millis(100)).await;
        assert!(
            matches!(
                err,
                Err(NetError::Send(reef_net::SendError::UnknownPeer(9)))
            ),
            "{err:?}"
        );
    });
}
