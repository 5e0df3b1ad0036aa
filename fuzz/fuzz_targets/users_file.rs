//! Fuzz target `users_file`: see `kabine::fuzz::users_file`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kabine::fuzz::users_file(data));
