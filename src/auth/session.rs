//! Login sessions, in memory only. Sans-IO: every call takes `now`, and the
//! caller supplies the random token, so the timeouts are tested with a
//! simulated clock.
//!
//! A session ends after [`SessionStore::idle`] without use, after
//! [`SessionStore::lifetime`] whatever happens, at logout, when its user
//! changes the password (all other sessions of that user end), and when a
//! local user is removed or given a new password with `kabine user`.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use zeroize::{Zeroize, ZeroizeOnDrop};

/// Bytes of randomness in a session token (256 bits).
pub const TOKEN_BYTES: usize = 32;
/// Most sessions one user may hold; a new login ends the user's oldest.
pub const MAX_SESSIONS_PER_USER: usize = 16;

/// The secret a browser holds in its session cookie.
#[derive(Clone, PartialEq, Eq, Hash, Zeroize, ZeroizeOnDrop)]
pub struct SessionToken([u8; TOKEN_BYTES]);

impl SessionToken {
    /// A fresh token from the operating system's CSPRNG (via `rand`'s
    /// thread RNG, which is seeded from it and reseeds itself).
    pub fn random() -> SessionToken {
        use rand::RngCore;
        let mut bytes = [0u8; TOKEN_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        SessionToken(bytes)
    }

    pub fn from_bytes(bytes: [u8; TOKEN_BYTES]) -> SessionToken {
        SessionToken(bytes)
    }

    /// Lowercase hex, as in the cookie.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses the cookie value; `None` for anything but 64 hex digits.
    pub fn from_hex(s: &str) -> Option<SessionToken> {
        if s.len() != TOKEN_BYTES * 2 {
            return None;
        }
        let mut bytes = [0u8; TOKEN_BYTES];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(SessionToken(bytes))
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken([redacted])")
    }
}

/// Where an account lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountKind {
    /// The local user store; `credential` identifies the password hash the
    /// session was opened with (a keyed hash of it), so a new password ends
    /// the session.
    Local { credential: u64 },
    /// The LDAP directory (never stored by Kabine).
    Directory,
}

/// Who is logged in.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct Identity {
    /// Login name, lowercased.
    pub username: String,
    /// The name others see.
    pub display_name: String,
    /// May open rooms and host them.
    pub may_host: bool,
    #[zeroize(skip)]
    pub kind: AccountKind,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity").field("may_host", &self.may_host).field("kind", &self.kind).finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct Session {
    identity: Identity,
    created: Instant,
    last_used: Instant,
}

/// The session table is full (and nothing in it has expired).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

/// All login sessions.
#[derive(Debug)]
pub struct SessionStore {
    sessions: HashMap<SessionToken, Session>,
    idle: Duration,
    lifetime: Duration,
    max_sessions: usize,
}

impl SessionStore {
    pub fn new(idle: Duration, lifetime: Duration, max_sessions: usize) -> SessionStore {
        SessionStore { sessions: HashMap::new(), idle, lifetime, max_sessions }
    }

    pub fn idle(&self) -> Duration {
        self.idle
    }

    /// Another idle timeout for sessions from now on (tests: the
    /// configuration's unit is a whole minute).
    pub fn set_idle(&mut self, idle: Duration) {
        self.idle = idle;
    }

    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    fn expired(&self, s: &Session, now: Instant) -> bool {
        now.saturating_duration_since(s.last_used) >= self.idle
            || now.saturating_duration_since(s.created) >= self.lifetime
    }

    /// Opens a session for `identity` under `token`.
    pub fn create(&mut self, token: SessionToken, identity: Identity, now: Instant) -> Result<(), Full> {
        let mine: Vec<(Instant, SessionToken)> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.identity.username == identity.username && s.identity.kind == identity.kind)
            .map(|(t, s)| (s.created, t.clone()))
            .collect();
        if mine.len() >= MAX_SESSIONS_PER_USER
            && let Some((_, oldest)) = mine.into_iter().min_by_key(|(created, _)| *created)
        {
            self.sessions.remove(&oldest);
        }
        if self.sessions.len() >= self.max_sessions {
            self.purge(now);
            if self.sessions.len() >= self.max_sessions {
                return Err(Full);
            }
        }
        self.sessions.insert(token, Session { identity, created: now, last_used: now });
        Ok(())
    }

    /// The session's identity, if it is live; counts as use (the idle
    /// clock starts again). An expired session is removed.
    pub fn get(&mut self, token: &SessionToken, now: Instant) -> Option<Identity> {
        let expired = self.expired(self.sessions.get(token)?, now);
        if expired {
            self.sessions.remove(token);
            return None;
        }
        let s = self.sessions.get_mut(token)?;
        s.last_used = now;
        Some(s.identity.clone())
    }

    /// Ends one session. Returns whether it existed.
    pub fn remove(&mut self, token: &SessionToken) -> bool {
        self.sessions.remove(token).is_some()
    }

    /// Ends every session for which `keep` is false; returns how many.
    pub fn retain(&mut self, mut keep: impl FnMut(&Identity) -> bool) -> usize {
        let before = self.sessions.len();
        self.sessions.retain(|_, s| keep(&s.identity));
        before - self.sessions.len()
    }

    /// Removes expired sessions; returns how many.
    pub fn purge(&mut self, now: Instant) -> usize {
        let (idle, lifetime) = (self.idle, self.lifetime);
        let before = self.sessions.len();
        self.sessions.retain(|_, s| {
            now.saturating_duration_since(s.last_used) < idle && now.saturating_duration_since(s.created) < lifetime
        });
        before - self.sessions.len()
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    fn alice() -> Identity {
        Identity {
            username: "alice".into(),
            display_name: "Alice".into(),
            may_host: true,
            kind: AccountKind::Local { credential: 1 },
        }
    }

    fn store() -> SessionStore {
        SessionStore::new(30 * MIN, 12 * 60 * MIN, 1000)
    }

    #[test]
    fn idle_timeout_ends_an_unused_session() {
        let t0 = Instant::now();
        let mut s = store();
        let tok = SessionToken::random();
        s.create(tok.clone(), alice(), t0).expect("room");
        assert!(s.get(&tok, t0 + 29 * MIN).is_some());
        // Use restarts the idle clock.
        assert!(s.get(&tok, t0 + 58 * MIN).is_some());
        assert!(s.get(&tok, t0 + 88 * MIN - Duration::from_millis(1)).is_some());
        let later = t0 + 88 * MIN - Duration::from_millis(1) + 30 * MIN;
        assert!(s.get(&tok, later).is_none(), "30 minutes without use end it");
        assert!(s.is_empty(), "and it is gone for good");
    }

    #[test]
    fn absolute_timeout_ends_even_a_busy_session() {
        let t0 = Instant::now();
        let mut s = store();
        let tok = SessionToken::random();
        s.create(tok.clone(), alice(), t0).expect("room");
        let mut now = t0;
        while now < t0 + 12 * 60 * MIN - 10 * MIN {
            now += 10 * MIN;
            assert!(s.get(&tok, now).is_some(), "busy session alive at {:?}", now - t0);
        }
        assert!(s.get(&tok, t0 + 12 * 60 * MIN).is_none(), "12 hours end it");
    }

    #[test]
    fn logout_and_retain_end_sessions() {
        let t0 = Instant::now();
        let mut s = store();
        let (a, b) = (SessionToken::random(), SessionToken::random());
        s.create(a.clone(), alice(), t0).expect("room");
        s.create(b.clone(), alice(), t0).expect("room");
        assert!(s.remove(&a));
        assert!(!s.remove(&a));
        assert!(s.get(&a, t0).is_none());
        assert_eq!(s.retain(|i| i.username != "alice"), 1);
        assert!(s.get(&b, t0).is_none());
    }

    #[test]
    fn purge_removes_only_expired_sessions() {
        let t0 = Instant::now();
        let mut s = store();
        let (a, b) = (SessionToken::random(), SessionToken::random());
        s.create(a.clone(), alice(), t0).expect("room");
        s.create(b.clone(), alice(), t0 + 20 * MIN).expect("room");
        assert_eq!(s.purge(t0 + 31 * MIN), 1);
        assert!(s.get(&b, t0 + 31 * MIN).is_some());
    }

    #[test]
    fn the_table_is_bounded() {
        let t0 = Instant::now();
        let mut s = SessionStore::new(30 * MIN, 12 * 60 * MIN, 3);
        for i in 0..3 {
            let mut id = alice();
            id.username = format!("u{i}");
            s.create(SessionToken::random(), id, t0).expect("room");
        }
        assert_eq!(s.create(SessionToken::random(), alice(), t0), Err(Full));
        // Expired sessions make room.
        assert_eq!(s.create(SessionToken::random(), alice(), t0 + 31 * MIN), Ok(()));
        // One user cannot hold more than MAX_SESSIONS_PER_USER.
        let mut s = store();
        let first = SessionToken::random();
        s.create(first.clone(), alice(), t0).expect("room");
        for i in 1..=MAX_SESSIONS_PER_USER as u32 {
            s.create(SessionToken::random(), alice(), t0 + Duration::from_secs(u64::from(i))).expect("room");
        }
        assert_eq!(s.len(), MAX_SESSIONS_PER_USER);
        assert!(s.get(&first, t0 + MIN).is_none(), "the oldest went");
    }

    #[test]
    fn tokens_are_256_random_bits_in_hex() {
        let a = SessionToken::random();
        let hex = a.to_hex();
        assert_eq!(hex.len(), 64);
        assert_eq!(SessionToken::from_hex(&hex), Some(a.clone()));
        assert_ne!(a, SessionToken::random());
        for bad in ["", "zz", &"g".repeat(64), &"a".repeat(63), &"a".repeat(65), &"é".repeat(32)] {
            assert!(SessionToken::from_hex(bad).is_none(), "{bad}");
        }
        assert_eq!(format!("{a:?}"), "SessionToken([redacted])");
    }
}
