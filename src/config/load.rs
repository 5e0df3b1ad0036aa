//! Reading a config file and reporting every problem in it.
//!
//! serde stops at the first error. To name them all, the document is parsed
//! once into a spanned table; after each failed attempt the offending key is
//! taken out and deserialization is tried again, so each unknown key, wrong
//! type and bad value gets its own line with file, line number and key.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::de::{DeTable, DeValue};

use super::{Config, RoomStorage};

/// One thing wrong with a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file, as given on the command line.
    pub file: String,
    /// 1-based line, when the problem sits at one place.
    pub line: Option<usize>,
    /// Dotted key, e.g. `log.level`; empty for syntax errors.
    pub key: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A config that could not be used, with every problem found.
#[derive(Debug, Clone)]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Where each key of a file is, so later checks (the policy) can name lines.
#[derive(Debug, Clone, Default)]
pub struct KeyIndex {
    lines: BTreeMap<String, usize>,
}

impl KeyIndex {
    /// The line of a dotted key (`log.level`) or of its table (`log`).
    pub fn line_of(&self, key: &str) -> Option<usize> {
        self.lines.get(key).copied()
    }

    /// Every key the file sets, dotted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.lines.keys().map(String::as_str)
    }
}

/// A config that loaded, with where it came from.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    /// The file, or `None` for the built-in demo config.
    pub path: Option<PathBuf>,
    /// How the source is named in messages.
    pub name: String,
    pub keys: KeyIndex,
}

impl LoadedConfig {
    /// The built-in demo configuration (no file).
    pub fn demo() -> LoadedConfig {
        LoadedConfig {
            config: Config::default(),
            path: None,
            name: "(built-in demo config)".into(),
            keys: KeyIndex::default(),
        }
    }

    /// How to name the source in messages.
    pub fn source_name(&self) -> String {
        self.name.clone()
    }

    /// A path from the config: relative paths are taken from the config
    /// file's directory (the working directory for the demo config).
    pub fn resolve_path(&self, path: &Path) -> PathBuf {
        match self.path.as_deref().and_then(Path::parent) {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path.to_path_buf(),
        }
    }

    /// A problem located at `key` of this config.
    pub fn problem(&self, key: &str, message: impl Into<String>) -> Problem {
        Problem { file: self.source_name(), line: self.keys.line_of(key), key: key.into(), message: message.into() }
    }
}

/// Reads and checks a config file.
pub fn load(path: &Path) -> Result<LoadedConfig, ConfigError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        problems: vec![Problem {
            file: name.clone(),
            line: None,
            key: String::new(),
            message: format!("cannot read the file: {e}"),
        }],
    })?;
    let mut loaded = load_str(&text, &name)?;
    loaded.path = Some(path.to_path_buf());
    Ok(loaded)
}

/// Parses and checks config text; `name` is used in messages.
pub fn load_str(text: &str, name: &str) -> Result<LoadedConfig, ConfigError> {
    let problem = |span: Option<Range<usize>>, key: String, message: String| Problem {
        file: name.to_string(),
        line: span.map(|s| line_at(text, s.start)),
        key,
        message,
    };

    let (table, syntax_errors) = DeTable::parse_recoverable(text);
    if !syntax_errors.is_empty() {
        return Err(ConfigError {
            problems: syntax_errors
                .iter()
                .map(|e| problem(e.span(), String::new(), format!("TOML syntax: {}", e.message().trim())))
                .collect(),
        });
    }

    let mut keys = KeyIndex::default();
    index_keys(table.get_ref(), "", text, &mut keys);

    let mut table = table;
    let mut problems = Vec::new();
    // Each round removes one offending key; a file has far fewer keys than this.
    let mut config = None;
    for _ in 0..256 {
        match Config::deserialize(toml::de::Deserializer::from(table.clone())) {
            Ok(c) => {
                config = Some(c);
                break;
            }
            Err(e) => {
                let located = e.span().and_then(|span| locate(table.get_ref(), &span, ""));
                let message = clean_message(e.message());
                match located {
                    Some(loc) => {
                        problems.push(problem(e.span(), loc.path.clone(), message));
                        if !remove_key(table.get_mut(), &loc.removable) {
                            break;
                        }
                    }
                    None => {
                        problems.push(problem(e.span(), String::new(), message));
                        break;
                    }
                }
            }
        }
    }

    problems.sort_by_key(|p| p.line);
    let Some(config) = config else {
        return Err(ConfigError { problems });
    };
    let loaded = LoadedConfig { config, path: None, name: name.to_string(), keys };
    for (key, message) in validate(&loaded.config) {
        problems.push(loaded.problem(&key, message));
    }
    if problems.is_empty() { Ok(loaded) } else { Err(ConfigError { problems }) }
}

/// Checks that serde cannot express: combinations and value ranges.
/// Returns (dotted key, message) pairs.
fn validate(c: &Config) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut bad = |key: &str, msg: &str| out.push((key.to_string(), msg.to_string()));

    match (&c.tls.cert_file, &c.tls.key_file) {
        (Some(_), None) => bad("tls.key_file", "missing: tls.cert_file is set, so the matching key file is needed"),
        (None, Some(_)) => {
            bad("tls.cert_file", "missing: tls.key_file is set, so the matching certificate file is needed")
        }
        _ => {}
    }
    if let Some(acme) = &c.tls.acme {
        if c.tls.cert_file.is_some() || c.tls.key_file.is_some() {
            bad("tls.acme", "set either tls.acme or tls.cert_file and tls.key_file, not both");
        }
        validate_acme(c, acme, &mut out);
    }
    let mut bad = |key: &str, msg: &str| out.push((key.to_string(), msg.to_string()));
    if let Some(url) = &c.server.public_url
        && let Err(why) = check_public_url(url)
    {
        bad("server.public_url", &why);
    }
    if c.server.http_redirect_listen.is_some() && c.server.public_url.is_none() {
        bad("server.http_redirect_listen", "needs server.public_url, the address to redirect to");
    }
    if c.server.max_connections == 0 || c.server.max_connections > super::MAX_CONNECTIONS {
        bad("server.max_connections", "must be 1 to 1000000 (each connection takes a file descriptor)");
    }
    if c.server.max_connections_per_address == 0 {
        bad("server.max_connections_per_address", "must be at least 1");
    }
    for (key, value, range) in [
        ("server.tls_handshake_timeout_secs", c.server.tls_handshake_timeout_secs, 1..=300),
        ("server.header_read_timeout_secs", c.server.header_read_timeout_secs, 1..=300),
        ("server.idle_timeout_secs", c.server.idle_timeout_secs, 10..=86_400),
    ] {
        if !range.contains(&value) {
            bad(key, &format!("must be {} to {} seconds", range.start(), range.end()));
        }
    }
    if !(1..=1000).contains(&c.server.http2_max_concurrent_streams) {
        bad("server.http2_max_concurrent_streams", "must be 1 to 1000");
    }
    if c.media.udp_port == 0 {
        bad("media.udp_port", "must be a fixed port (1-65535) that the firewall lets through");
    }
    if let Some(name) = &c.media.turn_tls_name {
        let ok = !name.is_empty()
            && name.len() <= 253
            && name.parse::<std::net::IpAddr>().is_err()
            && name.split('.').all(|l| !l.is_empty() && l.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-'));
        if !ok {
            bad("media.turn_tls_name", "must be a DNS name (browsers find the relay by its TLS server name)");
        } else if let Some(acme) = &c.tls.acme
            && !acme.domains.iter().any(|d| d.eq_ignore_ascii_case(name))
        {
            bad("media.turn_tls_name", "must be one of tls.acme.domains, so the certificate names it");
        }
    }
    if !(5..=86_400).contains(&c.media.turn_credential_lifetime) {
        bad("media.turn_credential_lifetime", "must be 5 to 86400 seconds");
    }
    if c.media.ice_tcp_port == Some(0) {
        bad("media.ice_tcp_port", "must be the port browsers reach HTTPS on (1-65535)");
    }
    if let Some(addr) = c.media.public_address
        && (addr.is_unspecified() || addr.is_multicast())
    {
        bad("media.public_address", "must be an address browsers can reach, not 0.0.0.0, :: or multicast");
    }
    for (i, server) in c.media.ice_servers.iter().enumerate() {
        let key = format!("media.ice_servers[{i}].urls");
        if server.urls.is_empty() {
            out.push((key.clone(), "needs at least one stun:, turn: or turns: URL".into()));
        }
        for url in &server.urls {
            if let Err(why) = super::ice_url_host(url) {
                out.push((key.clone(), format!("`{url}`: {why}")));
            }
        }
        let is_turn = server.urls.iter().any(|u| u.starts_with("turn:") || u.starts_with("turns:"));
        if is_turn && (server.username.is_none() || server.credential.is_none()) {
            out.push((format!("media.ice_servers[{i}]"), "a TURN server needs username and credential".into()));
        }
    }
    let mut bad = |key: &str, msg: &str| out.push((key.to_string(), msg.to_string()));
    if c.log.retention_days == 0 {
        bad("log.retention_days", "must be at least 1 day");
    }
    if c.log.target == super::LogTarget::File && c.log.directory.as_os_str().is_empty() {
        bad("log.directory", "must name a directory when log.target = \"file\"");
    }
    if c.rooms.storage == RoomStorage::Disk {
        bad("rooms.storage", "\"disk\" is not available: Kabine keeps rooms in memory only");
    }
    if c.rooms.max_participants < 2 {
        bad("rooms.max_participants", "must be at least 2");
    }
    if c.rooms.max_participants > super::MAX_ROOM_PARTICIPANTS {
        bad(
            "rooms.max_participants",
            "must be at most 300: a browser's subscribe answer for a larger room may not fit the 64 KiB signalling limit",
        );
    }
    if c.media.engine_threads > super::MAX_ENGINE_THREADS {
        bad("media.engine_threads", "must be 0 (one per CPU core) to 16");
    }
    if c.media.audio_slots == 0 || c.media.audio_slots > super::MAX_AUDIO_SLOTS {
        bad("media.audio_slots", "must be 1 to 16");
    }
    if c.rooms.max_rooms == 0 {
        bad("rooms.max_rooms", "must be at least 1");
    }
    if c.rooms.max_waiting_per_address == 0 {
        bad("rooms.max_waiting_per_address", "must be at least 1");
    }
    if !(1..=1440).contains(&c.rooms.max_wait_minutes) {
        bad("rooms.max_wait_minutes", "must be 1 to 1440 minutes (a day)");
    }
    if c.e2ee.max_participants < 2 || c.e2ee.max_participants > super::MAX_E2EE_PARTICIPANTS {
        bad("e2ee.max_participants", "must be 2 to 100");
    }
    if c.e2ee.mode == super::E2eeMode::Required && c.recording.enabled {
        bad(
            "recording.enabled",
            "impossible with e2ee.mode = \"required\": the server cannot read what it would record",
        );
    }
    validate_access(c, &mut out);
    validate_recording(c, &mut out);
    validate_teletherapy(c, &mut out);
    if c.metrics.enabled && c.metrics.listen == c.server.listen {
        out.push(("metrics.listen".into(), "must differ from server.listen".into()));
    }
    let mut bad = |key: &str, msg: &str| out.push((key.to_string(), msg.to_string()));
    if c.client.app_name.trim().is_empty() || c.client.app_name.chars().count() > 60 {
        bad("client.app_name", "must be 1 to 60 characters");
    }
    for (key, url) in [("client.imprint_url", &c.client.imprint_url), ("client.privacy_url", &c.client.privacy_url)] {
        if let Some(url) = url
            && (!(url.starts_with("https://") || url.starts_with('/')) || url.chars().any(char::is_whitespace))
        {
            bad(key, "must be an https:// address or a path on this server starting with /");
        }
    }
    out
}

/// `[recording]`: keys to encrypt to, a directory, retention, texts.
/// X25519 keys (deprecated by age 0.13 for its post-quantum ones, which
/// Debian's age 1.1 cannot read: see `crate::record::store::Recipients`).
#[allow(deprecated)]
fn validate_recording(c: &Config, out: &mut Vec<(String, String)>) {
    let r = &c.recording;
    let mut bad = |key: &str, msg: String| out.push((key.to_string(), msg));
    if r.retention_days == 0 {
        bad("recording.retention_days", "must be at least 1 day".into());
    }
    if !r.directory.is_absolute() {
        bad("recording.directory", "must be an absolute path".into());
    }
    for (key, text) in
        [("recording.consent_text_de", &r.consent_text_de), ("recording.consent_text_en", &r.consent_text_en)]
    {
        if let Some(t) = text
            && (t.trim().is_empty() || t.chars().count() > super::MAX_CONSENT_TEXT_CHARS)
        {
            bad(key, format!("must be 1 to {} characters", super::MAX_CONSENT_TEXT_CHARS));
        }
    }
    if !r.enabled {
        return;
    }
    // No key at all is the policy's rule `recording-encrypted-at-rest`.
    for k in &r.recipients {
        if k.trim().parse::<age::x25519::Recipient>().is_err() {
            let shown: String = k.chars().take(12).collect();
            bad("recording.recipients", format!("`{shown}…` is not an age X25519 public key (age1…)"));
        }
    }
}

/// `[teletherapy]`: ranges, texts, and what it needs of the rest.
fn validate_teletherapy(c: &Config, out: &mut Vec<(String, String)>) {
    let t = &c.teletherapy;
    let mut bad = |key: &str, msg: String| out.push((key.to_string(), msg));
    if t.enabled && c.access.mode == super::AccessMode::Open {
        bad(
            "teletherapy.enabled",
            "needs access.mode = \"secure\" or \"closed\": only logged-in therapists may hold appointments".into(),
        );
    }
    for (key, value, max) in [
        ("teletherapy.link_opens_minutes_before", t.link_opens_minutes_before, 1440),
        ("teletherapy.link_grace_minutes_after", t.link_grace_minutes_after, 1440),
    ] {
        if value > max {
            bad(key, format!("must be 0 to {max} minutes"));
        }
    }
    if !(1..=99).contains(&t.max_patients) {
        bad("teletherapy.max_patients", "must be 1 to 99".into());
    } else if t.max_patients >= c.rooms.max_participants {
        bad(
            "teletherapy.max_patients",
            format!(
                "must be less than rooms.max_participants ({}), which must leave room for the therapist",
                c.rooms.max_participants
            ),
        );
    }
    if !(1..=2160).contains(&t.record_retention_hours) {
        bad("teletherapy.record_retention_hours", "must be 1 to 2160 hours (90 days)".into());
    }
    if !(1..=10_000).contains(&t.max_appointments_per_therapist) {
        bad("teletherapy.max_appointments_per_therapist", "must be 1 to 10000".into());
    }
    if let Some(name) = &t.practice_name
        && (name.trim().is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control))
    {
        bad("teletherapy.practice_name", "must be 1 to 100 characters, no control characters".into());
    }
    for (key, text) in
        [("teletherapy.consent_text_de", &t.consent_text_de), ("teletherapy.consent_text_en", &t.consent_text_en)]
    {
        if let Some(text) = text
            && (text.trim().is_empty() || text.chars().count() > super::MAX_TELETHERAPY_CONSENT_CHARS)
        {
            bad(key, format!("must be 1 to {} characters", super::MAX_TELETHERAPY_CONSENT_CHARS));
        }
    }
}

/// `[tls.acme]`.
fn validate_acme(c: &Config, acme: &super::AcmeConfig, out: &mut Vec<(String, String)>) {
    let mut bad = |key: &str, msg: String| out.push((key.to_string(), msg));
    if acme.domains.is_empty() {
        bad("tls.acme.domains", "needs at least one DNS name, e.g. [\"meet.example.org\"]".into());
    }
    for d in &acme.domains {
        if let Err(why) = check_dns_name(d) {
            bad("tls.acme.domains", format!("`{d}`: {why}"));
        }
    }
    if let Some(contact) = &acme.contact {
        let ok = contact
            .strip_prefix("mailto:")
            .is_some_and(|a| a.contains('@') && !a.starts_with('@') && !a.ends_with('@') && !a.contains([' ', ',']));
        if !ok {
            bad("tls.acme.contact", "must be one address written mailto:name@example.org".into());
        }
    }
    let dir = &acme.directory;
    let host = dir.strip_prefix("https://").map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
    if host.is_none_or(|h| h.is_empty() || h.contains('@') || h.contains(char::is_whitespace)) {
        bad("tls.acme.directory", "must be the https:// URL of the CA's ACME directory".into());
    }
    if acme.state_directory.as_os_str().is_empty() {
        bad("tls.acme.state_directory", "must name a directory".into());
    }
    if acme.challenge == super::AcmeChallenge::Http01 && c.server.http_redirect_listen.is_none() {
        bad(
            "tls.acme.challenge",
            "\"http-01\" is answered on server.http_redirect_listen, which is not set; set it (port 80) or use \"tls-alpn-01\"".into(),
        );
    }
}

/// A DNS name a CA can issue for: letters, digits and hyphens in labels of
/// at most 63 characters, at least two labels, no wildcard, no address.
fn check_dns_name(name: &str) -> Result<(), String> {
    if name.starts_with("*.") {
        return Err("wildcards need the DNS-01 challenge, which Kabine does not answer".into());
    }
    if name.parse::<std::net::IpAddr>().is_ok() {
        return Err("must be a DNS name, not an address".into());
    }
    let labels: Vec<&str> = name.trim_end_matches('.').split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if name.len() > 253 || labels.len() < 2 || !labels.iter().all(label_ok) {
        return Err("must be a DNS name such as meet.example.org (letters, digits, hyphens; IDNs as xn--…)".into());
    }
    Ok(())
}

/// `[access]` and `[ldap]`.
fn validate_access(c: &Config, out: &mut Vec<(String, String)>) {
    let mut bad = |key: &str, msg: String| out.push((key.to_string(), msg));
    if c.access.users_file.as_os_str().is_empty() {
        bad("access.users_file", "must name a file".into());
    }
    if c.access.session_idle_timeout_minutes == 0 {
        bad("access.session_idle_timeout_minutes", "must be at least 1 minute".into());
    }
    if c.access.session_lifetime_hours == 0 {
        bad("access.session_lifetime_hours", "must be at least 1 hour".into());
    }
    let l = &c.ldap;
    let Some(url) = &l.url else {
        return;
    };
    match url.split_once("://") {
        Some(("ldaps", rest)) | Some(("ldap", rest)) => {
            let host = rest.trim_end_matches('/');
            if host.is_empty() || host.contains(['/', '?', '@', ' ']) {
                bad("ldap.url", "must be ldaps://HOST[:PORT] or ldap://HOST[:PORT], without a path".into());
            }
            if url.starts_with("ldaps://") && l.starttls {
                bad("ldap.starttls", "StartTLS is for ldap:// URLs; ldaps:// is TLS from the start".into());
            }
        }
        _ => bad("ldap.url", "must start with ldaps:// (or ldap:// with starttls = true)".into()),
    }
    if l.user_base.trim().is_empty() {
        bad(
            "ldap.user_base",
            "must name the subtree where users are searched, e.g. ou=people,dc=example,dc=org".into(),
        );
    }
    if let Err(why) = check_filter_template(&l.user_filter, &["{username}"]) {
        bad("ldap.user_filter", why);
    }
    if l.host_group_check == super::HostGroupCheck::GroupSearch {
        if let Err(why) = check_filter_template(&l.group_filter, &["{dn}", "{username}"]) {
            bad("ldap.group_filter", why);
        }
        if l.host_group.is_none() {
            bad("ldap.host_group_check", "\"group_search\" needs ldap.host_group, the group to search".into());
        }
    }
    if l.display_name_attributes
        .iter()
        .any(|a| a.is_empty() || !a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
    {
        bad("ldap.display_name_attributes", "attribute names are letters, digits and -".into());
    }
    if l.bind_password.is_some() && l.bind_password_file.is_some() {
        bad("ldap.bind_password_file", "set bind_password or bind_password_file, not both".into());
    }
    let has_password = l.bind_password.is_some() || l.bind_password_file.is_some();
    if l.bind_dn.is_some() != has_password {
        bad("ldap.bind_dn", "bind_dn and a bind password go together (both unset: anonymous search)".into());
    }
    for (key, ms) in
        [("ldap.connect_timeout_ms", l.connect_timeout_ms), ("ldap.operation_timeout_ms", l.operation_timeout_ms)]
    {
        if !(100..=60_000).contains(&ms) {
            bad(key, "must be 100 to 60000 milliseconds".into());
        }
    }
}

/// An LDAP filter template: one parenthesised filter using at least one of
/// `placeholders`, with balanced parentheses.
fn check_filter_template(filter: &str, placeholders: &[&str]) -> Result<(), String> {
    if !placeholders.iter().any(|p| filter.contains(p)) {
        return Err(format!("must contain {}", placeholders.join(" or ")));
    }
    if !filter.starts_with('(') || !filter.ends_with(')') {
        return Err("must be one filter in parentheses, e.g. (uid={username})".into());
    }
    let mut depth = 0i32;
    for (i, ch) in filter.char_indices() {
        match ch {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 || (depth == 0 && i + 1 != filter.len()) {
                    return Err("parentheses do not match".into());
                }
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("parentheses do not match".into());
    }
    Ok(())
}

fn check_public_url(url: &str) -> Result<(), String> {
    let Some(rest) = url.strip_prefix("https://") else {
        return Err("must start with https://".into());
    };
    let host = rest.trim_end_matches('/');
    if host.is_empty() || host.contains('/') || host.contains('?') || host.contains('#') || host.contains('@') {
        return Err("must be https://HOST or https://HOST:PORT, without a path".into());
    }
    Ok(())
}

/// 1-based line of a byte offset.
fn line_at(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

/// Records the line of every key and table in the document.
fn index_keys(table: &DeTable<'_>, prefix: &str, text: &str, out: &mut KeyIndex) {
    for (k, v) in table.iter() {
        let path = join(prefix, k.get_ref());
        out.lines.entry(path.clone()).or_insert_with(|| line_at(text, k.span().start));
        match v.get_ref() {
            DeValue::Table(t) => index_keys(t, &path, text, out),
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let item_path = format!("{path}[{i}]");
                    out.lines.entry(item_path.clone()).or_insert_with(|| line_at(text, item.span().start));
                    if let DeValue::Table(t) = item.get_ref() {
                        index_keys(t, &item_path, text, out);
                    }
                }
            }
            _ => {}
        }
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() { key.to_string() } else { format!("{prefix}.{key}") }
}

struct Located {
    /// The key as shown to the user, array indexes included.
    path: String,
    /// Table keys down to the entry to remove (arrays are removed whole).
    removable: Vec<String>,
}

/// Finds the innermost key whose name or value covers `span`. Standard
/// tables (`[log]`) span only their header, so children are searched first.
fn locate(table: &DeTable<'_>, span: &Range<usize>, prefix: &str) -> Option<Located> {
    let covers = |s: &Range<usize>| s.start <= span.start && span.start < s.end.max(s.start + 1);
    for (k, v) in table.iter() {
        let path = join(prefix, k.get_ref());
        let removable = vec![k.get_ref().to_string()];
        match v.get_ref() {
            DeValue::Table(t) => {
                if let Some(mut inner) = locate(t, span, &path) {
                    inner.removable.insert(0, k.get_ref().to_string());
                    return Some(inner);
                }
            }
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let item_path = format!("{path}[{i}]");
                    if let DeValue::Table(t) = item.get_ref()
                        && let Some(inner) = locate(t, span, &item_path)
                    {
                        return Some(Located { path: inner.path, removable });
                    }
                    if covers(&item.span()) {
                        return Some(Located { path: item_path, removable });
                    }
                }
            }
            _ => {}
        }
        if covers(&k.span()) || covers(&v.span()) {
            return Some(Located { path, removable });
        }
    }
    None
}

fn remove_key(table: &mut DeTable<'_>, path: &[String]) -> bool {
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    if rest.is_empty() {
        return table.remove(first.as_str()).is_some();
    }
    for (k, v) in table.iter_mut() {
        if k.get_ref() == first
            && let DeValue::Table(t) = v.get_mut()
        {
            return remove_key(t, rest);
        }
    }
    false
}

/// serde's messages with the noise for users taken out.
fn clean_message(message: &str) -> String {
    let m = message.trim();
    let m = m.replace("invalid type: ", "wrong type: ");
    if let Some(rest) = m.strip_prefix("unknown field ") {
        return format!("unknown key {rest}");
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        match load_str(text, "t.toml") {
            Ok(_) => Vec::new(),
            Err(e) => e.problems.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn restrictive_network_keys_are_checked_one_line_each() {
        let p = problems("[media]\nice_tcp_port = 0\nturn_tls_name = \"192.0.2.1\"\nturn_credential_lifetime = 1\n");
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p.iter().any(|l| l.contains("media.ice_tcp_port")), "{p:?}");
        assert!(p.iter().any(|l| l.contains("media.turn_tls_name: must be a DNS name")), "{p:?}");
        assert!(p.iter().any(|l| l.contains("media.turn_credential_lifetime")), "{p:?}");
        let acme = "[tls.acme]\ndomains = [\"meet.example.eu\"]\ncontact = \"mailto:it@example.eu\"\n\
                    [media]\nturn_tls_name = \"turn.example.eu\"\n";
        let p = problems(acme);
        assert!(p.iter().any(|l| l.contains("must be one of tls.acme.domains")), "{p:?}");
        assert!(problems("[media]\nturn_tls_name = \"turn.example.eu\"\nice_tcp_port = 443\n").is_empty());
    }

    #[test]
    fn teletherapy_problems_are_named_one_line_each() {
        let p = problems(
            "[teletherapy]\nenabled = true\nlink_opens_minutes_before = 1441\nmax_patients = 0\n\
             record_retention_hours = 2161\nmax_appointments_per_therapist = 0\nconsent_text_de = \" \"\n",
        );
        assert_eq!(p.len(), 6, "{p:?}");
        for key in [
            "teletherapy.enabled: needs access.mode",
            "teletherapy.link_opens_minutes_before",
            "teletherapy.max_patients",
            "teletherapy.record_retention_hours",
            "teletherapy.max_appointments_per_therapist",
            "teletherapy.consent_text_de",
        ] {
            assert!(p.iter().any(|l| l.contains(key)), "{key}: {p:?}");
        }
        let p = problems("[rooms]\nmax_participants = 9\n[access]\nmode = \"secure\"\n[teletherapy]\nenabled = true\n");
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("teletherapy.max_patients: must be less than rooms.max_participants (9)"), "{p:?}");
        assert!(problems("[access]\nmode = \"secure\"\n[teletherapy]\nenabled = true\n").is_empty());
    }

    /// Unset, the lobby is on when a meeting opens wherever guests wait for a
    /// host (`secure`, `closed`) and off in `open` mode; set, it holds for
    /// every mode (the room layer's settings take this value: a test in
    /// `room::tests::moderation`).
    #[test]
    fn lobby_on_open_follows_the_access_mode_unless_set() {
        let on = |text: &str| {
            let c = load_str(text, "t.toml").expect("loads").config;
            c.rooms.lobby_on_open(c.access.mode)
        };
        assert!(!on(""));
        assert!(on("[access]\nmode = \"secure\""));
        assert!(on("[access]\nmode = \"closed\""));
        assert!(!on("[access]\nmode = \"secure\"\n[rooms]\nlobby_on_open = false"));
        assert!(!on("[access]\nmode = \"closed\"\n[rooms]\nlobby_on_open = false"));
        assert!(on("[rooms]\nlobby_on_open = true"));
        let p = problems("[rooms]\nlobby_on_open = \"yes\"\n");
        assert!(p.len() == 1 && p[0].starts_with("t.toml:2: rooms.lobby_on_open: wrong type"), "{p:?}");
    }

    #[test]
    fn empty_file_is_the_demo() {
        let c = load_str("", "t.toml").expect("empty config loads").config;
        assert_eq!(c.server.listen.port(), 8443);
        assert_eq!(c.media.udp_port, 10000);
    }

    #[test]
    fn every_problem_is_reported_with_line_and_key() {
        let p =
            problems("[log]\nlevel = \"verbose\"\ncolour = true\n\n[media]\nudp_port = \"ten\"\n\n[nonsense]\nx = 1\n");
        assert_eq!(p.len(), 4, "{p:#?}");
        assert!(p[0].starts_with("t.toml:2: log.level: unknown variant `verbose`"), "{}", p[0]);
        assert!(p[1].starts_with("t.toml:3: log.colour: unknown key `colour`"), "{}", p[1]);
        assert!(p[2].starts_with("t.toml:6: media.udp_port: wrong type"), "{}", p[2]);
        assert!(p[3].starts_with("t.toml:8: nonsense: unknown key `nonsense`"), "{}", p[3]);
    }

    #[test]
    fn unknown_key_in_array_of_tables() {
        let p = problems("[[media.ice_servers]]\nurls = [\"stun:stun.example.eu\"]\nfoo = 1\n");
        assert_eq!(p.len(), 1, "{p:#?}");
        assert!(p[0].starts_with("t.toml:3: media.ice_servers[0].foo: unknown key `foo`"), "{}", p[0]);
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let p = problems("[log\nlevel = 1\n");
        assert!(!p.is_empty());
        assert!(p[0].starts_with("t.toml:1: TOML syntax"), "{}", p[0]);
    }

    #[test]
    fn engine_threads_are_0_to_16_and_0_means_one_per_core() {
        for n in [0, 1, 16] {
            assert!(problems(&format!("[media]\nengine_threads = {n}\n")).is_empty());
        }
        let p = problems("[media]\nengine_threads = 17\n");
        assert!(p.len() == 1 && p[0].contains("media.engine_threads: must be 0 (one per CPU core) to 16"), "{p:#?}");
        let mut media = crate::config::MediaConfig::default();
        assert_eq!(media.engine_shards(), 1, "one engine thread unless asked");
        media.engine_threads = 0;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()).min(16);
        assert_eq!(media.engine_shards(), cores);
        media.engine_threads = 3;
        assert_eq!(media.engine_shards(), 3);
    }

    #[test]
    fn room_size_stays_within_what_the_signalling_limit_carries() {
        assert!(problems("[rooms]\nmax_participants = 300\n").is_empty());
        for slots in [1, 3, 16] {
            assert!(problems(&format!("[media]\naudio_slots = {slots}\n")).is_empty());
        }
        for slots in [0, 17] {
            let p = problems(&format!("[media]\naudio_slots = {slots}\n"));
            assert!(p.len() == 1 && p[0].contains("media.audio_slots: must be 1 to 16"), "{p:#?}");
        }
        let p = problems("[rooms]\nmax_participants = 301\n");
        assert!(p.len() == 1 && p[0].contains("rooms.max_participants: must be at most 300"), "{p:#?}");
    }

    #[test]
    fn acme_settings_are_checked() {
        assert!(problems("[tls.acme]\ndomains = [\"meet.example.org\"]\n").is_empty());
        let p = problems(
            "[tls]\ncert_file = \"/c.pem\"\nkey_file = \"/k.pem\"\n[tls.acme]\n\
             domains = [\"*.example.org\", \"192.0.2.1\", \"x\"]\ncontact = \"it@example.org\"\n\
             directory = \"http://ca.example/dir\"\nchallenge = \"http-01\"\n",
        );
        let has = |key: &str, text: &str| p.iter().any(|l| l.contains(key) && l.contains(text));
        assert!(has("tls.acme:", "not both"), "{p:#?}");
        assert!(has("tls.acme.domains", "wildcards"), "{p:#?}");
        assert!(has("tls.acme.domains", "not an address"), "{p:#?}");
        assert!(has("tls.acme.domains", "`x`"), "{p:#?}");
        assert!(has("tls.acme.contact", "mailto:"), "{p:#?}");
        assert!(has("tls.acme.directory", "https://"), "{p:#?}");
        assert!(has("tls.acme.challenge", "http_redirect_listen"), "{p:#?}");
        assert_eq!(p.len(), 7, "{p:#?}");
        let p = problems("[tls.acme]\ndomains = []\n");
        assert!(p.len() == 1 && p[0].contains("at least one DNS name"), "{p:#?}");
    }

    #[test]
    fn semantic_problems_name_the_key() {
        let p = problems("[tls]\ncert_file = \"/x.pem\"\n[server]\nhttp_redirect_listen = \"0.0.0.0:80\"\n");
        assert_eq!(p.len(), 2, "{p:#?}");
        assert!(p.iter().any(|l| l.contains("tls.key_file: missing")));
        assert!(p.iter().any(|l| l.starts_with("t.toml:4: server.http_redirect_listen: needs server.public_url")));
    }

    #[test]
    fn limits_that_cannot_work_are_refused_one_line_each() {
        // A semaphore of this size would panic at start; zero would refuse everyone.
        let p = problems(
            "[server]\nmax_connections = 9223372036854775807\nmax_connections_per_address = 0\n\
             tls_handshake_timeout_secs = 0\nheader_read_timeout_secs = 301\nidle_timeout_secs = 5\n\
             http2_max_concurrent_streams = 0\n[rooms]\nmax_waiting_per_address = 0\nmax_wait_minutes = 0\n",
        );
        assert_eq!(p.len(), 8, "{p:#?}");
        for key in [
            "server.max_connections:",
            "server.max_connections_per_address:",
            "server.tls_handshake_timeout_secs:",
            "server.header_read_timeout_secs:",
            "server.idle_timeout_secs:",
            "server.http2_max_concurrent_streams:",
            "rooms.max_waiting_per_address:",
            "rooms.max_wait_minutes:",
        ] {
            assert_eq!(p.iter().filter(|l| l.contains(key)).count(), 1, "{key} {p:#?}");
        }
    }

    #[test]
    fn end_to_end_encryption_settings_are_checked() {
        let c = load_str("", "t.toml").expect("loads").config;
        assert_eq!((c.e2ee.mode, c.e2ee.max_participants), (crate::config::E2eeMode::Optional, 20));
        for bad in
            ["[e2ee]\nmax_participants = 1\n", "[e2ee]\nmax_participants = 101\n", "[e2ee]\nmode = \"sometimes\"\n"]
        {
            assert!(!problems(bad).is_empty(), "{bad}");
        }
        let p = problems("[e2ee]\nmode = \"required\"\n[recording]\nenabled = true\n");
        assert!(p.iter().any(|p| p.contains("recording.enabled") && p.contains("e2ee")), "{p:#?}");
        assert!(problems("[e2ee]\nmode = \"required\"\nmax_participants = 100\n").is_empty());
    }
}
