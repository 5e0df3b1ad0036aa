//! Bad input leaves other participants' calls untouched: a page of the same
//! origin sends malformed, duplicate-key, oversized and binary signalling on
//! raw WebSockets and joins the same room with garbage SDP, and random UDP
//! datagrams hit the media port — meanwhile two participants keep receiving
//! each other's video and audio without reconnecting.

use crate::support::{self, browser};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_signalling_and_udp_junk_leave_other_calls_untouched() {
    let _t = support::test();
    // The two steady participants' media must cross the media port that the
    // junk hits: no direct call for them.
    let mut config = support::test_config();
    config.p2p.enabled = false;
    let server = support::start(config).await;
    let port = server.media_addr().port().to_string();
    let v = browser::run(&server, "bad_input", &[&port]).await;
    browser::assert_clean("bad_input", &v);

    assert_eq!(v["states"], serde_json::json!(["joined", "joined"]), "both still joined");
    assert_eq!(
        v["generations"],
        v["generationsAfter"],
        "nobody had to reconnect; the server's account:\n{}",
        support::connection_endings()
    );
    for i in 0..2 {
        let (b, a) = (&v["before"][i], &v["after"][i]);
        let n = |x: &serde_json::Value, k: &str| x[k].as_u64().unwrap_or(0);
        assert!(n(a, "frames") > n(b, "frames") + 20, "video keeps flowing: {b} -> {a}");
        assert!(n(a, "audio") > n(b, "audio") + 50, "audio keeps flowing: {b} -> {a}");
    }

    let ws = &v["wsResults"];
    let replies = |k: &str| ws[k]["replies"].to_string();
    assert!(replies("malformed").contains("error:bad_message"), "malformed JSON answered: {}", ws["malformed"]);
    assert!(replies("malformed").contains("error:not_joined"), "message before hello answered: {}", ws["malformed"]);
    assert!(ws["malformed"]["close"].is_null(), "malformed messages do not close the connection: {}", ws["malformed"]);
    assert!(replies("duplicate").contains("error:bad_message"), "duplicate keys refused: {}", ws["duplicate"]);
    assert_eq!(ws["oversized"]["close"], 1009, "oversized message closes with 1009: {}", ws["oversized"]);
    assert_eq!(ws["binary"]["close"], 1003, "binary frame closes with 1003: {}", ws["binary"]);
    assert!(replies("version").contains("error:unsupported_version"), "{}", ws["version"]);
    assert!(replies("badRoom").contains("error:bad_room_name"), "{}", ws["badRoom"]);
    let garbage = replies("joinedGarbage");
    assert!(garbage.contains("welcome"), "the garbage sender could join: {garbage}");
    assert!(garbage.contains("error:bad_sdp"), "garbage SDP refused: {garbage}");
    assert!(garbage.contains("error:chat_rejected"), "oversized chat refused: {garbage}");
    assert!(server.stop().await);
}
