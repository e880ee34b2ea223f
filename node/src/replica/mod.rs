//! The replica: the Raft driver on shard 0 and the pieces it is made of.

pub mod pending;
pub mod reads;
pub mod wire;
