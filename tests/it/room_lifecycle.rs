//! Rooms live only while someone is in them: after everyone leaves the
//! server holds no room and no media state, and the same name starts a
//! fresh room without the old chat. A meeting whose last participant lost
//! the connection (instead of leaving) waits for reconnects for
//! `Timings::meeting_grace` (60 s; 1 s here), then ends the same way.

use std::time::Duration;

use kabine::loadgen::SyntheticPeer;
use kabine::protocol::ServerMsg;
use kabine::stats::Stats;

use crate::support::{self, ws_join, ws_next, ws_send};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_everyone_leaves_nothing_is_left_and_the_name_starts_fresh() {
    let _t = support::test();
    let _heavy = support::heavy().await;
    let timings = kabine::signal::Timings { meeting_grace: Duration::from_secs(1), ..Default::default() };
    let server = support::start_with_timings(support::test_config(), timings).await;
    let stats = server.stats();
    let (mut a, a_id) = ws_join(&server, "therapy-room", "Ada").await;
    let (mut b, _) = ws_join(&server, "therapy-room", "Bob").await;
    let media = SyntheticPeer::join(support::peer(&server, "therapy-room", "Cam")).await.expect("joins");
    ws_send(&mut a, r#"{"type":"chat","text":"my secret"}"#).await;
    loop {
        match ws_next(&mut b).await {
            Some(ServerMsg::Chat { text, from, .. }) => {
                assert_eq!((text.as_str(), from.as_str()), ("my secret", a_id.as_str()));
                break;
            }
            Some(_) => continue,
            None => panic!("no chat"),
        }
    }
    assert_eq!(Stats::get(&stats.rooms_open), 1);
    assert!(Stats::get(&stats.peer_connections) > 0);

    // One leaves politely, one closes the tab, one just vanishes.
    ws_send(&mut a, r#"{"type":"leave"}"#).await;
    loop {
        match ws_next(&mut a).await {
            Some(ServerMsg::Bye { .. }) => break,
            Some(_) => continue,
            None => panic!("no bye"),
        }
    }
    drop(b);
    media.vanish().await;
    assert!(support::eventually(Duration::from_secs(5), || Stats::get(&stats.rooms_open) == 0).await);
    assert_eq!(Stats::get(&stats.participants), 0);
    assert!(
        support::eventually(Duration::from_secs(15), || Stats::get(&stats.peer_connections) == 0
            && Stats::get(&stats.media_addresses) == 0
            && stats.subscription_count() == 0)
        .await,
        "media state is gone too"
    );

    // The same name again: an empty room, and the old chat is nowhere.
    let mut c = support::ws_connect(&server, Some(&support::own_origin(&server))).await.expect("connects");
    ws_send(&mut c, r#"{"type":"hello","version":1,"room":"therapy-room","display_name":"Di"}"#).await;
    match ws_next(&mut c).await {
        Some(ServerMsg::Welcome { participants, .. }) => assert!(participants.is_empty()),
        other => panic!("{other:?}"),
    }
    // Only a fresh meeting's own messages follow (ticket, room state).
    let after = support::ws_drain(&mut c, 500).await;
    assert!(
        after.iter().all(|m| matches!(m, ServerMsg::Ticket { .. } | ServerMsg::RoomState { locked: false, .. })),
        "nothing of the old meeting arrives: {after:?}"
    );
    assert_eq!(Stats::get(&stats.rooms_open), 1);
    assert!(!support::captured().contains("therapy-room"), "room names are not logged");
    assert!(!support::captured().contains("my secret"), "chat is not logged");
    assert!(server.stop().await);
}
