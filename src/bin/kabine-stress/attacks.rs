//! The attacks. Each runs for a time budget or a count, whichever ends
//! first, from this machine's loopback only, and returns its own figures
//! and the properties it checked.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use kabine::loadgen::{PeerConfig, SyntheticPeer};
use kabine::protocol::{ClientMsg, MAX_MESSAGE_BYTES, PROTOCOL_VERSION, ServerMsg};
use rand::{Rng, RngCore};
use rustls_pki_types::ServerName;
use serde_json::{Value, json};
use str0m::ice::{StunMessage, TransId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::report::Check;

/// What an attack did and found.
#[derive(Debug, Default)]
pub struct Outcome {
    pub figures: serde_json::Map<String, Value>,
    pub checks: Vec<Check>,
}

impl Outcome {
    fn figure(&mut self, name: &str, v: impl Into<Value>) {
        self.figures.insert(name.into(), v.into());
    }

    fn check(&mut self, name: &str, ok: bool, detail: impl Into<String>) {
        self.checks.push(Check { name: name.into(), ok, detail: detail.into() });
    }
}

/// Where the server is.
#[derive(Debug, Clone)]
pub struct Target {
    pub https: SocketAddr,
    pub media: SocketAddr,
    pub tls: Arc<rustls::ClientConfig>,
}

impl Target {
    fn peer(&self, room: &str, name: &str) -> PeerConfig {
        let mut c = PeerConfig::new(self.https, Arc::clone(&self.tls), room, name);
        c.video = false;
        c
    }
}

// ---------------------------------------------------------------- UDP ----

/// Sends `make(i)` datagrams at `rate` per second for `budget` from
/// `sockets` source ports, on a thread of its own. Returns (sent, errors).
fn blast(
    target: SocketAddr,
    rate: u64,
    budget: Duration,
    sockets: usize,
    make: impl Fn(u64) -> Vec<u8> + Send + 'static,
) -> io::Result<std::thread::JoinHandle<(u64, u64)>> {
    let socks: Vec<UdpSocket> =
        (0..sockets.max(1)).map(|_| UdpSocket::bind("127.0.0.1:0")).collect::<io::Result<_>>()?;
    Ok(std::thread::spawn(move || {
        let start = Instant::now();
        let (mut sent, mut errors) = (0u64, 0u64);
        while start.elapsed() < budget {
            // Catch up to where the rate says we should be, then yield.
            let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
            while sent + errors < due {
                let data = make(sent + errors);
                let s = &socks[((sent + errors) as usize) % socks.len()];
                match s.send_to(&data, target) {
                    Ok(_) => sent += 1,
                    Err(_) => errors += 1,
                }
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        (sent, errors)
    }))
}

/// Malformed datagrams of every class the media port demultiplexes: STUN,
/// DTLS, RTP, RTCP and others, random lengths and contents.
pub fn malformed_datagrams() -> Vec<Vec<u8>> {
    let mut rng = rand::rng();
    let firsts = [0x00, 0x01, 0x03, 20, 22, 23, 63, 0x80, 0x90, 0xbf, 0x81, 200, 255, 64];
    (0..512)
        .map(|i| {
            let mut d = vec![0u8; rng.random_range(1..1200)];
            rng.fill_bytes(&mut d);
            d[0] = firsts[i % firsts.len()];
            match d[0] {
                // A STUN header with the magic cookie, so the parser goes deeper.
                0x00 | 0x01 if d.len() >= 20 => d[4..8].copy_from_slice(&0x2112_a442u32.to_be_bytes()),
                // A DTLS record header that claims a handshake of DTLS 1.2.
                22 if d.len() >= 14 => d[1..3].copy_from_slice(&[0xfe, 0xfd]),
                // RTCP sender reports / RTP with a plausible payload type.
                0x81 if d.len() >= 2 => d[1] = 200 + (i % 7) as u8,
                0x80 | 0x90 if d.len() >= 2 => d[1] = 96 + (i % 16) as u8,
                _ => {}
            }
            d
        })
        .collect()
}

/// Malformed STUN / RTP / RTCP / DTLS datagrams at `rate` for `budget`.
pub async fn udp_flood(t: &Target, rate: u64, budget: Duration) -> io::Result<Outcome> {
    let pool = Arc::new(malformed_datagrams());
    let pool2 = Arc::clone(&pool);
    let h = blast(t.media, rate, budget, 8, move |i| pool2[(i as usize) % pool2.len()].clone())?;
    let (sent, errors) = tokio::task::spawn_blocking(move || h.join().unwrap_or((0, 0))).await.unwrap_or((0, 0));
    let mut o = Outcome::default();
    o.figure("sent", sent);
    o.figure("send_errors", errors);
    o.figure("rate_pps", sent as f64 / budget.as_secs_f64());
    o.check(
        "the flood reached its rate",
        sent as f64 >= 0.9 * rate as f64 * budget.as_secs_f64(),
        format!("{sent} sent"),
    );
    Ok(o)
}

/// A Binding request with valid syntax naming `ufrag` and a made-up
/// MESSAGE-INTEGRITY (the wrong credentials).
fn bogus_bind(ufrag: &str) -> Vec<u8> {
    let mut rng = rand::rng();
    let username = format!("{ufrag}:{:08x}", rng.random::<u32>());
    let msg = StunMessage::binding_request(&username, TransId::new(), true, rng.random(), 1_845_501_695, true);
    let mut buf = vec![0u8; 1500];
    let n = msg.to_bytes(Some(b"not the password"), &mut buf, |_, _| [0x42; 20]).unwrap_or(0);
    buf.truncate(n);
    buf
}

/// ICE binding requests for a real connection of the server, with wrong
/// credentials, at `rate` from 64 source ports.
pub async fn bogus_binds(t: &Target, rate: u64, budget: Duration) -> io::Result<Outcome> {
    // A participant of our own, so the requests name a ufrag the server has.
    let observer = SyntheticPeer::join(t.peer("stress-binds", "Observer")).await?;
    let ok = observer.wait_for(Duration::from_secs(10), |r| r.server_ufrags.0.is_some()).await;
    let ufrag = observer.report().server_ufrags.0.unwrap_or_else(|| "unknown".into());
    let pool: Arc<Vec<Vec<u8>>> = Arc::new((0..256).map(|_| bogus_bind(&ufrag)).collect());
    let h = blast(t.media, rate, budget, 64, move |i| pool[(i as usize) % pool.len()].clone())?;
    let (sent, errors) = tokio::task::spawn_blocking(move || h.join().unwrap_or((0, 0))).await.unwrap_or((0, 0));
    let connected = observer.report().publish_connected;
    observer.leave().await;
    let mut o = Outcome::default();
    o.figure("sent", sent);
    o.figure("send_errors", errors);
    o.figure("rate_pps", sent as f64 / budget.as_secs_f64());
    o.figure("source_ports", 64);
    o.check("the requests named a real connection", ok, "server ufrag from a participant's offer");
    o.check("that participant stayed connected", connected, "");
    o.check(
        "the flood reached its rate",
        sent as f64 >= 0.9 * rate as f64 * budget.as_secs_f64(),
        format!("{sent} sent"),
    );
    Ok(o)
}

/// A DTLS 1.2 ClientHello record (random body) as an attacker would send it.
fn client_hello() -> Vec<u8> {
    let mut rng = rand::rng();
    let mut body = vec![0u8; 120];
    rng.fill_bytes(&mut body);
    // handshake: type 1 (ClientHello), length, message_seq 0, fragment offset 0, fragment length
    let mut hs = vec![1, 0, 0, body.len() as u8, 0, 0, 0, 0, 0, 0, 0, body.len() as u8, 0xfe, 0xfd];
    hs.extend(&body);
    let mut rec = vec![22, 0xfe, 0xff, 0, 0, 0, 0, 0, 0, 0, 0];
    rec.extend((hs.len() as u16).to_be_bytes());
    rec.extend(hs);
    rec
}

/// Participants join one after another while ClientHellos race their DTLS
/// handshakes from other ports; every join must connect.
pub async fn dtls_race(t: &Target, joins: usize, rate: u64, budget: Duration) -> io::Result<Outcome> {
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    let media = t.media;
    let racer = std::thread::spawn(move || {
        let socks: Vec<UdpSocket> = (0..16).filter_map(|_| UdpSocket::bind("127.0.0.1:0").ok()).collect();
        let mut sent = 0u64;
        let start = Instant::now();
        while !stop2.load(Ordering::Relaxed) && !socks.is_empty() {
            let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
            while sent < due {
                let _ = socks[(sent as usize) % socks.len()].send_to(&client_hello(), media);
                sent += 1;
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        sent
    });
    let start = Instant::now();
    let (mut connected, mut tried) = (0usize, 0usize);
    let mut times = Vec::new();
    while tried < joins && start.elapsed() < budget {
        tried += 1;
        let began = Instant::now();
        match SyntheticPeer::join(t.peer(&format!("stress-dtls-{tried}"), "Racer")).await {
            Ok(p) => {
                if p.wait_for(Duration::from_secs(10), |r| r.publish_connected).await {
                    connected += 1;
                    times.push(began.elapsed().as_secs_f64() * 1000.0);
                }
                p.leave().await;
            }
            Err(e) => eprintln!("kabine-stress: a join failed: {e}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    let hellos = tokio::task::spawn_blocking(move || racer.join().unwrap_or(0)).await.unwrap_or(0);
    times.sort_by(f64::total_cmp);
    let mut o = Outcome::default();
    o.figure("joins", tried);
    o.figure("connected", connected);
    o.figure("client_hellos_sent", hellos);
    o.figure("connect_ms_p50", quantile(&times, 0.5));
    o.figure("connect_ms_max", times.last().copied().unwrap_or(0.0));
    o.check(
        "every join connected despite the spoofed ClientHellos",
        tried > 0 && connected == tried,
        format!("{connected}/{tried}"),
    );
    Ok(o)
}

pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

// ---------------------------------------------------------------- TCP ----

/// A connection from the attacker's own address: on loopback 127.0.0.2,
/// while the held call and the fresh join come from 127.0.0.1 — two
/// addresses, as an attacker and a patient on the internet are. (From one
/// address the server's per-address cap, `server.max_connections_per_address`,
/// rightly refuses the fresh join too.)
async fn attacker_connect(server: std::net::SocketAddr) -> io::Result<TcpStream> {
    let std::net::IpAddr::V4(ip) = server.ip() else { return TcpStream::connect(server).await };
    if !ip.is_loopback() {
        return TcpStream::connect(server).await;
    }
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind((std::net::Ipv4Addr::new(127, 0, 0, 2), 0).into())?;
    socket.connect(server).await
}

/// `n` connections from the attacker's address ([`attacker_connect`]) that
/// send the first bytes of a TLS record and then one byte every 10 s; a
/// fresh participant joins from another address while they are open.
pub async fn slowloris(t: &Target, n: usize, budget: Duration, browser: Option<&BrowserJoin>) -> io::Result<Outcome> {
    // The browser starts before the attack (that takes seconds of its
    // own) and joins when told to, while the slow connections are open.
    let mut browser = match browser {
        Some(b) => Some(b.start(t).await?),
        None => None,
    };
    let closed = Arc::new(AtomicU64::new(0));
    let opened = Arc::new(AtomicU64::new(0));
    let close_ms = Arc::new(std::sync::Mutex::new(Vec::new()));
    let end = Instant::now() + budget;
    let mut tasks = Vec::new();
    for i in 0..n {
        let (closed, opened, close_ms, https) =
            (Arc::clone(&closed), Arc::clone(&opened), Arc::clone(&close_ms), t.https);
        tasks.push(tokio::spawn(async move {
            let Ok(Ok(mut s)) = tokio::time::timeout(Duration::from_secs(10), attacker_connect(https)).await else {
                return;
            };
            let began = Instant::now();
            // A TLS handshake record header announcing 512 bytes, and 2 of them.
            if s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00]).await.is_err() {
                return;
            }
            opened.fetch_add(1, Ordering::Relaxed);
            let mut buf = [0u8; 64];
            let mut next_drip = Instant::now() + Duration::from_secs(10) + Duration::from_millis((i % 1000) as u64);
            loop {
                let until = next_drip.min(end);
                tokio::select! {
                    r = s.read(&mut buf) => {
                        if matches!(r, Ok(0) | Err(_)) {
                            closed.fetch_add(1, Ordering::Relaxed);
                            close_ms.lock().unwrap_or_else(|p| p.into_inner()).push(began.elapsed().as_secs_f64() * 1000.0);
                            return;
                        }
                    }
                    _ = tokio::time::sleep_until(until.into()) => {
                        if Instant::now() >= end {
                            return;
                        }
                        if s.write_all(&[0]).await.is_err() {
                            closed.fetch_add(1, Ordering::Relaxed);
                            close_ms.lock().unwrap_or_else(|p| p.into_inner()).push(began.elapsed().as_secs_f64() * 1000.0);
                            return;
                        }
                        next_drip = Instant::now() + Duration::from_secs(10);
                    }
                }
            }
        }));
        if i % 200 == 199 {
            tokio::task::yield_now().await;
        }
    }
    // Let the connections open (those beyond `server.max_connections` wait
    // in the kernel's backlog), then a fresh participant joins while they
    // hold their slots: well before the handshake timeout (10 s) frees them.
    let open_deadline = Instant::now() + Duration::from_secs(4).min(budget / 2);
    while (opened.load(Ordering::Relaxed) as usize) < n && Instant::now() < open_deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let open_at_join = opened.load(Ordering::Relaxed) - closed.load(Ordering::Relaxed);
    if let Some(b) = browser.as_mut() {
        b.go().await;
    }
    let began = Instant::now();
    let fresh =
        tokio::time::timeout(Duration::from_secs(10), SyntheticPeer::join(t.peer("stress-fresh", "Fresh"))).await;
    let (welcome_ms, connect_ms) = match fresh {
        Ok(Ok(p)) => {
            let w = began.elapsed().as_secs_f64() * 1000.0;
            let c = p
                .wait_for(Duration::from_secs(10), |r| r.publish_connected)
                .await
                .then(|| began.elapsed().as_secs_f64() * 1000.0);
            p.leave().await;
            (Some(w), c)
        }
        _ => (None, None),
    };
    for task in tasks {
        let _ = task.await;
    }
    let mut times = close_ms.lock().unwrap_or_else(|p| p.into_inner()).clone();
    times.sort_by(f64::total_cmp);
    let (opened, closed) = (opened.load(Ordering::Relaxed), closed.load(Ordering::Relaxed));
    let mut o = Outcome::default();
    o.figure("connections", n);
    o.figure("opened", opened);
    o.figure("open_when_the_fresh_join_started", open_at_join);
    o.figure("closed_by_server", closed);
    o.figure("close_after_ms_p50", quantile(&times, 0.5));
    o.figure("close_after_ms_max", times.last().copied().unwrap_or(0.0));
    o.figure("fresh_join_welcome_ms", welcome_ms);
    o.figure("fresh_join_connected_ms", connect_ms);
    o.check(
        "the server's timeouts closed every slow connection",
        opened > 0 && closed == opened,
        format!("{closed} of {opened} closed within {} s", budget.as_secs()),
    );
    o.check(
        "a fresh join during the attack connected in < 2 s",
        connect_ms.is_some_and(|ms| ms < 2000.0),
        format!("welcome {welcome_ms:?} ms, media connected {connect_ms:?} ms"),
    );
    if let Some(b) = browser {
        let limit = b.max_ms;
        let r = b.result().await;
        let ms = |k: &str| r.get(k).and_then(Value::as_f64);
        for k in ["pageMs", "joinedMs", "connectedMs", "clickToConnectedMs"] {
            o.figure(&format!("browser_join_{k}"), ms(k));
        }
        o.check(
            &format!("a fresh browser join during the attack had its media connected in < {limit} ms"),
            r["ok"] == true && ms("connectedMs").is_some_and(|v| v < limit as f64),
            format!(
                "page {:?} ms, joined {:?} ms, media connected {:?} ms after it was asked for{}",
                ms("pageMs"),
                ms("joinedMs"),
                ms("connectedMs"),
                r["error"].as_str().map(|e| format!("; error: {e}")).unwrap_or_default()
            ),
        );
    }
    Ok(o)
}

/// A real browser joining during an attack: `tests/browser/scenarios/fresh_join.mjs`
/// run by node (Chromium through puppeteer-core).
#[derive(Debug, Clone)]
pub struct BrowserJoin {
    pub script: std::path::PathBuf,
    /// Where the scenario's screenshots and output go.
    pub out: std::path::PathBuf,
    /// The longest the join may take, from asked for to media connected.
    pub max_ms: u64,
}

/// A started browser join, waiting for [`RunningJoin::go`].
pub struct RunningJoin {
    child: tokio::process::Child,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    max_ms: u64,
}

impl BrowserJoin {
    /// Starts node with the scenario and waits until the browser is up.
    async fn start(&self, t: &Target) -> io::Result<RunningJoin> {
        use tokio::io::AsyncBufReadExt;
        std::fs::create_dir_all(&self.out)?;
        let mut child = tokio::process::Command::new("node")
            .arg(&self.script)
            .current_dir(self.script.parent().and_then(|p| p.parent()).unwrap_or(std::path::Path::new(".")))
            .env("KABINE_URL", format!("https://{}", t.https))
            .env("KABINE_OUT", &self.out)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot run node {}: {e}", self.script.display())))?;
        let stdout = child.stdout.take().ok_or_else(|| io::Error::other("node has no stdout"))?;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(60), async {
            while let Ok(Some(l)) = lines.next_line().await {
                if l == "READY" {
                    return true;
                }
            }
            false
        })
        .await;
        if ready != Ok(true) {
            return Err(io::Error::other("the browser for the fresh join did not start within 60 s"));
        }
        Ok(RunningJoin { child, lines, max_ms: self.max_ms })
    }
}

impl RunningJoin {
    /// Tells the browser to join now.
    async fn go(&mut self) {
        if let Some(stdin) = self.child.stdin.as_mut() {
            let _ = stdin.write_all(b"go\n").await;
            let _ = stdin.flush().await;
        }
    }

    /// The scenario's result (`{"ok": false, "error": …}` if it reported none).
    async fn result(mut self) -> Value {
        let found = tokio::time::timeout(Duration::from_secs(120), async {
            while let Ok(Some(l)) = self.lines.next_line().await {
                if let Some(r) = l.strip_prefix("RESULT ") {
                    return serde_json::from_str::<Value>(r).ok();
                }
            }
            None
        })
        .await
        .ok()
        .flatten();
        let _ = self.child.wait().await;
        found.unwrap_or_else(|| json!({"ok": false, "error": "the browser scenario reported nothing"}))
    }
}

/// Full TLS handshakes, each connection closed right after, `cycles` times
/// (or until `budget` ends), `concurrency` at a time.
pub async fn tls_churn(t: &Target, cycles: u64, concurrency: usize, budget: Duration) -> io::Result<Outcome> {
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let next = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + budget;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (done, failed, next, tls, https) =
            (Arc::clone(&done), Arc::clone(&failed), Arc::clone(&next), Arc::clone(&t.tls), t.https);
        tasks.push(tokio::spawn(async move {
            let connector = TlsConnector::from(tls);
            while next.fetch_add(1, Ordering::Relaxed) < cycles && Instant::now() < end {
                let r = async {
                    let tcp = TcpStream::connect(https).await?;
                    let mut s = connector.connect(ServerName::from(https.ip()), tcp).await?;
                    s.shutdown().await
                };
                match tokio::time::timeout(Duration::from_secs(10), r).await {
                    Ok(Ok(())) => done.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let secs = start.elapsed().as_secs_f64();
    let (done, failed) = (done.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    let mut o = Outcome::default();
    o.figure("cycles", done);
    o.figure("failed", failed);
    o.figure("cycles_per_second", done as f64 / secs);
    o.check("every handshake completed", failed == 0, format!("{failed} failed of {}", done + failed));
    o.check(
        "every cycle ran within the time budget",
        done + failed >= cycles,
        format!("{} of {cycles}", done + failed),
    );
    Ok(o)
}

// ---------------------------------------------------------- WebSocket ----

type Ws = tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<TcpStream>>;

async fn ws_connect(t: &Target) -> io::Result<Ws> {
    let tcp = TcpStream::connect(t.https).await?;
    tcp.set_nodelay(true)?;
    let tls = TlsConnector::from(Arc::clone(&t.tls)).connect(ServerName::from(t.https.ip()), tcp).await?;
    let host = t.https.to_string();
    let mut request = format!("wss://{host}/ws").into_client_request().map_err(io::Error::other)?;
    let origin = HeaderValue::from_str(&format!("https://{host}")).map_err(io::Error::other)?;
    request.headers_mut().insert("origin", origin);
    let mut config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default();
    config.max_message_size = None;
    config.max_frame_size = None;
    let (ws, _) =
        tokio_tungstenite::client_async_with_config(request, tls, Some(config)).await.map_err(io::Error::other)?;
    Ok(ws)
}

async fn ws_send(ws: &mut Ws, msg: &ClientMsg) -> io::Result<()> {
    let text = serde_json::to_string(msg).map_err(io::Error::other)?;
    ws.send(Message::text(text)).await.map_err(io::Error::other)
}

/// Reads until a server message matching `want` (true), or the connection
/// ends or `timeout` passes (false).
async fn ws_until(ws: &mut Ws, timeout: Duration, mut want: impl FnMut(&ServerMsg) -> bool) -> bool {
    let end = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(end, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                if let Ok(m) = serde_json::from_str::<ServerMsg>(&t)
                    && want(&m)
                {
                    return true;
                }
            }
            Ok(Some(Ok(_))) => {}
            _ => return false,
        }
    }
}

/// How the server ended a connection: the close code, or None if it
/// stayed open for `wait`.
async fn close_code(ws: &mut Ws, wait: Duration) -> Option<Option<u16>> {
    let end = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(end, ws.next()).await {
            Err(_) => return None,
            Ok(Some(Ok(Message::Close(frame)))) => return Some(frame.map(|f| u16::from(f.code))),
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_)) | None) => return Some(None),
        }
    }
}

async fn joined(t: &Target, room: &str, name: &str) -> io::Result<Ws> {
    let mut ws = ws_connect(t).await?;
    let hello =
        ClientMsg::Hello { version: PROTOCOL_VERSION, room: room.into(), display_name: name.into(), appointment: None };
    ws_send(&mut ws, &hello).await?;
    if !ws_until(&mut ws, Duration::from_secs(20), |m| matches!(m, ServerMsg::Welcome { .. })).await {
        return Err(io::Error::other(format!("no welcome in {room} within 20 s")));
    }
    Ok(ws)
}

/// A masked client frame (RFC 6455) with the given opcode and FIN bit,
/// announcing `announced` payload bytes and carrying `payload`.
fn raw_frame(opcode: u8, fin: bool, announced: u64, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![(u8::from(fin) << 7) | opcode];
    if announced < 126 {
        f.push(0x80 | announced as u8);
    } else if announced <= 0xffff {
        f.push(0x80 | 126);
        f.extend((announced as u16).to_be_bytes());
    } else {
        f.push(0x80 | 127);
        f.extend(announced.to_be_bytes());
    }
    let mask = [0x12, 0x34, 0x56, 0x78];
    f.extend(mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// Frames at the size limit and beyond, `rounds` times each.
pub async fn ws_frames(t: &Target, rounds: usize) -> io::Result<Outcome> {
    let mut o = Outcome::default();
    let (mut at_limit_ok, mut over_closed, mut huge_closed, mut fragments_closed, mut binary_closed) = (0, 0, 0, 0, 0);
    let mut codes = std::collections::BTreeMap::<String, u64>::new();
    let mut note = |what: &str, c: Option<Option<u16>>| {
        *codes
            .entry(format!("{what}: {}", c.map_or("open".into(), |c| c.map_or("dropped".into(), |c| c.to_string()))))
            .or_default() += 1;
    };
    for round in 0..rounds {
        let room = format!("stress-frames-{round}");
        // Exactly at the limit: a chat message padded to MAX_MESSAGE_BYTES.
        let mut ws = joined(t, &room, "Frames").await?;
        let head = r#"{"type":"chat","text":""#;
        let text = format!("{head}{}\"}}", "a".repeat(MAX_MESSAGE_BYTES - head.len() - 2));
        debug_assert_eq!(text.len(), MAX_MESSAGE_BYTES);
        ws.send(Message::text(text)).await.map_err(io::Error::other)?;
        // The connection stays; a small message after it is answered.
        ws_send(&mut ws, &ClientMsg::Hand { raised: true }).await?;
        let alive =
            ws_until(&mut ws, Duration::from_secs(5), |m| matches!(m, ServerMsg::ParticipantUpdated { .. })).await;
        if alive {
            at_limit_ok += 1;
        }
        note("at limit", if alive { None } else { Some(None) });
        // One byte over.
        // The server may close (and reset) before it read all of it: a
        // failed send is the server's answer too.
        let text = format!("{head}{}\"}}", "a".repeat(MAX_MESSAGE_BYTES - head.len() - 1));
        let _ = ws.send(Message::text(text)).await;
        let c = close_code(&mut ws, Duration::from_secs(5)).await;
        if matches!(c, Some(Some(1009) | None)) {
            over_closed += 1;
        }
        note("limit + 1", c);

        // A header announcing 2^62 bytes, then 4 KiB of them.
        let mut ws = joined(t, &room, "Huge").await?;
        let _ = ws.get_mut().write_all(&raw_frame(0x1, true, 1 << 62, &[b'a'; 4096])).await;
        let _ = ws.get_mut().flush().await;
        let c = close_code(&mut ws, Duration::from_secs(5)).await;
        if c.is_some() {
            huge_closed += 1;
        }
        note("2^62 announced", c);

        // Fragments of 16 KiB each, never finished, past the limit.
        let mut ws = joined(t, &room, "Fragments").await?;
        let piece = vec![b'a'; 16 * 1024];
        let mut first = true;
        for _ in 0..(MAX_MESSAGE_BYTES / piece.len() + 2) {
            let frame = raw_frame(if first { 0x1 } else { 0x0 }, false, piece.len() as u64, &piece);
            first = false;
            if ws.get_mut().write_all(&frame).await.is_err() {
                break;
            }
        }
        let _ = ws.get_mut().flush().await;
        let c = close_code(&mut ws, Duration::from_secs(5)).await;
        if c.is_some() {
            fragments_closed += 1;
        }
        note("fragments past the limit", c);

        // A binary frame.
        let mut ws = joined(t, &room, "Binary").await?;
        let _ = ws.send(Message::binary(vec![1u8; 100])).await;
        let c = close_code(&mut ws, Duration::from_secs(5)).await;
        if matches!(c, Some(Some(1003) | None)) {
            binary_closed += 1;
        }
        note("binary", c);

        // The server keeps a meeting whose last participant lost the
        // connection for a grace period (rejoin tickets); one who leaves
        // properly ends it, so nothing of the round is left.
        let mut last = joined(t, &room, "Last").await?;
        ws_send(&mut last, &ClientMsg::Leave {}).await?;
        let _ = close_code(&mut last, Duration::from_secs(2)).await;
    }
    o.figure("rounds", rounds);
    o.figure("outcomes", json!(codes));
    o.check(
        "a frame at the limit is taken, the connection stays",
        at_limit_ok == rounds,
        format!("{at_limit_ok}/{rounds}"),
    );
    o.check(
        "a frame one byte over closes the connection (1009, or a reset before the close frame is read)",
        over_closed == rounds,
        format!("{over_closed}/{rounds}"),
    );
    o.check(
        "a frame announcing 2^62 bytes is closed at once",
        huge_closed == rounds,
        format!("{huge_closed}/{rounds}"),
    );
    o.check(
        "endless fragments past the limit are closed",
        fragments_closed == rounds,
        format!("{fragments_closed}/{rounds}"),
    );
    o.check(
        "a binary frame closes the connection (1003, or a reset before the close frame is read)",
        binary_closed == rounds,
        format!("{binary_closed}/{rounds}"),
    );
    Ok(o)
}

/// One participant of the held call's room sends valid messages as fast as
/// its connection takes them.
pub async fn ws_flood(t: &Target, room: &str, budget: Duration) -> io::Result<Outcome> {
    let mut ws = joined(t, room, "Flood").await?;
    let start = Instant::now();
    let mut sent = 0u64;
    let mut ended = None;
    let mut received = 0u64;
    while start.elapsed() < budget {
        let msg = if sent.is_multiple_of(2) {
            ClientMsg::Chat { text: format!("flood {sent}") }
        } else {
            ClientMsg::Hand { raised: sent % 4 == 1 }
        };
        if let Err(e) = ws_send(&mut ws, &msg).await {
            ended = Some(format!("send failed: {e}"));
            break;
        }
        sent += 1;
        // Read what is there without waiting, so our side never blocks the server.
        while let Ok(Some(m)) = tokio::time::timeout(Duration::ZERO, ws.next()).await {
            match m {
                Ok(Message::Close(f)) => {
                    ended = Some(format!("closed by the server: {:?}", f.map(|f| u16::from(f.code))));
                    break;
                }
                Ok(_) => received += 1,
                Err(e) => {
                    ended = Some(format!("read failed: {e}"));
                    break;
                }
            }
        }
        if ended.is_some() {
            break;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let _ = ws_send(&mut ws, &ClientMsg::Leave {}).await;
    let mut o = Outcome::default();
    o.figure("messages_sent", sent);
    o.figure("messages_per_second", sent as f64 / secs);
    o.figure("messages_received", received);
    o.figure("flooder_ended", ended.clone().unwrap_or_else(|| "still connected (no rate limit)".into()));
    Ok(o)
}

// -------------------------------------------------------------- churn ----

/// One room's life: a host with media opens it, chats, sets a password and
/// the lobby; a guest knocks, gives the password, is admitted, chats in
/// private; breakout rooms are made, the guest moved and brought back;
/// everyone leaves. Returns which steps failed.
async fn room_life(t: &Target, i: usize) -> Vec<&'static str> {
    let mut failed = Vec::new();
    let room = format!("stress-churn-{i}");
    let host = match SyntheticPeer::join(t.peer(&room, "Host")).await {
        Ok(h) => h,
        Err(_) => return vec!["host join"],
    };
    if !host.wait_for(Duration::from_secs(10), |r| r.publish_connected).await {
        failed.push("host media");
    }
    host.send(ClientMsg::Chat { text: format!("hello {i}") }).await;
    host.send(ClientMsg::SetPassword { password: Some(format!("pw-{i}")) }).await;
    host.send(ClientMsg::SetLobby { enabled: true }).await;
    if !host
        .wait_for(Duration::from_secs(5), |r| {
            r.other.iter().any(|m| matches!(m, ServerMsg::RoomState { locked: true, lobby: true, .. }))
        })
        .await
    {
        failed.push("password and lobby set");
    }
    let guest = async {
        let mut ws = ws_connect(t).await?;
        let hello = ClientMsg::Hello {
            version: PROTOCOL_VERSION,
            room: room.clone(),
            display_name: "Guest".into(),
            appointment: None,
        };
        ws_send(&mut ws, &hello).await?;
        if !ws_until(&mut ws, Duration::from_secs(5), |m| matches!(m, ServerMsg::PasswordRequired { .. })).await {
            return Err(io::Error::other("password asked"));
        }
        ws_send(&mut ws, &ClientMsg::Password { password: format!("pw-{i}") }).await?;
        if !ws_until(&mut ws, Duration::from_secs(5), |m| matches!(m, ServerMsg::Waiting { .. })).await {
            return Err(io::Error::other("lobby"));
        }
        Ok::<Ws, io::Error>(ws)
    }
    .await;
    let mut guest = match guest {
        Ok(g) => g,
        Err(_) => {
            failed.push("guest knocks");
            host.leave().await;
            return failed;
        }
    };
    let knocking = |r: &kabine::loadgen::PeerReport| {
        r.other.iter().rev().find_map(|m| match m {
            ServerMsg::Lobby { knocking } => knocking.first().map(|p| p.id.clone()),
            _ => None,
        })
    };
    host.wait_for(Duration::from_secs(5), |r| knocking(r).is_some()).await;
    let guest_id = knocking(&host.report()).unwrap_or_default();
    host.send(ClientMsg::LobbyAdmit { id: guest_id.clone() }).await;
    if !ws_until(&mut guest, Duration::from_secs(5), |m| matches!(m, ServerMsg::Welcome { .. })).await {
        failed.push("guest admitted");
    }
    let _ = ws_send(&mut guest, &ClientMsg::PrivateChat { to: host.id(), text: "private".into() }).await;
    let _ = ws_send(&mut guest, &ClientMsg::Chat { text: "public".into() }).await;
    host.send(ClientMsg::BreakoutCreate { names: vec!["A".into(), "B".into()] }).await;
    let breakout = |r: &kabine::loadgen::PeerReport| {
        r.other.iter().rev().find_map(|m| match m {
            ServerMsg::Breakouts { rooms, .. } => rooms.first().map(|b| b.id.clone()),
            _ => None,
        })
    };
    if !host.wait_for(Duration::from_secs(5), |r| breakout(r).is_some()).await {
        failed.push("breakout rooms made");
    }
    let b = breakout(&host.report());
    host.send(ClientMsg::BreakoutAssign { id: guest_id.clone(), room: b }).await;
    if !ws_until(&mut guest, Duration::from_secs(5), |m| matches!(m, ServerMsg::Moved { room: Some(_), .. })).await {
        failed.push("guest moved");
    }
    let _ = ws_send(&mut guest, &ClientMsg::Chat { text: "in the breakout".into() }).await;
    host.send(ClientMsg::BreakoutCloseAll {}).await;
    if !ws_until(&mut guest, Duration::from_secs(5), |m| matches!(m, ServerMsg::Moved { room: None, .. })).await {
        failed.push("guest back");
    }
    let _ = ws_send(&mut guest, &ClientMsg::Leave {}).await;
    let _ = close_code(&mut guest, Duration::from_secs(2)).await;
    host.leave().await;
    failed
}

/// `cycles` room lives, `concurrency` at a time, after a warm-up of
/// `concurrency` lives of their own: `warmed` is called once those are
/// over and nothing is open, the start the churn's RSS is compared with.
/// A server that has never run a room has not yet paged in most of its
/// code (the binary's pages are loaded on first use: file-backed, shared,
/// reclaimable) nor grown its allocator's per-thread pools to what
/// `concurrency` rooms at once need; neither is room state left behind.
pub async fn churn(
    t: &Target,
    cycles: usize,
    concurrency: usize,
    budget: Duration,
    warmed: impl FnOnce(),
    halfway: impl FnOnce(),
) -> io::Result<Outcome> {
    let end = Instant::now() + budget;
    let failures = Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::<&'static str, u64>::new()));
    let warm_up = Arc::new(AtomicU64::new(0));
    let lives = concurrency.max(1);
    churn_batch(t, cycles..cycles + lives, concurrency, end, &failures, &warm_up).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    warmed();
    let start = Instant::now();
    let completed = Arc::new(AtomicU64::new(0));
    // Two halves, with a pause between them in which nothing of the churn
    // is open: memory that grows per room life grows again in the second
    // half, an allocator's high-water mark does not.
    let first = cycles / 2;
    churn_batch(t, 0..first, concurrency, end, &failures, &completed).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    halfway();
    churn_batch(t, first..cycles, concurrency, end, &failures, &completed).await;
    let completed = completed.load(Ordering::Relaxed);
    let failures = failures.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut o = Outcome::default();
    o.figure("cycles", completed);
    o.figure("warm_up_cycles", warm_up.load(Ordering::Relaxed));
    o.figure("seconds", start.elapsed().as_secs_f64());
    o.figure("failed_steps", json!(failures));
    o.check("every cycle ran within the time budget", completed as usize >= cycles, format!("{completed} of {cycles}"));
    o.check("every step of every cycle worked", failures.is_empty(), format!("{failures:?}"));
    Ok(o)
}

/// Room lives numbered `range`, `concurrency` at a time, until `end`.
async fn churn_batch(
    t: &Target,
    range: std::ops::Range<usize>,
    concurrency: usize,
    end: Instant,
    failures: &Arc<std::sync::Mutex<std::collections::BTreeMap<&'static str, u64>>>,
    completed: &Arc<AtomicU64>,
) {
    let next = Arc::new(AtomicU64::new(range.start as u64));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (t, next, failures, completed) =
            (t.clone(), Arc::clone(&next), Arc::clone(failures), Arc::clone(completed));
        let last = range.end;
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                if i >= last || Instant::now() >= end {
                    break;
                }
                let failed = room_life(&t, i).await;
                completed.fetch_add(1, Ordering::Relaxed);
                let mut f = failures.lock().unwrap_or_else(|p| p.into_inner());
                for step in failed {
                    *f.entry(step).or_default() += 1;
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
}

/// Small rooms (2 to 4 participants, audio) join, stay 20-40 s and leave,
/// `rooms` at a time, until `budget` ends; `sample` is called every 10 s.
pub async fn soak(t: &Target, rooms: usize, budget: Duration, mut sample: impl FnMut(f64)) -> io::Result<Outcome> {
    let end = Instant::now() + budget;
    let start = Instant::now();
    let lives = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for r in 0..rooms.max(1) {
        let (t, lives, failures) = (t.clone(), Arc::clone(&lives), Arc::clone(&failures));
        tasks.push(tokio::spawn(async move {
            let mut round = 0u64;
            while Instant::now() + Duration::from_secs(45) < end {
                round += 1;
                let (n, stay) = {
                    let mut rng = rand::rng();
                    (rng.random_range(2..=4), Duration::from_secs(rng.random_range(20..=40)))
                };
                let room = format!("stress-soak-{r}-{round}");
                let mut peers = Vec::new();
                for k in 0..n {
                    match SyntheticPeer::join(t.peer(&room, &format!("Soak {k}"))).await {
                        Ok(p) => peers.push(p),
                        Err(_) => {
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                tokio::time::sleep(stay).await;
                for p in peers {
                    p.leave().await;
                }
                lives.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_secs(10).min(end.saturating_duration_since(Instant::now()))).await;
        sample(start.elapsed().as_secs_f64());
    }
    for task in tasks {
        let _ = task.await;
    }
    let mut o = Outcome::default();
    o.figure("room_lives", lives.load(Ordering::Relaxed));
    o.figure("failed_joins", failures.load(Ordering::Relaxed));
    o.check("every join worked", failures.load(Ordering::Relaxed) == 0, "");
    Ok(o)
}
