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

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::bwe::{Bitrate, BweKind};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::config::DtlsCert;
use str0m::format::Codec;
use str0m::media::{Direction, KeyframeRequest, KeyframeRequestKind, MediaKind, Mid, Pt, Rid};
use str0m::net::{Protocol, Receive, Transmit};
use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite, Ssrc};
use str0m::stats::PeerStats;
use str0m::{Candidate, Event, IceConnectionState, IceCreds, Input, Output, Rtc, RtcConfig};

use super::demux::{self, Demux};
use super::keyframes::Throttle;
use super::layers::{self, LAYERS, RateMeter, Want};
use super::rewrite::{Decision, InPacket, Rewriter, Vp8Fields};
use super::sdp;
use super::slots;
use super::speaker::{self, Ranked, SpeakerDetector};
use super::stun;
use crate::room::{MediaCommand, MediaEvent, RoomKey, SessionId};
use crate::signal::protocol::{AudioSlot, PublishedTrack, Quality, Source, SubscribedTrack, VideoSize};
use crate::stats::{Forwarded, Stats, SubscriptionKey, SubscriptionStats};

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

/// What the engine needs from the configuration.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Host candidates announced to browsers (address and media port).
    pub candidates: Vec<SocketAddr>,
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
}

/// A track a participant publishes.
struct InTrack {
    mid: Mid,
    source: Source,
    kind: MediaKind,
    simulcast: bool,
    /// Per layer (`l`, `m`, `h`; index 0 alone without simulcast).
    meters: [RateMeter; LAYERS],
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
    pt: Option<Pt>,
    stats: Arc<SubscriptionStats>,
    stats_key: SubscriptionKey,
    /// Offered `inactive` (the room talks directly): nothing is sent on
    /// it, not even padding, until it is offered `sendonly` again.
    inactive: bool,
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
}

type KeyframeKey = (SessionId, Mid, Option<u8>);

/// The whole SFU state.
pub struct Engine {
    config: EngineConfig,
    cert: DtlsCert,
    rids: [Rid; LAYERS],
    peers: HashMap<SessionId, Peer>,
    rooms: HashMap<RoomKey, RoomMedia>,
    demux: Demux<RtcKey>,
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
    closing: bool,
    /// Answers plain STUN Binding requests (for direct calls), if enabled.
    stun: Option<stun::Limiter>,
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
            closing: false,
            stun: None,
        }
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
            let creds = IceCreds::new();
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
        Stats::add(&self.stats.peer_connections, 1);
        Pc { rtc, deadline: None, grace: None, loss: None, rtt: None, undrained: false }
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
            },
        );
        self.drive(now, RtcKey { session, side: Side::Subscribe });
        // Only two talk directly: a newcomer ends it (the room actor says
        // so too, right after the join).
        self.set_direct(now, room, false);
        self.rooms.entry(room).or_default().members.push(session);
        self.negotiate(now, session);
    }

    fn move_peer(&mut self, now: Instant, session: SessionId, to: RoomKey) {
        let Some(peer) = self.peers.get_mut(&session) else {
            return;
        };
        let from = std::mem::replace(&mut peer.room, to);
        if from == to {
            return;
        }
        self.leave_room(from, session);
        self.set_direct(now, to, false);
        self.rooms.entry(to).or_default().members.push(session);
        let mut affected = self.members(from);
        affected.extend(self.members(to));
        for s in affected {
            self.negotiate(now, s);
            self.reallocate(now, s);
        }
        self.assign_room(now, from);
        self.assign_room(now, to);
    }

    /// A room's two members talk directly (or no longer): stop forwarding,
    /// and the padding that keeps bandwidth estimates up; or start again,
    /// each stream from a keyframe.
    fn set_direct(&mut self, now: Instant, room: RoomKey, direct: bool) {
        let Some(r) = self.rooms.get_mut(&room) else {
            return;
        };
        if r.direct == direct {
            return;
        }
        r.direct = direct;
        for s in self.members(room) {
            let Some(peer) = self.peers.get_mut(&s) else {
                continue;
            };
            if direct {
                for slot in &mut peer.slots {
                    slot.rewriter.pause();
                }
                // No padding from now on, not only once the browser has
                // answered the offer that sets the m-lines inactive.
                peer.subscribe.rtc.bwe().set_bitrate(Bitrate::bps(0), Bitrate::bps(0));
            } else {
                // Nothing was sent while direct (see `drive`): estimate
                // afresh, as for a new connection.
                peer.subscribe.rtc.bwe().reset(INITIAL_BWE);
            }
            // The m-lines go inactive (and `drive` holds back str0m's
            // padding) or back to sendonly; forwarding resumes once the browser has
            // answered, from keyframes.
            self.negotiate(now, s);
        }
    }

    fn is_direct(&self, room: RoomKey) -> bool {
        self.rooms.get(&room).is_some_and(|r| r.direct)
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

    fn members(&self, room: RoomKey) -> Vec<SessionId> {
        self.rooms.get(&room).map(|r| r.members.clone()).unwrap_or_default()
    }

    fn leave_room(&mut self, room: RoomKey, session: SessionId) {
        if let Some(r) = self.rooms.get_mut(&room) {
            r.members.retain(|s| *s != session);
            r.speaker.remove(session);
            if r.members.is_empty() {
                self.rooms.remove(&room);
            }
        }
    }

    /// Ends a participant's media: closes (politely, when `close`) and
    /// forgets both connections, and stops their tracks at everyone else.
    fn remove_peer(&mut self, now: Instant, session: SessionId, close: bool) {
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
            self.demux.forget(key);
            Stats::set(&self.stats.media_addresses, self.demux.address_count() as u64);
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

    fn publish_offer(&mut self, now: Instant, session: SessionId, sdp_text: &str, tracks: Vec<PublishedTrack>) {
        if !self.peers.contains_key(&session) {
            return;
        }
        if sdp_text.len() > sdp::MAX_SDP_BYTES {
            return self.refuse(session, "SDP too large");
        }
        let offered = sdp::scan(sdp_text);
        let checked = match sdp::check_tracks(&offered, &tracks) {
            Ok(found) => found.iter().map(|m| !m.rids.is_empty()).collect::<Vec<bool>>(),
            Err(e) => return self.refuse(session, &e),
        };
        let Ok(offer) = SdpOffer::from_sdp_string(sdp_text) else {
            return self.refuse(session, "the offer is not valid SDP");
        };
        let key = RtcKey { session, side: Side::Publish };
        let new_pc = self.peers.get(&session).is_some_and(|p| p.publish.is_none());
        if new_pc {
            let pc = self.new_pc(now, key);
            if let Some(peer) = self.peers.get_mut(&session) {
                peer.publish = Some(pc);
            }
        }
        let Some(peer) = self.peers.get_mut(&session) else {
            return;
        };
        let Some(pc) = peer.publish.as_mut() else {
            return;
        };
        let result = guarded(|| pc.rtc.sdp_api().accept_offer(offer));
        let answer = match result {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) | Err(_) => {
                let alive = pc.rtc.is_alive();
                if new_pc || !alive {
                    // A first offer that fails leaves nothing behind; a
                    // broken re-offer ends this participant's media.
                    if let Some(pc) = peer.publish.take()
                        && let Some(d) = pc.deadline
                    {
                        self.deadlines.remove(&(d, key));
                    }
                    self.demux.forget(key);
                    self.stats.peer_connections.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                    if !new_pc {
                        return self.fail(now, session, "publish re-offer refused");
                    }
                }
                return self.refuse(session, "the offer could not be accepted");
            }
        };
        // The answer is what the browser needs; tracks change for everyone else.
        let old: Vec<(Mid, Source)> = peer.tracks.iter().map(|t| (t.mid, t.source)).collect();
        peer.tracks = tracks
            .iter()
            .zip(checked)
            .map(|(t, simulcast)| InTrack {
                mid: Mid::from(t.mid.as_str()),
                source: t.source,
                kind: if t.source == Source::Mic { MediaKind::Audio } else { MediaKind::Video },
                simulcast,
                meters: Default::default(),
            })
            .collect();
        let changed = old != peer.tracks.iter().map(|t| (t.mid, t.source)).collect::<Vec<_>>();
        self.events.push(MediaEvent::PublishAnswer { session, sdp: answer.to_sdp_string() });
        self.drive(now, key);
        if changed {
            let room = self.peers.get(&session).map(|p| p.room);
            for other in room.map(|r| self.members(r)).unwrap_or_default() {
                if other != session {
                    self.negotiate(now, other);
                }
            }
            if let Some(room) = room {
                self.assign_room(now, room);
            }
        }
    }

    /// Brings a subscriber's m-lines in line with the tracks of the others
    /// in the room: one offer at a time; changes during an outstanding offer
    /// are folded into the next one.
    fn negotiate(&mut self, now: Instant, session: SessionId) {
        let Some(room) = self.peers.get(&session).map(|p| p.room) else {
            return;
        };
        // Every video the others in the room publish; audio goes to slots.
        let mut wanted: Vec<(SessionId, String, Source, MediaKind)> = Vec::new();
        let mut microphones: Vec<(SessionId, String)> = Vec::new();
        for other in self.members(room) {
            if other == session {
                continue;
            }
            if let Some(p) = self.peers.get(&other) {
                for t in &p.tracks {
                    if t.source == Source::Mic {
                        microphones.push((other, p.public_id.clone()));
                    } else {
                        wanted.push((other, p.public_id.clone(), t.source, t.kind));
                    }
                }
            }
        }
        let audio_slots = self.config.audio_slots;
        let direct = self.is_direct(room);
        let Some(peer) = self.peers.get_mut(&session) else {
            return;
        };
        if peer.pending.is_some() {
            peer.renegotiate = true;
            return;
        }
        peer.renegotiate = false;
        let live = |s: &Slot| matches!(s.state, SlotState::Negotiating | SlotState::Active);
        let mut to_stop: Vec<Mid> = peer
            .slots
            .iter()
            .filter(|s| live(s) && !s.audio_slot && !wanted.iter().any(|w| Some(w.0) == s.publisher && w.2 == s.source))
            .map(|s| s.mid)
            .collect();
        let to_add: Vec<_> = wanted
            .into_iter()
            .filter(|w| !peer.slots.iter().any(|s| live(s) && s.publisher == Some(w.0) && s.source == w.2))
            .collect();
        // Audio slots are added while there are fewer than others with a
        // microphone, up to the limit, and never stopped: joins and leaves
        // in a big room change no m-line.
        let have = peer.slots.iter().filter(|s| live(s) && s.audio_slot).count();
        let new_audio_slots = microphones.len().min(audio_slots).saturating_sub(have);
        let to_toggle: Vec<Mid> = peer
            .slots
            .iter()
            .filter(|s| live(s) && s.inactive != direct && !to_stop.contains(&s.mid))
            .map(|s| s.mid)
            .collect();
        if to_stop.is_empty() && to_add.is_empty() && to_toggle.is_empty() && new_audio_slots == 0 {
            return;
        }
        // Never stop the first m-line (see `SlotState::Parked`).
        let first = peer.slots.first().map(|s| s.mid);
        let park = first.filter(|m| to_stop.contains(m));
        to_stop.retain(|m| Some(*m) != park);
        let mut change = peer.subscribe.rtc.sdp_api();
        for mid in &to_stop {
            change.stop_media(*mid);
        }
        let direction = if direct { Direction::Inactive } else { Direction::SendOnly };
        for mid in &to_toggle {
            change.set_direction(*mid, direction);
        }
        if let Some(mid) = park {
            change.set_direction(mid, Direction::Inactive);
        }
        let mut added = Vec::new();
        for (publisher, public_id, source, kind) in to_add {
            let stream = if source == Source::Screen { format!("{public_id}-screen") } else { public_id.clone() };
            // A publisher whose m-line ended (or was parked) can be received
            // again (breakout rooms): browsers refuse an SDP in which two
            // m-lines carry the same msid, so later ones are numbered.
            let n = peer.received_before.entry((public_id.clone(), source)).or_insert(0);
            *n += 1;
            let track = match *n {
                1 => format!("{public_id}-{}", source_name(source)),
                n => format!("{public_id}-{}-{n}", source_name(source)),
            };
            let mid = change.add_media(kind, direction, Some(stream), Some(track), None);
            added.push((mid, kind, Some(publisher), public_id, source));
        }
        // While everyone with a microphone gets a slot of their own, each
        // new slot is named after one of those who have none named after
        // them yet, with their camera's msid stream: the browser lip-syncs
        // the two. In a larger room a slot carries different people over
        // time: its name is neutral.
        let mut namesakes: Vec<(SessionId, String)> = if microphones.len() <= audio_slots {
            microphones
                .into_iter()
                .filter(|(who, _)| !peer.slots.iter().any(|s| live(s) && s.named_for == Some(*who)))
                .collect()
        } else {
            Vec::new()
        };
        namesakes.truncate(new_audio_slots);
        let mut namesakes = namesakes.into_iter();
        let mut new_slots = Vec::new();
        for _ in 0..new_audio_slots {
            let (stream, track, named_for) = match namesakes.next() {
                Some((who, public_id)) => {
                    // Unique like a camera's (see `received_before`).
                    let n = peer.received_before.entry((public_id.clone(), Source::Mic)).or_insert(0);
                    *n += 1;
                    let track = match *n {
                        1 => format!("{public_id}-mic"),
                        n => format!("{public_id}-mic-{n}"),
                    };
                    (public_id, track, Some(who))
                }
                None => {
                    peer.audio_slots_made += 1;
                    let name = format!("kabine-audio-{}", peer.audio_slots_made);
                    (name.clone(), name, None)
                }
            };
            let mid = change.add_media(MediaKind::Audio, direction, Some(stream), Some(track), None);
            added.push((mid, MediaKind::Audio, None, String::new(), Source::Mic));
            new_slots.push((mid, named_for));
        }
        let Some((offer, pending)) = change.apply() else {
            return;
        };
        for slot in peer.slots.iter_mut().filter(|s| to_stop.contains(&s.mid)) {
            slot.state = SlotState::Stopping;
        }
        for slot in peer.slots.iter_mut().filter(|s| to_toggle.contains(&s.mid)) {
            // Like a new m-line: forwarded again once answered.
            slot.state = SlotState::Negotiating;
            slot.inactive = direct;
        }
        if let Some(slot) = peer.slots.iter_mut().find(|s| Some(s.mid) == park) {
            slot.state = SlotState::Parked;
            slot.target = None;
            self.stats.end_subscription(&slot.stats_key);
        }
        for (mid, kind, publisher, publisher_id, source) in added {
            let stats_key = SubscriptionKey { subscriber: peer.public_id.clone(), publisher: publisher_id, source };
            // An empty audio slot has counters of its own, registered only
            // while someone occupies it.
            let stats = if publisher.is_some() { self.stats.subscription(stats_key.clone()) } else { Arc::default() };
            let clock = if kind == MediaKind::Audio { 48_000 } else { 90_000 };
            peer.slots.push(Slot {
                mid,
                kind,
                publisher,
                audio_slot: publisher.is_none(),
                named_for: new_slots.iter().find(|n| n.0 == mid).and_then(|n| n.1),
                source,
                state: SlotState::Negotiating,
                rewriter: Rewriter::new(clock),
                target: None,
                pt: None,
                stats,
                stats_key,
                inactive: direct,
            });
        }
        peer.pending = Some(pending);
        let tracks = peer
            .slots
            .iter()
            .filter(|s| live(s) && !s.audio_slot)
            .map(|s| SubscribedTrack {
                mid: s.mid.to_string(),
                participant: s.stats_key.publisher.clone(),
                source: s.source,
            })
            .collect();
        self.events.push(MediaEvent::SubscribeOffer { session, sdp: offer.to_sdp_string(), tracks });
        self.drive(now, RtcKey { session, side: Side::Subscribe });
        if new_audio_slots > 0 {
            // Fill the new slots now, and tell the browser about them.
            self.assign_audio(now, session, true);
        }
    }

    /// The participants who may be heard in `room` (those with a
    /// microphone a moderator has not muted), in join order, ranked for
    /// audio slots.
    fn audio_ranking(&self, now: Instant, room: RoomKey) -> Vec<Ranked<SessionId>> {
        let Some(r) = self.rooms.get(&room) else {
            return Vec::new();
        };
        let candidates: Vec<SessionId> = r
            .members
            .iter()
            .filter(|s| {
                self.peers.get(s).is_some_and(|p| {
                    p.tracks.iter().any(|t| t.source == Source::Mic) && !p.muted.contains(&Source::Mic)
                })
            })
            .copied()
            .collect();
        r.speaker.ranking(&candidates, now)
    }

    /// Reassigns the audio slots of everyone in `room`.
    fn assign_room(&mut self, now: Instant, room: RoomKey) {
        let ranking = self.audio_ranking(now, room);
        for member in self.members(room) {
            self.assign_slots(member, &ranking, false);
        }
    }

    /// Reassigns `session`'s audio slots; announces the map when it changed
    /// (or when `announce`).
    fn assign_audio(&mut self, now: Instant, session: SessionId, announce: bool) {
        let Some(room) = self.peers.get(&session).map(|p| p.room) else {
            return;
        };
        let ranking = self.audio_ranking(now, room);
        self.assign_slots(session, &ranking, announce);
    }

    fn assign_slots(&mut self, session: SessionId, ranking: &[Ranked<SessionId>], announce: bool) {
        let Some(peer) = self.peers.get(&session) else {
            return;
        };
        let live = |s: &Slot| s.audio_slot && matches!(s.state, SlotState::Negotiating | SlotState::Active);
        let before: Vec<Option<SessionId>> = peer.slots.iter().filter(|s| live(s)).map(|s| s.publisher).collect();
        if before.is_empty() {
            return;
        }
        let named: Vec<Option<SessionId>> = peer.slots.iter().filter(|s| live(s)).map(|s| s.named_for).collect();
        let mine: Vec<Ranked<SessionId>> = ranking.iter().filter(|r| r.who != session).copied().collect();
        let mut after = before.clone();
        let changed = slots::assign(&mut after, &named, &mine);
        if !changed && !announce {
            return;
        }
        let names: Vec<Option<String>> =
            after.iter().map(|o| o.and_then(|s| self.peers.get(&s)).map(|p| p.public_id.clone())).collect();
        let Some(peer) = self.peers.get_mut(&session) else {
            return;
        };
        let mut map = Vec::with_capacity(after.len());
        for ((slot, occupant), name) in peer.slots.iter_mut().filter(|s| live(s)).zip(after).zip(names) {
            if slot.publisher != occupant {
                // The next packet of the new occupant continues the
                // slot's stream (sequence +1, timestamp by elapsed time).
                slot.rewriter.pause();
                if slot.publisher.is_some() {
                    self.stats.end_subscription(&slot.stats_key);
                }
                slot.publisher = occupant;
                slot.stats_key.publisher = name.clone().unwrap_or_default();
                slot.stats =
                    if occupant.is_some() { self.stats.subscription(slot.stats_key.clone()) } else { Arc::default() };
                Stats::add(&self.stats.audio_slot_switches, 1);
            }
            map.push(AudioSlot { mid: slot.mid.to_string(), participant: name });
        }
        self.events.push(MediaEvent::AudioSlots { session, slots: map });
    }

    fn subscribe_answer(&mut self, now: Instant, session: SessionId, sdp_text: &str) {
        let Some(peer) = self.peers.get_mut(&session) else {
            return;
        };
        if peer.pending.is_none() {
            return self.refuse(session, "no subscribe offer is outstanding");
        }
        if sdp_text.len() > sdp::MAX_SDP_BYTES {
            return self.refuse(session, "SDP too large");
        }
        // A compacted answer (docs/protocol.md) becomes plain SDP for str0m.
        let Ok(expanded) = sdp::expand_answer(sdp_text) else {
            return self.refuse(session, "the compacted answer cannot be expanded");
        };
        let Ok(answer) = SdpAnswer::from_sdp_string(&expanded) else {
            // The offer stays outstanding; a good answer may still follow.
            return self.refuse(session, "the answer is not valid SDP");
        };
        let Some(pending) = peer.pending.take() else {
            return;
        };
        let accepted = guarded(|| peer.subscribe.rtc.sdp_api().accept_answer(pending, answer));
        if !matches!(accepted, Ok(Ok(()))) {
            self.refuse(session, "the answer could not be accepted");
            return self.fail(now, session, "subscribe answer refused");
        }
        let opus = find_pt(&peer.subscribe.rtc, Codec::Opus);
        let vp8 = find_pt(&peer.subscribe.rtc, Codec::Vp8);
        let mut ended = Vec::new();
        peer.slots.retain(|s| {
            let keep = s.state != SlotState::Stopping;
            if !keep && s.publisher.is_some() {
                ended.push(s.stats_key.clone());
            }
            keep
        });
        for key in ended {
            self.stats.end_subscription(&key);
        }
        for slot in &mut peer.slots {
            if slot.state == SlotState::Negotiating {
                if slot.kind == MediaKind::Video {
                    limit_nack_history(&mut peer.subscribe.rtc, slot.mid);
                }
                slot.state = SlotState::Active;
                slot.pt = if slot.kind == MediaKind::Audio { opus } else { vp8 };
                if slot.kind == MediaKind::Audio {
                    slot.target = Some(0);
                }
            }
        }
        let again = peer.renegotiate;
        self.drive(now, RtcKey { session, side: Side::Subscribe });
        self.reallocate(now, session);
        if again {
            self.negotiate(now, session);
        }
    }

    fn video_sizes(&mut self, now: Instant, session: SessionId, sizes: Vec<VideoSize>) {
        let Some(peer) = self.peers.get_mut(&session) else {
            return;
        };
        // Bounded: one entry per (participant, source) the room can have.
        if sizes.len() > 3 * 1000 {
            return;
        }
        peer.sizes = sizes.into_iter().map(|s| ((s.participant, s.source), (s.width, s.height))).collect();
        self.reallocate(now, session);
    }

    fn shutdown(&mut self, now: Instant) {
        self.closing = true;
        let sessions: Vec<SessionId> = self.peers.keys().copied().collect();
        for s in sessions {
            self.remove_peer(now, s, true);
        }
    }

    // ---- layer allocation --------------------------------------------------

    /// Chooses what `session` receives of every video: the layer that fits
    /// its rendered size, capped by its bandwidth estimate and by last-N.
    fn reallocate(&mut self, now: Instant, session: SessionId) {
        let Some(peer) = self.peers.get(&session) else {
            return;
        };
        if self.is_direct(peer.room) {
            return;
        }
        let room = self.rooms.get(&peer.room);
        let (history, members) =
            room.map_or((Vec::new(), Vec::new()), |r| (r.speaker.history().to_vec(), r.members.clone()));
        let speaker = room.and_then(|r| r.speaker.current());
        let in_last_n = speaker::last_n(&history, &members, session, self.config.last_n);
        let mut wants = Vec::new();
        let mut slot_index = Vec::new();
        let mut audio = 0u64;
        for (i, slot) in peer.slots.iter().enumerate() {
            if slot.state != SlotState::Active {
                continue;
            }
            if slot.kind == MediaKind::Audio {
                // What the microphone really sends: a muted one (DTX) next
                // to nothing. Counting every microphone at the nominal rate
                // made the padding fill big rooms with probes (seed-60:
                // ~50 Mbit/s of padding, docs/performance.md).
                let meter = slot
                    .publisher
                    .and_then(|p| self.peers.get(&p))
                    .and_then(|p| p.tracks.iter().find(|t| t.source == slot.source))
                    .map(|t| &t.meters[0]);
                audio += match meter {
                    Some(m) if !m.active(now) => 0,
                    Some(m) => m.bps().unwrap_or(layers::AUDIO_BPS),
                    None => 0,
                };
                continue;
            }
            let Some(publisher) = slot.publisher else {
                continue;
            };
            let Some(track) =
                self.peers.get(&publisher).and_then(|p| p.tracks.iter().find(|t| t.source == slot.source))
            else {
                continue;
            };
            let size = peer.sizes.get(&(slot.stats_key.publisher.clone(), slot.source)).copied();
            let shown = size.is_none_or(|(w, h)| w > 0 && h > 0);
            // Screen shares are exempt from last-N: they are what people look at.
            let allowed = slot.source == Source::Screen || in_last_n.contains(&publisher);
            let wanted = if !shown || !allowed {
                None
            } else if !track.simulcast {
                Some(0)
            } else {
                // Unreported sizes get the low layer until the client says more.
                size.map_or(Some(0), |(w, h)| layers::layer_for_size(w, h))
            };
            let mut available = [false; LAYERS];
            let mut bps = layers::NOMINAL_BPS;
            for l in 0..LAYERS {
                available[l] = track.meters[l].active(now) && (track.simulcast || l == 0);
                if let Some(b) = track.meters[l].bps() {
                    bps[l] = b.max(1);
                }
            }
            if !track.simulcast {
                // A single stream: one "layer" whose cost is its rate.
                available = [true, false, false];
            }
            let area = size.map_or(0, |(w, h)| u64::from(w) * u64::from(h));
            let priority = u64::from(slot.source == Source::Screen) << 62
                | u64::from(speaker == Some(publisher)) << 61
                | area.min(1 << 60);
            wants.push(Want { wanted, available, bps, priority });
            slot_index.push(i);
        }
        let budget = peer.bwe.map(|b| b.saturating_sub(audio));
        let chosen = layers::allocate(budget, &wants);
        tracing::trace!(budget = ?budget, chosen = ?chosen, "layer allocation");
        let desired: u64 = wants.iter().filter_map(|w| layers::best_fit(w).map(|l| w.bps[l])).sum::<u64>() + audio;

        let mut keyframes = Vec::new();
        let Some(peer) = self.peers.get_mut(&session) else {
            return;
        };
        for (i, choice) in slot_index.into_iter().zip(chosen) {
            let slot = &mut peer.slots[i];
            let target = choice.map(|l| l as u8);
            slot.target = target;
            if let Some(l) = target
                && slot.rewriter.current() != Some(l)
                && let Some(publisher) = slot.publisher
            {
                keyframes.push((publisher, slot.source, l));
            }
            if target.is_none() {
                slot.stats.select(Forwarded::Nothing);
            }
        }
        if peer.subscribe.rtc.is_alive() && desired > 0 {
            // Keep the link busy up to what the subscriber wants (padding
            // fills the gap, capped by the estimate), so the estimate is
            // there when a layer switch up needs it.
            peer.subscribe.rtc.bwe().set_bitrate(Bitrate::bps(desired), Bitrate::bps(desired));
            self.drive(now, RtcKey { session, side: Side::Subscribe });
        }
        for (publisher, source, layer) in keyframes {
            self.request_keyframe(now, publisher, source, layer, KeyframeRequestKind::Pli);
        }
    }

    /// Asks `publisher` for a keyframe on `layer` of `source`, at most once
    /// a second per layer (later ones are merged and sent when due).
    fn request_keyframe(
        &mut self,
        now: Instant,
        publisher: SessionId,
        source: Source,
        layer: u8,
        kind: KeyframeRequestKind,
    ) {
        let Some(track) = self.peers.get(&publisher).and_then(|p| p.tracks.iter().find(|t| t.source == source)) else {
            return;
        };
        if track.kind != MediaKind::Video {
            return;
        }
        let key = (publisher, track.mid, track.simulcast.then_some(layer));
        if self.keyframes.request(key, now) {
            self.send_keyframe_request(now, key, kind);
        }
    }

    fn send_keyframe_request(&mut self, now: Instant, (publisher, mid, layer): KeyframeKey, kind: KeyframeRequestKind) {
        let rid = layer.map(|l| self.rids[usize::from(l).min(LAYERS - 1)]);
        let Some(pc) = self.peers.get_mut(&publisher).and_then(|p| p.publish.as_mut()) else {
            return;
        };
        if !pc.rtc.is_connected() {
            return;
        }
        let mut direct = pc.rtc.direct_api();
        let Some(stream) = direct.stream_rx_by_mid(mid, rid) else {
            return;
        };
        stream.request_keyframe(kind);
        Stats::add(&self.stats.keyframe_requests, 1);
        self.drive(now, RtcKey { session: publisher, side: Side::Publish });
    }

    // ---- network input -----------------------------------------------------

    /// The local candidate a datagram from `source` arrived on, as far as we
    /// can tell without the packet's destination address: loopback for
    /// loopback peers, else the first announced address of the family.
    fn local_for(&self, source: SocketAddr) -> SocketAddr {
        let c = &self.config.candidates;
        let same_family = |a: &&SocketAddr| a.is_ipv4() == source.is_ipv4();
        c.iter()
            .filter(same_family)
            .find(|a| a.ip().is_loopback() == source.ip().is_loopback())
            .or_else(|| c.iter().find(same_family))
            .or(c.first())
            .copied()
            .unwrap_or(source)
    }

    /// One datagram from the media port.
    pub fn handle_datagram(&mut self, now: Instant, source: SocketAddr, data: &[u8]) {
        self.last_now = self.last_now.max(now);
        let destination = self.local_for(source);
        if self.stun.is_some()
            && let Some(transaction) = stun::plain_binding_request(data)
        {
            return self.answer_stun(now, source, destination, &transaction);
        }
        let key = match demux::classify(data) {
            demux::Kind::Stun => match demux::binding_request_ufrag(data) {
                Some(ufrag) => {
                    let Some(key) = self.demux.by_ufrag(ufrag) else {
                        return self.unclaimed();
                    };
                    // Verify the short-term credential before learning anything.
                    let Ok(contents) = data.try_into() else {
                        return self.unclaimed();
                    };
                    let input = Input::Receive(now, Receive { proto: Protocol::Udp, source, destination, contents });
                    let Some(pc) = self.peers.get_mut(&key.session).and_then(|p| p.pc(key.side)) else {
                        return self.unclaimed();
                    };
                    if !pc.rtc.accepts(&input) {
                        Stats::add(&self.stats.stun_refused, 1);
                        return;
                    }
                    self.demux.learn(source, key);
                    Stats::set(&self.stats.media_addresses, self.demux.address_count() as u64);
                    self.input(now, key, input);
                    self.process_work(now);
                    return;
                }
                None => self.demux.by_addr(&source),
            },
            demux::Kind::Dtls | demux::Kind::Rtp => self.demux.by_addr(&source),
            demux::Kind::Other => None,
        };
        let Some(key) = key else {
            return self.unclaimed();
        };
        let Ok(contents) = data.try_into() else {
            return self.unclaimed();
        };
        let input = Input::Receive(now, Receive { proto: Protocol::Udp, source, destination, contents });
        self.input(now, key, input);
        self.process_work(now);
    }

    /// A plain STUN Binding request: answered from the request alone,
    /// within the rate limit; nothing is kept about the sender.
    fn answer_stun(&mut self, now: Instant, source: SocketAddr, local: SocketAddr, transaction: &[u8; 12]) {
        let Some(limiter) = self.stun.as_mut() else {
            return;
        };
        if !limiter.allow(now, source.ip()) {
            Stats::add(&self.stats.stun_bindings_limited, 1);
            return;
        }
        self.transmits.push(Transmit {
            proto: Protocol::Udp,
            source: local,
            destination: source,
            contents: stun::binding_success(transaction, source).into(),
        });
        Stats::add(&self.stats.stun_bindings_answered, 1);
    }

    fn unclaimed(&self) {
        Stats::add(&self.stats.datagrams_unclaimed, 1);
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

    fn on_peer_stats(&mut self, key: RtcKey, stats: &PeerStats) {
        let Some(peer) = self.peers.get_mut(&key.session) else {
            return;
        };
        let Some(pc) = peer.pc(key.side) else {
            return;
        };
        let loss = if key.side == Side::Publish { stats.ingress_loss_fraction } else { stats.egress_loss_fraction };
        pc.loss = loss.or(pc.loss);
        pc.rtt = stats.rtt.or(pc.rtt);
        let measured = [peer.publish.as_ref(), Some(&peer.subscribe)]
            .into_iter()
            .flatten()
            .filter(|pc| pc.loss.is_some() || pc.rtt.is_some())
            .map(|pc| quality_of(pc.loss, pc.rtt))
            .max_by_key(|q| quality_rank(*q));
        let Some(q) = measured else {
            return;
        };
        if let Some(q) = settle_quality(peer.quality, &mut peer.quality_candidate, q) {
            peer.quality = q;
            self.events.push(MediaEvent::Quality { session: key.session, quality: q });
        }
    }

    fn on_keyframe_request(&mut self, now: Instant, session: SessionId, req: KeyframeRequest) {
        let Some(slot) = self.peers.get(&session).and_then(|p| p.slots.iter().find(|s| s.mid == req.mid)) else {
            return;
        };
        let layer = slot.rewriter.current().or(slot.target);
        let (publisher, source) = (slot.publisher, slot.source);
        if let (Some(layer), Some(publisher)) = (layer, publisher) {
            self.request_keyframe(now, publisher, source, layer, req.kind);
        }
    }

    /// An RTP packet from a publisher: measure it, feed the speaker
    /// detector, and forward it to every subscriber in the room.
    fn on_rtp(&mut self, now: Instant, session: SessionId, packet: RtpPacket) {
        let Some(peer) = self.peers.get_mut(&session) else {
            return;
        };
        Stats::add(&self.stats.packets_in, 1);
        Stats::add(&self.stats.bytes_in, packet.payload.len() as u64);
        let ssrc = packet.header.ssrc;
        let ids = match peer.ssrcs.get(&ssrc) {
            Some(ids) => Some(*ids),
            None => {
                let found = peer
                    .publish
                    .as_mut()
                    .and_then(|pc| pc.rtc.direct_api().stream_rx(&ssrc).map(|s| (s.mid(), s.rid())));
                if let Some(ids) = found
                    && peer.ssrcs.len() < 64
                {
                    peer.ssrcs.insert(ssrc, ids);
                }
                found
            }
        };
        let Some((mid, rid)) = ids else {
            return;
        };
        let Some(track) = peer.tracks.iter_mut().find(|t| t.mid == mid) else {
            return;
        };
        let layer = if track.simulcast {
            match rid.and_then(|r| self.rids.iter().position(|x| *x == r)) {
                Some(l) => l as u8,
                None => return,
            }
        } else {
            0
        };
        let appeared = !track.meters[usize::from(layer)].active(now);
        track.meters[usize::from(layer)].add(now, packet.payload.len());
        let (source, kind, simulcast) = (track.source, track.kind, track.simulcast);
        if peer.muted.contains(&source) {
            // Muted by a moderator: forwarded to nobody, not even as a speaker.
            return;
        }
        let room = peer.room;
        if appeared && simulcast && !self.is_direct(room) {
            // A layer (re)appeared, e.g. a publisher resuming after a direct
            // call: choose again now rather than at the next periodic pass,
            // so this packet (the start of a keyframe, usually) can be used.
            for sub in self.members(room) {
                if sub != session {
                    self.reallocate(now, sub);
                }
            }
        }

        let mut ext = ExtensionValues::default();
        let (keyframe, vp8) = if kind == MediaKind::Audio {
            if let Some(level) = packet.header.ext_vals.audio_level
                && let Some(r) = self.rooms.get_mut(&room)
            {
                r.speaker.on_level(session, level.unsigned_abs(), now);
            }
            ext.audio_level = packet.header.ext_vals.audio_level;
            ext.voice_activity = packet.header.ext_vals.voice_activity;
            (true, None)
        } else {
            ext.video_orientation = packet.header.ext_vals.video_orientation;
            let fields = Vp8Fields::of(&packet.payload);
            (fields.keyframe, Some(fields))
        };
        let input = InPacket {
            layer,
            seq: *packet.seq_no,
            ts: packet.header.timestamp,
            keyframe,
            picture_id: vp8.and_then(|f| f.picture_id),
            tl0: vp8.and_then(|f| f.tl0),
            arrival: packet.timestamp,
        };

        if self.is_direct(room) {
            return;
        }
        for sub in self.members(room) {
            if sub == session {
                continue;
            }
            let Some(peer) = self.peers.get_mut(&sub) else {
                continue;
            };
            if !peer.subscribe.rtc.is_connected() {
                continue;
            }
            let Some(slot) = peer
                .slots
                .iter_mut()
                .find(|s| s.publisher == Some(session) && s.source == source && s.state == SlotState::Active)
            else {
                continue;
            };
            let Some(pt) = slot.pt else {
                continue;
            };
            let Decision::Forward { out, switched } = slot.rewriter.forward(slot.target, &input) else {
                continue;
            };
            if switched {
                slot.stats.select(if simulcast { Forwarded::Layer(usize::from(layer)) } else { Forwarded::Single });
            }
            slot.stats.count(simulcast.then_some(usize::from(layer)));
            let mut write = RtpWrite::new(pt, out.seq.into(), out.ts, packet.timestamp, Arc::clone(&packet.payload))
                .marker(packet.header.marker)
                .ext_vals(ext.clone())
                .nackable(kind == MediaKind::Video);
            if let Some(d) = vp8.and_then(|f| f.descriptor) {
                let mut patch = d.patch();
                if let Some(p) = out.picture_id {
                    patch = patch.picture_id(p);
                }
                if let Some(t) = out.tl0 {
                    patch = patch.tl0_pic_idx(t);
                }
                if let Ok(p) = patch.build() {
                    write = write.vp8_patch(p);
                }
            }
            let mid = slot.mid;
            let mut direct = peer.subscribe.rtc.direct_api();
            let Some(stream) = direct.stream_tx_by_mid(mid, None) else {
                continue;
            };
            stream.write_rtp(write);
            Stats::add(&self.stats.packets_out, 1);
            Stats::add(&self.stats.bytes_out, packet.payload.len() as u64);
            // Drained with the rest of this batch (take_transmits).
            if !peer.subscribe.undrained {
                peer.subscribe.undrained = true;
                self.undrained.push(RtcKey { session: sub, side: Side::Subscribe });
            }
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

/// Bounds the retransmission history of the video send stream on `mid`
/// (its str0m default: 3 s, up to `send_buffer_video` packets) to
/// [`NACK_HISTORY`] / [`NACK_HISTORY_PACKETS`]. Called once, when the
/// stream is new: str0m drops the history it had.
fn limit_nack_history(rtc: &mut Rtc, mid: Mid) {
    if let Some(stream) = rtc.direct_api().stream_tx_by_mid(mid, None) {
        // 0.15: str0m's own cap on the share of resent bytes.
        stream.set_rtx_cache(NACK_HISTORY_PACKETS, NACK_HISTORY, Some(0.15));
    }
}

/// Whether a datagram is RTP (not RTCP, STUN or DTLS): RFC 7983 first
/// byte 128–191, and RFC 5761's payload types 192–223 are RTCP.
fn is_rtp(datagram: &[u8]) -> bool {
    matches!(datagram, [128..=191, b, ..] if !(192..=223).contains(b))
}

fn find_pt(rtc: &Rtc, codec: Codec) -> Option<Pt> {
    rtc.codec_config().params().iter().find(|p| p.spec().codec == codec).map(|p| p.pt())
}

fn source_name(source: Source) -> &'static str {
    match source {
        Source::Mic => "mic",
        Source::Camera => "camera",
        Source::Screen => "screen",
    }
}

/// How many stats intervals in a row a new connection quality must be
/// measured before it is announced.
const QUALITY_CONFIRMATIONS: u8 = 2;

/// The quality to announce after measuring `measured`, if it changes.
/// Everyone in the room is told, so only a quality that holds counts, not
/// every flap of a borderline connection (a room of 100 got hundreds of
/// updates in a burst); the first measurement is announced at once.
fn settle_quality(current: Quality, candidate: &mut (Quality, u8), measured: Quality) -> Option<Quality> {
    if measured == current {
        *candidate = (measured, 0);
        return None;
    }
    if candidate.0 == measured {
        candidate.1 += 1;
    } else {
        *candidate = (measured, 1);
    }
    if candidate.1 >= QUALITY_CONFIRMATIONS || current == Quality::Unknown {
        *candidate = (measured, 0);
        return Some(measured);
    }
    None
}

/// Connection quality from loss and round-trip time.
pub fn quality_of(loss: Option<f32>, rtt: Option<Duration>) -> Quality {
    let loss = loss.unwrap_or(0.0);
    let rtt = rtt.unwrap_or(Duration::ZERO);
    if loss < 0.02 && rtt < Duration::from_millis(250) {
        Quality::Good
    } else if loss < 0.08 && rtt < Duration::from_millis(500) {
        Quality::Fair
    } else {
        Quality::Poor
    }
}

fn quality_rank(q: Quality) -> u8 {
    match q {
        Quality::Unknown => 0,
        Quality::Good => 1,
        Quality::Fair => 2,
        Quality::Poor => 3,
    }
}

#[cfg(test)]
mod tests {
    use str0m::ice::{StunMessage, TransId};

    use super::*;

    fn engine(now: Instant) -> Engine {
        let config =
            EngineConfig { candidates: vec!["127.0.0.1:10000".parse().expect("addr")], last_n: 0, audio_slots: 3 };
        let cert = crate::sfu::dtls_certificate().expect("certificate");
        Engine::new(config, cert, Arc::new(Stats::default()), now)
    }

    fn join(e: &mut Engine, now: Instant, session: u64) -> SessionId {
        let session = SessionId(session);
        e.handle_command(now, MediaCommand::Join { session, room: RoomKey(1), participant: format!("p{}", session.0) });
        session
    }

    #[test]
    fn rtp_is_told_apart_from_rtcp_stun_and_dtls() {
        // VP8 with and without the marker bit, RTX, Opus.
        for second in [96u8, 96 | 0x80, 97, 111 | 0x80] {
            assert!(is_rtp(&[0x80, second, 0, 1]), "payload type byte {second}");
        }
        // RTCP sender report, receiver report, feedback; STUN; DTLS; empty.
        for datagram in [&[0x80u8, 200, 0, 6][..], &[0x81, 201], &[0x8f, 205], &[0, 1, 0, 0], &[22, 254, 253], &[]] {
            assert!(!is_rtp(datagram), "{datagram:?}");
        }
    }

    #[test]
    fn datagrams_nobody_claims_leave_no_state() {
        let now = Instant::now();
        let mut e = engine(now);
        join(&mut e, now, 1);
        let ufrag = e.demux.ufrags().pop().expect("the subscribe connection's ufrag");
        let forged = |username: &str| {
            let mut buf = vec![0u8; 1500];
            let msg = StunMessage::binding_request(username, TransId::new(), true, 1, 1, false);
            let n = msg.to_bytes(Some(b"not the password"), &mut buf, |_, _| [7; 20]).expect("serialize");
            buf.truncate(n);
            buf
        };
        let attacker: SocketAddr = "192.0.2.9:4444".parse().expect("addr");
        for data in [
            forged(&format!("{ufrag}:x")),
            forged("unknown:x"),
            vec![0x80, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3],
            vec![22, 254, 253, 0, 0],
            vec![],
            vec![255; 40],
        ] {
            e.handle_datagram(now, attacker, &data);
        }
        assert_eq!(e.address_count(), 0);
        assert_eq!(Stats::get(&e.stats.stun_refused), 1, "the forged request met the credential check");
        assert_eq!(Stats::get(&e.stats.datagrams_unclaimed), 5);
        assert_eq!(e.peer_count(), 1);
    }

    #[test]
    fn a_bad_publish_offer_is_refused_and_creates_nothing() {
        let now = Instant::now();
        let mut e = engine(now);
        let s = join(&mut e, now, 1);
        let connections = Stats::get(&e.stats.peer_connections);
        for sdp in ["", "v=0", "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendonly\r\n"] {
            let tracks = vec![PublishedTrack { mid: "0".into(), source: Source::Mic }];
            e.handle_command(now, MediaCommand::PublishOffer { session: s, sdp: sdp.into(), tracks });
            assert!(
                matches!(&e.take_events()[..], [MediaEvent::SdpRefused { session, .. }] if *session == s),
                "{sdp:?}"
            );
        }
        assert_eq!(Stats::get(&e.stats.peer_connections), connections);
        assert!(e.peers[&s].publish.is_none());
        assert_eq!(e.demux.connection_count(), 1, "only the subscribe connection");
    }

    #[test]
    fn leaving_forgets_every_connection_timeout_and_address() {
        let now = Instant::now();
        let mut e = engine(now);
        let a = join(&mut e, now, 1);
        let b = join(&mut e, now, 2);
        e.handle_timeout(now + Duration::from_millis(500));
        for s in [a, b] {
            e.handle_command(now, MediaCommand::Leave { session: s });
        }
        assert_eq!(e.peer_count(), 0);
        assert!(e.deadlines.is_empty() && e.graces.is_empty() && e.work.is_empty());
        assert_eq!((e.demux.connection_count(), e.address_count()), (0, 0));
        assert!(e.rooms.is_empty());
        assert_eq!(Stats::get(&e.stats.peer_connections), 0);
    }

    #[test]
    fn a_flapping_quality_is_not_announced_and_one_that_holds_is() {
        let mut c = (Quality::Unknown, 0);
        assert_eq!(settle_quality(Quality::Unknown, &mut c, Quality::Good), Some(Quality::Good));
        for _ in 0..10 {
            assert_eq!(settle_quality(Quality::Good, &mut c, Quality::Poor), None);
            assert_eq!(settle_quality(Quality::Good, &mut c, Quality::Good), None);
        }
        assert_eq!(settle_quality(Quality::Good, &mut c, Quality::Fair), None);
        assert_eq!(settle_quality(Quality::Good, &mut c, Quality::Poor), None);
        assert_eq!(settle_quality(Quality::Good, &mut c, Quality::Poor), Some(Quality::Poor));
    }

    #[test]
    fn quality_follows_loss_and_round_trip_time() {
        assert_eq!(quality_of(Some(0.0), Some(Duration::from_millis(30))), Quality::Good);
        assert_eq!(quality_of(Some(0.05), Some(Duration::from_millis(30))), Quality::Fair);
        assert_eq!(quality_of(Some(0.01), Some(Duration::from_millis(300))), Quality::Fair);
        assert_eq!(quality_of(Some(0.2), None), Quality::Poor);
        assert_eq!(quality_of(None, Some(Duration::from_secs(1))), Quality::Poor);
    }
}
