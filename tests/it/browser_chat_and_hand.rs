//! A chat message from one participant appears at the two others (as text,
//! never as markup), and a raised hand is shown to all: on the tile, in the
//! participant list, and announced to screen readers.

use serde_json::Value;

use crate::support::{self, browser};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_message_reaches_both_others_and_a_raised_hand_is_shown_to_all() {
    let _t = support::test();
    let server = support::start(support::test_config()).await;
    let v = browser::run(&server, "chat_hand", &[]).await;
    browser::assert_clean("chat_hand", &v);
    let text = v["text"].as_str().expect("text");
    for name in ["Ilse", "Jonas"] {
        let ui = &v["ui"][name];
        let chat = ui["chat"].as_array().expect("chat");
        assert!(
            chat.iter().any(|m| m["text"] == text && m["from"] == "Hanna"),
            "{name} sees Hanna's message: {chat:?}"
        );
        let hand_tiles: Vec<&Value> =
            ui["tiles"].as_array().expect("tiles").iter().filter(|t| t["hand"] == true).collect();
        assert_eq!(hand_tiles.len(), 1, "{name} sees one raised hand: {hand_tiles:?}");
        assert!(hand_tiles[0]["label"].as_str().is_some_and(|l| l.contains("Hanna")), "on Hanna's tile");
        // Hanna came first: she moderates ("Hanna · Moderator").
        let hanna = ui["people"]
            .as_array()
            .and_then(|p| p.iter().find(|x| x["name"].as_str().is_some_and(|n| n.split(" · ").next() == Some("Hanna"))))
            .expect("Hanna listed");
        assert!(hanna["states"].as_str().is_some_and(|s| s.contains("Hand raised")), "list shows the hand: {hanna}");
        assert!(ui["announced"].to_string().contains("Hanna raised their hand"), "announced at {name}");
    }
    assert_eq!(v["injected"], 0, "markup in chat is shown as text");
    let own = &v["ui"]["Hanna"];
    assert!(own["chat"].as_array().is_some_and(|c| c.iter().any(|m| m["text"] == text && m["from"] == "You")));
    assert!(own["tiles"].as_array().is_some_and(|t| t.iter().any(|x| x["hand"] == true)), "own hand shown");
    assert!(server.stop().await);
}
