//! Helpers for the `kabine audit` tests: running the real CLI binary,
//! serving a (deliberately weakened) router over Kabine's own TLS, writing
//! configs, and a small test-only signalling endpoint that speaks the
//! documented protocol (`docs/protocol.md`) with switchable defects.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use kabine::tls::CertStore;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A router served over TLS on 127.0.0.1 with Kabine's own TLS configuration.
pub struct Served {
    pub addr: SocketAddr,
    token: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Served {
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    pub async fn stop(self) {
        self.token.cancel();
        let _ = self.task.await;
    }
}

/// Serves `router` with the demo (self-signed, in-memory) certificate.
pub async fn serve(router: Router) -> Served {
    serve_with(router, CertStore::self_signed(&[]).expect("demo certificate")).await
}

/// Serves `router` with the given certificate.
pub async fn serve_with(router: Router, certs: CertStore) -> Served {
    let tls = kabine::tls::server_config(Arc::new(certs), kabine::config::TlsVersion::V1_2).expect("tls config");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let token = CancellationToken::new();
    let task = tokio::spawn(kabine::http::serve_https(
        listener,
        Arc::new(tls),
        router,
        kabine::http::ConnLimits { max_connections: 64, ..Default::default() },
        Default::default(),
        Default::default(),
        token.clone(),
    ));
    Served { addr, token, task }
}

/// Kabine's own router for the test config, with signalling that reaches no
/// room actor: tests put the test-only endpoint of [`with_fake`] in front.
pub fn kabine_router() -> Router {
    kabine_router_with(|_| {})
}

/// [`kabine_router`] with its configuration changed by `change`.
pub fn kabine_router_with(change: impl FnOnce(&mut kabine::config::Config)) -> Router {
    let mut loaded = kabine::config::LoadedConfig::demo();
    loaded.config = super::test_config();
    change(&mut loaded.config);
    loaded.config.access.users_file = PathBuf::from("/nonexistent/kabine-audit-test/users");
    let auth = Arc::new(kabine::auth::Auth::new(&loaded).expect("auth"));
    let (actor, _) = mpsc::channel(1);
    let signal = kabine::signal::Signalling::new(
        actor,
        kabine::signal::Timings::default(),
        tokio_util::task::TaskTracker::new(),
        CancellationToken::new(),
    );
    kabine::http::app(kabine::http::AppState {
        config: Arc::new(loaded.config),
        auth,
        signal,
        teletherapy: Arc::new(kabine::http::teletherapy::Guards::new()),
    })
}

/// The test-only signalling endpoint on `/ws`, everything else answered by `inner`.
pub fn with_fake(fake: Fake, inner: Router) -> Router {
    fake_ws(fake).fallback_service(inner)
}

/// Writes a config file (mode 0600) into `dir`.
pub fn write_config(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("kabine.toml");
    std::fs::write(&path, body).expect("write config");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    path
}

/// A fresh directory with mode 0750.
pub fn private_dir(path: PathBuf) -> PathBuf {
    std::fs::create_dir_all(&path).expect("mkdir");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o750)).expect("chmod");
    }
    path
}

/// What one run of `kabine audit` produced.
pub struct Run {
    pub code: i32,
    pub json: Value,
    pub stderr: String,
}

impl Run {
    pub fn statuses(&self) -> BTreeMap<String, String> {
        self.json["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .map(|c| {
                (c["id"].as_str().unwrap_or_default().to_string(), c["status"].as_str().unwrap_or_default().to_string())
            })
            .collect()
    }

    pub fn with_status(&self, status: &str) -> BTreeSet<String> {
        self.statuses().into_iter().filter(|(_, s)| s == status).map(|(id, _)| id).collect()
    }

    pub fn status(&self, id: &str) -> String {
        self.statuses().get(id).cloned().unwrap_or_else(|| panic!("no check {id} in the report"))
    }

    pub fn check(&self, id: &str) -> &Value {
        self.json["checks"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["id"] == id))
            .unwrap_or_else(|| panic!("no check {id}"))
    }

    /// Summary and evidence of a check, for assertion messages.
    pub fn explain(&self, id: &str) -> String {
        serde_json::to_string_pretty(self.check(id)).unwrap_or_default()
    }
}

/// Runs the real `kabine audit` binary with `args` plus `--format json --out`,
/// off the async runtime.
pub async fn audit(out_dir: &Path, args: &[String]) -> Run {
    let out = out_dir.join(format!("report-{}.json", rand::random::<u32>()));
    let mut full: Vec<String> = vec!["audit".into()];
    full.extend(args.iter().cloned());
    full.extend(["--format".into(), "json".into(), "--out".into(), out.display().to_string()]);
    let output = tokio::task::spawn_blocking(move || Command::new(super::kabine_bin()).args(&full).output())
        .await
        .expect("join")
        .expect("kabine audit runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let text = std::fs::read_to_string(&out).unwrap_or_else(|e| panic!("no report written ({e}); stderr:\n{stderr}"));
    let json = serde_json::from_str(&text).expect("the report is JSON");
    Run { code: output.status.code().unwrap_or(-1), json, stderr }
}

/// Runs `kabine audit` writing `format` in `lang` to `out`; returns the exit code.
pub async fn render(config: &Path, url: &str, format: &str, lang: &str, out: &Path) -> i32 {
    let full = args(config, url, &["--format", format, "--lang", lang, "--out", &out.display().to_string()]);
    let mut cmd = vec!["audit".to_string()];
    cmd.extend(full);
    let output = tokio::task::spawn_blocking(move || Command::new(super::kabine_bin()).args(&cmd).output())
        .await
        .expect("join")
        .expect("kabine audit runs");
    output.status.code().unwrap_or(-1)
}

/// `--config FILE --url URL` plus extra arguments.
pub fn args(config: &Path, url: &str, extra: &[&str]) -> Vec<String> {
    let mut v = vec!["--config".to_string(), config.display().to_string(), "--url".to_string(), url.to_string()];
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

// ------------------------------------------------------------------------
// A test-only signalling endpoint.

/// Which defects the test endpoint has.
#[derive(Clone, Default)]
pub struct Fake {
    /// Accept WebSockets from any Origin.
    pub any_origin: bool,
    /// Keep participants in the room after they leave.
    pub keep_ghosts: bool,
    /// Send a newcomer the room's earlier chat messages.
    pub replay_chat: bool,
    /// Write a file per joined room into this directory.
    pub write_dir: Option<PathBuf>,
    /// STUN/TURN URLs in `welcome.ice_servers`.
    pub ice_urls: Vec<String>,
    /// Answer every `hello` with this error code instead of `welcome`.
    pub refuse_hello: Option<&'static str>,
    /// Start a recording on `record_start` at once, asking nobody (by
    /// default `record_start` is refused, as by Kabine with recording off).
    pub record_without_consent: bool,
}

struct Member {
    id: String,
    name: String,
    tx: mpsc::UnboundedSender<String>,
}

#[derive(Default)]
struct Room {
    members: Vec<Member>,
    chat: Vec<String>,
}

#[derive(Clone)]
struct FakeState {
    fake: Fake,
    rooms: Arc<Mutex<HashMap<String, Room>>>,
}

/// A router with `/ws` only, to be merged with Kabine's own.
pub fn fake_ws(fake: Fake) -> Router {
    let state = FakeState { fake, rooms: Arc::default() };
    Router::new().route("/ws", get(upgrade)).with_state(state)
}

async fn upgrade(
    axum::extract::State(state): axum::extract::State<FakeState>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let origin = headers.get("origin").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let host = headers.get("host").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !state.fake.any_origin && origin != format!("https://{host}") {
        return StatusCode::FORBIDDEN.into_response();
    }
    ws.on_upgrade(move |socket| session(state, socket))
}

fn participant(id: &str, name: &str) -> Value {
    json!({"id": id, "display_name": name, "mic": false, "camera": false, "screen": false, "hand": false, "quality": "unknown"})
}

async fn session(state: FakeState, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let id = format!("p{:08x}", rand::random::<u32>());
    let mut joined: Option<(String, String)> = None;
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(text) => if sink.send(Message::Text(text.into())).await.is_err() { break },
                None => break,
            },
            incoming = stream.next() => {
                let Some(Ok(Message::Text(text))) = incoming else { break };
                let Ok(msg) = serde_json::from_str::<Value>(text.as_str()) else { continue };
                match msg["type"].as_str() {
                    Some("hello") if state.fake.refuse_hello.is_some() => {
                        let code = state.fake.refuse_hello.unwrap_or_default();
                        let _ = tx.send(json!({"type": "error", "code": code, "message": "no"}).to_string());
                    }
                    Some("hello") => {
                        let room = msg["room"].as_str().unwrap_or_default().to_string();
                        let name = msg["display_name"].as_str().unwrap_or_default().to_string();
                        if let Some(dir) = &state.fake.write_dir {
                            let _ = std::fs::write(dir.join(format!("{room}.json")), format!("{{\"member\":\"{name}\"}}"));
                        }
                        let mut rooms = state.rooms.lock().expect("lock");
                        let r = rooms.entry(room.clone()).or_default();
                        let others: Vec<Value> = r.members.iter().map(|m| participant(&m.id, &m.name)).collect();
                        let ice: Vec<Value> = if state.fake.ice_urls.is_empty() { vec![] } else { vec![json!({"urls": state.fake.ice_urls})] };
                        let _ = tx.send(json!({"type": "welcome", "version": 1, "you": participant(&id, &name), "participants": others, "ice_servers": ice, "last_n": 0}).to_string());
                        if state.fake.replay_chat {
                            for c in &r.chat {
                                let _ = tx.send(c.clone());
                            }
                        }
                        for m in &r.members {
                            let _ = m.tx.send(json!({"type": "participant_joined", "participant": participant(&id, &name)}).to_string());
                        }
                        r.members.push(Member { id: id.clone(), name: name.clone(), tx: tx.clone() });
                        joined = Some((room, name));
                    }
                    Some("chat") => {
                        let Some((room, name)) = &joined else { continue };
                        let line = json!({"type": "chat", "from": id, "from_name": name, "text": msg["text"], "ts": 0}).to_string();
                        let mut rooms = state.rooms.lock().expect("lock");
                        if let Some(r) = rooms.get_mut(room) {
                            r.chat.push(line.clone());
                            for m in r.members.iter().filter(|m| m.id != id) {
                                let _ = m.tx.send(line.clone());
                            }
                        }
                    }
                    Some("record_start") if state.fake.record_without_consent => {
                        let Some((room, _)) = &joined else { continue };
                        let rooms = state.rooms.lock().expect("lock");
                        if let Some(r) = rooms.get(room) {
                            let ids: Vec<&str> = r.members.iter().map(|m| m.id.as_str()).collect();
                            let line = json!({"type": "recording", "state": "on", "agreed": ids, "declined": [], "pending": []}).to_string();
                            for m in &r.members {
                                let _ = m.tx.send(line.clone());
                            }
                        }
                    }
                    Some("record_start") => {
                        let _ = tx.send(json!({"type": "error", "code": "recording_unavailable", "message": "off"}).to_string());
                    }
                    Some("leave") => {
                        let _ = sink.send(Message::Text(json!({"type": "bye", "reason": "left"}).to_string().into())).await;
                        break;
                    }
                    _ => {}
                }
            }
        }
    }
    if let Some((room, _)) = joined {
        let mut rooms = state.rooms.lock().expect("lock");
        if let Some(r) = rooms.get_mut(&room) {
            if !state.fake.keep_ghosts {
                r.members.retain(|m| m.id != id);
            }
            for m in &r.members {
                let _ = m.tx.send(json!({"type": "participant_left", "id": id}).to_string());
            }
            if r.members.is_empty() && !state.fake.replay_chat {
                rooms.remove(&room);
            }
        }
    }
    let _ = sink.close().await;
}
