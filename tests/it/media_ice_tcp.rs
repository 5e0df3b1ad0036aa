//! Media over TCP on the HTTPS port without a browser: a synthetic
//! participant whose packets all go as RFC 4571 frames over TCP to the
//! HTTPS port, and one on UDP, receive each other's audio and video; the
//! server counts the TCP connections and their bytes, and forgets them when
//! the participant leaves. With `media.ice_tcp` off the same participant
//! gets no media at all.

use std::time::Duration;

use kabine::loadgen::SyntheticPeer;
use kabine::protocol::Source;
use kabine::stats::Stats;

use crate::support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_on_tcp_and_one_on_udp_receive_each_other() {
    let _t = support::test();
    let _heavy = support::heavy().await;
    let server = support::start(support::test_config()).await;
    let stats = server.stats();
    let mut tcp = support::peer(&server, "ice-tcp", "Tia");
    tcp.tcp = true;
    let tia = SyntheticPeer::join(tcp).await.expect("joins");
    let udo = SyntheticPeer::join(support::peer(&server, "ice-tcp", "Udo")).await.expect("joins");
    let (tia_id, udo_id) = (tia.id(), udo.id());
    assert!(
        udo.wait_for(Duration::from_secs(15), |r| r.packets_from(&tia_id, Source::Camera) > 100).await,
        "video from the TCP participant reaches the UDP one"
    );
    assert!(
        tia.wait_for(Duration::from_secs(15), |r| r.packets_from(&udo_id, Source::Camera) > 100
            && r.packets_from(&udo_id, Source::Mic) > 20)
            .await,
        "audio and video reach the TCP participant"
    );
    assert_eq!(Stats::get(&stats.tcp_connections), 2, "publish and subscribe each on a TCP connection");
    assert!(Stats::get(&stats.tcp_bytes_in) > 50_000 && Stats::get(&stats.tcp_bytes_out) > 50_000);
    assert_eq!(Stats::get(&stats.tcp_frames_dropped), 0);
    tia.leave().await;
    assert!(
        support::eventually(Duration::from_secs(5), || Stats::get(&stats.tcp_connections) == 0).await,
        "the TCP connections close when the participant leaves"
    );
    udo.leave().await;
    assert!(server.stop().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_ice_tcp_a_tcp_only_participant_gets_no_media() {
    let _t = support::test();
    let _heavy = support::heavy().await;
    let mut config = support::test_config();
    config.media.ice_tcp = false;
    let server = support::start(config).await;
    let stats = server.stats();
    let mut tcp = support::peer(&server, "no-ice-tcp", "Tia");
    tcp.tcp = true;
    let tia = SyntheticPeer::join(tcp).await.expect("joins");
    let udo = SyntheticPeer::join(support::peer(&server, "no-ice-tcp", "Udo")).await.expect("joins");
    let udo_id = udo.id();
    assert!(
        !tia.wait_for(Duration::from_secs(5), |r| r.packets_from(&udo_id, Source::Camera) > 0).await,
        "no media without ICE-TCP"
    );
    assert_eq!(Stats::get(&stats.tcp_connections_total), 0);
    assert!(Stats::get(&stats.https_port_garbage) >= 1, "the frames were refused at the HTTPS port");
    udo.leave().await;
    assert!(server.stop().await);
}
