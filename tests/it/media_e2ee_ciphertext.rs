//! A participant that is not a browser (the synthetic str0m peer) in an
//! end-to-end encrypted meeting: every video frame it receives from the
//! browsers is ciphertext after the clear header bytes and carries the
//! frame trailer (one frame in clear among them fails the check), while in
//! a meeting without end-to-end encryption the same check sees real VP8 in
//! every frame.

use std::time::Duration;

use kabine::config::E2eeMode;
use kabine::loadgen::payload::examine;
use kabine::loadgen::{PeerConfig, SyntheticPeer};
use kabine::protocol::Source;

use crate::support::{self, browser};

/// Frames of both browsers' cameras, as the synthetic peer received them.
async fn frames_in(mode: E2eeMode, room: &str) -> Vec<Vec<u8>> {
    let mut config = support::test_config();
    config.e2ee.mode = mode;
    // Three in a room are never direct anyway; this keeps the two browsers
    // from going direct before the observer is in.
    config.p2p.enabled = false;
    let server = support::start(config).await;
    let base = support::base_url(&server);
    let hash = "#k=AAECAwQFBgcICQoLDA0ODw".to_string();
    let scenario_room = room.to_string();
    let pages =
        tokio::spawn(async move { browser::run_in_turn(&base, "publish", &[&scenario_room, "12", &hash]).await });
    let peer = SyntheticPeer::join(PeerConfig {
        audio: false,
        video: false,
        keep_frames: 200,
        ..support::peer(&server, room, "Observer")
    })
    .await
    .expect("the synthetic peer joins");
    let enough = |r: &kabine::loadgen::PeerReport| {
        let others: Vec<&String> = r.participants.keys().filter(|id| Some(*id) != r.id.as_ref()).collect();
        others.len() >= 2
            && others.iter().all(|id| r.frames.get(&((*id).clone(), Source::Camera)).is_some_and(|f| f.len() >= 100))
    };
    let ok = peer.wait_for(Duration::from_secs(40), enough).await;
    let report = peer.report();
    assert!(
        ok,
        "the synthetic peer did not get 100 frames of each browser: {:?}",
        report.frames.iter().map(|(k, v)| (k, v.len())).collect::<Vec<_>>()
    );
    let v = pages.await.expect("the scenario task ends");
    browser::assert_clean("publish", &v);
    peer.leave().await;
    assert!(server.stop().await);
    report.frames.into_iter().filter(|((_, s), _)| *s == Source::Camera).flat_map(|(_, f)| f).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_browser_participant_receives_only_ciphertext_in_an_end_to_end_encrypted_meeting() {
    let _t = support::test();
    let _heavy = support::heavy().await;
    let cipher = examine(&frames_in(E2eeMode::Required, "cipher-e2ee").await);
    let clear = examine(&frames_in(E2eeMode::Off, "cipher-clear").await);
    println!("end-to-end encrypted: {cipher:?}\nnot end-to-end encrypted: {clear:?}");
    assert!(cipher.key_frames > 0 && clear.key_frames > 0, "key frames were seen: {cipher:?} {clear:?}");
    // Every frame carries the trailer, naming one of the two browsers' sender key ids.
    assert_eq!(cipher.sealed_frames, cipher.frames, "a frame without the trailer: {cipher:?}");
    assert!(cipher.key_ids >= 2, "both browsers' sender key ids: {cipher:?}");
    assert!(cipher.is_ciphertext(), "what the server forwards in an end-to-end encrypted meeting: {cipher:?}");
    assert!(!cipher.is_vp8());
    assert!(clear.is_vp8(), "the same check sees VP8 without end-to-end encryption: {clear:?}");
    assert!(!clear.is_ciphertext());
    assert_eq!(clear.sealed_frames, 0, "{clear:?}");
}
