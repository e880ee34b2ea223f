//! Fuzz harnesses, one module per decoder family. Each `run` takes the fuzzer's bytes, calls
//! the real public decoder and checks what must hold for any input. The binaries in
//! `fuzz_targets/` are one-line wrappers; the crates' `tests/fuzz_regressions.rs` include these
//! same files by path to replay the committed corpus and past crashes in the normal test suite.

pub mod input;

pub mod command_batch;
pub mod engine_snapshot_header;
pub mod http_body;
pub mod peer_frame;
pub mod segment_record;
pub mod snapshot_manifest;
pub mod sql_frontend;
