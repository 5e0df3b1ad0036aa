//! Fuzz target `sdp_compact`: see `kabine::fuzz::sdp_compact`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kabine::fuzz::sdp_compact(data));
