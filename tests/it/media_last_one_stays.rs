//! The last participant in a room keeps its media session when everyone
//! else leaves. The server's subscribe offer never stops its first m-line
//! (the BUNDLE tag, which owns the transport): browsers given an offer
//! that stops it close the transport, which ended the participant's media
//! (Chromium sends a DTLS close at once; str0m, which this synthetic peer
//! uses, does not, so the offer itself is checked here and the browser
//! behaviour in browser_lobby_password's handover).

use std::time::Duration;

use kabine::loadgen::SyntheticPeer;
use kabine::protocol::Source;

use crate::support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_participant_keeps_its_media_session_when_the_others_leave() {
    let _t = support::test();
    let _heavy = support::heavy().await;
    let server = support::start(support::test_config()).await;
    let ada = SyntheticPeer::join(support::peer(&server, "solo", "Ada")).await.expect("joins");
    let bob = SyntheticPeer::join(support::peer(&server, "solo", "Bob")).await.expect("joins");
    let bob_id = bob.id();
    assert!(ada.wait_for(Duration::from_secs(20), |r| r.packets_from(&bob_id, Source::Camera) > 30).await);
    bob.leave().await;
    assert!(ada.wait_for(Duration::from_secs(5), |r| r.participants.is_empty()).await);
    assert!(ada.wait_for(Duration::from_secs(5), |r| r.subscribed.is_empty()).await, "Bob's tracks ended");
    let sdp = ada.report().subscribe_sdp;
    let first = sdp.lines().find(|l| l.starts_with("m=")).expect("an m-line");
    assert!(
        !first.starts_with("m=audio 0 ") && !first.starts_with("m=video 0 "),
        "the first m-line was stopped: {sdp}"
    );
    let tag = sdp.lines().find_map(|l| l.strip_prefix("a=group:BUNDLE ")).expect("a BUNDLE group");
    assert!(!tag.trim().is_empty());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let r = ada.report();
    assert_eq!(r.bye, None, "Ada's session ended: {:?}", r.errors);
    assert!(!r.closed);
    // And someone new still gets through to Ada.
    let cy = SyntheticPeer::join(support::peer(&server, "solo", "Cy")).await.expect("joins");
    let cy_id = cy.id();
    assert!(ada.wait_for(Duration::from_secs(20), |r| r.packets_from(&cy_id, Source::Camera) > 30).await);
    ada.leave().await;
    cy.leave().await;
    assert!(server.stop().await);
}
