//! Snapshot streams: a 64 MiB transfer runs while small frames keep flowing (their latency
//! during the transfer is measured and printed), aborts are seen as errors, never as short
//! snapshots.

mod common;

use std::{
    cell::RefCell,
    rc::Rc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use common::*;
use reef_net::Inbound;

const MIB: usize = 1 << 20;

#[test]
fn a_64_mib_snapshot_streams_while_small_frames_keep_flowing() {
    let dir = cluster(2);
    run(async move {
        let a = bind(dir.path(), 1);
        let b = bind(dir.path(), 2);
        mesh(&[&a, &b]);
        let t0 = Instant::now();
        const CHUNKS: usize = 64;

        // Receiver: frames are timed; the snapshot is read in its own task and checked.
        let latencies = Rc::new(RefCell::new(
            hdrhistogram::Histogram::<u64>::new(3).unwrap(),
        ));
        let snapshot_done = Rc::new(std::cell::Cell::new(false));
        let receiver = {
            let (b, latencies, done) = (b.clone(), latencies.clone(), snapshot_done.clone());
            glommio::spawn_local(async move {
                let mut frames = 0u64;
                let mut reader = None;
                while let Some(item) = b.recv().await {
                    match item {
                        Inbound::Frame { from: 1, bytes } if bytes.len() == 16 => {
                            let sent = u64::from_be_bytes(bytes[..8].try_into().unwrap());
                            let seq = u64::from_be_bytes(bytes[8..].try_into().unwrap());
                            assert_eq!(seq, frames, "frame order");
                            frames += 1;
                            let now = t0.elapsed().as_nanos() as u64;
                            if !done.get() {
                                latencies.borrow_mut().record((now - sent) / 1000).unwrap();
                            }
                        }
                        Inbound::Frame { bytes, .. } if &bytes[..] == b"end" => break,
                        Inbound::Snapshot {
                            from: 1,
                            mut stream,
                        } => {
                            let done = done.clone();
                            reader = Some(glommio::spawn_local(async move {
                                let mut n = 0usize;
                                let mut expect = vec![0u8; MIB];
                                while let Some(chunk) = stream.next().await {
                                    let chunk = chunk.unwrap();
                                    assert_eq!(chunk.len(), MIB);
                                    expect.fill(n as u8);
                                    assert!(chunk[..] == expect[..], "chunk {n}");
                                    n += 1;
                                }
                                done.set(true);
                                n
                            }));
                        }
                        other => panic!("unexpected {other:?}"),
                    }
                }
                (frames, reader.expect("snapshot offered").await)
            })
        };

        // Sender: the snapshot in one task, a small frame every millisecond in another.
        let snap = {
            let a = a.clone();
            glommio::spawn_local(async move {
                let started = Instant::now();
                let mut s = a.send_snapshot(2).await.unwrap();
                for i in 0..CHUNKS {
                    s.send_chunk(Bytes::from(vec![i as u8; MIB])).await.unwrap();
                }
                s.finish().await.unwrap();
                started.elapsed()
            })
        };
        let ticker = {
            let a = a.clone();
            glommio::spawn_local(async move {
                let mut seq = 0u64;
                let mut refused = 0;
                loop {
                    let mut f = (t0.elapsed().as_nanos() as u64).to_be_bytes().to_vec();
                    f.extend_from_slice(&seq.to_be_bytes());
                    match a.send(2, Bytes::from(f)) {
                        Ok(()) => seq += 1,
                        Err(_) => refused += 1,
                    }
                    sleep(Duration::from_millis(1)).await;
                    if STOP.with(|s| s.get()) {
                        break (seq, refused);
                    }
                }
            })
        };
        let took = within(Duration::from_secs(60), "snapshot", snap).await;
        STOP.with(|s| s.set(true));
        let (sent, refused) = ticker.await;
        a.send(2, Bytes::from_static(b"end")).unwrap();
        let (frames, chunks) = within(Duration::from_secs(10), "receiver", receiver).await;
        assert_eq!(chunks, CHUNKS);
        assert_eq!(refused, 0, "no small frame was refused during the transfer");
        assert_eq!(frames, sent, "every small frame arrived");
        let h = latencies.borrow();
        println!(
            "64 MiB snapshot in {took:?} ({:.0} MiB/s); {} small frames during it: p50 {} us, p99 {} us, max {} us",
            64.0 / took.as_secs_f64(),
            h.len(),
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99),
            h.max()
        );
        assert!(!h.is_empty(), "frames were measured during the transfer");
    });
}

thread_local! {
    static STOP: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

#[test]
fn an_abandoned_snapshot_is_an_error_not_a_short_snapshot() {
    let dir = cluster(2);
    run(async move {
        let a = bind(dir.path(), 1);
        let b = bind(dir.path(), 2);
        mesh(&[&a, &b]);
        let mut s = a.send_snapshot(2).await.unwrap();
        s.send_chunk(Bytes::from_static(b"part one")).await.unwrap();
        let Some(Inbound::Snapshot { from, mut stream }) =
            within(Duration::from_secs(5), "offer", b.recv()).await
        else {
            panic!("expected a snapshot")
        };
        assert_eq!(from, 1);
        assert_eq!(&stream.next().await.unwrap().unwrap()[..], b"part one");
        drop(s);
        let end = within(Duration::from_secs(5), "abort", stream.next()).await;
        assert!(matches!(end, Some(Err(_))), "{end:?}");
        assert!(stream.next().await.is_none());

        // The receiver giving up stops the sender.
        let mut s = a.send_snapshot(2).await.unwrap();
        s.send_chunk(Bytes::from_static(b"x")).await.unwrap();
        let Some(Inbound::Snapshot { stream, .. }) = b.recv().await else {
            panic!()
        };
        drop(stream);
        let err = within(Duration::from_secs(5), "stopped", async {
            loop {
                if let Err(e) = s.send_chunk(Bytes::from(vec![0; 64 * 1024])).await {
                    return e;
                }
            }
        })
        .await;
        assert!(err.to_string().contains("stopped"), "{err}");
        assert_eq!(a.peer_stats(2).unwrap().snapshots_sent, 2);
        assert_eq!(b.peer_stats(1).unwrap().snapshots_received, 2);
    });
}
