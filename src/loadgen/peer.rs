//! A synthetic WebRTC participant, built on str0m in RTP mode.
//!
//! It speaks Kabine's signalling over a WebSocket like the browser client
//! does, publishes on its own publish connection
//! - Opus-sized audio packets every 20 ms carrying the audio-level header
//!   extension (RFC 6464), and
//! - VP8 video at 30 fps in three simulcast layers (rids `l`, `m`, `h`),
//!   each packet with a valid VP8 payload descriptor (15-bit PictureID,
//!   TL0PICIDX, TID) and a VP8 payload header, keyframes every two seconds
//!   and whenever the server asks for one,
//!
//! answers the server's subscribe offers, and counts what it receives per
//! remote participant and source ([`TrackStats`]): packets, bytes,
//! keyframes, and sequence-number gaps or jumps backwards (which show
//! whether the server's rewriting across layer switches is seamless).
//!
//! Audio arrives on audio slots (docs/protocol.md, *Audio slots*): the
//! peer follows the server's `audio_slots` map like the browser does, and
//! each audio payload names its publisher, so what was heard is attributed
//! exactly and checked per slot ([`SlotStats`]: one continuous stream).
//!
//! The media is not decodable: it exercises the server's forwarding, not a
//! decoder.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use rustls_pki_types::ServerName;
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Pt, Rid, Simulcast, SimulcastLayer};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite, Vp8Descriptor};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::protocol::{
    AudioSlot, ByeReason, ClientMsg, ErrorCode, PROTOCOL_VERSION, Participant, PublishedTrack, ServerMsg, Source,
    SubscribedTrack, VideoSize,
};

/// Layer rids, lowest first.
pub const RIDS: [&str; 3] = ["l", "m", "h"];

/// How a synthetic participant behaves.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// The server's HTTPS address (TCP).
    pub server: SocketAddr,
    /// The host (and port) the participant believes it talks to: sent as
    /// `Host`, and as the TLS server name if it is a name.
    pub host: String,
    /// `Origin` of the WebSocket handshake; default `https://{host}`.
    pub origin: Option<String>,
    /// TLS settings (tests trust the server's self-signed certificate).
    pub tls: Arc<rustls::ClientConfig>,
    pub room: String,
    pub display_name: String,
    /// Publish audio.
    pub audio: bool,
    /// Publish camera video in three simulcast layers.
    pub video: bool,
    /// Audio level in -dBov sent with every audio packet: 0 is as loud as
    /// it gets, 127 is silence.
    pub audio_level: u8,
    /// Bitrate of each video layer (`l`, `m`, `h`), bit/s.
    pub layer_bps: [u32; 3],
    /// Local address for the media sockets.
    pub media_bind: IpAddr,
    /// Drop every n-th incoming RTP/RTCP datagram on the subscribe
    /// connection (simulated loss; 0: none).
    pub drop_every: u32,
    /// Answer the server's subscribe offers (false: a participant that only
    /// publishes; its offers stay unanswered).
    pub answer_subscribe: bool,
    /// Send subscribe answers compacted as the browser client does
    /// (docs/protocol.md); false sends str0m's plain answer.
    pub compact_answers: bool,
    /// Time between audio packets: 20 ms as a browser; longer ones thin the
    /// load of big test rooms (like DTX does for a muted microphone).
    pub audio_interval: Duration,
    /// Send media over TCP to the server's HTTPS port (ICE-TCP, RFC 4571
    /// frames), as a browser whose network drops UDP does. The peer's own
    /// ICE agent still thinks in UDP; each connection's packets are
    /// bridged over one TCP connection to `server`.
    pub tcp: bool,
    /// Keep the first this many complete frames of every remote video
    /// track (the VP8 payload, reassembled, without the RTP payload
    /// descriptors) in [`PeerReport::frames`], to look at what the server
    /// forwards (0: none).
    pub keep_frames: usize,
    /// Encrypt every video frame with this key, in the browser client's
    /// format for end-to-end encrypted meetings (the clear header bytes
    /// stay in clear; [`super::frame_crypto`]).
    pub video_key: Option<Arc<Mutex<super::frame_crypto::SenderKey>>>,
}

impl PeerConfig {
    /// A participant of `room` on a server at `server`, publishing audio and
    /// video, trusting `tls`.
    pub fn new(server: SocketAddr, tls: Arc<rustls::ClientConfig>, room: &str, name: &str) -> PeerConfig {
        PeerConfig {
            server,
            host: server.to_string(),
            origin: None,
            tls,
            room: room.to_string(),
            display_name: name.to_string(),
            audio: true,
            video: true,
            audio_level: 127,
            layer_bps: [100_000, 250_000, 600_000],
            media_bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            drop_every: 0,
            answer_subscribe: true,
            compact_answers: true,
            audio_interval: Duration::from_millis(20),
            tcp: false,
            keep_frames: 0,
            video_key: None,
        }
    }
}

/// What one remote track delivered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackStats {
    pub packets: u64,
    pub bytes: u64,
    /// Packets that start a VP8 keyframe.
    pub keyframes: u64,
    /// Sequence numbers skipped (packets that never came).
    pub seq_gaps: u64,
    /// Packets whose sequence number was not above the last one.
    pub seq_backwards: u64,
    /// Late packets that filled a gap (retransmissions).
    pub repaired: u64,
    /// Sequence numbers missing now (up to the last 1000).
    pub missing: std::collections::BTreeSet<u64>,
    /// Distinct VP8 frame widths seen (the synthetic layers have distinct
    /// sizes: this tells which layer arrived).
    pub widths: Vec<u16>,
    last_seq: Option<u64>,
}

/// What arrived on one audio slot (one subscribe m-line), whoever spoke.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlotStats {
    pub packets: u64,
    /// Sequence numbers skipped.
    pub seq_gaps: u64,
    /// Packets whose sequence number was not above the last one.
    pub seq_backwards: u64,
    /// Packets whose timestamp went backwards (or leapt by more than 10 s).
    pub ts_backwards: u64,
    /// Publishers heard on the slot, in order, each once per turn.
    pub publishers: Vec<String>,
    last: Option<(u64, u32)>,
}

/// Marks a synthetic audio payload that names its publisher.
const AUDIO_TAG: [u8; 2] = [0xfc, b'K'];

/// The publisher a synthetic audio payload names.
pub fn audio_publisher(payload: &[u8]) -> Option<&str> {
    let rest = payload.strip_prefix(&AUDIO_TAG[..])?;
    let (len, rest) = rest.split_first()?;
    std::str::from_utf8(rest.get(..usize::from(*len))?).ok()
}

/// Everything a synthetic participant has seen so far.
#[derive(Debug, Clone, Default)]
pub struct PeerReport {
    /// Own participant id, from `welcome`.
    pub id: Option<String>,
    /// Other participants now in the room, by id.
    pub participants: BTreeMap<String, Participant>,
    /// Chat messages received: (from id, text).
    pub chats: Vec<(String, String)>,
    /// `active_speaker` announcements, in order.
    pub speakers: Vec<Option<String>>,
    /// `error` replies, in order.
    pub errors: Vec<(ErrorCode, String)>,
    /// How the server ended the session.
    pub bye: Option<ByeReason>,
    /// Subscribe offers received.
    pub subscribe_offers: u32,
    /// The tracks of the last subscribe offer.
    pub subscribed: Vec<SubscribedTrack>,
    /// The SDP of the last subscribe offer.
    pub subscribe_sdp: String,
    /// Received media by (publisher id, source).
    pub received: HashMap<(String, Source), TrackStats>,
    /// The last `audio_slots` map, and how many came.
    pub audio_slots: Vec<AudioSlot>,
    pub audio_slot_maps: u32,
    /// Received audio by slot mid.
    pub slots: BTreeMap<String, SlotStats>,
    /// Audio packets whose publisher was not the one the slot map named
    /// for their slot when they arrived.
    pub slot_mismatches: u64,
    /// Keyframe requests the server sent for our video.
    pub keyframe_requests: u64,
    pub publish_connected: bool,
    pub subscribe_connected: bool,
    /// The meeting is end-to-end encrypted, as `welcome` and `room_state` say.
    pub e2ee: bool,
    /// The server's ICE ufrag of the publish and subscribe connections.
    pub server_ufrags: (Option<String>, Option<String>),
    /// The signalling connection ended.
    pub closed: bool,
    /// The close code the server sent, if it closed the connection.
    pub close_code: Option<u16>,
    /// Sizes of the last subscribe answer, bytes: (plain SDP, as sent).
    pub answer_bytes: Option<(usize, usize)>,
    /// Every other server message (waiting, room state, moderation,
    /// breakout rooms, private chat ...), in order.
    pub other: Vec<ServerMsg>,
    /// Complete video frames received per (publisher, source), as
    /// [`PeerConfig::keep_frames`] asks.
    pub frames: HashMap<(String, Source), Vec<Vec<u8>>>,
}

impl PeerReport {
    /// Packets received of `source` from `participant`.
    pub fn packets_from(&self, participant: &str, source: Source) -> u64 {
        self.received.get(&(participant.to_string(), source)).map_or(0, |t| t.packets)
    }
}

enum Control {
    Send(ClientMsg),
    Keyframe(String, Source),
    AudioLevel(u8),
    PauseVideo(bool),
    Leave(oneshot::Sender<()>),
}

/// A running synthetic participant.
pub struct SyntheticPeer {
    control: mpsc::Sender<Control>,
    report: Arc<Mutex<PeerReport>>,
    task: JoinHandle<()>,
}

impl SyntheticPeer {
    /// Connects, joins the room and starts publishing. Returns once the
    /// server welcomed the participant; an `error` or `bye` instead of
    /// `welcome` is returned as an error.
    pub async fn join(config: PeerConfig) -> io::Result<SyntheticPeer> {
        let ws = connect(&config).await?;
        let report = Arc::new(Mutex::new(PeerReport::default()));
        let (control, control_rx) = mpsc::channel(64);
        let (joined_tx, joined_rx) = oneshot::channel();
        let task = {
            let report = Arc::clone(&report);
            tokio::spawn(async move {
                let mut runner = match Runner::new(config, report, ws).await {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = joined_tx.send(Err(e));
                        return;
                    }
                };
                runner.run(control_rx, joined_tx).await;
            })
        };
        match joined_rx.await {
            Ok(Ok(())) => Ok(SyntheticPeer { control, report, task }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io::Error::other("the participant task ended before joining")),
        }
    }

    /// A snapshot of what the participant has seen.
    pub fn report(&self) -> PeerReport {
        self.report.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Own participant id.
    pub fn id(&self) -> String {
        self.report().id.unwrap_or_default()
    }

    /// Sends a signalling message (chat, hand, video sizes, ...).
    pub async fn send(&self, msg: ClientMsg) {
        let _ = self.control.send(Control::Send(msg)).await;
    }

    /// Reports how large remote videos are rendered.
    pub async fn video_sizes(&self, sizes: Vec<VideoSize>) {
        self.send(ClientMsg::VideoSizes { sizes }).await;
    }

    /// Asks (over RTCP, as a browser would) for a keyframe of a received video.
    pub async fn request_keyframe(&self, participant: &str, source: Source) {
        let _ = self.control.send(Control::Keyframe(participant.to_string(), source)).await;
    }

    /// Changes the audio level sent from now on (-dBov; 127 = silence).
    pub async fn set_audio_level(&self, level: u8) {
        let _ = self.control.send(Control::AudioLevel(level)).await;
    }

    /// Stops (or resumes) sending video while the camera m-line stays
    /// negotiated: a camera that stalls.
    pub async fn pause_video(&self, paused: bool) {
        let _ = self.control.send(Control::PauseVideo(paused)).await;
    }

    /// Waits until `done` holds for the report, polling every 50 ms; false
    /// after `timeout`.
    pub async fn wait_for(&self, timeout: Duration, done: impl Fn(&PeerReport) -> bool) -> bool {
        let end = tokio::time::Instant::now() + timeout;
        loop {
            if done(&self.report()) {
                return true;
            }
            if tokio::time::Instant::now() >= end {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends `leave`, waits for the server's goodbye (at most 2 s), and
    /// stops.
    pub async fn leave(self) -> PeerReport {
        let (tx, rx) = oneshot::channel();
        if self.control.send(Control::Leave(tx)).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(2), rx).await;
        }
        self.task.abort();
        let _ = self.task.await;
        self.report.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Stops at once without saying goodbye (like a closed browser tab).
    pub async fn vanish(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<TcpStream>>;

async fn connect(config: &PeerConfig) -> io::Result<Ws> {
    let tcp = TcpStream::connect(config.server).await?;
    tcp.set_nodelay(true)?;
    let host_only = config.host.rsplit_once(':').map_or(config.host.as_str(), |(h, _)| h);
    let name = ServerName::try_from(host_only.trim_matches(['[', ']']).to_string())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let tls = TlsConnector::from(Arc::clone(&config.tls)).connect(name, tcp).await?;
    let mut request = format!("wss://{}/ws", config.host).into_client_request().map_err(io::Error::other)?;
    let origin = config.origin.clone().unwrap_or_else(|| format!("https://{}", config.host));
    request
        .headers_mut()
        .insert("origin", HeaderValue::from_str(&origin).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?);
    let (ws, _) = tokio_tungstenite::client_async(request, tls).await.map_err(io::Error::other)?;
    Ok(ws)
}

/// One of the participant's two peer connections.
struct Conn {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    timeout: Instant,
    /// TCP mode: frames out, and frames in with the address they stand for.
    tcp: Option<TcpBridge>,
}

/// A connection's packets over one TCP connection to the server's HTTPS
/// port, in RFC 4571 frames.
struct TcpBridge {
    out: mpsc::UnboundedSender<Vec<u8>>,
    incoming: mpsc::Receiver<Vec<u8>>,
    /// The server's address the ICE agent sends to: frames that come in are
    /// handed to it as if from there.
    remote: Option<SocketAddr>,
}

impl TcpBridge {
    async fn connect(server: SocketAddr) -> io::Result<TcpBridge> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let stream = TcpStream::connect(server).await?;
        let _ = stream.set_nodelay(true);
        let (mut read, mut write) = stream.into_split();
        let (out, mut out_rx) = mpsc::unbounded_channel::<Vec<u8>>();
        let (in_tx, incoming) = mpsc::channel(1024);
        tokio::spawn(async move {
            let mut buf = Vec::new();
            while let Some(first) = out_rx.recv().await {
                buf.clear();
                for f in std::iter::once(first).chain(std::iter::from_fn(|| out_rx.try_recv().ok())).take(64) {
                    buf.extend_from_slice(&(f.len() as u16).to_be_bytes());
                    buf.extend_from_slice(&f);
                }
                if write.write_all(&buf).await.is_err() {
                    return;
                }
            }
        });
        tokio::spawn(async move {
            loop {
                let mut head = [0u8; 2];
                if read.read_exact(&mut head).await.is_err() {
                    return;
                }
                let mut frame = vec![0u8; u16::from_be_bytes(head) as usize];
                if read.read_exact(&mut frame).await.is_err() || in_tx.send(frame).await.is_err() {
                    return;
                }
            }
        });
        Ok(TcpBridge { out, incoming, remote: None })
    }
}

impl Conn {
    async fn new(bind: IpAddr, tcp: Option<SocketAddr>) -> io::Result<Conn> {
        let tcp = match tcp {
            Some(server) => Some(TcpBridge::connect(server).await?),
            None => None,
        };
        let socket = UdpSocket::bind(SocketAddr::new(bind, 0)).await?;
        let local = socket.local_addr()?;
        let mut rtc = Rtc::builder()
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true)
            .build(Instant::now());
        let candidate = Candidate::host(local, Protocol::Udp).map_err(io::Error::other)?;
        rtc.add_local_candidate(candidate);
        Ok(Conn { rtc, socket, local, timeout: Instant::now(), tcp })
    }

    /// The next packet from the server: (contents, source).
    async fn recv(&mut self, buf: &mut [u8]) -> io::Result<(Vec<u8>, SocketAddr)> {
        match &mut self.tcp {
            Some(bridge) => {
                let frame = bridge.incoming.recv().await.ok_or_else(|| io::Error::other("TCP closed"))?;
                let source = bridge.remote.unwrap_or(self.local);
                Ok((frame, source))
            }
            None => {
                let (n, source) = self.socket.recv_from(buf).await?;
                Ok((buf[..n].to_vec(), source))
            }
        }
    }
}

/// A publishing video layer.
struct Layer {
    rid: Rid,
    seq: u64,
    picture_id: u16,
    tl0: u8,
    keyframe_wanted: bool,
    frame_bytes: usize,
    width: u16,
}

struct Runner {
    config: PeerConfig,
    report: Arc<Mutex<PeerReport>>,
    ws: Ws,
    publish: Option<Conn>,
    publish_pending: Option<SdpPendingOffer>,
    subscribe: Conn,
    audio_mid: Option<Mid>,
    video_mid: Option<Mid>,
    audio_seq: u64,
    /// The next audio packet starts the stream (RTP marker).
    audio_marker: bool,
    audio_level: u8,
    video_paused: bool,
    layers: Vec<Layer>,
    frames: u64,
    next_audio: Instant,
    next_video: Instant,
    /// Subscribe m-lines: mid -> (publisher, source).
    tracks: HashMap<Mid, (String, Source)>,
    /// Audio slots: mid -> who is in it.
    audio_slots: HashMap<Mid, Option<String>>,
    /// Own participant id (named in every audio payload).
    own_id: String,
    events: VecDeque<(bool, Event)>,
    joined: Option<oneshot::Sender<io::Result<()>>>,
    leaving: Option<oneshot::Sender<()>>,
    received_datagrams: u64,
    /// Video frames being put together from their packets (`keep_frames`).
    assembly: HashMap<(String, Source), Assembly>,
}

/// A video frame being put together from its RTP packets.
#[derive(Debug, Default)]
struct Assembly {
    data: Vec<u8>,
    timestamp: u32,
    next_seq: u64,
    /// Every packet so far was there, in order.
    whole: bool,
}

impl Runner {
    async fn new(config: PeerConfig, report: Arc<Mutex<PeerReport>>, ws: Ws) -> io::Result<Runner> {
        let tcp = config.tcp.then_some(config.server);
        let publish = if config.audio || config.video { Some(Conn::new(config.media_bind, tcp).await?) } else { None };
        let subscribe = Conn::new(config.media_bind, tcp).await?;
        let now = Instant::now();
        let layers = RIDS
            .iter()
            .zip(config.layer_bps)
            .enumerate()
            .map(|(i, (rid, bps))| Layer {
                rid: Rid::from(*rid),
                seq: 1 + 1000 * i as u64,
                picture_id: (7_000 * i as u16) % 0x8000,
                tl0: (50 * i) as u8,
                keyframe_wanted: true,
                frame_bytes: (bps / 8 / 30).max(40) as usize,
                width: 320 << i,
            })
            .collect();
        Ok(Runner {
            audio_level: config.audio_level,
            video_paused: false,
            config,
            report,
            ws,
            publish,
            publish_pending: None,
            subscribe,
            audio_mid: None,
            video_mid: None,
            // Each publisher's numbering starts elsewhere, like a browser's:
            // a slot switch without rewriting would show as a jump.
            audio_marker: true,
            audio_seq: 1 + u64::from(rand::random::<u16>() / 2),
            layers,
            frames: 0,
            next_audio: now,
            next_video: now,
            tracks: HashMap::new(),
            audio_slots: HashMap::new(),
            own_id: String::new(),
            events: VecDeque::new(),
            joined: None,
            leaving: None,
            received_datagrams: 0,
            assembly: HashMap::new(),
        })
    }

    fn report(&self) -> std::sync::MutexGuard<'_, PeerReport> {
        self.report.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn run(&mut self, mut control: mpsc::Receiver<Control>, joined: oneshot::Sender<io::Result<()>>) {
        self.joined = Some(joined);
        let hello = ClientMsg::Hello {
            version: PROTOCOL_VERSION,
            room: self.config.room.clone(),
            display_name: self.config.display_name.clone(),
            appointment: None,
        };
        if self.send(&hello).await.is_err() {
            return self.finish(Err(io::Error::other("cannot send hello")));
        }
        let mut buf_pub = vec![0u8; 2048];
        let mut buf_sub = vec![0u8; 2048];
        loop {
            self.drain_all();
            self.handle_events();
            self.drain_all();
            let media_due = self.next_audio.min(self.next_video);
            let mut wake = self.subscribe.timeout.min(media_due);
            if let Some(p) = &self.publish {
                wake = wake.min(p.timeout);
            }
            let wake = tokio::time::Instant::from_std(wake.max(Instant::now()));
            tokio::select! {
                msg = self.ws.next() => match msg {
                    Some(Ok(Message::Text(text))) => {
                        match serde_json::from_str::<ServerMsg>(text.as_str()) {
                            Ok(msg) => self.on_server_msg(msg).await,
                            Err(_) => continue,
                        }
                    }
                    Some(Ok(Message::Close(frame))) => {
                        {
                            let mut r = self.report();
                            r.closed = true;
                            r.close_code = frame.map(|f| u16::from(f.code));
                        }
                        return self.finish(Err(io::Error::other("the server closed the connection")));
                    }
                    None | Some(Err(_)) => {
                        self.report().closed = true;
                        return self.finish(Err(io::Error::other("the server closed the connection")));
                    }
                    Some(Ok(_)) => {}
                },
                ctl = control.recv() => match ctl {
                    Some(Control::Send(msg)) => { let _ = self.send(&msg).await; }
                    Some(Control::AudioLevel(l)) => self.audio_level = l,
                    Some(Control::PauseVideo(p)) => self.video_paused = p,
                    Some(Control::Keyframe(participant, source)) => self.request_keyframe(&participant, source),
                    Some(Control::Leave(done)) => {
                        self.leaving = Some(done);
                        let _ = self.send(&ClientMsg::Leave {}).await;
                    }
                    None => return,
                },
                r = recv(self.publish.as_mut(), &mut buf_pub) => {
                    if let Ok((data, source)) = r {
                        self.network_input(true, source, &data);
                    }
                }
                r = self.subscribe.recv(&mut buf_sub) => {
                    if let Ok((data, source)) = r {
                        self.network_input(false, source, &data);
                    }
                }
                _ = tokio::time::sleep_until(wake) => {
                    let now = Instant::now();
                    for publish in [true, false] {
                        if let Some(conn) = self.conn(publish) {
                            let _ = conn.rtc.handle_input(Input::Timeout(now));
                            self.drain(publish);
                        }
                    }
                    self.send_media(now);
                }
            }
        }
    }

    fn finish(&mut self, result: io::Result<()>) {
        if let Some(j) = self.joined.take() {
            let _ = j.send(result);
        }
        if let Some(l) = self.leaving.take() {
            let _ = l.send(());
        }
    }

    async fn send(&mut self, msg: &ClientMsg) -> io::Result<()> {
        let text = serde_json::to_string(msg).map_err(io::Error::other)?;
        self.ws.send(Message::text(text)).await.map_err(io::Error::other)
    }

    fn conn(&mut self, publish: bool) -> Option<&mut Conn> {
        if publish { self.publish.as_mut() } else { Some(&mut self.subscribe) }
    }

    fn request_keyframe(&mut self, participant: &str, source: Source) {
        let mids: Vec<Mid> =
            self.tracks.iter().filter(|(_, (p, s))| p == participant && *s == source).map(|(m, _)| *m).collect();
        for mid in mids {
            let mut direct = self.subscribe.rtc.direct_api();
            if let Some(stream) = direct.stream_rx_by_mid(mid, None) {
                stream.request_keyframe(str0m::media::KeyframeRequestKind::Pli);
            }
            self.drain(false);
        }
    }

    fn network_input(&mut self, publish: bool, source: SocketAddr, data: &[u8]) {
        if !publish && self.config.drop_every > 0 && matches!(data.first(), Some(128..=191)) {
            self.received_datagrams += 1;
            if self.received_datagrams.is_multiple_of(u64::from(self.config.drop_every)) {
                return;
            }
        }
        let Some(conn) = self.conn(publish) else {
            return;
        };
        let Ok(contents) = data.try_into() else {
            return;
        };
        let input =
            Input::Receive(Instant::now(), Receive { proto: Protocol::Udp, source, destination: conn.local, contents });
        if conn.rtc.accepts(&input) {
            let _ = conn.rtc.handle_input(input);
            self.drain(publish);
        }
    }

    fn drain_all(&mut self) {
        self.drain(true);
        self.drain(false);
    }

    /// Drains one connection after a mutation (see [`drain_conn`]).
    fn drain(&mut self, publish: bool) {
        let conn = if publish { self.publish.as_mut() } else { Some(&mut self.subscribe) };
        if let Some(conn) = conn {
            drain_conn(conn, publish, &mut self.events);
        }
    }

    fn handle_events(&mut self) {
        while let Some((publish, event)) = self.events.pop_front() {
            match event {
                Event::Connected => {
                    let mut r = self.report();
                    if publish {
                        r.publish_connected = true;
                    } else {
                        r.subscribe_connected = true;
                    }
                }
                Event::RtpPacket(p) if !publish => self.on_media(p),
                Event::KeyframeRequest(req) if publish => {
                    self.report().keyframe_requests += 1;
                    for layer in &mut self.layers {
                        if req.rid.is_none() || req.rid == Some(layer.rid) {
                            layer.keyframe_wanted = true;
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn on_media(&mut self, p: RtpPacket) {
        let mid = self.subscribe.rtc.direct_api().stream_rx(&p.header.ssrc).map(|s| s.mid());
        let Some(mid) = mid else {
            return;
        };
        let key = match self.tracks.get(&mid) {
            Some(key) => key.clone(),
            None => {
                let Some(named) = self.audio_slots.get(&mid) else {
                    return;
                };
                let tagged = audio_publisher(&p.payload).map(str::to_string);
                let mut r = self.report();
                if tagged.is_some() && tagged != *named {
                    r.slot_mismatches += 1;
                }
                let Some(publisher) = tagged.or_else(|| named.clone()) else {
                    return;
                };
                let slot = r.slots.entry(mid.to_string()).or_default();
                slot.packets += 1;
                let (seq, ts) = (*p.seq_no, p.header.timestamp);
                if let Some((last_seq, last_ts)) = slot.last {
                    if seq <= last_seq {
                        slot.seq_backwards += 1;
                    } else {
                        slot.seq_gaps += seq - last_seq - 1;
                    }
                    let dt = ts.wrapping_sub(last_ts);
                    if seq > last_seq && (dt == 0 || dt > 48_000 * 10) {
                        slot.ts_backwards += 1;
                    }
                }
                if slot.last.is_none_or(|(s, _)| seq > s) {
                    slot.last = Some((seq, ts));
                }
                if slot.publishers.last() != Some(&publisher) {
                    slot.publishers.push(publisher.clone());
                }
                (publisher, Source::Mic)
            }
        };
        if self.config.keep_frames > 0 && key.1 != Source::Mic {
            self.assemble(&key, &p);
        }
        let mut r = self.report();
        let t = r.received.entry(key).or_default();
        t.packets += 1;
        t.bytes += p.payload.len() as u64;
        let seq = *p.seq_no;
        match t.last_seq {
            Some(last) if seq <= last => {
                t.seq_backwards += 1;
                if t.missing.remove(&seq) {
                    t.repaired += 1;
                }
            }
            Some(last) => {
                t.seq_gaps += seq - last - 1;
                t.missing.extend(last + 1..seq);
                while t.missing.len() > 1000 {
                    t.missing.pop_first();
                }
                t.last_seq = Some(seq);
            }
            None => t.last_seq = Some(seq),
        }
        if let Ok(d) = Vp8Descriptor::parse(&p.payload)
            && d.starts_keyframe(&p.payload)
        {
            t.keyframes += 1;
            if let Some(width) = vp8_keyframe_width(&p.payload)
                && !t.widths.contains(&width)
            {
                t.widths.push(width);
            }
        }
    }

    /// Adds a video packet to its frame; keeps the frame when it is whole.
    fn assemble(&mut self, key: &(String, Source), p: &RtpPacket) {
        let Some(offset) = vp8_payload_offset(&p.payload) else {
            return;
        };
        let seq = *p.seq_no;
        let buf = self.assembly.entry(key.clone()).or_default();
        let starts = p.payload[0] & 0x10 != 0 && p.payload[0] & 0x07 == 0;
        if starts {
            buf.data.clear();
            buf.whole = true;
            buf.timestamp = p.header.timestamp;
        } else if !(buf.whole && seq == buf.next_seq && p.header.timestamp == buf.timestamp) {
            buf.whole = false;
            return;
        }
        buf.next_seq = seq + 1;
        buf.data.extend_from_slice(&p.payload[offset..]);
        if p.header.marker && buf.whole {
            buf.whole = false;
            let frame = std::mem::take(&mut buf.data);
            let keep = self.config.keep_frames;
            let mut r = self.report();
            let frames = r.frames.entry(key.clone()).or_default();
            if frames.len() < keep {
                frames.push(frame);
            }
        }
    }

    async fn on_server_msg(&mut self, msg: ServerMsg) {
        match msg {
            ServerMsg::Welcome { you, participants, e2ee, .. } => {
                self.own_id = you.id.clone();
                {
                    let mut r = self.report();
                    r.e2ee = e2ee;
                    r.id = Some(you.id);
                    r.participants = participants.into_iter().map(|p| (p.id.clone(), p)).collect();
                }
                if let Err(e) = self.offer_publish().await {
                    return self.finish(Err(e));
                }
                self.finish(Ok(()));
            }
            ServerMsg::ParticipantJoined { participant } | ServerMsg::ParticipantUpdated { participant } => {
                self.report().participants.insert(participant.id.clone(), participant);
            }
            ServerMsg::ParticipantLeft { id } => {
                self.report().participants.remove(&id);
            }
            ServerMsg::PublishAnswer { sdp } => {
                self.report().server_ufrags.0 = ice_ufrag(&sdp);
                let (Some(pending), Some(conn)) = (self.publish_pending.take(), self.publish.as_mut()) else {
                    return;
                };
                let Ok(answer) = SdpAnswer::from_sdp_string(&sdp) else {
                    return;
                };
                let _ = conn.rtc.sdp_api().accept_answer(pending, answer);
                self.drain(true);
            }
            ServerMsg::SubscribeOffer { sdp, tracks } => {
                if !self.config.answer_subscribe {
                    self.report().subscribe_offers += 1;
                    return;
                }
                let Ok(offer) = SdpOffer::from_sdp_string(&sdp) else {
                    return;
                };
                let answer = self.subscribe.rtc.sdp_api().accept_offer(offer);
                self.drain(false);
                let Ok(answer) = answer else {
                    return;
                };
                self.tracks =
                    tracks.iter().map(|t| (Mid::from(t.mid.as_str()), (t.participant.clone(), t.source))).collect();
                {
                    let mut r = self.report();
                    r.subscribe_offers += 1;
                    r.subscribed = tracks;
                    r.subscribe_sdp = sdp.clone();
                    r.server_ufrags.1 = ice_ufrag(&sdp);
                }
                let plain = answer.to_sdp_string();
                let sdp =
                    if self.config.compact_answers { crate::sfu::sdp::compact_answer(&plain) } else { plain.clone() };
                self.report().answer_bytes = Some((plain.len(), sdp.len()));
                let _ = self.send(&ClientMsg::SubscribeAnswer { sdp }).await;
            }
            ServerMsg::AudioSlots { slots } => {
                self.audio_slots = slots.iter().map(|s| (Mid::from(s.mid.as_str()), s.participant.clone())).collect();
                let mut r = self.report();
                r.audio_slot_maps += 1;
                r.audio_slots = slots;
            }
            ServerMsg::ActiveSpeaker { id } => self.report().speakers.push(id),
            ServerMsg::Chat { from, text, .. } => self.report().chats.push((from, text)),
            ServerMsg::Error { code, message } => {
                self.report().errors.push((code, message.clone()));
                if self.joined.is_some() {
                    self.finish(Err(io::Error::other(format!("refused: {code:?}: {message}"))));
                }
            }
            ServerMsg::Bye { reason } => {
                self.report().bye = Some(reason);
                self.finish(Err(io::Error::other(format!("bye: {reason:?}"))));
            }
            // A synthetic peer stays on the SFU: it says so at once.
            ServerMsg::P2pStart { epoch, .. } => {
                let _ = self.send(&ClientMsg::P2pFailed { epoch }).await;
            }
            ServerMsg::P2pOffer { .. }
            | ServerMsg::P2pAnswer { .. }
            | ServerMsg::P2pCandidate { .. }
            | ServerMsg::P2pDirect { .. }
            | ServerMsg::P2pStop { .. } => {}
            ServerMsg::Moved { room, participants } => {
                let mut r = self.report();
                r.participants = participants.iter().map(|p| (p.id.clone(), p.clone())).collect();
                r.other.push(ServerMsg::Moved { room, participants });
            }
            other => {
                let mut r = self.report();
                if let ServerMsg::RoomState { e2ee, .. } = &other {
                    r.e2ee = *e2ee;
                }
                r.other.push(other);
            }
        }
    }

    /// Creates the publish connection's offer: audio and/or simulcast video.
    async fn offer_publish(&mut self) -> io::Result<()> {
        let (audio, video) = (self.config.audio, self.config.video);
        let Some(conn) = self.publish.as_mut() else {
            return Ok(());
        };
        let mut change = conn.rtc.sdp_api();
        let mut tracks = Vec::new();
        if audio {
            let mid = change.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
            tracks.push(PublishedTrack { mid: mid.to_string(), source: Source::Mic });
            self.audio_mid = Some(mid);
        }
        if video {
            let mut simulcast = Simulcast::new();
            for rid in RIDS {
                simulcast.add_send_layer(SimulcastLayer::new(rid));
            }
            let mid = change.add_media(MediaKind::Video, Direction::SendOnly, None, None, Some(simulcast));
            tracks.push(PublishedTrack { mid: mid.to_string(), source: Source::Camera });
            self.video_mid = Some(mid);
        }
        let Some((offer, pending)) = change.apply() else {
            return Ok(());
        };
        self.publish_pending = Some(pending);
        self.drain(true);
        self.send(&ClientMsg::PublishOffer { sdp: offer.to_sdp_string(), tracks }).await
    }

    /// Writes the media that is due.
    fn send_media(&mut self, now: Instant) {
        let connected = self.publish.as_ref().is_some_and(|c| c.rtc.is_connected());
        if !connected {
            self.next_audio = now + self.config.audio_interval;
            self.next_video = now + Duration::from_millis(33);
            return;
        }
        while self.next_audio <= now {
            self.next_audio += self.config.audio_interval;
            self.send_audio();
        }
        while self.next_video <= now {
            self.next_video += Duration::from_micros(33_333);
            if !self.video_paused {
                self.send_video_frame();
            }
        }
    }

    fn send_audio(&mut self) {
        let (Some(mid), Some(conn)) = (self.audio_mid, self.publish.as_mut()) else {
            return;
        };
        let Some(pt) = pt_of(&conn.rtc, Codec::Opus) else {
            return;
        };
        let seq = self.audio_seq;
        let first = self.audio_marker;
        self.audio_marker = false;
        self.audio_seq += 1;
        let ts = (seq * 960) as u32;
        let ext = ExtensionValues {
            audio_level: Some(-(self.audio_level.min(127) as i8)),
            voice_activity: Some(self.audio_level < 60),
            ..Default::default()
        };
        // Opus-sized; names the publisher so receivers can check the slot map.
        let mut payload = vec![0xfc_u8; 80];
        let id = self.own_id.as_bytes();
        if id.len() <= 64 {
            payload[1] = AUDIO_TAG[1];
            payload[2] = id.len() as u8;
            payload[3..3 + id.len()].copy_from_slice(id);
        }
        let mut direct = conn.rtc.direct_api();
        if let Some(stream) = direct.stream_tx_by_mid(mid, None) {
            stream.write_rtp(RtpWrite::new(pt, seq.into(), ts, Instant::now(), payload).marker(first).ext_vals(ext));
        }
        self.drain(true);
    }

    fn send_video_frame(&mut self) {
        let (Some(mid), Some(conn)) = (self.video_mid, self.publish.as_mut()) else {
            return;
        };
        let Some(pt) = pt_of(&conn.rtc, Codec::Vp8) else {
            return;
        };
        let frame = self.frames;
        self.frames += 1;
        let ts = (frame * 3000) as u32;
        let now = Instant::now();
        let gop = frame.is_multiple_of(60);
        for layer in &mut self.layers {
            let keyframe = layer.keyframe_wanted || gop;
            layer.keyframe_wanted = false;
            let size = if keyframe { layer.frame_bytes * 3 } else { layer.frame_bytes };
            let mut body = vp8_body(layer, keyframe, size);
            if let Some(key) = &self.config.video_key {
                let mut key = key.lock().unwrap_or_else(|p| p.into_inner());
                match key.encrypt(super::frame_crypto::Kind::Video, &body) {
                    Some(sealed) => body = sealed,
                    // Never sent in clear.
                    None => continue,
                }
            }
            let packets = vp8_packets(layer, &body);
            let count = packets.len();
            for (i, payload) in packets.into_iter().enumerate() {
                let mut direct = conn.rtc.direct_api();
                if let Some(stream) = direct.stream_tx_by_mid(mid, Some(layer.rid)) {
                    let write =
                        RtpWrite::new(pt, layer.seq.into(), ts, now, payload).marker(i + 1 == count).nackable(true);
                    stream.write_rtp(write);
                }
                layer.seq += 1;
                // Drain after every write (single-mutation rule).
                drain_conn(conn, true, &mut self.events);
            }
            layer.picture_id = (layer.picture_id + 1) % 0x8000;
            layer.tl0 = layer.tl0.wrapping_add(1);
        }
    }
}

/// Drains a connection until its next timeout: sends its datagrams, queues
/// its events, records the timeout. The one place output is polled.
fn drain_conn(conn: &mut Conn, publish: bool, events: &mut VecDeque<(bool, Event)>) {
    loop {
        match conn.rtc.poll_output() {
            Ok(Output::Timeout(t)) => {
                conn.timeout = t;
                return;
            }
            Ok(Output::Transmit(t)) => match &mut conn.tcp {
                Some(bridge) => {
                    bridge.remote = Some(t.destination);
                    let _ = bridge.out.send(t.contents.into());
                }
                None => {
                    let _ = conn.socket.try_send_to(&t.contents, t.destination);
                }
            },
            Ok(Output::Event(e)) => events.push_back((publish, e)),
            Err(_) => {
                conn.timeout = Instant::now() + Duration::from_secs(3600);
                return;
            }
        }
    }
}

async fn recv(conn: Option<&mut Conn>, buf: &mut [u8]) -> io::Result<(Vec<u8>, SocketAddr)> {
    match conn {
        Some(c) => c.recv(buf).await,
        None => std::future::pending().await,
    }
}

fn pt_of(rtc: &Rtc, codec: Codec) -> Option<Pt> {
    rtc.codec_config().params().iter().find(|p| p.spec().codec == codec).map(|p| p.pt())
}

fn ice_ufrag(sdp: &str) -> Option<String> {
    sdp.lines().find_map(|l| l.trim_end().strip_prefix("a=ice-ufrag:").map(str::to_string))
}

/// The packets of one synthetic VP8 frame: each starts with a payload
/// descriptor (X, S on the first packet, PID 0; I, L, T; 15-bit PictureID;
/// TL0PICIDX; TID 0), the first also with a VP8 payload header (a keyframe
/// header carries the start code and the layer's width).
#[cfg(test)]
fn vp8_frame(layer: &Layer, keyframe: bool, size: usize) -> Vec<Vec<u8>> {
    vp8_packets(layer, &vp8_body(layer, keyframe, size))
}

/// A synthetic VP8 frame: its payload header (a keyframe header carries the
/// start code and the layer's width) and filler.
fn vp8_body(layer: &Layer, keyframe: bool, size: usize) -> Vec<u8> {
    let mut body = Vec::with_capacity(size);
    let p_bit = if keyframe { 0u8 } else { 1 };
    // Frame tag: P bit, version 0, show_frame, first partition size (dummy).
    body.extend_from_slice(&[0x10 | p_bit, 0x02, 0x00]);
    if keyframe {
        body.extend_from_slice(&[0x9d, 0x01, 0x2a]);
        body.extend_from_slice(&layer.width.to_le_bytes());
        body.extend_from_slice(&(layer.width * 9 / 16).to_le_bytes());
    }
    while body.len() < size {
        body.push((body.len() % 251) as u8);
    }
    body
}

/// A VP8 frame's RTP payloads: descriptor, then a piece of the frame.
fn vp8_packets(layer: &Layer, body: &[u8]) -> Vec<Vec<u8>> {
    const MAX_PAYLOAD: usize = 1000;
    body.chunks(MAX_PAYLOAD)
        .enumerate()
        .map(|(i, chunk)| {
            let start = if i == 0 { 0x10 } else { 0x00 };
            let mut p =
                vec![0x80 | start, 0xe0, 0x80 | (layer.picture_id >> 8) as u8, layer.picture_id as u8, layer.tl0, 0x00];
            p.extend_from_slice(chunk);
            p
        })
        .collect()
}

/// Where the VP8 payload starts after an RTP packet's VP8 payload
/// descriptor (RFC 7741).
pub fn vp8_payload_offset(payload: &[u8]) -> Option<usize> {
    // Descriptor: 1 byte, +1 extension, +2 picture id (M), +1 TL0PICIDX, +1 TID.
    Vp8Descriptor::parse(payload).ok()?;
    let mut offset = 1;
    if payload.first()? & 0x80 != 0 {
        let ext = *payload.get(1)?;
        offset += 1;
        if ext & 0x80 != 0 {
            offset += if payload.get(offset)? & 0x80 != 0 { 2 } else { 1 };
        }
        if ext & 0x40 != 0 {
            offset += 1;
        }
        if ext & 0x30 != 0 {
            offset += 1;
        }
    }
    (offset < payload.len()).then_some(offset)
}

/// The width in a VP8 keyframe's payload header, if `payload` starts one.
fn vp8_keyframe_width(payload: &[u8]) -> Option<u16> {
    let offset = vp8_payload_offset(payload)?;
    let header = payload.get(offset..offset + 10)?;
    (header[3..6] == [0x9d, 0x01, 0x2a]).then(|| u16::from_le_bytes([header[6], header[7]]) & 0x3fff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_vp8_frames_have_valid_descriptors() {
        let layer = Layer {
            rid: Rid::from("h"),
            seq: 0,
            picture_id: 0x1234,
            tl0: 9,
            keyframe_wanted: false,
            frame_bytes: 2500,
            width: 1280,
        };
        let key = vp8_frame(&layer, true, 2500);
        assert_eq!(key.len(), 3);
        let d = Vp8Descriptor::parse(&key[0]).expect("descriptor parses");
        assert!(d.starts_keyframe(&key[0]));
        assert_eq!(d.picture_id(), Some(0x1234));
        assert_eq!(d.tl0_pic_idx(), Some(9));
        assert_eq!(vp8_keyframe_width(&key[0]), Some(1280));
        let d1 = Vp8Descriptor::parse(&key[1]).expect("descriptor parses");
        assert!(!d1.starts_keyframe(&key[1]), "only the first packet starts the frame");
        let delta = vp8_frame(&layer, false, 400);
        let d = Vp8Descriptor::parse(&delta[0]).expect("descriptor parses");
        assert!(!d.starts_keyframe(&delta[0]));
        assert_eq!(vp8_keyframe_width(&delta[0]), None);
    }
}
