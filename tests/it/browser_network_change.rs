//! A call survives the machine's network changing. Chromium closes every
//! HTTP/2 connection it has when a network interface or address comes or
//! goes (ERR_NETWORK_CHANGED: a VPN, a container, a second network on a
//! laptop). A WebSocket carried over HTTP/2 (RFC 8441) died with them and
//! every page in the call reconnected, rebuilding its media; the
//! signalling WebSocket therefore runs over its own HTTP/1.1 connection,
//! which Chromium leaves alone. Here a veth pair with an address appears
//! and goes away in the middle of a call: nobody reconnects and media
//! keeps flowing.

use crate::support::{self, browser};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_interface_coming_and_going_does_not_make_anyone_reconnect() {
    let _t = support::test();
    support::require_tool("ip", "iproute2");
    let server = support::start(support::test_config()).await;
    let v = browser::run(&server, "network_change", &[]).await;
    browser::assert_clean("network_change", &v);
    assert_eq!(v["before"], serde_json::json!([1, 1]), "connected once each before the change: {v}");
    assert_eq!(
        v["after"],
        serde_json::json!([1, 1]),
        "a page reconnected when the network changed; signalling: {}; WebSocket protocols: {}",
        support::connection_endings(),
        v["wsOverH2"]
    );
    println!("network change: no reconnect; media flowing {} ms after", v["flowingMs"]);
    assert!(server.stop().await);
}
