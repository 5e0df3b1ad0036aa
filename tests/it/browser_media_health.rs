//! A participant whose media does not reach the others is not left silent
//! (src/client/health.js): in real headless Chromium, a camera that stops
//! sending behind the client's back is noticed and repaired within
//! seconds; a camera that delivers no picture at all is tried again (its
//! track attached anew, then new connections) and then the person is told
//! that the others cannot see them, while the others still hear them; a
//! browser whose media cannot reach the server at all (its page given
//! server candidates that nothing answers on, as behind a firewall that
//! drops UDP) is told its network may block video calls.

use serde_json::Value;

use crate::support::{self, browser};

fn timeline(v: &Value) -> Vec<String> {
    v["timeline"].as_array().into_iter().flatten().filter_map(|s| s.as_str().map(String::from)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_that_stops_sending_is_noticed_and_seen_again_within_seconds() {
    let _t = support::test();
    let server = support::start(support::test_config()).await;
    let v = browser::run(&server, "media_health", &["camera_stops"]).await;
    browser::assert_clean("media_health camera_stops", &v);
    let ms = v["recoveredMs"].as_u64().expect("recovered");
    assert!(ms <= 12_000, "everyone saw Anna again only {ms} ms after her camera stopped sending");
    assert!(timeline(&v).iter().any(|s| s == "reattach camera"), "repaired by reattaching: {:?}", timeline(&v));
    assert_eq!(v["anna"]["generation"], 1, "repaired without reconnecting: {}", v["anna"]);
    assert_eq!(v["notice"], Value::Null, "nothing to tell once repaired");
    // Three in the grid: nobody receives `h` (send_layers); the repair keeps it off.
    let on: Vec<(String, bool)> = v["encodings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| (e["rid"].as_str().unwrap_or("-").to_string(), e["active"] == true))
        .collect();
    let want = [("l", true), ("m", true), ("h", false)].map(|(r, a)| (r.to_string(), a));
    assert_eq!(on, want, "repaired up to the layer cap: {}", v["encodings"]);
    println!("camera stopped sending: everyone sees Anna again after {ms} ms");
    assert!(server.stop().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_without_a_picture_is_tried_again_and_then_the_person_is_told() {
    let _t = support::test();
    let server = support::start(support::test_config()).await;
    let v = browser::run(&server, "media_health", &["camera_dead"]).await;
    browser::assert_clean("media_health camera_dead", &v);
    let ms = v["toldMs"].as_u64().expect("told");
    assert!(ms <= 30_000, "told only after {ms} ms");
    let told = v["told"].as_str().unwrap_or_default();
    assert!(told.contains("Others cannot see you"), "the notice says what is wrong: {told}");
    let steps = timeline(&v);
    assert!(steps.iter().any(|s| s == "reattach camera"), "reattached first: {steps:?}");
    assert!(steps.iter().any(|s| s == "reconnect: media does not arrive"), "then reconnected: {steps:?}");
    println!("camera without a picture: told after {ms} ms; others still hear her ({} ms)", v["heard"]);
    assert!(server.stop().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn someone_whose_media_cannot_reach_the_server_is_told_the_network_may_block_calls() {
    let _t = support::test();
    let server = support::start(support::test_config()).await;
    let v = browser::run(&server, "media_health", &["blocked"]).await;
    browser::assert_clean("media_health blocked", &v);
    let ms = v["toldMs"].as_u64().expect("told");
    assert!(ms <= 20_000, "told only after {ms} ms");
    let told = v["told"].as_str().unwrap_or_default();
    assert!(told.contains("network you are on may block video calls"), "the notice names the network: {told}");
    println!("media blocked: told after {ms} ms");
    assert!(server.stop().await);
}
