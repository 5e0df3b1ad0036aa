//! TLS for the HTTPS listener: Mozilla "intermediate" with AEAD only.
//!
//! TLS 1.2 and 1.3 only; TLS 1.2 suites are ECDHE with AES-GCM or
//! ChaCha20-Poly1305; key exchange X25519, P-256 or P-384. The certificate is
//! either made in memory at start (the demo; nothing is written to disk) or
//! read from PEM files and reloaded when they change on disk.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::crypto::aws_lc_rs::{self, cipher_suite as cs, kx_group};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_util::sync::CancellationToken;

use crate::config::TlsVersion;

/// Common name of the self-signed demo certificate (the audit recognises it by this).
pub const DEMO_CERT_NAME: &str = "Kabine demo (self-signed)";

/// How often certificate files are checked for changes.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(2);

/// The crypto provider for every TLS connection Kabine accepts.
pub fn provider() -> CryptoProvider {
    CryptoProvider {
        cipher_suites: vec![
            cs::TLS13_AES_128_GCM_SHA256,
            cs::TLS13_AES_256_GCM_SHA384,
            cs::TLS13_CHACHA20_POLY1305_SHA256,
            cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ],
        kx_groups: vec![kx_group::X25519, kx_group::SECP256R1, kx_group::SECP384R1],
        ..aws_lc_rs::default_provider()
    }
}

/// The ALPN protocol of the ACME TLS-ALPN-01 challenge (RFC 8737).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// The rustls server configuration for HTTPS. When `certs` answers ACME
/// TLS-ALPN-01 challenges, `acme-tls/1` is offered too: only a CA's
/// validator asks for it, and it gets the challenge certificate.
pub fn server_config(certs: Arc<CertStore>, min_version: TlsVersion) -> Result<rustls::ServerConfig, rustls::Error> {
    let versions: &[&rustls::SupportedProtocolVersion] = if min_version >= TlsVersion::V1_3 {
        &[&rustls::version::TLS13]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let acme = certs.answers_tls_alpn;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(provider()))
        .with_protocol_versions(versions)?
        .with_no_client_auth()
        .with_cert_resolver(certs);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    if acme {
        config.alpn_protocols.push(ACME_TLS_ALPN.to_vec());
    }
    config.ignore_client_order = true;
    Ok(config)
}

/// The current certificate; swapped in place when the files change or ACME
/// renews it. Also holds the certificates of pending ACME TLS-ALPN-01
/// challenges, handed out only to clients that ask for `acme-tls/1`.
#[derive(Debug)]
pub struct CertStore {
    current: RwLock<Arc<CertifiedKey>>,
    files: Option<CertFiles>,
    /// Whether ACME TLS-ALPN-01 challenges are answered at all.
    answers_tls_alpn: bool,
    /// Challenge certificates by lowercased server name.
    alpn_challenges: RwLock<HashMap<String, Arc<CertifiedKey>>>,
}

#[derive(Debug, Clone)]
struct CertFiles {
    cert: PathBuf,
    key: PathBuf,
}

impl CertStore {
    /// A self-signed certificate for `localhost` and the loopback addresses,
    /// made in memory. Nothing is written to disk.
    pub fn self_signed(extra_names: &[String]) -> io::Result<CertStore> {
        let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
        names.extend(extra_names.iter().cloned());
        let mut params = rcgen::CertificateParams::new(names).map_err(io::Error::other)?;
        params.distinguished_name.push(rcgen::DnType::CommonName, DEMO_CERT_NAME);
        // Valid from yesterday for 90 days: a short life, made anew at every start.
        let today = days_since_epoch(SystemTime::now());
        let (y, m, d) = civil_from_days(today - 1);
        params.not_before = rcgen::date_time_ymd(y, m, d);
        let (y, m, d) = civil_from_days(today + 90);
        params.not_after = rcgen::date_time_ymd(y, m, d);
        let signing_key = rcgen::KeyPair::generate().map_err(io::Error::other)?;
        let generated = params.self_signed(&signing_key).map_err(io::Error::other)?;
        let key = PrivateKeyDer::try_from(signing_key.serialize_der()).map_err(io::Error::other)?;
        let cert = vec![generated.der().clone()];
        let certified = CertifiedKey::from_der(cert, key, &provider()).map_err(io::Error::other)?;
        Ok(CertStore::with_key(Arc::new(certified)))
    }

    /// Certificate and key from PEM files.
    pub fn from_files(cert: &Path, key: &Path) -> io::Result<CertStore> {
        let certified = load_pem(cert, key)?;
        let mut store = CertStore::with_key(Arc::new(certified));
        store.files = Some(CertFiles { cert: cert.to_path_buf(), key: key.to_path_buf() });
        Ok(store)
    }

    /// A store serving `certified`, swapped only by [`CertStore::set`].
    pub fn with_key(certified: Arc<CertifiedKey>) -> CertStore {
        CertStore {
            current: RwLock::new(certified),
            files: None,
            answers_tls_alpn: false,
            alpn_challenges: RwLock::new(HashMap::new()),
        }
    }

    /// This store answers ACME TLS-ALPN-01 challenges (see
    /// [`CertStore::add_alpn_challenge`]).
    pub fn answering_tls_alpn(mut self) -> CertStore {
        self.answers_tls_alpn = true;
        self
    }

    /// Serves `certified` from the next handshake on; connections already
    /// open keep theirs.
    pub fn set(&self, certified: Arc<CertifiedKey>) {
        match self.current.write() {
            Ok(mut guard) => *guard = certified,
            Err(poisoned) => *poisoned.into_inner() = certified,
        }
    }

    /// Hands `certified` to a client that asks for `acme-tls/1` with the
    /// server name `domain`, until removed.
    pub fn add_alpn_challenge(&self, domain: &str, certified: Arc<CertifiedKey>) {
        let mut map = self.alpn_challenges.write().unwrap_or_else(|p| p.into_inner());
        map.insert(domain.to_ascii_lowercase(), certified);
    }

    /// Ends the TLS-ALPN-01 challenge for `domain`.
    pub fn remove_alpn_challenge(&self, domain: &str) {
        let mut map = self.alpn_challenges.write().unwrap_or_else(|p| p.into_inner());
        map.remove(&domain.to_ascii_lowercase());
    }

    /// The certificate served right now.
    pub fn current(&self) -> Arc<CertifiedKey> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Reads the files again and swaps the certificate if they are valid.
    pub fn reload(&self) -> io::Result<()> {
        let Some(files) = &self.files else { return Ok(()) };
        self.set(Arc::new(load_pem(&files.cert, &files.key)?));
        Ok(())
    }

    /// Watches the files and reloads on change until `shutdown`.
    pub fn spawn_reloader(self: &Arc<Self>, shutdown: CancellationToken) {
        let Some(files) = self.files.clone() else { return };
        let store = Arc::clone(self);
        tokio::spawn(async move {
            let mut seen = modified(&files);
            let mut tick = tokio::time::interval(RELOAD_INTERVAL);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let now = modified(&files);
                if now == seen {
                    continue;
                }
                match store.reload() {
                    Ok(()) => {
                        seen = now;
                        tracing::warn!("TLS certificate reloaded from disk");
                    }
                    // Half-written files during a renewal: try again next tick.
                    Err(e) => {
                        tracing::error!(error = %e, "TLS certificate files changed but could not be loaded; keeping the old one")
                    }
                }
            }
        });
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let wants_acme = hello.alpn().is_some_and(|mut protocols| protocols.any(|p| p == ACME_TLS_ALPN));
        if !wants_acme {
            return Some(self.current());
        }
        // A validator (RFC 8737): only a pending challenge's certificate,
        // never the real one; no challenge, no handshake.
        if !self.answers_tls_alpn {
            return None;
        }
        let name = hello.server_name()?.to_ascii_lowercase();
        self.alpn_challenges.read().unwrap_or_else(|p| p.into_inner()).get(&name).cloned()
    }
}

fn days_since_epoch(t: SystemTime) -> i64 {
    (t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_secs() / 86_400) as i64
}

/// Year, month, day of a day count since 1970-01-01 (proleptic Gregorian;
/// Howard Hinnant's `civil_from_days`).
pub(crate) fn civil_from_days(days: i64) -> (i32, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let y = (yoe + era * 400 + i64::from(m <= 2)) as i32;
    (y, m, d)
}

fn modified(files: &CertFiles) -> (Option<SystemTime>, Option<SystemTime>) {
    let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    (m(&files.cert), m(&files.key))
}

/// Reads a PEM certificate chain and private key and checks they match.
pub fn load_pem(cert: &Path, key: &Path) -> io::Result<CertifiedKey> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| io::Error::other(format!("{}: {e}", cert.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| io::Error::other(format!("{}: {e}", cert.display())))?;
    if chain.is_empty() {
        return Err(io::Error::other(format!("{}: no certificate in the file", cert.display())));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| io::Error::other(format!("{}: {e}", key.display())))?;
    CertifiedKey::from_der(chain, key_der, &provider()).map_err(|e| {
        io::Error::other(format!("{} and {} do not form a usable pair: {e}", cert.display(), key.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_781), (2026, 11, 24));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}

/// A TLS client configuration that accepts any certificate chain (handshake
/// signatures are still verified). For looking at a server whose
/// certificate is judged separately or is a demo's self-signed one
/// (`kabine audit`, `kabine-loadgen`); nothing fetched through it is trusted.
pub fn client_accepting_any_chain(
    provider: Arc<CryptoProvider>,
    alpn: &[&[u8]],
) -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyChain(provider)))
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// Accepts any certificate chain, but verifies handshake signatures.
#[derive(Debug)]
struct AnyChain(Arc<CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyChain {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &rustls_pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
