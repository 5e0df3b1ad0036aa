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

use zeroize::{Zeroize, Zeroizing};

use super::{Clock, Effect, MediaCommand, RoomKey, Rooms, SessionId, broadcast, error};
use crate::protocol::{ByeReason, ClientMsg, ErrorCode, MAX_CHAT_CHARS, ServerMsg, Source};

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

    /// Sets whether `source` is muted; true if that changed it.
    pub(super) fn set(&mut self, source: Source, muted: bool) -> bool {
        std::mem::replace(self.slot(source), muted) != muted
    }

    fn slot(&mut self, source: Source) -> &mut bool {
        match source {
            Source::Mic => &mut self.mic,
            Source::Camera => &mut self.camera,
            Source::Screen => &mut self.screen,
        }
    }
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
            | ClientMsg::LobbyMessage { .. }
            | ClientMsg::BreakoutCreate { .. }
            | ClientMsg::BreakoutAssign { .. }
            | ClientMsg::BreakoutRandom {}
            | ClientMsg::BreakoutBroadcast { .. }
            | ClientMsg::BreakoutCloseAll {}
            | ClientMsg::EnableE2ee {}
    )
}

/// Controls an appointment's meeting does without: its link decides who
/// comes in (a password would add nothing), and breakout rooms would let
/// patients talk without the therapist.
fn not_in_appointments(msg: &ClientMsg) -> bool {
    matches!(
        msg,
        ClientMsg::SetPassword { .. }
            | ClientMsg::BreakoutCreate { .. }
            | ClientMsg::BreakoutAssign { .. }
            | ClientMsg::BreakoutRandom {}
            | ClientMsg::BreakoutBroadcast { .. }
            | ClientMsg::BreakoutCloseAll {}
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
        if not_in_appointments(&msg) && self.appointment_of(main).is_some() {
            drop(msg_secrets(msg));
            return error(
                out,
                session,
                ErrorCode::NotAllowed,
                "a therapy session has no room password or breakout rooms",
            );
        }
        match msg {
            ClientMsg::PrivateChat { to, mut text } => {
                self.private_chat(clock, room, session, &to, &text, out);
                text.zeroize();
            }
            ClientMsg::Unmute { source: Source::Screen } if !self.screen_allowed(main, session) => {
                self.screen_refused(session, out)
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
            ClientMsg::EndMeeting {} => {
                self.end_appointment(main);
                self.close_meeting(main, true, out)
            }
            ClientMsg::GrantModerator { id } => match self.find_in_meeting(main, &id) {
                Some((r, target)) if self.member(r, target).is_some_and(|m| self.may_moderate(m)) => {
                    self.make_moderator(main, r, target, out)
                }
                Some(_) => {
                    error(out, session, ErrorCode::HostsOnly, "only logged-in hosts may moderate on this server")
                }
                None => unknown(out, session),
            },
            ClientMsg::SetPassword { password } => {
                self.set_password(clock, session, main, password.map(Zeroizing::new), out)
            }
            ClientMsg::SetLobby { enabled } => self.set_lobby(clock, session, main, enabled, out),
            ClientMsg::LobbyMessage { id, mut text } => {
                self.lobby_message(session, main, &id, &text, out);
                text.zeroize();
            }
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
            // Handled by `Rooms::on_message` (before joining, direct calls, recording).
            ClientMsg::RecordStart {}
            | ClientMsg::RecordStop {}
            | ClientMsg::RecordingConsent { .. }
            | ClientMsg::Hello { .. }
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
            | ClientMsg::ScreenRequest {}
            | ClientMsg::ScreenAnswer { .. }
            | ClientMsg::Leave {} => {}
        }
    }

    /// Private chat: as the server allows it, never in an appointment room.
    pub(super) fn private_chat_allowed(&self, main: RoomKey) -> bool {
        self.settings.private_chat && self.appointment_of(main).is_none()
    }

    pub(super) fn member(&self, room: RoomKey, session: SessionId) -> Option<&super::Member> {
        self.rooms.get(&room).and_then(|r| r.members.get(&session))
    }

    /// The login session behind `session` ended: it is a guest from now
    /// on. Outside open mode it stops moderating (another host present
    /// takes over, else nobody moderates until a host comes).
    pub(super) fn account_ended(&mut self, session: SessionId, out: &mut Vec<Effect>) {
        let Some(s) = self.sessions.get_mut(&session) else {
            return;
        };
        s.account = None;
        let Some(room) = s.room else {
            return;
        };
        let main = self.meeting_of(room);
        let open = self.settings.access_mode == crate::config::AccessMode::Open;
        let mut demoted = false;
        self.update_member(room, session, out, |m| {
            m.authenticated = false;
            m.host = false;
            demoted = m.moderator && !open;
            if demoted {
                m.moderator = false;
            }
            demoted
        });
        if demoted {
            if let Some(id) = self.sessions.get(&session).map(|s| s.participant.clone()) {
                self.note_ticket_role(main, &id, false);
            }
            self.ensure_moderator(main, out);
        }
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

    pub(super) fn make_moderator(&mut self, main: RoomKey, room: RoomKey, target: SessionId, out: &mut Vec<Effect>) {
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
        if !r.controls.knocking.is_empty()
            && self.moderators(main).contains(&session)
            && let Some(msg) = self.lobby_msg(main)
        {
            out.push(Effect::Send { to: session, msg });
        }
        if !r.controls.breakouts.is_empty()
            && let Some(msg) = self.breakouts_msg(main)
        {
            out.push(Effect::Send { to: session, msg });
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
        if !self.private_chat_allowed(self.meeting_of(room)) {
            return error(out, session, ErrorCode::PrivateChatDisabled, "private chat is turned off in this meeting");
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
        broadcast(out, [target, session], msg);
    }
}

fn unknown(out: &mut Vec<Effect>, session: SessionId) {
    error(out, session, ErrorCode::UnknownParticipant, "no such participant in this meeting");
}

/// Wipes the secrets a refused message carried.
fn msg_secrets(msg: ClientMsg) -> Option<Zeroizing<String>> {
    match msg {
        ClientMsg::SetPassword { password } => password.map(Zeroizing::new),
        ClientMsg::BreakoutBroadcast { text } | ClientMsg::LobbyMessage { text, .. } => Some(Zeroizing::new(text)),
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
