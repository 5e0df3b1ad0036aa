//! Simulcast: each subscriber gets the layer that fits how large it renders
//! the video (from the server's counters and from the frames that arrive),
//! and a layer switch leaves the subscriber one seamless stream.

use std::time::Duration;

use kabine::loadgen::{PeerConfig, SyntheticPeer};
use kabine::protocol::{Source, VideoSize};
use kabine::stats::Forwarded;

use crate::support;

fn size(participant: &str, width: u32, height: u32) -> Vec<VideoSize> {
    vec![VideoSize { participant: participant.into(), source: Source::Camera, width, height }]
}

fn receiver(config: PeerConfig) -> PeerConfig {
    PeerConfig { audio: false, video: false, ..config }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_tiles_get_the_low_layer_and_a_large_view_the_high_one() {
    let _t = support::test();
    let _heavy = support::heavy().await;
    let server = support::start(support::test_config()).await;
    let stats = server.stats();
    let publisher = SyntheticPeer::join(support::peer(&server, "class", "Teacher")).await.expect("joins");
    let small = SyntheticPeer::join(receiver(support::peer(&server, "class", "Small"))).await.expect("joins");
    let large = SyntheticPeer::join(receiver(support::peer(&server, "class", "Large"))).await.expect("joins");
    let p = publisher.id();
    small.video_sizes(size(&p, 320, 180)).await;
    large.video_sizes(size(&p, 1280, 720)).await;

    let layer = |who: &SyntheticPeer| stats.subscription_of(&who.id(), &p, Source::Camera).map(|s| s.selected());
    assert!(
        support::eventually(Duration::from_secs(10), || layer(&small) == Some(Forwarded::Layer(0))
            && layer(&large) == Some(Forwarded::Layer(2)))
        .await,
        "small: {:?}, large: {:?}",
        layer(&small),
        layer(&large)
    );
    // What arrives agrees: the synthetic layers are 320, 640 and 1280 wide
    // (before the sizes arrived, a busy machine may have shown the small
    // tile a larger layer first: the width it ends on counts).
    assert!(
        small
            .wait_for(Duration::from_secs(5), |r| r
                .received
                .get(&(p.clone(), Source::Camera))
                .is_some_and(|t| t.widths.last() == Some(&320)))
            .await,
        "small receives: {:?}",
        small.report().received.get(&(p.clone(), Source::Camera))
    );
    assert!(
        large
            .wait_for(Duration::from_secs(5), |r| r
                .received
                .get(&(p.clone(), Source::Camera))
                .is_some_and(|t| t.widths.contains(&1280)))
            .await
    );
    let counts =
        |who: &SyntheticPeer| stats.subscription_of(&who.id(), &p, Source::Camera).expect("subscribed").packets();
    // From now on (the layers have settled; before the sizes arrived a busy
    // machine may have forwarded a packet of another layer), the small tile
    // gets only the low layer and the large view the high one.
    let (small_before, large_before) = (counts(&small), counts(&large));
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let grew = |before: &[u64], after: &[u64]| -> Vec<bool> { before.iter().zip(after).map(|(b, a)| a > b).collect() };
    let (small_grew, large_grew) = (grew(&small_before, &counts(&small)), grew(&large_before, &counts(&large)));
    assert!(small_grew[0] && !small_grew[1] && !small_grew[2], "small: {small_grew:?} {:?}", counts(&small));
    assert!(large_grew[2] && !large_grew[0], "large: {large_grew:?} {:?}", counts(&large));

    // The small one goes full screen: it switches up, on a keyframe, seamlessly
    // (to `h` as far as the bandwidth estimate allows: on a loaded machine the
    // estimate may hold it at `m` for a while).
    let settled = counts(&small);
    small.video_sizes(size(&p, 1920, 1080)).await;
    let up = |l: Option<Forwarded>| matches!(l, Some(Forwarded::Layer(1 | 2)));
    assert!(support::eventually(Duration::from_secs(15), || up(layer(&small))).await);
    let _ = support::eventually(Duration::from_secs(10), || layer(&small) == Some(Forwarded::Layer(2))).await;
    let top = if layer(&small) == Some(Forwarded::Layer(2)) { 1280 } else { 640 };
    // ... and hides the video: nothing is forwarded.
    large.video_sizes(size(&p, 0, 0)).await;
    assert!(support::eventually(Duration::from_secs(5), || layer(&large) == Some(Forwarded::Nothing)).await);
    let hidden = counts(&large);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(counts(&large), hidden, "a hidden video costs no bandwidth");

    let key = (p.clone(), Source::Camera);
    assert!(small.wait_for(Duration::from_secs(5), |r| r.received[&key].widths.contains(&top)).await);
    let r = small.report();
    let t = &r.received[&key];
    // Up from the low layer: the server now forwards the upper layer to it.
    // (Its first packets, before any layer was seen of the publisher, may
    // have been of any layer: `widths` alone cannot tell.)
    let upper = if top == 1280 { 2 } else { 1 };
    assert!(counts(&small)[upper] > settled[upper], "{:?} after {settled:?}", counts(&small));
    assert_eq!(t.seq_backwards, 0, "no sequence number went backwards across the switch: {t:?}");
    assert_eq!(t.seq_gaps, 0, "no sequence number was skipped across the switch: {t:?}");
    for peer in [publisher, small, large] {
        peer.leave().await;
    }
    assert!(server.stop().await);
}
