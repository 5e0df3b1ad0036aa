//! Shared test support: one log capture for the whole suite that fails on
//! any IP address, a server on loopback ports, HTTPS and WebSocket clients
//! that trust the test server, and a check that required tools exist.
//!
//! Every test starts with `let _t = support::test();`. The guard it returns
//! checks, when the test ends, that nothing logged anywhere in the suite so
//! far (at TRACE level, through Kabine's own log formatter) contains an IP
//! address.

#![allow(dead_code)]

pub mod audit;
pub mod pii;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex, Once};

use kabine::config::{Config, LoadedConfig};
use kabine::policy::Policy;
use kabine::server::RunningServer;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

static INIT: Once = Once::new();
static CAPTURE: Mutex<String> = Mutex::new(String::new());

/// Writes formatted log lines into [`CAPTURE`].
#[derive(Clone, Copy)]
struct CaptureWriter;

impl std::io::Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        if std::env::var_os("KABINE_TEST_LOG").is_some() {
            eprint!("{text}");
        }
        CAPTURE.lock().unwrap_or_else(|p| p.into_inner()).push_str(&text);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for CaptureWriter {
    type Writer = CaptureWriter;
    fn make_writer(&'a self) -> Self::Writer {
        *self
    }
}

/// Installs the suite-wide capture (once) and returns the per-test guard.
pub fn test() -> TestGuard {
    INIT.call_once(|| {
        let layer = kabine::logging::format_layer(CaptureWriter).with_filter(LevelFilter::TRACE);
        tracing_subscriber::registry().with(layer).init();
    });
    TestGuard
}

/// Everything logged so far in this test binary.
pub fn captured() -> String {
    CAPTURE.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Checks the capture for addresses when a test ends.
pub struct TestGuard;

impl Drop for TestGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let log = captured();
        let leaks = pii::find_addresses(&log);
        assert!(leaks.is_empty(), "IP addresses reached the log: {leaks:?}");
    }
}

/// A config for tests: loopback, ephemeral ports, everything else default.
pub fn test_config() -> Config {
    let mut c = Config::default();
    c.server.listen = "127.0.0.1:0".parse().expect("literal address");
    c.media.bind_address = "127.0.0.1".parse().expect("literal address");
    c.media.udp_port = 0;
    c
}

/// Starts a server with `config` under the strict policy.
pub async fn start(config: Config) -> RunningServer {
    start_with_policy(config, Policy::strict()).await
}

pub async fn start_with_policy(config: Config, policy: Policy) -> RunningServer {
    let mut loaded = LoadedConfig::demo();
    loaded.config = config;
    kabine::server::start(loaded, policy).await.expect("test server starts")
}

/// `https://127.0.0.1:PORT` of a running server.
pub fn base_url(server: &RunningServer) -> String {
    format!("https://{}", kabine::http::reachable(server.https_addr()))
}

/// An HTTPS client that accepts the test server's self-signed certificate.
pub fn https_client() -> reqwest::Client {
    reqwest::Client::builder()
        .tls_danger_accept_invalid_certs(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("reqwest client builds")
}

/// A rustls client config that accepts any certificate (test servers only).
pub fn insecure_tls() -> Arc<rustls::ClientConfig> {
    use rustls::DigitallySignedStruct;
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

    #[derive(Debug)]
    struct AcceptAll(Arc<rustls::crypto::CryptoProvider>);
    impl ServerCertVerifier for AcceptAll {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
        }
        fn verify_tls13_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
    let provider = Arc::new(kabine::tls::provider());
    let config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .expect("provider supports TLS 1.2 and 1.3")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAll(provider)))
        .with_no_client_auth();
    Arc::new(config)
}

/// Fails the test, with the install command, when a tool is missing. Tests
/// never skip silently: `scripts/test` installs every tool.
pub fn require_tool(binary: &str, debian_package: &str) -> PathBuf {
    let out = Command::new("sh").arg("-c").arg(format!("command -v {binary}")).output();
    match out {
        Ok(o) if o.status.success() => PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()),
        _ => panic!(
            "`{binary}` is needed by this test and is not installed: run scripts/test, \
             or apt-get install {debian_package}"
        ),
    }
}

/// A fresh directory under `target/test-output/NAME` for a test's files.
pub fn output_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-output").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("test output dir can be created");
    dir
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The path of the built `kabine` binary.
pub fn kabine_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kabine"))
}

/// Waits until something accepts TCP connections on `addr`.
pub async fn wait_for_tcp(addr: SocketAddr) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("nothing listens on port {} after 5 s", addr.port());
}
