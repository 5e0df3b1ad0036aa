//! Certificates by ACME (RFC 8555) inside the server, with instant-acme.
//!
//! One task per server obtains the certificate for `tls.acme.domains`,
//! keeps it in the state directory ([`store`]), hands it to the TLS
//! listener without a restart ([`CertStore::set`]) and renews it: in the
//! window the CA suggests (ARI, RFC 9773), or two thirds into its lifetime
//! when the CA has no ARI ([`schedule`]). Failed attempts are retried with
//! growing delays; each failure is a WARNING log line and is written to the
//! status file, where `kabine audit` finds it.
//!
//! Challenges: TLS-ALPN-01 (RFC 8737) on the HTTPS listener — the
//! validator asks for `acme-tls/1` and gets a certificate made here with
//! rcgen, never the real one — or HTTP-01 on the plain-HTTP redirect
//! listener ([`Http01Tokens`]).
//!
//! Until the first certificate arrives the server shows a self-signed one
//! for the domains (browsers warn for those first seconds).

#[cfg(test)]
mod ari_tests;
mod client;
pub mod schedule;
pub mod store;

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use instant_acme::{
    Account, AuthorizationStatus, CertificateIdentifier, ChallengeType, Identifier, NewAccount, NewOrder, Order,
    OrderStatus, RetryPolicy,
};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{AcmeChallenge, LoadedConfig};
use crate::tls::CertStore;
use schedule::{Basis, Validity, Window};
use store::{StateDir, Status, StoredAccount};

/// An attempt to obtain a certificate gives up after this long.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(300);

/// How the order is polled while the CA validates and issues.
const POLL: RetryPolicy =
    RetryPolicy::new().initial_delay(Duration::from_millis(250)).backoff(1.5).timeout(Duration::from_secs(120));

/// ACME settings of a server, paths resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    pub domains: Vec<String>,
    pub contact: Option<String>,
    pub directory: String,
    pub directory_ca_file: Option<PathBuf>,
    pub state_directory: PathBuf,
    pub challenge: AcmeChallenge,
    /// The plain-HTTP listener is there to answer HTTP-01.
    pub http01_listener: bool,
}

impl Settings {
    /// The ACME settings of a config, if it uses ACME.
    pub fn from_config(loaded: &LoadedConfig) -> Option<Settings> {
        let c = &loaded.config;
        let acme = c.tls.acme.as_ref()?;
        Some(Settings {
            domains: acme.domains.iter().map(|d| d.trim_end_matches('.').to_ascii_lowercase()).collect(),
            contact: acme.contact.clone(),
            directory: acme.directory.clone(),
            directory_ca_file: acme.directory_ca_file.as_deref().map(|p| loaded.resolve_path(p)),
            state_directory: loaded.resolve_path(&acme.state_directory),
            challenge: acme.challenge,
            http01_listener: c.server.http_redirect_listen.is_some(),
        })
    }

    /// The challenge of attempt number `attempt` (0-based).
    fn challenge_for(&self, attempt: u64) -> ChallengeType {
        match self.challenge {
            AcmeChallenge::TlsAlpn01 => ChallengeType::TlsAlpn01,
            AcmeChallenge::Http01 => ChallengeType::Http01,
            AcmeChallenge::Auto if self.http01_listener && attempt % 2 == 1 => ChallengeType::Http01,
            AcmeChallenge::Auto => ChallengeType::TlsAlpn01,
        }
    }
}

/// Tokens of pending HTTP-01 challenges and the key authorizations the
/// redirect listener answers them with.
#[derive(Debug, Default)]
pub struct Http01Tokens {
    pending: Mutex<HashMap<String, String>>,
}

impl Http01Tokens {
    /// The answer for `token`, while its challenge is pending.
    pub fn answer(&self, token: &str) -> Option<String> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).get(token).cloned()
    }

    fn insert(&self, token: String, key_authorization: String) {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).insert(token, key_authorization);
    }

    fn remove(&self, token: &str) {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).remove(token);
    }
}

/// Counters of the ACME task, for `/metrics`.
#[derive(Debug, Default)]
pub struct AcmeCounters {
    /// Certificates obtained since the start.
    pub certificates_obtained: AtomicU64,
    /// Failed attempts since the start.
    pub failures: AtomicU64,
    /// Failed attempts since the last success.
    pub consecutive_failures: AtomicU64,
    /// End of validity of the certificate served (Unix seconds; 0: none yet).
    pub not_after: AtomicI64,
}

/// The running ACME task.
#[derive(Debug, Clone)]
pub struct AcmeHandle {
    renew: Arc<Notify>,
    pub counters: Arc<AcmeCounters>,
}

impl AcmeHandle {
    /// Obtains a new certificate now, whatever the schedule says.
    pub fn renew_now(&self) {
        self.renew.notify_one();
    }
}

/// The certificate store a server starts with: the stored certificate when
/// it is for the configured names, else a self-signed one for them until
/// the first is obtained. Creates the state directory.
pub fn initial_store(settings: &Settings) -> io::Result<CertStore> {
    let state = StateDir::open(&settings.state_directory)?;
    let store = match state.certificate().filter(|c| covers(c, &settings.domains)) {
        Some(stored) => CertStore::with_key(stored),
        None => CertStore::self_signed(&settings.domains)?,
    };
    Ok(store.answering_tls_alpn())
}

/// Starts the ACME task: it obtains a certificate at once if the stored one
/// is missing or due, and then renews it until `shutdown`.
pub fn spawn(
    settings: Settings,
    certs: Arc<CertStore>,
    tokens: Arc<Http01Tokens>,
    shutdown: CancellationToken,
    tasks: &TaskTracker,
) -> io::Result<AcmeHandle> {
    let http = client::AcmeHttp::new(settings.directory_ca_file.as_deref()).map_err(io::Error::other)?;
    let state = StateDir::open(&settings.state_directory)?;
    let counters = Arc::new(AcmeCounters::default());
    let renew = Arc::new(Notify::new());
    let mut status = state.status().filter(|s| s.directory == settings.directory).unwrap_or_default();
    status.directory = settings.directory.clone();
    status.domains = settings.domains.clone();
    let current = state.certificate().filter(|c| covers(c, &settings.domains)).and_then(|c| Current::of(&c));
    if current.is_none() {
        status.not_before = None;
        status.not_after = None;
    }
    if let Some(c) = &current {
        counters.not_after.store(c.validity.not_after, Ordering::Relaxed);
    }
    counters.consecutive_failures.store(u64::from(status.consecutive_failures), Ordering::Relaxed);
    let manager = Manager {
        settings,
        state,
        http,
        certs,
        tokens,
        account: None,
        status,
        current,
        ari: Ari::default(),
        attempts: 0,
        counters: Arc::clone(&counters),
    };
    tasks.spawn(manager.run(Arc::clone(&renew), shutdown));
    Ok(AcmeHandle { renew, counters })
}

/// What is known about the certificate served.
#[derive(Debug, Clone)]
struct Current {
    validity: Validity,
    /// Its ARI identifier (authority key id and serial).
    id: Option<CertificateIdentifier<'static>>,
}

impl Current {
    fn of(certified: &CertifiedKey) -> Option<Current> {
        let leaf = certified.cert.first()?;
        let validity = validity_of(leaf)?;
        let id = CertificateIdentifier::try_from(leaf).ok().map(CertificateIdentifier::into_owned);
        Some(Current { validity, id })
    }
}

/// The validity period of a DER certificate.
pub fn validity_of(der: &CertificateDer<'_>) -> Option<Validity> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    let v = cert.validity();
    Some(Validity { not_before: v.not_before.timestamp(), not_after: v.not_after.timestamp() })
}

/// Whether a certificate names every one of `domains`.
fn covers(certified: &CertifiedKey, domains: &[String]) -> bool {
    let Some(leaf) = certified.cert.first() else { return false };
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(leaf.as_ref()) else { return false };
    let names: Vec<String> = match cert.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_ascii_lowercase()),
                _ => None,
            })
            .collect(),
        _ => return false,
    };
    domains.iter().all(|d| names.contains(d))
}

/// What the CA said about renewal (ARI).
#[derive(Debug, Clone, Copy, Default)]
struct Ari {
    /// `None`: not asked yet; `Some(false)`: the CA has no ARI.
    supported: Option<bool>,
    window: Option<Window>,
    /// When to ask again (Unix seconds).
    recheck_at: i64,
    /// Where in the window to renew, `[0, 1)`, chosen once per certificate.
    random: f64,
}

struct Manager {
    settings: Settings,
    state: StateDir,
    http: client::AcmeHttp,
    certs: Arc<CertStore>,
    tokens: Arc<Http01Tokens>,
    account: Option<Account>,
    status: Status,
    current: Option<Current>,
    ari: Ari,
    attempts: u64,
    counters: Arc<AcmeCounters>,
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// A date for log lines and status messages, e.g. `2026-12-24 13:05 UTC`.
pub fn format_time(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = crate::tls::civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", secs / 3600, secs % 3600 / 60)
}

impl Manager {
    /// When the served certificate is due, and by which rule; now without one.
    fn due(&self, now: i64) -> (i64, Option<Basis>) {
        match &self.current {
            None => (now, None),
            Some(c) => {
                let window = if self.ari.supported == Some(true) { self.ari.window } else { None };
                let (at, basis) = schedule::renewal_time(c.validity, window, self.ari.random);
                (at, Some(basis))
            }
        }
    }

    async fn run(mut self, renew: Arc<Notify>, shutdown: CancellationToken) {
        self.ari.random = rand::random::<f64>();
        loop {
            let now = unix_now();
            let (due, _) = self.due(now);
            let attempt_at = match (self.status.consecutive_failures, self.status.next_attempt) {
                (n, Some(next)) if n > 0 => next,
                _ => due,
            };
            // ARI is asked about a certificate we have, unless the CA has none.
            let ari_at = match (&self.current, self.ari.supported) {
                (Some(_), None | Some(true)) => Some(self.ari.recheck_at),
                _ => None,
            };
            let wake = attempt_at.min(ari_at.unwrap_or(i64::MAX));
            // Wake at least hourly: clocks jump, machines sleep.
            let sleep = Duration::from_secs((wake - now).clamp(0, 3600) as u64);
            let forced = tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(sleep) => false,
                _ = renew.notified() => true,
            };
            let now = unix_now();
            if !forced {
                if ari_at.is_some_and(|t| t <= now) {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = self.refresh_ari(now) => {}
                    }
                    continue;
                }
                if attempt_at > now {
                    continue;
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.attempt(now) => {}
            }
        }
    }

    /// The account at the CA: the stored one, or a new one (then stored).
    async fn account(&mut self) -> Result<Account, String> {
        if let Some(a) = &self.account {
            return Ok(a.clone());
        }
        let directory = self.settings.directory.clone();
        let builder = || Account::builder_with_http(Box::new(self.http.clone()));
        let stored = self.state.account(&directory).map_err(|e| e.to_string())?;
        let account = match stored {
            Some(credentials) => builder()
                .from_credentials(credentials)
                .await
                .map_err(|e| format!("the stored ACME account cannot be used: {e}"))?,
            None => {
                let contact: Vec<&str> = self.settings.contact.iter().map(String::as_str).collect();
                let new = NewAccount { contact: &contact, terms_of_service_agreed: true, only_return_existing: false };
                let (account, credentials) = builder()
                    .create(&new, directory.clone(), None)
                    .await
                    .map_err(|e| format!("creating an ACME account failed: {e}"))?;
                self.state
                    .save_account(&StoredAccount { directory, credentials })
                    .map_err(|e| format!("the new ACME account cannot be stored: {e}"))?;
                account
            }
        };
        self.account = Some(account.clone());
        Ok(account)
    }

    async fn refresh_ari(&mut self, now: i64) {
        let Some(id) = self.current.as_ref().and_then(|c| c.id.clone()) else {
            self.ari.supported = Some(false);
            return;
        };
        let account = match self.account().await {
            Ok(a) => a,
            Err(_) => {
                self.ari.recheck_at = now + 3600;
                return;
            }
        };
        match account.renewal_info(&id).await {
            Ok((info, hint)) => {
                let w = info.suggested_window;
                self.ari.supported = Some(true);
                self.ari.window = Some(Window { start: w.start.unix_timestamp(), end: w.end.unix_timestamp() });
                self.ari.recheck_at = now + schedule::ari_recheck(hint).as_secs() as i64;
            }
            Err(instant_acme::Error::Unsupported(_)) => self.ari.supported = Some(false),
            Err(_) => self.ari.recheck_at = now + 3600,
        }
        self.update_due();
        self.save_status();
    }

    fn update_due(&mut self) {
        let (due, basis) = self.due(unix_now());
        if self.current.is_some() {
            self.status.renewal_due = Some(due);
            self.status.renewal_basis = basis.map(|b| b.as_str().to_string());
        }
    }

    fn save_status(&self) {
        if let Err(e) = self.state.save_status(&self.status) {
            tracing::warn!(error = %e, "ACME: the renewal status cannot be written");
        }
    }

    async fn attempt(&mut self, now: i64) {
        let challenge = self.settings.challenge_for(self.attempts);
        self.attempts += 1;
        self.status.last_attempt = Some(now);
        let outcome = match tokio::time::timeout(ATTEMPT_TIMEOUT, self.obtain(challenge.clone())).await {
            Ok(r) => r,
            Err(_) => Err(format!("no certificate within {} s", ATTEMPT_TIMEOUT.as_secs())),
        };
        match outcome {
            Ok(current) => {
                self.counters.certificates_obtained.fetch_add(1, Ordering::Relaxed);
                self.counters.consecutive_failures.store(0, Ordering::Relaxed);
                self.counters.not_after.store(current.validity.not_after, Ordering::Relaxed);
                self.status.last_success = Some(unix_now());
                self.status.last_error = None;
                self.status.consecutive_failures = 0;
                self.status.next_attempt = None;
                self.status.not_before = Some(current.validity.not_before);
                self.status.not_after = Some(current.validity.not_after);
                // WARNING like every certificate change (the policy's level cap
                // hides info lines); once per renewal, every few weeks.
                tracing::warn!(
                    "ACME: new certificate for {}, valid until {}; served from now on",
                    self.settings.domains.join(", "),
                    format_time(current.validity.not_after)
                );
                self.current = Some(current);
                // A new certificate: ask ARI about it at once, and pick a new point in its window.
                self.ari = Ari { supported: self.ari.supported, window: None, recheck_at: 0, random: rand::random() };
                self.update_due();
            }
            Err(why) => {
                let why = crate::logging::redact::redact(&why).into_owned();
                self.counters.failures.fetch_add(1, Ordering::Relaxed);
                self.status.consecutive_failures = self.status.consecutive_failures.saturating_add(1);
                self.counters
                    .consecutive_failures
                    .store(u64::from(self.status.consecutive_failures), Ordering::Relaxed);
                let now = unix_now();
                let delay = schedule::retry_delay(self.status.consecutive_failures, now, self.status.not_after);
                self.status.next_attempt = Some(now + delay.as_secs() as i64);
                let served = match self.status.not_after {
                    Some(end) => format!("the certificate served now expires {}", format_time(end)),
                    None => "no certificate from the CA yet (serving a self-signed one)".to_string(),
                };
                tracing::warn!(
                    "ACME: obtaining a certificate for {} ({} challenge) failed, attempt {} in a row; \
                     next attempt in {} min; {served}: {why}",
                    self.settings.domains.join(", "),
                    challenge_name(&challenge),
                    self.status.consecutive_failures,
                    delay.as_secs().div_ceil(60),
                );
                self.status.last_error = Some(why);
                // A broken account (e.g. deactivated at the CA) is made anew next time.
                self.account = None;
            }
        }
        self.save_status();
    }

    /// One order from start to finish; the new certificate is stored and served.
    async fn obtain(&mut self, challenge: ChallengeType) -> Result<Current, String> {
        let account = self.account().await?;
        let identifiers: Vec<Identifier> = self.settings.domains.iter().map(|d| Identifier::Dns(d.clone())).collect();
        let mut new_order = NewOrder::new(&identifiers);
        if self.ari.supported == Some(true)
            && let Some(id) = self.current.as_ref().and_then(|c| c.id.clone())
        {
            new_order = new_order.replaces(id);
        }
        let mut order = account.new_order(&new_order).await.map_err(|e| format!("new order: {e}"))?;

        let pending = Provisioned {
            certs: Arc::clone(&self.certs),
            tokens: Arc::clone(&self.tokens),
            domains: Vec::new(),
            token_names: Vec::new(),
        };
        let pending = self.answer_challenges(&mut order, &challenge, pending).await?;
        let status = order.poll_ready(&POLL).await.map_err(|e| format!("waiting for validation: {e}"))?;
        drop(pending);
        if status != OrderStatus::Ready {
            return Err(why_invalid(&mut order).await);
        }

        let key = rcgen::KeyPair::generate().map_err(|e| format!("making a key: {e}"))?;
        let mut params = rcgen::CertificateParams::new(self.settings.domains.clone())
            .map_err(|e| format!("certificate request: {e}"))?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        let csr = params.serialize_request(&key).map_err(|e| format!("certificate request: {e}"))?;
        order.finalize_csr(csr.der()).await.map_err(|e| format!("finalize: {e}"))?;
        let chain_pem = order.poll_certificate(&POLL).await.map_err(|e| format!("fetching the certificate: {e}"))?;
        let key_pem = zeroize::Zeroizing::new(key.serialize_pem());

        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("the CA's certificate chain: {e}"))?;
        if chain.is_empty() {
            return Err("the CA sent no certificate".into());
        }
        let key_der = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| format!("the new key: {e}"))?;
        let certified = CertifiedKey::from_der(chain, key_der, &crate::tls::provider())
            .map_err(|e| format!("the CA's certificate does not match the key: {e}"))?;
        let current = Current::of(&certified).ok_or("the CA's certificate cannot be read")?;
        self.state.save_certificate(&chain_pem, &key_pem).map_err(|e| e.to_string())?;
        self.certs.set(Arc::new(certified));
        Ok(current)
    }

    /// Sets up the answer to every pending authorization of `order` and
    /// tells the CA to validate.
    async fn answer_challenges(
        &self,
        order: &mut Order,
        challenge: &ChallengeType,
        mut pending: Provisioned,
    ) -> Result<Provisioned, String> {
        let mut authorizations = order.authorizations();
        while let Some(authorization) = authorizations.next().await {
            let mut authorization = authorization.map_err(|e| format!("authorization: {e}"))?;
            match authorization.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                other => return Err(format!("an authorization is {other:?}")),
            }
            let mut handle = authorization
                .challenge(challenge.clone())
                .ok_or_else(|| format!("the CA offers no {} challenge", challenge_name(challenge)))?;
            let domain = handle.identifier().to_string();
            let key_authorization = handle.key_authorization();
            match challenge {
                ChallengeType::TlsAlpn01 => {
                    let certified = challenge_certificate(&domain, key_authorization.digest().as_ref())?;
                    pending.alpn(&domain, certified);
                }
                _ => pending.http(handle.token.clone(), key_authorization.as_str().to_string()),
            }
            handle.set_ready().await.map_err(|e| format!("challenge for {domain}: {e}"))?;
        }
        Ok(pending)
    }
}

/// Why an order became invalid: the problems the CA recorded on challenges.
async fn why_invalid(order: &mut Order) -> String {
    let mut reasons = Vec::new();
    let mut authorizations = order.authorizations();
    while let Some(Ok(mut authorization)) = authorizations.next().await {
        if authorization.refresh().await.is_err() {
            continue;
        }
        for c in &authorization.challenges {
            if let Some(problem) = &c.error {
                reasons.push(problem.to_string());
            }
        }
    }
    if reasons.is_empty() {
        "the CA did not validate the domains".into()
    } else {
        format!("the CA did not validate the domains: {}", reasons.join("; "))
    }
}

fn challenge_name(c: &ChallengeType) -> &'static str {
    match c {
        ChallengeType::TlsAlpn01 => "TLS-ALPN-01",
        ChallengeType::Http01 => "HTTP-01",
        ChallengeType::Dns01 => "DNS-01",
        _ => "other",
    }
}

/// The TLS-ALPN-01 certificate for `domain` (RFC 8737): self-signed, the
/// domain as its only name, and the SHA-256 of the key authorization in a
/// critical acmeIdentifier extension.
pub fn challenge_certificate(domain: &str, digest: &[u8]) -> Result<Arc<CertifiedKey>, String> {
    if digest.len() != 32 {
        return Err("the key authorization digest is not SHA-256".into());
    }
    let mut params =
        rcgen::CertificateParams::new(vec![domain.to_string()]).map_err(|e| format!("challenge certificate: {e}"))?;
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(digest)];
    let key = rcgen::KeyPair::generate().map_err(|e| format!("challenge certificate: {e}"))?;
    let cert = params.self_signed(&key).map_err(|e| format!("challenge certificate: {e}"))?;
    let key_der = PrivateKeyDer::try_from(key.serialize_der()).map_err(|e| format!("challenge certificate: {e}"))?;
    // Not `from_der`: its key check parses the certificate with webpki,
    // which refuses the critical acmeIdentifier extension (as it should
    // for any real certificate).
    let signing_key = crate::tls::provider()
        .key_provider
        .load_private_key(key_der)
        .map_err(|e| format!("challenge certificate: {e}"))?;
    Ok(Arc::new(CertifiedKey::new(vec![cert.der().clone()], signing_key)))
}

/// Challenge answers set up for one order; taken down when dropped, so an
/// order that fails half-way leaves nothing behind.
struct Provisioned {
    certs: Arc<CertStore>,
    tokens: Arc<Http01Tokens>,
    domains: Vec<String>,
    token_names: Vec<String>,
}

impl Provisioned {
    fn alpn(&mut self, domain: &str, certified: Arc<CertifiedKey>) {
        self.certs.add_alpn_challenge(domain, certified);
        self.domains.push(domain.to_string());
    }

    fn http(&mut self, token: String, key_authorization: String) {
        self.tokens.insert(token.clone(), key_authorization);
        self.token_names.push(token);
    }
}

impl Drop for Provisioned {
    fn drop(&mut self) {
        for d in &self.domains {
            self.certs.remove_alpn_challenge(d);
        }
        for t in &self.token_names {
            self.tokens.remove(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_challenge_certificate_carries_the_digest_and_the_name() {
        let digest = [7u8; 32];
        let ck = challenge_certificate("meet.example.org", &digest).expect("made");
        let (_, cert) = x509_parser::parse_x509_certificate(ck.cert[0].as_ref()).expect("parses");
        let ext = cert
            .extensions()
            .iter()
            .find(|e| e.oid.to_id_string() == "1.3.6.1.5.5.7.1.31")
            .expect("acmeIdentifier extension");
        assert!(ext.critical);
        assert_eq!(ext.value, [&[0x04, 0x20][..], &digest[..]].concat());
        assert!(covers(&ck, &["meet.example.org".to_string()]));
        assert!(!covers(&ck, &["other.example.org".to_string()]));
        assert!(challenge_certificate("meet.example.org", &[1, 2, 3]).is_err());
    }

    #[test]
    fn auto_alternates_only_with_a_redirect_listener() {
        let mut s = Settings {
            domains: vec!["a.example".into()],
            contact: None,
            directory: String::new(),
            directory_ca_file: None,
            state_directory: PathBuf::new(),
            challenge: AcmeChallenge::Auto,
            http01_listener: true,
        };
        assert_eq!(s.challenge_for(0), ChallengeType::TlsAlpn01);
        assert_eq!(s.challenge_for(1), ChallengeType::Http01);
        assert_eq!(s.challenge_for(2), ChallengeType::TlsAlpn01);
        s.http01_listener = false;
        assert_eq!(s.challenge_for(1), ChallengeType::TlsAlpn01);
        s.challenge = AcmeChallenge::Http01;
        assert_eq!(s.challenge_for(0), ChallengeType::Http01);
    }

    #[test]
    fn times_read_as_utc_dates() {
        assert_eq!(format_time(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_time(1_795_528_800), "2026-11-24 14:00 UTC");
    }
}
