//! Brute-force throttling of password guesses: logins, password changes,
//! and room passwords (the room layer uses the same [`Throttle`]).
//!
//! An attempt is *reserved* before the password is verified
//! ([`Throttle::reserve`]): it counts as a failure from that moment, so a
//! limit holds however many requests arrive at once; a right password
//! ([`Attempt::succeeded`]) or an attempt that was never judged (the
//! directory was down, the server busy: the [`Attempt`] is dropped) gives
//! the reservation back.
//!
//! Three limits hold at once, and none locks a target for everyone:
//! - per source (an IPv4 address, or an IPv6 /64): a token bucket of
//!   [`Limits::per_source_burst`] attempts refilled at one per
//!   [`Limits::per_source_refill`], so one client cannot spray guesses over
//!   many accounts or rooms;
//! - per source *and* target (an account name or a room): after
//!   [`Limits::free_per_pair`] failures each further attempt waits twice as
//!   long as the one before (1 s, 2 s, 4 s … at most
//!   [`Limits::max_backoff`]);
//! - per target: when it has had [`Limits::per_subject`] failures within
//!   [`Limits::window`] it is under attack, and then every source backs off
//!   from its first failure. A source that has not guessed wrong still gets
//!   its attempt at once: the owner of an account, or a guest who was
//!   given the room password, is never locked out by somebody else's
//!   guesses (issue 14: a lock for everyone is a denial of service).
//!
//! A room's counters are forgotten when its meeting ends
//! ([`Throttle::forget`]).
//!
//! Counters live in memory only. Neither names nor addresses are kept: both
//! are reduced to a keyed 64-bit hash (SipHash with a random key made at
//! start), so the tables say nothing to someone who reads the memory and
//! nothing is ever logged. Every table is bounded; when one is full the
//! least informative entry is dropped.
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

/// The limits (see the module documentation).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Failures per subject within `window` after which it is under attack.
    pub per_subject: u32,
    pub window: Duration,
    /// Failures one source may make against one subject before backing off
    /// (none while the subject is under attack).
    pub free_per_pair: u32,
    /// The longest back-off.
    pub max_backoff: Duration,
    /// Attempts a source may make in a burst.
    pub per_source_burst: u32,
    /// One more attempt is allowed per source after this long.
    pub per_source_refill: Duration,
    /// Most subjects tracked at once.
    pub max_subjects: usize,
    /// Most sources tracked at once.
    pub max_sources: usize,
    /// Most (source, subject) pairs tracked at once.
    pub max_pairs: usize,
}

impl Limits {
    /// Logins: 30 attempts per source in a burst, then one per 10 s (360 an
    /// hour); 5 free failures per source and account, then back-off up to
    /// 15 minutes; under attack after 100 failures in an hour.
    pub const LOGIN: Limits = Limits {
        per_subject: 100,
        window: Duration::from_secs(3600),
        free_per_pair: 5,
        max_backoff: Duration::from_secs(15 * 60),
        per_source_burst: 30,
        per_source_refill: Duration::from_secs(10),
        max_subjects: 10_000,
        max_sources: 10_000,
        max_pairs: 20_000,
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

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Failures of one source against one subject.
#[derive(Debug, Clone, Copy)]
struct Pair {
    failures: u32,
    last: Instant,
}

/// The sans-IO core: every call takes `now`. Keys are the anonymous hashes
/// of [`Throttle`]; a source of `None` (unknown address) is one source.
#[derive(Debug)]
pub struct ThrottleState {
    limits: Limits,
    /// Failure times per subject, oldest first.
    subjects: HashMap<u64, VecDeque<Instant>>,
    sources: HashMap<u64, Bucket>,
    pairs: HashMap<(u64, Option<u64>), Pair>,
}

impl ThrottleState {
    pub fn new(limits: Limits) -> ThrottleState {
        ThrottleState { limits, subjects: HashMap::new(), sources: HashMap::new(), pairs: HashMap::new() }
    }

    /// Whether `subject` is under attack at `now`.
    fn under_attack(&mut self, subject: u64, now: Instant) -> bool {
        let window = self.limits.window;
        let Some(log) = self.subjects.get_mut(&subject) else {
            return false;
        };
        while log.front().is_some_and(|&t| now.saturating_duration_since(t) >= window) {
            log.pop_front();
        }
        log.len() >= self.limits.per_subject as usize
    }

    /// How long an attempt from `source` about `subject` must still wait.
    pub fn wait(&mut self, source: Option<u64>, subject: u64, now: Instant) -> Duration {
        let mut wait = Duration::ZERO;
        let free = if self.under_attack(subject, now) { 0 } else { self.limits.free_per_pair };
        if let Some(pair) = self.pairs.get(&(subject, source))
            && pair.failures >= free
        {
            let doublings = (pair.failures - free).min(30);
            let backoff = Duration::from_secs(1u64 << doublings).min(self.limits.max_backoff);
            wait = wait.max((pair.last + backoff).saturating_duration_since(now));
        }
        if let Some(source) = source
            && let Some(bucket) = self.sources.get_mut(&source)
        {
            let (refill, burst) = (self.limits.per_source_refill, self.limits.per_source_burst);
            refill_bucket(bucket, now, refill, burst);
            if bucket.tokens < 1.0 {
                wait = wait.max(refill.mul_f64(1.0 - bucket.tokens));
            }
        }
        wait
    }

    /// Reserves an attempt: refused if it must wait, else counted as a
    /// failure at once (until [`ThrottleState::succeed`] or
    /// [`ThrottleState::refund`]).
    pub fn reserve(&mut self, source: Option<u64>, subject: u64, now: Instant) -> Result<(), RetryAfter> {
        let wait = self.wait(source, subject, now);
        if !wait.is_zero() {
            return Err(RetryAfter(wait));
        }
        if !self.subjects.contains_key(&subject) && self.subjects.len() >= self.limits.max_subjects {
            self.make_room_for_subject(now);
        }
        let log = self.subjects.entry(subject).or_default();
        log.push_back(now);
        while log.len() > self.limits.per_subject as usize {
            log.pop_front();
        }
        if !self.pairs.contains_key(&(subject, source)) && self.pairs.len() >= self.limits.max_pairs {
            self.make_room_for_pair(now);
        }
        let pair = self.pairs.entry((subject, source)).or_insert(Pair { failures: 0, last: now });
        pair.failures = pair.failures.saturating_add(1);
        pair.last = now;
        if let Some(source) = source {
            let (refill, burst) = (self.limits.per_source_refill, self.limits.per_source_burst);
            if !self.sources.contains_key(&source) && self.sources.len() >= self.limits.max_sources {
                self.make_room_for_source(now);
            }
            let bucket = self.sources.entry(source).or_insert(Bucket { tokens: f64::from(burst), updated: now });
            refill_bucket(bucket, now, refill, burst);
            bucket.tokens = (bucket.tokens - 1.0).max(0.0);
        }
        Ok(())
    }

    /// A reserved attempt had the right password: the source's failures
    /// against the subject are forgotten and the reservation given back.
    pub fn succeed(&mut self, source: Option<u64>, subject: u64) {
        self.pairs.remove(&(subject, source));
        self.give_back(source, subject);
    }

    /// A reserved attempt was never judged: it does not count.
    pub fn refund(&mut self, source: Option<u64>, subject: u64) {
        if let Some(pair) = self.pairs.get_mut(&(subject, source)) {
            pair.failures = pair.failures.saturating_sub(1);
            if pair.failures == 0 {
                self.pairs.remove(&(subject, source));
            }
        }
        self.give_back(source, subject);
    }

    fn give_back(&mut self, source: Option<u64>, subject: u64) {
        if let Some(log) = self.subjects.get_mut(&subject) {
            log.pop_back();
            if log.is_empty() {
                self.subjects.remove(&subject);
            }
        }
        if let Some(source) = source
            && let Some(b) = self.sources.get_mut(&source)
        {
            let burst = f64::from(self.limits.per_source_burst);
            b.tokens = (b.tokens + 1.0).min(burst);
            if b.tokens >= burst {
                self.sources.remove(&source);
            }
        }
    }

    /// Forgets every count about `subject` (its meeting ended).
    pub fn forget(&mut self, subject: u64) {
        self.subjects.remove(&subject);
        self.pairs.retain(|(s, _), _| *s != subject);
    }

    /// Drops entries that no longer hold back anything.
    pub fn purge(&mut self, now: Instant) {
        let window = self.limits.window;
        let old = |t: Instant| now.saturating_duration_since(t) >= window;
        self.subjects.retain(|_, log| log.back().is_some_and(|&t| !old(t)));
        let keep = window.max(self.limits.max_backoff);
        self.pairs.retain(|_, p| now.saturating_duration_since(p.last) < keep);
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
        self.subjects.is_empty() && self.sources.is_empty() && self.pairs.is_empty()
    }

    fn make_room_for_subject(&mut self, now: Instant) {
        self.purge(now);
        if self.subjects.len() < self.limits.max_subjects {
            return;
        }
        // Keep the subjects under the heaviest attack.
        if let Some(key) = self.subjects.iter().min_by_key(|(_, log)| (log.len(), log.back().copied())).map(|(k, _)| *k)
        {
            self.subjects.remove(&key);
        }
    }

    fn make_room_for_pair(&mut self, now: Instant) {
        self.purge(now);
        if self.pairs.len() < self.limits.max_pairs {
            return;
        }
        if let Some(key) = self.pairs.iter().min_by_key(|(_, p)| (p.failures, p.last)).map(|(k, _)| *k) {
            self.pairs.remove(&key);
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

/// A reserved attempt ([`Throttle::reserve`]). It counts as a failure
/// unless [`Attempt::succeeded`] says otherwise; dropped without a verdict
/// (the check could not be made) it does not count at all.
#[must_use = "an attempt must be settled: failed(), succeeded(), or dropped when it was never judged"]
pub struct Attempt<'a> {
    throttle: &'a Throttle,
    source: Option<u64>,
    subject: u64,
    settled: bool,
}

impl Attempt<'_> {
    /// The password was wrong: the reservation stays counted.
    pub fn failed(mut self) {
        self.settled = true;
        self.throttle.failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// The password was right.
    pub fn succeeded(mut self) {
        self.settled = true;
        self.throttle.lock().succeed(self.source, self.subject);
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.throttle.lock().refund(self.source, self.subject);
        }
    }
}

impl Throttle {
    pub fn new(limits: Limits) -> Throttle {
        Throttle {
            state: Mutex::new(ThrottleState::new(limits)),
            keys: std::hash::RandomState::new(),
            failures: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Failed attempts (logins, room passwords) recorded since the start.
    pub fn failures_total(&self) -> u64 {
        self.failures.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Reserves an attempt about `subject` from `source` now, or says how
    /// long to wait. Call it before verifying anything.
    pub fn reserve(&self, source: Option<IpAddr>, subject: Subject<'_>) -> Result<Attempt<'_>, RetryAfter> {
        self.reserve_at(source, subject, Instant::now())
    }

    /// [`Throttle::reserve`] at a given time: for sans-IO callers (the room
    /// logic checks room passwords with its own clock).
    pub fn reserve_at(
        &self,
        source: Option<IpAddr>,
        subject: Subject<'_>,
        now: Instant,
    ) -> Result<Attempt<'_>, RetryAfter> {
        let (source, subject) = (self.source_key(source), self.subject_key(subject));
        self.lock().reserve(source, subject, now)?;
        Ok(Attempt { throttle: self, source, subject, settled: false })
    }

    /// Forgets every count about `subject` (a room whose meeting ended).
    pub fn forget(&self, subject: Subject<'_>) {
        let sub = self.subject_key(subject);
        self.lock().forget(sub);
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
        Some(crate::net::address_key(&self.keys, source?))
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

    fn fail(t: &mut ThrottleState, source: Option<u64>, subject: u64, now: Instant) -> Result<(), RetryAfter> {
        t.reserve(source, subject, now)
    }

    #[test]
    fn a_source_backs_off_doubling_after_its_free_failures_against_one_subject() {
        let t0 = Instant::now();
        let mut t = ThrottleState::new(limits());
        for i in 0..5 {
            assert_eq!(fail(&mut t, Some(1), 7, t0), Ok(()), "free failure {}", i + 1);
        }
        assert_eq!(t.wait(Some(1), 7, t0), S);
        assert!(fail(&mut t, Some(1), 7, t0).is_err(), "the 6th waits");
        assert_eq!(fail(&mut t, Some(1), 7, t0 + S), Ok(()));
        assert_eq!(t.wait(Some(1), 7, t0 + S), 2 * S, "then twice as long");
        assert_eq!(t.wait(Some(2), 7, t0 + S), Duration::ZERO, "another source is not held back");
        assert_eq!(t.wait(Some(1), 8, t0 + S), Duration::ZERO, "nor another subject");
        // Capped.
        let mut now = t0 + S;
        for _ in 0..20 {
            now += t.wait(Some(1), 7, now);
            assert_eq!(fail(&mut t, Some(1), 7, now), Ok(()));
        }
        assert_eq!(t.wait(Some(1), 7, now), Limits::LOGIN.max_backoff);
    }

    #[test]
    fn reservations_hold_the_limit_before_any_verdict() {
        let t0 = Instant::now();
        let mut t = ThrottleState::new(Limits::LOGIN);
        // 400 attempts at the same instant, none judged yet: five go ahead.
        let admitted = (0..400).filter(|_| t.reserve(Some(1), 7, t0).is_ok()).count();
        assert_eq!(admitted, 5);
        // From one source over many subjects: the burst.
        let mut t = ThrottleState::new(Limits::LOGIN);
        let admitted = (0..400u64).filter(|i| t.reserve(Some(1), *i, t0).is_ok()).count();
        assert_eq!(admitted, 30);
    }

    #[test]
    fn a_subject_under_attack_is_never_locked_for_a_source_that_has_not_failed() {
        let t0 = Instant::now();
        let mut t = ThrottleState::new(Limits::LOGIN);
        for source in 0..100u64 {
            assert_eq!(fail(&mut t, Some(source), 7, t0), Ok(()));
        }
        // Under attack: every source that failed backs off from its first failure…
        assert_eq!(t.wait(Some(0), 7, t0), 2 * S);
        // …and one that has not gets its attempt.
        assert_eq!(t.wait(Some(1000), 7, t0), Duration::ZERO);
        assert!(t.reserve(Some(1000), 7, t0).is_ok());
        t.succeed(Some(1000), 7);
        // The window passes: no longer under attack.
        let later = t0 + Limits::LOGIN.window;
        assert_eq!(t.wait(Some(0), 7, later), Duration::ZERO);
    }

    #[test]
    fn a_success_or_a_refund_gives_the_reservation_back() {
        let t0 = Instant::now();
        let mut t = ThrottleState::new(Limits::LOGIN);
        for _ in 0..4 {
            t.reserve(Some(1), 7, t0).expect("free");
        }
        t.reserve(Some(1), 7, t0).expect("free");
        t.refund(Some(1), 7);
        assert!(t.reserve(Some(1), 7, t0).is_ok(), "a refunded attempt did not count");
        t.succeed(Some(1), 7);
        for _ in 0..5 {
            assert!(t.reserve(Some(1), 7, t0).is_ok(), "a success forgets the pair's failures");
        }
    }

    #[test]
    fn forget_clears_a_subject_and_its_pairs() {
        let t0 = Instant::now();
        let mut t = ThrottleState::new(Limits::LOGIN);
        for s in 0..100u64 {
            let _ = t.reserve(Some(s), 7, t0);
            let _ = t.reserve(Some(s), 8, t0);
        }
        t.forget(7);
        assert_eq!(t.wait(Some(3), 7, t0), Duration::ZERO);
        assert_eq!(t.wait(Some(3), 8, t0), 2 * S, "other subjects keep their counts");
    }

    #[test]
    fn tables_stay_bounded_and_keep_the_heaviest_subjects() {
        let t0 = Instant::now();
        let lim = Limits { max_subjects: 100, max_sources: 50, max_pairs: 200, ..limits() };
        let mut t = ThrottleState::new(lim);
        for s in 0..100 {
            let _ = t.reserve(Some(s), 0, t0);
        }
        for k in 1..10_000u64 {
            let _ = t.reserve(Some(k + 1000), k, t0);
        }
        let (subjects, sources) = t.len();
        assert!(subjects <= 100 && sources <= 50 && t.pairs.len() <= 200, "{subjects} {sources}");
        assert!(t.under_attack(0, t0), "the attacked account is still known");
    }

    #[test]
    fn purge_forgets_what_no_longer_matters() {
        let t0 = Instant::now();
        let mut t = ThrottleState::new(Limits::LOGIN);
        t.reserve(Some(1), 1, t0).expect("free");
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
    fn an_attempt_dropped_without_a_verdict_does_not_count() {
        let th = Throttle::new(Limits::LOGIN);
        let src: Option<IpAddr> = Some("192.0.2.9".parse().expect("literal"));
        for _ in 0..10 {
            let attempt = th.reserve(src, Subject::Account("alice")).expect("free");
            drop(attempt);
        }
        assert!(th.is_empty());
        for _ in 0..5 {
            th.reserve(src, Subject::Account("alice")).expect("free").failed();
        }
        assert!(th.reserve(src, Subject::Account("alice")).is_err());
        assert_eq!(th.failures_total(), 5);
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(RetryAfter(Duration::from_millis(1500)).secs(), 2);
        assert_eq!(RetryAfter(Duration::from_secs(3)).secs(), 3);
        assert_eq!(RetryAfter(Duration::ZERO).secs(), 1);
    }
}
