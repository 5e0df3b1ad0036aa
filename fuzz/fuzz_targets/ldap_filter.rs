//! Fuzz target `ldap_filter`: see `kabine::fuzz::ldap_filter`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kabine::fuzz::ldap_filter(data));
