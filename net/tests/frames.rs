//! Frames between real endpoints on 127.0.0.1: both ways, in order, among three nodes.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;

#[test]
fn two_endpoints_exchange_frames_both_ways_in_order() {
    let dir = cluster(2);
    run(async move {
        let a = bind(dir.path(), 1);
        let b = bind(dir.path(), 2);
        mesh(&[&a, &b]);
        const N: u32 = 2000;
        within(Duration::from_secs(20), "exchange", async {
            let mut sent_a = 0;
            let mut sent_b = 0;
            let (mut got_a, mut got_b) = (0u32, 0u32);
            while got_a < N || got_b < N {
                // Keep both queues fed without overrunning them.
                while sent_a < N
                    && a.send(2, Bytes::from(sent_a.to_be_bytes().to_vec()))
                        .is_ok()
                {
                    sent_a += 1;
                }
                while sent_b < N
                    && b.send(1, Bytes::from(sent_b.to_be_bytes().to_vec()))
                        .is_ok()
                {
                    sent_b += 1;
                }
                while let Some(item) = b.try_recv() {
                    let reef_net::Inbound::Frame { from, bytes } = item else {
                        panic!()
                    };
                    assert_eq!(from, 1);
                    assert_eq!(
                        u32::from_be_bytes(bytes[..].try_into().unwrap()),
                        got_b,
                        "order"
                    );
                    got_b += 1;
                }
                while let Some(item) = a.try_recv() {
                    let reef_net::Inbound::Frame { from, bytes } = item else {
                        panic!()
                    };
                    assert_eq!(from, 2);
                    assert_eq!(
                        u32::from_be_bytes(bytes[..].try_into().unwrap()),
                        got_a,
                        "order"
                    );
                    got_a += 1;
                }
                sleep(Duration::from_micros(200)).await;
            }
        })
        .await;
        let sa = a.peer_stats(2).unwrap();
        let sb = b.peer_stats(1).unwrap();
        assert_eq!((sa.frames_sent, sa.frames_received), (N as u64, N as u64));
        assert_eq!((sb.frames_sent, sb.frames_received), (N as u64, N as u64));
        assert!(sa.connected && sb.connected);
        assert_eq!(sa.bytes_sent, 4 * N as u64);
    });
}

#[test]
fn three_endpoints_each_hear_every_other_in_order() {
    let dir = cluster(3);
    run(async move {
        let ts: Vec<_> = (1..=3).map(|id| bind(dir.path(), id)).collect();
        mesh(&ts.iter().collect::<Vec<_>>());
        const N: u64 = 200;
        // Each sends N numbered frames to each other node; frames name their sender inside
        // only to check `from`, which must come from the certificate.
        for t in &ts {
            for peer in 1..=3u64 {
                if peer != t.node_id() {
                    for i in 0..N {
                        let mut b = t.node_id().to_be_bytes().to_vec();
                        b.extend_from_slice(&i.to_be_bytes());
                        t.send(peer, Bytes::from(b)).unwrap();
                    }
                }
            }
        }
        within(Duration::from_secs(20), "mesh delivery", async {
            for t in &ts {
                let mut next = [0u64; 4];
                for _ in 0..2 * N {
                    let (from, bytes) = recv_frame(t).await;
                    let claimed = u64::from_be_bytes(bytes[..8].try_into().unwrap());
                    let seq = u64::from_be_bytes(bytes[8..].try_into().unwrap());
                    assert_eq!(from, claimed);
                    assert_eq!(seq, next[from as usize], "order from {from}");
                    next[from as usize] += 1;
                }
                assert!(t.try_recv().is_none());
            }
        })
        .await;
        for t in &ts {
            let stats = t.stats();
            assert_eq!(stats.len(), 2);
            for s in stats {
                assert_eq!(
                    (s.frames_sent, s.frames_received, s.drops),
                    (N, N, 0),
                    "{s:?}"
                );
            }
        }
    });
}

#[test]
fn send_refuses_unknown_peers_and_oversized_frames() {
    let dir = cluster(2);
    run(async move {
        let mut cfg = config(dir.path(), 1);
        cfg.max_msg_bytes = 1024;
        cfg.queue_bytes = 4096;
        cfg.inbox_bytes = 4096;
        let a = reef_net::Transport::bind(cfg).unwrap();
        let b = bind(dir.path(), 2);
        assert_eq!(
            a.send(2, Bytes::new()),
            Err(reef_net::SendError::UnknownPeer(2))
        );
        mesh(&[&a, &b]);
        assert_eq!(
            a.send(2, Bytes::from(vec![0; 1025])),
            Err(reef_net::SendError::TooLarge {
                peer: 2,
                len: 1025,
                max: 1024
            })
        );
        a.send(2, Bytes::from(vec![1; 1024])).unwrap();
        let (from, bytes) = within(Duration::from_secs(5), "frame", recv_frame(&b)).await;
        assert_eq!((from, bytes.len()), (1, 1024));
        let err = a
            .request(2, Bytes::from(vec![0; 2000]), Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                reef_net::NetError::Send(reef_net::SendError::TooLarge { .. })
            ),
            "{err}"
        );
        a.remove_peer(2);
        assert_eq!(
            a.send(2, Bytes::new()),
            Err(reef_net::SendError::UnknownPeer(2))
        );
        assert!(a.peer_stats(2).is_none());
    });
}
