//! reef-raftlog: ReefDB's durable Raft storage.
//!
//! Skeleton: segments, group commit, hard state and the snapshot store are built under the
//! raftlog issue. It knows nothing of SQL.
