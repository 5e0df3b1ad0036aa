//! Synthetic media like a browser sends it, and what a receiver measures.
//!
//! Video: VP8 in three simulcast layers (rids `l`, `m`, `h`: 150, 500,
//! 1500 kbit/s, 30 fps, widths 320/640/1280). Every packet starts with a
//! valid VP8 payload descriptor (X, S, PID 0; I, L, T; 15-bit PictureID,
//! TL0PICIDX, TID 0); the first packet of a frame carries a VP8 payload
//! header (keyframes with the start code and the layer's size). A keyframe
//! is 12 times a delta frame and comes every 3 s and on request.
//!
//! Audio: Opus-sized packets every 20 ms with the audio-level extension;
//! a muted microphone sends DTX (one tiny packet every 400 ms).
//!
//! Every payload ends with a 12-byte stamp (magic + send time in µs since
//! the generator started), the one-way latency probe; the servers forward
//! payloads unchanged apart from the VP8 descriptor at the front.
//!
//! With `--e2ee` ([`set_e2ee`]) frames look as an end-to-end encrypted
//! meeting's do to the server (docs/e2ee.md): the clear header bytes as
//! they were (VP8: 10 of a key frame, 3 of a delta frame; Opus: 1), the
//! rest random bytes, and 26 bytes more per frame (the AES-GCM tag and the
//! trailer). The server cannot tell the difference from real encryption,
//! and the generator spends no AES on it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Frames look end-to-end encrypted ([`set_e2ee`]).
static E2EE: AtomicBool = AtomicBool::new(false);
/// Bytes an end-to-end encrypted frame has more: AES-GCM tag and trailer.
pub const E2EE_OVERHEAD: usize = 16 + 10;

/// Makes every frame from now on look end-to-end encrypted.
pub fn set_e2ee(on: bool) {
    E2EE.store(on, Ordering::Relaxed);
}

fn e2ee() -> bool {
    E2EE.load(Ordering::Relaxed)
}

/// Fills `bytes` with cheap pseudo-random bytes (what ciphertext looks like).
fn scramble(bytes: &mut [u8], seed: u64) {
    let mut x = seed | 1;
    for b in bytes {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = (x >> 24) as u8;
    }
}

/// Layer rids, lowest first.
pub const RIDS: [&str; 3] = ["l", "m", "h"];
/// Layer bitrates, bit/s.
pub const LAYER_BPS: [u64; 3] = [150_000, 500_000, 1_500_000];
/// Layer widths (16:9).
pub const LAYER_WIDTH: [u16; 3] = [320, 640, 1280];
pub const FPS: u64 = 30;
pub const FRAME_INTERVAL: Duration = Duration::from_micros(33_333);
pub const AUDIO_INTERVAL: Duration = Duration::from_millis(20);
pub const DTX_INTERVAL: Duration = Duration::from_millis(400);
/// A keyframe is this many times a delta frame.
pub const KEYFRAME_FACTOR: usize = 12;
/// Frames between periodic keyframes (3 s).
pub const GOP_FRAMES: u64 = 90;
/// Largest RTP payload (browsers stay near 1200 bytes per datagram).
pub const MAX_PAYLOAD: usize = 1100;

const MAGIC: [u8; 4] = *b"KbTs";
pub const STAMP_LEN: usize = 12;

/// Appends the latency stamp.
pub fn stamp(payload: &mut Vec<u8>, sent_us: u64) {
    payload.extend_from_slice(&MAGIC);
    payload.extend_from_slice(&sent_us.to_be_bytes());
}

/// The send time in a payload's stamp.
pub fn read_stamp(payload: &[u8]) -> Option<u64> {
    let tail = payload.len().checked_sub(STAMP_LEN).map(|i| &payload[i..])?;
    if tail[..4] != MAGIC {
        return None;
    }
    let mut t = [0u8; 8];
    t.copy_from_slice(&tail[4..]);
    Some(u64::from_be_bytes(t))
}

/// Bytes of a delta frame of `layer`, so that the average including a
/// keyframe every GOP matches the layer's bitrate.
pub fn delta_frame_bytes(layer: usize) -> usize {
    let per_frame = LAYER_BPS[layer] / 8 / FPS;
    (per_frame * GOP_FRAMES / (GOP_FRAMES - 1 + KEYFRAME_FACTOR as u64)) as usize
}

/// One simulcast layer's sender state.
#[derive(Debug, Clone)]
pub struct VideoLayer {
    pub index: usize,
    pub seq: u64,
    pub picture_id: u16,
    pub tl0: u8,
    pub keyframe_wanted: bool,
}

impl VideoLayer {
    pub fn new(index: usize, seed: u64) -> VideoLayer {
        VideoLayer {
            index,
            seq: 1 + (seed * 7919 + index as u64 * 1000) % 20_000,
            picture_id: ((seed * 131 + index as u64 * 7_000) % 0x8000) as u16,
            tl0: (seed as u8).wrapping_mul(31).wrapping_add(index as u8 * 50),
            keyframe_wanted: true,
        }
    }

    /// The payloads of the next frame; advances PictureID and TL0PICIDX.
    pub fn frame(&mut self, frame_no: u64, sent_us: u64) -> (bool, Vec<Vec<u8>>) {
        let keyframe = self.keyframe_wanted || frame_no.is_multiple_of(GOP_FRAMES);
        self.keyframe_wanted = false;
        let delta = delta_frame_bytes(self.index);
        let size = if keyframe { delta * KEYFRAME_FACTOR } else { delta };
        let packets = vp8_frame(self.picture_id, self.tl0, LAYER_WIDTH[self.index], keyframe, size, sent_us);
        self.picture_id = (self.picture_id + 1) % 0x8000;
        self.tl0 = self.tl0.wrapping_add(1);
        (keyframe, packets)
    }
}

/// The packets of one VP8 frame of `size` bytes.
pub fn vp8_frame(picture_id: u16, tl0: u8, width: u16, keyframe: bool, size: usize, sent_us: u64) -> Vec<Vec<u8>> {
    let mut body = Vec::with_capacity(size + 10);
    // Frame tag: P bit (0 = keyframe), version 0, show_frame, partition size.
    body.extend_from_slice(&[0x10 | u8::from(!keyframe), 0x02, 0x00]);
    if keyframe {
        body.extend_from_slice(&[0x9d, 0x01, 0x2a]);
        body.extend_from_slice(&width.to_le_bytes());
        body.extend_from_slice(&(width * 9 / 16).to_le_bytes());
    }
    while body.len() < size {
        body.push((body.len() % 251) as u8);
    }
    if e2ee() {
        let clear = if keyframe { 10 } else { 3 };
        body.resize(size + E2EE_OVERHEAD, 0);
        scramble(&mut body[clear..], sent_us ^ u64::from(picture_id) << 32);
    }
    let chunk = MAX_PAYLOAD - 6 - STAMP_LEN;
    body.chunks(chunk)
        .enumerate()
        .map(|(i, part)| {
            let start = if i == 0 { 0x10 } else { 0x00 };
            let mut p = Vec::with_capacity(6 + part.len() + STAMP_LEN);
            p.extend_from_slice(&[0x80 | start, 0xe0, 0x80 | (picture_id >> 8) as u8, picture_id as u8, tl0, 0x00]);
            p.extend_from_slice(part);
            stamp(&mut p, sent_us);
            p
        })
        .collect()
}

/// Whether a VP8 payload starts a keyframe (S bit, partition 0, P bit 0).
pub fn starts_keyframe(payload: &[u8]) -> bool {
    let Some(&b0) = payload.first() else {
        return false;
    };
    if b0 & 0x10 == 0 || b0 & 0x07 != 0 {
        return false;
    }
    let mut offset = 1;
    if b0 & 0x80 != 0 {
        let Some(&ext) = payload.get(1) else {
            return false;
        };
        offset += 1;
        if ext & 0x80 != 0 {
            let Some(&pid) = payload.get(offset) else {
                return false;
            };
            offset += if pid & 0x80 != 0 { 2 } else { 1 };
        }
        if ext & 0x40 != 0 {
            offset += 1;
        }
        if ext & 0x30 != 0 {
            offset += 1;
        }
    }
    payload.get(offset).is_some_and(|tag| tag & 0x01 == 0)
}

/// Audio payload: a speaking microphone ~40 kbit/s, an open but silent one
/// ~12 kbit/s, DTX a 3-byte frame.
pub fn audio_payload(kind: AudioKind, sent_us: u64) -> Vec<u8> {
    let size = match kind {
        AudioKind::Speaking => 100,
        AudioKind::Silent => 30,
        AudioKind::Dtx => 3,
    };
    let mut p = vec![0xfc_u8; size];
    if e2ee() {
        p.resize(size + E2EE_OVERHEAD, 0);
        scramble(&mut p[1..], sent_us);
    }
    stamp(&mut p, sent_us);
    p
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioKind {
    Speaking,
    Silent,
    Dtx,
}

// ---- receiving --------------------------------------------------------

/// How long a missing packet may stay missing before it counts as lost
/// (NACK and retransmission had their chance).
pub const LOSS_AFTER: Duration = Duration::from_millis(1000);

/// Sequence accounting of one received stream.
#[derive(Debug, Default)]
pub struct RxStream {
    highest: Option<u64>,
    /// Missing sequence numbers and when they were found missing.
    missing: std::collections::BTreeMap<u64, Instant>,
}

/// What a set of received streams counted (reset per measuring window).
#[derive(Debug, Default, Clone, Copy)]
pub struct RxCounts {
    pub packets: u64,
    pub bytes: u64,
    /// Sequence numbers the streams advanced by.
    pub expected: u64,
    /// Missing for longer than [`LOSS_AFTER`].
    pub lost: u64,
    /// Gaps later filled (NACK + retransmission, or reordering).
    pub repaired: u64,
}

impl RxStream {
    /// Accounts for a packet with extended sequence number `seq`.
    pub fn on_packet(&mut self, seq: u64, now: Instant, counts: &mut RxCounts) {
        match self.highest {
            None => self.highest = Some(seq),
            Some(h) if seq > h => {
                counts.expected += seq - h;
                // A jump of thousands is a new sequence space, not loss.
                if seq - h - 1 <= 512 {
                    for s in h + 1..seq {
                        self.missing.insert(s, now);
                    }
                }
                self.highest = Some(seq);
            }
            Some(_) => {
                if self.missing.remove(&seq).is_some() {
                    counts.repaired += 1;
                }
            }
        }
    }

    /// Moves gaps older than [`LOSS_AFTER`] to `lost`.
    pub fn expire(&mut self, now: Instant, counts: &mut RxCounts) {
        while let Some((&seq, &since)) = self.missing.first_key_value() {
            if now.duration_since(since) < LOSS_AFTER && self.missing.len() < 2048 {
                break;
            }
            self.missing.remove(&seq);
            counts.lost += 1;
        }
    }
}

/// A latency histogram: 50 µs buckets up to 2 s, one overflow bucket.
#[derive(Debug, Clone)]
pub struct Histogram {
    buckets: Vec<u32>,
    count: u64,
}

const BUCKET_US: u64 = 50;
const BUCKETS: usize = 40_000;

impl Default for Histogram {
    fn default() -> Self {
        Histogram { buckets: vec![0; BUCKETS + 1], count: 0 }
    }
}

impl Histogram {
    pub fn add(&mut self, us: u64) {
        let i = ((us / BUCKET_US) as usize).min(BUCKETS);
        self.buckets[i] = self.buckets[i].saturating_add(1);
        self.count += 1;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The `q` quantile (0..1) in ms; `None` without samples.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((self.count as f64 * q).ceil() as u64).clamp(1, self.count);
        let mut seen = 0u64;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen += u64::from(n);
            if seen >= rank {
                return Some(((i as u64 * BUCKET_US) + BUCKET_US / 2) as f64 / 1000.0);
            }
        }
        None
    }

    pub fn clear(&mut self) {
        self.buckets.iter_mut().for_each(|b| *b = 0);
        self.count = 0;
    }
}

/// Quantile of a list of durations, ms.
pub fn quantile(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((values.len() as f64 * q).ceil() as usize).clamp(1, values.len());
    Some(values[rank - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_descriptors_keyframe_headers_and_stamps() {
        let mut layer = VideoLayer::new(2, 3);
        let (key, packets) = layer.frame(0, 123_456);
        assert!(key);
        assert!(packets.len() > 10, "a keyframe of the high layer spans many packets");
        assert!(starts_keyframe(&packets[0]));
        assert!(!starts_keyframe(&packets[1]));
        assert!(packets.iter().all(|p| p.len() <= MAX_PAYLOAD && read_stamp(p) == Some(123_456)));
        let (key, packets) = layer.frame(1, 7);
        assert!(!key);
        assert!(!starts_keyframe(&packets[0]));
        let bytes: usize = packets.iter().map(Vec::len).sum();
        assert!(bytes < delta_frame_bytes(2) * 2, "a delta frame is small");
    }

    #[test]
    fn loss_counts_only_gaps_that_stay_open() {
        let t0 = Instant::now();
        let mut s = RxStream::default();
        let mut c = RxCounts::default();
        for seq in [10, 11, 14, 12] {
            s.on_packet(seq, t0, &mut c);
        }
        assert_eq!(c.repaired, 1);
        s.expire(t0 + Duration::from_millis(10), &mut c);
        assert_eq!(c.lost, 0);
        s.expire(t0 + LOSS_AFTER, &mut c);
        assert_eq!((c.lost, c.expected), (1, 4));
    }

    #[test]
    fn histogram_quantiles() {
        let mut h = Histogram::default();
        for us in 1..=100 {
            h.add(us * 1000);
        }
        let p50 = h.quantile_ms(0.5).expect("samples");
        assert!((49.0..=51.0).contains(&p50), "{p50}");
        assert!(h.quantile_ms(0.99).expect("samples") >= 98.0);
    }
}
