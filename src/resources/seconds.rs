//! User-given second counts (`gracePeriodSeconds`, `terminationGracePeriodSeconds`,
//! `sinceSeconds`, probe periods, lease durations) turned into times without overflow.
//!
//! Upstream stores these as `int64` and does its arithmetic on Go's `time.Time`, which
//! saturates; Rust's `chrono` and `std::time` panic instead. Every conversion of a value a
//! client sent goes through here, so a period of `i64::MAX` seconds means "practically
//! never" rather than a crash.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};

/// The longest wait anything here produces (about 100 years): far enough to mean "never"
/// to every caller, small enough that adding it to any clock reading cannot overflow.
pub const LONGEST: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `secs` seconds as a wait, capped at [`LONGEST`]; negative counts are zero.
pub fn wait(secs: i64) -> Duration {
    u64::try_from(secs).map_or(Duration::ZERO, wait_unsigned)
}

/// `secs` (unsigned) seconds as a wait, capped at [`LONGEST`].
pub fn wait_unsigned(secs: u64) -> Duration {
    Duration::from_secs(secs).min(LONGEST)
}

/// `from + d`, with `d` capped at [`LONGEST`] (the monotonic clock cannot overflow by then).
pub fn instant_after(from: Instant, d: Duration) -> Instant {
    let d = d.min(LONGEST);
    // Instant covers at least ±292 years around boot on every supported target; should a
    // platform clock still refuse, waiting for `from` itself is the conservative answer.
    from.checked_add(d).unwrap_or(from)
}

fn delta(secs: i64) -> TimeDelta {
    let capped = secs.clamp(-(LONGEST.as_secs() as i64), LONGEST.as_secs() as i64);
    TimeDelta::try_seconds(capped).unwrap_or(TimeDelta::zero())
}

/// `at + secs` seconds on the wall clock, saturating at chrono's range.
pub fn wall_after(at: DateTime<Utc>, secs: i64) -> DateTime<Utc> {
    at.checked_add_signed(delta(secs))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `at - secs` seconds on the wall clock, saturating at chrono's range.
pub fn wall_before(at: DateTime<Utc>, secs: i64) -> DateTime<Utc> {
    at.checked_sub_signed(delta(secs))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extreme_counts_saturate_instead_of_panicking() {
        let now = Utc::now();
        assert!(wall_after(now, i64::MAX) > now + TimeDelta::days(365 * 99));
        assert!(wall_after(now, i64::MIN) < now);
        assert!(wall_before(now, i64::MAX) < now - TimeDelta::days(365 * 99));
        assert!(wall_before(now, i64::MIN) > now);
        assert_eq!(wall_after(now, 30), now + TimeDelta::seconds(30));
        assert_eq!(wait(i64::MAX), LONGEST);
        assert_eq!(wait(-5), Duration::ZERO);
        assert_eq!(wait_unsigned(u64::MAX), LONGEST);
        let i = Instant::now();
        assert!(instant_after(i, Duration::MAX) > i + Duration::from_secs(3600));
        assert_eq!(
            instant_after(i, Duration::from_secs(3)),
            i + Duration::from_secs(3)
        );
    }
}
