//! The ACME state directory: the account, the certificate with its key, and
//! the renewal status. The directory is mode 0700 and every file 0600,
//! written atomically (a temporary file in the same directory, fsync,
//! rename, fsync of the directory), so a crash leaves the old file or the
//! new one, never half of one.
//!
//! The certificate and its key are two files: the key is written first. A
//! crash between the two leaves a pair that does not match; it is then
//! treated as no certificate and a new one is obtained.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::sign::CertifiedKey;
use serde::{Deserialize, Serialize};

use crate::private_file;

/// The account key and id at the CA.
pub const ACCOUNT_FILE: &str = "account.json";
/// The certificate chain (PEM, leaf first).
pub const CERT_FILE: &str = "certificate.pem";
/// The certificate's private key (PEM, PKCS#8).
pub const KEY_FILE: &str = "certificate.key";
/// What happened at the last attempts (JSON, see [`Status`]).
pub const STATUS_FILE: &str = "status.json";

/// Every file name Kabine keeps in the state directory (the audit asks).
pub fn is_own_file(name: &str) -> bool {
    [ACCOUNT_FILE, CERT_FILE, KEY_FILE, STATUS_FILE].contains(&name) || private_file::is_temporary(name)
}

/// The state directory of one server.
#[derive(Debug, Clone)]
pub struct StateDir {
    dir: PathBuf,
}

/// The stored account: the credentials instant-acme gives back, and the
/// directory they belong to (an account never moves to another CA).
#[derive(Serialize, Deserialize)]
pub struct StoredAccount {
    pub directory: String,
    pub credentials: instant_acme::AccountCredentials,
}

/// The renewal status, written after every attempt; `kabine audit` reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Status {
    /// The CA's directory URL.
    pub directory: String,
    /// The names of the certificate.
    pub domains: Vec<String>,
    /// Unix seconds of the last attempt to obtain a certificate.
    pub last_attempt: Option<i64>,
    /// Unix seconds of the last certificate obtained.
    pub last_success: Option<i64>,
    /// Why the last attempt failed; `None` once one succeeded again.
    pub last_error: Option<String>,
    /// Failed attempts since the last success.
    pub consecutive_failures: u32,
    /// Validity of the certificate served now (Unix seconds).
    pub not_before: Option<i64>,
    pub not_after: Option<i64>,
    /// When the certificate is due for renewal, and by what rule
    /// (`ari` or `two-thirds`).
    pub renewal_due: Option<i64>,
    pub renewal_basis: Option<String>,
    /// When the next attempt is planned after a failure.
    pub next_attempt: Option<i64>,
}

impl StateDir {
    /// The directory (created with mode 0700 when missing).
    pub fn open(dir: &Path) -> io::Result<StateDir> {
        private_file::create_dir(dir)
            .map_err(|e| io::Error::new(e.kind(), format!("ACME state directory {}: {e}", dir.display())))?;
        Ok(StateDir { dir: dir.to_path_buf() })
    }

    /// The directory without creating it (for reading, e.g. by the audit).
    pub fn at(dir: &Path) -> StateDir {
        StateDir { dir: dir.to_path_buf() }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The stored account for `directory`, if there is one.
    pub fn account(&self, directory: &str) -> io::Result<Option<instant_acme::AccountCredentials>> {
        let text = match fs::read_to_string(self.path(ACCOUNT_FILE)) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let stored: StoredAccount = serde_json::from_str(&text)
            .map_err(|e| io::Error::other(format!("{}: {e}", self.path(ACCOUNT_FILE).display())))?;
        Ok((stored.directory == directory).then_some(stored.credentials))
    }

    pub fn save_account(&self, account: &StoredAccount) -> io::Result<()> {
        let json = serde_json::to_vec_pretty(account).map_err(io::Error::other)?;
        write_atomic(&self.path(ACCOUNT_FILE), &json)
    }

    /// The stored certificate, if both files are there and match.
    pub fn certificate(&self) -> Option<Arc<CertifiedKey>> {
        crate::tls::load_pem(&self.path(CERT_FILE), &self.path(KEY_FILE)).ok().map(Arc::new)
    }

    /// Stores a new certificate: the key first, then the chain.
    pub fn save_certificate(&self, chain_pem: &str, key_pem: &str) -> io::Result<()> {
        write_atomic(&self.path(KEY_FILE), key_pem.as_bytes())?;
        write_atomic(&self.path(CERT_FILE), chain_pem.as_bytes())
    }

    pub fn status(&self) -> Option<Status> {
        let text = fs::read_to_string(self.path(STATUS_FILE)).ok()?;
        serde_json::from_str(&text).ok()
    }

    pub fn save_status(&self, status: &Status) -> io::Result<()> {
        let json = serde_json::to_vec_pretty(status).map_err(io::Error::other)?;
        write_atomic(&self.path(STATUS_FILE), &json)
    }
}

/// Writes `bytes` to `path` atomically with mode 0600.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    private_file::write_atomic(path, bytes)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kabine-acme-store-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(p).map(|m| m.permissions().mode() & 0o777).unwrap_or(0)
    }

    #[test]
    #[cfg(unix)]
    fn files_are_private_and_replaced_whole() {
        let dir = scratch("private");
        let state = StateDir::open(&dir.join("acme")).expect("created");
        assert_eq!(mode(&dir.join("acme")), 0o700);
        let status =
            Status { directory: "https://ca.example/dir".into(), consecutive_failures: 2, ..Status::default() };
        state.save_status(&status).expect("written");
        assert_eq!(mode(&state.path(STATUS_FILE)), 0o600);
        assert_eq!(state.status(), Some(status));
        state.save_status(&Status::default()).expect("rewritten");
        assert_eq!(state.status(), Some(Status::default()));
        let names: Vec<String> = fs::read_dir(dir.join("acme"))
            .expect("readable")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, [STATUS_FILE], "no temporary file is left behind");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_pair_that_does_not_match_is_no_certificate() {
        let dir = scratch("pair");
        let state = StateDir::open(&dir).expect("created");
        assert!(state.certificate().is_none());
        let a = rcgen::generate_simple_self_signed(vec!["a.example".into()]).expect("cert");
        let b = rcgen::generate_simple_self_signed(vec!["b.example".into()]).expect("cert");
        state.save_certificate(&a.cert.pem(), &a.signing_key.serialize_pem()).expect("written");
        assert!(state.certificate().is_some());
        state.save_certificate(&a.cert.pem(), &b.signing_key.serialize_pem()).expect("written");
        assert!(state.certificate().is_none());
        let _ = fs::remove_dir_all(&dir);
    }
}
