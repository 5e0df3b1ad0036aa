//! Screen sharing with consent, in appointment rooms only (issue 19):
//! a patient's `screen_request` goes to the moderators (the therapist),
//! the therapist's to every patient present. The answer goes back to the
//! one who asked (`screen_answer`): a patient's request is decided by the
//! first moderator who answers; the therapist's is allowed once every
//! patient present allowed it, and refused at the first refusal.
//!
//! Enforced by the server: in an appointment room everyone's screen starts
//! muted at the media server (the moderator mute of `moderation`, which
//! also hides it from `media_state`, so a direct call's other browser does
//! not play it either). A permission lifts that mute; sharing without one
//! (a publish offer with a screen track, `media_state` with `screen`, or
//! `unmute` of the screen) is answered with `screen_not_allowed` and
//! nothing is forwarded. The permission ends when they stop sharing.

use std::collections::{BTreeMap, BTreeSet};

use super::{Effect, MediaCommand, RoomKey, Rooms, SessionId, error};
use crate::protocol::{ErrorCode, ServerMsg, Source};

/// Who may share their screen in an appointment meeting, and who asked.
#[derive(Debug, Default)]
pub(super) struct ScreenConsent {
    /// May share now.
    allowed: BTreeSet<SessionId>,
    /// Open requests: the one who asked → those whose answer is awaited.
    asks: BTreeMap<SessionId, BTreeSet<SessionId>>,
}

impl Rooms {
    /// An appointment meeting's new member starts with the screen muted.
    pub(super) fn screen_on_join(&mut self, main: RoomKey, session: SessionId, out: &mut Vec<Effect>) {
        if self.appointment_of(main).is_none() {
            return;
        }
        self.force_screen(session, true, out);
    }

    /// Mutes (or unmutes) the screen of `session` at the media server and
    /// in what others are shown.
    fn force_screen(&mut self, session: SessionId, muted: bool, out: &mut Vec<Effect>) {
        let Some(room) = self.sessions.get(&session).and_then(|s| s.room) else {
            return;
        };
        let Some(m) = self.rooms.get_mut(&room).and_then(|r| r.members.get_mut(&session)) else {
            return;
        };
        if !m.forced.set(Source::Screen, muted) {
            return;
        }
        out.push(Effect::Media(MediaCommand::Mute { session, source: Source::Screen, muted }));
        if muted {
            self.update_member(room, session, out, |m| std::mem::replace(&mut m.screen, false));
        }
    }

    /// Whether `session` may share its screen in the meeting `main`.
    pub(super) fn screen_allowed(&self, main: RoomKey, session: SessionId) -> bool {
        match self.rooms.get(&main) {
            Some(r) if r.controls.appointment.is_some() => r.controls.screen.allowed.contains(&session),
            _ => true,
        }
    }

    /// Sharing without a permission: told, and nothing is forwarded.
    pub(super) fn screen_refused(&self, session: SessionId, out: &mut Vec<Effect>) {
        error(out, session, ErrorCode::ScreenNotAllowed, "screen sharing needs the others' consent: ask first");
    }

    /// They stopped sharing: the permission ends.
    pub(super) fn screen_stopped(&mut self, main: RoomKey, session: SessionId, out: &mut Vec<Effect>) {
        let Some(r) = self.rooms.get_mut(&main) else {
            return;
        };
        if r.controls.appointment.is_some() && r.controls.screen.allowed.remove(&session) {
            self.force_screen(session, true, out);
        }
    }

    /// `screen_request`
    pub(super) fn screen_request(&mut self, room: RoomKey, session: SessionId, out: &mut Vec<Effect>) {
        let main = self.meeting_of(room);
        if self.appointment_of(main).is_none() {
            return error(out, session, ErrorCode::NotAllowed, "screen sharing needs no consent in this meeting");
        }
        let patient = |rooms: &Rooms, s: SessionId| rooms.sessions.get(&s).is_some_and(|x| x.link.is_some());
        let asked: BTreeSet<SessionId> = if patient(self, session) {
            self.moderators(main).into_iter().collect()
        } else {
            self.meeting_members(main).into_iter().filter(|s| *s != session && patient(self, *s)).collect()
        };
        let Some(me) = self.rooms.get(&room).and_then(|r| r.members.get(&session)) else {
            return;
        };
        let (id, name) = (me.id.clone(), me.display_name.to_string());
        if asked.is_empty() {
            // Nobody to ask (the therapist alone with no patient in).
            return self.screen_decided(main, session, true, name, out);
        }
        let to: Vec<SessionId> = asked.iter().copied().collect();
        if let Some(r) = self.rooms.get_mut(&main) {
            r.controls.screen.asks.insert(session, asked);
        }
        super::broadcast(out, to, ServerMsg::ScreenRequest { id, name });
    }

    /// `screen_answer` of `session` to the request of participant `id`.
    pub(super) fn screen_answer(
        &mut self,
        room: RoomKey,
        session: SessionId,
        id: &str,
        allow: bool,
        out: &mut Vec<Effect>,
    ) {
        let main = self.meeting_of(room);
        let requester = self.find_in_meeting(main, id).map(|(_, s)| s);
        let by_name = self.member(room, session).map(|m| m.display_name.to_string()).unwrap_or_default();
        let members: BTreeSet<SessionId> = self.meeting_members(main).into_iter().collect();
        let Some(r) = self.rooms.get_mut(&main) else {
            return;
        };
        let Some(requester) = requester.filter(|s| r.controls.screen.asks.get(s).is_some_and(|a| a.contains(&session)))
        else {
            return error(out, session, ErrorCode::UnknownParticipant, "no such screen request asks you");
        };
        let decided = match r.controls.screen.asks.get_mut(&requester) {
            Some(waiting) => {
                waiting.remove(&session);
                waiting.retain(|s| members.contains(s));
                // A patient's request: the first moderator decides.
                let by_moderator = self.sessions.get(&requester).is_some_and(|s| s.link.is_some());
                !allow || by_moderator || waiting.is_empty()
            }
            None => false,
        };
        if decided {
            if let Some(r) = self.rooms.get_mut(&main) {
                r.controls.screen.asks.remove(&requester);
            }
            self.screen_decided(main, requester, allow, by_name, out);
        }
    }

    fn screen_decided(
        &mut self,
        main: RoomKey,
        requester: SessionId,
        allow: bool,
        by_name: String,
        out: &mut Vec<Effect>,
    ) {
        if allow {
            if let Some(r) = self.rooms.get_mut(&main) {
                r.controls.screen.allowed.insert(requester);
            }
            self.force_screen(requester, false, out);
        }
        out.push(Effect::Send { to: requester, msg: ServerMsg::ScreenAnswer { allow, by_name } });
    }
}
