//! The privacy policy: the one place where Kabine's privacy rules are decided.
//!
//! A [`Policy`] is loaded from a preset (`policy/*.toml`, built into the
//! binary) or from an operator's file. [`check`] is a pure function from a
//! configuration and a policy to one [`Verdict`] per rule; `kabine serve`
//! refuses to start on any violation, `kabine policy check` prints the
//! verdicts, and `kabine audit` reports them. Request handling asks the same
//! functions ([`ice_server_allowed`], [`csp_header`], …), never a copy.
//!
//! Some rules hold under every policy (the invariants): IP addresses are
//! never logged, the browser makes no third-party requests, room state lives
//! in memory only, TLS is 1.2 or newer, and recording needs everyone's
//! consent. A policy file cannot relax them.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::{AccessMode, E2eeMode, LoadedConfig, LogLevel, RoomStorage, TlsVersion};

/// Presets built into the binary, by name.
pub const PRESETS: &[(&str, &str)] = &[
    ("strict", include_str!("../../policy/strict.toml")),
    ("strict-no-p2p", include_str!("../../policy/strict-no-p2p.toml")),
    ("relaxed", include_str!("../../policy/relaxed.toml")),
    ("anlage-31b", include_str!("../../policy/anlage-31b.toml")),
];

/// A privacy policy, as written in a preset file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Name shown in verdicts and the audit report.
    pub name: String,
    /// One sentence on what the preset is for.
    pub description: String,
    pub log: LogPolicy,
    pub ice: IcePolicy,
    pub tls: TlsPolicy,
    pub recording: RecordingPolicy,
    pub p2p: P2pPolicy,
    /// End-to-end encryption (absent in older policy files: not required).
    #[serde(default)]
    pub e2ee: E2eePolicy,
    /// Who may open rooms (absent in older policy files: any access mode).
    #[serde(default)]
    pub access: AccessPolicy,
    /// Size of rooms and private messages (absent in older policy files:
    /// no cap beyond the config's own limit, private messages allowed).
    #[serde(default)]
    pub rooms: RoomsPolicy,
    /// Appointments for therapy sessions (absent in older policy files:
    /// not required).
    #[serde(default)]
    pub teletherapy: TeletherapyPolicy,
}

/// `[teletherapy]` of a policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TeletherapyPolicy {
    /// Whether a config must turn appointments on (`teletherapy.enabled`):
    /// one expiring link per patient, bound to the therapist, a consent
    /// step before the first entry, the waiting room, session records.
    pub required: bool,
}

/// `[access]` of a policy.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AccessPolicy {
    /// Whether a config may set `access.mode = "open"` (anyone opens rooms).
    /// `false` leaves "secure" and "closed": only logged-in hosts open rooms.
    pub open_allowed: bool,
}

impl Default for AccessPolicy {
    fn default() -> Self {
        AccessPolicy { open_allowed: true }
    }
}

/// `[rooms]` of a policy.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RoomsPolicy {
    /// Most participants a config may allow in one room
    /// (`rooms.max_participants`); absent: no cap beyond the config's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_participants: Option<u32>,
    /// Whether a config may let participants message one other participant
    /// (`rooms.private_chat`).
    pub private_chat_allowed: bool,
}

impl Default for RoomsPolicy {
    fn default() -> Self {
        RoomsPolicy { max_participants: None, private_chat_allowed: true }
    }
}

/// `[log]` of a policy.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogPolicy {
    /// The loudest level a config may set.
    pub max_level: LogLevel,
    /// Longest time a log file may be kept, in days.
    pub max_retention_days: u32,
}

/// `[ice]` of a policy.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IcePolicy {
    /// Host names of STUN/TURN servers in the EU that browsers may use.
    pub allowed_servers: Vec<String>,
}

/// `[tls]` of a policy.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsPolicy {
    /// Lowest TLS version a config may accept.
    pub min_version: TlsVersion,
}

/// `[recording]` of a policy.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RecordingPolicy {
    /// Whether a config may enable recording at all.
    pub allowed: bool,
    /// Longest time a recording may be kept, in days (absent: 90, the
    /// ceiling of every policy).
    #[serde(default = "default_recording_retention")]
    pub max_retention_days: u32,
}

fn default_recording_retention() -> u32 {
    RETENTION_CEILING_DAYS
}

/// `[p2p]` of a policy.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct P2pPolicy {
    /// Whether two participants may be connected directly.
    pub allowed: bool,
}

/// `[e2ee]` of a policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct E2eePolicy {
    /// Whether every meeting must be end-to-end encrypted
    /// (`e2ee.mode = "required"`).
    pub required: bool,
}

/// The floor no policy can go below.
const TLS_FLOOR: TlsVersion = TlsVersion::V1_2;
/// The loudest level any policy may allow: debug and trace lines hold SDP,
/// candidates and per-packet detail.
const LEVEL_CEILING: LogLevel = LogLevel::Info;
/// The longest retention any policy may allow.
const RETENTION_CEILING_DAYS: u32 = 90;

impl Policy {
    /// The default preset.
    pub fn strict() -> Policy {
        // The built-in presets are tested to parse (tests/config_files.rs).
        Policy::from_preset("strict").expect("the built-in strict preset parses")
    }

    /// A built-in preset by name.
    pub fn from_preset(name: &str) -> Result<Policy, String> {
        let Some((_, text)) = PRESETS.iter().find(|(n, _)| *n == name) else {
            let names: Vec<_> = PRESETS.iter().map(|(n, _)| *n).collect();
            return Err(format!("no built-in policy preset `{name}` (there are: {})", names.join(", ")));
        };
        Policy::from_toml(text, &format!("policy/{name}.toml"))
    }

    /// Parses a policy file's text and checks it against the invariants.
    pub fn from_toml(text: &str, source: &str) -> Result<Policy, String> {
        let policy: Policy = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            match line {
                Some(l) => format!("{source}:{l}: {}", e.message().trim()),
                None => format!("{source}: {}", e.message().trim()),
            }
        })?;
        let mut problems = Vec::new();
        if policy.tls.min_version < TLS_FLOOR {
            problems.push(format!("{source}: tls.min_version: no policy may allow TLS below 1.2"));
        }
        if policy.log.max_level > LEVEL_CEILING {
            problems.push(format!("{source}: log.max_level: no policy may allow levels louder than info"));
        }
        if policy.log.max_retention_days == 0 || policy.log.max_retention_days > RETENTION_CEILING_DAYS {
            problems.push(format!("{source}: log.max_retention_days: must be 1 to {RETENTION_CEILING_DAYS}"));
        }
        if policy.recording.max_retention_days == 0 || policy.recording.max_retention_days > RETENTION_CEILING_DAYS {
            problems.push(format!("{source}: recording.max_retention_days: must be 1 to {RETENTION_CEILING_DAYS}"));
        }
        for host in &policy.ice.allowed_servers {
            if host.is_empty() || host.contains([':', '/', ' ', '*']) {
                problems.push(format!("{source}: ice.allowed_servers: `{host}` must be a plain host name"));
            }
        }
        if policy.rooms.max_participants.is_some_and(|n| n < 2) {
            problems.push(format!("{source}: rooms.max_participants: must be at least 2"));
        }
        if problems.is_empty() { Ok(policy) } else { Err(problems.join("\n")) }
    }

    /// The policy a config names: a preset name, or a file path (relative
    /// paths are taken from the config file's directory).
    pub fn for_config(loaded: &LoadedConfig) -> Result<Policy, String> {
        let choice = loaded.config.policy.0.as_str();
        let looks_like_path = choice.contains('/') || choice.ends_with(".toml");
        if !looks_like_path {
            return Policy::from_preset(choice).map_err(|e| format!("{}: policy: {e}", loaded.source_name()));
        }
        let mut path = Path::new(choice).to_path_buf();
        if path.is_relative()
            && let Some(dir) = loaded.path.as_deref().and_then(Path::parent)
        {
            path = dir.join(path);
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("{}: policy: cannot read {}: {e}", loaded.source_name(), path.display()))?;
        Policy::from_toml(&text, &path.display().to_string())
    }

    /// Rules where this policy is looser than the strict preset, for the audit.
    pub fn deviations_from_strict(&self) -> Vec<String> {
        self.deviations_from(&Policy::strict())
    }

    /// Rules where this policy is looser than `strict` (another policy), for
    /// the audit and its profiles.
    pub fn deviations_from(&self, strict: &Policy) -> Vec<String> {
        let mut out = Vec::new();
        if self.log.max_level > strict.log.max_level {
            out.push(format!(
                "log.max_level = {} ({}: {})",
                self.log.max_level.as_str(),
                strict.name,
                strict.log.max_level.as_str()
            ));
        }
        if self.log.max_retention_days > strict.log.max_retention_days {
            out.push(format!(
                "log.max_retention_days = {} ({}: {})",
                self.log.max_retention_days, strict.name, strict.log.max_retention_days
            ));
        }
        let extra: Vec<_> =
            self.ice.allowed_servers.iter().filter(|h| !strict.ice.allowed_servers.contains(h)).cloned().collect();
        if !extra.is_empty() {
            out.push(format!("ice.allowed_servers adds {}", extra.join(", ")));
        }
        if self.tls.min_version < strict.tls.min_version {
            out.push(format!("tls.min_version = {}", self.tls.min_version.as_str()));
        }
        if self.recording.allowed && !strict.recording.allowed {
            out.push("recording.allowed = true".into());
        }
        if self.p2p.allowed && !strict.p2p.allowed {
            out.push("p2p.allowed = true".into());
        }
        if !self.e2ee.required && strict.e2ee.required {
            out.push("e2ee.required = false".into());
        }
        if self.access.open_allowed && !strict.access.open_allowed {
            out.push("access.open_allowed = true".into());
        }
        if let Some(cap) = strict.rooms.max_participants
            && self.rooms.max_participants.is_none_or(|n| n > cap)
        {
            out.push(format!("rooms.max_participants above {cap}"));
        }
        if self.rooms.private_chat_allowed && !strict.rooms.private_chat_allowed {
            out.push("rooms.private_chat_allowed = true".into());
        }
        if !self.teletherapy.required && strict.teletherapy.required {
            out.push("teletherapy.required = false".into());
        }
        out
    }
}

/// Stable identifiers of the rules, as printed and as used by the audit.
pub mod rule {
    pub const LOG_LEVEL: &str = "log-level-cap";
    pub const LOG_RETENTION: &str = "log-retention-cap";
    pub const NO_ADDRESSES_IN_LOGS: &str = "no-ip-addresses-in-logs";
    pub const NO_PERSONAL_DATA_IN_LOGS: &str = "no-personal-data-in-logs";
    pub const ICE_SERVERS_EU: &str = "ice-servers-eu-only";
    pub const TLS_MIN_VERSION: &str = "tls-min-version";
    pub const ROOM_STATE_MEMORY_ONLY: &str = "room-state-memory-only";
    pub const RECORDING_OFF: &str = "recording-off";
    pub const RECORDING_CONSENT: &str = "recording-needs-consent";
    pub const RECORDING_ENCRYPTED: &str = "recording-encrypted-at-rest";
    pub const RECORDING_RETENTION: &str = "recording-retention-cap";
    pub const NO_THIRD_PARTY_REQUESTS: &str = "no-third-party-requests";
    pub const P2P: &str = "p2p-allowed";
    pub const LDAP_TLS: &str = "ldap-requires-tls";
    pub const SESSION_TIMEOUTS: &str = "session-timeouts";
    pub const PASSWORD_HASH: &str = "password-hash-minimum";
    pub const USER_STORE_PRIVATE: &str = "user-store-private";
    pub const ACME_CA: &str = "acme-ca";
    pub const E2EE: &str = "e2ee-required";
    pub const ACCESS_MODE: &str = "access-not-open";
    pub const ROOM_SIZE: &str = "room-size-cap";
    pub const PRIVATE_CHAT: &str = "private-chat-off";
    pub const TELETHERAPY: &str = "teletherapy-appointments";
}

/// Longest idle time of a login session any config may set (OWASP ASVS
/// 3.3.2, level 2: 30 minutes of inactivity).
pub const SESSION_IDLE_CEILING_MINUTES: u32 = 30;
/// Longest life of a login session any config may set (ASVS 3.3.2: 12 hours).
pub const SESSION_LIFETIME_CEILING_HOURS: u32 = 12;

/// Whether two participants of a room are connected directly (peer to
/// peer): the config does not turn it off and the policy allows it. A
/// config that leaves `p2p.enabled` unset follows the policy; the server,
/// the client and the audit all ask this. Pure.
pub fn p2p_in_use(loaded: &LoadedConfig, policy: &Policy) -> bool {
    loaded.config.p2p.enabled && policy.p2p.allowed
}

/// Whether a host may start a recording in a meeting: the operator
/// enabled recording (which the policy allowed, or the server would not
/// have started), and the meeting is not end-to-end encrypted: the server
/// cannot see an E2EE meeting's media, and must never be made to, so such
/// a meeting can never be recorded, under any policy. The rooms ask this
/// for every `record_start`. Pure.
pub fn recording_possible(enabled: bool, meeting_e2ee: bool) -> bool {
    enabled && !meeting_e2ee
}

/// Whether an LDAP connection is encrypted before any password crosses it:
/// `ldaps://`, or `ldap://` upgraded with StartTLS. Pure.
pub fn ldap_transport_is_encrypted(url: &str, starttls: bool) -> bool {
    let url = url.to_ascii_lowercase();
    url.starts_with("ldaps://") || (url.starts_with("ldap://") && starttls)
}

/// What is known about the local user store file, gathered by
/// `kabine::auth::store::inspect` (the I/O) for [`check_user_store`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserStoreFacts {
    /// No file: no local users.
    Missing,
    Unreadable(String),
    /// Not a store file; `line` is 1-based.
    Malformed {
        line: usize,
        message: String,
    },
    Present {
        /// Unix permission bits.
        mode: u32,
        users: usize,
        /// Lines whose hash is below the minimum.
        weak_lines: Vec<usize>,
        /// The parameters of the first weak hash, for the message.
        weakest: Option<String>,
    },
}

/// The outcome of one rule for one configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Stable rule id (see [`rule`]).
    pub rule: &'static str,
    /// The config key the rule looks at; empty if it holds by construction.
    pub key: String,
    /// Line of that key in the config file, if the file sets it.
    pub line: Option<usize>,
    pub ok: bool,
    /// What was found, in one sentence.
    pub detail: String,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = if self.ok { "ok  " } else { "FAIL" };
        write!(f, "{mark} {:<26}", self.rule)?;
        if !self.key.is_empty() {
            write!(f, " {}", self.key)?;
        }
        write!(f, ": {}", self.detail)
    }
}

/// Decides every rule of `policy` for `loaded`. Pure: no I/O.
pub fn check(loaded: &LoadedConfig, policy: &Policy) -> Vec<Verdict> {
    let c = &loaded.config;
    let mut out = Vec::new();
    let mut verdict = |rule: &'static str, key: &str, ok: bool, detail: String| {
        out.push(Verdict { rule, key: key.to_string(), line: loaded.keys.line_of(key), ok, detail });
    };

    let level = c.log.level;
    verdict(
        rule::LOG_LEVEL,
        "log.level",
        level <= policy.log.max_level,
        if level <= policy.log.max_level {
            format!("\"{}\", within the policy's cap \"{}\"", level.as_str(), policy.log.max_level.as_str())
        } else {
            format!(
                "\"{}\" is louder than the policy's cap \"{}\"; set \"{}\" or quieter",
                level.as_str(),
                policy.log.max_level.as_str(),
                policy.log.max_level.as_str()
            )
        },
    );

    let days = c.log.retention_days;
    let max_days = policy.log.max_retention_days;
    verdict(
        rule::LOG_RETENTION,
        "log.retention_days",
        days <= max_days,
        if days <= max_days {
            format!("log files are deleted after {days} days (policy: at most {max_days})")
        } else {
            format!("{days} days is longer than the policy allows ({max_days})")
        },
    );

    verdict(
        rule::NO_ADDRESSES_IN_LOGS,
        "log.redact_addresses",
        c.log.redact_addresses,
        if c.log.redact_addresses {
            "every IPv4 and IPv6 address is removed from every log line before it is written".into()
        } else {
            "false is not allowed: IP addresses are never logged, under any policy".into()
        },
    );

    verdict(
        rule::NO_PERSONAL_DATA_IN_LOGS,
        "",
        true,
        "names, room names, SDP and candidates are never logged in clear (by construction)".into(),
    );

    let own_hosts = own_hosts(loaded);
    let mut foreign = Vec::new();
    let mut ice_key = "media.ice_servers".to_string();
    for (i, server) in c.media.ice_servers.iter().enumerate() {
        for url in &server.urls {
            if !ice_server_allowed(url, policy, &own_hosts) {
                if foreign.is_empty() {
                    ice_key = format!("media.ice_servers[{i}].urls");
                }
                foreign.push(url.clone());
            }
        }
    }
    verdict(
        rule::ICE_SERVERS_EU,
        &ice_key,
        foreign.is_empty(),
        if !foreign.is_empty() {
            format!(
                "{} not on the policy's EU allow-list ({}); remove it or run your own STUN/TURN server",
                foreign.join(", "),
                policy.ice.allowed_servers.join(", ")
            )
        } else if c.media.ice_servers.is_empty() {
            "none configured: browsers reach the server directly and learn nothing from third parties".into()
        } else {
            format!("{} server(s), all on the EU allow-list or this server itself", c.media.ice_servers.len())
        },
    );

    let min = c.tls.min_version;
    let floor = policy.tls.min_version.max(TLS_FLOOR);
    verdict(
        rule::TLS_MIN_VERSION,
        "tls.min_version",
        min >= floor,
        if min >= floor {
            format!("TLS {} and newer only", min.as_str())
        } else {
            format!("\"{}\" is below the policy's minimum \"{}\"", min.as_str(), floor.as_str())
        },
    );

    let memory = c.rooms.storage == RoomStorage::Memory;
    verdict(
        rule::ROOM_STATE_MEMORY_ONLY,
        "rooms.storage",
        memory,
        if memory {
            "rooms, chat, lobby and passwords live in memory and are wiped when a room ends".into()
        } else {
            "room state must stay in memory; set rooms.storage = \"memory\"".into()
        },
    );

    let rec_ok = !c.recording.enabled || policy.recording.allowed;
    verdict(
        rule::RECORDING_OFF,
        "recording.enabled",
        rec_ok,
        match (c.recording.enabled, rec_ok) {
            (false, _) => "recording is off".into(),
            (true, true) => "recording is enabled, as the policy allows".into(),
            (true, false) => format!("the policy \"{}\" does not allow recording; set false", policy.name),
        },
    );

    verdict(
        rule::RECORDING_CONSENT,
        "recording.require_consent",
        c.recording.require_consent,
        if c.recording.require_consent {
            "a recording can only start once every participant has consented".into()
        } else {
            "false is not allowed: recording never happens without everyone's consent".into()
        },
    );

    let rec = &c.recording;
    let keys_ok = !rec.enabled || !rec.recipients.is_empty();
    verdict(
        rule::RECORDING_ENCRYPTED,
        "recording.recipients",
        keys_ok,
        match (rec.enabled, keys_ok) {
            (false, _) => "recording is off: nothing is written".into(),
            (true, true) => format!(
                "every file is encrypted as it is written to {} age public key(s); the server cannot read it back",
                rec.recipients.len()
            ),
            (true, false) => {
                "recording needs the operator's age public key: files are never written unencrypted".into()
            }
        },
    );
    let cap = policy.recording.max_retention_days;
    let kept_ok = !rec.enabled || rec.retention_days <= cap;
    verdict(
        rule::RECORDING_RETENTION,
        "recording.retention_days",
        kept_ok,
        if kept_ok {
            format!("recordings are deleted after {} days (policy allows {cap})", rec.retention_days)
        } else {
            format!("{} days is longer than the policy \"{}\" allows ({cap})", rec.retention_days, policy.name)
        },
    );

    let origins = &c.client.external_origins;
    verdict(
        rule::NO_THIRD_PARTY_REQUESTS,
        "client.external_origins",
        origins.is_empty(),
        if origins.is_empty() {
            "every asset is served by Kabine; Content-Security-Policy default-src 'self'".into()
        } else {
            format!("{} would let browsers contact other origins; remove it", origins.join(", "))
        },
    );

    // Only an explicit `p2p.enabled = true` can contradict the policy: the
    // default follows it.
    let asked_for = loaded.keys.line_of("p2p.enabled").is_some() && c.p2p.enabled;
    let p2p_ok = policy.p2p.allowed || !asked_for;
    verdict(
        rule::P2P,
        "p2p.enabled",
        p2p_ok,
        match (p2p_in_use(loaded, policy), p2p_ok) {
            (true, _) => "two participants talk directly, end-to-end encrypted; each learns the other's IP address \
                          (the server's own STUN port tells browsers their public address)"
                .into(),
            (false, false) => format!("the policy \"{}\" forbids direct calls; set false", policy.name),
            (false, true) if !c.p2p.enabled => "off: media always goes through the server".into(),
            (false, true) => format!(
                "off, as the policy \"{}\" forbids direct calls: media always goes through the server",
                policy.name
            ),
        },
    );

    let mode = c.e2ee.mode;
    let e2ee_ok = !policy.e2ee.required || mode == E2eeMode::Required;
    verdict(
        rule::E2EE,
        "e2ee.mode",
        e2ee_ok,
        match (mode, e2ee_ok) {
            (_, false) => format!(
                "\"{}\": the policy \"{}\" requires every meeting to be end-to-end encrypted; set \"required\"",
                mode.as_str(),
                policy.name
            ),
            (E2eeMode::Required, true) => format!(
                "every meeting is end-to-end encrypted: browsers encrypt media with keys the server never has \
                 (at most {} participants)",
                c.e2ee.max_participants
            ),
            (E2eeMode::Optional, true) => format!(
                "a meeting's moderator may turn end-to-end encryption on (at most {} participants); until then \
                 media is decrypted in the server",
                c.e2ee.max_participants
            ),
            (E2eeMode::Off, true) => "off: media is encrypted in transit and decrypted in the server".into(),
        },
    );

    let access = c.access.mode;
    let access_ok = policy.access.open_allowed || access != AccessMode::Open;
    verdict(
        rule::ACCESS_MODE,
        "access.mode",
        access_ok,
        match (access, access_ok) {
            (AccessMode::Open, false) => format!(
                "\"open\" lets anyone open a room; the policy \"{}\" requires \"secure\" or \"closed\" \
                 (only logged-in hosts open rooms)",
                policy.name
            ),
            (AccessMode::Open, true) => "\"open\": anyone who knows a room's address opens it and moderates".into(),
            (AccessMode::Secure, _) => {
                "\"secure\": only logged-in hosts open rooms; guests join without an account".into()
            }
            (AccessMode::Closed, _) => "\"closed\": everyone logs in; only hosts open rooms".into(),
        },
    );

    let size = c.rooms.max_participants;
    let size_cap = policy.rooms.max_participants;
    let size_ok = size_cap.is_none_or(|cap| size <= cap);
    verdict(
        rule::ROOM_SIZE,
        "rooms.max_participants",
        size_ok,
        match size_cap {
            Some(cap) if !size_ok => {
                format!("{size} is more than the policy \"{}\" allows in one room ({cap})", policy.name)
            }
            Some(cap) => format!("at most {size} participants per room (policy: at most {cap})"),
            None => format!("at most {size} participants per room"),
        },
    );

    let private = c.rooms.private_chat;
    let private_ok = policy.rooms.private_chat_allowed || !private;
    verdict(
        rule::PRIVATE_CHAT,
        "rooms.private_chat",
        private_ok,
        match (private, private_ok) {
            (true, false) => {
                format!("the policy \"{}\" forbids private messages between participants; set false", policy.name)
            }
            (true, true) => "participants may message one other participant (relayed, never stored)".into(),
            (false, _) => "off: chat messages go to the whole room only".into(),
        },
    );

    let t = &c.teletherapy;
    let t_ok = t.enabled || !policy.teletherapy.required;
    verdict(
        rule::TELETHERAPY,
        "teletherapy.enabled",
        t_ok,
        match (t.enabled, t_ok) {
            (true, _) => format!(
                "appointments on: one link per patient, valid {} min before the start to {} min after the end, \
                 consent before the first entry, at most {} patients; deleted {} h after the end at the latest",
                t.link_opens_minutes_before, t.link_grace_minutes_after, t.max_patients, t.record_retention_hours
            ),
            (false, false) => format!(
                "the policy \"{}\" requires appointments (a link per patient, consent, waiting room, session \
                 records); set teletherapy.enabled = true",
                policy.name
            ),
            (false, true) => "off: no appointments; rooms are opened by their links".into(),
        },
    );

    let ldap = &c.ldap;
    let (ldap_key, ldap_ok, ldap_detail) = match &ldap.url {
        None => ("ldap.url", true, "no LDAP directory configured".to_string()),
        Some(url) if ldap_transport_is_encrypted(url, ldap.starttls) => (
            "ldap.url",
            true,
            if ldap.starttls {
                "ldap:// upgraded with StartTLS before any password is sent; certificate verified".into()
            } else {
                "ldaps://: TLS from the first byte; certificate verified".into()
            },
        ),
        Some(_) => (
            if loaded.keys.line_of("ldap.starttls").is_some() { "ldap.starttls" } else { "ldap.url" },
            false,
            "plain ldap:// would send passwords in clear; use ldaps:// or set starttls = true".into(),
        ),
    };
    verdict(rule::LDAP_TLS, ldap_key, ldap_ok, ldap_detail);

    let idle = c.access.session_idle_timeout_minutes;
    let life = c.access.session_lifetime_hours;
    let idle_ok = idle <= SESSION_IDLE_CEILING_MINUTES;
    let life_ok = life <= SESSION_LIFETIME_CEILING_HOURS;
    verdict(
        rule::SESSION_TIMEOUTS,
        if idle_ok && !life_ok { "access.session_lifetime_hours" } else { "access.session_idle_timeout_minutes" },
        idle_ok && life_ok,
        match (idle_ok, life_ok) {
            (true, true) => format!("login sessions end after {idle} min idle and {life} h at most"),
            (false, _) => format!(
                "{idle} min idle is longer than the {SESSION_IDLE_CEILING_MINUTES} min allowed (OWASP ASVS 3.3.2)"
            ),
            (true, false) => format!(
                "{life} h is longer than the {SESSION_LIFETIME_CEILING_HOURS} h a session may last (OWASP ASVS 3.3.2)"
            ),
        },
    );
    let (acme_ok, acme_detail) = match &c.tls.acme {
        None => (true, "no ACME: the certificate comes from tls.cert_file, or is self-signed (demo)".to_string()),
        Some(acme) => (true, acme_ca(&acme.directory).describe(acme.contact.is_some())),
    };
    verdict(rule::ACME_CA, "tls.acme.directory", acme_ok, acme_detail);
    out
}

/// Every verdict for a config: the rules of [`check`] and those about the
/// user store file ([`check_user_store`]; `crate::auth::user_store_facts`
/// reads the file). `kabine serve`, `kabine policy check` and `kabine audit`
/// all decide with this one function.
pub fn verdicts(loaded: &LoadedConfig, policy: &Policy, user_store: &UserStoreFacts) -> Vec<Verdict> {
    let mut v = check(loaded, policy);
    v.extend(check_user_store(loaded, user_store));
    v
}

/// Where an ACME CA is operated, as far as Kabine knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AcmeCa {
    /// The CA's name, or the directory's host when unknown.
    pub name: String,
    /// Country of the operator, in English; `None` when unknown.
    pub country: Option<&'static str>,
    /// Whether the operator is established in the EU; `None` when unknown.
    pub in_eu: Option<bool>,
    /// The host of the directory URL.
    pub host: String,
}

/// Public ACME CAs Kabine knows: directory host, name, country, in the EU.
const KNOWN_ACME_CAS: &[(&str, &str, &str, bool)] = &[
    ("acme-v02.api.letsencrypt.org", "Let's Encrypt (Internet Security Research Group)", "USA", false),
    ("acme-staging-v02.api.letsencrypt.org", "Let's Encrypt staging (Internet Security Research Group)", "USA", false),
    ("dv.acme-v02.api.pki.goog", "Google Trust Services", "USA", false),
    ("acme-api.actalis.com", "Actalis", "Italy", true),
];

/// The CA behind an ACME directory URL. Pure.
pub fn acme_ca(directory: &str) -> AcmeCa {
    let rest = directory.split_once("://").map(|(_, r)| r).unwrap_or(directory);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let host = crate::config::strip_port(authority).to_ascii_lowercase();
    match KNOWN_ACME_CAS.iter().find(|(h, ..)| *h == host) {
        Some((_, name, country, eu)) => {
            AcmeCa { name: (*name).to_string(), country: Some(country), in_eu: Some(*eu), host }
        }
        None => AcmeCa { name: host.clone(), country: None, in_eu: None, host },
    }
}

impl AcmeCa {
    /// One sentence for `kabine policy check` and the audit.
    pub fn describe(&self, sends_contact: bool) -> String {
        let what = if sends_contact {
            "it receives the domain names and the contact address"
        } else {
            "it receives the domain names (no contact address is configured)"
        };
        match (self.country, self.in_eu) {
            (Some(country), Some(true)) => {
                format!("ACME CA {} ({country}, in the EU); {what}", self.name)
            }
            (Some(country), _) => format!(
                "ACME CA {} ({country}, outside the EU: a transfer to a third country, Art. 44 GDPR); {what}",
                self.name
            ),
            (None, _) => format!(
                "ACME CA at {}, not one Kabine knows: find out where it is operated (inside or outside the EU); {what}",
                self.host
            ),
        }
    }
}

/// What the ACME state directory says, gathered by the audit (the I/O)
/// for [`acme_renewal`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AcmeFacts {
    /// Validity of the stored certificate (Unix seconds), if there is one.
    pub not_before: Option<i64>,
    pub not_after: Option<i64>,
    /// When renewal is due, as the server last computed it.
    pub renewal_due: Option<i64>,
    pub last_attempt: Option<i64>,
    pub last_error: Option<String>,
    pub consecutive_failures: u32,
}

/// How certificate renewal by ACME stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcmeRenewal {
    /// No certificate and no attempt yet: the server has not run with ACME.
    NotStarted,
    /// Attempts failed and there is no certificate from the CA.
    NeverObtained { error: String, failures: u32 },
    /// The last attempts failed; the certificate served ends at `not_after`.
    Failing { error: String, failures: u32, not_after: i64 },
    /// Renewal was due more than a day ago and nothing happened since
    /// (the server is not running, or cannot write its status).
    Overdue { due: i64, not_after: i64 },
    /// The certificate expired.
    Expired { not_after: i64 },
    /// In order: renewal is due at `due`.
    Healthy { due: i64, not_after: i64 },
}

/// Grace after the due time before a renewal that did not happen counts as overdue.
pub const ACME_OVERDUE_GRACE_SECONDS: i64 = 86_400;

/// Decides how ACME renewal stands at `now`. A failed renewal fails the
/// audit at once: with renewal at two thirds of the lifetime (or the CA's
/// ARI window) that is weeks before the certificate expires. Pure.
pub fn acme_renewal(facts: &AcmeFacts, now: i64) -> AcmeRenewal {
    let error = || facts.last_error.clone().unwrap_or_else(|| "unknown error".into());
    let Some(not_after) = facts.not_after else {
        return if facts.consecutive_failures > 0 || facts.last_error.is_some() {
            AcmeRenewal::NeverObtained { error: error(), failures: facts.consecutive_failures.max(1) }
        } else {
            AcmeRenewal::NotStarted
        };
    };
    if now >= not_after {
        return AcmeRenewal::Expired { not_after };
    }
    if facts.consecutive_failures > 0 {
        return AcmeRenewal::Failing { error: error(), failures: facts.consecutive_failures, not_after };
    }
    let due = facts.renewal_due.unwrap_or_else(|| {
        let nb = facts.not_before.unwrap_or(not_after);
        nb + (not_after - nb) * 2 / 3
    });
    if now > due + ACME_OVERDUE_GRACE_SECONDS.min((not_after - due) / 2) {
        return AcmeRenewal::Overdue { due, not_after };
    }
    AcmeRenewal::Healthy { due, not_after }
}

/// Decides the rules about the local user store file: every hash is
/// argon2id with at least the minimum parameters, and the file is readable
/// by its owner only. Pure: the facts are gathered beforehand.
pub fn check_user_store(loaded: &LoadedConfig, facts: &UserStoreFacts) -> Vec<Verdict> {
    let key = "access.users_file";
    let line = loaded.keys.line_of(key);
    let file = loaded.resolve_path(&loaded.config.access.users_file).display().to_string();
    let v = |rule: &'static str, ok: bool, detail: String| Verdict { rule, key: key.into(), line, ok, detail };
    match facts {
        UserStoreFacts::Missing => vec![
            v(rule::PASSWORD_HASH, true, format!("no local users ({file} does not exist)")),
            v(rule::USER_STORE_PRIVATE, true, format!("no local users ({file} does not exist)")),
        ],
        UserStoreFacts::Unreadable(e) => vec![
            v(rule::PASSWORD_HASH, false, format!("{file} cannot be read: {e}")),
            v(rule::USER_STORE_PRIVATE, false, format!("{file} cannot be read: {e}")),
        ],
        UserStoreFacts::Malformed { line, message } => {
            vec![v(rule::PASSWORD_HASH, false, format!("{file}:{line} is not a Kabine user store line: {message}"))]
        }
        UserStoreFacts::Present { mode, users, weak_lines, weakest } => {
            let hash = if weak_lines.is_empty() {
                v(rule::PASSWORD_HASH, true, format!("{users} user(s), every hash argon2id m>=19 MiB t>=2 p=1"))
            } else {
                let lines: Vec<String> = weak_lines.iter().map(usize::to_string).collect();
                v(
                    rule::PASSWORD_HASH,
                    false,
                    format!(
                        "{} of {users} hash(es) below argon2id m=19 MiB t=2 p=1 (e.g. {}) at {file} line(s) {}; \
                         set those passwords again with `kabine user passwd`",
                        weak_lines.len(),
                        weakest.as_deref().unwrap_or("?"),
                        lines.join(", ")
                    ),
                )
            };
            let private = mode & 0o077 == 0;
            let perm = v(
                rule::USER_STORE_PRIVATE,
                private,
                if private {
                    format!("{file} is readable by its owner only (mode {mode:04o})")
                } else {
                    format!("{file} has mode {mode:04o}; others can read the hashes: chmod 600 it")
                },
            );
            vec![hash, perm]
        }
    }
}

/// The violations among `verdicts`, as lines for a refusal to start:
/// `FILE:LINE: KEY: policy rule RULE: DETAIL`.
pub fn violation_lines(loaded: &LoadedConfig, verdicts: &[Verdict]) -> Vec<String> {
    verdicts
        .iter()
        .filter(|v| !v.ok)
        .map(|v| {
            let mut s = loaded.source_name();
            if let Some(line) = v.line {
                s.push_str(&format!(":{line}"));
            }
            if !v.key.is_empty() {
                s.push_str(&format!(": {}", v.key));
            }
            s.push_str(&format!(": policy rule {} violated: {}", v.rule, v.detail));
            s
        })
        .collect()
}

/// Hosts that count as the server itself for the ICE allow-list.
pub fn own_hosts(loaded: &LoadedConfig) -> Vec<String> {
    let mut hosts = Vec::new();
    if let Some(url) = &loaded.config.server.public_url
        && let Some(rest) = url.strip_prefix("https://")
    {
        let authority = rest.trim_end_matches('/');
        hosts.push(crate::config::strip_port(authority).to_ascii_lowercase());
    }
    if let Some(addr) = loaded.config.media.public_address {
        hosts.push(addr.to_string());
    }
    // Kabine's own TURN/TLS relay is this server, under a name of its own.
    if let Some(name) = &loaded.config.media.turn_tls_name {
        hosts.push(name.to_ascii_lowercase());
    }
    hosts
}

/// May browsers be told to use this STUN/TURN URL?
pub fn ice_server_allowed(url: &str, policy: &Policy, own_hosts: &[String]) -> bool {
    let Ok(host) = crate::config::ice_url_host(url) else {
        return false;
    };
    own_hosts.contains(&host) || policy.ice.allowed_servers.iter().any(|a| a.eq_ignore_ascii_case(&host))
}

/// The Content-Security-Policy every response carries: nothing but this
/// origin, ever.
pub fn csp_header() -> &'static str {
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
     media-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; \
     base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
}

/// Source expressions of a Content-Security-Policy that let the browser
/// contact another origin: hosts, schemes (`https:`, `wss:`), wildcards, and
/// report URLs elsewhere. Keywords (`'self'`, `'none'`), nonces, hashes and
/// `data:`/`blob:` (content made inside the page) name no origin. A source
/// equal to one of `own_origins` (e.g. `https://meet.example.org`) is this
/// server and not counted. The rule behind [`csp_header`]; the audit asks
/// it of the header the server really sends.
pub fn csp_foreign_sources(csp: &str, own_origins: &[String]) -> Vec<String> {
    const NOT_SOURCES: &[&str] = &[
        "sandbox",
        "upgrade-insecure-requests",
        "block-all-mixed-content",
        "require-trusted-types-for",
        "trusted-types",
        "report-to",
        "plugin-types",
        "require-sri-for",
    ];
    let mut out = Vec::new();
    for directive in csp.split(';') {
        let mut tokens = directive.split_ascii_whitespace();
        let Some(name) = tokens.next() else { continue };
        let name = name.to_ascii_lowercase();
        if NOT_SOURCES.contains(&name.as_str()) {
            continue;
        }
        for token in tokens {
            let lower = token.to_ascii_lowercase();
            let is_keyword = lower.starts_with('\'');
            let is_local_scheme = matches!(lower.as_str(), "data:" | "blob:" | "mediastream:" | "filesystem:");
            let is_relative = name == "report-uri" && lower.starts_with('/') && !lower.starts_with("//");
            let is_own =
                own_origins.iter().any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(lower.trim_end_matches('/')));
            if !(is_keyword || is_local_scheme || is_relative || is_own) {
                out.push(format!("{name} {token}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_str;

    fn verdicts(text: &str) -> Vec<Verdict> {
        let loaded = load_str(text, "t.toml").expect("test config loads");
        check(&loaded, &Policy::strict())
    }

    fn failed(text: &str) -> Vec<&'static str> {
        verdicts(text).into_iter().filter(|v| !v.ok).map(|v| v.rule).collect()
    }

    #[test]
    fn presets_parse_and_strict_is_default() {
        for (name, _) in PRESETS {
            let p = Policy::from_preset(name).expect("preset parses");
            assert_eq!(p.name, *name);
        }
        assert!(Policy::strict().deviations_from_strict().is_empty());
    }

    #[test]
    fn demo_config_passes_every_rule() {
        assert_eq!(failed(""), Vec::<&str>::new());
    }

    #[test]
    fn each_rule_can_fail() {
        assert_eq!(failed("[log]\nlevel = \"debug\""), [rule::LOG_LEVEL]);
        assert_eq!(failed("[log]\nretention_days = 30"), [rule::LOG_RETENTION]);
        assert_eq!(failed("[log]\nredact_addresses = false"), [rule::NO_ADDRESSES_IN_LOGS]);
        assert_eq!(failed("[[media.ice_servers]]\nurls = [\"stun:stun.l.google.com:19302\"]"), [rule::ICE_SERVERS_EU]);
        assert_eq!(failed("[tls]\nmin_version = \"1.0\""), [rule::TLS_MIN_VERSION]);
        assert_eq!(failed("[recording]\nenabled = true"), [rule::RECORDING_OFF, rule::RECORDING_ENCRYPTED]);
        let key = "recipients = [\"age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\"]";
        assert_eq!(failed(&format!("[recording]\nenabled = true\n{key}")), [rule::RECORDING_OFF]);
        let relaxed = Policy::from_preset("relaxed").expect("preset");
        let failed_relaxed = |text: &str| -> Vec<&'static str> {
            let loaded = load_str(text, "t.toml").expect("loads");
            check(&loaded, &relaxed).into_iter().filter(|v| !v.ok).map(|v| v.rule).collect()
        };
        assert_eq!(failed_relaxed(&format!("[recording]\nenabled = true\n{key}")), Vec::<&str>::new());
        assert_eq!(
            failed_relaxed(&format!("[recording]\nenabled = true\nretention_days = 31\n{key}")),
            [rule::RECORDING_RETENTION]
        );
        assert_eq!(failed_relaxed("[recording]\nenabled = true"), [rule::RECORDING_ENCRYPTED]);
        assert!(recording_possible(true, false));
        assert!(!recording_possible(true, true), "an end-to-end encrypted meeting is never recorded");
        assert!(!recording_possible(false, false));
        assert_eq!(failed("[recording]\nrequire_consent = false"), [rule::RECORDING_CONSENT]);
        assert_eq!(
            failed("[client]\nexternal_origins = [\"https://fonts.example.com\"]"),
            [rule::NO_THIRD_PARTY_REQUESTS]
        );
        let ldap = "[ldap]\nuser_base = \"ou=people,dc=example,dc=org\"\n";
        assert_eq!(failed(&format!("{ldap}url = \"ldap://ldap.example.org\"")), [rule::LDAP_TLS]);
        assert_eq!(failed(&format!("{ldap}url = \"ldap://ldap.example.org\"\nstarttls = true")), Vec::<&str>::new());
        assert_eq!(failed(&format!("{ldap}url = \"ldaps://ldap.example.org\"")), Vec::<&str>::new());
        assert_eq!(failed("[access]\nsession_idle_timeout_minutes = 31"), [rule::SESSION_TIMEOUTS]);
        assert_eq!(failed("[access]\nsession_lifetime_hours = 24"), [rule::SESSION_TIMEOUTS]);
        assert_eq!(
            failed("[access]\nsession_idle_timeout_minutes = 15\nsession_lifetime_hours = 8"),
            Vec::<&str>::new()
        );
    }

    #[test]
    fn direct_calls_follow_the_config_and_the_policy() {
        let no_p2p = Policy::from_preset("strict-no-p2p").expect("preset");
        let case = |text: &str, policy: &Policy| {
            let loaded = load_str(text, "t.toml").expect("loads");
            let v = check(&loaded, policy).into_iter().find(|v| v.rule == rule::P2P).expect("p2p verdict");
            (p2p_in_use(&loaded, policy), v.ok)
        };
        let strict = Policy::strict();
        assert_eq!(case("", &strict), (true, true), "allowed by default");
        assert_eq!(case("[p2p]\nenabled = false", &strict), (false, true), "the config turns it off");
        assert_eq!(case("", &no_p2p), (false, true), "the preset alone forbids it");
        assert_eq!(case("[p2p]\nenabled = false", &no_p2p), (false, true));
        assert_eq!(case("[p2p]\nenabled = true", &no_p2p), (false, false), "asked for, and forbidden: refused");
    }

    #[test]
    fn user_store_rules() {
        let loaded = load_str("", "t.toml").expect("loads");
        let failed = |facts: UserStoreFacts| -> Vec<&'static str> {
            check_user_store(&loaded, &facts).into_iter().filter(|v| !v.ok).map(|v| v.rule).collect()
        };
        assert!(failed(UserStoreFacts::Missing).is_empty());
        let present = |mode, weak_lines: Vec<usize>| UserStoreFacts::Present {
            mode,
            users: 3,
            weakest: (!weak_lines.is_empty()).then(|| "argon2id m=4096 KiB t=1 p=1".to_string()),
            weak_lines,
        };
        assert!(failed(present(0o600, vec![])).is_empty());
        assert_eq!(failed(present(0o644, vec![])), [rule::USER_STORE_PRIVATE]);
        assert_eq!(failed(present(0o600, vec![4])), [rule::PASSWORD_HASH]);
        assert_eq!(failed(UserStoreFacts::Malformed { line: 2, message: "x".into() }), [rule::PASSWORD_HASH]);
        let detail = check_user_store(&loaded, &present(0o600, vec![2, 5]))[0].detail.clone();
        assert!(detail.contains("line(s) 2, 5") && detail.contains("m=4096"), "{detail}");
    }

    #[test]
    fn eu_and_own_ice_servers_are_allowed() {
        let text = "[server]\npublic_url = \"https://meet.praxis-beispiel.de\"\n\
                    [[media.ice_servers]]\nurls = [\"stun:stun.sipgate.net:3478\"]\n\
                    [[media.ice_servers]]\nurls = [\"turn:meet.praxis-beispiel.de:3478?transport=udp\"]\nusername = \"u\"\ncredential = \"p\"\n";
        assert_eq!(failed(text), Vec::<&str>::new());
    }

    #[test]
    fn the_own_relay_counts_as_this_server_and_a_foreign_one_still_fails() {
        let text = "[media]\nturn_tls_name = \"turn.praxis-beispiel.de\"\n";
        let loaded = load_str(text, "k.toml").expect("loads");
        let own = own_hosts(&loaded);
        assert!(ice_server_allowed("turns:turn.praxis-beispiel.de:443?transport=tcp", &Policy::strict(), &own));
        assert!(!ice_server_allowed("turns:turn.example.com:443?transport=tcp", &Policy::strict(), &own));
        let foreign = "[media]\nturn_tls_name = \"turn.praxis-beispiel.de\"\n\
                       [[media.ice_servers]]\nurls = [\"stun:stun.l.google.com:19302\"]\n";
        assert_eq!(failed(foreign), [rule::ICE_SERVERS_EU]);
    }

    #[test]
    fn violation_names_line_and_key() {
        let loaded = load_str("\n[log]\nlevel = \"trace\"\n", "k.toml").expect("loads");
        let v = check(&loaded, &Policy::strict());
        let lines = violation_lines(&loaded, &v);
        assert_eq!(lines.len(), 1);
        assert!(lines[0].starts_with("k.toml:3: log.level: policy rule log-level-cap violated"), "{}", lines[0]);
    }

    #[test]
    fn no_policy_file_may_relax_an_invariant() {
        let text = Policy::from_preset("strict").map(|p| toml::to_string(&p).expect("serializes")).expect("strict");
        let weak = text
            .replace("min_version = \"1.2\"", "min_version = \"1.1\"")
            .replace("max_level = \"warn\"", "max_level = \"debug\"");
        let err = Policy::from_toml(&weak, "weak.toml").expect_err("weak policy refused");
        assert!(err.contains("tls.min_version"), "{err}");
        assert!(err.contains("log.max_level"), "{err}");
    }

    #[test]
    fn acme_cas_are_named_with_their_jurisdiction() {
        let le = acme_ca("https://acme-v02.api.letsencrypt.org/directory");
        assert_eq!((le.country, le.in_eu), (Some("USA"), Some(false)));
        assert!(le.describe(true).contains("outside the EU"), "{}", le.describe(true));
        let eu = acme_ca("https://acme-api.actalis.com/acme/directory");
        assert_eq!(eu.in_eu, Some(true));
        let own = acme_ca("https://ca.praxis-intern.de:8443/acme/dir");
        assert_eq!((own.host.as_str(), own.in_eu), ("ca.praxis-intern.de", None));
        assert!(own.describe(false).contains("not one Kabine knows"));
        let v = verdicts("[tls.acme]\ndomains = [\"meet.example.org\"]\n");
        let acme = v.iter().find(|v| v.rule == rule::ACME_CA).expect("verdict");
        assert!(acme.ok && acme.detail.contains("Let's Encrypt"), "{}", acme.detail);
    }

    #[test]
    fn acme_renewal_fails_as_soon_as_a_renewal_fails() {
        const DAY: i64 = 86_400;
        let facts = AcmeFacts {
            not_before: Some(0),
            not_after: Some(90 * DAY),
            renewal_due: Some(60 * DAY),
            ..AcmeFacts::default()
        };
        assert_eq!(acme_renewal(&AcmeFacts::default(), 0), AcmeRenewal::NotStarted);
        assert_eq!(acme_renewal(&facts, DAY), AcmeRenewal::Healthy { due: 60 * DAY, not_after: 90 * DAY });
        let failing = AcmeFacts { consecutive_failures: 1, last_error: Some("timeout".into()), ..facts.clone() };
        assert!(matches!(acme_renewal(&failing, 60 * DAY), AcmeRenewal::Failing { failures: 1, .. }));
        assert!(matches!(acme_renewal(&facts, 62 * DAY), AcmeRenewal::Overdue { .. }));
        assert!(matches!(acme_renewal(&facts, 90 * DAY), AcmeRenewal::Expired { .. }));
        let never = AcmeFacts { last_error: Some("refused".into()), consecutive_failures: 3, ..AcmeFacts::default() };
        assert!(matches!(acme_renewal(&never, 0), AcmeRenewal::NeverObtained { failures: 3, .. }));
        // Short-lived certificates: overdue after half of what is left past the due time.
        let short =
            AcmeFacts { not_before: Some(0), not_after: Some(30), renewal_due: Some(20), ..AcmeFacts::default() };
        assert!(matches!(acme_renewal(&short, 24), AcmeRenewal::Healthy { .. }));
        assert!(matches!(acme_renewal(&short, 26), AcmeRenewal::Overdue { .. }));
    }

    #[test]
    fn the_csp_names_no_other_origin() {
        assert_eq!(csp_foreign_sources(csp_header(), &[]), Vec::<String>::new());
        let own = vec!["https://meet.example.org".to_string()];
        assert_eq!(
            csp_foreign_sources(
                "default-src 'self' https://meet.example.org; script-src 'self' https://cdn.example.com; \
                 img-src * data:; connect-src wss:; report-uri /csp; report-to g; sandbox allow-scripts",
                &own
            ),
            ["script-src https://cdn.example.com", "img-src *", "connect-src wss:"]
        );
        assert_eq!(
            csp_foreign_sources("default-src 'none'; report-uri https://r.example.com/x", &own),
            ["report-uri https://r.example.com/x"]
        );
    }

    fn failed_under(policy: &str, text: &str) -> Vec<&'static str> {
        let policy = Policy::from_preset(policy).expect("preset");
        let loaded = load_str(text, "t.toml").expect("test config loads");
        check(&loaded, &policy).into_iter().filter(|v| !v.ok).map(|v| v.rule).collect()
    }

    /// The shipped compliant example, as a string, for the anlage-31b cases.
    const ANLAGE_31B: &str = include_str!("../../config/anlage-31b.toml");

    #[test]
    fn anlage_31b_each_rule_can_fail() {
        assert_eq!(failed_under("anlage-31b", ANLAGE_31B), Vec::<&str>::new());
        let weakened = |from: &str, to: &str| {
            assert!(ANLAGE_31B.contains(from), "{from}");
            failed_under("anlage-31b", &ANLAGE_31B.replace(from, to))
        };
        // Open access with appointments on is a config error of its own;
        // without them, the rule's, and appointments' own.
        let open = ANLAGE_31B.replace("mode = \"secure\"", "mode = \"open\"");
        assert!(load_str(&open, "t.toml").is_err(), "teletherapy needs logins");
        let appointments = "the attendance record for the therapist.\nenabled = true";
        assert!(open.contains(appointments));
        let open = open.replace(appointments, "the attendance record for the therapist.\nenabled = false");
        assert_eq!(failed_under("anlage-31b", &open), [rule::ACCESS_MODE, rule::TELETHERAPY]);
        let no_appointments =
            ANLAGE_31B.replace(appointments, "the attendance record for the therapist.\nenabled = false");
        assert_eq!(failed_under("anlage-31b", &no_appointments), [rule::TELETHERAPY]);
        // Both room sizes (rooms and e2ee) become 11; only the room's is capped.
        assert_eq!(weakened("max_participants = 10", "max_participants = 11"), [rule::ROOM_SIZE]);
        assert_eq!(weakened("private_chat = false", "private_chat = true"), [rule::PRIVATE_CHAT]);
        assert_eq!(weakened("mode = \"required\"", "mode = \"optional\""), [rule::E2EE]);
        assert_eq!(weakened("retention_days = 7", "retention_days = 91"), [rule::LOG_RETENTION]);
        // Recording and required E2EE cannot be configured together at all.
        assert!(load_str(&ANLAGE_31B.replace("enabled = false", "enabled = true"), "t.toml").is_err());
        let recording = ANLAGE_31B
            .replace("enabled = false", "enabled = true")
            .replace("mode = \"required\"", "mode = \"optional\"");
        assert_eq!(
            failed_under("anlage-31b", &recording),
            [rule::RECORDING_OFF, rule::RECORDING_ENCRYPTED, rule::E2EE]
        );
        // The defaults of a config (open access, 100 per room, private chat,
        // optional E2EE, no appointments) break the preset five times.
        assert_eq!(
            failed_under("anlage-31b", "policy = \"anlage-31b\""),
            [rule::E2EE, rule::ACCESS_MODE, rule::ROOM_SIZE, rule::PRIVATE_CHAT, rule::TELETHERAPY]
        );
        // Closed access is as good as secure; a smaller room is fine.
        assert_eq!(weakened("mode = \"secure\"", "mode = \"closed\""), Vec::<&str>::new(), "closed access holds");
        // The other presets do not restrict these settings.
        for preset in ["strict", "strict-no-p2p", "relaxed"] {
            assert_eq!(
                failed_under(preset, "[rooms]\nmax_participants = 300\nprivate_chat = true"),
                Vec::<&str>::new()
            );
        }
    }

    #[test]
    fn anlage_31b_is_no_looser_than_strict_and_older_policy_files_restrict_nothing_new() {
        let p = Policy::from_preset("anlage-31b").expect("preset");
        assert_eq!(p.deviations_from_strict(), Vec::<String>::new());
        assert!(p.e2ee.required && !p.recording.allowed && p.p2p.allowed && !p.access.open_allowed);
        assert_eq!((p.rooms.max_participants, p.rooms.private_chat_allowed), (Some(10), false));
        let strict = Policy::strict();
        assert!(strict.access.open_allowed && strict.rooms.private_chat_allowed);
        assert_eq!(strict.rooms.max_participants, None);
        let text =
            include_str!("../../policy/anlage-31b.toml").replace("max_participants = 10", "max_participants = 1");
        let err = Policy::from_toml(&text, "p.toml").expect_err("a room of one is refused");
        assert!(err.contains("rooms.max_participants"), "{err}");
    }

    #[test]
    fn a_policy_may_require_end_to_end_encryption_and_older_policy_files_do_not() {
        let text = include_str!("../../policy/strict.toml").replace("[e2ee]\n", "[e2ee_gone]\n");
        let text = text.split("[e2ee_gone]").next().expect("before the section").to_string();
        let older = Policy::from_toml(&text, "older.toml").expect("a policy file without [e2ee] still parses");
        assert!(!older.e2ee.required);
        let mut requiring = Policy::strict();
        requiring.e2ee.required = true;
        let check_with = |config: &str| {
            let loaded = load_str(config, "t.toml").expect("test config loads");
            check(&loaded, &requiring).into_iter().find(|v| v.rule == rule::E2EE).expect("e2ee verdict")
        };
        let v = check_with("");
        assert!(!v.ok, "the default (optional) breaks a policy that requires it: {v}");
        assert!(v.detail.contains("required"), "{v}");
        let v = check_with("[e2ee]\nmode = \"required\"\n");
        assert!(v.ok, "{v}");
        assert_eq!(v.line, Some(2));
        assert!(verdicts("[e2ee]\nmode = \"off\"\n").iter().all(|v| v.ok), "strict does not require it");
        assert!(Policy::strict().deviations_from_strict().is_empty());
    }
}
