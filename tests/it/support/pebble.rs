//! A throwaway ACME CA per test (Debian's `pebble` with
//! `pebble-challtestsrv` as its DNS), on free loopback ports, started by
//! `start-pebble.sh` and stopped by its PIDs when the test ends.
//!
//! Every name resolves to 127.0.0.1, so pebble's validator reaches the
//! Kabine under test: TLS-ALPN-01 on [`Pebble::tls_alpn_port`], HTTP-01 on
//! [`Pebble::http01_port`]; the test binds Kabine's listeners to them.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{output_dir, repo_root, require_tool};

pub struct Pebble {
    pub dir: PathBuf,
    pub acme_port: u16,
    pub mgmt_port: u16,
    /// Where the validator fetches HTTP-01 answers (Kabine's redirect listener).
    pub http01_port: u16,
    /// Where the validator connects for TLS-ALPN-01 (Kabine's HTTPS listener).
    pub tls_alpn_port: u16,
    pids: Vec<u32>,
}

/// A port free right now (another process may take it before it is bound;
/// [`Pebble::start`] tries again then).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("bound").port()
}

impl Pebble {
    /// Starts pebble in `target/test-output/pebble-NAME`; its certificates
    /// live `validity` long.
    pub fn start(name: &str, validity: Duration) -> Pebble {
        require_tool("pebble", "pebble");
        require_tool("pebble-challtestsrv", "pebble");
        require_tool("openssl", "openssl");
        require_tool("curl", "curl");
        let script = repo_root().join("tests/it/support/start-pebble.sh");
        let mut last_error = String::new();
        for _ in 0..3 {
            let dir = output_dir(&format!("pebble-{name}"));
            let ports: Vec<u16> = (0..6).map(|_| free_port()).collect();
            let out = Command::new("sh")
                .arg(&script)
                .arg(&dir)
                .env("ACME_PORT", ports[0].to_string())
                .env("MGMT_PORT", ports[1].to_string())
                .env("DNS_PORT", ports[2].to_string())
                .env("CHALLTESTSRV_PORT", ports[3].to_string())
                .env("HTTP01_PORT", ports[4].to_string())
                .env("TLSALPN_PORT", ports[5].to_string())
                .env("VALIDITY", validity.as_secs().to_string())
                .output()
                .expect("start-pebble.sh runs");
            let pid = |f: &str| std::fs::read_to_string(dir.join(f)).ok().and_then(|s| s.trim().parse::<u32>().ok());
            let pids: Vec<u32> = [pid("pebble.pid"), pid("challtestsrv.pid")].into_iter().flatten().collect();
            if out.status.success() && pids.len() == 2 {
                return Pebble {
                    dir,
                    acme_port: ports[0],
                    mgmt_port: ports[1],
                    http01_port: ports[4],
                    tls_alpn_port: ports[5],
                    pids,
                };
            }
            for p in pids {
                let _ = Command::new("kill").arg("-KILL").arg(p.to_string()).status();
            }
            last_error = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        }
        panic!("pebble did not start: {last_error}");
    }

    pub fn directory_url(&self) -> String {
        format!("https://127.0.0.1:{}/dir", self.acme_port)
    }

    /// The CA certificate of pebble's own HTTPS (not the issuing root).
    pub fn api_ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The root that issued pebble's certificates (new at every start),
    /// from the management interface.
    pub fn issuing_root(&self) -> rustls::pki_types::CertificateDer<'static> {
        use rustls::pki_types::pem::PemObject;
        let out = Command::new("curl")
            .args(["-sf", "--cacert"])
            .arg(self.api_ca_file())
            .arg(format!("https://127.0.0.1:{}/roots/0", self.mgmt_port))
            .output()
            .expect("curl runs");
        assert!(out.status.success(), "pebble's management interface did not answer");
        rustls::pki_types::CertificateDer::from_pem_slice(&out.stdout).expect("a PEM root")
    }

    /// A TLS client that trusts pebble's issuing root only.
    pub fn client_trusting_issued(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.issuing_root()).expect("root is usable");
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(kabine::tls::provider()))
            .with_safe_default_protocol_versions()
            .expect("TLS 1.2 and 1.3")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    }

    /// pebble's own log, to explain a failure.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("pebble.log")).unwrap_or_default()
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for pid in &self.pids {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for pid in &self.pids {
            while std::path::Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
                // A zombie of ours is reaped by nobody; stop waiting for it.
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                if stat.rsplit_once(')').is_some_and(|(_, r)| r.trim_start().starts_with('Z')) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}
