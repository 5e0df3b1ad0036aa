//! Breakout rooms: rooms of a meeting that are found only through its main
//! room. Each is a room of its own for chat, participant lists and media
//! (the media server forwards only within a room: a move is a
//! [`MediaCommand::Move`], which keeps the participant's connections and
//! renegotiates what they receive). Moderators see every room and who is
//! where; participants see only their own room and its name.
//!
//! Breakout rooms count against `rooms.max_rooms`, and their participants
//! against the meeting's `rooms.max_participants`. They end with the
//! meeting, or when a moderator closes them all (everyone returns to the
//! main room).

use rand::seq::SliceRandom;
use zeroize::Zeroizing;

use super::{Clock, Effect, MediaCommand, Member, RoomKey, Rooms, SessionId, broadcast, error};
use crate::protocol::{BreakoutPlace, BreakoutRoom, ErrorCode, MAX_CHAT_CHARS, MAX_NAME_CHARS, Person, ServerMsg};

/// Most breakout rooms one meeting may have.
pub const MAX_BREAKOUT_ROOMS: usize = 50;

impl Rooms {
    pub(super) fn breakout_create(
        &mut self,
        moderator: SessionId,
        main: RoomKey,
        names: Vec<String>,
        out: &mut Vec<Effect>,
    ) {
        let names: Vec<Zeroizing<String>> = names.into_iter().map(Zeroizing::new).collect();
        let existing = self.rooms.get(&main).map_or(0, |r| r.controls.breakouts.len());
        if names.is_empty() || existing + names.len() > MAX_BREAKOUT_ROOMS {
            return error(out, moderator, ErrorCode::BadBreakout, "a meeting has 1 to 50 breakout rooms");
        }
        let valid = |n: &str| {
            let len = n.trim().chars().count();
            (1..=MAX_NAME_CHARS).contains(&len) && !n.chars().any(char::is_control)
        };
        if !names.iter().all(|n| valid(n)) {
            return error(out, moderator, ErrorCode::BadBreakout, "breakout room names are 1-64 characters");
        }
        if self.rooms.len() + names.len() > self.settings.max_rooms as usize {
            return error(out, moderator, ErrorCode::ServerFull, "the server has the most rooms allowed");
        }
        for name in names {
            let Some(key) = self.open_room(Zeroizing::new(String::new())) else {
                break;
            };
            let Some(m) = self.rooms.get_mut(&main) else {
                return;
            };
            m.controls.next_breakout += 1;
            let id = format!("b{}", m.controls.next_breakout);
            m.controls.breakouts.push(key);
            if let Some(r) = self.rooms.get_mut(&key) {
                r.controls.parent = Some(main);
                r.controls.breakout = Some((id, Zeroizing::new(name.trim().to_string())));
            }
        }
        self.notify_breakouts(main, out);
    }

    /// The room of the meeting with breakout id `id` (`None`: the main room).
    fn breakout_by_id(&self, main: RoomKey, id: Option<&str>) -> Option<RoomKey> {
        let Some(id) = id else {
            return Some(main);
        };
        let m = self.rooms.get(&main)?;
        m.controls
            .breakouts
            .iter()
            .copied()
            .find(|k| self.rooms.get(k).and_then(|r| r.controls.breakout.as_ref()).is_some_and(|(bid, _)| bid == id))
    }

    pub(super) fn breakout_assign(
        &mut self,
        moderator: SessionId,
        main: RoomKey,
        id: &str,
        to: Option<&str>,
        out: &mut Vec<Effect>,
    ) {
        let Some((from, target)) = self.find_in_meeting(main, id) else {
            return error(out, moderator, ErrorCode::UnknownParticipant, "no such participant in this meeting");
        };
        let Some(dest) = self.breakout_by_id(main, to) else {
            return error(out, moderator, ErrorCode::BadBreakout, "no such breakout room");
        };
        self.move_member(target, from, dest, out);
        self.notify_breakouts(main, out);
    }

    /// Spreads the main room's participants who do not moderate over the
    /// breakout rooms, at random and evenly (fullest rooms get the fewest).
    pub(super) fn breakout_random(&mut self, moderator: SessionId, main: RoomKey, out: &mut Vec<Effect>) {
        let rooms = self.rooms.get(&main).map(|r| r.controls.breakouts.clone()).unwrap_or_default();
        if rooms.is_empty() {
            return error(out, moderator, ErrorCode::BadBreakout, "create breakout rooms first");
        }
        let mut people: Vec<SessionId> = self
            .rooms
            .get(&main)
            .map(|r| r.members.values().filter(|m| !m.moderator).map(|m| m.session).collect())
            .unwrap_or_default();
        people.shuffle(&mut self.rng);
        let mut sizes: Vec<(usize, usize, RoomKey)> =
            rooms.iter().enumerate().map(|(i, k)| (self.rooms.get(k).map_or(0, |r| r.members.len()), i, *k)).collect();
        for session in people {
            // The emptiest room, the earliest among equals.
            let Some(slot) = sizes.iter_mut().min() else {
                break;
            };
            slot.0 += 1;
            let dest = slot.2;
            self.move_member(session, main, dest, out);
        }
        self.notify_breakouts(main, out);
    }

    pub(super) fn breakout_broadcast(
        &mut self,
        clock: Clock,
        moderator: SessionId,
        room: RoomKey,
        main: RoomKey,
        text: &str,
        out: &mut Vec<Effect>,
    ) {
        if text.trim().is_empty() || text.chars().count() > MAX_CHAT_CHARS {
            return error(out, moderator, ErrorCode::ChatRejected, "messages must be 1-2000 characters");
        }
        let Some(me) = self.rooms.get_mut(&room).and_then(|r| r.members.get_mut(&moderator)) else {
            return;
        };
        if !me.chat.take(clock.now, self.settings.chat_burst, self.settings.chat_per_second) {
            return error(out, moderator, ErrorCode::ChatRejected, "messages sent too fast");
        }
        let msg = ServerMsg::Broadcast {
            from: me.id.clone(),
            from_name: me.display_name.to_string(),
            text: text.to_string(),
            ts: clock.unix_ms,
        };
        broadcast(out, self.meeting_members(main), msg);
    }

    /// Closes every breakout room: everyone in one returns to the main room.
    pub(super) fn breakout_close_all(&mut self, main: RoomKey, out: &mut Vec<Effect>) {
        let rooms = self.rooms.get(&main).map(|m| m.controls.breakouts.clone()).unwrap_or_default();
        if rooms.is_empty() {
            return;
        }
        for key in &rooms {
            for session in self.members_of(*key) {
                self.move_member(session, *key, main, out);
            }
        }
        if let Some(m) = self.rooms.get_mut(&main) {
            m.controls.breakouts.clear();
        }
        for key in rooms {
            // The two who talked directly in a room send to the server again.
            self.p2p.close_room(key, out);
            self.destroy_room(key);
        }
        let msg = ServerMsg::Breakouts { rooms: Vec::new(), main: self.people_of(main) };
        broadcast(out, self.moderators(main), msg);
    }

    /// Moves a participant between two rooms of one meeting: each room's
    /// members see them leave or join; they get the new room's list; their
    /// media goes with them.
    fn move_member(&mut self, session: SessionId, from: RoomKey, to: RoomKey, out: &mut Vec<Effect>) {
        if from == to {
            return;
        }
        let Some(r) = self.rooms.get_mut(&from) else {
            return;
        };
        let Some(member) = r.members.remove(&session) else {
            return;
        };
        // Direct calls follow both rooms' membership.
        self.p2p.touch(from);
        self.p2p.touch(to);
        if r.speaker == Some(session) {
            r.speaker = None;
        }
        broadcast(out, r.members.keys().copied(), ServerMsg::ParticipantLeft { id: member.id.clone() });
        let Some(r) = self.rooms.get_mut(&to) else {
            // Cannot happen (callers move within a meeting); put them back.
            if let Some(back) = self.rooms.get_mut(&from) {
                back.members.insert(session, member);
            }
            return;
        };
        let public = member.public();
        broadcast(out, r.members.keys().copied(), ServerMsg::ParticipantJoined { participant: public });
        let participants = r.members.values().map(Member::public).collect();
        let place =
            r.controls.breakout.as_ref().map(|(id, name)| BreakoutPlace { id: id.clone(), name: name.to_string() });
        out.push(Effect::Send { to: session, msg: ServerMsg::Moved { room: place, participants } });
        if let Some(speaker) = r.speaker.and_then(|s| r.members.get(&s)) {
            out.push(Effect::Send { to: session, msg: ServerMsg::ActiveSpeaker { id: Some(speaker.id.clone()) } });
        }
        r.members.insert(session, member);
        if let Some(s) = self.sessions.get_mut(&session) {
            s.room = Some(to);
        }
        out.push(Effect::Media(MediaCommand::Move { session, room: to }));
    }

    fn people_of(&self, room: RoomKey) -> Vec<Person> {
        self.rooms
            .get(&room)
            .map(|r| {
                r.members
                    .values()
                    .map(|m| Person { id: m.id.clone(), display_name: m.display_name.to_string(), link: None })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The `breakouts` message of the meeting `main`.
    pub(super) fn breakouts_msg(&self, main: RoomKey) -> Option<ServerMsg> {
        let m = self.rooms.get(&main)?;
        let rooms = m
            .controls
            .breakouts
            .iter()
            .filter_map(|k| {
                let r = self.rooms.get(k)?;
                let (id, name) = r.controls.breakout.as_ref()?;
                Some(BreakoutRoom { id: id.clone(), name: name.to_string(), participants: self.people_of(*k) })
            })
            .collect();
        Some(ServerMsg::Breakouts { rooms, main: self.people_of(main) })
    }

    /// Tells every moderator who is where, when the meeting has breakout rooms.
    pub(super) fn notify_breakouts(&self, main: RoomKey, out: &mut Vec<Effect>) {
        if self.rooms.get(&main).is_none_or(|m| m.controls.breakouts.is_empty()) {
            return;
        }
        let Some(msg) = self.breakouts_msg(main) else {
            return;
        };
        broadcast(out, self.moderators(main), msg);
    }
}
