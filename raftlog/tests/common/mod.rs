//! Helpers shared by the integration tests: run a future on a real glommio executor, build
//! entries whose data can be checked after recovery.
// protobuf messages are built field by field; that reads better than struct literals here.
#![allow(clippy::field_reassign_with_default, dead_code)]

use raft::eraftpb::Entry;
use reef_raftlog::{LogConfig, Preallocate};
use std::future::Future;

/// Runs `f` on a fresh glommio LocalExecutor thread and returns its output.
pub fn run<F, Fut, T>(f: F) -> T
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
    T: Send + 'static,
{
    glommio::LocalExecutorBuilder::default()
        .spawn(f)
        .expect("spawn executor")
        .join()
        .expect("executor thread")
}

/// Small segments so tests cross segment boundaries quickly.
pub fn small_cfg() -> LogConfig {
    LogConfig {
        segment_size: 64 * 1024,
        preallocate: Preallocate::Fallocate,
        cache_bytes: 4 * 1024,
        ..LogConfig::default()
    }
}

/// Deterministic payload for `index` in round `term`, so recovered data can be checked.
pub fn payload(index: u64, term: u64, len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len);
    let mut x = index.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ term;
    for _ in 0..len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push(x as u8);
    }
    v
}

/// An entry at `index`/`term` with `len` bytes of deterministic data.
pub fn entry(index: u64, term: u64, len: usize) -> Entry {
    let mut e = Entry::default();
    e.index = index;
    e.term = term;
    e.data = payload(index, term, len).into();
    e
}
