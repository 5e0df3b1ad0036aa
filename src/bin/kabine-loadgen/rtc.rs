//! The generator's media loop: one task owns every participant's str0m
//! `Rtc`s and their sockets, sends their media on schedule and measures
//! what they receive.
//!
//! Signalling tasks (Kabine or Janus) talk to it with [`Cmd`]s: make a
//! publish offer, take an answer, answer a subscribe offer. Datagrams are
//! demultiplexed by the socket they arrive on (a vector index: each
//! connection has its own port), timeouts and media ticks are kept in one
//! ordered set, so no work scans all participants per packet.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Pt, Rid, Simulcast, SimulcastLayer};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite, Ssrc};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use crate::media::{self, AudioKind, Histogram, RIDS, RxCounts, RxStream, VideoLayer};
use crate::net::SocketSet;
use crate::scenario::{Mic, Spec};

/// Commands from the signalling tasks and the driver.
pub enum Cmd {
    /// A participant starts signalling now.
    Add { p: usize, spec: Spec },
    /// Makes the publish connection and its offer. `hml`: list simulcast
    /// rids highest first (what Janus expects). Replies with the SDP and
    /// the mids of the audio and video m-lines.
    PublishOffer { p: usize, hml: bool, reply: oneshot::Sender<Option<PublishOffer>> },
    /// The answer to the publish offer.
    PublishAnswer { p: usize, sdp: String },
    /// Send only the lowest `layers` simulcast layers of the camera (the
    /// server's `send_layers`; 1 to 3).
    SendLayers { p: usize, layers: usize },
    /// An offer for the subscribe connection; replies with the answer.
    SubscribeOffer { p: usize, sdp: String, reply: oneshot::Sender<Option<String>> },
    /// The participant's signalling failed or ended.
    Failed { p: usize, why: String },
    /// Starts the measuring window (resets every counter but join figures).
    Measure,
    /// Figures since the last `Window` (and resets them); for the ramp.
    Window { reply: oneshot::Sender<Figures> },
    /// Figures of the measuring window so far.
    Report { reply: oneshot::Sender<Figures> },
}

pub struct PublishOffer {
    pub sdp: String,
    pub audio_mid: Option<String>,
    pub video_mid: Option<String>,
}

/// Receiver-side figures of a window.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    pub rx: RxCounts,
    pub sent_packets: u64,
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub latency_samples: u64,
    /// Join figures over every participant so far, ms.
    pub join_ms: Vec<f64>,
    pub keyframe_ms: Vec<f64>,
    pub participants: usize,
    /// Participants whose both connections are up (or publish nothing).
    pub connected: usize,
    pub failures: Vec<String>,
    pub keyframe_requests: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Rtc(usize),
    Audio(usize),
    Video(usize),
    Expire,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Publish,
    Subscribe,
}

struct Conn {
    rtc: Rtc,
    local: SocketAddr,
    p: usize,
    side: Side,
    deadline: Option<Instant>,
}

struct Part {
    spec: Spec,
    started: Instant,
    publish: Option<usize>,
    subscribe: Option<usize>,
    pending: Option<SdpPendingOffer>,
    audio_mid: Option<Mid>,
    video_mid: Option<Mid>,
    rids: [Rid; 3],
    layers: [VideoLayer; 3],
    /// How many layers, lowest first, are sent (the server's `send_layers`;
    /// all on a new publish connection).
    layers_on: usize,
    frame: u64,
    audio_seq: u64,
    publishing: bool,
    subscribed: bool,
    first_media: Option<Instant>,
    first_keyframe: Option<Instant>,
    /// Whether media already flowed in the room when this one joined
    /// (only then does its join time mean something).
    media_before: bool,
    rx: HashMap<Ssrc, RxStream>,
    vp8_pt: Option<Pt>,
    failed: bool,
}

impl Part {
    /// Sends the lowest `layers` layers from the next frame on (clamped to
    /// 1..=3: the lowest is never stopped). A layer switched on again starts
    /// with a keyframe, as a browser's encoder does.
    fn set_layers_on(&mut self, layers: usize) {
        let layers = layers.clamp(1, RIDS.len());
        for layer in &mut self.layers[self.layers_on.min(layers)..layers] {
            layer.keyframe_wanted = true;
        }
        self.layers_on = layers;
    }
}

#[derive(Default)]
struct Acc {
    rx: RxCounts,
    latency: Histogram,
    sent_packets: u64,
    sent_bytes: u64,
    keyframe_requests: u64,
}

impl Acc {
    fn reset(&mut self) {
        *self = Acc { latency: std::mem::take(&mut self.latency), ..Acc::default() };
        self.latency.clear();
    }
}

pub struct MediaLoop {
    epoch: Instant,
    bind: IpAddr,
    sockets: SocketSet,
    conns: Vec<Option<Conn>>,
    parts: HashMap<usize, Part>,
    /// Per room: when media started flowing.
    rooms: HashMap<usize, Instant>,
    timers: BTreeSet<(Instant, Timer)>,
    commands: mpsc::UnboundedReceiver<Cmd>,
    total: Acc,
    window: Acc,
    failures: Vec<String>,
    events: Vec<(usize, Event)>,
}

const READ_BATCH: usize = 64;
const EXPIRE_EVERY: Duration = Duration::from_millis(250);

impl MediaLoop {
    pub fn new(epoch: Instant, bind: IpAddr, commands: mpsc::UnboundedReceiver<Cmd>) -> MediaLoop {
        let mut timers = BTreeSet::new();
        timers.insert((Instant::now() + EXPIRE_EVERY, Timer::Expire));
        MediaLoop {
            epoch,
            bind,
            sockets: SocketSet::default(),
            conns: Vec::new(),
            parts: HashMap::new(),
            rooms: HashMap::new(),
            timers,
            commands,
            total: Acc::default(),
            window: Acc::default(),
            failures: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Runs until every command sender is gone.
    pub async fn run(mut self) {
        let mut buf = vec![0u8; 2048];
        let sleep = tokio::time::sleep(Duration::from_secs(3600));
        tokio::pin!(sleep);
        loop {
            self.fire_timers(Instant::now());
            let next = self.timers.first().map(|(t, _)| *t).unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
            sleep.as_mut().reset(tokio::time::Instant::from_std(next));
            tokio::select! {
                biased;
                cmd = self.commands.recv() => match cmd {
                    Some(cmd) => self.command(cmd).await,
                    None => return,
                },
                ready = self.sockets.ready() => {
                    for index in ready {
                        self.read_socket(index, &mut buf);
                    }
                }
                _ = &mut sleep => {}
            }
        }
    }

    fn read_socket(&mut self, index: usize, buf: &mut [u8]) {
        for _ in 0..READ_BATCH {
            let Some((n, from)) = self.sockets.recv(index, buf) else {
                return;
            };
            if n == 0 {
                continue;
            }
            self.datagram(index, from, &buf[..n]);
        }
        self.sockets.requeue(index);
    }

    fn datagram(&mut self, index: usize, from: SocketAddr, data: &[u8]) {
        let now = Instant::now();
        let Some(conn) = self.conns.get_mut(index).and_then(|c| c.as_mut()) else {
            return;
        };
        let Ok(contents) = data.try_into() else {
            return;
        };
        let input =
            Input::Receive(now, Receive { proto: Protocol::Udp, source: from, destination: conn.local, contents });
        if conn.rtc.handle_input(input).is_ok() {
            self.drive(index);
        }
    }

    fn fire_timers(&mut self, now: Instant) {
        while let Some(&(t, timer)) = self.timers.first() {
            if t > now {
                break;
            }
            self.timers.pop_first();
            match timer {
                Timer::Rtc(i) => {
                    if let Some(c) = self.conns.get_mut(i).and_then(|c| c.as_mut()) {
                        c.deadline = None;
                        if c.rtc.handle_input(Input::Timeout(now)).is_ok() {
                            self.drive(i);
                        }
                    }
                }
                Timer::Audio(p) => self.send_audio(p, t),
                Timer::Video(p) => self.send_video(p, t),
                Timer::Expire => {
                    for part in self.parts.values_mut() {
                        for s in part.rx.values_mut() {
                            let mut c = RxCounts::default();
                            s.expire(now, &mut c);
                            self.total.rx.lost += c.lost;
                            self.window.rx.lost += c.lost;
                        }
                    }
                    self.timers.insert((now + EXPIRE_EVERY, Timer::Expire));
                }
            }
        }
    }

    // ---- connections -----------------------------------------------------

    async fn new_conn(&mut self, p: usize, side: Side) -> Option<usize> {
        let socket = match UdpSocket::bind(SocketAddr::new(self.bind, 0)).await {
            Ok(s) => s,
            Err(e) => {
                self.failures.push(format!("cannot bind a media socket: {e}"));
                return None;
            }
        };
        let index = self.sockets.add(socket).ok()?;
        let local = self.sockets.local(index)?;
        let mut rtc = Rtc::builder()
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true)
            .build(Instant::now());
        let candidate = Candidate::host(local, Protocol::Udp).ok()?;
        rtc.add_local_candidate(candidate);
        if self.conns.len() <= index {
            self.conns.resize_with(index + 1, || None);
        }
        self.conns[index] = Some(Conn { rtc, local, p, side, deadline: None });
        self.drive(index);
        Some(index)
    }

    /// Drains a connection after a mutation: sends its datagrams, keeps its
    /// events, files its next timeout; then handles the events.
    fn drive(&mut self, index: usize) {
        let Some(conn) = self.conns.get_mut(index).and_then(|c| c.as_mut()) else {
            return;
        };
        let mut next = None;
        loop {
            match conn.rtc.poll_output() {
                Ok(Output::Timeout(t)) => {
                    next = Some(t);
                    break;
                }
                Ok(Output::Transmit(t)) => {
                    self.sockets.send(index, &t.contents, t.destination);
                }
                Ok(Output::Event(e)) => self.events.push((index, e)),
                Err(_) => break,
            }
        }
        if let Some(old) = conn.deadline.take() {
            self.timers.remove(&(old, Timer::Rtc(index)));
        }
        if let Some(t) = next {
            // str0m's "nothing to do" is far away; keep it in the set anyway.
            conn.deadline = Some(t);
            self.timers.insert((t, Timer::Rtc(index)));
        }
        if !self.events.is_empty() {
            let events = std::mem::take(&mut self.events);
            for (i, e) in events {
                self.on_event(i, e);
            }
        }
    }

    fn on_event(&mut self, index: usize, event: Event) {
        let Some(conn) = self.conns.get(index).and_then(|c| c.as_ref()) else {
            return;
        };
        let (p, side) = (conn.p, conn.side);
        let now = Instant::now();
        match event {
            Event::Connected => {
                if side == Side::Publish {
                    self.start_media(p, now);
                } else if let Some(part) = self.parts.get_mut(&p) {
                    part.subscribed = true;
                }
            }
            Event::RtpPacket(packet) if side == Side::Subscribe => self.received(p, packet, now),
            Event::KeyframeRequest(req) if side == Side::Publish => {
                self.total.keyframe_requests += 1;
                self.window.keyframe_requests += 1;
                if let Some(part) = self.parts.get_mut(&p) {
                    for (i, layer) in part.layers.iter_mut().enumerate() {
                        if req.rid.is_none() || req.rid == Some(part.rids[i]) {
                            layer.keyframe_wanted = true;
                        }
                    }
                }
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                self.fail(p, format!("{side:?} connection lost ICE"));
            }
            _ => {}
        }
    }

    fn fail(&mut self, p: usize, why: String) {
        if let Some(part) = self.parts.get_mut(&p)
            && !part.failed
        {
            part.failed = true;
            if self.failures.len() < 20 {
                self.failures.push(format!("participant {p}: {why}"));
            } else if self.failures.len() == 20 {
                self.failures.push("…".into());
            }
        }
    }

    // ---- commands --------------------------------------------------------

    async fn command(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Add { p, spec } => {
                let now = Instant::now();
                let media_before = self.rooms.get(&spec.room).is_some_and(|t| *t < now);
                // Layer i is always rid RIDS[i]; only the SDP order varies.
                let rids = RIDS.map(Rid::from);
                self.parts.insert(
                    p,
                    Part {
                        spec,
                        started: now,
                        publish: None,
                        subscribe: None,
                        pending: None,
                        audio_mid: None,
                        video_mid: None,
                        rids,
                        layers: [0, 1, 2].map(|i| VideoLayer::new(i, p as u64)),
                        layers_on: RIDS.len(),
                        frame: 0,
                        audio_seq: 1 + (p as u64 * 977) % 30_000,
                        publishing: false,
                        subscribed: false,
                        first_media: None,
                        first_keyframe: None,
                        media_before,
                        rx: HashMap::new(),
                        vp8_pt: None,
                        failed: false,
                    },
                );
            }
            Cmd::PublishOffer { p, hml, reply } => {
                let offer = self.publish_offer(p, hml).await;
                let _ = reply.send(offer);
            }
            Cmd::PublishAnswer { p, sdp } => {
                let Some(part) = self.parts.get_mut(&p) else {
                    return;
                };
                let (Some(index), Some(pending)) = (part.publish, part.pending.take()) else {
                    return;
                };
                let Ok(answer) = SdpAnswer::from_sdp_string(&sdp) else {
                    return self.fail(p, "publish answer is not SDP".into());
                };
                let Some(conn) = self.conns.get_mut(index).and_then(|c| c.as_mut()) else {
                    return;
                };
                if let Err(e) = conn.rtc.sdp_api().accept_answer(pending, answer) {
                    return self.fail(p, format!("publish answer refused: {e}"));
                }
                self.drive(index);
            }
            Cmd::SendLayers { p, layers } => {
                if let Some(part) = self.parts.get_mut(&p) {
                    part.set_layers_on(layers);
                }
            }
            Cmd::SubscribeOffer { p, sdp, reply } => {
                let answer = self.subscribe_offer(p, &sdp).await;
                if answer.is_none() {
                    self.fail(p, "subscribe offer refused".into());
                }
                let _ = reply.send(answer);
            }
            Cmd::Failed { p, why } => self.fail(p, why),
            Cmd::Measure => {
                self.total.reset();
                self.window.reset();
            }
            Cmd::Window { reply } => {
                let f = self.figures(false);
                self.window.reset();
                let _ = reply.send(f);
            }
            Cmd::Report { reply } => {
                let _ = reply.send(self.figures(true));
            }
        }
    }

    async fn publish_offer(&mut self, p: usize, hml: bool) -> Option<PublishOffer> {
        let spec = self.parts.get(&p)?.spec.clone();
        let index = self.new_conn(p, Side::Publish).await?;
        let conn = self.conns.get_mut(index)?.as_mut()?;
        let mut change = conn.rtc.sdp_api();
        let audio_mid =
            (spec.mic != Mic::None).then(|| change.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None));
        let video_mid = spec.video.then(|| {
            let mut simulcast = Simulcast::new();
            for rid in order(hml) {
                simulcast.add_send_layer(SimulcastLayer::new(rid.to_string().as_str()));
            }
            change.add_media(MediaKind::Video, Direction::SendOnly, None, None, Some(simulcast))
        });
        let (offer, pending) = change.apply()?;
        let part = self.parts.get_mut(&p)?;
        part.publish = Some(index);
        part.pending = Some(pending);
        // A new publish connection starts with every layer (docs/protocol.md).
        part.set_layers_on(RIDS.len());
        part.audio_mid = audio_mid;
        part.video_mid = video_mid;
        self.drive(index);
        Some(PublishOffer {
            sdp: offer.to_sdp_string(),
            audio_mid: audio_mid.map(|m| m.to_string()),
            video_mid: video_mid.map(|m| m.to_string()),
        })
    }

    async fn subscribe_offer(&mut self, p: usize, sdp: &str) -> Option<String> {
        let offer = SdpOffer::from_sdp_string(sdp).ok()?;
        let index = match self.parts.get(&p)?.subscribe {
            Some(i) => i,
            None => {
                let i = self.new_conn(p, Side::Subscribe).await?;
                self.parts.get_mut(&p)?.subscribe = Some(i);
                i
            }
        };
        let conn = self.conns.get_mut(index)?.as_mut()?;
        let answer = conn.rtc.sdp_api().accept_offer(offer).ok()?;
        let vp8 = pt_of(&conn.rtc, Codec::Vp8);
        if let Some(part) = self.parts.get_mut(&p) {
            part.vp8_pt = vp8;
        }
        self.drive(index);
        Some(answer.to_sdp_string())
    }

    // ---- sending ---------------------------------------------------------

    fn start_media(&mut self, p: usize, now: Instant) {
        let Some(part) = self.parts.get_mut(&p) else {
            return;
        };
        if part.publishing {
            return;
        }
        part.publishing = true;
        self.rooms.entry(part.spec.room).or_insert(now);
        // Spread the participants' frame clocks like independent cameras.
        let offset = Duration::from_micros((p as u64 * 7_919) % 33_333);
        if part.audio_mid.is_some() {
            let audio_offset = Duration::from_micros(offset.as_micros() as u64 % 20_000);
            self.timers.insert((now + audio_offset, Timer::Audio(p)));
        }
        if part.video_mid.is_some() {
            self.timers.insert((now + offset, Timer::Video(p)));
        }
    }

    fn now_us(&self, now: Instant) -> u64 {
        now.duration_since(self.epoch).as_micros() as u64
    }

    fn send_audio(&mut self, p: usize, due: Instant) {
        let now = Instant::now();
        let sent_us = self.now_us(now);
        let elapsed = now.duration_since(self.epoch);
        let Some(part) = self.parts.get_mut(&p) else {
            return;
        };
        let (Some(index), Some(mid)) = (part.publish, part.audio_mid) else {
            return;
        };
        let (kind, level) = match part.spec.mic {
            Mic::None => return,
            Mic::Muted => (AudioKind::Dtx, 127u8),
            Mic::Open { slot, of } => {
                let turn = (elapsed.as_secs() / 4) as usize % of.max(1);
                if turn == slot {
                    (AudioKind::Speaking, 25 + (elapsed.as_millis() / 20 % 10) as u8)
                } else {
                    (AudioKind::Silent, 127)
                }
            }
        };
        let seq = part.audio_seq;
        part.audio_seq += 1;
        let ts = (elapsed.as_micros() * 48 / 1000) as u32;
        let payload = media::audio_payload(kind, sent_us);
        let bytes = payload.len() as u64;
        let next = due + if kind == AudioKind::Dtx { media::DTX_INTERVAL } else { media::AUDIO_INTERVAL };
        self.timers.insert((next.max(now), Timer::Audio(p)));
        let Some(conn) = self.conns.get_mut(index).and_then(|c| c.as_mut()) else {
            return;
        };
        let Some(pt) = pt_of(&conn.rtc, Codec::Opus) else {
            return;
        };
        let ext = ExtensionValues {
            audio_level: Some(-(level.min(127) as i8)),
            voice_activity: Some(kind == AudioKind::Speaking),
            ..Default::default()
        };
        if let Some(stream) = conn.rtc.direct_api().stream_tx_by_mid(mid, None) {
            stream.write_rtp(RtpWrite::new(pt, seq.into(), ts, now, payload).ext_vals(ext));
            self.count_sent(1, bytes);
        }
        self.drive(index);
    }

    fn send_video(&mut self, p: usize, due: Instant) {
        let now = Instant::now();
        let sent_us = self.now_us(now);
        let ts = (now.duration_since(self.epoch).as_micros() * 90 / 1000) as u32;
        let Some(part) = self.parts.get_mut(&p) else {
            return;
        };
        let (Some(index), Some(mid)) = (part.publish, part.video_mid) else {
            return;
        };
        let frame = part.frame;
        part.frame += 1;
        // Catch up without bursts if the loop fell behind.
        let mut next = due + media::FRAME_INTERVAL;
        if next < now {
            next = now + media::FRAME_INTERVAL;
        }
        self.timers.insert((next, Timer::Video(p)));
        let mut frames = Vec::with_capacity(3);
        // Layers the server said nobody receives are not encoded, as in a browser.
        for (i, layer) in part.layers.iter_mut().enumerate().take(part.layers_on) {
            let (_, packets) = layer.frame(frame, sent_us);
            let first_seq = layer.seq;
            layer.seq += packets.len() as u64;
            frames.push((part.rids[i], first_seq, packets));
        }
        let Some(pt) = self.conns.get(index).and_then(|c| c.as_ref()).and_then(|c| pt_of(&c.rtc, Codec::Vp8)) else {
            return;
        };
        for (rid, first_seq, packets) in frames {
            let count = packets.len();
            for (i, payload) in packets.into_iter().enumerate() {
                let bytes = payload.len() as u64;
                let Some(conn) = self.conns.get_mut(index).and_then(|c| c.as_mut()) else {
                    return;
                };
                if let Some(stream) = conn.rtc.direct_api().stream_tx_by_mid(mid, Some(rid)) {
                    let write = RtpWrite::new(pt, (first_seq + i as u64).into(), ts, now, payload)
                        .marker(i + 1 == count)
                        .nackable(true);
                    stream.write_rtp(write);
                    self.count_sent(1, bytes);
                }
                self.drive(index);
            }
        }
    }

    fn count_sent(&mut self, packets: u64, bytes: u64) {
        self.total.sent_packets += packets;
        self.total.sent_bytes += bytes;
        self.window.sent_packets += packets;
        self.window.sent_bytes += bytes;
    }

    // ---- receiving -------------------------------------------------------

    fn received(&mut self, p: usize, packet: RtpPacket, now: Instant) {
        let now_us = self.now_us(now);
        let Some(part) = self.parts.get_mut(&p) else {
            return;
        };
        let video = Some(packet.header.payload_type) == part.vp8_pt;
        let stream = part.rx.entry(packet.header.ssrc).or_default();
        let mut c = RxCounts { packets: 1, bytes: packet.payload.len() as u64, ..Default::default() };
        stream.on_packet(*packet.seq_no, now, &mut c);
        if part.first_media.is_none() {
            part.first_media = Some(now);
        }
        if video && part.first_keyframe.is_none() && media::starts_keyframe(&packet.payload) {
            part.first_keyframe = Some(now);
        }
        for acc in [&mut self.total, &mut self.window] {
            acc.rx.packets += c.packets;
            acc.rx.bytes += c.bytes;
            acc.rx.expected += c.expected;
            acc.rx.repaired += c.repaired;
            if let Some(sent) = media::read_stamp(&packet.payload) {
                acc.latency.add(now_us.saturating_sub(sent));
            }
        }
    }

    fn figures(&self, total: bool) -> Figures {
        let acc = if total { &self.total } else { &self.window };
        let mut join_ms = Vec::new();
        let mut keyframe_ms = Vec::new();
        let mut connected = 0;
        let publishes = |spec: &Spec| spec.video || spec.mic != Mic::None;
        let mut publishers: HashMap<usize, usize> = HashMap::new();
        for part in self.parts.values().filter(|p| publishes(&p.spec)) {
            *publishers.entry(part.spec.room).or_default() += 1;
        }
        for part in self.parts.values() {
            let me = usize::from(publishes(&part.spec));
            // The only publisher of a room (the lecturer) has nothing to receive.
            let nothing_to_receive = publishers.get(&part.spec.room).copied().unwrap_or(0) <= me;
            if (me == 0 || part.publishing) && (part.subscribed || nothing_to_receive) && !part.failed {
                connected += 1;
            }
            if !part.media_before {
                continue;
            }
            if let Some(t) = part.first_media {
                join_ms.push(t.duration_since(part.started).as_secs_f64() * 1000.0);
            }
            if let Some(t) = part.first_keyframe {
                keyframe_ms.push(t.duration_since(part.started).as_secs_f64() * 1000.0);
            }
        }
        Figures {
            rx: acc.rx,
            sent_packets: acc.sent_packets,
            latency_p50_ms: acc.latency.quantile_ms(0.5),
            latency_p99_ms: acc.latency.quantile_ms(0.99),
            latency_samples: acc.latency.count(),
            join_ms,
            keyframe_ms,
            participants: self.parts.len(),
            connected,
            failures: self.failures.clone(),
            keyframe_requests: acc.keyframe_requests,
        }
    }
}

/// Simulcast rids in SDP order.
fn order(hml: bool) -> [Rid; 3] {
    if hml { [RIDS[2], RIDS[1], RIDS[0]].map(Rid::from) } else { RIDS.map(Rid::from) }
}

fn pt_of(rtc: &Rtc, codec: Codec) -> Option<Pt> {
    rtc.codec_config().params().iter().find(|p| p.spec().codec == codec).map(|p| p.pt())
}
