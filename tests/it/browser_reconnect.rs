//! Clear messages and automatic recovery: a server that cannot be reached
//! is shown as such with a retry countdown and a "Try now" button; a lost
//! connection is shown, the client reconnects with backoff, joins the room
//! again, and media flows again both ways.

use crate::support::{self, browser};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_says_what_happened_and_rejoins_after_losing_the_connection() {
    let _t = support::test();
    let server = support::start(support::test_config()).await;
    let v = browser::run(&server, "reconnect", &[]).await;
    // The offline phase makes the browser log failed connection attempts.
    assert_eq!(v["ok"], true, "{}", v["error"]);
    assert_eq!(v["foreign"], serde_json::json!([]));

    let u = &v["unreachable"];
    assert!(u["status"].as_str().is_some_and(|s| s.contains("cannot be reached")), "unreachable explained: {u}");
    assert!(u["banner"].as_str().is_some_and(|s| s.contains("Next try in")), "countdown shown: {u}");
    assert_eq!(u["retryVisible"], true, "a Try now button is offered");
    assert_eq!(u["bannerAfter"], "", "the banner goes away once joined");

    let l = &v["lost"];
    assert!(l["banner"].as_str().is_some_and(|s| s.contains("connection was lost")), "loss explained: {l}");
    assert_eq!(l["generationGrew"], true);
    assert_eq!(l["bannerAfter"], "");
    assert!(l["announced"].to_string().contains("Connected again"), "reconnection announced: {l}");
    println!("reconnect: rejoined after {} ms, media both ways again after {} ms", l["rejoinMs"], l["mediaAgainMs"]);
    assert!(server.stop().await);
}
