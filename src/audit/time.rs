//! Dates for the report and for certificate validity, without a date crate.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::tls::civil_from_days;

/// Days since 1970-01-01 of a civil date (proleptic Gregorian; the inverse
/// of [`civil_from_days`], after Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Seconds since the epoch (negative before 1970).
pub fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

/// A time from seconds since the epoch.
pub fn from_unix_seconds(s: i64) -> SystemTime {
    if s >= 0 { UNIX_EPOCH + Duration::from_secs(s as u64) } else { UNIX_EPOCH - Duration::from_secs(s.unsigned_abs()) }
}

/// `2026-03-01T09:30:00Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let s = unix_seconds(t);
    let (y, m, d) = civil_from_days(s.div_euclid(86_400));
    let r = s.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", r / 3600, r % 3600 / 60, r % 60)
}

/// `2026-03-01` (ISO) — used in both languages, so no one misreads day and month.
pub fn date(t: SystemTime) -> String {
    let (y, m, d) = civil_from_days(unix_seconds(t).div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for days in [-800_000, -1, 0, 1, 11_016, 20_781, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(i64::from(y), u32::from(m), u32::from(d)), days);
        }
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn formats() {
        let t = from_unix_seconds(1_772_357_400); // 2026-03-01 09:30 UTC
        assert_eq!(rfc3339(t), "2026-03-01T09:30:00Z");
        assert_eq!(date(t), "2026-03-01");
    }
}
