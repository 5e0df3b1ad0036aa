//! One of three shares the screen: both others decode the screen track while
//! the sharer's camera video keeps flowing; stopping the share removes it.

use crate::support::{self, browser};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_others_decode_a_shared_screen_while_the_camera_keeps_flowing() {
    let _t = support::test();
    let server = support::start(support::test_config()).await;
    let v = browser::run(&server, "screenshare", &[]).await;
    browser::assert_clean("screenshare", &v);
    for viewer in ["Viewer One", "Viewer Two"] {
        assert!(v["screenDecoded"][viewer].as_u64().unwrap_or(0) > 0, "{viewer} decodes the screen: {v}");
        let flow = &v["cameraFlow"][viewer];
        let grew = |a: &str, b: &str| flow[b].as_u64().unwrap_or(0) > flow[a].as_u64().unwrap_or(0) + 5;
        assert!(grew("cameraBefore", "cameraAfter"), "{viewer}: camera frames keep coming while sharing: {flow}");
        assert!(grew("screenBefore", "screenAfter"), "{viewer}: screen frames keep coming: {flow}");
    }
    let tiles = v["ui"]["tiles"].as_array().expect("tiles");
    assert!(tiles.iter().any(|t| t["source"] == "screen" && t["playing"] == true), "screen tile plays: {tiles:?}");
    let after = v["afterStop"]["tiles"].as_array().expect("tiles");
    assert!(!after.iter().any(|t| t["source"] == "screen"), "screen tile gone after stopping: {after:?}");
    println!("screen share decoded by both others after {} ms", v["screenMs"]);
    assert!(server.stop().await);
}
