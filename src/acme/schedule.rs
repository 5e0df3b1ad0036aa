//! When to renew a certificate and when to try again after a failure. Pure:
//! times are Unix seconds passed in, randomness is a number passed in.

use std::time::Duration;

/// The validity period of a certificate, in Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub not_before: i64,
    pub not_after: i64,
}

impl Validity {
    /// The fallback renewal point: two thirds into the lifetime (60 of 90
    /// days for Let's Encrypt), leaving a third for retries.
    pub fn two_thirds(self) -> i64 {
        self.not_before + (self.not_after - self.not_before).max(0) * 2 / 3
    }
}

/// A renewal window suggested by the CA (ARI, RFC 9773), Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: i64,
    pub end: i64,
}

/// Where the renewal time came from, as reported in the status file and
/// the audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// The CA's ARI window.
    Ari,
    /// Two thirds of the lifetime (the CA offers no ARI).
    TwoThirds,
}

impl Basis {
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Ari => "ari",
            Basis::TwoThirds => "two-thirds",
        }
    }
}

/// When to renew `cert`: a point in the CA's window chosen by `random`
/// (in `[0, 1)`, as RFC 9773 asks, so that many servers do not renew at
/// once), or two thirds into the lifetime without a usable window. A
/// window that ends after the certificate does is not usable.
pub fn renewal_time(cert: Validity, window: Option<Window>, random: f64) -> (i64, Basis) {
    match window {
        Some(w) if w.start <= w.end && w.end <= cert.not_after => {
            let span = (w.end - w.start) as f64;
            let offset = (span * random.clamp(0.0, 1.0)) as i64;
            (w.start + offset.min(w.end - w.start), Basis::Ari)
        }
        _ => (cert.two_thirds(), Basis::TwoThirds),
    }
}

/// First delay after a failed attempt. Let's Encrypt allows 5 failed
/// validations per name and hour; doubling from 2 minutes stays under it.
pub const FIRST_RETRY: Duration = Duration::from_secs(120);
/// Longest delay between attempts.
pub const LONGEST_RETRY: Duration = Duration::from_secs(6 * 3600);

/// How long to wait after `failures` consecutive failed attempts (1 or
/// more): 2 min, 4, 8, … at most 6 h, and never past the moment the
/// certificate (if any) expires less 10 % of the time that is left, so that
/// a last chance comes before the end. Once expired, at least every 30
/// minutes.
pub fn retry_delay(failures: u32, now: i64, not_after: Option<i64>) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    let mut delay = FIRST_RETRY.saturating_mul(1 << exp).min(LONGEST_RETRY);
    if let Some(end) = not_after {
        let left = end - now;
        let cap = if left > 0 {
            Duration::from_secs((left as u64) * 9 / 10).max(Duration::from_secs(60))
        } else {
            Duration::from_secs(1800)
        };
        delay = delay.min(cap);
    }
    delay
}

/// How long to wait before asking the CA's renewal information again,
/// from its `Retry-After` hint: at least an hour, at most a day.
pub fn ari_recheck(hint: Duration) -> Duration {
    hint.clamp(Duration::from_secs(3600), Duration::from_secs(24 * 3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    #[test]
    fn without_ari_renewal_is_two_thirds_into_the_lifetime() {
        let cert = Validity { not_before: 0, not_after: 90 * DAY };
        assert_eq!(renewal_time(cert, None, 0.5), (60 * DAY, Basis::TwoThirds));
        let short = Validity { not_before: 1000, not_after: 1030 };
        assert_eq!(renewal_time(short, None, 0.0).0, 1020);
    }

    #[test]
    fn ari_window_is_used_at_a_random_point() {
        let cert = Validity { not_before: 0, not_after: 90 * DAY };
        let w = Window { start: 59 * DAY, end: 61 * DAY };
        assert_eq!(renewal_time(cert, Some(w), 0.0), (59 * DAY, Basis::Ari));
        assert_eq!(renewal_time(cert, Some(w), 0.5), (60 * DAY, Basis::Ari));
        assert!(renewal_time(cert, Some(w), 0.999_999).0 <= 61 * DAY);
        // A window the CA moved into the past (e.g. a revocation incident): renew at once.
        let past = Window { start: 1, end: 2 };
        assert!(renewal_time(cert, Some(past), 0.7).0 <= 2);
    }

    #[test]
    fn unusable_windows_fall_back() {
        let cert = Validity { not_before: 0, not_after: 90 * DAY };
        let backwards = Window { start: 61 * DAY, end: 59 * DAY };
        assert_eq!(renewal_time(cert, Some(backwards), 0.5).1, Basis::TwoThirds);
        let beyond = Window { start: 89 * DAY, end: 95 * DAY };
        assert_eq!(renewal_time(cert, Some(beyond), 0.5).1, Basis::TwoThirds);
    }

    #[test]
    fn retries_back_off_and_stop_before_expiry() {
        assert_eq!(retry_delay(1, 0, None), Duration::from_secs(120));
        assert_eq!(retry_delay(2, 0, None), Duration::from_secs(240));
        assert_eq!(retry_delay(3, 0, None), Duration::from_secs(480));
        assert_eq!(retry_delay(40, 0, None), LONGEST_RETRY);
        // An hour left: the next try comes within 54 minutes.
        assert_eq!(retry_delay(10, 0, Some(3600)), Duration::from_secs(3240));
        // Nearly expired: every minute, no busy loop; expired: every half hour.
        assert_eq!(retry_delay(10, 0, Some(30)), Duration::from_secs(60));
        assert_eq!(retry_delay(10, 100, Some(30)), Duration::from_secs(1800));
        assert_eq!(retry_delay(1, 100, Some(30)), Duration::from_secs(120));
    }

    #[test]
    fn ari_is_asked_again_hourly_to_daily() {
        assert_eq!(ari_recheck(Duration::from_secs(5)), Duration::from_secs(3600));
        assert_eq!(ari_recheck(Duration::from_secs(7200)), Duration::from_secs(7200));
        assert_eq!(ari_recheck(Duration::from_secs(10 * DAY as u64)), Duration::from_secs(DAY as u64));
    }
}
