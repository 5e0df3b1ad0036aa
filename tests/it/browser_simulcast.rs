//! Simulcast: the browser publishes three layers; a subscriber that renders
//! the publisher in small tiles receives a lower layer (getStats frame size)
//! than one that shows the publisher full-size.

use crate::support::{self, browser};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_tile_gets_a_lower_simulcast_layer_than_a_full_size_speaker() {
    let _t = support::test();
    let server = support::start(support::test_config()).await;
    let v = browser::run(&server, "simulcast", &[]).await;
    browser::assert_clean("simulcast", &v);
    let (large, small) = (&v["large"], &v["small"]);
    let w = |x: &serde_json::Value| x["width"].as_u64().unwrap_or(0);
    println!(
        "simulcast: full-size subscriber gets {}x{}, small-tile subscriber {}x{} (held 2 s after {} ms)",
        large["width"], large["height"], small["width"], small["height"], v["heldMs"]
    );
    assert!(w(small) > 0, "small-tile subscriber decodes video: {v}");
    assert!(
        v["heldMs"].is_u64(),
        "the small-tile subscriber never got a lower layer than the full-size one for 2 s in a row within 30 s: \
         samples {}; the publisher sends {}",
        v["samples"],
        v["published"]
    );
    // What the pages told the server about Paula's camera (device pixels).
    let reported = |who: &str| v["reported"][who]["width"].as_u64().unwrap_or(0);
    assert!(reported("Large") > 1000, "full-size view reported: {}", v["reported"]);
    assert!((1..=200).contains(&reported("Small")), "small tile reported: {}", v["reported"]);
    assert!(server.stop().await);
}
