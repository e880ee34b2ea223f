//! reef-engine: ReefDB's SQL state machine (SQLite dialect).
//!
//! Skeleton: the SQL engine is built under the engine issue. It knows nothing of Raft
//! or the network; `node/` applies committed log entries to it.
