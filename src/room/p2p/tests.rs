//! The direct-call state machine, driven through [`Rooms`] with a
//! simulated clock: pair detection per room, the delays, relaying between
//! the two only, the fallback to the SFU.

use std::time::{Duration, Instant};

use super::super::*;
use super::Call;
use crate::protocol::{
    ClientMsg, ErrorCode, MAX_P2P_CANDIDATE_BYTES, MAX_P2P_CANDIDATES, MAX_P2P_SDP_BYTES, P2pStopReason, ServerMsg,
};

const BACK: Duration = Duration::from_millis(5000);
const TIMEOUT: Duration = Duration::from_millis(6000);
const ARRIVE: Duration = Duration::from_millis(500);

struct World {
    rooms: Rooms,
    now: Instant,
    next: u64,
}

fn settings(enabled: bool) -> Settings {
    let stun = IceServerInfo { urls: vec!["stun:192.0.2.1:10000".into()], username: None, credential: None };
    Settings {
        p2p: P2pSettings {
            enabled,
            back_delay: BACK,
            arrival_delay: ARRIVE,
            connect_timeout: TIMEOUT,
            ice_servers: vec![stun],
        },
        ..Settings::default()
    }
}

impl World {
    fn new() -> World {
        World::with(settings(true))
    }

    fn with(settings: Settings) -> World {
        World { rooms: Rooms::new(settings), now: Instant::now(), next: 1 }
    }

    fn input(&mut self, input: Input) -> Vec<Effect> {
        let mut out = Vec::new();
        self.rooms.handle(Clock { now: self.now, unix_ms: 0 }, input, &mut out);
        out
    }

    fn join(&mut self, room: &str) -> (SessionId, Vec<Effect>) {
        let session = SessionId(self.next);
        self.next += 1;
        self.input(Input::Connected { session, participant: format!("p{}", session.0), account: None, source: None });
        let msg = ClientMsg::Hello {
            version: 1,
            room: room.into(),
            display_name: format!("N{}", session.0),
            appointment: None,
        };
        let out = self.input(Input::Message { session, msg });
        (session, out)
    }

    fn send(&mut self, session: SessionId, msg: ClientMsg) -> Vec<Effect> {
        self.input(Input::Message { session, msg })
    }

    /// Moves the clock to `at` and fires the timers.
    fn tick_at(&mut self, at: Instant) -> Vec<Effect> {
        self.now = at;
        self.input(Input::Tick)
    }

    /// Fires the timers that are due now (the actor does this when
    /// [`Rooms::next_deadline`] comes).
    fn tick(&mut self) -> Vec<Effect> {
        self.input(Input::Tick)
    }

    fn room_of(&self, session: SessionId) -> RoomKey {
        self.rooms.sessions.get(&session).and_then(|s| s.room).expect("joined")
    }

    fn phase(&self, session: SessionId) -> P2pPhase {
        self.rooms.p2p_phase(self.room_of(session))
    }

    /// Two joined and connecting: returns them and the epoch.
    fn connecting_pair(&mut self, room: &str) -> (SessionId, SessionId, u64) {
        let (a, _) = self.join(room);
        let (b, _) = self.join(room);
        let out = self.tick_at(self.now + ARRIVE);
        let epoch = start_of(&out, a).expect("p2p_start").0;
        (a, b, epoch)
    }

    fn direct_pair(&mut self, room: &str) -> (SessionId, SessionId, u64) {
        let (a, b, epoch) = self.connecting_pair(room);
        self.send(a, ClientMsg::P2pReady { epoch });
        self.send(b, ClientMsg::P2pReady { epoch });
        assert_eq!(self.phase(a), P2pPhase::Direct);
        (a, b, epoch)
    }
}

fn sent_to(out: &[Effect], to: SessionId) -> Vec<ServerMsg> {
    out.iter()
        .filter_map(|e| match e {
            Effect::Send { to: t, msg } if *t == to => Some(msg.clone()),
            Effect::Broadcast { to: all, msg } if all.contains(&to) => Some(msg.clone()),
            _ => None,
        })
        .collect()
}

fn p2p_to(out: &[Effect], to: SessionId) -> Vec<ServerMsg> {
    sent_to(out, to)
        .into_iter()
        .filter(|m| {
            matches!(
                m,
                ServerMsg::P2pStart { .. }
                    | ServerMsg::P2pOffer { .. }
                    | ServerMsg::P2pAnswer { .. }
                    | ServerMsg::P2pCandidate { .. }
                    | ServerMsg::P2pDirect { .. }
                    | ServerMsg::P2pStop { .. }
            )
        })
        .collect()
}

/// (epoch, peer, offerer) of a `p2p_start` sent to `to`.
fn start_of(out: &[Effect], to: SessionId) -> Option<(u64, String, bool)> {
    sent_to(out, to).into_iter().find_map(|m| match m {
        ServerMsg::P2pStart { epoch, peer, offerer, .. } => Some((epoch, peer, offerer)),
        _ => None,
    })
}

fn stop_of(out: &[Effect], to: SessionId) -> Option<P2pStopReason> {
    sent_to(out, to).into_iter().find_map(|m| match m {
        ServerMsg::P2pStop { reason, .. } => Some(reason),
        _ => None,
    })
}

fn direct_commands(out: &[Effect]) -> Vec<bool> {
    out.iter()
        .filter_map(|e| match e {
            Effect::Media(MediaCommand::Direct { direct, .. }) => Some(*direct),
            _ => None,
        })
        .collect()
}

fn error_of(out: &[Effect], to: SessionId) -> Option<ErrorCode> {
    sent_to(out, to).into_iter().find_map(|m| match m {
        ServerMsg::Error { code, .. } => Some(code),
        _ => None,
    })
}

#[test]
fn a_second_participant_starts_a_direct_call_after_the_arrival_delay() {
    let mut w = World::new();
    let (a, out) = w.join("r");
    assert!(p2p_to(&out, a).is_empty());
    assert_eq!(w.rooms.next_deadline(), None, "alone: nothing to wait for");
    let (b, out) = w.join("r");
    assert!(p2p_to(&out, a).is_empty() && p2p_to(&out, b).is_empty(), "started by the timer, not by the join");
    assert_eq!(w.rooms.next_deadline(), Some(w.now + ARRIVE), "due after the arrival delay");
    assert_eq!(w.phase(a), P2pPhase::Waiting);
    let out = w.tick_at(w.now + ARRIVE - Duration::from_millis(1));
    assert!(p2p_to(&out, a).is_empty(), "not before the delay");

    let out = w.tick_at(w.now + Duration::from_millis(1));
    let (ea, peer_a, offerer_a) = start_of(&out, a).expect("a is told");
    let (eb, peer_b, offerer_b) = start_of(&out, b).expect("b is told");
    assert_eq!(ea, eb, "one attempt");
    assert_eq!((peer_a.as_str(), peer_b.as_str()), ("p2", "p1"), "each learns the other's public id");
    assert!(offerer_a && !offerer_b, "the first one in offers");
    let ServerMsg::P2pStart { ice_servers, .. } = &p2p_to(&out, a)[0] else { panic!("p2p_start") };
    assert_eq!(ice_servers[0].urls, ["stun:192.0.2.1:10000"], "the server's own STUN first");
    assert!(direct_commands(&out).is_empty(), "the SFU keeps forwarding while they connect");
    assert_eq!(w.phase(a), P2pPhase::Connecting);
    assert_eq!(w.rooms.next_deadline(), Some(w.now + TIMEOUT), "the connect timeout is set");
    assert_eq!(w.rooms.p2p_counts(), (0, 1, 0));
}

#[test]
fn signalling_is_relayed_only_between_the_two_with_the_senders_identity() {
    let mut w = World::new();
    let (a, b, epoch) = w.connecting_pair("r");
    let (c, _) = w.join("other");

    let out = w.send(a, ClientMsg::P2pOffer { epoch, sdp: "v=0 offer".into() });
    assert_eq!(p2p_to(&out, b), [ServerMsg::P2pOffer { epoch, from: "p1".into(), sdp: "v=0 offer".into() }]);
    assert!(sent_to(&out, a).is_empty(), "not echoed");

    let candidate = |c: &str| ClientMsg::P2pCandidate {
        epoch,
        candidate: c.into(),
        sdp_mid: Some("0".into()),
        sdp_m_line_index: Some(0),
    };
    let out = w.send(b, candidate("candidate:1 1 udp 1 192.0.2.7 4000 typ host"));
    assert!(matches!(&p2p_to(&out, a)[..], [ServerMsg::P2pCandidate { from, .. }] if from == "p2"));

    // Someone in another room cannot inject anything, even with the epoch.
    let out = w.send(c, candidate("candidate:evil"));
    assert!(out.is_empty(), "{out:?}");
    // A stale epoch (crossing a stop) is dropped quietly.
    let out = w.send(
        b,
        ClientMsg::P2pCandidate { epoch: epoch + 7, candidate: "x".into(), sdp_mid: None, sdp_m_line_index: None },
    );
    assert!(out.is_empty());

    // Roles and sizes are enforced; a refusal relays nothing.
    let out = w.send(b, ClientMsg::P2pOffer { epoch, sdp: "v=0".into() });
    assert_eq!(error_of(&out, b), Some(ErrorCode::BadMessage), "the answerer cannot offer");
    assert!(p2p_to(&out, a).is_empty());
    let out = w.send(a, ClientMsg::P2pOffer { epoch, sdp: "v=0".into() });
    assert_eq!(error_of(&out, a), Some(ErrorCode::BadMessage), "one offer per attempt");
    let out = w.send(a, ClientMsg::P2pAnswer { epoch, sdp: "v=0".into() });
    assert_eq!(error_of(&out, a), Some(ErrorCode::BadMessage), "the offerer cannot answer");
    let big = "v".repeat(MAX_P2P_SDP_BYTES + 1);
    let out = w.send(b, ClientMsg::P2pAnswer { epoch, sdp: big });
    assert_eq!(error_of(&out, b), Some(ErrorCode::BadMessage), "too large");
    assert!(p2p_to(&out, a).is_empty());
    let out = w.send(b, candidate(&"x".repeat(MAX_P2P_CANDIDATE_BYTES + 1)));
    assert_eq!(error_of(&out, b), Some(ErrorCode::BadMessage));
    let out = w.send(b, candidate("a\nb"));
    assert_eq!(error_of(&out, b), Some(ErrorCode::BadMessage), "control characters");

    let out = w.send(b, ClientMsg::P2pAnswer { epoch, sdp: "v=0 answer".into() });
    assert_eq!(p2p_to(&out, a), [ServerMsg::P2pAnswer { epoch, from: "p2".into(), sdp: "v=0 answer".into() }]);

    // At most MAX_P2P_CANDIDATES per browser and attempt (one was sent above).
    let mut refused = 0;
    for i in 0..MAX_P2P_CANDIDATES {
        let out = w.send(b, candidate(&format!("candidate:{i}")));
        refused += usize::from(error_of(&out, b).is_some());
    }
    assert_eq!(refused, 1);
}

#[test]
fn when_both_play_direct_media_the_sfu_stops_forwarding_for_the_room() {
    let mut w = World::new();
    let (a, b, epoch) = w.connecting_pair("r");
    let out = w.send(a, ClientMsg::P2pReady { epoch });
    assert!(out.is_empty(), "one ready is not enough: {out:?}");
    let out = w.send(b, ClientMsg::P2pReady { epoch: epoch + 1 });
    assert!(out.is_empty(), "a wrong epoch does not count");
    let out = w.send(b, ClientMsg::P2pReady { epoch });
    assert_eq!(p2p_to(&out, a), [ServerMsg::P2pDirect { epoch }]);
    assert_eq!(p2p_to(&out, b), [ServerMsg::P2pDirect { epoch }]);
    assert_eq!(direct_commands(&out), [true]);
    assert!(matches!(&out[..], [.., Effect::Media(MediaCommand::Direct { room, .. })] if *room == w.room_of(a)));
    assert_eq!(w.phase(a), P2pPhase::Direct);
    assert_eq!(w.rooms.next_deadline(), None, "no timeout once direct");
    assert_eq!(w.rooms.p2p_counts(), (1, 1, 0));
    // The timeout that was set does not fire later.
    let out = w.tick_at(w.now + TIMEOUT * 2);
    assert!(out.is_empty());
}

#[test]
fn a_third_participant_ends_the_direct_call_and_two_again_wait_the_delay() {
    let mut w = World::new();
    let (a, b, epoch) = w.direct_pair("r");
    let (c, out) = w.join("r");
    assert_eq!(stop_of(&out, a), Some(P2pStopReason::Participants));
    assert_eq!(stop_of(&out, b), Some(P2pStopReason::Participants));
    assert!(p2p_to(&out, c).is_empty(), "the newcomer knows nothing of it");
    assert_eq!(direct_commands(&out), [false], "the SFU forwards again");
    assert_eq!(w.phase(a), P2pPhase::None);
    assert_eq!(w.rooms.next_deadline(), None);
    // Messages of the old attempt are dropped.
    assert!(w.send(a, ClientMsg::P2pReady { epoch }).is_empty());

    // Three to two: back to direct only after the delay.
    let t_left = w.now;
    w.send(c, ClientMsg::Leave {});
    assert_eq!(w.phase(a), P2pPhase::Waiting);
    assert_eq!(w.rooms.next_deadline(), Some(t_left + BACK));
    let out = w.tick_at(t_left + BACK - Duration::from_millis(1));
    assert!(p2p_to(&out, a).is_empty(), "not before the delay");
    let out = w.tick_at(t_left + BACK);
    let (again, _, offerer) = start_of(&out, a).expect("started again");
    assert!(again > epoch && offerer, "a new attempt");
    assert_eq!(w.phase(a), P2pPhase::Connecting);
}

#[test]
fn one_to_two_starts_soon_but_three_to_two_waits_even_for_a_new_pair() {
    let mut w = World::new();
    let (a, b, _) = w.direct_pair("r");
    // b leaves: a alone; the call ends.
    let out = w.send(b, ClientMsg::Leave {});
    assert_eq!(stop_of(&out, a), Some(P2pStopReason::Participants));
    assert_eq!(direct_commands(&out), [false]);
    assert_eq!(w.phase(a), P2pPhase::None);
    // Someone new: a join from one to two, after the arrival delay only.
    let (d, _) = w.join("r");
    assert_eq!(w.rooms.next_deadline(), Some(w.now + ARRIVE));
    let out = w.tick_at(w.now + ARRIVE);
    assert!(start_of(&out, d).is_some());
    // Three, then the earliest leaves: a new pair of two after the delay.
    let (e, _) = w.join("r");
    w.send(a, ClientMsg::Leave {});
    assert_eq!(w.phase(d), P2pPhase::Waiting);
    assert_eq!(w.rooms.next_deadline(), Some(w.now + BACK));
    let out = w.tick_at(w.now + BACK);
    assert_eq!(start_of(&out, d).map(|s| s.2), Some(true), "d came before e and offers");
    assert_eq!(start_of(&out, e).map(|s| s.2), Some(false));
}

#[test]
fn participants_arriving_together_get_no_direct_call_that_the_next_one_ends() {
    let mut w = World::new();
    // Three joins 80 ms apart: the two first are a pair for 80 ms only.
    let (a, _) = w.join("r");
    w.now += Duration::from_millis(80);
    let (b, _) = w.join("r");
    assert_eq!(w.phase(a), P2pPhase::Waiting);
    w.now += Duration::from_millis(80);
    let out = w.tick();
    assert!(out.is_empty(), "nothing is due 80 ms after the second join");
    let (c, out) = w.join("r");
    for s in [a, b, c] {
        assert!(p2p_to(&out, s).is_empty(), "no p2p_stop: no p2p_start was sent");
    }
    assert_eq!(w.phase(a), P2pPhase::None);
    assert_eq!(w.rooms.next_deadline(), None);
    let out = w.tick_at(w.now + BACK * 2);
    assert!(p2p_to(&out, a).is_empty() && p2p_to(&out, b).is_empty());
    assert_eq!(w.rooms.p2p_counts(), (0, 0, 0), "not one attempt");
}

#[test]
fn a_pair_that_does_not_connect_in_time_stays_on_the_sfu() {
    let mut w = World::new();
    let (a, b, epoch) = w.connecting_pair("r");
    w.send(a, ClientMsg::P2pReady { epoch });
    let started = w.now;
    let out = w.tick_at(started + TIMEOUT - Duration::from_millis(1));
    assert!(out.is_empty());
    let out = w.tick_at(started + TIMEOUT);
    assert_eq!(stop_of(&out, a), Some(P2pStopReason::Failed));
    assert_eq!(stop_of(&out, b), Some(P2pStopReason::Failed));
    assert!(direct_commands(&out).is_empty(), "the SFU never stopped");
    assert_eq!(w.phase(a), P2pPhase::Failed);
    assert_eq!(w.rooms.p2p_counts(), (0, 1, 1));
    // No new attempt for this pair, however long they stay.
    assert_eq!(w.rooms.next_deadline(), None);
    let out = w.tick_at(started + Duration::from_secs(3600));
    assert!(out.is_empty());
    // Late reports of the failed attempt change nothing.
    assert!(w.send(b, ClientMsg::P2pReady { epoch }).is_empty());
    // A change of membership gives a new pair its chance.
    w.send(b, ClientMsg::Leave {});
    w.join("r");
    assert_eq!(w.phase(a), P2pPhase::Waiting);
}

#[test]
fn a_browser_that_reports_failure_ends_even_a_direct_call() {
    let mut w = World::new();
    let (a, b, epoch) = w.connecting_pair("r");
    let out = w.send(b, ClientMsg::P2pFailed { epoch });
    assert_eq!(stop_of(&out, a), Some(P2pStopReason::Failed));
    assert_eq!(w.phase(a), P2pPhase::Failed);
    assert!(direct_commands(&out).is_empty());

    let (c, d, epoch) = w.direct_pair("r2");
    let out = w.send(c, ClientMsg::P2pFailed { epoch });
    assert_eq!(stop_of(&out, d), Some(P2pStopReason::Failed));
    assert_eq!(direct_commands(&out), [false], "forwarding resumes at once");
    assert_eq!(w.rooms.p2p_counts(), (0, 2, 2));
}

#[test]
fn disabled_direct_calls_never_start() {
    let mut w = World::with(settings(false));
    let (a, _) = w.join("r");
    let (b, out) = w.join("r");
    assert!(p2p_to(&out, a).is_empty() && p2p_to(&out, b).is_empty());
    assert_eq!(w.rooms.next_deadline(), None);
    assert_eq!(w.phase(a), P2pPhase::None);
    // Messages for a call that does not exist are ignored.
    assert!(w.send(a, ClientMsg::P2pOffer { epoch: 1, sdp: "v=0".into() }).is_empty());
}

#[test]
fn pairs_are_found_per_forwarding_room_as_participants_move_between_rooms() {
    let mut w = World::new();
    let (a, _) = w.join("main");
    let (b, _) = w.join("main");
    let (c, _) = w.join("main");
    let (d, _) = w.join("side");
    assert_eq!(w.phase(a), P2pPhase::None, "three in main");
    assert_eq!(w.phase(d), P2pPhase::None, "one in side");
    // A breakout-style move: c leaves main (three to two) and joins side
    // (one to two) in one step, through the room logic's extension points.
    let (main, side) = (w.room_of(a), w.room_of(d));
    let mut out = Vec::new();
    let member = w.rooms.remove_member(main, c, &mut out).expect("c was in main");
    w.rooms.admit(side, member, &mut out);
    w.rooms.settle_p2p(Clock { now: w.now, unix_ms: 0 }, &mut out);
    assert_eq!(w.rooms.p2p_phase(main), P2pPhase::Waiting);
    assert_eq!(w.rooms.p2p_phase(side), P2pPhase::Waiting);
    let out = w.tick_at(w.now + ARRIVE);
    assert!(start_of(&out, c).is_some() && start_of(&out, d).is_some(), "side starts after the arrival delay");
    assert!(start_of(&out, a).is_none(), "main waits the delay");
    let out = w.tick_at(w.now + BACK);
    assert_eq!(start_of(&out, a).map(|s| s.1), Some("p2".to_string()));
    assert_eq!(start_of(&out, b).map(|s| s.1), Some("p1".to_string()));
    // c's candidates reach d, never a or b.
    let epoch = w.rooms.p2p.rooms[&side].call.as_ref().and_then(Call::live_epoch).expect("side connecting");
    let out = w.send(
        c,
        ClientMsg::P2pCandidate { epoch, candidate: "candidate:1".into(), sdp_mid: None, sdp_m_line_index: None },
    );
    assert_eq!(p2p_to(&out, d).len(), 1);
    assert!(p2p_to(&out, a).is_empty() && p2p_to(&out, b).is_empty());
}

#[test]
fn shutdown_forgets_every_call() {
    let mut w = World::new();
    let (a, _, _) = w.direct_pair("r");
    let room = w.room_of(a);
    w.input(Input::Shutdown);
    assert_eq!(w.rooms.p2p_phase(room), P2pPhase::None);
    assert_eq!(w.rooms.next_deadline(), None);
}

#[test]
fn ending_the_meeting_leaves_no_direct_call_state_behind() {
    let mut w = World::new();
    let (a, _) = w.join("zwei");
    let (_b, _) = w.join("zwei");
    let key = w.rooms.sessions.get(&a).and_then(|s| s.room).expect("joined");
    assert_eq!(w.rooms.p2p_phase(key), P2pPhase::Waiting);
    assert!(w.rooms.next_deadline().is_some());
    w.input(Input::Message { session: a, msg: ClientMsg::EndMeeting {} });
    assert_eq!(w.rooms.p2p_phase(key), P2pPhase::None);
    assert_eq!(w.rooms.next_deadline(), None, "no timer of the ended call is left");
    // Nobody hears of it afterwards.
    w.now += Duration::from_secs(60);
    assert!(w.input(Input::Tick).is_empty());
}

#[test]
fn closing_breakout_rooms_ends_their_direct_calls_and_both_send_to_the_server_again() {
    let mut w = World::new();
    let (host, _) = w.join("team");
    let (a, _) = w.join("team");
    let (b, _) = w.join("team");
    let main = w.room_of(host);
    w.send(host, ClientMsg::BreakoutCreate { names: vec!["Pair".into()] });
    for s in [a, b] {
        w.send(host, ClientMsg::BreakoutAssign { id: format!("p{}", s.0), room: Some("b1".into()) });
    }
    let pair = w.room_of(a);
    assert_ne!(pair, main);
    let out = w.tick_at(w.now + ARRIVE);
    let epoch = start_of(&out, a).expect("the pair starts a direct call").0;
    w.send(a, ClientMsg::P2pReady { epoch });
    w.send(b, ClientMsg::P2pReady { epoch });
    assert_eq!(w.rooms.p2p_phase(pair), P2pPhase::Direct);

    let out = w.send(host, ClientMsg::BreakoutCloseAll {});
    for s in [a, b] {
        assert_eq!(w.room_of(s), main);
        assert_eq!(stop_of(&out, s), Some(P2pStopReason::Participants), "{s:?} is told to send to the server again");
    }
    assert_eq!(direct_commands(&out), [false], "the media engine forwards again");
    assert_eq!(w.rooms.p2p_phase(pair), P2pPhase::None);
}
