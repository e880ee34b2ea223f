//! Transport configuration: limits, windows, timers, with defaults and validation.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use quinn::{TransportConfig, VarInt};

use crate::{error::NetError, tls::TlsIdentity};

/// Ack-eliciting packets a peer may receive before it must acknowledge (see
/// `transport_config`).
const ACK_ELICITING_THRESHOLD: u32 = 8;
/// Longest a peer may hold back an acknowledgement below that threshold.
const MAX_ACK_DELAY: Duration = Duration::from_millis(5);

/// Everything `Transport::bind` needs. Build with [`NetConfig::new`] and adjust fields.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// This node's id; must match the id in the TLS certificate.
    pub node_id: u64,
    /// UDP address to listen on (port 0 picks an ephemeral port).
    pub listen_addr: SocketAddr,
    /// CA, certificate and key (see `TlsIdentity::load`).
    pub tls: TlsIdentity,
    /// Largest frame, request, response or snapshot chunk, either direction. Default 16 MiB.
    pub max_msg_bytes: usize,
    /// Frames queued per peer before `send` answers `Full`. Default 256.
    pub queue_msgs: usize,
    /// Bytes queued per peer before `send` answers `Full`. Default 64 MiB.
    pub queue_bytes: usize,
    /// Inbound items (frames, requests, snapshot offers) waiting for `recv`, all peers
    /// together. When full, readers stop reading and QUIC flow control pushes back on the
    /// senders. Default 1024.
    pub inbox_msgs: usize,
    /// Inbound bytes waiting for `recv`. Default 64 MiB.
    pub inbox_bytes: usize,
    /// Per-stream receive window: bytes a peer may send on one stream before we read them.
    /// Default 2 MiB.
    pub stream_receive_window: u32,
    /// Per-connection receive window, all streams together. Keep it larger than the stream
    /// window so that a snapshot stream cannot starve the frame stream. Default 8 MiB.
    pub conn_receive_window: u32,
    /// Bytes a connection buffers for sending before writes wait. Default 8 MiB.
    pub send_window: u64,
    /// First reconnect delay; each failure doubles it up to `backoff_cap`, full jitter.
    pub backoff_base: Duration,
    /// Largest reconnect delay.
    pub backoff_cap: Duration,
    /// Keep-alive ping interval on idle connections.
    pub keepalive: Duration,
    /// A connection (or handshake) with no traffic for this long is dead.
    pub idle_timeout: Duration,
    /// Handshakes in progress at once; more are refused so half-open floods stay bounded.
    pub max_incoming: usize,
    /// Requests a peer may have in flight to us at once (concurrent request streams). A
    /// request is read whole before it is queued, so this times `max_msg_bytes` bounds the
    /// memory one peer's requests can hold. Default 16.
    pub max_concurrent_requests: u32,
}

impl NetConfig {
    /// A configuration with the defaults above.
    pub fn new(node_id: u64, listen_addr: SocketAddr, tls: TlsIdentity) -> Self {
        Self {
            node_id,
            listen_addr,
            tls,
            max_msg_bytes: 16 << 20,
            queue_msgs: 256,
            queue_bytes: 64 << 20,
            inbox_msgs: 1024,
            inbox_bytes: 64 << 20,
            stream_receive_window: 2 << 20,
            conn_receive_window: 8 << 20,
            send_window: 8 << 20,
            backoff_base: Duration::from_millis(50),
            backoff_cap: Duration::from_secs(5),
            keepalive: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(5),
            max_incoming: 256,
            max_concurrent_requests: 16,
        }
    }

    /// Checks every field; the error names the field.
    pub fn validate(&self) -> Result<(), NetError> {
        let bad = |field, reason: &str| {
            Err(NetError::Config {
                field,
                reason: reason.to_string(),
            })
        };
        if self.tls.node_id() != self.node_id {
            return Err(NetError::Config {
                field: "tls",
                reason: format!(
                    "certificate is for node {} but node_id is {}",
                    self.tls.node_id(),
                    self.node_id
                ),
            });
        }
        // Lengths travel as u32.
        if self.max_msg_bytes == 0 || self.max_msg_bytes > u32::MAX as usize {
            return bad("max_msg_bytes", "must be between 1 and 4 GiB - 1");
        }
        if self.queue_msgs == 0 {
            return bad("queue_msgs", "must be at least 1");
        }
        if self.queue_bytes < self.max_msg_bytes {
            return bad("queue_bytes", "must hold at least one max_msg_bytes frame");
        }
        if self.inbox_msgs == 0 {
            return bad("inbox_msgs", "must be at least 1");
        }
        if self.inbox_bytes < self.max_msg_bytes {
            return bad("inbox_bytes", "must hold at least one max_msg_bytes frame");
        }
        if self.stream_receive_window < 1024 {
            return bad("stream_receive_window", "must be at least 1 KiB");
        }
        if self.conn_receive_window < self.stream_receive_window {
            return bad(
                "conn_receive_window",
                "must be at least stream_receive_window",
            );
        }
        if self.send_window < 1024 {
            return bad("send_window", "must be at least 1 KiB");
        }
        if self.backoff_base.is_zero() || self.backoff_cap < self.backoff_base {
            return bad("backoff_base", "must be non-zero and at most backoff_cap");
        }
        if self.keepalive.is_zero() || self.keepalive >= self.idle_timeout {
            return bad(
                "keepalive",
                "must be non-zero and shorter than idle_timeout",
            );
        }
        if VarInt::try_from(self.idle_timeout.as_millis() as u64).is_err() {
            return bad("idle_timeout", "too large");
        }
        if self.max_concurrent_requests == 0 {
            return bad("max_concurrent_requests", "must be at least 1");
        }
        if self.max_incoming == 0 {
            return bad("max_incoming", "must be at least 1");
        }
        Ok(())
    }

    /// The QUIC transport parameters these settings imply.
    ///
    /// `ack_frequency_config` also advertises a `min_ack_delay`, so both ends honour it.
    pub(crate) fn transport_config(&self) -> Arc<TransportConfig> {
        let mut t = TransportConfig::default();
        t.stream_receive_window(VarInt::from_u32(self.stream_receive_window))
            .receive_window(VarInt::from_u32(self.conn_receive_window))
            .send_window(self.send_window)
            .keep_alive_interval(Some(self.keepalive))
            .max_idle_timeout(Some(
                VarInt::try_from(self.idle_timeout.as_millis() as u64)
                    .unwrap_or(VarInt::MAX)
                    .into(),
            ))
            // The frame stream, the acceptance notice, and a few snapshots at once.
            .max_concurrent_uni_streams(VarInt::from_u32(8))
            .max_concurrent_bidi_streams(VarInt::from_u32(self.max_concurrent_requests))
            .datagram_receive_buffer_size(None);
        // Peers send each way on their own connection, so an ACK can never ride on a reply:
        // with QUIC's default (acknowledge every second packet at once) a Raft round trip
        // costs two extra ACK-only datagrams, each a send, a wake-up of the other shard and
        // a pass through its endpoint. Both ends are ReefDB, so ask the peer (ACK frequency
        // extension) to acknowledge every 8th packet or after 5 ms. Eight packets stay inside
        // the initial congestion window, so a sender is not held back waiting for an ACK, and
        // on the bulk path loss is still found by packet threshold.
        let mut ack = quinn::AckFrequencyConfig::default();
        ack.ack_eliciting_threshold(VarInt::from_u32(ACK_ELICITING_THRESHOLD))
            .max_ack_delay(Some(MAX_ACK_DELAY));
        t.ack_frequency_config(Some(ack));
        Arc::new(t)
    }
}
