//! When everyone has left, the server holds zero rooms, and joining the same
//! name again starts a fresh room with no old chat and no old participants.

use serde_json::json;

use crate::support::{self, browser};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejoining_an_emptied_room_shows_no_old_chat() {
    let _t = support::test();
    let server = support::start(support::test_config()).await;
    let room = browser::unique_room("again");
    let first = browser::run(&server, "rejoin", &[&room, "meet"]).await;
    browser::assert_clean("rejoin meet", &first);
    assert!(
        first["before"]["chat"].to_string().contains("the old secret message"),
        "the message reached the other participant first: {}",
        first["before"]
    );
    assert_eq!(first["left"], "closed");
    let stats = server.stats();
    let mut rooms = u64::MAX;
    for _ in 0..50 {
        rooms = stats.rooms_open.load(std::sync::atomic::Ordering::Relaxed);
        if rooms == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(rooms, 0, "the server holds no room after everyone left");
    let again = browser::run(&server, "rejoin", &[&room, "again"]).await;
    browser::assert_clean("rejoin again", &again);
    assert_eq!(again["after"]["chat"], json!([]), "no old chat in the fresh room");
    assert_eq!(again["after"]["names"], json!([]), "no old participants in the fresh room");
    assert!(server.stop().await);
}
