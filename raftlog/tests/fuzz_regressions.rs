//! Fuzzing, in the normal suite: replays the committed cargo-fuzz corpus and past crashes of
//! the log's targets (segment scanner and record decoders, hard-state slots, snapshot
//! manifests) through the very harnesses cargo-fuzz runs, included by path from `fuzz/`.

#[path = "../../fuzz/replay.rs"]
mod replay;

#[path = "../../fuzz/src/input.rs"]
mod input;

#[path = "../../fuzz/src/segment_record.rs"]
mod segment_record;

#[path = "../../fuzz/src/snapshot_manifest.rs"]
mod snapshot_manifest;

fn fuzz_dir() -> std::path::PathBuf {
    replay::fuzz_dir(env!("CARGO_MANIFEST_DIR"), 1)
}

#[test]
fn segment_record_corpus_replays_clean() {
    replay::replay_target(&fuzz_dir(), "segment_record", segment_record::run);
}

#[test]
fn snapshot_manifest_corpus_replays_clean() {
    replay::replay_target(&fuzz_dir(), "snapshot_manifest", snapshot_manifest::run);
}
