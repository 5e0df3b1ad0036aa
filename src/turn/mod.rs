//! Kabine's own TURN relay, over TLS on the HTTPS port (for networks that
//! let only TLS out), reached by its TLS server name (`media.turn_tls_name`).
//!
//! It is not a general relay. A client may send to, and hear from, only the
//! SFU's own media addresses (its UDP candidates, address and port exactly):
//! every other peer address — loopback, private, IPv4-mapped, unspecified,
//! another port of this server — is refused with 403, so it can never be an
//! open relay, and the coturn class of relay-to-loopback bugs
//! (CVE-2020-26262, IPv4-mapped bypasses) has nothing to act on. Nothing
//! leaves through a socket: relayed packets go straight into the SFU task,
//! as if they had arrived on the media port from the allocation's relayed
//! address ([`RelayAddresses`]), and the SFU's answers come back the same way.
//!
//! Credentials are long-term ones (RFC 8489, 9.2) derived per signalling
//! session and short-lived ([`Issuer`]): the user name carries its expiry,
//! the password is an HMAC of it under a key made at every start and kept
//! in memory only. No static password exists.
//!
//! - [`message`]: the STUN/TURN subset, pure.
//! - [`server`]: one relay connection.

pub mod message;
pub mod server;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// The realm of the long-term credentials.
pub const REALM: &str = "kabine";

/// HMAC-SHA1 (MESSAGE-INTEGRITY), from the crypto provider str0m uses.
pub fn hmac_sha1(key: &[u8], parts: &[&[u8]]) -> [u8; 20] {
    str0m::crypto::from_feature_flags().sha1_hmac_provider.sha1_hmac(key, parts)
}

/// The long-term key: MD5(username ":" realm ":" password).
pub fn long_term_key(username: &str, password: &str) -> [u8; 16] {
    use md5::Digest;
    let mut h = md5::Md5::new();
    h.update(username.as_bytes());
    h.update(b":");
    h.update(REALM.as_bytes());
    h.update(b":");
    h.update(password.as_bytes());
    h.finalize().into()
}

/// Makes and checks the relay's credentials.
#[derive(Clone)]
pub struct Issuer {
    secret: [u8; 32],
    ttl: Duration,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer").field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

impl PartialEq for Issuer {
    fn eq(&self, other: &Issuer) -> bool {
        self.secret == other.secret && self.ttl == other.ttl
    }
}

impl Issuer {
    /// An issuer with a fresh random key; credentials live `ttl`.
    pub fn new(ttl: Duration) -> Issuer {
        use rand::RngCore;
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        Issuer { secret, ttl }
    }

    /// Credentials for signalling session `session`, issued at `unix_secs`:
    /// (username, password).
    pub fn issue(&self, session: u64, unix_secs: u64) -> (String, String) {
        let username = format!("{}:{session:x}", unix_secs + self.ttl.as_secs());
        let password = self.password(&username);
        (username, password)
    }

    fn password(&self, username: &str) -> String {
        hmac_sha1(&self.secret, &[username.as_bytes()]).iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The password for `username` if it is one of ours and has not expired
    /// at `unix_secs`.
    pub fn check(&self, username: &str, unix_secs: u64) -> Result<String, Refusal> {
        let expiry: u64 = username.split_once(':').and_then(|(e, _)| e.parse().ok()).ok_or(Refusal::UnknownUser)?;
        if expiry <= unix_secs {
            return Err(Refusal::Expired);
        }
        Ok(self.password(username))
    }
}

/// Why credentials were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    UnknownUser,
    Expired,
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Relayed addresses of allocations: in 240.0.0.0/4 (reserved, never routed
/// and never the source of a real datagram), so the SFU cannot confuse an
/// allocation with a browser reaching it directly. They appear only inside
/// the relay and in the browser's relay candidate.
#[derive(Debug, Default)]
pub struct RelayAddresses {
    next: AtomicU32,
}

impl RelayAddresses {
    pub fn next(&self) -> SocketAddr {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        // 2^28 addresses × 65535 ports: never wraps within a run.
        let ip = Ipv4Addr::from(0xF000_0000 | ((n / 65_535) & 0x0FFF_FFFF));
        SocketAddr::new(IpAddr::V4(ip), (n % 65_535) as u16 + 1)
    }

    /// Whether `addr` is a relayed address.
    pub fn is_relayed(addr: &SocketAddr) -> bool {
        matches!(addr.ip(), IpAddr::V4(ip) if ip.octets()[0] >= 240 && !ip.is_broadcast())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_per_session_and_expire() {
        let issuer = Issuer::new(Duration::from_secs(600));
        let (user, pass) = issuer.issue(7, 1_000);
        let (other_user, other_pass) = issuer.issue(8, 1_000);
        assert_ne!((&user, &pass), (&other_user, &other_pass), "per session");
        assert_eq!(issuer.check(&user, 1_599).as_deref(), Ok(pass.as_str()));
        assert_eq!(issuer.check(&user, 1_600), Err(Refusal::Expired));
        assert_eq!(issuer.check("nonsense", 1_000), Err(Refusal::UnknownUser));
        // Another start's key makes other passwords.
        assert_ne!(Issuer::new(Duration::from_secs(600)).check(&user, 1_000).ok(), Some(pass));
    }

    #[test]
    fn the_long_term_key_is_md5_of_user_realm_password() {
        // RFC 5769, 2.4 uses realm "example.org"; with ours, check MD5 itself.
        use md5::Digest;
        let expected: [u8; 16] = md5::Md5::digest(b"u:kabine:p").into();
        assert_eq!(long_term_key("u", "p"), expected);
        let empty: [u8; 16] = md5::Md5::digest(b"").into();
        assert_eq!(empty[..4], [0xd4, 0x1d, 0x8c, 0xd9]);
    }

    #[test]
    fn relayed_addresses_are_reserved_and_distinct() {
        let r = RelayAddresses::default();
        let a = r.next();
        let b = r.next();
        assert_ne!(a, b);
        assert!(RelayAddresses::is_relayed(&a) && RelayAddresses::is_relayed(&b));
        assert!(!RelayAddresses::is_relayed(&"127.0.0.1:1".parse().expect("addr")));
    }
}
