//! Per-peer and endpoint counters, kept in `Cell`s on the shard and exported as plain data
//! for `node/` to turn into metrics.

use std::{cell::Cell, net::SocketAddr};

/// A snapshot of one peer's counters and state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerStats {
    pub peer: u64,
    /// Address in the address book; `None` for a peer we only heard from.
    pub addr: Option<SocketAddr>,
    /// Our outbound connection to it is established.
    pub connected: bool,
    /// Frames and payload bytes handed to QUIC for this peer (written to the stream).
    pub frames_sent: u64,
    pub bytes_sent: u64,
    /// Frames and payload bytes received from it and queued for `recv`.
    pub frames_received: u64,
    pub bytes_received: u64,
    /// Frames refused by `send` (queue full, unreachable) or discarded from the queue when a
    /// connection attempt failed.
    pub drops: u64,
    /// Connections re-established after the first one.
    pub reconnects: u64,
    /// Outbound connection attempts that failed (any reason).
    pub connect_failures: u64,
    /// Outbound handshakes that failed in TLS (certificate refused either way).
    pub handshake_failures: u64,
    /// Frames from this peer refused for exceeding `max_msg_bytes`.
    pub oversized_refused: u64,
    pub snapshots_sent: u64,
    pub snapshots_received: u64,
    pub requests_sent: u64,
    pub requests_received: u64,
    /// Frames and bytes waiting in the outbound queue now.
    pub queue_msgs: usize,
    pub queue_bytes: usize,
}

/// Counters of the endpoint as a whole: what cannot be attributed to a verified peer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// Inbound handshakes that failed (bad or missing certificate, timeout, protocol error).
    pub inbound_handshake_failures: u64,
    /// Inbound connections whose verified certificate named no single node id.
    pub bad_identity: u64,
    /// Inbound connections accepted.
    pub inbound_connections: u64,
    /// Connection attempts refused unanswered because `max_incoming` handshakes were already
    /// in progress.
    pub handshakes_refused: u64,
    /// Handshakes in progress now.
    pub handshakes_in_progress: usize,
    /// Items waiting in the inbox for `recv`.
    pub inbox_msgs: usize,
    pub inbox_bytes: usize,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub frames_sent: Cell<u64>,
    pub bytes_sent: Cell<u64>,
    pub frames_received: Cell<u64>,
    pub bytes_received: Cell<u64>,
    pub drops: Cell<u64>,
    pub reconnects: Cell<u64>,
    pub connect_failures: Cell<u64>,
    pub handshake_failures: Cell<u64>,
    pub oversized_refused: Cell<u64>,
    pub snapshots_sent: Cell<u64>,
    pub snapshots_received: Cell<u64>,
    pub requests_sent: Cell<u64>,
    pub requests_received: Cell<u64>,
}

pub(crate) fn add(c: &Cell<u64>, n: u64) {
    c.set(c.get().wrapping_add(n));
}

impl Counters {
    pub(crate) fn fill(&self, s: &mut PeerStats) {
        s.frames_sent = self.frames_sent.get();
        s.bytes_sent = self.bytes_sent.get();
        s.frames_received = self.frames_received.get();
        s.bytes_received = self.bytes_received.get();
        s.drops = self.drops.get();
        s.reconnects = self.reconnects.get();
        s.connect_failures = self.connect_failures.get();
        s.handshake_failures = self.handshake_failures.get();
        s.oversized_refused = self.oversized_refused.get();
        s.snapshots_sent = self.snapshots_sent.get();
        s.snapshots_received = self.snapshots_received.get();
        s.requests_sent = self.requests_sent.get();
        s.requests_received = self.requests_received.get();
    }
}

#[derive(Default)]
pub(crate) struct EndpointCounters {
    pub inbound_handshake_failures: Cell<u64>,
    pub bad_identity: Cell<u64>,
    pub inbound_connections: Cell<u64>,
    pub handshakes_refused: Cell<u64>,
    pub handshakes_in_progress: Cell<usize>,
}
