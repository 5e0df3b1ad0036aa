//! The part of STUN (RFC 8489) and TURN (RFC 8656) the relay speaks:
//! message framing on a stream, attributes, XOR addresses, and the
//! long-term credential's MESSAGE-INTEGRITY (HMAC-SHA1 keyed with
//! MD5(username:realm:password), the only kind browsers send).
//!
//! Parsing never panics and never allocates more than the message's own
//! length (at most 65535 + 20 bytes).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

pub const MAGIC: u32 = 0x2112_A442;

// Methods.
pub const ALLOCATE: u16 = 0x003;
pub const REFRESH: u16 = 0x004;
pub const SEND: u16 = 0x006;
pub const DATA: u16 = 0x007;
pub const CREATE_PERMISSION: u16 = 0x008;
pub const CHANNEL_BIND: u16 = 0x009;

// Attributes.
pub const USERNAME: u16 = 0x0006;
pub const MESSAGE_INTEGRITY: u16 = 0x0008;
pub const ERROR_CODE: u16 = 0x0009;
pub const CHANNEL_NUMBER: u16 = 0x000C;
pub const LIFETIME: u16 = 0x000D;
pub const XOR_PEER_ADDRESS: u16 = 0x0012;
pub const DATA_ATTR: u16 = 0x0013;
pub const REALM: u16 = 0x0014;
pub const NONCE: u16 = 0x0015;
pub const XOR_RELAYED_ADDRESS: u16 = 0x0016;
pub const REQUESTED_TRANSPORT: u16 = 0x0019;
pub const XOR_MAPPED_ADDRESS: u16 = 0x0020;
pub const FINGERPRINT: u16 = 0x8028;

/// Message classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Request,
    Indication,
    Success,
    Error,
}

/// The message type field for a method and class (RFC 8489, section 5).
pub fn message_type(method: u16, class: Class) -> u16 {
    let c = match class {
        Class::Request => 0b00,
        Class::Indication => 0b01,
        Class::Success => 0b10,
        Class::Error => 0b11,
    };
    (method & 0x000F) | ((method & 0x0070) << 1) | ((method & 0x0F80) << 2) | ((c & 1) << 4) | ((c & 2) << 7)
}

fn split_type(t: u16) -> (u16, Class) {
    let method = (t & 0x000F) | ((t >> 1) & 0x0070) | ((t >> 2) & 0x0F80);
    let class = match ((t >> 4) & 1) | ((t >> 7) & 2) {
        0 => Class::Request,
        1 => Class::Indication,
        2 => Class::Success,
        _ => Class::Error,
    };
    (method, class)
}

/// What a stream holds next (TURN over TCP/TLS: STUN messages and
/// ChannelData, back to back).
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// A STUN message of this many bytes.
    Stun(usize),
    /// ChannelData: this many bytes in all, padding to 4 included.
    ChannelData(usize),
    /// Not enough bytes yet.
    More,
    /// Neither: the stream is not TURN.
    Bad,
}

/// How long the next message at the start of `buf` is.
pub fn next(buf: &[u8]) -> Next {
    if buf.len() < 4 {
        return Next::More;
    }
    let len = u16::from_be_bytes([buf[2], buf[3]]) as usize;
    match buf[0] >> 6 {
        0 if len.is_multiple_of(4) => Next::Stun(20 + len),
        1 => Next::ChannelData(4 + len.div_ceil(4) * 4),
        _ => Next::Bad,
    }
}

/// A parsed STUN message: borrowed attributes, in order.
#[derive(Debug)]
pub struct Message<'a> {
    pub method: u16,
    pub class: Class,
    pub transaction: [u8; 12],
    pub attrs: Vec<(u16, &'a [u8])>,
    /// The whole message, for the integrity check.
    raw: &'a [u8],
    /// Where MESSAGE-INTEGRITY starts, if present.
    integrity_at: Option<usize>,
}

impl<'a> Message<'a> {
    /// Parses one whole message (as [`next`] delimited it).
    pub fn parse(raw: &'a [u8]) -> Option<Message<'a>> {
        if raw.len() < 20 || raw[0] >> 6 != 0 {
            return None;
        }
        let len = u16::from_be_bytes([raw[2], raw[3]]) as usize;
        if raw.len() != 20 + len || u32::from_be_bytes([raw[4], raw[5], raw[6], raw[7]]) != MAGIC {
            return None;
        }
        let (method, class) = split_type(u16::from_be_bytes([raw[0], raw[1]]));
        let mut transaction = [0u8; 12];
        transaction.copy_from_slice(&raw[8..20]);
        let mut attrs = Vec::new();
        let mut integrity_at = None;
        let mut at = 20;
        while at < raw.len() {
            let head = raw.get(at..at + 4)?;
            let kind = u16::from_be_bytes([head[0], head[1]]);
            let alen = u16::from_be_bytes([head[2], head[3]]) as usize;
            let value = raw.get(at + 4..at + 4 + alen)?;
            if integrity_at.is_some() && kind != FINGERPRINT {
                // Attributes after MESSAGE-INTEGRITY are ignored (RFC 8489, 14.5).
                break;
            }
            if kind == MESSAGE_INTEGRITY {
                integrity_at = Some(at);
            }
            attrs.push((kind, value));
            at += 4 + alen.div_ceil(4) * 4;
        }
        Some(Message { method, class, transaction, attrs, raw, integrity_at })
    }

    pub fn attr(&self, kind: u16) -> Option<&'a [u8]> {
        self.attrs.iter().find(|(k, _)| *k == kind).map(|(_, v)| *v)
    }

    pub fn text(&self, kind: u16) -> Option<&'a str> {
        std::str::from_utf8(self.attr(kind)?).ok()
    }

    /// An XOR-…-ADDRESS attribute.
    pub fn address(&self, kind: u16) -> Option<SocketAddr> {
        xor_address(self.attr(kind)?, &self.transaction)
    }

    /// Whether MESSAGE-INTEGRITY is present and right for `key`.
    pub fn integrity_ok(&self, key: &[u8]) -> bool {
        let (Some(at), Some(mac)) = (self.integrity_at, self.attr(MESSAGE_INTEGRITY)) else {
            return false;
        };
        if mac.len() != 20 {
            return false;
        }
        // The length field as if the message ended after MESSAGE-INTEGRITY.
        let mut head = [0u8; 20];
        head.copy_from_slice(&self.raw[..20]);
        let len = (at + 24 - 20) as u16;
        head[2..4].copy_from_slice(&len.to_be_bytes());
        let expected = super::hmac_sha1(key, &[&head, &self.raw[20..at]]);
        constant_time_eq(&expected, mac)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Decodes an XOR address value.
pub fn xor_address(v: &[u8], transaction: &[u8; 12]) -> Option<SocketAddr> {
    if v.len() < 4 {
        return None;
    }
    let port = u16::from_be_bytes([v[2], v[3]]) ^ (MAGIC >> 16) as u16;
    let cookie = MAGIC.to_be_bytes();
    match (v[1], v.len()) {
        (0x01, 8) => {
            let mut ip = [0u8; 4];
            for i in 0..4 {
                ip[i] = v[4 + i] ^ cookie[i];
            }
            Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port))
        }
        (0x02, 20) => {
            let mut ip = [0u8; 16];
            for i in 0..16 {
                let mask = if i < 4 { cookie[i] } else { transaction[i - 4] };
                ip[i] = v[4 + i] ^ mask;
            }
            Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), port))
        }
        _ => None,
    }
}

fn xor_address_value(addr: SocketAddr, transaction: &[u8; 12]) -> Vec<u8> {
    let cookie = MAGIC.to_be_bytes();
    let port = addr.port() ^ (MAGIC >> 16) as u16;
    let mut v = vec![0u8];
    match addr.ip() {
        IpAddr::V4(ip) => {
            v.push(0x01);
            v.extend_from_slice(&port.to_be_bytes());
            v.extend(ip.octets().iter().zip(cookie).map(|(a, b)| a ^ b));
        }
        IpAddr::V6(ip) => {
            v.push(0x02);
            v.extend_from_slice(&port.to_be_bytes());
            let mask: Vec<u8> = cookie.iter().chain(transaction.iter()).copied().collect();
            v.extend(ip.octets().iter().zip(mask).map(|(a, b)| a ^ b));
        }
    }
    v
}

/// Builds a message attribute by attribute.
pub struct Builder {
    buf: Vec<u8>,
    transaction: [u8; 12],
}

impl Builder {
    pub fn new(method: u16, class: Class, transaction: [u8; 12]) -> Builder {
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(&message_type(method, class).to_be_bytes());
        buf.extend_from_slice(&[0, 0]);
        buf.extend_from_slice(&MAGIC.to_be_bytes());
        buf.extend_from_slice(&transaction);
        Builder { buf, transaction }
    }

    pub fn attr(mut self, kind: u16, value: &[u8]) -> Builder {
        self.buf.extend_from_slice(&kind.to_be_bytes());
        self.buf.extend_from_slice(&(value.len() as u16).to_be_bytes());
        self.buf.extend_from_slice(value);
        let pad = value.len().div_ceil(4) * 4 - value.len();
        self.buf.extend(std::iter::repeat_n(0u8, pad));
        self.set_len();
        self
    }

    pub fn address(self, kind: u16, addr: SocketAddr) -> Builder {
        let v = xor_address_value(addr, &self.transaction);
        self.attr(kind, &v)
    }

    pub fn error(self, code: u16, reason: &str) -> Builder {
        let mut v = vec![0, 0, (code / 100) as u8, (code % 100) as u8];
        v.extend_from_slice(reason.as_bytes());
        self.attr(ERROR_CODE, &v)
    }

    fn set_len(&mut self) {
        let len = (self.buf.len() - 20) as u16;
        self.buf[2..4].copy_from_slice(&len.to_be_bytes());
    }

    /// Ends with MESSAGE-INTEGRITY keyed with `key`, if given.
    pub fn finish(mut self, key: Option<&[u8]>) -> Vec<u8> {
        if let Some(key) = key {
            let len = (self.buf.len() + 24 - 20) as u16;
            self.buf[2..4].copy_from_slice(&len.to_be_bytes());
            let mac = super::hmac_sha1(key, &[&self.buf]);
            self = self.attr(MESSAGE_INTEGRITY, &mac);
        }
        self.buf
    }
}

/// A ChannelData message (padded to 4 bytes: TURN over a stream).
pub fn channel_data(channel: u16, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + data.len() + 3);
    out.extend_from_slice(&channel.to_be_bytes());
    out.extend_from_slice(&(data.len() as u16).to_be_bytes());
    out.extend_from_slice(data);
    out.extend(std::iter::repeat_n(0u8, data.len().div_ceil(4) * 4 - data.len()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_interleave_method_and_class() {
        assert_eq!(message_type(ALLOCATE, Class::Request), 0x0003);
        assert_eq!(message_type(ALLOCATE, Class::Success), 0x0103);
        assert_eq!(message_type(ALLOCATE, Class::Error), 0x0113);
        assert_eq!(message_type(SEND, Class::Indication), 0x0016);
        assert_eq!(message_type(DATA, Class::Indication), 0x0017);
        assert_eq!(split_type(0x0118), (CREATE_PERMISSION, Class::Error));
    }

    #[test]
    fn messages_round_trip_with_integrity_and_xor_addresses() {
        let t = [7u8; 12];
        let v4: SocketAddr = "192.0.2.1:3478".parse().expect("addr");
        let v6: SocketAddr = "[2001:db8::1]:443".parse().expect("addr");
        let raw = Builder::new(ALLOCATE, Class::Request, t)
            .attr(USERNAME, b"user")
            .address(XOR_PEER_ADDRESS, v4)
            .address(XOR_RELAYED_ADDRESS, v6)
            .finish(Some(b"key"));
        assert_eq!(next(&raw), Next::Stun(raw.len()));
        let m = Message::parse(&raw).expect("parses");
        assert_eq!((m.method, m.class), (ALLOCATE, Class::Request));
        assert_eq!(m.text(USERNAME), Some("user"));
        assert_eq!(m.address(XOR_PEER_ADDRESS), Some(v4));
        assert_eq!(m.address(XOR_RELAYED_ADDRESS), Some(v6));
        assert!(m.integrity_ok(b"key"));
        assert!(!m.integrity_ok(b"other"));
        let mut tampered = raw.clone();
        tampered[30] ^= 1;
        assert!(!Message::parse(&tampered).is_some_and(|m| m.integrity_ok(b"key")));
    }

    #[test]
    fn garbage_never_parses_and_never_panics() {
        assert_eq!(next(&[0xff, 0, 0, 0]), Next::Bad);
        assert_eq!(next(&[0x40, 0x00, 0x00, 0x05]), Next::ChannelData(12));
        assert!(Message::parse(&[0u8; 19]).is_none());
        let mut raw = Builder::new(REFRESH, Class::Request, [1; 12]).attr(LIFETIME, &[0, 0, 2, 88]).finish(None);
        raw[23] = 200; // an attribute longer than the message
        assert!(Message::parse(&raw).is_none());
        for n in 0..2000u32 {
            let bytes: Vec<u8> = (0..40).map(|i| ((n * 31 + i * 17) % 256) as u8).collect();
            let _ = Message::parse(&bytes);
            let _ = next(&bytes);
        }
    }
}
