#![no_main]
//! cargo-fuzz entry point; the harness is `reef_fuzz::sql_frontend`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| reef_fuzz::sql_frontend::run(data));
