//! Layers nobody receives (docs/protocol.md, `send_layers`), in real headless
//! Chromium: three people in the tile grid (tiles of about 600×340, the
//! middle layer) stop encoding and sending their camera's top layer `h`
//! within seconds — the encoding is inactive and its outbound-rtp stands
//! still while `l` keeps growing — and still see and hear each other; once
//! one of them pins Anna, Anna's `h` is on again within seconds, sends, and
//! the viewer receives her larger than in the grid.

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

    // Ben pins Anna: her `h` is on again and reaches Ben.
    let on = v["hOnMs"].as_u64().expect("h on again");
    assert!(on <= 8_000, "Anna's h went on again only {on} ms after Ben pinned her");
    let g = &v["pinnedGrowth"];
    assert!(sent(g, "Anna", "h", "packets") > 10, "Anna's h does not flow after the pin (2 s): {g}");
    let large = v["largeMs"].as_u64().unwrap_or_else(|| {
        panic!(
            "Ben never received Anna larger than in the grid ({}) within 30 s: {}; Anna sends {}",
            v["gridAnna"], v["samples"], v["annaAfter"]
        )
    });
    assert!(large <= 15_000, "Ben received Anna at full size only {large} ms after pinning her: {}", v["samples"]);
    for who in ["Ben", "Clara"] {
        assert_eq!(v["othersAfter"][who]["h"], false, "{who} is not shown large: h stays off: {}", v["othersAfter"]);
    }
    println!(
        "send_layers: h off after {} ms (after everyone saw everyone); grid: Ben gets Anna at {}x{}; \
         pinned: h on after {on} ms, Ben gets Anna at {}x{} after {large} ms; grid growth over 3 s {}",
        v["hOff"],
        v["gridAnna"]["width"],
        v["gridAnna"]["height"],
        v["large"]["width"],
        v["large"]["height"],
        v["gridGrowth"]
    );
    assert!(server.stop().await);
}
