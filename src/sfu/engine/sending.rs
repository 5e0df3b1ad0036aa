//! Which simulcast layers each publisher needs to send: those some
//! subscriber's rendered size asks for (docs/protocol.md, *Layers nobody
//! receives*). The others would reach the server only to be dropped here;
//! the publisher is told (`send_layers`) and stops encoding them.
//!
//! Runs with the housekeeping, not per packet: one pass over every
//! subscriber's slots gathers what is needed, then each simulcast track's
//! [`crate::sfu::layers::SendCap`] decides what to tell.

use std::collections::HashMap;
use std::time::Instant;

use str0m::media::MediaKind;

use super::{Engine, SlotState};
use crate::protocol::Source;
use crate::room::{MediaEvent, SessionId};
use crate::sfu::layers::LAYERS;

impl Engine {
    /// Tells publishers whose needed layers changed (more at once, fewer
    /// after [`crate::sfu::layers::LOWER_AFTER`]).
    pub(super) fn update_send_layers(&mut self, now: Instant) {
        let needed = self.layers_needed();
        for (session, peer) in &mut self.peers {
            // A room that talks directly sends the server nothing; its
            // members' browsers pause every layer themselves.
            if self.rooms.get(&peer.room).is_none_or(|r| r.direct) {
                continue;
            }
            // A recorded participant sends every layer: the recording
            // takes the best one.
            let recorded = self.recording.includes(*session);
            for track in peer.tracks.iter_mut().filter(|t| t.simulcast) {
                let need = match recorded {
                    true => LAYERS as u8,
                    false => needed.get(&(*session, track.source)).copied().unwrap_or(1),
                };
                if let Some(layers) = track.cap.update(now, need) {
                    tracing::debug!(session = session.0, source = ?track.source, layers, "layers to send");
                    self.events.push(MediaEvent::SendLayers { session: *session, source: track.source, layers });
                }
            }
        }
    }

    /// For every (publisher, source) some subscriber shows: how many layers
    /// (1–3) the largest of those views asks for.
    fn layers_needed(&self) -> HashMap<(SessionId, Source), u8> {
        let mut needed: HashMap<(SessionId, Source), u8> = HashMap::new();
        for peer in self.peers.values() {
            for slot in &peer.slots {
                if slot.kind != MediaKind::Video || slot.state != SlotState::Active || slot.inactive {
                    continue;
                }
                let (Some(publisher), Some(wanted)) = (slot.publisher, slot.wanted) else {
                    continue;
                };
                let layers = needed.entry((publisher, slot.source)).or_insert(1);
                *layers = (*layers).max(wanted.saturating_add(1));
            }
        }
        needed
    }
}
