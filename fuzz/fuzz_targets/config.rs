//! Fuzz target `config`: see `kabine::fuzz::config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kabine::fuzz::config(data));
