//! A receiver that stops reading pushes back through QUIC flow control: the sender's queue
//! fills and refuses frames (counted), memory stays within the configured windows, no accepted
//! frame is lost, and flow resumes when the receiver reads again.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use reef_net::{SendError, Transport};

const KIB: usize = 1024;

fn frame(seq: u64) -> Bytes {
    let mut b = vec![0u8; KIB];
    b[..8].copy_from_slice(&seq.to_be_bytes());
    Bytes::from(b)
}

#[test]
fn a_stalled_receiver_fills_the_senders_queue_and_flow_resumes() {
    let dir = cluster(2);
    run(async move {
        let mut ca = config(dir.path(), 1);
        ca.max_msg_bytes = 4 * KIB;
        ca.queue_msgs = 64;
        ca.queue_bytes = 64 * KIB;
        ca.send_window = 64 * KIB as u64;
        let mut cb = config(dir.path(), 2);
        cb.max_msg_bytes = 4 * KIB;
        cb.inbox_msgs = 16;
        cb.inbox_bytes = 16 * KIB;
        cb.stream_receive_window = 32 * KIB as u32;
        cb.conn_receive_window = 64 * KIB as u32;
        let limits = ca.queue_bytes
            + ca.send_window as usize
            + cb.stream_receive_window as usize
            + cb.inbox_bytes;
        let a = Transport::bind(ca).unwrap();
        let b = Transport::bind(cb).unwrap();
        mesh(&[&a, &b]);

        // Phase 1: b never calls recv. a offers far more than all buffers together.
        let mut accepted = 0u64;
        let mut full = 0u64;
        let offered_until = Instant::now() + Duration::from_millis(400);
        while Instant::now() < offered_until {
            for _ in 0..64 {
                match a.send(2, frame(accepted)) {
                    Ok(()) => accepted += 1,
                    Err(SendError::Full { peer: 2, .. }) => full += 1,
                    Err(e) => panic!("{e}"),
                }
            }
            let st = a.peer_stats(2).unwrap();
            assert!(st.queue_msgs <= 64 && st.queue_bytes <= 64 * KIB, "{st:?}");
            sleep(Duration::from_millis(1)).await;
        }
        let offered = accepted + full;
        let st = a.peer_stats(2).unwrap();
        let eb = b.endpoint_stats();
        println!(
            "offered {offered} KiB, accepted {accepted}, refused {full}; a: {st:?}; b: {eb:?}"
        );
        assert!(full > 0 && st.drops == full, "{st:?}");
        assert!(eb.inbox_msgs <= 16 && eb.inbox_bytes <= 16 * KIB, "{eb:?}");
        // Everything accepted but not yet read sits in the bounded buffers (plus framing).
        let held = accepted as usize * KIB;
        assert!(
            held <= limits + accepted as usize * 4,
            "{held} bytes held beyond the {limits}-byte bound"
        );
        assert!(
            offered as usize * KIB > 4 * limits,
            "the test must overrun the buffers"
        );

        // Phase 2: b reads. Every accepted frame arrives, in order, none missing.
        within(Duration::from_secs(10), "drain", async {
            for seq in 0..accepted {
                let (_, bytes) = recv_frame(&b).await;
                assert_eq!(u64::from_be_bytes(bytes[..8].try_into().unwrap()), seq);
            }
        })
        .await;

        // Phase 3: flow has resumed; new frames get through while b keeps reading.
        within(Duration::from_secs(10), "resume", async {
            let mut next = accepted;
            let end = accepted + 500;
            let mut got = accepted;
            while got < end {
                while next < end && a.send(2, frame(next)).is_ok() {
                    next += 1;
                }
                let (_, bytes) = recv_frame(&b).await;
                assert_eq!(u64::from_be_bytes(bytes[..8].try_into().unwrap()), got);
                got += 1;
            }
        })
        .await;
        let st = a.peer_stats(2).unwrap();
        assert_eq!(st.frames_sent, accepted + 500);
        assert_eq!(b.peer_stats(1).unwrap().frames_received, accepted + 500);
    });
}
