#![no_main]
//! cargo-fuzz entry point; the harness is `reef_fuzz::snapshot_manifest`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| reef_fuzz::snapshot_manifest::run(data));
