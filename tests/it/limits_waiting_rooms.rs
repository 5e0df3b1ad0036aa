//! Waiting rooms nobody can fill from one address (issue 14, item 3): in
//! secure mode anonymous `hello`s that wait for a host are bounded per
//! source address, per room and in total, and a flood from one address
//! leaves a real guest from another address waiting normally; when the host
//! opens the room the guest knocks and the host lets them in. (Waiting
//! sessions also expire: `room::tests`.)

use std::net::IpAddr;

use kabine::config::AccessMode;
use kabine::protocol::{ErrorCode, ServerMsg, WaitReason};

use crate::support::{self, WsClient, ws_hello};

const ATTACKER: &str = "127.0.0.1";

async fn flood(server: &kabine::server::RunningServer, n: usize, room: impl Fn(usize) -> String) -> Vec<WsClient> {
    let from: IpAddr = ATTACKER.parse().expect("literal");
    let mut held = Vec::new();
    let (mut waiting, mut refused) = (0, 0);
    for i in 0..n {
        // Connections over the per-address cap are refused: that is fine.
        let Ok(mut ws) = support::ws_connect_from(server, from, None).await else {
            refused += 1;
            continue;
        };
        match ws_hello(&mut ws, &room(i), "Flut").await {
            Some(ServerMsg::Waiting { .. }) => waiting += 1,
            _ => refused += 1,
        }
        held.push(ws);
    }
    eprintln!("flood: {waiting} waiting, {refused} refused");
    held
}

async fn guest_waits_then_is_admitted(server: &kabine::server::RunningServer, room: &str) {
    let guest_from: IpAddr = "127.0.0.2".parse().expect("literal");
    let mut guest = support::ws_connect_from(server, guest_from, None).await.expect("guest connects");
    let first = ws_hello(&mut guest, room, "Patientin").await;
    assert_eq!(first, Some(ServerMsg::Waiting { reason: WaitReason::Host }), "the guest waits normally");

    let base = support::base_url(server);
    let host_from: IpAddr = "127.0.0.3".parse().expect("literal");
    let r = support::login(&support::https_client_from(host_from), &base, "dr.mueller", "correct horse battery").await;
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let cookie = support::session_cookie(&r).expect("cookie");
    let mut host = support::ws_connect_from(server, host_from, Some(&cookie)).await.expect("host connects");
    assert!(matches!(ws_hello(&mut host, room, "x").await, Some(ServerMsg::Welcome { .. })));
    support::admit_from_lobby(&mut host, &mut guest, "Patientin").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_anonymous_hellos_to_distinct_rooms_leave_a_guest_of_another_address_waiting_normally() {
    let _t = support::test();
    let server = support::start(support::with_local_host("limits-waiting-rooms", AccessMode::Secure)).await;
    let held = flood(&server, 1000, |i| format!("raum-{i}")).await;
    guest_waits_then_is_admitted(&server, "therapie").await;
    drop(held);
    assert!(server.stop().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_address_cannot_fill_the_waiting_queue_of_a_room() {
    let _t = support::test();
    let server = support::start(support::with_local_host("limits-waiting-one-room", AccessMode::Secure)).await;
    let held = flood(&server, 150, |_| "therapie".to_string()).await;
    guest_waits_then_is_admitted(&server, "therapie").await;
    drop(held);
    assert!(server.stop().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_over_the_per_address_limit_is_told_why() {
    let _t = support::test();
    let mut config = support::with_local_host("limits-waiting-told", AccessMode::Secure);
    config.rooms.max_waiting_per_address = 2;
    let server = support::start(config).await;
    let from: IpAddr = ATTACKER.parse().expect("literal");
    let mut held = Vec::new();
    for i in 0..2 {
        let mut ws = support::ws_connect_from(&server, from, None).await.expect("connects");
        assert_eq!(
            ws_hello(&mut ws, &format!("r{i}"), "A").await,
            Some(ServerMsg::Waiting { reason: WaitReason::Host })
        );
        held.push(ws);
    }
    let mut third = support::ws_connect_from(&server, from, None).await.expect("connects");
    match ws_hello(&mut third, "r9", "A").await {
        Some(ServerMsg::Error { code: ErrorCode::ServerFull, message }) => {
            assert!(message.contains("address"), "{message}")
        }
        other => panic!("expected server_full, got {other:?}"),
    }
    assert!(server.stop().await);
}
