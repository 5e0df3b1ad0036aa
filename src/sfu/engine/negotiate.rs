//! Negotiation: the publish connection's offers, the subscribe
//! connection's offers and answers, and who is in which audio slot.
//!
//! A subscribe connection carries one m-line per video (camera, screen
//! share) of everyone else in the room, and up to `media.audio_slots` audio
//! m-lines ([`crate::sfu::slots`]). One offer is outstanding at a time;
//! changes meanwhile are folded into the next one (`Peer::renegotiate`).
//! Every change of a subscriber's slots is reported to the room's fan-out
//! index ([`Engine::routes_changed`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use str0m::Rtc;
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Pt};

use super::{Engine, InTrack, NACK_HISTORY, NACK_HISTORY_PACKETS, Peer, RtcKey, Side, Slot, SlotState, guarded};
use crate::protocol::{AudioSlot, PublishedTrack, Source, SubscribedTrack};
use crate::room::{MediaEvent, RoomKey, SessionId};
use crate::sfu::layers;
use crate::sfu::rewrite::Rewriter;
use crate::sfu::sdp;
use crate::sfu::slots;
use crate::sfu::speaker::Ranked;
use crate::stats::{Stats, SubscriptionKey};

/// A video of someone else in the room, which a subscriber receives.
struct Video {
    publisher: SessionId,
    public_id: String,
    source: Source,
}

/// What one subscribe offer changes.
#[derive(Default)]
struct Plan {
    /// Live m-lines whose track ended: stopped.
    stop: Vec<Mid>,
    /// The first m-line, whose track ended: kept, inactive (`SlotState::Parked`).
    park: Option<Mid>,
    /// Live m-lines whose direction changes (a direct call began or ended).
    toggle: Vec<Mid>,
    /// Videos that get an m-line.
    add: Vec<Video>,
    /// Audio slots to add: each named after someone (their session and
    /// public id), or neutral.
    audio: Vec<Option<(SessionId, String)>>,
}

/// An m-line added by an offer.
struct Added {
    mid: Mid,
    kind: MediaKind,
    /// The video's publisher (`None`: an audio slot).
    publisher: Option<SessionId>,
    public_id: String,
    source: Source,
    named_for: Option<SessionId>,
}

impl Engine {
    pub(super) fn publish_offer(
        &mut self,
        now: Instant,
        session: SessionId,
        sdp_text: &str,
        tracks: Vec<PublishedTrack>,
    ) {
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
                    self.forget_connection(key);
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
        // What the publisher was told to send holds on the same connection
        // (the browser keeps a sender's parameters), and is told again.
        let caps: Vec<(Source, layers::SendCap)> = match new_pc {
            true => Vec::new(),
            false => peer.tracks.iter().map(|t| (t.source, t.cap.renegotiated())).collect(),
        };
        peer.tracks = tracks
            .iter()
            .zip(checked)
            .map(|(t, simulcast)| InTrack {
                mid: Mid::from(t.mid.as_str()),
                source: t.source,
                kind: if t.source == Source::Mic { MediaKind::Audio } else { MediaKind::Video },
                simulcast,
                meters: Default::default(),
                cap: caps.iter().find(|(s, _)| *s == t.source).map(|(_, c)| *c).unwrap_or_default(),
            })
            .collect();
        let changed = old != peer.tracks.iter().map(|t| (t.mid, t.source)).collect::<Vec<_>>();
        self.events.push(MediaEvent::PublishAnswer { session, sdp: sdp::outgoing(&answer.to_sdp_string()) });
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
    pub(super) fn negotiate(&mut self, now: Instant, session: SessionId) {
        let Some(room) = self.peers.get(&session).map(|p| p.room) else {
            return;
        };
        let (videos, microphones) = self.published_by_others(room, session);
        let audio_slots = self.config.audio_slots;
        let direct = self.is_direct(room);
        let Some(peer) = self.peers.get_mut(&session) else {
            return;
        };
        if peer.pending.is_some() {
            tracing::debug!(session = session.0, "subscribe offer outstanding; the change waits for its answer");
            peer.renegotiate = true;
            return;
        }
        peer.renegotiate = false;
        let Some(plan) = plan(peer, videos, microphones, audio_slots, direct) else {
            return;
        };
        let direction = if direct { Direction::Inactive } else { Direction::SendOnly };
        let mut change = peer.subscribe.rtc.sdp_api();
        for mid in &plan.stop {
            change.stop_media(*mid);
        }
        for mid in &plan.toggle {
            change.set_direction(*mid, direction);
        }
        if let Some(mid) = plan.park {
            change.set_direction(mid, Direction::Inactive);
        }
        let mut added = Vec::new();
        for video in plan.add {
            let (stream, track) = video_msid(&mut peer.received_before, &video.public_id, video.source);
            let kind = MediaKind::Video;
            let mid = change.add_media(kind, direction, Some(stream), Some(track), None);
            let Video { publisher, public_id, source } = video;
            added.push(Added { mid, kind, publisher: Some(publisher), public_id, source, named_for: None });
        }
        for namesake in &plan.audio {
            let (stream, track) = audio_msid(&mut peer.received_before, &mut peer.audio_slots_made, namesake);
            let mid = change.add_media(MediaKind::Audio, direction, Some(stream), Some(track), None);
            let named_for = namesake.as_ref().map(|(who, _)| *who);
            let (kind, source) = (MediaKind::Audio, Source::Mic);
            added.push(Added { mid, kind, publisher: None, public_id: String::new(), source, named_for });
        }
        let Some((offer, pending)) = change.apply() else {
            return;
        };
        peer.pending = Some(pending);
        tracing::debug!(session = session.0, stop = plan.stop.len(), add = added.len(), "subscribe offer made");
        self.record_offer(session, &plan.stop, &plan.toggle, plan.park, added, direct);
        self.routes_changed(room);
        let Some(peer) = self.peers.get(&session) else {
            return;
        };
        let tracks = peer
            .slots
            .iter()
            .filter(|s| s.is_live() && !s.audio_slot)
            .map(|s| SubscribedTrack {
                mid: s.mid.to_string(),
                participant: s.stats_key.publisher.clone(),
                source: s.source,
            })
            .collect();
        self.events.push(MediaEvent::SubscribeOffer { session, sdp: sdp::outgoing(&offer.to_sdp_string()), tracks });
        self.drive(now, RtcKey { session, side: Side::Subscribe });
        if !plan.audio.is_empty() {
            // Fill the new slots now, and tell the browser about them.
            self.assign_audio(now, session, true);
        }
    }

    /// Every video the others in `room` publish, and who of them has a
    /// microphone (audio goes to slots), in join order.
    fn published_by_others(&self, room: RoomKey, session: SessionId) -> (Vec<Video>, Vec<(SessionId, String)>) {
        let mut videos = Vec::new();
        let mut microphones = Vec::new();
        for other in self.rooms.get(&room).map(|r| r.members.as_slice()).unwrap_or_default() {
            if *other == session {
                continue;
            }
            let Some(p) = self.peers.get(other) else {
                continue;
            };
            for t in &p.tracks {
                if t.source == Source::Mic {
                    microphones.push((*other, p.public_id.clone()));
                } else {
                    videos.push(Video { publisher: *other, public_id: p.public_id.clone(), source: t.source });
                }
            }
        }
        (videos, microphones)
    }

    /// The subscribe offer was made: the m-lines it changes and adds take
    /// their new states (forwarded once answered).
    fn record_offer(
        &mut self,
        session: SessionId,
        stop: &[Mid],
        toggle: &[Mid],
        park: Option<Mid>,
        added: Vec<Added>,
        direct: bool,
    ) {
        let Some(peer) = self.peers.get_mut(&session) else {
            return;
        };
        for slot in peer.slots.iter_mut() {
            if stop.contains(&slot.mid) {
                slot.state = SlotState::Stopping;
            } else if toggle.contains(&slot.mid) {
                // Like a new m-line: forwarded again once answered.
                slot.state = SlotState::Negotiating;
                slot.inactive = direct;
            } else if Some(slot.mid) == park {
                slot.state = SlotState::Parked;
                slot.target = None;
                self.stats.end_subscription(&slot.stats_key);
            }
        }
        for a in added {
            let stats_key =
                SubscriptionKey { subscriber: peer.public_id.clone(), publisher: a.public_id, source: a.source };
            // An empty audio slot has counters of its own, registered only
            // while someone occupies it.
            let stats = if a.publisher.is_some() { self.stats.subscription(stats_key.clone()) } else { Arc::default() };
            let clock = if a.kind == MediaKind::Audio { 48_000 } else { 90_000 };
            peer.slots.push(Slot {
                mid: a.mid,
                kind: a.kind,
                publisher: a.publisher,
                audio_slot: a.publisher.is_none(),
                named_for: a.named_for,
                source: a.source,
                state: SlotState::Negotiating,
                rewriter: Rewriter::new(clock),
                target: None,
                wanted: None,
                pt: None,
                ssrc: None,
                stats,
                stats_key,
                inactive: direct,
            });
        }
    }

    pub(super) fn subscribe_answer(&mut self, now: Instant, session: SessionId, sdp_text: &str) {
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
        tracing::debug!(session = session.0, "subscribe answer accepted");
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
                slot.ssrc = peer.subscribe.rtc.direct_api().stream_tx_by_mid(slot.mid, None).map(|s| s.ssrc());
                slot.state = SlotState::Active;
                slot.pt = if slot.kind == MediaKind::Audio { opus } else { vp8 };
                if slot.kind == MediaKind::Audio {
                    slot.target = Some(0);
                }
            }
        }
        let (again, room) = (peer.renegotiate, peer.room);
        self.routes_changed(room);
        self.drive(now, RtcKey { session, side: Side::Subscribe });
        self.reallocate(now, session);
        if again {
            self.negotiate(now, session);
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
    pub(super) fn assign_room(&mut self, now: Instant, room: RoomKey) {
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
        let live = |s: &Slot| s.audio_slot && s.is_live();
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
        let mut switched = false;
        for ((slot, occupant), name) in peer.slots.iter_mut().filter(|s| live(s)).zip(after).zip(names) {
            if slot.publisher != occupant {
                switched = true;
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
        let room = peer.room;
        self.events.push(MediaEvent::AudioSlots { session, slots: map });
        if switched {
            self.routes_changed(room);
        }
    }
}

/// What a subscribe offer must change so that `peer` receives `videos` and
/// enough audio slots for `microphones`; `None` when nothing.
fn plan(
    peer: &Peer,
    videos: Vec<Video>,
    microphones: Vec<(SessionId, String)>,
    audio_slots: usize,
    direct: bool,
) -> Option<Plan> {
    let mut stop: Vec<Mid> = peer
        .slots
        .iter()
        .filter(|s| {
            s.is_live()
                && !s.audio_slot
                && !videos.iter().any(|v| Some(v.publisher) == s.publisher && v.source == s.source)
        })
        .map(|s| s.mid)
        .collect();
    let add: Vec<Video> = videos
        .into_iter()
        .filter(|v| !peer.slots.iter().any(|s| s.is_live() && s.publisher == Some(v.publisher) && s.source == v.source))
        .collect();
    // Audio slots are added while there are fewer than others with a
    // microphone, up to the limit, and never stopped: joins and leaves in a
    // big room change no m-line.
    let have = peer.slots.iter().filter(|s| s.is_live() && s.audio_slot).count();
    let new_audio_slots = microphones.len().min(audio_slots).saturating_sub(have);
    let toggle: Vec<Mid> = peer
        .slots
        .iter()
        .filter(|s| s.is_live() && s.inactive != direct && !stop.contains(&s.mid))
        .map(|s| s.mid)
        .collect();
    if stop.is_empty() && add.is_empty() && toggle.is_empty() && new_audio_slots == 0 {
        return None;
    }
    // Never stop the first m-line (see `SlotState::Parked`).
    let first = peer.slots.first().map(|s| s.mid);
    let park = first.filter(|m| stop.contains(m));
    stop.retain(|m| Some(*m) != park);
    // While everyone with a microphone gets a slot of their own, each new
    // slot is named after one of those who have none named after them yet,
    // with their camera's msid stream: the browser lip-syncs the two. In a
    // larger room a slot carries different people over time: its name is
    // neutral.
    let mut namesakes: Vec<(SessionId, String)> = if microphones.len() <= audio_slots {
        microphones
            .into_iter()
            .filter(|(who, _)| !peer.slots.iter().any(|s| s.is_live() && s.named_for == Some(*who)))
            .collect()
    } else {
        Vec::new()
    };
    namesakes.truncate(new_audio_slots);
    let mut namesakes = namesakes.into_iter();
    let audio = (0..new_audio_slots).map(|_| namesakes.next()).collect();
    Some(Plan { stop, park, toggle, add, audio })
}

/// The msid (stream, track) of a new video m-line. A publisher whose
/// m-line ended (or was parked) can be received again (breakout rooms):
/// browsers refuse an SDP in which two m-lines carry the same msid, so
/// later ones are numbered.
fn video_msid(
    received_before: &mut HashMap<(String, Source), u32>,
    public_id: &str,
    source: Source,
) -> (String, String) {
    let stream = if source == Source::Screen { format!("{public_id}-screen") } else { public_id.to_string() };
    let n = received_before.entry((public_id.to_string(), source)).or_insert(0);
    *n += 1;
    let track = match *n {
        1 => format!("{public_id}-{}", source_name(source)),
        n => format!("{public_id}-{}-{n}", source_name(source)),
    };
    (stream, track)
}

/// The msid (stream, track) of a new audio slot: its namesake's camera
/// stream (numbered like a camera's, see [`video_msid`]), or a neutral
/// `kabine-audio-N`.
fn audio_msid(
    received_before: &mut HashMap<(String, Source), u32>,
    slots_made: &mut u32,
    namesake: &Option<(SessionId, String)>,
) -> (String, String) {
    match namesake {
        Some((_, public_id)) => {
            let n = received_before.entry((public_id.clone(), Source::Mic)).or_insert(0);
            *n += 1;
            let track = match *n {
                1 => format!("{public_id}-mic"),
                n => format!("{public_id}-mic-{n}"),
            };
            (public_id.clone(), track)
        }
        None => {
            *slots_made += 1;
            let name = format!("kabine-audio-{slots_made}");
            (name.clone(), name)
        }
    }
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
