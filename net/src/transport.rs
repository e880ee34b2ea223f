//! The transport: one QUIC endpoint on this shard, an address book of peers, and the API the
//! Raft driver uses (send, recv, snapshots, requests, stats).
//!
//! `Transport` is a cheap `Clone` handle (an `Rc`), usable from any task of the shard that
//! bound it and from no other thread. Dropping the last handle shuts the endpoint down.

use std::{
    cell::RefCell, collections::HashMap, net::SocketAddr, os::fd::AsRawFd, rc::Rc, time::Duration,
};

use bytes::Bytes;

use crate::{
    config::NetConfig,
    error::{NetError, SendError},
    inbound::{self, Inbound},
    link::{self, Link},
    queue::BoundedQueue,
    request,
    runtime::GlommioRuntime,
    snapshot::SnapshotSender,
    stats::{Counters, EndpointCounters, EndpointStats, PeerStats},
    tls::TlsIdentity,
    wire,
};

/// Kernel socket buffers asked for (best effort; the kernel caps them at rmem_max/wmem_max).
/// Bursts of a fast sender land here while the shard is busy elsewhere.
const SOCKET_BUFFER: usize = 4 << 20;

pub(crate) struct Shared {
    pub node_id: u64,
    pub max_msg_bytes: usize,
    queue_msgs: usize,
    queue_bytes: usize,
    timers: link::LinkTimers,
    pub endpoint: quinn::Endpoint,
    /// Replaced on certificate reload; dials clone it.
    pub client_config: RefCell<quinn::ClientConfig>,
    transport_config: std::sync::Arc<quinn::TransportConfig>,
    pub max_incoming: usize,
    peers: RefCell<HashMap<u64, Rc<Link>>>,
    counters: RefCell<HashMap<u64, Rc<Counters>>>,
    pub inbox: Rc<BoundedQueue<Inbound>>,
    pub endpoint_counters: EndpointCounters,
}

impl Shared {
    pub(crate) fn counters_for(&self, peer: u64) -> Rc<Counters> {
        self.counters.borrow_mut().entry(peer).or_default().clone()
    }

    fn shutdown(&self) {
        self.endpoint.close(wire::CLOSE_SHUTDOWN, b"shutdown");
        self.inbox.close();
        for link in self.peers.borrow().values() {
            link.remove();
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// ReefDB's peer transport on one glommio shard.
#[derive(Clone)]
pub struct Transport {
    inner: Rc<Shared>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("node_id", &self.inner.node_id)
            .field("local_addr", &self.local_addr())
            .finish_non_exhaustive()
    }
}

impl Transport {
    /// Binds the UDP socket and starts accepting peers. Call it on the glommio executor that
    /// will own the transport; every task and quinn object it makes stays there.
    pub fn bind(cfg: NetConfig) -> Result<Transport, NetError> {
        cfg.validate()?;
        let bind_err = |source| NetError::Bind {
            addr: cfg.listen_addr,
            source,
        };
        let socket = std::net::UdpSocket::bind(cfg.listen_addr).map_err(bind_err)?;
        set_buffer(&socket, libc::SO_RCVBUF);
        set_buffer(&socket, libc::SO_SNDBUF);
        let runtime = GlommioRuntime::new();
        let udp = runtime.wrap(socket).map_err(bind_err)?;

        let transport_config = cfg.transport_config();
        let server = server_config(&cfg.tls, &transport_config, cfg.max_incoming)?;
        let client = client_config(&cfg.tls, &transport_config)?;
        let endpoint = quinn::Endpoint::new_with_abstract_socket(
            cfg.tls.endpoint_config(),
            Some(server),
            udp,
            runtime,
        )
        .map_err(bind_err)?;

        let inner = Rc::new(Shared {
            node_id: cfg.node_id,
            max_msg_bytes: cfg.max_msg_bytes,
            queue_msgs: cfg.queue_msgs,
            queue_bytes: cfg.queue_bytes,
            timers: link::LinkTimers {
                backoff_base: cfg.backoff_base,
                backoff_cap: cfg.backoff_cap,
                accept_timeout: cfg.idle_timeout,
            },
            endpoint: endpoint.clone(),
            client_config: RefCell::new(client),
            transport_config,
            max_incoming: cfg.max_incoming,
            peers: RefCell::new(HashMap::new()),
            counters: RefCell::new(HashMap::new()),
            inbox: Rc::new(BoundedQueue::new(cfg.inbox_msgs, cfg.inbox_bytes)),
            endpoint_counters: EndpointCounters::default(),
        });
        glommio::spawn_local(inbound::accept_loop(endpoint, Rc::downgrade(&inner))).detach();
        Ok(Transport { inner })
    }

    pub fn node_id(&self) -> u64 {
        self.inner.node_id
    }

    /// The bound UDP address (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.inner
            .endpoint
            .local_addr()
            .expect("a bound UDP socket has an address")
    }

    /// Adds a peer or changes its address (an open connection to the old address is closed).
    pub fn set_peer(&self, id: u64, addr: SocketAddr) {
        let s = &self.inner;
        if let Some(link) = s.peers.borrow().get(&id) {
            link.set_addr(addr);
            return;
        }
        let link = Rc::new(Link::new(
            id,
            addr,
            s.queue_msgs,
            s.queue_bytes,
            s.max_msg_bytes,
            s.counters_for(id),
        ));
        s.peers.borrow_mut().insert(id, link.clone());
        glommio::spawn_local(link::run(link, Rc::downgrade(s), s.timers)).detach();
    }

    /// Forgets a peer: closes our connection to it, drops its queue and its counters.
    pub fn remove_peer(&self, id: u64) {
        if let Some(link) = self.inner.peers.borrow_mut().remove(&id) {
            link.remove();
        }
        self.inner.counters.borrow_mut().remove(&id);
    }

    /// The address book.
    pub fn peers(&self) -> Vec<(u64, SocketAddr)> {
        let mut v: Vec<_> = self
            .inner
            .peers
            .borrow()
            .values()
            .map(|l| (l.id, l.addr()))
            .collect();
        v.sort_unstable();
        v
    }

    fn link(&self, peer: u64) -> Result<Rc<Link>, SendError> {
        self.inner
            .peers
            .borrow()
            .get(&peer)
            .cloned()
            .ok_or(SendError::UnknownPeer(peer))
    }

    /// Queues a frame for `peer` on its ordered stream. Never waits: when the peer's queue is
    /// full, or the peer is unreachable, the frame is dropped, counted, and the error says so.
    pub fn send(&self, peer: u64, bytes: Bytes) -> Result<(), SendError> {
        match self.inner.peers.borrow().get(&peer) {
            Some(link) => link.send(bytes),
            None => Err(SendError::UnknownPeer(peer)),
        }
    }

    /// Waits until `peer`'s queue has room for a frame of `len` bytes. For bulk senders that
    /// would rather wait than drop; the Raft driver never needs it.
    pub async fn wait_for_room(&self, peer: u64, len: usize) -> Result<(), SendError> {
        let link = self.link(peer)?;
        link.queue.wait_room(len).await;
        Ok(())
    }

    /// The next inbound item from any peer; `None` once the transport is closed.
    pub async fn recv(&self) -> Option<Inbound> {
        self.inner.inbox.pop().await
    }

    /// An inbound item if one is waiting.
    pub fn try_recv(&self) -> Option<Inbound> {
        self.inner.inbox.try_pop()
    }

    /// Opens a snapshot stream to `peer`, connecting first if needed.
    pub async fn send_snapshot(&self, peer: u64) -> Result<SnapshotSender, NetError> {
        let link = self.link(peer)?;
        let conn = link.connection().await?;
        SnapshotSender::open(&conn, peer, self.inner.max_msg_bytes, &link.counters).await
    }

    /// Sends a request to `peer` on its own stream and waits up to `timeout` (connecting
    /// included) for the response.
    pub async fn request(
        &self,
        peer: u64,
        bytes: Bytes,
        timeout: Duration,
    ) -> Result<Bytes, NetError> {
        let max = self.inner.max_msg_bytes;
        if bytes.len() > max {
            return Err(SendError::TooLarge {
                peer,
                len: bytes.len(),
                max,
            }
            .into());
        }
        let link = self.link(peer)?;
        let started = std::time::Instant::now();
        let conn = futures_lite::future::or(link.connection(), async {
            glommio::timer::Timer::new(timeout).await;
            Err(NetError::Timeout {
                peer,
                after: timeout,
            })
        })
        .await?;
        crate::stats::add(&link.counters.requests_sent, 1);
        let left = timeout.saturating_sub(started.elapsed());
        request::call(&conn, peer, bytes, max, left).await
    }

    /// Counters and state of every peer in the address book or heard from, by id.
    pub fn stats(&self) -> Vec<PeerStats> {
        let s = &self.inner;
        let peers = s.peers.borrow();
        let mut out: Vec<PeerStats> = s
            .counters
            .borrow()
            .iter()
            .map(|(&id, c)| {
                let mut st = PeerStats {
                    peer: id,
                    ..Default::default()
                };
                c.fill(&mut st);
                if let Some(link) = peers.get(&id) {
                    st.addr = Some(link.addr());
                    st.connected = link.is_connected();
                    st.queue_msgs = link.queue.len();
                    st.queue_bytes = link.queue.bytes();
                }
                st
            })
            .collect();
        out.sort_unstable_by_key(|st| st.peer);
        out
    }

    /// One peer's stats, if it is known.
    pub fn peer_stats(&self, peer: u64) -> Option<PeerStats> {
        self.stats().into_iter().find(|s| s.peer == peer)
    }

    /// Counters that belong to no verified peer.
    pub fn endpoint_stats(&self) -> EndpointStats {
        let c = &self.inner.endpoint_counters;
        EndpointStats {
            inbound_handshake_failures: c.inbound_handshake_failures.get(),
            bad_identity: c.bad_identity.get(),
            inbound_connections: c.inbound_connections.get(),
            handshakes_refused: c.handshakes_refused.get(),
            handshakes_in_progress: c.handshakes_in_progress.get(),
            inbox_msgs: self.inner.inbox.len(),
            inbox_bytes: self.inner.inbox.bytes(),
        }
    }

    /// Swaps in new TLS material (certificate rotation): connections made from now on use it,
    /// established ones continue. The node id must not change.
    pub fn reload_tls(&self, identity: &TlsIdentity) -> Result<(), NetError> {
        let s = &self.inner;
        if identity.node_id() != s.node_id {
            return Err(NetError::Config {
                field: "tls",
                reason: format!(
                    "certificate is for node {} but this transport is node {}",
                    identity.node_id(),
                    s.node_id
                ),
            });
        }
        let server = server_config(identity, &s.transport_config, s.max_incoming)?;
        let client = client_config(identity, &s.transport_config)?;
        s.endpoint.set_server_config(Some(server));
        *s.client_config.borrow_mut() = client;
        Ok(())
    }

    /// Closes every connection, stops all tasks, and waits until the endpoint has told its
    /// peers. Afterwards `recv` returns `None` and sends fail with `UnknownPeer`.
    ///
    /// Await this before stopping the executor: quinn's driver tasks need to run once more to
    /// let go of the UDP socket. A transport merely dropped while its executor exits leaves
    /// those tasks (and the bound port) behind until the process ends.
    pub async fn close(&self) {
        self.inner.shutdown();
        self.inner.peers.borrow_mut().clear();
        self.inner.endpoint.wait_idle().await;
    }
}

fn server_config(
    tls: &TlsIdentity,
    transport: &std::sync::Arc<quinn::TransportConfig>,
    max_incoming: usize,
) -> Result<quinn::ServerConfig, NetError> {
    let mut server = quinn::ServerConfig::with_crypto(tls.quic_server()?);
    server
        .transport_config(transport.clone())
        .max_incoming(max_incoming)
        // Data a not-yet-accepted connection may buffer; peers send little before the
        // handshake completes, so keep half-open connections cheap.
        .incoming_buffer_size(64 * 1024)
        .incoming_buffer_size_total(16 << 20);
    Ok(server)
}

fn client_config(
    tls: &TlsIdentity,
    transport: &std::sync::Arc<quinn::TransportConfig>,
) -> Result<quinn::ClientConfig, NetError> {
    let mut client = quinn::ClientConfig::new(tls.quic_client()?);
    client.transport_config(transport.clone());
    Ok(client)
}

fn set_buffer(socket: &std::net::UdpSocket, opt: libc::c_int) {
    let size = SOCKET_BUFFER as libc::c_int;
    // SAFETY: plain setsockopt on a valid fd with a correctly sized int argument.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            opt,
            &size as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        tracing::debug!(opt, error = %std::io::Error::last_os_error(), "socket buffer not resized");
    }
}
