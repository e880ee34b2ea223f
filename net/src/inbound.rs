//! The inbound side: accepting connections, naming the peer from its verified certificate,
//! and turning its streams into [`Inbound`] items in the bounded inbox.
//!
//! Every accepted handshake runs in its own task, so half-open handshakes only cost their own
//! (bounded, timed-out) state and never block the accept loop. Readers wait for room in the
//! inbox; while they wait they do not read, and QUIC flow control stops the sender.

use std::{
    marker::PhantomData,
    rc::{Rc, Weak},
};

use bytes::Bytes;

use crate::{
    frame::{FrameReader, ReadEnd},
    queue::BoundedQueue,
    request::Responder,
    snapshot::SnapshotReceiver,
    stats::{add, Counters},
    tls,
    transport::Shared,
    wire,
};

/// Something a peer sent. `from` is the node id in the peer's verified certificate.
///
/// Not `Send`: the streams inside belong to this shard's QUIC endpoint.
#[derive(Debug)]
pub enum Inbound {
    /// A frame from the peer's ordered frame stream.
    Frame { from: u64, bytes: Bytes },
    /// A snapshot transfer; read it to the end with `stream.next()`.
    Snapshot { from: u64, stream: SnapshotReceiver },
    /// A forwarded request; answer it with `responder.respond(..)`.
    Request {
        from: u64,
        bytes: Bytes,
        responder: Responder,
    },
}

impl Inbound {
    pub fn from(&self) -> u64 {
        match self {
            Inbound::Frame { from, .. }
            | Inbound::Snapshot { from, .. }
            | Inbound::Request { from, .. } => *from,
        }
    }
}

/// What the tasks of one inbound connection share.
pub(crate) struct PeerInbound {
    pub from: u64,
    pub inbox: Rc<BoundedQueue<Inbound>>,
    pub counters: Rc<Counters>,
    pub max_msg_bytes: usize,
    _local: PhantomData<Rc<()>>,
}

pub(crate) async fn accept_loop(endpoint: quinn::Endpoint, shared: Weak<Shared>) {
    while let Some(incoming) = endpoint.accept().await {
        let Some(s) = shared.upgrade() else {
            incoming.refuse();
            break;
        };
        // quinn's own `max_incoming` only bounds connections not yet accepted; we accept at
        // once, so bound the handshakes in progress here. Half-open handshakes then cost at
        // most this many connection states, each gone after the idle timeout.
        let c = &s.endpoint_counters;
        if c.handshakes_in_progress.get() >= s.max_incoming {
            add(&c.handshakes_refused, 1);
            incoming.refuse();
            continue;
        }
        c.handshakes_in_progress
            .set(c.handshakes_in_progress.get() + 1);
        drop(s);
        glommio::spawn_local(handshake(incoming, shared.clone())).detach();
    }
}

async fn handshake(incoming: quinn::Incoming, shared: Weak<Shared>) {
    let remote = incoming.remote_address();
    let result = incoming.await;
    if let Some(s) = shared.upgrade() {
        let c = &s.endpoint_counters.handshakes_in_progress;
        c.set(c.get() - 1);
    }
    let conn = match result {
        Ok(c) => c,
        Err(e) => {
            if let Some(s) = shared.upgrade() {
                add(&s.endpoint_counters.inbound_handshake_failures, 1);
            }
            tracing::debug!(%remote, error = %e, "inbound handshake failed");
            return;
        }
    };
    let Some(s) = shared.upgrade() else { return };
    let from = match tls::connection_peer_id(&conn) {
        Ok(id) => id,
        Err(reason) => {
            add(&s.endpoint_counters.bad_identity, 1);
            tracing::warn!(%remote, %reason, "refusing peer certificate");
            conn.close(wire::CLOSE_BAD_IDENTITY, b"certificate names no node");
            return;
        }
    };
    add(&s.endpoint_counters.inbound_connections, 1);
    let accepted = conn.clone();
    glommio::spawn_local(async move {
        if let Ok(mut s) = accepted.open_uni().await {
            if s.write_all(&[wire::KIND_ACCEPTED]).await.is_ok() {
                let _ = s.finish();
            }
        }
    })
    .detach();
    let ctx = Rc::new(PeerInbound {
        from,
        inbox: s.inbox.clone(),
        counters: s.counters_for(from),
        max_msg_bytes: s.max_msg_bytes,
        _local: PhantomData,
    });
    drop(s);
    tracing::debug!(%remote, peer = from, "peer connected");

    let requests = {
        let (conn, ctx) = (conn.clone(), ctx.clone());
        glommio::spawn_local(async move {
            while let Ok((send, recv)) = conn.accept_bi().await {
                glommio::spawn_local(crate::request::serve(ctx.clone(), send, recv)).detach();
            }
        })
    };
    while let Ok(recv) = conn.accept_uni().await {
        glommio::spawn_local(serve_uni(ctx.clone(), recv)).detach();
    }
    requests.await;
}

async fn serve_uni(ctx: Rc<PeerInbound>, mut recv: quinn::RecvStream) {
    let mut kind = [0u8; 1];
    if recv.read_exact(&mut kind).await.is_err() {
        return;
    }
    match kind[0] {
        wire::KIND_FRAMES => read_frames(&ctx, FrameReader::new(recv, ctx.max_msg_bytes)).await,
        wire::KIND_SNAPSHOT => {
            add(&ctx.counters.snapshots_received, 1);
            let stream = SnapshotReceiver::new(
                FrameReader::new(recv, ctx.max_msg_bytes),
                ctx.from,
                ctx.counters.clone(),
            );
            let _ = ctx
                .inbox
                .push(
                    Inbound::Snapshot {
                        from: ctx.from,
                        stream,
                    },
                    0,
                )
                .await;
        }
        other => {
            tracing::warn!(peer = ctx.from, kind = other, "unknown stream kind");
            let _ = recv.stop(wire::code(wire::STREAM_BAD_KIND));
        }
    }
}

async fn read_frames(ctx: &PeerInbound, mut reader: FrameReader) {
    loop {
        match reader.next().await {
            Ok(bytes) => {
                let len = bytes.len();
                let item = Inbound::Frame {
                    from: ctx.from,
                    bytes,
                };
                if ctx.inbox.push(item, len).await.is_err() {
                    reader.stop(wire::STREAM_SHUTDOWN);
                    return;
                }
                add(&ctx.counters.frames_received, 1);
                add(&ctx.counters.bytes_received, len as u64);
            }
            Err(ReadEnd::TooLarge(len)) => {
                add(&ctx.counters.oversized_refused, 1);
                tracing::warn!(
                    peer = ctx.from,
                    len,
                    max = ctx.max_msg_bytes,
                    "refused oversized frame; stream stopped"
                );
                return;
            }
            Err(ReadEnd::Finished) => return,
            Err(ReadEnd::Reset(code)) => {
                tracing::debug!(peer = ctx.from, code, "frame stream reset");
                return;
            }
            Err(ReadEnd::Failed(reason)) => {
                tracing::debug!(peer = ctx.from, %reason, "frame stream ended");
                return;
            }
        }
    }
}
