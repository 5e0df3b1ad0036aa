//! One participant cannot degrade a room (issue 14, item 5): every client
//! message type is rate-limited per connection; 100,000 `hand` toggles
//! close that connection with 1008 "rate limit" and nobody else's, even
//! while the others do not read (a slow reader is not dropped because of
//! someone else's flood); state toggles are coalesced, so the others see
//! only a handful of updates.

use futures_util::SinkExt;
use kabine::protocol::ServerMsg;
use tokio_tungstenite::tungstenite::Message;

use crate::support::{self, ws_close_code, ws_drain, ws_join, ws_send, ws_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_thousand_hand_toggles_close_that_connection_and_nobody_elses() {
    let _t = support::test();
    let server = support::start(support::test_config()).await;
    let (mut ada, _) = ws_join(&server, "raum", "Ada").await;
    let (mut bob, _) = ws_join(&server, "raum", "Bob").await;
    let (mut eve, _) = ws_join(&server, "raum", "Eve").await;
    ws_drain(&mut ada, 300).await;
    ws_drain(&mut bob, 300).await;
    ws_drain(&mut eve, 300).await;

    // Ada and Bob read nothing while Eve floods.
    let mut sent = 0;
    for i in 0..100_000 {
        let raised = i % 2 == 0;
        let frame = Message::text(format!(r#"{{"type":"hand","raised":{raised}}}"#));
        if eve.feed(frame).await.is_err() {
            break;
        }
        sent += 1;
        if i % 256 == 0 && eve.flush().await.is_err() {
            break;
        }
    }
    let _ = eve.flush().await;
    eprintln!("sent {sent} hand toggles before the server closed");
    assert_eq!(ws_close_code(&mut eve).await, Some(1008), "the flooding connection is closed with 1008");

    // Ada and Bob are still there, saw Eve leave, and few of her toggles.
    for ws in [&mut ada, &mut bob] {
        let msgs = ws_drain(ws, 2000).await;
        let updates = msgs.iter().filter(|m| matches!(m, ServerMsg::ParticipantUpdated { .. })).count();
        assert!(updates < 200, "{updates} hand updates relayed");
        assert!(msgs.iter().any(|m| matches!(m, ServerMsg::ParticipantLeft { .. })), "Eve left");
    }
    ws_send(&mut ada, r#"{"type":"chat","text":"noch da?"}"#).await;
    assert!(ws_until(&mut bob, |m| matches!(m, ServerMsg::Chat { .. })).await.is_some(), "the room still works");
    assert!(server.stop().await);
}
