//! Wrong passwords never lock a room for everyone (issue 14, item 6): a
//! hundred wrong room passwords from twenty addresses slow those addresses
//! down, but a guest from another address gets in with the right one at
//! once; when the meeting ends its counters are forgotten, so the next
//! meeting of that name starts clean. (Accounts: login_throttle.)

use std::net::IpAddr;

use kabine::protocol::ServerMsg;

use crate::support::{self, WsClient, ws_drain, ws_join, ws_next, ws_send, ws_until};

const SECRET: &str = "sesam-oeffne-dich";

async fn knock(server: &kabine::server::RunningServer, from: &str) -> WsClient {
    let from: IpAddr = from.parse().expect("literal");
    let mut ws = support::ws_connect_from(server, from, None).await.expect("connects");
    let asked = support::ws_hello(&mut ws, "tresor", "Gast").await;
    assert_eq!(asked, Some(ServerMsg::PasswordRequired { wrong: false, retry_after_secs: 0 }));
    ws
}

async fn guess(ws: &mut WsClient, password: &str) -> Option<ServerMsg> {
    ws_send(ws, &format!(r#"{{"type":"password","password":"{password}"}}"#)).await;
    ws_next(ws).await
}

fn welcomed(msg: &Option<ServerMsg>) -> bool {
    matches!(msg, Some(ServerMsg::Welcome { .. }))
}

async fn open_locked_room(server: &kabine::server::RunningServer) -> WsClient {
    let (mut host, _) = ws_join(server, "tresor", "Hanna").await;
    ws_send(&mut host, &format!(r#"{{"type":"set_password","password":"{SECRET}"}}"#)).await;
    assert!(ws_until(&mut host, |m| matches!(m, ServerMsg::RoomState { locked: true, .. })).await.is_some());
    host
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_wrong_room_passwords_never_lock_out_a_guest_with_the_right_one() {
    let _t = support::test();
    let server = support::start(support::test_config()).await;
    let mut host = open_locked_room(&server).await;

    let mut failures = 0;
    for a in 10..30 {
        let mut ws = knock(&server, &format!("127.0.0.{a}")).await;
        for i in 0..5 {
            match guess(&mut ws, &format!("falsch {a} {i}")).await {
                Some(ServerMsg::PasswordRequired { wrong: true, .. }) => failures += 1,
                Some(ServerMsg::PasswordRequired { wrong: false, retry_after_secs }) if retry_after_secs > 0 => break,
                other => panic!("{other:?}"),
            }
        }
    }
    assert!(failures >= 100, "{failures} wrong guesses were looked at");
    // An address that guessed is slowed down, even with the right password.
    let mut attacker = knock(&server, "127.0.0.10").await;
    assert!(matches!(
        guess(&mut attacker, SECRET).await,
        Some(ServerMsg::PasswordRequired { wrong: false, retry_after_secs }) if retry_after_secs > 0
    ));
    // Another address gets in at once.
    let mut guest = knock(&server, "127.0.0.2").await;
    let answer = guess(&mut guest, SECRET).await;
    assert!(welcomed(&answer), "the guest is in: {answer:?}");

    // The meeting ends; the next meeting of that name starts clean.
    ws_send(&mut host, r#"{"type":"end_meeting"}"#).await;
    ws_drain(&mut host, 300).await;
    drop((host, guest, attacker));
    let _host = open_locked_room(&server).await;
    let mut again = knock(&server, "127.0.0.11").await;
    let answer = guess(&mut again, SECRET).await;
    assert!(welcomed(&answer), "a new meeting does not inherit the old one's counters: {answer:?}");
    assert!(server.stop().await);
}
