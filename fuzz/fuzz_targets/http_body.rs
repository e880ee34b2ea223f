#![no_main]
//! cargo-fuzz entry point; the harness is `reef_fuzz::http_body`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| reef_fuzz::http_body::run(data));
