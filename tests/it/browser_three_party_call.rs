//! Three people in one room, in real headless browsers with fake camera and
//! microphone, through Kabine's own SFU: within 10 s each decodes the video
//! (inbound-rtp framesDecoded > 0) and receives the audio of both others —
//! all in Chromium, and with the third person in Firefox ESR. Screenshots:
//! target/test-output/call3*/.

use serde_json::Value;

use crate::support::{self, browser};

fn assert_everyone_sees_everyone(v: &Value) {
    for view in ["tiles", "speaker", "chat"] {
        assert_eq!(v["axe"][view], Value::Array(vec![]), "call with three, {view}: axe-core violations");
    }
    let ms = v["ms"].as_u64().expect("time to media");
    assert!(ms <= 10_000, "media took {ms} ms");
    let names = ["Anna Berg", "Ben Okafor", "Cleo Santos"];
    for name in names {
        let ui = &v["ui"][name];
        let others: Vec<&str> = names.iter().copied().filter(|n| *n != name).collect();
        assert_eq!(ui["names"], serde_json::json!(others), "{name}'s participant list");
        let tiles = ui["tiles"].as_array().expect("tiles");
        assert_eq!(tiles.len(), 3, "{name} shows three tiles: {tiles:?}");
        assert!(tiles.iter().all(|t| t["playing"] == true), "{name}: every tile plays video: {tiles:?}");
        assert_eq!(ui["audios"], 2, "{name} plays the audio of both others");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_chromium_participants_see_and_hear_each_other_within_10_s() {
    let _t = support::test();
    let server = support::start(support::test_config()).await;
    let v = browser::run(&server, "call3", &[]).await;
    browser::assert_clean("call3", &v);
    assert_everyone_sees_everyone(&v);
    println!("three-party call: everyone decodes everyone after {} ms", v["ms"]);
    assert!(server.stop().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firefox_participant_sees_and_hears_two_chromium_participants_and_vice_versa() {
    let _t = support::test();
    let server = support::start(support::test_config()).await;
    let v = browser::run(&server, "call3", &["firefox"]).await;
    browser::assert_clean("call3 firefox", &v);
    assert_eq!(v["engines"], serde_json::json!(["chromium", "chromium", "firefox"]));
    assert_everyone_sees_everyone(&v);
    println!("three-party call with Firefox: everyone decodes everyone after {} ms", v["ms"]);
    assert!(server.stop().await);
}
