//! Room logic with a simulated clock: every test drives [`Rooms`] with
//! inputs and looks at the effects.

use std::time::{Duration, Instant};

use super::*;
use crate::protocol::{AudioSlot, ByeReason, ClientMsg, ErrorCode, ServerMsg};

struct World {
    rooms: Rooms,
    start: Instant,
    now: Instant,
    next: u64,
}

impl World {
    fn new() -> World {
        World::with(Settings::default())
    }

    fn with(settings: Settings) -> World {
        let start = Instant::now();
        World { rooms: Rooms::new(settings), start, now: start, next: 1 }
    }

    fn clock(&self) -> Clock {
        Clock { now: self.now, unix_ms: 1_700_000_000_000 + (self.now - self.start).as_millis() as u64 }
    }

    fn input(&mut self, input: Input) -> Vec<Effect> {
        let mut out = Vec::new();
        self.rooms.handle(self.clock(), input, &mut out);
        out
    }

    fn connect(&mut self) -> SessionId {
        let session = SessionId(self.next);
        self.next += 1;
        let out = self.input(Input::Connected {
            session,
            participant: format!("p{}", session.0),
            account: None,
            source: None,
        });
        assert!(out.is_empty());
        session
    }

    fn send(&mut self, session: SessionId, msg: ClientMsg) -> Vec<Effect> {
        self.input(Input::Message { session, msg })
    }

    fn join(&mut self, room: &str, name: &str) -> (SessionId, Vec<Effect>) {
        let s = self.connect();
        let out = self.send(s, hello(room, name));
        (s, out)
    }
}

fn hello(room: &str, name: &str) -> ClientMsg {
    ClientMsg::Hello { version: 1, room: room.into(), display_name: name.into(), appointment: None }
}

fn sent_to(out: &[Effect], to: SessionId) -> Vec<ServerMsg> {
    out.iter()
        .filter_map(|e| match e {
            Effect::Send { to: t, msg } if *t == to => Some(msg.clone()),
            Effect::Broadcast { to: all, msg } if all.contains(&to) => Some(msg.clone()),
            _ => None,
        })
        .collect()
}

fn error_code(out: &[Effect], to: SessionId) -> Option<ErrorCode> {
    sent_to(out, to).iter().find_map(|m| match m {
        ServerMsg::Error { code, .. } => Some(*code),
        _ => None,
    })
}

fn media(out: &[Effect]) -> Vec<MediaCommand> {
    out.iter()
        .filter_map(|e| match e {
            Effect::Media(c) => Some(c.clone()),
            _ => None,
        })
        .collect()
}

fn welcome_participants(out: &[Effect], to: SessionId) -> Vec<String> {
    match sent_to(out, to).first() {
        Some(ServerMsg::Welcome { participants, .. }) => participants.iter().map(|p| p.display_name.clone()).collect(),
        other => panic!("expected welcome, got {other:?}"),
    }
}

#[test]
fn first_join_creates_the_room_and_later_joins_see_the_others() {
    let mut w = World::new();
    let (a, out) = w.join("team", "Ada");
    assert_eq!(welcome_participants(&out, a), Vec::<String>::new());
    assert_eq!(w.rooms.room_count(), 1);
    assert!(matches!(media(&out)[..], [MediaCommand::Join { session, .. }] if session == a));

    let (b, out) = w.join("team", "Bob");
    assert_eq!(welcome_participants(&out, b), ["Ada"]);
    assert!(
        matches!(&sent_to(&out, a)[..], [ServerMsg::ParticipantJoined { participant }] if participant.display_name == "Bob")
    );
    assert_eq!(w.rooms.room_count(), 1);
    assert_eq!(w.rooms.participant_count(), 2);
}

#[test]
fn room_names_are_case_insensitive() {
    let mut w = World::new();
    w.join("Team", "Ada");
    let (b, out) = w.join("team", "Bob");
    assert_eq!(welcome_participants(&out, b), ["Ada"]);
    assert_eq!(w.rooms.room_count(), 1);
}

#[test]
fn welcome_carries_own_id_settings_and_ice_servers() {
    let settings = Settings {
        last_n: 4,
        ice_servers: vec![IceServerInfo {
            urls: vec!["stun:stun.example.eu".into()],
            username: None,
            credential: None,
        }],
        ..Settings::default()
    };
    let mut w = World::with(settings);
    let (a, out) = w.join("team", "  Ada  ");
    match &sent_to(&out, a)[0] {
        ServerMsg::Welcome { version, you, last_n, ice_servers, .. } => {
            assert_eq!(*version, 1);
            assert_eq!(you.id, "p1");
            assert_eq!(you.display_name, "Ada", "names are trimmed");
            assert_eq!(*last_n, 4);
            assert_eq!(ice_servers.len(), 1);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn leaving_tells_the_others_and_the_last_leave_destroys_the_room() {
    let mut w = World::new();
    let (a, _) = w.join("team", "Ada");
    let (b, _) = w.join("team", "Bob");
    let out = w.send(a, ClientMsg::Leave {});
    assert_eq!(sent_to(&out, a), [ServerMsg::Bye { reason: ByeReason::Left }]);
    assert!(out.contains(&Effect::Close { session: a }));
    // Then moderation passes from Ada to Bob (see tests/moderation.rs).
    assert_eq!(sent_to(&out, b)[0], ServerMsg::ParticipantLeft { id: "p1".into() });
    assert_eq!(media(&out), [MediaCommand::Leave { session: a }]);
    assert_eq!(w.rooms.room_count(), 1);

    let out = w.input(Input::Disconnected { session: b });
    assert_eq!(media(&out), [MediaCommand::Leave { session: b }]);
    // Lost, not left: the meeting waits a minute for reconnects (see
    // tests/moderation.rs), then it is gone.
    assert_eq!(w.rooms.room_count(), 1);
    w.now += Duration::from_secs(61);
    w.input(Input::Tick);
    assert_eq!(w.rooms.room_count(), 0);
    assert_eq!(w.rooms.participant_count(), 0);
    assert_eq!(w.rooms.session_count(), 0);
    assert!(w.rooms.by_name.is_empty(), "the name index forgets the room");
}

#[test]
fn rejoining_an_ended_room_starts_fresh() {
    let mut w = World::new();
    let (a, _) = w.join("team", "Ada");
    w.send(a, ClientMsg::Hand { raised: true });
    w.send(a, ClientMsg::Leave {});
    let (b, out) = w.join("team", "Bob");
    assert_eq!(welcome_participants(&out, b), Vec::<String>::new());
    let Some(Effect::Media(MediaCommand::Join { room, .. })) = out.iter().find(|e| matches!(e, Effect::Media(_)))
    else {
        panic!("no media join");
    };
    assert_eq!(*room, RoomKey(2), "a new room, not the old one revived");
}

#[test]
fn bad_hellos_are_refused_and_change_nothing() {
    let mut w = World::new();
    let s = w.connect();
    let cases = [
        (
            ClientMsg::Hello { version: 2, room: "team".into(), display_name: "Ada".into(), appointment: None },
            ErrorCode::UnsupportedVersion,
        ),
        (hello(".hidden", "Ada"), ErrorCode::BadRoomName),
        (hello("ws", "Ada"), ErrorCode::BadRoomName),
        (hello("a/b", "Ada"), ErrorCode::BadRoomName),
        (hello(&"x".repeat(65), "Ada"), ErrorCode::BadRoomName),
        (hello("team", ""), ErrorCode::BadDisplayName),
        (hello("team", "   "), ErrorCode::BadDisplayName),
        (hello("team", &"n".repeat(65)), ErrorCode::BadDisplayName),
        (hello("team", "Ada\u{7}"), ErrorCode::BadDisplayName),
        // (Bidi controls are stripped, not refused: see below.)
    ];
    for (msg, code) in cases {
        let out = w.send(s, msg.clone());
        assert_eq!(error_code(&out, s), Some(code), "{msg:?}");
        assert_eq!(out.len(), 1, "only the error: {out:?}");
        assert_eq!(w.rooms.room_count(), 0);
    }
    // The session may still join afterwards.
    let out = w.send(s, hello("team", "Ada"));
    assert_eq!(welcome_participants(&out, s), Vec::<String>::new());
}

#[test]
fn display_name_may_be_empty_when_not_required() {
    let settings = Settings { require_display_name: false, ..Settings::default() };
    let mut w = World::with(settings);
    let (a, out) = w.join("team", "");
    assert_eq!(welcome_participants(&out, a), Vec::<String>::new());
}

#[test]
fn messages_before_hello_and_a_second_hello_get_not_joined() {
    let mut w = World::new();
    let s = w.connect();
    for msg in [
        ClientMsg::Chat { text: "hi".into() },
        ClientMsg::Hand { raised: true },
        ClientMsg::Leave {},
        ClientMsg::PublishOffer { sdp: "v=0".into(), tracks: vec![] },
    ] {
        let out = w.send(s, msg);
        assert_eq!(error_code(&out, s), Some(ErrorCode::NotJoined));
        assert_eq!(out.len(), 1);
    }
    w.send(s, hello("team", "Ada"));
    let out = w.send(s, hello("other", "Ada"));
    assert_eq!(error_code(&out, s), Some(ErrorCode::NotJoined));
    assert_eq!(w.rooms.room_count(), 1);
}

#[test]
fn room_full_and_server_full_are_clear_errors() {
    let settings = Settings { max_participants: 2, max_rooms: 1, ..Settings::default() };
    let mut w = World::with(settings);
    w.join("team", "Ada");
    w.join("team", "Bob");
    let (c, out) = w.join("team", "Cy");
    assert_eq!(error_code(&out, c), Some(ErrorCode::RoomFull));
    let out = w.send(c, hello("other", "Cy"));
    assert_eq!(error_code(&out, c), Some(ErrorCode::ServerFull));
    assert_eq!(w.rooms.room_count(), 1);
    assert_eq!(w.rooms.participant_count(), 2);
}

#[test]
fn chat_reaches_everyone_in_the_room_and_nobody_outside() {
    let mut w = World::new();
    let (a, _) = w.join("team", "Ada");
    let (b, _) = w.join("team", "Bob");
    let (c, _) = w.join("other", "Cy");
    w.now += Duration::from_millis(1500);
    let out = w.send(a, ClientMsg::Chat { text: "hello".into() });
    for to in [a, b] {
        assert_eq!(
            sent_to(&out, to),
            [ServerMsg::Chat {
                from: "p1".into(),
                from_name: "Ada".into(),
                text: "hello".into(),
                ts: 1_700_000_001_500
            }]
        );
    }
    assert!(sent_to(&out, c).is_empty());
}

#[test]
fn a_message_to_many_is_one_broadcast_serialised_once() {
    let mut w = World::new();
    let (a, _) = w.join("team", "Ada");
    let (b, _) = w.join("team", "Bob");
    let (c, out) = w.join("team", "Cy");
    let joined: Vec<&Effect> = out
        .iter()
        .filter(|e| matches!(e, Effect::Broadcast { msg: ServerMsg::ParticipantJoined { .. }, .. }))
        .collect();
    assert!(matches!(joined[..], [Effect::Broadcast { to, .. }] if *to == [a, b]), "{out:?}");
    let out = w.send(c, ClientMsg::Hand { raised: true });
    assert!(
        matches!(&out[..], [Effect::Broadcast { to, msg: ServerMsg::ParticipantUpdated { .. } }] if *to == [a, b, c])
    );
    let out = w.send(a, ClientMsg::Chat { text: "hello".into() });
    assert!(matches!(&out[..], [Effect::Broadcast { to, msg: ServerMsg::Chat { .. } }] if *to == [a, b, c]));
}

#[test]
fn chat_size_and_rate_are_limited() {
    let mut w = World::new();
    let (a, _) = w.join("team", "Ada");
    let (b, _) = w.join("team", "Bob");
    for text in [String::new(), "  \n ".into(), "x".repeat(MAX_CHAT_CHARS + 1)] {
        let out = w.send(a, ClientMsg::Chat { text });
        assert_eq!(error_code(&out, a), Some(ErrorCode::ChatRejected));
        assert!(sent_to(&out, b).is_empty());
    }
    let out = w.send(a, ClientMsg::Chat { text: "é".repeat(MAX_CHAT_CHARS) });
    assert_eq!(sent_to(&out, b).len(), 1, "2000 characters (not bytes) are fine");

    // Four more fit in the burst of five, the sixth is refused.
    for _ in 0..4 {
        assert_eq!(error_code(&w.send(a, ClientMsg::Chat { text: "hi".into() }), a), None);
    }
    let out = w.send(a, ClientMsg::Chat { text: "hi".into() });
    assert_eq!(error_code(&out, a), Some(ErrorCode::ChatRejected));
    assert!(sent_to(&out, b).is_empty());
    // One second later one more is allowed, then refused again.
    w.now += Duration::from_secs(1);
    assert_eq!(error_code(&w.send(a, ClientMsg::Chat { text: "hi".into() }), a), None);
    assert_eq!(error_code(&w.send(a, ClientMsg::Chat { text: "hi".into() }), a), Some(ErrorCode::ChatRejected));
    // Others are not limited by one participant's rate.
    assert_eq!(error_code(&w.send(b, ClientMsg::Chat { text: "hi".into() }), b), None);
}

#[test]
fn media_state_and_hand_are_announced_once_per_change() {
    let mut w = World::new();
    let (a, _) = w.join("team", "Ada");
    let (b, _) = w.join("team", "Bob");
    let (c, _) = w.join("other", "Cy");
    let out = w.send(a, ClientMsg::MediaState { mic: true, camera: true, screen: false });
    for to in [a, b] {
        assert!(
            matches!(&sent_to(&out, to)[..], [ServerMsg::ParticipantUpdated { participant }] if participant.mic && participant.camera && !participant.screen)
        );
    }
    assert!(sent_to(&out, c).is_empty());
    assert!(w.send(a, ClientMsg::MediaState { mic: true, camera: true, screen: false }).is_empty(), "no change");
    let out = w.send(b, ClientMsg::Hand { raised: true });
    assert!(
        matches!(&sent_to(&out, a)[..], [ServerMsg::ParticipantUpdated { participant }] if participant.hand && participant.id == "p2")
    );
    assert!(w.send(b, ClientMsg::Hand { raised: true }).is_empty());
    let (_, out) = w.join("team", "Di");
    let ps = match &out.iter().find_map(|e| match e {
        Effect::Send { msg: ServerMsg::Welcome { participants, .. }, .. } => Some(participants.clone()),
        _ => None,
    }) {
        Some(p) => p.clone(),
        None => panic!("no welcome"),
    };
    assert!(ps.iter().any(|p| p.id == "p2" && p.hand), "newcomers see raised hands");
}

#[test]
fn sdp_and_sizes_go_to_the_media_server_only_when_joined() {
    let mut w = World::new();
    let (a, _) = w.join("team", "Ada");
    let out = w.send(a, ClientMsg::PublishOffer { sdp: "v=0".into(), tracks: vec![] });
    assert_eq!(media(&out), [MediaCommand::PublishOffer { session: a, sdp: "v=0".into(), tracks: vec![] }]);
    let out = w.send(a, ClientMsg::SubscribeAnswer { sdp: "v=0".into() });
    assert_eq!(media(&out), [MediaCommand::SubscribeAnswer { session: a, sdp: "v=0".into() }]);
    let out = w.send(a, ClientMsg::VideoSizes { sizes: vec![] });
    assert_eq!(media(&out), [MediaCommand::VideoSizes { session: a, sizes: vec![] }]);
}

#[test]
fn media_reports_reach_their_session() {
    let mut w = World::new();
    let (a, _) = w.join("team", "Ada");
    let out = w.input(Input::Media(MediaEvent::PublishAnswer { session: a, sdp: "answer".into() }));
    assert_eq!(sent_to(&out, a), [ServerMsg::PublishAnswer { sdp: "answer".into() }]);
    let out = w.input(Input::Media(MediaEvent::SdpRefused { session: a, reason: "no".into() }));
    assert_eq!(error_code(&out, a), Some(ErrorCode::BadSdp));
    let slots = vec![AudioSlot { mid: "0".into(), participant: Some("b".into()) }];
    let out = w.input(Input::Media(MediaEvent::AudioSlots { session: a, slots: slots.clone() }));
    assert_eq!(sent_to(&out, a), [ServerMsg::AudioSlots { slots: slots.clone() }]);
    assert_eq!(out.len(), 1, "only to that participant");
    // Reports about sessions that are gone are dropped.
    assert!(w.input(Input::Media(MediaEvent::PublishAnswer { session: SessionId(99), sdp: "x".into() })).is_empty());
    assert!(w.input(Input::Media(MediaEvent::AudioSlots { session: SessionId(99), slots })).is_empty());
}

#[test]
fn active_speaker_is_announced_on_change_and_told_to_newcomers() {
    let mut w = World::new();
    let (a, _) = w.join("team", "Ada");
    let (b, out) = w.join("team", "Bob");
    let room = match media(&out)[..] {
        [MediaCommand::Join { room, .. }] => room,
        _ => panic!(),
    };
    let out = w.input(Input::Media(MediaEvent::ActiveSpeaker { room, session: Some(b) }));
    assert_eq!(sent_to(&out, a), [ServerMsg::ActiveSpeaker { id: Some("p2".into()) }]);
    assert!(w.input(Input::Media(MediaEvent::ActiveSpeaker { room, session: Some(b) })).is_empty());
    let (c, out) = w.join("team", "Cy");
    assert_eq!(sent_to(&out, c)[1], ServerMsg::ActiveSpeaker { id: Some("p2".into()) });
    let out = w.input(Input::Media(MediaEvent::ActiveSpeaker { room, session: None }));
    assert_eq!(sent_to(&out, c), [ServerMsg::ActiveSpeaker { id: None }]);
}

#[test]
fn quality_changes_are_announced() {
    let mut w = World::new();
    let (a, _) = w.join("team", "Ada");
    let (b, _) = w.join("team", "Bob");
    let out = w.input(Input::Media(MediaEvent::Quality { session: a, quality: Quality::Poor }));
    assert!(
        matches!(&sent_to(&out, b)[..], [ServerMsg::ParticipantUpdated { participant }] if participant.quality == Quality::Poor)
    );
    assert!(w.input(Input::Media(MediaEvent::Quality { session: a, quality: Quality::Poor })).is_empty());
}

#[test]
fn failed_media_ends_that_session_only() {
    let mut w = World::new();
    let (a, _) = w.join("team", "Ada");
    let (b, _) = w.join("team", "Bob");
    let out = w.input(Input::Media(MediaEvent::Failed { session: a }));
    assert_eq!(sent_to(&out, a), [ServerMsg::Bye { reason: ByeReason::MediaFailed }]);
    assert!(out.contains(&Effect::Close { session: a }));
    assert_eq!(sent_to(&out, b)[0], ServerMsg::ParticipantLeft { id: "p1".into() });
    assert_eq!(w.rooms.participant_count(), 1);
}

#[test]
fn shutdown_says_bye_to_everyone_and_wipes_every_room() {
    let mut w = World::new();
    let (a, _) = w.join("team", "Ada");
    let (b, _) = w.join("other", "Bob");
    let c = w.connect();
    let out = w.input(Input::Shutdown);
    for s in [a, b, c] {
        assert_eq!(sent_to(&out, s), [ServerMsg::Bye { reason: ByeReason::ServerShutdown }]);
        assert!(out.contains(&Effect::Close { session: s }));
    }
    assert_eq!(media(&out), [MediaCommand::Shutdown]);
    assert_eq!(w.rooms.room_count(), 0);
    // Latecomers are turned away.
    let out =
        w.input(Input::Connected { session: SessionId(50), participant: "late".into(), account: None, source: None });
    assert_eq!(sent_to(&out, SessionId(50)), [ServerMsg::Bye { reason: ByeReason::ServerShutdown }]);
}

#[test]
fn joining_an_existing_room_looks_like_creating_one() {
    // A prober learns nothing from the answer's shape: the same messages
    // come back whether the room existed or not (who is inside is, of
    // course, what joining is for).
    let mut w = World::new();
    w.join("alpha", "Ada");
    let (p1, existing) = w.join("alpha", "Probe");
    let (p2, fresh) = w.join("beta", "Probe");
    let shape = |out: &[Effect], me: SessionId| {
        sent_to(out, me).iter().map(|m| serde_json::to_value(m).expect("json")["type"].to_string()).collect::<Vec<_>>()
    };
    assert_eq!(shape(&existing, p1), shape(&fresh, p2));
    assert_eq!(media(&existing).len(), media(&fresh).len());
}

mod appointments;
mod e2ee;
mod moderation;

#[test]
fn display_names_lose_bidi_controls_and_hosts_are_marked() {
    let mut w = World::new();
    // An override that would make "Dr. Anna Müller" out of reversed text,
    // isolates, marks and zero-width characters: all stripped.
    let (a, out) = w.join("team", "\u{202e}rellüM annA .rD\u{2066}\u{2069}\u{200f}\u{061c}\u{feff}");
    match sent_to(&out, a).first() {
        Some(ServerMsg::Welcome { you, .. }) => {
            assert_eq!(you.display_name, "rellüM annA .rD");
            assert!(!you.host, "a guest is not marked as staff");
        }
        other => panic!("{other:?}"),
    }
    // Nothing left but controls: refused when a name is required.
    let mut w = World::with(Settings { require_display_name: true, ..Settings::default() });
    let (b, out) = w.join("team", "\u{2067}\u{2069}");
    assert_eq!(error_code(&out, b), Some(ErrorCode::BadDisplayName));
    // A host account is marked.
    let mut w = World::new();
    let s = w.next;
    w.next += 1;
    let account = Account {
        username: zeroize::Zeroizing::new("dr.mueller".into()),
        display_name: zeroize::Zeroizing::new("Dr. Anna Müller".into()),
        may_host: true,
    };
    w.input(Input::Connected { session: SessionId(s), participant: "h".into(), account: Some(account), source: None });
    let out = w.send(SessionId(s), hello("team", "x"));
    assert!(matches!(sent_to(&out, SessionId(s)).first(), Some(ServerMsg::Welcome { you, .. }) if you.host));
}
mod recording;
