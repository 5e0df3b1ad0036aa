//! Recording a meeting, as the rooms see it: the recorder is one more
//! member of the meeting, and consent, roles and moderation decide what it
//! gets.
//!
//! - Only a moderator asks (`record_start`), only where the operator
//!   enabled recording and never in an end-to-end encrypted meeting
//!   ([`crate::policy::recording_possible`]). Asking counts as the
//!   moderator's own consent.
//! - Everyone else in the meeting (breakout rooms included) gets
//!   `recording_consent_request`; nothing is recorded until everyone
//!   present has answered. Then the recording starts with those who
//!   agreed; those who declined are not recorded, and everyone sees who is
//!   and who is not (`recording.on_decline = "exclude"`, the default). With
//!   `"cancel"`, one decline ends the asking and the moderator is told
//!   (`recording_declined`).
//! - Someone who joins while the recording runs is asked too, and recorded
//!   only after agreeing. `recording_consent` with `false` withdraws a
//!   consent: that participant's recording stops at once. A moderator's
//!   `record_stop`, the end of the meeting, and end-to-end encryption
//!   turned on for the meeting stop everything at once.
//!
//! The media server is told exactly whom to record ([`RecordCommand`]);
//! the recorder never sees anyone else's media. While a recording is
//! asked for or runs, the meeting's calls of two go through the server
//! (a direct call would carry media the recorder cannot see).

use std::collections::{BTreeMap, BTreeSet};

use super::media::RecordCommand;
use super::{Clock, Effect, MediaCommand, RoomKey, Rooms, SessionId, broadcast, error};
use crate::config::OnDecline;
use crate::protocol::{ClientMsg, ErrorCode, RecordingState, ServerMsg};

/// What a recording needs from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordingSettings {
    /// `recording.enabled` (refused at start unless the policy allows it).
    pub enabled: bool,
    /// `recording.on_decline`
    pub on_decline: OnDecline,
}

impl Default for RecordingSettings {
    fn default() -> Self {
        RecordingSettings { enabled: false, on_decline: OnDecline::Exclude }
    }
}

/// A meeting's recording (kept in its main room's controls).
#[derive(Debug)]
pub(super) struct Recording {
    id: u64,
    /// The moderator who asked.
    by: SessionId,
    /// Started (everyone answered); before that only asking.
    on: bool,
    /// Answers of those present.
    answers: BTreeMap<SessionId, bool>,
    /// Those the media server records now.
    recorded: BTreeSet<SessionId>,
    /// The last `recording` message sent, to send only changes.
    last: Option<ServerMsg>,
}

impl Rooms {
    /// `record_start`, `record_stop`, `recording_consent`.
    pub(super) fn on_recording(
        &mut self,
        clock: Clock,
        session: SessionId,
        room: RoomKey,
        msg: ClientMsg,
        out: &mut Vec<Effect>,
    ) {
        let main = self.meeting_of(room);
        let moderator = self.rooms.get(&room).and_then(|r| r.members.get(&session)).is_some_and(|m| m.moderator);
        match msg {
            ClientMsg::RecordStart {} if !moderator => {
                error(out, session, ErrorCode::NotModerator, "only a moderator can start a recording")
            }
            ClientMsg::RecordStop {} if !moderator => {
                error(out, session, ErrorCode::NotModerator, "only a moderator can stop a recording")
            }
            ClientMsg::RecordStart {} if self.appointment_of(main).is_some() => {
                error(out, session, ErrorCode::RecordingUnavailable, "an appointment is never recorded")
            }
            ClientMsg::RecordStart {} => self.record_start(main, session, out),
            ClientMsg::RecordStop {} => self.record_stop(main, clock.unix_ms, out),
            ClientMsg::RecordingConsent { agree } => self.consent(main, session, agree, clock.unix_ms, out),
            _ => {}
        }
        self.settle_recording(clock, main, out);
    }

    fn record_start(&mut self, main: RoomKey, session: SessionId, out: &mut Vec<Effect>) {
        let possible = crate::policy::recording_possible(self.settings.recording.enabled, self.meeting_is_e2ee(main));
        if !possible {
            return error(
                out,
                session,
                ErrorCode::RecordingUnavailable,
                "recording is not available here (off on this server, or the meeting is end-to-end encrypted)",
            );
        }
        let id = self.next_recording;
        let Some(r) = self.rooms.get_mut(&main) else {
            return;
        };
        if r.controls.recording.is_some() {
            return error(out, session, ErrorCode::RecordingUnavailable, "a recording is already running or asked for");
        }
        self.next_recording += 1;
        let by_name = r.members.get(&session).map(|m| m.display_name.to_string());
        let by = self.sessions.get(&session).map(|s| s.participant.clone()).unwrap_or_default();
        let mut answers = BTreeMap::new();
        answers.insert(session, true);
        r.controls.recording =
            Some(Recording { id, by: session, on: false, answers, recorded: BTreeSet::new(), last: None });
        self.recording_meetings.insert(main, None);
        let by_name = by_name.or_else(|| self.display_name_in_meeting(main, session)).unwrap_or_default();
        let others: Vec<SessionId> = self.meeting_members(main).into_iter().filter(|s| *s != session).collect();
        broadcast(out, others, ServerMsg::RecordingConsentRequest { by, by_name });
        self.touch_meeting_p2p(main);
    }

    fn record_stop(&mut self, main: RoomKey, unix_ms: u64, out: &mut Vec<Effect>) {
        let Some(rec) = self.rooms.get_mut(&main).and_then(|r| r.controls.recording.take()) else {
            return;
        };
        if rec.on {
            out.push(Effect::Media(MediaCommand::Recording(RecordCommand::Stop { recording: rec.id, unix_ms })));
        }
        self.recording_meetings.remove(&main);
        broadcast(out, self.meeting_members(main), off());
        self.touch_meeting_p2p(main);
    }

    fn consent(&mut self, main: RoomKey, session: SessionId, agree: bool, unix_ms: u64, out: &mut Vec<Effect>) {
        let cancel = self.settings.recording.on_decline == OnDecline::Cancel;
        let Some(rec) = self.rooms.get_mut(&main).and_then(|r| r.controls.recording.as_mut()) else {
            return;
        };
        rec.answers.insert(session, agree);
        if !agree && rec.recorded.remove(&session) {
            let cmd = RecordCommand::Unrecord { recording: rec.id, session };
            out.push(Effect::Media(MediaCommand::Recording(cmd)));
        }
        if !agree && !rec.on && cancel {
            let by = rec.by;
            self.record_stop(main, unix_ms, out);
            error(out, by, ErrorCode::RecordingDeclined, "a participant declined: the recording does not start");
        }
    }

    /// A participant joined the meeting: they see the recording's state
    /// and, if one is asked for or runs, are asked too.
    pub(super) fn recording_welcome(&mut self, main: RoomKey, session: SessionId, out: &mut Vec<Effect>) {
        let Some(rec) = self.rooms.get(&main).and_then(|r| r.controls.recording.as_ref()) else {
            return;
        };
        let by_session = rec.by;
        let by = self.sessions.get(&by_session).map(|s| s.participant.clone()).unwrap_or_default();
        let by_name = self.display_name_in_meeting(main, by_session).unwrap_or_default();
        out.push(Effect::Send { to: session, msg: ServerMsg::RecordingConsentRequest { by, by_name } });
    }

    /// After every input: each meeting with a recording follows who is in
    /// it. Those who left are forgotten; once everyone has answered the
    /// recording starts; everyone who agreed is recorded; the state goes
    /// out when it changed. A meeting that ended stops its recording.
    pub(super) fn settle_recordings(&mut self, clock: Clock, out: &mut Vec<Effect>) {
        let meetings: Vec<RoomKey> = self.recording_meetings.keys().copied().collect();
        for main in meetings {
            self.settle_recording(clock, main, out);
        }
    }

    fn settle_recording(&mut self, clock: Clock, main: RoomKey, out: &mut Vec<Effect>) {
        // A moderator turned end-to-end encryption on while a recording was
        // asked for or ran: it stops at once (`record_start` refuses it in
        // such a meeting; this is the other way round).
        if self.meeting_is_e2ee(main) && self.rooms.get(&main).is_some_and(|r| r.controls.recording.is_some()) {
            return self.record_stop(main, clock.unix_ms, out);
        }
        let present: Vec<SessionId> = self.meeting_members(main);
        let room_name = self.rooms.get(&main).map(|r| r.name.to_string()).unwrap_or_default();
        let people: BTreeMap<SessionId, (String, String)> = present
            .iter()
            .filter_map(|s| self.member_in_meeting(main, *s).map(|(id, name)| (*s, (id, name))))
            .collect();
        let Some(rec) = self.rooms.get_mut(&main).and_then(|r| r.controls.recording.as_mut()) else {
            // The meeting ended with its recording.
            if let Some(Some(recording)) = self.recording_meetings.remove(&main) {
                let cmd = RecordCommand::Stop { recording, unix_ms: clock.unix_ms };
                out.push(Effect::Media(MediaCommand::Recording(cmd)));
            }
            return;
        };
        rec.answers.retain(|s, _| people.contains_key(s));
        rec.recorded.retain(|s| people.contains_key(s));
        let everyone_answered = people.keys().all(|s| rec.answers.contains_key(s));
        if !rec.on && everyone_answered && rec.answers.values().any(|a| *a) {
            rec.on = true;
            let cmd = RecordCommand::Start { recording: rec.id, main, room: room_name, unix_ms: clock.unix_ms };
            out.push(Effect::Media(MediaCommand::Recording(cmd)));
            self.recording_meetings.insert(main, Some(rec.id));
        }
        if rec.on {
            for (session, (participant, display_name)) in &people {
                if rec.answers.get(session) == Some(&true) && rec.recorded.insert(*session) {
                    let cmd = RecordCommand::Record {
                        recording: rec.id,
                        session: *session,
                        participant: participant.clone(),
                        display_name: display_name.clone(),
                    };
                    out.push(Effect::Media(MediaCommand::Recording(cmd)));
                }
            }
        }
        let id_of = |s: &SessionId| people.get(s).map(|p| p.0.clone());
        let msg = ServerMsg::Recording {
            state: if rec.on { RecordingState::On } else { RecordingState::Asking },
            agreed: rec.answers.iter().filter(|(_, a)| **a).filter_map(|(s, _)| id_of(s)).collect(),
            declined: rec.answers.iter().filter(|(_, a)| !**a).filter_map(|(s, _)| id_of(s)).collect(),
            pending: people.keys().filter(|s| !rec.answers.contains_key(s)).filter_map(id_of).collect(),
        };
        if rec.last.as_ref() != Some(&msg) {
            rec.last = Some(msg.clone());
            broadcast(out, people.keys().copied(), msg);
        }
    }

    /// The recorder gave up on the recording (it could not keep up or
    /// write): everyone sees it stopped.
    pub(super) fn recording_failed(&mut self, main: RoomKey, out: &mut Vec<Effect>) {
        if let Some(r) = self.rooms.get_mut(&main) {
            r.controls.recording = None;
        }
        self.recording_meetings.remove(&main);
        broadcast(out, self.meeting_members(main), off());
        self.touch_meeting_p2p(main);
    }

    /// Whether a recording is asked for or runs in the meeting of `room`:
    /// then its calls of two are not direct.
    pub(super) fn recording_active(&self, room: RoomKey) -> bool {
        let main = self.meeting_of(room);
        self.rooms.get(&main).is_some_and(|r| r.controls.recording.is_some())
    }

    fn touch_meeting_p2p(&mut self, main: RoomKey) {
        for key in self.meeting_rooms(main) {
            self.p2p.touch(key);
        }
    }

    /// Whether the meeting's media is end-to-end encrypted (its flag, see
    /// `super::e2ee`), so that the server cannot see it: such a meeting is
    /// never recorded.
    fn meeting_is_e2ee(&self, main: RoomKey) -> bool {
        self.meeting_e2ee(main)
    }

    fn member_in_meeting(&self, main: RoomKey, session: SessionId) -> Option<(String, String)> {
        self.meeting_rooms(main)
            .iter()
            .filter_map(|k| self.rooms.get(k))
            .find_map(|r| r.members.get(&session))
            .map(|m| (m.id.clone(), m.display_name.to_string()))
    }

    fn display_name_in_meeting(&self, main: RoomKey, session: SessionId) -> Option<String> {
        self.member_in_meeting(main, session).map(|(_, name)| name)
    }
}

fn off() -> ServerMsg {
    ServerMsg::Recording { state: RecordingState::Off, agreed: Vec::new(), declined: Vec::new(), pending: Vec::new() }
}
