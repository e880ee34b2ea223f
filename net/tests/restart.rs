//! A peer that goes away and comes back on the same address (a restarted process) is
//! reconnected to, with backoff while it is down, and frames flow again.

mod common;

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use bytes::Bytes;
use common::*;
use reef_net::{SendError, Transport};

/// Node 2 on its own thread and executor, like a separate process: it binds `addr`, reports
/// where it listens, and receives frames until one says "stop", then shuts down. A "freeze"
/// frame stops the whole thread for 2.5 s (a paused process: no packets answered, longer than
/// the 1.5 s idle timeout). Returns how many frames it got.
fn spawn_node2(dir: PathBuf, addr: SocketAddr, tx: mpsc::Sender<Event>) -> thread::JoinHandle<u64> {
    thread::spawn(move || {
        run(async move {
            let mut cfg = config(&dir, 2);
            cfg.listen_addr = addr;
            let t = Transport::bind(cfg).unwrap();
            tx.send(Event::Listening(t.local_addr())).unwrap();
            let mut got = 0;
            let mut heard = false;
            loop {
                let (from, bytes) = recv_frame(&t).await;
                assert_eq!(from, 1);
                match &bytes[..] {
                    b"stop" => break,
                    b"freeze" => {
                        thread::sleep(Duration::from_millis(2500));
                        tx.send(Event::Woke).unwrap();
                        heard = false;
                        continue;
                    }
                    _ => {}
                }
                if !heard {
                    tx.send(Event::FirstFrame).unwrap();
                    heard = true;
                }
                got += 1;
            }
            // A clean stop: quinn's drivers must run to release the socket before the
            // executor goes away (see `Transport::close`).
            t.close().await;
            got
        })
    })
}

#[derive(Debug, PartialEq)]
enum Event {
    Listening(SocketAddr),
    FirstFrame,
    Woke,
}

async fn next_event(rx: &mpsc::Receiver<Event>, limit: Duration, what: &str) -> Event {
    let until = Instant::now() + limit;
    loop {
        if let Ok(e) = rx.try_recv() {
            return e;
        }
        assert!(Instant::now() < until, "timed out waiting for {what}");
        sleep(Duration::from_millis(5)).await;
    }
}

async fn join(h: thread::JoinHandle<u64>) -> u64 {
    while !h.is_finished() {
        sleep(Duration::from_millis(5)).await;
    }
    h.join().unwrap()
}

/// Sends numbered frames until node 2 reports one arrived; tolerates refusals meanwhile.
async fn send_until_heard(a: &Transport, rx: &mpsc::Receiver<Event>) -> u64 {
    let until = Instant::now() + Duration::from_secs(15);
    let mut refused = 0;
    loop {
        match a.send(2, Bytes::from_static(b"hello")) {
            Ok(()) => {}
            Err(SendError::Unreachable { .. } | SendError::Full { .. }) => refused += 1,
            Err(e) => panic!("{e}"),
        }
        match rx.try_recv() {
            Ok(Event::FirstFrame) => return refused,
            Ok(Event::Woke) | Err(_) => {}
            Ok(e) => panic!("{e:?}"),
        }
        assert!(Instant::now() < until, "node 2 never heard from node 1");
        sleep(Duration::from_millis(10)).await;
    }
}

#[test]
fn a_restarted_peer_is_reconnected() {
    let dir = cluster(2);
    run(async move {
        let a = bind(dir.path(), 1);
        let (tx, rx) = mpsc::channel();
        let first = spawn_node2(dir.path().to_path_buf(), "127.0.0.1:0".parse().unwrap(), tx);
        let Event::Listening(addr) = next_event(&rx, Duration::from_secs(5), "bind").await else {
            panic!()
        };
        a.set_peer(2, addr);
        send_until_heard(&a, &rx).await;

        // Paused longer than the idle timeout: the connection is declared dead and redialled.
        a.send(2, Bytes::from_static(b"freeze")).unwrap();
        sleep(Duration::from_millis(100)).await;
        send_until_heard(&a, &rx).await;
        let st = a.peer_stats(2).unwrap();
        assert!(st.reconnects >= 1, "{st:?}");

        within(Duration::from_secs(5), "stop", async {
            while a.send(2, Bytes::from_static(b"stop")).is_err() {
                sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(join(first).await >= 1);

        // Down: sends are eventually refused as unreachable, with backoff between attempts.
        within(Duration::from_secs(10), "notice the peer is gone", async {
            while !matches!(
                a.send(2, Bytes::from_static(b"x")),
                Err(SendError::Unreachable { .. })
            ) {
                sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(!a.peer_stats(2).unwrap().connected);

        // Back on the same address.
        let (tx, rx) = mpsc::channel();
        let second = spawn_node2(dir.path().to_path_buf(), addr, tx);
        assert_eq!(
            next_event(&rx, Duration::from_secs(5), "rebind").await,
            Event::Listening(addr)
        );
        send_until_heard(&a, &rx).await;
        within(Duration::from_secs(5), "stop", async {
            while a.send(2, Bytes::from_static(b"stop")).is_err() {
                sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(join(second).await >= 1);
        let st = a.peer_stats(2).unwrap();
        println!("{st:?}");
        assert!(st.reconnects >= 2, "{st:?}");
        assert!(st.connect_failures >= 1, "{st:?}");
        assert!(st.drops >= 1, "{st:?}");
    });
}
