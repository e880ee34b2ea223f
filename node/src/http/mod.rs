//! The client-facing HTTP API: rqlite-compatible bodies and responses, served on every shard.

pub mod admin;
pub mod api;
pub mod body;
pub mod guard;
pub mod respond;
pub mod server;
pub mod tls;
