//! Fuzz target `rtp_rewrite`: see `kabine::fuzz::rtp_rewrite`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kabine::fuzz::rtp_rewrite(data));
