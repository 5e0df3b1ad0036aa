//! The `kabine` command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{self, LoadedConfig};
use crate::policy::{self, Policy};

#[derive(Debug, Parser)]
#[command(name = "kabine", version, about = "Privacy-enforcing browser video conferencing in one binary")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server. Without --config: a demo on https://localhost:8443.
    Serve {
        /// Configuration file (TOML); see config/kabine.example.toml.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Check a configuration against its privacy policy.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Print a verdict per rule; exit non-zero on any violation.
    Check {
        /// Configuration file; without it, the built-in demo config.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

/// Exit code for a configuration that cannot be used.
const EXIT_CONFIG: u8 = 2;
/// Exit code for a policy violation.
const EXIT_POLICY: u8 = 3;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => serve(config.as_deref()),
        Command::Policy { command: PolicyCommand::Check { config } } => policy_check(config.as_deref()),
    }
}

/// Loads the config (or the demo) and its policy, printing problems.
fn load_with_policy(path: Option<&Path>) -> Result<(LoadedConfig, Policy), ExitCode> {
    let loaded = match path {
        Some(p) => config::load(p).map_err(|e| {
            eprintln!("{e}");
            eprintln!("kabine: the configuration has {} problem(s); nothing was started", e.problems.len());
            ExitCode::from(EXIT_CONFIG)
        })?,
        None => LoadedConfig::demo(),
    };
    let policy = Policy::for_config(&loaded).map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(EXIT_CONFIG)
    })?;
    Ok((loaded, policy))
}

fn policy_check(path: Option<&Path>) -> ExitCode {
    let (loaded, policy) = match load_with_policy(path) {
        Ok(x) => x,
        Err(code) => return code,
    };
    println!("{}: policy \"{}\": {}", loaded.source_name(), policy.name, policy.description);
    let verdicts = policy::check(&loaded, &policy);
    for v in &verdicts {
        println!("{v}");
    }
    let failed = verdicts.iter().filter(|v| !v.ok).count();
    if failed == 0 {
        println!("all {} rules hold", verdicts.len());
        ExitCode::SUCCESS
    } else {
        println!("{failed} of {} rules violated", verdicts.len());
        ExitCode::from(EXIT_POLICY)
    }
}

fn serve(path: Option<&Path>) -> ExitCode {
    let (loaded, policy) = match load_with_policy(path) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let violations = policy::violation_lines(&loaded, &policy::check(&loaded, &policy));
    if !violations.is_empty() {
        for line in &violations {
            eprintln!("{line}");
        }
        eprintln!(
            "kabine: refusing to start: {} rule(s) of the privacy policy \"{}\" are violated",
            violations.len(),
            policy.name
        );
        return ExitCode::from(EXIT_POLICY);
    }
    let _guard = match crate::logging::init(&loaded.config.log, &policy) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("kabine: cannot set up logging: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kabine: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let demo = loaded.path.is_none();
        let public = loaded.config.server.public_url.clone();
        let server = match crate::server::start(loaded, policy).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("kabine: {e}");
                return ExitCode::FAILURE;
            }
        };
        let url = public.unwrap_or_else(|| format!("https://localhost:{}", server.https_addr().port()));
        if demo {
            println!(
                "Kabine demo running at {url} (self-signed certificate made in memory; media on udp/{})",
                server.media_addr().port()
            );
        } else {
            println!("Kabine running at {url}");
        }
        crate::server::shutdown_signal().await;
        println!("Kabine is shutting down");
        if server.stop().await {
            ExitCode::SUCCESS
        } else {
            eprintln!("kabine: some connections did not close in time");
            ExitCode::SUCCESS
        }
    })
}
