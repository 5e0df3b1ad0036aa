//! Rooms in the media engine: who is in which forwarding room, moves
//! between rooms (breakout rooms), and rooms whose two members talk
//! directly (nothing is forwarded while they do).

use std::time::Instant;

use str0m::bwe::Bitrate;

use super::{Engine, INITIAL_BWE, Peer};
use crate::room::{RoomKey, SessionId};

impl Peer {
    /// The participant's room no longer talks directly (or they left such
    /// a room): nothing was sent to them while direct (see `drive`), so
    /// the estimate starts afresh, as for a new connection; and their
    /// browser sends to the server again from now on.
    pub(super) fn resume_after_direct(&mut self, now: Instant) {
        self.subscribe.rtc.bwe().reset(INITIAL_BWE);
        for h in &mut self.health {
            h.restart(now);
        }
    }
}

impl Engine {
    pub(super) fn move_peer(&mut self, now: Instant, session: SessionId, to: RoomKey) {
        let Some(peer) = self.peers.get_mut(&session) else {
            return;
        };
        let from = std::mem::replace(&mut peer.room, to);
        if from == to {
            return;
        }
        let was_direct = self.is_direct(from);
        self.leave_room(from, session);
        self.set_direct(now, to, false);
        if was_direct && let Some(peer) = self.peers.get_mut(&session) {
            // Out of a direct call (a breakout room of two closes): the
            // browser sends to the server again from now on.
            peer.resume_after_direct(now);
        }
        self.enter_room(to, session);
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
    pub(super) fn set_direct(&mut self, now: Instant, room: RoomKey, direct: bool) {
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
                peer.resume_after_direct(now);
            }
            // The m-lines go inactive (and `drive` holds back str0m's
            // padding) or back to sendonly; forwarding resumes once the browser has
            // answered, from keyframes.
            self.negotiate(now, s);
        }
    }

    pub(super) fn is_direct(&self, room: RoomKey) -> bool {
        self.rooms.get(&room).is_some_and(|r| r.direct)
    }

    pub(super) fn members(&self, room: RoomKey) -> Vec<SessionId> {
        self.rooms.get(&room).map(|r| r.members.clone()).unwrap_or_default()
    }

    pub(super) fn enter_room(&mut self, room: RoomKey, session: SessionId) {
        let r = self.rooms.entry(room).or_default();
        r.members.push(session);
        r.routes.mark_stale();
    }

    pub(super) fn leave_room(&mut self, room: RoomKey, session: SessionId) {
        if let Some(r) = self.rooms.get_mut(&room) {
            r.members.retain(|s| *s != session);
            r.routes.mark_stale();
            r.speaker.remove(session);
            if r.members.is_empty() {
                self.rooms.remove(&room);
            }
        }
    }
}
