//! Who enters a meeting, and when.
//!
//! Every `hello` (and `rejoin`) goes through [`Rooms::enter`]:
//!
//! 1. The access decision ([`crate::auth::access::decide`]) from the access
//!    mode, the login session the connection came with (never from the
//!    message) and whether the room is open. Hosts open the room and join
//!    as moderators, past password and lobby; anonymous visitors in
//!    `closed` mode must log in; outside `open` mode guests who come before
//!    any host wait in a bounded, memory-only set per room name and go on
//!    by themselves when a host opens the room.
//! 2. Guests then come to the door of the meeting: [`Rooms::door`]
//!    decides (a valid rejoin ticket lets someone back in who was already
//!    let in; else the room password, checked through the login throttle,
//!    and then the lobby, where a moderator admits or denies) and
//!    [`Rooms::pass`] carries the decision out.
//! 3. In: [`Rooms::join`] (`meeting.rs`), the one way into a meeting.
//!
//! Rules that keep these coherent:
//! - Setting a password lets nobody in. Guests already knocking stay in
//!   the lobby; a moderator may still admit them, but if the lobby is
//!   turned off they must give the new password first.
//! - Removing the password sends those asked for it on to the lobby (or
//!   in, without a lobby); turning the lobby off lets in those knocking.
//! - Guests who waited for a host pass the same gate as everyone else once
//!   the host is in (a fresh room has neither password nor lobby).
//! - Everything waiting is bounded: per room by `rooms.max_participants`,
//!   rooms waited for by `rooms.max_rooms`.

use zeroize::{Zeroize, Zeroizing};

use super::{Clock, Effect, Room, RoomKey, Rooms, SessionId, broadcast, error};
use crate::auth::access::{self, Decision, Visitor};
use crate::auth::throttle::Subject;
use crate::protocol::{ByeReason, ErrorCode, MAX_NAME_CHARS, Person, ServerMsg, WaitReason};

/// Longest room password, in characters.
pub const MAX_PASSWORD_CHARS: usize = 128;
/// Rejoin tickets a meeting keeps at most (the oldest go first).
const MAX_TICKETS: usize = 1024;

/// A session that is not in a room yet.
#[derive(Debug)]
pub(super) enum Pending {
    /// Waits for a host to open the room `name` (lower case), with the
    /// ticket it came with, if any.
    Host { name: Zeroizing<String>, display_name: Zeroizing<String>, ticket: Option<Zeroizing<String>> },
    /// Was asked for the password of the meeting `room`.
    Password { room: RoomKey, display_name: Zeroizing<String> },
    /// Knocks at the lobby of the meeting `room`. `needs_password`: a
    /// password was set after they knocked (they have not given it).
    Lobby { room: RoomKey, display_name: Zeroizing<String>, needs_password: bool },
}

/// Where a guest goes at the door of a meeting (ticket, password, lobby):
/// decided by [`Rooms::door`] from the meeting's controls, carried out by
/// [`Rooms::pass`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Door {
    /// In, as a moderator or not (a ticket keeps the role it recorded).
    In { moderator: bool },
    /// Asked for the room password first.
    Password,
    /// Into the lobby, until a moderator admits or denies.
    Lobby,
    /// As many wait already as the meeting may have participants.
    Crowded,
}

/// A secret that lets a participant back into the meeting after a lost
/// connection, past password and lobby.
#[derive(Debug)]
pub(super) struct Ticket {
    secret: Zeroizing<String>,
    /// Public id of the participant it was last used by.
    participant: String,
    /// Was a moderator when last seen.
    moderator: bool,
}

impl Rooms {
    /// Step 1: the access decision for a valid `hello` to `key_name`.
    pub(super) fn enter(
        &mut self,
        clock: Clock,
        session: SessionId,
        key_name: Zeroizing<String>,
        display_name: Zeroizing<String>,
        ticket: Option<Zeroizing<String>>,
        out: &mut Vec<Effect>,
    ) {
        let Some(s) = self.sessions.get(&session) else {
            return;
        };
        let visitor = match &s.account {
            None => Visitor::Anonymous,
            Some(a) => Visitor::User { may_host: a.may_host },
        };
        // The account's name, when there is one: others see who really came.
        let display_name = s.account.as_ref().and_then(|a| account_name(&a.display_name)).unwrap_or(display_name);
        let existing = self.by_name.get(key_name.as_str()).copied();
        // A meeting that waits, empty, for reconnecting participants is not
        // open: outside open mode only a host reopens it.
        let open = existing.is_some_and(|k| !self.in_grace(k));
        match access::decide(self.settings.access_mode, visitor, open) {
            Decision::LoginRequired => {
                error(out, session, ErrorCode::LoginRequired, "this server asks everyone to log in first")
            }
            Decision::WaitForHost => self.wait_for_host(session, key_name, display_name, ticket, out),
            Decision::EnterAsHost => {
                let host = visitor == Visitor::User { may_host: true };
                let room = match existing {
                    // Open mode: whoever comes to a meeting kept for
                    // reconnects passes its password and lobby like a guest.
                    Some(room) if !host => return self.gate(clock, session, room, display_name, ticket, out),
                    Some(room) => room,
                    None => match self.open_room(key_name.clone()) {
                        Some(room) => room,
                        None => {
                            return error(out, session, ErrorCode::ServerFull, "the server has the most rooms allowed");
                        }
                    },
                };
                self.join(clock, session, room, display_name, true, out);
                self.release_waiting(clock, &key_name, room, out);
            }
            Decision::EnterAsGuest => match existing {
                Some(room) => self.gate(clock, session, room, display_name, ticket, out),
                None => error(out, session, ErrorCode::Internal, "the room is gone"),
            },
        }
    }

    /// Step 2 for guests: through the door of the meeting `room`.
    pub(super) fn gate(
        &mut self,
        clock: Clock,
        session: SessionId,
        room: RoomKey,
        display_name: Zeroizing<String>,
        ticket: Option<Zeroizing<String>>,
        out: &mut Vec<Effect>,
    ) {
        let door = self.door(room, ticket.as_ref().map(|t| t.as_str()));
        if matches!(door, Door::Password | Door::Lobby) && !self.address_may_wait(session) {
            return too_many_waiting(out, session);
        }
        self.pass(clock, session, room, display_name, door, out);
    }

    /// Whether the address of `session` may have one more session waiting
    /// (`rooms.max_waiting_per_address`). Counted over the sessions that
    /// wait now, so nothing needs undoing when one stops waiting.
    fn address_may_wait(&self, session: SessionId) -> bool {
        let Some(key) = self.sessions.get(&session).and_then(|s| s.source_key) else {
            return true;
        };
        let waiting = self.sessions.values().filter(|s| s.pending.is_some() && s.source_key == Some(key)).count();
        waiting < self.settings.max_waiting_per_address as usize
    }

    /// Sends away the sessions that waited longer than `rooms.max_wait_minutes`.
    pub(super) fn expire_waiting(&mut self, now: std::time::Instant, out: &mut Vec<Effect>) {
        let max = self.settings.max_wait;
        let mut expired: Vec<SessionId> = self
            .sessions
            .iter()
            // A patient with an appointment link waits as long as the link works
            // (`appointments::settle_links` sends them away when it stops).
            .filter(|(_, s)| s.pending.is_some() && s.link.is_none())
            .filter(|(_, s)| s.waiting_since.is_some_and(|t| now.saturating_duration_since(t) >= max))
            .map(|(k, _)| *k)
            .collect();
        expired.sort();
        for session in expired {
            self.drop_pending(session, out);
            self.sessions.remove(&session);
            out.push(Effect::Send { to: session, msg: ServerMsg::Bye { reason: ByeReason::WaitExpired } });
            out.push(Effect::Close { session });
        }
    }

    /// Where a guest goes at the door of the meeting `room`: in with a
    /// valid ticket (used up here), else asked for the password if there
    /// is one, else [`Rooms::door_past_password`].
    fn door(&mut self, room: RoomKey, ticket: Option<&str>) -> Door {
        if let Some(ticket) = ticket
            && let Some(moderator) = self.redeem_ticket(room, ticket)
        {
            return Door::In { moderator };
        }
        match self.rooms.get(&room) {
            Some(r) if r.controls.password.is_some() => self.unless_crowded(r, Door::Password),
            _ => self.door_past_password(room),
        }
    }

    /// Where a guest goes who gave the password (or there is none): to the
    /// lobby if it is on, else in.
    fn door_past_password(&self, room: RoomKey) -> Door {
        match self.rooms.get(&room) {
            Some(r) if r.controls.lobby => self.unless_crowded(r, Door::Lobby),
            _ => Door::In { moderator: false },
        }
    }

    /// `door`, unless as many wait at the password and in the lobby as the
    /// meeting may have participants.
    fn unless_crowded(&self, r: &Room, door: Door) -> Door {
        let waiting = r.controls.knocking.len() + r.controls.asked.len();
        if waiting >= self.settings.max_participants as usize { Door::Crowded } else { door }
    }

    /// Takes `session` through `door` of the meeting `room`.
    fn pass(
        &mut self,
        clock: Clock,
        session: SessionId,
        room: RoomKey,
        display_name: Zeroizing<String>,
        door: Door,
        out: &mut Vec<Effect>,
    ) {
        match door {
            Door::In { moderator } => {
                self.join(clock, session, room, display_name, moderator, out);
            }
            Door::Crowded => error(out, session, ErrorCode::RoomFull, "too many people are waiting to join this room"),
            Door::Password => {
                if let Some(r) = self.rooms.get_mut(&room) {
                    r.controls.asked.push(session);
                }
                self.set_pending(session, Pending::Password { room, display_name });
                let msg = ServerMsg::PasswordRequired { wrong: false, retry_after_secs: 0 };
                out.push(Effect::Send { to: session, msg });
            }
            Door::Lobby => {
                if let Some(r) = self.rooms.get_mut(&room) {
                    r.controls.knocking.push(session);
                }
                self.set_pending(session, Pending::Lobby { room, display_name, needs_password: false });
                out.push(Effect::Send { to: session, msg: ServerMsg::Waiting { reason: WaitReason::Lobby } });
                self.notify_lobby(room, out);
            }
        }
    }

    fn set_pending(&mut self, session: SessionId, pending: Pending) {
        let now = self.now;
        if let Some(s) = self.sessions.get_mut(&session) {
            s.pending = Some(pending);
            // The wait is measured from the first door, not each move.
            if s.waiting_since.is_none() {
                s.waiting_since = now;
            }
        }
    }

    pub(super) fn wait_for_host(
        &mut self,
        session: SessionId,
        key_name: Zeroizing<String>,
        display_name: Zeroizing<String>,
        ticket: Option<Zeroizing<String>>,
        out: &mut Vec<Effect>,
    ) {
        let queued = self.waiting.get(key_name.as_str()).map(Vec::len);
        match queued {
            None if self.waiting.len() >= self.settings.max_rooms as usize => {
                return error(out, session, ErrorCode::ServerFull, "too many rooms are waiting for their host");
            }
            Some(n) if n >= self.settings.max_participants as usize => {
                return error(out, session, ErrorCode::RoomFull, "too many people are waiting for this room's host");
            }
            _ => {}
        }
        if !self.address_may_wait(session) {
            return too_many_waiting(out, session);
        }
        self.waiting.entry(key_name.to_string()).or_default().push(session);
        self.set_pending(session, Pending::Host { name: key_name, display_name, ticket });
        out.push(Effect::Send { to: session, msg: ServerMsg::Waiting { reason: WaitReason::Host } });
    }

    /// A host opened `room`: everyone who waited for it goes on through the gate.
    fn release_waiting(&mut self, clock: Clock, key_name: &str, room: RoomKey, out: &mut Vec<Effect>) {
        let Some((mut name, sessions)) = self.waiting.remove_entry(key_name) else {
            return;
        };
        name.zeroize();
        for session in sessions {
            let Some(s) = self.sessions.get_mut(&session) else {
                continue;
            };
            if let Some(Pending::Host { display_name, ticket, .. }) = s.pending.take() {
                // Already waiting: no new place is taken, no per-address check.
                let door = self.door(room, ticket.as_ref().map(|t| t.as_str()));
                self.pass(clock, session, room, display_name, door, out);
            }
        }
    }

    /// Messages from a session that waits (for a host, the password, the lobby).
    pub(super) fn on_pending_message(
        &mut self,
        clock: Clock,
        session: SessionId,
        msg: crate::protocol::ClientMsg,
        out: &mut Vec<Effect>,
    ) {
        use crate::protocol::ClientMsg;
        match msg {
            ClientMsg::Password { password } => {
                let password = Zeroizing::new(password);
                self.check_password(clock, session, &password, out);
            }
            ClientMsg::Leave {} => {
                self.drop_pending(session, out);
                self.sessions.remove(&session);
                out.push(Effect::Send { to: session, msg: ServerMsg::Bye { reason: ByeReason::Left } });
                out.push(Effect::Close { session });
            }
            ClientMsg::Hello { .. } | ClientMsg::Rejoin { .. } => {
                error(out, session, ErrorCode::NotJoined, "already waiting to join")
            }
            _ => error(out, session, ErrorCode::NotJoined, "not in the meeting yet"),
        }
    }

    fn check_password(&mut self, clock: Clock, session: SessionId, password: &str, out: &mut Vec<Effect>) {
        let Some(s) = self.sessions.get(&session) else {
            return;
        };
        let (Some(Pending::Password { room, .. }), source) = (&s.pending, s.source) else {
            return error(out, session, ErrorCode::NotJoined, "no password was asked for");
        };
        let room = *room;
        let Some(r) = self.rooms.get(&room) else {
            return;
        };
        let Some(expected) = r.controls.password.as_ref() else {
            return;
        };
        let subject = Subject::Room(r.name.as_str());
        // Reserved before comparing: a throttled guess is not even looked at.
        let attempt = match self.throttle.reserve_at(source, subject, clock.now) {
            Ok(attempt) => attempt,
            Err(retry) => {
                let msg = ServerMsg::PasswordRequired { wrong: false, retry_after_secs: retry.secs() };
                return out.push(Effect::Send { to: session, msg });
            }
        };
        if !constant_time_eq(password.as_bytes(), expected.as_bytes()) {
            attempt.failed();
            let msg = ServerMsg::PasswordRequired { wrong: true, retry_after_secs: 0 };
            return out.push(Effect::Send { to: session, msg });
        }
        attempt.succeeded();
        let Some(Pending::Password { display_name, .. }) =
            self.sessions.get_mut(&session).and_then(|s| s.pending.take())
        else {
            return;
        };
        if let Some(r) = self.rooms.get_mut(&room) {
            r.controls.asked.retain(|s| *s != session);
        }
        let door = self.door_past_password(room);
        self.pass(clock, session, room, display_name, door, out);
    }

    /// Forgets where `session` waited (it left or closed).
    pub(super) fn drop_pending(&mut self, session: SessionId, out: &mut Vec<Effect>) {
        let Some(pending) = self.sessions.get_mut(&session).and_then(|s| s.pending.take()) else {
            return;
        };
        match pending {
            Pending::Host { name, .. } => {
                if let Some(list) = self.waiting.get_mut(name.as_str()) {
                    list.retain(|s| *s != session);
                    if list.is_empty()
                        && let Some((mut key, _)) = self.waiting.remove_entry(name.as_str())
                    {
                        key.zeroize();
                    }
                }
            }
            Pending::Password { room, .. } => {
                if let Some(r) = self.rooms.get_mut(&room) {
                    r.controls.asked.retain(|s| *s != session);
                }
            }
            Pending::Lobby { room, .. } => {
                if let Some(r) = self.rooms.get_mut(&room) {
                    r.controls.knocking.retain(|s| *s != session);
                }
                self.notify_lobby(room, out);
            }
        }
    }

    /// Ends the wait of everyone asked for the password or knocking at
    /// `main` (the meeting ended).
    pub(super) fn end_pending(&mut self, main: RoomKey, out: &mut Vec<Effect>) {
        let Some(r) = self.rooms.get_mut(&main) else {
            return;
        };
        let mut sessions = std::mem::take(&mut r.controls.knocking);
        sessions.append(&mut r.controls.asked);
        for session in sessions {
            self.sessions.remove(&session);
            out.push(Effect::Send { to: session, msg: ServerMsg::Bye { reason: ByeReason::MeetingEnded } });
            out.push(Effect::Close { session });
        }
    }

    /// The public id and name of a waiting session.
    fn pending_person(&self, session: SessionId) -> Option<Person> {
        let s = self.sessions.get(&session)?;
        let name = match s.pending.as_ref()? {
            Pending::Host { display_name, .. }
            | Pending::Password { display_name, .. }
            | Pending::Lobby { display_name, .. } => display_name,
        };
        Some(Person { id: s.participant.clone(), display_name: name.to_string(), link: self.link_label(session) })
    }

    /// Tells every moderator of the meeting who knocks.
    pub(super) fn notify_lobby(&self, main: RoomKey, out: &mut Vec<Effect>) {
        if let Some(msg) = self.lobby_msg(main) {
            broadcast(out, self.moderators(main), msg);
        }
    }

    /// The `lobby` message of the meeting `main`: everyone knocking.
    pub(super) fn lobby_msg(&self, main: RoomKey) -> Option<ServerMsg> {
        let r = self.rooms.get(&main)?;
        let knocking: Vec<Person> = r.controls.knocking.iter().filter_map(|s| self.pending_person(*s)).collect();
        Some(ServerMsg::Lobby { knocking })
    }

    /// The knocking session with public id `id`.
    fn knocker(&self, main: RoomKey, id: &str) -> Option<SessionId> {
        let r = self.rooms.get(&main)?;
        r.controls.knocking.iter().copied().find(|s| self.sessions.get(s).is_some_and(|x| x.participant == id))
    }

    /// A moderator lets a knocking guest in.
    pub(super) fn lobby_admit(
        &mut self,
        clock: Clock,
        moderator: SessionId,
        main: RoomKey,
        id: &str,
        out: &mut Vec<Effect>,
    ) {
        let Some(guest) = self.knocker(main, id) else {
            return error(out, moderator, ErrorCode::UnknownParticipant, "nobody with this id waits in the lobby");
        };
        if self.meeting_size(main) >= self.meeting_limit(main) {
            return error(out, moderator, ErrorCode::RoomFull, "the room has the most participants allowed");
        }
        let Some(Pending::Lobby { display_name, .. }) = self.sessions.get_mut(&guest).and_then(|s| s.pending.take())
        else {
            return;
        };
        if let Some(r) = self.rooms.get_mut(&main) {
            r.controls.knocking.retain(|s| *s != guest);
        }
        self.join(clock, guest, main, display_name, false, out);
        self.notify_lobby(main, out);
    }

    /// A moderator's short message to a knocking guest (`lobby_message`).
    pub(super) fn lobby_message(
        &mut self,
        moderator: SessionId,
        main: RoomKey,
        id: &str,
        text: &str,
        out: &mut Vec<Effect>,
    ) {
        let text = text.trim();
        if text.is_empty()
            || text.chars().count() > crate::protocol::MAX_LOBBY_MESSAGE_CHARS
            || text.chars().any(char::is_control)
        {
            return error(out, moderator, ErrorCode::BadMessage, "a waiting-room message is 1-200 characters");
        }
        let Some(guest) = self.knocker(main, id) else {
            return error(out, moderator, ErrorCode::UnknownParticipant, "nobody with this id waits in the lobby");
        };
        let from_name = self
            .rooms
            .values()
            .find_map(|r| r.members.get(&moderator))
            .map(|m| m.display_name.to_string())
            .unwrap_or_default();
        out.push(Effect::Send { to: guest, msg: ServerMsg::WaitingMessage { text: text.to_string(), from_name } });
    }

    /// A moderator turns a knocking guest away.
    pub(super) fn lobby_deny(&mut self, moderator: SessionId, main: RoomKey, id: &str, out: &mut Vec<Effect>) {
        let Some(guest) = self.knocker(main, id) else {
            return error(out, moderator, ErrorCode::UnknownParticipant, "nobody with this id waits in the lobby");
        };
        self.drop_pending(guest, out);
        self.sessions.remove(&guest);
        out.push(Effect::Send { to: guest, msg: ServerMsg::Bye { reason: ByeReason::LobbyDenied } });
        out.push(Effect::Close { session: guest });
    }

    /// A moderator turns the lobby on or off. Off lets in those knocking,
    /// except those who still owe a password set after they knocked: they
    /// are asked for it.
    pub(super) fn set_lobby(
        &mut self,
        clock: Clock,
        moderator: SessionId,
        main: RoomKey,
        enabled: bool,
        out: &mut Vec<Effect>,
    ) {
        if !enabled && self.appointment_of(main).is_some() {
            return error(out, moderator, ErrorCode::NotAllowed, "the waiting room of an appointment stays on");
        }
        let Some(r) = self.rooms.get_mut(&main) else {
            return;
        };
        if r.controls.lobby == enabled {
            return;
        }
        r.controls.lobby = enabled;
        let knocking = if enabled { Vec::new() } else { std::mem::take(&mut r.controls.knocking) };
        let locked = r.controls.password.is_some();
        self.broadcast_room_state(main, out);
        for guest in knocking {
            let Some(Pending::Lobby { display_name, needs_password, .. }) =
                self.sessions.get_mut(&guest).and_then(|s| s.pending.take())
            else {
                continue;
            };
            // They already wait, so no new place is taken: never crowded.
            let door = if needs_password && locked { Door::Password } else { Door::In { moderator: false } };
            self.pass(clock, guest, main, display_name, door, out);
        }
        self.notify_lobby(main, out);
    }

    /// A moderator sets (`Some`, not empty) or removes the room password.
    pub(super) fn set_password(
        &mut self,
        clock: Clock,
        moderator: SessionId,
        main: RoomKey,
        password: Option<Zeroizing<String>>,
        out: &mut Vec<Effect>,
    ) {
        let password = password.filter(|p| !p.is_empty());
        if let Some(p) = &password
            && (p.chars().count() > MAX_PASSWORD_CHARS || p.chars().any(char::is_control))
        {
            return error(
                out,
                moderator,
                ErrorCode::BadPassword,
                "room passwords are 1-128 characters, no control characters",
            );
        }
        let Some(r) = self.rooms.get_mut(&main) else {
            return;
        };
        let cleared = password.is_none();
        // The old one is `Zeroizing` and wipes itself here.
        r.controls.password = password;
        let asked = if cleared { std::mem::take(&mut r.controls.asked) } else { Vec::new() };
        if !cleared {
            // Nobody knocking gets in by this; they owe the new password.
            for guest in r.controls.knocking.clone() {
                if let Some(Some(Pending::Lobby { needs_password, .. })) =
                    self.sessions.get_mut(&guest).map(|s| s.pending.as_mut())
                {
                    *needs_password = true;
                }
            }
        } else {
            for guest in r.controls.knocking.clone() {
                if let Some(Some(Pending::Lobby { needs_password, .. })) =
                    self.sessions.get_mut(&guest).map(|s| s.pending.as_mut())
                {
                    *needs_password = false;
                }
            }
        }
        self.broadcast_room_state(main, out);
        for guest in asked {
            if let Some(Pending::Password { display_name, .. }) =
                self.sessions.get_mut(&guest).and_then(|s| s.pending.take())
            {
                let door = self.door_past_password(main);
                self.pass(clock, guest, main, display_name, door, out);
            }
        }
    }

    /// The `room_state` message of the meeting `main`.
    pub(super) fn room_state(&self, main: RoomKey) -> Option<ServerMsg> {
        let r = self.rooms.get(&main)?;
        Some(ServerMsg::RoomState {
            locked: r.controls.password.is_some(),
            lobby: r.controls.lobby,
            private_chat: self.private_chat_allowed(main),
            e2ee: r.controls.e2ee,
        })
    }

    /// Sends `room_state` to everyone in the meeting.
    pub(super) fn broadcast_room_state(&self, main: RoomKey, out: &mut Vec<Effect>) {
        let Some(state) = self.room_state(main) else {
            return;
        };
        broadcast(out, self.meeting_members(main), state);
    }

    /// A fresh ticket for `participant` of the meeting `main`.
    pub(super) fn issue_ticket(&mut self, main: RoomKey, participant: &str, moderator: bool) -> String {
        use rand::RngCore;
        let mut bytes = [0u8; 16];
        self.rng.fill_bytes(&mut bytes);
        let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        bytes.zeroize();
        if let Some(r) = self.rooms.get_mut(&main) {
            let tickets = &mut r.controls.tickets;
            if tickets.len() >= MAX_TICKETS {
                tickets.remove(0);
            }
            tickets.push(Ticket {
                secret: Zeroizing::new(secret.clone()),
                participant: participant.to_string(),
                moderator,
            });
        }
        secret
    }

    /// Uses up a valid ticket: returns whether its holder was a moderator.
    fn redeem_ticket(&mut self, main: RoomKey, secret: &str) -> Option<bool> {
        let r = self.rooms.get_mut(&main)?;
        let at = r.controls.tickets.iter().position(|t| constant_time_eq(t.secret.as_bytes(), secret.as_bytes()))?;
        // Used once: the new participation gets a new ticket at `join`.
        Some(r.controls.tickets.remove(at).moderator)
    }

    /// Remembers a leaving participant's role in their ticket.
    pub(super) fn note_ticket_role(&mut self, main: RoomKey, participant: &str, moderator: bool) {
        if let Some(r) = self.rooms.get_mut(&main) {
            for t in r.controls.tickets.iter_mut().filter(|t| t.participant == participant) {
                t.moderator = moderator;
            }
        }
    }

    /// Revokes the tickets of a removed participant.
    pub(super) fn revoke_tickets(&mut self, main: RoomKey, participant: &str) {
        if let Some(r) = self.rooms.get_mut(&main) {
            r.controls.tickets.retain(|t| t.participant != participant);
        }
    }
}

fn too_many_waiting(out: &mut Vec<Effect>, session: SessionId) {
    error(out, session, ErrorCode::ServerFull, "too many people from your network address are waiting to join");
}

/// The name an account shows, made fit for a display name (trimmed, no
/// control characters, at most 64 characters); `None` if nothing is left.
fn account_name(name: &str) -> Option<Zeroizing<String>> {
    let cleaned: String =
        name.trim().chars().filter(|c| !c.is_control() && !super::invisible_format(*c)).take(MAX_NAME_CHARS).collect();
    let cleaned = Zeroizing::new(cleaned.trim().to_string());
    (!cleaned.is_empty()).then_some(cleaned)
}

/// Compares without an early exit on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
