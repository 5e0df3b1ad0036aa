//! Appointment rooms: who enters (patients with a link, the owner without),
//! the waiting room, and what the store learns, with a simulated clock.

use zeroize::Zeroizing;

use super::*;
use crate::config::AccessMode;
use crate::protocol::{AppointmentHello, AppointmentRole, Person, WaitReason};
use crate::teletherapy::{AppointmentView, LinkState, NewAppointment, Owner, Reply, Request};

const T0: i64 = 1_700_000_000;

fn therapist(name: &str) -> Account {
    Account {
        username: Zeroizing::new(name.into()),
        display_name: Zeroizing::new(format!("Dr. {name}")),
        may_host: true,
    }
}

fn owner(name: &str) -> Owner {
    Owner { username: name.into(), display_name: format!("Dr. {name}") }
}

impl World {
    fn practice(max_patients: u32) -> World {
        let teletherapy =
            crate::teletherapy::Settings { enabled: true, max_patients, ..crate::teletherapy::Settings::default() };
        World::with(Settings { access_mode: AccessMode::Secure, teletherapy, ..Settings::default() })
    }

    fn request(&mut self, request: Request) -> (Reply, Vec<Effect>) {
        let mut out = Vec::new();
        let reply = self.rooms.appointment_request(self.clock(), request, &mut out);
        (reply, out)
    }

    fn appointment(&mut self, who: &str, start: i64, patients: u32) -> AppointmentView {
        let new = NewAppointment { title: None, start, duration_minutes: 50, group: patients > 1, patients };
        match self.request(Request::Create { owner: owner(who), new }).0 {
            Reply::Appointment(a) => a,
            other => panic!("{other:?}"),
        }
    }

    fn list(&mut self, who: &str) -> Vec<AppointmentView> {
        match self.request(Request::List { owner: owner(who) }).0 {
            Reply::Appointments(list) => list,
            other => panic!("{other:?}"),
        }
    }

    fn connected(&mut self, account: Option<Account>) -> SessionId {
        let session = SessionId(self.next);
        self.next += 1;
        self.input(Input::Connected { session, participant: format!("p{}", session.0), account, source: None });
        session
    }

    fn patient(&mut self, a: &AppointmentView, n: usize, name: &str) -> (SessionId, Vec<Effect>) {
        let version = self.rooms.appointments.settings().consent_version.clone();
        self.patient_with(&a.room, &a.links[n].token, &version, name)
    }

    fn patient_with(&mut self, room: &str, token: &str, consent: &str, name: &str) -> (SessionId, Vec<Effect>) {
        let s = self.connected(None);
        let appointment = Some(AppointmentHello { token: token.into(), consent: consent.into() });
        let out =
            self.send(s, ClientMsg::Hello { version: 1, room: room.into(), display_name: name.into(), appointment });
        (s, out)
    }

    fn host(&mut self, who: &str, room: &str) -> (SessionId, Vec<Effect>) {
        let s = self.connected(Some(therapist(who)));
        let out = self.send(s, hello(room, "typed"));
        (s, out)
    }
}

fn closed(out: &[Effect], s: SessionId) -> bool {
    out.iter().any(|e| matches!(e, Effect::Close { session } if *session == s))
}

fn knocking(out: &[Effect], to: SessionId) -> Option<Vec<Person>> {
    sent_to(out, to).into_iter().rev().find_map(|m| match m {
        ServerMsg::Lobby { knocking } => Some(knocking),
        _ => None,
    })
}

fn bye(out: &[Effect], to: SessionId) -> Option<ByeReason> {
    sent_to(out, to).into_iter().find_map(|m| match m {
        ServerMsg::Bye { reason } => Some(reason),
        _ => None,
    })
}

#[test]
fn a_patient_waits_for_the_therapist_then_in_the_lobby_and_only_the_therapist_sees_the_name() {
    let mut w = World::practice(9);
    let a = w.appointment("anna", T0, 3);
    let (p1, out) = w.patient(&a, 0, "Erika Muster");
    assert_eq!(sent_to(&out, p1), [ServerMsg::Waiting { reason: WaitReason::Host }]);
    assert_eq!(w.list("anna")[0].links[0].state, LinkState::Waiting);
    assert_eq!(w.list("anna")[0].links[0].name.as_deref(), Some("Erika Muster"));
    let (t, out) = w.host("anna", &a.room);
    match sent_to(&out, t).first() {
        Some(ServerMsg::Welcome { you, appointment: Some(appt), .. }) => {
            assert!(you.moderator && you.host);
            assert_eq!(appt.role, AppointmentRole::Therapist);
            assert_eq!(appt.id.as_deref(), Some(a.id.as_str()));
            assert_eq!(appt.started_at, Some(T0));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(sent_to(&out, p1), [ServerMsg::Waiting { reason: WaitReason::Lobby }], "the lobby is always on");
    let people = knocking(&out, t).expect("the therapist sees who waits");
    assert_eq!(people[0].display_name, "Erika Muster");
    assert_eq!(people[0].link.as_deref(), Some("Patient 1"));
    let (p2, out) = w.patient(&a, 1, "Jörg");
    assert_eq!(sent_to(&out, p2), [ServerMsg::Waiting { reason: WaitReason::Lobby }]);
    assert!(sent_to(&out, p1).is_empty(), "a waiting patient learns nothing of another");
    assert_eq!(knocking(&out, t).map(|k| k.len()), Some(2));
    let out = w.send(t, ClientMsg::LobbyAdmit { id: "p1".into() });
    match sent_to(&out, p1).first() {
        Some(ServerMsg::Welcome { appointment: Some(appt), .. }) => {
            assert_eq!((appt.role, appt.id.as_deref()), (AppointmentRole::Patient, None));
        }
        other => panic!("{other:?}"),
    }
    assert!(sent_to(&out, p2).is_empty());
    assert_eq!(w.list("anna")[0].links[0].state, LinkState::In);
}

#[test]
fn links_out_of_their_window_revoked_or_for_another_room_are_refused_and_the_connection_closes() {
    let mut w = World::practice(9);
    let later = w.appointment("anna", T0 + 7200, 1);
    let now = w.appointment("anna", T0, 2);
    let (s, out) = w.patient(&later, 0, "Früh");
    assert_eq!(error_code(&out, s), Some(ErrorCode::AppointmentInvalid));
    assert!(closed(&out, s));
    let (s, out) = w.patient_with(&later.room, &now.links[0].token, "x", "Falsch");
    assert_eq!(error_code(&out, s), Some(ErrorCode::AppointmentInvalid), "a link of another room");
    let (s, out) = w.patient_with(&now.room, "AAAAAAAAAAAAAAAAAAAAAA", "x", "Rater");
    assert_eq!(error_code(&out, s), Some(ErrorCode::AppointmentInvalid));
    let (reply, _) = w.request(Request::Revoke { owner: owner("anna"), id: now.id.clone(), n: 2 });
    assert!(matches!(reply, Reply::Appointment(_)));
    let (s, out) = w.patient(&now, 1, "Widerrufen");
    assert_eq!(error_code(&out, s), Some(ErrorCode::AppointmentInvalid));
    // After its end: expired.
    w.now += Duration::from_secs(50 * 60 + 30 * 60 + 1);
    let (s, out) = w.patient(&now, 0, "Spät");
    assert_eq!(error_code(&out, s), Some(ErrorCode::AppointmentInvalid));
    assert!(
        sent_to(&out, s).iter().any(|m| matches!(m, ServerMsg::Error { message, .. } if message.contains("ended")))
    );
}

#[test]
fn the_current_consent_is_needed_and_a_link_serves_one_connection_at_a_time() {
    let mut w = World::practice(9);
    let a = w.appointment("anna", T0, 1);
    let (s, out) = w.patient_with(&a.room, &a.links[0].token, "0000000000000000", "Erika");
    assert_eq!(error_code(&out, s), Some(ErrorCode::ConsentRequired));
    assert_eq!(w.list("anna")[0].links[0].consented_at, None, "no consent recorded");
    let (first, _) = w.patient(&a, 0, "Erika");
    let (second, out) = w.patient(&a, 0, "Erika am Tablet");
    assert_eq!(error_code(&out, second), Some(ErrorCode::LinkInUse));
    w.input(Input::Disconnected { session: first });
    let (third, out) = w.patient(&a, 0, "Erika am Tablet");
    assert_eq!(sent_to(&out, third), [ServerMsg::Waiting { reason: WaitReason::Host }], "free once the first is gone");
}

#[test]
fn only_the_therapist_who_made_it_opens_an_appointment_room() {
    let mut w = World::practice(9);
    let a = w.appointment("anna", T0, 1);
    let (s, out) = w.host("bernd", &a.room);
    assert_eq!(error_code(&out, s), Some(ErrorCode::NotYourSession));
    let s = w.connected(None);
    let out = w.send(s, hello(&a.room, "Gast"));
    assert_eq!(error_code(&out, s), Some(ErrorCode::AppointmentInvalid));
    assert!(closed(&out, s));
    // A name of that form without an appointment is nobody's room.
    let (s, out) = w.host("anna", &format!("t-{}", "b".repeat(26)));
    assert_eq!(error_code(&out, s), Some(ErrorCode::AppointmentInvalid));
    assert_eq!(w.rooms.room_count(), 0);
    let (t, out) = w.host("anna", &a.room.to_uppercase());
    assert!(matches!(sent_to(&out, t).first(), Some(ServerMsg::Welcome { .. })), "names are case-insensitive");
    // Another therapist is refused with the room open too.
    let (s, out) = w.host("bernd", &a.room);
    assert_eq!(error_code(&out, s), Some(ErrorCode::NotYourSession));
}

#[test]
fn an_appointment_meeting_holds_the_therapist_and_max_patients() {
    let mut w = World::practice(2);
    let a = w.appointment("anna", T0, 2);
    let (t, _) = w.host("anna", &a.room);
    for (n, name) in [(0, "Eins"), (1, "Zwei")] {
        let (p, _) = w.patient(&a, n, name);
        let out = w.send(t, ClientMsg::LobbyAdmit { id: format!("p{}", p.0) });
        assert!(matches!(sent_to(&out, p).first(), Some(ServerMsg::Welcome { .. })));
    }
    let (extra, out) = w.host("anna", &a.room);
    assert_eq!(error_code(&out, extra), Some(ErrorCode::RoomFull), "a 4th participant of 2 patients + therapist");
}

#[test]
fn lobby_private_chat_and_recording_stay_as_the_appointment_needs() {
    let mut w = World::practice(9);
    let a = w.appointment("anna", T0, 2);
    let (t, out) = w.host("anna", &a.room);
    assert!(sent_to(&out, t).contains(&ServerMsg::RoomState {
        locked: false,
        lobby: true,
        private_chat: false,
        e2ee: false
    }));
    let out = w.send(t, ClientMsg::SetLobby { enabled: false });
    assert_eq!(error_code(&out, t), Some(ErrorCode::NotAllowed));
    let out = w.send(t, ClientMsg::RecordStart {});
    assert_eq!(error_code(&out, t), Some(ErrorCode::RecordingUnavailable));
    // No room password, no breakout rooms (patients alone together).
    let out = w.send(t, ClientMsg::SetPassword { password: Some("geheim".into()) });
    assert_eq!(error_code(&out, t), Some(ErrorCode::NotAllowed));
    let out = w.send(t, ClientMsg::BreakoutCreate { names: vec!["A".into(), "B".into()] });
    assert_eq!(error_code(&out, t), Some(ErrorCode::NotAllowed));
    let out = w.send(t, ClientMsg::BreakoutRandom {});
    assert_eq!(error_code(&out, t), Some(ErrorCode::NotAllowed));
    let (p, _) = w.patient(&a, 0, "Eins");
    w.send(t, ClientMsg::LobbyAdmit { id: format!("p{}", p.0) });
    let out = w.send(p, ClientMsg::PrivateChat { to: format!("p{}", t.0), text: "hallo".into() });
    assert_eq!(error_code(&out, p), Some(ErrorCode::PrivateChatDisabled));
}

#[test]
fn the_therapist_leaves_a_waiting_patient_a_message() {
    let mut w = World::practice(9);
    let a = w.appointment("anna", T0, 2);
    let (t, _) = w.host("anna", &a.room);
    let (p, _) = w.patient(&a, 0, "Eins");
    let (q, _) = w.patient(&a, 1, "Zwei");
    let pid = format!("p{}", p.0);
    let out = w.send(t, ClientMsg::LobbyMessage { id: pid.clone(), text: " In 5 Minuten bin ich da. ".into() });
    assert_eq!(
        sent_to(&out, p),
        [ServerMsg::WaitingMessage { text: "In 5 Minuten bin ich da.".into(), from_name: "Dr. anna".into() }]
    );
    assert!(sent_to(&out, q).is_empty(), "to that patient only");
    let out = w.send(t, ClientMsg::LobbyMessage { id: pid.clone(), text: "x".repeat(201) });
    assert_eq!(error_code(&out, t), Some(ErrorCode::BadMessage));
    let out = w.send(t, ClientMsg::LobbyMessage { id: pid.clone(), text: "  ".into() });
    assert_eq!(error_code(&out, t), Some(ErrorCode::BadMessage));
    let out = w.send(t, ClientMsg::LobbyMessage { id: "nobody".into(), text: "hi".into() });
    assert_eq!(error_code(&out, t), Some(ErrorCode::UnknownParticipant));
    w.send(t, ClientMsg::LobbyAdmit { id: pid });
    let out = w.send(p, ClientMsg::LobbyMessage { id: format!("p{}", q.0), text: "hi".into() });
    assert_eq!(error_code(&out, p), Some(ErrorCode::NotModerator), "a patient cannot");
}

#[test]
fn ending_the_meeting_ends_the_appointment_and_revoking_sends_the_patient_away() {
    let mut w = World::practice(9);
    let a = w.appointment("anna", T0, 3);
    let (t, _) = w.host("anna", &a.room);
    let (p1, _) = w.patient(&a, 0, "Eins");
    let (p2, _) = w.patient(&a, 1, "Zwei");
    w.send(t, ClientMsg::LobbyAdmit { id: format!("p{}", p1.0) });
    let (_, out) = w.request(Request::Revoke { owner: owner("anna"), id: a.id.clone(), n: 1 });
    assert_eq!(bye(&out, p1), Some(ByeReason::LinkRevoked));
    assert!(closed(&out, p1));
    assert!(sent_to(&out, t).iter().any(|m| matches!(m, ServerMsg::ParticipantLeft { .. })));
    w.now += Duration::from_secs(60);
    let out = w.send(t, ClientMsg::EndMeeting {});
    assert_eq!(bye(&out, p2), Some(ByeReason::MeetingEnded), "the waiting patient too");
    let list = w.list("anna");
    assert_eq!(list[0].ended_at, Some(T0 + 60));
    let (p3, out) = w.patient(&a, 2, "Drei");
    assert_eq!(error_code(&out, p3), Some(ErrorCode::AppointmentInvalid), "every link refused after the end");
    let (t2, out) = w.host("anna", &a.room);
    assert_eq!(error_code(&out, t2), Some(ErrorCode::AppointmentInvalid), "the therapist does not reopen it");
    assert_eq!(w.rooms.room_count(), 0);
    match w.request(Request::Attendance { owner: owner("anna"), id: a.id.clone() }).0 {
        Reply::Attendance(r) => {
            let names: Vec<&str> = r.participants.iter().map(|p| p.name.as_str()).collect();
            assert_eq!(names, ["Eins", "Zwei"]);
            assert_eq!(r.participants[0].joined_at, Some(T0));
            assert_eq!(r.participants[0].left_at, Some(T0), "sent away at the revocation");
            assert_eq!(r.participants[1].joined_at, None, "never let in");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn deleting_an_appointment_ends_its_meeting() {
    let mut w = World::practice(9);
    let a = w.appointment("anna", T0, 1);
    let (t, _) = w.host("anna", &a.room);
    let (p, _) = w.patient(&a, 0, "Eins");
    let (reply, _) = w.request(Request::Delete { owner: owner("bernd"), id: a.id.clone() });
    assert!(matches!(reply, Reply::Refused(crate::teletherapy::Refusal::NotFound)));
    let (reply, out) = w.request(Request::Delete { owner: owner("anna"), id: a.id.clone() });
    assert_eq!(reply, Reply::Deleted);
    assert_eq!(bye(&out, t), Some(ByeReason::MeetingEnded));
    assert_eq!(bye(&out, p), Some(ByeReason::MeetingEnded));
    assert_eq!(w.rooms.room_count(), 0);
    assert!(w.list("anna").is_empty());
}

fn screen_mutes(out: &[Effect], s: SessionId) -> Vec<bool> {
    media(out)
        .into_iter()
        .filter_map(|c| match c {
            MediaCommand::Mute { session, source: crate::protocol::Source::Screen, muted } if session == s => {
                Some(muted)
            }
            _ => None,
        })
        .collect()
}

fn shows_screen(out: &[Effect], to: SessionId) -> Option<bool> {
    sent_to(out, to).into_iter().rev().find_map(|m| match m {
        ServerMsg::ParticipantUpdated { participant } => Some(participant.screen),
        _ => None,
    })
}

/// A therapist and two admitted patients.
fn meeting(w: &mut World) -> (SessionId, SessionId, SessionId) {
    let a = w.appointment("anna", T0, 2);
    let (t, _) = w.host("anna", &a.room);
    let (p, _) = w.patient(&a, 0, "Eins");
    let (q, _) = w.patient(&a, 1, "Zwei");
    for s in [p, q] {
        let out = w.send(t, ClientMsg::LobbyAdmit { id: format!("p{}", s.0) });
        assert_eq!(screen_mutes(&out, s), [true], "the screen starts muted at the media server");
    }
    (t, p, q)
}

#[test]
fn a_patient_shares_the_screen_only_after_the_therapist_allowed_it() {
    let mut w = World::practice(9);
    let (t, p, q) = meeting(&mut w);
    let on = ClientMsg::MediaState { mic: true, camera: true, screen: true };
    let out = w.send(p, on.clone());
    assert_eq!(error_code(&out, p), Some(ErrorCode::ScreenNotAllowed));
    assert_ne!(shows_screen(&out, t), Some(true), "nobody is shown a screen");
    let offer = ClientMsg::PublishOffer {
        sdp: "v=0".into(),
        tracks: vec![crate::protocol::PublishedTrack { mid: "2".into(), source: crate::protocol::Source::Screen }],
    };
    assert_eq!(error_code(&w.send(p, offer), p), Some(ErrorCode::ScreenNotAllowed));
    let out = w.send(p, ClientMsg::Unmute { source: crate::protocol::Source::Screen });
    assert_eq!(error_code(&out, p), Some(ErrorCode::ScreenNotAllowed));
    assert!(screen_mutes(&out, p).is_empty(), "unmute does not lift it");

    let out = w.send(p, ClientMsg::ScreenRequest {});
    assert_eq!(sent_to(&out, t), [ServerMsg::ScreenRequest { id: format!("p{}", p.0), name: "Eins".into() }]);
    assert!(sent_to(&out, q).is_empty(), "another patient is not asked");
    let out = w.send(q, ClientMsg::ScreenAnswer { id: format!("p{}", p.0), allow: true });
    assert_eq!(error_code(&out, q), Some(ErrorCode::UnknownParticipant), "only who was asked answers");
    let out = w.send(t, ClientMsg::ScreenAnswer { id: format!("p{}", p.0), allow: true });
    assert_eq!(sent_to(&out, p), [ServerMsg::ScreenAnswer { allow: true, by_name: "Dr. anna".into() }]);
    assert_eq!(screen_mutes(&out, p), [false]);
    let out = w.send(p, on.clone());
    assert_eq!(error_code(&out, p), None);
    assert_eq!(shows_screen(&out, t), Some(true));
    // Stopping ends the permission.
    let out = w.send(p, ClientMsg::MediaState { mic: true, camera: true, screen: false });
    assert_eq!(screen_mutes(&out, p), [true]);
    w.now += Duration::from_secs(2);
    let out = w.send(p, on);
    assert_eq!(error_code(&out, p), Some(ErrorCode::ScreenNotAllowed));
}

#[test]
fn the_therapists_screen_needs_every_patient_and_one_refusal_ends_the_request() {
    let mut w = World::practice(9);
    let (t, p, q) = meeting(&mut w);
    let tid = format!("p{}", t.0);
    let out = w.send(t, ClientMsg::ScreenRequest {});
    for s in [p, q] {
        assert_eq!(sent_to(&out, s), [ServerMsg::ScreenRequest { id: tid.clone(), name: "Dr. anna".into() }]);
    }
    let out = w.send(p, ClientMsg::ScreenAnswer { id: tid.clone(), allow: true });
    assert!(sent_to(&out, t).is_empty(), "not yet: the other patient has not answered");
    let out = w.send(q, ClientMsg::ScreenAnswer { id: tid.clone(), allow: false });
    assert_eq!(sent_to(&out, t), [ServerMsg::ScreenAnswer { allow: false, by_name: "Zwei".into() }]);
    assert!(screen_mutes(&out, t).is_empty());
    let out = w.send(t, ClientMsg::ScreenRequest {});
    assert_eq!(sent_to(&out, q).len(), 1);
    let out = w.send(q, ClientMsg::ScreenAnswer { id: tid.clone(), allow: true });
    assert!(sent_to(&out, t).is_empty());
    let out = w.send(p, ClientMsg::ScreenAnswer { id: tid, allow: true });
    assert_eq!(sent_to(&out, t), [ServerMsg::ScreenAnswer { allow: true, by_name: "Eins".into() }]);
    assert_eq!(screen_mutes(&out, t), [false]);
}

#[test]
fn outside_appointment_rooms_screen_sharing_needs_no_consent() {
    let mut w = World::practice(9);
    let (t, out) = w.host("anna", "team");
    assert!(screen_mutes(&out, t).is_empty());
    let out = w.send(t, ClientMsg::MediaState { mic: false, camera: false, screen: true });
    assert_eq!(error_code(&out, t), None);
    let out = w.send(t, ClientMsg::ScreenRequest {});
    assert_eq!(error_code(&out, t), Some(ErrorCode::NotAllowed));
}

#[test]
fn the_rooms_forget_an_appointment_a_retention_after_its_end() {
    let mut w = World::practice(9);
    let a = w.appointment("anna", T0, 1);
    let never = w.appointment("anna", T0, 1);
    let (t, _) = w.host("anna", &a.room);
    w.send(t, ClientMsg::EndMeeting {});
    let retention = w.rooms.appointments.settings().retention_secs as u64;
    w.now += Duration::from_secs(retention - 60);
    w.input(Input::Tick);
    assert_eq!(w.list("anna").len(), 2, "kept within the retention");
    w.now += Duration::from_secs(61);
    w.input(Input::Tick);
    let left: Vec<String> = w.list("anna").into_iter().map(|x| x.id).collect();
    assert_eq!(
        left,
        std::slice::from_ref(&never.id),
        "the ended one is gone; the never started one lasts until its window closed + retention"
    );
    w.now += Duration::from_secs(never.closes_at as u64 - T0 as u64);
    w.input(Input::Tick);
    assert!(w.list("anna").is_empty());
    assert!(w.rooms.appointments.is_empty());
}

#[test]
fn a_patient_waits_for_the_therapist_as_long_as_the_link_works_not_rooms_max_wait() {
    let mut w = World::practice(9);
    let a = w.appointment("anna", T0 + 1800, 1);
    let (p, _) = w.patient(&a, 0, "Früh da");
    let (guest, out) = w.join("team", "Gast");
    assert_eq!(sent_to(&out, guest), [ServerMsg::Waiting { reason: WaitReason::Host }]);
    // Past rooms.max_wait_minutes (30): the ordinary guest goes, the patient stays.
    w.now += Duration::from_secs(31 * 60);
    let out = w.input(Input::Tick);
    assert_eq!(bye(&out, guest), Some(ByeReason::WaitExpired));
    assert_eq!(bye(&out, p), None);
    // Once the link's window closed, the patient is told too.
    w.now += Duration::from_secs((a.closes_at - T0) as u64);
    let out = w.input(Input::Tick);
    assert_eq!(bye(&out, p), Some(ByeReason::WaitExpired));
}

#[test]
fn the_record_says_how_the_media_travelled() {
    for (e2ee, expected) in [
        (crate::config::E2eeMode::Required, crate::teletherapy::Connection::E2ee),
        (crate::config::E2eeMode::Optional, crate::teletherapy::Connection::Transit),
    ] {
        let mut w = World::practice(9);
        w.rooms.settings.e2ee = e2ee;
        let a = w.appointment("anna", T0, 1);
        let (t, _) = w.host("anna", &a.room);
        w.send(t, ClientMsg::EndMeeting {});
        match w.request(Request::Attendance { owner: owner("anna"), id: a.id.clone() }).0 {
            Reply::Attendance(r) => assert_eq!(r.connection, expected, "{e2ee:?}"),
            other => panic!("{other:?}"),
        }
    }
}
