//! Bad signalling input gets a clear answer and touches nothing else: a
//! malformed message an `error` reply, an oversized frame close 1009, a
//! binary frame close 1003, a foreign page 403, and other participants carry
//! on.

use kabine::protocol::{ErrorCode, MAX_MESSAGE_BYTES, ServerMsg};
use tokio_tungstenite::tungstenite::Error as WsError;

use crate::support::{self, ws_close_code, ws_connect, ws_join, ws_next, ws_send, ws_until};

fn error_code(msg: Option<ServerMsg>) -> Option<ErrorCode> {
    match msg {
        Some(ServerMsg::Error { code, .. }) => Some(code),
        _ => None,
    }
}

#[tokio::test]
async fn malformed_messages_get_an_error_and_the_connection_stays_usable() {
    let _t = support::test();
    let server = support::start(support::test_config()).await;
    let mut ws = ws_connect(&server, Some(&support::own_origin(&server))).await.expect("connects");
    for bad in [
        "{",
        "not json",
        "[]",
        "{}",
        r#"{"type":"fly"}"#,
        r#"{"type":"hello","version":1,"room":"r","display_name":"a","display_name":"b"}"#,
        r#"{"type":"hello","type":"hello","version":1,"room":"r","display_name":"a"}"#,
        r#"{"type":"hello","version":"1","room":"r","display_name":"a"}"#,
        r#"{"type":"hello","version":1,"room":"r","display_name":"a","admin":true}"#,
        r#"{"type":"chat","text":"\ud800"}"#,
    ] {
        ws_send(&mut ws, bad).await;
        assert_eq!(error_code(ws_next(&mut ws).await), Some(ErrorCode::BadMessage), "{bad}");
    }
    assert_eq!(support::captured().matches("display_name").count(), 0, "input is not logged");
    // Still usable: joining works.
    ws_send(&mut ws, r#"{"type":"hello","version":1,"room":"r","display_name":"Ada"}"#).await;
    assert!(matches!(ws_next(&mut ws).await, Some(ServerMsg::Welcome { .. })));
    assert!(server.stop().await);
}

#[tokio::test]
async fn messages_before_hello_are_refused_with_not_joined() {
    let _t = support::test();
    let server = support::start(support::test_config()).await;
    let mut ws = ws_connect(&server, Some(&support::own_origin(&server))).await.expect("connects");
    for early in [r#"{"type":"chat","text":"hi"}"#, r#"{"type":"hand","raised":true}"#, r#"{"type":"leave"}"#] {
        ws_send(&mut ws, early).await;
        assert_eq!(error_code(ws_next(&mut ws).await), Some(ErrorCode::NotJoined), "{early}");
    }
    ws_send(&mut ws, r#"{"type":"hello","version":7,"room":"r","display_name":"Ada"}"#).await;
    assert_eq!(error_code(ws_next(&mut ws).await), Some(ErrorCode::UnsupportedVersion));
    ws_send(&mut ws, r#"{"type":"hello","version":1,"room":"../etc","display_name":"Ada"}"#).await;
    assert_eq!(error_code(ws_next(&mut ws).await), Some(ErrorCode::BadRoomName));
    assert!(server.stop().await);
}

#[tokio::test]
async fn an_oversized_frame_closes_that_connection_with_1009_and_no_other() {
    let _t = support::test();
    let server = support::start(support::test_config()).await;
    let (mut a, _) = ws_join(&server, "room", "Ada").await;
    let (mut b, _) = ws_join(&server, "room", "Bob").await;
    let (mut c, _) = ws_join(&server, "room", "Cy").await;
    // Drain the join announcements (each also gets its ticket and the room state).
    assert!(ws_until(&mut a, |m| matches!(m, ServerMsg::ParticipantJoined { .. })).await.is_some());
    assert!(ws_until(&mut a, |m| matches!(m, ServerMsg::ParticipantJoined { .. })).await.is_some());
    assert!(ws_until(&mut b, |m| matches!(m, ServerMsg::ParticipantJoined { .. })).await.is_some());

    // The issue's limit: 64 KiB.
    assert_eq!(MAX_MESSAGE_BYTES, 64 * 1024);
    let huge = format!(r#"{{"type":"chat","text":"{}"}}"#, "x".repeat(65 * 1024));
    ws_send(&mut c, &huge).await;
    assert_eq!(ws_close_code(&mut c).await, Some(1009));

    // The others see Cy leave, and carry on.
    assert!(ws_until(&mut a, |m| matches!(m, ServerMsg::ParticipantLeft { .. })).await.is_some());
    assert!(ws_until(&mut b, |m| matches!(m, ServerMsg::ParticipantLeft { .. })).await.is_some());
    ws_send(&mut a, r#"{"type":"chat","text":"still here"}"#).await;
    assert!(ws_until(&mut b, |m| matches!(m, ServerMsg::Chat { text, .. } if text == "still here")).await.is_some());
    // A message just under the limit is fine (and refused for its content).
    let big = format!(r#"{{"type":"chat","text":"{}"}}"#, "x".repeat(60 * 1024));
    assert!(ws_until(&mut a, |m| matches!(m, ServerMsg::Chat { .. })).await.is_some(), "the sender gets the echo");
    ws_send(&mut a, &big).await;
    assert_eq!(error_code(ws_next(&mut a).await), Some(ErrorCode::ChatRejected));
    assert!(server.stop().await);
}

#[tokio::test]
async fn a_binary_frame_closes_with_1003() {
    use futures_util::SinkExt;
    let _t = support::test();
    let server = support::start(support::test_config()).await;
    let (mut a, _) = ws_join(&server, "room", "Ada").await;
    a.send(tokio_tungstenite::tungstenite::Message::binary(vec![1u8, 2, 3])).await.expect("sent");
    assert_eq!(ws_close_code(&mut a).await, Some(1003));
    assert!(server.stop().await);
}

#[tokio::test]
async fn handshakes_from_a_foreign_origin_are_refused_with_403() {
    let _t = support::test();
    let server = support::start(support::test_config()).await;
    let port = server.https_addr().port();
    for origin in [
        Some("https://evil.example".to_string()),
        Some(format!("http://127.0.0.1:{port}")),
        Some(format!("https://127.0.0.1:{}", port.wrapping_add(1))),
        Some("null".to_string()),
        None,
    ] {
        match ws_connect(&server, origin.as_deref()).await {
            Err(WsError::Http(response)) => assert_eq!(response.status(), 403, "{origin:?}"),
            other => panic!("{origin:?} was not refused: {:?}", other.map(|_| ())),
        }
    }
    assert!(ws_connect(&server, Some(&support::own_origin(&server))).await.is_ok(), "the own origin is fine");
    assert!(server.stop().await);
}

#[tokio::test]
async fn a_configured_public_url_is_the_only_accepted_origin() {
    let _t = support::test();
    let mut config = support::test_config();
    config.server.public_url = Some("https://meet.example.eu".into());
    let server = support::start(config).await;
    assert!(matches!(
        ws_connect(&server, Some(&support::own_origin(&server))).await,
        Err(WsError::Http(r)) if r.status() == 403
    ));
    assert!(ws_connect(&server, Some("https://meet.example.eu")).await.is_ok());
    assert!(server.stop().await);
}
