//! The same participants against the Janus VideoRoom plugin (Janus 1.x
//! JSON API over its WebSocket transport, subprotocol `janus-protocol`).
//!
//! Per participant, as janus.js's VideoRoom demo does it: one session with
//! a publisher handle (`joinandconfigure` with the publish offer, or a
//! plain `join` for someone who publishes nothing) and one multistream
//! subscriber handle (`join` as subscriber with every feed's streams, then
//! `subscribe` for feeds that appear later; each offer answered with
//! `start`). Simulcast layers are chosen with `configure` + `substream`
//! from the same tile layout the Kabine client reports as `video_sizes`.
//! Rids are offered highest first, Janus's default order.

use std::collections::{BTreeSet, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::rtc::Cmd;
use crate::scenario::{self, Mic, Spec, View};

/// Where the Janus under test is.
pub struct Target {
    /// The WebSocket transport's address.
    pub server: SocketAddr,
}

/// The Janus room id of scenario room `room`.
pub fn room_id(room: usize) -> u64 {
    1000 + room as u64
}

const KEEPALIVE: Duration = Duration::from_secs(20);
const TIMEOUT: Duration = Duration::from_secs(15);

type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

/// A session's connection: requests with transactions, other messages kept
/// in order for the event loop.
struct Conn {
    ws: Ws,
    next: u64,
    session: Option<u64>,
    inbox: VecDeque<Value>,
}

impl Conn {
    async fn open(target: &Target) -> io::Result<Conn> {
        let tcp = TcpStream::connect(target.server).await?;
        tcp.set_nodelay(true)?;
        let mut request = format!("ws://{}/", target.server).into_client_request().map_err(io::Error::other)?;
        request.headers_mut().insert("sec-websocket-protocol", HeaderValue::from_static("janus-protocol"));
        let (ws, _) = tokio_tungstenite::client_async(request, tcp).await.map_err(io::Error::other)?;
        let mut conn = Conn { ws, next: 1, session: None, inbox: VecDeque::new() };
        let created = conn.request(json!({"janus": "create"})).await?;
        conn.session = Some(id_of(&created)?);
        Ok(conn)
    }

    /// Sends `msg` with a new transaction (and the session id); returns the
    /// transaction.
    async fn post(&mut self, mut msg: Value) -> io::Result<String> {
        let transaction = format!("t{}", self.next);
        self.next += 1;
        msg["transaction"] = json!(transaction);
        if let Some(s) = self.session {
            msg["session_id"] = json!(s);
        }
        self.ws.send(Message::text(msg.to_string())).await.map_err(io::Error::other)?;
        Ok(transaction)
    }

    /// Sends `msg` and waits for its answer (past Janus's `ack`).
    async fn request(&mut self, msg: Value) -> io::Result<Value> {
        let transaction = self.post(msg).await?;
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.read())
                .await
                .map_err(|_| io::Error::other("Janus did not answer in time"))??;
            if msg["transaction"].as_str() == Some(transaction.as_str()) {
                match msg["janus"].as_str() {
                    Some("ack") => continue,
                    Some("error") => return Err(io::Error::other(format!("Janus error: {}", msg["error"]))),
                    _ => {
                        if let Some(e) = msg["plugindata"]["data"].get("error") {
                            return Err(io::Error::other(format!("VideoRoom error: {e}")));
                        }
                        return Ok(msg);
                    }
                }
            }
            self.inbox.push_back(msg);
        }
    }

    async fn read(&mut self) -> io::Result<Value> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    if let Ok(v) = serde_json::from_str::<Value>(t.as_str()) {
                        return Ok(v);
                    }
                }
                Some(Ok(Message::Close(_))) | None => return Err(io::Error::other("Janus closed the connection")),
                Some(Err(e)) => return Err(io::Error::other(e)),
                Some(Ok(_)) => {}
            }
        }
    }

    async fn next_event(&mut self) -> io::Result<Value> {
        match self.inbox.pop_front() {
            Some(v) => Ok(v),
            None => self.read().await,
        }
    }

    async fn attach(&mut self) -> io::Result<u64> {
        let r = self.request(json!({"janus": "attach", "plugin": "janus.plugin.videoroom"})).await?;
        id_of(&r)
    }
}

fn id_of(v: &Value) -> io::Result<u64> {
    v["data"]["id"].as_u64().ok_or_else(|| io::Error::other(format!("no id in {}", v["janus"])))
}

/// Creates the scenario's rooms (once, before anyone joins).
pub async fn create_rooms(target: &Target, rooms: usize, publishers: usize) -> io::Result<()> {
    let mut conn = Conn::open(target).await?;
    let handle = conn.attach().await?;
    for room in 0..rooms {
        let body = json!({
            "request": "create",
            "room": room_id(room),
            "publishers": publishers.max(1),
            "bitrate": 0,
            "fir_freq": 0,
            "audiocodec": "opus",
            "videocodec": "vp8",
            "notify_joining": false,
        });
        conn.request(json!({"janus": "message", "handle_id": handle, "body": body})).await?;
    }
    let _ = conn.post(json!({"janus": "destroy"})).await;
    Ok(())
}

async fn ask<T>(media: &mpsc::UnboundedSender<Cmd>, make: impl FnOnce(oneshot::Sender<T>) -> Cmd) -> io::Result<T> {
    let (tx, rx) = oneshot::channel();
    media.send(make(tx)).map_err(|_| io::Error::other("media loop gone"))?;
    rx.await.map_err(|_| io::Error::other("media loop dropped the request"))
}

/// Runs participant `p` of a room of `room_size` until its connection ends.
pub async fn participant(
    p: usize,
    spec: Spec,
    room_size: usize,
    target: std::sync::Arc<Target>,
    media: mpsc::UnboundedSender<Cmd>,
) {
    let _ = media.send(Cmd::Add { p, spec: spec.clone() });
    if let Err(e) = run(p, &spec, room_size, &target, &media).await {
        let _ = media.send(Cmd::Failed { p, why: format!("signalling: {e}") });
    }
}

async fn run(
    p: usize,
    spec: &Spec,
    room_size: usize,
    target: &Target,
    media: &mpsc::UnboundedSender<Cmd>,
) -> io::Result<()> {
    let mut conn = Conn::open(target).await?;
    let room = room_id(spec.room);
    let publisher = conn.attach().await?;
    let publishes = spec.video || spec.mic != Mic::None;
    let joined = if publishes {
        let offer = ask(media, |reply| Cmd::PublishOffer { p, hml: true, reply })
            .await?
            .ok_or_else(|| io::Error::other("no publish offer"))?;
        let body = json!({
            "request": "joinandconfigure",
            "room": room,
            "ptype": "publisher",
            "display": format!("Load {p}"),
            "audio": spec.mic != Mic::None,
            "video": spec.video,
        });
        let jsep = json!({"type": "offer", "sdp": offer.sdp});
        let r = conn.request(json!({"janus": "message", "handle_id": publisher, "body": body, "jsep": jsep})).await?;
        let sdp = r["jsep"]["sdp"].as_str().ok_or_else(|| io::Error::other("no publish answer"))?.to_string();
        let _ = media.send(Cmd::PublishAnswer { p, sdp });
        conn.post(json!({"janus": "trickle", "handle_id": publisher, "candidate": {"completed": true}})).await?;
        r
    } else {
        let body = json!({"request": "join", "room": room, "ptype": "publisher", "display": format!("Load {p}")});
        conn.request(json!({"janus": "message", "handle_id": publisher, "body": body})).await?
    };
    let data = &joined["plugindata"]["data"];
    if data["videoroom"].as_str() != Some("joined") {
        return Err(io::Error::other(format!("not joined: {}", data["videoroom"])));
    }
    let me = data["id"].as_u64();
    let mut wanted: BTreeSet<u64> = feeds(data).filter(|f| Some(*f) != me).collect();
    let subscriber = conn.attach().await?;
    let mut have: BTreeSet<u64> = BTreeSet::new();
    let mut sub_joined = false;
    let mut outstanding: Option<tokio::time::Instant> = None;
    let mut keepalive = tokio::time::interval(KEEPALIVE);
    keepalive.tick().await;
    loop {
        if outstanding.is_none() {
            let new: Vec<u64> = wanted.difference(&have).copied().collect();
            if !new.is_empty() {
                let streams: Vec<Value> = new.iter().map(|f| json!({"feed": f})).collect();
                let body = if sub_joined {
                    json!({"request": "subscribe", "streams": streams})
                } else {
                    json!({"request": "join", "room": room, "ptype": "subscriber", "streams": streams})
                };
                conn.post(json!({"janus": "message", "handle_id": subscriber, "body": body})).await?;
                sub_joined = true;
                have.extend(new);
                outstanding = Some(tokio::time::Instant::now() + TIMEOUT);
            }
        }
        let stall = async {
            match outstanding {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            msg = conn.next_event() => {
                let msg = msg?;
                let sender = msg["sender"].as_u64();
                match msg["janus"].as_str() {
                    Some("event") => {}
                    Some("hangup") => return Err(io::Error::other(format!("Janus hung up: {}", msg["reason"]))),
                    _ => continue,
                }
                let data = &msg["plugindata"]["data"];
                if let Some(e) = data.get("error") {
                    let _ = media.send(Cmd::Failed { p, why: format!("VideoRoom error: {e}") });
                    continue;
                }
                if sender == Some(publisher) {
                    wanted.extend(feeds(data).filter(|f| Some(*f) != me));
                    for key in ["unpublished", "leaving"] {
                        if let Some(gone) = data[key].as_u64() {
                            wanted.remove(&gone);
                            have.remove(&gone);
                        }
                    }
                } else if sender == Some(subscriber) && msg["jsep"]["type"].as_str() == Some("offer") {
                    let sdp = msg["jsep"]["sdp"].as_str().unwrap_or_default().to_string();
                    let answer = ask(media, |reply| Cmd::SubscribeOffer { p, sdp, reply })
                        .await?
                        .ok_or_else(|| io::Error::other("subscriber offer not accepted"))?;
                    let jsep = json!({"type": "answer", "sdp": answer});
                    conn.post(json!({"janus": "message", "handle_id": subscriber, "body": {"request": "start"}, "jsep": jsep})).await?;
                    outstanding = None;
                    let layers = choose_layers(data, spec.view, room_size);
                    if !layers.is_empty() {
                        let body = json!({"request": "configure", "streams": layers});
                        conn.post(json!({"janus": "message", "handle_id": subscriber, "body": body})).await?;
                    }
                }
            }
            _ = keepalive.tick() => {
                conn.post(json!({"janus": "keepalive"})).await?;
            }
            _ = stall => {
                // Janus never answered that subscription: try again later.
                outstanding = None;
            }
        }
    }
}

/// Publisher ids in a `joined` or `event` message.
fn feeds(data: &Value) -> impl Iterator<Item = u64> + '_ {
    data["publishers"].as_array().into_iter().flatten().filter_map(|p| p["id"].as_u64())
}

/// `configure` entries choosing each subscribed video's layer, from the
/// same layout the Kabine client reports.
fn choose_layers(data: &Value, view: View, room_size: usize) -> Vec<Value> {
    let videos: Vec<&str> = data["streams"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["type"].as_str() == Some("video") && s["active"].as_bool() != Some(false))
        .filter_map(|s| s["mid"].as_str())
        .collect();
    videos
        .iter()
        .enumerate()
        .filter_map(|(i, mid)| {
            let (w, h) = match view {
                View::Tiles => scenario::tile_size(room_size),
                View::Speaker if i == 0 => scenario::SPEAKER_MAIN,
                View::Speaker => scenario::SPEAKER_STRIP,
            };
            scenario::layer_for_size(w, h).map(|l| json!({"mid": mid, "substream": l}))
        })
        .collect()
}
