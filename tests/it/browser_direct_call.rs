//! Direct calls for two, in real headless Chromium: media goes straight
//! between the two browsers (end-to-end encrypted) while the server
//! forwards nothing for the room — shown by the server's counters and by a
//! capture of the media port (tshark) with no RTP on it, only STUN and
//! RTCP; a third participant brings everyone back to the server (aim:
//! within 3 s; the test allows 5 s on a loaded machine); when the third
//! leaves, the two go direct again within the configured delay plus 3 s.
//! No switch leaves a video without a new frame for more than 1.5 s. With direct calls forbidden by policy, or when the
//! direct connection cannot connect, the call stays on the server.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kabine::stats::Stats;
use serde_json::Value;

use crate::support::{self, browser};

/// `p2p.back_to_p2p_delay_ms` in these tests (5000 by default).
const BACK_DELAY_MS: u64 = 2000;

/// From the third's join until everyone decodes everyone via the server.
const THIRD_LIMIT_MS: u64 = 5000;

/// The longest a video may go without a new frame across a switch (the
/// aim: none visible; a black or frozen tile for seconds fails).
const FREEZE_LIMIT_MS: u64 = 1500;

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// One look at the server's counters.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: u64,
    packets_out: u64,
    packets_in: u64,
    direct_rooms: u64,
}

/// Samples the counters every 50 ms until the returned handle is aborted.
fn sample(stats: Arc<Stats>) -> (Arc<std::sync::Mutex<Vec<Sample>>>, tokio::task::JoinHandle<()>) {
    let samples = Arc::new(std::sync::Mutex::new(Vec::new()));
    let into = Arc::clone(&samples);
    let task = tokio::spawn(async move {
        loop {
            let s = Sample {
                at: now_ms(),
                packets_out: Stats::get(&stats.packets_out),
                packets_in: Stats::get(&stats.packets_in),
                direct_rooms: Stats::get(&stats.p2p_direct_rooms),
            };
            into.lock().unwrap_or_else(|p| p.into_inner()).push(s);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    (samples, task)
}

fn window(samples: &[Sample], from: u64, to: u64) -> Vec<Sample> {
    samples.iter().copied().filter(|s| s.at >= from && s.at <= to).collect()
}

fn phase(v: &Value, path: &[&str]) -> u64 {
    let mut x = &v["phases"];
    for p in path {
        x = &x[*p];
    }
    x.as_u64().unwrap_or_else(|| panic!("phase {path:?} in {}", v["phases"]))
}

/// A running capture of the media port's datagrams (first bytes only).
struct Capture {
    child: tokio::process::Child,
    file: std::path::PathBuf,
}

impl Capture {
    async fn start(port: u16, dir: &std::path::Path) -> Capture {
        let tshark = support::require_tool("tshark", "tshark");
        let file = dir.join("media-port.pcap");
        let mut child = tokio::process::Command::new(tshark)
            .args(["-i", "lo", "-f", &format!("udp port {port}"), "-s", "96", "-F", "pcap", "-q", "-w"])
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("tshark starts");
        // tshark says "Capturing on 'Loopback: lo'" once it listens.
        use tokio::io::AsyncBufReadExt;
        let stderr = child.stderr.take().expect("stderr piped");
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        let ready = tokio::time::timeout(Duration::from_secs(20), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("Capturing on") {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(ready, Ok(true), "tshark did not start capturing on lo");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Capture { child, file }
    }

    /// Stops the capture and returns (time in ms, payload's first bytes) per datagram.
    async fn stop(mut self) -> Vec<(u64, Vec<u8>)> {
        if let Some(pid) = self.child.id() {
            // SIGINT: tshark finishes writing the file.
            let _ = std::process::Command::new("kill").args(["-INT", &pid.to_string()]).status();
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
        let out = std::process::Command::new("tshark")
            .args(["-r"])
            .arg(&self.file)
            .args(["-T", "fields", "-e", "frame.time_epoch", "-e", "udp.payload"])
            .output()
            .expect("tshark reads the capture");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let (t, payload) = l.split_once('\t')?;
                let ms = (t.parse::<f64>().ok()? * 1000.0) as u64;
                let bytes = (0..payload.len() / 2)
                    .take(4)
                    .filter_map(|i| u8::from_str_radix(payload.get(2 * i..2 * i + 2)?, 16).ok())
                    .collect();
                Some((ms, bytes))
            })
            .collect()
    }
}

/// What a datagram on the media port is (RFC 7983, RFC 5761).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Stun,
    Dtls,
    Rtp,
    Rtcp,
    Other,
}

fn kind(payload: &[u8]) -> Kind {
    match payload {
        [0..=3, ..] => Kind::Stun,
        [20..=63, ..] => Kind::Dtls,
        [128..=191, 192..=223, ..] => Kind::Rtcp,
        [128..=191, ..] => Kind::Rtp,
        _ => Kind::Other,
    }
}

fn count(datagrams: &[(u64, Vec<u8>)], from: u64, to: u64, k: Kind) -> usize {
    datagrams.iter().filter(|(t, p)| *t >= from && *t <= to && kind(p) == k).count()
}

/// Around `switch`, `who` switched the video shown for `other` (once or
/// more, if `must_switch`) and no switch left it without a new frame for
/// more than [`FREEZE_LIMIT_MS`].
fn assert_seamless_switch(v: &Value, who: &str, other: &str, switch: &str, must_switch: bool) {
    let g = &v["gaps"][who][switch][other];
    let switches =
        g["switches"].as_array().unwrap_or_else(|| panic!("{who} watched {other} at {switch}: {}", v["gaps"]));
    assert!(!switches.is_empty() || !must_switch, "{who} never switched {other}'s video at {switch}: {g}");
    for s in switches {
        let gap = s["gapMs"].as_u64().expect("gapMs");
        assert!(gap <= FREEZE_LIMIT_MS, "{who}: {other}'s video froze for {gap} ms at the switch {switch}: {g}");
    }
}

/// `who` kept showing the same video of `other` throughout, and it played.
fn assert_unswitched_and_playing(v: &Value, who: &str, other: &str) {
    let g = &v["gaps"][who]["all"][other];
    assert_eq!(g["switches"], serde_json::json!([]), "{who} switched {other}'s video: {g}");
    let frames = g["frames"].as_u64().unwrap_or(0);
    assert!(frames > 10 * 9, "{who} saw only {frames} frames of {other} in 9 s: {g}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_talk_directly_while_the_server_forwards_nothing_and_a_third_brings_everyone_back() {
    let _t = support::test();
    let mut config = support::test_config();
    config.p2p.back_to_p2p_delay_ms = BACK_DELAY_MS;
    let server = support::start(config).await;
    let stats = server.stats();
    let capture = Capture::start(server.media_addr().port(), &support::output_dir("p2p-capture")).await;
    let (samples, sampler) = sample(stats.clone());
    let v = browser::run(&server, "p2p", &[&BACK_DELAY_MS.to_string()]).await;
    sampler.abort();
    let datagrams = capture.stop().await;
    browser::assert_clean("p2p", &v);
    let samples = samples.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert_eq!(
        v["generations"],
        serde_json::json!([1, 1]),
        "a page lost its signalling connection during the test; the server's account:\n{}",
        support::connection_endings()
    );

    // Both direct phases: the room is direct and not one media packet is
    // forwarded (or even received) by the server.
    for (label, w) in [("first", "direct1"), ("second", "direct2")] {
        // From half a second after both said "direct": packets in flight
        // when the browsers stopped sending have arrived by then.
        let (from, to) = (phase(&v, &[w, "from"]) + 500, phase(&v, &[w, "to"]));
        let inside = window(&samples, from, to);
        assert!(inside.len() > 20, "{label} direct phase: {} samples", inside.len());
        assert!(inside.iter().all(|s| s.direct_rooms == 1), "{label} direct phase: the room is direct throughout");
        let (first, last) = (inside[0], inside[inside.len() - 1]);
        assert_eq!(last.packets_out - first.packets_out, 0, "{label} direct phase: the server forwarded media");
        assert_eq!(
            last.packets_in - first.packets_in,
            0,
            "{label} direct phase: browsers still sent media to the server"
        );
        // The capture agrees: no RTP on the media port, only STUN (consent
        // checks) and RTCP.
        assert_eq!(count(&datagrams, from, to - 300, Kind::Rtp), 0, "{label} direct phase: RTP on the media port");
    }
    // The capture saw the call: media while on the server, STUN and RTCP
    // while direct (so an empty capture cannot pass).
    let (all_server, left) = (phase(&v, &["allServer"]), phase(&v, &["left"]));
    assert!(count(&datagrams, all_server, left, Kind::Rtp) > 300, "media via the server was captured");
    let control: usize =
        [("direct1", Kind::Stun), ("direct1", Kind::Rtcp), ("direct2", Kind::Stun), ("direct2", Kind::Rtcp)]
            .iter()
            .map(|(w, k)| count(&datagrams, phase(&v, &[w, "from"]), phase(&v, &[w, "to"]), *k))
            .sum();
    assert!(control > 0, "STUN and RTCP kept the server connections alive while direct");

    // Three: via the server, forwarding again.
    let three = window(&samples, all_server, left);
    assert!(three.iter().all(|s| s.direct_rooms == 0));
    assert!(three[three.len() - 1].packets_out > three[0].packets_out, "the server forwards for three");

    // The browsers learnt their address from Kabine's own STUN port.
    assert!(Stats::get(&stats.stun_bindings_answered) > 0, "no STUN binding request reached the server");
    assert_eq!(Stats::get(&stats.p2p_failures), 0);

    let ms = &v["ms"];
    let third = ms["thirdFromJoined"].as_u64().expect("ms");
    // The aim is under 3 s (measured 1.3-2.4 s); the limit leaves room for
    // a loaded 2-core CI machine, and a switch that hangs still fails it.
    assert!(third <= THIRD_LIMIT_MS, "the third joined and everyone decoded everyone via the server after {third} ms");
    let back = ms["backToDirect"].as_u64().expect("ms");
    assert!(back <= BACK_DELAY_MS + 3000, "back to direct after {back} ms (delay {BACK_DELAY_MS} ms)");
    for (who, other) in [("Anna Berg", "Ben Okafor"), ("Ben Okafor", "Anna Berg")] {
        // At the very start the direct streams may play before the
        // server's ever did: then there is nothing to switch.
        assert_seamless_switch(&v, who, other, "toDirect", false);
        assert_seamless_switch(&v, who, other, "toServer", true);
        assert_seamless_switch(&v, who, other, "backToDirect", true);
    }
    // The status says so, in words.
    for m in v["shown"]["direct"]
        .as_array()
        .expect("modes")
        .iter()
        .chain(v["shown"]["directAgain"].as_array().expect("modes"))
    {
        assert_eq!(m["text"], "Direct connection, end-to-end encrypted", "{m}");
        assert_eq!(m["hidden"], false);
    }
    for m in v["shown"]["server"].as_array().expect("modes") {
        assert_eq!(m["text"], "Via the server, encrypted in transit", "{m}");
    }
    println!(
        "direct call: direct {} ms after joining; third decoded by all via the server {} ms after joining ({} ms after \
         the click); back to direct {} ms after the third left (delay {BACK_DELAY_MS} ms); freezes: {}; capture: {} \
         datagrams; padding held back while direct: {} datagrams",
        ms["toDirect"],
        third,
        ms["thirdFromClick"],
        back,
        v["gaps"],
        datagrams.len(),
        Stats::get(&stats.p2p_rtp_suppressed)
    );
    assert!(server.stop().await);
}

/// Runs `p2p_stay` (two participants; `block` drops every direct candidate
/// in the test browsers) and checks the call stayed on the server.
async fn stays_on_the_server(server: &kabine::server::RunningServer, args: &[&str]) -> Value {
    let stats = server.stats();
    let v = browser::run(server, "p2p_stay", args).await;
    browser::assert_clean("p2p_stay", &v);
    assert_eq!(v["everDirect"], false, "a page went direct: {}", v["modes"]);
    assert_eq!(v["directTracks"], false, "a page played a direct track");
    for m in v["modes"].as_array().expect("modes") {
        assert_eq!(m["text"], "Via the server, encrypted in transit", "{m}");
    }
    for (who, other) in [("Dora Vogel", "Emil Hahn"), ("Emil Hahn", "Dora Vogel")] {
        assert_unswitched_and_playing(&v, who, other);
    }
    assert_eq!(Stats::get(&stats.p2p_direct_rooms), 0);
    assert!(Stats::get(&stats.packets_out) > 500, "the server forwarded the call");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_direct_calls_forbidden_by_policy_two_participants_use_the_server_from_the_start() {
    let _t = support::test();
    let policy = kabine::policy::Policy::from_preset("strict-no-p2p").expect("preset");
    let server = support::start_with_policy(support::test_config(), policy).await;
    let v = stays_on_the_server(&server, &[]).await;
    let stats = server.stats();
    assert_eq!(Stats::get(&stats.p2p_attempts), 0, "no direct call was even tried");
    assert_eq!(v["directCalls"], false, "the client is told direct calls are off");
    assert_eq!(Stats::get(&stats.stun_bindings_answered), 0, "the STUN responder is off without direct calls");
    println!("P2P forbidden: via the server throughout; freezes: {}", v["gaps"]);
    assert!(server.stop().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_connection_that_cannot_connect_leaves_the_call_on_the_server_unnoticed() {
    let _t = support::test();
    let server = support::start(support::test_config()).await;
    let v = stays_on_the_server(&server, &["block"]).await;
    let stats = server.stats();
    assert_eq!(Stats::get(&stats.p2p_attempts), 1, "a direct call was tried");
    assert_eq!(Stats::get(&stats.p2p_failures), 1, "and given up");
    assert!(v["dropped"].as_u64().unwrap_or(0) > 0, "the test browsers dropped direct candidates: {}", v["dropped"]);
    println!("P2P blocked: stayed via the server; {} candidates dropped; freezes: {}", v["dropped"], v["gaps"]);
    assert!(server.stop().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moderators_mute_holds_in_a_direct_call_against_a_client_that_ignores_it() {
    let _t = support::test();
    let server = support::start(support::test_config()).await;
    let v = browser::run(&server, "p2p_mute", &[]).await;
    browser::assert_clean("p2p_mute", &v);
    assert_eq!(v["isModerator"], true, "the first to join moderates");
    assert_eq!(
        v["generations"],
        serde_json::json!([1, 1]),
        "a page lost its signalling connection during the test; the server's account:\n{}",
        support::connection_endings()
    );
    assert_eq!(v["before"]["mode"], "direct");
    assert_eq!(v["before"]["playing"], 1, "before the mute the peer's microphone plays: {}", v["before"]);
    // The modified client really sends sound, and it arrives...
    assert!(v["sentEnergy"].as_f64().unwrap_or(0.0) > 0.0, "the muted page kept capturing sound: {}", v["sentEnergy"]);
    let arriving = v["muted"]["packets"].as_u64().unwrap_or(0) > v["muted0"]["packets"].as_u64().unwrap_or(u64::MAX);
    assert!(arriving, "its packets still reach the moderator directly: {} -> {}", v["muted0"], v["muted"]);
    assert_eq!(v["muted"]["mode"], "direct", "the call stayed direct");
    // ...but the moderator's browser does not play it.
    assert_eq!(v["shownMic"], false, "the server shows the microphone off");
    assert_eq!(v["muted"]["playing"], 0, "nothing plays the muted microphone: {}", v["muted"]);
    assert_eq!(v["muted"]["listed"], false, "the muted microphone is not among the call's tracks");
    // Turned on again the proper way, it plays again.
    assert_eq!(v["after"]["playing"], 1, "after unmuting it plays again: {}", v["after"]);
    assert!(server.stop().await);
}
