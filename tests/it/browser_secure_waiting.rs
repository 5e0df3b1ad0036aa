//! Access mode `secure` in real browsers (issue 5): a guest opens the room
//! first and waits on the "waiting for the host" page; the host logs in on
//! the pre-join page ("I am the host", a wrong password first) and opens
//! the room with its lobby on (the default in secure mode); the guest, on
//! the same page, now waits to be let in, the host admits them from the
//! lobby list, and both decode each other's video. The host's video tile
//! carries the staff badge (visible and in its accessible name), the
//! guest's does not. Then the host changes the password on `/account`
//! (wrong current password, a common new one, two that differ, then
//! success) and only the new password logs in; pressing "Join" in another
//! room before the page knows who is logged in joins with the account's
//! name (the click waits for the answer). axe-core checks the
//! waiting page, the login form, the logged-in pre-join page, the guest's
//! call with the host's marked tile and the account page.

use serde_json::{Value, json};

use crate::support::{self, browser};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_guest_knocks_when_the_host_logs_in_and_opens_the_room_and_joins_once_admitted() {
    let _t = support::test();
    // The display name others see is the account's, not what the browser sends.
    let config = support::with_local_host("secure-waiting", kabine::config::AccessMode::Secure);
    let server = support::start(config).await;

    let room = browser::unique_room("secure");
    let v =
        browser::run(&server, "secure_wait", &[&room, "dr.mueller", "correct horse battery", "Wolken über der Elbe"])
            .await;
    assert_clean_but_refused_requests(&v);

    assert_eq!(v["waitingPage"]["heading"], "The meeting has not started yet");
    assert_eq!(v["waitingPage"]["focused"], "gate-title", "focus moves to the waiting page's heading");
    assert_eq!(v["wrong"], "Wrong user name or password.");
    assert_eq!(
        v["prejoin"],
        json!({ "name": "Dr. Anna Müller", "readOnly": true, "who": "Logged in as Dr. Anna Müller" })
    );
    assert_eq!(v["lobbyPage"], "Waiting to be let in", "the host's arrival moves the guest into the lobby");
    assert_eq!(
        v["hostLobby"],
        json!({ "list": ["Gustav Gast"], "lobbyOn": true, "guestInCall": 0 }),
        "the host sees the guest knock, not in the call"
    );
    assert_eq!(v["marker"], "same page", "the guest joined without a reload");
    let ms = v["ms"].as_u64().expect("ms");
    assert!(ms <= 15_000);
    assert_eq!(v["roles"]["host"]["moderator"], true);
    assert_eq!(v["roles"]["host"]["display_name"], "Dr. Anna Müller");
    let seen: Vec<&Value> = v["roles"]["guestSees"].as_array().expect("list").iter().collect();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["display_name"], "Dr. Anna Müller", "the guest sees the account's name");
    // The staff badge on video tiles: the host's tile carries it, seen by
    // the guest and by the host, in the accessible name too; the guest's
    // tile does not, whatever name the guest chose.
    let staff = json!({
        "self": false, "name": "Dr. Anna Müller", "label": "Dr. Anna Müller, staff",
        "badge": "Staff", "badgeHint": "Logged in with an account of this service",
    });
    let guest =
        json!({ "self": false, "name": "Gustav Gast", "label": "Gustav Gast", "badge": null, "badgeHint": null });
    assert_eq!(
        v["tiles"]["guestSees"],
        json!([staff, { "self": true, "name": "Gustav Gast (you)", "label": "Gustav Gast (you)", "badge": null, "badgeHint": null }]),
        "the guest's page: the host's tile is marked as staff, the guest's own is not"
    );
    let own = json!({
        "self": true, "name": "Dr. Anna Müller (you)", "label": "Dr. Anna Müller (you), staff",
        "badge": "Staff", "badgeHint": "Logged in with an account of this service",
    });
    assert_eq!(v["tiles"]["hostSees"], json!([guest, own]), "the host's page: the guest's tile is not marked");

    let account = &v["account"];
    assert_eq!(account["wrongCurrent"], json!({ "current-password-error": "The current password is wrong." }));
    assert!(account["weak"]["new-password-error"].as_str().is_some_and(|t| t.contains("too common")), "{account}");
    assert_eq!(account["differ"], json!({ "repeat-password-error": "The two new passwords are not the same." }));
    assert!(account["done"]["password-done"].as_str().is_some_and(|t| t.starts_with("Your password was changed")));
    assert_eq!(account["oldPassword"], "Wrong user name or password.");
    assert_eq!(account["newPassword"], "logged in");
    assert_eq!(
        v["early"],
        json!({ "knownAtClick": false, "name": "Dr. Anna Müller", "moderator": true }),
        "Join pressed before the login state was known waits for it and joins with the account"
    );

    for page in ["waiting", "login", "loggedIn", "inCall", "account"] {
        assert_eq!(v["axe"][page], json!([]), "axe-core violations on the {page} page");
    }
    println!("secure mode: the waiting guest and the host decode each other {ms} ms after the host joined");
    assert!(server.stop().await);
}

/// As [`browser::assert_clean`], but the deliberately refused API calls
/// (401 wrong login, 403 wrong current password, 422 weak password) are
/// expected in the console.
fn assert_clean_but_refused_requests(v: &Value) {
    let mut v = v.clone();
    if let Some(problems) = v["problems"].as_array_mut() {
        problems.retain(|p| {
            let text = p["text"].as_str().unwrap_or("");
            !(p["page"] == "host"
                && ["status of 401", "status of 403", "status of 422"].iter().any(|s| text.contains(s)))
        });
    }
    browser::assert_clean("secure_wait", &v);
}
