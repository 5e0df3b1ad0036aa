//! Layers nobody receives are not sent (docs/protocol.md, *Layers nobody
//! receives*): a publisher whose viewers all show it small is told to send
//! only its lowest layer, once that held for 3 s; a viewer who makes it
//! large gets all of them asked for at once.

use std::time::{Duration, Instant};

use kabine::loadgen::{PeerConfig, SyntheticPeer};
use kabine::protocol::{ServerMsg, Source, VideoSize};

use crate::support;

fn size(participant: &str, width: u32, height: u32) -> Vec<VideoSize> {
    vec![VideoSize { participant: participant.into(), source: Source::Camera, width, height }]
}

fn receiver(config: PeerConfig) -> PeerConfig {
    PeerConfig { audio: false, video: false, ..config }
}

/// The `send_layers` the peer was told for its camera, in order.
fn told(peer: &SyntheticPeer) -> Vec<u8> {
    peer.report()
        .other
        .iter()
        .filter_map(|m| match m {
            ServerMsg::SendLayers { source: Source::Camera, layers } => Some(*layers),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_shown_small_everywhere_sends_its_low_layer_and_all_once_someone_shows_it_large() {
    let _t = support::test();
    let _heavy = support::heavy().await;
    let server = support::start(support::test_config()).await;
    let publisher = SyntheticPeer::join(support::peer(&server, "layers", "Teacher")).await.expect("joins");
    let a = SyntheticPeer::join(receiver(support::peer(&server, "layers", "A"))).await.expect("joins");
    let b = SyntheticPeer::join(receiver(support::peer(&server, "layers", "B"))).await.expect("joins");
    let p = publisher.id();
    a.video_sizes(size(&p, 320, 180)).await;
    b.video_sizes(size(&p, 356, 200)).await;

    // Both tiles ask for `l` (≤ 200 px): after 3 s of that, one layer (the
    // wait itself is the unit test of `layers::SendCap`).
    let asked = Instant::now();
    assert!(
        support::eventually(Duration::from_secs(15), || told(&publisher).last() == Some(&1)).await,
        "told: {:?}",
        told(&publisher)
    );
    let lowered = asked.elapsed();
    assert_eq!(told(&publisher), [1], "told once");

    // One makes it large: all three layers, at once.
    let asked = Instant::now();
    b.video_sizes(size(&p, 1280, 720)).await;
    assert!(
        support::eventually(Duration::from_secs(5), || told(&publisher).last() == Some(&3)).await,
        "told: {:?}",
        told(&publisher)
    );
    let raised = asked.elapsed();

    // It goes back to a middle-sized tile: `l` and `m`, after 3 s again.
    b.video_sizes(size(&p, 640, 360)).await;
    assert!(
        support::eventually(Duration::from_secs(15), || told(&publisher).last() == Some(&2)).await,
        "told: {:?}",
        told(&publisher)
    );
    // The viewer who wanted more leaves: back to one layer.
    b.leave().await;
    assert!(
        support::eventually(Duration::from_secs(15), || told(&publisher).last() == Some(&1)).await,
        "told: {:?}",
        told(&publisher)
    );
    assert_eq!(told(&publisher), [1, 3, 2, 1]);
    assert!(told(&a).is_empty(), "a receiver without a camera is told nothing");
    println!("send_layers: lowered after {lowered:?}, raised after {raised:?}");
    for peer in [publisher, a] {
        peer.leave().await;
    }
    assert!(server.stop().await);
}
