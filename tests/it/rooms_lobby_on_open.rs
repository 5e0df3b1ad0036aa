//! A host who opens a room chooses who comes in (issue 14, item 7): in
//! `secure` mode a meeting starts with its lobby on unless
//! `rooms.lobby_on_open = false`, so a guest who waited for the host knocks
//! when the host arrives, the host sees them in the lobby and admits them;
//! with `lobby_on_open = false` the guest walks in as the host arrives.

use kabine::config::AccessMode;
use kabine::protocol::{ServerMsg, WaitReason};

use crate::support::{self, WsClient, ws_connect_as, ws_drain, ws_hello, ws_send, ws_until};

/// A guest waiting for the host of `room`, and the host, logged in, opening it.
async fn guest_waits_and_host_opens(server: &kabine::server::RunningServer, room: &str) -> (WsClient, WsClient) {
    let mut guest = ws_connect_as(server, None).await;
    assert_eq!(
        ws_hello(&mut guest, room, "Patientin").await,
        Some(ServerMsg::Waiting { reason: WaitReason::Host }),
        "the guest waits for the host"
    );
    let base = support::base_url(server);
    let r = support::login(&support::https_client(), &base, "dr.mueller", "correct horse battery").await;
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let cookie = support::session_cookie(&r).expect("session cookie");
    let mut host = ws_connect_as(server, Some(&cookie)).await;
    match ws_hello(&mut host, room, "x").await {
        Some(ServerMsg::Welcome { you, participants, .. }) => {
            assert!(you.moderator, "the host moderates");
            assert!(
                !participants.iter().any(|p| p.display_name == "Patientin"),
                "the guest is not in the room before the host: {participants:?}"
            );
        }
        other => panic!("the host opens the room: {other:?}"),
    }
    (guest, host)
}

#[tokio::test]
async fn in_secure_mode_a_guest_who_waited_for_the_host_knocks_and_the_host_admits_them() {
    let _t = support::test();
    let server = support::start(support::with_local_host("lobby-on-open-secure", AccessMode::Secure)).await;
    let (mut guest, mut host) = guest_waits_and_host_opens(&server, "praxis").await;

    // The host's arrival moves the guest into the lobby, not into the room.
    assert_eq!(
        ws_until(&mut guest, |m| matches!(m, ServerMsg::Waiting { .. } | ServerMsg::Welcome { .. })).await,
        Some(ServerMsg::Waiting { reason: WaitReason::Lobby }),
        "the guest knocks instead of walking in"
    );
    let id = match ws_until(&mut host, |m| matches!(m, ServerMsg::Lobby { knocking } if !knocking.is_empty())).await {
        Some(ServerMsg::Lobby { knocking }) => {
            assert_eq!(knocking.len(), 1, "{knocking:?}");
            assert_eq!(knocking[0].display_name, "Patientin");
            knocking[0].id.clone()
        }
        other => panic!("the host sees the guest in the lobby: {other:?}"),
    };
    let before = ws_drain(&mut host, 300).await;
    assert!(!before.iter().any(|m| matches!(m, ServerMsg::ParticipantJoined { .. })), "nobody came in: {before:?}");

    ws_send(&mut host, &format!(r#"{{"type":"lobby_admit","id":"{id}"}}"#)).await;
    match ws_until(&mut guest, |m| matches!(m, ServerMsg::Welcome { .. })).await {
        Some(ServerMsg::Welcome { you, .. }) => assert!(!you.moderator, "the guest is no moderator"),
        other => panic!("the admitted guest is let in: {other:?}"),
    }
    assert!(
        ws_until(&mut host, |m| matches!(m, ServerMsg::ParticipantJoined { participant } if participant.id == id))
            .await
            .is_some(),
        "the host sees the guest come in"
    );
    assert!(server.stop().await);
}

#[tokio::test]
async fn with_lobby_on_open_false_a_guest_who_waited_walks_in_when_the_host_opens_the_room() {
    let _t = support::test();
    let mut config = support::with_local_host("lobby-on-open-false", AccessMode::Secure);
    config.rooms.lobby_on_open_setting = Some(false);
    let server = support::start(config).await;
    let (mut guest, mut host) = guest_waits_and_host_opens(&server, "praxis").await;
    match ws_until(&mut guest, |m| matches!(m, ServerMsg::Waiting { .. } | ServerMsg::Welcome { .. })).await {
        Some(ServerMsg::Welcome { .. }) => {}
        other => panic!("the guest walks in: {other:?}"),
    }
    assert!(
        ws_until(
            &mut host,
            |m| matches!(m, ServerMsg::ParticipantJoined { participant } if participant.display_name == "Patientin")
        )
        .await
        .is_some()
    );
    assert!(server.stop().await);
}
