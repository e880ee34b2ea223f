//! Fuzzing, in the normal suite: replays the committed cargo-fuzz corpus and past crashes of
//! the node's targets (HTTP request bodies; peer frames through reef-net's stream decoder and
//! the node's wire decoders) through the very harnesses cargo-fuzz runs, included by path.

#[path = "../fuzz/replay.rs"]
mod replay;

#[path = "../fuzz/src/input.rs"]
mod input;

#[path = "../fuzz/src/http_body.rs"]
mod http_body;

#[path = "../fuzz/src/peer_frame.rs"]
mod peer_frame;

fn fuzz_dir() -> std::path::PathBuf {
    replay::fuzz_dir(env!("CARGO_MANIFEST_DIR"), 0)
}

#[test]
fn http_body_corpus_replays_clean() {
    replay::replay_target(&fuzz_dir(), "http_body", http_body::run);
}

#[test]
fn peer_frame_corpus_replays_clean() {
    replay::replay_target(&fuzz_dir(), "peer_frame", peer_frame::run);
}
