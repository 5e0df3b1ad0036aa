//! Kabine's integration suite: one test binary, one file per behaviour.
//! Every test takes `support::test()` first, which checks at its end that
//! nothing in the whole suite logged an IP address.

mod support;

mod audit_cli;
mod audit_live_checks_can_fail;
mod audit_report;
mod audit_tls_checks_can_fail;
mod cli_policy;
mod config_files;
mod config_fuzz;
mod https_headers;
mod log_redaction;
mod shutdown;
mod tls_scan;
