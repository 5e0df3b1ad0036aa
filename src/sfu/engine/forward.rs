//! Forwarding: every RTP packet a publisher sends goes, rewritten, to
//! the subscribers in its room that receive that source; and keyframe
//! requests go the other way, throttled.

use std::sync::Arc;
use std::time::Instant;

use str0m::media::{KeyframeRequest, KeyframeRequestKind, MediaKind};
use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite, Vp8Descriptor};

use super::{Engine, KeyframeKey, RtcKey, Side, SlotState};
use crate::protocol::Source;
use crate::room::SessionId;
use crate::sfu::layers::LAYERS;
use crate::sfu::rewrite::{Decision, InPacket};
use crate::stats::{Forwarded, Stats};

impl Engine {
    /// An RTP packet from a publisher: measure it, feed the speaker
    /// detector, and forward it to every subscriber in the room.
    pub(super) fn on_rtp(&mut self, now: Instant, session: SessionId, packet: RtpPacket) {
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
            match Vp8Descriptor::parse(&packet.payload) {
                Ok(d) => (d.starts_keyframe(&packet.payload), Some(d)),
                Err(_) => (false, None),
            }
        };
        let input = InPacket {
            layer,
            seq: *packet.seq_no,
            ts: packet.header.timestamp,
            keyframe,
            picture_id: vp8.and_then(|d| d.picture_id().map(|p| (p, vp8_picture_id_is_wide(&packet.payload)))),
            tl0: vp8.and_then(|d| d.tl0_pic_idx()),
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
            if let Some(d) = vp8 {
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

/// Whether a VP8 payload descriptor carries a 15-bit PictureID (M bit).
fn vp8_picture_id_is_wide(payload: &[u8]) -> bool {
    // X bit in byte 0, I bit in the extension byte, M bit in the PictureID.
    matches!(payload, [x, ext, pic, ..] if x & 0x80 != 0 && ext & 0x80 != 0 && pic & 0x80 != 0)
}
