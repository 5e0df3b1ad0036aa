//! Moderation over real WebSockets (issue 6): every moderator message sent
//! by a participant who does not moderate is refused and changes nothing
//! anyone can see; a message that claims another sender is refused; the
//! room password never appears in any frame the server sends to any
//! client, and guesses meet the login throttle; when the moderator leaves,
//! another participant moderates and can act.

use kabine::protocol::{ErrorCode, ServerMsg, WaitReason};

use crate::support::{self, WsClient, ws_drain, ws_join, ws_next, ws_send, ws_until};

/// Every moderator message, as JSON, aimed at `target` (and `knocker` in the lobby).
fn moderator_messages(target: &str, knocker: &str) -> Vec<String> {
    [
        format!(r#"{{"type":"mute","id":"{target}","source":"mic"}}"#),
        format!(r#"{{"type":"mute","id":"{target}","source":"camera"}}"#),
        r#"{"type":"mute_all","source":"mic"}"#.into(),
        format!(r#"{{"type":"ask_unmute","id":"{target}","source":"mic"}}"#),
        format!(r#"{{"type":"remove","id":"{target}"}}"#),
        r#"{"type":"lower_hands"}"#.into(),
        r#"{"type":"end_meeting"}"#.into(),
        format!(r#"{{"type":"grant_moderator","id":"{target}"}}"#),
        r#"{"type":"set_password","password":"sesam"}"#.into(),
        r#"{"type":"set_password","password":null}"#.into(),
        r#"{"type":"set_lobby","enabled":false}"#.into(),
        format!(r#"{{"type":"lobby_admit","id":"{knocker}"}}"#),
        format!(r#"{{"type":"lobby_deny","id":"{knocker}"}}"#),
        r#"{"type":"breakout_create","names":["X"]}"#.into(),
        format!(r#"{{"type":"breakout_assign","id":"{target}","room":null}}"#),
        r#"{"type":"breakout_random"}"#.into(),
        r#"{"type":"breakout_broadcast","text":"hi"}"#.into(),
        r#"{"type":"breakout_close_all"}"#.into(),
    ]
    .into()
}

/// Joins and reads what follows `welcome` (ticket, room state).
async fn join(server: &kabine::server::RunningServer, room: &str, name: &str) -> (WsClient, String) {
    let (mut ws, id) = ws_join(server, room, name).await;
    assert!(ws_until(&mut ws, |m| matches!(m, ServerMsg::RoomState { .. })).await.is_some());
    (ws, id)
}

#[tokio::test]
async fn every_moderator_message_from_a_non_moderator_is_refused_and_changes_nothing() {
    let _t = support::test();
    let server = support::start(support::test_config()).await;
    let (mut moderator, _) = join(&server, "matrix", "Mara").await;
    let (mut bob, bob_id) = join(&server, "matrix", "Bob").await;
    let (mut cy, cy_id) = join(&server, "matrix", "Cy").await;
    ws_send(&mut moderator, r#"{"type":"set_lobby","enabled":true}"#).await;
    let mut knocker = support::ws_connect(&server, Some(&support::own_origin(&server))).await.expect("connects");
    ws_send(&mut knocker, r#"{"type":"hello","version":1,"room":"matrix","display_name":"Knut"}"#).await;
    assert_eq!(ws_next(&mut knocker).await, Some(ServerMsg::Waiting { reason: WaitReason::Lobby }));
    let knocker_id =
        match ws_until(&mut moderator, |m| matches!(m, ServerMsg::Lobby { knocking } if !knocking.is_empty())).await {
            Some(ServerMsg::Lobby { knocking }) => knocking[0].id.clone(),
            other => panic!("{other:?}"),
        };
    for ws in [&mut moderator, &mut bob, &mut cy] {
        ws_drain(ws, 300).await;
    }

    for msg in moderator_messages(&cy_id, &knocker_id) {
        ws_send(&mut bob, &msg).await;
        match ws_next(&mut bob).await {
            Some(ServerMsg::Error { code: ErrorCode::NotModerator, .. }) => {}
            other => panic!("{msg}: expected not_moderator, got {other:?}"),
        }
    }
    // Nobody saw anything happen: no mute, no removal, no new room state,
    // the knocker still waits.
    for (name, ws) in [("moderator", &mut moderator), ("Bob", &mut bob), ("Cy", &mut cy), ("knocker", &mut knocker)] {
        let seen = ws_drain(ws, 700).await;
        assert!(seen.is_empty(), "{name} saw something: {seen:?}");
    }
    // The same messages work from the moderator (so the role made the difference).
    ws_send(&mut moderator, &format!(r#"{{"type":"mute","id":"{bob_id}","source":"mic"}}"#)).await;
    assert!(ws_until(&mut bob, |m| matches!(m, ServerMsg::Muted { .. })).await.is_some());
    ws_send(&mut moderator, &format!(r#"{{"type":"lobby_admit","id":"{knocker_id}"}}"#)).await;
    assert!(ws_until(&mut knocker, |m| matches!(m, ServerMsg::Welcome { .. })).await.is_some());
    assert!(server.stop().await);
}

#[tokio::test]
async fn a_message_claiming_another_sender_is_refused() {
    let _t = support::test();
    let server = support::start(support::test_config()).await;
    let (mut moderator, mod_id) = join(&server, "claims", "Mara").await;
    let (mut bob, _) = join(&server, "claims", "Bob").await;
    let (mut cy, cy_id) = join(&server, "claims", "Cy").await;
    for ws in [&mut moderator, &mut bob, &mut cy] {
        ws_drain(ws, 300).await;
    }
    for msg in [
        format!(r#"{{"type":"chat","text":"I am the moderator","from":"{mod_id}"}}"#),
        r#"{"type":"chat","text":"hi","from_name":"Mara"}"#.to_string(),
        format!(r#"{{"type":"mute","id":"{cy_id}","source":"mic","by":"{mod_id}"}}"#),
        format!(r#"{{"type":"remove","id":"{cy_id}","from":"{mod_id}"}}"#),
        format!(r#"{{"type":"private_chat","to":"{cy_id}","text":"hi","from":"{mod_id}"}}"#),
        format!(r#"{{"type":"hand","raised":true,"id":"{mod_id}"}}"#),
        r#"{"type":"media_state","mic":true,"camera":true,"screen":false,"moderator":true}"#.to_string(),
    ] {
        ws_send(&mut bob, &msg).await;
        match ws_next(&mut bob).await {
            Some(ServerMsg::Error { code: ErrorCode::BadMessage, .. }) => {}
            other => panic!("{msg}: expected bad_message, got {other:?}"),
        }
    }
    for (name, ws) in [("moderator", &mut moderator), ("Cy", &mut cy)] {
        let seen = ws_drain(ws, 700).await;
        assert!(seen.is_empty(), "{name} saw something: {seen:?}");
    }
    // Chat carries the sender the server knows, whatever the client is.
    ws_send(&mut bob, r#"{"type":"chat","text":"hello"}"#).await;
    match ws_until(&mut cy, |m| matches!(m, ServerMsg::Chat { .. })).await {
        Some(ServerMsg::Chat { from_name, .. }) => assert_eq!(from_name, "Bob"),
        other => panic!("{other:?}"),
    }
    assert!(server.stop().await);
}

#[tokio::test]
async fn the_room_password_is_never_in_a_frame_to_any_client_and_guesses_meet_the_throttle() {
    let _t = support::test();
    let server = support::start(support::test_config()).await;
    const SECRET: &str = "geheim-Passwort-7";
    let (mut moderator, _) = join(&server, "locked", "Mara").await;
    let (mut bob, _) = join(&server, "locked", "Bob").await;
    ws_send(&mut moderator, &format!(r#"{{"type":"set_password","password":"{SECRET}"}}"#)).await;
    let mut received: Vec<String> = Vec::new();
    let note = |msgs: Vec<ServerMsg>, received: &mut Vec<String>| {
        received.extend(msgs.iter().map(|m| serde_json::to_string(m).expect("json")));
    };
    let locked = ws_drain(&mut bob, 500).await;
    assert!(
        locked.contains(&ServerMsg::RoomState { locked: true, lobby: false, private_chat: true, e2ee: false }),
        "{locked:?}"
    );
    note(locked, &mut received);

    let mut guest = support::ws_connect(&server, Some(&support::own_origin(&server))).await.expect("connects");
    ws_send(&mut guest, r#"{"type":"hello","version":1,"room":"locked","display_name":"Gast"}"#).await;
    let asked = ws_next(&mut guest).await;
    assert_eq!(asked, Some(ServerMsg::PasswordRequired { wrong: false, retry_after_secs: 0 }));
    ws_send(&mut guest, r#"{"type":"password","password":"geheim-passwort-7"}"#).await;
    assert_eq!(ws_next(&mut guest).await, Some(ServerMsg::PasswordRequired { wrong: true, retry_after_secs: 0 }));
    ws_send(&mut guest, &format!(r#"{{"type":"password","password":"{SECRET}"}}"#)).await;
    let joined = ws_drain(&mut guest, 800).await;
    assert!(joined.iter().any(|m| matches!(m, ServerMsg::Welcome { .. })), "{joined:?}");
    note(joined, &mut received);
    for ws in [&mut moderator, &mut bob] {
        let seen = ws_drain(ws, 300).await;
        note(seen, &mut received);
    }
    // Another guest from the same address guesses: after the free
    // failures of one address against one room (5), guesses wait, twice as
    // long each time, and even the right password is not looked at.
    let mut guesser = support::ws_connect(&server, Some(&support::own_origin(&server))).await.expect("connects");
    ws_send(&mut guesser, r#"{"type":"hello","version":1,"room":"locked","display_name":"Rater"}"#).await;
    ws_next(&mut guesser).await;
    let mut throttled = None;
    for i in 0..40 {
        ws_send(&mut guesser, &format!(r#"{{"type":"password","password":"guess {i}"}}"#)).await;
        match ws_next(&mut guesser).await {
            Some(ServerMsg::PasswordRequired { wrong: true, .. }) => {}
            Some(ServerMsg::PasswordRequired { wrong: false, retry_after_secs }) if retry_after_secs > 0 => {
                throttled = Some(i);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    // The first guest's wrong guess was forgotten with its right one.
    assert_eq!(throttled, Some(5), "the 6th guess from one address waits");
    ws_send(&mut guesser, &format!(r#"{{"type":"password","password":"{SECRET}"}}"#)).await;
    let refused = ws_next(&mut guesser).await;
    assert!(
        matches!(refused, Some(ServerMsg::PasswordRequired { wrong: false, retry_after_secs }) if retry_after_secs > 0)
    );
    received.push(serde_json::to_string(&refused).expect("json"));

    assert!(received.len() > 5);
    let leaks: Vec<&String> = received.iter().filter(|f| f.contains(SECRET)).collect();
    assert!(leaks.is_empty(), "the password was sent to a client: {leaks:?}");
    assert!(server.stop().await);
}

#[tokio::test]
async fn when_the_moderator_leaves_another_participant_moderates_and_can_act() {
    let _t = support::test();
    let server = support::start(support::test_config()).await;
    let (mut moderator, _) = join(&server, "handover", "Mara").await;
    let (mut bob, bob_id) = join(&server, "handover", "Bob").await;
    let (mut cy, cy_id) = join(&server, "handover", "Cy").await;
    ws_send(&mut bob, &format!(r#"{{"type":"mute","id":"{cy_id}","source":"mic"}}"#)).await;
    assert!(
        ws_until(&mut bob, |m| matches!(m, ServerMsg::Error { code: ErrorCode::NotModerator, .. })).await.is_some()
    );
    ws_send(&mut moderator, r#"{"type":"leave"}"#).await;
    let handed =
        ws_until(&mut cy, |m| matches!(m, ServerMsg::ParticipantUpdated { participant } if participant.moderator))
            .await;
    match handed {
        Some(ServerMsg::ParticipantUpdated { participant }) => {
            assert_eq!(participant.id, bob_id, "the longest present")
        }
        other => panic!("{other:?}"),
    }
    ws_send(&mut bob, &format!(r#"{{"type":"mute","id":"{cy_id}","source":"mic"}}"#)).await;
    assert!(ws_until(&mut cy, |m| matches!(m, ServerMsg::Muted { .. })).await.is_some(), "Bob can act now");
    assert!(server.stop().await);
}
