//! Which scheduled time a CronJob should run now, as upstream's `mostRecentScheduleTime`:
//! the latest fire time after the last run (or the CronJob's creation, never earlier, or
//! `now - startingDeadlineSeconds` when that is later) and not after now. However many
//! were missed — a board whose clock jumps forward misses thousands — only that most
//! recent one runs, and the count tells whether to warn.

use chrono::{DateTime, Duration, Utc};

use crate::resources::cron::{Schedule, Zone};

/// Steps taken from one starting point before trying a later one.
const STEPS: usize = 1000;
/// Above this many missed times upstream warns (`TooManyMissedTimes`).
pub const TOO_MANY_MISSED: usize = 100;

/// The run due now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// The most recent scheduled time not after now.
    pub at: DateTime<Utc>,
    /// Whether more than [`TOO_MANY_MISSED`] times were missed (a lower bound).
    pub many_missed: bool,
}

/// The most recent fire time in `(earliest, now]`, if any.
pub fn most_recent(
    schedule: &Schedule,
    zone: &Zone,
    earliest: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<Due> {
    let first = schedule.next_after(earliest, zone).filter(|t| *t <= now)?;
    // Count the missed times, up to the warning's threshold.
    let mut missed = 1;
    let mut t = first;
    while missed <= TOO_MANY_MISSED {
        match schedule.next_after(t, zone).filter(|n| *n <= now) {
            Some(n) => {
                missed += 1;
                t = n;
            }
            None => break,
        }
    }
    let many_missed = missed > TOO_MANY_MISSED;
    if !many_missed {
        return Some(Due { at: t, many_missed });
    }
    // Walk forward from ever-earlier starting points near now, so a jump of years costs a
    // bounded number of steps, not one per missed minute.
    let windows = [
        60,
        3_600,
        86_400,
        31 * 86_400,
        366 * 86_400,
        5 * 366 * 86_400,
    ];
    for w in windows {
        let start = (now - Duration::seconds(w)).max(earliest);
        let mut last = None;
        let mut t = start;
        let mut steps = 0;
        while let Some(next) = schedule.next_after(t, zone).filter(|n| *n <= now) {
            last = Some(next);
            t = next;
            steps += 1;
            if steps >= STEPS {
                break;
            }
        }
        if let (Some(at), true) = (last, steps < STEPS) {
            return Some(Due { at, many_missed });
        }
    }
    Some(Due { at: t, many_missed })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn nothing_due_before_the_first_time() {
        let s = Schedule::parse("*/5 * * * *").unwrap();
        let z = Zone::utc();
        assert_eq!(
            most_recent(
                &s,
                &z,
                at("2026-01-01T00:00:00Z"),
                at("2026-01-01T00:04:59Z")
            ),
            None
        );
        let due = most_recent(
            &s,
            &z,
            at("2026-01-01T00:00:00Z"),
            at("2026-01-01T00:05:00Z"),
        )
        .unwrap();
        assert_eq!(due.at, at("2026-01-01T00:05:00Z"));
        assert!(!due.many_missed);
    }

    #[test]
    fn a_few_missed_runs_give_the_latest() {
        let s = Schedule::parse("* * * * *").unwrap();
        let due = most_recent(
            &s,
            &Zone::utc(),
            at("2026-01-01T00:00:00Z"),
            at("2026-01-01T00:03:30Z"),
        )
        .unwrap();
        assert_eq!(due.at, at("2026-01-01T00:03:00Z"));
        assert!(!due.many_missed);
    }

    #[test]
    fn a_clock_jump_of_years_gives_one_run_and_a_warning() {
        // A board booted with its clock at 1970 and then synchronised.
        let s = Schedule::parse("* * * * *").unwrap();
        let due = most_recent(
            &s,
            &Zone::utc(),
            at("1970-01-01T00:00:00Z"),
            at("2026-12-06T18:40:30Z"),
        )
        .unwrap();
        assert_eq!(due.at, at("2026-12-06T18:40:00Z"));
        assert!(due.many_missed);
        let s = Schedule::parse("0 3 * * 1").unwrap();
        let due = most_recent(
            &s,
            &Zone::utc(),
            at("2020-01-01T00:00:00Z"),
            at("2026-12-06T18:40:30Z"),
        )
        .unwrap();
        assert_eq!(due.at, at("2026-11-30T03:00:00Z"));
        assert!(due.many_missed);
    }
}
