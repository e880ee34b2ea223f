//! The crate's error types: what went wrong, with the peer, file or field it concerns.

use std::{io, net::SocketAddr, path::PathBuf, time::Duration};

use thiserror::Error;

/// Errors of certificate generation, loading and TLS setup.
#[derive(Debug, Error)]
pub enum TlsError {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("writing {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("{path}: no PEM certificate found")]
    NoCertificate { path: PathBuf },
    #[error("{path}: no PEM private key found")]
    NoKey { path: PathBuf },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("generating {what}: {source}")]
    Generate { what: String, source: rcgen::Error },
    #[error("building the TLS configuration: {0}")]
    Config(String),
}

/// Why a frame was not queued for a peer. The Raft driver reacts to all of them the same way
/// (drop, `report_unreachable`, let Raft retransmit); the variants say why, for logs and metrics.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SendError {
    #[error("peer {peer}: outbound queue full ({msgs} frames, {bytes} bytes queued)")]
    Full {
        peer: u64,
        msgs: usize,
        bytes: usize,
    },
    #[error("peer {peer} is unreachable (reconnecting with backoff)")]
    Unreachable { peer: u64 },
    #[error("frame of {len} bytes for peer {peer} exceeds max_msg_bytes ({max})")]
    TooLarge { peer: u64, len: usize, max: usize },
    #[error("peer {0} is not in the address book")]
    UnknownPeer(u64),
}

/// Errors of the transport: binding, connections, streams, requests and snapshots.
#[derive(Debug, Error)]
pub enum NetError {
    #[error("invalid net config field `{field}`: {reason}")]
    Config { field: &'static str, reason: String },
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("binding UDP socket on {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    #[error(transparent)]
    Send(#[from] SendError),
    #[error("peer {peer}: {reason}")]
    Unreachable { peer: u64, reason: String },
    #[error("peer {peer}: connection lost: {source}")]
    Connection {
        peer: u64,
        source: quinn::ConnectionError,
    },
    #[error("peer {peer}: stream failed: {reason}")]
    Stream { peer: u64, reason: String },
    #[error("peer {peer}: {len}-byte message exceeds max_msg_bytes ({max})")]
    TooLarge { peer: u64, len: u64, max: usize },
    #[error("peer {peer}: no answer within {after:?}")]
    Timeout { peer: u64, after: Duration },
    #[error("peer {peer} dropped the request without answering")]
    NoResponse { peer: u64 },
}
