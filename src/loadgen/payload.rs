//! What a forwarded video stream carries: real VP8, or ciphertext behind
//! VP8's clear header bytes (docs/e2ee.md). Used by the integration test
//! with a non-browser participant and by `kabine audit`'s live probe.
//!
//! Three measures, over the frames of a stream as a subscriber reassembled
//! them (the VP8 payload without the RTP payload descriptors):
//!
//! - **The trailer of each frame** ([`trailer`]): an end-to-end encrypted
//!   frame ends in version 1, a sender key id, key index and counter, and
//!   is at least its clear header, the 16-byte AES-GCM tag and the trailer
//!   long. A frame counts as sealed when its trailer is there and its
//!   sender key id is named by another frame too: a frame in clear ends in
//!   version 1 once in 256, and then names a random key id.
//! - **VP8 frame headers** ([`vp8_header_ok`]): the frame tag, and beyond
//!   the bytes an end-to-end encrypted frame leaves in clear, the first
//!   fields of the first partition (RFC 6386, 9.2–9.6, read with its
//!   boolean decoder): a reserved colour space, a loop filter and token
//!   partition layout other than the one WebRTC's VP8 encoder (libvpx in
//!   real-time mode, in Chromium and Firefox) writes — normal filter,
//!   sharpness 0, one token partition — or partitions that do not fit the
//!   frame fail. Every frame of a browser's VP8 passes; ciphertext passes
//!   by chance only: measured over 20,000 encrypted frames each, 2.7 % of
//!   delta frames with a 4-byte first partition, 1.5 % with larger ones,
//!   0.4 % of key frames; [`VP8_BY_CHANCE`] allows for more.
//! - **Byte statistics** of what follows the clear header bytes, all
//!   frames together (the last [`TRAILER_BYTES`] of each frame left out:
//!   an end-to-end encrypted frame's trailer names its key in clear):
//!   Shannon entropy in bits per byte, and Pearson's chi-square against a
//!   uniform distribution (255 degrees of freedom: random bytes give about
//!   255 ± 23; VP8's boolean-coded data, for all its entropy near 7.95,
//!   gives thousands).

/// Bytes at the end of an end-to-end encrypted frame that name its key
/// (counter, key index, sender key id, version; `src/client/e2ee.js`).
pub const TRAILER_BYTES: usize = 10;

/// Bytes of the AES-GCM tag before the trailer.
pub const TAG_BYTES: usize = 16;

/// The frame format's version, the last byte of every encrypted frame.
pub const VERSION: u8 = 1;

/// The share of ciphertext frames that read as VP8 by chance, rounded up
/// from the largest measured (see the module documentation).
pub const VP8_BY_CHANCE: f64 = 1.0 / 32.0;

/// Above this chi-square (255 degrees of freedom) bytes are not uniform:
/// more than 6 standard deviations above the mean of random data.
pub const UNIFORM_CHI2_MAX: f64 = 400.0;

/// How many bytes of a VP8 frame stay in clear under end-to-end encryption:
/// 10 of a key frame (tag, start code, size), 3 of a delta frame (tag).
pub fn vp8_clear_bytes(frame: &[u8]) -> usize {
    match frame.first() {
        Some(b) if b & 1 == 0 => frame.len().min(10),
        Some(_) => frame.len().min(3),
        None => 0,
    }
}

/// What the trailer of an end-to-end encrypted frame names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trailer {
    pub counter: u32,
    pub index: u8,
    pub key_id: u32,
}

/// The trailer of `frame` when it can be an end-to-end encrypted VP8 frame:
/// long enough for its clear header, tag and trailer, and version 1.
pub fn trailer(frame: &[u8]) -> Option<Trailer> {
    let n = frame.len();
    if n < vp8_clear_bytes(frame) + TAG_BYTES + TRAILER_BYTES || frame[n - 1] != VERSION {
        return None;
    }
    let t = &frame[n - TRAILER_BYTES..];
    Some(Trailer {
        counter: u32::from_be_bytes([t[0], t[1], t[2], t[3]]),
        index: t[4],
        key_id: u32::from_be_bytes([t[5], t[6], t[7], t[8]]),
    })
}

/// How many of `frames` ciphertext lets read as VP8 at most: the chance
/// share and four standard deviations (a false alarm about once in 30,000
/// streams).
pub fn vp8_chance_limit(frames: usize) -> usize {
    let n = frames as f64;
    let p = VP8_BY_CHANCE;
    (n * p + 4.0 * (n * p * (1.0 - p)).sqrt()).ceil() as usize
}

/// VP8's boolean entropy decoder (RFC 6386, section 7), enough to read
/// the literal fields of a frame header.
struct BoolDecoder<'a> {
    data: &'a [u8],
    pos: usize,
    value: u32,
    range: u32,
    bit_count: u32,
}

impl<'a> BoolDecoder<'a> {
    fn new(data: &'a [u8]) -> BoolDecoder<'a> {
        let mut d = BoolDecoder { data, pos: 0, value: 0, range: 255, bit_count: 0 };
        d.value = (u32::from(d.byte()) << 8) | u32::from(d.byte());
        d
    }

    /// The next byte; zeros past the end, as decoders do.
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    fn bool(&mut self, probability: u32) -> bool {
        let split = 1 + (((self.range - 1) * probability) >> 8);
        let big_split = split << 8;
        let bit = if self.value >= big_split {
            self.range -= split;
            self.value -= big_split;
            true
        } else {
            self.range = split;
            false
        };
        while self.range < 128 {
            self.value <<= 1;
            self.range <<= 1;
            self.bit_count += 1;
            if self.bit_count == 8 {
                self.bit_count = 0;
                self.value |= u32::from(self.byte());
            }
        }
        bit
    }

    fn literal(&mut self, bits: u32) -> u32 {
        (0..bits).fold(0, |v, _| (v << 1) | u32::from(self.bool(128)))
    }

    /// A flag, and if it is set a literal of `bits` and a sign bit.
    fn optional_signed(&mut self, bits: u32) {
        if self.bool(128) {
            self.literal(bits);
            self.bool(128);
        }
    }
}

/// Whether `frame` reads as a VP8 frame as WebRTC's VP8 encoder writes it
/// (see the module documentation).
pub fn vp8_header_ok(frame: &[u8]) -> bool {
    if frame.len() < 3 {
        return false;
    }
    let tag = u32::from(frame[0]) | (u32::from(frame[1]) << 8) | (u32::from(frame[2]) << 16);
    let key = tag & 1 == 0;
    let version = (tag >> 1) & 7;
    let first_partition = (tag >> 5) as usize;
    let header = if key { 10 } else { 3 };
    if version > 3 || frame.len() < header || frame.len() - header < first_partition {
        return false;
    }
    if key && frame[3..6] != [0x9d, 0x01, 0x2a] {
        return false;
    }
    let mut d = BoolDecoder::new(&frame[header..header + first_partition]);
    if key {
        // color_space: 1 is reserved; clamping_type: libvpx writes 0.
        if d.bool(128) || d.bool(128) {
            return false;
        }
    }
    if d.bool(128) {
        // segmentation_enabled: update_mb_segmentation_map, update_segment_feature_data, …
        let update_map = d.bool(128);
        if d.bool(128) {
            d.bool(128);
            for _ in 0..4 {
                d.optional_signed(7);
            }
            for _ in 0..4 {
                d.optional_signed(6);
            }
        }
        if update_map {
            for _ in 0..3 {
                if d.bool(128) {
                    d.literal(8);
                }
            }
        }
    }
    let filter_type = d.bool(128);
    let _level = d.literal(6);
    let sharpness = d.literal(3);
    if d.bool(128) && d.bool(128) {
        // loop_filter_adj_enable, mode_ref_lf_delta_update: 4 + 4 deltas.
        for _ in 0..8 {
            d.optional_signed(6);
        }
    }
    let partitions = 1usize << d.literal(2);
    if filter_type || sharpness != 0 || partitions != 1 {
        return false;
    }
    // The token partition sizes (3 bytes each but the last) must fit.
    let mut rest = frame.len() - header - first_partition;
    let table = 3 * (partitions - 1);
    if rest < table {
        return false;
    }
    rest -= table;
    let sizes = &frame[header + first_partition..header + first_partition + table];
    for s in sizes.chunks(3) {
        let size = usize::from(s[0]) | (usize::from(s[1]) << 8) | (usize::from(s[2]) << 16);
        if size > rest {
            return false;
        }
        rest -= size;
    }
    true
}

/// What a stream of reassembled video frames carries.
#[derive(Debug, Clone, PartialEq)]
pub struct PayloadReport {
    pub frames: usize,
    pub key_frames: usize,
    /// Frames that read as VP8 ([`vp8_header_ok`]).
    pub vp8_frames: usize,
    /// Frames with a trailer whose sender key id another frame names too.
    pub sealed_frames: usize,
    /// Sender key ids those frames name.
    pub key_ids: usize,
    /// Bytes looked at: after each frame's clear header, before its last [`TRAILER_BYTES`].
    pub bytes: usize,
    /// Shannon entropy of those bytes, bits per byte.
    pub entropy: f64,
    /// Pearson's chi-square of those bytes against a uniform distribution.
    pub chi2: f64,
}

impl PayloadReport {
    /// Every frame reads as VP8, and the bytes are far from uniform: real VP8.
    pub fn is_vp8(&self) -> bool {
        self.frames > 0 && self.vp8_frames == self.frames && self.chi2 > UNIFORM_CHI2_MAX
    }

    /// Every frame is sealed (has a trailer naming a sender key id the
    /// stream uses), the bytes behind the clear header are
    /// indistinguishable from random (entropy above 7.5 bits per byte,
    /// chi-square of uniform bytes), and no more frames read as VP8 than
    /// chance lets through ([`vp8_chance_limit`]).
    pub fn is_ciphertext(&self) -> bool {
        self.frames > 0
            && self.sealed_frames == self.frames
            && self.bytes >= 10_000
            && self.entropy > 7.5
            && self.chi2 < UNIFORM_CHI2_MAX
            && self.vp8_frames <= vp8_chance_limit(self.frames)
    }
}

/// Looks at `frames` (see the module documentation).
pub fn examine(frames: &[Vec<u8>]) -> PayloadReport {
    let mut counts = [0u64; 256];
    let mut bytes = 0usize;
    let mut vp8 = 0;
    let mut keys = 0;
    let mut key_ids = std::collections::HashMap::<u32, usize>::new();
    for t in frames.iter().filter_map(|f| trailer(f)) {
        *key_ids.entry(t.key_id).or_default() += 1;
    }
    let sealed =
        frames.iter().filter(|f| trailer(f).is_some_and(|t| key_ids.get(&t.key_id).is_some_and(|n| *n >= 2))).count();
    key_ids.retain(|_, n| *n >= 2);
    for f in frames {
        if f.first().is_some_and(|b| b & 1 == 0) {
            keys += 1;
        }
        if vp8_header_ok(f) {
            vp8 += 1;
        }
        let start = vp8_clear_bytes(f);
        let end = f.len().saturating_sub(TRAILER_BYTES).max(start);
        for b in &f[start..end] {
            counts[usize::from(*b)] += 1;
        }
        bytes += end - start;
    }
    let n = bytes as f64;
    let (mut entropy, mut chi2) = (0.0, 0.0);
    if bytes > 0 {
        let expected = n / 256.0;
        for c in counts {
            let c = c as f64;
            if c > 0.0 {
                entropy -= c / n * (c / n).log2();
            }
            chi2 += (c - expected) * (c - expected) / expected;
        }
    }
    PayloadReport {
        frames: frames.len(),
        key_frames: keys,
        vp8_frames: vp8,
        sealed_frames: sealed,
        key_ids: key_ids.len(),
        bytes,
        entropy,
        chi2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A VP8 delta frame header as libvpx writes it: one token partition,
    /// normal filter, sharpness 0 (all zero bits in the boolean decoder).
    fn delta(len: usize) -> Vec<u8> {
        let first = 4usize;
        let tag = 1 | (1 << 4) | (first << 5);
        let mut f = vec![tag as u8, (tag >> 8) as u8, (tag >> 16) as u8];
        f.extend(std::iter::repeat_n(0u8, len - 3));
        f
    }

    /// A VP8 key frame header (start code, 640x480) with a 4-byte first partition.
    fn key(len: usize) -> Vec<u8> {
        let tag = (1 << 4) | (4 << 5);
        let mut f = vec![tag as u8, (tag >> 8) as u8, (tag >> 16) as u8, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01];
        f.extend(std::iter::repeat_n(0u8, len - 10));
        f
    }

    /// 200 frames as a sender encrypts them, a key frame every 50; with
    /// `clear(i)` true, frame `i` goes out as it is.
    fn stream(mut clear: impl FnMut(usize, &mut Vec<u8>) -> bool) -> Vec<Vec<u8>> {
        use crate::loadgen::frame_crypto::{Kind, SenderKey};
        let mut sender = SenderKey::random();
        (0..200)
            .map(|i| {
                let mut f = if i % 50 == 0 { key(3000) } else { delta(700 + i) };
                if clear(i, &mut f) { f } else { sender.encrypt(Kind::Video, &f).expect("counter left") }
            })
            .collect()
    }

    #[test]
    fn every_frame_must_be_sealed_a_few_in_clear_among_many_fail_the_check() {
        let sealed = examine(&stream(|_, _| false));
        assert!(sealed.is_ciphertext(), "{sealed:?}");
        assert_eq!((sealed.sealed_frames, sealed.key_ids), (200, 1));
        assert!(sealed.vp8_frames <= vp8_chance_limit(200), "{sealed:?}");
        // Every 20th frame in clear: 10 of 200.
        let some_clear = examine(&stream(|i, _| i % 20 == 19));
        assert_eq!(some_clear.sealed_frames, 190, "{some_clear:?}");
        assert!(!some_clear.is_ciphertext(), "{some_clear:?}");
        // The trailer alone decides it: clear frames with random bytes,
        // and one whose last byte happens to be the version, leave the
        // byte statistics and the VP8 count within what ciphertext gives.
        let mut state = 7u64;
        let random_clear = examine(&stream(|i, f| {
            if i % 20 != 19 {
                return false;
            }
            for b in &mut f[3..] {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                *b = (state >> 56) as u8;
            }
            if i == 39 {
                *f.last_mut().expect("a frame") = VERSION;
            }
            true
        }));
        assert!(random_clear.chi2 < UNIFORM_CHI2_MAX && random_clear.entropy > 7.5, "{random_clear:?}");
        assert!(random_clear.vp8_frames <= vp8_chance_limit(200), "{random_clear:?}");
        assert_eq!(random_clear.sealed_frames, 190, "{random_clear:?}");
        assert!(!random_clear.is_ciphertext());
        // Real VP8 is VP8 in every frame, and none of it is sealed.
        let clear = examine(&stream(|_, _| true));
        assert!(clear.is_vp8() && !clear.is_ciphertext() && clear.sealed_frames == 0, "{clear:?}");
    }

    #[test]
    fn frames_with_a_trailer_but_vp8_behind_the_clear_header_fail_by_their_bytes() {
        // A sender that appends a well-formed trailer to frames in clear,
        // every 20th frame.
        use crate::loadgen::frame_crypto::{Kind, SenderKey};
        let mut sender = SenderKey::random();
        let frames = stream(|i, f| {
            if i % 20 != 19 {
                return false;
            }
            let sealed = sender.encrypt(Kind::Video, f).expect("counter left");
            let n = f.len();
            *f = [&f[..], &sealed[n..]].concat();
            true
        });
        let r = examine(&frames);
        assert_eq!(r.sealed_frames, 200, "{r:?}");
        assert!(r.vp8_frames >= 10, "{r:?}");
        // The VP8 bytes among the ciphertext are far from uniform.
        assert!(r.chi2 > UNIFORM_CHI2_MAX && !r.is_ciphertext(), "{r:?}");
    }

    #[test]
    fn the_chance_limit_is_a_few_frames_more_than_chance() {
        assert_eq!(vp8_chance_limit(0), 0);
        assert_eq!(vp8_chance_limit(60), 8);
        assert_eq!(vp8_chance_limit(200), 17);
    }

    #[test]
    fn zero_header_fields_read_as_vp8_and_random_bytes_mostly_do_not() {
        assert!(vp8_header_ok(&delta(100)));
        assert!(!vp8_header_ok(&[0x31, 0x04]));
        let mut state = 0x1234_5678_u32;
        let mut random = || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        };
        let mut passed = 0;
        for _ in 0..400 {
            let mut f = delta(300);
            for b in &mut f[3..] {
                *b = random();
            }
            if vp8_header_ok(&f) {
                passed += 1;
            }
        }
        assert!(passed < 60, "random bodies pass as VP8 by chance only: {passed} of 400");
    }

    #[test]
    fn random_bytes_are_uniform_and_structured_ones_are_not() {
        let mut state = 99u64;
        let frames: Vec<Vec<u8>> = (0..50)
            .map(|_| {
                let mut f = delta(1000);
                for b in &mut f[3..] {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    *b = (state >> 56) as u8;
                }
                f
            })
            .collect();
        let r = examine(&frames);
        assert!(r.entropy > 7.9 && r.chi2 < UNIFORM_CHI2_MAX, "{r:?}");
        let plain = examine(&[delta(5000), delta(5000)]);
        assert!(plain.chi2 > UNIFORM_CHI2_MAX && plain.vp8_frames == 2 && plain.is_vp8(), "{plain:?}");
        assert!(!plain.is_ciphertext());
    }
}
