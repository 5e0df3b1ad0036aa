//! A room of 100 with audio only works under the 64 KiB signalling limit,
//! because subscribe answers are compacted (docs/protocol.md, *Compacted
//! subscribe answers*). 99 synthetic participants publish their microphone
//! (a packet every 200 ms, like DTX: at 20 ms the in-process debug server,
//! 99 peers and Chromium overload the 2-core test machine, see
//! docs/performance.md on audio-100); the 100th subscribes to all 99:
//! - a synthetic subscriber that sends str0m's plain answer (> 64 KiB) is
//!   closed with 1009 — the limit is in force, and the test can fail;
//! - a synthetic subscriber that compacts its answer receives every
//!   microphone;
//! - Chromium (the real browser client, whose plain answer is larger still)
//!   receives and decodes the audio of all 99.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use kabine::loadgen::{PeerConfig, SyntheticPeer};
use kabine::signal::protocol::{MAX_MESSAGE_BYTES, Source};
use kabine::stats::Stats;

use crate::support::{self, browser};

const ROOM: &str = "hundred";
const PUBLISHERS: usize = 99;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_person_audio_room_fits_the_64_kib_limit_for_synthetic_peers_and_chromium() {
    let _t = support::test();
    let _heavy = support::heavy().await;
    let config = support::test_config();
    assert_eq!(config.rooms.max_participants, 100, "the default room size is what this test fills");
    let server = support::start(config).await;
    let started = Instant::now();

    // 99 microphones; they publish only (their subscribe offers stay unanswered).
    let mut publishers = Vec::new();
    for chunk in (0..PUBLISHERS).collect::<Vec<_>>().chunks(10) {
        let joins = chunk.iter().map(|i| {
            let config = PeerConfig {
                video: false,
                answer_subscribe: false,
                audio_interval: Duration::from_millis(200),
                ..support::peer(&server, ROOM, &format!("Mic {i}"))
            };
            SyntheticPeer::join(config)
        });
        for joined in join_all(joins).await {
            publishers.push(joined.expect("a publisher joins"));
        }
    }
    let ids: Vec<String> = publishers.iter().map(|p| p.id()).collect();
    println!("{PUBLISHERS} publishers joined in {:?}", started.elapsed());

    let listener = |name: &str, compact: bool| PeerConfig {
        audio: false,
        video: false,
        compact_answers: compact,
        ..support::peer(&server, ROOM, name)
    };

    // The plain answer is over the limit: that connection, and only it, ends with 1009.
    let plain = SyntheticPeer::join(listener("Plain", false)).await.expect("joins");
    assert!(plain.wait_for(Duration::from_secs(30), |r| r.closed).await, "the plain answer was not refused");
    let report = plain.report();
    let (plain_bytes, _) = report.answer_bytes.expect("an answer was sent");
    assert!(plain_bytes > MAX_MESSAGE_BYTES, "str0m's plain answer for {PUBLISHERS} tracks: {plain_bytes} bytes");
    assert_eq!(report.close_code, Some(1009), "{report:?}");
    plain.vanish().await;
    let gone = |name: &'static str| {
        move |r: &kabine::loadgen::PeerReport| !r.participants.values().any(|p| p.display_name == name)
    };
    assert!(publishers[0].wait_for(Duration::from_secs(10), gone("Plain")).await, "the closed participant left");

    // Compacted, the 100th participant receives every microphone.
    let compact = SyntheticPeer::join(listener("Compact", true)).await.expect("joins");
    let all =
        compact.wait_for(Duration::from_secs(30), |r| ids.iter().all(|id| r.packets_from(id, Source::Mic) > 3)).await;
    let report = compact.report();
    let missing = ids.iter().filter(|id| report.packets_from(id, Source::Mic) <= 3).count();
    assert!(
        all,
        "{missing} of {PUBLISHERS} microphones did not arrive; closed: {:?}, bye: {:?}, errors: {:?}, answer: {:?}",
        report.close_code, report.bye, report.errors, report.answer_bytes
    );
    let (plain_bytes, sent) = report.answer_bytes.expect("an answer was sent");
    assert!(plain_bytes > MAX_MESSAGE_BYTES && sent < MAX_MESSAGE_BYTES / 2, "{plain_bytes} -> {sent} bytes");
    let me = report.id.clone().unwrap_or_default();
    assert_eq!(report.participants.keys().filter(|id| **id != me).count(), PUBLISHERS, "a full room of 100");
    println!("synthetic subscriber: answer {plain_bytes} -> {sent} bytes, all {PUBLISHERS} microphones arrive");
    compact.leave().await;
    assert!(publishers[0].wait_for(Duration::from_secs(10), gone("Compact")).await, "the subscriber left");

    // Chromium, the real client, as the 100th.
    let v =
        browser::run_in_turn(&support::base_url(&server), "large_audio_room", &[ROOM, &PUBLISHERS.to_string()]).await;
    browser::assert_clean("large_audio_room", &v);
    let plain_bytes = v["answerBytes"]["plain"].as_u64().expect("answer sizes") as usize;
    let sent = v["answerBytes"]["sent"].as_u64().expect("answer sizes") as usize;
    assert!(plain_bytes > MAX_MESSAGE_BYTES, "Chromium's own answer would not fit: {plain_bytes} bytes");
    assert!(sent < MAX_MESSAGE_BYTES, "compacted: {sent} bytes");
    assert_eq!(v["state"], "joined", "{v}");
    assert!(v["participants"].as_u64().unwrap_or(0) >= PUBLISHERS as u64, "the listener sees the room: {v}");
    assert_eq!(v["decoding"], PUBLISHERS, "Chromium decodes every microphone: {v}");
    // Not asserted: on a loaded machine the page has lost its signalling
    // connection (and rejoined) in the 3 s after decoding everyone; see
    // docs/performance.md. Printed for the record.
    let grew = v["grew"].as_u64().unwrap_or(0);
    println!(
        "Chromium: answer {plain_bytes} -> {sent} bytes, decodes all {PUBLISHERS} microphones after {} ms; \
         {grew} still growing 3 s later",
        v["ms"]
    );

    let stats = server.stats();
    assert_eq!(Stats::get(&stats.rooms_open), 1);
    for p in publishers {
        p.vanish().await;
    }
    assert!(server.stop().await, "stops in time");
}
