//! The access modes at the room layer, over real WebSockets with real login
//! sessions (issue 5): in `secure` mode guests who come first wait and, with
//! `rooms.lobby_on_open = false`, join by themselves once a logged-in host
//! opens the room, under the name the host's account gives (with the lobby
//! on, the default, they knock: `rooms_lobby_on_open`); in `closed` mode
//! anonymous visitors must log in; a directory user outside the hosts group
//! (real slapd) waits for a room a group member opens, knocks and is
//! admitted; and an open signalling connection keeps its login session alive
//! past the idle timeout.

use std::time::Duration;

use kabine::config::{AccessMode, SecretString};
use kabine::protocol::{ErrorCode, ServerMsg, WaitReason};

use crate::support::slapd::{self, Slapd};
use crate::support::{self, WsClient, ws_connect_as, ws_next, ws_send, ws_until};

async fn cookie_of(base: &str, user: &str, password: &str) -> String {
    let r = support::login(&support::https_client(), base, user, password).await;
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    support::session_cookie(&r).expect("session cookie")
}

async fn hello(ws: &mut WsClient, room: &str, name: &str) -> Option<ServerMsg> {
    ws_send(ws, &format!(r#"{{"type":"hello","version":1,"room":"{room}","display_name":"{name}"}}"#)).await;
    ws_next(ws).await
}

fn welcome(msg: Option<ServerMsg>) -> (kabine::protocol::Participant, Vec<kabine::protocol::Participant>) {
    match msg {
        Some(ServerMsg::Welcome { you, participants, .. }) => (you, participants),
        other => panic!("expected welcome, got {other:?}"),
    }
}

#[tokio::test]
async fn in_secure_mode_guests_wait_and_join_by_themselves_when_a_host_opens_a_room_without_lobby() {
    let _t = support::test();
    let mut config = support::with_local_host("access-secure", AccessMode::Secure);
    config.rooms.lobby_on_open_setting = Some(false);
    let server = support::start(config).await;
    let base = support::base_url(&server);

    let mut guest1 = ws_connect_as(&server, None).await;
    assert_eq!(hello(&mut guest1, "praxis", "Gast Eins").await, Some(ServerMsg::Waiting { reason: WaitReason::Host }));
    let mut guest2 = ws_connect_as(&server, None).await;
    assert_eq!(hello(&mut guest2, "Praxis", "Gast Zwei").await, Some(ServerMsg::Waiting { reason: WaitReason::Host }));
    assert_eq!(kabine::stats::Stats::get(&server.stats().rooms_open), 0, "guests open no room");

    // A stale or forged cookie is no login.
    let mut forged = ws_connect_as(&server, Some(&format!("__Host-kabine_session={}", "ab".repeat(32)))).await;
    assert_eq!(hello(&mut forged, "praxis", "Forged").await, Some(ServerMsg::Waiting { reason: WaitReason::Host }));

    let cookie = cookie_of(&base, "dr.mueller", "correct horse battery").await;
    let mut host = ws_connect_as(&server, Some(&cookie)).await;
    let (you, others) = welcome(hello(&mut host, "praxis", "Somebody Else").await);
    assert!(you.moderator, "the host moderates");
    assert_eq!(you.display_name, "Dr. Anna Müller", "the name comes from the account, not from hello");
    assert!(others.is_empty());

    for (ws, name) in [(&mut guest1, "Gast Eins"), (&mut guest2, "Gast Zwei"), (&mut forged, "Forged")] {
        let (me, there) = welcome(ws_until(ws, |m| matches!(m, ServerMsg::Welcome { .. })).await);
        assert_eq!(me.display_name, name);
        assert!(!me.moderator);
        assert!(there.iter().any(|p| p.display_name == "Dr. Anna Müller" && p.moderator), "{there:?}");
    }
    // Once the room is open, a guest enters at once.
    let mut late = ws_connect_as(&server, None).await;
    welcome(hello(&mut late, "praxis", "Spät").await);
    assert_eq!(kabine::stats::Stats::get(&server.stats().participants), 5);
    assert!(server.stop().await);
}

#[tokio::test]
async fn in_closed_mode_anonymous_visitors_are_told_to_log_in() {
    let _t = support::test();
    let config = support::with_local_host("access-closed", AccessMode::Closed);
    let server = support::start(config).await;
    let base = support::base_url(&server);
    let mut anon = ws_connect_as(&server, None).await;
    match hello(&mut anon, "labor", "Anon").await {
        Some(ServerMsg::Error { code: ErrorCode::LoginRequired, .. }) => {}
        other => panic!("expected login_required, got {other:?}"),
    }
    let cookie = cookie_of(&base, "dr.mueller", "correct horse battery").await;
    let mut host = ws_connect_as(&server, Some(&cookie)).await;
    assert!(welcome(hello(&mut host, "labor", "x").await).0.moderator);
    // Still refused with the room open.
    let mut anon = ws_connect_as(&server, None).await;
    assert!(matches!(
        hello(&mut anon, "labor", "Anon").await,
        Some(ServerMsg::Error { code: ErrorCode::LoginRequired, .. })
    ));
    assert!(server.stop().await);
}

#[tokio::test]
async fn a_directory_user_outside_the_hosts_group_waits_and_is_admitted_once_a_group_member_opened_the_room() {
    let _t = support::test();
    let dir = Slapd::start("access-ldap");
    let mut c = support::test_config();
    c.access.mode = AccessMode::Secure;
    c.access.users_file = dir.dir.join("no-local-users");
    c.ldap.url = Some(dir.ldaps_url());
    c.ldap.ca_file = Some(dir.ca_file());
    c.ldap.bind_dn = Some(slapd::ADMIN_DN.into());
    c.ldap.bind_password = Some(SecretString::new(slapd::ADMIN_PW.into()));
    c.ldap.user_base = slapd::PEOPLE.into();
    c.ldap.host_group = Some(slapd::HOSTS_GROUP.into());
    let server = support::start(c).await;
    let base = support::base_url(&server);

    let bob = cookie_of(&base, "bob", "bobpw").await;
    let mut bob_ws = ws_connect_as(&server, Some(&bob)).await;
    assert_eq!(hello(&mut bob_ws, "team", "typed").await, Some(ServerMsg::Waiting { reason: WaitReason::Host }));
    let alice = cookie_of(&base, "alice", "alicepw").await;
    let mut alice_ws = ws_connect_as(&server, Some(&alice)).await;
    let (you, _) = welcome(hello(&mut alice_ws, "team", "typed").await);
    assert!(you.moderator);
    assert_eq!(you.display_name, "Alice Beispiel", "displayName from the directory");
    // The meeting starts with its lobby on: bob knocks under the name from
    // the directory, and alice admits him.
    let (me, there) = welcome(Some(support::admit_from_lobby(&mut alice_ws, &mut bob_ws, "Bob Example").await));
    assert_eq!(me.display_name, "Bob Example", "cn from the directory");
    assert!(!me.moderator, "bob may not host");
    assert_eq!(there.iter().map(|p| p.display_name.as_str()).collect::<Vec<_>>(), ["Alice Beispiel"]);
    assert!(server.stop().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_signalling_connection_keeps_its_login_session_past_the_idle_timeout() {
    let _t = support::test();
    let config = support::with_local_host("access-touch", AccessMode::Secure);
    // Sessions idle out after 12 s here (the configuration counts whole
    // minutes); the open connection counts as use every 2 s.
    let timings = kabine::signal::Timings { session_touch: Duration::from_secs(2), ..Default::default() };
    let options = kabine::server::StartOptions { timings, session_idle: Some(Duration::from_secs(12)) };
    let server = support::start_with_options(config, options).await;
    let base = support::base_url(&server);
    let in_call = cookie_of(&base, "dr.mueller", "correct horse battery").await;
    let idle = cookie_of(&base, "dr.mueller", "correct horse battery").await;
    let mut ws = ws_connect_as(&server, Some(&in_call)).await;
    assert!(welcome(hello(&mut ws, "lang", "x").await).0.moderator);
    // Keep reading (pings are answered while the stream is polled).
    let reader = tokio::spawn(async move {
        loop {
            if support::ws_next(&mut ws).await.is_none() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    tokio::time::sleep(Duration::from_secs(16)).await;
    let client = support::https_client();
    let kept = support::session(&client, &base, Some(&in_call)).await;
    assert_eq!(kept["user"]["username"], "dr.mueller", "the session of the open call is still there: {kept}");
    let gone = support::session(&client, &base, Some(&idle)).await;
    assert!(gone["user"].is_null(), "without a connection the session timed out: {gone}");
    reader.abort();
    assert!(server.stop().await);
}
