//! End-to-end encrypted meetings, as far as the server is concerned
//! (docs/e2ee.md): a flag per meeting, and the relay of the browsers' key
//! exchange.
//!
//! The server never has a key. It relays `e2ee` messages like the direct
//! call's `p2p_*` messages: opaque `data` (base64url, at most
//! [`MAX_E2EE_DATA_BYTES`]), the sender taken from its connection, only to
//! members of the sender's own room (one, or everyone else), only while the
//! meeting is end-to-end encrypted, within a per-participant rate limit.
//! Nothing of it is stored or logged.
//!
//! The flag: on from the start under `e2ee.mode = "required"`; turned on by
//! a moderator (`enable_e2ee`) under `"optional"`; never under `"off"`. Once
//! on it stays on until the meeting ends, and the meeting holds at most
//! `e2ee.max_participants`.

use super::{Clock, Effect, RoomKey, Rooms, SessionId, Settings, broadcast, error};
use crate::config::E2eeMode;
use crate::protocol::{ErrorCode, MAX_E2EE_DATA_BYTES, ParticipantId, ServerMsg};

/// `e2ee` messages a participant may send at once: a join costs each
/// member a `hello` and a `key` to the newcomer, and the newcomer a key to
/// everyone; a leave costs every member a key to everyone left; each change
/// of who is there costs everyone a `commit` and a `reveal`.
pub(super) fn burst(settings: &Settings) -> u32 {
    4 * settings.e2ee_max_participants + 16
}

/// `e2ee` messages per second a participant may send, sustained.
fn per_second(settings: &Settings) -> f64 {
    f64::from(2 * settings.e2ee_max_participants)
}

/// Whether `data` can be relayed: base64url, 1 to [`MAX_E2EE_DATA_BYTES`].
fn acceptable(data: &str) -> bool {
    !data.is_empty()
        && data.len() <= MAX_E2EE_DATA_BYTES
        && data.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Rooms {
    /// Whether the meeting of `room` is end-to-end encrypted.
    pub(super) fn meeting_e2ee(&self, room: RoomKey) -> bool {
        let main = self.meeting_of(room);
        self.rooms.get(&main).is_some_and(|r| r.controls.e2ee)
    }

    /// The most participants the meeting `main` may have now.
    pub(super) fn meeting_limit(&self, main: RoomKey) -> usize {
        let all = self.settings.max_participants;
        let mut limit = if self.meeting_e2ee(main) { all.min(self.settings.e2ee_max_participants) } else { all };
        if self.appointment_of(main).is_some() {
            // The therapist and at most `teletherapy.max_patients` patients.
            limit = limit.min(self.settings.teletherapy.max_patients + 1);
        }
        limit as usize
    }

    /// A moderator turns end-to-end encryption on for the meeting `main`.
    pub(super) fn enable_e2ee(&mut self, session: SessionId, main: RoomKey, out: &mut Vec<Effect>) {
        if self.settings.e2ee == E2eeMode::Off {
            return error(out, session, ErrorCode::E2eeUnavailable, "end-to-end encryption is off on this server");
        }
        if self.meeting_e2ee(main) {
            return;
        }
        if self.meeting_size(main) > self.settings.e2ee_max_participants as usize {
            return error(
                out,
                session,
                ErrorCode::E2eeUnavailable,
                "the meeting has more participants than end-to-end encryption allows",
            );
        }
        let Some(r) = self.rooms.get_mut(&main) else {
            return;
        };
        r.controls.e2ee = true;
        self.broadcast_room_state(main, out);
    }

    /// Relays one `e2ee` message of `session`, a member of `room`.
    pub(super) fn e2ee_relay(
        &mut self,
        clock: Clock,
        room: RoomKey,
        session: SessionId,
        to: Option<ParticipantId>,
        data: String,
        out: &mut Vec<Effect>,
    ) {
        if !self.meeting_e2ee(room) {
            return error(out, session, ErrorCode::E2eeUnavailable, "this meeting is not end-to-end encrypted");
        }
        if !acceptable(&data) {
            return error(out, session, ErrorCode::BadMessage, "e2ee data must be 1-1024 base64url characters");
        }
        let (burst, rate) = (burst(&self.settings), per_second(&self.settings));
        let Some(r) = self.rooms.get_mut(&room) else {
            return;
        };
        let Some(member) = r.members.get_mut(&session) else {
            return;
        };
        if !member.e2ee.take(clock.now, burst, rate) {
            return error(out, session, ErrorCode::BadMessage, "e2ee messages sent too fast");
        }
        let from = member.id.clone();
        match to {
            // Someone who just left (or never was here) gets nothing; the
            // sender learns of the leave by `participant_left` anyway.
            Some(id) => {
                if let Some(target) = r.members.values().find(|m| m.id == id && m.session != session) {
                    out.push(Effect::Send { to: target.session, msg: ServerMsg::E2ee { from, data } });
                }
            }
            // Serialised once for everyone ([`Effect::Broadcast`]).
            None => broadcast(out, r.members.keys().copied().filter(|s| *s != session), ServerMsg::E2ee { from, data }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::acceptable;

    #[test]
    fn only_short_base64url_data_is_relayed() {
        assert!(acceptable("AQEAAAAB-_09az"));
        assert!(!acceptable(""));
        assert!(!acceptable("has space"));
        assert!(!acceptable("pad=="));
        assert!(!acceptable("slash/plus+"));
        assert!(!acceptable(&"a".repeat(1025)));
        assert!(acceptable(&"a".repeat(1024)));
    }
}
