#![no_main]
//! cargo-fuzz entry point; the harness is `reef_fuzz::engine_snapshot_header`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| reef_fuzz::engine_snapshot_header::run(data));
