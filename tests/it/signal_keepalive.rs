//! Keep-alive: the server pings a silent client and drops one that stays
//! silent (timings shortened from 20 s / 45 s for the test).

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use kabine::protocol::ServerMsg;
use kabine::signal::Timings;
use tokio_tungstenite::tungstenite::Message;

use crate::support::{self, ws_connect, ws_next, ws_send};

fn timings() -> Timings {
    Timings { ping_after: Duration::from_millis(300), drop_after: Duration::from_millis(900), ..Timings::default() }
}

#[tokio::test]
async fn a_client_that_never_answers_is_pinged_then_dropped() {
    let _t = support::test();
    let server = support::start_with_timings(support::test_config(), timings()).await;
    let mut ws = ws_connect(&server, Some(&support::own_origin(&server))).await.expect("connects");
    let start = Instant::now();
    // Not reading means not answering pings (the client answers when it reads).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let first = ws.next().await.expect("a frame").expect("readable");
    assert!(matches!(first, Message::Ping(_)), "{first:?}");
    let mut code = None;
    while let Some(Ok(msg)) = ws.next().await {
        if let Message::Close(frame) = msg {
            code = frame.map(|f| u16::from(f.code));
            break;
        }
    }
    assert_eq!(code, Some(1001), "closed as going away");
    assert!(start.elapsed() < Duration::from_secs(3));
    assert!(server.stop().await);
}

#[tokio::test]
async fn a_client_that_answers_pings_stays_connected() {
    let _t = support::test();
    let server = support::start_with_timings(support::test_config(), timings()).await;
    let mut ws = ws_connect(&server, Some(&support::own_origin(&server))).await.expect("connects");
    // Reading answers pings; read for three times the drop timeout.
    let mut pings = 0;
    let end = tokio::time::Instant::now() + Duration::from_millis(2700);
    while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(end, ws.next()).await {
        match msg {
            Message::Ping(_) => pings += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(pings >= 3, "pinged after each quiet spell: {pings}");
    ws_send(&mut ws, r#"{"type":"hello","version":1,"room":"r","display_name":"Ada"}"#).await;
    assert!(matches!(ws_next(&mut ws).await, Some(ServerMsg::Welcome { .. })), "still connected");
    assert!(server.stop().await);
}
