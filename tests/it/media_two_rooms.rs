//! Two rooms at once: nothing crosses between them, neither media nor chat
//! nor participant lists. The server runs two engine threads
//! (`media.engine_threads = 2`), and each room's media is on one of them:
//! the dispatcher of the one media port hands every datagram to its thread.

use std::time::Duration;

use kabine::loadgen::SyntheticPeer;
use kabine::protocol::{ClientMsg, Source};
use kabine::stats::Stats;

use crate::support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_crosses_between_two_rooms() {
    let _t = support::test();
    let _heavy = support::heavy().await;
    let mut config = support::test_config();
    config.media.engine_threads = 2;
    let server = support::start(config).await;
    let ada = SyntheticPeer::join(support::peer(&server, "alpha", "Ada")).await.expect("joins");
    let bob = SyntheticPeer::join(support::peer(&server, "alpha", "Bob")).await.expect("joins");
    let cy = SyntheticPeer::join(support::peer(&server, "beta", "Cy")).await.expect("joins");
    let di = SyntheticPeer::join(support::peer(&server, "beta", "Di")).await.expect("joins");
    let pairs = [(&ada, &bob), (&bob, &ada), (&cy, &di), (&di, &cy)];
    for (me, other) in pairs {
        let other_id = other.id();
        assert!(
            me.wait_for(Duration::from_secs(20), |r| r.packets_from(&other_id, Source::Camera) > 30
                && r.packets_from(&other_id, Source::Mic) > 30)
                .await,
            "media within the room flows"
        );
    }
    ada.send(ClientMsg::Chat { text: "alpha only".into() }).await;
    cy.send(ClientMsg::Chat { text: "beta only".into() }).await;
    assert!(bob.wait_for(Duration::from_secs(5), |r| !r.chats.is_empty()).await);
    assert!(di.wait_for(Duration::from_secs(5), |r| !r.chats.is_empty()).await);
    // Let anything that might leak arrive.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let alpha = [ada.id(), bob.id()];
    let beta = [cy.id(), di.id()];
    for (peer, own, foreign, chat) in [
        (&ada, &alpha, &beta, "alpha only"),
        (&bob, &alpha, &beta, "alpha only"),
        (&cy, &beta, &alpha, "beta only"),
        (&di, &beta, &alpha, "beta only"),
    ] {
        let r = peer.report();
        for f in foreign.iter() {
            assert!(!r.participants.contains_key(f), "participant lists stay in their room");
            assert!(r.received.keys().all(|(p, _)| p != f), "no media from the other room: {:?}", r.received.keys());
            assert!(r.subscribed.iter().all(|t| &t.participant != f), "no offer of the other room's tracks");
            assert!(r.chats.iter().all(|(from, _)| from != f));
        }
        let me = r.id.clone().expect("joined");
        assert!(own.iter().filter(|o| **o != me).all(|o| r.participants.contains_key(o)));
        assert_eq!(r.chats.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>(), [chat]);
    }
    let stats = server.stats();
    assert_eq!(Stats::get(&stats.rooms_open), 2);
    let per_thread: Vec<u64> = stats.engine_thread_participants[..2].iter().map(Stats::get).collect();
    assert_eq!(per_thread, [2, 2], "each room on an engine thread of its own");
    for p in [ada, bob, cy, di] {
        p.leave().await;
    }
    assert!(support::eventually(Duration::from_secs(5), || Stats::get(&stats.rooms_open) == 0).await);
    let emptied = || stats.engine_thread_participants[..2].iter().all(|c| Stats::get(c) == 0);
    assert!(support::eventually(Duration::from_secs(5), emptied).await, "both threads emptied");
    assert!(server.stop().await);
}
