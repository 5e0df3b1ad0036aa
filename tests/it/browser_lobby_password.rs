//! Moderation in real browsers (issue 6): lobby admit and deny, the room
//! password, mute everyone, remove, and the moderator handover — with every
//! WebSocket frame of every page recorded to prove that no message the
//! server sent to any client contains the room password.
//!
//! - The moderator turns the lobby on; a guest knocks (the moderator is told
//!   and sees the name), is admitted, and both decode each other's video.
//! - A second guest knocks and is denied: told so, and it never created a
//!   single RTCPeerConnection.
//! - The moderator sets a password in the dialog; a third guest is refused
//!   with a wrong one and admitted with the right one.
//! - "Mute everyone" mutes both guests at their end; "Remove" (from the
//!   participant's menu, by keyboard) ends the third guest's participation.
//! - The moderator asks the first guest to unmute; the guest agrees.
//! - The moderator leaves; the first guest becomes moderator and can act,
//!   and ends the meeting after a confirmation.

use serde_json::{Value, json};

use crate::support::{self, browser};

const PASSWORD: &str = "Kabine-Geheimnis-42";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lobby_password_mute_all_remove_and_handover_in_browsers() {
    let _t = support::test();
    let server = support::start(support::test_config()).await;
    let room = browser::unique_room("lobby");
    let v = browser::run(&server, "lobby_password", &[&room, PASSWORD]).await;
    browser::assert_clean("lobby_password", &v);

    // The wire: no frame the server sent contains the password; the
    // recording is complete enough to see it in what the clients sent.
    let out = support::repo_root().join("target/test-output").join(format!("lobby_password-{room}-{PASSWORD}"));
    let frames: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(out.join("frames.json")).expect("the scenario saved its frames"))
            .expect("frames are JSON");
    assert_eq!(v["frames"].as_u64(), Some(frames.len() as u64));
    let received: Vec<&str> =
        frames.iter().filter(|f| f["dir"] == "received").filter_map(|f| f["data"].as_str()).collect();
    let sent: Vec<&str> = frames.iter().filter(|f| f["dir"] == "sent").filter_map(|f| f["data"].as_str()).collect();
    assert!(received.len() > 50, "frames were recorded: {}", received.len());
    let leaks: Vec<&&str> = received.iter().filter(|f| f.contains(PASSWORD)).collect();
    assert!(leaks.is_empty(), "the password reached a client: {leaks:?}");
    assert!(
        received.iter().any(|f| f.contains(r#""type":"room_state","locked":true"#)),
        "clients were told the room is locked"
    );
    let carrying: Vec<&&str> = sent.iter().filter(|f| f.contains(PASSWORD)).collect();
    assert_eq!(carrying.len(), 2, "set_password and the right guess (the wrong one differs): {carrying:?}");

    assert_eq!(v["modIsModerator"], true);
    assert_eq!(v["lobbyPage"], "Waiting to be let in");
    assert_eq!(v["knock"]["list"], json!(["Gina Gast"]));
    assert_eq!(v["knock"]["announced"], json!(["Gina Gast is waiting in the lobby."]));
    assert!(v["admittedMs"].as_u64().is_some_and(|ms| ms <= 15_000));
    assert_eq!(
        v["denied"],
        json!({
            "heading": "You were not let in",
            "text": "A moderator of this meeting did not let you in.",
            "peerConnections": 0,
            "rejoinOffered": false
        })
    );
    assert_eq!(v["lockedBadge"], true);
    assert_eq!(v["passwordFocused"], "room-password");
    assert_eq!(v["wrongPassword"], "That password is not right. Please try again.");

    let mute = &v["afterMute"];
    for guest in ["guest1", "guest3"] {
        assert_eq!(mute[guest]["micOn"], false, "{guest}'s microphone is off at the guest");
        assert_eq!(mute[guest]["forced"], json!(["mic"]));
        assert_eq!(mute[guest]["you"]["mic"], false);
    }
    assert_eq!(mute["guest1Button"], "false");
    assert!(mute["guest1Toast"].as_str().is_some_and(|t| t.starts_with("Maria Moderation muted your microphone")));
    assert_eq!(
        mute["moderatorSees"],
        json!([{ "name": "Gina Gast", "mic": false }, { "name": "Paula Passwort", "mic": false }])
    );

    assert_eq!(
        v["unmuteRequest"],
        json!({
            "title": "A request from Maria Moderation",
            "text": "Maria Moderation asks you to turn on your microphone.",
            "focused": "unmute-accept"
        })
    );
    assert_eq!(v["afterUnmute"]["micOn"], true, "the guest agreed and is heard again");
    assert_eq!(v["afterUnmute"]["forced"], json!([]));
    assert_eq!(v["menu"]["focused"], "menuitem", "the menu takes the focus");
    assert_eq!(v["confirmFocused"], "remove-confirm", "the confirmation dialog takes the focus");
    assert_eq!(v["menu"]["items"].as_array().and_then(|a| a.last()), Some(&json!("Remove from the meeting")));
    assert_eq!(v["afterRemove"]["guest3Heading"], "You were removed from the meeting");
    assert_eq!(v["afterRemove"]["guest1"]["names"], json!(["Maria Moderation"]));

    let people = &v["handover"]["ui"]["people"];
    assert_eq!(people[0]["name"], "Gina Gast (you) · Moderator", "{people}");
    assert!(
        v["handover"]["announced"]
            .as_array()
            .is_some_and(|a| a.contains(&json!("You are now a moderator of this meeting."))),
        "{}",
        v["handover"]["announced"]
    );
    for page in ["moderator", "passwordDialog", "passwordPage", "menu", "unmute", "end"] {
        assert_eq!(v["axe"][page], json!([]), "axe-core violations: {page}");
    }
    assert!(server.stop().await);
}
