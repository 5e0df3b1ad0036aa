//! Layers nobody receives (docs/protocol.md, `send_layers`), in real headless
//! Chromium: three people in the tile grid (tiles of about 600×340, the
//! middle layer) stop encoding and sending their camera's top layer `h`
//! within seconds — the encoding is inactive and its outbound-rtp stands
//! still while `l` keeps growing — and still see and hear each other; once
//! one of them pins Anna, Anna's `h` is on again within seconds, sends, and
//! the viewer receives her larger than in the grid. Again with the third
//! person in Firefox ESR, whose simulcast encodings are switched the same way.

use serde_json::Value;

use crate::support::{self, browser};

fn sent(v: &Value, who: &str, rid: &str, field: &str) -> i64 {
    v[who][rid][field].as_i64().unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_the_grid_nobody_sends_the_top_layer_and_a_pinned_camera_sends_it_again() {
    let _t = support::test();
    let server = support::start(support::test_config()).await;
    let v = browser::run(&server, "send_layers", &[]).await;
    browser::assert_clean("send_layers", &v);
    check(&v);
    assert!(server.stop().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firefox_publisher_stops_and_resumes_its_top_layer_too() {
    let _t = support::test();
    let server = support::start(support::test_config()).await;
    let v = browser::run(&server, "send_layers", &["firefox"]).await;
    browser::assert_clean("send_layers firefox", &v);
    assert_eq!(v["engines"], serde_json::json!(["chromium", "chromium", "firefox"]));
    check(&v);
    assert!(server.stop().await);
}

fn check(v: &Value) {
    // The grid: `h` off for everyone within 10 s after everyone saw everyone.
    for who in ["Anna", "Ben", "Clara"] {
        let ms = v["hOff"][who].as_u64().expect("h switched off");
        assert!(ms <= 10_000, "{who}'s camera layer h went off only {ms} ms after everyone saw everyone");
        let layers = &v["gridLayers"][who];
        assert_eq!(layers["active"]["h"], false, "{who}'s h encoding in the grid: {layers}");
        assert_eq!(layers["active"]["l"], true, "{who}'s l encoding in the grid: {layers}");
        assert_eq!(layers["caps"]["camera"], 2, "{who}'s camera cap in the grid: {layers}");
        let g = &v["gridGrowth"];
        assert_eq!(sent(g, who, "h", "bytes"), 0, "{who} still sends h in the grid (3 s): {g}");
        assert_eq!(sent(g, who, "h", "packets"), 0, "{who} still sends h in the grid (3 s): {g}");
        assert!(sent(g, who, "l", "packets") > 20, "{who}'s l layer does not flow in the grid (3 s): {g}");
    }

    // Ben pins Anna (Clara, in Firefox, in the Firefox run): her `h` is on again and reaches Ben.
    let star = v["star"].as_str().expect("who was pinned");
    let on = v["hOnMs"].as_u64().expect("h on again");
    assert!(on <= 8_000, "{star}'s h went on again only {on} ms after Ben pinned her");
    let g = &v["pinnedGrowth"];
    // Whether the encoder then sends `h` is the browser's call: Firefox's
    // own adaptation (its CPU and bandwidth checks) may hold its top layer
    // back for a while on a loaded machine, active or not — in a full suite
    // run it sent no `h` in the grid with the encoding *on*, and none for
    // 8 s after the pin. Chromium sends it within 8 s; for Firefox the
    // viewer's picture is what is checked.
    let firefox_star = v["engines"][2] == "firefox" && star == "Clara";
    if !firefox_star {
        assert!(sent(g, star, "h", "packets") > 10, "{star}'s h does not flow within 8 s of switching on: {g}");
    }
    let large = v["largeMs"].as_u64().unwrap_or_else(|| {
        panic!(
            "Ben never received {star} larger than in the grid ({}) within 30 s: {}; she sends {}",
            v["gridStar"], v["samples"], v["starAfter"]
        )
    });
    let limit = if firefox_star { 25_000 } else { 15_000 };
    assert!(large <= limit, "Ben received {star} at full size only {large} ms after pinning her: {}", v["samples"]);
    for who in ["Anna", "Ben", "Clara"].into_iter().filter(|w| *w != star) {
        assert_eq!(v["othersAfter"][who]["h"], false, "{who} is not shown large: h stays off: {}", v["othersAfter"]);
    }
    println!(
        "send_layers: h off after {} ms (after everyone saw everyone); grid: Ben gets {star} at {}x{}; \
         pinned: h on after {on} ms and flowing {} ms later, Ben gets {star} at {}x{} after {large} ms; grid growth \
         over 3 s {}",
        v["hOff"],
        v["gridStar"]["width"],
        v["gridStar"]["height"],
        v["hFlowMs"],
        v["large"]["width"],
        v["large"]["height"],
        v["gridGrowth"]
    );
}
