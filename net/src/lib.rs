//! reef-net: ReefDB's QUIC peer transport.
//!
//! Moves opaque frames, snapshot streams and forwarded requests between nodes over QUIC with
//! mutual TLS, on the glommio shard that runs Raft. It knows neither Raft nor SQL: peers are
//! `u64` node ids and payloads are bytes. Start at [`Transport`].

mod backoff;
pub mod certs;
mod config;
pub mod error;
mod event;
mod frame;
mod inbound;
mod link;
mod queue;
mod request;
pub mod runtime;
mod snapshot;
mod stats;
pub mod tls;
mod transport;
mod wire;

pub use certs::TlsFiles;
pub use config::NetConfig;
pub use error::{NetError, SendError, TlsError};
pub use inbound::Inbound;
pub use request::Responder;
pub use runtime::GlommioRuntime;
pub use snapshot::{SnapshotReceiver, SnapshotSender};
pub use stats::{EndpointStats, PeerStats};
pub use tls::TlsIdentity;
pub use transport::Transport;
