//! Keyframe requests from subscribers reach the publisher at most once a
//! second per layer; lost packets are repaired by retransmission (NACK/RTX).

use std::time::Duration;

use kabine::loadgen::{PeerConfig, SyntheticPeer};
use kabine::protocol::Source;
use kabine::stats::Stats;

use crate::support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyframe_requests_are_forwarded_and_throttled() {
    let _t = support::test();
    let _heavy = support::heavy().await;
    let server = support::start(support::test_config()).await;
    let stats = server.stats();
    let publisher = SyntheticPeer::join(support::peer(&server, "kf", "Pub")).await.expect("joins");
    let subs = [
        SyntheticPeer::join(PeerConfig { audio: false, video: false, ..support::peer(&server, "kf", "S1") })
            .await
            .expect("joins"),
        SyntheticPeer::join(PeerConfig { audio: false, video: false, ..support::peer(&server, "kf", "S2") })
            .await
            .expect("joins"),
    ];
    let p = publisher.id();
    for s in &subs {
        assert!(s.wait_for(Duration::from_secs(10), |r| r.packets_from(&p, Source::Camera) > 60).await);
    }
    // Let the start-up requests age past the throttle.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let asked = publisher.report().keyframe_requests;
    let sent = Stats::get(&stats.keyframe_requests);
    // Two subscribers ask 10 times each within about one second.
    for _ in 0..10 {
        for s in &subs {
            s.request_keyframe(&p, Source::Camera).await;
        }
        tokio::time::sleep(Duration::from_millis(90)).await;
    }
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let got = publisher.report().keyframe_requests - asked;
    assert!((1..=3).contains(&got), "20 requests in ~1 s reach the publisher as {got}");
    assert_eq!(Stats::get(&stats.keyframe_requests) - sent, got, "the server counts what it sent");
    for s in subs {
        s.leave().await;
    }
    publisher.leave().await;
    assert!(server.stop().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_packets_are_retransmitted() {
    let _t = support::test();
    let _heavy = support::heavy().await;
    let server = support::start(support::test_config()).await;
    let publisher = SyntheticPeer::join(support::peer(&server, "lossy", "Pub")).await.expect("joins");
    let lossy = PeerConfig { audio: false, video: false, drop_every: 15, ..support::peer(&server, "lossy", "Sub") };
    let sub = SyntheticPeer::join(lossy).await.expect("joins");
    let p = publisher.id();
    assert!(
        sub.wait_for(Duration::from_secs(15), |r| r
            .received
            .get(&(p.clone(), Source::Camera))
            .is_some_and(|t| t.repaired > 10 && t.packets > 200))
            .await,
        "{:?}",
        sub.report().received.get(&(p.clone(), Source::Camera))
    );
    let t = sub.report().received[&(p.clone(), Source::Camera)].clone();
    // One in fifteen datagrams is dropped; nearly all of the video holes
    // are filled again (the newest may still be on their way).
    assert!(t.seq_gaps > 10, "loss happened: {t:?}");
    assert!(t.missing.len() * 4 < t.seq_gaps as usize, "most holes were repaired: {t:?}");
    sub.leave().await;
    publisher.leave().await;
    assert!(server.stop().await);
}
