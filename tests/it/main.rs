//! Kabine's integration suite: one test binary, one file per behaviour.
//! Every test takes `support::test()` first, which checks at its end that
//! nothing in the whole suite logged an IP address.

mod support;

mod bench_compare;
mod cli_policy;
mod config_files;
mod config_fuzz;
mod https_headers;
mod ldap_login;
mod local_users;
mod log_redaction;
mod login_local;
mod login_throttle;
mod media_garbage_udp;
mod media_simulcast;
mod media_three_peers;
mod media_two_rooms;
mod room_lifecycle;
mod shutdown;
mod signal_bad_input;
mod signal_keepalive;
mod tls_scan;
