//! Fuzz target `log_addresses`: see `kabine::fuzz::log_addresses`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kabine::fuzz::log_addresses(data));
