//! Kabine as the STUN server of its own browsers (RFC 8489 Binding).
//!
//! A direct call needs each browser's public address (its server-reflexive
//! candidate). Browsers learn it by asking a STUN server; Kabine answers
//! plain Binding requests on its media port itself, so no third party
//! learns who is in a call.
//!
//! A *plain* request is a Binding request without ICE attributes (no
//! USERNAME, MESSAGE-INTEGRITY, PRIORITY, …): ICE connectivity checks for
//! the SFU's own connections carry those and go to their connection as
//! before. For a plain request nothing is allocated and nothing is logged:
//! the answer (a success response with XOR-MAPPED-ADDRESS and FINGERPRINT)
//! is built from the request alone. A rate limit keeps the port from being
//! used to reflect traffic at someone else: a fixed table of token buckets,
//! indexed by a keyed hash of the source IP address (so its size does not
//! grow with the number of senders), and one bucket for the whole port.

use std::hash::BuildHasher;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

const MAGIC_COOKIE: u32 = 0x2112_a442;
const HEADER: usize = 20;
const BINDING_REQUEST: u16 = 0x0001;
const BINDING_SUCCESS: u16 = 0x0101;
const XOR_MAPPED_ADDRESS: u16 = 0x0020;
const FINGERPRINT: u16 = 0x8028;
const FINGERPRINT_XOR: u32 = 0x5354_554e;
/// Attributes that make a Binding request an ICE connectivity check.
const ICE_ATTRIBUTES: [u16; 7] = [
    0x0006, // USERNAME
    0x0008, // MESSAGE-INTEGRITY
    0x001c, // MESSAGE-INTEGRITY-SHA256
    0x0024, // PRIORITY
    0x0025, // USE-CANDIDATE
    0x8029, // ICE-CONTROLLED
    0x802a, // ICE-CONTROLLING
];

/// Requests answered per source address in a burst, and per second after it.
pub const PER_SOURCE_BURST: f64 = 20.0;
pub const PER_SOURCE_PER_SECOND: f64 = 20.0;
/// Requests answered on the whole port in a burst, and per second after it.
pub const TOTAL_BURST: f64 = 1000.0;
pub const TOTAL_PER_SECOND: f64 = 500.0;
/// Buckets in the per-source table.
const BUCKETS: usize = 1024;

/// The transaction id of `data` if it is a well-formed plain Binding
/// request (one this module answers); `None` for anything else, including
/// ICE checks and requests with attributes it does not understand.
pub fn plain_binding_request(data: &[u8]) -> Option<[u8; 12]> {
    if data.len() < HEADER || u16::from_be_bytes([data[0], data[1]]) != BINDING_REQUEST {
        return None;
    }
    let length = usize::from(u16::from_be_bytes([data[2], data[3]]));
    if length % 4 != 0 || HEADER + length != data.len() {
        return None;
    }
    if u32::from_be_bytes([data[4], data[5], data[6], data[7]]) != MAGIC_COOKIE {
        return None;
    }
    let mut at = HEADER;
    while at < data.len() {
        let head = data.get(at..at + 4)?;
        let kind = u16::from_be_bytes([head[0], head[1]]);
        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        let value = data.get(at + 4..at + 4 + len)?;
        let next = at + 4 + len.div_ceil(4) * 4;
        if ICE_ATTRIBUTES.contains(&kind) {
            return None;
        }
        if kind == FINGERPRINT {
            // FINGERPRINT comes last and must match.
            if next != data.len() || len != 4 {
                return None;
            }
            let expected = crc32(&data[..at]) ^ FINGERPRINT_XOR;
            if u32::from_be_bytes([value[0], value[1], value[2], value[3]]) != expected {
                return None;
            }
        } else if kind < 0x8000 {
            // Comprehension-required and unknown to us: not answered.
            return None;
        }
        at = next;
    }
    (at == data.len()).then(|| {
        let mut id = [0u8; 12];
        id.copy_from_slice(&data[8..HEADER]);
        id
    })
}

/// A Binding success response telling the sender it was seen as `mapped`.
pub fn binding_success(transaction: &[u8; 12], mapped: SocketAddr) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + 24 + 8);
    out.extend_from_slice(&BINDING_SUCCESS.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
    out.extend_from_slice(transaction);
    let cookie = MAGIC_COOKIE.to_be_bytes();
    let port = mapped.port() ^ (MAGIC_COOKIE >> 16) as u16;
    match mapped.ip() {
        IpAddr::V4(ip) => {
            out.extend_from_slice(&XOR_MAPPED_ADDRESS.to_be_bytes());
            out.extend_from_slice(&8u16.to_be_bytes());
            out.extend_from_slice(&[0, 0x01]);
            out.extend_from_slice(&port.to_be_bytes());
            out.extend(ip.octets().iter().zip(cookie).map(|(a, k)| a ^ k));
        }
        IpAddr::V6(ip) => {
            out.extend_from_slice(&XOR_MAPPED_ADDRESS.to_be_bytes());
            out.extend_from_slice(&20u16.to_be_bytes());
            out.extend_from_slice(&[0, 0x02]);
            out.extend_from_slice(&port.to_be_bytes());
            let key = cookie.iter().chain(transaction.iter());
            out.extend(ip.octets().iter().zip(key).map(|(a, k)| a ^ k));
        }
    }
    // The length counts the FINGERPRINT attribute, which covers everything
    // before it.
    let length = (out.len() - HEADER + 8) as u16;
    out[2..4].copy_from_slice(&length.to_be_bytes());
    let fingerprint = crc32(&out) ^ FINGERPRINT_XOR;
    out.extend_from_slice(&FINGERPRINT.to_be_bytes());
    out.extend_from_slice(&4u16.to_be_bytes());
    out.extend_from_slice(&fingerprint.to_be_bytes());
    out
}

/// CRC-32 (ISO-HDLC, as in RFC 8489's FINGERPRINT).
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Option<Instant>,
}

impl Bucket {
    fn take(&mut self, now: Instant, burst: f64, per_second: f64) -> bool {
        let elapsed = self.last.map_or(f64::INFINITY, |l| now.saturating_duration_since(l).as_secs_f64());
        self.tokens = (self.tokens + elapsed * per_second).min(burst);
        self.last = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whether a token is there, without taking it.
    fn has(&self, now: Instant, burst: f64, per_second: f64) -> bool {
        let elapsed = self.last.map_or(f64::INFINITY, |l| now.saturating_duration_since(l).as_secs_f64());
        (self.tokens + elapsed * per_second).min(burst) >= 1.0
    }
}

/// The rate limit for answers: fixed memory, whatever the senders.
#[derive(Debug)]
pub struct Limiter {
    total: Bucket,
    sources: Box<[Bucket]>,
    /// Keyed with random keys per server run: nobody can pick addresses
    /// that share a bucket with someone else's on purpose.
    hasher: std::collections::hash_map::RandomState,
}

impl Default for Limiter {
    fn default() -> Self {
        let empty = Bucket { tokens: 0.0, last: None };
        Limiter {
            total: empty,
            sources: vec![empty; BUCKETS].into_boxed_slice(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }
}

impl Limiter {
    /// Whether a request from `ip` may be answered now (and counts it).
    pub fn allow(&mut self, now: Instant, ip: IpAddr) -> bool {
        let i = (self.hasher.hash_one(ip) % BUCKETS as u64) as usize;
        let source = &mut self.sources[i];
        if !self.total.has(now, TOTAL_BURST, TOTAL_PER_SECOND) {
            return false;
        }
        if !source.take(now, PER_SOURCE_BURST, PER_SOURCE_PER_SECOND) {
            return false;
        }
        self.total.take(now, TOTAL_BURST, TOTAL_PER_SECOND)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A Binding request as browsers send it to a STUN server, optionally
    /// with extra attributes and a FINGERPRINT.
    fn request(id: [u8; 12], attributes: &[(u16, &[u8])], fingerprint: bool) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&BINDING_REQUEST.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        out.extend_from_slice(&id);
        for (kind, value) in attributes {
            out.extend_from_slice(&kind.to_be_bytes());
            out.extend_from_slice(&(value.len() as u16).to_be_bytes());
            out.extend_from_slice(value);
            out.resize(out.len().div_ceil(4) * 4, 0);
        }
        let extra = if fingerprint { 8 } else { 0 };
        let length = (out.len() - HEADER + extra) as u16;
        out[2..4].copy_from_slice(&length.to_be_bytes());
        if fingerprint {
            let f = crc32(&out) ^ FINGERPRINT_XOR;
            out.extend_from_slice(&FINGERPRINT.to_be_bytes());
            out.extend_from_slice(&4u16.to_be_bytes());
            out.extend_from_slice(&f.to_be_bytes());
        }
        out
    }

    /// Reads XOR-MAPPED-ADDRESS back out of a response.
    fn mapped(response: &[u8]) -> SocketAddr {
        assert_eq!(u16::from_be_bytes([response[0], response[1]]), BINDING_SUCCESS);
        assert_eq!(usize::from(u16::from_be_bytes([response[2], response[3]])) + HEADER, response.len());
        let id = &response[8..20];
        let attr = &response[HEADER..];
        assert_eq!(u16::from_be_bytes([attr[0], attr[1]]), XOR_MAPPED_ADDRESS);
        let port = u16::from_be_bytes([attr[6], attr[7]]) ^ 0x2112;
        let key: Vec<u8> = MAGIC_COOKIE.to_be_bytes().iter().chain(id).copied().collect();
        let len = if attr[5] == 1 { 4 } else { 16 };
        let bytes: Vec<u8> = attr[8..8 + len].iter().zip(&key).map(|(b, k)| b ^ k).collect();
        let ip = match <[u8; 4]>::try_from(bytes.as_slice()) {
            Ok(v4) => IpAddr::from(v4),
            Err(_) => IpAddr::from(<[u8; 16]>::try_from(bytes.as_slice()).expect("16 bytes")),
        };
        SocketAddr::new(ip, port)
    }

    #[test]
    fn plain_requests_are_answered_with_the_address_they_came_from() {
        let id = [7u8; 12];
        for fingerprint in [false, true] {
            let req = request(id, &[(0x8022, b"browser")], fingerprint);
            assert_eq!(plain_binding_request(&req), Some(id), "fingerprint {fingerprint}");
        }
        for addr in ["192.0.2.1:54321", "[2001:db8::7]:3478"] {
            let addr: SocketAddr = addr.parse().expect("addr");
            let response = binding_success(&id, addr);
            assert_eq!(&response[8..20], &id);
            assert_eq!(mapped(&response), addr);
            // Its own FINGERPRINT is right: the last 8 bytes over the rest.
            let (body, fp) = response.split_at(response.len() - 8);
            assert_eq!(u32::from_be_bytes([fp[4], fp[5], fp[6], fp[7]]), crc32(body) ^ FINGERPRINT_XOR);
        }
    }

    #[test]
    fn ice_checks_and_malformed_requests_are_not_plain() {
        let id = [1u8; 12];
        assert_eq!(plain_binding_request(&request(id, &[(0x0006, b"ufrag:x")], false)), None, "USERNAME");
        assert_eq!(plain_binding_request(&request(id, &[(0x0024, &[0, 0, 0, 1])], false)), None, "PRIORITY");
        assert_eq!(plain_binding_request(&request(id, &[(0x0003, &[0, 0, 0, 4])], false)), None, "unknown required");
        let mut bad_fp = request(id, &[], true);
        let last = bad_fp.len() - 1;
        bad_fp[last] ^= 1;
        assert_eq!(plain_binding_request(&bad_fp), None, "wrong FINGERPRINT");
        let mut response_type = request(id, &[], false);
        response_type[1] = 0x11;
        assert_eq!(plain_binding_request(&response_type), None, "not a request");
        let mut cookie = request(id, &[], false);
        cookie[4] = 0;
        assert_eq!(plain_binding_request(&cookie), None, "no magic cookie (RFC 3489)");
        let mut long = request(id, &[(0x8022, b"abcd")], false);
        long[3] += 4;
        assert_eq!(plain_binding_request(&long), None, "length beyond the datagram");
        let mut overrun = request(id, &[(0x8022, b"abcd")], false);
        overrun[HEADER + 3] = 200;
        assert_eq!(plain_binding_request(&overrun), None, "attribute beyond the message");
        for n in 0..HEADER {
            assert_eq!(plain_binding_request(&request(id, &[], false)[..n]), None);
        }
    }

    #[test]
    fn the_rate_limit_caps_each_source_and_the_port() {
        let t0 = Instant::now();
        let mut l = Limiter::default();
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let answered = (0..100).filter(|_| l.allow(t0, a)).count();
        assert_eq!(answered, PER_SOURCE_BURST as usize);
        assert!(!l.allow(t0 + Duration::from_millis(10), a));
        assert!(l.allow(t0 + Duration::from_secs(1), a), "refilled after a second");
        // Many sources: the port as a whole stops at its own burst.
        let mut l = Limiter::default();
        let mut total = 0;
        for i in 0..5000u32 {
            let ip = IpAddr::from((0xc633_6400u32 + i).to_be_bytes());
            total += usize::from(l.allow(t0, ip));
        }
        assert_eq!(total, TOTAL_BURST as usize);
    }
}
