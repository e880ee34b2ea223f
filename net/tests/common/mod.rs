//! Helpers shared by the integration tests: certificates, configs, executors, timeouts.
#![allow(dead_code)]

use std::{future::Future, net::SocketAddr, path::Path, time::Duration};

use reef_net::{certs, NetConfig, TlsFiles, TlsIdentity, Transport};

/// A fresh cluster CA with certificates for nodes `1..=n`.
pub fn cluster(n: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let nodes: Vec<_> = (1..=n)
        .map(|id| (id, vec!["127.0.0.1".to_string()]))
        .collect();
    certs::generate_cluster(dir.path(), &nodes).unwrap();
    dir
}

pub fn identity(dir: &Path, id: u64) -> TlsIdentity {
    TlsIdentity::load(&TlsFiles::for_node(dir, id)).unwrap()
}

/// Test config: ephemeral port, short timers so failures show up within a test's budget.
pub fn config(dir: &Path, id: u64) -> NetConfig {
    let mut cfg = NetConfig::new(id, "127.0.0.1:0".parse().unwrap(), identity(dir, id));
    cfg.keepalive = Duration::from_millis(200);
    cfg.idle_timeout = Duration::from_millis(1500);
    cfg.backoff_base = Duration::from_millis(20);
    cfg.backoff_cap = Duration::from_millis(300);
    cfg
}

pub fn bind(dir: &Path, id: u64) -> Transport {
    Transport::bind(config(dir, id)).unwrap()
}

/// Runs `f` on a fresh glommio executor on this thread.
pub fn run<T>(f: impl Future<Output = T> + 'static) -> T {
    glommio::LocalExecutorBuilder::default()
        .name("reef-net-test")
        .make()
        .expect("glommio executor")
        .run(f)
}

/// Fails the test instead of hanging it.
pub async fn within<T>(limit: Duration, what: &str, f: impl Future<Output = T>) -> T {
    futures_lite::future::or(f, async {
        glommio::timer::Timer::new(limit).await;
        panic!("timed out after {limit:?}: {what}")
    })
    .await
}

pub async fn sleep(d: Duration) {
    glommio::timer::Timer::new(d).await;
}

/// Introduces every transport to every other.
pub fn mesh(ts: &[&Transport]) {
    for a in ts {
        for b in ts {
            if a.node_id() != b.node_id() {
                a.set_peer(b.node_id(), b.local_addr());
            }
        }
    }
}

pub fn addr(t: &Transport) -> SocketAddr {
    t.local_addr()
}

/// Receives the next frame, panicking on anything else.
pub async fn recv_frame(t: &Transport) -> (u64, bytes::Bytes) {
    match t.recv().await.expect("transport open") {
        reef_net::Inbound::Frame { from, bytes } => (from, bytes),
        other => panic!("expected a frame, got {other:?}"),
    }
}

/// A bare quinn endpoint on this shard's runtime, for tests that must misbehave in ways the
/// transport itself never would.
pub fn raw_endpoint() -> quinn::Endpoint {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let rt = reef_net::GlommioRuntime::new();
    let udp = rt.wrap(sock).unwrap();
    quinn::Endpoint::new_with_abstract_socket(quinn::EndpointConfig::default(), None, udp, rt)
        .unwrap()
}

/// quinn client config presenting `identity` (which may be deliberately wrong).
pub fn raw_client(identity: &TlsIdentity) -> quinn::ClientConfig {
    quinn::ClientConfig::new(identity.quic_client().unwrap())
}

/// Waits `quiet` and asserts nothing arrived.
pub async fn assert_nothing_delivered(t: &Transport, quiet: Duration) {
    let got = futures_lite::future::or(async { t.recv().await.map(|i| format!("{i:?}")) }, async {
        sleep(quiet).await;
        None
    })
    .await;
    assert_eq!(got, None, "something was delivered");
}
