#![no_main]
//! cargo-fuzz entry point; the harness is `reef_fuzz::command_batch`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| reef_fuzz::command_batch::run(data));
