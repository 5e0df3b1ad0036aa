//! A graceful stop says goodbye: every session gets `bye` (server_shutdown),
//! media connections are closed, and all of it within the 5 s budget.

use std::time::{Duration, Instant};

use kabine::loadgen::SyntheticPeer;
use kabine::protocol::{ByeReason, ServerMsg};

use crate::support::{self, ws_join, ws_next};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_server_says_bye_to_every_session() {
    let _t = support::test();
    let _heavy = support::heavy().await;
    let server = support::start(support::test_config()).await;
    let (mut raw, _) = ws_join(&server, "room", "Ada").await;
    let media = SyntheticPeer::join(support::peer(&server, "room", "Bob")).await.expect("joins");
    let other = SyntheticPeer::join(support::peer(&server, "other", "Cy")).await.expect("joins");
    let mut lonely = support::ws_connect(&server, Some(&support::own_origin(&server))).await.expect("connects");
    assert!(media.wait_for(Duration::from_secs(10), |r| r.publish_connected).await);

    let started = Instant::now();
    assert!(server.stop().await, "everything stopped within the budget");
    assert!(started.elapsed() < Duration::from_secs(5));

    let mut bye = None;
    while let Some(msg) = ws_next(&mut raw).await {
        if let ServerMsg::Bye { reason } = msg {
            bye = Some(reason);
            break;
        }
    }
    assert_eq!(bye, Some(ByeReason::ServerShutdown));
    for peer in [&media, &other] {
        assert!(peer.wait_for(Duration::from_secs(2), |r| r.bye == Some(ByeReason::ServerShutdown)).await);
    }
    assert_eq!(
        ws_next(&mut lonely).await,
        Some(ServerMsg::Bye { reason: ByeReason::ServerShutdown }),
        "not joined yet"
    );
    media.vanish().await;
    other.vanish().await;
}
