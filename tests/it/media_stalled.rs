//! A source a participant says it sends but of which nothing arrives is
//! reported to that participant (`media_stalled`), again every few seconds
//! while it lasts, and no longer once packets flow; sources that deliver,
//! or that are off, are never reported. Real str0m peers on loopback.

use std::time::Duration;

use kabine::loadgen::SyntheticPeer;
use kabine::protocol::{ClientMsg, ServerMsg, Source};

use crate::support;

fn stalls(peer: &SyntheticPeer, source: Source) -> usize {
    peer.report().other.iter().filter(|m| matches!(m, ServerMsg::MediaStalled { source: s } if *s == source)).count()
}

fn on(mic: bool, camera: bool) -> ClientMsg {
    ClientMsg::MediaState { mic, camera, screen: false }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_that_sends_nothing_is_reported_to_its_owner_until_it_sends_again() {
    let _t = support::test();
    let _heavy = support::heavy().await;
    let server = support::start(support::test_config()).await;
    let ada = SyntheticPeer::join(support::peer(&server, "stall", "Ada")).await.expect("joins");
    let bob = SyntheticPeer::join(support::peer(&server, "stall", "Bob")).await.expect("joins");
    ada.send(on(true, true)).await;
    bob.send(on(true, true)).await;
    let ada_id = ada.id();
    assert!(
        bob.wait_for(Duration::from_secs(10), |r| r.packets_from(&ada_id, Source::Camera) > 30).await,
        "Bob receives Ada's camera first"
    );

    // Ada's camera goes silent, its m-line stays: she is told, he is not.
    ada.pause_video(true).await;
    assert!(
        ada.wait_for(Duration::from_secs(9), |r| r.other.iter().any(|m| matches!(m, ServerMsg::MediaStalled { .. })))
            .await,
        "no media_stalled for a camera that sends nothing"
    );
    assert_eq!(stalls(&ada, Source::Mic), 0, "her microphone delivers");
    assert!(
        ada.wait_for(Duration::from_secs(8), |_| stalls(&ada, Source::Camera) >= 2).await,
        "reported again while it lasts"
    );
    assert!(bob.report().other.iter().all(|m| !matches!(m, ServerMsg::MediaStalled { .. })), "only the owner is told");

    // It sends again: no more reports.
    ada.pause_video(false).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = stalls(&ada, Source::Camera);
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(stalls(&ada, Source::Camera), before, "reported although the camera sends again");

    // A camera turned off is never reported, whether it sends or not.
    ada.send(on(true, false)).await;
    ada.pause_video(true).await;
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(stalls(&ada, Source::Camera), before, "a camera that is off was reported");
    ada.leave().await;
    bob.leave().await;
    assert!(server.stop().await);
}
