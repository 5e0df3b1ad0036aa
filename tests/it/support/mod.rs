//! Shared test support: one log capture for the whole suite that fails on
//! any IP address, a server on loopback ports, HTTPS and WebSocket clients
//! that trust the test server, and a check that required tools exist.
//!
//! Every test starts with `let _t = support::test();`. The guard it returns
//! checks, when the test ends, that nothing logged anywhere in the suite
//! since the last such check (at TRACE level, through Kabine's own log
//! formatter) contains an IP address: together the checks cover every line.

#![allow(dead_code)]

pub mod audit;
pub mod browser;
pub mod netns;
pub mod pebble;
pub mod pii;
pub mod slapd;

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
/// How much of [`CAPTURE`] has been checked for addresses (whole lines).
static CHECKED: Mutex<usize> = Mutex::new(0);

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
        std::panic::set_hook(Box::new(short_panic_report));
        // This run's turns only.
        let _ = std::fs::remove_file(turns_file());
        let _ = SUITE_START.set(std::time::Instant::now());
    });
    TestGuard
}

/// Prints a panic as the default hook does, but with only the backtrace's
/// frames in this repository's own code (`./src`, `./tests`): CI shows the
/// tail of the output, and a full backtrace (RUST_BACKTRACE=1) of runtime
/// frames there pushed every failing test's message out of view.
fn short_panic_report(info: &std::panic::PanicHookInfo<'_>) {
    let thread = std::thread::current();
    let name = thread.name().unwrap_or("<unnamed>");
    let message = info
        .payload()
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| info.payload().downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "Box<dyn Any>".to_string());
    let at = info.location().map(|l| l.to_string()).unwrap_or_default();
    let mut report = format!("thread '{name}' panicked at {at}:\n{message}\n");
    let backtrace = std::backtrace::Backtrace::capture();
    if backtrace.status() == std::backtrace::BacktraceStatus::Captured {
        report.push_str(&own_frames(&backtrace.to_string()));
    }
    eprint!("{report}");
}

/// The frames of a formatted backtrace whose source is in this repository.
fn own_frames(backtrace: &str) -> String {
    let lines: Vec<&str> = backtrace.lines().collect();
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        let at = line.trim_start();
        let own = at.starts_with("at ./src/") || at.starts_with("at ./tests/");
        let hook = i.checked_sub(1).and_then(|j| lines.get(j)).is_some_and(|s| s.contains("short_panic_report"));
        if own && !hook {
            if let Some(symbol) = i.checked_sub(1).and_then(|j| lines.get(j)) {
                out.push_str(symbol);
                out.push('\n');
            }
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[test]
fn a_backtrace_is_cut_to_the_frames_of_this_repository() {
    let bt = "   0: std::panicking::begin_panic\n             at /rustc/x/library/std/src/panicking.rs:1:1\n   \
              5: it::support::thing\n             at ./tests/it/support/mod.rs:10:5\n   \
              6: tokio::runtime::block_on\n             at /root/.cargo/registry/src/tokio/src/rt.rs:3:3\n   \
              7: kabine::server::stop\n             at ./src/server.rs:150:9\n";
    assert_eq!(
        own_frames(bt),
        "   5: it::support::thing\n             at ./tests/it/support/mod.rs:10:5\n   \
         7: kabine::server::stop\n             at ./src/server.rs:150:9\n"
    );
}

/// Everything logged so far in this test binary.
pub fn captured() -> String {
    CAPTURE.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// The captured lines that contain any of `needles` (the last 60), to
/// explain a failure, e.g. why a connection ended.
pub fn captured_lines(needles: &[&str]) -> String {
    let log = captured();
    let lines: Vec<&str> = log.lines().filter(|l| needles.iter().any(|n| l.contains(n))).collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

/// The last `n` captured lines that contain any of `needles`.
pub fn captured_tail(needles: &[&str], n: usize) -> String {
    let log = captured();
    let lines: Vec<&str> = log.lines().filter(|l| needles.iter().any(|x| l.contains(x))).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Why connections and media ended, from the capture (see [`captured_lines`]).
pub fn connection_endings() -> String {
    captured_lines(&[
        "signalling connection ended",
        "HTTPS connection ended",
        "media of a participant failed",
        "ICE state changed",
    ])
}

/// Tests that run media (browsers, synthetic peers) take turns: several
/// calls encoding and decrypting at once on a 2-core machine would make
/// their timing checks meaningless. Other tests keep running in parallel.
/// (tokio's Mutex works across the per-test runtimes.) The turn is also
/// taken across processes, with a lock on a file in the temporary
/// directory, so two test runs on one machine (two checkouts, a benchmark
/// beside the suite) do not disturb each other either.
static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// This process's turn (see [`HEAVY`]), held to the end of a test.
pub struct Turn {
    _file: std::fs::File,
    _guard: tokio::sync::MutexGuard<'static, ()>,
    asked: std::time::Instant,
    got: std::time::Instant,
}

/// When this test process set up its capture: turns are timed from it.
static SUITE_START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// Where every media turn is recorded when it ends: seconds waited,
/// seconds held, the test, and when it got the turn (seconds into the
/// run). The turns run one after another, so the held seconds add up to
/// the suite's critical path, and the gaps between them are time in which
/// only other tests ran (docs/testing.md).
pub fn turns_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-output/media-turns.tsv")
}

impl Drop for Turn {
    fn drop(&mut self) {
        use std::io::Write;
        let held = self.got.elapsed().as_secs_f64();
        let waited = (self.got - self.asked).as_secs_f64();
        let thread = std::thread::current();
        let test = thread.name().unwrap_or("?");
        let path = turns_file();
        let _ = std::fs::create_dir_all(path.parent().unwrap_or(&path));
        // A record for reading, never a reason to fail a test.
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(&path) {
            let at = SUITE_START.get().map(|start| (self.got - *start).as_secs_f64()).unwrap_or(0.0);
            let _ = writeln!(f, "{waited:.1}\t{held:.1}\t{test}\t{at:.1}");
        }
    }
}

/// The machine-wide lock file of [`HEAVY`], locked (blocks until it is).
fn machine_turn() -> std::fs::File {
    let path = std::env::temp_dir().join("kabine-test-media.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    file.lock().unwrap_or_else(|e| panic!("cannot lock {}: {e}", path.display()));
    file
}

/// Waits for this test's turn to run media; hold the guard to the end.
pub async fn heavy() -> Turn {
    let asked = std::time::Instant::now();
    let guard = HEAVY.lock().await;
    let file = tokio::task::spawn_blocking(machine_turn).await.expect("lock task");
    Turn { _file: file, _guard: guard, asked, got: std::time::Instant::now() }
}

/// [`heavy`] for tests without a runtime.
pub fn heavy_blocking() -> Turn {
    let asked = std::time::Instant::now();
    let guard = HEAVY.blocking_lock();
    Turn { _file: machine_turn(), _guard: guard, asked, got: std::time::Instant::now() }
}

/// Checks the capture for addresses when a test ends.
pub struct TestGuard;

impl Drop for TestGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // A server that did not stop says what it waited for.
            let stuck = captured_tail(&["did not stop within"], 3);
            if !stuck.is_empty() {
                eprintln!("shutdown warnings logged in the suite so far:\n{stuck}");
            }
            return;
        }
        // Only what was logged since the last check, up to its last whole
        // line: the capture grows to hundreds of megabytes over the suite,
        // and scanning all of it at the end of every test cost many minutes
        // of CPU and stalled the servers of tests still running (a whole-log
        // copy was taken while holding the lock every log line waits for).
        let mut checked = CHECKED.lock().unwrap_or_else(|p| p.into_inner());
        let fresh = unchecked_lines(&CAPTURE.lock().unwrap_or_else(|p| p.into_inner()), &mut checked).to_string();
        drop(checked);
        let leaks = pii::find_addresses(&fresh);
        assert!(leaks.is_empty(), "IP addresses reached the log: {leaks:?}");
    }
}

/// The whole lines of `log` after `*checked`, which moves past them; a
/// line still being written waits for the next check.
fn unchecked_lines<'a>(log: &'a str, checked: &mut usize) -> &'a str {
    let start = (*checked).min(log.len());
    let end = log[start..].rfind('\n').map_or(start, |i| start + i + 1);
    *checked = end;
    &log[start..end]
}

#[test]
fn each_line_of_the_capture_is_checked_once_and_only_when_whole() {
    let mut checked = 0;
    let mut log = String::from("one\ntwo 192.0.");
    assert_eq!(unchecked_lines(&log, &mut checked), "one\n");
    log.push_str("2.7 ends\nthree");
    let fresh = unchecked_lines(&log, &mut checked);
    assert_eq!(fresh, "two 192.0.2.7 ends\n");
    assert_eq!(pii::find_addresses(fresh), ["192.0.2.7"]);
    assert_eq!(unchecked_lines(&log, &mut checked), "");
    log.push('\n');
    assert_eq!(unchecked_lines(&log, &mut checked), "three\n");
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

/// POSTs JSON as the browser client on the server's own origin does
/// (`Origin` set), with the session cookie `cookie` (`NAME=VALUE`) if given.
pub async fn post_json(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    body: serde_json::Value,
    cookie: Option<&str>,
) -> reqwest::Response {
    let mut req = client.post(format!("{base}{path}")).header("origin", base).json(&body);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req.send().await.expect("request")
}

/// `POST /api/login`.
pub async fn login(client: &reqwest::Client, base: &str, username: &str, password: &str) -> reqwest::Response {
    post_json(client, base, "/api/login", serde_json::json!({ "username": username, "password": password }), None).await
}

/// `GET /api/session` as JSON.
pub async fn session(client: &reqwest::Client, base: &str, cookie: Option<&str>) -> serde_json::Value {
    let mut req = client.get(format!("{base}/api/session"));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let r = req.send().await.expect("request");
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    r.json().await.expect("JSON")
}

/// `NAME=VALUE` of the session cookie a response sets.
pub fn session_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("__Host-kabine_session="))
        .and_then(|v| v.split(';').next())
        .map(str::to_string)
}

/// Adds a local user with the `kabine` binary, the password on stdin.
pub fn add_user(config: &std::path::Path, name: &str, password: &str) -> std::process::Output {
    kabine_with_stdin(&["user", "add", name, "--config", config.to_str().expect("utf-8 path")], password)
}

/// A test configuration in access mode `mode` with one local account,
/// `dr.mueller` ("Dr. Anna Müller", password "correct horse battery"),
/// added through `kabine user add` into a users file under
/// `output_dir(name)`.
pub fn with_local_host(name: &str, mode: kabine::config::AccessMode) -> Config {
    let dir = output_dir(name);
    let config_file = dir.join("kabine.toml");
    let store = dir.join("users");
    std::fs::write(&config_file, format!("[access]\nusers_file = {:?}\n", store.display().to_string()))
        .expect("write config");
    let added = kabine_with_stdin(
        &[
            "user",
            "add",
            "dr.mueller",
            "--display-name",
            "Dr. Anna Müller",
            "--config",
            config_file.to_str().expect("utf-8"),
        ],
        "correct horse battery",
    );
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let mut config = test_config();
    config.access.mode = mode;
    config.access.users_file = store;
    config
}

/// Runs `kabine ARGS` with `input` and a newline on stdin.
pub fn kabine_with_stdin(args: &[&str], input: &str) -> std::process::Output {
    use std::io::Write as _;
    let mut child = Command::new(kabine_bin())
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kabine runs");
    let mut stdin = child.stdin.take().expect("stdin piped");
    // kabine may refuse (and exit) before it reads: a closed pipe is fine.
    let _ = stdin.write_all(input.as_bytes()).and_then(|_| stdin.write_all(b"\n"));
    drop(stdin);
    child.wait_with_output().expect("kabine finishes")
}

/// A synthetic participant of `room` on `server`, publishing audio and
/// simulcast video.
pub fn peer(server: &RunningServer, room: &str, name: &str) -> kabine::loadgen::PeerConfig {
    kabine::loadgen::PeerConfig::new(kabine::http::reachable(server.https_addr()), insecure_tls(), room, name)
}

/// Starts a server with shortened signalling keep-alive timings.
pub async fn start_with_timings(config: Config, timings: kabine::signal::Timings) -> RunningServer {
    start_with_options(config, kabine::server::StartOptions { timings, ..Default::default() }).await
}

/// Starts a server with `options` (timings, a login session's idle timeout).
pub async fn start_with_options(config: Config, options: kabine::server::StartOptions) -> RunningServer {
    let mut loaded = LoadedConfig::demo();
    loaded.config = config;
    kabine::server::start_with(loaded, Policy::strict(), options).await.expect("test server starts")
}

/// Waits until `done` holds, polling every 50 ms; false after `timeout`.
pub async fn eventually(timeout: std::time::Duration, mut done: impl FnMut() -> bool) -> bool {
    let end = tokio::time::Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if tokio::time::Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A raw signalling client.
pub type WsClient = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The origin of the test server's pages.
pub fn own_origin(server: &RunningServer) -> String {
    base_url(server)
}

/// Opens `wss://…/ws` with the given `Origin` (none if `None`).
pub async fn ws_connect(
    server: &RunningServer,
    origin: Option<&str>,
) -> Result<WsClient, tokio_tungstenite::tungstenite::Error> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let url = format!("wss://{}/ws", kabine::http::reachable(server.https_addr()));
    let mut request = url.into_client_request()?;
    if let Some(origin) = origin {
        request.headers_mut().insert("origin", origin.parse().expect("valid header"));
    }
    let connector = tokio_tungstenite::Connector::Rustls(insecure_tls());
    let (ws, _) = tokio_tungstenite::connect_async_tls_with_config(request, None, false, Some(connector)).await?;
    Ok(ws)
}

/// Sends one text frame.
pub async fn ws_send(ws: &mut WsClient, text: &str) {
    use futures_util::SinkExt;
    ws.send(tokio_tungstenite::tungstenite::Message::text(text)).await.expect("frame sent");
}

/// The next server message (skipping pings, and the brokering of direct
/// calls, which these test clients never take part in: the server gives up
/// on it by itself), or `None` when the connection closed or nothing came
/// within 5 s.
pub async fn ws_next(ws: &mut WsClient) -> Option<kabine::protocol::ServerMsg> {
    use futures_util::StreamExt;
    use kabine::protocol::ServerMsg;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let msg = tokio::time::timeout(std::time::Duration::from_secs(5), ws.next()).await.ok()??.ok()?;
        match msg {
            Message::Text(t) => {
                let msg: ServerMsg = serde_json::from_str(t.as_str()).expect("server sends valid messages");
                if matches!(msg, ServerMsg::P2pStart { .. } | ServerMsg::P2pStop { .. }) {
                    continue;
                }
                return Some(msg);
            }
            Message::Ping(_) | Message::Pong(_) => continue,
            _ => return None,
        }
    }
}

/// The close code the server ends the connection with (skipping other
/// frames), within 5 s.
pub async fn ws_close_code(ws: &mut WsClient) -> Option<u16> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let msg = tokio::time::timeout(std::time::Duration::from_secs(5), ws.next()).await.ok()??;
        match msg {
            Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

/// Connects and joins `room` as `name`; returns the client and its id.
pub async fn ws_join(server: &RunningServer, room: &str, name: &str) -> (WsClient, String) {
    let mut ws = ws_connect(server, Some(&own_origin(server))).await.expect("connects");
    ws_send(&mut ws, &format!(r#"{{"type":"hello","version":1,"room":"{room}","display_name":"{name}"}}"#)).await;
    match ws_next(&mut ws).await {
        Some(kabine::protocol::ServerMsg::Welcome { you, .. }) => (ws, you.id),
        other => panic!("expected welcome, got {other:?}"),
    }
}

/// Opens `wss://…/ws` from the server's own origin with the login session
/// cookie `cookie` (`NAME=VALUE`), as a logged-in browser does.
pub async fn ws_connect_as(server: &RunningServer, cookie: Option<&str>) -> WsClient {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let url = format!("wss://{}/ws", kabine::http::reachable(server.https_addr()));
    let mut request = url.into_client_request().expect("valid URL");
    request.headers_mut().insert("origin", own_origin(server).parse().expect("valid header"));
    if let Some(cookie) = cookie {
        request.headers_mut().insert("cookie", cookie.parse().expect("valid header"));
    }
    let connector = tokio_tungstenite::Connector::Rustls(insecure_tls());
    let (ws, _) = tokio_tungstenite::connect_async_tls_with_config(request, None, false, Some(connector))
        .await
        .expect("connects");
    ws
}

/// Server messages until `done` matches one (returned), skipping the others;
/// `None` when the connection closed or nothing matched within 5 s.
pub async fn ws_until(
    ws: &mut WsClient,
    mut done: impl FnMut(&kabine::protocol::ServerMsg) -> bool,
) -> Option<kabine::protocol::ServerMsg> {
    let end = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let left = end.saturating_duration_since(tokio::time::Instant::now());
        let msg = tokio::time::timeout(left, ws_next(ws)).await.ok()??;
        if done(&msg) {
            return Some(msg);
        }
    }
}

/// Every server message that arrives within `ms` milliseconds.
pub async fn ws_drain(ws: &mut WsClient, ms: u64) -> Vec<kabine::protocol::ServerMsg> {
    let mut got = Vec::new();
    let end = tokio::time::Instant::now() + std::time::Duration::from_millis(ms);
    loop {
        let left = end.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return got;
        }
        match tokio::time::timeout(left, ws_next(ws)).await {
            Ok(Some(m)) => got.push(m),
            _ => return got,
        }
    }
}

/// Opens `wss://…/ws` from the local address `from` (any 127.0.0.0/8
/// address reaches the loopback server: tests use them as "other
/// addresses"), with the login cookie `cookie` if given.
pub async fn ws_connect_from(
    server: &RunningServer,
    from: std::net::IpAddr,
    cookie: Option<&str>,
) -> Result<WsClient, tokio_tungstenite::tungstenite::Error> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let addr = kabine::http::reachable(server.https_addr());
    let url = format!("wss://{addr}/ws");
    let mut request = url.into_client_request()?;
    request.headers_mut().insert("origin", own_origin(server).parse().expect("valid header"));
    if let Some(cookie) = cookie {
        request.headers_mut().insert("cookie", cookie.parse().expect("valid header"));
    }
    let tcp = tcp_from(from, addr).await?;
    let connector = tokio_tungstenite::Connector::Rustls(insecure_tls());
    let (ws, _) = tokio_tungstenite::client_async_tls_with_config(request, tcp, None, Some(connector)).await?;
    Ok(ws)
}

/// A TCP connection to `to` from the local address `from`.
pub async fn tcp_from(from: std::net::IpAddr, to: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let socket = match from {
        std::net::IpAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::IpAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(to).await
}

/// An HTTPS client (trusting the test server) whose connections come from
/// the local address `from`.
pub fn https_client_from(from: std::net::IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_danger_accept_invalid_certs(true)
        .redirect(reqwest::redirect::Policy::none())
        .local_address(from)
        .build()
        .expect("reqwest client builds")
}

/// Sends `hello` for `room` as `name` and returns the first answer.
pub async fn ws_hello(ws: &mut WsClient, room: &str, name: &str) -> Option<kabine::protocol::ServerMsg> {
    ws_send(ws, &format!(r#"{{"type":"hello","version":1,"room":"{room}","display_name":"{name}"}}"#)).await;
    ws_next(ws).await
}

/// The moderator `host` admits `guest`, who knocks in the lobby as `name`
/// (in `secure` and `closed` mode every meeting starts with its lobby on):
/// the guest is told to wait for the lobby, the host sees them knock and
/// admits them, and the guest's `welcome` is returned.
pub async fn admit_from_lobby(host: &mut WsClient, guest: &mut WsClient, name: &str) -> kabine::protocol::ServerMsg {
    use kabine::protocol::{ServerMsg, WaitReason};
    let first =
        ws_until(guest, |m| matches!(m, ServerMsg::Waiting { reason: WaitReason::Lobby } | ServerMsg::Welcome { .. }));
    assert_eq!(first.await, Some(ServerMsg::Waiting { reason: WaitReason::Lobby }), "{name} knocks in the lobby");
    let knocks =
        |m: &ServerMsg| matches!(m, ServerMsg::Lobby { knocking } if knocking.iter().any(|p| p.display_name == name));
    let id = match ws_until(host, knocks).await {
        Some(ServerMsg::Lobby { knocking }) => {
            knocking.into_iter().find(|p| p.display_name == name).map(|p| p.id).expect("matched above")
        }
        other => panic!("the host sees {name} in the lobby: {other:?}"),
    };
    ws_send(host, &format!(r#"{{"type":"lobby_admit","id":"{id}"}}"#)).await;
    match ws_until(guest, |m| matches!(m, ServerMsg::Welcome { .. })).await {
        Some(welcome) => welcome,
        None => panic!("{name} is let in once admitted"),
    }
}
