//! Two rooms at the same time on one server: media, chat, raised hands and
//! participant lists never cross between them.

use serde_json::json;

use crate::support::{self, browser};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_crosses_between_two_rooms_running_at_once() {
    let _t = support::test();
    let server = support::start(support::test_config()).await;
    let v = browser::run(&server, "rooms", &[]).await;
    browser::assert_clean("rooms", &v);
    let seen = &v["seen"];
    for (me, mate, message) in [
        ("Alpha One", "Alpha Two", "only for alpha"),
        ("Alpha Two", "Alpha One", "only for alpha"),
        ("Beta One", "Beta Two", "only for beta"),
        ("Beta Two", "Beta One", "only for beta"),
    ] {
        assert_eq!(seen[me]["names"], json!([mate]), "{me}'s participant list");
        assert_eq!(seen[me]["mediaFrom"], json!([mate]), "{me} receives media only from {mate}");
        assert_eq!(seen[me]["chat"], json!([message]), "{me}'s chat");
    }
    assert_eq!(seen["Alpha One"]["hands"].as_array().map(Vec::len), Some(1), "hand shown in its room");
    assert_eq!(seen["Beta One"]["hands"], json!([]), "hand not shown in the other room");
    assert_eq!(seen["Beta Two"]["hands"], json!([]), "hand not shown in the other room");
    assert!(server.stop().await);
}
