//! Three participants in one room each receive the other two's audio and
//! video through the SFU.

use std::time::Duration;

use kabine::loadgen::SyntheticPeer;
use kabine::protocol::Source;
use kabine::stats::Stats;

use crate::support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_participants_each_receive_the_others_audio_and_video() {
    let _t = support::test();
    let _heavy = support::heavy().await;
    let server = support::start(support::test_config()).await;
    let mut peers = Vec::new();
    for name in ["Ada", "Bob", "Cy"] {
        peers.push(SyntheticPeer::join(support::peer(&server, "trio", name)).await.expect("joins"));
    }
    let ids: Vec<String> = peers.iter().map(|p| p.id()).collect();
    for (i, peer) in peers.iter().enumerate() {
        let others: Vec<String> = ids.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, id)| id.clone()).collect();
        let ok = peer
            .wait_for(Duration::from_secs(10), |r| {
                others.iter().all(|o| r.packets_from(o, Source::Mic) > 25 && r.packets_from(o, Source::Camera) > 25)
            })
            .await;
        let report = peer.report();
        assert!(ok, "participant {i} did not get everyone's media in 10 s: {:?}", report.received);
        for o in &others {
            let video = &report.received[&(o.clone(), Source::Camera)];
            assert!(video.keyframes > 0, "video starts with a keyframe: {video:?}");
            assert_eq!(video.seq_backwards, 0, "{video:?}");
        }
        assert!(!report.received.contains_key(&(ids[i].clone(), Source::Mic)), "nobody receives themselves");
    }
    let stats = server.stats();
    assert_eq!(Stats::get(&stats.rooms_open), 1);
    assert_eq!(Stats::get(&stats.participants), 3);
    assert!(Stats::get(&stats.packets_in) > 0 && Stats::get(&stats.packets_out) > 0);
    for p in peers {
        p.leave().await;
    }
    assert!(support::eventually(Duration::from_secs(5), || Stats::get(&stats.rooms_open) == 0).await);
    assert!(support::eventually(Duration::from_secs(5), || Stats::get(&stats.peer_connections) == 0).await);
    assert!(server.stop().await, "stops in time");
}
