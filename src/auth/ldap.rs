//! Logins against an LDAP directory (OpenLDAP, Active Directory, …).
//!
//! One connection per login, always encrypted (`ldaps://`, or StartTLS
//! before anything else is sent) with the certificate and host name
//! verified: bind as the service account, search the user with the login
//! name escaped into the filter (RFC 4515; no LDAP injection), check the
//! host group, then bind as the user to check the password. An empty
//! password is refused before any bind (a simple bind with an empty
//! password is an *unauthenticated* bind that many servers accept).
//! Directory accounts are never stored by Kabine. Every step has a timeout,
//! so a directory that is down or hangs gives a clear error, not a hang.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ldap3::{LdapConnAsync, LdapConnSettings, LdapError, Scope, SearchEntry, SearchOptions, ldap_escape};
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::password::Password;
use crate::config::{HostGroupCheck, LdapConfig, LoadedConfig, SecretString};

/// Longest login name sent to a directory.
pub const MAX_USERNAME_CHARS: usize = 256;
/// Longest display name taken from a directory.
const MAX_DISPLAY_NAME_CHARS: usize = 80;
/// Most directory logins in flight at once (one connection each).
pub const MAX_CONCURRENT_LOGINS: usize = 16;

/// A user the directory vouched for.
#[derive(Clone, PartialEq, Eq)]
pub struct DirectoryUser {
    pub dn: String,
    pub display_name: String,
    pub may_host: bool,
}

impl fmt::Debug for DirectoryUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirectoryUser").field("may_host", &self.may_host).finish_non_exhaustive()
    }
}

/// Why a directory login did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectoryError {
    /// Unknown user, wrong or empty password, a name that cannot be a user.
    Rejected,
    /// The directory cannot answer: down, too slow, TLS failure, or a
    /// configuration it refuses (service account, search base). The text is
    /// for the operator's log and never holds a user name.
    Unavailable(String),
}

impl fmt::Display for DirectoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DirectoryError::Rejected => f.write_str("the directory refused the login"),
            DirectoryError::Unavailable(why) => write!(f, "the LDAP directory is unavailable: {why}"),
        }
    }
}

/// A configured directory.
pub struct Directory {
    url: String,
    starttls: bool,
    tls: Arc<rustls::ClientConfig>,
    service: Option<(String, SecretString)>,
    user_base: String,
    user_filter: String,
    display_name_attributes: Vec<String>,
    host_group: Option<String>,
    host_group_check: HostGroupCheck,
    group_filter: String,
    connect_timeout: Duration,
    operation_timeout: Duration,
    /// Bounds the connections to the directory.
    slots: tokio::sync::Semaphore,
}

impl fmt::Debug for Directory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Directory").field("starttls", &self.starttls).finish_non_exhaustive()
    }
}

impl Directory {
    /// The directory of a config, `None` when `ldap.url` is unset. Refuses
    /// plain LDAP whatever the policy says: no code path sends a password
    /// unencrypted.
    pub fn from_config(loaded: &LoadedConfig) -> Result<Option<Directory>, String> {
        let c: &LdapConfig = &loaded.config.ldap;
        let Some(url) = &c.url else { return Ok(None) };
        if !crate::policy::ldap_transport_is_encrypted(url, c.starttls) {
            return Err("ldap.url: plain ldap:// is refused; use ldaps:// or set ldap.starttls = true".into());
        }
        let tls = client_tls(c.ca_file.as_deref().map(|p| loaded.resolve_path(p)).as_deref())?;
        let password = match (&c.bind_password, &c.bind_password_file) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(file)) => {
                let path = loaded.resolve_path(file);
                let text = zeroize::Zeroizing::new(
                    std::fs::read_to_string(&path)
                        .map_err(|e| format!("ldap.bind_password_file: cannot read {}: {e}", path.display()))?,
                );
                Some(SecretString::new(text.trim_end_matches(['\n', '\r']).to_string()))
            }
            (None, None) => None,
        };
        let service = match (&c.bind_dn, password) {
            (Some(dn), Some(pw)) => Some((dn.clone(), pw)),
            _ => None,
        };
        Ok(Some(Directory {
            url: url.clone(),
            starttls: c.starttls,
            tls,
            service,
            user_base: c.user_base.clone(),
            user_filter: c.user_filter.clone(),
            display_name_attributes: c.display_name_attributes.clone(),
            host_group: c.host_group.clone(),
            host_group_check: c.host_group_check,
            group_filter: c.group_filter.clone(),
            connect_timeout: Duration::from_millis(c.connect_timeout_ms),
            operation_timeout: Duration::from_millis(c.operation_timeout_ms),
            slots: tokio::sync::Semaphore::new(MAX_CONCURRENT_LOGINS),
        }))
    }

    /// The longest a login against the directory can take.
    pub fn max_login_time(&self) -> Duration {
        // Connect (TCP, StartTLS, TLS) and at most five operations.
        self.connect_timeout + self.operation_timeout * 5
    }

    /// Checks a login name and password against the directory.
    pub async fn authenticate(&self, username: &str, password: &Password) -> Result<DirectoryUser, DirectoryError> {
        // Before any connection: an empty password would be an
        // unauthenticated bind, which many servers answer with success.
        if password.is_empty() {
            return Err(DirectoryError::Rejected);
        }
        let username = username.trim();
        if username.is_empty()
            || username.chars().count() > MAX_USERNAME_CHARS
            || username.chars().any(char::is_control)
        {
            return Err(DirectoryError::Rejected);
        }
        let Ok(Ok(_slot)) = tokio::time::timeout(self.max_login_time(), self.slots.acquire()).await else {
            return Err(DirectoryError::Unavailable(format!(
                "more than {MAX_CONCURRENT_LOGINS} directory logins at once for too long"
            )));
        };
        match tokio::time::timeout(self.max_login_time(), self.login(username, password)).await {
            Ok(result) => result,
            Err(_) => {
                Err(DirectoryError::Unavailable(format!("no answer within {} ms", self.max_login_time().as_millis())))
            }
        }
    }

    async fn login(&self, username: &str, password: &Password) -> Result<DirectoryUser, DirectoryError> {
        let settings = LdapConnSettings::new()
            .set_conn_timeout(self.connect_timeout)
            .set_config(Arc::clone(&self.tls))
            .set_starttls(self.starttls);
        let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &self.url)
            .await
            .map_err(|e| unavailable("cannot connect", &e, self.connect_timeout))?;
        let driver = tokio::spawn(async move {
            let _ = conn.drive().await;
        });
        let result = self.login_on(&mut ldap, username, password).await;
        let _ = ldap.with_timeout(self.operation_timeout).unbind().await;
        driver.abort();
        result
    }

    async fn login_on(
        &self,
        ldap: &mut ldap3::Ldap,
        username: &str,
        password: &Password,
    ) -> Result<DirectoryUser, DirectoryError> {
        let op = self.operation_timeout;
        if let Some((dn, pw)) = &self.service {
            let r =
                ldap.with_timeout(op).simple_bind(dn, pw.expose()).await.map_err(|e| unavailable("bind", &e, op))?;
            if r.rc != 0 {
                return Err(DirectoryError::Unavailable(format!(
                    "the service account (ldap.bind_dn) was refused: {}",
                    rc_name(r.rc)
                )));
            }
        }

        let filter = fill_filter(&self.user_filter, &[("{username}", username)]);
        let mut attrs: Vec<&str> = self.display_name_attributes.iter().map(String::as_str).collect();
        if self.host_group.is_some() && self.host_group_check == HostGroupCheck::MemberOf {
            attrs.push("memberOf");
        }
        let search = ldap
            .with_search_options(SearchOptions::new().sizelimit(2))
            .with_timeout(op)
            .search(&self.user_base, Scope::Subtree, &filter, attrs)
            .await
            .map_err(|e| unavailable("user search", &e, op))?;
        let ldap3::SearchResult(entries, res) = search;
        // sizeLimitExceeded: more than one entry matched.
        if res.rc == 4 || entries.len() > 1 {
            tracing::warn!("LDAP user search matched more than one entry; check ldap.user_filter");
            return Err(DirectoryError::Rejected);
        }
        if res.rc != 0 {
            return Err(DirectoryError::Unavailable(format!(
                "the user search failed: {} (check ldap.user_base and ldap.user_filter)",
                rc_name(res.rc)
            )));
        }
        let Some(entry) = entries.into_iter().next() else {
            // Unknown user: spend one failing bind anyway, so that an unknown
            // name takes as long as a wrong password.
            let mut dummy = [0u8; 16];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut dummy);
            let fake_dn = format!("cn=kabine-no-such-user,{}", self.user_base);
            let fake_pw: String = dummy.iter().map(|b| format!("{b:02x}")).collect();
            let _ = ldap.with_timeout(op).simple_bind(&fake_dn, &fake_pw).await;
            return Err(DirectoryError::Rejected);
        };
        let entry = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| SearchEntry::construct(entry)))
            .map_err(|_| DirectoryError::Unavailable("the directory sent a malformed entry".into()))?;

        let display_name = self
            .display_name_attributes
            .iter()
            .find_map(|a| attr_value(&entry, a))
            .map(clean_display_name)
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| username.to_string());

        let may_host = match (&self.host_group, self.host_group_check) {
            (None, _) => true,
            (Some(group), HostGroupCheck::MemberOf) => entry
                .attrs
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case("memberOf"))
                .flat_map(|(_, v)| v)
                .any(|g| same_dn(g, group)),
            (Some(group), HostGroupCheck::GroupSearch) => {
                let filter = fill_filter(&self.group_filter, &[("{dn}", &entry.dn), ("{username}", username)]);
                let r = ldap
                    .with_timeout(op)
                    .search(group, Scope::Base, &filter, vec!["1.1"])
                    .await
                    .map_err(|e| unavailable("group search", &e, op))?;
                match r.1.rc {
                    0 => !r.0.is_empty(),
                    32 => {
                        tracing::warn!("ldap.host_group does not exist in the directory; nobody may host");
                        false
                    }
                    rc => {
                        return Err(DirectoryError::Unavailable(format!("the group search failed: {}", rc_name(rc))));
                    }
                }
            }
        };

        // Checked again right before the bind that tests the password.
        if password.is_empty() {
            return Err(DirectoryError::Rejected);
        }
        let bind = ldap
            .with_timeout(op)
            .simple_bind(&entry.dn, password.expose())
            .await
            .map_err(|e| unavailable("bind", &e, op))?;
        match bind.rc {
            0 => Ok(DirectoryUser { dn: entry.dn, display_name, may_host }),
            // invalidCredentials, inappropriateAuthentication, unwillingToPerform
            // (locked or disabled accounts), constraintViolation (expired).
            49 | 48 | 53 | 19 | 50 => Err(DirectoryError::Rejected),
            rc => Err(DirectoryError::Unavailable(format!("the password check failed: {}", rc_name(rc)))),
        }
    }
}

/// A filter template with every placeholder replaced by its escaped value,
/// in one pass over the template: a value that contains a placeholder's
/// text stays that text (one placeholder after another would fill it too).
pub fn fill_filter(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    loop {
        let next = values
            .iter()
            .filter(|(p, _)| !p.is_empty())
            .filter_map(|(p, v)| rest.find(p).map(|at| (at, *p, *v)))
            .min_by_key(|(at, _, _)| *at);
        let Some((at, placeholder, value)) = next else {
            out.push_str(rest);
            return out;
        };
        out.push_str(&rest[..at]);
        out.push_str(&ldap_escape(value));
        rest = &rest[at + placeholder.len()..];
    }
}

fn attr_value(entry: &SearchEntry, name: &str) -> Option<String> {
    entry
        .attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.iter().find(|s| !s.trim().is_empty()))
        .cloned()
}

fn clean_display_name(s: String) -> String {
    s.chars().filter(|c| !c.is_control()).take(MAX_DISPLAY_NAME_CHARS).collect::<String>().trim().to_string()
}

/// DNs compared loosely: case and spaces around separators do not matter.
fn same_dn(a: &str, b: &str) -> bool {
    let norm = |s: &str| -> String {
        s.split(',')
            .map(|rdn| rdn.split('=').map(str::trim).collect::<Vec<_>>().join("="))
            .collect::<Vec<_>>()
            .join(",")
            .to_lowercase()
    };
    norm(a) == norm(b)
}

fn unavailable(step: &str, e: &LdapError, timeout: Duration) -> DirectoryError {
    let why = match e {
        LdapError::Timeout { .. } => format!("{step}: no answer within {} ms", timeout.as_millis()),
        LdapError::Io { source } => format!("{step}: {source}"),
        LdapError::Rustls { source } => format!("{step}: TLS failed: {source}"),
        LdapError::LdapResult { result } => format!("{step}: {}", rc_name(result.rc)),
        other => format!("{step}: {other}"),
    };
    DirectoryError::Unavailable(why)
}

/// The name of an LDAP result code (RFC 4511).
fn rc_name(rc: u32) -> String {
    let name = match rc {
        1 => "operationsError",
        2 => "protocolError",
        3 => "timeLimitExceeded",
        4 => "sizeLimitExceeded",
        8 => "strongerAuthRequired",
        13 => "confidentialityRequired",
        32 => "noSuchObject",
        34 => "invalidDNSyntax",
        48 => "inappropriateAuthentication",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        80 => "other",
        _ => "",
    };
    if name.is_empty() { format!("result code {rc}") } else { format!("{name} ({rc})") }
}

/// rustls client settings for the directory: Kabine's own crypto provider
/// and suites, TLS 1.2+, and the CAs of `ca_file` (or the system's).
fn client_tls(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("ldap.ca_file: {}: {e}", path.display()))?
                .collect::<Result<_, _>>()
                .map_err(|e| format!("ldap.ca_file: {}: {e}", path.display()))?;
            for cert in certs {
                roots.add(cert).map_err(|e| format!("ldap.ca_file: {}: {e}", path.display()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
        }
    }
    if roots.is_empty() {
        return Err(match ca_file {
            Some(p) => format!("ldap.ca_file: {} holds no CA certificate", p.display()),
            None => "no CA certificates in the system store; set ldap.ca_file".into(),
        });
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(crate::tls::provider()))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS settings for LDAP: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_input_is_escaped_in_filters() {
        let t = "(&(objectClass=inetOrgPerson)(uid={username}))";
        assert_eq!(fill_filter(t, &[("{username}", "alice")]), "(&(objectClass=inetOrgPerson)(uid=alice))");
        assert_eq!(fill_filter(t, &[("{username}", "*")]), "(&(objectClass=inetOrgPerson)(uid=\\2a))");
        assert_eq!(
            fill_filter(t, &[("{username}", "alice)(|(uid=*")]),
            "(&(objectClass=inetOrgPerson)(uid=alice\\29\\28|\\28uid=\\2a))"
        );
        assert_eq!(fill_filter("(uid={username})", &[("{username}", "a\\b\0")]), "(uid=a\\5cb\\00)");
        // A DN holding filter characters is escaped too.
        assert_eq!(fill_filter("(member={dn})", &[("{dn}", "cn=a (b),dc=x")]), "(member=cn=a \\28b\\29,dc=x)");
    }

    /// Found by the `ldap_filter` fuzz target: a DN holding `{username}`
    /// got the user name filled into it by the second placeholder's pass.
    #[test]
    fn fill_filter_value_holding_a_placeholder_stays_as_it_is() {
        let t = "(&(memberUid={username})(member={dn}))";
        assert_eq!(
            fill_filter(t, &[("{dn}", "{username}"), ("{username}", "a\\b")]),
            "(&(memberUid=a\\5cb)(member={username}))"
        );
        assert_eq!(fill_filter("(uid={username})", &[("{username}", "{username}")]), "(uid={username})");
    }

    #[test]
    fn dns_compare_loosely() {
        assert!(same_dn("cn=Conf-Users, ou=groups,dc=example,dc=org", "CN=conf-users,ou=groups,dc=example,dc=org"));
        assert!(!same_dn("cn=conf-users,ou=groups,dc=example,dc=org", "cn=conf-users2,ou=groups,dc=example,dc=org"));
    }

    #[test]
    fn plain_ldap_is_refused_before_any_connection() {
        let mut loaded = LoadedConfig::demo();
        loaded.config.ldap.url = Some("ldap://127.0.0.1:1".into());
        loaded.config.ldap.user_base = "dc=example,dc=org".into();
        let err = Directory::from_config(&loaded).expect_err("plain LDAP refused");
        assert!(err.contains("plain ldap://"), "{err}");
    }

    /// A CA file for configs in tests (not used to sign anything).
    fn ca_file() -> std::path::PathBuf {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).expect("self-signed");
        let path = std::env::temp_dir().join(format!("kabine-ldap-test-ca-{}.pem", std::process::id()));
        std::fs::write(&path, cert.pem()).expect("write CA");
        path
    }

    #[tokio::test]
    async fn an_empty_password_never_reaches_the_directory() {
        let mut loaded = LoadedConfig::demo();
        let ca = ca_file();
        loaded.config.ldap.ca_file = Some(ca.clone());
        // Nothing listens on port 9: any connection attempt would be "unavailable".
        loaded.config.ldap.url = Some("ldaps://127.0.0.1:9".into());
        loaded.config.ldap.user_base = "dc=example,dc=org".into();
        let dir = Directory::from_config(&loaded);
        let _ = std::fs::remove_file(&ca);
        let Some(dir) = dir.expect("config ok") else { panic!("directory configured") };
        assert_eq!(dir.authenticate("alice", &Password::from("")).await, Err(DirectoryError::Rejected));
        assert!(matches!(dir.authenticate("alice", &Password::from("x")).await, Err(DirectoryError::Unavailable(_))));
    }
}
