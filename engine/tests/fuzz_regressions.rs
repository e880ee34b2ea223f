//! Fuzzing, in the normal suite: replays the committed cargo-fuzz corpus of the engine's
//! targets (SQL front end, command batch decoder) through the very harnesses cargo-fuzz runs
//! (included by path from `fuzz/`), and holds a test per crash the fuzzers found.
//!
//! Crashes in the engine are recorded here (not fixed by the fuzzing work, the engine is being
//! changed by another engineer): each reproducer lives in `fuzz/regressions/<target>/` and its
//! test is `#[ignore = "bug: ..."]` until the fix lands; run them with
//! `cargo nextest run -p reef-engine --test fuzz_regressions --run-ignored all`.

#[path = "../../fuzz/replay.rs"]
mod replay;

#[path = "../../fuzz/src/input.rs"]
mod input;

#[path = "../../fuzz/src/sql_frontend.rs"]
mod sql_frontend;

#[path = "../../fuzz/src/command_batch.rs"]
mod command_batch;

fn fuzz_dir() -> std::path::PathBuf {
    replay::fuzz_dir(env!("CARGO_MANIFEST_DIR"), 1)
}

/// Only `corpus/`: `regressions/` holds reproducers of open engine bugs, tested one by one below.
fn replay_corpus(target: &str, run: fn(&[u8])) {
    let n = replay::replay_dir(&fuzz_dir().join("corpus").join(target), run);
    assert!(n > 0, "no corpus committed for fuzz target {target}");
}

#[test]
fn sql_frontend_corpus_replays_clean() {
    replay_corpus("sql_frontend", sql_frontend::run);
}

#[test]
fn command_batch_corpus_replays_clean() {
    replay_corpus("command_batch", command_batch::run);
}
