//! The engine as a whole: demultiplexing, refusals, and what a leave
//! leaves behind.

use str0m::ice::{StunMessage, TransId};

use super::*;
use crate::protocol::PublishedTrack;

fn engine(now: Instant) -> Engine {
    let config = EngineConfig {
        candidates: vec!["127.0.0.1:10000".parse().expect("addr")],
        tcp_candidates: Vec::new(),
        last_n: 0,
        audio_slots: 3,
    };
    let cert = crate::sfu::dtls_certificate().expect("certificate");
    Engine::new(config, cert, Arc::new(Stats::default()), now)
}

fn join(e: &mut Engine, now: Instant, session: u64) -> SessionId {
    let session = SessionId(session);
    e.handle_command(now, MediaCommand::Join { session, room: RoomKey(1), participant: format!("p{}", session.0) });
    session
}

#[test]
fn rtp_is_told_apart_from_rtcp_stun_and_dtls() {
    // VP8 with and without the marker bit, RTX, Opus.
    for second in [96u8, 96 | 0x80, 97, 111 | 0x80] {
        assert!(is_rtp(&[0x80, second, 0, 1]), "payload type byte {second}");
    }
    // RTCP sender report, receiver report, feedback; STUN; DTLS; empty.
    for datagram in [&[0x80u8, 200, 0, 6][..], &[0x81, 201], &[0x8f, 205], &[0, 1, 0, 0], &[22, 254, 253], &[]] {
        assert!(!is_rtp(datagram), "{datagram:?}");
    }
}

#[test]
fn datagrams_nobody_claims_leave_no_state() {
    let now = Instant::now();
    let mut e = engine(now);
    join(&mut e, now, 1);
    let ufrag = e.demux.ufrags().pop().expect("the subscribe connection's ufrag");
    let forged = |username: &str| {
        let mut buf = vec![0u8; 1500];
        let msg = StunMessage::binding_request(username, TransId::new(), true, 1, 1, false);
        let n = msg.to_bytes(Some(b"not the password"), &mut buf, |_, _| [7; 20]).expect("serialize");
        buf.truncate(n);
        buf
    };
    let attacker: SocketAddr = "192.0.2.9:4444".parse().expect("addr");
    for data in [
        forged(&format!("{ufrag}:x")),
        forged("unknown:x"),
        vec![0x80, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3],
        vec![22, 254, 253, 0, 0],
        vec![],
        vec![255; 40],
    ] {
        e.handle_datagram(now, attacker, &data);
    }
    assert_eq!(e.address_count(), 0);
    assert_eq!(Stats::get(&e.stats.stun_refused), 1, "the forged request met the credential check");
    assert_eq!(Stats::get(&e.stats.datagrams_unclaimed), 5);
    assert_eq!(e.peer_count(), 1);
}

#[test]
fn a_bad_publish_offer_is_refused_and_creates_nothing() {
    let now = Instant::now();
    let mut e = engine(now);
    let s = join(&mut e, now, 1);
    let connections = Stats::get(&e.stats.peer_connections);
    for sdp in ["", "v=0", "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendonly\r\n"] {
        let tracks = vec![PublishedTrack { mid: "0".into(), source: Source::Mic }];
        e.handle_command(now, MediaCommand::PublishOffer { session: s, sdp: sdp.into(), tracks });
        assert!(matches!(&e.take_events()[..], [MediaEvent::SdpRefused { session, .. }] if *session == s), "{sdp:?}");
    }
    assert_eq!(Stats::get(&e.stats.peer_connections), connections);
    assert!(e.peers[&s].publish.is_none());
    assert_eq!(e.demux.connection_count(), 1, "only the subscribe connection");
}

#[test]
fn leaving_forgets_every_connection_timeout_and_address() {
    let now = Instant::now();
    let mut e = engine(now);
    let a = join(&mut e, now, 1);
    let b = join(&mut e, now, 2);
    e.handle_timeout(now + Duration::from_millis(500));
    for s in [a, b] {
        e.handle_command(now, MediaCommand::Leave { session: s });
    }
    assert_eq!(e.peer_count(), 0);
    assert!(e.deadlines.is_empty() && e.graces.is_empty() && e.work.is_empty());
    assert_eq!((e.demux.connection_count(), e.address_count()), (0, 0));
    assert!(e.rooms.is_empty());
    assert_eq!(Stats::get(&e.stats.peer_connections), 0);
}

/// A publisher in a room that talks directly sends nothing to the server;
/// moved into a room that does not (a breakout room closes), the wait for
/// its media starts at the move, not at its last packet before the call.
#[test]
fn moving_out_of_a_direct_room_starts_the_wait_for_media_afresh() {
    let t0 = Instant::now();
    let s = Duration::from_secs(1);
    let mut e = engine(t0);
    let breakout = RoomKey(2);
    let ada = SessionId(1);
    e.handle_command(t0, MediaCommand::Join { session: ada, room: breakout, participant: "ada".into() });
    e.handle_command(t0, MediaCommand::Join { session: SessionId(2), room: breakout, participant: "bob".into() });
    let mut publish = e.new_pc(t0, RtcKey { session: ada, side: Side::Publish });
    publish.connected = Some(t0);
    let mut meter = RateMeter::default();
    meter.add(t0, 100);
    let peer = e.peers.get_mut(&ada).expect("ada");
    peer.publish = Some(publish);
    peer.tracks.push(InTrack {
        mid: Mid::from("0"),
        source: Source::Mic,
        kind: MediaKind::Audio,
        simulcast: false,
        meters: [meter, RateMeter::default(), RateMeter::default()],
        cap: Default::default(),
    });
    e.handle_command(t0, MediaCommand::Sending { session: ada, mic: true, camera: false, screen: false });
    e.handle_command(t0 + s, MediaCommand::Direct { room: breakout, direct: true });
    let stalled = |e: &mut Engine| {
        e.take_events().iter().any(|ev| matches!(ev, MediaEvent::Stalled { session, .. } if *session == ada))
    };
    e.handle_timeout(t0 + 9 * s);
    assert!(!stalled(&mut e), "reported while the room talks directly");

    e.handle_command(t0 + 10 * s, MediaCommand::Move { session: ada, room: RoomKey(1) });
    e.handle_timeout(t0 + 11 * s);
    assert!(!stalled(&mut e), "reported at once after the move, for the silence of the direct call");
    e.handle_timeout(t0 + 16 * s);
    assert!(stalled(&mut e), "nothing arrives for the wait after the move: reported");
}
