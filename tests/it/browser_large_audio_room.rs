//! A room of 100 with audio only: every participant receives audio on
//! `media.audio_slots` (3) audio slots, not on 99 m-lines
//! (docs/protocol.md, *Audio slots*). 99 synthetic participants publish
//! their microphone, two of them speaking (the silent ones send a packet
//! every 200 ms, like DTX: at 20 ms the in-process debug server, 99 peers
//! and Chromium overload the 2-core test machine); the 100th listens:
//! - a synthetic listener's plain subscribe answer is a few KB (it was
//!   ~85 KB with one m-line per microphone), it hears both speakers in its
//!   slots, and the slot map names them;
//! - the 64 KiB frame limit is still in force: a larger frame from that
//!   listener closes its connection with 1009;
//! - Chromium (the real browser client) as the 100th has three audio
//!   m-lines, a small answer, and decodes both speakers on the slots the
//!   map names for them.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use kabine::loadgen::{PeerConfig, SyntheticPeer};
use kabine::protocol::{ClientMsg, MAX_MESSAGE_BYTES, Source};
use kabine::stats::Stats;

use crate::support::{self, browser};

const ROOM: &str = "hundred";
const PUBLISHERS: usize = 99;

const SPEAKERS: [usize; 2] = [40, 77];
const SLOTS: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_person_audio_room_gives_listeners_three_audio_slots_with_the_speakers() {
    let _t = support::test();
    let _heavy = support::heavy().await;
    let config = support::test_config();
    assert_eq!(config.rooms.max_participants, 100, "the default room size is what this test fills");
    assert_eq!(config.media.audio_slots as usize, SLOTS);
    let server = support::start(config).await;
    let started = Instant::now();

    // 99 microphones, two speaking; they publish only (their subscribe
    // offers stay unanswered).
    let mut publishers = Vec::new();
    for chunk in (0..PUBLISHERS).collect::<Vec<_>>().chunks(10) {
        let joins = chunk.iter().map(|i| {
            let speaking = SPEAKERS.contains(i);
            let config = PeerConfig {
                video: false,
                answer_subscribe: false,
                audio_level: if speaking { 20 } else { 127 },
                audio_interval: Duration::from_millis(if speaking { 20 } else { 200 }),
                ..support::peer(&server, ROOM, &format!("Mic {i}"))
            };
            SyntheticPeer::join(config)
        });
        for joined in join_all(joins).await {
            publishers.push(joined.expect("a publisher joins"));
        }
    }
    let ids: Vec<String> = publishers.iter().map(|p| p.id()).collect();
    let speaker_ids: Vec<String> = SPEAKERS.iter().map(|i| ids[*i].clone()).collect();
    println!("{PUBLISHERS} publishers joined in {:?}", started.elapsed());

    // A synthetic listener, answering plain SDP like a client that does
    // not compact.
    let listener = SyntheticPeer::join(PeerConfig {
        audio: false,
        video: false,
        compact_answers: false,
        ..support::peer(&server, ROOM, "Listener")
    })
    .await
    .expect("joins");
    let hears_speakers = |r: &kabine::loadgen::PeerReport| {
        speaker_ids.iter().all(|id| {
            r.packets_from(id, Source::Mic) > 20 && r.audio_slots.iter().any(|s| s.participant.as_ref() == Some(id))
        })
    };
    let ok = listener.wait_for(Duration::from_secs(30), hears_speakers).await;
    let report = listener.report();
    assert!(ok, "slot map {:?}; errors {:?}, bye {:?}", report.audio_slots, report.errors, report.bye);
    let (plain_bytes, sent) = report.answer_bytes.expect("an answer was sent");
    assert_eq!(plain_bytes, sent, "sent as it is");
    assert!(plain_bytes < MAX_MESSAGE_BYTES / 8, "the plain answer stays small: {plain_bytes} bytes");
    assert_eq!(report.audio_slots.len(), SLOTS, "{:?}", report.audio_slots);
    assert_eq!(report.subscribe_sdp.matches("m=audio").count(), SLOTS);
    let heard: Vec<&String> = ids.iter().filter(|id| report.packets_from(id, Source::Mic) > 0).collect();
    assert!(heard.len() <= 2 * SLOTS, "the listener hears the slots, not the room: {} publishers", heard.len());
    let me = report.id.clone().unwrap_or_default();
    assert_eq!(report.participants.keys().filter(|id| **id != me).count(), PUBLISHERS, "a full room of 100");
    println!("synthetic listener: plain answer {plain_bytes} bytes, slots {:?}", report.audio_slots);

    // The frame limit holds: a frame over 64 KiB ends that connection with 1009.
    listener.send(ClientMsg::SubscribeAnswer { sdp: "a=x\r\n".repeat(MAX_MESSAGE_BYTES / 5 + 100) }).await;
    assert!(listener.wait_for(Duration::from_secs(10), |r| r.closed).await, "the oversized frame was not refused");
    assert_eq!(listener.report().close_code, Some(1009));
    listener.vanish().await;
    let gone = |name: &'static str| {
        move |r: &kabine::loadgen::PeerReport| !r.participants.values().any(|p| p.display_name == name)
    };
    assert!(publishers[0].wait_for(Duration::from_secs(10), gone("Listener")).await, "the closed participant left");

    // Chromium, the real client, as the 100th.
    let names: Vec<String> = SPEAKERS.iter().map(|i| format!("Mic {i}")).collect();
    let v = browser::run_in_turn(&support::base_url(&server), "large_audio_room", &[ROOM, &names.join(",")]).await;
    browser::assert_clean("large_audio_room", &v);
    let plain_bytes = v["answerBytes"]["plain"].as_u64().expect("answer sizes") as usize;
    let sent = v["answerBytes"]["sent"].as_u64().expect("answer sizes") as usize;
    assert!(plain_bytes < MAX_MESSAGE_BYTES / 4, "Chromium's answer stays small: {plain_bytes} bytes");
    assert!(sent <= plain_bytes, "compacted: {sent} bytes");
    assert_eq!(v["state"], "joined", "{v}");
    assert!(v["participants"].as_u64().unwrap_or(0) >= PUBLISHERS as u64, "the listener sees the room: {v}");
    assert_eq!(v["audioLines"], SLOTS, "three audio m-lines: {v}");
    assert_eq!(v["slots"].as_array().map(Vec::len), Some(SLOTS), "{v}");
    for name in &names {
        assert!(
            v["heard"].as_array().is_some_and(|h| h.iter().any(|x| x == name.as_str())),
            "Chromium decodes {name} on the slot the map names: {v}"
        );
    }
    println!(
        "Chromium: answer {plain_bytes} -> {sent} bytes, decodes both speakers after {} ms; slots {}; \
         still heard 3 s later: {}",
        v["ms"], v["slots"], v["heardLater"]
    );

    let stats = server.stats();
    assert_eq!(Stats::get(&stats.rooms_open), 1);
    for p in publishers {
        p.vanish().await;
    }
    assert!(server.stop().await, "stops in time");
}
