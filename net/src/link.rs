//! The outbound side of one peer: its bounded frame queue, its connection, and the writer task
//! that dials, reconnects with backoff, and pumps queued frames onto the ordered stream.
//!
//! Each node dials its own connection to each peer it sends to and carries everything it
//! initiates on it (frames, snapshots, requests); what a peer initiates arrives on the
//! connection that peer dialled. A pair of nodes therefore shares two connections, one per
//! direction. This avoids the simultaneous-open race of a single shared connection (both sides
//! dial at once, one connection must be torn down, frames on it are lost or reordered) at the
//! cost of one extra handshake per pair.
//!
//! States: `Idle` (no connection; the next frame or request dials), `Connecting`, `Connected`,
//! and `Backoff` after a failed attempt, during which `send` refuses frames as `Unreachable` so
//! the Raft driver stops queueing to a dead peer.

use std::{
    cell::{Cell, RefCell},
    net::SocketAddr,
    pin::pin,
    rc::{Rc, Weak},
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures_lite::future;

use crate::{
    backoff::Backoff,
    certs::node_dns_name,
    error::{NetError, SendError},
    event::Event,
    frame,
    queue::BoundedQueue,
    stats::{add, Counters},
    tls,
    transport::Shared,
    wire,
};

/// Bytes of queued frames written to the stream in one go.
const BATCH_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, Copy)]
pub(crate) struct LinkTimers {
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// How long a server may take to confirm it accepted our certificate.
    pub accept_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkState {
    Idle,
    Connecting,
    Connected,
    Backoff,
}

pub(crate) struct Link {
    pub id: u64,
    addr: Cell<SocketAddr>,
    pub queue: BoundedQueue<Bytes>,
    state: Cell<LinkState>,
    conn: RefCell<Option<quinn::Connection>>,
    /// Notified when `state` or `conn` changes.
    changed: Event,
    /// Notified when someone needs a connection (or on removal).
    kick: Event,
    demand: Cell<bool>,
    removed: Cell<bool>,
    ever_connected: Cell<bool>,
    max_msg_bytes: usize,
    pub counters: Rc<Counters>,
}

impl Link {
    pub(crate) fn new(
        id: u64,
        addr: SocketAddr,
        queue_msgs: usize,
        queue_bytes: usize,
        max_msg_bytes: usize,
        counters: Rc<Counters>,
    ) -> Self {
        Self {
            id,
            addr: Cell::new(addr),
            queue: BoundedQueue::new(queue_msgs, queue_bytes),
            state: Cell::new(LinkState::Idle),
            conn: RefCell::new(None),
            changed: Event::default(),
            kick: Event::default(),
            demand: Cell::new(false),
            removed: Cell::new(false),
            ever_connected: Cell::new(false),
            max_msg_bytes,
            counters,
        }
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr.get()
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.state.get() == LinkState::Connected
    }

    /// Points the link at a new address; a connection to the old one is closed.
    pub(crate) fn set_addr(&self, addr: SocketAddr) {
        if self.addr.replace(addr) != addr {
            if let Some(c) = self.conn.borrow().as_ref() {
                c.close(wire::CLOSE_READDRESSED, b"peer address changed");
            }
        }
    }

    fn set_state(&self, s: LinkState) {
        self.state.set(s);
        self.changed.notify();
    }

    fn want_connection(&self) {
        self.demand.set(true);
        self.kick.notify();
    }

    /// Queues a frame without waiting.
    pub(crate) fn send(&self, bytes: Bytes) -> Result<(), SendError> {
        let len = bytes.len();
        if len > self.max_msg_bytes {
            add(&self.counters.drops, 1);
            return Err(SendError::TooLarge {
                peer: self.id,
                len,
                max: self.max_msg_bytes,
            });
        }
        if self.state.get() == LinkState::Backoff {
            add(&self.counters.drops, 1);
            self.want_connection();
            return Err(SendError::Unreachable { peer: self.id });
        }
        self.queue.try_push(bytes, len).map_err(|_| {
            add(&self.counters.drops, 1);
            SendError::Full {
                peer: self.id,
                msgs: self.queue.len(),
                bytes: self.queue.bytes(),
            }
        })
    }

    /// The established connection, dialling if there is none. Fails at once while the link is
    /// backing off after a failed attempt.
    pub(crate) async fn connection(&self) -> Result<quinn::Connection, NetError> {
        loop {
            let changed = self.changed.listen();
            if self.removed.get() {
                return Err(SendError::UnknownPeer(self.id).into());
            }
            if let Some(c) = self.conn.borrow().as_ref() {
                if c.close_reason().is_none() {
                    return Ok(c.clone());
                }
            }
            if self.state.get() == LinkState::Backoff {
                return Err(NetError::Unreachable {
                    peer: self.id,
                    reason: "reconnecting with backoff after a failed attempt".into(),
                });
            }
            self.want_connection();
            changed.await;
        }
    }

    /// Stops the link for good: the writer exits, queued frames are dropped.
    pub(crate) fn remove(&self) {
        self.removed.set(true);
        self.queue.close();
        self.queue.clear();
        if let Some(c) = self.conn.borrow_mut().take() {
            c.close(wire::CLOSE_REMOVED, b"peer removed");
        }
        self.kick.notify();
        self.changed.notify();
    }
}

/// The writer task of one link; runs until the link is removed or the transport dropped.
pub(crate) async fn run(link: Rc<Link>, shared: Weak<Shared>, timers: LinkTimers) {
    let mut backoff = Backoff::new(timers.backoff_base, timers.backoff_cap);
    loop {
        // Opened lazily: wait until there is something to send or a connection is wanted.
        loop {
            let kicked = link.kick.listen();
            if link.removed.get() {
                return;
            }
            if !link.queue.is_empty() || link.demand.get() {
                break;
            }
            future::or(kicked, link.queue.wait_nonempty()).await;
        }
        link.demand.set(false);
        link.set_state(LinkState::Connecting);
        let dialled = match shared.upgrade() {
            Some(s) => dial(&s, &link),
            None => return,
        };
        let failure = match dialled {
            Err(e) => Some(e),
            Ok(connecting) => match connecting.await {
                Err(e) => Some(e.into()),
                Ok(conn) => match check_identity(&link, conn) {
                    Err(e) => Some(e),
                    Ok(conn) => match accepted(&conn, timers.accept_timeout).await {
                        Err(e) => Some(e),
                        Ok(()) => connected(&link, conn).await,
                    },
                },
            },
        };
        if link.removed.get() {
            return;
        }
        let Some(failure) = failure else {
            backoff.reset();
            link.set_state(LinkState::Idle);
            continue;
        };
        add(&link.counters.connect_failures, 1);
        if failure.auth {
            add(&link.counters.handshake_failures, 1);
        }
        let dropped = link.queue.clear();
        add(&link.counters.drops, dropped as u64);
        let delay = backoff.next_delay();
        tracing::debug!(peer = link.id, addr = %link.addr(), reason = %failure.reason, ?delay,
            "connection attempt failed");
        link.set_state(LinkState::Backoff);
        let removed = async {
            loop {
                let kicked = link.kick.listen();
                if link.removed.get() {
                    return;
                }
                kicked.await;
            }
        };
        future::or(
            async {
                glommio::timer::Timer::new(delay).await;
            },
            removed,
        )
        .await;
        if link.removed.get() {
            return;
        }
        link.set_state(LinkState::Idle);
    }
}

struct Failure {
    auth: bool,
    reason: String,
}

fn dial(shared: &Shared, link: &Link) -> Result<quinn::Connecting, Failure> {
    let cfg = shared.client_config.borrow().clone();
    shared
        .endpoint
        .connect_with(cfg, link.addr(), &node_dns_name(link.id))
        .map_err(|e| Failure {
            auth: false,
            reason: e.to_string(),
        })
}

impl From<quinn::ConnectionError> for Failure {
    fn from(e: quinn::ConnectionError) -> Self {
        Failure {
            auth: wire::is_auth_failure(&e),
            reason: e.to_string(),
        }
    }
}

/// The server name check already pinned the id; this refuses certificates naming several.
fn check_identity(link: &Link, conn: quinn::Connection) -> Result<quinn::Connection, Failure> {
    match tls::connection_peer_id(&conn) {
        Ok(id) if id == link.id => Ok(conn),
        Ok(id) => {
            conn.close(wire::CLOSE_BAD_IDENTITY, b"unexpected node id");
            Err(Failure {
                auth: true,
                reason: format!("dialled node {} but reached node {id}", link.id),
            })
        }
        Err(reason) => {
            conn.close(wire::CLOSE_BAD_IDENTITY, b"bad identity");
            Err(Failure { auth: true, reason })
        }
    }
}

/// Waits for the server's word that it accepted our certificate.
async fn accepted(conn: &quinn::Connection, timeout: Duration) -> Result<(), Failure> {
    let first = future::or(async { conn.accept_uni().await.map(Some) }, async {
        glommio::timer::Timer::new(timeout).await;
        Ok(None)
    });
    let Some(mut recv) = first.await? else {
        conn.close(wire::CLOSE_SHUTDOWN, b"not accepted in time");
        return Err(Failure {
            auth: false,
            reason: format!("server did not accept us within {timeout:?}"),
        });
    };
    let mut kind = [0u8; 1];
    match recv.read_exact(&mut kind).await {
        Ok(()) if kind[0] == wire::KIND_ACCEPTED => Ok(()),
        Ok(()) => Err(Failure {
            auth: false,
            reason: format!("unexpected stream kind {} from server", kind[0]),
        }),
        Err(e) => Err(match conn.close_reason() {
            Some(e) => e.into(),
            None => Failure {
                auth: false,
                reason: e.to_string(),
            },
        }),
    }
}

/// Runs an established connection until it ends. `Some` if it ended as an authentication
/// failure, which must back off like a failed dial.
async fn connected(link: &Link, conn: quinn::Connection) -> Option<Failure> {
    if link.ever_connected.replace(true) {
        add(&link.counters.reconnects, 1);
    }
    *link.conn.borrow_mut() = Some(conn.clone());
    link.set_state(LinkState::Connected);
    let started = Instant::now();
    let reason = pump(link, &conn).await;
    link.conn.borrow_mut().take();
    let error = conn.close_reason();
    tracing::debug!(peer = link.id, %reason, up = ?started.elapsed(), "connection ended");
    match error {
        Some(e) if wire::is_auth_failure(&e) => Some(e.into()),
        _ => None,
    }
}

/// Writes queued frames onto the connection's ordered frame stream until the connection ends
/// or the link is removed; returns why.
async fn pump(link: &Link, conn: &quinn::Connection) -> String {
    let mut closed = pin!(conn.closed());
    let mut batch = Vec::new();
    let mut chunks = Vec::new();
    loop {
        let mut send = match conn.open_uni().await {
            Ok(s) => s,
            Err(e) => return e.to_string(),
        };
        let _ = send.set_priority(wire::PRIORITY_FRAMES);
        if let Err(e) = send.write_all(&[wire::KIND_FRAMES]).await {
            return e.to_string();
        }
        loop {
            let next = future::or(
                async { Some(link.queue.pop_batch(&mut batch, BATCH_BYTES).await) },
                async {
                    (&mut closed).await;
                    None
                },
            )
            .await;
            match next {
                None => {
                    return conn
                        .close_reason()
                        .map_or_else(|| "closed".into(), |e| e.to_string())
                }
                Some(false) => return "link removed".into(),
                Some(true) => {}
            }
            let frames = batch.len() as u64;
            let bytes: usize = batch.iter().map(Bytes::len).sum();
            frame::encode_batch(&batch, &mut chunks);
            batch.clear();
            let written = send.write_all_chunks(&mut chunks).await;
            chunks.clear();
            match written {
                Ok(()) => {
                    add(&link.counters.frames_sent, frames);
                    add(&link.counters.bytes_sent, bytes as u64);
                }
                Err(quinn::WriteError::Stopped(code)) => {
                    // The peer refused this stream (say, a frame over its limit); the
                    // connection is fine, so carry on with a fresh stream.
                    add(&link.counters.drops, frames);
                    tracing::warn!(peer = link.id, %code, "peer stopped the frame stream");
                    break;
                }
                Err(e) => {
                    add(&link.counters.drops, frames);
                    return e.to_string();
                }
            }
        }
    }
}
