//! Forwarding: every RTP packet a publisher sends goes, rewritten, to the
//! subscribers in its room that receive that source; keyframe requests go
//! the other way, throttled.
//!
//! The per-packet path is two hash lookups and a walk over exactly the
//! packet's receivers: [`Routes`] maps (publisher, source) to each
//! receiving subscriber and the index of the m-line (slot) it goes out on,
//! and each slot keeps the SSRC of its send stream. Nothing is allocated
//! and nothing is searched per packet.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use str0m::media::{KeyframeRequest, KeyframeRequestKind, MediaKind};
use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite, Vp8Descriptor};

use super::{Engine, KeyframeKey, Peer, RtcKey, Side, SlotState};
use crate::protocol::Source;
use crate::room::{RoomKey, SessionId};
use crate::sfu::layers::LAYERS;
use crate::sfu::rewrite::{Decision, InPacket, Vp8Fields};
use crate::stats::{Forwarded, Stats};

/// The fan-out index of one room: for each publisher and source, who
/// receives it and on which slot. Derived from the members' slots and kept
/// in step with them: every change of a room's membership or of a member's
/// slots ([`Engine::routes_changed`]) marks it stale, and it is rebuilt
/// before the next packet is forwarded (members × slots, on changes only).
#[derive(Default)]
pub(super) struct Routes {
    stale: bool,
    by_source: HashMap<(SessionId, Source), Vec<Route>>,
}

/// One receiver of a publisher's source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Route {
    subscriber: SessionId,
    /// The slot's index in the subscriber's `Peer::slots`.
    slot: usize,
}

impl Routes {
    /// The members or their slots changed.
    pub(super) fn mark_stale(&mut self) {
        self.stale = true;
    }

    /// Rebuilds the index from the slots of `members` if it is stale: a
    /// member's `Active` slot that carries another member's source.
    fn refresh(&mut self, members: &[SessionId], peers: &HashMap<SessionId, Peer>) {
        if !self.stale {
            return;
        }
        self.stale = false;
        self.by_source.clear();
        for publisher in members {
            for source in [Source::Mic, Source::Camera, Source::Screen] {
                self.by_source.insert((*publisher, source), Vec::new());
            }
        }
        for subscriber in members {
            let Some(peer) = peers.get(subscriber) else {
                continue;
            };
            for (slot, s) in peer.slots.iter().enumerate() {
                let Some(publisher) = s.publisher.filter(|p| p != subscriber) else {
                    continue;
                };
                if s.state == SlotState::Active
                    && let Some(routes) = self.by_source.get_mut(&(publisher, s.source))
                {
                    routes.push(Route { subscriber: *subscriber, slot });
                }
            }
        }
        self.by_source.retain(|_, routes| !routes.is_empty());
    }

    fn of(&self, publisher: SessionId, source: Source) -> &[Route] {
        self.by_source.get(&(publisher, source)).map_or(&[], Vec::as_slice)
    }
}

/// A publisher's packet, measured and classified.
pub(super) struct Incoming {
    pub(super) room: RoomKey,
    pub(super) source: Source,
    pub(super) kind: MediaKind,
    pub(super) simulcast: bool,
    pub(super) layer: u8,
    /// What the rewriters need to know of it.
    pub(super) input: InPacket,
    /// The header extensions forwarded with it.
    ext: ExtensionValues,
    vp8: Option<Vp8Descriptor>,
}

impl Engine {
    /// The membership of `room` or the slots of one of its members
    /// changed: the fan-out index is rebuilt before the next packet.
    pub(super) fn routes_changed(&mut self, room: RoomKey) {
        if let Some(r) = self.rooms.get_mut(&room) {
            r.routes.mark_stale();
        }
    }

    /// An RTP packet from a publisher: measure it, feed the speaker
    /// detector, and forward it to every subscriber in the room that
    /// receives its source.
    pub(super) fn on_rtp(&mut self, now: Instant, session: SessionId, packet: RtpPacket) {
        let Some(incoming) = self.receive(now, session, &packet) else {
            return;
        };
        self.record_packet(now, session, &packet, &incoming);
        if self.is_direct(incoming.room) {
            return;
        }
        self.fan_out(session, &packet, &incoming);
    }

    /// Measures a publisher's packet (rates per layer, the speaker
    /// detector) and classifies it; `None` when it goes to nobody (an
    /// unknown stream or rid, or a source a moderator muted).
    fn receive(&mut self, now: Instant, session: SessionId, packet: &RtpPacket) -> Option<Incoming> {
        let peer = self.peers.get_mut(&session)?;
        Stats::add(&self.stats.packets_in, 1);
        Stats::add(&self.stats.bytes_in, packet.payload.len() as u64);
        let ssrc = packet.header.ssrc;
        let (mid, rid) = match peer.ssrcs.get(&ssrc) {
            Some(ids) => *ids,
            None => {
                let found = peer
                    .publish
                    .as_mut()
                    .and_then(|pc| pc.rtc.direct_api().stream_rx(&ssrc).map(|s| (s.mid(), s.rid())))?;
                if peer.ssrcs.len() < 64 {
                    peer.ssrcs.insert(ssrc, found);
                }
                found
            }
        };
        // At most three tracks (mic, camera, screen).
        let track = peer.tracks.iter_mut().find(|t| t.mid == mid)?;
        let layer = if track.simulcast { rid.and_then(|r| self.rids.iter().position(|x| *x == r))? as u8 } else { 0 };
        let appeared = !track.meters[usize::from(layer)].active(now);
        track.meters[usize::from(layer)].add(now, packet.payload.len());
        let (source, kind, simulcast) = (track.source, track.kind, track.simulcast);
        if peer.muted.contains(&source) {
            // Muted by a moderator: forwarded to nobody, not even as a speaker.
            return None;
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
        Some(Incoming { room, source, kind, simulcast, layer, input, ext, vp8: vp8.and_then(|f| f.descriptor) })
    }

    /// Writes a publisher's packet, rewritten, to each subscriber that
    /// receives its source ([`Routes`]).
    fn fan_out(&mut self, publisher: SessionId, packet: &RtpPacket, p: &Incoming) {
        let Some(room) = self.rooms.get_mut(&p.room) else {
            return;
        };
        room.routes.refresh(&room.members, &self.peers);
        for route in room.routes.of(publisher, p.source) {
            let Some(peer) = self.peers.get_mut(&route.subscriber) else {
                continue;
            };
            if !peer.subscribe.rtc.is_connected() {
                continue;
            }
            let Some(slot) = peer.slots.get_mut(route.slot) else {
                continue;
            };
            debug_assert!(
                slot.publisher == Some(publisher) && slot.source == p.source && slot.state == SlotState::Active,
                "the fan-out index is in step with the slots"
            );
            let Some(pt) = slot.pt else {
                continue;
            };
            let Decision::Forward { out, switched } = slot.rewriter.forward(slot.target, &p.input) else {
                continue;
            };
            let layer = usize::from(p.layer);
            if switched {
                tracing::debug!(subscriber = route.subscriber.0, mid = %slot.mid, publisher = publisher.0, layer, "forwarding from a keyframe");
                slot.stats.select(if p.simulcast { Forwarded::Layer(layer) } else { Forwarded::Single });
            }
            slot.stats.count(p.simulcast.then_some(layer));
            let mut write = RtpWrite::new(pt, out.seq.into(), out.ts, packet.timestamp, Arc::clone(&packet.payload))
                .marker(packet.header.marker)
                .ext_vals(p.ext.clone())
                .nackable(p.kind == MediaKind::Video);
            if let Some(d) = p.vp8 {
                let mut patch = d.patch();
                if let Some(id) = out.picture_id {
                    patch = patch.picture_id(id);
                }
                if let Some(t) = out.tl0 {
                    patch = patch.tl0_pic_idx(t);
                }
                if let Ok(built) = patch.build() {
                    write = write.vp8_patch(built);
                }
            }
            let mut direct = peer.subscribe.rtc.direct_api();
            // The send stream by its SSRC (a map lookup), noted when the
            // m-line was negotiated; by mid (a scan over the subscriber's
            // streams) only if str0m replaced it since.
            if let Some(ssrc) = slot.ssrc
                && let Some(stream) = direct.stream_tx(&ssrc)
            {
                stream.write_rtp(write);
            } else if let Some(stream) = direct.stream_tx_by_mid(slot.mid, None) {
                slot.ssrc = Some(stream.ssrc());
                stream.write_rtp(write);
            } else {
                continue;
            }
            Stats::add(&self.stats.packets_out, 1);
            Stats::add(&self.stats.bytes_out, packet.payload.len() as u64);
            // Drained with the rest of this batch (take_transmits).
            if !peer.subscribe.undrained {
                peer.subscribe.undrained = true;
                self.undrained.push(RtcKey { session: route.subscriber, side: Side::Subscribe });
            }
        }
    }

    pub(super) fn on_keyframe_request(&mut self, now: Instant, session: SessionId, req: KeyframeRequest) {
        let Some(slot) = self.peers.get(&session).and_then(|p| p.slots.iter().find(|s| s.mid == req.mid)) else {
            return;
        };
        let layer = slot.rewriter.current().or(slot.target);
        let (publisher, source) = (slot.publisher, slot.source);
        if let (Some(layer), Some(publisher)) = (layer, publisher) {
            self.request_keyframe(now, publisher, source, layer, req.kind);
        }
    }

    /// Asks `publisher` for a keyframe on `layer` of `source`, at most once
    /// a second per layer (later ones are merged and sent when due).
    pub(super) fn request_keyframe(
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

    pub(super) fn send_keyframe_request(
        &mut self,
        now: Instant,
        (publisher, mid, layer): KeyframeKey,
        kind: KeyframeRequestKind,
    ) {
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
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use str0m::media::{MediaKind, Mid};

    use super::*;
    use crate::room::MediaCommand;
    use crate::sfu::engine::{EngineConfig, Slot};
    use crate::sfu::rewrite::Rewriter;
    use crate::stats::SubscriptionKey;

    fn engine(now: Instant) -> Engine {
        let config = EngineConfig {
            candidates: vec!["127.0.0.1:10000".parse().expect("addr")],
            tcp_candidates: Vec::new(),
            last_n: 0,
            audio_slots: 3,
        };
        let cert = crate::sfu::dtls_certificate().expect("certificate");
        Engine::new(config, cert, Arc::new(Stats::default()), now)
    }

    fn slot(mid: &str, publisher: Option<SessionId>, source: Source, state: SlotState) -> Slot {
        let kind = if source == Source::Mic { MediaKind::Audio } else { MediaKind::Video };
        Slot {
            mid: Mid::from(mid),
            kind,
            publisher,
            audio_slot: source == Source::Mic,
            named_for: None,
            source,
            state,
            rewriter: Rewriter::new(90_000),
            target: None,
            wanted: None,
            pt: None,
            ssrc: None,
            stats: Arc::default(),
            stats_key: SubscriptionKey { subscriber: String::new(), publisher: String::new(), source },
            inactive: false,
        }
    }

    fn routes(e: &mut Engine, room: RoomKey, publisher: SessionId, source: Source) -> Vec<(u64, usize)> {
        let r = e.rooms.get_mut(&room).expect("room");
        r.routes.refresh(&r.members, &e.peers);
        r.routes.of(publisher, source).iter().map(|r| (r.subscriber.0, r.slot)).collect()
    }

    #[test]
    fn the_fan_out_index_holds_exactly_the_active_slots_of_the_room_and_follows_changes() {
        let now = Instant::now();
        let mut e = engine(now);
        let [a, b, c, d] = [1, 2, 3, 4].map(SessionId);
        for (s, room) in [(a, 1), (b, 1), (c, 1), (d, 2)] {
            let participant = format!("p{}", s.0);
            e.handle_command(now, MediaCommand::Join { session: s, room: RoomKey(room), participant });
        }
        let peer = e.peers.get_mut(&b).expect("b");
        peer.slots = vec![
            slot("0", Some(a), Source::Camera, SlotState::Active),
            slot("1", Some(a), Source::Mic, SlotState::Negotiating),
            slot("2", Some(c), Source::Camera, SlotState::Active),
            slot("3", Some(d), Source::Screen, SlotState::Active),
            slot("4", Some(a), Source::Screen, SlotState::Stopping),
        ];
        e.peers.get_mut(&c).expect("c").slots = vec![slot("0", Some(a), Source::Camera, SlotState::Active)];
        e.routes_changed(RoomKey(1));
        assert_eq!(routes(&mut e, RoomKey(1), a, Source::Camera), [(2, 0), (3, 0)], "b and c, in join order");
        assert!(routes(&mut e, RoomKey(1), a, Source::Mic).is_empty(), "not negotiated yet");
        assert!(routes(&mut e, RoomKey(1), a, Source::Screen).is_empty(), "being stopped");
        assert_eq!(routes(&mut e, RoomKey(1), c, Source::Camera), [(2, 2)]);
        assert!(routes(&mut e, RoomKey(1), d, Source::Screen).is_empty(), "d is in another room");
        assert!(routes(&mut e, RoomKey(2), d, Source::Screen).is_empty(), "nobody there receives d");

        // c leaves the room: b's slot for c stays until b's connection is
        // renegotiated, yet c's packets go nowhere, and a's camera to b only.
        e.leave_room(RoomKey(1), c);
        assert!(routes(&mut e, RoomKey(1), c, Source::Camera).is_empty());
        assert_eq!(routes(&mut e, RoomKey(1), a, Source::Camera), [(2, 0)]);
    }
}
