//! A small blocking client for ReefDB's rqlite-compatible HTTP API, shared by `reefdb
//! shell`, `reefdb status`, `reefdb bench` and the integration tests.
//!
//! Why hand-written rather than a general HTTP crate: the tools need exactly one thing,
//! keep-alive HTTP/1.1 request/response on a plain `TcpStream`, with no async runtime and
//! no per-request allocation beyond the body, so that the load generator is never the
//! bottleneck of what it measures. Layers:
//! - [`url`]: the base URLs people type (`http://127.0.0.1:4001`).
//! - [`http`]: one keep-alive connection, request writing and response framing
//!   (content-length, chunked, read-to-close), with bounded sizes and timeouts.
//! - [`rqlite`]: `/db/execute`, `/db/query`, `/status`, `/nodes` with typed responses.
//! - [`cluster`]: tolerant decoding of `/status` and `/nodes` into what the tools show.

pub mod cluster;
pub mod http;
pub mod rqlite;
pub mod url;

pub use cluster::{NodeInfo, NodeStatus};
pub use http::{HttpConn, Limits, Response};
pub use rqlite::{ExecuteResult, QueryResult, RqliteClient};
pub use url::Endpoint;

use std::time::Duration;

/// Everything that can go wrong between a tool and a node, with the address involved so a
/// person can tell which node misbehaved.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("bad URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no answer from {addr} within {timeout:?}")]
    Timeout { addr: String, timeout: Duration },
    #[error("{addr} closed the connection before a complete response")]
    Closed { addr: String },
    #[error("I/O error talking to {addr}: {source}")]
    Io {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("malformed HTTP response from {addr}: {reason}")]
    Protocol { addr: String, reason: String },
    #[error("response from {addr} exceeds the {limit}-byte limit for its {what}")]
    TooLarge {
        addr: String,
        what: &'static str,
        limit: usize,
    },
    /// A non-2xx answer; `message` is the server's JSON `error` string when it sent one.
    #[error("{addr} answered HTTP {status}: {message}")]
    Http {
        addr: String,
        status: u16,
        message: String,
    },
    #[error("cannot decode the JSON answer from {addr} ({what}): {reason}")]
    Json {
        addr: String,
        what: &'static str,
        reason: String,
    },
}

impl ClientError {
    /// A short, stable name for the kind of failure, used to group errors in reports.
    pub fn kind(&self) -> String {
        match self {
            ClientError::BadUrl { .. } => "bad url".into(),
            ClientError::Connect { source, .. } => format!("connect: {}", io_kind(source)),
            ClientError::Timeout { .. } => "timeout".into(),
            ClientError::Closed { .. } => "connection closed".into(),
            ClientError::Io { source, .. } => format!("io: {}", io_kind(source)),
            ClientError::Protocol { .. } => "malformed response".into(),
            ClientError::TooLarge { .. } => "response too large".into(),
            ClientError::Http {
                status, message, ..
            } => format!("http {status}: {}", shorten(message, 80)),
            ClientError::Json { .. } => "bad json".into(),
        }
    }
}

fn io_kind(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => "refused".into(),
        ConnectionReset => "reset".into(),
        ConnectionAborted => "aborted".into(),
        BrokenPipe => "broken pipe".into(),
        TimedOut | WouldBlock => "timeout".into(),
        AddrNotAvailable => "address not available".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// Cuts `s` to at most `max` characters (on a char boundary), marking the cut.
pub fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}
