//! Fuzz target `audit_der`: see `kabine::fuzz::audit_der`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kabine::fuzz::audit_der(data));
