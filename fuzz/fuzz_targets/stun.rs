//! Fuzz target `stun`: see `kabine::fuzz::stun`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kabine::fuzz::stun(data));
