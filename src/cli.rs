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
    /// Write a data-protection report: every check against the configuration
    /// and, with --url, against the running server. Exit status 1 if any
    /// check fails, 2 if the configuration or the options are unusable.
    Audit(AuditArgs),
}

#[derive(Debug, clap::Args)]
struct AuditArgs {
    /// Configuration file of the server; without it, the built-in demo config.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// The running server, https://HOST[:PORT]. Without it, only the
    /// configuration is checked.
    #[arg(long)]
    url: Option<String>,
    /// Report format.
    #[arg(long, value_enum, default_value = "md")]
    format: crate::audit::report::Format,
    /// Report language; default: the client's default language from the config.
    #[arg(long, value_enum)]
    lang: Option<crate::audit::Lang>,
    /// Write the report to this file instead of standard output.
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Run only checks with this id or id prefix (e.g. `live.tls`); repeatable.
    #[arg(long, value_name = "ID")]
    only: Vec<String>,
    /// Extra trust anchors (PEM) for the certificate check, e.g. an internal CA; repeatable.
    #[arg(long, value_name = "PEM")]
    ca: Vec<PathBuf>,
    /// Extra log files or directories to scan for IP addresses, e.g. a journal export; repeatable.
    #[arg(long, value_name = "PATH")]
    logs: Vec<PathBuf>,
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
        Command::Audit(args) => audit(args),
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

/// Exit code of an audit in which a check failed.
const EXIT_AUDIT_FAILED: u8 = 1;

fn audit(args: AuditArgs) -> ExitCode {
    let (loaded, policy) = match load_with_policy(args.config.as_deref()) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kabine: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let options = crate::audit::Options { url: args.url, ca_files: args.ca, log_paths: args.logs, only: args.only };
    let run = match runtime.block_on(crate::audit::run(&loaded, &policy, &options)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kabine audit: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let lang = args.lang.unwrap_or(match loaded.config.client.default_language {
        crate::config::Language::De => crate::audit::Lang::De,
        crate::config::Language::En => crate::audit::Lang::En,
    });
    let report = crate::audit::report::build(&run, &loaded, &policy, lang);
    let text = crate::audit::report::render(&report, args.format);
    match &args.out {
        Some(path) => {
            if let Err(e) = std::fs::write(path, text) {
                eprintln!("kabine audit: cannot write {}: {e}", path.display());
                return ExitCode::from(EXIT_CONFIG);
            }
        }
        None => print!("{text}"),
    }
    use crate::audit::Status;
    eprintln!(
        "kabine audit: {} checks: {} passed, {} failed, {} warnings, {} not applicable",
        run.results.len(),
        run.count(Status::Pass),
        run.count(Status::Fail),
        run.count(Status::Warn),
        run.count(Status::NotApplicable)
    );
    for r in run.results.iter().filter(|r| r.outcome.status == Status::Fail) {
        eprintln!("FAIL {}: {}", r.id, r.outcome.summary.en);
    }
    if run.passed() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_AUDIT_FAILED) }
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
