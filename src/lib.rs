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
pub mod link;
pub mod loadgen;
pub mod logging;
pub mod metrics;
pub mod net;
pub mod policy;
pub mod private_file;
pub mod protocol;
pub mod record;
pub mod room;
pub mod server;
pub mod sfu;
pub mod signal;
pub mod stats;
pub mod teletherapy;
pub mod tls;
pub mod turn;
