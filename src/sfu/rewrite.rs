//! Rewriting a forwarded stream so that the subscriber sees one continuous
//! RTP stream, whichever simulcast layer (or, for a recycled m-line,
//! whichever publisher) it comes from.
//!
//! Each layer of a publisher has its own SSRC, sequence numbers, timestamps
//! and VP8 picture ids. The subscriber gets one outgoing stream; this module
//! maps every forwarded packet's sequence number, timestamp, VP8 PictureID
//! and TL0PICIDX onto that stream. A switch to another layer happens only on
//! a keyframe of that layer, and continues the output numbering exactly where
//! the previous layer stopped (sequence +1, timestamp advanced by the wall
//! time that passed, picture id +1), so the browser's jitter buffer and
//! decoder see no gap and no jump backwards.
//!
//! Sans-IO: the caller passes the arrival time; no clock is read here.

use std::time::Instant;

use str0m::rtp::Vp8Descriptor;

/// A forwarded packet as the rewriter needs to see it.
#[derive(Debug, Clone, Copy)]
pub struct InPacket {
    /// Simulcast layer index (0 for a stream without layers).
    pub layer: u8,
    /// Extended (rollover-free) sequence number on the publisher's layer.
    pub seq: u64,
    /// RTP timestamp on the publisher's layer.
    pub ts: u32,
    /// The packet starts a keyframe (always true for audio).
    pub keyframe: bool,
    /// VP8 PictureID and whether it is 15 bits wide.
    pub picture_id: Option<(u16, bool)>,
    /// VP8 TL0PICIDX.
    pub tl0: Option<u8>,
    /// When the packet arrived.
    pub arrival: Instant,
}

/// Numbers for the outgoing packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutPacket {
    /// Extended outgoing sequence number (always below 2^16 at the start).
    pub seq: u64,
    /// Outgoing RTP timestamp.
    pub ts: u32,
    /// Rewritten PictureID (same width as the incoming one).
    pub picture_id: Option<u16>,
    /// Rewritten TL0PICIDX.
    pub tl0: Option<u8>,
}

/// What to do with one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Not forwarded (other layer, stale, or waiting for a keyframe).
    Drop,
    /// Forwarded with these numbers; `switched` is true on the first packet
    /// of a newly selected layer.
    Forward { out: OutPacket, switched: bool },
}

/// The mapping state of one outgoing stream.
#[derive(Debug, Clone)]
pub struct Rewriter {
    clock_rate: u32,
    /// Layer forwarded now.
    current: Option<u8>,
    /// First incoming sequence number of the current layer: older packets of
    /// that layer would collide with numbers already used.
    switch_seq: u64,
    seq_delta: i128,
    ts_delta: u32,
    pic_delta: u16,
    tl0_delta: u8,
    /// Highest outgoing numbers so far, and when the packet carrying them came.
    last: Option<Last>,
}

#[derive(Debug, Clone, Copy)]
struct Last {
    seq: u64,
    ts: u32,
    picture_id: Option<u16>,
    tl0: Option<u8>,
    at: Instant,
}

impl Rewriter {
    /// A rewriter for a stream with the given RTP clock rate (90 000 for
    /// video, 48 000 for Opus).
    pub fn new(clock_rate: u32) -> Rewriter {
        Rewriter {
            clock_rate,
            current: None,
            switch_seq: 0,
            seq_delta: 0,
            ts_delta: 0,
            pic_delta: 0,
            tl0_delta: 0,
            last: None,
        }
    }

    /// The layer being forwarded, if any.
    pub fn current(&self) -> Option<u8> {
        self.current
    }

    /// Stops forwarding; the next packet forwarded must start a keyframe.
    pub fn pause(&mut self) {
        self.current = None;
    }

    /// Decides about one packet, given the layer that should be forwarded
    /// (`None`: nothing). Until a keyframe of `target` arrives, the current
    /// layer keeps flowing, so a switch never leaves the picture frozen.
    pub fn forward(&mut self, target: Option<u8>, p: &InPacket) -> Decision {
        let Some(target) = target else {
            self.current = None;
            return Decision::Drop;
        };
        if p.layer == target && self.current != Some(target) && p.keyframe {
            self.switch_to(p);
            return Decision::Forward { out: self.map(p), switched: true };
        }
        if Some(p.layer) == self.current && p.seq >= self.switch_seq {
            return Decision::Forward { out: self.map(p), switched: false };
        }
        Decision::Drop
    }

    fn switch_to(&mut self, p: &InPacket) {
        self.current = Some(p.layer);
        self.switch_seq = p.seq;
        match self.last {
            None => {
                // Start below 2^16 so the receiver needs no rollover counter.
                self.seq_delta = i128::from(p.seq & 0xffff) - i128::from(p.seq);
                self.ts_delta = 0;
                self.pic_delta = 0;
                self.tl0_delta = 0;
            }
            Some(last) => {
                self.seq_delta = i128::from(last.seq) + 1 - i128::from(p.seq);
                // Advance the timestamp by the time that really passed, at
                // least one tick, so frames stay in order and paced.
                let elapsed = p.arrival.saturating_duration_since(last.at);
                let ticks = (elapsed.as_secs_f64() * f64::from(self.clock_rate)).round() as u64;
                let ticks = ticks.clamp(1, u64::from(u32::MAX / 2)) as u32;
                let out_ts = last.ts.wrapping_add(ticks);
                self.ts_delta = out_ts.wrapping_sub(p.ts);
                if let (Some(last_pic), Some((pic, wide))) = (last.picture_id, p.picture_id) {
                    let modulus: u16 = if wide { 0x8000 } else { 0x80 };
                    let want = (last_pic.wrapping_add(1)) % modulus;
                    self.pic_delta = want.wrapping_sub(pic) % modulus;
                }
                if let (Some(last_tl0), Some(tl0)) = (last.tl0, p.tl0) {
                    self.tl0_delta = last_tl0.wrapping_add(1).wrapping_sub(tl0);
                }
            }
        }
    }

    fn map(&mut self, p: &InPacket) -> OutPacket {
        // seq_delta keeps the result within u64: it is the difference of two
        // u64 values and the mapped packet is never older than the switch.
        let seq = (i128::from(p.seq) + self.seq_delta).max(0) as u64;
        let ts = p.ts.wrapping_add(self.ts_delta);
        let picture_id = p.picture_id.map(|(pic, wide)| {
            let modulus: u16 = if wide { 0x8000 } else { 0x80 };
            pic.wrapping_add(self.pic_delta) % modulus
        });
        let tl0 = p.tl0.map(|t| t.wrapping_add(self.tl0_delta));
        let out = OutPacket { seq, ts, picture_id, tl0 };
        let newer = self.last.is_none_or(|l| seq > l.seq);
        if newer {
            self.last = Some(Last { seq, ts, picture_id, tl0, at: p.arrival });
        }
        out
    }
}

/// What the forwarder reads from a VP8 payload: whether the packet starts
/// a keyframe, its PictureID (and width) and TL0PICIDX, and the parsed
/// descriptor that the rewritten numbers are patched into.
#[derive(Debug, Clone, Copy)]
pub struct Vp8Fields {
    pub keyframe: bool,
    pub picture_id: Option<(u16, bool)>,
    pub tl0: Option<u8>,
    /// `None` for a payload without a valid descriptor (forwarded as it is,
    /// never a keyframe).
    pub descriptor: Option<Vp8Descriptor>,
}

impl Vp8Fields {
    /// Reads the payload descriptor of a VP8 RTP payload.
    pub fn of(payload: &[u8]) -> Vp8Fields {
        match Vp8Descriptor::parse(payload) {
            Ok(d) => Vp8Fields {
                keyframe: d.starts_keyframe(payload),
                picture_id: d.picture_id().map(|p| (p, picture_id_is_wide(payload))),
                tl0: d.tl0_pic_idx(),
                descriptor: Some(d),
            },
            Err(_) => Vp8Fields { keyframe: false, picture_id: None, tl0: None, descriptor: None },
        }
    }
}

/// Whether a VP8 payload descriptor carries a 15-bit PictureID (M bit).
fn picture_id_is_wide(payload: &[u8]) -> bool {
    // X bit in byte 0, I bit in the extension byte, M bit in the PictureID.
    matches!(payload, [x, ext, pic, ..] if x & 0x80 != 0 && ext & 0x80 != 0 && pic & 0x80 != 0)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A simulated VP8 publisher layer: 30 fps, 3 packets per frame, a
    /// keyframe every `gop` frames.
    struct Layer {
        index: u8,
        seq: u64,
        ts: u32,
        pic: u16,
        tl0: u8,
        frame: u32,
        gop: u32,
    }

    impl Layer {
        fn new(index: u8, seq: u64, ts: u32, pic: u16, gop: u32) -> Layer {
            Layer { index, seq, ts, pic, tl0: pic as u8, frame: 0, gop }
        }

        /// The packets of the next frame, arriving at `at`.
        fn frame(&mut self, at: Instant) -> Vec<InPacket> {
            let key = self.frame.is_multiple_of(self.gop);
            let packets = (0..3)
                .map(|i| InPacket {
                    layer: self.index,
                    seq: self.seq + i,
                    ts: self.ts,
                    keyframe: key && i == 0,
                    picture_id: Some((self.pic, true)),
                    tl0: Some(self.tl0),
                    arrival: at,
                })
                .collect();
            self.seq += 3;
            self.ts = self.ts.wrapping_add(3000);
            self.pic = (self.pic + 1) % 0x8000;
            self.tl0 = self.tl0.wrapping_add(1);
            self.frame += 1;
            packets
        }
    }

    fn check_continuous(out: &[OutPacket]) {
        for pair in out.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            assert_eq!(b.seq, a.seq + 1, "sequence numbers continue: {a:?} -> {b:?}");
            let dt = b.ts.wrapping_sub(a.ts);
            assert!(dt < 90_000, "timestamps never go backwards or jump: {a:?} -> {b:?}");
            let (pa, pb) = (a.picture_id.expect("pic"), b.picture_id.expect("pic"));
            let dp = pb.wrapping_sub(pa) % 0x8000;
            assert!(dp <= 1, "picture ids continue: {a:?} -> {b:?}");
            if dt > 0 {
                assert_eq!(dp, 1, "a new frame has the next picture id");
                assert_eq!(b.tl0.expect("tl0"), a.tl0.expect("tl0").wrapping_add(1));
            }
        }
    }

    #[test]
    fn layer_switches_wait_for_a_keyframe_and_keep_numbering_continuous() {
        let start = Instant::now();
        // Three layers with unrelated numbering, like a browser's simulcast.
        let mut layers = [
            Layer::new(0, 100, 1_000, 10, 10),
            Layer::new(1, 60_000, 4_000_000_000, 30_000, 15),
            Layer::new(2, 5, 77, 32_760, 7),
        ];
        let mut rw = Rewriter::new(90_000);
        let mut out = Vec::new();
        let mut switches = Vec::new();
        // Target low for 20 frames, then high, then mid.
        for frame in 0..90u32 {
            let at = start + Duration::from_millis(33 * u64::from(frame));
            let target = match frame {
                0..20 => 0,
                20..50 => 2,
                _ => 1,
            };
            for layer in layers.iter_mut() {
                for p in layer.frame(at) {
                    match rw.forward(Some(target), &p) {
                        Decision::Forward { out: o, switched } => {
                            if switched {
                                assert!(p.keyframe, "switches happen on keyframes only");
                                switches.push((frame, p.layer));
                            }
                            out.push(o);
                        }
                        Decision::Drop => {}
                    }
                }
            }
        }
        assert_eq!(switches, [(0, 0), (21, 2), (60, 1)], "first keyframe of each target layer");
        assert!(out[0].seq < 0x1_0000, "the stream starts without a rollover");
        check_continuous(&out);
    }

    #[test]
    fn until_the_keyframe_arrives_the_old_layer_keeps_flowing() {
        let start = Instant::now();
        let mut low = Layer::new(0, 1, 0, 0, 1000);
        let mut high = Layer::new(2, 9_000, 0, 500, 5);
        let mut rw = Rewriter::new(90_000);
        // low starts (its first frame is a keyframe)
        for p in low.frame(start) {
            assert!(matches!(rw.forward(Some(0), &p), Decision::Forward { .. }));
        }
        high.frame = 1; // high's next keyframe comes at its frame 5
        for f in 1..5u64 {
            let at = start + Duration::from_millis(33 * f);
            for p in low.frame(at) {
                assert!(matches!(rw.forward(Some(2), &p), Decision::Forward { .. }), "low still flows");
            }
            for p in high.frame(at) {
                assert_eq!(rw.forward(Some(2), &p), Decision::Drop, "no keyframe on high yet");
            }
        }
        let at = start + Duration::from_millis(165);
        for p in low.frame(at) {
            assert!(matches!(rw.forward(Some(2), &p), Decision::Forward { .. }));
        }
        let first_high = high.frame(at);
        assert!(first_high[0].keyframe);
        assert!(matches!(rw.forward(Some(2), &first_high[0]), Decision::Forward { switched: true, .. }));
        for p in low.frame(at + Duration::from_millis(33)) {
            assert_eq!(rw.forward(Some(2), &p), Decision::Drop, "low stops after the switch");
        }
        assert_eq!(rw.current(), Some(2));
    }

    #[test]
    fn late_packets_from_before_a_switch_are_dropped() {
        let start = Instant::now();
        let mut rw = Rewriter::new(90_000);
        let mut low = Layer::new(0, 500, 0, 0, 1);
        let mut out = Vec::new();
        for p in low.frame(start) {
            if let Decision::Forward { out: o, .. } = rw.forward(Some(0), &p) {
                out.push(o.seq);
            }
        }
        let mut mid = Layer::new(1, 800, 0, 0, 1);
        let frame = mid.frame(start + Duration::from_millis(33));
        for p in &frame {
            rw.forward(Some(1), p);
        }
        // A packet of mid from before the keyframe arrives late.
        let late = InPacket { seq: 799, keyframe: false, ..frame[0] };
        assert_eq!(rw.forward(Some(1), &late), Decision::Drop);
    }

    #[test]
    fn reordered_packets_within_a_layer_keep_their_relative_order() {
        let start = Instant::now();
        let mut rw = Rewriter::new(48_000);
        let p = |seq: u64, key: bool| InPacket {
            layer: 0,
            seq,
            ts: (seq * 960) as u32,
            keyframe: key,
            picture_id: None,
            tl0: None,
            arrival: start,
        };
        let Decision::Forward { out: a, .. } = rw.forward(Some(0), &p(70_000, true)) else { panic!() };
        let Decision::Forward { out: c, .. } = rw.forward(Some(0), &p(70_002, false)) else { panic!() };
        let Decision::Forward { out: b, .. } = rw.forward(Some(0), &p(70_001, false)) else { panic!() };
        assert_eq!((b.seq - a.seq, c.seq - a.seq), (1, 2));
        assert_eq!(b.ts.wrapping_sub(a.ts), 960);
    }

    #[test]
    fn pausing_and_resuming_needs_a_keyframe_and_continues_the_numbering() {
        let start = Instant::now();
        let mut rw = Rewriter::new(90_000);
        let mut layer = Layer::new(0, 10, 0, 0, 4);
        let mut out = Vec::new();
        for f in 0..12u64 {
            let at = start + Duration::from_millis(33 * f);
            let target = if (4..8).contains(&f) { None } else { Some(0) };
            for p in layer.frame(at) {
                if let Decision::Forward { out: o, .. } = rw.forward(target, &p) {
                    out.push((f, o));
                }
            }
        }
        let frames: Vec<u64> = out.iter().map(|(f, _)| *f).collect();
        assert!(!frames.contains(&5), "paused");
        assert!(frames.contains(&8), "resumed on the keyframe at frame 8");
        let resumed = out.iter().position(|(f, _)| *f == 8).expect("resumed");
        let (before, after) = (out[resumed - 1].1, out[resumed].1);
        assert_eq!(after.seq, before.seq + 1);
        let dt = after.ts.wrapping_sub(before.ts);
        assert!((5 * 2970..=5 * 3000 + 10).contains(&dt), "the pause shows as time passing: {dt}");
    }
}
