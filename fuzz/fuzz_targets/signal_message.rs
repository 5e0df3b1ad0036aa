//! Fuzz target `signal_message`: see `kabine::fuzz::signal_message`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kabine::fuzz::signal_message(data));
