//! reef-net: ReefDB's QUIC peer transport.
//!
//! Skeleton: the glommio QUIC runtime, mTLS and per-peer flow control are built under the
//! net issue. It moves opaque frames and knows neither Raft nor SQL.
