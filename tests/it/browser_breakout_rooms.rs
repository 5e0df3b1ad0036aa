//! Breakout rooms in real browsers (issue 6): four participants split into
//! two rooms through the moderator's breakout dialog; in each room the two
//! decode each other and receive nothing from the other pair, chat stays
//! inside a room, everyone sees which room they are in, and a message to
//! all rooms reaches all four. After "Close all rooms" all four are back in
//! the main room and decode each other again.

use serde_json::json;

use crate::support::{self, browser};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_participants_split_into_two_breakout_rooms_and_come_back() {
    let _t = support::test();
    let server = support::start(support::test_config()).await;
    let v = browser::run(&server, "breakout", &[]).await;
    browser::assert_clean("breakout", &v);
    assert_eq!(v["warnings"], json!([]), "no renegotiation failed");

    let pairs = [
        ("Anna Leitung", "Ben", "Room 1"),
        ("Ben", "Anna Leitung", "Room 1"),
        ("Clara", "David", "Room 2"),
        ("David", "Clara", "Room 2"),
    ];
    for (me, mate, room) in pairs {
        assert_eq!(v["where"][me]["badge"], format!("Breakout room: {room}"), "{me} sees where they are");
        assert_eq!(v["where"][me]["names"], json!([mate]), "{me}'s participant list is the room's");
        assert_eq!(v["mediaIn"][me], json!([mate]), "{me} receives media from {mate} and nobody else");
    }
    let everyone = ["Anna Leitung", "Ben", "Clara", "David"];
    for me in everyone {
        let chat = v["chats"][me].as_array().expect("chat");
        let in_room_one = me == "Anna Leitung" || me == "Ben";
        assert_eq!(chat.contains(&json!("nur für Raum 1")), in_room_one, "{me}: chat stays inside its room: {chat:?}");
        assert!(chat.contains(&json!("Noch fünf Minuten")), "{me} got the message to all rooms");
        let others: Vec<&str> = everyone.iter().copied().filter(|n| *n != me).collect();
        assert_eq!(v["after"][me]["names"], json!(others), "{me} is back in the main room with everyone");
        assert_eq!(v["after"][me]["badgeHidden"], true);
    }
    assert_eq!(
        v["privateChat"],
        json!({
            "Anna Leitung": [],
            "Ben": ["(privately to Clara) nur für Clara"],
            "Clara": ["(privately to you) nur für Clara"],
            "David": []
        }),
        "a private message reaches its recipient only"
    );
    for page in ["dialog", "inBreakout"] {
        assert_eq!(v["axe"][page], json!([]), "axe-core violations: {page}");
    }
    println!(
        "breakout rooms: pairs decode each other {} ms after the last move, everyone again {} ms after closing",
        v["pairMs"], v["backMs"]
    );
    assert!(server.stop().await);
}
