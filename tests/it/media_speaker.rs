//! Active speaker from the audio-level header extension, announced to the
//! room, and last-N following it.

use std::time::Duration;

use kabine::loadgen::{PeerConfig, SyntheticPeer};
use kabine::protocol::Source;
use kabine::stats::Forwarded;

use crate::support;

fn level(config: PeerConfig, audio_level: u8) -> PeerConfig {
    PeerConfig { audio_level, ..config }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loudest_participant_is_announced_as_active_speaker() {
    let _t = support::test();
    let _heavy = support::heavy().await;
    let server = support::start(support::test_config()).await;
    let ada = SyntheticPeer::join(level(support::peer(&server, "talk", "Ada"), 127)).await.expect("joins");
    let bob = SyntheticPeer::join(level(support::peer(&server, "talk", "Bob"), 25)).await.expect("joins");
    let cy = SyntheticPeer::join(level(support::peer(&server, "talk", "Cy"), 127)).await.expect("joins");
    let bob_id = bob.id();
    for p in [&ada, &cy, &bob] {
        assert!(
            p.wait_for(Duration::from_secs(10), |r| r.speakers.last() == Some(&Some(bob_id.clone()))).await,
            "speakers seen: {:?}",
            p.report().speakers
        );
    }
    // Bob stops, Ada starts: the floor moves to Ada.
    bob.set_audio_level(127).await;
    ada.set_audio_level(30).await;
    let ada_id = ada.id();
    assert!(cy.wait_for(Duration::from_secs(10), |r| r.speakers.last() == Some(&Some(ada_id.clone()))).await);
    // Everyone silent: nobody is speaking.
    ada.set_audio_level(127).await;
    assert!(cy.wait_for(Duration::from_secs(10), |r| r.speakers.last() == Some(&None)).await);
    for p in [ada, bob, cy] {
        p.leave().await;
    }
    assert!(server.stop().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_n_forwards_video_of_the_most_recent_speaker_only() {
    let _t = support::test();
    let _heavy = support::heavy().await;
    let mut config = support::test_config();
    config.media.last_n = 1;
    let server = support::start(config).await;
    let stats = server.stats();
    let ada = SyntheticPeer::join(level(support::peer(&server, "lastn", "Ada"), 127)).await.expect("joins");
    let bob = SyntheticPeer::join(level(support::peer(&server, "lastn", "Bob"), 127)).await.expect("joins");
    let cy = SyntheticPeer::join(level(support::peer(&server, "lastn", "Cy"), 127)).await.expect("joins");
    let (a, b, c) = (ada.id(), bob.id(), cy.id());
    let selected =
        |sub: &str, publisher: &str| stats.subscription_of(sub, publisher, Source::Camera).map(|s| s.selected());
    // Nobody has spoken: join order decides, Cy sees Ada.
    assert!(
        support::eventually(Duration::from_secs(10), || selected(&c, &a) == Some(Forwarded::Layer(0))
            && selected(&c, &b) == Some(Forwarded::Nothing))
        .await
    );
    // Bob speaks: Cy's one video becomes Bob's; audio keeps flowing from everyone.
    bob.set_audio_level(20).await;
    assert!(
        support::eventually(Duration::from_secs(10), || selected(&c, &b) == Some(Forwarded::Layer(0))
            && selected(&c, &a) == Some(Forwarded::Nothing))
        .await,
        "cy: ada {:?}, bob {:?}",
        selected(&c, &a),
        selected(&c, &b)
    );
    // From now on video comes from Bob only; audio keeps coming from both.
    // Ada's packets already on their way when the selection changed (in the
    // pacer's queue or the socket) may still arrive: wait until they stop.
    let mut before = cy.report();
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = cy.report();
        let settled = now.packets_from(&a, Source::Camera) == before.packets_from(&a, Source::Camera);
        before = now;
        if settled {
            break;
        }
    }
    let grew_by = |r: &kabine::loadgen::PeerReport, who: &str, s: Source, n: u64| {
        r.packets_from(who, s) >= before.packets_from(who, s) + n
    };
    assert!(
        cy.wait_for(Duration::from_secs(10), |r| grew_by(r, &b, Source::Camera, 30)
            && grew_by(r, &a, Source::Mic, 20)
            && grew_by(r, &b, Source::Mic, 20))
            .await
    );
    let after = cy.report();
    assert_eq!(after.packets_from(&a, Source::Camera), before.packets_from(&a, Source::Camera), "no video from Ada");
    assert_eq!(selected(&a, &b), Some(Forwarded::Layer(0)), "Ada sees Bob too");
    for p in [ada, bob, cy] {
        p.leave().await;
    }
    assert!(server.stop().await);
}
