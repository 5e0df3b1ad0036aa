//! Kabine: self-hosted browser video conferencing in one binary, with the
//! privacy settings a data-protection officer asks for enforced by the
//! software itself. See `docs/` and DESIGN.md for the architecture.

pub mod acme;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod fuzz;
pub mod http;
pub mod init;
pub mod loadgen;
pub mod logging;
pub mod metrics;
pub mod policy;
pub mod room;
pub mod server;
pub mod sfu;
pub mod signal;
pub mod stats;
pub mod tls;

/// Paths that are not rooms.
const RESERVED_NAMES: &[&str] = &["static", "api", "health", "ws", "account", "favicon.ico", "robots.txt"];

/// Room names: 1 to 64 letters, digits, `-`, `_` or `.` (not starting with
/// `.`), and none of the server's own paths.
pub fn room_name_is_valid(name: &str) -> bool {
    let len = name.chars().count();
    (1..=64).contains(&len)
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !RESERVED_NAMES.iter().any(|r| r.eq_ignore_ascii_case(name))
}
