//! In secure and closed mode only a logged-in host ever moderates (issue
//! 14, item 4): when the host's connection drops, no guest inherits the
//! role — the room keeps running without a moderator, a guest's moderator
//! messages are refused, and the returning host moderates again. In open
//! mode moderation still passes on (moderation_protocol). And host rights
//! end with the login session on an open connection (item 7): after
//! logout the participant no longer moderates.

use kabine::config::AccessMode;
use kabine::protocol::{ErrorCode, ServerMsg, WaitReason};

use crate::support::{self, ws_connect_as, ws_drain, ws_hello, ws_send, ws_until};

async fn cookie(base: &str) -> String {
    let r = support::login(&support::https_client(), base, "dr.mueller", "correct horse battery").await;
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    support::session_cookie(&r).expect("session cookie")
}

fn no_guest_moderates(msgs: &[ServerMsg]) {
    for m in msgs {
        if let ServerMsg::ParticipantUpdated { participant } = m {
            assert!(!participant.moderator, "a guest was made moderator: {m:?}");
        }
        assert!(!matches!(m, ServerMsg::Lobby { .. }), "a guest sees the lobby: {m:?}");
    }
}

#[tokio::test]
async fn a_dropped_host_never_hands_moderation_to_a_guest_in_secure_mode() {
    let _t = support::test();
    let server = support::start(support::with_local_host("roles-dropped-host", AccessMode::Secure)).await;
    let base = support::base_url(&server);
    let cookie = cookie(&base).await;
    let mut host = ws_connect_as(&server, Some(&cookie)).await;
    let ticket = match ws_hello(&mut host, "praxis", "x").await {
        Some(ServerMsg::Welcome { you, .. }) if you.moderator => {
            match ws_until(&mut host, |m| matches!(m, ServerMsg::Ticket { .. })).await {
                Some(ServerMsg::Ticket { ticket }) => ticket,
                other => panic!("{other:?}"),
            }
        }
        other => panic!("the host moderates: {other:?}"),
    };
    ws_send(&mut host, r#"{"type":"set_lobby","enabled":true}"#).await;
    let mut guest = ws_connect_as(&server, None).await;
    // The guest arrives before the lobby is on, or knocks: both are fine.
    match ws_hello(&mut guest, "praxis", "Gast").await {
        Some(ServerMsg::Welcome { .. }) => {}
        Some(ServerMsg::Waiting { reason: WaitReason::Lobby }) => {
            let id = match ws_until(&mut host, |m| matches!(m, ServerMsg::Lobby { knocking } if !knocking.is_empty()))
                .await
            {
                Some(ServerMsg::Lobby { knocking }) => knocking[0].id.clone(),
                other => panic!("{other:?}"),
            };
            ws_send(&mut host, &format!(r#"{{"type":"lobby_admit","id":"{id}"}}"#)).await;
            assert!(ws_until(&mut guest, |m| matches!(m, ServerMsg::Welcome { .. })).await.is_some());
        }
        other => panic!("{other:?}"),
    }
    // Another patient knocks: their name must not reach the guest.
    let mut other = ws_connect_as(&server, None).await;
    assert_eq!(
        ws_hello(&mut other, "praxis", "Andere Patientin").await,
        Some(ServerMsg::Waiting { reason: WaitReason::Lobby })
    );

    // The host's connection drops.
    drop(host);
    let msgs = ws_drain(&mut guest, 1500).await;
    assert!(msgs.iter().any(|m| matches!(m, ServerMsg::ParticipantLeft { .. })), "{msgs:?}");
    no_guest_moderates(&msgs);
    for action in [r#"{"type":"end_meeting"}"#, r#"{"type":"set_lobby","enabled":false}"#] {
        ws_send(&mut guest, action).await;
        match ws_until(&mut guest, |m| matches!(m, ServerMsg::Error { .. })).await {
            Some(ServerMsg::Error { code, .. }) => assert_eq!(code, ErrorCode::NotModerator, "{action}"),
            other => panic!("{other:?}"),
        }
    }

    // The host comes back with the ticket and moderates again.
    let mut back = ws_connect_as(&server, Some(&cookie)).await;
    ws_send(
        &mut back,
        &format!(r#"{{"type":"rejoin","version":1,"room":"praxis","display_name":"x","ticket":"{ticket}"}}"#),
    )
    .await;
    match ws_until(&mut back, |m| matches!(m, ServerMsg::Welcome { .. })).await {
        Some(ServerMsg::Welcome { you, .. }) => assert!(you.moderator, "the returning host moderates"),
        other => panic!("{other:?}"),
    }
    assert!(ws_until(&mut back, |m| matches!(m, ServerMsg::Lobby { knocking } if knocking.len() == 1)).await.is_some());
    assert!(server.stop().await);
}

#[tokio::test]
async fn a_host_who_logs_out_stops_moderating_on_the_open_connection() {
    let _t = support::test();
    let server = support::start(support::with_local_host("roles-logout", AccessMode::Secure)).await;
    let base = support::base_url(&server);
    let cookie = cookie(&base).await;
    let mut host = ws_connect_as(&server, Some(&cookie)).await;
    assert!(matches!(ws_hello(&mut host, "praxis", "x").await, Some(ServerMsg::Welcome { you, .. }) if you.moderator));
    let mut guest = ws_connect_as(&server, None).await;
    ws_send(&mut guest, r#"{"type":"hello","version":1,"room":"praxis","display_name":"Gast"}"#).await;
    support::admit_from_lobby(&mut host, &mut guest, "Gast").await;

    let r = support::https_client()
        .post(format!("{base}/api/logout"))
        .header("origin", &base)
        .header("cookie", &cookie)
        .send()
        .await
        .expect("logout");
    assert!(r.status().is_success());
    assert!(
        ws_until(&mut host, |m| matches!(m, ServerMsg::ParticipantUpdated { participant } if !participant.moderator))
            .await
            .is_some(),
        "the logged-out host is no longer shown as moderator"
    );
    ws_send(&mut host, r#"{"type":"end_meeting"}"#).await;
    match ws_until(&mut host, |m| matches!(m, ServerMsg::Error { .. })).await {
        Some(ServerMsg::Error { code, .. }) => assert_eq!(code, ErrorCode::NotModerator),
        other => panic!("{other:?}"),
    }
    no_guest_moderates(&ws_drain(&mut guest, 500).await);
    assert!(server.stop().await);
}
