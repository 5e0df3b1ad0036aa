//! `kabine audit`: a data-protection report measured from the configuration
//! and from the running server.
//!
//! Static checks read the configuration and the active privacy policy and
//! ask the policy's own functions ([`crate::policy::check`],
//! [`crate::policy::ice_server_allowed`], [`crate::policy::csp_header`], …):
//! the audit never holds a second copy of a rule. Live checks (with `--url`)
//! talk to the server the way a browser or an attacker would: raw TLS
//! ClientHellos, HTTPS requests, the signalling protocol. Every check is
//! described once, in `audit/checks.toml`; [`report`] renders the results,
//! with the sections a data-protection officer files, as Markdown, HTML or
//! JSON, in German or English.

pub mod addresses;
pub mod catalogue;
pub(crate) mod der;
mod live;
pub mod profile;
pub mod report;
mod scan;
mod statics;
pub mod text;
mod time;

use std::path::PathBuf;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::config::LoadedConfig;
use crate::policy::Policy;
pub use catalogue::{Kind, SdmGoal};
pub use live::Target;
pub use text::{Lang, Msg};

/// The verdict of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The measure is in place, as measured.
    Pass,
    /// In place, but something needs the operator's attention (e.g. a
    /// certificate that browsers do not trust in the demo). Does not fail the audit.
    Warn,
    /// The measure is missing or broken, or could not be confirmed. Fails the audit.
    Fail,
    /// The check does not apply to this configuration (or needs `--url`).
    NotApplicable,
}

/// What a check found.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub status: Status,
    /// One sentence: the verdict and why.
    pub summary: Msg,
    /// What was measured, item by item.
    pub evidence: Vec<Msg>,
}

impl Outcome {
    pub fn new(status: Status, summary: Msg) -> Outcome {
        Outcome { status, summary, evidence: Vec::new() }
    }
    pub fn pass(summary: Msg) -> Outcome {
        Outcome::new(Status::Pass, summary)
    }
    pub fn warn(summary: Msg) -> Outcome {
        Outcome::new(Status::Warn, summary)
    }
    pub fn fail(summary: Msg) -> Outcome {
        Outcome::new(Status::Fail, summary)
    }
    pub fn not_applicable(summary: Msg) -> Outcome {
        Outcome::new(Status::NotApplicable, summary)
    }
    /// Adds one item of evidence.
    pub fn with(mut self, item: Msg) -> Outcome {
        self.evidence.push(item);
        self
    }
    /// Adds items of evidence.
    pub fn with_all(mut self, items: impl IntoIterator<Item = Msg>) -> Outcome {
        self.evidence.extend(items);
        self
    }
}

/// The outcome of one check, with its id.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub id: &'static str,
    pub kind: Kind,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Checks that read the configuration and the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaticCheck {
    PolicyPreset,
    LogLevel,
    LogRetention,
    LogRedaction,
    IceServers,
    TlsMinVersion,
    TlsCertificateFiles,
    Acme,
    RoomLimits,
    Teletherapy,
    Recording,
    P2p,
    E2ee,
    ThirdParty,
    LegalLinks,
    AccessMode,
    PasswordHashes,
    LdapTls,
    DataDirectory,
    ConfigPermissions,
}

impl StaticCheck {
    /// Every static check, in report order.
    pub const ALL: &'static [StaticCheck] = &[
        StaticCheck::PolicyPreset,
        StaticCheck::TlsMinVersion,
        StaticCheck::TlsCertificateFiles,
        StaticCheck::Acme,
        StaticCheck::ThirdParty,
        StaticCheck::IceServers,
        StaticCheck::P2p,
        StaticCheck::E2ee,
        StaticCheck::Recording,
        StaticCheck::RoomLimits,
        StaticCheck::Teletherapy,
        StaticCheck::AccessMode,
        StaticCheck::PasswordHashes,
        StaticCheck::LdapTls,
        StaticCheck::LogLevel,
        StaticCheck::LogRetention,
        StaticCheck::LogRedaction,
        StaticCheck::DataDirectory,
        StaticCheck::ConfigPermissions,
        StaticCheck::LegalLinks,
    ];

    pub fn id(self) -> &'static str {
        match self {
            StaticCheck::PolicyPreset => "static.policy.preset",
            StaticCheck::LogLevel => "static.log.level",
            StaticCheck::LogRetention => "static.log.retention",
            StaticCheck::LogRedaction => "static.log.redaction",
            StaticCheck::IceServers => "static.ice.eu-allow-list",
            StaticCheck::TlsMinVersion => "static.tls.min-version",
            StaticCheck::TlsCertificateFiles => "static.tls.certificate-files",
            StaticCheck::Acme => "static.tls.acme",
            StaticCheck::RoomLimits => "static.rooms.limits",
            StaticCheck::Teletherapy => "static.teletherapy",
            StaticCheck::Recording => "static.recording.consent",
            StaticCheck::P2p => "static.p2p",
            StaticCheck::E2ee => "static.e2ee",
            StaticCheck::ThirdParty => "static.client.third-party",
            StaticCheck::LegalLinks => "static.client.legal-links",
            StaticCheck::AccessMode => "static.access.mode",
            StaticCheck::PasswordHashes => "static.auth.password-hashes",
            StaticCheck::LdapTls => "static.auth.ldap-tls",
            StaticCheck::DataDirectory => "static.data.directory",
            StaticCheck::ConfigPermissions => "static.config.permissions",
        }
    }
}

/// Checks that talk to the running server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveCheck {
    TlsVersions,
    TlsCipherSuites,
    CertificateTrust,
    CertificateExpiry,
    Hsts,
    Csp,
    SecurityHeaders,
    NoVersionHeader,
    ClientNoThirdParty,
    NoCookies,
    WsForeignOrigin,
    RoomLifecycle,
    RoomNoDiskWrites,
    IceServers,
    Recording,
    RecordingFiles,
    E2eeMedia,
    TeletherapyLinks,
    LogsNoAddresses,
}

impl LiveCheck {
    /// Every live check, in the order they run and are reported.
    pub const ALL: &'static [LiveCheck] = &[
        LiveCheck::TlsVersions,
        LiveCheck::TlsCipherSuites,
        LiveCheck::CertificateTrust,
        LiveCheck::CertificateExpiry,
        LiveCheck::Hsts,
        LiveCheck::Csp,
        LiveCheck::SecurityHeaders,
        LiveCheck::NoVersionHeader,
        LiveCheck::ClientNoThirdParty,
        LiveCheck::NoCookies,
        LiveCheck::WsForeignOrigin,
        LiveCheck::IceServers,
        LiveCheck::RoomLifecycle,
        LiveCheck::RoomNoDiskWrites,
        LiveCheck::Recording,
        LiveCheck::RecordingFiles,
        LiveCheck::E2eeMedia,
        LiveCheck::TeletherapyLinks,
        LiveCheck::LogsNoAddresses,
    ];

    pub fn id(self) -> &'static str {
        match self {
            LiveCheck::TlsVersions => "live.tls.versions",
            LiveCheck::TlsCipherSuites => "live.tls.cipher-suites",
            LiveCheck::CertificateTrust => "live.tls.certificate-trust",
            LiveCheck::CertificateExpiry => "live.tls.certificate-expiry",
            LiveCheck::Hsts => "live.http.hsts",
            LiveCheck::Csp => "live.http.csp",
            LiveCheck::SecurityHeaders => "live.http.security-headers",
            LiveCheck::NoVersionHeader => "live.http.no-version-header",
            LiveCheck::ClientNoThirdParty => "live.client.no-third-party",
            LiveCheck::NoCookies => "live.client.no-cookies",
            LiveCheck::WsForeignOrigin => "live.ws.foreign-origin",
            LiveCheck::RoomLifecycle => "live.rooms.lifecycle",
            LiveCheck::RoomNoDiskWrites => "live.rooms.no-disk-writes",
            LiveCheck::IceServers => "live.ice.eu-allow-list",
            LiveCheck::Recording => "live.recording.consent",
            LiveCheck::RecordingFiles => "live.recording.files",
            LiveCheck::E2eeMedia => "live.e2ee.media",
            LiveCheck::TeletherapyLinks => "live.teletherapy.links",
            LiveCheck::LogsNoAddresses => "live.logs.no-addresses",
        }
    }
}

/// Every implemented check id with its kind, in report order.
pub fn implemented() -> Vec<(&'static str, Kind)> {
    let mut v: Vec<_> = StaticCheck::ALL.iter().map(|c| (c.id(), Kind::Static)).collect();
    v.extend(LiveCheck::ALL.iter().map(|c| (c.id(), Kind::Live)));
    v
}

/// How `kabine audit` was asked to run.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `https://HOST[:PORT]` of the running server; without it, live checks
    /// are reported as not applicable.
    pub url: Option<String>,
    /// Extra trust anchors (PEM) for the certificate check, e.g. an internal CA.
    pub ca_files: Vec<PathBuf>,
    /// Extra log files or directories to scan for addresses (e.g. a journal
    /// export), besides the configured log directory.
    pub log_paths: Vec<PathBuf>,
    /// Only checks whose id equals one of these or starts with it followed
    /// by a dot (`live.tls` selects `live.tls.versions`, …). Empty: all.
    pub only: Vec<String>,
    /// A profile whose requirements the report maps to the checks.
    pub profile: Option<profile::Profile>,
}

impl Options {
    fn selects(&self, id: &str) -> bool {
        self.only.is_empty()
            || self.only.iter().any(|p| id == p || id.strip_prefix(p.as_str()).is_some_and(|r| r.starts_with('.')))
    }
}

/// A finished audit.
#[derive(Debug, Clone)]
pub struct AuditRun {
    pub results: Vec<CheckResult>,
    pub started: SystemTime,
    pub finished: SystemTime,
    /// The server probed, if any.
    pub url: Option<String>,
    /// The selection given with `--only`.
    pub only: Vec<String>,
    /// The profile given with `--profile`.
    pub profile: Option<profile::Profile>,
    /// Facts the live checks learnt that the report's sections use.
    pub facts: Facts,
}

/// What the live probe learnt about the server, for the report's sections.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Facts {
    /// STUN/TURN URLs the server handed to the audit's participant.
    pub ice_servers_live: Option<Vec<String>>,
    /// TLS versions the server accepted.
    pub tls_versions: Vec<String>,
}

impl AuditRun {
    /// True if no check failed.
    pub fn passed(&self) -> bool {
        !self.results.iter().any(|r| r.outcome.status == Status::Fail)
    }

    pub fn count(&self, status: Status) -> usize {
        self.results.iter().filter(|r| r.outcome.status == status).count()
    }
}

/// Runs every selected check. Errors only for unusable options (a bad
/// `--url`, an `--only` that selects nothing); everything a check cannot
/// measure is reported in that check.
pub async fn run(loaded: &LoadedConfig, policy: &Policy, opts: &Options) -> Result<AuditRun, String> {
    for p in &opts.only {
        if !implemented().iter().any(|(id, _)| Options { only: vec![p.clone()], ..Options::default() }.selects(id)) {
            return Err(format!("--only {p}: no check has this id or prefix (see audit/checks.toml)"));
        }
    }
    let target = match &opts.url {
        Some(url) => Some(Target::parse(url)?),
        None => None,
    };
    let started = SystemTime::now();
    let mut results = Vec::new();
    let ctx = statics::Ctx::new(loaded, policy, started);
    for check in StaticCheck::ALL {
        if opts.selects(check.id()) {
            results.push(CheckResult { id: check.id(), kind: Kind::Static, outcome: statics::run(*check, &ctx) });
        }
    }
    let mut facts = Facts::default();
    let selected: Vec<LiveCheck> = LiveCheck::ALL.iter().copied().filter(|c| opts.selects(c.id())).collect();
    match target {
        None => {
            for check in selected {
                results.push(CheckResult {
                    id: check.id(),
                    kind: Kind::Live,
                    outcome: Outcome::not_applicable(text::t("live.no_url", &[])),
                });
            }
        }
        Some(target) => {
            let mut live = live::Ctx::new(target, loaded, policy, opts);
            for check in selected {
                let outcome = live.run(check).await;
                results.push(CheckResult { id: check.id(), kind: Kind::Live, outcome });
            }
            facts = live.facts();
        }
    }
    Ok(AuditRun {
        results,
        started,
        finished: SystemTime::now(),
        url: opts.url.clone(),
        only: opts.only.clone(),
        profile: opts.profile,
        facts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_implemented_check_is_in_the_catalogue_and_vice_versa() {
        let code: BTreeSet<(String, Kind)> = implemented().into_iter().map(|(id, k)| (id.to_string(), k)).collect();
        let listed: BTreeSet<(String, Kind)> = catalogue::all().iter().map(|e| (e.id.clone(), e.kind)).collect();
        let missing: Vec<_> = code.difference(&listed).collect();
        let extra: Vec<_> = listed.difference(&code).collect();
        assert!(missing.is_empty(), "implemented but not in audit/checks.toml (or with another kind): {missing:?}");
        assert!(extra.is_empty(), "in audit/checks.toml but not implemented: {extra:?}");
        assert_eq!(code.len(), implemented().len(), "an id is used twice in code");
    }

    #[test]
    fn only_selects_by_id_or_dotted_prefix() {
        let o = Options { only: vec!["live.tls".into(), "static.p2p".into()], ..Options::default() };
        assert!(o.selects("live.tls.versions"));
        assert!(o.selects("static.p2p"));
        assert!(!o.selects("live.tlsx"));
        assert!(!o.selects("live.http.hsts"));
        assert!(Options::default().selects("anything"));
    }
}
