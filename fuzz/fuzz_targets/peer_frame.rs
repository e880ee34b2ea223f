#![no_main]
//! cargo-fuzz entry point; the harness is `reef_fuzz::peer_frame`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| reef_fuzz::peer_frame::run(data));
