//! reef-tools: operator tools that read a node's files directly (`reef-logtool`) and the
//! sqllogictest runner for the engine (`reef-slt`).

pub mod logtool;
pub mod slt;
