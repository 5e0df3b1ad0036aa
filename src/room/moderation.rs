//! Roles and moderator actions.
//!
//! - Who moderates: a host (a logged-in user who may host) always; in
//!   `open` mode the participant who opened the room; anyone a moderator
//!   grants it to. When the last moderator leaves the meeting, moderation
//!   passes to the logged-in participant who came first, else to the one
//!   who has been there longest.
//! - Every moderator message is checked here against the sender's session
//!   (never against anything the message says): from anyone else it is
//!   refused with `not_moderator` and changes nothing. Messages have no
//!   sender field at all, and unknown fields are refused, so a message
//!   cannot claim to come from someone else.
//! - A muted source is enforced by the media server, which stops
//!   forwarding it, until the participant turns it on again themselves
//!   (`unmute`); a moderator can only ask for that (`ask_unmute`). In a
//!   direct call the server carries no media; there the other browser,
//!   the only listener, plays a source only while the room shows it on.

use std::time::{Duration, Instant};

use zeroize::{Zeroize, Zeroizing};

use super::lobby::Ticket;
use super::{Clock, Effect, MediaCommand, RoomKey, Rooms, SessionId, error};
use crate::signal::protocol::{ByeReason, ClientMsg, ErrorCode, MAX_CHAT_CHARS, ServerMsg, Source};

/// How long an empty meeting is kept when its last participant lost the
/// connection (instead of leaving): those who reconnect with their ticket
/// find its password, lobby and roles as they were, and nobody can slip
/// into a locked meeting in the gap.
pub const MEETING_GRACE: Duration = Duration::from_secs(60);

/// Sources a moderator muted and the participant has not turned on again.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Forced {
    mic: bool,
    camera: bool,
    screen: bool,
}

impl Forced {
    /// What others may be shown, given what the participant reports.
    pub(super) fn apply(&self, mic: bool, camera: bool, screen: bool) -> (bool, bool, bool) {
        (mic && !self.mic, camera && !self.camera, screen && !self.screen)
    }

    fn slot(&mut self, source: Source) -> &mut bool {
        match source {
            Source::Mic => &mut self.mic,
            Source::Camera => &mut self.camera,
            Source::Screen => &mut self.screen,
        }
    }
}

/// What a meeting's main room holds beyond its members (breakout rooms
/// use `parent` and `breakout` only). Wiped with the room: the password and
/// names are `Zeroizing`.
#[derive(Debug, Default)]
pub(super) struct Controls {
    /// Of a breakout room: its meeting's main room.
    pub parent: Option<RoomKey>,
    /// Of a breakout room: its public id and name.
    pub breakout: Option<(String, Zeroizing<String>)>,
    /// Breakout rooms, in order of creation.
    pub breakouts: Vec<RoomKey>,
    pub next_breakout: u32,
    pub password: Option<Zeroizing<String>>,
    pub lobby: bool,
    /// Sessions in the lobby, in order of knocking.
    pub knocking: Vec<SessionId>,
    /// Sessions asked for the password.
    pub asked: Vec<SessionId>,
    pub tickets: Vec<Ticket>,
    /// Arrival counter for [`super::Member::seq`].
    pub next_seq: u64,
    /// Empty, kept for reconnecting participants until then.
    pub grace_until: Option<Instant>,
    /// End-to-end encrypted (see `super::e2ee`); once on, on until the meeting ends.
    pub e2ee: bool,
}

/// Messages only moderators may send.
fn moderators_only(msg: &ClientMsg) -> bool {
    matches!(
        msg,
        ClientMsg::Mute { .. }
            | ClientMsg::MuteAll { .. }
            | ClientMsg::AskUnmute { .. }
            | ClientMsg::Remove { .. }
            | ClientMsg::LowerHands {}
            | ClientMsg::EndMeeting {}
            | ClientMsg::GrantModerator { .. }
            | ClientMsg::SetPassword { .. }
            | ClientMsg::SetLobby { .. }
            | ClientMsg::LobbyAdmit { .. }
            | ClientMsg::LobbyDeny { .. }
            | ClientMsg::BreakoutCreate { .. }
            | ClientMsg::BreakoutAssign { .. }
            | ClientMsg::BreakoutRandom {}
            | ClientMsg::BreakoutBroadcast { .. }
            | ClientMsg::BreakoutCloseAll {}
            | ClientMsg::EnableE2ee {}
    )
}

impl Rooms {
    /// Messages of a participant beyond the call basics: private chat,
    /// unmuting oneself, and the moderator actions.
    pub(super) fn on_control(
        &mut self,
        clock: Clock,
        session: SessionId,
        room: RoomKey,
        msg: ClientMsg,
        out: &mut Vec<Effect>,
    ) {
        let main = self.meeting_of(room);
        let Some(me) = self.rooms.get(&room).and_then(|r| r.members.get(&session)) else {
            return;
        };
        if moderators_only(&msg) && !me.moderator {
            // Wipe what the message carried; nothing else happens.
            drop(msg_secrets(msg));
            return error(out, session, ErrorCode::NotModerator, "only moderators may do this");
        }
        match msg {
            ClientMsg::PrivateChat { to, mut text } => {
                self.private_chat(clock, room, session, &to, &text, out);
                text.zeroize();
            }
            ClientMsg::Unmute { source } => {
                if let Some(m) = self.rooms.get_mut(&room).and_then(|r| r.members.get_mut(&session))
                    && std::mem::replace(m.forced.slot(source), false)
                {
                    out.push(Effect::Media(MediaCommand::Mute { session, source, muted: false }));
                }
            }
            ClientMsg::Mute { id, source } => match self.find_in_meeting(main, &id) {
                Some((r, target)) => self.force_mute(r, target, source, session, room, out),
                None => unknown(out, session),
            },
            ClientMsg::MuteAll { source } => {
                let others: Vec<SessionId> = self.members_of(room).into_iter().filter(|s| *s != session).collect();
                for target in others {
                    self.force_mute(room, target, source, session, room, out);
                }
            }
            ClientMsg::AskUnmute { id, source } => match self.find_in_meeting(main, &id) {
                Some((_, target)) => {
                    let (by, by_name) = self.who(room, session);
                    out.push(Effect::Send { to: target, msg: ServerMsg::UnmuteRequest { source, by, by_name } });
                }
                None => unknown(out, session),
            },
            ClientMsg::Remove { id } => match self.find_in_meeting(main, &id) {
                Some((_, target)) if target == session => {
                    error(out, session, ErrorCode::UnknownParticipant, "to leave, send leave")
                }
                Some((r, target)) => self.remove(main, r, target, out),
                None => unknown(out, session),
            },
            ClientMsg::LowerHands {} => {
                for target in self.members_of(room) {
                    self.update_member(room, target, out, |m| std::mem::replace(&mut m.hand, false));
                }
            }
            ClientMsg::EndMeeting {} => self.close_meeting(main, true, out),
            ClientMsg::GrantModerator { id } => match self.find_in_meeting(main, &id) {
                Some((r, target)) => self.make_moderator(main, r, target, out),
                None => unknown(out, session),
            },
            ClientMsg::SetPassword { password } => {
                self.set_password(clock, session, main, password.map(Zeroizing::new), out)
            }
            ClientMsg::SetLobby { enabled } => self.set_lobby(clock, main, enabled, out),
            ClientMsg::LobbyAdmit { id } => self.lobby_admit(clock, session, main, &id, out),
            ClientMsg::LobbyDeny { id } => self.lobby_deny(session, main, &id, out),
            ClientMsg::BreakoutCreate { names } => self.breakout_create(session, main, names, out),
            ClientMsg::BreakoutAssign { id, room: to } => self.breakout_assign(session, main, &id, to.as_deref(), out),
            ClientMsg::BreakoutRandom {} => self.breakout_random(session, main, out),
            ClientMsg::BreakoutBroadcast { mut text } => {
                self.breakout_broadcast(clock, session, room, main, &text, out);
                text.zeroize();
            }
            ClientMsg::BreakoutCloseAll {} => self.breakout_close_all(main, out),
            ClientMsg::EnableE2ee {} => self.enable_e2ee(session, main, out),
            // Handled by `Rooms::on_message` (before joining, or direct calls).
            ClientMsg::Hello { .. }
            | ClientMsg::Rejoin { .. }
            | ClientMsg::Password { .. }
            | ClientMsg::PublishOffer { .. }
            | ClientMsg::SubscribeAnswer { .. }
            | ClientMsg::MediaState { .. }
            | ClientMsg::Hand { .. }
            | ClientMsg::Chat { .. }
            | ClientMsg::VideoSizes { .. }
            | ClientMsg::P2pOffer { .. }
            | ClientMsg::P2pAnswer { .. }
            | ClientMsg::P2pCandidate { .. }
            | ClientMsg::E2ee { .. }
            | ClientMsg::P2pReady { .. }
            | ClientMsg::P2pFailed { .. }
            | ClientMsg::Leave {} => {}
        }
    }

    /// The main room of the meeting `room` belongs to.
    pub(super) fn meeting_of(&self, room: RoomKey) -> RoomKey {
        self.rooms.get(&room).and_then(|r| r.controls.parent).unwrap_or(room)
    }

    /// The main room and the breakout rooms of the meeting `main`.
    pub(super) fn meeting_rooms(&self, main: RoomKey) -> Vec<RoomKey> {
        let mut rooms = vec![main];
        if let Some(r) = self.rooms.get(&main) {
            rooms.extend(r.controls.breakouts.iter().copied());
        }
        rooms
    }

    /// Participants of the meeting, in any of its rooms.
    pub(super) fn meeting_size(&self, main: RoomKey) -> usize {
        self.meeting_rooms(main).iter().filter_map(|k| self.rooms.get(k)).map(|r| r.members.len()).sum()
    }

    /// Every participant's session in the meeting.
    pub(super) fn meeting_members(&self, main: RoomKey) -> Vec<SessionId> {
        self.meeting_rooms(main).iter().flat_map(|k| self.members_of(*k)).collect()
    }

    pub(super) fn members_of(&self, room: RoomKey) -> Vec<SessionId> {
        self.rooms.get(&room).map(|r| r.members.keys().copied().collect()).unwrap_or_default()
    }

    /// The moderators' sessions in the meeting.
    pub(super) fn moderators(&self, main: RoomKey) -> Vec<SessionId> {
        self.meeting_rooms(main)
            .iter()
            .filter_map(|k| self.rooms.get(k))
            .flat_map(|r| r.members.values().filter(|m| m.moderator).map(|m| m.session))
            .collect()
    }

    /// The room and session of the participant with public id `id`.
    pub(super) fn find_in_meeting(&self, main: RoomKey, id: &str) -> Option<(RoomKey, SessionId)> {
        self.meeting_rooms(main).into_iter().find_map(|k| {
            let r = self.rooms.get(&k)?;
            r.members.values().find(|m| m.id == id).map(|m| (k, m.session))
        })
    }

    /// Public id and name of a participant.
    fn who(&self, room: RoomKey, session: SessionId) -> (String, String) {
        self.rooms
            .get(&room)
            .and_then(|r| r.members.get(&session))
            .map(|m| (m.id.clone(), m.display_name.to_string()))
            .unwrap_or_default()
    }

    /// A moderator mutes `source` of `target`: others see it off, the media
    /// server stops forwarding it, the target is told (its client turns it off).
    fn force_mute(
        &mut self,
        room: RoomKey,
        target: SessionId,
        source: Source,
        by: SessionId,
        by_room: RoomKey,
        out: &mut Vec<Effect>,
    ) {
        let Some(m) = self.rooms.get_mut(&room).and_then(|r| r.members.get_mut(&target)) else {
            return;
        };
        if std::mem::replace(m.forced.slot(source), true) {
            return;
        }
        out.push(Effect::Media(MediaCommand::Mute { session: target, source, muted: true }));
        self.update_member(room, target, out, |m| {
            let state = match source {
                Source::Mic => &mut m.mic,
                Source::Camera => &mut m.camera,
                Source::Screen => &mut m.screen,
            };
            std::mem::replace(state, false)
        });
        let (by, by_name) = self.who(by_room, by);
        out.push(Effect::Send { to: target, msg: ServerMsg::Muted { source, by, by_name } });
    }

    /// Removes `target` from the meeting; it cannot come back with its ticket.
    fn remove(&mut self, main: RoomKey, room: RoomKey, target: SessionId, out: &mut Vec<Effect>) {
        if let Some(id) = self.sessions.get(&target).map(|s| s.participant.clone()) {
            self.revoke_tickets(main, &id);
        }
        self.remove_member(room, target, out);
        self.sessions.remove(&target);
        out.push(Effect::Media(MediaCommand::Leave { session: target }));
        out.push(Effect::Send { to: target, msg: ServerMsg::Bye { reason: ByeReason::Removed } });
        out.push(Effect::Close { session: target });
    }

    fn make_moderator(&mut self, main: RoomKey, room: RoomKey, target: SessionId, out: &mut Vec<Effect>) {
        let mut granted = false;
        self.update_member(room, target, out, |m| {
            granted = !std::mem::replace(&mut m.moderator, true);
            granted
        });
        if granted {
            self.send_moderator_state(main, target, out);
        }
    }

    /// What a (new) moderator needs to see: the lobby and the breakout rooms.
    pub(super) fn send_moderator_state(&self, main: RoomKey, session: SessionId, out: &mut Vec<Effect>) {
        let Some(r) = self.rooms.get(&main) else {
            return;
        };
        if !r.controls.knocking.is_empty() {
            let mut lobby = Vec::new();
            self.notify_lobby(main, &mut lobby);
            out.extend(lobby.into_iter().filter(|e| matches!(e, Effect::Send { to, .. } if *to == session)));
        }
        if !r.controls.breakouts.is_empty()
            && let Some(msg) = self.breakouts_msg(main)
        {
            out.push(Effect::Send { to: session, msg });
        }
    }

    /// After a participant left the meeting (not moved within it): their
    /// role goes into their ticket; an empty meeting ends; a meeting
    /// without a moderator gets one.
    pub(super) fn after_member_left(&mut self, room: RoomKey, member: &super::Member, out: &mut Vec<Effect>) {
        let main = self.meeting_of(room);
        self.note_ticket_role(main, &member.id, member.moderator);
        if self.meeting_size(main) == 0 {
            // Kept for a while (`Settings::meeting_grace`); `leave` and the
            // moderators' `end_meeting` end it at once.
            match (self.now, self.rooms.get_mut(&main)) {
                (Some(now), Some(r)) => {
                    let until = now + self.settings.meeting_grace;
                    r.controls.grace_until = Some(until);
                    self.graces.insert((until, main));
                }
                _ => self.close_meeting(main, false, out),
            }
            return;
        }
        self.ensure_moderator(main, out);
        self.notify_breakouts(main, out);
    }

    /// Hands moderation on when nobody in the meeting has it: to the
    /// logged-in participant who came first, else to whoever came first.
    pub(super) fn ensure_moderator(&mut self, main: RoomKey, out: &mut Vec<Effect>) {
        if !self.moderators(main).is_empty() {
            return;
        }
        let next = self
            .meeting_rooms(main)
            .into_iter()
            .filter_map(|k| self.rooms.get(&k).map(|r| (k, r)))
            .flat_map(|(k, r)| r.members.values().map(move |m| ((!m.authenticated, m.seq), k, m.session)))
            .min();
        if let Some((_, room, session)) = next {
            self.make_moderator(main, room, session, out);
        }
    }

    /// Ends the meeting `main` if nobody is in it (it waits for reconnects).
    pub(super) fn close_if_empty(&mut self, main: RoomKey, out: &mut Vec<Effect>) {
        if self.rooms.contains_key(&main) && self.meeting_size(main) == 0 {
            self.close_meeting(main, false, out);
        }
    }

    /// Whether the meeting `main` waits, empty, for reconnecting participants.
    pub(super) fn in_grace(&self, main: RoomKey) -> bool {
        self.rooms.get(&main).is_some_and(|r| r.controls.grace_until.is_some())
    }

    /// Someone is in the meeting again: it is no longer waiting.
    pub(super) fn end_grace(&mut self, main: RoomKey) {
        if let Some(until) = self.rooms.get_mut(&main).and_then(|r| r.controls.grace_until.take()) {
            self.graces.remove(&(until, main));
        }
    }

    /// Ends the meetings whose grace is over.
    pub(super) fn expire_graces(&mut self, out: &mut Vec<Effect>) {
        let Some(now) = self.now else {
            return;
        };
        while let Some(&(until, main)) = self.graces.first() {
            if until > now {
                break;
            }
            self.graces.pop_first();
            if self.rooms.get(&main).is_some_and(|r| r.controls.grace_until == Some(until)) {
                self.close_meeting(main, false, out);
            }
        }
    }

    /// Ends the meeting: with `everyone`, tells every participant (`bye`,
    /// `meeting_ended`) and stops their media; those waiting at the door
    /// are told too. Then every room of the meeting is wiped.
    pub(super) fn close_meeting(&mut self, main: RoomKey, everyone: bool, out: &mut Vec<Effect>) {
        if everyone {
            for session in self.meeting_members(main) {
                self.sessions.remove(&session);
                out.push(Effect::Media(MediaCommand::Leave { session }));
                out.push(Effect::Send { to: session, msg: ServerMsg::Bye { reason: ByeReason::MeetingEnded } });
                out.push(Effect::Close { session });
            }
        }
        self.end_pending(main, out);
        self.end_grace(main);
        for key in self.meeting_rooms(main) {
            self.destroy_room(key);
        }
    }

    fn private_chat(
        &mut self,
        clock: Clock,
        room: RoomKey,
        session: SessionId,
        to: &str,
        text: &str,
        out: &mut Vec<Effect>,
    ) {
        if !self.settings.private_chat {
            return error(out, session, ErrorCode::PrivateChatDisabled, "private chat is turned off on this server");
        }
        if text.trim().is_empty() || text.chars().count() > MAX_CHAT_CHARS {
            return error(out, session, ErrorCode::ChatRejected, "chat text must be 1-2000 characters");
        }
        let Some(r) = self.rooms.get_mut(&room) else {
            return;
        };
        let Some(target) = r.members.values().find(|m| m.id == to && m.session != session).map(|m| m.session) else {
            return unknown(out, session);
        };
        let Some(me) = r.members.get_mut(&session) else {
            return;
        };
        if !me.chat.take(clock.now, self.settings.chat_burst, self.settings.chat_per_second) {
            return error(out, session, ErrorCode::ChatRejected, "chat messages sent too fast");
        }
        let msg = ServerMsg::PrivateChat {
            from: me.id.clone(),
            from_name: me.display_name.to_string(),
            to: to.to_string(),
            text: text.to_string(),
            ts: clock.unix_ms,
        };
        out.push(Effect::Send { to: target, msg: msg.clone() });
        out.push(Effect::Send { to: session, msg });
    }
}

fn unknown(out: &mut Vec<Effect>, session: SessionId) {
    error(out, session, ErrorCode::UnknownParticipant, "no such participant in this meeting");
}

/// Wipes the secrets a refused message carried.
fn msg_secrets(msg: ClientMsg) -> Option<Zeroizing<String>> {
    match msg {
        ClientMsg::SetPassword { password } => password.map(Zeroizing::new),
        ClientMsg::BreakoutBroadcast { text } => Some(Zeroizing::new(text)),
        _ => None,
    }
}

#[cfg(test)]
impl Rooms {
    /// Everything a moderator action could change, as text (tests compare
    /// it before and after a refused message).
    pub(super) fn digest(&self) -> String {
        let mut keys: Vec<&RoomKey> = self.rooms.keys().collect();
        keys.sort();
        let mut out = String::new();
        for k in keys {
            let r = &self.rooms[k];
            let c = &r.controls;
            out += &format!(
                "{k:?} name={:?} parent={:?} breakout={:?} breakouts={:?} locked={} lobby={} knocking={:?} asked={:?} tickets={}\n",
                r.name.as_str(),
                c.parent,
                c.breakout.as_ref().map(|(i, n)| (i.clone(), n.to_string())),
                c.breakouts,
                c.password.is_some(),
                c.lobby,
                c.knocking,
                c.asked,
                c.tickets.len()
            );
            for m in r.members.values() {
                out += &format!(
                    "  {:?} {} mod={} mic={} cam={} screen={} hand={} forced={:?}\n",
                    m.session, m.id, m.moderator, m.mic, m.camera, m.screen, m.hand, m.forced
                );
            }
        }
        let mut sessions: Vec<_> =
            self.sessions.iter().map(|(k, s)| format!("{k:?}:{:?}:{:?}", s.room, s.pending.is_some())).collect();
        sessions.sort();
        out += &sessions.join(",");
        out
    }
}
