//! Which peer connection a datagram on the shared media port belongs to.
//!
//! Two map lookups, never a scan over connections:
//! - a STUN binding request names the connection in its USERNAME attribute
//!   (`<our ufrag>:<their ufrag>`), so it is looked up by our ufrag;
//! - everything else (DTLS, SRTP, SRTCP) is looked up by the remote address,
//!   which the connection's STUN requests taught us.
//!
//! An address is learned only after the request passed the short-term
//! credential check (MESSAGE-INTEGRITY with the connection's ICE password);
//! the caller does that check with the connection before calling
//! [`Demux::learn`]. A datagram that fails, or that no connection claims,
//! leaves no trace here.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::SocketAddr;

use str0m::ice::StunMessage;

/// Most remote addresses remembered per connection (one per candidate pair
/// the browser tries; older ones are forgotten first).
pub const MAX_ADDRESSES_PER_CONNECTION: usize = 8;

/// What a datagram carries, by its first byte (RFC 7983).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Stun,
    Dtls,
    Rtp,
    Other,
}

/// Classifies a datagram by its first byte.
pub fn classify(data: &[u8]) -> Kind {
    match data.first() {
        Some(0..=3) => Kind::Stun,
        Some(20..=63) => Kind::Dtls,
        Some(128..=191) => Kind::Rtp,
        _ => Kind::Other,
    }
}

/// The local (our) ufrag of a STUN binding request, if `data` is one.
pub fn binding_request_ufrag(data: &[u8]) -> Option<&str> {
    let msg = StunMessage::parse(data).ok()?;
    if !msg.is_binding_request() {
        return None;
    }
    let username = msg.username()?;
    username.split_once(':').map(|(local, _)| local)
}

/// The characters that tag a ufrag with its engine shard (`media.engine_threads`):
/// the first character of every local ufrag a shard makes is its tag, so
/// the dispatcher routes a STUN request without a table. The other 15
/// random characters keep the ufrag unguessable enough (RFC 8445 asks for
/// 24 bits; the password carries the secret).
const SHARD_TAGS: &[u8; 16] = b"0123456789abcdef";

/// Most engine shards a ufrag tag can name.
pub const MAX_SHARDS: usize = SHARD_TAGS.len();

/// `ufrag` with its first character replaced by the tag of `shard`.
pub fn tagged(ufrag: &str, shard: usize) -> String {
    let mut out = String::with_capacity(ufrag.len().max(1));
    out.push(char::from(SHARD_TAGS[shard % MAX_SHARDS]));
    out.push_str(ufrag.get(1..).unwrap_or(""));
    out
}

/// The shard a local ufrag was made by (its first character), if any.
pub fn shard_of(ufrag: &str) -> Option<usize> {
    let first = *ufrag.as_bytes().first()?;
    SHARD_TAGS.iter().position(|t| *t == first)
}

/// A remote transport address: protocol and address (the same address and
/// port over UDP and over TCP are two different peers).
pub type Path = (str0m::net::Protocol, SocketAddr);

/// Which shard each verified remote address belongs to, shared by the
/// shards (which write it when their connections verify or forget an
/// address) and the dispatcher (which reads it for every datagram that is
/// not a STUN request). Only addresses a shard verified are in it, so a
/// forged datagram cannot move anyone's media to another shard.
#[derive(Debug, Default)]
pub struct Routes {
    map: std::sync::RwLock<HashMap<Path, usize>>,
}

impl Routes {
    pub fn learn(&self, path: Path, shard: usize) {
        self.write().insert(path, shard);
    }

    /// Forgets `path` if it still routes to `shard` (another shard may
    /// have verified it since, e.g. after a rejoin into another meeting).
    pub fn forget(&self, path: Path, shard: usize) {
        let mut map = self.write();
        if map.get(&path) == Some(&shard) {
            map.remove(&path);
        }
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The table, for routing a batch of datagrams.
    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Path, usize>> {
        self.map.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Path, usize>> {
        self.map.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// An engine's place among several: its index (and ufrag tag) and the
/// routes it shares with the dispatcher.
#[derive(Debug, Clone)]
pub struct ShardLink {
    pub index: usize,
    pub routes: std::sync::Arc<Routes>,
}

/// The two lookup tables. `K` identifies a peer connection, `A` a remote
/// transport address (the engine's also names the protocol: the same
/// address and port over UDP and over TCP are two different peers).
#[derive(Debug)]
pub struct Demux<K, A = SocketAddr> {
    by_ufrag: HashMap<String, K>,
    by_addr: HashMap<A, K>,
    addrs: HashMap<K, Vec<A>>,
}

impl<K, A> Default for Demux<K, A> {
    fn default() -> Self {
        Demux { by_ufrag: HashMap::new(), by_addr: HashMap::new(), addrs: HashMap::new() }
    }
}

impl<K: Copy + Eq + Hash, A: Copy + Eq + Hash> Demux<K, A> {
    /// Registers a connection's local ufrag. Returns false if the ufrag is
    /// taken (the caller makes a new one).
    pub fn register(&mut self, ufrag: &str, key: K) -> bool {
        if self.by_ufrag.contains_key(ufrag) {
            return false;
        }
        self.by_ufrag.insert(ufrag.to_string(), key);
        true
    }

    pub fn by_ufrag(&self, ufrag: &str) -> Option<K> {
        self.by_ufrag.get(ufrag).copied()
    }

    pub fn by_addr(&self, addr: &A) -> Option<K> {
        self.by_addr.get(addr).copied()
    }

    /// Remembers that `addr` belongs to `key` (after a verified request).
    /// Returns the address it forgot to make room, if any.
    pub fn learn(&mut self, addr: A, key: K) -> Option<A> {
        if self.by_addr.get(&addr) == Some(&key) {
            return None;
        }
        if let Some(old) = self.by_addr.insert(addr, key)
            && let Some(list) = self.addrs.get_mut(&old)
        {
            list.retain(|a| *a != addr);
        }
        let list = self.addrs.entry(key).or_default();
        list.push(addr);
        if list.len() > MAX_ADDRESSES_PER_CONNECTION {
            let oldest = list.remove(0);
            self.by_addr.remove(&oldest);
            return Some(oldest);
        }
        None
    }

    /// Forgets a connection entirely; returns the addresses it had.
    pub fn forget(&mut self, key: K) -> Vec<A> {
        self.by_ufrag.retain(|_, k| *k != key);
        let addrs = self.addrs.remove(&key).unwrap_or_default();
        for addr in &addrs {
            self.by_addr.remove(addr);
        }
        addrs
    }

    /// Remote addresses known.
    pub fn address_count(&self) -> usize {
        self.by_addr.len()
    }

    /// Registered ufrags (tests forge requests with them).
    #[cfg(test)]
    pub fn ufrags(&self) -> Vec<String> {
        self.by_ufrag.keys().cloned().collect()
    }

    /// Connections registered.
    #[cfg(test)]
    pub fn connection_count(&self) -> usize {
        self.by_ufrag.len()
    }
}

#[cfg(test)]
mod tests {
    use str0m::ice::{StunMessage, TransId};

    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 1], port))
    }

    #[test]
    fn first_byte_classifies() {
        assert_eq!(classify(&[0, 1]), Kind::Stun);
        assert_eq!(classify(&[22]), Kind::Dtls);
        assert_eq!(classify(&[0x80]), Kind::Rtp);
        assert_eq!(classify(&[200]), Kind::Other);
        assert_eq!(classify(&[]), Kind::Other);
    }

    #[test]
    fn binding_requests_name_their_connection() {
        let msg = StunMessage::binding_request("ours:theirs", TransId::new(), true, 0, 1, false);
        let mut buf = vec![0u8; 1500];
        let n = msg.to_bytes(Some(b"password"), &mut buf, |_, _| [0u8; 20]).expect("serialize");
        assert_eq!(binding_request_ufrag(&buf[..n]), Some("ours"));
        assert_eq!(binding_request_ufrag(&[0, 1, 0, 0]), None);
        assert_eq!(binding_request_ufrag(b"\x00\x01\x00\x08garbage-garbage-garbage"), None);
    }

    #[test]
    fn addresses_are_bounded_and_forgotten_with_their_connection() {
        let mut d = Demux::default();
        assert!(d.register("a", 1));
        assert!(!d.register("a", 2), "ufrags are unique");
        assert!(d.register("b", 2));
        for port in 0..20 {
            d.learn(addr(port), 1);
        }
        assert_eq!(d.address_count(), MAX_ADDRESSES_PER_CONNECTION);
        assert_eq!(d.by_addr(&addr(19)), Some(1));
        assert_eq!(d.by_addr(&addr(0)), None, "the oldest went first");
        // An address moving to another connection leaves the first one.
        d.learn(addr(19), 2);
        assert_eq!(d.by_addr(&addr(19)), Some(2));
        d.forget(1);
        assert_eq!(d.address_count(), 1);
        assert_eq!(d.by_ufrag("a"), None);
        assert_eq!(d.by_ufrag("b"), Some(2));
        d.forget(2);
        assert_eq!((d.address_count(), d.connection_count()), (0, 0));
    }
}
