//! reef-net: ReefDB's QUIC peer transport.
//!
//! Moves opaque frames, snapshot streams and forwarded requests between nodes over QUIC with
//! mutual TLS, on the glommio shard that runs Raft. It knows neither Raft nor SQL: peers are
//! `u64` node ids and payloads are bytes. Start at [`Transport`].
//!
//! ```no_run
//! use std::time::Duration;
//! use bytes::Bytes;
//! use reef_net::{Inbound, NetConfig, TlsFiles, TlsIdentity, Transport};
//!
//! glommio::LocalExecutor::default().run(async {
//!     let dir = std::path::Path::new("/etc/reefdb/certs");
//!     let tls = TlsIdentity::load(&TlsFiles::for_node(dir, 1)).unwrap();
//!     let net = Transport::bind(NetConfig::new(1, "0.0.0.0:4002".parse().unwrap(), tls)).unwrap();
//!     net.set_peer(2, "10.0.0.2:4002".parse().unwrap());
//!     if let Err(e) = net.send(2, Bytes::from_static(b"raft message")) {
//!         // Full / Unreachable / TooLarge / UnknownPeer: drop it, report_unreachable(2).
//!         eprintln!("{e}");
//!     }
//!     while let Some(item) = net.recv().await {
//!         match item {
//!             Inbound::Frame { from, bytes } => { /* raw_node.step(decode(bytes)) */ }
//!             Inbound::Snapshot { from, mut stream } => {
//!                 while let Some(chunk) = stream.next().await { let _chunk = chunk.unwrap(); }
//!             }
//!             Inbound::Request { from, bytes, responder } => {
//!                 responder.respond(Bytes::from_static(b"result")).unwrap();
//!             }
//!         }
//!     }
//!     net.close().await;
//! });
//! ```
//!
//! Design notes (see the modules for the why of each):
//! - `runtime`: quinn on glommio; every quinn object stays on the shard that made it.
//! - `tls`, `certs`: mTLS against the cluster CA; the node id is the certificate's
//!   `node-<id>.reefdb` name, so `from` always comes from the verified certificate.
//! - `link`: each node dials its own connection to each peer it talks to (two connections per
//!   pair, one per direction), opened lazily, redialled with capped exponential backoff and full
//!   jitter; a bounded queue (frames and bytes) per peer that refuses rather than waits.
//! - `inbound`: a bounded inbox; when the application stops reading, readers stop reading and
//!   QUIC flow control stops the senders.
//! - Memory a peer can make us hold: its frame stream's one frame being assembled
//!   (`max_msg_bytes`), `max_concurrent_requests` requests being read, the connection receive
//!   window, plus our shared inbox (`inbox_bytes`). Towards a peer: its queue (`queue_bytes`),
//!   one batch being written (256 KiB), and the connection's `send_window`.

mod backoff;
pub mod certs;
mod config;
pub mod error;
mod event;
mod frame;
#[doc(hidden)]
pub mod fuzzing;
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
