//! Layer allocation: which simulcast layer of every video a subscriber
//! receives, from the size it renders the video at (`video_sizes`), its
//! bandwidth estimate, last-N and the active speaker. The decisions are
//! [`crate::sfu::layers`]'s; this gathers their inputs and applies them.

use std::time::Instant;

use str0m::bwe::Bitrate;
use str0m::media::{KeyframeRequestKind, MediaKind};

use super::{Engine, RtcKey, Side, SlotState};
use crate::protocol::{Source, VideoSize};
use crate::room::SessionId;
use crate::sfu::layers::{self, LAYERS, Want};
use crate::sfu::speaker;
use crate::stats::Forwarded;

impl Engine {
    pub(super) fn video_sizes(&mut self, now: Instant, session: SessionId, sizes: Vec<VideoSize>) {
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

    /// Chooses what `session` receives of every video: the layer that fits
    /// its rendered size, capped by its bandwidth estimate and by last-N.
    pub(super) fn reallocate(&mut self, now: Instant, session: SessionId) {
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
        let mut wanted_layers = Vec::new();
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
            wanted_layers.push(wanted.map(|l| l as u8));
        }
        let budget = peer.bwe.map(|b| b.saturating_sub(audio));
        let chosen = layers::allocate(budget, &wants);
        tracing::trace!(budget = ?budget, chosen = ?chosen, "layer allocation");
        let over_budget = budget.is_some_and(|b| layers::cost(&chosen, &wants) > b);
        let desired: u64 = wants.iter().filter_map(|w| layers::best_fit(w).map(|l| w.bps[l])).sum::<u64>() + audio;

        let mut keyframes = Vec::new();
        let Some(peer) = self.peers.get_mut(&session) else {
            return;
        };
        for ((i, choice), wanted) in slot_index.into_iter().zip(chosen).zip(wanted_layers) {
            let slot = &mut peer.slots[i];
            slot.wanted = wanted;
            // Every shown video gets at least its lowest layer, even when
            // the estimate is below what they cost. Then str0m's pacer,
            // pacing by the estimate, would only hold the packets back
            // (seen under CPU load: an estimate of 50 kbit/s held video for
            // seconds while audio flowed, docs/media.md): they go out
            // unpaced, like audio, until the estimate covers them again.
            if let Some(ssrc) = slot.ssrc
                && let Some(stream) = peer.subscribe.rtc.direct_api().stream_tx(&ssrc)
            {
                stream.set_unpaced(over_budget);
            }
            let target = choice.map(|l| l as u8);
            if slot.target != target {
                tracing::debug!(
                    session = session.0,
                    mid = %slot.mid,
                    publisher = ?slot.publisher.map(|p| p.0),
                    ?target,
                    current = ?slot.rewriter.current(),
                    "video layer target changed"
                );
            }
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
}
