//! `kabine-bench record`: the recorder's CPU cost per recorded participant.
//!
//! A 4-person room, every participant recorded: per participant Opus at 50
//! packets/s (120-byte payloads) and VP8 camera video at 30 frames/s in
//! 1100-byte packets (~1.5 Mbit/s, the top simulcast layer of the client,
//! a keyframe every 3 s), as the media engine hands them over. The
//! recorder ([`kabine::record::Recorder`]) does what it does in the server:
//! jitter buffer, VP8 frames, WebM, age encryption, writes to a directory
//! on this disk. The packets are made beforehand; only the recorder's work
//! is timed (process CPU from /proc, wall time too).

use std::sync::Arc;
use std::time::{Duration, Instant};

use kabine::protocol::Source;
use kabine::record::frames::Packet;
use kabine::record::{RecordMsg, Recorder, RecorderConfig, store};

use super::procfs;

const OPUS_PER_S: u64 = 50;
const VIDEO_FPS: u64 = 30;
const VIDEO_PACKET: usize = 1100;
const VIDEO_BITS_PER_S: usize = 1_500_000;

/// Runs `seconds` of simulated media of `people` participants.
pub fn run(people: u64, seconds: u64, dir: &std::path::Path) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(dir);
    let key = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p".to_string();
    let recipients = store::Recipients::parse(&[key]).map_err(|e| e.join("; "))?;
    let mut rec = Recorder::new(RecorderConfig { directory: dir.to_path_buf(), recipients, retention_days: 1 });
    let t0 = Instant::now();
    let msgs = messages(people, seconds, t0);
    let packets = msgs.iter().filter(|m| matches!(m, RecordMsg::Packet { .. })).count();
    let pid = std::process::id();
    let cpu0 = procfs::cpu_us(pid).map_err(|e| e.to_string())?;
    let wall0 = Instant::now();
    for m in msgs {
        rec.handle(m);
    }
    rec.handle(RecordMsg::Stop { id: 1, unix_ms: store::unix_now() * 1000 });
    rec.close_all();
    let wall = wall0.elapsed();
    let cpu = procfs::cpu_us(pid).map_err(|e| e.to_string())? - cpu0;
    let bytes: u64 = store::list(dir, 1).map_err(|e| e.to_string())?.iter().map(|r| r.bytes).sum();
    let per_participant = cpu as f64 / 1e6 / (seconds * people) as f64 * 100.0;
    println!("participants recorded        {people}");
    println!("media recorded               {seconds} s each ({packets} packets)");
    println!("written (encrypted)          {:.1} MB", bytes as f64 / 1e6);
    println!("recorder cpu                 {:.2} s (wall {:.2} s)", cpu as f64 / 1e6, wall.as_secs_f64());
    println!("cpu per packet               {:.2} µs", cpu as f64 / packets as f64);
    println!("cpu per recorded participant {per_participant:.2} % of one core");
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

/// The messages the engine would hand over, in arrival order.
fn messages(people: u64, seconds: u64, t0: Instant) -> Vec<RecordMsg> {
    let mut out = vec![RecordMsg::Start { id: 1, room: "bench".into(), unix_ms: store::unix_now() * 1000, at: t0 }];
    for p in 0..people {
        out.push(RecordMsg::Participant {
            id: 1,
            session: p,
            participant: format!("p{p}"),
            display_name: format!("Person {p}"),
            at: t0,
        });
    }
    let per_frame = VIDEO_BITS_PER_S / 8 / VIDEO_FPS as usize;
    let packets_per_frame = per_frame.div_ceil(VIDEO_PACKET);
    let mut timed: Vec<(Duration, RecordMsg)> = Vec::new();
    for p in 0..people {
        let mut seq = 0u64;
        for i in 0..seconds * OPUS_PER_S {
            let at = Duration::from_millis(i * 1000 / OPUS_PER_S + p);
            let packet = Packet {
                seq: i,
                ts: (i * 960) as u32,
                marker: false,
                payload: Arc::from(vec![0x78u8; 120]),
                arrival: t0 + at,
            };
            timed.push((at, RecordMsg::Packet { id: 1, session: p, source: Source::Mic, packet }));
        }
        for f in 0..seconds * VIDEO_FPS {
            let at = Duration::from_millis(f * 1000 / VIDEO_FPS + p);
            let key = f % (3 * VIDEO_FPS) == 0;
            for k in 0..packets_per_frame {
                let mut payload = vec![0x5au8; VIDEO_PACKET];
                payload[0] = if k == 0 { 0x10 } else { 0x00 };
                if k == 0 {
                    // VP8 frame tag: keyframe (bit 0 clear) with a 640x480 header.
                    let tag: &[u8] = if key {
                        &[0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01]
                    } else {
                        &[0x11, 0x02, 0x00]
                    };
                    payload[1..1 + tag.len()].copy_from_slice(tag);
                }
                let packet = Packet {
                    seq,
                    ts: (f * 3000) as u32,
                    marker: k + 1 == packets_per_frame,
                    payload: Arc::from(payload),
                    arrival: t0 + at,
                };
                seq += 1;
                timed.push((at, RecordMsg::Packet { id: 1, session: p, source: Source::Camera, packet }));
            }
        }
    }
    timed.sort_by_key(|(at, _)| *at);
    out.extend(timed.into_iter().map(|(_, m)| m));
    out
}
