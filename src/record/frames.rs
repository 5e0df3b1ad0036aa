//! From forwarded RTP to media frames: a small jitter buffer (packets back
//! in sequence order, a gap given up on after [`GAP_WAIT`]), VP8 frames
//! assembled from their packets (RFC 7741), Opus packets as they are (RFC
//! 7587: one frame per packet), and each frame's time in milliseconds on
//! the file's clock.
//!
//! The packets come from the SFU's recording rewriter
//! (`crate::sfu::engine::record`), so sequence numbers and timestamps are
//! continuous across simulcast layer switches. Sans-IO: arrival times are
//! inputs.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a missing packet is waited for (a NACK round trip or two)
/// before the frames after it are given out without it.
pub const GAP_WAIT: Duration = Duration::from_millis(400);
/// Most packets held while waiting for a missing one.
const MAX_HELD: usize = 512;
/// Largest VP8 frame assembled (a 1080p keyframe is well below).
const MAX_FRAME_BYTES: usize = 4 << 20;

/// What a track carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Opus,
    Vp8,
}

impl Codec {
    fn clock_rate(self) -> u64 {
        match self {
            Codec::Opus => 48_000,
            Codec::Vp8 => 90_000,
        }
    }
}

/// One RTP packet as the recorder gets it.
#[derive(Debug, Clone)]
pub struct Packet {
    /// Extended sequence number (continuous).
    pub seq: u64,
    pub ts: u32,
    pub marker: bool,
    pub payload: Arc<[u8]>,
    pub arrival: Instant,
}

/// A complete frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaFrame {
    /// Milliseconds since the file's start.
    pub ms: u64,
    pub keyframe: bool,
    /// Of a VP8 keyframe: its width and height.
    pub size: Option<(u16, u16)>,
    pub data: Vec<u8>,
}

/// One track of one file.
#[derive(Debug)]
pub struct Depacketizer {
    codec: Codec,
    /// Start of the file all times are counted from.
    origin: Instant,
    held: BTreeMap<u64, Packet>,
    next_seq: Option<u64>,
    /// The first packet's arrival (as ms after `origin`) and extended timestamp.
    base: Option<(u64, i64)>,
    last_ts: Option<(u32, i64)>,
    /// The VP8 frame being assembled: timestamp, bytes.
    partial: Option<(u32, Vec<u8>)>,
    /// After a lost packet: VP8 frames are dropped until the next keyframe.
    need_keyframe: bool,
}

impl Depacketizer {
    pub fn new(codec: Codec, origin: Instant) -> Depacketizer {
        Depacketizer {
            codec,
            origin,
            held: BTreeMap::new(),
            next_seq: None,
            base: None,
            last_ts: None,
            partial: None,
            need_keyframe: codec == Codec::Vp8,
        }
    }

    /// Takes a packet; returns the frames it completes, in order.
    pub fn push(&mut self, p: Packet) -> Vec<MediaFrame> {
        let mut out = Vec::new();
        if self.next_seq.is_some_and(|n| p.seq < n) {
            return out; // too late, or a duplicate
        }
        let arrival = p.arrival;
        self.held.insert(p.seq, p);
        self.release(arrival, &mut out);
        out
    }

    /// Everything still held, gaps skipped (at the end of the file).
    pub fn flush(&mut self) -> Vec<MediaFrame> {
        let mut out = Vec::new();
        while let Some((seq, p)) = self.held.pop_first() {
            if self.next_seq.is_some_and(|n| n != seq) {
                self.lost();
            }
            self.next_seq = Some(seq + 1);
            self.packet(p, &mut out);
        }
        out
    }

    fn release(&mut self, now: Instant, out: &mut Vec<MediaFrame>) {
        loop {
            let Some((&seq, first)) = self.held.first_key_value() else {
                return;
            };
            let in_order = self.next_seq.is_none_or(|n| n == seq);
            let give_up = self.held.len() > MAX_HELD || now.saturating_duration_since(first.arrival) >= GAP_WAIT;
            if !in_order && !give_up {
                return;
            }
            if !in_order {
                self.lost();
            }
            if let Some((_, p)) = self.held.pop_first() {
                self.next_seq = Some(seq + 1);
                self.packet(p, out);
            }
        }
    }

    fn lost(&mut self) {
        if self.codec == Codec::Vp8 {
            self.partial = None;
            self.need_keyframe = true;
        }
    }

    /// The packet's time on the file's clock: the first packet's arrival,
    /// then RTP time from there (rollovers unwrapped).
    fn ms(&mut self, p: &Packet) -> u64 {
        let ext = match self.last_ts {
            None => i64::from(p.ts),
            Some((last, last_ext)) => last_ext + i64::from(p.ts.wrapping_sub(last) as i32),
        };
        self.last_ts = Some((p.ts, ext));
        let (base_ms, base_ext) = *self.base.get_or_insert_with(|| {
            (u64::try_from(p.arrival.saturating_duration_since(self.origin).as_millis()).unwrap_or(u64::MAX), ext)
        });
        let rtp_ms = (ext - base_ext) * 1000 / self.codec.clock_rate() as i64;
        base_ms.saturating_add_signed(rtp_ms)
    }

    fn packet(&mut self, p: Packet, out: &mut Vec<MediaFrame>) {
        match self.codec {
            Codec::Opus => {
                if !p.payload.is_empty() {
                    let ms = self.ms(&p);
                    out.push(MediaFrame { ms, keyframe: true, size: None, data: p.payload.to_vec() });
                }
            }
            Codec::Vp8 => self.vp8(p, out),
        }
    }

    fn vp8(&mut self, p: Packet, out: &mut Vec<MediaFrame>) {
        let Some((start, body)) = vp8_payload(&p.payload) else {
            return;
        };
        if start {
            self.partial = Some((p.ts, Vec::with_capacity(body.len() * 4)));
        }
        let Some((ts, data)) = self.partial.as_mut() else {
            return; // the start of this frame was lost
        };
        if *ts != p.ts || data.len() + body.len() > MAX_FRAME_BYTES {
            self.partial = None;
            return;
        }
        data.extend_from_slice(body);
        if !p.marker {
            return;
        }
        let Some((_, data)) = self.partial.take() else {
            return;
        };
        let keyframe = data.first().is_some_and(|b| b & 1 == 0);
        if !keyframe && self.need_keyframe {
            return;
        }
        self.need_keyframe = false;
        let size = keyframe.then(|| vp8_size(&data)).flatten();
        let ms = self.ms(&p);
        out.push(MediaFrame { ms, keyframe, size, data });
    }
}

/// Strips the VP8 payload descriptor (RFC 7741 §4.2): whether the packet
/// starts a frame (S set, partition 0), and the frame bytes it carries.
pub fn vp8_payload(p: &[u8]) -> Option<(bool, &[u8])> {
    let b0 = *p.first()?;
    let start = b0 & 0x10 != 0 && b0 & 0x07 == 0;
    let mut i = 1;
    if b0 & 0x80 != 0 {
        let x = *p.get(1)?;
        i = 2;
        if x & 0x80 != 0 {
            i += if *p.get(i)? & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            i += 1;
        }
        if x & 0x30 != 0 {
            i += 1;
        }
    }
    Some((start, p.get(i..)?))
}

/// Width and height of a VP8 keyframe (RFC 6386 §9.1).
pub fn vp8_size(frame: &[u8]) -> Option<(u16, u16)> {
    if frame.get(3..6)? != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let w = u16::from_le_bytes([*frame.get(6)?, *frame.get(7)?]) & 0x3fff;
    let h = u16::from_le_bytes([*frame.get(8)?, *frame.get(9)?]) & 0x3fff;
    Some((w, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(seq: u64, ts: u32, marker: bool, payload: Vec<u8>, at: Instant) -> Packet {
        Packet { seq, ts, marker, payload: Arc::from(payload), arrival: at }
    }

    /// A VP8 packet: descriptor with S (and partition 0) if `start`.
    fn vp8(start: bool, body: &[u8]) -> Vec<u8> {
        let mut v = vec![if start { 0x10 } else { 0x00 }];
        v.extend_from_slice(body);
        v
    }

    fn keyframe_start() -> Vec<u8> {
        // frame tag (key frame: bit 0 = 0), start code, 640x480
        vec![0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01]
    }

    #[test]
    fn reordered_packets_make_whole_frames_in_order() {
        let t0 = Instant::now();
        let mut d = Depacketizer::new(Codec::Vp8, t0);
        let mut frames = Vec::new();
        frames.extend(d.push(pkt(10, 9000, false, vp8(true, &keyframe_start()), t0)));
        frames.extend(d.push(pkt(12, 12000, true, vp8(true, &[0x01, 7]), t0)));
        assert!(frames.is_empty(), "12 waits for 11");
        frames.extend(d.push(pkt(11, 9000, true, vp8(false, &[5, 5]), t0)));
        assert_eq!(frames.len(), 2);
        assert!(frames[0].keyframe);
        assert_eq!(frames[0].size, Some((640, 480)));
        assert_eq!(frames[0].ms, 0);
        assert!(!frames[1].keyframe);
        assert_eq!(frames[1].ms, 33, "3000 ticks of 90 kHz");
    }

    #[test]
    fn a_lost_packet_drops_frames_until_the_next_keyframe() {
        let t0 = Instant::now();
        let mut d = Depacketizer::new(Codec::Vp8, t0);
        let mut n = d.push(pkt(1, 0, true, vp8(true, &keyframe_start()), t0)).len();
        // 2 is lost; 3 is a delta frame that would be undecodable
        n += d.push(pkt(3, 6000, true, vp8(true, &[0x01]), t0)).len();
        n += d.push(pkt(4, 9000, true, vp8(true, &[0x01]), t0 + GAP_WAIT)).len();
        assert_eq!(n, 1, "only the first keyframe");
        let later = d.push(pkt(5, 12000, true, vp8(true, &keyframe_start()), t0 + GAP_WAIT));
        assert_eq!(later.len(), 1);
        assert!(later[0].keyframe);
    }

    #[test]
    fn opus_times_follow_rtp_from_the_first_arrival() {
        let t0 = Instant::now();
        let mut d = Depacketizer::new(Codec::Opus, t0);
        let a = d.push(pkt(100, u32::MAX - 479, false, vec![1], t0 + Duration::from_millis(250)));
        let b = d.push(pkt(101, 480, false, vec![2], t0 + Duration::from_millis(400)));
        assert_eq!(a[0].ms, 250);
        assert_eq!(b[0].ms, 270, "960 ticks at 48 kHz across the rollover, whatever the arrival");
    }
}
