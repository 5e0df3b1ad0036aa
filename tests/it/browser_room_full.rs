//! A full room (`rooms.max_participants`) is explained in words, in the
//! user's language, with a way on; whoever is inside stays in the call.

use serde_json::json;

use crate::support::{self, browser};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_room_is_explained_in_english_and_german() {
    let _t = support::test();
    let mut config = support::test_config();
    config.rooms.max_participants = 1;
    let server = support::start(config).await;
    for (lang, title, words) in [
        ("en-US,en", "Could not join", "This meeting is full"),
        ("de-DE,de", "Beitritt nicht möglich", "Diese Besprechung ist voll"),
    ] {
        let v = browser::run(&server, "room_full", &[lang]).await;
        assert_eq!(v["ok"], true, "{}", v["error"]);
        assert_eq!(v["foreign"], json!([]));
        let page = &v["page"];
        assert_eq!(page["h1"], title, "{lang}: {page}");
        assert!(page["text"].as_str().is_some_and(|t| t.contains(words)), "{lang}: {page}");
        assert_eq!(page["focused"], "H1", "focus moves to the message");
        assert_eq!(page["buttons"].as_array().map(Vec::len), Some(2), "try again and start page offered: {page}");
        assert_eq!(page["state"], "closed", "no endless retrying into a full room");
        assert_eq!(v["axe"], json!([]));
        assert_eq!(v["insideState"], "joined", "the one inside is unaffected");
        assert_eq!(v["inside"]["names"], json!([]), "the refused one never appeared inside");
    }
    assert!(server.stop().await);
}
