//! Audio slots (docs/protocol.md, *Audio slots*) with real str0m peers
//! through the SFU: in a room larger than `media.audio_slots` + 1 a
//! listener hears the speakers in its 3 slots and not the silent rest; the
//! slot map names who is heard (every audio payload of a synthetic peer
//! names its publisher, so the map is checked against what arrives); a
//! switch keeps the slot one continuous RTP stream; nobody loses a slot in
//! a talkspurt; a muted participant leaves its slot at once; and joins and
//! leaves renegotiate nothing at the listener. Lip sync: in a room of
//! three, each slot's msid stream is its occupant's camera stream (slots
//! of a large room stay neutral).

use std::collections::HashMap;
use std::time::Duration;

use kabine::loadgen::{PeerConfig, PeerReport, SyntheticPeer};
use kabine::protocol::{ClientMsg, Source};

use crate::support;

const ROOM: &str = "slots";
const LOUD: u8 = 20;
const SILENT: u8 = 127;

async fn publisher(server: &kabine::server::RunningServer, name: &str, level: u8) -> SyntheticPeer {
    let config =
        PeerConfig { video: false, answer_subscribe: false, audio_level: level, ..support::peer(server, ROOM, name) };
    SyntheticPeer::join(config).await.expect("a publisher joins")
}

/// Who the slot map names now.
fn heard(r: &PeerReport) -> Vec<String> {
    r.audio_slots.iter().filter_map(|s| s.participant.clone()).collect()
}

/// Each media section's `a=msid` (stream id, track id), by mid.
fn msids(sdp: &str) -> HashMap<String, (String, String)> {
    let mut out = HashMap::new();
    for section in sdp.split("\r\nm=").skip(1) {
        let line = |prefix: &str| section.lines().find_map(|l| l.strip_prefix(prefix).map(str::to_string));
        if let (Some(mid), Some(msid)) = (line("a=mid:"), line("a=msid:")) {
            let (stream, track) = msid.split_once(' ').expect("a=msid has a stream and a track id");
            out.insert(mid, (stream.to_string(), track.to_string()));
        }
    }
    out
}

/// Audio packets of `from` that `at` receives over `window`.
async fn flow(at: &SyntheticPeer, from: &str, window: Duration) -> u64 {
    let before = at.report().packets_from(from, Source::Mic);
    tokio::time::sleep(window).await;
    at.report().packets_from(from, Source::Mic) - before
}

/// Every slot carried one continuous stream: no sequence number went
/// backwards or skipped more than a stray lost datagram, no timestamp went
/// backwards, whoever was heard on it.
fn assert_continuous(r: &PeerReport) {
    for (mid, s) in &r.slots {
        assert_eq!(s.seq_backwards, 0, "slot {mid}: sequence numbers went backwards: {s:?}");
        assert!(s.seq_gaps <= 2, "slot {mid}: sequence numbers jumped: {s:?}");
        assert_eq!(s.ts_backwards, 0, "slot {mid}: timestamps went backwards or leapt: {s:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loudest_are_heard_in_three_slots_and_switches_keep_each_stream_continuous() {
    let _t = support::test();
    let _heavy = support::heavy().await;
    let config = support::test_config();
    assert_eq!(config.media.audio_slots, 3, "the default this test is written for");
    let server = support::start(config).await;
    let stats = server.stats();

    // K + 2 = 5 publishers: two speak, three are silent.
    let p0 = publisher(&server, "P0", LOUD).await; // first: the moderator
    let p1 = publisher(&server, "P1", LOUD).await;
    let p2 = publisher(&server, "P2", SILENT).await;
    let p3 = publisher(&server, "P3", SILENT).await;
    let p4 = publisher(&server, "P4", SILENT).await;
    let ids: Vec<String> = [&p0, &p1, &p2, &p3, &p4].iter().map(|p| p.id()).collect();
    let listener = SyntheticPeer::join(PeerConfig { audio: false, video: false, ..support::peer(&server, ROOM, "L") })
        .await
        .expect("the listener joins");

    // Three slots: the two speakers, and P2 (silent, first in join order).
    assert!(
        listener
            .wait_for(Duration::from_secs(20), |r| {
                let h = heard(r);
                r.audio_slots.len() == 3 && h.contains(&ids[0]) && h.contains(&ids[1]) && h.contains(&ids[2])
            })
            .await,
        "slot map: {:?}",
        listener.report().audio_slots
    );
    assert!(
        listener.wait_for(Duration::from_secs(20), |r| (0..3).all(|i| r.packets_from(&ids[i], Source::Mic) > 20)).await,
        "the three in the slots are heard: {:?}",
        listener.report().received.keys().collect::<Vec<_>>()
    );
    let report = listener.report();
    assert_eq!(report.subscribe_sdp.matches("m=audio").count(), 3, "three audio m-lines for five microphones");
    // Made for a room of five: the slots carry different people over time,
    // so their msids name nobody.
    let names = msids(&report.subscribe_sdp);
    for slot in &report.audio_slots {
        let (stream, track) = &names[&slot.mid];
        assert!(stream.starts_with("kabine-audio-") && stream == track, "slot {}: msid {stream} {track}", slot.mid);
    }
    assert!(report.subscribed.iter().all(|t| t.source != Source::Mic), "audio is not in `tracks`");
    for silent in [&ids[3], &ids[4]] {
        assert_eq!(report.packets_from(silent, Source::Mic), 0, "a silent participant outside the slots");
        assert!(!heard(&report).contains(silent));
    }
    let mismatches = report.slot_mismatches;

    // Joins and leaves beyond K + 1 change no m-line at the listener.
    let offers = report.subscribe_offers;
    let p5 = publisher(&server, "P5", SILENT).await;
    assert!(p0.wait_for(Duration::from_secs(10), |r| r.participants.len() == 6).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    p5.leave().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(listener.report().subscribe_offers, offers, "a join and a leave renegotiated the listener");

    // P0 goes quiet, P4 speaks: once P0's talkspurt is over P4 takes the
    // slot of the silent occupant who spoke least recently (P2), not P0's.
    p0.set_audio_level(SILENT).await;
    p4.set_audio_level(LOUD).await;
    assert!(
        listener
            .wait_for(Duration::from_secs(10), |r| {
                let h = heard(r);
                h.contains(&ids[4]) && h.contains(&ids[1]) && h.contains(&ids[0]) && !h.contains(&ids[2])
            })
            .await,
        "slot map: {:?}",
        listener.report().audio_slots
    );
    assert!(flow(&listener, &ids[4], Duration::from_secs(1)).await > 20, "P4 is heard");
    assert_eq!(flow(&listener, &ids[2], Duration::from_millis(500)).await, 0, "P2 is not heard any more");
    let report = listener.report();
    let switched = report.slots.values().find(|s| s.publishers.contains(&ids[4])).expect("P4's slot");
    assert_eq!(switched.publishers, [ids[2].clone(), ids[4].clone()], "the slot went from P2 to P4");
    assert_continuous(&report);

    // All three occupants speak: a new voice waits for a free slot, even
    // a louder one.
    p0.set_audio_level(LOUD).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    p3.set_audio_level(0).await;
    assert_eq!(flow(&listener, &ids[3], Duration::from_secs(2)).await, 0, "P3 took a slot in someone's talkspurt");
    assert!(!heard(&listener.report()).contains(&ids[3]));
    // P1 stops: P3 gets P1's slot.
    p1.set_audio_level(SILENT).await;
    assert!(
        listener.wait_for(Duration::from_secs(10), |r| heard(r).contains(&ids[3]) && !heard(r).contains(&ids[1])).await,
        "slot map: {:?}",
        listener.report().audio_slots
    );
    assert!(flow(&listener, &ids[3], Duration::from_secs(1)).await > 20, "P3 is heard");

    // The moderator mutes P4, who is speaking: out of its slot at once, and
    // not heard; its slot goes to the next in line (P1, the most recent).
    p0.send(ClientMsg::Mute { id: ids[4].clone(), source: Source::Mic }).await;
    assert!(
        listener.wait_for(Duration::from_secs(5), |r| !heard(r).contains(&ids[4]) && heard(r).contains(&ids[1])).await,
        "slot map: {:?}",
        listener.report().audio_slots
    );
    assert_eq!(flow(&listener, &ids[4], Duration::from_secs(1)).await, 0, "a muted participant is not heard");

    let report = listener.report();
    assert_continuous(&report);
    // The map and the payloads agree, but for packets in flight while the
    // map message overtook them or lagged behind (a few per switch).
    let late = report.slot_mismatches - mismatches;
    assert!(late <= 20, "packets on a slot the map did not name: {late}");
    assert!(kabine::stats::Stats::get(&stats.audio_slot_switches) >= 5);
    println!(
        "slots: {:?}; slot map messages {}, mismatched packets {}",
        report.slots.values().map(|s| (s.packets, s.publishers.len())).collect::<Vec<_>>(),
        report.audio_slot_maps,
        report.slot_mismatches
    );

    listener.leave().await;
    for p in [p0, p1, p2, p3, p4] {
        p.leave().await;
    }
    assert!(server.stop().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_room_of_three_each_slot_shares_its_occupants_camera_msid_stream() {
    let _t = support::test();
    let _heavy = support::heavy().await;
    let server = support::start(support::test_config()).await;
    let mut peers = Vec::new();
    for name in ["A", "B", "C"] {
        let config = PeerConfig { audio_level: LOUD, ..support::peer(&server, "lipsync", name) };
        peers.push(SyntheticPeer::join(config).await.expect("a participant joins"));
    }
    // Everyone talks at once, joined in different orders: the slots must
    // follow their names, not the ranking.
    for (i, at) in peers.iter().enumerate() {
        let others: Vec<String> = peers.iter().filter(|p| p.id() != at.id()).map(|p| p.id()).collect();
        let settled = at
            .wait_for(Duration::from_secs(20), |r| {
                r.audio_slots.len() == 2
                    && others.iter().all(|o| heard(r).contains(o))
                    && r.subscribed.iter().filter(|t| t.source == Source::Camera).count() == 2
                    && r.subscribe_sdp.matches("m=audio").count() == 2
            })
            .await;
        let report = at.report();
        assert!(settled, "participant {i}: slot map {:?}, tracks {:?}", report.audio_slots, report.subscribed);
        let names = msids(&report.subscribe_sdp);
        for other in &others {
            let camera = report
                .subscribed
                .iter()
                .find(|t| t.source == Source::Camera && &t.participant == other)
                .expect("the other's camera m-line");
            let slot = report
                .audio_slots
                .iter()
                .find(|s| s.participant.as_ref() == Some(other))
                .expect("the other's audio slot");
            let (camera_stream, camera_track) = &names[&camera.mid];
            let (slot_stream, slot_track) = &names[&slot.mid];
            assert_eq!(
                slot_stream, camera_stream,
                "participant {i}: the slot of {other} is in its camera's sync group"
            );
            assert_ne!(slot_track, camera_track, "track ids stay unique");
        }
        let tracks: Vec<&String> = names.values().map(|(_, t)| t).collect();
        let mut unique = tracks.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), tracks.len(), "duplicate msid track ids: {names:?}");
        // And the audio on each slot is its namesake's.
        for other in &others {
            assert!(flow(at, other, Duration::from_millis(500)).await > 5, "participant {i} hears {other}");
        }
        assert_eq!(report.slot_mismatches, 0, "packets on a slot the map did not name");
    }
    for p in peers {
        p.leave().await;
    }
    assert!(server.stop().await);
}
