//! The SFU's state machine: every participant's two peer connections (str0m
//! `Rtc`s in RTP mode), the forwarding between them, and the demultiplexing
//! of the one media port.
//!
//! Sans-IO like str0m itself: datagrams, commands and time go in through
//! [`Engine::handle_datagram`], [`Engine::handle_command`] and
//! [`Engine::handle_timeout`]; datagrams to send and events for the room
//! actor come out through [`Engine::take_transmits`] and
//! [`Engine::take_events`]. The task in `super::run` does the I/O.
//!
//! Every mutation of an `Rtc` is followed by a full drain of `poll_output`
//! in one function, [`Engine::drive`]. Events that affect other connections
//! are queued and handled after the drain, so no two `Rtc`s are borrowed at
//! once. One connection's error ends that participant's media only.
//!
//! This file holds the state, the connections (creating, driving,
//! timeouts, str0m's events) and membership (join, move, leave, direct
//! calls, moderator mutes). Each further concern is a file of its own:
//!
//! - [`input`]: the media port's datagrams to their connection, plain STUN;
//! - [`negotiate`]: publish offers, subscribe offers and answers, and who
//!   is in which audio slot;
//! - [`forward`]: RTP from a publisher to its subscribers through the
//!   fan-out index ([`forward::Routes`]), keyframe requests;
//! - [`allocate`]: which simulcast layer each subscriber receives;
//! - [`quality`]: connection quality from loss and round-trip time;
//! - [`record`]: the media of consenting participants to the recorder;
//! - [`rooms`]: membership, moves between rooms, rooms that talk directly;
//! - [`sending`]: which simulcast layers each publisher needs to send.

mod allocate;
mod forward;
mod input;
mod negotiate;
mod quality;
mod record;
mod rooms;
mod sending;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::bwe::{Bitrate, BweKind};
use str0m::change::SdpPendingOffer;
use str0m::config::DtlsCert;
use str0m::media::{KeyframeRequestKind, MediaKind, Mid, Pt, Rid};
use str0m::net::{Protocol, TcpType, Transmit};
use str0m::rtp::Ssrc;
use str0m::{Candidate, Event, IceConnectionState, IceCreds, Input, Output, Rtc, RtcConfig};

use super::demux::ShardLink;
use super::demux::{self, Demux};
use super::health::SourceHealth;
use super::keyframes::Throttle;
use super::layers::{self, LAYERS, RateMeter};
use super::rewrite::Rewriter;
use super::speaker::SpeakerDetector;
use super::stun;
use crate::protocol::{Quality, Source};
use crate::room::{MediaCommand, MediaEvent, RoomKey, SessionId};
use crate::stats::{Stats, SubscriptionKey, SubscriptionStats};

/// How long a forwarded video packet stays available for a NACK. A
/// receiver asks for a missing packet when the next one arrives and again
/// about every round trip, so a NACK finds its packet about one round trip
/// (plus a frame interval at most) after it was sent: one second answers a
/// first NACK at round trips up to ~900 ms, three tries at ~300 ms.
/// libwebrtc's own sender keeps 1 s (or 3 round trips if longer), Janus at
/// least 500 ms (`min_nack_queue`). str0m's default, 3 s, made its history
/// (a ~400-byte slot per packet, subscriber and stream, and the payload
/// shared by the subscribers) the largest share of the memory per
/// participant: docs/performance.md, change 6.
const NACK_HISTORY: Duration = Duration::from_secs(1);
/// The most packets a video send stream keeps for NACKs, whatever their
/// age: 1 s of the top simulcast layer is ~170 packets (1.5 Mbit/s, 1100
/// bytes) plus a keyframe burst (~60); 512 leaves room for a screen share
/// without a bitrate cap (~3–4 Mbit/s) and bounds one stream's slots at
/// ~200 KB. str0m's default is 1000.
const NACK_HISTORY_PACKETS: usize = 512;
/// Bandwidth estimate a subscriber starts with.
const INITIAL_BWE: Bitrate = Bitrate::kbps(1_500);
/// How often forwarding decisions are revisited without a trigger.
const HOUSEKEEPING: Duration = Duration::from_millis(100);
/// How often layers are reallocated from measured rates.
const REALLOCATE: Duration = Duration::from_millis(1000);
/// How often str0m reports statistics (connection quality).
const STATS_INTERVAL: Duration = Duration::from_secs(2);
/// How long a connection may stay ICE-disconnected (a network change, a
/// laptop lid) before the participant's media counts as failed.
const RECONNECT_GRACE: Duration = Duration::from_secs(10);
/// How often publishers are checked for sources that deliver nothing.
const HEALTH_CHECK: Duration = Duration::from_secs(1);

/// What the engine needs from the configuration.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Host candidates announced to browsers (address and media port).
    pub candidates: Vec<SocketAddr>,
    /// Passive ICE-TCP host candidates (RFC 6544) announced as well, with
    /// the HTTPS port; empty when ICE-TCP is off. str0m gives them a lower
    /// priority than UDP, so browsers use them only when UDP fails.
    pub tcp_candidates: Vec<SocketAddr>,
    /// `media.last_n` (0: unlimited).
    pub last_n: u32,
    /// `media.audio_slots`: audio m-lines per subscriber (see [`super::slots`]).
    pub audio_slots: usize,
}

/// Which of a participant's two peer connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    Publish,
    Subscribe,
}

/// One peer connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RtcKey {
    pub session: SessionId,
    pub side: Side,
}

/// A peer connection and its place in the timeout order.
struct Pc {
    rtc: Rtc,
    deadline: Option<Instant>,
    /// When the connection fails unless ICE recovers.
    grace: Option<Instant>,
    loss: Option<f32>,
    rtt: Option<Duration>,
    /// RTP was written since the last drain (it is in `Engine::undrained`).
    undrained: bool,
    /// When ICE first connected (`None`: not yet).
    connected: Option<Instant>,
}

/// A track a participant publishes.
struct InTrack {
    mid: Mid,
    source: Source,
    kind: MediaKind,
    simulcast: bool,
    /// Per layer (`l`, `m`, `h`; index 0 alone without simulcast).
    meters: [RateMeter; LAYERS],
    /// The layers the publisher was told to send ([`sending`]).
    cap: layers::SendCap,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    /// Offered, answer outstanding.
    Negotiating,
    /// Negotiated: media flows.
    Active,
    /// Being removed in the outstanding offer.
    Stopping,
    /// The connection's first m-line, kept inactive and carrying nothing
    /// after its track ended. It is the BUNDLE tag, which owns the
    /// transport: browsers given an offer that stops it tear the transport
    /// down (Chromium closes DTLS), which would end the participant's media
    /// whenever the first publisher they received leaves, and whenever they
    /// are left alone in a room.
    Parked,
}

/// One m-line of a subscribe connection, carrying one publisher's track;
/// or, for an audio slot, the audio of whoever occupies it now.
struct Slot {
    mid: Mid,
    kind: MediaKind,
    /// Whose track it carries (`None`: an audio slot nobody occupies).
    publisher: Option<SessionId>,
    /// An audio slot ([`super::slots`]): never stopped, its occupant changes.
    audio_slot: bool,
    /// An audio slot whose msid stream is named after this participant
    /// (as their camera's is): [`slots::assign`] keeps them in it, so the
    /// browser lip-syncs it with their video.
    named_for: Option<SessionId>,
    source: Source,
    state: SlotState,
    rewriter: Rewriter,
    /// Layer to forward (`None`: nothing, e.g. not shown or not in last-N).
    target: Option<u8>,
    /// Layer its rendered size asks for, bandwidth aside (`None`: not
    /// shown, or not in last-N): what the publisher must send ([`sending`]).
    wanted: Option<u8>,
    pt: Option<Pt>,
    /// The SSRC of the m-line's send stream, once negotiated.
    ssrc: Option<Ssrc>,
    stats: Arc<SubscriptionStats>,
    stats_key: SubscriptionKey,
    /// Offered `inactive` (the room talks directly): nothing is sent on
    /// it, not even padding, until it is offered `sendonly` again.
    inactive: bool,
}

impl Slot {
    /// Offered or negotiated: neither being removed nor parked.
    fn is_live(&self) -> bool {
        matches!(self.state, SlotState::Negotiating | SlotState::Active)
    }
}

/// A participant's media.
struct Peer {
    room: RoomKey,
    public_id: String,
    publish: Option<Pc>,
    subscribe: Pc,
    tracks: Vec<InTrack>,
    ssrcs: HashMap<Ssrc, (Mid, Option<Rid>)>,
    slots: Vec<Slot>,
    pending: Option<SdpPendingOffer>,
    renegotiate: bool,
    sizes: HashMap<(String, Source), (u32, u32)>,
    bwe: Option<u64>,
    quality: Quality,
    /// A different quality measured in a row this many times (see
    /// [`QUALITY_CONFIRMATIONS`]).
    quality_candidate: (Quality, u8),
    /// Sources a moderator muted: none of their packets is forwarded.
    muted: Vec<Source>,
    /// How often each (publisher, source) was offered on the subscribe
    /// connection (bounded by the participants a meeting has).
    received_before: HashMap<(String, Source), u32>,
    /// Audio slots made so far (numbers their msid).
    audio_slots_made: u32,
    /// Whether what the participant says it sends arrives, per source
    /// (indexed by [`source_index`]).
    health: [SourceHealth; 3],
}

impl Peer {
    fn pc(&mut self, side: Side) -> Option<&mut Pc> {
        match side {
            Side::Publish => self.publish.as_mut(),
            Side::Subscribe => Some(&mut self.subscribe),
        }
    }
}

/// Media of one room.
#[derive(Default)]
struct RoomMedia {
    members: Vec<SessionId>,
    speaker: SpeakerDetector<SessionId>,
    /// The members talk directly (a call of two): nothing is forwarded.
    direct: bool,
    /// Who receives each member's sources ([`forward::Routes`]).
    routes: forward::Routes,
}

type KeyframeKey = (SessionId, Mid, Option<u8>);

/// The whole SFU state.
pub struct Engine {
    config: EngineConfig,
    cert: DtlsCert,
    rids: [Rid; LAYERS],
    peers: HashMap<SessionId, Peer>,
    rooms: HashMap<RoomKey, RoomMedia>,
    demux: Demux<RtcKey, (Protocol, SocketAddr)>,
    deadlines: BTreeSet<(Instant, RtcKey)>,
    /// Connections that lost ICE, by when they fail.
    graces: BTreeSet<(Instant, RtcKey)>,
    work: VecDeque<(RtcKey, Event)>,
    /// Subscribe connections written to and not drained yet: drained once
    /// per batch of datagrams (in [`Engine::take_transmits`]), not once per
    /// packet — each `poll_output` walks every stream of the connection.
    undrained: Vec<RtcKey>,
    /// The latest time handed in, for draining in `take_transmits`.
    last_now: Instant,
    transmits: Vec<Transmit>,
    events: Vec<MediaEvent>,
    keyframes: Throttle<KeyframeKey>,
    stats: Arc<Stats>,
    next_housekeeping: Instant,
    next_reallocate: Instant,
    next_health_check: Instant,
    closing: bool,
    /// Answers plain STUN Binding requests (for direct calls), if enabled.
    stun: Option<stun::Limiter>,
    /// Who is recorded, and what waits for the recorder.
    recording: record::Recording,
    /// This engine's place among several ([`super::shard`], [`demux::ShardLink`]); `None` alone.
    shard: Option<ShardLink>,
}

impl Engine {
    /// A new engine. `cert` is the DTLS certificate every connection uses.
    pub fn new(config: EngineConfig, cert: DtlsCert, stats: Arc<Stats>, now: Instant) -> Engine {
        Engine {
            config,
            cert,
            rids: layers::RIDS.map(Rid::from),
            peers: HashMap::new(),
            rooms: HashMap::new(),
            demux: Demux::default(),
            deadlines: BTreeSet::new(),
            graces: BTreeSet::new(),
            work: VecDeque::new(),
            undrained: Vec::new(),
            last_now: now,
            transmits: Vec::new(),
            events: Vec::new(),
            keyframes: Throttle::default(),
            stats,
            next_housekeeping: now + HOUSEKEEPING,
            next_reallocate: now + REALLOCATE,
            next_health_check: now + HEALTH_CHECK,
            closing: false,
            stun: None,
            recording: record::Recording::default(),
            shard: None,
        }
    }

    /// Makes this engine shard `link.index` of several: its connections'
    /// ufrags carry the shard's tag, and the addresses it verifies are
    /// routed to it by the dispatcher.
    pub fn set_shard(&mut self, link: ShardLink) {
        self.shard = Some(link);
    }

    /// Answers plain STUN Binding requests on the media port from now on,
    /// so that browsers in a direct call learn their public address from
    /// this server (see [`super::stun`]).
    pub fn enable_stun_responder(&mut self) {
        self.stun.get_or_insert_with(stun::Limiter::default);
    }

    /// Datagrams to send. Drains the connections that forwarded RTP was
    /// written to since the last call first.
    pub fn take_transmits(&mut self) -> Vec<Transmit> {
        self.drain_undrained();
        std::mem::take(&mut self.transmits)
    }

    fn drain_undrained(&mut self) {
        let now = self.last_now;
        while !self.undrained.is_empty() {
            for key in std::mem::take(&mut self.undrained) {
                if let Some(pc) = self.peers.get_mut(&key.session).and_then(|p| p.pc(key.side)) {
                    pc.undrained = false;
                    self.drive(now, key);
                }
            }
            self.process_work(now);
        }
    }

    /// Events for the room actor.
    pub fn take_events(&mut self) -> Vec<MediaEvent> {
        std::mem::take(&mut self.events)
    }

    /// When [`Engine::handle_timeout`] should be called next.
    pub fn next_deadline(&self) -> Instant {
        let rtc = self.deadlines.first().map(|(t, _)| *t);
        rtc.map_or(self.next_housekeeping, |t| t.min(self.next_housekeeping))
    }

    /// The counters the engine updates.
    pub fn stats(&self) -> Arc<Stats> {
        Arc::clone(&self.stats)
    }

    /// Participants with media state.
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// Remote addresses the demultiplexer knows.
    pub fn address_count(&self) -> usize {
        self.demux.address_count()
    }

    // ---- commands ----------------------------------------------------------

    /// A command from the room actor.
    pub fn handle_command(&mut self, now: Instant, cmd: MediaCommand) {
        self.last_now = self.last_now.max(now);
        match cmd {
            MediaCommand::Join { session, room, participant } => self.join(now, session, room, participant),
            MediaCommand::Move { session, room } => self.move_peer(now, session, room),
            MediaCommand::Mute { session, source, muted } => self.mute(now, session, source, muted),
            MediaCommand::Leave { session } => self.remove_peer(now, session, true),
            MediaCommand::PublishOffer { session, sdp, tracks } => self.publish_offer(now, session, &sdp, tracks),
            MediaCommand::SubscribeAnswer { session, sdp } => self.subscribe_answer(now, session, &sdp),
            MediaCommand::VideoSizes { session, sizes } => self.video_sizes(now, session, sizes),
            MediaCommand::Shutdown => self.shutdown(now),
            MediaCommand::Direct { room, direct } => self.set_direct(now, room, direct),
            MediaCommand::Recording(cmd) => self.record_command(now, cmd),
            MediaCommand::Sending { session, mic, camera, screen } => {
                if let Some(peer) = self.peers.get_mut(&session) {
                    for (source, on) in [(Source::Mic, mic), (Source::Camera, camera), (Source::Screen, screen)] {
                        peer.health[source_index(source)].set_on(on, now);
                    }
                }
            }
        }
        self.process_work(now);
    }

    fn rtc_config(&self, subscribe: bool, creds: IceCreds) -> RtcConfig {
        let config = Rtc::builder()
            .set_rtp_mode(true)
            .set_ice_lite(true)
            .set_local_ice_credentials(creds)
            .set_dtls_cert(self.cert.clone())
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true)
            .set_stats_interval(Some(STATS_INTERVAL))
            // Each video send stream's NACK history is then cut to
            // NACK_HISTORY by `limit_nack_history`.
            .set_send_buffer_video(NACK_HISTORY_PACKETS);
        if subscribe { config.enable_bwe(Some(INITIAL_BWE)) } else { config }
    }

    /// A new peer connection with our host candidates, registered for
    /// demultiplexing by its ufrag.
    fn new_pc(&mut self, now: Instant, key: RtcKey) -> Pc {
        let creds = loop {
            // str0m's credentials are random (ufrag 16, password 22 characters).
            let mut creds = IceCreds::new();
            if let Some(shard) = &self.shard {
                creds.ufrag = demux::tagged(&creds.ufrag, shard.index);
            }
            if self.demux.register(&creds.ufrag, key) {
                break creds;
            }
        };
        let mut rtc = self.rtc_config(key.side == Side::Subscribe, creds).build(now);
        for addr in &self.config.candidates {
            if let Ok(c) = Candidate::host(*addr, Protocol::Udp) {
                rtc.add_local_candidate(c);
                // Adding a candidate is a mutation: drain before the next.
                let _ = drain(&mut rtc, key, &mut self.transmits, &mut self.work);
            }
        }
        for addr in &self.config.tcp_candidates {
            if let Ok(c) = Candidate::builder().tcp().host(*addr).tcptype(TcpType::Passive).build() {
                rtc.add_local_candidate(c);
                let _ = drain(&mut rtc, key, &mut self.transmits, &mut self.work);
            }
        }
        Stats::add(&self.stats.peer_connections, 1);
        Pc { rtc, deadline: None, grace: None, loss: None, rtt: None, undrained: false, connected: None }
    }

    fn join(&mut self, now: Instant, session: SessionId, room: RoomKey, public_id: String) {
        if self.closing || self.peers.contains_key(&session) {
            return;
        }
        let subscribe = self.new_pc(now, RtcKey { session, side: Side::Subscribe });
        self.peers.insert(
            session,
            Peer {
                room,
                public_id,
                publish: None,
                subscribe,
                tracks: Vec::new(),
                ssrcs: HashMap::new(),
                slots: Vec::new(),
                pending: None,
                renegotiate: false,
                sizes: HashMap::new(),
                bwe: None,
                quality: Quality::Unknown,
                quality_candidate: (Quality::Unknown, 0),
                muted: Vec::new(),
                received_before: HashMap::new(),
                audio_slots_made: 0,
                health: [SourceHealth::default(); 3],
            },
        );
        self.drive(now, RtcKey { session, side: Side::Subscribe });
        // Only two talk directly: a newcomer ends it (the room actor says
        // so too, right after the join).
        self.set_direct(now, room, false);
        self.enter_room(room, session);
        self.negotiate(now, session);
    }

    /// Stops (or resumes) forwarding one source of a participant. Resumed
    /// video asks the publisher for keyframes so subscribers see a picture
    /// at once.
    fn mute(&mut self, now: Instant, session: SessionId, source: Source, muted: bool) {
        let Some(peer) = self.peers.get_mut(&session) else {
            return;
        };
        let was = peer.muted.contains(&source);
        if muted == was {
            return;
        }
        let room = peer.room;
        if muted {
            peer.muted.push(source);
            if source == Source::Mic {
                // Out of every slot at once: a muted participant is never
                // in a slot, let alone heard.
                self.assign_room(now, room);
            }
        } else {
            peer.muted.retain(|s| *s != source);
            for layer in 0..LAYERS as u8 {
                self.request_keyframe(now, session, source, layer, KeyframeRequestKind::Pli);
            }
        }
    }

    /// Ends a participant's media: closes (politely, when `close`) and
    /// forgets both connections, and stops their tracks at everyone else.
    fn remove_peer(&mut self, now: Instant, session: SessionId, close: bool) {
        self.unrecord_peer(session);
        let Some(mut peer) = self.peers.remove(&session) else {
            return;
        };
        for (side, pc) in [(Side::Publish, peer.publish.as_mut()), (Side::Subscribe, Some(&mut peer.subscribe))] {
            let Some(pc) = pc else {
                continue;
            };
            let key = RtcKey { session, side };
            if close && pc.rtc.is_alive() {
                let _ = guarded(|| pc.rtc.close());
                let _ = drain(&mut pc.rtc, key, &mut self.transmits, &mut self.work);
            }
            if let Some(d) = pc.deadline {
                self.deadlines.remove(&(d, key));
            }
            if let Some(g) = pc.grace {
                self.graces.remove(&(g, key));
            }
            self.forget_connection(key);
            self.stats.peer_connections.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
        for slot in peer.slots.iter().filter(|s| s.state != SlotState::Parked && s.publisher.is_some()) {
            self.stats.end_subscription(&slot.stats_key);
        }
        // Events it left in the queue are moot.
        self.work.retain(|(k, _)| k.session != session);
        self.keyframes.retain(|(publisher, _, _)| *publisher != session);
        self.leave_room(peer.room, session);
        for other in self.members(peer.room) {
            self.negotiate(now, other);
        }
        self.assign_room(now, peer.room);
    }

    /// The participant's media failed: tell the room actor, then forget it.
    /// Ends a participant's media: the room tells the client, which rejoins.
    fn fail(&mut self, now: Instant, session: SessionId, why: &'static str) {
        if self.peers.contains_key(&session) {
            tracing::debug!(session = session.0, why, "media of a participant failed");
            self.events.push(MediaEvent::Failed { session });
            self.remove_peer(now, session, false);
        }
    }

    fn refuse(&mut self, session: SessionId, reason: &str) {
        self.events.push(MediaEvent::SdpRefused { session, reason: reason.to_string() });
    }

    fn shutdown(&mut self, now: Instant) {
        self.closing = true;
        let sessions: Vec<SessionId> = self.peers.keys().copied().collect();
        for s in sessions {
            self.remove_peer(now, s, true);
        }
    }

    /// Feeds one input to a connection and drains it.
    fn input(&mut self, now: Instant, key: RtcKey, input: Input) {
        let Some(pc) = self.peers.get_mut(&key.session).and_then(|p| p.pc(key.side)) else {
            return;
        };
        match guarded(|| pc.rtc.handle_input(input)) {
            Ok(Ok(())) => self.drive(now, key),
            _ => self.fail(now, key.session, "input refused"),
        }
    }

    /// Time passed: feeds timeouts to the connections that are due, and
    /// does the periodic forwarding work.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        let mut due = Vec::new();
        while let Some(&(t, key)) = self.deadlines.first() {
            if t > now {
                break;
            }
            self.deadlines.pop_first();
            if let Some(pc) = self.peers.get_mut(&key.session).and_then(|p| p.pc(key.side)) {
                pc.deadline = None;
            }
            due.push(key);
        }
        for key in due {
            self.input(now, key, Input::Timeout(now));
        }
        if now >= self.next_housekeeping {
            self.next_housekeeping = now + HOUSEKEEPING;
            self.housekeeping(now);
        }
        self.process_work(now);
    }

    fn housekeeping(&mut self, now: Instant) {
        while let Some(&(t, key)) = self.graces.first() {
            if t > now {
                break;
            }
            self.graces.pop_first();
            self.fail(now, key.session, "ICE disconnected beyond the grace");
        }
        for key in self.keyframes.due(now) {
            self.send_keyframe_request(now, key, KeyframeRequestKind::Pli);
        }
        if now >= self.next_health_check {
            self.next_health_check = now + HEALTH_CHECK;
            self.check_health(now);
        }
        let mut changed_rooms = Vec::new();
        for (room, r) in self.rooms.iter_mut() {
            if let Some(change) = r.speaker.tick(now) {
                self.events.push(MediaEvent::ActiveSpeaker { room: *room, session: change });
                changed_rooms.push(*room);
            }
        }
        // Talkspurts begin and end: audio slots follow (a room whose slots
        // hold everyone changes nothing here).
        let rooms: Vec<RoomKey> = self.rooms.keys().copied().collect();
        for room in rooms {
            self.assign_room(now, room);
        }
        let reallocate_all = now >= self.next_reallocate;
        if reallocate_all {
            self.next_reallocate = now + REALLOCATE;
            let all: Vec<SessionId> = self.peers.keys().copied().collect();
            for s in all {
                self.reallocate(now, s);
            }
        } else {
            for room in changed_rooms {
                for s in self.members(room) {
                    self.reallocate(now, s);
                }
            }
        }
        self.update_send_layers(now);
    }

    /// Reports every source a publisher says it sends that delivers
    /// nothing ([`super::health`]). Not while a room talks directly (its
    /// members send nothing to the server then), nor for a source a
    /// moderator muted, nor before the publish offer negotiated it.
    fn check_health(&mut self, now: Instant) {
        for (session, peer) in &mut self.peers {
            if self.rooms.get(&peer.room).is_none_or(|r| r.direct) {
                continue;
            }
            let connected = peer.publish.as_ref().and_then(|pc| pc.connected);
            for track in &peer.tracks {
                if peer.muted.contains(&track.source) {
                    continue;
                }
                let last = track.meters.iter().filter_map(RateMeter::last_seen).max();
                if peer.health[source_index(track.source)].check(now, connected, last) {
                    self.events.push(MediaEvent::Stalled { session: *session, source: track.source });
                }
            }
        }
    }

    // ---- draining and events ----------------------------------------------

    /// Drains a connection's output after a mutation and files its next
    /// timeout. A connection that errs or dies fails its participant.
    fn drive(&mut self, now: Instant, key: RtcKey) {
        let direct =
            key.side == Side::Subscribe && self.peers.get(&key.session).is_some_and(|p| self.is_direct(p.room));
        let Some(pc) = self.peers.get_mut(&key.session).and_then(|p| p.pc(key.side)) else {
            return;
        };
        let drained_from = self.transmits.len();
        // What goes out now is stamped now (pacer, TWCC send times), not at
        // the connection's last timeout (vendor/str0m/KABINE-PATCH.md).
        pc.rtc.advance_time(self.last_now.max(now));
        let result = drain(&mut pc.rtc, key, &mut self.transmits, &mut self.work);
        if direct {
            // While a call is direct nothing is forwarded and every m-line
            // is inactive, yet str0m 0.25 still produces padding RTP (seen:
            // hundreds of datagrams per direct phase with every m-line
            // inactive and no offer pending). A direct call gets no RTP from
            // the server at all: consent checks, RTCP and DTLS only.
            let mut fresh = self.transmits.split_off(drained_from);
            let before = fresh.len();
            fresh.retain(|t| !is_rtp(&t.contents));
            let dropped = (before - fresh.len()) as u64;
            self.transmits.append(&mut fresh);
            if dropped > 0 {
                self.stats.p2p_rtp_suppressed.fetch_add(dropped, std::sync::atomic::Ordering::Relaxed);
            }
        }
        if let Some(old) = pc.deadline.take() {
            self.deadlines.remove(&(old, key));
        }
        match result {
            Some(next) if pc.rtc.is_alive() => {
                pc.deadline = Some(next);
                self.deadlines.insert((next, key));
            }
            _ => {
                if !self.closing {
                    self.fail(now, key.session, "connection closed");
                }
            }
        }
    }

    /// Handles queued events until none is left.
    fn process_work(&mut self, now: Instant) {
        while let Some((key, event)) = self.work.pop_front() {
            self.on_event(now, key, event);
        }
    }

    fn on_event(&mut self, now: Instant, key: RtcKey, event: Event) {
        match event {
            Event::RtpPacket(packet) if key.side == Side::Publish => self.on_rtp(now, key.session, packet),
            Event::KeyframeRequest(req) if key.side == Side::Subscribe => {
                self.on_keyframe_request(now, key.session, req)
            }
            Event::EgressBitrateEstimate(BweKind::Twcc { estimate, .. }) if key.side == Side::Subscribe => {
                let changed = self.peers.get_mut(&key.session).map(|p| p.bwe.replace(estimate.as_u64()));
                tracing::trace!(session = key.session.0, estimate = estimate.as_u64(), "subscribe bandwidth estimate");
                if let Some(old) = changed
                    && old.is_none_or(|o| o.abs_diff(estimate.as_u64()) > o / 10)
                {
                    self.reallocate(now, key.session);
                }
            }
            Event::Connected if key.side == Side::Subscribe => {
                // The browser can decode only from a keyframe on.
                let wanted: Vec<(SessionId, Source, u8)> = self
                    .peers
                    .get(&key.session)
                    .map(|p| {
                        p.slots
                            .iter()
                            .filter(|s| s.kind == MediaKind::Video)
                            .filter_map(|s| Some((s.publisher?, s.source, s.target?)))
                            .collect()
                    })
                    .unwrap_or_default();
                for (publisher, source, layer) in wanted {
                    self.request_keyframe(now, publisher, source, layer, KeyframeRequestKind::Pli);
                }
            }
            Event::IceConnectionStateChange(state) => {
                let Some(pc) = self.peers.get_mut(&key.session).and_then(|p| p.pc(key.side)) else {
                    return;
                };
                tracing::debug!(session = key.session.0, side = ?key.side, ?state, "ICE state changed");
                if let Some(g) = pc.grace.take() {
                    self.graces.remove(&(g, key));
                }
                if matches!(state, IceConnectionState::Connected | IceConnectionState::Completed) {
                    pc.connected.get_or_insert(now);
                }
                if state == IceConnectionState::Disconnected {
                    let until = now + RECONNECT_GRACE;
                    pc.grace = Some(until);
                    self.graces.insert((until, key));
                }
            }
            Event::PeerStats(stats) => self.on_peer_stats(key, &stats),
            Event::StreamPaused(_) | Event::MediaAdded(_) | Event::MediaChanged(_) => {}
            _ => {}
        }
    }
}

/// Drains `rtc` until it returns its next timeout: datagrams go to
/// `transmits`, events to `work`. `None` if the connection failed.
fn drain(
    rtc: &mut Rtc,
    key: RtcKey,
    transmits: &mut Vec<Transmit>,
    work: &mut VecDeque<(RtcKey, Event)>,
) -> Option<Instant> {
    loop {
        if !rtc.is_alive() {
            return None;
        }
        match guarded(|| rtc.poll_output()) {
            Ok(Ok(Output::Timeout(t))) => return Some(t),
            Ok(Ok(Output::Transmit(t))) => transmits.push(t),
            Ok(Ok(Output::Event(e))) => work.push_back((key, e)),
            Ok(Err(_)) | Err(_) => return None,
        }
    }
}

/// Runs `f`, turning a panic inside str0m into an error for this one
/// connection instead of the end of every call on the server.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, ()> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|_| ())
}

/// Whether a datagram is RTP (not RTCP, STUN or DTLS): RFC 7983 first
/// byte 128–191, and RFC 5761's payload types 192–223 are RTCP.
fn is_rtp(datagram: &[u8]) -> bool {
    matches!(datagram, [128..=191, b, ..] if !(192..=223).contains(b))
}

/// The index of a source in per-source arrays.
fn source_index(source: Source) -> usize {
    match source {
        Source::Mic => 0,
        Source::Camera => 1,
        Source::Screen => 2,
    }
}

#[cfg(test)]
mod tests;
