//! A WebM (Matroska) writer for one recorded participant: an EBML header,
//! one Segment of unknown size, the tracks, then Clusters of SimpleBlocks,
//! written front to back and never patched, so every byte can go straight
//! into the encrypting writer.
//!
//! Our own ~250 lines rather than a crate: the `webm` crate binds the C++
//! libwebm (a C++ toolchain and FFI for the one part of the server that
//! touches files), `matroska` only reads, and `webm-iterable` serialises
//! single elements, leaving the muxing (clusters, relative timestamps,
//! keyframe flags) to us anyway. The subset written here is the one
//! browsers' MediaRecorder writes (WebM, VP8 and Opus in SimpleBlocks), and
//! `tests/it/recording_browser.rs` has ffprobe read and decode it.
//!
//! A file written this way has no Duration (it is known only at the end,
//! and an encrypted stream cannot be patched): Info carries an 11-byte
//! Void element in its place, which [`patch_duration`] (used by `kabine
//! recording decrypt`) replaces with the Duration of the decrypted file
//! without moving any other byte. Plain `age -d` gives a file without it,
//! like MediaRecorder's, which players play from the start.
//!
//! Sans-IO: [`Muxer`] returns bytes; the caller writes them.

use std::collections::BTreeMap;

/// Matroska element ids used here.
mod id {
    pub const EBML: u32 = 0x1A45_DFA3;
    pub const EBML_VERSION: u32 = 0x4286;
    pub const EBML_READ_VERSION: u32 = 0x42F7;
    pub const EBML_MAX_ID_LENGTH: u32 = 0x42F2;
    pub const EBML_MAX_SIZE_LENGTH: u32 = 0x42F3;
    pub const DOC_TYPE: u32 = 0x4282;
    pub const DOC_TYPE_VERSION: u32 = 0x4287;
    pub const DOC_TYPE_READ_VERSION: u32 = 0x4285;
    pub const SEGMENT: u32 = 0x1853_8067;
    pub const INFO: u32 = 0x1549_A966;
    pub const TIMESTAMP_SCALE: u32 = 0x2AD7B1;
    pub const MUXING_APP: u32 = 0x4D80;
    pub const WRITING_APP: u32 = 0x5741;
    pub const DURATION: u32 = 0x4489;
    pub const VOID: u32 = 0xEC;
    pub const TRACKS: u32 = 0x1654_AE6B;
    pub const TRACK_ENTRY: u32 = 0xAE;
    pub const TRACK_NUMBER: u32 = 0xD7;
    pub const TRACK_UID: u32 = 0x73C5;
    pub const TRACK_TYPE: u32 = 0x83;
    pub const FLAG_LACING: u32 = 0x9C;
    pub const CODEC_ID: u32 = 0x86;
    pub const CODEC_PRIVATE: u32 = 0x63A2;
    pub const CODEC_DELAY: u32 = 0x56AA;
    pub const SEEK_PRE_ROLL: u32 = 0x56BB;
    pub const AUDIO: u32 = 0xE1;
    pub const SAMPLING_FREQUENCY: u32 = 0xB5;
    pub const CHANNELS: u32 = 0x9F;
    pub const VIDEO: u32 = 0xE0;
    pub const PIXEL_WIDTH: u32 = 0xB0;
    pub const PIXEL_HEIGHT: u32 = 0xBA;
    pub const CLUSTER: u32 = 0x1F43_B675;
    pub const TIMESTAMP: u32 = 0xE7;
    pub const SIMPLE_BLOCK: u32 = 0xA3;
}

/// The size of the Void element that holds the Duration's place.
const DURATION_SLOT: usize = 11;
/// A cluster is closed when a block would be this far from its start (the
/// relative timestamp of a block is a signed 16-bit number of ms).
const CLUSTER_SPAN_MS: u64 = 5_000;
/// Blocks are held this long, so that audio and video of one file go out
/// in timestamp order although they arrive on their own schedules.
const INTERLEAVE_MS: u64 = 500;

fn put_id(out: &mut Vec<u8>, id: u32) {
    let bytes = id.to_be_bytes();
    let skip = bytes.iter().position(|b| *b != 0).unwrap_or(3);
    out.extend_from_slice(&bytes[skip..]);
}

/// An EBML size, in the shortest form (8 bytes at most).
fn put_size(out: &mut Vec<u8>, size: u64) {
    for len in 1..=8u32 {
        // All ones is reserved (unknown size), hence the - 1.
        if size < (1u64 << (7 * len)) - 1 {
            let marked = size | (1u64 << (7 * len));
            out.extend_from_slice(&marked.to_be_bytes()[(8 - len as usize)..]);
            return;
        }
    }
    out.extend_from_slice(&(size | (1u64 << 56)).to_be_bytes());
}

fn element(out: &mut Vec<u8>, id: u32, body: &[u8]) {
    put_id(out, id);
    put_size(out, body.len() as u64);
    out.extend_from_slice(body);
}

fn uint(out: &mut Vec<u8>, id: u32, v: u64) {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().position(|b| *b != 0).unwrap_or(7);
    element(out, id, &bytes[skip..]);
}

fn float(out: &mut Vec<u8>, id: u32, v: f64) {
    element(out, id, &v.to_be_bytes());
}

fn master(out: &mut Vec<u8>, id: u32, fill: impl FnOnce(&mut Vec<u8>)) {
    let mut body = Vec::new();
    fill(&mut body);
    element(out, id, &body);
}

/// A track of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Track {
    /// Opus, 48 kHz.
    Opus,
    /// VP8 of this size (from the first keyframe; later keyframes may differ).
    Vp8 { width: u16, height: u16 },
}

/// The EBML header, the start of the Segment (unknown size), Info (with the
/// Duration's place held) and Tracks: track numbers are 1, 2, … in order.
pub fn header(tracks: &[Track]) -> Vec<u8> {
    let mut out = Vec::new();
    master(&mut out, id::EBML, |b| {
        uint(b, id::EBML_VERSION, 1);
        uint(b, id::EBML_READ_VERSION, 1);
        uint(b, id::EBML_MAX_ID_LENGTH, 4);
        uint(b, id::EBML_MAX_SIZE_LENGTH, 8);
        element(b, id::DOC_TYPE, b"webm");
        uint(b, id::DOC_TYPE_VERSION, 4);
        uint(b, id::DOC_TYPE_READ_VERSION, 2);
    });
    put_id(&mut out, id::SEGMENT);
    out.extend_from_slice(&[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
    master(&mut out, id::INFO, |b| {
        uint(b, id::TIMESTAMP_SCALE, 1_000_000);
        element(b, id::MUXING_APP, b"Kabine");
        element(b, id::WRITING_APP, b"Kabine");
        put_id(b, id::VOID);
        put_size(b, (DURATION_SLOT - 2) as u64);
        b.extend_from_slice(&[0; DURATION_SLOT - 2]);
    });
    master(&mut out, id::TRACKS, |b| {
        for (i, track) in tracks.iter().enumerate() {
            let number = i as u64 + 1;
            master(b, id::TRACK_ENTRY, |t| {
                uint(t, id::TRACK_NUMBER, number);
                uint(t, id::TRACK_UID, number);
                uint(t, id::FLAG_LACING, 0);
                match track {
                    Track::Opus => {
                        uint(t, id::TRACK_TYPE, 2);
                        element(t, id::CODEC_ID, b"A_OPUS");
                        element(t, id::CODEC_PRIVATE, &opus_head());
                        uint(t, id::CODEC_DELAY, 0);
                        uint(t, id::SEEK_PRE_ROLL, 80_000_000);
                        master(t, id::AUDIO, |a| {
                            float(a, id::SAMPLING_FREQUENCY, 48_000.0);
                            uint(a, id::CHANNELS, 2);
                        });
                    }
                    Track::Vp8 { width, height } => {
                        uint(t, id::TRACK_TYPE, 1);
                        element(t, id::CODEC_ID, b"V_VP8");
                        master(t, id::VIDEO, |v| {
                            uint(v, id::PIXEL_WIDTH, u64::from(*width));
                            uint(v, id::PIXEL_HEIGHT, u64::from(*height));
                        });
                    }
                }
            });
        }
    });
    out
}

/// The Opus identification header (RFC 7845 §5.1) as CodecPrivate: two
/// channels (a decoder plays mono packets on both), no pre-skip (the
/// recording starts mid-stream), 48 kHz.
fn opus_head() -> Vec<u8> {
    let mut h = b"OpusHead".to_vec();
    h.push(1); // version
    h.push(2); // channels
    h.extend_from_slice(&0u16.to_le_bytes()); // pre-skip
    h.extend_from_slice(&48_000u32.to_le_bytes());
    h.extend_from_slice(&0i16.to_le_bytes()); // output gain
    h.push(0); // channel mapping family
    h
}

/// One frame for the file: `track` is the 1-based track number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub track: u8,
    /// Milliseconds from the start of the file.
    pub ms: u64,
    pub keyframe: bool,
    pub data: Vec<u8>,
}

/// Clusters for the frames of one file, in timestamp order across tracks.
#[derive(Debug, Default)]
pub struct Muxer {
    /// Frames held for interleaving, by (ms, arrival order).
    held: BTreeMap<(u64, u64), Frame>,
    order: u64,
    latest: u64,
    cluster: Option<(u64, Vec<u8>)>,
    /// Time of the last frame written, for the duration.
    pub last_ms: u64,
    /// Track numbers that carry video: a cluster starts at their keyframes.
    pub video_tracks: Vec<u8>,
}

impl Muxer {
    /// A muxer whose clusters start at keyframes of `video_tracks`.
    pub fn new(video_tracks: Vec<u8>) -> Muxer {
        Muxer { video_tracks, ..Muxer::default() }
    }

    /// Adds a frame; returns the bytes of any cluster it completes.
    pub fn push(&mut self, frame: Frame) -> Vec<u8> {
        self.latest = self.latest.max(frame.ms);
        self.held.insert((frame.ms, self.order), frame);
        self.order += 1;
        let mut out = Vec::new();
        while let Some(entry) = self.held.first_entry() {
            if entry.key().0 + INTERLEAVE_MS > self.latest {
                break;
            }
            let frame = entry.remove();
            self.write(frame, &mut out);
        }
        out
    }

    /// Everything still held, and the last cluster.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some((_, frame)) = self.held.pop_first() {
            self.write(frame, &mut out);
        }
        self.close_cluster(&mut out);
        out
    }

    fn write(&mut self, frame: Frame, out: &mut Vec<u8>) {
        // Frames never go back in time within a file (a late frame is
        // written at the time of the last one).
        let ms = frame.ms.max(self.last_ms);
        let starts_cluster = match &self.cluster {
            None => true,
            Some((start, _)) => {
                ms >= start + CLUSTER_SPAN_MS || (frame.keyframe && self.video_tracks.contains(&frame.track))
            }
        };
        if starts_cluster {
            self.close_cluster(out);
            let mut body = Vec::new();
            uint(&mut body, id::TIMESTAMP, ms);
            self.cluster = Some((ms, body));
        }
        let Some((start, body)) = self.cluster.as_mut() else {
            return;
        };
        // Below CLUSTER_SPAN_MS, so it fits an i16.
        let rel = (ms - *start) as i16;
        let mut block = Vec::with_capacity(frame.data.len() + 4);
        put_size(&mut block, u64::from(frame.track));
        block.extend_from_slice(&rel.to_be_bytes());
        block.push(if frame.keyframe { 0x80 } else { 0 });
        block.extend_from_slice(&frame.data);
        element(body, id::SIMPLE_BLOCK, &block);
        self.last_ms = ms;
    }

    fn close_cluster(&mut self, out: &mut Vec<u8>) {
        if let Some((_, body)) = self.cluster.take() {
            element(out, id::CLUSTER, &body);
        }
    }
}

/// Reads an element header at `at`: (id, size, header length). `None` at
/// the end or on bytes that are not EBML.
fn read_header(buf: &[u8], at: usize) -> Option<(u32, Option<u64>, usize)> {
    let first = *buf.get(at)?;
    let id_len = first.leading_zeros() as usize + 1;
    if id_len > 4 {
        return None;
    }
    let mut idv = 0u32;
    for i in 0..id_len {
        idv = (idv << 8) | u32::from(*buf.get(at + i)?);
    }
    let s0 = *buf.get(at + id_len)?;
    let size_len = s0.leading_zeros() as usize + 1;
    if size_len > 8 {
        return None;
    }
    let mut size = u64::from(s0) & ((1u64 << (8 - size_len)) - 1);
    let mut all_ones = size == (1u64 << (8 - size_len)) - 1;
    for i in 1..size_len {
        let b = *buf.get(at + id_len + i)?;
        all_ones &= b == 0xFF;
        size = (size << 8) | u64::from(b);
    }
    Some((idv, (!all_ones).then_some(size), id_len + size_len))
}

/// Fills the Duration slot of a file [`header`] wrote with the time of its
/// last block (plus one audio frame), in place. Returns the duration in
/// ms, or `None` if `file` is not such a file (then nothing changed).
pub fn patch_duration(file: &mut [u8]) -> Option<u64> {
    let (ebml, Some(ebml_size), h) = read_header(file, 0)? else {
        return None;
    };
    if ebml != id::EBML {
        return None;
    }
    let seg_at = h + usize::try_from(ebml_size).ok()?;
    let (seg, _, h) = read_header(file, seg_at)?;
    if seg != id::SEGMENT {
        return None;
    }
    let mut at = seg_at + h;
    let mut slot = None;
    let mut last_ms = None::<u64>;
    while let Some((eid, Some(size), h)) = read_header(file, at) {
        let body = at + h;
        let end = body.checked_add(usize::try_from(size).ok()?)?;
        if end > file.len() {
            break;
        }
        if eid == id::INFO {
            let mut c = body;
            while c < end {
                let (cid, csize, ch) = read_header(file, c)?;
                if cid == id::VOID && csize == Some((DURATION_SLOT - 2) as u64) {
                    slot = Some(c);
                }
                c += ch + usize::try_from(csize?).ok()?;
            }
        } else if eid == id::CLUSTER {
            let mut cluster_ms = 0u64;
            let mut c = body;
            while c < end {
                let (cid, csize, ch) = read_header(file, c)?;
                let csize = usize::try_from(csize?).ok()?;
                let cbody = file.get(c + ch..c + ch + csize)?;
                if cid == id::TIMESTAMP {
                    cluster_ms = cbody.iter().fold(0u64, |v, b| (v << 8) | u64::from(*b));
                } else if cid == id::SIMPLE_BLOCK && cbody.len() >= 4 {
                    // Track numbers here are one byte long.
                    let rel = i16::from_be_bytes([cbody[1], cbody[2]]);
                    let ms = cluster_ms.saturating_add_signed(i64::from(rel));
                    last_ms = Some(last_ms.map_or(ms, |l| l.max(ms)));
                }
                c += ch + csize;
            }
        }
        at = end;
    }
    let slot = slot?;
    // One 20-ms audio frame after the last block starts.
    let duration = last_ms.map_or(0, |l| l + 20);
    let mut dur = Vec::with_capacity(DURATION_SLOT);
    put_id(&mut dur, id::DURATION);
    put_size(&mut dur, 8);
    dur.extend_from_slice(&(duration as f64).to_be_bytes());
    file.get_mut(slot..slot + DURATION_SLOT)?.copy_from_slice(&dur);
    Some(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_use_the_shortest_form() {
        let mut v = Vec::new();
        put_size(&mut v, 5);
        assert_eq!(v, [0x85]);
        v.clear();
        put_size(&mut v, 127);
        assert_eq!(v, [0x40, 0x7F], "0x7F alone would mean unknown size");
        v.clear();
        put_size(&mut v, 300);
        assert_eq!(v, [0x41, 0x2C]);
    }

    #[test]
    fn blocks_come_out_in_time_order_across_tracks() {
        let mut m = Muxer::new(vec![2]);
        let mut bytes = header(&[Track::Opus, Track::Vp8 { width: 640, height: 480 }]);
        bytes.extend(m.push(Frame { track: 2, ms: 40, keyframe: true, data: vec![1; 10] }));
        bytes.extend(m.push(Frame { track: 1, ms: 0, keyframe: true, data: vec![2; 3] }));
        bytes.extend(m.push(Frame { track: 1, ms: 20, keyframe: true, data: vec![3; 3] }));
        for i in 0..100 {
            bytes.extend(m.push(Frame { track: 1, ms: 40 + i * 20, keyframe: true, data: vec![4; 3] }));
        }
        bytes.extend(m.finish());
        assert_eq!(m.last_ms, 40 + 99 * 20);
        assert_eq!(patch_duration(&mut bytes), Some(40 + 99 * 20 + 20));
        assert_eq!(patch_duration(&mut b"not webm at all".to_vec()), None);
    }
}
