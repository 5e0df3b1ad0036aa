//! Access decisions, lobby, password, roles, moderator actions and breakout
//! rooms, driven through [`Rooms::handle`] with a simulated clock.

use std::sync::Arc;

use zeroize::Zeroizing;

use super::*;
use crate::auth::throttle::{Limits, Throttle};
use crate::config::AccessMode;
use crate::protocol::{BreakoutPlace, Person, Source, WaitReason};

fn account(name: &str, may_host: bool) -> Account {
    Account { username: Zeroizing::new(name.to_lowercase()), display_name: Zeroizing::new(name.into()), may_host }
}

fn id(s: SessionId) -> String {
    format!("p{}", s.0)
}

impl World {
    fn mode(mode: AccessMode) -> World {
        World::with(Settings { access_mode: mode, ..Settings::default() })
    }

    fn connect_as(&mut self, account: Option<Account>) -> SessionId {
        let session = SessionId(self.next);
        self.next += 1;
        let out = self.input(Input::Connected {
            session,
            participant: id(session),
            account,
            source: Some("192.0.2.7".parse().expect("literal")),
        });
        assert!(out.is_empty());
        session
    }

    fn enter(&mut self, room: &str, name: &str, account: Option<Account>) -> (SessionId, Vec<Effect>) {
        let s = self.connect_as(account);
        let out = self.send(s, hello(room, name));
        (s, out)
    }

    /// The room key of a joined session.
    fn room_of(&self, s: SessionId) -> Option<RoomKey> {
        self.rooms.sessions.get(&s).and_then(|x| x.room)
    }
}

fn welcomed(out: &[Effect], to: SessionId) -> bool {
    sent_to(out, to).iter().any(|m| matches!(m, ServerMsg::Welcome { .. }))
}

fn you(out: &[Effect], to: SessionId) -> Participant {
    sent_to(out, to)
        .into_iter()
        .find_map(|m| match m {
            ServerMsg::Welcome { you, .. } => Some(you),
            _ => None,
        })
        .expect("welcome")
}

fn ticket(out: &[Effect], to: SessionId) -> String {
    sent_to(out, to)
        .into_iter()
        .find_map(|m| match m {
            ServerMsg::Ticket { ticket } => Some(ticket),
            _ => None,
        })
        .expect("ticket")
}

fn joins(out: &[Effect]) -> Vec<SessionId> {
    media(out)
        .into_iter()
        .filter_map(|c| match c {
            MediaCommand::Join { session, .. } => Some(session),
            _ => None,
        })
        .collect()
}

fn lobby_list(out: &[Effect], to: SessionId) -> Option<Vec<String>> {
    sent_to(out, to).into_iter().rev().find_map(|m| match m {
        ServerMsg::Lobby { knocking } => Some(knocking.into_iter().map(|p| p.display_name).collect()),
        _ => None,
    })
}

fn moderator_flag(out: &[Effect], to: SessionId, of: SessionId) -> Option<bool> {
    sent_to(out, to).into_iter().find_map(|m| match m {
        ServerMsg::ParticipantUpdated { participant } if participant.id == id(of) => Some(participant.moderator),
        _ => None,
    })
}

fn all_json(out: &[Effect]) -> String {
    out.iter()
        .filter_map(|e| match e {
            Effect::Send { msg, .. } | Effect::Broadcast { msg, .. } => Some(serde_json::to_string(msg).expect("json")),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

// ---- access: issue 5 ------------------------------------------------------

#[test]
fn in_open_mode_the_first_participant_moderates_and_the_next_does_not() {
    let mut w = World::new();
    let (a, out) = w.join("team", "Ada");
    assert!(you(&out, a).moderator);
    let (b, out) = w.join("team", "Bob");
    assert!(!you(&out, b).moderator);
    assert!(
        matches!(&sent_to(&out, a)[..], [ServerMsg::ParticipantJoined { participant }] if !participant.moderator),
        "the others see the newcomer's role"
    );
    assert!(
        sent_to(&out, b).iter().any(|m| matches!(
            m,
            ServerMsg::RoomState { locked: false, lobby: false, private_chat: true, e2ee: false }
        )),
        "room state follows welcome"
    );
}

#[test]
fn in_secure_mode_guests_wait_for_a_host_and_join_by_themselves_when_one_opens_the_room() {
    let mut w = World::mode(AccessMode::Secure);
    let (g1, out) = w.enter("therapy", "Gast Eins", None);
    assert_eq!(sent_to(&out, g1), [ServerMsg::Waiting { reason: WaitReason::Host }]);
    assert_eq!(w.rooms.room_count(), 0, "a guest opens no room");
    // A logged-in user who may not host waits too.
    let (g2, out) = w.enter("Therapy", "typed name", Some(account("Uli Nutzer", false)));
    assert_eq!(sent_to(&out, g2), [ServerMsg::Waiting { reason: WaitReason::Host }]);
    let (other, _) = w.enter("other", "Otto", None);
    let (h, out) = w.enter("therapy", "typed", Some(account("Dr. Anna Müller", true)));
    let host = you(&out, h);
    assert!(host.moderator);
    assert_eq!(host.display_name, "Dr. Anna Müller", "a host's name comes from the account, not the client");
    assert!(welcomed(&out, g1) && welcomed(&out, g2), "both waiting guests joined without asking again");
    assert!(!you(&out, g1).moderator);
    assert_eq!(you(&out, g2).display_name, "Uli Nutzer");
    assert_eq!(joins(&out), [h, g1, g2]);
    assert!(sent_to(&out, other).is_empty(), "those waiting for another room keep waiting");
    assert_eq!(w.rooms.participant_count(), 3);
    assert!(w.rooms.waiting.len() == 1 && w.rooms.waiting.contains_key("other"));
    // Once the room is open, guests enter directly.
    let (g3, out) = w.enter("therapy", "Gast Drei", None);
    assert!(welcomed(&out, g3));
}

#[test]
fn in_closed_mode_anonymous_visitors_must_log_in_and_users_wait_for_a_host() {
    let mut w = World::mode(AccessMode::Closed);
    let (a, out) = w.enter("lab", "Anon", None);
    assert_eq!(error_code(&out, a), Some(ErrorCode::LoginRequired));
    let (u, out) = w.enter("lab", "x", Some(account("Uli", false)));
    assert_eq!(sent_to(&out, u), [ServerMsg::Waiting { reason: WaitReason::Host }]);
    let (h, out) = w.enter("lab", "x", Some(account("Hanna", true)));
    assert!(welcomed(&out, h) && welcomed(&out, u));
    let (a2, out) = w.enter("lab", "Anon", None);
    assert_eq!(error_code(&out, a2), Some(ErrorCode::LoginRequired), "even with the room open");
    assert_eq!(w.rooms.participant_count(), 2);
}

#[test]
fn waiting_guests_who_leave_are_forgotten_and_the_waiting_set_is_bounded() {
    let settings =
        Settings { access_mode: AccessMode::Secure, max_participants: 2, max_rooms: 2, ..Settings::default() };
    let mut w = World::with(settings);
    let (g1, _) = w.enter("r1", "G1", None);
    let (_g2, _) = w.enter("r1", "G2", None);
    let (g3, out) = w.enter("r1", "G3", None);
    assert_eq!(error_code(&out, g3), Some(ErrorCode::RoomFull), "per room: max_participants");
    w.enter("r2", "G4", None);
    let (g5, out) = w.enter("r3", "G5", None);
    assert_eq!(error_code(&out, g5), Some(ErrorCode::ServerFull), "rooms waited for: max_rooms");
    // Leaving while waiting: bye, and gone from the set.
    let out = w.send(g1, ClientMsg::Leave {});
    assert_eq!(sent_to(&out, g1), [ServerMsg::Bye { reason: ByeReason::Left }]);
    assert_eq!(w.rooms.waiting["r1"].len(), 1);
    // Disconnecting while waiting too; an emptied name is dropped.
    w.input(Input::Disconnected { session: _g2 });
    assert!(!w.rooms.waiting.contains_key("r1"));
    // Waiting sessions may do nothing but wait.
    let (g6, _) = w.enter("r1", "G6", None);
    let out = w.send(g6, ClientMsg::Chat { text: "let me in".into() });
    assert_eq!(error_code(&out, g6), Some(ErrorCode::NotJoined));
}

// ---- roles and handover --------------------------------------------------

#[test]
fn a_host_who_joins_later_moderates_too() {
    let mut w = World::new();
    let (a, _) = w.join("team", "Ada");
    let (h, out) = w.enter("team", "x", Some(account("Hanna", true)));
    assert!(you(&out, h).moderator);
    assert!(w.rooms.digest().contains("p1 mod=true"), "{}", w.rooms.digest());
    let _ = a;
}

#[test]
fn when_the_last_moderator_leaves_a_logged_in_participant_takes_over_else_the_longest_present() {
    let mut w = World::new();
    let (a, _) = w.join("team", "Ada");
    let (b, _) = w.join("team", "Bob");
    let (u, _) = w.enter("team", "x", Some(account("Uli", false)));
    let (c, _) = w.join("team", "Cy");
    let out = w.send(a, ClientMsg::Leave {});
    assert_eq!(moderator_flag(&out, c, u), Some(true), "the logged-in participant, although Bob came first");
    let out = w.input(Input::Disconnected { session: u });
    assert_eq!(moderator_flag(&out, c, b), Some(true), "then the longest present");
    assert_eq!(moderator_flag(&out, b, b), Some(true), "the new moderator is told too");
    // And can act.
    let out = w.send(b, ClientMsg::Mute { id: id(c), source: Source::Mic });
    assert!(sent_to(&out, c).iter().any(|m| matches!(m, ServerMsg::Muted { .. })));
}

#[test]
fn a_new_moderator_sees_the_lobby_at_once() {
    let mut w = World::new();
    let (a, _) = w.join("team", "Ada");
    let (b, _) = w.join("team", "Bob");
    w.send(a, ClientMsg::SetLobby { enabled: true });
    let (_k, _) = w.join("team", "Knut");
    let out = w.send(a, ClientMsg::Leave {});
    assert_eq!(lobby_list(&out, b), Some(vec!["Knut".to_string()]));
}

#[test]
fn moderators_can_grant_moderation() {
    let mut w = World::new();
    let (a, _) = w.join("team", "Ada");
    let (b, _) = w.join("team", "Bob");
    let (c, _) = w.join("team", "Cy");
    let out = w.send(a, ClientMsg::GrantModerator { id: id(b) });
    assert_eq!(moderator_flag(&out, c, b), Some(true));
    let out = w.send(b, ClientMsg::LowerHands {});
    assert_eq!(error_code(&out, b), None, "Bob can act now");
    assert!(w.send(a, ClientMsg::GrantModerator { id: id(b) }).is_empty(), "granting twice changes nothing");
    let out = w.send(a, ClientMsg::GrantModerator { id: "nobody".into() });
    assert_eq!(error_code(&out, a), Some(ErrorCode::UnknownParticipant));
}

// ---- the permission matrix -----------------------------------------------

fn every_moderator_message(target: &str, knocker: &str) -> Vec<ClientMsg> {
    vec![
        ClientMsg::Mute { id: target.into(), source: Source::Mic },
        ClientMsg::Mute { id: target.into(), source: Source::Camera },
        ClientMsg::MuteAll { source: Source::Mic },
        ClientMsg::AskUnmute { id: target.into(), source: Source::Mic },
        ClientMsg::Remove { id: target.into() },
        ClientMsg::LowerHands {},
        ClientMsg::EndMeeting {},
        ClientMsg::GrantModerator { id: target.into() },
        ClientMsg::SetPassword { password: Some("sesam".into()) },
        ClientMsg::SetPassword { password: None },
        ClientMsg::SetLobby { enabled: false },
        ClientMsg::LobbyAdmit { id: knocker.into() },
        ClientMsg::LobbyDeny { id: knocker.into() },
        ClientMsg::BreakoutCreate { names: vec!["X".into()] },
        ClientMsg::BreakoutAssign { id: target.into(), room: Some("b1".into()) },
        ClientMsg::BreakoutRandom {},
        ClientMsg::BreakoutBroadcast { text: "hi".into() },
        ClientMsg::BreakoutCloseAll {},
    ]
}

#[test]
fn every_moderator_message_from_a_non_moderator_is_refused_and_changes_nothing() {
    let mut w = World::new();
    let (a, _) = w.join("team", "Ada");
    let (b, _) = w.join("team", "Bob");
    let (c, _) = w.join("team", "Cy");
    w.send(c, ClientMsg::Hand { raised: true });
    w.send(a, ClientMsg::BreakoutCreate { names: vec!["One".into(), "Two".into()] });
    w.send(a, ClientMsg::SetLobby { enabled: true });
    let (k, _) = w.join("team", "Knut");
    // Bob in the main room, and Cy in a breakout room, try everything.
    w.send(a, ClientMsg::BreakoutAssign { id: id(c), room: Some("b2".into()) });
    for (sender, target) in [(b, c), (c, b), (b, a), (c, a)] {
        for msg in every_moderator_message(&id(target), &id(k)) {
            let before = w.rooms.digest();
            let out = w.send(sender, msg.clone());
            assert_eq!(
                out,
                [Effect::Send {
                    to: sender,
                    msg: ServerMsg::Error {
                        code: ErrorCode::NotModerator,
                        message: "only moderators may do this".into()
                    }
                }],
                "{msg:?}"
            );
            assert_eq!(w.rooms.digest(), before, "{msg:?} changed something");
        }
    }
    // The same messages from the moderator do work (so the refusal above is
    // about the role, not about the messages).
    let out = w.send(a, ClientMsg::LobbyAdmit { id: id(k) });
    assert!(welcomed(&out, k));
    let out = w.send(a, ClientMsg::Mute { id: id(b), source: Source::Mic });
    assert!(sent_to(&out, b).iter().any(|m| matches!(m, ServerMsg::Muted { .. })));
}

#[test]
fn moderator_messages_before_joining_are_refused() {
    let mut w = World::new();
    let (a, _) = w.join("team", "Ada");
    let s = w.connect();
    for msg in every_moderator_message(&id(a), "x") {
        let before = w.rooms.digest();
        let out = w.send(s, msg.clone());
        assert_eq!(error_code(&out, s), Some(ErrorCode::NotJoined), "{msg:?}");
        assert_eq!(out.len(), 1);
        assert_eq!(w.rooms.digest(), before);
    }
}

// ---- moderator actions ---------------------------------------------------

#[test]
fn a_muted_source_stays_off_at_the_server_until_the_participant_turns_it_on() {
    let mut w = World::new();
    let (a, _) = w.join("team", "Ada");
    let (b, _) = w.join("team", "Bob");
    w.send(b, ClientMsg::MediaState { mic: true, camera: true, screen: false });
    let out = w.send(a, ClientMsg::Mute { id: id(b), source: Source::Mic });
    assert_eq!(media(&out), [MediaCommand::Mute { session: b, source: Source::Mic, muted: true }]);
    assert!(sent_to(&out, b).contains(&ServerMsg::Muted { source: Source::Mic, by: id(a), by_name: "Ada".into() }));
    assert!(
        sent_to(&out, a).iter().any(
            |m| matches!(m, ServerMsg::ParticipantUpdated { participant } if !participant.mic && participant.camera)
        )
    );
    // A client that ignores the mute cannot show itself as speaking.
    let out = w.send(b, ClientMsg::MediaState { mic: true, camera: true, screen: false });
    assert!(out.is_empty(), "{out:?}");
    assert!(media(&w.send(a, ClientMsg::Mute { id: id(b), source: Source::Mic })).is_empty(), "muting twice: nothing");
    // The participant decides to speak again.
    let out = w.send(b, ClientMsg::Unmute { source: Source::Mic });
    assert_eq!(media(&out), [MediaCommand::Mute { session: b, source: Source::Mic, muted: false }]);
    let out = w.send(b, ClientMsg::MediaState { mic: true, camera: true, screen: false });
    assert!(
        sent_to(&out, a).iter().any(|m| matches!(m, ServerMsg::ParticipantUpdated { participant } if participant.mic))
    );
    assert!(w.send(b, ClientMsg::Unmute { source: Source::Mic }).is_empty(), "unmuting what is not muted: nothing");
}

#[test]
fn mute_all_mutes_everyone_else_in_the_room_and_nobody_elsewhere() {
    let mut w = World::new();
    let (a, _) = w.join("team", "Ada");
    let (b, _) = w.join("team", "Bob");
    let (c, _) = w.join("team", "Cy");
    let (d, _) = w.join("other", "Di");
    let out = w.send(a, ClientMsg::MuteAll { source: Source::Mic });
    let muted: Vec<SessionId> = media(&out)
        .into_iter()
        .filter_map(|m| match m {
            MediaCommand::Mute { session, muted: true, .. } => Some(session),
            _ => None,
        })
        .collect();
    assert_eq!(muted, [b, c]);
    assert!(sent_to(&out, d).is_empty());
}

#[test]
fn ask_to_unmute_reaches_only_the_participant_and_changes_nothing() {
    let mut w = World::new();
    let (a, _) = w.join("team", "Ada");
    let (b, _) = w.join("team", "Bob");
    let before = w.rooms.digest();
    let out = w.send(a, ClientMsg::AskUnmute { id: id(b), source: Source::Camera });
    assert_eq!(
        out,
        [Effect::Send {
            to: b,
            msg: ServerMsg::UnmuteRequest { source: Source::Camera, by: id(a), by_name: "Ada".into() }
        }]
    );
    assert_eq!(w.rooms.digest(), before);
}

#[test]
fn a_removed_participant_is_told_loses_media_and_cannot_use_the_ticket() {
    let mut w = World::new();
    let (a, _) = w.join("team", "Ada");
    let (b, joined) = w.join("team", "Bob");
    let (c, _) = w.join("team", "Cy");
    let bob_ticket = ticket(&joined, b);
    let out = w.send(a, ClientMsg::Remove { id: id(b) });
    assert_eq!(sent_to(&out, b), [ServerMsg::Bye { reason: ByeReason::Removed }]);
    assert!(out.contains(&Effect::Close { session: b }));
    assert_eq!(media(&out), [MediaCommand::Leave { session: b }]);
    assert_eq!(sent_to(&out, c), [ServerMsg::ParticipantLeft { id: id(b) }]);
    assert_eq!(w.rooms.participant_count(), 2);
    // With the lobby on, the old ticket no longer skips it.
    w.send(a, ClientMsg::SetLobby { enabled: true });
    let s = w.connect();
    let out = w
        .send(s, ClientMsg::Rejoin { version: 1, room: "team".into(), display_name: "Bob".into(), ticket: bob_ticket });
    assert_eq!(sent_to(&out, s)[0], ServerMsg::Waiting { reason: WaitReason::Lobby });
    // Removing oneself is not a thing.
    let out = w.send(a, ClientMsg::Remove { id: id(a) });
    assert_eq!(error_code(&out, a), Some(ErrorCode::UnknownParticipant));
}

#[test]
fn lower_hands_lowers_every_hand_in_the_room() {
    let mut w = World::new();
    let (a, _) = w.join("team", "Ada");
    let (b, _) = w.join("team", "Bob");
    let (c, _) = w.join("team", "Cy");
    w.send(b, ClientMsg::Hand { raised: true });
    w.send(c, ClientMsg::Hand { raised: true });
    let out = w.send(a, ClientMsg::LowerHands {});
    let lowered: Vec<String> = sent_to(&out, a)
        .into_iter()
        .filter_map(|m| match m {
            ServerMsg::ParticipantUpdated { participant } if !participant.hand => Some(participant.id),
            _ => None,
        })
        .collect();
    assert_eq!(lowered, [id(b), id(c)]);
    assert!(!w.rooms.digest().contains("hand=true"));
}

#[test]
fn ending_the_meeting_ends_it_for_everyone_and_wipes_it() {
    let mut w = World::new();
    let (a, _) = w.join("team", "Ada");
    let (b, _) = w.join("team", "Bob");
    let (c, _) = w.join("team", "Cy");
    w.send(a, ClientMsg::BreakoutCreate { names: vec!["One".into()] });
    w.send(a, ClientMsg::BreakoutAssign { id: id(c), room: Some("b1".into()) });
    w.send(a, ClientMsg::SetPassword { password: Some("sesam".into()) });
    let (k, _) = w.join("team", "Knocker");
    let out = w.send(a, ClientMsg::EndMeeting {});
    for s in [a, b, c, k] {
        assert_eq!(sent_to(&out, s), [ServerMsg::Bye { reason: ByeReason::MeetingEnded }], "{s:?}");
        assert!(out.contains(&Effect::Close { session: s }));
    }
    assert_eq!(media(&out).len(), 3, "media of the three participants ends");
    assert_eq!(w.rooms.room_count(), 0, "main and breakout rooms are gone");
    assert!(w.rooms.by_name.is_empty());
    assert_eq!(w.rooms.session_count(), 0);
    // The name starts a fresh meeting, without the password.
    let (d, out) = w.join("team", "Di");
    assert!(welcomed(&out, d) && you(&out, d).moderator);
}

// ---- password ------------------------------------------------------------

#[test]
fn a_room_password_is_needed_to_join_and_never_sent_to_anyone() {
    let mut w = World::new();
    let (a, _) = w.join("team", "Ada");
    let (b, _) = w.join("team", "Bob");
    let secret = "Kabine-Sesam-öffne-dich";
    let out = w.send(a, ClientMsg::SetPassword { password: Some(secret.into()) });
    for s in [a, b] {
        assert_eq!(
            sent_to(&out, s),
            [ServerMsg::RoomState { locked: true, lobby: false, private_chat: true, e2ee: false }]
        );
    }
    let mut everything = all_json(&out);
    let (g, out) = w.join("team", "Gast");
    everything += &all_json(&out);
    assert_eq!(sent_to(&out, g), [ServerMsg::PasswordRequired { wrong: false, retry_after_secs: 0 }]);
    assert!(joins(&out).is_empty());
    let out = w.send(g, ClientMsg::Password { password: "sesam".into() });
    everything += &all_json(&out);
    assert_eq!(sent_to(&out, g), [ServerMsg::PasswordRequired { wrong: true, retry_after_secs: 0 }]);
    let out = w.send(g, ClientMsg::Password { password: secret.into() });
    everything += &all_json(&out);
    assert!(welcomed(&out, g));
    assert_eq!(joins(&out), [g]);
    assert!(!everything.contains(secret) && !everything.contains("Sesam"), "the password went out: {everything}");
    // Bad passwords are refused and change nothing.
    let before = w.rooms.digest();
    for bad in ["x".repeat(129), "a\u{0}b".to_string()] {
        let out = w.send(a, ClientMsg::SetPassword { password: Some(bad) });
        assert_eq!(error_code(&out, a), Some(ErrorCode::BadPassword));
    }
    assert_eq!(w.rooms.digest(), before);
}

#[test]
fn password_guesses_go_through_the_throttle() {
    let limits = Limits { free_per_pair: 3, per_source_burst: 100, ..Limits::LOGIN };
    let throttle = Arc::new(Throttle::new(limits));
    let mut w = World::new();
    w.rooms = Rooms::new(Settings::default()).with_throttle(Arc::clone(&throttle));
    let (a, _) = w.join("team", "Ada");
    w.send(a, ClientMsg::SetPassword { password: Some("right one".into()) });
    let (g, _) = w.join("team", "Gast");
    for _ in 0..3 {
        let out = w.send(g, ClientMsg::Password { password: "wrong".into() });
        assert_eq!(sent_to(&out, g), [ServerMsg::PasswordRequired { wrong: true, retry_after_secs: 0 }]);
    }
    // Now even the right password is not looked at: this source backs off.
    let out = w.send(g, ClientMsg::Password { password: "right one".into() });
    match &sent_to(&out, g)[..] {
        [ServerMsg::PasswordRequired { wrong: false, retry_after_secs }] => assert_eq!(*retry_after_secs, 1),
        other => panic!("{other:?}"),
    }
    assert!(!welcomed(&out, g));
    // The throttle is the shared one (logins use it too).
    assert_eq!(throttle.len().0, 1);
    // After the back-off, the right password works.
    w.now += Duration::from_secs(1);
    let out = w.send(g, ClientMsg::Password { password: "right one".into() });
    assert!(welcomed(&out, g));
    // The meeting ends: the room's counters are forgotten.
    w.send(a, ClientMsg::EndMeeting {});
    assert_eq!(throttle.len().0, 0, "counters of an ended meeting are gone");
}

#[test]
fn removing_the_password_lets_those_asked_for_it_in() {
    let mut w = World::new();
    let (a, _) = w.join("team", "Ada");
    w.send(a, ClientMsg::SetPassword { password: Some("pw".into()) });
    let (g, _) = w.join("team", "Gast");
    let out = w.send(a, ClientMsg::SetPassword { password: Some(String::new()) });
    assert!(welcomed(&out, g), "an empty password removes it");
    assert!(sent_to(&out, a).contains(&ServerMsg::RoomState {
        locked: false,
        lobby: false,
        private_chat: true,
        e2ee: false
    }));
}

// ---- lobby -----------------------------------------------------------------

#[test]
fn lobby_guests_knock_moderators_admit_or_deny_and_a_denied_guest_gets_no_media() {
    let mut w = World::new();
    let (a, _) = w.join("team", "Ada");
    let (b, _) = w.join("team", "Bob");
    let out = w.send(a, ClientMsg::SetLobby { enabled: true });
    assert!(sent_to(&out, b).contains(&ServerMsg::RoomState {
        locked: false,
        lobby: true,
        private_chat: true,
        e2ee: false
    }));
    let (k1, out) = w.join("team", "Knut");
    assert_eq!(sent_to(&out, k1), [ServerMsg::Waiting { reason: WaitReason::Lobby }]);
    assert_eq!(lobby_list(&out, a), Some(vec!["Knut".to_string()]));
    assert_eq!(lobby_list(&out, b), None, "only moderators see the lobby");
    let (k2, out) = w.join("team", "Kim");
    assert_eq!(lobby_list(&out, a), Some(vec!["Knut".to_string(), "Kim".to_string()]));
    let out = w.send(k1, ClientMsg::Chat { text: "hello?".into() });
    assert_eq!(error_code(&out, k1), Some(ErrorCode::NotJoined), "knockers cannot talk to the room");

    let out = w.send(a, ClientMsg::LobbyAdmit { id: id(k1) });
    assert!(welcomed(&out, k1));
    assert_eq!(joins(&out), [k1]);
    assert_eq!(lobby_list(&out, a), Some(vec!["Kim".to_string()]));

    let out = w.send(a, ClientMsg::LobbyDeny { id: id(k2) });
    assert_eq!(sent_to(&out, k2), [ServerMsg::Bye { reason: ByeReason::LobbyDenied }]);
    assert!(out.contains(&Effect::Close { session: k2 }));
    assert!(media(&out).is_empty(), "the denied guest never had media");
    assert_eq!(lobby_list(&out, a), Some(vec![]));
    let out = w.send(a, ClientMsg::LobbyAdmit { id: id(k2) });
    assert_eq!(error_code(&out, a), Some(ErrorCode::UnknownParticipant));
    // A knocker who closes the page leaves the list.
    let (k3, _) = w.join("team", "Kai");
    let out = w.input(Input::Disconnected { session: k3 });
    assert_eq!(lobby_list(&out, a), Some(vec![]));
}

#[test]
fn hosts_pass_the_lobby_and_the_password() {
    let mut w = World::new();
    let (a, _) = w.join("team", "Ada");
    w.send(a, ClientMsg::SetLobby { enabled: true });
    w.send(a, ClientMsg::SetPassword { password: Some("pw".into()) });
    let (h, out) = w.enter("team", "x", Some(account("Hanna", true)));
    assert!(welcomed(&out, h) && you(&out, h).moderator);
}

#[test]
fn a_password_set_later_lets_nobody_in_who_was_already_waiting() {
    let mut w = World::new();
    let (a, _) = w.join("team", "Ada");
    w.send(a, ClientMsg::SetLobby { enabled: true });
    let (k, _) = w.join("team", "Knut");
    let out = w.send(a, ClientMsg::SetPassword { password: Some("pw".into()) });
    assert!(sent_to(&out, k).is_empty() && joins(&out).is_empty(), "setting a password admits nobody");
    // Turning the lobby off asks them for the new password instead of letting them in.
    let out = w.send(a, ClientMsg::SetLobby { enabled: false });
    assert_eq!(sent_to(&out, k), [ServerMsg::PasswordRequired { wrong: false, retry_after_secs: 0 }]);
    assert!(joins(&out).is_empty());
    let out = w.send(k, ClientMsg::Password { password: "pw".into() });
    assert!(welcomed(&out, k));
}

#[test]
fn turning_the_lobby_off_lets_in_those_knocking() {
    let mut w = World::new();
    let (a, _) = w.join("team", "Ada");
    w.send(a, ClientMsg::SetLobby { enabled: true });
    let (k1, _) = w.join("team", "K1");
    let (k2, _) = w.join("team", "K2");
    let out = w.send(a, ClientMsg::SetLobby { enabled: false });
    assert_eq!(joins(&out), [k1, k2]);
}

#[test]
fn with_password_and_lobby_guests_give_the_password_then_knock() {
    let mut w = World::new();
    let (a, _) = w.join("team", "Ada");
    w.send(a, ClientMsg::SetLobby { enabled: true });
    w.send(a, ClientMsg::SetPassword { password: Some("pw".into()) });
    let (g, out) = w.join("team", "Gast");
    assert_eq!(lobby_list(&out, a), None, "not in the lobby before the password");
    let out = w.send(g, ClientMsg::Password { password: "pw".into() });
    assert_eq!(sent_to(&out, g), [ServerMsg::Waiting { reason: WaitReason::Lobby }]);
    assert_eq!(lobby_list(&out, a), Some(vec!["Gast".to_string()]));
}

#[test]
fn a_ticket_lets_a_participant_back_in_after_a_lost_connection() {
    let mut w = World::new();
    let (a, _) = w.join("team", "Ada");
    w.send(a, ClientMsg::SetLobby { enabled: true });
    w.send(a, ClientMsg::SetPassword { password: Some("pw".into()) });
    let (g, _) = w.join("team", "Gast");
    w.send(g, ClientMsg::Password { password: "pw".into() });
    let out = w.send(a, ClientMsg::LobbyAdmit { id: id(g) });
    let t = ticket(&out, g);
    w.input(Input::Disconnected { session: g });
    let s = w.connect();
    let rejoin =
        |t: &str| ClientMsg::Rejoin { version: 1, room: "team".into(), display_name: "Gast".into(), ticket: t.into() };
    let out = w.send(s, rejoin(&t));
    assert!(welcomed(&out, s), "no password, no lobby");
    assert_ne!(ticket(&out, s), t, "a new ticket each time");
    // A ticket works once, and a made-up one not at all.
    for bad in [t.clone(), "0".repeat(32)] {
        let s2 = w.connect();
        let out = w.send(s2, rejoin(&bad));
        assert_eq!(sent_to(&out, s2), [ServerMsg::PasswordRequired { wrong: false, retry_after_secs: 0 }]);
    }
}

#[test]
fn a_moderator_who_reconnects_is_a_moderator_again() {
    let mut w = World::new();
    let (a, out) = w.join("team", "Ada");
    let t = ticket(&out, a);
    let (b, _) = w.join("team", "Bob");
    w.input(Input::Disconnected { session: a });
    let s = w.connect();
    let out = w.send(s, ClientMsg::Rejoin { version: 1, room: "team".into(), display_name: "Ada".into(), ticket: t });
    assert!(you(&out, s).moderator);
    let _ = b;
}

#[test]
fn lobby_and_admission_respect_the_participant_limit() {
    let mut w = World::with(Settings { max_participants: 2, ..Settings::default() });
    let (a, _) = w.join("team", "Ada");
    w.send(a, ClientMsg::SetLobby { enabled: true });
    let (k1, _) = w.join("team", "K1");
    let (k2, _) = w.join("team", "K2");
    let (k3, out) = w.join("team", "K3");
    assert_eq!(error_code(&out, k3), Some(ErrorCode::RoomFull), "the lobby holds at most max_participants");
    w.send(a, ClientMsg::LobbyAdmit { id: id(k1) });
    let out = w.send(a, ClientMsg::LobbyAdmit { id: id(k2) });
    assert_eq!(error_code(&out, a), Some(ErrorCode::RoomFull));
    assert!(!welcomed(&out, k2));
    assert_eq!(lobby_list(&out, a), None, "K2 still waits");
}

// ---- private chat ----------------------------------------------------------

#[test]
fn private_chat_reaches_the_recipient_and_the_sender_only() {
    let mut w = World::new();
    let (a, _) = w.join("team", "Ada");
    let (b, _) = w.join("team", "Bob");
    let (c, _) = w.join("team", "Cy");
    let (d, _) = w.join("other", "Di");
    let out = w.send(a, ClientMsg::PrivateChat { to: id(b), text: "psst".into() });
    let expected = ServerMsg::PrivateChat {
        from: id(a),
        from_name: "Ada".into(),
        to: id(b),
        text: "psst".into(),
        ts: 1_700_000_000_000,
    };
    assert_eq!(sent_to(&out, b), std::slice::from_ref(&expected));
    assert_eq!(sent_to(&out, a), [expected]);
    assert!(sent_to(&out, c).is_empty());
    let out = w.send(a, ClientMsg::PrivateChat { to: id(d), text: "psst".into() });
    assert_eq!(error_code(&out, a), Some(ErrorCode::UnknownParticipant), "only within the room");
    assert!(sent_to(&out, d).is_empty());
    let out = w.send(a, ClientMsg::PrivateChat { to: id(a), text: "me".into() });
    assert_eq!(error_code(&out, a), Some(ErrorCode::UnknownParticipant));
}

#[test]
fn the_operator_can_turn_private_chat_off() {
    let mut w = World::with(Settings { private_chat: false, ..Settings::default() });
    let (a, out) = w.join("team", "Ada");
    assert!(sent_to(&out, a).contains(&ServerMsg::RoomState {
        locked: false,
        lobby: false,
        private_chat: false,
        e2ee: false
    }));
    let (b, _) = w.join("team", "Bob");
    let out = w.send(a, ClientMsg::PrivateChat { to: id(b), text: "psst".into() });
    assert_eq!(error_code(&out, a), Some(ErrorCode::PrivateChatDisabled));
    assert!(sent_to(&out, b).is_empty());
}

// ---- breakout rooms --------------------------------------------------------

fn moved_to(out: &[Effect], s: SessionId) -> Option<Option<BreakoutPlace>> {
    sent_to(out, s).into_iter().find_map(|m| match m {
        ServerMsg::Moved { room, .. } => Some(room),
        _ => None,
    })
}

/// (breakout room name, names in it) and the names in the main room.
type Plan = (Vec<(String, Vec<String>)>, Vec<String>);

fn breakouts(out: &[Effect], to: SessionId) -> Option<Plan> {
    sent_to(out, to).into_iter().rev().find_map(|m| match m {
        ServerMsg::Breakouts { rooms, main } => Some((
            rooms.into_iter().map(|r| (r.name, r.participants.into_iter().map(|p| p.display_name).collect())).collect(),
            main.into_iter().map(|p: Person| p.display_name).collect(),
        )),
        _ => None,
    })
}

#[test]
fn breakout_rooms_keep_chat_lists_and_media_apart_and_closing_brings_everyone_back() {
    let mut w = World::new();
    let (a, _) = w.join("team", "Ada");
    let (b, _) = w.join("team", "Bob");
    let (c, _) = w.join("team", "Cy");
    let (d, _) = w.join("team", "Di");
    let main = w.room_of(a).expect("joined");
    let out = w.send(a, ClientMsg::BreakoutCreate { names: vec!["Pair 1".into(), " Pair 2 ".into()] });
    assert_eq!(
        breakouts(&out, a),
        Some((
            vec![("Pair 1".into(), vec![]), ("Pair 2".into(), vec![])],
            vec!["Ada".into(), "Bob".into(), "Cy".into(), "Di".into()]
        ))
    );
    assert!(sent_to(&out, b).is_empty(), "participants do not see the plan");
    assert_eq!(w.rooms.room_count(), 3, "breakout rooms count as rooms");

    let out = w.send(a, ClientMsg::BreakoutAssign { id: id(b), room: Some("b1".into()) });
    assert_eq!(moved_to(&out, b), Some(Some(BreakoutPlace { id: "b1".into(), name: "Pair 1".into() })));
    let pair1 = w.room_of(b).expect("in a room");
    assert_ne!(pair1, main);
    assert_eq!(media(&out), [MediaCommand::Move { session: b, room: pair1 }]);
    for s in [a, c, d] {
        assert_eq!(sent_to(&out, s).first(), Some(&ServerMsg::ParticipantLeft { id: id(b) }));
    }
    w.send(a, ClientMsg::BreakoutAssign { id: id(c), room: Some("b1".into()) });
    let out = w.send(a, ClientMsg::BreakoutAssign { id: id(d), room: Some("b2".into()) });
    assert_eq!(
        breakouts(&out, a),
        Some((
            vec![("Pair 1".into(), vec!["Bob".into(), "Cy".into()]), ("Pair 2".into(), vec!["Di".into()])],
            vec!["Ada".into()]
        ))
    );

    // Chat stays inside a breakout room.
    let out = w.send(b, ClientMsg::Chat { text: "pair one only".into() });
    assert_eq!(sent_to(&out, c).len(), 1);
    assert!(sent_to(&out, a).is_empty() && sent_to(&out, d).is_empty());
    // The moderator's broadcast reaches every room.
    let out = w.send(a, ClientMsg::BreakoutBroadcast { text: "5 minutes left".into() });
    for s in [a, b, c, d] {
        assert!(
            matches!(&sent_to(&out, s)[..], [ServerMsg::Broadcast { text, from_name, .. }] if text == "5 minutes left" && from_name == "Ada")
        );
    }
    // The main room's last participant leaving does not end the meeting.
    w.send(a, ClientMsg::GrantModerator { id: id(d) });
    w.send(a, ClientMsg::Leave {});
    assert_eq!(w.rooms.room_count(), 3);
    assert!(w.rooms.by_name.contains_key("team"));

    let out = w.send(d, ClientMsg::BreakoutCloseAll {});
    for s in [b, c, d] {
        assert_eq!(moved_to(&out, s), Some(None), "{s:?} is back in the main room");
        assert_eq!(w.room_of(s), Some(main));
    }
    assert_eq!(breakouts(&out, d), Some((vec![], vec!["Bob".into(), "Cy".into(), "Di".into()])));
    assert_eq!(w.rooms.room_count(), 1);
    let out = w.send(b, ClientMsg::Chat { text: "all together".into() });
    assert_eq!(sent_to(&out, d).len(), 1);
}

#[test]
fn random_assignment_spreads_the_main_room_evenly_and_leaves_moderators() {
    let mut w = World::new();
    let (a, _) = w.join("team", "Ada");
    let others: Vec<SessionId> = (0..7).map(|i| w.join("team", &format!("P{i}")).0).collect();
    w.send(a, ClientMsg::BreakoutCreate { names: vec!["A".into(), "B".into(), "C".into()] });
    let out = w.send(a, ClientMsg::BreakoutRandom {});
    let (rooms, main) = breakouts(&out, a).expect("breakouts");
    let mut sizes: Vec<usize> = rooms.iter().map(|(_, p)| p.len()).collect();
    sizes.sort();
    assert_eq!(sizes, [2, 2, 3]);
    assert_eq!(main, ["Ada"]);
    for s in others {
        assert!(moved_to(&out, s).is_some_and(|p| p.is_some()));
    }
    let out = w.send(w.rooms.sessions.keys().copied().min().expect("a"), ClientMsg::BreakoutRandom {});
    assert!(breakouts(&out, a).is_some(), "nobody left to spread: nothing moves");
}

#[test]
fn breakout_requests_are_checked() {
    let mut w = World::with(Settings { max_rooms: 3, ..Settings::default() });
    let (a, _) = w.join("team", "Ada");
    let (b, _) = w.join("team", "Bob");
    let before = w.rooms.digest();
    for (msg, code) in [
        (ClientMsg::BreakoutRandom {}, ErrorCode::BadBreakout),
        (ClientMsg::BreakoutCreate { names: vec![] }, ErrorCode::BadBreakout),
        (ClientMsg::BreakoutCreate { names: vec!["  ".into()] }, ErrorCode::BadBreakout),
        (ClientMsg::BreakoutCreate { names: vec!["x".repeat(65)] }, ErrorCode::BadBreakout),
        (ClientMsg::BreakoutCreate { names: vec!["x".into(); 51] }, ErrorCode::BadBreakout),
        (ClientMsg::BreakoutCreate { names: vec!["1".into(), "2".into(), "3".into()] }, ErrorCode::ServerFull),
        (ClientMsg::BreakoutAssign { id: id(b), room: Some("b9".into()) }, ErrorCode::BadBreakout),
        (ClientMsg::BreakoutAssign { id: "ghost".into(), room: None }, ErrorCode::UnknownParticipant),
        (ClientMsg::BreakoutBroadcast { text: " ".into() }, ErrorCode::ChatRejected),
    ] {
        let out = w.send(a, msg.clone());
        assert_eq!(error_code(&out, a), Some(code), "{msg:?}");
        assert_eq!(w.rooms.digest(), before, "{msg:?}");
    }
}

#[test]
fn participants_in_breakout_rooms_count_against_the_meeting_limit() {
    let mut w = World::with(Settings { max_participants: 2, ..Settings::default() });
    let (a, _) = w.join("team", "Ada");
    let (b, _) = w.join("team", "Bob");
    w.send(a, ClientMsg::BreakoutCreate { names: vec!["One".into()] });
    w.send(a, ClientMsg::BreakoutAssign { id: id(b), room: Some("b1".into()) });
    let (c, out) = w.join("team", "Cy");
    assert_eq!(error_code(&out, c), Some(ErrorCode::RoomFull));
}

#[test]
fn breakout_rooms_end_with_the_meeting() {
    let mut w = World::new();
    let (a, _) = w.join("team", "Ada");
    w.send(a, ClientMsg::BreakoutCreate { names: vec!["One".into(), "Two".into()] });
    w.send(a, ClientMsg::BreakoutAssign { id: id(a), room: Some("b2".into()) });
    assert_eq!(w.rooms.room_count(), 3);
    w.send(a, ClientMsg::Leave {});
    assert_eq!(w.rooms.room_count(), 0);
    assert!(w.rooms.by_name.is_empty());
}

// ---- meetings kept for reconnects ----------------------------------------

#[test]
fn a_meeting_whose_last_participant_lost_the_connection_keeps_its_password_lobby_and_roles() {
    let mut w = World::new();
    let (a, out) = w.join("team", "Ada");
    let t = ticket(&out, a);
    w.send(a, ClientMsg::SetPassword { password: Some("pw".into()) });
    w.send(a, ClientMsg::SetLobby { enabled: true });
    w.input(Input::Disconnected { session: a });
    assert_eq!(w.rooms.room_count(), 1, "kept");
    // A newcomer cannot slip into the locked meeting meanwhile.
    let (g, out) = w.join("team", "Gast");
    assert_eq!(sent_to(&out, g), [ServerMsg::PasswordRequired { wrong: false, retry_after_secs: 0 }]);
    // Ada comes back with her ticket: moderator again, in the same meeting.
    w.now += Duration::from_secs(30);
    w.input(Input::Tick);
    let s = w.connect();
    let out = w.send(s, ClientMsg::Rejoin { version: 1, room: "team".into(), display_name: "Ada".into(), ticket: t });
    assert!(you(&out, s).moderator);
    assert!(sent_to(&out, s).contains(&ServerMsg::RoomState {
        locked: true,
        lobby: true,
        private_chat: true,
        e2ee: false
    }));
    // The grace is over once someone is back: much later, nothing ends.
    w.now += Duration::from_secs(120);
    assert!(w.input(Input::Tick).is_empty());
    assert_eq!(w.rooms.participant_count(), 1);
}

#[test]
fn after_the_grace_the_meeting_ends_and_those_waiting_at_its_door_are_told() {
    let mut w = World::new();
    let (a, _) = w.join("team", "Ada");
    w.send(a, ClientMsg::SetLobby { enabled: true });
    w.input(Input::Disconnected { session: a });
    // Open mode: a newcomer to the kept meeting knocks (nobody moderates it now).
    let (k, out) = w.join("team", "Knut");
    assert_eq!(sent_to(&out, k), [ServerMsg::Waiting { reason: WaitReason::Lobby }]);
    w.now += Duration::from_secs(59);
    assert!(w.input(Input::Tick).is_empty());
    w.now += Duration::from_secs(2);
    let out = w.input(Input::Tick);
    assert_eq!(sent_to(&out, k), [ServerMsg::Bye { reason: ByeReason::MeetingEnded }]);
    assert_eq!(w.rooms.room_count(), 0);
    assert!(w.rooms.by_name.is_empty());
    let (b, out) = w.join("team", "Bob");
    assert!(you(&out, b).moderator, "a fresh meeting");
}

#[test]
fn leaving_as_the_last_one_ends_the_meeting_at_once() {
    let mut w = World::new();
    let (a, _) = w.join("team", "Ada");
    w.send(a, ClientMsg::SetPassword { password: Some("pw".into()) });
    w.send(a, ClientMsg::Leave {});
    assert_eq!(w.rooms.room_count(), 0);
    let (b, out) = w.join("team", "Bob");
    assert!(welcomed(&out, b), "no password: a new meeting");
}

#[test]
fn in_secure_mode_only_a_host_reopens_a_kept_meeting() {
    let mut w = World::mode(AccessMode::Secure);
    let (h, out) = w.enter("therapy", "x", Some(account("Hanna", true)));
    let (g, joined) = w.enter("therapy", "Gast", None);
    assert!(welcomed(&out, h) && welcomed(&joined, g));
    let guest_ticket = ticket(&joined, g);
    // (The guest first: had the host gone first, the guest would have been
    // handed moderation, and its ticket would say so.)
    w.input(Input::Disconnected { session: g });
    w.input(Input::Disconnected { session: h });
    // Neither a newcomer nor the guest with its ticket reopens it.
    let (n, out) = w.enter("therapy", "Neu", None);
    assert_eq!(sent_to(&out, n), [ServerMsg::Waiting { reason: WaitReason::Host }]);
    let s = w.connect();
    let out = w.send(
        s,
        ClientMsg::Rejoin { version: 1, room: "therapy".into(), display_name: "Gast".into(), ticket: guest_ticket },
    );
    assert_eq!(sent_to(&out, s), [ServerMsg::Waiting { reason: WaitReason::Host }]);
    // The host is back: both join the kept meeting.
    let (h2, out) = w.enter("therapy", "x", Some(account("Hanna", true)));
    assert!(welcomed(&out, h2) && welcomed(&out, n) && welcomed(&out, s));
    assert!(!you(&out, s).moderator && !you(&out, n).moderator);
    assert_eq!(w.rooms.room_count(), 1);
}

// ---- hostile clients: issue 14 ---------------------------------------------

#[test]
fn in_secure_mode_a_dropped_host_leaves_no_moderator_and_gets_the_role_back() {
    for mode in [AccessMode::Secure, AccessMode::Closed] {
        let mut w = World::mode(mode);
        let (h, _) = w.enter("therapy", "x", Some(account("Hanna", true)));
        let (u, _) = w.enter("therapy", "Uli", Some(account("Uli", false)));
        let guest = if mode == AccessMode::Secure { Some(w.enter("therapy", "Gast", None).0) } else { None };
        let out = w.input(Input::Disconnected { session: h });
        assert_eq!(moderator_flag(&out, u, u), None, "{mode:?}: a user who may not host does not moderate");
        if let Some(g) = guest {
            assert_eq!(moderator_flag(&out, g, g), None, "a guest never moderates");
            let out = w.send(g, ClientMsg::EndMeeting {});
            assert_eq!(error_code(&out, g), Some(ErrorCode::NotModerator));
        }
        assert!(w.rooms.moderators(w.room_of(u).expect("in")).is_empty(), "{mode:?}");
        let (h2, out) = w.enter("therapy", "x", Some(account("Hanna", true)));
        assert!(you(&out, h2).moderator, "{mode:?}: the returning host moderates");
    }
}

#[test]
fn in_secure_mode_only_hosts_can_be_granted_moderation() {
    let mut w = World::mode(AccessMode::Secure);
    let (h, _) = w.enter("therapy", "x", Some(account("Hanna", true)));
    let (g, _) = w.enter("therapy", "Gast", None);
    let (h2, _) = w.enter("therapy", "x", Some(account("Henri", true)));
    let out = w.send(h, ClientMsg::GrantModerator { id: id(g) });
    assert_eq!(error_code(&out, h), Some(ErrorCode::HostsOnly));
    assert_eq!(moderator_flag(&out, g, g), None);
    // In open mode moderation is still anyone's to give.
    let mut open = World::new();
    let (a, _) = open.join("team", "Ada");
    let (b, _) = open.join("team", "Bob");
    let out = open.send(a, ClientMsg::GrantModerator { id: id(b) });
    assert_eq!(moderator_flag(&out, b, b), Some(true));
    let _ = h2;
}

#[test]
fn a_ticket_from_open_handover_gives_no_role_to_a_guest_in_secure_mode() {
    let mut w = World::mode(AccessMode::Secure);
    let (h, _) = w.enter("therapy", "x", Some(account("Hanna", true)));
    let (g, joined) = w.enter("therapy", "Gast", None);
    let t = ticket(&joined, g);
    w.input(Input::Disconnected { session: h });
    w.input(Input::Disconnected { session: g });
    let (h2, _) = w.enter("therapy", "x", Some(account("Hanna", true)));
    let s = w.connect();
    let out =
        w.send(s, ClientMsg::Rejoin { version: 1, room: "therapy".into(), display_name: "Gast".into(), ticket: t });
    assert!(welcomed(&out, s) && !you(&out, s).moderator);
    let _ = h2;
}

#[test]
fn an_ended_login_takes_the_host_rights_of_an_open_connection() {
    let mut w = World::mode(AccessMode::Secure);
    let (h, _) = w.enter("therapy", "x", Some(account("Hanna", true)));
    let (g, _) = w.enter("therapy", "Gast", None);
    let out = w.input(Input::AccountEnded { session: h });
    assert_eq!(moderator_flag(&out, g, h), Some(false), "everyone sees the role end");
    assert_eq!(moderator_flag(&out, g, g), None, "and it does not pass to the guest");
    let out = w.send(h, ClientMsg::EndMeeting {});
    assert_eq!(error_code(&out, h), Some(ErrorCode::NotModerator));
    // Another host present takes over.
    let (h2, _) = w.enter("therapy", "x", Some(account("Henri", true)));
    let out = w.input(Input::AccountEnded { session: h2 });
    assert_eq!(moderator_flag(&out, g, h2), Some(false));
}

#[test]
fn waiting_is_bounded_per_address_and_ends_after_the_longest_wait() {
    let settings = Settings {
        access_mode: AccessMode::Secure,
        max_waiting_per_address: 2,
        max_wait: Duration::from_secs(30 * 60),
        ..Settings::default()
    };
    let mut w = World::with(settings);
    let (a, out) = w.enter("r1", "A", None);
    assert_eq!(sent_to(&out, a), [ServerMsg::Waiting { reason: WaitReason::Host }]);
    let (b, _) = w.enter("r2", "B", None);
    let (c, out) = w.enter("r3", "C", None);
    assert_eq!(error_code(&out, c), Some(ErrorCode::ServerFull), "a third from the same address");
    // Another address still waits.
    let other = w.next;
    w.next += 1;
    w.input(Input::Connected {
        session: SessionId(other),
        participant: "other".into(),
        account: None,
        source: Some("198.51.100.1".parse().expect("literal")),
    });
    let out = w.send(SessionId(other), hello("r3", "D"));
    assert_eq!(sent_to(&out, SessionId(other)), [ServerMsg::Waiting { reason: WaitReason::Host }]);
    // Half an hour later everyone waiting is sent away, and told why.
    w.now += Duration::from_secs(30 * 60 - 1);
    assert!(w.input(Input::Tick).iter().all(|e| !matches!(e, Effect::Close { .. })));
    w.now += Duration::from_secs(1);
    let out = w.input(Input::Tick);
    for s in [a, b, SessionId(other)] {
        assert_eq!(sent_to(&out, s), [ServerMsg::Bye { reason: ByeReason::WaitExpired }]);
        assert!(out.contains(&Effect::Close { session: s }));
    }
    assert!(w.rooms.waiting.is_empty());
    let (e, out) = w.enter("r1", "E", None);
    assert_eq!(sent_to(&out, e), [ServerMsg::Waiting { reason: WaitReason::Host }], "places came free");
}

#[test]
fn lobby_and_password_waits_count_against_the_address_too() {
    let settings = Settings { max_waiting_per_address: 1, ..Settings::default() };
    let mut w = World::with(settings);
    let (a, _) = w.enter("team", "Ada", None);
    w.send(a, ClientMsg::SetLobby { enabled: true });
    let (k, out) = w.enter("team", "Knut", None);
    assert_eq!(sent_to(&out, k), [ServerMsg::Waiting { reason: WaitReason::Lobby }]);
    let (k2, out) = w.enter("team", "Kai", None);
    assert_eq!(error_code(&out, k2), Some(ErrorCode::ServerFull));
}

#[test]
fn hand_toggles_beyond_the_burst_are_coalesced_into_one_update_a_tick() {
    let mut w = World::new();
    let (a, _) = w.join("team", "Ada");
    let (b, _) = w.join("team", "Bob");
    let mut updates = 0;
    for i in 0..1000 {
        let out = w.send(b, ClientMsg::Hand { raised: i % 2 == 0 });
        updates += sent_to(&out, a).iter().filter(|m| matches!(m, ServerMsg::ParticipantUpdated { .. })).count();
    }
    assert_eq!(updates, 10, "the burst");
    // The last state (lowered, after an even number of toggles) goes out once.
    w.now += Duration::from_secs(1);
    let out = w.input(Input::Tick);
    let shown: Vec<bool> = sent_to(&out, a)
        .into_iter()
        .filter_map(|m| match m {
            ServerMsg::ParticipantUpdated { participant } => Some(participant.hand),
            _ => None,
        })
        .collect();
    assert_eq!(shown, [false]);
    assert!(w.input(Input::Tick).is_empty(), "nothing more to show");
}

#[test]
fn with_lobby_on_open_those_who_waited_for_the_host_knock_instead_of_walking_in() {
    let settings = Settings { access_mode: AccessMode::Secure, lobby_on_open: true, ..Settings::default() };
    let mut w = World::with(settings);
    let (g, out) = w.enter("therapy", "Patientin", None);
    assert_eq!(sent_to(&out, g), [ServerMsg::Waiting { reason: WaitReason::Host }]);
    let (h, out) = w.enter("therapy", "x", Some(account("Hanna", true)));
    assert!(welcomed(&out, h));
    assert!(!welcomed(&out, g), "the waiting guest is not let in by the host's arrival");
    assert_eq!(sent_to(&out, g), [ServerMsg::Waiting { reason: WaitReason::Lobby }]);
    assert_eq!(lobby_list(&out, h), Some(vec!["Patientin".to_string()]));
    let out = w.send(h, ClientMsg::LobbyAdmit { id: id(g) });
    assert!(welcomed(&out, g), "the host lets her in");
}

/// The room layer takes `rooms.lobby_on_open` as it applies under the access
/// mode: unset, on in `secure` and `closed` mode, off in `open` mode.
#[test]
fn a_secure_or_closed_configuration_opens_meetings_with_the_lobby_on_unless_told_otherwise() {
    let settings = |mode: AccessMode, set: Option<bool>| {
        let mut c = crate::config::Config::default();
        c.access.mode = mode;
        c.rooms.lobby_on_open_setting = set;
        Settings::from_config(&c).lobby_on_open
    };
    assert!(settings(AccessMode::Secure, None));
    assert!(settings(AccessMode::Closed, None));
    assert!(!settings(AccessMode::Open, None));
    assert!(!settings(AccessMode::Secure, Some(false)));
    assert!(settings(AccessMode::Open, Some(true)));

    let mut w = World::with(Settings::from_config(&{
        let mut c = crate::config::Config::default();
        c.access.mode = AccessMode::Secure;
        c
    }));
    let (g, _) = w.enter("praxis", "Gast", None);
    let (h, out) = w.enter("praxis", "x", Some(account("Hanna", true)));
    assert!(welcomed(&out, h));
    assert_eq!(sent_to(&out, g), [ServerMsg::Waiting { reason: WaitReason::Lobby }]);
    assert_eq!(lobby_list(&out, h), Some(vec!["Gast".to_string()]));
}
