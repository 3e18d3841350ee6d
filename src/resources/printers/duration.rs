//! Ages as kubectl shows them: upstream's `duration.HumanDuration`
//! (k8s.io/apimachinery/pkg/util/duration), about two significant units (`5m30s`, `3h`,
//! `2d4h`, `3y20d`), and the `<unknown>`/`<invalid>` markers of `translateTimestampSince`.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;

/// Upstream's `HumanDuration`. A clock skew of up to a second reads as `0s`; more than that
/// into the future is `<invalid>`.
pub fn human_duration(d: TimeDelta) -> String {
    // Whole seconds, truncated toward zero like Go's int(d.Seconds()).
    let seconds = d.num_seconds();
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    if seconds < 0 {
        return "0s".to_string();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{days}d")
        } else {
            format!("{days}d{h}h")
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{days}d");
    }
    let years = days / 365;
    if hours < 24 * 365 * 8 {
        let dy = days % 365;
        return if dy == 0 {
            format!("{years}y")
        } else {
            format!("{years}y{dy}d")
        };
    }
    format!("{years}y")
}

/// Parses an RFC 3339 timestamp (`metav1.Time` or `metav1.MicroTime`).
pub fn parse_time(v: Option<&Value>) -> Option<DateTime<Utc>> {
    let s = v?.as_str()?;
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Upstream's `translateTimestampSince`: the age of a timestamp, `<unknown>` when unset.
pub fn since(timestamp: Option<&Value>, now: DateTime<Utc>) -> String {
    match parse_time(timestamp) {
        Some(t) => human_duration(now - t),
        None => "<unknown>".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secs(s: i64) -> String {
        human_duration(TimeDelta::seconds(s))
    }

    #[test]
    fn formats_like_upstream() {
        assert_eq!(secs(0), "0s");
        assert_eq!(secs(119), "119s");
        assert_eq!(secs(120), "2m");
        assert_eq!(secs(5 * 60 + 30), "5m30s");
        assert_eq!(secs(10 * 60 + 30), "10m");
        assert_eq!(secs(179 * 60), "179m");
        assert_eq!(secs(3 * 3600), "3h");
        assert_eq!(secs(7 * 3600 + 59 * 60), "7h59m");
        assert_eq!(secs(47 * 3600), "47h");
        assert_eq!(secs(48 * 3600), "2d");
        assert_eq!(secs(4 * 86400 + 5 * 3600), "4d5h");
        assert_eq!(secs(8 * 86400), "8d");
        assert_eq!(secs(729 * 86400), "729d");
        assert_eq!(secs(730 * 86400), "2y");
        assert_eq!(secs(3 * 365 * 86400 + 20 * 86400), "3y20d");
        assert_eq!(secs(9 * 365 * 86400 + 20 * 86400), "9y");
    }

    #[test]
    fn tolerates_small_clock_skew_only() {
        assert_eq!(human_duration(TimeDelta::milliseconds(-1500)), "0s");
        assert_eq!(secs(-2), "<invalid>");
    }

    #[test]
    fn timestamps() {
        let now = DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(since(Some(&json!("2024-05-01T11:54:30Z")), now), "5m30s");
        assert_eq!(
            since(Some(&json!("2024-05-01T11:59:59.500000Z")), now),
            "0s"
        );
        assert_eq!(since(None, now), "<unknown>");
        assert_eq!(since(Some(&Value::Null), now), "<unknown>");
    }
}
