//! Frames over `max_msg_bytes` are refused by the receiver too: the stream is stopped with an
//! error code as soon as the length prefix is read, the refusal is counted, nothing is
//! delivered, and the connection carries on.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use reef_net::{certs, Inbound, Transport};

const STOP_TOO_LARGE: u32 = 0x10;

#[test]
fn a_peer_claiming_a_huge_frame_is_stopped_at_the_header() {
    let dir = cluster(2);
    run(async move {
        let server = bind(dir.path(), 2);
        let ep = raw_endpoint();
        let conn = ep
            .connect_with(
                raw_client(&identity(dir.path(), 1)),
                server.local_addr(),
                &certs::node_dns_name(2),
            )
            .unwrap()
            .await
            .unwrap();
        // Kind byte, then a header claiming 4 GiB - 1, then a little of the "body". The
        // receiver must refuse at the header without waiting for (or allocating) the rest.
        let mut s = conn.open_uni().await.unwrap();
        s.write_all(&[1]).await.unwrap();
        s.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
        s.write_all(&[0u8; 1000]).await.unwrap();
        let code = within(Duration::from_secs(5), "stop", s.stopped())
            .await
            .unwrap();
        assert_eq!(code, Some(quinn::VarInt::from_u32(STOP_TOO_LARGE)));
        assert_nothing_delivered(&server, Duration::from_millis(100)).await;
        assert_eq!(server.peer_stats(1).unwrap().oversized_refused, 1);

        // The same for a request: the stream is reset with the same code.
        let (mut send, mut recv) = conn.open_bi().await.unwrap();
        send.write_all(&(17u32 << 20).to_be_bytes()).await.unwrap();
        let err = within(Duration::from_secs(5), "reset", recv.read_to_end(10))
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains(&STOP_TOO_LARGE.to_string()),
            "{err}"
        );
        assert_eq!(server.peer_stats(1).unwrap().oversized_refused, 2);

        // The connection is still good for well-formed frames.
        let mut s = conn.open_uni().await.unwrap();
        s.write_all(&[1, 0, 0, 0, 2, b'o', b'k']).await.unwrap();
        let (from, bytes) = within(Duration::from_secs(5), "frame", recv_frame(&server)).await;
        assert_eq!((from, &bytes[..]), (1, &b"ok"[..]));
    });
}

#[test]
fn a_receiver_with_a_smaller_limit_refuses_and_the_stream_is_replaced() {
    let dir = cluster(2);
    run(async move {
        let a = bind(dir.path(), 1);
        let mut cfg = config(dir.path(), 2);
        cfg.max_msg_bytes = 4096;
        cfg.queue_bytes = 1 << 20;
        cfg.inbox_bytes = 1 << 20;
        let b = Transport::bind(cfg).unwrap();
        mesh(&[&a, &b]);
        a.send(2, Bytes::from_static(b"before")).unwrap();
        let (_, first) = within(Duration::from_secs(5), "first", recv_frame(&b)).await;
        assert_eq!(&first[..], b"before");
        // Within a's limit, over b's.
        a.send(2, Bytes::from(vec![7u8; 64 * 1024])).unwrap();
        within(Duration::from_secs(5), "refusal counted", async {
            while b.peer_stats(1).unwrap().oversized_refused == 0 {
                sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        // a notices the stop, opens a new frame stream, and later frames flow again.
        within(Duration::from_secs(5), "after", async {
            loop {
                let _ = a.send(2, Bytes::from_static(b"after"));
                match futures_lite::future::or(async { b.recv().await }, async {
                    sleep(Duration::from_millis(20)).await;
                    None
                })
                .await
                {
                    Some(Inbound::Frame { bytes, .. }) => {
                        assert_eq!(&bytes[..], b"after");
                        break;
                    }
                    Some(other) => panic!("{other:?}"),
                    None => {}
                }
            }
        })
        .await;
        assert!(a.peer_stats(2).unwrap().connected);
    });
}
