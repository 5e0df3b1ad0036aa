//! End-to-end encrypted meetings: the flag, the cap on participants, and
//! the relay of the key exchange (only within the room, sender from the
//! connection, size and rate limited).

use super::*;
use crate::config::E2eeMode;
use crate::protocol::BreakoutPlace;

fn world(mode: E2eeMode) -> World {
    World::with(Settings { e2ee: mode, ..Settings::default() })
}

fn e2ee(to: Option<&str>, data: &str) -> ClientMsg {
    ClientMsg::E2ee { to: to.map(str::to_string), data: data.into() }
}

fn relayed(out: &[Effect], to: SessionId) -> Vec<(String, String)> {
    sent_to(out, to)
        .into_iter()
        .filter_map(|m| match m {
            ServerMsg::E2ee { from, data } => Some((from, data)),
            _ => None,
        })
        .collect()
}

fn welcome_e2ee(out: &[Effect], to: SessionId) -> bool {
    sent_to(out, to)
        .iter()
        .find_map(|m| match m {
            ServerMsg::Welcome { e2ee, .. } => Some(*e2ee),
            _ => None,
        })
        .expect("welcome")
}

#[test]
fn under_required_every_meeting_is_end_to_end_encrypted_from_the_welcome_on() {
    let mut w = world(E2eeMode::Required);
    let (a, out) = w.join("group", "Ann");
    assert!(welcome_e2ee(&out, a));
    assert!(sent_to(&out, a).iter().any(|m| matches!(m, ServerMsg::RoomState { e2ee: true, .. })));
    let mut w = world(E2eeMode::Optional);
    let (a, out) = w.join("group", "Ann");
    assert!(!welcome_e2ee(&out, a));
}

#[test]
fn a_message_goes_to_one_member_or_to_everyone_else_with_the_sender_set_by_the_server() {
    let mut w = world(E2eeMode::Required);
    let (a, _) = w.join("group", "Ann");
    let (b, _) = w.join("group", "Ben");
    let (c, _) = w.join("group", "Cyd");
    let (x, _) = w.join("elsewhere", "Xia");
    let out = w.send(a, e2ee(None, "AQID"));
    assert_eq!(relayed(&out, b), [("p1".to_string(), "AQID".to_string())]);
    assert_eq!(relayed(&out, c), [("p1".to_string(), "AQID".to_string())]);
    assert!(relayed(&out, a).is_empty(), "not back to the sender");
    assert!(relayed(&out, x).is_empty(), "never to another room");
    let out = w.send(a, e2ee(Some("p2"), "BBBB"));
    assert_eq!(relayed(&out, b), [("p1".to_string(), "BBBB".to_string())]);
    assert!(relayed(&out, c).is_empty());
    // Someone in another room (or nobody) gets nothing, and the sender no error.
    let out = w.send(a, e2ee(Some("p4"), "CCCC"));
    assert!(out.is_empty(), "{out:?}");
    let out = w.send(a, e2ee(Some("p1"), "CCCC"));
    assert!(out.is_empty(), "not to oneself: {out:?}");
}

#[test]
fn malformed_or_large_data_is_refused_and_relayed_to_nobody() {
    let mut w = world(E2eeMode::Required);
    let (a, _) = w.join("group", "Ann");
    let (b, _) = w.join("group", "Ben");
    for data in ["", "not base64", "pad==", &"A".repeat(1025)] {
        let out = w.send(a, e2ee(None, data));
        assert_eq!(error_code(&out, a), Some(ErrorCode::BadMessage), "{data:?}");
        assert!(relayed(&out, b).is_empty());
    }
    assert!(!relayed(&w.send(a, e2ee(None, &"A".repeat(1024))), b).is_empty());
}

#[test]
fn messages_sent_too_fast_are_refused_until_the_bucket_refills() {
    let mut w = world(E2eeMode::Required);
    let (a, _) = w.join("group", "Ann");
    let (b, _) = w.join("group", "Ben");
    let burst = 4 * Settings::default().e2ee_max_participants + 16;
    for _ in 0..burst {
        assert!(!relayed(&w.send(a, e2ee(None, "AQID")), b).is_empty());
    }
    let out = w.send(a, e2ee(None, "AQID"));
    assert_eq!(error_code(&out, a), Some(ErrorCode::BadMessage));
    assert!(relayed(&out, b).is_empty());
    w.now += std::time::Duration::from_secs(1);
    assert!(!relayed(&w.send(a, e2ee(None, "AQID")), b).is_empty());
}

#[test]
fn nothing_is_relayed_in_a_meeting_without_end_to_end_encryption() {
    let mut w = world(E2eeMode::Optional);
    let (a, _) = w.join("group", "Ann");
    let (b, _) = w.join("group", "Ben");
    let out = w.send(a, e2ee(None, "AQID"));
    assert_eq!(error_code(&out, a), Some(ErrorCode::E2eeUnavailable));
    assert!(relayed(&out, b).is_empty());
}

#[test]
fn a_moderator_turns_it_on_under_optional_for_good_and_only_a_moderator() {
    let mut w = world(E2eeMode::Optional);
    let (a, _) = w.join("group", "Ann");
    let (b, _) = w.join("group", "Ben");
    let out = w.send(b, ClientMsg::EnableE2ee {});
    assert_eq!(error_code(&out, b), Some(ErrorCode::NotModerator));
    let out = w.send(a, ClientMsg::EnableE2ee {});
    for s in [a, b] {
        assert!(sent_to(&out, s).iter().any(|m| matches!(m, ServerMsg::RoomState { e2ee: true, .. })), "{out:?}");
    }
    assert!(!relayed(&w.send(a, e2ee(None, "AQID")), b).is_empty());
    let (c, out) = w.join("group", "Cyd");
    assert!(welcome_e2ee(&out, c), "a newcomer is told before its media starts");
    let mut off = world(E2eeMode::Off);
    let (a, _) = off.join("group", "Ann");
    assert_eq!(error_code(&off.send(a, ClientMsg::EnableE2ee {}), a), Some(ErrorCode::E2eeUnavailable));
}

#[test]
fn an_end_to_end_encrypted_meeting_holds_at_most_e2ee_max_participants() {
    let settings = Settings { e2ee: E2eeMode::Optional, e2ee_max_participants: 2, ..Settings::default() };
    let mut w = World::with(settings);
    let (a, _) = w.join("group", "Ann");
    w.join("group", "Ben");
    let (c, _) = w.join("group", "Cyd");
    assert_eq!(error_code(&w.send(a, ClientMsg::EnableE2ee {}), a), Some(ErrorCode::E2eeUnavailable));
    w.send(c, ClientMsg::Leave {});
    assert!(error_code(&w.send(a, ClientMsg::EnableE2ee {}), a).is_none());
    let (d, out) = w.join("group", "Dan");
    assert_eq!(error_code(&out, d), Some(ErrorCode::RoomFull));
}

#[test]
fn in_a_breakout_room_messages_stay_in_that_room() {
    let mut w = world(E2eeMode::Required);
    let (a, _) = w.join("group", "Ann");
    let (b, _) = w.join("group", "Ben");
    let (c, _) = w.join("group", "Cyd");
    let out = w.send(a, ClientMsg::BreakoutCreate { names: vec!["Pairs".into()] });
    let room = sent_to(&out, a)
        .into_iter()
        .find_map(|m| match m {
            ServerMsg::Breakouts { rooms, .. } => rooms.first().map(|r| r.id.clone()),
            _ => None,
        })
        .expect("breakout room");
    let out = w.send(a, ClientMsg::BreakoutAssign { id: "p2".into(), room: Some(room.clone()) });
    assert!(sent_to(&out, b).iter().any(|m| matches!(m, ServerMsg::Moved { room: Some(BreakoutPlace { .. }), .. })));
    let out = w.send(b, e2ee(None, "AQID"));
    assert!(relayed(&out, a).is_empty() && relayed(&out, c).is_empty(), "Ben is alone in the breakout room");
    let out = w.send(a, e2ee(None, "AQID"));
    assert!(relayed(&out, b).is_empty());
    assert!(!relayed(&out, c).is_empty());
}
