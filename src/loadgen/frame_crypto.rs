//! The frame format of end-to-end encrypted meetings, as the browser client
//! writes it (`src/client/e2ee.js`, docs/e2ee.md), for participants that are
//! not browsers: the synthetic peer publishes encrypted video with it, and
//! `kabine audit` checks that the server forwards such frames unchanged.
//!
//! A frame is its clear header bytes (VP8: 10 of a key frame, 3 of a delta
//! frame; Opus: 1), then the rest under AES-128-GCM (16-byte tag), then a
//! 10-byte trailer: counter (4, big-endian), key index (1), sender key id
//! (4, big-endian), version 1. The IV is key id, counter, key index and
//! three zero bytes; the clear header and the trailer are authenticated.

use aws_lc_rs::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

/// The format's version, the last byte of every frame.
pub const VERSION: u8 = super::payload::VERSION;
/// Bytes of the trailer.
pub const TRAILER_BYTES: usize = super::payload::TRAILER_BYTES;

/// What a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Audio,
    Video,
}

/// Bytes of `frame` that stay in clear.
pub fn clear_bytes(kind: Kind, frame: &[u8]) -> usize {
    match kind {
        Kind::Audio => frame.len().min(1),
        Kind::Video => super::payload::vp8_clear_bytes(frame),
    }
}

/// One participant's sender key for video and audio frames.
pub struct SenderKey {
    key: LessSafeKey,
    pub key_id: u32,
    pub index: u8,
    counter: u32,
}

impl std::fmt::Debug for SenderKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SenderKey").field("key_id", &self.key_id).field("index", &self.index).finish_non_exhaustive()
    }
}

fn iv(key_id: u32, index: u8, counter: u32) -> Nonce {
    let mut iv = [0u8; 12];
    iv[..4].copy_from_slice(&key_id.to_be_bytes());
    iv[4..8].copy_from_slice(&counter.to_be_bytes());
    iv[8] = index;
    Nonce::assume_unique_for_key(iv)
}

impl SenderKey {
    /// A sender key from its 16 bytes.
    pub fn new(raw: &[u8; 16], key_id: u32, index: u8) -> SenderKey {
        // AES-128 takes any 16 bytes: constructing the key cannot fail.
        let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, raw).expect("16 bytes make an AES-128 key"));
        SenderKey { key, key_id, index, counter: 0 }
    }

    /// A fresh random sender key.
    pub fn random() -> SenderKey {
        let raw: [u8; 16] = rand::random();
        SenderKey::new(&raw, rand::random(), 0)
    }

    /// Encrypts one frame with the next counter; `None` once the counter
    /// is used up (a new key is needed then).
    pub fn encrypt(&mut self, kind: Kind, frame: &[u8]) -> Option<Vec<u8>> {
        let counter = self.counter;
        self.counter = self.counter.checked_add(1)?;
        Some(self.encrypt_with(kind, frame, counter))
    }

    fn encrypt_with(&self, kind: Kind, frame: &[u8], counter: u32) -> Vec<u8> {
        let n = clear_bytes(kind, frame);
        let mut trailer = [0u8; TRAILER_BYTES];
        trailer[..4].copy_from_slice(&counter.to_be_bytes());
        trailer[4] = self.index;
        trailer[5..9].copy_from_slice(&self.key_id.to_be_bytes());
        trailer[9] = VERSION;
        let mut aad = frame[..n].to_vec();
        aad.extend_from_slice(&trailer);
        let mut body = frame[n..].to_vec();
        // Sealing only fails for inputs beyond AES-GCM's limits (64 GiB).
        self.key
            .seal_in_place_append_tag(iv(self.key_id, self.index, counter), Aad::from(&aad), &mut body)
            .expect("a frame is far below AES-GCM's limits");
        let mut out = frame[..n].to_vec();
        out.extend_from_slice(&body);
        out.extend_from_slice(&trailer);
        out
    }

    /// Decrypts a frame this key encrypted; `None` when it does not
    /// decrypt (another key, or changed on the way).
    pub fn decrypt(&self, kind: Kind, frame: &[u8]) -> Option<Vec<u8>> {
        if frame.len() < TRAILER_BYTES + 16 || frame[frame.len() - 1] != VERSION {
            return None;
        }
        let end = frame.len() - TRAILER_BYTES;
        let trailer = &frame[end..];
        let counter = u32::from_be_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
        let key_id = u32::from_be_bytes([trailer[5], trailer[6], trailer[7], trailer[8]]);
        if key_id != self.key_id || trailer[4] != self.index {
            return None;
        }
        let n = clear_bytes(kind, frame);
        if end < n + 16 {
            return None;
        }
        let mut aad = frame[..n].to_vec();
        aad.extend_from_slice(trailer);
        let mut body = frame[n..end].to_vec();
        let plain = self.key.open_in_place(iv(key_id, self.index, counter), Aad::from(&aad), &mut body).ok()?;
        let mut out = frame[..n].to_vec();
        out.extend_from_slice(plain);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// The same vectors as tests/browser/unit/e2ee.test.mjs: the browser's
    /// WebCrypto and this code write identical frames.
    #[test]
    fn frames_are_byte_for_byte_those_of_the_browser_client() {
        let raw: [u8; 16] = std::array::from_fn(|i| i as u8);
        let key = SenderKey::new(&raw, 0xdead_beef, 3);
        let video = [0x31, 0x04, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        let sealed = key.encrypt_with(Kind::Video, &video, 77);
        assert_eq!(hex(&sealed), "3104009a306f0af2f10c8e642e395099563edf473fcb8f6813c09f65f50000004d03deadbeef01");
        assert_eq!(key.decrypt(Kind::Video, &sealed).as_deref(), Some(&video[..]));
        let audio_key = SenderKey::new(&raw, 1, 0);
        let sealed = audio_key.encrypt_with(Kind::Audio, &[0xfc, 0xaa, 0xbb], 0);
        assert_eq!(hex(&sealed), "fcc93a66d54181f2697c4295bce00d7eea618e00000000000000000101");
    }

    #[test]
    fn a_changed_frame_or_another_key_does_not_decrypt() {
        let mut key = SenderKey::random();
        let mut frame = vec![0x50, 0x2a, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01];
        frame.extend(std::iter::repeat_n(7u8, 500));
        let sealed = key.encrypt(Kind::Video, &frame).expect("counter left");
        assert_eq!(&sealed[..10], &frame[..10], "the key frame header stays in clear");
        assert_eq!(key.decrypt(Kind::Video, &sealed), Some(frame.clone()));
        for at in [0, 9, 10, 300, sealed.len() - 11, sealed.len() - 3] {
            let mut bad = sealed.clone();
            bad[at] ^= 0x40;
            assert_eq!(key.decrypt(Kind::Video, &bad), None, "changed at {at}");
        }
        assert_eq!(SenderKey::random().decrypt(Kind::Video, &sealed), None);
    }
}
