//! A meeting's life, in one place: a main room (found by name) and its
//! breakout rooms (found only through the main room), from the first join
//! to the moment it is wiped.
//!
//! - Opened by its first participant ([`Rooms::open_room`], after the
//!   access decision of `lobby`); joined through [`Rooms::join`], the one
//!   way in for everybody (hosts, guests past the door, rejoins);
//!   [`Rooms::admit`] and [`Rooms::remove_member`] put a member into a
//!   room and take them out (breakout moves use them too).
//! - After each departure ([`Rooms::after_member_left`]): the leaver's
//!   role goes into their ticket; a meeting left without a moderator gets
//!   one; an empty one waits [`MEETING_GRACE`] for people who lost the
//!   connection ([`Rooms::expire_graces`] ends it), or ends at once when
//!   its last participant sent `leave` ([`Rooms::close_if_empty`]).
//! - [`Rooms::close_meeting`] ends it: everyone's `bye`, those waiting at
//!   the door too, and every room of the meeting is wiped
//!   ([`Rooms::destroy_room`]).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use zeroize::{Zeroize, Zeroizing};

use super::lobby::Ticket;
use super::moderation::Forced;
use super::{Clock, Effect, MediaCommand, Member, Room, RoomKey, Rooms, SessionId, TokenBucket, broadcast, error};
use crate::protocol::{ByeReason, ErrorCode, PROTOCOL_VERSION, Quality, ServerMsg};

/// How long an empty meeting is kept when its last participant lost the
/// connection (instead of leaving): those who reconnect with their ticket
/// find its password, lobby and roles as they were, and nobody can slip
/// into a locked meeting in the gap.
pub const MEETING_GRACE: Duration = Duration::from_secs(60);

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
    /// The meeting's recording, asked for or running (see `recording`).
    pub recording: Option<super::recording::Recording>,
    /// End-to-end encrypted (see `super::e2ee`); once on, on until the meeting ends.
    pub e2ee: bool,
    /// Of an appointment room: the appointment's id (see `super::appointments`).
    pub appointment: Option<String>,
    /// Of an appointment room: who may share their screen (see `super::screen`).
    pub screen: super::screen::ScreenConsent,
}

impl Rooms {
    /// Opens a room called `key_name` (lower case); `None` when the server
    /// has the most rooms allowed.
    pub(super) fn open_room(&mut self, key_name: Zeroizing<String>) -> Option<RoomKey> {
        if self.rooms.len() >= self.settings.max_rooms as usize {
            return None;
        }
        let key = RoomKey(self.next_room);
        self.next_room += 1;
        if !key_name.is_empty() {
            self.by_name.insert(key_name.to_string(), key);
        }
        // A main room (it has a name) may start with its lobby on; under
        // `e2ee.mode = "required"` every meeting is end-to-end encrypted from its start.
        // An appointment room's lobby is always on: the therapist calls patients in.
        let appointment = self.appointments.by_room(&key_name).map(str::to_string);
        if appointment.is_some() {
            self.appointment_rooms.insert(key);
        }
        let controls = Controls {
            lobby: (self.settings.lobby_on_open && !key_name.is_empty()) || appointment.is_some(),
            e2ee: self.settings.e2ee == crate::config::E2eeMode::Required,
            appointment,
            ..Controls::default()
        };
        self.rooms.insert(key, Room { name: key_name, members: BTreeMap::new(), speaker: None, controls });
        Some(key)
    }

    /// A new member for `session`, not yet in any room.
    pub(super) fn new_member(
        &mut self,
        clock: Clock,
        session: SessionId,
        display_name: Zeroizing<String>,
    ) -> Option<Member> {
        let s = self.sessions.get(&session)?;
        Some(Member {
            session,
            id: s.participant.clone(),
            display_name,
            mic: false,
            camera: false,
            screen: false,
            hand: false,
            quality: Quality::Unknown,
            chat: TokenBucket::new(self.settings.chat_burst, clock.now),
            e2ee: TokenBucket::new(super::e2ee::burst(&self.settings), clock.now),
            moderator: false,
            authenticated: s.account.is_some(),
            host: s.account.as_ref().is_some_and(|a| a.may_host),
            toggles: TokenBucket::new(self.settings.toggle_burst, clock.now),
            dirty: false,
            seq: 0,
            forced: Forced::default(),
        })
    }

    /// Joins `session` to `room` as a participant (a moderator if
    /// `moderator`). False when the meeting is full (the session was told).
    pub(super) fn join(
        &mut self,
        clock: Clock,
        session: SessionId,
        room: RoomKey,
        display_name: Zeroizing<String>,
        moderator: bool,
        out: &mut Vec<Effect>,
    ) -> bool {
        let main = self.meeting_of(room);
        if self.meeting_size(main) >= self.meeting_limit(main) {
            error(out, session, ErrorCode::RoomFull, "the room has the most participants allowed");
            return false;
        }
        let Some(mut member) = self.new_member(clock, session, display_name) else {
            return false;
        };
        self.end_grace(main);
        // Outside open mode only a host moderates, whatever a ticket says.
        let moderator = moderator && self.may_moderate(&member);
        if let Some(s) = self.sessions.get_mut(&session) {
            s.waiting_since = None;
        }
        let Some(r) = self.rooms.get_mut(&main) else {
            return false;
        };
        member.moderator = moderator;
        member.seq = r.controls.next_seq;
        r.controls.next_seq += 1;
        let id = member.id.clone();
        self.admit(room, member, out);
        self.screen_on_join(main, session, out);
        let ticket = self.issue_ticket(main, &id, moderator);
        out.push(Effect::Send { to: session, msg: ServerMsg::Ticket { ticket } });
        if let Some(state) = self.room_state(main) {
            out.push(Effect::Send { to: session, msg: state });
        }
        self.recording_welcome(main, session, out);
        if moderator {
            self.send_moderator_state(main, session, out);
        }
        // Someone back in a meeting kept for reconnects may find no moderator.
        self.ensure_moderator(main, out);
        self.notify_breakouts(main, out);
        true
    }

    /// The ICE servers `session` is told of: the configured ones, and the
    /// server's own relay with credentials for this session only.
    fn ice_servers_for(&self, session: SessionId) -> Vec<crate::protocol::IceServerInfo> {
        let mut servers = self.settings.ice_servers.clone();
        if let Some(relay) = &self.settings.relay {
            servers.push(relay.for_session(session, self.unix_ms));
        }
        servers
    }

    /// Makes `member` a participant of `room`: welcomes them, tells the
    /// others, and prepares their media.
    pub fn admit(&mut self, room: RoomKey, member: Member, out: &mut Vec<Effect>) {
        let ice_servers = self.ice_servers_for(member.session);
        let e2ee = self.meeting_e2ee(room);
        let appointment = self.welcome_appointment(room, member.session);
        let Some(r) = self.rooms.get_mut(&room) else {
            return;
        };
        let session = member.session;
        if let Some(s) = self.sessions.get_mut(&session) {
            s.room = Some(room);
        }
        let joined = member.public();
        broadcast(out, r.members.keys().copied(), ServerMsg::ParticipantJoined { participant: joined.clone() });
        let participants = r.members.values().map(Member::public).collect();
        out.push(Effect::Send {
            to: session,
            msg: ServerMsg::Welcome {
                version: PROTOCOL_VERSION,
                you: joined.clone(),
                participants,
                ice_servers,
                last_n: self.settings.last_n,
                e2ee,
                appointment,
            },
        });
        if let Some(speaker) = r.speaker.and_then(|s| r.members.get(&s)) {
            out.push(Effect::Send { to: session, msg: ServerMsg::ActiveSpeaker { id: Some(speaker.id.clone()) } });
        }
        out.push(Effect::Media(MediaCommand::Join { session, room, participant: joined.id }));
        r.members.insert(session, member);
        self.p2p.touch(room);
    }

    /// Takes a participant out of their room, tells the others, and destroys
    /// the room if it is now empty. Media is the caller's business.
    pub fn remove_member(&mut self, key: RoomKey, session: SessionId, out: &mut Vec<Effect>) -> Option<Member> {
        if let Some(s) = self.sessions.get_mut(&session) {
            s.room = None;
        }
        let room = self.rooms.get_mut(&key)?;
        let member = room.members.remove(&session)?;
        self.p2p.touch(key);
        broadcast(out, room.members.keys().copied(), ServerMsg::ParticipantLeft { id: member.id.clone() });
        if room.speaker == Some(session) {
            room.speaker = None;
        }
        self.after_member_left(key, &member, out);
        Some(member)
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

    /// Whether `member` may hold moderator rights: in `open` mode anyone
    /// (the first to come, or whom a moderator names); in `secure` and
    /// `closed` mode only a logged-in host — never a guest.
    pub(super) fn may_moderate(&self, member: &Member) -> bool {
        self.settings.access_mode == crate::config::AccessMode::Open || member.host
    }

    /// Hands moderation on when nobody in the meeting has it: to the
    /// logged-in participant who came first, else (open mode only) to
    /// whoever came first. Outside open mode a meeting without a host
    /// present runs without a moderator until one comes back.
    pub(super) fn ensure_moderator(&mut self, main: RoomKey, out: &mut Vec<Effect>) {
        if !self.moderators(main).is_empty() {
            return;
        }
        let next = self
            .meeting_rooms(main)
            .into_iter()
            .filter_map(|k| self.rooms.get(&k).map(|r| (k, r)))
            .flat_map(|(k, r)| r.members.values().map(move |m| (k, m)))
            .filter(|(_, m)| self.may_moderate(m))
            .map(|(k, m)| ((!m.authenticated, m.seq), k, m.session))
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

    /// Forgets a room and wipes what it held.
    pub(super) fn destroy_room(&mut self, key: RoomKey) {
        self.appointment_rooms.remove(&key);
        if let Some(mut room) = self.rooms.remove(&key) {
            if let Some((mut name, _)) = self.by_name.remove_entry(room.name.as_str()) {
                name.zeroize();
            }
            if !room.name.is_empty() {
                // The next meeting of this name starts with clean counters.
                self.throttle.forget(crate::auth::throttle::Subject::Room(room.name.as_str()));
            }
            room.members.clear();
            // No direct call outlives its room (`end_meeting` with two in it).
            self.p2p.forget(key);
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
}
