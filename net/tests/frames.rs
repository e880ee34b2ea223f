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
