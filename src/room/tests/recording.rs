//! Recording as the rooms decide it: only a moderator asks, nothing is
//! recorded before everyone present has answered, who declines is never
//! recorded, latecomers are asked, withdrawing and stopping are immediate,
//! and a recording keeps a call of two on the server.

use super::*;
use crate::config::OnDecline;
use crate::protocol::RecordingState;
use crate::room::media::RecordCommand;

fn recording_world(on_decline: OnDecline) -> World {
    let settings = Settings { recording: RecordingSettings { enabled: true, on_decline }, ..Settings::default() };
    World::with(settings)
}

fn recorded(out: &[Effect]) -> Vec<RecordCommand> {
    media(out)
        .into_iter()
        .filter_map(|c| match c {
            MediaCommand::Recording(r) => Some(r),
            _ => None,
        })
        .collect()
}

/// A `recording` message: state, agreed, declined, pending.
type Shown = (RecordingState, Vec<String>, Vec<String>, Vec<String>);

fn state(out: &[Effect], to: SessionId) -> Option<Shown> {
    sent_to(out, to).into_iter().rev().find_map(|m| match m {
        ServerMsg::Recording { state, agreed, declined, pending } => Some((state, agreed, declined, pending)),
        _ => None,
    })
}

fn asked(out: &[Effect], to: SessionId) -> bool {
    sent_to(out, to).iter().any(|m| matches!(m, ServerMsg::RecordingConsentRequest { .. }))
}

fn consent(agree: bool) -> ClientMsg {
    ClientMsg::RecordingConsent { agree }
}

#[test]
fn nothing_is_recorded_until_everyone_answered_and_decliners_never() {
    let mut w = recording_world(OnDecline::Exclude);
    let (a, _) = w.join("r", "Ada");
    let (b, _) = w.join("r", "Bob");
    let (c, _) = w.join("r", "Cy");
    let out = w.send(a, ClientMsg::RecordStart {});
    assert!(asked(&out, b) && asked(&out, c) && !asked(&out, a), "everyone but the asking host is asked");
    assert!(recorded(&out).is_empty(), "nothing starts on asking: {out:?}");
    assert_eq!(state(&out, c).map(|s| s.0), Some(RecordingState::Asking));

    let out = w.send(b, consent(true));
    assert!(recorded(&out).is_empty(), "Cy has not answered: {out:?}");
    let (_, _, _, pending) = state(&out, a).expect("state to everyone");
    assert_eq!(pending, ["p3"]);

    let out = w.send(c, consent(false));
    let cmds = recorded(&out);
    assert!(matches!(cmds.first(), Some(RecordCommand::Start { .. })), "{cmds:?}");
    let who: Vec<SessionId> = cmds
        .iter()
        .filter_map(|c| match c {
            RecordCommand::Record { session, .. } => Some(*session),
            _ => None,
        })
        .collect();
    assert_eq!(who, [a, b], "Cy declined and is not recorded");
    let (st, agreed, declined, _) = state(&out, c).expect("state");
    assert_eq!((st, agreed, declined), (RecordingState::On, vec!["p1".into(), "p2".into()], vec!["p3".into()]));
}

#[test]
fn only_a_moderator_starts_and_only_where_enabled() {
    let mut w = recording_world(OnDecline::Exclude);
    let (_a, _) = w.join("r", "Ada");
    let (b, _) = w.join("r", "Bob");
    let out = w.send(b, ClientMsg::RecordStart {});
    assert_eq!(error_code(&out, b), Some(ErrorCode::NotModerator));
    assert!(recorded(&out).is_empty());

    let mut w = World::new();
    let (a, _) = w.join("r", "Ada");
    let out = w.send(a, ClientMsg::RecordStart {});
    assert_eq!(error_code(&out, a), Some(ErrorCode::RecordingUnavailable));
    assert!(recorded(&out).is_empty());
}

#[test]
fn a_latecomer_is_asked_and_recorded_only_after_agreeing() {
    let mut w = recording_world(OnDecline::Exclude);
    let (a, _) = w.join("r", "Ada");
    let (b, _) = w.join("r", "Bob");
    w.send(a, ClientMsg::RecordStart {});
    let out = w.send(b, consent(true));
    assert_eq!(recorded(&out).len(), 3, "start, Ada, Bob: {out:?}");
    let (d, out) = w.join("r", "Dee");
    assert!(asked(&out, d));
    assert!(recorded(&out).is_empty(), "not before Dee answers");
    let out = w.send(d, consent(true));
    assert!(matches!(recorded(&out)[..], [RecordCommand::Record { session, .. }] if session == d));
}

#[test]
fn withdrawing_and_stopping_are_immediate() {
    let mut w = recording_world(OnDecline::Exclude);
    let (a, _) = w.join("r", "Ada");
    let (b, _) = w.join("r", "Bob");
    w.send(a, ClientMsg::RecordStart {});
    w.send(b, consent(true));
    let out = w.send(b, consent(false));
    assert!(matches!(recorded(&out)[..], [RecordCommand::Unrecord { session, .. }] if session == b));
    let out = w.send(a, ClientMsg::RecordStop {});
    assert!(matches!(recorded(&out)[..], [RecordCommand::Stop { .. }]));
    assert_eq!(state(&out, b).map(|s| s.0), Some(RecordingState::Off));
}

#[test]
fn with_cancel_one_decline_stops_the_asking_and_tells_the_host() {
    let mut w = recording_world(OnDecline::Cancel);
    let (a, _) = w.join("r", "Ada");
    let (b, _) = w.join("r", "Bob");
    let (c, _) = w.join("r", "Cy");
    w.send(a, ClientMsg::RecordStart {});
    w.send(b, consent(true));
    let out = w.send(c, consent(false));
    assert!(recorded(&out).is_empty(), "{out:?}");
    assert_eq!(error_code(&out, a), Some(ErrorCode::RecordingDeclined));
    assert_eq!(state(&out, b).map(|s| s.0), Some(RecordingState::Off));
}

#[test]
fn the_meeting_ending_stops_its_recording() {
    let mut w = recording_world(OnDecline::Exclude);
    let (a, _) = w.join("r", "Ada");
    w.send(a, ClientMsg::RecordStart {});
    let out = w.send(a, ClientMsg::Leave {});
    assert!(recorded(&out).iter().any(|c| matches!(c, RecordCommand::Stop { .. })), "{out:?}");
}

fn e2ee_recording_world(mode: crate::config::E2eeMode) -> World {
    let recording = RecordingSettings { enabled: true, on_decline: OnDecline::Exclude };
    World::with(Settings { recording, e2ee: mode, ..Settings::default() })
}

#[test]
fn an_end_to_end_encrypted_meeting_is_never_recorded() {
    let mut w = e2ee_recording_world(crate::config::E2eeMode::Required);
    let (a, _) = w.join("r", "Ada");
    let (b, _) = w.join("r", "Bob");
    let out = w.send(a, ClientMsg::RecordStart {});
    assert_eq!(error_code(&out, a), Some(ErrorCode::RecordingUnavailable), "{out:?}");
    assert!(!asked(&out, b), "nobody is asked: {out:?}");
    assert!(recorded(&out).is_empty(), "{out:?}");
}

#[test]
fn turning_end_to_end_encryption_on_stops_the_recording_at_once() {
    let mut w = e2ee_recording_world(crate::config::E2eeMode::Optional);
    let (a, _) = w.join("r", "Ada");
    let (b, _) = w.join("r", "Bob");
    w.send(a, ClientMsg::RecordStart {});
    let out = w.send(b, consent(true));
    assert!(matches!(recorded(&out).first(), Some(RecordCommand::Start { .. })), "{out:?}");

    let out = w.send(a, ClientMsg::EnableE2ee {});
    assert!(recorded(&out).iter().any(|c| matches!(c, RecordCommand::Stop { .. })), "{out:?}");
    assert_eq!(state(&out, b).map(|s| s.0), Some(RecordingState::Off), "everyone sees it stopped: {out:?}");

    // And it cannot be asked for again in this meeting.
    let out = w.send(a, ClientMsg::RecordStart {});
    assert_eq!(error_code(&out, a), Some(ErrorCode::RecordingUnavailable), "{out:?}");
    assert!(!asked(&out, b) && recorded(&out).is_empty(), "{out:?}");
}
