//! Brute-force throttling of password guesses: logins, and room passwords
//! (the moderation layer uses the same [`Throttle`]).
//!
//! Two limits hold at once:
//! - per subject (an account name, or a room): at most
//!   [`Limits::per_subject`] failures within [`Limits::window`] (sliding);
//!   after that every attempt is refused, even with the right password,
//!   until the oldest failure leaves the window. A success clears the
//!   subject's failures (NIST SP 800-63B counts *consecutive* failures).
//! - per source (an IPv4 address, or an IPv6 /64): a token bucket of
//!   [`Limits::per_source_burst`] failures refilled at one per
//!   [`Limits::per_source_refill`], so one client cannot spray guesses over
//!   many accounts.
//!
//! Counters live in memory only. Neither names nor addresses are kept: both
//! are reduced to a keyed 64-bit hash (SipHash with a random key made at
//! start), so the tables say nothing to someone who reads the memory and
//! nothing is ever logged. Both tables are bounded; when one is full the
//! least informative entry is dropped (a subject with the fewest failures, a
//! source with the fullest bucket).
//!
//! [`ThrottleState`] is the sans-IO core (time is an input); [`Throttle`]
//! wraps it with a lock and the clock.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a guess is about.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// A login name, as typed (normalised here: trimmed, lowercased,
    /// inner whitespace collapsed).
    Account(&'a str),
    /// A room whose password is being guessed.
    Room(&'a str),
}

/// Limits of a [`Throttle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Failures per subject within `window`.
    pub per_subject: u32,
    pub window: Duration,
    /// Failures a source may make in a burst.
    pub per_source_burst: u32,
    /// One more failure is allowed per source after this long.
    pub per_source_refill: Duration,
    /// Most subjects tracked at once.
    pub max_subjects: usize,
    /// Most sources tracked at once.
    pub max_sources: usize,
}

impl Limits {
    /// Logins: 100 failures per account per hour; 30 failures per source in
    /// a burst, then one per 10 s (360 an hour).
    pub const LOGIN: Limits = Limits {
        per_subject: 100,
        window: Duration::from_secs(3600),
        per_source_burst: 30,
        per_source_refill: Duration::from_secs(10),
        max_subjects: 10_000,
        max_sources: 10_000,
    };
}

/// Refused: try again after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Whole seconds, at least 1, for a `Retry-After` header.
    pub fn secs(self) -> u64 {
        (self.0.as_secs() + u64::from(self.0.subsec_nanos() > 0)).max(1)
    }
}

/// Failures of one subject, as offsets in whole seconds from `epoch`.
#[derive(Debug, Default)]
struct SubjectLog {
    failures: VecDeque<u32>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// The sans-IO core: every call takes `now`.
#[derive(Debug)]
pub struct ThrottleState {
    limits: Limits,
    epoch: Instant,
    subjects: HashMap<u64, SubjectLog>,
    sources: HashMap<u64, Bucket>,
}

impl ThrottleState {
    pub fn new(limits: Limits, now: Instant) -> ThrottleState {
        ThrottleState { limits, epoch: now, subjects: HashMap::new(), sources: HashMap::new() }
    }

    fn secs(&self, now: Instant) -> u32 {
        u32::try_from(now.saturating_duration_since(self.epoch).as_secs()).unwrap_or(u32::MAX)
    }

    /// Failures at or before this second (relative to `epoch`) are outside
    /// the window; negative early on.
    fn window_start(&self, now: Instant) -> i64 {
        i64::from(self.secs(now)) - i64::try_from(self.limits.window.as_secs()).unwrap_or(i64::MAX)
    }

    /// Whether an attempt may go ahead now.
    pub fn check(&mut self, source: Option<u64>, subject: u64, now: Instant) -> Result<(), RetryAfter> {
        let mut wait = Duration::ZERO;
        let start = self.window_start(now);
        if let Some(log) = self.subjects.get_mut(&subject) {
            while log.failures.front().is_some_and(|&t| i64::from(t) <= start) {
                log.failures.pop_front();
            }
            if log.failures.len() >= self.limits.per_subject as usize {
                let oldest = u64::from(log.failures.front().copied().unwrap_or(0));
                let free_at = self.epoch + Duration::from_secs(oldest) + self.limits.window;
                wait = wait.max(free_at.saturating_duration_since(now));
            }
        }
        if let Some(source) = source {
            let refill = self.limits.per_source_refill;
            let burst = self.limits.per_source_burst;
            if let Some(bucket) = self.sources.get_mut(&source) {
                refill_bucket(bucket, now, refill, burst);
                if bucket.tokens < 1.0 {
                    wait = wait.max(refill.mul_f64(1.0 - bucket.tokens));
                }
            }
        }
        if wait.is_zero() { Ok(()) } else { Err(RetryAfter(wait)) }
    }

    /// Counts a failed attempt against the subject and the source.
    pub fn record_failure(&mut self, source: Option<u64>, subject: u64, now: Instant) {
        let t = self.secs(now);
        if !self.subjects.contains_key(&subject) && self.subjects.len() >= self.limits.max_subjects {
            self.make_room_for_subject(now);
        }
        let log = self.subjects.entry(subject).or_default();
        log.failures.push_back(t);
        while log.failures.len() > self.limits.per_subject as usize {
            log.failures.pop_front();
        }
        if let Some(source) = source {
            let (refill, burst) = (self.limits.per_source_refill, self.limits.per_source_burst);
            if !self.sources.contains_key(&source) && self.sources.len() >= self.limits.max_sources {
                self.make_room_for_source(now);
            }
            let bucket = self.sources.entry(source).or_insert(Bucket { tokens: f64::from(burst), updated: now });
            refill_bucket(bucket, now, refill, burst);
            bucket.tokens = (bucket.tokens - 1.0).max(0.0);
        }
    }

    /// A right password: the subject's failures are forgotten.
    pub fn record_success(&mut self, subject: u64) {
        self.subjects.remove(&subject);
    }

    /// Drops entries that no longer hold back anything.
    pub fn purge(&mut self, now: Instant) {
        let start = self.window_start(now);
        self.subjects.retain(|_, log| log.failures.back().is_some_and(|&t| i64::from(t) > start));
        let (refill, burst) = (self.limits.per_source_refill, self.limits.per_source_burst);
        self.sources.retain(|_, b| {
            refill_bucket(b, now, refill, burst);
            b.tokens < f64::from(burst)
        });
    }

    /// (subjects, sources) tracked.
    pub fn len(&self) -> (usize, usize) {
        (self.subjects.len(), self.sources.len())
    }

    pub fn is_empty(&self) -> bool {
        self.subjects.is_empty() && self.sources.is_empty()
    }

    fn make_room_for_subject(&mut self, now: Instant) {
        self.purge(now);
        if self.subjects.len() < self.limits.max_subjects {
            return;
        }
        // Keep the subjects under the heaviest attack.
        if let Some(key) = self
            .subjects
            .iter()
            .min_by_key(|(_, log)| (log.failures.len(), log.failures.back().copied()))
            .map(|(k, _)| *k)
        {
            self.subjects.remove(&key);
        }
    }

    fn make_room_for_source(&mut self, now: Instant) {
        self.purge(now);
        if self.sources.len() < self.limits.max_sources {
            return;
        }
        let fullest = self.sources.iter().max_by(|a, b| a.1.tokens.total_cmp(&b.1.tokens)).map(|(k, _)| *k);
        if let Some(key) = fullest {
            self.sources.remove(&key);
        }
    }
}

fn refill_bucket(b: &mut Bucket, now: Instant, refill: Duration, burst: u32) {
    let elapsed = now.saturating_duration_since(b.updated);
    if !refill.is_zero() {
        b.tokens = (b.tokens + elapsed.as_secs_f64() / refill.as_secs_f64()).min(f64::from(burst));
    }
    b.updated = now;
}

/// The shared throttle: [`ThrottleState`] behind a lock, with the clock and
/// the keyed hash that turns names and addresses into anonymous keys.
#[derive(Debug)]
pub struct Throttle {
    state: Mutex<ThrottleState>,
    keys: std::hash::RandomState,
    /// Failures recorded since the start (for `/metrics`).
    failures: std::sync::atomic::AtomicU64,
}

impl Throttle {
    pub fn new(limits: Limits) -> Throttle {
        Throttle {
            state: Mutex::new(ThrottleState::new(limits, Instant::now())),
            keys: std::hash::RandomState::new(),
            failures: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Failed attempts (logins, room passwords) recorded since the start.
    pub fn failures_total(&self) -> u64 {
        self.failures.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether an attempt about `subject` from `source` may go ahead.
    pub fn check(&self, source: Option<IpAddr>, subject: Subject<'_>) -> Result<(), RetryAfter> {
        let (src, sub) = (self.source_key(source), self.subject_key(subject));
        self.lock().check(src, sub, Instant::now())
    }

    pub fn record_failure(&self, source: Option<IpAddr>, subject: Subject<'_>) {
        self.failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (src, sub) = (self.source_key(source), self.subject_key(subject));
        self.lock().record_failure(src, sub, Instant::now());
    }

    pub fn record_success(&self, subject: Subject<'_>) {
        let sub = self.subject_key(subject);
        self.lock().record_success(sub);
    }

    /// [`Throttle::check`] at a given time: for sans-IO callers (the room
    /// logic checks room passwords with its own clock).
    pub fn check_at(&self, source: Option<IpAddr>, subject: Subject<'_>, now: Instant) -> Result<(), RetryAfter> {
        let (src, sub) = (self.source_key(source), self.subject_key(subject));
        self.lock().check(src, sub, now)
    }

    /// [`Throttle::record_failure`] at a given time.
    pub fn record_failure_at(&self, source: Option<IpAddr>, subject: Subject<'_>, now: Instant) {
        self.failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (src, sub) = (self.source_key(source), self.subject_key(subject));
        self.lock().record_failure(src, sub, now);
    }

    /// Drops entries that hold nothing back (called periodically).
    pub fn purge(&self) {
        self.lock().purge(Instant::now());
    }

    /// (subjects, sources) tracked.
    pub fn len(&self) -> (usize, usize) {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ThrottleState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn subject_key(&self, subject: Subject<'_>) -> u64 {
        let mut h = self.keys.build_hasher();
        match subject {
            Subject::Account(name) => {
                0u8.hash(&mut h);
                normalize_account(name).hash(&mut h);
            }
            Subject::Room(room) => {
                1u8.hash(&mut h);
                room.to_lowercase().hash(&mut h);
            }
        }
        h.finish()
    }

    fn source_key(&self, source: Option<IpAddr>) -> Option<u64> {
        let mut h = self.keys.build_hasher();
        match source? {
            IpAddr::V4(v4) => v4.octets().hash(&mut h),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.octets().hash(&mut h),
                // One /64 is what one customer usually gets.
                None => v6.octets()[..8].hash(&mut h),
            },
        }
        Some(h.finish())
    }
}

/// The form of a login name that throttling counts by: trimmed, lowercased,
/// inner whitespace collapsed (directories match names that loosely too).
pub fn normalize_account(name: &str) -> String {
    name.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn limits() -> Limits {
        Limits { per_source_burst: 1000, ..Limits::LOGIN }
    }

    #[test]
    fn the_101st_failure_within_an_hour_is_refused_and_frees_up_after_the_window() {
        let t0 = Instant::now();
        let mut t = ThrottleState::new(limits(), t0);
        for i in 0..100 {
            let now = t0 + S * i;
            assert_eq!(t.check(None, 7, now), Ok(()), "attempt {}", i + 1);
            t.record_failure(None, 7, now);
        }
        let now = t0 + S * 100;
        let wait = t.check(None, 7, now).expect_err("101st refused");
        // The first failure (at t0) leaves the window an hour after it.
        assert!(wait.0 <= Duration::from_secs(3600 - 99) && wait.0 >= Duration::from_secs(3600 - 101), "{wait:?}");
        assert!(t.check(None, 8, now).is_ok(), "other accounts are not affected");
        assert!(t.check(None, 7, t0 + Duration::from_secs(3599)).is_err());
        assert!(t.check(None, 7, t0 + Duration::from_secs(3600)).is_ok(), "a slot frees after the window");
    }

    #[test]
    fn a_success_clears_the_subject() {
        let t0 = Instant::now();
        let mut t = ThrottleState::new(limits(), t0);
        for _ in 0..99 {
            t.record_failure(None, 1, t0);
        }
        t.record_success(1);
        for _ in 0..99 {
            t.record_failure(None, 1, t0);
        }
        assert!(t.check(None, 1, t0).is_ok());
    }

    #[test]
    fn a_source_gets_a_burst_then_one_per_refill() {
        let t0 = Instant::now();
        let mut t = ThrottleState::new(Limits::LOGIN, t0);
        for i in 0..30u64 {
            assert!(t.check(Some(5), i, t0).is_ok(), "burst {i}");
            t.record_failure(Some(5), i, t0);
        }
        let wait = t.check(Some(5), 99, t0).expect_err("bucket empty");
        assert_eq!(wait.0, Duration::from_secs(10));
        assert!(t.check(Some(6), 99, t0).is_ok(), "other sources are not affected");
        assert!(t.check(Some(5), 99, t0 + Duration::from_secs(10)).is_ok());
    }

    #[test]
    fn tables_stay_bounded_and_keep_the_heaviest_subjects() {
        let t0 = Instant::now();
        let lim = Limits { max_subjects: 100, max_sources: 50, ..limits() };
        let mut t = ThrottleState::new(lim, t0);
        for _ in 0..100 {
            t.record_failure(None, 0, t0);
        }
        for k in 1..10_000u64 {
            t.record_failure(Some(k), k, t0);
        }
        let (subjects, sources) = t.len();
        assert!(subjects <= 100 && sources <= 50, "{subjects} {sources}");
        assert!(t.check(None, 0, t0).is_err(), "the attacked account is still locked");
    }

    #[test]
    fn purge_forgets_what_no_longer_matters() {
        let t0 = Instant::now();
        let mut t = ThrottleState::new(Limits::LOGIN, t0);
        t.record_failure(Some(1), 1, t0);
        t.purge(t0 + Duration::from_secs(3601));
        assert!(t.is_empty());
    }

    #[test]
    fn keys_hide_names_and_addresses_and_group_ipv6_by_64() {
        let th = Throttle::new(Limits::LOGIN);
        assert_eq!(th.subject_key(Subject::Account("  Alice ")), th.subject_key(Subject::Account("alice")));
        assert_ne!(th.subject_key(Subject::Account("alice")), th.subject_key(Subject::Room("alice")));
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("literal");
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().expect("literal");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("literal");
        assert_eq!(th.source_key(Some(a)), th.source_key(Some(b)));
        assert_ne!(th.source_key(Some(a)), th.source_key(Some(c)));
        let v4: IpAddr = "192.0.2.1".parse().expect("literal");
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().expect("literal");
        assert_eq!(th.source_key(Some(v4)), th.source_key(Some(mapped)));
        // Another throttle (another start) hashes differently.
        assert_ne!(
            Throttle::new(Limits::LOGIN).subject_key(Subject::Account("alice")),
            th.subject_key(Subject::Account("alice"))
        );
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(RetryAfter(Duration::from_millis(1500)).secs(), 2);
        assert_eq!(RetryAfter(Duration::from_secs(3)).secs(), 3);
        assert_eq!(RetryAfter(Duration::ZERO).secs(), 1);
    }
}
