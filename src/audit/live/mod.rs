//! Live checks: the running server, measured from outside (TLS, HTTP, the
//! signalling protocol) and, when it runs on this host, from `/proc` and
//! the directories it may write to.
//!
//! Measurements shared by several checks (the TLS version probe, the
//! certificate chain, the crawl of the client, the protocol session) are
//! made once, on first use, and kept in [`Ctx`].

mod checks;
mod e2ee;
mod http;
mod local;
mod session;
mod teletherapy;
mod tlsprobe;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use rustls::pki_types::CertificateDer;

use super::text::Msg;
use super::{Facts, LiveCheck, Options, Outcome};
use crate::config::{LoadedConfig, LogTarget};
use crate::policy::Policy;

/// The server under audit: `https://HOST[:PORT]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `https://host[:port]`, as browsers send it in `Origin`.
    pub origin: String,
    /// Host name or address, without brackets.
    pub host: String,
    pub port: u16,
    /// `host:port` (IPv6 in brackets), for `Host` and URLs.
    pub authority: String,
    /// The address that accepted a connection, once found.
    resolved: std::sync::OnceLock<SocketAddr>,
}

impl Target {
    /// Parses `https://HOST[:PORT][/]`.
    pub fn parse(url: &str) -> Result<Target, String> {
        let bad = |why: &str| format!("--url {url}: {why}; expected https://HOST or https://HOST:PORT");
        let rest = url.strip_prefix("https://").ok_or_else(|| bad("must start with https://"))?;
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
            return Err(bad("no path, query or user name allowed"));
        }
        let (host, port) = if let Some(r) = authority.strip_prefix('[') {
            let (h, after) = r.split_once(']').ok_or_else(|| bad("unclosed ["))?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| bad("bad port"))?,
                None if after.is_empty() => 443,
                None => return Err(bad("bad address")),
            };
            (h.to_string(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), p.parse().map_err(|_| bad("bad port"))?),
                None => (authority.to_string(), 443),
            }
        };
        if host.is_empty() || port == 0 {
            return Err(bad("no host or port"));
        }
        let host = host.to_ascii_lowercase();
        let bracketed = if host.contains(':') { format!("[{host}]") } else { host.clone() };
        let authority = if port == 443 { bracketed.clone() } else { format!("{bracketed}:{port}") };
        Ok(Target {
            origin: format!("https://{authority}"),
            host,
            port,
            authority: format!("{bracketed}:{port}"),
            resolved: std::sync::OnceLock::new(),
        })
    }

    /// The name for SNI and certificate checks (none for IP addresses).
    pub fn server_name(&self) -> Option<&str> {
        if self.host.parse::<IpAddr>().is_ok() { None } else { Some(&self.host) }
    }

    /// The first address of the host that accepts a TCP connection (a
    /// name like `localhost` may resolve to `::1` while the server listens on
    /// `127.0.0.1` only); the first address at all if none does.
    pub async fn addr(&self) -> Result<SocketAddr, String> {
        if let Some(a) = self.resolved.get() {
            return Ok(*a);
        }
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("cannot resolve {}: {e}", self.host))?
            .collect();
        let first = *addrs.first().ok_or_else(|| format!("{} resolves to no address", self.host))?;
        for a in &addrs {
            let probe =
                tokio::time::timeout(std::time::Duration::from_secs(3), tokio::net::TcpStream::connect(a)).await;
            if matches!(probe, Ok(Ok(_))) {
                let _ = self.resolved.set(*a);
                return Ok(*a);
            }
        }
        Ok(first)
    }
}

/// Pages and assets fetched from the server.
#[derive(Debug, Default)]
struct Crawl {
    /// Every response looked at, by path (for the header checks).
    responses: Vec<(String, Result<http::Response, String>)>,
    /// Same-origin files of the client that were fetched and scanned.
    assets: Vec<String>,
    /// References to other origins that make the browser send a request:
    /// (document, origin, where, url).
    foreign: Vec<(String, String, &'static str, String)>,
    /// Links to other sites, opened only when clicked.
    links: Vec<(String, String)>,
}

/// What the protocol session and the disk measurement found.
#[derive(Debug)]
struct SessionResult {
    session: session::Session,
    disk: Outcome,
}

/// What the live checks share.
pub struct Ctx<'a> {
    target: Target,
    loaded: &'a LoadedConfig,
    policy: &'a Policy,
    opts: &'a Options,
    versions: Option<Vec<(tlsprobe::Version, tlsprobe::Answer)>>,
    chain: Option<Result<Vec<CertificateDer<'static>>, String>>,
    crawl: Option<Crawl>,
    session: Option<SessionResult>,
    /// Whether a TCP connection to the server could be made at all.
    reachable: Option<Result<(), String>>,
}

impl<'a> Ctx<'a> {
    pub fn new(target: Target, loaded: &'a LoadedConfig, policy: &'a Policy, opts: &'a Options) -> Ctx<'a> {
        Ctx { target, loaded, policy, opts, versions: None, chain: None, crawl: None, session: None, reachable: None }
    }

    /// Connects once, so that an unreachable server fails every check at
    /// once instead of after each check's timeouts.
    async fn reachable(&mut self) -> Result<(), String> {
        if self.reachable.is_none() {
            let attempt = async {
                let addr = self.target.addr().await?;
                tokio::net::TcpStream::connect(addr)
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("cannot connect to port {}: {e}", self.target.port))
            };
            let r = match tokio::time::timeout(std::time::Duration::from_secs(10), attempt).await {
                Ok(r) => r,
                Err(_) => Err(format!("no TCP connection to port {} within 10 s", self.target.port)),
            };
            self.reachable = Some(r);
        }
        self.reachable.clone().unwrap_or(Ok(()))
    }

    /// Runs one live check.
    pub async fn run(&mut self, check: LiveCheck) -> Outcome {
        if !matches!(check, LiveCheck::LogsNoAddresses | LiveCheck::RecordingFiles)
            && let Err(e) = self.reachable().await
        {
            return unmeasurable(
                super::text::msg(
                    format!("Server `{}` nicht erreichbar.", self.target.origin),
                    format!("Server `{}` unreachable.", self.target.origin),
                ),
                &e,
            );
        }
        match check {
            LiveCheck::TlsVersions => self.tls_versions().await,
            LiveCheck::TlsCipherSuites => self.tls_cipher_suites().await,
            LiveCheck::CertificateTrust => self.certificate_trust().await,
            LiveCheck::CertificateExpiry => self.certificate_expiry().await,
            LiveCheck::Hsts => self.hsts().await,
            LiveCheck::Csp => self.csp().await,
            LiveCheck::SecurityHeaders => self.security_headers().await,
            LiveCheck::NoVersionHeader => self.no_version_header().await,
            LiveCheck::ClientNoThirdParty => self.client_no_third_party().await,
            LiveCheck::NoCookies => self.no_cookies().await,
            LiveCheck::WsForeignOrigin => self.ws_foreign_origin().await,
            LiveCheck::RoomLifecycle => self.room_lifecycle().await,
            LiveCheck::RoomNoDiskWrites => self.room_no_disk_writes().await,
            LiveCheck::IceServers => self.ice_servers().await,
            LiveCheck::Recording => self.recording().await,
            LiveCheck::RecordingFiles => self.recording_files(),
            LiveCheck::E2eeMedia => self.e2ee_media().await,
            LiveCheck::TeletherapyLinks => self.teletherapy_links().await,
            LiveCheck::LogsNoAddresses => self.logs_no_addresses().await,
        }
    }

    /// What the report's sections use.
    pub fn facts(&self) -> Facts {
        Facts {
            ice_servers_live: self.session.as_ref().and_then(|s| s.session.ice_servers.clone()),
            tls_versions: self
                .versions
                .iter()
                .flatten()
                .filter(|(v, a)| a.accepted(*v))
                .map(|(v, _)| v.name().to_string())
                .collect(),
        }
    }

    /// Directories the configuration lets the server write to, plus the
    /// configuration's own directory (nothing should be written there).
    fn watched_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        if self.loaded.config.log.target == LogTarget::File {
            dirs.push(self.loaded.config.log.directory.clone());
        }
        let store = self.loaded.resolve_path(&self.loaded.config.access.users_file);
        if let Some(dir) = store.parent().filter(|d| d.is_dir() && !dirs.iter().any(|x| x == d)) {
            dirs.push(dir.to_path_buf());
        }
        let config_dir = self
            .loaded
            .path
            .as_deref()
            .and_then(|p| std::fs::canonicalize(p).ok())
            .and_then(|p| p.parent().map(std::path::Path::to_path_buf));
        if let Some(dir) = config_dir
            && dir != std::path::Path::new("/")
            && !dirs.contains(&dir)
        {
            dirs.push(dir);
        }
        dirs
    }
}

/// An outcome for a measurement that could not be made.
fn unmeasurable(what: Msg, why: &str) -> Outcome {
    Outcome::fail(super::text::msg(
        format!("{} Nicht messbar: {why}", what.de),
        format!("{} Could not be measured: {why}", what.en),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let t = Target::parse("https://Meet.Example.org").expect("ok");
        assert_eq!(
            (t.host.as_str(), t.port, t.origin.as_str(), t.authority.as_str()),
            ("meet.example.org", 443, "https://meet.example.org", "meet.example.org:443")
        );
        let t = Target::parse("https://127.0.0.1:8443/").expect("ok");
        assert_eq!((t.origin.as_str(), t.server_name()), ("https://127.0.0.1:8443", None));
        let t = Target::parse("https://[::1]:8443").expect("ok");
        assert_eq!((t.host.as_str(), t.authority.as_str()), ("::1", "[::1]:8443"));
        for bad in ["http://x", "https://", "https://x/path", "https://x:99999", "https://u@x", "https://x:0"] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }
}
