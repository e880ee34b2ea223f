#![no_main]
//! cargo-fuzz entry point; the harness is `reef_fuzz::segment_record`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| reef_fuzz::segment_record::run(data));
