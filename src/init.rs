//! `kabine init`: a complete, commented configuration for one server.
//!
//! The text is the commented example (`config/kabine.example.toml`, so
//! every key stays documented in one place) with the operator's answers
//! put in: the domain (HTTPS on 443, the redirect on 80, a certificate by
//! ACME), the contact for the CA, the access mode, the language, the name
//! shown in the client, and the imprint and privacy links. [`render`] is
//! pure; the command checks the result against the policy before it writes
//! anything, and never replaces an existing configuration — except the
//! untouched placeholder the Debian package installs ([`PACKAGE_PLACEHOLDER`]).

use crate::config::{AccessMode, Language};

/// The commented example the configuration is made from.
pub const EXAMPLE: &str = include_str!("../config/kabine.example.toml");

/// The configuration the Debian package installs before `kabine init` runs
/// (a local-only demo). `kabine init` may replace it while it is unchanged.
pub const PACKAGE_PLACEHOLDER: &str = include_str!("../config/debian/kabine.toml");

/// What `kabine init` asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answers {
    /// The server's DNS name, e.g. `meet.praxis-beispiel.de`.
    pub domain: String,
    /// `mailto:` address for the CA, or none.
    pub contact: Option<String>,
    pub access: AccessMode,
    pub language: Language,
    /// Name shown in the client, e.g. the practice's.
    pub name: String,
    pub imprint_url: Option<String>,
    pub privacy_url: Option<String>,
    /// The ACME directory (default: Let's Encrypt).
    pub acme_directory: String,
}

impl Answers {
    /// Defaults for everything but the domain.
    pub fn for_domain(domain: &str) -> Answers {
        Answers {
            domain: domain.trim().trim_end_matches('.').to_ascii_lowercase(),
            contact: None,
            access: AccessMode::Secure,
            language: Language::En,
            name: "Kabine".into(),
            imprint_url: None,
            privacy_url: None,
            acme_directory: crate::config::LETS_ENCRYPT_DIRECTORY.into(),
        }
    }
}

/// A TOML basic string.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// Sets `key` in `[table]` of `text` (`""`: the top level): the first line
/// `key = …` or `# key = …` of that table is replaced by `key = value`,
/// keeping a trailing comment of a set line. Returns false when there is no
/// such line.
fn set(text: &mut String, table: &str, key: &str, value: &str) -> bool {
    let mut current = String::new();
    let mut out = Vec::new();
    let mut done = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') && !trimmed.starts_with("[[") {
            current = trimmed.trim_matches(['[', ']']).to_string();
        }
        let bare = trimmed.trim_start_matches('#').trim_start();
        if !done && current == table && (bare.starts_with(&format!("{key} =")) || bare.starts_with(&format!("{key}=")))
        {
            out.push(format!("{key} = {value}"));
            done = true;
        } else {
            out.push(line.to_string());
        }
    }
    *text = out.join("\n") + "\n";
    done
}

/// Comments out `key` in `[table]`.
fn unset(text: &mut String, table: &str, key: &str) {
    let mut current = String::new();
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            let trimmed = line.trim();
            if trimmed.starts_with('[') && !trimmed.starts_with("[[") {
                current = trimmed.trim_matches(['[', ']']).to_string();
            }
            if current == table && (trimmed.starts_with(&format!("{key} =")) || trimmed.starts_with(&format!("{key}=")))
            {
                format!("# {trimmed}")
            } else {
                line.to_string()
            }
        })
        .collect();
    *text = lines.join("\n") + "\n";
}

/// The parent domain of a server name (`meet.praxis.de` → `praxis.de`).
fn parent(domain: &str) -> &str {
    match domain.split_once('.') {
        Some((_, rest)) if rest.contains('.') => rest,
        _ => domain,
    }
}

/// The configuration text for `answers`, with `today` (e.g. `2026-12-24`)
/// in its header. Pure.
pub fn render(answers: &Answers, today: &str) -> String {
    let domain = answers.domain.as_str();
    let org = parent(domain);
    let dc = org.split('.').map(|l| format!("dc={l}")).collect::<Vec<_>>().join(",");
    // The example's own names, as they appear in commented lines too.
    let body = EXAMPLE
        .split_once("\n\n")
        .map(|(_, rest)| rest)
        .unwrap_or(EXAMPLE)
        .replace("meet.praxis-beispiel.de", domain)
        .replace("dc=praxis-beispiel,dc=de", &dc)
        .replace("praxis-beispiel.de", org);
    let mut text = format!(
        "# Kabine configuration for {domain}, written by `kabine init` on {today}.\n\
         #\n\
         # Check it with   kabine policy check --config /etc/kabine/kabine.toml\n\
         # then start with systemctl enable --now kabine\n\
         #\n\
         # Every key is optional; what is shown here is the default unless the comment\n\
         # says otherwise. Unknown keys, wrong types and bad values are refused at\n\
         # start, each with its line. Settings that break the privacy policy are\n\
         # refused too, each naming the broken rule.\n\n{body}"
    );
    let t = &mut text;
    set(t, "server", "public_url", &quoted(&format!("https://{domain}")));
    set(t, "tls.acme", "domains", &format!("[{}]", quoted(domain)));
    set(t, "tls.acme", "directory", &quoted(&answers.acme_directory));
    match &answers.contact {
        Some(c) => {
            set(t, "tls.acme", "contact", &quoted(c));
        }
        None => unset(t, "tls.acme", "contact"),
    }
    set(t, "access", "mode", &quoted(answers.access.as_str()));
    let lang = match answers.language {
        Language::De => "de",
        Language::En => "en",
    };
    set(t, "client", "default_language", &quoted(lang));
    set(t, "client", "app_name", &quoted(&answers.name));
    for (key, url) in [("imprint_url", &answers.imprint_url), ("privacy_url", &answers.privacy_url)] {
        match url {
            Some(u) => {
                set(t, "client", key, &quoted(u));
            }
            None => unset(t, "client", key),
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_end_up_in_a_config_that_loads_and_passes_the_policy() {
        let mut a = Answers::for_domain("Meet.Praxis-Mueller.de.");
        a.contact = Some("mailto:it@praxis-mueller.de".into());
        a.language = Language::De;
        a.name = "Praxis Müller \"Videosprechstunde\"".into();
        a.imprint_url = Some("https://praxis-mueller.de/impressum".into());
        let text = render(&a, "2026-12-24");
        let loaded = crate::config::load_str(&text, "init.toml").unwrap_or_else(|e| panic!("{e}\n{text}"));
        let c = &loaded.config;
        assert_eq!(c.server.public_url.as_deref(), Some("https://meet.praxis-mueller.de"));
        let acme = c.tls.acme.as_ref().expect("ACME");
        assert_eq!(acme.domains, ["meet.praxis-mueller.de"]);
        assert_eq!(acme.contact.as_deref(), Some("mailto:it@praxis-mueller.de"));
        assert_eq!(c.access.mode, AccessMode::Secure);
        assert_eq!(c.client.default_language, Language::De);
        assert_eq!(c.client.app_name, "Praxis Müller \"Videosprechstunde\"");
        assert_eq!(c.client.imprint_url.as_deref(), Some("https://praxis-mueller.de/impressum"));
        assert_eq!(c.client.privacy_url, None);
        assert_eq!(c.ldap.user_base, "ou=people,dc=praxis-mueller,dc=de");
        assert!(!text.contains("praxis-beispiel"), "{text}");
        let policy = crate::policy::Policy::for_config(&loaded).expect("policy");
        let bad = crate::policy::violation_lines(&loaded, &crate::policy::check(&loaded, &policy));
        assert!(bad.is_empty(), "{bad:#?}");
    }

    #[test]
    fn without_a_contact_none_is_sent() {
        let text = render(&Answers::for_domain("meet.example.org"), "2026-12-24");
        let loaded = crate::config::load_str(&text, "init.toml").expect("loads");
        assert_eq!(loaded.config.tls.acme.expect("ACME").contact, None);
        assert_eq!(loaded.config.client.imprint_url, None);
    }

    #[test]
    fn the_package_placeholder_loads() {
        crate::config::load_str(PACKAGE_PLACEHOLDER, "kabine.toml").expect("the placeholder loads");
    }
}

/// The options of `kabine init` (flags; missing ones are asked on a terminal).
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub domain: Option<String>,
    pub contact: Option<String>,
    pub access: Option<String>,
    pub language: Option<String>,
    pub name: Option<String>,
    pub imprint_url: Option<String>,
    pub privacy_url: Option<String>,
    pub acme_directory: Option<String>,
    /// Where to write; default `/etc/kabine/kabine.toml`.
    pub path: std::path::PathBuf,
    /// Ask for what the flags leave open (standard input is a terminal).
    pub interactive: bool,
}

fn parse_access(s: &str) -> Result<AccessMode, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "open" => Ok(AccessMode::Open),
        "secure" => Ok(AccessMode::Secure),
        "closed" => Ok(AccessMode::Closed),
        other => Err(format!("access mode `{other}`: choose open, secure or closed")),
    }
}

fn parse_language(s: &str) -> Result<Language, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "de" | "deutsch" | "german" => Ok(Language::De),
        "en" | "english" | "englisch" => Ok(Language::En),
        other => Err(format!("language `{other}`: choose de or en")),
    }
}

/// `it@example.org` or `mailto:it@example.org`; empty: none.
fn parse_contact(s: &str) -> Option<String> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    Some(if s.starts_with("mailto:") { s.to_string() } else { format!("mailto:{s}") })
}

/// One line from the terminal, with `default` when empty.
fn ask(question: &str, default: &str) -> Result<String, String> {
    use std::io::Write as _;
    if default.is_empty() {
        eprint!("{question}: ");
    } else {
        eprint!("{question} [{default}]: ");
    }
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).map_err(|e| format!("cannot read the answer: {e}"))?;
    let line = line.trim();
    Ok(if line.is_empty() { default.to_string() } else { line.to_string() })
}

/// Gathers the answers from the flags and, if interactive, the terminal.
pub fn answers(o: &Options) -> Result<Answers, String> {
    let domain = match (&o.domain, o.interactive) {
        (Some(d), _) => d.clone(),
        (None, true) => ask("DNS name of this server (e.g. meet.praxis-beispiel.de)", "")?,
        (None, false) => return Err("--domain is needed (or run kabine init on a terminal to be asked)".into()),
    };
    let mut a = Answers::for_domain(&domain);
    let pick = |flag: &Option<String>, question: &str, default: &str| -> Result<String, String> {
        match (flag, o.interactive) {
            (Some(v), _) => Ok(v.clone()),
            (None, true) => ask(question, default),
            (None, false) => Ok(default.to_string()),
        }
    };
    a.contact = parse_contact(&pick(&o.contact, "E-mail address for the certificate authority (optional)", "")?);
    a.access = parse_access(&pick(&o.access, "Access: open, secure (hosts log in, guests wait) or closed", "secure")?)?;
    a.language = parse_language(&pick(&o.language, "Language for browsers that prefer neither: de or en", "en")?)?;
    a.name = pick(&o.name, "Name shown to participants (e.g. your practice)", "Kabine")?.trim().to_string();
    let url = |v: String| (!v.trim().is_empty()).then(|| v.trim().to_string());
    a.imprint_url = url(pick(&o.imprint_url, "Link to your imprint (Impressum), https://…", "")?);
    a.privacy_url = url(pick(&o.privacy_url, "Link to your privacy notice (Datenschutzerklärung), https://…", "")?);
    if let Some(d) = &o.acme_directory {
        a.acme_directory = d.clone();
    }
    Ok(a)
}

/// Renders, checks and writes the configuration. Refuses to replace an
/// existing file, except the package's untouched placeholder.
pub fn write(o: &Options, answers: &Answers) -> Result<(), String> {
    let path = &o.path;
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("{} exists and cannot be read ({e}); nothing was written", path.display())),
    };
    if existing.as_deref().is_some_and(|t| t != PACKAGE_PLACEHOLDER) {
        return Err(format!(
            "{} exists already; nothing was written. kabine init never replaces a configuration: \
             edit it, or move it away first",
            path.display()
        ));
    }
    let today = crate::acme::format_time(
        std::time::SystemTime::now()
            .duration_since(std::time::SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
    );
    let text = render(answers, today.split(' ').next().unwrap_or_default());
    let loaded = crate::config::load_str(&text, &path.display().to_string()).map_err(|e| e.to_string())?;
    let policy = crate::policy::Policy::for_config(&loaded)?;
    let violations = crate::policy::violation_lines(&loaded, &crate::policy::check(&loaded, &policy));
    if !violations.is_empty() {
        return Err(format!(
            "the configuration would violate the policy; nothing was written:\n{}",
            violations.join("\n")
        ));
    }
    write_new(path, text.as_bytes(), existing.is_some())
}

/// Writes the file: mode 0640, group of its directory (so a service user
/// in that group can read it), replacing only when `replace`.
fn write_new(path: &std::path::Path, bytes: &[u8], replace: bool) -> Result<(), String> {
    use std::io::Write as _;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let fail = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    let target = if replace { dir.join(format!(".kabine-init-{}", std::process::id())) } else { path.to_path_buf() };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o640);
    }
    let mut f = options.open(&target).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => format!("{} exists already; nothing was written", path.display()),
        _ => fail(e),
    })?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(fail)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let Ok(meta) = std::fs::metadata(dir) {
            let _ = std::os::unix::fs::fchown(&f, None, Some(meta.gid()));
        }
    }
    drop(f);
    if replace {
        std::fs::rename(&target, path).map_err(|e| {
            let _ = std::fs::remove_file(&target);
            fail(e)
        })?;
    }
    Ok(())
}
