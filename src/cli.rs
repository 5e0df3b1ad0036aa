//! The `kabine` command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::auth::password::{self, Password};
use crate::auth::store::{self, LocalUser};
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
    /// Manage local users (the store file named by access.users_file).
    /// Passwords are read from a prompt without echo, or from standard input
    /// when it is not a terminal; never from the command line.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Write a complete, commented configuration for this server's domain:
    /// HTTPS on 443, a certificate by ACME, the redirect on 80. Asks for
    /// what the flags leave open when run on a terminal. Never replaces an
    /// existing configuration (except the Debian package's untouched one).
    Init(InitArgs),
    /// Recordings in recording.directory: list them, delete one, or decrypt
    /// one with the operator's private key (kept off the server).
    Recording {
        #[command(subcommand)]
        command: RecordingCommand,
    },
}

#[derive(Debug, Subcommand)]
enum RecordingCommand {
    /// Every recording: id, start (UTC), files, size, when retention deletes it.
    /// Names and rooms are inside the encrypted files and are not shown.
    List {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Delete one recording (all its files) now.
    Delete {
        /// The recording's id, as `list` shows it.
        id: String,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Decrypt every file of one recording into a directory, with the
    /// Duration of each WebM file filled in; the manifest says who is in
    /// which file (docs/recording.md tells how to merge them with ffmpeg).
    Decrypt {
        /// The recording's id, as `list` shows it.
        id: String,
        /// The operator's age identity file (from age-keygen).
        #[arg(long, short)]
        identity: PathBuf,
        /// Where to write the decrypted files (created, mode 0700).
        #[arg(long, short)]
        out: PathBuf,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, clap::Args)]
struct InitArgs {
    /// The server's DNS name, e.g. meet.praxis-beispiel.de.
    #[arg(long)]
    domain: Option<String>,
    /// E-mail address the certificate authority may write to (optional).
    #[arg(long)]
    contact: Option<String>,
    /// Who may open rooms: open, secure (default: hosts log in, guests wait) or closed.
    #[arg(long)]
    access: Option<String>,
    /// Language for browsers that prefer neither German nor English: de or en (default).
    #[arg(long)]
    language: Option<String>,
    /// Name shown to participants, e.g. the practice's (default: Kabine).
    #[arg(long)]
    name: Option<String>,
    /// Link to the imprint (Impressum).
    #[arg(long)]
    imprint_url: Option<String>,
    /// Link to the privacy notice (Datenschutzerklärung).
    #[arg(long)]
    privacy_url: Option<String>,
    /// ACME directory of the certificate authority (default: Let's Encrypt).
    #[arg(long)]
    acme_directory: Option<String>,
    /// Where to write the configuration.
    #[arg(long, short, default_value = "/etc/kabine/kabine.toml")]
    config: PathBuf,
    /// Never ask; take defaults for what the flags leave open.
    #[arg(long)]
    non_interactive: bool,
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
    /// Add a section mapping the requirements of a set of rules to the
    /// checks: `anlage-31b` (video sessions of German therapy practices).
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add a user who may log in and host rooms.
    Add {
        /// Login name: a-z, 0-9, '.', '_', '@', '-' (uppercase is lowered).
        name: String,
        /// The name others see in a call; default: the login name.
        #[arg(long)]
        display_name: Option<String>,
        /// Configuration file; without it, the defaults.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Remove a user; their sessions on a running server end.
    Remove {
        name: String,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// List the users, with their display names and hash parameters.
    List {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Set a new password; the user's sessions on a running server end.
    Passwd {
        name: String,
        #[arg(long, short)]
        config: Option<PathBuf>,
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
    crate::logging::install_panic_hook();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => serve(config.as_deref()),
        Command::Policy { command: PolicyCommand::Check { config } } => policy_check(config.as_deref()),
        Command::Audit(args) => audit(args),
        Command::User { command } => crate::cli::user(command),
        Command::Init(args) => init(args),
        Command::Recording { command } => recording(command),
    }
}

/// The config at `path`, or the demo's without one; a config that does not
/// load is printed (one line per problem) as the exit code's reason.
fn config_or_demo(path: Option<&std::path::Path>) -> Result<LoadedConfig, ExitCode> {
    match path {
        Some(p) => config::load(p).map_err(|e| {
            eprintln!("{e}");
            ExitCode::from(EXIT_CONFIG)
        }),
        None => Ok(LoadedConfig::demo()),
    }
}

fn recording(command: RecordingCommand) -> ExitCode {
    use crate::record::store;
    let config = match &command {
        RecordingCommand::List { config }
        | RecordingCommand::Delete { config, .. }
        | RecordingCommand::Decrypt { config, .. } => config.clone(),
    };
    let loaded = match config_or_demo(config.as_deref()) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let rec = &loaded.config.recording;
    let dir = loaded.resolve_path(&rec.directory);
    let result = match command {
        RecordingCommand::List { .. } => store::list(&dir, rec.retention_days).map_err(|e| e.to_string()).map(|list| {
            if list.is_empty() {
                println!("no recordings in {}", dir.display());
            }
            for r in list {
                let when = |t: Option<u64>| t.map_or("?".to_string(), store::utc);
                println!(
                    "{}  started {}  {} file(s)  {:.1} MB  deleted after {}",
                    r.id,
                    when(r.started_unix),
                    r.files,
                    r.bytes as f64 / 1e6,
                    when(r.expires_unix)
                );
            }
        }),
        RecordingCommand::Delete { id, .. } => store::delete(&dir, &id).map(|()| println!("deleted {id}")),
        RecordingCommand::Decrypt { id, identity, out, .. } => store::decrypt_recording(&dir, &id, &identity, &out)
            .map(|lines| {
                for l in lines {
                    println!("{l}");
                }
                println!("written to {}", out.display());
            }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("kabine: {message}");
            ExitCode::from(EXIT_USER)
        }
    }
}

fn init(args: InitArgs) -> ExitCode {
    use std::io::IsTerminal;
    let options = crate::init::Options {
        domain: args.domain,
        contact: args.contact,
        access: args.access,
        language: args.language,
        name: args.name,
        imprint_url: args.imprint_url,
        privacy_url: args.privacy_url,
        acme_directory: args.acme_directory,
        path: args.config,
        interactive: !args.non_interactive && std::io::stdin().is_terminal(),
    };
    let written = crate::init::answers(&options).and_then(|a| crate::init::write(&options, &a).map(|()| a));
    match written {
        Ok(answers) => {
            let p = options.path.display();
            println!("wrote {p}");
            println!("next: kabine policy check --config {p}");
            println!("      kabine user add NAME --config {p}   (hosts who log in, unless access is \"open\")");
            println!("      systemctl enable --now kabine");
            println!("      kabine audit --config {p} --url https://{}", answers.domain);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kabine init: {e}");
            ExitCode::from(EXIT_USER)
        }
    }
}

/// Every verdict for a config ([`policy::verdicts`], with the user store
/// file read).
fn verdicts(loaded: &LoadedConfig, policy: &Policy) -> Vec<policy::Verdict> {
    policy::verdicts(loaded, policy, &crate::auth::user_store_facts(loaded))
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
    let verdicts = verdicts(&loaded, &policy);
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
    let profile = match args.profile.as_deref().map(crate::audit::profile::Profile::parse).transpose() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("kabine audit: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
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
    let options =
        crate::audit::Options { url: args.url, ca_files: args.ca, log_paths: args.logs, only: args.only, profile };
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
    if let Some(p) = &report.profile {
        let count = |s: Status| p.rows.iter().filter(|r| r.status == s).count();
        eprintln!(
            "kabine audit: profile {}: {} of {} requirements met and measured, {} failed, {} not met or not measured \
             (see the report's profile section)",
            p.name,
            count(Status::Pass),
            p.rows.len(),
            count(Status::Fail),
            count(Status::Warn)
        );
    }
    if run.passed() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_AUDIT_FAILED) }
}

fn serve(path: Option<&Path>) -> ExitCode {
    let (loaded, policy) = match load_with_policy(path) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let violations = policy::violation_lines(&loaded, &verdicts(&loaded, &policy));
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
        let signals = crate::server::ShutdownSignals::install();
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
        signals.wait().await;
        println!("Kabine is shutting down");
        if server.stop().await {
            ExitCode::SUCCESS
        } else {
            eprintln!("kabine: some connections did not close in time");
            ExitCode::SUCCESS
        }
    })
}

/// Exit code for a refused user command (unknown user, weak password, …).
const EXIT_USER: u8 = 1;

fn user(command: UserCommand) -> ExitCode {
    let config = match &command {
        UserCommand::Add { config, .. }
        | UserCommand::Remove { config, .. }
        | UserCommand::List { config }
        | UserCommand::Passwd { config, .. } => config.clone(),
    };
    let loaded = match config_or_demo(config.as_deref()) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let path = loaded.resolve_path(&loaded.config.access.users_file);
    let result = match command {
        UserCommand::Add { name, display_name, .. } => user_add(&path, &name, display_name),
        UserCommand::Remove { name, .. } => user_remove(&path, &name),
        UserCommand::List { .. } => user_list(&path),
        UserCommand::Passwd { name, .. } => user_passwd(&path, &name),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("kabine: {message}");
            ExitCode::from(EXIT_USER)
        }
    }
}

fn user_name(name: &str) -> Result<String, String> {
    let lower = name.trim().to_lowercase();
    store::check_name(&lower)?;
    Ok(lower)
}

fn user_add(path: &Path, name: &str, display_name: Option<String>) -> Result<(), String> {
    let name = user_name(name)?;
    if let Some(d) = &display_name {
        store::check_display_name(d)?;
    }
    if store::read(path).map_err(|e| e.to_string())?.get(&name).is_some() {
        return Err(format!("user {name} exists already in {}; nothing was changed", path.display()));
    }
    let password = read_new_password(&name)?;
    let hash = password::hash(&password);
    let display_name = display_name.map(|d| d.trim().to_string());
    let added = store::edit(path, |users| {
        if users.get(&name).is_some() {
            return Err(format!("user {name} exists already; nothing was changed"));
        }
        users.put(LocalUser { name: name.clone(), hash, display_name });
        Ok(())
    })
    .map_err(|e| e.to_string())?;
    added?;
    println!("added user {name} to {}", path.display());
    Ok(())
}

fn user_remove(path: &Path, name: &str) -> Result<(), String> {
    let name = user_name(name)?;
    let removed = store::edit(path, |users| {
        users.remove(&name).map(|_| ()).ok_or_else(|| format!("no user {name} in {}", path.display()))
    })
    .map_err(|e| e.to_string())?;
    removed?;
    println!("removed user {name} from {}", path.display());
    Ok(())
}

fn user_passwd(path: &Path, name: &str) -> Result<(), String> {
    let name = user_name(name)?;
    if store::read(path).map_err(|e| e.to_string())?.get(&name).is_none() {
        return Err(format!("no user {name} in {}", path.display()));
    }
    let password = read_new_password(&name)?;
    let hash = password::hash(&password);
    let changed = store::edit(path, |users| {
        let mut user = users.get(&name).cloned().ok_or_else(|| format!("no user {name} in {}", path.display()))?;
        user.hash = hash;
        users.put(user);
        Ok::<(), String>(())
    })
    .map_err(|e| e.to_string())?;
    changed?;
    println!("changed the password of {name}; a running server ends their sessions");
    Ok(())
}

fn user_list(path: &Path) -> Result<(), String> {
    let users = store::read(path).map_err(|e| e.to_string())?;
    if users.is_empty() {
        println!("no local users in {}", path.display());
        return Ok(());
    }
    let rows: Vec<(String, String, String)> = users
        .iter()
        .map(|u| {
            let hash = match password::HashParams::parse(&u.hash) {
                Ok(p) if p.meets_minimum() => p.to_string(),
                Ok(p) => format!("{p} (below the minimum: run kabine user passwd)"),
                Err(e) => e,
            };
            (u.name.clone(), u.display_name.clone().unwrap_or_default(), hash)
        })
        .collect();
    let w0 = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0).max(4);
    let w1 = rows.iter().map(|r| r.1.chars().count()).max().unwrap_or(0).max(12);
    println!("{:<w0$}  {:<w1$}  HASH", "NAME", "DISPLAY NAME");
    for (name, display, hash) in rows {
        println!("{name:<w0$}  {display:<w1$}  {hash}");
    }
    Ok(())
}

/// Reads a new password: from the terminal without echo (twice), or one
/// line from standard input when it is not a terminal. Never from the
/// command line, where it would end up in the shell history.
fn read_new_password(name: &str) -> Result<Password, String> {
    use std::io::{IsTerminal, Read};
    let password = if std::io::stdin().is_terminal() {
        eprintln!(
            "Choose a password for {name}: at least {} characters, {} or more recommended; \
             any characters, a sentence is fine.",
            password::MIN_CHARS,
            password::RECOMMENDED_CHARS
        );
        let first = Password::new(
            rpassword::prompt_password("New password: ").map_err(|e| format!("cannot read the password: {e}"))?,
        );
        password::check_new(&first, name).map_err(|w| format!("{w}; nothing was changed"))?;
        let again = Password::new(
            rpassword::prompt_password("Repeat it: ").map_err(|e| format!("cannot read the password: {e}"))?,
        );
        if first.expose() != again.expose() {
            return Err("the two passwords differ; nothing was changed".into());
        }
        first
    } else {
        // One line, at most a little more than the longest password allowed.
        let mut bytes = zeroize::Zeroizing::new(Vec::new());
        let limit = (password::MAX_CHARS * 4 + 3) as u64;
        std::io::stdin()
            .lock()
            .take(limit)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
        let end = bytes.iter().position(|&b| b == b'\n').unwrap_or(bytes.len());
        let mut line = &bytes[..end];
        if let Some(stripped) = line.strip_suffix(b"\r") {
            line = stripped;
        }
        let text = std::str::from_utf8(line).map_err(|_| "the password on standard input is not UTF-8".to_string())?;
        if text.is_empty() {
            return Err("no password on standard input; nothing was changed".into());
        }
        Password::new(text.to_string())
    };
    password::check_new(&password, name).map_err(|w| format!("{w}; nothing was changed"))?;
    Ok(password)
}
