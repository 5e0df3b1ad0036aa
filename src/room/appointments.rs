//! Appointment rooms (`t-…`, `[teletherapy]`): who enters, and what the
//! appointment store ([`crate::teletherapy::Store`]) learns of it.
//!
//! - A patient comes with `hello.appointment`: the link must work now
//!   ([`Store::check_link`]), belong to this room, be used by no other
//!   connection, and the consent version must be the current one. The
//!   patient needs no login in any access mode; name and consent time go
//!   into the store; then always the waiting room (for the host, then the
//!   lobby, which is always on in an appointment room).
//! - Without a link only the appointment's therapist (the login that
//!   created it) enters, as host; another login is `not_your_session`,
//!   nobody logged in `appointment_invalid`.
//! - In an appointment room the lobby stays on, private chat and
//!   recording are off, and the meeting holds `max_patients + 1`.
//! - Which link a session holds is kept in `held`; after every input the
//!   store is told who came in, who left, who is gone ([`Rooms::settle_links`]),
//!   and how the meeting carries media.
//! - The therapist's requests over HTTP come through the room actor
//!   ([`Rooms::appointment_request`]): revoking a link sends its patient
//!   away (`bye` `link_revoked`), deleting an appointment ends its meeting.
//!
//! [`Store::check_link`]: crate::teletherapy::Store::check_link

use zeroize::Zeroizing;

use super::{Clock, Effect, MediaCommand, RoomKey, Rooms, SessionId, error};
use crate::protocol::{AppointmentHello, AppointmentRole, ByeReason, ErrorCode, ServerMsg, WelcomeAppointment};
use crate::teletherapy::{LinkRef, LinkRefusal, Reply, Request};

/// Seconds between two sweeps of the appointment store.
const SWEEP_EVERY_SECS: i64 = 30;

impl Rooms {
    /// The time of the input being handled, in unix seconds.
    fn unix_secs(&self) -> i64 {
        (self.unix_ms / 1000) as i64
    }

    /// `hello` with an appointment link, for the room `key_name`.
    pub(super) fn patient_hello(
        &mut self,
        clock: Clock,
        session: SessionId,
        key_name: Zeroizing<String>,
        display_name: Zeroizing<String>,
        appointment: AppointmentHello,
        out: &mut Vec<Effect>,
    ) {
        let now = self.unix_secs();
        let token = Zeroizing::new(appointment.token);
        let link = match self.appointments.check_link(&token, now) {
            Ok(link) => link,
            Err(refusal) => return refuse(out, session, refusal_message(refusal)),
        };
        if self.appointments.room_of(&link.id) != Some(key_name.as_str()) {
            return refuse(out, session, "this appointment link is for another room");
        }
        let version = &self.appointments.settings().consent_version;
        if appointment.consent != *version {
            return error(out, session, ErrorCode::ConsentRequired, "accept the practice's current consent text first");
        }
        if let Some(holder) = self.appointments.holder(&link)
            && holder != session.0
            && self.sessions.contains_key(&SessionId(holder))
        {
            return error(out, session, ErrorCode::LinkInUse, "this appointment link is in use on another device");
        }
        let version = version.clone();
        self.appointments.claim(&link, session.0, &display_name, &version, now);
        if let Some(s) = self.sessions.get_mut(&session) {
            s.link = Some(link.clone());
        }
        self.held.insert(session, link);
        let existing = self.by_name.get(key_name.as_str()).copied().filter(|k| !self.in_grace(*k));
        match existing {
            Some(room) => self.gate(clock, session, room, display_name, None, out),
            None => self.wait_for_host(session, key_name, display_name, None, out),
        }
        // Refused at the door (crowded, too many waiting): the link is free again.
        if self.sessions.get(&session).is_some_and(|s| s.pending.is_none() && s.room.is_none()) {
            self.release_link(session);
        }
    }

    /// `hello` without a link to the appointment room of `id`: its
    /// therapist only. True when the session may go on to the access
    /// decision (as host).
    pub(super) fn owner_may_enter(&mut self, session: SessionId, id: &str, out: &mut Vec<Effect>) -> bool {
        let username = self.sessions.get(&session).and_then(|s| s.account.as_ref()).map(|a| a.username.clone());
        match username {
            Some(name) if self.appointments.owner_of(id) == Some(name.as_str()) && self.appointments.has_ended(id) => {
                refuse(out, session, "this session has ended; its record is on the sessions page");
                false
            }
            Some(name) if self.appointments.owner_of(id) == Some(name.as_str()) => {
                let now = self.unix_secs();
                self.appointments.opened(id, now);
                true
            }
            Some(_) => {
                error(out, session, ErrorCode::NotYourSession, "this session belongs to another therapist");
                false
            }
            None => {
                refuse(out, session, "this room is an appointment: open it with your appointment link");
                false
            }
        }
    }

    /// Forgets the link `session` holds (it is free for another connection).
    fn release_link(&mut self, session: SessionId) {
        let now = self.unix_secs();
        if let Some(s) = self.sessions.get_mut(&session) {
            s.link = None;
        }
        if let Some(link) = self.held.remove(&session) {
            self.appointments.release(&link, session.0, now);
        }
    }

    /// The appointment of the meeting `main`, if it is an appointment room.
    pub(super) fn appointment_of(&self, main: RoomKey) -> Option<&str> {
        self.rooms.get(&main).and_then(|r| r.controls.appointment.as_deref())
    }

    /// What `welcome` says about the appointment of `room`, for `session`.
    pub(super) fn welcome_appointment(&self, room: RoomKey, session: SessionId) -> Option<WelcomeAppointment> {
        let id = self.appointment_of(self.meeting_of(room))?;
        let patient = self.sessions.get(&session).is_some_and(|s| s.link.is_some());
        let role = if patient { AppointmentRole::Patient } else { AppointmentRole::Therapist };
        self.appointments.welcome(id, role)
    }

    /// The label of the link `session` came with (`Patient 2`).
    pub(super) fn link_label(&self, session: SessionId) -> Option<String> {
        self.sessions.get(&session).and_then(|s| s.link.as_ref()).map(|l| crate::teletherapy::label(l.n))
    }

    /// After every input: tells the store which patients are in their
    /// meeting, which left, whose connection is gone; and how each open
    /// appointment meeting carries media. Sweeps the store now and then.
    pub(super) fn settle_links(&mut self, out: &mut Vec<Effect>) {
        let now = self.unix_secs();
        let held: Vec<(SessionId, LinkRef)> = self.held.iter().map(|(s, l)| (*s, l.clone())).collect();
        for (session, link) in held {
            match self.sessions.get(&session).map(|s| s.room.is_some()) {
                None => {
                    self.held.remove(&session);
                    self.appointments.release(&link, session.0, now);
                }
                Some(true) => self.appointments.entered(&link, now),
                Some(false) => self.appointments.left(&link, now),
            }
        }
        let open: Vec<(RoomKey, String)> =
            self.appointment_rooms.iter().filter_map(|k| Some((*k, self.appointment_of(*k)?.to_string()))).collect();
        for (main, id) in open {
            let present = self.meeting_size(main);
            let direct = self.p2p.phase(main) == super::P2pPhase::Direct;
            self.appointments.note_media(&id, present, self.meeting_e2ee(main), direct);
        }
        if now >= self.next_sweep {
            self.next_sweep = now + SWEEP_EVERY_SECS;
            // Patients still waiting when their link stopped working.
            let stale: Vec<SessionId> = self
                .held
                .iter()
                .filter(|(s, l)| {
                    let waiting = self.sessions.get(s).is_some_and(|x| x.pending.is_some());
                    waiting && self.appointments.check_link_ref(l, now).is_err()
                })
                .map(|(s, _)| *s)
                .collect();
            self.send_away(stale, ByeReason::WaitExpired, out);
            let by_name = &self.by_name;
            let deleted = self.appointments.sweep(now, |room| by_name.contains_key(room));
            for d in deleted {
                self.send_away(d.holders.into_iter().map(SessionId), ByeReason::MeetingEnded, out);
            }
        }
    }

    /// Ends the sessions `sessions` (waiting or in a meeting) with `bye` `reason`.
    fn send_away(&mut self, sessions: impl IntoIterator<Item = SessionId>, reason: ByeReason, out: &mut Vec<Effect>) {
        for session in sessions {
            if !self.sessions.contains_key(&session) {
                continue;
            }
            self.drop_pending(session, out);
            if let Some(room) = self.sessions.get(&session).and_then(|s| s.room) {
                self.remove_member(room, session, out);
                out.push(Effect::Media(MediaCommand::Leave { session }));
            }
            self.sessions.remove(&session);
            out.push(Effect::Send { to: session, msg: ServerMsg::Bye { reason } });
            out.push(Effect::Close { session });
        }
    }

    /// `end_meeting` in an appointment room ends the appointment too.
    pub(super) fn end_appointment(&mut self, main: RoomKey) {
        if let Some(id) = self.appointment_of(main).map(str::to_string) {
            let now = self.unix_secs();
            self.appointments.end(&id, now);
        }
    }

    /// A request of the HTTP side (a therapist's, or a patient's link page).
    pub fn appointment_request(&mut self, clock: Clock, request: Request, out: &mut Vec<Effect>) -> Reply {
        self.unix_ms = clock.unix_ms;
        self.now = Some(clock.now);
        let now = self.unix_secs();
        let store = &mut self.appointments;
        let reply = match request {
            Request::List { owner } => Reply::Appointments(store.list(&owner)),
            Request::Create { owner, new } => {
                store.create(&owner, new, now).map_or_else(Reply::Refused, Reply::Appointment)
            }
            Request::AddLink { owner, id } => {
                store.add_link(&owner, &id).map_or_else(Reply::Refused, Reply::Appointment)
            }
            Request::Attendance { owner, id } => {
                store.attendance(&owner, &id).map_or_else(Reply::Refused, Reply::Attendance)
            }
            Request::Patient { token } => store.patient_view(&token, now).map_or_else(Reply::Link, Reply::Patient),
            Request::Revoke { owner, id, n } => match store.revoke(&owner, &id, n, now) {
                Ok((view, holder)) => {
                    self.send_away(holder.map(SessionId), ByeReason::LinkRevoked, out);
                    Reply::Appointment(view)
                }
                Err(r) => Reply::Refused(r),
            },
            Request::Delete { owner, id } => match store.delete(&owner, &id) {
                Ok(deleted) => {
                    if let Some(main) = self.by_name.get(deleted.room.as_str()).copied() {
                        self.close_meeting(main, true, out);
                    }
                    self.send_away(deleted.holders.into_iter().map(SessionId), ByeReason::MeetingEnded, out);
                    Reply::Deleted
                }
                Err(r) => Reply::Refused(r),
            },
        };
        self.settle_links(out);
        reply
    }
}

/// `appointment_invalid` with `why`, and the connection closes.
fn refuse(out: &mut Vec<Effect>, session: SessionId, why: &str) {
    error(out, session, ErrorCode::AppointmentInvalid, why);
    out.push(Effect::Close { session });
}

fn refusal_message(refusal: LinkRefusal) -> &'static str {
    match refusal {
        LinkRefusal::Unknown => "unknown appointment link",
        LinkRefusal::Revoked => "this appointment link was revoked by the practice",
        LinkRefusal::Expired => "this appointment has ended",
        LinkRefusal::NotYet { .. } => "this appointment link does not open yet",
    }
}
